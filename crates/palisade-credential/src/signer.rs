//! Private-key operations: the [`Signer`] trait and the software key.

use crate::crypto::{Active, Backend};
use crate::ids::{KeyId, PublicKey};
use crate::reason::{ObjectType, RejectReason};
use crate::rng::Rng;
use zeroize::Zeroizing;

/// The signer could not produce a signature (secure element busy or failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("signer failed to produce an Ed25519 signature")]
pub struct SignerError;

/// An Ed25519 private key that signs messages: a software key, a secure
/// element or a TPM. Signatures must follow RFC 8032 (deterministic).
pub trait Signer {
    /// Returns the public key.
    fn public_key(&self) -> PublicKey;

    /// Signs `message` with Ed25519.
    fn sign(&self, message: &[u8]) -> Result<[u8; 64], SignerError>;

    /// Returns the key id of the public key.
    fn key_id(&self) -> KeyId {
        self.public_key().key_id()
    }
}

impl<S: Signer + ?Sized> Signer for &S {
    fn public_key(&self) -> PublicKey {
        (**self).public_key()
    }

    fn sign(&self, message: &[u8]) -> Result<[u8; 64], SignerError> {
        (**self).sign(message)
    }
}

/// Length of a PKCS#8 v1 Ed25519 document (RFC 8410, private key only).
pub const PKCS8_V1_LEN: usize = 48;
/// Length of a PKCS#8 v2 Ed25519 document (private and public key, the form ring writes).
pub const PKCS8_V2_LEN: usize = 83;

const PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
const PKCS8_V2_PREFIX: [u8; 16] = [
    0x30, 0x51, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
const PKCS8_V2_PUBLIC_KEY_TAG: [u8; 3] = [0x81, 0x21, 0x00];

/// An Ed25519 key held in memory. The seed is zeroized on drop; with the
/// `rustcrypto` backend the expanded key is zeroized too.
///
/// NOTE: with the `ring` backend, ring 0.17 keeps its own expanded copy of the
/// key, which it does not zeroize.
pub struct SoftwareSigner {
    seed: Zeroizing<[u8; 32]>,
    key: <Active as Backend>::SigningKey,
    public_key: PublicKey,
}

impl SoftwareSigner {
    /// Builds a signer from a 32-byte Ed25519 seed (RFC 8032 private key).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let key = Active::signing_key(seed);
        let public_key = PublicKey(Active::public_key(&key));
        Self {
            seed: Zeroizing::new(*seed),
            key,
            public_key,
        }
    }

    /// Generates a new key from `rng`.
    pub fn generate(rng: &mut impl Rng) -> Result<Self, RejectReason> {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut())
            .map_err(|_| RejectReason::RngFailed)?;
        Ok(Self::from_seed(&seed))
    }

    /// Reads a PKCS#8 Ed25519 document: v1 (RFC 8410, 48 bytes) or v2 (with
    /// the public key, 83 bytes). A v2 public key must match the private key.
    pub fn from_pkcs8(document: &[u8]) -> Result<Self, RejectReason> {
        let object = ObjectType::PrivateKey;
        let malformed = |field| RejectReason::Malformed { object, field };
        let (prefix, expected_len) = match document.get(..16) {
            Some(prefix) if prefix == PKCS8_V1_PREFIX => (prefix, PKCS8_V1_LEN),
            Some(prefix) if prefix == PKCS8_V2_PREFIX => (prefix, PKCS8_V2_LEN),
            Some(_) => {
                return Err(malformed(
                    "PKCS#8 header (not an Ed25519 v1 or v2 document)",
                ));
            }
            None => {
                return Err(RejectReason::Truncated {
                    object,
                    offset: document.len(),
                });
            }
        };
        if document.len() < expected_len {
            return Err(RejectReason::Truncated {
                object,
                offset: document.len(),
            });
        }
        if document.len() > expected_len {
            return Err(RejectReason::TrailingBytes {
                object,
                extra: document.len() - expected_len,
            });
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&document[prefix.len()..prefix.len() + 32]);
        let signer = Self::from_seed(&seed);
        if expected_len == PKCS8_V2_LEN {
            if document[48..51] != PKCS8_V2_PUBLIC_KEY_TAG {
                return Err(malformed("PKCS#8 public key tag"));
            }
            if document[51..83] != signer.public_key.0 {
                return Err(malformed(
                    "PKCS#8 public key (does not match the private key)",
                ));
            }
        }
        Ok(signer)
    }

    /// Writes the key as a PKCS#8 v2 document (readable by ring and by
    /// [`from_pkcs8`](Self::from_pkcs8)). The result contains the private key.
    pub fn to_pkcs8(&self) -> Zeroizing<[u8; PKCS8_V2_LEN]> {
        let mut document = Zeroizing::new([0u8; PKCS8_V2_LEN]);
        document[..16].copy_from_slice(&PKCS8_V2_PREFIX);
        document[16..48].copy_from_slice(self.seed.as_ref());
        document[48..51].copy_from_slice(&PKCS8_V2_PUBLIC_KEY_TAG);
        document[51..].copy_from_slice(&self.public_key.0);
        document
    }
}

impl Signer for SoftwareSigner {
    fn public_key(&self) -> PublicKey {
        self.public_key
    }

    fn sign(&self, message: &[u8]) -> Result<[u8; 64], SignerError> {
        Ok(Active::sign(&self.key, message))
    }
}

impl core::fmt::Debug for SoftwareSigner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The seed is secret and never printed.
        f.debug_struct("SoftwareSigner")
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs8_v2_round_trip() {
        let signer = SoftwareSigner::from_seed(&[9u8; 32]);
        let document = signer.to_pkcs8();
        let back = SoftwareSigner::from_pkcs8(document.as_ref()).unwrap();
        assert_eq!(back.public_key(), signer.public_key());
    }

    #[test]
    fn pkcs8_v1_accepted() {
        let mut document = [0u8; PKCS8_V1_LEN];
        document[..16].copy_from_slice(&PKCS8_V1_PREFIX);
        document[16..].copy_from_slice(&[9u8; 32]);
        let signer = SoftwareSigner::from_pkcs8(&document).unwrap();
        assert_eq!(
            signer.public_key(),
            SoftwareSigner::from_seed(&[9u8; 32]).public_key()
        );
    }

    #[test]
    fn pkcs8_mismatched_public_key_rejected() {
        let signer = SoftwareSigner::from_seed(&[9u8; 32]);
        let mut document = *signer.to_pkcs8();
        document[82] ^= 1;
        assert!(matches!(
            SoftwareSigner::from_pkcs8(&document),
            Err(RejectReason::Malformed { .. })
        ));
    }

    #[test]
    fn pkcs8_length_limits() {
        let signer = SoftwareSigner::from_seed(&[9u8; 32]);
        let document = *signer.to_pkcs8();
        for len in 0..PKCS8_V2_LEN {
            assert!(
                SoftwareSigner::from_pkcs8(&document[..len]).is_err(),
                "length {len}"
            );
        }
        let mut longer = [0u8; PKCS8_V2_LEN + 1];
        longer[..PKCS8_V2_LEN].copy_from_slice(&document);
        assert!(matches!(
            SoftwareSigner::from_pkcs8(&longer),
            Err(RejectReason::TrailingBytes { extra: 1, .. })
        ));
    }

    #[cfg(feature = "ring")]
    #[test]
    fn pkcs8_readable_by_ring() {
        let signer = SoftwareSigner::from_seed(&[9u8; 32]);
        let document = signer.to_pkcs8();
        let pair = ring::signature::Ed25519KeyPair::from_pkcs8(document.as_ref()).unwrap();
        use ring::signature::KeyPair;
        assert_eq!(pair.public_key().as_ref(), &signer.public_key().0);
    }
}
