//! Standard-library helpers: a TCP stream adapter for the blocking link, a
//! monotonic clock, and blocking connection with backoff.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::Clock;
use crate::backoff::Backoff;
use crate::link::BoundedRead;

/// Monotonic clock that counts milliseconds from its creation.
#[derive(Debug, Clone, Copy)]
pub struct StdClock {
    origin: Instant,
}

impl StdClock {
    /// Creates a clock that reads 0 now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for StdClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for StdClock {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// A `std::net::TcpStream` as an `embedded_io` stream whose reads the link can
/// bound in time.
#[derive(Debug)]
pub struct TcpIo {
    stream: TcpStream,
}

impl TcpIo {
    /// Wraps a connected stream; every write is bounded by `write_timeout`.
    pub fn new(stream: TcpStream, write_timeout: Duration) -> io::Result<Self> {
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(write_timeout.max(Duration::from_millis(1))))?;
        Ok(Self { stream })
    }

    /// The wrapped stream, for example to shut it down.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }
}

impl embedded_io::ErrorType for TcpIo {
    type Error = io::Error;
}

impl embedded_io::Read for TcpIo {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        match io::Read::read(&mut self.stream, buf) {
            // A read timeout shows up as WouldBlock on Unix and TimedOut on
            // Windows; the link expects TimedOut.
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                Err(io::Error::new(io::ErrorKind::TimedOut, error))
            }
            other => other,
        }
    }
}

impl embedded_io::Write for TcpIo {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        io::Write::write(&mut self.stream, buf)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        io::Write::flush(&mut self.stream)
    }
}

impl BoundedRead for TcpIo {
    fn set_read_timeout_ms(&mut self, timeout_ms: u64) -> Result<(), Self::Error> {
        // A zero duration means "no timeout" to the standard library.
        self.stream
            .set_read_timeout(Some(Duration::from_millis(timeout_ms.max(1))))
    }
}

/// Connects to `addr`, retrying with `backoff` until it succeeds or the
/// backoff gives up; each attempt is bounded by `connect_timeout`. Returns
/// the last error when the backoff gives up.
pub fn connect_with_backoff(
    addr: SocketAddr,
    connect_timeout: Duration,
    backoff: &mut Backoff,
) -> io::Result<TcpStream> {
    loop {
        match TcpStream::connect_timeout(&addr, connect_timeout) {
            Ok(stream) => {
                tracing::info!(%addr, attempts = backoff.attempts(), "connected");
                backoff.reset();
                return Ok(stream);
            }
            Err(error) => {
                let Some(delay_ms) = backoff.next_delay_ms() else {
                    tracing::warn!(%addr, %error, "connect failed; giving up");
                    return Err(error);
                };
                tracing::warn!(%addr, %error, delay_ms, "connect failed; retrying");
                std::thread::sleep(Duration::from_millis(u64::from(delay_ms)));
            }
        }
    }
}

/// A jitter seed for [`Backoff`] that differs between processes and calls.
pub fn random_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now())
}
