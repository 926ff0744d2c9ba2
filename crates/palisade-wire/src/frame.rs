//! Frames: a 12-byte header, a payload of postcard-encoded events and a
//! trailer (CRC-32 or AEAD tag).
//!
//! The layout is drawn in the crate documentation. This module contains the
//! header codec, the [`FrameEncoder`] that batches events into a caller's
//! buffer, and the zero-copy [`Frame`] view that [`FrameDecoder`] and
//! [`FrameOpener`](crate::FrameOpener) return.

use core::borrow::Borrow;

use palisade_schema::{DecodeError, Event, MAX_EVENT_LEN};

use crate::cobs;
use crate::error::FrameError;
use crate::seal::{Sealer, TAG_LEN};

/// Frame format version written in the first header byte.
pub const VERSION: u8 = 1;
/// Length in bytes of the frame header.
pub const HEADER_LEN: usize = 12;
/// Length in bytes of the CRC-32 trailer of a checksummed frame.
pub const CRC_LEN: usize = 4;
/// Largest payload a frame may declare, in bytes.
pub const MAX_PAYLOAD_LEN: usize = 16 * 1024;
/// Largest frame, in bytes: header, the largest payload and an AEAD tag.
pub const MAX_FRAME_LEN: usize = HEADER_LEN + MAX_PAYLOAD_LEN + TAG_LEN;
/// Smallest MTU a [`FrameEncoder`] accepts: a header, a tag and 36 bytes of
/// payload, enough for a small event such as a heartbeat.
pub const MIN_MTU: usize = HEADER_LEN + TAG_LEN + 36;
/// Largest MTU a [`FrameEncoder`] accepts; equal to [`MAX_FRAME_LEN`].
pub const MAX_MTU: usize = MAX_FRAME_LEN;
/// Smallest MTU at which every event fits a frame of its own, sealed or
/// checksummed. With a smaller MTU, [`FrameEncoder::push`] can reject an
/// event with [`RejectReason::TooLarge`].
pub const MTU_FOR_ANY_EVENT: usize = HEADER_LEN + MAX_EVENT_LEN + TAG_LEN;

/// The flag bits of the second header byte.
///
/// Exactly one of [`SEALED`](Self::SEALED) and
/// [`CHECKSUMMED`](Self::CHECKSUMMED) is set; the other five bits are
/// reserved and must be 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flags(u8);

impl Flags {
    /// The payload is encrypted and the trailer is a 16-byte AEAD tag.
    pub const SEALED: u8 = 0x01;
    /// The trailer is a CRC-32 over header and payload.
    pub const CHECKSUMMED: u8 = 0x02;
    /// The payload may hold more than one event, back to back.
    pub const BATCH: u8 = 0x04;
    const KNOWN: u8 = Self::SEALED | Self::CHECKSUMMED | Self::BATCH;

    /// Validates a flag byte read from a header.
    pub const fn from_byte(byte: u8) -> Result<Self, FrameError> {
        let protection = byte & (Self::SEALED | Self::CHECKSUMMED);
        if byte & !Self::KNOWN != 0
            || protection == 0
            || protection == (Self::SEALED | Self::CHECKSUMMED)
        {
            return Err(FrameError::InvalidFlags { flags: byte });
        }
        Ok(Self(byte))
    }

    const fn new(protection: Protection, batch: bool) -> Self {
        let base = match protection {
            Protection::Checksummed => Self::CHECKSUMMED,
            Protection::Sealed => Self::SEALED,
        };
        Self(if batch { base | Self::BATCH } else { base })
    }

    /// Returns the flag byte.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Returns the frame's protection.
    pub const fn protection(self) -> Protection {
        if self.0 & Self::SEALED != 0 {
            Protection::Sealed
        } else {
            Protection::Checksummed
        }
    }

    /// Returns whether the payload may contain more than one event.
    pub const fn is_batch(self) -> bool {
        self.0 & Self::BATCH != 0
    }
}

/// Protection of a frame, which also fixes its trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protection {
    /// CRC-32 (IEEE) over header and payload, for links without a session
    /// key. Detects corruption, not tampering.
    Checksummed,
    /// AEAD through a [`Sealer`]: the payload is encrypted and a 16-byte tag
    /// authenticates header and payload.
    Sealed,
}

impl Protection {
    /// Length in bytes of the trailer: 4 or 16.
    pub const fn trailer_len(self) -> usize {
        match self {
            Self::Checksummed => CRC_LEN,
            Self::Sealed => TAG_LEN,
        }
    }
}

/// A decoded, validated frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameHeader {
    /// Flag bits.
    pub flags: Flags,
    /// Record number: chosen by the sender, increasing per session. It feeds
    /// the AEAD nonce and the receiver's replay window.
    pub record: u64,
    /// Length of the payload in bytes.
    pub payload_len: u16,
}

impl FrameHeader {
    /// Decodes and validates the first [`HEADER_LEN`] bytes of `bytes`.
    ///
    /// A stream transport reads this much, learns [`frame_len`](Self::frame_len)
    /// and then reads the rest. Fails with [`FrameError::Truncated`] on fewer
    /// than 12 bytes, [`FrameError::UnsupportedVersion`],
    /// [`FrameError::InvalidFlags`], [`FrameError::EmptyPayload`] or
    /// [`FrameError::PayloadTooLong`] (above [`MAX_PAYLOAD_LEN`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, FrameError> {
        let Some(header) = bytes.first_chunk::<HEADER_LEN>() else {
            return Err(FrameError::Truncated {
                len: bytes.len(),
                needed: HEADER_LEN,
            });
        };
        if header[0] != VERSION {
            return Err(FrameError::UnsupportedVersion { version: header[0] });
        }
        let flags = Flags::from_byte(header[1])?;
        let mut record = [0u8; 8];
        record.copy_from_slice(&header[2..10]);
        let payload_len = u16::from_be_bytes([header[10], header[11]]);
        if payload_len == 0 {
            return Err(FrameError::EmptyPayload);
        }
        if usize::from(payload_len) > MAX_PAYLOAD_LEN {
            return Err(FrameError::PayloadTooLong {
                len: usize::from(payload_len),
                max: MAX_PAYLOAD_LEN,
            });
        }
        Ok(Self {
            flags,
            record: u64::from_be_bytes(record),
            payload_len,
        })
    }

    /// Encodes the header into its 12 bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = VERSION;
        out[1] = self.flags.bits();
        out[2..10].copy_from_slice(&self.record.to_be_bytes());
        out[10..12].copy_from_slice(&self.payload_len.to_be_bytes());
        out
    }

    /// Length of the whole frame: header, payload and trailer.
    pub const fn frame_len(&self) -> usize {
        HEADER_LEN + self.payload_len as usize + self.flags.protection().trailer_len()
    }
}

/// Layout of the finished frame in the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framing {
    /// The frame as is, for links that delimit messages themselves
    /// (TCP with a length-aware reader, UDP, MQTT).
    Plain,
    /// The frame COBS-encoded and followed by a `0x00` delimiter, for byte
    /// links such as a UART. The buffer needs
    /// [`cobs::max_encoded_len`]`(mtu)` bytes.
    Cobs,
}

/// Why [`FrameEncoder::push`] handed an event back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectReason {
    /// The frame has events and the next one does not fit: finish this frame
    /// and push the event into the next one.
    FrameFull,
    /// The event does not fit even an empty frame at this MTU. It can only
    /// be sent over a link with an MTU of at least [`MTU_FOR_ANY_EVENT`];
    /// the caller must count it as dropped.
    TooLarge,
}

/// An event that [`FrameEncoder::push`] did not take, handed back unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected<E> {
    /// The event, as it was passed in (by value or by reference).
    pub event: E,
    /// Reason the event was not taken.
    pub reason: RejectReason,
}

/// Encodes events into one frame in a caller-provided buffer.
///
/// Events are postcard-encoded straight into their place in the frame, so
/// nothing is copied twice and nothing is allocated. When an event does not
/// fit in the MTU, [`push`](Self::push) hands it back; the caller finishes
/// the frame, sends it, and pushes the event into a new frame.
#[derive(Debug)]
pub struct FrameEncoder<'b> {
    buffer: &'b mut [u8],
    protection: Protection,
    framing: Framing,
    /// Index of the first header byte in `buffer`: 0, or 1 for COBS.
    start: usize,
    /// Largest payload this frame may carry under its MTU.
    payload_max: usize,
    payload_len: usize,
    events: usize,
}

impl<'b> FrameEncoder<'b> {
    /// Starts a frame in `buffer` whose finished size is at most `mtu` bytes
    /// (before COBS, which adds at most `mtu / 254 + 2` bytes).
    ///
    /// Fails with [`FrameError::MtuOutOfRange`] unless
    /// [`MIN_MTU`]` <= mtu <= `[`MAX_MTU`], and with
    /// [`FrameError::BufferTooSmall`] when `buffer` is shorter than `mtu`
    /// (or [`cobs::max_encoded_len`]`(mtu)` for [`Framing::Cobs`]).
    pub fn new(
        buffer: &'b mut [u8],
        mtu: usize,
        protection: Protection,
        framing: Framing,
    ) -> Result<Self, FrameError> {
        if !(MIN_MTU..=MAX_MTU).contains(&mtu) {
            return Err(FrameError::MtuOutOfRange {
                mtu,
                min: MIN_MTU,
                max: MAX_MTU,
            });
        }
        let (needed, start) = match framing {
            Framing::Plain => (mtu, 0),
            Framing::Cobs => (cobs::max_encoded_len(mtu), 1),
        };
        if buffer.len() < needed {
            return Err(FrameError::BufferTooSmall {
                len: buffer.len(),
                needed,
            });
        }
        let payload_max = (mtu - HEADER_LEN - protection.trailer_len()).min(MAX_PAYLOAD_LEN);
        Ok(Self {
            buffer,
            protection,
            framing,
            start,
            payload_max,
            payload_len: 0,
            events: 0,
        })
    }

    /// Encodes `event` at the end of the payload.
    ///
    /// `event` may be an [`Event`] or a reference to one. When it does not
    /// fit, the frame is left as it was and the event comes back in
    /// [`Rejected`], with [`RejectReason::FrameFull`] if the frame already
    /// contains events, or [`RejectReason::TooLarge`] if it would not fit even
    /// alone (possible only below [`MTU_FOR_ANY_EVENT`]).
    pub fn push<'e, E: Borrow<Event<'e>>>(&mut self, event: E) -> Result<(), Rejected<E>> {
        let from = self.start + HEADER_LEN + self.payload_len;
        let to = self.start + HEADER_LEN + self.payload_max;
        let target = &mut self.buffer[from..to];
        match postcard::to_slice(event.borrow(), target) {
            Ok(written) => {
                self.payload_len += written.len();
                self.events += 1;
                Ok(())
            }
            Err(_) => {
                let reason = if self.events == 0 {
                    RejectReason::TooLarge
                } else {
                    RejectReason::FrameFull
                };
                Err(Rejected { event, reason })
            }
        }
    }

    /// Number of events in the frame so far.
    pub const fn len(&self) -> usize {
        self.events
    }

    /// Returns whether no event has been pushed yet.
    pub const fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// Payload bytes written so far.
    pub const fn payload_len(&self) -> usize {
        self.payload_len
    }

    /// Payload bytes still free under the MTU.
    pub const fn remaining(&self) -> usize {
        self.payload_max - self.payload_len
    }

    /// Drops the events pushed so far, keeping buffer and settings.
    pub fn clear(&mut self) {
        self.payload_len = 0;
        self.events = 0;
    }

    fn write_header(&mut self, record: u64) -> [u8; HEADER_LEN] {
        let header = FrameHeader {
            flags: Flags::new(self.protection, self.events > 1),
            record,
            // `payload_max` is at most MAX_PAYLOAD_LEN, which fits a u16.
            payload_len: self.payload_len as u16,
        };
        let bytes = header.encode();
        self.buffer[self.start..self.start + HEADER_LEN].copy_from_slice(&bytes);
        bytes
    }

    /// Finishes a checksummed frame with record number `record` and returns
    /// it (COBS-encoded with its delimiter for [`Framing::Cobs`]).
    ///
    /// Fails with [`FrameError::EmptyFrame`] when no event was pushed, and
    /// with [`FrameError::ProtectionMismatch`] when the encoder was made for
    /// sealed frames.
    pub fn finish_checksummed(mut self, record: u64) -> Result<&'b mut [u8], FrameError> {
        self.check_finish(Protection::Checksummed)?;
        self.write_header(record);
        let body_end = self.start + HEADER_LEN + self.payload_len;
        let crc = crate::crc::checksum(&self.buffer[self.start..body_end]);
        self.buffer[body_end..body_end + CRC_LEN].copy_from_slice(&crc.to_be_bytes());
        Ok(self.complete(body_end + CRC_LEN))
    }

    /// Finishes a sealed frame with record number `record`: encrypts the
    /// payload in place through `sealer`, with the header as associated
    /// data, and appends the tag.
    ///
    /// Fails with [`FrameError::EmptyFrame`], with
    /// [`FrameError::ProtectionMismatch`] when the encoder was made for
    /// checksummed frames, and with [`FrameError::Seal`] when the sealer
    /// rejects the record number (reused or exhausted).
    pub fn finish_sealed<S: Sealer + ?Sized>(
        mut self,
        record: u64,
        sealer: &mut S,
    ) -> Result<&'b mut [u8], FrameError> {
        self.check_finish(Protection::Sealed)?;
        let header = self.write_header(record);
        let payload_start = self.start + HEADER_LEN;
        let body_end = payload_start + self.payload_len;
        let tag =
            sealer.seal_in_place(record, &header, &mut self.buffer[payload_start..body_end])?;
        self.buffer[body_end..body_end + TAG_LEN].copy_from_slice(&tag);
        Ok(self.complete(body_end + TAG_LEN))
    }

    fn check_finish(&self, protection: Protection) -> Result<(), FrameError> {
        if self.protection != protection {
            return Err(FrameError::ProtectionMismatch {
                expected: self.protection,
            });
        }
        if self.events == 0 {
            return Err(FrameError::EmptyFrame);
        }
        Ok(())
    }

    fn complete(self, frame_end: usize) -> &'b mut [u8] {
        match self.framing {
            Framing::Plain => &mut self.buffer[..frame_end],
            Framing::Cobs => {
                let frame_len = frame_end - 1;
                let encoded = cobs::encode_in_place(self.buffer, frame_len);
                &mut self.buffer[..encoded]
            }
        }
    }
}

/// A validated frame: its header and its payload, borrowed from the bytes
/// it was decoded from. For a sealed frame, the payload is already
/// decrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'b> {
    header: FrameHeader,
    payload: &'b [u8],
}

impl<'b> Frame<'b> {
    /// The header.
    pub const fn header(&self) -> &FrameHeader {
        &self.header
    }

    /// Returns the record number.
    pub const fn record(&self) -> u64 {
        self.header.record
    }

    /// Returns the payload: postcard-encoded events, back to back.
    pub const fn payload(&self) -> &'b [u8] {
        self.payload
    }

    /// Iterates over the events of the payload, decoding each one with the
    /// strict schema decoder as it goes.
    ///
    /// A frame without the batch flag must hold exactly one event. The
    /// iterator yields an error at the first event that fails to decode and
    /// then ends.
    pub fn events(&self) -> Events<'b> {
        Events {
            rest: self.payload,
            batch: self.header.flags.is_batch(),
            index: 0,
            done: false,
        }
    }

    /// Decodes every event of the payload in order and lends each one to
    /// `visit`, then returns the number of events.
    ///
    /// The checks are those of [`events`](Self::events), and the error is
    /// the one the iterator would yield: [`FrameError::Event`] for the first
    /// event that does not decode, after `visit` saw the events before it.
    /// This is the faster way through a large batch, because an [`Event`]
    /// is several hundred bytes and the iterator moves each one out by
    /// value.
    pub fn for_each_event(&self, mut visit: impl FnMut(&Event<'b>)) -> Result<usize, FrameError> {
        if !self.header.flags.is_batch() {
            let event = palisade_schema::from_bytes::<Event<'b>>(self.payload)
                .map_err(|error| FrameError::Event { index: 0, error })?;
            visit(&event);
            return Ok(1);
        }
        let mut rest = self.payload;
        let mut index = 0;
        while !rest.is_empty() {
            let (event, tail) = palisade_schema::take_from_bytes::<Event<'b>>(rest)
                .map_err(|error| FrameError::Event { index, error })?;
            visit(&event);
            rest = tail;
            index += 1;
        }
        Ok(index)
    }
}

/// Iterator over the events of a [`Frame`], returned by [`Frame::events`].
#[derive(Debug, Clone)]
pub struct Events<'b> {
    rest: &'b [u8],
    batch: bool,
    index: usize,
    done: bool,
}

impl<'b> Iterator for Events<'b> {
    type Item = Result<Event<'b>, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.rest.is_empty() {
            return None;
        }
        let index = self.index;
        self.index += 1;
        // Each arm returns the decoded event directly: an event is several
        // hundred bytes, and every intermediate binding costs a copy.
        if self.batch {
            match palisade_schema::take_from_bytes::<Event<'b>>(self.rest) {
                Ok((event, rest)) => {
                    self.rest = rest;
                    Some(Ok(event))
                }
                Err(error) => self.fail(index, error),
            }
        } else {
            let payload = core::mem::take(&mut self.rest);
            match palisade_schema::from_bytes::<Event<'b>>(payload) {
                Ok(event) => Some(Ok(event)),
                Err(error) => self.fail(index, error),
            }
        }
    }
}

impl<'b> Events<'b> {
    #[cold]
    fn fail(&mut self, index: usize, error: DecodeError) -> Option<Result<Event<'b>, FrameError>> {
        self.done = true;
        Some(Err(FrameError::Event { index, error }))
    }
}

impl core::iter::FusedIterator for Events<'_> {}

/// Decodes checksummed frames: validates header, length and CRC-32, and
/// returns a zero-copy [`Frame`].
///
/// Sealed frames go through [`FrameOpener`](crate::FrameOpener) instead;
/// this decoder rejects them with [`FrameError::ProtectionMismatch`]. A
/// CRC detects corruption, not tampering or replay, so this decoder keeps no
/// replay window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameDecoder {
    max_payload_len: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// Creates a decoder that accepts payloads up to [`MAX_PAYLOAD_LEN`].
    pub const fn new() -> Self {
        Self {
            max_payload_len: MAX_PAYLOAD_LEN,
        }
    }

    /// Creates a decoder that accepts payloads up to `max` bytes, for receivers with
    /// smaller buffers. `max` is clamped to [`MAX_PAYLOAD_LEN`].
    pub const fn with_max_payload_len(max: usize) -> Self {
        Self {
            max_payload_len: if max < MAX_PAYLOAD_LEN {
                max
            } else {
                MAX_PAYLOAD_LEN
            },
        }
    }

    /// Validates `bytes` as exactly one checksummed frame.
    ///
    /// Fails with [`FrameError::Truncated`] when `bytes` is shorter than the
    /// header or the declared frame, [`FrameError::TrailingBytes`] when it
    /// is longer, [`FrameError::ProtectionMismatch`] for a sealed frame,
    /// [`FrameError::ChecksumMismatch`], and the header errors of
    /// [`FrameHeader::decode`]. The events are decoded lazily by
    /// [`Frame::events`].
    ///
    /// `bytes` is the frame itself. A frame made with [`Framing::Cobs`] must
    /// first be COBS-decoded, with [`cobs::decode_in_place`] for one message
    /// or a [`CobsDecoder`](crate::CobsDecoder) for a byte stream. Passing
    /// the COBS bytes directly fails with [`FrameError::UnsupportedVersion`],
    /// because the first COBS code byte is read as the frame version.
    ///
    /// ```
    /// use palisade_schema::samples;
    /// use palisade_wire::{FrameDecoder, FrameEncoder, Framing, Protection, cobs};
    ///
    /// let mut buffer = [0u8; cobs::max_encoded_len(512)];
    /// let mut encoder = FrameEncoder::new(&mut buffer, 512, Protection::Checksummed, Framing::Cobs)?;
    /// let event = samples::mixed_batch().next().unwrap();
    /// assert!(encoder.push(event.clone()).is_ok(), "one event fits");
    /// let line_bytes = encoder.finish_checksummed(7)?;
    /// assert_eq!(line_bytes.last(), Some(&0x00), "a COBS message ends with its delimiter");
    ///
    /// let len = cobs::decode_in_place(line_bytes)?;
    /// let frame = FrameDecoder::new().decode(&line_bytes[..len])?;
    /// assert_eq!(frame.record(), 7);
    /// assert_eq!(frame.events().next().unwrap()?, event);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decode<'b>(&self, bytes: &'b [u8]) -> Result<Frame<'b>, FrameError> {
        let header = split_frame(bytes, self.max_payload_len)?;
        if header.flags.protection() != Protection::Checksummed {
            return Err(FrameError::ProtectionMismatch {
                expected: Protection::Checksummed,
            });
        }
        let body_end = HEADER_LEN + usize::from(header.payload_len);
        let mut stored = [0u8; CRC_LEN];
        stored.copy_from_slice(&bytes[body_end..body_end + CRC_LEN]);
        let stored = u32::from_be_bytes(stored);
        let computed = crate::crc::checksum(&bytes[..body_end]);
        if stored != computed {
            return Err(FrameError::ChecksumMismatch { stored, computed });
        }
        Ok(Frame {
            header,
            payload: &bytes[HEADER_LEN..body_end],
        })
    }
}

/// Decodes the header of `bytes` and checks that `bytes` is exactly one
/// frame with a payload of at most `max_payload_len` bytes.
pub(crate) fn split_frame(bytes: &[u8], max_payload_len: usize) -> Result<FrameHeader, FrameError> {
    let header = FrameHeader::decode(bytes)?;
    if usize::from(header.payload_len) > max_payload_len {
        return Err(FrameError::PayloadTooLong {
            len: usize::from(header.payload_len),
            max: max_payload_len,
        });
    }
    let frame_len = header.frame_len();
    if bytes.len() < frame_len {
        return Err(FrameError::Truncated {
            len: bytes.len(),
            needed: frame_len,
        });
    }
    if bytes.len() > frame_len {
        return Err(FrameError::TrailingBytes {
            count: bytes.len() - frame_len,
        });
    }
    Ok(header)
}

pub(crate) fn sealed_frame(header: FrameHeader, payload: &[u8]) -> Frame<'_> {
    Frame { header, payload }
}
