//! Session keys from the handshake, implementing palisade-wire's
//! [`Sealer`] and [`Opener`] with ChaCha20-Poly1305.

use crate::crypto::{Active, Backend};
use palisade_wire::seal::{OpenError, Opener, SealError, Sealer, TAG_LEN};
use zeroize::{Zeroize, ZeroizeOnDrop};

fn nonce_for(iv: &[u8; 12], record: u64) -> [u8; 12] {
    let mut nonce = *iv;
    for (byte, counter) in nonce[4..].iter_mut().zip(record.to_be_bytes()) {
        *byte ^= counter;
    }
    nonce
}

/// The sending half of a session: seals records with strictly increasing
/// record numbers. The nonce is the IV XOR the big-endian record number.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SessionSealer {
    key: [u8; 32],
    iv: [u8; 12],
    /// Lowest record number that may still be sealed.
    next_record: u64,
}

/// The receiving half of a session. Replay protection is the caller's (the
/// wire decoder keeps a replay window).
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SessionOpener {
    key: [u8; 32],
    iv: [u8; 12],
}

impl SessionSealer {
    pub(crate) fn new(key: [u8; 32], iv: [u8; 12]) -> Self {
        Self {
            key,
            iv,
            next_record: 0,
        }
    }

    /// Returns the lowest record number that may still be sealed.
    pub fn next_record(&self) -> u64 {
        self.next_record
    }
}

impl SessionOpener {
    pub(crate) fn new(key: [u8; 32], iv: [u8; 12]) -> Self {
        Self { key, iv }
    }
}

impl Sealer for SessionSealer {
    fn seal_in_place(
        &mut self,
        record: u64,
        aad: &[u8],
        payload: &mut [u8],
    ) -> Result<[u8; TAG_LEN], SealError> {
        // u64::MAX is never used, so next_record never overflows.
        if record == u64::MAX {
            return Err(SealError::Exhausted);
        }
        if record < self.next_record {
            return Err(SealError::RecordReused { record });
        }
        self.next_record = record + 1;
        Ok(Active::aead_seal(
            &self.key,
            &nonce_for(&self.iv, record),
            aad,
            payload,
        ))
    }
}

impl Opener for SessionOpener {
    fn open_in_place(
        &mut self,
        record: u64,
        aad: &[u8],
        payload: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), OpenError> {
        Active::aead_open(&self.key, &nonce_for(&self.iv, record), aad, payload, tag)
            .map_err(|_| OpenError::BadTag { record })
    }
}

impl core::fmt::Debug for SessionSealer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionSealer")
            .field("next_record", &self.next_record)
            .finish_non_exhaustive()
    }
}

impl core::fmt::Debug for SessionOpener {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionOpener").finish_non_exhaustive()
    }
}

/// The result of a completed handshake: one key and IV per direction.
#[derive(Debug)]
pub struct Session {
    /// Seals records this side sends.
    pub sealer: SessionSealer,
    /// Opens records the peer sends.
    pub opener: SessionOpener,
    /// A public session identifier derived from the key schedule, for logs.
    pub session_id: [u8; 16],
}

impl Session {
    /// Splits the session into its sending and receiving halves.
    pub fn split(self) -> (SessionSealer, SessionOpener) {
        (self.sealer, self.opener)
    }
}
