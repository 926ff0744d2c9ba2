//! OSV advisory loading and matching, against the sample advisory set in
//! `advisories/sample/`.

mod common;

use std::path::PathBuf;

use palisade_export::cyclonedx::Component;
use palisade_export::ocsf;
use palisade_export::vuln::{
    AdvisoryDatabase, AdvisoryError, Ecosystem, MAX_ADVISORY_FILE_LEN, MatchError, RULE_ID,
    SAMPLE_ADVISORIES,
};
use palisade_schema::{EventKind, Severity};

fn sample_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("advisories/sample")
}

fn database() -> AdvisoryDatabase {
    let (database, report) =
        AdvisoryDatabase::load_dir(&sample_dir()).expect("load sample advisories");
    assert!(
        report.rejected_files.is_empty(),
        "{:?}",
        report.rejected_files
    );
    database
}

fn component(purl: &str, version: &str) -> Component {
    Component {
        name: purl
            .rsplit('/')
            .next()
            .unwrap_or(purl)
            .split('@')
            .next()
            .unwrap_or(purl)
            .to_owned(),
        version: version.to_owned(),
        supplier: None,
        purl: Some(format!("{purl}@{version}")),
        cpe: None,
        sha256: None,
    }
}

/// Returns (advisory id, fixed version) of each match.
fn ids(purl: &str, version: &str) -> Vec<(String, Option<String>)> {
    database()
        .matches(&component(purl, version))
        .unwrap_or_else(|error| panic!("{purl}@{version}: {error}"))
        .into_iter()
        .map(|found| (found.advisory_id, found.fixed_version))
        .collect()
}

fn one(id: &str, fixed: Option<&str>) -> Vec<(String, Option<String>)> {
    vec![(id.to_owned(), fixed.map(str::to_owned))]
}

#[test]
fn load_report_counts_everything() {
    let (database, report) = AdvisoryDatabase::load_dir(&sample_dir()).expect("load");
    assert_eq!(report.loaded, 6);
    assert_eq!(report.withdrawn, 1);
    assert_eq!(report.skipped_ranges, 1, "the GIT range");
    assert_eq!(report.unsupported_entries, 0);
    assert_eq!(database.len(), 6);

    let (compiled, compiled_report) = AdvisoryDatabase::sample();
    assert_eq!(compiled.len(), database.len());
    assert_eq!(compiled_report.withdrawn, 1);
    assert_eq!(
        SAMPLE_ADVISORIES.len(),
        std::fs::read_dir(sample_dir()).expect("list").count()
    );
}

#[test]
fn debian_range_with_fixed_version() {
    let purl = "pkg:deb/debian/openssl";
    assert_eq!(
        ids(purl, "3.0.11-1~deb12u2"),
        one("PSA-2026-0001", Some("3.0.13-1~deb12u1"))
    );
    assert_eq!(
        ids(purl, "3.0.13-1~deb12u0"),
        one("PSA-2026-0001", Some("3.0.13-1~deb12u1"))
    );
    assert_eq!(
        ids(purl, "3.0.13-1~deb12u1"),
        vec![],
        "the fixed version is not affected"
    );
    assert_eq!(
        ids(purl, "3.0.13-1"),
        vec![],
        "a tilde version sorts before its base"
    );
    assert_eq!(
        ids(purl, "1:1.0"),
        vec![],
        "an epoch sorts above every version without one"
    );
}

#[test]
fn withdrawn_advisory_is_ignored() {
    let found = ids("pkg:deb/debian/openssl", "3.0.11-1~deb12u2");
    assert!(
        found.iter().all(|(id, _)| id != "PSA-2026-0002"),
        "{found:?}"
    );
}

#[test]
fn alpine_last_affected_is_inclusive() {
    let purl = "pkg:apk/alpine/busybox";
    assert_eq!(ids(purl, "1.36.0-r0"), one("PSA-2026-0003", None));
    assert_eq!(ids(purl, "1.36.1-r2"), one("PSA-2026-0003", None));
    assert_eq!(ids(purl, "1.36.1-r3"), vec![]);
    assert_eq!(ids(purl, "1.35.0-r17"), vec![]);
    assert_eq!(
        ids(purl, "1.36.0_rc1-r0"),
        vec![],
        "a release candidate sorts before its release"
    );
}

#[test]
fn semver_range_for_crates() {
    let purl = "pkg:cargo/ring";
    assert_eq!(ids(purl, "0.17.11"), one("PSA-2026-0004", Some("0.17.12")));
    assert_eq!(ids(purl, "0.17.0"), one("PSA-2026-0004", Some("0.17.12")));
    assert_eq!(ids(purl, "0.17.12"), vec![]);
    assert_eq!(ids(purl, "0.17.0-alpha.1"), vec![]);
    assert_eq!(ids(purl, "0.16.20"), vec![]);
}

#[test]
fn explicit_versions_for_scoped_npm() {
    let purl = "pkg:npm/%40acme/pump-ui";
    assert_eq!(ids(purl, "2.1.0"), one("PSA-2026-0005", None));
    assert_eq!(ids(purl, "2.1.1"), one("PSA-2026-0005", None));
    assert_eq!(ids(purl, "2.1.2"), vec![]);
    assert_eq!(
        ids("pkg:npm/pump-ui", "2.1.0"),
        vec![],
        "the scope is part of the name"
    );
}

#[test]
fn pep_440_ranges_with_two_spans() {
    let purl = "pkg:pypi/Pump_Telemetry";
    assert_eq!(ids(purl, "1.0"), one("PSA-2026-0006", Some("1.4.post1")));
    assert_eq!(ids(purl, "1.4"), one("PSA-2026-0006", Some("1.4.post1")));
    assert_eq!(ids(purl, "1.4.post1"), vec![]);
    assert_eq!(ids(purl, "1.9"), vec![]);
    assert_eq!(ids(purl, "2.0rc1"), one("PSA-2026-0006", Some("2.0")));
    assert_eq!(ids(purl, "2.0"), vec![]);
    assert_eq!(ids(purl, "0.9"), vec![]);
}

#[test]
fn ubuntu_uses_dpkg_ordering() {
    let purl = "pkg:deb/ubuntu/openssh";
    assert_eq!(
        ids(purl, "1:8.9p1-3ubuntu0.6"),
        one("PSA-2026-0007", Some("1:8.9p1-3ubuntu0.10"))
    );
    assert_eq!(ids(purl, "1:8.9p1-3ubuntu0.10"), vec![]);
    assert_eq!(
        ids(purl, "8.9p1-3ubuntu0.6"),
        vec![],
        "without the epoch the version sorts below the range"
    );
}

#[test]
fn unidentifiable_components_are_errors() {
    let database = database();
    let no_purl = Component {
        purl: None,
        ..component("pkg:deb/debian/openssl", "3.0.11-1")
    };
    assert!(matches!(
        database.matches(&no_purl),
        Err(MatchError::MissingPurl { .. })
    ));
    let rpm = component("pkg:rpm/fedora/openssl", "3.0.11-1");
    assert!(matches!(
        database.matches(&rpm),
        Err(MatchError::UnsupportedPurl { .. })
    ));
    let invalid = component("pkg:deb/debian/openssl", "not a version");
    assert!(matches!(
        database.matches(&invalid),
        Err(MatchError::InvalidVersion { .. })
    ));
    assert_eq!(Ecosystem::from_osv("Alpine:v3.19"), Some(Ecosystem::Alpine));
    assert_eq!(Ecosystem::from_osv("Maven"), None);
}

#[test]
fn match_becomes_detection_finding() {
    let database = database();
    let found = database
        .matches(&component("pkg:deb/debian/openssl", "3.0.11-1~deb12u2"))
        .expect("match");
    let event = palisade_export::EventRef {
        boot: 4,
        sequence: 1_012,
        kind: EventKind::SoftwareComponent,
    };
    let finding = found[0].to_finding(
        "gw:vuln:1".into(),
        common::device(),
        1_796_000_050_000,
        Some(event),
    );
    assert_eq!(finding.rule_id, RULE_ID);
    assert_eq!(finding.severity, Severity::High);
    assert_eq!(
        finding.attributes.get("advisory_id").map(String::as_str),
        Some("PSA-2026-0001")
    );
    assert_eq!(
        finding.attributes.get("fixed_version").map(String::as_str),
        Some("3.0.13-1~deb12u1")
    );

    let object = ocsf::finding(&finding, &common::origin());
    assert_eq!(object["class_uid"], 2004);
    assert_eq!(
        object["finding_info"]["analytic"]["uid"],
        "vulnerable_component"
    );
    assert_eq!(object["unmapped"]["advisory_id"], "PSA-2026-0001");
    assert_eq!(object["severity_id"], 4);
}

#[test]
fn load_dir_rejects_bad_files_and_keeps_the_rest() {
    let dir = tempfile::tempdir().expect("temporary directory");
    for (name, text) in SAMPLE_ADVISORIES {
        std::fs::write(dir.path().join(name), text).expect("write sample");
    }
    std::fs::write(dir.path().join("broken.json"), "{ not json").expect("write");
    std::fs::write(
        dir.path().join("array.json"),
        format!(
            "[{}]",
            SAMPLE_ADVISORIES[2]
                .1
                .replace("PSA-2026-0003", "PSA-2026-0103")
        ),
    )
    .expect("write");
    std::fs::write(dir.path().join("notes.txt"), "ignored").expect("write");
    let at_limit = vec![b' '; usize::try_from(MAX_ADVISORY_FILE_LEN).expect("fits")];
    std::fs::write(dir.path().join("at-limit.json"), &at_limit).expect("write");
    let mut over_limit = at_limit;
    over_limit.push(b' ');
    std::fs::write(dir.path().join("over-limit.json"), &over_limit).expect("write");

    let (database, report) = AdvisoryDatabase::load_dir(dir.path()).expect("load");
    assert_eq!(database.len(), 7, "six samples and one from the array");
    assert_eq!(
        report.rejected_files.len(),
        3,
        "{:?}",
        report.rejected_files
    );
    let too_large: Vec<_> = report
        .rejected_files
        .iter()
        .filter(|error| matches!(error, AdvisoryError::FileTooLarge { .. }))
        .collect();
    assert_eq!(
        too_large.len(),
        1,
        "only the file above the limit is too large"
    );
    let invalid = report
        .rejected_files
        .iter()
        .filter(|error| matches!(error, AdvisoryError::InvalidJson { .. }))
        .count();
    assert_eq!(
        invalid, 2,
        "the broken file and the blank file at the limit"
    );
    assert!(matches!(
        AdvisoryDatabase::load_dir(&dir.path().join("missing")),
        Err(AdvisoryError::Io { .. })
    ));
}
