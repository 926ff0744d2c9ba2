//! The store-and-forward queue over memory storage: order, acks, overflow
//! policies and the drop report.

use palisade_schema::{DropReason, Event, EventBody, EventsDropped, Severity, samples};
use palisade_wire::queue::REPORT_MAX_LEN;
use palisade_wire::{MemoryStorage, OverflowPolicy, Pushed, Queue, Storage};

fn events() -> Vec<Event<'static>> {
    samples::mixed_batch().collect()
}

fn decode(bytes: &[u8]) -> Event<'_> {
    palisade_schema::from_bytes(bytes).unwrap()
}

fn drop_count(queue: &Queue<impl Storage>) -> Option<u64> {
    queue
        .iter()
        .find_map(|(_, bytes)| match decode(bytes).body {
            EventBody::EventsDropped(EventsDropped {
                count,
                reason: DropReason::QueueFull,
            }) => Some(count),
            _ => None,
        })
}

#[test]
fn records_come_back_in_order_until_acked() {
    let mut queue = Queue::new(MemoryStorage::<8192, 64>::new(), OverflowPolicy::DropOldest);
    let events = events();
    for (index, event) in events.iter().take(10).enumerate() {
        assert_eq!(
            queue.push(event).unwrap(),
            Pushed::Stored {
                sequence: index as u64
            }
        );
    }
    let stored: Vec<Event<'_>> = queue.iter().map(|(_, bytes)| decode(bytes)).collect();
    assert_eq!(stored, events[..10]);
    drop(stored);
    assert_eq!(queue.ack(3).unwrap(), 4);
    assert_eq!(queue.front().map(|(sequence, _)| sequence), Some(4));
    assert_eq!(queue.len(), 6);
    assert_eq!(
        queue.ack(10).unwrap_err(),
        palisade_wire::QueueError::NotIssued {
            sequence: 10,
            next: 10
        }
    );
    assert_eq!(queue.len(), 6);
    assert_eq!(queue.ack(9).unwrap(), 6);
    assert!(queue.is_empty());
}

#[test]
fn drop_oldest_counts_into_report() {
    let mut queue = Queue::new(MemoryStorage::<1024, 8>::new(), OverflowPolicy::DropOldest);
    let events = events();
    for event in events.iter().take(20) {
        queue.push(event).unwrap();
    }
    assert_eq!(queue.dropped_total(), 12);
    // The report counts the first drop; the rest wait until it is acked.
    assert_eq!(drop_count(&queue), Some(1));
    assert_eq!(queue.pending_drops(), 11);
    let newest: Vec<Event<'_>> = queue
        .iter()
        .map(|(_, bytes)| decode(bytes))
        .filter(|event| event.kind() != palisade_schema::EventKind::EventsDropped)
        .collect();
    assert_eq!(newest, events[12..20]);
    drop(newest);
    let report_sequence = queue
        .iter()
        .find(|(_, bytes)| drop_count_of(bytes).is_some())
        .map(|(sequence, _)| sequence)
        .unwrap();
    queue.ack(report_sequence).unwrap();
    assert_eq!(drop_count(&queue), Some(11));
    assert_eq!(queue.pending_drops(), 0);
}

fn drop_count_of(bytes: &[u8]) -> Option<u64> {
    match decode(bytes).body {
        EventBody::EventsDropped(EventsDropped { count, .. }) => Some(count),
        _ => None,
    }
}

#[test]
fn drop_newest_keeps_oldest() {
    let mut queue = Queue::new(MemoryStorage::<4096, 4>::new(), OverflowPolicy::DropNewest);
    let events = events();
    for event in events.iter().take(6) {
        queue.push(event).unwrap();
    }
    let kept: Vec<Event<'_>> = queue
        .iter()
        .map(|(_, bytes)| decode(bytes))
        .filter(|event| event.kind() != palisade_schema::EventKind::EventsDropped)
        .collect();
    assert_eq!(kept, events[..4]);
    assert_eq!(queue.dropped_total(), 2);
    // The report carries the header of the drop that created it; the second
    // drop waits as pending until the report is acknowledged.
    let report = queue
        .iter()
        .map(|(_, bytes)| decode(bytes))
        .find(|event| event.kind() == palisade_schema::EventKind::EventsDropped)
        .unwrap();
    assert_eq!(report.header.sequence, events[4].header.sequence);
    assert!(report.header.severity >= Severity::Low);
    assert_eq!(drop_count(&queue), Some(1));
    assert_eq!(queue.pending_drops(), 1);
}

#[test]
fn report_is_never_dropped() {
    let mut queue = Queue::new(MemoryStorage::<512, 4>::new(), OverflowPolicy::DropOldest);
    let events = events();
    for round in 0..5 {
        for event in &events {
            queue.push(event).unwrap();
        }
        assert!(
            drop_count(&queue).is_some(),
            "report missing after round {round}"
        );
    }
    let total_counted = drop_count(&queue).unwrap() + queue.pending_drops();
    assert_eq!(total_counted, queue.dropped_total());
}

#[test]
fn report_sits_in_sequence_order() {
    let mut queue = Queue::new(MemoryStorage::<4096, 2>::new(), OverflowPolicy::DropOldest);
    let events = events();
    for event in events.iter().take(4) {
        queue.push(event).unwrap();
    }
    let sequences: Vec<u64> = queue.iter().map(|(sequence, _)| sequence).collect();
    let mut sorted = sequences.clone();
    sorted.sort_unstable();
    assert_eq!(sequences, sorted);
    assert_eq!(sequences.len(), 3);
}

#[test]
fn record_larger_than_storage_is_dropped_and_counted() {
    let mut queue = Queue::new(MemoryStorage::<32, 4>::new(), OverflowPolicy::DropOldest);
    let event = &events()[0];
    assert_eq!(queue.push(event).unwrap(), Pushed::Dropped);
    assert_eq!(drop_count(&queue), Some(1));
}

#[test]
fn memory_storage_capacity_boundary() {
    let mut storage = MemoryStorage::<100, 4>::new();
    assert!(storage.can_fit(100));
    assert!(!storage.can_fit(101));
    storage.push_back(0, &[1; 60]).unwrap();
    assert!(storage.can_fit(40));
    assert!(!storage.can_fit(41));
    storage.push_back(1, &[2; 40]).unwrap();
    assert!(!storage.can_fit(1));
    storage.remove_through(0).unwrap();
    // The ring wraps: 60 bytes are free at the start.
    assert!(storage.can_fit(60));
    assert!(!storage.can_fit(61));
    storage.push_back(2, &[3; 60]).unwrap();
    assert_eq!(storage.get(0), Some((1, &[2u8; 40][..])));
    assert_eq!(storage.get(1), Some((2, &[3u8; 60][..])));
    assert_eq!(storage.get(2), None);
}

#[test]
fn memory_storage_record_count_boundary() {
    let mut storage = MemoryStorage::<100, 2>::new();
    storage.push_back(0, &[1]).unwrap();
    storage.push_back(1, &[1]).unwrap();
    assert!(!storage.can_fit(1));
    assert!(storage.push_back(2, &[1]).is_err());
}

#[test]
fn push_encoded_checks_header() {
    let mut queue = Queue::new(MemoryStorage::<1024, 8>::new(), OverflowPolicy::DropOldest);
    assert!(queue.push_encoded(&[]).is_err());
    assert!(queue.push_encoded(&[0x80]).is_err());
    let bytes = postcard::to_allocvec(&events()[0]).unwrap();
    assert_eq!(
        queue.push_encoded(&bytes).unwrap(),
        Pushed::Stored { sequence: 0 }
    );
}

#[test]
fn report_fits_bound() {
    let mut header = samples::header(0, Severity::Critical);
    header.sequence = u64::MAX;
    header.boot = u32::MAX;
    header.uptime_ms = u64::MAX;
    header.wall_clock = Some(palisade_schema::WallClock {
        unix_ms: u64::MAX,
        synchronized: true,
    });
    header.hit_count = palisade_schema::HitCount::new(u32::MAX).unwrap();
    header.window_ms = u32::MAX;
    let report = Event {
        header,
        body: EventBody::EventsDropped(EventsDropped {
            count: u64::MAX,
            reason: DropReason::StorageFailure,
        }),
    };
    assert!(postcard::to_allocvec(&report).unwrap().len() <= REPORT_MAX_LEN);
}

mod memory_model {
    use std::collections::VecDeque;

    use palisade_wire::{MemoryStorage, Storage};
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Operation {
        Push(usize, u8),
        Remove(u64),
    }

    fn operation() -> impl Strategy<Value = Operation> {
        prop_oneof![
            3 => (1usize..120, any::<u8>()).prop_map(|(len, fill)| Operation::Push(len, fill)),
            1 => (0u64..8).prop_map(Operation::Remove),
        ]
    }

    proptest! {
        /// The byte ring never overlaps records: after any sequence of
        /// pushes and removals, every stored record reads back as written.
        #[test]
        fn ring_matches_model(operations in proptest::collection::vec(operation(), 1..200)) {
            let mut storage = MemoryStorage::<512, 8>::new();
            let mut model: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
            let mut next = 0u64;
            for operation in operations {
                match operation {
                    Operation::Push(len, fill) => {
                        let record = vec![fill.wrapping_add(next as u8); len];
                        if storage.can_fit(len) {
                            storage.push_back(next, &record).unwrap();
                            model.push_back((next, record));
                            next += 1;
                        } else {
                            prop_assert!(storage.push_back(next, &record).is_err());
                        }
                    }
                    Operation::Remove(behind) => {
                        let through = next.saturating_sub(behind);
                        let removed = storage.remove_through(through).unwrap();
                        let before = model.len();
                        model.retain(|(sequence, _)| *sequence > through);
                        prop_assert_eq!(removed, before - model.len());
                    }
                }
                prop_assert_eq!(storage.len(), model.len());
                for (index, (sequence, record)) in model.iter().enumerate() {
                    prop_assert_eq!(storage.get(index), Some((*sequence, record.as_slice())));
                }
                if model.is_empty() {
                    prop_assert!(storage.can_fit(512));
                }
            }
        }
    }
}

mod accounting {
    use palisade_schema::{Event, EventBody, EventsDropped, samples};
    use palisade_wire::{MemoryStorage, OverflowPolicy, Queue};
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Operation {
        Push(usize),
        /// Acknowledge the first `n` waiting records.
        Ack(usize),
    }

    fn operation() -> impl Strategy<Value = Operation> {
        prop_oneof![
            4 => (0usize..64).prop_map(Operation::Push),
            1 => (0usize..6).prop_map(Operation::Ack),
        ]
    }

    /// Splits the waiting records into (data records, drops counted in reports).
    fn waiting(queue: &Queue<MemoryStorage<1024, 6>>) -> (u64, u64) {
        let mut data = 0;
        let mut reported = 0;
        for (_, bytes) in queue.iter() {
            match palisade_schema::from_bytes::<Event<'_>>(bytes)
                .unwrap()
                .body
            {
                EventBody::EventsDropped(EventsDropped { count, .. }) => reported += count,
                _ => data += 1,
            }
        }
        (data, reported)
    }

    proptest! {
        /// Every pushed event is waiting, acknowledged or dropped, and every
        /// drop is in a report (waiting or acknowledged) or pending.
        #[test]
        fn every_drop_is_counted(
            operations in proptest::collection::vec(operation(), 1..150),
            drop_oldest in any::<bool>(),
        ) {
            let events: Vec<Event<'static>> = samples::mixed_batch().collect();
            let policy = if drop_oldest { OverflowPolicy::DropOldest } else { OverflowPolicy::DropNewest };
            let mut queue = Queue::new(MemoryStorage::<1024, 6>::new(), policy);
            let mut pushed = 0u64;
            let mut acked_data = 0u64;
            let mut acked_reported = 0u64;
            for operation in operations {
                match operation {
                    Operation::Push(index) => {
                        queue.push(&events[index]).unwrap();
                        pushed += 1;
                    }
                    Operation::Ack(count) => {
                        let Some((through, _)) = queue.iter().take(count).last() else { continue };
                        for (sequence, bytes) in queue.iter().filter(|(sequence, _)| *sequence <= through) {
                            match palisade_schema::from_bytes::<Event<'_>>(bytes).unwrap().body {
                                EventBody::EventsDropped(EventsDropped { count, .. }) => acked_reported += count,
                                _ => acked_data += 1,
                            }
                            prop_assert!(sequence <= through);
                        }
                        queue.ack(through).unwrap();
                    }
                }
                let (data, reported) = waiting(&queue);
                prop_assert_eq!(data + acked_data + queue.dropped_total(), pushed);
                prop_assert_eq!(reported + queue.pending_drops() + acked_reported, queue.dropped_total());
            }
        }
    }
}
