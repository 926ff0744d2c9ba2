//! Installed packages from the dpkg and opkg status databases, for the SBOM.

use std::fs;
use std::path::{Path, PathBuf};
use std::prelude::rust_2024::*;

use super::Collector;
use super::read::{ErrorSink, Limits, Parsed, read_text_bounded};
use super::record::{Package, Record};

/// One paragraph of a Debian control-style file: fields in order, with
/// continuation lines joined by newlines.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Paragraph {
    /// `(name, value)` pairs; the value has its leading space removed.
    pub fields: Vec<(String, String)>,
    /// 1-based line where the paragraph starts.
    pub line: usize,
}

impl Paragraph {
    /// Returns the value of field `name` (field names are case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reasons part of a status file is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StatusFileError {
    /// A line that is neither `Name: value`, a continuation, nor blank.
    #[error("line {line}: expected `Field: value` or a continuation line")]
    BadLine {
        /// 1-based line number.
        line: usize,
    },
    /// A continuation line before any field.
    #[error("line {line}: continuation line with no field before it")]
    OrphanContinuation {
        /// 1-based line number.
        line: usize,
    },
    /// A line longer than the limit.
    #[error("line {line}: {len} bytes exceeds the line limit")]
    TooLong {
        /// 1-based line number.
        line: usize,
        /// Its length.
        len: usize,
    },
    /// A package paragraph without `Package` or `Version`.
    #[error("paragraph at line {line} has no {field} field")]
    MissingField {
        /// Line where the paragraph starts.
        line: usize,
        /// The missing field.
        field: &'static str,
    },
}

/// Splits a control-style file into paragraphs (RFC 822-like: `Field:
/// value`, continuation lines start with a space or tab, blank lines
/// separate paragraphs). A paragraph with a malformed line is dropped and
/// the line reported.
pub fn parse_paragraphs(text: &str, max_line: usize) -> Parsed<Paragraph, StatusFileError> {
    let mut parsed = Parsed::default();
    let mut current = Paragraph::default();
    let mut broken = false;
    let finish = |current: &mut Paragraph,
                  broken: &mut bool,
                  parsed: &mut Parsed<Paragraph, StatusFileError>| {
        let paragraph = core::mem::take(current);
        if !paragraph.fields.is_empty() && !*broken {
            parsed.items.push(paragraph);
        }
        *broken = false;
    };
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.len() > max_line {
            parsed.errors.push(StatusFileError::TooLong {
                line: number,
                len: line.len(),
            });
            broken = true;
            continue;
        }
        if line.trim().is_empty() {
            finish(&mut current, &mut broken, &mut parsed);
            continue;
        }
        if current.fields.is_empty() && !broken {
            current.line = number;
        }
        if line.starts_with([' ', '\t']) {
            match current.fields.last_mut() {
                Some((_, value)) => {
                    value.push('\n');
                    value.push_str(line.trim_start());
                }
                None => {
                    parsed
                        .errors
                        .push(StatusFileError::OrphanContinuation { line: number });
                    broken = true;
                }
            }
            continue;
        }
        match line.split_once(':') {
            Some((name, value)) if !name.is_empty() && !name.contains(char::is_whitespace) => {
                current
                    .fields
                    .push((name.to_string(), value.trim().to_string()));
            }
            _ => {
                parsed
                    .errors
                    .push(StatusFileError::BadLine { line: number });
                broken = true;
            }
        }
    }
    finish(&mut current, &mut broken, &mut parsed);
    parsed
}

/// Returns whether a `Status` value (`want flag status`) means the package is
/// installed: the flag is `ok` and the status `installed`. Both `install`
/// and `hold` wants count, since a held package is still installed;
/// `deinstall ok config-files` and half-installed packages do not.
pub fn is_installed(status: &str) -> bool {
    let words: Vec<&str> = status.split_ascii_whitespace().collect();
    matches!(words.as_slice(), ["install" | "hold", "ok", "installed"])
}

/// Returns whether an opkg `Status` value means installed: want `install` or
/// `hold`, any flags except `reinstreq`, status `installed` (opkg writes
/// `install user installed` for packages a user asked for).
pub fn is_opkg_installed(status: &str) -> bool {
    let words: Vec<&str> = status.split_ascii_whitespace().collect();
    match words.as_slice() {
        [want, flags, "installed"] => {
            matches!(*want, "install" | "hold") && !flags.split(',').any(|flag| flag == "reinstreq")
        }
        _ => false,
    }
}

/// Percent-encodes a purl component, keeping letters, digits and `.-_~+:`.
fn purl_encode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b".-_~+:".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&std::format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Returns the name part of a `Maintainer` value (`Name <address>`), or the whole
/// value when it has no name part.
pub fn supplier_name(maintainer: &str) -> String {
    let name = maintainer.split('<').next().unwrap_or_default().trim();
    if name.is_empty() {
        maintainer.trim().to_string()
    } else {
        name.to_string()
    }
}

/// Package manager that wrote a status file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageFormat {
    /// dpkg; purls are `pkg:deb/NAMESPACE/NAME@VERSION?arch=ARCH`.
    Dpkg,
    /// dpkg's `status.d/` of distroless images: one file per package,
    /// usually without a `Status` field, which then counts as installed.
    DpkgStatusD,
    /// opkg (OpenWrt, Yocto); purls are `pkg:opkg/NAMESPACE/NAME@VERSION?arch=ARCH`.
    Opkg,
}

/// Builds the package list from a status file.
///
/// `namespace` is the purl namespace: the distribution id, such as
/// `debian`, `ubuntu` or `openwrt`.
pub fn parse_status(
    text: &str,
    format: PackageFormat,
    namespace: &str,
    max_line: usize,
) -> Parsed<Package, StatusFileError> {
    let paragraphs = parse_paragraphs(text, max_line);
    let mut parsed = Parsed {
        items: Vec::new(),
        errors: paragraphs.errors,
    };
    for paragraph in paragraphs.items {
        let installed = match (format, paragraph.get("Status")) {
            (PackageFormat::Opkg, Some(status)) => is_opkg_installed(status),
            (_, Some(status)) => is_installed(status),
            (PackageFormat::DpkgStatusD, None) => true,
            (_, None) => false,
        };
        if !installed {
            continue;
        }
        let Some(name) = paragraph.get("Package").filter(|n| !n.is_empty()) else {
            parsed.errors.push(StatusFileError::MissingField {
                line: paragraph.line,
                field: "Package",
            });
            continue;
        };
        let Some(version) = paragraph.get("Version").filter(|v| !v.is_empty()) else {
            parsed.errors.push(StatusFileError::MissingField {
                line: paragraph.line,
                field: "Version",
            });
            continue;
        };
        let architecture = paragraph
            .get("Architecture")
            .filter(|a| !a.is_empty())
            .map(str::to_string);
        let kind = if format == PackageFormat::Opkg {
            "opkg"
        } else {
            "deb"
        };
        let mut purl = std::format!(
            "pkg:{kind}/{}/{}@{}",
            purl_encode(namespace),
            purl_encode(name),
            purl_encode(version)
        );
        if let Some(arch) = &architecture {
            purl.push_str("?arch=");
            purl.push_str(&purl_encode(arch));
        }
        parsed.items.push(Package {
            name: name.to_string(),
            version: version.to_string(),
            architecture,
            supplier: paragraph
                .get("Maintainer")
                .map(supplier_name)
                .filter(|s| !s.is_empty()),
            purl,
        });
    }
    parsed
}

/// Reads `ID` from an os-release file's text.
pub fn os_release_id(text: &str) -> Option<String> {
    os_release_field(text, "ID")
}

/// Reads field `name` from an os-release file's text, removing quotes.
pub fn os_release_field(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == name).then(|| value.trim().trim_matches(['"', '\'']).to_string())
    })
}

/// Sources of the software collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftwareConfig {
    /// dpkg's status file, normally `/var/lib/dpkg/status`.
    pub dpkg_status: PathBuf,
    /// dpkg's per-package directory in distroless images, normally `/var/lib/dpkg/status.d`.
    pub dpkg_status_dir: PathBuf,
    /// opkg status files; OpenWrt uses `/usr/lib/opkg/status`, Yocto `/var/lib/opkg/status`.
    pub opkg_status: Vec<PathBuf>,
    /// os-release, for the purl namespace; normally `/etc/os-release`.
    pub os_release: PathBuf,
    /// Maximum number of files read from `status.d/`.
    pub max_status_files: usize,
    /// Size caps.
    pub limits: Limits,
}

impl Default for SoftwareConfig {
    fn default() -> Self {
        Self {
            dpkg_status: PathBuf::from("/var/lib/dpkg/status"),
            dpkg_status_dir: PathBuf::from("/var/lib/dpkg/status.d"),
            opkg_status: vec![
                PathBuf::from("/usr/lib/opkg/status"),
                PathBuf::from("/var/lib/opkg/status"),
            ],
            os_release: PathBuf::from("/etc/os-release"),
            max_status_files: 10_000,
            limits: Limits::default(),
        }
    }
}

/// Reports every installed package at each scan (a full SBOM snapshot).
///
/// When none of the configured package databases exists, a scan reports
/// one collection error instead of an empty list without explanation.
pub struct SoftwareCollector {
    config: SoftwareConfig,
}

impl SoftwareCollector {
    /// Creates a collector.
    pub fn new(config: SoftwareConfig) -> Self {
        Self { config }
    }

    /// Reads one status file; returns whether it exists.
    fn read_one(
        &self,
        path: &Path,
        format: PackageFormat,
        namespace: &str,
        errors: &mut ErrorSink<'_>,
    ) -> bool {
        let text = match read_text_bounded(path, self.config.limits.max_file_bytes) {
            Ok(text) => text,
            Err(e) if e.is_not_found() => return false,
            Err(e) => {
                errors.report(Some(path), e);
                return true;
            }
        };
        let parsed = parse_status(&text, format, namespace, self.config.limits.max_line_bytes);
        for error in parsed.errors {
            errors.report(Some(path), error);
        }
        errors
            .records()
            .extend(parsed.items.into_iter().map(Record::SoftwareComponent));
        true
    }
}

impl Collector for SoftwareCollector {
    fn name(&self) -> &'static str {
        "software"
    }

    fn collect(&mut self, out: &mut Vec<Record>) {
        let mut errors = ErrorSink::new(self.name(), self.config.limits.max_errors_per_scan, out);
        let os_id = match read_text_bounded(&self.config.os_release, 64 * 1024) {
            Ok(text) => os_release_id(&text),
            Err(e) if e.is_not_found() => None,
            Err(e) => {
                errors.report(Some(&self.config.os_release), e);
                None
            }
        };
        let deb_namespace = os_id.clone().unwrap_or_else(|| "debian".to_string());
        let opkg_namespace = os_id.unwrap_or_else(|| "openwrt".to_string());
        let mut found = self.read_one(
            &self.config.dpkg_status.clone(),
            PackageFormat::Dpkg,
            &deb_namespace,
            &mut errors,
        );
        match fs::read_dir(&self.config.dpkg_status_dir) {
            Ok(entries) => {
                found = true;
                let mut files: Vec<PathBuf> = entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_none_or(|ext| ext != "md5sums"))
                    .collect();
                files.sort();
                if files.len() > self.config.max_status_files {
                    errors.report(
                        Some(&self.config.dpkg_status_dir),
                        std::format!("{} files, only the first {} were read; raise SoftwareConfig::max_status_files", files.len(), self.config.max_status_files),
                    );
                    files.truncate(self.config.max_status_files);
                }
                for file in files {
                    self.read_one(
                        &file,
                        PackageFormat::DpkgStatusD,
                        &deb_namespace,
                        &mut errors,
                    );
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                found = true;
                errors.report(
                    Some(&self.config.dpkg_status_dir),
                    std::format!("cannot list: {e}"),
                );
            }
        }
        for path in self.config.opkg_status.clone() {
            found |= self.read_one(&path, PackageFormat::Opkg, &opkg_namespace, &mut errors);
        }
        if !found {
            let mut paths = vec![
                self.config.dpkg_status.display().to_string(),
                self.config.dpkg_status_dir.display().to_string(),
            ];
            paths.extend(
                self.config
                    .opkg_status
                    .iter()
                    .map(|p| p.display().to_string()),
            );
            errors.report(
                None,
                std::format!(
                    "no package database found (looked for {}); the SBOM is empty; set the SoftwareConfig paths to the device's package manager",
                    paths.join(", ")
                ),
            );
        }
    }
}
