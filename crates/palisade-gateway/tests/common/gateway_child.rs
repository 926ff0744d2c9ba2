//! Runs `palisade-gateway run` as a child process on loopback, with its
//! stderr log captured line by line.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::device_sim::PkiFiles;

/// A running gateway process.
pub struct GatewayChild {
    child: Child,
    /// The device listener's address, read from the startup log.
    pub addr: SocketAddr,
    /// The output folder (sinks and database).
    pub out: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
}

/// Removes ANSI colour sequences, in case the log writer adds them.
fn strip_ansi(line: &str) -> String {
    let mut text = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for end in chars.by_ref() {
                if end.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            text.push(c);
        }
    }
    text
}

impl GatewayChild {
    /// Writes `gateway.toml` into `out` (listener on 127.0.0.1 with an
    /// ephemeral port, database and sinks under `out`, metrics endpoint
    /// off) followed by `extra` TOML, starts the binary and waits at most
    /// 60 s for its listener.
    pub fn start(out: &Path, pki: &PkiFiles, admissions_per_source: u32, extra: &str) -> Self {
        std::fs::create_dir_all(out).expect("creating the gateway folder");
        let config = out.join("gateway.toml");
        let text = format!(
            "[listener]\naddress = \"127.0.0.1:0\"\nadmissions_per_source_per_minute = {admissions_per_source}\n\n\
             [paths]\ndatabase = {database:?}\noutput = {output:?}\n\n\
             [metrics]\nenabled = false\n\n{extra}\n",
            database = out.join("inventory.sqlite"),
            output = out,
        );
        std::fs::write(&config, text).expect("writing gateway.toml");
        let mut child = Command::new(env!("CARGO_BIN_EXE_palisade-gateway"))
            .arg("run")
            .arg("--config")
            .arg(&config)
            .arg("--device-root")
            .arg(&pki.device_root)
            .arg("--gateway-credential")
            .arg(&pki.gateway_credential)
            .arg("--gateway-key")
            .arg(&pki.gateway_key)
            .arg("--drain-secs")
            .arg("60")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting palisade-gateway");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(strip_ansi(&line));
            }
        });
        let started = Instant::now();
        let addr = loop {
            let found = log
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .find(|line| line.contains("gateway started"))
                .and_then(|line| {
                    let start = line.find("address=")? + "address=".len();
                    line[start..].split_whitespace().next()?.parse().ok()
                });
            if let Some(addr) = found {
                break addr;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "palisade-gateway exited with {status} before listening:\n{}",
                    log.lock().unwrap_or_else(|p| p.into_inner()).join("\n")
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "palisade-gateway did not log \"gateway started\" within 60 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Self {
            child,
            addr,
            out: out.to_path_buf(),
            log,
        }
    }

    /// Returns the process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reads a `kB` field such as `VmHWM` or `VmRSS` from
    /// `/proc/<pid>/status`, in bytes.
    pub fn status_bytes(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("reading the gateway's /proc status");
        status
            .lines()
            .find_map(|line| {
                let rest = line.strip_prefix(field)?.strip_prefix(':')?;
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map(|kb| kb * 1024)
            .unwrap_or_else(|| panic!("{field} missing from /proc/{}/status", self.pid()))
    }

    /// Returns the CPU time (user and system) the gateway has used.
    pub fn cpu_time(&self) -> Duration {
        cpu_time(&format!("/proc/{}/stat", self.pid()))
    }

    /// Returns the log lines captured so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits at most `limit` for a log line containing every one of
    /// `parts`; returns it.
    pub fn wait_for_log(&self, parts: &[&str], limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            let found = self
                .log()
                .into_iter()
                .find(|line| parts.iter().all(|part| line.contains(part)));
            if found.is_some() || Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM and waits at most `limit` for a clean exit, which
    /// drains the outbox into the sinks.
    pub fn stop(mut self, limit: Duration) -> Vec<String> {
        let pid = rustix::process::Pid::from_raw(self.pid() as i32).expect("nonzero pid");
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)
            .expect("sending SIGTERM to the gateway");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the gateway") {
                assert!(status.success(), "palisade-gateway exited with {status}");
                break;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("palisade-gateway did not stop within {limit:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // The reader thread sees end of file after the exit.
        std::thread::sleep(Duration::from_millis(100));
        self.log()
    }
}

impl Drop for GatewayChild {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Raises this process's soft limit of open files to its hard limit and
/// returns the new soft limit.
pub fn raise_open_files_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    setrlimit(Resource::Nofile, limit).expect("raising the soft open files limit");
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// Reads the user and system CPU time from a `/proc/<pid>/stat` file.
pub fn cpu_time(path: &str) -> Duration {
    let stat = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    // Fields after the command name, which is in parentheses and may hold
    // spaces: utime and stime are fields 14 and 15 of the whole line.
    let after = &stat[stat.rfind(')').expect("stat has a command name") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    let per_second = rustix::param::clock_ticks_per_second();
    Duration::from_secs_f64(ticks as f64 / per_second as f64)
}
