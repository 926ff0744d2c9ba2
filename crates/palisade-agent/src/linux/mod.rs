//! Collectors that read a Linux device's own state (feature `linux`).
//!
//! Each collector implements [`Collector`]: every call to
//! [`Collector::collect`] scans its sources and appends [`Record`]s.
//! Collectors that watch for changes (processes, network, logins, file
//! integrity) keep the previous scan and report differences. The others
//! (software, baseline, system information) report a full snapshot each
//! time. [`LinuxCollectors`] runs them all from one [`LinuxConfig`], and
//! [`LinuxEventSource`] and [`LinuxSnapshots`] hand them to the agent core
//! as its [`EventSource`](crate::EventSource) and
//! [`SnapshotSource`](crate::SnapshotSource).
//!
//! Every path is configurable and defaults to the real system path, and
//! [`LinuxConfig::under`] moves them all under another root (a fixture tree
//! in tests, or a host file system mounted into a container).
//!
//! Parsers are public functions over text or bytes (for example
//! [`process::parse_stat`], [`network::parse_socket_table`],
//! [`login::parse_utmp`], [`software::parse_status`]); they return typed
//! errors and never panic. A collector that cannot read or parse a source
//! emits a [`Record::CollectionError`] and goes on with the rest.

pub mod baseline;
#[doc(hidden)]
pub mod fuzzing;
pub mod integrity;
pub mod login;
pub mod network;
pub mod process;
mod read;
mod record;
pub mod software;
mod source;
pub mod sysinfo;

use std::path::{Path, PathBuf};
use std::prelude::rust_2024::*;

pub use baseline::{BaselineCollector, BaselineConfig};
pub use integrity::{IntegrityCollector, IntegrityConfig};
pub use login::{JournalMode, LoginCollector, LoginConfig};
pub use network::{NetworkCollector, NetworkConfig};
pub use process::{ProcessCollector, ProcessConfig};
pub use read::{FileError, Limits, Parsed, read_bounded, read_text_bounded};
pub use record::{
    BaselineResult, CollectionFailure, Connection, FileChange, Interface, Listener, LoginEntry,
    Package, ProcessExit, ProcessStart, Record, SystemDescription,
};
pub use software::{SoftwareCollector, SoftwareConfig};
pub use source::{LinuxEventSource, LinuxSnapshots};
pub use sysinfo::{SystemInfoCollector, SystemInfoConfig};

/// A source of records that is scanned periodically.
pub trait Collector {
    /// Short name, used as the `collector` of collection errors.
    fn name(&self) -> &'static str;

    /// Scans the sources and appends what changed (or, for snapshot
    /// collectors, everything) to `out`. Failures are appended as
    /// [`Record::CollectionError`]; this never panics.
    fn collect(&mut self, out: &mut Vec<Record>);
}

/// The configuration of every collector.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinuxConfig {
    /// Processes.
    pub process: ProcessConfig,
    /// Connections and listening ports.
    pub network: NetworkConfig,
    /// Logins.
    pub login: LoginConfig,
    /// Installed packages.
    pub software: SoftwareConfig,
    /// Baseline checks.
    pub baseline: BaselineConfig,
    /// File integrity.
    pub integrity: IntegrityConfig,
    /// System information.
    pub system_info: SystemInfoConfig,
}

fn rebase(root: &Path, path: &mut PathBuf) {
    let relative = path.strip_prefix("/").unwrap_or(path).to_path_buf();
    *path = root.join(relative);
}

impl LinuxConfig {
    /// Moves every absolute path under `root` (`/proc` becomes
    /// `ROOT/proc`). The `journalctl` program is left as it is.
    pub fn under(mut self, root: &Path) -> Self {
        let c = &mut self;
        for path in [
            &mut c.process.proc_root,
            &mut c.process.passwd,
            &mut c.network.proc_root,
            &mut c.login.wtmp,
            &mut c.login.btmp,
            &mut c.software.dpkg_status,
            &mut c.software.dpkg_status_dir,
            &mut c.software.os_release,
            &mut c.baseline.sshd_config,
            &mut c.baseline.sshd_config_dir,
            &mut c.baseline.shadow,
            &mut c.baseline.proc_root,
            &mut c.system_info.proc_root,
            &mut c.system_info.sys_root,
            &mut c.system_info.os_release,
        ] {
            rebase(root, path);
        }
        if let Some(directory) = &mut c.login.journal_directory {
            rebase(root, directory);
        }
        for path in c
            .login
            .auth_logs
            .iter_mut()
            .chain(c.software.opkg_status.iter_mut())
            .chain(c.baseline.system_paths.iter_mut())
            .chain(c.integrity.paths.iter_mut())
        {
            rebase(root, path);
        }
        self
    }

    /// Sets the same size caps on every collector.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.process.limits = limits;
        self.network.limits = limits;
        self.login.limits = limits;
        self.software.limits = limits;
        self.baseline.limits = limits;
        self.integrity.limits = limits;
        self.system_info.limits = limits;
        self
    }
}

/// Every Linux collector, run in a fixed order.
pub struct LinuxCollectors {
    collectors: Vec<Box<dyn Collector + Send>>,
}

impl LinuxCollectors {
    /// Creates all collectors from `config`.
    pub fn new(config: LinuxConfig) -> Self {
        let collectors: Vec<Box<dyn Collector + Send>> = vec![
            Box::new(SystemInfoCollector::new(config.system_info)),
            Box::new(ProcessCollector::new(config.process)),
            Box::new(NetworkCollector::new(config.network)),
            Box::new(LoginCollector::new(config.login)),
            Box::new(SoftwareCollector::new(config.software)),
            Box::new(BaselineCollector::new(config.baseline)),
            Box::new(IntegrityCollector::new(config.integrity)),
        ];
        Self { collectors }
    }

    /// Returns the collectors, to run some of them on their own schedule.
    pub fn collectors_mut(&mut self) -> &mut [Box<dyn Collector + Send>] {
        &mut self.collectors
    }

    /// Runs every collector once and returns what they found.
    pub fn collect_all(&mut self) -> Vec<Record> {
        let mut records = Vec::new();
        for collector in &mut self.collectors {
            collector.collect(&mut records);
        }
        records
    }
}
