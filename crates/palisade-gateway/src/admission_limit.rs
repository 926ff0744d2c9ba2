//! Admission rate limiting per source address: a token bucket per IP
//! address, so a flood of handshakes from one address cannot crowd out
//! devices connecting from others.
//!
//! Each address may start `per_minute` admissions in a burst, then one every
//! `60 / per_minute` seconds. At most `max_sources` addresses are tracked;
//! when the table is full, buckets that have refilled completely are
//! dropped first (they carry no state), then the least recently used one.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use palisade_gateway::admission_limit::AdmissionLimiter;
//!
//! let mut limiter = AdmissionLimiter::new(2, 1024);
//! let source = "127.0.0.1".parse()?;
//! let start = Instant::now();
//! assert!(limiter.check(source, start));
//! assert!(limiter.check(source, start));
//! assert!(!limiter.check(source, start));
//! assert!(limiter.check(source, start + Duration::from_secs(30)));
//! # Ok::<(), std::net::AddrParseError>(())
//! ```

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets of admission attempts, one per source address.
#[derive(Debug)]
pub struct AdmissionLimiter {
    per_minute: u32,
    max_sources: usize,
    buckets: HashMap<IpAddr, Bucket>,
    rejected: u64,
}

impl AdmissionLimiter {
    /// A limiter allowing `per_minute` admissions per address per minute
    /// (at least 1) and tracking at most `max_sources` addresses (at least 1).
    pub fn new(per_minute: u32, max_sources: usize) -> Self {
        Self {
            per_minute: per_minute.max(1),
            max_sources: max_sources.max(1),
            buckets: HashMap::new(),
            rejected: 0,
        }
    }

    /// Takes one admission attempt from `source` at `now`; returns `false`
    /// when the address has used up its rate (count it and close the
    /// connection before the handshake).
    pub fn check(&mut self, source: IpAddr, now: Instant) -> bool {
        let source = match source {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        let capacity = f64::from(self.per_minute);
        if !self.buckets.contains_key(&source) && self.buckets.len() >= self.max_sources {
            self.make_room(now);
        }
        let bucket = self.buckets.entry(source).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * capacity / 60.0).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            self.rejected += 1;
            false
        }
    }

    /// Attempts rejected since the limiter was created.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Addresses currently tracked.
    pub fn tracked_sources(&self) -> usize {
        self.buckets.len()
    }

    fn make_room(&mut self, now: Instant) {
        let capacity = f64::from(self.per_minute);
        let per_minute = capacity;
        self.buckets.retain(|_, bucket| {
            let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
            bucket.tokens + elapsed * per_minute / 60.0 < capacity
        });
        if self.buckets.len() >= self.max_sources
            && let Some(oldest) = self
                .buckets
                .iter()
                .min_by_key(|(_, bucket)| bucket.updated)
                .map(|(address, _)| *address)
        {
            self.buckets.remove(&oldest);
        }
    }
}
