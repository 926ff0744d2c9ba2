//! Framed link over tokio's `AsyncRead`/`AsyncWrite`, with every read and
//! write bounded in time, and TCP connection with backoff.
//!
//! This is the gateway's link: one per device connection. A length-prefixed
//! frame's declared size is checked against the maximum before the receive
//! buffer grows to hold it, so a peer cannot make the gateway reserve memory
//! by announcing a huge frame.

use std::format;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use std::vec;
use std::vec::Vec;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};

use crate::backoff::Backoff;
use crate::framing::{
    CobsDecoder, Decoded, Framing, FramingError, LENGTH_PREFIX_LEN, cobs_encode,
    cobs_max_encoded_len, length_prefix,
};
use crate::link::{LinkConfig, LinkError, LinkStats};

const STAGING_LEN: usize = 4096;

/// Framed link over a tokio stream.
#[derive(Debug)]
pub struct TokioLink<S> {
    io: S,
    config: LinkConfig,
    rx: Vec<u8>,
    tx: Vec<u8>,
    staging: Vec<u8>,
    start: usize,
    end: usize,
    cobs: CobsDecoder,
    /// Declared length and bytes received of a length-prefixed frame that
    /// a cancelled `recv` left unfinished.
    partial: Option<(usize, usize)>,
    broken: bool,
    stats: LinkStats,
}

impl<S> TokioLink<S> {
    /// Wraps `io`. Buffers grow to the largest frame seen, never beyond
    /// `config.max_frame` (plus the COBS overhead when sending).
    pub fn new(io: S, config: LinkConfig) -> Self {
        Self {
            io,
            config,
            rx: Vec::new(),
            tx: Vec::new(),
            staging: vec![0; STAGING_LEN],
            start: 0,
            end: 0,
            cobs: CobsDecoder::new(config.max_frame),
            partial: None,
            broken: false,
            stats: LinkStats::default(),
        }
    }

    /// Counters since creation.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Returns the link settings.
    pub fn config(&self) -> LinkConfig {
        self.config
    }

    /// Returns the wrapped stream.
    pub fn into_inner(self) -> S {
        self.io
    }

    fn timeout_error(&self, mid_frame: bool) -> LinkError<io::Error> {
        LinkError::Timeout {
            timeout_ms: self.config.frame_timeout_ms,
            mid_frame,
        }
    }
}

impl<S: AsyncWrite + Unpin> TokioLink<S> {
    /// Sends one frame; the whole write and flush must finish within the
    /// frame timeout.
    pub async fn send(&mut self, frame: &[u8]) -> Result<(), LinkError<io::Error>> {
        if self.broken {
            return Err(LinkError::Broken);
        }
        if frame.len() > self.config.max_frame {
            return Err(LinkError::Framing(FramingError::TooLarge {
                len: frame.len(),
                max: self.config.max_frame,
            }));
        }
        self.tx.clear();
        match self.config.framing {
            Framing::LengthPrefixed => {
                self.tx.extend_from_slice(&length_prefix(frame.len())?);
                self.tx.extend_from_slice(frame);
            }
            Framing::Cobs => {
                self.tx.resize(cobs_max_encoded_len(frame.len()) + 1, 0);
                let len = cobs_encode(frame, &mut self.tx).ok_or(FramingError::TooLarge {
                    len: frame.len(),
                    max: self.config.max_frame,
                })?;
                self.tx.truncate(len);
            }
        }
        let limit = Duration::from_millis(self.config.frame_timeout_ms);
        let write = async {
            self.io.write_all(&self.tx).await?;
            self.io.flush().await
        };
        match timeout(limit, write).await {
            Ok(Ok(())) => {
                self.stats.frames_sent += 1;
                Ok(())
            }
            Ok(Err(error)) => {
                self.broken = true;
                Err(LinkError::Io(error))
            }
            Err(_) => {
                self.broken = true;
                Err(LinkError::Timeout {
                    timeout_ms: self.config.frame_timeout_ms,
                    mid_frame: true,
                })
            }
        }
    }
}

impl<S: AsyncRead + Unpin> TokioLink<S> {
    /// Receives the next frame, waiting at most the frame timeout.
    ///
    /// Cancellation safe: when the future is dropped (in `select!`, for
    /// example) the bytes read so far stay in the link and the next call
    /// continues the same frame.
    pub async fn recv(&mut self) -> Result<&[u8], LinkError<io::Error>> {
        if self.broken {
            return Err(LinkError::Broken);
        }
        let deadline = Instant::now() + Duration::from_millis(self.config.frame_timeout_ms);
        let len = match self.config.framing {
            Framing::LengthPrefixed => self.recv_prefixed(deadline).await?,
            Framing::Cobs => self.recv_cobs(deadline).await?,
        };
        self.stats.frames_received += 1;
        Ok(&self.rx[..len])
    }

    async fn recv_prefixed(&mut self, deadline: Instant) -> Result<usize, LinkError<io::Error>> {
        let (declared, mut filled) = match self.partial {
            Some(partial) => partial,
            None => {
                while self.end - self.start < LENGTH_PREFIX_LEN {
                    let mid_frame = self.end > self.start;
                    self.fill(deadline, mid_frame).await?;
                }
                let mut prefix = [0u8; LENGTH_PREFIX_LEN];
                prefix.copy_from_slice(&self.staging[self.start..self.start + LENGTH_PREFIX_LEN]);
                self.start += LENGTH_PREFIX_LEN;
                let declared = u32::from_be_bytes(prefix) as usize;
                // Checked before the buffer grows.
                if declared > self.config.max_frame {
                    self.broken = true;
                    return Err(LinkError::Framing(FramingError::TooLarge {
                        len: declared,
                        max: self.config.max_frame,
                    }));
                }
                if declared == 0 {
                    self.broken = true;
                    return Err(LinkError::Framing(FramingError::Empty));
                }
                self.rx.resize(declared, 0);
                let staged = (self.end - self.start).min(declared);
                self.rx[..staged].copy_from_slice(&self.staging[self.start..self.start + staged]);
                self.start += staged;
                self.partial = Some((declared, staged));
                (declared, staged)
            }
        };
        while filled < declared {
            match timeout_at(deadline, self.io.read(&mut self.rx[filled..declared])).await {
                Ok(Ok(0)) => {
                    self.broken = true;
                    return Err(LinkError::Closed);
                }
                Ok(Ok(n)) => {
                    filled += n;
                    self.partial = Some((declared, filled));
                }
                Ok(Err(error)) => {
                    self.broken = true;
                    return Err(LinkError::Io(error));
                }
                Err(_) => {
                    self.broken = true;
                    return Err(self.timeout_error(true));
                }
            }
        }
        self.partial = None;
        Ok(declared)
    }

    async fn recv_cobs(&mut self, deadline: Instant) -> Result<usize, LinkError<io::Error>> {
        if self.rx.len() < self.config.max_frame {
            self.rx.resize(self.config.max_frame, 0);
        }
        loop {
            while self.start < self.end {
                let (consumed, decoded) = self
                    .cobs
                    .feed(&self.staging[self.start..self.end], &mut self.rx);
                self.start += consumed;
                match decoded {
                    Decoded::NeedMore => {}
                    Decoded::Frame(len) => return Ok(len),
                    Decoded::Error(error) => {
                        self.stats.frames_dropped += 1;
                        tracing::debug!(%error, "COBS frame dropped; resynchronizing");
                    }
                }
            }
            let mid_frame = self.cobs.in_frame();
            if let Err(error) = self.fill(deadline, mid_frame).await {
                if mid_frame && matches!(error, LinkError::Timeout { .. }) {
                    self.cobs.discard_frame();
                    self.stats.frames_dropped += 1;
                }
                return Err(error);
            }
        }
    }

    /// Reads more bytes into the staging buffer before `deadline`.
    async fn fill(
        &mut self,
        deadline: Instant,
        mid_frame: bool,
    ) -> Result<(), LinkError<io::Error>> {
        if self.start > 0 {
            self.staging.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let read = self.io.read(&mut self.staging[self.end..]);
        match timeout_at(deadline, read).await {
            Ok(Ok(0)) => {
                self.broken = true;
                Err(LinkError::Closed)
            }
            Ok(Ok(n)) => {
                self.end += n;
                Ok(())
            }
            Ok(Err(error)) => {
                self.broken = true;
                Err(LinkError::Io(error))
            }
            Err(_) => {
                if mid_frame && self.config.framing == Framing::LengthPrefixed {
                    self.broken = true;
                }
                Err(self.timeout_error(mid_frame))
            }
        }
    }
}

/// Connects to `addr`, retrying with `backoff` until it succeeds or the
/// backoff gives up; each attempt is bounded by `connect_timeout`.
pub async fn connect_with_backoff(
    addr: SocketAddr,
    connect_timeout: Duration,
    backoff: &mut Backoff,
) -> io::Result<TcpStream> {
    loop {
        let error = match timeout(connect_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                stream.set_nodelay(true)?;
                tracing::info!(%addr, attempts = backoff.attempts(), "connected");
                backoff.reset();
                return Ok(stream);
            }
            Ok(Err(error)) => error,
            Err(_) => io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connecting to {addr} timed out after {connect_timeout:?}"),
            ),
        };
        let Some(delay_ms) = backoff.next_delay_ms() else {
            tracing::warn!(%addr, %error, "connect failed; giving up");
            return Err(error);
        };
        tracing::warn!(%addr, %error, delay_ms, "connect failed; retrying");
        tokio::time::sleep(Duration::from_millis(u64::from(delay_ms))).await;
    }
}
