//! Our own known-answer vectors: a credential, a chain, a revocation list,
//! a handshake transcript with fixed ephemeral keys, and a command. The
//! files under `tests/vectors/` are committed; every backend must produce
//! them byte for byte. Set `PALISADE_UPDATE_VECTORS=1` to rewrite them after
//! an intended format change.

use palisade_credential::handshake::{MAX_MSG1_LEN, MAX_MSG2_LEN, MSG3_LEN};
use palisade_credential::testkit::{FIXTURE_NOW, FixedRng, Fixture};
use palisade_credential::{
    Command, CommandAction, CommandVerifier, DeviceHandshake, DeviceId, DeviceIdentity,
    GatewayHandshake, GatewayIdentity, MAX_COMMAND_LEN, MAX_REVOCATION_LIST_LEN, ReplayCache,
    RevocationList, RevokedCredential, Signer, VerificationTime,
};
use palisade_wire::seal::{Opener, Sealer};
use std::path::PathBuf;

const NOW: VerificationTime = VerificationTime::Trusted(FIXTURE_NOW);

fn vector_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name)
}

/// Compares `lines` ("label: hex" per line) with the committed file.
fn check_vector(name: &str, lines: &[(&str, Vec<u8>)]) {
    let text: String = lines
        .iter()
        .map(|(label, bytes)| format!("{label}: {}\n", hex::encode(bytes)))
        .collect();
    let path = vector_path(name);
    if std::env::var_os("PALISADE_UPDATE_VECTORS").is_some() {
        std::fs::write(&path, &text).expect("write vector file");
    }
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    for (expected, actual) in committed.lines().zip(text.lines()) {
        assert_eq!(actual, expected, "{name} differs from the committed vector");
    }
    assert_eq!(
        committed.lines().count(),
        text.lines().count(),
        "{name} line count"
    );
}

#[test]
fn credential_vector() {
    let fixture = Fixture::new();
    check_vector(
        "credential.txt",
        &[
            (
                "device_public_key",
                fixture.device_signer.public_key().0.to_vec(),
            ),
            ("device_credential", fixture.device.to_vec()),
        ],
    );
    let decoded = palisade_credential::Credential::decode(&fixture.device).unwrap();
    decoded
        .verify_signature(&fixture.intermediate_signer.public_key())
        .unwrap();
}

#[test]
fn chain_vector() {
    let fixture = Fixture::new();
    check_vector(
        "chain.txt",
        &[
            ("root", fixture.root.to_vec()),
            ("intermediate", fixture.intermediate.to_vec()),
            ("device", fixture.device.to_vec()),
            (
                "operator_root_public_key",
                fixture.operator_signer.public_key().0.to_vec(),
            ),
            ("gateway", fixture.gateway.to_vec()),
        ],
    );
    let verified = fixture
        .verifier()
        .verify_device_chain(&fixture.chain(), NOW, &[])
        .unwrap();
    assert_eq!(verified.device_id(), DeviceId(fixture.device_id));
}

#[test]
fn revocation_list_vector() {
    let fixture = Fixture::new();
    let list = RevocationList {
        version: 1,
        root: fixture.root_signer.key_id(),
        signer: fixture.root_signer.key_id(),
        number: 3,
        this_update: FIXTURE_NOW - 3600,
        next_update: FIXTURE_NOW + 7 * 86_400,
        credentials: heapless::Vec::from_slice(&[
            RevokedCredential {
                issuer: fixture.intermediate_signer.key_id(),
                serial: 17,
            },
            RevokedCredential {
                issuer: fixture.intermediate_signer.key_id(),
                serial: 300,
            },
        ])
        .unwrap(),
        issuers: heapless::Vec::from_slice(&[palisade_credential::KeyId([0xab; 8])]).unwrap(),
    };
    let mut out = vec![0u8; MAX_REVOCATION_LIST_LEN];
    let len = list.sign(&fixture.root_signer, &mut out).unwrap();
    check_vector(
        "revocation_list.txt",
        &[("revocation_list", out[..len].to_vec())],
    );
    let back = RevocationList::decode_and_verify(&out[..len], &fixture.roots(), None, NOW).unwrap();
    assert_eq!(back, list);
}

#[test]
fn command_vector() {
    let fixture = Fixture::new();
    let command = Command {
        version: 1,
        action: CommandAction::Custom {
            code: 0x0102,
            argument: 99,
        },
        target: DeviceId(fixture.device_id),
        command_id: 4242,
        counter: 9,
        not_after: FIXTURE_NOW + 300,
        signer_credential: &fixture.gateway,
    };
    let mut out = vec![0u8; MAX_COMMAND_LEN];
    let len = command.sign(&fixture.gateway_signer, &mut out).unwrap();
    check_vector("command.txt", &[("command", out[..len].to_vec())]);
    let verified = CommandVerifier::new(DeviceId(fixture.device_id), fixture.roots(), 8)
        .verify(&out[..len], NOW, &[])
        .unwrap();
    assert_eq!(verified.action, command.action);
}

#[test]
fn handshake_transcript_vector() {
    let fixture = Fixture::new();
    // Fixed randomness: device nonce and ephemeral secret, then gateway nonce and ephemeral secret.
    let device_random: Vec<u8> = (0u8..64).collect();
    let gateway_random: Vec<u8> = (64u8..128).collect();

    let identity = DeviceIdentity {
        intermediate: &fixture.intermediate,
        credential: &fixture.device,
        signer: &fixture.device_signer,
    };
    let mut msg1 = [0u8; MAX_MSG1_LEN];
    let (device_state, len1) =
        DeviceHandshake::start(identity, &mut FixedRng::new(&device_random), &mut msg1).unwrap();

    let mut replay = ReplayCache::<8>::new();
    let parsed = GatewayHandshake::read_msg1(&msg1[..len1], &mut replay).unwrap();
    let device = fixture
        .verifier()
        .verify_device_chain(&parsed.chain(), NOW, &[])
        .unwrap();
    let gateway = GatewayIdentity {
        credential: &fixture.gateway,
        signer: &fixture.gateway_signer,
    };
    let mut msg2 = [0u8; MAX_MSG2_LEN];
    let (gateway_state, len2) = GatewayHandshake::respond(
        &parsed,
        &device,
        gateway,
        FIXTURE_NOW,
        &mut FixedRng::new(&gateway_random),
        &mut msg2,
    )
    .unwrap();

    let mut msg3 = [0u8; MSG3_LEN];
    let (done, len3) = device_state
        .read_msg2(&msg2[..len2], &fixture.roots(), NOW, &[], &mut msg3)
        .unwrap();
    let gateway_session = gateway_state.read_msg3(&msg3[..len3]).unwrap();
    assert_eq!(done.session.session_id, gateway_session.session_id);
    assert_eq!(done.gateway_time, FIXTURE_NOW);
    let session_id = done.session.session_id;

    // One record each way, record number 0 and 1.
    let (mut device_sealer, mut device_opener) = done.session.split();
    let (mut gateway_sealer, mut gateway_opener) = gateway_session.split();
    let mut upstream = *b"device to gateway record";
    let upstream_tag = device_sealer
        .seal_in_place(0, b"frame header 0", &mut upstream)
        .unwrap();
    let upstream_sealed = [upstream.as_slice(), upstream_tag.as_slice()].concat();
    let mut downstream = *b"gateway to device record";
    let downstream_tag = gateway_sealer
        .seal_in_place(1, b"frame header 1", &mut downstream)
        .unwrap();
    let downstream_sealed = [downstream.as_slice(), downstream_tag.as_slice()].concat();

    check_vector(
        "handshake.txt",
        &[
            ("device_random", device_random.clone()),
            ("gateway_random", gateway_random.clone()),
            ("msg1", msg1[..len1].to_vec()),
            ("msg2", msg2[..len2].to_vec()),
            ("msg3", msg3[..len3].to_vec()),
            ("session_id", session_id.to_vec()),
            ("record_device_to_gateway", upstream_sealed),
            ("record_gateway_to_device", downstream_sealed),
        ],
    );

    gateway_opener
        .open_in_place(0, b"frame header 0", &mut upstream, &upstream_tag)
        .unwrap();
    assert_eq!(&upstream, b"device to gateway record");
    device_opener
        .open_in_place(1, b"frame header 1", &mut downstream, &downstream_tag)
        .unwrap();
    assert_eq!(&downstream, b"gateway to device record");
    // The record number is bound to the nonce: opening under another one fails.
    let mut again = *b"device to gateway record";
    let tag = device_sealer.seal_in_place(2, b"h", &mut again).unwrap();
    assert!(
        gateway_opener
            .open_in_place(3, b"h", &mut again, &tag)
            .is_err()
    );
    // Record numbers never go back.
    assert!(device_sealer.seal_in_place(2, b"h", &mut again).is_err());
    assert!(
        device_sealer
            .seal_in_place(u64::MAX, b"h", &mut again)
            .is_err()
    );
}

/// The committed seed corpus of each fuzz target reaches that target's
/// deepest path (the input is accepted all the way through).
#[test]
fn fuzz_seed_corpus_accepted() {
    use palisade_credential::fuzzing;
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    type EntryPoint = fn(&[u8]) -> bool;
    let targets: [(&str, EntryPoint); 7] = [
        ("credential_decode", fuzzing::credential_decode),
        ("revocation_list", fuzzing::revocation_list),
        ("reference_sbom", fuzzing::reference_sbom),
        ("handshake_msg1", fuzzing::handshake_msg1),
        ("handshake_msg2", fuzzing::handshake_msg2),
        ("handshake_msg3", fuzzing::handshake_msg3),
        ("command_verify", fuzzing::command_verify),
    ];
    for (target, entry) in targets {
        let folder = corpus.join(target);
        let entries = std::fs::read_dir(&folder)
            .unwrap_or_else(|error| panic!("read {}: {error}", folder.display()));
        let mut count = 0;
        for file in entries {
            let path = file.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                entry(&bytes),
                "{} is not accepted by {target}",
                path.display()
            );
            count += 1;
        }
        assert!(count > 0, "no seed for {target}");
    }
}

#[test]
fn reference_sbom_vector() {
    use palisade_credential::{
        MAX_REFERENCE_SBOM_LEN, REFERENCE_SBOM_VERSION, ReferenceComponent, ReferenceComponents,
        ReferenceSbom,
    };
    let fixture = Fixture::new();
    let root = fixture.sbom_root();
    let components = [
        ReferenceComponent {
            name: "dosing-service",
            version: "2.4.1",
            sha256: [0x11; 32],
        },
        ReferenceComponent {
            name: "openssl",
            version: "3.0.13-1~deb12u1",
            sha256: [0x22; 32],
        },
    ];
    let reference = ReferenceSbom {
        version: REFERENCE_SBOM_VERSION,
        vendor_id: palisade_credential::testkit::FIXTURE_VENDOR,
        model_id: palisade_credential::testkit::FIXTURE_MODEL,
        model_name: "IP-200",
        firmware_version: "2.4.1",
        issued_at: FIXTURE_NOW - 86_400,
        components: ReferenceComponents::from_slice(&components),
        signer_credential: &root,
    };
    let mut out = vec![0u8; MAX_REFERENCE_SBOM_LEN];
    let len = reference.sign(&fixture.root_signer, &mut out).unwrap();
    check_vector(
        "reference_sbom.txt",
        &[
            ("signer_credential", root.to_vec()),
            ("reference_sbom", out[..len].to_vec()),
        ],
    );
    let back = ReferenceSbom::decode_and_verify(&out[..len], &fixture.roots(), NOW, &[]).unwrap();
    assert_eq!(back, reference);
}
