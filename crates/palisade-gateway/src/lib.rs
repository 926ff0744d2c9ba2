//! The core of the Palisade gateway: configuration, asset inventory, durable
//! outbox, detection engine, routing, sinks, response policy and metrics.
//!
//! The gateway keeps connected medical devices off the public network. Its
//! admission side (TCP listener and handshake, built on `palisade-transport`
//! and `palisade-credential`) admits devices and hands their event batches
//! to this crate:
//!
//! - [`config`]: the TOML configuration, validated at load; errors name the
//!   key and the fix. Listener and metrics default to `127.0.0.1:0`.
//! - [`inventory`]: every device seen (state admitted, isolated or revoked),
//!   its latest system information, SBOM components and baseline results.
//! - [`outbox`]: received batches committed to SQLite before they may be
//!   acknowledged, de-duplicated by (device, boot, sequence), delivered to
//!   each sink in order behind a per-sink cursor, pruned after a retention.
//! - [`detect`]: the detection engine, with per-device state, producing
//!   [`finding::Finding`]s under fixed rule ids ([`finding::RuleId`]).
//! - [`delivery`] and [`sink`]: routing (security and operational events
//!   and findings to OCSF JSON Lines sinks, telemetry to the business sink,
//!   never mixed) and size-rotated JSON Lines files.
//! - [`syslog_sink`] and [`mqtt_sink`]: security output to a SIEM as
//!   RFC 5424 or CEF over UDP, TCP or TLS, and to an MQTT broker
//!   ([`remote_sink`] is their common interface).
//! - [`response`]: the response policy (alert, isolate, shutdown, revoke)
//!   and the command audit table.
//! - [`posture`]: signed reference SBOMs and the `sbom_drift` check of
//!   each device's components against the reference for its model.
//! - [`metrics`]: counters and a Prometheus text endpoint on loopback.
//! - [`pipeline`]: all of the above wired together in the order the admission
//!   side needs ([`pipeline::GatewayCore`]), and delivery on database
//!   connections of its own, beside the commits ([`pipeline::DeliveryStore`]).
//!
//! # Storage and limits
//!
//! One SQLite file (bundled SQLite, WAL mode, `synchronous = FULL`) contains
//! the inventory, outbox and audit tables; its schema version is in
//! `PRAGMA user_version` and the `schema_version` table ([`db`]). A batch
//! holds at most `outbox.max_batch_events` events (1024 by default). The
//! detection state lives in memory (bounded per device, see the constants
//! in [`detect`]) and is learned again after a restart.
//!
//! # Failure
//!
//! Storage calls fail with [`db::StorageError`]; a batch whose
//! [`pipeline::GatewayCore::receive`] failed was not stored and must not be
//! acknowledged, so the device sends it again. A sink that fails keeps its
//! cursor and receives the same rows in the next round. Nothing here
//! panics on device input.
//!
//! # Example
//!
//! ```
//! use palisade_gateway::config::Config;
//! use palisade_gateway::pipeline::GatewayCore;
//! use palisade_gateway::inventory::{Admission, AdmissionOutcome, DeviceState};
//! use palisade_gateway::metrics::Metrics;
//! use palisade_schema::{DeviceId, samples};
//!
//! let dir = tempfile::tempdir()?;
//! let mut config = Config::with_default_sinks();
//! config.paths.database = dir.path().join("gateway.sqlite");
//! config.paths.output = dir.path().join("out");
//! let mut core = GatewayCore::open(config, Metrics::new())?;
//!
//! let device = DeviceId([7; 16]);
//! let outcome = core.admit(&Admission {
//!     device,
//!     model: "IP-200".into(),
//!     vendor: "Acme Medical".into(),
//!     hardware: "rev C".into(),
//!     firmware: "2.4.1".into(),
//!     credential_serial: Some(4711),
//!     address: Some("127.0.0.1:40000".parse()?),
//!     time_unix_ms: 1_796_000_000_000,
//! })?;
//! assert_eq!(outcome, AdmissionOutcome::Admitted(DeviceState::Admitted));
//!
//! let batch: Vec<_> = samples::one_of_each().collect();
//! let received = core.receive(device, &batch)?;
//! // Committed: the batch may now be acknowledged to the device.
//! assert_eq!(received.receipt.stored, batch.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod admission_limit;
pub mod config;
pub mod db;
pub mod delivery;
pub mod detect;
pub mod finding;
pub mod fleet;
#[doc(hidden)]
pub mod fuzzing;
pub mod hex_id;
pub mod inventory;
pub mod metrics;
pub mod mqtt_sink;
pub mod outbox;
pub mod pipeline;
pub mod posture;
pub mod remote_sink;
pub mod response;
pub mod server;
pub mod sink;
pub mod sink_config;
pub mod syslog_sink;
