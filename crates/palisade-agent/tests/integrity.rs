//! File integrity: SHA-256 of watched files compared between scans.
#![cfg(feature = "linux")]

use std::fs;

use palisade_agent::linux::integrity::sha256_file;
use palisade_agent::linux::{Collector, FileError, IntegrityCollector, IntegrityConfig, Record};

/// SHA-256 of "abc" (FIPS 180-2, appendix B.1).
const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

fn hex(digest: &[u8; 32]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn sha256_known_answer_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("abc");
    fs::write(&path, "abc").unwrap();
    assert_eq!(hex(&sha256_file(&path, 3).unwrap()), ABC);
    assert!(matches!(
        sha256_file(&path, 2),
        Err(FileError::TooLarge { max: 2, .. })
    ));
}

#[test]
fn collector_reports_created_changed_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let watched = dir.path().join("sshd_config");
    let later = dir.path().join("new.conf");
    fs::write(&watched, "abc").unwrap();
    let config = IntegrityConfig {
        paths: vec![watched.clone(), later.clone()],
        ..IntegrityConfig::default()
    };
    let mut collector = IntegrityCollector::new(config);
    let mut records = Vec::new();
    collector.collect(&mut records);
    assert!(records.is_empty(), "the first scan only records digests");

    fs::write(&watched, "abd").unwrap();
    fs::write(&later, "abc").unwrap();
    collector.collect(&mut records);
    let changes: Vec<(String, Option<String>, Option<String>)> = records
        .iter()
        .map(|r| match r {
            Record::FileIntegrityChanged(c) => (
                c.path.clone(),
                c.old_sha256.as_ref().map(hex),
                c.new_sha256.as_ref().map(hex),
            ),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0].0, watched.display().to_string());
    assert_eq!(changes[0].1.as_deref(), Some(ABC));
    assert_ne!(changes[0].2.as_deref(), Some(ABC));
    assert_eq!(
        changes[1],
        (later.display().to_string(), None, Some(ABC.to_string()))
    );

    records.clear();
    fs::remove_file(&later).unwrap();
    collector.collect(&mut records);
    assert!(
        matches!(records.as_slice(), [Record::FileIntegrityChanged(c)] if c.new_sha256.is_none() && c.old_sha256.is_some())
    );
}

#[test]
fn collector_reports_unreadable_file_and_keeps_digest() {
    let dir = tempfile::tempdir().unwrap();
    let watched = dir.path().join("big");
    fs::write(&watched, "abc").unwrap();
    let config = IntegrityConfig {
        paths: vec![watched.clone()],
        max_file_bytes: 3,
        ..IntegrityConfig::default()
    };
    let mut collector = IntegrityCollector::new(config);
    let mut records = Vec::new();
    collector.collect(&mut records);
    fs::write(&watched, "abcd").unwrap();
    collector.collect(&mut records);
    assert!(
        matches!(records.as_slice(), [Record::CollectionError(e)] if e.collector == "file_integrity")
    );
    records.clear();
    fs::write(&watched, "abc").unwrap();
    collector.collect(&mut records);
    assert!(
        records.is_empty(),
        "back to the recorded content: {records:?}"
    );
}
