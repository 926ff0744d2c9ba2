//! Runs the fuzz entry points over the committed seed corpus and over
//! damaged copies of it, so that a seed that trips an assertion fails here
//! before it reaches the fuzzer.

use std::path::Path;

use palisade_wire::fuzzing;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&directory)
        .unwrap_or_else(|error| panic!("seed corpus {} unreadable: {error}", directory.display()))
        .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
        .collect();
    assert!(!out.is_empty(), "no seeds for {target}");
    out.sort();
    out
}

/// Returns the seed, every prefix of it, and copies with one byte changed.
fn variants(seed: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![seed.to_vec()];
    for len in 0..seed.len() {
        out.push(seed[..len].to_vec());
    }
    for index in (0..seed.len()).step_by(7) {
        let mut changed = seed.to_vec();
        changed[index] = changed[index].wrapping_add(0x41);
        out.push(changed);
    }
    out
}

#[test]
fn frame_decode_seeds() {
    for seed in seeds("frame_decode") {
        for input in variants(&seed) {
            fuzzing::frame_decode(&input);
        }
    }
}

#[test]
fn cobs_stream_seeds() {
    for seed in seeds("cobs_stream") {
        for input in variants(&seed) {
            fuzzing::cobs_stream(&input);
        }
    }
}

#[test]
fn batch_iter_seeds() {
    for seed in seeds("batch_iter") {
        for input in variants(&seed) {
            fuzzing::batch_iter(&input);
        }
    }
}
