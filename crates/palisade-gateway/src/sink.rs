//! Sinks: where delivered output goes. This module has the JSON Lines file
//! sink, which rotates by size and can tell, from its own file, the last
//! outbox position it wrote.
//!
//! Every line is one JSON object that carries its outbox position (row id
//! and index within the row): under `unmapped.palisade_outbox` for OCSF
//! objects, as a top-level `outbox_position` for telemetry. After a crash
//! between writing a line and advancing the sink's cursor in the outbox,
//! [`JsonlSink::open`] reads the last complete line back, drops a partly
//! written one, and delivery skips what the file already holds, so each
//! record appears in the file exactly once.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::config::JsonlSinkConfig;

/// Where a record sits in the outbox: its row and its index within the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// Outbox row id.
    pub row: i64,
    /// Index of the record within the row (0 for a finding).
    pub index: u32,
}

impl Position {
    fn to_text(self) -> String {
        format!("{}.{}", self.row, self.index)
    }

    fn parse(text: &str) -> Option<Self> {
        let (row, index) = text.split_once('.')?;
        Some(Self {
            row: row.parse().ok()?,
            index: index.parse().ok()?,
        })
    }
}

/// Which output a sink carries; routing never sends one to the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// Security and operational events and findings, as OCSF.
    Security,
    /// Telemetry, as plain JSON for the business side.
    Telemetry,
}

/// Error from a sink.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// A file operation failed.
    #[error("sink {sink} failed to {action} {path}: {source}")]
    Io {
        /// Sink name.
        sink: String,
        /// What the sink was doing.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A network sink failed to set up, connect to, send to or hear back
    /// from its receiver; delivery retries the same rows in the next round.
    #[error("sink {sink} failed to {action} {target}: {source}")]
    Network {
        /// Sink name.
        sink: String,
        /// What the sink was doing.
        action: &'static str,
        /// The receiver, broker or file involved.
        target: String,
        /// The underlying error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Maximum length of the tail of a sink file read back to find the last written position.
/// A line is one event or one finding with at most
/// [`MAX_EVIDENCE`](crate::detect::MAX_EVIDENCE) evidence summaries, far below it.
const TAIL_BYTES: u64 = 1024 * 1024;

/// Lines are collected in memory and written with one system call once
/// this many bytes are waiting, and at every flush.
const WRITE_BUFFER_BYTES: usize = 256 * 1024;

/// A JSON Lines file sink with size-based rotation.
#[derive(Debug)]
pub struct JsonlSink {
    name: String,
    route: Route,
    path: PathBuf,
    rotate_bytes: u64,
    keep_files: u32,
    file: File,
    /// Bytes in the file plus the bytes waiting in `pending`.
    size: u64,
    /// Position of the last line handed to [`JsonlSink::write`], written to
    /// the file or waiting in `pending`.
    last_written: Option<Position>,
    lines_written: u64,
    rotations: u64,
    /// Lines not yet written to the file.
    pending: Vec<u8>,
    /// Number of lines in `pending`.
    pending_lines: u64,
}

impl JsonlSink {
    /// Opens (creating if needed) the sink file `output_dir/config.file`,
    /// drops a partly written last line, and reads the last position written.
    pub fn open(
        name: &str,
        route: Route,
        output_dir: &Path,
        config: &JsonlSinkConfig,
    ) -> Result<Self, SinkError> {
        let path = output_dir.join(&config.file);
        let io = |action: &'static str, path: &Path| {
            let sink = name.to_owned();
            let path = path.to_owned();
            move |source| SinkError::Io {
                sink,
                action,
                path,
                source,
            }
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io("create the folder of", &path))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io("open", &path))?;
        let (size, mut last_written) =
            recover_tail(&mut file, route).map_err(io("read back", &path))?;
        if last_written.is_none() {
            // Right after a rotation the current file is empty and the last
            // position is in the newest rotated file.
            let rotated = rotated_path(&path, 1);
            if let Ok(mut previous) = File::open(&rotated) {
                last_written = recover_tail(&mut previous, route)
                    .map_err(io("read back", &rotated))?
                    .1;
            }
        }
        Ok(Self {
            name: name.to_owned(),
            route,
            path,
            rotate_bytes: config.rotate_bytes,
            keep_files: config.keep_files,
            file,
            size,
            last_written,
            lines_written: 0,
            rotations: 0,
            pending: Vec::new(),
            pending_lines: 0,
        })
    }

    /// Sink name from the configuration.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Which output the sink carries.
    pub fn route(&self) -> Route {
        self.route
    }

    /// The current file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last outbox position in the sink's files, if any.
    pub fn last_written(&self) -> Option<Position> {
        self.last_written
    }

    /// Lines written since the sink was opened.
    pub fn lines_written(&self) -> u64 {
        self.lines_written
    }

    /// Rotations since the sink was opened.
    pub fn rotations(&self) -> u64 {
        self.rotations
    }

    /// Appends `object` as one line, tagged with `position`, rotating first
    /// when the line would push the file past `rotate_bytes`. The line may
    /// wait in memory until [`JsonlSink::flush`]; after an error, the sink
    /// has reread its file and [`JsonlSink::last_written`] names the last
    /// line that reached it.
    pub fn write(&mut self, position: Position, mut object: Value) -> Result<(), SinkError> {
        tag(&mut object, self.route, position);
        let start = self.pending.len();
        // serde_json returns no error for a `Value` written to a `Vec`,
        // because map keys are strings and memory writes do not fail.
        if let Err(error) = serde_json::to_writer(&mut self.pending, &object) {
            self.pending.truncate(start);
            return Err(self.error("format a line for", std::io::Error::other(error)));
        }
        self.pending.push(b'\n');
        let line_len = (self.pending.len() - start) as u64;
        if self.size > 0 && self.size + line_len > self.rotate_bytes {
            // The new line goes into the next file: rotate with the lines
            // before it, then carry it over.
            let line = self.pending.split_off(start);
            self.rotate()?;
            self.pending = line;
            self.pending_lines = 0;
        }
        self.size += line_len;
        self.last_written = Some(position);
        self.pending_lines += 1;
        if self.pending.len() >= WRITE_BUFFER_BYTES {
            self.write_pending()?;
        }
        Ok(())
    }

    /// Writes every waiting line and makes the file durable (`fsync`).
    pub fn flush(&mut self) -> Result<(), SinkError> {
        self.write_pending()?;
        if let Err(source) = self.file.sync_data() {
            self.recover();
            return Err(self.error("sync", source));
        }
        Ok(())
    }

    fn write_pending(&mut self) -> Result<(), SinkError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if let Err(source) = self.file.write_all(&self.pending) {
            self.recover();
            return Err(self.error("write", source));
        }
        self.pending.clear();
        self.lines_written += self.pending_lines;
        self.pending_lines = 0;
        Ok(())
    }

    /// After a failed write or sync: drops the waiting lines and rereads
    /// the file's size and last complete line, so that delivery writes
    /// again everything that did not reach the file.
    fn recover(&mut self) {
        self.pending.clear();
        self.pending_lines = 0;
        match recover_tail(&mut self.file, self.route) {
            Ok((size, last)) => {
                self.size = size;
                // Right after a rotation the current file is empty and the
                // last position is in the newest rotated file, as in `open`.
                self.last_written = last.or_else(|| {
                    let mut previous = File::open(rotated_path(&self.path, 1)).ok()?;
                    recover_tail(&mut previous, self.route).ok()?.1
                });
            }
            Err(error) => {
                // The file cannot even be read: keep nothing as written, so
                // the next round starts over from the outbox cursor. Lines
                // the file already contains may then appear twice.
                tracing::error!(sink = %self.name, path = %self.path.display(), %error,
                    "cannot read back the sink file after a failed write");
                self.last_written = None;
            }
        }
    }

    fn rotate(&mut self) -> Result<(), SinkError> {
        self.flush()?;
        if self.keep_files == 0 {
            std::fs::remove_file(&self.path).map_err(|source| self.error("remove", source))?;
        } else {
            let oldest = rotated_path(&self.path, self.keep_files);
            if oldest.exists() {
                std::fs::remove_file(&oldest).map_err(|source| self.error("remove", source))?;
            }
            for number in (1..self.keep_files).rev() {
                let from = rotated_path(&self.path, number);
                if from.exists() {
                    std::fs::rename(&from, rotated_path(&self.path, number + 1))
                        .map_err(|source| self.error("rotate", source))?;
                }
            }
            std::fs::rename(&self.path, rotated_path(&self.path, 1))
                .map_err(|source| self.error("rotate", source))?;
        }
        self.file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.path)
            .map_err(|source| self.error("open", source))?;
        self.size = 0;
        self.rotations += 1;
        tracing::info!(sink = %self.name, path = %self.path.display(), "rotated sink file");
        Ok(())
    }

    fn error(&self, action: &'static str, source: std::io::Error) -> SinkError {
        SinkError::Io {
            sink: self.name.clone(),
            action,
            path: self.path.clone(),
            source,
        }
    }
}

/// `FILE.N`, the `number`-th newest rotated file.
pub fn rotated_path(path: &Path, number: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{number}"));
    PathBuf::from(name)
}

fn tag(object: &mut Value, route: Route, position: Position) {
    let Value::Object(map) = object else {
        return;
    };
    match route {
        Route::Security => {
            let unmapped = map
                .entry("unmapped")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(unmapped) = unmapped {
                unmapped.insert("palisade_outbox".into(), Value::String(position.to_text()));
            }
        }
        Route::Telemetry => {
            map.insert("outbox_position".into(), Value::String(position.to_text()));
        }
    }
}

fn read_position(line: &[u8], route: Route) -> Option<Position> {
    let value: Value = serde_json::from_slice(line).ok()?;
    let text = match route {
        Route::Security => value
            .get("unmapped")?
            .get("palisade_outbox")?
            .as_str()?
            .to_owned(),
        Route::Telemetry => value.get("outbox_position")?.as_str()?.to_owned(),
    };
    Position::parse(&text)
}

/// Truncates a partly written last line and returns the file size and the
/// position of the last complete line.
fn recover_tail(file: &mut File, route: Route) -> std::io::Result<(u64, Option<Position>)> {
    let size = file.seek(SeekFrom::End(0))?;
    if size == 0 {
        return Ok((0, None));
    }
    let start = size.saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)?;
    let complete = match tail.iter().rposition(|&byte| byte == b'\n') {
        Some(end) => end + 1,
        None => 0,
    };
    let mut size = size;
    if complete < tail.len() {
        // The last line has no newline: a crash cut it. Drop it; delivery
        // writes it again from the outbox.
        size = start + complete as u64;
        file.set_len(size)?;
        tracing::warn!(
            bytes = tail.len() - complete,
            "dropped a partly written line at the end of a sink file"
        );
        tail.truncate(complete);
    }
    let last_line = tail[..tail.len().saturating_sub(1)]
        .rsplit(|&byte| byte == b'\n')
        .next()
        .filter(|line| !line.is_empty());
    Ok((size, last_line.and_then(|line| read_position(line, route))))
}
