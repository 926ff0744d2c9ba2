//! Aggregation of identical events: identities, windows, overflow.

use palisade_schema::{
    DropReason, Event, EventBody, EventKind, EventsDropped, IpAddress, Severity, samples,
};
use palisade_wire::{Admission, Aggregator, Overflow};

fn sample(kind: EventKind, index: u64) -> Event<'static> {
    Event {
        header: samples::header(index, Severity::Info),
        body: samples::body(kind),
    }
}

fn collect<'a>(out: &'a mut Vec<Vec<u8>>) -> impl FnMut(&Event<'_>) + 'a {
    move |event| out.push(postcard::to_allocvec(event).unwrap())
}

fn decoded(bytes: &[Vec<u8>]) -> Vec<Event<'_>> {
    bytes
        .iter()
        .map(|bytes| palisade_schema::from_bytes(bytes).unwrap())
        .collect()
}

#[test]
fn identical_logins_merge_with_hit_count() {
    let mut aggregator = Aggregator::<4, 256>::new(60_000, Overflow::FlushOldest);
    let mut out = Vec::new();
    let mut emit = collect(&mut out);
    assert_eq!(
        aggregator.push(&sample(EventKind::Login, 0), 1_000, &mut emit),
        Admission::Stored
    );
    for index in 1..5 {
        let admission = aggregator.push(
            &sample(EventKind::Login, index),
            1_000 + index * 10,
            &mut emit,
        );
        assert_eq!(admission, Admission::Merged);
    }
    aggregator.flush_all(&mut emit);
    drop(emit);
    let events = decoded(&out);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].header.hit_count.get(), 5);
    assert_eq!(events[0].header.window_ms, 60_000);
    assert_eq!(
        events[0].header.sequence,
        samples::header(0, Severity::Info).sequence
    );
    assert_eq!(events[0].body, samples::body(EventKind::Login));
}

#[test]
fn single_hit_is_emitted_unchanged() {
    let mut aggregator = Aggregator::<4, 512>::new(1_000, Overflow::FlushOldest);
    let mut out = Vec::new();
    let event = sample(EventKind::ProcessStarted, 3);
    aggregator.push(&event, 0, &mut collect(&mut out));
    aggregator.flush_expired(1_000, &mut collect(&mut out));
    assert_eq!(decoded(&out), vec![event]);
}

#[test]
fn different_identities_stay_apart() {
    let mut aggregator = Aggregator::<4, 256>::new(60_000, Overflow::FlushOldest);
    let mut out = Vec::new();
    let first = sample(EventKind::Login, 0);
    let mut other_source = sample(EventKind::Login, 1);
    if let EventBody::Login(login) = &mut other_source.body {
        login.source = Some(IpAddress::V4([10, 20, 9, 45]));
    }
    let mut same_but_terminal = sample(EventKind::Login, 2);
    if let EventBody::Login(login) = &mut same_but_terminal.body {
        login.terminal = None;
    }
    assert_eq!(
        aggregator.push(&first, 0, &mut collect(&mut out)),
        Admission::Stored
    );
    assert_eq!(
        aggregator.push(&other_source, 1, &mut collect(&mut out)),
        Admission::Stored
    );
    // The terminal is not part of a login's identity.
    assert_eq!(
        aggregator.push(&same_but_terminal, 2, &mut collect(&mut out)),
        Admission::Merged
    );
    assert_eq!(aggregator.len(), 2);
}

#[test]
fn connections_sum_byte_counters() {
    let mut aggregator = Aggregator::<4, 256>::new(60_000, Overflow::FlushOldest);
    let mut out = Vec::new();
    for index in 0..3 {
        aggregator.push(
            &sample(EventKind::NetworkConnection, index),
            index,
            &mut collect(&mut out),
        );
    }
    aggregator.flush_all(&mut collect(&mut out));
    let events = decoded(&out);
    let EventBody::NetworkConnection(connection) = &events[0].body else {
        panic!("not a connection")
    };
    assert_eq!(connection.bytes_in, 3 * 18_432);
    assert_eq!(connection.bytes_out, 3 * 9_216);
    assert_eq!(events[0].header.hit_count.get(), 3);
}

#[test]
fn other_kinds_pass_through() {
    let mut aggregator = Aggregator::<4, 256>::new(60_000, Overflow::FlushOldest);
    let mut out = Vec::new();
    let event = sample(EventKind::Telemetry, 0);
    assert_eq!(
        aggregator.push(&event, 0, &mut collect(&mut out)),
        Admission::PassedThrough
    );
    assert_eq!(decoded(&out), vec![event]);
    assert!(aggregator.is_empty());
}

#[test]
fn event_larger_than_slot_passes_through() {
    let mut aggregator = Aggregator::<4, 32>::new(60_000, Overflow::FlushOldest);
    let mut out = Vec::new();
    let event = sample(EventKind::ProcessStarted, 0);
    assert_eq!(
        aggregator.push(&event, 0, &mut collect(&mut out)),
        Admission::PassedThrough
    );
    assert_eq!(decoded(&out), vec![event]);
}

#[test]
fn expired_window_starts_new_entry() {
    let mut aggregator = Aggregator::<4, 256>::new(1_000, Overflow::FlushOldest);
    let mut out = Vec::new();
    aggregator.push(&sample(EventKind::Login, 0), 0, &mut collect(&mut out));
    aggregator.push(&sample(EventKind::Login, 1), 999, &mut collect(&mut out));
    assert!(out.is_empty());
    assert_eq!(
        aggregator.push(&sample(EventKind::Login, 2), 1_000, &mut collect(&mut out)),
        Admission::Stored
    );
    let events = decoded(&out);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].header.hit_count.get(), 2);
}

fn distinct_login(index: u64) -> Event<'static> {
    let mut event = sample(EventKind::Login, index);
    if let EventBody::Login(login) = &mut event.body {
        login.source = Some(IpAddress::V4([10, 0, 0, index as u8]));
    }
    event
}

#[test]
fn overflow_flushes_oldest() {
    let mut aggregator = Aggregator::<2, 256>::new(60_000, Overflow::FlushOldest);
    let mut out = Vec::new();
    aggregator.push(&distinct_login(0), 10, &mut collect(&mut out));
    aggregator.push(&distinct_login(1), 20, &mut collect(&mut out));
    assert_eq!(
        aggregator.push(&distinct_login(2), 30, &mut collect(&mut out)),
        Admission::StoredAfterFlush
    );
    assert_eq!(decoded(&out), vec![distinct_login(0)]);
    assert_eq!(aggregator.len(), 2);
}

#[test]
fn overflow_drop_new_is_counted() {
    let mut aggregator = Aggregator::<2, 256>::new(60_000, Overflow::DropNew);
    let mut out = Vec::new();
    aggregator.push(&distinct_login(0), 10, &mut collect(&mut out));
    aggregator.push(&distinct_login(1), 20, &mut collect(&mut out));
    assert_eq!(
        aggregator.push(&distinct_login(2), 30, &mut collect(&mut out)),
        Admission::Dropped
    );
    assert_eq!(
        aggregator.push(&distinct_login(3), 40, &mut collect(&mut out)),
        Admission::Dropped
    );
    assert!(out.is_empty());
    assert_eq!(aggregator.dropped_total(), 2);
    aggregator.flush_all(&mut collect(&mut out));
    let events = decoded(&out);
    assert_eq!(events.len(), 3);
    assert_eq!(
        events[0].body,
        EventBody::EventsDropped(EventsDropped {
            count: 2,
            reason: DropReason::AggregationOverflow
        })
    );
    assert_eq!(events[0].header.sequence, distinct_login(3).header.sequence);
    assert_eq!(events[0].header.severity, Severity::Low);
}

#[test]
fn severity_is_highest_seen() {
    let mut aggregator = Aggregator::<2, 256>::new(60_000, Overflow::FlushOldest);
    let mut out = Vec::new();
    let mut louder = sample(EventKind::Login, 1);
    louder.header.severity = Severity::High;
    aggregator.push(&sample(EventKind::Login, 0), 0, &mut collect(&mut out));
    aggregator.push(&louder, 1, &mut collect(&mut out));
    aggregator.flush_all(&mut collect(&mut out));
    assert_eq!(decoded(&out)[0].header.severity, Severity::High);
}

#[test]
fn slot_size_boundary() {
    let event = sample(EventKind::Login, 0);
    let len = postcard::to_allocvec(&event).unwrap().len();
    assert!(
        len <= 64,
        "the login sample grew to {len} bytes; adjust the slot sizes below"
    );
    let mut out = Vec::new();
    // A slot of exactly the event's length stores it; one byte less passes it through.
    let mut exact = Aggregator::<1, 64>::new(60_000, Overflow::FlushOldest);
    let mut padded = event.clone();
    if let EventBody::Login(login) = &mut padded.body {
        let user = "u".repeat(login.user.len() + 64 - len);
        let user: &'static str = Box::leak(user.into_boxed_str());
        login.user = palisade_schema::Str::new(user).unwrap();
    }
    assert_eq!(postcard::to_allocvec(&padded).unwrap().len(), 64);
    assert_eq!(
        exact.push(&padded, 0, &mut collect(&mut out)),
        Admission::Stored
    );
    let mut short = Aggregator::<1, 63>::new(60_000, Overflow::FlushOldest);
    assert_eq!(
        short.push(&padded, 0, &mut collect(&mut out)),
        Admission::PassedThrough
    );
    assert_eq!(decoded(&out), vec![padded]);
}

#[test]
fn clock_at_maximum_still_flushes() {
    let mut aggregator = Aggregator::<2, 256>::new(1_000, Overflow::FlushOldest);
    let mut out = Vec::new();
    aggregator.push(&distinct_login(0), u64::MAX, &mut collect(&mut out));
    aggregator.push(&distinct_login(1), u64::MAX, &mut collect(&mut out));
    assert_eq!(
        aggregator.push(&distinct_login(2), u64::MAX, &mut collect(&mut out)),
        Admission::StoredAfterFlush
    );
    aggregator.flush_all(&mut collect(&mut out));
    assert_eq!(out.len(), 3);
    assert!(aggregator.is_empty());
}

#[test]
fn zero_slots_pass_events_through() {
    let mut aggregator = Aggregator::<0, 256>::new(1_000, Overflow::FlushOldest);
    let mut out = Vec::new();
    let event = distinct_login(0);
    assert_eq!(
        aggregator.push(&event, 0, &mut collect(&mut out)),
        Admission::PassedThrough
    );
    assert_eq!(decoded(&out), vec![event]);
}
