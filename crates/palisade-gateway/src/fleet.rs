//! The fleet scenario: a demo PKI, a gateway on 127.0.0.1, the Linux
//! collectors of this machine and simulated devices over real loopback TCP,
//! then a series of attacks that each detection rule must catch.
//!
//! [`run`] provisions an OEM root, a factory intermediate, an operator root,
//! a gateway credential and device credentials for several models into
//! `<out>/pki`, starts the admission server ([`crate::server`]) on an
//! ephemeral loopback port, and connects:
//!
//! - one device that reports this machine's own state (processes, ports,
//!   logins, packages, baseline checks, system information) as read by
//!   `palisade-agent`'s Linux collectors;
//! - `devices` simulated devices of four models, each sending system
//!   information, data-rate samples, telemetry, heartbeats and the odd
//!   login or remote session over the full handshake and sealed session.
//!
//! Unless [`FleetOptions::clean`] is set it then plays the attacks: a device
//! without a trusted credential, an expired and a revoked credential, a
//! forged and a replayed command, remote sessions of 2 seconds and 10
//! hours, a 20x data burst, a sequence gap and a replay, and a brute-force
//! login, and one device whose openssl build differs from the one its
//! maker signed in the model's reference SBOM. The output folder holds
//! `security.jsonl`, `telemetry.jsonl` and `inventory.sqlite`, the device
//! BOMs under `sbom/` and the maker's signed reference SBOMs (one per
//! model, loaded by the gateway for the `sbom_drift` rule) under
//! `reference-sboms/`.
//!
//! A simulated device is this module's own device side, built on the same
//! handshake ([`palisade_credential::DeviceHandshake`]), frames and command
//! verifier ([`palisade_credential::CommandVerifier`]) that the agent uses;
//! it lets the scenario choose sequence numbers for the gap and replay
//! attacks. Device uptime is simulated (one minute per round), so a run
//! covers half an hour of device time in a few seconds.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use palisade_agent::linux::{LinuxCollectors, LinuxConfig};
use palisade_credential::handshake::{DeviceHandshake, DeviceIdentity, MAX_MSG1_LEN, MSG3_LEN};
use palisade_credential::{
    COMMAND_VERSION, CREDENTIAL_VERSION, ChainVerifier, Command, CommandVerifier, CredentialBody,
    CredentialKind, IssuerLimits, KeyUsage, MAX_COMMAND_LEN, MAX_CREDENTIAL_LEN,
    MAX_REVOCATION_LIST_LEN, NO_EXPIRY, OsRng, REVOCATION_LIST_VERSION, RevocationList,
    RevokedCredential, SignatureAlgorithm, Signer, SoftwareSigner, Subject, TrustAnchor,
    TrustStore, Validity, VerificationTime,
};
use palisade_schema::{
    Bytes, CommandAcknowledged, CommandOutcome, CommandRejected, DataRateSample, DeviceId,
    Direction, Event, EventBody, Header, Heartbeat, HitCount, IpAddress, Login, LoginAction,
    LoginMethod, RemoteSession, Severity, SocketAddress, SoftwareComponent, Str, SystemInfo,
    Telemetry, WallClock,
};
use palisade_transport::link::LinkConfig;
use palisade_transport::message::{DataHeader, Message};
use palisade_transport::session::{FrameReader, FrameWriter, MAX_TRANSPORT_FRAME_LEN};
use palisade_transport::tokio_link::TokioLink;
use tokio::net::{TcpListener, TcpStream};

use crate::config::Config;
use crate::delivery::Delivery;
use crate::metrics::Metrics;
use crate::pipeline::GatewayCore;
use crate::server::{
    KIND_COMMAND, KIND_HANDSHAKE_MSG1, KIND_HANDSHAKE_MSG2, KIND_HANDSHAKE_MSG3,
    KIND_HANDSHAKE_REJECTED, ModelName, ServerConfig, SharedCore,
};

/// The nine rules the attacks must trigger.
pub const ATTACK_RULES: [&str; 9] = [
    "unknown_device",
    "invalid_credential",
    "unauthorized_command",
    "remote_session_short",
    "remote_session_long",
    "data_rate_anomaly",
    "sequence_anomaly",
    "brute_force_login",
    "sbom_drift",
];

/// Vendor id of the demo devices.
const VENDOR: u32 = 0x00AC_3E01;
/// Models of the simulated devices: id, name, outbound bytes per minute.
const MODELS: [(u32, &str, u64); 4] = [
    (101, "IP-200 infusion pump", 240_000),
    (102, "PM-7 patient monitor", 1_200_000),
    (103, "VT-3 ventilator", 600_000),
    (104, "GL-1 glucose meter", 30_000),
];
/// Model id of the device that reports this machine's own state.
const HOST_MODEL: u32 = 900;
/// Rounds each simulated device plays (one simulated minute each).
const ROUNDS: u64 = 30;
/// Round from which attacks are played (after the data-rate warm-up).
const ATTACK_ROUND: u64 = 25;
/// Records a device sends before it waits for an acknowledgement.
const SEND_WINDOW: usize = 32;
/// Firmware version of the simulated devices and of their reference SBOMs.
const FIRMWARE: &str = "2.4.1";
/// Index of the device whose openssl hash differs from its reference SBOM
/// when attacks are played.
const DRIFT_DEVICE: usize = 1;

/// Options of [`run`].
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// Output folder (created; existing output files are replaced).
    pub out: PathBuf,
    /// Number of simulated devices.
    pub devices: usize,
    /// Play no attack.
    pub clean: bool,
    /// Include this machine's own state through the Linux collectors.
    pub host_agent: bool,
    /// MQTT broker on loopback that also receives the security output.
    pub mqtt: Option<SocketAddr>,
}

/// What a run did, as counted by the gateway and read back from its output.
#[derive(Debug, Clone, Default)]
pub struct FleetReport {
    /// Output folder.
    pub out: PathBuf,
    /// Devices admitted.
    pub admitted: u64,
    /// Connections refused.
    pub refused: u64,
    /// Records acknowledged to devices after commit.
    pub records_acknowledged: u64,
    /// Lines in `security.jsonl` per OCSF class name.
    pub security_classes: BTreeMap<String, u64>,
    /// Lines in `telemetry.jsonl`.
    pub telemetry_lines: u64,
    /// Detection findings per rule id.
    pub findings: BTreeMap<String, u64>,
    /// Signed commands sent to devices.
    pub commands_sent: u64,
    /// Commands whose acknowledgement is in the audit table.
    pub commands_acknowledged: u64,
    /// CycloneDX BOMs written under `sbom/`, one per admitted device.
    pub boms: usize,
    /// Signed reference SBOMs the gateway loaded (one per simulated model).
    pub reference_sboms: usize,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl FleetReport {
    /// Prints the summary.
    pub fn summary(&self) -> String {
        let mut text = String::new();
        text.push_str(&format!(
            "devices admitted: {}\nconnections refused: {}\nrecords acknowledged: {}\n",
            self.admitted, self.refused, self.records_acknowledged
        ));
        text.push_str("security events per class:\n");
        for (class, count) in &self.security_classes {
            text.push_str(&format!("  {class:<32} {count}\n"));
        }
        text.push_str(&format!("telemetry records: {}\n", self.telemetry_lines));
        text.push_str("findings per rule:\n");
        for (rule, count) in &self.findings {
            text.push_str(&format!("  {rule:<32} {count}\n"));
        }
        text.push_str(&format!(
            "commands sent: {}\ncommands acknowledged: {}\ndevice SBOMs: {}\nreference SBOMs loaded: {}\nrun time: {:.1} s\noutput: {}\n",
            self.commands_sent,
            self.commands_acknowledged,
            self.boms,
            self.reference_sboms,
            self.elapsed.as_secs_f64(),
            self.out.display()
        ));
        text
    }
}

/// Error of [`run`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// A file or socket operation failed.
    #[error("{what} failed: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Building the demo PKI failed.
    #[error("building the demo PKI failed: {0}")]
    Pki(palisade_credential::RejectReason),
    /// The gateway core failed.
    #[error("gateway core failed: {0}")]
    Core(String),
    /// A device that should have been admitted was not.
    #[error("device {device} failed: {reason}")]
    Device {
        /// Device name.
        device: String,
        /// Why.
        reason: String,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> FleetError {
    let what = what.into();
    move |source| FleetError::Io { what, source }
}

fn now_secs() -> u64 {
    now_ms() / 1000
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

// ---------------------------------------------------------------- PKI

/// An encoded credential with its private key.
struct Issued {
    credential: Vec<u8>,
    signer: SoftwareSigner,
    device_id: DeviceId,
}

#[allow(clippy::too_many_arguments)]
fn issue(
    kind: CredentialKind,
    serial: u64,
    issuer: &SoftwareSigner,
    subject_signer: SoftwareSigner,
    subject: Subject,
    validity: Validity,
    usage: KeyUsage,
    limits: Option<IssuerLimits>,
) -> Result<Issued, FleetError> {
    let body = CredentialBody {
        version: CREDENTIAL_VERSION,
        kind,
        algorithm: SignatureAlgorithm::ED25519,
        serial,
        issuer: issuer.key_id(),
        subject,
        public_key: subject_signer.public_key(),
        validity,
        usage,
        issuer_limits: limits,
    };
    let mut out = [0u8; MAX_CREDENTIAL_LEN];
    let len = body.issue(issuer, &mut out).map_err(FleetError::Pki)?;
    Ok(Issued {
        credential: out[..len].to_vec(),
        signer: subject_signer,
        device_id: DeviceId(subject.device_id.0),
    })
}

fn new_key() -> Result<SoftwareSigner, FleetError> {
    SoftwareSigner::generate(&mut OsRng).map_err(FleetError::Pki)
}

fn subject(device_id: [u8; 16], model_id: u32) -> Subject {
    Subject {
        device_id: palisade_credential::DeviceId(device_id),
        vendor_id: VENDOR,
        model_id,
        hardware_revision: 3,
    }
}

fn self_signed_root(serial: u64, now: u64, usage: KeyUsage) -> Result<Issued, FleetError> {
    let key = new_key()?;
    let issuer = SoftwareSigner::from_pkcs8(&key.to_pkcs8()[..]).map_err(FleetError::Pki)?;
    issue(
        CredentialKind::Root,
        serial,
        &issuer,
        key,
        subject([0; 16], 0),
        Validity {
            not_before: now - 365 * 86_400,
            not_after: NO_EXPIRY,
        },
        usage,
        None,
    )
}

fn anchor(root: &Issued) -> Result<TrustAnchor, FleetError> {
    TrustAnchor::ed25519(root.signer.public_key()).map_err(FleetError::Pki)
}

/// The demo PKI.
struct Pki {
    oem_root: Issued,
    factory: Issued,
    operator_root: Issued,
    gateway: Issued,
    /// An intermediate and a gateway credential under a root nobody pins:
    /// the unknown device's maker and the forger's command key.
    rogue_factory: Issued,
    rogue_gateway: Issued,
    revocations: Vec<u8>,
}

fn device_id(index: u32, tag: u8) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[0] = 0xD0;
    id[1] = tag;
    id[12..].copy_from_slice(&index.to_be_bytes());
    id
}

fn factory_limits(now: u64, models: &[u32]) -> IssuerLimits {
    let mut list = heapless::Vec::new();
    for model in models {
        let _ = list.push(*model);
    }
    IssuerLimits {
        window: Validity {
            not_before: now - 365 * 86_400,
            not_after: now + 5 * 365 * 86_400,
        },
        models: list,
    }
}

fn build_pki(now: u64) -> Result<Pki, FleetError> {
    let root_usage = KeyUsage::ISSUE_CREDENTIALS.union(KeyUsage::SIGN_REVOCATION_LISTS);
    // The device maker's root also signs its reference SBOMs.
    let oem_root = self_signed_root(1, now, root_usage.union(KeyUsage::SIGN_REFERENCE_SBOMS))?;
    let operator_root = self_signed_root(1, now, root_usage)?;
    let rogue_root = self_signed_root(1, now, root_usage)?;
    let mut models: Vec<u32> = MODELS.iter().map(|m| m.0).collect();
    models.push(HOST_MODEL);
    let limits = factory_limits(now, &models);
    let factory = issue(
        CredentialKind::Intermediate,
        10,
        &oem_root.signer,
        new_key()?,
        subject([0; 16], 0),
        limits.window,
        KeyUsage::ISSUE_CREDENTIALS,
        Some(limits.clone()),
    )?;
    let rogue_factory = issue(
        CredentialKind::Intermediate,
        10,
        &rogue_root.signer,
        new_key()?,
        subject([0; 16], 0),
        limits.window,
        KeyUsage::ISSUE_CREDENTIALS,
        Some(limits),
    )?;
    let gateway_validity = Validity {
        not_before: now - 86_400,
        not_after: now + 365 * 86_400,
    };
    let gateway = issue(
        CredentialKind::Gateway,
        7,
        &operator_root.signer,
        new_key()?,
        subject([0; 16], 0),
        gateway_validity,
        KeyUsage::SIGN_COMMANDS,
        None,
    )?;
    let rogue_gateway = issue(
        CredentialKind::Gateway,
        7,
        &rogue_root.signer,
        new_key()?,
        subject([0; 16], 0),
        gateway_validity,
        KeyUsage::SIGN_COMMANDS,
        None,
    )?;
    let mut list = RevocationList {
        version: REVOCATION_LIST_VERSION,
        root: oem_root.signer.key_id(),
        signer: oem_root.signer.key_id(),
        number: 1,
        this_update: now - 3600,
        next_update: now + 7 * 86_400,
        credentials: heapless::Vec::new(),
        issuers: heapless::Vec::new(),
    };
    let _ = list.credentials.push(RevokedCredential {
        issuer: factory.signer.key_id(),
        serial: REVOKED_SERIAL,
    });
    let mut out = vec![0u8; MAX_REVOCATION_LIST_LEN];
    let len = list
        .sign(&oem_root.signer, &mut out)
        .map_err(FleetError::Pki)?;
    out.truncate(len);
    Ok(Pki {
        oem_root,
        factory,
        operator_root,
        gateway,
        rogue_factory,
        rogue_gateway,
        revocations: out,
    })
}

const REVOKED_SERIAL: u64 = 66_666;

fn device_credential(
    pki: &Pki,
    serial: u64,
    id: [u8; 16],
    model: u32,
    validity: Validity,
) -> Result<Issued, FleetError> {
    issue(
        CredentialKind::Device,
        serial,
        &pki.factory.signer,
        new_key()?,
        subject(id, model),
        validity,
        KeyUsage::SEND_EVENTS.union(KeyUsage::RECEIVE_COMMANDS),
        None,
    )
}

fn write_pki(dir: &Path, pki: &Pki) -> Result<(), FleetError> {
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    let files: [(&str, &[u8]); 6] = [
        ("oem-root.cred", &pki.oem_root.credential),
        ("factory-intermediate.cred", &pki.factory.credential),
        ("operator-root.cred", &pki.operator_root.credential),
        ("gateway.cred", &pki.gateway.credential),
        ("revocation-list.bin", &pki.revocations),
        ("gateway.key.pk8", &pki.gateway.signer.to_pkcs8()[..]),
    ];
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(io(format!("writing {}", path.display())))?;
    }
    Ok(())
}

// ------------------------------------------------------ device side

/// A device's credentials.
struct DeviceKeys {
    name: String,
    intermediate: Vec<u8>,
    device: Issued,
}

/// Outcome of a device's handshake.
enum Connect {
    Online(Box<DeviceSession>),
    Refused(u8),
}

/// A simulated device's session with the gateway.
struct DeviceSession {
    link: TokioLink<TcpStream>,
    writer: FrameWriter<palisade_credential::SessionSealer>,
    reader: FrameReader<palisade_credential::SessionOpener>,
    verifier: CommandVerifier,
    boot: u32,
    next_seq: u64,
    uptime_ms: u64,
    /// Records sent and not yet acknowledged, by sequence.
    unacked: Vec<(u64, Vec<u8>)>,
    acked_next: u64,
    commands_executed: u64,
    commands_rejected: u64,
}

async fn connect(
    addr: SocketAddr,
    keys: &DeviceKeys,
    operator_roots: &TrustStore,
) -> Result<Connect, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let mut link = TokioLink::new(stream, LinkConfig::stream(MAX_TRANSPORT_FRAME_LEN, 2_000));
    let identity = DeviceIdentity {
        intermediate: &keys.intermediate,
        credential: &keys.device.credential,
        signer: &keys.device.signer,
    };
    let mut msg1 = [0u8; MAX_MSG1_LEN];
    let (awaiting, len1) = DeviceHandshake::start(identity, &mut OsRng, &mut msg1)
        .map_err(|e| format!("message 1: {e}"))?;
    let mut plain = FrameWriter::checksummed();
    let mut out = vec![0u8; MAX_TRANSPORT_FRAME_LEN];
    let frame = plain
        .application(KIND_HANDSHAKE_MSG1, &msg1[..len1], &mut out)
        .map_err(|e| e.to_string())?;
    link.send(frame).await.map_err(|e| e.to_string())?;
    let mut frame = link.recv().await.map_err(|e| e.to_string())?.to_vec();
    let mut reader = FrameReader::checksummed();
    let msg2 = match reader.read(&mut frame).map_err(|e| e.to_string())? {
        Message::Application {
            kind: KIND_HANDSHAKE_MSG2,
            body,
        } => body.to_vec(),
        Message::Application {
            kind: KIND_HANDSHAKE_REJECTED,
            body,
        } => return Ok(Connect::Refused(body.first().copied().unwrap_or(0))),
        _ => return Err("unexpected handshake message".into()),
    };
    let mut msg3 = [0u8; MSG3_LEN];
    let (complete, len3) = awaiting
        .read_msg2(
            &msg2,
            operator_roots,
            VerificationTime::Trusted(now_secs()),
            &[],
            &mut msg3,
        )
        .map_err(|e| format!("gateway rejected by device: {e}"))?;
    let frame = plain
        .application(KIND_HANDSHAKE_MSG3, &msg3[..len3], &mut out)
        .map_err(|e| e.to_string())?;
    link.send(frame).await.map_err(|e| e.to_string())?;
    let (sealer, opener) = complete.session.split();
    Ok(Connect::Online(Box::new(DeviceSession {
        link,
        writer: FrameWriter::sealed(sealer),
        reader: FrameReader::sealed(opener),
        verifier: CommandVerifier::new(
            palisade_credential::DeviceId(keys.device.device_id.0),
            operator_roots.clone(),
            0,
        ),
        boot: 1,
        next_seq: 0,
        uptime_ms: 3_600_000,
        unacked: Vec::new(),
        acked_next: 0,
        commands_executed: 0,
        commands_rejected: 0,
    })))
}

fn header(uptime_ms: u64, severity: Severity) -> Header {
    Header {
        sequence: 0,
        boot: 1,
        uptime_ms,
        wall_clock: Some(WallClock {
            unix_ms: now_ms(),
            synchronized: true,
        }),
        severity,
        hit_count: HitCount::ONE,
        window_ms: 0,
    }
}

impl DeviceSession {
    /// Encodes `body` as the next record (or under `sequence` when given).
    fn encode(
        &mut self,
        severity: Severity,
        body: EventBody<'_>,
        sequence: Option<u64>,
    ) -> (u64, Vec<u8>) {
        let seq = sequence.unwrap_or(self.next_seq);
        let mut head = header(self.uptime_ms, severity);
        head.sequence = seq;
        head.boot = self.boot;
        let event = Event { header: head, body };
        let mut buffer = [0u8; palisade_schema::MAX_EVENT_LEN];
        let bytes = palisade_schema::to_slice(&event, &mut buffer)
            .map(|b| b.to_vec())
            .unwrap_or_default();
        if sequence.is_none() {
            self.next_seq += 1;
        }
        (seq, bytes)
    }

    /// Queues one event as the next record.
    fn record(&mut self, severity: Severity, body: EventBody<'_>) {
        let record = self.encode(severity, body, None);
        self.unacked.push(record);
    }

    /// Sends every queued record and waits until all are acknowledged,
    /// handling commands that arrive meanwhile.
    async fn flush(&mut self) -> Result<(), String> {
        let mut out = vec![0u8; MAX_TRANSPORT_FRAME_LEN];
        let mut sent_upto = 0usize;
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.unacked.is_empty() {
            if Instant::now() > deadline {
                return Err(format!(
                    "{} records not acknowledged within 20 s",
                    self.unacked.len()
                ));
            }
            // The lowest record still to be acknowledged; records skipped by
            // a sequence gap are never sent, so they do not hold it back.
            let base = self
                .unacked
                .iter()
                .map(|(seq, _)| *seq)
                .filter(|seq| *seq >= self.acked_next)
                .min()
                .unwrap_or(self.acked_next);
            while sent_upto < self.unacked.len().min(SEND_WINDOW) {
                let (seq, bytes) = &self.unacked[sent_upto];
                let header = DataHeader {
                    boot: self.boot,
                    seq: *seq,
                    base: base.min(*seq),
                };
                let frame = self
                    .writer
                    .data(&header, bytes, &mut out)
                    .map_err(|e| e.to_string())?;
                self.link.send(frame).await.map_err(|e| e.to_string())?;
                sent_upto += 1;
            }
            let Some(acked) = self.receive_once().await? else {
                // No acknowledgement within the link timeout: send again.
                sent_upto = 0;
                continue;
            };
            let _ = acked;
            // Everything below the acknowledged position is settled,
            // including a record sent again under an old sequence number.
            let next = self.acked_next;
            let settled_sent = self.unacked[..sent_upto]
                .iter()
                .filter(|(seq, _)| *seq < next)
                .count();
            self.unacked.retain(|(seq, _)| *seq >= next);
            sent_upto -= settled_sent;
        }
        Ok(())
    }

    /// Handles one frame from the gateway; returns how far the
    /// acknowledgement moved, or `None` when no frame came within the link
    /// timeout.
    async fn receive_once(&mut self) -> Result<Option<u64>, String> {
        let mut frame = match self.link.recv().await {
            Ok(frame) => frame.to_vec(),
            Err(palisade_transport::link::LinkError::Timeout {
                mid_frame: false, ..
            }) => {
                return Ok(None);
            }
            Err(e) => return Err(e.to_string()),
        };
        match self.reader.read(&mut frame).map_err(|e| e.to_string())? {
            Message::Ack(ack) if ack.boot == self.boot => {
                let moved = ack.next.saturating_sub(self.acked_next);
                self.acked_next = self.acked_next.max(ack.next);
                Ok(Some(moved))
            }
            Message::Application {
                kind: KIND_COMMAND,
                body,
            } => {
                let body = body.to_vec();
                self.handle_command(&body);
                Ok(Some(0))
            }
            _ => Ok(Some(0)),
        }
    }

    fn handle_command(&mut self, bytes: &[u8]) {
        match self
            .verifier
            .verify(bytes, VerificationTime::Trusted(now_secs()), &[])
        {
            Ok(command) => {
                self.commands_executed += 1;
                let reason = format!("executed {}", command.action.name());
                self.record(
                    Severity::Info,
                    EventBody::CommandAcknowledged(CommandAcknowledged {
                        command_id: command.command_id,
                        outcome: CommandOutcome::Executed,
                        reason: Some(Str::truncated(&reason)),
                    }),
                );
            }
            Err(reason) => {
                self.commands_rejected += 1;
                let decoded = Command::decode_unverified(bytes).ok();
                self.record(
                    Severity::High,
                    EventBody::CommandRejected(CommandRejected {
                        command_id: decoded.as_ref().map(|(c, _, _)| c.command_id),
                        action: decoded
                            .as_ref()
                            .map(|(c, _, _)| palisade_agent::command::schema_action(&c.action)),
                        signer_key_id: None,
                        reason: palisade_agent::command::reject_reason(&reason),
                    }),
                );
            }
        }
    }

    /// Reads frames for `wait`, handling commands and sending their
    /// acknowledgement events.
    async fn linger(&mut self, wait: Duration) -> Result<(), String> {
        let until = Instant::now() + wait;
        while Instant::now() < until {
            if let Ok(result) = tokio::time::timeout(
                until.saturating_duration_since(Instant::now()),
                self.receive_once(),
            )
            .await
            {
                result?;
            }
            if !self.unacked.is_empty() {
                self.flush().await?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------- scenario

/// Attack a simulated device plays, by device index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Normal,
    ShortSession,
    LongSession,
    Burst,
    Gap,
    Replay,
    BruteForce,
    CommandTarget,
}

fn role(index: usize, clean: bool) -> Role {
    if clean {
        return if index == 0 {
            Role::CommandTarget
        } else {
            Role::Normal
        };
    }
    match index {
        0 => Role::CommandTarget,
        1 => Role::ShortSession,
        2 => Role::LongSession,
        3 => Role::Burst,
        4 => Role::Gap,
        5 => Role::Replay,
        6 => Role::BruteForce,
        _ => Role::Normal,
    }
}

fn source_ip(index: usize) -> IpAddress {
    IpAddress::V4([10, 20, 9, (index % 200) as u8 + 20])
}

/// One round (one simulated minute) of a simulated device.
fn play_round(session: &mut DeviceSession, index: usize, round: u64, role: Role, drifted: bool) {
    let (_, model_name, rate) = MODELS[index % MODELS.len()];
    session.uptime_ms += 60_000;
    if round == 0 {
        let hostname = format!("dev-{index:03}");
        session.record(
            Severity::Info,
            EventBody::SystemInfo(SystemInfo {
                vendor: Str::truncated("Acme Medical"),
                model: Str::truncated(model_name),
                hostname: Str::truncated(&hostname),
                os_name: Str::truncated("Yocto Linux"),
                os_version: Str::truncated("4.0.18"),
                architecture: Str::truncated("armv7l"),
                firmware_version: Str::truncated(FIRMWARE),
                interfaces: heapless::Vec::new(),
            }),
        );
        record_software(session, index, drifted);
    }
    // Outbound rate within +-3 % of the model's rate.
    let wobble = ((index as u64 * 7 + round * 13) % 7) as i64 - 3;
    let mut bytes = (rate as i64 + rate as i64 * wobble / 100) as u64;
    if role == Role::Burst && round == ATTACK_ROUND {
        bytes = rate * 20;
    }
    session.record(
        Severity::Info,
        EventBody::DataRateSample(DataRateSample {
            direction: Direction::Outbound,
            window_ms: 60_000,
            bytes,
            messages: bytes / 1024,
        }),
    );
    let reading = [(round % 256) as u8, (index % 256) as u8, 0x40, 0x49];
    session.record(
        Severity::Info,
        EventBody::Telemetry(Telemetry {
            channel: 1,
            data: Bytes::new(&reading).unwrap_or_default(),
        }),
    );
    if round % 10 == 5 {
        session.record(
            Severity::Info,
            EventBody::Heartbeat(Heartbeat {
                queued: 0,
                sent: session.next_seq,
                dropped: 0,
                retried: 0,
            }),
        );
    }
    let source = Some(SocketAddress {
        ip: source_ip(index),
        port: 52_000,
    });
    if round == 12 {
        // A service technician's routine session of 15 minutes.
        let id = format!("ssh-{index}-{round}");
        let session_body = |duration_ms| RemoteSession {
            session_id: Str::truncated(&id),
            user: Str::truncated("biomed"),
            source,
            protocol: Str::truncated("ssh"),
            duration_ms,
        };
        session.record(
            Severity::Low,
            EventBody::RemoteSessionStarted(session_body(0)),
        );
        session.uptime_ms += 15 * 60_000;
        session.record(
            Severity::Low,
            EventBody::RemoteSessionEnded(session_body(15 * 60_000)),
        );
        session.record(
            Severity::Info,
            EventBody::Login(Login {
                action: LoginAction::Login,
                user: Str::truncated("biomed"),
                method: LoginMethod::Password,
                terminal: Some(Str::truncated("ssh")),
                source: Some(source_ip(index)),
            }),
        );
    }
    if round != ATTACK_ROUND {
        return;
    }
    match role {
        Role::ShortSession | Role::LongSession => {
            let (id, duration_ms) = if role == Role::ShortSession {
                (format!("ssh-short-{index}"), 2_000)
            } else {
                (format!("ssh-long-{index}"), 10 * 3_600_000)
            };
            let body = |duration_ms| RemoteSession {
                session_id: Str::truncated(&id),
                user: Str::truncated("unknown"),
                source: Some(SocketAddress {
                    ip: IpAddress::V4([203, 0, 113, 50]),
                    port: 40_022,
                }),
                protocol: Str::truncated("ssh"),
                duration_ms,
            };
            session.record(Severity::Medium, EventBody::RemoteSessionStarted(body(0)));
            session.uptime_ms += duration_ms;
            session.record(
                Severity::Medium,
                EventBody::RemoteSessionEnded(body(duration_ms)),
            );
        }
        Role::BruteForce => {
            for attempt in 0..8u64 {
                session.uptime_ms += 2_000 + attempt;
                session.record(
                    Severity::Medium,
                    EventBody::Login(Login {
                        action: LoginAction::Failed,
                        user: Str::truncated("root"),
                        method: LoginMethod::Password,
                        terminal: Some(Str::truncated("ssh")),
                        source: Some(IpAddress::V4([203, 0, 113, 77])),
                    }),
                );
            }
        }
        _ => {}
    }
}

/// The software a model ships: name, version, supplier and purl. Infusion
/// pumps run an older openssl build that the sample advisories list as
/// vulnerable.
fn model_software(model_index: usize) -> [(&'static str, &'static str, &'static str, String); 3] {
    let openssl = if model_index == 0 {
        "3.0.11-1~deb12u2"
    } else {
        "3.0.13-1~deb12u1"
    };
    [
        (
            "dosing-service",
            FIRMWARE,
            "Acme Medical",
            format!("pkg:generic/acme/dosing-service@{FIRMWARE}"),
        ),
        (
            "openssl",
            openssl,
            "Debian OpenSSL Team",
            format!("pkg:deb/debian/openssl@{openssl}?arch=armhf"),
        ),
        (
            "zlib1g",
            "1:1.2.13.dfsg-1",
            "Debian",
            "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=armhf".to_owned(),
        ),
    ]
}

/// The SHA-256 a genuine build of a component has in the demo: a hash of
/// its name and version, standing in for the hash of its package file.
fn genuine_sha256(name: &str, version: &str) -> [u8; 32] {
    palisade_credential::crypto::sha256(&[
        b"fleet demo component\0",
        name.as_bytes(),
        b"\0",
        version.as_bytes(),
    ])
}

/// Reports the device's installed software with each component's SHA-256.
/// A `drifted` device runs an openssl build whose hash differs from the
/// genuine one.
fn record_software(session: &mut DeviceSession, index: usize, drifted: bool) {
    for (name, version, supplier, purl) in &model_software(index % MODELS.len()) {
        let mut sha256 = genuine_sha256(name, version);
        if drifted && *name == "openssl" {
            sha256[0] ^= 0xff;
        }
        session.record(
            Severity::Info,
            EventBody::SoftwareComponent(SoftwareComponent {
                name: Str::truncated(name),
                version: Str::truncated(version),
                supplier: Some(Str::truncated(supplier)),
                purl: Some(Str::truncated(purl)),
                cpe: None,
                sha256: Some(sha256),
            }),
        );
    }
}

/// Signs the maker's reference SBOM of every simulated model for firmware
/// [`FIRMWARE`] with the OEM root and writes each to `dir`.
fn write_reference_sboms(dir: &Path, pki: &Pki, now: u64) -> Result<(), FleetError> {
    use palisade_credential::{
        MAX_REFERENCE_SBOM_LEN, REFERENCE_SBOM_VERSION, ReferenceComponent, ReferenceComponents,
        ReferenceSbom,
    };

    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    for (model_index, (model_id, model_name, _)) in MODELS.iter().enumerate() {
        let software = model_software(model_index);
        let mut components: Vec<ReferenceComponent<'_>> = software
            .iter()
            .map(|(name, version, _, _)| ReferenceComponent {
                name,
                version,
                sha256: genuine_sha256(name, version),
            })
            .collect();
        components.sort_by(|a, b| a.name.cmp(b.name));
        let reference = ReferenceSbom {
            version: REFERENCE_SBOM_VERSION,
            vendor_id: VENDOR,
            model_id: *model_id,
            model_name,
            firmware_version: FIRMWARE,
            issued_at: now - 86_400,
            components: ReferenceComponents::from_slice(&components),
            signer_credential: &pki.oem_root.credential,
        };
        let mut out = vec![0u8; MAX_REFERENCE_SBOM_LEN];
        let len = reference
            .sign(&pki.oem_root.signer, &mut out)
            .map_err(FleetError::Pki)?;
        let path = dir.join(format!("model-{model_id}-{FIRMWARE}.sbom"));
        std::fs::write(&path, &out[..len]).map_err(io(format!("writing {}", path.display())))?;
    }
    Ok(())
}

/// Writes `sbom/<device-id>.cdx.json` for every admitted device, stores
/// a `vulnerable_component` finding for each component that a sample
/// advisory lists, and runs the `sbom_drift` check against the loaded
/// reference SBOMs. Returns the number of BOMs written.
fn posture(core: &SharedCore, out: &Path) -> Result<usize, FleetError> {
    use palisade_export::cyclonedx::{BomSubject, Component, device_bom};
    use palisade_export::vuln::AdvisoryDatabase;

    let dir = out.join("sbom");
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let (advisories, _) = AdvisoryDatabase::sample();
    let mut core = core.lock().unwrap_or_else(|p| p.into_inner());
    let storage = |e: crate::db::StorageError| FleetError::Core(e.to_string());
    let devices = core.inventory().devices().map_err(storage)?;
    let mut written = 0;
    for device in devices {
        let components: Vec<Component> = core
            .inventory()
            .components(device.device)
            .map_err(storage)?
            .into_iter()
            .map(|record| Component {
                name: record.name,
                version: record.version,
                supplier: record.supplier,
                purl: record.purl,
                cpe: record.cpe,
                sha256: record.sha256.as_deref().and_then(parse_sha256),
            })
            .collect();
        let info = core
            .inventory()
            .system_info(device.device)
            .map_err(storage)?;
        let subject = BomSubject {
            device_id: device.device,
            vendor: Some(device.vendor.clone()),
            model: Some(device.model.clone()),
            firmware_version: info.as_ref().map(|i| i.firmware_version.clone()),
            hostname: info.as_ref().map(|i| i.hostname.clone()),
        };
        let bom = device_bom(
            &subject,
            &components,
            now_ms(),
            env!("CARGO_PKG_VERSION"),
            1,
        );
        let path = dir.join(format!("{}.cdx.json", device.device));
        let text = serde_json::to_string_pretty(&bom).unwrap_or_default();
        std::fs::write(&path, text).map_err(io(format!("writing {}", path.display())))?;
        written += 1;
        for component in &components {
            // A component without a recognised package identity cannot be
            // matched; it stays in the BOM.
            let Ok(matches) = advisories.matches(component) else {
                continue;
            };
            for found in matches {
                let mut attributes = BTreeMap::new();
                attributes.insert("advisory_id".to_owned(), found.advisory_id.clone());
                attributes.insert("package".to_owned(), found.package.name.clone());
                attributes.insert("version".to_owned(), found.package.version.clone());
                if let Some(fixed) = &found.fixed_version {
                    attributes.insert("fixed_version".to_owned(), fixed.clone());
                }
                let finding = crate::finding::Finding {
                    rule: crate::finding::RuleId::VulnerableComponent,
                    severity: found.severity,
                    device: Some(device.device),
                    summary: format!(
                        "{} {} is affected by {} (fixed in {})",
                        found.package.name,
                        found.package.version,
                        found.advisory_id,
                        found.fixed_version.as_deref().unwrap_or("no known version")
                    ),
                    evidence: Vec::new(),
                    time_unix_ms: now_ms(),
                    attributes,
                };
                core.outbox().store_finding(&finding).map_err(storage)?;
                core.metrics().finding(finding.rule);
            }
        }
    }
    let drifted = core
        .check_sbom_drift(now_ms())
        .map_err(|e| FleetError::Core(e.to_string()))?;
    tracing::info!(devices = drifted.len(), "SBOM drift checked");
    Ok(written)
}

fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Plays the sequence attacks directly on the wire: a jump of the sequence
/// number, or a different event under a sequence number already used.
fn play_sequence_attack(session: &mut DeviceSession, role: Role) {
    match role {
        Role::Gap => {
            session.next_seq += 5;
            session.record(
                Severity::Info,
                EventBody::Heartbeat(Heartbeat {
                    queued: 0,
                    sent: session.next_seq,
                    dropped: 0,
                    retried: 0,
                }),
            );
        }
        Role::Replay => {
            let old = session.next_seq.saturating_sub(3);
            let record = session.encode(
                Severity::Info,
                EventBody::DataRateSample(DataRateSample {
                    direction: Direction::Outbound,
                    window_ms: 60_000,
                    bytes: 1,
                    messages: 1,
                }),
                Some(old),
            );
            // Sent as a record of its own: the gateway sees a second,
            // different event under a sequence number it already stored.
            session.unacked.insert(0, record);
        }
        _ => {}
    }
}

/// What one simulated device plays.
#[derive(Debug, Clone, Copy)]
struct DevicePlan {
    /// Device index, which also selects its model.
    index: usize,
    /// Attack it plays, if any.
    role: Role,
    /// Whether its openssl hash differs from the model's reference SBOM.
    drifted: bool,
}

async fn run_device(
    addr: SocketAddr,
    keys: DeviceKeys,
    operator_roots: TrustStore,
    plan: DevicePlan,
    linger: Arc<tokio::sync::Notify>,
    finished: Arc<std::sync::atomic::AtomicUsize>,
) -> Result<(u64, u64), FleetError> {
    let DevicePlan {
        index,
        role,
        drifted,
    } = plan;
    let fail = |reason: String| FleetError::Device {
        device: keys.name.clone(),
        reason,
    };
    let mut session = match connect(addr, &keys, &operator_roots).await.map_err(fail)? {
        Connect::Online(session) => session,
        Connect::Refused(code) => return Err(fail(format!("refused with code {code}"))),
    };
    for round in 0..ROUNDS {
        play_round(&mut session, index, round, role, drifted);
        session.flush().await.map_err(fail)?;
        if round == ATTACK_ROUND && matches!(role, Role::Gap | Role::Replay) {
            play_sequence_attack(&mut session, role);
            session.flush().await.map_err(fail)?;
        }
        tokio::task::yield_now().await;
    }
    finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Stay online for commands until the scenario is done with them.
    let notified = linger.notified();
    tokio::pin!(notified);
    loop {
        tokio::select! {
            _ = &mut notified => break,
            result = session.linger(Duration::from_millis(100)) => result.map_err(fail)?,
        }
    }
    session.flush().await.map_err(fail)?;
    Ok((session.commands_executed, session.commands_rejected))
}

/// Connects a device that is expected to be refused; returns the reject code.
async fn attempt_refused(
    addr: SocketAddr,
    keys: DeviceKeys,
    operator_roots: TrustStore,
) -> Result<u8, FleetError> {
    match connect(addr, &keys, &operator_roots).await {
        Ok(Connect::Refused(code)) => Ok(code),
        Ok(Connect::Online(_)) => Err(FleetError::Device {
            device: keys.name,
            reason: "was admitted, but its credential should have been refused".into(),
        }),
        Err(reason) => Err(FleetError::Device {
            device: keys.name,
            reason,
        }),
    }
}

/// Sends this machine's own state, read by the Linux collectors.
async fn run_host(
    addr: SocketAddr,
    keys: DeviceKeys,
    operator_roots: TrustStore,
) -> Result<usize, FleetError> {
    let fail = |reason: String| FleetError::Device {
        device: keys.name.clone(),
        reason,
    };
    let mut session = match connect(addr, &keys, &operator_roots).await.map_err(fail)? {
        Connect::Online(session) => session,
        Connect::Refused(code) => return Err(fail(format!("refused with code {code}"))),
    };
    let records = tokio::task::spawn_blocking(|| {
        let mut config = LinuxConfig::default();
        config.system_info.firmware_version = "fleet-demo".into();
        LinuxCollectors::new(config).collect_all()
    })
    .await
    .map_err(|e| fail(e.to_string()))?;
    let count = records.len();
    for chunk in records.chunks(SEND_WINDOW) {
        session.uptime_ms += 1_000;
        for record in chunk {
            let seq = session.next_seq;
            session.next_seq += 1;
            let mut head = header(session.uptime_ms, record.severity());
            head.sequence = seq;
            head.boot = session.boot;
            let event = record.to_event(head);
            let mut buffer = [0u8; palisade_schema::MAX_EVENT_LEN];
            if let Ok(bytes) = palisade_schema::to_slice(&event, &mut buffer) {
                session.unacked.push((seq, bytes.to_vec()));
            }
        }
        session.flush().await.map_err(fail)?;
    }
    Ok(count)
}

fn operator_store(pki: &Pki) -> Result<TrustStore, FleetError> {
    let mut roots = TrustStore::new();
    roots
        .pin(anchor(&pki.operator_root)?)
        .map_err(|_| FleetError::Core("operator trust store is full".into()))?;
    Ok(roots)
}

fn gateway_config(out: &Path, mqtt: Option<SocketAddr>) -> Result<Config, FleetError> {
    let mut config = Config::with_default_sinks();
    if let Some(broker) = mqtt {
        if !broker.ip().is_loopback() {
            return Err(FleetError::Core(format!(
                "MQTT broker {broker} is not a loopback address; the demo sends only to 127.0.0.1 or ::1"
            )));
        }
        config.sinks.insert(
            "mqtt".into(),
            crate::config::SinkConfig::Mqtt(crate::config::MqttSinkConfig {
                broker: broker.to_string(),
                site: "fleet".into(),
                ..Default::default()
            }),
        );
        config.routing.security.push("mqtt".into());
    }
    config.paths.database = out.join("inventory.sqlite");
    config.paths.output = out.to_path_buf();
    config.posture.reference_sboms = Some(out.join("reference-sboms"));
    // The drift check runs once, after every device finished reporting.
    config.posture.settle_secs = 0;
    // Every demo device connects from 127.0.0.1.
    config.listener.admissions_per_source_per_minute = 10_000;
    // A run covers about half an hour of device time: learning the event
    // transitions of a model takes longer than that, so the transition
    // check stays in learning and the sequence rule reports gaps, replays
    // and regressions only.
    config.detection.sequence_anomaly.learning_events_per_model = 1_000_000;
    Ok(config)
}

fn remove_outputs(out: &Path) -> Result<(), FleetError> {
    for name in [
        "security.jsonl",
        "telemetry.jsonl",
        "inventory.sqlite",
        "inventory.sqlite-wal",
        "inventory.sqlite-shm",
    ] {
        let path = out.join(name);
        if path.exists() {
            std::fs::remove_file(&path).map_err(io(format!("removing {}", path.display())))?;
        }
    }
    Ok(())
}

/// The running gateway of the demo: core, sinks, server and delivery task.
struct Gateway {
    core: SharedCore,
    delivery: Arc<Mutex<Delivery>>,
    server: crate::server::ServerHandle,
    addr: SocketAddr,
    stop_delivery: tokio::sync::watch::Sender<bool>,
    delivery_task: tokio::task::JoinHandle<()>,
    /// Reference SBOMs loaded from `<out>/reference-sboms`.
    reference_sboms: usize,
}

/// Opens the core and the sinks under `out`, starts the server on an
/// ephemeral port of 127.0.0.1 and the delivery task beside it.
async fn start_gateway(
    out: &Path,
    pki: &Pki,
    now: u64,
    mqtt: Option<SocketAddr>,
) -> Result<Gateway, FleetError> {
    let config = gateway_config(out, mqtt)?;
    write_reference_sboms(&out.join("reference-sboms"), pki, now)?;
    let metrics = Metrics::new();
    let mut core = GatewayCore::open(config.clone(), metrics.clone())
        .map_err(|e| FleetError::Core(e.to_string()))?;
    let delivery = Delivery::from_config(
        &config,
        palisade_export::Origin::new("palisade-gateway", env!("CARGO_PKG_VERSION")),
    )
    .map_err(|e| FleetError::Core(e.to_string()))?;
    let delivery = Arc::new(Mutex::new(delivery));

    let mut oem_roots = TrustStore::new();
    oem_roots
        .pin(anchor(&pki.oem_root)?)
        .map_err(|_| FleetError::Core("device trust store is full".into()))?;
    let revocation = RevocationList::decode_and_verify(
        &pki.revocations,
        &oem_roots,
        None,
        VerificationTime::Trusted(now),
    )
    .map_err(FleetError::Pki)?;
    let load = core
        .load_reference_sboms(
            &oem_roots,
            VerificationTime::Trusted(now),
            std::slice::from_ref(&revocation),
        )
        .map_err(|e| FleetError::Core(e.to_string()))?;
    if !load.rejected.is_empty() {
        return Err(FleetError::Core(format!(
            "{} reference SBOM(s) rejected: {}",
            load.rejected.len(),
            load.rejected[0]
        )));
    }
    let reference_sboms = load.loaded;
    let core: SharedCore = Arc::new(Mutex::new(core));
    let mut models = std::collections::HashMap::new();
    for (id, name, _) in MODELS {
        models.insert(
            (VENDOR, id),
            ModelName {
                vendor: "Acme Medical".into(),
                model: name.into(),
            },
        );
    }
    models.insert(
        (VENDOR, HOST_MODEL),
        ModelName {
            vendor: "Acme Medical".into(),
            model: "Linux gateway host".into(),
        },
    );
    let server_config = ServerConfig {
        verifier: ChainVerifier::new(oem_roots),
        revocations: vec![revocation],
        gateway_credential: pki.gateway.credential.clone(),
        gateway_signer: SoftwareSigner::from_pkcs8(&pki.gateway.signer.to_pkcs8()[..])
            .map_err(FleetError::Pki)?,
        step_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(60),
        max_batch_records: config.outbox.max_batch_events,
        admissions_per_source_per_minute: config.listener.admissions_per_source_per_minute,
        models,
        command_validity_secs: config.response.command_validity_secs,
    };
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(io("binding the gateway listener on 127.0.0.1"))?;
    let server = crate::server::spawn(listener, core.clone(), server_config);
    let addr = server.local_addr();

    // Delivery to the sinks runs beside the sessions.
    let (stop_delivery, mut delivery_stopped) = tokio::sync::watch::channel(false);
    let delivery_task = {
        let core = core.clone();
        let delivery = delivery.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = delivery_stopped.changed() => break,
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
                let core = core.clone();
                let delivery = delivery.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    let mut delivery = delivery.lock().unwrap_or_else(|p| p.into_inner());
                    if let Err(error) = core
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .deliver(&mut delivery)
                    {
                        tracing::error!(%error, "delivery round failed");
                    }
                })
                .await;
            }
        })
    };
    Ok(Gateway {
        core,
        delivery,
        server,
        addr,
        stop_delivery,
        delivery_task,
        reference_sboms,
    })
}

/// Device id of the device that [`HostGateway`] provisions.
pub const HOST_DEVICE_ID: [u8; 16] = [0xD0, 0x91, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01];

/// The demo gateway with one device provisioned for a real device agent,
/// such as the `linux_agent` example.
///
/// [`HostGateway::start`] builds the demo PKI, writes it to `<out>/pki`
/// with the device's files added (`host-device.cred` and the PKCS#8 key
/// `host-device.key.pk8`, next to `factory-intermediate.cred` and
/// `operator-root.cred`), and serves on an ephemeral port of 127.0.0.1,
/// writing `security.jsonl`, `telemetry.jsonl` and `inventory.sqlite`
/// under `out`. [`HostGateway::stop`] shuts the server down and delivers
/// what is left to the sinks.
pub struct HostGateway {
    gateway: Gateway,
    pki_dir: PathBuf,
}

impl core::fmt::Debug for HostGateway {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HostGateway")
            .field("addr", &self.gateway.addr)
            .field("pki_dir", &self.pki_dir)
            .finish_non_exhaustive()
    }
}

impl HostGateway {
    /// Provisions the PKI and the device under `out` and starts serving.
    ///
    /// Fails when `out` cannot be written, a key cannot be generated or
    /// the listener cannot bind.
    pub async fn start(out: &Path) -> Result<Self, FleetError> {
        std::fs::create_dir_all(out).map_err(io(format!("creating {}", out.display())))?;
        remove_outputs(out)?;
        let now = now_secs();
        let pki = build_pki(now)?;
        let pki_dir = out.join("pki");
        write_pki(&pki_dir, &pki)?;
        let validity = Validity {
            not_before: now - 86_400,
            not_after: now + 365 * 86_400,
        };
        let device = device_credential(&pki, 901, HOST_DEVICE_ID, HOST_MODEL, validity)?;
        let files: [(&str, &[u8]); 2] = [
            ("host-device.cred", &device.credential),
            ("host-device.key.pk8", &device.signer.to_pkcs8()[..]),
        ];
        for (name, bytes) in files {
            let path = pki_dir.join(name);
            std::fs::write(&path, bytes).map_err(io(format!("writing {}", path.display())))?;
        }
        let gateway = start_gateway(out, &pki, now, None).await?;
        tracing::info!(addr = %gateway.addr, "host gateway started");
        Ok(Self { gateway, pki_dir })
    }

    /// Returns the address the gateway listens on.
    pub fn addr(&self) -> SocketAddr {
        self.gateway.addr
    }

    /// Returns the directory of the PKI files.
    pub fn pki_dir(&self) -> &Path {
        &self.pki_dir
    }

    /// Stops the server, delivers every pending event to the sinks and
    /// returns the number of records the server acknowledged.
    pub async fn stop(self) -> Result<u64, FleetError> {
        let Gateway {
            core,
            delivery,
            server,
            stop_delivery,
            delivery_task,
            ..
        } = self.gateway;
        let acknowledged = server
            .stats()
            .records_acknowledged
            .load(std::sync::atomic::Ordering::Relaxed);
        server.shutdown(Duration::from_secs(5)).await;
        drain(&core, &delivery, stop_delivery, delivery_task).await?;
        tracing::info!(acknowledged, "host gateway stopped");
        Ok(acknowledged)
    }
}

/// Runs the scenario; see the [module docs](self).
pub async fn run(options: &FleetOptions) -> Result<FleetReport, FleetError> {
    let started = Instant::now();
    let out = options.out.clone();
    std::fs::create_dir_all(&out).map_err(io(format!("creating {}", out.display())))?;
    remove_outputs(&out)?;
    let now = now_secs();
    let pki = build_pki(now)?;
    write_pki(&out.join("pki"), &pki)?;

    let Gateway {
        core,
        delivery,
        server,
        addr,
        stop_delivery,
        delivery_task,
        reference_sboms,
    } = start_gateway(&out, &pki, now, options.mqtt).await?;

    let operator_roots = operator_store(&pki)?;
    let validity = Validity {
        not_before: now - 30 * 86_400,
        not_after: now + 3 * 365 * 86_400,
    };
    let linger = Arc::new(tokio::sync::Notify::new());
    let finished = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut devices = tokio::task::JoinSet::new();
    let mut device_ids = Vec::new();
    for index in 0..options.devices {
        let model = MODELS[index % MODELS.len()].0;
        let id = device_id(index as u32, 0x01);
        let keys = DeviceKeys {
            name: format!("dev-{index:03}"),
            intermediate: pki.factory.credential.clone(),
            device: device_credential(&pki, 1_000 + index as u64, id, model, validity)?,
        };
        device_ids.push(keys.device.device_id);
        let plan = DevicePlan {
            index,
            role: role(index, options.clean),
            drifted: !options.clean && index == DRIFT_DEVICE,
        };
        devices.spawn(run_device(
            addr,
            keys,
            operator_roots.clone(),
            plan,
            linger.clone(),
            finished.clone(),
        ));
    }
    let host = if options.host_agent {
        let keys = DeviceKeys {
            name: "linux-host".into(),
            intermediate: pki.factory.credential.clone(),
            device: device_credential(&pki, 900, device_id(0, 0x90), HOST_MODEL, validity)?,
        };
        Some(tokio::spawn(run_host(addr, keys, operator_roots.clone())))
    } else {
        None
    };

    if !options.clean {
        // Admission attacks.
        let unknown = DeviceKeys {
            name: "unknown-device".into(),
            intermediate: pki.rogue_factory.credential.clone(),
            device: issue(
                CredentialKind::Device,
                5,
                &pki.rogue_factory.signer,
                new_key()?,
                subject(device_id(1, 0xEE), MODELS[0].0),
                validity,
                KeyUsage::SEND_EVENTS.union(KeyUsage::RECEIVE_COMMANDS),
                None,
            )?,
        };
        let expired = DeviceKeys {
            name: "expired-credential".into(),
            intermediate: pki.factory.credential.clone(),
            device: device_credential(
                &pki,
                55_555,
                device_id(2, 0xEE),
                MODELS[1].0,
                Validity {
                    not_before: now - 300 * 86_400,
                    not_after: now - 86_400,
                },
            )?,
        };
        let revoked = DeviceKeys {
            name: "revoked-credential".into(),
            intermediate: pki.factory.credential.clone(),
            device: device_credential(
                &pki,
                REVOKED_SERIAL,
                device_id(3, 0xEE),
                MODELS[2].0,
                validity,
            )?,
        };
        for keys in [unknown, expired, revoked] {
            let name = keys.name.clone();
            let code = attempt_refused(addr, keys, operator_roots.clone()).await?;
            tracing::info!(device = %name, code, "attack device rejected as expected");
        }
    }

    // Wait for every simulated device to finish its rounds, then play the
    // command attacks while they linger.
    let target = device_ids.first().copied();
    let wait_start = Instant::now();
    while wait_start.elapsed() < Duration::from_secs(45) {
        if finished.load(std::sync::atomic::Ordering::Relaxed) >= options.devices {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Some(target) = target {
        // A legitimate command, acknowledged by the device.
        let signed = server
            .issue_command(target, palisade_schema::CommandAction::RequestInventory)
            .map_err(|e| FleetError::Core(e.to_string()))?;
        if !options.clean {
            tokio::time::sleep(Duration::from_millis(200)).await;
            // Replay: the same signed bytes again.
            server
                .send_command(target, signed)
                .map_err(|e| FleetError::Core(e.to_string()))?;
            // Forgery: signed by a gateway credential from a root the device
            // does not pin.
            let forged = Command {
                version: COMMAND_VERSION,
                action: palisade_credential::CommandAction::GracefulShutdown,
                target: palisade_credential::DeviceId(target.0),
                command_id: 999_999,
                counter: 999_999,
                not_after: now + 600,
                signer_credential: &pki.rogue_gateway.credential,
            };
            let mut bytes = [0u8; MAX_COMMAND_LEN];
            let len = forged
                .sign(&pki.rogue_gateway.signer, &mut bytes)
                .map_err(FleetError::Pki)?;
            server
                .send_command(target, bytes[..len].to_vec())
                .map_err(|e| FleetError::Core(e.to_string()))?;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    linger.notify_waiters();

    let mut device_errors = Vec::new();
    while let Some(joined) = devices.join_next().await {
        match joined {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => device_errors.push(error.to_string()),
            Err(error) => device_errors.push(error.to_string()),
        }
    }
    if let Some(host) = host {
        match host.await {
            Ok(Ok(count)) => tracing::info!(records = count, "host state sent"),
            Ok(Err(error)) => device_errors.push(error.to_string()),
            Err(error) => device_errors.push(error.to_string()),
        }
    }
    let stats = server.stats();
    let admitted = stats.admitted.load(std::sync::atomic::Ordering::Relaxed);
    let refused = stats.refused.load(std::sync::atomic::Ordering::Relaxed);
    let records_acknowledged = stats
        .records_acknowledged
        .load(std::sync::atomic::Ordering::Relaxed);
    let commands_sent = stats
        .commands_sent
        .load(std::sync::atomic::Ordering::Relaxed);
    server.shutdown(Duration::from_secs(5)).await;
    let posture_core = core.clone();
    let posture_out = out.clone();
    let boms = tokio::task::spawn_blocking(move || posture(&posture_core, &posture_out))
        .await
        .map_err(|e| FleetError::Core(e.to_string()))??;
    tracing::info!(boms, "device BOMs written");
    drain(&core, &delivery, stop_delivery, delivery_task).await?;
    if !device_errors.is_empty() {
        for error in &device_errors {
            tracing::error!(%error, "device failed");
        }
        return Err(FleetError::Device {
            device: format!("{} device(s)", device_errors.len()),
            reason: device_errors.join("; "),
        });
    }

    let commands_acknowledged = {
        let mut core = core.lock().unwrap_or_else(|p| p.into_inner());
        core.responder()
            .audit()
            .map_err(|e| FleetError::Core(e.to_string()))?
            .iter()
            .filter(|record| record.outcome.is_some())
            .count() as u64
    };
    let mut report = read_outputs(&out)?;
    report.admitted = admitted;
    report.refused = refused;
    report.records_acknowledged = records_acknowledged;
    report.commands_sent = commands_sent;
    report.commands_acknowledged = commands_acknowledged;
    report.boms = boms;
    report.reference_sboms = reference_sboms;
    report.elapsed = started.elapsed();
    Ok(report)
}

async fn drain(
    core: &SharedCore,
    delivery: &Arc<Mutex<Delivery>>,
    stop_delivery: tokio::sync::watch::Sender<bool>,
    delivery_task: tokio::task::JoinHandle<()>,
) -> Result<(), FleetError> {
    let _ = stop_delivery.send(true);
    let _ = delivery_task.await;
    let core = core.clone();
    let delivery = delivery.clone();
    tokio::task::spawn_blocking(move || {
        let mut delivery = delivery.lock().unwrap_or_else(|p| p.into_inner());
        core.lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(&mut delivery, 10_000)
            .map(|_| ())
            .map_err(|e| FleetError::Core(e.to_string()))
    })
    .await
    .map_err(|e| FleetError::Core(e.to_string()))?
}

/// Counts the classes and findings in the output files.
pub fn read_outputs(out: &Path) -> Result<FleetReport, FleetError> {
    let mut report = FleetReport {
        out: out.to_path_buf(),
        ..FleetReport::default()
    };
    let security = out.join("security.jsonl");
    let text = std::fs::read_to_string(&security)
        .map_err(io(format!("reading {}", security.display())))?;
    for line in text.lines() {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let class = value["class_name"].as_str().unwrap_or("unknown").to_owned();
        *report.security_classes.entry(class).or_default() += 1;
        if value["class_uid"] == 2004
            && let Some(rule) = value["finding_info"]["analytic"]["uid"].as_str()
        {
            *report.findings.entry(rule.to_owned()).or_default() += 1;
        }
    }
    let telemetry = out.join("telemetry.jsonl");
    if telemetry.exists() {
        let text = std::fs::read_to_string(&telemetry)
            .map_err(io(format!("reading {}", telemetry.display())))?;
        report.telemetry_lines = text.lines().count() as u64;
    }
    Ok(report)
}
