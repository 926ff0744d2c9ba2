//! Domain separation: every signature covers a per-object-type string
//! followed by the exact body bytes, so a signature made for one object type
//! never verifies as another.

use crate::crypto::{self, Active, Backend};
use crate::ids::PublicKey;
use crate::reason::{ObjectType, RejectReason};
use crate::signer::Signer;

/// Domain-separation string for credentials.
pub const DOMAIN_CREDENTIAL: &[u8] = b"palisade v1 credential\0";
/// Domain-separation string for revocation lists.
pub const DOMAIN_REVOCATION_LIST: &[u8] = b"palisade v1 revocation list\0";
/// Domain-separation string for signed commands.
pub const DOMAIN_COMMAND: &[u8] = b"palisade v1 command\0";
/// Domain-separation string for signed reference SBOMs.
pub const DOMAIN_REFERENCE_SBOM: &[u8] = b"palisade v1 reference sbom\0";
/// Domain-separation string for the gateway's transcript signature (message 2).
pub const DOMAIN_HANDSHAKE_GATEWAY: &[u8] = b"palisade v1 handshake gateway signature\0";
/// Domain-separation string for the device's transcript signature (message 3).
pub const DOMAIN_HANDSHAKE_DEVICE: &[u8] = b"palisade v1 handshake device signature\0";

/// Longest domain-separation string, for sizing message buffers.
pub(crate) const MAX_DOMAIN_LEN: usize = 48;

const ALL_DOMAINS: [(ObjectType, &[u8]); 6] = [
    (ObjectType::Credential, DOMAIN_CREDENTIAL),
    (ObjectType::RevocationList, DOMAIN_REVOCATION_LIST),
    (ObjectType::Command, DOMAIN_COMMAND),
    (ObjectType::ReferenceSbom, DOMAIN_REFERENCE_SBOM),
    (ObjectType::HandshakeMsg2, DOMAIN_HANDSHAKE_GATEWAY),
    (ObjectType::HandshakeMsg3, DOMAIN_HANDSHAKE_DEVICE),
];

/// Returns the domain-separation string of an object type.
pub(crate) fn domain_of(object: ObjectType) -> &'static [u8] {
    ALL_DOMAINS
        .iter()
        .find(|(kind, _)| *kind == object)
        .map(|(_, domain)| *domain)
        .unwrap_or(DOMAIN_CREDENTIAL)
}

/// Message buffer: the domain string and the body, contiguous, on the stack.
struct Message<const N: usize> {
    buffer: [u8; N],
    len: usize,
}

impl<const N: usize> Message<N> {
    fn new(domain: &[u8], body: &[u8]) -> Result<Self, RejectReason> {
        let len = domain.len() + body.len();
        if len > N {
            return Err(RejectReason::BufferTooSmall {
                needed: len,
                available: N,
            });
        }
        let mut buffer = [0u8; N];
        buffer[..domain.len()].copy_from_slice(domain);
        buffer[domain.len()..len].copy_from_slice(body);
        Ok(Self { buffer, len })
    }

    fn as_slice(&self) -> &[u8] {
        &self.buffer[..self.len]
    }
}

/// Signs `domain || body` with `signer`; `N` bounds the message length.
pub(crate) fn sign_with_domain<const N: usize>(
    signer: &(impl Signer + ?Sized),
    object: ObjectType,
    body: &[u8],
) -> Result<[u8; 64], RejectReason> {
    let message = Message::<N>::new(domain_of(object), body)?;
    signer
        .sign(message.as_slice())
        .map_err(|_| RejectReason::SignerFailed)
}

/// Verifies an Ed25519 signature over `domain || body` for `object`.
///
/// Before the signature check, rejects keys of small order and signatures
/// with S >= L, whichever backend runs. When the signature fails, tries the
/// other domain strings (at most five more verifications, only on this failure
/// path) so that a signature made for another object type is reported as
/// [`RejectReason::DomainMismatch`].
pub(crate) fn verify_with_domain<const N: usize>(
    public_key: &PublicKey,
    object: ObjectType,
    body: &[u8],
    signature: &[u8; 64],
) -> Result<(), RejectReason> {
    if crypto::check_public_key(&public_key.0).is_err() {
        return Err(RejectReason::WeakPublicKey {
            key_id: public_key.key_id(),
        });
    }
    if crypto::check_signature_scalar(signature).is_err() {
        return Err(RejectReason::NonCanonicalSignature { object });
    }
    // One message buffer at a time, so the stack holds at most N bytes of it.
    let verified = {
        let message = Message::<N>::new(domain_of(object), body)?;
        Active::verify(&public_key.0, message.as_slice(), signature).is_ok()
    };
    if verified {
        return Ok(());
    }
    for (other, domain) in ALL_DOMAINS {
        if other == object {
            continue;
        }
        let Ok(message) = Message::<N>::new(domain, body) else {
            continue;
        };
        if Active::verify(&public_key.0, message.as_slice(), signature).is_ok() {
            return Err(RejectReason::DomainMismatch {
                object,
                signed_as: other,
            });
        }
    }
    Err(match object {
        ObjectType::HandshakeMsg2 | ObjectType::HandshakeMsg3 => {
            RejectReason::ProofOfPossessionFailed { object }
        }
        _ => RejectReason::BadSignature { object },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_fit_buffer() {
        for (_, domain) in ALL_DOMAINS {
            assert!(domain.len() <= MAX_DOMAIN_LEN);
            assert_eq!(domain.last(), Some(&0), "domain strings end with NUL");
        }
    }

    #[test]
    fn identity_key_forgery_rejected() {
        // R = identity point, S = 0: accepted by ring 0.17.14 for the identity key.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut signature = [0u8; 64];
        signature[0] = 1;
        let result = verify_with_domain::<128>(
            &PublicKey(identity),
            ObjectType::Command,
            b"any",
            &signature,
        );
        assert!(matches!(result, Err(RejectReason::WeakPublicKey { .. })));
    }
}
