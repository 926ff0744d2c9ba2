//! The `sbom_drift` rule against real signed reference SBOMs: added,
//! removed and changed components, an equal set, a set reported twice, a
//! rejected reference and a model without a reference.

use std::path::Path;

use palisade_credential::testkit::{FIXTURE_MODEL, FIXTURE_NOW, FIXTURE_VENDOR, Fixture};
use palisade_credential::{
    DOMAIN_COMMAND, MAX_REFERENCE_SBOM_LEN, REFERENCE_SBOM_VERSION, ReferenceComponent,
    ReferenceComponents, ReferenceSbom, RejectReason, Signer, VerificationTime,
};
use palisade_gateway::config::Config;
use palisade_gateway::finding::{Finding, RuleId, now_unix_ms};
use palisade_gateway::inventory::Admission;
use palisade_gateway::metrics::Metrics;
use palisade_gateway::pipeline::GatewayCore;
use palisade_gateway::posture::ReferenceError;
use palisade_schema::{
    DeviceId, Event, EventBody, Header, HitCount, Severity, SoftwareComponent, Str, SystemInfo,
};

const NOW: VerificationTime = VerificationTime::Trusted(FIXTURE_NOW);
const FIRMWARE: &str = "2.4.1";

/// The reference components: name, version and the byte the SHA-256 repeats.
const REFERENCE: [(&str, &str, u8); 3] = [
    ("dosing-service", "2.4.1", 0x11),
    ("openssl", "3.0.13-1~deb12u1", 0x22),
    ("zlib1g", "1:1.2.13.dfsg-1", 0x33),
];

fn sign_reference(fixture: &Fixture, model_id: u32, firmware: &str) -> Vec<u8> {
    let root = fixture.sbom_root();
    let components: Vec<_> = REFERENCE
        .iter()
        .map(|(name, version, fill)| ReferenceComponent {
            name,
            version,
            sha256: [*fill; 32],
        })
        .collect();
    let reference = ReferenceSbom {
        version: REFERENCE_SBOM_VERSION,
        vendor_id: FIXTURE_VENDOR,
        model_id,
        model_name: "IP-200 infusion pump",
        firmware_version: firmware,
        issued_at: FIXTURE_NOW - 86_400,
        components: ReferenceComponents::from_slice(&components),
        signer_credential: &root,
    };
    let mut out = vec![0u8; MAX_REFERENCE_SBOM_LEN];
    let len = reference
        .sign(&fixture.root_signer, &mut out)
        .expect("reference signs");
    out.truncate(len);
    out
}

fn open_core(dir: &Path, references: Option<&Path>) -> GatewayCore {
    let mut config = Config::with_default_sinks();
    config.paths.database = dir.join("gateway.sqlite");
    config.paths.output = dir.join("out");
    config.posture.reference_sboms = references.map(Path::to_path_buf);
    config.posture.settle_secs = 0;
    GatewayCore::open(config, Metrics::new()).expect("core opens")
}

fn admit(core: &mut GatewayCore, device: DeviceId, model_id: u32) {
    core.admit(&Admission {
        device,
        model: "IP-200".into(),
        vendor: "Acme Medical".into(),
        hardware: "rev C".into(),
        firmware: "unknown".into(),
        credential_serial: Some(1000),
        address: None,
        time_unix_ms: now_unix_ms(),
    })
    .expect("admission stored");
    core.set_model_ids(device, FIXTURE_VENDOR, model_id);
}

fn event(sequence: u64, body: EventBody<'_>) -> Event<'_> {
    Event {
        header: Header {
            sequence,
            boot: 1,
            uptime_ms: 1_000 + sequence,
            wall_clock: None,
            severity: Severity::Info,
            hit_count: HitCount::ONE,
            window_ms: 0,
        },
        body,
    }
}

fn system_info(firmware: &str) -> EventBody<'_> {
    EventBody::SystemInfo(SystemInfo {
        vendor: Str::truncated("Acme Medical"),
        model: Str::truncated("IP-200"),
        hostname: Str::truncated("pump-1"),
        os_name: Str::truncated("Yocto Linux"),
        os_version: Str::truncated("4.0.18"),
        architecture: Str::truncated("armv7l"),
        firmware_version: Str::truncated(firmware),
        interfaces: heapless::Vec::new(),
    })
}

fn component<'a>(name: &'a str, version: &'a str, sha256: Option<[u8; 32]>) -> EventBody<'a> {
    EventBody::SoftwareComponent(SoftwareComponent {
        name: Str::truncated(name),
        version: Str::truncated(version),
        supplier: None,
        purl: None,
        cpe: None,
        sha256,
    })
}

/// Sends system information and `components` as one batch from sequence `first`.
fn report(
    core: &mut GatewayCore,
    device: DeviceId,
    first: u64,
    components: &[(&str, &str, Option<[u8; 32]>)],
) {
    let mut batch = vec![event(first, system_info(FIRMWARE))];
    for (offset, (name, version, sha256)) in components.iter().enumerate() {
        batch.push(event(
            first + 1 + offset as u64,
            component(name, version, *sha256),
        ));
    }
    core.receive(device, &batch).expect("batch stored");
}

fn reference_components() -> Vec<(&'static str, &'static str, Option<[u8; 32]>)> {
    REFERENCE
        .iter()
        .map(|(name, version, fill)| (*name, *version, Some([*fill; 32])))
        .collect()
}

fn write_reference(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("reference folder");
    std::fs::write(dir.join(name), bytes).expect("reference file");
}

/// A core whose reference folder holds the fixture reference for FIXTURE_MODEL.
fn core_with_reference(dir: &Path) -> GatewayCore {
    let fixture = Fixture::new();
    let references = dir.join("references");
    write_reference(
        &references,
        "ip200-2.4.1.sbom",
        &sign_reference(&fixture, FIXTURE_MODEL, FIRMWARE),
    );
    let mut core = open_core(dir, Some(&references));
    let load = core
        .load_reference_sboms(&fixture.roots(), NOW, &[])
        .expect("folder lists");
    assert_eq!(load.loaded, 1);
    assert!(load.rejected.is_empty(), "{:?}", load.rejected);
    core
}

fn attribute<'a>(finding: &'a Finding, key: &str) -> &'a str {
    finding
        .attributes
        .get(key)
        .map(String::as_str)
        .unwrap_or_else(|| panic!("no attribute {key} in {finding:?}"))
}

#[test]
fn equal_set_raises_nothing() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut core = core_with_reference(dir.path());
    let device = DeviceId([1; 16]);
    admit(&mut core, device, FIXTURE_MODEL);
    report(&mut core, device, 0, &reference_components());
    let findings = core.check_sbom_drift(now_unix_ms()).expect("check runs");
    assert!(findings.is_empty(), "{findings:?}");
}

#[test]
fn changed_hash_reported_once() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut core = core_with_reference(dir.path());
    let device = DeviceId([2; 16]);
    admit(&mut core, device, FIXTURE_MODEL);
    let mut components = reference_components();
    components[1].2 = Some([0x99; 32]);
    report(&mut core, device, 0, &components);

    let findings = core.check_sbom_drift(now_unix_ms()).expect("check runs");
    assert_eq!(findings.len(), 1, "{findings:?}");
    let finding = &findings[0];
    assert_eq!(finding.rule, RuleId::SbomDrift);
    assert_eq!(finding.device, Some(device));
    assert_eq!(finding.severity, Severity::High);
    assert_eq!(attribute(finding, "changed_count"), "1");
    assert_eq!(attribute(finding, "added_count"), "0");
    assert_eq!(attribute(finding, "removed_count"), "0");
    assert_eq!(
        attribute(finding, "changed"),
        "openssl: sha256 2222222222222222 -> 9999999999999999"
    );
    assert_eq!(attribute(finding, "reference_source"), "ip200-2.4.1.sbom");
    assert_eq!(
        attribute(finding, "reference_signer"),
        Fixture::new().root_signer.key_id().to_string()
    );

    // The same set again: no second finding.
    report(&mut core, device, 10, &components);
    let again = core.check_sbom_drift(now_unix_ms()).expect("check runs");
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(core.metrics().findings_for(RuleId::SbomDrift), 1);

    // The finding is in the outbox for the sinks.
    let rows = core.outbox().read_after(0, 1000).expect("outbox reads");
    let stored: Vec<_> = rows
        .iter()
        .filter_map(|row| row.finding())
        .map(|finding| finding.expect("finding decodes"))
        .filter(|finding| finding.rule == RuleId::SbomDrift)
        .collect();
    assert_eq!(stored.len(), 1);
}

#[test]
fn added_removed_and_version_change() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut core = core_with_reference(dir.path());
    let device = DeviceId([3; 16]);
    admit(&mut core, device, FIXTURE_MODEL);
    // zlib1g missing, busybox added, openssl at another version.
    report(
        &mut core,
        device,
        0,
        &[
            ("busybox", "1.36.1", Some([0x44; 32])),
            ("dosing-service", "2.4.1", Some([0x11; 32])),
            ("openssl", "3.0.11-1~deb12u2", Some([0x22; 32])),
        ],
    );
    let findings = core.check_sbom_drift(now_unix_ms()).expect("check runs");
    assert_eq!(findings.len(), 1, "{findings:?}");
    let finding = &findings[0];
    assert_eq!(attribute(finding, "added"), "busybox@1.36.1");
    assert_eq!(attribute(finding, "removed"), "zlib1g@1:1.2.13.dfsg-1");
    assert_eq!(
        attribute(finding, "changed"),
        "openssl: version 3.0.13-1~deb12u1 -> 3.0.11-1~deb12u2"
    );
    assert_eq!(attribute(finding, "added_count"), "1");
    assert_eq!(attribute(finding, "removed_count"), "1");
    assert_eq!(attribute(finding, "changed_count"), "1");
}

#[test]
fn missing_hash_counts_as_changed() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut core = core_with_reference(dir.path());
    let device = DeviceId([4; 16]);
    admit(&mut core, device, FIXTURE_MODEL);
    let mut components = reference_components();
    components[0].2 = None;
    report(&mut core, device, 0, &components);
    let findings = core.check_sbom_drift(now_unix_ms()).expect("check runs");
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(
        attribute(&findings[0], "changed"),
        "dosing-service: sha256 1111111111111111 -> not reported"
    );
}

#[test]
fn new_set_reported_again() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut core = core_with_reference(dir.path());
    let device = DeviceId([5; 16]);
    admit(&mut core, device, FIXTURE_MODEL);
    let mut components = reference_components();
    components[2].2 = Some([0x01; 32]);
    report(&mut core, device, 0, &components);
    assert_eq!(core.check_sbom_drift(now_unix_ms()).unwrap().len(), 1);

    // Another hash for the same component is a new set, so a new finding.
    components[2].2 = Some([0x02; 32]);
    report(&mut core, device, 10, &components);
    let findings = core.check_sbom_drift(now_unix_ms()).unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(
        attribute(&findings[0], "changed"),
        "zlib1g: sha256 3333333333333333 -> 0202020202020202"
    );

    // Back to the reference: nothing to report.
    components[2].2 = Some([0x33; 32]);
    report(&mut core, device, 20, &components);
    assert!(core.check_sbom_drift(now_unix_ms()).unwrap().is_empty());
}

#[test]
fn many_differences_listed_bounded() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut core = core_with_reference(dir.path());
    let device = DeviceId([6; 16]);
    admit(&mut core, device, FIXTURE_MODEL);
    let names: Vec<String> = (0..40).map(|index| format!("extra-{index:02}")).collect();
    let mut components = reference_components();
    for name in &names {
        components.push((name, "1", Some([0x55; 32])));
    }
    report(&mut core, device, 0, &components);
    let findings = core.check_sbom_drift(now_unix_ms()).unwrap();
    assert_eq!(findings.len(), 1);
    let added = attribute(&findings[0], "added");
    assert_eq!(attribute(&findings[0], "added_count"), "40");
    assert_eq!(
        added.split(", ").count(),
        palisade_gateway::posture::MAX_LISTED_COMPONENTS + 1
    );
    assert!(added.ends_with("and 24 more"), "{added}");
}

#[test]
fn no_reference_raises_nothing() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut core = core_with_reference(dir.path());
    // Another model, and the right model with another firmware version.
    let other_model = DeviceId([7; 16]);
    admit(&mut core, other_model, FIXTURE_MODEL + 1);
    report(&mut core, other_model, 0, &[("busybox", "1", None)]);
    let unknown_ids = DeviceId([8; 16]);
    core.admit(&Admission {
        device: unknown_ids,
        model: "IP-200".into(),
        vendor: "Acme Medical".into(),
        hardware: "rev C".into(),
        firmware: "unknown".into(),
        credential_serial: None,
        address: None,
        time_unix_ms: now_unix_ms(),
    })
    .unwrap();
    report(&mut core, unknown_ids, 0, &[("busybox", "1", None)]);
    let findings = core.check_sbom_drift(now_unix_ms()).unwrap();
    assert!(findings.is_empty(), "{findings:?}");

    let other_firmware = DeviceId([9; 16]);
    admit(&mut core, other_firmware, FIXTURE_MODEL);
    let batch = [
        event(0, system_info("2.5.0")),
        event(1, component("busybox", "1", None)),
    ];
    core.receive(other_firmware, &batch).unwrap();
    assert!(core.check_sbom_drift(now_unix_ms()).unwrap().is_empty());
}

#[test]
fn no_folder_loads_nothing() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut core = open_core(dir.path(), None);
    let load = core
        .load_reference_sboms(&Fixture::new().roots(), NOW, &[])
        .unwrap();
    assert_eq!(load.loaded, 0);
    let device = DeviceId([10; 16]);
    admit(&mut core, device, FIXTURE_MODEL);
    report(&mut core, device, 0, &[("busybox", "1", None)]);
    assert!(core.check_sbom_drift(now_unix_ms()).unwrap().is_empty());
}

#[test]
fn unsettled_set_waits() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let fixture = Fixture::new();
    let references = dir.path().join("references");
    write_reference(
        &references,
        "ip200.sbom",
        &sign_reference(&fixture, FIXTURE_MODEL, FIRMWARE),
    );
    let mut config = Config::with_default_sinks();
    config.paths.database = dir.path().join("gateway.sqlite");
    config.paths.output = dir.path().join("out");
    config.posture.reference_sboms = Some(references);
    config.posture.settle_secs = 60;
    let mut core = GatewayCore::open(config, Metrics::new()).unwrap();
    core.load_reference_sboms(&fixture.roots(), NOW, &[])
        .unwrap();
    let device = DeviceId([11; 16]);
    admit(&mut core, device, FIXTURE_MODEL);
    report(&mut core, device, 0, &[("dosing-service", "2.4.1", None)]);
    let now = now_unix_ms();
    assert!(core.check_sbom_drift(now).unwrap().is_empty());
    assert_eq!(core.check_sbom_drift(now + 61_000).unwrap().len(), 1);
}

#[test]
fn bad_references_rejected_and_unused() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let fixture = Fixture::new();
    let references = dir.path().join("references");
    let good = sign_reference(&fixture, FIXTURE_MODEL, FIRMWARE);
    // Each bad file claims model + 1, whose devices must then stay unchecked.
    let claimed = sign_reference(&fixture, FIXTURE_MODEL + 1, FIRMWARE);
    let body_len = claimed.len() - 64;
    // One changed bit in the hash of zlib1g, inside the signed body.
    let hash = claimed
        .windows(32)
        .position(|window| window == [0x33; 32])
        .unwrap();
    let mut flipped = claimed.clone();
    flipped[hash] ^= 0x01;
    let mut wrong_domain = claimed[..body_len].to_vec();
    let mut message = DOMAIN_COMMAND.to_vec();
    message.extend_from_slice(&claimed[..body_len]);
    wrong_domain.extend_from_slice(&fixture.root_signer.sign(&message).unwrap());
    write_reference(&references, "a-good.sbom", &good);
    write_reference(&references, "b-unsigned.sbom", &claimed[..body_len]);
    write_reference(&references, "c-bad-signature.sbom", &flipped);
    write_reference(&references, "d-truncated.sbom", &claimed[..40]);
    write_reference(&references, "e-credential.sbom", &fixture.device);
    write_reference(&references, "f-command-domain.sbom", &wrong_domain);
    write_reference(
        &references,
        "g-too-large.sbom",
        &vec![0u8; MAX_REFERENCE_SBOM_LEN + 1],
    );

    let mut core = open_core(dir.path(), Some(&references));
    let load = core
        .load_reference_sboms(&fixture.roots(), NOW, &[])
        .unwrap();
    assert_eq!(load.loaded, 1);
    assert_eq!(load.rejected.len(), 6, "{:?}", load.rejected);
    let reasons: Vec<(String, Option<RejectReason>)> = load
        .rejected
        .iter()
        .map(|error| match error {
            ReferenceError::Rejected {
                source_name,
                reason,
            } => (source_name.clone(), Some(*reason)),
            ReferenceError::TooLarge { path, .. } => (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                None,
            ),
            other => panic!("unexpected error {other}"),
        })
        .collect();
    let object = palisade_credential::ObjectType::ReferenceSbom;
    assert!(matches!(
        reasons[0],
        (ref name, Some(RejectReason::Truncated { .. })) if name == "b-unsigned.sbom"
    ));
    assert_eq!(
        reasons[1],
        (
            "c-bad-signature.sbom".to_owned(),
            Some(RejectReason::BadSignature { object })
        )
    );
    assert!(matches!(
        reasons[2],
        (ref name, Some(RejectReason::Truncated { .. })) if name == "d-truncated.sbom"
    ));
    assert!(matches!(
        reasons[3],
        (ref name, Some(_)) if name == "e-credential.sbom"
    ));
    assert_eq!(
        reasons[4],
        (
            "f-command-domain.sbom".to_owned(),
            Some(RejectReason::DomainMismatch {
                object,
                signed_as: palisade_credential::ObjectType::Command
            })
        )
    );
    assert_eq!(reasons[5], ("g-too-large.sbom".to_owned(), None));
    assert_eq!(core.references().len(), 1);
    assert!(
        core.references()
            .find(FIXTURE_VENDOR, FIXTURE_MODEL + 1, FIRMWARE)
            .is_none()
    );

    // A device of the model the bad files claim is not checked.
    let device = DeviceId([12; 16]);
    admit(&mut core, device, FIXTURE_MODEL + 1);
    report(&mut core, device, 0, &[("busybox", "1", None)]);
    assert!(core.check_sbom_drift(now_unix_ms()).unwrap().is_empty());
}

#[test]
fn unpinned_root_reference_rejected() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let fixture = Fixture::new();
    let references = dir.path().join("references");
    write_reference(
        &references,
        "ip200.sbom",
        &sign_reference(&fixture, FIXTURE_MODEL, FIRMWARE),
    );
    let mut core = open_core(dir.path(), Some(&references));
    // Only the operator root is pinned, not the maker root that signed.
    let mut roots = palisade_credential::TrustStore::new();
    roots
        .pin(
            palisade_credential::TrustAnchor::ed25519(fixture.operator_signer.public_key())
                .unwrap(),
        )
        .unwrap();
    let load = core.load_reference_sboms(&roots, NOW, &[]).unwrap();
    assert_eq!(load.loaded, 0);
    assert!(matches!(
        load.rejected[0],
        ReferenceError::Rejected {
            reason: RejectReason::UnknownRoot { .. },
            ..
        }
    ));
    assert!(core.references().is_empty());
}

#[test]
fn missing_folder_fails_load() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut core = open_core(dir.path(), Some(&dir.path().join("absent")));
    let error = core
        .load_reference_sboms(&Fixture::new().roots(), NOW, &[])
        .unwrap_err();
    assert!(
        error.to_string().contains("posture.reference_sboms"),
        "{error}"
    );
}

#[test]
fn later_reference_replaces_earlier() {
    let fixture = Fixture::new();
    let root = fixture.sbom_root();
    let sign_at = |issued_at: u64, version: &str| {
        let components = [ReferenceComponent {
            name: "openssl",
            version,
            sha256: [0x22; 32],
        }];
        let reference = ReferenceSbom {
            version: REFERENCE_SBOM_VERSION,
            vendor_id: FIXTURE_VENDOR,
            model_id: FIXTURE_MODEL,
            model_name: "IP-200",
            firmware_version: FIRMWARE,
            issued_at,
            components: ReferenceComponents::from_slice(&components),
            signer_credential: &root,
        };
        let mut out = vec![0u8; MAX_REFERENCE_SBOM_LEN];
        let len = reference.sign(&fixture.root_signer, &mut out).unwrap();
        out.truncate(len);
        out
    };
    let mut references = palisade_gateway::posture::ReferenceSboms::new();
    let roots = fixture.roots();
    references
        .insert(&sign_at(200, "2"), "second", &roots, NOW, &[])
        .unwrap();
    references
        .insert(&sign_at(100, "1"), "first", &roots, NOW, &[])
        .unwrap();
    let installed = references
        .find(FIXTURE_VENDOR, FIXTURE_MODEL, FIRMWARE)
        .unwrap();
    assert_eq!(installed.source, "second");
    assert_eq!(installed.components["openssl"].0, "2");
}

#[test]
fn posture_config_parsed_and_checked() {
    let config = Config::from_toml_str(
        r#"
        [posture]
        reference_sboms = "/etc/palisade/reference-sboms"
        settle_secs = 30
        check_interval_secs = 120
        "#,
    )
    .unwrap();
    assert_eq!(
        config.posture.reference_sboms.as_deref(),
        Some(Path::new("/etc/palisade/reference-sboms"))
    );
    assert_eq!(config.posture.settle_secs, 30);
    assert_eq!(config.posture.check_interval_secs, 120);
    assert!(Config::from_toml_str("[posture]\ncheck_interval_secs = 0\n").is_err());
    assert!(Config::from_toml_str("[posture]\nreference_sboms = \"\"\n").is_err());
    assert!(Config::from_toml_str("[posture]\nreference = \"x\"\n").is_err());
    let default = Config::from_toml_str("").unwrap();
    assert_eq!(default.posture.reference_sboms, None);
}
