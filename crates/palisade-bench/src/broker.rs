//! A mosquitto broker started for one run on a free port of 127.0.0.1 and
//! stopped by the process id this module spawned.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running mosquitto.
pub struct Broker {
    child: Option<Child>,
    port: u16,
}

/// Finds the broker binary: `MOSQUITTO` if set, else `/usr/sbin/mosquitto`,
/// else `mosquitto` on the PATH.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("MOSQUITTO") {
        return PathBuf::from(path);
    }
    let debian = Path::new("/usr/sbin/mosquitto");
    if debian.exists() {
        return debian.to_path_buf();
    }
    PathBuf::from("mosquitto")
}

/// Returns the configuration of the run's broker: loopback only, anonymous,
/// no per-client queue limit (so that no QoS 1 message is dropped for a
/// slow subscriber) and no persistence.
pub fn config_text(port: u16, log: &Path, as_root: bool) -> String {
    let mut text = format!(
        "listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_queued_bytes 0\npersistence false\nlog_dest file {}\n",
        log.display()
    );
    // Started as root, mosquitto switches to the `mosquitto` user, which
    // cannot write into the run's temporary folder; `user root` keeps it.
    if as_root {
        text.push_str("user root\n");
    }
    text
}

fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

impl Broker {
    /// Starts a broker with its configuration and log in `dir`.
    pub fn start(dir: &Path) -> Result<Self, String> {
        let port = free_port().map_err(|e| format!("finding a free port failed: {e}"))?;
        let config = dir.join("mosquitto.conf");
        let log = dir.join("mosquitto.log");
        std::fs::write(&config, config_text(port, &log, running_as_root()))
            .map_err(|e| format!("writing {} failed: {e}", config.display()))?;
        let binary = binary();
        let child = Command::new(&binary)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {} failed: {e}", binary.display()))?;
        let mut broker = Self {
            child: Some(child),
            port,
        };
        let addr = broker.addr();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(broker);
            }
            if let Some(child) = &mut broker.child
                && let Ok(Some(status)) = child.try_wait()
            {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!("mosquitto exited with {status}; log: {text}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        broker.stop();
        Err(format!(
            "mosquitto did not accept connections on port {port} within 10 s"
        ))
    }

    /// Returns the broker's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Returns the broker's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Stops the broker with SIGTERM and waits for it to exit (SIGKILL after
    /// 10 s).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_loopback_lossless_without_persistence() {
        let text = config_text(18_830, Path::new("/tmp/x.log"), false);
        assert!(text.contains("listener 18830 127.0.0.1\n"));
        assert!(text.contains("max_queued_messages 0\n"));
        assert!(text.contains("persistence false\n"));
        assert!(!text.contains("user root"));
        assert!(config_text(1, Path::new("/tmp/x.log"), true).contains("user root\n"));
    }
}
