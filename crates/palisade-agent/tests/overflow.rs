//! A full queue while the gateway does not acknowledge: the oldest records
//! are dropped, the drop is reported in an events-dropped event, and every
//! recorded event is either delivered or counted in that report.
#![cfg(feature = "std")]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::thread;
use std::time::Duration;

use palisade_agent::clock::ManualClock;
use palisade_agent::command::{CommandHandler, Execution, Safety, SafetyInterlock};
use palisade_agent::link::{ChannelLink, Link};
use palisade_agent::peer::GatewayPeer;
use palisade_agent::persist::MemoryState;
use palisade_agent::{Agent, AgentConfig, Device, NoSnapshots};
use palisade_credential::handshake::DeviceIdentity;
use palisade_credential::testkit::{FIXTURE_NOW, FixedRng, Fixture};
use palisade_credential::{
    CommandAction, DeviceId, GatewayIdentity, SoftwareSigner, VerifiedCommand,
};
use palisade_schema::{EventBody, EventKind, Severity, samples};
use palisade_wire::{MemoryStorage, OverflowPolicy};

/// Frames in memory in both directions.
#[derive(Default)]
struct QueueLink {
    inbox: VecDeque<Vec<u8>>,
    outbox: VecDeque<Vec<u8>>,
}

impl Link for QueueLink {
    type Error = Infallible;

    fn send(&mut self, frame: &[u8]) -> Result<(), Infallible> {
        self.outbox.push_back(frame.to_vec());
        Ok(())
    }

    fn recv(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, Infallible> {
        Ok(self.inbox.pop_front().map(|frame| {
            buffer[..frame.len()].copy_from_slice(&frame);
            frame.len()
        }))
    }
}

struct Idle;

impl SafetyInterlock for Idle {
    fn check(&self, _action: &CommandAction) -> Safety {
        Safety::Safe
    }
}

impl CommandHandler for Idle {
    fn execute(&mut self, _command: &VerifiedCommand) -> Execution {
        Execution::Executed
    }
}

#[test]
fn overflow_is_reported_not_lost() {
    let fixture: &'static Fixture = Box::leak(Box::new(Fixture::new()));
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
        queue_overflow: OverflowPolicy::DropOldest,
        ..AgentConfig::default()
    };
    let mut state = MemoryState::new();
    // Room for 6 records: a long outage overflows it.
    let mut agent: Agent<'_, MemoryStorage<2048, 6>, _, SoftwareSigner, 4, 256> = Agent::new(
        config,
        identity,
        fixture.roots(),
        DeviceId(fixture.device_id),
        MemoryStorage::new(),
        &mut state,
    )
    .expect("state");

    let (mut device_side, mut gateway_side) = ChannelLink::pair(Duration::from_secs(5));
    let peer = thread::spawn(move || {
        let identity = GatewayIdentity {
            credential: fixture.gateway.as_slice(),
            signer: &fixture.gateway_signer,
        };
        let mut peer = GatewayPeer::new(identity, fixture.verifier(), 2);
        peer.accept(
            &mut gateway_side,
            &mut FixedRng::new(&[0x61; 64]),
            FIXTURE_NOW,
        )
        .expect("admitted");
        peer
    });
    let clock = ManualClock::new(0);
    agent
        .connect(&mut device_side, &clock, &mut FixedRng::new(&[0x62; 64]))
        .expect("handshake");
    let mut peer = peer.join().expect("peer thread");

    let mut link = QueueLink::default();
    let mut idle = Idle;
    let mut device = Device {
        sources: &mut [],
        snapshots: &mut NoSnapshots,
        handler: &mut idle,
        interlock: &Idle,
    };
    // 20 events while the gateway acknowledges nothing: frames go out but
    // no acknowledgement comes back.
    let recorded = 20u64;
    for _ in 0..recorded {
        clock.advance(100);
        agent.record(&clock, Severity::Low, &samples::body(EventKind::Telemetry));
        agent.poll(&mut link, &clock, &mut device).expect("poll");
    }
    let dropped = agent.counters().dropped;
    assert!(dropped > 0, "the queue overflowed: {:?}", agent.counters());
    link.outbox.clear(); // lost in the outage

    // The gateway comes back: the device retransmits, the peer acknowledges.
    let mut peer_link = QueueLink::default();
    let mut delivered = Vec::new();
    for _ in 0..200 {
        clock.advance(2_000);
        agent.poll(&mut link, &clock, &mut device).expect("poll");
        while let Some(frame) = link.outbox.pop_front() {
            peer_link.inbox.push_back(frame);
            if let Some(record) = peer.receive(&mut peer_link).expect("record") {
                delivered.push(record);
            }
        }
        link.inbox.extend(peer_link.outbox.drain(..));
        if agent.queued() == 0 && link.inbox.is_empty() {
            break;
        }
    }
    assert_eq!(agent.queued(), 0, "{:?}", agent.counters());

    let mut telemetry = 0u64;
    let mut reported = 0u64;
    for record in &delivered {
        match record.event().expect("decodes").body {
            EventBody::Telemetry(_) => telemetry += 1,
            EventBody::EventsDropped(report) => reported += report.count,
            other => panic!("unexpected event {other:?}"),
        }
    }
    assert_eq!(reported, dropped, "every drop is in a report");
    assert_eq!(telemetry + reported, recorded, "nothing lost silently");
    assert!(agent.counters().retried > 0, "{:?}", agent.counters());
}
