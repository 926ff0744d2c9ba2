//! Admissions per CPU-second: the gateway-side work of the `admission`
//! benchmark, timed with the thread's own CPU time (Linux
//! `/proc/thread-self/schedstat`) instead of wall time, so the figure stays
//! meaningful on a machine whose cores are shared with other jobs.
//!
//! Run with `cargo bench -p palisade-credential --bench admission_cpu`.
//! Loop counts are fixed, so a run ends by itself (about ten CPU-seconds).

use palisade_credential::crypto::{self, Active, Backend};
use palisade_credential::handshake::{MAX_MSG1_LEN, MAX_MSG2_LEN, MSG3_LEN};
use palisade_credential::testkit::{FIXTURE_NOW, FixedRng, Fixture};
use palisade_credential::{
    DeviceHandshake, DeviceIdentity, GatewayHandshake, GatewayIdentity, Msg1, ReplayCache,
    VerificationTime,
};
use std::hint::black_box;

/// CPU time consumed by this thread so far, in nanoseconds.
fn thread_cpu_nanos() -> u64 {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("Linux schedstat is readable");
    text.split_whitespace()
        .next()
        .and_then(|field| field.parse().ok())
        .expect("schedstat starts with the run time in nanoseconds")
}

/// Runs `operation` `count` times and prints the CPU time per run.
fn measure(name: &str, count: u32, mut operation: impl FnMut(u32)) {
    let start = thread_cpu_nanos();
    for index in 0..count {
        operation(index);
    }
    let nanos = thread_cpu_nanos() - start;
    let micros = nanos as f64 / 1000.0 / f64::from(count);
    println!(
        "{name:<45} {micros:>8.1} us CPU  {:>8.0} per CPU-second  ({count} runs)",
        1e6 / micros
    );
}

fn main() {
    let fixture = Fixture::new();
    let now = VerificationTime::Trusted(FIXTURE_NOW);
    let chain = fixture.chain();
    let mut verifier = fixture.verifier();
    verifier
        .verify_device_chain(&chain, now, &[])
        .expect("fixture chain verifies");

    let key = Active::signing_key(&[7; 32]);
    let public_key = Active::public_key(&key);
    let message = [0x5a; 80];
    let signature = Active::sign(&key, &message);
    let peer = crypto::x25519_public(&[9; 32]);
    measure("primitives/ed25519_verify", 4000, |_| {
        Active::verify(
            black_box(&public_key),
            black_box(&message),
            black_box(&signature),
        )
        .expect("valid");
    });
    measure("primitives/ed25519_sign", 4000, |_| {
        black_box(Active::sign(black_box(&key), black_box(&message)));
    });
    measure("primitives/x25519_public", 4000, |_| {
        black_box(crypto::x25519_public(black_box(&[9; 32])));
    });
    measure("primitives/x25519_agree", 4000, |_| {
        black_box(
            crypto::x25519_agree(black_box(&[3; 32]), black_box(&peer)).expect("contributory"),
        );
    });
    measure(
        "admission/chain_verification_cached_intermediate",
        4000,
        |_| {
            black_box(
                verifier
                    .verify_device_chain(black_box(&chain), now, &[])
                    .expect("verifies"),
            );
        },
    );

    // Device messages for the gateway side, prepared before timing.
    let count: u32 = 3000;
    let gateway = GatewayIdentity {
        credential: &fixture.gateway,
        signer: &fixture.gateway_signer,
    };
    let roots = fixture.roots();
    let gateway_random = [0x22; 64];
    let mut prepared = Vec::with_capacity(count as usize);
    for index in 0..count {
        let mut device_random = [0x11u8; 64];
        device_random[..4].copy_from_slice(&index.to_le_bytes());
        let identity = DeviceIdentity {
            intermediate: &fixture.intermediate,
            credential: &fixture.device,
            signer: &fixture.device_signer,
        };
        let mut msg1 = [0u8; MAX_MSG1_LEN];
        let (state, len1) =
            DeviceHandshake::start(identity, &mut FixedRng::new(&device_random), &mut msg1)
                .expect("msg1");
        let parsed = Msg1::decode(&msg1[..len1]).expect("decodes");
        let device = verifier
            .verify_device_chain(&parsed.chain(), now, &[])
            .expect("verifies");
        let mut msg2 = [0u8; MAX_MSG2_LEN];
        let (_, len2) = GatewayHandshake::respond(
            &parsed,
            &device,
            gateway,
            FIXTURE_NOW,
            &mut FixedRng::new(&gateway_random),
            &mut msg2,
        )
        .expect("msg2");
        let mut msg3 = [0u8; MSG3_LEN];
        let (_, len3) = state
            .read_msg2(&msg2[..len2], &roots, now, &[], &mut msg3)
            .expect("msg3");
        prepared.push((msg1[..len1].to_vec(), msg3[..len3].to_vec()));
    }

    let mut replay = Box::new(ReplayCache::<4096>::new());
    measure(
        "admission/gateway_handshake_cached_intermediate",
        count,
        |index| {
            let (msg1, msg3) = &prepared[index as usize];
            let parsed = GatewayHandshake::read_msg1(msg1, &mut replay).expect("fresh nonce");
            let device = verifier
                .verify_device_chain(&parsed.chain(), now, &[])
                .expect("verifies");
            let mut msg2 = [0u8; MAX_MSG2_LEN];
            let (state, _) = GatewayHandshake::respond(
                &parsed,
                &device,
                gateway,
                FIXTURE_NOW,
                &mut FixedRng::new(&gateway_random),
                &mut msg2,
            )
            .expect("msg2");
            black_box(state.read_msg3(msg3).expect("session"));
        },
    );
}
