//! The process collector and its parsers, over real /proc samples.
#![cfg(feature = "linux")]

mod common;

use std::fs;

use common::{fixture, read_fixture};
use palisade_agent::linux::process::{
    StatError, parse_arguments, parse_cmdline, parse_passwd, parse_stat, parse_status_uid,
    read_process, redact_arguments,
};
use palisade_agent::linux::{Collector, ProcessCollector, ProcessConfig, Record};
use palisade_schema::EventKind;

#[test]
fn stat_name_with_spaces_and_parentheses() {
    let stat = parse_stat(read_fixture("root/proc/10708/stat").as_bytes()).unwrap();
    assert_eq!(stat.pid, 10708);
    assert_eq!(stat.comm, "a) b (c");
    assert_eq!(stat.state, 'S');
    assert_eq!(stat.parent_pid, 1);
    assert_eq!(stat.start_ticks, 130_374);
}

#[test]
fn stat_of_kernel_thread() {
    let stat = parse_stat(read_fixture("root/proc/10/stat").as_bytes()).unwrap();
    assert_eq!(stat.comm, "kworker/0:0H-events_highpri");
    assert_eq!(stat.parent_pid, 2);
}

#[test]
fn stat_rejects_malformed_lines() {
    assert_eq!(parse_stat(b"12 sleep S 1"), Err(StatError::MissingComm));
    assert_eq!(parse_stat(b"12 )sleep( S 1"), Err(StatError::MissingComm));
    assert_eq!(
        parse_stat(b"x (sleep) S 1"),
        Err(StatError::BadField { field: 1 })
    );
    assert_eq!(
        parse_stat(b"12 (sleep) S one"),
        Err(StatError::BadField { field: 4 })
    );
    assert_eq!(
        parse_stat(b"12 (sleep) S 1 2 3"),
        Err(StatError::BadField { field: 22 })
    );
    assert_eq!(
        parse_stat(b"12 (sleep) SS 1"),
        Err(StatError::BadField { field: 3 })
    );
}

#[test]
fn stat_accepts_non_utf8_name() {
    let mut line = b"7 (bad\xff) R 1".to_vec();
    line.extend(b" 0".repeat(17));
    line.extend(b" 99 0");
    let stat = parse_stat(&line).unwrap();
    assert_eq!(stat.comm, "bad\u{fffd}");
    assert_eq!(stat.start_ticks, 99);
}

#[test]
fn cmdline_nul_separated_to_spaces() {
    let bytes = fs::read(fixture("root/proc/10708/cmdline")).unwrap();
    assert_eq!(parse_cmdline(&bytes), "/tmp/a) b (c 300");
    assert_eq!(parse_cmdline(b""), "");
    assert_eq!(parse_cmdline(b"a\0\0b\0"), "a  b");
    // Processes that rewrite their title may drop the final NUL.
    assert_eq!(parse_cmdline(b"nginx: worker"), "nginx: worker");
}

#[test]
fn status_real_uid() {
    assert_eq!(
        parse_status_uid(&read_fixture("root/proc/18354/status")),
        Ok(0)
    );
    assert_eq!(
        parse_status_uid("Name:\tx\nUid:\t1000\t0\t0\t0\n"),
        Ok(1000)
    );
    assert!(parse_status_uid("Name:\tx\n").is_err());
    assert!(parse_status_uid("Uid:\tx\n").is_err());
}

#[test]
fn passwd_maps_uids() {
    let users = parse_passwd(&read_fixture("root/etc/passwd"));
    assert_eq!(users.get(&0).map(String::as_str), Some("root"));
    assert_eq!(users.get(&998).map(String::as_str), Some("infusion"));
    assert!(parse_passwd("broken line\n::\nx:y:z\n").is_empty());
}

#[test]
fn executable_falls_back_to_first_argument() {
    // Fixture directories have no `exe` link, as for another user's process.
    let snapshot = read_process(&fixture("root/proc"), 10708).unwrap();
    assert_eq!(snapshot.executable, "/tmp/a) b (c");
    assert_eq!(snapshot.command_line, "/tmp/a) b (c 300");
    let kernel = read_process(&fixture("root/proc"), 2).unwrap();
    assert_eq!(kernel.executable, "[kthreadd]");
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn starts(records: &[Record]) -> Vec<u32> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::ProcessStarted(p) => Some(p.pid),
            _ => None,
        })
        .collect()
}

#[test]
fn collector_reports_starts_then_exits() {
    let dir = tempfile::tempdir().unwrap();
    let proc_root = dir.path().join("proc");
    copy_tree(&fixture("root/proc"), &proc_root);
    let config = ProcessConfig {
        proc_root: proc_root.clone(),
        passwd: fixture("root/etc/passwd"),
        ..ProcessConfig::default()
    };
    let mut collector = ProcessCollector::new(config);
    let mut records = Vec::new();
    collector.collect(&mut records);
    assert_eq!(starts(&records), [2, 10, 10708, 18354]);
    let Some(Record::ProcessStarted(python)) = records.last() else {
        panic!("no process record")
    };
    assert_eq!(python.pid, 18354);
    assert_eq!(python.parent_pid, 1);
    assert_eq!(python.uid, 0);
    assert_eq!(python.user.as_deref(), Some("root"));
    assert_eq!(
        python.executable,
        "/root/.pyenv/versions/3.11.7/bin/python3"
    );
    assert_eq!(
        python.command_line,
        "/root/.pyenv/versions/3.11.7/bin/python3 -m http.server --bind 127.0.0.1 47010"
    );

    // Nothing changed: nothing to report.
    records.clear();
    collector.collect(&mut records);
    assert!(records.is_empty(), "{records:?}");

    // One process exits, another reuses pid 10 with a new start time.
    fs::remove_dir_all(proc_root.join("10708")).unwrap();
    let stat = fs::read_to_string(proc_root.join("10/stat")).unwrap();
    let (name, fields) = stat.rsplit_once(')').unwrap();
    let mut fields: Vec<String> = fields.split_whitespace().map(str::to_string).collect();
    fields[19] = "27".to_string();
    fs::write(
        proc_root.join("10/stat"),
        format!("{name}) {}", fields.join(" ")),
    )
    .unwrap();
    collector.collect(&mut records);
    assert_eq!(starts(&records), [10]);
    let exits: Vec<(u32, String)> = records
        .iter()
        .filter_map(|r| match r {
            Record::ProcessExited(p) => Some((p.pid, p.executable.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        exits,
        [
            (10, "[kworker/0:0H-events_highpri]".to_string()),
            (10708, "/tmp/a) b (c".to_string())
        ]
    );
}

#[test]
fn collector_reports_malformed_stat_and_continues() {
    let dir = tempfile::tempdir().unwrap();
    let proc_root = dir.path().join("proc");
    copy_tree(&fixture("root/proc"), &proc_root);
    fs::write(proc_root.join("2/stat"), "garbage without parentheses").unwrap();
    fs::write(proc_root.join("10/status"), "Name:\tno uid line\n").unwrap();
    let mut collector = ProcessCollector::new(ProcessConfig {
        proc_root,
        ..ProcessConfig::default()
    });
    let mut records = Vec::new();
    collector.collect(&mut records);
    assert_eq!(starts(&records), [10708, 18354]);
    let errors: Vec<&str> = records
        .iter()
        .filter_map(|r| match r {
            Record::CollectionError(e) => Some(e.reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].contains("parenthesized command name"),
        "{}",
        errors[0]
    );
    assert!(errors[1].contains("no Uid line"), "{}", errors[1]);
}

#[test]
fn unreadable_process_is_not_an_exit() {
    let dir = tempfile::tempdir().unwrap();
    let proc_root = dir.path().join("proc");
    copy_tree(&fixture("root/proc"), &proc_root);
    let mut collector = ProcessCollector::new(ProcessConfig {
        proc_root: proc_root.clone(),
        max_processes: 3,
        ..ProcessConfig::default()
    });
    let mut records = Vec::new();
    collector.collect(&mut records);
    assert_eq!(starts(&records), [2, 10, 10708]);

    let stat = fs::read(proc_root.join("2/stat")).unwrap();
    fs::write(proc_root.join("2/stat"), "garbage").unwrap();
    records.clear();
    collector.collect(&mut records);
    let kinds: Vec<EventKind> = records.iter().map(Record::kind).collect();
    assert_eq!(
        kinds,
        [EventKind::CollectionError, EventKind::CollectionError],
        "{records:?}"
    );

    fs::write(proc_root.join("2/stat"), stat).unwrap();
    records.clear();
    collector.collect(&mut records);
    let kinds: Vec<EventKind> = records.iter().map(Record::kind).collect();
    assert_eq!(
        kinds,
        [EventKind::CollectionError],
        "only the cap remains: {records:?}"
    );
}

#[test]
fn collector_reports_missing_proc() {
    let mut collector = ProcessCollector::new(ProcessConfig {
        proc_root: fixture("missing/proc"),
        ..ProcessConfig::default()
    });
    let mut records = Vec::new();
    collector.collect(&mut records);
    assert!(
        matches!(records.as_slice(), [Record::CollectionError(e)] if e.collector == "processes")
    );
}

#[test]
fn collector_caps_process_count() {
    let config = ProcessConfig {
        proc_root: fixture("root/proc"),
        max_processes: 2,
        ..ProcessConfig::default()
    };
    let mut collector = ProcessCollector::new(config);
    let mut records = Vec::new();
    collector.collect(&mut records);
    assert_eq!(starts(&records), [2, 10]);
    assert!(
        records.iter().any(
            |r| matches!(r, Record::CollectionError(e) if e.reason.contains("only the first 2"))
        )
    );
}

#[test]
fn collector_on_this_machine_finds_itself() {
    let mut collector = ProcessCollector::new(ProcessConfig::default());
    let mut records = Vec::new();
    collector.collect(&mut records);
    let me = std::process::id();
    let own = records.iter().find_map(|r| match r {
        Record::ProcessStarted(p) if p.pid == me => Some(p),
        _ => None,
    });
    let own = own.expect("the test process is reported");
    assert_eq!(
        own.executable,
        std::env::current_exe().unwrap().to_string_lossy()
    );
}

fn redacted(arguments: &[&str]) -> Vec<String> {
    let mut arguments: Vec<String> = arguments.iter().map(ToString::to_string).collect();
    redact_arguments(&mut arguments);
    arguments
}

#[test]
fn redaction_of_equals_form() {
    let cases = [
        ("--password=hunter2", "--password=***"),
        ("--db-passwd=x", "--db-passwd=***"),
        ("--client-secret=s3", "--client-secret=***"),
        ("--TOKEN=abc", "--TOKEN=***"),
        ("--api-key=k", "--api-key=***"),
        ("--apikey=k", "--apikey=***"),
        ("--api_key=k", "--api_key=***"),
        ("--key=k", "--key=***"),
        ("-key=k", "-key=***"),
        ("--credentials=c", "--credentials=***"),
        ("--auth=user:pw", "--auth=***"),
        ("--password=", "--password=***"),
        ("--password=a=b", "--password=***"),
        ("DB_PASSWORD=x", "DB_PASSWORD=***"),
    ];
    for (input, expected) in cases {
        assert_eq!(redacted(&["prog", input]), ["prog", expected], "{input}");
    }
}

#[test]
fn redaction_of_separate_value() {
    assert_eq!(
        redacted(&["prog", "--password", "hunter2", "--port", "80"]),
        ["prog", "--password", "***", "--port", "80"]
    );
    assert_eq!(
        redacted(&["prog", "-token", "abc"]),
        ["prog", "-token", "***"]
    );
    assert_eq!(redacted(&["prog", "--key", "k"]), ["prog", "--key", "***"]);
    // An option at the end has no value to redact.
    assert_eq!(redacted(&["prog", "--password"]), ["prog", "--password"]);
}

#[test]
fn redaction_keeps_other_arguments() {
    let kept = [
        "prog",
        "--keyfile=/etc/k.pem",
        "--port=8080",
        "key=value",
        "password",
        "--",
        "-v",
        "--bind",
        "127.0.0.1",
    ];
    assert_eq!(redacted(&kept), kept);
    // The program itself is never changed.
    assert_eq!(redacted(&["--password=x"]), ["--password=x"]);
}

#[test]
fn arguments_keep_boundaries() {
    assert_eq!(parse_arguments(b"a\0b c\0"), ["a", "b c"]);
    assert_eq!(parse_arguments(b""), Vec::<String>::new());
    assert_eq!(parse_arguments(b"a\0\0b\0"), ["a", "", "b"]);
}

fn command_lines(records: &[Record]) -> Vec<&str> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::ProcessStarted(p) => Some(p.command_line.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn collector_redacts_secrets_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let proc_root = dir.path().join("proc");
    copy_tree(&fixture("root/proc"), &proc_root);
    fs::write(
        proc_root.join("18354/cmdline"),
        b"/usr/bin/db-sync\0--password=hunter2\0--token\0abc123\0--host\0localhost\0",
    )
    .unwrap();
    let config = ProcessConfig {
        proc_root,
        ..ProcessConfig::default()
    };
    assert!(config.redact_secrets);

    let mut records = Vec::new();
    ProcessCollector::new(config.clone()).collect(&mut records);
    let lines = command_lines(&records);
    assert!(
        lines.contains(&"/usr/bin/db-sync --password=*** --token *** --host localhost"),
        "{lines:?}"
    );
    assert!(lines.iter().all(|l| !l.contains("hunter2")), "{lines:?}");

    let mut records = Vec::new();
    ProcessCollector::new(ProcessConfig {
        redact_secrets: false,
        ..config
    })
    .collect(&mut records);
    assert!(
        command_lines(&records)
            .contains(&"/usr/bin/db-sync --password=hunter2 --token abc123 --host localhost")
    );
}
