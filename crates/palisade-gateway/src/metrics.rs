//! Gateway counters and a Prometheus text endpoint on a loopback address.
//!
//! [`Metrics`] is shared (`Arc`) between the admission side, the delivery
//! loop and the endpoint. [`serve`] returns the counters for `GET /metrics`
//! in the Prometheus text exposition format 0.0.4, and 404 for every other
//! request. It reads at most [`MAX_REQUEST_HEAD`] bytes of a request, waits
//! at most [`REQUEST_TIMEOUT`] for them, and serves at most
//! [`MAX_CONNECTIONS`] connections at once (later ones wait).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use palisade_schema::EventClass;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::finding::RuleId;

/// Largest request head read, in bytes; a longer one gets 431.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// Time allowed to send the request head.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 16;

/// Reason an admission was rejected, as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum AdmissionRejection {
    /// No credential, or a device the gateway does not know.
    UnknownDevice,
    /// The credential was invalid (signature, validity, proof of possession).
    InvalidCredential,
    /// The device or its serial was revoked.
    Revoked,
    /// The source address exceeded its admission rate.
    RateLimited,
    /// The peer broke the link protocol during admission.
    ProtocolViolation,
}

impl AdmissionRejection {
    /// Label value.
    pub const fn name(self) -> &'static str {
        match self {
            Self::UnknownDevice => "unknown_device",
            Self::InvalidCredential => "invalid_credential",
            Self::Revoked => "revoked",
            Self::RateLimited => "rate_limited",
            Self::ProtocolViolation => "protocol_violation",
        }
    }
}

/// Reason events were dropped at the gateway, as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Telemetry of an isolated or revoked device, not forwarded.
    TelemetryWithheld,
    /// A batch larger than the outbox accepts.
    BatchTooLarge,
    /// An event that did not decode: a device's record when its batch was
    /// committed, or a stored event at delivery.
    Undecodable,
    /// The outbox failed to store a batch (the device was not acknowledged
    /// and resends it).
    StorageFailure,
    /// A rejected admission that was not stored as an event because the
    /// queue of rejection reports was full.
    RejectionReportQueueFull,
}

impl DropReason {
    /// Label value.
    pub const fn name(self) -> &'static str {
        match self {
            Self::TelemetryWithheld => "telemetry_withheld",
            Self::BatchTooLarge => "batch_too_large",
            Self::Undecodable => "undecodable",
            Self::StorageFailure => "storage_failure",
            Self::RejectionReportQueueFull => "rejection_report_queue_full",
        }
    }
}

/// The gateway's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    admissions: AtomicU64,
    rejected_admissions: Mutex<BTreeMap<&'static str, u64>>,
    events: Mutex<BTreeMap<&'static str, u64>>,
    duplicates: AtomicU64,
    findings: Mutex<BTreeMap<&'static str, u64>>,
    drops: Mutex<BTreeMap<&'static str, u64>>,
    commands: AtomicU64,
    outbox_depth: AtomicU64,
}

fn add(map: &Mutex<BTreeMap<&'static str, u64>>, label: &'static str, count: u64) {
    // A poisoned lock only means another thread panicked mid-increment;
    // the counts are still usable.
    let mut map = map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    *map.entry(label).or_default() += count;
}

fn snapshot(map: &Mutex<BTreeMap<&'static str, u64>>) -> BTreeMap<&'static str, u64> {
    map.lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

impl Metrics {
    /// Fresh counters, shareable between tasks.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Counts an admitted device.
    pub fn admission(&self) {
        self.admissions.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a rejected admission.
    pub fn rejected_admission(&self, reason: AdmissionRejection) {
        add(&self.rejected_admissions, reason.name(), 1);
    }

    /// Counts `count` stored events of `class`.
    pub fn events(&self, class: EventClass, count: u64) {
        add(&self.events, class.name(), count);
    }

    /// Counts resent events that the outbox had already stored.
    pub fn duplicates(&self, count: u64) {
        self.duplicates.fetch_add(count, Ordering::Relaxed);
    }

    /// Counts a finding.
    pub fn finding(&self, rule: RuleId) {
        add(&self.findings, rule.name(), 1);
    }

    /// Counts `count` dropped events.
    pub fn drops(&self, reason: DropReason, count: u64) {
        add(&self.drops, reason.name(), count);
    }

    /// Counts a command sent to a device.
    pub fn command(&self) {
        self.commands.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets the number of outbox rows not yet delivered to every sink.
    pub fn set_outbox_depth(&self, depth: u64) {
        self.outbox_depth.store(depth, Ordering::Relaxed);
    }

    /// Admissions so far.
    pub fn admissions(&self) -> u64 {
        self.admissions.load(Ordering::Relaxed)
    }

    /// Findings so far for `rule`.
    pub fn findings_for(&self, rule: RuleId) -> u64 {
        snapshot(&self.findings)
            .get(rule.name())
            .copied()
            .unwrap_or(0)
    }

    /// The counters in the Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let mut text = String::new();
        let mut counter = |name: &str,
                           help: &str,
                           kind: &str,
                           label: Option<&str>,
                           values: BTreeMap<&'static str, u64>| {
            let _ = writeln!(text, "# HELP {name} {help}");
            let _ = writeln!(text, "# TYPE {name} {kind}");
            for (value_label, value) in values {
                match label {
                    Some(label) => {
                        let _ = writeln!(text, "{name}{{{label}=\"{value_label}\"}} {value}");
                    }
                    None => {
                        let _ = writeln!(text, "{name} {value}");
                    }
                }
            }
        };
        let single = |value: u64| BTreeMap::from([("", value)]);
        counter(
            "palisade_admissions_total",
            "Devices admitted.",
            "counter",
            None,
            single(self.admissions()),
        );
        counter(
            "palisade_rejected_admissions_total",
            "Admissions rejected, by reason.",
            "counter",
            Some("reason"),
            snapshot(&self.rejected_admissions),
        );
        let mut events = snapshot(&self.events);
        for class in [
            EventClass::Security,
            EventClass::Operational,
            EventClass::Telemetry,
        ] {
            events.entry(class.name()).or_insert(0);
        }
        counter(
            "palisade_events_total",
            "Events stored in the outbox, by class.",
            "counter",
            Some("class"),
            events,
        );
        counter(
            "palisade_duplicate_events_total",
            "Resent events that were already stored.",
            "counter",
            None,
            single(self.duplicates.load(Ordering::Relaxed)),
        );
        counter(
            "palisade_findings_total",
            "Findings, by rule id.",
            "counter",
            Some("rule"),
            snapshot(&self.findings),
        );
        counter(
            "palisade_drops_total",
            "Events dropped at the gateway, by reason.",
            "counter",
            Some("reason"),
            snapshot(&self.drops),
        );
        counter(
            "palisade_commands_total",
            "Commands sent to devices.",
            "counter",
            None,
            single(self.commands.load(Ordering::Relaxed)),
        );
        counter(
            "palisade_outbox_depth",
            "Outbox rows not yet delivered to every sink.",
            "gauge",
            None,
            single(self.outbox_depth.load(Ordering::Relaxed)),
        );
        text
    }
}

/// Error starting the metrics endpoint.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The address is not a loopback address.
    #[error(
        "metrics address {0} is not a loopback address; the endpoint has no authentication, so bind 127.0.0.1 or ::1"
    )]
    NotLoopback(SocketAddr),
    /// Binding failed.
    #[error("failed to bind the metrics endpoint on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Binds the endpoint on loopback `address` (port 0 picks a free port).
pub async fn bind(address: SocketAddr) -> Result<TcpListener, MetricsError> {
    if !address.ip().is_loopback() {
        return Err(MetricsError::NotLoopback(address));
    }
    TcpListener::bind(address)
        .await
        .map_err(|source| MetricsError::Bind { address, source })
}

/// Serves `metrics` on `listener` until the task is dropped or aborted.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    let local = listener.local_addr().ok();
    tracing::info!(address = ?local, "metrics endpoint started");
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, peer)) => {
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    if let Err(error) = answer(stream, &metrics).await {
                        tracing::debug!(%peer, %error, "metrics request failed");
                    }
                    drop(permit);
                });
            }
            Err(error) => {
                tracing::warn!(%error, "metrics endpoint failed to accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn answer(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buffer = [0u8; 1024];
    let complete = tokio::time::timeout(REQUEST_TIMEOUT, async {
        loop {
            if head.windows(4).any(|window| window == b"\r\n\r\n") {
                return Ok::<bool, std::io::Error>(true);
            }
            if head.len() > MAX_REQUEST_HEAD {
                return Ok(false);
            }
            let read = stream.read(&mut buffer).await?;
            if read == 0 {
                return Ok(false);
            }
            head.extend_from_slice(&buffer[..read]);
        }
    })
    .await;
    let complete: bool = match complete {
        Ok(result) => result?,
        Err(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "request head timed out",
            ));
        }
    };
    let (status, body) = if !complete {
        ("431 Request Header Fields Too Large", String::new())
    } else {
        let request_line = head.split(|&byte| byte == b'\n').next().unwrap_or_default();
        let mut parts = request_line.split(|&byte| byte == b' ');
        let method = parts.next().unwrap_or_default();
        let path = parts.next().unwrap_or_default();
        if method == b"GET" && (path == b"/metrics" || path.starts_with(b"/metrics?")) {
            ("200 OK", metrics.render())
        } else {
            (
                "404 Not Found",
                "not found; the metrics are at /metrics\n".to_owned(),
            )
        }
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
