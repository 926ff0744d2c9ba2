//! Realistic example events, one of each kind.
//!
//! The golden byte vectors of this crate and the benchmarks of the layers
//! above are built from these, so that every layer measures and pins the
//! same event set.

use crate::bounded::{Bytes, Str};
use crate::event::*;
use crate::header::{Header, HitCount, Severity, WallClock};
use crate::types::{DeviceId, IpAddress, KeyId, SocketAddress};

const LAN_DEVICE: IpAddress = IpAddress::V4([10, 20, 1, 17]);
const LAN_GATEWAY: IpAddress = IpAddress::V4([10, 20, 0, 1]);

fn text<const MAX: usize>(value: &'static str) -> Str<'static, MAX> {
    Str::truncated(value)
}

/// Returns the header of the `index`-th sample event: boot 4, a
/// synchronized clock, one hit.
pub fn header(index: u64, severity: Severity) -> Header {
    Header {
        sequence: 1_000 + index,
        boot: 4,
        uptime_ms: 3_600_000 + index * 250,
        wall_clock: Some(WallClock {
            unix_ms: 1_796_000_000_000 + index * 250,
            synchronized: true,
        }),
        severity,
        hit_count: HitCount::ONE,
        window_ms: 0,
    }
}

/// Returns the body of the sample event of `kind`.
pub fn body(kind: EventKind) -> EventBody<'static> {
    match kind {
        EventKind::ProcessStarted => EventBody::ProcessStarted(ProcessStarted {
            pid: 4211,
            parent_pid: 1,
            uid: 998,
            user: Some(text("infusion")),
            executable: text("/opt/pump/bin/dosing-service"),
            command_line: text("/opt/pump/bin/dosing-service --config /etc/pump/dosing.toml"),
            start_kind: StartKind::Exec,
        }),
        EventKind::ProcessExited => EventBody::ProcessExited(ProcessExited {
            pid: 4211,
            executable: text("/opt/pump/bin/dosing-service"),
            exit_code: Some(0),
        }),
        EventKind::NetworkConnection => EventBody::NetworkConnection(NetworkConnection {
            protocol: Protocol::Tcp,
            direction: Direction::Outbound,
            local: SocketAddress {
                ip: LAN_DEVICE,
                port: 51_234,
            },
            remote: SocketAddress {
                ip: LAN_GATEWAY,
                port: 7_443,
            },
            pid: Some(4211),
            executable: Some(text("/opt/pump/bin/dosing-service")),
            bytes_in: 18_432,
            bytes_out: 9_216,
        }),
        EventKind::ListeningPortOpened => EventBody::ListeningPortOpened(ListeningPort {
            protocol: Protocol::Tcp,
            local: SocketAddress {
                ip: IpAddress::V4([0, 0, 0, 0]),
                port: 22,
            },
            pid: Some(612),
            executable: Some(text("/usr/sbin/sshd")),
        }),
        EventKind::ListeningPortClosed => EventBody::ListeningPortClosed(ListeningPort {
            protocol: Protocol::Udp,
            local: SocketAddress {
                ip: IpAddress::V6([0; 16]),
                port: 5_353,
            },
            pid: None,
            executable: None,
        }),
        EventKind::Login => EventBody::Login(Login {
            action: LoginAction::Failed,
            user: text("service"),
            method: LoginMethod::Password,
            terminal: Some(text("ssh")),
            source: Some(IpAddress::V4([10, 20, 9, 44])),
        }),
        EventKind::PeripheralAttached => EventBody::PeripheralAttached(Peripheral {
            bus: Bus::Usb,
            vendor_id: 0x0781,
            product_id: 0x5581,
            class: 0x08,
            name: Some(text("Ultra USB 3.0")),
        }),
        EventKind::PeripheralDetached => EventBody::PeripheralDetached(Peripheral {
            bus: Bus::Usb,
            vendor_id: 0x0781,
            product_id: 0x5581,
            class: 0x08,
            name: None,
        }),
        EventKind::FileIntegrityChanged => EventBody::FileIntegrityChanged(FileIntegrityChanged {
            path: text("/etc/pump/dosing.toml"),
            old_sha256: Some([0x11; 32]),
            new_sha256: Some([0x22; 32]),
        }),
        EventKind::SystemInfo => {
            let mut addresses = heapless::Vec::new();
            // The capacity is 4 and the sample pushes 2, so neither push fails.
            let _ = addresses.push(LAN_DEVICE);
            let _ = addresses.push(IpAddress::V6([
                0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x1a, 0x2b, 0xff, 0xfe, 0x3c, 0x4d, 0x5e,
            ]));
            let mut interfaces = heapless::Vec::new();
            let _ = interfaces.push(NetworkInterface {
                name: text("eth0"),
                mac: Some([0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e]),
                addresses,
            });
            EventBody::SystemInfo(SystemInfo {
                vendor: text("Acme Medical"),
                model: text("IP-200"),
                hostname: text("pump-0017"),
                os_name: text("Yocto Linux"),
                os_version: text("4.0.18"),
                architecture: text("armv7l"),
                firmware_version: text("2.4.1"),
                interfaces,
            })
        }
        EventKind::Heartbeat => EventBody::Heartbeat(Heartbeat {
            queued: 3,
            sent: 120_455,
            dropped: 0,
            retried: 12,
        }),
        EventKind::BaselineCheck => EventBody::BaselineCheck(BaselineCheck {
            check_id: text("ssh.permit_root_login"),
            result: CheckResult::Fail,
            severity: Severity::High,
            description: text("sshd allows root to log in (PermitRootLogin yes)"),
            remediation: text("Set PermitRootLogin no in /etc/ssh/sshd_config and reload sshd"),
        }),
        EventKind::SoftwareComponent => EventBody::SoftwareComponent(SoftwareComponent {
            name: text("openssl"),
            version: text("3.0.11-1~deb12u2"),
            supplier: Some(text("Debian OpenSSL Team")),
            purl: Some(text("pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=armhf")),
            cpe: Some(text("cpe:2.3:a:openssl:openssl:3.0.11:*:*:*:*:*:*:*")),
            sha256: Some([0xab; 32]),
        }),
        EventKind::UnknownDevice => EventBody::UnknownDevice(UnknownDevice {
            peer: SocketAddress {
                ip: IpAddress::V4([10, 20, 7, 3]),
                port: 40_112,
            },
            claimed_device_id: Some(DeviceId([0x5a; 16])),
        }),
        EventKind::CredentialRejected => EventBody::CredentialRejected(CredentialRejected {
            peer: Some(SocketAddress {
                ip: IpAddress::V4([10, 20, 7, 4]),
                port: 40_113,
            }),
            device_id: Some(DeviceId([0x6b; 16])),
            serial: Some(90_210),
            reason: CredentialRejectReason::Expired,
            detail_code: 5,
        }),
        EventKind::CommandRejected => EventBody::CommandRejected(CommandRejected {
            command_id: Some(77),
            action: Some(CommandAction::GracefulShutdown),
            signer_key_id: Some(KeyId([0x3c; 8])),
            reason: CommandRejectReason::BadSignature,
        }),
        EventKind::RemoteSessionStarted => EventBody::RemoteSessionStarted(RemoteSession {
            session_id: text("ssh-4212"),
            user: text("biomed"),
            source: Some(SocketAddress {
                ip: IpAddress::V4([10, 20, 9, 2]),
                port: 52_001,
            }),
            protocol: text("ssh"),
            duration_ms: 0,
        }),
        EventKind::RemoteSessionEnded => EventBody::RemoteSessionEnded(RemoteSession {
            session_id: text("ssh-4212"),
            user: text("biomed"),
            source: Some(SocketAddress {
                ip: IpAddress::V4([10, 20, 9, 2]),
                port: 52_001,
            }),
            protocol: text("ssh"),
            duration_ms: 754_000,
        }),
        EventKind::DataRateSample => EventBody::DataRateSample(DataRateSample {
            direction: Direction::Outbound,
            window_ms: 60_000,
            bytes: 245_760,
            messages: 240,
        }),
        EventKind::SequenceAnomaly => EventBody::SequenceAnomaly(SequenceAnomaly {
            kind: SequenceAnomalyKind::Gap,
            boot: 4,
            expected: 1_021,
            observed: 1_090,
            transition: None,
        }),
        EventKind::EventsDropped => EventBody::EventsDropped(EventsDropped {
            count: 17,
            reason: DropReason::QueueFull,
        }),
        EventKind::ConfigurationError => EventBody::ConfigurationError(ConfigurationError {
            component: text("agent"),
            key: text("heartbeat_interval_ms"),
            reason: text("0 is below the minimum of 1000 ms; using 60000"),
        }),
        EventKind::CollectionError => EventBody::CollectionError(CollectionError {
            collector: text("logins"),
            path: Some(text("/var/log/btmp")),
            reason: text("permission denied; run the agent with read access to /var/log/btmp"),
        }),
        EventKind::ProtocolViolation => EventBody::ProtocolViolation(ProtocolViolation {
            peer: Some(SocketAddress {
                ip: IpAddress::V4([10, 20, 7, 9]),
                port: 40_200,
            }),
            device_id: None,
            reason: ProtocolViolationReason::OversizedFrame,
        }),
        EventKind::CommandAcknowledged => EventBody::CommandAcknowledged(CommandAcknowledged {
            command_id: 78,
            outcome: CommandOutcome::Deferred,
            reason: Some(text("infusion running; shutdown deferred until it ends")),
        }),
        EventKind::Telemetry => EventBody::Telemetry(Telemetry {
            channel: 3,
            data: Bytes::new(&[0x01, 0x02, 0x00, 0x7f, 0x40, 0x49, 0x0f, 0xdb]).unwrap_or_default(),
        }),
    }
}

/// Returns one sample event of every kind, in tag order.
pub fn one_of_each() -> impl Iterator<Item = Event<'static>> {
    EventKind::ALL
        .iter()
        .enumerate()
        .map(|(index, &kind)| Event {
            header: header(index as u64, default_severity(kind)),
            body: body(kind),
        })
}

fn default_severity(kind: EventKind) -> Severity {
    match kind {
        EventKind::CredentialRejected | EventKind::CommandRejected => Severity::High,
        EventKind::Login | EventKind::UnknownDevice | EventKind::ProtocolViolation => {
            Severity::Medium
        }
        EventKind::BaselineCheck | EventKind::FileIntegrityChanged => Severity::Medium,
        EventKind::EventsDropped | EventKind::SequenceAnomaly => Severity::Low,
        _ => Severity::Info,
    }
}

/// Returns a batch of 64 events in the proportions a Linux device produces: mostly
/// processes and connections, some logins and telemetry, a few SBOM
/// components and baseline results.
pub fn mixed_batch() -> impl Iterator<Item = Event<'static>> {
    // 20 process, 18 connection, 8 login, 12 telemetry, 4 SBOM, 2 baseline.
    const PATTERN: [EventKind; 32] = [
        EventKind::ProcessStarted,
        EventKind::NetworkConnection,
        EventKind::Telemetry,
        EventKind::ProcessStarted,
        EventKind::NetworkConnection,
        EventKind::Login,
        EventKind::ProcessStarted,
        EventKind::Telemetry,
        EventKind::NetworkConnection,
        EventKind::ProcessStarted,
        EventKind::SoftwareComponent,
        EventKind::NetworkConnection,
        EventKind::ProcessStarted,
        EventKind::Telemetry,
        EventKind::Login,
        EventKind::NetworkConnection,
        EventKind::ProcessStarted,
        EventKind::BaselineCheck,
        EventKind::NetworkConnection,
        EventKind::Telemetry,
        EventKind::ProcessStarted,
        EventKind::Login,
        EventKind::NetworkConnection,
        EventKind::ProcessStarted,
        EventKind::SoftwareComponent,
        EventKind::Telemetry,
        EventKind::NetworkConnection,
        EventKind::ProcessStarted,
        EventKind::Login,
        EventKind::NetworkConnection,
        EventKind::ProcessStarted,
        EventKind::Telemetry,
    ];
    (0..64u64).map(|index| {
        let kind = PATTERN[(index % 32) as usize];
        Event {
            header: header(index, default_severity(kind)),
            body: body(kind),
        }
    })
}
