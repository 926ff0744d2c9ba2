//! Reference SBOMs: signing and verifying, every limit at its boundary, and
//! the rejection of unsigned, badly signed, truncated, wrongly typed and
//! unauthorized objects.

use palisade_credential::testkit::{FIXTURE_MODEL, FIXTURE_NOW, FIXTURE_VENDOR, Fixture, body};
use palisade_credential::{
    CredentialKind, DOMAIN_COMMAND, DOMAIN_REFERENCE_SBOM, KeyId, KeyUsage, MAX_COMPONENT_NAME_LEN,
    MAX_COMPONENT_VERSION_LEN, MAX_FIRMWARE_VERSION_LEN, MAX_ISSUED_AT_SKEW_SECS,
    MAX_MODEL_NAME_LEN, MAX_REFERENCE_COMPONENTS, MAX_REFERENCE_SBOM_LEN, ObjectType,
    REFERENCE_SBOM_VERSION, ReferenceComponent, ReferenceComponents, ReferenceSbom, RejectReason,
    RevocationList, RevokedCredential, Signer, SoftwareSigner, Validity, VerificationTime,
};

const NOW: VerificationTime = VerificationTime::Trusted(FIXTURE_NOW);

fn component<'a>(name: &'a str, version: &'a str, fill: u8) -> ReferenceComponent<'a> {
    ReferenceComponent {
        name,
        version,
        sha256: [fill; 32],
    }
}

fn reference<'a>(
    components: &'a [ReferenceComponent<'a>],
    signer_credential: &'a [u8],
) -> ReferenceSbom<'a> {
    ReferenceSbom {
        version: REFERENCE_SBOM_VERSION,
        vendor_id: FIXTURE_VENDOR,
        model_id: FIXTURE_MODEL,
        model_name: "IP-200 infusion pump",
        firmware_version: "2.4.1",
        issued_at: FIXTURE_NOW - 86_400,
        components: ReferenceComponents::from_slice(components),
        signer_credential,
    }
}

fn sign(reference: &ReferenceSbom<'_>, signer: &SoftwareSigner) -> Result<Vec<u8>, RejectReason> {
    let mut out = vec![0u8; MAX_REFERENCE_SBOM_LEN];
    let len = reference.sign(signer, &mut out)?;
    out.truncate(len);
    Ok(out)
}

/// Encodes the body of `reference` with postcard, without a signature.
fn encode_body(reference: &ReferenceSbom<'_>) -> Vec<u8> {
    let mut buffer = vec![0u8; 2 * MAX_REFERENCE_SBOM_LEN];
    let len = postcard::to_slice(reference, &mut buffer)
        .expect("encodes")
        .len();
    buffer.truncate(len);
    buffer
}

/// Encodes `reference` with postcard and signs `domain || body` directly,
/// bypassing the checks of [`ReferenceSbom::sign`].
fn sign_raw(reference: &ReferenceSbom<'_>, signer: &SoftwareSigner, domain: &[u8]) -> Vec<u8> {
    let mut body = encode_body(reference);
    let mut message = domain.to_vec();
    message.extend_from_slice(&body);
    let signature = signer.sign(&message).expect("software key signs");
    body.extend_from_slice(&signature);
    body
}

fn three_components() -> [ReferenceComponent<'static>; 3] {
    [
        component("dosing-service", "2.4.1", 0x11),
        component("openssl", "3.0.13-1~deb12u1", 0x22),
        component("zlib1g", "1:1.2.13.dfsg-1", 0x33),
    ]
}

#[test]
fn root_signed_round_trip() {
    let fixture = Fixture::new();
    let root = fixture.sbom_root();
    let components = three_components();
    let signed = sign(&reference(&components, &root), &fixture.root_signer).unwrap();
    let back = ReferenceSbom::decode_and_verify(&signed, &fixture.roots(), NOW, &[]).unwrap();
    assert_eq!(back, reference(&components, &root));
    assert_eq!(back.components.len(), 3);
    assert_eq!(
        back.components.find("openssl").map(|c| c.version),
        Some("3.0.13-1~deb12u1")
    );
    assert_eq!(back.components.find("absent"), None);
    assert_eq!(back.signer_key_id(), Ok(fixture.root_signer.key_id()));
}

#[test]
fn release_intermediate_round_trip() {
    let fixture = Fixture::new();
    let release = fixture.release_credential(&[FIXTURE_MODEL]);
    let components = three_components();
    let signed = sign(&reference(&components, &release), &fixture.release_signer()).unwrap();
    let back = ReferenceSbom::decode_and_verify(&signed, &fixture.roots(), NOW, &[]).unwrap();
    assert_eq!(back.components.iter().count(), 3);
    assert_eq!(back.model_id, FIXTURE_MODEL);
}

#[test]
fn issue_time_skew_boundary() {
    let fixture = Fixture::new();
    let root = fixture.sbom_root();
    let components = three_components();
    let mut at_limit = reference(&components, &root);
    at_limit.issued_at = FIXTURE_NOW + MAX_ISSUED_AT_SKEW_SECS;
    let signed = sign(&at_limit, &fixture.root_signer).unwrap();
    assert!(ReferenceSbom::decode_and_verify(&signed, &fixture.roots(), NOW, &[]).is_ok());

    let mut beyond = reference(&components, &root);
    beyond.issued_at = FIXTURE_NOW + MAX_ISSUED_AT_SKEW_SECS + 1;
    let signed = sign(&beyond, &fixture.root_signer).unwrap();
    assert_eq!(
        ReferenceSbom::decode_and_verify(&signed, &fixture.roots(), NOW, &[]),
        Err(RejectReason::ReferenceSbomIssuedInFuture {
            issued_at: FIXTURE_NOW + MAX_ISSUED_AT_SKEW_SECS + 1,
            now: FIXTURE_NOW,
        })
    );
    let without_clock = VerificationTime::LastKnownGood(FIXTURE_NOW);
    assert!(
        ReferenceSbom::decode_and_verify(&signed, &fixture.roots(), without_clock, &[]).is_ok()
    );
}

#[test]
fn empty_component_list_accepted() {
    let fixture = Fixture::new();
    let root = fixture.sbom_root();
    let signed = sign(&reference(&[], &root), &fixture.root_signer).unwrap();
    let back = ReferenceSbom::decode_and_verify(&signed, &fixture.roots(), NOW, &[]).unwrap();
    assert!(back.components.is_empty());
}

#[test]
fn signer_without_usage_rejected() {
    let fixture = Fixture::new();
    let components = three_components();
    // The factory intermediate may issue credentials but not sign references.
    let unsigned = reference(&components, &fixture.intermediate);
    assert_eq!(
        sign(&unsigned, &fixture.intermediate_signer),
        Err(RejectReason::MissingKeyUsage {
            serial: 10,
            missing: KeyUsage::SIGN_REFERENCE_SBOMS
        })
    );
    let forced = sign_raw(
        &unsigned,
        &fixture.intermediate_signer,
        DOMAIN_REFERENCE_SBOM,
    );
    assert_eq!(
        ReferenceSbom::decode_and_verify(&forced, &fixture.roots(), NOW, &[]),
        Err(RejectReason::MissingKeyUsage {
            serial: 10,
            missing: KeyUsage::SIGN_REFERENCE_SBOMS
        })
    );
    // The pinned root's original credential lacks the usage too.
    let forced = sign_raw(
        &reference(&components, &fixture.root),
        &fixture.root_signer,
        DOMAIN_REFERENCE_SBOM,
    );
    assert!(matches!(
        ReferenceSbom::decode_and_verify(&forced, &fixture.roots(), NOW, &[]),
        Err(RejectReason::MissingKeyUsage { serial: 1, .. })
    ));
}

#[test]
fn signer_key_must_match_credential() {
    let fixture = Fixture::new();
    let root = fixture.sbom_root();
    let components = three_components();
    assert!(matches!(
        sign(&reference(&components, &root), &fixture.release_signer()),
        Err(RejectReason::ReferenceSbomSignerNotAuthorized { .. })
    ));
    let forged = sign_raw(
        &reference(&components, &root),
        &fixture.release_signer(),
        DOMAIN_REFERENCE_SBOM,
    );
    assert_eq!(
        ReferenceSbom::decode_and_verify(&forged, &fixture.roots(), NOW, &[]),
        Err(RejectReason::BadSignature {
            object: ObjectType::ReferenceSbom
        })
    );
}

#[test]
fn device_and_gateway_signers_rejected() {
    let fixture = Fixture::new();
    let components = three_components();
    // A device credential with the usage bit, issued by the intermediate.
    let mut device_body = body(
        CredentialKind::Device,
        77,
        &fixture.intermediate_signer,
        &fixture.device_signer,
        Validity {
            not_before: 1_750_000_000,
            not_after: 1_950_000_000,
        },
        KeyUsage::SIGN_REFERENCE_SBOMS,
    );
    device_body.subject.model_id = FIXTURE_MODEL;
    let device =
        palisade_credential::testkit::issue(&device_body, &fixture.intermediate_signer).unwrap();
    let signed = sign(&reference(&components, &device), &fixture.device_signer).unwrap();
    // Its issuer is the intermediate, which is not a pinned root.
    assert!(matches!(
        ReferenceSbom::decode_and_verify(&signed, &fixture.roots(), NOW, &[]),
        Err(RejectReason::UnknownRoot { .. })
    ));
    // A gateway credential issued directly by a pinned root.
    let gateway_body = body(
        CredentialKind::Gateway,
        8,
        &fixture.operator_signer,
        &fixture.gateway_signer,
        Validity {
            not_before: 1_700_000_000,
            not_after: 1_900_000_000,
        },
        KeyUsage::SIGN_REFERENCE_SBOMS,
    );
    let gateway =
        palisade_credential::testkit::issue(&gateway_body, &fixture.operator_signer).unwrap();
    let signed = sign(&reference(&components, &gateway), &fixture.gateway_signer).unwrap();
    assert_eq!(
        ReferenceSbom::decode_and_verify(&signed, &fixture.roots(), NOW, &[]),
        Err(RejectReason::ReferenceSbomSignerNotAuthorized {
            key_id: fixture.gateway_signer.key_id()
        })
    );
}

#[test]
fn foreign_root_credential_rejected() {
    let fixture = Fixture::new();
    let components = three_components();
    // A self-signed root credential of a key that is not pinned.
    let stranger = SoftwareSigner::from_seed(&[0x77; 32]);
    let root_body = body(
        CredentialKind::Root,
        1,
        &stranger,
        &stranger,
        Validity {
            not_before: 1_700_000_000,
            not_after: u64::MAX,
        },
        KeyUsage::SIGN_REFERENCE_SBOMS,
    );
    let root = palisade_credential::testkit::issue(&root_body, &stranger).unwrap();
    let signed = sign(&reference(&components, &root), &stranger).unwrap();
    assert_eq!(
        ReferenceSbom::decode_and_verify(&signed, &fixture.roots(), NOW, &[]),
        Err(RejectReason::UnknownRoot {
            key_id: stranger.key_id()
        })
    );
}

#[test]
fn signer_limited_to_its_vendor() {
    let fixture = Fixture::new();
    let components = three_components();
    let release = fixture.release_credential(&[]);
    let mut other_vendor = reference(&components, &release);
    other_vendor.vendor_id = FIXTURE_VENDOR + 1;
    let signed = sign(&other_vendor, &fixture.release_signer()).unwrap();
    assert_eq!(
        ReferenceSbom::decode_and_verify(&signed, &fixture.roots(), NOW, &[]),
        Err(RejectReason::ReferenceSbomVendorMismatch {
            serial: 20,
            signer_vendor: FIXTURE_VENDOR,
            reference_vendor: FIXTURE_VENDOR + 1,
        })
    );

    // A signer of vendor 0 may sign for any vendor.
    let any_vendor = fixture.release_credential_for_vendor(0, &[]);
    let mut reference_any = reference(&components, &any_vendor);
    reference_any.vendor_id = FIXTURE_VENDOR + 1;
    let signed = sign(&reference_any, &fixture.release_signer()).unwrap();
    let verified = ReferenceSbom::decode_and_verify(&signed, &fixture.roots(), NOW, &[]).unwrap();
    assert_eq!(verified.vendor_id, FIXTURE_VENDOR + 1);
}

#[test]
fn release_key_limited_to_its_models() {
    let fixture = Fixture::new();
    let release = fixture.release_credential(&[FIXTURE_MODEL + 1]);
    let components = three_components();
    let signed = sign(&reference(&components, &release), &fixture.release_signer()).unwrap();
    assert_eq!(
        ReferenceSbom::decode_and_verify(&signed, &fixture.roots(), NOW, &[]),
        Err(RejectReason::ModelNotAllowed {
            serial: 20,
            model: FIXTURE_MODEL
        })
    );
}

#[test]
fn expired_and_revoked_signer_rejected() {
    let fixture = Fixture::new();
    let release = fixture.release_credential(&[]);
    let components = three_components();
    let signed = sign(&reference(&components, &release), &fixture.release_signer()).unwrap();
    assert!(matches!(
        ReferenceSbom::decode_and_verify(
            &signed,
            &fixture.roots(),
            VerificationTime::Trusted(2_000_000_001),
            &[]
        ),
        Err(RejectReason::Expired { serial: 20, .. })
    ));
    let mut list = RevocationList {
        version: 1,
        root: fixture.root_signer.key_id(),
        signer: fixture.root_signer.key_id(),
        number: 1,
        this_update: FIXTURE_NOW - 60,
        next_update: FIXTURE_NOW + 86_400,
        credentials: heapless::Vec::new(),
        issuers: heapless::Vec::new(),
    };
    list.credentials
        .push(RevokedCredential {
            issuer: fixture.root_signer.key_id(),
            serial: 20,
        })
        .unwrap();
    assert_eq!(
        ReferenceSbom::decode_and_verify(&signed, &fixture.roots(), NOW, &[list]),
        Err(RejectReason::Revoked {
            issuer: fixture.root_signer.key_id(),
            serial: 20
        })
    );
}

#[test]
fn unsigned_object_rejected() {
    let fixture = Fixture::new();
    let root = fixture.sbom_root();
    let components = three_components();
    let body = encode_body(&reference(&components, &root));
    assert!(matches!(
        ReferenceSbom::decode_and_verify(&body, &fixture.roots(), NOW, &[]),
        Err(RejectReason::Truncated {
            object: ObjectType::ReferenceSbom,
            ..
        })
    ));
    let mut zero_signature = body.clone();
    zero_signature.extend_from_slice(&[0; 64]);
    assert_eq!(
        ReferenceSbom::decode_and_verify(&zero_signature, &fixture.roots(), NOW, &[]),
        Err(RejectReason::BadSignature {
            object: ObjectType::ReferenceSbom
        })
    );
}

#[test]
fn altered_object_rejected() {
    let fixture = Fixture::new();
    let root = fixture.sbom_root();
    let components = three_components();
    let signed = sign(&reference(&components, &root), &fixture.root_signer).unwrap();
    // One changed hash byte of the last component, inside the signed body.
    let last_hash = signed
        .windows(32)
        .position(|window| window == [0x33; 32])
        .unwrap();
    let mut altered = signed.clone();
    altered[last_hash + 31] ^= 0x01;
    assert_eq!(
        ReferenceSbom::decode_and_verify(&altered, &fixture.roots(), NOW, &[]),
        Err(RejectReason::BadSignature {
            object: ObjectType::ReferenceSbom
        })
    );
    // One changed bit in the signature's R half.
    let mut altered = signed.clone();
    let last = altered.len() - 40;
    altered[last] ^= 0x01;
    assert_eq!(
        ReferenceSbom::decode_and_verify(&altered, &fixture.roots(), NOW, &[]),
        Err(RejectReason::BadSignature {
            object: ObjectType::ReferenceSbom
        })
    );
}

#[test]
fn truncated_and_trailing_rejected() {
    let fixture = Fixture::new();
    let root = fixture.sbom_root();
    let components = three_components();
    let signed = sign(&reference(&components, &root), &fixture.root_signer).unwrap();
    for len in 0..signed.len() {
        assert!(
            ReferenceSbom::decode_and_verify(&signed[..len], &fixture.roots(), NOW, &[]).is_err(),
            "prefix of {len} bytes accepted"
        );
    }
    let mut longer = signed.clone();
    longer.push(0);
    assert_eq!(
        ReferenceSbom::decode_and_verify(&longer, &fixture.roots(), NOW, &[]),
        Err(RejectReason::TrailingBytes {
            object: ObjectType::ReferenceSbom,
            extra: 1
        })
    );
}

#[test]
fn other_object_types_rejected() {
    let fixture = Fixture::new();
    let root = fixture.sbom_root();
    let components = three_components();
    // A reference body signed under the command domain.
    let wrong_domain = sign_raw(
        &reference(&components, &root),
        &fixture.root_signer,
        DOMAIN_COMMAND,
    );
    assert_eq!(
        ReferenceSbom::decode_and_verify(&wrong_domain, &fixture.roots(), NOW, &[]),
        Err(RejectReason::DomainMismatch {
            object: ObjectType::ReferenceSbom,
            signed_as: ObjectType::Command
        })
    );
    // A credential presented as a reference SBOM.
    assert!(ReferenceSbom::decode_and_verify(&fixture.device, &fixture.roots(), NOW, &[]).is_err());
    // A reference presented as a credential.
    let signed = sign(&reference(&components, &root), &fixture.root_signer).unwrap();
    assert!(palisade_credential::Credential::decode(&signed).is_err());
    // A future format version.
    let mut future = signed.clone();
    future[0] = 2;
    assert_eq!(
        ReferenceSbom::decode_unverified(&future).map(|_| ()),
        Err(RejectReason::UnsupportedVersion {
            object: ObjectType::ReferenceSbom,
            found: 2,
            expected: 1
        })
    );
}

#[test]
fn unsorted_and_duplicate_components_rejected() {
    let fixture = Fixture::new();
    let root = fixture.sbom_root();
    let unsorted = [component("zlib1g", "1", 1), component("openssl", "3", 2)];
    let duplicate = [component("openssl", "1", 1), component("openssl", "3", 2)];
    for components in [&unsorted, &duplicate] {
        let unsigned = reference(components, &root);
        let expected = Err(RejectReason::UnsortedEntries {
            object: ObjectType::ReferenceSbom,
            field: "components",
        });
        assert_eq!(sign(&unsigned, &fixture.root_signer).map(|_| ()), expected);
        let forced = sign_raw(&unsigned, &fixture.root_signer, DOMAIN_REFERENCE_SBOM);
        assert_eq!(
            ReferenceSbom::decode_unverified(&forced).map(|_| ()),
            expected
        );
    }
}

#[test]
fn invalid_utf8_rejected() {
    let fixture = Fixture::new();
    let root = fixture.sbom_root();
    let components = [component("openssl", "3", 1)];
    let mut forced = sign_raw(
        &reference(&components, &root),
        &fixture.root_signer,
        DOMAIN_REFERENCE_SBOM,
    );
    let position = forced
        .windows(7)
        .position(|window| window == b"openssl")
        .unwrap();
    forced[position] = 0xff;
    assert_eq!(
        ReferenceSbom::decode_unverified(&forced).map(|_| ()),
        Err(RejectReason::Malformed {
            object: ObjectType::ReferenceSbom,
            field: "components.name"
        })
    );
}

/// Names `n000`, `n001`, ... that sort in creation order.
fn numbered_names(count: usize) -> Vec<String> {
    (0..count).map(|index| format!("n{index:03}")).collect()
}

#[test]
fn component_count_boundary() {
    let fixture = Fixture::new();
    let root = fixture.sbom_root();
    let names = numbered_names(MAX_REFERENCE_COMPONENTS + 1);
    let components: Vec<_> = names.iter().map(|name| component(name, "1", 7)).collect();

    let at_max = reference(&components[..MAX_REFERENCE_COMPONENTS], &root);
    let signed = sign(&at_max, &fixture.root_signer).unwrap();
    let back = ReferenceSbom::decode_and_verify(&signed, &fixture.roots(), NOW, &[]).unwrap();
    assert_eq!(back.components.len(), MAX_REFERENCE_COMPONENTS);

    let over = reference(&components, &root);
    let expected = Err(RejectReason::TooManyEntries {
        object: ObjectType::ReferenceSbom,
        field: "components",
        count: MAX_REFERENCE_COMPONENTS + 1,
        max: MAX_REFERENCE_COMPONENTS,
    });
    assert_eq!(sign(&over, &fixture.root_signer).map(|_| ()), expected);
    let forced = sign_raw(&over, &fixture.root_signer, DOMAIN_REFERENCE_SBOM);
    assert_eq!(
        ReferenceSbom::decode_unverified(&forced).map(|_| ()),
        expected
    );
}

/// Returns the result of signing and verifying a reference with these
/// texts, and the result of decoding an encoding that bypasses the signing
/// checks.
fn text_limit_case(
    model_name: &str,
    firmware_version: &str,
    components: &[ReferenceComponent<'_>],
) -> (Result<(), RejectReason>, Result<(), RejectReason>) {
    let fixture = Fixture::new();
    let root = fixture.sbom_root();
    let mut unsigned = reference(components, &root);
    unsigned.model_name = model_name;
    unsigned.firmware_version = firmware_version;
    let signed = sign(&unsigned, &fixture.root_signer).map(|bytes| {
        ReferenceSbom::decode_and_verify(&bytes, &fixture.roots(), NOW, &[])
            .map(|back| assert_eq!(back, unsigned))
            .unwrap()
    });
    let forced = sign_raw(&unsigned, &fixture.root_signer, DOMAIN_REFERENCE_SBOM);
    (
        signed,
        ReferenceSbom::decode_unverified(&forced).map(|_| ()),
    )
}

fn too_long(field: &'static str, count: usize, max: usize) -> Result<(), RejectReason> {
    Err(RejectReason::TooManyEntries {
        object: ObjectType::ReferenceSbom,
        field,
        count,
        max,
    })
}

#[test]
fn model_name_length_boundary() {
    let components = three_components();
    let at_max = "m".repeat(MAX_MODEL_NAME_LEN);
    let over = "m".repeat(MAX_MODEL_NAME_LEN + 1);
    assert_eq!(
        text_limit_case(&at_max, "2.4.1", &components),
        (Ok(()), Ok(()))
    );
    let expected = too_long("model_name", MAX_MODEL_NAME_LEN + 1, MAX_MODEL_NAME_LEN);
    assert_eq!(
        text_limit_case(&over, "2.4.1", &components),
        (expected, expected)
    );
    assert_eq!(text_limit_case("", "2.4.1", &components), (Ok(()), Ok(())));
}

#[test]
fn firmware_version_length_boundary() {
    let components = three_components();
    let at_max = "9".repeat(MAX_FIRMWARE_VERSION_LEN);
    let over = "9".repeat(MAX_FIRMWARE_VERSION_LEN + 1);
    assert_eq!(
        text_limit_case("IP-200", &at_max, &components),
        (Ok(()), Ok(()))
    );
    let expected = too_long(
        "firmware_version",
        MAX_FIRMWARE_VERSION_LEN + 1,
        MAX_FIRMWARE_VERSION_LEN,
    );
    assert_eq!(
        text_limit_case("IP-200", &over, &components),
        (expected, expected)
    );
    let empty = Err(RejectReason::Malformed {
        object: ObjectType::ReferenceSbom,
        field: "firmware_version",
    });
    assert_eq!(text_limit_case("IP-200", "", &components), (empty, empty));
}

#[test]
fn component_name_length_boundary() {
    let at_max = "c".repeat(MAX_COMPONENT_NAME_LEN);
    let over = "c".repeat(MAX_COMPONENT_NAME_LEN + 1);
    assert_eq!(
        text_limit_case("IP-200", "2.4.1", &[component(&at_max, "1", 1)]),
        (Ok(()), Ok(()))
    );
    let expected = too_long(
        "components.name",
        MAX_COMPONENT_NAME_LEN + 1,
        MAX_COMPONENT_NAME_LEN,
    );
    assert_eq!(
        text_limit_case("IP-200", "2.4.1", &[component(&over, "1", 1)]),
        (expected, expected)
    );
    let empty = Err(RejectReason::Malformed {
        object: ObjectType::ReferenceSbom,
        field: "components.name",
    });
    assert_eq!(
        text_limit_case("IP-200", "2.4.1", &[component("", "1", 1)]),
        (empty, empty)
    );
}

#[test]
fn component_version_length_boundary() {
    let at_max = "v".repeat(MAX_COMPONENT_VERSION_LEN);
    let over = "v".repeat(MAX_COMPONENT_VERSION_LEN + 1);
    assert_eq!(
        text_limit_case("IP-200", "2.4.1", &[component("openssl", &at_max, 1)]),
        (Ok(()), Ok(()))
    );
    let expected = too_long(
        "components.version",
        MAX_COMPONENT_VERSION_LEN + 1,
        MAX_COMPONENT_VERSION_LEN,
    );
    assert_eq!(
        text_limit_case("IP-200", "2.4.1", &[component("openssl", &over, 1)]),
        (expected, expected)
    );
}

#[test]
fn largest_reference_fits_bound() {
    let fixture = Fixture::new();
    // The largest signer credential: an intermediate with eight models and
    // the largest vendor id.
    let release = fixture.release_credential_for_vendor(u32::MAX, &[1, 2, 3, 4, 5, 6, 7, u32::MAX]);
    let names: Vec<String> = (0..MAX_REFERENCE_COMPONENTS)
        .map(|index| format!("{index:03}{}", "n".repeat(MAX_COMPONENT_NAME_LEN - 3)))
        .collect();
    let version = "v".repeat(MAX_COMPONENT_VERSION_LEN);
    let components: Vec<_> = names
        .iter()
        .map(|name| component(name, &version, 0xee))
        .collect();
    let model_name = "m".repeat(MAX_MODEL_NAME_LEN);
    let firmware = "f".repeat(MAX_FIRMWARE_VERSION_LEN);
    let mut largest = reference(&components, &release);
    largest.vendor_id = u32::MAX;
    largest.model_id = u32::MAX;
    largest.model_name = &model_name;
    largest.firmware_version = &firmware;
    largest.issued_at = u64::MAX;
    let signed = sign(&largest, &fixture.release_signer()).unwrap();
    assert!(
        signed.len() <= MAX_REFERENCE_SBOM_LEN,
        "{} > {MAX_REFERENCE_SBOM_LEN}",
        signed.len()
    );
    // Only the signer credential is below its own maximum.
    assert!(
        MAX_REFERENCE_SBOM_LEN - signed.len() <= 256 - release.len(),
        "bound {MAX_REFERENCE_SBOM_LEN} is loose for {} bytes",
        signed.len()
    );
    // A last-known-good time does not check the issue time, which is at its
    // largest encoding here (u64::MAX).
    let back = ReferenceSbom::decode_and_verify(
        &signed,
        &fixture.roots(),
        VerificationTime::LastKnownGood(FIXTURE_NOW),
        &[],
    )
    .unwrap();
    assert_eq!(back, largest);
    let mut small = vec![0u8; signed.len() - 1];
    assert!(matches!(
        largest.sign(&fixture.release_signer(), &mut small),
        Err(RejectReason::BufferTooSmall { .. })
    ));
}

#[test]
fn reject_codes_are_stable() {
    let reason = RejectReason::ReferenceSbomSignerNotAuthorized {
        key_id: KeyId([0; 8]),
    };
    assert_eq!(reason.code(), 90);
    let future = RejectReason::ReferenceSbomIssuedInFuture {
        issued_at: 2,
        now: 1,
    };
    assert_eq!(future.code(), 91);
    let vendor = RejectReason::ReferenceSbomVendorMismatch {
        serial: 1,
        signer_vendor: 2,
        reference_vendor: 3,
    };
    assert_eq!(vendor.code(), 92);
    assert_eq!(ObjectType::ReferenceSbom.name(), "reference SBOM");
}
