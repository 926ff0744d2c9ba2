//! Runs the `linux_agent` example against the real gateway server on
//! 127.0.0.1 and checks what the gateway wrote for the device.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use palisade_gateway::fleet::{HOST_DEVICE_ID, HostGateway};
use serde_json::Value;

/// Returns the example binary, which `cargo test` builds next to the test binaries.
fn example_binary() -> PathBuf {
    let test_binary = std::env::current_exe().unwrap();
    let profile_dir = test_binary.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile_dir.join("examples").join("linux_agent");
    assert!(binary.exists(), "{} not found", binary.display());
    binary
}

/// Runs the example, killing it after `limit`; stdout and stderr are read
/// while it runs, so a full pipe never blocks it.
fn run_bounded(args: &[String], limit: Duration) -> Output {
    let mut child = Command::new(example_binary())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the example starts");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).unwrap();
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

fn identity_args(pki: &Path, gateway: &str) -> Vec<String> {
    let file = |name: &str| pki.join(name).to_str().unwrap().to_string();
    vec![
        "--gateway".into(),
        gateway.into(),
        "--credential".into(),
        file("host-device.cred"),
        "--intermediate".into(),
        file("factory-intermediate.cred"),
        "--key".into(),
        file("host-device.key.pk8"),
        "--operator-root".into(),
        file("operator-root.cred"),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_gateway_and_are_acknowledged() {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("linux_agent_send");
    let gateway = HostGateway::start(&out).await.expect("gateway starts");
    let mut args = identity_args(gateway.pki_dir(), &gateway.addr().to_string());
    args.extend(["--scans".into(), "1".into()]);
    let output = tokio::task::spawn_blocking(move || run_bounded(&args, Duration::from_secs(45)))
        .await
        .unwrap();
    let acknowledged_by_server = gateway.stop().await.expect("gateway stops");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit status {}\nstderr:\n{stderr}",
        output.status
    );

    // The summary line reports every collected event as sent and acknowledged.
    let summary = stdout
        .lines()
        .find(|line| line.starts_with("scan 1: collected "))
        .unwrap_or_else(|| panic!("no summary line in:\n{stdout}"));
    let numbers: Vec<u64> = summary
        .split([' ', ',', ':'])
        .filter_map(|word| word.parse().ok())
        .collect();
    // scan number, collected, sent, acknowledged, waiting, dropped
    let [1, collected, sent, acknowledged, 0, 0] = numbers[..] else {
        panic!("unexpected summary {summary:?}");
    };
    assert!(collected > 0, "{summary}");
    assert_eq!(sent, collected, "{summary}");
    assert_eq!(acknowledged, collected, "{summary}");
    assert!(
        acknowledged_by_server >= collected,
        "server acknowledged {acknowledged_by_server} of {collected}"
    );
    let printed = stdout
        .lines()
        .filter(|line| !line.starts_with("scan "))
        .count() as u64;
    assert_eq!(printed, collected, "one printed line per collected event");

    // The gateway delivered the device's events as OCSF objects.
    let security = std::fs::read_to_string(out.join("security.jsonl")).unwrap();
    let device = hex(&HOST_DEVICE_ID);
    let from_device: Vec<Value> = security
        .lines()
        .filter(|line| line.contains(&device))
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(
        !from_device.is_empty(),
        "no object for device {device} in security.jsonl; first line: {:?}",
        security.lines().next()
    );
    let process_started = stdout
        .lines()
        .filter(|line| line.starts_with("process_started "))
        .count();
    assert!(process_started > 0, "this test's own process runs");
    let text = from_device
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        text.contains("linux_agent"),
        "the example's own process is among the delivered objects"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_outside_the_operator_root_is_refused() {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("linux_agent_send_wrong_root");
    let gateway = HostGateway::start(&out).await.expect("gateway starts");
    let mut args = identity_args(gateway.pki_dir(), &gateway.addr().to_string());
    // The OEM root did not issue the gateway's credential.
    let root = args.iter().position(|a| a == "--operator-root").unwrap() + 1;
    args[root] = gateway
        .pki_dir()
        .join("oem-root.cred")
        .to_str()
        .unwrap()
        .to_string();
    let output = tokio::task::spawn_blocking(move || run_bounded(&args, Duration::from_secs(45)))
        .await
        .unwrap();
    let acknowledged_by_server = gateway.stop().await.expect("gateway stops");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("handshake with the gateway"), "{stderr}");
    assert_eq!(acknowledged_by_server, 0);
}
