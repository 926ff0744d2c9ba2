//! The receiving ends: a reader of the gateway's JSON Lines sinks and an
//! MQTT subscriber. Each runs in a child process, counts every event it
//! parses into a [`Tally`] and reports a [`ConsumerSummary`].
//!
//! Protocol with the parent: a consumer prints `READY` once it receives,
//! `DONE <unix µs>` when it has seen every expected event, and
//! `SUMMARY <json>` after its standard input closed.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use std::borrow::Cow;

use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::pki::device_index_hex;
use crate::stats::{Latency, Tally};

/// What a consumer saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConsumerSummary {
    /// Events expected.
    pub expected: u64,
    /// Expected events seen at least once.
    pub unique: u64,
    /// Expected events never seen.
    pub lost: u64,
    /// Extra arrivals of events already seen.
    pub duplicates: u64,
    /// Events outside the expected devices and sequence numbers.
    pub unexpected: u64,
    /// Lines or messages that are not device events of the run (findings,
    /// gateway events).
    pub other: u64,
    /// Lines or messages that did not parse.
    pub parse_errors: u64,
    /// When the last expected event was seen (Unix time, microseconds).
    pub done_unix_us: Option<u64>,
    /// End-to-end latency: time stamp in the event to parsed here.
    pub latency: Latency,
    /// MQTT only: bytes of the broker-to-subscriber leg, computed from the
    /// MQTT 3.1.1 encoding of each PUBLISH received and its PUBACK.
    pub computed_leg_bytes: u64,
}

/// Returns the current Unix time in microseconds.
pub fn unix_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_micros() as u64)
}

/// Starts a thread that sets the returned flag when standard input closes.
fn watch_stdin() -> Arc<AtomicBool> {
    let closed = Arc::new(AtomicBool::new(false));
    let flag = closed.clone();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buffer = [0u8; 64];
        while matches!(stdin.read(&mut buffer), Ok(n) if n > 0) {}
        flag.store(true, Ordering::Relaxed);
    });
    closed
}

fn say(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// Tally plus the bookkeeping shared by both consumers.
struct Counting {
    tally: Tally,
    other: u64,
    parse_errors: u64,
    done_unix_us: Option<u64>,
    computed_leg_bytes: u64,
}

impl Counting {
    fn new(devices: usize, events_per_device: u64) -> Self {
        Self {
            tally: Tally::new(devices, events_per_device),
            other: 0,
            parse_errors: 0,
            done_unix_us: None,
            computed_leg_bytes: 0,
        }
    }

    fn event(&mut self, device: Option<u32>, seq: Option<u64>, time_ms: Option<u64>) {
        let (Some(device), Some(seq)) = (device, seq) else {
            self.other += 1;
            return;
        };
        let now_ms = unix_us() / 1000;
        let latency = now_ms.saturating_sub(time_ms.unwrap_or(now_ms));
        let latency = u32::try_from(latency).unwrap_or(u32::MAX);
        if self.tally.record(device as usize, seq, latency) && self.tally.complete() {
            let now = unix_us();
            self.done_unix_us = Some(now);
            say(&format!("DONE {now}"));
        }
    }

    fn summary(mut self) -> ConsumerSummary {
        ConsumerSummary {
            expected: self.tally.expected(),
            unique: self.tally.unique(),
            lost: self.tally.lost(),
            duplicates: self.tally.duplicates(),
            unexpected: self.tally.unexpected(),
            other: self.other,
            parse_errors: self.parse_errors,
            done_unix_us: self.done_unix_us,
            latency: self.tally.latency(),
            computed_leg_bytes: self.computed_leg_bytes,
        }
    }
}

/// (device index, sequence, event time in ms) of one received event.
pub type Seen = (Option<u32>, Option<u64>, Option<u64>);

/// A JSON value read as an unsigned integer when it is one. Any other value
/// is parsed, skipped and read as `None`.
#[derive(Debug, Default, Clone, Copy)]
struct MaybeU64(Option<u64>);

impl<'de> Deserialize<'de> for MaybeU64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Any;
        impl<'de> Visitor<'de> for Any {
            type Value = MaybeU64;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_u64<E>(self, value: u64) -> Result<MaybeU64, E> {
                Ok(MaybeU64(Some(value)))
            }
            fn visit_i64<E>(self, value: i64) -> Result<MaybeU64, E> {
                Ok(MaybeU64(u64::try_from(value).ok()))
            }
            fn visit_f64<E>(self, _: f64) -> Result<MaybeU64, E> {
                Ok(MaybeU64(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<MaybeU64, E> {
                Ok(MaybeU64(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<MaybeU64, E> {
                Ok(MaybeU64(None))
            }
            fn visit_unit<E>(self) -> Result<MaybeU64, E> {
                Ok(MaybeU64(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MaybeU64, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(MaybeU64(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MaybeU64, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(MaybeU64(None))
            }
        }
        deserializer.deserialize_any(Any)
    }
}

/// The fields of a sink line that the reader needs; serde skips the rest
/// without building them.
#[derive(Deserialize)]
struct SinkLine<'a> {
    #[serde(default)]
    class_uid: MaybeU64,
    #[serde(default, borrow)]
    metadata: Option<SinkMetadata<'a>>,
    #[serde(default)]
    unmapped: Option<SinkUnmapped>,
    #[serde(default, borrow)]
    device_id: Option<Cow<'a, str>>,
    #[serde(default)]
    sequence: MaybeU64,
    #[serde(default)]
    time: MaybeU64,
}

#[derive(Deserialize)]
struct SinkMetadata<'a> {
    #[serde(default, borrow)]
    uid: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct SinkUnmapped {
    #[serde(default)]
    device_clock_ms: MaybeU64,
}

/// Parses one line of the gateway's OCSF sink (`metadata.uid` is
/// `device:boot:sequence`) or telemetry sink (`device_id`, `sequence`,
/// `time`) and returns the event's device index, sequence and time. Findings (OCSF class
/// 2004) and events of other devices return `None` for the device.
pub fn sink_line_event(line: &[u8]) -> Result<Seen, serde_json::Error> {
    let line: SinkLine<'_> = serde_json::from_slice(line)?;
    if let Some(uid) = line.metadata.and_then(|metadata| metadata.uid) {
        if line.class_uid.0 == Some(2004) {
            return Ok((None, None, None));
        }
        let mut parts = uid.split(':');
        let device = parts.next().and_then(device_index_hex);
        let seq = parts.nth(1).and_then(|s| s.parse().ok());
        let time = line
            .unmapped
            .and_then(|unmapped| unmapped.device_clock_ms.0);
        return Ok((device, seq, time));
    }
    let device = line.device_id.as_deref().and_then(device_index_hex);
    Ok((device, line.sequence.0, line.time.0))
}

/// Follows one JSON Lines file that grows (it is never rotated in a run).
struct Follower {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl Follower {
    /// Reads what was appended since the last call and hands each complete
    /// line to `line`. Returns the number of bytes read.
    fn poll(&mut self, mut line: impl FnMut(&[u8])) -> usize {
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return 0;
        };
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return 0;
        }
        let mut chunk = Vec::new();
        if file.read_to_end(&mut chunk).is_err() {
            return 0;
        }
        self.offset += chunk.len() as u64;
        self.partial.extend_from_slice(&chunk);
        let mut start = 0;
        while let Some(end) = self.partial[start..].iter().position(|b| *b == b'\n') {
            line(&self.partial[start..start + end]);
            start += end + 1;
        }
        self.partial.drain(..start);
        chunk.len()
    }
}

/// Follows `security.jsonl` and `telemetry.jsonl` in `out` until standard
/// input closes.
pub fn read_sinks(out: &Path, devices: usize, events_per_device: u64) -> ConsumerSummary {
    let closed = watch_stdin();
    let mut counting = Counting::new(devices, events_per_device);
    let mut followers = ["security.jsonl", "telemetry.jsonl"].map(|name| Follower {
        path: out.join(name),
        offset: 0,
        partial: Vec::new(),
    });
    say("READY");
    loop {
        // Read once more after the parent closed standard input, so that
        // what the gateway wrote while stopping is counted.
        let stopping = closed.load(Ordering::Relaxed);
        let mut read = 0;
        for follower in &mut followers {
            read += follower.poll(|line| match sink_line_event(line) {
                Ok((device, seq, time)) => counting.event(device, seq, time),
                Err(_) => counting.parse_errors += 1,
            });
        }
        if stopping {
            break;
        }
        if read == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    counting.summary()
}

/// The fields of an MQTT payload (an event as JSON) that the subscriber
/// needs; serde skips the rest without building them.
#[derive(Deserialize)]
struct MqttPayload {
    #[serde(default)]
    header: Option<MqttHeader>,
}

#[derive(Deserialize)]
struct MqttHeader {
    #[serde(default)]
    sequence: MaybeU64,
    #[serde(default)]
    wall_clock: Option<MqttClock>,
}

#[derive(Deserialize)]
struct MqttClock {
    #[serde(default)]
    unix_ms: MaybeU64,
}

/// Parses an MQTT message on `devices/<device id>/events` whose payload
/// is the event as JSON and returns its device index, sequence and time.
pub fn mqtt_message_event(topic: &str, payload: &[u8]) -> Result<Seen, serde_json::Error> {
    let payload: MqttPayload = serde_json::from_slice(payload)?;
    let device = topic
        .strip_prefix("devices/")
        .and_then(|rest| rest.strip_suffix("/events"))
        .and_then(device_index_hex);
    let header = payload.header;
    Ok((
        device,
        header.as_ref().and_then(|header| header.sequence.0),
        header
            .and_then(|header| header.wall_clock)
            .and_then(|clock| clock.unix_ms.0),
    ))
}

/// Bytes of a QoS 1 PUBLISH of `topic` and `payload` in MQTT 3.1.1, plus
/// its 4-byte PUBACK.
pub fn mqtt_publish_bytes(topic: usize, payload: usize) -> u64 {
    let remaining = 2 + topic + 2 + payload;
    let length_bytes = match remaining {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    };
    (1 + length_bytes + remaining + 4) as u64
}

/// Subscribes to `devices/+/events` with QoS 1 on the broker at
/// 127.0.0.1:`port` and counts every message until standard input closes.
pub fn subscribe(
    port: u16,
    devices: usize,
    events_per_device: u64,
) -> Result<ConsumerSummary, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime failed: {e}"))?;
    runtime.block_on(subscribe_async(port, devices, events_per_device))
}

async fn subscribe_async(
    port: u16,
    devices: usize,
    events_per_device: u64,
) -> Result<ConsumerSummary, String> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

    let closed = watch_stdin();
    let mut options = MqttOptions::new("palisade-bench-subscriber", "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_clean_session(false);
    options.set_max_packet_size(64 * 1024, 64 * 1024);
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    client
        .subscribe("devices/+/events", QoS::AtLeastOnce)
        .await
        .map_err(|e| format!("queueing the subscription failed: {e}"))?;
    let mut counting = Counting::new(devices, events_per_device);
    let mut stop_check = tokio::time::interval(Duration::from_millis(20));
    let mut idle_polls = 0;
    loop {
        tokio::select! {
            polled = eventloop.poll() => match polled {
                Ok(Event::Incoming(Packet::SubAck(_))) => say("READY"),
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    counting.computed_leg_bytes += mqtt_publish_bytes(publish.topic.len(), publish.payload.len());
                    match mqtt_message_event(&publish.topic, &publish.payload) {
                        Ok((device, seq, time)) => counting.event(device, seq, time),
                        Err(_) => counting.parse_errors += 1,
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::error!(%error, "MQTT subscriber connection failed; reconnecting");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = stop_check.tick() => {
                if closed.load(Ordering::Relaxed) {
                    // Give messages already on their way 200 ms more.
                    idle_polls += 1;
                    if idle_polls > 10 {
                        break;
                    }
                }
            }
        }
    }
    let _ = client.disconnect().await;
    Ok(counting.summary())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::device_id;

    #[test]
    fn sink_security_line() {
        let uid = format!("{}:1:42", hex::encode(device_id(9)));
        let value = serde_json::json!({
            "class_uid": 1007,
            "metadata": {"uid": uid},
            "unmapped": {"device_clock_ms": 1_796_000_000_500u64},
        });
        assert_eq!(
            sink_line_event(value.to_string().as_bytes()).unwrap(),
            (Some(9), Some(42), Some(1_796_000_000_500))
        );
    }

    #[test]
    fn sink_finding_is_not_an_event() {
        let value = serde_json::json!({
            "class_uid": 2004,
            "metadata": {"uid": "finding-1"},
        });
        assert_eq!(
            sink_line_event(value.to_string().as_bytes()).unwrap(),
            (None, None, None)
        );
    }

    #[test]
    fn sink_line_skips_fields_of_other_types() {
        // A `sequence` that is not a number and nested objects that the
        // reader does not use are skipped, not errors.
        let value = serde_json::json!({
            "device_id": hex::encode(device_id(4)),
            "sequence": "seven",
            "time": -5,
            "values": {"pressure": [1.5, {"unit": "kPa"}]},
        });
        assert_eq!(
            sink_line_event(value.to_string().as_bytes()).unwrap(),
            (Some(4), None, None)
        );
        assert!(sink_line_event(b"not json").is_err());
    }

    #[test]
    fn sink_telemetry_line() {
        let value = serde_json::json!({
            "device_id": hex::encode(device_id(3)),
            "sequence": 7,
            "time": 1_796_000_000_001u64,
        });
        assert_eq!(
            sink_line_event(value.to_string().as_bytes()).unwrap(),
            (Some(3), Some(7), Some(1_796_000_000_001))
        );
    }

    #[test]
    fn mqtt_event_from_serde_json() {
        let mut scratch = crate::mix::Scratch::default();
        let event = crate::mix::event(12, 5, 1_796_000_000_777, &mut scratch);
        let payload = serde_json::to_vec(&event).expect("event serializes");
        let topic = format!("devices/{}/events", hex::encode(device_id(12)));
        assert_eq!(
            mqtt_message_event(&topic, &payload).unwrap(),
            (Some(12), Some(5), Some(1_796_000_000_777))
        );
        assert_eq!(mqtt_message_event("other/topic", &payload).unwrap().0, None);
        assert!(mqtt_message_event(&topic, b"{\"header\":").is_err());
    }

    #[test]
    fn publish_size_encoding() {
        // 2 + 10 + 2 + 100 = 114 remaining: 1 length byte.
        assert_eq!(mqtt_publish_bytes(10, 100), 1 + 1 + 114 + 4);
        // 2 + 10 + 2 + 200 = 214 remaining: 2 length bytes.
        assert_eq!(mqtt_publish_bytes(10, 200), 1 + 2 + 214 + 4);
    }

    #[test]
    fn follower_splits_lines() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("x.jsonl");
        std::fs::write(&path, b"{\"a\":1}\n{\"b\":").expect("write");
        let mut follower = Follower {
            path: path.clone(),
            offset: 0,
            partial: Vec::new(),
        };
        let mut lines = Vec::new();
        follower.poll(|line| lines.push(line.to_vec()));
        assert_eq!(lines, vec![b"{\"a\":1}".to_vec()]);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        file.write_all(b"2}\n").expect("append");
        follower.poll(|line| lines.push(line.to_vec()));
        assert_eq!(lines[1], b"{\"b\":2}".to_vec());
    }
}
