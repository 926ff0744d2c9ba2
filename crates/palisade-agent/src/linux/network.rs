//! Sockets from `/proc/net/{tcp,tcp6,udp,udp6}`, mapped to processes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::prelude::rust_2024::*;

use palisade_schema::{Direction, Protocol};

use super::Collector;
use super::process::list_pids;
use super::read::{ErrorSink, Limits, Parsed, bounded_lines, read_text_bounded};
use super::record::{Connection, Listener, Record};

/// TCP state `ESTABLISHED` as `/proc/net/tcp` prints it.
pub const TCP_ESTABLISHED: u8 = 0x01;
/// TCP state `LISTEN`.
pub const TCP_LISTEN: u8 = 0x0A;
/// The state the kernel shows for an unconnected UDP socket (`TCP_CLOSE`).
pub const UDP_UNCONNECTED: u8 = 0x07;

/// One line of a `/proc/net` socket table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Socket {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// Local address; IPv4-mapped IPv6 addresses are kept as the kernel shows them.
    pub local: SocketAddr,
    /// Remote address; unspecified with port 0 when not connected.
    pub remote: SocketAddr,
    /// Kernel socket state (see the `TCP_*` constants).
    pub state: u8,
    /// Owner's user id.
    pub uid: u32,
    /// Socket inode, to find the owning process through `/proc/<pid>/fd`.
    pub inode: u64,
}

impl Socket {
    /// Whether the socket accepts new peers: TCP in `LISTEN`, or UDP bound
    /// with no remote address.
    pub fn is_listening(&self) -> bool {
        match self.protocol {
            Protocol::Tcp => self.state == TCP_LISTEN,
            Protocol::Udp => {
                self.state == UDP_UNCONNECTED
                    && self.remote.port() == 0
                    && self.remote.ip().is_unspecified()
            }
        }
    }

    /// Whether the socket is a live connection: TCP established, or UDP
    /// connected to a remote address.
    pub fn is_connection(&self) -> bool {
        match self.protocol {
            Protocol::Tcp => self.state == TCP_ESTABLISHED,
            Protocol::Udp => self.remote.port() != 0,
        }
    }
}

/// Reasons a line of a socket table is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SocketLineError {
    /// Fewer than the 10 columns up to the inode.
    #[error("line {line}: expected at least 10 columns, found {found}")]
    MissingColumns {
        /// 1-based line number.
        line: usize,
        /// Columns found.
        found: usize,
    },
    /// An address column is not `HEX:PORT` of the table's family.
    #[error("line {line}: invalid address {value:?}")]
    BadAddress {
        /// 1-based line number.
        line: usize,
        /// The column, shortened to 64 bytes.
        value: String,
    },
    /// The state, uid or inode column is not a number.
    #[error("line {line}: invalid {column} column {value:?}")]
    BadNumber {
        /// 1-based line number.
        line: usize,
        /// Which column.
        column: &'static str,
        /// The column, shortened to 64 bytes.
        value: String,
    },
    /// The line is longer than the configured maximum.
    #[error("line {line}: {len} bytes exceeds the line limit")]
    TooLong {
        /// 1-based line number.
        line: usize,
        /// Its length in bytes.
        len: usize,
    },
}

fn shorten(value: &str) -> String {
    value.chars().take(64).collect()
}

/// Parses the 8 (IPv4) or 32 (IPv6) hex digits of a `/proc/net` address.
///
/// The kernel prints each 32-bit word of the address in the host's byte
/// order, so on little-endian machines `0100007F` is 127.0.0.1.
pub fn parse_hex_ip(hex: &str) -> Option<IpAddr> {
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    match hex.len() {
        8 => {
            let word = u32::from_str_radix(hex, 16).ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(word.to_ne_bytes())))
        }
        32 => {
            let mut octets = [0u8; 16];
            for (index, chunk) in octets.chunks_exact_mut(4).enumerate() {
                let word = u32::from_str_radix(hex.get(index * 8..index * 8 + 8)?, 16).ok()?;
                chunk.copy_from_slice(&word.to_ne_bytes());
            }
            Some(IpAddr::V6(Ipv6Addr::from(octets)))
        }
        _ => None,
    }
}

fn parse_endpoint(value: &str) -> Option<SocketAddr> {
    let (ip, port) = value.split_once(':')?;
    if port.len() != 4 {
        return None;
    }
    let port = u16::from_str_radix(port, 16).ok()?;
    Some(SocketAddr::new(parse_hex_ip(ip)?, port))
}

/// Parses a `/proc/net/{tcp,tcp6,udp,udp6}` table (header line first).
pub fn parse_socket_table(
    text: &str,
    protocol: Protocol,
    max_line: usize,
) -> Parsed<Socket, SocketLineError> {
    let mut parsed = Parsed::default();
    for (line, content) in bounded_lines(text, max_line).skip(1) {
        let content = match content {
            Ok(content) => content,
            Err(len) => {
                parsed.errors.push(SocketLineError::TooLong { line, len });
                continue;
            }
        };
        if content.trim().is_empty() {
            continue;
        }
        match parse_socket_line(content, protocol, line) {
            Ok(socket) => parsed.items.push(socket),
            Err(e) => parsed.errors.push(e),
        }
    }
    parsed
}

fn parse_socket_line(
    content: &str,
    protocol: Protocol,
    line: usize,
) -> Result<Socket, SocketLineError> {
    let columns: Vec<&str> = content.split_ascii_whitespace().collect();
    if columns.len() < 10 {
        return Err(SocketLineError::MissingColumns {
            line,
            found: columns.len(),
        });
    }
    let address = |value: &str| {
        parse_endpoint(value).ok_or_else(|| SocketLineError::BadAddress {
            line,
            value: shorten(value),
        })
    };
    let local = address(columns[1])?;
    let remote = address(columns[2])?;
    if local.is_ipv4() != remote.is_ipv4() {
        return Err(SocketLineError::BadAddress {
            line,
            value: shorten(columns[2]),
        });
    }
    let number_error = |column: &'static str, value: &str| SocketLineError::BadNumber {
        line,
        column,
        value: shorten(value),
    };
    let state = u8::from_str_radix(columns[3], 16).map_err(|_| number_error("st", columns[3]))?;
    let uid = columns[7]
        .parse()
        .map_err(|_| number_error("uid", columns[7]))?;
    let inode = columns[9]
        .parse()
        .map_err(|_| number_error("inode", columns[9]))?;
    Ok(Socket {
        protocol,
        local,
        remote,
        state,
        uid,
        inode,
    })
}

/// Returns the socket inode of a `/proc/<pid>/fd/<n>` link target
/// (`socket:[12345]`).
pub fn parse_socket_link(target: &str) -> Option<u64> {
    target
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Shows an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as IPv4.
pub fn canonical(address: SocketAddr) -> SocketAddr {
    SocketAddr::new(address.ip().to_canonical(), address.port())
}

/// The process that owns a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Process id.
    pub pid: u32,
    /// Executable, when `/proc/<pid>/exe` could be read.
    pub executable: Option<String>,
}

/// Maps socket inodes to owning processes by reading every
/// `/proc/<pid>/fd`; processes whose descriptors cannot be read (other
/// users' without privileges) are counted in the second value.
pub fn socket_owners(proc_root: &Path, max_processes: usize) -> (HashMap<u64, Owner>, usize) {
    let mut owners = HashMap::new();
    let mut unreadable = 0;
    let Ok(pids) = list_pids(proc_root) else {
        return (owners, 0);
    };
    for pid in pids.into_iter().take(max_processes) {
        let dir = proc_root.join(pid.to_string());
        let Ok(entries) = fs::read_dir(dir.join("fd")) else {
            unreadable += 1;
            continue;
        };
        let mut executable = None;
        for entry in entries.flatten() {
            let Ok(target) = fs::read_link(entry.path()) else {
                continue;
            };
            let Some(inode) = target.to_str().and_then(parse_socket_link) else {
                continue;
            };
            let executable = executable
                .get_or_insert_with(|| {
                    fs::read_link(dir.join("exe"))
                        .ok()
                        .map(|p| p.to_string_lossy().into_owned())
                })
                .clone();
            owners.entry(inode).or_insert(Owner { pid, executable });
        }
    }
    (owners, unreadable)
}

/// Sources of the network collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// The proc file system, normally `/proc`; the tables are under `net/`.
    pub proc_root: PathBuf,
    /// Whether to map sockets to processes through `/proc/<pid>/fd`.
    pub map_owners: bool,
    /// Maximum number of processes whose descriptors are read in one scan.
    pub max_processes: usize,
    /// Size caps.
    pub limits: Limits,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            proc_root: PathBuf::from("/proc"),
            map_owners: true,
            max_processes: 65_536,
            limits: Limits::default(),
        }
    }
}

/// The four socket tables and their protocols.
pub const SOCKET_TABLES: [(&str, Protocol); 4] = [
    ("tcp", Protocol::Tcp),
    ("tcp6", Protocol::Tcp),
    ("udp", Protocol::Udp),
    ("udp6", Protocol::Udp),
];

/// The socket tables read by [`read_sockets`], and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SocketTables {
    /// Sockets of every table that could be read.
    pub sockets: Vec<Socket>,
    /// Sources that could not be read, with the reason: a table that
    /// exists but failed to read, or `proc_root/net` itself when none of
    /// the four tables exists.
    pub unread: Vec<(PathBuf, String)>,
    /// Malformed lines: the table and the reason; the other lines of that
    /// table are still in `sockets`.
    pub line_errors: Vec<(PathBuf, String)>,
}

impl SocketTables {
    /// Returns whether some table could not be read, so `sockets` may be
    /// missing entries.
    pub fn is_incomplete(&self) -> bool {
        !self.unread.is_empty()
    }
}

/// Reads and parses every socket table under `proc_root/net`.
///
/// A single missing table (a kernel without IPv6) is skipped silently, but
/// when none of the four exists the `net` directory is listed in
/// [`SocketTables::unread`], because then nothing was read at all.
pub fn read_sockets(proc_root: &Path, limits: &Limits) -> SocketTables {
    let mut tables = SocketTables::default();
    let mut missing = 0;
    for (name, protocol) in SOCKET_TABLES {
        let path = proc_root.join("net").join(name);
        match read_text_bounded(&path, limits.max_file_bytes) {
            Ok(text) => {
                let parsed = parse_socket_table(&text, protocol, limits.max_line_bytes);
                for error in parsed.errors {
                    tables.line_errors.push((path.clone(), error.to_string()));
                }
                tables.sockets.extend(parsed.items);
            }
            Err(e) if e.is_not_found() => missing += 1,
            Err(e) => tables.unread.push((path, e.to_string())),
        }
    }
    if missing == SOCKET_TABLES.len() {
        let directory = proc_root.join("net");
        let reason = std::format!(
            "no socket table found in {}: tcp, tcp6, udp and udp6 are all missing; check that the proc file system is mounted there",
            directory.display()
        );
        tables.unread.push((directory, reason));
    }
    tables
}

type ConnectionKey = (Protocol, SocketAddr, SocketAddr);

/// Reports new connections, and listening sockets that opened or closed
/// since the previous scan (all of them on the first scan).
pub struct NetworkCollector {
    config: NetworkConfig,
    listeners: BTreeMap<(Protocol, SocketAddr), Listener>,
    connections: BTreeSet<ConnectionKey>,
}

impl NetworkCollector {
    /// Creates a collector.
    pub fn new(config: NetworkConfig) -> Self {
        Self {
            config,
            listeners: BTreeMap::new(),
            connections: BTreeSet::new(),
        }
    }

    /// The listening sockets found by the last scan.
    pub fn listeners(&self) -> impl Iterator<Item = &Listener> {
        self.listeners.values()
    }
}

fn is_wildcard_match(listen: SocketAddr, local: SocketAddr) -> bool {
    listen.port() == local.port() && (listen.ip().is_unspecified() || listen.ip() == local.ip())
}

impl Collector for NetworkCollector {
    fn name(&self) -> &'static str {
        "network"
    }

    fn collect(&mut self, out: &mut Vec<Record>) {
        let mut errors = ErrorSink::new(self.name(), self.config.limits.max_errors_per_scan, out);
        let tables = read_sockets(&self.config.proc_root, &self.config.limits);
        // A table that failed in part or whole hides its sockets this scan;
        // they must not be reported as closed because of that. A failure
        // that names no table (the `net` directory) hides every protocol.
        let mut failed_protocols: Vec<Protocol> = Vec::new();
        for (path, reason) in tables.unread.into_iter().chain(tables.line_errors) {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            match SOCKET_TABLES.iter().find(|(table, _)| *table == name) {
                Some((_, protocol)) => failed_protocols.push(*protocol),
                None => failed_protocols.extend([Protocol::Tcp, Protocol::Udp]),
            }
            errors.report(Some(&path), reason);
        }
        let sockets = tables.sockets;
        let (owners, unreadable) = if self.config.map_owners {
            socket_owners(&self.config.proc_root, self.config.max_processes)
        } else {
            (HashMap::new(), 0)
        };
        if unreadable > 0 {
            // Expected without privileges; those sockets are reported without an owner.
            log::debug!(
                "network collector: descriptors of {unreadable} processes could not be read"
            );
        }
        let owner_of = |inode: u64| owners.get(&inode).filter(|_| inode != 0);

        let mut listeners = BTreeMap::new();
        for socket in sockets.iter().filter(|s| s.is_listening()) {
            let local = canonical(socket.local);
            let owner = owner_of(socket.inode);
            let listener = Listener {
                protocol: socket.protocol,
                local,
                pid: owner.map(|o| o.pid),
                executable: owner.and_then(|o| o.executable.clone()),
            };
            // SO_REUSEPORT sockets share an address; keep one with an owner.
            let slot = listeners
                .entry((socket.protocol, local))
                .or_insert_with(|| listener.clone());
            if slot.pid.is_none() {
                *slot = listener;
            }
        }
        let mut connections = BTreeSet::new();
        for socket in sockets.iter().filter(|s| s.is_connection()) {
            let local = canonical(socket.local);
            let remote = canonical(socket.remote);
            let key = (socket.protocol, local, remote);
            if !connections.insert(key) || self.connections.contains(&key) {
                continue;
            }
            let inbound = socket.protocol == Protocol::Tcp
                && listeners
                    .keys()
                    .any(|(p, l)| *p == Protocol::Tcp && is_wildcard_match(*l, local));
            let owner = owner_of(socket.inode);
            errors.records().push(Record::NetworkConnection(Connection {
                protocol: socket.protocol,
                direction: if inbound {
                    Direction::Inbound
                } else {
                    Direction::Outbound
                },
                local,
                remote,
                pid: owner.map(|o| o.pid),
                executable: owner.and_then(|o| o.executable.clone()),
            }));
        }
        for (key, listener) in &listeners {
            if !self.listeners.contains_key(key) {
                errors
                    .records()
                    .push(Record::ListeningPortOpened(listener.clone()));
            }
        }
        for (key, listener) in &self.listeners {
            if listeners.contains_key(key) {
                continue;
            }
            if failed_protocols.contains(&key.0) {
                listeners.insert(*key, listener.clone());
            } else {
                errors
                    .records()
                    .push(Record::ListeningPortClosed(listener.clone()));
            }
        }
        self.listeners = listeners;
        self.connections = connections;
    }
}
