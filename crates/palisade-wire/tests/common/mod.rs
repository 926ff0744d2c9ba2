//! Shared test helpers: a ChaCha20-Poly1305 sealer and opener that keep the
//! `Sealer`/`Opener` contract, and sample frames.
#![allow(dead_code)]

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use palisade_wire::{OpenError, Opener, SealError, Sealer, TAG_LEN};

const KEY: [u8; 32] = [0x42; 32];
const IV: [u8; 12] = [0x24; 12];

fn nonce(record: u64) -> Nonce {
    let mut nonce = IV;
    for (byte, record_byte) in nonce[4..].iter_mut().zip(record.to_be_bytes()) {
        *byte ^= record_byte;
    }
    Nonce::from(nonce)
}

/// Seals with ChaCha20-Poly1305 and rejects record numbers that do not increase.
pub struct TestSealer {
    cipher: ChaCha20Poly1305,
    next: u64,
}

impl TestSealer {
    pub fn new() -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&KEY)),
            next: 0,
        }
    }
}

impl Sealer for TestSealer {
    fn seal_in_place(
        &mut self,
        record: u64,
        aad: &[u8],
        payload: &mut [u8],
    ) -> Result<[u8; TAG_LEN], SealError> {
        if record < self.next {
            return Err(SealError::RecordReused { record });
        }
        self.next = record.checked_add(1).ok_or(SealError::Exhausted)?;
        let tag = self
            .cipher
            .encrypt_in_place_detached(&nonce(record), aad, payload)
            .map_err(|_| SealError::Exhausted)?;
        Ok(tag.into())
    }
}

/// Opens what `TestSealer` sealed.
pub struct TestOpener {
    cipher: ChaCha20Poly1305,
    pub opened: usize,
}

impl TestOpener {
    pub fn new() -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&KEY)),
            opened: 0,
        }
    }
}

impl Opener for TestOpener {
    fn open_in_place(
        &mut self,
        record: u64,
        aad: &[u8],
        payload: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), OpenError> {
        self.cipher
            .decrypt_in_place_detached(&nonce(record), aad, payload, Tag::from_slice(tag))
            .map_err(|_| OpenError::BadTag { record })?;
        self.opened += 1;
        Ok(())
    }
}
