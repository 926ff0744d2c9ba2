//! Every length limit at its boundary: the maximum is accepted when building
//! and when decoding, one more byte or item is rejected by both.

use palisade_schema::*;
use serde::Serialize;

const FILL: u8 = b'Z';

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).expect("encodes")
}

/// Rewrites the first run of `len` FILL bytes, preceded by its varint
/// length, into a run one byte longer.
fn grow_fill_run(bytes: &[u8], len: usize) -> Vec<u8> {
    let mut prefix = Vec::new();
    let mut varint = [0u8; 10];
    prefix.extend_from_slice(postcard::to_slice(&(len as u64), &mut varint).expect("varint"));
    prefix.extend(std::iter::repeat_n(FILL, len));
    let start = bytes
        .windows(prefix.len())
        .position(|window| window == prefix.as_slice())
        .expect("fill run present");
    let mut grown = bytes[..start].to_vec();
    grown.extend_from_slice(postcard::to_slice(&(len as u64 + 1), &mut varint).expect("varint"));
    grown.extend(std::iter::repeat_n(FILL, len + 1));
    grown.extend_from_slice(&bytes[start + prefix.len()..]);
    grown
}

fn filled(len: usize) -> String {
    String::from_utf8(vec![FILL; len]).expect("ASCII")
}

fn event(body: EventBody<'_>) -> Event<'_> {
    Event {
        header: samples::header(0, Severity::Info),
        body,
    }
}

/// Checks one string field: `build` puts its argument into the field under test.
fn check_string_field<const MAX: usize>(
    field: &str,
    build: impl for<'a> Fn(Str<'a, MAX>) -> EventBody<'a>,
) {
    let at_max = filled(MAX);
    let over = filled(MAX + 1);
    assert!(
        Str::<MAX>::new(&at_max).is_ok(),
        "{field}: {MAX} bytes accepted when building"
    );
    assert_eq!(
        Str::<MAX>::new(&over),
        Err(TooLong {
            len: MAX + 1,
            max: MAX
        }),
        "{field}: {} bytes rejected when building",
        MAX + 1
    );

    let bytes = encode(&event(build(Str::new(&at_max).expect("at max"))));
    let decoded: Event<'_> = from_bytes(&bytes).unwrap_or_else(|e| panic!("{field}: {e}"));
    assert_eq!(
        decoded,
        event(build(Str::new(&at_max).expect("at max"))),
        "{field}"
    );

    let grown = grow_fill_run(&bytes, MAX);
    assert_eq!(
        from_bytes::<Event<'_>>(&grown),
        Err(DecodeError::TooLong {
            len: MAX + 1,
            max: MAX
        }),
        "{field}: {} bytes rejected when decoding",
        MAX + 1
    );
}

#[test]
fn name_limit_at_boundary() {
    check_string_field::<{ limits::NAME }>("login user", |user| {
        EventBody::Login(Login {
            action: LoginAction::Login,
            user,
            method: LoginMethod::PublicKey,
            terminal: None,
            source: None,
        })
    });
}

#[test]
fn path_limit_at_boundary() {
    check_string_field::<{ limits::PATH }>("file path", |path| {
        EventBody::FileIntegrityChanged(FileIntegrityChanged {
            path,
            old_sha256: None,
            new_sha256: Some([1; 32]),
        })
    });
}

#[test]
fn command_line_limit_at_boundary() {
    check_string_field::<{ limits::COMMAND_LINE }>("command line", |command_line| {
        EventBody::ProcessStarted(ProcessStarted {
            pid: 1,
            parent_pid: 0,
            uid: 0,
            user: None,
            executable: Str::empty(),
            command_line,
            start_kind: StartKind::Unknown,
        })
    });
}

#[test]
fn component_name_limit_at_boundary() {
    check_string_field::<{ limits::COMPONENT_NAME }>("component name", |name| {
        EventBody::SoftwareComponent(SoftwareComponent {
            name,
            version: Str::empty(),
            supplier: None,
            purl: None,
            cpe: None,
            sha256: None,
        })
    });
}

#[test]
fn text_limit_at_boundary() {
    check_string_field::<{ limits::TEXT }>("collection error reason", |reason| {
        EventBody::CollectionError(CollectionError {
            collector: Str::empty(),
            path: None,
            reason,
        })
    });
}

#[test]
fn identifier_limit_at_boundary() {
    check_string_field::<{ limits::IDENTIFIER }>("baseline check id", |check_id| {
        EventBody::BaselineCheck(BaselineCheck {
            check_id,
            result: CheckResult::Pass,
            severity: Severity::Low,
            description: Str::empty(),
            remediation: Str::empty(),
        })
    });
}

#[test]
fn uri_limit_at_boundary() {
    check_string_field::<{ limits::URI }>("purl", |purl| {
        EventBody::SoftwareComponent(SoftwareComponent {
            name: Str::empty(),
            version: Str::empty(),
            supplier: None,
            purl: Some(purl),
            cpe: None,
            sha256: None,
        })
    });
}

#[test]
fn telemetry_limit_at_boundary() {
    const MAX: usize = limits::TELEMETRY;
    let at_max = vec![FILL; MAX];
    let over = vec![FILL; MAX + 1];
    assert!(Bytes::<MAX>::new(&at_max).is_ok());
    assert_eq!(
        Bytes::<MAX>::new(&over),
        Err(TooLong {
            len: MAX + 1,
            max: MAX
        })
    );

    let body = |data| EventBody::Telemetry(Telemetry { channel: 9, data });
    let bytes = encode(&event(body(Bytes::new(&at_max).expect("at max"))));
    assert!(
        from_bytes::<Event<'_>>(&bytes).is_ok(),
        "{MAX} bytes decode"
    );
    assert_eq!(
        from_bytes::<Event<'_>>(&grow_fill_run(&bytes, MAX)),
        Err(DecodeError::TooLong {
            len: MAX + 1,
            max: MAX
        })
    );
}

/// SystemInfo with plain vectors, encoded exactly like the real one, so a
/// test can write one interface or address more than the capacity allows.
#[derive(Serialize)]
struct WideSystemInfo {
    header: Header,
    tag: u8,
    names: [&'static str; 7],
    interfaces: Vec<(&'static str, Option<MacAddress>, Vec<IpAddress>)>,
}

fn system_info_bytes(interfaces: usize, addresses: usize) -> Vec<u8> {
    let wide = WideSystemInfo {
        header: samples::header(0, Severity::Info),
        tag: EventKind::SystemInfo.tag(),
        names: ["v", "m", "h", "o", "1", "a", "f"],
        interfaces: (0..interfaces)
            .map(|_| ("eth0", None, vec![IpAddress::V4([127, 0, 0, 1]); addresses]))
            .collect(),
    };
    encode(&wide)
}

#[test]
fn interface_count_at_boundary() {
    let at_max = system_info_bytes(limits::INTERFACES, 1);
    let decoded: Event<'_> = from_bytes(&at_max).expect("max interfaces decode");
    let EventBody::SystemInfo(info) = decoded.body else {
        panic!("not system info")
    };
    assert_eq!(info.interfaces.len(), limits::INTERFACES);

    let over = system_info_bytes(limits::INTERFACES + 1, 1);
    assert!(
        matches!(
            from_bytes::<Event<'_>>(&over),
            Err(DecodeError::TooLong { .. })
        ),
        "{} interfaces rejected",
        limits::INTERFACES + 1
    );
}

#[test]
fn address_count_at_boundary() {
    let at_max = system_info_bytes(1, limits::ADDRESSES_PER_INTERFACE);
    assert!(
        from_bytes::<Event<'_>>(&at_max).is_ok(),
        "max addresses decode"
    );

    let over = system_info_bytes(1, limits::ADDRESSES_PER_INTERFACE + 1);
    assert!(
        matches!(
            from_bytes::<Event<'_>>(&over),
            Err(DecodeError::TooLong { .. })
        ),
        "{} addresses rejected",
        limits::ADDRESSES_PER_INTERFACE + 1
    );
}

#[test]
fn zero_hit_count_is_rejected() {
    let sample = samples::one_of_each().next().expect("one sample");
    let bytes = encode(&sample);
    let header = encode(&sample.header);
    // The hit count is the header's second-to-last field; 1 encodes as 0x01
    // and the window (0) as 0x00, so the hit count byte sits just before it.
    let hit_index = header.len() - 2;
    assert_eq!(bytes[hit_index], 1);
    let mut zero = bytes.clone();
    zero[hit_index] = 0;
    assert!(matches!(
        from_bytes::<Event<'_>>(&zero),
        Err(DecodeError::OutOfRange { value: 0, .. })
    ));
    assert_eq!(HitCount::new(0), None);
    assert_eq!(HitCount::new(1), Some(HitCount::ONE));
}

#[test]
fn truncated_keeps_char_boundary() {
    // "é" is two bytes; a 5-byte limit over "abcdé" (6 bytes) keeps "abcd".
    let value: Str<'_, 5> = Str::truncated("abcdé");
    assert_eq!(value.as_str(), "abcd");
    let exact: Str<'_, 6> = Str::truncated("abcdé");
    assert_eq!(exact.as_str(), "abcdé");
}

fn s<const MAX: usize>(pool: &str) -> Str<'_, MAX> {
    Str::truncated(pool)
}

/// The largest value of every kind: every option set, every string and list
/// at its limit, every number at its widest varint.
fn largest_body(kind: EventKind, pool: &str) -> EventBody<'_> {
    let wide_ip = IpAddress::V6([0xff; 16]);
    let wide_socket = SocketAddress {
        ip: wide_ip,
        port: u16::MAX,
    };
    match kind {
        EventKind::ProcessStarted => EventBody::ProcessStarted(ProcessStarted {
            pid: u32::MAX,
            parent_pid: u32::MAX,
            uid: u32::MAX,
            user: Some(s(pool)),
            executable: s(pool),
            command_line: s(pool),
            start_kind: StartKind::Unknown,
        }),
        EventKind::ProcessExited => EventBody::ProcessExited(ProcessExited {
            pid: u32::MAX,
            executable: s(pool),
            exit_code: Some(i32::MIN),
        }),
        EventKind::NetworkConnection => EventBody::NetworkConnection(NetworkConnection {
            protocol: Protocol::Udp,
            direction: Direction::Unknown,
            local: wide_socket,
            remote: wide_socket,
            pid: Some(u32::MAX),
            executable: Some(s(pool)),
            bytes_in: u64::MAX,
            bytes_out: u64::MAX,
        }),
        EventKind::ListeningPortOpened | EventKind::ListeningPortClosed => {
            let port = ListeningPort {
                protocol: Protocol::Udp,
                local: wide_socket,
                pid: Some(u32::MAX),
                executable: Some(s(pool)),
            };
            if kind == EventKind::ListeningPortOpened {
                EventBody::ListeningPortOpened(port)
            } else {
                EventBody::ListeningPortClosed(port)
            }
        }
        EventKind::Login => EventBody::Login(Login {
            action: LoginAction::InvalidUser,
            user: s(pool),
            method: LoginMethod::Unknown,
            terminal: Some(s(pool)),
            source: Some(wide_ip),
        }),
        EventKind::PeripheralAttached | EventKind::PeripheralDetached => {
            let peripheral = Peripheral {
                bus: Bus::Other,
                vendor_id: u16::MAX,
                product_id: u16::MAX,
                class: u8::MAX,
                name: Some(s(pool)),
            };
            if kind == EventKind::PeripheralAttached {
                EventBody::PeripheralAttached(peripheral)
            } else {
                EventBody::PeripheralDetached(peripheral)
            }
        }
        EventKind::FileIntegrityChanged => EventBody::FileIntegrityChanged(FileIntegrityChanged {
            path: s(pool),
            old_sha256: Some([0xff; 32]),
            new_sha256: Some([0xff; 32]),
        }),
        EventKind::SystemInfo => {
            let mut interfaces = heapless::Vec::new();
            while !interfaces.is_full() {
                let mut addresses = heapless::Vec::new();
                while addresses.push(wide_ip).is_ok() {}
                let interface = NetworkInterface {
                    name: s(pool),
                    mac: Some([0xff; 6]),
                    addresses,
                };
                assert!(interfaces.push(interface).is_ok());
            }
            EventBody::SystemInfo(SystemInfo {
                vendor: s(pool),
                model: s(pool),
                hostname: s(pool),
                os_name: s(pool),
                os_version: s(pool),
                architecture: s(pool),
                firmware_version: s(pool),
                interfaces,
            })
        }
        EventKind::Heartbeat => EventBody::Heartbeat(Heartbeat {
            queued: u32::MAX,
            sent: u64::MAX,
            dropped: u64::MAX,
            retried: u64::MAX,
        }),
        EventKind::BaselineCheck => EventBody::BaselineCheck(BaselineCheck {
            check_id: s(pool),
            result: CheckResult::Error,
            severity: Severity::Critical,
            description: s(pool),
            remediation: s(pool),
        }),
        EventKind::SoftwareComponent => EventBody::SoftwareComponent(SoftwareComponent {
            name: s(pool),
            version: s(pool),
            supplier: Some(s(pool)),
            purl: Some(s(pool)),
            cpe: Some(s(pool)),
            sha256: Some([0xff; 32]),
        }),
        EventKind::UnknownDevice => EventBody::UnknownDevice(UnknownDevice {
            peer: wide_socket,
            claimed_device_id: Some(DeviceId([0xff; 16])),
        }),
        EventKind::CredentialRejected => EventBody::CredentialRejected(CredentialRejected {
            peer: Some(wide_socket),
            device_id: Some(DeviceId([0xff; 16])),
            serial: Some(u64::MAX),
            reason: CredentialRejectReason::RevocationListStale,
            detail_code: u8::MAX,
        }),
        EventKind::CommandRejected => EventBody::CommandRejected(CommandRejected {
            command_id: Some(u64::MAX),
            action: Some(CommandAction::Custom(u16::MAX)),
            signer_key_id: Some(KeyId([0xff; 8])),
            reason: CommandRejectReason::Malformed,
        }),
        EventKind::RemoteSessionStarted | EventKind::RemoteSessionEnded => {
            let session = RemoteSession {
                session_id: s(pool),
                user: s(pool),
                source: Some(wide_socket),
                protocol: s(pool),
                duration_ms: u64::MAX,
            };
            if kind == EventKind::RemoteSessionStarted {
                EventBody::RemoteSessionStarted(session)
            } else {
                EventBody::RemoteSessionEnded(session)
            }
        }
        EventKind::DataRateSample => EventBody::DataRateSample(DataRateSample {
            direction: Direction::Unknown,
            window_ms: u32::MAX,
            bytes: u64::MAX,
            messages: u64::MAX,
        }),
        EventKind::SequenceAnomaly => EventBody::SequenceAnomaly(SequenceAnomaly {
            kind: SequenceAnomalyKind::UnseenTransition,
            boot: u32::MAX,
            expected: u64::MAX,
            observed: u64::MAX,
            transition: Some((EventKind::Telemetry, EventKind::Telemetry)),
        }),
        EventKind::EventsDropped => EventBody::EventsDropped(EventsDropped {
            count: u64::MAX,
            reason: DropReason::StorageFailure,
        }),
        EventKind::ConfigurationError => EventBody::ConfigurationError(ConfigurationError {
            component: s(pool),
            key: s(pool),
            reason: s(pool),
        }),
        EventKind::CollectionError => EventBody::CollectionError(CollectionError {
            collector: s(pool),
            path: Some(s(pool)),
            reason: s(pool),
        }),
        EventKind::ProtocolViolation => EventBody::ProtocolViolation(ProtocolViolation {
            peer: Some(wide_socket),
            device_id: Some(DeviceId([0xff; 16])),
            reason: ProtocolViolationReason::Unresponsive,
        }),
        EventKind::CommandAcknowledged => EventBody::CommandAcknowledged(CommandAcknowledged {
            command_id: u64::MAX,
            outcome: CommandOutcome::Rejected,
            reason: Some(s(pool)),
        }),
        EventKind::Telemetry => EventBody::Telemetry(Telemetry {
            channel: u16::MAX,
            data: Bytes::new(&pool.as_bytes()[..limits::TELEMETRY]).expect("at limit"),
        }),
        other => panic!("largest_body has no case for {other:?}"),
    }
}

#[test]
fn max_event_len_bounds_every_kind() {
    let pool = "x".repeat(4096);
    let header = Header {
        sequence: u64::MAX,
        boot: u32::MAX,
        uptime_ms: u64::MAX,
        wall_clock: Some(WallClock {
            unix_ms: u64::MAX,
            synchronized: true,
        }),
        severity: Severity::Critical,
        hit_count: HitCount::new(u32::MAX).expect("non-zero"),
        window_ms: u32::MAX,
    };
    let mut largest = 0;
    for &kind in EventKind::ALL {
        let event = Event {
            header,
            body: largest_body(kind, &pool),
        };
        let bytes = encode(&event);
        assert!(
            bytes.len() <= MAX_EVENT_LEN,
            "{kind:?} encodes to {} bytes",
            bytes.len()
        );
        let decoded: Event<'_> = from_bytes(&bytes).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(decoded, event);
        largest = largest.max(bytes.len());
    }
    // Keep the bound tight enough to be useful for buffer sizing.
    assert!(
        largest + 128 > MAX_EVENT_LEN,
        "MAX_EVENT_LEN is {MAX_EVENT_LEN}, largest {largest}"
    );
}
