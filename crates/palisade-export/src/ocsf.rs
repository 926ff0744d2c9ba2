//! OCSF 1.3.0 JSON for events and findings.
//!
//! Every object carries `class_uid`, `category_uid`, `activity_id`,
//! `type_uid` (= `class_uid * 100 + activity_id`), `severity_id`, `time`
//! (Unix milliseconds), a `device` object, and `metadata` with
//! `version` = [`OCSF_VERSION`] and `product` naming Palisade.
//!
//! | event kind | OCSF class (uid) | activity |
//! |---|---|---|
//! | process started / exited | Process Activity (1007) | Launch (1) / Terminate (2) |
//! | network connection | Network Activity (4001) | Traffic (6) |
//! | listening port opened / closed | Network Activity (4001) | Listen (7) / Close (2) |
//! | login | Authentication (3002) | Logon (1) or Logoff (2); failures have `status_id` 2 |
//! | file integrity changed | File System Activity (1001) | Create (1), Update (3) or Delete (4) |
//! | system information | Device Inventory Info (5001) | Log (1) |
//! | baseline check | Device Config State (5002) | Log (1) |
//! | software component | Software Inventory Info (5020) | Log (1) |
//! | unknown device, credential rejected | Authentication (3002) | Logon (1), `status_id` 2 |
//! | command rejected | API Activity (6003) | Other (99), `status_id` 2 |
//! | remote session started / ended | Authentication (3002) | Logon (1) / Logoff (2), `is_remote` |
//! | data rate sample | Network Activity (4001) | Traffic (6) |
//! | protocol violation | Network Activity (4001) | Reset (3) |
//! | peripheral attached / detached, heartbeat, sequence anomaly, events dropped, configuration error, collection error, command acknowledged, telemetry | Base Event (0) | Other (99), with the kind in `activity_name` |
//!
//! OCSF 1.3.0 has no class for peripherals, agent health or command
//! acknowledgements, so those kinds use the Base Event class and carry their
//! fields under `unmapped`. Telemetry has an OCSF form for completeness, but
//! the gateway routes telemetry to the business sink as
//! [`telemetry_json`], never to a security sink.

use serde_json::{Map, Value, json};

use palisade_schema::{
    CheckResult, Direction, Event, EventBody, EventKind, IpAddress, LoginAction, Protocol,
    Severity, SocketAddress,
};

use crate::context::{DeviceInfo, EventContext, Origin, PRODUCT_NAME, VENDOR_NAME};
use crate::fields;
use crate::finding::Finding;

/// The OCSF release that every object produced here follows; written into
/// `metadata.version`.
pub const OCSF_VERSION: &str = "1.3.0";

/// `actor.app_name` of a File System Activity from file integrity
/// monitoring, which observes a changed file but not the process that
/// changed it.
const FILE_MONITOR_APP: &str = "Palisade file integrity monitor";

/// Category and class of an OCSF object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OcsfClass {
    /// `category_uid`.
    pub category_uid: u32,
    /// `class_uid`.
    pub class_uid: u32,
    /// `class_name`.
    pub class_name: &'static str,
    /// `category_name`.
    pub category_name: &'static str,
}

const BASE_EVENT: OcsfClass = OcsfClass {
    category_uid: 0,
    class_uid: 0,
    class_name: "Base Event",
    category_name: "Uncategorized",
};
const FILE_ACTIVITY: OcsfClass = OcsfClass {
    category_uid: 1,
    class_uid: 1001,
    class_name: "File System Activity",
    category_name: "System Activity",
};
const PROCESS_ACTIVITY: OcsfClass = OcsfClass {
    category_uid: 1,
    class_uid: 1007,
    class_name: "Process Activity",
    category_name: "System Activity",
};
const DETECTION_FINDING: OcsfClass = OcsfClass {
    category_uid: 2,
    class_uid: 2004,
    class_name: "Detection Finding",
    category_name: "Findings",
};
const AUTHENTICATION: OcsfClass = OcsfClass {
    category_uid: 3,
    class_uid: 3002,
    class_name: "Authentication",
    category_name: "Identity & Access Management",
};
const NETWORK_ACTIVITY: OcsfClass = OcsfClass {
    category_uid: 4,
    class_uid: 4001,
    class_name: "Network Activity",
    category_name: "Network Activity",
};
const DEVICE_INVENTORY_INFO: OcsfClass = OcsfClass {
    category_uid: 5,
    class_uid: 5001,
    class_name: "Device Inventory Info",
    category_name: "Discovery",
};
const DEVICE_CONFIG_STATE: OcsfClass = OcsfClass {
    category_uid: 5,
    class_uid: 5002,
    class_name: "Device Config State",
    category_name: "Discovery",
};
const SOFTWARE_INVENTORY_INFO: OcsfClass = OcsfClass {
    category_uid: 5,
    class_uid: 5020,
    class_name: "Software Inventory Info",
    category_name: "Discovery",
};
const API_ACTIVITY: OcsfClass = OcsfClass {
    category_uid: 6,
    class_uid: 6003,
    class_name: "API Activity",
    category_name: "Application Activity",
};

/// Returns the OCSF class that events of `kind` map to.
pub fn class_of(kind: EventKind) -> OcsfClass {
    match kind {
        EventKind::ProcessStarted | EventKind::ProcessExited => PROCESS_ACTIVITY,
        EventKind::NetworkConnection
        | EventKind::ListeningPortOpened
        | EventKind::ListeningPortClosed
        | EventKind::DataRateSample
        | EventKind::ProtocolViolation => NETWORK_ACTIVITY,
        EventKind::Login
        | EventKind::UnknownDevice
        | EventKind::CredentialRejected
        | EventKind::RemoteSessionStarted
        | EventKind::RemoteSessionEnded => AUTHENTICATION,
        EventKind::FileIntegrityChanged => FILE_ACTIVITY,
        EventKind::SystemInfo => DEVICE_INVENTORY_INFO,
        EventKind::BaselineCheck => DEVICE_CONFIG_STATE,
        EventKind::SoftwareComponent => SOFTWARE_INVENTORY_INFO,
        EventKind::CommandRejected => API_ACTIVITY,
        _ => BASE_EVENT,
    }
}

/// OCSF `severity_id` for a Palisade severity: Informational (1) to
/// Critical (5).
pub fn severity_id(severity: Severity) -> u8 {
    match severity {
        Severity::Info => 1,
        Severity::Low => 2,
        Severity::Medium => 3,
        Severity::High => 4,
        Severity::Critical => 5,
    }
}

fn severity_caption(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "Informational",
        Severity::Low => "Low",
        Severity::Medium => "Medium",
        Severity::High => "High",
        Severity::Critical => "Critical",
    }
}

/// Converts `event` into an OCSF 1.3.0 JSON object.
///
/// Never fails: every field of every kind has a place, in the class's own
/// attributes or under `unmapped`.
pub fn event(event: &Event<'_>, context: &EventContext<'_>) -> Value {
    let kind = event.kind();
    let class = class_of(kind);
    let mut object = Map::new();
    let (activity_id, activity_name) = fill_body(&mut object, event, context);
    let time = context.event_time_ms(event);

    object.insert("activity_id".into(), json!(activity_id));
    object.insert("activity_name".into(), json!(activity_name));
    insert_classification(&mut object, class, activity_id, activity_name);
    object.insert(
        "severity_id".into(),
        json!(severity_id(event.header.severity)),
    );
    object.insert(
        "severity".into(),
        json!(severity_caption(event.header.severity)),
    );
    object.insert("time".into(), json!(time));
    if event.header.hit_count.get() > 1 {
        object.insert("count".into(), json!(event.header.hit_count.get()));
        object.insert("start_time".into(), json!(time));
        object.insert(
            "end_time".into(),
            json!(time.saturating_add(u64::from(event.header.window_ms))),
        );
    }
    object.insert(
        "message".into(),
        json!(crate::summary::event_summary(event)),
    );
    object
        .entry("device")
        .or_insert_with(|| device(context.device));
    object.insert(
        "metadata".into(),
        metadata(
            context.origin,
            Some(context.event_uid(event)),
            Some(event.header.sequence),
            context.received_unix_ms,
        ),
    );

    let unmapped = object
        .entry("unmapped")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(unmapped) = unmapped {
        unmapped.insert("palisade_kind".into(), json!(kind.name()));
        unmapped.insert("palisade_class".into(), json!(event.class().name()));
        unmapped.insert("boot".into(), json!(event.header.boot));
        unmapped.insert("uptime_ms".into(), json!(event.header.uptime_ms));
        if let Some(clock) = event.header.wall_clock {
            unmapped.insert("device_clock_ms".into(), json!(clock.unix_ms));
            unmapped.insert(
                "device_clock_synchronized".into(),
                json!(clock.synchronized),
            );
        }
    }
    Value::Object(object)
}

/// Converts `finding` into an OCSF 1.3.0 Detection Finding (class 2004,
/// activity Create).
///
/// `finding_info.analytic.uid` is the rule id. Each evidence becomes one
/// entry of `evidences`. An evidence that names an event also becomes one
/// entry of `finding_info.related_events`, whose `uid` is the event's
/// `metadata.uid` and whose `type` is the event kind.
pub fn finding(finding: &Finding, origin: &Origin) -> Value {
    let device_id = finding.device.id;
    let related_events: Vec<Value> = finding
        .evidence
        .iter()
        .filter_map(|evidence| evidence.event)
        .map(|event| {
            json!({
                "uid": event.uid(&device_id),
                "type": event.kind.name(),
            })
        })
        .collect();
    let evidences: Vec<Value> = finding
        .evidence
        .iter()
        .map(|evidence| {
            let mut data = Map::new();
            data.insert("summary".into(), json!(evidence.summary));
            if let Some(event) = evidence.event {
                data.insert("event_uid".into(), json!(event.uid(&device_id)));
                data.insert("boot".into(), json!(event.boot));
                data.insert("sequence".into(), json!(event.sequence));
                data.insert("kind".into(), json!(event.kind.name()));
            }
            json!({ "data": Value::Object(data) })
        })
        .collect();

    let mut finding_info = Map::new();
    finding_info.insert("uid".into(), json!(finding.uid));
    finding_info.insert("title".into(), json!(finding.title));
    if let Some(description) = &finding.description {
        finding_info.insert("desc".into(), json!(description));
    }
    finding_info.insert(
        "analytic".into(),
        json!({ "uid": finding.rule_id, "name": finding.rule_id, "type_id": 1, "type": "Rule" }),
    );
    finding_info.insert("created_time".into(), json!(finding.time_unix_ms));
    if !related_events.is_empty() {
        finding_info.insert("related_events".into(), Value::Array(related_events));
    }

    let mut object = Map::new();
    object.insert("activity_id".into(), json!(1));
    object.insert("activity_name".into(), json!("Create"));
    insert_classification(&mut object, DETECTION_FINDING, 1, "Create");
    object.insert("severity_id".into(), json!(severity_id(finding.severity)));
    object.insert("severity".into(), json!(severity_caption(finding.severity)));
    object.insert("status_id".into(), json!(1));
    object.insert("status".into(), json!("New"));
    object.insert("is_alert".into(), json!(true));
    object.insert("time".into(), json!(finding.time_unix_ms));
    object.insert("message".into(), json!(finding.title));
    object.insert("finding_info".into(), Value::Object(finding_info));
    object.insert("evidences".into(), Value::Array(evidences));
    object.insert("device".into(), device(&finding.device));
    object.insert(
        "metadata".into(),
        metadata(
            origin,
            Some(finding.uid.clone()),
            None,
            finding.time_unix_ms,
        ),
    );
    if !finding.attributes.is_empty() {
        let attributes: Map<String, Value> = finding
            .attributes
            .iter()
            .map(|(name, value)| (name.clone(), json!(value)))
            .collect();
        object.insert("unmapped".into(), Value::Object(attributes));
    }
    Value::Object(object)
}

/// Converts a telemetry event into the plain JSON object that the business
/// sink writes, or returns `None` for any other kind.
///
/// Fields: `device_id`, `boot`, `sequence`, `time` (Unix ms, chosen like
/// OCSF `time`), `received_time`, `channel`, `data_hex`, `hit_count`.
pub fn telemetry_json(event: &Event<'_>, context: &EventContext<'_>) -> Option<Value> {
    let EventBody::Telemetry(telemetry) = &event.body else {
        return None;
    };
    Some(json!({
        "device_id": context.device.id.to_string(),
        "boot": event.header.boot,
        "sequence": event.header.sequence,
        "time": context.event_time_ms(event),
        "received_time": context.received_unix_ms,
        "channel": telemetry.channel,
        "data_hex": hex::encode(telemetry.data.as_bytes()),
        "hit_count": event.header.hit_count.get(),
    }))
}

fn insert_classification(
    object: &mut Map<String, Value>,
    class: OcsfClass,
    activity_id: u8,
    activity_name: &str,
) {
    object.insert("category_uid".into(), json!(class.category_uid));
    object.insert("category_name".into(), json!(class.category_name));
    object.insert("class_uid".into(), json!(class.class_uid));
    object.insert("class_name".into(), json!(class.class_name));
    object.insert(
        "type_uid".into(),
        json!(u64::from(class.class_uid) * 100 + u64::from(activity_id)),
    );
    object.insert(
        "type_name".into(),
        json!(format!("{}: {activity_name}", class.class_name)),
    );
}

fn metadata(
    origin: &Origin,
    uid: Option<String>,
    sequence: Option<u64>,
    logged_time: u64,
) -> Value {
    let mut metadata = Map::new();
    metadata.insert("version".into(), json!(OCSF_VERSION));
    metadata.insert(
        "product".into(),
        json!({ "name": PRODUCT_NAME, "vendor_name": VENDOR_NAME, "version": origin.product_version }),
    );
    if let Some(uid) = uid {
        metadata.insert("uid".into(), json!(uid));
    }
    if let Some(sequence) = sequence {
        metadata.insert("sequence".into(), json!(sequence));
    }
    metadata.insert("logged_time".into(), json!(logged_time));
    metadata.insert("log_name".into(), json!(origin.gateway));
    Value::Object(metadata)
}

/// Builds the OCSF `device` object: type IOT (7), the id, and whatever else
/// the gateway knows.
fn device(info: &DeviceInfo) -> Value {
    let mut device = Map::new();
    device.insert("type_id".into(), json!(7));
    device.insert("type".into(), json!("IOT"));
    device.insert("uid".into(), json!(info.id.to_string()));
    if let Some(hostname) = &info.hostname {
        device.insert("hostname".into(), json!(hostname));
    }
    if let Some(vendor) = &info.vendor {
        device.insert("vendor_name".into(), json!(vendor));
    }
    if let Some(model) = &info.model {
        device.insert("model".into(), json!(model));
    }
    if let Some(ip) = info.ip {
        device.insert("ip".into(), json!(ip.to_string()));
    }
    Value::Object(device)
}

/// Builds a network endpoint for the device itself, as the target of a
/// login.
fn device_endpoint(info: &DeviceInfo) -> Value {
    let mut endpoint = json!({ "uid": info.id.to_string() });
    if let Some(hostname) = &info.hostname {
        endpoint["hostname"] = json!(hostname);
    }
    if let Some(ip) = info.ip {
        endpoint["ip"] = json!(ip.to_string());
    }
    endpoint
}

fn endpoint(address: SocketAddress) -> Value {
    json!({ "ip": address.ip.to_string(), "port": address.port })
}

fn ip_endpoint(ip: IpAddress) -> Value {
    json!({ "ip": ip.to_string() })
}

fn connection_info(protocol: Protocol, direction: Direction) -> Value {
    let (protocol_num, protocol_name) = match protocol {
        Protocol::Tcp => (6, "tcp"),
        Protocol::Udp => (17, "udp"),
    };
    let (direction_id, direction_name) = match direction {
        Direction::Inbound => (1, "Inbound"),
        Direction::Outbound => (2, "Outbound"),
        Direction::Unknown => (0, "Unknown"),
    };
    json!({
        "protocol_num": protocol_num,
        "protocol_name": protocol_name,
        "direction_id": direction_id,
        "direction": direction_name,
    })
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn sha256_fingerprint(digest: &[u8; 32]) -> Value {
    json!({ "algorithm_id": 3, "algorithm": "SHA-256", "value": hex::encode(digest) })
}

fn status(object: &mut Map<String, Value>, success: bool, detail: Option<&str>) {
    if success {
        object.insert("status_id".into(), json!(1));
        object.insert("status".into(), json!("Success"));
    } else {
        object.insert("status_id".into(), json!(2));
        object.insert("status".into(), json!("Failure"));
    }
    if let Some(detail) = detail {
        object.insert("status_detail".into(), json!(detail));
    }
}

/// Puts the class-specific attributes of `event` into `object` and returns
/// its `activity_id` and `activity_name`.
fn fill_body(
    object: &mut Map<String, Value>,
    event: &Event<'_>,
    context: &EventContext<'_>,
) -> (u8, &'static str) {
    match &event.body {
        EventBody::ProcessStarted(p) => {
            let mut process = json!({
                "pid": p.pid,
                "cmd_line": p.command_line.as_str(),
                "file": { "path": p.executable.as_str(), "name": file_name(p.executable.as_str()), "type_id": 1, "type": "Regular File" },
                "parent_process": { "pid": p.parent_pid },
                "user": { "uid": p.uid.to_string() },
            });
            if let Some(user) = p.user {
                process["user"]["name"] = json!(user.as_str());
            }
            object.insert("process".into(), process);
            object.insert(
                "actor".into(),
                json!({ "process": { "pid": p.parent_pid } }),
            );
            object.insert(
                "unmapped".into(),
                json!({ "start_kind": fields::start_kind(p.start_kind) }),
            );
            (1, "Launch")
        }
        EventBody::ProcessExited(p) => {
            let process = json!({
                "pid": p.pid,
                "file": { "path": p.executable.as_str(), "name": file_name(p.executable.as_str()), "type_id": 1, "type": "Regular File" },
            });
            object.insert("actor".into(), json!({ "process": process.clone() }));
            object.insert("process".into(), process);
            if let Some(code) = p.exit_code {
                object.insert("exit_code".into(), json!(code));
            }
            (2, "Terminate")
        }
        EventBody::NetworkConnection(c) => {
            let (source, destination) = match c.direction {
                Direction::Inbound => (c.remote, c.local),
                Direction::Outbound | Direction::Unknown => (c.local, c.remote),
            };
            object.insert("src_endpoint".into(), endpoint(source));
            object.insert("dst_endpoint".into(), endpoint(destination));
            object.insert(
                "connection_info".into(),
                connection_info(c.protocol, c.direction),
            );
            object.insert(
                "traffic".into(),
                json!({ "bytes_in": c.bytes_in, "bytes_out": c.bytes_out, "bytes": c.bytes_in.saturating_add(c.bytes_out) }),
            );
            let mut unmapped = Map::new();
            if let Some(pid) = c.pid {
                unmapped.insert("pid".into(), json!(pid));
            }
            if let Some(executable) = c.executable {
                unmapped.insert("executable".into(), json!(executable.as_str()));
            }
            object.insert("unmapped".into(), Value::Object(unmapped));
            (6, "Traffic")
        }
        EventBody::ListeningPortOpened(l) | EventBody::ListeningPortClosed(l) => {
            object.insert("dst_endpoint".into(), endpoint(l.local));
            object.insert(
                "connection_info".into(),
                connection_info(l.protocol, Direction::Inbound),
            );
            let mut unmapped = Map::new();
            if let Some(pid) = l.pid {
                unmapped.insert("pid".into(), json!(pid));
            }
            if let Some(executable) = l.executable {
                unmapped.insert("executable".into(), json!(executable.as_str()));
            }
            object.insert("unmapped".into(), Value::Object(unmapped));
            if event.kind() == EventKind::ListeningPortOpened {
                (7, "Listen")
            } else {
                (2, "Close")
            }
        }
        EventBody::Login(l) => {
            object.insert("user".into(), json!({ "name": l.user.as_str() }));
            object.insert("dst_endpoint".into(), device_endpoint(context.device));
            object.insert("is_remote".into(), json!(l.source.is_some()));
            if let Some(source) = l.source {
                object.insert("src_endpoint".into(), ip_endpoint(source));
                object.insert("logon_type_id".into(), json!(3));
                object.insert("logon_type".into(), json!("Network"));
            } else {
                object.insert("logon_type_id".into(), json!(2));
                object.insert("logon_type".into(), json!("Interactive"));
            }
            let mut unmapped = Map::new();
            unmapped.insert("login_method".into(), json!(fields::login_method(l.method)));
            if let Some(terminal) = l.terminal {
                unmapped.insert("terminal".into(), json!(terminal.as_str()));
            }
            object.insert("unmapped".into(), Value::Object(unmapped));
            match l.action {
                LoginAction::Login => {
                    status(object, true, None);
                    (1, "Logon")
                }
                LoginAction::Logout => {
                    status(object, true, None);
                    (2, "Logoff")
                }
                LoginAction::Failed => {
                    status(object, false, Some("INVALID_CREDENTIALS"));
                    (1, "Logon")
                }
                LoginAction::InvalidUser => {
                    status(object, false, Some("USER_DOES_NOT_EXIST"));
                    (1, "Logon")
                }
            }
        }
        EventBody::FileIntegrityChanged(f) => {
            let mut file = json!({ "path": f.path.as_str(), "name": file_name(f.path.as_str()), "type_id": 1, "type": "Regular File" });
            if let Some(new) = &f.new_sha256 {
                file["hashes"] = json!([sha256_fingerprint(new)]);
            }
            object.insert("file".into(), file);
            // File integrity monitoring sees the result of a write, not the
            // process that wrote it. OCSF 1.3.0 requires an actor holding at
            // least one of process, user, session, app_name or app_uid, so the
            // actor names the monitor that detected the change.
            object.insert("actor".into(), json!({ "app_name": FILE_MONITOR_APP }));
            let mut unmapped = Map::new();
            if let Some(old) = &f.old_sha256 {
                unmapped.insert("old_sha256".into(), json!(hex::encode(old)));
            }
            object.insert("unmapped".into(), Value::Object(unmapped));
            match (f.old_sha256, f.new_sha256) {
                (None, _) => (1, "Create"),
                (Some(_), None) => (4, "Delete"),
                (Some(_), Some(_)) => (3, "Update"),
            }
        }
        EventBody::SystemInfo(s) => {
            let mut device = device(context.device);
            let mut interfaces = Vec::new();
            for interface in &s.interfaces {
                let mac = interface.mac.map(|mac| {
                    mac.iter()
                        .map(|byte| format!("{byte:02x}"))
                        .collect::<Vec<_>>()
                        .join(":")
                });
                let addresses: Vec<Option<String>> = if interface.addresses.is_empty() {
                    vec![None]
                } else {
                    interface
                        .addresses
                        .iter()
                        .map(|ip| Some(ip.to_string()))
                        .collect()
                };
                for ip in addresses {
                    let mut entry =
                        json!({ "name": interface.name.as_str(), "type_id": 0, "type": "Unknown" });
                    if let Some(mac) = &mac {
                        entry["mac"] = json!(mac);
                    }
                    if let Some(ip) = ip {
                        entry["ip"] = json!(ip);
                    }
                    interfaces.push(entry);
                }
            }
            let os_name = s.os_name.as_str();
            let (os_type_id, os_type) = if os_name.to_ascii_lowercase().contains("linux") {
                (200, "Linux")
            } else {
                (99, "Other")
            };
            device["hostname"] = json!(s.hostname.as_str());
            device["vendor_name"] = json!(s.vendor.as_str());
            device["model"] = json!(s.model.as_str());
            device["os"] = json!({ "name": os_name, "version": s.os_version.as_str(), "type_id": os_type_id, "type": os_type });
            device["hw_info"] =
                json!({ "cpu_architecture_id": 99, "cpu_architecture": s.architecture.as_str() });
            device["network_interfaces"] = Value::Array(interfaces);
            object.insert("device".into(), device);
            object.insert(
                "unmapped".into(),
                json!({ "firmware_version": s.firmware_version.as_str(), "architecture": s.architecture.as_str() }),
            );
            (1, "Log")
        }
        EventBody::BaselineCheck(b) => {
            object.insert(
                "cis_benchmark_result".into(),
                json!({
                    "name": b.check_id.as_str(),
                    "desc": b.description.as_str(),
                    "remediation": { "desc": b.remediation.as_str() },
                }),
            );
            match b.result {
                CheckResult::Pass => status(object, true, Some("pass")),
                CheckResult::Fail => status(object, false, Some("fail")),
                CheckResult::Error => {
                    object.insert("status_id".into(), json!(99));
                    object.insert("status".into(), json!("Other"));
                    object.insert("status_detail".into(), json!("error"));
                }
            }
            object.insert(
                "unmapped".into(),
                json!({ "check_result": fields::check_result(b.result), "check_severity": b.severity.name() }),
            );
            (1, "Log")
        }
        EventBody::SoftwareComponent(c) => {
            let mut package = json!({ "name": c.name.as_str(), "version": c.version.as_str() });
            if let Some(supplier) = c.supplier {
                package["vendor_name"] = json!(supplier.as_str());
            }
            if let Some(purl) = c.purl {
                package["purl"] = json!(purl.as_str());
            }
            if let Some(cpe) = c.cpe {
                package["cpe_name"] = json!(cpe.as_str());
            }
            if let Some(sha256) = &c.sha256 {
                package["hash"] = sha256_fingerprint(sha256);
            }
            object.insert("package".into(), package);
            (1, "Log")
        }
        EventBody::UnknownDevice(u) => {
            let claimed = u.claimed_device_id.map(|id| id.to_string());
            object.insert(
                "user".into(),
                json!({ "uid": claimed.clone().unwrap_or_default(), "type_id": 99, "type": "Device" }),
            );
            object.insert("src_endpoint".into(), endpoint(u.peer));
            object.insert("is_remote".into(), json!(true));
            object.insert("service".into(), json!({ "name": "palisade-admission" }));
            status(object, false, Some("unknown device"));
            (1, "Logon")
        }
        EventBody::CredentialRejected(c) => {
            let id = c.device_id.map(|id| id.to_string()).unwrap_or_default();
            object.insert(
                "user".into(),
                json!({ "uid": id, "type_id": 99, "type": "Device" }),
            );
            if let Some(peer) = c.peer {
                object.insert("src_endpoint".into(), endpoint(peer));
            }
            object.insert("is_remote".into(), json!(c.peer.is_some()));
            object.insert("service".into(), json!({ "name": "palisade-admission" }));
            status(object, false, Some(fields::credential_reason(c.reason)));
            let mut unmapped = Map::new();
            if let Some(serial) = c.serial {
                unmapped.insert("credential_serial".into(), json!(serial));
            }
            unmapped.insert("detail_code".into(), json!(c.detail_code));
            object.insert("unmapped".into(), Value::Object(unmapped));
            (1, "Logon")
        }
        EventBody::CommandRejected(c) => {
            let mut api = json!({ "operation": c.action.map(fields::command_action).unwrap_or_else(|| "unknown".into()) });
            if let Some(id) = c.command_id {
                api["request"] = json!({ "uid": id.to_string() });
            }
            object.insert("api".into(), api);
            // OCSF 1.3.0 requires an actor holding at least one of process,
            // user, session, app_name or app_uid: an unsigned command is
            // attributed to the gateway that relayed it.
            let actor = match c.signer_key_id {
                Some(key) => json!({
                    "user": { "uid": key.to_string(), "type_id": 99, "type": "Signing key" }
                }),
                None => json!({ "app_name": context.origin.gateway }),
            };
            object.insert("actor".into(), actor);
            // Commands reach a device only through its gateway session, so
            // the source is the exporting gateway; the signer is the actor.
            object.insert(
                "src_endpoint".into(),
                json!({ "hostname": context.origin.gateway }),
            );
            status(object, false, Some(fields::command_reason(c.reason)));
            (99, "Command Rejected")
        }
        EventBody::RemoteSessionStarted(s) | EventBody::RemoteSessionEnded(s) => {
            object.insert("user".into(), json!({ "name": s.user.as_str() }));
            object.insert("dst_endpoint".into(), device_endpoint(context.device));
            object.insert("is_remote".into(), json!(true));
            object.insert("session".into(), json!({ "uid": s.session_id.as_str() }));
            object.insert("service".into(), json!({ "name": s.protocol.as_str() }));
            object.insert("logon_type_id".into(), json!(10));
            object.insert("logon_type".into(), json!("Remote Interactive"));
            if let Some(source) = s.source {
                object.insert("src_endpoint".into(), endpoint(source));
            }
            status(object, true, None);
            if event.kind() == EventKind::RemoteSessionStarted {
                (1, "Logon")
            } else {
                object.insert("duration".into(), json!(s.duration_ms));
                (2, "Logoff")
            }
        }
        EventBody::DataRateSample(d) => {
            let device_endpoint = json!({ "uid": context.device.id.to_string() });
            match d.direction {
                Direction::Inbound => object.insert("dst_endpoint".into(), device_endpoint),
                Direction::Outbound | Direction::Unknown => {
                    object.insert("src_endpoint".into(), device_endpoint)
                }
            };
            object.insert(
                "traffic".into(),
                json!({ "bytes": d.bytes, "packets": d.messages }),
            );
            object.insert("duration".into(), json!(d.window_ms));
            object.insert(
                "unmapped".into(),
                json!({ "direction": fields::direction(d.direction) }),
            );
            (6, "Traffic")
        }
        EventBody::ProtocolViolation(p) => {
            let mut source = p.peer.map(endpoint);
            if let Some(id) = p.device_id {
                source.get_or_insert_with(|| json!({}))["uid"] = json!(id.to_string());
            }
            match source {
                Some(source) => object.insert("src_endpoint".into(), source),
                // With no peer address or id, only the observing device is
                // known.
                None => object.insert("dst_endpoint".into(), device_endpoint(context.device)),
            };
            status(object, false, Some(fields::violation_reason(p.reason)));
            (3, "Reset")
        }
        body => {
            let mut unmapped = Map::new();
            for (name, value) in fields::event_fields(body) {
                unmapped.insert(name.into(), json!(value));
            }
            object.insert("unmapped".into(), Value::Object(unmapped));
            (99, base_activity_name(body.kind()))
        }
    }
}

fn base_activity_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::PeripheralAttached => "Peripheral Attached",
        EventKind::PeripheralDetached => "Peripheral Detached",
        EventKind::Heartbeat => "Heartbeat",
        EventKind::SequenceAnomaly => "Sequence Anomaly",
        EventKind::EventsDropped => "Events Dropped",
        EventKind::ConfigurationError => "Configuration Error",
        EventKind::CollectionError => "Collection Error",
        EventKind::CommandAcknowledged => "Command Acknowledged",
        EventKind::Telemetry => "Telemetry",
        _ => "Other",
    }
}
