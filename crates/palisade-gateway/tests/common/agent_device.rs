//! Test devices built on the real device agent (`palisade_agent::Agent`
//! with its store-and-forward queue, over `palisade_agent::link::tcp_link`),
//! and a reader that checks the gateway's sink files for exactly-once
//! delivery.
//!
//! Each device runs in a thread of its own. It records numbered events on a
//! fixed schedule whether or not it is online, so events queue while the
//! gateway is away, until it has recorded the plan's `events` or until
//! [`DeviceHandle::stop_recording`] is called, whichever comes first. It
//! reconnects with the transport's jittered backoff after every link error,
//! and stops once every event it recorded is acknowledged, or at its time
//! limit.
//!
//! Event `n` of device `i` carries sequence number `n`, because the agent
//! numbers from 0 and records nothing else (no heartbeat, no snapshots, no
//! aggregation). Its body names `n` too. Every `security_every`-th event is
//! a login by user `op-<i>-<n>`, and the others are telemetry records with
//! data `[i, n as u32 big-endian]`.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use palisade_agent::clock::SystemClock;
use palisade_agent::command::{CommandHandler, Execution, Safety, SafetyInterlock};
use palisade_agent::persist::MemoryState;
use palisade_agent::{Agent, AgentConfig, Device, NoSnapshots};
use palisade_credential::handshake::DeviceIdentity;
use palisade_credential::{CommandAction, OsRng, SoftwareSigner, VerifiedCommand};
use palisade_schema::{
    Bytes, EventBody, Login, LoginAction, LoginMethod, Severity, Str, Telemetry,
};
use palisade_transport::backoff::{Backoff, BackoffConfig};
use palisade_wire::{MemoryStorage, Overflow};
use serde_json::Value;

use super::gateway_process::TestPki;

/// Queue storage of a test device: 256 KiB and 4096 records, more than any
/// test device has waiting for acknowledgement, so the queue never drops.
type Storage = MemoryStorage<262_144, 4096>;
type TestAgent<'a> = Agent<'a, Storage, MemoryState, SoftwareSigner, 0, 0>;

/// Telemetry channel of the numbered events.
pub const CHANNEL: u16 = 7;

/// What a test device sends and how long it may take.
#[derive(Debug, Clone, Copy)]
pub struct DevicePlan {
    /// Events to record, numbered from 0; fewer when
    /// [`DeviceHandle::stop_recording`] is called first.
    pub events: u64,
    /// Time between two recorded events.
    pub interval: Duration,
    /// Every `security_every`-th event (`n % security_every ==
    /// security_every - 1`) is a login, the others are telemetry.
    pub security_every: u64,
    /// The device gives up after this time, with an error in its report.
    pub time_limit: Duration,
    /// Wait for a frame in each agent poll, in milliseconds.
    pub idle_timeout_ms: u64,
    /// The agent's `AgentConfig::ack_timeout_ms`: the longest time without
    /// acknowledgement progress before it drops a session.
    pub ack_timeout_ms: Option<u64>,
}

/// Progress a device publishes while it runs.
#[derive(Debug, Default)]
pub struct DeviceProgress {
    /// Events recorded.
    pub recorded: AtomicU64,
    /// Events acknowledged by the gateway (recorded minus queued).
    pub acknowledged: AtomicU64,
    /// Events transmitted at least once (events `0..sent_high_water`).
    pub sent_high_water: AtomicU64,
    /// Sessions started (completed handshakes).
    pub sessions: AtomicU64,
    /// Whether a session is up.
    pub online: AtomicBool,
    /// Whether the device finished (all acknowledged, or gave up).
    pub finished: AtomicBool,
}

/// The values of [`DeviceProgress`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgressSnapshot {
    /// Events recorded.
    pub recorded: u64,
    /// Events acknowledged.
    pub acknowledged: u64,
    /// Events transmitted at least once.
    pub sent_high_water: u64,
    /// Sessions started.
    pub sessions: u64,
    /// Whether a session was up.
    pub online: bool,
}

impl DeviceProgress {
    /// Reads every field.
    pub fn snapshot(&self) -> ProgressSnapshot {
        ProgressSnapshot {
            recorded: self.recorded.load(Ordering::SeqCst),
            acknowledged: self.acknowledged.load(Ordering::SeqCst),
            sent_high_water: self.sent_high_water.load(Ordering::SeqCst),
            sessions: self.sessions.load(Ordering::SeqCst),
            online: self.online.load(Ordering::SeqCst),
        }
    }
}

/// What a device did, returned when its thread ends.
#[derive(Debug, Clone, Default)]
pub struct DeviceReport {
    /// Device index in the PKI.
    pub index: usize,
    /// Device id as lowercase hex.
    pub id_hex: String,
    /// The agent's boot counter (the `boot` of every event).
    pub boot: u32,
    /// Events recorded.
    pub recorded: u64,
    /// Events acknowledged (recorded minus still queued).
    pub acknowledged: u64,
    /// Records still queued at the end.
    pub queued: u64,
    /// Events the agent dropped (aggregator, queue or storage).
    pub dropped: u64,
    /// Records sent for the first time in a session.
    pub sent: u64,
    /// Records sent again after a retransmission timeout.
    pub retried: u64,
    /// Handshakes completed.
    pub handshakes: u64,
    /// Handshakes that failed after the TCP connection was made.
    pub handshake_failures: u64,
    /// TCP connection attempts that failed.
    pub connect_failures: u64,
    /// Sessions that ended with an error of `Agent::poll`: a link error or
    /// an acknowledgement timeout.
    pub link_errors: u64,
    /// Sessions the agent dropped because no acknowledgement progress came
    /// within the plan's `ack_timeout_ms`.
    pub ack_timeouts: u64,
    /// Frames from the gateway that could not be opened or decoded.
    pub bad_frames: u64,
    /// Run time of the device thread.
    pub elapsed: Duration,
    /// Why the device stopped before every event was acknowledged.
    pub error: Option<String>,
}

/// A running test device.
#[derive(Debug)]
pub struct DeviceHandle {
    /// The device's published progress.
    pub progress: Arc<DeviceProgress>,
    target: Arc<Mutex<SocketAddr>>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<DeviceReport>,
}

impl DeviceHandle {
    /// Ends the device's recording: it records no event after this call,
    /// sends what it queued, and stops once all of it is acknowledged.
    pub fn stop_recording(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Points the device's next connection attempts at `address`.
    pub fn retarget(&self, address: SocketAddr) {
        *self.target.lock().unwrap_or_else(|p| p.into_inner()) = address;
    }

    /// Waits for the device thread and returns its report.
    pub fn join(self) -> DeviceReport {
        self.thread
            .join()
            .expect("the device thread does not panic")
    }
}

/// Rejects every command: the test devices expect none.
struct NoCommands;

impl SafetyInterlock for NoCommands {
    fn check(&self, _: &CommandAction) -> Safety {
        Safety::Safe
    }
}

impl CommandHandler for NoCommands {
    fn execute(&mut self, _: &VerifiedCommand) -> Execution {
        Execution::Rejected("test devices carry out no commands")
    }
}

/// Starts device `index` of `pki`, connecting to `target`.
pub fn spawn_device(
    pki: &TestPki,
    index: usize,
    target: SocketAddr,
    plan: DevicePlan,
) -> DeviceHandle {
    let device = pki.devices[index].clone();
    let intermediate = pki.intermediate.clone();
    let roots = pki.operator_roots();
    let progress = Arc::new(DeviceProgress::default());
    let target = Arc::new(Mutex::new(target));
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let progress = progress.clone();
        let target = target.clone();
        let stop = stop.clone();
        std::thread::Builder::new()
            .name(format!("device-{index}"))
            // The agent keeps its queue storage and frame buffers inline.
            .stack_size(8 * 1024 * 1024)
            .spawn(move || {
                let signer = device.signer();
                let identity = DeviceIdentity {
                    intermediate: &intermediate,
                    credential: &device.credential,
                    signer: &signer,
                };
                let config = AgentConfig {
                    heartbeat_interval_ms: None,
                    system_info_interval_ms: None,
                    sbom_interval_ms: None,
                    baseline_interval_ms: None,
                    aggregation_window_ms: 0,
                    aggregation_overflow: Overflow::FlushOldest,
                    handshake_timeout_ms: 3_000,
                    ack_timeout_ms: plan.ack_timeout_ms,
                    ..AgentConfig::default()
                };
                let agent: TestAgent<'_> = Agent::new(
                    config,
                    identity,
                    roots,
                    palisade_credential::DeviceId(device.device_id),
                    Storage::new(),
                    MemoryState::new(),
                )
                .expect("the agent starts");
                let mut agent = Box::new(agent);
                let mut report = DeviceReport {
                    index,
                    id_hex: device.id_hex(),
                    boot: agent.state().boot_counter,
                    ..DeviceReport::default()
                };
                let shared = Shared {
                    target: &target,
                    stop: &stop,
                    progress: &progress,
                };
                run(&mut agent, index, shared, plan, &mut report);
                progress.online.store(false, Ordering::SeqCst);
                progress.finished.store(true, Ordering::SeqCst);
                report
            })
            .expect("the device thread starts")
    };
    DeviceHandle {
        progress,
        target,
        stop,
        thread,
    }
}

/// Records event `n` of device `index`.
fn record_event(
    agent: &mut TestAgent<'_>,
    clock: &SystemClock,
    index: usize,
    n: u64,
    plan: &DevicePlan,
) {
    if n % plan.security_every == plan.security_every - 1 {
        let user = format!("op-{index}-{n}");
        agent.record(
            clock,
            Severity::Low,
            &EventBody::Login(Login {
                action: LoginAction::Login,
                user: Str::truncated(&user),
                method: LoginMethod::Password,
                terminal: Some(Str::truncated("ssh")),
                source: None,
            }),
        );
    } else {
        let mut data = [0u8; 5];
        data[0] = index as u8;
        data[1..].copy_from_slice(&(n as u32).to_be_bytes());
        agent.record(
            clock,
            Severity::Info,
            &EventBody::Telemetry(Telemetry {
                channel: CHANNEL,
                data: Bytes::new(&data).expect("5 bytes fit a telemetry record"),
            }),
        );
    }
}

fn publish(agent: &TestAgent<'_>, progress: &DeviceProgress) -> u64 {
    let counters = agent.counters();
    let acknowledged = counters.recorded - agent.queued() as u64;
    progress.recorded.store(counters.recorded, Ordering::SeqCst);
    progress.acknowledged.store(acknowledged, Ordering::SeqCst);
    acknowledged
}

type TestLink = palisade_agent::link::StreamLink<palisade_transport::std_io::TcpIo>;

/// Opens a TCP connection to `address` and runs the agent's handshake on it.
/// A failed attempt is counted in `report`.
fn connect(
    agent: &mut TestAgent<'_>,
    address: SocketAddr,
    clock: &SystemClock,
    plan: &DevicePlan,
    report: &mut DeviceReport,
) -> Option<TestLink> {
    let Ok(stream) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) else {
        report.connect_failures += 1;
        return None;
    };
    let _ = stream.set_nodelay(true);
    let Ok(mut link) =
        palisade_agent::link::tcp_link(stream, plan.idle_timeout_ms, Duration::from_secs(2))
    else {
        report.connect_failures += 1;
        return None;
    };
    // The agent counts a failed handshake itself.
    agent.connect(&mut link, clock, &mut OsRng).ok()?;
    Some(link)
}

/// What a device thread shares with its [`DeviceHandle`].
#[derive(Clone, Copy)]
struct Shared<'a> {
    target: &'a Mutex<SocketAddr>,
    stop: &'a AtomicBool,
    progress: &'a DeviceProgress,
}

/// Runs the device until its recording ends (all `plan.events` recorded,
/// or a stop request) and every recorded event is acknowledged, or until
/// its time limit.
fn run(
    agent: &mut TestAgent<'_>,
    index: usize,
    shared: Shared<'_>,
    plan: DevicePlan,
    report: &mut DeviceReport,
) {
    let Shared {
        target,
        stop,
        progress,
    } = shared;
    let clock = SystemClock::new();
    let started = Instant::now();
    let mut backoff = Backoff::new(
        BackoffConfig {
            initial_ms: 20,
            max_ms: 400,
            max_attempts: None,
        },
        index as u64 + 1,
    );
    let (mut handler, interlock) = (NoCommands, NoCommands);
    let mut snapshots = NoSnapshots;
    let mut link = None;
    let mut next_attempt = Instant::now();
    let mut next_event = 0u64;
    // Where the current session started: the first unacknowledged event and
    // the agent's `sent` counter. The sender transmits in queue order, so
    // `base + (sent - sent_at_start)` events have been transmitted.
    let mut session_base = 0u64;
    let mut sent_at_start = 0u64;
    loop {
        let now = Instant::now();
        if now.duration_since(started) > plan.time_limit {
            report.error = Some(format!(
                "gave up after {:?} with {} of {} events recorded and {} queued",
                plan.time_limit,
                agent.counters().recorded,
                plan.events,
                agent.queued()
            ));
            break;
        }
        let stopped = stop.load(Ordering::SeqCst);
        while !stopped
            && next_event < plan.events
            && now >= started + plan.interval * next_event as u32
        {
            record_event(agent, &clock, index, next_event, &plan);
            next_event += 1;
        }
        let acknowledged = publish(agent, progress);
        if (stopped || next_event == plan.events) && agent.queued() == 0 {
            break;
        }

        let Some(active) = link.as_mut() else {
            if now < next_attempt {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            let address = *target.lock().unwrap_or_else(|p| p.into_inner());
            match connect(agent, address, &clock, &plan, report) {
                Some(new_link) => {
                    backoff.reset();
                    session_base = acknowledged;
                    sent_at_start = agent.counters().sent;
                    progress.sessions.fetch_add(1, Ordering::SeqCst);
                    progress.online.store(true, Ordering::SeqCst);
                    link = Some(new_link);
                }
                None => {
                    let delay = backoff.next_delay_ms().unwrap_or(400);
                    next_attempt = Instant::now() + Duration::from_millis(u64::from(delay));
                }
            }
            continue;
        };

        let mut device = Device {
            sources: &mut [],
            snapshots: &mut snapshots,
            handler: &mut handler,
            interlock: &interlock,
        };
        let result = agent.poll(active, &clock, &mut device);
        let transmitted = session_base + (agent.counters().sent - sent_at_start);
        progress
            .sent_high_water
            .fetch_max(transmitted, Ordering::SeqCst);
        if result.is_err() {
            // The agent dropped the session (on a link error or an
            // acknowledgement timeout) and keeps the unacknowledged records
            // for the next one. Dropping the link closes the connection.
            report.link_errors += 1;
            link = None;
            progress.online.store(false, Ordering::SeqCst);
            publish(agent, progress);
            let delay = backoff.next_delay_ms().unwrap_or(400);
            next_attempt = Instant::now() + Duration::from_millis(u64::from(delay));
        }
    }

    agent.disconnect();
    drop(link);
    let counters = agent.counters();
    report.recorded = counters.recorded;
    report.queued = agent.queued() as u64;
    report.acknowledged = counters.recorded - report.queued;
    report.dropped = counters.dropped;
    report.sent = counters.sent;
    report.retried = counters.retried;
    report.handshakes = counters.handshakes;
    report.ack_timeouts = counters.ack_timeouts;
    report.handshake_failures = counters.handshake_failures;
    report.bad_frames = counters.bad_frames;
    report.elapsed = started.elapsed();
    publish(agent, progress);
}

/// Where one device event appeared in the sink files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkEntry {
    /// `security` or `telemetry`.
    pub sink: &'static str,
    /// The payload check: `None` when the line names the event's own
    /// number, else what is wrong.
    pub mismatch: Option<String>,
}

/// Device events found in `security.jsonl` and `telemetry.jsonl`
/// (with rotated files), keyed by (device id hex, boot, sequence).
#[derive(Debug, Default)]
pub struct SinkContents {
    /// Every device event line, by key.
    pub events: BTreeMap<(String, u32, u64), Vec<SinkEntry>>,
    /// Finding lines (OCSF class 2004) in `security.jsonl`.
    pub findings: u64,
    /// Other lines without a device event key (gateway-reported events).
    pub other: u64,
    /// Lines that are not JSON objects.
    pub unreadable: u64,
}

fn sink_files(output: &Path, name: &str) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for number in (1..=32).rev() {
        let rotated = output.join(format!("{name}.{number}"));
        if rotated.exists() {
            files.push(rotated);
        }
    }
    let current = output.join(name);
    if current.exists() {
        files.push(current);
    }
    files
}

impl SinkContents {
    /// Reads the sink files under `output`.
    pub fn read(output: &Path) -> Self {
        let mut contents = Self::default();
        for path in sink_files(output, "security.jsonl") {
            let text = std::fs::read_to_string(&path).expect("the security sink reads");
            for line in text.lines() {
                contents.add_security(line);
            }
        }
        for path in sink_files(output, "telemetry.jsonl") {
            let text = std::fs::read_to_string(&path).expect("the telemetry sink reads");
            for line in text.lines() {
                contents.add_telemetry(line);
            }
        }
        contents
    }

    fn add_security(&mut self, line: &str) {
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            self.unreadable += 1;
            return;
        };
        if value["class_uid"] == 2004 {
            self.findings += 1;
            return;
        }
        let Some(uid) = value["metadata"]["uid"].as_str() else {
            self.other += 1;
            return;
        };
        let mut parts = uid.split(':');
        let (Some(device), Some(boot), Some(sequence), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            self.other += 1;
            return;
        };
        let (Ok(boot), Ok(sequence)) = (boot.parse::<u32>(), sequence.parse::<u64>()) else {
            self.other += 1;
            return;
        };
        let index = u32::from_str_radix(&device[device.len().saturating_sub(8)..], 16).unwrap_or(0);
        let user = format!("\"op-{index}-{sequence}\"");
        let mismatch = (!line.contains(&user))
            .then(|| format!("the login line does not name user {user}: {line}"));
        self.events
            .entry((device.to_owned(), boot, sequence))
            .or_default()
            .push(SinkEntry {
                sink: "security",
                mismatch,
            });
    }

    fn add_telemetry(&mut self, line: &str) {
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            self.unreadable += 1;
            return;
        };
        let (Some(device), Some(boot), Some(sequence), Some(data)) = (
            value["device_id"].as_str(),
            value["boot"].as_u64(),
            value["sequence"].as_u64(),
            value["data_hex"].as_str(),
        ) else {
            self.other += 1;
            return;
        };
        let index = u32::from_str_radix(&device[device.len().saturating_sub(8)..], 16).unwrap_or(0);
        let expected = format!("{:02x}{:08x}", index as u8, sequence as u32);
        let mismatch = (data != expected || value["channel"] != CHANNEL)
            .then(|| format!("telemetry data {data} on channel {} does not encode device {index} event {sequence} (expected {expected} on {CHANNEL})", value["channel"]));
        self.events
            .entry((device.to_owned(), boot as u32, sequence))
            .or_default()
            .push(SinkEntry {
                sink: "telemetry",
                mismatch,
            });
    }
}

/// The exactly-once check of the sinks against the devices' reports.
#[derive(Debug, Default)]
pub struct Tally {
    /// Events the devices recorded.
    pub expected: u64,
    /// Events found exactly once, on the right sink, with the right payload.
    pub exactly_once: u64,
    /// Events not found.
    pub lost: Vec<(String, u32, u64)>,
    /// Events found more than once, with the count.
    pub duplicated: Vec<((String, u32, u64), usize)>,
    /// Events on the wrong sink or with a payload that does not match.
    pub wrong: Vec<String>,
    /// Keys in a test device's boot that it never recorded, and device
    /// event keys of devices that are not in the test.
    pub unexpected: Vec<(String, u32, u64)>,
}

impl Tally {
    /// Compares the sinks with what every device recorded under `plan`,
    /// and lists the device event keys that no test device recorded.
    pub fn check(contents: &SinkContents, reports: &[DeviceReport], plan: &DevicePlan) -> Self {
        let ranges: Vec<_> = reports.iter().map(|r| (r, 0..r.recorded)).collect();
        let mut tally = Self::check_ranges(contents, &ranges, plan);
        // Events the gateway reports itself (boot 0) may name a test device;
        // only keys in a device's own boot must come from what it recorded.
        for key in contents.events.keys() {
            let unexpected = reports
                .iter()
                .any(|r| r.id_hex == key.0 && r.boot == key.1 && key.2 >= r.recorded);
            let unknown_device = !reports.iter().any(|r| r.id_hex == key.0);
            if unexpected || (unknown_device && key.1 != 0) {
                tally.unexpected.push(key.clone());
            }
        }
        tally
    }

    /// Compares the sinks with the events in `sequences` of each device.
    pub fn check_ranges(
        contents: &SinkContents,
        ranges: &[(&DeviceReport, std::ops::Range<u64>)],
        plan: &DevicePlan,
    ) -> Self {
        let mut tally = Self::default();
        for (report, sequences) in ranges {
            for sequence in sequences.clone() {
                tally.expected += 1;
                let key = (report.id_hex.clone(), report.boot, sequence);
                let Some(entries) = contents.events.get(&key) else {
                    tally.lost.push(key);
                    continue;
                };
                if entries.len() > 1 {
                    tally.duplicated.push((key.clone(), entries.len()));
                    continue;
                }
                let entry = &entries[0];
                let expected_sink = if sequence % plan.security_every == plan.security_every - 1 {
                    "security"
                } else {
                    "telemetry"
                };
                if entry.sink != expected_sink {
                    tally.wrong.push(format!(
                        "{key:?} is on the {} sink, expected {expected_sink}",
                        entry.sink
                    ));
                } else if let Some(mismatch) = &entry.mismatch {
                    tally.wrong.push(mismatch.clone());
                } else {
                    tally.exactly_once += 1;
                }
            }
        }
        tally
    }
}
