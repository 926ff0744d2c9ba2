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
