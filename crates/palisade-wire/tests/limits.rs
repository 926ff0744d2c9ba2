//! Every limit at its boundary: the largest accepted value and one more.

use palisade_schema::{Event, EventBody, EventKind, Heartbeat, Severity, samples};
use palisade_wire::{
    CRC_LEN, FrameDecoder, FrameEncoder, FrameError, FrameHeader, Framing, HEADER_LEN,
    MAX_PAYLOAD_LEN, Protection, REPLAY_WINDOW, RejectReason, ReplayWindow, cobs,
};

fn heartbeat() -> Event<'static> {
    Event {
        header: samples::header(0, Severity::Info),
        body: EventBody::Heartbeat(Heartbeat {
            queued: 1,
            sent: 2,
            dropped: 0,
            retried: 0,
        }),
    }
}

fn header_bytes(payload_len: u16) -> [u8; HEADER_LEN] {
    let mut bytes = [1u8, 0x02, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0];
    bytes[10..].copy_from_slice(&payload_len.to_be_bytes());
    bytes
}

#[test]
fn payload_length_boundary() {
    let max = u16::try_from(MAX_PAYLOAD_LEN).unwrap();
    assert!(FrameHeader::decode(&header_bytes(max)).is_ok());
    assert_eq!(
        FrameHeader::decode(&header_bytes(max + 1)),
        Err(FrameError::PayloadTooLong {
            len: MAX_PAYLOAD_LEN + 1,
            max: MAX_PAYLOAD_LEN
        })
    );
    assert_eq!(
        FrameHeader::decode(&header_bytes(0)),
        Err(FrameError::EmptyPayload)
    );
    assert!(FrameHeader::decode(&header_bytes(1)).is_ok());
}

#[test]
fn decoder_payload_limit_boundary() {
    let event = heartbeat();
    let mut buffer = [0u8; 256];
    let mut encoder =
        FrameEncoder::new(&mut buffer, 256, Protection::Checksummed, Framing::Plain).unwrap();
    encoder.push(&event).unwrap();
    let payload_len = encoder.payload_len();
    let frame = encoder.finish_checksummed(0).unwrap();
    assert!(
        FrameDecoder::with_max_payload_len(payload_len)
            .decode(frame)
            .is_ok()
    );
    assert_eq!(
        FrameDecoder::with_max_payload_len(payload_len - 1)
            .decode(frame)
            .unwrap_err(),
        FrameError::PayloadTooLong {
            len: payload_len,
            max: payload_len - 1
        }
    );
}

#[test]
fn frame_fills_mtu_exactly() {
    let event = heartbeat();
    let event_len = postcard::to_allocvec(&event).unwrap().len();
    // The smallest count of heartbeats whose frame reaches MIN_MTU, and an
    // MTU that this many fill to the byte.
    let count = (palisade_wire::MIN_MTU - HEADER_LEN - CRC_LEN).div_ceil(event_len);
    let exact = HEADER_LEN + count * event_len + CRC_LEN;

    let mut buffer = vec![0u8; exact];
    let mut encoder =
        FrameEncoder::new(&mut buffer, exact, Protection::Checksummed, Framing::Plain).unwrap();
    for _ in 0..count {
        assert!(encoder.push(&event).is_ok());
    }
    assert_eq!(encoder.remaining(), 0);
    assert_eq!(
        encoder.push(&event).unwrap_err().reason,
        RejectReason::FrameFull
    );
    assert_eq!(encoder.finish_checksummed(0).unwrap().len(), exact);

    let mut buffer = vec![0u8; exact - 1];
    let mut encoder = FrameEncoder::new(
        &mut buffer,
        exact - 1,
        Protection::Checksummed,
        Framing::Plain,
    )
    .unwrap();
    for _ in 0..count - 1 {
        assert!(encoder.push(&event).is_ok());
    }
    assert_eq!(encoder.remaining(), event_len - 1);
    assert_eq!(
        encoder.push(&event).unwrap_err().reason,
        RejectReason::FrameFull
    );
}

#[test]
fn system_info_fits_mtu_for_any_event_sealed() {
    // The system information sample is the largest sample event.
    let event = Event {
        header: samples::header(0, Severity::Info),
        body: samples::body(EventKind::SystemInfo),
    };
    let mut buffer = vec![0u8; palisade_wire::MTU_FOR_ANY_EVENT];
    let mtu = palisade_wire::MTU_FOR_ANY_EVENT;
    let mut encoder =
        FrameEncoder::new(&mut buffer, mtu, Protection::Sealed, Framing::Plain).unwrap();
    assert!(encoder.push(&event).is_ok());
}

#[test]
fn cobs_buffer_boundary() {
    let input = [0x11u8; 300];
    let needed = cobs::max_encoded_len(input.len());
    let mut output = vec![0u8; needed];
    assert!(cobs::encode(&input, &mut output).is_ok());
    assert_eq!(
        cobs::encode(&input, &mut output[..needed - 1]),
        Err(cobs::CobsError::BufferTooSmall {
            len: needed - 1,
            needed
        })
    );
    let mtu = 300;
    let mut small = vec![0u8; cobs::max_encoded_len(mtu) - 1];
    assert_eq!(
        FrameEncoder::new(&mut small, mtu, Protection::Checksummed, Framing::Cobs).unwrap_err(),
        FrameError::BufferTooSmall {
            len: cobs::max_encoded_len(mtu) - 1,
            needed: cobs::max_encoded_len(mtu)
        }
    );
}

#[test]
fn replay_window_boundary() {
    let mut window = ReplayWindow::new();
    let newest = 1_000;
    window.accept(newest);
    let oldest_inside = newest - (REPLAY_WINDOW - 1);
    assert!(window.check(oldest_inside).is_ok());
    assert_eq!(
        window.check(oldest_inside - 1),
        Err(FrameError::TooOld {
            record: oldest_inside - 1,
            newest
        })
    );
    window.accept(oldest_inside);
    assert_eq!(
        window.check(oldest_inside),
        Err(FrameError::Replayed {
            record: oldest_inside
        })
    );
    // Moving forward by a whole window drops every older record number.
    window.accept(newest + REPLAY_WINDOW);
    assert_eq!(
        window.check(newest),
        Err(FrameError::TooOld {
            record: newest,
            newest: newest + REPLAY_WINDOW
        })
    );
    assert!(window.check(newest + 1).is_ok());
    assert_eq!(window.newest(), Some(newest + REPLAY_WINDOW));
}

#[test]
fn replay_window_extremes() {
    let mut window = ReplayWindow::new();
    assert!(window.check(0).is_ok());
    window.accept(0);
    assert_eq!(window.check(0), Err(FrameError::Replayed { record: 0 }));
    window.accept(u64::MAX);
    assert_eq!(
        window.check(u64::MAX),
        Err(FrameError::Replayed { record: u64::MAX })
    );
    assert!(window.check(u64::MAX - 1).is_ok());
}
