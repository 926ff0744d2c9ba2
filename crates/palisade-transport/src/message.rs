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
//! DATA_BATCH (kind 0x03) carries several records in one frame, each with
//! its own sequence number and a length:
//!
//! ```text
//!   0      1        5               13      14
//!   +------+--------+---------------+-------+----------------------------
//!   | 0x03 | boot   | base          | count | count x ( seq u64 | len u16 | record )
//!   |      | u32    | u64           | u8    |
//!   +------+--------+---------------+-------+----------------------------
//! ```
//!
//! `count` is 1 to 255, every `seq` is at least `base`, and the entries fill
//! the message exactly.
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
const KIND_DATA_BATCH: u8 = 0x03;
/// Length of the DATA_BATCH header (kind, boot, base, count).
pub const BATCH_HEADER_LEN: usize = 14;
/// Bytes in front of each record of a DATA_BATCH (sequence number, length).
pub const BATCH_ENTRY_OVERHEAD: usize = 10;
/// Maximum number of records in one DATA_BATCH.
pub const MAX_BATCH_RECORDS: usize = u8::MAX as usize;
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
    /// A DATA_BATCH is empty, or its entries do not fill it exactly.
    #[error("DATA_BATCH is malformed at byte {offset}: {reason}")]
    InvalidBatch {
        /// Offset of the problem in the message.
        offset: usize,
        /// Description of the problem.
        reason: &'static str,
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
        /// Boot, sequence number and base of the record.
        header: DataHeader,
        /// The record bytes, as the sender's queue stored them.
        record: &'a [u8],
    },
    /// Acknowledgement and credit for the opposite direction.
    Ack(Ack),
    /// Several records of the sender's queue.
    DataBatch(Batch<'a>),
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
            KIND_DATA_BATCH => Batch::decode(bytes).map(Message::DataBatch),
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

/// A validated DATA_BATCH: iterate over its records with [`Batch::records`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batch<'a> {
    /// Boot counter of the sending device.
    pub boot: u32,
    /// Lowest sequence number the sender has not seen acknowledged.
    pub base: u64,
    count: u8,
    entries: &'a [u8],
}

impl<'a> Batch<'a> {
    fn decode(bytes: &'a [u8]) -> Result<Self, MessageError> {
        if bytes.len() < BATCH_HEADER_LEN {
            return Err(MessageError::TooShort {
                kind: KIND_DATA_BATCH,
                len: bytes.len(),
                expected: BATCH_HEADER_LEN,
            });
        }
        let batch = Batch {
            boot: u32::from_le_bytes(array(&bytes[1..5])),
            base: u64::from_le_bytes(array(&bytes[5..13])),
            count: bytes[13],
            entries: &bytes[BATCH_HEADER_LEN..],
        };
        if batch.count == 0 {
            return Err(MessageError::InvalidBatch {
                offset: 13,
                reason: "count is zero",
            });
        }
        // Walk the entries once, so that iterating cannot fail.
        let mut offset = 0;
        for _ in 0..batch.count {
            let rest = &batch.entries[offset..];
            if rest.len() < BATCH_ENTRY_OVERHEAD {
                return Err(MessageError::InvalidBatch {
                    offset: BATCH_HEADER_LEN + offset,
                    reason: "entry header cut short",
                });
            }
            let seq = u64::from_le_bytes(array(&rest[..8]));
            if seq < batch.base {
                return Err(MessageError::BaseAboveSequence {
                    base: batch.base,
                    seq,
                });
            }
            let len = usize::from(u16::from_le_bytes(array(&rest[8..10])));
            if rest.len() - BATCH_ENTRY_OVERHEAD < len {
                return Err(MessageError::InvalidBatch {
                    offset: BATCH_HEADER_LEN + offset,
                    reason: "record longer than the rest of the message",
                });
            }
            offset += BATCH_ENTRY_OVERHEAD + len;
        }
        if offset != batch.entries.len() {
            return Err(MessageError::InvalidBatch {
                offset: BATCH_HEADER_LEN + offset,
                reason: "bytes after the last entry",
            });
        }
        Ok(batch)
    }

    /// Number of records in the batch (1 to 255).
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// Returns false for every decoded batch, which contains at least one
    /// record.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Iterates over the records with their DATA headers.
    pub fn records(&self) -> BatchRecords<'a> {
        BatchRecords {
            boot: self.boot,
            base: self.base,
            rest: self.entries,
        }
    }
}

/// Iterator over the records of a [`Batch`], each with its [`DataHeader`].
#[derive(Debug, Clone)]
pub struct BatchRecords<'a> {
    boot: u32,
    base: u64,
    rest: &'a [u8],
}

impl<'a> Iterator for BatchRecords<'a> {
    type Item = (DataHeader, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        // `Batch::decode` checked every entry, so the slicing below stays in
        // bounds; `get` keeps that true even if it did not.
        let seq = u64::from_le_bytes(array(self.rest.get(..8)?));
        let len = usize::from(u16::from_le_bytes(array(self.rest.get(8..10)?)));
        let record = self
            .rest
            .get(BATCH_ENTRY_OVERHEAD..BATCH_ENTRY_OVERHEAD + len)?;
        self.rest = &self.rest[BATCH_ENTRY_OVERHEAD + len..];
        let header = DataHeader {
            boot: self.boot,
            seq,
            base: self.base,
        };
        Some((header, record))
    }
}

/// Builds a DATA_BATCH message in place, one record at a time.
#[derive(Debug)]
pub struct BatchBuilder<'o> {
    out: &'o mut [u8],
    /// Offset of the message in `out`.
    start: usize,
    /// Offset in `out` that the message must not pass.
    limit: usize,
    /// Length of the message so far.
    len: usize,
    count: u8,
}

impl<'o> BatchBuilder<'o> {
    /// Starts a batch for `boot` with the sender's `base` at the start of
    /// `out`.
    pub fn new(boot: u32, base: u64, out: &'o mut [u8]) -> Result<Self, MessageError> {
        let limit = out.len();
        Self::within(boot, base, out, 0, limit)
    }

    /// Starts a batch that occupies `out[start..limit]` at most.
    pub(crate) fn within(
        boot: u32,
        base: u64,
        out: &'o mut [u8],
        start: usize,
        limit: usize,
    ) -> Result<Self, MessageError> {
        let available = limit.min(out.len()).saturating_sub(start);
        if available < BATCH_HEADER_LEN {
            return Err(MessageError::BufferTooSmall {
                needed: BATCH_HEADER_LEN,
                available,
            });
        }
        let header = &mut out[start..start + BATCH_HEADER_LEN];
        header[0] = KIND_DATA_BATCH;
        header[1..5].copy_from_slice(&boot.to_le_bytes());
        header[5..13].copy_from_slice(&base.to_le_bytes());
        header[13] = 0;
        Ok(Self {
            out,
            start,
            limit: start + available,
            len: BATCH_HEADER_LEN,
            count: 0,
        })
    }

    /// Adds record `seq`. Returns false, leaving the batch unchanged, when
    /// the record does not fit the buffer, the batch has 255 records, or
    /// the record is longer than 65,535 bytes.
    pub fn push(&mut self, seq: u64, record: &[u8]) -> bool {
        let Ok(record_len) = u16::try_from(record.len()) else {
            return false;
        };
        let begin = self.start + self.len;
        let end = begin + BATCH_ENTRY_OVERHEAD + record.len();
        if usize::from(self.count) == MAX_BATCH_RECORDS || end > self.limit {
            return false;
        }
        let entry = &mut self.out[begin..end];
        entry[..8].copy_from_slice(&seq.to_le_bytes());
        entry[8..10].copy_from_slice(&record_len.to_le_bytes());
        entry[BATCH_ENTRY_OVERHEAD..].copy_from_slice(record);
        self.len = end - self.start;
        self.count += 1;
        self.out[self.start + 13] = self.count;
        true
    }

    /// Number of records added.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// Returns whether no record was added yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Returns the message built so far (valid once a record was added).
    pub fn message(&self) -> &[u8] {
        &self.out[self.start..self.start + self.len]
    }

    /// Returns the whole buffer and the message length.
    pub(crate) fn into_parts(self) -> (&'o mut [u8], usize) {
        (self.out, self.len)
    }
}
