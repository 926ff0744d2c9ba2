//! MQTT upstream for gateways: publishes routed events with QoS 1 to
//! `palisade/<site>/<class>/<device-id>`, keeping at-least-once delivery to
//! the broker across disconnections and broker restarts.
//!
//! # What a PUBACK means
//!
//! A PUBACK only means that the broker has the message. It tells nothing
//! about any subscriber: mosquitto 2.0.11 with its default per-client limit
//! (`max_queued_messages 1000`) acknowledges every QoS 1 publish and silently
//! drops what no longer fits a slow or offline subscriber's queue. The test
//! `default_queue_limit_drops_acknowledged_events` shows it: an offline
//! consumer gets 1,000 of 3,000 acknowledged publishes. A measurement made
//! for this project with 1,000,000 publishes and one slow subscriber saw
//! about 1% delivered.
//!
//! To lose nothing end to end, configure the broker without a queue limit
//! (mosquitto: `max_queued_messages 0`), with persistence, and give every
//! consumer a persistent session (clean session off, a fixed client id,
//! QoS 1 subscription). `examples/mosquitto-lossless.conf` in this crate is
//! such a configuration; the test `lossless_config_keeps_every_event` runs
//! the same scenario against it and gets all 3,000.
//!
//! # Delivery contract
//!
//! [`MqttPublisher`] owns the rumqttc event loop and records the packet id
//! rumqttc gives each publish, so it knows exactly which publish each PUBACK
//! confirms. A publish stays in the publisher until its PUBACK arrives.
//! After a disconnection every unconfirmed publish is sent again on the next
//! connection, in the original order, with the DUP flag when it had been
//! sent before. [`MqttPublisher::flush`] reports the ids of the events the
//! broker confirmed. A publish that reached the broker but whose PUBACK was
//! lost is sent twice, so consumers must tolerate duplicates, for example
//! by keying on the device id (in the topic) and the boot counter and
//! sequence number of the event header.

use std::collections::{BTreeMap, VecDeque};
use std::format;
use std::string::{String, ToString};
use std::time::Duration;
use std::vec::Vec;

use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, Incoming, MqttOptions, Outgoing, Publish, QoS,
    Request, TlsConfiguration, Transport,
};
use tokio::time::{Instant, sleep, timeout_at};

use crate::backoff::{Backoff, BackoffConfig};

/// Root of every topic this publisher writes.
pub const TOPIC_ROOT: &str = "palisade";

/// Largest `max_inflight` accepted.
pub const MAX_INFLIGHT: u16 = 16_000;

/// Maximum length of a topic level (site, class or device id), in bytes.
pub const MAX_TOPIC_LEVEL_LEN: usize = 128;

/// TLS settings for the broker connection (rustls).
#[derive(Debug, Clone)]
pub struct MqttTls {
    /// PEM-encoded CA certificates that the broker's certificate must chain to.
    pub ca_pem: Vec<u8>,
    /// PEM-encoded client certificate chain and private key, for brokers that
    /// require client authentication.
    pub client_auth: Option<(Vec<u8>, Vec<u8>)>,
}

/// Settings of an [`MqttPublisher`].
#[derive(Debug, Clone)]
pub struct MqttConfig {
    /// Broker host name or address.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// MQTT client id of the gateway.
    pub client_id: String,
    /// Site name, the second topic level.
    pub site: String,
    /// Keep-alive interval.
    pub keep_alive: Duration,
    /// Publishes in flight (sent, not yet acknowledged) at most; also the
    /// batch size. Between 1 and 65535.
    pub max_inflight: u16,
    /// Events held by the publisher (queued and in flight) at most;
    /// [`MqttPublisher::enqueue`] hands an event back beyond that.
    pub max_pending: usize,
    /// Largest MQTT packet sent or received, in bytes.
    pub max_packet_size: usize,
    /// Timeout of each connection attempt, in seconds.
    pub connect_timeout_secs: u64,
    /// Delays between reconnection attempts.
    pub backoff: BackoffConfig,
    /// TLS, or `None` for plain TCP.
    pub tls: Option<MqttTls>,
}

impl MqttConfig {
    /// Settings with the defaults below for a broker at `host:port`.
    ///
    /// Defaults: keep-alive 30 s, 100 publishes in flight, 100,000 pending
    /// events, 256 KiB packets, 5 s connect timeout, backoff from 100 ms to
    /// 10 s, no TLS.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        client_id: impl Into<String>,
        site: impl Into<String>,
    ) -> Self {
        Self {
            host: host.into(),
            port,
            client_id: client_id.into(),
            site: site.into(),
            keep_alive: Duration::from_secs(30),
            max_inflight: 100,
            max_pending: 100_000,
            max_packet_size: 256 * 1024,
            connect_timeout_secs: 5,
            backoff: BackoffConfig {
                initial_ms: 100,
                max_ms: 10_000,
                max_attempts: None,
            },
            tls: None,
        }
    }
}

/// One routed event to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamEvent {
    /// Caller's id for this event (an outbox row id, for example), reported
    /// back once the broker confirms it.
    pub id: u64,
    /// Routing class, the third topic level (`security`, `operational`,
    /// `telemetry`).
    pub class: String,
    /// Device id, the fourth topic level.
    pub device_id: String,
    /// Message body.
    pub payload: Vec<u8>,
}

/// Error returned by the MQTT publisher.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MqttError {
    /// A topic level is empty, too long, or contains `/`, `+`, `#` or NUL.
    #[error(
        "invalid MQTT topic level {level:?} for {field}: it must be 1 to {MAX_TOPIC_LEVEL_LEN} bytes without '/', '+', '#' or NUL"
    )]
    InvalidTopicLevel {
        /// Name of the field the level came from.
        field: &'static str,
        /// The rejected value.
        level: String,
    },
    /// The publisher already contains `max_pending` events, so the event is
    /// handed back. Flush, then enqueue it again.
    #[error("MQTT publisher holds {pending} events, its limit; flush before enqueueing event {}", event.id)]
    QueueFull {
        /// Events held.
        pending: usize,
        /// The event that was not taken.
        event: std::boxed::Box<UpstreamEvent>,
    },
    /// The settings are unusable.
    #[error("invalid MQTT settings: {0}")]
    InvalidConfig(String),
    /// The backoff gave up reconnecting; the events stay in the publisher.
    #[error("MQTT broker {addr} unreachable after {attempts} attempts: {last_error}")]
    Unreachable {
        /// Broker address.
        addr: String,
        /// Connection attempts made.
        attempts: u32,
        /// The last connection error.
        last_error: String,
    },
}

/// Outcome of one [`MqttPublisher::flush`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Ids of the events the broker confirmed (PUBACK) during this flush, in
    /// the order the confirmations arrived.
    pub confirmed: Vec<u64>,
    /// Events still held by the publisher (not yet confirmed); they stay
    /// queued and are sent by the next flush. Do not enqueue them again.
    pub pending: usize,
}

/// Counters of an [`MqttPublisher`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MqttStats {
    /// PUBLISH packets handed to the connection, first sends and resends.
    pub published: u64,
    /// Of those, resends after a reconnection.
    pub resent: u64,
    /// Events confirmed by a PUBACK.
    pub confirmed: u64,
    /// Connections established.
    pub connections: u64,
    /// Connection errors (each followed by a reconnection attempt).
    pub connection_errors: u64,
    /// PUBACKs or PUBLISH reports for a packet id the publisher was not
    /// waiting for.
    pub unexpected_acks: u64,
    /// Packet id collisions in rumqttc, each followed by a reconnection.
    pub collisions: u64,
}

#[derive(Debug)]
struct InFlight {
    id: u64,
    order: u64,
    publish: Publish,
}

/// QoS 1 publisher with its own event loop; see the module docs for the
/// delivery contract.
pub struct MqttPublisher {
    client: AsyncClient,
    eventloop: EventLoop,
    config: MqttConfig,
    queue: VecDeque<(u64, Publish)>,
    /// Handed to the event loop; the packet id is not known yet.
    unbound: VecDeque<InFlight>,
    /// Sent under a known packet id, waiting for the PUBACK.
    inflight: BTreeMap<u16, InFlight>,
    next_order: u64,
    confirmed: Vec<u64>,
    backoff: Backoff,
    connected: bool,
    stats: MqttStats,
}

impl core::fmt::Debug for MqttPublisher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MqttPublisher")
            .field(
                "broker",
                &format_args!("{}:{}", self.config.host, self.config.port),
            )
            .field("client_id", &self.config.client_id)
            .field("queued", &self.queue.len())
            .field("inflight", &(self.inflight.len() + self.unbound.len()))
            .field("connected", &self.connected)
            .finish()
    }
}

/// Builds `palisade/<site>/<class>/<device-id>` after checking each level.
pub fn topic(site: &str, class: &str, device_id: &str) -> Result<String, MqttError> {
    check_level("site", site)?;
    check_level("class", class)?;
    check_level("device_id", device_id)?;
    Ok(format!("{TOPIC_ROOT}/{site}/{class}/{device_id}"))
}

fn check_level(field: &'static str, level: &str) -> Result<(), MqttError> {
    let valid = !level.is_empty()
        && level.len() <= MAX_TOPIC_LEVEL_LEN
        && !level.contains(['/', '+', '#', '\0']);
    if valid {
        Ok(())
    } else {
        Err(MqttError::InvalidTopicLevel {
            field,
            level: level.to_string(),
        })
    }
}

impl MqttPublisher {
    /// Creates a publisher; it connects on the first [`flush`](Self::flush).
    pub fn new(config: MqttConfig) -> Result<Self, MqttError> {
        check_level("site", &config.site)?;
        if config.max_inflight == 0 || config.max_inflight > MAX_INFLIGHT {
            return Err(MqttError::InvalidConfig(format!(
                "max_inflight is {}, expected 1 to {MAX_INFLIGHT}",
                config.max_inflight
            )));
        }
        if config.client_id.is_empty() {
            return Err(MqttError::InvalidConfig(
                "client_id must not be empty".to_string(),
            ));
        }
        let mut options =
            MqttOptions::new(config.client_id.clone(), config.host.clone(), config.port);
        options
            .set_keep_alive(config.keep_alive.max(Duration::from_secs(5)))
            .set_clean_session(true)
            // Twice the window, so that rumqttc's sequential packet ids never
            // run into one still waiting for its PUBACK.
            .set_inflight(config.max_inflight * 2 + 1)
            .set_max_packet_size(config.max_packet_size, config.max_packet_size);
        if let Some(tls) = &config.tls {
            options.set_transport(Transport::Tls(TlsConfiguration::Simple {
                ca: tls.ca_pem.clone(),
                alpn: None,
                client_auth: tls.client_auth.clone(),
            }));
        }
        let (client, mut eventloop) = AsyncClient::new(options, usize::from(config.max_inflight));
        let mut network = eventloop.network_options();
        network.set_connection_timeout(config.connect_timeout_secs.max(1));
        eventloop.set_network_options(network);
        let backoff = Backoff::new(config.backoff, crate::std_io::random_seed());
        Ok(Self {
            client,
            eventloop,
            config,
            queue: VecDeque::new(),
            unbound: VecDeque::new(),
            inflight: BTreeMap::new(),
            next_order: 0,
            confirmed: Vec::new(),
            backoff,
            connected: false,
            stats: MqttStats::default(),
        })
    }

    /// Counters since creation.
    pub fn stats(&self) -> MqttStats {
        self.stats
    }

    /// Events held: queued plus in flight.
    pub fn pending(&self) -> usize {
        self.queue.len() + self.unbound.len() + self.inflight.len()
    }

    /// Queues one event. It is sent by the next [`flush`](Self::flush).
    pub fn enqueue(&mut self, event: UpstreamEvent) -> Result<(), MqttError> {
        let topic = topic(&self.config.site, &event.class, &event.device_id)?;
        if self.pending() >= self.config.max_pending {
            return Err(MqttError::QueueFull {
                pending: self.pending(),
                event: std::boxed::Box::new(event),
            });
        }
        let publish = Publish::new(topic, QoS::AtLeastOnce, event.payload);
        self.queue.push_back((event.id, publish));
        Ok(())
    }

    /// Queues a batch and flushes it: returns once every event held is
    /// confirmed or `limit` has passed.
    pub async fn publish_batch(
        &mut self,
        events: impl IntoIterator<Item = UpstreamEvent>,
        limit: Duration,
    ) -> Result<FlushReport, MqttError> {
        for event in events {
            self.enqueue(event)?;
        }
        self.flush(limit).await
    }

    /// Sends queued events, up to `max_inflight` at a time, and waits for
    /// their PUBACKs, reconnecting with backoff as needed, until every event
    /// held is confirmed or `limit` has passed. Unconfirmed events stay in
    /// the publisher either way.
    pub async fn flush(&mut self, limit: Duration) -> Result<FlushReport, MqttError> {
        let deadline = Instant::now() + limit;
        while self.pending() > 0 {
            self.fill_window();
            let polled = match timeout_at(deadline, self.eventloop.poll()).await {
                Ok(polled) => polled,
                Err(_) => break,
            };
            match polled {
                Ok(Event::Incoming(Incoming::ConnAck(connack))) => {
                    self.connected = true;
                    self.stats.connections += 1;
                    self.backoff.reset();
                    tracing::info!(
                        broker = %self.broker(),
                        code = ?connack.code,
                        resending = self.inflight.len(),
                        "MQTT connected"
                    );
                }
                Ok(Event::Incoming(Incoming::PubAck(puback))) => self.on_puback(puback.pkid),
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => self.on_sent(pkid),
                Ok(Event::Outgoing(Outgoing::AwaitAck(pkid))) => self.on_collision(pkid),
                Ok(_) => {}
                Err(error) => {
                    self.on_connection_error(&error, deadline).await?;
                }
            }
        }
        Ok(FlushReport {
            confirmed: std::mem::take(&mut self.confirmed),
            pending: self.pending(),
        })
    }

    /// Disconnects from the broker (best effort), keeping unconfirmed events.
    pub async fn disconnect(&mut self, limit: Duration) {
        if !self.connected {
            return;
        }
        self.eventloop
            .pending
            .push_back(Request::Disconnect(rumqttc::Disconnect));
        let deadline = Instant::now() + limit;
        while let Ok(Ok(event)) = timeout_at(deadline, self.eventloop.poll()).await {
            if let Event::Incoming(Incoming::PubAck(puback)) = event {
                self.on_puback(puback.pkid);
            }
        }
        self.connected = false;
        self.resend_all();
        tracing::info!(broker = %self.broker(), "MQTT disconnected");
    }

    fn broker(&self) -> String {
        format!("{}:{}", self.config.host, self.config.port)
    }

    /// Hands queued events to the event loop while fewer than
    /// `max_inflight` are unconfirmed.
    fn fill_window(&mut self) {
        let window = usize::from(self.config.max_inflight);
        while self.inflight.len() + self.unbound.len() < window {
            let Some((id, publish)) = self.queue.pop_front() else {
                break;
            };
            let sent = self.client.try_publish(
                publish.topic.clone(),
                QoS::AtLeastOnce,
                false,
                publish.payload.clone(),
            );
            if sent.is_err() {
                // The request channel is full; try again after the next poll.
                self.queue.push_front((id, publish));
                break;
            }
            self.stats.published += 1;
            let order = self.next_order;
            self.next_order += 1;
            self.unbound.push_back(InFlight { id, order, publish });
        }
    }

    /// Binds the packet id rumqttc gave to the oldest unbound publish. The
    /// event loop handles requests in order, so the n-th new PUBLISH it
    /// reports is the n-th one handed to it. A resend reuses a packet id that
    /// is already bound, so it is skipped.
    fn on_sent(&mut self, pkid: u16) {
        if self.inflight.contains_key(&pkid) {
            return;
        }
        let Some(mut entry) = self.unbound.pop_front() else {
            self.stats.unexpected_acks += 1;
            tracing::warn!(pkid, "PUBLISH sent that this publisher did not hand over");
            return;
        };
        entry.publish.pkid = pkid;
        self.inflight.insert(pkid, entry);
    }

    /// rumqttc held a publish back because its packet id was still in use.
    /// That breaks the order in which packet ids are reported, so the
    /// connection is dropped and every unconfirmed publish is sent again.
    fn on_collision(&mut self, pkid: u16) {
        self.stats.collisions += 1;
        tracing::warn!(
            pkid,
            "MQTT packet id collision; reconnecting to resend unconfirmed publishes"
        );
        self.eventloop.state.collision = None;
        self.connected = false;
        self.resend_all();
    }

    fn on_puback(&mut self, pkid: u16) {
        let Some(done) = self.inflight.remove(&pkid) else {
            self.stats.unexpected_acks += 1;
            tracing::warn!(pkid, "PUBACK for a packet id not in flight; ignored");
            return;
        };
        // A PUBACK buffered before a disconnection can arrive after the
        // publish was queued for resending; it must not go out again.
        self.eventloop
            .pending
            .retain(|request| !matches!(request, Request::Publish(p) if p.pkid == pkid));
        self.confirmed.push(done.id);
        self.stats.confirmed += 1;
    }

    async fn on_connection_error(
        &mut self,
        error: &ConnectionError,
        deadline: Instant,
    ) -> Result<(), MqttError> {
        self.stats.connection_errors += 1;
        if self.connected {
            tracing::warn!(broker = %self.broker(), %error, unconfirmed = self.inflight.len(), "MQTT connection lost");
        }
        self.connected = false;
        self.resend_all();
        let Some(delay_ms) = self.backoff.next_delay_ms() else {
            let attempts = self.backoff.attempts();
            self.backoff.reset();
            return Err(MqttError::Unreachable {
                addr: self.broker(),
                attempts,
                last_error: error.to_string(),
            });
        };
        tracing::warn!(broker = %self.broker(), %error, delay_ms, "MQTT connect failed; retrying");
        let wake = (Instant::now() + Duration::from_millis(u64::from(delay_ms))).min(deadline);
        sleep(wake.saturating_duration_since(Instant::now())).await;
        Ok(())
    }

    /// Replaces whatever the event loop would send next with every
    /// unconfirmed publish, in the original order: first those with a packet
    /// id (marked as duplicates), then those that never got one.
    fn resend_all(&mut self) {
        // Events that the event loop buffered before the connection failed
        // still describe what happened on it: apply them first, or a stale
        // PUBLISH report would bind a packet id to the wrong event.
        while let Some(event) = self.eventloop.state.events.pop_front() {
            match event {
                Event::Incoming(Incoming::PubAck(puback)) => self.on_puback(puback.pkid),
                Event::Outgoing(Outgoing::Publish(pkid)) => self.on_sent(pkid),
                _ => {}
            }
        }
        // Drop the connection and the event loop's own copies of
        // unacknowledged publishes and queued requests; this publisher
        // resends its own list instead.
        self.eventloop.clean();
        self.eventloop.pending.clear();
        let mut unconfirmed: Vec<&mut InFlight> = self.inflight.values_mut().collect();
        unconfirmed.sort_by_key(|entry| entry.order);
        for entry in unconfirmed {
            entry.publish.dup = true;
            self.eventloop
                .pending
                .push_back(Request::Publish(entry.publish.clone()));
            self.stats.resent += 1;
            self.stats.published += 1;
        }
        for entry in &self.unbound {
            let mut publish = entry.publish.clone();
            publish.pkid = 0;
            self.eventloop.pending.push_back(Request::Publish(publish));
            self.stats.published += 1;
        }
    }
}
