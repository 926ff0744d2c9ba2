//! Errors of frame encoding and decoding.

use palisade_schema::DecodeError;

use crate::frame::Protection;
use crate::seal::{OpenError, SealError};

/// Error of building, decoding or opening a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The MTU given to a frame encoder is outside the supported range.
    #[error("MTU of {mtu} bytes is outside {min}..={max}; pick an MTU in that range")]
    MtuOutOfRange {
        /// The MTU that was given.
        mtu: usize,
        /// Smallest supported MTU.
        min: usize,
        /// Largest supported MTU.
        max: usize,
    },
    /// The caller's buffer cannot hold a frame of the requested MTU.
    #[error("buffer of {len} bytes is too small; this MTU and framing need {needed} bytes")]
    BufferTooSmall {
        /// Length of the buffer that was given.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// A frame was finished without any event in it.
    #[error("frame has no events; push at least one event before finishing it")]
    EmptyFrame,
    /// The frame's protection differs from what the encoder or decoder is
    /// set up for (for example an unsealed frame on a sealed link).
    #[error("frame protection does not match; this side expects {expected:?} frames")]
    ProtectionMismatch {
        /// The protection this side expects.
        expected: Protection,
    },
    /// The input is shorter than the header or than the frame it declares.
    #[error("frame truncated: {len} bytes present, {needed} needed")]
    Truncated {
        /// Bytes present.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// The input continues after the frame it declares.
    #[error("{count} bytes after the end of the frame; give the decoder exactly one frame")]
    TrailingBytes {
        /// Bytes after the frame.
        count: usize,
    },
    /// The version byte names a frame format this crate does not know.
    #[error("unsupported frame version {version}; this side speaks version 1")]
    UnsupportedVersion {
        /// The version byte read.
        version: u8,
    },
    /// Reserved flag bits are set, or not exactly one of sealed and
    /// checksummed is set.
    #[error(
        "invalid frame flags {flags:#04x}: reserved bits set or not exactly one of sealed (0x01) and checksummed (0x02)"
    )]
    InvalidFlags {
        /// The flag byte read.
        flags: u8,
    },
    /// The header declares an empty payload.
    #[error("frame declares an empty payload; every frame carries at least one event")]
    EmptyPayload,
    /// The header declares a payload above the receiver's maximum.
    #[error("frame payload of {len} bytes exceeds the maximum of {max}")]
    PayloadTooLong {
        /// The declared payload length.
        len: usize,
        /// The maximum accepted.
        max: usize,
    },
    /// The CRC-32 trailer does not match header and payload.
    #[error(
        "frame checksum mismatch: trailer says {stored:#010x}, bytes give {computed:#010x}; the frame is corrupt"
    )]
    ChecksumMismatch {
        /// CRC-32 in the trailer.
        stored: u32,
        /// CRC-32 computed over header and payload.
        computed: u32,
    },
    /// A sealed record number that was already opened.
    #[error("record {record} was already received; dropped as a replay")]
    Replayed {
        /// The record number.
        record: u64,
    },
    /// A sealed record number too far behind the newest one to be checked.
    #[error("record {record} is older than the replay window (newest is {newest}); dropped")]
    TooOld {
        /// The record number.
        record: u64,
        /// The newest record number opened so far.
        newest: u64,
    },
    /// The sealer refused to seal.
    #[error("sealing failed: {0}")]
    Seal(#[from] SealError),
    /// The opener refused the tag.
    #[error("opening failed: {0}")]
    Open(#[from] OpenError),
    /// An event in the payload did not decode.
    #[error("event {index} of the frame did not decode: {error}")]
    Event {
        /// Position of the event in the frame, from 0.
        index: usize,
        /// The schema decoder's error; offsets count from that event's start.
        error: DecodeError,
    },
}
