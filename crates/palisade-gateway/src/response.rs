//! Response policy: from findings to actions, with every command and its
//! acknowledgement in the `command_audit` table.
//!
//! The policy ([`ResponseConfig`]) is a list of rules tried in order; the
//! first whose rule id (or `*`) and minimum severity match a finding picks
//! the [`Action`], and `default_action` applies when none does.
//!
//! [`Responder::respond`] carries the action out on the gateway side
//! (inventory state, revoked serials, audit rows) and returns the
//! [`CommandRequest`]s that the admission side signs and sends to the
//! device. The device's answer comes back as a `command_acknowledged`
//! event, which [`Responder::record_acknowledgement`] writes to the audit
//! table.

use std::path::Path;

use palisade_schema::{CommandAcknowledged, CommandAction, CommandOutcome, DeviceId};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::config::ResponseConfig;
use crate::db::{self, StorageError, sql};
use crate::finding::{Finding, RuleId};
use crate::inventory::{DeviceState, Inventory, device_id, from_sql_u64, to_sql_u64};
use crate::outbox::TelemetryPolicy;

/// Gateway action for a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Report the finding and do nothing else.
    Alert,
    /// Stop forwarding the device's telemetry and send it an isolate command.
    Isolate,
    /// Send the device a graceful-shutdown command.
    Shutdown,
    /// Mark the device revoked, reject its further admissions and record
    /// its credential serial for the next revocation list.
    Revoke,
}

impl Action {
    /// Lowercase name, as written in the configuration.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Alert => "alert",
            Self::Isolate => "isolate",
            Self::Shutdown => "shutdown",
            Self::Revoke => "revoke",
        }
    }
}

/// A command for the admission side to sign and send to a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandRequest {
    /// Command id, unique in this gateway's database and increasing, so it
    /// also serves as the command's monotonic counter.
    pub command_id: u64,
    /// The target device.
    pub device: DeviceId,
    /// Requested action.
    pub action: CommandAction,
    /// Last second (Unix epoch) at which the device may carry it out.
    pub not_after_unix_secs: u64,
}

/// Result of [`Responder::respond`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The action taken: the policy's choice, or [`Action::Alert`] for a
    /// finding without a device.
    pub action: Action,
    /// Commands to sign and send, already recorded in the audit table.
    pub commands: Vec<CommandRequest>,
    /// Whether the admission side must close the device's session now (the
    /// device was revoked).
    pub disconnect: bool,
    /// The revoked credential serial, for the operator's next revocation list.
    pub revoked_serial: Option<u64>,
}

/// One row of the command audit table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Command id.
    pub command_id: u64,
    /// Target device.
    #[serde(with = "crate::hex_id")]
    pub device: DeviceId,
    /// Action name, such as `isolate_network`.
    pub action: String,
    /// Rule whose finding caused the command, if any.
    pub rule: Option<String>,
    /// When the command was issued, in milliseconds since the Unix epoch.
    pub issued_unix_ms: u64,
    /// `executed`, `deferred` or `rejected`; `None` until the device acknowledges.
    pub outcome: Option<String>,
    /// The device's reason for a deferred or rejected command.
    pub reason: Option<String>,
    /// When the acknowledgement arrived, in milliseconds since the Unix epoch.
    pub acknowledged_unix_ms: Option<u64>,
}

/// The response policy alone: picks an action for a finding.
#[derive(Debug, Clone)]
pub struct ResponsePolicy {
    rules: Vec<(Option<RuleId>, palisade_schema::Severity, Action)>,
    default_action: Action,
}

impl ResponsePolicy {
    /// Builds the policy from a validated configuration; rule names that do
    /// not parse (which validation rejects) never match.
    pub fn new(config: &ResponseConfig) -> Self {
        let rules = config
            .rules
            .iter()
            .filter_map(|rule| {
                let id = if rule.rule == "*" {
                    None
                } else {
                    Some(RuleId::from_name(&rule.rule)?)
                };
                Some((id, rule.min_severity, rule.action))
            })
            .collect();
        Self {
            rules,
            default_action: config.default_action,
        }
    }

    /// The action for `finding`: the first matching rule's, else the default.
    pub fn action_for(&self, finding: &Finding) -> Action {
        self.rules
            .iter()
            .find(|(rule, min_severity, _)| {
                rule.is_none_or(|rule| rule == finding.rule) && finding.severity >= *min_severity
            })
            .map_or(self.default_action, |(_, _, action)| *action)
    }
}

/// Which telemetry policy to store a device's batches with, given its state.
pub fn telemetry_policy(state: Option<DeviceState>) -> TelemetryPolicy {
    match state {
        Some(DeviceState::Isolated | DeviceState::Revoked) => TelemetryPolicy::Withhold,
        Some(DeviceState::Admitted) | None => TelemetryPolicy::Forward,
    }
}

/// Carries out the response policy and keeps the command audit table.
#[derive(Debug)]
pub struct Responder {
    connection: Connection,
    policy: ResponsePolicy,
    command_validity_secs: u64,
}

impl Responder {
    /// Opens the audit table in the database at `path`.
    pub fn open(path: &Path, config: &ResponseConfig) -> Result<Self, StorageError> {
        Ok(Self {
            connection: db::open(path)?,
            policy: ResponsePolicy::new(config),
            command_validity_secs: config.command_validity_secs,
        })
    }

    /// The policy in use.
    pub fn policy(&self) -> &ResponsePolicy {
        &self.policy
    }

    /// Applies the policy to `finding` at gateway time `now_unix_ms`.
    ///
    /// A finding without a device can only be alerted on. An isolate on an
    /// already isolated device, or a shutdown while an earlier shutdown
    /// command is still unanswered, issues no second command.
    pub fn respond(
        &mut self,
        finding: &Finding,
        inventory: &Inventory,
        now_unix_ms: u64,
    ) -> Result<Response, StorageError> {
        let action = self.policy.action_for(finding);
        let mut response = Response {
            action,
            commands: Vec::new(),
            disconnect: false,
            revoked_serial: None,
        };
        let Some(device) = finding.device else {
            response.action = Action::Alert;
            return Ok(response);
        };
        match action {
            Action::Alert => {}
            Action::Isolate => {
                let state = inventory.state(device)?;
                if state == Some(DeviceState::Admitted) {
                    inventory.set_state(device, DeviceState::Isolated)?;
                    tracing::warn!(%device, rule = finding.rule.name(), "isolating device");
                    response.commands.push(self.issue(
                        device,
                        CommandAction::IsolateNetwork,
                        Some(finding.rule),
                        now_unix_ms,
                    )?);
                }
            }
            Action::Shutdown => {
                if !self.has_pending(device, CommandAction::GracefulShutdown, now_unix_ms)? {
                    tracing::warn!(%device, rule = finding.rule.name(), "requesting graceful shutdown");
                    response.commands.push(self.issue(
                        device,
                        CommandAction::GracefulShutdown,
                        Some(finding.rule),
                        now_unix_ms,
                    )?);
                }
            }
            Action::Revoke => {
                if inventory.state(device)? != Some(DeviceState::Revoked) {
                    response.revoked_serial =
                        inventory.revoke(device, finding.rule.name(), now_unix_ms)?;
                    tracing::warn!(%device, rule = finding.rule.name(), serial = ?response.revoked_serial, "revoked device");
                }
                response.disconnect = true;
            }
        }
        Ok(response)
    }

    /// Records a command that an operator (not the policy) issues, such as a
    /// release of an isolation, and returns it for signing.
    pub fn issue_manual(
        &mut self,
        device: DeviceId,
        action: CommandAction,
        now_unix_ms: u64,
    ) -> Result<CommandRequest, StorageError> {
        self.issue(device, action, None, now_unix_ms)
    }

    fn issue(
        &mut self,
        device: DeviceId,
        action: CommandAction,
        rule: Option<RuleId>,
        now_unix_ms: u64,
    ) -> Result<CommandRequest, StorageError> {
        self.connection
            .execute(
                "INSERT INTO command_audit (device_id, action, rule, issued_ms) VALUES (?1, ?2, ?3, ?4)",
                params![device.0.as_slice(), action_name(action), rule.map(RuleId::name), to_sql_u64(now_unix_ms)],
            )
            .map_err(sql("record a command in the audit table"))?;
        let command_id = from_sql_u64(self.connection.last_insert_rowid());
        Ok(CommandRequest {
            command_id,
            device,
            action,
            not_after_unix_secs: now_unix_ms / 1000 + self.command_validity_secs,
        })
    }

    fn has_pending(
        &self,
        device: DeviceId,
        action: CommandAction,
        now_unix_ms: u64,
    ) -> Result<bool, StorageError> {
        let since = now_unix_ms.saturating_sub(self.command_validity_secs.saturating_mul(1000));
        self.connection
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM command_audit WHERE device_id = ?1 AND action = ?2
                                AND (outcome IS NULL OR outcome = 'deferred') AND issued_ms >= ?3)",
                params![device.0.as_slice(), action_name(action), to_sql_u64(since)],
                |row| row.get(0),
            )
            .map_err(sql("look up pending commands"))
    }

    /// Writes a device's acknowledgement of a command into the audit table.
    /// Returns `false`, and logs the acknowledgement, when no command with
    /// that id was sent to that device.
    pub fn record_acknowledgement(
        &mut self,
        device: DeviceId,
        acknowledgement: &CommandAcknowledged<'_>,
        now_unix_ms: u64,
    ) -> Result<bool, StorageError> {
        let outcome = match acknowledgement.outcome {
            CommandOutcome::Executed => "executed",
            CommandOutcome::Deferred => "deferred",
            CommandOutcome::Rejected => "rejected",
        };
        let changed = self
            .connection
            .execute(
                "UPDATE command_audit SET outcome = ?3, reason = ?4, acknowledged_ms = ?5
                 WHERE command_id = ?1 AND device_id = ?2",
                params![
                    to_sql_u64(acknowledgement.command_id),
                    device.0.as_slice(),
                    outcome,
                    acknowledgement.reason.map(|reason| reason.as_str()),
                    to_sql_u64(now_unix_ms),
                ],
            )
            .map_err(sql("record a command acknowledgement"))?;
        if changed == 0 {
            tracing::warn!(%device, command_id = acknowledgement.command_id, "acknowledgement for a command this gateway did not send to this device");
        }
        Ok(changed > 0)
    }

    /// One audit row.
    pub fn command(&self, command_id: u64) -> Result<Option<AuditRecord>, StorageError> {
        self.connection
            .query_row(
                &format!("{AUDIT_COLUMNS} WHERE command_id = ?1"),
                [to_sql_u64(command_id)],
                audit_record,
            )
            .optional()
            .map_err(sql("read an audit row"))
    }

    /// Every audit row, oldest first.
    pub fn audit(&self) -> Result<Vec<AuditRecord>, StorageError> {
        let mut statement = self
            .connection
            .prepare(&format!("{AUDIT_COLUMNS} ORDER BY command_id"))
            .map_err(sql("list the audit table"))?;
        let rows = statement
            .query_map([], audit_record)
            .map_err(sql("list the audit table"))?;
        rows.collect::<Result<_, _>>()
            .map_err(sql("read an audit row"))
    }
}

const AUDIT_COLUMNS: &str = "SELECT command_id, device_id, action, rule, issued_ms, outcome, reason, acknowledged_ms FROM command_audit";

fn audit_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        command_id: from_sql_u64(row.get(0)?),
        device: device_id(row, 1)?,
        action: row.get(2)?,
        rule: row.get(3)?,
        issued_unix_ms: from_sql_u64(row.get(4)?),
        outcome: row.get(5)?,
        reason: row.get(6)?,
        acknowledged_unix_ms: row.get::<_, Option<i64>>(7)?.map(from_sql_u64),
    })
}

/// The snake_case name of a command action, as stored in the audit table.
pub fn action_name(action: CommandAction) -> String {
    match action {
        CommandAction::IsolateNetwork => "isolate_network".into(),
        CommandAction::ReleaseIsolation => "release_isolation".into(),
        CommandAction::GracefulShutdown => "graceful_shutdown".into(),
        CommandAction::RotateCredential => "rotate_credential".into(),
        CommandAction::InstallRevocationList => "install_revocation_list".into(),
        CommandAction::RequestInventory => "request_inventory".into(),
        CommandAction::Custom(code) => format!("custom_{code}"),
        other => format!("{other:?}"),
    }
}
