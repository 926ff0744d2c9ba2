//! Every parser on arbitrary and on mutated real input: no panic, and
//! results that respect the parsers' own bounds.
#![cfg(feature = "linux")]

mod common;

use common::fixture;
use palisade_agent::linux::baseline::{empty_password_accounts, glob_match, split_words};
use palisade_agent::linux::login::{
    UtmpSource, parse_auth_line, parse_auth_message, parse_journal_line, parse_syslog_line,
    parse_utmp, utmp_login,
};
use palisade_agent::linux::network::{parse_hex_ip, parse_socket_link, parse_socket_table};
use palisade_agent::linux::process::{parse_cmdline, parse_passwd, parse_stat, parse_status_uid};
use palisade_agent::linux::software::{PackageFormat, parse_status};
use palisade_agent::linux::sysinfo::{
    parse_fib_trie_local, parse_if_inet6, parse_mac, parse_route,
};
use palisade_schema::Protocol;
use proptest::prelude::*;

fn run_text_parsers(text: &str) {
    let _ = parse_status_uid(text);
    let _ = parse_passwd(text);
    for protocol in [Protocol::Tcp, Protocol::Udp] {
        let parsed = parse_socket_table(text, protocol, 256);
        assert!(parsed.items.len() + parsed.errors.len() <= text.lines().count());
    }
    let _ = parse_hex_ip(text);
    let _ = parse_socket_link(text);
    for line in text.lines() {
        let _ = parse_syslog_line(line, 2024);
        let _ = parse_auth_line(line, u64::MAX);
        let _ = parse_auth_line(line, 0);
        let _ = parse_auth_message("sshd", line);
        let _ = parse_auth_message("su", line);
        let _ = parse_journal_line(line);
        let _ = split_words(line);
    }
    for format in [
        PackageFormat::Dpkg,
        PackageFormat::DpkgStatusD,
        PackageFormat::Opkg,
    ] {
        let _ = parse_status(text, format, "debian", 128);
    }
    let _ = glob_match(text, text);
    let _ = glob_match("*a*?*", text);
    let _ = parse_mac(text);
    let _ = parse_if_inet6(text);
    let _ = parse_fib_trie_local(text);
    let _ = parse_route(text);
    let _ = empty_password_accounts(text);
}

fn run_byte_parsers(bytes: &[u8]) {
    let _ = parse_stat(bytes);
    let _ = parse_cmdline(bytes);
    let parsed = parse_utmp(bytes);
    let mut sessions = Default::default();
    for record in &parsed.items {
        let _ = utmp_login(record, UtmpSource::Wtmp, &mut sessions);
        let _ = utmp_login(record, UtmpSource::Btmp, &mut sessions);
    }
    run_text_parsers(&String::from_utf8_lossy(bytes));
}

const FIXTURES: [&str; 14] = [
    "root/proc/10708/stat",
    "root/proc/18354/status",
    "root/proc/18354/cmdline",
    "root/proc/net/tcp6",
    "root/proc/net/udp",
    "root/proc/net/fib_trie",
    "root/var/log/wtmp",
    "root/var/log/auth.log",
    "log/busybox-messages",
    "log/auth-iso8601.log",
    "log/journal.json",
    "root/var/lib/dpkg/status",
    "opkg/status",
    "root/etc/ssh/sshd_config",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        run_byte_parsers(&bytes);
    }

    #[test]
    fn arbitrary_text(text in "\\PC{0,400}") {
        run_text_parsers(&text);
    }

    #[test]
    fn syslog_like_lines(line in "(May|2024-05-01T10:00:00(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})) ?[0-9 :]{0,12} [a-z.]{0,12} [a-z\\[\\]0-9:-]{0,16} (Accepted|Failed|Invalid user|pam_unix\\()[ -~]{0,60}") {
        let _ = parse_syslog_line(&line, 2024);
        let _ = parse_auth_line(&line, 1_714_564_800_000);
    }

    #[test]
    fn mutated_fixtures(index in 0..FIXTURES.len(), edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16), cut in any::<prop::sample::Index>()) {
        let mut bytes = std::fs::read(fixture(FIXTURES[index])).unwrap();
        for (position, value) in edits {
            let at = position.index(bytes.len());
            bytes[at] = value;
        }
        run_byte_parsers(&bytes);
        let end = cut.index(bytes.len() + 1);
        run_byte_parsers(&bytes[..end]);
    }
}
