//! Fixture paths shared by the integration tests.

#![allow(dead_code)]

use std::path::PathBuf;

pub fn fixture(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(relative)
}

pub fn read_fixture(relative: &str) -> String {
    std::fs::read_to_string(fixture(relative)).expect("fixture is readable")
}
