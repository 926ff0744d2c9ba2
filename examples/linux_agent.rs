//! A device agent for embedded Linux, built from the Linux collectors of
//! `palisade-agent`.
//!
//! ```text
//! cargo run -p palisade-examples --example linux_agent -- --dry-run
//! cargo run -p palisade-examples --example linux_agent -- --dry-run --json
//! cargo run -p palisade-examples --example linux_agent -- --gateway 127.0.0.1:4433 \
//!     --credential device.cred --intermediate intermediate.cred \
//!     --key device.key.pk8 --operator-root operator-root.cred
//! ```
//!
//! `--dry-run` scans this machine's `/proc` and files and prints the events
//! instead of sending them: as readable text, or with `--json` as one JSON
//! object per line on stdout, each with a `kind` field holding the event
//! kind's snake_case name. Logs go to stderr.
//!
//! With `--gateway`, the agent core (`palisade_agent::Agent`) connects over
//! TCP, runs the handshake with the device credential and key, and on each
//! scan records the collected events, prints them, and polls until the
//! gateway has acknowledged the queue or [`ACK_TIMEOUT`] has passed; after
//! each scan it prints the events collected, sent and acknowledged. It
//! exits with status 0 when every recorded event was acknowledged, 1 when
//! one was not (or the session failed), and 2 on a bad or missing option.
//! Commands from the gateway are logged and rejected: this agent has no
//! action to carry out.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use palisade_agent::linux::{LinuxCollectors, LinuxConfig, Record};
use palisade_schema::{Event, EventBody, Header, HitCount, WallClock};
use serde_json::{Value, json};

const USAGE: &str = "\
usage: linux_agent --dry-run [--json] [--root DIR] [--firmware-version VERSION] [--scans N] [--interval-ms MS]
       linux_agent --gateway HOST:PORT --credential FILE --intermediate FILE --key FILE
                   --operator-root FILE [--json] [--root DIR] [--firmware-version VERSION]
                   [--scans N] [--interval-ms MS]

  --dry-run                  collect and print the events, send nothing
  --json                     print one JSON object per event and line (default: readable text)
  --root DIR                 read /proc, /sys, /etc and /var under DIR instead of /
  --firmware-version VERSION firmware version to report in system information (default: unknown)
  --scans N                  number of scans, at least 1 (default: 1); on later scans the process,
                             network, login and file-integrity collectors report changes only, while
                             system information, software components and baseline checks are full
                             snapshots printed again on every scan
  --interval-ms MS           pause between scans in milliseconds (default: 1000)
  --gateway HOST:PORT        gateway to send the events to over TCP
  --credential FILE          device credential (encoded, as the palisade CLI writes it)
  --intermediate FILE        intermediate credential that issued the device credential
  --key FILE                 the device's private key (PKCS#8)
  --operator-root FILE       operator root credential that the gateway's credential chains to
";

struct Options {
    dry_run: bool,
    json: bool,
    root: Option<PathBuf>,
    firmware_version: String,
    scans: u32,
    interval: Duration,
    gateway: Option<String>,
    credential: Option<PathBuf>,
    intermediate: Option<PathBuf>,
    key: Option<PathBuf>,
    operator_root: Option<PathBuf>,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        dry_run: false,
        json: false,
        root: None,
        firmware_version: "unknown".to_string(),
        scans: 1,
        interval: Duration::from_millis(1000),
        gateway: None,
        credential: None,
        intermediate: None,
        key: None,
        operator_root: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--dry-run" => options.dry_run = true,
            "--json" => options.json = true,
            "--root" => options.root = Some(PathBuf::from(value("--root")?)),
            "--firmware-version" => options.firmware_version = value("--firmware-version")?,
            "--scans" => {
                let text = value("--scans")?;
                options.scans = text.parse().map_err(|_| {
                    format!("invalid --scans value {text:?}: expected a whole number")
                })?;
                if options.scans == 0 {
                    return Err("--scans must be at least 1".to_string());
                }
            }
            "--interval-ms" => {
                let text = value("--interval-ms")?;
                let millis = text.parse().map_err(|_| {
                    format!("invalid --interval-ms value {text:?}: expected milliseconds")
                })?;
                options.interval = Duration::from_millis(millis);
            }
            "--gateway" => options.gateway = Some(value("--gateway")?),
            "--credential" => options.credential = Some(PathBuf::from(value("--credential")?)),
            "--intermediate" => {
                options.intermediate = Some(PathBuf::from(value("--intermediate")?));
            }
            "--key" => options.key = Some(PathBuf::from(value("--key")?)),
            "--operator-root" => {
                options.operator_root = Some(PathBuf::from(value("--operator-root")?));
            }
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(options)
}

/// Writes log records to stderr, so stdout carries only events.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("linux_agent {}: {}", record.level(), record.args());
        }
    }

    fn flush(&self) {}
}

static LOGGER: StderrLogger = StderrLogger;

fn main() -> ExitCode {
    // `set_logger` fails only when a logger is already set, which cannot
    // happen this early in `main`.
    let _ = log::set_logger(&LOGGER).map(|()| log::set_max_level(log::LevelFilter::Info));
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) if message.is_empty() => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("linux_agent: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let send = if options.dry_run {
        None
    } else {
        match SendFiles::from_options(&options) {
            Ok(files) => Some(files),
            Err(message) => {
                eprintln!("linux_agent: {message}");
                return ExitCode::from(2);
            }
        }
    };
    if let Some(root) = &options.root
        && !root.is_dir()
    {
        eprintln!(
            "linux_agent: --root {} is not a directory: {}; pass the directory that holds proc, sys, etc and var",
            root.display(),
            match std::fs::metadata(root) {
                Ok(_) => "it is a file".to_string(),
                Err(e) => e.to_string(),
            }
        );
        return ExitCode::from(2);
    }
    if let Some(files) = send {
        return match send::run(&options, &files) {
            Ok(()) => ExitCode::SUCCESS,
            Err(reason) => {
                log::error!("{reason}");
                ExitCode::FAILURE
            }
        };
    }
    match run_dry(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("writing events failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The gateway address and the files of the device's identity.
struct SendFiles {
    gateway: String,
    credential: PathBuf,
    intermediate: PathBuf,
    key: PathBuf,
    operator_root: PathBuf,
}

impl SendFiles {
    /// Takes the sending options, or names the first one missing.
    fn from_options(options: &Options) -> Result<Self, String> {
        fn required<T: Clone>(value: &Option<T>, name: &str, what: &str) -> Result<T, String> {
            value.clone().ok_or_else(|| {
                format!(
                    "missing {name}: sending needs {what}; or pass --dry-run to print the events"
                )
            })
        }
        Ok(Self {
            gateway: required(
                &options.gateway,
                "--gateway HOST:PORT",
                "the gateway address",
            )?,
            credential: required(
                &options.credential,
                "--credential FILE",
                "the device credential",
            )?,
            intermediate: required(
                &options.intermediate,
                "--intermediate FILE",
                "the intermediate credential that issued the device credential",
            )?,
            key: required(
                &options.key,
                "--key FILE",
                "the device's PKCS#8 private key",
            )?,
            operator_root: required(
                &options.operator_root,
                "--operator-root FILE",
                "the operator root credential that the gateway's credential chains to",
            )?,
        })
    }
}

/// Longest wait, per scan, for the gateway to acknowledge the queue.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(20);

mod send {
    use std::net::{TcpStream, ToSocketAddrs};
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use palisade_agent::clock::SystemClock;
    use palisade_agent::command::{CommandHandler, Execution, Safety, SafetyInterlock};
    use palisade_agent::linux::{LinuxCollectors, LinuxConfig};
    use palisade_agent::persist::MemoryState;
    use palisade_agent::{Agent, AgentConfig, Device, NoSnapshots, PollStatus};
    use palisade_credential::handshake::DeviceIdentity;
    use palisade_credential::{
        CommandAction, Credential, OsRng, SoftwareSigner, TrustAnchor, TrustStore,
        VerificationTime, VerifiedCommand,
    };
    use palisade_wire::{MemoryStorage, Overflow};

    use super::{ACK_TIMEOUT, Options, SendFiles, counted, event_json, header_for, text_line};

    /// Events recorded before the agent drains the queue: at most
    /// `BATCH * MAX_EVENT_LEN` bytes, which the queue storage holds.
    const BATCH: usize = 128;
    type Storage = MemoryStorage<262_144, 256>;
    /// No aggregator slots: every collected event is sent as it is.
    type LinuxAgent<'a> = Agent<'a, Storage, MemoryState, SoftwareSigner, 0, 0>;

    /// Allows every command and carries out none: this agent controls no
    /// therapy and has no action to run, so each command is logged and
    /// rejected.
    struct LogCommands;

    impl SafetyInterlock for LogCommands {
        fn check(&self, _: &CommandAction) -> Safety {
            Safety::Safe
        }
    }

    impl CommandHandler for LogCommands {
        fn execute(&mut self, command: &VerifiedCommand) -> Execution {
            log::info!(
                "command {} received: {:?}; rejected, this agent carries out no commands",
                command.command_id,
                command.action
            );
            Execution::Rejected("the linux_agent example carries out no commands")
        }
    }

    fn read(path: &std::path::Path, what: &str) -> Result<Vec<u8>, String> {
        std::fs::read(path).map_err(|e| format!("reading {what} {}: {e}", path.display()))
    }

    pub fn run(options: &Options, files: &SendFiles) -> Result<(), String> {
        let credential = read(&files.credential, "the device credential")?;
        let intermediate = read(&files.intermediate, "the intermediate credential")?;
        let key = read(&files.key, "the device key")?;
        let operator_root = read(&files.operator_root, "the operator root credential")?;
        let signer = SoftwareSigner::from_pkcs8(&key)
            .map_err(|e| format!("the key in {} is not usable: {e}", files.key.display()))?;
        let device_id = Credential::decode(&credential)
            .map_err(|e| {
                format!(
                    "the device credential {} does not decode: {e}",
                    files.credential.display()
                )
            })?
            .body
            .subject
            .device_id;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let anchor =
            TrustAnchor::from_root_credential(&operator_root, VerificationTime::Trusted(now))
                .map_err(|e| {
                    format!(
                        "the operator root {} is not a valid root credential: {e}",
                        files.operator_root.display()
                    )
                })?;
        let mut roots = TrustStore::new();
        roots
            .pin(anchor)
            .map_err(|_| "the operator trust store is full".to_string())?;

        let address = files
            .gateway
            .to_socket_addrs()
            .map_err(|e| format!("gateway address {:?} does not resolve: {e}", files.gateway))?
            .next()
            .ok_or_else(|| format!("gateway address {:?} resolves to nothing", files.gateway))?;
        let stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))
            .map_err(|e| format!("connecting to the gateway at {address}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let mut link = palisade_agent::link::tcp_link(stream, 50, Duration::from_secs(5))
            .map_err(|e| format!("setting up the link to {address}: {e}"))?;
        log::info!("connected to the gateway at {address}");

        let config = AgentConfig {
            // The collectors below send the snapshots on every scan.
            heartbeat_interval_ms: None,
            system_info_interval_ms: None,
            sbom_interval_ms: None,
            baseline_interval_ms: None,
            aggregation_window_ms: 0,
            aggregation_overflow: Overflow::FlushOldest,
            ..AgentConfig::default()
        };
        let identity = DeviceIdentity {
            intermediate: &intermediate,
            credential: &credential,
            signer: &signer,
        };
        let mut agent: LinuxAgent<'_> = Agent::new(
            config,
            identity,
            roots,
            device_id,
            Storage::new(),
            MemoryState::new(),
        )
        .map_err(|e| format!("starting the agent: {e:?}"))?;
        let clock = SystemClock::new();
        agent
            .connect(&mut link, &clock, &mut OsRng)
            .map_err(|e| format!("handshake with the gateway at {address} failed: {e:?}"))?;
        log::info!("session with the gateway at {address} started");

        let mut linux = LinuxConfig::default();
        linux.system_info.firmware_version = options.firmware_version.clone();
        if let Some(root) = &options.root {
            linux = linux.under(root);
        }
        let mut collectors = LinuxCollectors::new(linux);
        let (mut handler, interlock) = (LogCommands, LogCommands);
        let started = Instant::now();
        let mut printed = 0u64;
        for scan in 1..=options.scans {
            if scan > 1 {
                std::thread::sleep(options.interval);
            }
            let before = agent.counters();
            let records = collectors.collect_all();
            let deadline = Instant::now() + ACK_TIMEOUT;
            for batch in records.chunks(BATCH) {
                for record in batch {
                    let header = header_for(record, printed, started.elapsed());
                    printed += 1;
                    let value = event_json(&record.to_event(header));
                    if options.json {
                        println!("{value}");
                    } else {
                        println!("{}", text_line(&value));
                    }
                    agent.record(&clock, record.severity(), &record.body());
                }
                let mut sources = [];
                let mut device = Device {
                    sources: &mut sources,
                    snapshots: &mut NoSnapshots,
                    handler: &mut handler,
                    interlock: &interlock,
                };
                while agent.queued() > 0 && Instant::now() < deadline {
                    let status = agent
                        .poll(&mut link, &clock, &mut device)
                        .map_err(|e| format!("session with {address} failed: {e:?}"))?;
                    if status == PollStatus::Offline {
                        return Err(format!("the gateway at {address} ended the session"));
                    }
                }
            }
            let after = agent.counters();
            let (collected, sent, acknowledged) = (
                records.len() as u64,
                after.sent - before.sent,
                after.acknowledged - before.acknowledged,
            );
            let waiting = agent.queued();
            if options.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "kind": "scan_summary", "scan": scan, "collected": collected, "sent": sent,
                        "acknowledged": acknowledged, "waiting": waiting,
                        "dropped": after.dropped, "retried": after.retried - before.retried,
                    })
                );
            } else {
                println!(
                    "scan {scan}: collected {}, sent {sent}, acknowledged {acknowledged}, waiting {waiting}, dropped {}",
                    counted(collected, "event", "events"),
                    after.dropped
                );
            }
            if waiting > 0 {
                return Err(format!(
                    "scan {scan}: {} not acknowledged by the gateway at {address} within {} s",
                    counted(waiting as u64, "record", "records"),
                    ACK_TIMEOUT.as_secs()
                ));
            }
        }
        let counters = agent.counters();
        log::info!(
            "finished: {} recorded, {} sent, {} acknowledged, {} dropped",
            counters.recorded,
            counters.sent,
            counters.acknowledged,
            counters.dropped
        );
        if counters.dropped > 0 {
            return Err(format!(
                "{} dropped before the gateway acknowledged them",
                counted(counters.dropped, "event was", "events were")
            ));
        }
        agent.disconnect();
        Ok(())
    }
}

fn run_dry(options: &Options) -> std::io::Result<()> {
    let mut config = LinuxConfig::default();
    config.system_info.firmware_version = options.firmware_version.clone();
    if let Some(root) = &options.root {
        config = config.under(root);
    }
    let mut collectors = LinuxCollectors::new(config);
    log::info!(
        "dry run started: {}, nothing is sent",
        counted(u64::from(options.scans), "scan", "scans")
    );
    let started = std::time::Instant::now();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut sequence = 0u64;
    for scan in 0..options.scans {
        if scan > 0 {
            std::thread::sleep(options.interval);
        }
        let records = collectors.collect_all();
        log::info!(
            "scan {} found {}",
            scan + 1,
            counted(records.len() as u64, "event", "events")
        );
        for record in &records {
            let header = header_for(record, sequence, started.elapsed());
            sequence += 1;
            let event = record.to_event(header);
            let value = event_json(&event);
            if options.json {
                writeln!(out, "{value}")?;
            } else {
                writeln!(out, "{}", text_line(&value))?;
            }
        }
    }
    out.flush()?;
    log::info!(
        "dry run finished: {} printed",
        counted(sequence, "event", "events")
    );
    Ok(())
}

/// Formats `count` followed by the singular or plural noun.
fn counted(count: u64, singular: &str, plural: &str) -> String {
    if count == 1 {
        format!("1 {singular}")
    } else {
        format!("{count} {plural}")
    }
}

fn header_for(record: &Record, sequence: u64, elapsed: Duration) -> Header {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Header {
        sequence,
        boot: 0,
        uptime_ms: elapsed.as_millis() as u64,
        // The clock of this example is not synchronized by the gateway.
        wall_clock: Some(WallClock {
            unix_ms: record.source_time_unix_ms().unwrap_or(now),
            synchronized: false,
        }),
        severity: record.severity(),
        hit_count: HitCount::ONE,
        window_ms: 0,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn mac(bytes: &[u8; 6]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn debug_name(value: impl std::fmt::Debug) -> String {
    // Enum variants in snake_case: `InvalidUser` becomes `invalid_user`.
    let name = format!("{value:?}");
    let mut snake = String::new();
    for (index, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if index > 0 {
                snake.push('_');
            }
            snake.push(c.to_ascii_lowercase());
        } else {
            snake.push(c);
        }
    }
    snake
}

/// Renders an event as a flat JSON object: `kind`, header fields, then the
/// body's fields with addresses as text and digests as hex.
fn event_json(event: &Event<'_>) -> Value {
    let header = &event.header;
    let mut object = json!({
        "kind": event.kind().name(),
        "class": event.class().name(),
        "severity": header.severity.name(),
        "sequence": header.sequence,
        "uptime_ms": header.uptime_ms,
        "wall_clock_ms": header.wall_clock.map(|c| c.unix_ms),
    });
    let body = match &event.body {
        EventBody::ProcessStarted(p) => json!({
            "pid": p.pid, "parent_pid": p.parent_pid, "uid": p.uid, "user": p.user.map(|u| u.as_str()),
            "executable": p.executable.as_str(), "command_line": p.command_line.as_str(),
            "start_kind": debug_name(p.start_kind),
        }),
        EventBody::ProcessExited(p) => {
            json!({ "pid": p.pid, "executable": p.executable.as_str(), "exit_code": p.exit_code })
        }
        EventBody::NetworkConnection(c) => json!({
            "protocol": c.protocol.name(), "direction": debug_name(c.direction),
            "local": c.local.to_string(), "remote": c.remote.to_string(),
            "pid": c.pid, "executable": c.executable.map(|e| e.as_str()),
        }),
        EventBody::ListeningPortOpened(l) | EventBody::ListeningPortClosed(l) => json!({
            "protocol": l.protocol.name(), "local": l.local.to_string(), "address": l.local.ip.to_string(),
            "port": l.local.port, "pid": l.pid, "executable": l.executable.map(|e| e.as_str()),
        }),
        EventBody::Login(l) => json!({
            "action": debug_name(l.action), "user": l.user.as_str(), "method": debug_name(l.method),
            "terminal": l.terminal.map(|t| t.as_str()), "source": l.source.map(|s| s.to_string()),
        }),
        EventBody::FileIntegrityChanged(f) => json!({
            "path": f.path.as_str(), "old_sha256": f.old_sha256.map(|d| hex(&d)), "new_sha256": f.new_sha256.map(|d| hex(&d)),
        }),
        EventBody::SystemInfo(s) => json!({
            "vendor": s.vendor.as_str(), "model": s.model.as_str(), "hostname": s.hostname.as_str(),
            "os_name": s.os_name.as_str(), "os_version": s.os_version.as_str(),
            "architecture": s.architecture.as_str(), "firmware_version": s.firmware_version.as_str(),
            "interfaces": s.interfaces.iter().map(|i| json!({
                "name": i.name.as_str(), "mac": i.mac.as_ref().map(mac),
                "addresses": i.addresses.iter().map(ToString::to_string).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        }),
        EventBody::BaselineCheck(b) => json!({
            "check_id": b.check_id.as_str(), "result": debug_name(b.result), "check_severity": b.severity.name(),
            "description": b.description.as_str(), "remediation": b.remediation.as_str(),
        }),
        EventBody::SoftwareComponent(s) => json!({
            "name": s.name.as_str(), "version": s.version.as_str(), "supplier": s.supplier.map(|v| v.as_str()),
            "purl": s.purl.map(|v| v.as_str()), "cpe": s.cpe.map(|v| v.as_str()), "sha256": s.sha256.map(|d| hex(&d)),
        }),
        EventBody::CollectionError(c) => json!({
            "collector": c.collector.as_str(), "path": c.path.map(|p| p.as_str()), "reason": c.reason.as_str(),
        }),
        other => json!({ "debug": format!("{other:?}") }),
    };
    if let (Value::Object(target), Value::Object(fields)) = (&mut object, body) {
        target.extend(fields);
    }
    object
}

/// Formats one readable line, `kind severity key=value ...`, without empty fields.
fn text_line(value: &Value) -> String {
    let Value::Object(fields) = value else {
        return value.to_string();
    };
    let kind = fields.get("kind").and_then(Value::as_str).unwrap_or("?");
    let severity = fields
        .get("severity")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let mut line = format!("{kind:<22} {severity:<8}");
    for (key, field) in fields {
        if matches!(
            key.as_str(),
            "kind" | "severity" | "class" | "sequence" | "uptime_ms" | "wall_clock_ms"
        ) || field.is_null()
        {
            continue;
        }
        match field {
            Value::String(text) => line.push_str(&format!(" {key}={text:?}")),
            other => line.push_str(&format!(" {key}={other}")),
        }
    }
    line
}
