//! Pure-Rust backend for Cortex-M firmware: ed25519-dalek 2 (`verify_strict`),
//! x25519-dalek, chacha20poly1305, hkdf and sha2 with its compact software
//! SHA-2 core to keep flash small.

use super::{Backend, CryptoError, Sha256};
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use sha2::Digest;

/// Crypto backend built on the RustCrypto and dalek crates.
#[derive(Debug, Clone, Copy, Default)]
pub struct RustCrypto;

/// Incremental SHA-256 over `sha2::Sha256`.
#[derive(Clone)]
pub struct RustCryptoSha256(sha2::Sha256);

impl Sha256 for RustCryptoSha256 {
    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

impl Backend for RustCrypto {
    type Sha256 = RustCryptoSha256;
    type SigningKey = ed25519_dalek::SigningKey;

    fn sha256() -> RustCryptoSha256 {
        RustCryptoSha256(sha2::Sha256::new())
    }

    fn hkdf_extract(salt: &[u8], ikm: &[u8]) -> [u8; 32] {
        let (prk, _) = hkdf::Hkdf::<sha2::Sha256>::extract(Some(salt), ikm);
        prk.into()
    }

    fn hkdf_expand(prk: &[u8; 32], info: &[&[u8]], out: &mut [u8]) -> Result<(), CryptoError> {
        let hkdf = hkdf::Hkdf::<sha2::Sha256>::from_prk(prk).map_err(|_| CryptoError)?;
        hkdf.expand_multi_info(info, out).map_err(|_| CryptoError)
    }

    fn signing_key(seed: &[u8; 32]) -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(seed)
    }

    fn public_key(key: &ed25519_dalek::SigningKey) -> [u8; 32] {
        key.verifying_key().to_bytes()
    }

    fn sign(key: &ed25519_dalek::SigningKey, message: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer;
        key.sign(message).to_bytes()
    }

    fn verify(
        public_key: &[u8; 32],
        message: &[u8],
        signature: &[u8; 64],
    ) -> Result<(), CryptoError> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(public_key).map_err(|_| CryptoError)?;
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        key.verify_strict(message, &signature)
            .map_err(|_| CryptoError)
    }

    fn aead_seal(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], in_out: &mut [u8]) -> [u8; 16] {
        let cipher = chacha20poly1305::ChaCha20Poly1305::new(key.into());
        // Sealing fails only for inputs longer than 2^38 bytes, which no frame reaches.
        let tag = cipher
            .encrypt_in_place_detached(nonce.into(), aad, in_out)
            .expect("payload shorter than 256 GiB");
        tag.into()
    }

    fn aead_open(
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), CryptoError> {
        let cipher = chacha20poly1305::ChaCha20Poly1305::new(key.into());
        cipher
            .decrypt_in_place_detached(nonce.into(), aad, in_out, tag.into())
            .map_err(|_| CryptoError)
    }
}
