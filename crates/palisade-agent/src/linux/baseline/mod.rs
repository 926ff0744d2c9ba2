//! A small built-in set of baseline (hardening) checks.

mod sshd;

use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::prelude::rust_2024::*;

use palisade_schema::{CheckResult, Protocol, Severity};

pub use sshd::{
    MAX_CONFIG_FILES, MAX_INCLUDE_DEPTH, SshdConfigError, SshdSettings, expand_include, glob_match,
    read_sshd_config, split_words,
};

use super::Collector;
use super::network::{canonical, read_sockets};
use super::read::{ErrorSink, FileError, Limits, read_text_bounded};
use super::record::{BaselineResult, Record};

/// Check id: sshd must not accept root logins with a password.
pub const CHECK_SSH_ROOT_LOGIN: &str = "palisade.ssh.permit_root_login";
/// Check id: sshd must not accept password authentication.
pub const CHECK_SSH_PASSWORD: &str = "palisade.ssh.password_authentication";
/// Check id: no world-writable files or directories in system paths.
pub const CHECK_WORLD_WRITABLE: &str = "palisade.fs.world_writable";
/// Check id: no service listens on all interfaces.
pub const CHECK_LISTEN_ALL: &str = "palisade.net.listening_all_interfaces";
/// Check id: no account has an empty password.
pub const CHECK_EMPTY_PASSWORD: &str = "palisade.accounts.empty_password";

/// Remediation of [`CHECK_LISTEN_ALL`].
const LISTEN_ALL_FIX: &str = "Bind each service to the interface it serves (for example the device network only), or allow the port in the agent configuration.";

/// Maximum number of paths named one by one in a check description.
const LISTED: usize = 5;

fn result(
    check_id: &str,
    result: CheckResult,
    severity: Severity,
    description: String,
    remediation: &str,
) -> BaselineResult {
    BaselineResult {
        check_id: check_id.to_string(),
        result,
        severity,
        description,
        remediation: remediation.to_string(),
    }
}

/// Formats `count` followed by the singular or plural phrase.
fn counted(count: usize, singular: &str, plural: &str) -> String {
    if count == 1 {
        std::format!("1 {singular}")
    } else {
        std::format!("{count} {plural}")
    }
}

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    let shown: Vec<String> = items.iter().take(LISTED).map(ToString::to_string).collect();
    let more = items.len().saturating_sub(LISTED);
    if more > 0 {
        std::format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// Evaluates `PermitRootLogin` from the global sshd settings.
///
/// Unset means `prohibit-password`, the default since OpenSSH 7.0; only
/// `yes` fails. A missing `sshd_config` passes, because sshd does not
/// start without it.
pub fn check_permit_root_login(settings: &Result<SshdSettings, SshdConfigError>) -> BaselineResult {
    const FIX: &str = "Set `PermitRootLogin no` (or `prohibit-password`) in sshd_config, outside any Match block, and reload sshd.";
    let settings = match settings {
        Ok(settings) => settings,
        Err(SshdConfigError::File(e)) if e.is_not_found() && matches!(e, FileError::Io { .. }) => {
            return result(
                CHECK_SSH_ROOT_LOGIN,
                CheckResult::Pass,
                Severity::High,
                std::format!("sshd is not configured: {e}"),
                FIX,
            );
        }
        Err(e) => {
            return result(
                CHECK_SSH_ROOT_LOGIN,
                CheckResult::Error,
                Severity::High,
                std::format!("cannot read the sshd configuration: {e}"),
                FIX,
            );
        }
    };
    match settings
        .get("PermitRootLogin")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => result(
            CHECK_SSH_ROOT_LOGIN,
            CheckResult::Pass,
            Severity::High,
            "PermitRootLogin is not set; sshd's default prohibit-password applies".to_string(),
            FIX,
        ),
        Some("yes") => result(
            CHECK_SSH_ROOT_LOGIN,
            CheckResult::Fail,
            Severity::High,
            "PermitRootLogin is yes: root can log in over SSH with a password".to_string(),
            FIX,
        ),
        Some(
            value @ ("no" | "prohibit-password" | "without-password" | "forced-commands-only"),
        ) => result(
            CHECK_SSH_ROOT_LOGIN,
            CheckResult::Pass,
            Severity::High,
            std::format!("PermitRootLogin is {value}"),
            FIX,
        ),
        Some(other) => result(
            CHECK_SSH_ROOT_LOGIN,
            CheckResult::Error,
            Severity::High,
            std::format!("PermitRootLogin has the unknown value {other:?}"),
            FIX,
        ),
    }
}

/// Evaluates `PasswordAuthentication`: unset means `yes` (sshd's default),
/// which fails. A missing `sshd_config` passes.
pub fn check_password_authentication(
    settings: &Result<SshdSettings, SshdConfigError>,
) -> BaselineResult {
    const FIX: &str = "Set `PasswordAuthentication no` in sshd_config, outside any Match block, use keys, and reload sshd.";
    let settings = match settings {
        Ok(settings) => settings,
        Err(SshdConfigError::File(e)) if e.is_not_found() => {
            return result(
                CHECK_SSH_PASSWORD,
                CheckResult::Pass,
                Severity::Medium,
                std::format!("sshd is not configured: {e}"),
                FIX,
            );
        }
        Err(e) => {
            return result(
                CHECK_SSH_PASSWORD,
                CheckResult::Error,
                Severity::Medium,
                std::format!("cannot read the sshd configuration: {e}"),
                FIX,
            );
        }
    };
    match settings
        .get("PasswordAuthentication")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("no") => result(
            CHECK_SSH_PASSWORD,
            CheckResult::Pass,
            Severity::Medium,
            "PasswordAuthentication is no".to_string(),
            FIX,
        ),
        Some("yes") => result(
            CHECK_SSH_PASSWORD,
            CheckResult::Fail,
            Severity::Medium,
            "PasswordAuthentication is yes".to_string(),
            FIX,
        ),
        None => result(
            CHECK_SSH_PASSWORD,
            CheckResult::Fail,
            Severity::Medium,
            "PasswordAuthentication is not set; sshd's default yes applies".to_string(),
            FIX,
        ),
        Some(other) => result(
            CHECK_SSH_PASSWORD,
            CheckResult::Error,
            Severity::Medium,
            std::format!("PasswordAuthentication has the unknown value {other:?}"),
            FIX,
        ),
    }
}

/// Findings of a bounded walk for world-writable entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WorldWritable {
    /// World-writable regular files and directories without the sticky bit.
    pub found: Vec<PathBuf>,
    /// Entries looked at.
    pub visited: usize,
    /// Directories that could not be listed.
    pub unreadable: usize,
    /// Whether the walk stopped at `max_entries` before finishing.
    pub stopped: bool,
    /// Roots that do not exist.
    pub missing_roots: Vec<PathBuf>,
    /// Roots that exist but whose metadata could not be read, with the reason.
    pub unreadable_roots: Vec<(PathBuf, String)>,
}

impl WorldWritable {
    /// Returns why the walk cannot support a pass, if it cannot: a root
    /// that exists but could not be read, or no root that exists at all.
    pub fn read_failure(&self) -> Option<String> {
        if !self.unreadable_roots.is_empty() {
            let roots: Vec<String> = self
                .unreadable_roots
                .iter()
                .map(|(path, reason)| std::format!("{}: {reason}", path.display()))
                .collect();
            return Some(std::format!(
                "{} system paths could not be read: {}",
                roots.len(),
                list(&roots)
            ));
        }
        let walked = self.visited > self.missing_roots.len();
        if !walked && !self.stopped {
            let roots: Vec<_> = self.missing_roots.iter().map(|p| p.display()).collect();
            return Some(std::format!(
                "none of the system paths exists: {}; check BaselineConfig::system_paths",
                list(&roots)
            ));
        }
        None
    }
}

/// Walks `roots` without following symbolic links, at most `max_entries`
/// entries and `max_depth` levels, and lists world-writable regular files
/// and world-writable directories without the sticky bit.
pub fn find_world_writable(
    roots: &[PathBuf],
    max_entries: usize,
    max_depth: usize,
) -> WorldWritable {
    let mut report = WorldWritable::default();
    let mut stack: Vec<(PathBuf, usize)> = roots.iter().rev().map(|r| (r.clone(), 0)).collect();
    while let Some((path, depth)) = stack.pop() {
        if report.visited >= max_entries {
            report.stopped = true;
            break;
        }
        report.visited += 1;
        let metadata = match fs::symlink_metadata(&path) {
            Ok(metadata) => metadata,
            Err(e) if depth == 0 && e.kind() == std::io::ErrorKind::NotFound => {
                report.missing_roots.push(path);
                continue;
            }
            Err(e) if depth == 0 => {
                report.unreadable_roots.push((path, e.to_string()));
                continue;
            }
            // An entry removed between listing and reading.
            Err(_) => continue,
        };
        let mode = metadata.permissions().mode();
        let kind = metadata.file_type();
        let world_writable = mode & 0o002 != 0;
        if kind.is_file() && world_writable || kind.is_dir() && world_writable && mode & 0o1000 == 0
        {
            report.found.push(path.clone());
        }
        if kind.is_dir() && depth < max_depth {
            match fs::read_dir(&path) {
                Ok(entries) => {
                    let mut children: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
                    children.sort();
                    stack.extend(children.into_iter().rev().map(|c| (c, depth + 1)));
                }
                Err(_) => report.unreadable += 1,
            }
        }
    }
    report
}

/// Turns a world-writable walk into a check result.
///
/// The result is an error, never a pass, when a root could not be read,
/// when none of the roots exists, or when the walk stopped early.
pub fn check_world_writable(walk: &WorldWritable) -> BaselineResult {
    const FIX: &str = "Remove write permission for others (`chmod o-w PATH`) or set the sticky bit on shared directories.";
    let unreadable = if walk.unreadable > 0 {
        std::format!(
            "; {} not be read",
            counted(walk.unreadable, "directory could", "directories could")
        )
    } else {
        String::new()
    };
    if !walk.found.is_empty() {
        let paths: Vec<_> = walk.found.iter().map(|p| p.display()).collect();
        return result(
            CHECK_WORLD_WRITABLE,
            CheckResult::Fail,
            Severity::Medium,
            std::format!(
                "{} in system paths: {}{unreadable}",
                counted(
                    walk.found.len(),
                    "world-writable entry",
                    "world-writable entries"
                ),
                list(&paths)
            ),
            FIX,
        );
    }
    let missing = if walk.missing_roots.is_empty() {
        String::new()
    } else {
        let roots: Vec<_> = walk.missing_roots.iter().map(|p| p.display()).collect();
        std::format!("; not present: {}", list(&roots))
    };
    if let Some(reason) = walk.read_failure() {
        return result(
            CHECK_WORLD_WRITABLE,
            CheckResult::Error,
            Severity::Medium,
            std::format!("cannot evaluate: {reason}"),
            FIX,
        );
    }
    if walk.stopped {
        return result(
            CHECK_WORLD_WRITABLE,
            CheckResult::Error,
            Severity::Medium,
            std::format!(
                "the walk stopped after {} entries without finishing; raise BaselineConfig::max_walk_entries",
                walk.visited
            ),
            FIX,
        );
    }
    result(
        CHECK_WORLD_WRITABLE,
        CheckResult::Pass,
        Severity::Medium,
        std::format!(
            "no world-writable entries among {} in system paths{unreadable}{missing}",
            walk.visited
        ),
        FIX,
    )
}

/// Checks that no listening socket is bound to all interfaces (`0.0.0.0`
/// or `::`), except the `(protocol, port)` pairs in `allowed`.
pub fn check_listening_all_interfaces(
    listening: &[(Protocol, SocketAddr)],
    allowed: &[(Protocol, u16)],
) -> BaselineResult {
    const FIX: &str = LISTEN_ALL_FIX;
    let mut wildcard: Vec<String> = listening
        .iter()
        .filter(|(protocol, local)| {
            local.ip().is_unspecified() && !allowed.contains(&(*protocol, local.port()))
        })
        .map(|(protocol, local)| std::format!("{} {local}", protocol.name()))
        .collect();
    wildcard.sort();
    wildcard.dedup();
    if wildcard.is_empty() {
        let description = match listening.len() {
            1 => "the one listening socket is not bound to all interfaces".to_string(),
            count => std::format!("none of {count} listening sockets is bound to all interfaces"),
        };
        result(
            CHECK_LISTEN_ALL,
            CheckResult::Pass,
            Severity::Medium,
            description,
            FIX,
        )
    } else {
        result(
            CHECK_LISTEN_ALL,
            CheckResult::Fail,
            Severity::Medium,
            std::format!(
                "{} on all interfaces: {}",
                counted(wildcard.len(), "socket listens", "sockets listen"),
                list(&wildcard)
            ),
            FIX,
        )
    }
}

/// Returns the error result of the listening check when socket tables in
/// `unread` could not be read, so the listening sockets are not known.
pub fn check_listening_unreadable(unread: &[(PathBuf, String)]) -> BaselineResult {
    let reasons: Vec<&str> = unread.iter().map(|(_, reason)| reason.as_str()).collect();
    result(
        CHECK_LISTEN_ALL,
        CheckResult::Error,
        Severity::Medium,
        std::format!("cannot evaluate: {}", reasons.join("; ")),
        LISTEN_ALL_FIX,
    )
}

/// Lists the accounts of a shadow file whose password field is empty
/// (login without a password). Locked (`!`, `*`) and hashed passwords do
/// not count.
pub fn empty_password_accounts(shadow: &str) -> Vec<String> {
    shadow
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let user = fields.next()?;
            let password = fields.next()?;
            (!user.is_empty() && password.is_empty()).then(|| user.to_string())
        })
        .collect()
}

/// Turns the shadow file (or why it could not be read) into a check result.
pub fn check_empty_passwords(shadow: &Result<String, FileError>) -> BaselineResult {
    const FIX: &str = "Lock the account (`passwd -l USER`) or set a password.";
    match shadow {
        Ok(text) => {
            let accounts = empty_password_accounts(text);
            if accounts.is_empty() {
                result(
                    CHECK_EMPTY_PASSWORD,
                    CheckResult::Pass,
                    Severity::High,
                    "no account has an empty password".to_string(),
                    FIX,
                )
            } else {
                result(
                    CHECK_EMPTY_PASSWORD,
                    CheckResult::Fail,
                    Severity::High,
                    std::format!(
                        "{} an empty password: {}",
                        counted(accounts.len(), "account has", "accounts have"),
                        list(&accounts)
                    ),
                    FIX,
                )
            }
        }
        Err(e) => result(
            CHECK_EMPTY_PASSWORD,
            CheckResult::Error,
            Severity::High,
            std::format!("cannot evaluate: {e}"),
            FIX,
        ),
    }
}

/// Configuration of the baseline collector: checks and sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineConfig {
    /// The main sshd configuration, normally `/etc/ssh/sshd_config`.
    pub sshd_config: PathBuf,
    /// Base of relative `Include` paths, normally `/etc/ssh`.
    pub sshd_config_dir: PathBuf,
    /// The shadow file, normally `/etc/shadow`.
    pub shadow: PathBuf,
    /// Roots of the world-writable walk.
    pub system_paths: Vec<PathBuf>,
    /// Maximum number of entries the walk visits.
    pub max_walk_entries: usize,
    /// Deepest directory level the walk enters.
    pub max_walk_depth: usize,
    /// The proc file system for the socket tables, normally `/proc`.
    pub proc_root: PathBuf,
    /// `(protocol, port)` pairs allowed to listen on all interfaces.
    pub allowed_all_interfaces: Vec<(Protocol, u16)>,
    /// Size caps.
    pub limits: Limits,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        Self {
            sshd_config: PathBuf::from("/etc/ssh/sshd_config"),
            sshd_config_dir: PathBuf::from("/etc/ssh"),
            shadow: PathBuf::from("/etc/shadow"),
            system_paths: ["/etc", "/usr/bin", "/usr/sbin", "/bin", "/sbin"]
                .into_iter()
                .map(PathBuf::from)
                .collect(),
            max_walk_entries: 200_000,
            max_walk_depth: 32,
            proc_root: PathBuf::from("/proc"),
            allowed_all_interfaces: Vec::new(),
            limits: Limits::default(),
        }
    }
}

/// Runs every built-in check at each scan.
pub struct BaselineCollector {
    config: BaselineConfig,
}

impl BaselineCollector {
    /// Creates a collector.
    pub fn new(config: BaselineConfig) -> Self {
        Self { config }
    }
}

impl Collector for BaselineCollector {
    fn name(&self) -> &'static str {
        "baseline"
    }

    fn collect(&mut self, out: &mut Vec<Record>) {
        let config = &self.config;
        let sshd = read_sshd_config(
            &config.sshd_config,
            &config.sshd_config_dir,
            config.limits.max_file_bytes,
        );
        let mut results = vec![
            check_permit_root_login(&sshd),
            check_password_authentication(&sshd),
        ];

        // On a merged-/usr system /bin and /sbin are links into /usr; the
        // walk does not follow links, so they are not walked twice.
        let walk = find_world_writable(
            &config.system_paths,
            config.max_walk_entries,
            config.max_walk_depth,
        );
        results.push(check_world_writable(&walk));

        let mut errors = ErrorSink::new("baseline", config.limits.max_errors_per_scan, out);
        for (path, reason) in &walk.unreadable_roots {
            errors.report(Some(path), reason);
        }
        if walk.unreadable_roots.is_empty()
            && let Some(reason) = walk.read_failure()
        {
            errors.report(None, reason);
        }
        let tables = read_sockets(&config.proc_root, &config.limits);
        for (path, reason) in tables.unread.iter().chain(&tables.line_errors) {
            errors.report(Some(path), reason);
        }
        if tables.is_incomplete() {
            results.push(check_listening_unreadable(&tables.unread));
        } else {
            let listening: Vec<(Protocol, SocketAddr)> = tables
                .sockets
                .iter()
                .filter(|s| s.is_listening())
                .map(|s| (s.protocol, canonical(s.local)))
                .collect();
            results.push(check_listening_all_interfaces(
                &listening,
                &config.allowed_all_interfaces,
            ));
        }

        results.push(check_empty_passwords(&read_text_bounded(
            &config.shadow,
            config.limits.max_file_bytes,
        )));
        errors
            .records()
            .extend(results.into_iter().map(Record::BaselineCheck));
    }
}
