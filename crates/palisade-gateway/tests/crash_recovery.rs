//! Kills the gateway binary with SIGKILL while devices send, restarts it on
//! the same database and output folder, and checks that every event the
//! devices recorded appears exactly once in the sink files.
//!
//! The devices are the real agent (store-and-forward queue, acknowledgements
//! after commit, reconnection with backoff) over loopback TCP. An event the
//! killed gateway acknowledged must already be committed to its outbox. An
//! event it did not acknowledge stays in the device's queue and is sent
//! again to the restarted gateway, which skips the ones it had committed
//! but not acknowledged.
//!
//! The devices record on a fixed schedule until the test stops their
//! recording after the last kill, so every kill lands while they are still
//! recording and sending, however slowly the processes started. The kill is
//! aimed at a delivery round (right after a sink file grows), and repeated
//! up to [`MAX_KILLS`] times until one lands after the gateway wrote sink
//! lines and before it saved that sink's cursor. The restarted gateway must
//! then skip the lines its sink files already contain.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::agent_device::{
    DeviceHandle, DevicePlan, DeviceReport, ProgressSnapshot, SinkContents, Tally, spawn_device,
};
use common::gateway_process::{GatewayConfig, GatewayProcess, TestPki, metric_value};
use palisade_gateway::config::OutboxConfig;
use palisade_gateway::outbox::Outbox;
use serde_json::Value;

const DEVICES: usize = 4;

/// Events each device gets acknowledged before the first kill.
const BEFORE_FIRST_KILL: u64 = 100;

/// Each device records until the test calls
/// [`DeviceHandle::stop_recording`], and `events` only bounds the recording
/// (25 s at one event per 5 ms). The device's queue (4096 records) contains
/// only the events not yet acknowledged, a few hundred while the gateway
/// restarts.
const PLAN: DevicePlan = DevicePlan {
    events: 5000,
    interval: Duration::from_millis(5),
    security_every: 4,
    time_limit: Duration::from_secs(40),
    idle_timeout_ms: 10,
    ack_timeout_ms: Some(palisade_agent::DEFAULT_ACK_TIMEOUT_MS),
};

/// Polls `condition` every 10 ms for at most `limit`; returns whether it held.
fn wait_for(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Counts the complete lines of a sink file whose outbox row is above
/// `cursor`, the last row the sink's saved cursor covers.
fn lines_beyond(path: &Path, cursor: i64) -> u64 {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut count = 0;
    for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let position = value["unmapped"]["palisade_outbox"]
            .as_str()
            .or(value["outbox_position"].as_str());
        let row = position
            .and_then(|p| p.split('.').next())
            .and_then(|row| row.parse::<i64>().ok());
        if row.is_some_and(|row| row > cursor) {
            count += 1;
        }
    }
    count
}

/// Kills of the gateway, at most this many, until one lands between a sink
/// write and the save of that sink's cursor. The gateway checks for
/// undelivered rows every 100 ms and runs delivery rounds back to back while
/// rows remain. The window lasts while a round writes its lines (up to a few
/// hundred with four devices sending), syncs the file and commits the cursor. A kill aimed at a round's first line misses the window only when
/// the test thread is descheduled for that long.
const MAX_KILLS: usize = 8;

/// No new kill starts after this much time of killing and restarting, so
/// that the devices' recording (bounded by [`PLAN`]) outlasts the kills.
const KILL_PHASE: Duration = Duration::from_secs(8);

/// What one SIGKILL left behind.
struct Kill {
    /// The devices' progress when they noticed the kill.
    at_kill: Vec<ProgressSnapshot>,
    /// Sink lines the killed gateway wrote past its saved cursors.
    beyond_cursor: u64,
}

fn snapshots(devices: &[DeviceHandle]) -> Vec<ProgressSnapshot> {
    devices.iter().map(|d| d.progress.snapshot()).collect()
}

#[test]
fn sigkill_mid_stream_loses_and_duplicates_nothing() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let pki = TestPki::generate(&dir.path().join("pki"), DEVICES);
    let mut config = GatewayConfig::in_dir(dir.path());
    let config_path = config.write(&dir.path().join("gateway.toml"));
    let first = GatewayProcess::start(&pki, &config_path, 10).unwrap_or_else(|e| panic!("{e}"));
    let address = first.addr();
    let devices: Vec<DeviceHandle> = (0..DEVICES)
        .map(|index| spawn_device(&pki, index, address, PLAN))
        .collect();

    // Kill while every device is mid-stream: some of its events
    // acknowledged and, on at least one device, records in flight.
    let mid_stream = wait_for(Duration::from_secs(20), || {
        snapshots(&devices)
            .iter()
            .all(|s| s.acknowledged >= BEFORE_FIRST_KILL)
    });
    assert!(
        mid_stream,
        "devices did not get {BEFORE_FIRST_KILL} events each acknowledged: {:?}\n{}",
        snapshots(&devices),
        first.log_text()
    );
    let security = config.output.join("security.jsonl");
    let telemetry = config.output.join("telemetry.jsonl");
    let sizes = || [file_len(&security), file_len(&telemetry)];
    let mut gateway = first;
    let mut kills: Vec<Kill> = Vec::new();
    let kill_phase = Instant::now();
    loop {
        wait_for(Duration::from_secs(2), || {
            snapshots(&devices)
                .iter()
                .any(|s| s.sent_high_water > s.acknowledged)
        });
        // Aim the kill into a delivery round: right after a sink file grows,
        // the gateway is writing lines, syncing the file or saving the
        // sink's cursor.
        let before = sizes();
        let round_started = Instant::now();
        while sizes() == before && round_started.elapsed() < Duration::from_secs(2) {
            std::thread::yield_now();
        }
        let killed_pid = gateway.pid();
        let status = gateway.kill();
        assert_eq!(status.signal(), Some(9), "the gateway died of SIGKILL");

        // Lines the killed gateway wrote past the cursor it saved: the
        // restarted gateway must not write them again.
        let beyond_cursor = {
            let outbox = Outbox::open(&config.database, &OutboxConfig::default())
                .expect("the killed gateway's database opens");
            lines_beyond(
                &security,
                outbox.cursor("security").expect("security cursor"),
            ) + lines_beyond(
                &telemetry,
                outbox.cursor("telemetry").expect("telemetry cursor"),
            )
        };

        // Each device notices the broken connection. What it saw
        // acknowledged until then, the killed process acknowledged.
        let noticed = wait_for(Duration::from_secs(5), || {
            snapshots(&devices).iter().all(|s| !s.online)
        });
        assert!(
            noticed,
            "devices still online after the kill: {:?}",
            snapshots(&devices)
        );
        let at_kill = snapshots(&devices);

        // Restart on the same listener port, database and output folder.
        config.listen = address;
        config.write(&config_path);
        gateway = GatewayProcess::start(&pki, &config_path, 10).unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(gateway.pid(), killed_pid);
        assert_eq!(
            gateway.addr(),
            address,
            "the restarted gateway takes the same port"
        );
        kills.push(Kill {
            at_kill: at_kill.clone(),
            beyond_cursor,
        });
        // Every device reconnects to the restarted gateway and gets events
        // acknowledged by it.
        let back = wait_for(Duration::from_secs(10), || {
            snapshots(&devices).iter().zip(&at_kill).all(|(now, then)| {
                now.sessions > then.sessions && now.acknowledged > then.acknowledged
            })
        });
        assert!(
            back,
            "devices did not resume with the restarted gateway: {:?}\n{}",
            snapshots(&devices),
            gateway.log_text()
        );
        if beyond_cursor > 0 || kills.len() == MAX_KILLS || kill_phase.elapsed() > KILL_PHASE {
            break;
        }
        // The kill missed the window between a sink write and its cursor
        // save: kill again, the devices are back and sending.
    }
    for device in &devices {
        device.stop_recording();
    }
    let last = gateway;
    let at_kill = kills[0].at_kill.clone();
    let beyond_cursor: u64 = kills.iter().map(|k| k.beyond_cursor).sum();

    let finished = wait_for(PLAN.time_limit, || {
        devices.iter().all(|d| {
            d.progress
                .finished
                .load(std::sync::atomic::Ordering::SeqCst)
        })
    });
    assert!(
        finished,
        "devices did not finish: {:?}\n{}",
        snapshots(&devices),
        last.log_text()
    );
    let metrics = last.scrape_metrics().unwrap_or_else(|e| panic!("{e}"));
    let duplicates_skipped =
        metric_value(&metrics, "palisade_duplicate_events_total").expect("duplicate counter");
    let last_log = last.log_handle();
    let status = last
        .terminate(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}"));
    let last_log = last_log.text();
    assert!(status.success(), "clean shutdown, got {status}\n{last_log}");
    assert!(
        last_log.contains("outbox drained; gateway stopped"),
        "the gateway drained its outbox on SIGTERM:\n{last_log}"
    );
    let outbox = Outbox::open(&config.database, &OutboxConfig::default())
        .expect("the stopped gateway's database opens");
    assert_eq!(
        outbox
            .depth(&["security", "telemetry"])
            .expect("outbox depth"),
        0,
        "every outbox row was delivered to both sinks"
    );

    let reports: Vec<DeviceReport> = devices.into_iter().map(DeviceHandle::join).collect();
    for report in &reports {
        assert_eq!(report.error, None, "device {}", report.index);
        // Each kill landed while the device was recording: it recorded
        // events after the last kill, and its recording ended on the stop
        // request, not at the plan's bound.
        let last_kill = &kills.last().expect("one kill at least").at_kill[report.index];
        assert!(
            report.recorded > last_kill.recorded,
            "device {} recorded {} events, {} at the last kill",
            report.index,
            report.recorded,
            last_kill.recorded
        );
        assert!(
            report.recorded < PLAN.events,
            "device {} recorded {} events, reaching the bound of {} before the stop request",
            report.index,
            report.recorded,
            PLAN.events
        );
        assert_eq!(report.queued, 0, "device {} queue empty", report.index);
        assert_eq!(report.dropped, 0, "device {} dropped nothing", report.index);
        assert!(
            report.handshakes > kills.len() as u64,
            "device {} reconnected after each of {} kills: {report:?}",
            report.index,
            kills.len()
        );
    }

    let contents = SinkContents::read(&config.output);
    let acknowledged_ranges: Vec<_> = reports
        .iter()
        .zip(&at_kill)
        .map(|(report, kill)| (report, 0..kill.acknowledged))
        .collect();
    let rest_ranges: Vec<_> = reports
        .iter()
        .zip(&at_kill)
        .map(|(report, kill)| (report, kill.acknowledged..report.recorded))
        .collect();
    let acknowledged = Tally::check_ranges(&contents, &acknowledged_ranges, &PLAN);
    let rest = Tally::check_ranges(&contents, &rest_ranges, &PLAN);
    let all = Tally::check(&contents, &reports, &PLAN);

    let sent: u64 = reports.iter().map(|r| r.recorded).sum();
    let acknowledged_before_kill: u64 = at_kill.iter().map(|s| s.acknowledged).sum();
    let in_flight_at_kill: u64 = at_kill
        .iter()
        .map(|s| s.sent_high_water - s.acknowledged)
        .sum();
    let queued_unsent_at_kill: u64 = at_kill.iter().map(|s| s.recorded - s.sent_high_water).sum();
    let recorded_after_kill: u64 = reports
        .iter()
        .zip(&at_kill)
        .map(|(report, s)| report.recorded - s.recorded)
        .sum();
    let retransmissions: u64 = reports.iter().map(|r| r.retried).sum();
    println!(
        "crash_recovery: {DEVICES} devices, events sent {sent}, acknowledged before the first SIGKILL {acknowledged_before_kill}, \
         unacknowledged at that SIGKILL and resent after the restart {} (in flight {in_flight_at_kill}, queued unsent {queued_unsent_at_kill}), \
         recorded after it {recorded_after_kill}, SIGKILLs {}, sink lines written past the saved cursor {beyond_cursor} (per kill {:?}), \
         resends the last restarted gateway found already committed {duplicates_skipped}, \
         retransmissions {retransmissions}, findings {}, exactly once {}, lost {}, duplicated {}, run time {:.1} s",
        in_flight_at_kill + queued_unsent_at_kill,
        kills.len(),
        kills.iter().map(|k| k.beyond_cursor).collect::<Vec<_>>(),
        contents.findings,
        all.exactly_once,
        all.lost.len(),
        all.duplicated.len(),
        started.elapsed().as_secs_f64()
    );

    assert!(acknowledged_before_kill > 0);
    assert!(
        beyond_cursor > 0,
        "none of {} kills landed between a sink write and its cursor save",
        kills.len()
    );
    assert!(
        in_flight_at_kill + queued_unsent_at_kill > 0,
        "the kill left events to resend"
    );
    assert_eq!(
        acknowledged_before_kill + in_flight_at_kill + queued_unsent_at_kill + recorded_after_kill,
        sent
    );
    assert_eq!(acknowledged.expected, acknowledged_before_kill);
    assert_eq!(
        acknowledged.exactly_once, acknowledged_before_kill,
        "events acknowledged before the kill: lost {:?}, duplicated {:?}, wrong {:?}",
        acknowledged.lost, acknowledged.duplicated, acknowledged.wrong
    );
    assert_eq!(
        rest.exactly_once,
        sent - acknowledged_before_kill,
        "events resent or recorded after the kill: lost {:?}, duplicated {:?}, wrong {:?}",
        rest.lost,
        rest.duplicated,
        rest.wrong
    );
    assert_eq!(all.lost, Vec::new(), "lost events");
    assert_eq!(all.duplicated, Vec::new(), "duplicated events");
    assert_eq!(
        all.wrong,
        Vec::<String>::new(),
        "misrouted or altered events"
    );
    assert_eq!(all.unexpected, Vec::new(), "events no device recorded");
    assert_eq!(all.exactly_once, sent);
    assert_eq!(contents.unreadable, 0, "every sink line is JSON");
}
