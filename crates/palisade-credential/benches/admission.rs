//! Admission throughput on the gateway side: chain verifications per second
//! and full gateway-side handshakes per second, with the intermediate cache.
//!
//! Run with `cargo bench -p palisade-credential --bench admission`.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use palisade_credential::handshake::{MAX_MSG1_LEN, MAX_MSG2_LEN, MSG3_LEN};
use palisade_credential::testkit::{FIXTURE_NOW, FixedRng, Fixture};
use palisade_credential::{
    DeviceHandshake, DeviceIdentity, GatewayHandshake, GatewayIdentity, ReplayCache,
    VerificationTime,
};
use std::hint::black_box;

fn chain_verification(c: &mut Criterion) {
    let fixture = Fixture::new();
    let mut verifier = fixture.verifier();
    let chain = fixture.chain();
    let now = VerificationTime::Trusted(FIXTURE_NOW);
    // Warm the intermediate cache, as on a running gateway.
    verifier
        .verify_device_chain(&chain, now, &[])
        .expect("fixture chain verifies");

    let mut group = c.benchmark_group("admission");
    group.throughput(Throughput::Elements(1));
    group.bench_function("chain_verification_cached_intermediate", |b| {
        b.iter(|| {
            verifier
                .verify_device_chain(black_box(&chain), now, &[])
                .expect("verifies")
        })
    });
    group.bench_function("chain_verification_cold", |b| {
        b.iter(|| {
            let mut cold = fixture.verifier();
            cold.verify_device_chain(black_box(&chain), now, &[])
                .expect("verifies")
        })
    });

    // Gateway side of a full handshake: read message 1, verify the chain
    // (cached intermediate), write message 2, verify message 3. The device
    // messages are prepared outside the timed section; each iteration uses
    // a fresh device nonce, so the replay cache does not reject it.
    let gateway = GatewayIdentity {
        credential: &fixture.gateway,
        signer: &fixture.gateway_signer,
    };
    let roots = fixture.roots();
    let mut replay = Box::new(ReplayCache::<4096>::new());
    let mut counter: u64 = 0;
    group.bench_function("gateway_handshake_cached_intermediate", |b| {
        b.iter_batched(
            || {
                // Device side: message 1, then message 3 computed against a
                // gateway run with the same RNG bytes as the timed one.
                counter += 1;
                let mut device_random = [0u8; 64];
                device_random[..8].copy_from_slice(&counter.to_le_bytes());
                device_random[32] = 0x11;
                let identity = DeviceIdentity {
                    intermediate: &fixture.intermediate,
                    credential: &fixture.device,
                    signer: &fixture.device_signer,
                };
                let mut msg1 = [0u8; MAX_MSG1_LEN];
                let (device_state, len1) =
                    DeviceHandshake::start(identity, &mut FixedRng::new(&device_random), &mut msg1)
                        .expect("msg1");
                let parsed = palisade_credential::Msg1::decode(&msg1[..len1]).expect("decodes");
                let mut scratch = fixture.verifier();
                let device = scratch
                    .verify_device_chain(&parsed.chain(), now, &[])
                    .expect("verifies");
                let mut msg2 = [0u8; MAX_MSG2_LEN];
                let (_, len2) = GatewayHandshake::respond(
                    &parsed,
                    &device,
                    gateway,
                    FIXTURE_NOW,
                    &mut FixedRng::new(&[0x22; 64]),
                    &mut msg2,
                )
                .expect("msg2");
                let mut msg3 = [0u8; MSG3_LEN];
                let (_, len3) = device_state
                    .read_msg2(&msg2[..len2], &roots, now, &[], &mut msg3)
                    .expect("msg3");
                (msg1, len1, msg3, len3)
            },
            |(msg1, len1, msg3, len3)| {
                let parsed =
                    GatewayHandshake::read_msg1(&msg1[..len1], &mut replay).expect("fresh nonce");
                let device = verifier
                    .verify_device_chain(&parsed.chain(), now, &[])
                    .expect("verifies");
                let mut msg2 = [0u8; MAX_MSG2_LEN];
                let (state, _) = GatewayHandshake::respond(
                    &parsed,
                    &device,
                    gateway,
                    FIXTURE_NOW,
                    &mut FixedRng::new(&[0x22; 64]),
                    &mut msg2,
                )
                .expect("msg2");
                state.read_msg3(&msg3[..len3]).expect("session")
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// The public-key operations an admission is built from, measured in the same
/// run, so the admission figures can be compared with their floor (two
/// verifications, one signature, one X25519 agreement).
fn primitives(c: &mut Criterion) {
    use palisade_credential::crypto::{self, Active, Backend};

    let key = Active::signing_key(&[7; 32]);
    let public_key = Active::public_key(&key);
    let message = [0x5a; 80];
    let signature = Active::sign(&key, &message);
    let mut group = c.benchmark_group("primitives");
    group.throughput(Throughput::Elements(1));
    group.bench_function("ed25519_verify", |b| {
        b.iter(|| {
            Active::verify(
                black_box(&public_key),
                black_box(&message),
                black_box(&signature),
            )
            .expect("valid")
        })
    });
    group.bench_function("ed25519_sign", |b| {
        b.iter(|| Active::sign(black_box(&key), black_box(&message)))
    });
    group.bench_function("x25519_public", |b| {
        b.iter(|| crypto::x25519_public(black_box(&[9; 32])))
    });
    let peer = crypto::x25519_public(&[9; 32]);
    group.bench_function("x25519_agree", |b| {
        b.iter(|| {
            crypto::x25519_agree(black_box(&[3; 32]), black_box(&peer)).expect("contributory")
        })
    });
    group.finish();
}

criterion_group!(benches, chain_verification, primitives);
criterion_main!(benches);
