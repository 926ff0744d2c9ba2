//! Network sinks: the interface that the syslog and MQTT sinks implement,
//! and the delivery step that feeds them from the outbox.
//!
//! Network sinks carry security output only: security and operational
//! events and findings. Telemetry never reaches them. A round sends every
//! record after the sink's outbox cursor that the sink has not accepted
//! yet, then calls [`RemoteSink::flush`]; only when both succeed does the
//! cursor advance. A sink that fails keeps its cursor, so a receiver outage
//! loses nothing and the records go out once the receiver is back.
//!
//! Duplicates: a sink reports, with [`RemoteSink::last_sent`], the last
//! position it has sent, and delivery skips positions up to it. The
//! syslog sink forgets that position when a send fails, because frames
//! written to a TCP connection just before it broke may never have arrived,
//! so the whole round is sent again. The MQTT sink keeps it, because its
//! publisher keeps and resends every unacknowledged message itself. After
//! a gateway restart the sinks start with no position, so up to one round
//! of records sent before the restart can be sent again.

use std::collections::HashMap;

use palisade_export::{DeviceInfo, EventContext, Origin};
use palisade_schema::{DeviceId, Event, EventClass};

use crate::delivery::{DeliveryReport, DeviceDirectory, lookup, reported_device};
use crate::outbox::{OutboxRow, RowKind};
use crate::sink::{Position, SinkError};

/// One record handed to a network sink.
#[derive(Debug, Clone, Copy)]
pub enum Record<'a> {
    /// A security or operational event, with its export context.
    Event {
        /// The event.
        event: &'a Event<'a>,
        /// Device, gateway and reception time.
        context: &'a EventContext<'a>,
    },
    /// A detection finding.
    Finding {
        /// The finding in export form.
        finding: &'a palisade_export::Finding,
        /// The gateway.
        origin: &'a Origin,
    },
}

/// A sink that sends security output over the network.
pub trait RemoteSink: std::fmt::Debug + Send {
    /// Sink name, which is also its outbox cursor name.
    fn name(&self) -> &str;

    /// The last position this sink has sent (or queued), if any.
    fn last_sent(&self) -> Option<Position>;

    /// Sends (or queues) one record.
    fn send(&mut self, position: Position, record: Record<'_>) -> Result<(), SinkError>;

    /// Records dropped because no retry could ever send them (each one is
    /// logged as an error when dropped).
    fn dropped(&self) -> u64 {
        0
    }

    /// Completes the round: returns `Ok` only when every record sent so far
    /// is with the receiver as far as this sink can tell.
    fn flush(&mut self) -> Result<(), SinkError>;
}

/// Sends the security records of `rows` to `sink`, skipping those at or
/// before [`RemoteSink::last_sent`], then flushes it.
pub(crate) fn send_rows(
    sink: &mut dyn RemoteSink,
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
                if sink.last_sent().is_some_and(|last| position <= last) {
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
                sink.send(
                    position,
                    Record::Finding {
                        finding: &export,
                        origin,
                    },
                )?;
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
                    if event.class() == EventClass::Telemetry {
                        continue;
                    }
                    if sink.last_sent().is_some_and(|last| position <= last) {
                        report.already_written += 1;
                        continue;
                    }
                    let device = row.device.or_else(|| reported_device(&event));
                    let info = lookup(devices, directory, device);
                    let context = EventContext {
                        device: info,
                        origin,
                        received_unix_ms: row.stored_unix_ms,
                    };
                    sink.send(
                        position,
                        Record::Event {
                            event: &event,
                            context: &context,
                        },
                    )?;
                    *written += 1;
                }
            }
        }
    }
    sink.flush()
}
