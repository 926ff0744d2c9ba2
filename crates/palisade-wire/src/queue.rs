//! The store-and-forward queue: encoded events kept until the gateway
//! acknowledges them.
//!
//! A [`Queue`] numbers every record with a queue sequence number and keeps
//! it in a [`Storage`] until [`Queue::ack`] removes every record up to a
//! number. When the storage is full, the [`OverflowPolicy`] drops the
//! oldest record or the new one, and every drop is counted into one
//! events-dropped record (reason `QueueFull`) that lives outside the
//! record ring, so that it is never dropped itself.
//!
//! The drop report works like this: the first drop creates the report with
//! its own sequence number and the header of the dropped event, so that
//! the lost event's sequence number is accounted for at the gateway. Drops that
//! happen while that report waits for its acknowledgement are counted as
//! pending; the acknowledgement of the report turns the pending count into
//! the next report. Report and pending count are saved to storage with each
//! change, in one write.
//!
//! Storage: [`MemoryStorage`](crate::MemoryStorage) (fixed arrays, no heap)
//! and, with the `std` feature, `FileStorage`, which
//! survives a crash and a power cut.

use palisade_schema::{
    DropReason, Event, EventBody, EventsDropped, Header, MAX_EVENT_LEN, Severity,
};

/// Largest encoding of an events-dropped event: 48 bytes of header at their
/// largest varints, 12 of body, rounded up.
pub const REPORT_MAX_LEN: usize = 64;

/// The drop counter kept next to the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DropState {
    /// Drops counted while a report waits for its acknowledgement.
    pub pending: u64,
    /// Header of the most recently dropped event, for the next report.
    pub last_header: Header,
}

/// A change to the stored drop report, saved together with a [`DropState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportChange<'r> {
    /// Keep the report as it is.
    Keep,
    /// Remove the report (it was acknowledged).
    Clear,
    /// Store this report (queue sequence number and encoded event).
    Set(u64, &'r [u8]),
}

/// Backing store of a [`Queue`]: a ring of `(sequence, bytes)`
/// records in sequence order, one report slot and the drop state.
///
/// An implementation for flash or a file must make each call durable as
/// its documentation states, and return records exactly as they were pushed.
pub trait Storage {
    /// Error of the underlying medium.
    type Error: core::fmt::Debug + core::fmt::Display;

    /// Number of records in the ring (not counting the report).
    fn len(&self) -> usize;

    /// Returns whether the ring is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns whether a record of `len` bytes fits now.
    fn can_fit(&self, len: usize) -> bool;

    /// Largest record that fits into an empty ring.
    fn max_record_len(&self) -> usize;

    /// Appends a record. Called only after [`can_fit`](Self::can_fit)
    /// returned true, with a sequence number above every stored one.
    fn push_back(&mut self, sequence: u64, record: &[u8]) -> Result<(), Self::Error>;

    /// Returns the record at `index` from the oldest, with its sequence number.
    fn get(&self, index: usize) -> Option<(u64, &[u8])>;

    /// Removes every record with a sequence number up to `sequence` from
    /// the front, and returns how many it removed.
    fn remove_through(&mut self, sequence: u64) -> Result<usize, Self::Error>;

    /// Returns the drop report, if one is stored.
    fn report(&self) -> Option<(u64, &[u8])>;

    /// Returns the drop counter.
    fn drop_state(&self) -> DropState;

    /// Changes the report and the drop counter in one durable step.
    fn save_drops(&mut self, report: ReportChange<'_>, state: DropState)
    -> Result<(), Self::Error>;

    /// Returns one above the highest sequence number ever stored or removed, so
    /// that numbers stay unique across a restart. 0 for new storage.
    fn next_sequence(&self) -> u64;
}

/// Which record a full queue drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OverflowPolicy {
    /// Drop the oldest records until the new one fits: recent events matter
    /// more (the default for security events).
    DropOldest,
    /// Drop the new record: the first events of an incident matter more.
    DropNewest,
}

/// Outcome of [`Queue::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pushed {
    /// Stored under this sequence number.
    Stored {
        /// Queue sequence number of the record.
        sequence: u64,
    },
    /// Stored after dropping `dropped` older records.
    StoredAfterDrop {
        /// Queue sequence number of the record.
        sequence: u64,
        /// How many older records were dropped and counted.
        dropped: usize,
    },
    /// Not stored: the queue was full under [`OverflowPolicy::DropNewest`],
    /// or the record is larger than the storage. Counted.
    Dropped,
}

/// Error of a [`Queue`] operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError<E> {
    /// The storage failed; the operation may be partly done (see the
    /// storage's documentation).
    #[error("queue storage failed: {0}")]
    Storage(E),
    /// A record given to [`Queue::push_encoded`] does not start with a
    /// valid event header.
    #[error("record does not start with a valid event header: {0}")]
    InvalidRecord(palisade_schema::DecodeError),
    /// A record given to [`Queue::push_encoded`] is empty or longer than
    /// `MAX_EVENT_LEN`.
    #[error("record of {len} bytes is empty or longer than MAX_EVENT_LEN")]
    InvalidLength {
        /// Length of the record.
        len: usize,
    },
    /// An acknowledgement names a sequence number this queue never issued.
    #[error(
        "acknowledged sequence number {sequence} was never issued (next is {next}); the peer is out of step"
    )]
    NotIssued {
        /// The acknowledged sequence number.
        sequence: u64,
        /// The sequence number the next record gets.
        next: u64,
    },
}

/// A store-and-forward queue of encoded events; see the [module docs](self).
#[derive(Debug)]
pub struct Queue<S> {
    storage: S,
    policy: OverflowPolicy,
    next_sequence: u64,
    dropped_total: u64,
}

impl<S: Storage> Queue<S> {
    /// Creates a queue over `storage` that continues its sequence numbers.
    pub fn new(storage: S, policy: OverflowPolicy) -> Self {
        let next_sequence = storage.next_sequence();
        Self {
            storage,
            policy,
            next_sequence,
            dropped_total: 0,
        }
    }

    /// Encodes `event` and stores it, dropping under the overflow policy
    /// when the storage is full.
    ///
    /// Fails only when the storage fails.
    pub fn push(&mut self, event: &Event<'_>) -> Result<Pushed, QueueError<S::Error>> {
        let mut buffer = [0u8; MAX_EVENT_LEN];
        match postcard::to_slice(event, &mut buffer) {
            Ok(record) => {
                let len = record.len();
                self.store(&buffer[..len], &event.header)
            }
            // An event always fits MAX_EVENT_LEN; this only runs if the
            // schema breaks that bound. Count it rather than lose it.
            Err(_) => {
                self.count_drops(1, &event.header)?;
                Ok(Pushed::Dropped)
            }
        }
    }

    /// Stores an event that is already postcard-encoded.
    ///
    /// Fails with [`QueueError::InvalidLength`] or
    /// [`QueueError::InvalidRecord`] when `record` is not an encoded event
    /// (its header is checked, the body is not), and when storage fails.
    pub fn push_encoded(&mut self, record: &[u8]) -> Result<Pushed, QueueError<S::Error>> {
        if record.is_empty() || record.len() > MAX_EVENT_LEN {
            return Err(QueueError::InvalidLength { len: record.len() });
        }
        let (header, _) = palisade_schema::take_from_bytes::<Header>(record)
            .map_err(QueueError::InvalidRecord)?;
        self.store(record, &header)
    }

    fn store(&mut self, record: &[u8], header: &Header) -> Result<Pushed, QueueError<S::Error>> {
        if record.len() > self.storage.max_record_len() {
            self.count_drops(1, header)?;
            return Ok(Pushed::Dropped);
        }
        let mut dropped = 0usize;
        let mut last_dropped = *header;
        while !self.storage.can_fit(record.len()) {
            let oldest = match self.policy {
                OverflowPolicy::DropNewest => None,
                OverflowPolicy::DropOldest => self.storage.get(0).map(|(sequence, bytes)| {
                    let header = palisade_schema::take_from_bytes::<Header>(bytes)
                        .map(|(header, _)| header)
                        .unwrap_or(*header);
                    (sequence, header)
                }),
            };
            let Some((sequence, header_of_oldest)) = oldest else {
                self.count_drops(1, header)?;
                return Ok(Pushed::Dropped);
            };
            let removed = self
                .storage
                .remove_through(sequence)
                .map_err(QueueError::Storage)?;
            if removed == 0 {
                // A storage that removes nothing would loop forever here.
                self.count_drops(1, header)?;
                return Ok(Pushed::Dropped);
            }
            dropped += removed;
            last_dropped = header_of_oldest;
        }
        if dropped > 0 {
            self.count_drops(dropped as u64, &last_dropped)?;
        }
        let sequence = self.next_sequence;
        self.storage
            .push_back(sequence, record)
            .map_err(QueueError::Storage)?;
        self.next_sequence = self.next_sequence.saturating_add(1);
        Ok(if dropped > 0 {
            Pushed::StoredAfterDrop { sequence, dropped }
        } else {
            Pushed::Stored { sequence }
        })
    }

    /// Counts `count` dropped events, the last with header `header`.
    fn count_drops(&mut self, count: u64, header: &Header) -> Result<(), QueueError<S::Error>> {
        self.dropped_total = self.dropped_total.saturating_add(count);
        let state = self.storage.drop_state();
        let next = DropState {
            pending: state.pending.saturating_add(count),
            last_header: *header,
        };
        if self.storage.report().is_some() {
            return self
                .storage
                .save_drops(ReportChange::Keep, next)
                .map_err(QueueError::Storage);
        }
        self.issue_report(next)
    }

    /// Turns the pending count of `state` into a new stored report.
    fn issue_report(&mut self, state: DropState) -> Result<(), QueueError<S::Error>> {
        let mut buffer = [0u8; REPORT_MAX_LEN];
        let len = encode_report(&state, &mut buffer);
        let sequence = self.next_sequence;
        let cleared = DropState {
            pending: 0,
            last_header: state.last_header,
        };
        self.storage
            .save_drops(ReportChange::Set(sequence, &buffer[..len]), cleared)
            .map_err(QueueError::Storage)?;
        self.next_sequence = self.next_sequence.saturating_add(1);
        Ok(())
    }

    /// Removes every record, and the drop report, with a sequence number
    /// up to `sequence`, and returns how many it removed. Drops counted
    /// while the report waited become the next report.
    ///
    /// Fails with [`QueueError::NotIssued`], removing nothing, when
    /// `sequence` is not below [`next_sequence`](Self::next_sequence), and
    /// with [`QueueError::Storage`] when storage fails.
    pub fn ack(&mut self, sequence: u64) -> Result<usize, QueueError<S::Error>> {
        if sequence >= self.next_sequence {
            return Err(QueueError::NotIssued {
                sequence,
                next: self.next_sequence,
            });
        }
        let mut removed = self
            .storage
            .remove_through(sequence)
            .map_err(QueueError::Storage)?;
        let report_acked = self
            .storage
            .report()
            .is_some_and(|(report_sequence, _)| report_sequence <= sequence);
        if report_acked {
            removed += 1;
            let state = self.storage.drop_state();
            if state.pending > 0 {
                self.issue_report(state)?;
            } else {
                self.storage
                    .save_drops(ReportChange::Clear, state)
                    .map_err(QueueError::Storage)?;
            }
        }
        Ok(removed)
    }

    /// Number of records waiting, including the drop report.
    pub fn len(&self) -> usize {
        self.storage.len() + usize::from(self.storage.report().is_some())
    }

    /// Returns whether no record waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns the waiting record with the lowest sequence number.
    pub fn front(&self) -> Option<(u64, &[u8])> {
        self.iter().next()
    }

    /// Iterates over the waiting records, each an encoded event with its queue sequence
    /// number, in sequence order (the drop report in its place).
    pub fn iter(&self) -> QueueIter<'_, S> {
        QueueIter {
            storage: &self.storage,
            index: 0,
            report: self.storage.report(),
        }
    }

    /// Events dropped since this queue was made.
    pub const fn dropped_total(&self) -> u64 {
        self.dropped_total
    }

    /// Drops counted but not yet in a stored report.
    pub fn pending_drops(&self) -> u64 {
        self.storage.drop_state().pending
    }

    /// Sequence number the next record gets.
    pub const fn next_sequence(&self) -> u64 {
        self.next_sequence
    }

    /// The storage.
    pub const fn storage(&self) -> &S {
        &self.storage
    }

    /// Returns the storage.
    pub fn into_storage(self) -> S {
        self.storage
    }
}

/// Iterator over the waiting records of a [`Queue`].
#[derive(Debug)]
pub struct QueueIter<'q, S> {
    storage: &'q S,
    index: usize,
    report: Option<(u64, &'q [u8])>,
}

impl<'q, S: Storage> Iterator for QueueIter<'q, S> {
    type Item = (u64, &'q [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let record = self.storage.get(self.index);
        match (record, self.report) {
            (Some((sequence, _)), Some(report)) if report.0 < sequence => {
                self.report = None;
                Some(report)
            }
            (Some(record), _) => {
                self.index += 1;
                Some(record)
            }
            (None, report) => {
                self.report = None;
                report
            }
        }
    }
}

/// Encodes the events-dropped report for `state` and returns its length.
fn encode_report(state: &DropState, buffer: &mut [u8; REPORT_MAX_LEN]) -> usize {
    let mut header = state.last_header;
    header.hit_count = palisade_schema::HitCount::ONE;
    header.window_ms = 0;
    header.severity = header.severity.max(Severity::Low);
    let report = Event {
        header,
        body: EventBody::EventsDropped(EventsDropped {
            count: state.pending,
            reason: DropReason::QueueFull,
        }),
    };
    // REPORT_MAX_LEN bounds this encoding; the `report_fits_bound` test
    // encodes the largest values.
    postcard::to_slice(&report, buffer)
        .map(|bytes| bytes.len())
        .unwrap_or(0)
}
