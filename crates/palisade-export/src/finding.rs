//! Findings: what the gateway's detection engine concludes from events.

use std::collections::BTreeMap;

use palisade_schema::{DeviceId, EventKind, Severity};

use crate::context::DeviceInfo;

/// A reference to one event behind a finding: the device's boot counter and
/// sequence number identify it, and its kind says what it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventRef {
    /// Boot counter of the event.
    pub boot: u32,
    /// Sequence number of the event within that boot.
    pub sequence: u64,
    /// Kind of the event.
    pub kind: EventKind,
}

impl EventRef {
    /// The event's globally unique id on device `device`, in the form that
    /// [`EventContext::event_uid`](crate::EventContext::event_uid) writes
    /// into OCSF `metadata.uid`.
    pub fn uid(&self, device: &DeviceId) -> String {
        format!("{device}:{}:{}", self.boot, self.sequence)
    }
}

/// One piece of evidence for a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The event, when the evidence is a device event. Findings raised by
    /// the gateway itself (an unknown device at admission, for example) may
    /// have none.
    pub event: Option<EventRef>,
    /// A short human-readable description of what the evidence shows, for
    /// example `failed login for "service" from 10.20.9.44`.
    pub summary: String,
}

/// A detection: a rule fired for a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Unique id of this finding, chosen by the gateway; it becomes OCSF
    /// `finding_info.uid`.
    pub uid: String,
    /// Id of the rule that fired, such as `brute_force_login`; it becomes
    /// OCSF `finding_info.analytic.uid`.
    pub rule_id: String,
    /// One-line title.
    pub title: String,
    /// Longer description, when there is one.
    pub description: Option<String>,
    /// How serious the finding is.
    pub severity: Severity,
    /// The device concerned.
    pub device: DeviceInfo,
    /// When the finding was raised, in Unix milliseconds.
    pub time_unix_ms: u64,
    /// The events and observations behind the finding, oldest first.
    pub evidence: Vec<Evidence>,
    /// Free-form attributes, such as `advisory_id` and `fixed_version` for
    /// a vulnerable component; exported in name order.
    pub attributes: BTreeMap<String, String>,
}
