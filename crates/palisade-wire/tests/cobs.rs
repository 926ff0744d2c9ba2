//! COBS encoding, decoding and stream resynchronization.

mod common;

use palisade_schema::samples;
use palisade_wire::cobs::{self, CobsDecoder, CobsError, Feed};
use palisade_wire::{FrameDecoder, FrameEncoder, Framing, MAX_MTU, Protection};
use proptest::prelude::*;

/// Byte-at-a-time COBS encoder written from the definition, to compare with.
/// Like the example in the COBS paper, it ends a message whose last block
/// holds 254 bytes without an extra empty block.
fn reference_encode(input: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8];
    let mut code_at = 0;
    let mut code = 1u8;
    for (index, &byte) in input.iter().enumerate() {
        if byte == 0 {
            out[code_at] = code;
            code_at = out.len();
            out.push(0);
            code = 1;
        } else {
            out.push(byte);
            code += 1;
            if code == 0xFF && index + 1 < input.len() {
                out[code_at] = code;
                code_at = out.len();
                out.push(0);
                code = 1;
            }
        }
    }
    out[code_at] = code;
    out.push(0);
    out
}

fn encode(input: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; cobs::max_encoded_len(input.len())];
    let len = cobs::encode(input, &mut out).unwrap();
    out.truncate(len);
    out
}

/// Feeds `stream` in one piece and collects every message and error.
fn feed_all<const N: usize>(
    decoder: &mut CobsDecoder<N>,
    stream: &[u8],
) -> Vec<Result<Vec<u8>, CobsError>> {
    let mut results = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let (used, feed) = decoder.feed(rest);
        rest = &rest[used..];
        match feed {
            Feed::Consumed => {}
            Feed::Message(message) => results.push(Ok(message.to_vec())),
            Feed::Error(error) => results.push(Err(error)),
        }
    }
    results
}

#[test]
fn known_encodings() {
    let cases: [(&[u8], &[u8]); 6] = [
        (&[], &[0x01, 0x00]),
        (&[0x00], &[0x01, 0x01, 0x00]),
        (&[0x00, 0x00], &[0x01, 0x01, 0x01, 0x00]),
        (
            &[0x11, 0x22, 0x00, 0x33],
            &[0x03, 0x11, 0x22, 0x02, 0x33, 0x00],
        ),
        (
            &[0x11, 0x22, 0x33, 0x44],
            &[0x05, 0x11, 0x22, 0x33, 0x44, 0x00],
        ),
        (
            &[0x11, 0x00, 0x00, 0x00],
            &[0x02, 0x11, 0x01, 0x01, 0x01, 0x00],
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(encode(input), expected, "input {input:02x?}");
    }
}

#[test]
fn long_runs_take_general_path() {
    for len in [252usize, 253, 254, 255, 256, 507, 508, 509, 1000] {
        let run: Vec<u8> = (0..len).map(|i| (i % 255 + 1) as u8).collect();
        assert_eq!(encode(&run), reference_encode(&run), "run of {len}");
        let mut with_zero = run.clone();
        with_zero.push(0);
        with_zero.extend_from_slice(&run);
        assert_eq!(
            encode(&with_zero),
            reference_encode(&with_zero),
            "two runs of {len}"
        );
    }
}

#[test]
fn encoded_size_is_bounded() {
    for len in [0usize, 1, 253, 254, 255, 508, 2000] {
        let run = vec![0x55u8; len];
        assert!(encode(&run).len() <= cobs::max_encoded_len(len));
    }
}

#[test]
fn decode_rejects_zero_and_truncation() {
    let mut zero_inside = [0x03, 0x11, 0x00, 0x02, 0x33];
    assert_eq!(
        cobs::decode_in_place(&mut zero_inside),
        Err(CobsError::UnexpectedZero { offset: 2 })
    );
    let mut short = [0x05, 0x11, 0x22];
    assert_eq!(
        cobs::decode_in_place(&mut short),
        Err(CobsError::Truncated { missing: 2 })
    );
}

#[test]
fn stream_resyncs_after_garbage() {
    let message = [0x10u8, 0x00, 0x20, 0x30];
    let mut stream = vec![0x07, 0x99, 0x98];
    stream.push(0);
    stream.extend(encode(&message));
    let mut decoder = CobsDecoder::<64>::new();
    let results = feed_all(&mut decoder, &stream);
    assert_eq!(results.len(), 2);
    assert_eq!(results[0], Err(CobsError::Truncated { missing: 4 }));
    assert_eq!(results[1], Ok(message.to_vec()));
}

#[test]
fn stream_resyncs_after_lost_byte() {
    let first: Vec<u8> = (1..=40).collect();
    let second = [0x01u8, 0x00, 0x02];
    let mut damaged = encode(&first);
    damaged.remove(10);
    let mut stream = damaged;
    stream.extend(encode(&second));
    let mut decoder = CobsDecoder::<64>::new();
    let results = feed_all(&mut decoder, &stream);
    assert_eq!(
        results,
        vec![
            Err(CobsError::Truncated { missing: 1 }),
            Ok(second.to_vec())
        ]
    );
}

#[test]
fn stream_skips_overlong_message() {
    let long = vec![0x44u8; 100];
    let short = [0x01u8, 0x02];
    let mut stream = encode(&long);
    stream.extend(encode(&short));
    let mut decoder = CobsDecoder::<64>::new();
    let results = feed_all(&mut decoder, &stream);
    assert_eq!(
        results,
        vec![
            Err(CobsError::Overflow { capacity: 64 }),
            Ok(short.to_vec())
        ]
    );
}

#[test]
fn stream_capacity_boundary() {
    let exact = vec![0x44u8; 64];
    let over = vec![0x44u8; 65];
    let mut decoder = CobsDecoder::<64>::new();
    assert_eq!(
        feed_all(&mut decoder, &encode(&exact)),
        vec![Ok(exact.clone())]
    );
    assert_eq!(
        feed_all(&mut decoder, &encode(&over)),
        vec![Err(CobsError::Overflow { capacity: 64 })]
    );
    let mut with_zero = vec![0x44u8; 63];
    with_zero.push(0);
    assert_eq!(
        feed_all(&mut decoder, &encode(&with_zero)),
        vec![Ok(with_zero.clone())]
    );
}

#[test]
fn stream_ignores_empty_messages() {
    let mut stream = vec![0, 0, 0];
    stream.extend(encode(&[0x05]));
    stream.extend([0, 0]);
    let mut decoder = CobsDecoder::<16>::new();
    assert_eq!(feed_all(&mut decoder, &stream), vec![Ok(vec![0x05])]);
}

#[test]
fn cobs_frame_round_trip() {
    let mut buffer = vec![0u8; cobs::max_encoded_len(MAX_MTU)];
    let mut encoder =
        FrameEncoder::new(&mut buffer, MAX_MTU, Protection::Checksummed, Framing::Cobs).unwrap();
    for event in samples::mixed_batch() {
        encoder.push(event).unwrap();
    }
    let wire = encoder.finish_checksummed(3).unwrap().to_vec();
    assert_eq!(wire.iter().filter(|&&byte| byte == 0).count(), 1);
    assert_eq!(wire.last(), Some(&0));
    let mut decoder = CobsDecoder::<{ MAX_MTU }>::new();
    let (used, feed) = decoder.feed(&wire);
    assert_eq!(used, wire.len());
    let Feed::Message(message) = feed else {
        panic!("expected a message, got {feed:?}")
    };
    let frame = FrameDecoder::new().decode(message).unwrap();
    let events: Vec<_> = frame.events().map(Result::unwrap).collect();
    assert_eq!(events, samples::mixed_batch().collect::<Vec<_>>());
}

proptest! {
    #[test]
    fn encode_matches_reference(input in proptest::collection::vec(prop_oneof![Just(0u8), any::<u8>()], 0..1200)) {
        let encoded = encode(&input);
        prop_assert_eq!(&encoded, &reference_encode(&input));
        let mut copy = encoded.clone();
        let len = cobs::decode_in_place(&mut copy).unwrap();
        prop_assert_eq!(&copy[..len], &input[..]);
    }

    #[test]
    fn stream_decodes_split_input(input in proptest::collection::vec(any::<u8>(), 0..600), split in 0usize..700) {
        let encoded = encode(&input);
        let split = split.min(encoded.len());
        let mut decoder = CobsDecoder::<600>::new();
        let mut results = feed_all(&mut decoder, &encoded[..split]);
        results.extend(feed_all(&mut decoder, &encoded[split..]));
        if input.is_empty() {
            // An empty message encodes to [0x01, 0x00] and decodes to an empty message.
            prop_assert_eq!(results, vec![Ok(Vec::new())]);
        } else {
            prop_assert_eq!(results, vec![Ok(input)]);
        }
    }

    #[test]
    fn stream_never_panics(garbage in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut decoder = CobsDecoder::<128>::new();
        let _ = feed_all(&mut decoder, &garbage);
        let after = [0x09u8, 0x08];
        let results = feed_all(&mut decoder, &[&[0u8][..], &encode(&after)].concat());
        prop_assert_eq!(results.last(), Some(&Ok(after.to_vec())));
    }
}
