//! The whole hot path on the 64-event mixed batch performs no heap
//! allocation: encode, frame (checksummed, sealed, COBS), COBS stream
//! decode, frame decode, aggregate and queue.
#![allow(unsafe_code)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::{TestOpener, TestSealer};
use palisade_schema::{Event, MAX_EVENT_LEN, samples};
use palisade_wire::cobs::{self, Feed};
use palisade_wire::{
    Aggregator, CobsDecoder, FrameDecoder, FrameEncoder, FrameOpener, Framing, MAX_MTU,
    MemoryStorage, Overflow, OverflowPolicy, Protection, Queue,
};

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

/// Counts allocations per thread, because the test harness allocates on
/// its own threads while this test runs.
struct CountingAllocator;

fn count_one() {
    let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
}

// SAFETY: every call forwards to `System` with the same arguments; the
// counter is a const-initialized thread-local `Cell` that neither allocates
// nor needs a destructor.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

type Storage = MemoryStorage<16384, 128>;

#[test]
fn hot_path_does_not_allocate() {
    // Everything that may allocate is prepared before counting starts.
    let events: Vec<Event<'static>> = samples::mixed_batch().collect();
    let mut plain = vec![0u8; MAX_MTU];
    let mut sealed = vec![0u8; MAX_MTU];
    let mut cobs_buffer = vec![0u8; cobs::max_encoded_len(MAX_MTU)];
    let mut sealer = TestSealer::new();
    let mut opener = FrameOpener::new(TestOpener::new());
    let mut cobs_decoder = Box::new(CobsDecoder::<MAX_MTU>::new());
    let mut aggregator = Box::new(Aggregator::<16, MAX_EVENT_LEN>::new(
        60_000,
        Overflow::FlushOldest,
    ));
    let mut queue = Box::new(Queue::new(Storage::new(), OverflowPolicy::DropOldest));
    let mut one_event = [0u8; MAX_EVENT_LEN];

    let before = allocations();

    // Encode each event alone with the schema's encoder.
    for event in &events {
        assert!(palisade_schema::to_slice(event, &mut one_event).is_ok());
    }

    // One checksummed batch frame, decoded and iterated.
    let mut encoder =
        FrameEncoder::new(&mut plain, MAX_MTU, Protection::Checksummed, Framing::Plain).unwrap();
    for event in &events {
        assert!(encoder.push(event).is_ok());
    }
    let frame = encoder.finish_checksummed(1).unwrap();
    let decoded = FrameDecoder::new().decode(frame).unwrap();
    let mut count = 0;
    for (event, expected) in decoded.events().zip(&events) {
        assert!(event.is_ok_and(|event| &event == expected));
        count += 1;
    }
    assert_eq!(count, events.len());
    let mut visited = 0;
    assert_eq!(decoded.for_each_event(|_| visited += 1), Ok(events.len()));
    assert_eq!(visited, events.len());

    // One sealed batch frame, opened.
    let mut encoder =
        FrameEncoder::new(&mut sealed, MAX_MTU, Protection::Sealed, Framing::Plain).unwrap();
    for event in &events {
        assert!(encoder.push(event).is_ok());
    }
    let frame = encoder.finish_sealed(1, &mut sealer).unwrap();
    let opened = opener.open(frame).unwrap();
    assert_eq!(opened.events().filter(Result::is_ok).count(), events.len());

    // One COBS frame through the stream decoder.
    let mut encoder = FrameEncoder::new(
        &mut cobs_buffer,
        MAX_MTU,
        Protection::Checksummed,
        Framing::Cobs,
    )
    .unwrap();
    for event in &events {
        assert!(encoder.push(event).is_ok());
    }
    let wire = encoder.finish_checksummed(2).unwrap();
    let (used, feed) = cobs_decoder.feed(wire);
    assert_eq!(used, wire.len());
    let Feed::Message(message) = feed else {
        panic!("no COBS message")
    };
    let decoded = FrameDecoder::new().decode(message).unwrap();
    assert_eq!(decoded.events().filter(Result::is_ok).count(), events.len());

    // Aggregate into the queue, flush, read and acknowledge.
    let mut queue_errors = 0;
    for (index, event) in events.iter().enumerate() {
        aggregator.push(event, index as u64 * 100, &mut |event: &Event<'_>| {
            queue_errors += usize::from(queue.push(event).is_err());
        });
    }
    aggregator.flush_all(&mut |event: &Event<'_>| {
        queue_errors += usize::from(queue.push(event).is_err());
    });
    assert_eq!(queue_errors, 0);
    let waiting = queue.len();
    assert!(waiting > 0);
    assert!(waiting < events.len(), "aggregation merged nothing");
    let mut last = 0;
    for (sequence, bytes) in queue.iter() {
        assert!(palisade_schema::from_bytes::<Event<'_>>(bytes).is_ok());
        last = sequence;
    }
    assert_eq!(queue.ack(last).unwrap(), waiting);

    let after = allocations();
    assert_eq!(
        after - before,
        0,
        "the hot path allocated {} times",
        after - before
    );
}
