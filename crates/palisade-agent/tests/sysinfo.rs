//! System information: identity, operating system and interfaces.
#![cfg(all(feature = "linux", target_endian = "little"))]

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::{fixture, read_fixture};
use palisade_agent::linux::sysinfo::{
    InterfaceLineError, interface_of, parse_fib_trie_local, parse_if_inet6, parse_mac, parse_route,
};
use palisade_agent::linux::{Collector, Record, SystemInfoCollector, SystemInfoConfig};

#[test]
fn mac_addresses() {
    assert_eq!(
        parse_mac("02:fc:00:00:00:01\n"),
        Some([2, 0xfc, 0, 0, 0, 1])
    );
    assert_eq!(parse_mac("00:00:00:00:00:00"), None);
    assert_eq!(parse_mac("02:fc:00:00:00"), None);
    assert_eq!(parse_mac("02:fc:00:00:00:01:02"), None);
    assert_eq!(parse_mac("2:fc:00:00:00:01"), None);
}

#[test]
fn ipv4_from_fib_trie_and_route() {
    let local = parse_fib_trie_local(&read_fixture("root/proc/net/fib_trie"));
    assert_eq!(local, [Ipv4Addr::LOCALHOST, Ipv4Addr::new(192, 0, 2, 2)]);
    let parsed = parse_route(&read_fixture("root/proc/net/route"));
    assert!(parsed.errors.is_empty());
    let routes = parsed.items;
    assert_eq!(routes.len(), 1, "the default route has a gateway");
    assert_eq!(routes[0].destination, Ipv4Addr::new(192, 0, 2, 0));
    assert_eq!(
        interface_of(Ipv4Addr::new(192, 0, 2, 2), &routes).as_deref(),
        Some("eth0")
    );
    assert_eq!(
        interface_of(Ipv4Addr::LOCALHOST, &routes).as_deref(),
        Some("lo")
    );
    assert_eq!(interface_of(Ipv4Addr::new(10, 0, 0, 1), &routes), None);
}

#[test]
fn ipv6_from_if_inet6() {
    let parsed = parse_if_inet6(&read_fixture("root/proc/net/if_inet6"));
    assert!(parsed.errors.is_empty());
    let addresses = parsed.items;
    let expected: Vec<(String, std::net::Ipv6Addr)> = vec![
        ("eth0".into(), "fe80::fc:ff:fe00:1".parse().unwrap()),
        ("eth0".into(), "fd00::2".parse().unwrap()),
        ("lo".into(), "::1".parse().unwrap()),
    ];
    assert_eq!(addresses, expected);
}

#[test]
fn interface_line_errors() {
    let inet6 = parse_if_inet6("zz 01 80 10 80 lo\n00000000000000000000000000000001 01 80\n");
    assert!(inet6.items.is_empty());
    assert_eq!(
        inet6.errors,
        [
            InterfaceLineError::BadAddress {
                line: 1,
                value: "zz".to_string()
            },
            InterfaceLineError::Columns {
                line: 2,
                expected: 6,
                found: 3
            },
        ]
    );
    let route = parse_route(
        "Iface Destination\neth0 000200C0 00000000 0001\neth0 0002 00000000 0001 0 0 0 00FFFFFF\n",
    );
    assert!(route.items.is_empty());
    assert_eq!(
        route.errors,
        [
            InterfaceLineError::Columns {
                line: 2,
                expected: 11,
                found: 4
            },
            InterfaceLineError::BadAddress {
                line: 3,
                value: "0002".to_string()
            },
        ]
    );
}

#[test]
fn collector_over_fixture_tree() {
    let root = fixture("root");
    let config = SystemInfoConfig {
        proc_root: root.join("proc"),
        sys_root: root.join("sys"),
        os_release: root.join("etc/os-release"),
        firmware_version: "2.4.1".to_string(),
        ..SystemInfoConfig::default()
    };
    let mut records = Vec::new();
    SystemInfoCollector::new(config).collect(&mut records);
    let [Record::SystemInfo(info)] = records.as_slice() else {
        panic!("{records:?}")
    };
    assert_eq!(info.vendor, "unknown");
    assert_eq!(info.model, "Raspberry Pi 4 Model B Rev 1.4");
    assert_eq!(info.hostname, "pump-17");
    assert_eq!(
        (info.os_name.as_str(), info.os_version.as_str()),
        ("Debian GNU/Linux", "12")
    );
    assert_eq!(info.architecture, std::env::consts::ARCH);
    assert_eq!(info.firmware_version, "2.4.1");
    let names: Vec<&str> = info.interfaces.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["eth0", "lo"]);
    assert_eq!(info.interfaces[0].mac, Some([2, 0xfc, 0, 0, 0, 1]));
    assert_eq!(
        info.interfaces[0].addresses[0],
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2))
    );
    assert_eq!(info.interfaces[0].addresses.len(), 3);
    assert_eq!(info.interfaces[1].mac, None);
}

#[test]
fn collector_without_sources_says_unknown() {
    let missing = fixture("missing");
    let config = SystemInfoConfig {
        proc_root: missing.join("proc"),
        sys_root: missing.join("sys"),
        os_release: missing.join("os-release"),
        ..SystemInfoConfig::default()
    };
    let mut records = Vec::new();
    SystemInfoCollector::new(config).collect(&mut records);
    let errors = records
        .iter()
        .filter(|r| matches!(r, Record::CollectionError(_)))
        .count();
    assert_eq!(errors, 2, "os-release and the interface list: {records:?}");
    let Some(Record::SystemInfo(info)) = records.last() else {
        panic!("{records:?}")
    };
    assert_eq!(
        (
            info.vendor.as_str(),
            info.model.as_str(),
            info.hostname.as_str()
        ),
        ("unknown", "unknown", "unknown")
    );
}
