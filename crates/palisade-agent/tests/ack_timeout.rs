//! The acknowledgement timeout: a session whose gateway stops
//! acknowledging is dropped after `AgentConfig::ack_timeout_ms`, and the
//! unacknowledged records are delivered on the next session.
//!
//! After the handshake the gateway peer runs in the test's own thread, so
//! the test decides when acknowledgements flow and the manual clock makes
//! every boundary exact.
#![cfg(feature = "std")]

use std::time::Duration;

use palisade_agent::clock::{Clock, ManualClock};
use palisade_agent::command::{CommandHandler, Execution, Safety, SafetyInterlock};
use palisade_agent::link::ChannelLink;
use palisade_agent::peer::GatewayPeer;
use palisade_agent::persist::MemoryState;
use palisade_agent::{
    Agent, AgentConfig, AgentError, DEFAULT_ACK_TIMEOUT_MS, Device, NoSnapshots, PollStatus,
};
use palisade_credential::handshake::DeviceIdentity;
use palisade_credential::testkit::{FIXTURE_NOW, FixedRng, Fixture};
use palisade_credential::{
    CommandAction, DeviceId, GatewayIdentity, SoftwareSigner, VerifiedCommand,
};
use palisade_schema::{EventKind, Severity, samples};
use palisade_wire::{MemoryStorage, Overflow};

type TestAgent<'a> = Agent<'a, MemoryStorage<8192, 64>, MemoryState, SoftwareSigner, 0, 0>;
type TestPeer<'a> = GatewayPeer<'a, SoftwareSigner>;

const DEVICE_RNG: [u8; 64] = [0x11; 64];
const GATEWAY_RNG: [u8; 64] = [0x22; 64];
const ACK_TIMEOUT_MS: u64 = 5_000;

fn config(ack_timeout_ms: Option<u64>, heartbeat_interval_ms: Option<u64>) -> AgentConfig {
    AgentConfig {
        heartbeat_interval_ms,
        system_info_interval_ms: None,
        sbom_interval_ms: None,
        baseline_interval_ms: None,
        aggregation_window_ms: 0,
        aggregation_overflow: Overflow::FlushOldest,
        ack_timeout_ms,
        ..AgentConfig::default()
    }
}

fn new_agent(fixture: &Fixture, config: AgentConfig) -> TestAgent<'_> {
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
        MemoryState::new(),
    )
    .expect("memory state never fails")
}

/// Runs the handshake between `agent` and a new gateway peer over a fresh
/// channel pair; returns the agent's end, and the peer with its end.
fn connect<'f>(
    agent: &mut TestAgent<'_>,
    fixture: &'f Fixture,
    clock: &ManualClock,
) -> (ChannelLink, TestPeer<'f>, ChannelLink) {
    let (mut device_link, mut peer_link) = ChannelLink::pair(Duration::from_millis(1));
    let peer = std::thread::scope(|scope| {
        let accepting = scope.spawn(|| {
            let identity = GatewayIdentity {
                credential: &fixture.gateway,
                signer: &fixture.gateway_signer,
            };
            let mut peer = GatewayPeer::new(identity, fixture.verifier(), 5_000);
            peer.accept(
                &mut peer_link,
                &mut FixedRng::new(&GATEWAY_RNG),
                FIXTURE_NOW,
            )
            .expect("device admitted");
            peer
        });
        agent
            .connect(&mut device_link, clock, &mut FixedRng::new(&DEVICE_RNG))
            .expect("handshake completes");
        accepting.join().expect("peer thread")
    });
    (device_link, peer, peer_link)
}

struct NoCommands;

impl SafetyInterlock for NoCommands {
    fn check(&self, _: &CommandAction) -> Safety {
        Safety::Safe
    }
}

impl CommandHandler for NoCommands {
    fn execute(&mut self, _: &VerifiedCommand) -> Execution {
        Execution::Rejected("no commands in this test")
    }
}

/// Moves the clock forward to uptime `at` and polls once.
fn poll_at(
    agent: &mut TestAgent<'_>,
    link: &mut ChannelLink,
    clock: &ManualClock,
    at: u64,
) -> Result<PollStatus, AgentError<palisade_agent::link::ChannelLinkError>> {
    clock.advance(at - clock.uptime_ms());
    let (mut handler, interlock) = (NoCommands, NoCommands);
    let mut device = Device {
        sources: &mut [],
        snapshots: &mut NoSnapshots,
        handler: &mut handler,
        interlock: &interlock,
    };
    agent.poll(link, clock, &mut device)
}

fn record_login(agent: &mut TestAgent<'_>, clock: &ManualClock) {
    agent.record(clock, Severity::High, &samples::body(EventKind::Login));
}

fn assert_timed_out(
    result: Result<PollStatus, AgentError<palisade_agent::link::ChannelLinkError>>,
    waited: u64,
    in_flight: usize,
) {
    match result {
        Err(AgentError::AckTimeout {
            waited_ms,
            timeout_ms,
            in_flight: records,
        }) => {
            assert_eq!(waited_ms, waited, "time since the last progress");
            assert_eq!(timeout_ms, ACK_TIMEOUT_MS, "reported limit");
            assert_eq!(records, in_flight, "records in flight");
        }
        other => panic!("expected an acknowledgement timeout, got {other:?}"),
    }
}

#[test]
fn default_ack_timeout_is_sixty_seconds() {
    assert_eq!(DEFAULT_ACK_TIMEOUT_MS, 60_000);
    assert_eq!(
        AgentConfig::default().ack_timeout_ms,
        Some(DEFAULT_ACK_TIMEOUT_MS)
    );
}

#[test]
fn ack_timeout_boundary_then_resend() {
    let fixture = Fixture::new();
    let mut agent = new_agent(&fixture, config(Some(ACK_TIMEOUT_MS), None));
    let clock = ManualClock::new(1_000);
    // The peer end stays open but the peer never reads it, as a stalled
    // gateway would.
    let (mut link, _stalled_peer, _stalled_end) = connect(&mut agent, &fixture, &clock);

    record_login(&mut agent, &clock);
    let status = poll_at(&mut agent, &mut link, &clock, 1_000);
    assert_eq!(status.expect("first poll"), PollStatus::Online);
    assert_eq!(agent.counters().sent, 1);

    // One millisecond short of the limit the session stays up, although the
    // record has been retransmitted in between.
    let status = poll_at(&mut agent, &mut link, &clock, 1_000 + ACK_TIMEOUT_MS - 1);
    assert_eq!(status.expect("poll short of the limit"), PollStatus::Online);
    assert!(agent.is_online());
    assert_eq!(agent.counters().ack_timeouts, 0);
    assert!(agent.counters().retried >= 1, "{:?}", agent.counters());

    // At the limit it is dropped and counted; the record stays queued.
    let result = poll_at(&mut agent, &mut link, &clock, 1_000 + ACK_TIMEOUT_MS);
    assert_timed_out(result, ACK_TIMEOUT_MS, 1);
    assert!(!agent.is_online());
    assert_eq!(agent.counters().ack_timeouts, 1);
    assert_eq!(agent.queued(), 1);
    assert_eq!(agent.counters().dropped, 0);

    // A new session delivers the record once and the queue empties.
    let (mut link, mut peer, mut peer_end) = connect(&mut agent, &fixture, &clock);
    let status = poll_at(&mut agent, &mut link, &clock, 1_000 + ACK_TIMEOUT_MS + 10);
    assert_eq!(status.expect("poll on the new session"), PollStatus::Online);
    let record = peer
        .receive(&mut peer_end)
        .expect("record received")
        .expect("record is new to this peer");
    assert_eq!((record.boot, record.seq), (1, 0));
    assert_eq!(
        record.event().expect("event decodes").kind(),
        EventKind::Login
    );
    let status = poll_at(&mut agent, &mut link, &clock, 1_000 + ACK_TIMEOUT_MS + 20);
    assert_eq!(status.expect("poll for the ack"), PollStatus::Online);
    assert_eq!(agent.queued(), 0);
    assert_eq!(agent.counters().acknowledged, 1);
    assert_eq!(agent.counters().ack_timeouts, 1);
    assert_eq!(agent.counters().handshakes, 2);
}

#[test]
fn ack_progress_restarts_timeout() {
    let fixture = Fixture::new();
    let mut agent = new_agent(&fixture, config(Some(ACK_TIMEOUT_MS), None));
    let clock = ManualClock::new(0);
    let (mut link, mut peer, mut peer_end) = connect(&mut agent, &fixture, &clock);

    record_login(&mut agent, &clock);
    poll_at(&mut agent, &mut link, &clock, 0).expect("first record sent");

    // At 4 s the gateway acknowledges the first record while a second one
    // goes out; the wait for the second starts at that acknowledgement.
    peer.receive(&mut peer_end)
        .expect("first record received")
        .expect("first record is new");
    clock.advance(4_000);
    record_login(&mut agent, &clock);
    poll_at(&mut agent, &mut link, &clock, 4_000).expect("second record sent");
    assert_eq!(agent.counters().acknowledged, 1);
    assert_eq!(agent.queued(), 1);

    let status = poll_at(&mut agent, &mut link, &clock, 4_000 + ACK_TIMEOUT_MS - 1);
    assert_eq!(status.expect("poll short of the limit"), PollStatus::Online);
    let result = poll_at(&mut agent, &mut link, &clock, 4_000 + ACK_TIMEOUT_MS);
    assert_timed_out(result, ACK_TIMEOUT_MS, 1);
    assert_eq!(agent.counters().ack_timeouts, 1);
}

#[test]
fn idle_session_without_records_stays_up() {
    let fixture = Fixture::new();
    let mut agent = new_agent(&fixture, config(Some(ACK_TIMEOUT_MS), None));
    let clock = ManualClock::new(0);
    let (mut link, _peer, _peer_end) = connect(&mut agent, &fixture, &clock);

    let status = poll_at(&mut agent, &mut link, &clock, 10 * ACK_TIMEOUT_MS);
    assert_eq!(status.expect("idle poll"), PollStatus::Online);
    assert_eq!(agent.counters().ack_timeouts, 0);
}

#[test]
fn unacknowledged_heartbeat_ends_session() {
    let fixture = Fixture::new();
    let heartbeat_ms = 10_000;
    let mut agent = new_agent(&fixture, config(Some(ACK_TIMEOUT_MS), Some(heartbeat_ms)));
    let clock = ManualClock::new(0);
    let (mut link, _stalled_peer, _stalled_end) = connect(&mut agent, &fixture, &clock);

    // No event is waiting until the first heartbeat.
    let status = poll_at(&mut agent, &mut link, &clock, heartbeat_ms - 1);
    assert_eq!(
        status.expect("poll before the heartbeat"),
        PollStatus::Online
    );
    assert_eq!(agent.counters().sent, 0);
    let status = poll_at(&mut agent, &mut link, &clock, heartbeat_ms);
    assert_eq!(status.expect("heartbeat poll"), PollStatus::Online);
    assert_eq!(agent.counters().sent, 1);

    let status = poll_at(
        &mut agent,
        &mut link,
        &clock,
        heartbeat_ms + ACK_TIMEOUT_MS - 1,
    );
    assert_eq!(status.expect("poll short of the limit"), PollStatus::Online);
    let result = poll_at(&mut agent, &mut link, &clock, heartbeat_ms + ACK_TIMEOUT_MS);
    assert_timed_out(result, ACK_TIMEOUT_MS, 1);
    assert_eq!(agent.counters().ack_timeouts, 1);
    assert_eq!(
        agent.queued(),
        1,
        "the heartbeat waits for the next session"
    );
}

#[test]
fn ack_timeout_off_keeps_stalled_session() {
    let fixture = Fixture::new();
    let mut agent = new_agent(&fixture, config(None, None));
    let clock = ManualClock::new(0);
    let (mut link, _stalled_peer, _stalled_end) = connect(&mut agent, &fixture, &clock);

    record_login(&mut agent, &clock);
    poll_at(&mut agent, &mut link, &clock, 0).expect("record sent");
    let status = poll_at(&mut agent, &mut link, &clock, 3_600_000);
    assert_eq!(status.expect("poll an hour later"), PollStatus::Online);
    assert_eq!(agent.counters().ack_timeouts, 0);
    assert_eq!(agent.queued(), 1);
}
