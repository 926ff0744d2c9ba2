//! The detection engine: rules with per-device state that turn events into
//! [`Finding`]s.
//!
//! Per device, the engine keeps the highest (boot, sequence) seen and the
//! last [`RECENT_KEYS`] keys, which tell a replay from a regression. It also
//! keeps the last event kind, the failed logins inside the brute-force
//! window, open remote sessions, an EWMA of the data rate per direction, the
//! listening ports learned as normal, and the failing baseline checks. Per
//! device model it keeps the event-kind transitions learned until
//! `learning_events_per_model` consecutive events of the model brought no
//! new transition.
//!
//! The state lives in memory and starts empty after a restart, so learned
//! baselines are learned again.
//!
//! A (boot, sequence) that reaches [`Engine::observe`] twice is reported as
//! a replay. So pass each event once: [`GatewayCore`](crate::pipeline::GatewayCore)
//! skips identical resends (which the outbox recognises) and passes a
//! different event under a reused key.

use std::collections::{HashMap, HashSet, VecDeque};

use palisade_export::names;
use palisade_schema::{
    CheckResult, DataRateSample, DeviceId, Direction, Event, EventBody, EventKind, IpAddress,
    ListeningPort, Login, LoginAction, Protocol, RemoteSession, SequenceAnomalyKind, Severity,
};

use crate::config::DetectionConfig;
use crate::finding::{Evidence, Finding, RuleId};

/// (boot, sequence) keys remembered per device to recognise replays.
pub const RECENT_KEYS: usize = 256;
/// Open remote sessions tracked per device; the oldest is forgotten beyond it.
pub const MAX_OPEN_SESSIONS: usize = 64;
/// Listening ports learned per device; later ports are still reported.
pub const MAX_KNOWN_PORTS: usize = 1024;
/// Events attached as evidence to one finding.
pub const MAX_EVIDENCE: usize = 16;
/// Admission failures from one peer address, per rule and rejection reason,
/// that raise a finding per minute. Further ones in the same minute are
/// counted in the next finding. Because the limit is per reason, a revoked
/// credential is reported even after an expired one from the same address.
pub const ADMISSION_FINDINGS_PER_PEER_PER_MINUTE: u32 = 1;
/// Peer addresses whose admission findings are limited. When more addresses
/// fail within one minute, the ones beyond the table raise a finding per
/// attempt instead of being limited.
pub const MAX_TRACKED_PEERS: usize = 4096;

/// Exponentially weighted mean and variance of one data rate.
#[derive(Debug, Clone, Copy, Default)]
struct Ewma {
    samples: u32,
    mean: f64,
    variance: f64,
}

impl Ewma {
    fn update(&mut self, value: f64, alpha: f64) {
        self.samples = self.samples.saturating_add(1);
        // During warm-up the weight is at least 1/n, so the first samples
        // give their plain average instead of a mean dragged towards 0.
        let weight = alpha.max(1.0 / f64::from(self.samples));
        let difference = value - self.mean;
        let increment = weight * difference;
        self.mean += increment;
        self.variance = (1.0 - weight) * (self.variance + difference * increment);
    }
}

#[derive(Debug, Default)]
struct DeviceTrack {
    model: Option<String>,
    highest: Option<(u32, u64)>,
    recent: VecDeque<(u32, u64)>,
    last_kind: Option<EventKind>,
    events_seen: u64,
    reported_transitions: HashSet<(EventKind, EventKind)>,
    failed_logins: VecDeque<(u32, u64, u32, Evidence)>,
    sessions: VecDeque<OpenSession>,
    rates: HashMap<DirectionKey, Ewma>,
    known_ports: HashSet<(ProtocolKey, u16)>,
    failing_checks: HashSet<String>,
}

/// A remote session that started and has not ended yet.
#[derive(Debug)]
struct OpenSession {
    id: String,
    boot: u32,
    started_uptime_ms: u64,
    started: Evidence,
    reported_long: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum DirectionKey {
    Inbound,
    Outbound,
    Unknown,
}

impl From<Direction> for DirectionKey {
    fn from(direction: Direction) -> Self {
        match direction {
            Direction::Inbound => Self::Inbound,
            Direction::Outbound => Self::Outbound,
            Direction::Unknown => Self::Unknown,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ProtocolKey {
    Tcp,
    Udp,
}

impl From<Protocol> for ProtocolKey {
    fn from(protocol: Protocol) -> Self {
        match protocol {
            Protocol::Tcp => Self::Tcp,
            Protocol::Udp => Self::Udp,
        }
    }
}

#[derive(Debug, Default)]
struct ModelTrack {
    /// Consecutive events of the model that taught no new transition.
    events_without_new_transition: u64,
    transitions: HashSet<(EventKind, EventKind)>,
}

#[derive(Debug, Clone, Copy)]
struct PeerWindow {
    minute: u64,
    reported: u32,
    suppressed: u64,
}

/// The detection engine. Not thread-safe by itself: one task owns it, or
/// callers share it behind a mutex.
#[derive(Debug)]
pub struct Engine {
    config: DetectionConfig,
    devices: HashMap<DeviceId, DeviceTrack>,
    models: HashMap<String, ModelTrack>,
    /// Admission finding windows by (rule, peer address, rejection reason).
    peers: HashMap<(RuleId, IpAddress, u8), PeerWindow>,
}

impl Engine {
    /// An engine with empty state.
    pub fn new(config: DetectionConfig) -> Self {
        Self {
            config,
            devices: HashMap::new(),
            models: HashMap::new(),
            peers: HashMap::new(),
        }
    }

    /// The rule parameters in use.
    pub fn config(&self) -> &DetectionConfig {
        &self.config
    }

    /// Sets the device's model, which selects the kind transitions learned
    /// for it. A system-information event sets it too.
    pub fn set_model(&mut self, device: DeviceId, model: &str) {
        self.devices.entry(device).or_default().model = Some(model.to_owned());
    }

    /// Drops all state about `device` (for example after it was revoked).
    pub fn forget(&mut self, device: DeviceId) {
        self.devices.remove(&device);
    }

    /// Devices with state in the engine.
    pub fn tracked_devices(&self) -> usize {
        self.devices.len()
    }

    /// Runs every rule on one event from `device` and returns the findings,
    /// timed `now_unix_ms` (gateway clock).
    pub fn observe(
        &mut self,
        device: DeviceId,
        event: &Event<'_>,
        now_unix_ms: u64,
    ) -> Vec<Finding> {
        let mut findings = Vec::new();
        let mut emit =
            |rule: RuleId, severity: Option<Severity>, summary: String, evidence: Vec<Evidence>| {
                let toggle = self.config.toggle(rule);
                if toggle.enabled {
                    findings.push(Finding {
                        rule,
                        severity: severity
                            .map_or(toggle.severity, |severity| severity.max(toggle.severity)),
                        device: Some(device),
                        summary,
                        evidence,
                        time_unix_ms: now_unix_ms,
                        attributes: Default::default(),
                    });
                }
            };
        let track = self.devices.entry(device).or_default();
        track.events_seen = track.events_seen.saturating_add(1);
        if let EventBody::SystemInfo(info) = &event.body {
            track.model = Some(info.model.as_str().to_owned());
        }

        check_sequence(&self.config, track, event, &mut emit);
        check_transition(&self.config, track, &mut self.models, event, &mut emit);
        if !track.sessions.is_empty() {
            check_open_sessions(&self.config, track, event, &mut emit);
        }

        match &event.body {
            EventBody::UnknownDevice(_) | EventBody::CredentialRejected(_) => {
                // A device does not report admission failures; the admission
                // side does, through `observe_admission_failure`.
            }
            EventBody::CommandRejected(rejected) => emit(
                RuleId::UnauthorizedCommand,
                None,
                format!(
                    "device rejected command {} ({}) as unauthorized: {}",
                    rejected
                        .command_id
                        .map_or_else(|| "without id".to_owned(), |id| id.to_string()),
                    rejected
                        .action
                        .map_or_else(|| "unknown action".to_owned(), names::command_action),
                    names::command_reason(rejected.reason)
                ),
                vec![Evidence::from_event(event)],
            ),
            EventBody::SequenceAnomaly(anomaly) => emit(
                RuleId::SequenceAnomaly,
                None,
                format!(
                    "device reported a sequence anomaly ({}) in boot {}: expected {}, observed {}",
                    names::sequence_anomaly(anomaly.kind),
                    anomaly.boot,
                    anomaly.expected,
                    anomaly.observed
                ),
                vec![Evidence::from_event(event)],
            ),
            EventBody::RemoteSessionStarted(session) => {
                if track.sessions.len() >= MAX_OPEN_SESSIONS {
                    track.sessions.pop_front();
                }
                track.sessions.push_back(OpenSession {
                    id: session.session_id.as_str().to_owned(),
                    boot: event.header.boot,
                    started_uptime_ms: event.header.uptime_ms,
                    started: Evidence::from_event(event),
                    reported_long: false,
                });
            }
            EventBody::RemoteSessionEnded(session) => {
                check_session_end(&self.config, track, session, event, &mut emit);
            }
            EventBody::DataRateSample(sample) if sample.window_ms > 0 => {
                check_data_rate(&self.config, track, sample, event, &mut emit);
            }
            EventBody::Login(login)
                if matches!(login.action, LoginAction::Failed | LoginAction::InvalidUser) =>
            {
                check_failed_login(&self.config, track, login, event, &mut emit);
            }
            EventBody::ListeningPortOpened(port) => {
                check_listening_port(&self.config, track, port, event, &mut emit);
            }
            EventBody::BaselineCheck(check) => {
                let rule = self.config.baseline_failure;
                let check_id = check.check_id.as_str();
                match check.result {
                    CheckResult::Fail
                        if check.severity >= rule.min_check_severity
                            && track.failing_checks.insert(check_id.to_owned()) =>
                    {
                        emit(
                            RuleId::BaselineFailure,
                            Some(check.severity),
                            format!("baseline check {check_id} failed: {}", check.description),
                            vec![Evidence::from_event(event)],
                        );
                    }
                    CheckResult::Pass => {
                        track.failing_checks.remove(check_id);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        findings
    }

    /// Runs the admission rules on an event that the admission side reports
    /// itself: [`EventBody::UnknownDevice`] raises `unknown_device`,
    /// [`EventBody::CredentialRejected`] raises `invalid_credential`; other
    /// kinds raise nothing.
    ///
    /// Findings are limited per peer address and rejection reason to
    /// [`ADMISSION_FINDINGS_PER_PEER_PER_MINUTE`]; the next finding for that
    /// address and reason states how many attempts were not reported.
    pub fn observe_admission_failure(
        &mut self,
        event: &Event<'_>,
        now_unix_ms: u64,
    ) -> Vec<Finding> {
        let (rule, device, peer, reason, summary) = match &event.body {
            EventBody::UnknownDevice(unknown) => (
                RuleId::UnknownDevice,
                unknown.claimed_device_id,
                Some(unknown.peer.ip),
                0,
                format!(
                    "connection attempt by an unknown device from {}{}",
                    unknown.peer,
                    unknown
                        .claimed_device_id
                        .map_or_else(String::new, |id| format!(" claiming device id {id}"))
                ),
            ),
            EventBody::CredentialRejected(rejected) => (
                RuleId::InvalidCredential,
                rejected.device_id,
                rejected.peer.map(|peer| peer.ip),
                rejected.reason as u8,
                format!(
                    "provisioning credential{}{} rejected: {}{}",
                    rejected
                        .serial
                        .map_or_else(String::new, |serial| format!(" serial {serial}")),
                    rejected
                        .device_id
                        .map_or_else(String::new, |id| format!(" of device {id}")),
                    names::credential_reason(rejected.reason),
                    rejected
                        .peer
                        .map_or_else(String::new, |peer| format!(" (from {peer})"))
                ),
            ),
            _ => return Vec::new(),
        };
        let toggle = self.config.toggle(rule);
        if !toggle.enabled {
            return Vec::new();
        }
        let mut summary = summary;
        let minute = now_unix_ms / 60_000;
        if let Some(peer) = peer
            && !self.peers.contains_key(&(rule, peer, reason))
            && self.peers.len() >= MAX_TRACKED_PEERS
        {
            // Windows of past minutes hold no limit any more; dropping them
            // only loses the count of attempts they did not report.
            self.peers.retain(|_, window| window.minute == minute);
        }
        let limited = peer.filter(|peer| {
            self.peers.contains_key(&(rule, *peer, reason)) || self.peers.len() < MAX_TRACKED_PEERS
        });
        if let Some(peer) = limited {
            let window = self
                .peers
                .entry((rule, peer, reason))
                .or_insert(PeerWindow {
                    minute,
                    reported: 0,
                    suppressed: 0,
                });
            if window.minute != minute {
                window.minute = minute;
                window.reported = 0;
            }
            if window.reported >= ADMISSION_FINDINGS_PER_PEER_PER_MINUTE {
                window.suppressed = window.suppressed.saturating_add(1);
                return Vec::new();
            }
            window.reported += 1;
            if window.suppressed > 0 {
                let (attempts, were) = if window.suppressed == 1 {
                    ("attempt", "was")
                } else {
                    ("attempts", "were")
                };
                summary.push_str(&format!(
                    "; {} earlier {attempts} from this address for the same reason {were} not reported separately",
                    window.suppressed
                ));
                window.suppressed = 0;
            }
        }
        vec![Finding {
            rule,
            severity: toggle.severity,
            device,
            summary,
            evidence: vec![Evidence::from_event(event)],
            time_unix_ms: now_unix_ms,
            attributes: Default::default(),
        }]
    }
}

type Emit<'a> = dyn FnMut(RuleId, Option<Severity>, String, Vec<Evidence>) + 'a;

fn check_sequence(
    config: &DetectionConfig,
    track: &mut DeviceTrack,
    event: &Event<'_>,
    emit: &mut Emit<'_>,
) {
    let key = (event.header.boot, event.header.sequence);
    let max_gap = config.sequence_anomaly.max_gap;
    if let Some((boot, sequence)) = track.highest {
        let anomaly = if key.0 < boot {
            Some((
                SequenceAnomalyKind::Regression,
                boot,
                sequence.saturating_add(1),
            ))
        } else if key.0 == boot && key.1 <= sequence {
            let kind = if track.recent.contains(&key) {
                SequenceAnomalyKind::Replay
            } else {
                SequenceAnomalyKind::Regression
            };
            Some((kind, boot, sequence.saturating_add(1)))
        } else if key.0 == boot
            && key.1 - sequence - 1 > max_gap
            && !reports_drops(event, key.1 - sequence - 1)
        {
            Some((SequenceAnomalyKind::Gap, boot, sequence.saturating_add(1)))
        } else {
            None
        };
        if let Some((kind, boot, expected)) = anomaly {
            emit(
                RuleId::SequenceAnomaly,
                None,
                format!(
                    "sequence {}: event (boot {}, sequence {}) after (boot {boot}, sequence {sequence}); expected sequence {expected}",
                    names::sequence_anomaly(kind),
                    key.0,
                    key.1
                ),
                vec![Evidence::from_event(event)],
            );
        }
    }
    if track.highest.is_none_or(|highest| key > highest) {
        track.highest = Some(key);
    }
    if !track.recent.contains(&key) {
        if track.recent.len() >= RECENT_KEYS {
            track.recent.pop_front();
        }
        track.recent.push_back(key);
    }
}

fn check_transition(
    config: &DetectionConfig,
    track: &mut DeviceTrack,
    models: &mut HashMap<String, ModelTrack>,
    event: &Event<'_>,
    emit: &mut Emit<'_>,
) {
    let kind = event.kind();
    let previous = track.last_kind.replace(kind);
    let learning = config.sequence_anomaly.learning_events_per_model;
    let (Some(previous), Some(model), true) = (previous, track.model.as_ref(), learning > 0) else {
        return;
    };
    let model_track = models.entry(model.clone()).or_default();
    let transition = (previous, kind);
    // Learning ends once `learning` consecutive events taught nothing new,
    // so a model with a varied vocabulary learns for longer than a model
    // that repeats one pattern.
    if model_track.events_without_new_transition < learning {
        if model_track.transitions.insert(transition) {
            model_track.events_without_new_transition = 0;
        } else {
            model_track.events_without_new_transition += 1;
        }
        return;
    }
    if model_track.transitions.contains(&transition)
        || !track.reported_transitions.insert(transition)
    {
        return;
    }
    emit(
        RuleId::SequenceAnomaly,
        None,
        format!(
            "event kind transition {} -> {} was never seen while learning model {model}",
            previous.name(),
            kind.name()
        ),
        vec![Evidence::from_event(event)],
    );
}

fn check_session_end(
    config: &DetectionConfig,
    track: &mut DeviceTrack,
    session: &RemoteSession<'_>,
    event: &Event<'_>,
    emit: &mut Emit<'_>,
) {
    let mut evidence = Vec::new();
    let mut reported_long = false;
    if let Some(position) = track
        .sessions
        .iter()
        .position(|open| open.id == session.session_id.as_str())
        && let Some(open) = track.sessions.remove(position)
    {
        evidence.push(open.started);
        reported_long = open.reported_long;
    }
    evidence.push(Evidence::from_event(event));
    let rule = &config.remote_session;
    if session.duration_ms < rule.min_secs.saturating_mul(1000) {
        let summary = format!(
            "remote session {} of user {} via {} lasted {} ms, below the minimum of {} s",
            session.session_id, session.user, session.protocol, session.duration_ms, rule.min_secs
        );
        emit(RuleId::RemoteSessionShort, None, summary, evidence);
    } else if session.duration_ms > rule.max_secs.saturating_mul(1000) && !reported_long {
        let summary = format!(
            "remote session {} of user {} via {} lasted {} s, above the maximum of {} s",
            session.session_id,
            session.user,
            session.protocol,
            session.duration_ms / 1000,
            rule.max_secs
        );
        emit(RuleId::RemoteSessionLong, None, summary, evidence);
    }
}

/// Scores a data-rate sample against the EWMA of its direction. Only rates
/// above the mean fire (exfiltration and floods); a quieter device does not.
fn check_data_rate(
    config: &DetectionConfig,
    track: &mut DeviceTrack,
    sample: &DataRateSample,
    event: &Event<'_>,
    emit: &mut Emit<'_>,
) {
    let rule = config.data_rate_anomaly;
    let rate = sample.bytes as f64 * 1000.0 / f64::from(sample.window_ms);
    let ewma = track.rates.entry(sample.direction.into()).or_default();
    if ewma.samples >= rule.warmup_samples {
        let deviation = ewma
            .variance
            .sqrt()
            .max(ewma.mean * rule.min_relative_deviation)
            .max(1.0);
        let score = (rate - ewma.mean) / deviation;
        if score > rule.threshold_sigma {
            let summary = format!(
                "{:?} data rate of {rate:.0} B/s is {score:.1} standard deviations above the learned mean of {:.0} B/s",
                sample.direction, ewma.mean
            );
            emit(
                RuleId::DataRateAnomaly,
                None,
                summary,
                vec![Evidence::from_event(event)],
            );
            // An anomalous sample does not teach the baseline, so a long
            // burst keeps firing instead of becoming normal.
            return;
        }
    }
    ewma.update(rate, rule.alpha);
}

/// Counts failed logins (with their hit counts) in a sliding window of
/// device uptime; a reboot empties the window.
fn check_failed_login(
    config: &DetectionConfig,
    track: &mut DeviceTrack,
    login: &Login<'_>,
    event: &Event<'_>,
    emit: &mut Emit<'_>,
) {
    let rule = config.brute_force_login;
    let window_ms = rule.window_secs.saturating_mul(1000);
    let boot = event.header.boot;
    let uptime = event.header.uptime_ms;
    track
        .failed_logins
        .retain(|(failed_boot, failed_uptime, _, _)| {
            *failed_boot == boot && *failed_uptime <= uptime && uptime - *failed_uptime < window_ms
        });
    track.failed_logins.push_back((
        boot,
        uptime,
        event.header.hit_count.get(),
        Evidence::from_event(event),
    ));
    let failures: u64 = track
        .failed_logins
        .iter()
        .map(|(_, _, hits, _)| u64::from(*hits))
        .sum();
    if failures < u64::from(rule.failures) {
        return;
    }
    // The newest failures are kept as evidence; the window starts over.
    let evidence: Vec<Evidence> = track
        .failed_logins
        .drain(..)
        .map(|(_, _, _, evidence)| evidence)
        .rev()
        .take(MAX_EVIDENCE)
        .rev()
        .collect();
    let source = login.source.map_or_else(
        || "a local terminal".to_owned(),
        |source| source.to_string(),
    );
    let summary = format!(
        "{failures} failed logins within {} s (threshold {}), latest for user {} from {source}",
        rule.window_secs, rule.failures, login.user
    );
    emit(RuleId::BruteForceLogin, None, summary, evidence);
}

/// Learns the ports a device opens during its first `learning_events`
/// events; a port opened later for the first time fires once.
fn check_listening_port(
    config: &DetectionConfig,
    track: &mut DeviceTrack,
    port: &ListeningPort<'_>,
    event: &Event<'_>,
    emit: &mut Emit<'_>,
) {
    let rule = &config.new_listening_port;
    let key = (ProtocolKey::from(port.protocol), port.local.port);
    if rule.allowed_ports.contains(&port.local.port) || track.known_ports.contains(&key) {
        return;
    }
    if track.known_ports.len() < MAX_KNOWN_PORTS {
        track.known_ports.insert(key);
    }
    if track.events_seen <= rule.learning_events {
        return;
    }
    let summary = format!(
        "new listening {} port {} on {} by {}",
        port.protocol.name(),
        port.local.port,
        port.local.ip,
        port.executable
            .map_or("an unknown process", |executable| executable.as_str())
    );
    emit(
        RuleId::NewListeningPort,
        None,
        summary,
        vec![Evidence::from_event(event)],
    );
}

/// Reports, once, a session that is still open past the maximum length,
/// measured in device uptime since its start in the same boot. A reboot
/// ends every open session without a finding.
fn check_open_sessions(
    config: &DetectionConfig,
    track: &mut DeviceTrack,
    event: &Event<'_>,
    emit: &mut Emit<'_>,
) {
    let max_ms = config.remote_session.max_secs.saturating_mul(1000);
    track.sessions.retain(|open| open.boot == event.header.boot);
    for open in &mut track.sessions {
        let open_ms = event
            .header
            .uptime_ms
            .saturating_sub(open.started_uptime_ms);
        if open.reported_long || open_ms <= max_ms {
            continue;
        }
        open.reported_long = true;
        let summary = format!(
            "remote session {} has been open for {} s without ending, above the maximum of {} s",
            open.id,
            open_ms / 1000,
            config.remote_session.max_secs
        );
        emit(
            RuleId::RemoteSessionLong,
            None,
            summary,
            vec![open.started.clone(), Evidence::from_event(event)],
        );
    }
}

/// Whether `event` is the device's own report of at least `missing` dropped
/// events, which explains a gap of `missing` sequence numbers before it.
///
/// NOTE: a drop report that arrives after later events does not cancel the
/// gap finding raised when the gap was seen.
fn reports_drops(event: &Event<'_>, missing: u64) -> bool {
    matches!(&event.body, EventBody::EventsDropped(dropped) if dropped.count >= missing)
}
