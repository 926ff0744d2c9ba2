//! Signed reference SBOMs: the components a device maker ships in one
//! firmware version of one device model, signed by the maker.
//!
//! A gateway compares the components a device reports with the reference
//! for its model and firmware version, and reports the difference as SBOM
//! drift. The reference is trusted only when it verifies against a pinned
//! maker root, so a reference from anyone else is rejected.
//!
//! The signer credential travels inside the signed body. It is either the
//! maker's self-signed root credential, whose key must be a pinned root, or
//! a root or intermediate credential issued by a pinned root. Either way it
//! must carry [`KeyUsage::SIGN_REFERENCE_SBOMS`]; an intermediate whose issuer
//! limits list models may sign only for those models. A signer credential
//! whose subject names a vendor id other than 0 may sign only for that
//! vendor, so that one maker's key cannot set the reference of another
//! maker's model on a gateway that pins both roots. The signing key needs
//! no other usage, so a release-signing key can be kept apart from the
//! factory line's credential-issuing key.
//!
//! Decoding borrows from the input and does not allocate: the component
//! list stays in its encoded form and [`ReferenceComponents::iter`] decodes
//! it again on each pass, after [`ReferenceSbom::decode_unverified`] checked
//! all of it once.

use core::fmt;

use crate::chain::{TrustStore, VerificationTime, check_revocation, check_validity};
use crate::credential::{Credential, CredentialKind, KeyUsage, MAX_CREDENTIAL_LEN, SIGNATURE_LEN};
use crate::domain;
use crate::encoding::{self, Reader};
use crate::ids::KeyId;
use crate::reason::{ObjectType, RejectReason};
use crate::revocation::RevocationList;
use crate::signer::Signer;

/// Format version of reference SBOM bodies.
pub const REFERENCE_SBOM_VERSION: u8 = 1;
/// How far, in seconds, a reference's `issued_at` may lie ahead of a
/// trusted verification time. A later one is rejected: the gateway keeps
/// the most recently issued reference per model and firmware, so a
/// reference dated in the future would shadow every correct one.
pub const MAX_ISSUED_AT_SKEW_SECS: u64 = 300;
/// Maximum number of components in one reference SBOM.
pub const MAX_REFERENCE_COMPONENTS: usize = 256;
/// Maximum length of the model name, in bytes of UTF-8.
pub const MAX_MODEL_NAME_LEN: usize = 64;
/// Maximum length of the firmware version, in bytes of UTF-8.
pub const MAX_FIRMWARE_VERSION_LEN: usize = 64;
/// Maximum length of a component name, in bytes of UTF-8 (the event
/// schema's limit for component names).
pub const MAX_COMPONENT_NAME_LEN: usize = 128;
/// Maximum length of a component version, in bytes of UTF-8 (the event
/// schema's limit for versions).
pub const MAX_COMPONENT_VERSION_LEN: usize = 64;

/// Largest encoding of one component: name and version with their 2-byte
/// and 1-byte length prefixes, and the SHA-256.
const MAX_COMPONENT_LEN: usize = 2 + MAX_COMPONENT_NAME_LEN + 1 + MAX_COMPONENT_VERSION_LEN + 32;

/// Upper bound of an encoded reference SBOM, body and signature (58,587
/// bytes).
pub const MAX_REFERENCE_SBOM_LEN: usize = 1 // version
    + 5 + 5 // vendor id, model id
    + 1 + MAX_MODEL_NAME_LEN
    + 1 + MAX_FIRMWARE_VERSION_LEN
    + 10 // issued-at
    + 2 + MAX_REFERENCE_COMPONENTS * MAX_COMPONENT_LEN
    + 2 + MAX_CREDENTIAL_LEN
    + SIGNATURE_LEN;

/// Message buffer for signing and verifying: domain string and body.
const MESSAGE_LEN: usize = domain::MAX_DOMAIN_LEN + MAX_REFERENCE_SBOM_LEN;

/// One component the maker ships: name, version and SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ReferenceComponent<'a> {
    /// Package or component name, unique within the reference.
    pub name: &'a str,
    /// Version as the package manager writes it.
    pub version: &'a str,
    /// SHA-256 of the component's main file or archive.
    pub sha256: [u8; 32],
}

/// The component list of a reference SBOM, strictly increasing by name
/// (compared as bytes): a slice for signing, or the checked encoding after
/// decoding.
#[derive(Clone, Copy)]
pub struct ReferenceComponents<'a> {
    source: Source<'a>,
}

#[derive(Clone, Copy)]
enum Source<'a> {
    Slice(&'a [ReferenceComponent<'a>]),
    Encoded { bytes: &'a [u8], count: usize },
}

impl<'a> ReferenceComponents<'a> {
    /// Wraps a slice of components for signing.
    pub const fn from_slice(components: &'a [ReferenceComponent<'a>]) -> Self {
        Self {
            source: Source::Slice(components),
        }
    }

    /// Returns the number of components.
    pub const fn len(&self) -> usize {
        match self.source {
            Source::Slice(components) => components.len(),
            Source::Encoded { count, .. } => count,
        }
    }

    /// Returns true when the list has no component.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns the components in order.
    pub fn iter(&self) -> ComponentIter<'a> {
        ComponentIter {
            source: self.source,
            index: 0,
            reader: match self.source {
                Source::Slice(_) => None,
                Source::Encoded { bytes, .. } => {
                    Some(Reader::new(bytes, ObjectType::ReferenceSbom))
                }
            },
        }
    }

    /// Returns the component named `name`, by binary search on a slice or a
    /// linear pass over the encoding.
    pub fn find(&self, name: &str) -> Option<ReferenceComponent<'a>> {
        match self.source {
            Source::Slice(components) => components
                .binary_search_by(|component| component.name.as_bytes().cmp(name.as_bytes()))
                .ok()
                .map(|index| components[index]),
            Source::Encoded { .. } => self.iter().find(|component| component.name == name),
        }
    }
}

impl<'a> IntoIterator for &ReferenceComponents<'a> {
    type Item = ReferenceComponent<'a>;
    type IntoIter = ComponentIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl PartialEq for ReferenceComponents<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for ReferenceComponents<'_> {}

impl fmt::Debug for ReferenceComponents<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl serde::Serialize for ReferenceComponents<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// Iterator over [`ReferenceComponents`].
pub struct ComponentIter<'a> {
    source: Source<'a>,
    index: usize,
    reader: Option<Reader<'a>>,
}

impl<'a> Iterator for ComponentIter<'a> {
    type Item = ReferenceComponent<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.source {
            Source::Slice(components) => {
                let component = components.get(self.index).copied();
                self.index += 1;
                component
            }
            Source::Encoded { count, .. } => {
                if self.index >= count {
                    return None;
                }
                self.index += 1;
                // The encoding was checked when it was decoded, so this
                // read succeeds; a failure ends the iteration.
                read_component(self.reader.as_mut()?).ok()
            }
        }
    }

    // Exact, so that serde writes the list length first, as postcard needs.
    fn size_hint(&self) -> (usize, Option<usize>) {
        let total = match self.source {
            Source::Slice(components) => components.len(),
            Source::Encoded { count, .. } => count,
        };
        let left = total.saturating_sub(self.index);
        (left, Some(left))
    }
}

impl ExactSizeIterator for ComponentIter<'_> {}

impl fmt::Debug for ComponentIter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComponentIter")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// A reference SBOM: what the maker ships in one firmware version of one
/// model. The signer's credential travels inside the signed body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ReferenceSbom<'a> {
    /// Format version, [`REFERENCE_SBOM_VERSION`].
    pub version: u8,
    /// Vendor id, as in the subject of the model's device credentials.
    pub vendor_id: u32,
    /// Model id, as in the subject of the model's device credentials.
    pub model_id: u32,
    /// Model name for people, such as `IP-200 infusion pump`; may be empty.
    pub model_name: &'a str,
    /// Firmware version the reference describes, as the device reports it
    /// in its system information; not empty.
    pub firmware_version: &'a str,
    /// Time the maker issued the reference (seconds since the Unix epoch).
    pub issued_at: u64,
    /// Components, strictly increasing by name.
    pub components: ReferenceComponents<'a>,
    /// Encoded credential of the signer: the maker's root credential or a
    /// credential issued by the root, with
    /// [`KeyUsage::SIGN_REFERENCE_SBOMS`].
    pub signer_credential: &'a [u8],
}

impl<'a> ReferenceSbom<'a> {
    /// Encodes and signs the reference; returns the length written to `out`.
    ///
    /// Fails when a field breaks a limit or the components are not strictly
    /// increasing by name, when `signer` is not the key of
    /// `signer_credential` or that credential lacks
    /// [`KeyUsage::SIGN_REFERENCE_SBOMS`], or when `out` is too small
    /// ([`MAX_REFERENCE_SBOM_LEN`] always fits).
    pub fn sign(
        &self,
        signer: &(impl Signer + ?Sized),
        out: &mut [u8],
    ) -> Result<usize, RejectReason> {
        let object = ObjectType::ReferenceSbom;
        if self.version != REFERENCE_SBOM_VERSION {
            return Err(RejectReason::UnsupportedVersion {
                object,
                found: self.version,
                expected: REFERENCE_SBOM_VERSION,
            });
        }
        check_text(
            object,
            "model_name",
            self.model_name,
            MAX_MODEL_NAME_LEN,
            true,
        )?;
        check_text(
            object,
            "firmware_version",
            self.firmware_version,
            MAX_FIRMWARE_VERSION_LEN,
            false,
        )?;

        let count = self.components.len();
        if count > MAX_REFERENCE_COMPONENTS {
            return Err(RejectReason::TooManyEntries {
                object,
                field: "components",
                count,
                max: MAX_REFERENCE_COMPONENTS,
            });
        }
        let mut previous: Option<&str> = None;
        for component in self.components.iter() {
            check_component(object, &component)?;
            if previous.is_some_and(|last| last.as_bytes() >= component.name.as_bytes()) {
                return Err(RejectReason::UnsortedEntries {
                    object,
                    field: "components",
                });
            }
            previous = Some(component.name);
        }
        if self.signer_credential.len() > MAX_CREDENTIAL_LEN {
            return Err(RejectReason::TooManyEntries {
                object,
                field: "signer_credential",
                count: self.signer_credential.len(),
                max: MAX_CREDENTIAL_LEN,
            });
        }

        let credential = Credential::decode(self.signer_credential)?;
        if credential.key_id() != signer.key_id() {
            return Err(RejectReason::ReferenceSbomSignerNotAuthorized {
                key_id: signer.key_id(),
            });
        }
        if !credential
            .body
            .usage
            .contains(KeyUsage::SIGN_REFERENCE_SBOMS)
        {
            return Err(RejectReason::MissingKeyUsage {
                serial: credential.body.serial,
                missing: KeyUsage::SIGN_REFERENCE_SBOMS,
            });
        }

        let body_len = encoding::encode_into(self, out)?;
        let signature = domain::sign_with_domain::<MESSAGE_LEN>(signer, object, &out[..body_len])?;
        let total = body_len + SIGNATURE_LEN;
        if out.len() < total {
            return Err(RejectReason::BufferTooSmall {
                needed: total,
                available: out.len(),
            });
        }
        out[body_len..total].copy_from_slice(&signature);
        Ok(total)
    }

    /// Decodes a reference strictly, without checking the signer or the
    /// signature. Varints must be minimal, text UTF-8 within its limits and
    /// components strictly increasing by name, and no byte may follow.
    /// Returns the reference, the body bytes and the signature.
    pub fn decode_unverified(
        bytes: &'a [u8],
    ) -> Result<(Self, &'a [u8], [u8; SIGNATURE_LEN]), RejectReason> {
        let mut reader = Reader::new(bytes, ObjectType::ReferenceSbom);
        let reference = read_body(&mut reader)?;
        let body = reader.consumed_since(0);
        let signature = reader.array::<SIGNATURE_LEN>()?;
        reader.finish()?;
        Ok((reference, body, signature))
    }

    /// Decodes a reference and verifies its signer and signature against
    /// the maker roots pinned in `roots`.
    ///
    /// Checks in order: encoding, then the signer credential, then the
    /// signature over the body. The signer credential must be the pinned
    /// root's own self-signed credential or an intermediate issued by a
    /// pinned root. Its algorithm, signature, validity at `time` and
    /// revocation in `revocations` are checked, and it must carry
    /// [`KeyUsage::SIGN_REFERENCE_SBOMS`], allow the reference's model, and
    /// name the reference's vendor or vendor 0 in its subject.
    pub fn decode_and_verify(
        bytes: &'a [u8],
        roots: &TrustStore,
        time: VerificationTime,
        revocations: &[RevocationList],
    ) -> Result<Self, RejectReason> {
        let (reference, body, signature) = Self::decode_unverified(bytes)?;

        let credential = Credential::decode(reference.signer_credential)?;
        let cert = &credential.body;
        let anchor = roots.find(&cert.issuer).ok_or(RejectReason::UnknownRoot {
            key_id: cert.issuer,
        })?;
        let unauthorized = RejectReason::ReferenceSbomSignerNotAuthorized {
            key_id: cert.key_id(),
        };
        match cert.kind {
            // A root credential must be the pinned root's own, self-signed.
            CredentialKind::Root if cert.key_id() == anchor.key_id() => {}
            CredentialKind::Intermediate => {}
            _ => return Err(unauthorized),
        }
        if cert.algorithm != anchor.algorithm {
            return Err(RejectReason::AlgorithmMismatch {
                expected: anchor.algorithm.0,
                found: cert.algorithm.0,
            });
        }

        credential.verify_signature(&anchor.public_key)?;
        check_validity(cert, time)?;
        check_revocation(revocations, &anchor.key_id(), &anchor.key_id(), cert)?;
        if !cert.usage.contains(KeyUsage::SIGN_REFERENCE_SBOMS) {
            return Err(RejectReason::MissingKeyUsage {
                serial: cert.serial,
                missing: KeyUsage::SIGN_REFERENCE_SBOMS,
            });
        }
        if let Some(limits) = &cert.issuer_limits
            && !limits.models.is_empty()
            && limits.models.binary_search(&reference.model_id).is_err()
        {
            return Err(RejectReason::ModelNotAllowed {
                serial: cert.serial,
                model: reference.model_id,
            });
        }
        if cert.subject.vendor_id != 0 && cert.subject.vendor_id != reference.vendor_id {
            return Err(RejectReason::ReferenceSbomVendorMismatch {
                serial: cert.serial,
                signer_vendor: cert.subject.vendor_id,
                reference_vendor: reference.vendor_id,
            });
        }

        domain::verify_with_domain::<MESSAGE_LEN>(
            &cert.public_key,
            ObjectType::ReferenceSbom,
            body,
            &signature,
        )?;
        if let VerificationTime::Trusted(now) = time
            && reference.issued_at > now.saturating_add(MAX_ISSUED_AT_SKEW_SECS)
        {
            return Err(RejectReason::ReferenceSbomIssuedInFuture {
                issued_at: reference.issued_at,
                now,
            });
        }
        Ok(reference)
    }

    /// Returns the key id of the signer, read from the signer credential.
    pub fn signer_key_id(&self) -> Result<KeyId, RejectReason> {
        Ok(Credential::decode(self.signer_credential)?.key_id())
    }
}

/// Checks a text field's length, and that it is not empty unless
/// `may_be_empty`.
fn check_text(
    object: ObjectType,
    field: &'static str,
    text: &str,
    max: usize,
    may_be_empty: bool,
) -> Result<(), RejectReason> {
    if text.len() > max {
        return Err(RejectReason::TooManyEntries {
            object,
            field,
            count: text.len(),
            max,
        });
    }
    if text.is_empty() && !may_be_empty {
        return Err(RejectReason::Malformed { object, field });
    }
    Ok(())
}

fn check_component(
    object: ObjectType,
    component: &ReferenceComponent<'_>,
) -> Result<(), RejectReason> {
    check_text(
        object,
        "components.name",
        component.name,
        MAX_COMPONENT_NAME_LEN,
        false,
    )?;
    check_text(
        object,
        "components.version",
        component.version,
        MAX_COMPONENT_VERSION_LEN,
        true,
    )
}

/// Reads a length-prefixed UTF-8 string of at most `max` bytes.
fn read_text<'a>(
    reader: &mut Reader<'a>,
    field: &'static str,
    max: usize,
) -> Result<&'a str, RejectReason> {
    let bytes = reader.bytes(field, max)?;
    core::str::from_utf8(bytes).map_err(|_| reader.malformed(field))
}

fn read_component<'a>(reader: &mut Reader<'a>) -> Result<ReferenceComponent<'a>, RejectReason> {
    Ok(ReferenceComponent {
        name: read_text(reader, "components.name", MAX_COMPONENT_NAME_LEN)?,
        version: read_text(reader, "components.version", MAX_COMPONENT_VERSION_LEN)?,
        sha256: reader.array()?,
    })
}

fn read_body<'a>(reader: &mut Reader<'a>) -> Result<ReferenceSbom<'a>, RejectReason> {
    let object = reader.object();
    reader.version(REFERENCE_SBOM_VERSION)?;
    let vendor_id = reader.u32()?;
    let model_id = reader.u32()?;
    let model_name = read_text(reader, "model_name", MAX_MODEL_NAME_LEN)?;
    let firmware_version = read_text(reader, "firmware_version", MAX_FIRMWARE_VERSION_LEN)?;
    if firmware_version.is_empty() {
        return Err(reader.malformed("firmware_version"));
    }
    let issued_at = reader.u64()?;
    let count = reader.length("components", MAX_REFERENCE_COMPONENTS)?;
    let start = reader.position();
    let mut previous: Option<&str> = None;
    for _ in 0..count {
        let component = read_component(reader)?;
        check_component(object, &component)?;
        if previous.is_some_and(|last| last.as_bytes() >= component.name.as_bytes()) {
            return Err(RejectReason::UnsortedEntries {
                object,
                field: "components",
            });
        }
        previous = Some(component.name);
    }
    let components = ReferenceComponents {
        source: Source::Encoded {
            bytes: reader.consumed_since(start),
            count,
        },
    };
    let signer_credential = reader.bytes("signer_credential", MAX_CREDENTIAL_LEN)?;
    Ok(ReferenceSbom {
        version: REFERENCE_SBOM_VERSION,
        vendor_id,
        model_id,
        model_name,
        firmware_version,
        issued_at,
        components,
        signer_credential,
    })
}
