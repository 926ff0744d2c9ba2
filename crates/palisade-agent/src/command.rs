//! Commands from the gateway: what the device provides to carry them out,
//! and how verification failures become security events.
//!
//! A signed command goes through three gates, in order:
//!
//! 1. [`CommandVerifier`](palisade_credential::CommandVerifier): signature,
//!    signer credential (chained to the operator root, allowed to sign
//!    commands, not revoked), target device, expiry and counter. A command
//!    that fails here is unauthorized: the agent records a
//!    `command_rejected` security event and acknowledges it as rejected.
//! 2. [`SafetyInterlock`]: the device reports whether the action is safe now
//!    (for example, not while a therapy is running). When it is not, the
//!    command is deferred: acknowledged as deferred with the reason, kept,
//!    and offered again at every [`Agent::poll`](crate::Agent::poll) until it
//!    becomes safe or expires.
//! 3. [`CommandHandler`]: the device carries it out, or rejects it for good.
//!
//! Every command that reaches the device is acknowledged with a
//! `command_acknowledged` event: executed, deferred (with the reason) or
//! rejected (with the reason).

use palisade_credential::{CommandAction, RejectReason, VerifiedCommand};
use palisade_schema::CommandRejectReason;

/// Whether an action may run now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safety {
    /// The action may run now.
    Safe,
    /// The action must wait. The text is the reason, sent to the gateway.
    Unsafe(&'static str),
}

/// The device's clinical-safety interlock.
pub trait SafetyInterlock {
    /// Checks whether `action` is safe to carry out now.
    fn check(&self, action: &CommandAction) -> Safety;
}

/// What a [`CommandHandler`] did with a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Execution {
    /// The action was carried out.
    Executed,
    /// The device rejects the action for good. The text is the reason,
    /// sent to the gateway.
    Rejected(&'static str),
}

/// Carries out verified commands that the interlock allowed.
pub trait CommandHandler {
    /// Carries out `command`.
    fn execute(&mut self, command: &VerifiedCommand) -> Execution;
}

/// Maps a verification failure to the reason a `command_rejected` event
/// carries.
pub fn reject_reason(reason: &RejectReason) -> CommandRejectReason {
    match reason {
        RejectReason::CommandReplayed { .. } => CommandRejectReason::Replayed,
        RejectReason::CommandExpired { .. } => CommandRejectReason::Expired,
        RejectReason::WrongTarget { .. } => CommandRejectReason::WrongTarget,
        RejectReason::MissingKeyUsage { .. } | RejectReason::WrongKind { .. } => {
            CommandRejectReason::NotPermitted
        }
        RejectReason::BadSignature { .. }
        | RejectReason::DomainMismatch { .. }
        | RejectReason::NonCanonicalSignature { .. } => CommandRejectReason::BadSignature,
        RejectReason::Truncated { .. }
        | RejectReason::TrailingBytes { .. }
        | RejectReason::NonCanonicalEncoding { .. }
        | RejectReason::Malformed { .. }
        | RejectReason::UnsupportedVersion { .. } => CommandRejectReason::Malformed,
        // Unknown root or issuer, revoked, expired or not yet valid signer
        // credential, weak key: the signer is not one the device trusts.
        _ => CommandRejectReason::UnknownSigner,
    }
}

/// Maps a credential-crate action to the schema's action.
pub fn schema_action(action: &CommandAction) -> palisade_schema::CommandAction {
    use palisade_schema::CommandAction as Schema;
    match action {
        CommandAction::IsolateNetwork => Schema::IsolateNetwork,
        CommandAction::ReleaseIsolation => Schema::ReleaseIsolation,
        CommandAction::GracefulShutdown => Schema::GracefulShutdown,
        CommandAction::RotateCredential => Schema::RotateCredential,
        CommandAction::InstallRevocationList { .. } => Schema::InstallRevocationList,
        CommandAction::RequestInventory => Schema::RequestInventory,
        CommandAction::Custom { code, .. } => Schema::Custom(*code),
        // A new action in the credential crate that the schema does not name
        // yet: report it as a vendor action with code 0xFFFF.
        _ => Schema::Custom(u16::MAX),
    }
}
