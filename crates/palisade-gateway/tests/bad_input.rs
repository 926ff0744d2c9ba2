//! Hostile peers against the gateway binary on loopback. Each is cut off
//! and the gateway logs why. A `protocol_violation` event (OCSF Network
//! Activity, activity "Reset") with the reason in `status_detail` reaches
//! `security.jsonl`. Meanwhile an honest device keeps getting every record
//! acknowledged.
//!
//! Each attacker connects from its own 127.0.0.0/8 source address, so its
//! log line and its event can be told apart by the peer address.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::device_sim::{
    Connect, DeviceKeys, Pki, connect_from, failed_login_record, handshake, now_secs,
};
use common::gateway_child::GatewayChild;
use palisade_credential::TrustStore;
use palisade_credential::handshake::{DeviceHandshake, DeviceIdentity, MAX_MSG1_LEN};
use palisade_gateway::server::KIND_HANDSHAKE_MSG1;
use palisade_transport::session::{FrameWriter, MAX_TRANSPORT_FRAME_LEN};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The gateway binary's wait for each handshake message.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// Validity of the gateway's signed commands, set in its configuration;
/// a command still unacknowledged when it expires cuts the session off.
const COMMAND_VALIDITY_SECS: u64 = 3;
/// Slack on top of a timeout before the test calls the gateway late.
const SLACK: Duration = Duration::from_secs(4);

/// Configuration added to the gateway's: short command validity, and an
/// isolate command for a brute-force finding.
const EXTRA_CONFIG: &str = "[response]\ncommand_validity_secs = 3\n\n\
    [[response.rules]]\nrule = \"brute_force_login\"\naction = \"isolate\"\n";

fn source(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 5, last))
}

/// Reads until the gateway closes the connection; returns the time it
/// took, or `None` when it stayed open for `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

/// Encodes handshake message 1 of `keys` as a length-prefixed frame.
fn msg1_frame(keys: &DeviceKeys) -> Vec<u8> {
    let identity = DeviceIdentity {
        intermediate: &keys.intermediate,
        credential: &keys.device.credential,
        signer: &keys.device.signer,
    };
    let mut msg1 = [0u8; MAX_MSG1_LEN];
    let (_, len) = DeviceHandshake::start(identity, &mut palisade_credential::OsRng, &mut msg1)
        .expect("message 1");
    let mut out = vec![0u8; MAX_TRANSPORT_FRAME_LEN];
    let frame = FrameWriter::checksummed()
        .application(KIND_HANDSHAKE_MSG1, &msg1[..len], &mut out)
        .expect("framing message 1");
    let mut bytes = (frame.len() as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(frame);
    bytes
}

/// Admits `keys` from `from`.
async fn admit(
    gateway: SocketAddr,
    from: IpAddr,
    keys: &DeviceKeys,
    roots: &TrustStore,
) -> Box<common::device_sim::DeviceSession> {
    let stream = connect_from(from, gateway).await.expect("connect");
    match handshake(stream, keys, roots, Duration::from_secs(10))
        .await
        .expect("handshake")
    {
        Connect::Online(session) => session,
        Connect::Rejected(code) => panic!("device {} rejected with code {code}", keys.index),
    }
}

/// What each attack observed.
#[derive(Debug, Default)]
struct Observed {
    oversized: Option<Duration>,
    at_maximum: Option<Duration>,
    stalled: Option<Duration>,
    garbage: Option<Duration>,
    oversized_in_session: Option<Duration>,
    commands_received: usize,
    silent_cut_off: Option<Duration>,
}

#[test]
fn attackers_cut_off_while_honest_device_served() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let pki = Pki::build(now_secs());
    let files = pki.write(&dir.path().join("pki"));
    let gateway = GatewayChild::start(&dir.path().join("gateway"), &files, 1000, EXTRA_CONFIG);
    let addr = gateway.addr;
    let roots = pki.operator_store();
    let honest_keys = pki.device(1, true);
    let session_keys = pki.device(2, true);
    let silent_keys = pki.device(3, true);
    let stalled_keys = pki.device(4, true);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime starts");

    let (observed, honest_records) = runtime.block_on(async {
        // The honest device sends 5 records every 100 ms until the attacks
        // are over, and every one must be acknowledged.
        let attacks_done = Arc::new(AtomicBool::new(false));
        let honest_acknowledged = Arc::new(AtomicU64::new(0));
        let honest = {
            let roots = roots.clone();
            let done = attacks_done.clone();
            let acknowledged = honest_acknowledged.clone();
            tokio::spawn(async move {
                let mut session = admit(addr, source(1), &honest_keys, &roots).await;
                let deadline = Instant::now() + Duration::from_secs(60);
                while !done.load(Ordering::Relaxed) {
                    session
                        .send_telemetry(5, deadline)
                        .await
                        .unwrap_or_else(|e| panic!("honest device: {e}"));
                    acknowledged.store(session.acknowledged(), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                session.acknowledged()
            })
        };

        let mut observed = Observed::default();
        let oversized = async {
            // One byte above the maximum: rejected on the length prefix.
            let mut stream = connect_from(source(10), addr).await.expect("connect");
            let declared = MAX_TRANSPORT_FRAME_LEN as u32 + 1;
            stream
                .write_all(&declared.to_be_bytes())
                .await
                .expect("write");
            closed_within(&mut stream, SLACK).await
        };
        let at_maximum = async {
            // Exactly the maximum is read in full, then fails to decode.
            let mut stream = connect_from(source(11), addr).await.expect("connect");
            let declared = MAX_TRANSPORT_FRAME_LEN as u32;
            let mut bytes = declared.to_be_bytes().to_vec();
            bytes.extend(std::iter::repeat_n(0xA5, MAX_TRANSPORT_FRAME_LEN));
            stream.write_all(&bytes).await.expect("write");
            closed_within(&mut stream, SLACK).await
        };
        let stalled = async {
            // A valid message 1, one byte a second.
            let frame = msg1_frame(&stalled_keys);
            let mut stream = connect_from(source(12), addr).await.expect("connect");
            let started = Instant::now();
            for byte in frame {
                if stream.write_all(&[byte]).await.is_err() {
                    break;
                }
                let mut buffer = [0u8; 64];
                match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buffer)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
                    _ => {}
                }
                if started.elapsed() > STEP_TIMEOUT + SLACK {
                    return None;
                }
            }
            None
        };
        let garbage = async {
            // Sixteen bytes that are no frame, then a valid message 1.
            let mut stream = connect_from(source(13), addr).await.expect("connect");
            let mut bytes = 16u32.to_be_bytes().to_vec();
            bytes.extend_from_slice(b"GET / HTTP/1.1\r\n");
            bytes.extend(msg1_frame(&pki.device(5, true)));
            stream.write_all(&bytes).await.expect("write");
            closed_within(&mut stream, SLACK).await
        };
        let oversized_in_session = async {
            let session = admit(addr, source(14), &session_keys, &roots).await;
            let mut stream = session.into_stream();
            let declared = MAX_TRANSPORT_FRAME_LEN as u32 + 1;
            stream
                .write_all(&declared.to_be_bytes())
                .await
                .expect("write");
            closed_within(&mut stream, SLACK).await
        };
        let silent = async {
            // Six failed logins fire the brute-force rule, whose response
            // sends an isolate command; the device never acknowledges it.
            let mut session = admit(addr, source(15), &silent_keys, &roots).await;
            let deadline = Instant::now() + Duration::from_secs(30);
            session
                .send_records(6, failed_login_record, deadline)
                .await
                .expect("failed logins acknowledged");
            let started = Instant::now();
            let limit = Duration::from_secs(COMMAND_VALIDITY_SECS) + STEP_TIMEOUT + SLACK;
            let closed = session.read_until_closed(limit).await;
            (session.commands.len(), closed.then(|| started.elapsed()))
        };
        let (a, b, c, d, e, (commands, f)) = tokio::join!(
            oversized,
            at_maximum,
            stalled,
            garbage,
            oversized_in_session,
            silent
        );
        observed.oversized = a;
        observed.at_maximum = b;
        observed.stalled = c;
        observed.garbage = d;
        observed.oversized_in_session = e;
        observed.commands_received = commands;
        observed.silent_cut_off = f;
        attacks_done.store(true, Ordering::Relaxed);
        let honest_records = honest.await.expect("honest device task");
        (observed, honest_records)
    });
    drop(runtime);

    let log = gateway.stop(Duration::from_secs(30));
    let security = std::fs::read_to_string(dir.path().join("gateway").join("security.jsonl"))
        .expect("security.jsonl is readable");
    let events: Vec<serde_json::Value> = security
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect();
    let violation = |last: u8, detail: &str| {
        let ip = format!("127.0.5.{last}");
        events.iter().any(|event| {
            event["class_uid"] == 4001
                && event["activity_name"] == "Reset"
                && event["status_detail"] == detail
                && event["src_endpoint"]["ip"] == ip.as_str()
        })
    };
    let logged = |last: u8, parts: &[&str]| {
        let peer = format!("peer=127.0.5.{last}:");
        log.iter()
            .find(|line| line.contains(&peer) && parts.iter().all(|part| line.contains(part)))
            .cloned()
    };
    println!("bad input: {observed:?}, honest device records acknowledged: {honest_records}");
    for (last, parts) in [
        (
            10,
            ["admission rejected: protocol violation", "oversized_frame"],
        ),
        (
            11,
            [
                "admission rejected: protocol violation",
                "garbage_before_frame",
            ],
        ),
        (
            12,
            [
                "admission rejected: protocol violation",
                "stalled_handshake",
            ],
        ),
        (
            13,
            [
                "admission rejected: protocol violation",
                "garbage_before_frame",
            ],
        ),
        (
            14,
            [
                "device session cut off: protocol violation",
                "oversized_frame",
            ],
        ),
        (
            15,
            ["device session cut off: protocol violation", "unresponsive"],
        ),
    ] {
        if let Some(line) = logged(last, &parts) {
            println!("127.0.5.{last}: {line}");
        }
    }

    let oversized = observed.oversized.expect("oversized frame cut off");
    assert!(
        oversized < Duration::from_secs(1),
        "oversized frame took {oversized:?}"
    );
    assert!(
        logged(
            10,
            &["admission rejected: protocol violation", "oversized_frame"]
        )
        .is_some()
    );
    assert!(
        violation(10, "oversized_frame"),
        "oversized frame event missing"
    );

    assert!(
        observed.at_maximum.is_some(),
        "frame of the maximum length cut off"
    );
    assert!(
        logged(
            11,
            &[
                "admission rejected: protocol violation",
                "garbage_before_frame"
            ]
        )
        .is_some()
    );
    assert!(
        violation(11, "garbage_before_frame"),
        "maximum-length garbage event missing"
    );

    let stalled = observed.stalled.expect("stalled handshake cut off");
    assert!(
        stalled >= STEP_TIMEOUT - Duration::from_millis(500) && stalled < STEP_TIMEOUT + SLACK,
        "stalled handshake cut off after {stalled:?}"
    );
    assert!(
        logged(
            12,
            &[
                "admission rejected: protocol violation",
                "stalled_handshake"
            ]
        )
        .is_some()
    );
    assert!(
        violation(12, "stalled_handshake"),
        "stalled handshake event missing"
    );

    assert!(
        observed.garbage.is_some(),
        "garbage before the first frame cut off"
    );
    assert!(
        logged(
            13,
            &[
                "admission rejected: protocol violation",
                "garbage_before_frame"
            ]
        )
        .is_some()
    );
    assert!(
        violation(13, "garbage_before_frame"),
        "garbage event missing"
    );

    assert!(
        observed.oversized_in_session.is_some(),
        "oversized frame in a session cut off"
    );
    assert!(
        logged(
            14,
            &[
                "device session cut off: protocol violation",
                "oversized_frame"
            ]
        )
        .is_some()
    );
    assert!(
        violation(14, "oversized_frame"),
        "in-session oversized frame event missing"
    );

    assert!(
        observed.commands_received >= 1,
        "the silent device received a command"
    );
    let silent = observed.silent_cut_off.expect("silent device cut off");
    assert!(
        silent <= Duration::from_secs(COMMAND_VALIDITY_SECS) + STEP_TIMEOUT + SLACK,
        "silent device cut off after {silent:?}"
    );
    assert!(
        logged(
            15,
            &["device session cut off: protocol violation", "unresponsive"]
        )
        .is_some()
    );
    assert!(
        violation(15, "unresponsive"),
        "unresponsive device event missing"
    );

    assert!(
        honest_records >= 10,
        "honest device sent {honest_records} records"
    );
}
