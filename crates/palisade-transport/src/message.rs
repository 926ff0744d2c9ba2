//! Transport messages: what the reliable-delivery layer puts into the payload
//! of a frame.
//!
//! Every message starts with one kind byte. All integers are little-endian.
//!
//! ```text
//! DATA (kind 0x01), 21-byte header followed by the record bytes:
//!   0      1        5               13              21
//!   +------+--------+---------------+---------------+----------------
//!   | 0x01 | boot   | seq           | base          | record ...
//!   |      | u32    | u64           | u64           |
//!   +------+--------+---------------+---------------+----------------
//!
//! ACK (kind 0x02), exactly 23 bytes:
//!   0      1        5               13              21        23
//!   +------+--------+---------------+---------------+---------+
//!   | 0x02 | boot   | next          | received      | credit  |
//!   |      | u32    | u64           | u64 bitmap    | u16     |
//!   +------+--------+---------------+---------------+---------+
//! ```
//!
//! - `boot` is the sender's boot counter and `seq` the record's sequence
//!   number in its store-and-forward queue; together with the device id that
//!   the session authenticated they identify a record.
//! - `base` is the sender's lowest unacknowledged sequence number (`base <=
//!   seq`). Everything below it is settled, so a receiver that has no state
//!   for this boot (a new boot, or a restarted gateway) starts its window
//!   there.
//! - `next` is the lowest sequence number the receiver has not accepted; every
//!   record below it was accepted. Bit `i` of `received` is set when record
//!   `next + i` was accepted (bit 0 is therefore always clear).
//! - `credit` is how many records, counted from `next`, the receiver is
//!   willing to take now (at most [`WINDOW`]). Zero means "stop sending new
//!   records"; the sender still probes with its oldest record.
//!
//! Kinds `0x80..=0xFF` are free for application messages (commands, for
//! example) and decode as [`Message::Application`]. Any other kind is
//! rejected.

use crate::WINDOW;

/// Length of the DATA header that precedes the record bytes.
pub const DATA_HEADER_LEN: usize = 21;
/// Length of an encoded ACK message.
pub const ACK_LEN: usize = 23;

const KIND_DATA: u8 = 0x01;
const KIND_ACK: u8 = 0x02;
/// Lowest kind byte reserved for application messages.
pub const FIRST_APPLICATION_KIND: u8 = 0x80;

/// Error returned when a transport message cannot be encoded or decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The message is shorter than its kind requires.
    #[error("transport message of kind {kind:#04x} is {len} bytes, expected at least {expected}")]
    TooShort {
        /// Kind byte (0 when the message was empty).
        kind: u8,
        /// Received length.
        len: usize,
        /// Minimum length of this kind.
        expected: usize,
    },
    /// An ACK carries bytes after its last field.
    #[error("ACK message is {len} bytes, expected exactly {ACK_LEN}")]
    AckLength {
        /// Received length.
        len: usize,
    },
    /// The kind byte is neither DATA, ACK nor an application kind.
    #[error("unknown transport message kind {kind:#04x}; kinds 0x80..=0xff are for applications")]
    UnknownKind {
        /// The kind byte that was received.
        kind: u8,
    },
    /// A DATA header says its base is above its own sequence number.
    #[error("DATA header has base {base} above sequence number {seq}")]
    BaseAboveSequence {
        /// The `base` field.
        base: u64,
        /// The `seq` field.
        seq: u64,
    },
    /// An ACK grants more credit than the receive window holds.
    #[error("ACK grants credit {credit}, above the window of {WINDOW} records")]
    CreditAboveWindow {
        /// The `credit` field.
        credit: u16,
    },
    /// The output buffer cannot hold the encoded message.
    #[error("output buffer of {available} bytes cannot hold a {needed}-byte message")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// An application kind byte below 0x80 was passed to the encoder.
    #[error("kind {kind:#04x} is reserved for the transport; application kinds are 0x80..=0xff")]
    ReservedKind {
        /// The kind byte that was refused.
        kind: u8,
    },
}

/// Header of a DATA message: which record of which boot follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataHeader {
    /// Boot counter of the sending device.
    pub boot: u32,
    /// Sequence number of the record in the sender's queue.
    pub seq: u64,
    /// Lowest sequence number the sender has not seen acknowledged.
    pub base: u64,
}

/// Acknowledgement with receive state and flow-control credit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// Boot counter the acknowledgement refers to.
    pub boot: u32,
    /// Lowest sequence number not yet accepted.
    pub next: u64,
    /// Bitmap of accepted records from `next` on (bit `i` is `next + i`).
    pub received: u64,
    /// Records, counted from `next`, that the receiver takes now.
    pub credit: u16,
}

impl Ack {
    /// Returns whether this acknowledgement covers record `seq` of its boot.
    pub fn covers(&self, seq: u64) -> bool {
        if seq < self.next {
            return true;
        }
        let offset = seq - self.next;
        offset < WINDOW && self.received & (1 << offset) != 0
    }

    /// Writes the 23-byte ACK message into `out` and returns its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, MessageError> {
        let out = check_room(out, ACK_LEN)?;
        out[0] = KIND_ACK;
        out[1..5].copy_from_slice(&self.boot.to_le_bytes());
        out[5..13].copy_from_slice(&self.next.to_le_bytes());
        out[13..21].copy_from_slice(&self.received.to_le_bytes());
        out[21..23].copy_from_slice(&self.credit.to_le_bytes());
        Ok(ACK_LEN)
    }
}

impl DataHeader {
    /// Writes the 21-byte DATA header into `out` and returns its length; the
    /// record bytes go right after it.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, MessageError> {
        if self.base > self.seq {
            return Err(MessageError::BaseAboveSequence {
                base: self.base,
                seq: self.seq,
            });
        }
        let out = check_room(out, DATA_HEADER_LEN)?;
        out[0] = KIND_DATA;
        out[1..5].copy_from_slice(&self.boot.to_le_bytes());
        out[5..13].copy_from_slice(&self.seq.to_le_bytes());
        out[13..21].copy_from_slice(&self.base.to_le_bytes());
        Ok(DATA_HEADER_LEN)
    }
}

/// Writes a DATA message (header then `record`) into `out` and returns its
/// length.
pub fn encode_data(
    header: &DataHeader,
    record: &[u8],
    out: &mut [u8],
) -> Result<usize, MessageError> {
    let total = DATA_HEADER_LEN + record.len();
    let out = check_room(out, total)?;
    header.encode(out)?;
    out[DATA_HEADER_LEN..].copy_from_slice(record);
    Ok(total)
}

/// Writes an application message (kind byte then `body`) into `out` and
/// returns its length.
pub fn encode_application(kind: u8, body: &[u8], out: &mut [u8]) -> Result<usize, MessageError> {
    if kind < FIRST_APPLICATION_KIND {
        return Err(MessageError::ReservedKind { kind });
    }
    let total = 1 + body.len();
    let out = check_room(out, total)?;
    out[0] = kind;
    out[1..].copy_from_slice(body);
    Ok(total)
}

/// A decoded transport message, borrowing from the frame payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// One record of the sender's queue.
    Data {
        /// Which record this is.
        header: DataHeader,
        /// The record bytes, as the sender's queue stored them.
        record: &'a [u8],
    },
    /// Acknowledgement and credit for the opposite direction.
    Ack(Ack),
    /// A message of an application kind (`0x80..=0xFF`).
    Application {
        /// The kind byte.
        kind: u8,
        /// Everything after the kind byte.
        body: &'a [u8],
    },
}

impl<'a> Message<'a> {
    /// Decodes one message from a frame payload. Never panics; every
    /// malformed input yields a [`MessageError`].
    pub fn decode(bytes: &'a [u8]) -> Result<Self, MessageError> {
        let Some(&kind) = bytes.first() else {
            return Err(MessageError::TooShort {
                kind: 0,
                len: 0,
                expected: 1,
            });
        };
        match kind {
            KIND_DATA => {
                if bytes.len() < DATA_HEADER_LEN {
                    return Err(MessageError::TooShort {
                        kind,
                        len: bytes.len(),
                        expected: DATA_HEADER_LEN,
                    });
                }
                let header = DataHeader {
                    boot: u32::from_le_bytes(array(&bytes[1..5])),
                    seq: u64::from_le_bytes(array(&bytes[5..13])),
                    base: u64::from_le_bytes(array(&bytes[13..21])),
                };
                if header.base > header.seq {
                    return Err(MessageError::BaseAboveSequence {
                        base: header.base,
                        seq: header.seq,
                    });
                }
                Ok(Message::Data {
                    header,
                    record: &bytes[DATA_HEADER_LEN..],
                })
            }
            KIND_ACK => {
                if bytes.len() < ACK_LEN {
                    return Err(MessageError::TooShort {
                        kind,
                        len: bytes.len(),
                        expected: ACK_LEN,
                    });
                }
                if bytes.len() > ACK_LEN {
                    return Err(MessageError::AckLength { len: bytes.len() });
                }
                let ack = Ack {
                    boot: u32::from_le_bytes(array(&bytes[1..5])),
                    next: u64::from_le_bytes(array(&bytes[5..13])),
                    received: u64::from_le_bytes(array(&bytes[13..21])),
                    credit: u16::from_le_bytes(array(&bytes[21..23])),
                };
                if u64::from(ack.credit) > WINDOW {
                    return Err(MessageError::CreditAboveWindow { credit: ack.credit });
                }
                Ok(Message::Ack(ack))
            }
            FIRST_APPLICATION_KIND..=u8::MAX => Ok(Message::Application {
                kind,
                body: &bytes[1..],
            }),
            _ => Err(MessageError::UnknownKind { kind }),
        }
    }
}

fn check_room(out: &mut [u8], needed: usize) -> Result<&mut [u8], MessageError> {
    let available = out.len();
    out.get_mut(..needed)
        .ok_or(MessageError::BufferTooSmall { needed, available })
}

/// Copies a slice whose length the caller has already checked into an array.
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&bytes[..N]);
    out
}
