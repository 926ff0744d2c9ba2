//! syslog messages in the RFC 5424 format, with structured data.
//!
//! [`SyslogMessage::to_line`] writes one message as one line (no trailing
//! newline). Whatever the input holds, the line contains no control
//! character other than inside the UTF-8 BOM:
//!
//! - HOSTNAME, APP-NAME, PROCID and MSGID keep only printable US-ASCII
//!   (`!` to `~`); any other character becomes `_`. They are cut to their
//!   RFC 5424 maximum of 255, 48, 128 and 32 characters, and an empty or
//!   absent field becomes the NILVALUE `-`.
//! - SD-IDs and PARAM-NAMEs keep printable US-ASCII except `=`, space, `]`
//!   and `"`, and are cut to 32 characters.
//! - PARAM-VALUEs escape `"`, `\` and `]` with a backslash, as RFC 5424
//!   requires.
//! - In PARAM-VALUEs and MSG, line feed, carriage return and tab become
//!   `\n`, `\r` and `\t`, and every other control character (U+0000 to
//!   U+001F, U+007F to U+009F) becomes `\xHH` or `\u{HHHH}`. RFC 5424
//!   gives these sequences no meaning, so a receiver shows them as typed.
//! - MSG starts with the UTF-8 BOM (EF BB BF), as RFC 5424 requires for a
//!   UTF-8 MSG.
//!
//! Values are never shortened, so a message may be longer than a receiver
//! accepts: the UDP sender rejects datagrams above its limit with an error,
//! and TCP with octet counting carries any length.

use std::fmt::Write as _;

use palisade_schema::{Event, Severity};

use crate::context::{EventContext, Origin};
use crate::fields;
use crate::finding::Finding;
use crate::summary::event_summary;
use crate::time::rfc3339_ms;

/// Maximum HOSTNAME length in RFC 5424.
pub const MAX_HOSTNAME_LEN: usize = 255;
/// Maximum APP-NAME length in RFC 5424.
pub const MAX_APP_NAME_LEN: usize = 48;
/// Maximum PROCID length in RFC 5424.
pub const MAX_PROCID_LEN: usize = 128;
/// Maximum MSGID length in RFC 5424.
pub const MAX_MSGID_LEN: usize = 32;
/// Maximum SD-ID and PARAM-NAME length in RFC 5424.
pub const MAX_SD_NAME_LEN: usize = 32;

/// The UTF-8 byte order mark that starts a UTF-8 MSG.
pub const BOM: &str = "\u{FEFF}";

/// syslog facility codes of RFC 5424, section 6.2.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // The variant names are the RFC's.
pub enum Facility {
    Kernel = 0,
    User = 1,
    Mail = 2,
    Daemon = 3,
    Auth = 4,
    Syslog = 5,
    Printer = 6,
    News = 7,
    Uucp = 8,
    Cron = 9,
    AuthPriv = 10,
    Ftp = 11,
    Ntp = 12,
    LogAudit = 13,
    LogAlert = 14,
    Clock = 15,
    Local0 = 16,
    Local1 = 17,
    Local2 = 18,
    Local3 = 19,
    Local4 = 20,
    Local5 = 21,
    Local6 = 22,
    Local7 = 23,
}

/// syslog severities of RFC 5424, section 6.2.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)] // The variant names are the RFC's.
pub enum SyslogSeverity {
    Emergency = 0,
    Alert = 1,
    Critical = 2,
    Error = 3,
    Warning = 4,
    Notice = 5,
    Informational = 6,
    Debug = 7,
}

impl From<Severity> for SyslogSeverity {
    /// Maps info to Informational, low to Notice, medium to Warning, high
    /// to Error and critical to Critical.
    fn from(severity: Severity) -> Self {
        match severity {
            Severity::Info => Self::Informational,
            Severity::Low => Self::Notice,
            Severity::Medium => Self::Warning,
            Severity::High => Self::Error,
            Severity::Critical => Self::Critical,
        }
    }
}

/// Computes the PRI value: facility times 8 plus severity, 0 to 191.
pub fn pri(facility: Facility, severity: SyslogSeverity) -> u8 {
    (facility as u8) * 8 + severity as u8
}

/// One structured data element: an SD-ID and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdElement {
    /// SD-ID, such as `palisade@32473`.
    pub id: String,
    /// Parameters in order; a name may repeat.
    pub params: Vec<(String, String)>,
}

/// One RFC 5424 message before formatting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogMessage {
    /// Facility.
    pub facility: Facility,
    /// Severity.
    pub severity: SyslogSeverity,
    /// TIMESTAMP in Unix milliseconds, or `None` for the NILVALUE.
    pub timestamp_unix_ms: Option<u64>,
    /// HOSTNAME.
    pub hostname: Option<String>,
    /// APP-NAME.
    pub app_name: Option<String>,
    /// PROCID.
    pub procid: Option<String>,
    /// MSGID.
    pub msgid: Option<String>,
    /// STRUCTURED-DATA elements; no element means the NILVALUE.
    pub structured_data: Vec<SdElement>,
    /// MSG, written after the BOM; `None` leaves MSG out.
    pub msg: Option<String>,
}

impl SyslogMessage {
    /// Formats the message as one RFC 5424 line, without a line ending.
    pub fn to_line(&self) -> String {
        let mut line = String::with_capacity(256);
        let _ = write!(line, "<{}>1 ", pri(self.facility, self.severity));
        match self.timestamp_unix_ms {
            Some(ms) => line.push_str(&rfc3339_ms(ms)),
            None => line.push('-'),
        }
        for (value, max) in [
            (&self.hostname, MAX_HOSTNAME_LEN),
            (&self.app_name, MAX_APP_NAME_LEN),
            (&self.procid, MAX_PROCID_LEN),
            (&self.msgid, MAX_MSGID_LEN),
        ] {
            line.push(' ');
            push_header_field(&mut line, value.as_deref(), max);
        }
        line.push(' ');
        if self.structured_data.is_empty() {
            line.push('-');
        }
        for element in &self.structured_data {
            line.push('[');
            push_sd_name(&mut line, &element.id);
            for (name, value) in &element.params {
                line.push(' ');
                push_sd_name(&mut line, name);
                line.push_str("=\"");
                push_param_value(&mut line, value);
                line.push('"');
            }
            line.push(']');
        }
        if let Some(msg) = &self.msg {
            line.push(' ');
            line.push_str(BOM);
            push_escaped_controls(&mut line, msg);
        }
        line
    }
}

/// Choices that apply to every message a sink writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogOptions {
    /// Facility of every message.
    pub facility: Facility,
    /// APP-NAME of every message.
    pub app_name: String,
    /// IANA private enterprise number used in the SD-IDs
    /// (`palisade@NUMBER`).
    pub enterprise_number: u32,
}

impl Default for SyslogOptions {
    /// Facility `local4`, APP-NAME `palisade`, and enterprise number 32473.
    ///
    /// NOTE: 32473 is the number RFC 5612 reserves for documentation and
    /// examples; Palisade has no number of its own, so a deployment that
    /// forwards to a shared SIEM should set its organization's number.
    fn default() -> Self {
        Self {
            facility: Facility::Local4,
            app_name: "palisade".into(),
            enterprise_number: 32473,
        }
    }
}

impl SyslogOptions {
    fn sd_id(&self, name: &str) -> String {
        format!("{name}@{}", self.enterprise_number)
    }
}

/// Builds the syslog message for `event`.
///
/// HOSTNAME is the device's host name or, when unknown, its id; MSGID is
/// the event kind (`process_started`); TIMESTAMP is chosen like OCSF
/// `time`. The `palisade@N` element carries the header and routing fields,
/// the `event@N` element the event's own fields, and MSG a one-line
/// summary.
pub fn event_message(
    event: &Event<'_>,
    context: &EventContext<'_>,
    options: &SyslogOptions,
) -> SyslogMessage {
    let header = &event.header;
    let mut common = vec![
        ("kind".to_owned(), event.kind().name().to_owned()),
        ("class".to_owned(), event.class().name().to_owned()),
        ("device_id".to_owned(), context.device.id.to_string()),
        ("boot".to_owned(), header.boot.to_string()),
        ("sequence".to_owned(), header.sequence.to_string()),
        ("uptime_ms".to_owned(), header.uptime_ms.to_string()),
        ("severity".to_owned(), header.severity.name().to_owned()),
        ("hit_count".to_owned(), header.hit_count.get().to_string()),
    ];
    if header.window_ms > 0 {
        common.push(("window_ms".to_owned(), header.window_ms.to_string()));
    }
    if let Some(clock) = header.wall_clock.filter(|clock| !clock.synchronized) {
        common.push((
            "unsynchronized_clock_ms".to_owned(),
            clock.unix_ms.to_string(),
        ));
    }
    common.push(("gateway".to_owned(), context.origin.gateway.clone()));

    let mut structured_data = vec![SdElement {
        id: options.sd_id("palisade"),
        params: common,
    }];
    let body_fields: Vec<(String, String)> = fields::event_fields(&event.body)
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
    if !body_fields.is_empty() {
        structured_data.push(SdElement {
            id: options.sd_id("event"),
            params: body_fields,
        });
    }

    SyslogMessage {
        facility: options.facility,
        severity: header.severity.into(),
        timestamp_unix_ms: Some(context.event_time_ms(event)),
        hostname: Some(
            context
                .device
                .hostname
                .clone()
                .unwrap_or_else(|| context.device.id.to_string()),
        ),
        app_name: Some(options.app_name.clone()),
        procid: None,
        msgid: Some(event.kind().name().to_owned()),
        structured_data,
        msg: Some(event_summary(event)),
    }
}

/// Builds the syslog message for `finding`.
///
/// HOSTNAME is the gateway's name and MSGID `finding`. The `palisade@N`
/// element names the rule, the finding and the device. The `evidence@N`
/// element has one `event` parameter per referenced event (its OCSF
/// `metadata.uid`) and one `summary` parameter per evidence. The
/// `attributes@N` element carries the free-form attributes, and MSG is the
/// title.
pub fn finding_message(
    finding: &Finding,
    origin: &Origin,
    options: &SyslogOptions,
) -> SyslogMessage {
    let device_id = finding.device.id;
    let mut structured_data = vec![SdElement {
        id: options.sd_id("palisade"),
        params: vec![
            ("kind".to_owned(), "finding".to_owned()),
            ("rule_id".to_owned(), finding.rule_id.clone()),
            ("finding_uid".to_owned(), finding.uid.clone()),
            ("device_id".to_owned(), device_id.to_string()),
            ("severity".to_owned(), finding.severity.name().to_owned()),
        ],
    }];
    let mut evidence = Vec::new();
    for item in &finding.evidence {
        if let Some(event) = item.event {
            evidence.push(("event".to_owned(), event.uid(&device_id)));
        }
        evidence.push(("summary".to_owned(), item.summary.clone()));
    }
    if !evidence.is_empty() {
        structured_data.push(SdElement {
            id: options.sd_id("evidence"),
            params: evidence,
        });
    }
    if !finding.attributes.is_empty() {
        structured_data.push(SdElement {
            id: options.sd_id("attributes"),
            params: finding
                .attributes
                .iter()
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
        });
    }
    SyslogMessage {
        facility: options.facility,
        severity: finding.severity.into(),
        timestamp_unix_ms: Some(finding.time_unix_ms),
        hostname: Some(origin.gateway.clone()),
        app_name: Some(options.app_name.clone()),
        procid: None,
        msgid: Some("finding".to_owned()),
        structured_data,
        msg: Some(finding.title.clone()),
    }
}

fn push_header_field(line: &mut String, value: Option<&str>, max: usize) {
    let start = line.len();
    for character in value.unwrap_or_default().chars().take(max) {
        line.push(if character.is_ascii_graphic() {
            character
        } else {
            '_'
        });
    }
    if line.len() == start {
        line.push('-');
    }
}

fn push_sd_name(line: &mut String, name: &str) {
    let start = line.len();
    for character in name.chars().take(MAX_SD_NAME_LEN) {
        let allowed = character.is_ascii_graphic() && !matches!(character, '=' | ']' | '"');
        line.push(if allowed { character } else { '_' });
    }
    if line.len() == start {
        line.push('_');
    }
}

fn push_param_value(line: &mut String, value: &str) {
    for character in value.chars() {
        match character {
            '"' | '\\' | ']' => {
                line.push('\\');
                line.push(character);
            }
            _ => push_char_escaping_controls(line, character),
        }
    }
}

fn push_escaped_controls(line: &mut String, text: &str) {
    for character in text.chars() {
        push_char_escaping_controls(line, character);
    }
}

/// Writes `character`, replacing a control character by a visible escape.
pub(crate) fn push_char_escaping_controls(line: &mut String, character: char) {
    match character {
        '\n' => line.push_str("\\n"),
        '\r' => line.push_str("\\r"),
        '\t' => line.push_str("\\t"),
        '\u{0}'..='\u{1f}' | '\u{7f}' => {
            let _ = write!(line, "\\x{:02x}", character as u32);
        }
        '\u{80}'..='\u{9f}' | '\u{2028}' | '\u{2029}' => {
            let _ = write!(line, "\\u{{{:04x}}}", character as u32);
        }
        _ => line.push(character),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> SyslogMessage {
        SyslogMessage {
            facility: Facility::Local4,
            severity: SyslogSeverity::Notice,
            timestamp_unix_ms: None,
            hostname: None,
            app_name: None,
            procid: None,
            msgid: None,
            structured_data: Vec::new(),
            msg: None,
        }
    }

    #[test]
    fn nil_values_for_absent_fields() {
        assert_eq!(message().to_line(), "<165>1 - - - - - -");
        let empty = SyslogMessage {
            hostname: Some(String::new()),
            msg: Some(String::new()),
            ..message()
        };
        assert_eq!(empty.to_line(), "<165>1 - - - - - - \u{FEFF}");
    }

    #[test]
    fn pri_covers_the_range() {
        assert_eq!(pri(Facility::Kernel, SyslogSeverity::Emergency), 0);
        assert_eq!(pri(Facility::Auth, SyslogSeverity::Critical), 34);
        assert_eq!(pri(Facility::Local7, SyslogSeverity::Debug), 191);
    }

    #[test]
    fn header_fields_stop_at_their_maximum() {
        for (max, field) in [
            (MAX_HOSTNAME_LEN, 0),
            (MAX_APP_NAME_LEN, 1),
            (MAX_PROCID_LEN, 2),
            (MAX_MSGID_LEN, 3),
        ] {
            for (len, kept) in [(max, max), (max + 1, max)] {
                let value = Some("h".repeat(len));
                let mut m = message();
                match field {
                    0 => m.hostname = value,
                    1 => m.app_name = value,
                    2 => m.procid = value,
                    _ => m.msgid = value,
                }
                let line = m.to_line();
                let written = line.split(' ').nth(2 + field).unwrap_or_default();
                assert_eq!(written.len(), kept, "field {field} with {len} characters");
            }
        }
    }

    #[test]
    fn sd_names_stop_at_32_characters() {
        let element = |name: &str| SdElement {
            id: name.to_owned(),
            params: vec![(name.to_owned(), "v".into())],
        };
        let at_max = SyslogMessage {
            structured_data: vec![element(&"n".repeat(32))],
            ..message()
        };
        assert!(
            at_max
                .to_line()
                .ends_with(&format!("[{0} {0}=\"v\"]", "n".repeat(32)))
        );
        let over = SyslogMessage {
            structured_data: vec![element(&"n".repeat(33))],
            ..message()
        };
        assert!(
            over.to_line()
                .ends_with(&format!("[{0} {0}=\"v\"]", "n".repeat(32)))
        );
    }

    #[test]
    fn param_values_escape_rfc_characters_and_controls() {
        let m = SyslogMessage {
            structured_data: vec![SdElement {
                id: "x@1".into(),
                params: vec![("p".into(), "]\"\\\n\u{0}ü".into())],
            }],
            ..message()
        };
        assert_eq!(
            m.to_line(),
            "<165>1 - - - - - [x@1 p=\"\\]\\\"\\\\\\n\\x00ü\"]"
        );
    }
}
