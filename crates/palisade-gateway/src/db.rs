//! The gateway's SQLite database: opening it in WAL mode and migrating its
//! schema.
//!
//! One database file holds the inventory, the outbox and the audit tables.
//! Each component opens its own connection to it; SQLite's WAL mode lets
//! readers run while one writer commits, and a busy timeout makes a writer
//! wait for another instead of failing.
//!
//! The schema version is kept twice: in SQLite's `PRAGMA user_version`,
//! which tools read without knowing the schema, and in the `schema_version`
//! table, which records when each migration ran. Migrations only ever append
//! to [`MIGRATIONS`]; a released migration never changes.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::finding::now_unix_ms;

/// Error from the database layer (inventory, outbox, audit).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// SQLite reported an error.
    #[error("SQLite failed while trying to {action}: {source}")]
    Sqlite {
        /// What the gateway was doing, such as `store a batch`.
        action: &'static str,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The database was written by a newer gateway.
    #[error(
        "database schema version {found} is newer than the supported version {supported}; run a gateway release that supports version {found}"
    )]
    NewerSchema {
        /// Version found in the file.
        found: u32,
        /// Highest version this build knows.
        supported: u32,
    },
    /// A stored value could not be read back.
    #[error(
        "corrupt row in table {table}: {detail}; restore the database from a backup or delete the row"
    )]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What is wrong with the row.
        detail: String,
    },
    /// A batch exceeded the configured maximum number of events.
    #[error(
        "batch of {len} events exceeds outbox.max_batch_events = {max}; split the batch or raise the limit"
    )]
    BatchTooLarge {
        /// Events in the batch.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// An event could not be encoded for storage.
    #[error("event {index} of the batch could not be encoded: {detail}")]
    Encode {
        /// Position of the event in the batch.
        index: usize,
        /// The encoder's message.
        detail: String,
    },
}

/// Attaches `action` to a SQLite error.
pub(crate) fn sql(action: &'static str) -> impl FnOnce(rusqlite::Error) -> StorageError {
    move |source| StorageError::Sqlite { action, source }
}

/// The schema migrations, in order; migration `i` brings the schema from
/// version `i` to version `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: asset inventory.
    "CREATE TABLE devices (
        device_id BLOB PRIMARY KEY CHECK (length(device_id) = 16),
        model TEXT NOT NULL,
        vendor TEXT NOT NULL,
        hardware TEXT NOT NULL,
        firmware TEXT NOT NULL,
        credential_serial INTEGER,
        first_seen_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL,
        address TEXT,
        state TEXT NOT NULL CHECK (state IN ('admitted', 'isolated', 'revoked'))
    ) STRICT;
    CREATE TABLE system_info (
        device_id BLOB PRIMARY KEY,
        vendor TEXT NOT NULL,
        model TEXT NOT NULL,
        hostname TEXT NOT NULL,
        os_name TEXT NOT NULL,
        os_version TEXT NOT NULL,
        architecture TEXT NOT NULL,
        firmware_version TEXT NOT NULL,
        interfaces_json TEXT NOT NULL,
        updated_ms INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE sbom_components (
        device_id BLOB NOT NULL,
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        supplier TEXT,
        purl TEXT,
        cpe TEXT,
        sha256 BLOB,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (device_id, name)
    ) STRICT;
    CREATE TABLE baseline_results (
        device_id BLOB NOT NULL,
        check_id TEXT NOT NULL,
        result TEXT NOT NULL CHECK (result IN ('pass', 'fail', 'error')),
        severity TEXT NOT NULL,
        description TEXT NOT NULL,
        remediation TEXT NOT NULL,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (device_id, check_id)
    ) STRICT;",
    // 2: durable outbox.
    "CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        device_id BLOB,
        kind TEXT NOT NULL CHECK (kind IN ('events', 'finding')),
        event_count INTEGER NOT NULL,
        payload BLOB NOT NULL,
        stored_ms INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE outbox_keys (
        device_id BLOB NOT NULL,
        boot INTEGER NOT NULL,
        sequence INTEGER NOT NULL,
        digest INTEGER NOT NULL,
        outbox_id INTEGER NOT NULL,
        PRIMARY KEY (device_id, boot, sequence)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX outbox_keys_by_row ON outbox_keys (outbox_id);
    CREATE TABLE sink_cursors (
        sink TEXT PRIMARY KEY,
        delivered_id INTEGER NOT NULL,
        delivered_ms INTEGER NOT NULL
    ) STRICT;",
    // 3: response audit and revoked serials.
    "CREATE TABLE command_audit (
        command_id INTEGER PRIMARY KEY,
        device_id BLOB NOT NULL,
        action TEXT NOT NULL,
        rule TEXT,
        issued_ms INTEGER NOT NULL,
        outcome TEXT,
        reason TEXT,
        acknowledged_ms INTEGER
    ) STRICT;
    CREATE TABLE revoked_serials (
        serial INTEGER PRIMARY KEY,
        device_id BLOB NOT NULL,
        reason TEXT NOT NULL,
        recorded_ms INTEGER NOT NULL,
        published INTEGER NOT NULL DEFAULT 0
    ) STRICT;",
    // 4: pruning looks rows up by age, so that its cost follows the rows
    // it deletes, not every row kept for the retention.
    "CREATE INDEX outbox_by_stored_ms ON outbox (stored_ms);",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Opens (creating if needed) the database at `path`, sets WAL mode and
/// migrates the schema to [`SCHEMA_VERSION`].
pub fn open(path: &Path) -> Result<Connection, StorageError> {
    open_at_version(path, SCHEMA_VERSION)
}

/// Opens the database and migrates it to `version` only; used to test
/// upgrades from older releases.
#[doc(hidden)]
pub fn open_at_version(path: &Path, version: u32) -> Result<Connection, StorageError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut connection =
        Connection::open_with_flags(path, flags).map_err(sql("open the database"))?;
    connection
        .busy_timeout(Duration::from_secs(10))
        .map_err(sql("set the busy timeout"))?;
    // The statements run per batch and per delivery round are prepared once
    // and kept. rusqlite's default cache keeps 16.
    connection.set_prepared_statement_cache_capacity(64);
    let mode: String = connection
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(sql("switch to WAL mode"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), mode, "database did not switch to WAL mode");
    }
    // FULL makes every commit durable across a power loss, which the outbox
    // promises before a device's events are acknowledged.
    connection
        .pragma_update(None, "synchronous", "FULL")
        .map_err(sql("set synchronous mode"))?;
    connection
        .pragma_update(None, "foreign_keys", "ON")
        .map_err(sql("enable foreign keys"))?;
    migrate(&mut connection, version)?;
    Ok(connection)
}

/// Reads the schema version from `PRAGMA user_version`.
pub fn schema_version(connection: &Connection) -> Result<u32, StorageError> {
    connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(sql("read the schema version"))
}

fn migrate(connection: &mut Connection, target: u32) -> Result<(), StorageError> {
    // IMMEDIATE takes the write lock first, so two components opening the
    // same new file cannot both run a migration.
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql("begin the schema migration"))?;
    let current: u32 = transaction
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(sql("read the schema version"))?;
    if current > SCHEMA_VERSION {
        return Err(StorageError::NewerSchema {
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    if current >= target {
        return Ok(());
    }
    transaction
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_version (
                version INTEGER PRIMARY KEY,
                applied_ms INTEGER NOT NULL
            ) STRICT;",
        )
        .map_err(sql("create the schema_version table"))?;
    for version in current..target {
        let migration = MIGRATIONS[version as usize];
        transaction
            .execute_batch(migration)
            .map_err(sql("apply a schema migration"))?;
        transaction
            .execute(
                "INSERT INTO schema_version (version, applied_ms) VALUES (?1, ?2)",
                rusqlite::params![version + 1, now_unix_ms() as i64],
            )
            .map_err(sql("record a schema migration"))?;
        tracing::info!(version = version + 1, "applied database schema migration");
    }
    transaction
        .pragma_update(None, "user_version", target)
        .map_err(sql("write the schema version"))?;
    transaction
        .commit()
        .map_err(sql("commit the schema migration"))?;
    Ok(())
}
