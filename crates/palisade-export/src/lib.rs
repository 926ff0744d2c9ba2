//! SIEM and SBOM formats for Palisade: what a gateway writes so that
//! existing security tools accept device events and findings unchanged.
//!
//! - [`ocsf`]: OCSF 1.3.0 JSON objects for every event kind and for
//!   findings (Detection Finding, class 2004), plus a plain JSON form for
//!   telemetry ([`ocsf::telemetry_json`]), which goes to the business sink
//!   and never to a security sink.
//! - [`syslog`]: RFC 5424 lines with structured data; [`sender`] sends them
//!   over UDP, TCP with octet counting (RFC 6587) and TLS (RFC 5425,
//!   rustls).
//! - [`cef`]: ArcSight CEF lines.
//! - [`cyclonedx`]: CycloneDX 1.5 JSON SBOMs from a device's software
//!   components.
//! - [`vuln`]: OSV advisories loaded from a local folder and matched
//!   against those components, each match becoming a
//!   `vulnerable_component` finding.
//!
//! Events do not carry the id of the device that sent them, so every
//! exporter takes an [`EventContext`]: the [`DeviceInfo`] the gateway
//! holds, the exporting gateway's [`Origin`], and the receive time.
//! Findings ([`Finding`]) carry their device and their evidence.
//!
//! # Limits and failure
//!
//! Formatting never fails and never panics, because every event kind has a
//! mapping. Every value, whatever its characters or length, is escaped so
//! that a syslog or CEF message is exactly one line; the module docs give
//! the escaping rules. Values are not shortened; schema events
//! bound their own fields (at most 1024 bytes), but finding attributes and
//! titles have no limit. The UDP sender rejects a message longer than its
//! datagram limit (8192 bytes by default) with [`sender::SendError::TooLong`];
//! TCP and TLS carry any length. Senders block and do not reconnect.
//!
//! # Example
//!
//! ```
//! use palisade_export::{DeviceInfo, EventContext, Origin, cef, ocsf, syslog};
//! use palisade_schema::{DeviceId, samples, EventKind};
//!
//! let device = DeviceInfo { hostname: Some("pump-0017".into()), ..DeviceInfo::new(DeviceId([7; 16])) };
//! let origin = Origin::new("ward-3-gateway", "0.1.0");
//! let context = EventContext { device: &device, origin: &origin, received_unix_ms: 1_796_000_000_500 };
//! let event = samples::one_of_each().find(|e| e.kind() == EventKind::Login).unwrap();
//!
//! let object = ocsf::event(&event, &context);
//! assert_eq!(object["class_uid"], 3002);
//! assert_eq!(object["metadata"]["version"], "1.3.0");
//!
//! let line = syslog::event_message(&event, &context, &syslog::SyslogOptions::default()).to_line();
//! assert!(line.starts_with("<164>1 2026-11-30T00:53:21.250Z pump-0017 palisade - login "));
//!
//! let cef_line = cef::event_line(&event, &context);
//! assert!(cef_line.starts_with("CEF:0|Palisade|Palisade|0.1.0|login|login|5|"));
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod cef;
mod context;
pub mod cyclonedx;
mod fields;
mod finding;
#[doc(hidden)]
pub mod fuzzing;
pub mod ocsf;
pub mod sender;
mod summary;
pub mod syslog;
mod time;
pub mod vuln;

pub use context::{DeviceInfo, EventContext, Origin, PRODUCT_NAME, VENDOR_NAME};

/// Names of schema enum values as they appear in every output format, for
/// messages that analysts read next to that output.
pub mod names {
    pub use crate::fields::{command_action, command_reason, credential_reason, sequence_anomaly};
}
pub use finding::{EventRef, Evidence, Finding};
pub use summary::event_summary;
pub use time::rfc3339_ms;
