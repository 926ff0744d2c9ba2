//! The admission server's per-step handshake timeout and its per-source
//! admission rate limit, against a server on 127.0.0.1.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use palisade_credential::handshake::{DeviceHandshake, DeviceIdentity, MAX_MSG1_LEN};
use palisade_credential::testkit::Fixture;
use palisade_credential::{OsRng, SoftwareSigner};
use palisade_gateway::config::Config;
use palisade_gateway::metrics::Metrics;
use palisade_gateway::pipeline::GatewayCore;
use palisade_gateway::server::{
    self, KIND_HANDSHAKE_MSG1, KIND_HANDSHAKE_MSG2, ServerConfig, ServerHandle,
};
use palisade_transport::link::LinkConfig;
use palisade_transport::message::Message;
use palisade_transport::session::{FrameReader, FrameWriter, MAX_TRANSPORT_FRAME_LEN};
use palisade_transport::tokio_link::TokioLink;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

/// Extra time a test waits beyond a timeout before it fails.
const SLACK: Duration = Duration::from_secs(3);

struct Gateway {
    server: ServerHandle,
    metrics: Arc<Metrics>,
    _dir: tempfile::TempDir,
}

async fn start(fixture: &Fixture, step_timeout: Duration, per_minute: u32) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::with_default_sinks();
    config.paths.database = dir.path().join("gateway.sqlite");
    config.paths.output = dir.path().join("out");
    let metrics = Metrics::new();
    let core = GatewayCore::open(config, metrics.clone()).unwrap();
    let server_config = ServerConfig {
        verifier: fixture.verifier(),
        revocations: Vec::new(),
        gateway_credential: fixture.gateway.as_slice().to_vec(),
        gateway_signer: SoftwareSigner::from_seed(&[4; 32]),
        step_timeout,
        idle_timeout: Duration::from_secs(30),
        max_batch_records: 64,
        admissions_per_source_per_minute: per_minute,
        models: HashMap::new(),
        command_validity_secs: 600,
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = server::spawn(listener, Arc::new(Mutex::new(core)), server_config);
    Gateway {
        server,
        metrics,
        _dir: dir,
    }
}

/// Reads until the server closes the connection. Panics when data arrives
/// or when `limit` passes first.
async fn wait_for_close(stream: &mut TcpStream, limit: Duration) {
    let mut buffer = [0u8; 64];
    match tokio::time::timeout(limit, stream.read(&mut buffer)).await {
        Ok(Ok(0)) => {}
        Ok(Ok(len)) => panic!("server sent {len} bytes instead of closing"),
        Ok(Err(error)) => assert!(
            error.kind() == std::io::ErrorKind::ConnectionReset,
            "read failed: {error}"
        ),
        Err(_) => panic!("server kept the connection open for {limit:?}"),
    }
}

fn rejections(metrics: &Metrics, reason: &str) -> u64 {
    let prefix = format!("palisade_rejected_admissions_total{{reason=\"{reason}\"}} ");
    metrics
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |value| value.parse().unwrap())
}

/// Waits up to two seconds for a rejection counter to reach `expected`.
async fn wait_for_rejections(metrics: &Metrics, reason: &str, expected: u64) {
    for _ in 0..100 {
        if rejections(metrics, reason) >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rejections(metrics, reason), expected, "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_device_closed_after_step() {
    let fixture = Fixture::new();
    let step = Duration::from_millis(500);
    let gateway = start(&fixture, step, 30).await;

    let started = Instant::now();
    let mut stream = TcpStream::connect(gateway.server.local_addr())
        .await
        .unwrap();
    wait_for_close(&mut stream, step + SLACK).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= step,
        "closed after {elapsed:?}, before the step timeout"
    );

    wait_for_rejections(&gateway.metrics, "protocol_violation", 1).await;
    gateway.server.shutdown(Duration::from_secs(2)).await;
}

/// Message 1 sent late but within the step timeout gets message 2 in
/// reply, and the timeout then starts again for message 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_step_gets_its_own_timeout() {
    let fixture = Fixture::new();
    let step = Duration::from_millis(1_000);
    let gateway = start(&fixture, step, 30).await;

    let stream = TcpStream::connect(gateway.server.local_addr())
        .await
        .unwrap();
    let mut link = TokioLink::new(stream, LinkConfig::stream(MAX_TRANSPORT_FRAME_LEN, 5_000));
    let identity = DeviceIdentity {
        intermediate: &fixture.intermediate,
        credential: &fixture.device,
        signer: &fixture.device_signer,
    };
    let mut msg1 = [0u8; MAX_MSG1_LEN];
    let (_awaiting, len1) = DeviceHandshake::start(identity, &mut OsRng, &mut msg1).unwrap();
    let mut out = vec![0u8; MAX_TRANSPORT_FRAME_LEN];
    let frame = FrameWriter::checksummed()
        .application(KIND_HANDSHAKE_MSG1, &msg1[..len1], &mut out)
        .unwrap();

    tokio::time::sleep(step * 6 / 10).await;
    link.send(frame).await.unwrap();
    let mut reply = link.recv().await.unwrap().to_vec();
    let answered = Instant::now();
    let kind = match FrameReader::checksummed().read(&mut reply).unwrap() {
        Message::Application { kind, .. } => kind,
        other => panic!("expected message 2, got {other:?}"),
    };
    assert_eq!(kind, KIND_HANDSHAKE_MSG2);

    // No message 3: the server closes the link one step timeout later.
    let mut stream = link.into_inner();
    wait_for_close(&mut stream, step + SLACK).await;
    let elapsed = answered.elapsed();
    assert!(elapsed >= step * 9 / 10, "closed after {elapsed:?}");
    wait_for_rejections(&gateway.metrics, "protocol_violation", 1).await;
    gateway.server.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_closes_extra_connection() {
    let fixture = Fixture::new();
    let step = Duration::from_secs(10);
    let gateway = start(&fixture, step, 2).await;
    let address = gateway.server.local_addr();

    let mut admitted = Vec::new();
    for _ in 0..2 {
        admitted.push(TcpStream::connect(address).await.unwrap());
    }
    let started = Instant::now();
    let mut third = TcpStream::connect(address).await.unwrap();
    wait_for_close(&mut third, SLACK).await;
    assert!(
        started.elapsed() < step,
        "closed by the step timeout instead"
    );
    wait_for_rejections(&gateway.metrics, "rate_limited", 1).await;

    // The two connections within the rate are still waiting for message 1.
    for stream in &mut admitted {
        let mut buffer = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buffer)).await;
        assert!(read.is_err(), "a connection within the rate was closed");
    }
    assert_eq!(rejections(&gateway.metrics, "protocol_violation"), 0);
    drop(admitted);
    gateway.server.shutdown(Duration::from_secs(2)).await;
}
