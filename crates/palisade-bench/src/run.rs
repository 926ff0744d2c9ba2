//! One measured run of each system: setup, connection phase, data phase,
//! and the figures of every process involved.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;

use crate::broker::Broker;
use crate::child::ChildProcess;
use crate::consumer::{ConsumerSummary, unix_us};
use crate::pki::Pki;
use crate::procstat;
use crate::stats::Latency;
use crate::wire::WireCounters;

/// Connections opened at the same time in the connection phase.
const CONNECT_CONCURRENCY: usize = 64;
/// Events per DATA_BATCH frame (two frames fill the transport window).
pub const PALISADE_BATCH: usize = 32;

/// What a run sends.
#[derive(Debug, Clone, Copy)]
pub struct RunSpec {
    /// Simulated devices.
    pub devices: usize,
    /// Events each device sends.
    pub events_per_device: u64,
    /// Longest time for the data phase; events not seen by then count as
    /// lost.
    pub timeout: Duration,
    /// Palisade only: rows per sink and delivery round, when not the
    /// gateway's default.
    pub delivery_rows: Option<usize>,
}

impl RunSpec {
    /// Events in total.
    pub fn events(&self) -> u64 {
        self.devices as u64 * self.events_per_device
    }
}

/// CPU time and peak memory of one process of a run.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessFigures {
    /// What the process does.
    pub role: &'static str,
    /// CPU seconds (user + system) used in the data phase.
    pub cpu_secs: f64,
    /// The same per million events.
    pub cpu_secs_per_million_events: f64,
    /// Peak resident set size (VmHWM) in KiB. The benchmark process resets
    /// its own peak before the connection phase.
    pub peak_rss_kib: u64,
}

/// Figures of one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// `palisade` or `mqtt_json`.
    pub system: &'static str,
    /// Simulated devices.
    pub devices: usize,
    /// Events sent.
    pub events: u64,
    /// Wall time to connect (and, for Palisade, admit) every device.
    pub connect_secs: f64,
    /// Wall time from the start of the data phase until the last event was
    /// parsed at the receiving end.
    pub elapsed_secs: f64,
    /// `events / elapsed_secs`.
    pub events_per_s: f64,
    /// Events acknowledged to the devices per second (time until the last
    /// device had every event acknowledged).
    pub acknowledged_per_s: f64,
    /// Event time stamp to parsed at the receiving end.
    pub latency: Latency,
    /// Bytes the devices wrote and read on their sockets, connection setup
    /// included (`sent`, `received`).
    pub device_bytes: (u64, u64),
    /// The same, data phase only.
    pub device_bytes_data_phase: (u64, u64),
    /// `(sent + received) / events`, connection setup included.
    pub bytes_per_event: f64,
    /// The same, data phase only.
    pub bytes_per_event_data_phase: f64,
    /// Expected events never seen at the receiving end.
    pub lost: u64,
    /// Events seen more than once at the receiving end.
    pub duplicated: u64,
    /// Per process.
    pub processes: Vec<ProcessFigures>,
    /// The receiving end's report.
    pub consumer: ConsumerSummary,
}

struct Sampled {
    role: &'static str,
    pid: u32,
    cpu_start: f64,
}

impl Sampled {
    fn start(role: &'static str, pid: u32) -> Self {
        Self {
            role,
            pid,
            cpu_start: procstat::cpu_seconds(pid).unwrap_or(0.0),
        }
    }

    fn finish(&self, events: u64) -> ProcessFigures {
        let cpu = (procstat::cpu_seconds(self.pid).unwrap_or(0.0) - self.cpu_start).max(0.0);
        ProcessFigures {
            role: self.role,
            cpu_secs: cpu,
            cpu_secs_per_million_events: cpu / events.max(1) as f64 * 1e6,
            peak_rss_kib: procstat::peak_rss_kib(self.pid).unwrap_or(0),
        }
    }
}

fn consumer_args(kind: &str, flag: &str, target: String, spec: &RunSpec) -> Vec<String> {
    vec![
        kind.to_owned(),
        flag.to_owned(),
        target,
        "--devices".to_owned(),
        spec.devices.to_string(),
        "--events-per-device".to_owned(),
        spec.events_per_device.to_string(),
    ]
}

fn parse_summary(text: &str) -> Result<ConsumerSummary, String> {
    serde_json::from_str(text).map_err(|e| format!("the consumer's summary does not parse: {e}"))
}

/// Runs Palisade: devices in this process, the gateway and the sink reader
/// in child processes.
pub fn palisade(runtime: &Runtime, spec: RunSpec, dir: &Path) -> Result<RunResult, String> {
    let pki = Pki::new().map_err(|e| format!("building the PKI failed: {e}"))?;
    pki.write_gateway_files(dir)
        .map_err(|e| format!("writing the gateway's PKI files failed: {e}"))?;
    let mut keys = Vec::with_capacity(spec.devices);
    for index in 0..spec.devices as u32 {
        keys.push(
            pki.device(index)
                .map_err(|e| format!("issuing device {index} failed: {e}"))?,
        );
    }
    let operator_roots = pki
        .operator_store()
        .map_err(|e| format!("building the operator trust store failed: {e}"))?;

    let mut gateway = ChildProcess::spawn(
        "gateway",
        &[
            "child-gateway".to_owned(),
            "--dir".to_owned(),
            dir.display().to_string(),
        ],
        &dir.join("gateway.log"),
    )?;
    let addr: std::net::SocketAddr = gateway
        .expect("LISTENING", Duration::from_secs(60))?
        .parse()
        .map_err(|e| format!("the gateway printed an invalid address: {e}"))?;
    let mut reader = ChildProcess::spawn(
        "sink reader",
        &consumer_args(
            "child-sink-reader",
            "--out",
            dir.join("out").display().to_string(),
            &spec,
        ),
        &dir.join("sink-reader.log"),
    )?;
    reader.expect("READY", Duration::from_secs(30))?;

    let _ = procstat::reset_own_peak_rss();
    let counters = Arc::new(WireCounters::default());
    let connect_started = Instant::now();
    let sessions = runtime.block_on(async {
        let limit = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
        let mut tasks = tokio::task::JoinSet::new();
        for device in keys {
            let limit = limit.clone();
            let roots = operator_roots.clone();
            let counters = counters.clone();
            tasks.spawn(async move {
                let _permit = limit.acquire().await;
                crate::palisade_device::connect(addr, &device, &roots, counters).await
            });
        }
        let mut sessions = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            sessions.push(joined.map_err(|e| e.to_string())??);
        }
        Ok::<_, String>(sessions)
    })?;
    // The data phase starts after the gateway committed every admission.
    loop {
        let admitted: usize = gateway
            .expect("ADMITTED", Duration::from_secs(120))?
            .parse()
            .unwrap_or(0);
        if admitted >= spec.devices {
            break;
        }
    }
    let connect_secs = connect_started.elapsed().as_secs_f64();

    let samples = [
        Sampled::start("devices (bench process)", 0),
        Sampled::start("gateway", gateway.pid()),
        Sampled::start("sink reader", reader.pid()),
    ];
    let bytes_at_start = counters.snapshot();
    let started_us = unix_us();
    let started = Instant::now();
    let deadline = started + spec.timeout;
    let acknowledged = runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for session in sessions {
            tasks.spawn(session.send_events(spec.events_per_device, PALISADE_BATCH, deadline));
        }
        let mut acknowledged = 0;
        let mut errors = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(outcome)) => acknowledged += outcome.acknowledged,
                Ok(Err(error)) => errors.push(error),
                Err(error) => errors.push(error.to_string()),
            }
        }
        if let Some(first) = errors.first() {
            tracing::error!(failed = errors.len(), first = %first, "devices failed");
        }
        acknowledged
    });
    let acknowledged_secs = started.elapsed().as_secs_f64();
    let done = reader.expect(
        "DONE",
        deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(2),
    );
    let figures: Vec<ProcessFigures> = samples.iter().map(|s| s.finish(spec.events())).collect();
    let bytes = counters.snapshot();

    gateway.close_stdin();
    let gateway_stats = gateway.expect("STATS", Duration::from_secs(120));
    reader.close_stdin();
    let summary = parse_summary(&reader.expect("SUMMARY", Duration::from_secs(60))?)?;
    gateway.wait(Duration::from_secs(10));
    reader.wait(Duration::from_secs(10));
    if let Ok(stats) = &gateway_stats {
        tracing::info!(stats = %stats, "gateway counters");
    }
    if let Err(error) = &done {
        tracing::warn!(%error, "not every event reached the sink before the deadline");
    }
    Ok(finish(
        "palisade",
        spec,
        connect_secs,
        started_us,
        acknowledged,
        acknowledged_secs,
        bytes,
        bytes_at_start,
        figures,
        summary,
    ))
}

/// Runs MQTT with JSON: devices in this process, mosquitto and the
/// subscriber in child processes.
pub fn mqtt(runtime: &Runtime, spec: RunSpec, dir: &Path) -> Result<RunResult, String> {
    let mut broker = Broker::start(dir)?;
    let addr = broker.addr();
    let mut subscriber = ChildProcess::spawn(
        "subscriber",
        &consumer_args(
            "child-mqtt-subscriber",
            "--port",
            addr.port().to_string(),
            &spec,
        ),
        &dir.join("subscriber.log"),
    )?;
    subscriber.expect("READY", Duration::from_secs(30))?;

    let _ = procstat::reset_own_peak_rss();
    let counters = Arc::new(WireCounters::default());
    let connect_started = Instant::now();
    let devices = runtime.block_on(async {
        let limit = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
        let mut tasks = tokio::task::JoinSet::new();
        for index in 0..spec.devices as u32 {
            let limit = limit.clone();
            let counters = counters.clone();
            tasks.spawn(async move {
                let _permit = limit.acquire().await;
                crate::mqtt_device::connect(addr, index, counters).await
            });
        }
        let mut devices = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            devices.push(joined.map_err(|e| e.to_string())??);
        }
        Ok::<_, String>(devices)
    })?;
    let connect_secs = connect_started.elapsed().as_secs_f64();

    let samples = [
        Sampled::start("devices (bench process)", 0),
        Sampled::start("mosquitto", broker.pid()),
        Sampled::start("subscriber", subscriber.pid()),
    ];
    let bytes_at_start = counters.snapshot();
    let started_us = unix_us();
    let started = Instant::now();
    let deadline = started + spec.timeout;
    let acknowledged = runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for device in devices {
            tasks.spawn(device.send_events(spec.events_per_device, deadline));
        }
        let mut acknowledged = 0;
        let mut errors = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(count)) => acknowledged += count,
                Ok(Err(error)) => errors.push(error),
                Err(error) => errors.push(error.to_string()),
            }
        }
        if let Some(first) = errors.first() {
            tracing::error!(failed = errors.len(), first = %first, "devices failed");
        }
        acknowledged
    });
    let acknowledged_secs = started.elapsed().as_secs_f64();
    let done = subscriber.expect(
        "DONE",
        deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(2),
    );
    let figures: Vec<ProcessFigures> = samples.iter().map(|s| s.finish(spec.events())).collect();
    let bytes = counters.snapshot();
    subscriber.close_stdin();
    let summary = parse_summary(&subscriber.expect("SUMMARY", Duration::from_secs(60))?)?;
    subscriber.wait(Duration::from_secs(10));
    broker.stop();
    if let Err(error) = &done {
        tracing::warn!(%error, "not every event reached the subscriber before the deadline");
    }
    Ok(finish(
        "mqtt_json",
        spec,
        connect_secs,
        started_us,
        acknowledged,
        acknowledged_secs,
        bytes,
        bytes_at_start,
        figures,
        summary,
    ))
}

#[allow(clippy::too_many_arguments)]
fn finish(
    system: &'static str,
    spec: RunSpec,
    connect_secs: f64,
    started_us: u64,
    acknowledged: u64,
    acknowledged_secs: f64,
    bytes: (u64, u64),
    bytes_at_start: (u64, u64),
    processes: Vec<ProcessFigures>,
    consumer: ConsumerSummary,
) -> RunResult {
    let events = spec.events();
    // A run that did not complete is timed to its deadline.
    let elapsed_secs = match consumer.done_unix_us {
        Some(done) => done.saturating_sub(started_us) as f64 / 1e6,
        None => spec.timeout.as_secs_f64(),
    };
    let data = (bytes.0 - bytes_at_start.0, bytes.1 - bytes_at_start.1);
    RunResult {
        system,
        devices: spec.devices,
        events,
        connect_secs,
        elapsed_secs,
        events_per_s: consumer.unique as f64 / elapsed_secs.max(1e-9),
        acknowledged_per_s: acknowledged as f64 / acknowledged_secs.max(1e-9),
        latency: consumer.latency,
        device_bytes: bytes,
        device_bytes_data_phase: data,
        bytes_per_event: (bytes.0 + bytes.1) as f64 / events.max(1) as f64,
        bytes_per_event_data_phase: (data.0 + data.1) as f64 / events.max(1) as f64,
        lost: consumer.lost,
        duplicated: consumer.duplicates,
        processes,
        consumer,
    }
}
