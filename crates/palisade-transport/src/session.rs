//! Transport messages in wire frames: sealing or checksumming on the way out,
//! opening or verifying on the way in.
//!
//! A transport frame is a palisade-wire frame (version, flags, 64-bit record
//! number, length, payload, trailer) whose payload is one transport
//! [`message`](crate::message) instead of a batch of events; the batch flag
//! is never set. The record numbers here are the frame record numbers of one
//! session: they increase by one per frame sent, retransmissions included,
//! because a [`Sealer`] never seals the same record number twice. They are
//! unrelated to the sequence numbers of the store-and-forward queue that the
//! DATA header carries, which survive reconnections.
//!
//! On the receiving side a sealed frame goes through the wire crate's
//! [`FrameOpener`], whose replay window drops a replayed or too old frame
//! before any decryption; a checksummed frame goes through
//! [`FrameDecoder`]. Either way the payload is then decoded as a
//! [`Message`].

use palisade_wire::seal::{OpenError, SealError};
use palisade_wire::{
    CRC_LEN, Flags, FrameDecoder, FrameError, FrameHeader, FrameOpener, HEADER_LEN,
    MAX_PAYLOAD_LEN, Opener, Sealer, TAG_LEN,
};

use crate::message::{
    ACK_LEN, Ack, BatchBuilder, DATA_HEADER_LEN, DataHeader, Message, MessageError,
    encode_application,
};

/// Largest record a DATA message can carry in one frame.
pub const MAX_RECORD_LEN: usize = MAX_PAYLOAD_LEN - DATA_HEADER_LEN;

/// Bytes a frame adds around its transport message (header and the longer
/// of the two trailers).
pub const FRAME_OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// Size of an output buffer that fits any transport frame.
pub const MAX_TRANSPORT_FRAME_LEN: usize = MAX_PAYLOAD_LEN + FRAME_OVERHEAD;

/// Error raised while building or reading a transport frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The frame was rejected by the wire decoder or opener (bad checksum or
    /// tag, replayed or too old record number, malformed header).
    #[error("transport frame rejected: {0}")]
    Frame(#[from] FrameError),
    /// The frame's payload is not a valid transport message.
    #[error("transport message rejected: {0}")]
    Message(#[from] MessageError),
    /// The sealer refused the record number (exhausted): start a new session.
    #[error("sealing failed: {0}")]
    Seal(#[from] SealError),
    /// The message does not fit one frame or the output buffer.
    #[error("transport message of {len} bytes does not fit (at most {max})")]
    TooLarge {
        /// Message length.
        len: usize,
        /// Largest length that fits.
        max: usize,
    },
}

/// A [`Sealer`] for checksummed links, which never seal; it exists so that
/// [`FrameWriter::checksummed`] has a type to name.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSeal;

impl Sealer for NoSeal {
    fn seal_in_place(
        &mut self,
        record: u64,
        _aad: &[u8],
        _payload: &mut [u8],
    ) -> Result<[u8; TAG_LEN], SealError> {
        // Never called: a checksummed writer does not seal.
        Err(SealError::RecordReused { record })
    }
}

/// An [`Opener`] for checksummed links, which never open.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoOpen;

impl Opener for NoOpen {
    fn open_in_place(
        &mut self,
        record: u64,
        _aad: &[u8],
        _payload: &mut [u8],
        _tag: &[u8; TAG_LEN],
    ) -> Result<(), OpenError> {
        // Never called: a checksummed reader does not open.
        Err(OpenError::BadTag { record })
    }
}

/// Builds transport frames for one session, numbering them from 0.
#[derive(Debug)]
pub struct FrameWriter<S> {
    sealer: Option<S>,
    next_record: u64,
}

impl FrameWriter<NoSeal> {
    /// Creates a writer of checksummed (CRC-32) frames, for links that need no
    /// secrecy or are protected by another layer.
    pub fn checksummed() -> Self {
        Self {
            sealer: None,
            next_record: 0,
        }
    }
}

impl<S: Sealer> FrameWriter<S> {
    /// Creates a writer of sealed frames. `sealer` contains the session's
    /// sending key.
    pub fn sealed(sealer: S) -> Self {
        Self {
            sealer: Some(sealer),
            next_record: 0,
        }
    }

    /// Record number the next frame will carry.
    pub fn next_record(&self) -> u64 {
        self.next_record
    }

    /// Writes a DATA frame carrying `record` into `out` and returns it.
    pub fn data<'o>(
        &mut self,
        header: &DataHeader,
        record: &[u8],
        out: &'o mut [u8],
    ) -> Result<&'o [u8], SessionError> {
        let len = DATA_HEADER_LEN + record.len();
        let payload = payload_area(out, len)?;
        header.encode(payload)?;
        payload[DATA_HEADER_LEN..].copy_from_slice(record);
        self.finish(out, len)
    }

    /// Starts a DATA_BATCH frame in `out`: add records with
    /// [`BatchBuilder::push`] until it returns false, then seal the frame
    /// with [`finish_batch`](Self::finish_batch). The batch never grows
    /// beyond one frame.
    pub fn begin_batch<'o>(
        &self,
        boot: u32,
        base: u64,
        out: &'o mut [u8],
    ) -> Result<BatchBuilder<'o>, SessionError> {
        let limit = out
            .len()
            .saturating_sub(TAG_LEN)
            .min(HEADER_LEN + MAX_PAYLOAD_LEN);
        Ok(BatchBuilder::within(boot, base, out, HEADER_LEN, limit)?)
    }

    /// Seals or checksums a batch started with
    /// [`begin_batch`](Self::begin_batch) and returns the frame. Fails with
    /// [`MessageError::InvalidBatch`] when no record was added.
    pub fn finish_batch<'o>(&mut self, batch: BatchBuilder<'o>) -> Result<&'o [u8], SessionError> {
        if batch.is_empty() {
            return Err(MessageError::InvalidBatch {
                offset: 13,
                reason: "count is zero",
            }
            .into());
        }
        let (out, len) = batch.into_parts();
        self.finish(out, len)
    }

    /// Writes an ACK frame into `out` and returns it.
    pub fn ack<'o>(&mut self, ack: &Ack, out: &'o mut [u8]) -> Result<&'o [u8], SessionError> {
        let payload = payload_area(out, ACK_LEN)?;
        ack.encode(payload)?;
        self.finish(out, ACK_LEN)
    }

    /// Writes an application message (kind `0x80..=0xFF`) into `out` and
    /// returns it.
    pub fn application<'o>(
        &mut self,
        kind: u8,
        body: &[u8],
        out: &'o mut [u8],
    ) -> Result<&'o [u8], SessionError> {
        let len = 1 + body.len();
        let payload = payload_area(out, len)?;
        encode_application(kind, body, payload)?;
        self.finish(out, len)
    }

    /// Adds header and trailer around the `len`-byte message that sits at
    /// `out[HEADER_LEN..]`.
    fn finish<'o>(&mut self, out: &'o mut [u8], len: usize) -> Result<&'o [u8], SessionError> {
        let record = self.next_record;
        let sealed = self.sealer.is_some();
        let flags = if sealed {
            Flags::SEALED
        } else {
            Flags::CHECKSUMMED
        };
        let header = FrameHeader {
            flags: Flags::from_byte(flags)?,
            record,
            // `payload_area` checked `len <= MAX_PAYLOAD_LEN`, which fits a u16.
            payload_len: len as u16,
        };
        let header_bytes = header.encode();
        out[..HEADER_LEN].copy_from_slice(&header_bytes);
        let body_end = HEADER_LEN + len;
        let frame_len = match &mut self.sealer {
            Some(sealer) => {
                let tag =
                    sealer.seal_in_place(record, &header_bytes, &mut out[HEADER_LEN..body_end])?;
                out[body_end..body_end + TAG_LEN].copy_from_slice(&tag);
                body_end + TAG_LEN
            }
            None => {
                let crc = crc32fast::hash(&out[..body_end]);
                out[body_end..body_end + CRC_LEN].copy_from_slice(&crc.to_be_bytes());
                body_end + CRC_LEN
            }
        };
        self.next_record += 1;
        Ok(&out[..frame_len])
    }
}

/// Checks that a `len`-byte message fits one frame and `out`, and returns
/// the part of `out` where the message goes.
fn payload_area(out: &mut [u8], len: usize) -> Result<&mut [u8], SessionError> {
    if len > MAX_PAYLOAD_LEN {
        return Err(SessionError::TooLarge {
            len,
            max: MAX_PAYLOAD_LEN,
        });
    }
    let max = out.len().saturating_sub(FRAME_OVERHEAD);
    if len > max {
        return Err(SessionError::TooLarge { len, max });
    }
    Ok(&mut out[HEADER_LEN..HEADER_LEN + len])
}

/// Reads transport frames of one session.
#[derive(Debug)]
pub enum FrameReader<O> {
    /// Sealed frames, opened with the session's receiving key, with a replay
    /// window.
    Sealed(FrameOpener<O>),
    /// Checksummed frames.
    Checksummed(FrameDecoder),
}

impl FrameReader<NoOpen> {
    /// Creates a reader of checksummed (CRC-32) frames.
    pub fn checksummed() -> Self {
        Self::Checksummed(FrameDecoder::new())
    }
}

impl<O: Opener> FrameReader<O> {
    /// Creates a reader of sealed frames. `opener` contains the session's
    /// receiving key.
    pub fn sealed(opener: O) -> Self {
        Self::Sealed(FrameOpener::new(opener))
    }

    /// Verifies (and for sealed frames decrypts in place) one frame and
    /// decodes its transport message.
    pub fn read<'b>(&mut self, frame: &'b mut [u8]) -> Result<Message<'b>, SessionError> {
        let decoded = match self {
            Self::Sealed(opener) => opener.open(frame)?,
            Self::Checksummed(decoder) => decoder.decode(frame)?,
        };
        Ok(Message::decode(decoded.payload())?)
    }
}
