//! Throughput of the export formats on the schema's mixed batch of 64
//! events, and of SBOM building and advisory matching.
//!
//! Run: `cargo bench -p palisade-export --bench formats`.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use palisade_export::cyclonedx::{BomSubject, Component, device_bom};
use palisade_export::syslog::{SyslogOptions, event_message};
use palisade_export::vuln::AdvisoryDatabase;
use palisade_export::{DeviceInfo, EventContext, Origin, cef, ocsf};
use palisade_schema::{DeviceId, Event, samples};

fn events() -> Vec<Event<'static>> {
    samples::mixed_batch().collect()
}

fn formats(c: &mut Criterion) {
    let device = DeviceInfo {
        hostname: Some("pump-0017".into()),
        ..DeviceInfo::new(DeviceId([7; 16]))
    };
    let origin = Origin::new("ward-3-gateway", "0.1.0");
    let context = EventContext {
        device: &device,
        origin: &origin,
        received_unix_ms: 1_796_000_030_000,
    };
    let events = events();
    let options = SyslogOptions::default();

    let mut group = c.benchmark_group("mixed_batch_64");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("ocsf_json_line", |b| {
        b.iter(|| {
            for event in &events {
                black_box(serde_json::to_vec(&ocsf::event(event, &context)).ok());
            }
        })
    });
    group.bench_function("syslog_line", |b| {
        b.iter(|| {
            for event in &events {
                black_box(event_message(event, &context, &options).to_line());
            }
        })
    });
    group.bench_function("cef_line", |b| {
        b.iter(|| {
            for event in &events {
                black_box(cef::event_line(event, &context));
            }
        })
    });
    group.finish();
}

fn components(count: usize) -> Vec<Component> {
    (0..count)
        .map(|index| Component {
            name: format!("package-{index}"),
            version: format!("1.{index}.0-1"),
            supplier: Some("Debian".into()),
            purl: Some(format!("pkg:deb/debian/package-{index}@1.{index}.0-1")),
            cpe: None,
            sha256: Some([index as u8; 32]),
        })
        .collect()
}

fn sbom(c: &mut Criterion) {
    let components = components(500);
    let subject = BomSubject {
        device_id: DeviceId([7; 16]),
        vendor: Some("Acme Medical".into()),
        model: Some("IP-200".into()),
        firmware_version: Some("2.4.1".into()),
        hostname: None,
    };
    let (database, _) = AdvisoryDatabase::sample();

    let mut group = c.benchmark_group("sbom_500_components");
    group.throughput(Throughput::Elements(components.len() as u64));
    group.bench_function("cyclonedx_json", |b| {
        b.iter(|| {
            black_box(serde_json::to_vec(&device_bom(&subject, &components, 0, "0.1.0", 1)).ok())
        })
    });
    group.bench_function("match_sample_advisories", |b| {
        b.iter(|| {
            for component in &components {
                black_box(database.matches(component).ok());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, formats, sbom);
criterion_main!(benches);
