//! The seam between frames and cryptography.
//!
//! The wire crate seals and opens frames through these two traits, so that it
//! depends on no crypto crate. `palisade-credential` implements them with the
//! session keys that its handshake derives (ChaCha20-Poly1305); tests may
//! implement them with anything that keeps the contract.
//!
//! The contract for an implementation:
//!
//! - The AEAD nonce is derived from `record` alone (for example a per-session
//!   IV XOR the big-endian record number), so a lost frame never
//!   desynchronizes the two ends.
//! - `aad` is the frame header, which contains the record number, so a frame
//!   moved to another record number fails to open.
//! - A [`Sealer`] refuses to seal the same record number twice, because
//!   reusing a nonce under one key breaks ChaCha20-Poly1305.
//! - Replay protection is not the opener's job: the frame decoder keeps a
//!   replay window and calls [`Opener::open_in_place`] only for a record
//!   number it has not accepted before.

/// Length in bytes of the authentication tag that trails a sealed frame.
pub const TAG_LEN: usize = 16;

/// Error returned by [`Sealer::seal_in_place`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The record number was already used or is lower than one already used.
    #[error("record number {record} was already sealed; record numbers must increase")]
    RecordReused {
        /// The record number that was refused.
        record: u64,
    },
    /// The record counter reached its maximum; a new session is needed.
    #[error("record counter exhausted; start a new session")]
    Exhausted,
}

/// Error returned by [`Opener::open_in_place`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The tag did not verify: wrong key, wrong record number, or altered bytes.
    #[error("authentication tag of record {record} did not verify")]
    BadTag {
        /// The record number of the frame that failed.
        record: u64,
    },
}

/// Encrypts and authenticates frame payloads (the sending half of a session).
pub trait Sealer {
    /// Encrypts `payload` in place and returns the authentication tag over
    /// `aad` and the ciphertext.
    fn seal_in_place(
        &mut self,
        record: u64,
        aad: &[u8],
        payload: &mut [u8],
    ) -> Result<[u8; TAG_LEN], SealError>;
}

/// Verifies and decrypts frame payloads (the receiving half of a session).
pub trait Opener {
    /// Verifies `tag` over `aad` and `payload`, then decrypts `payload` in
    /// place. On error `payload` must be treated as garbage.
    fn open_in_place(
        &mut self,
        record: u64,
        aad: &[u8],
        payload: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), OpenError>;
}
