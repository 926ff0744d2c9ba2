//! Findings: what the detection engine concludes from events.

use std::collections::BTreeMap;
use std::fmt;

use palisade_schema::{DeviceId, Event, EventKind, Header, Severity};
use serde::{Deserialize, Serialize};

/// The detection rules, each with a fixed snake_case id that appears in
/// OCSF output as `finding_info.analytic.uid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RuleId {
    /// A device the gateway does not know tried to connect.
    UnknownDevice,
    /// A provisioning credential was rejected.
    InvalidCredential,
    /// A device rejected a command as unauthorized.
    UnauthorizedCommand,
    /// A remote access session ended sooner than the minimum.
    RemoteSessionShort,
    /// A remote access session lasted longer than the maximum.
    RemoteSessionLong,
    /// A data rate far from the device's learned baseline.
    DataRateAnomaly,
    /// A sequence gap, regression, replay or unseen kind transition.
    SequenceAnomaly,
    /// Too many failed logins in a window.
    BruteForceLogin,
    /// A listening port not seen while learning.
    NewListeningPort,
    /// A failed baseline (hardening) check.
    BaselineFailure,
    /// An SBOM component matches a known vulnerability advisory.
    VulnerableComponent,
    /// A device's SBOM differs from its maker's signed reference.
    SbomDrift,
}

impl RuleId {
    /// Every rule, in declaration order.
    pub const ALL: &'static [RuleId] = &[
        RuleId::UnknownDevice,
        RuleId::InvalidCredential,
        RuleId::UnauthorizedCommand,
        RuleId::RemoteSessionShort,
        RuleId::RemoteSessionLong,
        RuleId::DataRateAnomaly,
        RuleId::SequenceAnomaly,
        RuleId::BruteForceLogin,
        RuleId::NewListeningPort,
        RuleId::BaselineFailure,
        RuleId::VulnerableComponent,
        RuleId::SbomDrift,
    ];

    /// The snake_case id, such as `brute_force_login`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::UnknownDevice => "unknown_device",
            Self::InvalidCredential => "invalid_credential",
            Self::UnauthorizedCommand => "unauthorized_command",
            Self::RemoteSessionShort => "remote_session_short",
            Self::RemoteSessionLong => "remote_session_long",
            Self::DataRateAnomaly => "data_rate_anomaly",
            Self::SequenceAnomaly => "sequence_anomaly",
            Self::BruteForceLogin => "brute_force_login",
            Self::NewListeningPort => "new_listening_port",
            Self::BaselineFailure => "baseline_failure",
            Self::VulnerableComponent => "vulnerable_component",
            Self::SbomDrift => "sbom_drift",
        }
    }

    /// The rule with id `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|rule| rule.name() == name)
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One event that led to a finding, copied out of the borrowed [`Event`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The event's header (boot, sequence, uptime, severity).
    pub header: Header,
    /// The event's kind.
    pub kind: EventKind,
    /// One line saying what the event was, such as `failed login for
    /// "service" from 10.20.9.44`.
    pub summary: String,
    /// The whole event as JSON (serde's representation of the schema
    /// types), or `null` for a telemetry event, whose payload never goes
    /// into security output.
    pub event: serde_json::Value,
}

impl Evidence {
    /// Copies `event` into evidence.
    pub fn from_event(event: &Event<'_>) -> Self {
        Self {
            header: event.header,
            kind: event.kind(),
            summary: palisade_export::event_summary(event),
            event: if event.class() == palisade_schema::EventClass::Telemetry {
                serde_json::Value::Null
            } else {
                // Every schema type serializes to JSON without error: no map
                // has non-string keys and no float is involved.
                serde_json::to_value(&event.body).unwrap_or(serde_json::Value::Null)
            },
        }
    }
}

/// A detection: which rule fired, on which device, how severe, why and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule that fired.
    pub rule: RuleId,
    /// How serious it is.
    #[serde(with = "crate::config::severity_name")]
    pub severity: Severity,
    /// The device concerned; `None` when no device id could be read (a
    /// connection attempt without a credential, for example).
    #[serde(with = "crate::hex_id::option")]
    pub device: Option<DeviceId>,
    /// One sentence saying what was detected, with the values involved.
    pub summary: String,
    /// The events that triggered the finding.
    pub evidence: Vec<Evidence>,
    /// When the gateway made the finding, in milliseconds since the Unix epoch.
    pub time_unix_ms: u64,
    /// Rule-specific attributes, such as `advisory_id` and `fixed_version`
    /// for a vulnerable component; exported under OCSF `unmapped`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

impl Finding {
    /// Converts the finding into the export crate's form for OCSF, syslog
    /// and CEF output. `uid` must be unique across gateways (the delivery
    /// code uses the gateway name and the outbox row id); `device` is what
    /// the inventory knows about the device.
    pub fn to_export(
        &self,
        uid: String,
        device: palisade_export::DeviceInfo,
    ) -> palisade_export::Finding {
        palisade_export::Finding {
            uid,
            rule_id: self.rule.name().to_owned(),
            title: self.summary.clone(),
            description: None,
            severity: self.severity,
            device,
            time_unix_ms: self.time_unix_ms,
            evidence: self
                .evidence
                .iter()
                .map(|evidence| palisade_export::Evidence {
                    event: Some(palisade_export::EventRef {
                        boot: evidence.header.boot,
                        sequence: evidence.header.sequence,
                        kind: evidence.kind,
                    }),
                    summary: evidence.summary.clone(),
                })
                .collect(),
            attributes: self.attributes.clone(),
        }
    }
}

/// Milliseconds since the Unix epoch by the gateway's clock (0 before 1970).
pub fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
