//! Entry points for the fuzz targets under `fuzz/`; not a stable API.

use crate::persist::{
    MemoryFlash, PersistError, PersistedState, PersistentState, SLOT_LEN, STORE_LEN, SlotStore,
    decode_slot, encode_slot,
};

/// Loads the persistent state from a region that holds the first
/// [`STORE_LEN`] bytes of `data` (erased bytes, 0xFF, after a shorter
/// input), then stores the state read from the rest of `data` and loads it
/// back. Returns whether the first load found a state.
///
/// Panics when one of these fails:
/// - loading from readable flash returns `Ok`;
/// - every slot that decodes re-encodes to exactly its bytes;
/// - a loaded state is the state of a slot with the highest valid
///   generation, and nothing is loaded when no slot is valid;
/// - storing writes only the slot that does not hold the loaded state, and
///   loading then returns the stored state;
/// - storing over generation `u32::MAX` returns
///   [`PersistError::GenerationExhausted`] and leaves the region unchanged.
pub fn slot_store(data: &[u8]) -> bool {
    let (region, rest) = data.split_at(data.len().min(STORE_LEN));
    let mut flash = MemoryFlash::<STORE_LEN>::new();
    flash.as_bytes_mut()[..region.len()].copy_from_slice(region);
    let before = *flash.as_bytes();

    let slots = [0, 1].map(|index| decode_slot(&slot(&before, index)));
    for (index, decoded) in slots.iter().enumerate() {
        if let Some((generation, state)) = decoded {
            assert_eq!(
                encode_slot(*generation, state),
                slot(&before, index),
                "slot {index} re-encodes differently"
            );
        }
    }
    let newest_generation = slots
        .iter()
        .flatten()
        .map(|(generation, _)| *generation)
        .max();

    let Ok(mut store) = SlotStore::new(flash) else {
        panic!("a {STORE_LEN}-byte region is rejected");
    };
    let loaded = match store.load() {
        Ok(loaded) => loaded,
        Err(error) => panic!("loading from memory flash failed: {error}"),
    };
    let loaded_index = match loaded {
        None => {
            assert_eq!(newest_generation, None, "a valid slot was not loaded");
            None
        }
        Some(state) => {
            let index = slots.iter().position(|decoded| {
                matches!(decoded, Some((generation, slot_state))
                    if Some(*generation) == newest_generation && *slot_state == state)
            });
            assert!(
                index.is_some(),
                "loaded state is not the state of the newest slot"
            );
            index
        }
    };

    let next = state_from(rest);
    match store.store(&next) {
        Ok(()) => {
            let after = *store.flash().as_bytes();
            if let Some(index) = loaded_index {
                assert_eq!(
                    slot(&after, index),
                    slot(&before, index),
                    "storing overwrote the slot of the loaded state"
                );
            }
            let Ok(mut reopened) = SlotStore::new(store.into_flash()) else {
                panic!("a {STORE_LEN}-byte region is rejected");
            };
            assert_eq!(
                reopened.load(),
                Ok(Some(next)),
                "stored state not loaded back"
            );
        }
        Err(PersistError::GenerationExhausted) => {
            assert_eq!(newest_generation, Some(u32::MAX));
            assert_eq!(
                store.flash().as_bytes(),
                &before,
                "a rejected store changed the region"
            );
        }
        Err(error) => panic!("storing to memory flash failed: {error}"),
    }
    loaded.is_some()
}

fn slot(region: &[u8; STORE_LEN], index: usize) -> [u8; SLOT_LEN] {
    let mut bytes = [0u8; SLOT_LEN];
    bytes.copy_from_slice(&region[index * SLOT_LEN..(index + 1) * SLOT_LEN]);
    bytes
}

/// Reads a state from up to 28 little-endian bytes; missing bytes are zero.
fn state_from(bytes: &[u8]) -> PersistedState {
    let mut padded = [0u8; 28];
    let len = bytes.len().min(padded.len());
    padded[..len].copy_from_slice(&bytes[..len]);
    let word = |start: usize| {
        let mut field = [0u8; 8];
        field.copy_from_slice(&padded[start..start + 8]);
        u64::from_le_bytes(field)
    };
    PersistedState {
        boot_counter: u32::from_le_bytes([padded[0], padded[1], padded[2], padded[3]]),
        last_command_counter: word(4),
        last_known_good_time: word(12),
        revocation_list_number: word(20),
    }
}
