//! The no_std agent core on the host, over an in-memory UART.
//!
//! Two threads share a byte pipe that behaves like a UART pair: the device
//! thread runs the agent exactly as firmware does (COBS frames on a byte
//! stream, fixed event script, heap-free core), and the main thread is the
//! gateway: it admits the device with the credential crate's test fixture,
//! receives the events, sends one signed command and checks every event it
//! got against the script. Exits 0 when all of them match.
//!
//! Run with `cargo run -p palisade-examples --example bare_metal_agent`.

use std::collections::VecDeque;
use std::process::ExitCode;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use palisade_agent::clock::ManualClock;
use palisade_agent::command::{CommandHandler, Execution, Safety, SafetyInterlock};
use palisade_agent::link::CobsLink;
use palisade_agent::peer::{GatewayPeer, PeerRecord};
use palisade_agent::persist::{MemoryFlash, STORE_LEN, SlotStore};
use palisade_agent::{Agent, AgentConfig, Device, NoSnapshots};
use palisade_credential::handshake::DeviceIdentity;
use palisade_credential::testkit::{FIXTURE_NOW, FixedRng, Fixture};
use palisade_credential::{
    Command, CommandAction, DeviceId, GatewayIdentity, MAX_COMMAND_LEN, SoftwareSigner,
    VerifiedCommand,
};
use palisade_schema::{CommandOutcome, EventBody, EventKind, Severity, samples};
use palisade_wire::MemoryStorage;

/// Events the device records, one every 250 ms of uptime.
const SCRIPT: [EventKind; 6] = [
    EventKind::Login,
    EventKind::ProcessStarted,
    EventKind::ListeningPortOpened,
    EventKind::PeripheralAttached,
    EventKind::FileIntegrityChanged,
    EventKind::Telemetry,
];
const COMMAND_ID: u64 = 7;

type Shared = Arc<(Mutex<VecDeque<u8>>, Condvar)>;

/// One end of an in-memory UART: bytes written here arrive at the other end.
struct UartEnd {
    incoming: Shared,
    outgoing: Shared,
    timeout: Duration,
}

fn uart_pair() -> (UartEnd, UartEnd) {
    let a: Shared = Arc::default();
    let b: Shared = Arc::default();
    let end = |incoming: &Shared, outgoing: &Shared| UartEnd {
        incoming: Arc::clone(incoming),
        outgoing: Arc::clone(outgoing),
        timeout: Duration::from_millis(10),
    };
    (end(&a, &b), end(&b, &a))
}

#[derive(Debug)]
struct UartTimedOut;

impl std::fmt::Display for UartTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no byte within the read timeout")
    }
}

impl std::error::Error for UartTimedOut {}

impl embedded_io::Error for UartTimedOut {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::TimedOut
    }
}

impl embedded_io::ErrorType for UartEnd {
    type Error = UartTimedOut;
}

impl embedded_io::Read for UartEnd {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, UartTimedOut> {
        let (bytes, ready) = &*self.incoming;
        let guard = bytes.lock().map_err(|_| UartTimedOut)?;
        let (mut guard, _) = ready
            .wait_timeout_while(guard, self.timeout, |bytes| bytes.is_empty())
            .map_err(|_| UartTimedOut)?;
        if guard.is_empty() {
            return Err(UartTimedOut);
        }
        let count = buf.len().min(guard.len());
        for (slot, byte) in buf.iter_mut().zip(guard.drain(..count)) {
            *slot = byte;
        }
        Ok(count)
    }
}

impl embedded_io::Write for UartEnd {
    fn write(&mut self, buf: &[u8]) -> Result<usize, UartTimedOut> {
        let (bytes, ready) = &*self.outgoing;
        bytes.lock().map_err(|_| UartTimedOut)?.extend(buf);
        ready.notify_all();
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), UartTimedOut> {
        Ok(())
    }
}

impl palisade_transport::link::BoundedRead for UartEnd {
    fn set_read_timeout_ms(&mut self, timeout_ms: u64) -> Result<(), UartTimedOut> {
        self.timeout = Duration::from_millis(timeout_ms.max(1));
        Ok(())
    }
}

struct Pump;

impl SafetyInterlock for Pump {
    fn check(&self, _action: &CommandAction) -> Safety {
        Safety::Safe
    }
}

impl CommandHandler for Pump {
    fn execute(&mut self, command: &VerifiedCommand) -> Execution {
        println!(
            "device: executing {} (command {})",
            command.action.name(),
            command.command_id
        );
        Execution::Executed
    }
}

/// Runs the device thread: the agent core with a fixed script. Returns an
/// error text when a step fails.
fn run_device(uart: UartEnd) -> Result<(), String> {
    let fixture = Fixture::new();
    let identity = DeviceIdentity {
        intermediate: &fixture.intermediate,
        credential: &fixture.device,
        signer: &fixture.device_signer,
    };
    let config = AgentConfig {
        heartbeat_interval_ms: None,
        system_info_interval_ms: None,
        sbom_interval_ms: None,
        baseline_interval_ms: None,
        aggregation_window_ms: 0,
        ..AgentConfig::default()
    };
    let persist = SlotStore::new(MemoryFlash::<STORE_LEN>::new()).map_err(|e| e.to_string())?;
    let mut agent: Agent<'_, MemoryStorage<4096, 32>, _, SoftwareSigner, 4, 256> = Agent::new(
        config,
        identity,
        fixture.roots(),
        DeviceId(fixture.device_id),
        MemoryStorage::new(),
        persist,
    )
    .map_err(|e| e.to_string())?;
    let mut link = CobsLink::new(uart, 10);
    let clock = ManualClock::new(0);
    agent
        .connect(&mut link, &clock, &mut FixedRng::new(&[0x21; 64]))
        .map_err(|e| format!("handshake failed: {e}"))?;
    println!(
        "device: session {:02x?}",
        agent.session_id().unwrap_or_default()
    );

    let mut pump = Pump;
    let interlock = Pump;
    let mut device = Device {
        sources: &mut [],
        snapshots: &mut NoSnapshots,
        handler: &mut pump,
        interlock: &interlock,
    };
    for kind in SCRIPT {
        clock.advance(250);
        agent.record(&clock, Severity::Medium, &samples::body(kind));
        agent
            .poll(&mut link, &clock, &mut device)
            .map_err(|e| format!("poll failed: {e}"))?;
    }
    for _ in 0..1_000 {
        if agent.counters().commands_executed == 1 && agent.queued() == 0 {
            let counters = agent.counters();
            println!(
                "device: sent {}, retried {}, acknowledged {}, dropped {}",
                counters.sent, counters.retried, counters.acknowledged, counters.dropped
            );
            return Ok(());
        }
        agent
            .poll(&mut link, &clock, &mut device)
            .map_err(|e| format!("poll failed: {e}"))?;
    }
    Err("the command or the acknowledgements did not arrive within 1000 polls".into())
}

fn run_gateway(uart: UartEnd) -> Result<Vec<PeerRecord>, String> {
    let fixture = Fixture::new();
    let identity = GatewayIdentity {
        credential: &fixture.gateway,
        signer: &fixture.gateway_signer,
    };
    let mut link = CobsLink::new(uart, 10);
    // 500 receive timeouts of 10 ms: at most 5 s per wait.
    let mut peer = GatewayPeer::new(identity, fixture.verifier(), 500);
    let device = peer
        .accept(&mut link, &mut FixedRng::new(&[0x42; 64]), FIXTURE_NOW)
        .map_err(|e| format!("admission failed: {e}"))?;
    println!("gateway: admitted device {:02x?}", device.device_id().0);

    let mut records = Vec::new();
    while records.len() < SCRIPT.len() {
        if let Some(record) = peer.receive(&mut link).map_err(|e| e.to_string())? {
            records.push(record);
        }
    }
    let command = Command {
        version: palisade_credential::COMMAND_VERSION,
        action: CommandAction::RequestInventory,
        target: DeviceId(fixture.device_id),
        command_id: COMMAND_ID,
        counter: 1,
        not_after: FIXTURE_NOW + 60,
        signer_credential: &fixture.gateway,
    };
    let mut signed = [0u8; MAX_COMMAND_LEN];
    let len = command
        .sign(&fixture.gateway_signer, &mut signed)
        .map_err(|e| e.to_string())?;
    peer.send_command(&mut link, &signed[..len])
        .map_err(|e| e.to_string())?;
    while records.len() < SCRIPT.len() + 1 {
        if let Some(record) = peer.receive(&mut link).map_err(|e| e.to_string())? {
            records.push(record);
        }
    }
    Ok(records)
}

fn check(records: &[PeerRecord]) -> Result<(), String> {
    let mut events = Vec::new();
    for record in records {
        events.push(
            record
                .event()
                .map_err(|e| format!("event does not decode: {e}"))?,
        );
    }
    events.sort_by_key(|event| event.header.sequence);
    for (index, kind) in SCRIPT.iter().enumerate() {
        let event = &events[index];
        let expected = samples::body(*kind);
        if event.header.sequence != index as u64
            || event.header.uptime_ms != 250 * (index as u64 + 1)
            || event.header.boot != 1
            || event.body != expected
        {
            return Err(format!("event {index} differs from the script: {event:?}"));
        }
        println!(
            "gateway: event {} {} at {} ms",
            event.header.sequence,
            event.kind().name(),
            event.header.uptime_ms
        );
    }
    match &events[SCRIPT.len()].body {
        EventBody::CommandAcknowledged(ack)
            if ack.command_id == COMMAND_ID && ack.outcome == CommandOutcome::Executed =>
        {
            println!("gateway: command {COMMAND_ID} acknowledged as executed");
            Ok(())
        }
        other => Err(format!(
            "expected the command's acknowledgement, got {other:?}"
        )),
    }
}

fn main() -> ExitCode {
    let (device_end, gateway_end) = uart_pair();
    let device = thread::spawn(move || run_device(device_end));
    let gateway = run_gateway(gateway_end);
    let device = device
        .join()
        .unwrap_or_else(|_| Err("device thread panicked".into()));
    let result = device.and(gateway).and_then(|records| check(&records));
    match result {
        Ok(()) => {
            println!("bare_metal_agent: every event matched the script");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("bare_metal_agent: FAIL: {error}");
            ExitCode::FAILURE
        }
    }
}
