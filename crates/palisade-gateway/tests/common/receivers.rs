//! Loopback syslog receivers (UDP, TCP and TLS with octet counting) and
//! an outbox filled with sample events, shared by the sink tests.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use palisade_gateway::config::OutboxConfig;
use palisade_gateway::finding::{Evidence, Finding, RuleId};
use palisade_gateway::outbox::{Outbox, TelemetryPolicy};
use palisade_schema::{DeviceId, Event, EventClass, EventKind, Severity, samples};

pub const DEVICE: DeviceId = DeviceId([0x42; 16]);
pub const BOOTS: u32 = 3;

/// One sample event of every kind, renumbered into boot `boot`.
pub fn batch(boot: u32) -> Vec<Event<'static>> {
    samples::one_of_each()
        .map(|mut event| {
            event.header.boot = boot;
            event
        })
        .collect()
}

/// `device_id/boot/sequence` of every security or operational event that
/// [`fill_outbox`] stores.
pub fn expected_event_keys() -> Vec<String> {
    let mut keys = Vec::new();
    for boot in 0..BOOTS {
        for event in batch(boot) {
            if event.class() != EventClass::Telemetry {
                keys.push(format!(
                    "{DEVICE}/{}/{}",
                    event.header.boot, event.header.sequence
                ));
            }
        }
    }
    keys.sort();
    keys
}

pub fn telemetry_per_batch() -> usize {
    batch(0)
        .iter()
        .filter(|event| event.class() == EventClass::Telemetry)
        .count()
}

pub fn finding() -> Finding {
    let event = samples::one_of_each()
        .find(|event| event.kind() == EventKind::Login)
        .expect("a login sample");
    Finding {
        rule: RuleId::BruteForceLogin,
        severity: Severity::High,
        device: Some(DEVICE),
        summary: "5 failed logins within 60 s".into(),
        evidence: vec![Evidence::from_event(&event)],
        time_unix_ms: 1_796_000_000_000,
        attributes: Default::default(),
    }
}

/// Opens an outbox at `database` holding [`BOOTS`] batches of every event
/// kind and one finding.
pub fn fill_outbox(database: &Path) -> Outbox {
    let mut outbox = Outbox::open(database, &OutboxConfig::default()).expect("open outbox");
    for boot in 0..BOOTS {
        outbox
            .store(DEVICE, &batch(boot), TelemetryPolicy::Forward)
            .expect("store batch");
    }
    outbox.store_finding(&finding()).expect("store finding");
    outbox
}

/// The value of `name="..."` in an RFC 5424 line (values of the samples
/// that this is used on contain no escaped quote).
pub fn param<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = line[start..].find('"')? + start;
    Some(&line[start..end])
}

/// Messages a receiver has read so far.
#[derive(Clone, Default)]
pub struct Received(Arc<Mutex<Vec<String>>>);

impl Received {
    pub fn push(&self, message: String) {
        self.0.lock().expect("lock").push(message);
    }

    pub fn snapshot(&self) -> Vec<String> {
        self.0.lock().expect("lock").clone()
    }

    /// Waits up to 10 s until at least `count` messages arrived, then a
    /// little longer so that extra (duplicate) messages show up too.
    pub fn wait_for(&self, count: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.snapshot().len() < count && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        thread::sleep(Duration::from_millis(200));
        self.snapshot()
    }
}

/// A receiver thread stopped when dropped.
pub struct Receiver {
    pub address: SocketAddr,
    pub received: Received,
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Longest time any receiver thread runs.
const RECEIVER_LIFETIME: Duration = Duration::from_secs(60);

pub fn udp_receiver() -> Receiver {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let address = socket.local_addr().expect("address");
    let received = Received::default();
    let stop = Arc::new(AtomicBool::new(false));
    let handle = {
        let received = received.clone();
        let stop = stop.clone();
        thread::spawn(move || {
            let started = Instant::now();
            let mut buffer = vec![0u8; 65_536];
            while !stop.load(Ordering::SeqCst) && started.elapsed() < RECEIVER_LIFETIME {
                if let Ok(len) = socket.recv(&mut buffer) {
                    received.push(String::from_utf8_lossy(&buffer[..len]).into_owned());
                }
            }
        })
    };
    Receiver {
        address,
        received,
        stop,
        handle: Some(handle),
    }
}

/// A TCP receiver on `address` (port 0 for a free one), optionally with
/// TLS, that accepts any number of connections and splits octet-counted
/// frames.
pub fn stream_receiver(address: &str, tls: Option<Arc<rustls::ServerConfig>>) -> Receiver {
    let listener = TcpListener::bind(address).expect("bind TCP");
    listener.set_nonblocking(true).expect("non-blocking");
    let address = listener.local_addr().expect("address");
    let received = Received::default();
    let stop = Arc::new(AtomicBool::new(false));
    let handle = {
        let received = received.clone();
        let stop = stop.clone();
        thread::spawn(move || {
            let started = Instant::now();
            let mut readers = Vec::new();
            while !stop.load(Ordering::SeqCst) && started.elapsed() < RECEIVER_LIFETIME {
                match listener.accept() {
                    Ok((socket, _)) => {
                        socket.set_nonblocking(false).expect("blocking");
                        socket
                            .set_read_timeout(Some(Duration::from_millis(50)))
                            .expect("timeout");
                        let received = received.clone();
                        let stop = stop.clone();
                        let tls = tls.clone();
                        readers.push(thread::spawn(move || match tls {
                            None => read_frames(socket, &received, &stop),
                            Some(config) => {
                                let connection =
                                    rustls::ServerConnection::new(config).expect("TLS server");
                                let stream = rustls::StreamOwned::new(connection, socket);
                                read_frames(stream, &received, &stop);
                            }
                        }));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
            for reader in readers {
                let _ = reader.join();
            }
        })
    };
    Receiver {
        address,
        received,
        stop,
        handle: Some(handle),
    }
}

/// Reads octet-counted frames until end of stream, an error or `stop`.
fn read_frames(mut stream: impl Read, received: &Received, stop: &AtomicBool) {
    let started = Instant::now();
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    while !stop.load(Ordering::SeqCst) && started.elapsed() < RECEIVER_LIFETIME {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(len) => buffer.extend_from_slice(&chunk[..len]),
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => break,
        }
        while let Some(space) = buffer.iter().position(|&byte| byte == b' ') {
            let len: usize = std::str::from_utf8(&buffer[..space])
                .expect("ASCII frame length")
                .parse()
                .expect("decimal frame length");
            if buffer.len() < space + 1 + len {
                break;
            }
            let frame = buffer[space + 1..space + 1 + len].to_vec();
            received.push(String::from_utf8(frame).expect("UTF-8 frame"));
            buffer.drain(..space + 1 + len);
        }
    }
}
