//! `palisade-bench`: compares Palisade's gateway ingest with MQTT and JSON
//! on a mosquitto broker, side by side in one run.
//!
//! ```text
//! cargo run --release -p palisade-bench -- compare [--quick]
//! cargo run --release -p palisade-bench -- growth [--quick] [--plot FILE]
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use palisade_bench::report::{self, Summary};
use palisade_bench::run::{self, RunResult, RunSpec};
use palisade_bench::{consumer, gateway_child, plot, procstat};

#[derive(Parser)]
#[command(
    name = "palisade-bench",
    about = "Palisade gateway ingest against MQTT with JSON"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Both systems side by side with 100 and 1,000 devices.
    Compare {
        /// Fewer events and one run per configuration (under 3 minutes).
        #[arg(long)]
        quick: bool,
        /// Total events per run (default 200,000; 20,000 with --quick).
        #[arg(long)]
        events: Option<u64>,
        /// Runs per configuration (default 3; 1 with --quick).
        #[arg(long)]
        runs: Option<usize>,
        /// Outbox rows each gateway sink delivers per delivery round
        /// (default: the gateway's default, 256).
        #[arg(long)]
        delivery_rows: Option<usize>,
    },
    /// Throughput and server memory as the fleet grows.
    Growth {
        /// Sizes 10 to 1,000 with fewer events.
        #[arg(long)]
        quick: bool,
        /// SVG file for the plot (default docs/bench/throughput-vs-fleet.svg
        /// in the repository; a temporary file with --quick).
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Skip the MQTT runs.
        #[arg(long)]
        palisade_only: bool,
        /// Outbox rows each gateway sink delivers per delivery round
        /// (default: the gateway's default, 256).
        #[arg(long)]
        delivery_rows: Option<usize>,
        /// Fleet sizes, comma-separated (default 10,100,1000,10000;
        /// 10,100,1000 with --quick).
        #[arg(long, value_delimiter = ',')]
        sizes: Vec<usize>,
    },
    /// Internal: the gateway child process.
    #[command(hide = true)]
    ChildGateway {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        delivery_rows: Option<usize>,
    },
    /// Internal: the sink reader child process.
    #[command(hide = true)]
    ChildSinkReader {
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        devices: usize,
        #[arg(long)]
        events_per_device: u64,
    },
    /// Internal: the MQTT subscriber child process.
    #[command(hide = true)]
    ChildMqttSubscriber {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        devices: usize,
        #[arg(long)]
        events_per_device: u64,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Commands::Compare {
            quick,
            events,
            runs,
            delivery_rows,
        } => compare(quick, events, runs, delivery_rows),
        Commands::Growth {
            quick,
            plot,
            palisade_only,
            delivery_rows,
            sizes,
        } => growth(quick, plot, palisade_only, delivery_rows, sizes),
        Commands::ChildGateway { dir, delivery_rows } => gateway_child::run(&dir, delivery_rows),
        Commands::ChildSinkReader {
            out,
            devices,
            events_per_device,
        } => {
            let summary = consumer::read_sinks(&out, devices, events_per_device);
            print_summary(&summary)
        }
        Commands::ChildMqttSubscriber {
            port,
            devices,
            events_per_device,
        } => consumer::subscribe(port, devices, events_per_device).and_then(|s| print_summary(&s)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("palisade-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

fn print_summary(summary: &consumer::ConsumerSummary) -> Result<(), String> {
    let text = serde_json::to_string(summary).map_err(|e| e.to_string())?;
    println!("SUMMARY {text}");
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime failed: {e}"))
}

fn prepare() -> Result<(), String> {
    let limit = procstat::raise_open_files_limit()
        .map_err(|e| format!("raising the open-files limit failed: {e}"))?;
    tracing::info!(open_files_limit = limit, "benchmark starting");
    Ok(())
}

/// Runs one configuration of one system in a fresh temporary folder.
fn one_run(
    runtime: &tokio::runtime::Runtime,
    system: &str,
    spec: RunSpec,
) -> Result<RunResult, String> {
    let dir = tempfile::Builder::new()
        .prefix("palisade-bench-")
        .tempdir()
        .map_err(|e| format!("creating a temporary folder failed: {e}"))?;
    let result = match system {
        "palisade" => run::palisade(runtime, spec, dir.path()),
        _ => run::mqtt(runtime, spec, dir.path()),
    };
    // PALISADE_BENCH_KEEP=1 keeps the run's folder (logs, database, sink
    // files) for inspection.
    if std::env::var("PALISADE_BENCH_KEEP").is_ok_and(|v| v == "1") {
        eprintln!("run folder kept: {}", dir.keep().display());
    }
    let result = result?;
    eprintln!("{}", report::run_line(&result));
    Ok(result)
}

fn compare(
    quick: bool,
    events: Option<u64>,
    runs: Option<usize>,
    delivery_rows: Option<usize>,
) -> Result<(), String> {
    prepare()?;
    let started = Instant::now();
    let runtime = runtime()?;
    let events = events.unwrap_or(if quick { 20_000 } else { 200_000 });
    let runs = runs.unwrap_or(if quick { 1 } else { 3 }).max(1);
    let timeout = Duration::from_secs(if quick { 40 } else { 120 });
    let mut summaries = Vec::new();
    let mut ratios = Vec::new();
    for devices in [100usize, 1_000] {
        let spec = RunSpec {
            devices,
            events_per_device: (events / devices as u64).max(1),
            timeout,
            delivery_rows,
        };
        let mut palisade = Vec::new();
        let mut mqtt = Vec::new();
        for round in 0..runs {
            // Alternate the order so that neither system always runs on a
            // machine warmed or loaded by the other.
            let order = if round % 2 == 0 {
                ["palisade", "mqtt"]
            } else {
                ["mqtt", "palisade"]
            };
            for system in order {
                let result = one_run(&runtime, system, spec)?;
                if system == "palisade" {
                    palisade.push(result);
                } else {
                    mqtt.push(result);
                }
            }
        }
        let p = report::summarize(&palisade).ok_or("no Palisade run")?;
        let m = report::summarize(&mqtt).ok_or("no MQTT run")?;
        ratios.push((
            devices,
            p.events_per_s / m.events_per_s,
            p.bytes_per_event / m.bytes_per_event,
        ));
        summaries.push(p);
        summaries.push(m);
    }
    println!("{}", report::compare_table(&summaries));
    let find = |system: &str, devices: usize| {
        summaries
            .iter()
            .find(|s| s.system == system && s.devices == devices)
            .cloned()
    };
    let (Some(p100), Some(m100), Some(p1000), Some(m1000)) = (
        find("palisade", 100),
        find("mqtt_json", 100),
        find("palisade", 1_000),
        find("mqtt_json", 1_000),
    ) else {
        return Err("a configuration is missing".into());
    };
    let lost = summaries.iter().map(|s| s.lost).sum::<u64>();
    let duplicated = summaries.iter().map(|s| s.duplicated).sum::<u64>();
    // The headline figures are those of the 1,000-device configuration.
    let line = serde_json::json!({
        "palisade_events_per_s": round(p1000.events_per_s),
        "mqtt_json_events_per_s": round(m1000.events_per_s),
        "throughput_ratio": round3(p1000.events_per_s / m1000.events_per_s),
        "bytes_ratio": round3(p1000.bytes_per_event / m1000.bytes_per_event),
        "bytes_ratio_data_phase": round3(p1000.bytes_per_event_data_phase / m1000.bytes_per_event_data_phase),
        "palisade_bytes_per_event": round3(p1000.bytes_per_event),
        "mqtt_json_bytes_per_event": round3(m1000.bytes_per_event),
        "devices": 1_000,
        "throughput_ratio_100_devices": round3(p100.events_per_s / m100.events_per_s),
        "bytes_ratio_100_devices": round3(p100.bytes_per_event / m100.bytes_per_event),
        "palisade_latency_p50_ms": p1000.latency_p50_ms,
        "palisade_latency_p99_ms": p1000.latency_p99_ms,
        "mqtt_json_latency_p50_ms": m1000.latency_p50_ms,
        "mqtt_json_latency_p99_ms": m1000.latency_p99_ms,
        "lost": lost,
        "duplicated": duplicated,
        "events_per_run": events,
        "runs_per_configuration": runs,
        "gateway_delivery_rows": delivery_rows.map_or_else(|| "default".to_owned(), |r| r.to_string()),
        "goal_met": p1000.events_per_s >= 5.0 * m1000.events_per_s
            && p1000.bytes_per_event <= 0.25 * m1000.bytes_per_event
            && lost == 0,
        "wall_secs": round(started.elapsed().as_secs_f64()),
    });
    println!("{line}");
    Ok(())
}

fn round(value: f64) -> f64 {
    value.round()
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

fn default_plot_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/bench/throughput-vs-fleet.svg")
}

fn growth(
    quick: bool,
    plot_path: Option<PathBuf>,
    palisade_only: bool,
    delivery_rows: Option<usize>,
    sizes: Vec<usize>,
) -> Result<(), String> {
    prepare()?;
    let started = Instant::now();
    let runtime = runtime()?;
    let sizes = if !sizes.is_empty() {
        sizes
    } else if quick {
        vec![10, 100, 1_000]
    } else {
        vec![10, 100, 1_000, 10_000]
    };
    let total: u64 = if quick { 20_000 } else { 100_000 };
    let timeout = Duration::from_secs(if quick { 40 } else { 180 });
    let mut summaries: Vec<Summary> = Vec::new();
    let mut systems = vec!["palisade"];
    if !palisade_only {
        systems.push("mqtt");
    }
    for &devices in &sizes {
        let spec = RunSpec {
            devices,
            events_per_device: (total / devices as u64).max(10),
            timeout,
            delivery_rows,
        };
        for system in &systems {
            let result = one_run(&runtime, system, spec)?;
            summaries.extend(report::summarize(&[result]));
        }
    }
    println!("{}", report::growth_table(&summaries));
    let points = |system: &str| -> Vec<(usize, f64)> {
        summaries
            .iter()
            .filter(|s| s.system == system)
            .map(|s| (s.devices, s.events_per_s))
            .collect()
    };
    let palisade = points("palisade");
    let mqtt = points("mqtt_json");
    let path = plot_path.unwrap_or_else(|| {
        if quick {
            std::env::temp_dir().join("palisade-bench-growth-quick.svg")
        } else {
            default_plot_path()
        }
    });
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("creating {} failed: {e}", parent.display()))?;
    }
    let mut series = vec![plot::Series {
        label: "Palisade (sealed frames, durable outbox, OCSF sink)",
        points: &palisade,
        color: plotters::style::RGBColor(31, 90, 180),
    }];
    if !mqtt.is_empty() {
        series.push(plot::Series {
            label: "MQTT QoS 1 + JSON (mosquitto, no persistence)",
            points: &mqtt,
            color: plotters::style::RGBColor(200, 60, 40),
        });
    }
    plot::throughput_vs_fleet(
        &path,
        "End-to-end events per second against fleet size",
        &series,
    )?;
    eprintln!("plot written to {}", path.display());
    let line = serde_json::json!({
        "growth": summaries.iter().map(|s| serde_json::json!({
            "system": s.system,
            "devices": s.devices,
            "events_per_s": round(s.events_per_s),
            "server_peak_rss_kib": s.processes.get(1).map(|p| p.2),
            "lost": s.lost,
        })).collect::<Vec<_>>(),
        "plot": path.display().to_string(),
        "wall_secs": round(started.elapsed().as_secs_f64()),
    });
    println!("{line}");
    Ok(())
}
