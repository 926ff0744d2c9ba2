//! sshd_config read the way sshd reads it, for the global settings.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::prelude::rust_2024::*;

use crate::linux::read::{FileError, read_text_bounded};

/// Maximum nesting of `Include` directives followed.
pub const MAX_INCLUDE_DEPTH: usize = 16;
/// Maximum number of files read for one configuration, counting includes.
pub const MAX_CONFIG_FILES: usize = 256;

/// Failures to read the sshd configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SshdConfigError {
    /// The main file or an included file could not be read.
    #[error(transparent)]
    File(#[from] FileError),
    /// Includes nest deeper than [`MAX_INCLUDE_DEPTH`] or pull in more than
    /// [`MAX_CONFIG_FILES`] files.
    #[error("{}: includes nest deeper than {MAX_INCLUDE_DEPTH} levels or exceed {MAX_CONFIG_FILES} files", path.display())]
    TooManyIncludes {
        /// The file whose `Include` went over the limit.
        path: PathBuf,
    },
    /// A line has an unterminated quote.
    #[error("{} line {line}: unterminated quote", path.display())]
    BadQuote {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
}

/// The global (outside any `Match` block) settings, each with its first
/// value as sshd keeps it, keyed by lowercase keyword.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SshdSettings {
    values: HashMap<String, String>,
    /// Files read, in order.
    pub files: Vec<PathBuf>,
}

impl SshdSettings {
    /// The first global value of `keyword` (case-insensitive), if set.
    pub fn get(&self, keyword: &str) -> Option<&str> {
        self.values
            .get(&keyword.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// Splits a line into words the way sshd does: whitespace separates, a
/// `=` may separate the keyword from its value, double quotes group.
/// Returns `None` on an unterminated quote.
pub fn split_words(line: &str) -> Option<Vec<String>> {
    let line = line.trim();
    let (keyword, rest) = match line.find(|c: char| c.is_whitespace() || c == '=') {
        Some(end) => {
            let rest = line[end..].trim_start();
            let rest = rest.strip_prefix('=').unwrap_or(rest);
            (&line[..end], rest.trim_start())
        }
        None => (line, ""),
    };
    let mut words = vec![keyword.to_string()];
    let mut chars = rest.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if c == '"' {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some(c) => word.push(c),
                    None => return None,
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word);
    }
    Some(words)
}

/// Matches `name` against a glob `pattern` with `*` and `?`.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    let (mut p, mut n) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some('*') => {
                backtrack = Some((p, n));
                p += 1;
            }
            Some(&c) if c == '?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match backtrack {
                Some((bp, bn)) => {
                    p = bp + 1;
                    n = bn + 1;
                    backtrack = Some((bp, bn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// Expands an `Include` argument: relative paths are relative to
/// `config_dir` (sshd uses `/etc/ssh`), wildcards in any component are
/// matched, and the results are sorted as glob(3) sorts them. Hidden
/// files match only a pattern that starts with a dot.
pub fn expand_include(pattern: &str, config_dir: &Path) -> Vec<PathBuf> {
    let full = if Path::new(pattern).is_absolute() {
        PathBuf::from(pattern)
    } else {
        config_dir.join(pattern)
    };
    let mut matches = vec![PathBuf::new()];
    for component in full.components() {
        let text = component.as_os_str().to_string_lossy();
        if !text.contains(['*', '?']) {
            for path in &mut matches {
                path.push(component.as_os_str());
            }
            continue;
        }
        let mut next = Vec::new();
        for base in &matches {
            let Ok(entries) = fs::read_dir(base) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            for name in names {
                if name.starts_with('.') && !text.starts_with('.') {
                    continue;
                }
                if glob_match(&text, &name) {
                    next.push(base.join(&name));
                }
            }
        }
        matches = next;
    }
    if full.to_string_lossy().contains(['*', '?']) {
        matches
    } else {
        // A plain path is included even if missing, so the read reports it.
        vec![full]
    }
}

struct Reader<'a> {
    config_dir: &'a Path,
    max_bytes: u64,
    settings: SshdSettings,
}

impl Reader<'_> {
    fn read(&mut self, path: &Path, depth: usize, in_match: bool) -> Result<(), SshdConfigError> {
        if depth > MAX_INCLUDE_DEPTH || self.settings.files.len() >= MAX_CONFIG_FILES {
            return Err(SshdConfigError::TooManyIncludes {
                path: path.to_path_buf(),
            });
        }
        let text = read_text_bounded(path, self.max_bytes)?;
        self.settings.files.push(path.to_path_buf());
        // A Match block in this file ends at the end of the file; one in an
        // including file carries into the included file.
        let mut in_match = in_match;
        for (index, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let words = split_words(trimmed).ok_or(SshdConfigError::BadQuote {
                path: path.to_path_buf(),
                line: index + 1,
            })?;
            let keyword = words[0].to_ascii_lowercase();
            match keyword.as_str() {
                "match" => in_match = true,
                "include" => {
                    for pattern in &words[1..] {
                        for file in expand_include(pattern, self.config_dir) {
                            match self.read(&file, depth + 1, in_match) {
                                // A wildcard that matched a vanished file, as sshd, is ignored.
                                Err(SshdConfigError::File(e))
                                    if e.is_not_found() && pattern.contains(['*', '?']) => {}
                                other => other?,
                            }
                        }
                    }
                }
                _ if !in_match => {
                    if let Some(value) = words.get(1) {
                        self.settings
                            .values
                            .entry(keyword)
                            .or_insert_with(|| value.clone());
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Reads `main` and its includes and returns the global settings.
///
/// As in sshd: the first value of a keyword wins, `Include` pulls files in
/// at that point (relative paths under `config_dir`), and settings inside
/// `Match` blocks are left out because they apply only to their match.
pub fn read_sshd_config(
    main: &Path,
    config_dir: &Path,
    max_bytes: u64,
) -> Result<SshdSettings, SshdConfigError> {
    let mut reader = Reader {
        config_dir,
        max_bytes,
        settings: SshdSettings::default(),
    };
    reader.read(main, 0, false)?;
    Ok(reader.settings)
}
