//! The login collector and its parsers: utmp records, auth logs, journal.
#![cfg(feature = "linux")]

mod common;

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::net::IpAddr;

use common::{fixture, read_fixture};
use palisade_agent::linux::login::{
    JournalError, SyslogError, UTMP_RECORD_LEN, UtmpError, UtmpSource, parse_auth_line,
    parse_journal_login, parse_syslog_line, parse_utmp, utmp_kind, utmp_login,
};
use palisade_agent::linux::{
    Collector, JournalMode, LoginCollector, LoginConfig, LoginEntry, Record,
};
use palisade_schema::{LoginAction, LoginMethod};

/// 2024-05-01T12:00:00Z, the "now" of the fixtures.
const NOW: u64 = 1_714_564_800_000;

fn ip(text: &str) -> Option<IpAddr> {
    Some(text.parse().unwrap())
}

#[test]
fn utmp_records_from_wtmp() {
    let bytes = fs::read(fixture("root/var/log/wtmp")).unwrap();
    assert_eq!(bytes.len(), 6 * UTMP_RECORD_LEN);
    let parsed = parse_utmp(&bytes);
    assert!(parsed.errors.is_empty());
    let kinds: Vec<i16> = parsed.items.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [
            utmp_kind::BOOT_TIME,
            utmp_kind::LOGIN_PROCESS,
            7,
            7,
            7,
            utmp_kind::DEAD_PROCESS
        ]
    );
    let alice = &parsed.items[2];
    assert_eq!(alice.user, "alice");
    assert_eq!(alice.line, "pts/0");
    assert_eq!(alice.host, "192.0.2.10");
    assert_eq!(alice.pid, 1234);
    assert_eq!(alice.address, ip("192.0.2.10"));
    assert_eq!(alice.time_unix_ms, 1_714_557_600_123);
    assert_eq!(parsed.items[3].address, ip("2001:db8::7"));
    assert_eq!(parsed.items[0].host, "6.1.0-21-amd64");
}

#[test]
fn wtmp_logins_and_logouts() {
    let parsed = parse_utmp(&fs::read(fixture("root/var/log/wtmp")).unwrap());
    let mut sessions = HashMap::new();
    let entries: Vec<LoginEntry> = parsed
        .items
        .iter()
        .filter_map(|r| utmp_login(r, UtmpSource::Wtmp, &mut sessions))
        .collect();
    let summary: Vec<(LoginAction, &str, Option<&str>, LoginMethod)> = entries
        .iter()
        .map(|e| (e.action, e.user.as_str(), e.terminal.as_deref(), e.method))
        .collect();
    assert_eq!(
        summary,
        [
            (
                LoginAction::Login,
                "alice",
                Some("pts/0"),
                LoginMethod::Unknown
            ),
            (
                LoginAction::Login,
                "bob",
                Some("pts/1"),
                LoginMethod::Unknown
            ),
            (LoginAction::Login, "root", Some("tty1"), LoginMethod::Local),
            (
                LoginAction::Logout,
                "alice",
                Some("pts/0"),
                LoginMethod::Unknown
            ),
        ]
    );
    assert_eq!(entries[1].source, ip("2001:db8::7"));
    assert_eq!(entries[3].time_unix_ms, Some(1_714_560_137_000));
}

#[test]
fn btmp_records_are_failed_logins() {
    let parsed = parse_utmp(&fs::read(fixture("root/var/log/btmp")).unwrap());
    let mut sessions = HashMap::new();
    let entries: Vec<LoginEntry> = parsed
        .items
        .iter()
        .filter_map(|r| utmp_login(r, UtmpSource::Btmp, &mut sessions))
        .collect();
    assert_eq!(entries.len(), 2);
    assert!(
        entries
            .iter()
            .all(|e| e.action == LoginAction::Failed && e.source == ip("198.51.100.23"))
    );
    assert_eq!(entries[0].user, "admin");
    assert_eq!(entries[0].terminal.as_deref(), Some("ssh:notty"));
}

#[test]
fn utmp_errors() {
    let bytes = fs::read(fixture("root/var/log/wtmp")).unwrap();
    let parsed = parse_utmp(&bytes[..UTMP_RECORD_LEN + 10]);
    assert_eq!(parsed.items.len(), 1);
    assert_eq!(
        parsed.errors,
        [UtmpError::Truncated {
            offset: UTMP_RECORD_LEN,
            len: 10
        }]
    );
    let mut bad = bytes[..UTMP_RECORD_LEN].to_vec();
    bad[0] = 42;
    assert_eq!(
        parse_utmp(&bad).errors,
        [UtmpError::BadType {
            offset: 0,
            kind: 42
        }]
    );
}

/// Action, user, method, terminal and source of one login entry.
type Summary<'a> = (
    LoginAction,
    &'a str,
    LoginMethod,
    Option<&'a str>,
    Option<IpAddr>,
);

fn entries_of(text: &str) -> Vec<LoginEntry> {
    text.lines()
        .filter_map(|line| parse_auth_line(line, NOW).unwrap())
        .collect()
}

#[test]
fn auth_log_rfc3164() {
    let entries = entries_of(&read_fixture("root/var/log/auth.log"));
    let summary: Vec<Summary<'_>> = entries
        .iter()
        .map(|e| {
            (
                e.action,
                e.user.as_str(),
                e.method,
                e.terminal.as_deref(),
                e.source,
            )
        })
        .collect();
    use LoginAction::*;
    use LoginMethod::*;
    let attacker = ip("198.51.100.23");
    assert_eq!(
        summary,
        [
            (Login, "alice", Password, Some("ssh"), ip("192.0.2.10")),
            (Login, "bob", PublicKey, Some("ssh"), ip("2001:db8::7")),
            (InvalidUser, "admin", Unknown, Some("ssh"), attacker),
            (InvalidUser, "admin", Password, Some("ssh"), attacker),
            (Failed, "root", Password, Some("ssh"), attacker),
            (Failed, "bob", PublicKey, Some("ssh"), ip("203.0.113.5")),
            (InvalidUser, "John Smith", Password, Some("ssh"), attacker),
            (Login, "root", Unknown, Some("sudo"), None),
            (Logout, "root", Unknown, Some("sudo"), None),
            (Failed, "root", Password, Some("su"), None),
            (Login, "root", Local, Some("login"), None),
            (Logout, "alice", Unknown, Some("sshd"), None),
            (Login, "carol", Password, Some("ssh"), ip("192.0.2.44")),
        ]
    );
    // May 1 10:00:00 in the year of NOW, UTC.
    assert_eq!(entries[0].time_unix_ms, Some(1_714_557_600_000));
}

#[test]
fn auth_log_iso8601() {
    let entries = entries_of(&read_fixture("log/auth-iso8601.log"));
    let times: Vec<Option<u64>> = entries.iter().map(|e| e.time_unix_ms).collect();
    assert_eq!(
        times,
        [
            Some(1_714_557_600_123),
            Some(1_714_558_811_000),
            Some(1_714_558_815_000),
            Some(1_714_560_662_500)
        ]
    );
    assert_eq!(
        entries[3].source,
        ip("198.51.100.23"),
        "IPv4-mapped source shown as IPv4"
    );
}

#[test]
fn auth_log_busybox() {
    let text = read_fixture("log/busybox-messages");
    let lines: Vec<&str> = text.lines().collect();
    // syslogd's own start line has no `program:` tag.
    assert_eq!(
        parse_syslog_line(lines[0], 2024),
        Err(SyslogError::MissingTag)
    );
    let headers: Vec<_> = lines[1..]
        .iter()
        .map(|l| parse_syslog_line(l, 2024).unwrap())
        .collect();
    assert_eq!(headers[0].program, "dropbear");
    assert_eq!(headers[0].pid, Some(811));
    assert_eq!(headers[1].host, Some("pump-17"));
    assert_eq!(headers[4].host, None);
    assert_eq!(
        headers[4].message,
        "Invalid user guest from 198.51.100.24 port 60100"
    );
    let entries: Vec<LoginEntry> = lines[1..]
        .iter()
        .filter_map(|l| parse_auth_line(l, NOW).unwrap())
        .collect();
    let users: Vec<(&str, LoginAction)> = entries
        .iter()
        .map(|e| (e.user.as_str(), e.action))
        .collect();
    assert_eq!(
        users,
        [
            ("alice", LoginAction::Login),
            ("admin", LoginAction::InvalidUser),
            ("root", LoginAction::Failed),
            ("guest", LoginAction::InvalidUser),
        ]
    );
}

#[test]
fn syslog_header_errors() {
    assert_eq!(
        parse_syslog_line("hello world", 2024),
        Err(SyslogError::BadTimestamp)
    );
    assert_eq!(
        parse_syslog_line("May 1 10:00 host sshd: x", 2024),
        Err(SyslogError::BadTimestamp)
    );
    assert_eq!(
        parse_syslog_line("Foo  1 10:00:00 host sshd: x", 2024),
        Err(SyslogError::BadTimestamp)
    );
    assert_eq!(
        parse_syslog_line("2024-13-01T10:00:00Z host sshd: x", 2024),
        Err(SyslogError::BadTimestamp)
    );
    assert_eq!(
        parse_syslog_line("2024-05-01T10:00:00+0200 host sshd: x", 2024),
        Err(SyslogError::BadTimestamp)
    );
    assert_eq!(
        parse_syslog_line("May  1 10:00:00 host a b c d", 2024),
        Err(SyslogError::MissingTag)
    );
    assert_eq!(
        parse_syslog_line("May  1 10:00:00 host sshd[x]: m", 2024),
        Err(SyslogError::MissingTag)
    );
}

#[test]
fn rfc3164_year_rolls_back_after_new_year() {
    // 2025-01-01T00:30:00Z: a December line belongs to 2024.
    let now = 1_735_691_400_000;
    let entry = parse_auth_line(
        "Dec 31 23:59:00 h sshd[1]: Failed password for root from 192.0.2.1 port 1 ssh2",
        now,
    )
    .unwrap()
    .unwrap();
    assert_eq!(entry.time_unix_ms, Some(1_735_689_540_000));
}

#[test]
fn journal_json() {
    let text = read_fixture("log/journal.json");
    let parsed: Vec<_> = text
        .lines()
        .map(|l| parse_journal_login(l).unwrap())
        .collect();
    let (first, cursor) = &parsed[0];
    let first = first.as_ref().unwrap();
    assert_eq!(
        (first.action, first.user.as_str(), first.method),
        (LoginAction::Login, "alice", LoginMethod::Password)
    );
    assert_eq!(first.time_unix_ms, Some(1_714_557_600_123));
    assert!(cursor.as_deref().unwrap().starts_with("s=6f1c"));
    // _COMM when SYSLOG_IDENTIFIER is missing; sshd-session is OpenSSH 9.8's name.
    assert_eq!(
        parsed[1].0.as_ref().unwrap().action,
        LoginAction::InvalidUser
    );
    // MESSAGE as an array of bytes with an invalid UTF-8 byte.
    let bytes_message = parsed[2].0.as_ref().unwrap();
    assert_eq!(bytes_message.user, "ad\u{fffd}min");
    assert_eq!(bytes_message.action, LoginAction::InvalidUser);
    assert_eq!(parsed[3].0.as_ref().unwrap().action, LoginAction::Logout);
    assert_eq!(parsed[4].0.as_ref().unwrap().method, LoginMethod::Local);
}

#[test]
fn journal_errors() {
    assert!(matches!(
        parse_journal_login("not json"),
        Err(JournalError::NotAnObject(_))
    ));
    assert!(matches!(
        parse_journal_login("[1,2]"),
        Err(JournalError::NotAnObject(_))
    ));
    assert_eq!(
        parse_journal_login(r#"{"_COMM":"sshd"}"#),
        Err(JournalError::BadMessage)
    );
    assert_eq!(
        parse_journal_login(r#"{"_COMM":"sshd","MESSAGE":[300]}"#),
        Err(JournalError::BadMessage)
    );
    assert_eq!(
        parse_journal_login(r#"{"MESSAGE":"x"}"#),
        Err(JournalError::MissingIdentifier)
    );
}

fn login_config(dir: &std::path::Path) -> LoginConfig {
    LoginConfig {
        wtmp: dir.join("wtmp"),
        btmp: dir.join("btmp"),
        auth_logs: vec![dir.join("auth.log")],
        journal: JournalMode::Never,
        ..LoginConfig::default()
    }
}

fn logins(records: &[Record]) -> Vec<(LoginAction, String)> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Login(e) => Some((e.action, e.user.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn collector_reads_only_what_was_appended() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["wtmp", "btmp", "auth.log"] {
        fs::copy(
            fixture(&format!("root/var/log/{name}")),
            dir.path().join(name),
        )
        .unwrap();
    }
    let mut collector = LoginCollector::new(login_config(dir.path()));
    let mut records = Vec::new();
    collector.collect(&mut records);
    assert_eq!(logins(&records).len(), 4 + 2 + 13);

    records.clear();
    collector.collect(&mut records);
    assert!(records.is_empty(), "{records:?}");

    // Half a line is kept back until its newline arrives.
    let mut log = fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("auth.log"))
        .unwrap();
    log.write_all(b"May  1 11:00:00 pump-17 sshd[1900]: Failed password for dave from 192.0.2.9 port 1 ssh2\nMay  1 11:00:01 pump-17 sshd[1900]: Failed password").unwrap();
    collector.collect(&mut records);
    assert_eq!(
        logins(&records),
        [(LoginAction::Failed, "dave".to_string())]
    );
    log.write_all(b" for erin from 192.0.2.9 port 1 ssh2\n")
        .unwrap();
    records.clear();
    collector.collect(&mut records);
    assert_eq!(
        logins(&records),
        [(LoginAction::Failed, "erin".to_string())]
    );

    // A rotated btmp (new file, smaller) is read from its start.
    let btmp = fs::read(dir.path().join("btmp")).unwrap();
    fs::remove_file(dir.path().join("btmp")).unwrap();
    fs::write(dir.path().join("btmp"), &btmp[..UTMP_RECORD_LEN]).unwrap();
    records.clear();
    collector.collect(&mut records);
    assert_eq!(
        logins(&records),
        [(LoginAction::Failed, "admin".to_string())]
    );
}

#[test]
fn collector_first_scan_reads_bounded_history() {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(fixture("root/var/log/wtmp"), dir.path().join("wtmp")).unwrap();
    fs::copy(
        fixture("root/var/log/auth.log"),
        dir.path().join("auth.log"),
    )
    .unwrap();
    let config = LoginConfig {
        history_bytes: 2 * UTMP_RECORD_LEN as u64 + 1,
        ..login_config(dir.path())
    };
    let mut collector = LoginCollector::new(config);
    let mut records = Vec::new();
    collector.collect(&mut records);
    // wtmp: the last two whole records (the start is rounded up to a record
    // boundary); auth.log: the last 769 bytes, without the partial line.
    let found = logins(&records);
    assert_eq!(found[0], (LoginAction::Login, "root".to_string()));
    // The login on pts/0 was before the history read, so the user is unknown.
    assert_eq!(found[1], (LoginAction::Logout, String::new()));
    assert_eq!(
        found.last().unwrap(),
        &(LoginAction::Login, "carol".to_string())
    );
    assert!(found.len() < 1 + 13);
}

#[test]
fn collector_reports_bad_lines_and_keeps_going() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = read_fixture("root/var/log/auth.log");
    text.insert_str(0, "this line has no timestamp\n");
    text.push_str(&"x".repeat(201));
    text.push('\n');
    fs::write(dir.path().join("auth.log"), text).unwrap();
    fs::write(dir.path().join("wtmp"), vec![0xAB; UTMP_RECORD_LEN]).unwrap();
    let config = LoginConfig {
        limits: palisade_agent::linux::Limits {
            max_line_bytes: 200,
            ..Default::default()
        },
        ..login_config(dir.path())
    };
    let mut collector = LoginCollector::new(config);
    let mut records = Vec::new();
    collector.collect(&mut records);
    let reasons: Vec<&str> = records
        .iter()
        .filter_map(|r| match r {
            Record::CollectionError(e) => Some(e.reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons[0].contains("ut_type"));
    assert!(reasons[1].contains("line 1 of this scan"));
    assert!(reasons[1].contains("timestamp"));
    assert!(reasons[2].contains("201 bytes exceeds the line limit"));
    assert_eq!(logins(&records).len(), 13);
}

#[test]
fn collector_caps_errors_per_scan() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("auth.log"), "garbage\n".repeat(20)).unwrap();
    let mut collector = LoginCollector::new(login_config(dir.path()));
    let mut records = Vec::new();
    collector.collect(&mut records);
    assert_eq!(records.len(), 8 + 1);
    assert!(
        matches!(&records[8], Record::CollectionError(e) if e.reason.starts_with("12 more errors"))
    );
}

#[test]
fn collector_reports_missing_journalctl_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = LoginConfig {
        journal: JournalMode::WhenNoAuthLog,
        journalctl: dir.path().join("no-such-journalctl"),
        ..login_config(dir.path())
    };
    let mut collector = LoginCollector::new(config);
    let mut records = Vec::new();
    collector.collect(&mut records);
    assert!(
        matches!(records.as_slice(), [Record::CollectionError(e)] if e.reason.starts_with("cannot run journalctl"))
    );
    records.clear();
    collector.collect(&mut records);
    assert!(records.is_empty());
}

#[test]
fn collector_runs_real_journalctl() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    fs::create_dir(&journal).unwrap();
    let config = LoginConfig {
        journal: JournalMode::Always,
        journal_directory: Some(journal),
        ..login_config(dir.path())
    };
    let mut collector = LoginCollector::new(config);
    let mut records = Vec::new();
    collector.collect(&mut records);
    let installed = std::process::Command::new("journalctl")
        .arg("--version")
        .output()
        .is_ok();
    if installed {
        // An empty journal directory: journalctl succeeds with no entries.
        assert!(records.is_empty(), "{records:?}");
    } else {
        assert!(
            matches!(records.as_slice(), [Record::CollectionError(e)] if e.reason.starts_with("cannot run journalctl"))
        );
    }
}
