//! Each detection rule fires for its attack and stays silent on normal
//! traffic; a false positive fails the test like a missed attack.

use palisade_gateway::config::DetectionConfig;
use palisade_gateway::detect::Engine;
use palisade_gateway::finding::{Finding, RuleId};
use palisade_schema::{
    BaselineCheck, CheckResult, CommandAction, CommandRejectReason, CommandRejected,
    CredentialRejectReason, CredentialRejected, DataRateSample, DeviceId, Direction, Event,
    EventBody, EventKind, Header, HitCount, IpAddress, ListeningPort, Login, LoginAction,
    LoginMethod, Protocol, RemoteSession, Severity, SocketAddress, Str, UnknownDevice, samples,
};

const NOW: u64 = 1_796_000_000_000;
/// Uptime between two events of the simulated device.
const STEP_MS: u64 = 5_000;

/// A simulated device that numbers its events like a real agent.
struct Device {
    id: DeviceId,
    boot: u32,
    sequence: u64,
    uptime_ms: u64,
    cycle: u64,
}

impl Device {
    fn new(byte: u8) -> Self {
        Self {
            id: DeviceId([byte; 16]),
            boot: 3,
            sequence: 0,
            uptime_ms: 60_000,
            cycle: 0,
        }
    }

    fn next(&mut self, body: EventBody<'static>) -> Event<'static> {
        let event = Event {
            header: Header {
                sequence: self.sequence,
                boot: self.boot,
                uptime_ms: self.uptime_ms,
                ..Header::default()
            },
            body,
        };
        self.sequence += 1;
        self.uptime_ms += STEP_MS;
        event
    }

    /// The next event of a normal day: telemetry, heartbeats, steady data
    /// rates, logins, an occasional mistyped password, ten-minute service
    /// sessions, sshd listening, passing baseline checks.
    fn normal(&mut self) -> Event<'static> {
        let step = self.cycle % 12;
        let round = self.cycle / 12;
        self.cycle += 1;
        let body = match step {
            0 => samples::body(EventKind::Heartbeat),
            1 => samples::body(EventKind::Telemetry),
            2 => rate(240_000 + (round * 7_919) % 20_000),
            3 => samples::body(EventKind::ProcessStarted),
            4 => samples::body(EventKind::NetworkConnection),
            5 => login(LoginAction::Failed, "biomed"),
            6 => login(LoginAction::Login, "biomed"),
            7 => session(true, &format!("ssh-{round}"), 0),
            8 => session(false, &format!("ssh-{round}"), 600_000),
            9 => listening(22),
            10 => baseline("ssh.permit_root_login", CheckResult::Pass),
            _ => samples::body(EventKind::Telemetry),
        };
        self.next(body)
    }
}

fn leak(text: &str) -> &'static str {
    Box::leak(text.to_owned().into_boxed_str())
}

fn rate(bytes: u64) -> EventBody<'static> {
    EventBody::DataRateSample(DataRateSample {
        direction: Direction::Outbound,
        window_ms: 60_000,
        bytes,
        messages: 240,
    })
}

fn login(action: LoginAction, user: &'static str) -> EventBody<'static> {
    EventBody::Login(Login {
        action,
        user: Str::new(user).unwrap(),
        method: LoginMethod::Password,
        terminal: Some(Str::new("ssh").unwrap()),
        source: Some(IpAddress::V4([10, 20, 9, 44])),
    })
}

fn session(started: bool, id: &str, duration_ms: u64) -> EventBody<'static> {
    let session = RemoteSession {
        session_id: Str::new(leak(id)).unwrap(),
        user: Str::new("biomed").unwrap(),
        source: Some(SocketAddress::new(IpAddress::V4([10, 20, 9, 2]), 52_001)),
        protocol: Str::new("ssh").unwrap(),
        duration_ms,
    };
    if started {
        EventBody::RemoteSessionStarted(session)
    } else {
        EventBody::RemoteSessionEnded(session)
    }
}

fn listening(port: u16) -> EventBody<'static> {
    EventBody::ListeningPortOpened(ListeningPort {
        protocol: Protocol::Tcp,
        local: SocketAddress::new(IpAddress::V4([0, 0, 0, 0]), port),
        pid: Some(612),
        executable: Some(Str::new("/usr/sbin/sshd").unwrap()),
    })
}

fn baseline(check_id: &'static str, result: CheckResult) -> EventBody<'static> {
    EventBody::BaselineCheck(BaselineCheck {
        check_id: Str::new(check_id).unwrap(),
        result,
        severity: Severity::High,
        description: Str::new("sshd allows root to log in").unwrap(),
        remediation: Str::new("Set PermitRootLogin no").unwrap(),
    })
}

fn engine() -> Engine {
    Engine::new(DetectionConfig::default())
}

/// Feeds `count` normal events and returns every finding.
fn run_normal(engine: &mut Engine, device: &mut Device, count: usize) -> Vec<Finding> {
    let mut findings = Vec::new();
    engine.set_model(device.id, "IP-200");
    for _ in 0..count {
        let event = device.normal();
        findings.extend(engine.observe(device.id, &event, NOW));
    }
    findings
}

/// A device after enough normal traffic for every baseline to be learned.
fn warmed_up() -> (Engine, Device) {
    let mut engine = engine();
    let mut device = Device::new(1);
    let findings = run_normal(&mut engine, &mut device, 1_500);
    assert!(
        findings.is_empty(),
        "normal traffic raised findings: {findings:#?}"
    );
    (engine, device)
}

fn rules(findings: &[Finding]) -> Vec<RuleId> {
    findings.iter().map(|finding| finding.rule).collect()
}

fn observe(engine: &mut Engine, device: &mut Device, body: EventBody<'static>) -> Vec<Finding> {
    let event = device.next(body);
    engine.observe(device.id, &event, NOW)
}

#[test]
fn normal_traffic_raises_nothing() {
    let mut engine = engine();
    let mut devices: Vec<Device> = (1..=5).map(Device::new).collect();
    let mut findings = Vec::new();
    for device in &mut devices {
        findings.extend(run_normal(&mut engine, device, 3_000));
    }
    // A reboot restarts the sequence at 0 under a higher boot counter.
    devices[0].boot += 1;
    devices[0].sequence = 0;
    devices[0].uptime_ms = 1_000;
    findings.extend(run_normal(&mut engine, &mut devices[0], 500));
    assert!(findings.is_empty(), "false positives: {findings:#?}");
}

#[test]
fn unknown_device_fires_and_is_limited_per_peer() {
    let mut engine = engine();
    let attempt = |port: u16| Event {
        header: Header::default(),
        body: EventBody::UnknownDevice(UnknownDevice {
            peer: SocketAddress::new(IpAddress::V4([127, 0, 0, 1]), port),
            claimed_device_id: Some(DeviceId([0x5a; 16])),
        }),
    };
    let findings = engine.observe_admission_failure(&attempt(40_000), NOW);
    assert_eq!(rules(&findings), vec![RuleId::UnknownDevice]);
    assert_eq!(findings[0].device, Some(DeviceId([0x5a; 16])));
    assert_eq!(findings[0].evidence.len(), 1);
    assert_eq!(findings[0].evidence[0].kind, EventKind::UnknownDevice);
    // A flood from the same address in the same minute is not reported again.
    for port in 40_001..40_050 {
        assert!(
            engine
                .observe_admission_failure(&attempt(port), NOW + 1_000)
                .is_empty()
        );
    }
    let next_minute = engine.observe_admission_failure(&attempt(41_000), NOW + 60_000);
    assert_eq!(rules(&next_minute), vec![RuleId::UnknownDevice]);
    assert!(
        next_minute[0].summary.contains("49 earlier attempts"),
        "{}",
        next_minute[0].summary
    );
    // Other kinds raise nothing here.
    let heartbeat = Event {
        header: Header::default(),
        body: samples::body(EventKind::Heartbeat),
    };
    assert!(engine.observe_admission_failure(&heartbeat, NOW).is_empty());
}

#[test]
fn invalid_credential_fires() {
    let mut engine = engine();
    for (index, reason) in [
        CredentialRejectReason::Expired,
        CredentialRejectReason::Revoked,
        CredentialRejectReason::BadSignature,
    ]
    .into_iter()
    .enumerate()
    {
        let event = Event {
            header: Header::default(),
            body: EventBody::CredentialRejected(CredentialRejected {
                peer: Some(SocketAddress::new(
                    IpAddress::V4([127, 0, 0, 1 + index as u8]),
                    40_000,
                )),
                device_id: Some(DeviceId([0x6b; 16])),
                serial: Some(90_210),
                reason,
                detail_code: 0,
            }),
        };
        let findings = engine.observe_admission_failure(&event, NOW);
        assert_eq!(
            rules(&findings),
            vec![RuleId::InvalidCredential],
            "{reason:?}"
        );
        assert_eq!(findings[0].severity, Severity::High);
        assert!(findings[0].summary.contains("90210"));
    }
}

#[test]
fn invalid_credential_is_limited_per_reason() {
    let mut engine = engine();
    let attempt = |reason| Event {
        header: Header::default(),
        body: EventBody::CredentialRejected(CredentialRejected {
            peer: Some(SocketAddress::new(IpAddress::V4([127, 0, 0, 1]), 40_000)),
            device_id: Some(DeviceId([0x6b; 16])),
            serial: Some(90_210),
            reason,
            detail_code: 0,
        }),
    };
    let expired = attempt(CredentialRejectReason::Expired);
    let revoked = attempt(CredentialRejectReason::Revoked);

    assert_eq!(engine.observe_admission_failure(&expired, NOW).len(), 1);
    assert!(engine.observe_admission_failure(&expired, NOW).is_empty());

    // Another reason from the same address in the same minute is a finding
    // of its own; a repeat of it is not.
    let findings = engine.observe_admission_failure(&revoked, NOW + 1_000);
    assert_eq!(rules(&findings), vec![RuleId::InvalidCredential]);
    assert!(
        findings[0].summary.contains("rejected: revoked"),
        "{}",
        findings[0].summary
    );
    assert!(
        engine
            .observe_admission_failure(&revoked, NOW + 2_000)
            .is_empty()
    );

    let next_minute = engine.observe_admission_failure(&expired, NOW + 60_000);
    assert!(
        next_minute[0]
            .summary
            .contains("1 earlier attempt from this address for the same reason was not"),
        "{}",
        next_minute[0].summary
    );
}

#[test]
fn unauthorized_command_fires() {
    let (mut engine, mut device) = warmed_up();
    let findings = observe(
        &mut engine,
        &mut device,
        EventBody::CommandRejected(CommandRejected {
            command_id: Some(77),
            action: Some(CommandAction::GracefulShutdown),
            signer_key_id: None,
            reason: CommandRejectReason::Replayed,
        }),
    );
    assert!(
        rules(&findings).contains(&RuleId::UnauthorizedCommand),
        "{findings:#?}"
    );
}

#[test]
fn short_remote_session_fires() {
    let (mut engine, mut device) = warmed_up();
    observe(&mut engine, &mut device, session(true, "ssh-attack", 0));
    let findings = observe(
        &mut engine,
        &mut device,
        session(false, "ssh-attack", 2_000),
    );
    let short: Vec<_> = findings
        .iter()
        .filter(|finding| finding.rule == RuleId::RemoteSessionShort)
        .collect();
    assert_eq!(short.len(), 1, "{findings:#?}");
    // The evidence holds the start and the end of the session.
    assert_eq!(short[0].evidence.len(), 2);
    assert_eq!(short[0].evidence[0].kind, EventKind::RemoteSessionStarted);
    assert_eq!(short[0].evidence[1].kind, EventKind::RemoteSessionEnded);
}

#[test]
fn long_remote_session_fires() {
    let (mut engine, mut device) = warmed_up();
    let findings = observe(
        &mut engine,
        &mut device,
        session(false, "ssh-long", 10 * 3600 * 1000),
    );
    assert!(
        rules(&findings).contains(&RuleId::RemoteSessionLong),
        "{findings:#?}"
    );
    assert!(!rules(&findings).contains(&RuleId::RemoteSessionShort));
}

#[test]
fn session_limits_are_exclusive_bounds() {
    let (mut engine, mut device) = warmed_up();
    let config = DetectionConfig::default();
    let at_min = observe(
        &mut engine,
        &mut device,
        session(false, "ssh-min", config.remote_session.min_secs * 1000),
    );
    let at_max = observe(
        &mut engine,
        &mut device,
        session(false, "ssh-max", config.remote_session.max_secs * 1000),
    );
    assert!(!rules(&at_min).contains(&RuleId::RemoteSessionShort));
    assert!(!rules(&at_max).contains(&RuleId::RemoteSessionLong));
    let below = observe(
        &mut engine,
        &mut device,
        session(
            false,
            "ssh-below",
            config.remote_session.min_secs * 1000 - 1,
        ),
    );
    let above = observe(
        &mut engine,
        &mut device,
        session(
            false,
            "ssh-above",
            config.remote_session.max_secs * 1000 + 1,
        ),
    );
    assert!(rules(&below).contains(&RuleId::RemoteSessionShort));
    assert!(rules(&above).contains(&RuleId::RemoteSessionLong));
}

#[test]
fn data_burst_fires_after_warmup_only() {
    // During warm-up even a burst raises nothing: there is no baseline yet.
    let mut engine = engine();
    let mut device = Device::new(2);
    for _ in 0..5 {
        assert!(observe(&mut engine, &mut device, rate(240_000)).is_empty());
    }
    assert!(observe(&mut engine, &mut device, rate(240_000 * 20)).is_empty());

    let (mut engine, mut device) = warmed_up();
    let findings = observe(&mut engine, &mut device, rate(250_000 * 20));
    assert!(
        rules(&findings).contains(&RuleId::DataRateAnomaly),
        "{findings:#?}"
    );
    // The burst did not become the new normal: it fires again.
    let again = observe(&mut engine, &mut device, rate(250_000 * 20));
    assert!(rules(&again).contains(&RuleId::DataRateAnomaly));
    // A slightly busier window than usual is not an anomaly.
    let busy = observe(&mut engine, &mut device, rate(300_000));
    assert!(
        !rules(&busy).contains(&RuleId::DataRateAnomaly),
        "{busy:#?}"
    );
}

#[test]
fn sequence_gap_fires() {
    let (mut engine, mut device) = warmed_up();
    device.sequence += 50;
    let event = device.normal();
    let findings = engine.observe(device.id, &event, NOW);
    assert_eq!(
        rules(&findings),
        vec![RuleId::SequenceAnomaly],
        "{findings:#?}"
    );
    assert!(
        findings[0].summary.contains("gap"),
        "{}",
        findings[0].summary
    );
}

#[test]
fn sequence_replay_and_regression_fire() {
    let (mut engine, device) = warmed_up();
    let replayed = Event {
        header: Header {
            sequence: device.sequence - 3,
            boot: device.boot,
            ..Header::default()
        },
        body: samples::body(EventKind::Telemetry),
    };
    let findings = engine.observe(device.id, &replayed, NOW);
    assert!(
        findings
            .iter()
            .any(|finding| finding.rule == RuleId::SequenceAnomaly
                && finding.summary.contains("sequence replay:")),
        "{findings:#?}"
    );

    // Far below anything remembered: a regression, not a replay.
    let regressed = Event {
        header: Header {
            sequence: 1,
            boot: device.boot,
            ..Header::default()
        },
        body: samples::body(EventKind::Telemetry),
    };
    let findings = engine.observe(device.id, &regressed, NOW);
    assert!(
        findings
            .iter()
            .any(|finding| finding.rule == RuleId::SequenceAnomaly
                && finding.summary.contains("sequence regression:")),
        "{findings:#?}"
    );

    // An older boot counter is a regression too.
    let old_boot = Event {
        header: Header {
            sequence: 99_999,
            boot: device.boot - 1,
            ..Header::default()
        },
        body: samples::body(EventKind::Telemetry),
    };
    let findings = engine.observe(device.id, &old_boot, NOW);
    assert!(rules(&findings).contains(&RuleId::SequenceAnomaly));
}

#[test]
fn unseen_transition_fires_once() {
    let (mut engine, mut device) = warmed_up();
    // A peripheral never appeared while learning this model.
    let findings = observe(
        &mut engine,
        &mut device,
        samples::body(EventKind::PeripheralAttached),
    );
    assert_eq!(
        rules(&findings),
        vec![RuleId::SequenceAnomaly],
        "{findings:#?}"
    );
    assert!(findings[0].summary.contains("peripheral_attached"));
    let transition = findings[0].summary.clone();
    // The same transition again is reported once per device.
    device.cycle = 11;
    let normal = device.normal();
    engine.observe(device.id, &normal, NOW);
    let again = observe(
        &mut engine,
        &mut device,
        samples::body(EventKind::PeripheralAttached),
    );
    assert!(
        again.iter().all(|finding| finding.summary != transition),
        "{again:#?}"
    );
}

#[test]
fn device_reported_sequence_anomaly_fires() {
    let (mut engine, mut device) = warmed_up();
    let findings = observe(
        &mut engine,
        &mut device,
        samples::body(EventKind::SequenceAnomaly),
    );
    assert!(rules(&findings).contains(&RuleId::SequenceAnomaly));
}

#[test]
fn brute_force_fires_at_threshold() {
    let (mut engine, mut device) = warmed_up();
    let brute_force = DetectionConfig::default().brute_force_login;
    let failures = brute_force.failures;
    // Leave the window of the last normal mistyped password behind.
    device.uptime_ms += brute_force.window_secs * 1000;
    let mut findings = Vec::new();
    for attempt in 0..failures {
        let event = Event {
            header: Header {
                sequence: device.sequence,
                boot: device.boot,
                uptime_ms: device.uptime_ms + u64::from(attempt) * 500,
                ..Header::default()
            },
            body: login(LoginAction::InvalidUser, "root"),
        };
        device.sequence += 1;
        let result = engine.observe(device.id, &event, NOW);
        if attempt + 1 < failures {
            assert!(
                !rules(&result).contains(&RuleId::BruteForceLogin),
                "fired after {} failures",
                attempt + 1
            );
        }
        findings.extend(result);
    }
    let brute: Vec<_> = findings
        .iter()
        .filter(|finding| finding.rule == RuleId::BruteForceLogin)
        .collect();
    assert_eq!(brute.len(), 1, "{findings:#?}");
    assert_eq!(brute[0].severity, Severity::High);
    assert!(brute[0].evidence.len() >= failures as usize - 1);
}

#[test]
fn aggregated_failures_count_their_hits() {
    let (mut engine, mut device) = warmed_up();
    let mut event = device.next(login(LoginAction::Failed, "admin"));
    event.header.hit_count = HitCount::new(40).unwrap();
    event.header.window_ms = 10_000;
    let findings = engine.observe(device.id, &event, NOW);
    assert!(
        rules(&findings).contains(&RuleId::BruteForceLogin),
        "{findings:#?}"
    );
}

#[test]
fn slow_failures_outside_window_do_not_fire() {
    let (mut engine, mut device) = warmed_up();
    let window_ms = DetectionConfig::default().brute_force_login.window_secs * 1000;
    for _ in 0..20 {
        let event = Event {
            header: Header {
                sequence: device.sequence,
                boot: device.boot,
                uptime_ms: device.uptime_ms,
                ..Header::default()
            },
            body: login(LoginAction::Failed, "biomed"),
        };
        device.sequence += 1;
        device.uptime_ms += window_ms;
        let findings = engine.observe(device.id, &event, NOW);
        assert!(
            !rules(&findings).contains(&RuleId::BruteForceLogin),
            "{findings:#?}"
        );
    }
}

#[test]
fn new_listening_port_fires_once() {
    let (mut engine, mut device) = warmed_up();
    let findings = observe(&mut engine, &mut device, listening(4444));
    assert!(
        rules(&findings).contains(&RuleId::NewListeningPort),
        "{findings:#?}"
    );
    assert!(
        findings
            .iter()
            .any(|finding| finding.summary.contains("4444"))
    );
    let again = observe(&mut engine, &mut device, listening(4444));
    assert!(!rules(&again).contains(&RuleId::NewListeningPort));
    // The learned sshd port stays quiet.
    assert!(
        !rules(&observe(&mut engine, &mut device, listening(22)))
            .contains(&RuleId::NewListeningPort)
    );
}

#[test]
fn allowed_port_never_fires() {
    let mut config = DetectionConfig::default();
    config.new_listening_port.allowed_ports = vec![8443];
    let mut engine = Engine::new(config);
    let mut device = Device::new(3);
    run_normal(&mut engine, &mut device, 1_500);
    assert!(
        !rules(&observe(&mut engine, &mut device, listening(8443)))
            .contains(&RuleId::NewListeningPort)
    );
}

#[test]
fn baseline_failure_fires_until_fixed() {
    let (mut engine, mut device) = warmed_up();
    let findings = observe(
        &mut engine,
        &mut device,
        baseline("ssh.permit_root_login", CheckResult::Fail),
    );
    let failure: Vec<_> = findings
        .iter()
        .filter(|finding| finding.rule == RuleId::BaselineFailure)
        .collect();
    assert_eq!(failure.len(), 1, "{findings:#?}");
    // The finding takes the check's severity when it is higher than the rule's.
    assert_eq!(failure[0].severity, Severity::High);
    // Reported once while it keeps failing, again after a pass and a new failure.
    assert!(
        !rules(&observe(
            &mut engine,
            &mut device,
            baseline("ssh.permit_root_login", CheckResult::Fail)
        ))
        .contains(&RuleId::BaselineFailure)
    );
    observe(
        &mut engine,
        &mut device,
        baseline("ssh.permit_root_login", CheckResult::Pass),
    );
    assert!(
        rules(&observe(
            &mut engine,
            &mut device,
            baseline("ssh.permit_root_login", CheckResult::Fail)
        ))
        .contains(&RuleId::BaselineFailure)
    );
}

#[test]
fn disabled_rule_stays_silent() {
    let mut config = DetectionConfig::default();
    config.brute_force_login.rule.enabled = false;
    let mut engine = Engine::new(config);
    let mut device = Device::new(4);
    let mut event = device.next(login(LoginAction::Failed, "admin"));
    event.header.hit_count = HitCount::new(100).unwrap();
    assert!(engine.observe(device.id, &event, NOW).is_empty());
}

#[test]
fn every_rule_id_is_exact() {
    let names: Vec<_> = RuleId::ALL.iter().map(|rule| rule.name()).collect();
    assert_eq!(
        names,
        [
            "unknown_device",
            "invalid_credential",
            "unauthorized_command",
            "remote_session_short",
            "remote_session_long",
            "data_rate_anomaly",
            "sequence_anomaly",
            "brute_force_login",
            "new_listening_port",
            "baseline_failure",
            "vulnerable_component",
            "sbom_drift"
        ]
    );
    for rule in RuleId::ALL {
        assert_eq!(RuleId::from_name(rule.name()), Some(*rule));
        assert_eq!(serde_json::to_value(rule).unwrap(), rule.name());
    }
}

#[test]
fn session_left_open_fires_once() {
    let (mut engine, mut device) = warmed_up();
    let max_secs = DetectionConfig::default().remote_session.max_secs;
    observe(&mut engine, &mut device, session(true, "ssh-open", 0));
    // Normal traffic while the session stays open, up to the maximum.
    device.uptime_ms += max_secs * 1000 - 2 * STEP_MS;
    let at_max = observe(
        &mut engine,
        &mut device,
        samples::body(EventKind::Heartbeat),
    );
    assert!(
        !rules(&at_max).contains(&RuleId::RemoteSessionLong),
        "{at_max:#?}"
    );
    device.uptime_ms += 10_000;
    let past_max = observe(
        &mut engine,
        &mut device,
        samples::body(EventKind::Heartbeat),
    );
    assert!(
        rules(&past_max).contains(&RuleId::RemoteSessionLong),
        "{past_max:#?}"
    );
    let later = observe(
        &mut engine,
        &mut device,
        samples::body(EventKind::Heartbeat),
    );
    assert!(!rules(&later).contains(&RuleId::RemoteSessionLong));
    // Its end is not reported a second time.
    let ended = observe(
        &mut engine,
        &mut device,
        session(false, "ssh-open", (max_secs + 30) * 1000),
    );
    assert!(
        !rules(&ended).contains(&RuleId::RemoteSessionLong),
        "{ended:#?}"
    );
}

#[test]
fn open_sessions_are_bounded() {
    use palisade_gateway::detect::MAX_OPEN_SESSIONS;

    let (mut engine, mut device) = warmed_up();
    for index in 0..=MAX_OPEN_SESSIONS {
        observe(
            &mut engine,
            &mut device,
            session(true, &format!("s-{index}"), 0),
        );
    }
    // The oldest session was forgotten: its end carries no start as evidence.
    let first = observe(&mut engine, &mut device, session(false, "s-0", 1_000));
    let short = first
        .iter()
        .find(|finding| finding.rule == RuleId::RemoteSessionShort)
        .unwrap();
    assert_eq!(short.evidence.len(), 1);
    // The newest MAX_OPEN_SESSIONS are still tracked.
    let last = observe(&mut engine, &mut device, session(false, "s-1", 1_000));
    let short = last
        .iter()
        .find(|finding| finding.rule == RuleId::RemoteSessionShort)
        .unwrap();
    assert_eq!(short.evidence.len(), 2);
}

#[test]
fn replay_window_is_recent_keys() {
    use palisade_gateway::detect::RECENT_KEYS;

    let (mut engine, device) = warmed_up();
    let replay_of = |engine: &mut Engine, back: u64| {
        let event = Event {
            header: Header {
                sequence: device.sequence - back,
                boot: device.boot,
                ..Header::default()
            },
            body: samples::body(EventKind::Heartbeat),
        };
        engine.observe(device.id, &event, NOW)
    };
    // The oldest remembered key is still a replay; one further back is a regression.
    let oldest = replay_of(&mut engine, RECENT_KEYS as u64);
    assert!(
        oldest
            .iter()
            .any(|finding| finding.summary.contains("sequence replay:")),
        "{oldest:#?}"
    );
    let beyond = replay_of(&mut engine, RECENT_KEYS as u64 + 1);
    assert!(
        beyond
            .iter()
            .any(|finding| finding.summary.contains("sequence regression:")),
        "{beyond:#?}"
    );
}

#[test]
fn evidence_is_capped() {
    use palisade_gateway::detect::MAX_EVIDENCE;

    let mut config = DetectionConfig::default();
    config.brute_force_login.failures = MAX_EVIDENCE as u32 + 4;
    config.brute_force_login.window_secs = 3_600;
    let mut engine = Engine::new(config);
    let mut device = Device::new(5);
    let mut findings = Vec::new();
    for _ in 0..MAX_EVIDENCE + 4 {
        findings.extend(observe(
            &mut engine,
            &mut device,
            login(LoginAction::Failed, "root"),
        ));
    }
    let brute: Vec<_> = findings
        .iter()
        .filter(|finding| finding.rule == RuleId::BruteForceLogin)
        .collect();
    assert_eq!(brute.len(), 1);
    assert_eq!(brute[0].evidence.len(), MAX_EVIDENCE);
    // The newest failures are the ones kept.
    assert_eq!(
        brute[0].evidence.last().unwrap().header.sequence,
        device.sequence - 1
    );
}

#[test]
fn learned_ports_are_capped() {
    use palisade_gateway::detect::MAX_KNOWN_PORTS;

    let mut config = DetectionConfig::default();
    config.new_listening_port.learning_events = 2_000;
    let mut engine = Engine::new(config);
    let mut device = Device::new(6);
    for port in 1..=MAX_KNOWN_PORTS as u16 + 1 {
        assert!(observe(&mut engine, &mut device, listening(port)).is_empty());
    }
    while device.sequence < 2_000 {
        observe(
            &mut engine,
            &mut device,
            samples::body(EventKind::Heartbeat),
        );
    }
    // The last learned port is known; the one past the cap was not kept.
    let kept = observe(&mut engine, &mut device, listening(MAX_KNOWN_PORTS as u16));
    assert!(
        !rules(&kept).contains(&RuleId::NewListeningPort),
        "{kept:#?}"
    );
    let dropped = observe(
        &mut engine,
        &mut device,
        listening(MAX_KNOWN_PORTS as u16 + 1),
    );
    assert!(rules(&dropped).contains(&RuleId::NewListeningPort));
}

#[test]
fn reported_drops_explain_a_gap() {
    let (mut engine, mut device) = warmed_up();
    device.sequence += 5;
    let report = |count| {
        EventBody::EventsDropped(palisade_schema::EventsDropped {
            count,
            reason: palisade_schema::DropReason::QueueFull,
        })
    };
    let findings = observe(&mut engine, &mut device, report(5));
    assert!(
        findings
            .iter()
            .all(|finding| !finding.summary.contains("gap")),
        "{findings:#?}"
    );
    // A report of fewer drops than the gap does not explain it.
    device.sequence += 5;
    let findings = observe(&mut engine, &mut device, report(4));
    assert!(
        findings
            .iter()
            .any(|finding| finding.summary.contains("gap")),
        "{findings:#?}"
    );
}

#[test]
fn varied_model_keeps_learning() {
    let mut config = DetectionConfig::default();
    config.sequence_anomaly.learning_events_per_model = 50;
    let mut engine = Engine::new(config);
    let mut device = Device::new(7);
    engine.set_model(device.id, "IP-200");
    // Every 40 events a new transition appears, so 50 quiet events never pass
    // and learning goes on.
    let kinds: Vec<_> = EventKind::ALL
        .iter()
        .copied()
        .filter(|kind| *kind != EventKind::Heartbeat)
        .collect();
    let mut findings = Vec::new();
    for kind in &kinds {
        for _ in 0..40 {
            findings.extend(observe(
                &mut engine,
                &mut device,
                samples::body(EventKind::Heartbeat),
            ));
        }
        findings.extend(observe(&mut engine, &mut device, samples::body(*kind)));
    }
    assert!(
        findings
            .iter()
            .all(|finding| !finding.summary.contains("never seen")),
        "{findings:#?}"
    );
    // After 50 quiet events learning ends and a new transition fires.
    for _ in 0..60 {
        observe(
            &mut engine,
            &mut device,
            samples::body(EventKind::Heartbeat),
        );
    }
    let first = observe(
        &mut engine,
        &mut device,
        samples::body(EventKind::PeripheralAttached),
    );
    let second = observe(
        &mut engine,
        &mut device,
        samples::body(EventKind::FileIntegrityChanged),
    );
    let all: Vec<_> = first.iter().chain(&second).collect();
    assert!(
        all.iter()
            .any(|finding| finding.summary.contains("never seen")),
        "{all:#?}"
    );
}

#[test]
fn telemetry_evidence_carries_no_payload() {
    let (mut engine, mut device) = warmed_up();
    device.sequence += 50;
    let findings = observe(
        &mut engine,
        &mut device,
        samples::body(EventKind::Telemetry),
    );
    let gap = findings
        .iter()
        .find(|finding| finding.rule == RuleId::SequenceAnomaly)
        .unwrap();
    assert_eq!(gap.evidence[0].kind, EventKind::Telemetry);
    assert!(gap.evidence[0].event.is_null());
    assert!(!gap.evidence[0].summary.is_empty());
}

#[test]
fn peer_table_is_bounded() {
    use palisade_gateway::detect::MAX_TRACKED_PEERS;

    let mut engine = engine();
    let attempt = |index: usize| Event {
        header: Header::default(),
        body: EventBody::UnknownDevice(UnknownDevice {
            peer: SocketAddress::new(
                IpAddress::V6({
                    let mut octets = [0u8; 16];
                    octets[15] = 1;
                    octets[8..16].copy_from_slice(&(index as u64).to_be_bytes());
                    octets
                }),
                40_000,
            ),
            claimed_device_id: None,
        }),
    };
    for index in 0..MAX_TRACKED_PEERS {
        assert_eq!(
            engine.observe_admission_failure(&attempt(index), NOW).len(),
            1
        );
        assert!(
            engine
                .observe_admission_failure(&attempt(index), NOW)
                .is_empty(),
            "peer {index} not limited"
        );
    }
    // One address more than the table holds is reported every time.
    let beyond = attempt(MAX_TRACKED_PEERS);
    assert_eq!(engine.observe_admission_failure(&beyond, NOW).len(), 1);
    assert_eq!(engine.observe_admission_failure(&beyond, NOW).len(), 1);
    // A minute later the old windows make room again.
    assert_eq!(
        engine
            .observe_admission_failure(&beyond, NOW + 60_000)
            .len(),
        1
    );
    assert!(
        engine
            .observe_admission_failure(&beyond, NOW + 60_000)
            .is_empty()
    );
}
