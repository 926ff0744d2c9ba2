//! Consistent Overhead Byte Stuffing (COBS) for byte links such as a UART.
//!
//! COBS rewrites a message so that it contains no `0x00` byte, which then
//! marks the end of each message on the link. A receiver that starts in the
//! middle of a stream, or loses a byte, resynchronizes at the next `0x00`.
//! The encoding adds one byte per 254 bytes of input, plus one, plus the
//! delimiter: see [`max_encoded_len`]. The format is the one described by
//! Cheshire and Baker, "Consistent Overhead Byte Stuffing" (IEEE/ACM
//! Transactions on Networking, 1999), and matches `postcard`'s COBS flavor.
//!
//! The encoder here works in place: the frame encoder writes the frame one
//! byte into its buffer, and the COBS pass replaces each zero with the
//! distance to the next one. That pass finds zeros 32 bytes at a time, so
//! it costs a fraction of a copy. A run of more than 253 non-zero bytes
//! needs an extra code byte; then the encoder moves the data and takes the
//! general path.

/// Largest number of data bytes a COBS block can carry.
const MAX_BLOCK: usize = 254;

/// Largest encoded size of `len` input bytes, including the trailing
/// `0x00` delimiter: `len + len / 254 + 2`.
pub const fn max_encoded_len(len: usize) -> usize {
    len + len / MAX_BLOCK + 2
}

/// Error of COBS encoding or decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CobsError {
    /// The output buffer is too small.
    #[error("COBS output needs {needed} bytes but the buffer has {len}")]
    BufferTooSmall {
        /// Bytes available.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// A message ended (at a `0x00` or the end of input) inside a block: a
    /// byte was lost or the bytes are not COBS.
    #[error(
        "COBS message ended inside a block, {missing} bytes short; a byte was lost or the data is not COBS"
    )]
    Truncated {
        /// Bytes the block still expected.
        missing: usize,
    },
    /// A `0x00` byte appeared inside a message given to [`decode_in_place`].
    #[error("zero byte at offset {offset} inside a COBS message")]
    UnexpectedZero {
        /// Offset of the zero in the input.
        offset: usize,
    },
    /// A decoded message is longer than the decoder's buffer. The stream
    /// decoder skips to the next delimiter.
    #[error(
        "COBS message exceeds the decoder buffer of {capacity} bytes; skipped to the next delimiter"
    )]
    Overflow {
        /// The decoder's buffer size.
        capacity: usize,
    },
}

/// Returns a bit mask with bit `i` set when `chunk[i]` is zero.
///
/// Written as a plain loop so that the compiler turns it into vector
/// compares (SSE2 `pcmpeqb` and `pmovmskb` on x86_64).
#[inline(always)]
fn zero_mask(chunk: &[u8; 32]) -> u32 {
    let mut mask = 0u32;
    for (i, &byte) in chunk.iter().enumerate() {
        mask |= u32::from(byte == 0) << i;
    }
    mask
}

/// Position of the first zero in `bytes`.
fn find_zero(bytes: &[u8]) -> Option<usize> {
    let mut chunks = bytes.chunks_exact(32);
    let mut base = 0;
    for chunk in &mut chunks {
        let chunk: &[u8; 32] = chunk.try_into().unwrap_or(&[1; 32]);
        let mask = zero_mask(chunk);
        if mask != 0 {
            return Some(base + mask.trailing_zeros() as usize);
        }
        base += 32;
    }
    let remainder = chunks.remainder();
    if remainder.is_empty() {
        return None;
    }
    let mut padded = [1u8; 32];
    padded[..remainder.len()].copy_from_slice(remainder);
    let mask = zero_mask(&padded);
    (mask != 0).then(|| base + mask.trailing_zeros() as usize)
}

/// COBS-encodes, in place, the `len` bytes at `buffer[1..=len]`, and
/// appends the delimiter. Returns the encoded length including the
/// delimiter.
///
/// `buffer` must be at least [`max_encoded_len`]`(len)` bytes long; the
/// frame encoder guarantees it.
pub(crate) fn encode_in_place(buffer: &mut [u8], len: usize) -> usize {
    if let Some(encoded) = patch_zeros(buffer, len) {
        return encoded;
    }
    // A run of 254 or more non-zero bytes: `patch_zeros` restored the data.
    // Move it to the end of the buffer and encode forwards from there.
    let from = buffer.len() - len;
    buffer.copy_within(1..=len, from);
    encode_forward(buffer, from, len)
}

/// Replaces every zero of `buffer[1..=len]` with the distance to the next
/// zero, writes the first distance at `buffer[0]` and the delimiter at
/// `buffer[len + 1]`. Returns `None`, with the data restored, when a gap
/// between zeros needs an extra code byte.
fn patch_zeros(buffer: &mut [u8], len: usize) -> Option<usize> {
    let end = len + 1;
    let mut code_at = 0usize;
    let mut base = 1usize;
    let mut failed = false;
    while base < end && !failed {
        let limit = (base + 32).min(end);
        let mut mask = match buffer.get(base..base + 32) {
            Some(chunk) if base + 32 <= end => {
                let chunk: &[u8; 32] = chunk.try_into().unwrap_or(&[1; 32]);
                zero_mask(chunk)
            }
            _ => {
                // The last, partial chunk: pad it with non-zero bytes so that
                // it takes the same vector compare as a full one.
                let mut padded = [1u8; 32];
                padded[..limit - base].copy_from_slice(&buffer[base..limit]);
                zero_mask(&padded)
            }
        };
        while mask != 0 {
            let zero_at = base + mask.trailing_zeros() as usize;
            mask &= mask - 1;
            let distance = zero_at - code_at;
            if distance > MAX_BLOCK {
                failed = true;
                break;
            }
            buffer[code_at] = distance as u8;
            code_at = zero_at;
        }
        base = limit;
    }
    let last = end - code_at;
    if failed || last > MAX_BLOCK + 1 {
        restore_zeros(buffer, code_at);
        return None;
    }
    buffer[code_at] = last as u8;
    buffer[end] = 0;
    Some(end + 1)
}

/// Undoes the codes that [`patch_zeros`] wrote up to `code_at`.
fn restore_zeros(buffer: &mut [u8], code_at: usize) {
    let mut at = 0usize;
    while at < code_at {
        let next = at + usize::from(buffer[at]);
        buffer[at] = 0;
        at = next;
    }
    buffer[0] = 0;
}

/// General COBS encoder: reads `len` bytes at `buffer[from..]` and writes
/// the encoding and the delimiter from `buffer[0]` on. Needs
/// `from >= len / 254 + 2` so that writes never overtake reads.
fn encode_forward(buffer: &mut [u8], from: usize, len: usize) -> usize {
    let mut read = from;
    let end = from + len;
    let mut write = 0usize;
    loop {
        let window = (end - read).min(MAX_BLOCK);
        let run = find_zero(&buffer[read..read + window]).unwrap_or(window);
        buffer[write] = (run + 1) as u8;
        buffer.copy_within(read..read + run, write + 1);
        write += run + 1;
        read += run;
        if read < end && run < MAX_BLOCK {
            // Skip the zero, which the code byte stands for.
            read += 1;
            if read == end {
                // A trailing zero still needs an empty final block.
                buffer[write] = 1;
                write += 1;
                break;
            }
        } else if read == end {
            break;
        }
    }
    buffer[write] = 0;
    write + 1
}

/// COBS-encodes `input` into `output` followed by the `0x00` delimiter and
/// returns the number of bytes written.
///
/// Fails with [`CobsError::BufferTooSmall`] when `output` is shorter than
/// [`max_encoded_len`]`(input.len())`.
pub fn encode(input: &[u8], output: &mut [u8]) -> Result<usize, CobsError> {
    let needed = max_encoded_len(input.len());
    if output.len() < needed {
        return Err(CobsError::BufferTooSmall {
            len: output.len(),
            needed,
        });
    }
    output[1..=input.len()].copy_from_slice(input);
    Ok(encode_in_place(&mut output[..needed], input.len()))
}

/// Decodes one COBS message in place and returns the decoded length.
///
/// `buffer` contains the message with or without its trailing delimiter. Fails
/// with [`CobsError::UnexpectedZero`] for a zero inside the message and
/// [`CobsError::Truncated`] when it ends inside a block.
pub fn decode_in_place(buffer: &mut [u8]) -> Result<usize, CobsError> {
    let len = match buffer.last() {
        Some(0) => buffer.len() - 1,
        _ => buffer.len(),
    };
    let mut read = 0usize;
    let mut write = 0usize;
    while read < len {
        let code = usize::from(buffer[read]);
        if code == 0 {
            return Err(CobsError::UnexpectedZero { offset: read });
        }
        let run = code - 1;
        let start = read + 1;
        if start + run > len {
            return Err(CobsError::Truncated {
                missing: start + run - len,
            });
        }
        if let Some(offset) = find_zero(&buffer[start..start + run]) {
            return Err(CobsError::UnexpectedZero {
                offset: start + offset,
            });
        }
        buffer.copy_within(start..start + run, write);
        write += run;
        read = start + run;
        if code != 0xFF && read < len {
            buffer[write] = 0;
            write += 1;
        }
    }
    Ok(write)
}

/// Outcome of one call of [`CobsDecoder::feed`].
#[derive(Debug, PartialEq, Eq)]
pub enum Feed<'d> {
    /// All input was taken and no message ended in it.
    Consumed,
    /// A message ended; its decoded bytes borrow the decoder's buffer.
    Message(&'d [u8]),
    /// A message was corrupt or too long; the decoder resynchronizes at
    /// the next delimiter.
    Error(CobsError),
}

/// A streaming COBS decoder with an `N`-byte message buffer.
///
/// Feed it bytes as they arrive; it returns each message when its
/// delimiter arrives. After garbage, a lost byte or an overlong message it
/// reports one error and starts over at the next `0x00`, so one bad message
/// never costs more than itself and the message it merged with. Empty
/// messages (two delimiters in a row) are skipped.
#[derive(Debug, Clone)]
pub struct CobsDecoder<const N: usize> {
    buffer: [u8; N],
    len: usize,
    /// Data bytes left in the current block; 0 means a code byte is next.
    remaining: usize,
    /// The current block ended below 254 bytes, so a zero precedes the
    /// next block.
    pending_zero: bool,
    /// At least one code byte of the current message was read.
    started: bool,
    /// Skipping input up to the next delimiter after an overflow.
    skipping: bool,
}

impl<const N: usize> Default for CobsDecoder<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> CobsDecoder<N> {
    /// Creates an empty, synchronized decoder: the first byte starts a message.
    pub const fn new() -> Self {
        Self {
            buffer: [0; N],
            len: 0,
            remaining: 0,
            pending_zero: false,
            started: false,
            skipping: false,
        }
    }

    /// Largest decoded message, in bytes.
    pub const fn capacity(&self) -> usize {
        N
    }

    fn restart(&mut self) {
        self.len = 0;
        self.remaining = 0;
        self.pending_zero = false;
        self.started = false;
    }

    /// Consumes bytes from `input` until a message ends or an error is
    /// found, and returns how many bytes it took and what came out.
    ///
    /// Call it again with the rest of the input until it returns
    /// [`Feed::Consumed`].
    pub fn feed(&mut self, input: &[u8]) -> (usize, Feed<'_>) {
        let mut at = 0usize;
        while at < input.len() {
            if self.skipping {
                match find_zero(&input[at..]) {
                    Some(offset) => {
                        at += offset + 1;
                        self.skipping = false;
                        self.restart();
                        continue;
                    }
                    None => return (input.len(), Feed::Consumed),
                }
            }
            if self.remaining == 0 {
                let code = input[at];
                at += 1;
                if code == 0 {
                    if !self.started {
                        continue;
                    }
                    let len = self.len;
                    self.restart();
                    return (at, Feed::Message(&self.buffer[..len]));
                }
                if self.pending_zero {
                    if self.len == N {
                        return (at, self.overflow());
                    }
                    self.buffer[self.len] = 0;
                    self.len += 1;
                }
                self.started = true;
                self.remaining = usize::from(code) - 1;
                self.pending_zero = code != 0xFF;
                continue;
            }
            let take = self.remaining.min(input.len() - at);
            let chunk = &input[at..at + take];
            if let Some(offset) = find_zero(chunk) {
                let missing = self.remaining - offset;
                self.restart();
                return (
                    at + offset + 1,
                    Feed::Error(CobsError::Truncated { missing }),
                );
            }
            if self.len + take > N {
                return (at + take, self.overflow());
            }
            self.buffer[self.len..self.len + take].copy_from_slice(chunk);
            self.len += take;
            self.remaining -= take;
            at += take;
        }
        (at, Feed::Consumed)
    }

    fn overflow(&mut self) -> Feed<'static> {
        self.restart();
        self.skipping = true;
        Feed::Error(CobsError::Overflow { capacity: N })
    }
}
