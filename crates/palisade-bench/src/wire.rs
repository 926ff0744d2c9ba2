//! A TCP stream wrapper that counts the bytes that pass through it, so that
//! both systems' bytes on the wire are measured at the socket.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes written to and read from a set of sockets (TCP payload; headers of
/// the IP and TCP layers are not counted).
#[derive(Debug, Default)]
pub struct WireCounters {
    /// Bytes written by this side.
    pub sent: AtomicU64,
    /// Bytes read by this side.
    pub received: AtomicU64,
}

impl WireCounters {
    /// Returns (sent, received).
    pub fn snapshot(&self) -> (u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.received.load(Ordering::Relaxed),
        )
    }
}

/// A stream that adds every byte read or written to shared counters.
#[derive(Debug)]
pub struct CountingStream<S> {
    inner: S,
    counters: Arc<WireCounters>,
}

impl<S> CountingStream<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, counters: Arc<WireCounters>) -> Self {
        Self { inner, counters }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CountingStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.counters
            .received
            .fetch_add(read as u64, Ordering::Relaxed);
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CountingStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(written)) = &result {
            self.counters
                .sent
                .fetch_add(*written as u64, Ordering::Relaxed);
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn counts_both_directions() {
        let (a, mut b) = tokio::io::duplex(64);
        let counters = Arc::new(WireCounters::default());
        let mut counted = CountingStream::new(a, counters.clone());
        counted.write_all(b"hello").await.expect("write");
        let mut buf = [0u8; 5];
        b.read_exact(&mut buf).await.expect("read");
        b.write_all(b"abc").await.expect("write back");
        let mut back = [0u8; 3];
        counted.read_exact(&mut back).await.expect("read back");
        assert_eq!(counters.snapshot(), (5, 3));
    }
}
