//! Serde for [`DeviceId`] as 32 lowercase hex digits, the form operators
//! read in logs and SIEM output.

use palisade_schema::DeviceId;
use serde::{Deserialize, Deserializer, Serializer};

/// Parses 32 hex digits into a device id.
pub fn parse(text: &str) -> Option<DeviceId> {
    if text.len() != 32 || !text.is_ascii() {
        return None;
    }
    let mut id = [0u8; 16];
    for (index, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(index * 2..index * 2 + 2)?, 16).ok()?;
    }
    Some(DeviceId(id))
}

pub(crate) fn serialize<S: Serializer>(id: &DeviceId, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(id)
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<DeviceId, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse(&text).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "invalid device id {text:?}; expected 32 hex digits"
        ))
    })
}

/// The same for `Option<DeviceId>`.
pub(crate) mod option {
    use palisade_schema::DeviceId;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        id: &Option<DeviceId>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match id {
            Some(id) => serializer.collect_str(id),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DeviceId>, D::Error> {
        let text = Option::<String>::deserialize(deserializer)?;
        text.map(|text| {
            super::parse(&text).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "invalid device id {text:?}; expected 32 hex digits"
                ))
            })
        })
        .transpose()
    }
}
