//! Routing and delivery: reads the outbox in order and hands each record to
//! the sinks of its route.
//!
//! Security and operational events and every finding go to the security
//! sinks as OCSF objects; telemetry goes to the telemetry sinks as plain
//! JSON. A record never goes to a sink of the other route.
//!
//! A delivery round, per sink: read rows after the sink's cursor, write the
//! records of its route that the sink's file does not already hold, make
//! the file durable, then advance the cursor. A sink that fails keeps its
//! cursor and retries the same rows in the next round; the others go on.

use std::collections::HashMap;
use std::path::Path;

use palisade_export::{DeviceInfo, EventContext, Origin, ocsf};
use palisade_schema::{DeviceId, Event, EventBody, EventClass};
use serde_json::Value;

use crate::config::{Config, SinkConfig};
use crate::db::StorageError;
use crate::inventory::Inventory;
use crate::mqtt_sink::MqttSink;
use crate::outbox::{Outbox, OutboxRow, RowKind};
use crate::remote_sink::{RemoteSink, send_rows};
use crate::sink::{JsonlSink, Position, Route, SinkError};
use crate::syslog_sink::SyslogSink;

/// Source of the device details that delivery attaches to exported records.
pub trait DeviceDirectory {
    /// The device's export identity (id, vendor, model, host name, address).
    fn device_info(&self, device: DeviceId) -> DeviceInfo;
}

impl DeviceDirectory for Inventory {
    fn device_info(&self, device: DeviceId) -> DeviceInfo {
        let mut info = DeviceInfo::new(device);
        match self.device(device) {
            Ok(Some(record)) => {
                info.vendor = Some(record.vendor);
                info.model = Some(record.model);
                info.ip = record
                    .address
                    .and_then(|address| address.parse::<std::net::SocketAddr>().ok())
                    .map(|address| address.ip().into());
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%device, %error, "inventory lookup failed; exporting the device id only")
            }
        }
        if let Ok(Some(system)) = self.system_info(device) {
            info.hostname = Some(system.hostname);
        }
        info
    }
}

/// A directory that returns device ids only.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdsOnly;

impl DeviceDirectory for IdsOnly {
    fn device_info(&self, device: DeviceId) -> DeviceInfo {
        DeviceInfo::new(device)
    }
}

/// Error of one delivery round.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The outbox could not be read or a cursor could not be advanced.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A sink could not be opened.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// Counts from one delivery round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Records written, per sink name.
    pub written: HashMap<String, u64>,
    /// Records skipped because the sink's file already held them.
    pub already_written: u64,
    /// Sinks that failed this round (their cursors did not move).
    pub failed_sinks: Vec<String>,
    /// Stored events that could not be decoded and were skipped (counted, logged).
    pub undecodable: u64,
    /// Rows that sink cursors moved past, summed over sinks.
    pub rows: u64,
}

impl DeliveryReport {
    /// Records written to all sinks.
    pub fn total_written(&self) -> u64 {
        self.written.values().sum()
    }
}

/// The sinks and the delivery loop.
#[derive(Debug)]
pub struct Delivery {
    sinks: Vec<JsonlSink>,
    remote: Vec<Box<dyn RemoteSink>>,
    origin: Origin,
    rows_per_round: usize,
}

impl Delivery {
    /// Opens every sink named in the configuration's routing, under
    /// `paths.output`.
    pub fn from_config(config: &Config, origin: Origin) -> Result<Self, DeliveryError> {
        let mut sinks = Vec::new();
        let mut remote: Vec<Box<dyn RemoteSink>> = Vec::new();
        for (names, route) in [
            (&config.routing.security, Route::Security),
            (&config.routing.telemetry, Route::Telemetry),
        ] {
            for name in names {
                match config.sinks.get(name) {
                    Some(SinkConfig::OcsfJsonl(jsonl) | SinkConfig::TelemetryJsonl(jsonl)) => {
                        sinks.push(JsonlSink::open(name, route, &config.paths.output, jsonl)?);
                    }
                    Some(SinkConfig::Syslog(syslog)) => {
                        remote.push(Box::new(SyslogSink::open(name, syslog)?));
                    }
                    Some(SinkConfig::Mqtt(mqtt)) => {
                        remote.push(Box::new(MqttSink::open(name, mqtt)?));
                    }
                    None => {}
                }
            }
        }
        Ok(Self {
            sinks,
            remote,
            origin,
            rows_per_round: config.outbox.delivery_rows,
        })
    }

    /// Delivery over sinks opened by the caller.
    pub fn new(sinks: Vec<JsonlSink>, origin: Origin, rows_per_round: usize) -> Self {
        Self {
            sinks,
            remote: Vec::new(),
            origin,
            rows_per_round: rows_per_round.max(1),
        }
    }

    /// Adds network sinks (syslog, MQTT) opened by the caller; they receive
    /// security output only.
    pub fn with_remote_sinks(mut self, remote: Vec<Box<dyn RemoteSink>>) -> Self {
        self.remote.extend(remote);
        self
    }

    /// The network sinks.
    pub fn remote_sinks(&self) -> &[Box<dyn RemoteSink>] {
        &self.remote
    }

    /// The sink names, which are also their outbox cursor names.
    pub fn sink_names(&self) -> Vec<&str> {
        self.sinks
            .iter()
            .map(JsonlSink::name)
            .chain(self.remote.iter().map(|sink| sink.name()))
            .collect()
    }

    /// The sinks.
    pub fn sinks(&self) -> &[JsonlSink] {
        &self.sinks
    }

    /// Runs one round for every sink, delivering up to `outbox.delivery_rows`
    /// rows each.
    pub fn deliver(
        &mut self,
        outbox: &mut Outbox,
        directory: &dyn DeviceDirectory,
    ) -> Result<DeliveryReport, DeliveryError> {
        let mut report = DeliveryReport::default();
        let mut devices: HashMap<Option<DeviceId>, DeviceInfo> = HashMap::new();
        for sink in &mut self.sinks {
            let cursor = outbox.cursor(sink.name())?;
            let rows = outbox.read_after(cursor, self.rows_per_round)?;
            let Some(last_row) = rows.last().map(|row| row.id) else {
                continue;
            };
            let mut written = 0u64;
            let result = write_rows(
                sink,
                &rows,
                &self.origin,
                directory,
                &mut devices,
                &mut report,
                &mut written,
            )
            .and_then(|()| sink.flush());
            match result {
                Ok(()) => {
                    outbox.mark_delivered(sink.name(), last_row)?;
                    report.rows += rows.len() as u64;
                    *report.written.entry(sink.name().to_owned()).or_default() += written;
                }
                Err(error) => {
                    tracing::error!(sink = sink.name(), %error, "sink delivery failed; retrying these rows next round");
                    report.failed_sinks.push(sink.name().to_owned());
                }
            }
        }
        for sink in &mut self.remote {
            let cursor = outbox.cursor(sink.name())?;
            let rows = outbox.read_after(cursor, self.rows_per_round)?;
            let Some(last_row) = rows.last().map(|row| row.id) else {
                continue;
            };
            let mut written = 0u64;
            let result = send_rows(
                sink.as_mut(),
                &rows,
                &self.origin,
                directory,
                &mut devices,
                &mut report,
                &mut written,
            );
            match result {
                Ok(()) => {
                    outbox.mark_delivered(sink.name(), last_row)?;
                    report.rows += rows.len() as u64;
                    *report.written.entry(sink.name().to_owned()).or_default() += written;
                }
                Err(error) => {
                    tracing::error!(sink = sink.name(), %error, "sink delivery failed; retrying these rows next round");
                    report.failed_sinks.push(sink.name().to_owned());
                }
            }
        }
        Ok(report)
    }

    /// Delivers rounds until every sink is caught up or `max_rounds` ran;
    /// returns the combined report.
    pub fn drain(
        &mut self,
        outbox: &mut Outbox,
        directory: &dyn DeviceDirectory,
        max_rounds: usize,
    ) -> Result<DeliveryReport, DeliveryError> {
        let mut total = DeliveryReport::default();
        for _ in 0..max_rounds {
            let report = self.deliver(outbox, directory)?;
            let progressed = report.rows > 0;
            total.rows += report.rows;
            for (sink, count) in report.written {
                *total.written.entry(sink).or_default() += count;
            }
            total.already_written += report.already_written;
            total.undecodable += report.undecodable;
            total
                .failed_sinks
                .extend(report.failed_sinks.iter().cloned());
            if !report.failed_sinks.is_empty()
                || !progressed
                || outbox.depth(&self.sink_names())? == 0
            {
                break;
            }
        }
        Ok(total)
    }
}

fn write_rows(
    sink: &mut JsonlSink,
    rows: &[OutboxRow],
    origin: &Origin,
    directory: &dyn DeviceDirectory,
    devices: &mut HashMap<Option<DeviceId>, DeviceInfo>,
    report: &mut DeliveryReport,
    written: &mut u64,
) -> Result<(), SinkError> {
    for row in rows {
        match row.kind {
            RowKind::Finding => {
                let position = Position {
                    row: row.id,
                    index: 0,
                };
                if sink.route() != Route::Security {
                    continue;
                }
                if sink.last_written().is_some_and(|last| position <= last) {
                    report.already_written += 1;
                    continue;
                }
                let finding = match row.finding() {
                    Some(Ok(finding)) => finding,
                    Some(Err(error)) => {
                        tracing::error!(row = row.id, %error, "skipping an unreadable finding");
                        report.undecodable += 1;
                        continue;
                    }
                    None => continue,
                };
                let info = lookup(devices, directory, finding.device).clone();
                let export = finding.to_export(format!("{}:{}", origin.gateway, row.id), info);
                sink.write(position, ocsf::finding(&export, origin))?;
                *written += 1;
            }
            RowKind::Events => {
                for (index, event) in row.events().enumerate() {
                    let position = Position {
                        row: row.id,
                        index: u32::try_from(index).unwrap_or(u32::MAX),
                    };
                    let event = match event {
                        Ok(event) => event,
                        Err(error) => {
                            tracing::error!(row = row.id, index, %error, "skipping the undecodable rest of an outbox row");
                            report.undecodable += 1;
                            break;
                        }
                    };
                    let is_telemetry = event.class() == EventClass::Telemetry;
                    if is_telemetry != (sink.route() == Route::Telemetry) {
                        continue;
                    }
                    if sink.last_written().is_some_and(|last| position <= last) {
                        report.already_written += 1;
                        continue;
                    }
                    let Some(object) =
                        format_event(sink.route(), &event, row, origin, directory, devices)
                    else {
                        continue;
                    };
                    sink.write(position, object)?;
                    *written += 1;
                }
            }
        }
    }
    Ok(())
}

/// Formats `event` for a sink of `route`, or returns `None` when the event
/// does not belong on that route.
fn format_event(
    route: Route,
    event: &Event<'_>,
    row: &OutboxRow,
    origin: &Origin,
    directory: &dyn DeviceDirectory,
    devices: &mut HashMap<Option<DeviceId>, DeviceInfo>,
) -> Option<Value> {
    let is_telemetry = event.class() == EventClass::Telemetry;
    if is_telemetry != (route == Route::Telemetry) {
        return None;
    }
    let device = row.device.or_else(|| reported_device(event));
    let info = lookup(devices, directory, device);
    let context = EventContext {
        device: info,
        origin,
        received_unix_ms: row.stored_unix_ms,
    };
    match route {
        Route::Security => Some(ocsf::event(event, &context)),
        Route::Telemetry => ocsf::telemetry_json(event, &context),
    }
}

/// The device id named inside a gateway-reported event, if any.
pub(crate) fn reported_device(event: &Event<'_>) -> Option<DeviceId> {
    match &event.body {
        EventBody::UnknownDevice(unknown) => unknown.claimed_device_id,
        EventBody::CredentialRejected(rejected) => rejected.device_id,
        EventBody::ProtocolViolation(violation) => violation.device_id,
        _ => None,
    }
}

pub(crate) fn lookup<'m>(
    devices: &'m mut HashMap<Option<DeviceId>, DeviceInfo>,
    directory: &dyn DeviceDirectory,
    device: Option<DeviceId>,
) -> &'m DeviceInfo {
    devices.entry(device).or_insert_with(|| match device {
        Some(device) => directory.device_info(device),
        // NOTE: a record with no device id at all (a connection that
        // never named one) is exported under the all-zero device id.
        None => DeviceInfo::new(DeviceId::default()),
    })
}

/// Delivery from a configuration file's sinks, with the inventory as the
/// device directory; a convenience for tools that drain an outbox once.
pub fn drain_database(
    config: &Config,
    origin: Origin,
    database: &Path,
    max_rounds: usize,
) -> Result<DeliveryReport, DeliveryError> {
    let mut delivery = Delivery::from_config(config, origin)?;
    let mut outbox = Outbox::open(database, &config.outbox)?;
    let inventory = Inventory::open(database)?;
    delivery.drain(&mut outbox, &inventory, max_rounds)
}
