//! SBOM drift: each device's reported components compared with the signed
//! reference SBOM its maker published for its model and firmware version.
//!
//! [`ReferenceSboms`] contains the references that verified against the
//! pinned device-maker roots ([`palisade_credential::ReferenceSbom`]). A
//! reference that is unsigned, badly signed, truncated or of another object
//! type is rejected with its reason and never used, and so is one signed by
//! a key without the sign-reference-sboms usage. [`DriftMonitor`] compares a
//! device's components (name, version, SHA-256, as the inventory stores
//! them) with the reference for its (vendor id, model id, firmware
//! version) and raises one `sbom_drift` finding per change of the device's
//! component set: the same set is not reported twice, and a set equal to
//! the reference raises nothing.
//!
//! A device keeps reporting components one event at a time, so a set is
//! checked only once no component of the device changed for the settle
//! time (`posture.settle_secs`); otherwise a half-reported set would look
//! like removed components.
//!
//! Limits: a finding lists at most [`MAX_LISTED_COMPONENTS`] names per kind
//! of difference (added, removed, changed) and always carries the three
//! counts. The monitor's state lives in memory, so after a restart each
//! device's current set is checked once more and a drift that persists is
//! reported again.
//!
//! NOTE: a reference installed while the gateway runs does not trigger a
//! new comparison for a device whose set was already checked; that device
//! is compared again when its component set changes or after a restart.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use palisade_credential::{
    MAX_REFERENCE_SBOM_LEN, ReferenceSbom, RejectReason, RevocationList, TrustStore,
    VerificationTime,
};
use palisade_schema::DeviceId;

use crate::config::DetectionConfig;
use crate::finding::{Finding, RuleId};
use crate::inventory::ComponentRecord;

/// Maximum component names listed per kind of difference in one finding.
pub const MAX_LISTED_COMPONENTS: usize = 16;
/// Maximum reference files read from one folder.
pub const MAX_REFERENCE_FILES: usize = 4096;

/// The (vendor id, model id, firmware version) a reference applies to.
pub type ReferenceKey = (u32, u32, String);

/// A verified reference SBOM, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReference {
    /// Vendor id, as in the model's device credentials.
    pub vendor_id: u32,
    /// Model id, as in the model's device credentials.
    pub model_id: u32,
    /// Model name for people.
    pub model_name: String,
    /// Firmware version the reference describes.
    pub firmware_version: String,
    /// Issue time, in seconds since the Unix epoch.
    pub issued_at: u64,
    /// Key id of the signer, as 16 hex digits.
    pub signer: String,
    /// Components by name: version and SHA-256.
    pub components: BTreeMap<String, (String, [u8; 32])>,
    /// File (or other source) the reference was read from.
    pub source: String,
}

impl VerifiedReference {
    /// Copies a verified reference out of its encoding.
    fn from_verified(reference: &ReferenceSbom<'_>, source: &str) -> Self {
        Self {
            vendor_id: reference.vendor_id,
            model_id: reference.model_id,
            model_name: reference.model_name.to_owned(),
            firmware_version: reference.firmware_version.to_owned(),
            issued_at: reference.issued_at,
            signer: reference
                .signer_key_id()
                .map(|key_id| key_id.to_string())
                .unwrap_or_default(),
            components: reference
                .components
                .iter()
                .map(|component| {
                    (
                        component.name.to_owned(),
                        (component.version.to_owned(), component.sha256),
                    )
                })
                .collect(),
            source: source.to_owned(),
        }
    }

    /// Returns the key the reference applies to.
    pub fn key(&self) -> ReferenceKey {
        (self.vendor_id, self.model_id, self.firmware_version.clone())
    }
}

/// Error that keeps a reference file from being used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceError {
    /// The file could not be read.
    #[error("failed to read reference SBOM {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is larger than any reference SBOM.
    #[error(
        "reference SBOM {path} has {len} bytes, more than the maximum of {max}; it is not a reference SBOM"
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
        /// The largest reference SBOM.
        max: usize,
    },
    /// Decoding or verification failed.
    #[error("reference SBOM {source_name} rejected: {reason} (code {code})", code = reason.code())]
    Rejected {
        /// File name or other source.
        source_name: String,
        /// The reason.
        reason: RejectReason,
    },
}

/// Result of [`ReferenceSboms::load_dir`]: the count installed and each rejection.
#[derive(Debug, Default)]
pub struct ReferenceLoad {
    /// References verified and installed.
    pub loaded: usize,
    /// Files rejected, each with its reason.
    pub rejected: Vec<ReferenceError>,
}

/// The verified references by (vendor id, model id, firmware version).
#[derive(Debug, Clone, Default)]
pub struct ReferenceSboms {
    references: HashMap<ReferenceKey, VerifiedReference>,
}

impl ReferenceSboms {
    /// Creates an empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the number of references installed.
    pub fn len(&self) -> usize {
        self.references.len()
    }

    /// Returns true when no reference is installed.
    pub fn is_empty(&self) -> bool {
        self.references.is_empty()
    }

    /// Verifies `bytes` against the device-maker roots and installs the
    /// reference. A reference for the same model and firmware version
    /// replaces the installed one only when it was issued later.
    pub fn insert(
        &mut self,
        bytes: &[u8],
        source: &str,
        roots: &TrustStore,
        time: VerificationTime,
        revocations: &[RevocationList],
    ) -> Result<&VerifiedReference, ReferenceError> {
        let reference = ReferenceSbom::decode_and_verify(bytes, roots, time, revocations).map_err(
            |reason| ReferenceError::Rejected {
                source_name: source.to_owned(),
                reason,
            },
        )?;
        let verified = VerifiedReference::from_verified(&reference, source);
        let key = verified.key();
        let replace = self
            .references
            .get(&key)
            .is_none_or(|installed| verified.issued_at > installed.issued_at);
        if replace {
            tracing::info!(
                source,
                vendor_id = verified.vendor_id,
                model_id = verified.model_id,
                model = %verified.model_name,
                firmware = %verified.firmware_version,
                components = verified.components.len(),
                signer = %verified.signer,
                "reference SBOM installed"
            );
            self.references.insert(key.clone(), verified);
        } else {
            tracing::warn!(
                source,
                model_id = verified.model_id,
                firmware = %verified.firmware_version,
                "reference SBOM ignored: one issued at the same time or later is installed"
            );
        }
        Ok(&self.references[&key])
    }

    /// Reads every regular file in `dir` (in name order, at most
    /// [`MAX_REFERENCE_FILES`]), verifies each and installs those that
    /// verify. A rejected file is logged with its name and reason, counted
    /// in the result and never used. Fails only when `dir` cannot be listed.
    pub fn load_dir(
        &mut self,
        dir: &Path,
        roots: &TrustStore,
        time: VerificationTime,
        revocations: &[RevocationList],
    ) -> Result<ReferenceLoad, std::io::Error> {
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                paths.push(entry.path());
            }
        }
        paths.sort();
        let mut load = ReferenceLoad::default();
        if paths.len() > MAX_REFERENCE_FILES {
            tracing::warn!(
                dir = %dir.display(),
                files = paths.len(),
                max = MAX_REFERENCE_FILES,
                "too many files in the reference SBOM folder; the files after the maximum are not read"
            );
            paths.truncate(MAX_REFERENCE_FILES);
        }
        for path in paths {
            match self.load_file(&path, roots, time, revocations) {
                Ok(()) => load.loaded += 1,
                Err(error) => {
                    tracing::warn!(file = %path.display(), %error, "reference SBOM rejected; it is not used");
                    load.rejected.push(error);
                }
            }
        }
        tracing::info!(
            dir = %dir.display(),
            loaded = load.loaded,
            rejected = load.rejected.len(),
            "reference SBOMs loaded"
        );
        Ok(load)
    }

    fn load_file(
        &mut self,
        path: &Path,
        roots: &TrustStore,
        time: VerificationTime,
        revocations: &[RevocationList],
    ) -> Result<(), ReferenceError> {
        let read_error = |source| ReferenceError::Read {
            path: path.to_owned(),
            source,
        };
        let len = std::fs::metadata(path).map_err(read_error)?.len();
        if len > MAX_REFERENCE_SBOM_LEN as u64 {
            return Err(ReferenceError::TooLarge {
                path: path.to_owned(),
                len,
                max: MAX_REFERENCE_SBOM_LEN,
            });
        }
        let bytes = std::fs::read(path).map_err(read_error)?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        );
        self.insert(&bytes, &name, roots, time, revocations)?;
        Ok(())
    }

    /// Returns the reference for a model and firmware version.
    pub fn find(
        &self,
        vendor_id: u32,
        model_id: u32,
        firmware_version: &str,
    ) -> Option<&VerifiedReference> {
        self.references
            .get(&(vendor_id, model_id, firmware_version.to_owned()))
    }
}

/// One component as a device reported it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReportedComponent {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// SHA-256 as 64 hex digits, when the device reported one.
    pub sha256: Option<String>,
}

impl From<&ComponentRecord> for ReportedComponent {
    fn from(record: &ComponentRecord) -> Self {
        Self {
            name: record.name.clone(),
            version: record.version.clone(),
            sha256: record.sha256.clone(),
        }
    }
}

/// Differences between a device's components and its reference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drift {
    /// Reported components the reference does not list, as `name@version`.
    pub added: Vec<String>,
    /// Reference components the device did not report, as `name@version`.
    pub removed: Vec<String>,
    /// Components with another version or SHA-256 than the reference,
    /// as `name: reference -> reported` (version, or hash prefix).
    pub changed: Vec<String>,
}

impl Drift {
    /// Returns true when the device matches its reference.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Compares reported components with a reference, by name.
pub fn compare(reference: &VerifiedReference, reported: &[ReportedComponent]) -> Drift {
    let mut drift = Drift::default();
    let mut seen = HashSet::new();
    for component in reported {
        seen.insert(component.name.as_str());
        let Some((version, sha256)) = reference.components.get(&component.name) else {
            drift
                .added
                .push(format!("{}@{}", component.name, component.version));
            continue;
        };
        if *version != component.version {
            drift.changed.push(format!(
                "{}: version {} -> {}",
                component.name, version, component.version
            ));
            continue;
        }
        let expected = hex(sha256);
        match &component.sha256 {
            Some(reported) if reported.eq_ignore_ascii_case(&expected) => {}
            Some(reported) => drift.changed.push(format!(
                "{}: sha256 {} -> {}",
                component.name,
                &expected[..16],
                reported.get(..16).unwrap_or(reported)
            )),
            None => drift.changed.push(format!(
                "{}: sha256 {} -> not reported",
                component.name,
                &expected[..16]
            )),
        }
    }
    for (name, (version, _)) in &reference.components {
        if !seen.contains(name.as_str()) {
            drift.removed.push(format!("{name}@{version}"));
        }
    }
    drift
}

/// A device as the drift check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSnapshot {
    /// Device id.
    pub device: DeviceId,
    /// Vendor and model id from its credential, when known.
    pub model_ids: Option<(u32, u32)>,
    /// Firmware version from its latest system information, when reported.
    pub firmware_version: Option<String>,
    /// Its components, as the inventory stores them.
    pub components: Vec<ReportedComponent>,
}

/// Per-device drift state: the component set last checked, and which
/// missing references were already logged.
#[derive(Debug, Default)]
pub struct DriftMonitor {
    checked: HashMap<DeviceId, Vec<ReportedComponent>>,
    missing_logged: HashSet<(u32, u32, String)>,
    unknown_model_logged: HashSet<DeviceId>,
}

impl DriftMonitor {
    /// Creates a monitor with no state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Compares the device's components with its reference and returns a
    /// finding when they differ. Returns nothing when this exact component
    /// set was checked before, when the device matches its reference, when
    /// no reference exists for its model and firmware version (logged once
    /// per model and version), or when the rule is disabled.
    pub fn check(
        &mut self,
        snapshot: &DeviceSnapshot,
        references: &ReferenceSboms,
        config: &DetectionConfig,
        now_unix_ms: u64,
    ) -> Option<Finding> {
        let toggle = config.toggle(RuleId::SbomDrift);
        if !toggle.enabled {
            return None;
        }
        let mut components = snapshot.components.clone();
        components.sort();
        if self.checked.get(&snapshot.device) == Some(&components) {
            return None;
        }

        let device = snapshot.device;
        let Some((vendor_id, model_id)) = snapshot.model_ids else {
            if self.unknown_model_logged.insert(device) {
                tracing::info!(%device, "no SBOM drift check: the device's model id is not known");
            }
            return None;
        };
        let firmware = snapshot.firmware_version.clone().unwrap_or_default();
        let Some(reference) = references.find(vendor_id, model_id, &firmware) else {
            if self
                .missing_logged
                .insert((vendor_id, model_id, firmware.clone()))
            {
                tracing::info!(
                    %device,
                    vendor_id,
                    model_id,
                    firmware = %firmware,
                    "no reference SBOM for this model and firmware version; its devices are not checked for drift"
                );
            }
            return None;
        };

        self.checked.insert(device, components.clone());
        let drift = compare(reference, &components);
        if drift.is_empty() {
            tracing::debug!(%device, reference = %reference.source, "device SBOM matches its reference");
            return None;
        }
        Some(drift_finding(
            device,
            reference,
            &drift,
            toggle.severity,
            now_unix_ms,
        ))
    }

    /// Drops the state of `device`.
    pub fn forget(&mut self, device: DeviceId) {
        self.checked.remove(&device);
        self.unknown_model_logged.remove(&device);
    }
}

/// Joins at most [`MAX_LISTED_COMPONENTS`] items, noting how many were left out.
fn bounded_list(items: &[String]) -> String {
    let mut text = items
        .iter()
        .take(MAX_LISTED_COMPONENTS)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > MAX_LISTED_COMPONENTS {
        text.push_str(&format!(
            ", and {} more",
            items.len() - MAX_LISTED_COMPONENTS
        ));
    }
    text
}

fn drift_finding(
    device: DeviceId,
    reference: &VerifiedReference,
    drift: &Drift,
    severity: palisade_schema::Severity,
    now_unix_ms: u64,
) -> Finding {
    let mut attributes = BTreeMap::new();
    attributes.insert("added_count".to_owned(), drift.added.len().to_string());
    attributes.insert("removed_count".to_owned(), drift.removed.len().to_string());
    attributes.insert("changed_count".to_owned(), drift.changed.len().to_string());
    for (key, items) in [
        ("added", &drift.added),
        ("removed", &drift.removed),
        ("changed", &drift.changed),
    ] {
        if !items.is_empty() {
            attributes.insert(key.to_owned(), bounded_list(items));
        }
    }

    attributes.insert("reference_model".to_owned(), reference.model_name.clone());
    attributes.insert(
        "reference_model_id".to_owned(),
        reference.model_id.to_string(),
    );
    attributes.insert(
        "reference_firmware".to_owned(),
        reference.firmware_version.clone(),
    );
    attributes.insert(
        "reference_issued_at".to_owned(),
        reference.issued_at.to_string(),
    );
    attributes.insert("reference_signer".to_owned(), reference.signer.clone());
    attributes.insert("reference_source".to_owned(), reference.source.clone());

    let first = drift
        .changed
        .first()
        .or(drift.added.first())
        .or(drift.removed.first())
        .cloned()
        .unwrap_or_default();
    Finding {
        rule: RuleId::SbomDrift,
        severity,
        device: Some(device),
        summary: format!(
            "SBOM differs from the signed reference for model {} firmware {}: {} added, {} removed, {} changed (first: {first})",
            reference.model_id,
            reference.firmware_version,
            drift.added.len(),
            drift.removed.len(),
            drift.changed.len(),
        ),
        evidence: Vec::new(),
        time_unix_ms: now_unix_ms,
        attributes,
    }
}
