//! Bounded file reading shared by the collectors.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::prelude::rust_2024::*;

use super::record::{CollectionFailure, Record};

/// Size caps that every collector applies to what it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest file read in one piece, in bytes (status databases, config
    /// files, `/proc/net/*` tables).
    pub max_file_bytes: u64,
    /// Longest line a line parser accepts, in bytes; longer lines are
    /// rejected with an error and skipped.
    pub max_line_bytes: usize,
    /// Maximum number of collection-error records one scan of one collector emits; the
    /// rest are summed up in one more record that gives their count.
    pub max_errors_per_scan: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_file_bytes: 16 * 1024 * 1024,
            max_line_bytes: 64 * 1024,
            max_errors_per_scan: 8,
        }
    }
}

/// Failures to read a file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The operating system refused or failed the read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The file is larger than the configured cap.
    #[error("{} is larger than the {max}-byte limit; raise Limits::max_file_bytes if the file is legitimate", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The cap in bytes.
        max: u64,
    },
}

impl FileError {
    /// Whether the file does not exist (a normal case for optional sources).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }

    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Reads all of `path`, failing when it has more than `max` bytes.
///
/// Works for `/proc` files, whose metadata gives a size of 0.
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, FileError> {
    let file = File::open(path).map_err(|e| FileError::io(path, e))?;
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| FileError::io(path, e))?;
    if bytes.len() as u64 > max {
        return Err(FileError::TooLarge {
            path: path.to_path_buf(),
            max,
        });
    }
    Ok(bytes)
}

/// Reads `path` as text (invalid UTF-8 replaced), failing above `max` bytes.
pub fn read_text_bounded(path: &Path, max: u64) -> Result<String, FileError> {
    let bytes = read_bounded(path, max)?;
    Ok(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// Reads at most `max` bytes of `path` starting at `offset`.
pub(crate) fn read_range(path: &Path, offset: u64, max: u64) -> Result<Vec<u8>, FileError> {
    let mut file = File::open(path).map_err(|e| FileError::io(path, e))?;
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| FileError::io(path, e))?;
    let mut bytes = Vec::new();
    file.take(max)
        .read_to_end(&mut bytes)
        .map_err(|e| FileError::io(path, e))?;
    Ok(bytes)
}

/// Items a line-oriented parser found, and the lines it rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<T, E> {
    /// What was parsed.
    pub items: Vec<T>,
    /// One error per rejected line or block.
    pub errors: Vec<E>,
}

impl<T, E> Default for Parsed<T, E> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            errors: Vec::new(),
        }
    }
}

/// Collects the errors of one scan of one collector and emits at most
/// `max` of them, plus one record that counts the ones left out.
pub(crate) struct ErrorSink<'a> {
    collector: &'static str,
    max: usize,
    emitted: usize,
    suppressed: usize,
    out: &'a mut Vec<Record>,
}

impl<'a> ErrorSink<'a> {
    pub(crate) fn new(collector: &'static str, max: usize, out: &'a mut Vec<Record>) -> Self {
        Self {
            collector,
            max,
            emitted: 0,
            suppressed: 0,
            out,
        }
    }

    pub(crate) fn report(&mut self, path: Option<&Path>, reason: impl std::fmt::Display) {
        if self.emitted >= self.max {
            self.suppressed += 1;
            return;
        }
        self.emitted += 1;
        let path = path.map(|p| p.display().to_string());
        let reason = reason.to_string();
        log::warn!("{} collector: {reason}", self.collector);
        self.out.push(Record::CollectionError(CollectionFailure {
            collector: self.collector,
            path,
            reason,
        }));
    }

    pub(crate) fn records(&mut self) -> &mut Vec<Record> {
        self.out
    }
}

impl Drop for ErrorSink<'_> {
    fn drop(&mut self) {
        if self.suppressed > 0 {
            let reason = std::format!(
                "{} more errors in this scan were not reported one by one (limit {} per scan)",
                self.suppressed,
                self.max
            );
            log::warn!("{} collector: {reason}", self.collector);
            self.out.push(Record::CollectionError(CollectionFailure {
                collector: self.collector,
                path: None,
                reason,
            }));
        }
    }
}

/// Splits `text` into lines, rejecting lines longer than `max` bytes.
pub(crate) fn bounded_lines(
    text: &str,
    max: usize,
) -> impl Iterator<Item = (usize, Result<&str, usize>)> {
    text.lines().enumerate().map(move |(index, line)| {
        let number = index + 1;
        if line.len() > max {
            (number, Err(line.len()))
        } else {
            (number, Ok(line))
        }
    })
}
