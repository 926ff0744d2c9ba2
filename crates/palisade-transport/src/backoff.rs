//! Reconnection delays: exponential backoff with jitter, bounded in delay and
//! optionally in attempts.

/// Settings of a [`Backoff`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffConfig {
    /// Upper bound of the first delay, in milliseconds.
    pub initial_ms: u32,
    /// Upper bound of every delay, in milliseconds.
    pub max_ms: u32,
    /// Attempts after which [`Backoff::next_delay_ms`] gives up; `None` retries
    /// forever (each delay still bounded by `max_ms`).
    pub max_attempts: Option<u32>,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial_ms: 100,
            max_ms: 30_000,
            max_attempts: None,
        }
    }
}

/// Exponential backoff with "equal jitter": attempt `n` waits between half and
/// all of `min(max_ms, initial_ms * 2^n)`, so that many devices that lost the
/// same gateway do not reconnect in lockstep, and none waits less than half
/// its bound.
///
/// The jitter comes from a small xorshift generator seeded by the caller
/// (firmware has no operating-system randomness at this layer); seed it with
/// something that differs between devices, such as the device id mixed with
/// the boot counter. It is not a cryptographic generator and need not be one.
#[derive(Debug, Clone)]
pub struct Backoff {
    config: BackoffConfig,
    attempt: u32,
    state: u64,
}

impl Backoff {
    /// Creates a backoff with the given settings and jitter seed.
    pub fn new(config: BackoffConfig, seed: u64) -> Self {
        let mut config = config;
        config.initial_ms = config.initial_ms.max(1);
        config.max_ms = config.max_ms.max(config.initial_ms);
        Self {
            config,
            attempt: 0,
            // xorshift needs a non-zero state.
            state: seed ^ 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// Delay before the next attempt, in milliseconds, or `None` when the
    /// attempts are used up.
    pub fn next_delay_ms(&mut self) -> Option<u32> {
        if let Some(max) = self.config.max_attempts
            && self.attempt >= max
        {
            return None;
        }
        let shift = self.attempt.min(31);
        let bound = u64::from(self.config.initial_ms)
            .saturating_mul(1u64 << shift)
            .min(u64::from(self.config.max_ms));
        self.attempt = self.attempt.saturating_add(1);
        let half = bound / 2;
        let jitter = self.next_random() % (bound - half + 1);
        // `half + jitter <= bound <= max_ms`, which fits in a u32.
        Some(u32::try_from(half + jitter).unwrap_or(self.config.max_ms))
    }

    /// Attempts made since creation or the last [`reset`](Self::reset).
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Starts over from the initial delay, after a connection succeeded.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    fn next_random(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }
}
