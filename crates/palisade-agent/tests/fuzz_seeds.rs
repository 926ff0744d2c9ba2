//! Runs the persistent-state fuzz entry point over the committed seed corpus
//! and over damaged copies of it, so that a seed that trips an assertion
//! fails here before it reaches the fuzzer.

use std::path::Path;

use palisade_agent::fuzzing;
use palisade_agent::persist::STORE_LEN;

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&directory)
        .unwrap_or_else(|error| panic!("seed corpus {} unreadable: {error}", directory.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    assert!(!out.is_empty(), "no seeds for {target}");
    out.sort();
    out
}

/// Returns every prefix of the seed and copies with one byte changed.
fn variants(seed: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for len in 0..seed.len() {
        out.push(seed[..len].to_vec());
    }
    for index in 0..seed.len() {
        let mut changed = seed.to_vec();
        changed[index] = changed[index].wrapping_add(0x41);
        out.push(changed);
    }
    out
}

#[test]
fn slot_store_seeds_load_a_state() {
    for (name, seed) in seeds("slot_store") {
        assert!(seed.len() >= STORE_LEN, "{name} is shorter than the region");
        assert!(fuzzing::slot_store(&seed), "{name} loads no state");
    }
}

#[test]
fn slot_store_survives_damaged_seeds() {
    for (_, seed) in seeds("slot_store") {
        for input in variants(&seed) {
            fuzzing::slot_store(&input);
        }
    }
}

#[test]
fn slot_store_erased_region_loads_nothing() {
    assert!(!fuzzing::slot_store(&[]));
    assert!(!fuzzing::slot_store(&[0xFF; STORE_LEN]));
    assert!(!fuzzing::slot_store(&[0x00; STORE_LEN]));
}
