//! The device side of the Palisade run: the admission handshake, then
//! event batches in sealed DATA_BATCH frames, sent within the transport's
//! window and settled by the gateway's acknowledgements, which come only
//! after the durable commit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use palisade_credential::handshake::{DeviceHandshake, DeviceIdentity, MAX_MSG1_LEN, MSG3_LEN};
use palisade_credential::{OsRng, SessionOpener, SessionSealer, TrustStore, VerificationTime};
use palisade_gateway::server::{
    KIND_HANDSHAKE_MSG1, KIND_HANDSHAKE_MSG2, KIND_HANDSHAKE_MSG3, KIND_HANDSHAKE_REJECTED,
};
use palisade_transport::WINDOW;
use palisade_transport::link::{LinkConfig, LinkError};
use palisade_transport::message::Message;
use palisade_transport::session::{FrameReader, FrameWriter, MAX_TRANSPORT_FRAME_LEN};
use palisade_transport::tokio_link::TokioLink;
use tokio::net::TcpStream;

use crate::mix::{self, Scratch};
use crate::pki::DeviceKeys;
use crate::wire::{CountingStream, WireCounters};

/// Longest wait for one frame from the gateway, in milliseconds.
const FRAME_TIMEOUT_MS: u64 = 30_000;

type Link = TokioLink<CountingStream<TcpStream>>;

/// An admitted device with its sealed session.
pub struct Session {
    index: u32,
    link: Link,
    writer: FrameWriter<SessionSealer>,
    reader: FrameReader<SessionOpener>,
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// Connects device `keys` to the gateway at `addr` and runs the handshake.
pub async fn connect(
    addr: SocketAddr,
    keys: &DeviceKeys,
    operator_roots: &TrustStore,
    counters: Arc<WireCounters>,
) -> Result<Session, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connecting to {addr} failed: {e}"))?;
    let _ = stream.set_nodelay(true);
    let mut link = TokioLink::new(
        CountingStream::new(stream, counters),
        LinkConfig::stream(MAX_TRANSPORT_FRAME_LEN, FRAME_TIMEOUT_MS),
    );
    let identity = DeviceIdentity {
        intermediate: &keys.intermediate,
        credential: &keys.device.credential,
        signer: &keys.device.signer,
    };
    let mut msg1 = [0u8; MAX_MSG1_LEN];
    let (awaiting, len1) = DeviceHandshake::start(identity, &mut OsRng, &mut msg1)
        .map_err(|e| format!("building handshake message 1 failed: {e}"))?;
    let mut plain = FrameWriter::checksummed();
    let mut out = vec![0u8; MAX_TRANSPORT_FRAME_LEN];
    let frame = plain
        .application(KIND_HANDSHAKE_MSG1, &msg1[..len1], &mut out)
        .map_err(|e| e.to_string())?;
    link.send(frame).await.map_err(|e| e.to_string())?;
    let mut frame = link
        .recv()
        .await
        .map_err(|e| format!("waiting for handshake message 2 failed: {e}"))?
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
        } => {
            return Err(format!(
                "gateway rejected the device with code {}",
                body.first().copied().unwrap_or(0)
            ));
        }
        _ => return Err("unexpected message instead of handshake message 2".into()),
    };
    let mut msg3 = [0u8; MSG3_LEN];
    let (complete, len3) = awaiting
        .read_msg2(
            &msg2,
            operator_roots,
            VerificationTime::Trusted(unix_ms() / 1000),
            &[],
            &mut msg3,
        )
        .map_err(|e| format!("gateway credential rejected by the device: {e}"))?;
    let frame = plain
        .application(KIND_HANDSHAKE_MSG3, &msg3[..len3], &mut out)
        .map_err(|e| e.to_string())?;
    link.send(frame).await.map_err(|e| e.to_string())?;
    let (sealer, opener) = complete.session.split();
    Ok(Session {
        index: keys.index,
        link,
        writer: FrameWriter::sealed(sealer),
        reader: FrameReader::sealed(opener),
    })
}

/// What one device did in the data phase.
#[derive(Debug, Default, Clone, Copy)]
pub struct DeviceOutcome {
    /// Events acknowledged by the gateway.
    pub acknowledged: u64,
    /// Batches sent, resends included.
    pub batches: u64,
    /// Events sent again after a missing acknowledgement.
    pub resent: u64,
}

impl Session {
    /// Sends events `0..events` in batches of at most `batch` events and
    /// returns once all are acknowledged or `deadline` has passed.
    pub async fn send_events(
        mut self,
        events: u64,
        batch: usize,
        deadline: Instant,
    ) -> Result<DeviceOutcome, String> {
        let boot = 1;
        let mut outcome = DeviceOutcome::default();
        let mut out = vec![0u8; MAX_TRANSPORT_FRAME_LEN];
        let mut record = [0u8; palisade_schema::MAX_EVENT_LEN];
        let mut scratch = Scratch::default();
        let mut acked = 0u64;
        let mut next = 0u64;
        while acked < events {
            if Instant::now() > deadline {
                return Err(format!(
                    "device {}: {} of {events} events acknowledged before the deadline",
                    self.index, acked
                ));
            }
            // Fill the window with batches.
            while next < events && next - acked < WINDOW {
                let room = (WINDOW - (next - acked))
                    .min(events - next)
                    .min(batch as u64);
                let mut builder = self
                    .writer
                    .begin_batch(boot, acked, &mut out)
                    .map_err(|e| e.to_string())?;
                let now = unix_ms();
                for _ in 0..room {
                    let event = mix::event(self.index, next, now, &mut scratch);
                    let bytes = palisade_schema::to_slice(&event, &mut record)
                        .map_err(|e| format!("encoding event {next} failed: {e}"))?;
                    if !builder.push(next, bytes) {
                        break;
                    }
                    next += 1;
                }
                let frame = self
                    .writer
                    .finish_batch(builder)
                    .map_err(|e| e.to_string())?;
                self.link.send(frame).await.map_err(|e| e.to_string())?;
                outcome.batches += 1;
            }
            match self.link.recv().await {
                Ok(frame) => {
                    let mut frame = frame.to_vec();
                    if let Message::Ack(ack) =
                        self.reader.read(&mut frame).map_err(|e| e.to_string())?
                        && ack.boot == boot
                    {
                        acked = acked.max(ack.next.min(next));
                    }
                }
                Err(LinkError::Timeout {
                    mid_frame: false, ..
                }) => {
                    // No acknowledgement in time: send the unsettled events again.
                    outcome.resent += next - acked;
                    next = acked;
                }
                Err(error) => return Err(format!("device {}: link failed: {error}", self.index)),
            }
        }
        outcome.acknowledged = acked;
        // Dropping the session closes the socket, which ends the session on
        // the gateway.
        Ok(outcome)
    }
}
