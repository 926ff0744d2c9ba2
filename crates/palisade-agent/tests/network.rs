//! The network collector and the /proc/net parsers, over real tables.
#![cfg(all(feature = "linux", target_endian = "little"))]

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use common::{fixture, read_fixture};
use palisade_agent::linux::network::{
    SocketLineError, canonical, parse_hex_ip, parse_socket_link, parse_socket_table,
};
use palisade_agent::linux::{Collector, NetworkCollector, NetworkConfig, Record};
use palisade_schema::{Direction, Protocol};

fn v4(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(a, b, c, d)), port)
}

#[test]
fn hex_addresses_in_host_byte_order() {
    assert_eq!(
        parse_hex_ip("0100007F"),
        Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
    );
    assert_eq!(
        parse_hex_ip("020200C0"),
        Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)))
    );
    assert_eq!(
        parse_hex_ip("00000000000000000000000001000000"),
        Some(IpAddr::V6(Ipv6Addr::LOCALHOST))
    );
    // fe80::fc:ff:fe00:1 as the kernel prints it on a little-endian machine.
    assert_eq!(
        parse_hex_ip("000080FE00000000FF00FC00010000FE"),
        Some(IpAddr::V6("fe80::fc:ff:fe00:1".parse().unwrap()))
    );
    assert_eq!(parse_hex_ip("0100007"), None);
    assert_eq!(parse_hex_ip("0100007G"), None);
    assert_eq!(parse_hex_ip("+100007F"), None);
}

#[test]
fn tcp_table() {
    let parsed = parse_socket_table(&read_fixture("root/proc/net/tcp"), Protocol::Tcp, 4096);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    assert_eq!(parsed.items.len(), 2);
    let listen = &parsed.items[0];
    assert_eq!(listen.local, v4(127, 0, 0, 1, 47003));
    assert!(listen.is_listening());
    assert_eq!(listen.inode, 93770);
    let established = &parsed.items[1];
    assert_eq!(established.local, v4(127, 0, 0, 1, 41014));
    assert_eq!(established.remote, v4(127, 0, 0, 1, 47001));
    assert!(established.is_connection());
    assert!(!established.is_listening());
}

#[test]
fn tcp6_table_with_mapped_addresses() {
    let parsed = parse_socket_table(&read_fixture("root/proc/net/tcp6"), Protocol::Tcp, 4096);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let locals: Vec<SocketAddr> = parsed.items.iter().map(|s| s.local).collect();
    assert_eq!(
        locals,
        [
            "[::]:47001".parse().unwrap(),
            "[::1]:47002".parse().unwrap(),
            "[::ffff:127.0.0.1]:47001".parse().unwrap(),
        ]
    );
    assert_eq!(canonical(parsed.items[2].local), v4(127, 0, 0, 1, 47001));
    assert_eq!(canonical(parsed.items[2].remote), v4(127, 0, 0, 1, 41014));
    assert!(parsed.items[0].is_listening());
    assert!(parsed.items[1].is_listening());
}

#[test]
fn udp_tables() {
    let udp = parse_socket_table(&read_fixture("root/proc/net/udp"), Protocol::Udp, 4096);
    assert!(udp.errors.is_empty());
    let connected = &udp.items[0];
    assert!(connected.is_connection());
    assert!(!connected.is_listening());
    assert_eq!(connected.remote, v4(127, 0, 0, 1, 47004));
    let bound = &udp.items[1];
    assert!(bound.is_listening());
    assert!(!bound.is_connection());
    assert_eq!(bound.local, v4(0, 0, 0, 0, 47004));
    let udp6 = parse_socket_table(&read_fixture("root/proc/net/udp6"), Protocol::Udp, 4096);
    assert_eq!(udp6.items[0].local, "[::1]:47005".parse().unwrap());
    assert!(udp6.items[0].is_listening());
}

#[test]
fn malformed_lines_are_reported() {
    let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
    let good = "   0: 0100007F:B79B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 93770 1\n";
    let text = format!(
        "{header}{good}   1: 0100007F:B79B\n   2: 0100007F:XYZ1 00000000:0000 0A a b c 0 0 1\n   3: 0100007F:B79B 00000000:0000 QQ a b c 0 0 1\n   4: 0100007F:B79B 00000000000000000000000000000000:0000 0A a b c 0 0 1\n"
    );
    let parsed = parse_socket_table(&text, Protocol::Tcp, 4096);
    assert_eq!(parsed.items.len(), 1);
    assert_eq!(
        parsed.errors,
        [
            SocketLineError::MissingColumns { line: 3, found: 2 },
            SocketLineError::BadAddress {
                line: 4,
                value: "0100007F:XYZ1".to_string()
            },
            SocketLineError::BadNumber {
                line: 5,
                column: "st",
                value: "QQ".to_string()
            },
            SocketLineError::BadAddress {
                line: 6,
                value: "00000000000000000000000000000000:0000".to_string()
            },
        ]
    );
}

#[test]
fn line_limit_boundary() {
    let header = "sl local\n";
    let line = "   0: 0100007F:B79B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 93770 1";
    let text = format!("{header}{line}\n");
    assert_eq!(
        parse_socket_table(&text, Protocol::Tcp, line.len())
            .items
            .len(),
        1
    );
    let rejected = parse_socket_table(&text, Protocol::Tcp, line.len() - 1);
    assert!(rejected.items.is_empty());
    assert_eq!(
        rejected.errors,
        [SocketLineError::TooLong {
            line: 2,
            len: line.len()
        }]
    );
}

#[test]
fn socket_links() {
    assert_eq!(parse_socket_link("socket:[93770]"), Some(93770));
    assert_eq!(parse_socket_link("pipe:[93770]"), None);
    assert_eq!(parse_socket_link("socket:[x]"), None);
    assert_eq!(parse_socket_link("/dev/null"), None);
}

#[test]
fn collector_reports_listeners_and_connections() {
    let config = NetworkConfig {
        proc_root: fixture("root/proc"),
        ..NetworkConfig::default()
    };
    let mut collector = NetworkCollector::new(config);
    let mut records = Vec::new();
    collector.collect(&mut records);
    let opened: Vec<(Protocol, SocketAddr)> = records
        .iter()
        .filter_map(|r| match r {
            Record::ListeningPortOpened(l) => Some((l.protocol, l.local)),
            _ => None,
        })
        .collect();
    assert_eq!(
        opened,
        [
            (Protocol::Tcp, v4(127, 0, 0, 1, 47003)),
            (Protocol::Tcp, "[::]:47001".parse().unwrap()),
            (Protocol::Tcp, "[::1]:47002".parse().unwrap()),
            (Protocol::Udp, v4(0, 0, 0, 0, 47004)),
            (Protocol::Udp, "[::1]:47005".parse().unwrap()),
        ]
    );
    let connections: Vec<(Direction, SocketAddr, SocketAddr)> = records
        .iter()
        .filter_map(|r| match r {
            Record::NetworkConnection(c) => Some((c.direction, c.local, c.remote)),
            _ => None,
        })
        .collect();
    assert_eq!(
        connections,
        [
            (
                Direction::Outbound,
                v4(127, 0, 0, 1, 41014),
                v4(127, 0, 0, 1, 47001)
            ),
            (
                Direction::Inbound,
                v4(127, 0, 0, 1, 47001),
                v4(127, 0, 0, 1, 41014)
            ),
            (
                Direction::Outbound,
                v4(127, 0, 0, 1, 57436),
                v4(127, 0, 0, 1, 47004)
            ),
        ]
    );
    records.clear();
    collector.collect(&mut records);
    assert!(
        records.is_empty(),
        "an unchanged table reports nothing: {records:?}"
    );
}

#[test]
fn collector_reports_closed_port_and_unreadable_table() {
    let dir = tempfile::tempdir().unwrap();
    let net = dir.path().join("net");
    std::fs::create_dir(&net).unwrap();
    std::fs::copy(fixture("root/proc/net/tcp"), net.join("tcp")).unwrap();
    let mut collector = NetworkCollector::new(NetworkConfig {
        proc_root: dir.path().to_path_buf(),
        ..NetworkConfig::default()
    });
    let mut records = Vec::new();
    collector.collect(&mut records);
    assert_eq!(
        records
            .iter()
            .filter(|r| matches!(r, Record::ListeningPortOpened(_)))
            .count(),
        1
    );

    // The listener is gone, but tcp6 is a directory, which cannot be read
    // as a file: TCP sockets may be hidden, so no close is reported yet.
    let header = std::fs::read_to_string(net.join("tcp"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    std::fs::write(net.join("tcp"), format!("{header}\n")).unwrap();
    std::fs::create_dir(net.join("tcp6")).unwrap();
    records.clear();
    collector.collect(&mut records);
    assert_eq!(records.len(), 1, "{records:?}");
    assert!(
        matches!(&records[0], Record::CollectionError(e) if e.path.as_deref().is_some_and(|p| p.ends_with("tcp6"))),
        "{records:?}"
    );

    // With every table readable again the close is reported.
    std::fs::remove_dir(net.join("tcp6")).unwrap();
    records.clear();
    collector.collect(&mut records);
    assert_eq!(records.len(), 1, "{records:?}");
    assert!(
        matches!(&records[0], Record::ListeningPortClosed(l) if l.local == v4(127, 0, 0, 1, 47003)),
        "{records:?}"
    );
}

#[test]
fn collector_maps_own_listener_to_this_process() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut collector = NetworkCollector::new(NetworkConfig::default());
    let mut records = Vec::new();
    collector.collect(&mut records);
    let own = records.iter().find_map(|r| match r {
        Record::ListeningPortOpened(l) if l.local == v4(127, 0, 0, 1, port) => Some(l),
        _ => None,
    });
    let own = own.expect("the test's listener is reported");
    assert_eq!(own.pid, Some(std::process::id()));
}

#[test]
fn collector_without_tables_reports_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut collector = NetworkCollector::new(NetworkConfig {
        proc_root: dir.path().join("proc"),
        ..NetworkConfig::default()
    });
    let mut records = Vec::new();
    collector.collect(&mut records);
    assert_eq!(records.len(), 1, "{records:?}");
    let Record::CollectionError(error) = &records[0] else {
        panic!("expected a collection error: {records:?}")
    };
    assert_eq!(error.collector, "network");
    assert!(
        error.reason.contains("no socket table found"),
        "{}",
        error.reason
    );
}
