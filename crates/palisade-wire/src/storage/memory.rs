//! Queue storage in fixed arrays, for RAM or as the model for a flash
//! implementation.

use palisade_schema::Header;

use crate::queue::{DropState, REPORT_MAX_LEN, ReportChange, Storage};

/// Position of one record in the byte ring.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    sequence: u64,
    offset: usize,
    len: usize,
}

/// Error of [`MemoryStorage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryStorageError {
    /// A record was pushed that does not fit; the queue checks
    /// [`Storage::can_fit`] first, so this means a caller skipped the check.
    #[error("record of {len} bytes does not fit the memory storage; check can_fit first")]
    Full {
        /// Length of the record.
        len: usize,
    },
    /// A report longer than [`REPORT_MAX_LEN`] bytes.
    #[error("drop report of {len} bytes exceeds {max} bytes")]
    ReportTooLong {
        /// Length of the report.
        len: usize,
        /// The maximum.
        max: usize,
    },
}

/// Queue storage in RAM: up to `RECORDS` records in a ring of `BYTES`
/// bytes, plus the drop report. No heap; contents are lost at reset.
///
/// Each record occupies a contiguous range of the ring; a record that does
/// not fit before the end of the ring starts again at offset 0, so up to
/// one record's length at the end can stay unused.
#[derive(Debug, Clone)]
pub struct MemoryStorage<const BYTES: usize, const RECORDS: usize> {
    bytes: [u8; BYTES],
    slots: [Slot; RECORDS],
    /// Index in `slots` of the oldest record.
    head: usize,
    count: usize,
    report: [u8; REPORT_MAX_LEN],
    report_len: usize,
    report_sequence: Option<u64>,
    drops: DropState,
    next_sequence: u64,
}

impl<const BYTES: usize, const RECORDS: usize> Default for MemoryStorage<BYTES, RECORDS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const BYTES: usize, const RECORDS: usize> MemoryStorage<BYTES, RECORDS> {
    /// Empty storage.
    pub const fn new() -> Self {
        Self {
            bytes: [0; BYTES],
            slots: [Slot {
                sequence: 0,
                offset: 0,
                len: 0,
            }; RECORDS],
            head: 0,
            count: 0,
            report: [0; REPORT_MAX_LEN],
            report_len: 0,
            report_sequence: None,
            drops: DropState {
                pending: 0,
                last_header: Header {
                    sequence: 0,
                    boot: 0,
                    uptime_ms: 0,
                    wall_clock: None,
                    severity: palisade_schema::Severity::Info,
                    hit_count: palisade_schema::HitCount::ONE,
                    window_ms: 0,
                },
            },
            next_sequence: 0,
        }
    }

    fn slot(&self, index: usize) -> Option<&Slot> {
        if index < self.count {
            self.slots.get((self.head + index) % RECORDS)
        } else {
            None
        }
    }

    /// Offset at which a record of `len` bytes would be written, if it fits.
    fn place(&self, len: usize) -> Option<usize> {
        if self.count == RECORDS || len > BYTES {
            return None;
        }
        let (Some(front), Some(back)) = (self.slot(0), self.slot(self.count.wrapping_sub(1)))
        else {
            return Some(0);
        };
        let back_end = back.offset + back.len;
        if back.offset >= front.offset {
            // Records occupy [front, back_end): free space after, then before.
            if back_end + len <= BYTES {
                Some(back_end)
            } else if len <= front.offset {
                Some(0)
            } else {
                None
            }
        } else if back_end + len <= front.offset {
            // Wrapped: free space is [back_end, front).
            Some(back_end)
        } else {
            None
        }
    }
}

impl<const BYTES: usize, const RECORDS: usize> Storage for MemoryStorage<BYTES, RECORDS> {
    type Error = MemoryStorageError;

    fn len(&self) -> usize {
        self.count
    }

    fn can_fit(&self, len: usize) -> bool {
        self.place(len).is_some()
    }

    fn max_record_len(&self) -> usize {
        if RECORDS == 0 { 0 } else { BYTES }
    }

    fn push_back(&mut self, sequence: u64, record: &[u8]) -> Result<(), Self::Error> {
        let offset = self
            .place(record.len())
            .ok_or(MemoryStorageError::Full { len: record.len() })?;
        self.bytes[offset..offset + record.len()].copy_from_slice(record);
        let index = (self.head + self.count) % RECORDS;
        self.slots[index] = Slot {
            sequence,
            offset,
            len: record.len(),
        };
        self.count += 1;
        self.next_sequence = self.next_sequence.max(sequence.saturating_add(1));
        Ok(())
    }

    fn get(&self, index: usize) -> Option<(u64, &[u8])> {
        let slot = self.slot(index)?;
        Some((
            slot.sequence,
            &self.bytes[slot.offset..slot.offset + slot.len],
        ))
    }

    fn remove_through(&mut self, sequence: u64) -> Result<usize, Self::Error> {
        let mut removed = 0;
        while let Some(slot) = self.slot(0) {
            if slot.sequence > sequence {
                break;
            }
            self.head = (self.head + 1) % RECORDS;
            self.count -= 1;
            removed += 1;
        }
        if self.count == 0 {
            self.head = 0;
        }
        self.next_sequence = self.next_sequence.max(sequence.saturating_add(1));
        Ok(removed)
    }

    fn report(&self) -> Option<(u64, &[u8])> {
        self.report_sequence
            .map(|sequence| (sequence, &self.report[..self.report_len]))
    }

    fn drop_state(&self) -> DropState {
        self.drops
    }

    fn save_drops(
        &mut self,
        report: ReportChange<'_>,
        state: DropState,
    ) -> Result<(), Self::Error> {
        match report {
            ReportChange::Keep => {}
            ReportChange::Clear => self.report_sequence = None,
            ReportChange::Set(sequence, bytes) => {
                if bytes.len() > REPORT_MAX_LEN {
                    return Err(MemoryStorageError::ReportTooLong {
                        len: bytes.len(),
                        max: REPORT_MAX_LEN,
                    });
                }
                self.report[..bytes.len()].copy_from_slice(bytes);
                self.report_len = bytes.len();
                self.report_sequence = Some(sequence);
                self.next_sequence = self.next_sequence.max(sequence.saturating_add(1));
            }
        }
        self.drops = state;
        Ok(())
    }

    fn next_sequence(&self) -> u64 {
        self.next_sequence
    }
}
