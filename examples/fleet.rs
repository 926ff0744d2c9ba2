//! The Palisade fleet: a gateway on 127.0.0.1, this machine's own state
//! through the Linux collectors, simulated devices over loopback TCP, and
//! the attacks each detection rule must catch.
//!
//! ```text
//! cargo run --release --example fleet -- [--out DIR] [--clean] [--devices N] [--mqtt 127.0.0.1:PORT]
//! ```
//!
//! `--out DIR` keeps the output there (default: a new folder under the
//! system's temporary directory); `--clean` plays no attack; `--devices N`
//! sets the number of simulated devices (default 50); `--mqtt ADDR` also
//! publishes the security output to a broker on loopback. The output folder
//! holds `security.jsonl` (OCSF, one object per line), `telemetry.jsonl`
//! and `inventory.sqlite`, plus the demo PKI under `pki/`.

use std::path::PathBuf;
use std::process::ExitCode;

use palisade_gateway::fleet::{FleetOptions, run};

const USAGE: &str = "\
usage: fleet [--out DIR] [--clean] [--devices N] [--mqtt 127.0.0.1:PORT]

  --out DIR     output folder (default: a new folder under the temporary directory)
  --clean       play no attack; simulated devices behave normally
  --devices N   number of simulated devices (default: 50)
  --mqtt ADDR   also publish the security output to the MQTT broker at ADDR (loopback only)
";

fn parse() -> Result<FleetOptions, String> {
    let mut options = FleetOptions {
        out: PathBuf::new(),
        devices: 50,
        clean: false,
        host_agent: true,
        mqtt: None,
    };
    let mut out = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => out = Some(PathBuf::from(args.next().ok_or("--out needs a folder")?)),
            "--clean" => options.clean = true,
            "--mqtt" => {
                let text = args.next().ok_or("--mqtt needs 127.0.0.1:PORT")?;
                options.mqtt = Some(text.parse().map_err(|_| {
                    format!(
                        "invalid --mqtt value {text:?}: expected an address such as 127.0.0.1:1883"
                    )
                })?);
            }
            "--devices" => {
                let text = args.next().ok_or("--devices needs a number")?;
                options.devices = text.parse().map_err(|_| {
                    format!("invalid --devices value {text:?}: expected a whole number")
                })?;
            }
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    options.out = match out {
        Some(out) => out,
        None => {
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            std::env::temp_dir().join(format!("palisade-fleet-{stamp}"))
        }
    };
    Ok(options)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let options = match parse() {
        Ok(options) => options,
        Err(message) if message.is_empty() => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("fleet: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("fleet: starting the async runtime failed: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "fleet: {} simulated devices, {}; output in {}",
        options.devices,
        if options.clean {
            "no attacks"
        } else {
            "with attacks"
        },
        options.out.display()
    );
    match runtime.block_on(run(&options)) {
        Ok(report) => {
            print!("{}", report.summary());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("fleet: {error}");
            ExitCode::FAILURE
        }
    }
}
