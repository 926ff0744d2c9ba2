//! Borrowed strings and byte strings with a maximum length.
//!
//! Every text and byte field of an event is one of these types, so a field
//! can never exceed its limit: the constructors check it, and decoding checks
//! it again before the value exists.

use core::fmt;

use serde::de::{Deserialize, Deserializer, Visitor};
use serde::ser::{Serialize, Serializer};

/// Error returned when a value is longer than its field allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "value of {len} bytes exceeds the field maximum of {max} bytes; shorten it or use `truncated`"
)]
pub struct TooLong {
    /// Length of the value that was offered, in bytes.
    pub len: usize,
    /// Maximum length of the field, in bytes.
    pub max: usize,
}

/// Displays as "at most N bytes"; the strict decoder reads N back from it.
struct MaxLen(usize);

impl fmt::Display for MaxLen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at most {} bytes", self.0)
    }
}

impl serde::de::Expected for MaxLen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A borrowed UTF-8 string of at most `MAX` bytes.
///
/// Encodes exactly like `&str` in postcard: a varint length, then the bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Str<'a, const MAX: usize>(&'a str);

impl<'a, const MAX: usize> Str<'a, MAX> {
    /// The field's maximum length in bytes.
    pub const MAX_LEN: usize = MAX;

    /// Wraps `value`, or returns [`TooLong`] when it has more than `MAX` bytes.
    pub const fn new(value: &'a str) -> Result<Self, TooLong> {
        if value.len() > MAX {
            Err(TooLong {
                len: value.len(),
                max: MAX,
            })
        } else {
            Ok(Self(value))
        }
    }

    /// Wraps the longest prefix of `value` that has at most `MAX` bytes and
    /// ends on a character boundary.
    ///
    /// Collectors use this for data they do not control, such as command
    /// lines, where a shortened value is more useful than none.
    pub fn truncated(value: &'a str) -> Self {
        if value.len() <= MAX {
            return Self(value);
        }
        let mut end = MAX;
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        Self(value.get(..end).unwrap_or_default())
    }

    /// The empty string.
    pub const fn empty() -> Self {
        Self("")
    }

    /// The wrapped string.
    pub const fn as_str(&self) -> &'a str {
        self.0
    }

    /// Length in bytes.
    pub const fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the string is empty.
    pub const fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<const MAX: usize> fmt::Debug for Str<'_, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl<const MAX: usize> fmt::Display for Str<'_, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl<'a, const MAX: usize> TryFrom<&'a str> for Str<'a, MAX> {
    type Error = TooLong;

    fn try_from(value: &'a str) -> Result<Self, TooLong> {
        Self::new(value)
    }
}

impl<const MAX: usize> core::ops::Deref for Str<'_, MAX> {
    type Target = str;

    fn deref(&self) -> &str {
        self.0
    }
}

impl<const MAX: usize> Serialize for Str<'_, MAX> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

impl<'de: 'a, 'a, const MAX: usize> Deserialize<'de> for Str<'a, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor<const MAX: usize>;

        impl<'de, const MAX: usize> Visitor<'de> for StrVisitor<MAX> {
            type Value = &'de str;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a borrowed string of {}", MaxLen(MAX))
            }

            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<&'de str, E> {
                if v.len() > MAX {
                    Err(E::invalid_length(v.len(), &MaxLen(MAX)))
                } else {
                    Ok(v)
                }
            }
        }

        let value = deserializer.deserialize_str(StrVisitor::<MAX>)?;
        Ok(Self(value))
    }
}

#[cfg(feature = "defmt")]
impl<const MAX: usize> defmt::Format for Str<'_, MAX> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=str}", self.0)
    }
}

/// A borrowed byte string of at most `MAX` bytes.
///
/// Encodes exactly like `&[u8]` in postcard: a varint length, then the bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Bytes<'a, const MAX: usize>(&'a [u8]);

impl<'a, const MAX: usize> Bytes<'a, MAX> {
    /// The field's maximum length in bytes.
    pub const MAX_LEN: usize = MAX;

    /// Wraps `value`, or returns [`TooLong`] when it has more than `MAX` bytes.
    pub const fn new(value: &'a [u8]) -> Result<Self, TooLong> {
        if value.len() > MAX {
            Err(TooLong {
                len: value.len(),
                max: MAX,
            })
        } else {
            Ok(Self(value))
        }
    }

    /// The wrapped bytes.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// Length in bytes.
    pub const fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the byte string is empty.
    pub const fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<const MAX: usize> fmt::Debug for Bytes<'_, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes(")?;
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        write!(f, ")")
    }
}

impl<'a, const MAX: usize> TryFrom<&'a [u8]> for Bytes<'a, MAX> {
    type Error = TooLong;

    fn try_from(value: &'a [u8]) -> Result<Self, TooLong> {
        Self::new(value)
    }
}

impl<const MAX: usize> core::ops::Deref for Bytes<'_, MAX> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.0
    }
}

impl<const MAX: usize> Serialize for Bytes<'_, MAX> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

impl<'de: 'a, 'a, const MAX: usize> Deserialize<'de> for Bytes<'a, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BytesVisitor<const MAX: usize>;

        impl<'de, const MAX: usize> Visitor<'de> for BytesVisitor<MAX> {
            type Value = &'de [u8];

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a borrowed byte string of {}", MaxLen(MAX))
            }

            fn visit_borrowed_bytes<E: serde::de::Error>(
                self,
                v: &'de [u8],
            ) -> Result<&'de [u8], E> {
                if v.len() > MAX {
                    Err(E::invalid_length(v.len(), &MaxLen(MAX)))
                } else {
                    Ok(v)
                }
            }
        }

        let value = deserializer.deserialize_bytes(BytesVisitor::<MAX>)?;
        Ok(Self(value))
    }
}

#[cfg(feature = "defmt")]
impl<const MAX: usize> defmt::Format for Bytes<'_, MAX> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=[u8]}", self.0)
    }
}

/// Builds a [`Str`] from a string literal, checking its length at compile time.
///
/// ```
/// use palisade_schema::{bounded::Str, limits};
/// const MODEL: Str<'static, { limits::NAME }> = palisade_schema::str_lit!("IP-200");
/// assert_eq!(MODEL.as_str(), "IP-200");
/// ```
#[macro_export]
macro_rules! str_lit {
    ($value:expr) => {
        match $crate::bounded::Str::new($value) {
            Ok(value) => value,
            Err(_) => panic!("string literal exceeds its field maximum"),
        }
    };
}
