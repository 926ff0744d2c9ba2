//! `deliver_backlog` on a real database and real sink files: a backlog
//! larger than one round goes out in one call, an empty outbox or a zero
//! budget returns after one round, and a failing sink stops the rounds
//! with its cursor unmoved. `DeliveryStore` delivers on its own
//! connections while batches are committed beside it.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use palisade_export::Origin;
use palisade_gateway::config::Config;
use palisade_gateway::delivery::Delivery;
use palisade_gateway::inventory::{Admission, AdmissionOutcome, DeviceState};
use palisade_gateway::metrics::Metrics;
use palisade_gateway::pipeline::{DeliveryStore, GatewayCore, deliver_backlog};
use palisade_schema::{DeviceId, Event, EventKind, Header, samples};

const DEVICE: DeviceId = DeviceId([0x5a; 16]);
/// Rows per sink and round in these tests.
const ROWS_PER_ROUND: usize = 4;
/// Batches stored, one outbox row each: five full rounds and one short one.
const BATCHES: u64 = 22;
/// Telemetry events per batch.
const EVENTS_PER_BATCH: u64 = 3;
/// A budget no test comes near.
const BUDGET: Duration = Duration::from_secs(30);

/// The two JSON Lines sinks, plus `extra` sink tables and routes.
fn config(dir: &Path, extra_sinks: &str, security: &str) -> Config {
    let text = format!(
        "[paths]\ndatabase = {:?}\noutput = {:?}\n\n[outbox]\ndelivery_rows = {ROWS_PER_ROUND}\n\n\
         [sinks.security]\nkind = \"ocsf_jsonl\"\nfile = \"security.jsonl\"\n\n\
         [sinks.telemetry]\nkind = \"telemetry_jsonl\"\nfile = \"telemetry.jsonl\"\n\n{extra_sinks}\n\n\
         [routing]\nsecurity = [{security}]\ntelemetry = [\"telemetry\"]\n",
        dir.join("gateway.sqlite"),
        dir.join("out"),
    );
    Config::from_toml_str(&text).expect("valid configuration")
}

fn origin() -> Origin {
    Origin::new("backlog-gateway", "0.1.0")
}

/// Opens the core, admits the device and stores `batches` batches of
/// `EVENTS_PER_BATCH` events: telemetry, and last a process start when
/// `security` is set.
fn filled_core(config: &Config, batches: u64, security: bool) -> GatewayCore {
    let mut core = GatewayCore::open(config.clone(), Metrics::new()).unwrap();
    let admission = Admission {
        device: DEVICE,
        model: "IP-200".into(),
        vendor: "Acme Medical".into(),
        hardware: "rev C".into(),
        firmware: "2.4.1".into(),
        credential_serial: Some(17),
        address: Some("127.0.0.1:40700".parse().unwrap()),
        time_unix_ms: 1,
    };
    assert_eq!(
        core.admit(&admission).unwrap(),
        AdmissionOutcome::Admitted(DeviceState::Admitted)
    );
    let mut sequence = 0;
    for _ in 0..batches {
        let batch: Vec<Event<'static>> = (0..EVENTS_PER_BATCH)
            .map(|_| {
                sequence += 1;
                Event {
                    header: Header {
                        sequence,
                        boot: 1,
                        uptime_ms: sequence * 1_000,
                        ..Header::default()
                    },
                    body: samples::body(if security && sequence % EVENTS_PER_BATCH == 0 {
                        EventKind::ProcessStarted
                    } else {
                        EventKind::Telemetry
                    }),
                }
            })
            .collect();
        let outcome = core.receive(DEVICE, &batch).unwrap();
        assert_eq!(outcome.receipt.stored, EVENTS_PER_BATCH as usize);
    }
    core
}

fn line_count(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |text| text.lines().count())
}

#[test]
fn backlog_larger_than_one_round_goes_out_in_one_call() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "", "\"security\"");
    let core = Mutex::new(filled_core(&config, BATCHES, false));
    let mut delivery = Delivery::from_config(&config, origin()).unwrap();
    let names: Vec<String> = delivery
        .sink_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let backlog = core.lock().unwrap().outbox().depth(&names).unwrap();
    assert!(backlog > ROWS_PER_ROUND as u64, "backlog {backlog}");

    let report = deliver_backlog(&core, &mut delivery, BUDGET).unwrap();

    // 22 rows at 4 per round: 6 rounds that move rows, then one that finds none.
    assert_eq!(report.rounds, BATCHES.div_ceil(ROWS_PER_ROUND as u64) + 1);
    assert!(report.delivery.failed_sinks.is_empty(), "{report:?}");
    assert_eq!(
        report.delivery.written["telemetry"],
        BATCHES * EVENTS_PER_BATCH
    );
    assert_eq!(
        line_count(&dir.path().join("out/telemetry.jsonl")),
        (BATCHES * EVENTS_PER_BATCH) as usize
    );
    let mut core = core.lock().unwrap();
    assert_eq!(core.outbox().depth(&names).unwrap(), 0);
    let last_row = core.outbox().cursor("telemetry").unwrap();
    assert_eq!(core.outbox().cursor("security").unwrap(), last_row);
}

#[test]
fn zero_budget_runs_one_round() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "", "\"security\"");
    let core = Mutex::new(filled_core(&config, BATCHES, false));
    let mut delivery = Delivery::from_config(&config, origin()).unwrap();

    let report = deliver_backlog(&core, &mut delivery, Duration::ZERO).unwrap();
    assert_eq!(report.rounds, 1);
    assert_eq!(report.delivery.rows, 2 * ROWS_PER_ROUND as u64);
    assert_eq!(
        line_count(&dir.path().join("out/telemetry.jsonl")),
        ROWS_PER_ROUND * EVENTS_PER_BATCH as usize
    );
    let names = delivery.sink_names();
    assert_eq!(
        core.lock().unwrap().outbox().depth(&names).unwrap(),
        BATCHES - ROWS_PER_ROUND as u64
    );
}

#[test]
fn empty_outbox_returns_after_one_round() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "", "\"security\"");
    let core = Mutex::new(filled_core(&config, 0, false));
    let mut delivery = Delivery::from_config(&config, origin()).unwrap();

    let started = Instant::now();
    let report = deliver_backlog(&core, &mut delivery, BUDGET).unwrap();
    assert!(started.elapsed() < BUDGET);
    assert_eq!(report.rounds, 1);
    assert_eq!(report.delivery.rows, 0);
    assert_eq!(report.delivery.total_written(), 0);
}

#[test]
fn failing_sink_stops_the_rounds_and_keeps_its_cursor() {
    let dir = tempfile::tempdir().unwrap();
    // Reserve a free port, then close it so that connections are refused.
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let siem = format!(
        "[sinks.siem]\nkind = \"syslog\"\ntransport = \"tcp\"\naddress = \"{address}\"\ntimeout_ms = 1000"
    );
    let config = config(dir.path(), &siem, "\"security\", \"siem\"");
    let core = Mutex::new(filled_core(&config, BATCHES, true));
    let mut delivery = Delivery::from_config(&config, origin()).unwrap();
    let names: Vec<String> = delivery
        .sink_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let backlog = core.lock().unwrap().outbox().depth(&names).unwrap();
    assert!(backlog > ROWS_PER_ROUND as u64, "backlog {backlog}");

    let report = deliver_backlog(&core, &mut delivery, BUDGET).unwrap();
    assert_eq!(report.rounds, 1, "{report:?}");
    assert_eq!(report.delivery.failed_sinks, vec!["siem".to_owned()]);
    let mut core = core.lock().unwrap();
    assert_eq!(core.outbox().cursor("siem").unwrap(), 0);
    // The sinks that worked moved by exactly the one round that ran.
    assert_eq!(
        core.outbox().cursor("telemetry").unwrap(),
        core.outbox().cursor("security").unwrap()
    );
    let written = report.delivery.written["telemetry"];
    assert!(
        written > 0 && written < BATCHES * EVENTS_PER_BATCH,
        "{report:?}"
    );
    assert_eq!(
        line_count(&dir.path().join("out/telemetry.jsonl")),
        written as usize
    );
    assert_eq!(core.outbox().depth(&names).unwrap(), backlog);
    // The depth gauge was set after the failed round.
    let gauge = format!("palisade_outbox_depth {backlog}");
    assert!(
        core.metrics().render().lines().any(|line| line == gauge),
        "{}",
        core.metrics().render()
    );
}

#[test]
fn delivery_store_runs_beside_commits() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "", "\"security\"");
    let mut core = filled_core(&config, 0, false);
    let mut delivery = Delivery::from_config(&config, origin()).unwrap();
    let mut store = DeliveryStore::open(&config, Metrics::new()).unwrap();
    const COMMITTED_BATCHES: u64 = 200;

    // One thread commits batches while this one delivers on the store's
    // own connections; every event must land in the sink exactly once.
    let committer = std::thread::spawn(move || {
        for batch_index in 0..COMMITTED_BATCHES {
            let batch: Vec<Event<'static>> = (0..EVENTS_PER_BATCH)
                .map(|offset| Event {
                    header: Header {
                        sequence: batch_index * EVENTS_PER_BATCH + offset + 1,
                        boot: 2,
                        uptime_ms: 1_000,
                        ..Header::default()
                    },
                    body: samples::body(EventKind::Telemetry),
                })
                .collect();
            let outcome = core.receive(DEVICE, &batch).unwrap();
            assert_eq!(outcome.receipt.stored, EVENTS_PER_BATCH as usize);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while !committer.is_finished() && Instant::now() < deadline {
        store
            .deliver_backlog(&mut delivery, Duration::from_millis(50))
            .unwrap();
    }
    committer.join().unwrap();
    store.drain(&mut delivery, 10_000).unwrap();

    let text = std::fs::read_to_string(dir.path().join("out/telemetry.jsonl")).unwrap();
    let mut sequences: Vec<u64> = text
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            value["sequence"].as_u64().unwrap()
        })
        .collect();
    sequences.sort_unstable();
    let expected: Vec<u64> = (1..=COMMITTED_BATCHES * EVENTS_PER_BATCH).collect();
    assert_eq!(sequences, expected);
}
