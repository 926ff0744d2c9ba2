//! The crypto seam: every primitive the crate uses, behind one trait with two
//! backends.
//!
//! [`Backend`] lists the operations: Ed25519 sign and verify, HKDF-SHA256,
//! SHA-256 and ChaCha20-Poly1305; X25519 is [`x25519_public`] and
//! [`x25519_agree`]. [`Active`] is the backend
//! chosen by the cargo features: `ring` when that feature is on (also when
//! `rustcrypto` is on as well), otherwise `rustcrypto`.
//!
//! Both backends share the Ed25519 checks that ring 0.17 does not make on its
//! own ([`check_public_key`], [`check_signature_scalar`]). Both use
//! x25519-dalek for X25519, because ring's agreement API only accepts private
//! keys that it generates from its own sealed RNG type. That would rule out a
//! device's hardware RNG and the fixed-key test vectors.

#[cfg(feature = "ring")]
mod ring_backend;
#[cfg(feature = "rustcrypto")]
mod rustcrypto_backend;

#[cfg(feature = "ring")]
pub use ring_backend::Ring;
#[cfg(feature = "rustcrypto")]
pub use rustcrypto_backend::RustCrypto;

/// The backend selected by the cargo features (`ring` wins over `rustcrypto`).
#[cfg(feature = "ring")]
pub type Active = Ring;
/// The backend selected by the cargo features (`ring` wins over `rustcrypto`).
#[cfg(all(feature = "rustcrypto", not(feature = "ring")))]
pub type Active = RustCrypto;

#[cfg(not(any(feature = "ring", feature = "rustcrypto")))]
compile_error!(
    "palisade-credential needs a crypto backend: enable the `ring` or the `rustcrypto` feature"
);

/// Failure of a primitive; callers turn it into a [`RejectReason`](crate::RejectReason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CryptoError;

/// Incremental SHA-256.
pub trait Sha256: Clone {
    /// Absorbs `data`.
    fn update(&mut self, data: &[u8]);
    /// Returns the digest.
    fn finish(self) -> [u8; 32];
}

/// The primitives the crate needs. Implemented by `Ring` (feature `ring`)
/// and `RustCrypto` (feature `rustcrypto`).
pub trait Backend {
    /// Incremental SHA-256 state.
    type Sha256: Sha256;
    /// An expanded Ed25519 signing key (seed and precomputed public key).
    type SigningKey;

    /// Starts a SHA-256 computation.
    fn sha256() -> Self::Sha256;

    /// HKDF-Extract with HMAC-SHA256 (RFC 5869 section 2.2).
    fn hkdf_extract(salt: &[u8], ikm: &[u8]) -> [u8; 32];

    /// HKDF-Expand with HMAC-SHA256 (RFC 5869 section 2.3); `info` is the
    /// concatenation of the parts. Fails when `out` is longer than 8160 bytes.
    fn hkdf_expand(prk: &[u8; 32], info: &[&[u8]], out: &mut [u8]) -> Result<(), CryptoError>;

    /// Expands a 32-byte Ed25519 seed (RFC 8032 section 5.1.5).
    fn signing_key(seed: &[u8; 32]) -> Self::SigningKey;

    /// Returns the public key of `key`.
    fn public_key(key: &Self::SigningKey) -> [u8; 32];

    /// Signs `message` (deterministic, RFC 8032).
    fn sign(key: &Self::SigningKey, message: &[u8]) -> [u8; 64];

    /// Verifies an Ed25519 signature. The crate's signature checks run
    /// [`check_public_key`] and [`check_signature_scalar`] before this call.
    fn verify(
        public_key: &[u8; 32],
        message: &[u8],
        signature: &[u8; 64],
    ) -> Result<(), CryptoError>;

    /// Seals `in_out` in place with ChaCha20-Poly1305 (RFC 8439) and returns the tag.
    fn aead_seal(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], in_out: &mut [u8]) -> [u8; 16];

    /// Verifies `tag` and decrypts `in_out` in place.
    fn aead_open(
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), CryptoError>;
}

/// Computes the X25519 public key for `secret` (RFC 7748).
pub fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
    let secret = x25519_dalek::StaticSecret::from(*secret);
    x25519_dalek::PublicKey::from(&secret).to_bytes()
}

/// Computes the X25519 shared secret; fails on the all-zero output that a
/// small-order peer key produces (RFC 7748 section 6.1).
///
/// When the peer's u-coordinate maps to a point on the Edwards curve (every
/// honest peer's does), the scalar multiplication runs in Edwards form, which
/// curve25519-dalek speeds up with AVX2 where the CPU has it. Other inputs
/// (points on the twist) take the Montgomery ladder. Both give the RFC 7748
/// result: the clamped scalar times the point, as a u-coordinate.
pub fn x25519_agree(secret: &[u8; 32], peer: &[u8; 32]) -> Result<[u8; 32], CryptoError> {
    let shared = match curve25519_dalek::montgomery::MontgomeryPoint(*peer).to_edwards(0) {
        Some(point) => point.mul_clamped(*secret).to_montgomery().to_bytes(),
        None => x25519_ladder(secret, peer),
    };
    if shared == [0u8; 32] {
        return Err(CryptoError);
    }
    Ok(shared)
}

/// X25519 with the Montgomery ladder (RFC 7748 section 5).
fn x25519_ladder(secret: &[u8; 32], peer: &[u8; 32]) -> [u8; 32] {
    let secret = x25519_dalek::StaticSecret::from(*secret);
    secret
        .diffie_hellman(&x25519_dalek::PublicKey::from(*peer))
        .to_bytes()
}

/// Computes SHA-256 of the concatenation of `parts` with the active backend.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut state = Active::sha256();
    for part in parts {
        state.update(part);
    }
    state.finish()
}

/// Encodings of the Ed25519 points of small order, with the sign bit cleared
/// (the list libsodium uses): 0 and 1 (orders 4 and 1), the two order-8
/// points, p-1 (order 2), and the non-canonical p and p+1.
const SMALL_ORDER_ENCODINGS: [[u8; 32]; 7] = [
    [0; 32],
    [
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0,
    ],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    [
        0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    [
        0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
];

/// Rejects Ed25519 public keys of small order and non-canonical encodings
/// (y >= p). A small-order key lets anyone forge signatures: ring 0.17.14
/// accepts R = identity, S = 0 for the identity key on any message.
pub fn check_public_key(public_key: &[u8; 32]) -> Result<(), CryptoError> {
    let mut cleared = *public_key;
    cleared[31] &= 0x7f;
    if SMALL_ORDER_ENCODINGS.contains(&cleared) {
        return Err(CryptoError);
    }
    // y >= p = 2^255 - 19 means bytes 1..=30 are 0xff, byte 31 is 0x7f and byte 0 >= 0xed.
    let high_all_ones = cleared[1..31].iter().all(|&byte| byte == 0xff) && cleared[31] == 0x7f;
    if high_all_ones && cleared[0] >= 0xed {
        return Err(CryptoError);
    }
    Ok(())
}

/// The Ed25519 group order L = 2^252 + 27742317777372353535851937790883648493, little-endian.
const GROUP_ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// Rejects signatures whose scalar S is not below the group order L, the
/// malleability that RFC 8032 section 5.1.7 forbids.
pub fn check_signature_scalar(signature: &[u8; 64]) -> Result<(), CryptoError> {
    // Compare S and L as little-endian integers, from the most significant byte.
    for index in (0..32).rev() {
        let s = signature[32 + index];
        let l = GROUP_ORDER[index];
        if s < l {
            return Ok(());
        }
        if s > l {
            return Err(CryptoError);
        }
    }
    // S == L.
    Err(CryptoError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_below_order_accepted() {
        let mut signature = [0u8; 64];
        signature[32..].copy_from_slice(&GROUP_ORDER);
        signature[32] -= 1;
        assert_eq!(check_signature_scalar(&signature), Ok(()));
    }

    #[test]
    fn scalar_equal_or_above_order_rejected() {
        let mut signature = [0u8; 64];
        signature[32..].copy_from_slice(&GROUP_ORDER);
        assert_eq!(check_signature_scalar(&signature), Err(CryptoError));
        signature[32] += 1;
        assert_eq!(check_signature_scalar(&signature), Err(CryptoError));
        signature[32..].fill(0xff);
        assert_eq!(check_signature_scalar(&signature), Err(CryptoError));
    }

    #[test]
    fn small_order_list_matches_curve() {
        use curve25519_dalek::edwards::CompressedEdwardsY;
        for encoding in SMALL_ORDER_ENCODINGS {
            for sign in [0u8, 0x80] {
                let mut bytes = encoding;
                bytes[31] |= sign;
                assert_eq!(check_public_key(&bytes), Err(CryptoError));
                if let Some(point) = CompressedEdwardsY(bytes).decompress() {
                    assert!(point.is_small_order(), "{bytes:02x?} is not of small order");
                }
            }
        }
        // Every point in the 8-torsion subgroup is on the list.
        let torsion = curve25519_dalek::constants::EIGHT_TORSION;
        for point in torsion {
            assert_eq!(
                check_public_key(&point.compress().to_bytes()),
                Err(CryptoError)
            );
        }
    }

    #[test]
    fn x25519_edwards_path_matches_ladder() {
        // Honest public keys (on the curve) and arbitrary u-coordinates
        // (about half of them on the twist) give the ladder's output.
        for index in 0u8..64 {
            let secret = [index.wrapping_mul(37) ^ 0x5c; 32];
            let on_curve = x25519_public(&[index; 32]);
            let mut arbitrary = [index.wrapping_mul(101); 32];
            arbitrary[31] &= 0x7f;
            for peer in [on_curve, arbitrary] {
                let ladder = x25519_ladder(&secret, &peer);
                match x25519_agree(&secret, &peer) {
                    Ok(shared) => assert_eq!(shared, ladder, "peer {peer:02x?}"),
                    Err(CryptoError) => assert_eq!(ladder, [0u8; 32], "peer {peer:02x?}"),
                }
            }
        }
    }

    #[test]
    fn ordinary_key_accepted() {
        let key = Active::public_key(&Active::signing_key(&[7u8; 32]));
        assert_eq!(check_public_key(&key), Ok(()));
    }
}
