//! The response policy on a real SQLite file: actions per finding, device
//! state, revoked serials and the command audit table.

use palisade_gateway::config::{Config, ResponseConfig};
use palisade_gateway::finding::{Finding, RuleId};
use palisade_gateway::inventory::{Admission, AdmissionOutcome, DeviceState, Inventory};
use palisade_gateway::outbox::TelemetryPolicy;
use palisade_gateway::response::{Action, Responder, ResponsePolicy, telemetry_policy};
use palisade_schema::{
    CommandAcknowledged, CommandAction, CommandOutcome, DeviceId, Severity, Str,
};

const NOW: u64 = 1_796_000_000_000;

fn policy_config() -> ResponseConfig {
    Config::from_toml_str(
        r#"
        [response]
        default_action = "alert"
        command_validity_secs = 300
        [[response.rules]]
        rule = "brute_force_login"
        min_severity = "high"
        action = "isolate"
        [[response.rules]]
        rule = "invalid_credential"
        action = "revoke"
        [[response.rules]]
        rule = "*"
        min_severity = "critical"
        action = "shutdown"
        "#,
    )
    .unwrap()
    .response
}

fn finding(rule: RuleId, severity: Severity, device: Option<DeviceId>) -> Finding {
    Finding {
        rule,
        severity,
        device,
        summary: format!("{rule} test finding"),
        evidence: Vec::new(),
        time_unix_ms: NOW,
        attributes: Default::default(),
    }
}

fn setup(dir: &tempfile::TempDir, device: DeviceId) -> (Inventory, Responder) {
    let path = dir.path().join("gateway.sqlite");
    let inventory = Inventory::open(&path).unwrap();
    inventory
        .record_admission(&Admission {
            device,
            model: "IP-200".into(),
            vendor: "Acme Medical".into(),
            hardware: "rev C".into(),
            firmware: "2.4.1".into(),
            credential_serial: Some(31_337),
            address: None,
            time_unix_ms: NOW,
        })
        .unwrap();
    let responder = Responder::open(&path, &policy_config()).unwrap();
    (inventory, responder)
}

#[test]
fn policy_picks_first_matching_rule() {
    let policy = ResponsePolicy::new(&policy_config());
    let device = Some(DeviceId([1; 16]));
    assert_eq!(
        policy.action_for(&finding(RuleId::BruteForceLogin, Severity::High, device)),
        Action::Isolate
    );
    assert_eq!(
        policy.action_for(&finding(RuleId::BruteForceLogin, Severity::Medium, device)),
        Action::Alert
    );
    assert_eq!(
        policy.action_for(&finding(RuleId::InvalidCredential, Severity::Low, device)),
        Action::Revoke
    );
    assert_eq!(
        policy.action_for(&finding(
            RuleId::DataRateAnomaly,
            Severity::Critical,
            device
        )),
        Action::Shutdown
    );
    assert_eq!(
        policy.action_for(&finding(RuleId::DataRateAnomaly, Severity::High, device)),
        Action::Alert
    );
    // The first match wins even when a later rule is stricter.
    assert_eq!(
        policy.action_for(&finding(
            RuleId::BruteForceLogin,
            Severity::Critical,
            device
        )),
        Action::Isolate
    );
}

#[test]
fn isolate_withholds_telemetry_and_sends_one_command() {
    let dir = tempfile::tempdir().unwrap();
    let device = DeviceId([2; 16]);
    let (inventory, mut responder) = setup(&dir, device);
    assert_eq!(
        telemetry_policy(inventory.state(device).unwrap()),
        TelemetryPolicy::Forward
    );

    let response = responder
        .respond(
            &finding(RuleId::BruteForceLogin, Severity::High, Some(device)),
            &inventory,
            NOW,
        )
        .unwrap();
    assert_eq!(response.action, Action::Isolate);
    assert_eq!(response.commands.len(), 1);
    let command = response.commands[0];
    assert_eq!(command.device, device);
    assert_eq!(command.action, CommandAction::IsolateNetwork);
    assert_eq!(command.not_after_unix_secs, NOW / 1000 + 300);
    assert!(!response.disconnect);
    assert_eq!(
        inventory.state(device).unwrap(),
        Some(DeviceState::Isolated)
    );
    assert_eq!(
        telemetry_policy(inventory.state(device).unwrap()),
        TelemetryPolicy::Withhold
    );

    // A second finding does not isolate twice.
    let again = responder
        .respond(
            &finding(RuleId::BruteForceLogin, Severity::High, Some(device)),
            &inventory,
            NOW + 1,
        )
        .unwrap();
    assert!(again.commands.is_empty());

    let audit = responder.audit().unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].command_id, command.command_id);
    assert_eq!(audit[0].action, "isolate_network");
    assert_eq!(audit[0].rule.as_deref(), Some("brute_force_login"));
    assert_eq!(audit[0].outcome, None);
}

#[test]
fn acknowledgements_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let device = DeviceId([3; 16]);
    let (inventory, mut responder) = setup(&dir, device);
    let response = responder
        .respond(
            &finding(RuleId::DataRateAnomaly, Severity::Critical, Some(device)),
            &inventory,
            NOW,
        )
        .unwrap();
    assert_eq!(response.action, Action::Shutdown);
    let command = response.commands[0];
    assert_eq!(command.action, CommandAction::GracefulShutdown);

    // Unanswered, or deferred by the interlock: no second shutdown command.
    assert!(
        responder
            .respond(
                &finding(RuleId::DataRateAnomaly, Severity::Critical, Some(device)),
                &inventory,
                NOW + 1
            )
            .unwrap()
            .commands
            .is_empty()
    );
    let deferred = CommandAcknowledged {
        command_id: command.command_id,
        outcome: CommandOutcome::Deferred,
        reason: Some(Str::new("infusion running").unwrap()),
    };
    assert!(
        responder
            .record_acknowledgement(device, &deferred, NOW + 2_000)
            .unwrap()
    );
    let row = responder.command(command.command_id).unwrap().unwrap();
    assert_eq!(row.outcome.as_deref(), Some("deferred"));
    assert_eq!(row.reason.as_deref(), Some("infusion running"));
    assert_eq!(row.acknowledged_unix_ms, Some(NOW + 2_000));
    assert!(
        responder
            .respond(
                &finding(RuleId::DataRateAnomaly, Severity::Critical, Some(device)),
                &inventory,
                NOW + 3
            )
            .unwrap()
            .commands
            .is_empty()
    );

    let executed = CommandAcknowledged {
        command_id: command.command_id,
        outcome: CommandOutcome::Executed,
        reason: None,
    };
    assert!(
        responder
            .record_acknowledgement(device, &executed, NOW + 9_000)
            .unwrap()
    );
    assert_eq!(
        responder
            .command(command.command_id)
            .unwrap()
            .unwrap()
            .outcome
            .as_deref(),
        Some("executed")
    );

    // An acknowledgement from another device, or for an unknown id, changes nothing.
    assert!(
        !responder
            .record_acknowledgement(DeviceId([9; 16]), &executed, NOW)
            .unwrap()
    );
    let unknown = CommandAcknowledged {
        command_id: 999_999,
        outcome: CommandOutcome::Executed,
        reason: None,
    };
    assert!(
        !responder
            .record_acknowledgement(device, &unknown, NOW)
            .unwrap()
    );

    // After it executed, a new critical finding may shut the device down again.
    let later = responder
        .respond(
            &finding(RuleId::DataRateAnomaly, Severity::Critical, Some(device)),
            &inventory,
            NOW + 10_000,
        )
        .unwrap();
    assert_eq!(later.commands.len(), 1);
    assert!(later.commands[0].command_id > command.command_id);
}

#[test]
fn revoke_rejects_further_admissions() {
    let dir = tempfile::tempdir().unwrap();
    let device = DeviceId([4; 16]);
    let (inventory, mut responder) = setup(&dir, device);
    let response = responder
        .respond(
            &finding(RuleId::InvalidCredential, Severity::High, Some(device)),
            &inventory,
            NOW,
        )
        .unwrap();
    assert_eq!(response.action, Action::Revoke);
    assert!(response.disconnect);
    assert_eq!(response.revoked_serial, Some(31_337));
    assert_eq!(inventory.state(device).unwrap(), Some(DeviceState::Revoked));
    assert_eq!(
        telemetry_policy(inventory.state(device).unwrap()),
        TelemetryPolicy::Withhold
    );
    let pending = inventory.pending_revocations().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].reason, "invalid_credential");

    let readmission = Admission {
        device,
        model: "IP-200".into(),
        vendor: "Acme Medical".into(),
        hardware: "rev C".into(),
        firmware: "2.4.1".into(),
        credential_serial: Some(31_337),
        address: None,
        time_unix_ms: NOW + 1,
    };
    assert_eq!(
        inventory.record_admission(&readmission).unwrap(),
        AdmissionOutcome::Revoked
    );
}

#[test]
fn finding_without_device_is_alert_only() {
    let dir = tempfile::tempdir().unwrap();
    let device = DeviceId([5; 16]);
    let (inventory, mut responder) = setup(&dir, device);
    let response = responder
        .respond(
            &finding(RuleId::InvalidCredential, Severity::High, None),
            &inventory,
            NOW,
        )
        .unwrap();
    assert_eq!(response.action, Action::Alert);
    assert!(response.commands.is_empty());
    assert!(!response.disconnect);
    assert!(inventory.pending_revocations().unwrap().is_empty());
}

#[test]
fn audit_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let device = DeviceId([6; 16]);
    let (inventory, mut responder) = setup(&dir, device);
    let command = responder
        .issue_manual(device, CommandAction::ReleaseIsolation, NOW)
        .unwrap();
    drop(responder);
    drop(inventory);
    let responder = Responder::open(&dir.path().join("gateway.sqlite"), &policy_config()).unwrap();
    let row = responder.command(command.command_id).unwrap().unwrap();
    assert_eq!(row.action, "release_isolation");
    assert_eq!(row.rule, None);
}
