//! Palisade's transport layer: framed links, reliable delivery and an MQTT
//! upstream.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;

pub mod backoff;
pub mod framing;
pub mod link;
pub mod message;
pub mod reliable;
pub mod session;

/// Span of the receive window, in records: a receiver de-duplicates and
/// accepts records up to `WINDOW - 1` ahead of the lowest one it is missing,
/// and a sender never sends further ahead of its oldest unacknowledged record.
pub const WINDOW: u64 = 64;

/// Monotonic time in milliseconds, supplied by the platform.
pub trait Clock {
    /// Milliseconds since an arbitrary fixed point; must never go backwards.
    fn now_ms(&self) -> u64;
}

#[cfg(feature = "std")]
pub mod std_io;

#[cfg(feature = "tokio")]
pub mod tokio_link;

#[cfg(feature = "mqtt")]
pub mod mqtt;
