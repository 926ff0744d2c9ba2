//! Golden byte vectors for frames, and every truncation and bit flip of
//! them rejected without a panic.
//!
//! `tests/vectors/frames.hex` contains one vector per line: a name, a space and
//! the frame in hex. Regenerate it after a deliberate format change with
//! `UPDATE_VECTORS=1 cargo test -p palisade-wire --test golden`.

mod common;

use common::{TestOpener, TestSealer};
use palisade_schema::{Event, samples};
use palisade_wire::cobs::{self, CobsDecoder, Feed};
use palisade_wire::{
    FrameDecoder, FrameEncoder, FrameOpener, Framing, MAX_MTU, MTU_FOR_ANY_EVENT, Protection,
};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/frames.hex");

fn frame(events: &[Event<'_>], record: u64, protection: Protection, framing: Framing) -> Vec<u8> {
    let mtu = if events.len() == 1 {
        MTU_FOR_ANY_EVENT
    } else {
        MAX_MTU
    };
    let mut buffer = vec![0u8; cobs::max_encoded_len(mtu)];
    let mut encoder = FrameEncoder::new(&mut buffer, mtu, protection, framing).unwrap();
    for event in events {
        encoder.push(event).unwrap();
    }
    let bytes = match protection {
        Protection::Checksummed => encoder.finish_checksummed(record).unwrap(),
        Protection::Sealed => encoder
            .finish_sealed(record, &mut TestSealer::new())
            .unwrap(),
    };
    bytes.to_vec()
}

/// Builds every vector: name, protection, framing and bytes.
fn vectors() -> Vec<(String, Protection, Framing, Vec<u8>)> {
    let mut out = Vec::new();
    for (index, event) in samples::one_of_each().enumerate() {
        let name = format!("checksummed/{}", event.kind().name());
        let bytes = frame(
            &[event],
            index as u64,
            Protection::Checksummed,
            Framing::Plain,
        );
        out.push((name, Protection::Checksummed, Framing::Plain, bytes));
    }
    let batch: Vec<Event<'static>> = samples::mixed_batch().take(8).collect();
    out.push((
        "checksummed/batch_of_8".into(),
        Protection::Checksummed,
        Framing::Plain,
        frame(&batch, 1_000, Protection::Checksummed, Framing::Plain),
    ));
    out.push((
        "cobs/batch_of_8".into(),
        Protection::Checksummed,
        Framing::Cobs,
        frame(&batch, 1_001, Protection::Checksummed, Framing::Cobs),
    ));
    out.push((
        "sealed/batch_of_8".into(),
        Protection::Sealed,
        Framing::Plain,
        frame(&batch, 1_002, Protection::Sealed, Framing::Plain),
    ));
    let login: Vec<Event<'static>> = samples::one_of_each()
        .filter(|event| event.kind() == palisade_schema::EventKind::Login)
        .collect();
    out.push((
        "sealed/login".into(),
        Protection::Sealed,
        Framing::Plain,
        frame(&login, 7, Protection::Sealed, Framing::Plain),
    ));
    out
}

#[test]
fn frames_match_golden_vectors() {
    let generated: String = vectors()
        .iter()
        .map(|(name, _, _, bytes)| format!("{name} {}\n", hex::encode(bytes)))
        .collect();
    if std::env::var_os("UPDATE_VECTORS").is_some() {
        std::fs::write(VECTORS, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(VECTORS)
        .expect("tests/vectors/frames.hex is missing; run with UPDATE_VECTORS=1 to create it");
    assert_eq!(committed.lines().count(), vectors().len());
    for (expected, actual) in committed.lines().zip(generated.lines()) {
        assert_eq!(actual, expected);
    }
}

#[test]
fn golden_vectors_decode_to_samples() {
    let committed = std::fs::read_to_string(VECTORS).unwrap();
    let mut kinds = samples::one_of_each();
    for line in committed
        .lines()
        .filter(|line| line.starts_with("checksummed/") && !line.contains("batch"))
    {
        let bytes = hex::decode(line.split_once(' ').unwrap().1).unwrap();
        let frame = FrameDecoder::new().decode(&bytes).unwrap();
        let events: Vec<_> = frame.events().collect();
        assert_eq!(events, vec![Ok(kinds.next().unwrap())], "vector {line}");
    }
    assert!(kinds.next().is_none());
}

/// Decodes `bytes` the way its vector's link would, returning whether a
/// valid frame with all events came out.
fn decodes(protection: Protection, framing: Framing, bytes: &[u8]) -> bool {
    let mut owned = bytes.to_vec();
    let frame_bytes: &mut [u8] = match framing {
        Framing::Plain => &mut owned,
        Framing::Cobs => {
            let mut decoder = CobsDecoder::<{ MAX_MTU }>::new();
            let mut rest = bytes;
            let mut message = None;
            while !rest.is_empty() {
                let (used, feed) = decoder.feed(rest);
                rest = &rest[used..];
                if let Feed::Message(bytes) = feed {
                    message = Some(bytes.to_vec());
                }
            }
            match message {
                Some(message) => {
                    owned = message;
                    &mut owned
                }
                None => return false,
            }
        }
    };
    let frame = match protection {
        Protection::Checksummed => FrameDecoder::new().decode(frame_bytes),
        Protection::Sealed => FrameOpener::new(TestOpener::new()).open(frame_bytes),
    };
    match frame {
        Ok(frame) => frame.events().all(|event| event.is_ok()),
        Err(_) => false,
    }
}

#[test]
fn every_truncation_is_rejected() {
    for (name, protection, framing, bytes) in vectors() {
        assert!(
            decodes(protection, framing, &bytes),
            "{name} must decode whole"
        );
        for len in 0..bytes.len() {
            assert!(
                !decodes(protection, framing, &bytes[..len]),
                "{name} cut to {len} bytes decoded"
            );
        }
    }
}

#[test]
fn every_bit_flip_is_rejected() {
    for (name, protection, framing, bytes) in vectors() {
        for index in 0..bytes.len() {
            for bit in 0..8 {
                let mut damaged = bytes.clone();
                damaged[index] ^= 1 << bit;
                assert!(
                    !decodes(protection, framing, &damaged),
                    "{name}: flip of bit {bit} in byte {index} decoded"
                );
            }
        }
    }
}
