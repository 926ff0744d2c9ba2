//! The agent: events in, sealed frames out, commands back.

use palisade_credential::handshake::{MAX_MSG1_LEN, MSG3_LEN};
use palisade_credential::{
    Command, CommandVerifier, Credential, DeviceHandshake, DeviceIdentity, MAX_COMMAND_LEN,
    RejectReason, Rng, SessionOpener, SessionSealer, Signer, TrustStore, VerificationTime,
    VerifiedCommand,
};
use palisade_schema::{
    CommandAcknowledged, CommandOutcome, CommandRejected, CredentialRejectReason,
    CredentialRejected, Event, EventBody, Header, Heartbeat, HitCount, KeyId, MAX_EVENT_LEN,
    Severity, Str, WallClock,
};
use palisade_transport::message::{DATA_HEADER_LEN, Message};
use palisade_transport::reliable::{Sender, SenderConfig};
use palisade_transport::session::{FRAME_OVERHEAD, FrameReader, FrameWriter, SessionError};
use palisade_wire::{Aggregator, Overflow, OverflowPolicy, Queue, Storage};

use crate::clock::Clock;
use crate::command::{
    CommandHandler, Execution, Safety, SafetyInterlock, reject_reason, schema_action,
};
use crate::link::{
    KIND_COMMAND, KIND_HANDSHAKE_MSG1, KIND_HANDSHAKE_MSG2, KIND_HANDSHAKE_MSG3,
    KIND_HANDSHAKE_REJECTED, Link,
};
use crate::persist::{PersistError, PersistedState, PersistentState};

/// Size of each of the agent's two frame buffers: the largest DATA frame
/// (one event of `MAX_EVENT_LEN` bytes with its transport header, frame
/// header and tag).
pub const FRAME_BUFFER_LEN: usize = MAX_EVENT_LEN + DATA_HEADER_LEN + FRAME_OVERHEAD;

/// Records the agent keeps in flight before an acknowledgement.
pub const SENDER_WINDOW: usize = 16;

/// Commands that can wait for the safety interlock at once.
pub const MAX_DEFERRED_COMMANDS: usize = 4;

/// Default of [`AgentConfig::ack_timeout_ms`]: 60 seconds.
///
/// With the default [`SenderConfig`] (1 s first retransmission timeout,
/// doubling up to 30 s), a record unacknowledged for 60 s has been
/// retransmitted five times (at 1, 3, 7, 15 and 31 s). A short loss burst
/// or a busy gateway therefore does not end the session. A dead session
/// is still left long before the gateway binary's idle timeout (300 s)
/// closes its side. TCP itself reports no error while the gateway's
/// kernel still acknowledges segments that its process no longer reads,
/// and on a dead path only after its retransmissions give up (about 15
/// minutes with the Linux default `tcp_retries2` of 15).
pub const DEFAULT_ACK_TIMEOUT_MS: u64 = 60_000;

/// Settings of an [`Agent`]. Intervals are milliseconds of uptime; `None`
/// turns a periodic event off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentConfig {
    /// Time between heartbeats.
    pub heartbeat_interval_ms: Option<u64>,
    /// Time between system information snapshots (the first at start).
    pub system_info_interval_ms: Option<u64>,
    /// Time between SBOM snapshots (the first at start).
    pub sbom_interval_ms: Option<u64>,
    /// Time between baseline snapshots (the first at start).
    pub baseline_interval_ms: Option<u64>,
    /// Window in which identical events merge into one with a hit count.
    pub aggregation_window_ms: u32,
    /// What the aggregator does when every slot is taken.
    pub aggregation_overflow: Overflow,
    /// Which record the store-and-forward queue drops when it is full.
    pub queue_overflow: OverflowPolicy,
    /// Retransmission timing and initial credit.
    pub sender: SenderConfig,
    /// Maximum wait for handshake message 2, in milliseconds.
    pub handshake_timeout_ms: u64,
    /// Maximum time, in milliseconds, that a session may go without
    /// acknowledgement progress while records are in flight; then
    /// [`Agent::poll`] drops the session and returns
    /// [`AgentError::AckTimeout`]. The clock starts at the first
    /// transmission after everything was acknowledged and restarts at each
    /// acknowledgement that releases a record. `None` turns the check off,
    /// so a link that stalls without an error is never left.
    ///
    /// Heartbeats are records like any other, so with heartbeats on, a
    /// gateway that stops acknowledging is detected within
    /// `heartbeat_interval_ms + ack_timeout_ms` even when no other event is
    /// waiting. With heartbeats off and nothing to send, an idle session is
    /// not checked.
    pub ack_timeout_ms: Option<u64>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval_ms: Some(60_000),
            system_info_interval_ms: Some(24 * 3_600_000),
            sbom_interval_ms: Some(24 * 3_600_000),
            baseline_interval_ms: Some(6 * 3_600_000),
            aggregation_window_ms: 10_000,
            aggregation_overflow: Overflow::FlushOldest,
            queue_overflow: OverflowPolicy::DropOldest,
            sender: SenderConfig::default(),
            handshake_timeout_ms: 10_000,
            ack_timeout_ms: Some(DEFAULT_ACK_TIMEOUT_MS),
        }
    }
}

/// Which snapshot a [`SnapshotSource`] is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SnapshotKind {
    /// `system_info`: vendor, model, firmware version, interfaces.
    SystemInfo,
    /// `software_component` events, one per component of the SBOM.
    Sbom,
    /// `baseline_check` events, one per hardening check.
    Baseline,
}

/// Where sources put events; the agent stamps the header.
pub trait EventSink {
    /// Records one event of `severity`.
    fn record(&mut self, severity: Severity, body: &EventBody<'_>);
}

/// A source of events that the agent polls, such as a driver's log or a
/// login monitor.
pub trait EventSource {
    /// Records every event that happened since the last call.
    fn poll(&mut self, uptime_ms: u64, sink: &mut dyn EventSink);
}

/// The device's snapshots, taken at the intervals of [`AgentConfig`].
pub trait SnapshotSource {
    /// Records the events of snapshot `kind`.
    fn snapshot(&mut self, kind: SnapshotKind, sink: &mut dyn EventSink);
}

/// A [`SnapshotSource`] with nothing to report.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSnapshots;

impl SnapshotSource for NoSnapshots {
    fn snapshot(&mut self, _kind: SnapshotKind, _sink: &mut dyn EventSink) {}
}

/// What the device provides to [`Agent::poll`].
pub struct Device<'d> {
    /// Event sources, polled in order.
    pub sources: &'d mut [&'d mut dyn EventSource],
    /// Periodic snapshots.
    pub snapshots: &'d mut dyn SnapshotSource,
    /// Carries out commands.
    pub handler: &'d mut dyn CommandHandler,
    /// Checks whether an action is safe now.
    pub interlock: &'d dyn SafetyInterlock,
}

impl core::fmt::Debug for Device<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Device")
            .field("sources", &self.sources.len())
            .finish_non_exhaustive()
    }
}

/// Counters of an [`Agent`]; every drop and retry is counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Events recorded (before aggregation).
    pub recorded: u64,
    /// Records sent for the first time.
    pub sent: u64,
    /// Records sent again after a retransmission timeout or a reconnection.
    pub retried: u64,
    /// Records the gateway acknowledged.
    pub acknowledged: u64,
    /// Events dropped by the aggregator, the queue, or a storage failure.
    pub dropped: u64,
    /// Handshakes completed.
    pub handshakes: u64,
    /// Handshakes that failed.
    pub handshake_failures: u64,
    /// Frames received that could not be opened or decoded.
    pub bad_frames: u64,
    /// Commands executed.
    pub commands_executed: u64,
    /// Commands deferred by the safety interlock (counted once per command).
    pub commands_deferred: u64,
    /// Commands rejected, unauthorized or refused by the device.
    pub commands_rejected: u64,
    /// Writes of the persistent state that failed.
    pub persist_failures: u64,
    /// Sessions dropped because no acknowledgement progress came within
    /// [`AgentConfig::ack_timeout_ms`].
    pub ack_timeouts: u64,
}

/// What one [`Agent::poll`] did on the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollStatus {
    /// No session: events were recorded and queued; call
    /// [`Agent::connect`].
    Offline,
    /// The session is up.
    Online,
}

/// Error of [`Agent::connect`] and [`Agent::poll`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError<E: core::fmt::Debug> {
    /// The link failed; the session was dropped. Reconnect.
    #[error("link failed: {0:?}; the session was dropped")]
    Link(E),
    /// The handshake failed on this device's side.
    #[error("handshake failed: {0}")]
    Handshake(RejectReason),
    /// The gateway rejected the handshake with this reject code.
    #[error("gateway rejected the handshake with reject code {code}")]
    RejectedByGateway {
        /// The credential crate's `RejectReason::code`.
        code: u8,
    },
    /// Records were in flight and no acknowledgement released any of them
    /// within [`AgentConfig::ack_timeout_ms`]; the session was dropped.
    /// Close the link and reconnect. The records stay queued and are sent
    /// again on the next session.
    #[error(
        "no acknowledgement progress for {waited_ms} ms (limit {timeout_ms} ms) with {in_flight} records unacknowledged; the session was dropped, reconnect"
    )]
    AckTimeout {
        /// Time since the last acknowledgement progress.
        waited_ms: u64,
        /// The limit, [`AgentConfig::ack_timeout_ms`].
        timeout_ms: u64,
        /// Records registered with the sender and not acknowledged.
        in_flight: usize,
    },
    /// No handshake message 2 within the handshake timeout.
    #[error("no handshake answer from the gateway within {timeout_ms} ms")]
    HandshakeTimeout {
        /// The timeout.
        timeout_ms: u64,
    },
    /// The gateway sent a message that does not fit the handshake.
    #[error("unexpected message of kind {kind:#04x} during the handshake")]
    UnexpectedMessage {
        /// Kind byte of the message.
        kind: u8,
    },
    /// A frame could not be built or read.
    #[error("session frame failed: {0}")]
    Frame(SessionError),
}

/// Stamps headers and moves events through the aggregator into the queue.
struct Recorder<St, const SLOTS: usize, const SLOT_BYTES: usize> {
    queue: Queue<St>,
    aggregator: Aggregator<SLOTS, SLOT_BYTES>,
    boot: u32,
    next_sequence: u64,
    uptime_ms: u64,
    wall_clock: Option<WallClock>,
    recorded: u64,
    storage_failures: u64,
}

impl<St: Storage, const SLOTS: usize, const SLOT_BYTES: usize> Recorder<St, SLOTS, SLOT_BYTES> {
    fn enqueue(queue: &mut Queue<St>, failures: &mut u64, event: &Event<'_>) {
        if queue.push(event).is_err() {
            *failures += 1;
        }
    }

    fn flush_expired(&mut self) {
        let Self {
            queue,
            aggregator,
            storage_failures,
            uptime_ms,
            ..
        } = self;
        if SLOTS == 0 {
            return;
        }
        aggregator.flush_expired(*uptime_ms, &mut |event| {
            Self::enqueue(queue, storage_failures, event)
        });
    }

    fn dropped(&self) -> u64 {
        self.queue.dropped_total() + self.aggregator.dropped_total() + self.storage_failures
    }
}

impl<St: Storage, const SLOTS: usize, const SLOT_BYTES: usize> EventSink
    for Recorder<St, SLOTS, SLOT_BYTES>
{
    fn record(&mut self, severity: Severity, body: &EventBody<'_>) {
        let event = Event {
            header: Header {
                sequence: self.next_sequence,
                boot: self.boot,
                uptime_ms: self.uptime_ms,
                wall_clock: self.wall_clock,
                severity,
                hit_count: HitCount::ONE,
                window_ms: 0,
            },
            body: body.clone(),
        };
        self.next_sequence += 1;
        self.recorded += 1;
        let Self {
            queue,
            aggregator,
            storage_failures,
            uptime_ms,
            ..
        } = self;
        if SLOTS == 0 {
            // No aggregation: the aggregator's code, including the event
            // decoder it uses to emit stored entries, is left out of the image.
            Self::enqueue(queue, storage_failures, &event);
            return;
        }
        aggregator.push(&event, *uptime_ms, &mut |event| {
            Self::enqueue(queue, storage_failures, event)
        });
    }
}

struct Connection {
    writer: FrameWriter<SessionSealer>,
    reader: FrameReader<SessionOpener>,
    session_id: [u8; 16],
}

/// Next due times of the periodic events.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    heartbeat: u64,
    system_info: u64,
    sbom: u64,
    baseline: u64,
}

/// The device agent: sources, aggregator, store-and-forward queue, session
/// and link. See the [crate docs](crate) for the flow.
///
/// `St` is the queue's storage, `P` the persistent state and `S` the
/// device key's signer. `SLOTS` and `SLOT_BYTES` size the aggregator;
/// `SLOTS = 0` turns aggregation off, which leaves the aggregator and the
/// event decoder out of a firmware image.
pub struct Agent<'a, St, P, S: ?Sized, const SLOTS: usize, const SLOT_BYTES: usize> {
    config: AgentConfig,
    identity: DeviceIdentity<'a, S>,
    operator_roots: TrustStore,
    recorder: Recorder<St, SLOTS, SLOT_BYTES>,
    persist: P,
    state: PersistedState,
    commands: CommandVerifier,
    deferred: heapless::Vec<VerifiedCommand, MAX_DEFERRED_COMMANDS>,
    connection: Option<Connection>,
    sender: Sender<SENDER_WINDOW>,
    /// Queue sequence number from which records are not yet registered
    /// with the sender.
    registered_next: u64,
    /// Uptime of the last acknowledgement progress, or of the first
    /// transmission after everything was acknowledged; `None` while nothing
    /// is in flight on the session.
    waiting_since: Option<u64>,
    counters: Counters,
    schedule: Schedule,
    tx: [u8; FRAME_BUFFER_LEN],
    rx: [u8; FRAME_BUFFER_LEN],
}

impl<St, P: PersistentState, S: ?Sized, const SLOTS: usize, const SLOT_BYTES: usize>
    core::fmt::Debug for Agent<'_, St, P, S, SLOTS, SLOT_BYTES>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Agent")
            .field("state", &self.state)
            .field("counters", &self.counters)
            .field("online", &self.connection.is_some())
            .finish_non_exhaustive()
    }
}

impl<'a, St, P, S, const SLOTS: usize, const SLOT_BYTES: usize>
    Agent<'a, St, P, S, SLOTS, SLOT_BYTES>
where
    St: Storage,
    P: PersistentState,
    S: Signer + ?Sized,
{
    /// Starts the agent: loads the persistent state, counts this boot and
    /// stores it before anything else happens.
    ///
    /// `operator_roots` pins the roots that gateway and command-signer
    /// credentials must chain to. `device_id` is the id in the device
    /// credential (commands must name it). Fails when the persistent state
    /// cannot be read or written, because without it replay protection
    /// would restart at every boot.
    // Inlined so that the large agent value is built in the caller's slot
    // instead of being moved through several stack temporaries.
    #[inline(always)]
    pub fn new(
        config: AgentConfig,
        identity: DeviceIdentity<'a, S>,
        operator_roots: TrustStore,
        device_id: palisade_credential::DeviceId,
        storage: St,
        mut persist: P,
    ) -> Result<Self, PersistError<P::Error>> {
        let mut state = persist.load()?.unwrap_or_default();
        state.boot_counter = state.boot_counter.wrapping_add(1);
        persist.store(&state)?;
        let queue = Queue::new(storage, config.queue_overflow);
        let first = queue
            .front()
            .map_or(queue.next_sequence(), |(sequence, _)| sequence);
        Ok(Self {
            config,
            identity,
            commands: CommandVerifier::new(
                device_id,
                operator_roots.clone(),
                state.last_command_counter,
            ),
            operator_roots,
            recorder: Recorder {
                queue,
                aggregator: Aggregator::new(
                    config.aggregation_window_ms,
                    config.aggregation_overflow,
                ),
                boot: state.boot_counter,
                next_sequence: 0,
                uptime_ms: 0,
                wall_clock: None,
                recorded: 0,
                storage_failures: 0,
            },
            persist,
            state,
            deferred: heapless::Vec::new(),
            connection: None,
            sender: Sender::new(state.boot_counter, first, config.sender),
            registered_next: first,
            waiting_since: None,
            counters: Counters::default(),
            schedule: Schedule {
                heartbeat: config.heartbeat_interval_ms.unwrap_or(u64::MAX),
                system_info: 0,
                sbom: 0,
                baseline: 0,
            },
            tx: [0; FRAME_BUFFER_LEN],
            rx: [0; FRAME_BUFFER_LEN],
        })
    }

    /// Returns the persisted state as the agent last stored it.
    pub fn state(&self) -> &PersistedState {
        &self.state
    }

    /// Returns the counters, with `dropped` and `recorded` brought up to
    /// date.
    pub fn counters(&self) -> Counters {
        Counters {
            recorded: self.recorder.recorded,
            dropped: self.recorder.dropped(),
            ..self.counters
        }
    }

    /// Returns the number of records waiting for an acknowledgement,
    /// including an events-dropped report.
    pub fn queued(&self) -> usize {
        self.recorder.queue.len()
    }

    /// Returns the commands waiting for the safety interlock.
    pub fn deferred(&self) -> &[VerifiedCommand] {
        &self.deferred
    }

    /// Returns the public session id of the current session.
    pub fn session_id(&self) -> Option<[u8; 16]> {
        self.connection
            .as_ref()
            .map(|connection| connection.session_id)
    }

    /// Returns whether a session is up.
    pub fn is_online(&self) -> bool {
        self.connection.is_some()
    }

    /// Records one event, stamped with the time `clock` reads now.
    pub fn record(&mut self, clock: &dyn Clock, severity: Severity, body: &EventBody<'_>) {
        self.set_time(clock);
        self.recorder.record(severity, body);
    }

    /// Emits every event held by the aggregator into the queue, for
    /// example before a planned shutdown.
    pub fn flush(&mut self) {
        if SLOTS == 0 {
            return;
        }
        let recorder = &mut self.recorder;
        let (queue, failures) = (&mut recorder.queue, &mut recorder.storage_failures);
        recorder.aggregator.flush_all(&mut |event| {
            Recorder::<St, SLOTS, SLOT_BYTES>::enqueue(queue, failures, event)
        });
    }

    fn set_time(&mut self, clock: &dyn Clock) {
        self.recorder.uptime_ms = clock.uptime_ms();
        self.recorder.wall_clock = clock.wall_clock();
    }

    /// The time credentials and commands are checked at: the wall clock
    /// when it is synchronized, else the last-known-good time.
    fn verification_time(&self) -> VerificationTime {
        match self.recorder.wall_clock {
            Some(wall) if wall.synchronized => VerificationTime::Trusted(wall.unix_ms / 1000),
            _ => VerificationTime::LastKnownGood(self.state.last_known_good_time),
        }
    }

    fn store_state(&mut self) -> bool {
        match self.persist.store(&self.state) {
            Ok(()) => true,
            Err(_) => {
                self.counters.persist_failures += 1;
                false
            }
        }
    }

    /// Drops the session; unacknowledged records are sent again on the next
    /// one.
    pub fn disconnect(&mut self) {
        self.connection = None;
        self.waiting_since = None;
        self.sender.on_disconnect();
    }

    /// Runs the device side of the handshake over `link` and starts a
    /// session. Any earlier session is dropped first.
    ///
    /// A gateway credential that does not verify is recorded as a
    /// `credential_rejected` event. On success the last-known-good time
    /// moves forward to the gateway's signed time and is stored.
    pub fn connect<L: Link, R: Rng>(
        &mut self,
        link: &mut L,
        clock: &dyn Clock,
        rng: &mut R,
    ) -> Result<(), AgentError<L::Error>> {
        self.disconnect();
        self.set_time(clock);
        match self.handshake(link, clock, rng) {
            Ok(()) => {
                self.counters.handshakes += 1;
                Ok(())
            }
            Err(error) => {
                self.counters.handshake_failures += 1;
                if let AgentError::Handshake(reason) = &error {
                    self.record_gateway_rejected(reason);
                }
                Err(error)
            }
        }
    }

    fn handshake<L: Link, R: Rng>(
        &mut self,
        link: &mut L,
        clock: &dyn Clock,
        rng: &mut R,
    ) -> Result<(), AgentError<L::Error>> {
        let mut plain = FrameWriter::checksummed();
        let mut msg1 = [0u8; MAX_MSG1_LEN];
        let (awaiting, len1) =
            DeviceHandshake::start(self.identity, rng, &mut msg1).map_err(AgentError::Handshake)?;
        let frame = plain
            .application(KIND_HANDSHAKE_MSG1, &msg1[..len1], &mut self.tx)
            .map_err(AgentError::Frame)?;
        link.send(frame).map_err(AgentError::Link)?;

        let deadline = clock
            .uptime_ms()
            .saturating_add(self.config.handshake_timeout_ms);
        let len = loop {
            if let Some(len) = link.recv(&mut self.rx).map_err(AgentError::Link)? {
                break len;
            }
            if clock.uptime_ms() >= deadline {
                return Err(AgentError::HandshakeTimeout {
                    timeout_ms: self.config.handshake_timeout_ms,
                });
            }
        };
        let time = self.verification_time();
        let mut reader = FrameReader::checksummed();
        let message = reader
            .read(&mut self.rx[..len])
            .map_err(AgentError::Frame)?;
        let msg2 = match message {
            Message::Application {
                kind: KIND_HANDSHAKE_MSG2,
                body,
            } => body,
            Message::Application {
                kind: KIND_HANDSHAKE_REJECTED,
                body,
            } => {
                return Err(AgentError::RejectedByGateway {
                    code: body.first().copied().unwrap_or(0),
                });
            }
            other => {
                return Err(AgentError::UnexpectedMessage {
                    kind: message_kind(&other),
                });
            }
        };
        let mut msg3 = [0u8; MSG3_LEN];
        let (complete, len3) = awaiting
            .read_msg2(msg2, &self.operator_roots, time, &[], &mut msg3)
            .map_err(AgentError::Handshake)?;
        let frame = plain
            .application(KIND_HANDSHAKE_MSG3, &msg3[..len3], &mut self.tx)
            .map_err(AgentError::Frame)?;
        link.send(frame).map_err(AgentError::Link)?;

        if complete.gateway_time > self.state.last_known_good_time {
            self.state.last_known_good_time = complete.gateway_time;
            self.store_state();
        }
        let session_id = complete.session.session_id;
        let (sealer, opener) = complete.session.split();
        self.connection = Some(Connection {
            writer: FrameWriter::sealed(sealer),
            reader: FrameReader::sealed(opener),
            session_id,
        });
        let first = self.first_waiting();
        self.sender = Sender::new(self.state.boot_counter, first, self.config.sender);
        self.registered_next = first;
        Ok(())
    }

    fn first_waiting(&self) -> u64 {
        let queue = &self.recorder.queue;
        queue
            .front()
            .map_or(queue.next_sequence(), |(sequence, _)| sequence)
    }

    fn record_gateway_rejected(&mut self, reason: &RejectReason) {
        let mapped = match reason {
            RejectReason::Expired { .. } => CredentialRejectReason::Expired,
            RejectReason::NotYetValid { .. } => CredentialRejectReason::NotYetValid,
            RejectReason::Revoked { .. } | RejectReason::IssuerRevoked { .. } => {
                CredentialRejectReason::Revoked
            }
            RejectReason::UnknownRoot { .. } | RejectReason::UnknownIssuer { .. } => {
                CredentialRejectReason::UnknownIssuer
            }
            RejectReason::BadSignature { .. }
            | RejectReason::DomainMismatch { .. }
            | RejectReason::NonCanonicalSignature { .. } => CredentialRejectReason::BadSignature,
            RejectReason::MissingKeyUsage { .. } | RejectReason::WrongKind { .. } => {
                CredentialRejectReason::NotPermitted
            }
            RejectReason::RevocationListStale { .. } => CredentialRejectReason::RevocationListStale,
            _ => CredentialRejectReason::Malformed,
        };
        self.recorder.record(
            Severity::High,
            &EventBody::CredentialRejected(CredentialRejected {
                peer: None,
                device_id: None,
                serial: None,
                reason: mapped,
                detail_code: reason.code(),
            }),
        );
    }

    /// Runs one cycle: polls the sources, takes due snapshots and the
    /// heartbeat, moves expired aggregates into the queue, retries deferred
    /// commands and, when a session is up, sends due records and handles at
    /// most one frame from the gateway (waiting up to the link's receive
    /// timeout).
    ///
    /// On a link error the session is dropped and the error returned; the
    /// queue keeps every unacknowledged record for the next session.
    pub fn poll<L: Link>(
        &mut self,
        link: &mut L,
        clock: &dyn Clock,
        device: &mut Device<'_>,
    ) -> Result<PollStatus, AgentError<L::Error>> {
        self.set_time(clock);
        let now = self.recorder.uptime_ms;
        for source in device.sources.iter_mut() {
            source.poll(now, &mut self.recorder);
        }
        self.run_schedule(now, device.snapshots);
        self.recorder.flush_expired();
        self.retry_deferred(device);
        if self.connection.is_none() {
            return Ok(PollStatus::Offline);
        }
        let result = self
            .exchange(link, device)
            .and_then(|()| self.check_ack_timeout(now));
        match result {
            Ok(()) => Ok(PollStatus::Online),
            Err(error) => {
                self.disconnect();
                Err(error)
            }
        }
    }

    /// Fails when records are in flight and the last acknowledgement
    /// progress is [`AgentConfig::ack_timeout_ms`] or more in the past.
    fn check_ack_timeout<E: core::fmt::Debug>(&mut self, now: u64) -> Result<(), AgentError<E>> {
        let (Some(timeout_ms), Some(since)) = (self.config.ack_timeout_ms, self.waiting_since)
        else {
            return Ok(());
        };
        let waited_ms = now.saturating_sub(since);
        if waited_ms < timeout_ms {
            return Ok(());
        }
        self.counters.ack_timeouts += 1;
        let in_flight = self.sender.len();
        #[cfg(feature = "linux")]
        log::warn!(
            "no acknowledgement progress for {waited_ms} ms (limit {timeout_ms} ms) with {in_flight} records unacknowledged; dropping the session"
        );
        Err(AgentError::AckTimeout {
            waited_ms,
            timeout_ms,
            in_flight,
        })
    }

    fn run_schedule(&mut self, now: u64, snapshots: &mut dyn SnapshotSource) {
        let config = self.config;
        let jobs = [
            (config.system_info_interval_ms, SnapshotKind::SystemInfo),
            (config.sbom_interval_ms, SnapshotKind::Sbom),
            (config.baseline_interval_ms, SnapshotKind::Baseline),
        ];
        for (interval, kind) in jobs {
            let due = match kind {
                SnapshotKind::SystemInfo => &mut self.schedule.system_info,
                SnapshotKind::Sbom => &mut self.schedule.sbom,
                SnapshotKind::Baseline => &mut self.schedule.baseline,
            };
            if let Some(interval) = interval
                && now >= *due
            {
                *due = now.saturating_add(interval.max(1));
                snapshots.snapshot(kind, &mut self.recorder);
            }
        }
        if let Some(interval) = config.heartbeat_interval_ms
            && now >= self.schedule.heartbeat
        {
            self.schedule.heartbeat = now.saturating_add(interval.max(1));
            let counters = self.counters();
            let heartbeat = Heartbeat {
                queued: u32::try_from(self.queued()).unwrap_or(u32::MAX),
                sent: counters.sent,
                dropped: counters.dropped,
                retried: counters.retried,
            };
            self.recorder
                .record(Severity::Info, &EventBody::Heartbeat(heartbeat));
        }
    }

    fn exchange<L: Link>(
        &mut self,
        link: &mut L,
        device: &mut Device<'_>,
    ) -> Result<(), AgentError<L::Error>> {
        self.transmit(link)?;
        let Some(len) = link.recv(&mut self.rx).map_err(AgentError::Link)? else {
            return Ok(());
        };
        let Some(connection) = self.connection.as_mut() else {
            return Ok(());
        };
        let mut command = [0u8; MAX_COMMAND_LEN];
        let command_len = match connection.reader.read(&mut self.rx[..len]) {
            Ok(Message::Ack(ack)) => {
                let acknowledged = self.sender.on_ack(&ack, |_| {});
                self.counters.acknowledged += acknowledged as u64;
                if acknowledged > 0 {
                    // Progress: the wait starts over for what is still in
                    // flight, and stops when nothing is.
                    self.waiting_since =
                        (!self.sender.is_empty()).then_some(self.recorder.uptime_ms);
                }
                if ack.boot == self.state.boot_counter && ack.next > 0 {
                    // Records below `next` all arrived; the queue keeps the
                    // rest until `next` passes them.
                    if self.recorder.queue.ack(ack.next - 1).is_err() {
                        self.recorder.storage_failures += 1;
                    }
                }
                None
            }
            Ok(Message::Application {
                kind: KIND_COMMAND,
                body,
            }) if body.len() <= MAX_COMMAND_LEN => {
                command[..body.len()].copy_from_slice(body);
                Some(body.len())
            }
            Ok(_) | Err(_) => {
                self.counters.bad_frames += 1;
                None
            }
        };
        if let Some(command_len) = command_len {
            self.handle_command(&command[..command_len], device);
            // Send the acknowledgement events without waiting for the next poll.
            self.transmit(link)?;
        }
        Ok(())
    }

    /// Registers new queue records with the sender and sends every record
    /// that is due.
    fn transmit<L: Link>(&mut self, link: &mut L) -> Result<(), AgentError<L::Error>> {
        let Some(connection) = self.connection.as_mut() else {
            return Ok(());
        };
        for (sequence, _) in self.recorder.queue.iter() {
            if sequence < self.registered_next {
                continue;
            }
            if self.sender.push(sequence).is_err() {
                break;
            }
            self.registered_next = sequence + 1;
        }
        let now = self.recorder.uptime_ms;
        while let Some(transmit) = self.sender.poll_transmit(now) {
            let record = self
                .recorder
                .queue
                .iter()
                .find(|(sequence, _)| *sequence == transmit.header.seq);
            let Some((_, record)) = record else {
                // The queue dropped this record on overflow while it was in
                // flight (the drop is counted in its events-dropped report).
                // Start the sender over at the queue's front.
                let first = self
                    .recorder
                    .queue
                    .front()
                    .map_or(self.recorder.queue.next_sequence(), |(sequence, _)| {
                        sequence
                    });
                self.sender = Sender::new(self.state.boot_counter, first, self.config.sender);
                self.registered_next = first;
                break;
            };
            let frame = connection
                .writer
                .data(&transmit.header, record, &mut self.tx)
                .map_err(AgentError::Frame)?;
            link.send(frame).map_err(AgentError::Link)?;
            self.waiting_since.get_or_insert(now);
            if transmit.attempt > 1 {
                self.counters.retried += 1;
            } else {
                self.counters.sent += 1;
            }
        }
        Ok(())
    }

    fn handle_command(&mut self, bytes: &[u8], device: &mut Device<'_>) {
        let time = self.verification_time();
        let verified = match self.commands.verify(bytes, time, &[]) {
            Ok(verified) => verified,
            Err(reason) => {
                self.reject_unauthorized(bytes, &reason);
                return;
            }
        };
        // Store the counter before acting, so that a reboot cannot make this
        // command acceptable again.
        self.state.last_command_counter = verified.counter;
        if !self.store_state() {
            self.acknowledge(
                verified.command_id,
                CommandOutcome::Rejected,
                Some("persistent state write failed; command not executed"),
            );
            self.counters.commands_rejected += 1;
            return;
        }
        match device.interlock.check(&verified.action) {
            Safety::Safe => self.execute(&verified, device),
            Safety::Unsafe(reason) => {
                if self.deferred.push(verified.clone()).is_ok() {
                    self.counters.commands_deferred += 1;
                    self.acknowledge(verified.command_id, CommandOutcome::Deferred, Some(reason));
                } else {
                    self.counters.commands_rejected += 1;
                    self.acknowledge(
                        verified.command_id,
                        CommandOutcome::Rejected,
                        Some("too many deferred commands; send it again later"),
                    );
                }
            }
        }
    }

    fn execute(&mut self, command: &VerifiedCommand, device: &mut Device<'_>) {
        match device.handler.execute(command) {
            Execution::Executed => {
                self.counters.commands_executed += 1;
                if let palisade_credential::CommandAction::InstallRevocationList { number } =
                    command.action
                    && number > self.state.revocation_list_number
                {
                    self.state.revocation_list_number = number;
                    self.store_state();
                }
                self.acknowledge(command.command_id, CommandOutcome::Executed, None);
            }
            Execution::Rejected(reason) => {
                self.counters.commands_rejected += 1;
                self.acknowledge(command.command_id, CommandOutcome::Rejected, Some(reason));
            }
        }
    }

    fn retry_deferred(&mut self, device: &mut Device<'_>) {
        let now = self.verification_time().seconds();
        let mut index = 0;
        while index < self.deferred.len() {
            let command = self.deferred[index].clone();
            if now > command.not_after {
                self.deferred.remove(index);
                self.counters.commands_rejected += 1;
                self.acknowledge(
                    command.command_id,
                    CommandOutcome::Rejected,
                    Some("expired while deferred by the safety interlock"),
                );
                continue;
            }
            if device.interlock.check(&command.action) == Safety::Safe {
                self.deferred.remove(index);
                self.execute(&command, device);
                continue;
            }
            index += 1;
        }
    }

    fn acknowledge(&mut self, command_id: u64, outcome: CommandOutcome, reason: Option<&str>) {
        let body = EventBody::CommandAcknowledged(CommandAcknowledged {
            command_id,
            outcome,
            reason: reason.map(Str::truncated),
        });
        self.recorder.record(Severity::Info, &body);
    }

    fn reject_unauthorized(&mut self, bytes: &[u8], reason: &RejectReason) {
        self.counters.commands_rejected += 1;
        let decoded = Command::decode_unverified(bytes).ok();
        let command_id = decoded.as_ref().map(|(command, _, _)| command.command_id);
        let action = decoded
            .as_ref()
            .map(|(command, _, _)| schema_action(&command.action));
        let signer_key_id = decoded.as_ref().and_then(|(command, _, _)| {
            Credential::decode(command.signer_credential)
                .ok()
                .map(|credential| KeyId(credential.key_id().0))
        });
        self.recorder.record(
            Severity::High,
            &EventBody::CommandRejected(CommandRejected {
                command_id,
                action,
                signer_key_id,
                reason: reject_reason(reason),
            }),
        );
        if let Some(command_id) = command_id {
            self.acknowledge(
                command_id,
                CommandOutcome::Rejected,
                Some(reject_text(reason)),
            );
        }
    }
}

/// Returns the kind byte of a transport message, for error reports.
pub(crate) fn message_kind(message: &Message<'_>) -> u8 {
    match message {
        Message::Application { kind, .. } => *kind,
        Message::Ack(_) => 0x02,
        // DATA (0x01), DATA batches and any kind added to the transport later.
        _ => 0x01,
    }
}

/// A short reason for a rejected command's acknowledgement.
fn reject_text(reason: &RejectReason) -> &'static str {
    use palisade_schema::CommandRejectReason as Reason;
    match reject_reason(reason) {
        Reason::BadSignature => "signature does not verify",
        Reason::UnknownSigner => "signer credential is not trusted",
        Reason::Replayed => "counter is not above the last accepted command",
        Reason::NotPermitted => "signer credential may not sign commands",
        Reason::Expired => "command expired",
        Reason::WrongTarget => "command names another device",
        Reason::Malformed => "command is malformed",
        _ => "command rejected",
    }
}
