//! The replayed event mix: what each simulated device sends, built from
//! `palisade_schema` event types.
//!
//! Every block of [`PATTERN_LEN`] consecutive events of one device holds 8
//! telemetry readings (40 %), 6 network connections (30 %), 5 process
//! starts (25 %) and 1 login or logout (5 %). This is the shape of an
//! embedded Linux medical device that streams readings and opens short
//! connections to its gateway and hospital services, with its
//! services restarting now and then and a technician logging in rarely.
//! The values (pids, ports, byte counts, executables) change with the
//! device index and sequence number, so no two events are byte-identical.

use palisade_schema::{
    Bytes, Direction, Event, EventBody, Header, HitCount, IpAddress, Login, LoginAction,
    LoginMethod, NetworkConnection, ProcessStarted, Protocol, Severity, SocketAddress, StartKind,
    Str, Telemetry, WallClock,
};

/// Kinds of events in the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MixKind {
    /// A process start (`ProcessStarted`).
    ProcessStarted,
    /// An outbound TCP connection (`NetworkConnection`).
    NetworkConnection,
    /// A login or logout (`Login`).
    Login,
    /// A reading on a telemetry channel (`Telemetry`).
    Telemetry,
}

/// Length of the repeating pattern of kinds.
pub const PATTERN_LEN: usize = 20;

/// The repeating pattern: 8 telemetry, 6 connections, 5 process starts,
/// 1 login, interleaved as a device would produce them.
pub const PATTERN: [MixKind; PATTERN_LEN] = {
    use MixKind::{Login as L, NetworkConnection as N, ProcessStarted as P, Telemetry as T};
    [T, N, P, T, N, T, P, N, T, L, T, N, P, T, N, P, T, N, P, T]
};

/// Returns the kind of the event with sequence number `seq` of device
/// `device`. Devices start at different points of the pattern.
pub fn kind_at(device: u32, seq: u64) -> MixKind {
    PATTERN[((seq + u64::from(device)) % PATTERN_LEN as u64) as usize]
}

const EXECUTABLES: [(&str, &str); 5] = [
    (
        "/opt/pump/bin/dosing-service",
        "/opt/pump/bin/dosing-service --config /etc/pump/dosing.toml",
    ),
    (
        "/usr/sbin/chronyd",
        "/usr/sbin/chronyd -f /etc/chrony/chrony.conf",
    ),
    (
        "/opt/pump/bin/hl7-bridge",
        "/opt/pump/bin/hl7-bridge --upstream mllp://10.20.0.1:2575",
    ),
    (
        "/usr/bin/logrotate",
        "/usr/bin/logrotate /etc/logrotate.conf",
    ),
    (
        "/opt/pump/bin/drug-library-sync",
        "/opt/pump/bin/drug-library-sync --once",
    ),
];

const SERVICE_PORTS: [u16; 4] = [7_443, 2_575, 123, 443];

/// Scratch space for the parts of an event that borrow bytes.
#[derive(Debug, Default)]
pub struct Scratch {
    reading: [u8; 8],
}

/// Builds event `seq` of device `device`, stamped with `unix_ms` (the
/// device's synchronized wall clock, which the latency measurement reads
/// back at the receiving end).
pub fn event(device: u32, seq: u64, unix_ms: u64, scratch: &mut Scratch) -> Event<'_> {
    let kind = kind_at(device, seq);
    let mix = seq.wrapping_mul(2_654_435_761) ^ u64::from(device);
    let severity = match kind {
        MixKind::Login => Severity::Low,
        _ => Severity::Info,
    };
    let header = Header {
        sequence: seq,
        boot: 1,
        uptime_ms: 3_600_000 + seq * 100,
        wall_clock: Some(WallClock {
            unix_ms,
            synchronized: true,
        }),
        severity,
        hit_count: HitCount::ONE,
        window_ms: 0,
    };
    let device_ip = IpAddress::V4([10, 20, (device / 250 % 250) as u8, (device % 250) as u8 + 2]);
    let body = match kind {
        MixKind::ProcessStarted => {
            let (executable, command_line) = EXECUTABLES[(mix % EXECUTABLES.len() as u64) as usize];
            EventBody::ProcessStarted(ProcessStarted {
                pid: 1_000 + (mix % 30_000) as u32,
                parent_pid: 1,
                uid: 998,
                user: Some(Str::truncated("infusion")),
                executable: Str::truncated(executable),
                command_line: Str::truncated(command_line),
                start_kind: StartKind::Exec,
            })
        }
        MixKind::NetworkConnection => EventBody::NetworkConnection(NetworkConnection {
            protocol: Protocol::Tcp,
            direction: Direction::Outbound,
            local: SocketAddress {
                ip: device_ip,
                port: 40_000 + (mix % 20_000) as u16,
            },
            remote: SocketAddress {
                ip: IpAddress::V4([10, 20, 0, 1]),
                port: SERVICE_PORTS[(mix % SERVICE_PORTS.len() as u64) as usize],
            },
            pid: Some(1_000 + (mix % 30_000) as u32),
            executable: Some(Str::truncated(EXECUTABLES[0].0)),
            bytes_in: 1_024 + mix % 65_536,
            bytes_out: 512 + mix % 16_384,
        }),
        MixKind::Login => EventBody::Login(Login {
            action: if (seq / PATTERN_LEN as u64).is_multiple_of(2) {
                LoginAction::Login
            } else {
                LoginAction::Logout
            },
            user: Str::truncated("biomed"),
            method: LoginMethod::PublicKey,
            terminal: Some(Str::truncated("ssh")),
            source: Some(IpAddress::V4([10, 20, 9, 44])),
        }),
        MixKind::Telemetry => {
            scratch.reading = [
                (seq % 256) as u8,
                (device % 256) as u8,
                0x00,
                0x7f,
                0x40,
                0x49,
                (mix % 256) as u8,
                0xdb,
            ];
            EventBody::Telemetry(Telemetry {
                channel: 1 + (seq % 4) as u16,
                data: Bytes::new(&scratch.reading).unwrap_or_default(),
            })
        }
    };
    Event { header, body }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_proportions() {
        let count = |kind| PATTERN.iter().filter(|k| **k == kind).count();
        assert_eq!(count(MixKind::Telemetry), 8);
        assert_eq!(count(MixKind::NetworkConnection), 6);
        assert_eq!(count(MixKind::ProcessStarted), 5);
        assert_eq!(count(MixKind::Login), 1);
    }

    #[test]
    fn device_stream_proportions() {
        // 1,000 events of one device hold exactly 50 blocks of the pattern.
        let mut counts = [0usize; 4];
        let mut scratch = Scratch::default();
        for seq in 0..1_000 {
            let event = event(7, seq, 1_796_000_000_000, &mut scratch);
            let index = match event.body {
                EventBody::Telemetry(_) => 0,
                EventBody::NetworkConnection(_) => 1,
                EventBody::ProcessStarted(_) => 2,
                EventBody::Login(_) => 3,
                _ => panic!("unexpected kind in the mix"),
            };
            counts[index] += 1;
        }
        assert_eq!(counts, [400, 300, 250, 50]);
    }

    #[test]
    fn event_carries_sequence_and_time() {
        let mut scratch = Scratch::default();
        let event = event(3, 41, 1_796_000_000_123, &mut scratch);
        assert_eq!(event.header.sequence, 41);
        assert_eq!(
            event.header.wall_clock.map(|c| c.unix_ms),
            Some(1_796_000_000_123)
        );
    }

    #[test]
    fn event_encodes_within_limit() {
        let mut scratch = Scratch::default();
        let mut buffer = [0u8; palisade_schema::MAX_EVENT_LEN];
        for seq in 0..PATTERN_LEN as u64 {
            let event = event(1, seq, 1_796_000_000_000, &mut scratch);
            let bytes = palisade_schema::to_slice(&event, &mut buffer).expect("event encodes");
            let decoded: Event<'_> = palisade_schema::from_bytes(bytes).expect("event decodes");
            assert_eq!(decoded, event);
        }
    }
}
