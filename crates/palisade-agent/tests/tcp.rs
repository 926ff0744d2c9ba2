//! The agent over TCP on 127.0.0.1 against the gateway peer: handshake,
//! delivery, and delivery again after the connection drops.
#![cfg(feature = "std")]

use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use palisade_agent::clock::ManualClock;
use palisade_agent::command::{CommandHandler, Execution, Safety, SafetyInterlock};
use palisade_agent::link::tcp_link;
use palisade_agent::peer::{GatewayPeer, PeerRecord};
use palisade_agent::persist::MemoryState;
use palisade_agent::{Agent, AgentConfig, Device, NoSnapshots};
use palisade_credential::handshake::DeviceIdentity;
use palisade_credential::testkit::{FIXTURE_NOW, FixedRng, Fixture};
use palisade_credential::{
    CommandAction, DeviceId, GatewayIdentity, SoftwareSigner, VerifiedCommand,
};
use palisade_schema::{EventKind, Severity, samples};
use palisade_wire::MemoryStorage;

struct Refuses;

impl SafetyInterlock for Refuses {
    fn check(&self, _action: &CommandAction) -> Safety {
        Safety::Unsafe("test device")
    }
}

impl CommandHandler for Refuses {
    fn execute(&mut self, _command: &VerifiedCommand) -> Execution {
        Execution::Rejected("test device")
    }
}

/// Accepts one connection per entry of `per_session`, in turn. From each
/// but the last it receives until that many new records arrived, then hangs
/// up; the last runs until all four distinct events arrived.
fn spawn_gateway(
    listener: TcpListener,
    per_session: Vec<usize>,
) -> thread::JoinHandle<Vec<PeerRecord>> {
    thread::spawn(move || {
        let fixture = Fixture::new();
        let mut records = Vec::new();
        let sessions = per_session.len();
        for (session, wanted) in per_session.into_iter().enumerate() {
            let (stream, _) = listener.accept().expect("device connects");
            let mut link = tcp_link(stream, 50, Duration::from_secs(5)).expect("link");
            let identity = GatewayIdentity {
                credential: &fixture.gateway,
                signer: &fixture.gateway_signer,
            };
            let mut peer = GatewayPeer::new(identity, fixture.verifier(), 100);
            let seed = [session as u8 + 1; 64];
            peer.accept(&mut link, &mut FixedRng::new(&seed), FIXTURE_NOW)
                .expect("device admitted");
            // A record whose acknowledgement was lost with the first
            // connection arrives again on the second (at-least-once across
            // a reconnection), so the last session waits for all four
            // distinct events.
            let last = session == sessions - 1;
            let mut got = 0;
            while (!last && got < wanted) || (last && distinct(&records) < 4) {
                if let Some(record) = peer.receive(&mut link).expect("record") {
                    records.push(record);
                    got += 1;
                }
            }
        }
        records
    })
}

fn distinct(records: &[PeerRecord]) -> usize {
    let mut sequences: Vec<u64> = records
        .iter()
        .map(|r| r.event().expect("decodes").header.sequence)
        .collect();
    sequences.sort_unstable();
    sequences.dedup();
    sequences.len()
}

#[test]
fn agent_delivers_over_loopback_tcp_across_reconnect() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let address = listener.local_addr().expect("address");
    // First session: two events arrive, then the gateway hangs up before
    // the third is acknowledged. Second session: the rest.
    let gateway = spawn_gateway(listener, vec![2, 2]);

    let fixture = Fixture::new();
    let identity = DeviceIdentity {
        intermediate: &fixture.intermediate,
        credential: &fixture.device,
        signer: &fixture.device_signer,
    };
    let config = AgentConfig {
        heartbeat_interval_ms: None,
        system_info_interval_ms: None,
        sbom_interval_ms: None,
        baseline_interval_ms: None,
        aggregation_window_ms: 0,
        ..AgentConfig::default()
    };
    let mut state = MemoryState::new();
    let mut agent: Agent<'_, MemoryStorage<4096, 32>, _, SoftwareSigner, 4, 256> = Agent::new(
        config,
        identity,
        fixture.roots(),
        DeviceId(fixture.device_id),
        MemoryStorage::new(),
        &mut state,
    )
    .expect("state");
    let clock = ManualClock::new(0);
    let mut handler = Refuses;
    let mut device = Device {
        sources: &mut [],
        snapshots: &mut NoSnapshots,
        handler: &mut handler,
        interlock: &Refuses,
    };
    let kinds = [
        EventKind::PeripheralAttached,
        EventKind::FileIntegrityChanged,
        EventKind::Telemetry,
        EventKind::ListeningPortClosed,
    ];

    let mut sessions = 0;
    let mut polls = 0;
    let mut recorded = 0;
    while agent.counters().acknowledged < 4 || agent.queued() > 0 {
        polls += 1;
        assert!(
            polls < 2_000,
            "delivery did not finish: {:?}",
            agent.counters()
        );
        if !agent.is_online() {
            assert!(
                sessions < 2,
                "a third connection was needed: {:?}",
                agent.counters()
            );
            let stream = TcpStream::connect(address).expect("connect to the gateway");
            let mut link = tcp_link(stream, 20, Duration::from_secs(5)).expect("link");
            agent
                .connect(&mut link, &clock, &mut FixedRng::new(&[0x77; 64]))
                .expect("handshake over TCP");
            sessions += 1;
            // Poll on this connection until it fails or delivery is done.
            loop {
                if recorded < kinds.len() {
                    clock.advance(100);
                    agent.record(&clock, Severity::Low, &samples::body(kinds[recorded]));
                    recorded += 1;
                }
                if agent.poll(&mut link, &clock, &mut device).is_err() {
                    break;
                }
                polls += 1;
                if (agent.counters().acknowledged >= 4 && agent.queued() == 0) || polls > 2_000 {
                    break;
                }
            }
        }
    }
    let records = gateway.join().expect("gateway thread");
    let mut sequences: Vec<u64> = records
        .iter()
        .map(|r| r.event().expect("decodes").header.sequence)
        .collect();
    sequences.sort_unstable();
    sequences.dedup();
    assert_eq!(sequences, [0, 1, 2, 3], "every event arrived");
    assert_eq!(sessions, 2);
    assert_eq!(agent.counters().handshakes, 2);
    assert_eq!(agent.counters().dropped, 0);
}
