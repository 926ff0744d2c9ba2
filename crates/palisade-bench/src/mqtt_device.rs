//! The device side of the MQTT run: one MQTT 3.1.1 connection per device
//! that publishes each event as JSON (`serde_json` of the same
//! `palisade_schema` event) with QoS 1 on `devices/<device id>/events`.
//!
//! The client is a small MQTT 3.1.1 publisher written for this benchmark,
//! so that every byte it sends and receives is counted at the socket: it
//! sends CONNECT, waits for CONNACK, keeps at most [`IN_FLIGHT`]
//! unacknowledged PUBLISH packets and writes all the packets that fit the
//! window in one write, as a batching client does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::mix::{self, Scratch};
use crate::pki::device_id;
use crate::wire::{CountingStream, WireCounters};

/// Unacknowledged PUBLISH packets per device, equal to Palisade's transport
/// window so that both systems have the same number of events in flight.
pub const IN_FLIGHT: u64 = palisade_transport::WINDOW;

/// Appends the MQTT variable-length "remaining length" of `len`.
pub fn push_remaining_length(out: &mut Vec<u8>, mut len: usize) {
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if len == 0 {
            break;
        }
    }
}

fn push_string(out: &mut Vec<u8>, text: &[u8]) {
    out.extend_from_slice(&(text.len() as u16).to_be_bytes());
    out.extend_from_slice(text);
}

/// Appends a CONNECT packet (protocol level 4, clean session, keep-alive
/// 60 s) for `client_id`.
pub fn push_connect(out: &mut Vec<u8>, client_id: &str) {
    out.push(0x10);
    push_remaining_length(out, 10 + 2 + client_id.len());
    push_string(out, b"MQTT");
    out.push(4);
    out.push(0x02);
    out.extend_from_slice(&60u16.to_be_bytes());
    push_string(out, client_id.as_bytes());
}

/// Appends a QoS 1 PUBLISH packet.
pub fn push_publish(out: &mut Vec<u8>, topic: &str, packet_id: u16, payload: &[u8]) {
    out.push(0x32);
    push_remaining_length(out, 2 + topic.len() + 2 + payload.len());
    push_string(out, topic.as_bytes());
    out.extend_from_slice(&packet_id.to_be_bytes());
    out.extend_from_slice(payload);
}

/// Parses one packet from the start of `input`: returns (packet type byte,
/// body, total length), or `None` when the packet is not complete yet.
pub fn parse_packet(input: &[u8]) -> Option<(u8, &[u8], usize)> {
    let first = *input.first()?;
    let mut len = 0usize;
    let mut shift = 0;
    let mut index = 1;
    loop {
        let byte = *input.get(index)?;
        len |= usize::from(byte & 0x7f) << shift;
        index += 1;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 21 {
            return None;
        }
    }
    let end = index + len;
    (input.len() >= end).then(|| (first, &input[index..end], end))
}

/// Packet id of the `n`-th publish: 1 to 65,535, wrapping.
fn packet_id(n: u64) -> u16 {
    (n % 65_535) as u16 + 1
}

/// A connected MQTT device.
pub struct MqttDevice {
    index: u32,
    stream: CountingStream<TcpStream>,
    input: Vec<u8>,
}

/// Connects device `index` to the broker at `addr`.
pub async fn connect(
    addr: SocketAddr,
    index: u32,
    counters: Arc<WireCounters>,
) -> Result<MqttDevice, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connecting to the broker at {addr} failed: {e}"))?;
    let _ = stream.set_nodelay(true);
    let mut device = MqttDevice {
        index,
        stream: CountingStream::new(stream, counters),
        input: Vec::with_capacity(4096),
    };
    let mut out = Vec::new();
    push_connect(&mut out, &format!("dev-{}", hex::encode(device_id(index))));
    device
        .stream
        .write_all(&out)
        .await
        .map_err(|e| format!("sending CONNECT failed: {e}"))?;
    let (kind, body) = device.next_packet().await?;
    if kind >> 4 != 2 || body.get(1) != Some(&0) {
        return Err(format!(
            "broker refused device {index}: packet {kind:#04x}, body {body:02x?}"
        ));
    }
    Ok(device)
}

impl MqttDevice {
    async fn next_packet(&mut self) -> Result<(u8, Vec<u8>), String> {
        loop {
            if let Some((kind, body, used)) = parse_packet(&self.input) {
                let body = body.to_vec();
                self.input.drain(..used);
                return Ok((kind, body));
            }
            let mut chunk = [0u8; 4096];
            let read = self.stream.read(&mut chunk).await.map_err(|e| {
                format!("device {}: reading from the broker failed: {e}", self.index)
            })?;
            if read == 0 {
                return Err(format!(
                    "device {}: the broker closed the connection",
                    self.index
                ));
            }
            self.input.extend_from_slice(&chunk[..read]);
        }
    }

    /// Publishes events `0..events` and returns once every PUBACK arrived
    /// or `deadline` passed. Returns the number of events acknowledged.
    pub async fn send_events(mut self, events: u64, deadline: Instant) -> Result<u64, String> {
        let topic = format!("devices/{}/events", hex::encode(device_id(self.index)));
        let mut scratch = Scratch::default();
        let mut out = Vec::with_capacity(64 * 1024);
        let mut in_flight = std::collections::VecDeque::new();
        let mut acked = 0u64;
        let mut next = 0u64;
        while acked < events {
            if Instant::now() > deadline {
                return Err(format!(
                    "device {}: {acked} of {events} events acknowledged before the deadline",
                    self.index
                ));
            }
            out.clear();
            let now = crate::consumer::unix_us() / 1000;
            while next < events && (in_flight.len() as u64) < IN_FLIGHT {
                let event = mix::event(self.index, next, now, &mut scratch);
                let payload = serde_json::to_vec(&event)
                    .map_err(|e| format!("serializing event {next} failed: {e}"))?;
                push_publish(&mut out, &topic, packet_id(next), &payload);
                in_flight.push_back(packet_id(next));
                next += 1;
            }
            if !out.is_empty() {
                self.stream
                    .write_all(&out)
                    .await
                    .map_err(|e| format!("device {}: publishing failed: {e}", self.index))?;
            }
            let (kind, body) = self.next_packet().await?;
            if kind >> 4 == 4 && body.len() >= 2 {
                let id = u16::from_be_bytes([body[0], body[1]]);
                // The broker acknowledges in order for one connection.
                if in_flight.front() == Some(&id) {
                    in_flight.pop_front();
                    acked += 1;
                } else if let Some(position) = in_flight.iter().position(|p| *p == id) {
                    in_flight.remove(position);
                    acked += 1;
                }
            }
        }
        let _ = self.stream.write_all(&[0xE0, 0x00]).await;
        let _ = self.stream.shutdown().await;
        Ok(acked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_length_boundaries() {
        for (len, expected) in [
            (0usize, vec![0x00]),
            (127, vec![0x7f]),
            (128, vec![0x80, 0x01]),
            (16_383, vec![0xff, 0x7f]),
            (16_384, vec![0x80, 0x80, 0x01]),
        ] {
            let mut out = Vec::new();
            push_remaining_length(&mut out, len);
            assert_eq!(out, expected, "length {len}");
        }
    }

    #[test]
    fn publish_round_trip() {
        let mut out = Vec::new();
        push_publish(&mut out, "devices/x/events", 7, b"{}");
        let (kind, body, used) = parse_packet(&out).expect("complete packet");
        assert_eq!(kind, 0x32);
        assert_eq!(used, out.len());
        assert_eq!(&body[..2], &[0, 16]);
        assert_eq!(&body[18..20], &[0, 7]);
        assert_eq!(&body[20..], b"{}");
        assert_eq!(
            crate::consumer::mqtt_publish_bytes(16, 2),
            out.len() as u64 + 4
        );
    }

    #[test]
    fn parse_incomplete_packet() {
        assert_eq!(parse_packet(&[]), None);
        assert_eq!(parse_packet(&[0x40]), None);
        assert_eq!(parse_packet(&[0x40, 0x02, 0x00]), None);
        assert_eq!(
            parse_packet(&[0x40, 0x02, 0x00, 0x05]),
            Some((0x40, &[0u8, 5][..], 4))
        );
    }

    #[test]
    fn connect_packet_bytes() {
        let mut out = Vec::new();
        push_connect(&mut out, "ab");
        assert_eq!(
            out,
            [
                0x10, 14, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 2, b'a', b'b'
            ]
        );
    }

    #[test]
    fn packet_ids_skip_zero() {
        assert_eq!(packet_id(0), 1);
        assert_eq!(packet_id(65_534), 65_535);
        assert_eq!(packet_id(65_535), 1);
    }
}
