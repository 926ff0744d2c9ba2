//! Entry points for the fuzz targets under `fuzz/`. Each takes arbitrary
//! bytes, must never panic, and runs the same code as the public API.

use crate::chain::{TrustAnchor, VerificationTime};
use crate::command::CommandVerifier;
use crate::credential::Credential;
use crate::handshake::{
    DeviceHandshake, DeviceIdentity, GatewayHandshake, GatewayIdentity, MAX_MSG1_LEN, MAX_MSG2_LEN,
    Msg1, ReplayCache,
};
use crate::ids::DeviceId;
use crate::revocation::RevocationList;
use crate::rng::{Rng, RngError};
use crate::signer::Signer;
use crate::testkit::Fixture;

const NOW: u64 = crate::testkit::FIXTURE_NOW;

/// Deterministic byte stream for fuzzing (not a cryptographic RNG).
struct CountingRng(u8);

impl Rng for CountingRng {
    fn fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), RngError> {
        for byte in dest {
            self.0 = self.0.wrapping_add(1);
            *byte = self.0;
        }
        Ok(())
    }
}

/// Decodes `data` as a credential and, when it decodes, verifies it as a
/// root credential, as a device chain's last element, and as a gateway.
pub fn credential_decode(data: &[u8]) {
    let fixture = Fixture::new();
    if let Ok(credential) = Credential::decode(data) {
        let _ = credential.verify_signature(&fixture.intermediate_signer.public_key());
    }
    let _ = TrustAnchor::from_root_credential(data, VerificationTime::Trusted(NOW));
    let mut verifier = fixture.verifier();
    let _ = verifier.verify_device_chain(
        &[fixture.intermediate.as_slice(), data],
        VerificationTime::Trusted(NOW),
        &[],
    );
    let _ = verifier.verify_device_chain(
        &[data, fixture.device.as_slice()],
        VerificationTime::Trusted(NOW),
        &[],
    );
    let _ = verifier.verify_gateway(data, VerificationTime::LastKnownGood(NOW), &[]);
}

/// Decodes and verifies `data` as a revocation list, and checks a chain against it.
pub fn revocation_list(data: &[u8]) {
    let fixture = Fixture::new();
    let _ = RevocationList::decode_unverified(data);
    if let Ok(list) = RevocationList::decode_and_verify(
        data,
        &fixture.roots(),
        Some(fixture.gateway.as_slice()),
        VerificationTime::Trusted(NOW),
    ) {
        let mut verifier = fixture.verifier();
        let _ =
            verifier.verify_device_chain(&fixture.chain(), VerificationTime::Trusted(NOW), &[list]);
    }
}

/// Runs the gateway side on `data` as message 1.
pub fn handshake_msg1(data: &[u8]) {
    let fixture = Fixture::new();
    let mut replay = ReplayCache::<16>::new();
    let Ok(msg1) = GatewayHandshake::read_msg1(data, &mut replay) else {
        return;
    };
    let mut verifier = fixture.verifier();
    let Ok(device) =
        verifier.verify_device_chain(&msg1.chain(), VerificationTime::Trusted(NOW), &[])
    else {
        return;
    };
    let identity = GatewayIdentity {
        credential: &fixture.gateway,
        signer: &fixture.gateway_signer,
    };
    let mut out = [0u8; MAX_MSG2_LEN];
    let _ = GatewayHandshake::respond(&msg1, &device, identity, NOW, &mut CountingRng(0), &mut out);
}

/// Runs the device side on `data` as message 2.
pub fn handshake_msg2(data: &[u8]) {
    let fixture = Fixture::new();
    let identity = DeviceIdentity {
        intermediate: &fixture.intermediate,
        credential: &fixture.device,
        signer: &fixture.device_signer,
    };
    let mut msg1 = [0u8; MAX_MSG1_LEN];
    let Ok((state, _)) = DeviceHandshake::start(identity, &mut CountingRng(0), &mut msg1) else {
        return;
    };
    let mut msg3 = [0u8; 128];
    let _ = state.read_msg2(
        data,
        &fixture.roots(),
        VerificationTime::LastKnownGood(NOW),
        &[],
        &mut msg3,
    );
}

/// Runs a real message 1 and 2 exchange, then feeds `data` to the gateway as message 3.
pub fn handshake_msg3(data: &[u8]) {
    let fixture = Fixture::new();
    let identity = DeviceIdentity {
        intermediate: &fixture.intermediate,
        credential: &fixture.device,
        signer: &fixture.device_signer,
    };
    let mut msg1 = [0u8; MAX_MSG1_LEN];
    let Ok((_, len)) = DeviceHandshake::start(identity, &mut CountingRng(0), &mut msg1) else {
        return;
    };
    let Ok(parsed) = Msg1::decode(&msg1[..len]) else {
        return;
    };
    let mut verifier = fixture.verifier();
    let Ok(device) =
        verifier.verify_device_chain(&parsed.chain(), VerificationTime::Trusted(NOW), &[])
    else {
        return;
    };
    let gateway = GatewayIdentity {
        credential: &fixture.gateway,
        signer: &fixture.gateway_signer,
    };
    let mut msg2 = [0u8; MAX_MSG2_LEN];
    let Ok((state, _)) = GatewayHandshake::respond(
        &parsed,
        &device,
        gateway,
        NOW,
        &mut CountingRng(100),
        &mut msg2,
    ) else {
        return;
    };
    let _ = state.read_msg3(data);
}

/// Verifies `data` as a command for the fixture device.
pub fn command_verify(data: &[u8]) {
    let fixture = Fixture::new();
    let mut verifier = CommandVerifier::new(DeviceId(fixture.device_id), fixture.roots(), 0);
    let _ = verifier.verify(data, VerificationTime::Trusted(NOW), &[]);
}
