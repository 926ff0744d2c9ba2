//! The collectors as the agent core's event and snapshot sources.

use std::prelude::rust_2024::*;

use crate::{EventSink, EventSource, SnapshotKind, SnapshotSource};

use super::record::Record;
use super::{
    BaselineCollector, Collector, IntegrityCollector, LinuxConfig, LoginCollector,
    NetworkCollector, ProcessCollector, SoftwareCollector, SystemInfoCollector,
};

fn record_all(records: &[Record], sink: &mut dyn EventSink) {
    for record in records {
        sink.record(record.severity(), &record.body());
    }
}

/// The change collectors (processes, network, logins, file integrity) as
/// an [`EventSource`] that scans at most once per interval.
///
/// The agent polls its sources often; a `/proc` scan takes milliseconds
/// to tens of milliseconds, so the scan runs only when `interval_ms` has
/// passed since the previous one (the first poll always scans).
pub struct LinuxEventSource {
    collectors: Vec<Box<dyn Collector + Send>>,
    interval_ms: u64,
    last_scan_ms: Option<u64>,
    records: Vec<Record>,
}

impl LinuxEventSource {
    /// Creates the source from the process, network, login and integrity
    /// parts of `config`.
    pub fn new(config: &LinuxConfig, interval_ms: u64) -> Self {
        let collectors: Vec<Box<dyn Collector + Send>> = vec![
            Box::new(ProcessCollector::new(config.process.clone())),
            Box::new(NetworkCollector::new(config.network.clone())),
            Box::new(LoginCollector::new(config.login.clone())),
            Box::new(IntegrityCollector::new(config.integrity.clone())),
        ];
        Self {
            collectors,
            interval_ms,
            last_scan_ms: None,
            records: Vec::new(),
        }
    }
}

impl EventSource for LinuxEventSource {
    fn poll(&mut self, uptime_ms: u64, sink: &mut dyn EventSink) {
        let due = self
            .last_scan_ms
            .is_none_or(|last| uptime_ms.saturating_sub(last) >= self.interval_ms);
        if !due {
            return;
        }
        self.last_scan_ms = Some(uptime_ms);
        self.records.clear();
        for collector in &mut self.collectors {
            collector.collect(&mut self.records);
        }
        record_all(&self.records, sink);
    }
}

/// The snapshot collectors (system information, software, baseline) as a
/// [`SnapshotSource`]; the agent decides when each snapshot is due.
pub struct LinuxSnapshots {
    system_info: SystemInfoCollector,
    software: SoftwareCollector,
    baseline: BaselineCollector,
    records: Vec<Record>,
}

impl LinuxSnapshots {
    /// Creates the snapshot collectors from `config`.
    pub fn new(config: &LinuxConfig) -> Self {
        Self {
            system_info: SystemInfoCollector::new(config.system_info.clone()),
            software: SoftwareCollector::new(config.software.clone()),
            baseline: BaselineCollector::new(config.baseline.clone()),
            records: Vec::new(),
        }
    }
}

impl SnapshotSource for LinuxSnapshots {
    fn snapshot(&mut self, kind: SnapshotKind, sink: &mut dyn EventSink) {
        self.records.clear();
        match kind {
            SnapshotKind::SystemInfo => self.system_info.collect(&mut self.records),
            SnapshotKind::Sbom => self.software.collect(&mut self.records),
            SnapshotKind::Baseline => self.baseline.collect(&mut self.records),
        }
        record_all(&self.records, sink);
    }
}
