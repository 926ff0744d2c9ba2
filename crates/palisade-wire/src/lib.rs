//! Palisade's event-encoding hot path.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;

pub mod seal;

pub use seal::{OpenError, SealError, Opener, Sealer, TAG_LEN};
