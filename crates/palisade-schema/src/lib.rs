//! The event vocabulary of Palisade: what a connected medical device and its
//! gateway say about security.
//!
//! Every [`Event`] is a [`Header`] (sequence number, boot counter, uptime,
//! optional wall clock, severity, hit count) and an [`EventBody`], one of the
//! kinds listed in [`EventKind`]. Each kind belongs to an [`EventClass`]
//! (security, operational or telemetry), which the gateway uses to route it:
//! telemetry never reaches a security sink.
//!
//! # Layer and limits
//!
//! This crate is `#![no_std]` and needs no heap. Text and byte fields borrow
//! from the buffer they were decoded from ([`Str`], [`Bytes`]); lists are
//! `heapless::Vec` with a fixed capacity. Every field's maximum length is in
//! [`limits`], is checked when a value is built, and is checked again when it
//! is decoded. [`MAX_EVENT_LEN`] bounds the encoded size of any event.
//!
//! # Encoding
//!
//! Events encode with postcard 1.x through [`to_slice`], so callers need no
//! postcard dependency of their own; it fails only with [`BufferTooSmall`],
//! and a buffer of [`MAX_EVENT_LEN`] bytes always suffices. Decoding goes
//! through this crate's strict decoder, [`from_bytes`] or [`take_from_bytes`],
//! which accepts exactly the postcard bytes that an encoder writes. It
//! rejects what `postcard::from_bytes` lets through: trailing bytes and
//! over-long varints (`[0x81, 0x00]` for 1). It never panics; every failure
//! is a [`DecodeError`] naming the offset or the value.
//!
//! An unknown event tag decodes to [`DecodeError::UnknownVariant`] naming
//! `EventBody` and the tag, never to a silent skip.
//!
//! # Versioning
//!
//! [`SCHEMA_VERSION`] changes with the wire format. Kinds are numbered by
//! their position in [`EventBody`]; a new kind is appended, which is a minor
//! change. Reordering or removing kinds, or changing a field, is a major one.
//!
//! # Example
//!
//! ```
//! use palisade_schema::{Event, EventBody, EventClass, Header, Login, LoginAction, LoginMethod, Str};
//!
//! let event = Event {
//!     header: Header { sequence: 7, boot: 3, uptime_ms: 120_000, ..Header::default() },
//!     body: EventBody::Login(Login {
//!         action: LoginAction::Failed,
//!         user: Str::new("service")?,
//!         method: LoginMethod::Password,
//!         terminal: Some(Str::new("ssh")?),
//!         source: Some(core::net::Ipv4Addr::LOCALHOST.into()),
//!     }),
//! };
//! assert_eq!(event.class(), EventClass::Security);
//!
//! let mut buffer = [0u8; palisade_schema::MAX_EVENT_LEN];
//! let bytes = palisade_schema::to_slice(&event, &mut buffer)?;
//! let decoded: Event<'_> = palisade_schema::from_bytes(bytes)?;
//! assert_eq!(decoded, event);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod bounded;
pub mod de;
pub mod error;
mod event;
#[doc(hidden)]
pub mod fuzzing;
mod header;
pub mod limits;
pub mod samples;
mod types;

pub use bounded::{Bytes, Str, TooLong};
pub use de::{from_bytes, take_from_bytes};
pub use error::DecodeError;
pub use event::*;
pub use header::{Header, HitCount, Severity, WallClock};
pub use types::{DeviceId, IpAddress, KeyId, MacAddress, Sha256, SocketAddress};

/// Version of the event wire format described by this crate.
///
/// A receiver compares it with the version a sender announces in its
/// handshake; events are not tagged with it one by one.
pub const SCHEMA_VERSION: u16 = 1;

/// Upper bound, in bytes, on the postcard encoding of any [`Event`].
///
/// The largest kind is a process start with every text field at its limit.
/// The `max_event_len_bounds_every_kind` test encodes the largest value of
/// every kind and checks it against this bound.
pub const MAX_EVENT_LEN: usize = 1536;

/// Encodes `event` with postcard into `buffer` and returns the bytes written.
///
/// Fails only when `buffer` is too small; a buffer of [`MAX_EVENT_LEN`]
/// bytes always suffices.
pub fn to_slice<'b>(
    event: &Event<'_>,
    buffer: &'b mut [u8],
) -> Result<&'b mut [u8], BufferTooSmall> {
    let capacity = buffer.len();
    postcard::to_slice(event, buffer).map_err(|_| BufferTooSmall { capacity })
}

/// Error returned by [`to_slice`] when the event does not fit the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("event does not fit a buffer of {capacity} bytes; use a buffer of MAX_EVENT_LEN bytes")]
pub struct BufferTooSmall {
    /// Size of the buffer that was offered.
    pub capacity: usize,
}
