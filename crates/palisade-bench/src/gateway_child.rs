//! The gateway process of the Palisade run: the library's admission server,
//! gateway core and sinks, started the way the `palisade-gateway` binary's
//! `run` command starts them (same server settings, the same delivery tick:
//! every 100 ms, rounds back to back for up to 250 ms while rows remain, on
//! the delivery side's own database connections), in
//! a child process of its own so that its CPU time and memory are measured
//! apart from the devices.
//!
//! Protocol with the parent: the child prints `LISTENING <address>` on
//! standard output once it accepts devices, and `ADMITTED <count>` each
//! time the number of admitted devices changed (checked every 50 ms), so
//! that the parent can start the data phase after the last admission
//! commit. When its standard input closes
//! it stops the server, drains the outbox into the sinks and prints
//! `STATS <json>` with the server's counters.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade_credential::{
    ChainVerifier, SoftwareSigner, TrustAnchor, TrustStore, VerificationTime,
};
use palisade_gateway::config::{Config, SinkConfig};
use palisade_gateway::delivery::Delivery;
use palisade_gateway::metrics::Metrics;
use palisade_gateway::pipeline::{DeliveryStore, GatewayCore};
use palisade_gateway::server::{self, ServerConfig, SharedCore};
use tokio::io::AsyncReadExt;

/// Delivery tick and per-tick time budget, the same as the
/// `palisade-gateway` binary's.
const DELIVERY_TICK: Duration = Duration::from_millis(100);
const DELIVERY_BUDGET: Duration = Duration::from_millis(250);

/// Rotation size of the bench's sink files: large enough that a run never
/// rotates, so the sink reader follows one file per sink.
const ROTATE_BYTES: u64 = 1 << 40;

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("reading {} failed: {e}", path.display()))
}

/// Returns the gateway configuration of a run in `dir`: the default sinks
/// (`out/security.jsonl` and `out/telemetry.jsonl`), the database
/// `gateway.sqlite`, and an admission rate limit that lets every simulated
/// device in, because they all connect from 127.0.0.1. `delivery_rows`
/// replaces the outbox's rows per sink and delivery round when given.
pub fn config(dir: &Path, delivery_rows: Option<usize>) -> Config {
    let mut config = Config::with_default_sinks();
    if let Some(rows) = delivery_rows {
        config.outbox.delivery_rows = rows.max(1);
    }
    config.paths.database = dir.join("gateway.sqlite");
    config.paths.output = dir.join("out");
    config.listener.admissions_per_source_per_minute = 1_000_000;
    for sink in config.sinks.values_mut() {
        if let SinkConfig::OcsfJsonl(file) | SinkConfig::TelemetryJsonl(file) = sink {
            file.rotate_bytes = ROTATE_BYTES;
        }
    }
    config
}

/// Runs the gateway of a run in `dir` until standard input closes.
pub fn run(dir: &Path, delivery_rows: Option<usize>) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime failed: {e}"))?;
    runtime.block_on(serve(dir, delivery_rows))
}

async fn serve(dir: &Path, delivery_rows: Option<usize>) -> Result<(), String> {
    let config = config(dir, delivery_rows);
    std::fs::create_dir_all(&config.paths.output)
        .map_err(|e| format!("creating {} failed: {e}", config.paths.output.display()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let anchor = TrustAnchor::from_root_credential(
        &read(&dir.join("oem-root.cred"))?,
        VerificationTime::Trusted(now),
    )
    .map_err(|e| format!("device root: {e}"))?;
    let mut roots = TrustStore::new();
    roots
        .pin(anchor)
        .map_err(|_| "the device root does not fit the trust store".to_owned())?;
    let signer = SoftwareSigner::from_pkcs8(&read(&dir.join("gateway.key.pk8"))?)
        .map_err(|e| format!("gateway key: {e}"))?;

    let metrics = Metrics::new();
    let core = GatewayCore::open(config.clone(), metrics.clone())
        .map_err(|e| format!("opening the gateway database failed: {e}"))?;
    let core: SharedCore = Arc::new(Mutex::new(core));
    let delivery = Delivery::from_config(
        &config,
        palisade_export::Origin::new("palisade-gateway", env!("CARGO_PKG_VERSION")),
    )
    .map_err(|e| format!("opening the sinks failed: {e}"))?;
    let store = DeliveryStore::open(&config, metrics.clone())
        .map_err(|e| format!("opening the delivery connections to the database failed: {e}"))?;
    let delivery = Arc::new(Mutex::new((delivery, store)));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| format!("binding the listener on 127.0.0.1 failed: {e}"))?;
    let server = server::spawn(
        listener,
        core.clone(),
        ServerConfig {
            verifier: ChainVerifier::new(roots),
            revocations: Vec::new(),
            gateway_credential: read(&dir.join("gateway.cred"))?,
            gateway_signer: signer,
            step_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(300),
            max_batch_records: config.outbox.max_batch_events,
            admissions_per_source_per_minute: config.listener.admissions_per_source_per_minute,
            models: Default::default(),
            command_validity_secs: config.response.command_validity_secs,
        },
    );
    {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "LISTENING {}", server.local_addr());
        let _ = stdout.flush();
    }
    tracing::info!(address = %server.local_addr(), "bench gateway started");

    let mut stdin = tokio::io::stdin();
    let mut scratch = [0u8; 64];
    let mut ticker = tokio::time::interval(DELIVERY_TICK);
    let mut admission_check = tokio::time::interval(Duration::from_millis(50));
    let mut admitted_reported = 0;
    loop {
        tokio::select! {
            _ = admission_check.tick() => {
                let admitted = server.stats().admitted.load(std::sync::atomic::Ordering::Relaxed);
                if admitted != admitted_reported {
                    admitted_reported = admitted;
                    let mut stdout = std::io::stdout().lock();
                    let _ = writeln!(stdout, "ADMITTED {admitted}");
                    let _ = stdout.flush();
                }
            }
            read = stdin.read(&mut scratch) => {
                if matches!(read, Ok(0) | Err(_)) {
                    break;
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
    let stats = server.stats();
    let load =
        |counter: &std::sync::atomic::AtomicU64| counter.load(std::sync::atomic::Ordering::Relaxed);
    let summary = serde_json::json!({
        "connections": load(&stats.connections),
        "admitted": load(&stats.admitted),
        "refused": load(&stats.refused),
        "records_acknowledged": load(&stats.records_acknowledged),
        "records_undecodable": load(&stats.records_undecodable),
    });
    server.shutdown(Duration::from_secs(5)).await;
    let drained = tokio::task::spawn_blocking(move || {
        let mut guard = delivery.lock().unwrap_or_else(|p| p.into_inner());
        let (delivery, store) = &mut *guard;
        store.drain(delivery, 100_000)
    })
    .await;
    match drained {
        Ok(Ok(rows)) => tracing::info!(rows, "outbox drained; bench gateway stopped"),
        Ok(Err(error)) => tracing::error!(%error, "draining the outbox failed"),
        Err(error) => tracing::error!(%error, "draining the outbox panicked"),
    }
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "STATS {summary}");
    let _ = stdout.flush();
    Ok(())
}
