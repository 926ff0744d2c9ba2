//! The device hot path allocates nothing: recording events, sealing and
//! sending frames, handling acknowledgements and verifying a command run
//! under a global allocator that counts allocations per thread.
#![cfg(feature = "std")]
// A global allocator is an unsafe trait impl; this file is the only place the
// crate allows unsafe code.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::thread;
use std::time::Duration;

use palisade_agent::clock::ManualClock;
use palisade_agent::command::{CommandHandler, Execution, Safety, SafetyInterlock};
use palisade_agent::link::{ChannelLink, Link};
use palisade_agent::peer::GatewayPeer;
use palisade_agent::persist::{MemoryFlash, STORE_LEN, SlotStore};
use palisade_agent::{Agent, AgentConfig, Device, FRAME_BUFFER_LEN, NoSnapshots};
use palisade_credential::handshake::DeviceIdentity;
use palisade_credential::testkit::{FIXTURE_NOW, FixedRng, Fixture};
use palisade_credential::{
    Command, CommandAction, DeviceId, GatewayIdentity, MAX_COMMAND_LEN, SoftwareSigner,
    VerifiedCommand,
};
use palisade_schema::{EventKind, Severity, samples};
use palisade_wire::MemoryStorage;

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call forwards to the system allocator unchanged; the counter
// is a thread-local `Cell` that needs no allocation itself.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations_in<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = ALLOCATIONS.with(Cell::get);
    let result = f();
    (result, ALLOCATIONS.with(Cell::get) - before)
}

/// The device's link: fixed-capacity queues of frames, no heap.
struct FixedLink {
    outbox: heapless::Deque<heapless::Vec<u8, FRAME_BUFFER_LEN>, 8>,
    inbox: heapless::Deque<heapless::Vec<u8, FRAME_BUFFER_LEN>, 8>,
}

impl Link for FixedLink {
    type Error = &'static str;

    fn send(&mut self, frame: &[u8]) -> Result<(), Self::Error> {
        let frame = heapless::Vec::from_slice(frame).map_err(|_| "frame too long")?;
        self.outbox.push_back(frame).map_err(|_| "outbox full")
    }

    fn recv(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, Self::Error> {
        let Some(frame) = self.inbox.pop_front() else {
            return Ok(None);
        };
        buffer
            .get_mut(..frame.len())
            .ok_or("buffer too small")?
            .copy_from_slice(&frame);
        Ok(Some(frame.len()))
    }
}

/// The gateway peer's link for the single-threaded part: frames in memory.
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

struct AlwaysSafe;

impl SafetyInterlock for AlwaysSafe {
    fn check(&self, _action: &CommandAction) -> Safety {
        Safety::Safe
    }
}

struct Executes;

impl CommandHandler for Executes {
    fn execute(&mut self, _command: &VerifiedCommand) -> Execution {
        Execution::Executed
    }
}

#[test]
fn counter_sees_allocations() {
    let (boxed, allocations) = allocations_in(|| Box::new(7u64));
    assert_eq!(*boxed, 7);
    assert_eq!(allocations, 1);
}

#[test]
fn hot_path_allocates_nothing() {
    let fixture: &'static Fixture = Box::leak(Box::new(Fixture::new()));
    let identity = DeviceIdentity {
        intermediate: &fixture.intermediate,
        credential: &fixture.device,
        signer: &fixture.device_signer,
    };
    let config = AgentConfig {
        heartbeat_interval_ms: Some(1_000),
        aggregation_window_ms: 0,
        ..AgentConfig::default()
    };
    let persist = SlotStore::new(MemoryFlash::<STORE_LEN>::new()).expect("region fits");
    let mut agent: Agent<'_, MemoryStorage<4096, 32>, _, SoftwareSigner, 4, 256> = Agent::new(
        config,
        identity,
        fixture.roots(),
        DeviceId(fixture.device_id),
        MemoryStorage::new(),
        persist,
    )
    .expect("state region");

    // Handshake with the peer in a thread; allocations there are the peer's.
    let (mut device_side, mut gateway_side) = ChannelLink::pair(Duration::from_secs(5));
    let peer = thread::spawn(move || {
        let identity = GatewayIdentity {
            credential: fixture.gateway.as_slice(),
            signer: &fixture.gateway_signer,
        };
        let mut peer = GatewayPeer::new(identity, fixture.verifier(), 2);
        peer.accept(
            &mut gateway_side,
            &mut FixedRng::new(&[0x33; 64]),
            FIXTURE_NOW,
        )
        .expect("admitted");
        peer
    });
    let clock = ManualClock::new(0);
    agent
        .connect(&mut device_side, &clock, &mut FixedRng::new(&[0x44; 64]))
        .expect("handshake");
    let mut peer = peer.join().expect("peer thread");

    let mut link = FixedLink {
        outbox: heapless::Deque::new(),
        inbox: heapless::Deque::new(),
    };
    let mut peer_link = QueueLink::default();
    let mut handler = Executes;
    let mut device = Device {
        sources: &mut [],
        snapshots: &mut NoSnapshots,
        handler: &mut handler,
        interlock: &AlwaysSafe,
    };
    let kinds = [
        EventKind::Login,
        EventKind::NetworkConnection,
        EventKind::ListeningPortOpened,
        EventKind::Telemetry,
        EventKind::ProcessStarted,
    ];
    let bodies: Vec<_> = kinds.iter().map(|kind| samples::body(*kind)).collect();
    for round in 0..3 {
        clock.advance(1_000);
        let (status, allocations) = allocations_in(|| {
            for body in &bodies {
                agent.record(&clock, Severity::Medium, body);
            }
            agent.poll(&mut link, &clock, &mut device)
        });
        status.expect("poll");
        assert_eq!(allocations, 0, "record and send, round {round}");
        assert!(!link.outbox.is_empty(), "frames were sent in round {round}");

        // The peer reads every frame and acknowledges it.
        while let Some(frame) = link.outbox.pop_front() {
            peer_link.inbox.push_back(frame.to_vec());
            peer.receive(&mut peer_link).expect("record");
        }
        let command = Command {
            version: palisade_credential::COMMAND_VERSION,
            action: CommandAction::RequestInventory,
            target: DeviceId(fixture.device_id),
            command_id: 100 + round,
            counter: round + 1,
            not_after: FIXTURE_NOW + 60,
            signer_credential: &fixture.gateway,
        };
        let mut signed = [0u8; MAX_COMMAND_LEN];
        let len = command
            .sign(&fixture.gateway_signer, &mut signed)
            .expect("signs");
        peer.send_command(&mut peer_link, &signed[..len])
            .expect("command");
        for frame in peer_link.outbox.drain(..) {
            link.inbox
                .push_back(heapless::Vec::from_slice(&frame).expect("fits"))
                .expect("room");
        }

        // Acknowledgements and the command, one frame per poll.
        while !link.inbox.is_empty() {
            let (status, allocations) =
                allocations_in(|| agent.poll(&mut link, &clock, &mut device));
            status.expect("poll");
            assert_eq!(allocations, 0, "acknowledgement or command, round {round}");
        }
        while let Some(frame) = link.outbox.pop_front() {
            peer_link.inbox.push_back(frame.to_vec());
            peer.receive(&mut peer_link).expect("record");
        }
        for frame in peer_link.outbox.drain(..) {
            link.inbox
                .push_back(heapless::Vec::from_slice(&frame).expect("fits"))
                .expect("room");
        }
        while !link.inbox.is_empty() {
            let (status, allocations) =
                allocations_in(|| agent.poll(&mut link, &clock, &mut device));
            status.expect("poll");
            assert_eq!(allocations, 0, "final acknowledgements, round {round}");
        }
    }
    let counters = agent.counters();
    assert_eq!(counters.commands_executed, 3);
    assert_eq!(counters.dropped, 0);
    assert!(counters.sent >= 18, "{counters:?}");
    assert_eq!(agent.queued(), 0, "{counters:?}");
}
