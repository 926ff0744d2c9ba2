//! Entry points for the fuzz targets under `fuzz/`; not a stable API.
//!
//! Each function must never panic on any input, except through the
//! assertions here, which check that whatever decodes re-encodes to the
//! same bytes.

use palisade_schema::{Event, MAX_EVENT_LEN};

use crate::cobs::{self, CobsDecoder, Feed};
use crate::{FrameDecoder, FrameHeader, FrameOpener, HEADER_LEN, OpenError, Opener, TAG_LEN};

/// An opener without a key: every tag fails, which drives the header,
/// length and replay checks in front of it.
struct RejectingOpener;

impl Opener for RejectingOpener {
    fn open_in_place(
        &mut self,
        record: u64,
        _aad: &[u8],
        _payload: &mut [u8],
        _tag: &[u8; TAG_LEN],
    ) -> Result<(), OpenError> {
        Err(OpenError::BadTag { record })
    }
}

/// Checks that the events of a decoded payload re-encode to the payload.
fn assert_canonical<'b>(
    payload: &[u8],
    events: impl Iterator<Item = Result<Event<'b>, crate::FrameError>>,
) {
    let mut at = 0usize;
    let mut complete = true;
    for event in events {
        let Ok(event) = event else {
            complete = false;
            break;
        };
        let mut buffer = [0u8; MAX_EVENT_LEN];
        let encoded: &[u8] = postcard::to_slice(&event, &mut buffer).map_or(&[], |bytes| bytes);
        let expected = payload.get(at..at + encoded.len());
        assert_eq!(
            Some(encoded),
            expected,
            "decoded event re-encodes differently"
        );
        at += encoded.len();
    }
    if complete {
        assert_eq!(at, payload.len(), "events did not cover the payload");
    }
}

/// Decodes `data` as a checksummed frame and as a sealed frame.
pub fn frame_decode(data: &[u8]) {
    let _ = FrameHeader::decode(data);
    if let Ok(frame) = FrameDecoder::new().decode(data) {
        assert_canonical(frame.payload(), frame.events());
    }
    let mut copy = [0u8; crate::MAX_FRAME_LEN];
    if let Some(target) = copy.get_mut(..data.len()) {
        target.copy_from_slice(data);
        let mut opener = FrameOpener::new(RejectingOpener);
        assert!(opener.open(target).is_err(), "a frame opened without a key");
    }
}

/// Feeds `data` to a COBS stream decoder in pieces whose sizes come from
/// the data, and checks that every message re-encodes and decodes to
/// itself.
pub fn cobs_stream(data: &[u8]) {
    let mut decoder = CobsDecoder::<2048>::new();
    let step = usize::from(data.first().copied().unwrap_or(1)).max(1);
    for piece in data.chunks(step) {
        let mut rest = piece;
        while !rest.is_empty() {
            let (used, feed) = decoder.feed(rest);
            assert!(
                used > 0 && used <= rest.len(),
                "feed consumed {used} of {} bytes",
                rest.len()
            );
            rest = &rest[used..];
            if let Feed::Message(message) = feed {
                let mut encoded = [0u8; cobs::max_encoded_len(2048)];
                let len = cobs::encode(message, &mut encoded).unwrap_or(0);
                let decoded = cobs::decode_in_place(&mut encoded[..len]);
                assert_eq!(decoded.ok().map(|len| &encoded[..len]), Some(message));
            }
        }
    }
    let mut copy = [0u8; 4096];
    if let Some(target) = copy.get_mut(..data.len()) {
        target.copy_from_slice(data);
        let _ = cobs::decode_in_place(target);
    }
}

/// Wraps `data` as the payload of a valid checksummed batch frame and
/// iterates over its events.
pub fn batch_iter(data: &[u8]) {
    if data.is_empty() || data.len() > crate::MAX_PAYLOAD_LEN {
        return;
    }
    let mut frame = [0u8; crate::MAX_FRAME_LEN];
    let header = FrameHeader {
        flags: match crate::Flags::from_byte(crate::Flags::CHECKSUMMED | crate::Flags::BATCH) {
            Ok(flags) => flags,
            Err(_) => return,
        },
        record: 1,
        payload_len: data.len() as u16,
    };
    frame[..HEADER_LEN].copy_from_slice(&header.encode());
    frame[HEADER_LEN..HEADER_LEN + data.len()].copy_from_slice(data);
    let body_end = HEADER_LEN + data.len();
    let crc = crate::crc::checksum(&frame[..body_end]);
    frame[body_end..body_end + crate::CRC_LEN].copy_from_slice(&crc.to_be_bytes());
    let decoded = FrameDecoder::new().decode(&frame[..body_end + crate::CRC_LEN]);
    assert!(
        decoded.is_ok(),
        "a valid frame around the payload was rejected: {decoded:?}"
    );
    if let Ok(frame) = decoded {
        assert_canonical(frame.payload(), frame.events());
    }
}
