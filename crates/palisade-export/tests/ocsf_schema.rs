//! Checks every OCSF object the crate produces against the OCSF 1.3.0 slice
//! in `tests/data/ocsf-1.3.0/slice.json`.

mod common;

use palisade_export::{EventContext, ocsf};
use palisade_schema::{EventKind, HitCount, WallClock, samples};
use serde_json::Value;

fn slice() -> Value {
    let text = std::fs::read_to_string(common::test_path("data/ocsf-1.3.0/slice.json"))
        .expect("read OCSF slice");
    serde_json::from_str(&text).expect("parse OCSF slice")
}

fn present(value: Option<&Value>) -> bool {
    value.is_some_and(|value| !value.is_null())
}

/// Returns every violation of the slice's rules by `object`.
fn violations(slice: &Value, object: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let class_uid = object["class_uid"].as_u64().unwrap_or(u64::MAX);
    let Some(class) = slice["classes"].get(class_uid.to_string()) else {
        return vec![format!("class_uid {class_uid} is not in the slice")];
    };
    for name in slice["base_event"]["required"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(class["required"].as_array().into_iter().flatten())
    {
        let name = name.as_str().unwrap_or_default();
        if !present(object.get(name)) {
            problems.push(format!("required attribute {name} is missing"));
        }
    }
    let at_least_one: Vec<&str> = class["at_least_one"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !at_least_one.is_empty() && !at_least_one.iter().any(|name| present(object.get(*name))) {
        problems.push(format!("none of {at_least_one:?} is present"));
    }
    if object["category_uid"] != class["category_uid"] {
        problems.push(format!(
            "category_uid {} is not {}",
            object["category_uid"], class["category_uid"]
        ));
    }
    let activity_id = object["activity_id"].as_u64().unwrap_or(u64::MAX);
    if class["activity_id"].get(activity_id.to_string()).is_none() {
        problems.push(format!(
            "activity_id {activity_id} is not defined for class {class_uid}"
        ));
    }
    if object["type_uid"].as_u64() != Some(class_uid * 100 + activity_id) {
        problems.push(format!(
            "type_uid {} is not class_uid * 100 + activity_id",
            object["type_uid"]
        ));
    }
    if slice["severity_id"]
        .get(object["severity_id"].to_string())
        .is_none()
    {
        problems.push(format!(
            "severity_id {} is not defined",
            object["severity_id"]
        ));
    }
    if let Some(status_id) = object.get("status_id") {
        let table = if class_uid == 2004 {
            "finding_status_id"
        } else {
            "status_id"
        };
        if slice[table].get(status_id.to_string()).is_none() {
            problems.push(format!("status_id {status_id} is not defined"));
        }
    }
    if !object["time"].is_u64() {
        problems.push("time is not an integer number of milliseconds".into());
    }
    if object["metadata"]["version"] != slice["version"] {
        problems.push(format!(
            "metadata.version is {}",
            object["metadata"]["version"]
        ));
    }
    if object["metadata"]["product"]["name"] != "Palisade" {
        problems.push("metadata.product.name is not Palisade".into());
    }
    for (path, object_type) in slice["object_paths"].as_object().into_iter().flatten() {
        let definition = &slice["objects"][object_type.as_str().unwrap_or_default()];
        for (instance_path, instance) in resolve(object, path) {
            for name in definition["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !present(instance.get(name)) {
                    problems.push(format!("{instance_path}.{name} is required but missing"));
                }
            }
            let at_least_one: Vec<&str> = definition["at_least_one"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if !at_least_one.is_empty()
                && !at_least_one.iter().any(|name| present(instance.get(*name)))
            {
                problems.push(format!("{instance_path} has none of {at_least_one:?}"));
            }
            if let Some(values) = definition.get("type_id")
                && values.get(instance["type_id"].to_string()).is_none()
            {
                problems.push(format!(
                    "{instance_path}.type_id {} is not defined",
                    instance["type_id"]
                ));
            }
        }
    }
    problems
}

/// Follows a dotted path whose parts may end in `[]` (every array item).
fn resolve<'a>(root: &'a Value, path: &str) -> Vec<(String, &'a Value)> {
    let mut current = vec![(String::new(), root)];
    for part in path.split('.') {
        let (name, each) = match part.strip_suffix("[]") {
            Some(name) => (name, true),
            None => (part, false),
        };
        let mut next = Vec::new();
        for (prefix, value) in current {
            let Some(child) = value.get(name) else {
                continue;
            };
            let child_path = if prefix.is_empty() {
                name.to_owned()
            } else {
                format!("{prefix}.{name}")
            };
            if each {
                for (index, item) in child.as_array().into_iter().flatten().enumerate() {
                    next.push((format!("{child_path}[{index}]"), item));
                }
            } else {
                next.push((child_path, child));
            }
        }
        current = next;
    }
    current
}

#[test]
fn every_sample_event_conforms() {
    let slice = slice();
    let device = common::device();
    let origin = common::origin();
    let context = EventContext {
        device: &device,
        origin: &origin,
        received_unix_ms: common::RECEIVED_MS,
    };
    let mut kinds = 0;
    for event in samples::one_of_each() {
        let object = ocsf::event(&event, &context);
        let problems = violations(&slice, &object);
        assert!(
            problems.is_empty(),
            "{}: {problems:#?}\n{object:#}",
            event.kind().name()
        );
        kinds += 1;
    }
    assert_eq!(kinds, EventKind::ALL.len());
}

#[test]
fn finding_conforms_as_detection_finding() {
    let slice = slice();
    let object = ocsf::finding(&common::finding(), &common::origin());
    let problems = violations(&slice, &object);
    assert!(problems.is_empty(), "{problems:#?}\n{object:#}");
    assert_eq!(object["class_uid"], 2004);
    assert_eq!(object["type_uid"], 200_401);
    assert_eq!(
        object["finding_info"]["analytic"]["uid"],
        "brute_force_login"
    );
    assert_eq!(object["evidences"].as_array().map(Vec::len), Some(2));
    let device_id = common::device().id.to_string();
    assert_eq!(
        object["finding_info"]["related_events"][0]["uid"],
        format!("{device_id}:4:1005")
    );
    assert_eq!(object["evidences"][1]["data"]["sequence"], 1_009);
}

#[test]
fn checker_rejects_missing_required_attribute() {
    let slice = slice();
    let device = common::device();
    let origin = common::origin();
    let context = EventContext {
        device: &device,
        origin: &origin,
        received_unix_ms: common::RECEIVED_MS,
    };
    let login = samples::one_of_each()
        .find(|event| event.kind() == EventKind::Login)
        .expect("sample login");
    let mut object = ocsf::event(&login, &context);
    object.as_object_mut().expect("object").remove("user");
    object["metadata"]["product"]
        .as_object_mut()
        .expect("product")
        .remove("name");
    object["type_uid"] = 300_299.into();
    let problems = violations(&slice, &object);
    assert!(
        problems.iter().any(|problem| problem.contains("user")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|problem| problem.contains("type_uid")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|problem| problem.contains("metadata.product")),
        "{problems:?}"
    );
}

#[test]
fn kinds_map_to_expected_classes() {
    let expected = [
        (EventKind::ProcessStarted, 1007, 1),
        (EventKind::ProcessExited, 1007, 2),
        (EventKind::NetworkConnection, 4001, 6),
        (EventKind::ListeningPortOpened, 4001, 7),
        (EventKind::ListeningPortClosed, 4001, 2),
        (EventKind::Login, 3002, 1),
        (EventKind::FileIntegrityChanged, 1001, 3),
        (EventKind::SystemInfo, 5001, 1),
        (EventKind::BaselineCheck, 5002, 1),
        (EventKind::SoftwareComponent, 5020, 1),
        (EventKind::UnknownDevice, 3002, 1),
        (EventKind::CredentialRejected, 3002, 1),
        (EventKind::CommandRejected, 6003, 99),
        (EventKind::RemoteSessionStarted, 3002, 1),
        (EventKind::RemoteSessionEnded, 3002, 2),
        (EventKind::DataRateSample, 4001, 6),
        (EventKind::ProtocolViolation, 4001, 3),
        (EventKind::Heartbeat, 0, 99),
        (EventKind::Telemetry, 0, 99),
    ];
    let device = common::device();
    let origin = common::origin();
    let context = EventContext {
        device: &device,
        origin: &origin,
        received_unix_ms: common::RECEIVED_MS,
    };
    for (kind, class_uid, activity_id) in expected {
        let event = samples::one_of_each()
            .find(|event| event.kind() == kind)
            .expect("sample");
        let object = ocsf::event(&event, &context);
        assert_eq!(object["class_uid"], class_uid, "{}", kind.name());
        assert_eq!(object["activity_id"], activity_id, "{}", kind.name());
    }
}

#[test]
fn time_uses_synchronized_clock_only() {
    let device = common::device();
    let origin = common::origin();
    let context = EventContext {
        device: &device,
        origin: &origin,
        received_unix_ms: common::RECEIVED_MS,
    };
    let mut event = samples::one_of_each().next().expect("sample");
    let synchronized = ocsf::event(&event, &context);
    assert_eq!(synchronized["time"], 1_796_000_000_000u64);

    event.header.wall_clock = Some(WallClock {
        unix_ms: 5,
        synchronized: false,
    });
    event.header.hit_count = HitCount::new(3).expect("non-zero");
    event.header.window_ms = 2_000;
    let object = ocsf::event(&event, &context);
    assert_eq!(object["time"], common::RECEIVED_MS);
    assert_eq!(object["unmapped"]["device_clock_ms"], 5);
    assert_eq!(object["count"], 3);
    assert_eq!(object["end_time"], common::RECEIVED_MS + 2_000);
    assert!(violations(&slice(), &object).is_empty());
}

#[test]
fn telemetry_json_only_for_telemetry() {
    let device = common::device();
    let origin = common::origin();
    let context = EventContext {
        device: &device,
        origin: &origin,
        received_unix_ms: common::RECEIVED_MS,
    };
    for event in samples::one_of_each() {
        let json = ocsf::telemetry_json(&event, &context);
        if event.kind() == EventKind::Telemetry {
            let json = json.expect("telemetry form");
            assert_eq!(json["channel"], 3);
            assert_eq!(json["data_hex"], "0102007f40490fdb");
            assert_eq!(json["device_id"], device.id.to_string());
        } else {
            assert!(json.is_none(), "{}", event.kind().name());
        }
    }
}

#[test]
fn protocol_violation_without_peer_conforms() {
    use palisade_schema::{EventBody, ProtocolViolation, ProtocolViolationReason};
    let device = common::device();
    let origin = common::origin();
    let context = EventContext {
        device: &device,
        origin: &origin,
        received_unix_ms: common::RECEIVED_MS,
    };
    let mut event = samples::one_of_each()
        .find(|event| event.kind() == EventKind::ProtocolViolation)
        .expect("sample");
    event.body = EventBody::ProtocolViolation(ProtocolViolation {
        peer: None,
        device_id: None,
        reason: ProtocolViolationReason::Unresponsive,
    });
    let object = ocsf::event(&event, &context);
    let problems = violations(&slice(), &object);
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(object.get("src_endpoint").is_none());
    assert_eq!(object["dst_endpoint"]["uid"], device.id.to_string());
}
