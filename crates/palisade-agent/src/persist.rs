//! State that must survive a reboot, stored so that a power cut at any
//! moment leaves the last completely written state readable.
//!
//! [`SlotStore`] keeps [`PersistedState`] in two slots of [`SLOT_LEN`] bytes
//! on a [`Flash`]. Each write goes to the slot that does not hold the newest
//! state, with a generation number one above the newest, and ends with a
//! CRC-32 over the slot. Loading reads both slots, ignores a slot whose magic
//! or CRC is wrong, and takes the valid slot with the higher generation. A
//! write cut at any byte therefore leaves the other slot intact, and the
//! state read back is either the old one or the new one.
//!
//! Slot layout (little-endian):
//!
//! ```text
//! 0  magic "PLST"       4  generation u32     8  boot counter u32
//! 12 last command counter u64                 20 last-known-good time u64
//! 28 revocation list number u64               36 CRC-32 (IEEE) of bytes 0..36
//! ```

/// Length of one slot in bytes.
pub const SLOT_LEN: usize = 40;

/// Bytes a [`SlotStore`] occupies on its [`Flash`]: two slots.
pub const STORE_LEN: usize = 2 * SLOT_LEN;

const MAGIC: [u8; 4] = *b"PLST";
const CRC_OFFSET: usize = SLOT_LEN - 4;

/// The agent's state that survives a reboot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PersistedState {
    /// Number of boots so far, including the current one once the agent
    /// started; event headers carry it.
    pub boot_counter: u32,
    /// Counter of the last command the device accepted; a command must carry
    /// a higher one, so a recorded command cannot be replayed after a reboot.
    pub last_command_counter: u64,
    /// Newest time (seconds since the Unix epoch) learned from a gateway's
    /// signature; credentials that expired before it are rejected.
    pub last_known_good_time: u64,
    /// Number of the newest revocation list installed; an older list is a
    /// rollback.
    pub revocation_list_number: u64,
}

/// Error of a [`PersistentState`] operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PersistError<E> {
    /// The storage medium failed.
    #[error("persistent state storage failed: {0}")]
    Storage(E),
    /// The flash region is smaller than two slots.
    #[error("flash region of {len} bytes is too small for the persistent state; it needs {needed}")]
    RegionTooSmall {
        /// Length of the region.
        len: usize,
        /// Bytes needed ([`STORE_LEN`]).
        needed: usize,
    },
    /// The generation number reached its maximum; the region must be
    /// reprovisioned (after about four billion writes).
    #[error("persistent state generation counter is exhausted; reprovision the state region")]
    GenerationExhausted,
}

/// Storage for [`PersistedState`] that survives a reboot and a power cut.
pub trait PersistentState {
    /// Error of the underlying medium.
    type Error: core::fmt::Debug + core::fmt::Display;

    /// Returns the newest completely written state, or `None` when nothing
    /// valid was ever written (a new device).
    fn load(&mut self) -> Result<Option<PersistedState>, PersistError<Self::Error>>;

    /// Stores `state` so that a later [`load`](Self::load) returns it, or the
    /// previous state when power fails before the call returns.
    fn store(&mut self, state: &PersistedState) -> Result<(), PersistError<Self::Error>>;
}

/// A small byte-addressed storage region, such as a flash sector pair or an
/// EEPROM.
///
/// `write` may stop at any byte when power fails; the bytes written before
/// that point keep their new value and the rest keep their old value (or
/// any value, on flash that must be erased first: the CRC catches it).
pub trait Flash {
    /// Error of the medium.
    type Error: core::fmt::Debug + core::fmt::Display;

    /// Size of the region in bytes.
    fn len(&self) -> usize;

    /// Whether the region is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads `buffer.len()` bytes at `offset`.
    fn read(&mut self, offset: usize, buffer: &mut [u8]) -> Result<(), Self::Error>;

    /// Writes `data` at `offset`, erasing first where the medium needs it.
    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), Self::Error>;
}

/// [`PersistentState`] in two generation-numbered, CRC-checked slots on a
/// [`Flash`]; see the [module docs](self).
#[derive(Debug)]
pub struct SlotStore<F> {
    flash: F,
    /// Generation and index of the newest valid slot, once known.
    newest: Option<(u32, usize)>,
}

impl<F: Flash> SlotStore<F> {
    /// Creates a store over `flash`, which must hold at least
    /// [`STORE_LEN`] bytes.
    pub fn new(flash: F) -> Result<Self, PersistError<F::Error>> {
        if flash.len() < STORE_LEN {
            return Err(PersistError::RegionTooSmall {
                len: flash.len(),
                needed: STORE_LEN,
            });
        }
        Ok(Self {
            flash,
            newest: None,
        })
    }

    /// Returns the flash region.
    pub fn into_flash(self) -> F {
        self.flash
    }

    /// Returns a reference to the flash region.
    pub fn flash(&self) -> &F {
        &self.flash
    }

    fn read_slot(&mut self, index: usize) -> Result<Option<(u32, PersistedState)>, F::Error> {
        let mut slot = [0u8; SLOT_LEN];
        self.flash.read(index * SLOT_LEN, &mut slot)?;
        Ok(decode_slot(&slot))
    }

    fn scan(&mut self) -> Result<Option<PersistedState>, F::Error> {
        let first = self.read_slot(0)?;
        let second = self.read_slot(1)?;
        let newest = match (first, second) {
            (Some(a), Some(b)) if b.0 > a.0 => Some((b, 1)),
            (Some(a), _) => Some((a, 0)),
            (None, Some(b)) => Some((b, 1)),
            (None, None) => None,
        };
        self.newest = newest.map(|((generation, _), index)| (generation, index));
        Ok(newest.map(|((_, state), _)| state))
    }
}

impl<F: Flash> PersistentState for SlotStore<F> {
    type Error = F::Error;

    fn load(&mut self) -> Result<Option<PersistedState>, PersistError<F::Error>> {
        self.scan().map_err(PersistError::Storage)
    }

    fn store(&mut self, state: &PersistedState) -> Result<(), PersistError<F::Error>> {
        if self.newest.is_none() {
            self.scan().map_err(PersistError::Storage)?;
        }
        let (generation, index) = match self.newest {
            Some((generation, index)) => (
                generation
                    .checked_add(1)
                    .ok_or(PersistError::GenerationExhausted)?,
                1 - index,
            ),
            None => (1, 0),
        };
        let slot = encode_slot(generation, state);
        // Until this write completes, the other slot stays the newest valid one.
        self.newest = None;
        self.flash
            .write(index * SLOT_LEN, &slot)
            .map_err(PersistError::Storage)?;
        self.newest = Some((generation, index));
        Ok(())
    }
}

pub(crate) fn encode_slot(generation: u32, state: &PersistedState) -> [u8; SLOT_LEN] {
    let mut slot = [0u8; SLOT_LEN];
    slot[0..4].copy_from_slice(&MAGIC);
    slot[4..8].copy_from_slice(&generation.to_le_bytes());
    slot[8..12].copy_from_slice(&state.boot_counter.to_le_bytes());
    slot[12..20].copy_from_slice(&state.last_command_counter.to_le_bytes());
    slot[20..28].copy_from_slice(&state.last_known_good_time.to_le_bytes());
    slot[28..36].copy_from_slice(&state.revocation_list_number.to_le_bytes());
    let crc = crc32fast::hash(&slot[..CRC_OFFSET]);
    slot[CRC_OFFSET..].copy_from_slice(&crc.to_le_bytes());
    slot
}

pub(crate) fn decode_slot(slot: &[u8; SLOT_LEN]) -> Option<(u32, PersistedState)> {
    let word = |range: core::ops::Range<usize>| -> [u8; 8] {
        let mut bytes = [0u8; 8];
        bytes[..range.len()].copy_from_slice(&slot[range]);
        bytes
    };
    if slot[0..4] != MAGIC {
        return None;
    }
    let stored_crc = u32::from_le_bytes([slot[36], slot[37], slot[38], slot[39]]);
    if crc32fast::hash(&slot[..CRC_OFFSET]) != stored_crc {
        return None;
    }
    let generation = u32::from_le_bytes([slot[4], slot[5], slot[6], slot[7]]);
    let state = PersistedState {
        boot_counter: u32::from_le_bytes([slot[8], slot[9], slot[10], slot[11]]),
        last_command_counter: u64::from_le_bytes(word(12..20)),
        last_known_good_time: u64::from_le_bytes(word(20..28)),
        revocation_list_number: u64::from_le_bytes(word(28..36)),
    };
    Some((generation, state))
}

/// Error of [`MemoryFlash`]: an access outside the region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("flash access of {len} bytes at offset {offset} is outside the {size}-byte region")]
pub struct OutOfRange {
    /// Offset of the access.
    pub offset: usize,
    /// Length of the access.
    pub len: usize,
    /// Size of the region.
    pub size: usize,
}

/// A [`Flash`] in RAM, for tests and for devices that keep the region in
/// battery-backed RAM. Contents are lost at reset unless the memory keeps
/// them.
#[derive(Debug, Clone)]
pub struct MemoryFlash<const N: usize> {
    bytes: [u8; N],
}

impl<const N: usize> Default for MemoryFlash<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> MemoryFlash<N> {
    /// A region of `N` erased bytes (0xFF).
    pub const fn new() -> Self {
        Self { bytes: [0xFF; N] }
    }

    /// Returns the stored bytes.
    pub fn as_bytes(&self) -> &[u8; N] {
        &self.bytes
    }

    /// Returns the stored bytes for direct changes (fault injection in tests).
    pub fn as_bytes_mut(&mut self) -> &mut [u8; N] {
        &mut self.bytes
    }

    fn range(&self, offset: usize, len: usize) -> Result<core::ops::Range<usize>, OutOfRange> {
        let end = offset.checked_add(len).filter(|end| *end <= N);
        end.map(|end| offset..end).ok_or(OutOfRange {
            offset,
            len,
            size: N,
        })
    }
}

impl<const N: usize> Flash for MemoryFlash<N> {
    type Error = OutOfRange;

    fn len(&self) -> usize {
        N
    }

    fn read(&mut self, offset: usize, buffer: &mut [u8]) -> Result<(), OutOfRange> {
        let range = self.range(offset, buffer.len())?;
        buffer.copy_from_slice(&self.bytes[range]);
        Ok(())
    }

    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), OutOfRange> {
        let range = self.range(offset, data.len())?;
        self.bytes[range].copy_from_slice(data);
        Ok(())
    }
}

/// [`PersistentState`] held in a plain field: for tests and host tools, not
/// for a device (it survives nothing).
#[derive(Debug, Clone, Default)]
pub struct MemoryState {
    state: Option<PersistedState>,
    writes: u64,
}

impl MemoryState {
    /// An empty store, as on a new device.
    pub const fn new() -> Self {
        Self {
            state: None,
            writes: 0,
        }
    }

    /// A store that already holds `state`.
    pub const fn with_state(state: PersistedState) -> Self {
        Self {
            state: Some(state),
            writes: 0,
        }
    }

    /// Returns the stored state.
    pub fn state(&self) -> Option<PersistedState> {
        self.state
    }

    /// Returns how many times [`store`](PersistentState::store) was called.
    pub fn writes(&self) -> u64 {
        self.writes
    }
}

impl PersistentState for MemoryState {
    type Error = core::convert::Infallible;

    fn load(&mut self) -> Result<Option<PersistedState>, PersistError<Self::Error>> {
        Ok(self.state)
    }

    fn store(&mut self, state: &PersistedState) -> Result<(), PersistError<Self::Error>> {
        self.state = Some(*state);
        self.writes += 1;
        Ok(())
    }
}

impl<P: PersistentState + ?Sized> PersistentState for &mut P {
    type Error = P::Error;

    fn load(&mut self) -> Result<Option<PersistedState>, PersistError<Self::Error>> {
        (**self).load()
    }

    fn store(&mut self, state: &PersistedState) -> Result<(), PersistError<Self::Error>> {
        (**self).store(state)
    }
}

impl<F: Flash + ?Sized> Flash for &mut F {
    type Error = F::Error;

    fn len(&self) -> usize {
        (**self).len()
    }

    fn read(&mut self, offset: usize, buffer: &mut [u8]) -> Result<(), Self::Error> {
        (**self).read(offset, buffer)
    }

    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), Self::Error> {
        (**self).write(offset, data)
    }
}
