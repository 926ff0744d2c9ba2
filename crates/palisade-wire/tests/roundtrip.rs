//! Property tests: batching loses and reorders nothing at any MTU, and no
//! input makes a decoder panic.

use palisade_schema::{Bytes, Event, EventBody, EventKind, Severity, Str, Telemetry, samples};
use palisade_wire::cobs::{CobsDecoder, Feed};
use palisade_wire::{
    FrameDecoder, FrameEncoder, FrameHeader, Framing, MAX_MTU, MIN_MTU, MTU_FOR_ANY_EVENT,
    Protection, RejectReason, cobs,
};
use proptest::prelude::*;

/// Generates the parts of an event: a random kind, a random header, and
/// random text or data for kinds with a free-form field that is easy to vary.
fn event_strategy() -> impl Strategy<Value = (usize, u64, u64, u8, String, Vec<u8>)> {
    (
        0..EventKind::ALL.len(),
        any::<u64>(),
        any::<u64>(),
        0u8..5,
        "[a-z0-9 /._-]{0,64}",
        proptest::collection::vec(any::<u8>(), 0..300),
    )
}

fn build<'a>(parts: &'a (usize, u64, u64, u8, String, Vec<u8>)) -> Event<'a> {
    let (kind, sequence, uptime, severity, text, data) = parts;
    let severity = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ][usize::from(*severity)];
    let mut header = samples::header(0, severity);
    header.sequence = *sequence;
    header.uptime_ms = *uptime;
    let kind = EventKind::ALL[*kind];
    let body = match kind {
        EventKind::Telemetry => EventBody::Telemetry(Telemetry {
            channel: (*sequence % 65_536) as u16,
            data: Bytes::new(data).unwrap(),
        }),
        EventKind::Login => {
            let EventBody::Login(mut login) = samples::body(kind) else {
                unreachable!()
            };
            login.user = Str::truncated(text);
            EventBody::Login(login)
        }
        _ => samples::body(kind),
    };
    Event { header, body }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn batches_keep_every_event_in_order(
        parts in proptest::collection::vec(event_strategy(), 1..40),
        mtu in MTU_FOR_ANY_EVENT..4096usize,
        cobs_framing in any::<bool>(),
    ) {
        let events: Vec<Event<'_>> = parts.iter().map(build).collect();
        let framing = if cobs_framing { Framing::Cobs } else { Framing::Plain };
        let mut buffer = vec![0u8; cobs::max_encoded_len(mtu)];
        let mut received = Vec::new();
        let mut record = 0u64;
        let mut next = 0usize;
        while next < events.len() {
            let mut encoder = FrameEncoder::new(&mut buffer, mtu, Protection::Checksummed, framing).unwrap();
            while next < events.len() {
                match encoder.push(&events[next]) {
                    Ok(()) => next += 1,
                    Err(rejected) => {
                        prop_assert_eq!(rejected.reason, RejectReason::FrameFull);
                        break;
                    }
                }
            }
            let wire = encoder.finish_checksummed(record).unwrap().to_vec();
            prop_assert!(wire.len() <= cobs::max_encoded_len(mtu));
            let frame_bytes = match framing {
                Framing::Plain => {
                    prop_assert!(wire.len() <= mtu);
                    wire
                }
                Framing::Cobs => {
                    let mut decoder = CobsDecoder::<4096>::new();
                    let (used, feed) = decoder.feed(&wire);
                    prop_assert_eq!(used, wire.len());
                    let Feed::Message(message) = feed else { panic!("no message: {feed:?}") };
                    message.to_vec()
                }
            };
            let frame = FrameDecoder::new().decode(&frame_bytes).unwrap();
            prop_assert_eq!(frame.record(), record);
            for event in frame.events() {
                received.push(postcard::to_allocvec(&event.unwrap()).unwrap());
            }
            record += 1;
        }
        let sent: Vec<Vec<u8>> = events.iter().map(|event| postcard::to_allocvec(event).unwrap()).collect();
        prop_assert_eq!(received, sent);
    }

    #[test]
    fn frame_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(frame) = FrameDecoder::new().decode(&bytes) {
            for event in frame.events() {
                let _ = event;
            }
        }
        let _ = FrameHeader::decode(&bytes);
    }

    #[test]
    fn valid_header_with_random_payload_never_panics(
        payload in proptest::collection::vec(any::<u8>(), 1..400),
        batch in any::<bool>(),
    ) {
        let mut bytes = vec![1u8, if batch { 0x06 } else { 0x02 }, 0, 0, 0, 0, 0, 0, 0, 9];
        bytes.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        bytes.extend_from_slice(&payload);
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_be_bytes());
        let frame = FrameDecoder::new().decode(&bytes).unwrap();
        let mut errors = 0;
        for event in frame.events() {
            if event.is_err() {
                errors += 1;
            }
        }
        prop_assert!(errors <= 1);
    }

    #[test]
    fn mtu_range_is_enforced(mtu in 0usize..MAX_MTU + 100) {
        let mut buffer = vec![0u8; MAX_MTU + 100];
        let accepted = FrameEncoder::new(&mut buffer, mtu, Protection::Sealed, Framing::Plain).is_ok();
        prop_assert_eq!(accepted, (MIN_MTU..=MAX_MTU).contains(&mtu));
    }
}
