//! A device and a gateway on 127.0.0.1: the device queues schema events in
//! palisade-wire's store-and-forward queue and sends them over a blocking
//! length-prefixed link; the gateway, on tokio, de-duplicates, acknowledges
//! with credit, and decodes each event.
//!
//! Run with `cargo run -p palisade-transport --example device_to_gateway`.
//!
//! Frames are checksummed here, to keep the example free of a crypto crate;
//! a real device and gateway use `FrameWriter::sealed` and
//! `FrameReader::sealed` with the session keys of their handshake.

use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

use palisade_schema::{Event, samples};
use palisade_transport::Clock;
use palisade_transport::link::{FramedLink, LinkConfig, LinkError};
use palisade_transport::message::Message;
use palisade_transport::reliable::{Receiver, Sender, SenderConfig, Verdict};
use palisade_transport::session::{FrameReader, FrameWriter, MAX_TRANSPORT_FRAME_LEN};
use palisade_transport::std_io::{StdClock, TcpIo};
use palisade_transport::tokio_link::TokioLink;
use palisade_wire::{MemoryStorage, OverflowPolicy, Queue};

const ROUNDS: usize = 16;

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let runtime = tokio::runtime::Runtime::new()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))?;
    let addr = listener.local_addr()?;
    let gateway = runtime.spawn(gateway(listener));

    let sent = thread::spawn(move || device(addr))
        .join()
        .map_err(|_| "device thread panicked")??;
    let received = runtime.block_on(gateway)??;
    println!("device queued {sent} events; gateway accepted {received}");
    assert_eq!(sent, received);
    Ok(())
}

/// Runs the device side: queue, sender, blocking link.
fn device(addr: SocketAddr) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    let mut queue = Queue::new(
        MemoryStorage::<262_144, 2_048>::new(),
        OverflowPolicy::DropOldest,
    );
    let events: Vec<Event<'static>> = samples::mixed_batch().collect();
    for _ in 0..ROUNDS {
        for event in &events {
            queue.push(event)?;
        }
    }
    // Nothing was dropped, so every queued record is one event.
    assert_eq!(queue.dropped_total(), 0);
    let total = queue.len();

    let stream = TcpStream::connect(addr)?;
    let clock = StdClock::new();
    let mut rx = [0u8; 256];
    let mut link = FramedLink::new(
        TcpIo::new(stream, Duration::from_secs(2))?,
        &mut rx,
        LinkConfig::stream(256, 50),
    );
    // The DATA header carries the device's boot counter, the one its events
    // carry too.
    let boot = events[0].header.boot;
    let mut sender: Sender<32> = Sender::new(boot, 0, SenderConfig::default());
    let mut writer = FrameWriter::checksummed();
    let mut reader = FrameReader::checksummed();
    let mut out = vec![0u8; MAX_TRANSPORT_FRAME_LEN];
    let mut next_to_register = 0u64;

    while !queue.is_empty() {
        // Register queued records the sender does not track yet.
        for (seq, _) in queue.iter() {
            if seq >= next_to_register && !sender.is_full() {
                sender.push(seq)?;
                next_to_register = seq + 1;
            }
        }
        while let Some(transmit) = sender.poll_transmit(clock.now_ms()) {
            let (_, record) = queue
                .iter()
                .find(|(seq, _)| *seq == transmit.header.seq)
                .ok_or("a record the sender tracks left the queue")?;
            let frame = writer.data(&transmit.header, record, &mut out)?;
            link.send(frame)?;
        }
        match link.recv(&clock) {
            Ok(frame) => {
                let mut bytes = frame.to_vec();
                if let Message::Ack(ack) = reader.read(&mut bytes)? {
                    sender.on_ack(&ack, |_| {});
                    // The queue acknowledges cumulatively: everything below
                    // the sender's base is delivered.
                    if let Some(delivered) = sender.base().checked_sub(1) {
                        queue.ack(delivered)?;
                    }
                }
            }
            Err(LinkError::Timeout {
                mid_frame: false, ..
            }) => {}
            Err(error) => return Err(error.into()),
        }
    }
    let stats = sender.stats();
    println!(
        "device: {} transmissions, {} retransmissions, {} acknowledged",
        stats.transmitted, stats.retransmitted, stats.acknowledged
    );
    Ok(total)
}

/// Runs the gateway side: one connection, one receiver.
async fn gateway(
    listener: tokio::net::TcpListener,
) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    let (stream, peer) = listener.accept().await?;
    println!("gateway: device connected from {peer}");
    let mut link = TokioLink::new(stream, LinkConfig::stream(256, 5_000));
    let mut reader = FrameReader::checksummed();
    let mut writer = FrameWriter::checksummed();
    let mut receiver = Receiver::new();
    let mut frame = vec![0u8; MAX_TRANSPORT_FRAME_LEN];
    let mut out = vec![0u8; 64];
    let mut accepted = 0usize;
    loop {
        let len = match link.recv().await {
            Ok(bytes) => {
                frame[..bytes.len()].copy_from_slice(bytes);
                bytes.len()
            }
            Err(LinkError::Closed) => break,
            Err(error) => return Err(error.into()),
        };
        let Message::Data { header, record } = reader.read(&mut frame[..len])? else {
            continue;
        };
        if receiver.classify(&header) == Verdict::New {
            let event: Event<'_> = palisade_schema::from_bytes(record)?;
            if accepted < 3 {
                println!(
                    "gateway: record {} holds event {} of boot {}",
                    header.seq, event.header.sequence, event.header.boot
                );
            }
            accepted += 1;
        }
        receiver.accept(&header);
        let ack = writer.ack(&receiver.ack_for(&header, 32), &mut out)?;
        link.send(ack).await?;
    }
    let stats = receiver.stats();
    println!(
        "gateway: {} accepted, {} duplicates dropped",
        stats.accepted, stats.duplicates
    );
    Ok(accepted)
}
