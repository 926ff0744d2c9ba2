//! The fleet scenario in small form: every attack rule fires for its
//! attack (SBOM drift included), telemetry stays out of the security output
//! and a run without attacks raises none of the attack findings.

use std::collections::BTreeSet;
use std::path::Path;

use palisade_gateway::fleet::{ATTACK_RULES, FleetOptions, run};

fn options(out: &Path, clean: bool) -> FleetOptions {
    FleetOptions {
        out: out.to_path_buf(),
        devices: 8,
        clean,
        host_agent: true,
        mqtt: None,
    }
}

fn detection_rules(path: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path).expect("security.jsonl is readable");
    text.lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("each line is JSON"))
        .filter(|value| value["class_uid"] == 2004)
        .filter_map(|value| {
            value["finding_info"]["analytic"]["uid"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

/// The `sbom_drift` findings in `security.jsonl`.
fn drift_findings(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).expect("security.jsonl is readable");
    text.lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("each line is JSON"))
        .filter(|value| value["finding_info"]["analytic"]["uid"] == "sbom_drift")
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime starts")
}

#[test]
fn every_attack_rule_fires_and_telemetry_stays_separate() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let report = runtime()
        .block_on(run(&options(dir.path(), false)))
        .expect("fleet run succeeds");
    assert!(report.admitted >= 8, "admitted {}", report.admitted);
    assert!(report.refused >= 3, "refused {}", report.refused);
    assert!(dir.path().join("inventory.sqlite").exists());

    let rules = detection_rules(&dir.path().join("security.jsonl"));
    for rule in ATTACK_RULES {
        assert!(rules.contains(rule), "no {rule} finding; found {rules:?}");
    }
    assert!(rules.contains("sbom_drift"), "{rules:?}");
    assert_eq!(report.reference_sboms, 4, "{report:?}");
    // Exactly one device runs a changed openssl build.
    let drift = drift_findings(&dir.path().join("security.jsonl"));
    assert_eq!(drift.len(), 1, "{drift:?}");
    let text = drift[0].to_string();
    assert!(text.contains("d0010000000000000000000000000001"), "{text}");
    assert!(text.contains("openssl: sha256"), "{text}");
    assert_eq!(report.findings.get("sbom_drift"), Some(&1), "{report:?}");

    let telemetry =
        std::fs::read_to_string(dir.path().join("telemetry.jsonl")).expect("telemetry.jsonl");
    assert!(
        telemetry.lines().count() >= 8 * 30,
        "{} lines",
        telemetry.lines().count()
    );
    for line in telemetry.lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("telemetry line is JSON");
        assert!(
            value.get("class_uid").is_none(),
            "OCSF object in telemetry: {line}"
        );
        assert!(
            value.get("channel").is_some(),
            "not a telemetry record: {line}"
        );
    }
    let security =
        std::fs::read_to_string(dir.path().join("security.jsonl")).expect("security.jsonl");
    for line in security.lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("security line is JSON");
        assert!(
            value.get("class_uid").is_some(),
            "non-OCSF line in security output: {line}"
        );
    }
    assert!(report.commands_acknowledged >= 1, "{report:?}");
}

#[test]
fn boms_written_and_advisories_matched() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let report = runtime()
        .block_on(run(&options(dir.path(), true)))
        .expect("fleet run succeeds");
    let boms = std::fs::read_dir(dir.path().join("sbom"))
        .expect("sbom folder")
        .count();
    assert_eq!(boms as u64, report.admitted, "{report:?}");
    let first = dir
        .path()
        .join("sbom")
        .join("d0010000000000000000000000000000.cdx.json");
    let bom: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(first).expect("BOM of device 0"))
            .expect("BOM is JSON");
    assert_eq!(bom["bomFormat"], "CycloneDX");
    let rules = detection_rules(&dir.path().join("security.jsonl"));
    assert!(rules.contains("vulnerable_component"), "{rules:?}");
}

#[test]
fn clean_run_raises_no_attack_finding() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let report = runtime()
        .block_on(run(&options(dir.path(), true)))
        .expect("fleet run succeeds");
    assert_eq!(report.refused, 0, "{report:?}");
    let rules = detection_rules(&dir.path().join("security.jsonl"));
    for rule in ATTACK_RULES {
        assert!(
            !rules.contains(rule),
            "false positive {rule}; found {rules:?}"
        );
    }
    // The references were loaded and every device matched its own.
    assert_eq!(report.reference_sboms, 4, "{report:?}");
    assert!(!rules.contains("sbom_drift"), "{rules:?}");
}
