//! Frame encoding, decoding, sealing and the replay window.

mod common;

use common::{TestOpener, TestSealer};
use palisade_schema::{Event, EventKind, samples};
use palisade_wire::{
    FrameDecoder, FrameEncoder, FrameError, FrameHeader, FrameOpener, Framing, HEADER_LEN,
    MAX_FRAME_LEN, MAX_MTU, MIN_MTU, MTU_FOR_ANY_EVENT, Protection, REPLAY_WINDOW, RejectReason,
};

fn checksummed_frame(events: &[Event<'_>], record: u64, buffer: &mut [u8]) -> usize {
    let mtu = buffer.len().min(MAX_MTU);
    let mut encoder =
        FrameEncoder::new(buffer, mtu, Protection::Checksummed, Framing::Plain).unwrap();
    for event in events {
        encoder.push(event).unwrap();
    }
    encoder.finish_checksummed(record).unwrap().len()
}

fn sealed_frame(
    events: &[Event<'_>],
    record: u64,
    sealer: &mut TestSealer,
    buffer: &mut [u8],
) -> usize {
    let mtu = buffer.len().min(MAX_MTU);
    let mut encoder = FrameEncoder::new(buffer, mtu, Protection::Sealed, Framing::Plain).unwrap();
    for event in events {
        encoder.push(event).unwrap();
    }
    encoder.finish_sealed(record, sealer).unwrap().len()
}

#[test]
fn checksummed_batch_round_trip() {
    let events: Vec<Event<'static>> = samples::mixed_batch().collect();
    let mut buffer = vec![0u8; MAX_FRAME_LEN];
    let len = checksummed_frame(&events, 9, &mut buffer);
    let frame = FrameDecoder::new().decode(&buffer[..len]).unwrap();
    assert_eq!(frame.record(), 9);
    assert!(frame.header().flags.is_batch());
    let decoded: Vec<Event<'_>> = frame.events().map(Result::unwrap).collect();
    assert_eq!(decoded, events);
}

#[test]
fn single_event_frame_has_no_batch_flag() {
    let event = samples::one_of_each().next().unwrap();
    let mut buffer = [0u8; 2048];
    let len = checksummed_frame(core::slice::from_ref(&event), 1, &mut buffer);
    let frame = FrameDecoder::new().decode(&buffer[..len]).unwrap();
    assert!(!frame.header().flags.is_batch());
    let decoded: Vec<_> = frame.events().collect();
    assert_eq!(decoded, vec![Ok(event)]);
}

#[test]
fn sealed_round_trip_every_kind() {
    let mut sealer = TestSealer::new();
    let mut opener = FrameOpener::new(TestOpener::new());
    for (record, event) in samples::one_of_each().enumerate() {
        let mut buffer = [0u8; 2048];
        let len = sealed_frame(
            core::slice::from_ref(&event),
            record as u64,
            &mut sealer,
            &mut buffer,
        );
        let frame = opener.open(&mut buffer[..len]).unwrap();
        assert_eq!(frame.events().next(), Some(Ok(event)));
    }
}

#[test]
fn push_hands_back_event_when_full() {
    let mut buffer = [0u8; 256];
    let mut encoder =
        FrameEncoder::new(&mut buffer, 256, Protection::Checksummed, Framing::Plain).unwrap();
    let mut accepted = 0;
    let mut rejected = None;
    for event in samples::mixed_batch() {
        match encoder.push(event) {
            Ok(()) => accepted += 1,
            Err(back) => {
                rejected = Some(back);
                break;
            }
        }
    }
    let rejected = rejected.expect("a 256-byte frame cannot hold 64 events");
    assert_eq!(rejected.reason, RejectReason::FrameFull);
    assert_eq!(
        rejected.event,
        samples::mixed_batch().nth(accepted).unwrap()
    );
    let before = encoder.payload_len();
    let frame_len = encoder.finish_checksummed(0).unwrap().len();
    assert!(frame_len <= 256);
    assert_eq!(frame_len, HEADER_LEN + before + 4);
}

#[test]
fn push_rejects_event_larger_than_empty_frame() {
    let mut buffer = [0u8; MIN_MTU];
    let mut encoder =
        FrameEncoder::new(&mut buffer, MIN_MTU, Protection::Sealed, Framing::Plain).unwrap();
    let big = Event {
        header: samples::header(0, Default::default()),
        body: samples::body(EventKind::SystemInfo),
    };
    let back = encoder.push(&big).unwrap_err();
    assert_eq!(back.reason, RejectReason::TooLarge);
    assert!(encoder.is_empty());
    assert_eq!(
        encoder.finish_sealed(0, &mut TestSealer::new()),
        Err(FrameError::EmptyFrame)
    );
}

#[test]
fn mtu_bounds() {
    let mut buffer = vec![0u8; MAX_MTU + 1];
    assert!(
        FrameEncoder::new(
            &mut buffer,
            MIN_MTU,
            Protection::Checksummed,
            Framing::Plain
        )
        .is_ok()
    );
    assert!(
        FrameEncoder::new(
            &mut buffer,
            MAX_MTU,
            Protection::Checksummed,
            Framing::Plain
        )
        .is_ok()
    );
    assert_eq!(
        FrameEncoder::new(
            &mut buffer,
            MIN_MTU - 1,
            Protection::Checksummed,
            Framing::Plain
        )
        .unwrap_err(),
        FrameError::MtuOutOfRange {
            mtu: MIN_MTU - 1,
            min: MIN_MTU,
            max: MAX_MTU
        }
    );
    assert_eq!(
        FrameEncoder::new(
            &mut buffer,
            MAX_MTU + 1,
            Protection::Checksummed,
            Framing::Plain
        )
        .unwrap_err(),
        FrameError::MtuOutOfRange {
            mtu: MAX_MTU + 1,
            min: MIN_MTU,
            max: MAX_MTU
        }
    );
    assert_eq!(
        FrameEncoder::new(
            &mut buffer[..99],
            100,
            Protection::Checksummed,
            Framing::Plain
        )
        .unwrap_err(),
        FrameError::BufferTooSmall {
            len: 99,
            needed: 100
        }
    );
}

#[test]
fn every_event_fits_at_mtu_for_any_event() {
    let mut buffer = [0u8; MTU_FOR_ANY_EVENT];
    for event in samples::one_of_each() {
        let mut encoder = FrameEncoder::new(
            &mut buffer,
            MTU_FOR_ANY_EVENT,
            Protection::Sealed,
            Framing::Plain,
        )
        .unwrap();
        assert!(encoder.push(&event).is_ok());
    }
}

#[test]
fn replayed_record_is_rejected() {
    let event = samples::one_of_each().next().unwrap();
    let mut sealer = TestSealer::new();
    let mut opener = FrameOpener::new(TestOpener::new());
    let mut buffer = [0u8; 2048];
    let len = sealed_frame(core::slice::from_ref(&event), 5, &mut sealer, &mut buffer);
    let copy = buffer;
    opener.open(&mut buffer[..len]).unwrap();
    let mut replay = copy;
    assert_eq!(
        opener.open(&mut replay[..len]).unwrap_err(),
        FrameError::Replayed { record: 5 }
    );
    assert_eq!(
        opener.opener().opened,
        1,
        "a replay must be rejected before the opener runs"
    );
}

#[test]
fn reordered_record_opens_once() {
    let event = samples::one_of_each().next().unwrap();
    let mut sealer = TestSealer::new();
    let mut frames = Vec::new();
    for record in 0..10u64 {
        let mut buffer = vec![0u8; 2048];
        let len = sealed_frame(
            core::slice::from_ref(&event),
            record,
            &mut sealer,
            &mut buffer,
        );
        buffer.truncate(len);
        frames.push(buffer);
    }
    let mut opener = FrameOpener::new(TestOpener::new());
    for record in [0usize, 1, 5, 3, 9, 2] {
        let mut frame = frames[record].clone();
        assert!(
            opener.open(&mut frame).is_ok(),
            "record {record} should open"
        );
    }
    let mut again = frames[3].clone();
    assert_eq!(
        opener.open(&mut again).unwrap_err(),
        FrameError::Replayed { record: 3 }
    );
    let mut late = frames[4].clone();
    assert!(opener.open(&mut late).is_ok());
}

#[test]
fn record_below_window_is_too_old() {
    let event = samples::one_of_each().next().unwrap();
    let mut sealer = TestSealer::new();
    let mut opener = FrameOpener::new(TestOpener::new());
    let newest = REPLAY_WINDOW + 10;
    let mut old = [0u8; 2048];
    let old_len = sealed_frame(core::slice::from_ref(&event), 10, &mut sealer, &mut old);
    let mut edge = [0u8; 2048];
    let edge_len = sealed_frame(core::slice::from_ref(&event), 11, &mut sealer, &mut edge);
    let mut new = [0u8; 2048];
    let new_len = sealed_frame(core::slice::from_ref(&event), newest, &mut sealer, &mut new);
    opener.open(&mut new[..new_len]).unwrap();
    // 11 is newest - 63: the oldest number still inside the window.
    assert!(opener.open(&mut edge[..edge_len]).is_ok());
    assert_eq!(
        opener.open(&mut old[..old_len]).unwrap_err(),
        FrameError::TooOld { record: 10, newest }
    );
}

#[test]
fn forged_frame_does_not_burn_record_number() {
    let event = samples::one_of_each().next().unwrap();
    let mut sealer = TestSealer::new();
    let mut opener = FrameOpener::new(TestOpener::new());
    let mut buffer = [0u8; 2048];
    let len = sealed_frame(core::slice::from_ref(&event), 7, &mut sealer, &mut buffer);
    let good = buffer;
    buffer[HEADER_LEN] ^= 1;
    assert!(matches!(
        opener.open(&mut buffer[..len]),
        Err(FrameError::Open(_))
    ));
    let mut good = good;
    assert!(opener.open(&mut good[..len]).is_ok());
}

#[test]
fn record_number_is_authenticated() {
    let event = samples::one_of_each().next().unwrap();
    let mut sealer = TestSealer::new();
    let mut opener = FrameOpener::new(TestOpener::new());
    let mut buffer = [0u8; 2048];
    let len = sealed_frame(core::slice::from_ref(&event), 7, &mut sealer, &mut buffer);
    buffer[9] = 8;
    assert!(matches!(
        opener.open(&mut buffer[..len]),
        Err(FrameError::Open(_))
    ));
}

#[test]
fn protection_mismatch_both_ways() {
    let event = samples::one_of_each().next().unwrap();
    let mut sealed = [0u8; 2048];
    let sealed_len = sealed_frame(
        core::slice::from_ref(&event),
        1,
        &mut TestSealer::new(),
        &mut sealed,
    );
    assert_eq!(
        FrameDecoder::new()
            .decode(&sealed[..sealed_len])
            .unwrap_err(),
        FrameError::ProtectionMismatch {
            expected: Protection::Checksummed
        }
    );
    let mut plain = [0u8; 2048];
    let plain_len = checksummed_frame(core::slice::from_ref(&event), 1, &mut plain);
    let mut opener = FrameOpener::new(TestOpener::new());
    assert_eq!(
        opener.open(&mut plain[..plain_len]).unwrap_err(),
        FrameError::ProtectionMismatch {
            expected: Protection::Sealed
        }
    );
}

#[test]
fn header_decode_validates_fields() {
    let mut header = [1u8, 0x02, 0, 0, 0, 0, 0, 0, 0, 7, 0, 5];
    let parsed = FrameHeader::decode(&header).unwrap();
    assert_eq!(parsed.record, 7);
    assert_eq!(parsed.frame_len(), 12 + 5 + 4);
    header[0] = 2;
    assert_eq!(
        FrameHeader::decode(&header),
        Err(FrameError::UnsupportedVersion { version: 2 })
    );
    header[0] = 1;
    for flags in [0x00u8, 0x03, 0x04, 0x08, 0x82] {
        header[1] = flags;
        assert_eq!(
            FrameHeader::decode(&header),
            Err(FrameError::InvalidFlags { flags })
        );
    }
    header[1] = 0x06;
    assert!(FrameHeader::decode(&header).is_ok());
    assert_eq!(
        FrameHeader::decode(&header[..11]),
        Err(FrameError::Truncated {
            len: 11,
            needed: 12
        })
    );
}

#[test]
fn for_each_event_matches_iterator() {
    let events: Vec<Event<'static>> = samples::mixed_batch().collect();
    let mut buffer = vec![0u8; MAX_FRAME_LEN];
    let len = checksummed_frame(&events, 2, &mut buffer);
    let frame = FrameDecoder::new().decode(&buffer[..len]).unwrap();
    let mut visited = Vec::new();
    let count = frame
        .for_each_event(|event| visited.push(event.clone()))
        .unwrap();
    assert_eq!(count, events.len());
    assert_eq!(visited, events);
    drop(visited);

    let single = &events[..1];
    let mut buffer = vec![0u8; MAX_FRAME_LEN];
    let len = checksummed_frame(single, 3, &mut buffer);
    let frame = FrameDecoder::new().decode(&buffer[..len]).unwrap();
    assert_eq!(frame.for_each_event(|_| {}), Ok(1));
}

#[test]
fn for_each_event_reports_first_bad_event() {
    let events: Vec<Event<'static>> = samples::mixed_batch().take(3).collect();
    let first_len = postcard::to_allocvec(&events[0]).unwrap().len();
    let mut payload = Vec::new();
    for event in &events {
        payload.extend(postcard::to_allocvec(event).unwrap());
    }
    // An over-long varint (0 written in two bytes) as the second event's
    // sequence number.
    payload[first_len] = 0x80;
    payload[first_len + 1] = 0x00;
    let mut bytes = vec![1u8, 0x06, 0, 0, 0, 0, 0, 0, 0, 1];
    bytes.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    bytes.extend_from_slice(&payload);
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_be_bytes());
    let frame = FrameDecoder::new().decode(&bytes).unwrap();
    let mut seen = 0;
    let error = frame.for_each_event(|_| seen += 1).unwrap_err();
    assert_eq!(seen, 1);
    let from_iterator: Vec<_> = frame.events().collect();
    assert_eq!(from_iterator.len(), 2);
    assert_eq!(from_iterator[1], Err(error));
    assert!(matches!(error, FrameError::Event { index: 1, .. }));
}

#[test]
fn sealed_cobs_round_trip() {
    let events: Vec<Event<'static>> = samples::mixed_batch().take(10).collect();
    let mut buffer = vec![0u8; palisade_wire::cobs::max_encoded_len(4096)];
    let mut encoder =
        FrameEncoder::new(&mut buffer, 4096, Protection::Sealed, Framing::Cobs).unwrap();
    for event in &events {
        encoder.push(event).unwrap();
    }
    let wire = encoder
        .finish_sealed(11, &mut TestSealer::new())
        .unwrap()
        .to_vec();
    let mut message = wire.clone();
    let len = palisade_wire::cobs::decode_in_place(&mut message).unwrap();
    let mut opener = FrameOpener::new(TestOpener::new());
    let frame = opener.open(&mut message[..len]).unwrap();
    let decoded: Vec<Event<'_>> = frame.events().map(Result::unwrap).collect();
    assert_eq!(decoded, events);
}
