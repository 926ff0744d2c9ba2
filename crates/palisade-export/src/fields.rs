//! A flat list of (name, value) pairs for each event body, shared by the
//! line formats (syslog structured data and CEF extensions).

use palisade_schema::{
    Bus, CheckResult, CommandAction, CommandOutcome, CommandRejectReason, CredentialRejectReason,
    Direction, DropReason, EventBody, LoginAction, LoginMethod, ProtocolViolationReason,
    SequenceAnomalyKind, StartKind,
};

/// Flattens `body` into (name, value) pairs in a fixed order.
///
/// Names are lowercase ASCII `snake_case`; absent optional values are left
/// out. Byte strings and digests are lowercase hex.
pub(crate) fn event_fields(body: &EventBody<'_>) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    let mut push = |name: &'static str, value: String| out.push((name, value));
    match body {
        EventBody::ProcessStarted(p) => {
            push("pid", p.pid.to_string());
            push("parent_pid", p.parent_pid.to_string());
            push("uid", p.uid.to_string());
            if let Some(user) = p.user {
                push("user", user.as_str().into());
            }
            push("executable", p.executable.as_str().into());
            push("command_line", p.command_line.as_str().into());
            push("start_kind", start_kind(p.start_kind).into());
        }
        EventBody::ProcessExited(p) => {
            push("pid", p.pid.to_string());
            push("executable", p.executable.as_str().into());
            if let Some(code) = p.exit_code {
                push("exit_code", code.to_string());
            }
        }
        EventBody::NetworkConnection(c) => {
            push("protocol", c.protocol.name().into());
            push("direction", direction(c.direction).into());
            push("local_ip", c.local.ip.to_string());
            push("local_port", c.local.port.to_string());
            push("remote_ip", c.remote.ip.to_string());
            push("remote_port", c.remote.port.to_string());
            if let Some(pid) = c.pid {
                push("pid", pid.to_string());
            }
            if let Some(executable) = c.executable {
                push("executable", executable.as_str().into());
            }
            push("bytes_in", c.bytes_in.to_string());
            push("bytes_out", c.bytes_out.to_string());
        }
        EventBody::ListeningPortOpened(l) | EventBody::ListeningPortClosed(l) => {
            push("protocol", l.protocol.name().into());
            push("local_ip", l.local.ip.to_string());
            push("local_port", l.local.port.to_string());
            if let Some(pid) = l.pid {
                push("pid", pid.to_string());
            }
            if let Some(executable) = l.executable {
                push("executable", executable.as_str().into());
            }
        }
        EventBody::Login(l) => {
            push("action", login_action(l.action).into());
            push("user", l.user.as_str().into());
            push("method", login_method(l.method).into());
            if let Some(terminal) = l.terminal {
                push("terminal", terminal.as_str().into());
            }
            if let Some(source) = l.source {
                push("source_ip", source.to_string());
            }
        }
        EventBody::PeripheralAttached(p) | EventBody::PeripheralDetached(p) => {
            push("bus", bus(p.bus).into());
            push("vendor_id", format!("{:04x}", p.vendor_id));
            push("product_id", format!("{:04x}", p.product_id));
            push("class", format!("{:02x}", p.class));
            if let Some(name) = p.name {
                push("name", name.as_str().into());
            }
        }
        EventBody::FileIntegrityChanged(f) => {
            push("path", f.path.as_str().into());
            if let Some(old) = f.old_sha256 {
                push("old_sha256", hex::encode(old));
            }
            if let Some(new) = f.new_sha256 {
                push("new_sha256", hex::encode(new));
            }
        }
        EventBody::SystemInfo(s) => {
            push("vendor", s.vendor.as_str().into());
            push("model", s.model.as_str().into());
            push("hostname", s.hostname.as_str().into());
            push("os_name", s.os_name.as_str().into());
            push("os_version", s.os_version.as_str().into());
            push("architecture", s.architecture.as_str().into());
            push("firmware_version", s.firmware_version.as_str().into());
            let addresses: Vec<String> = s
                .interfaces
                .iter()
                .flat_map(|interface| {
                    interface
                        .addresses
                        .iter()
                        .map(move |ip| format!("{}={ip}", interface.name))
                })
                .collect();
            if !addresses.is_empty() {
                push("addresses", addresses.join(","));
            }
        }
        EventBody::Heartbeat(h) => {
            push("queued", h.queued.to_string());
            push("sent", h.sent.to_string());
            push("dropped", h.dropped.to_string());
            push("retried", h.retried.to_string());
        }
        EventBody::BaselineCheck(b) => {
            push("check_id", b.check_id.as_str().into());
            push("result", check_result(b.result).into());
            push("check_severity", b.severity.name().into());
            push("description", b.description.as_str().into());
            push("remediation", b.remediation.as_str().into());
        }
        EventBody::SoftwareComponent(c) => {
            push("name", c.name.as_str().into());
            push("version", c.version.as_str().into());
            if let Some(supplier) = c.supplier {
                push("supplier", supplier.as_str().into());
            }
            if let Some(purl) = c.purl {
                push("purl", purl.as_str().into());
            }
            if let Some(cpe) = c.cpe {
                push("cpe", cpe.as_str().into());
            }
            if let Some(sha256) = c.sha256 {
                push("sha256", hex::encode(sha256));
            }
        }
        EventBody::UnknownDevice(u) => {
            push("peer_ip", u.peer.ip.to_string());
            push("peer_port", u.peer.port.to_string());
            if let Some(id) = u.claimed_device_id {
                push("claimed_device_id", id.to_string());
            }
        }
        EventBody::CredentialRejected(c) => {
            if let Some(peer) = c.peer {
                push("peer_ip", peer.ip.to_string());
                push("peer_port", peer.port.to_string());
            }
            if let Some(id) = c.device_id {
                push("credential_device_id", id.to_string());
            }
            if let Some(serial) = c.serial {
                push("serial", serial.to_string());
            }
            push("reason", credential_reason(c.reason).into());
            push("detail_code", c.detail_code.to_string());
        }
        EventBody::CommandRejected(c) => {
            if let Some(id) = c.command_id {
                push("command_id", id.to_string());
            }
            if let Some(action) = c.action {
                push("command_action", command_action(action));
            }
            if let Some(key) = c.signer_key_id {
                push("signer_key_id", key.to_string());
            }
            push("reason", command_reason(c.reason).into());
        }
        EventBody::RemoteSessionStarted(s) | EventBody::RemoteSessionEnded(s) => {
            push("session_id", s.session_id.as_str().into());
            push("user", s.user.as_str().into());
            if let Some(source) = s.source {
                push("source_ip", source.ip.to_string());
                push("source_port", source.port.to_string());
            }
            push("protocol", s.protocol.as_str().into());
            push("duration_ms", s.duration_ms.to_string());
        }
        EventBody::DataRateSample(d) => {
            push("direction", direction(d.direction).into());
            push("window_ms", d.window_ms.to_string());
            push("bytes", d.bytes.to_string());
            push("messages", d.messages.to_string());
        }
        EventBody::SequenceAnomaly(s) => {
            push("anomaly", sequence_anomaly(s.kind).into());
            push("anomaly_boot", s.boot.to_string());
            push("expected", s.expected.to_string());
            push("observed", s.observed.to_string());
            if let Some((previous, next)) = s.transition {
                push("transition", format!("{}>{}", previous.name(), next.name()));
            }
        }
        EventBody::EventsDropped(d) => {
            push("count", d.count.to_string());
            push("reason", drop_reason(d.reason).into());
        }
        EventBody::ConfigurationError(c) => {
            push("component", c.component.as_str().into());
            push("key", c.key.as_str().into());
            push("reason", c.reason.as_str().into());
        }
        EventBody::CollectionError(c) => {
            push("collector", c.collector.as_str().into());
            if let Some(path) = c.path {
                push("path", path.as_str().into());
            }
            push("reason", c.reason.as_str().into());
        }
        EventBody::ProtocolViolation(p) => {
            if let Some(peer) = p.peer {
                push("peer_ip", peer.ip.to_string());
                push("peer_port", peer.port.to_string());
            }
            if let Some(id) = p.device_id {
                push("peer_device_id", id.to_string());
            }
            push("reason", violation_reason(p.reason).into());
        }
        EventBody::CommandAcknowledged(a) => {
            push("command_id", a.command_id.to_string());
            push("outcome", command_outcome(a.outcome).into());
            if let Some(reason) = a.reason {
                push("reason", reason.as_str().into());
            }
        }
        EventBody::Telemetry(t) => {
            push("channel", t.channel.to_string());
            push("data", hex::encode(t.data.as_bytes()));
        }
        // EventBody is non_exhaustive: a kind added to the schema later is
        // exported with its header fields only until it gets a mapping here.
        _ => {}
    }
    out
}

pub(crate) fn start_kind(kind: StartKind) -> &'static str {
    match kind {
        StartKind::Fork => "fork",
        StartKind::Exec => "exec",
        StartKind::Unknown => "unknown",
    }
}

pub(crate) fn direction(direction: Direction) -> &'static str {
    match direction {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
        Direction::Unknown => "unknown",
    }
}

pub(crate) fn login_action(action: LoginAction) -> &'static str {
    match action {
        LoginAction::Login => "login",
        LoginAction::Logout => "logout",
        LoginAction::Failed => "failed",
        LoginAction::InvalidUser => "invalid_user",
    }
}

pub(crate) fn login_method(method: LoginMethod) -> &'static str {
    match method {
        LoginMethod::Password => "password",
        LoginMethod::PublicKey => "public_key",
        LoginMethod::Local => "local",
        LoginMethod::Other => "other",
        LoginMethod::Unknown => "unknown",
    }
}

pub(crate) fn bus(bus: Bus) -> &'static str {
    match bus {
        Bus::Usb => "usb",
        Bus::Pci => "pci",
        Bus::Bluetooth => "bluetooth",
        Bus::Serial => "serial",
        Bus::Other => "other",
    }
}

pub(crate) fn check_result(result: CheckResult) -> &'static str {
    match result {
        CheckResult::Pass => "pass",
        CheckResult::Fail => "fail",
        CheckResult::Error => "error",
    }
}

/// Snake-case name of a credential rejection reason, as in the exported
/// fields (`expired`, `revoked`, ...).
pub fn credential_reason(reason: CredentialRejectReason) -> &'static str {
    match reason {
        CredentialRejectReason::BadSignature => "bad_signature",
        CredentialRejectReason::Expired => "expired",
        CredentialRejectReason::NotYetValid => "not_yet_valid",
        CredentialRejectReason::Revoked => "revoked",
        CredentialRejectReason::UnknownIssuer => "unknown_issuer",
        CredentialRejectReason::ProofOfPossessionFailed => "proof_of_possession_failed",
        CredentialRejectReason::Malformed => "malformed",
        CredentialRejectReason::NotPermitted => "not_permitted",
        CredentialRejectReason::ClonedKey => "cloned_key",
        CredentialRejectReason::RevocationListStale => "revocation_list_stale",
        _ => "other",
    }
}

/// Snake-case name of a command action, as in the exported fields
/// (`isolate_network`, `custom_7`, ...).
pub fn command_action(action: CommandAction) -> String {
    match action {
        CommandAction::IsolateNetwork => "isolate_network".into(),
        CommandAction::ReleaseIsolation => "release_isolation".into(),
        CommandAction::GracefulShutdown => "graceful_shutdown".into(),
        CommandAction::RotateCredential => "rotate_credential".into(),
        CommandAction::InstallRevocationList => "install_revocation_list".into(),
        CommandAction::RequestInventory => "request_inventory".into(),
        CommandAction::Custom(number) => format!("custom_{number}"),
        _ => "other".into(),
    }
}

/// Snake-case name of a command rejection reason, as in the exported
/// fields (`replayed`, `unknown_signer`, ...).
pub fn command_reason(reason: CommandRejectReason) -> &'static str {
    match reason {
        CommandRejectReason::BadSignature => "bad_signature",
        CommandRejectReason::UnknownSigner => "unknown_signer",
        CommandRejectReason::Replayed => "replayed",
        CommandRejectReason::NotPermitted => "not_permitted",
        CommandRejectReason::Expired => "expired",
        CommandRejectReason::WrongTarget => "wrong_target",
        CommandRejectReason::Malformed => "malformed",
        _ => "other",
    }
}

/// Snake-case name of a sequence anomaly kind, as in the exported fields
/// (`gap`, `regression`, `replay`, `unseen_transition`).
pub fn sequence_anomaly(kind: SequenceAnomalyKind) -> &'static str {
    match kind {
        SequenceAnomalyKind::Gap => "gap",
        SequenceAnomalyKind::Regression => "regression",
        SequenceAnomalyKind::Replay => "replay",
        SequenceAnomalyKind::UnseenTransition => "unseen_transition",
    }
}

pub(crate) fn drop_reason(reason: DropReason) -> &'static str {
    match reason {
        DropReason::QueueFull => "queue_full",
        DropReason::AggregationOverflow => "aggregation_overflow",
        DropReason::EncodingFailure => "encoding_failure",
        DropReason::StorageFailure => "storage_failure",
        _ => "other",
    }
}

pub(crate) fn violation_reason(reason: ProtocolViolationReason) -> &'static str {
    match reason {
        ProtocolViolationReason::OversizedFrame => "oversized_frame",
        ProtocolViolationReason::StalledHandshake => "stalled_handshake",
        ProtocolViolationReason::GarbageBeforeFrame => "garbage_before_frame",
        ProtocolViolationReason::MalformedRecord => "malformed_record",
        ProtocolViolationReason::UnopenableRecord => "unopenable_record",
        ProtocolViolationReason::ReplayedRecord => "replayed_record",
        ProtocolViolationReason::Unresponsive => "unresponsive",
        _ => "other",
    }
}

pub(crate) fn command_outcome(outcome: CommandOutcome) -> &'static str {
    match outcome {
        CommandOutcome::Executed => "executed",
        CommandOutcome::Deferred => "deferred",
        CommandOutcome::Rejected => "rejected",
    }
}
