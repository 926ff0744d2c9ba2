//! Reliable delivery over real loopback TCP (127.0.0.1 only), through a
//! proxy that cuts every connection after a random number of bytes, mostly
//! in the middle of a frame. Sealed frames use the test cipher.
#![cfg(feature = "tokio")]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::cipher::{Rng, TestOpener, TestSealer};
use palisade_transport::backoff::{Backoff, BackoffConfig};
use palisade_transport::link::{LinkConfig, LinkError};
use palisade_transport::message::Message;
use palisade_transport::reliable::{Receiver, Sender, SenderConfig, Verdict};
use palisade_transport::session::{FrameReader, FrameWriter, MAX_TRANSPORT_FRAME_LEN};
use palisade_transport::tokio_link::{TokioLink, connect_with_backoff};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

const EVENTS: u64 = 100_000;
const EVENTS_PER_RECORD: u64 = 8;
const UP_KEY: u64 = 0x7C90_0001;
const DOWN_KEY: u64 = 0x7C90_0002;

fn link_config() -> LinkConfig {
    LinkConfig::stream(1024, 2_000)
}

/// Test-cipher keys for connection number `session`, which the device sends
/// as the first 8 bytes of the connection. A real device and gateway derive
/// fresh keys in the handshake instead.
fn keys(session: u64) -> (u64, u64) {
    (UP_KEY ^ (session << 20), DOWN_KEY ^ (session << 20))
}

#[derive(Default)]
struct GatewayState {
    receiver: Receiver,
    delivered: Vec<u32>,
    frames_rejected: u64,
    connections: u64,
}

/// Gateway: one task per connection; the first 8 bytes of each connection
/// carry the session number, then length-prefixed sealed frames follow.
async fn gateway(listener: TcpListener, state: Arc<Mutex<GatewayState>>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let mut session = [0u8; 8];
            if stream.read_exact(&mut session).await.is_err() {
                return;
            }
            let (up, down) = keys(u64::from_be_bytes(session));
            state.lock().expect("state").connections += 1;
            let mut link = TokioLink::new(stream, link_config());
            let mut reader = FrameReader::sealed(TestOpener::new(up));
            let mut writer = FrameWriter::sealed(TestSealer::new(down));
            let mut frame = vec![0u8; MAX_TRANSPORT_FRAME_LEN];
            let mut out = vec![0u8; MAX_TRANSPORT_FRAME_LEN];
            loop {
                let len = match link.recv().await {
                    Ok(received) => {
                        frame[..received.len()].copy_from_slice(received);
                        received.len()
                    }
                    Err(LinkError::Timeout {
                        mid_frame: false, ..
                    }) => continue,
                    Err(_) => return,
                };
                let ack = {
                    let mut state = state.lock().expect("state");
                    match reader.read(&mut frame[..len]) {
                        Ok(Message::Data { header, record }) => {
                            if state.receiver.accept(&header) == Verdict::New {
                                for chunk in record.chunks_exact(8) {
                                    let id = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
                                    state.delivered[id as usize] += 1;
                                }
                            }
                            Some(state.receiver.ack_for(&header, 32))
                        }
                        Ok(_) => None,
                        Err(_) => {
                            state.frames_rejected += 1;
                            None
                        }
                    }
                };
                if let Some(ack) = ack {
                    let frame = writer.ack(&ack, &mut out).expect("ACK fits");
                    if link.send(frame).await.is_err() {
                        return;
                    }
                }
            }
        });
    }
}

/// Proxy that forwards both directions and cuts the connection after a
/// random budget of bytes (counted over both directions).
async fn cutting_proxy(
    listener: TcpListener,
    upstream: SocketAddr,
    seed: u64,
    cuts: Arc<Mutex<u64>>,
) {
    let mut rng = Rng::new(seed);
    loop {
        let Ok((device, _)) = listener.accept().await else {
            return;
        };
        let Ok(gateway) = TcpStream::connect(upstream).await else {
            return;
        };
        let budget = 2_000 + rng.below(30_000) as usize;
        let cuts = cuts.clone();
        tokio::spawn(async move {
            let budget = Arc::new(Mutex::new(budget));
            let (mut device_read, mut device_write) = device.into_split();
            let (mut gateway_read, mut gateway_write) = gateway.into_split();
            let up = forward(&mut device_read, &mut gateway_write, budget.clone());
            let down = forward(&mut gateway_read, &mut device_write, budget.clone());
            let cut = tokio::select! {
                cut = up => cut,
                cut = down => cut,
            };
            if cut {
                *cuts.lock().expect("cuts") += 1;
            }
            // Dropping both halves of both streams closes the connections.
        });
    }
}

/// Copies bytes until the shared budget runs out (returns true: a cut, in
/// the middle of whatever was being sent, because the last read is
/// forwarded only in part) or the source closes.
async fn forward(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    budget: Arc<Mutex<usize>>,
) -> bool {
    let mut buf = [0u8; 1500];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        let allowed = {
            let mut left = budget.lock().expect("budget");
            let allowed = n.min(*left);
            *left -= allowed;
            allowed
        };
        if to.write_all(&buf[..allowed]).await.is_err() {
            return false;
        }
        if allowed < n || *budget.lock().expect("budget") == 0 {
            return true;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_tcp_connections_deliver_each_event_once() {
    let gateway_listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind gateway");
    let gateway_addr = gateway_listener.local_addr().expect("gateway address");
    let state = Arc::new(Mutex::new(GatewayState {
        delivered: vec![0; EVENTS as usize],
        ..GatewayState::default()
    }));
    tokio::spawn(gateway(gateway_listener, state.clone()));

    let proxy_listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind proxy");
    let proxy_addr = proxy_listener.local_addr().expect("proxy address");
    let cuts = Arc::new(Mutex::new(0u64));
    tokio::spawn(cutting_proxy(
        proxy_listener,
        gateway_addr,
        42,
        cuts.clone(),
    ));

    // Device.
    let config = SenderConfig {
        initial_rto_ms: 200,
        max_rto_ms: 2_000,
        initial_credit: 8,
    };
    let mut sender: Sender<32> = Sender::new(3, 0, config);
    let mut queue: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut next_event = 0u64;
    let mut next_seq = 0u64;
    let mut backoff = Backoff::new(
        BackoffConfig {
            initial_ms: 5,
            max_ms: 50,
            max_attempts: Some(20),
        },
        9,
    );
    let started = Instant::now();
    let now_ms = || started.elapsed().as_millis() as u64;
    let test_deadline = started + Duration::from_secs(120);
    let mut out = vec![0u8; MAX_TRANSPORT_FRAME_LEN];
    let mut frame = vec![0u8; MAX_TRANSPORT_FRAME_LEN];
    let mut session = 0u64;

    'connections: while Instant::now() < test_deadline {
        let mut stream = connect_with_backoff(proxy_addr, Duration::from_secs(1), &mut backoff)
            .await
            .expect("proxy reachable");
        session += 1;
        if stream.write_all(&session.to_be_bytes()).await.is_err() {
            sender.on_disconnect();
            continue;
        }
        let (up, down) = keys(session);
        let mut writer = FrameWriter::sealed(TestSealer::new(up));
        let mut reader = FrameReader::sealed(TestOpener::new(down));
        let mut link = TokioLink::new(stream, link_config());
        loop {
            while next_event < EVENTS && !sender.is_full() {
                let mut record = Vec::new();
                for id in next_event..(next_event + EVENTS_PER_RECORD).min(EVENTS) {
                    record.extend_from_slice(&id.to_le_bytes());
                }
                next_event = (next_event + EVENTS_PER_RECORD).min(EVENTS);
                queue.insert(next_seq, record);
                sender.push(next_seq).expect("room");
                next_seq += 1;
            }
            if next_event == EVENTS && sender.is_empty() {
                break 'connections;
            }
            while let Some(transmit) = sender.poll_transmit(now_ms()) {
                let data = writer
                    .data(&transmit.header, &queue[&transmit.header.seq], &mut out)
                    .expect("record fits");
                if link.send(data).await.is_err() {
                    sender.on_disconnect();
                    continue 'connections;
                }
            }
            let wait = sender
                .poll_timeout()
                .map_or(50, |at| at.saturating_sub(now_ms()).clamp(1, 50));
            // `recv` keeps a partly read frame when the timer wins.
            let received = tokio::select! {
                received = link.recv() => received.map(|bytes| {
                    frame[..bytes.len()].copy_from_slice(bytes);
                    bytes.len()
                }),
                () = tokio::time::sleep(Duration::from_millis(wait)) => continue,
            };
            match received {
                Ok(len) => {
                    if let Ok(Message::Ack(ack)) = reader.read(&mut frame[..len]) {
                        sender.on_ack(&ack, |seq| {
                            queue.remove(&seq);
                        });
                    }
                }
                Err(LinkError::Timeout {
                    mid_frame: false, ..
                }) => {}
                Err(_) => {
                    sender.on_disconnect();
                    continue 'connections;
                }
            }
        }
    }

    assert!(
        Instant::now() < test_deadline,
        "not done within 120 s: {} of {EVENTS} events generated",
        next_event
    );
    let state = state.lock().expect("state");
    let lost = state.delivered.iter().filter(|&&n| n == 0).count();
    let twice = state.delivered.iter().filter(|&&n| n > 1).count();
    let cuts = *cuts.lock().expect("cuts");
    eprintln!(
        "TCP: {} connections, {cuts} cut by the proxy, {} retransmissions, {} duplicates dropped, {} frames rejected, {:?}",
        state.connections,
        sender.stats().retransmitted,
        state.receiver.stats().duplicates,
        state.frames_rejected,
        started.elapsed()
    );
    assert_eq!(lost, 0, "events lost");
    assert_eq!(twice, 0, "events delivered twice");
    assert!(cuts >= 20, "only {cuts} connections were cut");
}
