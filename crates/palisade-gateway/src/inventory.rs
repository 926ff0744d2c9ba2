//! The asset inventory: every device the gateway has seen, its state, its
//! latest system information, its SBOM and its baseline results.
//!
//! ```
//! use palisade_gateway::inventory::{Admission, AdmissionOutcome, DeviceState, Inventory};
//! use palisade_schema::DeviceId;
//!
//! let dir = tempfile::tempdir()?;
//! let inventory = Inventory::open(&dir.path().join("gateway.sqlite"))?;
//! let device = DeviceId([7; 16]);
//! let outcome = inventory.record_admission(&Admission {
//!     device,
//!     model: "IP-200".into(),
//!     vendor: "Acme Medical".into(),
//!     hardware: "rev C".into(),
//!     firmware: "2.4.1".into(),
//!     credential_serial: Some(4711),
//!     address: Some("127.0.0.1:40000".parse()?),
//!     time_unix_ms: 1_796_000_000_000,
//! })?;
//! assert_eq!(outcome, AdmissionOutcome::Admitted(DeviceState::Admitted));
//! assert_eq!(inventory.device(device)?.unwrap().model, "IP-200");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::net::SocketAddr;
use std::path::Path;

use palisade_schema::{
    BaselineCheck, CheckResult, DeviceId, Event, EventBody, Severity, SoftwareComponent, SystemInfo,
};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::config::severity_name;
use crate::db::{self, StorageError, sql};

/// Admission state of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    /// Admitted; its events are forwarded.
    Admitted,
    /// Isolated by the response policy; its telemetry is no longer
    /// forwarded, its security events still are.
    Isolated,
    /// Revoked; further admissions are rejected.
    Revoked,
}

impl DeviceState {
    /// Lowercase name, as stored.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Admitted => "admitted",
            Self::Isolated => "isolated",
            Self::Revoked => "revoked",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        match name {
            "admitted" => Some(Self::Admitted),
            "isolated" => Some(Self::Isolated),
            "revoked" => Some(Self::Revoked),
            _ => None,
        }
    }
}

/// Identity and address of a device that passed the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// The device id from its credential.
    pub device: DeviceId,
    /// Model, from the credential's subject.
    pub model: String,
    /// Maker, from the credential's subject.
    pub vendor: String,
    /// Hardware revision, from the credential's subject.
    pub hardware: String,
    /// Firmware version announced in the handshake, or "unknown". The
    /// firmware version in the device's system information replaces it,
    /// and a later admission with "unknown" keeps the known version.
    pub firmware: String,
    /// The device credential's serial number.
    pub credential_serial: Option<u64>,
    /// The link's peer address.
    pub address: Option<SocketAddr>,
    /// Gateway time of the admission, in milliseconds since the Unix epoch.
    pub time_unix_ms: u64,
}

/// The inventory's verdict on an admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmissionOutcome {
    /// The device may connect; carries its state (an isolated device stays
    /// isolated across reconnections).
    Admitted(DeviceState),
    /// The device is revoked, or its credential serial is on the list of
    /// revoked serials; the connection must be closed.
    Revoked,
}

/// One device as the inventory stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// Device id.
    #[serde(with = "crate::hex_id")]
    pub device: DeviceId,
    /// Model.
    pub model: String,
    /// Maker.
    pub vendor: String,
    /// Hardware revision.
    pub hardware: String,
    /// Firmware version.
    pub firmware: String,
    /// Credential serial number.
    pub credential_serial: Option<u64>,
    /// First admission, in milliseconds since the Unix epoch.
    pub first_seen_unix_ms: u64,
    /// Latest admission or event, in milliseconds since the Unix epoch.
    pub last_seen_unix_ms: u64,
    /// Latest peer address.
    pub address: Option<String>,
    /// Admitted, isolated or revoked.
    pub state: DeviceState,
}

/// The latest system information a device reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemInfoRecord {
    /// Maker as the device reports it.
    pub vendor: String,
    /// Model as the device reports it.
    pub model: String,
    /// Host name.
    pub hostname: String,
    /// Operating system name.
    pub os_name: String,
    /// Operating system version.
    pub os_version: String,
    /// CPU architecture.
    pub architecture: String,
    /// Firmware version as the device reports it.
    pub firmware_version: String,
    /// Network interfaces, as JSON (name, MAC, addresses).
    pub interfaces: serde_json::Value,
    /// When it was reported, in milliseconds since the Unix epoch.
    pub updated_unix_ms: u64,
}

/// One SBOM component of a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentRecord {
    /// Package or component name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Supplier.
    pub supplier: Option<String>,
    /// Package URL.
    pub purl: Option<String>,
    /// CPE 2.3 name.
    pub cpe: Option<String>,
    /// SHA-256 of the component, as 64 hex digits.
    pub sha256: Option<String>,
    /// When it was reported, in milliseconds since the Unix epoch.
    pub updated_unix_ms: u64,
}

/// One baseline check result of a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineRecord {
    /// Check id.
    pub check_id: String,
    /// `pass`, `fail` or `error`.
    pub result: String,
    /// Severity of a failure.
    #[serde(with = "severity_name")]
    pub severity: Severity,
    /// What the check verifies.
    pub description: String,
    /// How to fix a failure.
    pub remediation: String,
    /// When it was reported, in milliseconds since the Unix epoch.
    pub updated_unix_ms: u64,
}

/// A revoked credential serial waiting for the operator's next revocation list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedSerial {
    /// The credential serial.
    pub serial: u64,
    /// The device it belonged to.
    #[serde(with = "crate::hex_id")]
    pub device: DeviceId,
    /// Why it was revoked.
    pub reason: String,
    /// When, in milliseconds since the Unix epoch.
    pub recorded_unix_ms: u64,
}

/// The asset inventory, backed by the gateway's SQLite database.
///
/// One `Inventory` owns one connection; share it between tasks behind a
/// mutex, or open one per task (WAL mode lets them read concurrently).
#[derive(Debug)]
pub struct Inventory {
    connection: Connection,
}

impl Inventory {
    /// Opens the inventory in the database at `path`, creating and migrating
    /// it as needed.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        Ok(Self {
            connection: db::open(path)?,
        })
    }

    /// Records a device that passed the handshake, or rejects it when it or
    /// its credential serial was revoked.
    ///
    /// A new device is stored as admitted; a known one keeps its first-seen
    /// time and state, and gets the new address, firmware and serial.
    pub fn record_admission(
        &self,
        admission: &Admission,
    ) -> Result<AdmissionOutcome, StorageError> {
        if let Some(serial) = admission.credential_serial
            && self.is_serial_revoked(serial)?
        {
            return Ok(AdmissionOutcome::Revoked);
        }
        if self.state(admission.device)? == Some(DeviceState::Revoked) {
            return Ok(AdmissionOutcome::Revoked);
        }
        let time = to_sql_u64(admission.time_unix_ms);
        self.connection
            .prepare_cached(
                "INSERT INTO devices (device_id, model, vendor, hardware, firmware, credential_serial,
                                      first_seen_ms, last_seen_ms, address, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, 'admitted')
                 ON CONFLICT (device_id) DO UPDATE SET
                    model = excluded.model, vendor = excluded.vendor, hardware = excluded.hardware,
                    firmware = CASE excluded.firmware WHEN 'unknown' THEN firmware ELSE excluded.firmware END,
                    credential_serial = excluded.credential_serial,
                    last_seen_ms = excluded.last_seen_ms, address = excluded.address",
            )
            .and_then(|mut statement| statement.execute(params![
                    admission.device.0.as_slice(),
                    admission.model,
                    admission.vendor,
                    admission.hardware,
                    admission.firmware,
                    admission.credential_serial.map(to_sql_u64),
                    time,
                    admission.address.map(|address| address.to_string()),
                ]))
            .map_err(sql("record an admission"))?;
        let state = self
            .state(admission.device)?
            .unwrap_or(DeviceState::Admitted);
        Ok(AdmissionOutcome::Admitted(state))
    }

    /// Updates the last-seen times of several devices in one transaction
    /// (one fsync); unknown devices are skipped.
    pub fn touch_many(&self, touches: &[(DeviceId, u64)]) -> Result<(), StorageError> {
        if touches.is_empty() {
            return Ok(());
        }
        let transaction = self
            .connection
            .unchecked_transaction()
            .map_err(sql("begin updating last-seen times"))?;
        for (device, time_unix_ms) in touches {
            transaction
                .prepare_cached(
                    "UPDATE devices SET last_seen_ms = max(last_seen_ms, ?2) WHERE device_id = ?1",
                )
                .and_then(|mut statement| {
                    statement.execute(params![device.0.as_slice(), to_sql_u64(*time_unix_ms)])
                })
                .map_err(sql("update a device's last-seen time"))?;
        }
        transaction.commit().map_err(sql("commit last-seen times"))
    }

    /// Updates a known device's last-seen time; does nothing for an unknown one.
    pub fn touch(&self, device: DeviceId, time_unix_ms: u64) -> Result<(), StorageError> {
        self.connection
            .prepare_cached(
                "UPDATE devices SET last_seen_ms = max(last_seen_ms, ?2) WHERE device_id = ?1",
            )
            .and_then(|mut statement| {
                statement.execute(params![device.0.as_slice(), to_sql_u64(time_unix_ms)])
            })
            .map_err(sql("update a device's last-seen time"))?;
        Ok(())
    }

    /// The state of `device`, or `None` when it was never admitted.
    pub fn state(&self, device: DeviceId) -> Result<Option<DeviceState>, StorageError> {
        let name: Option<String> = self
            .connection
            .prepare_cached("SELECT state FROM devices WHERE device_id = ?1")
            .and_then(|mut statement| statement.query_row([device.0.as_slice()], |row| row.get(0)))
            .optional()
            .map_err(sql("read a device's state"))?;
        name.map(|name| {
            DeviceState::parse(&name).ok_or_else(|| StorageError::Corrupt {
                table: "devices",
                detail: format!("unknown state {name:?}"),
            })
        })
        .transpose()
    }

    /// Sets the state of a known device; returns whether the device exists.
    pub fn set_state(&self, device: DeviceId, state: DeviceState) -> Result<bool, StorageError> {
        let changed = self
            .connection
            .execute(
                "UPDATE devices SET state = ?2 WHERE device_id = ?1",
                params![device.0.as_slice(), state.name()],
            )
            .map_err(sql("change a device's state"))?;
        Ok(changed > 0)
    }

    /// Marks `device` revoked and records its credential serial for the
    /// next revocation list; returns the serial, when the device has one.
    pub fn revoke(
        &self,
        device: DeviceId,
        reason: &str,
        time_unix_ms: u64,
    ) -> Result<Option<u64>, StorageError> {
        let serial: Option<Option<i64>> = self
            .connection
            .query_row(
                "SELECT credential_serial FROM devices WHERE device_id = ?1",
                [device.0.as_slice()],
                |row| row.get(0),
            )
            .optional()
            .map_err(sql("read a device's credential serial"))?;
        let Some(serial) = serial else {
            return Ok(None);
        };
        self.set_state(device, DeviceState::Revoked)?;
        if let Some(serial) = serial {
            self.connection
                .execute(
                    "INSERT INTO revoked_serials (serial, device_id, reason, recorded_ms) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (serial) DO NOTHING",
                    params![serial, device.0.as_slice(), reason, to_sql_u64(time_unix_ms)],
                )
                .map_err(sql("record a revoked serial"))?;
        }
        Ok(serial.map(from_sql_u64))
    }

    /// Whether credential serial `serial` was revoked by this gateway.
    pub fn is_serial_revoked(&self, serial: u64) -> Result<bool, StorageError> {
        self.connection
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM revoked_serials WHERE serial = ?1)")
            .and_then(|mut statement| statement.query_row([to_sql_u64(serial)], |row| row.get(0)))
            .map_err(sql("look up a revoked serial"))
    }

    /// Revoked serials not yet marked as published in a revocation list.
    pub fn pending_revocations(&self) -> Result<Vec<RevokedSerial>, StorageError> {
        let mut statement = self
            .connection
            .prepare("SELECT serial, device_id, reason, recorded_ms FROM revoked_serials WHERE published = 0 ORDER BY serial")
            .map_err(sql("list revoked serials"))?;
        let rows = statement
            .query_map([], |row| {
                Ok(RevokedSerial {
                    serial: from_sql_u64(row.get(0)?),
                    device: device_id(row, 1)?,
                    reason: row.get(2)?,
                    recorded_unix_ms: from_sql_u64(row.get(3)?),
                })
            })
            .map_err(sql("list revoked serials"))?;
        rows.collect::<Result<_, _>>()
            .map_err(sql("read a revoked serial"))
    }

    /// Marks revoked serials as published in the operator's revocation list.
    pub fn mark_revocations_published(&self, serials: &[u64]) -> Result<(), StorageError> {
        for serial in serials {
            self.connection
                .execute(
                    "UPDATE revoked_serials SET published = 1 WHERE serial = ?1",
                    [to_sql_u64(*serial)],
                )
                .map_err(sql("mark a revoked serial published"))?;
        }
        Ok(())
    }

    /// Stores the inventory data in an event (system
    /// information, SBOM component or baseline result) and updates its
    /// last-seen time; other kinds only update the time.
    pub fn record_event(
        &self,
        device: DeviceId,
        event: &Event<'_>,
        time_unix_ms: u64,
    ) -> Result<(), StorageError> {
        match &event.body {
            EventBody::SystemInfo(info) => self.record_system_info(device, info, time_unix_ms)?,
            EventBody::SoftwareComponent(component) => {
                self.record_component(device, component, time_unix_ms)?
            }
            EventBody::BaselineCheck(check) => self.record_baseline(device, check, time_unix_ms)?,
            _ => {}
        }
        self.touch(device, time_unix_ms)
    }

    /// Replaces the device's latest system information.
    pub fn record_system_info(
        &self,
        device: DeviceId,
        info: &SystemInfo<'_>,
        time_unix_ms: u64,
    ) -> Result<(), StorageError> {
        let interfaces: Vec<serde_json::Value> = info
            .interfaces
            .iter()
            .map(|interface| {
                serde_json::json!({
                    "name": interface.name.as_str(),
                    "mac": interface.mac.map(|mac| mac.iter().map(|byte| format!("{byte:02x}")).collect::<Vec<_>>().join(":")),
                    "addresses": interface.addresses.iter().map(|address| address.to_string()).collect::<Vec<_>>(),
                })
            })
            .collect();
        self.connection
            .execute(
                "INSERT OR REPLACE INTO system_info (device_id, vendor, model, hostname, os_name, os_version,
                                                     architecture, firmware_version, interfaces_json, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    device.0.as_slice(),
                    info.vendor.as_str(),
                    info.model.as_str(),
                    info.hostname.as_str(),
                    info.os_name.as_str(),
                    info.os_version.as_str(),
                    info.architecture.as_str(),
                    info.firmware_version.as_str(),
                    serde_json::Value::Array(interfaces).to_string(),
                    to_sql_u64(time_unix_ms),
                ],
            )
            .map_err(sql("store system information"))?;
        if !info.firmware_version.as_str().is_empty() {
            self.connection
                .prepare_cached("UPDATE devices SET firmware = ?2 WHERE device_id = ?1")
                .and_then(|mut statement| {
                    statement.execute(params![device.0.as_slice(), info.firmware_version.as_str()])
                })
                .map_err(sql("store a device's firmware version"))?;
        }
        Ok(())
    }

    /// Stores one SBOM component, replacing an earlier version of the same name.
    pub fn record_component(
        &self,
        device: DeviceId,
        component: &SoftwareComponent<'_>,
        time_unix_ms: u64,
    ) -> Result<(), StorageError> {
        self.connection
            .execute(
                "INSERT OR REPLACE INTO sbom_components (device_id, name, version, supplier, purl, cpe, sha256, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    device.0.as_slice(),
                    component.name.as_str(),
                    component.version.as_str(),
                    component.supplier.map(|value| value.as_str()),
                    component.purl.map(|value| value.as_str()),
                    component.cpe.map(|value| value.as_str()),
                    component.sha256.as_ref().map(|hash| hash.as_slice()),
                    to_sql_u64(time_unix_ms),
                ],
            )
            .map_err(sql("store an SBOM component"))?;
        Ok(())
    }

    /// Stores one baseline check result, replacing the earlier result of that check.
    pub fn record_baseline(
        &self,
        device: DeviceId,
        check: &BaselineCheck<'_>,
        time_unix_ms: u64,
    ) -> Result<(), StorageError> {
        let result = match check.result {
            CheckResult::Pass => "pass",
            CheckResult::Fail => "fail",
            CheckResult::Error => "error",
        };
        self.connection
            .execute(
                "INSERT OR REPLACE INTO baseline_results (device_id, check_id, result, severity, description, remediation, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    device.0.as_slice(),
                    check.check_id.as_str(),
                    result,
                    check.severity.name(),
                    check.description.as_str(),
                    check.remediation.as_str(),
                    to_sql_u64(time_unix_ms),
                ],
            )
            .map_err(sql("store a baseline result"))?;
        Ok(())
    }

    /// One device, or `None` when it was never admitted.
    pub fn device(&self, device: DeviceId) -> Result<Option<DeviceRecord>, StorageError> {
        self.connection
            .prepare_cached(&format!("{DEVICE_COLUMNS} WHERE device_id = ?1"))
            .and_then(|mut statement| statement.query_row([device.0.as_slice()], device_record))
            .optional()
            .map_err(sql("read a device"))?
            .transpose()
    }

    /// Every device, ordered by device id.
    pub fn devices(&self) -> Result<Vec<DeviceRecord>, StorageError> {
        let mut statement = self
            .connection
            .prepare(&format!("{DEVICE_COLUMNS} ORDER BY device_id"))
            .map_err(sql("list devices"))?;
        let rows = statement
            .query_map([], device_record)
            .map_err(sql("list devices"))?;
        let mut devices = Vec::new();
        for row in rows {
            devices.push(row.map_err(sql("read a device"))??);
        }
        Ok(devices)
    }

    /// The device's latest system information.
    pub fn system_info(&self, device: DeviceId) -> Result<Option<SystemInfoRecord>, StorageError> {
        let record = self
            .connection
            .prepare_cached(
                "SELECT vendor, model, hostname, os_name, os_version, architecture, firmware_version,
                        interfaces_json, updated_ms
                 FROM system_info WHERE device_id = ?1",
            )
            .and_then(|mut statement| statement.query_row([device.0.as_slice()],
                |row| {
                    let interfaces: String = row.get(7)?;
                    Ok((
                        SystemInfoRecord {
                            vendor: row.get(0)?,
                            model: row.get(1)?,
                            hostname: row.get(2)?,
                            os_name: row.get(3)?,
                            os_version: row.get(4)?,
                            architecture: row.get(5)?,
                            firmware_version: row.get(6)?,
                            interfaces: serde_json::Value::Null,
                            updated_unix_ms: from_sql_u64(row.get(8)?),
                        },
                        interfaces,
                    ))
                }))
            .optional()
            .map_err(sql("read system information"))?;
        record
            .map(|(mut record, interfaces)| {
                record.interfaces =
                    serde_json::from_str(&interfaces).map_err(|error| StorageError::Corrupt {
                        table: "system_info",
                        detail: format!("interfaces_json is not JSON: {error}"),
                    })?;
                Ok(record)
            })
            .transpose()
    }

    /// The device's SBOM components, ordered by name.
    pub fn components(&self, device: DeviceId) -> Result<Vec<ComponentRecord>, StorageError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT name, version, supplier, purl, cpe, sha256, updated_ms FROM sbom_components
                 WHERE device_id = ?1 ORDER BY name",
            )
            .map_err(sql("list SBOM components"))?;
        let rows = statement
            .query_map([device.0.as_slice()], |row| {
                let sha256: Option<Vec<u8>> = row.get(5)?;
                Ok(ComponentRecord {
                    name: row.get(0)?,
                    version: row.get(1)?,
                    supplier: row.get(2)?,
                    purl: row.get(3)?,
                    cpe: row.get(4)?,
                    sha256: sha256
                        .map(|hash| hash.iter().map(|byte| format!("{byte:02x}")).collect()),
                    updated_unix_ms: from_sql_u64(row.get(6)?),
                })
            })
            .map_err(sql("list SBOM components"))?;
        rows.collect::<Result<_, _>>()
            .map_err(sql("read an SBOM component"))
    }

    /// The device's baseline results, ordered by check id.
    pub fn baseline(&self, device: DeviceId) -> Result<Vec<BaselineRecord>, StorageError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT check_id, result, severity, description, remediation, updated_ms FROM baseline_results
                 WHERE device_id = ?1 ORDER BY check_id",
            )
            .map_err(sql("list baseline results"))?;
        let rows = statement
            .query_map([device.0.as_slice()], |row| {
                let severity: String = row.get(2)?;
                Ok((
                    BaselineRecord {
                        check_id: row.get(0)?,
                        result: row.get(1)?,
                        severity: Severity::Info,
                        description: row.get(3)?,
                        remediation: row.get(4)?,
                        updated_unix_ms: from_sql_u64(row.get(5)?),
                    },
                    severity,
                ))
            })
            .map_err(sql("list baseline results"))?;
        let mut results = Vec::new();
        for row in rows {
            let (mut record, severity) = row.map_err(sql("read a baseline result"))?;
            record.severity =
                severity_name::parse(&severity).ok_or_else(|| StorageError::Corrupt {
                    table: "baseline_results",
                    detail: format!("unknown severity {severity:?}"),
                })?;
            results.push(record);
        }
        Ok(results)
    }
}

const DEVICE_COLUMNS: &str = "SELECT device_id, model, vendor, hardware, firmware, credential_serial, first_seen_ms, \
                              last_seen_ms, address, state FROM devices";

fn device_record(row: &Row<'_>) -> rusqlite::Result<Result<DeviceRecord, StorageError>> {
    let state: String = row.get(9)?;
    let Some(state) = DeviceState::parse(&state) else {
        return Ok(Err(StorageError::Corrupt {
            table: "devices",
            detail: format!("unknown state {state:?}"),
        }));
    };
    Ok(Ok(DeviceRecord {
        device: device_id(row, 0)?,
        model: row.get(1)?,
        vendor: row.get(2)?,
        hardware: row.get(3)?,
        firmware: row.get(4)?,
        credential_serial: row.get::<_, Option<i64>>(5)?.map(from_sql_u64),
        first_seen_unix_ms: from_sql_u64(row.get(6)?),
        last_seen_unix_ms: from_sql_u64(row.get(7)?),
        address: row.get(8)?,
        state,
    }))
}

/// Reads a 16-byte device id from column `index`.
pub(crate) fn device_id(row: &Row<'_>, index: usize) -> rusqlite::Result<DeviceId> {
    let bytes: Vec<u8> = row.get(index)?;
    let array: [u8; 16] = bytes.as_slice().try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Blob,
            format!("device id of {} bytes, expected 16", bytes.len()).into(),
        )
    })?;
    Ok(DeviceId(array))
}

/// SQLite integers are signed 64-bit; unsigned values are stored with the
/// same bits, so values above `i64::MAX` read back unchanged.
pub(crate) fn to_sql_u64(value: u64) -> i64 {
    value as i64
}

/// The inverse of [`to_sql_u64`].
pub(crate) fn from_sql_u64(value: i64) -> u64 {
    value as u64
}
