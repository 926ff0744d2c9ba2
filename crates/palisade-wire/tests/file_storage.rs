//! The file-backed queue storage: restart, crash, torn writes, compaction.
#![cfg(feature = "std")]

use std::path::Path;

use palisade_schema::{Event, EventBody, EventKind, EventsDropped, samples};
use palisade_wire::{FileStorage, OverflowPolicy, Pushed, Queue, Storage, SyncPolicy};

const CHILD_ENV: &str = "PALISADE_WIRE_CRASH_CHILD";

fn events() -> Vec<Event<'static>> {
    samples::mixed_batch().collect()
}

fn open(path: &Path) -> (Queue<FileStorage>, palisade_wire::Recovery) {
    let (storage, recovery) =
        FileStorage::open(path, 64 * 1024, 256, SyncPolicy::EveryWrite).unwrap();
    (Queue::new(storage, OverflowPolicy::DropOldest), recovery)
}

fn stored(queue: &Queue<FileStorage>) -> Vec<(u64, Vec<u8>)> {
    queue
        .iter()
        .map(|(sequence, bytes)| (sequence, bytes.to_vec()))
        .collect()
}

#[test]
fn records_survive_reopen() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("queue.log");
    let (mut queue, recovery) = open(&path);
    assert_eq!(recovery.records, 0);
    for event in events().iter().take(10) {
        queue.push(event).unwrap();
    }
    queue.ack(2).unwrap();
    let before = stored(&queue);
    drop(queue);
    let (mut queue, recovery) = open(&path);
    assert_eq!(recovery.records, 7);
    assert_eq!(recovery.discarded_bytes, 0);
    assert_eq!(stored(&queue), before);
    assert_eq!(
        queue.push(&events()[10]).unwrap(),
        Pushed::Stored { sequence: 10 }
    );
}

#[test]
fn sequence_continues_after_everything_acked() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("queue.log");
    let (mut queue, _) = open(&path);
    for event in events().iter().take(3) {
        queue.push(event).unwrap();
    }
    queue.ack(2).unwrap();
    drop(queue);
    let (mut queue, _) = open(&path);
    assert!(queue.is_empty());
    assert_eq!(
        queue.push(&events()[3]).unwrap(),
        Pushed::Stored { sequence: 3 }
    );
}

#[test]
fn torn_last_entry_is_discarded_at_every_length() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("queue.log");
    let (mut queue, _) = open(&path);
    for event in events().iter().take(4) {
        queue.push(event).unwrap();
    }
    let complete_before_last = std::fs::metadata(&path).unwrap().len();
    let expected = stored(&queue);
    queue.push(&events()[4]).unwrap();
    drop(queue);
    let full = std::fs::read(&path).unwrap();
    for cut in complete_before_last as usize..full.len() {
        let torn = directory.path().join(format!("torn-{cut}.log"));
        std::fs::write(&torn, &full[..cut]).unwrap();
        let (queue, recovery) = open(&torn);
        assert_eq!(stored(&queue), expected, "cut at {cut}");
        assert_eq!(
            recovery.discarded_bytes,
            (cut as u64) - complete_before_last,
            "cut at {cut}"
        );
        drop(queue);
        assert_eq!(
            std::fs::metadata(&torn).unwrap().len(),
            complete_before_last,
            "file not truncated at {cut}"
        );
    }
}

#[test]
fn corrupt_last_entry_is_discarded() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("queue.log");
    let (mut queue, _) = open(&path);
    queue.push(&events()[0]).unwrap();
    let expected = stored(&queue);
    queue.push(&events()[1]).unwrap();
    drop(queue);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let (queue, recovery) = open(&path);
    assert_eq!(stored(&queue), expected);
    assert!(recovery.discarded_bytes > 0);
}

#[test]
fn drop_report_survives_reopen() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("queue.log");
    let (storage, _) = FileStorage::open(&path, 400, 8, SyncPolicy::EveryWrite).unwrap();
    let mut queue = Queue::new(storage, OverflowPolicy::DropNewest);
    for event in events().iter().take(12) {
        queue.push(event).unwrap();
    }
    let dropped = queue.dropped_total();
    assert!(dropped > 0);
    let before = stored(&queue);
    let pending = queue.pending_drops();
    drop(queue);
    let (storage, _) = FileStorage::open(&path, 400, 8, SyncPolicy::EveryWrite).unwrap();
    let queue = Queue::new(storage, OverflowPolicy::DropNewest);
    assert_eq!(stored(&queue), before);
    assert_eq!(queue.pending_drops(), pending);
    let report = queue
        .iter()
        .find_map(|(_, bytes)| {
            match palisade_schema::from_bytes::<Event<'_>>(bytes)
                .unwrap()
                .body
            {
                EventBody::EventsDropped(EventsDropped { count, .. }) => Some(count),
                _ => None,
            }
        })
        .unwrap();
    assert_eq!(report + pending, dropped);
}

#[test]
fn compaction_keeps_live_records() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("queue.log");
    let (storage, _) = FileStorage::open(&path, 64 * 1024, 256, SyncPolicy::Manual).unwrap();
    let mut queue = Queue::new(storage, OverflowPolicy::DropOldest);
    let events = events();
    let mut largest = 0;
    for round in 0..40u64 {
        for event in &events {
            queue.push(event).unwrap();
        }
        queue.ack(round * 64 + 60).unwrap();
        largest = largest.max(queue.storage().file_len());
    }
    assert!(
        largest < 200 * 1024,
        "log grew to {largest} bytes without compaction"
    );
    let before = stored(&queue);
    assert_eq!(before.len(), 3);
    let mut storage = queue.into_storage();
    storage.sync().unwrap();
    drop(storage);
    let (queue, recovery) = open(&path);
    assert_eq!(recovery.discarded_bytes, 0);
    assert_eq!(stored(&queue), before);
    assert_eq!(queue.next_sequence(), 40 * 64);
    assert!(!directory.path().join("queue.tmp").exists());
}

/// Runs only as the child of `crash_keeps_written_records`: pushes five
/// events and aborts without closing anything.
#[test]
fn crash_child_entry() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (mut queue, _) = open(Path::new(&path));
    for event in events().iter().take(5) {
        queue.push(event).unwrap();
    }
    std::process::abort();
}

#[test]
fn crash_keeps_written_records() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("queue.log");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .status()
        .unwrap();
    assert!(!status.success(), "the child must abort");
    let (queue, recovery) = open(&path);
    assert_eq!(recovery.records, 5);
    let kinds: Vec<EventKind> = queue
        .iter()
        .map(|(_, bytes)| {
            palisade_schema::from_bytes::<Event<'_>>(bytes)
                .unwrap()
                .kind()
        })
        .collect();
    let expected: Vec<EventKind> = events().iter().take(5).map(Event::kind).collect();
    assert_eq!(kinds, expected);
}

#[test]
fn capacity_boundary() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("queue.log");
    let (mut storage, _) = FileStorage::open(&path, 100, 2, SyncPolicy::Manual).unwrap();
    assert!(storage.can_fit(100));
    assert!(!storage.can_fit(101));
    storage.push_back(0, &[1; 60]).unwrap();
    assert!(storage.can_fit(40));
    assert!(!storage.can_fit(41));
    storage.push_back(1, &[1; 40]).unwrap();
    assert!(!storage.can_fit(0));
    assert!(storage.push_back(2, &[1]).is_err());
    storage.sync().unwrap();
}

#[test]
fn drop_storm_keeps_file_bounded() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("queue.log");
    let (storage, _) = FileStorage::open(&path, 400, 4, SyncPolicy::Manual).unwrap();
    let mut queue = Queue::new(storage, OverflowPolicy::DropNewest);
    let events = events();
    for _ in 0..80 {
        for event in &events {
            queue.push(event).unwrap();
        }
    }
    assert_eq!(
        queue.dropped_total() + queue.storage().len() as u64,
        80 * 64
    );
    assert!(
        queue.storage().file_len() < 200 * 1024,
        "log grew to {} bytes",
        queue.storage().file_len()
    );
    let pending = queue.pending_drops();
    let mut storage = queue.into_storage();
    storage.sync().unwrap();
    drop(storage);
    let (storage, recovery) = FileStorage::open(&path, 400, 4, SyncPolicy::Manual).unwrap();
    assert_eq!(recovery.discarded_bytes, 0);
    assert_eq!(storage.drop_state().pending, pending);
}
