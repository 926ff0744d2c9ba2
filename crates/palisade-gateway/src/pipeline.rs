//! [`GatewayCore`]: the inventory, outbox, detection engine, response
//! policy and metrics wired together in the order the admission side needs.
//!
//! For each received batch, [`GatewayCore::receive`]:
//!
//! 1. stores the batch in the outbox and commits it (telemetry of an
//!    isolated or revoked device is withheld); once this returns `Ok`, the
//!    admission side may acknowledge the batch to the device;
//! 2. updates the inventory (system information, SBOM, baseline results,
//!    last-seen time);
//! 3. runs the detection engine on every event except identical resends,
//!    stores each finding in the outbox and applies the response policy to it;
//! 4. records command acknowledgements in the audit table;
//! 5. returns the findings and the commands to sign and send.
//!
//! Posture checks run apart from batches: [`GatewayCore::check_sbom_drift`]
//! compares each device's settled component set with the signed reference
//! SBOM for its model and firmware version (see [`crate::posture`]).
//!
//! The core is synchronous (SQLite) and owned by one task; an async caller
//! runs it under `tokio::task::spawn_blocking` or behind a mutex.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use palisade_credential::{RevocationList, TrustStore, VerificationTime};
use palisade_schema::{DeviceId, Event, EventBody, EventClass};

use crate::config::Config;
use crate::db::StorageError;
use crate::delivery::{Delivery, DeliveryError, DeliveryReport};
use crate::detect::Engine;
use crate::finding::{Finding, now_unix_ms};
use crate::inventory::{Admission, AdmissionOutcome, DeviceState, Inventory};
use crate::metrics::{AdmissionRejection, DropReason, Metrics};
use crate::outbox::{Disposition, Outbox, StoreReceipt, class_index};
use crate::posture::{DeviceSnapshot, DriftMonitor, ReferenceLoad, ReferenceSboms};
use crate::response::{CommandRequest, Responder, telemetry_policy};

/// Error from [`GatewayCore`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The database failed; a batch that failed this way was not stored and
    /// must not be acknowledged.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Delivery to the sinks failed.
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    /// The folder of reference SBOMs could not be listed.
    #[error(
        "failed to list the reference SBOM folder {path}: {source}; check posture.reference_sboms"
    )]
    ReferenceFolder {
        /// The folder.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A folder from `[paths]` could not be created.
    #[error("failed to create folder {path}: {source}; check paths.database and paths.output")]
    CreateFolder {
        /// The folder.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Result of [`GatewayCore::receive`] for one batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchOutcome {
    /// The outbox's receipt. The batch is committed and may be acknowledged.
    pub receipt: StoreReceipt,
    /// Findings raised by the batch, already stored in the outbox.
    pub findings: Vec<Finding>,
    /// Commands to sign and send to devices, already in the audit table.
    pub commands: Vec<CommandRequest>,
    /// Whether the device's session must be closed (it was revoked).
    pub disconnect: bool,
}

/// The gateway core: one SQLite database and the in-memory detection state.
#[derive(Debug)]
pub struct GatewayCore {
    config: Config,
    inventory: Inventory,
    outbox: Outbox,
    engine: Engine,
    responder: Responder,
    metrics: Arc<Metrics>,
    references: ReferenceSboms,
    drift: DriftMonitor,
    /// (vendor id, model id) from each admitted device's credential.
    model_ids: HashMap<DeviceId, (u32, u32)>,
    /// Last-seen updates that [`GatewayCore::receive_many`] collects and
    /// writes in one transaction; `None` outside that call.
    deferred_touches: Option<Vec<(DeviceId, u64)>>,
}

impl GatewayCore {
    /// Opens the database named in `config.paths.database` (creating its
    /// folder and `paths.output`) and starts with empty detection state.
    pub fn open(config: Config, metrics: Arc<Metrics>) -> Result<Self, CoreError> {
        let database = config.paths.database.clone();
        for folder in [
            database.parent().map(ToOwned::to_owned),
            Some(config.paths.output.clone()),
        ]
        .into_iter()
        .flatten()
        {
            if !folder.as_os_str().is_empty() {
                std::fs::create_dir_all(&folder).map_err(|source| CoreError::CreateFolder {
                    path: folder.clone(),
                    source,
                })?;
            }
        }
        let inventory = Inventory::open(&database)?;
        let outbox = Outbox::open(&database, &config.outbox)?;
        let responder = Responder::open(&database, &config.response)?;
        let engine = Engine::new(config.detection.clone());
        tracing::info!(database = %database.display(), "gateway core opened");
        Ok(Self {
            config,
            inventory,
            outbox,
            engine,
            responder,
            metrics,
            references: ReferenceSboms::new(),
            drift: DriftMonitor::new(),
            model_ids: HashMap::new(),
            deferred_touches: None,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The inventory.
    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// The outbox.
    pub fn outbox(&mut self) -> &mut Outbox {
        &mut self.outbox
    }

    /// The detection engine.
    pub fn engine(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// The responder and its audit table.
    pub fn responder(&mut self) -> &mut Responder {
        &mut self.responder
    }

    /// The shared counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The verified reference SBOMs.
    pub fn references(&self) -> &ReferenceSboms {
        &self.references
    }

    /// The verified reference SBOMs, to install more with
    /// [`ReferenceSboms::insert`].
    pub fn references_mut(&mut self) -> &mut ReferenceSboms {
        &mut self.references
    }

    /// Verifies and installs every reference SBOM in the folder
    /// `posture.reference_sboms` against the device-maker roots `roots`.
    /// Each rejected file is logged with its name and reason and not used;
    /// without a configured folder nothing is loaded.
    pub fn load_reference_sboms(
        &mut self,
        roots: &TrustStore,
        time: VerificationTime,
        revocations: &[RevocationList],
    ) -> Result<ReferenceLoad, CoreError> {
        let Some(dir) = self.config.posture.reference_sboms.clone() else {
            tracing::info!(
                "no reference SBOM folder configured; the sbom_drift rule has no reference"
            );
            return Ok(ReferenceLoad::default());
        };
        self.references
            .load_dir(&dir, roots, time, revocations)
            .map_err(|source| {
                tracing::error!(dir = %dir.display(), %source, "failed to list the reference SBOM folder");
                CoreError::ReferenceFolder { path: dir, source }
            })
    }

    /// Records the (vendor id, model id) of an admitted device's credential,
    /// which selects its reference SBOM.
    pub fn set_model_ids(&mut self, device: DeviceId, vendor_id: u32, model_id: u32) {
        self.model_ids.insert(device, (vendor_id, model_id));
    }

    /// Compares every device's component set with its reference SBOM and
    /// stores an `sbom_drift` finding for each device whose set changed
    /// since its last check and differs from the reference.
    ///
    /// A device is skipped while it has reported no component, while its
    /// last component report is less than `posture.settle_secs` old, and
    /// when it is revoked. Returns the findings, already in the outbox.
    pub fn check_sbom_drift(&mut self, now_unix_ms: u64) -> Result<Vec<Finding>, CoreError> {
        let settle_ms = self.config.posture.settle_secs.saturating_mul(1000);
        let mut findings = Vec::new();
        for record in self.inventory.devices()? {
            if record.state == DeviceState::Revoked {
                continue;
            }
            let components = self.inventory.components(record.device)?;
            let Some(latest) = components.iter().map(|c| c.updated_unix_ms).max() else {
                continue;
            };
            if now_unix_ms.saturating_sub(latest) < settle_ms {
                continue;
            }
            let snapshot = DeviceSnapshot {
                device: record.device,
                model_ids: self.model_ids.get(&record.device).copied(),
                firmware_version: self
                    .inventory
                    .system_info(record.device)?
                    .map(|info| info.firmware_version),
                components: components.iter().map(Into::into).collect(),
            };
            let Some(finding) = self.drift.check(
                &snapshot,
                &self.references,
                &self.config.detection,
                now_unix_ms,
            ) else {
                continue;
            };
            self.outbox.store_finding(&finding)?;
            self.metrics.finding(finding.rule);
            tracing::warn!(device = %record.device, rule = finding.rule.name(), summary = %finding.summary, "finding");
            findings.push(finding);
        }
        Ok(findings)
    }

    /// Records a device that passed the handshake. A revoked device or
    /// serial is rejected: count it and close the connection.
    pub fn admit(&mut self, admission: &Admission) -> Result<AdmissionOutcome, CoreError> {
        let outcome = self.inventory.record_admission(admission)?;
        match outcome {
            AdmissionOutcome::Admitted(state) => {
                self.metrics.admission();
                self.engine.set_model(admission.device, &admission.model);
                tracing::info!(device = %admission.device, model = %admission.model, state = state.name(), "device admitted");
            }
            AdmissionOutcome::Revoked => {
                self.metrics.rejected_admission(AdmissionRejection::Revoked);
                tracing::warn!(device = %admission.device, serial = ?admission.credential_serial, "admission rejected: device or serial revoked");
            }
        }
        Ok(outcome)
    }

    /// Records a rejected admission that the admission side reports as an
    /// event (`unknown_device`, `credential_rejected` or
    /// `protocol_violation`): stores the event for the security sinks, runs
    /// the admission rules and stores their findings.
    pub fn reject_admission(&mut self, event: &Event<'_>) -> Result<Vec<Finding>, CoreError> {
        let (device, reason) = match &event.body {
            EventBody::UnknownDevice(unknown) => {
                (unknown.claimed_device_id, AdmissionRejection::UnknownDevice)
            }
            EventBody::CredentialRejected(rejected) => {
                (rejected.device_id, AdmissionRejection::InvalidCredential)
            }
            EventBody::ProtocolViolation(violation) => {
                (violation.device_id, AdmissionRejection::ProtocolViolation)
            }
            _ => (None, AdmissionRejection::ProtocolViolation),
        };
        self.metrics.rejected_admission(reason);
        tracing::warn!(kind = event.kind().name(), device = ?device, reason = reason.name(), "admission rejected");
        self.outbox
            .store_gateway_events(device, std::slice::from_ref(event))?;
        self.metrics.events(event.class(), 1);
        let findings = self.engine.observe_admission_failure(event, now_unix_ms());
        for finding in &findings {
            self.outbox.store_finding(finding)?;
            self.metrics.finding(finding.rule);
        }
        Ok(findings)
    }

    /// Stores, inventories and inspects a batch from an admitted device; see
    /// the module docs for the steps. Acknowledge the batch to the device
    /// only when this returns `Ok`.
    pub fn receive(
        &mut self,
        device: DeviceId,
        batch: &[Event<'_>],
    ) -> Result<BatchOutcome, CoreError> {
        let now = now_unix_ms();
        let state = self.inventory.state(device)?;
        let receipt = match self.outbox.store(device, batch, telemetry_policy(state)) {
            Ok(receipt) => receipt,
            Err(error) => {
                let reason = match error {
                    StorageError::BatchTooLarge { .. } => DropReason::BatchTooLarge,
                    _ => DropReason::StorageFailure,
                };
                self.metrics.drops(reason, batch.len() as u64);
                tracing::error!(%device, %error, events = batch.len(), "batch not stored; it is not acknowledged");
                return Err(error.into());
            }
        };
        Ok(self.finish(device, batch, state, receipt, now))
    }

    /// Stores several devices' batches in one transaction (one fsync for
    /// all, which a busy gateway needs), then inspects each like
    /// [`GatewayCore::receive`]. Either every batch is committed, and each
    /// may be acknowledged, or none is.
    pub fn receive_many(
        &mut self,
        batches: &[(DeviceId, &[Event<'_>])],
    ) -> Result<Vec<BatchOutcome>, CoreError> {
        let now = now_unix_ms();
        let mut states = Vec::with_capacity(batches.len());
        for (device, _) in batches {
            states.push(self.inventory.state(*device)?);
        }
        let requests: Vec<_> = batches
            .iter()
            .zip(&states)
            .map(|((device, batch), state)| (*device, *batch, telemetry_policy(*state)))
            .collect();
        let receipts = match self.outbox.store_many(&requests) {
            Ok(receipts) => receipts,
            Err(error) => {
                let events: usize = batches.iter().map(|(_, batch)| batch.len()).sum();
                let reason = match error {
                    StorageError::BatchTooLarge { .. } => DropReason::BatchTooLarge,
                    _ => DropReason::StorageFailure,
                };
                self.metrics.drops(reason, events as u64);
                tracing::error!(%error, batches = batches.len(), events, "batches not stored; they are not acknowledged");
                return Err(error.into());
            }
        };
        // The last-seen times of all batches are written together after
        // the inspection: one fsync instead of one per batch.
        self.deferred_touches = Some(Vec::with_capacity(batches.len()));
        let mut outcomes = Vec::with_capacity(batches.len());
        for (((device, batch), state), receipt) in batches.iter().zip(states).zip(receipts) {
            outcomes.push(self.finish(*device, batch, state, receipt, now));
        }
        let touches = self.deferred_touches.take().unwrap_or_default();
        if let Err(error) = self.inventory.touch_many(&touches) {
            tracing::error!(%error, devices = touches.len(), "updating last-seen times failed; the events are stored");
        }
        Ok(outcomes)
    }

    /// Counts a committed batch and inspects it.
    fn finish(
        &mut self,
        device: DeviceId,
        batch: &[Event<'_>],
        state: Option<DeviceState>,
        receipt: StoreReceipt,
        now: u64,
    ) -> BatchOutcome {
        for class in [
            EventClass::Security,
            EventClass::Operational,
            EventClass::Telemetry,
        ] {
            self.metrics
                .events(class, receipt.stored_by_class[class_index(class)] as u64);
        }
        self.metrics.duplicates(receipt.duplicates as u64);
        if receipt.withheld > 0 {
            self.metrics
                .drops(DropReason::TelemetryWithheld, receipt.withheld as u64);
        }

        let mut outcome = BatchOutcome {
            receipt,
            findings: Vec::new(),
            commands: Vec::new(),
            disconnect: state == Some(DeviceState::Revoked),
        };
        // The batch is committed, so it must be acknowledged even when a
        // later step fails; such a failure is logged and the step skipped.
        if let Err(error) = self.inspect(device, batch, now, &mut outcome) {
            tracing::error!(%device, %error, "failed to inspect a stored batch; its remaining findings are lost");
        }
        outcome
    }

    /// Updates the inventory, detects, stores findings and responds for a
    /// committed batch.
    fn inspect(
        &mut self,
        device: DeviceId,
        batch: &[Event<'_>],
        now: u64,
        outcome: &mut BatchOutcome,
    ) -> Result<(), StorageError> {
        let dispositions = outcome.receipt.dispositions.clone();
        for (event, disposition) in batch.iter().zip(&dispositions) {
            // An identical resend was inspected when it first arrived; a
            // different event under a reused key goes to the engine, which
            // reports it as a replay or regression.
            if *disposition == Disposition::Duplicate {
                continue;
            }
            match &event.body {
                EventBody::SystemInfo(info) => {
                    self.inventory.record_system_info(device, info, now)?
                }
                EventBody::SoftwareComponent(component) => {
                    self.inventory.record_component(device, component, now)?
                }
                EventBody::BaselineCheck(check) => {
                    self.inventory.record_baseline(device, check, now)?
                }
                EventBody::CommandAcknowledged(acknowledgement) => {
                    self.responder
                        .record_acknowledgement(device, acknowledgement, now)?;
                }
                _ => {}
            }
            outcome
                .findings
                .extend(self.engine.observe(device, event, now));
        }
        match &mut self.deferred_touches {
            Some(touches) => touches.push((device, now)),
            None => self.inventory.touch(device, now)?,
        }

        for finding in &outcome.findings {
            self.outbox.store_finding(finding)?;
            self.metrics.finding(finding.rule);
            tracing::info!(%device, rule = finding.rule.name(), severity = finding.severity.name(), summary = %finding.summary, "finding");
            let response = self.responder.respond(finding, &self.inventory, now)?;
            for command in &response.commands {
                self.metrics.command();
                tracing::info!(%device, command_id = command.command_id, action = ?command.action, "command issued");
            }
            outcome.commands.extend(response.commands);
            outcome.disconnect |= response.disconnect;
        }
        Ok(())
    }

    /// Runs one delivery round, prunes delivered rows past the retention
    /// and updates the outbox-depth gauge.
    pub fn deliver(&mut self, delivery: &mut Delivery) -> Result<DeliveryReport, CoreError> {
        let report = self.deliver_round(delivery)?;
        self.settle_outbox(delivery)?;
        Ok(report)
    }

    /// Runs one delivery round and counts its undecodable rows, without the
    /// outbox bookkeeping of [`GatewayCore::settle_outbox`].
    fn deliver_round(&mut self, delivery: &mut Delivery) -> Result<DeliveryReport, CoreError> {
        deliver_round_on(&mut self.outbox, &self.inventory, &self.metrics, delivery)
    }

    /// Prunes rows that every sink delivered and that are older than the
    /// retention, and sets the outbox-depth gauge. Both statements scan the
    /// outbox (the depth counts every undelivered row), so callers that run
    /// many rounds in a row do this once after them.
    pub fn settle_outbox(&mut self, delivery: &Delivery) -> Result<(), CoreError> {
        settle_outbox_on(&mut self.outbox, &self.metrics, delivery)
    }

    /// Delivers rounds until the outbox is empty for every sink, a sink
    /// fails, or `max_rounds` ran (used on shutdown, with a bounded count);
    /// prunes and updates the depth gauge once at the end.
    pub fn drain(&mut self, delivery: &mut Delivery, max_rounds: usize) -> Result<u64, CoreError> {
        let written = drain_rounds(delivery, max_rounds, &mut |delivery: &mut Delivery| {
            self.deliver_round(delivery)
        })?;
        self.settle_outbox(delivery)?;
        Ok(written)
    }
}

/// Runs one delivery round from `outbox`, with device details from
/// `inventory`, and counts its undecodable rows in `metrics`.
fn deliver_round_on(
    outbox: &mut Outbox,
    inventory: &Inventory,
    metrics: &Metrics,
    delivery: &mut Delivery,
) -> Result<DeliveryReport, CoreError> {
    let report = delivery.deliver(outbox, inventory)?;
    if report.undecodable > 0 {
        metrics.drops(DropReason::Undecodable, report.undecodable);
    }
    Ok(report)
}

/// Prunes the rows of `outbox` that every sink of `delivery` delivered and
/// that are past the retention, and sets the outbox-depth gauge.
fn settle_outbox_on(
    outbox: &mut Outbox,
    metrics: &Metrics,
    delivery: &Delivery,
) -> Result<(), CoreError> {
    let names = delivery.sink_names();
    outbox.prune(&names, now_unix_ms())?;
    metrics.set_outbox_depth(outbox.depth(&names)?);
    Ok(())
}

/// Runs `round` until a round moves no row, a sink fails or `max_rounds`
/// ran; returns the number of records written.
fn drain_rounds(
    delivery: &mut Delivery,
    max_rounds: usize,
    round: &mut dyn FnMut(&mut Delivery) -> Result<DeliveryReport, CoreError>,
) -> Result<u64, CoreError> {
    let mut written = 0;
    for _ in 0..max_rounds {
        let report = round(delivery)?;
        written += report.total_written();
        if !report.failed_sinks.is_empty() || report.rows == 0 {
            break;
        }
    }
    Ok(written)
}

/// Delivers the outbox backlog in rounds, taking the core lock for one round
/// at a time so that session commits run between rounds.
///
/// The first round always runs, so a zero budget gives exactly one round.
/// Another round follows while the previous one moved rows, no sink failed
/// and less than `budget` has passed since the call began. A failed sink stops the
/// loop with its cursor where its last good round left it; the next call
/// retries it. After the rounds, if any moved rows or a sink failed, the
/// outbox is pruned and the depth gauge set once ([`GatewayCore::settle_outbox`]),
/// so an idle call costs one cursor read and one row read per sink. The
/// returned report sums the rounds.
///
/// # Errors
///
/// [`CoreError`] when the outbox cannot be read, a cursor cannot be saved
/// or pruning fails; rounds that finished before the error keep their
/// cursors.
pub fn deliver_backlog(
    core: &Mutex<GatewayCore>,
    delivery: &mut Delivery,
    budget: Duration,
) -> Result<BacklogReport, CoreError> {
    let lock = || core.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    run_backlog(
        budget,
        &mut |delivery: &mut Delivery| lock().deliver_round(delivery),
        &mut |delivery: &Delivery| lock().settle_outbox(delivery),
        delivery,
    )
}

/// Runs the loop of [`deliver_backlog`] and [`DeliveryStore::deliver_backlog`]:
/// rounds while rows move and `budget` lasts, then one settle.
fn run_backlog(
    budget: Duration,
    round: &mut dyn FnMut(&mut Delivery) -> Result<DeliveryReport, CoreError>,
    settle: &mut dyn FnMut(&Delivery) -> Result<(), CoreError>,
    delivery: &mut Delivery,
) -> Result<BacklogReport, CoreError> {
    let started = Instant::now();
    let mut total = BacklogReport::default();
    loop {
        let report = round(delivery)?;
        total.rounds += 1;
        total.delivery.rows += report.rows;
        for (sink, count) in report.written {
            *total.delivery.written.entry(sink).or_default() += count;
        }
        total.delivery.already_written += report.already_written;
        total.delivery.undecodable += report.undecodable;
        let failed = !report.failed_sinks.is_empty();
        total.delivery.failed_sinks.extend(report.failed_sinks);
        if failed || report.rows == 0 || started.elapsed() >= budget {
            break;
        }
    }
    if total.delivery.rows > 0 || !total.delivery.failed_sinks.is_empty() {
        settle(delivery)?;
    }
    Ok(total)
}

/// The delivery side's own connections to the gateway database: an outbox
/// handle that reads rows and advances sink cursors, and an inventory
/// handle for the device details that exported records carry.
///
/// With these, delivery runs beside the session commits instead of taking
/// turns with them on the [`GatewayCore`] lock, so formatting output and
/// committing batches can use two cores. In SQLite's WAL mode the reads
/// run during a commit; cursor updates and pruning wait for the write lock
/// (busy timeout 10 s). Delivery reads only committed rows, so what it
/// writes and when it advances a cursor are the same as under the lock.
#[derive(Debug)]
pub struct DeliveryStore {
    outbox: Outbox,
    inventory: Inventory,
    metrics: Arc<Metrics>,
}

impl DeliveryStore {
    /// Opens the database named in `config.paths.database`, which
    /// [`GatewayCore::open`] created and migrated.
    pub fn open(config: &Config, metrics: Arc<Metrics>) -> Result<Self, CoreError> {
        let database = &config.paths.database;
        Ok(Self {
            outbox: Outbox::open(database, &config.outbox)?,
            inventory: Inventory::open(database)?,
            metrics,
        })
    }

    /// Runs one delivery round and counts its undecodable rows.
    pub fn deliver_round(&mut self, delivery: &mut Delivery) -> Result<DeliveryReport, CoreError> {
        deliver_round_on(&mut self.outbox, &self.inventory, &self.metrics, delivery)
    }

    /// Prunes delivered rows past the retention and sets the outbox-depth
    /// gauge, as [`GatewayCore::settle_outbox`] does.
    pub fn settle_outbox(&mut self, delivery: &Delivery) -> Result<(), CoreError> {
        settle_outbox_on(&mut self.outbox, &self.metrics, delivery)
    }

    /// Delivers the backlog in rounds under the same rules as
    /// [`deliver_backlog`], without the core lock.
    ///
    /// # Errors
    ///
    /// [`CoreError`] when the outbox cannot be read, a cursor cannot be saved
    /// or pruning fails; rounds that finished before the error keep their
    /// cursors.
    pub fn deliver_backlog(
        &mut self,
        delivery: &mut Delivery,
        budget: Duration,
    ) -> Result<BacklogReport, CoreError> {
        let store = std::cell::RefCell::new(self);
        run_backlog(
            budget,
            &mut |delivery: &mut Delivery| store.borrow_mut().deliver_round(delivery),
            &mut |delivery: &Delivery| store.borrow_mut().settle_outbox(delivery),
            delivery,
        )
    }

    /// Delivers rounds until the outbox is empty for every sink, a sink
    /// fails, or `max_rounds` ran, then prunes and sets the depth gauge.
    /// Returns the number of records written. The binary calls it on
    /// shutdown, after the sessions have stopped.
    pub fn drain(&mut self, delivery: &mut Delivery, max_rounds: usize) -> Result<u64, CoreError> {
        let written = drain_rounds(delivery, max_rounds, &mut |delivery: &mut Delivery| {
            self.deliver_round(delivery)
        })?;
        self.settle_outbox(delivery)?;
        Ok(written)
    }
}

/// Counts from one [`deliver_backlog`] call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BacklogReport {
    /// Delivery rounds run.
    pub rounds: u64,
    /// The rounds' counts, summed.
    pub delivery: DeliveryReport,
}
