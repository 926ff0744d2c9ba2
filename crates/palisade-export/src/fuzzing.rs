//! Entry points for fuzz targets and property tests; not a stable API.

use std::cmp::Ordering;
use std::path::Path;

use crate::syslog::{SdElement, SyslogMessage, SyslogOptions};
use crate::vuln::{AdvisoryDatabase, Ecosystem, LoadReport, PackageIdentity};

const ECOSYSTEMS: [Ecosystem; 6] = [
    Ecosystem::Debian,
    Ecosystem::Ubuntu,
    Ecosystem::Alpine,
    Ecosystem::CratesIo,
    Ecosystem::Npm,
    Ecosystem::PyPi,
];

/// Loads `data` as OSV JSON and matches a few package versions against it.
/// Neither step may panic, whatever the input.
pub fn load_advisory(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut database = AdvisoryDatabase::new();
    let mut report = LoadReport::default();
    let _ = database.add_json(Path::new("fuzz.json"), text, &mut report);
    for ecosystem in ECOSYSTEMS {
        for version in ["0", "1.0", "1.0.0", "1:1.0-1", "1.0-r1", "not a version"] {
            let identity = PackageIdentity {
                ecosystem,
                name: "package".into(),
                version: version.into(),
            };
            let _ = database.matches_identity(&identity);
        }
    }
}

/// Compares the two halves of `data` (split at the first NUL byte) in every
/// ecosystem, and checks that each comparison is antisymmetric and that a
/// valid version equals itself.
pub fn compare_versions(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (left, right) = text.split_once('\0').unwrap_or((&text, ""));
    for ecosystem in ECOSYSTEMS {
        let forward = ecosystem.compare(left, right);
        let backward = ecosystem.compare(right, left);
        assert_eq!(
            forward.map(Ordering::reverse),
            backward,
            "{ecosystem:?}: {left:?} vs {right:?}"
        );
        if let Some(ordering) = ecosystem.compare(left, left) {
            assert_eq!(
                ordering,
                Ordering::Equal,
                "{ecosystem:?}: {left:?} vs itself"
            );
        }
    }
}

/// Puts `data` into every field of a syslog message and of a CEF finding,
/// and checks that each output is one line without control characters.
pub fn format_line(data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    let mut clock = [0u8; 8];
    for (slot, byte) in clock.iter_mut().zip(data) {
        *slot = *byte;
    }
    let message = SyslogMessage {
        facility: SyslogOptions::default().facility,
        severity: crate::syslog::SyslogSeverity::Alert,
        timestamp_unix_ms: Some(u64::from_le_bytes(clock)),
        hostname: Some(text.clone()),
        app_name: Some(text.clone()),
        procid: Some(text.clone()),
        msgid: Some(text.clone()),
        structured_data: vec![SdElement {
            id: text.clone(),
            params: vec![(text.clone(), text.clone())],
        }],
        msg: Some(text.clone()),
    };
    assert_one_line(&message.to_line());

    let finding = crate::Finding {
        uid: text.clone(),
        rule_id: text.clone(),
        title: text.clone(),
        description: Some(text.clone()),
        severity: palisade_schema::Severity::Low,
        device: crate::DeviceInfo {
            hostname: Some(text.clone()),
            ..crate::DeviceInfo::default()
        },
        time_unix_ms: 0,
        evidence: vec![crate::Evidence {
            event: None,
            summary: text.clone(),
        }],
        attributes: [(text.clone(), text.clone())].into_iter().collect(),
    };
    let origin = crate::Origin::new(text.clone(), text);
    assert_one_line(&crate::cef::finding_line(&finding, &origin));
    assert_one_line(
        &crate::syslog::finding_message(&finding, &origin, &SyslogOptions::default()).to_line(),
    );
}

fn assert_one_line(line: &str) {
    let control = line
        .chars()
        .find(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'));
    assert_eq!(control, None, "control character in {line:?}");
}
