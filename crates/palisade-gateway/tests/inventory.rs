//! The asset inventory and the schema migrations, on real SQLite files.

use palisade_gateway::db::{self, SCHEMA_VERSION, StorageError};
use palisade_gateway::inventory::{Admission, AdmissionOutcome, DeviceState, Inventory};
use palisade_schema::{DeviceId, EventKind, Severity, samples};

fn admission(device: DeviceId, serial: u64, time: u64) -> Admission {
    Admission {
        device,
        model: "IP-200".into(),
        vendor: "Acme Medical".into(),
        hardware: "rev C".into(),
        firmware: "2.4.1".into(),
        credential_serial: Some(serial),
        address: Some("127.0.0.1:40001".parse().unwrap()),
        time_unix_ms: time,
    }
}

#[test]
fn empty_database_migrates_to_latest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.sqlite");
    let connection = db::open(&path).unwrap();
    assert_eq!(db::schema_version(&connection).unwrap(), SCHEMA_VERSION);
    let recorded: u32 = connection
        .query_row("SELECT count(*) FROM schema_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(recorded, SCHEMA_VERSION);
    let mode: String = connection
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    for table in [
        "devices",
        "system_info",
        "sbom_components",
        "baseline_results",
        "outbox",
        "outbox_keys",
        "sink_cursors",
        "command_audit",
        "revoked_serials",
    ] {
        let exists: bool = connection
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
                [table],
                |row| row.get(0),
            )
            .unwrap();
        assert!(exists, "table {table} missing");
    }
}

#[test]
fn reopening_does_not_migrate_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.sqlite");
    drop(db::open(&path).unwrap());
    let connection = db::open(&path).unwrap();
    let recorded: u32 = connection
        .query_row("SELECT count(*) FROM schema_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(recorded, SCHEMA_VERSION);
}

#[test]
fn version_one_upgrades_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.sqlite");
    let device = DeviceId([1; 16]);
    {
        let old = db::open_at_version(&path, 1).unwrap();
        assert_eq!(db::schema_version(&old).unwrap(), 1);
        old.execute(
            "INSERT INTO devices VALUES (?1, 'IP-200', 'Acme Medical', 'rev C', '2.4.1', 9, 10, 20, NULL, 'isolated')",
            [device.0.as_slice()],
        )
        .unwrap();
        let outbox_exists: bool = old
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'outbox')",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert!(!outbox_exists);
    }
    let inventory = Inventory::open(&path).unwrap();
    let record = inventory.device(device).unwrap().unwrap();
    assert_eq!(record.state, DeviceState::Isolated);
    assert_eq!(record.credential_serial, Some(9));
    assert_eq!(
        db::schema_version(&db::open(&path).unwrap()).unwrap(),
        SCHEMA_VERSION
    );
}

#[test]
fn newer_schema_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.sqlite");
    let connection = db::open(&path).unwrap();
    connection
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(connection);
    match db::open(&path) {
        Err(StorageError::NewerSchema { found, supported }) => {
            assert_eq!(found, SCHEMA_VERSION + 1);
            assert_eq!(supported, SCHEMA_VERSION);
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
}

#[test]
fn admission_creates_then_updates() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = Inventory::open(&dir.path().join("gateway.sqlite")).unwrap();
    let device = DeviceId([2; 16]);
    assert_eq!(inventory.device(device).unwrap(), None);
    assert_eq!(
        inventory
            .record_admission(&admission(device, 100, 1_000))
            .unwrap(),
        AdmissionOutcome::Admitted(DeviceState::Admitted)
    );
    let mut again = admission(device, 100, 5_000);
    again.firmware = "2.5.0".into();
    assert_eq!(
        inventory.record_admission(&again).unwrap(),
        AdmissionOutcome::Admitted(DeviceState::Admitted)
    );
    let record = inventory.device(device).unwrap().unwrap();
    assert_eq!(record.first_seen_unix_ms, 1_000);
    assert_eq!(record.last_seen_unix_ms, 5_000);
    assert_eq!(record.firmware, "2.5.0");
    assert_eq!(record.address.as_deref(), Some("127.0.0.1:40001"));
    assert_eq!(inventory.devices().unwrap().len(), 1);
}

#[test]
fn isolated_device_stays_isolated_on_readmission() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = Inventory::open(&dir.path().join("gateway.sqlite")).unwrap();
    let device = DeviceId([3; 16]);
    inventory
        .record_admission(&admission(device, 101, 1_000))
        .unwrap();
    assert!(inventory.set_state(device, DeviceState::Isolated).unwrap());
    assert_eq!(
        inventory
            .record_admission(&admission(device, 101, 2_000))
            .unwrap(),
        AdmissionOutcome::Admitted(DeviceState::Isolated)
    );
    assert!(
        !inventory
            .set_state(DeviceId([9; 16]), DeviceState::Isolated)
            .unwrap()
    );
}

#[test]
fn revoked_device_and_serial_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.sqlite");
    let device = DeviceId([4; 16]);
    {
        let inventory = Inventory::open(&path).unwrap();
        inventory
            .record_admission(&admission(device, 555, 1_000))
            .unwrap();
        assert_eq!(
            inventory
                .revoke(device, "brute_force_login", 2_000)
                .unwrap(),
            Some(555)
        );
        assert_eq!(
            inventory
                .revoke(DeviceId([8; 16]), "unknown", 2_000)
                .unwrap(),
            None
        );
    }
    let inventory = Inventory::open(&path).unwrap();
    assert_eq!(inventory.state(device).unwrap(), Some(DeviceState::Revoked));
    assert_eq!(
        inventory
            .record_admission(&admission(device, 556, 3_000))
            .unwrap(),
        AdmissionOutcome::Revoked
    );
    // Another device id presenting the revoked serial is rejected too.
    assert_eq!(
        inventory
            .record_admission(&admission(DeviceId([5; 16]), 555, 3_000))
            .unwrap(),
        AdmissionOutcome::Revoked
    );
    assert_eq!(inventory.device(DeviceId([5; 16])).unwrap(), None);

    let pending = inventory.pending_revocations().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].serial, 555);
    assert_eq!(pending[0].device, device);
    assert_eq!(pending[0].reason, "brute_force_login");
    inventory.mark_revocations_published(&[555]).unwrap();
    assert!(inventory.pending_revocations().unwrap().is_empty());
    assert!(inventory.is_serial_revoked(555).unwrap());
}

#[test]
fn events_fill_system_info_sbom_and_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = Inventory::open(&dir.path().join("gateway.sqlite")).unwrap();
    let device = DeviceId([6; 16]);
    inventory
        .record_admission(&admission(device, 102, 1_000))
        .unwrap();
    for kind in [
        EventKind::SystemInfo,
        EventKind::SoftwareComponent,
        EventKind::BaselineCheck,
        EventKind::Telemetry,
    ] {
        let event = palisade_schema::Event {
            header: samples::header(0, Severity::Info),
            body: samples::body(kind),
        };
        inventory.record_event(device, &event, 9_000).unwrap();
    }

    let info = inventory.system_info(device).unwrap().unwrap();
    assert_eq!(info.model, "IP-200");
    assert_eq!(info.hostname, "pump-0017");
    assert_eq!(info.interfaces[0]["name"], "eth0");
    assert_eq!(info.interfaces[0]["mac"], "00:1a:2b:3c:4d:5e");
    assert_eq!(info.interfaces[0]["addresses"][0], "10.20.1.17");

    let components = inventory.components(device).unwrap();
    assert_eq!(components.len(), 1);
    assert_eq!(components[0].name, "openssl");
    assert_eq!(components[0].version, "3.0.11-1~deb12u2");
    assert_eq!(
        components[0].sha256.as_deref(),
        Some("ab".repeat(32).as_str())
    );

    let baseline = inventory.baseline(device).unwrap();
    assert_eq!(baseline.len(), 1);
    assert_eq!(baseline[0].check_id, "ssh.permit_root_login");
    assert_eq!(baseline[0].result, "fail");
    assert_eq!(baseline[0].severity, Severity::High);

    assert_eq!(
        inventory.device(device).unwrap().unwrap().last_seen_unix_ms,
        9_000
    );
}

#[test]
fn system_info_sets_firmware_version() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = Inventory::open(&dir.path().join("gateway.sqlite")).unwrap();
    let device = DeviceId([8; 16]);
    // The handshake carries no firmware version.
    let unknown = Admission {
        firmware: "unknown".into(),
        ..admission(device, 103, 1_000)
    };
    inventory.record_admission(&unknown).unwrap();
    assert_eq!(
        inventory.device(device).unwrap().unwrap().firmware,
        "unknown"
    );

    let event = palisade_schema::Event {
        header: samples::header(0, Severity::Info),
        body: samples::body(EventKind::SystemInfo),
    };
    inventory.record_event(device, &event, 2_000).unwrap();
    let reported = inventory
        .system_info(device)
        .unwrap()
        .unwrap()
        .firmware_version;
    assert!(!reported.is_empty());
    assert_eq!(
        inventory.device(device).unwrap().unwrap().firmware,
        reported
    );

    // A reconnect without a version keeps the reported one; an announced
    // version replaces it.
    inventory.record_admission(&unknown).unwrap();
    assert_eq!(
        inventory.device(device).unwrap().unwrap().firmware,
        reported
    );
    let announced = Admission {
        firmware: "2.5.0".into(),
        ..admission(device, 103, 3_000)
    };
    inventory.record_admission(&announced).unwrap();
    assert_eq!(inventory.device(device).unwrap().unwrap().firmware, "2.5.0");
}

#[test]
fn device_record_serializes_hex_id() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = Inventory::open(&dir.path().join("gateway.sqlite")).unwrap();
    let device = DeviceId([0xab; 16]);
    inventory
        .record_admission(&admission(device, 103, 1_000))
        .unwrap();
    let json = serde_json::to_value(inventory.device(device).unwrap().unwrap()).unwrap();
    assert_eq!(json["device"], "ab".repeat(16));
    assert_eq!(json["state"], "admitted");
}
