//! CRC-32 (IEEE 802.3, the zlib and PNG checksum) for frames and stored
//! records.
//!
//! `crc32fast` uses PCLMULQDQ on x86_64 when the `std` feature lets it
//! detect the CPU at run time, and a table otherwise.

/// CRC-32 of `bytes`.
pub(crate) fn checksum(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}
