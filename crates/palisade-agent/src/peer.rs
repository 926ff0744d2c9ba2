//! The gateway's side of the agent's session protocol over one [`Link`]:
//! admission handshake, receiving and acknowledging records, sending
//! signed commands.
//!
//! This is the counterpart that examples, the QEMU firmware check and tests
//! run against the agent. It admits one device per [`GatewayPeer`] and keeps
//! no inventory, detection or outbox: a gateway service builds those around
//! the same calls.

use std::vec::Vec;

use palisade_credential::handshake::MAX_MSG2_LEN;
use palisade_credential::{
    ChainVerifier, GatewayHandshake, GatewayIdentity, RejectReason, ReplayCache, Rng,
    SessionOpener, SessionSealer, Signer, VerificationTime, VerifiedDevice,
};
use palisade_schema::{DecodeError, Event};
use palisade_transport::WINDOW;
use palisade_transport::message::Message;
use palisade_transport::reliable::{Receiver, Verdict};
use palisade_transport::session::{FrameReader, FrameWriter, SessionError};

use crate::agent::FRAME_BUFFER_LEN;
use crate::link::{
    KIND_COMMAND, KIND_HANDSHAKE_MSG1, KIND_HANDSHAKE_MSG2, KIND_HANDSHAKE_MSG3,
    KIND_HANDSHAKE_REJECTED, Link,
};

/// Error of a [`GatewayPeer`] call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError<E: core::fmt::Debug> {
    /// The link failed.
    #[error("link failed: {0:?}")]
    Link(E),
    /// No frame arrived within the number of receive attempts allowed.
    #[error("no frame from the device within {attempts} receive timeouts")]
    Timeout {
        /// Receive attempts made.
        attempts: u32,
    },
    /// The device's handshake or chain was rejected; the device received a
    /// rejection message.
    #[error("device rejected: {0}")]
    Rejected(RejectReason),
    /// A frame could not be built, opened or decoded.
    #[error("session frame failed: {0}")]
    Frame(SessionError),
    /// The device sent a message that does not fit the protocol state.
    #[error("unexpected message of kind {kind:#04x} from the device")]
    UnexpectedMessage {
        /// Kind byte of the message.
        kind: u8,
    },
    /// [`GatewayPeer::receive`] or [`GatewayPeer::send_command`] was called
    /// before a device was admitted.
    #[error("no device admitted; call accept first")]
    NotAdmitted,
}

/// One record received from the device: an encoded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRecord {
    /// Boot counter of the device when it queued the record.
    pub boot: u32,
    /// Sequence number in the device's store-and-forward queue.
    pub seq: u64,
    /// Postcard-encoded event.
    pub bytes: Vec<u8>,
}

impl PeerRecord {
    /// Decodes the event with the schema's strict decoder.
    pub fn event(&self) -> Result<Event<'_>, DecodeError> {
        palisade_schema::from_bytes(&self.bytes)
    }
}

struct Session {
    writer: FrameWriter<SessionSealer>,
    reader: FrameReader<SessionOpener>,
}

/// The gateway side of one device session; see the [module docs](self).
pub struct GatewayPeer<'a, S: ?Sized> {
    identity: GatewayIdentity<'a, S>,
    verifier: ChainVerifier,
    replay: ReplayCache<64>,
    receiver: Receiver,
    session: Option<Session>,
    device: Option<VerifiedDevice>,
    /// Receive timeouts to wait through before giving up.
    max_idle_polls: u32,
    rx: Vec<u8>,
    tx: Vec<u8>,
}

impl<S: ?Sized> core::fmt::Debug for GatewayPeer<'_, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GatewayPeer")
            .field("admitted", &self.device.is_some())
            .finish_non_exhaustive()
    }
}

impl<'a, S: Signer + ?Sized> GatewayPeer<'a, S> {
    /// A peer with the gateway's credential and key; `verifier` pins the
    /// device maker's roots. Each wait gives up after `max_idle_polls`
    /// receive timeouts of the link.
    pub fn new(
        identity: GatewayIdentity<'a, S>,
        verifier: ChainVerifier,
        max_idle_polls: u32,
    ) -> Self {
        Self {
            identity,
            verifier,
            replay: ReplayCache::new(),
            receiver: Receiver::new(),
            session: None,
            device: None,
            max_idle_polls,
            rx: std::vec![0; FRAME_BUFFER_LEN],
            tx: std::vec![0; FRAME_BUFFER_LEN],
        }
    }

    /// Returns the admitted device.
    pub fn device(&self) -> Option<&VerifiedDevice> {
        self.device.as_ref()
    }

    fn recv_frame<L: Link>(&mut self, link: &mut L) -> Result<usize, PeerError<L::Error>> {
        for _ in 0..self.max_idle_polls.max(1) {
            if let Some(len) = link.recv(&mut self.rx).map_err(PeerError::Link)? {
                return Ok(len);
            }
        }
        Err(PeerError::Timeout {
            attempts: self.max_idle_polls.max(1),
        })
    }

    /// Runs the gateway side of the handshake: reads message 1, verifies the
    /// device chain at `now` (seconds since the Unix epoch), answers with
    /// message 2 carrying `now` as the gateway time, and verifies message 3.
    /// A rejected device is told with a rejection message.
    pub fn accept<L: Link, R: Rng>(
        &mut self,
        link: &mut L,
        rng: &mut R,
        now: u64,
    ) -> Result<&VerifiedDevice, PeerError<L::Error>> {
        let mut plain = FrameWriter::checksummed();
        let mut reader = FrameReader::checksummed();
        let len = self.recv_frame(link)?;
        let msg1 = match reader.read(&mut self.rx[..len]).map_err(PeerError::Frame)? {
            Message::Application {
                kind: KIND_HANDSHAKE_MSG1,
                body,
            } => body.to_vec(),
            other => return Err(unexpected(&other)),
        };
        let mut msg2 = [0u8; MAX_MSG2_LEN];
        let answered = GatewayHandshake::read_msg1(&msg1, &mut self.replay).and_then(|parsed| {
            let device = self.verifier.verify_device_chain(
                &parsed.chain(),
                VerificationTime::Trusted(now),
                &[],
            )?;
            let (state, len) =
                GatewayHandshake::respond(&parsed, &device, self.identity, now, rng, &mut msg2)?;
            Ok((device, state, len))
        });
        let (device, state, len2) = match answered {
            Ok(answer) => answer,
            Err(reason) => {
                let frame = plain
                    .application(KIND_HANDSHAKE_REJECTED, &[reason.code()], &mut self.tx)
                    .map_err(PeerError::Frame)?;
                link.send(frame).map_err(PeerError::Link)?;
                return Err(PeerError::Rejected(reason));
            }
        };
        let frame = plain
            .application(KIND_HANDSHAKE_MSG2, &msg2[..len2], &mut self.tx)
            .map_err(PeerError::Frame)?;
        link.send(frame).map_err(PeerError::Link)?;

        let len = self.recv_frame(link)?;
        let session = match reader.read(&mut self.rx[..len]).map_err(PeerError::Frame)? {
            Message::Application {
                kind: KIND_HANDSHAKE_MSG3,
                body,
            } => state.read_msg3(body).map_err(PeerError::Rejected)?,
            other => return Err(unexpected(&other)),
        };
        let (sealer, opener) = session.split();
        self.session = Some(Session {
            writer: FrameWriter::sealed(sealer),
            reader: FrameReader::sealed(opener),
        });
        Ok(self.device.insert(device))
    }

    /// Waits for one DATA frame, acknowledges it, and returns its record
    /// when it is new (`None` for a duplicate or a record beyond the window,
    /// which the device sends again).
    pub fn receive<L: Link>(
        &mut self,
        link: &mut L,
    ) -> Result<Option<PeerRecord>, PeerError<L::Error>> {
        let len = self.recv_frame(link)?;
        let session = self.session.as_mut().ok_or(PeerError::NotAdmitted)?;
        let (header, record) = match session
            .reader
            .read(&mut self.rx[..len])
            .map_err(PeerError::Frame)?
        {
            Message::Data { header, record } => (header, record.to_vec()),
            other => return Err(unexpected(&other)),
        };
        let verdict = self.receiver.accept(&header);
        let ack = self.receiver.ack_for(&header, WINDOW as u16);
        let frame = session
            .writer
            .ack(&ack, &mut self.tx)
            .map_err(PeerError::Frame)?;
        link.send(frame).map_err(PeerError::Link)?;
        Ok((verdict == Verdict::New).then_some(PeerRecord {
            boot: header.boot,
            seq: header.seq,
            bytes: record,
        }))
    }

    /// Sends a signed command (the bytes `Command::sign` wrote).
    pub fn send_command<L: Link>(
        &mut self,
        link: &mut L,
        command: &[u8],
    ) -> Result<(), PeerError<L::Error>> {
        let session = self.session.as_mut().ok_or(PeerError::NotAdmitted)?;
        let frame = session
            .writer
            .application(KIND_COMMAND, command, &mut self.tx)
            .map_err(PeerError::Frame)?;
        link.send(frame).map_err(PeerError::Link)
    }
}

fn unexpected<E: core::fmt::Debug>(message: &Message<'_>) -> PeerError<E> {
    PeerError::UnexpectedMessage {
        kind: crate::agent::message_kind(message),
    }
}
