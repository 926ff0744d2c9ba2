//! Routing and delivery from the outbox to real JSON Lines files: telemetry
//! and security output never mix, findings become OCSF Detection Findings,
//! and every record lands exactly once across restarts, crashes and
//! rotations.

use std::collections::HashMap;
use std::path::Path;

use palisade_export::Origin;
use palisade_gateway::config::{JsonlSinkConfig, OutboxConfig};
use palisade_gateway::delivery::{Delivery, IdsOnly};
use palisade_gateway::finding::{Evidence, Finding, RuleId};
use palisade_gateway::inventory::{Admission, Inventory};
use palisade_gateway::outbox::{Outbox, TelemetryPolicy};
use palisade_gateway::sink::{JsonlSink, Route, rotated_path};
use palisade_schema::{DeviceId, Event, EventClass, EventKind, Severity, samples};
use serde_json::Value;

fn origin() -> Origin {
    Origin::new("ward-3-gateway", "0.1.0")
}

/// One sample event of every kind, renumbered into boot `boot`.
fn batch(boot: u32) -> Vec<Event<'static>> {
    samples::one_of_each()
        .map(|mut event| {
            event.header.boot = boot;
            event
        })
        .collect()
}

fn telemetry_per_batch() -> usize {
    batch(0)
        .iter()
        .filter(|event| event.class() == EventClass::Telemetry)
        .count()
}

fn sinks(dir: &Path, rotate_bytes: u64, keep_files: u32) -> Vec<JsonlSink> {
    let config = |file: &str| JsonlSinkConfig {
        file: file.into(),
        rotate_bytes,
        keep_files,
    };
    vec![
        JsonlSink::open("security", Route::Security, dir, &config("security.jsonl")).unwrap(),
        JsonlSink::open(
            "telemetry",
            Route::Telemetry,
            dir,
            &config("telemetry.jsonl"),
        )
        .unwrap(),
    ]
}

fn lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Every line of a sink, oldest rotated file first.
fn all_lines(path: &Path, keep_files: u32) -> Vec<Value> {
    let mut result = Vec::new();
    for number in (1..=keep_files).rev() {
        result.extend(lines(&rotated_path(path, number)));
    }
    result.extend(lines(path));
    result
}

fn positions(lines: &[Value], route: Route) -> Vec<String> {
    lines
        .iter()
        .map(|line| {
            let position = match route {
                Route::Security => &line["unmapped"]["palisade_outbox"],
                Route::Telemetry => &line["outbox_position"],
            };
            position.as_str().unwrap().to_owned()
        })
        .collect()
}

fn finding(device: DeviceId) -> Finding {
    let event = samples::one_of_each()
        .find(|event| event.kind() == EventKind::Login)
        .unwrap();
    Finding {
        rule: RuleId::BruteForceLogin,
        severity: Severity::High,
        device: Some(device),
        summary: "5 failed logins within 60 s".into(),
        evidence: vec![Evidence::from_event(&event)],
        time_unix_ms: 1_796_000_000_000,
        attributes: Default::default(),
    }
}

#[test]
fn routing_never_mixes_classes() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("gateway.sqlite");
    let mut outbox = Outbox::open(&database, &OutboxConfig::default()).unwrap();
    let inventory = Inventory::open(&database).unwrap();
    let device = DeviceId([0x42; 16]);
    inventory
        .record_admission(&Admission {
            device,
            model: "IP-200".into(),
            vendor: "Acme Medical".into(),
            hardware: "rev C".into(),
            firmware: "2.4.1".into(),
            credential_serial: Some(7),
            address: Some("127.0.0.1:40000".parse().unwrap()),
            time_unix_ms: 1,
        })
        .unwrap();
    for boot in 0..3 {
        outbox
            .store(device, &batch(boot), TelemetryPolicy::Forward)
            .unwrap();
        outbox
            .store(DeviceId([0x43; 16]), &batch(boot), TelemetryPolicy::Forward)
            .unwrap();
    }
    outbox.store_finding(&finding(device)).unwrap();
    let unknown = samples::one_of_each()
        .find(|event| event.kind() == EventKind::UnknownDevice)
        .unwrap();
    outbox.store_gateway_events(None, &[unknown]).unwrap();

    let mut delivery = Delivery::new(sinks(dir.path(), 64 * 1024 * 1024, 5), origin(), 100);
    let report = delivery.drain(&mut outbox, &inventory, 10).unwrap();
    let per_batch = batch(0).len();
    let telemetry = 6 * telemetry_per_batch();
    let security = 6 * (per_batch - telemetry_per_batch()) + 1 + 1;
    assert_eq!(report.written["telemetry"], telemetry as u64);
    assert_eq!(report.written["security"], security as u64);
    assert_eq!(outbox.depth(&delivery.sink_names()).unwrap(), 0);

    let security_lines = lines(&dir.path().join("security.jsonl"));
    assert_eq!(security_lines.len(), security);
    for line in &security_lines {
        assert!(line["class_uid"].is_u64(), "not OCSF: {line}");
        assert_ne!(
            line["unmapped"]["palisade_class"], "telemetry",
            "telemetry in the security sink: {line}"
        );
        assert!(line.get("data_hex").is_none());
    }
    let telemetry_lines = lines(&dir.path().join("telemetry.jsonl"));
    assert_eq!(telemetry_lines.len(), telemetry);
    for line in &telemetry_lines {
        assert!(
            line.get("class_uid").is_none(),
            "OCSF object in the telemetry sink: {line}"
        );
        assert!(line["channel"].is_u64());
        assert!(line["data_hex"].is_string());
    }

    // The device's inventory entry is in its events; the finding is an
    // OCSF Detection Finding naming the rule.
    let admitted = security_lines
        .iter()
        .find(|line| line["device"]["uid"] == "42".repeat(16) && line["class_uid"] != 2004)
        .unwrap();
    assert_eq!(admitted["device"]["model"], "IP-200");
    assert_eq!(admitted["device"]["ip"], "127.0.0.1");
    let findings: Vec<_> = security_lines
        .iter()
        .filter(|line| line["class_uid"] == 2004)
        .collect();
    assert_eq!(findings.len(), 1);
    assert_eq!(
        findings[0]["finding_info"]["analytic"]["uid"],
        "brute_force_login"
    );
    assert_eq!(findings[0]["device"]["uid"], "42".repeat(16));
    assert_eq!(findings[0]["evidences"].as_array().unwrap().len(), 1);
    assert!(
        findings[0]["finding_info"]["uid"]
            .as_str()
            .unwrap()
            .starts_with("ward-3-gateway:")
    );
    // The gateway-reported event is exported under the device id it claimed.
    assert!(
        security_lines
            .iter()
            .any(|line| line["unmapped"]["palisade_kind"] == "unknown_device"
                && line["device"]["uid"] == "5a".repeat(16))
    );
}

fn store_batches(outbox: &mut Outbox, boots: std::ops::Range<u32>) {
    for boot in boots {
        outbox
            .store(DeviceId([0x51; 16]), &batch(boot), TelemetryPolicy::Forward)
            .unwrap();
    }
}

fn assert_exactly_once(dir: &Path, batches: usize, keep_files: u32) {
    let per_batch = batch(0).len();
    for (file, route, expected) in [
        (
            "security.jsonl",
            Route::Security,
            batches * (per_batch - telemetry_per_batch()),
        ),
        (
            "telemetry.jsonl",
            Route::Telemetry,
            batches * telemetry_per_batch(),
        ),
    ] {
        let positions = positions(&all_lines(&dir.join(file), keep_files), route);
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for position in &positions {
            *counts.entry(position).or_default() += 1;
        }
        let doubled: Vec<_> = counts.iter().filter(|(_, count)| **count > 1).collect();
        assert!(
            doubled.is_empty(),
            "{file}: written more than once: {doubled:?}"
        );
        assert_eq!(positions.len(), expected, "{file}: records lost");
    }
}

#[test]
fn exactly_once_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("gateway.sqlite");
    {
        let mut outbox = Outbox::open(&database, &OutboxConfig::default()).unwrap();
        store_batches(&mut outbox, 0..10);
        let mut delivery = Delivery::new(sinks(dir.path(), 64 * 1024 * 1024, 5), origin(), 3);
        delivery.deliver(&mut outbox, &IdsOnly).unwrap();
        // The gateway stops without a clean shutdown.
        std::mem::forget(outbox);
        std::mem::forget(delivery);
    }
    let mut outbox = Outbox::open(&database, &OutboxConfig::default()).unwrap();
    store_batches(&mut outbox, 10..12);
    let mut delivery = Delivery::new(sinks(dir.path(), 64 * 1024 * 1024, 5), origin(), 3);
    delivery.drain(&mut outbox, &IdsOnly, 100).unwrap();
    assert_eq!(outbox.depth(&delivery.sink_names()).unwrap(), 0);
    assert_exactly_once(dir.path(), 12, 5);
}

#[test]
fn crash_before_cursor_advance_writes_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("gateway.sqlite");
    let mut outbox = Outbox::open(&database, &OutboxConfig::default()).unwrap();
    store_batches(&mut outbox, 0..6);
    let mut delivery = Delivery::new(sinks(dir.path(), 64 * 1024 * 1024, 5), origin(), 4);
    delivery.deliver(&mut outbox, &IdsOnly).unwrap();
    drop(delivery);
    // The files hold rows 1..=4, but the cursor update is lost, as in a crash
    // between the write and the commit.
    let connection = rusqlite::Connection::open(&database).unwrap();
    connection
        .execute("UPDATE sink_cursors SET delivered_id = 1", [])
        .unwrap();
    // A crash also cut the last line of the security file in half.
    let security = dir.path().join("security.jsonl");
    let mut text = std::fs::read(&security).unwrap();
    let cut = text.len() - 40;
    text.truncate(cut);
    std::fs::write(&security, &text).unwrap();

    let mut delivery = Delivery::new(sinks(dir.path(), 64 * 1024 * 1024, 5), origin(), 4);
    let report = delivery.drain(&mut outbox, &IdsOnly, 100).unwrap();
    assert!(report.already_written > 0);
    assert_exactly_once(dir.path(), 6, 5);
}

#[test]
fn sink_outage_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("gateway.sqlite");
    let mut outbox = Outbox::open(&database, &OutboxConfig::default()).unwrap();
    store_batches(&mut outbox, 0..5);
    // The telemetry sink is down: only the security sink delivers.
    let security_only = vec![sinks(dir.path(), 64 * 1024 * 1024, 5).remove(0)];
    let mut delivery = Delivery::new(security_only, origin(), 100);
    delivery.drain(&mut outbox, &IdsOnly, 100).unwrap();
    assert_eq!(outbox.depth(&["security", "telemetry"]).unwrap(), 5);
    // Pruning keeps what the telemetry sink has not delivered.
    assert_eq!(
        outbox.prune(&["security", "telemetry"], u64::MAX).unwrap(),
        0
    );

    let mut delivery = Delivery::new(sinks(dir.path(), 64 * 1024 * 1024, 5), origin(), 100);
    delivery.drain(&mut outbox, &IdsOnly, 100).unwrap();
    assert_eq!(outbox.depth(&["security", "telemetry"]).unwrap(), 0);
    assert_exactly_once(dir.path(), 5, 5);
    assert_eq!(
        outbox.prune(&["security", "telemetry"], u64::MAX).unwrap(),
        5
    );
}

#[test]
fn rotation_keeps_size_and_order() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("gateway.sqlite");
    let mut outbox = Outbox::open(&database, &OutboxConfig::default()).unwrap();
    store_batches(&mut outbox, 0..8);
    let rotate_bytes = 16 * 1024;
    let mut delivery = Delivery::new(sinks(dir.path(), rotate_bytes, 50), origin(), 2);
    delivery.drain(&mut outbox, &IdsOnly, 100).unwrap();
    assert!(
        delivery.sinks()[0].rotations() >= 2,
        "expected rotations, got {}",
        delivery.sinks()[0].rotations()
    );
    drop(delivery);

    let security = dir.path().join("security.jsonl");
    for number in 1..=50 {
        let path = rotated_path(&security, number);
        if let Ok(metadata) = std::fs::metadata(&path) {
            assert!(
                metadata.len() <= rotate_bytes,
                "{} is {} bytes",
                path.display(),
                metadata.len()
            );
        }
    }
    // Positions increase from the oldest file to the newest.
    let positions = positions(&all_lines(&security, 50), Route::Security);
    let parsed: Vec<(i64, u32)> = positions
        .iter()
        .map(|text| {
            let (row, index) = text.split_once('.').unwrap();
            (row.parse().unwrap(), index.parse().unwrap())
        })
        .collect();
    assert!(parsed.windows(2).all(|pair| pair[0] < pair[1]));
    assert_exactly_once(dir.path(), 8, 50);

    // A restart right after a rotation finds its place in the rotated file.
    store_batches(&mut outbox, 8..9);
    let connection = rusqlite::Connection::open(&database).unwrap();
    connection
        .execute("UPDATE sink_cursors SET delivered_id = 0", [])
        .unwrap();
    let mut delivery = Delivery::new(sinks(dir.path(), rotate_bytes, 50), origin(), 2);
    delivery.drain(&mut outbox, &IdsOnly, 100).unwrap();
    assert_exactly_once(dir.path(), 9, 50);
}

#[test]
fn rotation_deletes_beyond_keep_files() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("gateway.sqlite");
    let mut outbox = Outbox::open(&database, &OutboxConfig::default()).unwrap();
    store_batches(&mut outbox, 0..8);
    let mut delivery = Delivery::new(sinks(dir.path(), 4096, 2), origin(), 100);
    delivery.drain(&mut outbox, &IdsOnly, 100).unwrap();
    let security = dir.path().join("security.jsonl");
    assert!(rotated_path(&security, 1).exists());
    assert!(rotated_path(&security, 2).exists());
    assert!(!rotated_path(&security, 3).exists());
}

#[test]
fn failed_flush_forgets_unwritten_lines() {
    use palisade_gateway::sink::Position;

    // Writes to /dev/full fail with "no space left on device", as a full
    // disk under the sink would.
    let config = JsonlSinkConfig {
        file: "/dev/full".into(),
        rotate_bytes: 64 * 1024 * 1024,
        keep_files: 1,
    };
    let dir = tempfile::tempdir().unwrap();
    let mut sink = JsonlSink::open("security", Route::Security, dir.path(), &config).unwrap();
    let position = Position { row: 7, index: 0 };
    sink.write(position, serde_json::json!({ "class_uid": 0 }))
        .unwrap();
    assert_eq!(sink.last_written(), Some(position));
    let error = sink.flush().unwrap_err().to_string();
    assert!(
        error.contains("sink security failed to write /dev/full"),
        "{error}"
    );
    // Nothing reached the file, so nothing counts as written and the next
    // round writes the line again.
    assert_eq!(sink.last_written(), None);
    assert_eq!(sink.lines_written(), 0);
}
