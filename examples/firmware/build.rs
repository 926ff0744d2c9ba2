//! Writes the fixed test credentials (the credential crate's test fixture)
//! into OUT_DIR, and puts memory.x on the linker's search path.

use std::env;
use std::fs;
use std::path::PathBuf;

use palisade_credential::Signer;
use palisade_credential::testkit::Fixture;

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let fixture = Fixture::new();
    fs::write(
        out.join("intermediate.bin"),
        fixture.intermediate.as_slice(),
    )
    .expect("write");
    fs::write(out.join("device.bin"), fixture.device.as_slice()).expect("write");
    fs::write(out.join("device_id.bin"), fixture.device_id).expect("write");
    fs::write(
        out.join("maker_root.bin"),
        fixture.root_signer.public_key().0,
    )
    .expect("write");
    fs::write(
        out.join("operator_root.bin"),
        fixture.operator_signer.public_key().0,
    )
    .expect("write");
    fs::copy("memory.x", out.join("memory.x")).expect("copy memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
}
