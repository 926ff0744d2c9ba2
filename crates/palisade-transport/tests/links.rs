//! Framed links over real loopback sockets and in-memory streams: round
//! trips, bounded waiting, and the maximum frame size.
#![cfg(feature = "tokio")]

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use palisade_transport::Clock;
use palisade_transport::backoff::{Backoff, BackoffConfig};
use palisade_transport::framing::{FramingError, length_prefix};
use palisade_transport::link::{AsyncFramedLink, FramedLink, LinkConfig, LinkError};
use palisade_transport::std_io::{StdClock, TcpIo};
use palisade_transport::tokio_link::TokioLink;

fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
    let client = TcpStream::connect(listener.local_addr().expect("address")).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    (client, server)
}

fn io(stream: TcpStream) -> TcpIo {
    TcpIo::new(stream, Duration::from_secs(2)).expect("socket options")
}

#[test]
fn blocking_link_round_trips_both_framings() {
    for config in [
        LinkConfig::stream(512, 2_000),
        LinkConfig::byte_link(512, 2_000),
    ] {
        let (client, server) = tcp_pair();
        let clock = StdClock::new();
        let mut tx_buf = [0u8; 512];
        let mut rx_buf = [0u8; 512];
        let mut sender = FramedLink::new(io(client), &mut tx_buf, config);
        let mut receiver = FramedLink::new(io(server), &mut rx_buf, config);
        let frames: Vec<Vec<u8>> =
            vec![vec![1], vec![0; 300], (0..=255).collect(), vec![0xFF; 512]];
        for frame in &frames {
            sender.send(frame).expect("send");
        }
        for frame in &frames {
            assert_eq!(receiver.recv(&clock).expect("receive"), &frame[..]);
        }
        assert_eq!(receiver.stats().frames_received, 4);
        let too_large = vec![1u8; 513];
        assert!(matches!(
            sender.send(&too_large),
            Err(LinkError::Framing(FramingError::TooLarge {
                len: 513,
                max: 512
            }))
        ));
    }
}

#[test]
fn slow_peer_is_cut_off() {
    for config in [
        LinkConfig::stream(512, 500),
        LinkConfig::byte_link(512, 500),
    ] {
        let (mut client, server) = tcp_pair();
        // One byte every 100 ms: a 50-byte frame would take 5 s.
        let writer = thread::spawn(move || {
            let mut frame = length_prefix(50).expect("valid").to_vec();
            frame.extend([1u8; 50]);
            for byte in frame.iter().take(12) {
                if client.write_all(&[*byte]).is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(100));
            }
        });
        let clock = StdClock::new();
        let mut rx_buf = [0u8; 512];
        let mut link = FramedLink::new(io(server), &mut rx_buf, config);
        let started = Instant::now();
        let result = link.recv(&clock);
        let waited = started.elapsed();
        assert!(
            matches!(
                result,
                Err(LinkError::Timeout {
                    mid_frame: true,
                    ..
                })
            ),
            "{result:?}"
        );
        assert!(
            waited < Duration::from_millis(900),
            "waited {waited:?} for a 500 ms timeout"
        );
        writer.join().expect("writer thread");
    }
}

#[test]
fn oversized_prefix_rejected_before_payload() {
    let (mut client, server) = tcp_pair();
    client
        .write_all(&length_prefix(513).expect("valid"))
        .expect("write");
    let clock = StdClock::new();
    let mut rx_buf = [0u8; 512];
    let mut link = FramedLink::new(io(server), &mut rx_buf, LinkConfig::stream(512, 2_000));
    let result = link.recv(&clock);
    assert!(
        matches!(
            result,
            Err(LinkError::Framing(FramingError::TooLarge {
                len: 513,
                max: 512
            }))
        ),
        "{result:?}"
    );
    assert!(matches!(link.recv(&clock), Err(LinkError::Broken)));
}

#[test]
fn idle_link_times_out_and_stays_usable() {
    let (client, server) = tcp_pair();
    let clock = StdClock::new();
    let mut tx_buf = [0u8; 64];
    let mut rx_buf = [0u8; 64];
    let config = LinkConfig::stream(64, 200);
    let mut sender = FramedLink::new(io(client), &mut tx_buf, config);
    let mut receiver = FramedLink::new(io(server), &mut rx_buf, config);
    assert!(matches!(
        receiver.recv(&clock),
        Err(LinkError::Timeout {
            mid_frame: false,
            ..
        })
    ));
    sender.send(b"after idle").expect("send");
    assert_eq!(receiver.recv(&clock).expect("receive"), b"after idle");
}

#[test]
fn closed_peer_is_reported() {
    let (client, server) = tcp_pair();
    drop(client);
    let clock = StdClock::new();
    let mut rx_buf = [0u8; 64];
    let mut link = FramedLink::new(io(server), &mut rx_buf, LinkConfig::stream(64, 1_000));
    assert!(matches!(link.recv(&clock), Err(LinkError::Closed)));
}

#[tokio::test]
async fn tokio_link_round_trip_and_limits() {
    for config in [
        LinkConfig::stream(256, 1_000),
        LinkConfig::byte_link(256, 1_000),
    ] {
        let (a, b) = tokio::io::duplex(64);
        let mut sender = TokioLink::new(a, config);
        let mut receiver = TokioLink::new(b, config);
        let send = async {
            for len in [1usize, 100, 256] {
                sender.send(&vec![0u8; len]).await.expect("send");
            }
            sender
        };
        let receive = async {
            let mut lens = Vec::new();
            for _ in 0..3 {
                lens.push(receiver.recv().await.expect("receive").len());
            }
            lens
        };
        let (mut sender, lens) = tokio::join!(send, receive);
        assert_eq!(lens, vec![1, 100, 256]);
        assert!(matches!(
            sender.send(&[1u8; 257]).await,
            Err(LinkError::Framing(FramingError::TooLarge {
                len: 257,
                max: 256
            }))
        ));
    }
}

#[tokio::test]
async fn tokio_link_cuts_off_slow_peer() {
    use tokio::io::AsyncWriteExt;
    let (mut a, b) = tokio::io::duplex(64);
    let writer = tokio::spawn(async move {
        let mut frame = length_prefix(40).expect("valid").to_vec();
        frame.extend([1u8; 40]);
        for byte in frame {
            if a.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut link = TokioLink::new(b, LinkConfig::stream(256, 400));
    let started = Instant::now();
    let result = link.recv().await.map(<[u8]>::len);
    assert!(
        matches!(
            result,
            Err(LinkError::Timeout {
                mid_frame: true,
                ..
            })
        ),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(800));
    assert!(matches!(link.recv().await, Err(LinkError::Broken)));
    writer.abort();
}

#[tokio::test]
async fn tokio_link_rejects_oversized_prefix() {
    use tokio::io::AsyncWriteExt;
    let (mut a, b) = tokio::io::duplex(64);
    // A peer that announces 4 GiB must not make the link reserve it.
    a.write_all(&[0xFF, 0xFF, 0xFF, 0xFF]).await.expect("write");
    let mut link = TokioLink::new(b, LinkConfig::stream(1024, 1_000));
    let result = link.recv().await.map(<[u8]>::len);
    assert!(
        matches!(
            result,
            Err(LinkError::Framing(FramingError::TooLarge {
                len: 0xFFFF_FFFF,
                max: 1024
            }))
        ),
        "{result:?}"
    );
}

/// An `embedded_io_async` stream over a tokio duplex pipe, to drive the
/// no_std async link from a test.
struct AsyncPipe(tokio::io::DuplexStream);

impl embedded_io_async::ErrorType for AsyncPipe {
    type Error = std::io::Error;
}

impl embedded_io_async::Read for AsyncPipe {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        tokio::io::AsyncReadExt::read(&mut self.0, buf).await
    }
}

impl embedded_io_async::Write for AsyncPipe {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        tokio::io::AsyncWriteExt::write(&mut self.0, buf).await
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        tokio::io::AsyncWriteExt::flush(&mut self.0).await
    }
}

#[tokio::test]
async fn async_link_round_trips_both_framings() {
    for config in [
        LinkConfig::stream(300, 1_000),
        LinkConfig::byte_link(300, 1_000),
    ] {
        let (a, b) = tokio::io::duplex(1024);
        let clock = StdClock::new();
        let mut tx_buf = [0u8; 300];
        let mut rx_buf = [0u8; 300];
        let mut sender = AsyncFramedLink::new(AsyncPipe(a), &mut tx_buf, config);
        let mut receiver = AsyncFramedLink::new(AsyncPipe(b), &mut rx_buf, config);
        let frames: Vec<Vec<u8>> = vec![vec![0], vec![9; 254], vec![0; 300]];
        for frame in &frames {
            sender.send(frame).await.expect("send");
        }
        for frame in &frames {
            assert_eq!(receiver.recv(&clock).await.expect("receive"), &frame[..]);
        }
    }
}

#[test]
fn backoff_is_bounded_with_jitter() {
    let config = BackoffConfig {
        initial_ms: 100,
        max_ms: 1_000,
        max_attempts: Some(8),
    };
    let mut backoff = Backoff::new(config, 1);
    let mut delays = Vec::new();
    while let Some(delay) = backoff.next_delay_ms() {
        delays.push(delay);
    }
    assert_eq!(delays.len(), 8, "attempt limit");
    for (attempt, delay) in delays.iter().enumerate() {
        let bound = (100u32 << attempt).min(1_000);
        assert!(
            *delay >= bound / 2 && *delay <= bound,
            "attempt {attempt}: {delay} ms outside [{}, {bound}]",
            bound / 2
        );
    }
    // Different seeds spread the delays.
    let firsts: std::collections::BTreeSet<u32> = (0..20)
        .map(|seed| {
            let mut backoff = Backoff::new(config, seed);
            for _ in 0..3 {
                backoff.next_delay_ms();
            }
            backoff.next_delay_ms().expect("attempt left")
        })
        .collect();
    assert!(firsts.len() > 5, "jitter too small: {firsts:?}");
    backoff.reset();
    assert!(backoff.next_delay_ms().expect("after reset") <= 100);
}

#[test]
fn clock_is_monotonic() {
    let clock = StdClock::new();
    let first = clock.now_ms();
    thread::sleep(Duration::from_millis(5));
    assert!(clock.now_ms() >= first + 5);
}

#[tokio::test]
async fn async_link_cuts_off_slow_peer() {
    use tokio::io::AsyncWriteExt;
    let (mut a, b) = tokio::io::duplex(64);
    let writer = tokio::spawn(async move {
        let mut frame = length_prefix(40).expect("valid").to_vec();
        frame.extend([1u8; 40]);
        for byte in frame {
            if a.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let clock = StdClock::new();
    let mut rx_buf = [0u8; 256];
    let mut link = AsyncFramedLink::new(AsyncPipe(b), &mut rx_buf, LinkConfig::stream(256, 400));
    let started = Instant::now();
    let result = link.recv(&clock).await.map(<[u8]>::len);
    assert!(
        matches!(
            result,
            Err(LinkError::Timeout {
                mid_frame: true,
                ..
            })
        ),
        "{result:?}"
    );
    // The deadline is checked after each read, so one more byte may pass.
    assert!(started.elapsed() < Duration::from_millis(700));
    assert!(matches!(link.recv(&clock).await, Err(LinkError::Broken)));
    writer.abort();
}
