//! Validates the CycloneDX BOMs against the CycloneDX 1.5 JSON schema, with
//! the referenced SPDX and JSF schemas resolved from `tests/data`.

mod common;

use std::sync::{Arc, Mutex};

use jsonschema::{Retrieve, Uri};
use palisade_export::cyclonedx::{BomSubject, Component, device_bom};
use palisade_schema::{EventBody, EventKind, samples};
use serde_json::Value;

/// Serves the two schemas that `bom-1.5.schema.json` references from local
/// files, records every request, and fails for any other URI.
struct LocalSchemas {
    requested: Arc<Mutex<Vec<String>>>,
}

impl Retrieve for LocalSchemas {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let uri = uri.as_str().to_owned();
        self.requested
            .lock()
            .map_err(|_| "retriever lock poisoned")?
            .push(uri.clone());
        let file = match uri.as_str() {
            "http://cyclonedx.org/schema/spdx.schema.json" => "spdx.schema.json",
            "http://cyclonedx.org/schema/jsf-0.82.schema.json" => "jsf-0.82.schema.json",
            other => return Err(format!("{other} is not available offline").into()),
        };
        Ok(load(file))
    }
}

fn load(file: &str) -> Value {
    let path = common::test_path(&format!("data/cyclonedx-1.5/{file}"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    serde_json::from_str(&text).expect("parse schema")
}

fn validator(requested: &Arc<Mutex<Vec<String>>>) -> jsonschema::Validator {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .should_validate_formats(true)
        .with_retriever(LocalSchemas {
            requested: Arc::clone(requested),
        })
        .build(&load("bom-1.5.schema.json"))
        .expect("compile the CycloneDX 1.5 schema")
}

fn subject() -> BomSubject {
    let device = common::device();
    BomSubject {
        device_id: device.id,
        vendor: device.vendor,
        model: device.model,
        firmware_version: Some("2.4.1".into()),
        hostname: device.hostname,
    }
}

fn components() -> Vec<Component> {
    let sample = samples::one_of_each()
        .find(|event| event.kind() == EventKind::SoftwareComponent)
        .expect("sample component");
    let EventBody::SoftwareComponent(component) = &sample.body else {
        unreachable!("kind checked")
    };
    let openssl = Component::from(component);
    vec![
        openssl.clone(),
        Component {
            name: "busybox".into(),
            version: "1.36.1-r2".into(),
            supplier: None,
            purl: Some("pkg:apk/alpine/busybox@1.36.1-r2?arch=armv7".into()),
            cpe: None,
            sha256: Some([0x5e; 32]),
        },
        Component {
            name: "dosing-service".into(),
            version: "2.4.1".into(),
            supplier: Some("Acme Medical".into()),
            purl: None,
            cpe: None,
            sha256: None,
        },
        // The same purl with another hash: listed twice with distinct bom-refs.
        Component {
            sha256: Some([0xcd; 32]),
            ..openssl.clone()
        },
        // An exact duplicate: listed once.
        openssl,
    ]
}

#[test]
fn device_bom_validates_against_cyclonedx_1_5() {
    let requested = Arc::new(Mutex::new(Vec::new()));
    let validator = validator(&requested);
    let bom = device_bom(&subject(), &components(), 1_796_000_000_000, "0.1.0", 1);
    let errors: Vec<String> = validator
        .iter_errors(&bom)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{bom:#}");

    assert_eq!(bom["components"].as_array().map(Vec::len), Some(4));
    assert_eq!(
        bom["components"][3]["bom-ref"],
        "pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=armhf#2"
    );
    let requested = requested.lock().expect("lock").clone();
    for uri in &requested {
        assert!(
            uri.starts_with("http://cyclonedx.org/schema/"),
            "unexpected retrieval {uri}"
        );
    }
    common::check_golden(
        "golden/cyclonedx/device.cdx.json",
        &(serde_json::to_string_pretty(&bom).expect("serialize") + "\n"),
    );
}

#[test]
fn schema_rejects_invalid_boms() {
    let requested = Arc::new(Mutex::new(Vec::new()));
    let validator = validator(&requested);
    let valid = device_bom(&subject(), &components(), 1_796_000_000_000, "0.1.0", 1);
    assert!(validator.is_valid(&valid));

    let mut bad_hash = valid.clone();
    bad_hash["components"][0]["hashes"][0]["alg"] = "SHA256".into();
    assert!(
        !validator.is_valid(&bad_hash),
        "unknown hash algorithm accepted"
    );

    let mut bad_license = valid.clone();
    bad_license["components"][0]["licenses"] =
        serde_json::json!([{ "license": { "id": "Not-An-SPDX-Id" } }]);
    assert!(
        !validator.is_valid(&bad_license),
        "the SPDX schema was not applied"
    );

    let mut no_version = valid;
    no_version
        .as_object_mut()
        .expect("object")
        .remove("version");
    assert!(!validator.is_valid(&no_version), "missing version accepted");
}

#[test]
fn bom_is_deterministic_and_versioned() {
    let first = device_bom(&subject(), &components(), 1_796_000_000_000, "0.1.0", 1);
    let again = device_bom(&subject(), &components(), 1_796_000_000_000, "0.1.0", 1);
    let next = device_bom(&subject(), &components(), 1_796_000_000_000, "0.1.0", 2);
    assert_eq!(first, again);
    assert_ne!(first["serialNumber"], next["serialNumber"]);
    assert_eq!(next["version"], 2);
    let empty = device_bom(&subject(), &[], 0, "0.1.0", 0);
    assert_eq!(empty["version"], 1);
    assert_eq!(empty["components"], serde_json::json!([]));
}
