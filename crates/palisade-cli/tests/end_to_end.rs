//! Runs the built `palisade` binary through the factory flow: key
//! generation, issuing a root, an intermediate and a device credential,
//! verifying the chain, and rejecting it after a one-byte change.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn palisade(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(args)
        .output()
        .expect("palisade binary runs")
}

fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn run_ok(args: &[&str]) -> Output {
    let output = palisade(args);
    assert!(
        output.status.success(),
        "palisade {args:?} failed: {}",
        text(&output)
    );
    output
}

fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

fn s(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

struct Factory {
    _dir: tempfile::TempDir,
    root_key: PathBuf,
    root: PathBuf,
    intermediate_key: PathBuf,
    intermediate: PathBuf,
    device_key: PathBuf,
    device: PathBuf,
    dir: PathBuf,
}

fn factory() -> Factory {
    let temp = tempfile::tempdir().expect("temporary directory");
    let dir = temp.path().to_path_buf();
    let root_key = path(&dir, "root.pk8");
    let intermediate_key = path(&dir, "line1.pk8");
    let device_key = path(&dir, "device.pk8");
    for key in [&root_key, &intermediate_key, &device_key] {
        run_ok(&["keygen", "--out", s(key)]);
    }
    let root = path(&dir, "root.cred");
    let intermediate = path(&dir, "line1.cred");
    let device = path(&dir, "device.cred");
    run_ok(&[
        "issue",
        "root",
        "--key",
        s(&root_key),
        "--not-before",
        "1700000000",
        "--serial",
        "1",
        "--vendor",
        "4660",
        "--out",
        s(&root),
    ]);
    run_ok(&[
        "issue",
        "intermediate",
        "--issuer-key",
        s(&root_key),
        "--subject-key",
        s(&intermediate_key),
        "--not-before",
        "1700000000",
        "--not-after",
        "2000000000",
        "--model",
        "42,7",
        "--serial",
        "10",
        "--out",
        s(&intermediate),
    ]);
    run_ok(&[
        "issue",
        "device",
        "--issuer-key",
        s(&intermediate_key),
        "--subject-key",
        s(&device_key),
        "--device-id",
        "d00102030405060708090a0b0c0d0e0f",
        "--model",
        "42",
        "--hardware-revision",
        "3",
        "--not-before",
        "1750000000",
        "--not-after",
        "1950000000",
        "--serial",
        "1000",
        "--out",
        s(&device),
    ]);
    Factory {
        _dir: temp,
        root_key,
        root,
        intermediate_key,
        intermediate,
        device_key,
        device,
        dir,
    }
}

#[test]
fn verify_accepts_then_rejects_flipped_byte() {
    let f = factory();
    let verified = run_ok(&[
        "verify",
        "--anchor",
        s(&f.root),
        "--at",
        "1800000000",
        s(&f.intermediate),
        s(&f.device),
    ]);
    let stdout = String::from_utf8_lossy(&verified.stdout);
    assert!(
        stdout.contains("OK: device d00102030405060708090a0b0c0d0e0f"),
        "{stdout}"
    );

    // Flip one byte inside the device's public key: the signature no longer verifies.
    let mut bytes = std::fs::read(&f.device).unwrap();
    let offset = 60;
    bytes[offset] ^= 0x01;
    let tampered = path(&f.dir, "tampered.cred");
    std::fs::write(&tampered, &bytes).unwrap();
    let output = palisade(&[
        "verify",
        "--anchor",
        s(&f.root),
        "--at",
        "1800000000",
        s(&f.intermediate),
        s(&tampered),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("signature on credential does not verify"),
        "{}",
        text(&output)
    );
    assert!(stderr.contains("reason code 22"), "{}", text(&output));
}

#[test]
fn verify_rejects_every_single_byte_flip() {
    let f = factory();
    let original = std::fs::read(&f.device).unwrap();
    let tampered = path(&f.dir, "tampered.cred");
    for offset in (0..original.len()).step_by(17) {
        let mut bytes = original.clone();
        bytes[offset] ^= 0x80;
        std::fs::write(&tampered, &bytes).unwrap();
        let output = palisade(&[
            "verify",
            "--anchor",
            s(&f.root),
            "--at",
            "1800000000",
            s(&f.intermediate),
            s(&tampered),
        ]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "byte {offset}: {}",
            text(&output)
        );
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("reason code"),
            "byte {offset}: {}",
            text(&output)
        );
    }
}

#[test]
fn verify_rejects_expired_and_unknown_root() {
    let f = factory();
    let output = palisade(&[
        "verify",
        "--anchor",
        s(&f.root),
        "--at",
        "1960000000",
        s(&f.intermediate),
        s(&f.device),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("expired"),
        "{}",
        text(&output)
    );

    let other_key = path(&f.dir, "other.pk8");
    let other_root = path(&f.dir, "other.cred");
    run_ok(&["keygen", "--out", s(&other_key)]);
    run_ok(&[
        "issue",
        "root",
        "--key",
        s(&other_key),
        "--not-before",
        "1700000000",
        "--out",
        s(&other_root),
    ]);
    let output = palisade(&[
        "verify",
        "--anchor",
        s(&other_root),
        "--at",
        "1800000000",
        s(&f.intermediate),
        s(&f.device),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("is not a pinned root"),
        "{}",
        text(&output)
    );

    // Both roots pinned (rollover): accepted again.
    run_ok(&[
        "verify",
        "--anchor",
        s(&other_root),
        "--anchor",
        s(&f.root),
        "--at",
        "1800000000",
        s(&f.intermediate),
        s(&f.device),
    ]);
}

#[test]
fn inspect_prints_text_and_json() {
    let f = factory();
    let output = run_ok(&["inspect", s(&f.device)]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("kind:              device"), "{stdout}");
    assert!(
        stdout.contains("device id:         d00102030405060708090a0b0c0d0e0f"),
        "{stdout}"
    );

    let output = run_ok(&["inspect", "--json", s(&f.intermediate)]);
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
    assert_eq!(value["kind"], "intermediate");
    assert_eq!(value["serial"], "10");
    assert_eq!(value["issuer_limits"]["models"], serde_json::json!([7, 42]));
    assert_eq!(value["validity"]["not_after"], "2000000000");

    let output = run_ok(&["inspect", "--json", s(&f.root)]);
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
    assert_eq!(value["validity"]["not_after"], "never");
}

#[test]
fn revoke_then_verify_rejects_device() {
    let f = factory();
    let inspect = run_ok(&["inspect", "--json", s(&f.device)]);
    let device: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    let issuer = device["issuer_key_id"].as_str().unwrap();
    let list = path(&f.dir, "revoked.rl");
    run_ok(&[
        "revoke",
        "--key",
        s(&f.root_key),
        "--number",
        "1",
        "--credential",
        &format!("{issuer}:1000"),
        "--out",
        s(&list),
    ]);
    let listed = run_ok(&["inspect", "--json", s(&list)]);
    let value: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(value["type"], "revocation_list");
    assert_eq!(value["revoked_credentials"][0]["serial"], "1000");

    let output = palisade(&[
        "verify",
        "--anchor",
        s(&f.root),
        "--revocation-list",
        s(&list),
        s(&f.intermediate),
        s(&f.device),
    ]);
    // Without --at the current time is used; the fixture credentials are valid from 2025-06 to 2031-10.
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("is revoked"),
        "{}",
        text(&output)
    );
}

#[test]
fn sign_command_and_inspect() {
    let f = factory();
    let gateway_key = path(&f.dir, "gateway.pk8");
    let gateway = path(&f.dir, "gateway.cred");
    run_ok(&["keygen", "--out", s(&gateway_key)]);
    run_ok(&[
        "issue",
        "gateway",
        "--issuer-key",
        s(&f.root_key),
        "--subject-key",
        s(&gateway_key),
        "--not-before",
        "1700000000",
        "--out",
        s(&gateway),
    ]);
    run_ok(&["verify", "--anchor", s(&f.root), s(&gateway)]);
    let command = path(&f.dir, "isolate.cmd");
    run_ok(&[
        "sign-command",
        "--key",
        s(&gateway_key),
        "--credential",
        s(&gateway),
        "--target",
        "d00102030405060708090a0b0c0d0e0f",
        "--action",
        "isolate-network",
        "--counter",
        "12",
        "--out",
        s(&command),
    ]);
    let output = run_ok(&["inspect", "--json", s(&command)]);
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["type"], "command");
    assert_eq!(value["action"]["name"], "isolate-network");
    assert_eq!(value["counter"], "12");
    assert_eq!(value["signer"]["kind"], "gateway");

    // A key that does not match the credential is refused.
    let output = palisade(&[
        "sign-command",
        "--key",
        s(&f.device_key),
        "--credential",
        s(&gateway),
        "--target",
        "d00102030405060708090a0b0c0d0e0f",
        "--action",
        "isolate-network",
        "--counter",
        "13",
        "--out",
        s(&command),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
}

#[test]
fn keygen_refuses_to_overwrite() {
    let f = factory();
    let output = palisade(&["keygen", "--out", s(&f.intermediate_key)]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--force"),
        "{}",
        text(&output)
    );
}

#[test]
fn issue_rejects_malformed_key_file() {
    let f = factory();
    let output = palisade(&[
        "issue",
        "root",
        "--key",
        s(&f.device),
        "--out",
        s(&path(&f.dir, "x.cred")),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("PKCS#8"),
        "{}",
        text(&output)
    );
}

#[test]
fn verify_rejects_stale_revocation_list() {
    let f = factory();
    let list = path(&f.dir, "empty.rl");
    run_ok(&[
        "revoke",
        "--key",
        s(&f.root_key),
        "--number",
        "2",
        "--valid-for",
        "60",
        "--out",
        s(&list),
    ]);
    // Fresh now: accepted.
    run_ok(&[
        "verify",
        "--anchor",
        s(&f.root),
        "--revocation-list",
        s(&list),
        s(&f.intermediate),
        s(&f.device),
    ]);
    // A day later the list is past its next-update time.
    let inspect = run_ok(&["inspect", "--json", s(&list)]);
    let value: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    let next_update: u64 = value["next_update"].as_str().unwrap().parse().unwrap();
    let later = (next_update + 86_400).to_string();
    let output = palisade(&[
        "verify",
        "--anchor",
        s(&f.root),
        "--revocation-list",
        s(&list),
        "--at",
        &later,
        s(&f.intermediate),
        s(&f.device),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("install a new list"),
        "{}",
        text(&output)
    );
}

/// Issues a gateway credential signed by the factory root; returns (key, credential).
fn gateway(f: &Factory, name: &str, extra: &[&str]) -> (PathBuf, PathBuf) {
    let key = path(&f.dir, &format!("{name}.pk8"));
    let credential = path(&f.dir, &format!("{name}.cred"));
    run_ok(&["keygen", "--out", s(&key)]);
    let mut args = vec![
        "issue",
        "gateway",
        "--issuer-key",
        s(&f.root_key),
        "--subject-key",
        s(&key),
        "--not-before",
        "1700000000",
        "--out",
        s(&credential),
    ];
    args.extend_from_slice(extra);
    run_ok(&args);
    (key, credential)
}

#[test]
fn inspect_json_prints_u64_as_strings() {
    let f = factory();
    let big = "18446744073709551557";
    let credential = path(&f.dir, "big.cred");
    run_ok(&[
        "issue",
        "root",
        "--key",
        s(&f.root_key),
        "--serial",
        big,
        "--not-before",
        "1700000000",
        "--not-after",
        "never",
        "--out",
        s(&credential),
    ]);
    let output = run_ok(&["inspect", "--json", s(&credential)]);
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["serial"], big);
    assert_eq!(value["validity"]["not_before"], "1700000000");
    assert_eq!(value["validity"]["not_after"], "never");
    assert_eq!(value["signature_checked"], false);

    let list = path(&f.dir, "big.rl");
    run_ok(&[
        "revoke",
        "--key",
        s(&f.root_key),
        "--number",
        "9007199254740993",
        "--credential",
        &format!("{}:{big}", value["key_id"].as_str().unwrap()),
        "--out",
        s(&list),
    ]);
    let output = run_ok(&["inspect", "--json", s(&list)]);
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["number"], "9007199254740993");
    assert_eq!(value["revoked_credentials"][0]["serial"], big);
    assert!(value["next_update"].is_string(), "{value}");

    let (gateway_key, gateway) = gateway(&f, "gateway", &[]);
    let command = path(&f.dir, "big.cmd");
    run_ok(&[
        "sign-command",
        "--key",
        s(&gateway_key),
        "--credential",
        s(&gateway),
        "--target",
        "d00102030405060708090a0b0c0d0e0f",
        "--action",
        "custom",
        "--custom-code",
        "7",
        "--custom-argument",
        "18446744073709551615",
        "--counter",
        "9007199254740993",
        "--command-id",
        "9007199254740995",
        "--out",
        s(&command),
    ]);
    let output = run_ok(&["inspect", "--json", s(&command)]);
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["counter"], "9007199254740993");
    assert_eq!(value["command_id"], "9007199254740995");
    assert_eq!(value["action"]["code"], 7);
    assert_eq!(value["action"]["argument"], "18446744073709551615");
    assert_eq!(value["signer"]["kind"], "gateway");

    let help = run_ok(&["inspect", "--help"]);
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("decimal string"),
        "{}",
        text(&help)
    );
}

#[test]
fn inspect_json_marks_any_model() {
    let f = factory();
    let any = path(&f.dir, "any.cred");
    run_ok(&[
        "issue",
        "intermediate",
        "--issuer-key",
        s(&f.root_key),
        "--subject-key",
        s(&f.intermediate_key),
        "--out",
        s(&any),
    ]);
    let output = run_ok(&["inspect", "--json", s(&any)]);
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["issuer_limits"]["models"], "any");
    let output = run_ok(&["inspect", s(&any)]);
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("models:            any"),
        "{}",
        text(&output)
    );
}

#[test]
fn writers_refuse_to_overwrite() {
    let f = factory();
    let (gateway_key, gateway) = gateway(&f, "gateway", &[]);
    let existing = path(&f.dir, "existing.bin");
    let issue_root = [
        "issue",
        "root",
        "--key",
        s(&f.root_key),
        "--out",
        s(&existing),
    ];
    let revoke = [
        "revoke",
        "--key",
        s(&f.root_key),
        "--number",
        "1",
        "--out",
        s(&existing),
    ];
    let sign = [
        "sign-command",
        "--key",
        s(&gateway_key),
        "--credential",
        s(&gateway),
        "--target",
        "d00102030405060708090a0b0c0d0e0f",
        "--action",
        "isolate-network",
        "--counter",
        "1",
        "--out",
        s(&existing),
    ];
    for args in [&issue_root[..], &revoke[..], &sign[..]] {
        std::fs::write(&existing, b"keep me").unwrap();
        let output = palisade(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", text(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("exists; pass --force to overwrite it"),
            "{args:?}: {}",
            text(&output)
        );
        assert_eq!(std::fs::read(&existing).unwrap(), b"keep me", "{args:?}");

        let mut forced = args.to_vec();
        forced.push("--force");
        run_ok(&forced);
        assert_ne!(std::fs::read(&existing).unwrap(), b"keep me", "{args:?}");
    }
}

#[test]
fn revoke_reports_singular_counts() {
    let f = factory();
    let list = path(&f.dir, "one.rl");
    let output = run_ok(&[
        "revoke",
        "--key",
        s(&f.root_key),
        "--number",
        "1",
        "--credential",
        "0123456789abcdef:5",
        "--issuer",
        "0123456789abcdef",
        "--out",
        s(&list),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("1 credential revoked, 1 issuer revoked"),
        "{stdout}"
    );
}

#[test]
fn inspect_into_closed_pipe_exits_zero() {
    let f = factory();
    let (reader, writer) = std::io::pipe().expect("pipe");
    // The reader is gone before palisade writes anything.
    drop(reader);
    let output = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["inspect", s(&f.device)])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("palisade binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}

#[test]
fn help_lists_exit_codes() {
    let output = run_ok(&["--help"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("Exit codes:"), "{stdout}");
    assert!(
        stdout.contains("1  a verification rejected the input"),
        "{stdout}"
    );
    assert!(
        stdout.contains("2  usage, file or encoding error"),
        "{stdout}"
    );
}

fn sign_args<'a>(
    key: &'a Path,
    credential: &'a Path,
    counter: &'a str,
    out: &'a Path,
) -> Vec<&'a str> {
    vec![
        "sign-command",
        "--key",
        s(key),
        "--credential",
        s(credential),
        "--target",
        "d00102030405060708090a0b0c0d0e0f",
        "--action",
        "isolate-network",
        "--counter",
        counter,
        "--out",
        s(out),
    ]
}

#[test]
fn sign_command_rejects_signer_without_usage() {
    let f = factory();
    let out = path(&f.dir, "refused.cmd");

    let output = palisade(&sign_args(&f.device_key, &f.device, "1", &out));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(s(&f.device)), "{}", text(&output));
    assert!(
        stderr.contains("is a device credential"),
        "{}",
        text(&output)
    );
    assert!(stderr.contains("sign-commands usage"), "{}", text(&output));
    assert!(!out.exists());

    let (key, credential) = gateway(&f, "no-sign", &["--no-sign-commands"]);
    let output = palisade(&sign_args(&key, &credential, "1", &out));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(s(&credential)), "{}", text(&output));
    assert!(
        stderr.contains("lacks the sign-commands usage"),
        "{}",
        text(&output)
    );
    assert!(!out.exists());
}

#[test]
fn sign_command_rejects_counter_zero() {
    let f = factory();
    let (key, credential) = gateway(&f, "gateway", &[]);
    let out = path(&f.dir, "zero.cmd");
    let output = palisade(&sign_args(&key, &credential, "0", &out));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--counter 0 is never accepted"),
        "{}",
        text(&output)
    );
    assert!(!out.exists());

    // Counter 1 is the lowest a device with no accepted command takes.
    run_ok(&sign_args(&key, &credential, "1", &out));
    run_ok(&[
        "verify-command",
        "--anchor",
        s(&f.root),
        "--device-id",
        "d00102030405060708090a0b0c0d0e0f",
        s(&out),
    ]);
}

#[test]
fn verify_command_checks_target_and_counter() {
    let f = factory();
    let (key, credential) = gateway(&f, "gateway", &[]);
    let command = path(&f.dir, "isolate.cmd");
    run_ok(&sign_args(&key, &credential, "12", &command));

    let output = run_ok(&[
        "verify-command",
        "--anchor",
        s(&f.root),
        "--device-id",
        "d00102030405060708090a0b0c0d0e0f",
        "--last-counter",
        "11",
        s(&command),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("OK: isolate-network for device d00102030405060708090a0b0c0d0e0f"),
        "{stdout}"
    );
    assert!(stdout.contains("counter 12"), "{stdout}");

    let output = palisade(&[
        "verify-command",
        "--anchor",
        s(&f.root),
        "--device-id",
        "d00102030405060708090a0b0c0d0e0f",
        "--last-counter",
        "12",
        s(&command),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(s(&command)), "{}", text(&output));
    assert!(stderr.contains("reason code 80"), "{}", text(&output));

    let output = palisade(&[
        "verify-command",
        "--anchor",
        s(&f.root),
        "--device-id",
        "000102030405060708090a0b0c0d0e0f",
        s(&command),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("reason code 82"),
        "{}",
        text(&output)
    );

    // A command is not a credential chain.
    let output = palisade(&["verify", "--anchor", s(&f.root), s(&command)]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is a signed command"), "{}", text(&output));
    assert!(
        stderr.contains("palisade verify-command"),
        "{}",
        text(&output)
    );
    assert!(!stderr.contains("depth"), "{}", text(&output));
}

#[test]
fn verify_errors_name_the_file() {
    let f = factory();
    let at = "1800000000";

    // A bad signature on the intermediate names the intermediate, not the device.
    let mut bytes = std::fs::read(&f.intermediate).unwrap();
    bytes[60] ^= 0x01;
    let bad_intermediate = path(&f.dir, "bad-line.cred");
    std::fs::write(&bad_intermediate, &bytes).unwrap();
    let output = palisade(&[
        "verify",
        "--anchor",
        s(&f.root),
        "--at",
        at,
        s(&bad_intermediate),
        s(&f.device),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let expected = format!(
        "rejected: {}: signature on credential does not verify (reason code 22); re-issue the credential or check you passed the right file",
        s(&bad_intermediate)
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(&expected),
        "{}",
        text(&output)
    );

    // A truncated device file.
    let bytes = std::fs::read(&f.device).unwrap();
    let truncated = path(&f.dir, "truncated.cred");
    std::fs::write(&truncated, &bytes[..50]).unwrap();
    let output = palisade(&[
        "verify",
        "--anchor",
        s(&f.root),
        "--at",
        at,
        s(&f.intermediate),
        s(&truncated),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(s(&truncated)), "{}", text(&output));
    assert!(
        stderr.contains("the file is truncated or not a Palisade credential (reason code 1)"),
        "{}",
        text(&output)
    );
    assert!(
        !stderr.contains("send the complete object"),
        "{}",
        text(&output)
    );

    // Swapped order: the article and the kind read right.
    let output = palisade(&[
        "verify",
        "--anchor",
        s(&f.root),
        "--at",
        at,
        s(&f.device),
        s(&f.intermediate),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("expected an intermediate credential, found a device credential"),
        "{}",
        text(&output)
    );
    assert!(stderr.contains(s(&f.device)), "{}", text(&output));

    // A device alone: the count says what it counts.
    let output = palisade(&["verify", "--anchor", s(&f.root), "--at", at, s(&f.device)]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(
            "chain has 1 credential below the root, expected 2 (an intermediate, then a device)"
        ),
        "{}",
        text(&output)
    );
}

#[test]
fn wrong_file_type_is_named() {
    let f = factory();
    let out = path(&f.dir, "x.cred");
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "verify",
                "--anchor",
                s(&f.root_key),
                s(&f.intermediate),
                s(&f.device),
            ],
            "root.pk8 is a PKCS#8 private key, not a root credential",
        ),
        (
            &["verify", "--anchor", s(&f.root), s(&f.root), s(&f.device)],
            "root.cred is a root credential, not an intermediate, device or gateway credential",
        ),
        (
            &["inspect", s(&f.device_key)],
            "device.pk8 is a PKCS#8 private key, not a credential",
        ),
        (
            &["issue", "root", "--key", s(&f.root), "--out", s(&out)],
            "root.cred is a root credential, not a PKCS#8 private key",
        ),
    ];
    for (args, expected) in cases {
        let output = palisade(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", text(&output));
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(expected),
            "{args:?}: {}",
            text(&output)
        );
    }
}

#[test]
fn inspect_says_signature_not_checked() {
    let f = factory();
    let output = run_ok(&["inspect", s(&f.device)]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("signature check:   not checked; use `palisade verify`"),
        "{stdout}"
    );
}

#[test]
fn anchor_errors_use_reason_code() {
    let f = factory();
    let bytes = std::fs::read(&f.root).unwrap();
    let truncated = path(&f.dir, "short-root.cred");
    std::fs::write(&truncated, &bytes[..40]).unwrap();
    let output = palisade(&[
        "verify",
        "--anchor",
        s(&truncated),
        s(&f.intermediate),
        s(&f.device),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(s(&truncated)), "{}", text(&output));
    assert!(stderr.contains("(reason code 1)"), "{}", text(&output));
    assert!(!stderr.contains("(code "), "{}", text(&output));
}

const OPENSSL_SHA256: &str = "2222222222222222222222222222222222222222222222222222222222222222";
const ZLIB_SHA256: &str = "3333333333333333333333333333333333333333333333333333333333333333";

/// Writes a components file of `NAME VERSION SHA256` lines.
fn component_lines(f: &Factory) -> PathBuf {
    let file = path(&f.dir, "components.txt");
    std::fs::write(
        &file,
        format!(
            "# IP-200 firmware 2.4.1\n\nzlib1g 1:1.2.13.dfsg-1 {ZLIB_SHA256}\nopenssl 3.0.13-1~deb12u1 {OPENSSL_SHA256}\n"
        ),
    )
    .expect("components file");
    file
}

/// Issues a second root credential for the root key that may sign reference SBOMs.
fn sbom_root(f: &Factory) -> PathBuf {
    let root = path(&f.dir, "sbom-root.cred");
    run_ok(&[
        "issue",
        "root",
        "--key",
        s(&f.root_key),
        "--sign-reference-sboms",
        "--not-before",
        "1700000000",
        "--serial",
        "2",
        "--vendor",
        "4660",
        "--out",
        s(&root),
    ]);
    root
}

fn sign_sbom_args<'a>(
    key: &'a Path,
    credential: &'a Path,
    components: &'a Path,
    model: &'a str,
    out: &'a Path,
) -> Vec<&'a str> {
    vec![
        "sign-sbom",
        "--signer-key",
        s(key),
        "--signer-credential",
        s(credential),
        "--vendor",
        "4660",
        "--model",
        model,
        "--model-name",
        "IP-200 infusion pump",
        "--firmware",
        "2.4.1",
        "--components",
        s(components),
        "--issued-at",
        "1790000000",
        "--out",
        s(out),
    ]
}

#[test]
fn sign_sbom_verify_and_inspect() {
    let f = factory();
    let root = sbom_root(&f);
    let components = component_lines(&f);
    let out = path(&f.dir, "ip200.sbom");
    let signed = run_ok(&sign_sbom_args(&f.root_key, &root, &components, "42", &out));
    let stdout = String::from_utf8_lossy(&signed.stdout);
    assert!(stdout.contains("2 components"), "{stdout}");

    let verified = run_ok(&[
        "verify-sbom",
        "--anchor",
        s(&f.root),
        "--at",
        "1800000000",
        s(&out),
    ]);
    let stdout = String::from_utf8_lossy(&verified.stdout);
    assert!(stdout.starts_with("valid: reference SBOM"), "{stdout}");
    assert!(stdout.contains("model 42 firmware 2.4.1"), "{stdout}");

    let inspected = run_ok(&["inspect", s(&out)]);
    let stdout = String::from_utf8_lossy(&inspected.stdout);
    assert!(stdout.starts_with("reference SBOM (version 1)"), "{stdout}");
    assert!(
        stdout.contains(&format!("openssl 3.0.13-1~deb12u1 sha256 {OPENSSL_SHA256}")),
        "{stdout}"
    );
    assert!(stdout.contains("signer:     root serial 2"), "{stdout}");
    assert!(stdout.contains("not checked"), "{stdout}");

    let inspected = run_ok(&["inspect", "--json", s(&out)]);
    let value: serde_json::Value =
        serde_json::from_slice(&inspected.stdout).expect("inspect --json prints JSON");
    assert_eq!(value["type"], "reference_sbom");
    assert_eq!(value["model_id"], 42);
    assert_eq!(value["vendor_id"], 4660);
    assert_eq!(value["firmware_version"], "2.4.1");
    assert_eq!(value["issued_at"], "1790000000");
    assert_eq!(value["signature_checked"], false);
    // Sorted by name, whatever the order in the file.
    assert_eq!(value["components"][0]["name"], "openssl");
    assert_eq!(value["components"][1]["name"], "zlib1g");
    assert_eq!(value["components"][1]["sha256"], ZLIB_SHA256);
}

#[test]
fn sign_sbom_rejects_future_issue_time() {
    let f = factory();
    let root = sbom_root(&f);
    let components = component_lines(&f);
    let out = path(&f.dir, "future.sbom");
    let mut args = sign_sbom_args(&f.root_key, &root, &components, "42", &out);
    let position = args
        .iter()
        .position(|arg| *arg == "--issued-at")
        .expect("the arguments set --issued-at");
    // Milliseconds where seconds are expected: far in the future.
    args[position + 1] = "1790000000000";
    let output = palisade(&args);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not milliseconds"), "{stderr}");
    assert!(!out.exists(), "nothing is written");
}

#[test]
fn verify_sbom_rejects_flipped_byte() {
    let f = factory();
    let root = sbom_root(&f);
    let components = component_lines(&f);
    let out = path(&f.dir, "ip200.sbom");
    run_ok(&sign_sbom_args(&f.root_key, &root, &components, "42", &out));
    let mut bytes = std::fs::read(&out).expect("reference file");
    let hash = bytes
        .windows(32)
        .position(|window| window == [0x33; 32])
        .expect("zlib1g hash in the file");
    bytes[hash] ^= 0x01;
    let altered = path(&f.dir, "altered.sbom");
    std::fs::write(&altered, &bytes).expect("altered file");
    let output = palisade(&[
        "verify-sbom",
        "--anchor",
        s(&f.root),
        "--at",
        "1800000000",
        s(&altered),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("altered.sbom"), "{stderr}");
    assert!(stderr.contains("reason code 22"), "{stderr}");
}

#[test]
fn release_intermediate_signs_cyclonedx() {
    let f = factory();
    let release_key = path(&f.dir, "release.pk8");
    run_ok(&["keygen", "--out", s(&release_key)]);
    let release = path(&f.dir, "release.cred");
    run_ok(&[
        "issue",
        "intermediate",
        "--issuer-key",
        s(&f.root_key),
        "--subject-key",
        s(&release_key),
        "--sign-reference-sboms",
        "--no-issue",
        "--model",
        "42",
        "--not-before",
        "1700000000",
        "--not-after",
        "2000000000",
        "--out",
        s(&release),
    ]);
    let inspected = run_ok(&["inspect", s(&release)]);
    let stdout = String::from_utf8_lossy(&inspected.stdout);
    assert!(
        stdout.contains("usage:             sign-reference-sboms\n"),
        "{stdout}"
    );

    let bom = path(&f.dir, "bom.cdx.json");
    std::fs::write(
        &bom,
        serde_json::json!({
            "bomFormat": "CycloneDX",
            "specVersion": "1.5",
            "components": [
                {"type": "library", "name": "openssl", "version": "3.0.13-1~deb12u1",
                 "hashes": [{"alg": "SHA-256", "content": OPENSSL_SHA256}]},
                {"type": "application", "name": "dosing-service", "version": "2.4.1",
                 "hashes": [{"alg": "SHA-1", "content": "00"}, {"alg": "SHA-256", "content": ZLIB_SHA256}]},
            ]
        })
        .to_string(),
    )
    .expect("BOM file");
    let out = path(&f.dir, "ip200.sbom");
    run_ok(&sign_sbom_args(&release_key, &release, &bom, "42", &out));
    run_ok(&[
        "verify-sbom",
        "--anchor",
        s(&f.root),
        "--at",
        "1800000000",
        s(&out),
    ]);

    // The release key may sign only for model 42: the command refuses to
    // write a reference that gateways would reject (the verifier's own
    // check is tested in palisade-credential).
    let other = path(&f.dir, "other-model.sbom");
    let output = palisade(&sign_sbom_args(&release_key, &release, &bom, "99", &other));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("may sign only for models [42], not model 99"),
        "{}",
        text(&output)
    );
    assert!(!other.exists());
}

#[test]
fn sign_sbom_rejects_signer_without_usage() {
    let f = factory();
    let components = component_lines(&f);
    let out = path(&f.dir, "ip200.sbom");
    // The factory intermediate may issue credentials, not sign references.
    let output = palisade(&sign_sbom_args(
        &f.intermediate_key,
        &f.intermediate,
        &components,
        "42",
        &out,
    ));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("lacks the sign-reference-sboms usage"),
        "{}",
        text(&output)
    );
    // A device credential is never a reference signer.
    let output = palisade(&sign_sbom_args(
        &f.device_key,
        &f.device,
        &components,
        "42",
        &out,
    ));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(!out.exists());
}

#[test]
fn sign_sbom_rejects_bad_component_files() {
    let f = factory();
    let root = sbom_root(&f);
    let out = path(&f.dir, "ip200.sbom");
    let cases = [
        (
            "two-fields.txt",
            "openssl 3.0.13\n".to_owned(),
            "expected NAME VERSION SHA256",
        ),
        (
            "short-hash.txt",
            "openssl 3.0.13 abcd\n".to_owned(),
            "expected 64 hex digits",
        ),
        (
            "duplicate.txt",
            format!("openssl 1 {OPENSSL_SHA256}\nopenssl 2 {OPENSSL_SHA256}\n"),
            "listed twice",
        ),
        (
            "no-hash.cdx.json",
            r#"{"bomFormat": "CycloneDX", "components": [{"name": "openssl", "version": "3"}]}"#
                .to_owned(),
            "has no SHA-256 hash",
        ),
        (
            "not-cyclonedx.json",
            r#"{"components": []}"#.to_owned(),
            "not a CycloneDX BOM",
        ),
    ];
    for (name, content, expected) in cases {
        let file = path(&f.dir, name);
        std::fs::write(&file, content).expect("components file");
        let output = palisade(&sign_sbom_args(&f.root_key, &root, &file, "42", &out));
        assert_eq!(output.status.code(), Some(2), "{name}: {}", text(&output));
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(expected),
            "{name}: {}",
            text(&output)
        );
    }
    assert!(!out.exists());
}

#[test]
fn verify_sbom_names_wrong_file_type() {
    let f = factory();
    let output = palisade(&["verify-sbom", "--anchor", s(&f.root), s(&f.device)]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("not a reference SBOM"),
        "{}",
        text(&output)
    );
}

#[test]
fn issue_rejects_milliseconds_and_inverted_validity() {
    let f = factory();
    let out = path(&f.dir, "ms-root.cred");
    let cases: [(&[&str], &str); 3] = [
        (
            &["--not-after", "1796438891333"],
            "--not-after 1796438891333 is after the year 5000; give seconds since the Unix epoch, not milliseconds, or \"never\"",
        ),
        (
            &["--not-before", "1796438891333"],
            "--not-before 1796438891333 is after the year 5000",
        ),
        (
            &["--not-before", "2000", "--not-after", "1000"],
            "--not-before 2000 is after --not-after 1000; the credential would never be valid",
        ),
    ];
    for (extra, expected) in cases {
        let mut args = vec!["issue", "root", "--key", s(&f.root_key), "--out", s(&out)];
        args.extend_from_slice(extra);
        let output = palisade(&args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{extra:?}: {}",
            text(&output)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{extra:?}: {stderr}");
        assert!(!out.exists(), "{extra:?}: nothing is written");
    }

    let output = palisade(&[
        "verify",
        "--anchor",
        s(&f.root),
        "--at",
        "1796438891333",
        s(&f.root),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("--at 1796438891333 is after the year 5000"),
        "{}",
        text(&output)
    );
}

#[test]
fn sign_sbom_rejects_unusable_inputs() {
    let f = factory();
    let root = sbom_root(&f);
    let components = component_lines(&f);
    let out = path(&f.dir, "rejected.sbom");

    // The signer credential is for vendor 4660.
    let mut args = sign_sbom_args(&f.root_key, &root, &components, "42", &out);
    let position = args.iter().position(|arg| *arg == "--vendor").unwrap();
    args[position + 1] = "4661";
    let output = palisade(&args);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("is for vendor 4660, not --vendor 4661"),
        "{}",
        text(&output)
    );

    // The issue time lies before the signer credential's validity.
    let mut args = sign_sbom_args(&f.root_key, &root, &components, "42", &out);
    let position = args.iter().position(|arg| *arg == "--issued-at").unwrap();
    args[position + 1] = "1600000000";
    let output = palisade(&args);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("which does not include the issue time 1600000000"),
        "{}",
        text(&output)
    );

    let empty = path(&f.dir, "empty.txt");
    std::fs::write(&empty, "").unwrap();
    let output = palisade(&sign_sbom_args(&f.root_key, &root, &empty, "42", &out));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("lists no components"),
        "{}",
        text(&output)
    );
    assert!(!out.exists(), "nothing is written");
}
