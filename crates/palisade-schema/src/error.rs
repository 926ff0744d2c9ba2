//! Errors of the strict decoder.

/// Why a byte string did not decode into a schema value.
///
/// Offsets count bytes from the start of the input given to
/// [`from_bytes`](crate::from_bytes) or [`take_from_bytes`](crate::take_from_bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
// `repr(C)` keeps the one-byte and four-byte fields out of the tag's word.
// With rustc's default layout they share it, and moving the error through
// serde's nested `Result`s then takes overlapping partial copies, which made
// event decoding 2.35x slower in a criterion benchmark on x86-64.
#[repr(C)]
pub enum DecodeError {
    /// The input ended in the middle of a value.
    #[error("input ended at byte {offset} in the middle of a value; the record is truncated")]
    UnexpectedEnd {
        /// Where the missing bytes should have started.
        offset: usize,
    },
    /// Bytes were left over after the value ended.
    #[error("{count} trailing bytes after the value; the record must end where the value ends")]
    TrailingBytes {
        /// How many bytes were left over.
        count: usize,
    },
    /// A varint used more bytes than its value needs.
    #[error("over-long varint at byte {offset}; encoders must write the shortest form")]
    NonCanonicalVarint {
        /// Where the varint starts.
        offset: usize,
    },
    /// A varint does not fit the integer type it encodes.
    #[error("varint at byte {offset} overflows its integer type")]
    VarintOverflow {
        /// Where the varint starts.
        offset: usize,
    },
    /// An enum tag names no variant known to this schema version.
    #[error("unknown {type_name} tag {tag}; the sender may use a newer schema version")]
    UnknownVariant {
        /// The Rust type being decoded, for example `EventBody`.
        type_name: &'static str,
        /// The tag that was read.
        tag: u32,
    },
    /// A string field is not valid UTF-8.
    #[error("string at byte {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// Where the string's bytes start.
        offset: usize,
    },
    /// A boolean byte was neither 0 nor 1.
    #[error("boolean byte {value:#04x} at byte {offset} is neither 0 nor 1")]
    InvalidBool {
        /// The byte that was read.
        value: u8,
        /// Where it was read.
        offset: usize,
    },
    /// An `Option` tag byte was neither 0 nor 1.
    #[error("option tag {value:#04x} at byte {offset} is neither 0 nor 1")]
    InvalidOption {
        /// The byte that was read.
        value: u8,
        /// Where it was read.
        offset: usize,
    },
    /// A string, byte string or list is longer than its documented maximum.
    #[error("field of length {len} exceeds its maximum of {max}")]
    TooLong {
        /// The length that was read.
        len: usize,
        /// The maximum for that field.
        max: usize,
    },
    /// A value is out of its documented range (for example a hit count of 0).
    #[error("value {value} is out of range: {expected}")]
    OutOfRange {
        /// The value that was read.
        value: u64,
        /// What was expected instead.
        expected: &'static str,
    },
    /// The decoder was asked for a value that the Palisade wire format does
    /// not use (self-describing `deserialize_any`, or skipping a value with
    /// `deserialize_ignored_any`).
    #[error("the schema decoder does not support {what}")]
    Unsupported {
        /// The unsupported serde data type.
        what: &'static str,
    },
    /// A nested value exceeded the decoder's depth limit.
    #[error("nesting deeper than {max} levels")]
    TooDeep {
        /// The depth limit.
        max: usize,
    },
    /// Any other invalid value reported by a `Deserialize` implementation.
    #[error("invalid value at byte {offset}")]
    Invalid {
        /// Start of the innermost field, item or variant content that raised
        /// the error. It is `usize::MAX` when a `serde::de::Error` method built
        /// the error and it never passed through this crate's decoder.
        offset: usize,
    },
}
