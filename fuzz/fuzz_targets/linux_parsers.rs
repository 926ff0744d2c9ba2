#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    palisade_agent::linux::fuzzing::parsers(data);
});
