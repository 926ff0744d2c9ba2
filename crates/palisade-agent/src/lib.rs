//! The Palisade device agent: what runs on a medical device to watch it and
//! report to a gateway.
//!
//! # Layers
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
pub mod link;
#[cfg(feature = "std")]
pub mod peer;
pub mod persist;

pub use agent::{
    Agent, AgentConfig, AgentError, Counters, Device, EventSink, EventSource, FRAME_BUFFER_LEN,
    MAX_DEFERRED_COMMANDS, NoSnapshots, PollStatus, SENDER_WINDOW, SnapshotKind, SnapshotSource,
};
