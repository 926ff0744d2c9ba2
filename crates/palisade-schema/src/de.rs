//! Strict, zero-copy decoder for the postcard 1.x wire format.
//!
//! The byte layout is postcard's. Unsigned integers wider than a byte are
//! LEB128 varints and signed ones are zigzag varints. Strings, byte strings,
//! sequences and maps start with a varint length. Structs and tuples are their
//! fields in order, with no length. An enum is a varint `u32` variant index
//! followed by the variant's content.
//!
//! This decoder accepts less than `postcard::from_bytes` (1.2) does, so that
//! every value has exactly one encoding. It also rejects:
//!
//! - a varint that uses more bytes than its value needs
//!   ([`DecodeError::NonCanonicalVarint`]);
//! - bytes left after the value, in [`from_bytes`]
//!   ([`DecodeError::TrailingBytes`]);
//! - values nested more than [`MAX_DEPTH`] levels deep
//!   ([`DecodeError::TooDeep`]).
//!
//! Like postcard, it rejects a varint that does not fit its integer type
//! ([`DecodeError::VarintOverflow`]), a `bool` or `Option` tag other than 0 or
//! 1, and an enum tag that names no variant ([`DecodeError::UnknownVariant`],
//! checked before the visitor runs). Every error names the byte offset or the
//! value at fault.
//!
//! Strings and byte strings are borrowed from the input, never copied. The
//! decoder does not allocate. It reads only through checked slice methods, so
//! any input gives a value or an error, never a panic. The tests feed it
//! random, mutated and truncated inputs.

use core::fmt;

use serde::de::{self, DeserializeSeed, Expected, Unexpected, Visitor};

use crate::error::DecodeError;

/// Maximum nesting depth of decoded values.
///
/// Each `Some`, sequence, map and enum value opens one level, so a hostile
/// input cannot exhaust the stack. These are the values through which the
/// input decides how deep a recursive type goes. Structs, tuples and newtype
/// structs are not counted, because the Rust type alone fixes their depth.
pub const MAX_DEPTH: usize = 32;

/// Placeholder offset of [`DecodeError::Invalid`] while it has not yet passed
/// through the decoder, which replaces it with the offset of the value that
/// raised it.
const UNKNOWN_OFFSET: usize = usize::MAX;

/// Text of [`DecodeError::OutOfRange`], because serde describes the expected
/// range with a borrowed value that the error cannot keep.
const OUT_OF_RANGE_EXPECTED: &str = "a value within the field's documented range";

/// Decodes one value that must fill `input` exactly.
///
/// # Errors
///
/// Returns [`DecodeError::TrailingBytes`] when bytes remain after the value,
/// and any other [`DecodeError`] when the value itself is invalid. Offsets
/// count from the start of `input`.
///
/// # Examples
///
/// ```
/// # use palisade_schema::{from_bytes, DecodeError};
/// // A (u32, &str) tuple: varint 300, then the string "ok".
/// let bytes = [0xAC, 0x02, 0x02, b'o', b'k'];
/// let (count, name): (u32, &str) = from_bytes(&bytes)?;
/// assert_eq!((count, name), (300, "ok"));
///
/// // 300 written with a redundant continuation byte is rejected.
/// let over_long = [0xAC, 0x82, 0x00, 0x02, b'o', b'k'];
/// assert_eq!(
///     from_bytes::<(u32, &str)>(&over_long),
///     Err(DecodeError::NonCanonicalVarint { offset: 0 })
/// );
/// # Ok::<(), DecodeError>(())
/// ```
#[inline]
pub fn from_bytes<'de, T>(input: &'de [u8]) -> Result<T, DecodeError>
where
    T: de::Deserialize<'de>,
{
    let mut deserializer = Deserializer::from_bytes(input);
    match T::deserialize(&mut deserializer) {
        Ok(value) if deserializer.rest.is_empty() => Ok(value),
        Ok(_) => Err(DecodeError::TrailingBytes {
            count: deserializer.rest.len(),
        }),
        Err(error) => Err(locate(error, 0)),
    }
}

/// Decodes one value from the front of `input` and returns it with the bytes
/// that follow it, for reading a batch of values one after another.
///
/// # Errors
///
/// Returns a [`DecodeError`] when the value is invalid or truncated. Offsets
/// count from the start of `input`.
#[inline]
pub fn take_from_bytes<'de, T>(input: &'de [u8]) -> Result<(T, &'de [u8]), DecodeError>
where
    T: de::Deserialize<'de>,
{
    let mut deserializer = Deserializer::from_bytes(input);
    match T::deserialize(&mut deserializer) {
        Ok(value) => Ok((value, deserializer.rest)),
        Err(error) => Err(locate(error, 0)),
    }
}

/// A serde deserializer for the postcard 1.x format that rejects every
/// encoding but the canonical one.
///
/// [`from_bytes`] and [`take_from_bytes`] cover the usual cases. Use this type
/// to drive a `DeserializeSeed` or to read several values while keeping track
/// of the offset.
#[derive(Debug)]
pub struct Deserializer<'de> {
    /// Input not yet consumed.
    rest: &'de [u8],
    /// Length of the whole input, so that `input_len - rest.len()` is the
    /// current offset.
    input_len: usize,
    /// Number of nested values currently open.
    depth: usize,
}

impl<'de> Deserializer<'de> {
    /// Creates a deserializer that reads from the start of `input`.
    #[inline]
    #[must_use]
    pub fn from_bytes(input: &'de [u8]) -> Self {
        Self {
            rest: input,
            input_len: input.len(),
            depth: 0,
        }
    }

    /// Returns the number of bytes consumed so far.
    #[inline]
    #[must_use]
    pub fn offset(&self) -> usize {
        self.input_len - self.rest.len()
    }

    /// Returns the input not consumed yet.
    #[inline]
    #[must_use]
    pub fn remaining(&self) -> &'de [u8] {
        self.rest
    }

    /// Error for a read that needs more bytes than remain. The missing bytes
    /// would start at the end of the input.
    #[inline]
    fn unexpected_end(&self) -> DecodeError {
        DecodeError::UnexpectedEnd {
            offset: self.input_len,
        }
    }

    #[inline]
    fn take_byte(&mut self) -> Result<u8, DecodeError> {
        match self.rest.split_first() {
            Some((&byte, tail)) => {
                self.rest = tail;
                Ok(byte)
            }
            None => Err(self.unexpected_end()),
        }
    }

    #[inline]
    fn take_bytes(&mut self, count: usize) -> Result<&'de [u8], DecodeError> {
        match self.rest.split_at_checked(count) {
            Some((head, tail)) => {
                self.rest = tail;
                Ok(head)
            }
            None => Err(self.unexpected_end()),
        }
    }

    #[inline]
    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        match self.rest.split_first_chunk::<N>() {
            Some((head, tail)) => {
                self.rest = tail;
                Ok(*head)
            }
            None => Err(self.unexpected_end()),
        }
    }

    /// Reads a length prefix (a `usize` varint) and checks that it fits the
    /// target's `usize`.
    #[inline]
    fn take_len(&mut self) -> Result<usize, DecodeError> {
        let start = self.offset();
        let len = self.take_varint_u64()?;
        usize::try_from(len).map_err(|_| DecodeError::VarintOverflow { offset: start })
    }

    #[inline]
    fn take_byte_string(&mut self) -> Result<&'de [u8], DecodeError> {
        let len = self.take_len()?;
        self.take_bytes(len)
    }

    #[inline]
    fn take_str(&mut self) -> Result<&'de str, DecodeError> {
        let bytes = self.take_byte_string()?;
        core::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8 {
            offset: self.offset() - bytes.len(),
        })
    }

    /// Decodes one field, item or variant content with `seed`, and gives a
    /// [`DecodeError::Invalid`] raised inside it the offset where it starts.
    #[inline]
    fn decode_located<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<T::Value, DecodeError> {
        // Only the remaining length is kept on the success path. The offset
        // is computed once an error occurs.
        let remaining_before = self.rest.len();
        match seed.deserialize(&mut *self) {
            Ok(value) => Ok(value),
            Err(error) => Err(locate(error, self.input_len - remaining_before)),
        }
    }

    /// Runs `decode` one nesting level deeper, or fails once [`MAX_DEPTH`]
    /// levels are open.
    #[inline]
    fn nested<R>(
        &mut self,
        decode: impl FnOnce(&mut Self) -> Result<R, DecodeError>,
    ) -> Result<R, DecodeError> {
        if self.depth >= MAX_DEPTH {
            return Err(DecodeError::TooDeep { max: MAX_DEPTH });
        }
        self.depth += 1;
        let result = decode(self);
        self.depth -= 1;
        result
    }
}

/// Generates a reader for an unsigned LEB128 varint of one integer type.
///
/// A varint of `$ty` takes at most `ceil(BITS / 7)` bytes. Its last byte may
/// only carry the bits that remain after the earlier bytes' 7 bits each, so a
/// `u32` varint's fifth byte is at most `0x0F`. A final byte of zero after a
/// continuation adds nothing and makes the encoding over-long.
macro_rules! varint_reader {
    ($name:ident, $ty:ty) => {
        #[inline]
        fn $name(&mut self) -> Result<$ty, DecodeError> {
            const MAX_BYTES: usize = (<$ty>::BITS as usize).div_ceil(7);
            const LAST_BYTE_MAX: u8 = (1 << (<$ty>::BITS as usize - 7 * (MAX_BYTES - 1))) - 1;

            let mut rest = self.rest;
            let mut value: $ty = 0;
            let mut index = 0;
            loop {
                let Some((&byte, tail)) = rest.split_first() else {
                    return Err(self.unexpected_end());
                };
                rest = tail;
                value |= <$ty>::from(byte & 0x7F) << (7 * index);
                if byte & 0x80 == 0 {
                    if index + 1 == MAX_BYTES && byte > LAST_BYTE_MAX {
                        return Err(DecodeError::VarintOverflow {
                            offset: self.offset(),
                        });
                    }
                    if byte == 0 && index > 0 {
                        return Err(DecodeError::NonCanonicalVarint {
                            offset: self.offset(),
                        });
                    }
                    self.rest = rest;
                    return Ok(value);
                }
                index += 1;
                if index == MAX_BYTES {
                    return Err(DecodeError::VarintOverflow {
                        offset: self.offset(),
                    });
                }
            }
        }
    };
}

impl Deserializer<'_> {
    varint_reader!(take_varint_u16, u16);
    varint_reader!(take_varint_u32, u32);
    varint_reader!(take_varint_u64, u64);
    varint_reader!(take_varint_u128, u128);
}

/// Generates the inverse of zigzag encoding, which decodes 0, 1, 2, 3, ... to
/// 0, -1, 1, -2, ...
macro_rules! unzigzag {
    ($name:ident, $unsigned:ty, $signed:ty) => {
        #[inline]
        fn $name(encoded: $unsigned) -> $signed {
            // Both casts reinterpret bits of the same width.
            ((encoded >> 1) as $signed) ^ -((encoded & 1) as $signed)
        }
    };
}

unzigzag!(unzigzag_i16, u16, i16);
unzigzag!(unzigzag_i32, u32, i32);
unzigzag!(unzigzag_i64, u64, i64);
unzigzag!(unzigzag_i128, u128, i128);

/// Fills in the offset of a [`DecodeError::Invalid`] built by a
/// [`de::Error`] method, which cannot know where the decoder is. The innermost
/// value that the error passes through sets it.
#[cold]
fn locate(error: DecodeError, offset: usize) -> DecodeError {
    match error {
        DecodeError::Invalid {
            offset: UNKNOWN_OFFSET,
        } => DecodeError::Invalid { offset },
        other => other,
    }
}

impl<'de> de::Deserializer<'de> for &mut Deserializer<'de> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, DecodeError> {
        Err(DecodeError::Unsupported {
            what: "self-describing decoding (deserialize_any)",
        })
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(
        self,
        _visitor: V,
    ) -> Result<V::Value, DecodeError> {
        Err(DecodeError::Unsupported {
            what: "skipping a value of unknown type (deserialize_ignored_any)",
        })
    }

    #[inline]
    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.take_byte()? {
            0 => visitor.visit_bool(false),
            1 => visitor.visit_bool(true),
            value => Err(DecodeError::InvalidBool {
                value,
                offset: self.offset() - 1,
            }),
        }
    }

    #[inline]
    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let byte = self.take_byte()?;
        visitor.visit_i8(i8::from_le_bytes([byte]))
    }

    #[inline]
    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let encoded = self.take_varint_u16()?;
        visitor.visit_i16(unzigzag_i16(encoded))
    }

    #[inline]
    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let encoded = self.take_varint_u32()?;
        visitor.visit_i32(unzigzag_i32(encoded))
    }

    #[inline]
    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let encoded = self.take_varint_u64()?;
        visitor.visit_i64(unzigzag_i64(encoded))
    }

    #[inline]
    fn deserialize_i128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let encoded = self.take_varint_u128()?;
        visitor.visit_i128(unzigzag_i128(encoded))
    }

    #[inline]
    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let byte = self.take_byte()?;
        visitor.visit_u8(byte)
    }

    #[inline]
    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let value = self.take_varint_u16()?;
        visitor.visit_u16(value)
    }

    #[inline]
    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let value = self.take_varint_u32()?;
        visitor.visit_u32(value)
    }

    #[inline]
    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let value = self.take_varint_u64()?;
        visitor.visit_u64(value)
    }

    #[inline]
    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let value = self.take_varint_u128()?;
        visitor.visit_u128(value)
    }

    #[inline]
    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let bytes = self.take_array::<4>()?;
        visitor.visit_f32(f32::from_le_bytes(bytes))
    }

    #[inline]
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let bytes = self.take_array::<8>()?;
        visitor.visit_f64(f64::from_le_bytes(bytes))
    }

    /// Decodes a `char`, which postcard writes as a string that contains
    /// exactly that one character.
    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let start = self.offset();
        let text = self.take_str()?;
        let mut chars = text.chars();
        match (chars.next(), chars.next()) {
            (Some(only), None) => visitor.visit_char(only),
            _ => Err(DecodeError::Invalid { offset: start }),
        }
    }

    #[inline]
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let text = self.take_str()?;
        visitor.visit_borrowed_str(text)
    }

    #[inline]
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    #[inline]
    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let bytes = self.take_byte_string()?;
        visitor.visit_borrowed_bytes(bytes)
    }

    #[inline]
    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_bytes(visitor)
    }

    #[inline]
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.take_byte()? {
            0 => visitor.visit_none(),
            1 => self.nested(|inner| visitor.visit_some(inner)),
            value => Err(DecodeError::InvalidOption {
                value,
                offset: self.offset() - 1,
            }),
        }
    }

    #[inline]
    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_unit()
    }

    #[inline]
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_unit()
    }

    #[inline]
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_newtype_struct(self)
    }

    /// Decodes a sequence. The loop is bounded by the declared length, not by
    /// the input, because unit items take no bytes. Any other item fails with
    /// [`DecodeError::UnexpectedEnd`] once the input runs out, so a huge
    /// declared length costs at most one item per remaining byte.
    ///
    /// NOTE: a visitor that accepts any number of zero-sized items, such as
    /// `Vec<()>` with serde's `alloc` feature, runs once per declared item, up
    /// to `usize::MAX` times. heapless collections stop at their capacity.
    #[inline]
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let len = self.take_len()?;
        self.nested(|inner| visitor.visit_seq(SeqAccess::new(inner, len)))
    }

    #[inline]
    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_seq(SeqAccess::new(self, len))
    }

    #[inline]
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_seq(SeqAccess::new(self, len))
    }

    #[inline]
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let len = self.take_len()?;
        self.nested(|inner| {
            visitor.visit_map(MapAccess {
                deserializer: inner,
                remaining: len,
            })
        })
    }

    #[inline]
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_seq(SeqAccess::new(self, fields.len()))
    }

    /// Reads the variant index and rejects it before the visitor runs when
    /// `variants` has no entry for it.
    #[inline]
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        let tag = self.take_varint_u32()?;
        // A tag that does not fit `usize` cannot index `variants` either.
        let known = usize::try_from(tag).is_ok_and(|index| index < variants.len());
        if !known {
            return Err(DecodeError::UnknownVariant {
                type_name: name,
                tag,
            });
        }
        self.nested(|inner| {
            visitor.visit_enum(EnumAccess {
                deserializer: inner,
                tag,
            })
        })
    }

    /// Decodes an identifier, which postcard writes as a varint `u32` variant
    /// index.
    #[inline]
    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let index = self.take_varint_u32()?;
        visitor.visit_u32(index)
    }

    #[inline]
    fn is_human_readable(&self) -> bool {
        false
    }
}

/// Items of a sequence, tuple or struct, counted down from the declared or
/// fixed length.
struct SeqAccess<'a, 'de> {
    deserializer: &'a mut Deserializer<'de>,
    remaining: usize,
}

impl<'a, 'de> SeqAccess<'a, 'de> {
    #[inline]
    fn new(deserializer: &'a mut Deserializer<'de>, len: usize) -> Self {
        Self {
            deserializer,
            remaining: len,
        }
    }
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'_, 'de> {
    type Error = DecodeError;

    #[inline]
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DecodeError> {
        if self.remaining == 0 {
            return Ok(None);
        }
        self.remaining -= 1;
        self.deserializer.decode_located(seed).map(Some)
    }

    /// Returns the declared length, which a hostile input can set to any
    /// value. serde's own collections cap what they preallocate from it.
    #[inline]
    fn size_hint(&self) -> Option<usize> {
        Some(self.remaining)
    }
}

/// Key-value pairs of a map, counted down from the declared length.
struct MapAccess<'a, 'de> {
    deserializer: &'a mut Deserializer<'de>,
    remaining: usize,
}

impl<'de> de::MapAccess<'de> for MapAccess<'_, 'de> {
    type Error = DecodeError;

    #[inline]
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DecodeError> {
        if self.remaining == 0 {
            return Ok(None);
        }
        self.remaining -= 1;
        self.deserializer.decode_located(seed).map(Some)
    }

    #[inline]
    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserializer.decode_located(seed)
    }

    #[inline]
    fn size_hint(&self) -> Option<usize> {
        Some(self.remaining)
    }
}

/// An enum value whose variant index is already read and checked.
struct EnumAccess<'a, 'de> {
    deserializer: &'a mut Deserializer<'de>,
    tag: u32,
}

impl<'a, 'de> de::EnumAccess<'de> for EnumAccess<'a, 'de> {
    type Error = DecodeError;
    type Variant = VariantAccess<'a, 'de>;

    #[inline]
    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), DecodeError> {
        let index = de::value::U32Deserializer::<DecodeError>::new(self.tag);
        let variant = seed.deserialize(index)?;
        Ok((
            variant,
            VariantAccess {
                deserializer: self.deserializer,
            },
        ))
    }
}

/// The content of an enum variant.
struct VariantAccess<'a, 'de> {
    deserializer: &'a mut Deserializer<'de>,
}

impl<'de> de::VariantAccess<'de> for VariantAccess<'_, 'de> {
    type Error = DecodeError;

    #[inline]
    fn unit_variant(self) -> Result<(), DecodeError> {
        Ok(())
    }

    #[inline]
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, DecodeError> {
        self.deserializer.decode_located(seed)
    }

    #[inline]
    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_seq(SeqAccess::new(self.deserializer, len))
    }

    #[inline]
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_seq(SeqAccess::new(self.deserializer, fields.len()))
    }
}

impl de::Error for DecodeError {
    /// Returns [`DecodeError::Invalid`]. The message is dropped because the
    /// error type stores no text, and the decoder fills in the offset.
    #[cold]
    fn custom<T: fmt::Display>(_message: T) -> Self {
        DecodeError::Invalid {
            offset: UNKNOWN_OFFSET,
        }
    }

    /// Returns [`DecodeError::TooLong`] with `max` taken from the first decimal
    /// number in the visitor's expectation, such as "at most 64 bytes".
    ///
    /// When the expectation has no number, `max` is `len - 1`: heapless
    /// collections report `capacity + 1` when a push fails, with the text "a
    /// sequence". For a visitor that checks a whole length at once, `len - 1`
    /// is only an upper bound of the real maximum.
    #[cold]
    fn invalid_length(len: usize, expected: &dyn Expected) -> Self {
        let max = first_decimal_number(expected).unwrap_or(len.saturating_sub(1));
        DecodeError::TooLong { len, max }
    }

    /// Returns [`DecodeError::OutOfRange`] for an unsigned value, and
    /// [`DecodeError::Invalid`] for any other kind of value.
    #[cold]
    fn invalid_value(unexpected: Unexpected<'_>, _expected: &dyn Expected) -> Self {
        match unexpected {
            Unexpected::Unsigned(value) => DecodeError::OutOfRange {
                value,
                expected: OUT_OF_RANGE_EXPECTED,
            },
            _ => DecodeError::Invalid {
                offset: UNKNOWN_OFFSET,
            },
        }
    }
}

/// Returns the first run of decimal digits that `expected` writes, or `None`
/// when it writes none. A number too large for `usize` saturates.
fn first_decimal_number(expected: &dyn Expected) -> Option<usize> {
    let mut sink = FirstNumber::default();
    // The sink never fails, and a failing `Expected` leaves whatever digits it
    // wrote before the failure.
    let _ = fmt::write(&mut sink, format_args!("{expected}"));
    sink.value
}

/// A `fmt::Write` sink that keeps the first decimal number written to it.
#[derive(Default)]
struct FirstNumber {
    value: Option<usize>,
    finished: bool,
}

impl fmt::Write for FirstNumber {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for character in text.chars() {
            if self.finished {
                break;
            }
            match character.to_digit(10) {
                Some(digit) => {
                    let value = self.value.unwrap_or(0);
                    let next = value
                        .checked_mul(10)
                        .and_then(|shifted| shifted.checked_add(digit as usize))
                        .unwrap_or(usize::MAX);
                    self.value = Some(next);
                }
                None => self.finished = self.value.is_some(),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use core::num::NonZeroU32;
    use std::vec::Vec;

    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Marker;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Wrapper(u16);

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    enum Kind {
        Idle,
        Count(u32),
        Pair(i16, bool),
        Window { from: u64, to: u64 },
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Outer<'a> {
        Plain,
        Inner(Kind),
        Named {
            kind: Kind,
            #[serde(borrow)]
            label: &'a str,
        },
    }

    /// One field of every data type the decoder supports.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Everything<'a> {
        flag: bool,
        small: u8,
        tiny: i8,
        short: u16,
        signed_short: i16,
        word: u32,
        signed_word: i32,
        long: u64,
        signed_long: i64,
        huge: u128,
        signed_huge: i128,
        single: f32,
        double: f64,
        letter: char,
        name: &'a str,
        blob: &'a [u8],
        present: Option<u32>,
        absent: Option<&'a str>,
        nothing: (),
        marker: Marker,
        wrapper: Wrapper,
        pair: (u8, i64),
        array: [u16; 3],
        list: heapless::Vec<u32, 8>,
        text: heapless::String<16>,
        table: heapless::LinearMap<u8, i32, 4>,
        kind: Kind,
        outer: Outer<'a>,
    }

    fn sample() -> Everything<'static> {
        let mut list = heapless::Vec::new();
        list.extend_from_slice(&[0, 127, 128, u32::MAX]).unwrap();
        let mut table = heapless::LinearMap::new();
        table.insert(1, -1).unwrap();
        table.insert(200, i32::MIN).unwrap();
        Everything {
            flag: true,
            small: 0xFE,
            tiny: -3,
            short: 300,
            signed_short: -300,
            word: 70_000,
            signed_word: i32::MIN,
            long: u64::MAX,
            signed_long: -1,
            huge: u128::MAX,
            signed_huge: i128::MIN,
            single: 1.5,
            double: -0.25,
            letter: 'é',
            name: "infusion pump",
            blob: &[0, 1, 2, 0xFF],
            present: Some(5),
            absent: None,
            nothing: (),
            marker: Marker,
            wrapper: Wrapper(65_535),
            pair: (7, i64::MAX),
            array: [1, 128, 16_384],
            list,
            text: heapless::String::try_from("ward 7").unwrap(),
            table,
            kind: Kind::Window {
                from: 1,
                to: 1 << 40,
            },
            outer: Outer::Named {
                kind: Kind::Pair(-2, false),
                label: "bed 3",
            },
        }
    }

    fn encode<T: Serialize>(value: &T, buffer: &mut [u8]) -> usize {
        postcard::to_slice(value, buffer).unwrap().len()
    }

    #[test]
    fn every_type_round_trips() {
        let value = sample();
        let mut buffer = [0u8; 512];
        let len = encode(&value, &mut buffer);
        let bytes = &buffer[..len];

        let decoded: Everything<'_> = from_bytes(bytes).unwrap();
        assert_eq!(decoded, value);

        let from_postcard: Everything<'_> = postcard::from_bytes(bytes).unwrap();
        assert_eq!(decoded, from_postcard);
    }

    #[test]
    fn every_enum_variant_round_trips() {
        let values = [
            Outer::Plain,
            Outer::Inner(Kind::Idle),
            Outer::Inner(Kind::Count(u32::MAX)),
            Outer::Inner(Kind::Pair(i16::MIN, true)),
            Outer::Inner(Kind::Window { from: 0, to: 300 }),
            Outer::Named {
                kind: Kind::Idle,
                label: "",
            },
        ];
        for value in values {
            let mut buffer = [0u8; 64];
            let len = encode(&value, &mut buffer);
            assert_eq!(from_bytes::<Outer<'_>>(&buffer[..len]), Ok(value));
        }
    }

    #[test]
    fn golden_bytes_decode() {
        // Pinned postcard encodings, so that a change of postcard cannot move
        // both sides of the round trip at once.
        assert_eq!(from_bytes::<u32>(&[0xAC, 0x02]), Ok(300));
        assert_eq!(from_bytes::<i32>(&[0x01]), Ok(-1));
        assert_eq!(from_bytes::<i32>(&[0x02]), Ok(1));
        assert_eq!(from_bytes::<i16>(&[0xFF, 0xFF, 0x03]), Ok(i16::MIN));
        assert_eq!(from_bytes::<i8>(&[0xFF]), Ok(-1));
        assert_eq!(from_bytes::<u8>(&[0xFF]), Ok(255));
        assert_eq!(from_bytes::<f32>(&[0x00, 0x00, 0xC0, 0x3F]), Ok(1.5));
        assert_eq!(from_bytes::<char>(&[0x02, 0xC3, 0xA9]), Ok('é'));
        assert_eq!(
            from_bytes::<Kind>(&[0x03, 0x01, 0x80, 0x01]),
            Ok(Kind::Window { from: 1, to: 128 })
        );
        assert_eq!(
            from_bytes::<Option<&str>>(&[0x01, 0x02, b'o', b'k']),
            Ok(Some("ok"))
        );
    }

    #[test]
    fn strings_and_bytes_are_borrowed() {
        let value = ("zero copy", [9u8, 8, 7].as_slice());
        let mut buffer = [0u8; 32];
        let len = encode(&value, &mut buffer);
        let bytes = &buffer[..len];

        let (text, blob): (&str, &[u8]) = from_bytes(bytes).unwrap();
        assert_eq!(text, "zero copy");
        assert_eq!(blob, &[9, 8, 7]);

        let input = bytes.as_ptr_range();
        assert!(input.contains(&text.as_ptr()));
        assert!(input.contains(&blob.as_ptr()));
    }

    #[test]
    fn heapless_vec_round_trips() {
        let mut value: heapless::Vec<i64, 4> = heapless::Vec::new();
        value
            .extend_from_slice(&[i64::MIN, -1, 0, i64::MAX])
            .unwrap();
        let mut buffer = [0u8; 64];
        let len = encode(&value, &mut buffer);
        assert_eq!(
            from_bytes::<heapless::Vec<i64, 4>>(&buffer[..len]),
            Ok(value)
        );
    }

    #[test]
    fn over_long_varints_rejected() {
        let non_canonical = DecodeError::NonCanonicalVarint { offset: 0 };
        assert_eq!(from_bytes::<u32>(&[0x81, 0x00]), Err(non_canonical));
        assert_eq!(from_bytes::<u32>(&[0x80, 0x00]), Err(non_canonical));
        assert_eq!(from_bytes::<u16>(&[0x80, 0x80, 0x00]), Err(non_canonical));
        assert_eq!(
            from_bytes::<u32>(&[0xFF, 0xFF, 0xFF, 0xFF, 0x00]),
            Err(non_canonical)
        );
        assert_eq!(
            from_bytes::<u64>(&[0x80, 0x80, 0x80, 0x00]),
            Err(non_canonical)
        );
        assert_eq!(from_bytes::<u128>(&[0xFF, 0x00]), Err(non_canonical));
        assert_eq!(from_bytes::<i32>(&[0x81, 0x00]), Err(non_canonical));
        assert_eq!(from_bytes::<i64>(&[0x80, 0x00]), Err(non_canonical));
    }

    #[test]
    fn over_long_varint_offset_is_its_start() {
        assert_eq!(
            from_bytes::<(u8, u32)>(&[0x05, 0x81, 0x00]),
            Err(DecodeError::NonCanonicalVarint { offset: 1 })
        );
        // String length, sequence length and enum tag are varints too.
        assert_eq!(
            from_bytes::<(u8, &str)>(&[0x05, 0x80, 0x00]),
            Err(DecodeError::NonCanonicalVarint { offset: 1 })
        );
        assert_eq!(
            from_bytes::<heapless::Vec<u8, 4>>(&[0x81, 0x00, 0x07]),
            Err(DecodeError::NonCanonicalVarint { offset: 0 })
        );
        assert_eq!(
            from_bytes::<Kind>(&[0x80, 0x00]),
            Err(DecodeError::NonCanonicalVarint { offset: 0 })
        );
    }

    #[test]
    fn too_long_varints_rejected() {
        let overflow = DecodeError::VarintOverflow { offset: 0 };
        // One byte more than the type allows.
        assert_eq!(from_bytes::<u16>(&[0x80, 0x80, 0x80, 0x01]), Err(overflow));
        assert_eq!(
            from_bytes::<u32>(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
            Err(overflow)
        );
        let mut eleven = [0x80u8; 11];
        eleven[10] = 0x01;
        assert_eq!(from_bytes::<u64>(&eleven), Err(overflow));
        let mut twenty = [0x80u8; 20];
        twenty[19] = 0x01;
        assert_eq!(from_bytes::<u128>(&twenty), Err(overflow));
        assert_eq!(from_bytes::<i16>(&[0x80, 0x80, 0x80, 0x01]), Err(overflow));
    }

    #[test]
    fn varint_last_byte_bits_checked() {
        let overflow = DecodeError::VarintOverflow { offset: 0 };
        assert_eq!(from_bytes::<u16>(&[0xFF, 0xFF, 0x03]), Ok(u16::MAX));
        assert_eq!(from_bytes::<u16>(&[0xFF, 0xFF, 0x04]), Err(overflow));
        assert_eq!(
            from_bytes::<u32>(&[0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
            Ok(u32::MAX)
        );
        assert_eq!(
            from_bytes::<u32>(&[0xFF, 0xFF, 0xFF, 0xFF, 0x10]),
            Err(overflow)
        );

        let mut max_u64 = [0xFFu8; 10];
        max_u64[9] = 0x01;
        assert_eq!(from_bytes::<u64>(&max_u64), Ok(u64::MAX));
        max_u64[9] = 0x02;
        assert_eq!(from_bytes::<u64>(&max_u64), Err(overflow));
        max_u64[9] = 0x7F;
        assert_eq!(from_bytes::<u64>(&max_u64), Err(overflow));

        let mut max_u128 = [0xFFu8; 19];
        max_u128[18] = 0x03;
        assert_eq!(from_bytes::<u128>(&max_u128), Ok(u128::MAX));
        max_u128[18] = 0x04;
        assert_eq!(from_bytes::<u128>(&max_u128), Err(overflow));

        assert_eq!(
            from_bytes::<i32>(&[0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
            Ok(i32::MIN)
        );
        assert_eq!(
            from_bytes::<i32>(&[0xFE, 0xFF, 0xFF, 0xFF, 0x0F]),
            Ok(i32::MAX)
        );
    }

    #[test]
    fn varint_boundaries_accepted() {
        let cases: [(u64, &[u8]); 6] = [
            (0, &[0x00]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]),
            (u64::from(u32::MAX) + 1, &[0x80, 0x80, 0x80, 0x80, 0x10]),
        ];
        for (value, bytes) in cases {
            assert_eq!(from_bytes::<u64>(bytes), Ok(value), "{bytes:02x?}");
        }
    }

    #[test]
    fn trailing_bytes_rejected() {
        assert_eq!(
            from_bytes::<u8>(&[0x01, 0x02, 0x03]),
            Err(DecodeError::TrailingBytes { count: 2 })
        );
        assert_eq!(
            from_bytes::<()>(&[0x00]),
            Err(DecodeError::TrailingBytes { count: 1 })
        );
    }

    #[test]
    fn take_reads_a_batch() {
        let mut buffer = [0u8; 64];
        let first = encode(&Kind::Count(1000), &mut buffer);
        let second = encode(&Kind::Idle, &mut buffer[first..]);
        let third = encode(&Kind::Pair(-7, true), &mut buffer[first + second..]);
        let mut rest = &buffer[..first + second + third];

        let mut decoded = Vec::new();
        while !rest.is_empty() {
            let (kind, tail) = take_from_bytes::<Kind>(rest).unwrap();
            decoded.push(kind);
            rest = tail;
        }
        assert_eq!(
            decoded,
            [Kind::Count(1000), Kind::Idle, Kind::Pair(-7, true)]
        );
    }

    #[test]
    fn every_truncation_fails() {
        let mut buffer = [0u8; 512];
        let len = encode(&sample(), &mut buffer);
        for cut in 0..len {
            assert_eq!(
                from_bytes::<Everything<'_>>(&buffer[..cut]),
                Err(DecodeError::UnexpectedEnd { offset: cut }),
                "input cut to {cut} of {len} bytes"
            );
        }
    }

    #[test]
    fn unknown_enum_tag_rejected() {
        assert_eq!(
            from_bytes::<Kind>(&[0x04]),
            Err(DecodeError::UnknownVariant {
                type_name: "Kind",
                tag: 4
            })
        );
        assert_eq!(
            from_bytes::<Kind>(&[0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
            Err(DecodeError::UnknownVariant {
                type_name: "Kind",
                tag: u32::MAX
            })
        );
        // Nested: the inner enum's name is reported.
        assert_eq!(
            from_bytes::<Outer<'_>>(&[0x01, 0x09]),
            Err(DecodeError::UnknownVariant {
                type_name: "Kind",
                tag: 9
            })
        );
        // The last variant is accepted.
        assert_eq!(
            from_bytes::<Kind>(&[0x03, 0x00, 0x00]),
            Ok(Kind::Window { from: 0, to: 0 })
        );
    }

    #[test]
    fn bool_byte_must_be_0_or_1() {
        assert_eq!(from_bytes::<bool>(&[0x00]), Ok(false));
        assert_eq!(from_bytes::<bool>(&[0x01]), Ok(true));
        assert_eq!(
            from_bytes::<bool>(&[0x02]),
            Err(DecodeError::InvalidBool {
                value: 2,
                offset: 0
            })
        );
        assert_eq!(
            from_bytes::<(u8, bool)>(&[0x00, 0xFF]),
            Err(DecodeError::InvalidBool {
                value: 0xFF,
                offset: 1
            })
        );
    }

    #[test]
    fn option_tag_must_be_0_or_1() {
        assert_eq!(from_bytes::<Option<u8>>(&[0x00]), Ok(None));
        assert_eq!(from_bytes::<Option<u8>>(&[0x01, 0x07]), Ok(Some(7)));
        assert_eq!(
            from_bytes::<Option<u8>>(&[0x02, 0x07]),
            Err(DecodeError::InvalidOption {
                value: 2,
                offset: 0
            })
        );
        assert_eq!(
            from_bytes::<(u16, Option<u8>)>(&[0x80, 0x01, 0x80]),
            Err(DecodeError::InvalidOption {
                value: 0x80,
                offset: 2
            })
        );
    }

    #[test]
    fn invalid_utf8_rejected() {
        assert_eq!(
            from_bytes::<(u8, &str)>(&[0x00, 0x02, 0xC3, 0x28]),
            Err(DecodeError::InvalidUtf8 { offset: 2 })
        );
        // Over-long UTF-8 form of '/'.
        assert_eq!(
            from_bytes::<&str>(&[0x02, 0xC0, 0xAF]),
            Err(DecodeError::InvalidUtf8 { offset: 1 })
        );
        assert_eq!(
            from_bytes::<char>(&[0x01, 0xFF]),
            Err(DecodeError::InvalidUtf8 { offset: 1 })
        );
    }

    #[test]
    fn char_holds_exactly_one_character() {
        assert_eq!(
            from_bytes::<char>(&[0x02, b'a', b'b']),
            Err(DecodeError::Invalid { offset: 0 })
        );
        assert_eq!(
            from_bytes::<char>(&[0x00]),
            Err(DecodeError::Invalid { offset: 0 })
        );
    }

    #[test]
    fn string_too_long_names_maximum() {
        let mut buffer = [0u8; 16];
        let len = encode(&"12345", &mut buffer);
        assert_eq!(
            from_bytes::<heapless::String<4>>(&buffer[..len]),
            Err(DecodeError::TooLong { len: 5, max: 4 })
        );
        assert!(from_bytes::<heapless::String<5>>(&buffer[..len]).is_ok());
    }

    #[test]
    fn vec_too_long_names_capacity() {
        let value = [1u8, 2, 3, 4, 5];
        let mut buffer = [0u8; 16];
        let len = encode(&value.as_slice(), &mut buffer);
        assert_eq!(
            from_bytes::<heapless::Vec<u8, 4>>(&buffer[..len]),
            Err(DecodeError::TooLong { len: 5, max: 4 })
        );
        assert!(from_bytes::<heapless::Vec<u8, 5>>(&buffer[..len]).is_ok());
    }

    #[test]
    fn too_long_reads_first_number() {
        struct Expecting(&'static str);
        impl Expected for Expecting {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(self.0)
            }
        }
        let cases = [
            ("at most 64 bytes", 64),
            ("12", 12),
            ("between 2 and 9 items", 2),
            ("at most 99999999999999999999999 bytes", usize::MAX),
            ("a sequence", 99),
        ];
        for (text, max) in cases {
            assert_eq!(
                <DecodeError as de::Error>::invalid_length(100, &Expecting(text)),
                DecodeError::TooLong { len: 100, max },
                "{text}"
            );
        }
    }

    #[test]
    fn zero_maps_to_out_of_range() {
        assert_eq!(
            from_bytes::<NonZeroU32>(&[0x00]),
            Err(DecodeError::OutOfRange {
                value: 0,
                expected: OUT_OF_RANGE_EXPECTED
            })
        );
        assert_eq!(
            from_bytes::<NonZeroU32>(&[0x01]).map(NonZeroU32::get),
            Ok(1)
        );
    }

    /// A byte that must be odd, checked with a custom error after decoding.
    #[derive(Debug)]
    struct Odd;

    impl<'de> Deserialize<'de> for Odd {
        fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let byte = u8::deserialize(deserializer)?;
            if byte % 2 == 1 {
                Ok(Odd)
            } else {
                Err(de::Error::custom("even byte"))
            }
        }
    }

    #[test]
    fn custom_error_gets_value_offset() {
        assert_eq!(
            from_bytes::<(u32, u8, Odd)>(&[0x80, 0x01, 0x00, 0x02]).unwrap_err(),
            DecodeError::Invalid { offset: 3 }
        );
        assert_eq!(
            from_bytes::<Odd>(&[0x02]).unwrap_err(),
            DecodeError::Invalid { offset: 0 }
        );
        assert_eq!(
            from_bytes::<(u8, Option<Odd>)>(&[0x00, 0x01, 0x04]).unwrap_err(),
            DecodeError::Invalid { offset: 1 }
        );
    }

    #[test]
    fn self_describing_requests_unsupported() {
        assert!(matches!(
            from_bytes::<de::IgnoredAny>(&[0x00]),
            Err(DecodeError::Unsupported { .. })
        ));
    }

    /// Decodes `Some(Some(..(None)))` and returns how many `Some` it saw.
    #[derive(Debug)]
    struct OptionChain(usize);

    impl<'de> Deserialize<'de> for OptionChain {
        fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct ChainVisitor;
            impl<'de> Visitor<'de> for ChainVisitor {
                type Value = OptionChain;
                fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                    formatter.write_str("nested options")
                }
                fn visit_none<E: de::Error>(self) -> Result<OptionChain, E> {
                    Ok(OptionChain(0))
                }
                fn visit_some<D: de::Deserializer<'de>>(
                    self,
                    deserializer: D,
                ) -> Result<OptionChain, D::Error> {
                    let inner = OptionChain::deserialize(deserializer)?;
                    Ok(OptionChain(inner.0 + 1))
                }
            }
            deserializer.deserialize_option(ChainVisitor)
        }
    }

    /// Decodes nested one-item sequences ending in an empty one and returns
    /// how many sequences it saw.
    #[derive(Debug)]
    struct SeqChain(usize);

    impl<'de> Deserialize<'de> for SeqChain {
        fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct ChainVisitor;
            impl<'de> Visitor<'de> for ChainVisitor {
                type Value = SeqChain;
                fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                    formatter.write_str("nested sequences")
                }
                fn visit_seq<A: de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<SeqChain, A::Error> {
                    match seq.next_element::<SeqChain>()? {
                        Some(inner) => Ok(SeqChain(inner.0 + 1)),
                        None => Ok(SeqChain(1)),
                    }
                }
            }
            deserializer.deserialize_seq(ChainVisitor)
        }
    }

    #[test]
    fn depth_limit_at_boundary() {
        let mut options = [0x01u8; MAX_DEPTH + 2];
        options[MAX_DEPTH] = 0x00;
        let chain = from_bytes::<OptionChain>(&options[..=MAX_DEPTH]).unwrap();
        assert_eq!(chain.0, MAX_DEPTH);

        options[MAX_DEPTH] = 0x01;
        options[MAX_DEPTH + 1] = 0x00;
        assert_eq!(
            from_bytes::<OptionChain>(&options).unwrap_err(),
            DecodeError::TooDeep { max: MAX_DEPTH }
        );

        let mut seqs = [0x01u8; MAX_DEPTH + 1];
        seqs[MAX_DEPTH - 1] = 0x00;
        let chain = from_bytes::<SeqChain>(&seqs[..MAX_DEPTH]).unwrap();
        assert_eq!(chain.0, MAX_DEPTH);

        seqs[MAX_DEPTH - 1] = 0x01;
        seqs[MAX_DEPTH] = 0x00;
        assert_eq!(
            from_bytes::<SeqChain>(&seqs).unwrap_err(),
            DecodeError::TooDeep { max: MAX_DEPTH }
        );
    }

    #[test]
    fn deep_hostile_input_rejected() {
        // Ten thousand nested `Some`: decoding stops at the depth limit.
        let options = [0x01u8; 10_000];
        assert_eq!(
            from_bytes::<OptionChain>(&options).unwrap_err(),
            DecodeError::TooDeep { max: MAX_DEPTH }
        );
    }

    /// Reads every `u8` item of a sequence, with no capacity limit.
    #[derive(Debug)]
    struct CountAll;

    impl<'de> Deserialize<'de> for CountAll {
        fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct CountVisitor;
            impl<'de> Visitor<'de> for CountVisitor {
                type Value = CountAll;
                fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                    formatter.write_str("a sequence of bytes")
                }
                fn visit_seq<A: de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<CountAll, A::Error> {
                    while seq.next_element::<u8>()?.is_some() {}
                    Ok(CountAll)
                }
            }
            deserializer.deserialize_seq(CountVisitor)
        }
    }

    #[test]
    fn huge_sequence_length_fails_at_end() {
        // Declared length u64::MAX, followed by five items.
        let mut bytes = [0xFFu8; 15];
        bytes[9] = 0x01;
        assert_eq!(
            from_bytes::<CountAll>(&bytes).unwrap_err(),
            DecodeError::UnexpectedEnd { offset: 15 }
        );
        assert_eq!(
            from_bytes::<heapless::Vec<u8, 4>>(&bytes).unwrap_err(),
            DecodeError::TooLong { len: 5, max: 4 }
        );
        // Unit items take no bytes, so only the capacity stops them.
        assert_eq!(
            from_bytes::<heapless::Vec<(), 4>>(&bytes[..10]).unwrap_err(),
            DecodeError::TooLong { len: 5, max: 4 }
        );
        // A huge string length fails without reading further.
        assert_eq!(
            from_bytes::<&str>(&bytes).unwrap_err(),
            DecodeError::UnexpectedEnd { offset: 15 }
        );
    }

    #[test]
    fn map_round_trips() {
        let mut map: heapless::LinearMap<&str, u64, 3> = heapless::LinearMap::new();
        map.insert("a", 1).unwrap();
        map.insert("bb", 1 << 50).unwrap();
        let mut buffer = [0u8; 64];
        let len = encode(&map, &mut buffer);
        assert_eq!(
            from_bytes::<heapless::LinearMap<&str, u64, 3>>(&buffer[..len]),
            Ok(map)
        );
    }

    #[test]
    fn float_bits_preserved() {
        for value in [f64::NAN, f64::INFINITY, -0.0, f64::MIN_POSITIVE] {
            let decoded = from_bytes::<f64>(&value.to_le_bytes()).unwrap();
            assert_eq!(decoded.to_bits(), value.to_bits());
        }
        assert_eq!(
            from_bytes::<f32>(&[0x00, 0x00, 0xC0]),
            Err(DecodeError::UnexpectedEnd { offset: 3 })
        );
    }

    #[test]
    fn deserializer_tracks_offset() {
        let bytes = [0xAC, 0x02, 0x01, 0x07, 0xFF];
        let mut deserializer = Deserializer::from_bytes(&bytes);
        assert_eq!(u32::deserialize(&mut deserializer), Ok(300));
        assert_eq!(deserializer.offset(), 2);
        assert_eq!(Option::<u8>::deserialize(&mut deserializer), Ok(Some(7)));
        assert_eq!(deserializer.offset(), 4);
        assert_eq!(deserializer.remaining(), &[0xFF]);
    }

    #[test]
    fn binary_forms_requested() {
        // serde writes an address as four bytes, not as text, when the
        // format is not human-readable.
        assert_eq!(
            from_bytes::<core::net::Ipv4Addr>(&[127, 0, 0, 1]),
            Ok(core::net::Ipv4Addr::LOCALHOST)
        );
    }

    #[test]
    fn errors_display_offsets() {
        let message = std::format!("{}", DecodeError::NonCanonicalVarint { offset: 7 });
        assert!(message.contains("byte 7"), "{message}");
    }

    /// Owned values of every supported type, for property tests.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Owned {
        flag: bool,
        small: u8,
        tiny: i8,
        short: u16,
        signed_short: i16,
        word: u32,
        signed_word: i32,
        long: u64,
        signed_long: i64,
        huge: u128,
        signed_huge: i128,
        letter: char,
        maybe: Option<u64>,
        list: heapless::Vec<i32, 6>,
        text: heapless::String<24>,
        kind: Kind,
    }

    fn kind_strategy() -> impl Strategy<Value = Kind> {
        prop_oneof![
            Just(Kind::Idle),
            any::<u32>().prop_map(Kind::Count),
            (any::<i16>(), any::<bool>()).prop_map(|(a, b)| Kind::Pair(a, b)),
            (any::<u64>(), any::<u64>()).prop_map(|(from, to)| Kind::Window { from, to }),
        ]
    }

    fn owned_strategy() -> impl Strategy<Value = Owned> {
        let numbers = (
            any::<bool>(),
            any::<u8>(),
            any::<i8>(),
            any::<u16>(),
            any::<i16>(),
            any::<u32>(),
            any::<i32>(),
            any::<u64>(),
            any::<i64>(),
            any::<u128>(),
            any::<i128>(),
        );
        let rest = (
            any::<char>(),
            any::<Option<u64>>(),
            proptest::collection::vec(any::<i32>(), 0..=6),
            "\\PC{0,6}",
            kind_strategy(),
        );
        (numbers, rest).prop_map(
            |(
                (
                    flag,
                    small,
                    tiny,
                    short,
                    signed_short,
                    word,
                    signed_word,
                    long,
                    signed_long,
                    huge,
                    signed_huge,
                ),
                (letter, maybe, list, text, kind),
            )| Owned {
                flag,
                small,
                tiny,
                short,
                signed_short,
                word,
                signed_word,
                long,
                signed_long,
                huge,
                signed_huge,
                letter,
                maybe,
                list: heapless::Vec::from_slice(&list).unwrap(),
                text: heapless::String::try_from(text.as_str()).unwrap(),
                kind,
            },
        )
    }

    proptest! {
        #[test]
        fn random_values_match_postcard(value in owned_strategy()) {
            let mut buffer = [0u8; 256];
            let len = encode(&value, &mut buffer);
            let bytes = &buffer[..len];
            let ours: Owned = from_bytes(bytes).unwrap();
            let theirs: Owned = postcard::from_bytes(bytes).unwrap();
            prop_assert_eq!(&ours, &theirs);
            prop_assert_eq!(&ours, &value);
        }

        #[test]
        fn random_bytes_decode_canonically(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
            // Whatever the input, decoding returns. When it succeeds, the
            // consumed bytes are the one encoding of the value and postcard
            // reads the same value.
            if let Ok((value, rest)) = take_from_bytes::<Owned>(&bytes) {
                let consumed = &bytes[..bytes.len() - rest.len()];
                let mut buffer = [0u8; 256];
                let len = encode(&value, &mut buffer);
                prop_assert_eq!(&buffer[..len], consumed);
                let theirs: Owned = postcard::from_bytes(consumed).unwrap();
                prop_assert_eq!(theirs, value);
            }
        }

        #[test]
        fn mutated_encodings_decode_canonically(
            value in owned_strategy(),
            position in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            insert in any::<bool>(),
        ) {
            let mut buffer = [0u8; 256];
            let len = encode(&value, &mut buffer);
            let mut bytes = buffer[..len].to_vec();
            let at = position.index(len);
            if insert {
                bytes.insert(at, byte);
            } else {
                bytes[at] = byte;
            }
            if let Ok(decoded) = from_bytes::<Owned>(&bytes) {
                let mut again = [0u8; 256];
                let again_len = encode(&decoded, &mut again);
                prop_assert_eq!(&again[..again_len], bytes.as_slice());
            }
        }

        #[test]
        fn random_varints_canonical(bytes in proptest::collection::vec(any::<u8>(), 1..12)) {
            if let Ok(value) = from_bytes::<u64>(&bytes) {
                let mut buffer = [0u8; 10];
                let len = encode(&value, &mut buffer);
                prop_assert_eq!(&buffer[..len], bytes.as_slice());
            }
            if let Ok(value) = from_bytes::<i32>(&bytes) {
                let mut buffer = [0u8; 5];
                let len = encode(&value, &mut buffer);
                prop_assert_eq!(&buffer[..len], bytes.as_slice());
            }
        }

        #[test]
        fn random_everything_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = from_bytes::<Everything<'_>>(&bytes);
            let _ = from_bytes::<Outer<'_>>(&bytes);
        }
    }
}
