//! The MQTT sink: security events and findings as OCSF JSON, published with
//! QoS 1 through [`palisade_transport::mqtt::MqttPublisher`].
//!
//! Topics are `palisade/<site>/<class>/<device-id>`: the class is the
//! event's class (`security` or `operational`) or `finding`, and the device
//! id has 32 hex digits. A round succeeds once the broker has acknowledged
//! (PUBACK) every message queued so far. Until then the outbox cursor stays
//! and the publisher keeps and resends the unacknowledged messages, so the
//! next round does not queue them again. A PUBACK means the broker has the
//! message, not that a subscriber got it (see the publisher's docs for a
//! broker configuration that loses nothing).
//!
//! The publisher is asynchronous; the sink drives it on its own
//! single-threaded tokio runtime, so call delivery from a blocking context
//! (a plain thread or `tokio::task::spawn_blocking`), never from inside an
//! async task.

use std::time::Duration;

use palisade_export::ocsf;
use palisade_transport::mqtt::{MqttConfig, MqttPublisher, UpstreamEvent};

use crate::config::MqttSinkConfig;
use crate::remote_sink::{Record, RemoteSink};
use crate::sink::{Position, SinkError};

/// An MQTT sink; see the module docs.
pub struct MqttSink {
    name: String,
    broker: String,
    /// Always `Some` until the sink is dropped.
    runtime: Option<tokio::runtime::Runtime>,
    publisher: MqttPublisher,
    flush_timeout: Duration,
    last_queued: Option<Position>,
    confirmed: u64,
}

impl std::fmt::Debug for MqttSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttSink")
            .field("name", &self.name)
            .field("publisher", &self.publisher)
            .field("last_queued", &self.last_queued)
            .finish_non_exhaustive()
    }
}

impl MqttSink {
    /// Creates the sink; it connects to the broker on the first flush.
    pub fn open(name: &str, config: &MqttSinkConfig) -> Result<Self, SinkError> {
        let setup = |source: Box<dyn std::error::Error + Send + Sync>| SinkError::Network {
            sink: name.to_owned(),
            action: "set up",
            target: config.broker.clone(),
            source,
        };
        let (host, port) = config
            .host_port()
            .ok_or_else(|| setup("the broker is not in host:port form".into()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| setup(error.into()))?;
        let publisher_config =
            MqttConfig::new(host, port, config.effective_client_id(), &config.site);
        let publisher = {
            let _context = runtime.enter();
            MqttPublisher::new(publisher_config).map_err(|error| setup(error.into()))?
        };
        Ok(Self {
            name: name.to_owned(),
            broker: config.broker.clone(),
            runtime: Some(runtime),
            publisher,
            flush_timeout: Duration::from_millis(config.flush_timeout_ms),
            last_queued: None,
            confirmed: 0,
        })
    }

    /// Messages the broker has acknowledged since the sink was created.
    pub fn confirmed(&self) -> u64 {
        self.confirmed
    }

    /// Messages queued or in flight, not yet acknowledged.
    pub fn pending(&self) -> usize {
        self.publisher.pending()
    }

    fn error(
        &self,
        action: &'static str,
        source: Box<dyn std::error::Error + Send + Sync>,
    ) -> SinkError {
        SinkError::Network {
            sink: self.name.clone(),
            action,
            target: self.broker.clone(),
            source,
        }
    }
}

impl RemoteSink for MqttSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn last_sent(&self) -> Option<Position> {
        self.last_queued
    }

    fn send(&mut self, position: Position, record: Record<'_>) -> Result<(), SinkError> {
        let (class, device_id, object) = match record {
            Record::Event { event, context } => (
                event.class().name().to_owned(),
                context.device.id.to_string(),
                ocsf::event(event, context),
            ),
            Record::Finding { finding, origin } => (
                "finding".to_owned(),
                finding.device.id.to_string(),
                ocsf::finding(finding, origin),
            ),
        };
        // The id is informational here: a round succeeds once nothing is
        // pending, whichever ids the broker confirmed.
        let id = (u64::try_from(position.row).unwrap_or(0) << 32) | u64::from(position.index);
        self.publisher
            .enqueue(UpstreamEvent {
                id,
                class,
                device_id,
                payload: object.to_string().into_bytes(),
            })
            .map_err(|error| self.error("queue a message for", error.into()))?;
        self.last_queued = Some(position);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        let Some(runtime) = &self.runtime else {
            return Err(self.error("publish to", "the sink's runtime is gone".into()));
        };
        let report = runtime
            .block_on(self.publisher.flush(self.flush_timeout))
            .map_err(|error| self.error("publish to", error.into()))?;
        self.confirmed += report.confirmed.len() as u64;
        if report.pending > 0 {
            tracing::warn!(sink = %self.name, broker = %self.broker, pending = report.pending, "MQTT broker has not acknowledged every message; retrying next round");
            return Err(self.error(
                "get acknowledgements from",
                format!(
                    "{} messages still unacknowledged after {} ms",
                    report.pending,
                    self.flush_timeout.as_millis()
                )
                .into(),
            ));
        }
        Ok(())
    }
}

impl Drop for MqttSink {
    fn drop(&mut self) {
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        // Blocking on (or dropping) the sink's runtime is only allowed
        // outside async code; inside, the runtime shuts down in the
        // background and the broker sees the connection close.
        if tokio::runtime::Handle::try_current().is_err() {
            runtime.block_on(self.publisher.disconnect(Duration::from_secs(1)));
        } else {
            runtime.shutdown_background();
        }
    }
}
