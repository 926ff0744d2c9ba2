//! File integrity of configured paths: SHA-256 compared between scans.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::prelude::rust_2024::*;

use sha2::{Digest, Sha256};

use super::Collector;
use super::read::{ErrorSink, FileError, Limits};
use super::record::{FileChange, Record};

/// Hashes `path` with SHA-256, reading at most `max_bytes`.
pub fn sha256_file(path: &Path, max_bytes: u64) -> Result<[u8; 32], FileError> {
    let file = File::open(path).map_err(|e| FileError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut reader = file.take(max_bytes.saturating_add(1));
    let mut buffer = [0u8; 16 * 1024];
    let mut total = 0u64;
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(FileError::io(path, e)),
        };
        total += read as u64;
        if total > max_bytes {
            return Err(FileError::TooLarge {
                path: path.to_path_buf(),
                max: max_bytes,
            });
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hasher.finalize().into())
}

/// Configuration of the integrity collector: the watched files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrityConfig {
    /// Files to watch. A path that does not exist is watched for creation.
    pub paths: Vec<PathBuf>,
    /// Largest file hashed, in bytes; larger files are reported as errors.
    pub max_file_bytes: u64,
    /// Error caps (`max_file_bytes` of these limits is not used here).
    pub limits: Limits,
}

impl Default for IntegrityConfig {
    fn default() -> Self {
        Self {
            paths: [
                "/etc/passwd",
                "/etc/shadow",
                "/etc/group",
                "/etc/sudoers",
                "/etc/ssh/sshd_config",
                "/etc/hosts",
            ]
            .into_iter()
            .map(PathBuf::from)
            .collect(),
            max_file_bytes: 256 * 1024 * 1024,
            limits: Limits::default(),
        }
    }
}

/// Reports watched files created, changed or deleted since the previous
/// scan; the first scan records the digests and reports nothing.
pub struct IntegrityCollector {
    config: IntegrityConfig,
    digests: BTreeMap<PathBuf, Option<[u8; 32]>>,
    scanned: bool,
}

impl IntegrityCollector {
    /// Creates a collector.
    pub fn new(config: IntegrityConfig) -> Self {
        Self {
            config,
            digests: BTreeMap::new(),
            scanned: false,
        }
    }
}

impl Collector for IntegrityCollector {
    fn name(&self) -> &'static str {
        "file_integrity"
    }

    fn collect(&mut self, out: &mut Vec<Record>) {
        let mut errors = ErrorSink::new(self.name(), self.config.limits.max_errors_per_scan, out);
        for path in &self.config.paths {
            let digest = match sha256_file(path, self.config.max_file_bytes) {
                Ok(digest) => Some(digest),
                Err(e) if e.is_not_found() => None,
                Err(e) => {
                    // Keep the last known digest, so a file that becomes
                    // readable again is compared with it.
                    errors.report(Some(path), e);
                    continue;
                }
            };
            let previous = self.digests.insert(path.clone(), digest);
            if !self.scanned {
                continue;
            }
            let old = previous.flatten();
            if old != digest {
                errors
                    .records()
                    .push(Record::FileIntegrityChanged(FileChange {
                        path: path.display().to_string(),
                        old_sha256: old,
                        new_sha256: digest,
                    }));
            }
        }
        self.scanned = true;
    }
}
