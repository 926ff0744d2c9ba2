//! A demo PKI and the device side of the admission handshake and sealed
//! session, for tests that connect many simulated devices to a gateway on
//! loopback.
//!
//! The device side uses the same handshake ([`DeviceHandshake`]) and frames
//! as a real agent. The data of each `Telemetry` record contains the device
//! index and the record's sequence number, so a test can match the lines in
//! `telemetry.jsonl` to the records it sent.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use palisade_credential::handshake::{DeviceHandshake, DeviceIdentity, MAX_MSG1_LEN, MSG3_LEN};
use palisade_credential::{
    CREDENTIAL_VERSION, CredentialBody, CredentialKind, IssuerLimits, KeyUsage, MAX_CREDENTIAL_LEN,
    NO_EXPIRY, OsRng, SignatureAlgorithm, Signer, SoftwareSigner, Subject, TrustAnchor, TrustStore,
    Validity, VerificationTime,
};
use palisade_gateway::server::{
    KIND_HANDSHAKE_MSG1, KIND_HANDSHAKE_MSG2, KIND_HANDSHAKE_MSG3, KIND_HANDSHAKE_REJECTED,
};
use palisade_schema::{
    Bytes, Event, EventBody, Header, HitCount, IpAddress, Login, LoginAction, LoginMethod,
    Severity, Str, Telemetry, WallClock,
};
use palisade_transport::link::{LinkConfig, LinkError};
use palisade_transport::message::{DataHeader, Message};
use palisade_transport::session::{FrameReader, FrameWriter, MAX_TRANSPORT_FRAME_LEN};
use palisade_transport::tokio_link::TokioLink;
use tokio::net::{TcpSocket, TcpStream};

/// Vendor id of the simulated devices.
pub const VENDOR: u32 = 0x00AC_3E01;
/// Model id of the simulated devices.
pub const MODEL: u32 = 101;
/// Records a device sends before it waits for an acknowledgement.
pub const SEND_WINDOW: usize = 32;
/// Telemetry channel of the records [`telemetry_record`] builds.
pub const CHANNEL: u16 = 7;

/// Returns the current Unix time in seconds.
pub fn now_secs() -> u64 {
    now_ms() / 1000
}

/// Returns the current Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// An encoded credential with its private key.
pub struct Issued {
    /// The encoded credential.
    pub credential: Vec<u8>,
    /// The subject's private key.
    pub signer: SoftwareSigner,
}

fn subject(device_id: [u8; 16]) -> Subject {
    Subject {
        device_id: palisade_credential::DeviceId(device_id),
        vendor_id: VENDOR,
        model_id: MODEL,
        hardware_revision: 3,
    }
}

#[allow(clippy::too_many_arguments)]
fn issue(
    kind: CredentialKind,
    serial: u64,
    issuer: &SoftwareSigner,
    subject_signer: SoftwareSigner,
    device_id: [u8; 16],
    validity: Validity,
    usage: KeyUsage,
    limits: Option<IssuerLimits>,
) -> Issued {
    let body = CredentialBody {
        version: CREDENTIAL_VERSION,
        kind,
        algorithm: SignatureAlgorithm::ED25519,
        serial,
        issuer: issuer.key_id(),
        subject: subject(device_id),
        public_key: subject_signer.public_key(),
        validity,
        usage,
        issuer_limits: limits,
    };
    let mut out = [0u8; MAX_CREDENTIAL_LEN];
    let len = body
        .issue(issuer, &mut out)
        .expect("issuing a test credential");
    Issued {
        credential: out[..len].to_vec(),
        signer: subject_signer,
    }
}

fn new_key() -> SoftwareSigner {
    SoftwareSigner::generate(&mut OsRng).expect("generating an Ed25519 key")
}

fn root(now: u64) -> Issued {
    let key = new_key();
    let issuer = SoftwareSigner::from_pkcs8(&key.to_pkcs8()[..]).expect("copying a root key");
    issue(
        CredentialKind::Root,
        1,
        &issuer,
        key,
        [0; 16],
        Validity {
            not_before: now - 365 * 86_400,
            not_after: NO_EXPIRY,
        },
        KeyUsage::ISSUE_CREDENTIALS.union(KeyUsage::SIGN_REVOCATION_LISTS),
        None,
    )
}

fn intermediate(root: &Issued, now: u64) -> Issued {
    let mut models = heapless::Vec::new();
    let _ = models.push(MODEL);
    let limits = IssuerLimits {
        window: Validity {
            not_before: now - 365 * 86_400,
            not_after: now + 5 * 365 * 86_400,
        },
        models,
    };
    issue(
        CredentialKind::Intermediate,
        10,
        &root.signer,
        new_key(),
        [0; 16],
        limits.window,
        KeyUsage::ISSUE_CREDENTIALS,
        Some(limits),
    )
}

/// The test PKI: a maker root with a factory intermediate, an operator
/// root with the gateway's credential, and a factory under a root that the
/// gateway does not pin (for devices that must be rejected).
pub struct Pki {
    /// The device maker's root, pinned by the gateway.
    pub oem_root: Issued,
    /// The factory intermediate that issues device credentials.
    pub factory: Issued,
    /// The operator root that devices pin for commands and the handshake.
    pub operator_root: Issued,
    /// The gateway's credential and key.
    pub gateway: Issued,
    /// A factory under a root that neither the gateway nor the devices pin.
    pub rogue_factory: Issued,
}

/// Paths of the PKI files that `palisade-gateway run` reads.
pub struct PkiFiles {
    /// `--device-root`.
    pub device_root: PathBuf,
    /// `--gateway-credential`.
    pub gateway_credential: PathBuf,
    /// `--gateway-key` (PKCS#8).
    pub gateway_key: PathBuf,
}

impl Pki {
    /// Builds the PKI with fresh keys, valid around `now` (Unix seconds).
    pub fn build(now: u64) -> Self {
        let oem_root = root(now);
        let factory = intermediate(&oem_root, now);
        let operator_root = root(now);
        let rogue_root = root(now);
        let rogue_factory = intermediate(&rogue_root, now);
        let gateway = issue(
            CredentialKind::Gateway,
            7,
            &operator_root.signer,
            new_key(),
            [0; 16],
            Validity {
                not_before: now - 86_400,
                not_after: now + 365 * 86_400,
            },
            KeyUsage::SIGN_COMMANDS,
            None,
        );
        Self {
            oem_root,
            factory,
            operator_root,
            gateway,
            rogue_factory,
        }
    }

    /// Writes the files the gateway binary reads into `dir`.
    pub fn write(&self, dir: &Path) -> PkiFiles {
        std::fs::create_dir_all(dir).expect("creating the PKI folder");
        let files = PkiFiles {
            device_root: dir.join("oem-root.cred"),
            gateway_credential: dir.join("gateway.cred"),
            gateway_key: dir.join("gateway.key.pk8"),
        };
        std::fs::write(&files.device_root, &self.oem_root.credential).expect("writing the root");
        std::fs::write(&files.gateway_credential, &self.gateway.credential)
            .expect("writing the gateway credential");
        std::fs::write(&files.gateway_key, &self.gateway.signer.to_pkcs8()[..])
            .expect("writing the gateway key");
        files
    }

    /// Returns the devices' trust store: the operator root.
    pub fn operator_store(&self) -> TrustStore {
        let mut roots = TrustStore::new();
        let anchor = TrustAnchor::ed25519(self.operator_root.signer.public_key())
            .expect("operator root anchor");
        if roots.pin(anchor).is_err() {
            panic!("an empty trust store has room for one root");
        }
        roots
    }

    /// Issues the credential of device `index` under the pinned factory,
    /// or under the rogue factory when `trusted` is false.
    pub fn device(&self, index: u32, trusted: bool) -> DeviceKeys {
        let now = now_secs();
        let factory = if trusted {
            &self.factory
        } else {
            &self.rogue_factory
        };
        let validity = Validity {
            not_before: now - 86_400,
            not_after: now + 365 * 86_400,
        };
        let device = issue(
            CredentialKind::Device,
            1_000 + u64::from(index),
            &factory.signer,
            new_key(),
            device_id(index, if trusted { 0x01 } else { 0xEE }),
            validity,
            KeyUsage::SEND_EVENTS.union(KeyUsage::RECEIVE_COMMANDS),
            None,
        );
        DeviceKeys {
            index,
            intermediate: factory.credential.clone(),
            device,
        }
    }
}

/// Returns the 16-byte device id of device `index`, with `tag` separating
/// groups of devices.
pub fn device_id(index: u32, tag: u8) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[0] = 0xD0;
    id[1] = tag;
    id[12..].copy_from_slice(&index.to_be_bytes());
    id
}

/// A device's credentials.
pub struct DeviceKeys {
    /// Index that names the device in the test.
    pub index: u32,
    /// The issuing intermediate's credential.
    pub intermediate: Vec<u8>,
    /// The device credential and key.
    pub device: Issued,
}

/// Outcome of a device's handshake.
pub enum Connect {
    /// Admitted: the sealed session.
    Online(Box<DeviceSession>),
    /// Rejected with the credential crate's reject code.
    Rejected(u8),
}

/// Opens a TCP connection to `gateway` from `source` (any 127.0.0.0/8
/// address works as a source on Linux loopback).
pub async fn connect_from(source: IpAddr, gateway: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    let stream = socket.connect(gateway).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Runs the device side of the handshake on `stream`; every step waits at
/// most `step_timeout`.
pub async fn handshake(
    stream: TcpStream,
    keys: &DeviceKeys,
    operator_roots: &TrustStore,
    step_timeout: Duration,
) -> Result<Connect, String> {
    let step_ms = step_timeout.as_millis() as u64;
    let mut link = TokioLink::new(stream, LinkConfig::stream(MAX_TRANSPORT_FRAME_LEN, step_ms));
    let identity = DeviceIdentity {
        intermediate: &keys.intermediate,
        credential: &keys.device.credential,
        signer: &keys.device.signer,
    };
    let mut msg1 = [0u8; MAX_MSG1_LEN];
    let (awaiting, len1) = DeviceHandshake::start(identity, &mut OsRng, &mut msg1)
        .map_err(|e| format!("building message 1 failed: {e}"))?;
    let mut plain = FrameWriter::checksummed();
    let mut out = vec![0u8; MAX_TRANSPORT_FRAME_LEN];
    let frame = plain
        .application(KIND_HANDSHAKE_MSG1, &msg1[..len1], &mut out)
        .map_err(|e| e.to_string())?;
    link.send(frame)
        .await
        .map_err(|e| format!("sending message 1 failed: {e}"))?;
    let mut frame = link
        .recv()
        .await
        .map_err(|e| format!("receiving message 2 failed: {e}"))?
        .to_vec();
    let mut reader = FrameReader::checksummed();
    let msg2 = match reader.read(&mut frame).map_err(|e| e.to_string())? {
        Message::Application {
            kind: KIND_HANDSHAKE_MSG2,
            body,
        } => body.to_vec(),
        Message::Application {
            kind: KIND_HANDSHAKE_REJECTED,
            body,
        } => return Ok(Connect::Rejected(body.first().copied().unwrap_or(0))),
        _ => return Err("unexpected handshake message instead of message 2".into()),
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
        .map_err(|e| format!("the device rejected the gateway: {e}"))?;
    let frame = plain
        .application(KIND_HANDSHAKE_MSG3, &msg3[..len3], &mut out)
        .map_err(|e| e.to_string())?;
    link.send(frame)
        .await
        .map_err(|e| format!("sending message 3 failed: {e}"))?;
    let (sealer, opener) = complete.session.split();
    Ok(Connect::Online(Box::new(DeviceSession {
        index: keys.index,
        link,
        writer: FrameWriter::sealed(sealer),
        reader: FrameReader::sealed(opener),
        boot: 1,
        next_seq: 0,
        acked_next: 0,
        commands: Vec::new(),
    })))
}

/// Builds the encoded `Telemetry` event of device `index`, record `seq`:
/// its data is the index and the sequence number, big-endian.
pub fn telemetry_record(index: u32, seq: u64) -> Vec<u8> {
    let mut data = [0u8; 12];
    data[..4].copy_from_slice(&index.to_be_bytes());
    data[4..].copy_from_slice(&seq.to_be_bytes());
    encode(
        seq,
        Severity::Info,
        EventBody::Telemetry(Telemetry {
            channel: CHANNEL,
            data: Bytes::new(&data).expect("12 bytes fit a telemetry record"),
        }),
    )
}

/// Builds the encoded failed root login of record `seq` (one second of
/// uptime apart from the previous record).
pub fn failed_login_record(_index: u32, seq: u64) -> Vec<u8> {
    encode(
        seq,
        Severity::Medium,
        EventBody::Login(Login {
            action: LoginAction::Failed,
            user: Str::truncated("root"),
            method: LoginMethod::Password,
            terminal: Some(Str::truncated("ssh")),
            source: Some(IpAddress::V4([192, 0, 2, 10])),
        }),
    )
}

fn encode(seq: u64, severity: Severity, body: EventBody<'_>) -> Vec<u8> {
    let event = Event {
        header: Header {
            sequence: seq,
            boot: 1,
            uptime_ms: 3_600_000 + seq * 1_000,
            wall_clock: Some(WallClock {
                unix_ms: now_ms(),
                synchronized: true,
            }),
            severity,
            hit_count: HitCount::ONE,
            window_ms: 0,
        },
        body,
    };
    let mut buffer = [0u8; palisade_schema::MAX_EVENT_LEN];
    palisade_schema::to_slice(&event, &mut buffer)
        .expect("encoding a telemetry event")
        .to_vec()
}

/// A simulated device's sealed session with the gateway.
pub struct DeviceSession {
    /// Index that names the device in the test.
    pub index: u32,
    link: TokioLink<TcpStream>,
    writer: FrameWriter<palisade_credential::SessionSealer>,
    reader: FrameReader<palisade_credential::SessionOpener>,
    boot: u32,
    next_seq: u64,
    acked_next: u64,
    /// Command bodies received from the gateway, never acknowledged.
    pub commands: Vec<Vec<u8>>,
}

impl DeviceSession {
    /// Returns the lowest sequence number the gateway has not acknowledged.
    pub fn acknowledged(&self) -> u64 {
        self.acked_next
    }

    /// Sends `count` telemetry records (at most [`SEND_WINDOW`] in flight)
    /// and waits until all are acknowledged, or fails at `deadline`.
    /// Records without an acknowledgement within one link timeout are sent
    /// again under the same sequence numbers.
    pub async fn send_telemetry(&mut self, count: u64, deadline: Instant) -> Result<(), String> {
        self.send_records(count, telemetry_record, deadline).await
    }

    /// Sends `count` records built by `record(index, seq)` like
    /// [`DeviceSession::send_telemetry`].
    pub async fn send_records(
        &mut self,
        count: u64,
        record: fn(u32, u64) -> Vec<u8>,
        deadline: Instant,
    ) -> Result<(), String> {
        let first = self.next_seq;
        let end = first + count;
        self.next_seq = end;
        let mut out = vec![0u8; MAX_TRANSPORT_FRAME_LEN];
        let mut sent_upto = self.acked_next;
        while self.acked_next < end {
            if Instant::now() > deadline {
                return Err(format!(
                    "device {}: records {}..{end} not acknowledged before the deadline",
                    self.index, self.acked_next
                ));
            }
            let window_end = (self.acked_next + SEND_WINDOW as u64).min(end);
            while sent_upto < window_end {
                let header = DataHeader {
                    boot: self.boot,
                    seq: sent_upto,
                    base: self.acked_next,
                };
                let record = record(self.index, sent_upto);
                let frame = self
                    .writer
                    .data(&header, &record, &mut out)
                    .map_err(|e| e.to_string())?;
                self.link
                    .send(frame)
                    .await
                    .map_err(|e| format!("device {}: sending failed: {e}", self.index))?;
                sent_upto += 1;
            }
            if !self.receive_once().await? {
                sent_upto = self.acked_next;
            }
        }
        Ok(())
    }

    /// Handles one frame from the gateway: an acknowledgement moves the
    /// acknowledged position, a command is stored and left unanswered.
    /// Returns `false` when no frame came within the link timeout.
    pub async fn receive_once(&mut self) -> Result<bool, String> {
        let mut frame = match self.link.recv().await {
            Ok(frame) => frame.to_vec(),
            Err(LinkError::Timeout {
                mid_frame: false, ..
            }) => return Ok(false),
            Err(e) => return Err(format!("device {}: receiving failed: {e}", self.index)),
        };
        match self.reader.read(&mut frame).map_err(|e| e.to_string())? {
            Message::Ack(ack) if ack.boot == self.boot => {
                self.acked_next = self.acked_next.max(ack.next);
            }
            Message::Application { kind, body }
                if kind == palisade_gateway::server::KIND_COMMAND =>
            {
                self.commands.push(body.to_vec());
            }
            _ => {}
        }
        Ok(true)
    }

    /// Reads frames, storing commands, until the gateway closes the
    /// connection or `limit` passes; returns whether the gateway closed it.
    pub async fn read_until_closed(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match tokio::time::timeout(left, self.receive_once()).await {
                Ok(Ok(_)) => {}
                Ok(Err(_)) => return true,
                Err(_) => return false,
            }
        }
    }

    /// Ends the framed session and returns its TCP stream, for a test that
    /// writes bytes the framing would not produce.
    pub fn into_stream(self) -> TcpStream {
        self.link.into_inner()
    }
}
