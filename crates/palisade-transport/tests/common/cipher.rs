//! A test cipher for sealed frames: a keyed checksum and a keyed keystream.
//!
//! NOT a real cipher and not secure in any way: it exists so that the
//! transport tests exercise the sealed-frame path (tag check, replay window,
//! in-place decryption) without depending on a crypto crate. Real sessions
//! use the handshake keys of palisade-credential (ChaCha20-Poly1305).

use std::hash::{DefaultHasher, Hash, Hasher};

use palisade_wire::seal::{OpenError, Opener, SealError, Sealer, TAG_LEN};

fn keystream_byte(key: u64, record: u64, index: usize) -> u8 {
    // splitmix64 over (key, record, index / 8).
    let mut z =
        key ^ record.rotate_left(17) ^ ((index / 8) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    z.to_le_bytes()[index % 8]
}

fn tag(key: u64, record: u64, aad: &[u8], ciphertext: &[u8]) -> [u8; TAG_LEN] {
    let mut out = [0u8; TAG_LEN];
    for (half, chunk) in out.chunks_mut(8).enumerate() {
        let mut hasher = DefaultHasher::new();
        (key, record, half, aad, ciphertext).hash(&mut hasher);
        chunk.copy_from_slice(&hasher.finish().to_le_bytes());
    }
    out
}

/// Sending half of the test cipher. Refuses to seal a record number twice,
/// as the `Sealer` contract requires.
pub struct TestSealer {
    key: u64,
    next: u64,
}

impl TestSealer {
    pub fn new(key: u64) -> Self {
        Self { key, next: 0 }
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
        self.next = record + 1;
        for (index, byte) in payload.iter_mut().enumerate() {
            *byte ^= keystream_byte(self.key, record, index);
        }
        Ok(tag(self.key, record, aad, payload))
    }
}

/// Receiving half of the test cipher.
pub struct TestOpener {
    key: u64,
}

impl TestOpener {
    pub fn new(key: u64) -> Self {
        Self { key }
    }
}

impl Opener for TestOpener {
    fn open_in_place(
        &mut self,
        record: u64,
        aad: &[u8],
        payload: &mut [u8],
        expected: &[u8; TAG_LEN],
    ) -> Result<(), OpenError> {
        if tag(self.key, record, aad, payload) != *expected {
            return Err(OpenError::BadTag { record });
        }
        for (index, byte) in payload.iter_mut().enumerate() {
            *byte ^= keystream_byte(self.key, record, index);
        }
        Ok(())
    }
}

/// Deterministic xorshift generator for fault injection.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x2545_F491_4F6C_DD1D | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Returns a value in `0..bound` (`bound > 0`).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}
