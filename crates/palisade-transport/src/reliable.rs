//! Reliable delivery without I/O: acknowledgements by record sequence number,
//! retransmission after a timeout, de-duplication with a bounded window, and
//! credit-based flow control.
//!
//! The [`Sender`] runs on the device next to its store-and-forward queue, and
//! the [`Receiver`] runs on the gateway, one per device id. Neither touches a
//! link or a clock: the caller passes the time in milliseconds (any monotonic
//! clock) and moves the [`message`](crate::message) bytes itself. That keeps
//! the logic testable with a simulated clock and usable from blocking,
//! async and firmware code alike.
//!
//! Delivery contract: every record the sender registers is retransmitted
//! until an acknowledgement covers it, and the receiver hands each
//! (boot, sequence) pair to the application at most once while its window
//! state lives. Together: exactly once per receiver lifetime. After a gateway
//! restart the receiver state is empty, so a record that was stored but whose
//! acknowledgement was lost arrives again; the gateway's durable store needs
//! a unique key on (device id, boot, sequence), or it restores the window
//! with [`Receiver::restore`].

use crate::WINDOW;
use crate::message::{Ack, DataHeader};

/// Timing and flow-control settings of a [`Sender`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderConfig {
    /// Retransmission timeout after the first transmission, in milliseconds.
    pub initial_rto_ms: u32,
    /// Upper bound of the retransmission timeout, which doubles per attempt.
    pub max_rto_ms: u32,
    /// Records the sender may have in flight before the first acknowledgement
    /// of a connection grants credit (at most [`WINDOW`]).
    pub initial_credit: u16,
}

impl Default for SenderConfig {
    fn default() -> Self {
        Self {
            initial_rto_ms: 1_000,
            max_rto_ms: 30_000,
            initial_credit: 8,
        }
    }
}

/// Error returned by [`Sender::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// All slots hold unacknowledged records.
    #[error("sender window full with {capacity} unacknowledged records; wait for acknowledgements")]
    Full {
        /// Capacity of the sender.
        capacity: usize,
    },
    /// The sequence number does not increase.
    #[error("record sequence number {seq} is not above the last registered {last}")]
    NotIncreasing {
        /// The sequence number passed in.
        seq: u64,
        /// The highest sequence number registered before.
        last: u64,
    },
}

/// Transmission that [`Sender::poll_transmit`] requests from the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Header to put in front of the record bytes.
    pub header: DataHeader,
    /// 1 for the first transmission, 2 or more for retransmissions.
    pub attempt: u32,
}

/// Counters of a [`Sender`]; nothing is dropped silently.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SenderStats {
    /// DATA messages handed out, first transmissions and retransmissions.
    pub transmitted: u64,
    /// Of those, retransmissions.
    pub retransmitted: u64,
    /// Records acknowledged.
    pub acknowledged: u64,
    /// Acknowledgements for another boot, ignored.
    pub foreign_acks: u64,
    /// Connections lost ([`Sender::on_disconnect`] calls).
    pub disconnects: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    /// Not sent on the current connection.
    Unsent,
    /// Sent; retransmit at `deadline` unless acknowledged.
    InFlight { deadline: u64, rto: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    seq: u64,
    attempts: u32,
    state: SlotState,
}

const EMPTY_SLOT: Slot = Slot {
    seq: 0,
    attempts: 0,
    state: SlotState::Unsent,
};

/// Sending half of reliable delivery, tracking up to `N` unacknowledged
/// records.
///
/// The records themselves stay in the caller's store-and-forward queue; the
/// sender keeps only their sequence numbers and timers. A record is sent
/// when it lies below the receiver's credit limit and inside the receive
/// window ([`WINDOW`] records from the oldest unacknowledged one). When the
/// credit is used up and nothing is in flight, the oldest record goes out as
/// a probe one retransmission timeout later, so a lost credit update cannot
/// stall the link.
#[derive(Debug, Clone)]
pub struct Sender<const N: usize> {
    boot: u32,
    slots: [Slot; N],
    len: usize,
    /// Lowest sequence number that may still be registered.
    next_seq: u64,
    /// Highest `next` seen in an acknowledgement of this connection.
    peer_next: u64,
    /// Records below this sequence number may be sent.
    peer_limit: u64,
    /// When the sender found itself blocked by zero credit with nothing in
    /// flight; a probe goes out one retransmission timeout later.
    blocked_since: Option<u64>,
    config: SenderConfig,
    stats: SenderStats,
}

impl<const N: usize> Sender<N> {
    /// Creates a sender for boot `boot` whose first record will have
    /// sequence number `first_seq` or above.
    pub fn new(boot: u32, first_seq: u64, config: SenderConfig) -> Self {
        let mut config = config;
        config.initial_credit = config.initial_credit.min(WINDOW as u16);
        config.initial_rto_ms = config.initial_rto_ms.max(1);
        config.max_rto_ms = config.max_rto_ms.max(config.initial_rto_ms);
        Self {
            boot,
            slots: [EMPTY_SLOT; N],
            len: 0,
            next_seq: first_seq,
            peer_next: first_seq,
            peer_limit: first_seq.saturating_add(u64::from(config.initial_credit)),
            blocked_since: None,
            config,
            stats: SenderStats::default(),
        }
    }

    /// Boot counter this sender puts into every DATA header.
    pub fn boot(&self) -> u32 {
        self.boot
    }

    /// Registers record `seq` of the caller's queue for delivery. Sequence
    /// numbers must increase; gaps are allowed.
    pub fn push(&mut self, seq: u64) -> Result<(), PushError> {
        if self.len == N {
            return Err(PushError::Full { capacity: N });
        }
        if seq < self.next_seq {
            return Err(PushError::NotIncreasing {
                seq,
                last: self.next_seq.saturating_sub(1),
            });
        }
        self.slots[self.len] = Slot {
            seq,
            attempts: 0,
            state: SlotState::Unsent,
        };
        self.len += 1;
        self.next_seq = seq.saturating_add(1);
        Ok(())
    }

    /// Number of registered records not yet acknowledged.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Returns whether every registered record was acknowledged.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Returns whether [`push`](Self::push) would fail for lack of room.
    pub fn is_full(&self) -> bool {
        self.len == N
    }

    /// Lowest unacknowledged sequence number, or the next one to be
    /// registered when everything is acknowledged. Every record below it is
    /// acknowledged, so a queue that acknowledges cumulatively (such as
    /// palisade-wire's `Queue::ack`) can release everything through
    /// `base() - 1` after [`on_ack`](Self::on_ack).
    pub fn base(&self) -> u64 {
        if self.len == 0 {
            self.next_seq
        } else {
            self.slots[0].seq
        }
    }

    /// Counters since creation.
    pub fn stats(&self) -> SenderStats {
        self.stats
    }

    /// Returns the next record to send at time `now_ms`, if any, and starts
    /// its retransmission timer. Call until it returns `None`, sending each
    /// record (looked up by `header.seq` in the queue) as it comes.
    pub fn poll_transmit(&mut self, now_ms: u64) -> Option<Transmit> {
        let base = self.base();
        let window_end = base.saturating_add(WINDOW);
        let probe_due = self.probe_due(now_ms);
        for index in 0..self.len {
            let slot = self.slots[index];
            let due = match slot.state {
                SlotState::Unsent => {
                    (slot.seq < self.peer_limit && slot.seq < window_end)
                        || (index == 0 && probe_due)
                }
                SlotState::InFlight { deadline, .. } => deadline <= now_ms,
            };
            if !due {
                continue;
            }
            let rto = match slot.state {
                SlotState::InFlight { rto, .. } => {
                    rto.saturating_mul(2).min(self.config.max_rto_ms)
                }
                SlotState::Unsent if slot.attempts > 0 => slot_rto(&self.config, slot.attempts),
                SlotState::Unsent => self.config.initial_rto_ms,
            };
            let attempts = slot.attempts.saturating_add(1);
            self.slots[index] = Slot {
                seq: slot.seq,
                attempts,
                state: SlotState::InFlight {
                    deadline: now_ms.saturating_add(u64::from(rto)),
                    rto,
                },
            };
            self.stats.transmitted += 1;
            self.blocked_since = None;
            if attempts > 1 {
                self.stats.retransmitted += 1;
            }
            return Some(Transmit {
                header: DataHeader {
                    boot: self.boot,
                    seq: slot.seq,
                    base,
                },
                attempt: attempts,
            });
        }
        None
    }

    /// Returns whether the oldest record may be sent beyond the credit, as a
    /// probe: only when nothing is in flight and the credit has been closed
    /// for a retransmission timeout. Starts that wait when it finds the
    /// sender blocked.
    fn probe_due(&mut self, now_ms: u64) -> bool {
        if self.len == 0 || self.slots[0].seq < self.peer_limit {
            self.blocked_since = None;
            return false;
        }
        let in_flight = self.slots[..self.len]
            .iter()
            .any(|slot| matches!(slot.state, SlotState::InFlight { .. }));
        if in_flight {
            return false;
        }
        let since = *self.blocked_since.get_or_insert(now_ms);
        now_ms >= since.saturating_add(u64::from(self.config.initial_rto_ms))
    }

    /// Earliest time, in milliseconds, at which [`poll_transmit`](Self::poll_transmit)
    /// will have something to do; `None` when only an acknowledgement or a
    /// new record can change that.
    pub fn poll_timeout(&self) -> Option<u64> {
        let window_end = self.base().saturating_add(WINDOW);
        let mut earliest: Option<u64> = None;
        for (index, slot) in self.slots[..self.len].iter().enumerate() {
            let at = match slot.state {
                SlotState::InFlight { deadline, .. } => deadline,
                SlotState::Unsent if slot.seq < self.peer_limit && slot.seq < window_end => 0,
                SlotState::Unsent if index == 0 => match self.blocked_since {
                    Some(since) => since.saturating_add(u64::from(self.config.initial_rto_ms)),
                    None => 0,
                },
                SlotState::Unsent => continue,
            };
            earliest = Some(earliest.map_or(at, |e| e.min(at)));
        }
        earliest
    }

    /// Applies an acknowledgement: removes every record it covers, calling
    /// `on_acked(seq)` for each (the caller removes it from its queue), and
    /// updates the credit. Returns the number of records newly acknowledged.
    pub fn on_ack(&mut self, ack: &Ack, mut on_acked: impl FnMut(u64)) -> usize {
        if ack.boot != self.boot {
            self.stats.foreign_acks += 1;
            return 0;
        }
        let mut kept = 0;
        let mut removed = 0;
        for index in 0..self.len {
            let slot = self.slots[index];
            if ack.covers(slot.seq) {
                on_acked(slot.seq);
                removed += 1;
            } else {
                self.slots[kept] = slot;
                kept += 1;
            }
        }
        self.len = kept;
        self.stats.acknowledged += removed as u64;
        if ack.next >= self.peer_next {
            self.peer_next = ack.next;
            self.peer_limit = ack.next.saturating_add(u64::from(ack.credit));
        }
        removed
    }

    /// Forgets the connection: every unacknowledged record will be sent again
    /// on the next one, and the credit falls back to the initial credit.
    pub fn on_disconnect(&mut self) {
        for slot in &mut self.slots[..self.len] {
            slot.state = SlotState::Unsent;
        }
        let base = self.base();
        self.peer_next = base;
        self.peer_limit = base.saturating_add(u64::from(self.config.initial_credit));
        self.stats.disconnects += 1;
    }
}

/// Timeout to use for a record resent on a new connection after `attempts`
/// transmissions on earlier ones: the backoff carries over, so a record that
/// keeps failing does not hammer every new connection.
fn slot_rto(config: &SenderConfig, attempts: u32) -> u32 {
    let shift = attempts.saturating_sub(1).min(16);
    config
        .initial_rto_ms
        .saturating_mul(1 << shift)
        .min(config.max_rto_ms)
}

/// Decision of a [`Receiver`] about a DATA message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not seen before: hand the record to the application.
    New,
    /// Already accepted: drop it, but acknowledge again.
    Duplicate,
    /// Too far ahead of the window: drop it unacknowledged, the sender
    /// retransmits it later.
    BeyondWindow,
    /// From a boot older than every boot the receiver tracks: dropped and
    /// counted, and acknowledged so the sender stops resending it.
    StaleBoot,
}

/// Counters of a [`Receiver`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiverStats {
    /// Records accepted (handed to the application once each).
    pub accepted: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Records dropped because they lay beyond the window.
    pub beyond_window: u64,
    /// Records dropped because their boot was older than every tracked boot.
    pub stale_boot: u64,
    /// Boot windows evicted to make room for a newer boot.
    pub evicted_boots: u64,
}

/// Boot windows a [`Receiver`] keeps per device: records of up to this many
/// recent boots can still be de-duplicated.
pub const MAX_BOOTS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BootWindow {
    boot: u32,
    /// Lowest sequence number not accepted.
    next: u64,
    /// Bit `i` is set when `next + i` was accepted; bit 0 is always clear.
    received: u64,
}

impl BootWindow {
    fn advance_to(&mut self, base: u64) {
        if base <= self.next {
            return;
        }
        let distance = base - self.next;
        self.received = if distance >= WINDOW {
            0
        } else {
            self.received >> distance
        };
        self.next = base;
        self.normalize();
    }

    fn normalize(&mut self) {
        while self.received & 1 == 1 {
            self.received >>= 1;
            self.next += 1;
        }
    }

    fn classify(&self, header: &DataHeader) -> Verdict {
        let next = self.next.max(header.base);
        if header.seq < next {
            return Verdict::Duplicate;
        }
        let offset = header.seq - next;
        if offset >= WINDOW {
            return Verdict::BeyondWindow;
        }
        let received = if header.base > self.next {
            let distance = header.base - self.next;
            if distance >= WINDOW {
                0
            } else {
                self.received >> distance
            }
        } else {
            self.received
        };
        if received & (1 << offset) != 0 {
            Verdict::Duplicate
        } else {
            Verdict::New
        }
    }
}

/// Receiving half of reliable delivery for one device: de-duplicates by
/// (boot, sequence) within a window of [`WINDOW`] records per boot, for up to
/// [`MAX_BOOTS`] boots. The device id is the key under which the caller keeps
/// one `Receiver` per authenticated device. Its size is fixed (about 100
/// bytes), whatever the traffic.
#[derive(Debug, Clone, Default)]
pub struct Receiver {
    windows: [Option<BootWindow>; MAX_BOOTS],
    stats: ReceiverStats,
}

impl Receiver {
    /// Creates a receiver with no state: the first record of each boot opens
    /// that boot's window at the sender's `base`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Restores the window of `boot` from durable state: every record below
    /// `next` was stored before.
    pub fn restore(&mut self, boot: u32, next: u64) {
        let index = self.slot_for(boot);
        self.windows[index] = Some(BootWindow {
            boot,
            next,
            received: 0,
        });
    }

    /// Counters since creation.
    pub fn stats(&self) -> ReceiverStats {
        self.stats
    }

    /// Decides what to do with a DATA message without changing any state.
    pub fn classify(&self, header: &DataHeader) -> Verdict {
        match self.find(header.boot) {
            Some(window) => window.classify(header),
            None if self.is_stale(header.boot) => Verdict::StaleBoot,
            // A new boot window opens at `base`; a record below it is
            // settled already (decoded headers never have one).
            None => match header.seq.checked_sub(header.base) {
                None => Verdict::Duplicate,
                Some(offset) if offset >= WINDOW => Verdict::BeyondWindow,
                Some(_) => Verdict::New,
            },
        }
    }

    /// Records the DATA message as received when it is new and returns the
    /// verdict; counts the others. Call it once the application has taken
    /// the record (for a gateway: once it is in the durable outbox), so
    /// that a record the application could not take is not acknowledged.
    pub fn accept(&mut self, header: &DataHeader) -> Verdict {
        let verdict = self.classify(header);
        match verdict {
            Verdict::New => {
                let index = match self.position(header.boot) {
                    Some(index) => index,
                    None => {
                        let index = self.slot_for(header.boot);
                        self.windows[index] = Some(BootWindow {
                            boot: header.boot,
                            next: header.base,
                            received: 0,
                        });
                        index
                    }
                };
                if let Some(window) = &mut self.windows[index] {
                    window.advance_to(header.base);
                    window.received |= 1 << (header.seq - window.next);
                    window.normalize();
                }
                self.stats.accepted += 1;
            }
            Verdict::Duplicate => {
                if let Some(index) = self.position(header.boot)
                    && let Some(window) = &mut self.windows[index]
                {
                    window.advance_to(header.base);
                }
                self.stats.duplicates += 1;
            }
            Verdict::BeyondWindow => self.stats.beyond_window += 1,
            Verdict::StaleBoot => self.stats.stale_boot += 1,
        }
        verdict
    }

    /// Builds the acknowledgement to send after handling `header`, granting
    /// `credit` more records (clamped to [`WINDOW`]). For a stale boot the
    /// acknowledgement covers the record, so the sender stops resending it.
    pub fn ack_for(&self, header: &DataHeader, credit: u16) -> Ack {
        let credit = credit.min(WINDOW as u16);
        match self.find(header.boot) {
            Some(window) => Ack {
                boot: header.boot,
                next: window.next,
                received: window.received,
                credit,
            },
            None if self.is_stale(header.boot) => Ack {
                boot: header.boot,
                next: header.seq.saturating_add(1),
                received: 0,
                credit,
            },
            // Nothing accepted yet for this boot: acknowledge what the sender
            // already considers settled.
            None => Ack {
                boot: header.boot,
                next: header.base,
                received: 0,
                credit,
            },
        }
    }

    /// Acknowledgement for the most recent boot seen, if any, for a periodic
    /// or credit-update acknowledgement that replies to no particular message.
    pub fn latest_ack(&self, credit: u16) -> Option<Ack> {
        let window = self.windows.iter().flatten().max_by_key(|w| w.boot)?;
        Some(Ack {
            boot: window.boot,
            next: window.next,
            received: window.received,
            credit: credit.min(WINDOW as u16),
        })
    }

    fn find(&self, boot: u32) -> Option<&BootWindow> {
        self.windows.iter().flatten().find(|w| w.boot == boot)
    }

    fn position(&self, boot: u32) -> Option<usize> {
        self.windows
            .iter()
            .position(|w| w.is_some_and(|w| w.boot == boot))
    }

    /// Returns whether `boot` is stale: every window is in use and all of
    /// them belong to newer boots.
    fn is_stale(&self, boot: u32) -> bool {
        self.windows
            .iter()
            .all(|w| w.is_some_and(|w| w.boot > boot))
    }

    /// Index to (re)use for `boot`: its own, a free one, or the oldest boot's.
    fn slot_for(&mut self, boot: u32) -> usize {
        if let Some(index) = self.position(boot) {
            return index;
        }
        if let Some(index) = self.windows.iter().position(Option::is_none) {
            return index;
        }
        let mut oldest = 0;
        for (index, window) in self.windows.iter().enumerate() {
            if let (Some(w), Some(o)) = (window, &self.windows[oldest])
                && w.boot < o.boot
            {
                oldest = index;
            }
        }
        self.stats.evicted_boots += 1;
        oldest
    }
}
