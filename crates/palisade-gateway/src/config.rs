//! The gateway's TOML configuration, validated when it is loaded.
//!
//! Every section and key has a default, so an empty file is a valid
//! configuration that listens on `127.0.0.1` with an ephemeral port. Unknown
//! keys are rejected, so a misspelt key fails loudly instead of being
//! ignored. [`Config::validate`] checks the values that parse but make no
//! sense, and its [`ConfigError::Invalid`] names the key, the value and the
//! fix.
//!
//! ```
//! use palisade_gateway::config::Config;
//!
//! let config = Config::from_toml_str(r#"
//!     [listener]
//!     address = "127.0.0.1:7443"
//!
//!     [detection.brute_force_login]
//!     failures = 5
//!     window_secs = 60
//! "#)?;
//! assert_eq!(config.listener.address.port(), 7443);
//! assert_eq!(config.detection.brute_force_login.failures, 5);
//! # Ok::<(), palisade_gateway::config::ConfigError>(())
//! ```

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use palisade_schema::Severity;
use serde::{Deserialize, Serialize};

use crate::finding::RuleId;
use crate::response::Action;

/// Error returned when a configuration cannot be read, parsed or validated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("failed to read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not valid TOML or does not match the expected keys and types.
    #[error("invalid configuration TOML: {0}")]
    Parse(#[from] toml::de::Error),
    /// A value parsed but is not acceptable.
    #[error("invalid configuration value {key} = {value}: {fix}")]
    Invalid {
        /// The dotted key, such as `detection.data_rate_anomaly.alpha`.
        key: String,
        /// The value as written.
        value: String,
        /// The problem and the value to write instead.
        fix: String,
    },
}

pub(crate) fn invalid(
    key: impl Into<String>,
    value: impl ToString,
    fix: impl Into<String>,
) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        value: value.to_string(),
        fix: fix.into(),
    }
}

/// The whole gateway configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Device listener settings.
    pub listener: ListenerConfig,
    /// Database and output locations.
    pub paths: PathsConfig,
    /// Durable outbox settings.
    pub outbox: OutboxConfig,
    /// Detection rule parameters.
    pub detection: DetectionConfig,
    /// Sinks by name.
    pub sinks: BTreeMap<String, SinkConfig>,
    /// Routes from output class to sinks.
    pub routing: RoutingConfig,
    /// Response policy for findings.
    pub response: ResponseConfig,
    /// The Prometheus text endpoint.
    pub metrics: MetricsConfig,
    /// Posture checks: signed reference SBOMs for the SBOM drift rule.
    pub posture: PostureConfig,
}

impl Config {
    /// Parses and validates a configuration from TOML text.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let mut config: Self = toml::from_str(text)?;
        config.fill_default_sinks();
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and validates a configuration file.
    ///
    /// Relative paths in `[paths]` stay relative to the process's working
    /// directory, not to the file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml_str(&text)
    }

    /// The default configuration with default sinks, already valid.
    pub fn with_default_sinks() -> Self {
        let mut config = Self::default();
        config.fill_default_sinks();
        config
    }

    /// Adds the default `security` and `telemetry` sinks and their routes
    /// when the file declares no sinks at all.
    fn fill_default_sinks(&mut self) {
        if !self.sinks.is_empty() {
            return;
        }
        self.sinks.insert(
            "security".into(),
            SinkConfig::OcsfJsonl(JsonlSinkConfig {
                file: "security.jsonl".into(),
                ..Default::default()
            }),
        );
        self.sinks.insert(
            "telemetry".into(),
            SinkConfig::TelemetryJsonl(JsonlSinkConfig {
                file: "telemetry.jsonl".into(),
                ..Default::default()
            }),
        );
        if self.routing.security.is_empty() {
            self.routing.security = vec!["security".into()];
        }
        if self.routing.telemetry.is_empty() {
            self.routing.telemetry = vec!["telemetry".into()];
        }
    }

    /// Checks every value that parsed but is not acceptable.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.listener.admissions_per_source_per_minute == 0 {
            return Err(invalid(
                "listener.admissions_per_source_per_minute",
                0,
                "use at least 1; 0 would reject every device",
            ));
        }
        self.metrics.validate()?;
        self.outbox.validate()?;
        self.detection.validate()?;
        for (name, sink) in &self.sinks {
            sink.validate(name)?;
        }
        self.routing.validate(&self.sinks)?;
        self.response.validate()?;
        self.posture.validate()?;
        if self.paths.database.as_os_str().is_empty() {
            return Err(invalid(
                "paths.database",
                "\"\"",
                "set a file path for the SQLite database",
            ));
        }
        if self.paths.output.as_os_str().is_empty() {
            return Err(invalid(
                "paths.output",
                "\"\"",
                "set a folder for the sink files",
            ));
        }
        Ok(())
    }
}

/// Device listener settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListenerConfig {
    /// Address and port of the device listener. The default,
    /// `127.0.0.1:0`, takes an ephemeral port on loopback; a site
    /// deployment names its device-network address explicitly.
    pub address: SocketAddr,
    /// Maximum admission attempts per source address per minute.
    pub admissions_per_source_per_minute: u32,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        Self {
            address: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            admissions_per_source_per_minute: 30,
        }
    }
}

/// Database and output locations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PathsConfig {
    /// The SQLite database holding the inventory, outbox and audit tables.
    pub database: PathBuf,
    /// The folder where file sinks write, unless a sink names an absolute path.
    pub output: PathBuf,
}

impl Default for PathsConfig {
    fn default() -> Self {
        Self {
            database: "palisade-gateway.sqlite".into(),
            output: "palisade-output".into(),
        }
    }
}

/// Durable outbox settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxConfig {
    /// How long delivered rows are kept before pruning, in seconds. Rows
    /// not yet delivered to every sink are never pruned.
    pub retention_secs: u64,
    /// Maximum events in one stored batch; a larger batch is rejected.
    pub max_batch_events: usize,
    /// Maximum rows a sink reads per delivery round.
    pub delivery_rows: usize,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            retention_secs: 24 * 3600,
            max_batch_events: 1024,
            delivery_rows: 256,
        }
    }
}

impl OutboxConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.max_batch_events == 0 {
            return Err(invalid("outbox.max_batch_events", 0, "use at least 1"));
        }
        if self.delivery_rows == 0 {
            return Err(invalid("outbox.delivery_rows", 0, "use at least 1"));
        }
        Ok(())
    }
}

/// The Prometheus text endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Whether the endpoint runs.
    pub enabled: bool,
    /// Loopback address and port; `127.0.0.1:0` takes an ephemeral port.
    pub address: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            address: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
        }
    }
}

impl MetricsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if !self.address.ip().is_loopback() {
            return Err(invalid(
                "metrics.address",
                self.address,
                "the metrics endpoint has no authentication, so it only binds a loopback address such as 127.0.0.1:9464; scrape it through a local agent or proxy",
            ));
        }
        Ok(())
    }
}

/// Posture checks: where the signed reference SBOMs are and when a device's
/// component set is checked against them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostureConfig {
    /// Folder of signed reference SBOMs (files written by `palisade
    /// sign-sbom`), verified against the device-maker roots when the
    /// gateway starts. No folder: no reference, so no `sbom_drift` finding.
    pub reference_sboms: Option<PathBuf>,
    /// Seconds without a new component report from a device before its
    /// component set is compared with its reference, so that a set still
    /// being reported is not taken for one with removed components.
    pub settle_secs: u64,
    /// Seconds between two drift checks of the running gateway.
    pub check_interval_secs: u64,
}

impl Default for PostureConfig {
    fn default() -> Self {
        Self {
            reference_sboms: None,
            settle_secs: 60,
            check_interval_secs: 60,
        }
    }
}

impl PostureConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.check_interval_secs == 0 {
            return Err(invalid(
                "posture.check_interval_secs",
                0,
                "use at least 1 second between drift checks",
            ));
        }
        if self
            .reference_sboms
            .as_ref()
            .is_some_and(|dir| dir.as_os_str().is_empty())
        {
            return Err(invalid(
                "posture.reference_sboms",
                "\"\"",
                "name the folder of signed reference SBOMs, or leave the key out",
            ));
        }
        Ok(())
    }
}

/// Parameters shared by every rule: whether it runs and how severe its findings are.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleToggle {
    /// Whether the rule runs.
    pub enabled: bool,
    /// Severity of its findings.
    #[serde(with = "severity_name")]
    pub severity: Severity,
}

impl RuleToggle {
    const fn new(severity: Severity) -> Self {
        Self {
            enabled: true,
            severity,
        }
    }
}

impl Default for RuleToggle {
    fn default() -> Self {
        Self::new(Severity::Medium)
    }
}

/// Detection rule parameters, one table per rule id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectionConfig {
    /// A device the gateway does not know tried to connect.
    pub unknown_device: RuleToggle,
    /// A provisioning credential was rejected.
    pub invalid_credential: RuleToggle,
    /// A device rejected a command as unauthorized.
    pub unauthorized_command: RuleToggle,
    /// Remote access sessions that are too short or too long.
    pub remote_session: RemoteSessionRule,
    /// Data transfer rate against the device's learned baseline.
    pub data_rate_anomaly: DataRateRule,
    /// Sequence gaps, regressions, replays and unseen kind transitions.
    pub sequence_anomaly: SequenceRule,
    /// Repeated failed logins.
    pub brute_force_login: BruteForceRule,
    /// Listening ports not seen while learning.
    pub new_listening_port: ListeningPortRule,
    /// Failed baseline checks.
    pub baseline_failure: BaselineRule,
    /// SBOM components with known vulnerabilities (raised by posture checks).
    pub vulnerable_component: RuleToggle,
    /// SBOM drift from the maker's signed reference (raised by posture checks).
    pub sbom_drift: RuleToggle,
}

impl Default for DetectionConfig {
    fn default() -> Self {
        Self {
            unknown_device: RuleToggle::new(Severity::Medium),
            invalid_credential: RuleToggle::new(Severity::High),
            unauthorized_command: RuleToggle::new(Severity::High),
            remote_session: RemoteSessionRule::default(),
            data_rate_anomaly: DataRateRule::default(),
            sequence_anomaly: SequenceRule::default(),
            brute_force_login: BruteForceRule::default(),
            new_listening_port: ListeningPortRule::default(),
            baseline_failure: BaselineRule::default(),
            vulnerable_component: RuleToggle::new(Severity::High),
            sbom_drift: RuleToggle::new(Severity::High),
        }
    }
}

impl DetectionConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        self.remote_session.validate()?;
        self.data_rate_anomaly.validate()?;
        self.sequence_anomaly.validate()?;
        self.brute_force_login.validate()?;
        self.new_listening_port.validate()?;
        Ok(())
    }

    /// Whether the rule `rule` runs.
    pub fn is_enabled(&self, rule: RuleId) -> bool {
        self.toggle(rule).enabled
    }

    /// The shared parameters of rule `rule`.
    pub fn toggle(&self, rule: RuleId) -> RuleToggle {
        match rule {
            RuleId::UnknownDevice => self.unknown_device,
            RuleId::InvalidCredential => self.invalid_credential,
            RuleId::UnauthorizedCommand => self.unauthorized_command,
            RuleId::RemoteSessionShort | RuleId::RemoteSessionLong => self.remote_session.rule,
            RuleId::DataRateAnomaly => self.data_rate_anomaly.rule,
            RuleId::SequenceAnomaly => self.sequence_anomaly.rule,
            RuleId::BruteForceLogin => self.brute_force_login.rule,
            RuleId::NewListeningPort => self.new_listening_port.rule,
            RuleId::BaselineFailure => self.baseline_failure.rule,
            RuleId::VulnerableComponent => self.vulnerable_component,
            RuleId::SbomDrift => self.sbom_drift,
        }
    }
}

/// Remote access session length limits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemoteSessionRule {
    /// Whether the rule runs and its severity.
    #[serde(flatten)]
    pub rule: RuleToggle,
    /// Sessions shorter than this, in seconds, raise `remote_session_short`.
    pub min_secs: u64,
    /// Sessions longer than this, in seconds, raise `remote_session_long`.
    pub max_secs: u64,
}

impl Default for RemoteSessionRule {
    fn default() -> Self {
        Self {
            rule: RuleToggle::new(Severity::Medium),
            min_secs: 10,
            max_secs: 4 * 3600,
        }
    }
}

impl RemoteSessionRule {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.max_secs <= self.min_secs {
            return Err(invalid(
                "detection.remote_session.max_secs",
                self.max_secs,
                format!(
                    "must be greater than detection.remote_session.min_secs ({})",
                    self.min_secs
                ),
            ));
        }
        Ok(())
    }
}

/// Data transfer rate baseline: an exponentially weighted moving mean and
/// variance of bytes per second per device and direction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataRateRule {
    /// Whether the rule runs and its severity.
    #[serde(flatten)]
    pub rule: RuleToggle,
    /// Weight of a new sample, in (0, 1]; smaller values learn more slowly.
    pub alpha: f64,
    /// Samples a device sends before the rule can fire.
    pub warmup_samples: u32,
    /// Deviation from the mean, in standard deviations, that fires the rule.
    pub threshold_sigma: f64,
    /// Floor for the standard deviation, as a fraction of the mean, so a
    /// perfectly steady device does not fire on a tiny change.
    pub min_relative_deviation: f64,
}

impl Default for DataRateRule {
    fn default() -> Self {
        Self {
            rule: RuleToggle::new(Severity::High),
            alpha: 0.1,
            warmup_samples: 20,
            threshold_sigma: 6.0,
            min_relative_deviation: 0.1,
        }
    }
}

impl DataRateRule {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(self.alpha > 0.0 && self.alpha <= 1.0) {
            return Err(invalid(
                "detection.data_rate_anomaly.alpha",
                self.alpha,
                "use a value above 0 and at most 1, such as 0.1",
            ));
        }
        if !(self.threshold_sigma.is_finite() && self.threshold_sigma > 0.0) {
            return Err(invalid(
                "detection.data_rate_anomaly.threshold_sigma",
                self.threshold_sigma,
                "use a positive number of standard deviations, such as 6",
            ));
        }
        if !(self.min_relative_deviation.is_finite() && self.min_relative_deviation >= 0.0) {
            return Err(invalid(
                "detection.data_rate_anomaly.min_relative_deviation",
                self.min_relative_deviation,
                "use a fraction of the mean of 0 or more, such as 0.1",
            ));
        }
        if self.warmup_samples < 2 {
            return Err(invalid(
                "detection.data_rate_anomaly.warmup_samples",
                self.warmup_samples,
                "use at least 2 samples so that a variance exists",
            ));
        }
        Ok(())
    }
}

/// Sequence and event-kind transition checks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SequenceRule {
    /// Whether the rule runs and its severity.
    #[serde(flatten)]
    pub rule: RuleToggle,
    /// Consecutive events of one device model that must bring no new kind
    /// transition before learning ends and an unseen transition fires the
    /// rule; 0 turns the transition check off.
    pub learning_events_per_model: u64,
    /// Sequence numbers that may be skipped without a finding. A larger gap
    /// is still accepted when the event after it reports at least that many
    /// dropped events.
    pub max_gap: u64,
}

impl Default for SequenceRule {
    fn default() -> Self {
        Self {
            rule: RuleToggle::new(Severity::Medium),
            learning_events_per_model: 1000,
            max_gap: 0,
        }
    }
}

impl SequenceRule {
    fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}

/// Failed-login counting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BruteForceRule {
    /// Whether the rule runs and its severity.
    #[serde(flatten)]
    pub rule: RuleToggle,
    /// Failed logins within the window that fire the rule.
    pub failures: u32,
    /// Length of the sliding window, in seconds of device uptime.
    pub window_secs: u64,
}

impl Default for BruteForceRule {
    fn default() -> Self {
        Self {
            rule: RuleToggle::new(Severity::High),
            failures: 5,
            window_secs: 60,
        }
    }
}

impl BruteForceRule {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.failures < 2 {
            return Err(invalid(
                "detection.brute_force_login.failures",
                self.failures,
                "use at least 2 failed logins",
            ));
        }
        if self.window_secs == 0 {
            return Err(invalid(
                "detection.brute_force_login.window_secs",
                0,
                "use a window of at least 1 second",
            ));
        }
        Ok(())
    }
}

/// Listening-port learning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListeningPortRule {
    /// Whether the rule runs and its severity.
    #[serde(flatten)]
    pub rule: RuleToggle,
    /// Events per device during which opened ports are learned as normal.
    pub learning_events: u64,
    /// Ports that never raise a finding, on any device.
    pub allowed_ports: Vec<u16>,
}

impl Default for ListeningPortRule {
    fn default() -> Self {
        Self {
            rule: RuleToggle::new(Severity::Medium),
            learning_events: 200,
            allowed_ports: Vec::new(),
        }
    }
}

impl ListeningPortRule {
    fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}

/// Baseline check failures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BaselineRule {
    /// Whether the rule runs. The finding takes the check's own severity
    /// when it is higher than this one.
    #[serde(flatten)]
    pub rule: RuleToggle,
    /// Failed checks below this severity raise no finding.
    #[serde(with = "severity_name")]
    pub min_check_severity: Severity,
}

impl Default for BaselineRule {
    fn default() -> Self {
        Self {
            rule: RuleToggle::new(Severity::Low),
            min_check_severity: Severity::Low,
        }
    }
}

/// One sink: where and in which format output is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum SinkConfig {
    /// OCSF JSON, one object per line, for security and operational output.
    OcsfJsonl(JsonlSinkConfig),
    /// Telemetry as JSON, one object per line, for the business side.
    TelemetryJsonl(JsonlSinkConfig),
    /// syslog (RFC 5424 or CEF) over UDP, TCP or TLS, for security output.
    Syslog(SyslogSinkConfig),
    /// OCSF JSON published with QoS 1 to an MQTT broker, for security output.
    Mqtt(MqttSinkConfig),
}

impl SinkConfig {
    /// Whether this sink may receive security and operational output.
    pub fn carries_security(&self) -> bool {
        matches!(self, Self::OcsfJsonl(_) | Self::Syslog(_) | Self::Mqtt(_))
    }

    /// Whether this sink may receive telemetry.
    pub fn carries_telemetry(&self) -> bool {
        matches!(self, Self::TelemetryJsonl(_))
    }

    fn validate(&self, name: &str) -> Result<(), ConfigError> {
        match self {
            Self::OcsfJsonl(jsonl) | Self::TelemetryJsonl(jsonl) => jsonl.validate(name),
            Self::Syslog(syslog) => syslog.validate(name),
            Self::Mqtt(mqtt) => mqtt.validate(name),
        }
    }
}

/// A JSON Lines file that rotates by size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JsonlSinkConfig {
    /// File name, relative to `paths.output` unless absolute.
    pub file: PathBuf,
    /// Size in bytes at which the file is rotated (renamed to `FILE.1`).
    pub rotate_bytes: u64,
    /// Rotated files kept (`FILE.1` … `FILE.N`); older ones are deleted.
    pub keep_files: u32,
}

impl Default for JsonlSinkConfig {
    fn default() -> Self {
        Self {
            file: PathBuf::new(),
            rotate_bytes: 64 * 1024 * 1024,
            keep_files: 5,
        }
    }
}

impl JsonlSinkConfig {
    fn validate(&self, name: &str) -> Result<(), ConfigError> {
        if self.file.as_os_str().is_empty() {
            return Err(invalid(
                format!("sinks.{name}.file"),
                "\"\"",
                "name the output file, such as \"security.jsonl\"",
            ));
        }
        if self.rotate_bytes < 4096 {
            return Err(invalid(
                format!("sinks.{name}.rotate_bytes"),
                self.rotate_bytes,
                "use at least 4096 bytes",
            ));
        }
        Ok(())
    }
}

pub use crate::sink_config::{MqttSinkConfig, SyslogFormat, SyslogSinkConfig, SyslogTransport};

/// Routes from output class to sinks.
///
/// Security and operational events and findings go to `security` sinks,
/// telemetry to `telemetry` sinks; a sink may not appear in both lists.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingConfig {
    /// Sink names for security and operational events and for findings.
    pub security: Vec<String>,
    /// Sink names for telemetry.
    pub telemetry: Vec<String>,
}

impl RoutingConfig {
    fn validate(&self, sinks: &BTreeMap<String, SinkConfig>) -> Result<(), ConfigError> {
        for name in &self.security {
            let sink = sinks.get(name).ok_or_else(|| {
                invalid(
                    "routing.security",
                    name,
                    format!("no [sinks.{name}] table exists; declare it or remove the name"),
                )
            })?;
            if !sink.carries_security() {
                return Err(invalid(
                    "routing.security",
                    name,
                    "this sink writes telemetry; route a security sink kind such as ocsf_jsonl",
                ));
            }
            if self.telemetry.contains(name) {
                return Err(invalid(
                    "routing.telemetry",
                    name,
                    "a sink may not receive both security output and telemetry; use two sinks",
                ));
            }
        }
        for name in &self.telemetry {
            let sink = sinks.get(name).ok_or_else(|| {
                invalid(
                    "routing.telemetry",
                    name,
                    format!("no [sinks.{name}] table exists; declare it or remove the name"),
                )
            })?;
            if !sink.carries_telemetry() {
                return Err(invalid(
                    "routing.telemetry",
                    name,
                    "this sink writes security output; route a telemetry sink kind such as telemetry_jsonl",
                ));
            }
        }
        if self.security.is_empty() {
            return Err(invalid(
                "routing.security",
                "[]",
                "name at least one security sink, or security events would be kept only in the outbox",
            ));
        }
        for name in sinks.keys() {
            if !self.security.contains(name) && !self.telemetry.contains(name) {
                return Err(invalid(
                    format!("sinks.{name}"),
                    name,
                    "the sink is not routed; add it to routing.security or routing.telemetry",
                ));
            }
        }
        Ok(())
    }
}

/// Response policy for findings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResponseConfig {
    /// Action for findings that no rule matches.
    pub default_action: Action,
    /// Rules, tried in order; the first match decides.
    pub rules: Vec<ResponseRule>,
    /// Seconds a command stays valid on the device.
    pub command_validity_secs: u64,
}

impl Default for ResponseConfig {
    fn default() -> Self {
        Self {
            default_action: Action::Alert,
            rules: Vec::new(),
            command_validity_secs: 600,
        }
    }
}

impl ResponseConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        for (index, rule) in self.rules.iter().enumerate() {
            if RuleId::from_name(&rule.rule).is_none() && rule.rule != "*" {
                return Err(invalid(
                    format!("response.rules[{index}].rule"),
                    &rule.rule,
                    format!(
                        "use \"*\" or one of: {}",
                        RuleId::ALL
                            .iter()
                            .map(|r| r.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        if self.command_validity_secs == 0 {
            return Err(invalid(
                "response.command_validity_secs",
                0,
                "use at least 1 second",
            ));
        }
        Ok(())
    }
}

/// One response rule: findings of `rule` at `min_severity` or above get `action`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseRule {
    /// A rule id, or `*` for every rule.
    pub rule: String,
    /// Lowest finding severity the rule applies to.
    #[serde(with = "severity_name", default = "lowest_severity")]
    pub min_severity: Severity,
    /// What to do.
    pub action: Action,
}

fn lowest_severity() -> Severity {
    Severity::Info
}

/// Serde for [`Severity`] as its lowercase name (`info` … `critical`).
pub mod severity_name {
    use palisade_schema::Severity;
    use serde::{Deserialize, Deserializer, Serializer};

    const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// Parses a lowercase severity name.
    pub fn parse(name: &str) -> Option<Severity> {
        ALL.into_iter().find(|severity| severity.name() == name)
    }

    /// Writes the lowercase name.
    pub fn serialize<S: Serializer>(severity: &Severity, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(severity.name())
    }

    /// Reads a lowercase name.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Severity, D::Error> {
        let name = String::deserialize(deserializer)?;
        parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid severity {name:?}; use one of info, low, medium, high, critical"
            ))
        })
    }
}
