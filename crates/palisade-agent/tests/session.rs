//! The agent against the gateway-side peer over an in-process link: the
//! handshake, delivery with acknowledgements, commands behind the safety
//! interlock, and persisted state across restarts.
#![cfg(feature = "std")]

use std::cell::Cell;
use std::thread;
use std::time::Duration;

use palisade_agent::clock::ManualClock;
use palisade_agent::command::{CommandHandler, Execution, Safety, SafetyInterlock};
use palisade_agent::link::ChannelLink;
use palisade_agent::peer::{GatewayPeer, PeerRecord};
use palisade_agent::persist::{MemoryState, PersistedState};
use palisade_agent::{
    Agent, AgentConfig, Device, EventSink, EventSource, NoSnapshots, PollStatus, SnapshotKind,
    SnapshotSource,
};
use palisade_credential::handshake::DeviceIdentity;
use palisade_credential::testkit::{FIXTURE_NOW, FixedRng, Fixture};
use palisade_credential::{
    Command, CommandAction, DeviceId, GatewayIdentity, MAX_COMMAND_LEN, Signer, SoftwareSigner,
    VerifiedCommand,
};
use palisade_schema::{
    CommandOutcome, CommandRejectReason, EventBody, EventKind, Severity, samples,
};
use palisade_wire::{MemoryStorage, Overflow};

type TestAgent<'a> =
    Agent<'a, MemoryStorage<8192, 64>, &'a mut MemoryState, SoftwareSigner, 4, 512>;

const DEVICE_RNG: [u8; 64] = [0x11; 64];
const GATEWAY_RNG: [u8; 64] = [0x22; 64];

fn config() -> AgentConfig {
    AgentConfig {
        heartbeat_interval_ms: None,
        system_info_interval_ms: None,
        sbom_interval_ms: None,
        baseline_interval_ms: None,
        aggregation_window_ms: 0,
        aggregation_overflow: Overflow::FlushOldest,
        ..AgentConfig::default()
    }
}

fn new_agent<'a>(
    fixture: &'a Fixture,
    state: &'a mut MemoryState,
    config: AgentConfig,
) -> TestAgent<'a> {
    let identity = DeviceIdentity {
        intermediate: &fixture.intermediate,
        credential: &fixture.device,
        signer: &fixture.device_signer,
    };
    Agent::new(
        config,
        identity,
        fixture.roots(),
        DeviceId(fixture.device_id),
        MemoryStorage::new(),
        state,
    )
    .expect("memory state never fails")
}

/// Runs the gateway peer in a thread: admits the device, sends `commands`,
/// then collects records until `until` returns true for the list so far.
fn spawn_peer(
    mut link: ChannelLink,
    commands: Vec<Vec<u8>>,
    until: impl Fn(&[PeerRecord]) -> bool + Send + 'static,
) -> thread::JoinHandle<Vec<PeerRecord>> {
    thread::spawn(move || {
        let fixture = Fixture::new();
        let identity = GatewayIdentity {
            credential: &fixture.gateway,
            signer: &fixture.gateway_signer,
        };
        let mut peer = GatewayPeer::new(identity, fixture.verifier(), 200);
        peer.accept(&mut link, &mut FixedRng::new(&GATEWAY_RNG), FIXTURE_NOW)
            .expect("device admitted");
        for command in &commands {
            peer.send_command(&mut link, command).expect("command sent");
        }
        let mut records = Vec::new();
        while !until(&records) {
            if let Some(record) = peer.receive(&mut link).expect("record received") {
                records.push(record);
            }
        }
        records
    })
}

struct Interlock {
    therapy_running: Cell<bool>,
}

impl SafetyInterlock for Interlock {
    fn check(&self, action: &CommandAction) -> Safety {
        match action {
            CommandAction::GracefulShutdown if self.therapy_running.get() => {
                Safety::Unsafe("infusion running")
            }
            _ => Safety::Safe,
        }
    }
}

#[derive(Default)]
struct Handler {
    executed: Vec<u64>,
}

impl CommandHandler for Handler {
    fn execute(&mut self, command: &VerifiedCommand) -> Execution {
        match command.action {
            CommandAction::RotateCredential => Execution::Rejected("no secure element"),
            _ => {
                self.executed.push(command.command_id);
                Execution::Executed
            }
        }
    }
}

struct Script {
    bodies: Vec<EventBody<'static>>,
}

impl EventSource for Script {
    fn poll(&mut self, _uptime_ms: u64, sink: &mut dyn EventSink) {
        for body in self.bodies.drain(..) {
            sink.record(Severity::Medium, &body);
        }
    }
}

fn sign(fixture: &Fixture, action: CommandAction, command_id: u64, counter: u64) -> Vec<u8> {
    let command = Command {
        version: palisade_credential::COMMAND_VERSION,
        action,
        target: DeviceId(fixture.device_id),
        command_id,
        counter,
        not_after: FIXTURE_NOW + 600,
        signer_credential: &fixture.gateway,
    };
    let mut out = [0u8; MAX_COMMAND_LEN];
    let len = command
        .sign(&fixture.gateway_signer, &mut out)
        .expect("command signs");
    out[..len].to_vec()
}

fn kinds(records: &[PeerRecord]) -> Vec<EventKind> {
    records
        .iter()
        .map(|r| r.event().expect("event decodes").kind())
        .collect()
}

/// Polls until `done` or the bounded number of polls runs out.
fn poll_until(
    agent: &mut TestAgent<'_>,
    link: &mut ChannelLink,
    clock: &ManualClock,
    device: &mut Device<'_>,
    done: impl Fn(&TestAgent<'_>) -> bool,
) {
    for _ in 0..500 {
        agent.poll(link, clock, device).expect("poll succeeds");
        clock.advance(10);
        if done(agent) {
            return;
        }
    }
    panic!("agent did not reach the expected state within 500 polls: {agent:?}");
}

#[test]
fn events_delivered_in_order_and_acknowledged() {
    let fixture = Fixture::new();
    let mut state = MemoryState::new();
    let mut agent = new_agent(&fixture, &mut state, config());
    let (mut device_link, peer_link) = ChannelLink::pair(Duration::from_millis(20));
    let expected = [
        EventKind::ProcessStarted,
        EventKind::Login,
        EventKind::FileIntegrityChanged,
        EventKind::PeripheralAttached,
    ];
    let peer = spawn_peer(peer_link, Vec::new(), move |records| records.len() >= 4);

    let clock = ManualClock::new(1_000);
    agent
        .connect(&mut device_link, &clock, &mut FixedRng::new(&DEVICE_RNG))
        .expect("handshake completes");
    assert!(agent.is_online());
    assert_eq!(agent.state().last_known_good_time, FIXTURE_NOW);

    let mut script = Script {
        bodies: expected.iter().map(|kind| samples::body(*kind)).collect(),
    };
    let mut sources: [&mut dyn EventSource; 1] = [&mut script];
    let mut handler = Handler::default();
    let interlock = Interlock {
        therapy_running: Cell::new(false),
    };
    let mut device = Device {
        sources: &mut sources,
        snapshots: &mut NoSnapshots,
        handler: &mut handler,
        interlock: &interlock,
    };
    poll_until(&mut agent, &mut device_link, &clock, &mut device, |agent| {
        agent.queued() == 0 && agent.counters().acknowledged == 4
    });
    let records = peer.join().expect("peer thread");

    // Kinds that the aggregator merges (process starts, logins) leave it at
    // the end of their window, after kinds that pass straight through; the
    // header sequence numbers keep the order in which they happened.
    let mut by_sequence: Vec<(u64, EventKind)> = records
        .iter()
        .map(|r| {
            let event = r.event().expect("decodes");
            (event.header.sequence, event.kind())
        })
        .collect();
    by_sequence.sort();
    assert_eq!(
        by_sequence,
        [
            (0, expected[0]),
            (1, expected[1]),
            (2, expected[2]),
            (3, expected[3])
        ]
    );
    assert_eq!(
        kinds(&records),
        [expected[2], expected[3], expected[0], expected[1]]
    );
    let queue_sequences: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(queue_sequences, [0, 1, 2, 3]);
    assert!(records.iter().all(|r| r.boot == 1));
    let counters = agent.counters();
    assert_eq!(counters.sent, 4);
    assert_eq!(counters.dropped, 0);
    assert_eq!(counters.handshakes, 1);
}

#[test]
fn commands_executed_deferred_and_rejected() {
    let fixture = Fixture::new();
    let mut state = MemoryState::new();
    let mut agent = new_agent(&fixture, &mut state, config());
    let (mut device_link, peer_link) = ChannelLink::pair(Duration::from_millis(20));

    let mut replayed = sign(&fixture, CommandAction::IsolateNetwork, 1, 10);
    let mut tampered = sign(&fixture, CommandAction::RequestInventory, 5, 50);
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    let commands = vec![
        sign(&fixture, CommandAction::IsolateNetwork, 1, 10),
        sign(&fixture, CommandAction::GracefulShutdown, 2, 11),
        sign(&fixture, CommandAction::RotateCredential, 3, 12),
        std::mem::take(&mut replayed),
        tampered,
    ];
    // 1 executed, 2 deferred then executed, 3 rejected by the device,
    // 1 replayed (rejected + acknowledged), 5 tampered (rejected + acknowledged).
    let peer = spawn_peer(peer_link, commands, |records| {
        records
            .iter()
            .filter(|r| {
                matches!(
                    r.event().map(|e| e.kind()),
                    Ok(EventKind::CommandAcknowledged | EventKind::CommandRejected)
                )
            })
            .count()
            >= 8
    });

    let clock = ManualClock::new(1_000);
    agent
        .connect(&mut device_link, &clock, &mut FixedRng::new(&DEVICE_RNG))
        .expect("handshake completes");
    let mut handler = Handler::default();
    let interlock = Interlock {
        therapy_running: Cell::new(true),
    };
    {
        let mut device = Device {
            sources: &mut [],
            snapshots: &mut NoSnapshots,
            handler: &mut handler,
            interlock: &interlock,
        };
        poll_until(&mut agent, &mut device_link, &clock, &mut device, |agent| {
            agent.deferred().len() == 1 && agent.counters().commands_rejected == 3
        });
        interlock.therapy_running.set(false);
        poll_until(&mut agent, &mut device_link, &clock, &mut device, |agent| {
            agent.deferred().is_empty() && agent.queued() == 0
        });
    }
    let records = peer.join().expect("peer thread");
    assert_eq!(handler.executed, [1, 2]);

    let mut acknowledgements = Vec::new();
    let mut rejections = Vec::new();
    for record in &records {
        match record.event().expect("decodes").body {
            EventBody::CommandAcknowledged(ack) => acknowledgements.push((
                ack.command_id,
                ack.outcome,
                ack.reason.map(|r| r.as_str().to_owned()),
            )),
            EventBody::CommandRejected(rejected) => {
                rejections.push((rejected.command_id, rejected.reason))
            }
            _ => {}
        }
    }
    assert_eq!(
        acknowledgements,
        [
            (1, CommandOutcome::Executed, None),
            (
                2,
                CommandOutcome::Deferred,
                Some("infusion running".to_owned())
            ),
            (
                3,
                CommandOutcome::Rejected,
                Some("no secure element".to_owned())
            ),
            (
                1,
                CommandOutcome::Rejected,
                Some("counter is not above the last accepted command".to_owned())
            ),
            (
                5,
                CommandOutcome::Rejected,
                Some("signature does not verify".to_owned())
            ),
            (2, CommandOutcome::Executed, None),
        ]
    );
    assert_eq!(
        rejections,
        [
            (Some(1), CommandRejectReason::Replayed),
            (Some(5), CommandRejectReason::BadSignature),
        ]
    );
    drop(agent);
    assert_eq!(state.state().map(|s| s.last_command_counter), Some(12));
}

#[test]
fn deferred_command_expires() {
    let fixture = Fixture::new();
    let mut state = MemoryState::new();
    let mut agent = new_agent(&fixture, &mut state, config());
    let (mut device_link, peer_link) = ChannelLink::pair(Duration::from_millis(20));
    let commands = vec![sign(&fixture, CommandAction::GracefulShutdown, 9, 1)];
    let peer = spawn_peer(peer_link, commands, |records| !records.is_empty());
    let clock = ManualClock::new(0);
    agent
        .connect(&mut device_link, &clock, &mut FixedRng::new(&DEVICE_RNG))
        .expect("handshake completes");
    let mut handler = Handler::default();
    let interlock = Interlock {
        therapy_running: Cell::new(true),
    };
    let mut device = Device {
        sources: &mut [],
        snapshots: &mut NoSnapshots,
        handler: &mut handler,
        interlock: &interlock,
    };
    poll_until(&mut agent, &mut device_link, &clock, &mut device, |agent| {
        agent.deferred().len() == 1
    });
    let _ = peer.join();

    // The device learns a synchronized wall clock past the command's expiry.
    clock.set_wall_clock(Some(palisade_schema::WallClock {
        unix_ms: (FIXTURE_NOW + 601) * 1000,
        synchronized: true,
    }));
    agent.disconnect();
    agent
        .poll(&mut device_link, &clock, &mut device)
        .expect("offline poll succeeds");
    assert!(agent.deferred().is_empty());
    assert_eq!(agent.counters().commands_rejected, 1);
    assert_eq!(agent.counters().commands_executed, 0);
}

#[test]
fn boot_counter_and_replay_state_survive_restart() {
    let fixture = Fixture::new();
    let mut state = MemoryState::with_state(PersistedState {
        boot_counter: 6,
        last_command_counter: 40,
        last_known_good_time: FIXTURE_NOW,
        revocation_list_number: 3,
    });
    {
        let agent = new_agent(&fixture, &mut state, config());
        assert_eq!(agent.state().boot_counter, 7);
    }
    let stored = state.state().expect("stored at start");
    assert_eq!(stored.boot_counter, 7);
    assert_eq!(stored.last_command_counter, 40);

    // A command with a counter at or below the stored one is a replay after the reboot.
    let mut agent = new_agent(&fixture, &mut state, config());
    assert_eq!(agent.state().boot_counter, 8);
    let (mut device_link, peer_link) = ChannelLink::pair(Duration::from_millis(20));
    let commands = vec![sign(&fixture, CommandAction::IsolateNetwork, 77, 40)];
    let peer = spawn_peer(peer_link, commands, |records| records.len() >= 2);
    let clock = ManualClock::new(0);
    agent
        .connect(&mut device_link, &clock, &mut FixedRng::new(&DEVICE_RNG))
        .expect("handshake completes");
    let mut handler = Handler::default();
    let interlock = Interlock {
        therapy_running: Cell::new(false),
    };
    let mut device = Device {
        sources: &mut [],
        snapshots: &mut NoSnapshots,
        handler: &mut handler,
        interlock: &interlock,
    };
    poll_until(&mut agent, &mut device_link, &clock, &mut device, |agent| {
        agent.counters().commands_rejected == 1 && agent.queued() == 0
    });
    let records = peer.join().expect("peer thread");
    assert!(handler.executed.is_empty());
    assert!(records.iter().all(|r| r.boot == 8));
    let rejected = records
        .iter()
        .find_map(|r| match r.event().expect("decodes").body {
            EventBody::CommandRejected(rejected) => Some(rejected.reason),
            _ => None,
        });
    assert_eq!(rejected, Some(CommandRejectReason::Replayed));
}

#[test]
fn gateway_with_untrusted_credential_is_rejected() {
    let fixture = Fixture::new();
    let mut state = MemoryState::new();
    // Pin only the device maker's root: the gateway's operator root is unknown.
    let mut roots = palisade_credential::TrustStore::new();
    roots
        .pin(
            palisade_credential::TrustAnchor::ed25519(fixture.root_signer.public_key())
                .expect("key"),
        )
        .expect("fits");
    let identity = DeviceIdentity {
        intermediate: &fixture.intermediate,
        credential: &fixture.device,
        signer: &fixture.device_signer,
    };
    let mut agent: TestAgent<'_> = Agent::new(
        config(),
        identity,
        roots,
        DeviceId(fixture.device_id),
        MemoryStorage::new(),
        &mut state,
    )
    .expect("memory state");
    let (mut device_link, mut peer_link) = ChannelLink::pair(Duration::from_millis(20));
    let peer = thread::spawn(move || {
        let fixture = Fixture::new();
        let identity = GatewayIdentity {
            credential: &fixture.gateway,
            signer: &fixture.gateway_signer,
        };
        let mut peer = GatewayPeer::new(identity, fixture.verifier(), 100);
        // The device never sends message 3, so the peer times out.
        peer.accept(
            &mut peer_link,
            &mut FixedRng::new(&GATEWAY_RNG),
            FIXTURE_NOW,
        )
        .is_err()
    });
    let clock = ManualClock::new(0);
    let error = agent
        .connect(&mut device_link, &clock, &mut FixedRng::new(&DEVICE_RNG))
        .expect_err("gateway credential is not trusted");
    assert!(
        matches!(error, palisade_agent::AgentError::Handshake(_)),
        "{error}"
    );
    assert!(peer.join().expect("peer thread"));
    assert!(!agent.is_online());
    assert_eq!(agent.counters().handshake_failures, 1);
    // The rejection is queued as a security event for the next session.
    assert_eq!(agent.queued(), 1);
    let mut device = Device {
        sources: &mut [],
        snapshots: &mut NoSnapshots,
        handler: &mut Handler::default(),
        interlock: &Interlock {
            therapy_running: Cell::new(false),
        },
    };
    let status = agent
        .poll(&mut device_link, &clock, &mut device)
        .expect("offline poll");
    assert_eq!(status, PollStatus::Offline);
    assert_eq!(agent.queued(), 1);
}

struct Snapshots {
    taken: Vec<SnapshotKind>,
}

impl SnapshotSource for Snapshots {
    fn snapshot(&mut self, kind: SnapshotKind, sink: &mut dyn EventSink) {
        self.taken.push(kind);
        let body = match kind {
            SnapshotKind::SystemInfo => samples::body(EventKind::SystemInfo),
            SnapshotKind::Sbom => samples::body(EventKind::SoftwareComponent),
            SnapshotKind::Baseline => samples::body(EventKind::BaselineCheck),
        };
        sink.record(Severity::Info, &body);
    }
}

#[test]
fn heartbeat_and_snapshots_follow_intervals() {
    let fixture = Fixture::new();
    let mut state = MemoryState::new();
    let config = AgentConfig {
        heartbeat_interval_ms: Some(1_000),
        system_info_interval_ms: Some(10_000),
        sbom_interval_ms: Some(20_000),
        baseline_interval_ms: Some(5_000),
        ..config()
    };
    let mut agent = new_agent(&fixture, &mut state, config);
    let mut snapshots = Snapshots { taken: Vec::new() };
    let clock = ManualClock::new(0);
    let (mut link, _peer) = ChannelLink::pair(Duration::from_millis(1));
    {
        let mut device = Device {
            sources: &mut [],
            snapshots: &mut snapshots,
            handler: &mut Handler::default(),
            interlock: &Interlock {
                therapy_running: Cell::new(false),
            },
        };
        // Uptime 0, 500, ..., 20000 ms: 41 polls.
        for _ in 0..=40 {
            agent
                .poll(&mut link, &clock, &mut device)
                .expect("offline poll");
            clock.advance(500);
        }
    }
    let count = |kind| snapshots.taken.iter().filter(|k| **k == kind).count();
    assert_eq!(count(SnapshotKind::SystemInfo), 3); // 0, 10 s, 20 s
    assert_eq!(count(SnapshotKind::Sbom), 2); // 0, 20 s
    assert_eq!(count(SnapshotKind::Baseline), 5); // 0, 5, 10, 15, 20 s
    // Heartbeats at 1 s, 2 s, ..., 20 s, plus the snapshots' events.
    assert_eq!(agent.counters().recorded, 20 + 3 + 2 + 5);
    assert_eq!(agent.queued(), 30);
}

#[test]
fn installed_revocation_list_number_is_stored() {
    let fixture = Fixture::new();
    let mut state = MemoryState::new();
    let mut agent = new_agent(&fixture, &mut state, config());
    let (mut device_link, peer_link) = ChannelLink::pair(Duration::from_millis(20));
    let commands = vec![
        sign(
            &fixture,
            CommandAction::InstallRevocationList { number: 5 },
            1,
            1,
        ),
        // An older list number executes (the handler decides) but does not
        // move the stored number back.
        sign(
            &fixture,
            CommandAction::InstallRevocationList { number: 3 },
            2,
            2,
        ),
    ];
    let peer = spawn_peer(peer_link, commands, |records| records.len() >= 2);
    let clock = ManualClock::new(0);
    agent
        .connect(&mut device_link, &clock, &mut FixedRng::new(&DEVICE_RNG))
        .expect("handshake completes");
    let mut handler = Handler::default();
    let interlock = Interlock {
        therapy_running: Cell::new(false),
    };
    let mut device = Device {
        sources: &mut [],
        snapshots: &mut NoSnapshots,
        handler: &mut handler,
        interlock: &interlock,
    };
    poll_until(&mut agent, &mut device_link, &clock, &mut device, |agent| {
        agent.counters().commands_executed == 2 && agent.queued() == 0
    });
    peer.join().expect("peer thread");
    assert_eq!(agent.state().revocation_list_number, 5);
    drop(agent);
    let stored = state.state().expect("stored");
    assert_eq!(stored.revocation_list_number, 5);
    assert_eq!(stored.last_command_counter, 2);
}
