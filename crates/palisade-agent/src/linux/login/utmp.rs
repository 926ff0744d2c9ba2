//! Binary utmp, wtmp and btmp records (glibc on 64-bit Linux: 384 bytes).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::prelude::rust_2024::*;

use crate::linux::read::Parsed;

/// Size of one `struct utmp` record with glibc on x86_64 and aarch64.
pub const UTMP_RECORD_LEN: usize = 384;

// Field offsets in `struct utmp` (glibc, 64-bit, 32-bit `ut_tv` fields).
const TYPE: usize = 0;
const PID: usize = 4;
const LINE: (usize, usize) = (8, 32);
const USER: (usize, usize) = (44, 32);
const HOST: (usize, usize) = (76, 256);
const TV_SEC: usize = 340;
const TV_USEC: usize = 344;
const ADDR_V6: usize = 348;

/// `ut_type` values from `<utmp.h>`.
pub mod kind {
    /// No valid user accounting information.
    pub const EMPTY: i16 = 0;
    /// A change of run level.
    pub const RUN_LVL: i16 = 1;
    /// The system boot time.
    pub const BOOT_TIME: i16 = 2;
    /// A process spawned by init.
    pub const INIT_PROCESS: i16 = 5;
    /// A login prompt waiting for a user (getty); in btmp, a failed login.
    pub const LOGIN_PROCESS: i16 = 6;
    /// A user's session.
    pub const USER_PROCESS: i16 = 7;
    /// A session that ended.
    pub const DEAD_PROCESS: i16 = 8;
    /// Largest value defined (`ACCOUNTING`).
    pub const MAX: i16 = 9;
}

/// One utmp record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UtmpRecord {
    /// `ut_type`, see [`kind`].
    pub kind: i16,
    /// `ut_pid`.
    pub pid: i32,
    /// `ut_line`: the terminal, such as `pts/0` or `ssh:notty`.
    pub line: String,
    /// `ut_user`.
    pub user: String,
    /// `ut_host`: remote host name or address, or the kernel version for boot records.
    pub host: String,
    /// `ut_tv` in milliseconds since the Unix epoch (negative times read as 0).
    pub time_unix_ms: u64,
    /// `ut_addr_v6`: the remote address, when set.
    pub address: Option<IpAddr>,
}

/// Reasons a utmp record is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UtmpError {
    /// The file ends inside a record.
    #[error(
        "{len} trailing bytes at offset {offset} do not form a whole {UTMP_RECORD_LEN}-byte utmp record"
    )]
    Truncated {
        /// Offset of the partial record.
        offset: usize,
        /// Bytes left.
        len: usize,
    },
    /// `ut_type` is outside 0..=9, so the file is not in this layout.
    #[error(
        "record at offset {offset} has ut_type {kind}, outside 0..=9; the file is not a glibc 64-bit utmp file"
    )]
    BadType {
        /// Offset of the record.
        offset: usize,
        /// The value found.
        kind: i16,
    },
}

fn c_string(bytes: &[u8], (start, len): (usize, usize)) -> String {
    let field = &bytes[start..start + len];
    let end = field.iter().position(|&b| b == 0).unwrap_or(len);
    String::from_utf8_lossy(&field[..end]).into_owned()
}

fn i32_at(bytes: &[u8], offset: usize) -> i32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[offset..offset + 4]);
    i32::from_ne_bytes(word)
}

/// Parses one record of exactly [`UTMP_RECORD_LEN`] bytes; `offset` is
/// only used in errors.
pub fn parse_utmp_record(
    bytes: &[u8; UTMP_RECORD_LEN],
    offset: usize,
) -> Result<UtmpRecord, UtmpError> {
    let kind = i16::from_ne_bytes([bytes[TYPE], bytes[TYPE + 1]]);
    if !(0..=kind::MAX).contains(&kind) {
        return Err(UtmpError::BadType { offset, kind });
    }
    let seconds = u64::try_from(i32_at(bytes, TV_SEC)).unwrap_or(0);
    let micros = u64::try_from(i32_at(bytes, TV_USEC)).unwrap_or(0);
    let mut address = [0u8; 16];
    address.copy_from_slice(&bytes[ADDR_V6..ADDR_V6 + 16]);
    let address = if address == [0; 16] {
        None
    } else if address[4..] == [0; 12] {
        // glibc stores an IPv4 address in the first word only.
        Some(IpAddr::V4(Ipv4Addr::new(
            address[0], address[1], address[2], address[3],
        )))
    } else {
        Some(IpAddr::V6(Ipv6Addr::from(address)).to_canonical())
    };
    Ok(UtmpRecord {
        kind,
        pid: i32_at(bytes, PID),
        line: c_string(bytes, LINE),
        user: c_string(bytes, USER),
        host: c_string(bytes, HOST),
        time_unix_ms: seconds.saturating_mul(1000).saturating_add(micros / 1000),
        address,
    })
}

/// Parses a sequence of records; a trailing partial record is an error.
pub fn parse_utmp(bytes: &[u8]) -> Parsed<UtmpRecord, UtmpError> {
    let mut parsed = Parsed::default();
    let mut chunks = bytes.chunks_exact(UTMP_RECORD_LEN);
    for (index, chunk) in chunks.by_ref().enumerate() {
        let offset = index * UTMP_RECORD_LEN;
        let Ok(record) = <&[u8; UTMP_RECORD_LEN]>::try_from(chunk) else {
            continue;
        };
        match parse_utmp_record(record, offset) {
            Ok(record) => parsed.items.push(record),
            Err(e) => parsed.errors.push(e),
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        parsed.errors.push(UtmpError::Truncated {
            offset: bytes.len() - rest.len(),
            len: rest.len(),
        });
    }
    parsed
}
