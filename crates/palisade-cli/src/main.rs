//! The `palisade` command for the factory line and operations: key
//! generation, issuing, inspecting and verifying credentials, revocation
//! lists and signed commands.
//!
//! Private keys are PKCS#8 Ed25519 files (DER, v1 or v2); credentials,
//! revocation lists and commands are written in their binary encoding. Times
//! are seconds since the Unix epoch. Every failure prints its reason to
//! standard error and exits non-zero: 1 when a verification rejects the
//! input, 2 for usage and file errors.

#![forbid(unsafe_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand, ValueEnum};
use palisade_credential::{
    CREDENTIAL_VERSION, ChainVerifier, Command, CommandAction, Credential, CredentialBody,
    CredentialKind, DeviceId, IssuerLimits, KeyId, KeyUsage, MAX_ALLOWED_MODELS, MAX_COMMAND_LEN,
    MAX_CREDENTIAL_LEN, MAX_REVOCATION_LIST_LEN, NO_EXPIRY, OsRng, PublicKey, RejectReason,
    RevocationList, RevocationStatus, RevokedCredential, Rng, SignatureAlgorithm, Signer,
    SoftwareSigner, StalePolicy, Subject, TrustAnchor, TrustStore, Validity, VerificationTime,
};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    name = "palisade",
    version,
    about = "Keys, credentials, revocation lists and signed commands for Palisade devices"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Generate an Ed25519 key and write it as a PKCS#8 v2 file.
    Keygen {
        /// Output file for the private key (created with mode 0600).
        #[arg(long)]
        out: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Issue a credential.
    Issue {
        #[command(subcommand)]
        kind: IssueKind,
    },
    /// Print a credential, revocation list or command as text or JSON.
    Inspect {
        /// File to inspect.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Verify a device chain (intermediate then device) or a gateway credential against pinned roots.
    Verify {
        /// Root credential file to pin (repeat for several roots).
        #[arg(long = "anchor", value_name = "ROOT_CREDENTIAL", required = true)]
        anchors: Vec<PathBuf>,
        /// Credential files below the root: intermediate and device, or one gateway credential.
        #[arg(required = true)]
        chain: Vec<PathBuf>,
        /// Revocation list files to apply (signed by a pinned root).
        #[arg(long = "revocation-list", value_name = "FILE")]
        revocation_lists: Vec<PathBuf>,
        /// Verification time in seconds since the Unix epoch (default: now).
        #[arg(long)]
        at: Option<u64>,
    },
    /// Write a signed revocation list.
    Revoke {
        /// Private key of the root that signs the list.
        #[arg(long)]
        key: PathBuf,
        /// List number; must be higher than that of the list it replaces.
        #[arg(long)]
        number: u64,
        /// Revoked credential as ISSUER_KEY_ID:SERIAL (16 hex digits, colon, decimal serial); repeatable.
        #[arg(long = "credential", value_name = "ISSUER_KEY_ID:SERIAL")]
        credentials: Vec<String>,
        /// Revoked issuer key id (16 hex digits); repeatable.
        #[arg(long = "issuer", value_name = "KEY_ID")]
        issuers: Vec<String>,
        /// Seconds until the list is due for renewal.
        #[arg(long, default_value_t = 7 * 86_400)]
        valid_for: u64,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a signed command for one device.
    SignCommand {
        /// Private key of the signer (a gateway key with the sign-commands usage).
        #[arg(long)]
        key: PathBuf,
        /// The signer's credential file.
        #[arg(long)]
        credential: PathBuf,
        /// Target device id (32 hex digits).
        #[arg(long)]
        target: String,
        /// Action to perform.
        #[arg(long, value_enum)]
        action: ActionArg,
        /// Revocation list number, for install-revocation-list.
        #[arg(long, default_value_t = 0)]
        list_number: u64,
        /// Vendor action code, for custom.
        #[arg(long, default_value_t = 0)]
        custom_code: u16,
        /// Vendor argument, for custom.
        #[arg(long, default_value_t = 0)]
        custom_argument: u64,
        /// Monotonic counter; must exceed the last counter the device accepted.
        #[arg(long)]
        counter: u64,
        /// Command id for acknowledgements.
        #[arg(long, default_value_t = 0)]
        command_id: u64,
        /// Seconds from now until the command expires.
        #[arg(long, default_value_t = 300)]
        expires_in: u64,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ActionArg {
    IsolateNetwork,
    ReleaseIsolation,
    GracefulShutdown,
    RotateCredential,
    InstallRevocationList,
    RequestInventory,
    Custom,
}

#[derive(Args)]
struct CommonIssue {
    /// Serial number (default: random).
    #[arg(long)]
    serial: Option<u64>,
    /// Start of validity, seconds since the Unix epoch (default: now).
    #[arg(long)]
    not_before: Option<u64>,
    /// End of validity, seconds since the Unix epoch, or "never".
    #[arg(long, default_value = "never")]
    not_after: String,
    /// Vendor id.
    #[arg(long, default_value_t = 0)]
    vendor: u32,
    /// Output credential file.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Subcommand)]
enum IssueKind {
    /// A self-signed root credential.
    Root {
        /// Root private key.
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        common: CommonIssue,
    },
    /// An intermediate (factory line) credential, signed by a root.
    Intermediate {
        /// Root private key.
        #[arg(long)]
        issuer_key: PathBuf,
        /// Intermediate private key (only its public key is used).
        #[arg(long)]
        subject_key: PathBuf,
        /// Models this intermediate may issue for (default: any).
        #[arg(long = "model", value_delimiter = ',')]
        models: Vec<u32>,
        /// Window that issued device credentials must lie in; start (default: not-before).
        #[arg(long)]
        window_not_before: Option<u64>,
        /// Window end, or "never" (default: not-after).
        #[arg(long)]
        window_not_after: Option<String>,
        #[command(flatten)]
        common: CommonIssue,
    },
    /// A device credential, signed by an intermediate.
    Device {
        /// Intermediate private key.
        #[arg(long)]
        issuer_key: PathBuf,
        /// Device private key (only its public key is used).
        #[arg(long)]
        subject_key: PathBuf,
        /// Device id, 32 hex digits (default: random).
        #[arg(long)]
        device_id: Option<String>,
        /// Model id.
        #[arg(long, default_value_t = 0)]
        model: u32,
        /// Hardware revision.
        #[arg(long, default_value_t = 0)]
        hardware_revision: u16,
        #[command(flatten)]
        common: CommonIssue,
    },
    /// A gateway credential, signed by the operator's root.
    Gateway {
        /// Operator root private key.
        #[arg(long)]
        issuer_key: PathBuf,
        /// Gateway private key (only its public key is used).
        #[arg(long)]
        subject_key: PathBuf,
        /// Do not grant the sign-commands usage.
        #[arg(long)]
        no_sign_commands: bool,
        #[command(flatten)]
        common: CommonIssue,
    },
}

/// A failure, with the exit code it maps to.
enum Failure {
    /// Verification rejected the input (exit code 1).
    Rejected(RejectReason),
    /// Usage, file or encoding error (exit code 2).
    Usage(String),
}

impl From<RejectReason> for Failure {
    fn from(reason: RejectReason) -> Self {
        Failure::Rejected(reason)
    }
}

type Outcome = Result<(), Failure>;

fn usage_error(message: impl Into<String>) -> Failure {
    Failure::Usage(message.into())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    fs::read(path).map_err(|error| usage_error(format!("cannot read {}: {error}", path.display())))
}

fn write_file(path: &Path, bytes: &[u8]) -> Outcome {
    fs::write(path, bytes)
        .map_err(|error| usage_error(format!("cannot write {}: {error}", path.display())))
}

fn read_key(path: &Path) -> Result<SoftwareSigner, Failure> {
    let document = read_file(path)?;
    SoftwareSigner::from_pkcs8(&document).map_err(|reason| {
        usage_error(format!(
            "{} is not a usable Ed25519 PKCS#8 key: {reason}",
            path.display()
        ))
    })
}

fn parse_time(text: &str, what: &str) -> Result<u64, Failure> {
    if text == "never" {
        return Ok(NO_EXPIRY);
    }
    text.parse().map_err(|_| {
        usage_error(format!(
            "invalid {what} {text:?}: expected seconds since the Unix epoch or \"never\""
        ))
    })
}

fn random_u64() -> Result<u64, Failure> {
    let mut bytes = [0u8; 8];
    OsRng
        .fill_bytes(&mut bytes)
        .map_err(|error| usage_error(error.to_string()))?;
    // Keep serials below 2^63 so they print the same in every JSON reader.
    Ok(u64::from_le_bytes(bytes) >> 1)
}

fn keygen(out: &Path, force: bool) -> Outcome {
    if out.exists() && !force {
        return Err(usage_error(format!(
            "{} exists; pass --force to overwrite it",
            out.display()
        )));
    }
    let signer = SoftwareSigner::generate(&mut OsRng)?;
    let document = signer.to_pkcs8();
    write_file(out, document.as_ref())?;
    restrict_permissions(out)?;
    println!(
        "wrote {} (key id {}, public key {})",
        out.display(),
        signer.key_id(),
        signer.public_key()
    );
    Ok(())
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) -> Outcome {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(|error| {
        usage_error(format!(
            "cannot restrict permissions of {}: {error}",
            path.display()
        ))
    })
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) -> Outcome {
    Ok(())
}

fn base_body(
    kind: CredentialKind,
    issuer: &SoftwareSigner,
    subject: PublicKey,
    common: &CommonIssue,
    usage: KeyUsage,
) -> Result<CredentialBody, Failure> {
    Ok(CredentialBody {
        version: CREDENTIAL_VERSION,
        kind,
        algorithm: SignatureAlgorithm::ED25519,
        serial: match common.serial {
            Some(serial) => serial,
            None => random_u64()?,
        },
        issuer: issuer.key_id(),
        subject: Subject {
            device_id: DeviceId([0; 16]),
            vendor_id: common.vendor,
            model_id: 0,
            hardware_revision: 0,
        },
        public_key: subject,
        validity: Validity {
            not_before: common.not_before.unwrap_or_else(now),
            not_after: parse_time(&common.not_after, "--not-after")?,
        },
        usage,
        issuer_limits: None,
    })
}

fn issue(kind: &IssueKind) -> Outcome {
    let (body, issuer, out) = match kind {
        IssueKind::Root { key, common } => {
            let signer = read_key(key)?;
            let usage = KeyUsage::ISSUE_CREDENTIALS.union(KeyUsage::SIGN_REVOCATION_LISTS);
            (
                base_body(
                    CredentialKind::Root,
                    &signer,
                    signer.public_key(),
                    common,
                    usage,
                )?,
                signer,
                &common.out,
            )
        }
        IssueKind::Intermediate {
            issuer_key,
            subject_key,
            models,
            window_not_before,
            window_not_after,
            common,
        } => {
            let issuer = read_key(issuer_key)?;
            let subject = read_key(subject_key)?.public_key();
            let mut body = base_body(
                CredentialKind::Intermediate,
                &issuer,
                subject,
                common,
                KeyUsage::ISSUE_CREDENTIALS,
            )?;
            let mut sorted = models.clone();
            sorted.sort_unstable();
            sorted.dedup();
            let models = heapless::Vec::from_slice(&sorted).map_err(|_| {
                usage_error(format!(
                    "{} models given, at most {MAX_ALLOWED_MODELS} are allowed",
                    sorted.len()
                ))
            })?;
            let window = Validity {
                not_before: window_not_before.unwrap_or(body.validity.not_before),
                not_after: match window_not_after {
                    Some(text) => parse_time(text, "--window-not-after")?,
                    None => body.validity.not_after,
                },
            };
            body.issuer_limits = Some(IssuerLimits { window, models });
            (body, issuer, &common.out)
        }
        IssueKind::Device {
            issuer_key,
            subject_key,
            device_id,
            model,
            hardware_revision,
            common,
        } => {
            let issuer = read_key(issuer_key)?;
            let subject = read_key(subject_key)?.public_key();
            let usage = KeyUsage::SEND_EVENTS.union(KeyUsage::RECEIVE_COMMANDS);
            let mut body = base_body(CredentialKind::Device, &issuer, subject, common, usage)?;
            body.subject.device_id = match device_id {
                Some(text) => DeviceId::from_hex(text).ok_or_else(|| {
                    usage_error(format!(
                        "invalid --device-id {text:?}: expected 32 hex digits"
                    ))
                })?,
                None => {
                    let mut bytes = [0u8; 16];
                    OsRng
                        .fill_bytes(&mut bytes)
                        .map_err(|error| usage_error(error.to_string()))?;
                    DeviceId(bytes)
                }
            };
            body.subject.model_id = *model;
            body.subject.hardware_revision = *hardware_revision;
            (body, issuer, &common.out)
        }
        IssueKind::Gateway {
            issuer_key,
            subject_key,
            no_sign_commands,
            common,
        } => {
            let issuer = read_key(issuer_key)?;
            let subject = read_key(subject_key)?.public_key();
            let usage = if *no_sign_commands {
                KeyUsage::NONE
            } else {
                KeyUsage::SIGN_COMMANDS
            };
            (
                base_body(CredentialKind::Gateway, &issuer, subject, common, usage)?,
                issuer,
                &common.out,
            )
        }
    };
    let mut buffer = [0u8; MAX_CREDENTIAL_LEN];
    let len = body.issue(&issuer, &mut buffer)?;
    write_file(out, &buffer[..len])?;
    println!(
        "wrote {} ({} credential, serial {}, key id {})",
        out.display(),
        body.kind,
        body.serial,
        body.key_id()
    );
    Ok(())
}

fn time_text(seconds: u64) -> String {
    if seconds == NO_EXPIRY {
        "never".to_string()
    } else {
        seconds.to_string()
    }
}

fn validity_json(validity: &Validity) -> Value {
    json!({
        "not_before": validity.not_before,
        "not_after": if validity.not_after == NO_EXPIRY { Value::from("never") } else { Value::from(validity.not_after) },
    })
}

fn credential_json(credential: &Credential<'_>) -> Value {
    let body = &credential.body;
    json!({
        "type": "credential",
        "version": body.version,
        "kind": body.kind.name(),
        "algorithm": body.algorithm.0,
        "serial": body.serial,
        "issuer_key_id": body.issuer.to_string(),
        "subject": {
            "device_id": body.subject.device_id.to_string(),
            "vendor_id": body.subject.vendor_id,
            "model_id": body.subject.model_id,
            "hardware_revision": body.subject.hardware_revision,
        },
        "public_key": body.public_key.to_string(),
        "key_id": body.key_id().to_string(),
        "validity": validity_json(&body.validity),
        "usage": body.usage.names().collect::<Vec<_>>(),
        "issuer_limits": body.issuer_limits.as_ref().map(|limits| json!({
            "window": validity_json(&limits.window),
            "models": limits.models.as_slice(),
        })),
        "signature": hex::encode(credential.signature),
    })
}

fn print_credential_text(credential: &Credential<'_>) {
    let body = &credential.body;
    println!("credential (version {})", body.version);
    println!("  kind:              {}", body.kind);
    println!(
        "  algorithm:         {}{}",
        body.algorithm.0,
        if body.algorithm == SignatureAlgorithm::ED25519 {
            " (Ed25519)"
        } else {
            " (unknown)"
        }
    );
    println!("  serial:            {}", body.serial);
    println!("  issuer key id:     {}", body.issuer);
    println!("  device id:         {}", body.subject.device_id);
    println!("  vendor id:         {}", body.subject.vendor_id);
    println!("  model id:          {}", body.subject.model_id);
    println!("  hardware revision: {}", body.subject.hardware_revision);
    println!("  public key:        {}", body.public_key);
    println!("  key id:            {}", body.key_id());
    println!("  not before:        {}", body.validity.not_before);
    println!(
        "  not after:         {}",
        time_text(body.validity.not_after)
    );
    println!(
        "  usage:             {}",
        body.usage.names().collect::<Vec<_>>().join(", ")
    );
    if let Some(limits) = &body.issuer_limits {
        println!("  may issue from:    {}", limits.window.not_before);
        println!(
            "  may issue until:   {}",
            time_text(limits.window.not_after)
        );
        let models: Vec<String> = limits.models.iter().map(u32::to_string).collect();
        println!(
            "  models:            {}",
            if models.is_empty() {
                "any".to_string()
            } else {
                models.join(", ")
            }
        );
    }
    println!("  signature:         {}", hex::encode(credential.signature));
}

fn revocation_json(list: &RevocationList, signature: &[u8]) -> Value {
    json!({
        "type": "revocation_list",
        "version": list.version,
        "root_key_id": list.root.to_string(),
        "signer_key_id": list.signer.to_string(),
        "number": list.number,
        "this_update": list.this_update,
        "next_update": list.next_update,
        "revoked_credentials": list.credentials.iter().map(|entry| json!({
            "issuer_key_id": entry.issuer.to_string(),
            "serial": entry.serial,
        })).collect::<Vec<_>>(),
        "revoked_issuers": list.issuers.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "signature": hex::encode(signature),
    })
}

fn action_json(action: &CommandAction) -> Value {
    match action {
        CommandAction::InstallRevocationList { number } => {
            json!({ "name": action.name(), "number": number })
        }
        CommandAction::Custom { code, argument } => {
            json!({ "name": action.name(), "code": code, "argument": argument })
        }
        _ => json!({ "name": action.name() }),
    }
}

fn command_json(command: &Command<'_>, signature: &[u8]) -> Value {
    json!({
        "type": "command",
        "version": command.version,
        "action": action_json(&command.action),
        "target": command.target.to_string(),
        "command_id": command.command_id,
        "counter": command.counter,
        "not_after": command.not_after,
        "signer": Credential::decode(command.signer_credential).map(|credential| credential_json(&credential)).unwrap_or(Value::Null),
        "signature": hex::encode(signature),
    })
}

fn inspect(path: &Path, as_json: bool) -> Outcome {
    let bytes = read_file(path)?;
    let credential_error = match Credential::decode(&bytes) {
        Ok(credential) => {
            if as_json {
                println!("{:#}", credential_json(&credential));
            } else {
                print_credential_text(&credential);
            }
            return Ok(());
        }
        Err(reason) => reason,
    };
    if let Ok((list, _, signature)) = RevocationList::decode_unverified(&bytes) {
        let value = revocation_json(&list, &signature);
        if as_json {
            println!("{value:#}");
        } else {
            println!("revocation list (version {})", list.version);
            println!("  root key id:   {}", list.root);
            println!("  signer key id: {}", list.signer);
            println!("  number:        {}", list.number);
            println!("  this update:   {}", list.this_update);
            println!("  next update:   {}", list.next_update);
            for entry in &list.credentials {
                println!(
                    "  revoked:       issuer {} serial {}",
                    entry.issuer, entry.serial
                );
            }
            for issuer in &list.issuers {
                println!("  revoked issuer: {issuer}");
            }
        }
        return Ok(());
    }
    if let Ok((command, _, signature)) = Command::decode_unverified(&bytes) {
        if as_json {
            println!("{:#}", command_json(&command, &signature));
        } else {
            println!("command (version {})", command.version);
            println!("  action:     {}", command.action.name());
            println!("  target:     {}", command.target);
            println!("  command id: {}", command.command_id);
            println!("  counter:    {}", command.counter);
            println!("  not after:  {}", command.not_after);
            if let Ok(signer) = Credential::decode(command.signer_credential) {
                println!(
                    "  signer:     {} serial {} key id {}",
                    signer.body.kind,
                    signer.body.serial,
                    signer.key_id()
                );
            }
        }
        return Ok(());
    }
    Err(usage_error(format!(
        "{} is not a credential, revocation list or command; as a credential it fails with: {credential_error}",
        path.display()
    )))
}

fn verify(
    anchors: &[PathBuf],
    chain: &[PathBuf],
    revocation_lists: &[PathBuf],
    at: Option<u64>,
) -> Outcome {
    let time = VerificationTime::Trusted(at.unwrap_or_else(now));
    let mut roots = TrustStore::new();
    for path in anchors {
        let bytes = read_file(path)?;
        let anchor = TrustAnchor::from_root_credential(&bytes, time).map_err(|reason| {
            usage_error(format!(
                "anchor {} is not a valid root credential: {reason} (code {})",
                path.display(),
                reason.code()
            ))
        })?;
        roots.pin(anchor).map_err(|_| {
            usage_error(format!(
                "too many anchors: at most {} roots can be pinned",
                palisade_credential::MAX_PINNED_ROOTS
            ))
        })?;
    }

    // Stale lists follow the default policy: a new admission is rejected.
    let mut lists = Vec::new();
    for path in revocation_lists {
        let bytes = read_file(path)?;
        let list = RevocationList::decode_and_verify(&bytes, &roots, None, time)?;
        let mut status = RevocationStatus::new(StalePolicy::default());
        status.install(&list)?;
        status.check_new_admission(time.seconds())?;
        lists.push(list);
    }

    let credentials = chain
        .iter()
        .map(|path| read_file(path))
        .collect::<Result<Vec<_>, _>>()?;
    let slices: Vec<&[u8]> = credentials.iter().map(Vec::as_slice).collect();
    let mut verifier = ChainVerifier::new(roots);

    if let [single] = slices.as_slice()
        && Credential::decode(single)
            .is_ok_and(|credential| credential.body.kind == CredentialKind::Gateway)
    {
        let gateway = verifier.verify_gateway(single, time, &lists)?;
        println!(
            "OK: gateway credential serial {} (key id {}) chains to root {}",
            gateway.credential.serial, gateway.key_id, gateway.root
        );
        return Ok(());
    }

    let device = verifier.verify_device_chain(&slices, time, &lists)?;
    println!(
        "OK: device {} (serial {}, key id {}) chains through intermediate {} to root {}",
        device.device_id(),
        device.credential.serial,
        device.key_id,
        device.intermediate,
        device.root
    );
    Ok(())
}

fn parse_revoked(text: &str) -> Result<RevokedCredential, Failure> {
    let invalid = || {
        usage_error(format!(
            "invalid --credential {text:?}: expected ISSUER_KEY_ID:SERIAL, for example 0123456789abcdef:42"
        ))
    };
    let (issuer, serial) = text.split_once(':').ok_or_else(invalid)?;
    Ok(RevokedCredential {
        issuer: KeyId::from_hex(issuer).ok_or_else(invalid)?,
        serial: serial.parse().map_err(|_| invalid())?,
    })
}

fn revoke(
    key: &Path,
    number: u64,
    credentials: &[String],
    issuers: &[String],
    valid_for: u64,
    out: &Path,
) -> Outcome {
    let signer = read_key(key)?;
    let mut entries = credentials
        .iter()
        .map(|text| parse_revoked(text))
        .collect::<Result<Vec<_>, _>>()?;
    entries.sort_unstable();
    entries.dedup();
    let mut issuer_ids = issuers
        .iter()
        .map(|text| {
            KeyId::from_hex(text).ok_or_else(|| {
                usage_error(format!("invalid --issuer {text:?}: expected 16 hex digits"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    issuer_ids.sort_unstable();
    issuer_ids.dedup();
    let this_update = now();
    let list = RevocationList {
        version: palisade_credential::REVOCATION_LIST_VERSION,
        root: signer.key_id(),
        signer: signer.key_id(),
        number,
        this_update,
        next_update: this_update.saturating_add(valid_for),
        credentials: heapless::Vec::from_slice(&entries).map_err(|_| {
            usage_error(format!(
                "{} revoked credentials given, at most {} fit in one list",
                entries.len(),
                palisade_credential::MAX_REVOKED_CREDENTIALS
            ))
        })?,
        issuers: heapless::Vec::from_slice(&issuer_ids).map_err(|_| {
            usage_error(format!(
                "{} revoked issuers given, at most {} fit in one list",
                issuer_ids.len(),
                palisade_credential::MAX_REVOKED_ISSUERS
            ))
        })?,
    };
    let mut buffer = vec![0u8; MAX_REVOCATION_LIST_LEN];
    let len = list.sign(&signer, &mut buffer)?;
    write_file(out, &buffer[..len])?;
    println!(
        "wrote {} (revocation list number {number}, {} credentials, {} issuers)",
        out.display(),
        entries.len(),
        issuer_ids.len()
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn sign_command(
    key: &Path,
    credential: &Path,
    target: &str,
    action: ActionArg,
    list_number: u64,
    custom: (u16, u64),
    counter: u64,
    command_id: u64,
    expires_in: u64,
    out: &Path,
) -> Outcome {
    let signer = read_key(key)?;
    let signer_credential = read_file(credential)?;
    let decoded = Credential::decode(&signer_credential)?;
    if decoded.body.public_key != signer.public_key() {
        return Err(usage_error(format!(
            "{} does not belong to the key in {}",
            credential.display(),
            key.display()
        )));
    }
    let action = match action {
        ActionArg::IsolateNetwork => CommandAction::IsolateNetwork,
        ActionArg::ReleaseIsolation => CommandAction::ReleaseIsolation,
        ActionArg::GracefulShutdown => CommandAction::GracefulShutdown,
        ActionArg::RotateCredential => CommandAction::RotateCredential,
        ActionArg::InstallRevocationList => CommandAction::InstallRevocationList {
            number: list_number,
        },
        ActionArg::RequestInventory => CommandAction::RequestInventory,
        ActionArg::Custom => CommandAction::Custom {
            code: custom.0,
            argument: custom.1,
        },
    };
    let command = Command {
        version: palisade_credential::COMMAND_VERSION,
        action,
        target: DeviceId::from_hex(target).ok_or_else(|| {
            usage_error(format!(
                "invalid --target {target:?}: expected 32 hex digits"
            ))
        })?,
        command_id,
        counter,
        not_after: now().saturating_add(expires_in),
        signer_credential: &signer_credential,
    };
    let mut buffer = vec![0u8; MAX_COMMAND_LEN];
    let len = command.sign(&signer, &mut buffer)?;
    write_file(out, &buffer[..len])?;
    println!(
        "wrote {} ({} for device {target}, counter {counter})",
        out.display(),
        command.action.name()
    );
    Ok(())
}

fn run(cli: Cli) -> Outcome {
    match cli.command {
        Commands::Keygen { out, force } => keygen(&out, force),
        Commands::Issue { kind } => issue(&kind),
        Commands::Inspect { file, json } => inspect(&file, json),
        Commands::Verify {
            anchors,
            chain,
            revocation_lists,
            at,
        } => verify(&anchors, &chain, &revocation_lists, at),
        Commands::Revoke {
            key,
            number,
            credentials,
            issuers,
            valid_for,
            out,
        } => revoke(&key, number, &credentials, &issuers, valid_for, &out),
        Commands::SignCommand {
            key,
            credential,
            target,
            action,
            list_number,
            custom_code,
            custom_argument,
            counter,
            command_id,
            expires_in,
            out,
        } => sign_command(
            &key,
            &credential,
            &target,
            action,
            list_number,
            (custom_code, custom_argument),
            counter,
            command_id,
            expires_in,
            &out,
        ),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Rejected(reason)) => {
            eprintln!("rejected: {reason} (reason code {})", reason.code());
            ExitCode::from(1)
        }
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}
