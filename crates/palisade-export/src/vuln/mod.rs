//! Known-vulnerable software: OSV advisories loaded from a local folder,
//! matched against a device's SBOM components.
//!
//! Advisories follow the OSV schema. Each `affected` entry names a package
//! in an ecosystem and the versions it affects, as ranges (`introduced`,
//! `fixed`, `last_affected` events) or as an explicit `versions` list. Withdrawn advisories are ignored.
//! Nothing is fetched: the gateway loads a folder that an operator keeps
//! up to date.
//!
//! A component is identified by its package URL: `pkg:deb/debian/…` is the
//! OSV ecosystem `Debian`, `pkg:deb/ubuntu/…` `Ubuntu`, `pkg:apk/alpine/…`
//! `Alpine`, `pkg:cargo/…` `crates.io`, `pkg:npm/…` `npm` and `pkg:pypi/…`
//! `PyPI`. Versions are ordered by each ecosystem's rules: dpkg's for
//! Debian and Ubuntu ([`debian`]), apk-tools' for Alpine ([`apk`]), SemVer
//! 2.0.0 for crates.io and npm and for every range of type `SEMVER`
//! ([`semver`]), and PEP 440 for PyPI ([`pep440`]). Ranges of type `GIT`
//! are skipped, because a component's version is not a commit.
//!
//! NOTE: an ecosystem's release suffix (`Debian:12`, `Alpine:v3.19`) is not
//! compared, so an advisory for one release also matches the same package
//! and version on another release. Debian and Ubuntu advisories name source
//! packages, so a binary package whose name differs from its source
//! package (`libssl3` from `openssl`) is not matched.
//!
//! # Example
//!
//! ```
//! use palisade_export::cyclonedx::Component;
//! use palisade_export::vuln::AdvisoryDatabase;
//! use palisade_export::DeviceInfo;
//! use palisade_schema::DeviceId;
//!
//! // A gateway calls AdvisoryDatabase::load_dir(folder) instead.
//! let (database, report) = AdvisoryDatabase::sample();
//! assert_eq!(report.withdrawn, 1);
//!
//! let openssl = Component {
//!     name: "openssl".into(),
//!     version: "3.0.11-1~deb12u2".into(),
//!     supplier: None,
//!     purl: Some("pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=armhf".into()),
//!     cpe: None,
//!     sha256: None,
//! };
//! let matches = database.matches(&openssl)?;
//! assert_eq!(matches[0].fixed_version.as_deref(), Some("3.0.13-1~deb12u1"));
//!
//! let finding = matches[0].to_finding("gw:1".into(), DeviceInfo::new(DeviceId([1; 16])), 0, None);
//! assert_eq!(finding.rule_id, "vulnerable_component");
//! assert_eq!(finding.attributes["advisory_id"], "PSA-2026-0001");
//! # Ok::<(), palisade_export::vuln::MatchError>(())
//! ```

pub mod apk;
pub mod debian;
pub mod pep440;
pub mod semver;

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use palisade_schema::Severity;
use serde::Deserialize;

use crate::context::DeviceInfo;
use crate::cyclonedx::Component;
use crate::finding::{EventRef, Evidence, Finding};

/// Rule id of the findings made from a match.
pub const RULE_ID: &str = "vulnerable_component";

/// Largest advisory file that [`AdvisoryDatabase::load_dir`] reads, in
/// bytes. An OSV file holds one advisory and is usually a few kilobytes.
pub const MAX_ADVISORY_FILE_LEN: u64 = 4 * 1024 * 1024;

/// Largest number of advisory files in one folder.
pub const MAX_ADVISORY_FILES: usize = 500_000;

/// A package ecosystem whose versions this module can order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ecosystem {
    /// Debian packages (dpkg ordering).
    Debian,
    /// Ubuntu packages (dpkg ordering).
    Ubuntu,
    /// Alpine packages (apk ordering).
    Alpine,
    /// Rust crates (SemVer).
    CratesIo,
    /// npm packages (SemVer).
    Npm,
    /// Python packages (PEP 440).
    PyPi,
}

impl Ecosystem {
    /// The OSV name of the ecosystem, such as `crates.io`.
    pub fn osv_name(self) -> &'static str {
        match self {
            Self::Debian => "Debian",
            Self::Ubuntu => "Ubuntu",
            Self::Alpine => "Alpine",
            Self::CratesIo => "crates.io",
            Self::Npm => "npm",
            Self::PyPi => "PyPI",
        }
    }

    /// The ecosystem of an OSV `ecosystem` value, ignoring a release
    /// suffix after `:` (`Debian:12` is Debian).
    pub fn from_osv(name: &str) -> Option<Self> {
        let base = name.split(':').next().unwrap_or_default();
        [
            Self::Debian,
            Self::Ubuntu,
            Self::Alpine,
            Self::CratesIo,
            Self::Npm,
            Self::PyPi,
        ]
        .into_iter()
        .find(|ecosystem| ecosystem.osv_name() == base)
    }

    /// Compares two versions by this ecosystem's rules; `None` when either
    /// is not a valid version there.
    pub fn compare(self, left: &str, right: &str) -> Option<Ordering> {
        match self {
            Self::Debian | Self::Ubuntu => debian::compare(left, right),
            Self::Alpine => apk::compare(left, right),
            Self::CratesIo | Self::Npm => semver::compare(left, right),
            Self::PyPi => pep440::compare(left, right),
        }
    }

    fn normalize_name(self, name: &str) -> String {
        match self {
            // PEP 503: case-insensitive, with runs of -, _ and . equal to one -.
            Self::PyPi => {
                let mut normalized = String::with_capacity(name.len());
                for character in name.chars() {
                    if matches!(character, '-' | '_' | '.') {
                        if !normalized.ends_with('-') {
                            normalized.push('-');
                        }
                    } else {
                        normalized.push(character.to_ascii_lowercase());
                    }
                }
                normalized
            }
            _ => name.to_owned(),
        }
    }
}

/// A component as OSV names it: ecosystem, package name and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageIdentity {
    /// The ecosystem.
    pub ecosystem: Ecosystem,
    /// The package name (`@scope/name` for a scoped npm package).
    pub name: String,
    /// The installed version.
    pub version: String,
}

/// Error from identifying or matching a component.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MatchError {
    /// The component has no package URL, so its ecosystem is unknown.
    #[error(
        "component {name} {version} has no package URL; the collector must report one to match advisories"
    )]
    MissingPurl {
        /// Component name.
        name: String,
        /// Component version.
        version: String,
    },
    /// The package URL is malformed or of a type without OSV support here.
    #[error(
        "package URL {purl:?} is invalid or of an unsupported type (supported: deb/debian, deb/ubuntu, apk/alpine, cargo, npm, pypi)"
    )]
    UnsupportedPurl {
        /// The package URL.
        purl: String,
    },
    /// The installed version is not valid in its ecosystem, so no range can
    /// be evaluated; explicit version lists were still checked.
    #[error(
        "version {version:?} of {name} is not a valid {ecosystem} version; ranges were not evaluated"
    )]
    InvalidVersion {
        /// OSV ecosystem name.
        ecosystem: &'static str,
        /// Package name.
        name: String,
        /// The version.
        version: String,
    },
}

/// Identifies `component` by its package URL.
pub fn identify(component: &Component) -> Result<PackageIdentity, MatchError> {
    let Some(purl) = &component.purl else {
        return Err(MatchError::MissingPurl {
            name: component.name.clone(),
            version: component.version.clone(),
        });
    };
    let unsupported = || MatchError::UnsupportedPurl { purl: purl.clone() };
    let rest = purl.strip_prefix("pkg:").ok_or_else(unsupported)?;
    let rest = rest.split('#').next().unwrap_or_default();
    let rest = rest.split('?').next().unwrap_or_default();
    let (path, _purl_version) = match rest.rsplit_once('@') {
        Some((path, version)) => (path, Some(version)),
        None => (rest, None),
    };
    let segments: Vec<String> = path
        .split('/')
        .map(percent_decode)
        .collect::<Option<_>>()
        .ok_or_else(unsupported)?;
    let (kind, name) = match segments.as_slice() {
        [kind, .., name] if !name.is_empty() => (kind.to_ascii_lowercase(), name.clone()),
        _ => return Err(unsupported()),
    };
    let namespace = &segments[1..segments.len() - 1];
    let ecosystem = match (
        kind.as_str(),
        namespace.first().map(|n| n.to_ascii_lowercase()),
    ) {
        ("deb", Some(ns)) if ns == "debian" => Ecosystem::Debian,
        ("deb", Some(ns)) if ns == "ubuntu" => Ecosystem::Ubuntu,
        ("apk", Some(ns)) if ns == "alpine" => Ecosystem::Alpine,
        ("cargo", _) => Ecosystem::CratesIo,
        ("npm", _) => Ecosystem::Npm,
        ("pypi", _) => Ecosystem::PyPi,
        _ => return Err(unsupported()),
    };
    let name = match (ecosystem, namespace.first()) {
        (Ecosystem::Npm, Some(scope)) => format!("{scope}/{name}"),
        _ => name,
    };
    Ok(PackageIdentity {
        ecosystem,
        name,
        version: component.version.clone(),
    })
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = text.get(index + 1..index + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// One advisory that affects one component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VulnerabilityMatch {
    /// OSV id of the advisory, such as `DSA-5678-1` or `GHSA-…`.
    pub advisory_id: String,
    /// Other ids of the same vulnerability, such as CVE ids.
    pub aliases: Vec<String>,
    /// The advisory's one-line summary, when it has one.
    pub summary: Option<String>,
    /// The affected package.
    pub package: PackageIdentity,
    /// The lowest fixed version above the installed one, when the advisory
    /// names one.
    pub fixed_version: Option<String>,
    /// Severity from the advisory's `database_specific.severity`, or
    /// medium when it gives none.
    pub severity: Severity,
}

impl VulnerabilityMatch {
    /// Builds the `vulnerable_component` finding for this match.
    ///
    /// Attributes: `advisory_id`, `aliases` (comma-separated, when any),
    /// `ecosystem`, `package`, `version` and `fixed_version` (when known).
    /// `evidence` is the software component event that reported the
    /// package, when the gateway has it.
    pub fn to_finding(
        &self,
        uid: String,
        device: DeviceInfo,
        time_unix_ms: u64,
        evidence: Option<EventRef>,
    ) -> Finding {
        let package = &self.package;
        let mut attributes = BTreeMap::new();
        attributes.insert("advisory_id".to_owned(), self.advisory_id.clone());
        if !self.aliases.is_empty() {
            attributes.insert("aliases".to_owned(), self.aliases.join(","));
        }
        attributes.insert(
            "ecosystem".to_owned(),
            package.ecosystem.osv_name().to_owned(),
        );
        attributes.insert("package".to_owned(), package.name.clone());
        attributes.insert("version".to_owned(), package.version.clone());
        if let Some(fixed) = &self.fixed_version {
            attributes.insert("fixed_version".to_owned(), fixed.clone());
        }
        let fix = match &self.fixed_version {
            Some(fixed) => format!("fixed in {fixed}"),
            None => "no fixed version known".to_owned(),
        };
        Finding {
            uid,
            rule_id: RULE_ID.to_owned(),
            title: format!(
                "{} {} is affected by {} ({fix})",
                package.name, package.version, self.advisory_id
            ),
            description: self.summary.clone(),
            severity: self.severity,
            device,
            time_unix_ms,
            evidence: vec![Evidence {
                event: evidence,
                summary: format!(
                    "{} package {} {} installed",
                    package.ecosystem.osv_name(),
                    package.name,
                    package.version
                ),
            }],
            attributes,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct OsvAdvisory {
    id: String,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    affected: Vec<OsvAffected>,
    #[serde(default)]
    database_specific: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
struct OsvAffected {
    #[serde(default)]
    package: Option<OsvPackage>,
    #[serde(default)]
    ranges: Vec<OsvRange>,
    #[serde(default)]
    versions: Vec<String>,
    #[serde(default)]
    database_specific: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
struct OsvPackage {
    ecosystem: String,
    name: String,
}

#[derive(Debug, Clone, Deserialize)]
struct OsvRange {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    events: Vec<OsvEvent>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct OsvEvent {
    #[serde(default)]
    introduced: Option<String>,
    #[serde(default)]
    fixed: Option<String>,
    #[serde(default)]
    last_affected: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeOrdering {
    Ecosystem,
    SemVer,
}

#[derive(Debug, Clone)]
struct Range {
    ordering: RangeOrdering,
    events: Vec<OsvEvent>,
}

#[derive(Debug, Clone)]
struct Entry {
    advisory: usize,
    ecosystem: Ecosystem,
    ranges: Vec<Range>,
    versions: Vec<String>,
    severity: Severity,
}

/// What [`AdvisoryDatabase::load_dir`] read and what it left out.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Advisories loaded.
    pub loaded: usize,
    /// Withdrawn advisories, ignored.
    pub withdrawn: usize,
    /// `affected` entries for ecosystems this module cannot order, ignored.
    pub unsupported_entries: usize,
    /// Ranges skipped because they are of type `GIT`, of an unknown type, or
    /// name a version that is invalid in their ordering.
    pub skipped_ranges: usize,
    /// Files that could not be loaded, with the reason; the rest of the
    /// folder is still loaded.
    pub rejected_files: Vec<AdvisoryError>,
}

/// Error from loading advisories.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdvisoryError {
    /// A file or the folder could not be read.
    #[error("cannot read advisory path {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file is larger than [`MAX_ADVISORY_FILE_LEN`].
    #[error(
        "advisory file {path} has {len} bytes, above the limit of {max}; split it into one file per advisory"
    )]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The folder holds more than [`MAX_ADVISORY_FILES`] JSON files.
    #[error("advisory folder {path} holds more than {max} JSON files; split it")]
    TooManyFiles {
        /// The folder.
        path: PathBuf,
        /// The limit.
        max: usize,
    },
    /// A file is not an OSV advisory (or a JSON array of them).
    #[error("advisory file {path} is not valid OSV JSON: {message}")]
    InvalidJson {
        /// The file.
        path: PathBuf,
        /// What the JSON parser reported.
        message: String,
    },
}

/// OSV advisories in memory, indexed by ecosystem and package name.
#[derive(Debug, Default)]
pub struct AdvisoryDatabase {
    advisories: Vec<OsvAdvisory>,
    by_package: BTreeMap<(Ecosystem, String), Vec<Entry>>,
}

/// The sample advisory set shipped with this crate (files under
/// `advisories/sample/`): fictitious advisories, marked as such, that match
/// the sample SBOM components of the tests and of the fleet example.
pub const SAMPLE_ADVISORIES: [(&str, &str); 7] = [
    (
        "PSA-2026-0001.json",
        include_str!("../../advisories/sample/PSA-2026-0001.json"),
    ),
    (
        "PSA-2026-0002.json",
        include_str!("../../advisories/sample/PSA-2026-0002.json"),
    ),
    (
        "PSA-2026-0003.json",
        include_str!("../../advisories/sample/PSA-2026-0003.json"),
    ),
    (
        "PSA-2026-0004.json",
        include_str!("../../advisories/sample/PSA-2026-0004.json"),
    ),
    (
        "PSA-2026-0005.json",
        include_str!("../../advisories/sample/PSA-2026-0005.json"),
    ),
    (
        "PSA-2026-0006.json",
        include_str!("../../advisories/sample/PSA-2026-0006.json"),
    ),
    (
        "PSA-2026-0007.json",
        include_str!("../../advisories/sample/PSA-2026-0007.json"),
    ),
];

impl AdvisoryDatabase {
    /// An empty database.
    pub fn new() -> Self {
        Self::default()
    }

    /// The database of [`SAMPLE_ADVISORIES`].
    pub fn sample() -> (Self, LoadReport) {
        let mut database = Self::new();
        let mut report = LoadReport::default();
        for (name, text) in SAMPLE_ADVISORIES {
            if let Err(error) = database.add_json(Path::new(name), text, &mut report) {
                report.rejected_files.push(error);
            }
        }
        (database, report)
    }

    /// Loads every `*.json` file in `dir` (not its subfolders), in file
    /// name order. Each file holds one OSV advisory or a JSON array of
    /// them.
    ///
    /// Fails only when the folder cannot be listed or holds more than
    /// [`MAX_ADVISORY_FILES`] JSON files; a file that cannot be loaded is
    /// listed in [`LoadReport::rejected_files`] and the others still load.
    pub fn load_dir(dir: &Path) -> Result<(Self, LoadReport), AdvisoryError> {
        let io_error = |source| AdvisoryError::Io {
            path: dir.to_owned(),
            source,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io_error)? {
            let path = entry.map_err(io_error)?.path();
            if path
                .extension()
                .is_some_and(|extension| extension == "json")
                && path.is_file()
            {
                if files.len() == MAX_ADVISORY_FILES {
                    return Err(AdvisoryError::TooManyFiles {
                        path: dir.to_owned(),
                        max: MAX_ADVISORY_FILES,
                    });
                }
                files.push(path);
            }
        }
        files.sort();

        let mut database = Self::new();
        let mut report = LoadReport::default();
        for path in files {
            match read_bounded(&path) {
                Ok(text) => {
                    if let Err(error) = database.add_json(&path, &text, &mut report) {
                        report.rejected_files.push(error);
                    }
                }
                Err(error) => report.rejected_files.push(error),
            }
        }
        tracing::info!(
            folder = %dir.display(),
            loaded = report.loaded,
            withdrawn = report.withdrawn,
            rejected = report.rejected_files.len(),
            skipped_ranges = report.skipped_ranges,
            "loaded OSV advisories"
        );
        for error in &report.rejected_files {
            tracing::warn!(%error, "advisory file not loaded");
        }
        Ok((database, report))
    }

    /// Adds the advisory or advisories in `text`, which came from `path`.
    pub fn add_json(
        &mut self,
        path: &Path,
        text: &str,
        report: &mut LoadReport,
    ) -> Result<(), AdvisoryError> {
        let invalid = |error: serde_json::Error| AdvisoryError::InvalidJson {
            path: path.to_owned(),
            message: error.to_string(),
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(invalid)?;
        let advisories: Vec<OsvAdvisory> = if value.is_array() {
            serde_json::from_value(value).map_err(invalid)?
        } else {
            vec![serde_json::from_value(value).map_err(invalid)?]
        };
        for advisory in advisories {
            self.add(advisory, report);
        }
        Ok(())
    }

    /// Number of advisories loaded.
    pub fn len(&self) -> usize {
        self.advisories.len()
    }

    /// Whether no advisory is loaded.
    pub fn is_empty(&self) -> bool {
        self.advisories.is_empty()
    }

    fn add(&mut self, advisory: OsvAdvisory, report: &mut LoadReport) {
        if advisory.withdrawn.is_some() {
            report.withdrawn += 1;
            return;
        }
        let index = self.advisories.len();
        for affected in &advisory.affected {
            let Some(package) = &affected.package else {
                report.unsupported_entries += 1;
                continue;
            };
            let Some(ecosystem) = Ecosystem::from_osv(&package.ecosystem) else {
                report.unsupported_entries += 1;
                continue;
            };
            let mut ranges = Vec::new();
            for range in &affected.ranges {
                let ordering = match range.kind.as_str() {
                    "ECOSYSTEM" => RangeOrdering::Ecosystem,
                    "SEMVER" => RangeOrdering::SemVer,
                    _ => {
                        report.skipped_ranges += 1;
                        continue;
                    }
                };
                let valid = range.events.iter().all(|event| {
                    [&event.introduced, &event.fixed, &event.last_affected]
                        .into_iter()
                        .flatten()
                        .all(|version| {
                            version == "0" && event.introduced.as_deref() == Some("0")
                                || compare_in(ordering, ecosystem, version, version).is_some()
                        })
                });
                if !valid || range.events.is_empty() {
                    report.skipped_ranges += 1;
                    continue;
                }
                let mut events = range.events.clone();
                events.sort_by(|a, b| compare_events(ordering, ecosystem, a, b));
                ranges.push(Range { ordering, events });
            }
            let severity = severity_of(affected.database_specific.as_ref())
                .or_else(|| severity_of(advisory.database_specific.as_ref()))
                .unwrap_or(Severity::Medium);
            self.by_package
                .entry((ecosystem, ecosystem.normalize_name(&package.name)))
                .or_default()
                .push(Entry {
                    advisory: index,
                    ecosystem,
                    ranges,
                    versions: affected.versions.clone(),
                    severity,
                });
        }
        self.advisories.push(advisory);
        report.loaded += 1;
    }

    /// Returns every advisory that affects `component`, in load order.
    ///
    /// Fails when the component cannot be identified, or when its version
    /// is invalid in its ecosystem. In that last case only explicit
    /// `versions` lists could apply; they are checked by
    /// [`Self::matches_identity`], which returns them with the error.
    pub fn matches(&self, component: &Component) -> Result<Vec<VulnerabilityMatch>, MatchError> {
        let identity = identify(component)?;
        let (matches, error) = self.matches_identity(&identity);
        match error {
            Some(error) if matches.is_empty() => Err(error),
            _ => Ok(matches),
        }
    }

    /// Returns every advisory that affects `identity`, and an error when
    /// its version is invalid in its ecosystem (then only explicit
    /// `versions` lists were checked).
    pub fn matches_identity(
        &self,
        identity: &PackageIdentity,
    ) -> (Vec<VulnerabilityMatch>, Option<MatchError>) {
        let ecosystem = identity.ecosystem;
        let version = identity.version.as_str();
        let version_valid = ecosystem.compare(version, version).is_some();
        let error = (!version_valid).then(|| MatchError::InvalidVersion {
            ecosystem: ecosystem.osv_name(),
            name: identity.name.clone(),
            version: version.to_owned(),
        });
        let Some(entries) = self
            .by_package
            .get(&(ecosystem, ecosystem.normalize_name(&identity.name)))
        else {
            return (Vec::new(), error);
        };
        let mut matches: Vec<VulnerabilityMatch> = Vec::new();
        for entry in entries {
            let listed = entry.versions.iter().any(|listed| listed == version);
            let mut affected = listed;
            let mut fixed_version: Option<&str> = None;
            for range in &entry.ranges {
                let in_range = compare_in(range.ordering, entry.ecosystem, version, version)
                    .is_some()
                    && range_affects(range, entry.ecosystem, version);
                if in_range || listed {
                    affected |= in_range;
                    for fixed in range
                        .events
                        .iter()
                        .filter_map(|event| event.fixed.as_deref())
                    {
                        let above = compare_in(range.ordering, entry.ecosystem, fixed, version)
                            == Some(Ordering::Greater);
                        let lower = fixed_version.is_none_or(|current| {
                            compare_in(range.ordering, entry.ecosystem, fixed, current)
                                == Some(Ordering::Less)
                        });
                        if above && lower {
                            fixed_version = Some(fixed);
                        }
                    }
                }
            }
            if !affected {
                continue;
            }
            let advisory = &self.advisories[entry.advisory];
            if matches
                .iter()
                .any(|existing| existing.advisory_id == advisory.id)
            {
                continue;
            }
            matches.push(VulnerabilityMatch {
                advisory_id: advisory.id.clone(),
                aliases: advisory.aliases.clone(),
                summary: advisory.summary.clone(),
                package: identity.clone(),
                fixed_version: fixed_version.map(str::to_owned),
                severity: entry.severity,
            });
        }
        (matches, error)
    }
}

fn read_bounded(path: &Path) -> Result<String, AdvisoryError> {
    let io_error = |source| AdvisoryError::Io {
        path: path.to_owned(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io_error)?.len();
    if len > MAX_ADVISORY_FILE_LEN {
        return Err(AdvisoryError::FileTooLarge {
            path: path.to_owned(),
            len,
            max: MAX_ADVISORY_FILE_LEN,
        });
    }
    std::fs::read_to_string(path).map_err(io_error)
}

fn compare_in(
    ordering: RangeOrdering,
    ecosystem: Ecosystem,
    left: &str,
    right: &str,
) -> Option<Ordering> {
    match ordering {
        RangeOrdering::SemVer => semver::compare(left, right),
        RangeOrdering::Ecosystem => ecosystem.compare(left, right),
    }
}

fn event_version(event: &OsvEvent) -> &str {
    event
        .introduced
        .as_deref()
        .or(event.fixed.as_deref())
        .or(event.last_affected.as_deref())
        .unwrap_or("0")
}

/// Orders range events by version; `introduced: "0"` comes first.
fn compare_events(
    ordering: RangeOrdering,
    ecosystem: Ecosystem,
    left: &OsvEvent,
    right: &OsvEvent,
) -> Ordering {
    let zero = |event: &OsvEvent| event.introduced.as_deref() == Some("0");
    match (zero(left), zero(right)) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => compare_in(
            ordering,
            ecosystem,
            event_version(left),
            event_version(right),
        )
        .unwrap_or(Ordering::Equal),
    }
}

/// Evaluates a range as the OSV schema specifies: walking the sorted
/// events, `introduced` at or below the version starts an affected span,
/// `fixed` at or below it ends the span, and `last_affected` below it
/// ends the span.
fn range_affects(range: &Range, ecosystem: Ecosystem, version: &str) -> bool {
    let at_or_below = |bound: &str| {
        bound == "0"
            || compare_in(range.ordering, ecosystem, bound, version).is_some_and(Ordering::is_le)
    };
    let mut affected = false;
    for event in &range.events {
        if let Some(introduced) = &event.introduced {
            if at_or_below(introduced) {
                affected = true;
            }
        } else if let Some(fixed) = &event.fixed {
            if at_or_below(fixed) {
                affected = false;
            }
        } else if let Some(last) = &event.last_affected
            && compare_in(range.ordering, ecosystem, last, version) == Some(Ordering::Less)
        {
            affected = false;
        }
    }
    affected
}

fn severity_of(value: Option<&serde_json::Value>) -> Option<Severity> {
    let text = value?.get("severity")?.as_str()?;
    match text.to_ascii_uppercase().as_str() {
        "LOW" | "NEGLIGIBLE" | "UNIMPORTANT" => Some(Severity::Low),
        "MODERATE" | "MEDIUM" => Some(Severity::Medium),
        "HIGH" | "IMPORTANT" => Some(Severity::High),
        "CRITICAL" => Some(Severity::Critical),
        _ => None,
    }
}
