//! Entry points for the fuzz targets under `fuzz/`; not a stable API.
//!
//! Each function must never panic on any input, except through the
//! assertions here, which check that whatever decodes re-encodes to the
//! same bytes.

use crate::framing::{CobsDecoder, Decoded, LengthPrefixDecoder, cobs_encode};
use crate::message::{Ack, BatchBuilder, Message, encode_application, encode_data};
use crate::session::FrameReader;

/// Largest message the fuzz entry points re-encode.
const MAX_MESSAGE: usize = 1024;

/// Decodes `data` as a transport message and checks that a successful
/// decode re-encodes to the same bytes.
pub fn message(data: &[u8]) {
    let Ok(message) = Message::decode(data) else {
        return;
    };
    let mut out = [0u8; MAX_MESSAGE];
    if data.len() > out.len() {
        return;
    }
    let len = match message {
        Message::Data { header, record } => encode_data(&header, record, &mut out),
        Message::Ack(ack) => Ack::encode(&ack, &mut out),
        Message::Application { kind, body } => encode_application(kind, body, &mut out),
        Message::DataBatch(batch) => {
            let Ok(mut builder) = BatchBuilder::new(batch.boot, batch.base, &mut out) else {
                return;
            };
            for (header, record) in batch.records() {
                assert!(
                    builder.push(header.seq, record),
                    "decoded batch record does not re-encode"
                );
            }
            assert_eq!(builder.len(), batch.len());
            Ok(builder.message().len())
        }
    };
    let len = len.expect("a decoded message re-encodes");
    assert_eq!(&out[..len], data, "re-encoding changed the message");
}

/// Splits `data` into frames with both stream framings, fed in pieces of
/// varying size, and checks each COBS frame against a fresh encoding. Then
/// reads every length-prefixed frame as a checksummed transport frame.
pub fn stream(data: &[u8]) {
    let mut buf = [0u8; 512];
    let mut cobs = CobsDecoder::new(300);
    let mut prefixed = LengthPrefixDecoder::new(300);
    let mut reader = FrameReader::checksummed();
    let mut encoded = [0u8; 600];
    let mut piece = 1usize;
    let mut rest = data;
    while !rest.is_empty() {
        let chunk = &rest[..piece.min(rest.len())];
        rest = &rest[chunk.len()..];
        piece = piece % 7 + 1;

        let mut input = chunk;
        while !input.is_empty() {
            let (consumed, decoded) = cobs.feed(input, &mut buf);
            assert!(
                consumed > 0 && consumed <= input.len(),
                "COBS decoder consumed {consumed} bytes"
            );
            input = &input[consumed..];
            if let Decoded::Frame(len) = decoded {
                assert!(len <= 300, "COBS frame above the maximum");
                let n =
                    cobs_encode(&buf[..len], &mut encoded).expect("buffer fits any 300-byte frame");
                let mut again = CobsDecoder::new(300);
                let mut copy = [0u8; 300];
                assert_eq!(
                    again.feed(&encoded[..n], &mut copy),
                    (n, Decoded::Frame(len))
                );
                assert_eq!(
                    &copy[..len],
                    &buf[..len],
                    "COBS round trip changed the frame"
                );
            }
        }

        let mut input = chunk;
        while !input.is_empty() {
            let (consumed, decoded) = prefixed.feed(input, &mut buf);
            input = &input[consumed..];
            match decoded {
                Decoded::Frame(len) => {
                    let _ = reader.read(&mut buf[..len]);
                }
                Decoded::Error(_) => return,
                Decoded::NeedMore => {}
            }
        }
    }
}
