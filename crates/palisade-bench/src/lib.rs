//! End-to-end benchmark of Palisade's gateway ingest against the usual
//! alternative, MQTT with JSON payloads through a mosquitto broker.
//!
//! Both systems carry the same events ([`mix`]) from the same number of
//! simulated devices over real loopback TCP (127.0.0.1 only):
//!
//! - Palisade: each device runs the admission handshake, then sends its
//!   events postcard-encoded in sealed DATA_BATCH frames to the gateway,
//!   which decodes them, runs detection, commits them to its SQLite outbox
//!   (`synchronous = FULL`) before it acknowledges them, and delivers them
//!   to its OCSF JSON Lines sinks. The gateway runs in a child process
//!   ([`gateway_child`]); a second child follows the sink files and parses
//!   every line ([`consumer::read_sinks`]).
//! - MQTT with JSON: each device publishes every event as `serde_json` of
//!   the same event with QoS 1 ([`mqtt_device`]) to a mosquitto started for
//!   the run ([`broker`], no queue limit, no persistence); a subscriber
//!   child with QoS 1 parses every message ([`consumer::subscribe`]).
//!
//! [`run`] measures events per second from the start of the data phase to
//! the last event parsed at the receiving end, the CPU time and peak RSS
//! of every process ([`procstat`]), latency from the time stamp in the
//! event to the receiving end ([`stats`]), bytes on the devices' sockets
//! ([`wire`]), and lost and duplicated events, counted per (device,
//! sequence number).
//!
//! # Limits
//!
//! Linux only (`/proc`). Latencies have a resolution of 1 ms, because the
//! event's wall-clock field is in milliseconds. Each run holds one entry
//! per event in memory at the receiving end (a few bytes each). A run that
//! does not finish within its timeout counts the missing events as lost.
//!
//! # Example
//!
//! ```
//! use palisade_bench::stats::Tally;
//!
//! let mut tally = Tally::new(2, 2);
//! tally.record(0, 0, 3);
//! tally.record(0, 1, 4);
//! tally.record(0, 1, 4);
//! tally.record(1, 0, 9);
//! assert_eq!((tally.lost(), tally.duplicates()), (1, 1));
//! ```
#![forbid(unsafe_code)]

pub mod broker;
pub mod child;
pub mod consumer;
pub mod gateway_child;
pub mod mix;
pub mod mqtt_device;
pub mod palisade_device;
pub mod pki;
pub mod plot;
pub mod procstat;
pub mod report;
pub mod run;
pub mod stats;
pub mod wire;
