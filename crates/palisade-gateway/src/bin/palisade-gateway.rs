//! The Palisade gateway service.
//!
//! ```text
//! palisade-gateway run --config gateway.toml --device-root oem-root.cred \
//!     --gateway-credential gateway.cred --gateway-key gateway.key.pk8 \
//!     [--revocation-list list.bin]
//! palisade-gateway inventory --config gateway.toml [--json]
//! palisade-gateway findings --config gateway.toml [--json]
//! ```
//!
//! `run` admits devices on the configured listener, stores and inspects
//! their events, delivers them to the sinks and serves Prometheus metrics on
//! loopback. On SIGTERM or Ctrl-C it stops admitting, closes the sessions,
//! drains the outbox for at most `--drain-secs` seconds and exits.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use palisade_credential::{
    ChainVerifier, RevocationList, SoftwareSigner, TrustAnchor, TrustStore, VerificationTime,
};
use palisade_gateway::config::Config;
use palisade_gateway::delivery::Delivery;
use palisade_gateway::inventory::Inventory;
use palisade_gateway::metrics::{self, Metrics};
use palisade_gateway::outbox::Outbox;
use palisade_gateway::pipeline::{DeliveryStore, GatewayCore};
use palisade_gateway::server::{self, ServerConfig, SharedCore};

/// Period of the delivery tick. A tick on a caught-up outbox reads one
/// cursor and finds no row per sink, so a short period costs little.
const DELIVERY_TICK: Duration = Duration::from_millis(100);

/// Maximum time one delivery tick keeps running rounds back to back on a
/// backlog. Delivery uses database connections of its own, so session
/// commits run beside it.
const DELIVERY_BUDGET: Duration = Duration::from_millis(250);

#[derive(Parser)]
#[command(
    name = "palisade-gateway",
    version,
    about = "The Palisade gateway service"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Admit devices and process their events until SIGTERM or Ctrl-C.
    Run {
        /// Gateway configuration (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Device maker root credential to pin (repeatable).
        #[arg(long = "device-root", required = true)]
        device_roots: Vec<PathBuf>,
        /// The gateway's credential from the operator root.
        #[arg(long)]
        gateway_credential: PathBuf,
        /// The gateway's private key (PKCS#8).
        #[arg(long)]
        gateway_key: PathBuf,
        /// Revocation list signed by a pinned root (repeatable).
        #[arg(long = "revocation-list")]
        revocation_lists: Vec<PathBuf>,
        /// Longest time to drain the outbox on shutdown, in seconds.
        #[arg(long, default_value_t = 10)]
        drain_secs: u64,
    },
    /// List the devices in the inventory.
    Inventory {
        /// Gateway configuration (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List the findings still in the outbox.
    Findings {
        /// Gateway configuration (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("reading {} failed: {e}", path.display()))
}

fn load_config(path: &Path) -> Result<Config, String> {
    Config::load(path).map_err(|e| format!("configuration {}: {e}", path.display()))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Commands::Run {
            config,
            device_roots,
            gateway_credential,
            gateway_key,
            revocation_lists,
            drain_secs,
        } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("starting the async runtime failed: {e}"))
            .and_then(|runtime| {
                runtime.block_on(run(
                    &config,
                    &device_roots,
                    &gateway_credential,
                    &gateway_key,
                    &revocation_lists,
                    Duration::from_secs(drain_secs),
                ))
            }),
        Commands::Inventory { config, json } => inventory(&config, json),
        Commands::Findings { config, json } => findings(&config, json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("palisade-gateway: {message}");
            ExitCode::FAILURE
        }
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn run(
    config_path: &Path,
    device_roots: &[PathBuf],
    gateway_credential: &Path,
    gateway_key: &Path,
    revocation_lists: &[PathBuf],
    drain: Duration,
) -> Result<(), String> {
    let config = load_config(config_path)?;
    raise_open_files_limit();
    let now = now_secs();
    let mut roots = TrustStore::new();
    for path in device_roots {
        let anchor =
            TrustAnchor::from_root_credential(&read(path)?, VerificationTime::Trusted(now))
                .map_err(|e| format!("device root {}: {e}", path.display()))?;
        roots
            .pin(anchor)
            .map_err(|_| format!("too many device roots; {} does not fit", path.display()))?;
    }
    let mut revocations = Vec::new();
    for path in revocation_lists {
        let list = RevocationList::decode_and_verify(
            &read(path)?,
            &roots,
            None,
            VerificationTime::Trusted(now),
        )
        .map_err(|e| format!("revocation list {}: {e}", path.display()))?;
        revocations.push(list);
    }
    let signer = SoftwareSigner::from_pkcs8(&read(gateway_key)?)
        .map_err(|e| format!("gateway key {}: {e}", gateway_key.display()))?;

    let metrics = Metrics::new();
    let mut core = GatewayCore::open(config.clone(), metrics.clone())
        .map_err(|e| format!("opening the gateway database failed: {e}"))?;
    // A rejected reference file is logged and skipped; only a folder that
    // cannot be listed stops the start.
    core.load_reference_sboms(&roots, VerificationTime::Trusted(now), &revocations)
        .map_err(|e| e.to_string())?;
    let core: SharedCore = Arc::new(Mutex::new(core));
    let delivery = Delivery::from_config(
        &config,
        palisade_export::Origin::new("palisade-gateway", env!("CARGO_PKG_VERSION")),
    )
    .map_err(|e| format!("opening the sinks failed: {e}"))?;
    let store = DeliveryStore::open(&config, metrics.clone())
        .map_err(|e| format!("opening the delivery connections to the database failed: {e}"))?;
    let delivery = Arc::new(Mutex::new((delivery, store)));

    if config.metrics.enabled {
        let listener = metrics::bind(config.metrics.address)
            .await
            .map_err(|e| format!("metrics endpoint: {e}"))?;
        if let Ok(address) = listener.local_addr() {
            tracing::info!(%address, "metrics endpoint started");
        }
        tokio::spawn(metrics::serve(listener, metrics.clone()));
    }
    let listener = tokio::net::TcpListener::bind(config.listener.address)
        .await
        .map_err(|e| {
            format!(
                "binding the listener on {} failed: {e}",
                config.listener.address
            )
        })?;
    let server = server::spawn(
        listener,
        core.clone(),
        ServerConfig {
            verifier: ChainVerifier::new(roots),
            revocations,
            gateway_credential: read(gateway_credential)?,
            gateway_signer: signer,
            step_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(300),
            max_batch_records: config.outbox.max_batch_events,
            admissions_per_source_per_minute: config.listener.admissions_per_source_per_minute,
            models: Default::default(),
            command_validity_secs: config.response.command_validity_secs,
        },
    );
    tracing::info!(address = %server.local_addr(), "gateway started");

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("installing the SIGTERM handler failed: {e}"))?;
    let mut ticker = tokio::time::interval(DELIVERY_TICK);
    let mut posture_ticker =
        tokio::time::interval(Duration::from_secs(config.posture.check_interval_secs));
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = posture_ticker.tick() => {
                let core = core.clone();
                let check = tokio::task::spawn_blocking(move || {
                    core.lock().unwrap_or_else(|p| p.into_inner()).check_sbom_drift(palisade_gateway::finding::now_unix_ms())
                }).await;
                match check {
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => tracing::error!(%error, "SBOM drift check failed"),
                    Err(error) => tracing::error!(%error, "SBOM drift check panicked"),
                }
            }
            _ = ticker.tick() => {
                let delivery = delivery.clone();
                let round = tokio::task::spawn_blocking(move || {
                    let mut guard = delivery.lock().unwrap_or_else(|p| p.into_inner());
                    let (delivery, store) = &mut *guard;
                    store.deliver_backlog(delivery, DELIVERY_BUDGET).map(|_| ())
                }).await;
                match round {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => tracing::error!(%error, "delivery failed"),
                    Err(error) => tracing::error!(%error, "delivery panicked"),
                }
            }
        }
    }
    tracing::info!("stop requested: no more admissions; closing sessions");
    let started = Instant::now();
    server.shutdown(drain / 2).await;
    let remaining = drain.saturating_sub(started.elapsed());
    let drained = tokio::time::timeout(
        remaining,
        tokio::task::spawn_blocking(move || {
            let mut guard = delivery.lock().unwrap_or_else(|p| p.into_inner());
            let (delivery, store) = &mut *guard;
            store.drain(delivery, 100_000)
        }),
    )
    .await;
    match drained {
        Ok(Ok(Ok(rows))) => tracing::info!(rows, "outbox drained; gateway stopped"),
        Ok(Ok(Err(error))) => {
            tracing::error!(%error, "draining the outbox failed; undelivered rows stay for the next start")
        }
        Ok(Err(error)) => tracing::error!(%error, "draining the outbox panicked"),
        Err(_) => tracing::warn!(
            drain_ms = drain.as_millis() as u64,
            "outbox not drained within the bound; undelivered rows stay for the next start"
        ),
    }
    Ok(())
}

/// Raises the soft limit of open files to the hard limit, because every
/// device session uses one socket, and logs the limit in force.
fn raise_open_files_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let before = getrlimit(Resource::Nofile);
    let raised = Rlimit {
        current: before.maximum,
        maximum: before.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => tracing::info!(
            soft = ?getrlimit(Resource::Nofile).current,
            hard = ?before.maximum,
            "open files limit set"
        ),
        Err(error) => tracing::warn!(
            %error,
            soft = ?before.current,
            "raising the open files limit failed; each device session needs one"
        ),
    }
}

/// Checks that the database of a listing command exists, so that a wrong
/// `[paths] database` is reported instead of creating an empty database.
fn existing_database(config: &Config, config_path: &Path) -> Result<(), String> {
    let database = &config.paths.database;
    if database.exists() {
        return Ok(());
    }
    Err(format!(
        "database {} not found; set [paths] database in {} to the file the gateway writes",
        database.display(),
        config_path.display()
    ))
}

fn inventory(config_path: &Path, json: bool) -> Result<(), String> {
    let config = load_config(config_path)?;
    existing_database(&config, config_path)?;
    let inventory = Inventory::open(&config.paths.database)
        .map_err(|e| format!("opening {}: {e}", config.paths.database.display()))?;
    let devices = inventory.devices().map_err(|e| e.to_string())?;
    if json {
        let text = serde_json::to_string_pretty(&devices).map_err(|e| e.to_string())?;
        println!("{text}");
        return Ok(());
    }
    println!(
        "{:<34} {:<26} {:<14} {:<10} {:<9} {:<22}",
        "DEVICE", "MODEL", "VENDOR", "FIRMWARE", "STATE", "ADDRESS"
    );
    for device in &devices {
        println!(
            "{:<34} {:<26} {:<14} {:<10} {:<9} {:<22}",
            device.device.to_string(),
            device.model,
            device.vendor,
            device.firmware,
            device.state.name(),
            device.address.as_deref().unwrap_or("-")
        );
    }
    println!("{} devices", devices.len());
    Ok(())
}

fn findings(config_path: &Path, json: bool) -> Result<(), String> {
    let config = load_config(config_path)?;
    existing_database(&config, config_path)?;
    let outbox = Outbox::open(&config.paths.database, &config.outbox)
        .map_err(|e| format!("opening {}: {e}", config.paths.database.display()))?;
    let mut after = 0;
    let mut all = Vec::new();
    loop {
        let rows = outbox.read_after(after, 512).map_err(|e| e.to_string())?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        for row in &rows {
            if let Some(finding) = row.finding() {
                all.push(finding.map_err(|e| e.to_string())?);
            }
        }
    }
    if !json {
        println!("{:<22} {:<8} {:<34} SUMMARY", "RULE", "SEVERITY", "DEVICE");
    }
    for finding in &all {
        if json {
            let value = serde_json::json!({
                "rule": finding.rule.to_string(),
                "severity": format!("{:?}", finding.severity),
                "device": finding.device.map(|d| d.to_string()),
                "summary": finding.summary,
                "time_unix_ms": finding.time_unix_ms,
                "evidence": finding.evidence.len(),
            });
            println!("{value}");
        } else {
            println!(
                "{:<22} {:<8} {:<34} {}",
                finding.rule.to_string(),
                finding.severity.name(),
                finding
                    .device
                    .map_or_else(|| "-".to_owned(), |d| d.to_string()),
                finding.summary
            );
        }
    }
    if !json {
        println!("{} findings", all.len());
    }
    Ok(())
}
