//! Reliable delivery over an in-memory byte link that drops, duplicates,
//! reorders, corrupts and truncates, with sealed frames (test cipher) and
//! COBS framing. Seeded and deterministic: a failure replays exactly.

mod common;

use std::collections::BTreeMap;

use common::cipher::{Rng, TestOpener, TestSealer};
use palisade_transport::framing::{CobsDecoder, Decoded, cobs_encode, cobs_max_encoded_len};
use palisade_transport::message::{DataHeader, Message};
use palisade_transport::reliable::{Receiver, Sender, SenderConfig, Verdict};
use palisade_transport::session::{FrameReader, FrameWriter, MAX_TRANSPORT_FRAME_LEN};

const EVENTS: u64 = 100_000;
const EVENTS_PER_RECORD: u64 = 8;
const MAX_FRAME: usize = 512;
const UP_KEY: u64 = 0x5EA1_0001;
const DOWN_KEY: u64 = 0x5EA1_0002;

/// Fault rates in percent per chunk of bytes (one encoded frame).
#[derive(Clone, Copy)]
struct Faults {
    drop: u64,
    duplicate: u64,
    corrupt: u64,
    truncate: u64,
    /// Largest extra delay in milliseconds; chunks overtake each other.
    max_delay_ms: u64,
}

/// One direction of the faulty link: COBS-encoded frames become chunks of
/// bytes that are dropped, duplicated, corrupted, truncated or delayed, and
/// arrive as one byte stream in order of their arrival time.
struct FaultyPipe {
    rng: Rng,
    faults: Faults,
    /// (arrival time, sequence for stable order, bytes)
    in_transit: Vec<(u64, u64, Vec<u8>)>,
    counter: u64,
    stats: PipeStats,
}

#[derive(Default, Debug)]
struct PipeStats {
    sent: u64,
    dropped: u64,
    duplicated: u64,
    corrupted: u64,
    truncated: u64,
}

impl FaultyPipe {
    fn new(seed: u64, faults: Faults) -> Self {
        Self {
            rng: Rng::new(seed),
            faults,
            in_transit: Vec::new(),
            counter: 0,
            stats: PipeStats::default(),
        }
    }

    fn send(&mut self, now: u64, frame: &[u8]) {
        self.stats.sent += 1;
        let mut encoded = vec![0u8; cobs_max_encoded_len(frame.len()) + 1];
        let len = cobs_encode(frame, &mut encoded).expect("buffer sized for the encoding");
        encoded.truncate(len);
        if self.rng.chance(self.faults.drop) {
            self.stats.dropped += 1;
            return;
        }
        let copies = if self.rng.chance(self.faults.duplicate) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut bytes = encoded.clone();
            if self.rng.chance(self.faults.corrupt) {
                let index = self.rng.below(bytes.len() as u64) as usize;
                bytes[index] ^= 1 << self.rng.below(8);
                self.stats.corrupted += 1;
            }
            if self.rng.chance(self.faults.truncate) {
                let keep = self.rng.below(bytes.len() as u64) as usize;
                bytes.truncate(keep);
                self.stats.truncated += 1;
            }
            let arrival = now + 1 + self.rng.below(self.faults.max_delay_ms + 1);
            self.in_transit.push((arrival, self.counter, bytes));
            self.counter += 1;
        }
    }

    /// Bytes that arrive by `now`, in arrival order.
    fn receive(&mut self, now: u64) -> Vec<u8> {
        self.in_transit
            .sort_by_key(|(arrival, order, _)| (*arrival, *order));
        let due = self
            .in_transit
            .partition_point(|(arrival, _, _)| *arrival <= now);
        self.in_transit
            .drain(..due)
            .flat_map(|(_, _, bytes)| bytes)
            .collect()
    }

    /// Loses everything in transit, as a cut connection does.
    fn cut(&mut self) {
        self.in_transit.clear();
    }
}

/// Splits a received byte stream into frames.
fn frames(
    decoder: &mut CobsDecoder,
    bytes: &[u8],
    buf: &mut [u8],
    mut each: impl FnMut(&mut [u8]),
) -> u64 {
    let mut rest = bytes;
    let mut dropped = 0;
    while !rest.is_empty() {
        let (consumed, decoded) = decoder.feed(rest, buf);
        rest = &rest[consumed..];
        match decoded {
            Decoded::Frame(len) => each(&mut buf[..len]),
            Decoded::Error(_) => dropped += 1,
            Decoded::NeedMore => {}
        }
    }
    dropped
}

/// Hands one received record to the gateway's inbox, unless it is a
/// duplicate or the inbox is full (then it stays unacknowledged).
fn take(
    header: DataHeader,
    record: &[u8],
    receiver: &mut Receiver,
    inbox: &mut Vec<Vec<u8>>,
    inbox_capacity: usize,
    refused_full: &mut u64,
) {
    if receiver.classify(&header) == Verdict::New {
        if inbox.len() >= inbox_capacity {
            *refused_full += 1;
            return;
        }
        inbox.push(record.to_vec());
    }
    receiver.accept(&header);
}

struct Outcome {
    delivered: Vec<u32>,
    retransmitted: u64,
    duplicates_dropped: u64,
    frames_rejected: u64,
    cobs_dropped: u64,
    refused_full: u64,
    reconnects: u64,
    max_unconsumed: usize,
    elapsed_ms: u64,
    pipe: PipeStats,
}

/// Runs the device (sender) and the gateway (receiver) against each other
/// over the faulty pipes until every event is delivered.
fn simulate(
    seed: u64,
    faults: Faults,
    inbox_capacity: usize,
    consume_every_ms: u64,
    cut_every_ms: u64,
    batch: bool,
) -> Outcome {
    let mut up = FaultyPipe::new(seed, faults);
    let mut down = FaultyPipe::new(seed.wrapping_mul(31).wrapping_add(7), faults);

    // Device: queue of records, sender, session.
    let config = SenderConfig {
        initial_rto_ms: 60,
        max_rto_ms: 1_000,
        initial_credit: 8,
    };
    let mut sender: Sender<32> = Sender::new(7, 0, config);
    let mut queue: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut next_event = 0u64;
    let mut next_seq = 0u64;
    let mut session = 0u64;
    let mut device_writer = FrameWriter::sealed(TestSealer::new(UP_KEY));
    let mut device_reader = FrameReader::sealed(TestOpener::new(DOWN_KEY));
    let mut device_decoder = CobsDecoder::new(MAX_FRAME);

    // Gateway: receiver (kept across connections), inbox drained slowly.
    let mut receiver = Receiver::new();
    let mut gateway_writer = FrameWriter::sealed(TestSealer::new(DOWN_KEY));
    let mut gateway_reader = FrameReader::sealed(TestOpener::new(UP_KEY));
    let mut gateway_decoder = CobsDecoder::new(MAX_FRAME);
    let mut inbox: Vec<Vec<u8>> = Vec::new();

    let mut delivered = vec![0u32; EVENTS as usize];
    let mut frames_rejected = 0u64;
    let mut cobs_dropped = 0u64;
    let mut refused_full = 0u64;
    let mut max_unconsumed = 0usize;
    let mut out = vec![0u8; MAX_TRANSPORT_FRAME_LEN];
    let mut rx_buf = vec![0u8; MAX_FRAME];

    let mut now = 0u64;
    let limit_ms = 20_000_000;
    while now < limit_ms {
        now += 1;

        // Device: register new records while the sender has room.
        while next_event < EVENTS && !sender.is_full() {
            let mut record = Vec::new();
            for id in next_event..(next_event + EVENTS_PER_RECORD).min(EVENTS) {
                record.extend_from_slice(&id.to_le_bytes());
            }
            next_event = (next_event + EVENTS_PER_RECORD).min(EVENTS);
            queue.insert(next_seq, record);
            sender.push(next_seq).expect("sender has room");
            next_seq += 1;
        }
        if batch {
            // Up to 16 records per DATA_BATCH frame.
            let mut pending = None;
            while let Some(transmit) = pending.take().or_else(|| sender.poll_transmit(now)) {
                let header = transmit.header;
                let mut frame_out = vec![0u8; MAX_FRAME];
                let mut builder = device_writer
                    .begin_batch(header.boot, header.base, &mut frame_out)
                    .expect("room for a batch");
                assert!(
                    builder.push(header.seq, &queue[&header.seq]),
                    "one record fits a batch"
                );
                while builder.len() < 16 {
                    let Some(next) = sender.poll_transmit(now) else {
                        break;
                    };
                    if !builder.push(next.header.seq, &queue[&next.header.seq]) {
                        pending = Some(next);
                        break;
                    }
                }
                let frame = device_writer.finish_batch(builder).expect("batch frame");
                up.send(now, frame);
            }
        } else {
            while let Some(transmit) = sender.poll_transmit(now) {
                let record = &queue[&transmit.header.seq];
                let frame = device_writer
                    .data(&transmit.header, record, &mut out)
                    .expect("record fits a frame");
                up.send(now, frame);
            }
        }

        // Gateway: take what arrived, accept what fits the inbox, reply to
        // each DATA frame with an acknowledgement.
        let bytes = up.receive(now);
        let mut acks = Vec::new();
        cobs_dropped +=
            frames(
                &mut gateway_decoder,
                &bytes,
                &mut rx_buf,
                |frame| match gateway_reader.read(frame) {
                    Ok(Message::Data { header, record }) => {
                        take(
                            header,
                            record,
                            &mut receiver,
                            &mut inbox,
                            inbox_capacity,
                            &mut refused_full,
                        );
                        let credit = (inbox_capacity - inbox.len()) as u16;
                        acks.push(receiver.ack_for(&header, credit));
                    }
                    Ok(Message::DataBatch(batch)) => {
                        let mut last = None;
                        for (header, record) in batch.records() {
                            take(
                                header,
                                record,
                                &mut receiver,
                                &mut inbox,
                                inbox_capacity,
                                &mut refused_full,
                            );
                            last = Some(header);
                        }
                        let last = last.expect("a batch has at least one record");
                        let credit = (inbox_capacity - inbox.len()) as u16;
                        acks.push(receiver.ack_for(&last, credit));
                    }
                    Ok(other) => panic!("gateway received an unexpected message {other:?}"),
                    Err(_) => frames_rejected += 1,
                },
            );
        for ack in acks {
            let frame = gateway_writer
                .ack(&ack, &mut out)
                .expect("ACK fits a frame");
            down.send(now, frame);
        }
        max_unconsumed = max_unconsumed.max(inbox.len());
        if now.is_multiple_of(consume_every_ms)
            && let Some(record) = inbox.pop()
        {
            for chunk in record.chunks_exact(8) {
                let id = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
                delivered[id as usize] += 1;
            }
        }

        // Device: apply acknowledgements.
        let bytes = down.receive(now);
        cobs_dropped += frames(
            &mut device_decoder,
            &bytes,
            &mut rx_buf,
            |frame| match device_reader.read(frame) {
                Ok(Message::Ack(ack)) => {
                    sender.on_ack(&ack, |seq| {
                        queue.remove(&seq).expect("acknowledged record is queued");
                    });
                }
                Ok(other) => panic!("device received an unexpected message {other:?}"),
                Err(_) => frames_rejected += 1,
            },
        );

        // Now and then the connection is cut: a new session with fresh
        // record numbers, everything in transit lost.
        if cut_every_ms > 0 && now.is_multiple_of(cut_every_ms) {
            up.cut();
            down.cut();
            session += 1;
            sender.on_disconnect();
            device_writer = FrameWriter::sealed(TestSealer::new(UP_KEY ^ session));
            gateway_reader = FrameReader::sealed(TestOpener::new(UP_KEY ^ session));
            gateway_writer = FrameWriter::sealed(TestSealer::new(DOWN_KEY ^ session));
            device_reader = FrameReader::sealed(TestOpener::new(DOWN_KEY ^ session));
            device_decoder.reset();
            gateway_decoder.reset();
        }

        if next_event == EVENTS && sender.is_empty() && inbox.is_empty() {
            break;
        }
    }
    let sender_stats = sender.stats();
    let receiver_stats = receiver.stats();
    Outcome {
        delivered,
        retransmitted: sender_stats.retransmitted,
        duplicates_dropped: receiver_stats.duplicates,
        frames_rejected,
        cobs_dropped,
        refused_full,
        reconnects: sender_stats.disconnects,
        max_unconsumed,
        elapsed_ms: now,
        pipe: up.stats,
    }
}

fn assert_exactly_once(outcome: &Outcome) {
    let lost: Vec<usize> = (0..outcome.delivered.len())
        .filter(|&i| outcome.delivered[i] == 0)
        .collect();
    let twice: Vec<usize> = (0..outcome.delivered.len())
        .filter(|&i| outcome.delivered[i] > 1)
        .collect();
    assert!(
        lost.is_empty(),
        "{} events lost (first {:?}) after {} simulated ms",
        lost.len(),
        &lost[..lost.len().min(10)],
        outcome.elapsed_ms
    );
    assert!(
        twice.is_empty(),
        "{} events delivered twice (first {:?})",
        twice.len(),
        &twice[..twice.len().min(10)]
    );
}

const HARSH: Faults = Faults {
    drop: 5,
    duplicate: 5,
    corrupt: 3,
    truncate: 3,
    max_delay_ms: 40,
};

#[test]
fn faulty_link_delivers_each_event_once() {
    for seed in [1, 2, 3] {
        let outcome = simulate(seed, HARSH, 64, 1, 0, false);
        assert_exactly_once(&outcome);
        eprintln!(
            "seed {seed}: {} ms simulated, {} frames sent up, {} dropped, {} duplicated, {} corrupted, {} truncated, \
             {} retransmissions, {} duplicates dropped, {} frames rejected, {} COBS frames dropped",
            outcome.elapsed_ms,
            outcome.pipe.sent,
            outcome.pipe.dropped,
            outcome.pipe.duplicated,
            outcome.pipe.corrupted,
            outcome.pipe.truncated,
            outcome.retransmitted,
            outcome.duplicates_dropped,
            outcome.frames_rejected,
            outcome.cobs_dropped
        );
        // Every kind of fault happened and was handled.
        assert!(outcome.pipe.dropped > 0, "no chunk dropped");
        assert!(outcome.pipe.duplicated > 0, "no chunk duplicated");
        assert!(outcome.pipe.corrupted > 0, "no chunk corrupted");
        assert!(outcome.pipe.truncated > 0, "no chunk truncated");
        assert!(outcome.retransmitted > 0, "no retransmission");
        assert!(
            outcome.duplicates_dropped > 0,
            "no duplicate reached the receiver"
        );
        assert!(
            outcome.frames_rejected + outcome.cobs_dropped > 0,
            "no damaged frame was caught"
        );
    }
}

#[test]
fn cut_connections_deliver_each_event_once() {
    let outcome = simulate(11, HARSH, 64, 1, 250, false);
    assert_exactly_once(&outcome);
    assert!(
        outcome.reconnects > 100,
        "only {} reconnections",
        outcome.reconnects
    );
}

#[test]
fn faulty_link_delivers_batches_once() {
    for seed in [21, 22] {
        let outcome = simulate(seed, HARSH, 64, 1, 400, true);
        assert_exactly_once(&outcome);
        let records = EVENTS.div_ceil(EVENTS_PER_RECORD);
        eprintln!(
            "batched, seed {seed}: {} frames sent up for {records} records, {} ms simulated",
            outcome.pipe.sent, outcome.elapsed_ms
        );
        assert!(
            outcome.pipe.sent < records,
            "batching sent {} frames for {records} records",
            outcome.pipe.sent
        );
        assert!(outcome.retransmitted > 0, "no retransmission");
    }
}

#[test]
fn slow_receiver_pushes_back() {
    // The gateway takes one record every 5 ms from an inbox of 4: the credit
    // in its acknowledgements must hold the sender back, so that records are
    // rarely refused for lack of room.
    let clean = Faults {
        drop: 0,
        duplicate: 0,
        corrupt: 0,
        truncate: 0,
        max_delay_ms: 0,
    };
    let outcome = simulate(5, clean, 4, 5, 0, false);
    assert_exactly_once(&outcome);
    assert!(outcome.max_unconsumed <= 4);
    let records = EVENTS.div_ceil(EVENTS_PER_RECORD);
    // With credit, only the zero-window probe (one record per timeout) can
    // meet a full inbox.
    assert!(
        outcome.refused_full * 20 < records,
        "{} of {records} records refused for a full inbox: the sender ignored the credit",
        outcome.refused_full
    );
    assert!(
        outcome.elapsed_ms >= records * 5,
        "the receiver's pace was not respected"
    );
}
