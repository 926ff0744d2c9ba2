//! Runs the configuration fuzz entry point over the committed seed corpus
//! and over damaged copies of it, so that a seed that trips an assertion
//! fails here before it reaches the fuzzer.

use std::path::Path;

use palisade_gateway::fuzzing;

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

/// Seeds named `invalid_*` contain a configuration that validation rejects;
/// every other seed loads.
#[test]
fn gateway_config_seeds_load() {
    for (name, seed) in seeds("gateway_config") {
        let expected = !name.starts_with("invalid_");
        assert_eq!(fuzzing::config_toml(&seed), expected, "{name}");
    }
}

/// Every line of every seed removed in turn, and every prefix cut at a line
/// end: each must load or return an error, never panic.
#[test]
fn gateway_config_survives_damaged_seeds() {
    for (_, seed) in seeds("gateway_config") {
        let text = String::from_utf8(seed).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for skipped in 0..lines.len() {
            let mut damaged = String::new();
            for (index, line) in lines.iter().enumerate() {
                if index != skipped {
                    damaged.push_str(line);
                    damaged.push('\n');
                }
            }
            fuzzing::config_toml(damaged.as_bytes());
            fuzzing::config_toml(lines[..skipped].join("\n").as_bytes());
        }
    }
}
