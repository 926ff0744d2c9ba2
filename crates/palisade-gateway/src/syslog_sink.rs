//! The syslog sink: security events and findings as RFC 5424 messages or
//! CEF lines, over UDP, TCP or TLS.
//!
//! - `rfc5424`: [`palisade_export::syslog::event_message`] and
//!   [`palisade_export::syslog::finding_message`], with
//!   the record's fields as structured data.
//! - `cef`: the same RFC 5424 header (priority, timestamp, host name,
//!   APP-NAME, MSGID) with no structured data, and one CEF line from
//!   [`palisade_export::cef`] as MSG, after the UTF-8 BOM that RFC 5424
//!   requires before a UTF-8 MSG. This is "CEF over syslog": the CEF line
//!   is the syslog MSG, never a raw line on its own.
//!
//! Framing: one message per datagram over UDP (RFC 5426), octet counting
//! (`LENGTH SP MESSAGE`, RFC 6587) over TCP and TLS (RFC 5425).
//!
//! Delivery guarantees differ by transport. Over UDP a send succeeds once
//! the datagram leaves the socket, so loss on the way or at a stopped
//! receiver is not detected (unless the kernel reports the port as
//! unreachable on a later send). Over TCP and TLS a failed connection or
//! write fails the round, and the next round opens a new connection and
//! sends the whole round again. Syslog has no acknowledgements, so frames
//! written just before the failure may be lost. Receivers therefore see each record at least once; they can drop
//! repeats by the event id (`externalId` in CEF, the `palisade@N`
//! parameters `device_id`, `boot` and `sequence` in RFC 5424).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use palisade_export::cef;
use palisade_export::sender::{SendError, TcpSender, TlsSender, UdpSender};
use palisade_export::syslog::{SyslogMessage, SyslogOptions, event_message, finding_message};
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};

use crate::config::{SyslogFormat, SyslogSinkConfig, SyslogTransport};
use crate::remote_sink::{Record, RemoteSink};
use crate::sink::{Position, SinkError};

/// Connection settings of each transport.
enum Connector {
    Udp {
        max_datagram_bytes: usize,
    },
    Tcp,
    Tls {
        server_name: ServerName<'static>,
        client: Arc<rustls::ClientConfig>,
    },
}

enum Connection {
    Udp(UdpSender),
    Tcp(TcpSender),
    Tls(Box<TlsSender>),
}

/// A syslog sink; see the module docs for formats and guarantees.
pub struct SyslogSink {
    name: String,
    address: SocketAddr,
    format: SyslogFormat,
    options: SyslogOptions,
    timeout: Duration,
    connector: Connector,
    connection: Option<Connection>,
    last_sent: Option<Position>,
    messages_sent: u64,
    dropped_too_long: u64,
}

impl std::fmt::Debug for SyslogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyslogSink")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("format", &self.format)
            .field("connected", &self.connection.is_some())
            .field("last_sent", &self.last_sent)
            .finish_non_exhaustive()
    }
}

impl SyslogSink {
    /// Creates the sink from its configuration. For TLS this reads the CA
    /// file; the connection itself opens on the first send.
    pub fn open(name: &str, config: &SyslogSinkConfig) -> Result<Self, SinkError> {
        let setup =
            |target: String, source: Box<dyn std::error::Error + Send + Sync>| SinkError::Network {
                sink: name.to_owned(),
                action: "set up",
                target,
                source,
            };
        let address = config
            .address
            .ok_or_else(|| setup("the receiver".into(), "no address is configured".into()))?;
        let connector = match config.transport {
            SyslogTransport::Udp => Connector::Udp {
                max_datagram_bytes: config.max_datagram_bytes,
            },
            SyslogTransport::Tcp => Connector::Tcp,
            SyslogTransport::Tls => {
                let ca_file = config
                    .ca_file
                    .as_ref()
                    .ok_or_else(|| setup(address.to_string(), "no ca_file is configured".into()))?;
                let target = ca_file.display().to_string();
                let mut roots = rustls::RootCertStore::empty();
                for certificate in CertificateDer::pem_file_iter(ca_file)
                    .map_err(|error| setup(target.clone(), error.into()))?
                {
                    let certificate =
                        certificate.map_err(|error| setup(target.clone(), error.into()))?;
                    roots
                        .add(certificate)
                        .map_err(|error| setup(target.clone(), error.into()))?;
                }
                if roots.is_empty() {
                    return Err(setup(target, "the file contains no certificate".into()));
                }
                let server_name =
                    ServerName::try_from(config.server_name.clone().unwrap_or_default())
                        .map_err(|error| setup(address.to_string(), error.into()))?;
                let client = rustls::ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                Connector::Tls {
                    server_name,
                    client: Arc::new(client),
                }
            }
        };
        Ok(Self {
            name: name.to_owned(),
            address,
            format: config.format,
            options: SyslogOptions::default(),
            timeout: Duration::from_millis(config.timeout_ms),
            connector,
            connection: None,
            last_sent: None,
            messages_sent: 0,
            dropped_too_long: 0,
        })
    }

    /// Messages sent since the sink was created, repeats included.
    pub fn messages_sent(&self) -> u64 {
        self.messages_sent
    }

    /// Records dropped because their message exceeded the UDP datagram
    /// limit (each logged as an error).
    pub fn dropped_too_long(&self) -> u64 {
        self.dropped_too_long
    }

    /// Formats `record` as one syslog message line, without framing.
    pub fn format_line(&self, record: Record<'_>) -> String {
        match (self.format, record) {
            (SyslogFormat::Rfc5424, Record::Event { event, context }) => {
                event_message(event, context, &self.options).to_line()
            }
            (SyslogFormat::Rfc5424, Record::Finding { finding, origin }) => {
                finding_message(finding, origin, &self.options).to_line()
            }
            (SyslogFormat::Cef, Record::Event { event, context }) => {
                let message = event_message(event, context, &self.options);
                with_cef_msg(message, cef::event_line(event, context))
            }
            (SyslogFormat::Cef, Record::Finding { finding, origin }) => {
                let message = finding_message(finding, origin, &self.options);
                with_cef_msg(message, cef::finding_line(finding, origin))
            }
        }
    }

    fn connect(&self) -> Result<Connection, SendError> {
        let connection = match &self.connector {
            Connector::Udp { max_datagram_bytes } => Connection::Udp(
                UdpSender::connect(self.address)?.with_max_datagram_len(*max_datagram_bytes),
            ),
            Connector::Tcp => Connection::Tcp(TcpSender::connect(self.address, self.timeout)?),
            Connector::Tls {
                server_name,
                client,
            } => Connection::Tls(Box::new(TlsSender::connect(
                self.address,
                server_name.clone(),
                client.clone(),
                self.timeout,
            )?)),
        };
        tracing::info!(sink = %self.name, address = %self.address, "syslog sink connected");
        Ok(connection)
    }

    fn send_line(&mut self, line: &str) -> Result<(), SendError> {
        if self.connection.is_none() {
            self.connection = Some(self.connect()?);
        }
        match self.connection.as_mut() {
            Some(Connection::Udp(sender)) => sender.send(line),
            Some(Connection::Tcp(sender)) => sender.send(line),
            Some(Connection::Tls(sender)) => sender.send(line),
            None => Ok(()),
        }
    }

    fn fail(&mut self, action: &'static str, error: SendError) -> SinkError {
        // Frames written before the failure may not have arrived: resend the
        // whole round on a new connection.
        self.last_sent = None;
        if let Some(Connection::Tls(sender)) = self.connection.take() {
            let _ = sender.close();
        }
        tracing::warn!(sink = %self.name, address = %self.address, %error, "syslog send failed; the round will be sent again");
        SinkError::Network {
            sink: self.name.clone(),
            action,
            target: self.address.to_string(),
            source: Box::new(error),
        }
    }

    /// Closes the connection; TLS sends close_notify first.
    pub fn close(&mut self) {
        if let Some(Connection::Tls(sender)) = self.connection.take()
            && let Err(error) = sender.close()
        {
            tracing::warn!(sink = %self.name, %error, "syslog TLS close failed");
        }
    }
}

impl Drop for SyslogSink {
    fn drop(&mut self) {
        self.close();
    }
}

/// Replaces the structured data and MSG of `message` with one CEF line.
fn with_cef_msg(mut message: SyslogMessage, cef_line: String) -> String {
    message.structured_data.clear();
    message.msg = Some(cef_line);
    message.to_line()
}

impl RemoteSink for SyslogSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn last_sent(&self) -> Option<Position> {
        self.last_sent
    }

    fn send(&mut self, position: Position, record: Record<'_>) -> Result<(), SinkError> {
        let line = self.format_line(record);
        match self.send_line(&line) {
            Ok(()) => {}
            Err(SendError::TooLong { len, max }) => {
                // Sending it again would fail the same way and stop the
                // sink for good, so the record is dropped and counted.
                self.dropped_too_long += 1;
                tracing::error!(
                    sink = %self.name,
                    row = position.row,
                    index = position.index,
                    len,
                    max,
                    "dropped a syslog message longer than the datagram limit; raise max_datagram_bytes or use tcp"
                );
                self.last_sent = Some(position);
                return Ok(());
            }
            Err(error) => return Err(self.fail("send to", error)),
        }
        self.last_sent = Some(position);
        self.messages_sent += 1;
        Ok(())
    }

    fn dropped(&self) -> u64 {
        self.dropped_too_long
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        // Every send already wrote its frame to the socket (TLS flushes each
        // record), so nothing is buffered here.
        Ok(())
    }
}
