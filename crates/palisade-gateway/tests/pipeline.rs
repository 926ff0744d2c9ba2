//! The whole core on a real database and real sink files: a device's
//! batches go through the outbox, inventory, detection and response, and
//! delivery writes OCSF and telemetry files that never mix.

use palisade_export::Origin;
use palisade_gateway::config::Config;
use palisade_gateway::delivery::Delivery;
use palisade_gateway::finding::RuleId;
use palisade_gateway::inventory::{Admission, AdmissionOutcome, DeviceState};
use palisade_gateway::metrics::Metrics;
use palisade_gateway::pipeline::GatewayCore;
use palisade_schema::{
    CommandAcknowledged, CommandAction, CommandOutcome, CredentialRejectReason, CredentialRejected,
    DeviceId, Event, EventBody, EventKind, Header, IpAddress, Login, LoginAction, LoginMethod,
    SocketAddress, Str, UnknownDevice, samples,
};
use serde_json::Value;

const DEVICE: DeviceId = DeviceId([0x77; 16]);

fn config(dir: &std::path::Path) -> Config {
    let text = format!(
        r#"
        [paths]
        database = "{db}"
        output = "{out}"

        [outbox]
        retention_secs = 0

        [[response.rules]]
        rule = "brute_force_login"
        action = "isolate"
        "#,
        db = dir.join("state/gateway.sqlite").display(),
        out = dir.join("out").display(),
    );
    Config::from_toml_str(&text).unwrap()
}

fn admission() -> Admission {
    Admission {
        device: DEVICE,
        model: "IP-200".into(),
        vendor: "Acme Medical".into(),
        hardware: "rev C".into(),
        firmware: "2.4.1".into(),
        credential_serial: Some(4242),
        address: Some("127.0.0.1:40500".parse().unwrap()),
        time_unix_ms: 1,
    }
}

struct Counter {
    sequence: u64,
    uptime_ms: u64,
}

impl Counter {
    fn event(&mut self, body: EventBody<'static>) -> Event<'static> {
        let event = Event {
            header: Header {
                sequence: self.sequence,
                boot: 1,
                uptime_ms: self.uptime_ms,
                ..Header::default()
            },
            body,
        };
        self.sequence += 1;
        self.uptime_ms += 1_000;
        event
    }
}

fn failed_login() -> EventBody<'static> {
    EventBody::Login(Login {
        action: LoginAction::Failed,
        user: Str::new("root").unwrap(),
        method: LoginMethod::Password,
        terminal: Some(Str::new("ssh").unwrap()),
        source: Some(IpAddress::V4([10, 20, 9, 66])),
    })
}

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn batches_flow_to_sinks_and_responses() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let metrics = Metrics::new();
    let mut core = GatewayCore::open(config.clone(), metrics.clone()).unwrap();
    let mut delivery =
        Delivery::from_config(&config, Origin::new("test-gateway", "0.1.0")).unwrap();

    assert_eq!(
        core.admit(&admission()).unwrap(),
        AdmissionOutcome::Admitted(DeviceState::Admitted)
    );
    let mut counter = Counter {
        sequence: 0,
        uptime_ms: 10_000,
    };

    // Normal traffic: system information, SBOM, telemetry.
    let batch: Vec<_> = [
        EventKind::SystemInfo,
        EventKind::SoftwareComponent,
        EventKind::Telemetry,
        EventKind::Heartbeat,
    ]
    .into_iter()
    .map(|kind| counter.event(samples::body(kind)))
    .collect();
    let outcome = core.receive(DEVICE, &batch).unwrap();
    assert_eq!(outcome.receipt.stored, 4);
    assert!(outcome.findings.is_empty(), "{:#?}", outcome.findings);
    assert_eq!(
        core.inventory()
            .system_info(DEVICE)
            .unwrap()
            .unwrap()
            .hostname,
        "pump-0017"
    );
    assert_eq!(core.inventory().components(DEVICE).unwrap().len(), 1);

    // The same batch resent after a lost acknowledgement is not stored again.
    let resent = core.receive(DEVICE, &batch[2..]).unwrap();
    assert_eq!((resent.receipt.stored, resent.receipt.duplicates), (0, 2));

    // A brute-force attack: the policy isolates the device.
    let attack: Vec<_> = (0..5).map(|_| counter.event(failed_login())).collect();
    let outcome = core.receive(DEVICE, &attack).unwrap();
    let rules: Vec<_> = outcome
        .findings
        .iter()
        .map(|finding| finding.rule)
        .collect();
    assert!(rules.contains(&RuleId::BruteForceLogin), "{rules:?}");
    assert_eq!(outcome.commands.len(), 1);
    assert_eq!(outcome.commands[0].action, CommandAction::IsolateNetwork);
    assert_eq!(
        core.inventory().state(DEVICE).unwrap(),
        Some(DeviceState::Isolated)
    );

    // After isolation the device's telemetry is withheld, its security events are not.
    let after: Vec<_> = [EventKind::Telemetry, EventKind::ProcessStarted]
        .into_iter()
        .map(|kind| counter.event(samples::body(kind)))
        .collect();
    let outcome = core.receive(DEVICE, &after).unwrap();
    assert_eq!((outcome.receipt.stored, outcome.receipt.withheld), (1, 1));

    // The device acknowledges the isolate command.
    let command_id = core.responder().audit().unwrap()[0].command_id;
    let ack = counter.event(EventBody::CommandAcknowledged(CommandAcknowledged {
        command_id,
        outcome: CommandOutcome::Executed,
        reason: None,
    }));
    core.receive(DEVICE, &[ack]).unwrap();
    assert_eq!(
        core.responder()
            .command(command_id)
            .unwrap()
            .unwrap()
            .outcome
            .as_deref(),
        Some("executed")
    );

    // Admission failures from strangers.
    let unknown = Event {
        header: Header::default(),
        body: EventBody::UnknownDevice(UnknownDevice {
            peer: SocketAddress::new(IpAddress::V4([127, 0, 0, 1]), 40_600),
            claimed_device_id: None,
        }),
    };
    let findings = core.reject_admission(&unknown).unwrap();
    assert_eq!(findings[0].rule, RuleId::UnknownDevice);
    let expired = Event {
        header: Header::default(),
        body: EventBody::CredentialRejected(CredentialRejected {
            peer: Some(SocketAddress::new(IpAddress::V4([127, 0, 0, 2]), 40_601)),
            device_id: Some(DeviceId([0x88; 16])),
            serial: Some(777),
            reason: CredentialRejectReason::Expired,
            detail_code: 0,
        }),
    };
    assert_eq!(
        core.reject_admission(&expired).unwrap()[0].rule,
        RuleId::InvalidCredential
    );

    let written = core.drain(&mut delivery, 20).unwrap();
    assert!(written > 0);
    assert_eq!(core.outbox().depth(&delivery.sink_names()).unwrap(), 0);

    let security = lines(&dir.path().join("out/security.jsonl"));
    let telemetry = lines(&dir.path().join("out/telemetry.jsonl"));
    // Exactly one telemetry event was forwarded: the one before isolation.
    assert_eq!(telemetry.len(), 1);
    assert_eq!(telemetry[0]["device_id"], "77".repeat(16));
    assert!(
        security
            .iter()
            .all(|line| line["unmapped"]["palisade_class"] != "telemetry")
    );
    let analytics: Vec<&str> = security
        .iter()
        .filter(|line| line["class_uid"] == 2004)
        .map(|line| line["finding_info"]["analytic"]["uid"].as_str().unwrap())
        .collect();
    for rule in ["brute_force_login", "unknown_device", "invalid_credential"] {
        assert!(
            analytics.contains(&rule),
            "{rule} missing from {analytics:?}"
        );
    }
    let device_line = security
        .iter()
        .find(|line| line["unmapped"]["palisade_kind"] == "process_started")
        .unwrap();
    assert_eq!(device_line["device"]["hostname"], "pump-0017");
    assert_eq!(device_line["device"]["model"], "IP-200");

    let text = metrics.render();
    for line in [
        "palisade_admissions_total 1",
        "palisade_rejected_admissions_total{reason=\"unknown_device\"} 1",
        "palisade_rejected_admissions_total{reason=\"invalid_credential\"} 1",
        "palisade_findings_total{rule=\"brute_force_login\"} 1",
        "palisade_drops_total{reason=\"telemetry_withheld\"} 1",
        "palisade_duplicate_events_total 2",
        "palisade_events_total{class=\"telemetry\"} 1",
        "palisade_commands_total 1",
        "palisade_outbox_depth 0",
    ] {
        assert!(
            text.lines().any(|candidate| candidate == line),
            "missing {line:?} in:\n{text}"
        );
    }
}

#[test]
fn resend_is_silent_and_reused_sequence_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut core = GatewayCore::open(config(dir.path()), Metrics::new()).unwrap();
    core.admit(&admission()).unwrap();
    let mut counter = Counter {
        sequence: 0,
        uptime_ms: 10_000,
    };
    let batch: Vec<_> = (0..20)
        .map(|_| counter.event(samples::body(EventKind::Heartbeat)))
        .collect();
    assert!(core.receive(DEVICE, &batch).unwrap().findings.is_empty());

    // A link reset makes the device send its last ten events again.
    let resent = core.receive(DEVICE, &batch[10..]).unwrap();
    assert_eq!(resent.receipt.duplicates, 10);
    assert!(resent.findings.is_empty(), "{:#?}", resent.findings);

    // A different event under an old sequence number is a replay.
    let mut forged = counter.event(samples::body(EventKind::ProcessStarted));
    forged.header.sequence = 15;
    let replayed = core.receive(DEVICE, &[forged]).unwrap();
    assert_eq!(replayed.receipt.conflicts, 1);
    let rules: Vec<_> = replayed
        .findings
        .iter()
        .map(|finding| finding.rule)
        .collect();
    assert!(rules.contains(&RuleId::SequenceAnomaly), "{rules:?}");
}

#[test]
fn group_receive_commits_all_batches() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let mut core = GatewayCore::open(config.clone(), Metrics::new()).unwrap();
    core.admit(&admission()).unwrap();
    let other = DeviceId([0x78; 16]);
    core.admit(&Admission {
        device: other,
        credential_serial: Some(4243),
        ..admission()
    })
    .unwrap();
    core.inventory()
        .set_state(other, DeviceState::Isolated)
        .unwrap();

    let mut first = Counter {
        sequence: 0,
        uptime_ms: 10_000,
    };
    let mut second = Counter {
        sequence: 0,
        uptime_ms: 10_000,
    };
    let batch_a: Vec<_> = (0..3)
        .map(|_| first.event(samples::body(EventKind::Telemetry)))
        .collect();
    let batch_b: Vec<_> = (0..3)
        .map(|_| second.event(samples::body(EventKind::Telemetry)))
        .collect();
    let outcomes = core
        .receive_many(&[(DEVICE, &batch_a), (other, &batch_b)])
        .unwrap();
    assert_eq!(outcomes.len(), 2);
    assert_eq!(outcomes[0].receipt.stored, 3);
    // The isolated device's telemetry is withheld in a group commit too.
    assert_eq!(
        (outcomes[1].receipt.stored, outcomes[1].receipt.withheld),
        (0, 3)
    );

    // One batch too large: nothing of the group is stored.
    let huge: Vec<_> = (0..config.outbox.max_batch_events + 1)
        .map(|_| first.event(samples::body(EventKind::Heartbeat)))
        .collect();
    let small = vec![second.event(samples::body(EventKind::Heartbeat))];
    assert!(
        core.receive_many(&[(other, &small), (DEVICE, &huge)])
            .is_err()
    );
    let rows = core.outbox().read_after(0, 100).unwrap();
    assert_eq!(rows.len(), 1);
}

#[test]
fn revoked_device_is_rejected_at_admission() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Metrics::new();
    let mut core = GatewayCore::open(config(dir.path()), metrics.clone()).unwrap();
    core.admit(&admission()).unwrap();
    core.inventory()
        .revoke(DEVICE, "operator decision", 5)
        .unwrap();
    assert_eq!(core.admit(&admission()).unwrap(), AdmissionOutcome::Revoked);
    assert!(
        metrics
            .render()
            .contains("palisade_rejected_admissions_total{reason=\"revoked\"} 1")
    );
}

#[test]
fn restart_keeps_inventory_and_undelivered_rows() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    {
        let mut core = GatewayCore::open(config.clone(), Metrics::new()).unwrap();
        core.admit(&admission()).unwrap();
        let batch: Vec<_> = samples::mixed_batch().collect();
        core.receive(DEVICE, &batch).unwrap();
        // Stop without delivering or shutting down cleanly.
        std::mem::forget(core);
    }
    let mut core = GatewayCore::open(config.clone(), Metrics::new()).unwrap();
    // The sample batch contains eight failed logins, so the policy isolated the
    // device before the crash; the state survived it.
    assert_eq!(
        core.inventory().device(DEVICE).unwrap().unwrap().state,
        DeviceState::Isolated
    );
    let mut delivery =
        Delivery::from_config(&config, Origin::new("test-gateway", "0.1.0")).unwrap();
    core.drain(&mut delivery, 20).unwrap();
    let telemetry = lines(&dir.path().join("out/telemetry.jsonl"));
    let expected = samples::mixed_batch()
        .filter(|event| event.kind() == EventKind::Telemetry)
        .count();
    assert_eq!(telemetry.len(), expected);
    let security = lines(&dir.path().join("out/security.jsonl"));
    assert_eq!(
        security.len()
            - security
                .iter()
                .filter(|line| line["class_uid"] == 2004)
                .count(),
        64 - expected
    );
}
