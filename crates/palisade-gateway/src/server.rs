//! The admission side: a TCP listener for device links, the handshake with
//! chain, revocation and proof-of-possession checks, and one session task per
//! admitted device.
//!
//! Every connection passes these checks in order:
//!
//! 1. the per-source admission rate limit ([`AdmissionLimiter`]);
//! 2. handshake message 1, decoded, with its nonce checked against a replay
//!    cache;
//! 3. the device chain: pinned maker roots, validity and the installed
//!    revocation lists;
//! 4. message 2, then message 3 (proof of possession);
//! 5. [`GatewayCore::admit`], where the inventory rejects revoked devices.
//!
//! Each handshake step must finish within [`ServerConfig::step_timeout`].
//! A rejected device receives a rejection message and is reported through
//! [`GatewayCore::reject_admission`]
//! as `unknown_device` (chain from a root the gateway does not pin),
//! `credential_rejected` (any other chain, validity or possession failure)
//! or `protocol_violation` (a malformed, stalled or out-of-order handshake).
//! One task stores these reports from a queue of [`REJECTION_QUEUE_LEN`],
//! so a flood of invalid handshakes does not crowd valid admissions out of
//! the core. A report that finds the queue full is dropped and counted in
//! [`ServerStats::rejection_reports_dropped`] and in the Prometheus counter
//! `palisade_drops_total{reason="rejection_report_queue_full"}`.
//!
//! An admitted session reads DATA and DATA_BATCH messages, hands the records
//! that are ready (at most [`ServerConfig::max_batch_records`] at a time) to
//! one committer task, and acknowledges them only after the commit
//! succeeded, so an event that was not committed is sent again by the
//! device. The committer stores the waiting batches of all sessions, up to
//! [`MAX_BATCHES_PER_COMMIT`], in one transaction with
//! [`GatewayCore::receive_many`] (one fsync for all). When that fails it
//! stores each batch on its own with [`GatewayCore::receive`], so one bad
//! batch fails only its own session. Response commands from the core, and commands
//! queued through [`ServerHandle::send_command`], are signed with the
//! gateway's credential and key and sent as application messages; the
//! device's acknowledgements come back as events in later batches.
//!
//! A session is cut off, logged and reported as a `protocol_violation`
//! event when the device does one of these:
//!
//! - sends a frame above [`MAX_TRANSPORT_FRAME_LEN`] (`oversized_frame`,
//!   checked on the length prefix before any buffer grows);
//! - sends a frame that does not open or decode (`unopenable_record` or
//!   `malformed_record`);
//! - sends no `command_acknowledged` or `command_rejected` event for a
//!   command before the command expires, or leaves more than
//!   [`MAX_UNACKNOWLEDGED_COMMANDS`] commands open (`unresponsive`).
//!
//! [`ServerHandle::shutdown`] stops admitting, closes every session after
//! its current batch and waits a bounded time for the session tasks.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use palisade_credential::handshake::{GatewayHandshake, GatewayIdentity, MAX_MSG2_LEN};
use palisade_credential::{
    COMMAND_VERSION, ChainVerifier, Command, Credential, MAX_COMMAND_LEN, OsRng, RejectReason,
    ReplayCache, RevocationList, SoftwareSigner, VerificationTime,
};
use palisade_schema::{
    CommandAction, CredentialRejectReason, CredentialRejected, DeviceId, Event, EventBody, Header,
    HitCount, ProtocolViolation, ProtocolViolationReason, Severity, SocketAddress, UnknownDevice,
    WallClock,
};
use palisade_transport::WINDOW;
use palisade_transport::link::{LinkConfig, LinkError};
use palisade_transport::message::{DataHeader, Message};
use palisade_transport::reliable::{Receiver, Verdict};
use palisade_transport::session::{FrameReader, FrameWriter, MAX_TRANSPORT_FRAME_LEN};
use palisade_transport::tokio_link::TokioLink;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use crate::admission_limit::AdmissionLimiter;
use crate::inventory::{Admission, AdmissionOutcome};
use crate::metrics::{AdmissionRejection, DropReason, Metrics};
use crate::pipeline::{BatchOutcome, GatewayCore};

/// Application message kind of handshake message 1 (device to gateway).
pub const KIND_HANDSHAKE_MSG1: u8 = 0x80;
/// Application message kind of handshake message 2 (gateway to device).
pub const KIND_HANDSHAKE_MSG2: u8 = 0x81;
/// Application message kind of handshake message 3 (device to gateway).
pub const KIND_HANDSHAKE_MSG3: u8 = 0x82;
/// Application message kind of a handshake rejection (one byte: the
/// credential crate's reject code).
pub const KIND_HANDSHAKE_REJECTED: u8 = 0x83;
/// Application message kind of a signed command (gateway to device).
pub const KIND_COMMAND: u8 = 0x90;
/// Handshake nonces remembered to refuse a replayed message 1.
pub const REPLAY_CACHE_LEN: usize = 1024;
/// Commands waiting for one session before [`ServerHandle::send_command`]
/// reports the session as busy.
pub const COMMAND_QUEUE_LEN: usize = 32;
/// Source addresses the admission limiter tracks at once.
pub const MAX_TRACKED_SOURCES: usize = 4096;
/// Commands a session may leave unacknowledged at once; one more closes
/// the session as unresponsive.
pub const MAX_UNACKNOWLEDGED_COMMANDS: usize = 64;
/// Sessions' batches stored in one transaction at most.
pub const MAX_BATCHES_PER_COMMIT: usize = 256;
/// Batches waiting for the committer; a session with a batch waits for
/// room before it reads more frames.
const COMMIT_QUEUE_LEN: usize = 1024;
/// Rejected admissions waiting to be stored. When the queue is full, as
/// in a flood of invalid handshakes, further reports are dropped and
/// counted in [`ServerStats::rejection_reports_dropped`].
pub const REJECTION_QUEUE_LEN: usize = 4096;

/// The shared gateway core: the server and its caller lock it for each call.
pub type SharedCore = Arc<Mutex<GatewayCore>>;

/// Names shown in the inventory for a (vendor id, model id) pair from a
/// device credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelName {
    /// Vendor name.
    pub vendor: String,
    /// Model name.
    pub model: String,
}

/// Settings and trust material of the admission side.
pub struct ServerConfig {
    /// Verifier pinned to the device makers' roots.
    pub verifier: ChainVerifier,
    /// Revocation lists already verified with
    /// [`RevocationList::decode_and_verify`].
    pub revocations: Vec<RevocationList>,
    /// The gateway's encoded credential (issued by the operator root, with
    /// the sign-commands key usage).
    pub gateway_credential: Vec<u8>,
    /// The gateway's private key.
    pub gateway_signer: SoftwareSigner,
    /// Maximum wait for each handshake message.
    pub step_timeout: Duration,
    /// A session without any frame for this long is closed.
    pub idle_timeout: Duration,
    /// Records handed to one [`GatewayCore::receive`] call at most.
    pub max_batch_records: usize,
    /// Admissions per source address and minute.
    pub admissions_per_source_per_minute: u32,
    /// Inventory names per (vendor id, model id).
    pub models: HashMap<(u32, u32), ModelName>,
    /// Validity of signed commands, in seconds.
    pub command_validity_secs: u64,
}

impl core::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("revocations", &self.revocations.len())
            .field("step_timeout", &self.step_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_batch_records", &self.max_batch_records)
            .finish_non_exhaustive()
    }
}

/// Counters of the admission side, beyond those in [`crate::metrics`].
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Connections accepted on the socket.
    pub connections: AtomicU64,
    /// Devices admitted.
    pub admitted: AtomicU64,
    /// Connections refused (rate limit, handshake, revoked).
    pub refused: AtomicU64,
    /// Signed commands sent to devices.
    pub commands_sent: AtomicU64,
    /// Records acknowledged after commit.
    pub records_acknowledged: AtomicU64,
    /// Records dropped because they did not decode.
    pub records_undecodable: AtomicU64,
    /// Rejected admissions not stored because [`REJECTION_QUEUE_LEN`]
    /// reports were already waiting.
    pub rejection_reports_dropped: AtomicU64,
}

/// Error of [`ServerHandle::send_command`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendCommandError {
    /// No session of that device is open.
    #[error("device {0} has no open session; wait for it to connect and retry")]
    NotConnected(DeviceId),
    /// The session's command queue is full.
    #[error("the command queue of device {0} is full ({COMMAND_QUEUE_LEN} commands); retry later")]
    Busy(DeviceId),
}

enum Outgoing {
    /// Signed bytes, sent as they are.
    Raw(Vec<u8>),
}

struct Shared {
    core: SharedCore,
    config: ServerConfig,
    verifier: Mutex<ChainVerifier>,
    replay: Mutex<ReplayCache<REPLAY_CACHE_LEN>>,
    limiter: Mutex<AdmissionLimiter>,
    /// The core's metrics, reachable without the core lock.
    metrics: Arc<Metrics>,
    sessions: Mutex<HashMap<DeviceId, mpsc::Sender<Outgoing>>>,
    commits: mpsc::Sender<CommitRequest>,
    rejections: mpsc::Sender<(SocketAddr, Box<Event<'static>>)>,
    stats: ServerStats,
    gateway_sequence: AtomicU64,
    started: Instant,
}

/// A running admission server.
pub struct ServerHandle {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    reporter: tokio::task::JoinHandle<()>,
}

impl core::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

/// Starts the server on `listener`; the returned handle stops it.
pub fn spawn(listener: TcpListener, core: SharedCore, config: ServerConfig) -> ServerHandle {
    let local_addr = listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
    let (commits, commit_requests) = mpsc::channel(COMMIT_QUEUE_LEN);
    // The committer ends when the last session and the handle have dropped
    // their sender.
    tokio::spawn(commit_loop(commit_requests, core.clone()));
    // Rejected admissions are stored one at a time by one task, so a flood
    // of invalid handshakes cannot crowd valid admissions out of the core.
    let (rejections, rejection_reports) = mpsc::channel(REJECTION_QUEUE_LEN);
    let metrics = lock(&core).metrics().clone();
    let shared = Arc::new(Shared {
        metrics,
        commits,
        rejections,
        verifier: Mutex::new(config.verifier.clone()),
        limiter: Mutex::new(AdmissionLimiter::new(
            config.admissions_per_source_per_minute,
            MAX_TRACKED_SOURCES,
        )),
        core,
        config,
        replay: Mutex::new(ReplayCache::new()),
        sessions: Mutex::new(HashMap::new()),
        stats: ServerStats::default(),
        gateway_sequence: AtomicU64::new(0),
        started: Instant::now(),
    });
    let (shutdown, stop) = watch::channel(false);
    tracing::info!(address = %local_addr, "admission listener started");
    let task = tokio::spawn(accept_loop(listener, shared.clone(), stop));
    let reporter = tokio::spawn(report_rejections(
        rejection_reports,
        shared.core.clone(),
        shutdown.subscribe(),
    ));
    ServerHandle {
        shared,
        local_addr,
        shutdown,
        task,
        reporter,
    }
}

impl ServerHandle {
    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Counters of the admission side.
    pub fn stats(&self) -> &ServerStats {
        &self.shared.stats
    }

    /// Devices with an open session.
    pub fn connected(&self) -> Vec<DeviceId> {
        lock(&self.shared.sessions).keys().copied().collect()
    }

    /// Queues signed command bytes for the session of `device`. The gateway
    /// does not check them: the device verifies every command it receives.
    pub fn send_command(&self, device: DeviceId, signed: Vec<u8>) -> Result<(), SendCommandError> {
        let sessions = lock(&self.shared.sessions);
        let sender = sessions
            .get(&device)
            .ok_or(SendCommandError::NotConnected(device))?;
        sender
            .try_send(Outgoing::Raw(signed))
            .map_err(|_| SendCommandError::Busy(device))
    }

    /// Signs a command for `device` with the gateway's key, records it in
    /// the audit table and queues it. Returns the signed bytes.
    pub fn issue_command(
        &self,
        device: DeviceId,
        action: CommandAction,
    ) -> Result<Vec<u8>, IssueError> {
        let now_ms = now_unix_ms();
        let request = lock(&self.shared.core)
            .responder()
            .issue_manual(device, action, now_ms)
            .map_err(|error| IssueError::Storage(error.to_string()))?;
        let signed = sign_command(
            &self.shared.config,
            device,
            request.command_id,
            action,
            request.not_after_unix_secs,
        )
        .map_err(IssueError::Sign)?;
        self.send_command(device, signed.clone())?;
        self.shared
            .stats
            .commands_sent
            .fetch_add(1, Ordering::Relaxed);
        self.shared.metrics.command();
        Ok(signed)
    }

    /// Stops admitting, closes every session after its current batch, and
    /// waits at most `grace` for the session tasks to end.
    pub async fn shutdown(self, grace: Duration) {
        let started = Instant::now();
        let _ = self.shutdown.send(true);
        match tokio::time::timeout(grace, self.task).await {
            Ok(_) => tracing::info!("admission listener stopped"),
            Err(_) => tracing::warn!(
                grace_ms = grace.as_millis() as u64,
                "admission listener did not stop within the grace period; sessions aborted"
            ),
        }
        // The reporter stores the rejected admissions still queued.
        let left = grace.saturating_sub(started.elapsed());
        if tokio::time::timeout(left, self.reporter).await.is_err() {
            tracing::warn!(
                grace_ms = grace.as_millis() as u64,
                "rejected admissions still queued at the end of the grace period were not stored"
            );
        }
    }
}

/// Error of [`ServerHandle::issue_command`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// The audit table could not record the command.
    #[error("recording the command in the audit table failed: {0}")]
    Storage(String),
    /// The command could not be signed.
    #[error(transparent)]
    Sign(SignError),
    /// The command could not be queued.
    #[error(transparent)]
    Send(#[from] SendCommandError),
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves data that is still usable for
    // counting and queueing; keep serving instead of cascading the panic.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// Maps a schema command action to the signed command's action; `None`
/// for an action this gateway does not know how to sign.
pub fn credential_action(action: CommandAction) -> Option<palisade_credential::CommandAction> {
    use palisade_credential::CommandAction as Signed;
    Some(match action {
        CommandAction::IsolateNetwork => Signed::IsolateNetwork,
        CommandAction::ReleaseIsolation => Signed::ReleaseIsolation,
        CommandAction::GracefulShutdown => Signed::GracefulShutdown,
        CommandAction::RotateCredential => Signed::RotateCredential,
        CommandAction::InstallRevocationList => Signed::InstallRevocationList { number: 0 },
        CommandAction::RequestInventory => Signed::RequestInventory,
        CommandAction::Custom(code) => Signed::Custom { code, argument: 0 },
        _ => return None,
    })
}

/// Error of signing a command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The action has no signed form in this gateway.
    #[error("command action {0:?} has no signed form; update the gateway")]
    Unsupported(CommandAction),
    /// Signing failed.
    #[error("signing the command failed: {0}")]
    Sign(RejectReason),
}

fn sign_command(
    config: &ServerConfig,
    device: DeviceId,
    command_id: u64,
    action: CommandAction,
    not_after: u64,
) -> Result<Vec<u8>, SignError> {
    let command = Command {
        version: COMMAND_VERSION,
        action: credential_action(action).ok_or(SignError::Unsupported(action))?,
        target: palisade_credential::DeviceId(device.0),
        command_id,
        // Command ids come from the audit table and only grow, so they
        // serve as the device's monotonic counter.
        counter: command_id,
        not_after,
        signer_credential: &config.gateway_credential,
    };
    let mut out = [0u8; MAX_COMMAND_LEN];
    let len = command
        .sign(&config.gateway_signer, &mut out)
        .map_err(SignError::Sign)?;
    Ok(out[..len].to_vec())
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    shared.stats.connections.fetch_add(1, Ordering::Relaxed);
                    // Checked here, in the order of arrival, so that the
                    // first connections of a source within its rate are the
                    // ones admitted, and a flood spawns no tasks.
                    if !lock(&shared.limiter).check(peer.ip(), Instant::now()) {
                        shared.stats.refused.fetch_add(1, Ordering::Relaxed);
                        shared.metrics.rejected_admission(AdmissionRejection::RateLimited);
                        tracing::warn!(%peer, "admission rejected: source exceeded its admission rate");
                        drop(stream);
                        continue;
                    }
                    sessions.spawn(connection(stream, peer, shared.clone(), stop.clone()));
                }
                Err(error) => {
                    tracing::error!(%error, "accepting a device connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    drop(listener);
    tracing::info!("admission stopped; closing device sessions");
    while sessions.join_next().await.is_some() {}
}

/// Why a handshake ended without a session.
enum Refusal {
    /// Reported as an event and, for the admission rules, a finding.
    Reported(Box<Event<'static>>),
    /// The peer closed the connection or the server is stopping.
    Closed,
}

struct Admitted {
    device: DeviceId,
    writer: FrameWriter<palisade_credential::SessionSealer>,
    reader: FrameReader<palisade_credential::SessionOpener>,
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let step_ms = shared.config.step_timeout.as_millis() as u64;
    let mut link = TokioLink::new(
        stream,
        LinkConfig::stream(MAX_TRANSPORT_FRAME_LEN, step_ms.max(1)),
    );
    let admitted = match handshake(&mut link, peer, &shared).await {
        Ok(admitted) => admitted,
        Err(Refusal::Closed) => return,
        Err(Refusal::Reported(event)) => {
            shared.stats.refused.fetch_add(1, Ordering::Relaxed);
            if shared.rejections.try_send((peer, event)).is_err() {
                shared
                    .metrics
                    .drops(DropReason::RejectionReportQueueFull, 1);
                let dropped = shared
                    .stats
                    .rejection_reports_dropped
                    .fetch_add(1, Ordering::Relaxed)
                    + 1;
                // One line per 1000 drops keeps a flood out of the log.
                if dropped % 1000 == 1 {
                    tracing::warn!(%peer, dropped, "rejected admission not stored: {REJECTION_QUEUE_LEN} reports are waiting");
                }
            }
            return;
        }
    };
    let device = admitted.device;
    let (tx, rx) = mpsc::channel(COMMAND_QUEUE_LEN);
    lock(&shared.sessions).insert(device, tx);
    shared.stats.admitted.fetch_add(1, Ordering::Relaxed);
    let result = session(&mut link, admitted, peer, &shared, rx, stop).await;
    lock(&shared.sessions).remove(&device);
    match result {
        Ok(reason) => tracing::info!(%peer, %device, reason, "device session closed"),
        Err(error) => match error.violation() {
            Some(reason) => {
                tracing::warn!(%peer, %device, reason = violation_name(reason), %error, "device session cut off: protocol violation");
                report_session_violation(&shared, peer, device, reason).await;
            }
            None => tracing::warn!(%peer, %device, %error, "device session failed"),
        },
    }
}

/// Stores a `protocol_violation` event for a session that was cut off, so
/// the security sinks receive it.
async fn report_session_violation(
    shared: &Shared,
    peer: SocketAddr,
    device: DeviceId,
    reason: ProtocolViolationReason,
) {
    let event = violation_event(shared, peer, Some(device), reason);
    let core = shared.core.clone();
    let stored = tokio::task::spawn_blocking(move || {
        let mut core = lock(&core);
        let stored = core
            .outbox()
            .store_gateway_events(Some(device), std::slice::from_ref(&event));
        if stored.is_ok() {
            core.metrics().events(event.class(), 1);
        }
        stored
    })
    .await;
    match stored {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => {
            tracing::error!(%peer, %device, %error, "storing a protocol violation failed")
        }
        Err(error) => {
            tracing::error!(%peer, %device, %error, "storing a protocol violation panicked")
        }
    }
}

fn gateway_header(shared: &Shared, severity: Severity) -> Header {
    Header {
        sequence: shared.gateway_sequence.fetch_add(1, Ordering::Relaxed),
        boot: 0,
        uptime_ms: shared.started.elapsed().as_millis() as u64,
        wall_clock: Some(WallClock {
            unix_ms: now_unix_ms(),
            synchronized: true,
        }),
        severity,
        hit_count: HitCount::ONE,
        window_ms: 0,
    }
}

fn violation(
    shared: &Shared,
    peer: SocketAddr,
    device: Option<DeviceId>,
    reason: ProtocolViolationReason,
    detail: &str,
) -> Refusal {
    tracing::warn!(%peer, reason = violation_name(reason), detail, "admission rejected: protocol violation");
    Refusal::Reported(Box::new(violation_event(shared, peer, device, reason)))
}

fn violation_event(
    shared: &Shared,
    peer: SocketAddr,
    device: Option<DeviceId>,
    reason: ProtocolViolationReason,
) -> Event<'static> {
    Event {
        header: gateway_header(shared, Severity::Medium),
        body: EventBody::ProtocolViolation(ProtocolViolation {
            peer: Some(SocketAddress::from(peer)),
            device_id: device,
            reason,
        }),
    }
}

/// Returns the name of a violation reason as the OCSF output writes it.
fn violation_name(reason: ProtocolViolationReason) -> &'static str {
    match reason {
        ProtocolViolationReason::OversizedFrame => "oversized_frame",
        ProtocolViolationReason::StalledHandshake => "stalled_handshake",
        ProtocolViolationReason::GarbageBeforeFrame => "garbage_before_frame",
        ProtocolViolationReason::MalformedRecord => "malformed_record",
        ProtocolViolationReason::UnopenableRecord => "unopenable_record",
        ProtocolViolationReason::ReplayedRecord => "replayed_record",
        ProtocolViolationReason::Unresponsive => "unresponsive",
        _ => "other",
    }
}

fn credential_refusal(
    shared: &Shared,
    peer: SocketAddr,
    claimed: Option<(DeviceId, u64)>,
    reason: &RejectReason,
) -> Refusal {
    let header = gateway_header(shared, Severity::High);
    let mapped = match reason {
        RejectReason::UnknownRoot { .. } | RejectReason::UnknownIssuer { .. } => {
            tracing::warn!(%peer, device = ?claimed.map(|c| c.0), %reason, "admission rejected: unknown device");
            return Refusal::Reported(Box::new(Event {
                header: Header {
                    severity: Severity::Medium,
                    ..header
                },
                body: EventBody::UnknownDevice(UnknownDevice {
                    peer: SocketAddress::from(peer),
                    claimed_device_id: claimed.map(|c| c.0),
                }),
            }));
        }
        RejectReason::Expired { .. } => CredentialRejectReason::Expired,
        RejectReason::NotYetValid { .. } | RejectReason::OutsideIssuerWindow { .. } => {
            CredentialRejectReason::NotYetValid
        }
        RejectReason::Revoked { .. } | RejectReason::IssuerRevoked { .. } => {
            CredentialRejectReason::Revoked
        }
        RejectReason::BadSignature { .. }
        | RejectReason::DomainMismatch { .. }
        | RejectReason::NonCanonicalSignature { .. } => CredentialRejectReason::BadSignature,
        RejectReason::ProofOfPossessionFailed { .. } => {
            CredentialRejectReason::ProofOfPossessionFailed
        }
        RejectReason::MissingKeyUsage { .. }
        | RejectReason::WrongKind { .. }
        | RejectReason::ModelNotAllowed { .. } => CredentialRejectReason::NotPermitted,
        RejectReason::RevocationListStale { .. } => CredentialRejectReason::RevocationListStale,
        RejectReason::ClonedDeviceKey { .. } => CredentialRejectReason::ClonedKey,
        _ => CredentialRejectReason::Malformed,
    };
    tracing::warn!(%peer, device = ?claimed.map(|c| c.0), %reason, "admission rejected: invalid credential");
    Refusal::Reported(Box::new(Event {
        header,
        body: EventBody::CredentialRejected(CredentialRejected {
            peer: Some(SocketAddress::from(peer)),
            device_id: claimed.map(|c| c.0),
            serial: claimed.map(|c| c.1),
            reason: mapped,
            detail_code: reason.code(),
        }),
    }))
}

/// Receives one frame within the step timeout; `None` when the peer closed.
async fn recv_step(
    link: &mut TokioLink<TcpStream>,
    shared: &Shared,
    peer: SocketAddr,
) -> Result<Vec<u8>, Refusal> {
    let limit = shared.config.step_timeout;
    match tokio::time::timeout(limit, link.recv()).await {
        Ok(Ok(frame)) => Ok(frame.to_vec()),
        Ok(Err(LinkError::Timeout { .. })) | Err(_) => Err(violation(
            shared,
            peer,
            None,
            ProtocolViolationReason::StalledHandshake,
            &format!(
                "handshake message not complete within {} ms",
                limit.as_millis()
            ),
        )),
        Ok(Err(LinkError::Framing(error))) => Err(violation(
            shared,
            peer,
            None,
            ProtocolViolationReason::OversizedFrame,
            &error.to_string(),
        )),
        Ok(Err(error)) => {
            tracing::info!(%peer, %error, "connection closed during the handshake");
            Err(Refusal::Closed)
        }
    }
}

async fn send_rejection(link: &mut TokioLink<TcpStream>, code: u8) {
    let mut out = vec![0u8; MAX_TRANSPORT_FRAME_LEN];
    if let Ok(frame) =
        FrameWriter::checksummed().application(KIND_HANDSHAKE_REJECTED, &[code], &mut out)
    {
        // The peer learns why it was refused if it still listens; the
        // refusal is reported either way.
        let _ = link.send(frame).await;
    }
}

async fn handshake(
    link: &mut TokioLink<TcpStream>,
    peer: SocketAddr,
    shared: &Shared,
) -> Result<Admitted, Refusal> {
    let mut reader = FrameReader::checksummed();
    let mut plain = FrameWriter::checksummed();
    let mut frame = recv_step(link, shared, peer).await?;
    let msg1 = match reader.read(&mut frame) {
        Ok(Message::Application {
            kind: KIND_HANDSHAKE_MSG1,
            body,
        }) => body.to_vec(),
        Ok(_) => {
            return Err(violation(
                shared,
                peer,
                None,
                ProtocolViolationReason::MalformedRecord,
                "the first frame is not handshake message 1",
            ));
        }
        Err(error) => {
            return Err(violation(
                shared,
                peer,
                None,
                ProtocolViolationReason::GarbageBeforeFrame,
                &format!("the first bytes are not a frame: {error}"),
            ));
        }
    };
    let now = now_unix_ms() / 1000;
    let parsed = {
        let mut replay = lock(&shared.replay);
        GatewayHandshake::read_msg1(&msg1, &mut *replay)
    };
    let parsed = match parsed {
        Ok(parsed) => parsed,
        Err(RejectReason::Replayed) => {
            send_rejection(link, RejectReason::Replayed.code()).await;
            return Err(violation(
                shared,
                peer,
                None,
                ProtocolViolationReason::ReplayedRecord,
                "handshake message 1 replays a nonce already seen",
            ));
        }
        Err(reason) => {
            send_rejection(link, reason.code()).await;
            return Err(violation(
                shared,
                peer,
                None,
                ProtocolViolationReason::MalformedRecord,
                &format!("handshake message 1 is invalid: {reason}"),
            ));
        }
    };
    let chain = parsed.chain();
    let claimed = Credential::decode(chain[1]).ok().map(|credential| {
        (
            DeviceId(credential.body.subject.device_id.0),
            credential.body.serial,
        )
    });
    let verified = lock(&shared.verifier).verify_device_chain(
        &chain,
        VerificationTime::Trusted(now),
        &shared.config.revocations,
    );
    let verified = match verified {
        Ok(verified) => verified,
        Err(reason) => {
            send_rejection(link, reason.code()).await;
            return Err(credential_refusal(shared, peer, claimed, &reason));
        }
    };
    let identity = GatewayIdentity {
        credential: &shared.config.gateway_credential,
        signer: &shared.config.gateway_signer,
    };
    let mut msg2 = [0u8; MAX_MSG2_LEN];
    let (awaiting, len2) =
        match GatewayHandshake::respond(&parsed, &verified, identity, now, &mut OsRng, &mut msg2) {
            Ok(answer) => answer,
            Err(reason) => {
                tracing::error!(%peer, %reason, "building handshake message 2 failed");
                return Err(Refusal::Closed);
            }
        };
    let mut out = vec![0u8; MAX_TRANSPORT_FRAME_LEN];
    let sent = match plain.application(KIND_HANDSHAKE_MSG2, &msg2[..len2], &mut out) {
        Ok(frame) => link.send(frame).await,
        Err(error) => {
            tracing::error!(%peer, %error, "framing handshake message 2 failed");
            return Err(Refusal::Closed);
        }
    };
    if let Err(error) = sent {
        tracing::info!(%peer, %error, "connection closed during the handshake");
        return Err(Refusal::Closed);
    }
    let device = DeviceId(verified.device_id().0);
    let mut frame = recv_step(link, shared, peer).await?;
    let session = match reader.read(&mut frame) {
        Ok(Message::Application {
            kind: KIND_HANDSHAKE_MSG3,
            body,
        }) => awaiting.read_msg3(body),
        _ => {
            return Err(violation(
                shared,
                peer,
                Some(device),
                ProtocolViolationReason::MalformedRecord,
                "the frame after message 2 is not handshake message 3",
            ));
        }
    };
    let session = match session {
        Ok(session) => session,
        Err(reason) => {
            send_rejection(link, reason.code()).await;
            return Err(credential_refusal(shared, peer, claimed, &reason));
        }
    };
    let subject = *verified.subject();
    let names = shared
        .config
        .models
        .get(&(subject.vendor_id, subject.model_id))
        .cloned()
        .unwrap_or_else(|| ModelName {
            vendor: format!("vendor {:#06x}", subject.vendor_id),
            model: format!("model {}", subject.model_id),
        });
    let admission = Admission {
        device,
        model: names.model,
        vendor: names.vendor,
        hardware: format!("rev {}", subject.hardware_revision),
        firmware: "unknown".into(),
        credential_serial: claimed.map(|c| c.1),
        address: Some(peer),
        time_unix_ms: now_unix_ms(),
    };
    let core = shared.core.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut core = lock(&core);
        core.set_model_ids(device, subject.vendor_id, subject.model_id);
        core.admit(&admission)
    })
    .await;
    match outcome {
        Ok(Ok(AdmissionOutcome::Admitted(_))) => {
            tracing::info!(%peer, %device, "device admitted");
        }
        Ok(Ok(AdmissionOutcome::Revoked)) => {
            shared.stats.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::Closed);
        }
        Ok(Err(error)) => {
            tracing::error!(%peer, %device, %error, "recording the admission failed");
            return Err(Refusal::Closed);
        }
        Err(error) => {
            tracing::error!(%peer, %device, %error, "recording the admission panicked");
            return Err(Refusal::Closed);
        }
    }
    let (sealer, opener) = session.split();
    Ok(Admitted {
        device,
        writer: FrameWriter::sealed(sealer),
        reader: FrameReader::sealed(opener),
    })
}

/// Error that ends a session.
#[derive(Debug, thiserror::Error)]
enum SessionFailure {
    #[error("link failed: {0}")]
    Link(String),
    #[error("frame rejected by the framing: {0}")]
    Framing(palisade_transport::framing::FramingError),
    #[error("frame could not be opened: {0}")]
    Unopenable(String),
    #[error("frame could not be decoded: {0}")]
    Malformed(String),
    #[error("framing an outgoing message failed: {0}")]
    Outgoing(String),
    #[error("command {command_id} was not acknowledged before it expired")]
    CommandExpired { command_id: u64 },
    #[error("{MAX_UNACKNOWLEDGED_COMMANDS} commands are unacknowledged")]
    TooManyCommands,
    #[error("storing a batch failed: {0}")]
    Storage(String),
}

impl SessionFailure {
    /// Returns the protocol violation this failure is, if the device
    /// caused it.
    fn violation(&self) -> Option<ProtocolViolationReason> {
        match self {
            Self::Framing(_) => Some(ProtocolViolationReason::OversizedFrame),
            Self::Unopenable(_) => Some(ProtocolViolationReason::UnopenableRecord),
            Self::Malformed(_) => Some(ProtocolViolationReason::MalformedRecord),
            Self::CommandExpired { .. } | Self::TooManyCommands => {
                Some(ProtocolViolationReason::Unresponsive)
            }
            Self::Link(_) | Self::Outgoing(_) | Self::Storage(_) => None,
        }
    }
}

/// Maps a read error of an admitted session's frame to its failure.
fn frame_failure(error: palisade_transport::session::SessionError) -> SessionFailure {
    match error {
        palisade_transport::session::SessionError::Frame(error) => {
            SessionFailure::Unopenable(error.to_string())
        }
        other => SessionFailure::Malformed(other.to_string()),
    }
}

/// Commands sent to a device and not yet acknowledged, each with the
/// instant it expires.
#[derive(Debug, Default)]
struct OpenCommands {
    open: Vec<(u64, Instant)>,
}

impl OpenCommands {
    /// Records a command sent now that expires at `not_after` (Unix
    /// seconds).
    fn sent(&mut self, command_id: u64, not_after: u64) -> Result<(), SessionFailure> {
        if self.open.len() >= MAX_UNACKNOWLEDGED_COMMANDS {
            return Err(SessionFailure::TooManyCommands);
        }
        let remaining = not_after.saturating_sub(now_unix_ms() / 1000);
        self.open
            .push((command_id, Instant::now() + Duration::from_secs(remaining)));
        Ok(())
    }

    /// Closes every open entry of `command_id`.
    fn answered(&mut self, command_id: u64) {
        self.open.retain(|(id, _)| *id != command_id);
    }

    /// Returns the command that expires first, with its expiry.
    fn next_expiry(&self) -> Option<(u64, Instant)> {
        self.open.iter().copied().min_by_key(|(_, at)| *at)
    }

    /// Fails when a command has expired without an acknowledgement.
    fn check(&self, now: Instant) -> Result<(), SessionFailure> {
        match self.next_expiry() {
            Some((command_id, at)) if at <= now => {
                Err(SessionFailure::CommandExpired { command_id })
            }
            _ => Ok(()),
        }
    }
}

async fn session(
    link: &mut TokioLink<TcpStream>,
    mut admitted: Admitted,
    peer: SocketAddr,
    shared: &Shared,
    mut commands: mpsc::Receiver<Outgoing>,
    mut stop: watch::Receiver<bool>,
) -> Result<&'static str, SessionFailure> {
    let device = admitted.device;
    let mut receiver = Receiver::new();
    let mut out = vec![0u8; MAX_TRANSPORT_FRAME_LEN];
    let mut idle_since = Instant::now();
    let mut open_commands = OpenCommands::default();
    loop {
        if *stop.borrow() {
            return Ok("gateway stopping");
        }
        open_commands.check(Instant::now())?;
        let expiry = open_commands.next_expiry().map(|(_, at)| at);
        let frame = tokio::select! {
            _ = stop.changed() => return Ok("gateway stopping"),
            _ = tokio::time::sleep_until(expiry.unwrap_or_else(Instant::now).into()), if expiry.is_some() => continue,
            outgoing = commands.recv() => {
                if let Some(Outgoing::Raw(bytes)) = outgoing {
                    // The device verifies the command; an undecodable one
                    // still goes out, but no acknowledgement is expected.
                    if let Ok((command, _, _)) = Command::decode_unverified(&bytes) {
                        open_commands.sent(command.command_id, command.not_after)?;
                    }
                    let frame = admitted.writer.application(KIND_COMMAND, &bytes, &mut out)
                        .map_err(|e| SessionFailure::Outgoing(e.to_string()))?;
                    link.send(frame).await.map_err(|e| SessionFailure::Link(e.to_string()))?;
                }
                continue;
            }
            received = link.recv() => match received {
                Ok(frame) => frame.to_vec(),
                Err(LinkError::Timeout { mid_frame: false, .. }) => {
                    if idle_since.elapsed() >= shared.config.idle_timeout {
                        return Ok("idle timeout");
                    }
                    continue;
                }
                Err(LinkError::Io(_) | LinkError::Closed) => return Ok("device closed the connection"),
                Err(LinkError::Framing(error)) => return Err(SessionFailure::Framing(error)),
                Err(error) => return Err(SessionFailure::Link(error.to_string())),
            },
        };
        idle_since = Instant::now();
        // Gather this frame and every frame already waiting, up to the
        // batch limit, so one commit covers them.
        let mut pending: Vec<(DataHeader, Vec<u8>)> = Vec::new();
        let mut frames = vec![frame];
        while let Some(mut frame) = frames.pop() {
            match admitted.reader.read(&mut frame) {
                Ok(Message::Data { header, record }) => pending.push((header, record.to_vec())),
                Ok(Message::DataBatch(batch)) => {
                    pending.extend(batch.records().map(|(h, r)| (h, r.to_vec())));
                }
                Ok(Message::Ack(_)) => {}
                Ok(Message::Application { kind, .. }) => {
                    tracing::debug!(%device, kind, "ignoring application message from device");
                }
                Err(error) => return Err(frame_failure(error)),
            }
            if pending.len() >= shared.config.max_batch_records {
                break;
            }
            if let Ok(Ok(next)) = tokio::time::timeout(Duration::from_millis(1), link.recv()).await
            {
                frames.push(next.to_vec());
            }
        }
        if pending.is_empty() {
            continue;
        }
        let disconnect = commit_and_ack(
            link,
            &mut admitted,
            &mut receiver,
            &mut open_commands,
            pending,
            shared,
            &mut out,
        )
        .await?;
        if disconnect {
            return Ok("device revoked");
        }
        let _ = peer;
    }
}

async fn commit_and_ack(
    link: &mut TokioLink<TcpStream>,
    admitted: &mut Admitted,
    receiver: &mut Receiver,
    open_commands: &mut OpenCommands,
    pending: Vec<(DataHeader, Vec<u8>)>,
    shared: &Shared,
    out: &mut [u8],
) -> Result<bool, SessionFailure> {
    let device = admitted.device;
    // Records beyond the window are dropped unacknowledged; the device
    // sends them again once the window moves.
    let mut accepted = Vec::new();
    let mut records = Vec::new();
    for (header, record) in pending {
        match receiver.classify(&header) {
            Verdict::BeyondWindow => continue,
            _ => {
                accepted.push(header);
                records.push(record);
            }
        }
    }
    if accepted.is_empty() {
        return Ok(false);
    }
    let (reply, committed) = oneshot::channel();
    shared
        .commits
        .send(CommitRequest {
            device,
            records,
            reply,
        })
        .await
        .map_err(|_| SessionFailure::Storage("the committer has stopped".into()))?;
    let Committed {
        outcome,
        undecodable,
        answered,
    } = committed
        .await
        .map_err(|_| SessionFailure::Storage("the committer dropped the batch".into()))?
        .map_err(SessionFailure::Storage)?;
    for command_id in answered {
        open_commands.answered(command_id);
    }
    if undecodable > 0 {
        tracing::warn!(%device, undecodable, "records that do not decode were dropped");
        shared
            .stats
            .records_undecodable
            .fetch_add(undecodable, Ordering::Relaxed);
    }
    // Committed: now acknowledge.
    let mut last = None;
    for header in &accepted {
        receiver.accept(header);
        last = Some(*header);
    }
    if let Some(header) = last {
        let ack = receiver.ack_for(&header, WINDOW as u16);
        let frame = admitted
            .writer
            .ack(&ack, out)
            .map_err(|e| SessionFailure::Outgoing(e.to_string()))?;
        link.send(frame)
            .await
            .map_err(|e| SessionFailure::Link(e.to_string()))?;
        shared
            .stats
            .records_acknowledged
            .fetch_add(accepted.len() as u64, Ordering::Relaxed);
    }
    for request in &outcome.commands {
        if request.device != device {
            // Findings only produce commands for the device that sent the
            // events, so this does not happen with the current response
            // policy; the command stays in the audit table unsent.
            tracing::warn!(%device, target = %request.device, command_id = request.command_id, "response command for another device not sent");
            continue;
        }
        match sign_command(
            &shared.config,
            device,
            request.command_id,
            request.action,
            request.not_after_unix_secs,
        ) {
            Ok(signed) => {
                open_commands.sent(request.command_id, request.not_after_unix_secs)?;
                let frame = admitted
                    .writer
                    .application(KIND_COMMAND, &signed, out)
                    .map_err(|e| SessionFailure::Outgoing(e.to_string()))?;
                link.send(frame)
                    .await
                    .map_err(|e| SessionFailure::Link(e.to_string()))?;
                shared.stats.commands_sent.fetch_add(1, Ordering::Relaxed);
                tracing::info!(%device, command_id = request.command_id, action = ?request.action, "response command sent");
            }
            Err(reason) => {
                tracing::error!(%device, command_id = request.command_id, %reason, "signing a response command failed");
            }
        }
    }
    Ok(outcome.disconnect)
}

/// One session's batch for the committer.
struct CommitRequest {
    device: DeviceId,
    records: Vec<Vec<u8>>,
    reply: oneshot::Sender<Result<Committed, String>>,
}

/// A committed batch.
struct Committed {
    outcome: BatchOutcome,
    /// Records that did not decode, dropped and counted.
    undecodable: u64,
    /// Command ids that the batch acknowledged or rejected.
    answered: Vec<u64>,
}

/// Stores the waiting batches of all sessions, up to
/// [`MAX_BATCHES_PER_COMMIT`] per transaction, until every sender is gone.
async fn commit_loop(mut requests: mpsc::Receiver<CommitRequest>, core: SharedCore) {
    while let Some(first) = requests.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_BATCHES_PER_COMMIT {
            match requests.try_recv() {
                Ok(request) => group.push(request),
                Err(_) => break,
            }
        }
        let mut replies = Vec::with_capacity(group.len());
        let mut batches = Vec::with_capacity(group.len());
        for request in group {
            replies.push(request.reply);
            batches.push((request.device, request.records));
        }
        let core = core.clone();
        let count = batches.len();
        match tokio::task::spawn_blocking(move || commit_group(&core, batches)).await {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    // A session that has ended no longer waits for the
                    // result, and its records are committed either way.
                    let _ = reply.send(result);
                }
            }
            Err(error) => {
                tracing::error!(%error, batches = count, "committing batches panicked");
                for reply in replies {
                    let _ = reply.send(Err(format!("committing the batch panicked: {error}")));
                }
            }
        }
    }
}

/// Decodes and stores `batches` in one transaction, or each on its own
/// when the transaction fails. Returns one result per batch, in order.
fn commit_group(
    core: &SharedCore,
    batches: Vec<(DeviceId, Vec<Vec<u8>>)>,
) -> Vec<Result<Committed, String>> {
    let mut decoded = Vec::with_capacity(batches.len());
    let mut undecodable_total = 0;
    for (device, records) in &batches {
        let mut events: Vec<Event<'_>> = Vec::with_capacity(records.len());
        let mut undecodable = 0u64;
        for bytes in records {
            match palisade_schema::from_bytes(bytes) {
                Ok(event) => events.push(event),
                Err(_) => undecodable += 1,
            }
        }
        let answered: Vec<u64> = events
            .iter()
            .filter_map(|event| match &event.body {
                EventBody::CommandAcknowledged(ack) => Some(ack.command_id),
                EventBody::CommandRejected(rejected) => rejected.command_id,
                _ => None,
            })
            .collect();
        undecodable_total += undecodable;
        decoded.push((*device, events, undecodable, answered));
    }
    let mut core = lock(core);
    if undecodable_total > 0 {
        core.metrics()
            .drops(DropReason::Undecodable, undecodable_total);
    }
    let finish = |(_, _, undecodable, answered): &(DeviceId, Vec<Event<'_>>, u64, Vec<u64>),
                  outcome: BatchOutcome| Committed {
        outcome,
        undecodable: *undecodable,
        answered: answered.clone(),
    };
    let together: Vec<(DeviceId, &[Event<'_>])> = decoded
        .iter()
        .map(|(device, events, _, _)| (*device, events.as_slice()))
        .collect();
    match core.receive_many(&together) {
        Ok(outcomes) => decoded
            .iter()
            .zip(outcomes)
            .map(|(batch, outcome)| Ok(finish(batch, outcome)))
            .collect(),
        Err(error) if decoded.len() == 1 => vec![Err(error.to_string())],
        Err(error) => {
            tracing::warn!(%error, batches = decoded.len(), "storing batches together failed; storing each on its own");
            decoded
                .iter()
                .map(|batch| {
                    core.receive(batch.0, &batch.1)
                        .map(|outcome| finish(batch, outcome))
                        .map_err(|error| error.to_string())
                })
                .collect()
        }
    }
}

/// Rejected admissions stored under one hold of the core's lock at most.
const REJECTIONS_PER_LOCK: usize = 16;

/// Stores rejected admissions, a few per hold of the core's lock, until
/// the server stops; then stores what is still queued and returns.
async fn report_rejections(
    mut reports: mpsc::Receiver<(SocketAddr, Box<Event<'static>>)>,
    core: SharedCore,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let first = tokio::select! {
            report = reports.recv() => match report {
                Some(report) => report,
                None => return,
            },
            _ = stop.changed() => {
                // The accept loop has stopped; store what is queued.
                let mut rest = Vec::new();
                while let Ok(report) = reports.try_recv() {
                    rest.push(report);
                }
                for group in rest.chunks(REJECTIONS_PER_LOCK) {
                    store_rejections(&core, group.to_vec()).await;
                }
                return;
            }
        };
        let mut group = vec![first];
        while group.len() < REJECTIONS_PER_LOCK {
            match reports.try_recv() {
                Ok(report) => group.push(report),
                Err(_) => break,
            }
        }
        store_rejections(&core, group).await;
    }
}

async fn store_rejections(core: &SharedCore, group: Vec<(SocketAddr, Box<Event<'static>>)>) {
    let core = core.clone();
    let stored = tokio::task::spawn_blocking(move || {
        let mut core = lock(&core);
        for (peer, event) in &group {
            if let Err(error) = core.reject_admission(event) {
                tracing::error!(%peer, %error, "storing a rejected admission failed");
            }
        }
    })
    .await;
    if let Err(error) = stored {
        tracing::error!(%error, "storing rejected admissions panicked");
    }
}
