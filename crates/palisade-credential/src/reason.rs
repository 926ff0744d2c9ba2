//! Reject reasons: one variant per family of failure, each with a stable code.

use core::fmt;

/// The kind of encoded object a reason refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ObjectType {
    /// A credential (root, intermediate, device or gateway).
    Credential,
    /// A signed revocation list.
    RevocationList,
    /// A signed command.
    Command,
    /// Handshake message 1 (device to gateway).
    HandshakeMsg1,
    /// Handshake message 2 (gateway to device).
    HandshakeMsg2,
    /// Handshake message 3 (device to gateway).
    HandshakeMsg3,
    /// A PKCS#8 private-key document.
    PrivateKey,
    /// A signed reference SBOM.
    ReferenceSbom,
}

impl ObjectType {
    /// Returns a short lowercase name for messages and logs.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Credential => "credential",
            Self::RevocationList => "revocation list",
            Self::Command => "command",
            Self::HandshakeMsg1 => "handshake message 1",
            Self::HandshakeMsg2 => "handshake message 2",
            Self::HandshakeMsg3 => "handshake message 3",
            Self::PrivateKey => "PKCS#8 private key",
            Self::ReferenceSbom => "reference SBOM",
        }
    }
}

impl fmt::Display for ObjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a credential, chain, revocation list, handshake message or command was
/// rejected, or why producing one failed.
///
/// Every variant has a stable numeric [`code`](RejectReason::code) that a
/// gateway can put into a security event; codes are never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RejectReason {
    /// The input ended before the object was complete.
    #[error("{object} is truncated at byte {offset}; send the complete object")]
    Truncated {
        /// Object being decoded.
        object: ObjectType,
        /// Offset at which more bytes were needed.
        offset: usize,
    },
    /// Bytes follow a complete object.
    #[error("{object} has {extra} trailing bytes after its end; send the object alone")]
    TrailingBytes {
        /// Object being decoded.
        object: ObjectType,
        /// Number of unexpected bytes.
        extra: usize,
    },
    /// A varint is longer than needed or a flag byte is not 0 or 1.
    #[error(
        "{object} has a non-canonical encoding at byte {offset}; re-encode it with the canonical encoder"
    )]
    NonCanonicalEncoding {
        /// Object being decoded.
        object: ObjectType,
        /// Offset of the offending field.
        offset: usize,
    },
    /// A field holds a value outside its allowed set (unknown enum tag, unknown flag bits, bad length).
    #[error("{object} field `{field}` holds an invalid value")]
    Malformed {
        /// Object being decoded.
        object: ObjectType,
        /// Name of the field.
        field: &'static str,
    },
    /// The format version is not one this library reads.
    #[error("{object} has format version {found}, expected {expected}")]
    UnsupportedVersion {
        /// Object being decoded.
        object: ObjectType,
        /// Version byte found.
        found: u8,
        /// Version this library reads.
        expected: u8,
    },
    /// A list has more entries than the library accepts.
    #[error("{object} field `{field}` has {count} entries, more than the maximum of {max}")]
    TooManyEntries {
        /// Object being decoded.
        object: ObjectType,
        /// Name of the field.
        field: &'static str,
        /// Entries found.
        count: usize,
        /// Maximum accepted.
        max: usize,
    },
    /// List entries are not in strictly increasing order (duplicates included).
    #[error("{object} field `{field}` is not sorted in strictly increasing order")]
    UnsortedEntries {
        /// Object being decoded.
        object: ObjectType,
        /// Name of the field.
        field: &'static str,
    },
    /// The issuer key id is not one of the pinned root keys.
    #[error("issuer key {key_id} is not a pinned root; pin the root key or reject the device")]
    UnknownRoot {
        /// Issuer key id named by the credential.
        key_id: crate::KeyId,
    },
    /// The credential names an issuer other than the credential offered as its issuer.
    #[error("credential names issuer key {expected}, but the chain offers key {found}")]
    UnknownIssuer {
        /// Issuer key id named by the credential.
        expected: crate::KeyId,
        /// Key id of the offered issuer credential.
        found: crate::KeyId,
    },
    /// The Ed25519 signature does not verify.
    #[error("signature on {object} does not verify")]
    BadSignature {
        /// Object whose signature failed.
        object: ObjectType,
    },
    /// The signature verifies, but under the domain-separation string of another object type.
    #[error(
        "signature on {object} was made for a {signed_as}; an object of one type was presented as another"
    )]
    DomainMismatch {
        /// Object that was being verified.
        object: ObjectType,
        /// Object type the signature was actually made for.
        signed_as: ObjectType,
    },
    /// The signature's S value is not below the group order L (a malleated signature).
    #[error("signature on {object} is not canonical (S >= L)")]
    NonCanonicalSignature {
        /// Object whose signature was checked.
        object: ObjectType,
    },
    /// The Ed25519 public key has small order or a non-canonical encoding.
    #[error(
        "public key {key_id} has small order or a non-canonical encoding and can never be trusted"
    )]
    WeakPublicKey {
        /// Key id of the rejected key.
        key_id: crate::KeyId,
    },
    /// The credential's algorithm differs from the algorithm of its trust anchor or issuer.
    #[error(
        "credential announces algorithm {found}, but its trust anchor uses algorithm {expected}"
    )]
    AlgorithmMismatch {
        /// Algorithm id of the anchor.
        expected: u8,
        /// Algorithm id written in the message.
        found: u8,
    },
    /// The credential kind does not fit its position.
    #[error("expected a {expected} credential, found a {found} credential")]
    WrongKind {
        /// Kind required at this position.
        expected: crate::CredentialKind,
        /// Kind found.
        found: crate::CredentialKind,
    },
    /// The chain has the wrong number of credentials, or a credential skips a level.
    #[error("chain has depth {found}, expected {expected} (root, intermediate, device)")]
    WrongDepth {
        /// Depth required.
        expected: u8,
        /// Depth presented.
        found: u8,
    },
    /// The credential lacks a key usage that the operation needs.
    #[error("credential serial {serial} lacks key usage {missing:?}")]
    MissingKeyUsage {
        /// Serial of the credential.
        serial: u64,
        /// Usage that was needed.
        missing: crate::KeyUsage,
    },
    /// The validity period ended before the verification time.
    #[error("credential serial {serial} expired at {not_after}, now is {now}")]
    Expired {
        /// Serial of the credential.
        serial: u64,
        /// End of the validity period (seconds since the Unix epoch).
        not_after: u64,
        /// Verification time.
        now: u64,
    },
    /// The validity period starts after the verification time.
    #[error("credential serial {serial} is not valid before {not_before}, now is {now}")]
    NotYetValid {
        /// Serial of the credential.
        serial: u64,
        /// Start of the validity period.
        not_before: u64,
        /// Verification time.
        now: u64,
    },
    /// Not-before is later than not-after.
    #[error("credential serial {serial} has not-before {not_before} after not-after {not_after}")]
    InvalidValidity {
        /// Serial of the credential.
        serial: u64,
        /// Start of the validity period.
        not_before: u64,
        /// End of the validity period.
        not_after: u64,
    },
    /// The device credential's validity is outside the window its intermediate may issue.
    #[error(
        "credential serial {serial} has validity outside the issuing window of its intermediate"
    )]
    OutsideIssuerWindow {
        /// Serial of the device credential.
        serial: u64,
    },
    /// The device model is not in its intermediate's list of allowed models.
    #[error(
        "credential serial {serial} is for model {model}, which its intermediate may not issue"
    )]
    ModelNotAllowed {
        /// Serial of the device credential.
        serial: u64,
        /// Model id of the device.
        model: u32,
    },
    /// The credential's serial is on the revocation list.
    #[error("credential serial {serial} from issuer {issuer} is revoked")]
    Revoked {
        /// Issuer key id.
        issuer: crate::KeyId,
        /// Revoked serial.
        serial: u64,
    },
    /// The issuing intermediate is on the revocation list.
    #[error("issuer key {key_id} is revoked")]
    IssuerRevoked {
        /// Revoked issuer key id.
        key_id: crate::KeyId,
    },
    /// A revocation list older than or equal to the installed one was offered.
    #[error("revocation list number {offered} is not newer than installed number {installed}")]
    RevocationListRolledBack {
        /// Number of the installed list.
        installed: u64,
        /// Number of the offered list.
        offered: u64,
    },
    /// The installed revocation list is past its next-update time.
    #[error(
        "revocation list number {number} was due for renewal at {next_update}, now is {now}; install a new list"
    )]
    RevocationListStale {
        /// Number of the stale list.
        number: u64,
        /// Its next-update time.
        next_update: u64,
        /// Verification time.
        now: u64,
    },
    /// The revocation list is signed by a key the root has not authorized to sign lists.
    #[error("revocation list signer {key_id} is not the root or a revocation key certified by it")]
    RevocationSignerNotAuthorized {
        /// Key id of the signer.
        key_id: crate::KeyId,
    },
    /// The reference SBOM's signer credential is not a root or intermediate
    /// credential that may sign references under a pinned root.
    #[error(
        "reference SBOM signer {key_id} is neither the pinned root's own credential nor an intermediate issued by it; sign with a maker credential that carries sign-reference-sboms"
    )]
    ReferenceSbomSignerNotAuthorized {
        /// Key id of the signer.
        key_id: crate::KeyId,
    },
    /// The reference SBOM's issue time lies further in the future than the
    /// allowed clock skew.
    #[error(
        "reference SBOM issued at {issued_at} is later than the verification time {now} plus the allowed skew; re-sign it with an issue time in seconds since the Unix epoch that is not later than the current time"
    )]
    ReferenceSbomIssuedInFuture {
        /// Issue time in the reference, in seconds since the Unix epoch.
        issued_at: u64,
        /// Verification time, in seconds since the Unix epoch.
        now: u64,
    },
    /// The reference SBOM names another vendor than its signer credential's
    /// subject.
    #[error(
        "reference SBOM for vendor {reference_vendor} is signed by credential serial {serial} of vendor {signer_vendor}; sign it with a credential of vendor {reference_vendor}"
    )]
    ReferenceSbomVendorMismatch {
        /// Serial of the signer credential.
        serial: u64,
        /// Vendor id in the signer credential's subject.
        signer_vendor: u32,
        /// Vendor id in the reference SBOM.
        reference_vendor: u32,
    },
    /// The handshake transcript signature does not verify: the peer does not hold the key.
    #[error(
        "proof of possession failed: the {object} signature over the handshake transcript does not verify"
    )]
    ProofOfPossessionFailed {
        /// Message whose transcript signature failed.
        object: ObjectType,
    },
    /// A handshake nonce was seen before.
    #[error("handshake nonce was already used; the message is a replay")]
    Replayed,
    /// A handshake message was made for another session or another gateway.
    #[error(
        "handshake message echoes a nonce that this gateway did not send; it was made for another session"
    )]
    NonceMismatch,
    /// The verified chain handed to the handshake is not the chain in message 1.
    #[error("verified chain does not belong to this handshake message")]
    ChainMismatch,
    /// X25519 produced the all-zero shared secret (a small-order peer key).
    #[error("key agreement failed: the peer's ephemeral key has small order")]
    KeyAgreementFailed,
    /// The same public key was already admitted under another device id.
    #[error(
        "public key {key_id} is already registered to device {registered}; device {presented} is a clone"
    )]
    ClonedDeviceKey {
        /// Key id of the shared key.
        key_id: crate::KeyId,
        /// Device id the key was first admitted under.
        registered: crate::DeviceId,
        /// Device id presented now.
        presented: crate::DeviceId,
    },
    /// The command's counter is not above the last accepted one.
    #[error(
        "command counter {counter} is not above the last accepted counter {last}; the command is a replay"
    )]
    CommandReplayed {
        /// Counter in the command.
        counter: u64,
        /// Last accepted counter.
        last: u64,
    },
    /// The command is past its not-after time.
    #[error("command expired at {not_after}, now is {now}")]
    CommandExpired {
        /// Not-after time of the command.
        not_after: u64,
        /// Verification time.
        now: u64,
    },
    /// The command targets another device.
    #[error("command is addressed to device {target}, this device is {this_device}")]
    WrongTarget {
        /// Device id in the command.
        target: crate::DeviceId,
        /// Device id of the verifier.
        this_device: crate::DeviceId,
    },
    /// A handshake step was called in the wrong state or with the wrong message.
    #[error("handshake message arrived in the wrong state")]
    UnexpectedMessage,
    /// The output buffer is too small for the object.
    #[error("output buffer has {available} bytes, {needed} are needed")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// The signer (software key, secure element, TPM) failed to sign.
    #[error("signer failed to produce a signature")]
    SignerFailed,
    /// The random number generator failed.
    #[error("random number generator failed")]
    RngFailed,
}

impl RejectReason {
    /// Returns the stable numeric code of this reason, for security events.
    ///
    /// Codes are grouped: 1-19 encoding, 20-49 credentials and chains,
    /// 50-59 revocation, 60-79 handshake, 80-89 commands, 90-99 reference
    /// SBOMs, 100+ local failures.
    pub const fn code(&self) -> u8 {
        match self {
            Self::Truncated { .. } => 1,
            Self::TrailingBytes { .. } => 2,
            Self::NonCanonicalEncoding { .. } => 3,
            Self::Malformed { .. } => 4,
            Self::UnsupportedVersion { .. } => 5,
            Self::TooManyEntries { .. } => 6,
            Self::UnsortedEntries { .. } => 7,
            Self::UnknownRoot { .. } => 20,
            Self::UnknownIssuer { .. } => 21,
            Self::BadSignature { .. } => 22,
            Self::DomainMismatch { .. } => 23,
            Self::NonCanonicalSignature { .. } => 24,
            Self::WeakPublicKey { .. } => 25,
            Self::AlgorithmMismatch { .. } => 26,
            Self::WrongKind { .. } => 27,
            Self::WrongDepth { .. } => 28,
            Self::MissingKeyUsage { .. } => 29,
            Self::Expired { .. } => 30,
            Self::NotYetValid { .. } => 31,
            Self::InvalidValidity { .. } => 32,
            Self::OutsideIssuerWindow { .. } => 33,
            Self::ModelNotAllowed { .. } => 34,
            Self::Revoked { .. } => 50,
            Self::IssuerRevoked { .. } => 51,
            Self::RevocationListRolledBack { .. } => 52,
            Self::RevocationListStale { .. } => 53,
            Self::RevocationSignerNotAuthorized { .. } => 54,
            Self::ReferenceSbomSignerNotAuthorized { .. } => 90,
            Self::ReferenceSbomIssuedInFuture { .. } => 91,
            Self::ReferenceSbomVendorMismatch { .. } => 92,
            Self::ProofOfPossessionFailed { .. } => 60,
            Self::Replayed => 61,
            Self::NonceMismatch => 62,
            Self::ChainMismatch => 63,
            Self::KeyAgreementFailed => 64,
            Self::ClonedDeviceKey { .. } => 65,
            Self::UnexpectedMessage => 66,
            Self::CommandReplayed { .. } => 80,
            Self::CommandExpired { .. } => 81,
            Self::WrongTarget { .. } => 82,
            Self::BufferTooSmall { .. } => 100,
            Self::SignerFailed => 101,
            Self::RngFailed => 102,
        }
    }
}
