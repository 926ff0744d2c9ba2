//! Throughput of the outbox commit (one batch per transaction, and sixteen
//! batches per transaction) and of the detection engine, on a real SQLite
//! file in a temporary folder.
//!
//! Run with `cargo bench -p palisade-gateway`. The commit figures depend on
//! the disk's fsync latency, because every commit is durable
//! (`synchronous = FULL`).

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use palisade_gateway::config::{DetectionConfig, OutboxConfig};
use palisade_gateway::detect::Engine;
use palisade_gateway::outbox::{Outbox, TelemetryPolicy};
use palisade_schema::{DeviceId, Event, samples};

const BATCH: usize = 64;

fn batch(boot: u32) -> Vec<Event<'static>> {
    samples::mixed_batch()
        .map(|mut event| {
            event.header.boot = boot;
            event
        })
        .collect()
}

fn outbox(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut outbox = Outbox::open(&dir.path().join("bench.sqlite"), &OutboxConfig::default())
        .expect("open outbox");
    let mut group = c.benchmark_group("outbox");
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut boot = 0u32;
    group.bench_function("store_64_events", |b| {
        b.iter_batched(
            || {
                boot += 1;
                batch(boot)
            },
            |events| {
                outbox
                    .store(DeviceId([1; 16]), &events, TelemetryPolicy::Forward)
                    .expect("store")
            },
            BatchSize::SmallInput,
        );
    });

    group.throughput(Throughput::Elements(16 * BATCH as u64));
    group.bench_function("store_many_16x64_events", |b| {
        b.iter_batched(
            || {
                (0..16u8)
                    .map(|device| {
                        boot += 1;
                        (DeviceId([device; 16]), batch(boot))
                    })
                    .collect::<Vec<_>>()
            },
            |batches| {
                let borrowed: Vec<_> = batches
                    .iter()
                    .map(|(device, events)| (*device, events.as_slice(), TelemetryPolicy::Forward))
                    .collect();
                outbox.store_many(&borrowed).expect("store_many")
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

fn engine(c: &mut Criterion) {
    let mut engine = Engine::new(DetectionConfig::default());
    let device = DeviceId([2; 16]);
    engine.set_model(device, "IP-200");
    let mut boot = 0u32;
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("observe_64_events", |b| {
        b.iter_batched(
            || {
                boot += 1;
                batch(boot)
            },
            |events| {
                let mut findings = 0;
                for event in &events {
                    findings += engine.observe(device, event, 1_796_000_000_000).len();
                }
                findings
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, outbox, engine);
criterion_main!(benches);
