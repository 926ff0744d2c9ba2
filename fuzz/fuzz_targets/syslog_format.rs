#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    palisade_export::fuzzing::format_line(data);
});
