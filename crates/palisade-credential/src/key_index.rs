//! Detection of cloned device keys on the gateway.

use crate::chain::VerifiedDevice;
use crate::ids::{DeviceId, KeyId};
use crate::reason::{ObjectType, RejectReason};

/// Maps device public keys to the device id they were first admitted under,
/// so the same key under a second device id (a cloned device) is rejected.
///
/// Holds at most `N` keys (`N` a power of two). Only keys from verified
/// chains are added, so an attacker cannot fill it with made-up keys.
#[derive(Debug, Clone, Default)]
pub struct DeviceKeyIndex<const N: usize> {
    devices_by_key: heapless::index_map::FnvIndexMap<KeyId, DeviceId, N>,
}

impl<const N: usize> DeviceKeyIndex<N> {
    /// Creates an empty index.
    pub fn new() -> Self {
        Self {
            devices_by_key: heapless::index_map::FnvIndexMap::new(),
        }
    }

    /// Records `device`; fails when its key is registered to another device
    /// id, or when the index is full.
    pub fn admit(&mut self, device: &VerifiedDevice) -> Result<(), RejectReason> {
        let presented = device.device_id();
        match self.devices_by_key.get(&device.key_id) {
            Some(&registered) if registered != presented => Err(RejectReason::ClonedDeviceKey {
                key_id: device.key_id,
                registered,
                presented,
            }),
            Some(_) => Ok(()),
            None => self
                .devices_by_key
                .insert(device.key_id, presented)
                .map(|_| ())
                .map_err(|_| RejectReason::TooManyEntries {
                    object: ObjectType::Credential,
                    field: "device key index",
                    count: N + 1,
                    max: N,
                }),
        }
    }

    /// Returns the number of registered keys.
    pub fn len(&self) -> usize {
        self.devices_by_key.len()
    }

    /// Returns true when no key is registered.
    pub fn is_empty(&self) -> bool {
        self.devices_by_key.is_empty()
    }
}
