//! The MQTT publisher against real mosquitto brokers on 127.0.0.1.
#![cfg(feature = "mqtt")]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::mosquitto::{Broker, start_default_limits_or_skip, start_or_skip, start_tls_or_skip};
use palisade_transport::mqtt::{
    MqttConfig, MqttError, MqttPublisher, MqttTls, UpstreamEvent, topic,
};
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const CLASSES: [&str; 3] = ["security", "operational", "telemetry"];

fn event(id: u64) -> UpstreamEvent {
    UpstreamEvent {
        id,
        class: CLASSES[(id % 3) as usize].to_string(),
        device_id: format!("pump-{:03}", id % 7),
        payload: id.to_be_bytes().to_vec(),
    }
}

fn publisher(broker: &Broker, client_id: &str) -> MqttPublisher {
    let mut config = MqttConfig::new("127.0.0.1", broker.port(), client_id, "ward-3");
    config.max_inflight = 50;
    config.backoff.initial_ms = 50;
    config.backoff.max_ms = 500;
    config.connect_timeout_secs = 2;
    MqttPublisher::new(config).expect("valid publisher settings")
}

/// A QoS 1 subscriber with a persistent session that forwards every
/// received (topic, event id) pair, reconnecting after errors.
struct Subscriber {
    received: mpsc::UnboundedReceiver<(String, u64)>,
    task: JoinHandle<()>,
    client: AsyncClient,
}

async fn subscribe(broker: &Broker, client_id: &str) -> Subscriber {
    let mut options = MqttOptions::new(client_id, "127.0.0.1", broker.port());
    options.set_clean_session(false);
    options.set_keep_alive(Duration::from_secs(5));
    let (client, mut eventloop) = AsyncClient::new(options, 100);
    client
        .subscribe("palisade/#", QoS::AtLeastOnce)
        .await
        .expect("queue subscription");
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let (tx, received) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut ready = Some(ready_tx);
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Incoming::SubAck(_))) => {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(());
                    }
                }
                Ok(Event::Incoming(Incoming::Publish(publish))) => {
                    let bytes: [u8; 8] = publish.payload[..].try_into().expect("8-byte payload");
                    let _ = tx.send((publish.topic.clone(), u64::from_be_bytes(bytes)));
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), ready_rx)
        .await
        .expect("subscription acknowledged within 10 s")
        .expect("subscriber task alive");
    Subscriber {
        received,
        task,
        client,
    }
}

impl Subscriber {
    /// Collects messages until every id in `expected` arrived or `limit`
    /// passed, then a short while longer to catch duplicates. Returns how
    /// many times each id arrived.
    async fn collect(
        &mut self,
        counts: &mut BTreeMap<u64, u32>,
        expected: &[u64],
        limit: Duration,
    ) {
        let deadline = tokio::time::Instant::now() + limit;
        let mut outstanding: std::collections::BTreeSet<u64> = expected
            .iter()
            .copied()
            .filter(|id| !counts.contains_key(id))
            .collect();
        while !outstanding.is_empty() {
            match tokio::time::timeout_at(deadline, self.received.recv()).await {
                Ok(Some((topic_name, id))) => {
                    let wanted = topic(
                        "ward-3",
                        CLASSES[(id % 3) as usize],
                        &format!("pump-{:03}", id % 7),
                    )
                    .expect("valid topic");
                    assert_eq!(topic_name, wanted, "event {id} arrived on the wrong topic");
                    *counts.entry(id).or_default() += 1;
                    outstanding.remove(&id);
                }
                Ok(None) | Err(_) => break,
            }
        }
        while let Ok(Some((_, id))) =
            tokio::time::timeout(Duration::from_millis(300), self.received.recv()).await
        {
            *counts.entry(id).or_default() += 1;
        }
    }

    async fn stop(self) {
        let _ = self.client.disconnect().await;
        self.task.abort();
    }
}

/// Ids in `expected` that never arrived, as a count and the first few.
fn missing(counts: &BTreeMap<u64, u32>, expected: &[u64]) -> (usize, Vec<u64>) {
    let ids: Vec<u64> = expected
        .iter()
        .copied()
        .filter(|id| !counts.contains_key(id))
        .collect();
    (ids.len(), ids.into_iter().take(10).collect())
}

/// Ids that arrived more than once, with their counts.
fn duplicated(counts: &BTreeMap<u64, u32>) -> Vec<(u64, u32)> {
    counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, n)| (*id, *n))
        .collect()
}

const NONE_MISSING: (usize, Vec<u64>) = (0, Vec::new());

#[tokio::test]
async fn batch_arrives_once_per_event() {
    let Some(broker) = start_or_skip("batch_arrives_once_per_event") else {
        return;
    };
    let mut subscriber = subscribe(&broker, "consumer-once").await;
    let mut publisher = publisher(&broker, "gateway-once");

    let ids: Vec<u64> = (0..3_000).collect();
    let report = publisher
        .publish_batch(ids.iter().map(|&id| event(id)), Duration::from_secs(60))
        .await
        .expect("publish batch");
    assert_eq!(report.pending, 0, "events left unconfirmed");
    let mut confirmed = report.confirmed.clone();
    confirmed.sort_unstable();
    assert!(
        confirmed == ids,
        "confirmed {} ids, expected each of {} once",
        confirmed.len(),
        ids.len()
    );

    let mut counts = BTreeMap::new();
    subscriber
        .collect(&mut counts, &ids, Duration::from_secs(30))
        .await;
    assert_eq!(
        missing(&counts, &ids),
        NONE_MISSING,
        "events never delivered"
    );
    let duplicates = duplicated(&counts);
    assert!(
        duplicates.is_empty(),
        "{} events delivered twice, first: {:?}",
        duplicates.len(),
        &duplicates[..duplicates.len().min(10)]
    );
    assert_eq!(counts.len(), ids.len());

    let stats = publisher.stats();
    assert_eq!(stats.confirmed, 3_000);
    assert_eq!(stats.resent, 0);
    publisher.disconnect(Duration::from_secs(2)).await;
    subscriber.stop().await;
}

#[tokio::test]
async fn events_survive_broker_restart() {
    let Some(mut broker) = start_or_skip("events_survive_broker_restart") else {
        return;
    };
    let mut subscriber = subscribe(&broker, "consumer-restart").await;
    let mut publisher = publisher(&broker, "gateway-restart");
    let mut counts = BTreeMap::new();

    // Batch A goes through before the broker stops.
    let batch_a: Vec<u64> = (0..500).collect();
    let report = publisher
        .publish_batch(batch_a.iter().map(|&id| event(id)), Duration::from_secs(30))
        .await
        .expect("publish batch A");
    assert_eq!(report.confirmed.len(), batch_a.len());
    subscriber
        .collect(&mut counts, &batch_a, Duration::from_secs(20))
        .await;
    assert_eq!(missing(&counts, &batch_a), NONE_MISSING);

    // Batch B is handed over while the broker is down: nothing can be
    // confirmed, and nothing may be lost.
    broker.stop();
    let batch_b: Vec<u64> = (500..1_000).collect();
    let report = publisher
        .publish_batch(
            batch_b.iter().map(|&id| event(id)),
            Duration::from_millis(1_500),
        )
        .await
        .expect("publish batch B while the broker is down");
    assert!(
        report.confirmed.is_empty(),
        "a stopped broker confirmed {:?}",
        report.confirmed
    );
    assert_eq!(report.pending, batch_b.len());

    broker.restart().expect("restart broker");
    let report = publisher
        .flush(Duration::from_secs(30))
        .await
        .expect("flush batch B");
    assert_eq!(report.pending, 0);
    let mut confirmed = report.confirmed;
    confirmed.sort_unstable();
    assert!(
        confirmed == batch_b,
        "confirmed {} ids of batch B, expected {}",
        confirmed.len(),
        batch_b.len()
    );

    let all: Vec<u64> = (0..1_000).collect();
    subscriber
        .collect(&mut counts, &all, Duration::from_secs(30))
        .await;
    assert_eq!(
        missing(&counts, &all),
        NONE_MISSING,
        "events lost across the restart"
    );
    let duplicates = duplicated(&counts);
    assert!(
        duplicates.is_empty(),
        "{} events delivered twice, first: {:?}",
        duplicates.len(),
        &duplicates[..duplicates.len().min(10)]
    );
    assert!(
        publisher.stats().connection_errors > 0,
        "the restart was not noticed"
    );

    publisher.disconnect(Duration::from_secs(2)).await;
    subscriber.stop().await;
}

#[tokio::test]
async fn restart_mid_batch_loses_nothing() {
    let Some(broker) = start_or_skip("restart_mid_batch_loses_nothing") else {
        return;
    };
    let mut subscriber = subscribe(&broker, "consumer-mid").await;
    let mut publisher = publisher(&broker, "gateway-mid");
    let max_inflight = 50;

    // The broker restarts (SIGTERM, then start) while the batch is in flight.
    let broker = std::sync::Arc::new(std::sync::Mutex::new(broker));
    let restarter = {
        let broker = broker.clone();
        tokio::task::spawn_blocking(move || {
            std::thread::sleep(Duration::from_millis(150));
            broker.lock().expect("broker lock").restart()
        })
    };
    let ids: Vec<u64> = (0..10_000).collect();
    let mut confirmed = Vec::new();
    for id in &ids {
        publisher.enqueue(event(*id)).expect("enqueue");
    }
    let started = tokio::time::Instant::now();
    let deadline = started + Duration::from_secs(90);
    while publisher.pending() > 0 && tokio::time::Instant::now() < deadline {
        let report = publisher
            .flush(Duration::from_secs(5))
            .await
            .expect("flush");
        eprintln!(
            "flush at {:?}: {} confirmed, {} pending",
            started.elapsed(),
            report.confirmed.len(),
            report.pending
        );
        confirmed.extend(report.confirmed);
    }
    restarter
        .await
        .expect("restarter task")
        .expect("restart broker");
    assert_eq!(publisher.pending(), 0, "events left unconfirmed");
    confirmed.sort_unstable();
    assert!(
        confirmed == ids,
        "confirmed {} ids, expected each of {} once",
        confirmed.len(),
        ids.len()
    );
    let stats = publisher.stats();
    assert!(
        stats.connection_errors > 0,
        "the restart happened after the batch: {stats:?}"
    );

    let mut counts = BTreeMap::new();
    subscriber
        .collect(&mut counts, &ids, Duration::from_secs(60))
        .await;
    assert_eq!(
        missing(&counts, &ids),
        NONE_MISSING,
        "events lost across the restart"
    );
    // At-least-once: a publish the broker stored but whose PUBACK the restart
    // cut off is sent again, and the broker's own redelivery to the
    // subscriber can repeat a message; both are bounded by what was in flight.
    let duplicates = duplicated(&counts);
    eprintln!(
        "restart mid-batch: {} events, {} resent by the publisher, {} delivered twice",
        ids.len(),
        stats.resent,
        duplicates.len()
    );
    assert!(
        duplicates.len() <= 2 * max_inflight + 100,
        "{} duplicates, more than the in-flight windows explain",
        duplicates.len()
    );
    publisher.disconnect(Duration::from_secs(2)).await;
    subscriber.stop().await;
}

#[tokio::test]
async fn unreachable_broker_keeps_events() {
    // A port with no broker: bind it, then close it.
    let port = {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        listener.local_addr().expect("address").port()
    };
    let mut config = MqttConfig::new("127.0.0.1", port, "gateway-unreachable", "ward-3");
    config.backoff.initial_ms = 10;
    config.backoff.max_ms = 20;
    config.backoff.max_attempts = Some(3);
    let mut publisher = MqttPublisher::new(config).expect("valid settings");
    publisher.enqueue(event(1)).expect("enqueue");
    let error = publisher
        .flush(Duration::from_secs(10))
        .await
        .expect_err("no broker listens");
    assert!(
        matches!(error, MqttError::Unreachable { attempts: 3, .. }),
        "{error}"
    );
    assert_eq!(publisher.pending(), 1, "the event must stay queued");
}

#[test]
fn topic_levels_are_checked() {
    assert_eq!(
        topic("ward-3", "security", "pump-001").expect("valid"),
        "palisade/ward-3/security/pump-001"
    );
    for bad in ["", "a/b", "a+", "#", "nul\0"] {
        assert!(
            topic("ward-3", "security", bad).is_err(),
            "{bad:?} accepted"
        );
    }
    let longest = "d".repeat(palisade_transport::mqtt::MAX_TOPIC_LEVEL_LEN);
    assert!(topic("ward-3", "security", &longest).is_ok());
    let too_long = "d".repeat(palisade_transport::mqtt::MAX_TOPIC_LEVEL_LEN + 1);
    assert!(topic("ward-3", "security", &too_long).is_err());
}

#[test]
fn queue_limit_hands_event_back() {
    let mut config = MqttConfig::new("127.0.0.1", 1, "gateway-full", "ward-3");
    config.max_pending = 2;
    let mut publisher = MqttPublisher::new(config).expect("valid settings");
    publisher.enqueue(event(1)).expect("first");
    publisher.enqueue(event(2)).expect("second");
    match publisher.enqueue(event(3)) {
        Err(MqttError::QueueFull {
            pending,
            event: back,
        }) => {
            assert_eq!(pending, 2);
            assert_eq!(back.id, 3);
        }
        other => panic!("expected QueueFull, got {other:?}"),
    }
}

#[tokio::test]
async fn publishes_over_tls() {
    let Some(broker) = start_tls_or_skip("publishes_over_tls") else {
        return;
    };
    let tls_port = broker.tls_port().expect("broker started with TLS");
    let mut subscriber = subscribe(&broker, "consumer-tls").await;
    let mut config = MqttConfig::new("127.0.0.1", tls_port, "gateway-tls", "ward-3");
    config.connect_timeout_secs = 5;
    config.tls = Some(MqttTls {
        ca_pem: broker.ca_pem(),
        client_auth: None,
    });
    let mut publisher = MqttPublisher::new(config).expect("valid settings");
    let ids: Vec<u64> = (0..200).collect();
    let report = publisher
        .publish_batch(ids.iter().map(|&id| event(id)), Duration::from_secs(30))
        .await
        .expect("publish over TLS");
    assert_eq!(report.pending, 0);
    assert_eq!(report.confirmed.len(), ids.len());
    let mut counts = BTreeMap::new();
    subscriber
        .collect(&mut counts, &ids, Duration::from_secs(20))
        .await;
    assert_eq!(missing(&counts, &ids), NONE_MISSING);

    // A publisher that does not trust the broker's CA never connects.
    let mut config = MqttConfig::new("127.0.0.1", tls_port, "gateway-untrusted", "ward-3");
    config.backoff.max_attempts = Some(2);
    config.backoff.initial_ms = 10;
    config.tls = Some(MqttTls {
        ca_pem: Vec::new(),
        client_auth: None,
    });
    let mut untrusted = MqttPublisher::new(config).expect("valid settings");
    untrusted.enqueue(event(1)).expect("enqueue");
    assert!(untrusted.flush(Duration::from_secs(10)).await.is_err());
    assert_eq!(untrusted.pending(), 1);
    publisher.disconnect(Duration::from_secs(2)).await;
    subscriber.stop().await;
}

/// Publishes `count` events while the consumer is offline, then reconnects
/// it and returns how many events it received.
async fn offline_consumer_receives(broker: &Broker, count: u64) -> usize {
    // The consumer's persistent session and subscription exist, but it is
    // offline while the events are published.
    let consumer = subscribe(broker, "consumer-offline").await;
    consumer.stop().await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut publisher = publisher(broker, "gateway-offline");
    let ids: Vec<u64> = (0..count).collect();
    let report = publisher
        .publish_batch(ids.iter().map(|&id| event(id)), Duration::from_secs(60))
        .await
        .expect("publish");
    assert_eq!(
        report.confirmed.len() as u64,
        count,
        "the broker acknowledged every publish"
    );
    publisher.disconnect(Duration::from_secs(2)).await;

    let mut consumer = subscribe(broker, "consumer-offline").await;
    let mut counts = BTreeMap::new();
    consumer
        .collect(&mut counts, &ids, Duration::from_secs(10))
        .await;
    consumer.stop().await;
    counts.len()
}

#[tokio::test]
async fn default_queue_limit_drops_acknowledged_events() {
    let Some(broker) =
        start_default_limits_or_skip("default_queue_limit_drops_acknowledged_events")
    else {
        return;
    };
    let received = offline_consumer_receives(&broker, 3_000).await;
    eprintln!(
        "default mosquitto limits: the offline consumer received {received} of 3000 acknowledged events"
    );
    // mosquitto's default max_queued_messages is 1000 (plus what is in flight).
    assert!(
        received < 3_000,
        "nothing was dropped; mosquitto's defaults changed?"
    );
    assert!(
        received >= 1_000,
        "fewer than the documented default queue of 1000"
    );
}

#[tokio::test]
async fn lossless_config_keeps_every_event() {
    let Some(broker) = start_or_skip("lossless_config_keeps_every_event") else {
        return;
    };
    let received = offline_consumer_receives(&broker, 3_000).await;
    assert_eq!(received, 3_000, "the lossless configuration dropped events");
}
