//! Host-side gateway peer of the QEMU firmware check (`examples/firmware/run-qemu.sh`).
//!
//! Listens on an ephemeral port of 127.0.0.1 and writes the port number to
//! the file named by the first argument, so that the script can start QEMU
//! with it. Then it accepts QEMU's UART0 connection, admits the firmware
//! with the credential crate's test fixture, receives the scripted events,
//! sends one signed command, and compares every record byte for byte with
//! the events the script must produce. Exits 0 only when all of them match; every wait is bounded.

use std::net::TcpListener;
use std::process::ExitCode;
use std::time::Duration;

use palisade_agent::link::CobsLink;
use palisade_agent::peer::{GatewayPeer, PeerRecord};
use palisade_credential::testkit::{FIXTURE_NOW, FixedRng, Fixture};
use palisade_credential::{Command, CommandAction, DeviceId, GatewayIdentity, MAX_COMMAND_LEN};
use palisade_schema::{
    CommandAcknowledged, CommandOutcome, Event, EventBody, EventKind, Header, HitCount, Severity,
    samples,
};
use palisade_transport::std_io::TcpIo;

/// Kinds the firmware records after its three snapshots, 1000 ms after
/// start and then every 100 ms (the firmware's `SCRIPT`).
const SCRIPT: [EventKind; 8] = [
    EventKind::Login,
    EventKind::NetworkConnection,
    EventKind::ListeningPortOpened,
    EventKind::ProcessStarted,
    EventKind::PeripheralAttached,
    EventKind::FileIntegrityChanged,
    EventKind::Telemetry,
    EventKind::ProcessExited,
];
/// Command id of the inventory request the peer sends.
const COMMAND_ID: u64 = 4242;

fn header(sequence: u64, uptime_ms: u64, severity: Severity) -> Header {
    Header {
        sequence,
        boot: 1,
        uptime_ms,
        wall_clock: None,
        severity,
        hit_count: HitCount::ONE,
        window_ms: 0,
    }
}

/// The events the firmware must send, indexed by header sequence number.
fn expected_events() -> Vec<Vec<u8>> {
    let mut events = Vec::new();
    for kind in [
        EventKind::SystemInfo,
        EventKind::SoftwareComponent,
        EventKind::BaselineCheck,
    ] {
        events.push(Event {
            header: header(events.len() as u64, 0, Severity::Info),
            body: samples::body(kind),
        });
    }
    for (index, kind) in SCRIPT.iter().enumerate() {
        events.push(Event {
            header: header(
                events.len() as u64,
                1_000 + 100 * index as u64,
                Severity::Medium,
            ),
            body: samples::body(*kind),
        });
    }
    events.push(Event {
        header: header(events.len() as u64, 2_700, Severity::Info),
        body: EventBody::CommandAcknowledged(CommandAcknowledged {
            command_id: COMMAND_ID,
            outcome: CommandOutcome::Executed,
            reason: None,
        }),
    });
    events.iter().map(|event| postcard_bytes(event)).collect()
}

fn postcard_bytes(event: &Event<'_>) -> Vec<u8> {
    let mut buffer = vec![0u8; palisade_schema::MAX_EVENT_LEN];
    let len = palisade_schema::to_slice(event, &mut buffer)
        .expect("an event fits MAX_EVENT_LEN")
        .len();
    buffer.truncate(len);
    buffer
}

fn run(port_file: &str) -> Result<(), String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind failed: {e}"))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    std::fs::write(port_file, address.port().to_string())
        .map_err(|e| format!("writing {port_file} failed: {e}"))?;
    eprintln!("firmware_peer: listening on {address}");
    listener.set_nonblocking(false).map_err(|e| e.to_string())?;
    let (stream, qemu) = accept_within(&listener, Duration::from_secs(60))?;
    eprintln!("firmware_peer: QEMU connected from {qemu}");
    let io = TcpIo::new(stream, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    let mut link = CobsLink::new(io, 100);

    let fixture = Fixture::new();
    let identity = GatewayIdentity {
        credential: &fixture.gateway,
        signer: &fixture.gateway_signer,
    };
    // 600 receive timeouts of 100 ms: at most a minute per wait.
    let mut peer = GatewayPeer::new(identity, fixture.verifier(), 600);
    let device = peer
        .accept(&mut link, &mut FixedRng::new(&[0x5A; 64]), FIXTURE_NOW)
        .map_err(|e| format!("handshake failed: {e}"))?;
    eprintln!(
        "firmware_peer: admitted device {:02x?}",
        device.device_id().0
    );

    let expected = expected_events();
    let mut records: Vec<PeerRecord> = Vec::new();
    let script_len = expected.len() - 1;
    while records.len() < script_len {
        if let Some(record) = peer
            .receive(&mut link)
            .map_err(|e| format!("receive failed: {e}"))?
        {
            records.push(record);
        }
    }
    let command = Command {
        version: palisade_credential::COMMAND_VERSION,
        action: CommandAction::RequestInventory,
        target: DeviceId(fixture.device_id),
        command_id: COMMAND_ID,
        counter: 1,
        not_after: FIXTURE_NOW + 3_600,
        signer_credential: &fixture.gateway,
    };
    let mut signed = [0u8; MAX_COMMAND_LEN];
    let len = command
        .sign(&fixture.gateway_signer, &mut signed)
        .map_err(|e| format!("signing the command failed: {e}"))?;
    peer.send_command(&mut link, &signed[..len])
        .map_err(|e| format!("sending the command failed: {e}"))?;
    while records.len() < expected.len() {
        if let Some(record) = peer
            .receive(&mut link)
            .map_err(|e| format!("receive failed: {e}"))?
        {
            records.push(record);
        }
    }
    check(&records, &expected)
}

fn accept_within(
    listener: &TcpListener,
    limit: Duration,
) -> Result<(std::net::TcpStream, std::net::SocketAddr), String> {
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let deadline = std::time::Instant::now() + limit;
    loop {
        match listener.accept() {
            Ok((stream, address)) => {
                stream.set_nonblocking(false).map_err(|e| e.to_string())?;
                return Ok((stream, address));
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                if std::time::Instant::now() >= deadline {
                    return Err(format!("QEMU did not connect within {limit:?}"));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(error) => return Err(format!("accept failed: {error}")),
        }
    }
}

fn check(records: &[PeerRecord], expected: &[Vec<u8>]) -> Result<(), String> {
    let mut seen = vec![false; expected.len()];
    for (index, record) in records.iter().enumerate() {
        if record.boot != 1 {
            return Err(format!("record {index}: boot {} instead of 1", record.boot));
        }
        if record.seq != index as u64 {
            return Err(format!(
                "record {index}: queue sequence {} instead of {index}",
                record.seq
            ));
        }
        let event = record
            .event()
            .map_err(|e| format!("record {index} does not decode: {e}"))?;
        let sequence = event.header.sequence as usize;
        let Some(want) = expected.get(sequence) else {
            return Err(format!(
                "record {index}: unexpected event sequence {sequence}"
            ));
        };
        if record.bytes != *want {
            return Err(format!(
                "record {index} (event {sequence}, {}): bytes differ\n got  {:02x?}\n want {:02x?}",
                event.kind().name(),
                record.bytes,
                want
            ));
        }
        if std::mem::replace(&mut seen[sequence], true) {
            return Err(format!("event {sequence} arrived twice"));
        }
    }
    if let Some(missing) = seen.iter().position(|seen| !seen) {
        return Err(format!("event {missing} never arrived"));
    }
    let bytes: usize = records.iter().map(|r| r.bytes.len()).sum();
    println!(
        "firmware_peer: all {} events match byte for byte ({bytes} bytes of events)",
        records.len()
    );
    Ok(())
}

fn main() -> ExitCode {
    let Some(port_file) = std::env::args().nth(1) else {
        eprintln!("usage: firmware_peer PORT_FILE");
        return ExitCode::from(2);
    };
    match run(&port_file) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("firmware_peer: FAIL: {error}");
            ExitCode::FAILURE
        }
    }
}
