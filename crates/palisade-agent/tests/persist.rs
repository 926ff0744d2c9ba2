//! Power-loss safety of the two-slot persistent state: a write cut at any
//! byte still loads the last completely written state.

use palisade_agent::persist::{
    Flash, MemoryFlash, OutOfRange, PersistError, PersistedState, PersistentState, SLOT_LEN,
    STORE_LEN, SlotStore,
};

/// A flash region that loses power after `budget` more bytes are written:
/// the write stops there and reports failure, as a reset would.
struct CuttingFlash {
    inner: MemoryFlash<STORE_LEN>,
    budget: Option<usize>,
}

#[derive(Debug)]
struct PowerCut;

impl core::fmt::Display for PowerCut {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("power cut during write")
    }
}

impl Flash for CuttingFlash {
    type Error = PowerCut;

    fn len(&self) -> usize {
        STORE_LEN
    }

    fn read(&mut self, offset: usize, buffer: &mut [u8]) -> Result<(), PowerCut> {
        self.inner.read(offset, buffer).map_err(|_| PowerCut)
    }

    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), PowerCut> {
        match self.budget {
            Some(budget) if budget < data.len() => {
                self.inner
                    .write(offset, &data[..budget])
                    .map_err(|_| PowerCut)?;
                self.budget = Some(0);
                Err(PowerCut)
            }
            Some(budget) => {
                self.budget = Some(budget - data.len());
                self.inner.write(offset, data).map_err(|_| PowerCut)
            }
            None => self.inner.write(offset, data).map_err(|_| PowerCut),
        }
    }
}

fn state(n: u64) -> PersistedState {
    PersistedState {
        boot_counter: n as u32,
        last_command_counter: 1_000 + n,
        last_known_good_time: 1_800_000_000 + n,
        revocation_list_number: n / 2,
    }
}

#[test]
fn new_region_loads_nothing() {
    let mut store = SlotStore::new(MemoryFlash::<STORE_LEN>::new()).expect("region fits");
    assert_eq!(store.load().expect("reads"), None);
}

#[test]
fn region_size_boundary() {
    assert!(SlotStore::new(MemoryFlash::<STORE_LEN>::new()).is_ok());
    let error = SlotStore::new(MemoryFlash::<{ STORE_LEN - 1 }>::new()).expect_err("too small");
    assert_eq!(
        error,
        PersistError::<OutOfRange>::RegionTooSmall {
            len: STORE_LEN - 1,
            needed: STORE_LEN
        }
    );
}

#[test]
fn stores_alternate_slots_and_reload() {
    let mut store = SlotStore::new(MemoryFlash::<STORE_LEN>::new()).expect("region fits");
    for n in 1..=5 {
        store.store(&state(n)).expect("stores");
        assert_eq!(store.load().expect("reads"), Some(state(n)));
    }
    // A fresh store over the same bytes (a reboot) finds the newest state.
    let flash = store.into_flash();
    let mut rebooted = SlotStore::new(flash).expect("region fits");
    assert_eq!(rebooted.load().expect("reads"), Some(state(5)));
    rebooted.store(&state(6)).expect("stores");
    assert_eq!(rebooted.load().expect("reads"), Some(state(6)));
}

#[test]
fn write_cut_at_every_byte_recovers() {
    for previous_writes in 0..3u64 {
        for cut in 0..=SLOT_LEN {
            let mut flash = CuttingFlash {
                inner: MemoryFlash::new(),
                budget: None,
            };
            {
                let mut store = SlotStore::new(&mut flash).expect("region fits");
                for n in 1..=previous_writes {
                    store.store(&state(n)).expect("stores");
                }
            }
            flash.budget = Some(cut);
            let result = SlotStore::new(&mut flash)
                .expect("region fits")
                .store(&state(99));
            flash.budget = None;
            let loaded = SlotStore::new(&mut flash)
                .expect("region fits")
                .load()
                .expect("reads");
            let last_good = (previous_writes > 0).then(|| state(previous_writes));
            if cut == SLOT_LEN {
                assert!(result.is_ok(), "write of {cut} bytes completed");
                assert_eq!(loaded, Some(state(99)), "cut after {cut} bytes");
            } else {
                assert!(
                    result.is_err(),
                    "write cut after {cut} bytes reports failure"
                );
                assert_eq!(
                    loaded, last_good,
                    "cut after {cut} bytes with {previous_writes} earlier writes"
                );
            }
        }
    }
}

#[test]
fn corrupted_newest_slot_falls_back() {
    let mut flash = MemoryFlash::<STORE_LEN>::new();
    {
        let mut store = SlotStore::new(&mut flash).expect("region fits");
        store.store(&state(1)).expect("stores"); // slot 0
        store.store(&state(2)).expect("stores"); // slot 1
    }
    for index in 0..SLOT_LEN {
        let mut copy = flash.clone();
        copy.as_bytes_mut()[SLOT_LEN + index] ^= 0x40;
        let loaded = SlotStore::new(copy).expect("fits").load().expect("reads");
        assert_eq!(loaded, Some(state(1)), "bit flip at byte {index} of slot 1");
    }
}

#[test]
fn exhausted_generation_is_reported() {
    let mut flash = MemoryFlash::<STORE_LEN>::new();
    SlotStore::new(&mut flash)
        .expect("fits")
        .store(&state(1))
        .expect("stores");
    // Rewrite slot 0 with the largest generation and a valid CRC.
    let bytes = flash.as_bytes_mut();
    bytes[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    let crc = crc32fast::hash(&bytes[..SLOT_LEN - 4]);
    bytes[SLOT_LEN - 4..SLOT_LEN].copy_from_slice(&crc.to_le_bytes());
    let mut store = SlotStore::new(&mut flash).expect("fits");
    assert_eq!(store.load().expect("reads"), Some(state(1)));
    assert!(matches!(
        store.store(&state(2)),
        Err(PersistError::GenerationExhausted)
    ));
}

#[test]
fn slot_layout_is_pinned() {
    let mut flash = MemoryFlash::<STORE_LEN>::new();
    SlotStore::new(&mut flash)
        .expect("fits")
        .store(&PersistedState {
            boot_counter: 0x0102_0304,
            last_command_counter: 0x1112_1314_1516_1718,
            last_known_good_time: 1_800_000_000,
            revocation_list_number: 9,
        })
        .expect("stores");
    let expected = include_bytes!("data/persisted_slot.bin");
    assert_eq!(&flash.as_bytes()[..SLOT_LEN], expected.as_slice());
    assert!(flash.as_bytes()[SLOT_LEN..].iter().all(|b| *b == 0xFF));
}
