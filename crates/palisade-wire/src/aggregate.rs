//! Merging identical events within a time window into one event with a hit
//! count.
//!
//! A device that logs a failed login 500 times a minute, or a process that
//! restarts in a loop, should cost one event per window, not 500. The
//! [`Aggregator`] keeps up to `SLOTS` distinct events, each encoded into a
//! slot of `SLOT_BYTES` bytes, and merges every identical event that arrives
//! within the window into the stored one. What counts as identical:
//!
//! | kind | identity |
//! |---|---|
//! | process started | executable, command line and uid |
//! | network connection | protocol, local and remote address and port (the 5-tuple) |
//! | login | user, source address and action (login, logout, failed, invalid user) |
//!
//! Other kinds pass through unchanged. A merged event keeps the header and
//! body of its first occurrence, with the hit count, the window length, the
//! highest severity seen and, for connections, the summed byte counters.
//!
//! Overflow never loses silently: [`Overflow::FlushOldest`] emits the oldest
//! entry early to make room, and [`Overflow::DropNew`] drops the new event
//! and counts it into an events-dropped event (reason
//! `AggregationOverflow`) emitted at the next flush.

use palisade_schema::{
    DropReason, Event, EventBody, EventsDropped, Header, HitCount, Login, NetworkConnection,
    ProcessStarted, Severity,
};

/// Policy for a new distinct event that finds every slot taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Overflow {
    /// Emit the entry with the oldest first occurrence now and reuse its slot.
    FlushOldest,
    /// Drop the new event and count it into an events-dropped event.
    DropNew,
}

/// Outcome of [`Aggregator::push`] for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Admission {
    /// Merged into a stored event with the same identity.
    Merged,
    /// Stored in a free slot as the first occurrence.
    Stored,
    /// Stored after the oldest entry was emitted to free its slot.
    StoredAfterFlush,
    /// Emitted at once: the kind is not aggregated, or its encoding is
    /// larger than a slot.
    PassedThrough,
    /// Dropped because every slot was taken; counted into the next
    /// events-dropped event.
    Dropped,
}

/// One stored event and its counters.
#[derive(Debug, Clone)]
struct Slot<const SLOT_BYTES: usize> {
    used: bool,
    key: u64,
    first_ms: u64,
    hits: HitCount,
    /// At least one event was merged into the first occurrence.
    merged: bool,
    severity: Severity,
    bytes_in: u64,
    bytes_out: u64,
    len: usize,
    bytes: [u8; SLOT_BYTES],
}

impl<const SLOT_BYTES: usize> Slot<SLOT_BYTES> {
    const EMPTY: Self = Self {
        used: false,
        key: 0,
        first_ms: 0,
        hits: HitCount::ONE,
        merged: false,
        severity: Severity::Info,
        bytes_in: 0,
        bytes_out: 0,
        len: 0,
        bytes: [0; SLOT_BYTES],
    };
}

/// Merges identical events within a window; see the [module docs](self).
///
/// `SLOTS` distinct events are kept at once, each in `SLOT_BYTES` bytes of
/// postcard encoding. With `SLOT_BYTES` of
/// [`MAX_EVENT_LEN`](palisade_schema::MAX_EVENT_LEN) every event can be
/// aggregated; a smaller slot saves memory and lets larger events pass
/// through unaggregated. Memory use is about `SLOTS * (SLOT_BYTES + 64)`
/// bytes, with no heap.
#[derive(Debug, Clone)]
pub struct Aggregator<const SLOTS: usize, const SLOT_BYTES: usize> {
    window_ms: u32,
    overflow: Overflow,
    slots: [Slot<SLOT_BYTES>; SLOTS],
    /// Events dropped on overflow since the last flush.
    lost: u64,
    /// Header of the most recent dropped event, reused by the report.
    lost_header: Header,
    lost_total: u64,
}

impl<const SLOTS: usize, const SLOT_BYTES: usize> Aggregator<SLOTS, SLOT_BYTES> {
    /// Creates an empty aggregator that merges identical events arriving less than
    /// `window_ms` milliseconds after the first one.
    pub const fn new(window_ms: u32, overflow: Overflow) -> Self {
        Self {
            window_ms,
            overflow,
            slots: [const { Slot::EMPTY }; SLOTS],
            lost: 0,
            lost_header: Header {
                sequence: 0,
                boot: 0,
                uptime_ms: 0,
                wall_clock: None,
                severity: Severity::Low,
                hit_count: HitCount::ONE,
                window_ms: 0,
            },
            lost_total: 0,
        }
    }

    /// Returns the number of stored entries.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|slot| slot.used).count()
    }

    /// Returns whether no entry is stored.
    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(|slot| !slot.used)
    }

    /// Events dropped on overflow since this aggregator was made.
    pub const fn dropped_total(&self) -> u64 {
        self.lost_total
    }

    /// Takes `event`, seen at `now_ms` (milliseconds on a monotonic clock,
    /// such as uptime), and returns what happened to it.
    ///
    /// `emit` receives every event that leaves the aggregator during this
    /// call: the event itself when it passes through, an expired entry with
    /// the same identity, or the oldest entry under
    /// [`Overflow::FlushOldest`].
    pub fn push(
        &mut self,
        event: &Event<'_>,
        now_ms: u64,
        emit: &mut impl FnMut(&Event<'_>),
    ) -> Admission {
        let Some(key) = identity_hash(event) else {
            emit(event);
            return Admission::PassedThrough;
        };
        if let Some(index) = self.find(key, event) {
            let slot = &self.slots[index];
            if now_ms.saturating_sub(slot.first_ms) < u64::from(self.window_ms) {
                self.merge(index, event);
                return Admission::Merged;
            }
            self.emit_slot(index, emit);
        }
        let (index, admission) = match self.slots.iter().position(|slot| !slot.used) {
            Some(index) => (index, Admission::Stored),
            None => match self.overflow {
                Overflow::FlushOldest => {
                    // No slot is free, so at least one is used (unless
                    // SLOTS is 0, where the event passes through).
                    let Some(index) = self.oldest() else {
                        emit(event);
                        return Admission::PassedThrough;
                    };
                    self.emit_slot(index, emit);
                    (index, Admission::StoredAfterFlush)
                }
                Overflow::DropNew => {
                    self.lost = self.lost.saturating_add(1);
                    self.lost_total = self.lost_total.saturating_add(1);
                    self.lost_header = event.header;
                    return Admission::Dropped;
                }
            },
        };
        let slot = &mut self.slots[index];
        match postcard::to_slice(event, &mut slot.bytes) {
            Ok(written) => {
                slot.len = written.len();
                slot.used = true;
                slot.key = key;
                slot.first_ms = now_ms;
                slot.hits = event.header.hit_count;
                slot.merged = false;
                slot.severity = event.header.severity;
                (slot.bytes_in, slot.bytes_out) = match &event.body {
                    EventBody::NetworkConnection(connection) => {
                        (connection.bytes_in, connection.bytes_out)
                    }
                    _ => (0, 0),
                };
                admission
            }
            Err(_) => {
                emit(event);
                Admission::PassedThrough
            }
        }
    }

    /// Emits the pending events-dropped report and every entry whose window
    /// has ended at `now_ms`, and frees their slots.
    pub fn flush_expired(&mut self, now_ms: u64, emit: &mut impl FnMut(&Event<'_>)) {
        self.emit_lost(emit);
        for index in 0..SLOTS {
            let slot = &self.slots[index];
            if slot.used && now_ms.saturating_sub(slot.first_ms) >= u64::from(self.window_ms) {
                self.emit_slot(index, emit);
            }
        }
    }

    /// Emits the pending events-dropped report and every entry, oldest
    /// first, and frees all slots (for shutdown or before a reboot).
    pub fn flush_all(&mut self, emit: &mut impl FnMut(&Event<'_>)) {
        self.emit_lost(emit);
        while let Some(index) = self.oldest() {
            self.emit_slot(index, emit);
        }
    }

    fn emit_lost(&mut self, emit: &mut impl FnMut(&Event<'_>)) {
        if self.lost == 0 {
            return;
        }
        let mut header = self.lost_header;
        header.hit_count = HitCount::ONE;
        header.window_ms = 0;
        header.severity = header.severity.max(Severity::Low);
        let report = Event {
            header,
            body: EventBody::EventsDropped(EventsDropped {
                count: self.lost,
                reason: DropReason::AggregationOverflow,
            }),
        };
        emit(&report);
        self.lost = 0;
    }

    /// Index of the used slot with the oldest first occurrence, if any slot
    /// is used.
    fn oldest(&self) -> Option<usize> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.used)
            .min_by_key(|(_, slot)| slot.first_ms)
            .map(|(index, _)| index)
    }

    fn find(&self, key: u64, event: &Event<'_>) -> Option<usize> {
        self.slots.iter().position(|slot| {
            slot.used
                && slot.key == key
                && palisade_schema::from_bytes::<Event<'_>>(&slot.bytes[..slot.len])
                    .is_ok_and(|stored| same_identity(&stored, event))
        })
    }

    fn merge(&mut self, index: usize, event: &Event<'_>) {
        let slot = &mut self.slots[index];
        slot.hits = slot.hits.saturating_add(event.header.hit_count.get());
        slot.merged = true;
        slot.severity = slot.severity.max(event.header.severity);
        if let EventBody::NetworkConnection(connection) = &event.body {
            slot.bytes_in = slot.bytes_in.saturating_add(connection.bytes_in);
            slot.bytes_out = slot.bytes_out.saturating_add(connection.bytes_out);
        }
    }

    fn emit_slot(&mut self, index: usize, emit: &mut impl FnMut(&Event<'_>)) {
        let window_ms = self.window_ms;
        let slot = &mut self.slots[index];
        slot.used = false;
        // The slot contains bytes this aggregator encoded, so decoding fails
        // only if the schema changed under it, and then nothing can be emitted.
        let Ok(mut event) = palisade_schema::from_bytes::<Event<'_>>(&slot.bytes[..slot.len])
        else {
            return;
        };
        event.header.hit_count = slot.hits;
        event.header.severity = slot.severity;
        if slot.merged {
            event.header.window_ms = window_ms;
        }
        if let EventBody::NetworkConnection(connection) = &mut event.body {
            connection.bytes_in = slot.bytes_in;
            connection.bytes_out = slot.bytes_out;
        }
        emit(&event);
    }
}

/// FNV-1a, 64-bit: a small, fast hash for slot lookup. Equality is checked
/// on the decoded fields after a hash match, so collisions cost time only.
struct Fnv(u64);

impl Fnv {
    const fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn write_str(&mut self, text: &str) {
        self.write(&(text.len() as u64).to_le_bytes());
        self.write(text.as_bytes());
    }

    fn write_value<T: serde::Serialize>(&mut self, value: &T) {
        let mut buffer = [0u8; 40];
        if let Ok(bytes) = postcard::to_slice(value, &mut buffer) {
            self.write(bytes);
        }
    }
}

/// Hash of the identity of an aggregated kind, or `None` for other kinds.
fn identity_hash(event: &Event<'_>) -> Option<u64> {
    let mut hash = Fnv::new();
    hash.write(&[event.kind().tag()]);
    match &event.body {
        EventBody::ProcessStarted(ProcessStarted {
            executable,
            command_line,
            uid,
            ..
        }) => {
            hash.write_str(executable);
            hash.write_str(command_line);
            hash.write(&uid.to_le_bytes());
        }
        EventBody::NetworkConnection(NetworkConnection {
            protocol,
            local,
            remote,
            ..
        }) => {
            hash.write_value(&(protocol, local, remote));
        }
        EventBody::Login(Login {
            user,
            source,
            action,
            ..
        }) => {
            hash.write_str(user);
            hash.write_value(&(source, action));
        }
        _ => return None,
    }
    Some(hash.0)
}

fn same_identity(stored: &Event<'_>, new: &Event<'_>) -> bool {
    match (&stored.body, &new.body) {
        (EventBody::ProcessStarted(a), EventBody::ProcessStarted(b)) => {
            a.executable == b.executable && a.command_line == b.command_line && a.uid == b.uid
        }
        (EventBody::NetworkConnection(a), EventBody::NetworkConnection(b)) => {
            a.protocol == b.protocol && a.local == b.local && a.remote == b.remote
        }
        (EventBody::Login(a), EventBody::Login(b)) => {
            a.user == b.user && a.source == b.source && a.action == b.action
        }
        _ => false,
    }
}
