//! Golden files for every event kind and for hostile field contents.
//!
//! Set `PALISADE_UPDATE_GOLDEN=1` to rewrite the files after an intended
//! format change, then review the diff.

mod common;

use std::collections::BTreeMap;

use palisade_export::syslog::{SyslogOptions, event_message, finding_message};
use palisade_export::{DeviceInfo, EventContext, Evidence, Finding, cef, ocsf};
use palisade_schema::{
    Event, EventBody, EventKind, Login, LoginAction, LoginMethod, ProcessStarted, Severity,
    StartKind, Str, samples,
};

const HOSTILE_TEXT: &str = "a]b\"c\\d|e=f\ng\rh\0i\tj\u{7f}k\u{85}l Größe ✓ 日本";

fn context_parts() -> (DeviceInfo, palisade_export::Origin) {
    (common::device(), common::origin())
}

#[test]
fn ocsf_objects_match_golden_files() {
    let (device, origin) = context_parts();
    let context = EventContext {
        device: &device,
        origin: &origin,
        received_unix_ms: common::RECEIVED_MS,
    };
    for event in samples::one_of_each() {
        let object = ocsf::event(&event, &context);
        let text = serde_json::to_string_pretty(&object).expect("serialize") + "\n";
        common::check_golden(&format!("golden/ocsf/{}.json", event.kind().name()), &text);
    }
    let finding = ocsf::finding(&common::finding(), &origin);
    common::check_golden(
        "golden/ocsf/finding.json",
        &(serde_json::to_string_pretty(&finding).expect("serialize") + "\n"),
    );
}

#[test]
fn syslog_lines_match_golden_file() {
    let (device, origin) = context_parts();
    let context = EventContext {
        device: &device,
        origin: &origin,
        received_unix_ms: common::RECEIVED_MS,
    };
    let options = SyslogOptions::default();
    let mut text = String::new();
    for event in samples::one_of_each() {
        text.push_str(&event_message(&event, &context, &options).to_line());
        text.push('\n');
    }
    text.push_str(&finding_message(&common::finding(), &origin, &options).to_line());
    text.push('\n');
    assert_eq!(text.lines().count(), EventKind::ALL.len() + 1);
    common::check_golden("golden/syslog/events.log", &text);
}

#[test]
fn cef_lines_match_golden_file() {
    let (device, origin) = context_parts();
    let context = EventContext {
        device: &device,
        origin: &origin,
        received_unix_ms: common::RECEIVED_MS,
    };
    let mut text = String::new();
    for event in samples::one_of_each() {
        text.push_str(&cef::event_line(&event, &context));
        text.push('\n');
    }
    text.push_str(&cef::finding_line(&common::finding(), &origin));
    text.push('\n');
    assert_eq!(text.lines().count(), EventKind::ALL.len() + 1);
    common::check_golden("golden/cef/events.cef", &text);
}

fn hostile_events() -> Vec<Event<'static>> {
    let long_command: &'static str =
        Box::leak(format!("{HOSTILE_TEXT} {}", "x]\"\\=|\n".repeat(140)).into_boxed_str());
    vec![
        Event {
            header: samples::header(0, Severity::High),
            body: EventBody::ProcessStarted(ProcessStarted {
                pid: 1,
                parent_pid: 0,
                uid: 0,
                user: Some(Str::truncated(HOSTILE_TEXT)),
                executable: Str::truncated(HOSTILE_TEXT),
                command_line: Str::truncated(long_command),
                start_kind: StartKind::Exec,
            }),
        },
        Event {
            header: samples::header(1, Severity::Medium),
            body: EventBody::Login(Login {
                action: LoginAction::InvalidUser,
                user: Str::truncated("root\n<13>1 - forged - - - - injected"),
                method: LoginMethod::Password,
                terminal: Some(Str::truncated("pts/0]\" x=\"y")),
                source: None,
            }),
        },
    ]
}

fn hostile_device() -> DeviceInfo {
    DeviceInfo {
        hostname: Some("pump 17\nevil|host=ü".into()),
        ..common::device()
    }
}

fn hostile_finding() -> Finding {
    let mut attributes = BTreeMap::new();
    attributes.insert("large".to_owned(), "v]\"\\=|\n\0é".repeat(1_100));
    attributes.insert("bad name=\"]".to_owned(), HOSTILE_TEXT.to_owned());
    Finding {
        uid: "finding\n1".into(),
        rule_id: "rule|with\\pipes".into(),
        title: format!("title {HOSTILE_TEXT}"),
        description: None,
        severity: Severity::Critical,
        device: hostile_device(),
        time_unix_ms: 1_796_000_040_000,
        evidence: vec![Evidence {
            event: None,
            summary: HOSTILE_TEXT.into(),
        }],
        attributes,
    }
}

/// Every character that must never appear raw in a one-line format.
fn assert_single_line(line: &str) {
    for character in line.chars() {
        let forbidden = character.is_control() || matches!(character, '\u{2028}' | '\u{2029}');
        assert!(
            !forbidden,
            "control character U+{:04X} in {line:?}",
            character as u32
        );
    }
}

#[test]
fn hostile_values_give_single_valid_syslog_lines() {
    let device = hostile_device();
    let origin = common::origin();
    let context = EventContext {
        device: &device,
        origin: &origin,
        received_unix_ms: common::RECEIVED_MS,
    };
    let options = SyslogOptions::default();
    let mut text = String::new();
    for event in hostile_events() {
        let line = event_message(&event, &context, &options).to_line();
        assert_single_line(&line);
        let parsed = parse_rfc5424(&line);
        assert_eq!(parsed.hostname, "pump_17_evil|host=_");
        text.push_str(&line);
        text.push('\n');
    }
    let line = finding_message(&hostile_finding(), &origin, &options).to_line();
    assert_single_line(&line);
    assert!(line.len() > 10_000, "the 10 KB attribute is kept whole");
    let parsed = parse_rfc5424(&line);
    let large = parsed
        .params
        .iter()
        .find(|(_, name, _)| name == "large")
        .expect("large attribute");
    assert_eq!(large.2, "v]\"\\=|\\n\\x00é".repeat(1_100));
    assert!(
        parsed
            .params
            .iter()
            .any(|(_, name, _)| name == "bad_name___")
    );
    assert!(
        parsed
            .msg
            .starts_with("title a]b\"c\\d|e=f\\ng\\rh\\x00i\\tj\\x7fk\\u{0085}l Größe ✓ 日本")
    );
    text.push_str(&line);
    text.push('\n');
    common::check_golden("golden/syslog/hostile.log", &text);
}

#[test]
fn hostile_values_give_single_valid_cef_lines() {
    let device = hostile_device();
    let origin = common::origin();
    let context = EventContext {
        device: &device,
        origin: &origin,
        received_unix_ms: common::RECEIVED_MS,
    };
    let mut text = String::new();
    for event in hostile_events() {
        let line = cef::event_line(&event, &context);
        assert_single_line(&line);
        let (header, extension) = parse_cef(&line);
        assert_eq!(header.len(), 7);
        let host = extension
            .iter()
            .find(|(key, _)| key == "dvchost")
            .expect("dvchost");
        assert_eq!(host.1, "pump 17\nevil|host=ü");
        text.push_str(&line);
        text.push('\n');
    }
    let line = cef::finding_line(&hostile_finding(), &origin);
    assert_single_line(&line);
    let (header, extension) = parse_cef(&line);
    assert_eq!(header[4], "rule|with\\pipes");
    assert_eq!(
        header[5],
        format!(
            "title {}",
            HOSTILE_TEXT.replace(['\n', '\r', '\0', '\t', '\u{7f}', '\u{85}'], " ")
        )
    );
    let large = extension
        .iter()
        .find(|(key, _)| key == "palisadeLarge")
        .expect("large attribute");
    assert_eq!(large.1, "v]\"\\=|\n é".repeat(1_100));
    assert!(extension.iter().any(|(key, _)| key == "palisadeBadName"));
    text.push_str(&line);
    text.push('\n');
    common::check_golden("golden/cef/hostile.cef", &text);
}

struct Parsed {
    hostname: String,
    /// (SD-ID, PARAM-NAME, unescaped PARAM-VALUE)
    params: Vec<(String, String, String)>,
    msg: String,
}

/// Parses `line` strictly as RFC 5424: six header fields, then well-formed
/// structured data, then an optional BOM-prefixed MSG.
fn parse_rfc5424(line: &str) -> Parsed {
    let rest = line.strip_prefix('<').expect("PRI starts with <");
    let (pri, rest) = rest.split_once('>').expect("PRI ends with >");
    let pri: u8 = pri.parse().expect("PRI is a number");
    assert!(pri <= 191, "PRI {pri} out of range");
    let mut fields = rest.splitn(7, ' ');
    assert_eq!(fields.next(), Some("1"), "VERSION");
    let _timestamp = fields.next().expect("TIMESTAMP");
    let hostname = fields.next().expect("HOSTNAME").to_owned();
    for (field, max) in [
        (&hostname, 255),
        (&fields.next().expect("APP-NAME").to_owned(), 48),
    ] {
        assert!(
            !field.is_empty() && field.len() <= max && field.chars().all(|c| c.is_ascii_graphic())
        );
    }
    fields.next().expect("PROCID");
    let msgid = fields.next().expect("MSGID");
    assert!(msgid.len() <= 32);
    let mut rest = fields.next().expect("STRUCTURED-DATA");
    let mut params = Vec::new();
    if let Some(after) = rest.strip_prefix('-') {
        rest = after;
    } else {
        while let Some(after) = rest.strip_prefix('[') {
            let end = after.find([' ', ']']).expect("SD-ID ends");
            let id = after[..end].to_owned();
            let mut chars = after[end..].char_indices().peekable();
            let consumed;
            loop {
                let (index, character) = chars.next().expect("SD element ends with ]");
                if character == ']' {
                    consumed = end + index + 1;
                    break;
                }
                assert_eq!(character, ' ');
                let mut name = String::new();
                for (_, c) in chars.by_ref() {
                    if c == '=' {
                        break;
                    }
                    assert!(
                        c.is_ascii_graphic() && c != ']' && c != '"',
                        "bad PARAM-NAME character {c:?}"
                    );
                    name.push(c);
                }
                assert!(!name.is_empty(), "empty PARAM-NAME in {id}");
                assert!(name.len() <= 32, "PARAM-NAME {name} longer than 32");
                assert_eq!(chars.next().map(|(_, c)| c), Some('"'));
                let mut value = String::new();
                loop {
                    let (_, c) = chars.next().expect("PARAM-VALUE ends with a quote");
                    match c {
                        '"' => break,
                        '\\' => {
                            let (_, escaped) = *chars.peek().expect("escaped character");
                            if matches!(escaped, '"' | '\\' | ']') {
                                chars.next();
                                value.push(escaped);
                            } else {
                                value.push('\\');
                            }
                        }
                        ']' => panic!("unescaped ] in PARAM-VALUE of {id}"),
                        c => value.push(c),
                    }
                }
                params.push((id.clone(), name, value));
            }
            rest = &after[consumed..];
        }
    }
    let msg = match rest.strip_prefix(" \u{FEFF}") {
        Some(msg) => msg.to_owned(),
        None => {
            assert!(rest.is_empty(), "MSG without BOM: {rest:?}");
            String::new()
        }
    };
    Parsed {
        hostname,
        params,
        msg,
    }
}

/// Splits a CEF line into its seven unescaped header fields and its
/// unescaped extension pairs.
fn parse_cef(line: &str) -> (Vec<String>, Vec<(String, String)>) {
    let rest = line.strip_prefix("CEF:").expect("CEF prefix");
    let mut header = Vec::new();
    let mut field = String::new();
    let mut chars = rest.chars();
    while header.len() < 7 {
        let c = chars.next().expect("seven header fields");
        match c {
            '\\' => field.push(chars.next().expect("escaped character")),
            '|' => header.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    let extension: String = chars.collect();
    // A key starts after a space and is ASCII letters and digits up to an
    // unescaped '='.
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut buffer = String::new();
    let mut it = extension.chars().peekable();
    let mut pending_key: Option<String> = None;
    while let Some(c) = it.next() {
        match c {
            '\\' => match it.next().expect("escaped character") {
                'n' => buffer.push('\n'),
                'r' => buffer.push('\r'),
                other => buffer.push(other),
            },
            '=' => {
                // The key is the last word of the buffer.
                let split = buffer.rfind(' ').map_or(0, |index| index + 1);
                let key = buffer[split..].to_owned();
                assert!(
                    !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric()),
                    "bad key {key:?}"
                );
                let value = buffer[..split].trim_end_matches(' ').to_owned();
                if let Some(previous) = pending_key.take() {
                    pairs.push((previous, value));
                }
                pending_key = Some(key);
                buffer.clear();
            }
            c => buffer.push(c),
        }
    }
    if let Some(key) = pending_key {
        pairs.push((key, buffer));
    }
    (header, pairs)
}

#[test]
fn cef_parser_reads_escapes() {
    let (header, pairs) = parse_cef("CEF:0|a\\|b|c\\\\|1|sig|name|5|k1=v\\=1 x k2=line\\nnext");
    assert_eq!(header[1], "a|b");
    assert_eq!(header[2], "c\\");
    assert_eq!(
        pairs,
        vec![
            ("k1".into(), "v=1 x".into()),
            ("k2".into(), "line\nnext".into())
        ]
    );
}
