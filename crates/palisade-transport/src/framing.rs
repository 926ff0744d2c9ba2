//! Byte-stream framing without I/O: where one frame ends and the next begins.
//!
//! - [`Framing::LengthPrefixed`], for stream sockets: a 4-byte big-endian
//!   length, then the frame. The length is checked against the maximum frame
//!   size before a single payload byte is stored. A bad length means the
//!   stream lost its place, which is fatal for the connection.
//! - [`Framing::Cobs`], for byte links such as UARTs: each frame is COBS
//!   encoded and ends with a `0x00` delimiter. After garbage, a lost byte or an
//!   oversized frame the decoder drops bytes up to the next delimiter and
//!   carries on, so the link resynchronizes by itself.
//!
//! Both decoders write into a caller-provided buffer and never allocate.

/// Bytes of the length prefix in [`Framing::LengthPrefixed`].
pub const LENGTH_PREFIX_LEN: usize = 4;

/// COBS frame delimiter.
pub const DELIMITER: u8 = 0x00;

/// How frames are delimited on a byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// COBS encoding with a `0x00` delimiter, for byte links (UART).
    Cobs,
    /// A 4-byte big-endian length before each frame, for stream sockets.
    LengthPrefixed,
}

/// Error raised while splitting a byte stream into frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// A frame is longer than the maximum frame size.
    #[error("frame of {len} bytes exceeds the maximum frame size of {max} bytes")]
    TooLarge {
        /// Declared (length prefix) or decoded-so-far (COBS) length.
        len: usize,
        /// The maximum frame size.
        max: usize,
    },
    /// A length prefix declares an empty frame.
    #[error("length prefix declares an empty frame")]
    Empty,
    /// A COBS frame ended in the middle of a block (a byte was lost).
    #[error("COBS frame ended inside a block after {len} decoded bytes")]
    Truncated {
        /// Bytes decoded before the delimiter.
        len: usize,
    },
}

/// Outcome of feeding bytes to a decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// All input consumed, no frame complete yet.
    NeedMore,
    /// A frame of this many bytes is complete at the start of the buffer.
    Frame(usize),
    /// A frame was rejected. For COBS the decoder has already resynchronized;
    /// for length-prefixed streams the connection must be dropped.
    Error(FramingError),
}

/// Streaming decoder for [`Framing::LengthPrefixed`].
#[derive(Debug, Clone)]
pub struct LengthPrefixDecoder {
    max_frame: usize,
    prefix: [u8; LENGTH_PREFIX_LEN],
    prefix_len: usize,
    /// Declared length once the prefix is complete.
    frame_len: Option<usize>,
    received: usize,
}

impl LengthPrefixDecoder {
    /// Creates a decoder that accepts frames of up to `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        Self {
            max_frame,
            prefix: [0; LENGTH_PREFIX_LEN],
            prefix_len: 0,
            frame_len: None,
            received: 0,
        }
    }

    /// Returns whether part of a frame (or of its prefix) has been read.
    pub fn in_frame(&self) -> bool {
        self.prefix_len > 0
    }

    /// Bytes still needed to finish the current frame, once its prefix is
    /// known; a reader can use it to read no further than the frame's end.
    pub fn remaining(&self) -> usize {
        match self.frame_len {
            Some(len) => len - self.received,
            None => LENGTH_PREFIX_LEN - self.prefix_len,
        }
    }

    /// Feeds `input`, storing payload bytes into `buf`, and returns how many
    /// input bytes were consumed and the outcome. The effective maximum frame
    /// size is the smaller of the configured one and `buf.len()`.
    pub fn feed(&mut self, input: &[u8], buf: &mut [u8]) -> (usize, Decoded) {
        let mut consumed = 0;
        while consumed < input.len() {
            match self.frame_len {
                None => {
                    self.prefix[self.prefix_len] = input[consumed];
                    self.prefix_len += 1;
                    consumed += 1;
                    if self.prefix_len == LENGTH_PREFIX_LEN {
                        let declared = u32::from_be_bytes(self.prefix) as usize;
                        let max = self.max_frame.min(buf.len());
                        if declared > max {
                            self.reset();
                            let error = FramingError::TooLarge { len: declared, max };
                            return (consumed, Decoded::Error(error));
                        }
                        if declared == 0 {
                            self.reset();
                            return (consumed, Decoded::Error(FramingError::Empty));
                        }
                        self.frame_len = Some(declared);
                        self.received = 0;
                    }
                }
                Some(len) => {
                    let take = (len - self.received).min(input.len() - consumed);
                    buf[self.received..self.received + take]
                        .copy_from_slice(&input[consumed..consumed + take]);
                    self.received += take;
                    consumed += take;
                    if self.received == len {
                        self.reset();
                        return (consumed, Decoded::Frame(len));
                    }
                }
            }
        }
        (consumed, Decoded::NeedMore)
    }

    /// Forgets any partial frame.
    pub fn reset(&mut self) {
        self.prefix_len = 0;
        self.frame_len = None;
        self.received = 0;
    }
}

/// Writes the length prefix for a frame of `len` bytes.
pub fn length_prefix(len: usize) -> Result<[u8; LENGTH_PREFIX_LEN], FramingError> {
    let declared = u32::try_from(len).map_err(|_| FramingError::TooLarge {
        len,
        max: u32::MAX as usize,
    })?;
    if declared == 0 {
        return Err(FramingError::Empty);
    }
    Ok(declared.to_be_bytes())
}

/// Streaming COBS decoder that resynchronizes at the next delimiter after an
/// error.
#[derive(Debug, Clone)]
pub struct CobsDecoder {
    max_frame: usize,
    len: usize,
    /// Data bytes left in the current block; 0 means the next byte is a code.
    block_left: u8,
    /// Whether a zero must be emitted before the next block's data.
    zero_pending: bool,
    /// Whether any byte of the current frame was seen.
    started: bool,
    /// Dropping bytes up to the next delimiter after an error.
    discarding: bool,
}

impl CobsDecoder {
    /// Creates a decoder that accepts decoded frames of up to `max_frame`
    /// bytes.
    pub fn new(max_frame: usize) -> Self {
        Self {
            max_frame,
            len: 0,
            block_left: 0,
            zero_pending: false,
            started: false,
            discarding: false,
        }
    }

    /// Returns whether part of a frame has been read.
    pub fn in_frame(&self) -> bool {
        self.started
    }

    /// Feeds `input`, decoding into `buf`, and returns how many input bytes
    /// were consumed and the outcome. Empty frames (two delimiters in a row)
    /// are skipped. The effective maximum frame size is the smaller of the
    /// configured one and `buf.len()`.
    pub fn feed(&mut self, input: &[u8], buf: &mut [u8]) -> (usize, Decoded) {
        let max = self.max_frame.min(buf.len());
        for (index, &byte) in input.iter().enumerate() {
            let consumed = index + 1;
            if byte == DELIMITER {
                let outcome = self.finish();
                self.reset();
                match outcome {
                    Some(decoded) => return (consumed, decoded),
                    None => continue,
                }
            }
            if self.discarding {
                continue;
            }
            self.started = true;
            if self.block_left == 0 {
                if self.zero_pending && !self.push(0, buf, max) {
                    return (consumed, self.overflow(max));
                }
                self.block_left = byte - 1;
                self.zero_pending = byte != 0xFF;
            } else {
                if !self.push(byte, buf, max) {
                    return (consumed, self.overflow(max));
                }
                self.block_left -= 1;
            }
        }
        (input.len(), Decoded::NeedMore)
    }

    /// Forgets any partial frame.
    pub fn reset(&mut self) {
        self.len = 0;
        self.block_left = 0;
        self.zero_pending = false;
        self.started = false;
        self.discarding = false;
    }

    /// Drops the partial frame and every byte up to the next delimiter, for
    /// a frame cut short by a timeout.
    pub fn discard_frame(&mut self) {
        self.reset();
        self.discarding = true;
        self.started = true;
    }

    fn finish(&self) -> Option<Decoded> {
        if self.discarding || !self.started {
            return None;
        }
        if self.block_left != 0 {
            return Some(Decoded::Error(FramingError::Truncated { len: self.len }));
        }
        Some(Decoded::Frame(self.len))
    }

    fn push(&mut self, byte: u8, buf: &mut [u8], max: usize) -> bool {
        if self.len >= max {
            return false;
        }
        buf[self.len] = byte;
        self.len += 1;
        true
    }

    fn overflow(&mut self, max: usize) -> Decoded {
        let len = self.len + 1;
        self.reset();
        self.discarding = true;
        self.started = true;
        Decoded::Error(FramingError::TooLarge { len, max })
    }
}

/// Largest COBS encoding of a `len`-byte frame, without the delimiter.
pub const fn cobs_max_encoded_len(len: usize) -> usize {
    len + len / 254 + 1
}

/// Iterator over the COBS blocks of a frame: each item is a code byte and
/// the frame bytes that follow it, so a writer can send the encoding without
/// copying the frame. The delimiter is not included.
#[derive(Debug, Clone)]
pub struct CobsBlocks<'a> {
    rest: &'a [u8],
    done: bool,
}

/// Splits `frame` into its COBS blocks.
pub fn cobs_blocks(frame: &[u8]) -> CobsBlocks<'_> {
    CobsBlocks {
        rest: frame,
        done: false,
    }
}

impl<'a> Iterator for CobsBlocks<'a> {
    type Item = (u8, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = self.rest;
        let run = rest
            .iter()
            .take(254)
            .position(|&b| b == 0)
            .unwrap_or(rest.len().min(254));
        let item = ((run + 1) as u8, &rest[..run]);
        if run == 254 {
            // A full block implies no zero; the next block starts right after.
            if rest.len() == run {
                self.done = true;
            } else {
                self.rest = &rest[run..];
            }
        } else if run < rest.len() {
            // A zero ends this block; the next block starts after it.
            self.rest = &rest[run + 1..];
        } else {
            self.done = true;
        }
        Some(item)
    }
}

/// Calls `write` with consecutive pieces of the COBS encoding of `frame`
/// followed by the delimiter, without copying the frame.
pub fn cobs_encode_with<E>(
    frame: &[u8],
    mut write: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<(), E> {
    for (code, data) in cobs_blocks(frame) {
        write(&[code])?;
        write(data)?;
    }
    write(&[DELIMITER])
}

/// COBS-encodes `frame` plus the delimiter into `out` and returns the length,
/// or `None` when `out` is too small.
pub fn cobs_encode(frame: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut len = 0;
    cobs_encode_with(frame, |piece| {
        let end = len + piece.len();
        out.get_mut(len..end).ok_or(())?.copy_from_slice(piece);
        len = end;
        Ok::<(), ()>(())
    })
    .ok()?;
    Some(len)
}
