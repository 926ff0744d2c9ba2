//! The link the agent sends frames over, and the message kinds it adds to
//! the transport's DATA and ACK messages.
//!
//! # Session protocol
//!
//! Every frame is a palisade-transport frame (a palisade-wire frame whose
//! payload is one transport message). The handshake of palisade-credential
//! runs first, in checksummed frames, as application messages:
//!
//! ```text
//! device                                             gateway
//!   [0x80 | handshake message 1]   (record 0)  ->
//!                           <-  [0x81 | handshake message 2]
//!                           or  [0x83 | reject code u8]
//!   [0x82 | handshake message 3]   (record 1)  ->
//! ```
//!
//! After message 3 both directions use sealed frames under the session keys,
//! numbered from record 0 in each direction. The device sends DATA messages
//! (one postcard-encoded event per record, with the boot counter and the
//! store-and-forward queue's sequence number); the gateway replies with ACK
//! messages and sends signed commands as application messages of kind
//! [`KIND_COMMAND`]. The device acknowledges every command with events
//! (`command_acknowledged`, and `command_rejected` when it is unauthorized).

/// Application message kind of handshake message 1 (device to gateway).
pub const KIND_HANDSHAKE_MSG1: u8 = 0x80;
/// Application message kind of handshake message 2 (gateway to device).
pub const KIND_HANDSHAKE_MSG2: u8 = 0x81;
/// Application message kind of handshake message 3 (device to gateway).
pub const KIND_HANDSHAKE_MSG3: u8 = 0x82;
/// Application message kind of a handshake rejection (gateway to device);
/// the body is one byte, the credential crate's `RejectReason::code`.
pub const KIND_HANDSHAKE_REJECTED: u8 = 0x83;
/// Application message kind of a signed command (gateway to device).
pub const KIND_COMMAND: u8 = 0x90;

/// A link that moves whole frames.
pub trait Link {
    /// Error of the link; the agent drops the session on any error.
    type Error: core::fmt::Debug;

    /// Sends one frame.
    fn send(&mut self, frame: &[u8]) -> Result<(), Self::Error>;

    /// Receives one frame into `buffer` and returns its length, or `None`
    /// when no frame arrived within the link's receive timeout. A frame
    /// longer than `buffer` is an error.
    fn recv(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, Self::Error>;
}

impl<L: Link + ?Sized> Link for &mut L {
    type Error = L::Error;

    fn send(&mut self, frame: &[u8]) -> Result<(), Self::Error> {
        (**self).send(frame)
    }

    fn recv(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, Self::Error> {
        (**self).recv(buffer)
    }
}

/// Error of a [`TransportLink`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportLinkError<E: core::fmt::Debug> {
    /// The framed link failed.
    #[error(transparent)]
    Link(palisade_transport::link::LinkError<E>),
    /// A received frame is longer than the agent's receive buffer.
    #[error("received frame of {len} bytes exceeds the {capacity}-byte receive buffer")]
    FrameTooLong {
        /// Length of the frame.
        len: usize,
        /// Capacity of the buffer.
        capacity: usize,
    },
}

/// A palisade-transport [`FramedLink`](palisade_transport::link::FramedLink)
/// (COBS on a UART, length-prefixed on TCP) with the clock that bounds its
/// receive timeout, as a [`Link`].
#[derive(Debug)]
pub struct TransportLink<'b, T, C> {
    link: palisade_transport::link::FramedLink<'b, T>,
    clock: C,
}

impl<'b, T, C> TransportLink<'b, T, C>
where
    T: palisade_transport::link::BoundedRead + embedded_io::Write,
    C: palisade_transport::Clock,
{
    /// Wraps `link`; `clock` measures its frame timeout.
    pub fn new(link: palisade_transport::link::FramedLink<'b, T>, clock: C) -> Self {
        Self { link, clock }
    }

    /// Returns the framed link.
    pub fn get_mut(&mut self) -> &mut palisade_transport::link::FramedLink<'b, T> {
        &mut self.link
    }
}

impl<T, C> Link for TransportLink<'_, T, C>
where
    T: palisade_transport::link::BoundedRead + embedded_io::Write,
    C: palisade_transport::Clock,
{
    type Error = TransportLinkError<T::Error>;

    fn send(&mut self, frame: &[u8]) -> Result<(), Self::Error> {
        self.link.send(frame).map_err(TransportLinkError::Link)
    }

    fn recv(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, Self::Error> {
        use palisade_transport::link::LinkError;
        match self.link.recv(&self.clock) {
            Ok(frame) => {
                let Some(target) = buffer.get_mut(..frame.len()) else {
                    return Err(TransportLinkError::FrameTooLong {
                        len: frame.len(),
                        capacity: buffer.len(),
                    });
                };
                target.copy_from_slice(frame);
                Ok(Some(frame.len()))
            }
            // A timeout between frames is the normal idle case. A timeout in
            // the middle of a length-prefixed frame leaves the link broken,
            // and its next call reports that.
            Err(LinkError::Timeout { .. }) => Ok(None),
            Err(error) => Err(TransportLinkError::Link(error)),
        }
    }
}

/// One end of an in-process frame link (a pair of channels), for tests and
/// simulations on a host.
#[cfg(feature = "std")]
#[derive(Debug)]
pub struct ChannelLink {
    tx: std::sync::mpsc::Sender<std::vec::Vec<u8>>,
    rx: std::sync::mpsc::Receiver<std::vec::Vec<u8>>,
    timeout: std::time::Duration,
}

/// Error of a [`ChannelLink`]: the other end was dropped.
#[cfg(feature = "std")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelLinkError {
    /// The other end was dropped.
    #[error("the other end of the channel link was dropped")]
    Closed,
    /// A frame is longer than the receive buffer.
    #[error("frame of {len} bytes exceeds the {capacity}-byte receive buffer")]
    FrameTooLong {
        /// Length of the frame.
        len: usize,
        /// Capacity of the buffer.
        capacity: usize,
    },
}

#[cfg(feature = "std")]
impl ChannelLink {
    /// Returns two connected ends; each `recv` waits at most `timeout`.
    pub fn pair(timeout: std::time::Duration) -> (Self, Self) {
        let (a_tx, a_rx) = std::sync::mpsc::channel();
        let (b_tx, b_rx) = std::sync::mpsc::channel();
        (
            Self {
                tx: a_tx,
                rx: b_rx,
                timeout,
            },
            Self {
                tx: b_tx,
                rx: a_rx,
                timeout,
            },
        )
    }
}

#[cfg(feature = "std")]
impl Link for ChannelLink {
    type Error = ChannelLinkError;

    fn send(&mut self, frame: &[u8]) -> Result<(), Self::Error> {
        self.tx
            .send(frame.to_vec())
            .map_err(|_| ChannelLinkError::Closed)
    }

    fn recv(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, Self::Error> {
        use std::sync::mpsc::RecvTimeoutError;
        match self.rx.recv_timeout(self.timeout) {
            Ok(frame) => {
                let capacity = buffer.len();
                let target =
                    buffer
                        .get_mut(..frame.len())
                        .ok_or(ChannelLinkError::FrameTooLong {
                            len: frame.len(),
                            capacity,
                        })?;
                target.copy_from_slice(&frame);
                Ok(Some(frame.len()))
            }
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(ChannelLinkError::Closed),
        }
    }
}

/// Error of a [`CobsLink`] or a [`StreamLink`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ByteLinkError<E: core::fmt::Debug> {
    /// The byte stream failed.
    #[error("byte stream failed: {0:?}")]
    Io(E),
    /// The byte stream ended (the peer closed it).
    #[error("byte stream closed by the peer")]
    Closed,
    /// A received frame is longer than the agent's receive buffer.
    #[error("received frame of {len} bytes exceeds the {capacity}-byte receive buffer")]
    FrameTooLong {
        /// Length of the frame.
        len: usize,
        /// Capacity of the buffer.
        capacity: usize,
    },
}

/// Counters of a [`CobsLink`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CobsLinkStats {
    /// Frames sent.
    pub frames_sent: u64,
    /// Frames received.
    pub frames_received: u64,
    /// Corrupt or oversized frames dropped by the decoder, which then
    /// resynchronized at the next delimiter.
    pub frames_dropped: u64,
}

const STAGING_LEN: usize = 64;

/// Frames as COBS with a `0x00` delimiter over a byte stream such as a
/// UART; see [`palisade_wire::cobs`].
///
/// Unlike a per-frame deadline, [`recv`](Link::recv) returns `None` only
/// when no byte arrives for `idle_timeout_ms`; a frame that arrives slowly
/// is kept across calls, because a UART may deliver a large frame over
/// many polls. A corrupt frame is dropped and counted, and reception
/// resumes at the next delimiter.
pub struct CobsLink<T> {
    io: T,
    decoder: palisade_wire::CobsDecoder<FRAME_CAPACITY>,
    staging: [u8; STAGING_LEN],
    start: usize,
    end: usize,
    idle_timeout_ms: u64,
    stats: CobsLinkStats,
}

/// Largest frame a [`CobsLink`] receives: [`FRAME_BUFFER_LEN`](crate::FRAME_BUFFER_LEN).
pub const FRAME_CAPACITY: usize = crate::agent::FRAME_BUFFER_LEN;

impl<T> core::fmt::Debug for CobsLink<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CobsLink")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<T> CobsLink<T>
where
    T: palisade_transport::link::BoundedRead + embedded_io::Write,
{
    /// Wraps `io`; `recv` gives up after `idle_timeout_ms` without a byte.
    pub fn new(io: T, idle_timeout_ms: u64) -> Self {
        Self {
            io,
            decoder: palisade_wire::CobsDecoder::new(),
            staging: [0; STAGING_LEN],
            start: 0,
            end: 0,
            idle_timeout_ms,
            stats: CobsLinkStats::default(),
        }
    }

    /// Counters since creation.
    pub fn stats(&self) -> CobsLinkStats {
        self.stats
    }

    /// Returns the byte stream.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.io
    }
}

impl<T> Link for CobsLink<T>
where
    T: palisade_transport::link::BoundedRead + embedded_io::Write,
{
    type Error = ByteLinkError<T::Error>;

    fn send(&mut self, frame: &[u8]) -> Result<(), Self::Error> {
        // Each block is a code byte (1 + number of data bytes) followed by up
        // to 254 non-zero bytes; a zero in the frame ends a block.
        let mut rest = frame;
        loop {
            let run = rest
                .iter()
                .take(254)
                .position(|byte| *byte == 0)
                .unwrap_or(rest.len().min(254));
            let code = [run as u8 + 1];
            self.io.write_all(&code).map_err(ByteLinkError::Io)?;
            self.io.write_all(&rest[..run]).map_err(ByteLinkError::Io)?;
            if run == 254 && run < rest.len() {
                // A full block implies no zero; the next block starts here.
                rest = &rest[run..];
            } else if run < rest.len() {
                // `rest[run]` is the zero that ended this block.
                rest = &rest[run + 1..];
            } else {
                break;
            }
        }
        self.io.write_all(&[0]).map_err(ByteLinkError::Io)?;
        self.io.flush().map_err(ByteLinkError::Io)?;
        self.stats.frames_sent += 1;
        Ok(())
    }

    fn recv(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, Self::Error> {
        loop {
            while self.start < self.end {
                let (consumed, feed) = self.decoder.feed(&self.staging[self.start..self.end]);
                self.start += consumed;
                match feed {
                    palisade_wire::cobs::Feed::Consumed => {}
                    palisade_wire::cobs::Feed::Message(frame) => {
                        let capacity = buffer.len();
                        let Some(target) = buffer.get_mut(..frame.len()) else {
                            return Err(ByteLinkError::FrameTooLong {
                                len: frame.len(),
                                capacity,
                            });
                        };
                        target.copy_from_slice(frame);
                        self.stats.frames_received += 1;
                        return Ok(Some(frame.len()));
                    }
                    palisade_wire::cobs::Feed::Error(_) => self.stats.frames_dropped += 1,
                }
            }
            self.io
                .set_read_timeout_ms(self.idle_timeout_ms)
                .map_err(ByteLinkError::Io)?;
            match self.io.read(&mut self.staging) {
                Ok(0) => return Err(ByteLinkError::Closed),
                Ok(count) => {
                    self.start = 0;
                    self.end = count;
                }
                Err(error)
                    if embedded_io::Error::kind(&error) == embedded_io::ErrorKind::TimedOut =>
                {
                    return Ok(None);
                }
                Err(error) => return Err(ByteLinkError::Io(error)),
            }
        }
    }
}

/// Frames with a 4-byte big-endian length prefix (palisade-transport's
/// stream framing, which the gateway's TCP server speaks) over a byte
/// stream such as a TCP socket.
///
/// [`recv`](Link::recv) returns `None` after `idle_timeout_ms` without a
/// byte and keeps a partly received frame for the next call, so a frame
/// that arrives across a poll boundary is not lost. A length above
/// [`FRAME_CAPACITY`] or of zero means the stream lost its place; it is an
/// error and the connection must be closed.
pub struct StreamLink<T> {
    io: T,
    prefix: [u8; 4],
    prefix_len: usize,
    frame: [u8; FRAME_CAPACITY],
    frame_len: Option<usize>,
    received: usize,
    staging: [u8; STAGING_LEN],
    start: usize,
    end: usize,
    idle_timeout_ms: u64,
    frames_sent: u64,
    frames_received: u64,
}

impl<T> core::fmt::Debug for StreamLink<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StreamLink")
            .field("frames_sent", &self.frames_sent)
            .field("frames_received", &self.frames_received)
            .finish_non_exhaustive()
    }
}

impl<T> StreamLink<T>
where
    T: palisade_transport::link::BoundedRead + embedded_io::Write,
{
    /// Wraps `io`; `recv` gives up after `idle_timeout_ms` without a byte.
    pub fn new(io: T, idle_timeout_ms: u64) -> Self {
        Self {
            io,
            prefix: [0; 4],
            prefix_len: 0,
            frame: [0; FRAME_CAPACITY],
            frame_len: None,
            received: 0,
            staging: [0; STAGING_LEN],
            start: 0,
            end: 0,
            idle_timeout_ms,
            frames_sent: 0,
            frames_received: 0,
        }
    }

    /// Returns the frames sent and received since creation.
    pub fn frame_counts(&self) -> (u64, u64) {
        (self.frames_sent, self.frames_received)
    }

    /// Returns the byte stream.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.io
    }

    /// Moves staged bytes into the frame under assembly; returns the length
    /// of a completed frame.
    fn assemble(&mut self) -> Result<Option<usize>, ByteLinkError<T::Error>> {
        while self.start < self.end {
            match self.frame_len {
                None => {
                    self.prefix[self.prefix_len] = self.staging[self.start];
                    self.prefix_len += 1;
                    self.start += 1;
                    if self.prefix_len == 4 {
                        let len = u32::from_be_bytes(self.prefix) as usize;
                        if len == 0 || len > FRAME_CAPACITY {
                            return Err(ByteLinkError::FrameTooLong {
                                len,
                                capacity: FRAME_CAPACITY,
                            });
                        }
                        self.frame_len = Some(len);
                        self.received = 0;
                    }
                }
                Some(len) => {
                    let take = (len - self.received).min(self.end - self.start);
                    self.frame[self.received..self.received + take]
                        .copy_from_slice(&self.staging[self.start..self.start + take]);
                    self.received += take;
                    self.start += take;
                    if self.received == len {
                        self.frame_len = None;
                        self.prefix_len = 0;
                        return Ok(Some(len));
                    }
                }
            }
        }
        Ok(None)
    }
}

impl<T> Link for StreamLink<T>
where
    T: palisade_transport::link::BoundedRead + embedded_io::Write,
{
    type Error = ByteLinkError<T::Error>;

    fn send(&mut self, frame: &[u8]) -> Result<(), Self::Error> {
        let len = u32::try_from(frame.len()).map_err(|_| ByteLinkError::FrameTooLong {
            len: frame.len(),
            capacity: FRAME_CAPACITY,
        })?;
        self.io
            .write_all(&len.to_be_bytes())
            .map_err(ByteLinkError::Io)?;
        self.io.write_all(frame).map_err(ByteLinkError::Io)?;
        self.io.flush().map_err(ByteLinkError::Io)?;
        self.frames_sent += 1;
        Ok(())
    }

    fn recv(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, Self::Error> {
        loop {
            if let Some(len) = self.assemble()? {
                let capacity = buffer.len();
                let Some(target) = buffer.get_mut(..len) else {
                    return Err(ByteLinkError::FrameTooLong { len, capacity });
                };
                target.copy_from_slice(&self.frame[..len]);
                self.frames_received += 1;
                return Ok(Some(len));
            }
            self.io
                .set_read_timeout_ms(self.idle_timeout_ms)
                .map_err(ByteLinkError::Io)?;
            match self.io.read(&mut self.staging) {
                Ok(0) => return Err(ByteLinkError::Closed),
                Ok(count) => {
                    self.start = 0;
                    self.end = count;
                }
                Err(error)
                    if embedded_io::Error::kind(&error) == embedded_io::ErrorKind::TimedOut =>
                {
                    return Ok(None);
                }
                Err(error) => return Err(ByteLinkError::Io(error)),
            }
        }
    }
}

/// A TCP connection to a gateway as a [`Link`]: length-prefixed frames, as
/// the gateway's TCP server expects, over a `std::net::TcpStream`.
///
/// Each `recv` returns `None` after `idle_timeout_ms` without a byte; each
/// write is bounded by `write_timeout`.
#[cfg(feature = "std")]
pub fn tcp_link(
    stream: std::net::TcpStream,
    idle_timeout_ms: u64,
    write_timeout: std::time::Duration,
) -> std::io::Result<StreamLink<palisade_transport::std_io::TcpIo>> {
    let io = palisade_transport::std_io::TcpIo::new(stream, write_timeout)?;
    Ok(StreamLink::new(io, idle_timeout_ms))
}
