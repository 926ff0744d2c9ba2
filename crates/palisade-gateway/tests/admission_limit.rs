//! Per-address admission rate limiting at its boundaries.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use palisade_gateway::admission_limit::AdmissionLimiter;

fn address(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn burst_up_to_rate_then_rejects() {
    let mut limiter = AdmissionLimiter::new(30, 16);
    let start = Instant::now();
    let source = address("127.0.0.1");
    for attempt in 0..30 {
        assert!(limiter.check(source, start), "attempt {attempt} rejected");
    }
    assert!(!limiter.check(source, start));
    assert_eq!(limiter.rejected(), 1);
    // One token comes back every two seconds at 30 per minute.
    assert!(!limiter.check(source, start + Duration::from_millis(1_900)));
    assert!(limiter.check(
        source,
        start + Duration::from_millis(2_000) + Duration::from_millis(1_900)
    ));
}

#[test]
fn other_addresses_are_not_affected() {
    let mut limiter = AdmissionLimiter::new(2, 16);
    let start = Instant::now();
    let flooder = address("127.0.0.2");
    for _ in 0..100 {
        limiter.check(flooder, start);
    }
    assert_eq!(limiter.rejected(), 98);
    assert!(limiter.check(address("127.0.0.3"), start));
    assert!(limiter.check(address("::1"), start));
}

#[test]
fn mapped_ipv4_shares_the_bucket() {
    let mut limiter = AdmissionLimiter::new(1, 16);
    let start = Instant::now();
    assert!(limiter.check(address("127.0.0.1"), start));
    assert!(!limiter.check(address("::ffff:127.0.0.1"), start));
}

#[test]
fn table_size_is_bounded() {
    let mut limiter = AdmissionLimiter::new(1, 4);
    let start = Instant::now();
    for last in 1..=4u8 {
        assert!(limiter.check(IpAddr::from([127, 0, 0, last]), start));
    }
    assert_eq!(limiter.tracked_sources(), 4);
    // A fifth address evicts the least recently used one.
    assert!(limiter.check(address("127.0.0.5"), start + Duration::from_millis(1)));
    assert_eq!(limiter.tracked_sources(), 4);
    // Refilled buckets are dropped first when room is needed.
    assert!(limiter.check(address("127.0.0.6"), start + Duration::from_secs(120)));
    assert_eq!(limiter.tracked_sources(), 1);
}

#[test]
fn token_returns_after_exact_interval() {
    let start = Instant::now();
    let source = address("127.0.0.1");
    // At 30 per minute one token returns after exactly 2 s.
    let exhausted = || {
        let mut limiter = AdmissionLimiter::new(30, 16);
        for _ in 0..30 {
            assert!(limiter.check(source, start));
        }
        limiter
    };

    let mut early = exhausted();
    assert!(!early.check(source, start + Duration::from_millis(1_999)));
    assert_eq!(early.rejected(), 1);

    let mut on_time = exhausted();
    assert!(on_time.check(source, start + Duration::from_secs(2)));
    assert!(!on_time.check(source, start + Duration::from_secs(2)));
    assert_eq!(on_time.rejected(), 1);
}

#[test]
fn full_burst_returns_after_one_minute() {
    let mut limiter = AdmissionLimiter::new(3, 16);
    let start = Instant::now();
    let source = address("127.0.0.1");
    for _ in 0..3 {
        assert!(limiter.check(source, start));
    }
    assert!(!limiter.check(source, start));

    let later = start + Duration::from_secs(60);
    for attempt in 0..3 {
        assert!(limiter.check(source, later), "attempt {attempt} rejected");
    }
    assert!(!limiter.check(source, later));
    assert_eq!(limiter.rejected(), 2);
}

#[test]
fn idle_time_does_not_raise_burst() {
    let mut limiter = AdmissionLimiter::new(3, 16);
    let start = Instant::now();
    let source = address("127.0.0.1");
    assert!(limiter.check(source, start));

    let later = start + Duration::from_secs(600);
    for attempt in 0..3 {
        assert!(limiter.check(source, later), "attempt {attempt} rejected");
    }
    assert!(!limiter.check(source, later));
}

#[test]
fn zero_rate_allows_one_per_minute() {
    let mut limiter = AdmissionLimiter::new(0, 16);
    let start = Instant::now();
    let source = address("127.0.0.1");
    assert!(limiter.check(source, start));
    assert!(!limiter.check(source, start));

    let later = start + Duration::from_secs(60);
    assert!(limiter.check(source, later));
    assert!(!limiter.check(source, later));
}
