//! Blocking syslog senders: UDP (RFC 5426), TCP with octet counting
//! (RFC 6587) and TLS (RFC 5425).
//!
//! The senders use `std::net` and block the calling thread; an async
//! caller runs them with `tokio::task::spawn_blocking` or on a thread of
//! its own. A sender does not reconnect: after an error, drop it and
//! connect a new one, and send again whatever was not confirmed.
//!
//! TCP and TLS frames are `LENGTH SP MESSAGE`, where LENGTH is the
//! message's size in bytes in decimal (octet counting), so any message,
//! of any length, is one frame.
//!
//! # Example
//!
//! ```
//! use palisade_export::sender::UdpSender;
//!
//! let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
//! let sender = UdpSender::connect(receiver.local_addr()?)?;
//! sender.send("<165>1 - - - - - -")?;
//!
//! let mut buffer = [0u8; 64];
//! let len = receiver.recv(&mut buffer)?;
//! assert_eq!(&buffer[..len], b"<165>1 - - - - - -");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

/// Error from a syslog sender.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The socket failed.
    #[error("syslog socket to {peer} failed: {source}; reconnect and resend")]
    Io {
        /// The receiver's address.
        peer: SocketAddr,
        /// The socket error.
        source: io::Error,
    },
    /// The message does not fit one datagram of the configured size.
    #[error(
        "syslog message of {len} bytes exceeds the UDP datagram limit of {max} bytes; raise the limit or use TCP"
    )]
    TooLong {
        /// Message size in bytes.
        len: usize,
        /// The sender's datagram limit in bytes.
        max: usize,
    },
    /// The TLS handshake or a TLS record failed.
    #[error("TLS to syslog receiver {peer} failed: {source}")]
    Tls {
        /// The receiver's address.
        peer: SocketAddr,
        /// The TLS error.
        source: rustls::Error,
    },
}

/// Writes one octet-counted frame (`LENGTH SP MESSAGE`) to `writer`.
pub fn write_octet_counted<W: Write>(writer: &mut W, message: &str) -> io::Result<()> {
    let prefix = format!("{} ", message.len());
    writer.write_all(prefix.as_bytes())?;
    writer.write_all(message.as_bytes())
}

/// Sends one message per UDP datagram.
#[derive(Debug)]
pub struct UdpSender {
    socket: UdpSocket,
    peer: SocketAddr,
    max_datagram_len: usize,
}

impl UdpSender {
    /// Default datagram limit: 8192 bytes, the default maximum message size
    /// of rsyslog 8.
    pub const DEFAULT_MAX_DATAGRAM_LEN: usize = 8192;

    /// Largest UDP payload over IPv4: 65,535 minus the IP and UDP headers.
    pub const MAX_DATAGRAM_LEN: usize = 65_507;

    /// Opens a UDP socket on an ephemeral port and connects it to `peer`.
    pub fn connect(peer: SocketAddr) -> Result<Self, SendError> {
        let local: SocketAddr = if peer.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local).map_err(|source| SendError::Io { peer, source })?;
        socket
            .connect(peer)
            .map_err(|source| SendError::Io { peer, source })?;
        tracing::debug!(%peer, "syslog UDP sender ready");
        Ok(Self {
            socket,
            peer,
            max_datagram_len: Self::DEFAULT_MAX_DATAGRAM_LEN,
        })
    }

    /// Sets the largest datagram to send, at most [`Self::MAX_DATAGRAM_LEN`].
    pub fn with_max_datagram_len(mut self, max: usize) -> Self {
        self.max_datagram_len = max.min(Self::MAX_DATAGRAM_LEN);
        self
    }

    /// Sends `message` as one datagram, or returns [`SendError::TooLong`]
    /// without sending when it is longer than the datagram limit.
    pub fn send(&self, message: &str) -> Result<(), SendError> {
        if message.len() > self.max_datagram_len {
            return Err(SendError::TooLong {
                len: message.len(),
                max: self.max_datagram_len,
            });
        }
        self.socket
            .send(message.as_bytes())
            .map_err(|source| SendError::Io {
                peer: self.peer,
                source,
            })?;
        Ok(())
    }
}

/// Sends octet-counted messages over TCP.
#[derive(Debug)]
pub struct TcpSender {
    stream: TcpStream,
    peer: SocketAddr,
}

impl TcpSender {
    /// Connects to `peer`, giving up after `timeout`; writes also time out
    /// after `timeout`.
    pub fn connect(peer: SocketAddr, timeout: Duration) -> Result<Self, SendError> {
        let stream = TcpStream::connect_timeout(&peer, timeout)
            .map_err(|source| SendError::Io { peer, source })?;
        stream
            .set_write_timeout(Some(timeout))
            .map_err(|source| SendError::Io { peer, source })?;
        stream
            .set_nodelay(true)
            .map_err(|source| SendError::Io { peer, source })?;
        tracing::info!(%peer, "syslog TCP sender connected");
        Ok(Self { stream, peer })
    }

    /// Sends one message as one frame.
    pub fn send(&mut self, message: &str) -> Result<(), SendError> {
        write_octet_counted(&mut self.stream, message).map_err(|source| SendError::Io {
            peer: self.peer,
            source,
        })
    }
}

/// Sends octet-counted messages over TLS 1.2 or 1.3 (RFC 5425) with rustls.
pub struct TlsSender {
    stream: StreamOwned<ClientConnection, TcpStream>,
    peer: SocketAddr,
}

impl std::fmt::Debug for TlsSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSender")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl TlsSender {
    /// Connects to `peer`, completes the TLS handshake, and checks the
    /// receiver's certificate against `config`'s roots for `server_name`.
    ///
    /// The connection and every write time out after `timeout`.
    pub fn connect(
        peer: SocketAddr,
        server_name: ServerName<'static>,
        config: Arc<ClientConfig>,
        timeout: Duration,
    ) -> Result<Self, SendError> {
        let socket = TcpStream::connect_timeout(&peer, timeout)
            .map_err(|source| SendError::Io { peer, source })?;
        socket
            .set_write_timeout(Some(timeout))
            .map_err(|source| SendError::Io { peer, source })?;
        socket
            .set_read_timeout(Some(timeout))
            .map_err(|source| SendError::Io { peer, source })?;
        let connection = ClientConnection::new(config, server_name)
            .map_err(|source| SendError::Tls { peer, source })?;
        let mut stream = StreamOwned::new(connection, socket);
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .map_err(|source| match source.get_ref() {
                    Some(inner) if inner.is::<rustls::Error>() => SendError::Tls {
                        peer,
                        source: source
                            .into_inner()
                            .and_then(|inner| inner.downcast::<rustls::Error>().ok())
                            .map(|boxed| *boxed)
                            .unwrap_or(rustls::Error::HandshakeNotComplete),
                    },
                    _ => SendError::Io { peer, source },
                })?;
        }
        tracing::info!(%peer, "syslog TLS sender connected");
        Ok(Self { stream, peer })
    }

    /// Sends one message as one frame and flushes it to the socket.
    pub fn send(&mut self, message: &str) -> Result<(), SendError> {
        write_octet_counted(&mut self.stream, message)
            .and_then(|()| self.stream.flush())
            .map_err(|source| SendError::Io {
                peer: self.peer,
                source,
            })
    }

    /// Sends a TLS close_notify, then reads until the receiver closes (or
    /// the read timeout passes), so that the receiver sees a clean end of
    /// the stream.
    ///
    /// Reading first matters: a TLS 1.3 server sends session tickets that
    /// this sender never reads, and closing a socket with unread data makes
    /// the kernel send a reset, which can discard frames the receiver has
    /// not read yet.
    pub fn close(mut self) -> Result<(), SendError> {
        let peer = self.peer;
        self.stream.conn.send_close_notify();
        self.stream
            .flush()
            .map_err(|source| SendError::Io { peer, source })?;
        self.stream
            .sock
            .shutdown(std::net::Shutdown::Write)
            .map_err(|source| SendError::Io { peer, source })?;
        let mut buffer = [0u8; 1024];
        loop {
            match self.stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(_) => continue,
                // The receiver may close without its own close_notify; the
                // frames are already delivered by then.
                Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => break,
                Err(source) => return Err(SendError::Io { peer, source }),
            }
        }
        tracing::info!(%peer, "syslog TLS sender closed");
        Ok(())
    }
}
