#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    palisade_wire::fuzzing::batch_iter(data);
});
