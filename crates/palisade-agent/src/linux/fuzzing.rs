//! Entry points for the fuzz targets under `fuzz/`; not a stable API.

use std::collections::HashMap;
use std::prelude::rust_2024::*;

use palisade_schema::Protocol;

use super::baseline::{empty_password_accounts, split_words};
use super::login::{UtmpSource, parse_auth_line, parse_journal_line, parse_utmp, utmp_login};
use super::network::parse_socket_table;
use super::process::{parse_cmdline, parse_passwd, parse_stat, parse_status_uid};
use super::software::{PackageFormat, parse_status};
use super::sysinfo::{parse_fib_trie_local, parse_if_inet6, parse_route};

/// Runs every Linux parser on `data`: the byte parsers directly, the text
/// parsers on its lossy UTF-8 form. Panics only if a parser panics.
pub fn parsers(data: &[u8]) {
    let _ = parse_stat(data);
    let _ = parse_cmdline(data);
    let utmp = parse_utmp(data);
    let mut sessions = HashMap::new();
    for record in &utmp.items {
        let _ = utmp_login(record, UtmpSource::Wtmp, &mut sessions);
        let _ = utmp_login(record, UtmpSource::Btmp, &mut sessions);
    }
    let text = String::from_utf8_lossy(data);
    let _ = parse_status_uid(&text);
    let _ = parse_passwd(&text);
    let _ = parse_socket_table(&text, Protocol::Tcp, 4096);
    let _ = parse_socket_table(&text, Protocol::Udp, 4096);
    for format in [
        PackageFormat::Dpkg,
        PackageFormat::DpkgStatusD,
        PackageFormat::Opkg,
    ] {
        let _ = parse_status(&text, format, "debian", 4096);
    }
    let _ = parse_if_inet6(&text);
    let _ = parse_route(&text);
    let _ = parse_fib_trie_local(&text);
    let _ = empty_password_accounts(&text);
    for line in text.lines().take(256) {
        let _ = parse_auth_line(line, 1_714_564_800_000);
        let _ = parse_journal_line(line);
        let _ = split_words(line);
    }
}
