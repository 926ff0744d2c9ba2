//! Records viewed as schema events, and every collector over one fixture tree.
#![cfg(all(feature = "linux", target_endian = "little"))]

mod common;

use std::fs;
use std::net::IpAddr;

use common::fixture;
use palisade_agent::linux::{
    BaselineResult, Interface, JournalMode, LinuxCollectors, LinuxConfig, ProcessStart, Record,
    SystemDescription,
};
use palisade_schema::{
    CheckResult, Event, EventBody, EventKind, Header, MAX_EVENT_LEN, Severity, limits,
};

fn encode_round_trip(event: &Event<'_>) {
    let mut buffer = [0u8; MAX_EVENT_LEN];
    let bytes =
        palisade_schema::to_slice(event, &mut buffer).expect("every record fits MAX_EVENT_LEN");
    let decoded: Event<'_> = palisade_schema::from_bytes(bytes).expect("decodes");
    assert_eq!(&decoded, event);
}

#[test]
fn long_fields_are_truncated_on_char_boundaries() {
    let record = Record::ProcessStarted(ProcessStart {
        pid: 7,
        parent_pid: 1,
        uid: 0,
        user: Some("é".repeat(40)),
        executable: "/".repeat(limits::PATH + 1),
        command_line: "ü".repeat(limits::COMMAND_LINE),
    });
    let event = record.to_event(Header::default());
    let EventBody::ProcessStarted(p) = &event.body else {
        panic!()
    };
    assert_eq!(p.user.unwrap().len(), limits::NAME);
    assert_eq!(p.executable.len(), limits::PATH);
    assert_eq!(p.command_line.len(), limits::COMMAND_LINE);
    encode_round_trip(&event);
}

#[test]
fn system_info_keeps_four_interfaces() {
    let interface = |index: usize| Interface {
        name: format!("eth{index}"),
        mac: Some([2, 0, 0, 0, 0, index as u8]),
        addresses: (0..6)
            .map(|a| IpAddr::from([10, 0, index as u8, a]))
            .collect(),
    };
    let description = SystemDescription {
        vendor: "v".into(),
        model: "m".into(),
        hostname: "h".into(),
        os_name: "o".into(),
        os_version: "1".into(),
        architecture: "x86_64".into(),
        firmware_version: "f".into(),
        interfaces: (0..limits::INTERFACES + 1).map(interface).collect(),
    };
    assert_eq!(description.omitted_in_event(), (1, 2 * limits::INTERFACES));
    let record = Record::SystemInfo(description);
    let event = record.to_event(Header::default());
    let EventBody::SystemInfo(info) = &event.body else {
        panic!()
    };
    assert_eq!(info.interfaces.len(), limits::INTERFACES);
    assert!(
        info.interfaces
            .iter()
            .all(|i| i.addresses.len() == limits::ADDRESSES_PER_INTERFACE)
    );
    encode_round_trip(&event);
}

#[test]
fn severity_follows_the_result() {
    let check = |result| {
        Record::BaselineCheck(BaselineResult {
            check_id: "x".into(),
            result,
            severity: Severity::High,
            description: String::new(),
            remediation: String::new(),
        })
    };
    assert_eq!(check(CheckResult::Fail).severity(), Severity::High);
    assert_eq!(check(CheckResult::Pass).severity(), Severity::Info);
    assert_eq!(check(CheckResult::Error).severity(), Severity::Low);
}

fn fixture_config(root: &std::path::Path) -> LinuxConfig {
    let mut config = LinuxConfig::default().under(root);
    config.login.journal = JournalMode::Never;
    config
}

#[test]
fn every_collector_over_the_fixture_tree() {
    let mut collectors = LinuxCollectors::new(fixture_config(&fixture("root")));
    let records = collectors.collect_all();
    let count = |kind: EventKind| records.iter().filter(|r| r.kind() == kind).count();
    assert_eq!(count(EventKind::SystemInfo), 1);
    assert_eq!(count(EventKind::ProcessStarted), 4);
    assert_eq!(count(EventKind::ListeningPortOpened), 5);
    assert_eq!(count(EventKind::NetworkConnection), 3);
    assert_eq!(count(EventKind::Login), 4 + 2 + 13);
    assert_eq!(count(EventKind::SoftwareComponent), 4);
    assert_eq!(count(EventKind::BaselineCheck), 5);
    assert_eq!(count(EventKind::CollectionError), 0, "{records:?}");
    for (index, record) in records.iter().enumerate() {
        let header = Header {
            sequence: index as u64,
            severity: record.severity(),
            ..Header::default()
        };
        let event = record.to_event(header);
        assert_eq!(event.kind(), record.kind());
        encode_round_trip(&event);
    }
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn malformed_and_unreadable_files_become_collection_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    copy_tree(&fixture("root"), root);
    // Every source broken in its own way.
    fs::write(root.join("proc/2/stat"), b"\xff\xfe(").unwrap();
    fs::write(root.join("proc/net/tcp6"), "header\nnot a socket line\n").unwrap();
    fs::write(root.join("var/log/wtmp"), [7u8; 384]).unwrap();
    fs::write(root.join("var/log/auth.log"), "\0\0\0 binary junk\n").unwrap();
    fs::write(
        root.join("var/lib/dpkg/status"),
        "Package: a\n  \x01\nno colon\n",
    )
    .unwrap();
    fs::remove_file(root.join("etc/ssh/sshd_config")).unwrap();
    fs::create_dir(root.join("etc/ssh/sshd_config")).unwrap();
    fs::remove_file(root.join("etc/shadow")).unwrap();
    fs::create_dir(root.join("etc/shadow")).unwrap();

    let mut collectors = LinuxCollectors::new(fixture_config(root));
    let records = collectors.collect_all();
    let errors: Vec<(&str, Option<&str>)> = records
        .iter()
        .filter_map(|r| match r {
            Record::CollectionError(e) => Some((e.collector, e.path.as_deref())),
            _ => None,
        })
        .collect();
    let from = |collector: &str, suffix: &str| {
        errors
            .iter()
            .any(|(c, p)| *c == collector && p.is_some_and(|p| p.ends_with(suffix)))
    };
    assert!(from("processes", "proc/2"), "{errors:?}");
    assert!(from("network", "net/tcp6"), "{errors:?}");
    assert!(from("logins", "var/log/wtmp"), "{errors:?}");
    assert!(from("logins", "var/log/auth.log"), "{errors:?}");
    assert!(from("software", "var/lib/dpkg/status"), "{errors:?}");
    assert!(from("file_integrity", "etc/shadow"), "{errors:?}");
    // The collectors went on with the rest.
    assert_eq!(
        records
            .iter()
            .filter(|r| r.kind() == EventKind::ProcessStarted)
            .count(),
        3
    );
    assert_eq!(
        records
            .iter()
            .filter(|r| r.kind() == EventKind::SystemInfo)
            .count(),
        1
    );
    let baseline_errors: Vec<&str> = records
        .iter()
        .filter_map(|r| match r {
            Record::BaselineCheck(b) if b.result == CheckResult::Error => Some(b.check_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        baseline_errors,
        [
            "palisade.ssh.permit_root_login",
            "palisade.ssh.password_authentication",
            "palisade.accounts.empty_password"
        ]
    );
    for record in &records {
        encode_round_trip(&record.to_event(Header::default()));
    }
}

#[test]
fn file_size_limit_boundary() {
    use palisade_agent::linux::{FileError, read_bounded};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ten");
    fs::write(&path, [b'x'; 10]).unwrap();
    assert_eq!(read_bounded(&path, 10).unwrap().len(), 10);
    assert!(matches!(
        read_bounded(&path, 9),
        Err(FileError::TooLarge { max: 9, .. })
    ));
}
