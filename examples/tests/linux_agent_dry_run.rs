//! Runs the `linux_agent` example on this machine and checks its output
//! against `/proc/net/tcp` and `/proc/net/tcp6` read by the test itself.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

/// Returns the example binary, which `cargo test` builds next to the test binaries.
fn example_binary() -> PathBuf {
    let test_binary = std::env::current_exe().unwrap();
    let profile_dir = test_binary.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile_dir.join("examples").join("linux_agent");
    assert!(
        binary.exists(),
        "{} not found; build it with `cargo build -p palisade-examples --example linux_agent`",
        binary.display()
    );
    binary
}

fn run(args: &[&str]) -> Output {
    Command::new(example_binary())
        .args(args)
        .output()
        .expect("the example starts")
}

/// Listening TCP sockets of `/proc/net/tcp` and `tcp6`, parsed here
/// independently of the collector: state `0A`, address words in host order.
fn proc_tcp_listeners() -> BTreeSet<SocketAddr> {
    let mut listeners = BTreeSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let columns: Vec<&str> = line.split_whitespace().collect();
            if columns.get(3) != Some(&"0A") {
                continue;
            }
            let (hex, port) = columns[1].split_once(':').unwrap();
            let port = u16::from_str_radix(port, 16).unwrap();
            let words: Vec<[u8; 4]> = (0..hex.len() / 8)
                .map(|i| {
                    u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16)
                        .unwrap()
                        .to_ne_bytes()
                })
                .collect();
            let ip = match words.as_slice() {
                [a] => IpAddr::V4(Ipv4Addr::from(*a)),
                [a, b, c, d] => {
                    let octets: Vec<u8> = [a, b, c, d]
                        .iter()
                        .flat_map(|w| w.iter().copied())
                        .collect();
                    IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(octets).unwrap()))
                }
                _ => panic!("unexpected address {hex}"),
            };
            listeners.insert(SocketAddr::new(ip.to_canonical(), port));
        }
    }
    listeners
}

#[test]
fn dry_run_json_reports_this_machine() {
    // Listeners of this test, so at least one of each family exists.
    let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
    let v6 = TcpListener::bind("[::1]:0").ok();
    let before = proc_tcp_listeners();
    let output = run(&["--dry-run", "--json"]);
    let after = proc_tcp_listeners();
    assert!(
        output.status.success(),
        "exit status {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );

    let stdout = String::from_utf8(output.stdout).unwrap();
    let events: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|event| {
            event
                .get("kind")
                .and_then(Value::as_str)
                .expect("every event has a kind")
        })
        .collect();
    for kind in &kinds {
        assert!(
            palisade_schema::EventKind::from_name(kind).is_some(),
            "unknown kind {kind}"
        );
    }
    let count = |kind: &str| kinds.iter().filter(|k| **k == kind).count();
    assert!(count("process_started") >= 1);
    assert!(
        count("baseline_check") >= 5,
        "one result per built-in check"
    );
    assert_eq!(count("system_info"), 1);
    let dpkg = std::fs::read_to_string("/var/lib/dpkg/status").unwrap_or_default();
    let installed = dpkg
        .split("\n\n")
        .filter(|p| p.contains("\nStatus: install ok installed"))
        .count();
    assert!(installed > 0, "this machine has a dpkg database");
    assert_eq!(count("software_component"), installed);

    let reported: BTreeSet<SocketAddr> = events
        .iter()
        .filter(|e| e["kind"] == "listening_port_opened" && e["protocol"] == "tcp")
        .map(|e| e["local"].as_str().unwrap().parse().unwrap())
        .collect();
    let stable: BTreeSet<SocketAddr> = before.intersection(&after).copied().collect();
    assert!(stable.contains(&v4.local_addr().unwrap()));
    let missing: Vec<&SocketAddr> = stable.difference(&reported).collect();
    assert!(
        missing.is_empty(),
        "listening TCP sockets not reported: {missing:?}"
    );

    let own = events
        .iter()
        .find(|e| {
            e["kind"] == "listening_port_opened"
                && e["local"] == v4.local_addr().unwrap().to_string()
        })
        .unwrap();
    assert!(
        own["pid"].is_u64(),
        "the owning process is found through /proc/<pid>/fd: {own}"
    );
    if let Some(v6) = v6 {
        assert!(reported.contains(&v6.local_addr().unwrap()));
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("dry run finished"),
        "logs go to stderr: {stderr}"
    );
}

#[test]
fn dry_run_text_is_one_line_per_event() {
    let output = run(&["--dry-run"]);
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.lines().any(|l| l.starts_with("system_info ")));
    assert!(stdout.lines().any(|l| l.starts_with("baseline_check ")));
    assert!(stdout.lines().all(|l| !l.starts_with('{')));
}

#[test]
fn sending_without_identity_files_fails_clearly() {
    let output = run(&["--gateway", "127.0.0.1:7443"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("missing --credential FILE"), "{stderr}");
    let output = run(&[
        "--gateway",
        "127.0.0.1:7443",
        "--credential",
        "d.cred",
        "--intermediate",
        "i.cred",
        "--key",
        "d.pk8",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("missing --operator-root FILE"), "{stderr}");
    let output = run(&[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--gateway"));
}

#[test]
fn invalid_arguments_are_rejected() {
    let output = run(&["--dry-run", "--scans", "many"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid --scans value \"many\""));
}

#[test]
fn zero_scans_are_rejected() {
    let output = run(&["--dry-run", "--scans", "0"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--scans must be at least 1"), "{stderr}");
}

#[test]
fn missing_root_is_rejected() {
    let dir = std::env::temp_dir().join("palisade-linux-agent-no-such-root");
    let output = run(&["--dry-run", "--root", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty(), "nothing is collected");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not a directory"), "{stderr}");
}

#[test]
fn empty_root_reports_errors_not_passes() {
    let dir =
        std::env::temp_dir().join(format!("palisade-linux-agent-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = run(&["--dry-run", "--json", "--root", dir.to_str().unwrap()]);
    std::fs::remove_dir(&dir).unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let events: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    for check in [
        "palisade.fs.world_writable",
        "palisade.net.listening_all_interfaces",
    ] {
        let event = events
            .iter()
            .find(|e| e["check_id"] == check)
            .unwrap_or_else(|| panic!("no {check} result"));
        assert_eq!(event["result"], "error", "{event}");
    }
    for collector in ["network", "software", "processes", "baseline"] {
        assert!(
            events
                .iter()
                .any(|e| e["kind"] == "collection_error" && e["collector"] == collector),
            "no collection error from {collector}"
        );
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("dry run started: 1 scan,"), "{stderr}");
}

#[test]
fn help_names_snapshot_collectors() {
    let output = run(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("full"), "{help}");
    assert!(
        help.contains("snapshots printed again on every scan"),
        "{help}"
    );
}
