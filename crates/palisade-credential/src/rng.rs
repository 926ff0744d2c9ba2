//! Randomness for key generation and handshake ephemerals.

/// The random number generator failed (hardware fault, entropy not ready).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "random number generator failed; check the hardware RNG or the operating system entropy source"
)]
pub struct RngError;

/// A cryptographically secure random number generator: a device's hardware
/// RNG, or `OsRng` with the `std` feature.
pub trait Rng {
    /// Fills `dest` with random bytes.
    fn fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), RngError>;
}

impl<R: Rng + ?Sized> Rng for &mut R {
    fn fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), RngError> {
        (**self).fill_bytes(dest)
    }
}

/// The operating system's RNG (`getrandom`).
#[cfg(feature = "std")]
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRng;

#[cfg(feature = "std")]
impl Rng for OsRng {
    fn fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), RngError> {
        getrandom::getrandom(dest).map_err(|_| RngError)
    }
}
