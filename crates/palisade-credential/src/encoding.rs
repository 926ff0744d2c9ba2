//! Strict reader for the postcard layout of Palisade objects.
//!
//! postcard's own deserializer accepts over-long varints and ignores
//! trailing bytes, so two different byte strings could decode to one object.
//! Signatures cover exact bytes, so this reader accepts exactly one encoding
//! per value: minimal varints, flag bytes of 0 or 1, and no trailing bytes.
//! Encoding goes through postcard itself (`postcard::to_slice`).

use crate::reason::{ObjectType, RejectReason};

/// Bounded, non-panicking reader over one encoded object.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
    object: ObjectType,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8], object: ObjectType) -> Self {
        Self {
            bytes,
            position: 0,
            object,
        }
    }

    pub(crate) fn object(&self) -> ObjectType {
        self.object
    }

    pub(crate) fn position(&self) -> usize {
        self.position
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }

    /// Returns the bytes from `start` up to the current position.
    pub(crate) fn consumed_since(&self, start: usize) -> &'a [u8] {
        &self.bytes[start..self.position]
    }

    pub(crate) fn malformed(&self, field: &'static str) -> RejectReason {
        RejectReason::Malformed {
            object: self.object,
            field,
        }
    }

    pub(crate) fn take(&mut self, len: usize) -> Result<&'a [u8], RejectReason> {
        if self.remaining() < len {
            return Err(RejectReason::Truncated {
                object: self.object,
                offset: self.bytes.len(),
            });
        }
        let slice = &self.bytes[self.position..self.position + len];
        self.position += len;
        Ok(slice)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], RejectReason> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, RejectReason> {
        Ok(self.take(1)?[0])
    }

    /// Reads a postcard bool or `Option` tag: exactly 0 or 1.
    pub(crate) fn flag(&mut self) -> Result<bool, RejectReason> {
        let offset = self.position;
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(RejectReason::NonCanonicalEncoding {
                object: self.object,
                offset,
            }),
        }
    }

    /// Reads a minimal LEB128 varint of at most `bits` bits.
    fn varint(&mut self, bits: u32) -> Result<u64, RejectReason> {
        let start = self.position;
        let max_len = bits.div_ceil(7) as usize;
        let mut value: u64 = 0;
        for index in 0..max_len {
            let byte = self.u8()?;
            let shift = 7 * index as u32;
            let payload = u64::from(byte & 0x7f);
            if index == max_len - 1 {
                // The last possible byte may carry only the bits that remain.
                let room = bits - shift;
                if byte & 0x80 != 0 || (room < 7 && payload >> room != 0) {
                    return Err(self.malformed("varint"));
                }
            }
            value |= payload << shift;
            if byte & 0x80 == 0 {
                // A final zero byte after other bytes adds nothing: over-long.
                if byte == 0 && index > 0 {
                    return Err(RejectReason::NonCanonicalEncoding {
                        object: self.object,
                        offset: start,
                    });
                }
                return Ok(value);
            }
        }
        Err(self.malformed("varint"))
    }

    pub(crate) fn u16(&mut self) -> Result<u16, RejectReason> {
        // The varint reader limits the value to 16 bits, so the cast is exact.
        Ok(self.varint(16)? as u16)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, RejectReason> {
        Ok(self.varint(32)? as u32)
    }

    pub(crate) fn u64(&mut self) -> Result<u64, RejectReason> {
        self.varint(64)
    }

    /// Reads an enum discriminant (postcard writes it as a u32 varint).
    pub(crate) fn variant(&mut self) -> Result<u32, RejectReason> {
        self.u32()
    }

    /// Reads a sequence length and checks it against `max`.
    pub(crate) fn length(
        &mut self,
        field: &'static str,
        max: usize,
    ) -> Result<usize, RejectReason> {
        let count = self.u32()? as usize;
        if count > max {
            return Err(RejectReason::TooManyEntries {
                object: self.object,
                field,
                count,
                max,
            });
        }
        Ok(count)
    }

    /// Reads a byte string (postcard: varint length, then the bytes).
    pub(crate) fn bytes(
        &mut self,
        field: &'static str,
        max: usize,
    ) -> Result<&'a [u8], RejectReason> {
        let len = self.length(field, max)?;
        self.take(len)
    }

    /// Checks the format version byte.
    pub(crate) fn version(&mut self, expected: u8) -> Result<(), RejectReason> {
        let found = self.u8()?;
        if found != expected {
            return Err(RejectReason::UnsupportedVersion {
                object: self.object,
                found,
                expected,
            });
        }
        Ok(())
    }

    /// Ends decoding: any byte left over is an error.
    pub(crate) fn finish(self) -> Result<(), RejectReason> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(RejectReason::TrailingBytes {
                object: self.object,
                extra,
            }),
        }
    }
}

/// Encodes `value` with postcard into `out` and returns the length written.
pub(crate) fn encode_into<T: serde::Serialize>(
    value: &T,
    out: &mut [u8],
) -> Result<usize, RejectReason> {
    let available = out.len();
    match postcard::to_slice(value, out) {
        Ok(written) => Ok(written.len()),
        Err(_) => {
            let needed = postcard::serialize_with_flavor::<T, postcard::ser_flavors::Size, usize>(
                value,
                postcard::ser_flavors::Size::default(),
            )
            .unwrap_or(usize::MAX);
            Err(RejectReason::BufferTooSmall { needed, available })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_u64(bytes: &[u8]) -> Result<u64, RejectReason> {
        let mut reader = Reader::new(bytes, ObjectType::Command);
        let value = reader.u64()?;
        reader.finish()?;
        Ok(value)
    }

    #[test]
    fn varint_minimal_forms_accepted() {
        assert_eq!(read_u64(&[0x00]), Ok(0));
        assert_eq!(read_u64(&[0x7f]), Ok(127));
        assert_eq!(read_u64(&[0x80, 0x01]), Ok(128));
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(read_u64(&max), Ok(u64::MAX));
    }

    #[test]
    fn varint_overlong_rejected() {
        assert!(matches!(
            read_u64(&[0x80, 0x00]),
            Err(RejectReason::NonCanonicalEncoding { .. })
        ));
        assert!(matches!(
            read_u64(&[0xff, 0x80, 0x00]),
            Err(RejectReason::NonCanonicalEncoding { .. })
        ));
    }

    #[test]
    fn varint_overflow_rejected() {
        let too_big = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(matches!(
            read_u64(&too_big),
            Err(RejectReason::Malformed { .. })
        ));
        let eleven = [0xff; 11];
        assert!(matches!(
            read_u64(&eleven),
            Err(RejectReason::Malformed { .. })
        ));
        let mut reader = Reader::new(&[0xff, 0xff, 0x04], ObjectType::Command);
        assert!(matches!(reader.u16(), Err(RejectReason::Malformed { .. })));
        let mut reader = Reader::new(&[0xff, 0xff, 0x03], ObjectType::Command);
        assert_eq!(reader.u16(), Ok(u16::MAX));
    }

    #[test]
    fn varint_matches_postcard() {
        let mut buffer = [0u8; 10];
        for value in [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX - 1, u64::MAX] {
            let used = postcard::to_slice(&value, &mut buffer).unwrap();
            assert_eq!(read_u64(used), Ok(value), "value {value}");
        }
    }

    #[test]
    fn flag_rejects_two() {
        let mut reader = Reader::new(&[2], ObjectType::Command);
        assert!(matches!(
            reader.flag(),
            Err(RejectReason::NonCanonicalEncoding { .. })
        ));
    }

    #[test]
    fn truncation_reported() {
        assert!(matches!(
            read_u64(&[0x80]),
            Err(RejectReason::Truncated { .. })
        ));
        assert!(matches!(read_u64(&[]), Err(RejectReason::Truncated { .. })));
    }

    #[test]
    fn trailing_bytes_reported() {
        assert_eq!(
            read_u64(&[0x01, 0x00]),
            Err(RejectReason::TrailingBytes {
                object: ObjectType::Command,
                extra: 1
            })
        );
    }
}
