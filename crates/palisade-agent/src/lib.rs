//! The Palisade device agent: what runs on a medical device to watch it and
//! report to a gateway.
//!
//! # Device core
//!
//! [`Agent`] is the part every device links, firmware or Linux, with no
//! heap. Events flow one way and commands the other:
//!
//! ```text
//! EventSource / SnapshotSource / heartbeat
//!   -> header (sequence, boot counter, uptime, wall clock)
//!   -> Aggregator (palisade-wire; merges repeats within a window)
//!   -> Queue (palisade-wire store-and-forward; drops counted, never silent)
//!   -> Sender (palisade-transport; retransmission, credit)
//!   -> sealed frames under the session keys of the palisade-credential handshake
//!   -> Link (COBS on a UART, length-prefixed on TCP)
//! gateway -> signed command -> CommandVerifier -> SafetyInterlock -> CommandHandler
//!         <- command_acknowledged / command_rejected events
//! ```
//!
//! [`link`] documents the session protocol on the link, [`command`] the
//! command path and [`persist`] the power-loss-safe state (boot counter,
//! last command counter, last-known-good time, revocation list number).
//! The `peer` module (with the `std` feature) is the gateway side of the
//! same protocol.
//!
//! Memory: the agent holds two frame buffers of [`FRAME_BUFFER_LEN`] bytes,
//! the queue storage and the aggregator slots chosen by its type
//! parameters, up to [`MAX_DEFERRED_COMMANDS`] deferred commands and
//! [`SENDER_WINDOW`] records in flight. [`Agent::new`] fails only when the
//! persistent state cannot be read or written; [`Agent::connect`] fails on
//! a handshake that does not complete, and [`Agent::poll`] only on a link
//! error or when the gateway stops acknowledging for
//! [`AgentConfig::ack_timeout_ms`] (60 s by default) while records are in
//! flight. In both cases it drops the session and keeps every
//! unacknowledged record for the next one.
//!
//! ```
//! use palisade_agent::clock::ManualClock;
//! use palisade_agent::command::{CommandHandler, Execution, Safety, SafetyInterlock};
//! use palisade_agent::persist::{MemoryFlash, STORE_LEN, SlotStore};
//! use palisade_agent::{Agent, AgentConfig, Device, NoSnapshots, PollStatus};
//! use palisade_credential::handshake::DeviceIdentity;
//! use palisade_credential::testkit::Fixture;
//! use palisade_credential::{CommandAction, DeviceId, SoftwareSigner, VerifiedCommand};
//! use palisade_schema::{EventKind, Severity, samples};
//! use palisade_wire::MemoryStorage;
//!
//! /// A link with no gateway behind it.
//! struct Unplugged;
//! impl palisade_agent::link::Link for Unplugged {
//!     type Error = core::convert::Infallible;
//!     fn send(&mut self, _: &[u8]) -> Result<(), Self::Error> { Ok(()) }
//!     fn recv(&mut self, _: &mut [u8]) -> Result<Option<usize>, Self::Error> { Ok(None) }
//! }
//!
//! struct Pump;
//! impl SafetyInterlock for Pump {
//!     fn check(&self, _: &CommandAction) -> Safety { Safety::Unsafe("infusion running") }
//! }
//! impl CommandHandler for Pump {
//!     fn execute(&mut self, _: &VerifiedCommand) -> Execution { Execution::Executed }
//! }
//!
//! let fixture = Fixture::new(); // public test keys: never on a device
//! let identity = DeviceIdentity {
//!     intermediate: &fixture.intermediate,
//!     credential: &fixture.device,
//!     signer: &fixture.device_signer,
//! };
//! let state = SlotStore::new(MemoryFlash::<STORE_LEN>::new())?;
//! let mut agent: Agent<'_, MemoryStorage<4096, 32>, _, SoftwareSigner, 4, 256> = Agent::new(
//!     AgentConfig::default(),
//!     identity,
//!     fixture.roots(),
//!     DeviceId(fixture.device_id),
//!     MemoryStorage::new(),
//!     state,
//! )?;
//! assert_eq!(agent.state().boot_counter, 1);
//!
//! // Without a session, events wait in the queue.
//! let clock = ManualClock::new(5_000);
//! agent.record(&clock, Severity::High, &samples::body(EventKind::Login));
//! let (mut pump, interlock) = (Pump, Pump);
//! let mut device = Device {
//!     sources: &mut [],
//!     snapshots: &mut NoSnapshots,
//!     handler: &mut pump,
//!     interlock: &interlock,
//! };
//! assert_eq!(agent.poll(&mut Unplugged, &clock, &mut device)?, PollStatus::Offline);
//! // The login waits in the aggregator for repeats (10 s by default).
//! assert_eq!(agent.counters().recorded, 1);
//! assert_eq!(agent.counters().sent, 0);
//!
//! // Ten seconds later it moves into the queue, still waiting for a session.
//! clock.advance(10_000);
//! agent.poll(&mut Unplugged, &clock, &mut device)?;
//! assert_eq!(agent.queued(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Linux collectors
//!
//! The crate is `#![no_std]`. With the `linux` feature (which enables `std`)
//! it adds [`linux`], the collectors that read a Linux device's own state:
//! processes, connections and listening ports, logins, installed packages,
//! baseline (hardening) checks, file integrity and system information. Each
//! collector turns what it finds into owned [`linux::Record`]s, and each
//! record borrows out as a [`palisade_schema::Event`] through
//! [`linux::Record::to_event`], so encoding downstream allocates nothing.
//!
//! # Limits and failures
//!
//! Every file a collector reads is capped in size and every line in length
//! (see [`linux::Limits`]); a file that cannot be read or parsed becomes a
//! `collection_error` event and the collector carries on. No collector or
//! parser panics on any input.
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "linux")]
//! # {
//! use palisade_agent::linux::{Collector, ProcessCollector, ProcessConfig};
//! use palisade_schema::Header;
//!
//! let mut processes = ProcessCollector::new(ProcessConfig::default());
//! let mut records = Vec::new();
//! processes.collect(&mut records);
//! // The first scan reports every running process, including this one.
//! assert!(records.iter().any(|r| r.kind() == palisade_schema::EventKind::ProcessStarted));
//! let event = records[0].to_event(Header::default());
//! assert_eq!(event.kind(), records[0].kind());
//! # }
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "linux")]
pub mod linux;

mod agent;
pub mod clock;
pub mod command;
#[doc(hidden)]
pub mod fuzzing;
pub mod link;
#[cfg(feature = "std")]
pub mod peer;
pub mod persist;

pub use agent::{
    Agent, AgentConfig, AgentError, Counters, DEFAULT_ACK_TIMEOUT_MS, Device, EventSink,
    EventSource, FRAME_BUFFER_LEN, MAX_DEFERRED_COMMANDS, NoSnapshots, PollStatus, SENDER_WINDOW,
    SnapshotKind, SnapshotSource,
};
