//! Owned records that collectors produce, and their view as schema events.

use std::net::{IpAddr, SocketAddr};
use std::prelude::rust_2024::*;

use palisade_schema::{
    BaselineCheck, CheckResult, CollectionError, Direction, Event, EventBody, EventKind,
    FileIntegrityChanged, Header, ListeningPort, Login, LoginAction, LoginMethod,
    NetworkConnection, NetworkInterface, ProcessExited, ProcessStarted, Protocol, Severity,
    SoftwareComponent, StartKind, Str, SystemInfo, limits,
};

/// A process found running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessStart {
    /// Process id.
    pub pid: u32,
    /// Parent process id (0 for the kernel's own tasks).
    pub parent_pid: u32,
    /// Real user id.
    pub uid: u32,
    /// User name for `uid` from the passwd file, when it is listed there.
    pub user: Option<String>,
    /// Executable path, or the first argument or `[comm]` when
    /// `/proc/<pid>/exe` cannot be read.
    pub executable: String,
    /// Command line with the arguments separated by single spaces, so
    /// argument boundaries are lost; secret-looking option values are
    /// replaced with `***` unless [`ProcessConfig::redact_secrets`] is off.
    ///
    /// [`ProcessConfig::redact_secrets`]: super::ProcessConfig::redact_secrets
    pub command_line: String,
}

/// A process that was running at the previous scan and is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessExit {
    /// Process id.
    pub pid: u32,
    /// Executable as reported when the process was found.
    pub executable: String,
}

/// A network connection (TCP established, or connected UDP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// Inbound when the local port is a listening port, otherwise outbound.
    pub direction: Direction,
    /// The device's end; an IPv4-mapped IPv6 address is shown as IPv4.
    pub local: SocketAddr,
    /// The other end.
    pub remote: SocketAddr,
    /// Owning process, when its file descriptors could be read.
    pub pid: Option<u32>,
    /// Owning process's executable, when it could be read.
    pub executable: Option<String>,
}

/// A listening socket: TCP in `LISTEN` state, or UDP bound and unconnected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The bound address; unspecified means all interfaces.
    pub local: SocketAddr,
    /// Owning process, when its file descriptors could be read.
    pub pid: Option<u32>,
    /// Owning process's executable, when it could be read.
    pub executable: Option<String>,
}

/// A login, logout or failed login, from utmp records or an auth log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginEntry {
    /// What happened.
    pub action: LoginAction,
    /// User name as given; it may not exist.
    pub user: String,
    /// Authentication method.
    pub method: LoginMethod,
    /// Terminal or service, such as `pts/0` or `ssh`.
    pub terminal: Option<String>,
    /// Remote address, for a network login.
    pub source: Option<IpAddr>,
    /// When it happened, in milliseconds since the Unix epoch, as the
    /// source recorded it.
    pub time_unix_ms: Option<u64>,
}

/// A watched file was created, changed or deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Path of the file.
    pub path: String,
    /// SHA-256 before; `None` when the file is new.
    pub old_sha256: Option<[u8; 32]>,
    /// SHA-256 after; `None` when the file was deleted.
    pub new_sha256: Option<[u8; 32]>,
}

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Interface name, such as `eth0`.
    pub name: String,
    /// Hardware address, absent for interfaces without one (or all zeros).
    pub mac: Option<[u8; 6]>,
    /// Local addresses, IPv4 first.
    pub addresses: Vec<IpAddr>,
}

/// The device's identity and network interfaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemDescription {
    /// Device maker, or `unknown`.
    pub vendor: String,
    /// Device model, or `unknown`.
    pub model: String,
    /// Host name.
    pub hostname: String,
    /// Operating system name (`NAME` in os-release).
    pub os_name: String,
    /// Operating system version (`VERSION_ID`, else `VERSION`).
    pub os_version: String,
    /// CPU architecture, such as `x86_64`.
    pub architecture: String,
    /// The device maker's firmware version, from the configuration.
    pub firmware_version: String,
    /// Network interfaces, non-loopback first.
    pub interfaces: Vec<Interface>,
}

impl SystemDescription {
    /// Counts the interfaces and addresses that [`Record::to_event`] leaves
    /// out, because the event contains at most [`limits::INTERFACES`] interfaces of
    /// [`limits::ADDRESSES_PER_INTERFACE`] addresses each.
    pub fn omitted_in_event(&self) -> (usize, usize) {
        let interfaces = self.interfaces.len().saturating_sub(limits::INTERFACES);
        let addresses = self
            .interfaces
            .iter()
            .take(limits::INTERFACES)
            .map(|i| {
                i.addresses
                    .len()
                    .saturating_sub(limits::ADDRESSES_PER_INTERFACE)
            })
            .sum();
        (interfaces, addresses)
    }
}

/// The result of one baseline check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineResult {
    /// Stable check id, such as `palisade.ssh.permit_root_login`.
    pub check_id: String,
    /// Pass, fail or error.
    pub result: CheckResult,
    /// Severity of a failure of this check.
    pub severity: Severity,
    /// The finding, or the reason the check could not be evaluated.
    pub description: String,
    /// How to fix a failure.
    pub remediation: String,
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// Package name.
    pub name: String,
    /// Version exactly as the package manager writes it (epoch and tilde included).
    pub version: String,
    /// Architecture, such as `amd64` or `all`.
    pub architecture: Option<String>,
    /// Supplier: the maintainer's name without the e-mail address.
    pub supplier: Option<String>,
    /// Package URL.
    pub purl: String,
}

/// A collector could not read or parse a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionFailure {
    /// The collector, such as `processes` or `software`.
    pub collector: &'static str,
    /// The file or command that failed, if any.
    pub path: Option<String>,
    /// What failed.
    pub reason: String,
}

/// One thing a collector found, owned, ready to be viewed as an [`Event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Record {
    /// A process was found (first scan) or started.
    ProcessStarted(ProcessStart),
    /// A process exited.
    ProcessExited(ProcessExit),
    /// A new connection was seen.
    NetworkConnection(Connection),
    /// A listening socket appeared.
    ListeningPortOpened(Listener),
    /// A listening socket disappeared.
    ListeningPortClosed(Listener),
    /// A login, logout or failed login.
    Login(LoginEntry),
    /// A watched file changed.
    FileIntegrityChanged(FileChange),
    /// A system information snapshot.
    SystemInfo(SystemDescription),
    /// A baseline check result.
    BaselineCheck(BaselineResult),
    /// An installed package.
    SoftwareComponent(Package),
    /// A source could not be read or parsed.
    CollectionError(CollectionFailure),
}

impl Record {
    /// Returns the event kind this record becomes.
    pub fn kind(&self) -> EventKind {
        match self {
            Self::ProcessStarted(_) => EventKind::ProcessStarted,
            Self::ProcessExited(_) => EventKind::ProcessExited,
            Self::NetworkConnection(_) => EventKind::NetworkConnection,
            Self::ListeningPortOpened(_) => EventKind::ListeningPortOpened,
            Self::ListeningPortClosed(_) => EventKind::ListeningPortClosed,
            Self::Login(_) => EventKind::Login,
            Self::FileIntegrityChanged(_) => EventKind::FileIntegrityChanged,
            Self::SystemInfo(_) => EventKind::SystemInfo,
            Self::BaselineCheck(_) => EventKind::BaselineCheck,
            Self::SoftwareComponent(_) => EventKind::SoftwareComponent,
            Self::CollectionError(_) => EventKind::CollectionError,
        }
    }

    /// Returns the severity to put in the event header.
    ///
    /// Failed logins are low, logins with an unknown user and file changes
    /// are medium, a failed baseline check takes the check's severity, and
    /// everything else is informational.
    pub fn severity(&self) -> Severity {
        match self {
            Self::Login(entry) => match entry.action {
                LoginAction::Failed => Severity::Low,
                LoginAction::InvalidUser => Severity::Medium,
                LoginAction::Login | LoginAction::Logout => Severity::Info,
            },
            Self::ListeningPortOpened(_) => Severity::Low,
            Self::FileIntegrityChanged(_) => Severity::Medium,
            Self::BaselineCheck(check) => match check.result {
                CheckResult::Pass => Severity::Info,
                CheckResult::Fail => check.severity,
                CheckResult::Error => Severity::Low,
            },
            Self::CollectionError(_) => Severity::Low,
            _ => Severity::Info,
        }
    }

    /// Returns the time the source recorded for the event, in milliseconds
    /// since the Unix epoch, or `None` when the source has no time of its own.
    pub fn source_time_unix_ms(&self) -> Option<u64> {
        match self {
            Self::Login(entry) => entry.time_unix_ms,
            _ => None,
        }
    }

    /// Views the record as an event with `header`, borrowing its strings.
    ///
    /// Text longer than a schema field's limit is cut at a character
    /// boundary ([`Str::truncated`]); a system information snapshot keeps
    /// its first [`limits::INTERFACES`] interfaces
    /// ([`SystemDescription::omitted_in_event`] counts the rest).
    pub fn to_event(&self, header: Header) -> Event<'_> {
        Event {
            header,
            body: self.body(),
        }
    }

    /// Views the record as an event body, borrowing its strings, with the
    /// same truncation as [`Record::to_event`].
    pub fn body(&self) -> EventBody<'_> {
        match self {
            Self::ProcessStarted(p) => EventBody::ProcessStarted(ProcessStarted {
                pid: p.pid,
                parent_pid: p.parent_pid,
                uid: p.uid,
                user: p.user.as_deref().map(Str::truncated),
                executable: Str::truncated(&p.executable),
                command_line: Str::truncated(&p.command_line),
                start_kind: StartKind::Unknown,
            }),
            Self::ProcessExited(p) => EventBody::ProcessExited(ProcessExited {
                pid: p.pid,
                executable: Str::truncated(&p.executable),
                exit_code: None,
            }),
            Self::NetworkConnection(c) => EventBody::NetworkConnection(NetworkConnection {
                protocol: c.protocol,
                direction: c.direction,
                local: c.local.into(),
                remote: c.remote.into(),
                pid: c.pid,
                executable: c.executable.as_deref().map(Str::truncated),
                bytes_in: 0,
                bytes_out: 0,
            }),
            Self::ListeningPortOpened(l) => EventBody::ListeningPortOpened(listening_port(l)),
            Self::ListeningPortClosed(l) => EventBody::ListeningPortClosed(listening_port(l)),
            Self::Login(l) => EventBody::Login(Login {
                action: l.action,
                user: Str::truncated(&l.user),
                method: l.method,
                terminal: l.terminal.as_deref().map(Str::truncated),
                source: l.source.map(Into::into),
            }),
            Self::FileIntegrityChanged(f) => {
                EventBody::FileIntegrityChanged(FileIntegrityChanged {
                    path: Str::truncated(&f.path),
                    old_sha256: f.old_sha256,
                    new_sha256: f.new_sha256,
                })
            }
            Self::SystemInfo(s) => EventBody::SystemInfo(system_info(s)),
            Self::BaselineCheck(b) => EventBody::BaselineCheck(BaselineCheck {
                check_id: Str::truncated(&b.check_id),
                result: b.result,
                severity: b.severity,
                description: Str::truncated(&b.description),
                remediation: Str::truncated(&b.remediation),
            }),
            Self::SoftwareComponent(p) => EventBody::SoftwareComponent(SoftwareComponent {
                name: Str::truncated(&p.name),
                version: Str::truncated(&p.version),
                supplier: p.supplier.as_deref().map(Str::truncated),
                purl: Some(Str::truncated(&p.purl)),
                cpe: None,
                sha256: None,
            }),
            Self::CollectionError(c) => EventBody::CollectionError(CollectionError {
                collector: Str::truncated(c.collector),
                path: c.path.as_deref().map(Str::truncated),
                reason: Str::truncated(&c.reason),
            }),
        }
    }
}

fn listening_port(l: &Listener) -> ListeningPort<'_> {
    ListeningPort {
        protocol: l.protocol,
        local: l.local.into(),
        pid: l.pid,
        executable: l.executable.as_deref().map(Str::truncated),
    }
}

fn system_info(s: &SystemDescription) -> SystemInfo<'_> {
    let mut interfaces = heapless::Vec::new();
    for interface in &s.interfaces {
        let mut addresses = heapless::Vec::new();
        for address in &interface.addresses {
            if addresses.push((*address).into()).is_err() {
                break;
            }
        }
        let entry = NetworkInterface {
            name: Str::truncated(&interface.name),
            mac: interface.mac,
            addresses,
        };
        if interfaces.push(entry).is_err() {
            break;
        }
    }
    SystemInfo {
        vendor: Str::truncated(&s.vendor),
        model: Str::truncated(&s.model),
        hostname: Str::truncated(&s.hostname),
        os_name: Str::truncated(&s.os_name),
        os_version: Str::truncated(&s.os_version),
        architecture: Str::truncated(&s.architecture),
        firmware_version: Str::truncated(&s.firmware_version),
        interfaces,
    }
}
