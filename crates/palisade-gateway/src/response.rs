//! Response policy: from findings to actions.

use serde::{Deserialize, Serialize};

/// What the gateway does about a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Report the finding and do nothing else.
    Alert,
    /// Stop forwarding the device's telemetry and send it an isolate command.
    Isolate,
    /// Send the device a graceful-shutdown command.
    Shutdown,
    /// Mark the device revoked, reject its further admissions and record
    /// its credential serial for the next revocation list.
    Revoke,
}
