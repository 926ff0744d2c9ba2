//! Sender and receiver of reliable delivery, step by step.

use palisade_transport::WINDOW;
use palisade_transport::message::{Ack, DataHeader};
use palisade_transport::reliable::{MAX_BOOTS, PushError, Receiver, Sender, SenderConfig, Verdict};

const CONFIG: SenderConfig = SenderConfig {
    initial_rto_ms: 100,
    max_rto_ms: 400,
    initial_credit: 4,
};

fn header(boot: u32, seq: u64, base: u64) -> DataHeader {
    DataHeader { boot, seq, base }
}

fn drain(sender: &mut Sender<16>, now: u64) -> Vec<u64> {
    let mut sent = Vec::new();
    while let Some(transmit) = sender.poll_transmit(now) {
        sent.push(transmit.header.seq);
    }
    sent
}

#[test]
fn sender_respects_initial_credit() {
    let mut sender: Sender<16> = Sender::new(1, 10, CONFIG);
    for seq in 10..20 {
        sender.push(seq).expect("room");
    }
    assert_eq!(drain(&mut sender, 0), vec![10, 11, 12, 13]);
    assert_eq!(sender.poll_timeout(), Some(100));
}

#[test]
fn sender_push_limits() {
    let mut sender: Sender<2> = Sender::new(1, 5, CONFIG);
    assert_eq!(
        sender.push(4),
        Err(PushError::NotIncreasing { seq: 4, last: 4 })
    );
    sender.push(5).expect("first");
    sender.push(9).expect("gaps are allowed");
    assert_eq!(sender.push(10), Err(PushError::Full { capacity: 2 }));
    assert_eq!(sender.push(9), Err(PushError::Full { capacity: 2 }));
}

#[test]
fn sender_retransmits_with_backoff() {
    let mut sender: Sender<16> = Sender::new(1, 0, CONFIG);
    sender.push(0).expect("room");
    let first = sender.poll_transmit(0).expect("first transmission");
    assert_eq!((first.header.seq, first.attempt), (0, 1));
    assert_eq!(
        sender.poll_transmit(99),
        None,
        "retransmitted before the timeout"
    );
    let second = sender.poll_transmit(100).expect("retransmission");
    assert_eq!(second.attempt, 2);
    // The timeout doubles (200 ms), then stops at the maximum (400 ms).
    assert_eq!(sender.poll_timeout(), Some(300));
    assert!(sender.poll_transmit(300).is_some());
    assert_eq!(sender.poll_timeout(), Some(700));
    assert!(sender.poll_transmit(700).is_some());
    assert_eq!(sender.poll_timeout(), Some(1_100));
    assert_eq!(sender.stats().retransmitted, 3);
}

#[test]
fn ack_removes_covered_records() {
    let mut sender: Sender<16> = Sender::new(1, 0, CONFIG);
    for seq in 0..4 {
        sender.push(seq).expect("room");
    }
    drain(&mut sender, 0);
    // Records 0 and 2 received: next = 1, bit 1 (record 2) set.
    let ack = Ack {
        boot: 1,
        next: 1,
        received: 0b10,
        credit: 8,
    };
    let mut acked = Vec::new();
    assert_eq!(sender.on_ack(&ack, |seq| acked.push(seq)), 2);
    assert_eq!(acked, vec![0, 2]);
    assert_eq!(sender.base(), 1);
    assert_eq!(sender.len(), 2);
    // An acknowledgement for another boot changes nothing.
    let foreign = Ack {
        boot: 2,
        next: 10,
        ..ack
    };
    assert_eq!(
        sender.on_ack(&foreign, |_| panic!("foreign ack removed a record")),
        0
    );
    assert_eq!(sender.stats().foreign_acks, 1);
}

#[test]
fn zero_credit_probes_after_timeout() {
    let mut sender: Sender<16> = Sender::new(1, 0, CONFIG);
    sender.push(0).expect("room");
    sender.push(1).expect("room");
    assert_eq!(drain(&mut sender, 0), vec![0, 1]);
    // Record 0 accepted, no room for more.
    let ack = Ack {
        boot: 1,
        next: 1,
        received: 0,
        credit: 0,
    };
    sender.on_ack(&ack, |_| {});
    // Record 1 is in flight: it is retransmitted on its own timer.
    assert_eq!(drain(&mut sender, 50), Vec::<u64>::new());
    let ack = Ack { next: 2, ..ack };
    sender.on_ack(&ack, |_| {});
    sender.push(2).expect("room");
    // Nothing in flight and no credit: the probe waits one timeout.
    assert_eq!(drain(&mut sender, 60), Vec::<u64>::new());
    assert_eq!(sender.poll_timeout(), Some(160));
    assert_eq!(drain(&mut sender, 159), Vec::<u64>::new());
    assert_eq!(drain(&mut sender, 160), vec![2]);
}

#[test]
fn disconnect_resends_everything() {
    let mut sender: Sender<16> = Sender::new(1, 0, CONFIG);
    for seq in 0..3 {
        sender.push(seq).expect("room");
    }
    assert_eq!(drain(&mut sender, 0), vec![0, 1, 2]);
    sender.on_disconnect();
    assert_eq!(drain(&mut sender, 1), vec![0, 1, 2]);
    assert_eq!(sender.stats().disconnects, 1);
}

#[test]
fn sender_stays_inside_receive_window() {
    let config = SenderConfig {
        initial_credit: WINDOW as u16,
        ..CONFIG
    };
    let mut sender: Sender<100> = Sender::new(1, 0, config);
    for seq in 0..100 {
        sender.push(seq).expect("room");
    }
    let ack = Ack {
        boot: 1,
        next: 0,
        received: 0,
        credit: WINDOW as u16,
    };
    sender.on_ack(&ack, |_| {});
    let mut sent = 0;
    while sender.poll_transmit(0).is_some() {
        sent += 1;
    }
    assert_eq!(sent, WINDOW);
}

#[test]
fn receiver_deduplicates() {
    let mut receiver = Receiver::new();
    assert_eq!(receiver.accept(&header(1, 5, 5)), Verdict::New);
    assert_eq!(receiver.accept(&header(1, 5, 5)), Verdict::Duplicate);
    assert_eq!(receiver.accept(&header(1, 7, 5)), Verdict::New);
    assert_eq!(receiver.accept(&header(1, 7, 5)), Verdict::Duplicate);
    let ack = receiver.ack_for(&header(1, 7, 5), 10);
    assert_eq!(
        ack,
        Ack {
            boot: 1,
            next: 6,
            received: 0b10,
            credit: 10
        }
    );
    assert_eq!(receiver.accept(&header(1, 6, 5)), Verdict::New);
    assert_eq!(receiver.ack_for(&header(1, 6, 5), 0).next, 8);
    let stats = receiver.stats();
    assert_eq!((stats.accepted, stats.duplicates), (3, 2));
}

#[test]
fn receiver_window_boundary() {
    let mut receiver = Receiver::new();
    assert_eq!(receiver.accept(&header(1, 0, 0)), Verdict::New);
    // next = 1: the window covers 1..=64.
    assert_eq!(receiver.classify(&header(1, WINDOW, 0)), Verdict::New);
    assert_eq!(
        receiver.accept(&header(1, WINDOW + 1, 0)),
        Verdict::BeyondWindow
    );
    assert_eq!(receiver.accept(&header(1, WINDOW, 0)), Verdict::New);
    assert_eq!(receiver.stats().beyond_window, 1);
}

#[test]
fn new_boot_window_opens_at_base() {
    let receiver = Receiver::new();
    assert_eq!(
        receiver.classify(&header(1, 100 + WINDOW - 1, 100)),
        Verdict::New
    );
    assert_eq!(
        receiver.classify(&header(1, 100 + WINDOW, 100)),
        Verdict::BeyondWindow
    );
}

#[test]
fn sender_base_settles_older_records() {
    let mut receiver = Receiver::new();
    assert_eq!(receiver.accept(&header(1, 3, 0)), Verdict::New);
    // The sender declares everything below 10 settled.
    assert_eq!(receiver.accept(&header(1, 12, 10)), Verdict::New);
    assert_eq!(receiver.classify(&header(1, 4, 0)), Verdict::Duplicate);
    let ack = receiver.ack_for(&header(1, 12, 10), 1);
    assert_eq!((ack.next, ack.received), (10, 0b100));
}

#[test]
fn boots_are_tracked_separately() {
    let mut receiver = Receiver::new();
    for boot in 1..=MAX_BOOTS as u32 {
        assert_eq!(receiver.accept(&header(boot, 0, 0)), Verdict::New);
    }
    assert_eq!(receiver.accept(&header(2, 0, 0)), Verdict::Duplicate);
    // A newer boot evicts the oldest one.
    assert_eq!(receiver.accept(&header(9, 0, 0)), Verdict::New);
    assert_eq!(receiver.stats().evicted_boots, 1);
    assert_eq!(receiver.accept(&header(1, 1, 0)), Verdict::StaleBoot);
    let ack = receiver.ack_for(&header(1, 1, 0), 5);
    assert!(
        ack.covers(1),
        "a stale record must be acknowledged so the sender drops it"
    );
    assert_eq!(receiver.stats().stale_boot, 1);
}

#[test]
fn restored_window_rejects_stored_records() {
    let mut receiver = Receiver::new();
    receiver.restore(4, 50);
    assert_eq!(receiver.classify(&header(4, 49, 40)), Verdict::Duplicate);
    assert_eq!(receiver.classify(&header(4, 50, 40)), Verdict::New);
    assert_eq!(receiver.latest_ack(3).map(|a| a.next), Some(50));
}

#[test]
fn end_to_end_without_faults() {
    let mut sender: Sender<8> = Sender::new(1, 0, CONFIG);
    let mut receiver = Receiver::new();
    let mut delivered = Vec::new();
    let mut next = 0;
    let mut now = 0;
    while delivered.len() < 100 {
        while next < 100 && !sender.is_full() {
            sender.push(next).expect("room");
            next += 1;
        }
        let mut acks = Vec::new();
        while let Some(transmit) = sender.poll_transmit(now) {
            if receiver.accept(&transmit.header) == Verdict::New {
                delivered.push(transmit.header.seq);
            }
            acks.push(receiver.ack_for(&transmit.header, 8));
        }
        for ack in acks {
            sender.on_ack(&ack, |_| {});
        }
        now += 1;
        assert!(now < 1_000, "stalled at {} records", delivered.len());
    }
    assert_eq!(delivered, (0..100).collect::<Vec<u64>>());
    assert_eq!(sender.stats().retransmitted, 0);
}

#[test]
fn header_with_base_above_seq_is_settled() {
    // The decoder rejects such a header; a caller that builds one by hand
    // must not crash the receiver.
    let mut receiver = Receiver::new();
    assert_eq!(receiver.accept(&header(2, 3, 9)), Verdict::Duplicate);
    assert_eq!(receiver.accept(&header(2, 9, 9)), Verdict::New);
    assert_eq!(receiver.accept(&header(2, 3, 9)), Verdict::Duplicate);
}
