//! The durable outbox on real SQLite files: commit, de-duplication,
//! restart after a crash, delivery cursors and pruning.

use palisade_gateway::config::OutboxConfig;
use palisade_gateway::db::StorageError;
use palisade_gateway::finding::{Finding, RuleId};
use palisade_gateway::outbox::{Outbox, RowKind, TelemetryPolicy};
use palisade_schema::{DeviceId, Event, EventClass, EventKind, Header, Severity, samples};

const DEVICE: DeviceId = DeviceId([0x11; 16]);

fn event(boot: u32, sequence: u64, kind: EventKind) -> Event<'static> {
    Event {
        header: Header {
            boot,
            sequence,
            uptime_ms: sequence * 100,
            ..Header::default()
        },
        body: samples::body(kind),
    }
}

fn batch(boot: u32, sequences: std::ops::Range<u64>) -> Vec<Event<'static>> {
    sequences
        .map(|sequence| event(boot, sequence, EventKind::Login))
        .collect()
}

fn sequences(outbox: &Outbox) -> Vec<(u32, u64)> {
    let mut result = Vec::new();
    for row in outbox.read_after(0, 10_000).unwrap() {
        for event in row.events() {
            let event = event.unwrap();
            result.push((event.header.boot, event.header.sequence));
        }
    }
    result
}

fn open(dir: &tempfile::TempDir) -> Outbox {
    Outbox::open(&dir.path().join("gateway.sqlite"), &OutboxConfig::default()).unwrap()
}

#[test]
fn stored_batch_reads_back_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = open(&dir);
    let events: Vec<_> = samples::one_of_each().collect();
    let receipt = outbox
        .store(DEVICE, &events, TelemetryPolicy::Forward)
        .unwrap();
    assert_eq!(receipt.stored, events.len());
    assert_eq!(receipt.duplicates, 0);
    let rows = outbox.read_after(0, 10).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id, receipt.row_id.unwrap());
    assert_eq!(rows[0].device, Some(DEVICE));
    assert_eq!(rows[0].kind, RowKind::Events);
    assert_eq!(rows[0].event_count, events.len());
    let decoded: Vec<_> = rows[0].events().map(Result::unwrap).collect();
    assert_eq!(decoded, events);
    assert!(rows[0].has_class(EventClass::Telemetry));
    assert!(rows[0].has_class(EventClass::Security));
}

#[test]
fn resent_events_are_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = open(&dir);
    let first = outbox
        .store(DEVICE, &batch(1, 0..10), TelemetryPolicy::Forward)
        .unwrap();
    assert_eq!(first.stored, 10);
    // The acknowledgement was lost: the device resends 5..10 with 10..15.
    let second = outbox
        .store(DEVICE, &batch(1, 5..15), TelemetryPolicy::Forward)
        .unwrap();
    assert_eq!(second.stored, 5);
    assert_eq!(second.duplicates, 5);
    // A batch made only of duplicates stores no row.
    let third = outbox
        .store(DEVICE, &batch(1, 0..15), TelemetryPolicy::Forward)
        .unwrap();
    assert_eq!(third.row_id, None);
    assert_eq!(third.duplicates, 15);
    // The same sequence after a reboot, or from another device, is new.
    assert_eq!(
        outbox
            .store(DEVICE, &batch(2, 0..3), TelemetryPolicy::Forward)
            .unwrap()
            .stored,
        3
    );
    assert_eq!(
        outbox
            .store(
                DeviceId([0x22; 16]),
                &batch(1, 0..3),
                TelemetryPolicy::Forward
            )
            .unwrap()
            .stored,
        3
    );
    // A duplicate inside one batch is stored once.
    let repeated = vec![event(3, 7, EventKind::Login), event(3, 7, EventKind::Login)];
    let receipt = outbox
        .store(DEVICE, &repeated, TelemetryPolicy::Forward)
        .unwrap();
    assert_eq!((receipt.stored, receipt.duplicates), (1, 1));

    let stored = sequences(&outbox);
    assert_eq!(stored.len(), 15 + 3 + 3 + 1);
}

#[test]
fn crash_after_commit_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = open(&dir);
    outbox
        .store(DEVICE, &batch(1, 0..100), TelemetryPolicy::Forward)
        .unwrap();
    outbox
        .store(DEVICE, &batch(1, 100..200), TelemetryPolicy::Forward)
        .unwrap();
    // Leak the connection: no close, no checkpoint, the WAL stays as a
    // killed process leaves it.
    std::mem::forget(outbox);

    let mut outbox = open(&dir);
    let stored = sequences(&outbox);
    assert_eq!(
        stored,
        (0..200).map(|sequence| (1, sequence)).collect::<Vec<_>>()
    );
    // The device resends its unacknowledged tail: nothing is doubled.
    let receipt = outbox
        .store(DEVICE, &batch(1, 150..250), TelemetryPolicy::Forward)
        .unwrap();
    assert_eq!((receipt.stored, receipt.duplicates), (50, 50));
    assert_eq!(sequences(&outbox).len(), 250);
}

#[test]
fn oversized_batch_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = OutboxConfig {
        max_batch_events: 8,
        ..OutboxConfig::default()
    };
    let mut outbox = Outbox::open(&dir.path().join("gateway.sqlite"), &config).unwrap();
    assert_eq!(
        outbox
            .store(DEVICE, &batch(1, 0..8), TelemetryPolicy::Forward)
            .unwrap()
            .stored,
        8
    );
    match outbox.store(DEVICE, &batch(1, 8..17), TelemetryPolicy::Forward) {
        Err(StorageError::BatchTooLarge { len: 9, max: 8 }) => {}
        other => panic!("expected BatchTooLarge, got {other:?}"),
    }
    assert_eq!(sequences(&outbox).len(), 8);
}

#[test]
fn withheld_telemetry_is_counted_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = open(&dir);
    let events = vec![
        event(1, 0, EventKind::Telemetry),
        event(1, 1, EventKind::Login),
        event(1, 2, EventKind::Telemetry),
    ];
    let receipt = outbox
        .store(DEVICE, &events, TelemetryPolicy::Withhold)
        .unwrap();
    assert_eq!((receipt.stored, receipt.withheld), (1, 2));
    let rows = outbox.read_after(0, 10).unwrap();
    assert!(!rows[0].has_class(EventClass::Telemetry));
}

#[test]
fn group_commit_stores_every_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = open(&dir);
    let first = batch(1, 0..4);
    let second = batch(1, 0..6);
    let receipts = outbox
        .store_many(&[
            (DEVICE, &first, TelemetryPolicy::Forward),
            (DeviceId([0x33; 16]), &second, TelemetryPolicy::Forward),
        ])
        .unwrap();
    assert_eq!(
        receipts
            .iter()
            .map(|receipt| receipt.stored)
            .collect::<Vec<_>>(),
        vec![4, 6]
    );
    assert_eq!(outbox.read_after(0, 10).unwrap().len(), 2);
}

#[test]
fn gateway_events_and_findings_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = open(&dir);
    let unknown = event(0, 0, EventKind::UnknownDevice);
    // Gateway events carry no device sequence, so the same header twice is kept twice.
    outbox
        .store_gateway_events(None, std::slice::from_ref(&unknown))
        .unwrap();
    outbox
        .store_gateway_events(None, std::slice::from_ref(&unknown))
        .unwrap();
    let finding = Finding {
        rule: RuleId::UnknownDevice,
        severity: Severity::Medium,
        device: None,
        summary: "unknown device from 10.20.7.3:40112".into(),
        evidence: Vec::new(),
        time_unix_ms: 5,
        attributes: Default::default(),
    };
    let id = outbox.store_finding(&finding).unwrap();
    let rows = outbox.read_after(0, 10).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].device, None);
    assert_eq!(rows[2].id, id);
    assert_eq!(rows[2].kind, RowKind::Finding);
    assert_eq!(rows[2].finding().unwrap().unwrap(), finding);
    assert!(rows[2].has_class(EventClass::Security));
    assert!(!rows[2].has_class(EventClass::Telemetry));
    assert_eq!(rows[2].events().count(), 0);
}

#[test]
fn cursors_resume_and_never_move_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = open(&dir);
    for start in (0..50).step_by(10) {
        outbox
            .store(
                DEVICE,
                &batch(1, start..start + 10),
                TelemetryPolicy::Forward,
            )
            .unwrap();
    }
    assert_eq!(outbox.cursor("security").unwrap(), 0);
    let rows = outbox.read_after(0, 2).unwrap();
    assert_eq!(rows.len(), 2);
    outbox.mark_delivered("security", rows[1].id).unwrap();
    outbox.mark_delivered("security", rows[0].id).unwrap();
    assert_eq!(outbox.cursor("security").unwrap(), rows[1].id);
    assert_eq!(outbox.depth(&["security"]).unwrap(), 3);
    assert_eq!(outbox.depth(&["security", "telemetry"]).unwrap(), 5);
    drop(outbox);

    let outbox = open(&dir);
    let cursor = outbox.cursor("security").unwrap();
    let rest = outbox.read_after(cursor, 100).unwrap();
    assert_eq!(rest.len(), 3);
    assert_eq!(
        rest[0].events().next().unwrap().unwrap().header.sequence,
        20
    );
}

#[test]
fn prune_keeps_undelivered_and_recent_rows() {
    let dir = tempfile::tempdir().unwrap();
    let config = OutboxConfig {
        retention_secs: 60,
        ..OutboxConfig::default()
    };
    let mut outbox = Outbox::open(&dir.path().join("gateway.sqlite"), &config).unwrap();
    for start in (0..40).step_by(10) {
        outbox
            .store(
                DEVICE,
                &batch(1, start..start + 10),
                TelemetryPolicy::Forward,
            )
            .unwrap();
    }
    let rows = outbox.read_after(0, 10).unwrap();
    let now = palisade_gateway::finding::now_unix_ms();
    outbox.mark_delivered("security", rows[2].id).unwrap();
    outbox.mark_delivered("telemetry", rows[1].id).unwrap();

    // Delivered, but within the retention: kept.
    assert_eq!(outbox.prune(&["security", "telemetry"], now).unwrap(), 0);
    // Past the retention: only rows both sinks delivered go.
    assert_eq!(
        outbox
            .prune(&["security", "telemetry"], now + 61_000)
            .unwrap(),
        2
    );
    let left = outbox.read_after(0, 10).unwrap();
    assert_eq!(left.len(), 2);
    assert_eq!(left[0].id, rows[2].id);
    // The keys of pruned rows went with them; kept rows still de-duplicate.
    let receipt = outbox
        .store(DEVICE, &batch(1, 15..25), TelemetryPolicy::Forward)
        .unwrap();
    assert_eq!((receipt.stored, receipt.duplicates), (5, 5));
}

#[test]
fn prune_finds_old_rows_through_the_age_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.sqlite");
    let _outbox = Outbox::open(&path, &OutboxConfig::default()).unwrap();
    let connection = rusqlite::Connection::open(&path).unwrap();
    let mut plan = connection
        .prepare(
            "EXPLAIN QUERY PLAN SELECT id FROM outbox
                INDEXED BY outbox_by_stored_ms WHERE stored_ms < ?2 AND id <= ?1",
        )
        .unwrap();
    let steps: Vec<String> = plan
        .query_map([1i64, 2i64], |row| row.get::<_, String>(3))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        steps
            .iter()
            .any(|step| step.contains("USING COVERING INDEX outbox_by_stored_ms (stored_ms<?)")),
        "the prune query should search the age index, got {steps:?}"
    );
}

#[test]
fn reused_key_with_other_bytes_is_a_conflict() {
    use palisade_gateway::outbox::Disposition;

    let dir = tempfile::tempdir().unwrap();
    let mut outbox = open(&dir);
    let original = vec![
        event(1, 0, EventKind::Login),
        event(1, 1, EventKind::Telemetry),
    ];
    outbox
        .store(DEVICE, &original, TelemetryPolicy::Forward)
        .unwrap();

    // The same bytes again: an honest resend. Other bytes under key (1, 1): a conflict.
    let mixed = vec![
        event(1, 0, EventKind::Login),
        event(1, 1, EventKind::ProcessStarted),
        event(1, 2, EventKind::Login),
    ];
    let receipt = outbox
        .store(DEVICE, &mixed, TelemetryPolicy::Forward)
        .unwrap();
    assert_eq!(
        receipt.dispositions,
        vec![
            Disposition::Duplicate,
            Disposition::Conflict,
            Disposition::Stored
        ]
    );
    assert_eq!(
        (receipt.stored, receipt.duplicates, receipt.conflicts),
        (1, 1, 1)
    );

    // The first event stored under a key stays.
    let kinds: Vec<_> = outbox
        .read_after(0, 10)
        .unwrap()
        .iter()
        .flat_map(|row| {
            row.events()
                .map(|event| event.unwrap().kind())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        kinds,
        vec![EventKind::Login, EventKind::Telemetry, EventKind::Login]
    );

    // Inside one batch too.
    let twice = vec![
        event(2, 0, EventKind::Login),
        event(2, 0, EventKind::Heartbeat),
    ];
    let receipt = outbox
        .store(DEVICE, &twice, TelemetryPolicy::Forward)
        .unwrap();
    assert_eq!(
        receipt.dispositions,
        vec![Disposition::Stored, Disposition::Conflict]
    );

    // Withheld telemetry is marked as such.
    let telemetry = vec![event(3, 0, EventKind::Telemetry)];
    let receipt = outbox
        .store(DEVICE, &telemetry, TelemetryPolicy::Withhold)
        .unwrap();
    assert_eq!(receipt.dispositions, vec![Disposition::Withheld]);
}
