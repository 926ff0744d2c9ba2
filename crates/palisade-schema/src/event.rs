//! Events: a [`Header`] and one of the [`EventBody`] kinds.

use serde::{Deserialize, Serialize};

use crate::bounded::{Bytes, Str};
use crate::header::{Header, Severity};
use crate::limits;
use crate::types::{DeviceId, IpAddress, KeyId, MacAddress, Sha256, SocketAddress};

/// One event as a device or a gateway reports it.
///
/// Text and byte fields borrow from the buffer the event was decoded from,
/// so decoding copies nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Event<'a> {
    /// Sequence, time, severity and aggregation.
    pub header: Header,
    /// What happened.
    #[serde(borrow)]
    pub body: EventBody<'a>,
}

impl Event<'_> {
    /// The kind of the body.
    pub fn kind(&self) -> EventKind {
        self.body.kind()
    }

    /// The routing class of the body.
    pub fn class(&self) -> EventClass {
        self.body.kind().class()
    }
}

/// Where an event is routed: security and operational events go to security
/// sinks (a SIEM), telemetry only to the business sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EventClass {
    /// Something a security analyst needs to see.
    Security,
    /// The health of the security machinery itself (drops, errors, acks).
    Operational,
    /// Ordinary application data; must never reach a security sink.
    Telemetry,
}

impl EventClass {
    /// Lowercase name: `security`, `operational` or `telemetry`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Security => "security",
            Self::Operational => "operational",
            Self::Telemetry => "telemetry",
        }
    }
}

/// Declares the event kinds once, so that the body enum, the kind enum, the
/// tag numbers, the names and the classes cannot drift apart.
macro_rules! event_kinds {
    ($(
        $(#[$doc:meta])*
        $tag:literal $variant:ident($payload:ty) $([$borrow:ident])? => $name:literal, $class:ident;
    )*) => {
        /// What happened: one variant per event kind.
        ///
        /// The variant order is the wire tag and never changes: new kinds
        /// are appended. An unknown tag decodes to
        /// [`DecodeError::UnknownVariant`](crate::DecodeError::UnknownVariant)
        /// naming `EventBody` and the tag.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        #[non_exhaustive]
        #[allow(
            clippy::large_enum_variant,
            reason = "no heap to box into: SystemInfo's fixed-capacity interface list makes it the largest variant"
        )]
        pub enum EventBody<'a> {
            $(
                $(#[$doc])*
                $variant($(#[serde($borrow)])? $payload),
            )*
        }

        /// The kind of an event without its data, numbered by wire tag.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        #[non_exhaustive]
        #[repr(u8)]
        pub enum EventKind {
            $(
                $(#[$doc])*
                $variant = $tag,
            )*
        }

        impl EventBody<'_> {
            /// The kind of this body.
            pub const fn kind(&self) -> EventKind {
                match self {
                    $(Self::$variant(_) => EventKind::$variant,)*
                }
            }
        }

        impl EventKind {
            /// Every kind, in tag order.
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant,)*];

            /// The wire tag of this kind.
            pub const fn tag(self) -> u8 {
                self as u8
            }

            /// The kind with wire tag `tag`, if this schema version knows it.
            pub const fn from_tag(tag: u8) -> Option<Self> {
                match tag {
                    $($tag => Some(Self::$variant),)*
                    _ => None,
                }
            }

            /// The snake_case name, for example `process_started`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// The kind named `name` (snake_case), if any.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(Self::$variant),)*
                    _ => None,
                }
            }

            /// Where events of this kind are routed.
            pub const fn class(self) -> EventClass {
                match self {
                    $(Self::$variant => EventClass::$class,)*
                }
            }
        }
    };
}

event_kinds! {
    /// A process started.
    0 ProcessStarted(ProcessStarted<'a>) [borrow] => "process_started", Security;
    /// A process exited.
    1 ProcessExited(ProcessExited<'a>) [borrow] => "process_exited", Security;
    /// A network connection was seen.
    2 NetworkConnection(NetworkConnection<'a>) [borrow] => "network_connection", Security;
    /// A socket started listening.
    3 ListeningPortOpened(ListeningPort<'a>) [borrow] => "listening_port_opened", Security;
    /// A listening socket closed.
    4 ListeningPortClosed(ListeningPort<'a>) [borrow] => "listening_port_closed", Security;
    /// A login, logout or failed login.
    5 Login(Login<'a>) [borrow] => "login", Security;
    /// A peripheral was attached.
    6 PeripheralAttached(Peripheral<'a>) [borrow] => "peripheral_attached", Security;
    /// A peripheral was detached.
    7 PeripheralDetached(Peripheral<'a>) [borrow] => "peripheral_detached", Security;
    /// A watched file was created, changed or deleted.
    8 FileIntegrityChanged(FileIntegrityChanged<'a>) [borrow] => "file_integrity_changed", Security;
    /// A snapshot of the device's identity and network interfaces.
    9 SystemInfo(SystemInfo<'a>) [borrow] => "system_info", Security;
    /// The agent is alive; carries its counters.
    10 Heartbeat(Heartbeat) => "heartbeat", Operational;
    /// The result of one baseline (hardening) check.
    11 BaselineCheck(BaselineCheck<'a>) [borrow] => "baseline_check", Security;
    /// One installed software component, for the SBOM.
    12 SoftwareComponent(SoftwareComponent<'a>) [borrow] => "software_component", Security;
    /// A device that the gateway does not know tried to connect.
    13 UnknownDevice(UnknownDevice) => "unknown_device", Security;
    /// A provisioning credential was rejected.
    14 CredentialRejected(CredentialRejected) => "credential_rejected", Security;
    /// A command was rejected as unauthorized.
    15 CommandRejected(CommandRejected) => "command_rejected", Security;
    /// A remote access session started.
    16 RemoteSessionStarted(RemoteSession<'a>) [borrow] => "remote_session_started", Security;
    /// A remote access session ended.
    17 RemoteSessionEnded(RemoteSession<'a>) [borrow] => "remote_session_ended", Security;
    /// Bytes and messages moved in one window.
    18 DataRateSample(DataRateSample) => "data_rate_sample", Security;
    /// Sequence numbers or event kinds arrived in an order that should not happen.
    19 SequenceAnomaly(SequenceAnomaly) => "sequence_anomaly", Security;
    /// Events were lost; says how many and why.
    20 EventsDropped(EventsDropped) => "events_dropped", Operational;
    /// A configuration value was invalid.
    21 ConfigurationError(ConfigurationError<'a>) [borrow] => "configuration_error", Operational;
    /// A collector could not read or parse its source.
    22 CollectionError(CollectionError<'a>) [borrow] => "collection_error", Operational;
    /// A peer broke the link protocol.
    23 ProtocolViolation(ProtocolViolation) => "protocol_violation", Security;
    /// A device's answer to a command.
    24 CommandAcknowledged(CommandAcknowledged<'a>) [borrow] => "command_acknowledged", Operational;
    /// Ordinary application data.
    25 Telemetry(Telemetry<'a>) [borrow] => "telemetry", Telemetry;
}

/// How a process came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StartKind {
    /// A copy of its parent (`fork`, `clone`).
    Fork,
    /// A new program image (`execve`).
    Exec,
    /// Not known, for example when found by a `/proc` scan.
    Unknown,
}

/// A process started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ProcessStarted<'a> {
    /// Process id.
    pub pid: u32,
    /// Parent process id.
    pub parent_pid: u32,
    /// Real user id.
    pub uid: u32,
    /// User name for `uid`, when it could be resolved.
    #[serde(borrow)]
    pub user: Option<Str<'a, { limits::NAME }>>,
    /// Path of the executable.
    #[serde(borrow)]
    pub executable: Str<'a, { limits::PATH }>,
    /// Command line, arguments separated by single spaces.
    #[serde(borrow)]
    pub command_line: Str<'a, { limits::COMMAND_LINE }>,
    /// Fork, exec or unknown.
    pub start_kind: StartKind,
}

/// A process exited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ProcessExited<'a> {
    /// Process id.
    pub pid: u32,
    /// Path of the executable.
    #[serde(borrow)]
    pub executable: Str<'a, { limits::PATH }>,
    /// Exit status, when known.
    pub exit_code: Option<i32>,
}

/// Transport protocol of a connection or a listening socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// Lowercase name: `tcp` or `udp`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }
}

/// Which side opened a connection, or which way data flowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Direction {
    /// Towards the device.
    Inbound,
    /// Away from the device.
    Outbound,
    /// Not known.
    Unknown,
}

/// A network connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NetworkConnection<'a> {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// Who opened it.
    pub direction: Direction,
    /// The device's end.
    pub local: SocketAddress,
    /// The other end.
    pub remote: SocketAddress,
    /// Owning process, when it could be found.
    pub pid: Option<u32>,
    /// Owning process's executable, when it could be found.
    #[serde(borrow)]
    pub executable: Option<Str<'a, { limits::PATH }>>,
    /// Bytes received, when counted.
    pub bytes_in: u64,
    /// Bytes sent, when counted.
    pub bytes_out: u64,
}

/// A listening socket (opened or closed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ListeningPort<'a> {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The bound address; an unspecified address means all interfaces.
    pub local: SocketAddress,
    /// Owning process, when it could be found.
    pub pid: Option<u32>,
    /// Owning process's executable, when it could be found.
    #[serde(borrow)]
    pub executable: Option<Str<'a, { limits::PATH }>>,
}

/// What a login event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LoginAction {
    /// A user logged in.
    Login,
    /// A user logged out.
    Logout,
    /// A login failed for an existing user (wrong password or key).
    Failed,
    /// A login failed because the user does not exist.
    InvalidUser,
}

/// How a user authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LoginMethod {
    /// A password (including keyboard-interactive).
    Password,
    /// A public key or certificate.
    PublicKey,
    /// A local console or service login.
    Local,
    /// Another method.
    Other,
    /// Not known from the source.
    Unknown,
}

/// A login, logout or failed login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Login<'a> {
    /// What happened.
    pub action: LoginAction,
    /// The user name as given (it may not exist).
    #[serde(borrow)]
    pub user: Str<'a, { limits::NAME }>,
    /// How the user authenticated.
    pub method: LoginMethod,
    /// Terminal or service, such as `pts/0` or `ssh`.
    #[serde(borrow)]
    pub terminal: Option<Str<'a, { limits::NAME }>>,
    /// Remote address, for a network login.
    pub source: Option<IpAddress>,
}

/// Bus a peripheral is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Bus {
    /// USB; the class is the USB device or interface class.
    Usb,
    /// PCI or PCI Express; the class is the PCI base class.
    Pci,
    /// Bluetooth.
    Bluetooth,
    /// A serial port.
    Serial,
    /// Another bus.
    Other,
}

/// A peripheral (attached or detached).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Peripheral<'a> {
    /// The bus.
    pub bus: Bus,
    /// Vendor id on that bus.
    pub vendor_id: u16,
    /// Product id on that bus.
    pub product_id: u16,
    /// Device class on that bus.
    pub class: u8,
    /// Product name, when the device reports one.
    #[serde(borrow)]
    pub name: Option<Str<'a, { limits::NAME }>>,
}

/// A watched file was created, changed or deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FileIntegrityChanged<'a> {
    /// Path of the file.
    #[serde(borrow)]
    pub path: Str<'a, { limits::PATH }>,
    /// SHA-256 before the change; `None` when the file is new.
    pub old_sha256: Option<Sha256>,
    /// SHA-256 after the change; `None` when the file was deleted.
    pub new_sha256: Option<Sha256>,
}

/// One network interface of a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NetworkInterface<'a> {
    /// Interface name, such as `eth0`.
    #[serde(borrow)]
    pub name: Str<'a, { limits::NAME }>,
    /// Hardware address, when the interface has one.
    pub mac: Option<MacAddress>,
    /// Assigned addresses, at most [`limits::ADDRESSES_PER_INTERFACE`].
    pub addresses: heapless::Vec<IpAddress, { limits::ADDRESSES_PER_INTERFACE }>,
}

/// A snapshot of the device's identity, software and network interfaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SystemInfo<'a> {
    /// Device maker.
    #[serde(borrow)]
    pub vendor: Str<'a, { limits::NAME }>,
    /// Device model.
    #[serde(borrow)]
    pub model: Str<'a, { limits::NAME }>,
    /// Host name.
    #[serde(borrow)]
    pub hostname: Str<'a, { limits::NAME }>,
    /// Operating system name, such as `Debian GNU/Linux` or `Zephyr`.
    #[serde(borrow)]
    pub os_name: Str<'a, { limits::NAME }>,
    /// Operating system version.
    #[serde(borrow)]
    pub os_version: Str<'a, { limits::NAME }>,
    /// CPU architecture, such as `x86_64` or `thumbv7em`.
    #[serde(borrow)]
    pub architecture: Str<'a, { limits::NAME }>,
    /// The device maker's firmware version.
    #[serde(borrow)]
    pub firmware_version: Str<'a, { limits::NAME }>,
    /// Network interfaces, at most [`limits::INTERFACES`].
    #[serde(borrow)]
    pub interfaces: heapless::Vec<NetworkInterface<'a>, { limits::INTERFACES }>,
}

/// The agent is alive; carries its running counters since boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Heartbeat {
    /// Events waiting in the store-and-forward queue.
    pub queued: u32,
    /// Events acknowledged by the gateway.
    pub sent: u64,
    /// Events lost (each loss is also reported by an events-dropped event).
    pub dropped: u64,
    /// Frames sent again after a timeout or a reconnect.
    pub retried: u64,
}

/// Outcome of a baseline check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CheckResult {
    /// The device meets the check.
    Pass,
    /// The device fails the check.
    Fail,
    /// The check could not be evaluated.
    Error,
}

/// The result of one baseline (hardening) check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BaselineCheck<'a> {
    /// Check id, such as a CIS benchmark id (`5.2.10`) or a Palisade id.
    #[serde(borrow)]
    pub check_id: Str<'a, { limits::IDENTIFIER }>,
    /// Pass, fail or error.
    pub result: CheckResult,
    /// How serious a failure of this check is.
    pub severity: Severity,
    /// What the check verifies, or the error when `result` is `Error`.
    #[serde(borrow)]
    pub description: Str<'a, { limits::TEXT }>,
    /// How to fix a failure.
    #[serde(borrow)]
    pub remediation: Str<'a, { limits::TEXT }>,
}

/// One installed software component, for the device's SBOM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SoftwareComponent<'a> {
    /// Package or component name.
    #[serde(borrow)]
    pub name: Str<'a, { limits::COMPONENT_NAME }>,
    /// Version as the package manager writes it.
    #[serde(borrow)]
    pub version: Str<'a, { limits::NAME }>,
    /// Supplier or maintainer.
    #[serde(borrow)]
    pub supplier: Option<Str<'a, { limits::NAME }>>,
    /// Package URL (`pkg:deb/debian/openssl@3.0.11-1`).
    #[serde(borrow)]
    pub purl: Option<Str<'a, { limits::URI }>>,
    /// CPE 2.3 name.
    #[serde(borrow)]
    pub cpe: Option<Str<'a, { limits::URI }>>,
    /// SHA-256 of the component's main file or archive.
    pub sha256: Option<Sha256>,
}

/// A device that the gateway does not know tried to connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UnknownDevice {
    /// Where the connection came from.
    pub peer: SocketAddress,
    /// The device id it claimed, if it got that far.
    pub claimed_device_id: Option<DeviceId>,
}

/// Why a provisioning credential was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CredentialRejectReason {
    /// A signature in the chain did not verify.
    BadSignature,
    /// The credential or one of its issuers has expired.
    Expired,
    /// The credential or one of its issuers is not valid yet.
    NotYetValid,
    /// The credential's serial or its issuer is on the revocation list.
    Revoked,
    /// The chain does not lead to a pinned root.
    UnknownIssuer,
    /// The device could not prove that it holds the credential's key.
    ProofOfPossessionFailed,
    /// The credential could not be decoded.
    Malformed,
    /// The credential's kind or key usage does not allow this use, or it
    /// lies outside its issuer's limits.
    NotPermitted,
    /// The same public key appeared under another device id (a cloned device).
    ClonedKey,
    /// The revocation list is past its next update and policy refuses new admissions.
    RevocationListStale,
}

/// A provisioning credential was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CredentialRejected {
    /// Where the credential came from, when it came over a network.
    pub peer: Option<SocketAddress>,
    /// The device id in the credential, when it could be read.
    pub device_id: Option<DeviceId>,
    /// The credential's serial, when it could be read.
    pub serial: Option<u64>,
    /// Why it was rejected.
    pub reason: CredentialRejectReason,
    /// The credential library's finer reason code, for diagnosis.
    pub detail_code: u8,
}

/// A command that a gateway sends to a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CommandAction {
    /// Cut the device off the network except for its gateway link.
    IsolateNetwork,
    /// Undo an isolation.
    ReleaseIsolation,
    /// Shut down gracefully, when clinically safe.
    GracefulShutdown,
    /// Generate a new key and request a new credential.
    RotateCredential,
    /// Install a newer revocation list.
    InstallRevocationList,
    /// Report system information, SBOM and baseline now.
    RequestInventory,
    /// A device maker's own action, by number.
    Custom(u16),
}

/// Why a command was rejected as unauthorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CommandRejectReason {
    /// The signature did not verify.
    BadSignature,
    /// The signer's credential does not chain to a pinned root.
    UnknownSigner,
    /// The command's counter was not above the last accepted one.
    Replayed,
    /// The signer's credential does not allow signing commands.
    NotPermitted,
    /// The command is past its not-after time.
    Expired,
    /// The command names another device.
    WrongTarget,
    /// The command could not be decoded.
    Malformed,
}

/// A command was rejected as unauthorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CommandRejected {
    /// The command's id, when it could be read.
    pub command_id: Option<u64>,
    /// The requested action, when it could be read.
    pub action: Option<CommandAction>,
    /// The key id of the signer, when it could be read.
    pub signer_key_id: Option<KeyId>,
    /// Why it was rejected.
    pub reason: CommandRejectReason,
}

/// A remote access session (started, or ended with its duration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RemoteSession<'a> {
    /// Session id, unique on the device.
    #[serde(borrow)]
    pub session_id: Str<'a, { limits::IDENTIFIER }>,
    /// Who logged in.
    #[serde(borrow)]
    pub user: Str<'a, { limits::NAME }>,
    /// Where from.
    pub source: Option<SocketAddress>,
    /// Protocol or tool, such as `ssh` or `vnc`.
    #[serde(borrow)]
    pub protocol: Str<'a, { limits::NAME }>,
    /// Length of the session in milliseconds; 0 when it started.
    pub duration_ms: u64,
}

/// Bytes and messages moved in one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DataRateSample {
    /// Which way the data went.
    pub direction: Direction,
    /// Length of the window in milliseconds.
    pub window_ms: u32,
    /// Bytes moved in the window.
    pub bytes: u64,
    /// Messages moved in the window.
    pub messages: u64,
}

/// What kind of sequence anomaly was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SequenceAnomalyKind {
    /// Sequence numbers were skipped.
    Gap,
    /// A sequence number went back within the same boot.
    Regression,
    /// A (boot, sequence) pair arrived again.
    Replay,
    /// Two event kinds followed each other in an order never seen while
    /// learning for that device model.
    UnseenTransition,
}

/// Sequence numbers or event kinds arrived in an order that should not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SequenceAnomaly {
    /// Which anomaly.
    pub kind: SequenceAnomalyKind,
    /// The boot counter of the events concerned.
    pub boot: u32,
    /// The sequence number expected next.
    pub expected: u64,
    /// The sequence number that arrived.
    pub observed: u64,
    /// For `UnseenTransition`: the previous and the new event kind.
    pub transition: Option<(EventKind, EventKind)>,
}

/// Why events were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DropReason {
    /// The store-and-forward queue was full.
    QueueFull,
    /// The aggregator had no free slot.
    AggregationOverflow,
    /// An event could not be encoded (too large for any frame).
    EncodingFailure,
    /// Persistent storage failed to write.
    StorageFailure,
}

/// Events were lost; says how many and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EventsDropped {
    /// How many events were lost.
    pub count: u64,
    /// Why.
    pub reason: DropReason,
}

/// A configuration value was invalid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConfigurationError<'a> {
    /// The component whose configuration failed.
    #[serde(borrow)]
    pub component: Str<'a, { limits::NAME }>,
    /// The key or setting that was invalid.
    #[serde(borrow)]
    pub key: Str<'a, { limits::NAME }>,
    /// What is wrong with it.
    #[serde(borrow)]
    pub reason: Str<'a, { limits::TEXT }>,
}

/// A collector could not read or parse its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CollectionError<'a> {
    /// The collector, such as `processes` or `dpkg`.
    #[serde(borrow)]
    pub collector: Str<'a, { limits::NAME }>,
    /// The file or source that failed, if any.
    #[serde(borrow)]
    pub path: Option<Str<'a, { limits::PATH }>>,
    /// What failed.
    #[serde(borrow)]
    pub reason: Str<'a, { limits::TEXT }>,
}

/// How a peer broke the link protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ProtocolViolationReason {
    /// A frame declared a length above the maximum.
    OversizedFrame,
    /// A handshake step did not complete in time.
    StalledHandshake,
    /// Bytes that are not a frame arrived before the first frame.
    GarbageBeforeFrame,
    /// A record was malformed (bad length, bad checksum, bad encoding).
    MalformedRecord,
    /// A sealed record failed to open (wrong key or altered bytes).
    UnopenableRecord,
    /// A record number was replayed.
    ReplayedRecord,
    /// The peer stopped reading or acknowledging.
    Unresponsive,
}

/// A peer broke the link protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ProtocolViolation {
    /// The peer's address, when the link has one.
    pub peer: Option<SocketAddress>,
    /// The peer's device id, when the handshake got that far.
    pub device_id: Option<DeviceId>,
    /// What it did.
    pub reason: ProtocolViolationReason,
}

/// What a device did with a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CommandOutcome {
    /// Carried out.
    Executed,
    /// Not safe now; the device retries until the command expires.
    Deferred,
    /// Refused for good.
    Rejected,
}

/// A device's answer to a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CommandAcknowledged<'a> {
    /// The command's id.
    pub command_id: u64,
    /// What the device did.
    pub outcome: CommandOutcome,
    /// Why, for a deferred or rejected command.
    #[serde(borrow)]
    pub reason: Option<Str<'a, { limits::TEXT }>>,
}

/// Ordinary application data, which never reaches a security sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Telemetry<'a> {
    /// Application-defined channel.
    pub channel: u16,
    /// The payload, opaque to Palisade.
    #[serde(borrow)]
    pub data: Bytes<'a, { limits::TELEMETRY }>,
}
