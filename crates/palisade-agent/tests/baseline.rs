//! The baseline checks: sshd configuration, file modes, listeners, passwords.
#![cfg(feature = "linux")]

mod common;

use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use common::{fixture, read_fixture};
use palisade_agent::linux::baseline::{
    CHECK_EMPTY_PASSWORD, CHECK_LISTEN_ALL, CHECK_SSH_PASSWORD, CHECK_SSH_ROOT_LOGIN,
    CHECK_WORLD_WRITABLE, MAX_CONFIG_FILES, MAX_INCLUDE_DEPTH, SshdConfigError,
    check_empty_passwords, check_listening_all_interfaces, check_password_authentication,
    check_permit_root_login, check_world_writable, empty_password_accounts, expand_include,
    find_world_writable, glob_match, read_sshd_config, split_words,
};
use palisade_agent::linux::{BaselineCollector, BaselineConfig, Collector, Record};
use palisade_schema::{CheckResult, Protocol, Severity};

#[test]
fn sshd_words() {
    assert_eq!(
        split_words("PermitRootLogin=no").unwrap(),
        ["PermitRootLogin", "no"]
    );
    assert_eq!(
        split_words("PermitRootLogin = no").unwrap(),
        ["PermitRootLogin", "no"]
    );
    assert_eq!(
        split_words("Banner \"/etc/my banner\"").unwrap(),
        ["Banner", "/etc/my banner"]
    );
    assert_eq!(
        split_words("\tSubsystem\tsftp  /usr/lib/sftp").unwrap(),
        ["Subsystem", "sftp", "/usr/lib/sftp"]
    );
    assert_eq!(split_words("Banner \"open"), None);
}

#[test]
fn globs() {
    assert!(glob_match("*.conf", "10-hardening.conf"));
    assert!(glob_match("?0-*.conf", "10-a.conf"));
    assert!(!glob_match("*.conf", "README"));
    assert!(!glob_match("*.conf", "a.conf.bak"));
    assert!(glob_match("*", ""));
    assert!(glob_match("a*b*c", "aXXbYYbc"));
}

#[test]
fn include_expansion_sorted_without_hidden_files() {
    let dir = fixture("root/etc/ssh");
    assert_eq!(
        expand_include("sshd_config.d/*.conf", &dir),
        [dir.join("sshd_config.d/10-hardening.conf")]
    );
    assert_eq!(
        expand_include("sshd_config.d/.*.conf", &dir),
        [dir.join("sshd_config.d/.hidden.conf")]
    );
    assert_eq!(
        expand_include("/nonexistent/*.conf", &dir),
        Vec::<PathBuf>::new()
    );
    assert_eq!(expand_include("plain.conf", &dir), [dir.join("plain.conf")]);
}

#[test]
fn first_value_wins_and_include_comes_first() {
    let dir = fixture("root/etc/ssh");
    let settings = read_sshd_config(&dir.join("sshd_config"), &dir, 1 << 20).unwrap();
    assert_eq!(settings.get("PermitRootLogin"), Some("no"));
    assert_eq!(settings.get("passwordauthentication"), Some("no"));
    assert_eq!(settings.get("UsePAM"), Some("yes"));
    assert_eq!(
        settings.files,
        [
            dir.join("sshd_config"),
            dir.join("sshd_config.d/10-hardening.conf")
        ]
    );
    let settings = Ok(settings);
    assert_eq!(check_permit_root_login(&settings).result, CheckResult::Pass);
    assert_eq!(
        check_password_authentication(&settings).result,
        CheckResult::Pass
    );
}

#[test]
fn match_blocks_are_ignored() {
    let dir = fixture("ssh-match");
    let settings = read_sshd_config(&dir.join("sshd_config"), &dir, 1 << 20).unwrap();
    // The Match in the included file ends with that file.
    assert_eq!(settings.get("PasswordAuthentication"), Some("no"));
    // Both PermitRootLogin lines follow `Match Address`.
    assert_eq!(settings.get("PermitRootLogin"), None);
    let check = check_permit_root_login(&Ok(settings));
    assert_eq!(check.result, CheckResult::Pass);
    assert!(
        check.description.contains("default prohibit-password"),
        "{}",
        check.description
    );
}

#[test]
fn root_login_and_password_values() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "PermitRootLogin yes\n",
            CheckResult::Fail,
            "PasswordAuthentication no\n",
            CheckResult::Pass,
        ),
        (
            "PermitRootLogin without-password\n",
            CheckResult::Pass,
            "",
            CheckResult::Fail,
        ),
        (
            "PermitRootLogin maybe\n",
            CheckResult::Error,
            "PasswordAuthentication YES\n",
            CheckResult::Fail,
        ),
    ];
    for (root, root_expected, password, password_expected) in cases {
        let path = dir.path().join("sshd_config");
        fs::write(&path, format!("{root}{password}")).unwrap();
        let settings = read_sshd_config(&path, dir.path(), 1 << 20);
        assert_eq!(
            check_permit_root_login(&settings).result,
            root_expected,
            "{root}"
        );
        assert_eq!(
            check_password_authentication(&settings).result,
            password_expected,
            "{password}"
        );
    }
}

#[test]
fn sshd_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = read_sshd_config(&dir.path().join("sshd_config"), dir.path(), 1 << 20);
    let check = check_permit_root_login(&missing);
    assert_eq!(
        check.result,
        CheckResult::Pass,
        "no sshd_config: sshd cannot start"
    );
    assert!(check.description.starts_with("sshd is not configured"));

    let looping = dir.path().join("loop.conf");
    fs::write(&looping, "Include loop.conf\n").unwrap();
    let error = read_sshd_config(&looping, dir.path(), 1 << 20).unwrap_err();
    assert!(
        matches!(error, SshdConfigError::TooManyIncludes { .. }),
        "{error}"
    );
    let check = check_password_authentication(&Err(error));
    assert_eq!(check.result, CheckResult::Error);

    let missing_include = dir.path().join("main.conf");
    fs::write(&missing_include, "Include absent.conf\n").unwrap();
    let error = read_sshd_config(&missing_include, dir.path(), 1 << 20).unwrap_err();
    assert!(error.to_string().contains("absent.conf"), "{error}");

    let quote = dir.path().join("quote.conf");
    fs::write(&quote, "Banner \"x\n").unwrap();
    assert!(matches!(
        read_sshd_config(&quote, dir.path(), 1 << 20),
        Err(SshdConfigError::BadQuote { line: 1, .. })
    ));
}

#[test]
fn world_writable_walk() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("etc");
    fs::create_dir_all(root.join("sub/shared")).unwrap();
    fs::create_dir_all(root.join("sub/tmp")).unwrap();
    fs::write(root.join("ok.conf"), "").unwrap();
    fs::write(root.join("sub/open.conf"), "").unwrap();
    fs::set_permissions(
        root.join("sub/open.conf"),
        fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    fs::set_permissions(root.join("sub/shared"), fs::Permissions::from_mode(0o777)).unwrap();
    fs::set_permissions(root.join("sub/tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    std::os::unix::fs::symlink("/tmp", root.join("link")).unwrap();

    let walk = find_world_writable(std::slice::from_ref(&root), 1000, 32);
    assert_eq!(
        walk.found,
        [root.join("sub/open.conf"), root.join("sub/shared")]
    );
    assert_eq!(walk.visited, 7);
    let check = check_world_writable(&walk);
    assert_eq!(
        (check.check_id.as_str(), check.result),
        (CHECK_WORLD_WRITABLE, CheckResult::Fail)
    );
    assert!(
        check.description.starts_with("2 world-writable entries"),
        "{}",
        check.description
    );

    // The walk limit: 7 entries pass, 6 stop the walk.
    assert!(!find_world_writable(std::slice::from_ref(&root), 7, 32).stopped);
    assert!(find_world_writable(std::slice::from_ref(&root), 6, 32).stopped);
    let stopped = find_world_writable(&[root.join("ok.conf"), root.join("sub/tmp")], 1, 32);
    assert!(stopped.stopped);
    assert!(stopped.found.is_empty());
    assert_eq!(check_world_writable(&stopped).result, CheckResult::Error);
    let shallow = find_world_writable(std::slice::from_ref(&root), 1000, 1);
    assert!(shallow.found.is_empty(), "depth 1 does not enter sub/");
    assert_eq!(check_world_writable(&shallow).result, CheckResult::Pass);
}

#[test]
fn listeners_on_all_interfaces() {
    let listening: Vec<(Protocol, SocketAddr)> = vec![
        (Protocol::Tcp, "127.0.0.1:47003".parse().unwrap()),
        (Protocol::Tcp, "[::]:47001".parse().unwrap()),
        (Protocol::Udp, "0.0.0.0:47004".parse().unwrap()),
    ];
    let check = check_listening_all_interfaces(&listening, &[]);
    assert_eq!(
        (check.check_id.as_str(), check.result),
        (CHECK_LISTEN_ALL, CheckResult::Fail)
    );
    assert_eq!(
        check.description,
        "2 sockets listen on all interfaces: tcp [::]:47001, udp 0.0.0.0:47004"
    );
    let allowed = check_listening_all_interfaces(
        &listening,
        &[(Protocol::Tcp, 47001), (Protocol::Udp, 47004)],
    );
    assert_eq!(allowed.result, CheckResult::Pass);
}

#[test]
fn empty_passwords() {
    let shadow = read_fixture("root/etc/shadow");
    assert_eq!(empty_password_accounts(&shadow), ["service"]);
    let check = check_empty_passwords(&Ok(shadow));
    assert_eq!(
        (check.check_id.as_str(), check.result, check.severity),
        (CHECK_EMPTY_PASSWORD, CheckResult::Fail, Severity::High)
    );
    let unreadable = palisade_agent::linux::read_text_bounded(&fixture("missing/shadow"), 1024);
    assert_eq!(
        check_empty_passwords(&unreadable).result,
        CheckResult::Error
    );
}

#[test]
fn collector_over_fixture_tree() {
    let root = fixture("root");
    let config = BaselineConfig {
        sshd_config: root.join("etc/ssh/sshd_config"),
        sshd_config_dir: root.join("etc/ssh"),
        shadow: root.join("etc/shadow"),
        system_paths: vec![root.join("etc")],
        proc_root: root.join("proc"),
        ..BaselineConfig::default()
    };
    let mut collector = BaselineCollector::new(config);
    let mut records = Vec::new();
    collector.collect(&mut records);
    let results: Vec<(&str, CheckResult)> = records
        .iter()
        .filter_map(|r| match r {
            Record::BaselineCheck(b) => Some((b.check_id.as_str(), b.result)),
            _ => None,
        })
        .collect();
    assert_eq!(
        results,
        [
            (CHECK_SSH_ROOT_LOGIN, CheckResult::Pass),
            (CHECK_SSH_PASSWORD, CheckResult::Pass),
            (CHECK_WORLD_WRITABLE, CheckResult::Pass),
            (CHECK_LISTEN_ALL, CheckResult::Fail),
            (CHECK_EMPTY_PASSWORD, CheckResult::Fail),
        ]
    );
}

#[test]
fn include_depth_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let chain = |levels: usize| {
        for level in 0..levels {
            let text = format!("Include level{}.conf\n", level + 1);
            fs::write(dir.path().join(format!("level{level}.conf")), text).unwrap();
        }
        fs::write(
            dir.path().join(format!("level{levels}.conf")),
            "PermitRootLogin no\n",
        )
        .unwrap();
        read_sshd_config(&dir.path().join("level0.conf"), dir.path(), 1 << 20)
    };
    let deepest = chain(MAX_INCLUDE_DEPTH).unwrap();
    assert_eq!(deepest.get("PermitRootLogin"), Some("no"));
    assert!(matches!(
        chain(MAX_INCLUDE_DEPTH + 1),
        Err(SshdConfigError::TooManyIncludes { .. })
    ));
}

#[test]
fn config_file_count_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("sshd_config");
    fs::write(&main, "Include parts/*.conf\n").unwrap();
    fs::create_dir(dir.path().join("parts")).unwrap();
    // The main file and MAX_CONFIG_FILES - 1 parts are accepted.
    for index in 0..MAX_CONFIG_FILES - 1 {
        fs::write(
            dir.path().join(format!("parts/{index:03}.conf")),
            "UsePAM yes\n",
        )
        .unwrap();
    }
    let settings = read_sshd_config(&main, dir.path(), 1 << 20).unwrap();
    assert_eq!(settings.files.len(), MAX_CONFIG_FILES);

    fs::write(dir.path().join("parts/999.conf"), "UsePAM yes\n").unwrap();
    let error = read_sshd_config(&main, dir.path(), 1 << 20).unwrap_err();
    assert!(
        matches!(error, SshdConfigError::TooManyIncludes { .. }),
        "{error}"
    );
}

#[test]
fn listener_count_in_singular() {
    let one: Vec<(Protocol, SocketAddr)> = vec![(Protocol::Tcp, "0.0.0.0:47001".parse().unwrap())];
    assert_eq!(
        check_listening_all_interfaces(&one, &[]).description,
        "1 socket listens on all interfaces: tcp 0.0.0.0:47001"
    );
    let local: Vec<(Protocol, SocketAddr)> =
        vec![(Protocol::Tcp, "127.0.0.1:47001".parse().unwrap())];
    assert_eq!(
        check_listening_all_interfaces(&local, &[]).description,
        "the one listening socket is not bound to all interfaces"
    );
}

#[test]
fn world_writable_missing_roots() {
    let dir = tempfile::tempdir().unwrap();
    let present = dir.path().join("etc");
    fs::create_dir(&present).unwrap();
    let absent = dir.path().join("sbin");

    let none = find_world_writable(std::slice::from_ref(&absent), 1000, 32);
    assert_eq!(none.missing_roots.as_slice(), std::slice::from_ref(&absent));
    let check = check_world_writable(&none);
    assert_eq!(check.result, CheckResult::Error);
    assert!(
        check
            .description
            .contains("none of the system paths exists"),
        "{}",
        check.description
    );

    // One root present: the walk counts, the absent root is named.
    let some = find_world_writable(&[present, absent.clone()], 1000, 32);
    let check = check_world_writable(&some);
    assert_eq!(check.result, CheckResult::Pass);
    assert!(
        check.description.contains(&absent.display().to_string()),
        "{}",
        check.description
    );
}

#[test]
fn collector_over_empty_root_reports_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = palisade_agent::linux::LinuxConfig::default()
        .under(dir.path())
        .baseline;
    let mut records = Vec::new();
    BaselineCollector::new(config).collect(&mut records);
    let result_of = |id: &str| {
        records
            .iter()
            .find_map(|r| match r {
                Record::BaselineCheck(b) if b.check_id == id => Some(b.clone()),
                _ => None,
            })
            .unwrap()
    };
    let walk = result_of(CHECK_WORLD_WRITABLE);
    assert_eq!(walk.result, CheckResult::Error, "{}", walk.description);
    let listen = result_of(CHECK_LISTEN_ALL);
    assert_eq!(listen.result, CheckResult::Error, "{}", listen.description);
    assert!(
        listen.description.contains("no socket table found"),
        "{}",
        listen.description
    );
    let errors: Vec<&str> = records
        .iter()
        .filter_map(|r| match r {
            Record::CollectionError(e) => Some(e.reason.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        errors.iter().any(|e| e.contains("no socket table found")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("none of the system paths exists")),
        "{errors:?}"
    );
}
