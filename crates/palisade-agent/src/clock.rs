//! The agent's time sources: a monotonic uptime, the boot counter kept in
//! persistent state, and a wall clock when the device has one.

use palisade_schema::WallClock;

/// The device's clocks.
pub trait Clock {
    /// Milliseconds since boot; never goes backwards.
    fn uptime_ms(&self) -> u64;

    /// Wall-clock time, when the device has a real-time clock; `None` on a
    /// device without one. `synchronized` is true when it was set from a
    /// trusted source.
    fn wall_clock(&self) -> Option<WallClock> {
        None
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn uptime_ms(&self) -> u64 {
        (**self).uptime_ms()
    }

    fn wall_clock(&self) -> Option<WallClock> {
        (**self).wall_clock()
    }
}

/// A clock whose uptime the caller sets: for tests, simulations and
/// firmware that counts ticks itself.
#[derive(Debug, Default)]
pub struct ManualClock {
    uptime_ms: core::cell::Cell<u64>,
    wall_clock: core::cell::Cell<Option<WallClock>>,
}

impl ManualClock {
    /// Creates a clock at uptime `uptime_ms` without a wall clock.
    pub const fn new(uptime_ms: u64) -> Self {
        Self {
            uptime_ms: core::cell::Cell::new(uptime_ms),
            wall_clock: core::cell::Cell::new(None),
        }
    }

    /// Moves uptime forward by `ms` milliseconds.
    pub fn advance(&self, ms: u64) {
        self.uptime_ms.set(self.uptime_ms.get().saturating_add(ms));
    }

    /// Sets the wall clock that [`Clock::wall_clock`] returns.
    pub fn set_wall_clock(&self, wall_clock: Option<WallClock>) {
        self.wall_clock.set(wall_clock);
    }
}

impl Clock for ManualClock {
    fn uptime_ms(&self) -> u64 {
        self.uptime_ms.get()
    }

    fn wall_clock(&self) -> Option<WallClock> {
        self.wall_clock.get()
    }
}

/// The operating system's clocks: uptime from `std::time::Instant` since
/// creation, wall clock from `SystemTime` (reported as synchronized, since
/// the agent cannot tell).
#[cfg(feature = "std")]
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: std::time::Instant,
}

#[cfg(feature = "std")]
impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "std")]
impl SystemClock {
    /// A clock whose uptime starts at 0 now.
    pub fn new() -> Self {
        Self {
            origin: std::time::Instant::now(),
        }
    }
}

#[cfg(feature = "std")]
impl Clock for SystemClock {
    fn uptime_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn wall_clock(&self) -> Option<WallClock> {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        Some(WallClock {
            unix_ms: u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX),
            synchronized: true,
        })
    }
}
