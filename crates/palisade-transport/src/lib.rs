//! Palisade's transport layer: moves a device's records to its gateway
//! exactly once over links that drop, duplicate, reorder and cut, and
//! publishes routed events from the gateway to an MQTT broker.
//!
//! # Layers
//!
//! | module | `no_std` | what it does |
//! |---|---|---|
//! | [`framing`] | yes | where frames start and end on a byte stream: COBS for UARTs, a 4-byte length prefix for sockets |
//! | [`link`] | yes | blocking ([`embedded_io`]) and async ([`embedded_io_async`]) framed links with a per-frame timeout |
//! | [`message`] | yes | the DATA, ACK and application messages inside a frame |
//! | [`session`] | yes | those messages in sealed or checksummed palisade-wire frames |
//! | [`reliable`] | yes | acknowledgements, retransmission, de-duplication and flow control, without I/O |
//! | [`backoff`] | yes | reconnection delays: exponential, jittered, bounded |
//! | [`std_io`] | `std` | TCP adapter for the blocking link, clock, blocking connect with backoff |
//! | [`tokio_link`] | `tokio` | framed link over tokio streams, connect with backoff |
//! | [`mqtt`] | `mqtt` | QoS 1 publisher to `palisade/<site>/<class>/<device-id>` |
//!
//! The crate depends on palisade-wire's [`Sealer`](palisade_wire::Sealer)
//! and [`Opener`](palisade_wire::Opener) traits, not on a crypto crate: the
//! device agent and the gateway plug in the session keys of their
//! handshake.
//!
//! # How the two sides use it
//!
//! The device keeps its records in a store-and-forward queue, each under a
//! sequence number, and registers each one with a [`reliable::Sender`]. It
//! sends what [`Sender::poll_transmit`](reliable::Sender::poll_transmit)
//! hands out as DATA frames ([`session::FrameWriter::data`]) or, several
//! records to a frame, as DATA_BATCH frames
//! ([`session::FrameWriter::begin_batch`]). It feeds every
//! ACK it receives to [`Sender::on_ack`](reliable::Sender::on_ack), which
//! names the records to drop from the queue, and calls
//! [`Sender::on_disconnect`](reliable::Sender::on_disconnect) when the link
//! breaks, so that every unacknowledged record goes out again on the next
//! connection (made with [`backoff::Backoff`]).
//!
//! The gateway keeps one [`reliable::Receiver`] per authenticated device id,
//! across that device's connections. For each record of a DATA or
//! DATA_BATCH frame it asks
//! [`Receiver::classify`](reliable::Receiver::classify); a new record is
//! stored, then marked with [`Receiver::accept`](reliable::Receiver::accept);
//! and the gateway replies, once per frame, with
//! [`Receiver::ack_for`](reliable::Receiver::ack_for), whose credit is the
//! room it has left. A gateway that acknowledges only
//! what its durable outbox holds loses nothing when it crashes.
//!
//! # Limits
//!
//! - A record is at most [`session::MAX_RECORD_LEN`] bytes (16,363), so that
//!   it fits one wire frame with its 21-byte DATA header.
//! - A receiver de-duplicates within a window of [`WINDOW`] (64) records per
//!   boot, for up to [`reliable::MAX_BOOTS`] (4) boots per device; a sender
//!   never runs further ahead. A [`reliable::Sender`] tracks at most its
//!   const-generic capacity of unacknowledged records.
//! - Links reject frames above their configured maximum, checked on the
//!   length prefix before any payload byte is stored.
//!
//! # Failures
//!
//! Decoders return typed errors and never panic. A frame that fails its
//! checksum or tag, is replayed, or is malformed is rejected by
//! [`session::FrameReader::read`]; the sender's retransmission makes up for
//! it. A length-prefixed link that loses its place (bad length, timeout in
//! the middle of a frame) reports the error and must be reconnected; a COBS
//! link drops the damaged frame, counts it, and resynchronizes by itself.
//!
//! # Example
//!
//! A device and a gateway exchanging one record, without I/O:
//!
//! ```
//! use palisade_transport::message::Message;
//! use palisade_transport::reliable::{Receiver, Sender, SenderConfig, Verdict};
//! use palisade_transport::session::{FrameReader, FrameWriter, MAX_TRANSPORT_FRAME_LEN};
//!
//! // Device: record 0 of boot 1 waits in the queue.
//! let queue = [b"postcard-encoded events".as_slice()];
//! let mut sender: Sender<16> = Sender::new(1, 0, SenderConfig::default());
//! sender.push(0)?;
//! let mut device_out = [0u8; MAX_TRANSPORT_FRAME_LEN];
//! let transmit = sender.poll_transmit(0).expect("record 0 is due");
//! let mut device_writer = FrameWriter::checksummed();
//! let frame = device_writer.data(&transmit.header, queue[0], &mut device_out)?;
//!
//! // Gateway: open the frame, store the record once, acknowledge it.
//! let mut bytes = frame.to_vec();
//! let mut gateway_reader = FrameReader::checksummed();
//! let mut receiver = Receiver::new();
//! let Message::Data { header, record } = gateway_reader.read(&mut bytes)? else {
//!     unreachable!("the device sent DATA");
//! };
//! assert_eq!(receiver.classify(&header), Verdict::New);
//! assert_eq!(record, queue[0]);
//! receiver.accept(&header);
//! let mut gateway_out = [0u8; 64];
//! let mut gateway_writer = FrameWriter::checksummed();
//! let ack = gateway_writer.ack(&receiver.ack_for(&header, 16), &mut gateway_out)?;
//!
//! // Device: the acknowledgement releases record 0 from the queue.
//! let mut bytes = ack.to_vec();
//! let mut device_reader = FrameReader::checksummed();
//! let Message::Ack(ack) = device_reader.read(&mut bytes)? else {
//!     unreachable!("the gateway sent an ACK");
//! };
//! let mut released = Vec::new();
//! sender.on_ack(&ack, |seq| released.push(seq));
//! assert_eq!(released, [0]);
//! assert!(sender.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;

pub mod backoff;
pub mod framing;
#[doc(hidden)]
pub mod fuzzing;
pub mod link;
pub mod message;
pub mod reliable;
pub mod session;

#[cfg(feature = "std")]
pub mod std_io;

#[cfg(feature = "tokio")]
pub mod tokio_link;

#[cfg(feature = "mqtt")]
pub mod mqtt;

/// Span of the receive window, in records: a receiver de-duplicates and
/// accepts records up to `WINDOW - 1` ahead of the lowest one it is missing,
/// and a sender never sends further ahead of its oldest unacknowledged record.
pub const WINDOW: u64 = 64;

/// Monotonic time in milliseconds, supplied by the platform.
pub trait Clock {
    /// Milliseconds since an arbitrary fixed point; must never go backwards.
    fn now_ms(&self) -> u64;
}
