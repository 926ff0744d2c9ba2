//! Signed revocation lists and the policy for stale lists.

use crate::chain::{TrustStore, VerificationTime, check_validity};
use crate::credential::{Credential, CredentialKind, KeyUsage, SIGNATURE_LEN};
use crate::domain;
use crate::encoding::{self, Reader};
use crate::ids::KeyId;
use crate::reason::{ObjectType, RejectReason};
use crate::signer::Signer;

/// Format version of revocation list bodies.
pub const REVOCATION_LIST_VERSION: u8 = 1;
/// Maximum number of revoked credentials (issuer key id and serial) in one list.
pub const MAX_REVOKED_CREDENTIALS: usize = 128;
/// Maximum number of revoked issuer keys (intermediates) in one list.
pub const MAX_REVOKED_ISSUERS: usize = 16;
/// Upper bound of an encoded revocation list, body and signature.
pub const MAX_REVOCATION_LIST_LEN: usize =
    64 + MAX_REVOKED_CREDENTIALS * 18 + MAX_REVOKED_ISSUERS * 8 + SIGNATURE_LEN;

/// One revoked credential: the key id of its issuer and its serial.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct RevokedCredential {
    /// Key id of the issuer (an intermediate, or the root for gateways and intermediates).
    pub issuer: KeyId,
    /// Serial of the revoked credential.
    pub serial: u64,
}

/// A revocation list. Entries are sorted in strictly increasing order, which
/// makes the encoding canonical and lookups a binary search.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RevocationList {
    /// Format version, [`REVOCATION_LIST_VERSION`].
    pub version: u8,
    /// Key id of the root whose chains this list applies to.
    pub root: KeyId,
    /// Key id of the signer: the root itself, or a key the root certified
    /// with [`KeyUsage::SIGN_REVOCATION_LISTS`].
    pub signer: KeyId,
    /// List number; an installed list is replaced only by a higher number.
    pub number: u64,
    /// Time the list was issued (seconds since the Unix epoch).
    pub this_update: u64,
    /// Time by which a newer list is due; after it the list is stale.
    pub next_update: u64,
    /// Revoked credentials, strictly increasing.
    pub credentials: heapless::Vec<RevokedCredential, MAX_REVOKED_CREDENTIALS>,
    /// Revoked issuer keys, strictly increasing.
    pub issuers: heapless::Vec<KeyId, MAX_REVOKED_ISSUERS>,
}

impl RevocationList {
    /// Returns an error when the credential `serial` from `issuer` is revoked.
    pub fn check(&self, issuer: &KeyId, serial: u64) -> Result<(), RejectReason> {
        let entry = RevokedCredential {
            issuer: *issuer,
            serial,
        };
        if self.credentials.binary_search(&entry).is_ok() {
            return Err(RejectReason::Revoked {
                issuer: *issuer,
                serial,
            });
        }
        Ok(())
    }

    /// Returns an error when the issuer key `key_id` is revoked.
    pub fn check_issuer(&self, key_id: &KeyId) -> Result<(), RejectReason> {
        if self.issuers.binary_search(key_id).is_ok() {
            return Err(RejectReason::IssuerRevoked { key_id: *key_id });
        }
        Ok(())
    }

    /// Encodes and signs the list; returns the length written to `out`.
    /// Sorts nothing: entries must already be strictly increasing.
    pub fn sign(
        &self,
        signer: &(impl Signer + ?Sized),
        out: &mut [u8],
    ) -> Result<usize, RejectReason> {
        let object = ObjectType::RevocationList;
        if signer.key_id() != self.signer {
            return Err(RejectReason::RevocationSignerNotAuthorized {
                key_id: signer.key_id(),
            });
        }
        if !is_strictly_increasing(&self.credentials) {
            return Err(RejectReason::UnsortedEntries {
                object,
                field: "credentials",
            });
        }
        if !is_strictly_increasing(&self.issuers) {
            return Err(RejectReason::UnsortedEntries {
                object,
                field: "issuers",
            });
        }
        let body_len = encoding::encode_into(self, out)?;
        let signature = domain::sign_with_domain::<
            { domain::MAX_DOMAIN_LEN + MAX_REVOCATION_LIST_LEN },
        >(signer, object, &out[..body_len])?;
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

    /// Decodes a list strictly without checking its signature; returns the
    /// list, the body bytes and the signature.
    pub fn decode_unverified(
        bytes: &[u8],
    ) -> Result<(Self, &[u8], [u8; SIGNATURE_LEN]), RejectReason> {
        let mut reader = Reader::new(bytes, ObjectType::RevocationList);
        let list = read_body(&mut reader)?;
        let body = reader.consumed_since(0);
        let signature = reader.array::<SIGNATURE_LEN>()?;
        reader.finish()?;
        Ok((list, body, signature))
    }

    /// Decodes a list and verifies its signature.
    ///
    /// The list's root must be pinned in `roots`. When the signer is not the
    /// root itself, `signer_credential` must be a credential issued by that
    /// root with [`KeyUsage::SIGN_REVOCATION_LISTS`], valid at `time`.
    /// Freshness and rollback are checked by [`RevocationStatus`].
    pub fn decode_and_verify(
        bytes: &[u8],
        roots: &TrustStore,
        signer_credential: Option<&[u8]>,
        time: VerificationTime,
    ) -> Result<Self, RejectReason> {
        let (list, body, signature) = Self::decode_unverified(bytes)?;
        let anchor = roots
            .find(&list.root)
            .ok_or(RejectReason::UnknownRoot { key_id: list.root })?;
        let signer_key = if list.signer == anchor.key_id() {
            anchor.public_key
        } else {
            let unauthorized = RejectReason::RevocationSignerNotAuthorized {
                key_id: list.signer,
            };
            let credential = Credential::decode(signer_credential.ok_or(unauthorized)?)?;
            let cert = &credential.body;
            if cert.key_id() != list.signer
                || cert.issuer != anchor.key_id()
                || cert.kind == CredentialKind::Device
                || !cert.usage.contains(KeyUsage::SIGN_REVOCATION_LISTS)
            {
                return Err(unauthorized);
            }
            if cert.algorithm != anchor.algorithm {
                return Err(RejectReason::AlgorithmMismatch {
                    expected: anchor.algorithm.0,
                    found: cert.algorithm.0,
                });
            }
            credential.verify_signature(&anchor.public_key)?;
            check_validity(cert, time)?;
            cert.public_key
        };
        domain::verify_with_domain::<{ domain::MAX_DOMAIN_LEN + MAX_REVOCATION_LIST_LEN }>(
            &signer_key,
            ObjectType::RevocationList,
            body,
            &signature,
        )?;
        Ok(list)
    }
}

fn is_strictly_increasing<T: Ord>(items: &[T]) -> bool {
    items.windows(2).all(|pair| pair[0] < pair[1])
}

fn read_body(reader: &mut Reader<'_>) -> Result<RevocationList, RejectReason> {
    reader.version(REVOCATION_LIST_VERSION)?;
    let root = KeyId(reader.array()?);
    let signer = KeyId(reader.array()?);
    let number = reader.u64()?;
    let this_update = reader.u64()?;
    let next_update = reader.u64()?;
    if next_update < this_update {
        return Err(reader.malformed("next_update"));
    }
    let count = reader.length("credentials", MAX_REVOKED_CREDENTIALS)?;
    let mut credentials = heapless::Vec::new();
    for _ in 0..count {
        let entry = RevokedCredential {
            issuer: KeyId(reader.array()?),
            serial: reader.u64()?,
        };
        if credentials.last().is_some_and(|last| *last >= entry) {
            return Err(RejectReason::UnsortedEntries {
                object: reader.object(),
                field: "credentials",
            });
        }
        // The count was checked against the capacity above.
        let _ = credentials.push(entry);
    }
    let count = reader.length("issuers", MAX_REVOKED_ISSUERS)?;
    let mut issuers = heapless::Vec::new();
    for _ in 0..count {
        let key_id = KeyId(reader.array()?);
        if issuers.last().is_some_and(|last| *last >= key_id) {
            return Err(RejectReason::UnsortedEntries {
                object: reader.object(),
                field: "issuers",
            });
        }
        let _ = issuers.push(key_id);
    }
    Ok(RevocationList {
        version: REVOCATION_LIST_VERSION,
        root,
        signer,
        number,
        this_update,
        next_update,
        credentials,
        issuers,
    })
}

/// Gateway behaviour while its revocation list is stale (past next-update).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StalePolicy {
    /// Reject new admissions (default: true).
    pub refuse_new_admissions: bool,
    /// Keep sessions of devices admitted before (default: true).
    pub keep_admitted: bool,
    /// Raise an alarm event (default: true).
    pub raise_alarm: bool,
}

impl Default for StalePolicy {
    fn default() -> Self {
        Self {
            refuse_new_admissions: true,
            keep_admitted: true,
            raise_alarm: true,
        }
    }
}

/// Freshness of the installed list at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// No list installed yet.
    NoList,
    /// Within its next-update time.
    Fresh,
    /// Past its next-update time by `overdue_seconds`.
    Stale {
        /// Seconds since next-update.
        overdue_seconds: u64,
    },
}

/// The installed list's number and next-update time, with the stale-list
/// policy. Rejects rolled-back lists; the caller persists
/// [`installed_number`](Self::installed_number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RevocationStatus {
    installed: Option<(u64, u64)>,
    /// Policy applied while the list is stale.
    pub policy: StalePolicy,
}

impl RevocationStatus {
    /// Creates a status with no list installed.
    pub fn new(policy: StalePolicy) -> Self {
        Self {
            installed: None,
            policy,
        }
    }

    /// Returns the number of the installed list.
    pub fn installed_number(&self) -> Option<u64> {
        self.installed.map(|(number, _)| number)
    }

    /// Records `list` (already verified) as installed; rejects a list whose
    /// number is not above the installed one.
    pub fn install(&mut self, list: &RevocationList) -> Result<(), RejectReason> {
        if let Some((installed, _)) = self.installed
            && list.number <= installed
        {
            return Err(RejectReason::RevocationListRolledBack {
                installed,
                offered: list.number,
            });
        }
        self.installed = Some((list.number, list.next_update));
        Ok(())
    }

    /// Returns the freshness at `now`.
    pub fn freshness(&self, now: u64) -> Freshness {
        match self.installed {
            None => Freshness::NoList,
            Some((_, next_update)) if now <= next_update => Freshness::Fresh,
            Some((_, next_update)) => Freshness::Stale {
                overdue_seconds: now - next_update,
            },
        }
    }

    /// Decides a new admission at `now` under the policy: an error when the
    /// list is stale and the policy rejects new admissions.
    pub fn check_new_admission(&self, now: u64) -> Result<(), RejectReason> {
        match (self.installed, self.freshness(now)) {
            (Some((number, next_update)), Freshness::Stale { .. })
                if self.policy.refuse_new_admissions =>
            {
                Err(RejectReason::RevocationListStale {
                    number,
                    next_update,
                    now,
                })
            }
            _ => Ok(()),
        }
    }

    /// Returns true when devices admitted earlier keep their sessions at `now`.
    pub fn keeps_admitted(&self, now: u64) -> bool {
        !matches!(self.freshness(now), Freshness::Stale { .. }) || self.policy.keep_admitted
    }

    /// Returns true when the caller should raise a stale-list alarm at `now`.
    pub fn alarm(&self, now: u64) -> bool {
        matches!(self.freshness(now), Freshness::Stale { .. }) && self.policy.raise_alarm
    }
}
