//! ArcSight Common Event Format (CEF) version 0 lines.
//!
//! A line is `CEF:0|Vendor|Product|Version|Signature ID|Name|Severity|Extension`.
//! Escaping follows the CEF specification:
//!
//! - header fields escape `\` and `|` with a backslash; a line break or
//!   other control character in a header field becomes a space, because
//!   CEF has no escape for it there;
//! - extension values escape `\` and `=` with a backslash, and write line
//!   feed and carriage return as `\n` and `\r`; other control characters
//!   (tab, NUL, U+007F to U+009F) become a space, because CEF has no
//!   escape for them;
//! - extension keys are ASCII letters and digits only.
//!
//! Events use standard keys where one fits (`rt`, `dvchost`,
//! `deviceExternalId`, `externalId`, `cat`, `cnt`, `msg`, `suser`, `spid`,
//! `src`, `spt`, `filePath`) and `palisade` followed by the field name in
//! camel case for the rest (`palisadeCommandLine`).

use palisade_schema::{Event, Severity};

use crate::context::{EventContext, Origin, PRODUCT_NAME, VENDOR_NAME};
use crate::fields;
use crate::finding::Finding;
use crate::summary::event_summary;

/// CEF severity, 0 to 10: info 1, low 3, medium 5, high 8, critical 10.
pub fn cef_severity(severity: Severity) -> u8 {
    match severity {
        Severity::Info => 1,
        Severity::Low => 3,
        Severity::Medium => 5,
        Severity::High => 8,
        Severity::Critical => 10,
    }
}

/// Formats `event` as one CEF line without a line ending.
///
/// Signature ID is the event kind (`process_started`); Name is the kind in
/// words (`process started`).
pub fn event_line(event: &Event<'_>, context: &EventContext<'_>) -> String {
    let kind = event.kind();
    let mut extension = Extension::default();
    extension.push("rt", &context.event_time_ms(event).to_string());
    if let Some(hostname) = &context.device.hostname {
        extension.push("dvchost", hostname);
    }
    extension.push("deviceExternalId", &context.device.id.to_string());
    extension.push("externalId", &context.event_uid(event));
    extension.push("cat", event.class().name());
    extension.push("cnt", &event.header.hit_count.get().to_string());
    extension.push("msg", &event_summary(event));
    for (name, value) in fields::event_fields(&event.body) {
        extension.push(&extension_key(name), &value);
    }
    header(
        &context.origin.product_version,
        kind.name(),
        &kind.name().replace('_', " "),
        cef_severity(event.header.severity),
    ) + &extension.text
}

/// Formats `finding` as one CEF line without a line ending.
///
/// Signature ID is the rule id and Name the finding's title. Evidence
/// events are listed in `palisadeEvidence` as comma-separated event ids;
/// each attribute becomes a `palisade…` key.
pub fn finding_line(finding: &Finding, origin: &Origin) -> String {
    let device_id = finding.device.id;
    let mut extension = Extension::default();
    extension.push("rt", &finding.time_unix_ms.to_string());
    extension.push("dvchost", &origin.gateway);
    extension.push("deviceExternalId", &device_id.to_string());
    extension.push("externalId", &finding.uid);
    extension.push("cat", "finding");
    extension.push(
        "msg",
        finding.description.as_deref().unwrap_or(&finding.title),
    );
    let events: Vec<String> = finding
        .evidence
        .iter()
        .filter_map(|item| item.event)
        .map(|event| event.uid(&device_id))
        .collect();
    if !events.is_empty() {
        extension.push("palisadeEvidence", &events.join(","));
    }
    for (name, value) in &finding.attributes {
        extension.push(&extension_key(name), value);
    }
    header(
        &origin.product_version,
        &finding.rule_id,
        &finding.title,
        cef_severity(finding.severity),
    ) + &extension.text
}

fn header(version: &str, signature_id: &str, name: &str, severity: u8) -> String {
    let mut line = String::from("CEF:0|");
    for field in [VENDOR_NAME, PRODUCT_NAME, version, signature_id, name] {
        push_header_field(&mut line, field);
        line.push('|');
    }
    line.push_str(&severity.to_string());
    line.push('|');
    line
}

fn push_header_field(line: &mut String, value: &str) {
    for character in value.chars() {
        match character {
            '\\' | '|' => {
                line.push('\\');
                line.push(character);
            }
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => line.push(' '),
            c => line.push(c),
        }
    }
}

/// Maps a field name to a standard CEF key, or to `palisade` plus the name
/// in camel case with anything but ASCII letters and digits removed.
fn extension_key(name: &str) -> String {
    let standard = match name {
        "user" => Some("suser"),
        "pid" => Some("spid"),
        "path" => Some("filePath"),
        "source_ip" | "peer_ip" => Some("src"),
        "source_port" | "peer_port" => Some("spt"),
        _ => None,
    };
    if let Some(key) = standard {
        return key.to_owned();
    }
    let mut key = String::from("palisade");
    let mut upper = true;
    for character in name.chars() {
        if character.is_ascii_alphanumeric() {
            if upper {
                key.push(character.to_ascii_uppercase());
            } else {
                key.push(character);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    key
}

#[derive(Default)]
struct Extension {
    text: String,
}

impl Extension {
    fn push(&mut self, key: &str, value: &str) {
        if !self.text.is_empty() {
            self.text.push(' ');
        }
        self.text.push_str(key);
        self.text.push('=');
        for character in value.chars() {
            match character {
                '\\' | '=' => {
                    self.text.push('\\');
                    self.text.push(character);
                }
                '\n' => self.text.push_str("\\n"),
                '\r' => self.text.push_str("\\r"),
                c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => self.text.push(' '),
                c => self.text.push(c),
            }
        }
    }
}
