//! Load test: the gateway binary serves 10,000 concurrent device sessions
//! on loopback, and keeps admitting valid devices during a flood of
//! handshakes with invalid credentials.
//!
//! The gateway runs as a child process and the simulated devices live in
//! this process, so each process has one socket per connection and stays
//! below the open files limit. `PALISADE_LOAD_DEVICES` sets the number of
//! concurrent devices (default 10,000) and `PALISADE_LOAD_EVENTS` the
//! telemetry records each sends once all are admitted (default 3).
//!
//! Phases:
//!
//! 1. baseline: probe devices are admitted a few at a time, and each
//!    one's admission latency (TCP connect to its first record
//!    acknowledged) is measured;
//! 2. flood: more probe devices are admitted while flood tasks, bound to
//!    other 127.0.0.0/8 source addresses, open connections that present
//!    credentials from a root the gateway does not pin, or with a broken
//!    signature;
//! 3. load: every device connects, is admitted, sends its records, waits
//!    for their acknowledgements and stays connected until all devices
//!    are done; then the gateway's peak RSS is read;
//! 4. the gateway stops on SIGTERM, drains its outbox, and every
//!    acknowledged record is looked up in `telemetry.jsonl`.
//!
//! The test prints one summary line and checks that nothing was lost or
//! duplicated, that no device starved, that every probe device was
//! admitted during the flood, and that the gateway's memory per connection
//! stays bounded.

mod common;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::device_sim::{CHANNEL, Connect, DeviceKeys, Pki, connect_from, handshake, now_secs};
use common::gateway_child::{GatewayChild, cpu_time, raise_open_files_limit};
use palisade_credential::TrustStore;
use tokio::sync::Semaphore;

/// Overall bound of the test. Every wait below ends before it.
const TEST_BUDGET: Duration = Duration::from_secs(170);
/// Handshakes the simulated devices run at once. The gateway's handshake
/// step timeout is 5 s, so devices queue here rather than in the gateway's
/// accept backlog.
const HANDSHAKES_IN_FLIGHT: usize = 48;
/// Probe devices admitted without and during the flood.
const PROBES: usize = 200;
/// Probe devices admitted at once.
const PROBES_IN_FLIGHT: usize = 4;
/// Devices that share one source address. The gateway's per-source
/// admission limit is set above it.
const DEVICES_PER_SOURCE: usize = 100;
/// Admissions per source and minute configured in the gateway.
const ADMISSIONS_PER_SOURCE: u32 = 120;
/// Source addresses the flood uses, and connections each opens.
const FLOOD_SOURCES: usize = 100;
const FLOOD_PER_SOURCE: usize = 20;
/// Flood connections open at once.
const FLOOD_IN_FLIGHT: usize = 32;
/// Maximum time any device may wait for all its records to be
/// acknowledged once the sending starts. A device that takes longer has
/// starved.
const MAX_DEVICE_ACK_TIME: Duration = Duration::from_secs(60);
/// Bound of the gateway's peak RSS growth per open session.
///
/// Measured with this test on a shared 2-core x86_64 VM, debug build:
/// 25 to 32 KiB per session for 1,000 to 10,000 sessions (the link's
/// 4 KiB staging buffer, its receive and send buffers, the session's
/// frame buffer, the reliable receiver, the task and the allocator's
/// share). The bound leaves twice that for fragmentation and other
/// allocators.
const MAX_RSS_PER_CONNECTION: u64 = 64 * 1024;

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a whole number")),
        Err(_) => default,
    }
}

/// Source address of device `index` within `block` (127.block.x.y).
fn source(block: u8, index: usize) -> IpAddr {
    let group = index / DEVICES_PER_SOURCE;
    IpAddr::V4(Ipv4Addr::new(
        127,
        block,
        (group / 250) as u8,
        (group % 250) as u8 + 1,
    ))
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Counts of records across all devices.
#[derive(Default)]
struct Records {
    sent: AtomicU64,
    acknowledged: AtomicU64,
    /// Load devices admitted with all their records acknowledged.
    admitted: AtomicU64,
    /// Devices whose task failed.
    failed: AtomicU64,
}

/// Issues device credentials on the blocking pool, several at a time.
async fn issue_devices(pki: &Arc<Pki>, first: u32, count: u32) -> Vec<DeviceKeys> {
    let chunk = 256;
    let mut tasks = Vec::new();
    let mut start = first;
    while start < first + count {
        let end = (start + chunk).min(first + count);
        let pki = pki.clone();
        tasks.push(tokio::task::spawn_blocking(move || {
            (start..end)
                .map(|index| pki.device(index, true))
                .collect::<Vec<_>>()
        }));
        start = end;
    }
    let mut keys = Vec::with_capacity(count as usize);
    for task in tasks {
        keys.extend(task.await.expect("issuing device credentials"));
    }
    keys
}

/// Admits one device from `source`, sends one record and returns the time
/// from connect to its acknowledgement.
async fn admit_once(
    gateway: SocketAddr,
    source: IpAddr,
    keys: &DeviceKeys,
    roots: &TrustStore,
    deadline: Instant,
    records: &Records,
) -> Result<Duration, String> {
    let started = Instant::now();
    let stream = connect_from(source, gateway)
        .await
        .map_err(|e| format!("device {}: connect failed: {e}", keys.index))?;
    let mut session = match handshake(stream, keys, roots, Duration::from_secs(10)).await? {
        Connect::Online(session) => session,
        Connect::Rejected(code) => {
            return Err(format!("device {} rejected with code {code}", keys.index));
        }
    };
    records.sent.fetch_add(1, Ordering::Relaxed);
    session.send_telemetry(1, deadline).await?;
    records.acknowledged.fetch_add(1, Ordering::Relaxed);
    Ok(started.elapsed())
}

/// Admits the probe devices `PROBES_IN_FLIGHT` at a time and returns their
/// sorted admission latencies.
async fn probe(
    gateway: SocketAddr,
    block: u8,
    keys: Vec<DeviceKeys>,
    roots: &TrustStore,
    deadline: Instant,
    records: &Arc<Records>,
) -> Vec<Duration> {
    let gate = Arc::new(Semaphore::new(PROBES_IN_FLIGHT));
    let mut tasks = tokio::task::JoinSet::new();
    for (position, keys) in keys.into_iter().enumerate() {
        let gate = gate.clone();
        let roots = roots.clone();
        let records = records.clone();
        let source = source(block, position);
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await.expect("semaphore open");
            admit_once(gateway, source, &keys, &roots, deadline, &records).await
        });
    }
    let mut latencies = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let latency = joined
            .expect("probe task")
            .unwrap_or_else(|e| panic!("{e}"));
        latencies.push(latency);
    }
    latencies.sort();
    latencies
}

/// Runs one device of the load phase: it is admitted, sends its records,
/// and stays connected until `release`. Returns the time from connect to all
/// records acknowledged (admission and first batch), and from the first
/// record sent to the last one acknowledged.
#[allow(clippy::too_many_arguments)]
async fn load_device(
    gateway: SocketAddr,
    keys: DeviceKeys,
    roots: TrustStore,
    handshakes: Arc<Semaphore>,
    release: Arc<tokio::sync::Notify>,
    events: u64,
    deadline: Instant,
    records: Arc<Records>,
) -> Result<(Duration, Duration), String> {
    let position = keys.index as usize;
    let released = release.notified();
    tokio::pin!(released);
    released.as_mut().enable();
    let permit = handshakes.acquire().await.expect("semaphore open");
    let latency_start = Instant::now();
    let stream = connect_from(source(1, position), gateway)
        .await
        .map_err(|e| format!("device {position}: connect failed: {e}"))?;
    let mut session = match handshake(stream, &keys, &roots, Duration::from_secs(20)).await? {
        Connect::Online(session) => session,
        Connect::Rejected(code) => return Err(format!("device {position} rejected: {code}")),
    };
    drop(permit);
    // All records go out at once, so the first acknowledgement covers at
    // least the first record: it marks the admission.
    let sending = Instant::now();
    records.sent.fetch_add(events, Ordering::Relaxed);
    session.send_telemetry(events, deadline).await?;
    let admission = latency_start.elapsed();
    let acknowledged = sending.elapsed();
    records.acknowledged.fetch_add(events, Ordering::Relaxed);
    records.admitted.fetch_add(1, Ordering::Relaxed);
    // Stay connected, reading acknowledgements or commands, until every
    // device has finished and the gateway's memory has been read.
    loop {
        tokio::select! {
            _ = &mut released => break,
            received = session.receive_once() => { received?; }
        }
        if Instant::now() > deadline {
            return Err(format!("device {position}: never released"));
        }
    }
    Ok((admission, acknowledged))
}

/// Counters of the flood.
#[derive(Default)]
struct Flood {
    attempts: AtomicU64,
    rejected: AtomicU64,
    closed_without_answer: AtomicU64,
    admitted: AtomicU64,
}

/// Opens flood connections until `stop`, each from one of the flood
/// sources, presenting one of `keys` (all invalid).
async fn flood(
    gateway: SocketAddr,
    keys: Arc<Vec<DeviceKeys>>,
    roots: TrustStore,
    stop: Arc<AtomicBool>,
    counters: Arc<Flood>,
    deadline: Instant,
) {
    let gate = Arc::new(Semaphore::new(FLOOD_IN_FLIGHT));
    let mut tasks = tokio::task::JoinSet::new();
    for attempt in 0..FLOOD_SOURCES * FLOOD_PER_SOURCE {
        if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
            break;
        }
        let permit = gate.clone().acquire_owned().await.expect("semaphore open");
        let keys = keys.clone();
        let roots = roots.clone();
        let counters = counters.clone();
        let source = IpAddr::V4(Ipv4Addr::new(
            127,
            9,
            0,
            (attempt % FLOOD_SOURCES) as u8 + 1,
        ));
        tasks.spawn(async move {
            let _permit = permit;
            counters.attempts.fetch_add(1, Ordering::Relaxed);
            let Ok(stream) = connect_from(source, gateway).await else {
                counters
                    .closed_without_answer
                    .fetch_add(1, Ordering::Relaxed);
                return;
            };
            let keys = &keys[attempt % keys.len()];
            match handshake(stream, keys, &roots, Duration::from_secs(10)).await {
                Ok(Connect::Rejected(_)) => counters.rejected.fetch_add(1, Ordering::Relaxed),
                Ok(Connect::Online(_)) => counters.admitted.fetch_add(1, Ordering::Relaxed),
                Err(_) => counters
                    .closed_without_answer
                    .fetch_add(1, Ordering::Relaxed),
            };
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

/// Reads `telemetry.jsonl` and returns, per (device id, sequence) of the
/// test's channel, how many lines carry it.
fn telemetry_lines(path: &std::path::Path) -> HashMap<(String, u64), u32> {
    let text = std::fs::read_to_string(path).expect("telemetry.jsonl is readable");
    let mut seen = HashMap::new();
    for line in text.lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
        if value["channel"] != u64::from(CHANNEL) {
            continue;
        }
        let device = value["device_id"].as_str().expect("device_id").to_owned();
        let sequence = value["sequence"].as_u64().expect("sequence");
        *seen.entry((device, sequence)).or_insert(0) += 1;
    }
    seen
}

#[test]
fn ten_thousand_devices_with_flood() {
    let started = Instant::now();
    let deadline = started + TEST_BUDGET;
    let devices = env_number("PALISADE_LOAD_DEVICES", 10_000) as usize;
    let events = env_number("PALISADE_LOAD_EVENTS", 5);
    let open_files = raise_open_files_limit();
    let needed = (devices + PROBES + FLOOD_IN_FLIGHT + 256) as u64;
    assert!(
        open_files >= needed,
        "open files soft limit {open_files} is below the {needed} this test needs; raise the hard limit"
    );

    let dir = tempfile::tempdir().expect("temporary folder");
    let pki = Arc::new(Pki::build(now_secs()));
    let files = pki.write(&dir.path().join("pki"));
    let gateway = GatewayChild::start(
        &dir.path().join("gateway"),
        &files,
        ADMISSIONS_PER_SOURCE,
        "[outbox]\ndelivery_rows = 512\n",
    );
    let addr = gateway.addr;
    let roots = pki.operator_store();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime starts");
    let records = Arc::new(Records::default());

    let summary = runtime.block_on(async {
        let keys_started = Instant::now();
        let load_keys = issue_devices(&pki, 0, devices as u32);
        let probe_keys = issue_devices(&pki, 1_000_000, 2 * PROBES as u32);
        let (load_keys, mut probe_keys) = tokio::join!(load_keys, probe_keys);
        let flood_keys = flood_credentials(&pki);
        let keys_time = keys_started.elapsed();

        // Phase 1: admission latency without the flood.
        let during_keys = probe_keys.split_off(PROBES);
        let baseline = probe(addr, 2, probe_keys, &roots, deadline, &records).await;

        // Phase 2: probe devices during a flood of invalid handshakes.
        let phase_started = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Flood::default());
        let flooding = tokio::spawn(flood(
            addr,
            Arc::new(flood_keys),
            roots.clone(),
            stop.clone(),
            counters.clone(),
            deadline,
        ));
        // Let the flood reach full speed before the probes start.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let during = probe(addr, 3, during_keys, &roots, deadline, &records).await;
        stop.store(true, Ordering::Relaxed);
        flooding.await.expect("flood task");
        let flood_time = phase_started.elapsed();
        let rss_before = gateway.status_bytes("VmRSS");

        // Phase 3: every device connected at once.
        let handshakes = Arc::new(Semaphore::new(HANDSHAKES_IN_FLIGHT));
        let release = Arc::new(tokio::sync::Notify::new());
        let load_started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for keys in load_keys {
            let device = load_device(
                addr,
                keys,
                roots.clone(),
                handshakes.clone(),
                release.clone(),
                events,
                deadline,
                records.clone(),
            );
            let records = records.clone();
            tasks.spawn(async move {
                let result = device.await;
                if result.is_err() {
                    records.failed.fetch_add(1, Ordering::Relaxed);
                }
                result
            });
        }
        let mut admissions = Vec::with_capacity(devices);
        let mut ack_times = Vec::with_capacity(devices);
        let mut failures = Vec::new();
        // Wait until every device is admitted with all its records
        // acknowledged while all sessions stay open, then read the
        // gateway's peak memory.
        let mut progress = Instant::now();
        while records.admitted.load(Ordering::Relaxed) < devices as u64
            && records.failed.load(Ordering::Relaxed) == 0
            && Instant::now() < deadline
        {
            if progress.elapsed() > Duration::from_secs(10) {
                progress = Instant::now();
                eprintln!(
                    "load: {:.0}s, {} devices admitted, {} records acknowledged",
                    load_started.elapsed().as_secs_f64(),
                    records.admitted.load(Ordering::Relaxed),
                    records.acknowledged.load(Ordering::Relaxed)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let load_time = load_started.elapsed();
        let peak_rss = gateway.status_bytes("VmHWM");
        release.notify_waiters();
        while let Some(joined) = tasks.join_next().await {
            match joined.expect("device task") {
                Ok((admission, acknowledged)) => {
                    admissions.push(admission);
                    ack_times.push(acknowledged);
                }
                Err(error) => failures.push(error),
            }
        }

        admissions.sort();
        ack_times.sort();
        Summary {
            keys_time,
            baseline,
            during,
            admissions,
            ack_times,
            load_time,
            rss_before,
            peak_rss,
            flood: Arc::try_unwrap(counters).unwrap_or_default(),
            flood_time,
            failures,
        }
    });
    drop(runtime);

    let gateway_cpu = gateway.cpu_time();
    let test_cpu = cpu_time("/proc/self/stat");
    let log = gateway.stop(Duration::from_secs(90));
    let sinks = telemetry_lines(&dir.path().join("gateway").join("telemetry.jsonl"));
    let sent = records.sent.load(Ordering::Relaxed);
    let acknowledged = records.acknowledged.load(Ordering::Relaxed);
    let in_sinks: u64 = sinks.len() as u64;
    let duplicated: u64 = sinks.values().map(|count| u64::from(count - 1)).sum();
    let lost = acknowledged.saturating_sub(in_sinks);
    let growth = summary.peak_rss.saturating_sub(summary.rss_before);
    let per_connection = growth / devices as u64;
    let flood = &summary.flood;
    let rate_limited = log
        .iter()
        .filter(|line| line.contains("source exceeded its admission rate"))
        .count();
    // The gateway logs the first and every 1000th dropped report.
    let reports_dropped_logged = log
        .iter()
        .filter(|line| line.contains("rejected admission not stored"))
        .filter_map(|line| {
            let start = line.find("dropped=")? + "dropped=".len();
            line[start..].split_whitespace().next()?.parse::<u64>().ok()
        })
        .max()
        .unwrap_or(0);
    let flood_reports = flood_events(&dir.path().join("gateway").join("security.jsonl"));
    let median_ack = percentile(&summary.ack_times, 0.5);
    let slowest_ack = summary.ack_times.last().copied().unwrap_or_default();

    println!(
        "load: devices={devices} admitted={} with {events} records each in {:.1}s \
         (connect to all records acknowledged p50 {:.0}ms p99 {:.0}ms); \
         records sent={sent} acknowledged={acknowledged} in_sinks={in_sinks} lost={lost} duplicated={duplicated}; \
         records sent to all acknowledged: slowest device {:.2}s = {:.1}x the median {:.2}s; \
         gateway peak RSS {:.1} MiB (before {:.1} MiB), {:.1} KiB per connection; \
         probe admission without flood p50 {:.1}ms p99 {:.1}ms, during flood p50 {:.1}ms p99 {:.1}ms \
         (flood phase {:.1}s, {} flood handshakes from {FLOOD_SOURCES} sources: {} rejected, {} closed without answer, {} admitted, {rate_limited} rate-limited, \
         {flood_reports} reported in security.jsonl, \
         reports dropped at least {reports_dropped_logged}); \
         credentials issued in {:.1}s; CPU time gateway {:.1}s, devices {:.1}s; total {:.1}s",
        summary.admissions.len(),
        summary.load_time.as_secs_f64(),
        ms(percentile(&summary.admissions, 0.5)),
        ms(percentile(&summary.admissions, 0.99)),
        slowest_ack.as_secs_f64(),
        slowest_ack.as_secs_f64() / median_ack.as_secs_f64().max(1e-9),
        median_ack.as_secs_f64(),
        summary.peak_rss as f64 / 1048576.0,
        summary.rss_before as f64 / 1048576.0,
        per_connection as f64 / 1024.0,
        ms(percentile(&summary.baseline, 0.5)),
        ms(percentile(&summary.baseline, 0.99)),
        ms(percentile(&summary.during, 0.5)),
        ms(percentile(&summary.during, 0.99)),
        summary.flood_time.as_secs_f64(),
        flood.attempts.load(Ordering::Relaxed),
        flood.rejected.load(Ordering::Relaxed),
        flood.closed_without_answer.load(Ordering::Relaxed),
        flood.admitted.load(Ordering::Relaxed),
        summary.keys_time.as_secs_f64(),
        gateway_cpu.as_secs_f64(),
        test_cpu.as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );

    let problems: Vec<&String> = log
        .iter()
        .filter(|line| line.contains(" WARN ") || line.contains(" ERROR "))
        .filter(|line| !line.contains("admission rejected"))
        .take(20)
        .collect();
    for line in &problems {
        println!("gateway: {line}");
    }
    assert!(
        summary.failures.is_empty(),
        "{} of {devices} devices failed, first: {}",
        summary.failures.len(),
        summary.failures[0]
    );
    assert_eq!(
        summary.admissions.len(),
        devices,
        "every device is admitted"
    );
    assert_eq!(
        summary.baseline.len(),
        PROBES,
        "every baseline probe is admitted"
    );
    assert_eq!(
        summary.during.len(),
        PROBES,
        "every probe is admitted during the flood"
    );
    assert_eq!(acknowledged, sent, "every record sent is acknowledged");
    assert_eq!(lost, 0, "acknowledged records missing from telemetry.jsonl");
    assert_eq!(duplicated, 0, "records written twice to telemetry.jsonl");
    assert_eq!(
        in_sinks, acknowledged,
        "telemetry.jsonl holds exactly the records sent"
    );
    assert_eq!(
        flood.admitted.load(Ordering::Relaxed),
        0,
        "no flood handshake is admitted"
    );
    assert!(
        flood.rejected.load(Ordering::Relaxed) > 0,
        "the flood reached the credential checks"
    );
    // The gateway's rejection queue holds more reports than the flood
    // makes, so every rejected flood handshake reaches security.jsonl.
    assert_eq!(
        flood_reports as u64,
        flood.rejected.load(Ordering::Relaxed),
        "every rejected flood handshake is reported in security.jsonl"
    );
    assert!(
        slowest_ack <= MAX_DEVICE_ACK_TIME,
        "the slowest device waited {slowest_ack:?} for its acknowledgements (bound {MAX_DEVICE_ACK_TIME:?})"
    );
    // With few devices the growth is mostly fixed costs (caches, the
    // outbox), so the per-connection bound applies from 1,000 devices on.
    assert!(
        devices < 1_000 || per_connection <= MAX_RSS_PER_CONNECTION,
        "gateway RSS grew {per_connection} bytes per connection (bound {MAX_RSS_PER_CONNECTION})"
    );
    assert!(
        started.elapsed() < TEST_BUDGET + Duration::from_secs(60),
        "the test took {:?}",
        started.elapsed()
    );
}

/// Counts the events in `security.jsonl` (findings excluded) that name a
/// flood source address, 127.9.0.x.
fn flood_events(path: &std::path::Path) -> usize {
    let text = std::fs::read_to_string(path).expect("security.jsonl is readable");
    text.lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("each line is JSON"))
        .filter(|event| event["class_uid"] != 2004)
        .filter(|event| {
            event["src_endpoint"]["ip"]
                .as_str()
                .is_some_and(|ip| ip.starts_with("127.9.0."))
        })
        .count()
}

/// What the async phases measured.
struct Summary {
    keys_time: Duration,
    baseline: Vec<Duration>,
    during: Vec<Duration>,
    admissions: Vec<Duration>,
    ack_times: Vec<Duration>,
    load_time: Duration,
    rss_before: u64,
    peak_rss: u64,
    flood: Flood,
    flood_time: Duration,
    /// Errors of the load devices that failed.
    failures: Vec<String>,
}

/// Invalid credentials for the flood: devices under a root the gateway
/// does not pin, and devices of the pinned factory whose credential
/// signature has one bit flipped.
fn flood_credentials(pki: &Pki) -> Vec<DeviceKeys> {
    let mut keys = Vec::new();
    for index in 0..8 {
        keys.push(pki.device(2_000_000 + index, false));
        let mut tampered = pki.device(3_000_000 + index, true);
        let last = tampered.device.credential.len() - 1;
        tampered.device.credential[last] ^= 0x01;
        keys.push(tampered);
    }
    keys
}
