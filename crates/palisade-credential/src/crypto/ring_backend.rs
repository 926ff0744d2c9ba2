//! Backend built on ring 0.17 (gateways and embedded Linux).

use super::{Backend, CryptoError, Sha256};
use ring::{aead, digest, hkdf, hmac, signature};

/// Crypto backend built on ring; X25519 comes from x25519-dalek (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct Ring;

/// Incremental SHA-256 over ring's digest context.
#[derive(Clone)]
pub struct RingSha256(digest::Context);

impl Sha256 for RingSha256 {
    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    fn finish(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.0.finish().as_ref());
        out
    }
}

/// Output length request for ring's HKDF.
struct Length(usize);

impl hkdf::KeyType for Length {
    fn len(&self) -> usize {
        self.0
    }
}

fn less_safe_key(key: &[u8; 32]) -> aead::LessSafeKey {
    // A 32-byte key is always the right length for ChaCha20-Poly1305.
    let unbound = aead::UnboundKey::new(&aead::CHACHA20_POLY1305, key).expect("32-byte key");
    aead::LessSafeKey::new(unbound)
}

impl Backend for Ring {
    type Sha256 = RingSha256;
    type SigningKey = signature::Ed25519KeyPair;

    fn sha256() -> RingSha256 {
        RingSha256(digest::Context::new(&digest::SHA256))
    }

    fn hkdf_extract(salt: &[u8], ikm: &[u8]) -> [u8; 32] {
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, salt), ikm);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    fn hkdf_expand(prk: &[u8; 32], info: &[&[u8]], out: &mut [u8]) -> Result<(), CryptoError> {
        let prk = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, prk);
        let okm = prk
            .expand(info, Length(out.len()))
            .map_err(|_| CryptoError)?;
        okm.fill(out).map_err(|_| CryptoError)
    }

    fn signing_key(seed: &[u8; 32]) -> signature::Ed25519KeyPair {
        // A 32-byte seed is always accepted by ring.
        signature::Ed25519KeyPair::from_seed_unchecked(seed).expect("32-byte seed")
    }

    fn public_key(key: &signature::Ed25519KeyPair) -> [u8; 32] {
        use signature::KeyPair;
        let mut out = [0u8; 32];
        out.copy_from_slice(key.public_key().as_ref());
        out
    }

    fn sign(key: &signature::Ed25519KeyPair, message: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out.copy_from_slice(key.sign(message).as_ref());
        out
    }

    fn verify(
        public_key: &[u8; 32],
        message: &[u8],
        signature: &[u8; 64],
    ) -> Result<(), CryptoError> {
        signature::UnparsedPublicKey::new(&signature::ED25519, public_key)
            .verify(message, signature)
            .map_err(|_| CryptoError)
    }

    fn aead_seal(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], in_out: &mut [u8]) -> [u8; 16] {
        let nonce = aead::Nonce::assume_unique_for_key(*nonce);
        // Sealing fails only for inputs longer than 2^38 bytes, which no frame reaches.
        let tag = less_safe_key(key)
            .seal_in_place_separate_tag(nonce, aead::Aad::from(aad), in_out)
            .expect("payload shorter than 256 GiB");
        let mut out = [0u8; 16];
        out.copy_from_slice(tag.as_ref());
        out
    }

    fn aead_open(
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), CryptoError> {
        let nonce = aead::Nonce::assume_unique_for_key(*nonce);
        less_safe_key(key)
            .open_in_place_separate_tag(
                nonce,
                aead::Aad::from(aad),
                aead::Tag::from(*tag),
                in_out,
                0..,
            )
            .map(|_| ())
            .map_err(|_| CryptoError)
    }
}
