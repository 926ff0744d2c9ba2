//! Fixtures shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use palisade_export::{DeviceInfo, EventRef, Evidence, Finding, Origin};
use palisade_schema::{DeviceId, EventKind, IpAddress, Severity};

/// The device every sample event is exported for.
pub fn device() -> DeviceInfo {
    DeviceInfo {
        id: DeviceId([
            0x3f, 0x2a, 0x91, 0x07, 0x5c, 0xe4, 0x18, 0xb0, 0x66, 0x0d, 0xa2, 0x4e, 0x9b, 0x71,
            0xc3, 0x05,
        ]),
        vendor: Some("Acme Medical".into()),
        model: Some("IP-200".into()),
        hostname: Some("pump-0017".into()),
        ip: Some(IpAddress::V4([10, 20, 1, 17])),
    }
}

/// The exporting gateway.
pub fn origin() -> Origin {
    Origin::new("ward-3-gateway", "0.1.0")
}

/// Receive time used with the sample events.
pub const RECEIVED_MS: u64 = 1_796_000_030_000;

/// A brute-force finding with two evidence events.
pub fn finding() -> Finding {
    let mut attributes = BTreeMap::new();
    attributes.insert("failures".to_owned(), "5".to_owned());
    attributes.insert("window_s".to_owned(), "60".to_owned());
    Finding {
        uid: "ward-3-gateway:finding:42".into(),
        rule_id: "brute_force_login".into(),
        title: "5 failed logins for service within 60 s".into(),
        description: Some("Repeated password failures from 10.20.9.44 over ssh".into()),
        severity: Severity::High,
        device: device(),
        time_unix_ms: 1_796_000_040_000,
        evidence: vec![
            Evidence {
                event: Some(EventRef {
                    boot: 4,
                    sequence: 1_005,
                    kind: EventKind::Login,
                }),
                summary: "login failed for user service from 10.20.9.44".into(),
            },
            Evidence {
                event: Some(EventRef {
                    boot: 4,
                    sequence: 1_009,
                    kind: EventKind::Login,
                }),
                summary: "login failed for user service from 10.20.9.44".into(),
            },
        ],
        attributes,
    }
}

/// Path of a file under the crate's `tests/` folder.
pub fn test_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(relative)
}

/// Compares `actual` with the committed golden file, or rewrites the file
/// when `PALISADE_UPDATE_GOLDEN=1` is set.
pub fn check_golden(relative: &str, actual: &str) {
    let path = test_path(relative);
    if std::env::var("PALISADE_UPDATE_GOLDEN").as_deref() == Ok("1") {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create golden folder");
        }
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|error| {
        panic!(
            "cannot read golden file {}: {error}; run with PALISADE_UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || "line count differs".to_owned(),
                |index| format!("first difference on line {}", index + 1),
            );
        panic!(
            "{} differs from the output ({line})\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        );
    }
}
