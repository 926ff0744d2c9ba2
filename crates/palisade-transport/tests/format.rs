//! Transport messages, frames and stream framing against golden vectors,
//! plus every limit at its boundary.

mod common;

use common::cipher::{TestOpener, TestSealer};
use palisade_transport::WINDOW;
use palisade_transport::framing::{
    CobsDecoder, Decoded, FramingError, LengthPrefixDecoder, cobs_encode, cobs_max_encoded_len,
    length_prefix,
};
use palisade_transport::message::{
    Ack, BatchBuilder, DataHeader, MAX_BATCH_RECORDS, Message, MessageError, encode_data,
};
use palisade_transport::session::{
    FrameReader, FrameWriter, MAX_RECORD_LEN, MAX_TRANSPORT_FRAME_LEN, SessionError,
};

fn vector(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    hex::decode(text.trim()).unwrap_or_else(|e| panic!("{path} is not hex: {e}"))
}

const DATA_HEADER: DataHeader = DataHeader {
    boot: 7,
    seq: 0x0102_0304_0506_0708,
    base: 0x0102_0304_0506_0700,
};

const ACK: Ack = Ack {
    boot: 7,
    next: 16,
    received: 0b110,
    credit: 32,
};

#[test]
fn data_message_matches_vector() {
    let expected = vector("data_message.hex");
    let mut out = [0u8; 64];
    let len = encode_data(&DATA_HEADER, b"hi", &mut out).expect("fits");
    assert_eq!(&out[..len], &expected[..]);
    assert_eq!(
        Message::decode(&expected),
        Ok(Message::Data {
            header: DATA_HEADER,
            record: b"hi"
        })
    );
}

#[test]
fn ack_message_matches_vector() {
    let expected = vector("ack_message.hex");
    let mut out = [0u8; 23];
    assert_eq!(ACK.encode(&mut out), Ok(23));
    assert_eq!(&out[..], &expected[..]);
    assert_eq!(Message::decode(&expected), Ok(Message::Ack(ACK)));
}

#[test]
fn checksummed_frame_matches_vector() {
    let expected = vector("checksummed_ack_frame.hex");
    let mut writer = FrameWriter::checksummed();
    let mut out = vec![0u8; MAX_TRANSPORT_FRAME_LEN];
    let frame = writer.ack(&ACK, &mut out).expect("fits").to_vec();
    assert_eq!(frame, expected);
    assert_eq!(writer.next_record(), 1);
    // The wire crate's own decoder accepts the frame.
    let decoded = palisade_wire::FrameDecoder::new()
        .decode(&expected)
        .expect("valid wire frame");
    assert_eq!(decoded.record(), 0);
    let mut reader = FrameReader::checksummed();
    let mut bytes = expected.clone();
    assert_eq!(reader.read(&mut bytes), Ok(Message::Ack(ACK)));
}

#[test]
fn stream_framings_match_vectors() {
    let frame = vector("checksummed_ack_frame.hex");
    let prefixed = vector("length_prefixed_ack_frame.hex");
    assert_eq!(
        &length_prefix(frame.len()).expect("valid length")[..],
        &prefixed[..4]
    );
    let cobs = vector("cobs_ack_frame.hex");
    let mut out = vec![0u8; cobs_max_encoded_len(frame.len()) + 1];
    let len = cobs_encode(&frame, &mut out).expect("fits");
    assert_eq!(&out[..len], &cobs[..]);
    // The wire crate decodes our encoding and we decode the wire crate's.
    let mut theirs = out[..len].to_vec();
    let decoded = palisade_wire::cobs::decode_in_place(&mut theirs).expect("wire decodes it");
    assert_eq!(&theirs[..decoded], &frame[..]);
    let mut wire_encoded = vec![0u8; palisade_wire::cobs::max_encoded_len(frame.len())];
    let wire_len = palisade_wire::cobs::encode(&frame, &mut wire_encoded).expect("wire encodes it");
    let mut decoder = CobsDecoder::new(1024);
    let mut buf = [0u8; 1024];
    let (_, result) = decoder.feed(&wire_encoded[..wire_len], &mut buf);
    assert_eq!(result, Decoded::Frame(frame.len()));
    assert_eq!(&buf[..frame.len()], &frame[..]);
}

#[test]
fn sealed_frame_round_trip_and_tamper() {
    let mut writer = FrameWriter::sealed(TestSealer::new(1));
    let mut reader = FrameReader::sealed(TestOpener::new(1));
    let mut out = vec![0u8; MAX_TRANSPORT_FRAME_LEN];
    let frame = writer
        .data(&DATA_HEADER, b"record", &mut out)
        .expect("fits")
        .to_vec();
    let mut copy = frame.clone();
    assert_eq!(
        reader.read(&mut copy),
        Ok(Message::Data {
            header: DATA_HEADER,
            record: b"record"
        })
    );
    // The same frame again is a replay.
    let mut replay = frame.clone();
    assert!(matches!(
        reader.read(&mut replay),
        Err(SessionError::Frame(_))
    ));
    // Any flipped bit fails the tag.
    for index in 0..frame.len() {
        let mut writer = FrameWriter::sealed(TestSealer::new(1));
        let mut reader = FrameReader::sealed(TestOpener::new(1));
        let mut tampered = writer
            .data(&DATA_HEADER, b"record", &mut out)
            .expect("fits")
            .to_vec();
        tampered[index] ^= 0x01;
        assert!(
            reader.read(&mut tampered).is_err(),
            "flipped byte {index} accepted"
        );
    }
}

#[test]
fn largest_record_fits_one_frame() {
    let mut writer = FrameWriter::checksummed();
    let mut out = vec![0u8; MAX_TRANSPORT_FRAME_LEN];
    let record = vec![0xA5; MAX_RECORD_LEN];
    let len = writer
        .data(&DATA_HEADER, &record, &mut out)
        .expect("largest record fits")
        .len();
    let mut reader = FrameReader::checksummed();
    assert!(
        matches!(reader.read(&mut out[..len]), Ok(Message::Data { record, .. }) if record.len() == MAX_RECORD_LEN)
    );
    let too_long = vec![0xA5; MAX_RECORD_LEN + 1];
    assert!(matches!(
        writer.data(&DATA_HEADER, &too_long, &mut out),
        Err(SessionError::TooLarge { .. })
    ));
}

#[test]
fn message_decoder_rejects_malformed_input() {
    assert!(matches!(
        Message::decode(&[]),
        Err(MessageError::TooShort { .. })
    ));
    assert_eq!(
        Message::decode(&[0x04]),
        Err(MessageError::UnknownKind { kind: 4 })
    );
    assert_eq!(
        Message::decode(&[0x7F]),
        Err(MessageError::UnknownKind { kind: 0x7F })
    );
    let ack = vector("ack_message.hex");
    assert!(matches!(
        Message::decode(&ack[..22]),
        Err(MessageError::TooShort { .. })
    ));
    let mut longer = ack.clone();
    longer.push(0);
    assert_eq!(
        Message::decode(&longer),
        Err(MessageError::AckLength { len: 24 })
    );
    let data = vector("data_message.hex");
    assert!(matches!(
        Message::decode(&data[..20]),
        Err(MessageError::TooShort { .. })
    ));
    // base above seq
    let mut bad = data.clone();
    bad[13..21].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        Message::decode(&bad),
        Err(MessageError::BaseAboveSequence { .. })
    ));
    assert_eq!(
        Message::decode(&[0x80, 1, 2]),
        Ok(Message::Application {
            kind: 0x80,
            body: &[1, 2]
        })
    );
}

#[test]
fn ack_credit_boundary() {
    let mut out = [0u8; 23];
    let max = Ack {
        credit: WINDOW as u16,
        ..ACK
    };
    max.encode(&mut out).expect("fits");
    assert_eq!(Message::decode(&out), Ok(Message::Ack(max)));
    let over = Ack {
        credit: WINDOW as u16 + 1,
        ..ACK
    };
    over.encode(&mut out).expect("fits");
    assert_eq!(
        Message::decode(&out),
        Err(MessageError::CreditAboveWindow {
            credit: WINDOW as u16 + 1
        })
    );
}

#[test]
fn message_decoder_never_panics() {
    // Every prefix and every single-byte change of the vectors.
    for name in ["data_message.hex", "ack_message.hex"] {
        let bytes = vector(name);
        for end in 0..=bytes.len() {
            let _ = Message::decode(&bytes[..end]);
        }
        for index in 0..bytes.len() {
            for value in [0x00, 0x7F, 0x80, 0xFF] {
                let mut changed = bytes.clone();
                changed[index] = value;
                let _ = Message::decode(&changed);
            }
        }
    }
}

#[test]
fn length_prefix_boundary() {
    let max = 100;
    let mut buf = vec![0u8; 200];
    let mut decoder = LengthPrefixDecoder::new(max);
    let mut stream = length_prefix(max).expect("valid").to_vec();
    stream.extend(std::iter::repeat_n(7u8, max));
    assert_eq!(
        decoder.feed(&stream, &mut buf),
        (stream.len(), Decoded::Frame(max))
    );

    let mut decoder = LengthPrefixDecoder::new(max);
    let over = length_prefix(max + 1).expect("valid");
    let (consumed, result) = decoder.feed(&over, &mut buf);
    assert_eq!(consumed, 4, "nothing read past the rejected prefix");
    assert_eq!(
        result,
        Decoded::Error(FramingError::TooLarge { len: max + 1, max })
    );

    // The receive buffer lowers the limit further.
    let mut small = [0u8; 10];
    let mut decoder = LengthPrefixDecoder::new(max);
    let (_, result) = decoder.feed(&length_prefix(11).expect("valid"), &mut small);
    assert_eq!(
        result,
        Decoded::Error(FramingError::TooLarge { len: 11, max: 10 })
    );
    let mut decoder = LengthPrefixDecoder::new(max);
    assert_eq!(
        decoder.feed(&[0, 0, 0, 0], &mut small).1,
        Decoded::Error(FramingError::Empty)
    );
}

#[test]
fn cobs_boundary_and_resync() {
    let max = 300;
    let mut buf = vec![0u8; 1024];
    for len in [max, max + 1] {
        let frame: Vec<u8> = (0..len).map(|i| (i % 7) as u8).collect();
        let mut encoded = vec![0u8; cobs_max_encoded_len(len) + 1];
        let n = cobs_encode(&frame, &mut encoded).expect("fits");
        let mut decoder = CobsDecoder::new(max);
        let (_, result) = decoder.feed(&encoded[..n], &mut buf);
        if len == max {
            assert_eq!(result, Decoded::Frame(max));
            assert_eq!(&buf[..max], &frame[..]);
        } else {
            assert!(
                matches!(result, Decoded::Error(FramingError::TooLarge { .. })),
                "{result:?}"
            );
        }
    }

    // Garbage, a frame with a lost byte, then a good frame: the good one
    // still decodes.
    let good = b"\x01\x02\x00\x03 good frame";
    let mut encoded = vec![0u8; 64];
    let n = cobs_encode(good, &mut encoded).expect("fits");
    let mut stream = vec![0x55, 0x66, 0x00];
    let mut damaged = encoded[..n].to_vec();
    damaged.remove(3);
    stream.extend_from_slice(&damaged);
    stream.extend_from_slice(&encoded[..n]);
    let mut decoder = CobsDecoder::new(max);
    let mut rest = &stream[..];
    let mut frames = Vec::new();
    while !rest.is_empty() {
        let (consumed, result) = decoder.feed(rest, &mut buf);
        rest = &rest[consumed..];
        if let Decoded::Frame(len) = result {
            frames.push(buf[..len].to_vec());
        }
    }
    assert_eq!(frames.last().map(Vec::as_slice), Some(&good[..]));
}

#[test]
fn cobs_round_trips_block_edges() {
    let mut buf = vec![0u8; 2048];
    for len in [0, 1, 253, 254, 255, 508, 509, 1000] {
        for all_zero in [false, true] {
            let frame: Vec<u8> = (0..len)
                .map(|i| match (all_zero, i % 300) {
                    (true, _) | (false, 299) => 0,
                    (false, _) => (i % 255 + 1) as u8,
                })
                .collect();
            let mut encoded = vec![0u8; cobs_max_encoded_len(len) + 1];
            let n = cobs_encode(&frame, &mut encoded).expect("fits");
            assert!(
                !encoded[..n - 1].contains(&0),
                "zero inside the encoding of {len} bytes"
            );
            let mut decoder = CobsDecoder::new(2048);
            let (_, result) = decoder.feed(&encoded[..n], &mut buf);
            assert_eq!(result, Decoded::Frame(len), "length {len}");
            assert_eq!(&buf[..len], &frame[..]);
        }
    }
}

#[test]
fn batch_message_matches_vector() {
    let expected = vector("data_batch_message.hex");
    let mut out = [0u8; 64];
    let mut builder = BatchBuilder::new(7, 5, &mut out).expect("room");
    assert!(builder.push(5, b"ab"));
    assert!(builder.push(7, b"c"));
    assert_eq!(builder.message(), &expected[..]);

    let Ok(Message::DataBatch(batch)) = Message::decode(&expected) else {
        panic!("vector is not a DATA_BATCH");
    };
    assert_eq!(batch.len(), 2);
    let records: Vec<(DataHeader, &[u8])> = batch.records().collect();
    assert_eq!(
        records,
        vec![
            (
                DataHeader {
                    boot: 7,
                    seq: 5,
                    base: 5
                },
                &b"ab"[..]
            ),
            (
                DataHeader {
                    boot: 7,
                    seq: 7,
                    base: 5
                },
                &b"c"[..]
            ),
        ]
    );
}

#[test]
fn batch_record_count_boundary() {
    let mut out = vec![0u8; 4096];
    let mut builder = BatchBuilder::new(1, 0, &mut out).expect("room");
    for seq in 0..MAX_BATCH_RECORDS as u64 {
        assert!(builder.push(seq, b""), "record {seq} rejected");
    }
    assert!(!builder.push(255, b""), "record 256 accepted");
    let message = builder.message().to_vec();
    let Ok(Message::DataBatch(batch)) = Message::decode(&message) else {
        panic!("255 records do not decode");
    };
    assert_eq!(batch.records().count(), MAX_BATCH_RECORDS);
}

#[test]
fn batch_fills_one_frame_at_most() {
    let mut writer = FrameWriter::checksummed();
    let mut out = vec![0u8; MAX_TRANSPORT_FRAME_LEN];
    let mut builder = writer.begin_batch(1, 0, &mut out).expect("room");
    let record = vec![0x11; 4_000];
    let mut added = 0;
    while builder.push(added, &record) {
        added += 1;
    }
    // 14-byte header, then 10 + 4,000 bytes per record within 16,384 bytes.
    assert_eq!(added, 4);
    let frame = writer.finish_batch(builder).expect("frame").to_vec();
    let mut reader = FrameReader::checksummed();
    let mut bytes = frame;
    let Ok(Message::DataBatch(batch)) = reader.read(&mut bytes) else {
        panic!("batch frame does not read back");
    };
    assert_eq!(batch.len(), 4);

    let empty = writer.begin_batch(1, 0, &mut out).expect("room");
    assert!(matches!(
        writer.finish_batch(empty),
        Err(SessionError::Message(MessageError::InvalidBatch { .. }))
    ));
}

#[test]
fn batch_decoder_rejects_malformed_input() {
    let good = vector("data_batch_message.hex");
    let mut zero = good[..14].to_vec();
    zero[13] = 0;
    assert!(matches!(
        Message::decode(&zero),
        Err(MessageError::InvalidBatch { offset: 13, .. })
    ));
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(matches!(
        Message::decode(&trailing),
        Err(MessageError::InvalidBatch { .. })
    ));
    let cut = &good[..good.len() - 1];
    assert!(matches!(
        Message::decode(cut),
        Err(MessageError::InvalidBatch { .. })
    ));
    let mut below_base = good.clone();
    below_base[14..22].copy_from_slice(&4u64.to_le_bytes());
    assert_eq!(
        Message::decode(&below_base),
        Err(MessageError::BaseAboveSequence { base: 5, seq: 4 })
    );
    assert!(matches!(
        Message::decode(&good[..13]),
        Err(MessageError::TooShort { .. })
    ));
    for end in 0..good.len() {
        let _ = Message::decode(&good[..end]);
    }
}

#[test]
fn fuzz_entry_points_hold_on_random_input() {
    // A short deterministic stand-in for the fuzz targets, so that a broken
    // re-encoding assertion shows up in the ordinary test run.
    for name in [
        "data_message.hex",
        "ack_message.hex",
        "data_batch_message.hex",
    ] {
        palisade_transport::fuzzing::message(&vector(name));
    }
    palisade_transport::fuzzing::stream(&vector("cobs_ack_frame.hex"));
    palisade_transport::fuzzing::stream(&vector("length_prefixed_ack_frame.hex"));
    let mut state = 0x1234_5678_9ABC_DEF0u64;
    for round in 0..20_000 {
        let len = round % 97;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // Small values make zeros, kinds and short lengths common.
                (state % 8) as u8 * ((state >> 8) % 2) as u8 + ((state >> 16) % 4) as u8
            })
            .collect();
        palisade_transport::fuzzing::message(&bytes);
        palisade_transport::fuzzing::stream(&bytes);
    }
}

#[test]
fn application_message_round_trip() {
    let mut writer = FrameWriter::sealed(TestSealer::new(3));
    let mut reader = FrameReader::sealed(TestOpener::new(3));
    let mut out = vec![0u8; MAX_TRANSPORT_FRAME_LEN];
    let mut frame = writer
        .application(0x80, b"isolate", &mut out)
        .expect("fits")
        .to_vec();
    assert_eq!(
        reader.read(&mut frame),
        Ok(Message::Application {
            kind: 0x80,
            body: b"isolate"
        })
    );
    assert!(matches!(
        writer.application(0x7F, b"", &mut out),
        Err(SessionError::Message(MessageError::ReservedKind {
            kind: 0x7F
        }))
    ));
}
