//! The collectors behind the agent core's source traits.
#![cfg(all(feature = "linux", target_endian = "little"))]

mod common;

use common::fixture;
use palisade_agent::linux::{JournalMode, LinuxConfig, LinuxEventSource, LinuxSnapshots};
use palisade_agent::{EventSink, EventSource, SnapshotKind, SnapshotSource};
use palisade_schema::{EventBody, EventKind, Severity};

#[derive(Default)]
struct Kinds(Vec<(EventKind, Severity)>);

impl EventSink for Kinds {
    fn record(&mut self, severity: Severity, body: &EventBody<'_>) {
        self.0.push((body.kind(), severity));
    }
}

impl Kinds {
    fn count(&self, kind: EventKind) -> usize {
        self.0.iter().filter(|(k, _)| *k == kind).count()
    }
}

fn config() -> LinuxConfig {
    let mut config = LinuxConfig::default().under(&fixture("root"));
    config.login.journal = JournalMode::Never;
    config
}

#[test]
fn event_source_scans_once_per_interval() {
    let mut source = LinuxEventSource::new(&config(), 10_000);
    let mut sink = Kinds::default();
    source.poll(5, &mut sink);
    assert_eq!(sink.count(EventKind::ProcessStarted), 4);
    assert_eq!(sink.count(EventKind::ListeningPortOpened), 5);
    assert_eq!(sink.count(EventKind::Login), 19);
    assert!(
        sink.0.contains(&(EventKind::Login, Severity::Medium)),
        "invalid users are medium"
    );
    let first = sink.0.len();
    // Before the interval: no scan. At the interval: a scan, with nothing new.
    source.poll(10_004, &mut sink);
    source.poll(10_005, &mut sink);
    assert_eq!(sink.0.len(), first);
}

#[test]
fn snapshots_by_kind() {
    let mut snapshots = LinuxSnapshots::new(&config());
    let mut sink = Kinds::default();
    snapshots.snapshot(SnapshotKind::SystemInfo, &mut sink);
    assert_eq!(sink.0, [(EventKind::SystemInfo, Severity::Info)]);
    let mut sink = Kinds::default();
    snapshots.snapshot(SnapshotKind::Sbom, &mut sink);
    assert_eq!(
        sink.0,
        vec![(EventKind::SoftwareComponent, Severity::Info); 4]
    );
    let mut sink = Kinds::default();
    snapshots.snapshot(SnapshotKind::Baseline, &mut sink);
    assert_eq!(sink.count(EventKind::BaselineCheck), 5);
    assert!(
        sink.0.contains(&(EventKind::BaselineCheck, Severity::High)),
        "empty password fails at high"
    );
}
