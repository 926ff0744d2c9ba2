//! Clock-less devices, root rollover, the intermediate cache and the
//! boundaries of every limit.

use palisade_credential::handshake::{MAX_MSG1_LEN, MAX_MSG2_LEN, MSG3_LEN};
use palisade_credential::testkit::{self, FIXTURE_NOW, FixedRng, Fixture, body, issue};
use palisade_credential::{
    ChainVerifier, Credential, CredentialKind, DeviceHandshake, DeviceIdentity, GatewayHandshake,
    GatewayIdentity, IssuerLimits, KeyUsage, LastKnownGoodTime, MAX_ALLOWED_MODELS,
    MAX_CREDENTIAL_LEN, MAX_PINNED_ROOTS, NO_EXPIRY, RejectReason, ReplayCache, Signer,
    SoftwareSigner, TrustAnchor, TrustStore, Validity, VerificationTime,
};

fn anchor(signer: &SoftwareSigner) -> TrustAnchor {
    TrustAnchor::ed25519(signer.public_key()).unwrap()
}

#[test]
fn last_known_good_moves_forward_only() {
    let mut time = LastKnownGoodTime::new(1_000);
    assert!(!time.advance(999));
    assert_eq!(time.seconds(), 1_000);
    assert!(!time.advance(1_000));
    assert!(time.advance(1_001));
    assert_eq!(time.seconds(), 1_001);
    assert_eq!(
        time.verification_time(),
        VerificationTime::LastKnownGood(1_001)
    );
}

#[test]
fn last_known_good_skips_not_before_only() {
    let fixture = Fixture::new();
    let mut verifier = fixture.verifier();
    // The device credential starts at 1.75e9; a device whose last-known-good
    // time is older accepts it, a trusted clock at that time does not.
    let old = 1_720_000_000;
    let verified =
        verifier.verify_device_chain(&fixture.chain(), VerificationTime::LastKnownGood(old), &[]);
    assert!(verified.is_ok(), "{verified:?}");
    let early = verifier.verify_device_chain(&fixture.chain(), VerificationTime::Trusted(old), &[]);
    assert!(
        matches!(early, Err(RejectReason::NotYetValid { .. })),
        "{early:?}"
    );
    // Past not-after, the last-known-good time proves expiry.
    let late = verifier.verify_device_chain(
        &fixture.chain(),
        VerificationTime::LastKnownGood(1_950_000_001),
        &[],
    );
    assert!(
        matches!(late, Err(RejectReason::Expired { serial: 1000, .. })),
        "{late:?}"
    );
}

/// Runs a handshake where the device has only a last-known-good time;
/// returns the device's result.
fn clockless_handshake(
    fixture: &Fixture,
    gateway_credential: &[u8],
    device_time: u64,
    gateway_time: u64,
) -> Result<u64, RejectReason> {
    let identity = DeviceIdentity {
        intermediate: &fixture.intermediate,
        credential: &fixture.device,
        signer: &fixture.device_signer,
    };
    let mut msg1 = [0u8; MAX_MSG1_LEN];
    let (state, len1) = DeviceHandshake::start(identity, &mut FixedRng::new(&[3; 64]), &mut msg1)?;

    let mut replay = ReplayCache::<4>::new();
    let parsed = GatewayHandshake::read_msg1(&msg1[..len1], &mut replay)?;
    let now = VerificationTime::Trusted(gateway_time);
    let device = fixture
        .verifier()
        .verify_device_chain(&parsed.chain(), now, &[])?;
    let gateway = GatewayIdentity {
        credential: gateway_credential,
        signer: &fixture.gateway_signer,
    };
    let mut msg2 = [0u8; MAX_MSG2_LEN];
    let (_, len2) = GatewayHandshake::respond(
        &parsed,
        &device,
        gateway,
        gateway_time,
        &mut FixedRng::new(&[4; 64]),
        &mut msg2,
    )?;

    let mut clock = LastKnownGoodTime::new(device_time);
    let mut msg3 = [0u8; MSG3_LEN];
    let (done, _) = state.read_msg2(
        &msg2[..len2],
        &fixture.roots(),
        clock.verification_time(),
        &[],
        &mut msg3,
    )?;
    clock.advance(done.gateway_time);
    Ok(clock.seconds())
}

#[test]
fn handshake_advances_last_known_good() {
    let fixture = Fixture::new();
    let advanced = clockless_handshake(&fixture, &fixture.gateway, 1_760_000_000, FIXTURE_NOW);
    assert_eq!(advanced, Ok(FIXTURE_NOW));
    // A gateway time older than the device's time does not move it back.
    let kept = clockless_handshake(&fixture, &fixture.gateway, FIXTURE_NOW + 10, FIXTURE_NOW);
    assert_eq!(kept, Ok(FIXTURE_NOW + 10));
}

#[test]
fn clockless_device_rejects_expired_gateway() {
    let fixture = Fixture::new();
    // The gateway credential ends at 1.9e9; the device has seen a later time.
    let result = clockless_handshake(&fixture, &fixture.gateway, 1_900_000_001, FIXTURE_NOW);
    assert!(
        matches!(result, Err(RejectReason::Expired { serial: 7, .. })),
        "{result:?}"
    );
}

#[test]
fn clockless_device_checks_gateway_at_signed_time() {
    let fixture = Fixture::new();
    // A gateway credential valid only from 1.85e9, while the gateway signs 1.8e9.
    let mut later = body(
        CredentialKind::Gateway,
        8,
        &fixture.operator_signer,
        &fixture.gateway_signer,
        Validity {
            not_before: 1_850_000_000,
            not_after: NO_EXPIRY,
        },
        KeyUsage::SIGN_COMMANDS,
    );
    later.serial = 8;
    let later = issue(&later, &fixture.operator_signer).unwrap();
    let result = clockless_handshake(&fixture, &later, 1_760_000_000, FIXTURE_NOW);
    assert!(
        matches!(result, Err(RejectReason::NotYetValid { serial: 8, .. })),
        "{result:?}"
    );
}

#[test]
fn rollover_with_two_pinned_roots() {
    let fixture = Fixture::new();
    let new_root = SoftwareSigner::from_seed(&[0x42; 32]);
    let mut new_intermediate = Credential::decode(&fixture.intermediate).unwrap().body;
    new_intermediate.issuer = new_root.key_id();
    let new_intermediate = issue(&new_intermediate, &new_root).unwrap();
    let now = VerificationTime::Trusted(FIXTURE_NOW);

    let mut roots = TrustStore::new();
    roots.pin(anchor(&fixture.root_signer)).unwrap();
    roots.pin(anchor(&new_root)).unwrap();
    let mut verifier = ChainVerifier::new(roots);
    // The same device credential verifies under the old and the new intermediate.
    assert!(
        verifier
            .verify_device_chain(&fixture.chain(), now, &[])
            .is_ok()
    );
    assert!(
        verifier
            .verify_device_chain(&[&new_intermediate, &fixture.device], now, &[])
            .is_ok()
    );

    // After the old root is unpinned, its chain is rejected even though its
    // intermediate was cached.
    assert!(verifier.roots_mut().unpin(&fixture.root_signer.key_id()));
    let old = verifier.verify_device_chain(&fixture.chain(), now, &[]);
    assert!(
        matches!(old, Err(RejectReason::UnknownRoot { .. })),
        "{old:?}"
    );
    assert!(
        verifier
            .verify_device_chain(&[&new_intermediate, &fixture.device], now, &[])
            .is_ok()
    );
}

#[test]
fn intermediate_cache_skips_second_check() {
    let fixture = Fixture::new();
    let mut verifier = fixture.verifier();
    let now = VerificationTime::Trusted(FIXTURE_NOW);
    verifier
        .verify_device_chain(&fixture.chain(), now, &[])
        .unwrap();
    assert_eq!(verifier.cache().statistics(), (0, 1));
    verifier
        .verify_device_chain(&fixture.chain(), now, &[])
        .unwrap();
    assert_eq!(verifier.cache().statistics(), (1, 1));
    // A cached intermediate is still checked for time.
    let expired = verifier.verify_device_chain(
        &fixture.chain(),
        VerificationTime::Trusted(2_000_000_001),
        &[],
    );
    assert!(
        matches!(expired, Err(RejectReason::Expired { serial: 10, .. })),
        "{expired:?}"
    );
}

#[test]
fn pinned_roots_limit() {
    let mut roots = TrustStore::new();
    for seed in 0..MAX_PINNED_ROOTS as u8 {
        assert!(
            roots
                .pin(anchor(&SoftwareSigner::from_seed(&[0x60 + seed; 32])))
                .is_ok()
        );
    }
    let extra = anchor(&SoftwareSigner::from_seed(&[0x70; 32]));
    assert_eq!(roots.pin(extra), Err(extra));
    assert_eq!(roots.anchors().len(), MAX_PINNED_ROOTS);
}

#[test]
fn largest_credential_fits_limit() {
    let fixture = Fixture::new();
    let mut largest = body(
        CredentialKind::Intermediate,
        u64::MAX,
        &fixture.root_signer,
        &fixture.intermediate_signer,
        Validity {
            not_before: u64::MAX - 1,
            not_after: u64::MAX,
        },
        KeyUsage::ALL,
    );
    largest.subject.vendor_id = u32::MAX;
    largest.subject.model_id = u32::MAX;
    largest.subject.hardware_revision = u16::MAX;
    let models: Vec<u32> = (0..MAX_ALLOWED_MODELS as u32)
        .map(|index| u32::MAX - 8 + index)
        .collect();
    largest.issuer_limits = Some(IssuerLimits {
        window: Validity {
            not_before: u64::MAX - 1,
            not_after: u64::MAX,
        },
        models: heapless::Vec::from_slice(&models).unwrap(),
    });
    let encoded = issue(&largest, &fixture.root_signer).unwrap();
    assert_eq!(encoded.len(), 229);
    assert!(encoded.len() <= MAX_CREDENTIAL_LEN);
    assert_eq!(Credential::decode(&encoded).unwrap().body, largest);
}

#[test]
fn allowed_models_limit() {
    let fixture = Fixture::new();
    let mut intermediate = Credential::decode(&fixture.intermediate).unwrap().body;
    let models: Vec<u32> = (1..=MAX_ALLOWED_MODELS as u32).collect();
    intermediate.issuer_limits.as_mut().unwrap().models =
        heapless::Vec::from_slice(&models).unwrap();
    let encoded = issue(&intermediate, &fixture.root_signer).unwrap();
    assert!(
        Credential::decode(&encoded).is_ok(),
        "{MAX_ALLOWED_MODELS} models accepted"
    );

    // Patch the count from 8 to 9 and append a ninth model: rejected before the signature.
    let body_len = encoded.len() - 64;
    let count_at = body_len - 1 - MAX_ALLOWED_MODELS;
    assert_eq!(encoded[count_at], MAX_ALLOWED_MODELS as u8);
    let mut over = encoded[..body_len].to_vec();
    over[count_at] = MAX_ALLOWED_MODELS as u8 + 1;
    over.push(9);
    over.extend_from_slice(&encoded[body_len..]);
    let result = Credential::decode(&over);
    assert!(
        matches!(
            result,
            Err(RejectReason::TooManyEntries {
                count: 9,
                max: 8,
                ..
            })
        ),
        "{result:?}"
    );
}

#[test]
fn replay_cache_counts_evictions() {
    let mut cache = ReplayCache::<2>::new();
    assert!(cache.check_and_insert(&[2; 32]).is_ok());
    assert_eq!(
        cache.check_and_insert(&[2; 32]),
        Err(RejectReason::Replayed)
    );
    // [4; 32] maps to the same slot as [2; 32] (both even), so it evicts it.
    assert!(cache.check_and_insert(&[4; 32]).is_ok());
    assert_eq!(cache.evictions(), 1);
    assert!(
        cache.check_and_insert(&[2; 32]).is_ok(),
        "evicted nonce is no longer detected"
    );
}

#[test]
fn fixture_constants_match() {
    let fixture = Fixture::new();
    let device = Credential::decode(&fixture.device).unwrap().body;
    assert_eq!(device.subject.vendor_id, testkit::FIXTURE_VENDOR);
    assert_eq!(device.subject.model_id, testkit::FIXTURE_MODEL);
}

/// Builds a message 1 whose intermediate field is `len` bytes long.
fn msg1_with_intermediate_len(len: usize) -> Vec<u8> {
    let mut bytes = vec![1u8];
    bytes.extend_from_slice(&[0x11; 64]);
    let mut length = [0u8; 5];
    let varint = postcard::to_slice(&(len as u32), &mut length)
        .unwrap()
        .to_vec();
    bytes.extend_from_slice(&varint);
    bytes.extend(std::iter::repeat_n(0xaa, len));
    bytes.push(0);
    bytes
}

#[test]
fn handshake_credential_length_limit() {
    use palisade_credential::Msg1;
    let accepted = msg1_with_intermediate_len(MAX_CREDENTIAL_LEN);
    assert_eq!(
        Msg1::decode(&accepted).unwrap().intermediate.len(),
        MAX_CREDENTIAL_LEN
    );
    let too_long = msg1_with_intermediate_len(MAX_CREDENTIAL_LEN + 1);
    let rejected = Msg1::decode(&too_long);
    assert!(
        matches!(
            rejected,
            Err(RejectReason::TooManyEntries {
                count: 257,
                max: 256,
                ..
            })
        ),
        "{rejected:?}"
    );
}

#[test]
fn intermediate_cache_capacity() {
    use palisade_credential::INTERMEDIATE_CACHE_CAPACITY;
    let fixture = Fixture::new();
    let now = VerificationTime::Trusted(FIXTURE_NOW);
    let template = Credential::decode(&fixture.intermediate).unwrap().body;
    // The same intermediate key under different serials: distinct encodings.
    let intermediates: Vec<_> = (0..=INTERMEDIATE_CACHE_CAPACITY as u64)
        .map(|serial| {
            let mut body = template.clone();
            body.serial = 100 + serial;
            issue(&body, &fixture.root_signer).unwrap()
        })
        .collect();
    let mut verifier = fixture.verifier();
    for intermediate in &intermediates[..INTERMEDIATE_CACHE_CAPACITY] {
        verifier
            .verify_device_chain(&[intermediate, &fixture.device], now, &[])
            .unwrap();
    }
    // All entries fit: a second pass hits every one.
    for intermediate in &intermediates[..INTERMEDIATE_CACHE_CAPACITY] {
        verifier
            .verify_device_chain(&[intermediate, &fixture.device], now, &[])
            .unwrap();
    }
    let capacity = INTERMEDIATE_CACHE_CAPACITY as u64;
    assert_eq!(verifier.cache().statistics(), (capacity, capacity));
    // One more evicts the least recently used (the first), which then misses.
    let last = &intermediates[INTERMEDIATE_CACHE_CAPACITY];
    verifier
        .verify_device_chain(&[last, &fixture.device], now, &[])
        .unwrap();
    verifier
        .verify_device_chain(&[&intermediates[0], &fixture.device], now, &[])
        .unwrap();
    assert_eq!(verifier.cache().statistics(), (capacity, capacity + 2));
}

#[test]
fn device_key_index_capacity() {
    use palisade_credential::DeviceKeyIndex;
    let fixture = Fixture::new();
    let now = VerificationTime::Trusted(FIXTURE_NOW);
    let template = Credential::decode(&fixture.device).unwrap().body;
    let mut index = DeviceKeyIndex::<2>::new();
    let mut verifier = fixture.verifier();
    let mut results = Vec::new();
    for seed in 0..3u8 {
        let key = SoftwareSigner::from_seed(&[0x90 + seed; 32]);
        let mut body = template.clone();
        body.public_key = key.public_key();
        body.subject.device_id.0[15] = seed;
        let device = issue(&body, &fixture.intermediate_signer).unwrap();
        let verified = verifier
            .verify_device_chain(&[&fixture.intermediate, &device], now, &[])
            .unwrap();
        results.push(index.admit(&verified));
    }
    assert_eq!(results[0], Ok(()));
    assert_eq!(results[1], Ok(()));
    assert!(
        matches!(
            results[2],
            Err(RejectReason::TooManyEntries {
                count: 3,
                max: 2,
                ..
            })
        ),
        "{results:?}"
    );
    assert_eq!(index.len(), 2);
}

#[test]
fn revocation_key_certified_by_root() {
    use palisade_credential::{MAX_REVOCATION_LIST_LEN, RevocationList};
    let fixture = Fixture::new();
    let now = VerificationTime::Trusted(FIXTURE_NOW);
    let revocation_key = SoftwareSigner::from_seed(&[0x33; 32]);
    let certify = |not_after: u64| {
        let cert = body(
            CredentialKind::Intermediate,
            55,
            &fixture.root_signer,
            &revocation_key,
            Validity {
                not_before: 0,
                not_after,
            },
            KeyUsage::SIGN_REVOCATION_LISTS,
        );
        issue(&cert, &fixture.root_signer).unwrap()
    };
    let list = RevocationList {
        version: 1,
        root: fixture.root_signer.key_id(),
        signer: revocation_key.key_id(),
        number: 9,
        this_update: FIXTURE_NOW,
        next_update: FIXTURE_NOW + 3600,
        credentials: heapless::Vec::new(),
        issuers: heapless::Vec::new(),
    };
    let mut out = vec![0u8; MAX_REVOCATION_LIST_LEN];
    let len = list.sign(&revocation_key, &mut out).unwrap();
    let signed = &out[..len];

    let valid_cert = certify(NO_EXPIRY);
    let accepted =
        RevocationList::decode_and_verify(signed, &fixture.roots(), Some(&valid_cert), now);
    assert_eq!(accepted, Ok(list));

    let missing = RevocationList::decode_and_verify(signed, &fixture.roots(), None, now);
    assert!(
        matches!(
            missing,
            Err(RejectReason::RevocationSignerNotAuthorized { .. })
        ),
        "{missing:?}"
    );

    let expired_cert = certify(FIXTURE_NOW - 1);
    let expired =
        RevocationList::decode_and_verify(signed, &fixture.roots(), Some(&expired_cert), now);
    assert!(
        matches!(expired, Err(RejectReason::Expired { serial: 55, .. })),
        "{expired:?}"
    );
}
