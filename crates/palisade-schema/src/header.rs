//! The header that every event carries.

use core::fmt;

use serde::de::{Deserialize, Deserializer, Error as _, Unexpected};
use serde::ser::{Serialize, Serializer};

/// How serious an event is, in increasing order.
///
/// The numbering follows OCSF's `severity_id` minus one, so `Info` is 0 here
/// and 1 in OCSF.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Severity {
    /// Routine information.
    #[default]
    Info,
    /// Worth a look, no action needed.
    Low,
    /// Needs attention.
    Medium,
    /// Needs action soon.
    High,
    /// Needs action now.
    Critical,
}

impl Severity {
    /// Lowercase name: `info`, `low`, `medium`, `high` or `critical`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

/// Wall-clock time, which a device may not have or may not trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WallClock {
    /// Milliseconds since the Unix epoch, as the device's clock read them.
    pub unix_ms: u64,
    /// Whether the clock was synchronized from an authenticated source
    /// (the gateway's time or NTS) since boot. An unsynchronized clock may
    /// be years off.
    pub synchronized: bool,
}

/// How many identical events one event stands for; never 0.
///
/// The aggregator merges identical events within a window into one event
/// whose hit count is the number merged.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HitCount(u32);

impl HitCount {
    /// A single occurrence.
    pub const ONE: Self = Self(1);

    /// Returns `None` for 0.
    pub const fn new(count: u32) -> Option<Self> {
        if count == 0 { None } else { Some(Self(count)) }
    }

    /// The count, at least 1.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// Adds `more` occurrences, saturating at `u32::MAX`.
    pub const fn saturating_add(self, more: u32) -> Self {
        Self(self.0.saturating_add(more))
    }
}

impl Default for HitCount {
    fn default() -> Self {
        Self::ONE
    }
}

impl fmt::Debug for HitCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Serialize for HitCount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for HitCount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let count = u32::deserialize(deserializer)?;
        Self::new(count).ok_or_else(|| {
            D::Error::invalid_value(Unexpected::Unsigned(0), &"a hit count of at least 1")
        })
    }
}

/// The header of every event.
///
/// Devices often have no trusted clock, so ordering rests on
/// (`boot`, `sequence`) and `uptime_ms`; `wall_clock` is optional and says
/// whether it was synchronized.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header {
    /// Sequence number, starting at 0 at every boot and increasing by one
    /// per event the device emits.
    pub sequence: u64,
    /// Boot counter, persisted by the device and increased at every boot.
    pub boot: u32,
    /// Milliseconds since boot when the event happened (for an aggregated
    /// event: when its first occurrence happened).
    pub uptime_ms: u64,
    /// Wall-clock time, when the device has a clock.
    pub wall_clock: Option<WallClock>,
    /// How serious the event is.
    pub severity: Severity,
    /// How many identical events this one stands for.
    pub hit_count: HitCount,
    /// Length in milliseconds of the aggregation window that merged the
    /// hits, or 0 for an event that was not aggregated.
    pub window_ms: u32,
}
