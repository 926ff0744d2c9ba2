//! The credential object: a postcard body followed by a 64-byte Ed25519
//! signature over [`DOMAIN_CREDENTIAL`](crate::DOMAIN_CREDENTIAL) and the body.

use core::fmt;

use crate::domain;
use crate::encoding::{self, Reader};
use crate::ids::{DeviceId, KeyId, PublicKey};
use crate::reason::{ObjectType, RejectReason};
use crate::signer::Signer;

/// Format version of credential bodies.
pub const CREDENTIAL_VERSION: u8 = 1;
/// The `not_after` value of a credential that never expires.
pub const NO_EXPIRY: u64 = u64::MAX;
/// Maximum number of models in an intermediate's list of allowed models.
pub const MAX_ALLOWED_MODELS: usize = 8;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Upper bound of an encoded credential (body and signature); the largest
/// possible encoding is 229 bytes.
pub const MAX_CREDENTIAL_LEN: usize = 256;

/// Position of a credential in the hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum CredentialKind {
    /// A self-signed root (device maker or operator); pinned as a trust anchor.
    Root,
    /// Issued by a root; issues device credentials (a factory line).
    Intermediate,
    /// Issued by an intermediate to one device.
    Device,
    /// Issued by the operator's root to one gateway.
    Gateway,
}

impl CredentialKind {
    fn from_variant(variant: u32) -> Option<Self> {
        match variant {
            0 => Some(Self::Root),
            1 => Some(Self::Intermediate),
            2 => Some(Self::Device),
            3 => Some(Self::Gateway),
            _ => None,
        }
    }

    /// Returns the lowercase name of the kind.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Root => "root",
            Self::Intermediate => "intermediate",
            Self::Device => "device",
            Self::Gateway => "gateway",
        }
    }
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Signature algorithm id written in a credential. Verification uses the
/// algorithm of the trust anchor and rejects a credential that names another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct SignatureAlgorithm(pub u8);

impl SignatureAlgorithm {
    /// Ed25519 (RFC 8032), the only algorithm this version implements.
    pub const ED25519: Self = Self(1);
}

/// What the subject key may do (a bit set; unknown bits are rejected).
#[derive(Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct KeyUsage(pub u8);

impl KeyUsage {
    /// No usage.
    pub const NONE: Self = Self(0);
    /// May send events to a gateway (devices).
    pub const SEND_EVENTS: Self = Self(1 << 0);
    /// May receive commands (devices).
    pub const RECEIVE_COMMANDS: Self = Self(1 << 1);
    /// May sign commands (gateways, operator keys).
    pub const SIGN_COMMANDS: Self = Self(1 << 2);
    /// May issue credentials (roots, intermediates).
    pub const ISSUE_CREDENTIALS: Self = Self(1 << 3);
    /// May sign revocation lists on behalf of its root.
    pub const SIGN_REVOCATION_LISTS: Self = Self(1 << 4);
    /// May sign reference SBOMs for the models of its root (maker root
    /// or release intermediate).
    pub const SIGN_REFERENCE_SBOMS: Self = Self(1 << 5);
    /// All bits this version defines.
    pub const ALL: Self = Self(0x3f);

    /// Returns true when every bit of `other` is set in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Returns the union of both sets.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Returns the names of the bits that are set.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        const NAMES: [(KeyUsage, &str); 6] = [
            (KeyUsage::SEND_EVENTS, "send-events"),
            (KeyUsage::RECEIVE_COMMANDS, "receive-commands"),
            (KeyUsage::SIGN_COMMANDS, "sign-commands"),
            (KeyUsage::ISSUE_CREDENTIALS, "issue-credentials"),
            (KeyUsage::SIGN_REVOCATION_LISTS, "sign-revocation-lists"),
            (KeyUsage::SIGN_REFERENCE_SBOMS, "sign-reference-sboms"),
        ];
        NAMES
            .into_iter()
            .filter(move |(bit, _)| self.contains(*bit))
            .map(|(_, name)| name)
    }
}

impl fmt::Debug for KeyUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyUsage(")?;
        for (index, name) in self.names().enumerate() {
            if index > 0 {
                f.write_str("|")?;
            }
            f.write_str(name)?;
        }
        f.write_str(")")
    }
}

/// The subject of a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Subject {
    /// Device id (16 random bytes); all zero for roots, intermediates and gateways unless set.
    pub device_id: DeviceId,
    /// Vendor id assigned by the device maker.
    pub vendor_id: u32,
    /// Model id within the vendor.
    pub model_id: u32,
    /// Hardware revision.
    pub hardware_revision: u16,
}

/// Validity period in seconds since the Unix epoch, both ends inclusive.
/// `not_after == NO_EXPIRY` never expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Validity {
    /// First second of validity.
    pub not_before: u64,
    /// Last second of validity, or [`NO_EXPIRY`].
    pub not_after: u64,
}

/// What an intermediate may issue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IssuerLimits {
    /// Issued credentials must lie inside this window (both ends inclusive).
    pub window: Validity,
    /// Models the intermediate may issue for, strictly increasing; empty means any model.
    pub models: heapless::Vec<u32, MAX_ALLOWED_MODELS>,
}

/// The signed part of a credential, in encoding order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CredentialBody {
    /// Format version, [`CREDENTIAL_VERSION`].
    pub version: u8,
    /// Position in the hierarchy.
    pub kind: CredentialKind,
    /// Algorithm of the issuer's signature.
    pub algorithm: SignatureAlgorithm,
    /// Serial number, unique per issuer.
    pub serial: u64,
    /// Key id of the issuer (for a root: its own key id).
    pub issuer: KeyId,
    /// Who the key belongs to.
    pub subject: Subject,
    /// The subject's Ed25519 public key.
    pub public_key: PublicKey,
    /// Validity period.
    pub validity: Validity,
    /// Allowed key usage.
    pub usage: KeyUsage,
    /// For intermediates: what they may issue. Must be `None` for other kinds.
    pub issuer_limits: Option<IssuerLimits>,
}

/// A decoded credential whose signature has not been checked yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential<'a> {
    /// The decoded body.
    pub body: CredentialBody,
    /// The exact body bytes the signature covers.
    pub body_bytes: &'a [u8],
    /// The issuer's signature.
    pub signature: [u8; SIGNATURE_LEN],
}

impl CredentialBody {
    /// Returns the subject's key id.
    pub fn key_id(&self) -> KeyId {
        self.public_key.key_id()
    }

    /// Encodes the body, signs it with `issuer` and writes body and signature
    /// to `out`; returns the length written.
    ///
    /// Fails when `issuer` is not the key named in `self.issuer`, when an
    /// intermediate limit is set on another kind, or when `out` is too small.
    pub fn issue(
        &self,
        issuer: &(impl Signer + ?Sized),
        out: &mut [u8],
    ) -> Result<usize, RejectReason> {
        let object = ObjectType::Credential;
        if issuer.key_id() != self.issuer {
            return Err(RejectReason::UnknownIssuer {
                expected: self.issuer,
                found: issuer.key_id(),
            });
        }
        if self.issuer_limits.is_some() && self.kind != CredentialKind::Intermediate {
            return Err(RejectReason::Malformed {
                object,
                field: "issuer_limits",
            });
        }
        let body_len = encoding::encode_into(self, out)?;
        let signature = domain::sign_with_domain::<{ domain::MAX_DOMAIN_LEN + MAX_CREDENTIAL_LEN }>(
            issuer,
            object,
            &out[..body_len],
        )?;
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
}

impl<'a> Credential<'a> {
    /// Decodes a credential strictly (minimal varints, no trailing bytes,
    /// known enum values and usage bits). Does not check the signature.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, RejectReason> {
        let mut reader = Reader::new(bytes, ObjectType::Credential);
        let body = read_body(&mut reader)?;
        let body_bytes = reader.consumed_since(0);
        let signature = reader.array::<SIGNATURE_LEN>()?;
        reader.finish()?;
        Ok(Self {
            body,
            body_bytes,
            signature,
        })
    }

    /// Verifies the signature with `issuer_key`, whose algorithm the caller
    /// has already compared with [`CredentialBody::algorithm`].
    pub fn verify_signature(&self, issuer_key: &PublicKey) -> Result<(), RejectReason> {
        domain::verify_with_domain::<{ domain::MAX_DOMAIN_LEN + MAX_CREDENTIAL_LEN }>(
            issuer_key,
            ObjectType::Credential,
            self.body_bytes,
            &self.signature,
        )
    }

    /// Returns the subject's key id.
    pub fn key_id(&self) -> KeyId {
        self.body.key_id()
    }
}

fn read_validity(reader: &mut Reader<'_>) -> Result<Validity, RejectReason> {
    Ok(Validity {
        not_before: reader.u64()?,
        not_after: reader.u64()?,
    })
}

fn read_body(reader: &mut Reader<'_>) -> Result<CredentialBody, RejectReason> {
    reader.version(CREDENTIAL_VERSION)?;
    let kind = CredentialKind::from_variant(reader.variant()?).ok_or(reader.malformed("kind"))?;
    let algorithm = SignatureAlgorithm(reader.u8()?);
    let serial = reader.u64()?;
    let issuer = KeyId(reader.array()?);
    let subject = Subject {
        device_id: DeviceId(reader.array()?),
        vendor_id: reader.u32()?,
        model_id: reader.u32()?,
        hardware_revision: reader.u16()?,
    };
    let public_key = PublicKey(reader.array()?);
    let validity = read_validity(reader)?;
    let usage = KeyUsage(reader.u8()?);
    if !KeyUsage::ALL.contains(usage) {
        return Err(reader.malformed("usage"));
    }
    let issuer_limits = if reader.flag()? {
        if kind != CredentialKind::Intermediate {
            return Err(reader.malformed("issuer_limits"));
        }
        let window = read_validity(reader)?;
        let count = reader.length("issuer_limits.models", MAX_ALLOWED_MODELS)?;
        let mut models = heapless::Vec::new();
        for _ in 0..count {
            let model = reader.u32()?;
            if models.last().is_some_and(|&last| last >= model) {
                return Err(RejectReason::UnsortedEntries {
                    object: reader.object(),
                    field: "issuer_limits.models",
                });
            }
            // The count was checked against the capacity above.
            let _ = models.push(model);
        }
        Some(IssuerLimits { window, models })
    } else {
        None
    };
    Ok(CredentialBody {
        version: CREDENTIAL_VERSION,
        kind,
        algorithm,
        serial,
        issuer,
        subject,
        public_key,
        validity,
        usage,
        issuer_limits,
    })
}
