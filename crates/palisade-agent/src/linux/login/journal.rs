//! Entries of `journalctl --output=json`, one JSON object per line.

use std::prelude::rust_2024::*;

use serde_json::Value;

/// The fields of one journal entry that the login collector uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// `__CURSOR`, to continue after this entry next time.
    pub cursor: Option<String>,
    /// `SYSLOG_IDENTIFIER`, else `_COMM`.
    pub identifier: String,
    /// `MESSAGE`; a message that journald stored as bytes (a JSON array of
    /// numbers) is decoded as UTF-8 with invalid sequences replaced.
    pub message: String,
    /// `__REALTIME_TIMESTAMP` (microseconds) in milliseconds since the Unix epoch.
    pub time_unix_ms: Option<u64>,
}

/// Reasons a journal line is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The line is not a JSON object.
    #[error("journal line is not a JSON object: {0}")]
    NotAnObject(String),
    /// `MESSAGE` is missing or neither a string nor an array of bytes.
    #[error("journal entry has no MESSAGE string or byte array")]
    BadMessage,
    /// Neither `SYSLOG_IDENTIFIER` nor `_COMM` is a string.
    #[error("journal entry has neither SYSLOG_IDENTIFIER nor _COMM")]
    MissingIdentifier,
}

fn text_or_bytes(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Array(items) => {
            let bytes: Option<Vec<u8>> = items
                .iter()
                .map(|item| item.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect();
            Some(String::from_utf8_lossy(&bytes?).into_owned())
        }
        _ => None,
    }
}

/// Parses one line of `journalctl --output=json`.
pub fn parse_journal_line(line: &str) -> Result<JournalEntry, JournalError> {
    let value: Value =
        serde_json::from_str(line).map_err(|e| JournalError::NotAnObject(e.to_string()))?;
    let Value::Object(fields) = value else {
        return Err(JournalError::NotAnObject("not an object".to_string()));
    };
    let message = fields
        .get("MESSAGE")
        .and_then(text_or_bytes)
        .ok_or(JournalError::BadMessage)?;
    let identifier = fields
        .get("SYSLOG_IDENTIFIER")
        .and_then(text_or_bytes)
        .or_else(|| fields.get("_COMM").and_then(text_or_bytes))
        .ok_or(JournalError::MissingIdentifier)?;
    let time_unix_ms = fields
        .get("__REALTIME_TIMESTAMP")
        .and_then(Value::as_str)
        .and_then(|micros| micros.parse::<u64>().ok())
        .map(|micros| micros / 1000);
    let cursor = fields
        .get("__CURSOR")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(JournalEntry {
        cursor,
        identifier,
        message,
        time_unix_ms,
    })
}
