//! Entry points for the fuzz targets under `fuzz/`. Each takes arbitrary
//! bytes, must never panic, and runs the same code as the public API. Each
//! returns true when the input was accepted all the way through, which the
//! tests use to check that the seed corpus reaches the deepest path.

use crate::chain::{TrustAnchor, VerificationTime};
use crate::command::CommandVerifier;
use crate::credential::Credential;
use crate::handshake::{
    DeviceHandshake, DeviceIdentity, GatewayHandshake, GatewayIdentity, MAX_MSG1_LEN, MAX_MSG2_LEN,
    MSG3_LEN, Msg1, ReplayCache,
};
use crate::ids::DeviceId;
use crate::reference_sbom::ReferenceSbom;
use crate::revocation::RevocationList;
use crate::signer::Signer;
use crate::testkit::{FIXTURE_NOW, FixedRng, Fixture};

const NOW: VerificationTime = VerificationTime::Trusted(FIXTURE_NOW);

/// Device randomness of the handshake vector (`tests/vectors/handshake.txt`):
/// bytes 0 to 63. With it, the vector's messages drive the targets through
/// the whole handshake.
const DEVICE_RANDOM: [u8; 64] = sequence(0);
/// Gateway randomness of the handshake vector: bytes 64 to 127.
const GATEWAY_RANDOM: [u8; 64] = sequence(64);

const fn sequence(start: u8) -> [u8; 64] {
    let mut bytes = [0u8; 64];
    let mut index = 0;
    while index < 64 {
        bytes[index] = start + index as u8;
        index += 1;
    }
    bytes
}

/// Runs `run` with the fixture. With `std` the fixture is built once per
/// process, because building it signs four credentials, which would dominate
/// each fuzz iteration. Without `std` there is no once-cell to keep it in.
fn with_fixture<R>(run: impl FnOnce(&Fixture) -> R) -> R {
    #[cfg(feature = "std")]
    {
        static FIXTURE: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
        run(FIXTURE.get_or_init(Fixture::new))
    }
    #[cfg(not(feature = "std"))]
    {
        run(&Fixture::new())
    }
}

fn device_identity(fixture: &Fixture) -> DeviceIdentity<'_, crate::SoftwareSigner> {
    DeviceIdentity {
        intermediate: &fixture.intermediate,
        credential: &fixture.device,
        signer: &fixture.device_signer,
    }
}

fn gateway_identity(fixture: &Fixture) -> GatewayIdentity<'_, crate::SoftwareSigner> {
    GatewayIdentity {
        credential: &fixture.gateway,
        signer: &fixture.gateway_signer,
    }
}

/// Decodes `data` as a credential and verifies it as a root credential, as
/// the device and as the intermediate of a chain, and as a gateway.
pub fn credential_decode(data: &[u8]) -> bool {
    with_fixture(|fixture| credential_decode_with(fixture, data))
}

fn credential_decode_with(fixture: &Fixture, data: &[u8]) -> bool {
    if let Ok(credential) = Credential::decode(data) {
        let _ = credential.verify_signature(&fixture.intermediate_signer.public_key());
    }
    let as_root = TrustAnchor::from_root_credential(data, NOW).is_ok();
    let mut verifier = fixture.verifier();
    let as_device = verifier
        .verify_device_chain(&[&fixture.intermediate, data], NOW, &[])
        .is_ok();
    let as_intermediate = verifier
        .verify_device_chain(&[data, &fixture.device], NOW, &[])
        .is_ok();
    let as_gateway = verifier
        .verify_gateway(data, VerificationTime::LastKnownGood(FIXTURE_NOW), &[])
        .is_ok();
    as_root || as_device || as_intermediate || as_gateway
}

/// Decodes and verifies `data` as a revocation list, then checks the
/// fixture chain against it.
pub fn revocation_list(data: &[u8]) -> bool {
    with_fixture(|fixture| revocation_list_with(fixture, data))
}

fn revocation_list_with(fixture: &Fixture, data: &[u8]) -> bool {
    let _ = RevocationList::decode_unverified(data);
    let Ok(list) =
        RevocationList::decode_and_verify(data, &fixture.roots(), Some(&fixture.gateway), NOW)
    else {
        return false;
    };
    let mut verifier = fixture.verifier();
    let _ = verifier.verify_device_chain(&fixture.chain(), NOW, &[list]);
    true
}

/// Runs the gateway side on `data` as message 1, up to writing message 2.
pub fn handshake_msg1(data: &[u8]) -> bool {
    with_fixture(|fixture| handshake_msg1_with(fixture, data))
}

fn handshake_msg1_with(fixture: &Fixture, data: &[u8]) -> bool {
    let mut replay = ReplayCache::<16>::new();
    let Ok(msg1) = GatewayHandshake::read_msg1(data, &mut replay) else {
        return false;
    };
    let mut verifier = fixture.verifier();
    let Ok(device) = verifier.verify_device_chain(&msg1.chain(), NOW, &[]) else {
        return false;
    };
    let mut out = [0u8; MAX_MSG2_LEN];
    let mut rng = FixedRng::new(&GATEWAY_RANDOM);
    GatewayHandshake::respond(
        &msg1,
        &device,
        gateway_identity(fixture),
        FIXTURE_NOW,
        &mut rng,
        &mut out,
    )
    .is_ok()
}

/// Runs the device side on `data` as message 2, up to writing message 3.
pub fn handshake_msg2(data: &[u8]) -> bool {
    with_fixture(|fixture| handshake_msg2_with(fixture, data))
}

fn handshake_msg2_with(fixture: &Fixture, data: &[u8]) -> bool {
    let mut msg1 = [0u8; MAX_MSG1_LEN];
    let mut rng = FixedRng::new(&DEVICE_RANDOM);
    let Ok((state, _)) = DeviceHandshake::start(device_identity(fixture), &mut rng, &mut msg1)
    else {
        return false;
    };
    let mut msg3 = [0u8; MSG3_LEN];
    let time = VerificationTime::LastKnownGood(FIXTURE_NOW);
    state
        .read_msg2(data, &fixture.roots(), time, &[], &mut msg3)
        .is_ok()
}

/// Runs a real exchange of messages 1 and 2, then gives `data` to the
/// gateway as message 3.
pub fn handshake_msg3(data: &[u8]) -> bool {
    with_fixture(|fixture| handshake_msg3_with(fixture, data))
}

fn handshake_msg3_with(fixture: &Fixture, data: &[u8]) -> bool {
    let mut msg1 = [0u8; MAX_MSG1_LEN];
    let mut device_rng = FixedRng::new(&DEVICE_RANDOM);
    let Ok((_, len)) = DeviceHandshake::start(device_identity(fixture), &mut device_rng, &mut msg1)
    else {
        return false;
    };
    let Ok(parsed) = Msg1::decode(&msg1[..len]) else {
        return false;
    };
    let mut verifier = fixture.verifier();
    let Ok(device) = verifier.verify_device_chain(&parsed.chain(), NOW, &[]) else {
        return false;
    };
    let mut msg2 = [0u8; MAX_MSG2_LEN];
    let mut gateway_rng = FixedRng::new(&GATEWAY_RANDOM);
    let identity = gateway_identity(fixture);
    let Ok((state, _)) = GatewayHandshake::respond(
        &parsed,
        &device,
        identity,
        FIXTURE_NOW,
        &mut gateway_rng,
        &mut msg2,
    ) else {
        return false;
    };
    state.read_msg3(data).is_ok()
}

/// Verifies `data` as a command for the fixture device (last accepted counter 0).
pub fn command_verify(data: &[u8]) -> bool {
    with_fixture(|fixture| command_verify_with(fixture, data))
}

fn command_verify_with(fixture: &Fixture, data: &[u8]) -> bool {
    let mut verifier = CommandVerifier::new(DeviceId(fixture.device_id), fixture.roots(), 0);
    verifier.verify(data, NOW, &[]).is_ok()
}

/// Decodes and verifies `data` as a reference SBOM against the fixture's
/// roots, then walks its components.
pub fn reference_sbom(data: &[u8]) -> bool {
    with_fixture(|fixture| reference_sbom_with(fixture, data))
}

fn reference_sbom_with(fixture: &Fixture, data: &[u8]) -> bool {
    if let Ok((reference, _, _)) = ReferenceSbom::decode_unverified(data) {
        // Every component of a decoded reference must decode again.
        assert_eq!(
            reference.components.iter().count(),
            reference.components.len()
        );
    }
    let Ok(reference) = ReferenceSbom::decode_and_verify(data, &fixture.roots(), NOW, &[]) else {
        return false;
    };
    reference.components.iter().count() == reference.components.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    type EntryPoint = fn(&Fixture, &[u8]) -> bool;

    /// The entry points survive each truncation and a flipped bit in every
    /// fourth byte of a real credential (every byte makes the debug build of
    /// the pure-Rust backend take minutes).
    #[test]
    fn entry_points_survive_mutations() {
        let fixture = Fixture::new();
        let inputs: [(EntryPoint, &[u8]); 2] = [
            (credential_decode_with, &fixture.device),
            (command_verify_with, &fixture.gateway),
        ];
        for (entry, bytes) in inputs {
            for len in 0..=bytes.len() {
                entry(&fixture, &bytes[..len]);
            }
            let mut mutated = [0u8; crate::MAX_CREDENTIAL_LEN];
            mutated[..bytes.len()].copy_from_slice(bytes);
            for index in (0..bytes.len()).step_by(4) {
                mutated[index] ^= 0x01;
                assert!(
                    !entry(&fixture, &mutated[..bytes.len()]),
                    "flipped byte {index} accepted"
                );
                mutated[index] ^= 0x01;
            }
        }
        for entry in [
            revocation_list_with,
            reference_sbom_with,
            handshake_msg1_with,
            handshake_msg2_with,
            handshake_msg3_with,
        ] {
            assert!(!entry(&fixture, &[]));
            assert!(!entry(&fixture, &[1]));
            assert!(!entry(&fixture, &fixture.device));
        }
    }
}
