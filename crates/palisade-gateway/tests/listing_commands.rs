//! The `inventory` and `findings` commands of the `palisade-gateway`
//! binary on a real database: a table with a header, and a clear error
//! instead of a new empty database when `[paths] database` is wrong.

use std::path::Path;
use std::process::{Command, Output};

use palisade_gateway::config::Config;
use palisade_gateway::finding::{Finding, RuleId};
use palisade_gateway::inventory::Admission;
use palisade_gateway::metrics::Metrics;
use palisade_gateway::pipeline::GatewayCore;
use palisade_schema::{DeviceId, Severity};

fn write_config(dir: &Path, database: &Path) -> std::path::PathBuf {
    let path = dir.join("gateway.toml");
    std::fs::write(
        &path,
        format!(
            "[paths]\ndatabase = {:?}\noutput = {:?}\n",
            database,
            dir.join("out")
        ),
    )
    .unwrap();
    path
}

fn gateway(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_palisade-gateway"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn missing_database_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("no-such.sqlite");
    let config = write_config(dir.path(), &database);
    for command in ["inventory", "findings"] {
        let output = gateway(&[command, "--config", config.to_str().unwrap()]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{command}: {}",
            text(&output)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("database {} not found", database.display())),
            "{command}: {stderr}"
        );
        assert!(!database.exists(), "{command} created the database");
    }
}

#[test]
fn findings_table_has_header_and_severity_names() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("gateway.sqlite");
    let config_path = write_config(dir.path(), &database);
    let config = Config::load(&config_path).unwrap();
    let device = DeviceId([0x42; 16]);
    {
        let mut core = GatewayCore::open(config, Metrics::new()).unwrap();
        core.admit(&Admission {
            device,
            model: "IP-200".into(),
            vendor: "Acme Medical".into(),
            hardware: "rev C".into(),
            firmware: "unknown".into(),
            credential_serial: Some(5),
            address: Some("127.0.0.1:40100".parse().unwrap()),
            time_unix_ms: 1_000,
        })
        .unwrap();
        core.outbox()
            .store_finding(&Finding {
                rule: RuleId::UnknownDevice,
                severity: Severity::Medium,
                device: Some(device),
                summary: "connection attempt by an unknown device".into(),
                evidence: Vec::new(),
                time_unix_ms: 2_000,
                attributes: Default::default(),
            })
            .unwrap();
    }

    let output = gateway(&["findings", "--config", config_path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("RULE "), "{stdout}");
    assert!(lines[0].contains("SEVERITY"), "{stdout}");
    assert!(
        lines[1].starts_with("unknown_device         medium   "),
        "{stdout}"
    );
    assert_eq!(lines.last(), Some(&"1 findings"));

    let output = gateway(&["inventory", "--config", config_path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(&device.to_string()), "{stdout}");
    assert!(stdout.contains("1 devices"), "{stdout}");
}
