//! Published known-answer tests, run against every backend compiled in:
//! RFC 8032 (Ed25519), RFC 7748 (X25519), RFC 5869 (HKDF-SHA256) and
//! RFC 8439 (ChaCha20-Poly1305).

use palisade_credential::crypto::{self, Backend, Sha256};

fn h(text: &str) -> Vec<u8> {
    hex::decode(text).expect("valid hex in test vector")
}

fn h32(text: &str) -> [u8; 32] {
    h(text).try_into().expect("32 bytes")
}

/// RFC 8032 section 7.1, tests 1 to 3: (secret key, public key, message, signature).
const ED25519_VECTORS: [(&str, &str, &str, &str); 3] = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
];

fn check_ed25519<B: Backend>() {
    for (secret, public, message, signature) in ED25519_VECTORS {
        let key = B::signing_key(&h32(secret));
        assert_eq!(
            B::public_key(&key).as_slice(),
            h(public).as_slice(),
            "public key of {secret}"
        );
        let signed = B::sign(&key, &h(message));
        assert_eq!(
            signed.as_slice(),
            h(signature).as_slice(),
            "signature of message {message:?}"
        );
        let public = h32(public);
        assert_eq!(B::verify(&public, &h(message), &signed), Ok(()));
        let mut altered = signed;
        altered[5] ^= 0x10;
        assert!(
            B::verify(&public, &h(message), &altered).is_err(),
            "altered signature accepted"
        );
        assert!(
            B::verify(&public, b"other message", &signed).is_err(),
            "other message accepted"
        );
    }
}

fn check_sha256<B: Backend>() {
    // FIPS 180-2 example "abc".
    let mut state = B::sha256();
    state.update(b"a");
    state.update(b"bc");
    assert_eq!(
        state.finish().as_slice(),
        h("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad").as_slice()
    );
}

fn check_hkdf<B: Backend>() {
    // RFC 5869 test case 1.
    let prk = B::hkdf_extract(&h("000102030405060708090a0b0c"), &[0x0b; 22]);
    assert_eq!(
        prk.as_slice(),
        h("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5").as_slice()
    );
    let mut okm = [0u8; 42];
    let info = h("f0f1f2f3f4f5f6f7f8f9");
    B::hkdf_expand(&prk, &[&info[..4], &info[4..]], &mut okm).expect("42 bytes");
    assert_eq!(
        okm.as_slice(),
        h("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
            .as_slice()
    );
    // RFC 5869 test case 3: empty salt and info.
    let prk = B::hkdf_extract(&[], &[0x0b; 22]);
    assert_eq!(
        prk.as_slice(),
        h("19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04").as_slice()
    );
    B::hkdf_expand(&prk, &[], &mut okm).expect("42 bytes");
    assert_eq!(
        okm.as_slice(),
        h("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8")
            .as_slice()
    );
    // 255 * 32 bytes is the maximum; one more fails.
    let mut longest = vec![0u8; 255 * 32];
    assert!(B::hkdf_expand(&prk, &[], &mut longest).is_ok());
    let mut too_long = vec![0u8; 255 * 32 + 1];
    assert!(B::hkdf_expand(&prk, &[], &mut too_long).is_err());
}

fn check_chacha20_poly1305<B: Backend>() {
    // RFC 8439 section 2.8.2.
    let key = h32("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
    let nonce: [u8; 12] = h("070000004041424344454647").try_into().expect("12 bytes");
    let aad = h("50515253c0c1c2c3c4c5c6c7");
    let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    let ciphertext = h(concat!(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6",
        "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36",
        "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc",
        "3ff4def08e4b7a9de576d26586cec64b6116"
    ));
    let tag: [u8; 16] = h("1ae10b594f09e26a7e902ecbd0600691")
        .try_into()
        .expect("16 bytes");

    let mut buffer = plaintext.to_vec();
    let sealed_tag = B::aead_seal(&key, &nonce, &aad, &mut buffer);
    assert_eq!(buffer, ciphertext);
    assert_eq!(sealed_tag, tag);

    assert_eq!(B::aead_open(&key, &nonce, &aad, &mut buffer, &tag), Ok(()));
    assert_eq!(buffer.as_slice(), plaintext.as_slice());

    let mut altered = ciphertext.clone();
    altered[0] ^= 1;
    assert!(B::aead_open(&key, &nonce, &aad, &mut altered, &tag).is_err());
    let mut buffer = ciphertext.clone();
    assert!(B::aead_open(&key, &nonce, b"other aad", &mut buffer, &tag).is_err());
}

fn check_backend<B: Backend>() {
    check_ed25519::<B>();
    check_sha256::<B>();
    check_hkdf::<B>();
    check_chacha20_poly1305::<B>();
}

#[cfg(feature = "ring")]
#[test]
fn ring_backend_known_answers() {
    check_backend::<crypto::Ring>();
}

#[cfg(feature = "rustcrypto")]
#[test]
fn rustcrypto_backend_known_answers() {
    check_backend::<crypto::RustCrypto>();
}

#[test]
fn x25519_rfc7748_vectors() {
    // Section 5.2, first vector.
    let scalar = h32("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4");
    let u = h32("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c");
    assert_eq!(
        crypto::x25519_agree(&scalar, &u)
            .expect("contributory")
            .as_slice(),
        h("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552").as_slice()
    );
    // Section 6.1, Diffie-Hellman.
    let alice = h32("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    let bob = h32("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    let alice_public = crypto::x25519_public(&alice);
    let bob_public = crypto::x25519_public(&bob);
    assert_eq!(
        alice_public.as_slice(),
        h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a").as_slice()
    );
    assert_eq!(
        bob_public.as_slice(),
        h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f").as_slice()
    );
    let shared = h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    assert_eq!(
        crypto::x25519_agree(&alice, &bob_public)
            .expect("contributory")
            .as_slice(),
        shared.as_slice()
    );
    assert_eq!(
        crypto::x25519_agree(&bob, &alice_public)
            .expect("contributory")
            .as_slice(),
        shared.as_slice()
    );
}

#[test]
fn x25519_small_order_peer_rejected() {
    let secret = [0x42u8; 32];
    assert!(crypto::x25519_agree(&secret, &[0u8; 32]).is_err());
    let mut one = [0u8; 32];
    one[0] = 1;
    assert!(crypto::x25519_agree(&secret, &one).is_err());
}
