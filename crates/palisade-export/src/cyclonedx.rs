//! CycloneDX 1.5 JSON software bills of materials for devices.
//!
//! [`device_bom`] turns a device's reported software components into a
//! BOM whose `metadata.component` is the device itself (type `device`).
//! Each component carries its purl, CPE and SHA-256 when the device
//! reported them. The output validates against the CycloneDX 1.5 JSON
//! schema (`bom-1.5.schema.json`), which the crate's tests check.
//!
//! # Example
//!
//! ```
//! use palisade_export::cyclonedx::{BomSubject, Component, device_bom};
//! use palisade_schema::DeviceId;
//!
//! let subject = BomSubject {
//!     device_id: DeviceId([1; 16]),
//!     vendor: Some("Acme Medical".into()),
//!     model: Some("IP-200".into()),
//!     firmware_version: Some("2.4.1".into()),
//!     hostname: None,
//! };
//! let busybox = Component {
//!     name: "busybox".into(),
//!     version: "1.36.1-r2".into(),
//!     supplier: None,
//!     purl: Some("pkg:apk/alpine/busybox@1.36.1-r2".into()),
//!     cpe: None,
//!     sha256: Some([0x5e; 32]),
//! };
//! let bom = device_bom(&subject, &[busybox], 1_796_000_000_000, "0.1.0", 1);
//! assert_eq!(bom["specVersion"], "1.5");
//! assert_eq!(bom["components"][0]["hashes"][0]["alg"], "SHA-256");
//! let text = serde_json::to_string_pretty(&bom).unwrap(); // the .cdx.json file
//! # assert!(text.contains("\"bomFormat\": \"CycloneDX\""));
//! ```

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use palisade_schema::{DeviceId, SoftwareComponent};

use crate::time::rfc3339_ms;

/// CycloneDX specification version of the BOMs produced here.
pub const SPEC_VERSION: &str = "1.5";

/// One software component, owned, as the gateway stores it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Component {
    /// Package or component name.
    pub name: String,
    /// Version as the package manager writes it.
    pub version: String,
    /// Supplier or maintainer.
    pub supplier: Option<String>,
    /// Package URL.
    pub purl: Option<String>,
    /// CPE 2.3 name.
    pub cpe: Option<String>,
    /// SHA-256 of the component's main file or archive.
    pub sha256: Option<[u8; 32]>,
}

impl From<&SoftwareComponent<'_>> for Component {
    fn from(component: &SoftwareComponent<'_>) -> Self {
        Self {
            name: component.name.as_str().to_owned(),
            version: component.version.as_str().to_owned(),
            supplier: component
                .supplier
                .map(|supplier| supplier.as_str().to_owned()),
            purl: component.purl.map(|purl| purl.as_str().to_owned()),
            cpe: component.cpe.map(|cpe| cpe.as_str().to_owned()),
            sha256: component.sha256,
        }
    }
}

/// The device a BOM describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BomSubject {
    /// Device id.
    pub device_id: DeviceId,
    /// Device maker.
    pub vendor: Option<String>,
    /// Device model; the BOM's `metadata.component.name` (the device id
    /// when the model is unknown).
    pub model: Option<String>,
    /// Firmware version; `metadata.component.version`.
    pub firmware_version: Option<String>,
    /// Host name.
    pub hostname: Option<String>,
}

/// Builds a CycloneDX 1.5 BOM for `subject` with `components`.
///
/// `timestamp_unix_ms` is the BOM's creation time and `tool_version` the
/// Palisade version that wrote it. `bom_version` is the BOM's `version`,
/// which starts at 1 and grows by one each time the same device's BOM is
/// rewritten. The serial number is derived from the device id, the
/// component list and `bom_version` (a version-8 UUID from SHA-256), so the
/// same input always gives the same BOM.
///
/// Components that are exactly equal are listed once, because the schema
/// requires unique items. Each `bom-ref` is the purl, or `name@version`
/// when there is none, with `#2`, `#3`… appended when two components would
/// share one.
pub fn device_bom(
    subject: &BomSubject,
    components: &[Component],
    timestamp_unix_ms: u64,
    tool_version: &str,
    bom_version: u32,
) -> Value {
    let unique: BTreeSet<&Component> = components.iter().collect();
    let mut references = BTreeSet::new();
    let mut entries = Vec::with_capacity(unique.len());
    for component in &unique {
        let base = component
            .purl
            .clone()
            .unwrap_or_else(|| format!("{}@{}", component.name, component.version));
        let mut reference = base.clone();
        let mut counter = 1;
        while !references.insert(reference.clone()) {
            counter += 1;
            reference = format!("{base}#{counter}");
        }
        entries.push(component_json(component, &reference));
    }

    let device_ref = format!("device:{}", subject.device_id);
    let mut device = Map::new();
    device.insert("type".into(), json!("device"));
    device.insert("bom-ref".into(), json!(device_ref));
    device.insert(
        "name".into(),
        json!(
            subject
                .model
                .clone()
                .unwrap_or_else(|| subject.device_id.to_string())
        ),
    );
    if let Some(version) = &subject.firmware_version {
        device.insert("version".into(), json!(version));
    }
    if let Some(vendor) = &subject.vendor {
        device.insert("supplier".into(), json!({ "name": vendor }));
    }
    let mut properties =
        vec![json!({ "name": "palisade:device_id", "value": subject.device_id.to_string() })];
    if let Some(hostname) = &subject.hostname {
        properties.push(json!({ "name": "palisade:hostname", "value": hostname }));
    }
    device.insert("properties".into(), Value::Array(properties));

    let dependencies = json!([{
        "ref": device_ref,
        "dependsOn": references.iter().collect::<Vec<_>>(),
    }]);

    json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": serial_number(subject.device_id, &unique, bom_version),
        "version": bom_version.max(1),
        "metadata": {
            "timestamp": rfc3339_ms(timestamp_unix_ms),
            "tools": {
                "components": [{
                    "type": "application",
                    "name": "palisade-export",
                    "version": tool_version,
                    "supplier": { "name": crate::VENDOR_NAME },
                }],
            },
            "component": Value::Object(device),
        },
        "components": entries,
        "dependencies": dependencies,
    })
}

fn component_json(component: &Component, reference: &str) -> Value {
    let mut entry = Map::new();
    entry.insert("type".into(), json!("library"));
    entry.insert("bom-ref".into(), json!(reference));
    entry.insert("name".into(), json!(component.name));
    entry.insert("version".into(), json!(component.version));
    if let Some(supplier) = &component.supplier {
        entry.insert("supplier".into(), json!({ "name": supplier }));
    }
    if let Some(sha256) = &component.sha256 {
        entry.insert(
            "hashes".into(),
            json!([{ "alg": "SHA-256", "content": hex::encode(sha256) }]),
        );
    }
    if let Some(cpe) = &component.cpe {
        entry.insert("cpe".into(), json!(cpe));
    }
    if let Some(purl) = &component.purl {
        entry.insert("purl".into(), json!(purl));
    }
    Value::Object(entry)
}

/// `urn:uuid:` followed by a version-8 UUID (RFC 9562) made of the first
/// 16 bytes of a SHA-256 over the device id, the components and the BOM
/// version.
fn serial_number(
    device_id: DeviceId,
    components: &BTreeSet<&Component>,
    bom_version: u32,
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"palisade cyclonedx serial\0");
    hasher.update(device_id.0);
    hasher.update(bom_version.to_be_bytes());
    for component in components {
        for part in [
            Some(component.name.as_str()),
            Some(component.version.as_str()),
            component.supplier.as_deref(),
            component.purl.as_deref(),
            component.cpe.as_deref(),
        ] {
            let part = part.unwrap_or_default();
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        hasher.update(component.sha256.unwrap_or_default());
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
