//! Medians over repeated runs and the printed tables.

use serde::Serialize;

use crate::run::RunResult;
use crate::stats::median;

/// Median figures of one (system, fleet size) configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// `palisade` or `mqtt_json`.
    pub system: &'static str,
    /// Simulated devices.
    pub devices: usize,
    /// Events per run.
    pub events: u64,
    /// Runs the medians are taken over.
    pub runs: usize,
    /// Median events per second, end to end.
    pub events_per_s: f64,
    /// Median events acknowledged to devices per second.
    pub acknowledged_per_s: f64,
    /// Median connection (and admission) phase in seconds.
    pub connect_secs: f64,
    /// Median of the runs' latency medians, in ms.
    pub latency_p50_ms: f64,
    /// Median of the runs' 99th percentiles, in ms.
    pub latency_p99_ms: f64,
    /// Median bytes per event on the devices' sockets, connection setup
    /// included.
    pub bytes_per_event: f64,
    /// The same, data phase only.
    pub bytes_per_event_data_phase: f64,
    /// Lost events summed over the runs.
    pub lost: u64,
    /// Duplicated events summed over the runs.
    pub duplicated: u64,
    /// Per process: role, median CPU seconds per million events, median
    /// peak RSS in KiB.
    pub processes: Vec<(&'static str, f64, f64)>,
}

/// Formats a latency for the progress line: the figure, or "n/a" for a run
/// that sampled none.
fn milliseconds(value: Option<u32>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |ms| ms.to_string())
}

fn latency(value: Option<u32>) -> f64 {
    value.map_or(f64::NAN, f64::from)
}

/// Summarizes the runs of one configuration (all of the same system and
/// fleet size). Returns `None` for no runs.
pub fn summarize(runs: &[RunResult]) -> Option<Summary> {
    let first = runs.first()?;
    let pick = |f: &dyn Fn(&RunResult) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    let processes = first
        .processes
        .iter()
        .enumerate()
        .map(|(index, process)| {
            let cpu = pick(&|r| {
                r.processes
                    .get(index)
                    .map_or(0.0, |p| p.cpu_secs_per_million_events)
            });
            let rss = pick(&|r| {
                r.processes
                    .get(index)
                    .map_or(0.0, |p| p.peak_rss_kib as f64)
            });
            (process.role, cpu, rss)
        })
        .collect();
    Some(Summary {
        system: first.system,
        devices: first.devices,
        events: first.events,
        runs: runs.len(),
        events_per_s: pick(&|r| r.events_per_s),
        acknowledged_per_s: pick(&|r| r.acknowledged_per_s),
        connect_secs: pick(&|r| r.connect_secs),
        latency_p50_ms: pick(&|r| latency(r.latency.p50_ms)),
        latency_p99_ms: pick(&|r| latency(r.latency.p99_ms)),
        bytes_per_event: pick(&|r| r.bytes_per_event),
        bytes_per_event_data_phase: pick(&|r| r.bytes_per_event_data_phase),
        lost: runs.iter().map(|r| r.lost).sum(),
        duplicated: runs.iter().map(|r| r.duplicated).sum(),
        processes,
    })
}

/// Formats one run as a progress line.
pub fn run_line(run: &RunResult) -> String {
    let processes: Vec<String> = run
        .processes
        .iter()
        .map(|p| {
            format!(
                "{} {:.2} CPU-s/M, {} MiB",
                p.role,
                p.cpu_secs_per_million_events,
                p.peak_rss_kib / 1024
            )
        })
        .collect();
    format!(
        "{:<9} {:>5} devices {:>7} events: {:>8.0} events/s (acked {:>8.0}/s), p50 {} ms p99 {} ms, {:.1} B/event, lost {} dup {}, connect {:.1} s; {}",
        run.system,
        run.devices,
        run.events,
        run.events_per_s,
        run.acknowledged_per_s,
        milliseconds(run.latency.p50_ms),
        milliseconds(run.latency.p99_ms),
        run.bytes_per_event,
        run.lost,
        run.duplicated,
        run.connect_secs,
        processes.join("; ")
    )
}

/// Formats the side-by-side table (Markdown) of `summaries`.
pub fn compare_table(summaries: &[Summary]) -> String {
    let mut text = String::new();
    text.push_str("| system | devices | events | runs | events/s (median) | acked/s | latency p50 / p99 (ms) | bytes/event (with setup / data only) | lost | duplicated | CPU s per million events | peak RSS (MiB) |\n");
    text.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for summary in summaries {
        let cpu: Vec<String> = summary
            .processes
            .iter()
            .map(|(role, cpu, _)| format!("{role}: {cpu:.2}"))
            .collect();
        let rss: Vec<String> = summary
            .processes
            .iter()
            .map(|(role, _, rss)| format!("{role}: {:.1}", rss / 1024.0))
            .collect();
        text.push_str(&format!(
            "| {} | {} | {} | {} | {:.0} | {:.0} | {:.0} / {:.0} | {:.1} / {:.1} | {} | {} | {} | {} |\n",
            summary.system,
            summary.devices,
            summary.events,
            summary.runs,
            summary.events_per_s,
            summary.acknowledged_per_s,
            summary.latency_p50_ms,
            summary.latency_p99_ms,
            summary.bytes_per_event,
            summary.bytes_per_event_data_phase,
            summary.lost,
            summary.duplicated,
            cpu.join("; "),
            rss.join("; ")
        ));
    }
    text
}

/// Formats the growth table (Markdown).
pub fn growth_table(summaries: &[Summary]) -> String {
    let mut text = String::new();
    text.push_str("| system | devices | events | events/s | connect + admit (s) | latency p50 / p99 (ms) | lost | duplicated | server peak RSS (MiB) | server CPU s per million events |\n");
    text.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    for summary in summaries {
        // The second process is the server: the gateway or mosquitto.
        let (cpu, rss) = summary
            .processes
            .get(1)
            .map_or((f64::NAN, f64::NAN), |p| (p.1, p.2 / 1024.0));
        text.push_str(&format!(
            "| {} | {} | {} | {:.0} | {:.1} | {:.0} / {:.0} | {} | {} | {:.1} | {:.2} |\n",
            summary.system,
            summary.devices,
            summary.events,
            summary.events_per_s,
            summary.connect_secs,
            summary.latency_p50_ms,
            summary.latency_p99_ms,
            summary.lost,
            summary.duplicated,
            rss,
            cpu
        ));
    }
    text
}
