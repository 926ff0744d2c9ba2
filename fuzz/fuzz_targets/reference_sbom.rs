#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    palisade_credential::fuzzing::reference_sbom(data);
});
