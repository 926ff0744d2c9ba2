//! What the exporter needs to know besides the event itself.

use palisade_schema::{DeviceId, Event, IpAddress};

/// Product name written into every OCSF `metadata.product`, syslog APP-NAME
/// default and CEF header.
pub const PRODUCT_NAME: &str = "Palisade";

/// Vendor name written into OCSF `metadata.product.vendor_name` and the CEF
/// header.
pub const VENDOR_NAME: &str = "Palisade";

/// A device as the gateway knows it: its id from the credential, and what
/// its last system information or inventory said.
///
/// Events do not carry the device id, so the gateway attaches this to every
/// event it exports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceInfo {
    /// Device id from the device's credential.
    pub id: DeviceId,
    /// Device maker, when known.
    pub vendor: Option<String>,
    /// Device model, when known.
    pub model: Option<String>,
    /// Host name, when known.
    pub hostname: Option<String>,
    /// The address the device connects from, when known.
    pub ip: Option<IpAddress>,
}

impl DeviceInfo {
    /// A device known only by its id.
    pub fn new(id: DeviceId) -> Self {
        Self {
            id,
            ..Self::default()
        }
    }
}

/// The gateway that exports: its name and the Palisade version it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Gateway name, such as `ward-3-gateway`: the syslog HOSTNAME and CEF
    /// `dvchost` of findings, and OCSF `metadata.log_name`.
    pub gateway: String,
    /// Palisade version, written into `metadata.product.version` and the
    /// CEF header.
    pub product_version: String,
}

impl Origin {
    /// An origin for gateway `gateway` running Palisade `product_version`.
    pub fn new(gateway: impl Into<String>, product_version: impl Into<String>) -> Self {
        Self {
            gateway: gateway.into(),
            product_version: product_version.into(),
        }
    }
}

/// Everything an exported event needs besides the event: the device it
/// came from, the exporting gateway and when the gateway received it.
#[derive(Debug, Clone, Copy)]
pub struct EventContext<'a> {
    /// The device that reported the event.
    pub device: &'a DeviceInfo,
    /// The gateway that exports it.
    pub origin: &'a Origin,
    /// When the gateway received the event, in Unix milliseconds.
    pub received_unix_ms: u64,
}

impl EventContext<'_> {
    /// The time to report for `event`, in Unix milliseconds.
    ///
    /// The device's wall clock is used only when the device says it was
    /// synchronized; otherwise the gateway's receive time is used, because
    /// an unsynchronized device clock may be years off.
    pub fn event_time_ms(&self, event: &Event<'_>) -> u64 {
        match event.header.wall_clock {
            Some(clock) if clock.synchronized => clock.unix_ms,
            _ => self.received_unix_ms,
        }
    }

    /// A globally unique id for `event`: device id, boot counter and
    /// sequence number, separated by colons.
    pub fn event_uid(&self, event: &Event<'_>) -> String {
        format!(
            "{}:{}:{}",
            self.device.id, event.header.boot, event.header.sequence
        )
    }
}
