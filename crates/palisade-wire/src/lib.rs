//! Palisade's event-encoding hot path: events into frames, frames onto
//! links, and events kept until the gateway acknowledges them.
//!
//! This crate sits between the event vocabulary (`palisade-schema`) and the
//! links (`palisade-transport`). Everything here runs for every event on
//! every device, so it is `#![no_std]`, allocates nothing, writes into
//! buffers the caller provides and never panics on any input.
//!
//! - [`FrameEncoder`] batches postcard-encoded events into one frame up to
//!   an MTU, checksummed with CRC-32 or sealed with an AEAD through the
//!   [`Sealer`] trait; [`Framing::Cobs`] adds COBS for byte links.
//! - [`FrameDecoder`] (checksummed) and [`FrameOpener`] (sealed, with a
//!   replay window) validate a received frame and return a zero-copy
//!   [`Frame`] whose [`events`](Frame::events) decode lazily with the
//!   schema's strict decoder ([`Frame::for_each_event`] is the faster
//!   visitor form for large batches).
//! - [`cobs`] encodes and decodes COBS, with a streaming [`CobsDecoder`]
//!   that resynchronizes after garbage or a lost byte.
//! - [`Aggregator`] merges identical process, connection and login events
//!   within a window into one event with a hit count.
//! - [`Queue`] keeps encoded events until the gateway acknowledges them, in
//!   a [`Storage`]: [`MemoryStorage`] (fixed arrays) or, with the `std`
//!   feature, `FileStorage` (an append-only log that survives a crash and a
//!   power cut). Every drop is counted into an events-dropped record that is
//!   never dropped itself.
//!
//! # Frame layout
//!
//! ```text
//!  byte 0        1        2 ........................ 9   10 ...... 11   12 ........ 12+N-1   12+N ...
//! +--------+--------+-------------------------------+---------------+--------------------+-------------------+
//! | version| flags  | record number                 | payload length| payload            | trailer           |
//! | 0x01   |        | u64, big-endian               | N, u16, BE    | N bytes: postcard  | CRC-32, u32 BE    |
//! |        |        |                               | 1..=16384     | events back to back| or 16-byte tag    |
//! +--------+--------+-------------------------------+---------------+--------------------+-------------------+
//!
//! flags: bit 0 (0x01) sealed       payload encrypted, trailer is the AEAD tag
//!        bit 1 (0x02) checksummed  trailer is CRC-32 (IEEE) over bytes 0..12+N
//!        bit 2 (0x04) batch        payload may hold more than one event
//!        bits 3-7                  reserved, must be 0
//! Exactly one of sealed and checksummed is set.
//! ```
//!
//! A sealed frame's header (bytes 0..12) is the AEAD's associated data, and
//! the record number feeds the nonce, so a lost frame does not
//! desynchronize the two ends and a frame moved to another record number
//! fails to open. On a byte link the whole frame is COBS-encoded and
//! followed by one `0x00`.
//!
//! The decoders take the frame, not its COBS form: a receiver on a byte
//! link first undoes COBS with [`cobs::decode_in_place`] (one message) or
//! a [`CobsDecoder`] (a stream), then passes the result to
//! [`FrameDecoder::decode`] or [`FrameOpener::open`]. COBS bytes passed
//! directly fail with an unsupported frame version, because the first COBS
//! code byte is read as the version. [`FrameDecoder::decode`] shows the
//! round trip.
//!
//! # Limits
//!
//! | limit | value |
//! |---|---|
//! | header | [`HEADER_LEN`] = 12 bytes |
//! | payload | 1 to [`MAX_PAYLOAD_LEN`] = 16384 bytes |
//! | frame | at most [`MAX_FRAME_LEN`] = 16412 bytes |
//! | MTU of a [`FrameEncoder`] | [`MIN_MTU`] = 64 to [`MAX_MTU`] = 16412 bytes; every event fits from [`MTU_FOR_ANY_EVENT`] = 1564 |
//! | replay window | [`REPLAY_WINDOW`] = 64 record numbers |
//! | COBS overhead | at most `len / 254 + 2` bytes ([`cobs::max_encoded_len`]) |
//! | COBS stream message | `N` bytes, the [`CobsDecoder`]'s const parameter |
//! | aggregator | `SLOTS` distinct events of up to `SLOT_BYTES` encoded bytes each |
//! | queue | the storage's capacity; [`MemoryStorage`]: `RECORDS` records in `BYTES` bytes; a drop report of at most [`queue::REPORT_MAX_LEN`] = 64 bytes outside that |
//!
//! # When calls fail
//!
//! Every failure is a typed error ([`FrameError`], [`CobsError`]); nothing
//! here panics on any input.
//!
//! - [`FrameEncoder::new`] fails on an MTU out of range or a buffer smaller
//!   than the MTU needs. [`FrameEncoder::push`] hands the event back when
//!   it does not fit; the `finish_*` calls fail on an empty frame, on the
//!   wrong protection, or when the [`Sealer`] rejects the record number.
//! - [`FrameDecoder::decode`] and [`FrameOpener::open`] fail on a short or
//!   long input, an unknown version, invalid flags, an empty or overlong
//!   payload, a bad CRC, the other protection, a replayed or too old record
//!   number, or a tag that does not verify. [`Events`] yields an error for
//!   the first event that does not decode and stops.
//! - [`CobsDecoder::feed`] reports a message cut short or longer than its
//!   buffer, then resumes at the next delimiter.
//! - [`Aggregator::push`] cannot fail: an event leaves through the `emit`
//!   callback, is merged or stored, or is dropped and counted.
//! - [`Queue`] calls fail only when the [`Storage`] fails
//!   ([`QueueError::Storage`]) or, for [`Queue::push_encoded`], when the
//!   bytes are not an encoded event. A full queue is not an error: the
//!   [`OverflowPolicy`] drops a record and counts it.
//!
//! # Example
//!
//! ```
//! use palisade_schema::samples;
//! use palisade_wire::{FrameDecoder, FrameEncoder, Framing, Protection, RejectReason};
//!
//! let mut buffer = [0u8; 512];
//! let mut encoder = FrameEncoder::new(&mut buffer, 512, Protection::Checksummed, Framing::Plain)?;
//! let mut left_over = None;
//! for event in samples::mixed_batch() {
//!     if let Err(rejected) = encoder.push(event) {
//!         // The frame is full: the event comes back and goes into the next frame.
//!         assert_eq!(rejected.reason, RejectReason::FrameFull);
//!         left_over = Some(rejected.event);
//!         break;
//!     }
//! }
//! let pushed = encoder.len();
//! let frame = encoder.finish_checksummed(1)?;
//! assert!(frame.len() <= 512);
//! assert!(left_over.is_some());
//!
//! let decoded = FrameDecoder::new().decode(frame)?;
//! assert_eq!(decoded.record(), 1);
//! let mut count = 0;
//! for (event, expected) in decoded.events().zip(samples::mixed_batch()) {
//!     assert_eq!(event?, expected);
//!     count += 1;
//! }
//! assert_eq!(count, pushed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[cfg(feature = "std")]
extern crate std;

pub mod aggregate;
pub mod cobs;
mod crc;
mod error;
mod frame;
#[doc(hidden)]
pub mod fuzzing;
pub mod queue;
mod replay;
pub mod seal;
pub mod storage;

pub use aggregate::{Admission, Aggregator, Overflow};
pub use cobs::{CobsDecoder, CobsError};
pub use error::FrameError;
pub use frame::{
    CRC_LEN, Events, Flags, Frame, FrameDecoder, FrameEncoder, FrameHeader, Framing, HEADER_LEN,
    MAX_FRAME_LEN, MAX_MTU, MAX_PAYLOAD_LEN, MIN_MTU, MTU_FOR_ANY_EVENT, Protection, RejectReason,
    Rejected, VERSION,
};
pub use queue::{OverflowPolicy, Pushed, Queue, QueueError, Storage};
pub use replay::{FrameOpener, REPLAY_WINDOW, ReplayWindow};
pub use seal::{OpenError, Opener, SealError, Sealer, TAG_LEN};
#[cfg(feature = "std")]
pub use storage::file::{FileStorage, Recovery, SyncPolicy};
pub use storage::memory::{MemoryStorage, MemoryStorageError};
