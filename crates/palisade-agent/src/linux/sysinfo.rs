//! System information: identity, operating system and network interfaces.

use std::collections::BTreeMap;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::prelude::rust_2024::*;

use super::Collector;
use super::read::{ErrorSink, Limits, Parsed, read_bounded, read_text_bounded};
use super::record::{Interface, Record, SystemDescription};
use super::software::os_release_field;

/// Parses a MAC address as `/sys/class/net/*/address` writes it
/// (`aa:bb:cc:dd:ee:ff`); all zeros (loopback) gives `None`.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.trim().split(':');
    for byte in &mut mac {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    if parts.next().is_some() || mac == [0; 6] {
        return None;
    }
    Some(mac)
}

/// Reasons a line of `/proc/net/if_inet6` or `/proc/net/route` is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InterfaceLineError {
    /// The line does not have the expected columns.
    #[error("line {line}: expected {expected} columns, found {found}")]
    Columns {
        /// 1-based line number.
        line: usize,
        /// Columns the format has.
        expected: usize,
        /// Columns found.
        found: usize,
    },
    /// An address column is not hexadecimal of the right length.
    #[error("line {line}: invalid address {value:?}")]
    BadAddress {
        /// 1-based line number.
        line: usize,
        /// The column, shortened to 64 bytes.
        value: String,
    },
}

fn bad_address(line: usize, value: &str) -> InterfaceLineError {
    InterfaceLineError::BadAddress {
        line,
        value: value.chars().take(64).collect(),
    }
}

/// Parses `/proc/net/if_inet6`: `ADDRESS(32 hex) IFINDEX PREFIX SCOPE
/// FLAGS NAME` per line, the address in network byte order. Returns
/// `(interface, address)` pairs.
pub fn parse_if_inet6(text: &str) -> Parsed<(String, Ipv6Addr), InterfaceLineError> {
    let mut parsed = Parsed::default();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let columns: Vec<&str> = line.split_ascii_whitespace().collect();
        let [hex, _, _, _, _, name] = columns.as_slice() else {
            parsed.errors.push(InterfaceLineError::Columns {
                line: number,
                expected: 6,
                found: columns.len(),
            });
            continue;
        };
        let value = (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u128::from_str_radix(hex, 16).ok())
            .flatten();
        match value {
            Some(value) => parsed.items.push((name.to_string(), Ipv6Addr::from(value))),
            None => parsed.errors.push(bad_address(number, hex)),
        }
    }
    parsed
}

/// Lists the local IPv4 addresses of `/proc/net/fib_trie`: the leaves
/// followed by a `/32 host LOCAL` line, without duplicates.
pub fn parse_fib_trie_local(text: &str) -> Vec<Ipv4Addr> {
    let mut local = Vec::new();
    let mut leaf: Option<Ipv4Addr> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(address) = trimmed.strip_prefix("|-- ") {
            leaf = address.trim().parse().ok();
        } else if trimmed.starts_with("+--") {
            leaf = None;
        } else if let Some(address) = leaf.filter(|_| trimmed.starts_with("/32 host LOCAL"))
            && !local.contains(&address)
        {
            local.push(address);
        }
    }
    local
}

/// One route of `/proc/net/route` that points at a directly attached network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Interface name.
    pub interface: String,
    /// Network address.
    pub destination: Ipv4Addr,
    /// Network mask.
    pub mask: Ipv4Addr,
}

/// Parses `/proc/net/route` (header line first), keeping routes without
/// a gateway; addresses are hex words in host byte order.
pub fn parse_route(text: &str) -> Parsed<Route, InterfaceLineError> {
    let hex_ip = |hex: &str| {
        (hex.len() == 8)
            .then(|| u32::from_str_radix(hex, 16).ok())
            .flatten()
            .map(|word| Ipv4Addr::from(word.to_ne_bytes()))
    };
    let mut parsed = Parsed::default();
    for (index, line) in text.lines().enumerate().skip(1) {
        let number = index + 1;
        let columns: Vec<&str> = line.split_ascii_whitespace().collect();
        if columns.len() < 8 {
            parsed.errors.push(InterfaceLineError::Columns {
                line: number,
                expected: 11,
                found: columns.len(),
            });
            continue;
        }
        let address = |column: usize| {
            hex_ip(columns[column]).ok_or_else(|| bad_address(number, columns[column]))
        };
        match (address(1), address(2), address(7)) {
            (Ok(destination), Ok(gateway), Ok(mask)) => {
                if gateway.is_unspecified() {
                    parsed.items.push(Route {
                        interface: columns[0].to_string(),
                        destination,
                        mask,
                    });
                }
            }
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => parsed.errors.push(e),
        }
    }
    parsed
}

/// Finds the interface of a local IPv4 address: the most specific directly
/// attached route that contains it, or `lo` for 127.0.0.0/8.
pub fn interface_of(address: Ipv4Addr, routes: &[Route]) -> Option<String> {
    if address.is_loopback() {
        return Some("lo".to_string());
    }
    routes
        .iter()
        .filter(|r| {
            u32::from(address) & u32::from(r.mask) == u32::from(r.destination) & u32::from(r.mask)
        })
        .max_by_key(|r| u32::from(r.mask).count_ones())
        .map(|r| r.interface.clone())
}

/// Sources of the system information collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemInfoConfig {
    /// The proc file system, normally `/proc`.
    pub proc_root: PathBuf,
    /// The sys file system, normally `/sys`.
    pub sys_root: PathBuf,
    /// os-release, normally `/etc/os-release`.
    pub os_release: PathBuf,
    /// The device maker's firmware version to report.
    pub firmware_version: String,
    /// Size caps.
    pub limits: Limits,
}

impl Default for SystemInfoConfig {
    fn default() -> Self {
        Self {
            proc_root: PathBuf::from("/proc"),
            sys_root: PathBuf::from("/sys"),
            os_release: PathBuf::from("/etc/os-release"),
            firmware_version: "unknown".to_string(),
            limits: Limits::default(),
        }
    }
}

/// Reports one system information snapshot per scan.
pub struct SystemInfoCollector {
    config: SystemInfoConfig,
}

impl SystemInfoCollector {
    /// Creates a collector.
    pub fn new(config: SystemInfoConfig) -> Self {
        Self { config }
    }

    fn small_text(&self, path: &std::path::Path) -> Option<String> {
        let bytes = read_bounded(path, 4096).ok()?;
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
        (!text.is_empty()).then(|| text.to_string())
    }
}

impl Collector for SystemInfoCollector {
    fn name(&self) -> &'static str {
        "system_info"
    }

    fn collect(&mut self, out: &mut Vec<Record>) {
        let mut errors = ErrorSink::new(self.name(), self.config.limits.max_errors_per_scan, out);
        let config = &self.config;
        let dmi = config.sys_root.join("class/dmi/id");
        let device_tree_model = self.small_text(&config.proc_root.join("device-tree/model"));
        let vendor = self
            .small_text(&dmi.join("sys_vendor"))
            .unwrap_or_else(|| "unknown".to_string());
        let model = self
            .small_text(&dmi.join("product_name"))
            .or(device_tree_model)
            .unwrap_or_else(|| "unknown".to_string());
        let hostname = self
            .small_text(&config.proc_root.join("sys/kernel/hostname"))
            .unwrap_or_else(|| "unknown".to_string());
        let (os_name, os_version) = match read_text_bounded(&config.os_release, 64 * 1024) {
            Ok(text) => (
                os_release_field(&text, "NAME").unwrap_or_else(|| "Linux".to_string()),
                os_release_field(&text, "VERSION_ID")
                    .or_else(|| os_release_field(&text, "VERSION"))
                    .unwrap_or_else(|| "unknown".to_string()),
            ),
            Err(e) => {
                errors.report(Some(&config.os_release), &e);
                ("Linux".to_string(), "unknown".to_string())
            }
        };

        let mut interfaces: BTreeMap<String, Interface> = BTreeMap::new();
        let net = config.sys_root.join("class/net");
        match fs::read_dir(&net) {
            Ok(entries) => {
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let mac = self
                        .small_text(&entry.path().join("address"))
                        .as_deref()
                        .and_then(parse_mac);
                    interfaces.insert(
                        name.clone(),
                        Interface {
                            name,
                            mac,
                            addresses: Vec::new(),
                        },
                    );
                }
            }
            Err(e) => errors.report(Some(&net), std::format!("cannot list interfaces: {e}")),
        }
        let mut add = |name: &str, address: IpAddr| {
            let entry = interfaces
                .entry(name.to_string())
                .or_insert_with(|| Interface {
                    name: name.to_string(),
                    mac: None,
                    addresses: Vec::new(),
                });
            if !entry.addresses.contains(&address) {
                entry.addresses.push(address);
            }
        };
        let proc_net = config.proc_root.join("net");
        let route_path = proc_net.join("route");
        let routes = match read_text_bounded(&route_path, config.limits.max_file_bytes) {
            Ok(text) => {
                let parsed = parse_route(&text);
                for error in parsed.errors {
                    errors.report(Some(&route_path), error);
                }
                parsed.items
            }
            Err(e) if e.is_not_found() => Vec::new(),
            Err(e) => {
                errors.report(Some(&route_path), &e);
                Vec::new()
            }
        };
        match read_text_bounded(&proc_net.join("fib_trie"), config.limits.max_file_bytes) {
            Ok(text) => {
                for address in parse_fib_trie_local(&text) {
                    if let Some(name) = interface_of(address, &routes) {
                        add(&name, IpAddr::V4(address));
                    }
                }
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => errors.report(Some(&proc_net.join("fib_trie")), &e),
        }
        match read_text_bounded(&proc_net.join("if_inet6"), config.limits.max_file_bytes) {
            Ok(text) => {
                let parsed = parse_if_inet6(&text);
                for (name, address) in parsed.items {
                    add(&name, IpAddr::V6(address));
                }
                for error in parsed.errors {
                    errors.report(Some(&proc_net.join("if_inet6")), error);
                }
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => errors.report(Some(&proc_net.join("if_inet6")), &e),
        }
        let mut interfaces: Vec<Interface> = interfaces.into_values().collect();
        // Interfaces with addresses first, loopback last, so the event's
        // four slots hold the ones that matter.
        interfaces.sort_by_key(|i| (i.name == "lo", i.addresses.is_empty(), i.name.clone()));
        for interface in &mut interfaces {
            interface.addresses.sort_by_key(|a| a.is_ipv6());
        }
        errors.records().push(Record::SystemInfo(SystemDescription {
            vendor,
            model,
            hostname,
            os_name,
            os_version,
            architecture: std::env::consts::ARCH.to_string(),
            firmware_version: config.firmware_version.clone(),
            interfaces,
        }));
    }
}
