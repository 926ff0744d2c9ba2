//! Processes from `/proc`: starts and exits found by comparing scans.
//!
//! Command lines are reported as one string with the arguments joined by
//! single spaces, because the schema field is a single string; argument
//! boundaries are lost, so `a "b c"` and `a b c` look the same.
//!
//! By default ([`ProcessConfig::redact_secrets`]) the collector replaces
//! the values of secret-looking options with `***` before reporting, see
//! [`redact_arguments`]. The redaction matches option names only: a secret
//! passed positionally or in an option with another name (`-pSECRET`) is
//! reported as it is.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::prelude::rust_2024::*;

use super::Collector;
use super::read::{ErrorSink, FileError, Limits, read_bounded, read_text_bounded};
use super::record::{ProcessExit, ProcessStart, Record};

/// The fields of `/proc/<pid>/stat` that the collector uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// Process id (field 1).
    pub pid: u32,
    /// Command name (field 2) without its parentheses; may contain spaces
    /// and parentheses itself.
    pub comm: String,
    /// State letter (field 3), such as `R`, `S` or `Z`.
    pub state: char,
    /// Parent process id (field 4).
    pub parent_pid: u32,
    /// Start time after boot in clock ticks (field 22). With the pid, it
    /// distinguishes a reused pid from the same process.
    pub start_ticks: u64,
}

/// Reasons a `/proc/<pid>/stat` line is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StatError {
    /// No `(` or no `)` after it around the command name.
    #[error("stat line has no parenthesized command name")]
    MissingComm,
    /// A numeric field is missing or not a number.
    #[error("stat field {field} is missing or not a number")]
    BadField {
        /// 1-based field number as in proc(5).
        field: usize,
    },
}

/// Parses one `/proc/<pid>/stat` line.
///
/// The command name is everything between the first `(` and the last `)`,
/// because the name itself may contain both (`(sd-pam)`, `a) b (c`).
pub fn parse_stat(bytes: &[u8]) -> Result<Stat, StatError> {
    let open = bytes
        .iter()
        .position(|&b| b == b'(')
        .ok_or(StatError::MissingComm)?;
    let close = bytes
        .iter()
        .rposition(|&b| b == b')')
        .ok_or(StatError::MissingComm)?;
    if close < open {
        return Err(StatError::MissingComm);
    }
    let pid_text =
        std::str::from_utf8(&bytes[..open]).map_err(|_| StatError::BadField { field: 1 })?;
    let pid = pid_text
        .trim()
        .parse()
        .map_err(|_| StatError::BadField { field: 1 })?;
    let comm = String::from_utf8_lossy(&bytes[open + 1..close]).into_owned();
    let rest =
        std::str::from_utf8(&bytes[close + 1..]).map_err(|_| StatError::BadField { field: 3 })?;
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // fields[0] is field 3 of proc(5).
    let field = |number: usize| {
        fields
            .get(number - 3)
            .copied()
            .ok_or(StatError::BadField { field: number })
    };
    let mut state_chars = field(3)?.chars();
    let state = match (state_chars.next(), state_chars.next()) {
        (Some(c), None) => c,
        _ => return Err(StatError::BadField { field: 3 }),
    };
    let parent_pid = field(4)?
        .parse()
        .map_err(|_| StatError::BadField { field: 4 })?;
    let start_ticks = field(22)?
        .parse()
        .map_err(|_| StatError::BadField { field: 22 })?;
    Ok(Stat {
        pid,
        comm,
        state,
        parent_pid,
        start_ticks,
    })
}

/// Reasons a `/proc/<pid>/status` file gives no user id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StatusError {
    /// No `Uid:` line.
    #[error("status has no Uid line")]
    MissingUid,
    /// The first value of the `Uid:` line is not a number.
    #[error("status Uid line {0:?} does not start with a number")]
    BadUid(String),
}

/// Returns the real user id: the first number of the `Uid:` line of
/// `/proc/<pid>/status`.
pub fn parse_status_uid(text: &str) -> Result<u32, StatusError> {
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .ok_or(StatusError::MissingUid)?;
    let first = line.split_ascii_whitespace().next().unwrap_or_default();
    first
        .parse()
        .map_err(|_| StatusError::BadUid(line.trim().chars().take(64).collect()))
}

/// Turns the NUL-separated `/proc/<pid>/cmdline` into one line with the
/// arguments separated by single spaces (invalid UTF-8 replaced).
pub fn parse_cmdline(bytes: &[u8]) -> String {
    let trimmed = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    let mut line = String::with_capacity(trimmed.len());
    for (index, argument) in trimmed.split(|&b| b == 0).enumerate() {
        if index > 0 {
            line.push(' ');
        }
        line.push_str(&String::from_utf8_lossy(argument));
    }
    line
}

/// Splits the NUL-separated `/proc/<pid>/cmdline` into its arguments
/// (invalid UTF-8 replaced).
pub fn parse_arguments(bytes: &[u8]) -> Vec<String> {
    if bytes.is_empty() {
        return Vec::new();
    }
    let trimmed = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    trimmed
        .split(|&b| b == 0)
        .map(|argument| String::from_utf8_lossy(argument).into_owned())
        .collect()
}

/// What replaces a redacted value.
pub const REDACTED: &str = "***";

/// Parts of option names that mark the value as a secret, matched
/// case-insensitively anywhere in the name.
const SECRET_NAME_PARTS: [&str; 9] = [
    "password",
    "passwd",
    "secret",
    "token",
    "api-key",
    "api_key",
    "apikey",
    "credential",
    "auth",
];

/// Returns whether an option name (without leading dashes) names a secret.
fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "key" || SECRET_NAME_PARTS.iter().any(|part| name.contains(part))
}

/// Replaces the values of secret-looking options with [`REDACTED`].
///
/// An option is an argument after the first that starts with `-`; its
/// name is the text after the dashes, up to `=`. When the name contains
/// `password`, `passwd`, `secret`, `token`, `api-key`, `api_key`,
/// `apikey`, `credential` or `auth` (any case), or is exactly `key`, the
/// value is replaced: the part after `=` in `--name=value`, or the next
/// argument in `--name value`. An argument without dashes of the form
/// `NAME=value` (as passed to `env`) is redacted by the same name rule,
/// except for the bare name `key`. The first argument, the program, is
/// never changed.
pub fn redact_arguments(arguments: &mut [String]) {
    let mut redact_next = false;
    for argument in arguments.iter_mut().skip(1) {
        if redact_next {
            redact_next = false;
            *argument = REDACTED.to_string();
            continue;
        }
        let name_start = argument.trim_start_matches('-');
        let dashed = name_start.len() < argument.len();
        match name_start.split_once('=') {
            Some((name, _)) if !name.is_empty() => {
                let secret = if dashed {
                    is_secret_name(name)
                } else {
                    !name.eq_ignore_ascii_case("key") && is_secret_name(name)
                };
                if secret {
                    let keep = argument.len() - name_start.len() + name.len() + 1;
                    argument.truncate(keep);
                    argument.push_str(REDACTED);
                }
            }
            None if dashed && !name_start.is_empty() => redact_next = is_secret_name(name_start),
            _ => {}
        }
    }
}

/// Maps user ids to names from a passwd file (`name:x:uid:...`); lines
/// that do not have that shape are skipped.
pub fn parse_passwd(text: &str) -> HashMap<u32, String> {
    let mut users = HashMap::new();
    for line in text.lines() {
        let mut fields = line.split(':');
        let (Some(name), Some(_), Some(uid)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        if let Ok(uid) = uid.parse::<u32>() {
            users.entry(uid).or_insert_with(|| name.to_string());
        }
    }
    users
}

/// Configuration of the process collector: sources and reporting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessConfig {
    /// The proc file system, normally `/proc`.
    pub proc_root: PathBuf,
    /// The passwd file for user names, normally `/etc/passwd`.
    pub passwd: PathBuf,
    /// Maximum number of processes read in one scan; the rest are counted in a
    /// collection error.
    pub max_processes: usize,
    /// Whether the first scan reports every running process as started.
    pub report_existing: bool,
    /// Whether secret-looking option values in command lines are replaced
    /// with `***` (see [`redact_arguments`]); on by default.
    pub redact_secrets: bool,
    /// Size caps.
    pub limits: Limits,
}

impl Default for ProcessConfig {
    fn default() -> Self {
        Self {
            proc_root: PathBuf::from("/proc"),
            passwd: PathBuf::from("/etc/passwd"),
            max_processes: 65_536,
            report_existing: true,
            redact_secrets: true,
            limits: Limits::default(),
        }
    }
}

struct Known {
    start_ticks: u64,
    executable: String,
}

/// Reports processes that started or exited since the previous scan.
pub struct ProcessCollector {
    config: ProcessConfig,
    known: HashMap<u32, Known>,
    scanned: bool,
}

/// Largest `/proc/<pid>/cmdline` read, in bytes (Linux caps it at one page
/// per argument page; this cuts pathological command lines).
const MAX_CMDLINE_BYTES: u64 = 64 * 1024;
/// Largest `/proc/<pid>/stat` or `status` read, in bytes.
const MAX_PROC_FILE_BYTES: u64 = 16 * 1024;

/// One process as read from `/proc/<pid>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSnapshot {
    /// Fields of `stat`.
    pub stat: Stat,
    /// Real user id from `status`.
    pub uid: u32,
    /// Executable path (see [`ProcessStart::executable`]).
    pub executable: String,
    /// Command line, arguments separated by spaces, not redacted.
    pub command_line: String,
    /// The arguments as the kernel stores them, not redacted.
    pub arguments: Vec<String>,
}

/// Failures to read one `/proc/<pid>` directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// A file could not be read.
    #[error(transparent)]
    File(#[from] FileError),
    /// `stat` was malformed.
    #[error("{}: {source}", path.display())]
    Stat {
        /// The stat file.
        path: PathBuf,
        /// What was wrong.
        source: StatError,
    },
    /// `status` was malformed.
    #[error("{}: {source}", path.display())]
    Status {
        /// The status file.
        path: PathBuf,
        /// What was wrong.
        source: StatusError,
    },
}

impl ProcessError {
    /// Returns whether the process exited while it was being read (a normal race).
    fn is_gone(&self) -> bool {
        match self {
            Self::File(FileError::Io { source, .. }) => {
                source.kind() == io::ErrorKind::NotFound || source.raw_os_error() == Some(3)
            }
            _ => false,
        }
    }
}

/// Reads `/proc/<pid>` under `proc_root`.
///
/// The executable is the target of the `exe` link; when that cannot be
/// read (another user's process without privileges, a kernel thread), it is
/// the first command-line argument, or `[comm]` when there is none.
pub fn read_process(proc_root: &Path, pid: u32) -> Result<ProcessSnapshot, ProcessError> {
    let dir = proc_root.join(pid.to_string());
    let stat_path = dir.join("stat");
    let stat_bytes = read_bounded(&stat_path, MAX_PROC_FILE_BYTES)?;
    let stat = parse_stat(&stat_bytes).map_err(|source| ProcessError::Stat {
        path: stat_path,
        source,
    })?;
    let status_path = dir.join("status");
    let status = read_text_bounded(&status_path, MAX_PROC_FILE_BYTES)?;
    let uid = parse_status_uid(&status).map_err(|source| ProcessError::Status {
        path: status_path,
        source,
    })?;
    let cmdline = read_bounded(&dir.join("cmdline"), MAX_CMDLINE_BYTES).unwrap_or_default();
    let command_line = parse_cmdline(&cmdline);
    let arguments = parse_arguments(&cmdline);
    let first_argument = cmdline.split(|&b| b == 0).next().unwrap_or_default();
    let executable = match fs::read_link(dir.join("exe")) {
        Ok(target) => target.to_string_lossy().into_owned(),
        Err(_) if !first_argument.is_empty() => {
            String::from_utf8_lossy(first_argument).into_owned()
        }
        Err(_) => std::format!("[{}]", stat.comm),
    };
    Ok(ProcessSnapshot {
        stat,
        uid,
        executable,
        command_line,
        arguments,
    })
}

/// Lists the numeric entries of `proc_root`.
pub fn list_pids(proc_root: &Path) -> io::Result<Vec<u32>> {
    let mut pids = Vec::new();
    for entry in fs::read_dir(proc_root)? {
        let entry = entry?;
        if let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        {
            pids.push(pid);
        }
    }
    pids.sort_unstable();
    Ok(pids)
}

impl ProcessCollector {
    /// Creates a collector; the first [`Collector::collect`] call records
    /// the running processes.
    pub fn new(config: ProcessConfig) -> Self {
        Self {
            config,
            known: HashMap::new(),
            scanned: false,
        }
    }
}

impl Collector for ProcessCollector {
    fn name(&self) -> &'static str {
        "processes"
    }

    fn collect(&mut self, out: &mut Vec<Record>) {
        let mut errors = ErrorSink::new(self.name(), self.config.limits.max_errors_per_scan, out);
        let pids = match list_pids(&self.config.proc_root) {
            Ok(pids) => pids,
            Err(e) => {
                errors.report(
                    Some(&self.config.proc_root),
                    std::format!("cannot list processes: {e}"),
                );
                return;
            }
        };
        let users = match read_text_bounded(&self.config.passwd, self.config.limits.max_file_bytes)
        {
            Ok(text) => parse_passwd(&text),
            Err(e) if e.is_not_found() => HashMap::new(),
            Err(e) => {
                errors.report(Some(&self.config.passwd), &e);
                HashMap::new()
            }
        };
        if pids.len() > self.config.max_processes {
            errors.report(
                Some(&self.config.proc_root),
                std::format!(
                    "{} processes running, only the first {} were scanned; raise ProcessConfig::max_processes",
                    pids.len(),
                    self.config.max_processes
                ),
            );
        }
        let report = self.scanned || self.config.report_existing;
        let mut current = HashMap::with_capacity(pids.len());
        // Processes that still exist but were not read (over the cap, or a
        // read error) keep their previous state instead of looking exited.
        let mut unread: Vec<u32> = pids
            .iter()
            .skip(self.config.max_processes)
            .copied()
            .collect();
        for pid in pids.into_iter().take(self.config.max_processes) {
            let snapshot = match read_process(&self.config.proc_root, pid) {
                Ok(snapshot) => snapshot,
                Err(e) if e.is_gone() => continue,
                Err(e) => {
                    errors.report(Some(&self.config.proc_root.join(pid.to_string())), &e);
                    unread.push(pid);
                    continue;
                }
            };
            let same = self
                .known
                .get(&pid)
                .is_some_and(|k| k.start_ticks == snapshot.stat.start_ticks);
            if !same && report {
                let command_line = if self.config.redact_secrets {
                    let mut arguments = snapshot.arguments;
                    redact_arguments(&mut arguments);
                    arguments.join(" ")
                } else {
                    snapshot.command_line
                };
                errors.records().push(Record::ProcessStarted(ProcessStart {
                    pid,
                    parent_pid: snapshot.stat.parent_pid,
                    uid: snapshot.uid,
                    user: users.get(&snapshot.uid).cloned(),
                    executable: snapshot.executable.clone(),
                    command_line,
                }));
            }
            current.insert(
                pid,
                Known {
                    start_ticks: snapshot.stat.start_ticks,
                    executable: snapshot.executable,
                },
            );
        }
        for pid in unread {
            if let Some(known) = self.known.remove(&pid) {
                current.insert(pid, known);
            }
        }
        let mut exited: Vec<(u32, String)> = Vec::new();
        for (pid, known) in self.known.drain() {
            let replaced = current
                .get(&pid)
                .is_some_and(|k| k.start_ticks != known.start_ticks);
            if replaced || !current.contains_key(&pid) {
                exited.push((pid, known.executable));
            }
        }
        exited.sort_unstable();
        for (pid, executable) in exited {
            errors
                .records()
                .push(Record::ProcessExited(ProcessExit { pid, executable }));
        }
        self.known = current;
        self.scanned = true;
    }
}
