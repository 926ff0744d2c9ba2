//! The durable outbox: received events and findings wait here, committed to
//! SQLite, until every sink has delivered them.
//!
//! The contract with the admission side: call [`Outbox::store`] with a
//! device's batch, and acknowledge the batch to the device only after it
//! returns `Ok`. At that point the batch is committed with
//! `synchronous = FULL`, so neither a gateway crash nor a power loss loses
//! it. A batch is one row, which keeps a commit cheap; [`Outbox::store_many`]
//! commits several batches in one transaction.
//!
//! De-duplication: every stored event's (device, boot, sequence) and a
//! digest of its bytes are kept in `outbox_keys`. An event whose key is
//! already there is skipped, so a batch resent after a lost acknowledgement
//! is stored once. The receipt tells an identical resend
//! ([`Disposition::Duplicate`]) from a different event under a reused key
//! ([`Disposition::Conflict`]). Keys are pruned with their rows, so a
//! resend that arrives after its row was pruned is stored again.
//!
//! Delivery: each sink has a cursor, the id of the last row it delivered.
//! Sinks read rows in id order after their cursor ([`Outbox::read_after`])
//! and advance it with [`Outbox::mark_delivered`] after their output is
//! durable. [`Outbox::prune`] deletes rows that every sink has delivered and
//! that are older than the retention.

use std::path::Path;

use palisade_schema::{DecodeError, DeviceId, Event, EventClass, MAX_EVENT_LEN};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::config::OutboxConfig;
use crate::db::{self, StorageError, sql};
use crate::finding::{Finding, now_unix_ms};
use crate::inventory::{device_id, from_sql_u64, to_sql_u64};

/// Selection of the events of a batch that are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TelemetryPolicy {
    /// Store every event.
    #[default]
    Forward,
    /// Store security and operational events only; telemetry is counted in
    /// [`StoreReceipt::withheld`] and not stored (an isolated device).
    Withhold,
}

/// Result of [`Outbox::store`] for one batch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreReceipt {
    /// The new row, or `None` when nothing was left to store.
    pub row_id: Option<i64>,
    /// Events stored.
    pub stored: usize,
    /// Events skipped because the same event, byte for byte, was already
    /// stored under its (device, boot, sequence): honest resends.
    pub duplicates: usize,
    /// Events skipped because a different event was already stored under
    /// their (device, boot, sequence): a reused sequence number, which the
    /// detection engine reports as a replay or regression.
    pub conflicts: usize,
    /// Telemetry events not stored because of [`TelemetryPolicy::Withhold`].
    pub withheld: usize,
    /// Stored events per class: security, operational, telemetry.
    pub stored_by_class: [usize; 3],
    /// What happened to each event of the batch, in batch order.
    pub dispositions: Vec<Disposition>,
}

/// What [`Outbox::store`] did with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Stored.
    Stored,
    /// Not stored: the same bytes were stored before under the same key.
    Duplicate,
    /// Not stored: different bytes were stored before under the same key.
    Conflict,
    /// Not stored: telemetry of a device whose telemetry is withheld.
    Withheld,
}

/// Index of `class` in [`StoreReceipt::stored_by_class`].
pub const fn class_index(class: EventClass) -> usize {
    match class {
        EventClass::Security => 0,
        EventClass::Operational => 1,
        EventClass::Telemetry => 2,
    }
}

/// Content type of an outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// Events received from a device, or events the gateway reports itself.
    Events,
    /// One finding, as JSON.
    Finding,
}

/// One stored row, as read back for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Row id; rows are delivered in increasing id order.
    pub id: i64,
    /// The device the row is about, when known.
    pub device: Option<DeviceId>,
    /// Events or a finding.
    pub kind: RowKind,
    /// Events in the row (1 for a finding).
    pub event_count: usize,
    /// When the row was committed, in milliseconds since the Unix epoch.
    pub stored_unix_ms: u64,
    payload: Vec<u8>,
}

impl OutboxRow {
    /// Decodes the row's events, in the order they were stored. A finding
    /// row has none.
    pub fn events(&self) -> EventIter<'_> {
        let rest = if self.kind == RowKind::Events {
            self.payload.as_slice()
        } else {
            &[]
        };
        EventIter { rest, offset: 0 }
    }

    /// Decodes the row's finding; `None` for an events row.
    pub fn finding(&self) -> Option<Result<Finding, StorageError>> {
        (self.kind == RowKind::Finding).then(|| {
            serde_json::from_slice(&self.payload).map_err(|error| StorageError::Corrupt {
                table: "outbox",
                detail: format!("row {} holds an unreadable finding: {error}", self.id),
            })
        })
    }

    /// Returns whether the row contains anything of `class`. Findings count as security.
    pub fn has_class(&self, class: EventClass) -> bool {
        match self.kind {
            RowKind::Finding => class == EventClass::Security,
            RowKind::Events => self
                .events()
                .any(|event| event.is_ok_and(|event| event.class() == class)),
        }
    }
}

/// Iterator over the events of an [`OutboxRow`]; each item is one event or
/// the error that stopped decoding (after which it ends).
#[derive(Debug)]
pub struct EventIter<'a> {
    rest: &'a [u8],
    offset: usize,
}

impl<'a> Iterator for EventIter<'a> {
    type Item = Result<Event<'a>, OutboxDecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let result = self.decode_next();
        if result.is_err() {
            self.rest = &[];
        }
        Some(result)
    }
}

impl<'a> EventIter<'a> {
    fn decode_next(&mut self) -> Result<Event<'a>, OutboxDecodeError> {
        let offset = self.offset;
        let (length, rest) = self
            .rest
            .split_first_chunk::<4>()
            .ok_or(OutboxDecodeError::Truncated { offset })?;
        let length = u32::from_le_bytes(*length) as usize;
        if length > MAX_EVENT_LEN || length > rest.len() {
            return Err(OutboxDecodeError::Truncated { offset });
        }
        let (bytes, rest) = rest.split_at(length);
        let event = palisade_schema::from_bytes(bytes)
            .map_err(|source| OutboxDecodeError::Event { offset, source })?;
        self.rest = rest;
        self.offset += 4 + length;
        Ok(event)
    }
}

/// Error decoding a stored events row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxDecodeError {
    /// The length prefix at `offset` is missing or runs past the row.
    #[error("stored event at byte {offset} is truncated; the outbox row is corrupt")]
    Truncated {
        /// Offset of the length prefix in the row's payload.
        offset: usize,
    },
    /// The event bytes at `offset` do not decode.
    #[error("stored event at byte {offset} does not decode: {source}")]
    Event {
        /// Offset of the length prefix in the row's payload.
        offset: usize,
        /// The decoder's error.
        source: DecodeError,
    },
}

/// The durable outbox, backed by the gateway's SQLite database.
#[derive(Debug)]
pub struct Outbox {
    connection: Connection,
    config: OutboxConfig,
}

impl Outbox {
    /// Opens the outbox in the database at `path`, creating and migrating it as needed.
    pub fn open(path: &Path, config: &OutboxConfig) -> Result<Self, StorageError> {
        Ok(Self {
            connection: db::open(path)?,
            config: config.clone(),
        })
    }

    /// Stores a device's batch and commits it; acknowledge the batch to the
    /// device only after this returns `Ok`.
    ///
    /// Events already stored under the same (device, boot, sequence) are
    /// skipped. Fails with [`StorageError::BatchTooLarge`] above
    /// `outbox.max_batch_events`, and stores nothing then.
    pub fn store(
        &mut self,
        device: DeviceId,
        batch: &[Event<'_>],
        policy: TelemetryPolicy,
    ) -> Result<StoreReceipt, StorageError> {
        let transaction = begin(&mut self.connection)?;
        let receipt = insert_batch(
            &transaction,
            &self.config,
            Some(device),
            batch,
            policy,
            true,
        )?;
        transaction.commit().map_err(sql("commit a batch"))?;
        Ok(receipt)
    }

    /// Stores several devices' batches in one transaction (a group commit),
    /// returning one receipt per batch in order. Either every batch is
    /// committed or none is.
    pub fn store_many(
        &mut self,
        batches: &[(DeviceId, &[Event<'_>], TelemetryPolicy)],
    ) -> Result<Vec<StoreReceipt>, StorageError> {
        let transaction = begin(&mut self.connection)?;
        let mut receipts = Vec::with_capacity(batches.len());
        for (device, batch, policy) in batches {
            receipts.push(insert_batch(
                &transaction,
                &self.config,
                Some(*device),
                batch,
                *policy,
                true,
            )?);
        }
        transaction
            .commit()
            .map_err(sql("commit a group of batches"))?;
        Ok(receipts)
    }

    /// Stores events that the gateway reports itself (a rejected admission,
    /// for example); they carry no device sequence, so they are not
    /// de-duplicated.
    pub fn store_gateway_events(
        &mut self,
        device: Option<DeviceId>,
        events: &[Event<'_>],
    ) -> Result<StoreReceipt, StorageError> {
        let transaction = begin(&mut self.connection)?;
        let receipt = insert_batch(
            &transaction,
            &self.config,
            device,
            events,
            TelemetryPolicy::Forward,
            false,
        )?;
        transaction.commit().map_err(sql("commit gateway events"))?;
        Ok(receipt)
    }

    /// Stores a finding and commits it; returns its row id.
    pub fn store_finding(&mut self, finding: &Finding) -> Result<i64, StorageError> {
        let payload = serde_json::to_vec(finding).map_err(|error| StorageError::Encode {
            index: 0,
            detail: error.to_string(),
        })?;
        self.connection
            .prepare_cached(
                "INSERT INTO outbox (device_id, kind, event_count, payload, stored_ms) VALUES (?1, 'finding', 1, ?2, ?3)",
            )
            .and_then(|mut statement| statement.execute(params![finding.device.map(|device| device.0.to_vec()), payload, to_sql_u64(now_unix_ms())]))
            .map_err(sql("store a finding"))?;
        Ok(self.connection.last_insert_rowid())
    }

    /// Up to `limit` rows with an id above `after`, in id order.
    pub fn read_after(&self, after: i64, limit: usize) -> Result<Vec<OutboxRow>, StorageError> {
        let mut statement = self
            .connection
            .prepare_cached(
                "SELECT id, device_id, kind, event_count, payload, stored_ms FROM outbox
                 WHERE id > ?1 ORDER BY id LIMIT ?2",
            )
            .map_err(sql("read outbox rows"))?;
        let rows = statement
            .query_map(params![after, limit as i64], |row| {
                let device: Option<DeviceId> = if row.get_ref(1)?.as_blob_or_null()?.is_some() {
                    Some(device_id(row, 1)?)
                } else {
                    None
                };
                let kind: String = row.get(2)?;
                Ok((
                    row.get::<_, i64>(0)?,
                    device,
                    kind,
                    row.get::<_, i64>(3)?,
                    row.get::<_, Vec<u8>>(4)?,
                    row.get::<_, i64>(5)?,
                ))
            })
            .map_err(sql("read outbox rows"))?;
        let mut result = Vec::new();
        for row in rows {
            let (id, device, kind, event_count, payload, stored_ms) =
                row.map_err(sql("read an outbox row"))?;
            let kind = match kind.as_str() {
                "events" => RowKind::Events,
                "finding" => RowKind::Finding,
                other => {
                    return Err(StorageError::Corrupt {
                        table: "outbox",
                        detail: format!("row {id} has unknown kind {other:?}"),
                    });
                }
            };
            result.push(OutboxRow {
                id,
                device,
                kind,
                event_count: usize::try_from(event_count).unwrap_or(0),
                stored_unix_ms: from_sql_u64(stored_ms),
                payload,
            });
        }
        Ok(result)
    }

    /// The id of the last row `sink` delivered; 0 when it delivered none.
    pub fn cursor(&self, sink: &str) -> Result<i64, StorageError> {
        let cursor: Option<i64> = self
            .connection
            .prepare_cached("SELECT delivered_id FROM sink_cursors WHERE sink = ?1")
            .and_then(|mut statement| statement.query_row([sink], |row| row.get(0)))
            .optional()
            .map_err(sql("read a sink cursor"))?;
        Ok(cursor.unwrap_or(0))
    }

    /// Records that `sink` delivered every row up to and including `row_id`.
    /// A cursor never moves back.
    pub fn mark_delivered(&mut self, sink: &str, row_id: i64) -> Result<(), StorageError> {
        self.connection
            .prepare_cached(
                "INSERT INTO sink_cursors (sink, delivered_id, delivered_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (sink) DO UPDATE SET
                    delivered_id = max(delivered_id, excluded.delivered_id), delivered_ms = excluded.delivered_ms",
            )
            .and_then(|mut statement| statement.execute(params![sink, row_id, to_sql_u64(now_unix_ms())]))
            .map_err(sql("advance a sink cursor"))?;
        Ok(())
    }

    /// Rows that at least one of `sinks` has not delivered yet.
    pub fn depth(&self, sinks: &[&str]) -> Result<u64, StorageError> {
        let floor = self.min_cursor(sinks)?;
        let count: i64 = self
            .connection
            .prepare_cached("SELECT count(*) FROM outbox WHERE id > ?1")
            .and_then(|mut statement| statement.query_row([floor], |row| row.get(0)))
            .map_err(sql("count undelivered rows"))?;
        Ok(from_sql_u64(count))
    }

    /// Deletes rows that every one of `sinks` has delivered and that were
    /// stored more than `outbox.retention_secs` before `now_unix_ms`, with
    /// their de-duplication keys; returns the number of rows deleted. Rows
    /// are found through the `stored_ms` index, so the cost follows the rows
    /// past the retention rather than all rows kept.
    pub fn prune(&mut self, sinks: &[&str], now_unix_ms: u64) -> Result<usize, StorageError> {
        let floor = self.min_cursor(sinks)?;
        let cutoff = now_unix_ms.saturating_sub(self.config.retention_secs.saturating_mul(1000));
        let transaction = begin(&mut self.connection)?;
        transaction
            .execute(
                "DELETE FROM outbox_keys WHERE outbox_id IN (SELECT id FROM outbox
                    INDEXED BY outbox_by_stored_ms WHERE stored_ms < ?2 AND id <= ?1)",
                params![floor, i64::try_from(cutoff).unwrap_or(i64::MAX)],
            )
            .map_err(sql("prune de-duplication keys"))?;
        let deleted = transaction
            .execute(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox
                    INDEXED BY outbox_by_stored_ms WHERE stored_ms < ?2 AND id <= ?1)",
                params![floor, i64::try_from(cutoff).unwrap_or(i64::MAX)],
            )
            .map_err(sql("prune delivered rows"))?;
        transaction.commit().map_err(sql("commit pruning"))?;
        Ok(deleted)
    }

    fn min_cursor(&self, sinks: &[&str]) -> Result<i64, StorageError> {
        let mut floor = i64::MAX;
        for sink in sinks {
            floor = floor.min(self.cursor(sink)?);
        }
        Ok(if sinks.is_empty() { 0 } else { floor })
    }
}

fn begin(connection: &mut Connection) -> Result<Transaction<'_>, StorageError> {
    connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql("begin an outbox transaction"))
}

fn insert_batch(
    transaction: &Transaction<'_>,
    config: &OutboxConfig,
    device: Option<DeviceId>,
    batch: &[Event<'_>],
    policy: TelemetryPolicy,
    deduplicate: bool,
) -> Result<StoreReceipt, StorageError> {
    if batch.len() > config.max_batch_events {
        return Err(StorageError::BatchTooLarge {
            len: batch.len(),
            max: config.max_batch_events,
        });
    }
    let mut receipt = StoreReceipt {
        dispositions: Vec::with_capacity(batch.len()),
        ..StoreReceipt::default()
    };
    let mut payload = Vec::new();
    let mut keys: Vec<((u32, u64), i64)> = Vec::new();
    let mut buffer = [0u8; MAX_EVENT_LEN];
    {
        let mut stored_digest = transaction
            .prepare_cached("SELECT digest FROM outbox_keys WHERE device_id = ?1 AND boot = ?2 AND sequence = ?3")
            .map_err(sql("look up a de-duplication key"))?;
        for (index, event) in batch.iter().enumerate() {
            if policy == TelemetryPolicy::Withhold && event.class() == EventClass::Telemetry {
                receipt.withheld += 1;
                receipt.dispositions.push(Disposition::Withheld);
                continue;
            }
            let bytes = palisade_schema::to_slice(event, &mut buffer).map_err(|error| {
                StorageError::Encode {
                    index,
                    detail: error.to_string(),
                }
            })?;
            if let (true, Some(device)) = (deduplicate, device) {
                let key = (event.header.boot, event.header.sequence);
                let digest = digest(bytes);
                let earlier = match keys.iter().find(|(seen, _)| *seen == key) {
                    Some((_, earlier)) => Some(*earlier),
                    None => stored_digest
                        .query_row(
                            params![device.0.as_slice(), key.0, to_sql_u64(key.1)],
                            |row| row.get(0),
                        )
                        .optional()
                        .map_err(sql("look up a de-duplication key"))?,
                };
                match earlier {
                    Some(earlier) if earlier == digest => {
                        receipt.duplicates += 1;
                        receipt.dispositions.push(Disposition::Duplicate);
                        continue;
                    }
                    Some(_) => {
                        receipt.conflicts += 1;
                        receipt.dispositions.push(Disposition::Conflict);
                        continue;
                    }
                    None => keys.push((key, digest)),
                }
            }
            // MAX_EVENT_LEN is far below u32::MAX, so the length always fits.
            payload.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            payload.extend_from_slice(bytes);
            receipt.stored += 1;
            receipt.stored_by_class[class_index(event.class())] += 1;
            receipt.dispositions.push(Disposition::Stored);
        }
    }
    if receipt.stored == 0 {
        return Ok(receipt);
    }

    transaction
        .prepare_cached(
            "INSERT INTO outbox (device_id, kind, event_count, payload, stored_ms) VALUES (?1, 'events', ?2, ?3, ?4)",
        )
        .and_then(|mut statement| statement.execute(params![device.map(|device| device.0.to_vec()), receipt.stored as i64, payload, to_sql_u64(now_unix_ms())]))
        .map_err(sql("store a batch"))?;
    let row_id = transaction.last_insert_rowid();
    receipt.row_id = Some(row_id);
    if let Some(device) = device {
        let mut insert = transaction
            .prepare_cached(
                "INSERT INTO outbox_keys (device_id, boot, sequence, digest, outbox_id) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(sql("store a de-duplication key"))?;
        for ((boot, sequence), digest) in keys {
            insert
                .execute(params![
                    device.0.as_slice(),
                    boot,
                    to_sql_u64(sequence),
                    digest,
                    row_id
                ])
                .map_err(sql("store a de-duplication key"))?;
        }
    }
    Ok(receipt)
}

/// FNV-1a, 64 bits, of an encoded event. It tells an honest resend (the same
/// bytes) from a different event under a reused (boot, sequence); it is no
/// defence against a forger, which the link's authentication is.
fn digest(bytes: &[u8]) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    to_sql_u64(hash)
}
