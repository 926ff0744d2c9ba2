//! Child processes of the benchmark (this same executable with a hidden
//! subcommand) and their line protocol on standard output.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// A child process of this executable whose standard output lines arrive
/// on a channel.
pub struct ChildProcess {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl ChildProcess {
    /// Starts this executable with `args`; its standard error goes to
    /// `log`.
    pub fn spawn(name: &'static str, args: &[String], log: &Path) -> Result<Self, String> {
        let exe = std::env::current_exe()
            .map_err(|e| format!("finding the benchmark executable failed: {e}"))?;
        let log_file = std::fs::File::create(log)
            .map_err(|e| format!("creating {} failed: {e}", log.display()))?;
        let mut child = Command::new(exe)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .map_err(|e| format!("starting the {name} process failed: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| format!("the {name} process has no standard output"))?;
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            name,
            child,
            stdin,
            lines,
        })
    }

    /// Returns the process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until a line starting with `prefix` arrives and returns the
    /// rest of it, or fails after `timeout` or when the process ends.
    pub fn expect(&mut self, prefix: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return Ok(rest.trim().to_owned());
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "the {} process printed no {prefix} line within {} s",
                        self.name,
                        timeout.as_secs()
                    ));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!(
                        "the {} process ended before printing {prefix}",
                        self.name
                    ));
                }
            }
        }
    }

    /// Closes the child's standard input, the child's signal to stop.
    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// Waits for the child to exit, killing it after `timeout`.
    pub fn wait(mut self, timeout: Duration) {
        self.close_stdin();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        tracing::warn!(
            name = self.name,
            pid = self.child.id(),
            "child did not stop in time; killing it"
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
