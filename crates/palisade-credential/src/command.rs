//! Signed commands from a gateway or operator to one device.

use crate::chain::{TrustStore, VerificationTime, VerifiedGateway, verify_operator_credential};
use crate::credential::{CredentialKind, KeyUsage, MAX_CREDENTIAL_LEN, SIGNATURE_LEN};
use crate::domain;
use crate::encoding::{self, Reader};
use crate::ids::DeviceId;
use crate::reason::{ObjectType, RejectReason};
use crate::revocation::RevocationList;
use crate::signer::Signer;

/// Format version of command bodies.
pub const COMMAND_VERSION: u8 = 1;
/// Upper bound of an encoded command (body with the embedded signer credential, and signature).
pub const MAX_COMMAND_LEN: usize = 64 + MAX_CREDENTIAL_LEN + SIGNATURE_LEN;

/// What a command asks the device to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum CommandAction {
    /// Cut the device's network access except the gateway session.
    IsolateNetwork,
    /// Lift a network isolation.
    ReleaseIsolation,
    /// Shut down once the clinical-safety interlock allows it.
    GracefulShutdown,
    /// Generate a new key and request a new credential.
    RotateCredential,
    /// Install the revocation list with this number (delivered separately; it carries its own signature).
    InstallRevocationList {
        /// Number of the list to install.
        number: u64,
    },
    /// Report hardware and software inventory.
    RequestInventory,
    /// A vendor-defined action.
    Custom {
        /// Vendor-defined action code.
        code: u16,
        /// Vendor-defined argument.
        argument: u64,
    },
}

impl CommandAction {
    /// Returns a short lowercase name of the action.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::IsolateNetwork => "isolate-network",
            Self::ReleaseIsolation => "release-isolation",
            Self::GracefulShutdown => "graceful-shutdown",
            Self::RotateCredential => "rotate-credential",
            Self::InstallRevocationList { .. } => "install-revocation-list",
            Self::RequestInventory => "request-inventory",
            Self::Custom { .. } => "custom",
        }
    }
}

/// A command; the signer's credential travels inside the signed body.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Command<'a> {
    /// Format version, [`COMMAND_VERSION`].
    pub version: u8,
    /// Requested action.
    pub action: CommandAction,
    /// Device the command is for.
    pub target: DeviceId,
    /// Identifier for acknowledgements and logs.
    pub command_id: u64,
    /// Monotonic counter; a device accepts only a counter above the last one it accepted.
    pub counter: u64,
    /// Last second (Unix epoch) at which the command may be executed.
    pub not_after: u64,
    /// Encoded credential of the signer (issued by the operator's root).
    pub signer_credential: &'a [u8],
}

impl<'a> Command<'a> {
    /// Encodes and signs the command; returns the length written to `out`.
    pub fn sign(
        &self,
        signer: &(impl Signer + ?Sized),
        out: &mut [u8],
    ) -> Result<usize, RejectReason> {
        let body_len = encoding::encode_into(self, out)?;
        let signature = domain::sign_with_domain::<{ domain::MAX_DOMAIN_LEN + MAX_COMMAND_LEN }>(
            signer,
            ObjectType::Command,
            &out[..body_len],
        )?;
        let total = body_len + SIGNATURE_LEN;
        if out.len() < total {
            return Err(RejectReason::BufferTooSmall {
                needed: total,
                available: out.len(),
            });
        }
        out[body_len..total].copy_from_slice(&signature);
        Ok(total)
    }

    /// Decodes a command strictly without checking anything else; returns
    /// the command, its body bytes and its signature.
    pub fn decode_unverified(
        bytes: &'a [u8],
    ) -> Result<(Self, &'a [u8], [u8; SIGNATURE_LEN]), RejectReason> {
        let mut reader = Reader::new(bytes, ObjectType::Command);
        reader.version(COMMAND_VERSION)?;
        let action = read_action(&mut reader)?;
        let command = Command {
            version: COMMAND_VERSION,
            action,
            target: DeviceId(reader.array()?),
            command_id: reader.u64()?,
            counter: reader.u64()?,
            not_after: reader.u64()?,
            signer_credential: reader.bytes("signer_credential", MAX_CREDENTIAL_LEN)?,
        };
        let body = reader.consumed_since(0);
        let signature = reader.array::<SIGNATURE_LEN>()?;
        reader.finish()?;
        Ok((command, body, signature))
    }
}

fn read_action(reader: &mut Reader<'_>) -> Result<CommandAction, RejectReason> {
    Ok(match reader.variant()? {
        0 => CommandAction::IsolateNetwork,
        1 => CommandAction::ReleaseIsolation,
        2 => CommandAction::GracefulShutdown,
        3 => CommandAction::RotateCredential,
        4 => CommandAction::InstallRevocationList {
            number: reader.u64()?,
        },
        5 => CommandAction::RequestInventory,
        6 => CommandAction::Custom {
            code: reader.u16()?,
            argument: reader.u64()?,
        },
        _ => return Err(reader.malformed("action")),
    })
}

/// A command whose signature, signer, target, expiry and counter were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCommand {
    /// Requested action.
    pub action: CommandAction,
    /// Command id.
    pub command_id: u64,
    /// Counter, now the last accepted one.
    pub counter: u64,
    /// Expiry time.
    pub not_after: u64,
    /// The signer's verified credential.
    pub signer: VerifiedGateway,
}

/// Verifies commands on a device: the signer credential must be a gateway
/// credential from a pinned operator root with [`KeyUsage::SIGN_COMMANDS`].
///
/// Keeps the last accepted counter; the caller persists
/// [`last_counter`](Self::last_counter) and passes it to [`new`](Self::new)
/// after a reboot.
#[derive(Debug, Clone)]
pub struct CommandVerifier {
    device_id: DeviceId,
    operator_roots: TrustStore,
    last_counter: u64,
}

impl CommandVerifier {
    /// Creates a verifier for the device `device_id`.
    pub fn new(device_id: DeviceId, operator_roots: TrustStore, last_counter: u64) -> Self {
        Self {
            device_id,
            operator_roots,
            last_counter,
        }
    }

    /// Returns the last accepted counter.
    pub fn last_counter(&self) -> u64 {
        self.last_counter
    }

    /// Verifies `bytes` at `time` and, on success, records its counter.
    ///
    /// Checks in order: encoding, signer credential (chain to a pinned
    /// operator root, validity, revocation), signer role, signature, target
    /// device, expiry, counter.
    pub fn verify(
        &mut self,
        bytes: &[u8],
        time: VerificationTime,
        revocations: &[RevocationList],
    ) -> Result<VerifiedCommand, RejectReason> {
        let (command, body, signature) = Command::decode_unverified(bytes)?;
        let signer = verify_operator_credential(
            &self.operator_roots,
            command.signer_credential,
            CredentialKind::Gateway,
            time,
            revocations,
        )?;
        if !signer.credential.usage.contains(KeyUsage::SIGN_COMMANDS) {
            return Err(RejectReason::MissingKeyUsage {
                serial: signer.credential.serial,
                missing: KeyUsage::SIGN_COMMANDS,
            });
        }
        domain::verify_with_domain::<{ domain::MAX_DOMAIN_LEN + MAX_COMMAND_LEN }>(
            &signer.credential.public_key,
            ObjectType::Command,
            body,
            &signature,
        )?;
        if command.target != self.device_id {
            return Err(RejectReason::WrongTarget {
                target: command.target,
                this_device: self.device_id,
            });
        }
        let now = time.seconds();
        if now > command.not_after {
            return Err(RejectReason::CommandExpired {
                not_after: command.not_after,
                now,
            });
        }
        if command.counter <= self.last_counter {
            return Err(RejectReason::CommandReplayed {
                counter: command.counter,
                last: self.last_counter,
            });
        }
        self.last_counter = command.counter;
        Ok(VerifiedCommand {
            action: command.action,
            command_id: command.command_id,
            counter: command.counter,
            not_after: command.not_after,
            signer,
        })
    }
}
