//! Property tests: every kind, filled with random values, decodes with the
//! strict decoder to exactly what was encoded, and re-encodes to the same
//! bytes.

use palisade_schema::*;
use proptest::prelude::*;

/// Random material from which `build` fills any event kind.
#[derive(Debug, Clone)]
struct Material {
    kind: usize,
    numbers: Vec<u64>,
    strings: Vec<String>,
    flags: Vec<bool>,
}

fn material() -> impl Strategy<Value = Material> {
    (
        0..EventKind::ALL.len(),
        proptest::collection::vec(any::<u64>(), 16),
        proptest::collection::vec(".{0,80}", 8),
        proptest::collection::vec(any::<bool>(), 8),
    )
        .prop_map(|(kind, numbers, strings, flags)| Material {
            kind,
            numbers,
            strings,
            flags,
        })
}

struct Picker<'m> {
    material: &'m Material,
    number: usize,
    string: usize,
    flag: usize,
}

impl<'m> Picker<'m> {
    fn n(&mut self) -> u64 {
        self.number += 1;
        self.material.numbers[self.number % self.material.numbers.len()]
    }
    fn s<const MAX: usize>(&mut self) -> Str<'m, MAX> {
        self.string += 1;
        Str::truncated(&self.material.strings[self.string % self.material.strings.len()])
    }
    fn b(&mut self) -> bool {
        self.flag += 1;
        self.material.flags[self.flag % self.material.flags.len()]
    }
    fn opt<T>(&mut self, value: T) -> Option<T> {
        if self.b() { Some(value) } else { None }
    }
    fn ip(&mut self) -> IpAddress {
        let n = self.n();
        if self.b() {
            IpAddress::V4((n as u32).to_be_bytes())
        } else {
            let mut octets = [0u8; 16];
            octets[..8].copy_from_slice(&n.to_be_bytes());
            octets[8..].copy_from_slice(&self.n().to_le_bytes());
            IpAddress::V6(octets)
        }
    }
    fn socket(&mut self) -> SocketAddress {
        SocketAddress {
            ip: self.ip(),
            port: self.n() as u16,
        }
    }
    fn severity(&mut self) -> Severity {
        [
            Severity::Info,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ][(self.n() % 5) as usize]
    }
}

fn build(material: &Material) -> Event<'_> {
    let mut p = Picker {
        material,
        number: 0,
        string: 0,
        flag: 0,
    };
    let kind = EventKind::ALL[material.kind];
    let header = Header {
        sequence: p.n(),
        boot: p.n() as u32,
        uptime_ms: p.n(),
        wall_clock: {
            let wall = WallClock {
                unix_ms: p.n(),
                synchronized: p.b(),
            };
            p.opt(wall)
        },
        severity: p.severity(),
        hit_count: HitCount::new((p.n() as u32).max(1)).expect("non-zero"),
        window_ms: p.n() as u32,
    };
    let body = match kind {
        EventKind::ProcessStarted => EventBody::ProcessStarted(ProcessStarted {
            pid: p.n() as u32,
            parent_pid: p.n() as u32,
            uid: p.n() as u32,
            user: {
                let user = p.s();
                p.opt(user)
            },
            executable: p.s(),
            command_line: p.s(),
            start_kind: [StartKind::Fork, StartKind::Exec, StartKind::Unknown]
                [(p.n() % 3) as usize],
        }),
        EventKind::ProcessExited => EventBody::ProcessExited(ProcessExited {
            pid: p.n() as u32,
            executable: p.s(),
            exit_code: {
                let code = p.n() as i32;
                p.opt(code)
            },
        }),
        EventKind::NetworkConnection => EventBody::NetworkConnection(NetworkConnection {
            protocol: if p.b() { Protocol::Tcp } else { Protocol::Udp },
            direction: [Direction::Inbound, Direction::Outbound, Direction::Unknown]
                [(p.n() % 3) as usize],
            local: p.socket(),
            remote: p.socket(),
            pid: {
                let pid = p.n() as u32;
                p.opt(pid)
            },
            executable: {
                let exe = p.s();
                p.opt(exe)
            },
            bytes_in: p.n(),
            bytes_out: p.n(),
        }),
        EventKind::ListeningPortOpened | EventKind::ListeningPortClosed => {
            let port = ListeningPort {
                protocol: if p.b() { Protocol::Tcp } else { Protocol::Udp },
                local: p.socket(),
                pid: {
                    let pid = p.n() as u32;
                    p.opt(pid)
                },
                executable: {
                    let exe = p.s();
                    p.opt(exe)
                },
            };
            if kind == EventKind::ListeningPortOpened {
                EventBody::ListeningPortOpened(port)
            } else {
                EventBody::ListeningPortClosed(port)
            }
        }
        EventKind::Login => EventBody::Login(Login {
            action: [
                LoginAction::Login,
                LoginAction::Logout,
                LoginAction::Failed,
                LoginAction::InvalidUser,
            ][(p.n() % 4) as usize],
            user: p.s(),
            method: [
                LoginMethod::Password,
                LoginMethod::PublicKey,
                LoginMethod::Local,
                LoginMethod::Other,
                LoginMethod::Unknown,
            ][(p.n() % 5) as usize],
            terminal: {
                let terminal = p.s();
                p.opt(terminal)
            },
            source: {
                let ip = p.ip();
                p.opt(ip)
            },
        }),
        EventKind::PeripheralAttached | EventKind::PeripheralDetached => {
            let peripheral = Peripheral {
                bus: [Bus::Usb, Bus::Pci, Bus::Bluetooth, Bus::Serial, Bus::Other]
                    [(p.n() % 5) as usize],
                vendor_id: p.n() as u16,
                product_id: p.n() as u16,
                class: p.n() as u8,
                name: {
                    let name = p.s();
                    p.opt(name)
                },
            };
            if kind == EventKind::PeripheralAttached {
                EventBody::PeripheralAttached(peripheral)
            } else {
                EventBody::PeripheralDetached(peripheral)
            }
        }
        EventKind::FileIntegrityChanged => EventBody::FileIntegrityChanged(FileIntegrityChanged {
            path: p.s(),
            old_sha256: {
                let digest = [p.n() as u8; 32];
                p.opt(digest)
            },
            new_sha256: {
                let digest = [p.n() as u8; 32];
                p.opt(digest)
            },
        }),
        EventKind::SystemInfo => {
            let mut interfaces = heapless::Vec::new();
            for _ in 0..(p.n() as usize % (limits::INTERFACES + 1)) {
                let mut addresses = heapless::Vec::new();
                for _ in 0..(p.n() as usize % (limits::ADDRESSES_PER_INTERFACE + 1)) {
                    let ip = p.ip();
                    assert!(addresses.push(ip).is_ok());
                }
                let mac = {
                    let mac = [p.n() as u8; 6];
                    p.opt(mac)
                };
                let interface = NetworkInterface {
                    name: p.s(),
                    mac,
                    addresses,
                };
                assert!(interfaces.push(interface).is_ok());
            }
            EventBody::SystemInfo(SystemInfo {
                vendor: p.s(),
                model: p.s(),
                hostname: p.s(),
                os_name: p.s(),
                os_version: p.s(),
                architecture: p.s(),
                firmware_version: p.s(),
                interfaces,
            })
        }
        EventKind::Heartbeat => EventBody::Heartbeat(Heartbeat {
            queued: p.n() as u32,
            sent: p.n(),
            dropped: p.n(),
            retried: p.n(),
        }),
        EventKind::BaselineCheck => EventBody::BaselineCheck(BaselineCheck {
            check_id: p.s(),
            result: [CheckResult::Pass, CheckResult::Fail, CheckResult::Error]
                [(p.n() % 3) as usize],
            severity: p.severity(),
            description: p.s(),
            remediation: p.s(),
        }),
        EventKind::SoftwareComponent => EventBody::SoftwareComponent(SoftwareComponent {
            name: p.s(),
            version: p.s(),
            supplier: {
                let supplier = p.s();
                p.opt(supplier)
            },
            purl: {
                let purl = p.s();
                p.opt(purl)
            },
            cpe: {
                let cpe = p.s();
                p.opt(cpe)
            },
            sha256: {
                let digest = [p.n() as u8; 32];
                p.opt(digest)
            },
        }),
        EventKind::UnknownDevice => EventBody::UnknownDevice(UnknownDevice {
            peer: p.socket(),
            claimed_device_id: {
                let id = DeviceId([p.n() as u8; 16]);
                p.opt(id)
            },
        }),
        EventKind::CredentialRejected => EventBody::CredentialRejected(CredentialRejected {
            peer: {
                let peer = p.socket();
                p.opt(peer)
            },
            device_id: {
                let id = DeviceId([p.n() as u8; 16]);
                p.opt(id)
            },
            serial: {
                let serial = p.n();
                p.opt(serial)
            },
            reason: [
                CredentialRejectReason::BadSignature,
                CredentialRejectReason::Expired,
                CredentialRejectReason::NotYetValid,
                CredentialRejectReason::Revoked,
                CredentialRejectReason::UnknownIssuer,
                CredentialRejectReason::ProofOfPossessionFailed,
                CredentialRejectReason::Malformed,
                CredentialRejectReason::NotPermitted,
                CredentialRejectReason::ClonedKey,
                CredentialRejectReason::RevocationListStale,
            ][(p.n() % 10) as usize],
            detail_code: p.n() as u8,
        }),
        EventKind::CommandRejected => EventBody::CommandRejected(CommandRejected {
            command_id: {
                let id = p.n();
                p.opt(id)
            },
            action: {
                let action = match p.n() % 7 {
                    0 => CommandAction::IsolateNetwork,
                    1 => CommandAction::ReleaseIsolation,
                    2 => CommandAction::GracefulShutdown,
                    3 => CommandAction::RotateCredential,
                    4 => CommandAction::InstallRevocationList,
                    5 => CommandAction::RequestInventory,
                    _ => CommandAction::Custom(p.n() as u16),
                };
                p.opt(action)
            },
            signer_key_id: {
                let key = KeyId((p.n()).to_be_bytes());
                p.opt(key)
            },
            reason: [
                CommandRejectReason::BadSignature,
                CommandRejectReason::UnknownSigner,
                CommandRejectReason::Replayed,
                CommandRejectReason::NotPermitted,
                CommandRejectReason::Expired,
                CommandRejectReason::WrongTarget,
                CommandRejectReason::Malformed,
            ][(p.n() % 7) as usize],
        }),
        EventKind::RemoteSessionStarted | EventKind::RemoteSessionEnded => {
            let session = RemoteSession {
                session_id: p.s(),
                user: p.s(),
                source: {
                    let source = p.socket();
                    p.opt(source)
                },
                protocol: p.s(),
                duration_ms: p.n(),
            };
            if kind == EventKind::RemoteSessionStarted {
                EventBody::RemoteSessionStarted(session)
            } else {
                EventBody::RemoteSessionEnded(session)
            }
        }
        EventKind::DataRateSample => EventBody::DataRateSample(DataRateSample {
            direction: [Direction::Inbound, Direction::Outbound, Direction::Unknown]
                [(p.n() % 3) as usize],
            window_ms: p.n() as u32,
            bytes: p.n(),
            messages: p.n(),
        }),
        EventKind::SequenceAnomaly => EventBody::SequenceAnomaly(SequenceAnomaly {
            kind: [
                SequenceAnomalyKind::Gap,
                SequenceAnomalyKind::Regression,
                SequenceAnomalyKind::Replay,
                SequenceAnomalyKind::UnseenTransition,
            ][(p.n() % 4) as usize],
            boot: p.n() as u32,
            expected: p.n(),
            observed: p.n(),
            transition: {
                let all = EventKind::ALL;
                let pair = (
                    all[p.n() as usize % all.len()],
                    all[p.n() as usize % all.len()],
                );
                p.opt(pair)
            },
        }),
        EventKind::EventsDropped => EventBody::EventsDropped(EventsDropped {
            count: p.n(),
            reason: [
                DropReason::QueueFull,
                DropReason::AggregationOverflow,
                DropReason::EncodingFailure,
                DropReason::StorageFailure,
            ][(p.n() % 4) as usize],
        }),
        EventKind::ConfigurationError => EventBody::ConfigurationError(ConfigurationError {
            component: p.s(),
            key: p.s(),
            reason: p.s(),
        }),
        EventKind::CollectionError => EventBody::CollectionError(CollectionError {
            collector: p.s(),
            path: {
                let path = p.s();
                p.opt(path)
            },
            reason: p.s(),
        }),
        EventKind::ProtocolViolation => EventBody::ProtocolViolation(ProtocolViolation {
            peer: {
                let peer = p.socket();
                p.opt(peer)
            },
            device_id: {
                let id = DeviceId([p.n() as u8; 16]);
                p.opt(id)
            },
            reason: [
                ProtocolViolationReason::OversizedFrame,
                ProtocolViolationReason::StalledHandshake,
                ProtocolViolationReason::GarbageBeforeFrame,
                ProtocolViolationReason::MalformedRecord,
                ProtocolViolationReason::UnopenableRecord,
                ProtocolViolationReason::ReplayedRecord,
                ProtocolViolationReason::Unresponsive,
            ][(p.n() % 7) as usize],
        }),
        EventKind::CommandAcknowledged => EventBody::CommandAcknowledged(CommandAcknowledged {
            command_id: p.n(),
            outcome: [
                CommandOutcome::Executed,
                CommandOutcome::Deferred,
                CommandOutcome::Rejected,
            ][(p.n() % 3) as usize],
            reason: {
                let reason = p.s();
                p.opt(reason)
            },
        }),
        EventKind::Telemetry => EventBody::Telemetry(Telemetry {
            channel: p.n() as u16,
            data: Bytes::new(
                material.strings[0]
                    .as_bytes()
                    .get(..material.strings[0].len().min(limits::TELEMETRY))
                    .unwrap_or_default(),
            )
            .expect("within limit"),
        }),
        other => panic!("build has no case for {other:?}"),
    };
    Event { header, body }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn every_kind_round_trips(material in material()) {
        let event = build(&material);
        prop_assert_eq!(event.kind(), EventKind::ALL[material.kind]);
        let bytes = postcard::to_allocvec(&event).expect("encodes");
        prop_assert!(bytes.len() <= MAX_EVENT_LEN);
        let decoded: Event<'_> = from_bytes(&bytes).expect("strict decode");
        prop_assert_eq!(&decoded, &event);
        let again = postcard::to_allocvec(&decoded).expect("re-encodes");
        prop_assert_eq!(&again, &bytes);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = from_bytes::<Event<'_>>(&bytes);
    }
}
