//! Queue storage in an append-only file that survives a crash and a power
//! cut (`std` only).
//!
//! # File format
//!
//! The file is a log of entries, each
//!
//! ```text
//! kind (u8) | body length (u32 LE) | body | CRC-32 (u32 LE) over kind, length and body
//! ```
//!
//! with three kinds: a record (body: queue sequence number as u64 LE, then
//! the record), a removal (body: u64 LE; removes every record up to that
//! sequence number from the front) and a drop-state entry (body: postcard
//! of the report and the [`DropState`]; the last one wins). Opening the file
//! replays the log into memory. Reads are served from memory; writes append
//! to the log.
//!
//! # Durability
//!
//! - With [`SyncPolicy::EveryWrite`] (the default), every push, removal and
//!   drop-state change calls `fsync` (`File::sync_data`) before it returns,
//!   so a call that returned survives a power cut.
//! - With [`SyncPolicy::Manual`], the caller calls [`FileStorage::sync`] at
//!   its own points, typically before it acknowledges upstream that events
//!   are stored. A power cut loses at most the writes since the last sync.
//! - Compaction writes the live entries to `<path>.tmp`, syncs it, renames
//!   it over the log and syncs the directory, so a cut during compaction
//!   leaves either the old or the new log, both complete.
//! - Opening syncs the directory, so a newly created log survives a cut.
//!
//! # Recovery
//!
//! Opening reads entries until the first one that is incomplete, has a bad
//! CRC, an unknown kind or an impossible length. That entry and everything
//! after it are a torn write: the file is truncated there and synced, and
//! [`Recovery::discarded_bytes`] says how much was cut. A torn entry is
//! never replayed as a record.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::vec::Vec;

use crate::queue::{DropState, ReportChange, Storage};

const KIND_RECORD: u8 = 1;
const KIND_REMOVE: u8 = 2;
const KIND_DROPS: u8 = 3;
/// Kind, length and CRC around each entry's body.
const ENTRY_OVERHEAD: usize = 1 + 4 + 4;
/// Largest body of any entry: a sequence number and the largest record.
const MAX_BODY: usize = 8 + palisade_schema::MAX_EVENT_LEN;
/// Largest drop-state body: the report (up to 1 + 10 + 1 + 64 bytes), the
/// pending count (10) and a header (48), rounded up.
const DROPS_BODY_MAX: usize = 256;
/// The log is compacted when it is larger than this many bytes and more than
/// twice the live data.
const COMPACT_MIN: u64 = 64 * 1024;

/// When [`FileStorage`] calls `fsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SyncPolicy {
    /// After every write, before the call returns.
    #[default]
    EveryWrite,
    /// Only in [`FileStorage::sync`] and during compaction.
    Manual,
}

/// Result of replaying an existing log in [`FileStorage::open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recovery {
    /// Records restored.
    pub records: usize,
    /// Bytes cut from the end of the log (a torn or corrupt entry and
    /// everything after it).
    pub discarded_bytes: u64,
}

/// Queue storage in an append-only log file; see the [module docs](self).
#[derive(Debug)]
pub struct FileStorage {
    path: PathBuf,
    file: File,
    file_len: u64,
    sync_policy: SyncPolicy,
    capacity_bytes: usize,
    max_records: usize,
    records: VecDeque<(u64, Vec<u8>)>,
    live_bytes: usize,
    report: Option<(u64, Vec<u8>)>,
    drops: DropState,
    next_sequence: u64,
}

impl FileStorage {
    /// Opens or creates the log at `path`, replays it and truncates a torn
    /// end. The queue keeps at most `max_records` records and
    /// `capacity_bytes` bytes of record data.
    ///
    /// Fails with the I/O error of opening, reading, truncating or syncing.
    pub fn open(
        path: impl AsRef<Path>,
        capacity_bytes: usize,
        max_records: usize,
        sync_policy: SyncPolicy,
    ) -> io::Result<(Self, Recovery)> {
        let path = path.as_ref().to_path_buf();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        let mut log = Vec::new();
        file.read_to_end(&mut log)?;
        let mut storage = Self {
            path,
            file,
            file_len: 0,
            sync_policy,
            capacity_bytes,
            max_records,
            records: VecDeque::new(),
            live_bytes: 0,
            report: None,
            drops: DropState::default(),
            next_sequence: 0,
        };
        let valid = storage.replay(&log);
        let recovery = Recovery {
            records: storage.records.len(),
            discarded_bytes: (log.len() - valid) as u64,
        };
        if valid < log.len() {
            storage.file.set_len(valid as u64)?;
            storage.file.sync_all()?;
        }
        storage.file_len = valid as u64;
        // A log created just now exists after a power cut only once its
        // directory entry is on the medium.
        sync_directory(&storage.path)?;
        Ok((storage, recovery))
    }

    /// Applies the log's entries and returns the length of its valid prefix.
    fn replay(&mut self, log: &[u8]) -> usize {
        let mut at = 0usize;
        while let Some((kind, body, next)) = parse_entry(log, at) {
            let applied = match kind {
                KIND_RECORD => body
                    .split_first_chunk::<8>()
                    .is_some_and(|(sequence, record)| {
                        self.apply_record(u64::from_le_bytes(*sequence), record.to_vec());
                        true
                    }),
                KIND_REMOVE => match <[u8; 8]>::try_from(body) {
                    Ok(sequence) => {
                        self.apply_remove(u64::from_le_bytes(sequence));
                        true
                    }
                    Err(_) => false,
                },
                KIND_DROPS => self.apply_drops(body),
                _ => false,
            };
            if !applied {
                break;
            }
            at = next;
        }
        at
    }

    fn apply_record(&mut self, sequence: u64, record: Vec<u8>) {
        self.live_bytes += record.len();
        self.records.push_back((sequence, record));
        self.next_sequence = self.next_sequence.max(sequence.saturating_add(1));
    }

    fn apply_remove(&mut self, sequence: u64) -> usize {
        let mut removed = 0;
        while self
            .records
            .front()
            .is_some_and(|(first, _)| *first <= sequence)
        {
            if let Some((_, record)) = self.records.pop_front() {
                self.live_bytes -= record.len();
            }
            removed += 1;
        }
        self.next_sequence = self.next_sequence.max(sequence.saturating_add(1));
        removed
    }

    fn apply_drops(&mut self, body: &[u8]) -> bool {
        type Saved<'a> = (Option<(u64, &'a [u8])>, u64, palisade_schema::Header);
        match postcard::from_bytes::<Saved<'_>>(body) {
            Ok((report, pending, last_header)) => {
                if let Some((sequence, _)) = report {
                    self.next_sequence = self.next_sequence.max(sequence.saturating_add(1));
                }
                self.report = report.map(|(sequence, bytes)| (sequence, bytes.to_vec()));
                self.drops = DropState {
                    pending,
                    last_header,
                };
                true
            }
            Err(_) => false,
        }
    }

    /// Appends one entry to the log and syncs under [`SyncPolicy::EveryWrite`].
    fn append(&mut self, kind: u8, parts: &[&[u8]]) -> io::Result<()> {
        let body_len: usize = parts.iter().map(|part| part.len()).sum();
        let mut entry = Vec::with_capacity(ENTRY_OVERHEAD + body_len);
        entry.push(kind);
        entry.extend_from_slice(&(body_len as u32).to_le_bytes());
        for part in parts {
            entry.extend_from_slice(part);
        }
        let crc = crate::crc::checksum(&entry);
        entry.extend_from_slice(&crc.to_le_bytes());
        self.file.write_all(&entry)?;
        self.file_len += entry.len() as u64;
        if self.sync_policy == SyncPolicy::EveryWrite {
            self.file.sync_data()?;
        }
        Ok(())
    }

    fn drops_body(&self) -> io::Result<Vec<u8>> {
        let report = self
            .report
            .as_ref()
            .map(|(sequence, bytes)| (*sequence, bytes.as_slice()));
        let mut buffer = [0u8; DROPS_BODY_MAX];
        postcard::to_slice(
            &(report, self.drops.pending, self.drops.last_header),
            &mut buffer,
        )
        .map(|body| body.to_vec())
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
    }

    /// Flushes every write to the medium (`fsync`).
    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Rewrites the log with only the live entries when it has grown past
    /// twice the live data; see the module docs for the steps.
    fn compact_if_large(&mut self) -> io::Result<()> {
        let live = (self.live_bytes + self.records.len() * (ENTRY_OVERHEAD + 8)) as u64;
        if self.file_len < COMPACT_MIN || self.file_len < 2 * live {
            return Ok(());
        }
        let temporary = self.path.with_extension("tmp");
        let mut out = Vec::new();
        push_entry(&mut out, KIND_DROPS, &[&self.drops_body()?]);
        if self.next_sequence > 0 {
            push_entry(
                &mut out,
                KIND_REMOVE,
                &[&(self.next_sequence - 1).to_le_bytes()],
            );
        }
        for (sequence, record) in &self.records {
            push_entry(&mut out, KIND_RECORD, &[&sequence.to_le_bytes(), record]);
        }
        {
            let mut file = File::create(&temporary)?;
            file.write_all(&out)?;
            file.sync_all()?;
        }
        fs::rename(&temporary, &self.path)?;
        sync_directory(&self.path)?;
        self.file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&self.path)?;
        self.file_len = out.len() as u64;
        Ok(())
    }

    /// Path of the log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Current length of the log file in bytes.
    pub const fn file_len(&self) -> u64 {
        self.file_len
    }
}

/// Syncs the directory that contains `path`, so that a created or renamed
/// entry survives a power cut.
fn sync_directory(path: &Path) -> io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(directory)?.sync_all()
}

fn push_entry(out: &mut Vec<u8>, kind: u8, parts: &[&[u8]]) {
    let start = out.len();
    let body_len: usize = parts.iter().map(|part| part.len()).sum();
    out.push(kind);
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    for part in parts {
        out.extend_from_slice(part);
    }
    let crc = crate::crc::checksum(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Parses the entry at `at`: kind, body and the offset after it, or `None`
/// when it is incomplete, too long or fails its CRC.
fn parse_entry(log: &[u8], at: usize) -> Option<(u8, &[u8], usize)> {
    let rest = log.get(at..)?;
    let (&kind, after_kind) = rest.split_first()?;
    let (len, _) = after_kind.split_first_chunk::<4>()?;
    let len = u32::from_le_bytes(*len) as usize;
    if len > MAX_BODY.max(DROPS_BODY_MAX) {
        return None;
    }
    let covered = rest.get(..1 + 4 + len)?;
    let stored = rest.get(1 + 4 + len..ENTRY_OVERHEAD + len)?;
    let stored = u32::from_le_bytes(stored.try_into().ok()?);
    if crate::crc::checksum(covered) != stored {
        return None;
    }
    Some((kind, &covered[5..], at + ENTRY_OVERHEAD + len))
}

impl Storage for FileStorage {
    type Error = io::Error;

    fn len(&self) -> usize {
        self.records.len()
    }

    fn can_fit(&self, len: usize) -> bool {
        self.records.len() < self.max_records && self.live_bytes + len <= self.capacity_bytes
    }

    fn max_record_len(&self) -> usize {
        if self.max_records == 0 {
            0
        } else {
            self.capacity_bytes.min(palisade_schema::MAX_EVENT_LEN)
        }
    }

    fn push_back(&mut self, sequence: u64, record: &[u8]) -> io::Result<()> {
        if !self.can_fit(record.len()) {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "record does not fit the queue file's capacity; check can_fit first",
            ));
        }
        self.append(KIND_RECORD, &[&sequence.to_le_bytes(), record])?;
        self.apply_record(sequence, record.to_vec());
        Ok(())
    }

    fn get(&self, index: usize) -> Option<(u64, &[u8])> {
        self.records
            .get(index)
            .map(|(sequence, record)| (*sequence, record.as_slice()))
    }

    fn remove_through(&mut self, sequence: u64) -> io::Result<usize> {
        self.append(KIND_REMOVE, &[&sequence.to_le_bytes()])?;
        let removed = self.apply_remove(sequence);
        self.compact_if_large()?;
        Ok(removed)
    }

    fn report(&self) -> Option<(u64, &[u8])> {
        self.report
            .as_ref()
            .map(|(sequence, bytes)| (*sequence, bytes.as_slice()))
    }

    fn drop_state(&self) -> DropState {
        self.drops
    }

    fn save_drops(&mut self, report: ReportChange<'_>, state: DropState) -> io::Result<()> {
        let previous = (self.report.clone(), self.drops);
        match report {
            ReportChange::Keep => {}
            ReportChange::Clear => self.report = None,
            ReportChange::Set(sequence, bytes) => {
                self.report = Some((sequence, bytes.to_vec()));
                self.next_sequence = self.next_sequence.max(sequence.saturating_add(1));
            }
        }
        self.drops = state;
        let written = self
            .drops_body()
            .and_then(|body| self.append(KIND_DROPS, &[&body]));
        if written.is_err() {
            (self.report, self.drops) = previous;
            return written;
        }
        // A full queue under drop-newest appends one drop-state entry per
        // drop and removes nothing, so compaction must run here too.
        self.compact_if_large()
    }

    fn next_sequence(&self) -> u64 {
        self.next_sequence
    }
}
