//! Framed links over byte streams: blocking over `embedded_io`, async over
//! `embedded_io_async`.
//!
//! A link moves whole frames (for Palisade, wire frames) over a byte stream,
//! delimited as [`Framing`] says. Frames are received into a caller-provided
//! buffer; nothing is allocated.
//!
//! Bounded waiting: [`FramedLink::recv`] returns within
//! [`LinkConfig::frame_timeout_ms`], so a peer that sends one byte a minute is
//! cut off. A blocking read cannot be interrupted from outside, so the stream
//! must implement [`BoundedRead`], which bounds each read; the link checks its
//! deadline after every read. The async link checks the same deadline after
//! every read, but a read that never completes can only be stopped by the
//! executor: wrap [`AsyncFramedLink::recv`] in the executor's timeout (the
//! tokio link in [`crate::tokio_link`] does this itself).

use embedded_io::ErrorKind;

use crate::Clock;
use crate::framing::{
    CobsDecoder, DELIMITER, Decoded, Framing, FramingError, LengthPrefixDecoder, cobs_blocks,
    cobs_encode_with, length_prefix,
};

/// Settings of a framed link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkConfig {
    /// How frames are delimited on the stream.
    pub framing: Framing,
    /// Largest frame accepted or sent, in bytes (the receive buffer may lower
    /// it further).
    pub max_frame: usize,
    /// Longest time one `recv` call waits for a complete frame, in
    /// milliseconds.
    pub frame_timeout_ms: u64,
}

impl LinkConfig {
    /// Settings for a stream socket: length-prefixed frames.
    pub const fn stream(max_frame: usize, frame_timeout_ms: u64) -> Self {
        Self {
            framing: Framing::LengthPrefixed,
            max_frame,
            frame_timeout_ms,
        }
    }

    /// Settings for a byte link such as a UART: COBS frames.
    pub const fn byte_link(max_frame: usize, frame_timeout_ms: u64) -> Self {
        Self {
            framing: Framing::Cobs,
            max_frame,
            frame_timeout_ms,
        }
    }
}

/// A byte stream whose next blocking read can be bounded in time.
///
/// Implement it as a no-op for a driver whose reads already return within a
/// bounded time (a UART read with a timeout, for example).
pub trait BoundedRead: embedded_io::Read {
    /// Makes the next `read` return within about `timeout_ms` milliseconds,
    /// with data or with an error of kind [`ErrorKind::TimedOut`].
    fn set_read_timeout_ms(&mut self, timeout_ms: u64) -> Result<(), Self::Error>;
}

/// Error returned by a framed link.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError<E: core::fmt::Debug> {
    /// The stream failed; reconnect.
    #[error("link I/O failed: {0:?}")]
    Io(E),
    /// The peer closed the stream.
    #[error("peer closed the link")]
    Closed,
    /// No complete frame within the frame timeout. When `mid_frame` is true
    /// part of a frame had arrived: a length-prefixed link is then broken,
    /// a COBS link dropped the partial frame.
    #[error("no complete frame within {timeout_ms} ms (mid_frame: {mid_frame})")]
    Timeout {
        /// The frame timeout.
        timeout_ms: u64,
        /// Whether part of a frame had been received.
        mid_frame: bool,
    },
    /// A frame was rejected on receive or is too large to send.
    #[error("framing failed: {0}")]
    Framing(#[from] FramingError),
    /// An earlier error left a length-prefixed stream at an unknown position;
    /// reconnect.
    #[error("link is broken by an earlier error; reconnect")]
    Broken,
}

/// Counters of a framed link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Frames sent.
    pub frames_sent: u64,
    /// Frames received.
    pub frames_received: u64,
    /// Frames dropped by the COBS decoder (oversized, truncated, or cut by a
    /// timeout) before it resynchronized.
    pub frames_dropped: u64,
}

const STAGING_LEN: usize = 128;

/// Receive state shared by the blocking and async links.
#[derive(Debug)]
struct RxState {
    config: LinkConfig,
    cobs: CobsDecoder,
    prefixed: LengthPrefixDecoder,
    staging: [u8; STAGING_LEN],
    start: usize,
    end: usize,
    broken: bool,
    stats: LinkStats,
}

enum Step {
    Frame(usize),
    NeedRead,
}

impl RxState {
    fn new(config: LinkConfig) -> Self {
        Self {
            config,
            cobs: CobsDecoder::new(config.max_frame),
            prefixed: LengthPrefixDecoder::new(config.max_frame),
            staging: [0; STAGING_LEN],
            start: 0,
            end: 0,
            broken: false,
            stats: LinkStats::default(),
        }
    }

    /// Decodes staged bytes into `rx`.
    fn step<E: core::fmt::Debug>(&mut self, rx: &mut [u8]) -> Result<Step, LinkError<E>> {
        while self.start < self.end {
            let input = &self.staging[self.start..self.end];
            let (consumed, decoded) = match self.config.framing {
                Framing::Cobs => self.cobs.feed(input, rx),
                Framing::LengthPrefixed => self.prefixed.feed(input, rx),
            };
            self.start += consumed;
            match decoded {
                Decoded::NeedMore => {}
                Decoded::Frame(len) => {
                    self.stats.frames_received += 1;
                    return Ok(Step::Frame(len));
                }
                Decoded::Error(error) => match self.config.framing {
                    Framing::Cobs => self.stats.frames_dropped += 1,
                    Framing::LengthPrefixed => {
                        self.broken = true;
                        return Err(LinkError::Framing(error));
                    }
                },
            }
        }
        Ok(Step::NeedRead)
    }

    fn in_frame(&self) -> bool {
        match self.config.framing {
            Framing::Cobs => self.cobs.in_frame(),
            Framing::LengthPrefixed => self.prefixed.in_frame(),
        }
    }

    fn timeout<E: core::fmt::Debug>(&mut self) -> LinkError<E> {
        let mid_frame = self.in_frame();
        if mid_frame {
            match self.config.framing {
                Framing::Cobs => {
                    // The rest of the cut frame must not be taken for a new one.
                    self.cobs.discard_frame();
                    self.stats.frames_dropped += 1;
                }
                Framing::LengthPrefixed => self.broken = true,
            }
        }
        LinkError::Timeout {
            timeout_ms: self.config.frame_timeout_ms,
            mid_frame,
        }
    }

    /// Handles the result of a read into the staging buffer.
    fn after_read<E: embedded_io::Error>(
        &mut self,
        result: Result<usize, E>,
    ) -> Result<(), LinkError<E>> {
        match result {
            Ok(0) => {
                self.broken = true;
                Err(LinkError::Closed)
            }
            Ok(n) => {
                self.start = 0;
                self.end = n;
                Ok(())
            }
            Err(error) if error.kind() == ErrorKind::TimedOut => Ok(()),
            Err(error) => {
                self.broken = true;
                Err(LinkError::Io(error))
            }
        }
    }

    fn check_send<E: core::fmt::Debug>(&self, frame: &[u8]) -> Result<(), LinkError<E>> {
        if self.broken {
            return Err(LinkError::Broken);
        }
        if frame.len() > self.config.max_frame {
            return Err(LinkError::Framing(FramingError::TooLarge {
                len: frame.len(),
                max: self.config.max_frame,
            }));
        }
        if frame.is_empty() {
            return Err(LinkError::Framing(FramingError::Empty));
        }
        Ok(())
    }
}

/// Blocking framed link over a byte stream.
#[derive(Debug)]
pub struct FramedLink<'b, T> {
    io: T,
    rx: &'b mut [u8],
    state: RxState,
}

impl<'b, T> FramedLink<'b, T>
where
    T: BoundedRead + embedded_io::Write,
{
    /// Wraps `io`; received frames are stored in `rx`, whose length also
    /// bounds the frame size.
    pub fn new(io: T, rx: &'b mut [u8], config: LinkConfig) -> Self {
        Self {
            io,
            rx,
            state: RxState::new(config),
        }
    }

    /// Counters since creation.
    pub fn stats(&self) -> LinkStats {
        self.state.stats
    }

    /// The wrapped stream.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.io
    }

    /// Returns the wrapped stream.
    pub fn into_inner(self) -> T {
        self.io
    }

    /// Sends one frame and flushes the stream.
    pub fn send(&mut self, frame: &[u8]) -> Result<(), LinkError<T::Error>> {
        self.state.check_send(frame)?;
        let result = match self.state.config.framing {
            Framing::LengthPrefixed => {
                let prefix = length_prefix(frame.len())?;
                self.io
                    .write_all(&prefix)
                    .and_then(|()| self.io.write_all(frame))
            }
            Framing::Cobs => cobs_encode_with(frame, |piece| self.io.write_all(piece)),
        };
        match result.and_then(|()| self.io.flush()) {
            Ok(()) => {
                self.state.stats.frames_sent += 1;
                Ok(())
            }
            Err(error) => {
                self.state.broken = true;
                Err(LinkError::Io(error))
            }
        }
    }

    /// Receives the next frame, waiting at most the frame timeout.
    pub fn recv(&mut self, clock: &impl Clock) -> Result<&[u8], LinkError<T::Error>> {
        if self.state.broken {
            return Err(LinkError::Broken);
        }
        let deadline = clock
            .now_ms()
            .saturating_add(self.state.config.frame_timeout_ms);
        let len = loop {
            if let Step::Frame(len) = self.state.step(self.rx)? {
                break len;
            }
            let now = clock.now_ms();
            if now >= deadline {
                return Err(self.state.timeout());
            }
            if let Err(error) = self.io.set_read_timeout_ms(deadline - now) {
                self.state.broken = true;
                return Err(LinkError::Io(error));
            }
            let result = self.io.read(&mut self.state.staging);
            self.state.after_read(result)?;
        };
        Ok(&self.rx[..len])
    }
}

/// Async framed link over a byte stream (`embedded_io_async`).
#[derive(Debug)]
pub struct AsyncFramedLink<'b, T> {
    io: T,
    rx: &'b mut [u8],
    state: RxState,
}

impl<'b, T> AsyncFramedLink<'b, T>
where
    T: embedded_io_async::Read + embedded_io_async::Write,
{
    /// Wraps `io`; received frames are stored in `rx`, whose length also
    /// bounds the frame size.
    pub fn new(io: T, rx: &'b mut [u8], config: LinkConfig) -> Self {
        Self {
            io,
            rx,
            state: RxState::new(config),
        }
    }

    /// Counters since creation.
    pub fn stats(&self) -> LinkStats {
        self.state.stats
    }

    /// Returns the wrapped stream.
    pub fn into_inner(self) -> T {
        self.io
    }

    /// Sends one frame and flushes the stream.
    pub async fn send(&mut self, frame: &[u8]) -> Result<(), LinkError<T::Error>> {
        self.state.check_send(frame)?;
        let result = match self.state.config.framing {
            Framing::LengthPrefixed => {
                let prefix = length_prefix(frame.len())?;
                match self.io.write_all(&prefix).await {
                    Ok(()) => self.io.write_all(frame).await,
                    Err(error) => Err(error),
                }
            }
            Framing::Cobs => self.send_cobs(frame).await,
        };
        let result = match result {
            Ok(()) => self.io.flush().await,
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => {
                self.state.stats.frames_sent += 1;
                Ok(())
            }
            Err(error) => {
                self.state.broken = true;
                Err(LinkError::Io(error))
            }
        }
    }

    async fn send_cobs(&mut self, frame: &[u8]) -> Result<(), T::Error> {
        for (code, data) in cobs_blocks(frame) {
            self.io.write_all(&[code]).await?;
            self.io.write_all(data).await?;
        }
        self.io.write_all(&[DELIMITER]).await
    }

    /// Receives the next frame. The deadline is checked after every read;
    /// wrap the call in the executor's timeout to bound a read that never
    /// returns.
    pub async fn recv(&mut self, clock: &impl Clock) -> Result<&[u8], LinkError<T::Error>> {
        if self.state.broken {
            return Err(LinkError::Broken);
        }
        let deadline = clock
            .now_ms()
            .saturating_add(self.state.config.frame_timeout_ms);
        let len = loop {
            if let Step::Frame(len) = self.state.step(self.rx)? {
                break len;
            }
            if clock.now_ms() >= deadline {
                return Err(self.state.timeout());
            }
            let result = self.io.read(&mut self.state.staging).await;
            self.state.after_read(result)?;
        };
        Ok(&self.rx[..len])
    }
}
