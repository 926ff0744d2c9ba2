//! One table of hostile or broken inputs; each must fail with its own reason.

use palisade_credential::handshake::{MAX_MSG1_LEN, MAX_MSG2_LEN, MSG3_LEN};
use palisade_credential::testkit::{
    self, FIXTURE_MODEL, FIXTURE_NOW, FixedRng, Fixture, body, issue,
};
use palisade_credential::{
    Command, CommandAction, CommandVerifier, CredentialBody, CredentialKind, DOMAIN_COMMAND,
    DeviceHandshake, DeviceId, DeviceIdentity, DeviceKeyIndex, GatewayHandshake, GatewayIdentity,
    KeyUsage, MAX_COMMAND_LEN, MAX_REVOCATION_LIST_LEN, PublicKey, RejectReason, ReplayCache,
    RevocationList, RevocationStatus, RevokedCredential, SIGNATURE_LEN, Signer, SoftwareSigner,
    StalePolicy, Validity, VerificationTime,
};

const NOW: VerificationTime = VerificationTime::Trusted(FIXTURE_NOW);

/// The device credential body of the fixture, to derive variants from.
fn device_body(fixture: &Fixture) -> CredentialBody {
    palisade_credential::Credential::decode(&fixture.device)
        .expect("fixture decodes")
        .body
}

fn intermediate_body(fixture: &Fixture) -> CredentialBody {
    palisade_credential::Credential::decode(&fixture.intermediate)
        .expect("fixture decodes")
        .body
}

fn verify_chain(fixture: &Fixture, chain: &[&[u8]]) -> Result<(), RejectReason> {
    fixture
        .verifier()
        .verify_device_chain(chain, NOW, &[])
        .map(|_| ())
}

fn verify_device(fixture: &Fixture, device: &[u8]) -> Result<(), RejectReason> {
    verify_chain(fixture, &[&fixture.intermediate, device])
}

fn verify_device_body(fixture: &Fixture, body: &CredentialBody) -> Result<(), RejectReason> {
    let device = issue(body, &fixture.intermediate_signer).expect("issues");
    verify_device(fixture, &device)
}

fn revocation_list(
    fixture: &Fixture,
    number: u64,
    credentials: &[RevokedCredential],
    issuers: &[palisade_credential::KeyId],
) -> Vec<u8> {
    let list = RevocationList {
        version: 1,
        root: fixture.root_signer.key_id(),
        signer: fixture.root_signer.key_id(),
        number,
        this_update: FIXTURE_NOW - 100,
        next_update: FIXTURE_NOW + 86_400,
        credentials: heapless::Vec::from_slice(credentials).expect("fits"),
        issuers: heapless::Vec::from_slice(issuers).expect("fits"),
    };
    let mut out = vec![0u8; MAX_REVOCATION_LIST_LEN];
    let len = list.sign(&fixture.root_signer, &mut out).expect("signs");
    out.truncate(len);
    out
}

fn verify_with_list(fixture: &Fixture, list: &[u8]) -> Result<(), RejectReason> {
    let list = RevocationList::decode_and_verify(list, &fixture.roots(), None, NOW)?;
    fixture
        .verifier()
        .verify_device_chain(&fixture.chain(), NOW, &[list])
        .map(|_| ())
}

fn command(
    fixture: &Fixture,
    signer_credential: &[u8],
    signer: &SoftwareSigner,
    target: [u8; 16],
    counter: u64,
    not_after: u64,
) -> Vec<u8> {
    let command = Command {
        version: 1,
        action: CommandAction::IsolateNetwork,
        target: DeviceId(target),
        command_id: 77,
        counter,
        not_after,
        signer_credential,
    };
    let _ = fixture;
    let mut out = vec![0u8; MAX_COMMAND_LEN];
    let len = command.sign(signer, &mut out).expect("signs");
    out.truncate(len);
    out
}

fn verify_command(fixture: &Fixture, bytes: &[u8], last_counter: u64) -> Result<(), RejectReason> {
    CommandVerifier::new(DeviceId(fixture.device_id), fixture.roots(), last_counter)
        .verify(bytes, NOW, &[])
        .map(|_| ())
}

/// Runs message 1 and 2 of a handshake; returns message 1, the gateway
/// state's input and the device's message 3.
fn handshake_messages(
    fixture: &Fixture,
    device_random: &[u8; 64],
    gateway_random: &[u8; 64],
) -> (Vec<u8>, Vec<u8>) {
    let identity = DeviceIdentity {
        intermediate: &fixture.intermediate,
        credential: &fixture.device,
        signer: &fixture.device_signer,
    };
    let mut msg1 = [0u8; MAX_MSG1_LEN];
    let (state, len1) =
        DeviceHandshake::start(identity, &mut FixedRng::new(device_random), &mut msg1)
            .expect("msg1");
    let parsed = palisade_credential::Msg1::decode(&msg1[..len1]).expect("decodes");
    let device = fixture
        .verifier()
        .verify_device_chain(&parsed.chain(), NOW, &[])
        .expect("verifies");
    let gateway = GatewayIdentity {
        credential: &fixture.gateway,
        signer: &fixture.gateway_signer,
    };
    let mut msg2 = [0u8; MAX_MSG2_LEN];
    let (_, len2) = GatewayHandshake::respond(
        &parsed,
        &device,
        gateway,
        FIXTURE_NOW,
        &mut FixedRng::new(gateway_random),
        &mut msg2,
    )
    .expect("msg2");
    let mut msg3 = [0u8; MSG3_LEN];
    let (_, len3) = state
        .read_msg2(&msg2[..len2], &fixture.roots(), NOW, &[], &mut msg3)
        .expect("msg3");
    (msg1[..len1].to_vec(), msg3[..len3].to_vec())
}

/// Starts the gateway side on `msg1` and feeds it `msg3`.
fn gateway_with_msg3(
    fixture: &Fixture,
    msg1: &[u8],
    gateway_random: &[u8; 64],
    msg3: &[u8],
) -> Result<(), RejectReason> {
    let mut replay = ReplayCache::<16>::new();
    let parsed = GatewayHandshake::read_msg1(msg1, &mut replay)?;
    let device = fixture
        .verifier()
        .verify_device_chain(&parsed.chain(), NOW, &[])?;
    let gateway = GatewayIdentity {
        credential: &fixture.gateway,
        signer: &fixture.gateway_signer,
    };
    let mut msg2 = [0u8; MAX_MSG2_LEN];
    let (state, _) = GatewayHandshake::respond(
        &parsed,
        &device,
        gateway,
        FIXTURE_NOW,
        &mut FixedRng::new(gateway_random),
        &mut msg2,
    )?;
    state.read_msg3(msg3).map(|_| ())
}

/// Adds L to the S half of a signature (little-endian), producing S + L.
fn add_group_order(signature: &mut [u8]) {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (byte, l) in signature[32..].iter_mut().zip(L) {
        let sum = u16::from(*byte) + u16::from(l) + carry;
        *byte = sum as u8;
        carry = sum >> 8;
    }
}

#[allow(clippy::type_complexity)]
fn cases() -> Vec<(
    &'static str,
    u8,
    Box<dyn Fn(&Fixture) -> Result<(), RejectReason>>,
)> {
    vec![
        (
            "chain to an unknown root",
            20,
            Box::new(|f| {
                let other_root = SoftwareSigner::from_seed(&[0x77; 32]);
                let intermediate = issue(
                    &{
                        let mut b = intermediate_body(f);
                        b.issuer = other_root.key_id();
                        b
                    },
                    &other_root,
                )
                .unwrap();
                verify_chain(f, &[&intermediate, &f.device])
            }),
        ),
        (
            "device signed by another intermediate",
            21,
            Box::new(|f| {
                let other = SoftwareSigner::from_seed(&[0x78; 32]);
                let device = issue(
                    &{
                        let mut b = device_body(f);
                        b.issuer = other.key_id();
                        b
                    },
                    &other,
                )
                .unwrap();
                verify_device(f, &device)
            }),
        ),
        (
            "device credential used as an issuer",
            27,
            Box::new(|f| verify_chain(f, &[&f.device, &f.device])),
        ),
        (
            "intermediate used as a device",
            27,
            Box::new(|f| verify_chain(f, &[&f.intermediate, &f.intermediate])),
        ),
        (
            "chain of one credential",
            28,
            Box::new(|f| verify_chain(f, &[&f.device])),
        ),
        (
            "chain of three credentials",
            28,
            Box::new(|f| verify_chain(f, &[&f.intermediate, &f.intermediate, &f.device])),
        ),
        (
            "device issued directly by the root",
            28,
            Box::new(|f| {
                let device = issue(
                    &{
                        let mut b = device_body(f);
                        b.issuer = f.root_signer.key_id();
                        b
                    },
                    &f.root_signer,
                )
                .unwrap();
                verify_device(f, &device)
            }),
        ),
        (
            "algorithm differs from the anchor",
            26,
            Box::new(|f| {
                verify_device_body(f, &{
                    let mut b = device_body(f);
                    b.algorithm.0 = 2;
                    b
                })
            }),
        ),
        (
            "device key of small order",
            25,
            Box::new(|f| {
                let mut identity = [0u8; 32];
                identity[0] = 1;
                verify_device_body(f, &{
                    let mut b = device_body(f);
                    b.public_key = PublicKey(identity);
                    b
                })
            }),
        ),
        (
            "forgery under an identity issuer key",
            25,
            Box::new(|f| {
                // A misissued intermediate whose key is the identity point; the
                // device credential "signature" is R = identity, S = 0.
                let mut identity = [0u8; 32];
                identity[0] = 1;
                let mut intermediate = intermediate_body(f);
                intermediate.public_key = PublicKey(identity);
                let intermediate = issue(&intermediate, &f.root_signer).unwrap();
                let mut device = device_body(f);
                device.issuer = PublicKey(identity).key_id();
                let mut bytes = [0u8; 300];
                let len = postcard::to_slice(&device, &mut bytes).unwrap().len();
                let mut forged = bytes[..len].to_vec();
                let mut signature = [0u8; SIGNATURE_LEN];
                signature[0] = 1;
                forged.extend_from_slice(&signature);
                verify_chain(f, &[&intermediate, &forged])
            }),
        ),
        (
            "signature with S >= L",
            24,
            Box::new(|f| {
                let mut device = f.device.to_vec();
                let at = device.len() - SIGNATURE_LEN;
                add_group_order(&mut device[at..]);
                verify_device(f, &device)
            }),
        ),
        (
            "altered signature",
            22,
            Box::new(|f| {
                let mut device = f.device.to_vec();
                let at = device.len() - SIGNATURE_LEN;
                device[at + 3] ^= 0x40;
                verify_device(f, &device)
            }),
        ),
        (
            "expired",
            30,
            Box::new(|f| {
                verify_device_body(f, &{
                    let mut b = device_body(f);
                    b.validity.not_after = FIXTURE_NOW - 1;
                    b
                })
            }),
        ),
        (
            "not yet valid",
            31,
            Box::new(|f| {
                verify_device_body(f, &{
                    let mut b = device_body(f);
                    b.validity.not_before = FIXTURE_NOW + 1;
                    b
                })
            }),
        ),
        (
            "not-before after not-after",
            32,
            Box::new(|f| {
                verify_device_body(f, &{
                    let mut b = device_body(f);
                    b.validity = Validity {
                        not_before: FIXTURE_NOW + 10,
                        not_after: FIXTURE_NOW + 5,
                    };
                    b
                })
            }),
        ),
        (
            "device validity outside the intermediate window",
            33,
            Box::new(|f| {
                verify_device_body(f, &{
                    let mut b = device_body(f);
                    b.validity.not_after = 2_000_000_001;
                    b
                })
            }),
        ),
        (
            "device model the intermediate may not issue",
            34,
            Box::new(|f| {
                verify_device_body(f, &{
                    let mut b = device_body(f);
                    b.subject.model_id = FIXTURE_MODEL + 1;
                    b
                })
            }),
        ),
        (
            "intermediate without the issue usage",
            29,
            Box::new(|f| {
                let intermediate = issue(
                    &{
                        let mut b = intermediate_body(f);
                        b.usage = KeyUsage::SEND_EVENTS;
                        b
                    },
                    &f.root_signer,
                )
                .unwrap();
                verify_chain(f, &[&intermediate, &f.device])
            }),
        ),
        (
            "revoked device serial",
            50,
            Box::new(|f| {
                let entry = RevokedCredential {
                    issuer: f.intermediate_signer.key_id(),
                    serial: 1000,
                };
                verify_with_list(f, &revocation_list(f, 1, &[entry], &[]))
            }),
        ),
        (
            "revoked intermediate",
            51,
            Box::new(|f| {
                verify_with_list(
                    f,
                    &revocation_list(f, 1, &[], &[f.intermediate_signer.key_id()]),
                )
            }),
        ),
        (
            "rolled-back revocation list",
            52,
            Box::new(|f| {
                let mut status = RevocationStatus::new(StalePolicy::default());
                let newer = RevocationList::decode_and_verify(
                    &revocation_list(f, 5, &[], &[]),
                    &f.roots(),
                    None,
                    NOW,
                )?;
                let older = RevocationList::decode_and_verify(
                    &revocation_list(f, 4, &[], &[]),
                    &f.roots(),
                    None,
                    NOW,
                )?;
                status.install(&newer)?;
                status.install(&older)
            }),
        ),
        (
            "stale revocation list",
            53,
            Box::new(|f| {
                let mut status = RevocationStatus::new(StalePolicy::default());
                let list = RevocationList::decode_and_verify(
                    &revocation_list(f, 5, &[], &[]),
                    &f.roots(),
                    None,
                    NOW,
                )?;
                status.install(&list)?;
                status.check_new_admission(list.next_update + 1)
            }),
        ),
        (
            "revocation list signed by an unauthorized key",
            54,
            Box::new(|f| {
                let list = RevocationList {
                    version: 1,
                    root: f.root_signer.key_id(),
                    signer: f.intermediate_signer.key_id(),
                    number: 1,
                    this_update: 0,
                    next_update: u64::MAX,
                    credentials: heapless::Vec::new(),
                    issuers: heapless::Vec::new(),
                };
                let mut out = vec![0u8; MAX_REVOCATION_LIST_LEN];
                let len = list.sign(&f.intermediate_signer, &mut out).unwrap();
                RevocationList::decode_and_verify(
                    &out[..len],
                    &f.roots(),
                    Some(&f.intermediate),
                    NOW,
                )
                .map(|_| ())
            }),
        ),
        (
            "signature made for another object type",
            23,
            Box::new(|f| {
                let body_len = f.device.len() - SIGNATURE_LEN;
                let mut message = DOMAIN_COMMAND.to_vec();
                message.extend_from_slice(&f.device[..body_len]);
                let signature = f.intermediate_signer.sign(&message).unwrap();
                let mut device = f.device[..body_len].to_vec();
                device.extend_from_slice(&signature);
                verify_device(f, &device)
            }),
        ),
        (
            "trailing bytes",
            2,
            Box::new(|f| {
                let mut device = f.device.to_vec();
                device.push(0);
                verify_device(f, &device)
            }),
        ),
        (
            "over-long varint",
            3,
            Box::new(|f| {
                // Serial 1000 is the varint e8 07 at offset 3; e8 87 00 is over-long.
                let mut device = f.device.to_vec();
                assert_eq!(&device[3..5], &[0xe8, 0x07]);
                device.splice(3..5, [0xe8, 0x87, 0x00]);
                verify_device(f, &device)
            }),
        ),
        (
            "unknown key usage bit",
            4,
            Box::new(|f| {
                verify_device_body(f, &{
                    let mut b = device_body(f);
                    b.usage = KeyUsage(0x80);
                    b
                })
            }),
        ),
        (
            "unsupported version",
            5,
            Box::new(|f| {
                let mut device = f.device.to_vec();
                device[0] = 2;
                verify_device(f, &device)
            }),
        ),
        (
            "handshake message 1 replayed",
            61,
            Box::new(|f| {
                let (msg1, _) = handshake_messages(f, &[1; 64], &[2; 64]);
                let mut replay = ReplayCache::<16>::new();
                GatewayHandshake::read_msg1(&msg1, &mut replay)?;
                GatewayHandshake::read_msg1(&msg1, &mut replay).map(|_| ())
            }),
        ),
        (
            "message 3 made for another gateway",
            62,
            Box::new(|f| {
                // The device responded to a gateway that drew other random bytes.
                let (msg1, msg3) = handshake_messages(f, &[1; 64], &[2; 64]);
                gateway_with_msg3(f, &msg1, &[3; 64], &msg3)
            }),
        ),
        (
            "message 3 signed over another transcript",
            60,
            Box::new(|f| {
                // Same gateway nonce, but the device's message 1 differed.
                let (_, msg3) = handshake_messages(f, &[1; 64], &[2; 64]);
                let (msg1, _) = handshake_messages(f, &[4; 64], &[2; 64]);
                gateway_with_msg3(f, &msg1, &[2; 64], &msg3)
            }),
        ),
        (
            "command replayed",
            80,
            Box::new(|f| {
                let bytes = command(
                    f,
                    &f.gateway,
                    &f.gateway_signer,
                    f.device_id,
                    5,
                    FIXTURE_NOW + 60,
                );
                verify_command(f, &bytes, 5)
            }),
        ),
        (
            "command expired",
            81,
            Box::new(|f| {
                let bytes = command(
                    f,
                    &f.gateway,
                    &f.gateway_signer,
                    f.device_id,
                    6,
                    FIXTURE_NOW - 1,
                );
                verify_command(f, &bytes, 5)
            }),
        ),
        (
            "command signed without the role",
            29,
            Box::new(|f| {
                let no_role = issue(
                    &body(
                        CredentialKind::Gateway,
                        8,
                        &f.operator_signer,
                        &f.gateway_signer,
                        Validity {
                            not_before: 0,
                            not_after: u64::MAX,
                        },
                        KeyUsage::SEND_EVENTS,
                    ),
                    &f.operator_signer,
                )
                .unwrap();
                let bytes = command(
                    f,
                    &no_role,
                    &f.gateway_signer,
                    f.device_id,
                    6,
                    FIXTURE_NOW + 60,
                );
                verify_command(f, &bytes, 5)
            }),
        ),
        (
            "command for another device",
            82,
            Box::new(|f| {
                let bytes = command(
                    f,
                    &f.gateway,
                    &f.gateway_signer,
                    [0xee; 16],
                    6,
                    FIXTURE_NOW + 60,
                );
                verify_command(f, &bytes, 5)
            }),
        ),
        (
            "command signed by a device key",
            27,
            Box::new(|f| {
                let bytes = command(
                    f,
                    &f.device,
                    &f.device_signer,
                    f.device_id,
                    6,
                    FIXTURE_NOW + 60,
                );
                verify_command(f, &bytes, 5)
            }),
        ),
        (
            "same public key under two device ids",
            65,
            Box::new(|f| {
                let mut index = DeviceKeyIndex::<64>::new();
                let first = f.verifier().verify_device_chain(&f.chain(), NOW, &[])?;
                index.admit(&first)?;
                let clone = issue(
                    &{
                        let mut b = device_body(f);
                        b.subject.device_id = DeviceId([0xc1; 16]);
                        b.serial = 1001;
                        b
                    },
                    &f.intermediate_signer,
                )
                .unwrap();
                let second =
                    f.verifier()
                        .verify_device_chain(&[&f.intermediate, &clone], NOW, &[])?;
                index.admit(&second)
            }),
        ),
    ]
}

#[test]
fn reject_table() {
    let fixture = Fixture::new();
    // The unaltered inputs are accepted, so each rejection below is caused
    // by its one alteration.
    verify_chain(&fixture, &fixture.chain()).expect("fixture chain verifies");
    verify_with_list(&fixture, &revocation_list(&fixture, 1, &[], &[])).expect("empty list");
    let good_command = command(
        &fixture,
        &fixture.gateway,
        &fixture.gateway_signer,
        fixture.device_id,
        6,
        FIXTURE_NOW + 60,
    );
    verify_command(&fixture, &good_command, 5).expect("command verifies");

    let mut failures = Vec::new();
    for (name, expected, case) in cases() {
        match case(&fixture) {
            Ok(()) => failures.push(format!("{name}: accepted, expected code {expected}")),
            Err(reason) if reason.code() != expected => failures.push(format!(
                "{name}: rejected with code {} ({reason}), expected code {expected}",
                reason.code()
            )),
            Err(_) => {}
        }
    }
    assert!(
        failures.is_empty(),
        "reject table mismatches:\n{}",
        failures.join("\n")
    );
}

/// A strict decoder under test.
type Decoder = fn(&[u8]) -> Result<(), RejectReason>;

#[test]
fn truncation_at_every_length() {
    let fixture = Fixture::new();
    let list = revocation_list(
        &fixture,
        1,
        &[RevokedCredential {
            issuer: fixture.intermediate_signer.key_id(),
            serial: 3,
        }],
        &[],
    );
    let command = command(
        &fixture,
        &fixture.gateway,
        &fixture.gateway_signer,
        fixture.device_id,
        6,
        FIXTURE_NOW + 60,
    );
    let (msg1, msg3) = handshake_messages(&fixture, &[1; 64], &[2; 64]);
    let vector = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/handshake.txt"
    ))
    .unwrap();
    let msg2_hex = vector
        .lines()
        .find_map(|line| line.strip_prefix("msg2: "))
        .expect("msg2 line");
    let msg2 = hex::decode(msg2_hex).unwrap();
    let objects: [(&str, &[u8], Decoder); 6] = [
        ("credential", &fixture.device, |b| {
            palisade_credential::Credential::decode(b).map(|_| ())
        }),
        ("revocation list", &list, |b| {
            RevocationList::decode_unverified(b).map(|_| ())
        }),
        ("command", &command, |b| {
            Command::decode_unverified(b).map(|_| ())
        }),
        ("handshake message 1", &msg1, |b| {
            palisade_credential::Msg1::decode(b).map(|_| ())
        }),
        ("handshake message 2", &msg2, |b| {
            palisade_credential::handshake::Msg2::decode(b).map(|_| ())
        }),
        ("handshake message 3", &msg3, |b| {
            palisade_credential::handshake::Msg3::decode(b).map(|_| ())
        }),
    ];
    for (name, bytes, decode) in objects {
        assert_eq!(decode(bytes), Ok(()), "{name} decodes whole");
        for len in 0..bytes.len() {
            match decode(&bytes[..len]) {
                Err(RejectReason::Truncated { .. }) => {}
                other => panic!(
                    "{name} cut to {len} of {} bytes: {other:?}, expected Truncated",
                    bytes.len()
                ),
            }
        }
    }
}

#[test]
fn revocation_list_limits() {
    let fixture = Fixture::new();
    let issuer = fixture.intermediate_signer.key_id();
    let entries: Vec<RevokedCredential> = (0..palisade_credential::MAX_REVOKED_CREDENTIALS as u64)
        .map(|serial| RevokedCredential { issuer, serial })
        .collect();
    let full = revocation_list(&fixture, 1, &entries, &[]);
    assert!(full.len() <= MAX_REVOCATION_LIST_LEN);
    RevocationList::decode_and_verify(&full, &fixture.roots(), None, NOW)
        .expect("maximum list accepted");

    // One entry more than the maximum: patch the count varint (128 = 80 01 -> 129 = 81 01).
    let (list, body, _) = RevocationList::decode_unverified(&full).unwrap();
    assert_eq!(list.credentials.len(), 128);
    let count_at = 1 + 8 + 8 + 1 + 5 + 5;
    let mut over = full.clone();
    assert_eq!(
        &over[count_at..count_at + 2],
        &[0x80, 0x01],
        "count position in {:02x?}",
        &body[..32]
    );
    over[count_at] = 0x81;
    assert!(matches!(
        RevocationList::decode_unverified(&over),
        Err(RejectReason::TooManyEntries {
            count: 129,
            max: 128,
            ..
        })
    ));
}

#[test]
fn unsorted_revocation_entries_rejected() {
    let fixture = Fixture::new();
    let issuer = fixture.intermediate_signer.key_id();
    let list = RevocationList {
        version: 1,
        root: fixture.root_signer.key_id(),
        signer: fixture.root_signer.key_id(),
        number: 1,
        this_update: 0,
        next_update: 1,
        credentials: heapless::Vec::from_slice(&[
            RevokedCredential { issuer, serial: 2 },
            RevokedCredential { issuer, serial: 1 },
        ])
        .unwrap(),
        issuers: heapless::Vec::new(),
    };
    let mut out = vec![0u8; MAX_REVOCATION_LIST_LEN];
    assert!(matches!(
        list.sign(&fixture.root_signer, &mut out),
        Err(RejectReason::UnsortedEntries { .. })
    ));
}

#[test]
fn stale_policy_defaults() {
    let fixture = Fixture::new();
    let mut status = RevocationStatus::new(StalePolicy::default());
    let list = RevocationList::decode_and_verify(
        &revocation_list(&fixture, 2, &[], &[]),
        &fixture.roots(),
        None,
        NOW,
    )
    .unwrap();
    status.install(&list).unwrap();
    assert_eq!(status.check_new_admission(list.next_update), Ok(()));
    assert!(!status.alarm(list.next_update));
    let late = list.next_update + 1;
    assert!(status.check_new_admission(late).is_err());
    assert!(status.keeps_admitted(late));
    assert!(status.alarm(late));
    let lenient = RevocationStatus::new(StalePolicy {
        refuse_new_admissions: false,
        keep_admitted: true,
        raise_alarm: true,
    });
    assert_eq!(lenient.check_new_admission(late), Ok(()));
}

#[test]
fn reason_codes_are_unique() {
    let fixture = Fixture::new();
    let mut seen = std::collections::BTreeMap::new();
    for (name, expected, case) in cases() {
        if let Err(reason) = case(&fixture) {
            let family = format!("{reason:?}")
                .split([' ', '{', '('])
                .next()
                .unwrap()
                .to_string();
            if let Some(previous) = seen.insert(expected, family.clone()) {
                assert_eq!(
                    previous, family,
                    "code {expected} used by two reason families ({name})"
                );
            }
        }
    }
    let _ = testkit::FIXTURE_VENDOR;
}
