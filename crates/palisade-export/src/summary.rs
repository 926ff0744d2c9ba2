//! One-line human-readable summaries of events, used as OCSF `message`,
//! syslog MSG and CEF `msg`.

use palisade_schema::{Event, EventBody};

use crate::fields;

/// Describes `event` in one short English sentence, for example
/// `login failed for user service from 10.20.9.44`.
///
/// The text may contain any character the event contains (newlines
/// included); each line format escapes it.
pub fn event_summary(event: &Event<'_>) -> String {
    match &event.body {
        EventBody::ProcessStarted(p) => format!("process {} started: {}", p.pid, p.command_line),
        EventBody::ProcessExited(p) => match p.exit_code {
            Some(code) => format!(
                "process {} ({}) exited with code {code}",
                p.pid, p.executable
            ),
            None => format!("process {} ({}) exited", p.pid, p.executable),
        },
        EventBody::NetworkConnection(c) => format!(
            "{} {} connection {} -> {}",
            fields::direction(c.direction),
            c.protocol.name(),
            c.local,
            c.remote
        ),
        EventBody::ListeningPortOpened(l) => {
            format!("{} socket listening on {}", l.protocol.name(), l.local)
        }
        EventBody::ListeningPortClosed(l) => format!(
            "{} socket on {} stopped listening",
            l.protocol.name(),
            l.local
        ),
        EventBody::Login(l) => {
            let mut text = format!(
                "login {} for user {}",
                fields::login_action(l.action),
                l.user
            );
            if let Some(source) = l.source {
                text.push_str(&format!(" from {source}"));
            }
            text
        }
        EventBody::PeripheralAttached(p) => {
            format!(
                "{} peripheral {:04x}:{:04x} attached",
                fields::bus(p.bus),
                p.vendor_id,
                p.product_id
            )
        }
        EventBody::PeripheralDetached(p) => {
            format!(
                "{} peripheral {:04x}:{:04x} detached",
                fields::bus(p.bus),
                p.vendor_id,
                p.product_id
            )
        }
        EventBody::FileIntegrityChanged(f) => match (f.old_sha256, f.new_sha256) {
            (None, _) => format!("watched file {} created", f.path),
            (Some(_), None) => format!("watched file {} deleted", f.path),
            (Some(_), Some(_)) => format!("watched file {} changed", f.path),
        },
        EventBody::SystemInfo(s) => format!(
            "system information: {} {} {} firmware {}",
            s.vendor, s.model, s.hostname, s.firmware_version
        ),
        EventBody::Heartbeat(h) => {
            format!(
                "agent heartbeat: {} queued, {} sent, {} dropped",
                h.queued, h.sent, h.dropped
            )
        }
        EventBody::BaselineCheck(b) => {
            format!(
                "baseline check {} result {}",
                b.check_id,
                fields::check_result(b.result)
            )
        }
        EventBody::SoftwareComponent(c) => format!("software component {} {}", c.name, c.version),
        EventBody::UnknownDevice(u) => format!("unknown device connected from {}", u.peer),
        EventBody::CredentialRejected(c) => {
            format!(
                "credential rejected: {}",
                fields::credential_reason(c.reason)
            )
        }
        EventBody::CommandRejected(c) => {
            format!("command rejected: {}", fields::command_reason(c.reason))
        }
        EventBody::RemoteSessionStarted(s) => {
            format!(
                "remote {} session {} started for user {}",
                s.protocol, s.session_id, s.user
            )
        }
        EventBody::RemoteSessionEnded(s) => format!(
            "remote {} session {} ended for user {} after {} ms",
            s.protocol, s.session_id, s.user, s.duration_ms
        ),
        EventBody::DataRateSample(d) => format!(
            "{} data rate: {} bytes in {} messages over {} ms",
            fields::direction(d.direction),
            d.bytes,
            d.messages,
            d.window_ms
        ),
        EventBody::SequenceAnomaly(s) => format!(
            "sequence {}: expected {} observed {}",
            fields::sequence_anomaly(s.kind),
            s.expected,
            s.observed
        ),
        EventBody::EventsDropped(d) => {
            format!(
                "{} events dropped: {}",
                d.count,
                fields::drop_reason(d.reason)
            )
        }
        EventBody::ConfigurationError(c) => {
            format!(
                "configuration error in {} key {}: {}",
                c.component, c.key, c.reason
            )
        }
        EventBody::CollectionError(c) => format!("collector {} failed: {}", c.collector, c.reason),
        EventBody::ProtocolViolation(p) => {
            format!("protocol violation: {}", fields::violation_reason(p.reason))
        }
        EventBody::CommandAcknowledged(a) => {
            format!(
                "command {} {}",
                a.command_id,
                fields::command_outcome(a.outcome)
            )
        }
        EventBody::Telemetry(t) => {
            format!("telemetry on channel {}, {} bytes", t.channel, t.data.len())
        }
        body => body.kind().name().to_owned(),
    }
}
