//! Configuration of the network sinks: syslog and MQTT.
//!
//! ```
//! use palisade_gateway::config::{Config, SinkConfig, SyslogFormat, SyslogTransport};
//!
//! let config = Config::from_toml_str(r#"
//!     [sinks.siem]
//!     kind = "syslog"
//!     transport = "tcp"
//!     format = "cef"
//!     address = "127.0.0.1:6514"
//!
//!     [sinks.broker]
//!     kind = "mqtt"
//!     broker = "127.0.0.1:1883"
//!     site = "ward-3"
//!
//!     [routing]
//!     security = ["siem", "broker"]
//! "#)?;
//! let SinkConfig::Syslog(siem) = &config.sinks["siem"] else { unreachable!() };
//! assert_eq!(siem.transport, SyslogTransport::Tcp);
//! assert_eq!(siem.format, SyslogFormat::Cef);
//! # Ok::<(), palisade_gateway::config::ConfigError>(())
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, invalid};

/// Transport of syslog messages to the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyslogTransport {
    /// One message per UDP datagram (RFC 5426). Loss is not detected.
    #[default]
    Udp,
    /// Octet-counted frames over TCP (RFC 6587).
    Tcp,
    /// Octet-counted frames over TLS 1.2 or 1.3 (RFC 5425).
    Tls,
}

/// Message format of a syslog sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyslogFormat {
    /// RFC 5424 with the record's fields as structured data.
    #[default]
    Rfc5424,
    /// An RFC 5424 header with no structured data and one CEF line as MSG.
    Cef,
}

/// A syslog sink (`kind = "syslog"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyslogSinkConfig {
    /// Transport: `udp`, `tcp` or `tls`.
    pub transport: SyslogTransport,
    /// Message format: `rfc5424` or `cef`.
    pub format: SyslogFormat,
    /// Receiver address, such as `127.0.0.1:6514`. Required.
    pub address: Option<SocketAddr>,
    /// TLS only: the name the receiver's certificate must carry. Required
    /// for `tls`.
    pub server_name: Option<String>,
    /// TLS only: PEM file of the CA certificates the receiver's certificate
    /// must chain to. Required for `tls`.
    pub ca_file: Option<PathBuf>,
    /// Timeout of the connection and of each write, in milliseconds.
    pub timeout_ms: u64,
    /// UDP only: largest datagram in bytes. A longer message is dropped,
    /// counted and logged, because no retry could send it.
    pub max_datagram_bytes: usize,
}

impl Default for SyslogSinkConfig {
    fn default() -> Self {
        Self {
            transport: SyslogTransport::Udp,
            format: SyslogFormat::Rfc5424,
            address: None,
            server_name: None,
            ca_file: None,
            timeout_ms: 5000,
            max_datagram_bytes: palisade_export::sender::UdpSender::DEFAULT_MAX_DATAGRAM_LEN,
        }
    }
}

impl SyslogSinkConfig {
    pub(crate) fn validate(&self, name: &str) -> Result<(), ConfigError> {
        if self.address.is_none() {
            return Err(invalid(
                format!("sinks.{name}.address"),
                "(missing)",
                "set the receiver address, such as \"127.0.0.1:6514\"",
            ));
        }
        if self.timeout_ms == 0 {
            return Err(invalid(
                format!("sinks.{name}.timeout_ms"),
                0,
                "use a timeout of at least 1 ms, such as 5000",
            ));
        }
        let max = palisade_export::sender::UdpSender::MAX_DATAGRAM_LEN;
        if self.max_datagram_bytes < 480 || self.max_datagram_bytes > max {
            return Err(invalid(
                format!("sinks.{name}.max_datagram_bytes"),
                self.max_datagram_bytes,
                format!("use 480 to {max} bytes (RFC 5426 requires receivers to accept 480)"),
            ));
        }
        if self.transport == SyslogTransport::Tls {
            if self.server_name.as_deref().is_none_or(str::is_empty) {
                return Err(invalid(
                    format!("sinks.{name}.server_name"),
                    "(missing)",
                    "set the host name in the receiver's certificate",
                ));
            }
            if self.ca_file.is_none() {
                return Err(invalid(
                    format!("sinks.{name}.ca_file"),
                    "(missing)",
                    "set a PEM file with the CA certificates of the receiver",
                ));
            }
        }
        Ok(())
    }
}

/// An MQTT sink (`kind = "mqtt"`), publishing OCSF JSON with QoS 1 to
/// `palisade/<site>/<class>/<device-id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttSinkConfig {
    /// Broker as `host:port`. Required.
    pub broker: String,
    /// Site name, the second topic level. Required.
    pub site: String,
    /// MQTT client id; empty means `palisade-gateway-<site>`.
    pub client_id: String,
    /// Maximum wait for the broker's acknowledgements in one delivery
    /// round, in milliseconds.
    pub flush_timeout_ms: u64,
}

impl Default for MqttSinkConfig {
    fn default() -> Self {
        Self {
            broker: String::new(),
            site: String::new(),
            client_id: String::new(),
            flush_timeout_ms: 10_000,
        }
    }
}

impl MqttSinkConfig {
    /// Returns the broker's host and port, if `broker` has the form `host:port`.
    pub fn host_port(&self) -> Option<(&str, u16)> {
        let (host, port) = self.broker.rsplit_once(':')?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return None;
        }
        Some((host, port.parse().ok()?))
    }

    /// Returns the client id, or `palisade-gateway-<site>` when none is set.
    pub fn effective_client_id(&self) -> String {
        if self.client_id.is_empty() {
            format!("palisade-gateway-{}", self.site)
        } else {
            self.client_id.clone()
        }
    }

    pub(crate) fn validate(&self, name: &str) -> Result<(), ConfigError> {
        if self.host_port().is_none() {
            return Err(invalid(
                format!("sinks.{name}.broker"),
                &self.broker,
                "set the broker as host:port, such as \"127.0.0.1:1883\"",
            ));
        }
        let site_ok = !self.site.is_empty()
            && self.site.len() <= palisade_transport::mqtt::MAX_TOPIC_LEVEL_LEN
            && !self.site.contains(['/', '+', '#', '\0']);
        if !site_ok {
            return Err(invalid(
                format!("sinks.{name}.site"),
                &self.site,
                "set a site name of 1 to 128 bytes without '/', '+', '#' or NUL",
            ));
        }
        if self.flush_timeout_ms == 0 {
            return Err(invalid(
                format!("sinks.{name}.flush_timeout_ms"),
                0,
                "use a timeout of at least 1 ms, such as 10000",
            ));
        }
        Ok(())
    }
}
