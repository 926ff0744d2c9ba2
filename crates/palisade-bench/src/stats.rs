//! Counting at the receiving end: which events arrived, which are
//! missing or arrived twice, and how long each took.

/// Per-event bookkeeping of one run: `devices` devices that each send the
/// sequence numbers `0..events_per_device`.
#[derive(Debug, Clone)]
pub struct Tally {
    events_per_device: u64,
    /// Times each expected event was seen, by device then sequence number
    /// (saturating at 255).
    seen: Vec<Vec<u8>>,
    unique: u64,
    duplicates: u64,
    unexpected: u64,
    latencies_ms: Vec<u32>,
}

impl Tally {
    /// Creates the bookkeeping for `devices` devices of `events_per_device`
    /// events each.
    pub fn new(devices: usize, events_per_device: u64) -> Self {
        Self {
            events_per_device,
            seen: vec![vec![0; events_per_device as usize]; devices],
            unique: 0,
            duplicates: 0,
            unexpected: 0,
            latencies_ms: Vec::with_capacity(devices * events_per_device as usize),
        }
    }

    /// Records that event `seq` of device `device` was seen `latency_ms`
    /// after its time stamp. Returns whether it was seen for the first
    /// time; an event outside the expected range counts as unexpected.
    pub fn record(&mut self, device: usize, seq: u64, latency_ms: u32) -> bool {
        let Some(slot) = self
            .seen
            .get_mut(device)
            .and_then(|row| row.get_mut(seq as usize))
        else {
            self.unexpected += 1;
            return false;
        };
        *slot = slot.saturating_add(1);
        if *slot == 1 {
            self.unique += 1;
            self.latencies_ms.push(latency_ms);
            true
        } else {
            self.duplicates += 1;
            false
        }
    }

    /// Number of events expected in total.
    pub fn expected(&self) -> u64 {
        self.seen.len() as u64 * self.events_per_device
    }

    /// Events seen at least once.
    pub fn unique(&self) -> u64 {
        self.unique
    }

    /// Returns whether every expected event was seen.
    pub fn complete(&self) -> bool {
        self.unique == self.expected()
    }

    /// Expected events never seen.
    pub fn lost(&self) -> u64 {
        self.expected() - self.unique
    }

    /// Extra arrivals of events already seen.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Arrivals of events outside the expected devices and sequences.
    pub fn unexpected(&self) -> u64 {
        self.unexpected
    }

    /// Summarizes the latencies of the first arrivals.
    pub fn latency(&mut self) -> Latency {
        self.latencies_ms.sort_unstable();
        Latency {
            p50_ms: percentile(&self.latencies_ms, 50.0),
            p99_ms: percentile(&self.latencies_ms, 99.0),
            max_ms: self.latencies_ms.last().copied(),
        }
    }
}

/// Latency percentiles in milliseconds (`None` without samples).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: Option<u32>,
    /// 99th percentile.
    pub p99_ms: Option<u32>,
    /// Largest sample.
    pub max_ms: Option<u32>,
}

/// Returns the `p`-th percentile (0 < p <= 100) of `sorted` by the
/// nearest-rank method: the smallest sample with at least `p` % of the
/// samples at or below it. `None` for no samples.
pub fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Returns the median of `values` (the mean of the middle two for an even
/// count), or 0 for no values.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let middle = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    } else {
        sorted[middle]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_nearest_rank() {
        let samples: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&samples, 50.0), Some(50));
        assert_eq!(percentile(&samples, 99.0), Some(99));
        assert_eq!(percentile(&samples, 100.0), Some(100));
        assert_eq!(percentile(&samples, 0.1), Some(1));
    }

    #[test]
    fn percentile_small_sets() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[1, 2], 50.0), Some(1));
        assert_eq!(percentile(&[1, 2, 3], 50.0), Some(2));
        // 99 % of 10 samples is rank 10: the largest.
        let ten: Vec<u32> = (0..10).collect();
        assert_eq!(percentile(&ten, 99.0), Some(9));
    }

    #[test]
    fn median_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn tally_counts_loss_and_duplicates() {
        let mut tally = Tally::new(2, 3);
        assert_eq!(tally.expected(), 6);
        assert!(tally.record(0, 0, 5));
        assert!(tally.record(0, 1, 6));
        assert!(!tally.record(0, 1, 9));
        assert!(tally.record(1, 2, 7));
        assert!(!tally.record(1, 3, 1));
        assert!(!tally.record(2, 0, 1));
        assert_eq!(tally.unique(), 3);
        assert_eq!(tally.lost(), 3);
        assert_eq!(tally.duplicates(), 1);
        assert_eq!(tally.unexpected(), 2);
        assert!(!tally.complete());
    }

    #[test]
    fn tally_complete_and_latency() {
        let mut tally = Tally::new(1, 4);
        for (seq, latency) in [(3, 40), (0, 10), (2, 30), (1, 20)] {
            assert!(tally.record(0, seq, latency));
        }
        assert!(tally.complete());
        assert_eq!(tally.lost(), 0);
        let latency = tally.latency();
        assert_eq!(latency.p50_ms, Some(20));
        assert_eq!(latency.p99_ms, Some(40));
        assert_eq!(latency.max_ms, Some(40));
    }

    #[test]
    fn tally_duplicate_counter_saturates_per_event() {
        let mut tally = Tally::new(1, 1);
        for _ in 0..300 {
            tally.record(0, 0, 1);
        }
        assert_eq!(tally.unique(), 1);
        assert_eq!(tally.duplicates(), 299);
    }
}
