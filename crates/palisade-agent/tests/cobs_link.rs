//! The COBS link: frames of every awkward length survive the byte stream,
//! split into reads of any size, and a corrupt frame is dropped and counted.

use palisade_agent::link::{CobsLink, FRAME_CAPACITY, Link};
use palisade_wire::cobs;

/// A byte stream over two in-memory buffers; reads return at most `chunk`
/// bytes and time out when the input is used up.
struct Bytes {
    input: Vec<u8>,
    position: usize,
    chunk: usize,
    output: Vec<u8>,
}

#[derive(Debug)]
struct TimedOut;

impl core::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("timed out")
    }
}

impl core::error::Error for TimedOut {}

impl embedded_io::Error for TimedOut {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::TimedOut
    }
}

impl embedded_io::ErrorType for Bytes {
    type Error = TimedOut;
}

impl embedded_io::Read for Bytes {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, TimedOut> {
        let rest = &self.input[self.position..];
        if rest.is_empty() {
            return Err(TimedOut);
        }
        let count = rest.len().min(buf.len()).min(self.chunk);
        buf[..count].copy_from_slice(&rest[..count]);
        self.position += count;
        Ok(count)
    }
}

impl embedded_io::Write for Bytes {
    fn write(&mut self, buf: &[u8]) -> Result<usize, TimedOut> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), TimedOut> {
        Ok(())
    }
}

impl palisade_transport::link::BoundedRead for Bytes {
    fn set_read_timeout_ms(&mut self, _timeout_ms: u64) -> Result<(), TimedOut> {
        Ok(())
    }
}

fn stream(input: Vec<u8>, chunk: usize) -> Bytes {
    Bytes {
        input,
        position: 0,
        chunk,
        output: Vec::new(),
    }
}

/// Frames at the COBS block boundaries, with zeros in awkward places.
fn frames() -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    for len in [
        1,
        2,
        253,
        254,
        255,
        256,
        507,
        508,
        509,
        1000,
        FRAME_CAPACITY,
    ] {
        frames.push((0..len).map(|i| (i % 251 + 1) as u8).collect());
        frames.push(vec![0; len]);
        let mut zero_at_block_end: Vec<u8> = (0..len).map(|i| (i % 200 + 1) as u8).collect();
        for index in [253, 254, len - 1] {
            if index < len {
                zero_at_block_end[index] = 0;
            }
        }
        frames.push(zero_at_block_end);
    }
    frames
}

#[test]
fn sent_bytes_are_standard_cobs() {
    for frame in frames() {
        let mut link = CobsLink::new(stream(Vec::new(), 1), 1);
        link.send(&frame).expect("sends");
        let written = link.get_mut().output.clone();
        assert_eq!(
            written.last(),
            Some(&0),
            "delimiter after {} bytes",
            frame.len()
        );
        assert!(written.len() <= cobs::max_encoded_len(frame.len()));
        let mut reference = vec![0u8; cobs::max_encoded_len(frame.len())];
        let len = cobs::encode(&frame, &mut reference).expect("fits");
        let mut decoded = written.clone();
        let decoded_len = cobs::decode_in_place(&mut decoded).expect("decodes");
        assert_eq!(
            &decoded[..decoded_len],
            frame.as_slice(),
            "len {}",
            frame.len()
        );
        // The wire crate's encoder may differ only in a trailing empty block.
        assert!(
            written == reference[..len] || written.len() == len + 1,
            "len {}",
            frame.len()
        );
    }
}

#[test]
fn frames_round_trip_in_any_read_size() {
    let frames = frames();
    let mut encoded = Vec::new();
    for frame in &frames {
        let mut link = CobsLink::new(stream(Vec::new(), 1), 1);
        link.send(frame).expect("sends");
        encoded.extend_from_slice(&link.get_mut().output);
    }
    for chunk in [1, 7, 64, 4096] {
        let mut link = CobsLink::new(stream(encoded.clone(), chunk), 1);
        let mut buffer = vec![0u8; FRAME_CAPACITY];
        for (index, frame) in frames.iter().enumerate() {
            let len = link
                .recv(&mut buffer)
                .expect("receives")
                .unwrap_or_else(|| panic!("frame {index} arrived with chunk {chunk}"));
            assert_eq!(
                &buffer[..len],
                frame.as_slice(),
                "frame {index}, chunk {chunk}"
            );
        }
        assert_eq!(link.recv(&mut buffer).expect("idle"), None);
        assert_eq!(link.stats().frames_received, frames.len() as u64);
    }
}

#[test]
fn corrupt_frame_is_dropped_and_counted() {
    let mut encoded = Vec::new();
    for frame in [b"first".as_slice(), b"second", b"third"] {
        let mut link = CobsLink::new(stream(Vec::new(), 1), 1);
        link.send(frame).expect("sends");
        encoded.extend_from_slice(&link.get_mut().output);
    }
    // The second frame's code byte claims a longer block than the frame has.
    let second = encoded.iter().position(|b| *b == 0).expect("delimiter") + 1;
    encoded[second] = 0x20;
    let mut link = CobsLink::new(stream(encoded, 3), 1);
    let mut buffer = [0u8; 64];
    let len = link.recv(&mut buffer).expect("ok").expect("first");
    assert_eq!(&buffer[..len], b"first");
    let len = link.recv(&mut buffer).expect("ok").expect("third");
    assert_eq!(&buffer[..len], b"third");
    assert_eq!(link.stats().frames_dropped, 1);
}

#[test]
fn frame_longer_than_buffer_is_an_error() {
    let mut link = CobsLink::new(stream(Vec::new(), 1), 1);
    link.send(&[7u8; 100]).expect("sends");
    let encoded = link.get_mut().output.clone();
    let mut link = CobsLink::new(stream(encoded, 64), 1);
    let mut small = [0u8; 99];
    assert!(link.recv(&mut small).is_err());
}

#[test]
fn frame_capacity_boundary() {
    for (len, accepted) in [(FRAME_CAPACITY, true), (FRAME_CAPACITY + 1, false)] {
        let mut link = CobsLink::new(stream(Vec::new(), 1), 1);
        link.send(&vec![9u8; len]).expect("sends");
        let encoded = link.get_mut().output.clone();
        let mut link = CobsLink::new(stream(encoded, 64), 1);
        let mut buffer = vec![0u8; FRAME_CAPACITY + 1];
        let received = link.recv(&mut buffer).expect("no I/O error");
        assert_eq!(received.is_some(), accepted, "frame of {len} bytes");
        assert_eq!(link.stats().frames_dropped, u64::from(!accepted));
    }
}

#[test]
fn stream_link_keeps_partial_frame_across_polls() {
    use palisade_agent::link::StreamLink;

    let frames: Vec<Vec<u8>> = vec![vec![1, 0, 2], vec![0; 700], vec![5; FRAME_CAPACITY]];
    let mut encoded = Vec::new();
    for frame in &frames {
        let mut link = StreamLink::new(stream(Vec::new(), 1), 1);
        link.send(frame).expect("sends");
        encoded.extend_from_slice(&link.get_mut().output);
    }
    assert_eq!(&encoded[..7], &[0, 0, 0, 3, 1, 0, 2]);

    // Deliver the bytes in two halves: the first poll ends mid-frame.
    let half = encoded.len() / 2;
    let mut link = StreamLink::new(stream(encoded[..half].to_vec(), 5), 1);
    let mut buffer = vec![0u8; FRAME_CAPACITY];
    let mut received = Vec::new();
    while let Some(len) = link.recv(&mut buffer).expect("no error") {
        received.push(buffer[..len].to_vec());
    }
    link.get_mut().input.extend_from_slice(&encoded[half..]);
    while let Some(len) = link.recv(&mut buffer).expect("no error") {
        received.push(buffer[..len].to_vec());
    }
    assert_eq!(received, frames);
}

#[test]
fn stream_link_length_boundary() {
    use palisade_agent::link::StreamLink;

    for (len, accepted) in [
        (FRAME_CAPACITY, true),
        (FRAME_CAPACITY + 1, false),
        (0, false),
    ] {
        let mut input = (len as u32).to_be_bytes().to_vec();
        input.extend(std::iter::repeat_n(3u8, len));
        let mut link = StreamLink::new(stream(input, 64), 1);
        let mut buffer = vec![0u8; FRAME_CAPACITY + 1];
        let result = link.recv(&mut buffer);
        assert_eq!(result.is_ok(), accepted, "declared length {len}");
    }
}
