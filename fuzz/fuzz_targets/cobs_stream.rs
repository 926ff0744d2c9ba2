#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    palisade_wire::fuzzing::cobs_stream(data);
});
