//! The MQTT sink against a real mosquitto broker started on 127.0.0.1:
//! every security and operational event and every finding arrives once
//! under `palisade/<site>/<class>/<device-id>`, telemetry never, and a
//! broker outage loses nothing.
//!
//! Without a mosquitto binary the tests are skipped with a message, unless
//! `MOSQUITTO_REQUIRED=1`, in which case they fail.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::receivers::{DEVICE, expected_event_keys, fill_outbox};
use palisade_export::Origin;
use palisade_gateway::config::Config;
use palisade_gateway::delivery::{Delivery, IdsOnly};
use serde_json::Value;

const SITE: &str = "ward-3";

/// A mosquitto process started by a test, killed (by its pid) on drop.
struct Broker {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mosquitto_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MOSQUITTO") {
        return Some(PathBuf::from(path));
    }
    let debian = Path::new("/usr/sbin/mosquitto");
    debian.exists().then(|| debian.to_owned())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

/// Starts mosquitto on 127.0.0.1:`port` without queue limits.
fn start_broker(port: u16) -> Result<Broker, String> {
    let binary = mosquitto_binary().ok_or("mosquitto binary not found")?;
    let dir = tempfile::tempdir().map_err(|error| error.to_string())?;
    let mut config = format!(
        "listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_queued_bytes 0\npersistence false\nlog_dest file {}\n",
        dir.path().join("broker.log").display()
    );
    if running_as_root() {
        // Keeps mosquitto from switching to a user that cannot write the log.
        config.push_str("user root\n");
    }
    let config_path = dir.path().join("mosquitto.conf");
    std::fs::write(&config_path, config).map_err(|error| error.to_string())?;
    let mut child = Command::new(&binary)
        .arg("-c")
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| format!("spawning {}: {error}", binary.display()))?;
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
            return Ok(Broker {
                child,
                port,
                _dir: dir,
            });
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("mosquitto exited with {status}"));
        }
        thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err("mosquitto did not open its port within 10 s".into())
}

fn broker_or_skip(test: &str, port: u16) -> Option<Broker> {
    match start_broker(port) {
        Ok(broker) => Some(broker),
        Err(reason) => {
            let required = std::env::var("MOSQUITTO_REQUIRED").is_ok_and(|value| value == "1");
            assert!(
                !required,
                "{test}: MOSQUITTO_REQUIRED=1 but no broker could start: {reason}"
            );
            eprintln!("{test}: skipped, no mosquitto broker: {reason}");
            None
        }
    }
}

/// Messages received: (topic, payload).
type Messages = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A QoS 1 subscriber to `palisade/<site>/#`, collecting (topic, payload).
struct Subscriber {
    received: Messages,
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Subscriber {
    /// Connects and returns once the broker acknowledged the subscription.
    fn start(port: u16) -> Self {
        let received: Messages = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_sender, ready) = mpsc::channel();
        let handle = {
            let received = received.clone();
            let stop = stop.clone();
            thread::spawn(move || {
                let mut options =
                    rumqttc::MqttOptions::new("sink-test-consumer", "127.0.0.1", port);
                options.set_max_packet_size(1 << 20, 1 << 20);
                let (client, mut connection) = rumqttc::Client::new(options, 100);
                client
                    .subscribe(format!("palisade/{SITE}/#"), rumqttc::QoS::AtLeastOnce)
                    .expect("subscribe");
                let started = Instant::now();
                while !stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(60) {
                    match connection.recv_timeout(Duration::from_millis(50)) {
                        Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)))) => {
                            let _ = ready_sender.send(());
                        }
                        Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(publish)))) => {
                            received
                                .lock()
                                .expect("lock")
                                .push((publish.topic.clone(), publish.payload.to_vec()));
                        }
                        Ok(Ok(_)) | Err(_) => {}
                        Ok(Err(error)) => {
                            eprintln!("subscriber connection error: {error}");
                            thread::sleep(Duration::from_millis(100));
                        }
                    }
                }
                let _ = client.disconnect();
            })
        };
        ready
            .recv_timeout(Duration::from_secs(10))
            .expect("subscription acknowledged within 10 s");
        Self {
            received,
            stop,
            handle: Some(handle),
        }
    }

    /// Waits up to 10 s for `count` messages, then 300 ms more for extras.
    fn wait_for(&self, count: usize) -> Vec<(String, Vec<u8>)> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.received.lock().expect("lock").len() < count && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        thread::sleep(Duration::from_millis(300));
        self.received.lock().expect("lock").clone()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn config(dir: &Path, port: u16, flush_timeout_ms: u64) -> Config {
    let text = format!(
        "[paths]\ndatabase = {:?}\noutput = {:?}\n\n[sinks.broker]\nkind = \"mqtt\"\nbroker = \"127.0.0.1:{port}\"\nsite = \"{SITE}\"\nflush_timeout_ms = {flush_timeout_ms}\n\n[routing]\nsecurity = [\"broker\"]\n",
        dir.join("gateway.sqlite"),
        dir.join("out"),
    );
    Config::from_toml_str(&text).expect("valid configuration")
}

fn origin() -> Origin {
    Origin::new("ward-3-gateway", "0.1.0")
}

/// Checks that `messages` hold every expected event once on the topic of
/// its class and the one finding, and nothing else.
fn check_exactly_once(messages: &[(String, Vec<u8>)]) {
    let device = DEVICE.to_string();
    let mut events = Vec::new();
    let mut findings = 0;
    for (topic, payload) in messages {
        let object: Value = serde_json::from_slice(payload).expect("OCSF JSON payload");
        let levels: Vec<&str> = topic.split('/').collect();
        assert_eq!(levels.len(), 4, "{topic}");
        assert_eq!(levels[0], "palisade", "{topic}");
        assert_eq!(levels[1], SITE, "{topic}");
        assert_eq!(levels[3], device, "{topic}");
        match levels[2] {
            "finding" => {
                findings += 1;
                assert_eq!(object["class_uid"], 2004, "{topic}");
            }
            "security" | "operational" => {
                let uid = object["metadata"]["uid"].as_str().expect("metadata.uid");
                events.push(uid.replace(':', "/"));
            }
            other => panic!("unexpected class {other} on {topic}"),
        }
    }
    events.sort();
    assert_eq!(events, expected_event_keys(), "events, each exactly once");
    assert_eq!(findings, 1);
    assert_eq!(messages.len(), expected_event_keys().len() + 1);
}

#[test]
fn mqtt_delivers_exactly_once() {
    let Some(broker) = broker_or_skip("mqtt_delivers_exactly_once", free_port()) else {
        return;
    };
    let subscriber = Subscriber::start(broker.port);
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), broker.port, 10_000);
    let mut outbox = fill_outbox(&config.paths.database);
    let mut delivery = Delivery::from_config(&config, origin()).unwrap();

    let report = delivery.drain(&mut outbox, &IdsOnly, 100).unwrap();
    assert!(report.failed_sinks.is_empty(), "{report:?}");
    assert_eq!(
        report.written["broker"],
        expected_event_keys().len() as u64 + 1
    );
    assert_eq!(outbox.depth(&delivery.sink_names()).unwrap(), 0);

    let messages = subscriber.wait_for(expected_event_keys().len() + 1);
    check_exactly_once(&messages);
    let security = messages
        .iter()
        .filter(|(topic, _)| *topic == format!("palisade/{SITE}/security/{DEVICE}"))
        .count();
    assert!(
        security > 0,
        "security events on palisade/{SITE}/security/<device-id>"
    );
}

#[test]
fn mqtt_outage_loses_nothing() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), port, 500);
    let mut outbox = fill_outbox(&config.paths.database);
    let mut delivery = Delivery::from_config(&config, origin()).unwrap();

    // No broker yet: the round fails and the cursor stays.
    let report = delivery.deliver(&mut outbox, &IdsOnly).unwrap();
    assert_eq!(report.failed_sinks, vec!["broker".to_owned()]);
    assert_eq!(
        outbox.cursor("broker").unwrap(),
        0,
        "no row marked delivered"
    );

    let Some(broker) = broker_or_skip("mqtt_outage_loses_nothing", port) else {
        return;
    };
    let subscriber = Subscriber::start(broker.port);
    let mut report = delivery.deliver(&mut outbox, &IdsOnly).unwrap();
    // The publisher may still be waiting out its reconnection backoff.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !report.failed_sinks.is_empty() && Instant::now() < deadline {
        report = delivery.deliver(&mut outbox, &IdsOnly).unwrap();
    }
    assert!(report.failed_sinks.is_empty(), "{report:?}");
    let report = delivery.drain(&mut outbox, &IdsOnly, 100).unwrap();
    assert!(report.failed_sinks.is_empty(), "{report:?}");
    assert_eq!(outbox.depth(&delivery.sink_names()).unwrap(), 0);

    let messages = subscriber.wait_for(expected_event_keys().len() + 1);
    check_exactly_once(&messages);
}

/// Delivery from `spawn_blocking` and dropping the sink inside async code,
/// as a tokio service does, work without a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_sink_inside_tokio_service() {
    let Some(broker) = broker_or_skip("mqtt_sink_inside_tokio_service", free_port()) else {
        return;
    };
    let port = broker.port;
    let subscriber = tokio::task::spawn_blocking(move || Subscriber::start(port))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), broker.port, 10_000);
    // Opened in async code, like the gateway binary does.
    let delivery = Delivery::from_config(&config, origin()).unwrap();
    let database = config.paths.database.clone();

    let (delivery, report) = tokio::task::spawn_blocking(move || {
        let mut delivery = delivery;
        let mut outbox = fill_outbox(&database);
        let report = delivery.drain(&mut outbox, &IdsOnly, 100).unwrap();
        (delivery, report)
    })
    .await
    .unwrap();
    assert!(report.failed_sinks.is_empty(), "{report:?}");
    drop(delivery);

    let messages =
        tokio::task::spawn_blocking(move || subscriber.wait_for(expected_event_keys().len() + 1))
            .await
            .unwrap();
    check_exactly_once(&messages);
}
