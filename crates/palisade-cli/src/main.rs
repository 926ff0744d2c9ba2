//! The `palisade` command for the factory line and operations: key
//! generation, issuing, inspecting and verifying credentials, revocation
//! lists, signed commands and signed reference SBOMs.
//!
//! Private keys are PKCS#8 Ed25519 files (DER, v1 or v2); credentials,
//! revocation lists and commands are written in their binary encoding. Times
//! are seconds since the Unix epoch. Every failure prints its reason to
//! standard error and exits non-zero: 1 when a verification rejects the
//! input, 2 for usage and file errors.
//!
//! # Exit codes
//!
//! - 0: success. A closed standard output (for example `palisade inspect
//!   FILE | head -4`) also ends the command with 0.
//! - 1: a verification (`verify`, `verify-command`, `verify-sbom`) rejected the input; the
//!   message ends with the library's stable reason code.
//! - 2: usage, file or encoding error: a missing or unreadable file, a file
//!   of the wrong type, an output file that exists without `--force`, a
//!   signer whose credential lacks the needed usage, or an invalid option.
//!
//! # JSON output
//!
//! `inspect --json` prints every 64-bit integer (serials, counters, command
//! ids, list numbers, custom arguments and times) as a decimal string,
//! because JSON readers such as jq and JavaScript round numbers above 2^53.
//! Smaller integers (versions, vendor, model and action codes) are numbers.
//! An intermediate's `"models"` is the string `"any"` when it may issue for
//! every model, else an array of model ids. `inspect` decodes without
//! checking signatures, and its JSON marks this with `"signature_checked": false`.

#![forbid(unsafe_code)]

mod diagnostics;

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand, ValueEnum};
use palisade_credential::{
    CREDENTIAL_VERSION, ChainVerifier, Command, CommandAction, CommandVerifier, Credential,
    CredentialBody, CredentialKind, DeviceId, IssuerLimits, KeyId, KeyUsage, MAX_ALLOWED_MODELS,
    MAX_COMMAND_LEN, MAX_CREDENTIAL_LEN, MAX_ISSUED_AT_SKEW_SECS, MAX_REFERENCE_SBOM_LEN,
    MAX_REVOCATION_LIST_LEN, NO_EXPIRY, OsRng, PublicKey, REFERENCE_SBOM_VERSION,
    ReferenceComponent, ReferenceComponents, ReferenceSbom, RejectReason, RevocationList,
    RevocationStatus, RevokedCredential, Rng, SignatureAlgorithm, Signer, SoftwareSigner,
    StalePolicy, Subject, TrustAnchor, TrustStore, Validity, VerificationTime,
};
use serde_json::{Value, json};

use diagnostics::{ChainFile, FileType, article, blame, reason_text};

/// Exit codes, shown at the end of `--help`.
const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success (also when standard output is closed early, as by `| head`)
  1  a verification rejected the input; the message ends with its reason code
  2  usage, file or encoding error (missing or wrong-type file, existing output
     file without --force, signer credential without the needed usage)";

/// Appends one formatted line to the output buffer.
macro_rules! outln {
    ($output:expr, $($arg:tt)*) => {{
        $output.push_str(&format!($($arg)*));
        $output.push('\n');
    }};
}

#[derive(Parser)]
#[command(
    name = "palisade",
    version,
    about = "Keys, credentials, revocation lists, signed commands and reference SBOMs for Palisade devices",
    after_help = EXIT_CODES_HELP
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
    /// Print a credential, revocation list, command or reference SBOM as text or JSON.
    ///
    /// Decodes the file without checking any signature; use `verify` or
    /// `verify-command` for that.
    #[command(after_help = "\
JSON output: every 64-bit integer (serial, counter, command_id, list number,
custom argument, times) is a decimal string, because jq and JavaScript round
numbers above 2^53; \"not_after\": \"never\" marks no expiry. An intermediate's
\"models\" is \"any\" when it may issue for every model, else an array of model
ids. \"signature_checked\" is always false.")]
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
    /// Verify a signed command as the target device would.
    ///
    /// Checks the signer's gateway credential against the pinned operator
    /// roots, its sign-commands usage, the signature, the target device, the
    /// expiry and that the counter is above --last-counter.
    VerifyCommand {
        /// Operator root credential file to pin (repeat for several roots).
        #[arg(long = "anchor", value_name = "ROOT_CREDENTIAL", required = true)]
        anchors: Vec<PathBuf>,
        /// Device id the command must target (32 hex digits).
        #[arg(long)]
        device_id: String,
        /// Last counter the device accepted; the command's counter must be above it.
        #[arg(long, default_value_t = 0)]
        last_counter: u64,
        /// Revocation list files to apply (signed by a pinned root).
        #[arg(long = "revocation-list", value_name = "FILE")]
        revocation_lists: Vec<PathBuf>,
        /// Verification time in seconds since the Unix epoch (default: now).
        #[arg(long)]
        at: Option<u64>,
        /// Signed command file.
        command: PathBuf,
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
        /// Overwrite an existing output file.
        #[arg(long)]
        force: bool,
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
        /// Monotonic counter, 1 or more; must exceed the last counter the device accepted.
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
        /// Overwrite an existing output file.
        #[arg(long)]
        force: bool,
    },
    /// Write a signed reference SBOM: the components one firmware version of one model ships.
    ///
    /// The components file is a CycloneDX JSON BOM, in which each component
    /// needs a name, a version and a SHA-256 hash. It may instead be a text
    /// file with one component per line: NAME VERSION SHA256 (64 hex
    /// digits), separated by spaces. Blank lines and lines starting with #
    /// are skipped.
    SignSbom {
        /// Private key of the signer (the maker's root, or an intermediate with the sign-reference-sboms usage).
        #[arg(long)]
        signer_key: PathBuf,
        /// The signer's credential file (root or intermediate, with the sign-reference-sboms usage).
        #[arg(long)]
        signer_credential: PathBuf,
        /// Vendor id, as in the model's device credentials.
        #[arg(long)]
        vendor: u32,
        /// Model id, as in the model's device credentials.
        #[arg(long)]
        model: u32,
        /// Model name for people (at most 64 bytes).
        #[arg(long, default_value = "")]
        model_name: String,
        /// Firmware version, as devices report it in their system information.
        #[arg(long)]
        firmware: String,
        /// Components file: CycloneDX JSON or NAME VERSION SHA256 lines.
        #[arg(long)]
        components: PathBuf,
        /// Issue time, seconds since the Unix epoch (default: now).
        #[arg(long)]
        issued_at: Option<u64>,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// Overwrite an existing output file.
        #[arg(long)]
        force: bool,
    },
    /// Verify a signed reference SBOM against pinned device-maker roots, as a gateway does.
    VerifySbom {
        /// Device-maker root credential file to pin (repeat for several roots).
        #[arg(long = "anchor", value_name = "ROOT_CREDENTIAL", required = true)]
        anchors: Vec<PathBuf>,
        /// Revocation list files to apply (signed by a pinned root).
        #[arg(long = "revocation-list", value_name = "LIST")]
        revocation_lists: Vec<PathBuf>,
        /// Verification time in seconds since the Unix epoch (default: now).
        #[arg(long)]
        at: Option<u64>,
        /// Reference SBOM file.
        file: PathBuf,
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
    /// Overwrite an existing output file.
    #[arg(long)]
    force: bool,
}

#[derive(Subcommand)]
enum IssueKind {
    /// A self-signed root credential.
    Root {
        /// Root private key.
        #[arg(long)]
        key: PathBuf,
        /// Also grant the sign-reference-sboms usage, so the root itself can sign reference SBOMs.
        #[arg(long)]
        sign_reference_sboms: bool,
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
        /// Grant the sign-reference-sboms usage (for the listed models).
        #[arg(long)]
        sign_reference_sboms: bool,
        /// Do not grant the issue-credentials usage (a release key that only signs reference SBOMs).
        #[arg(long)]
        no_issue: bool,
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
    Rejected {
        /// The file or files the reason refers to, when known.
        files: Option<String>,
        /// Reason for the rejection.
        reason: RejectReason,
    },
    /// Usage, file or encoding error (exit code 2).
    Usage(String),
}

impl From<RejectReason> for Failure {
    fn from(reason: RejectReason) -> Self {
        Failure::Rejected {
            files: None,
            reason,
        }
    }
}

/// Returns a rejection that names the file it refers to.
fn rejected_in(path: &Path) -> impl Fn(RejectReason) -> Failure + '_ {
    move |reason| Failure::Rejected {
        files: Some(path.display().to_string()),
        reason,
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

/// Writes `bytes` to `path`; without `force` an existing file is kept and reported.
fn write_file(path: &Path, bytes: &[u8], force: bool) -> Outcome {
    let mut options = fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|error| {
        if error.kind() == io::ErrorKind::AlreadyExists {
            exists_error(path)
        } else {
            usage_error(format!("cannot write {}: {error}", path.display()))
        }
    })?;
    file.write_all(bytes)
        .map_err(|error| usage_error(format!("cannot write {}: {error}", path.display())))
}

fn exists_error(path: &Path) -> Failure {
    usage_error(format!(
        "{} exists; pass --force to overwrite it",
        path.display()
    ))
}

/// Rejects an existing output file before any work is done.
fn check_output(path: &Path, force: bool) -> Outcome {
    if path.exists() && !force {
        return Err(exists_error(path));
    }
    Ok(())
}

/// Returns `count` and `word`, with an `s` unless `count` is 1.
fn plural(count: usize, word: &str) -> String {
    if count == 1 {
        format!("{count} {word}")
    } else {
        format!("{count} {word}s")
    }
}

fn read_key(path: &Path) -> Result<SoftwareSigner, Failure> {
    let document = read_file(path)?;
    SoftwareSigner::from_pkcs8(&document).map_err(|reason| {
        let file_type = FileType::detect(&document);
        if file_type == FileType::Unknown {
            usage_error(format!(
                "{} is not a usable Ed25519 PKCS#8 key: {reason}",
                path.display()
            ))
        } else {
            usage_error(format!(
                "{} is {}, not a PKCS#8 private key; pass the key file written by keygen",
                path.display(),
                file_type.description()
            ))
        }
    })
}

/// Reads a file that must contain a credential, naming the type found otherwise.
fn read_credential_file(path: &Path, role: &str) -> Result<Vec<u8>, Failure> {
    let bytes = read_file(path)?;
    match FileType::detect(&bytes) {
        FileType::Credential(_) => Ok(bytes),
        FileType::Unknown => {
            let reason = Credential::decode(&bytes)
                .err()
                .unwrap_or(RejectReason::Malformed {
                    object: palisade_credential::ObjectType::Credential,
                    field: "kind",
                });
            Err(usage_error(format!(
                "{}: not a valid {role}: {}",
                path.display(),
                reason_text(&reason)
            )))
        }
        other => Err(usage_error(format!(
            "{} is {}, not {role}{}",
            path.display(),
            other.description(),
            if other == FileType::Command {
                "; check a signed command with `palisade verify-command`"
            } else {
                ""
            }
        ))),
    }
}

/// First value that a time option treats as a mistake: 10^11 seconds is in
/// the year 5138, while the same instant today in milliseconds is about
/// 1.8 * 10^12.
const FIRST_MILLISECOND_LIKE_TIME: u64 = 100_000_000_000;

/// Rejects a time that looks like milliseconds since the Unix epoch.
/// `NO_EXPIRY` ("never") passes.
fn check_seconds(value: u64, option: &str) -> Result<u64, Failure> {
    if value != NO_EXPIRY && value >= FIRST_MILLISECOND_LIKE_TIME {
        return Err(usage_error(format!(
            "{option} {value} is after the year 5000; give seconds since the Unix epoch, not milliseconds{}",
            if option.contains("not-after") {
                ", or \"never\""
            } else {
                ""
            }
        )));
    }
    Ok(value)
}

/// Checks the seconds and the order of a validity period from `options`
/// ("--not-before" and "--not-after" or the window's pair).
fn check_validity_options(validity: &Validity, options: (&str, &str)) -> Result<(), Failure> {
    check_seconds(validity.not_before, options.0)?;
    check_seconds(validity.not_after, options.1)?;
    if validity.not_before > validity.not_after {
        return Err(usage_error(format!(
            "{} {} is after {} {}; the credential would never be valid",
            options.0, validity.not_before, options.1, validity.not_after
        )));
    }
    Ok(())
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
    // Keep serials below 2^63 so they also fit a signed 64-bit integer.
    Ok(u64::from_le_bytes(bytes) >> 1)
}

fn keygen(output: &mut String, out: &Path, force: bool) -> Outcome {
    check_output(out, force)?;
    let signer = SoftwareSigner::generate(&mut OsRng)?;
    let document = signer.to_pkcs8();
    write_file(out, document.as_ref(), force)?;
    restrict_permissions(out)?;
    outln!(
        output,
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

fn issue(output: &mut String, kind: &IssueKind) -> Outcome {
    let (IssueKind::Root { common, .. }
    | IssueKind::Intermediate { common, .. }
    | IssueKind::Device { common, .. }
    | IssueKind::Gateway { common, .. }) = kind;
    check_output(&common.out, common.force)?;
    let (body, issuer, common) = match kind {
        IssueKind::Root {
            key,
            sign_reference_sboms,
            common,
        } => {
            let signer = read_key(key)?;
            let mut usage = KeyUsage::ISSUE_CREDENTIALS.union(KeyUsage::SIGN_REVOCATION_LISTS);
            if *sign_reference_sboms {
                usage = usage.union(KeyUsage::SIGN_REFERENCE_SBOMS);
            }
            (
                base_body(
                    CredentialKind::Root,
                    &signer,
                    signer.public_key(),
                    common,
                    usage,
                )?,
                signer,
                common,
            )
        }
        IssueKind::Intermediate {
            issuer_key,
            subject_key,
            models,
            window_not_before,
            window_not_after,
            sign_reference_sboms,
            no_issue,
            common,
        } => {
            let issuer = read_key(issuer_key)?;
            let subject = read_key(subject_key)?.public_key();
            let mut usage = if *no_issue {
                KeyUsage::NONE
            } else {
                KeyUsage::ISSUE_CREDENTIALS
            };
            if *sign_reference_sboms {
                usage = usage.union(KeyUsage::SIGN_REFERENCE_SBOMS);
            }
            if usage == KeyUsage::NONE {
                return Err(usage_error(
                    "--no-issue leaves the intermediate without any usage; add --sign-reference-sboms",
                ));
            }
            let mut body = base_body(
                CredentialKind::Intermediate,
                &issuer,
                subject,
                common,
                usage,
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
            (body, issuer, common)
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
            (body, issuer, common)
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
                common,
            )
        }
    };
    check_validity_options(&body.validity, ("--not-before", "--not-after"))?;
    if let Some(limits) = &body.issuer_limits {
        check_validity_options(
            &limits.window,
            ("--window-not-before", "--window-not-after"),
        )?;
    }
    let mut buffer = [0u8; MAX_CREDENTIAL_LEN];
    let len = body.issue(&issuer, &mut buffer)?;
    write_file(&common.out, &buffer[..len], common.force)?;
    outln!(
        output,
        "wrote {} ({} credential, serial {}, key id {})",
        common.out.display(),
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
        "not_before": validity.not_before.to_string(),
        "not_after": time_text(validity.not_after),
    })
}

/// Formats the models an intermediate may issue for, as `"any"` when the list is empty.
fn models_json(models: &[u32]) -> Value {
    if models.is_empty() {
        Value::from("any")
    } else {
        Value::from(models)
    }
}

fn credential_json(credential: &Credential<'_>) -> Value {
    let body = &credential.body;
    json!({
        "type": "credential",
        "version": body.version,
        "kind": body.kind.name(),
        "algorithm": body.algorithm.0,
        "serial": body.serial.to_string(),
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
            "models": models_json(limits.models.as_slice()),
        })),
        "signature": hex::encode(credential.signature),
        "signature_checked": false,
    })
}

fn print_credential_text(output: &mut String, credential: &Credential<'_>) {
    let body = &credential.body;
    outln!(output, "credential (version {})", body.version);
    outln!(output, "  kind:              {}", body.kind);
    outln!(
        output,
        "  algorithm:         {}{}",
        body.algorithm.0,
        if body.algorithm == SignatureAlgorithm::ED25519 {
            " (Ed25519)"
        } else {
            " (unknown)"
        }
    );
    outln!(output, "  serial:            {}", body.serial);
    outln!(output, "  issuer key id:     {}", body.issuer);
    outln!(output, "  device id:         {}", body.subject.device_id);
    outln!(output, "  vendor id:         {}", body.subject.vendor_id);
    outln!(output, "  model id:          {}", body.subject.model_id);
    outln!(
        output,
        "  hardware revision: {}",
        body.subject.hardware_revision
    );
    outln!(output, "  public key:        {}", body.public_key);
    outln!(output, "  key id:            {}", body.key_id());
    outln!(output, "  not before:        {}", body.validity.not_before);
    outln!(
        output,
        "  not after:         {}",
        time_text(body.validity.not_after)
    );
    outln!(
        output,
        "  usage:             {}",
        body.usage.names().collect::<Vec<_>>().join(", ")
    );
    if let Some(limits) = &body.issuer_limits {
        outln!(output, "  may issue from:    {}", limits.window.not_before);
        outln!(
            output,
            "  may issue until:   {}",
            time_text(limits.window.not_after)
        );
        let models: Vec<String> = limits.models.iter().map(u32::to_string).collect();
        outln!(
            output,
            "  models:            {}",
            if models.is_empty() {
                "any".to_string()
            } else {
                models.join(", ")
            }
        );
    }
    outln!(
        output,
        "  signature:         {}",
        hex::encode(credential.signature)
    );
    outln!(
        output,
        "  signature check:   not checked; use `palisade verify` with the root credential"
    );
}

fn revocation_json(list: &RevocationList, signature: &[u8]) -> Value {
    json!({
        "type": "revocation_list",
        "version": list.version,
        "root_key_id": list.root.to_string(),
        "signer_key_id": list.signer.to_string(),
        "number": list.number.to_string(),
        "this_update": list.this_update.to_string(),
        "next_update": list.next_update.to_string(),
        "revoked_credentials": list.credentials.iter().map(|entry| json!({
            "issuer_key_id": entry.issuer.to_string(),
            "serial": entry.serial.to_string(),
        })).collect::<Vec<_>>(),
        "revoked_issuers": list.issuers.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "signature": hex::encode(signature),
        "signature_checked": false,
    })
}

fn action_json(action: &CommandAction) -> Value {
    match action {
        CommandAction::InstallRevocationList { number } => {
            json!({ "name": action.name(), "number": number.to_string() })
        }
        CommandAction::Custom { code, argument } => {
            json!({ "name": action.name(), "code": code, "argument": argument.to_string() })
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
        "command_id": command.command_id.to_string(),
        "counter": command.counter.to_string(),
        "not_after": time_text(command.not_after),
        "signer": Credential::decode(command.signer_credential).map(|credential| credential_json(&credential)).unwrap_or(Value::Null),
        "signature": hex::encode(signature),
        "signature_checked": false,
    })
}

fn inspect(output: &mut String, path: &Path, as_json: bool) -> Outcome {
    let bytes = read_file(path)?;
    let credential_error = match Credential::decode(&bytes) {
        Ok(credential) => {
            if as_json {
                outln!(output, "{:#}", credential_json(&credential));
            } else {
                print_credential_text(output, &credential);
            }
            return Ok(());
        }
        Err(reason) => reason,
    };
    if let Ok((list, _, signature)) = RevocationList::decode_unverified(&bytes) {
        let value = revocation_json(&list, &signature);
        if as_json {
            outln!(output, "{value:#}");
        } else {
            outln!(output, "revocation list (version {})", list.version);
            outln!(output, "  root key id:   {}", list.root);
            outln!(output, "  signer key id: {}", list.signer);
            outln!(output, "  number:        {}", list.number);
            outln!(output, "  this update:   {}", list.this_update);
            outln!(output, "  next update:   {}", list.next_update);
            for entry in &list.credentials {
                outln!(
                    output,
                    "  revoked:       issuer {} serial {}",
                    entry.issuer,
                    entry.serial
                );
            }
            for issuer in &list.issuers {
                outln!(output, "  revoked issuer: {issuer}");
            }
            outln!(
                output,
                "  signature:     not checked; `palisade verify --revocation-list` checks it"
            );
        }
        return Ok(());
    }
    if let Ok((command, _, signature)) = Command::decode_unverified(&bytes) {
        if as_json {
            outln!(output, "{:#}", command_json(&command, &signature));
        } else {
            outln!(output, "command (version {})", command.version);
            outln!(output, "  action:     {}", command.action.name());
            outln!(output, "  target:     {}", command.target);
            outln!(output, "  command id: {}", command.command_id);
            outln!(output, "  counter:    {}", command.counter);
            outln!(output, "  not after:  {}", command.not_after);
            if let Ok(signer) = Credential::decode(command.signer_credential) {
                outln!(
                    output,
                    "  signer:     {} serial {} key id {}",
                    signer.body.kind,
                    signer.body.serial,
                    signer.key_id()
                );
            }
            outln!(
                output,
                "  signature:  not checked; use `palisade verify-command`"
            );
        }
        return Ok(());
    }
    if let Ok((reference, _, signature)) = ReferenceSbom::decode_unverified(&bytes) {
        print_reference_sbom(output, &reference, &signature, as_json);
        return Ok(());
    }
    if FileType::detect(&bytes) == FileType::PrivateKey {
        return Err(usage_error(format!(
            "{} is a PKCS#8 private key, not a credential, revocation list, command or reference SBOM; keygen prints the key id when it writes the key",
            path.display()
        )));
    }
    Err(usage_error(format!(
        "{}: not a credential, revocation list, command or reference SBOM; decoded as a credential: {}",
        path.display(),
        reason_text(&credential_error)
    )))
}

/// Pins the root credentials in `anchors`.
fn load_anchors(anchors: &[PathBuf], time: VerificationTime) -> Result<TrustStore, Failure> {
    let mut roots = TrustStore::new();
    for path in anchors {
        let bytes = read_credential_file(path, "a root credential")?;
        let anchor = TrustAnchor::from_root_credential(&bytes, time).map_err(|reason| {
            usage_error(format!(
                "{}: not a valid root credential for --anchor: {}",
                path.display(),
                reason_text(&reason)
            ))
        })?;
        roots.pin(anchor).map_err(|_| {
            usage_error(format!(
                "too many anchors: at most {} roots can be pinned",
                palisade_credential::MAX_PINNED_ROOTS
            ))
        })?;
    }
    Ok(roots)
}

/// Verifies each revocation list against `roots` and checks that it is fresh.
fn load_revocation_lists(
    paths: &[PathBuf],
    roots: &TrustStore,
    time: VerificationTime,
) -> Result<Vec<RevocationList>, Failure> {
    // Stale lists follow the default policy: a new admission is rejected.
    let mut lists = Vec::new();
    for path in paths {
        let bytes = read_file(path)?;
        let file_type = FileType::detect(&bytes);
        if !matches!(file_type, FileType::RevocationList | FileType::Unknown) {
            return Err(usage_error(format!(
                "{} is {}, not a revocation list; pass the file written by `palisade revoke`",
                path.display(),
                file_type.description()
            )));
        }
        let list = RevocationList::decode_and_verify(&bytes, roots, None, time)
            .map_err(rejected_in(path))?;
        let mut status = RevocationStatus::new(StalePolicy::default());
        status.install(&list).map_err(rejected_in(path))?;
        status
            .check_new_admission(time.seconds())
            .map_err(rejected_in(path))?;
        lists.push(list);
    }
    Ok(lists)
}

/// Reads the chain files, rejecting files of another object type with a
/// usage error that names the type found.
fn read_chain(chain: &[PathBuf]) -> Result<Vec<ChainFile>, Failure> {
    let mut files = Vec::new();
    for path in chain {
        let bytes = read_file(path)?;
        let file_type = FileType::detect(&bytes);
        let problem = match file_type {
            FileType::Command => Some("; check it with `palisade verify-command`"),
            FileType::Credential(CredentialKind::Root) => {
                Some("; pass a root credential with --anchor, not in the chain")
            }
            FileType::RevocationList => Some("; pass a revocation list with --revocation-list"),
            FileType::ReferenceSbom => Some("; check it with `palisade verify-sbom`"),
            FileType::PrivateKey => Some("; pass credential files, not key files"),
            FileType::Credential(_) | FileType::Unknown => None,
        };
        if let Some(advice) = problem {
            return Err(usage_error(format!(
                "{} is {}, not an intermediate, device or gateway credential{advice}",
                path.display(),
                file_type.description()
            )));
        }
        files.push(ChainFile {
            path: path.clone(),
            bytes,
        });
    }
    Ok(files)
}

fn verify(
    output: &mut String,
    anchors: &[PathBuf],
    chain: &[PathBuf],
    revocation_lists: &[PathBuf],
    at: Option<u64>,
) -> Outcome {
    let time = VerificationTime::Trusted(check_seconds(at.unwrap_or_else(now), "--at")?);
    let roots = load_anchors(anchors, time)?;
    let lists = load_revocation_lists(revocation_lists, &roots, time)?;
    let files = read_chain(chain)?;

    let slices: Vec<&[u8]> = files.iter().map(|file| file.bytes.as_slice()).collect();
    let mut verifier = ChainVerifier::new(roots.clone());
    let with_file = |reason: RejectReason| {
        let names = match blame(&reason, &files, &roots) {
            Some(file) => file.path.display().to_string(),
            None => files
                .iter()
                .map(|file| file.path.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        };
        Failure::Rejected {
            files: Some(names),
            reason,
        }
    };

    if let [single] = slices.as_slice()
        && Credential::decode(single)
            .is_ok_and(|credential| credential.body.kind == CredentialKind::Gateway)
    {
        let gateway = verifier
            .verify_gateway(single, time, &lists)
            .map_err(with_file)?;
        outln!(
            output,
            "OK: gateway credential serial {} (key id {}) chains to root {}",
            gateway.credential.serial,
            gateway.key_id,
            gateway.root
        );
        return Ok(());
    }

    let device = verifier
        .verify_device_chain(&slices, time, &lists)
        .map_err(with_file)?;
    outln!(
        output,
        "OK: device {} (serial {}, key id {}) chains through intermediate {} to root {}",
        device.device_id(),
        device.credential.serial,
        device.key_id,
        device.intermediate,
        device.root
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn verify_command(
    output: &mut String,
    anchors: &[PathBuf],
    device_id: &str,
    last_counter: u64,
    revocation_lists: &[PathBuf],
    at: Option<u64>,
    command: &Path,
) -> Outcome {
    let time = VerificationTime::Trusted(check_seconds(at.unwrap_or_else(now), "--at")?);
    let device = DeviceId::from_hex(device_id).ok_or_else(|| {
        usage_error(format!(
            "invalid --device-id {device_id:?}: expected 32 hex digits"
        ))
    })?;
    let roots = load_anchors(anchors, time)?;
    let lists = load_revocation_lists(revocation_lists, &roots, time)?;
    let bytes = read_file(command)?;
    let file_type = FileType::detect(&bytes);
    if !matches!(file_type, FileType::Command | FileType::Unknown) {
        return Err(usage_error(format!(
            "{} is {}, not a signed command{}",
            command.display(),
            file_type.description(),
            if matches!(file_type, FileType::Credential(_)) {
                "; check credentials with `palisade verify`"
            } else {
                ""
            }
        )));
    }
    let mut verifier = CommandVerifier::new(device, roots, last_counter);
    let verified = verifier
        .verify(&bytes, time, &lists)
        .map_err(rejected_in(command))?;
    outln!(
        output,
        "OK: {} for device {device} (command id {}, counter {}, valid until {}) signed by gateway serial {} (key id {}) from root {}",
        verified.action.name(),
        verified.command_id,
        verified.counter,
        time_text(verified.not_after),
        verified.signer.credential.serial,
        verified.signer.key_id,
        verified.signer.root
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

#[allow(clippy::too_many_arguments)]
fn revoke(
    output: &mut String,
    key: &Path,
    number: u64,
    credentials: &[String],
    issuers: &[String],
    valid_for: u64,
    out: &Path,
    force: bool,
) -> Outcome {
    check_output(out, force)?;
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
    write_file(out, &buffer[..len], force)?;
    outln!(
        output,
        "wrote {} (revocation list number {number}, {} revoked, {} revoked)",
        out.display(),
        plural(entries.len(), "credential"),
        plural(issuer_ids.len(), "issuer")
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn sign_command(
    output: &mut String,
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
    force: bool,
) -> Outcome {
    check_output(out, force)?;
    if counter == 0 {
        return Err(usage_error(
            "--counter 0 is never accepted: a device accepts only a counter above the last one it accepted, and that starts at 0; pass 1 or more",
        ));
    }
    let signer = read_key(key)?;
    let signer_credential = read_credential_file(credential, "a gateway credential")?;
    let decoded = Credential::decode(&signer_credential)?;
    let body = &decoded.body;
    if body.kind != CredentialKind::Gateway {
        return Err(usage_error(format!(
            "{} is {} {} credential (serial {}); devices accept commands only from a gateway credential with the sign-commands usage",
            credential.display(),
            article(body.kind.name()),
            body.kind,
            body.serial
        )));
    }
    if !body.usage.contains(KeyUsage::SIGN_COMMANDS) {
        return Err(usage_error(format!(
            "{}: gateway credential serial {} lacks the sign-commands usage, so devices reject its commands; issue a gateway credential without --no-sign-commands",
            credential.display(),
            body.serial
        )));
    }
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
    write_file(out, &buffer[..len], force)?;
    outln!(
        output,
        "wrote {} ({} for device {target}, counter {counter})",
        out.display(),
        command.action.name()
    );
    Ok(())
}

/// Reads reference components from a CycloneDX JSON BOM or from
/// `NAME VERSION SHA256` lines; returns them sorted by name.
fn read_components(path: &Path) -> Result<Vec<(String, String, [u8; 32])>, Failure> {
    let bytes = read_file(path)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| usage_error(format!("{} is not UTF-8 text", path.display())))?;
    let mut components = if text.trim_start().starts_with('{') {
        cyclonedx_components(path, &text)?
    } else {
        line_components(path, &text)?
    };
    components.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    if let Some(pair) = components.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        return Err(usage_error(format!(
            "{}: component {:?} is listed twice; a reference lists each name once",
            path.display(),
            pair[0].0
        )));
    }
    Ok(components)
}

fn parse_sha256(path: &Path, name: &str, text: &str) -> Result<[u8; 32], Failure> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash).map_err(|_| {
        usage_error(format!(
            "{}: component {name:?} has SHA-256 {text:?}; expected 64 hex digits",
            path.display()
        ))
    })?;
    Ok(hash)
}

fn cyclonedx_components(
    path: &Path,
    text: &str,
) -> Result<Vec<(String, String, [u8; 32])>, Failure> {
    let bom: Value = serde_json::from_str(text)
        .map_err(|error| usage_error(format!("{} is not valid JSON: {error}", path.display())))?;
    if bom["bomFormat"] != "CycloneDX" {
        return Err(usage_error(format!(
            "{} is JSON but not a CycloneDX BOM (bomFormat is not \"CycloneDX\")",
            path.display()
        )));
    }
    let list = bom["components"].as_array().cloned().unwrap_or_default();
    let mut components = Vec::with_capacity(list.len());
    for (index, component) in list.iter().enumerate() {
        let name = component["name"].as_str().ok_or_else(|| {
            usage_error(format!("{}: component {index} has no name", path.display()))
        })?;
        let version = component["version"].as_str().unwrap_or_default();
        let hash = component["hashes"]
            .as_array()
            .and_then(|hashes| {
                hashes
                    .iter()
                    .find(|hash| hash["alg"] == "SHA-256")
                    .and_then(|hash| hash["content"].as_str())
            })
            .ok_or_else(|| {
                usage_error(format!(
                    "{}: component {name:?} has no SHA-256 hash; a reference needs one per component",
                    path.display()
                ))
            })?;
        components.push((
            name.to_owned(),
            version.to_owned(),
            parse_sha256(path, name, hash)?,
        ));
    }
    Ok(components)
}

fn line_components(path: &Path, text: &str) -> Result<Vec<(String, String, [u8; 32])>, Failure> {
    let mut components = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [name, version, hash] = fields[..] else {
            return Err(usage_error(format!(
                "{} line {}: expected NAME VERSION SHA256, found {} fields",
                path.display(),
                number + 1,
                fields.len()
            )));
        };
        components.push((
            name.to_owned(),
            version.to_owned(),
            parse_sha256(path, name, hash)?,
        ));
    }
    Ok(components)
}

/// Options of `sign-sbom`.
struct SignSbom<'a> {
    signer_key: &'a Path,
    signer_credential: &'a Path,
    vendor: u32,
    model: u32,
    model_name: &'a str,
    firmware: &'a str,
    components: &'a Path,
    issued_at: Option<u64>,
    out: &'a Path,
    force: bool,
}

fn sign_sbom(output: &mut String, options: &SignSbom<'_>) -> Outcome {
    check_output(options.out, options.force)?;
    let current = now();
    if let Some(issued_at) = options.issued_at
        && issued_at > current.saturating_add(MAX_ISSUED_AT_SKEW_SECS)
    {
        return Err(usage_error(format!(
            "--issued-at {issued_at} is later than now ({current}) by more than {MAX_ISSUED_AT_SKEW_SECS} s; give seconds since the Unix epoch, not milliseconds"
        )));
    }
    let signer = read_key(options.signer_key)?;
    let path = options.signer_credential;
    let signer_credential = read_credential_file(path, "a root or intermediate credential")?;
    let body = Credential::decode(&signer_credential)?.body;
    if !matches!(
        body.kind,
        CredentialKind::Root | CredentialKind::Intermediate
    ) {
        return Err(usage_error(format!(
            "{} is {} {} credential; reference SBOMs are signed by the maker's root or an intermediate",
            path.display(),
            article(body.kind.name()),
            body.kind
        )));
    }
    if !body.usage.contains(KeyUsage::SIGN_REFERENCE_SBOMS) {
        return Err(usage_error(format!(
            "{}: {} credential serial {} lacks the sign-reference-sboms usage, so gateways reject its references; issue one with --sign-reference-sboms",
            path.display(),
            body.kind,
            body.serial
        )));
    }
    if body.public_key != signer.public_key() {
        return Err(usage_error(format!(
            "{} does not belong to the key in {}",
            path.display(),
            options.signer_key.display()
        )));
    }
    if let Some(limits) = &body.issuer_limits
        && !limits.models.is_empty()
        && !limits.models.contains(&options.model)
    {
        return Err(usage_error(format!(
            "{}: {} credential serial {} may sign only for models {:?}, not model {}, so gateways would reject the reference; sign with a credential that allows model {}",
            path.display(),
            body.kind,
            body.serial,
            limits.models.as_slice(),
            options.model,
            options.model
        )));
    }

    if body.subject.vendor_id != 0 && body.subject.vendor_id != options.vendor {
        return Err(usage_error(format!(
            "{}: {} credential serial {} is for vendor {}, not --vendor {}, so gateways would reject the reference; sign with a credential of vendor {} or of vendor 0",
            path.display(),
            body.kind,
            body.serial,
            body.subject.vendor_id,
            options.vendor,
            options.vendor
        )));
    }
    let issued_at = check_seconds(options.issued_at.unwrap_or_else(now), "--issued-at")?;
    if issued_at < body.validity.not_before || issued_at > body.validity.not_after {
        return Err(usage_error(format!(
            "{}: {} credential serial {} is valid from {} to {}, which does not include the issue time {issued_at}; renew the signer credential or give --issued-at within its validity",
            path.display(),
            body.kind,
            body.serial,
            body.validity.not_before,
            body.validity.not_after
        )));
    }

    let owned = read_components(options.components)?;
    if owned.is_empty() {
        return Err(usage_error(format!(
            "{} lists no components; a reference without components would report every installed component as drift",
            options.components.display()
        )));
    }
    let components: Vec<ReferenceComponent<'_>> = owned
        .iter()
        .map(|(name, version, sha256)| ReferenceComponent {
            name,
            version,
            sha256: *sha256,
        })
        .collect();
    let reference = ReferenceSbom {
        version: REFERENCE_SBOM_VERSION,
        vendor_id: options.vendor,
        model_id: options.model,
        model_name: options.model_name,
        firmware_version: options.firmware,
        issued_at,
        components: ReferenceComponents::from_slice(&components),
        signer_credential: &signer_credential,
    };

    let mut buffer = vec![0u8; MAX_REFERENCE_SBOM_LEN];
    let len = reference.sign(&signer, &mut buffer).map_err(|reason| {
        usage_error(format!(
            "cannot sign the reference SBOM from {}: {}",
            options.components.display(),
            reason_text(&reason)
        ))
    })?;
    write_file(options.out, &buffer[..len], options.force)?;
    outln!(
        output,
        "wrote {} (reference SBOM for vendor {} model {} firmware {}, {})",
        options.out.display(),
        options.vendor,
        options.model,
        options.firmware,
        plural(components.len(), "component")
    );
    Ok(())
}

fn verify_sbom(
    output: &mut String,
    anchors: &[PathBuf],
    revocation_lists: &[PathBuf],
    at: Option<u64>,
    file: &Path,
) -> Outcome {
    let time = VerificationTime::Trusted(check_seconds(at.unwrap_or_else(now), "--at")?);
    let roots = load_anchors(anchors, time)?;
    let lists = load_revocation_lists(revocation_lists, &roots, time)?;
    let bytes = read_file(file)?;
    let file_type = FileType::detect(&bytes);
    if !matches!(file_type, FileType::ReferenceSbom | FileType::Unknown) {
        return Err(usage_error(format!(
            "{} is {}, not a reference SBOM; pass the file written by `palisade sign-sbom`",
            file.display(),
            file_type.description()
        )));
    }
    let reference = ReferenceSbom::decode_and_verify(&bytes, &roots, time, &lists)
        .map_err(rejected_in(file))?;
    outln!(
        output,
        "valid: reference SBOM for vendor {} model {} firmware {}, {}, signed by key {}",
        reference.vendor_id,
        reference.model_id,
        reference.firmware_version,
        plural(reference.components.len(), "component"),
        reference
            .signer_key_id()
            .map(|key_id| key_id.to_string())
            .unwrap_or_default()
    );
    Ok(())
}

fn reference_sbom_json(reference: &ReferenceSbom<'_>, signature: &[u8; 64]) -> Value {
    let signer = Credential::decode(reference.signer_credential).ok();
    json!({
        "type": "reference_sbom",
        "version": reference.version,
        "vendor_id": reference.vendor_id,
        "model_id": reference.model_id,
        "model_name": reference.model_name,
        "firmware_version": reference.firmware_version,
        "issued_at": reference.issued_at.to_string(),
        "components": reference.components.iter().map(|component| json!({
            "name": component.name,
            "version": component.version,
            "sha256": hex::encode(component.sha256),
        })).collect::<Vec<_>>(),
        "signer": signer.map(|signer| json!({
            "kind": signer.body.kind.name(),
            "serial": signer.body.serial.to_string(),
            "key_id": signer.key_id().to_string(),
            "issuer_key_id": signer.body.issuer.to_string(),
        })),
        "signature": hex::encode(signature),
        "signature_checked": false,
    })
}

fn print_reference_sbom(
    output: &mut String,
    reference: &ReferenceSbom<'_>,
    signature: &[u8; 64],
    as_json: bool,
) {
    if as_json {
        outln!(output, "{:#}", reference_sbom_json(reference, signature));
        return;
    }
    outln!(output, "reference SBOM (version {})", reference.version);
    outln!(output, "  vendor id:  {}", reference.vendor_id);
    outln!(output, "  model id:   {}", reference.model_id);
    outln!(output, "  model name: {}", reference.model_name);
    outln!(output, "  firmware:   {}", reference.firmware_version);
    outln!(output, "  issued at:  {}", reference.issued_at);
    if let Ok(signer) = Credential::decode(reference.signer_credential) {
        outln!(
            output,
            "  signer:     {} serial {} key id {}",
            signer.body.kind,
            signer.body.serial,
            signer.key_id()
        );
    }
    outln!(output, "  components: {}", reference.components.len());
    for component in reference.components.iter() {
        outln!(
            output,
            "    {} {} sha256 {}",
            component.name,
            component.version,
            hex::encode(component.sha256)
        );
    }
    outln!(
        output,
        "  signature:  not checked; use `palisade verify-sbom`"
    );
}

fn run(output: &mut String, cli: Cli) -> Outcome {
    match cli.command {
        Commands::Keygen { out, force } => keygen(output, &out, force),
        Commands::Issue { kind } => issue(output, &kind),
        Commands::Inspect { file, json } => inspect(output, &file, json),
        Commands::Verify {
            anchors,
            chain,
            revocation_lists,
            at,
        } => verify(output, &anchors, &chain, &revocation_lists, at),
        Commands::VerifyCommand {
            anchors,
            device_id,
            last_counter,
            revocation_lists,
            at,
            command,
        } => verify_command(
            output,
            &anchors,
            &device_id,
            last_counter,
            &revocation_lists,
            at,
            &command,
        ),
        Commands::Revoke {
            key,
            number,
            credentials,
            issuers,
            valid_for,
            out,
            force,
        } => revoke(
            output,
            &key,
            number,
            &credentials,
            &issuers,
            valid_for,
            &out,
            force,
        ),
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
            force,
        } => sign_command(
            output,
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
            force,
        ),
        Commands::SignSbom {
            signer_key,
            signer_credential,
            vendor,
            model,
            model_name,
            firmware,
            components,
            issued_at,
            out,
            force,
        } => sign_sbom(
            output,
            &SignSbom {
                signer_key: &signer_key,
                signer_credential: &signer_credential,
                vendor,
                model,
                model_name: &model_name,
                firmware: &firmware,
                components: &components,
                issued_at,
                out: &out,
                force,
            },
        ),
        Commands::VerifySbom {
            anchors,
            revocation_lists,
            at,
            file,
        } => verify_sbom(output, &anchors, &revocation_lists, at, &file),
    }
}

/// Writes the buffered output to a locked standard output. A reader that
/// closed the pipe early (`| head`) is a normal end, not an error.
fn flush_output(output: &str) -> Result<(), io::Error> {
    let mut stdout = io::stdout().lock();
    let result = stdout
        .write_all(output.as_bytes())
        .and_then(|()| stdout.flush());
    match result {
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut output = String::new();
    let outcome = run(&mut output, cli);
    if let Err(error) = flush_output(&output) {
        // Standard error may be closed too; a failed report changes nothing.
        let _ = writeln!(
            io::stderr(),
            "error: cannot write to standard output: {error}"
        );
        return ExitCode::from(2);
    }
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Rejected { files, reason }) => {
            let prefix = files.map(|names| format!("{names}: ")).unwrap_or_default();
            // Standard error may be closed; the exit code still reports the failure.
            let _ = writeln!(io::stderr(), "rejected: {prefix}{}", reason_text(&reason));
            ExitCode::from(1)
        }
        Err(Failure::Usage(message)) => {
            let _ = writeln!(io::stderr(), "error: {message}");
            ExitCode::from(2)
        }
    }
}
