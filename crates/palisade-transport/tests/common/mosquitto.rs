//! Starts and stops real mosquitto brokers on 127.0.0.1 for the MQTT tests.
//!
//! Each broker gets a free port, a configuration written into its own
//! temporary folder (based on `examples/mosquitto-lossless.conf`) and a
//! persistence folder there. Brokers are stopped by the process id this file
//! spawned, never by name.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LOSSLESS_CONFIG: &str = include_str!("../../examples/mosquitto-lossless.conf");

/// A mosquitto process started by a test.
pub struct Broker {
    child: Option<Child>,
    port: u16,
    tls_port: Option<u16>,
    dir: tempfile::TempDir,
}

/// Finds the broker binary: `MOSQUITTO` if set, else the Debian path, else
/// `mosquitto` on the PATH.
fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MOSQUITTO") {
        return Some(PathBuf::from(path));
    }
    let debian = Path::new("/usr/sbin/mosquitto");
    if debian.exists() {
        return Some(debian.to_path_buf());
    }
    let found = Command::new("mosquitto")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    found.then(|| PathBuf::from("mosquitto"))
}

/// Starts a broker, or explains why it cannot. With `MOSQUITTO_REQUIRED=1`
/// a broker that cannot start fails the test; without it the test is
/// skipped with the printed reason.
pub fn start_or_skip(test: &str) -> Option<Broker> {
    skip_unless_required(test, Broker::start())
}

/// Like [`start_or_skip`], with a second, TLS listener whose certificates
/// (a throwaway CA and a server certificate for IP 127.0.0.1) are made with
/// the `openssl` command.
pub fn start_tls_or_skip(test: &str) -> Option<Broker> {
    skip_unless_required(test, Broker::start_with_tls())
}

/// Like [`start_or_skip`], with mosquitto's default queue limits.
pub fn start_default_limits_or_skip(test: &str) -> Option<Broker> {
    skip_unless_required(test, Broker::start_with_default_limits())
}

fn skip_unless_required(test: &str, started: Result<Broker, String>) -> Option<Broker> {
    match started {
        Ok(broker) => Some(broker),
        Err(reason) => {
            let required = std::env::var("MOSQUITTO_REQUIRED").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "{test}: MOSQUITTO_REQUIRED=1 but no broker could start: {reason}"
            );
            eprintln!("{test}: skipped, no mosquitto broker: {reason}");
            None
        }
    }
}

impl Broker {
    /// Starts a broker with persistence on a free loopback port.
    pub fn start() -> Result<Self, String> {
        Self::start_inner(false, true)
    }

    /// Starts a broker with a plain and a TLS listener.
    pub fn start_with_tls() -> Result<Self, String> {
        Self::start_inner(true, true)
    }

    /// Starts a broker with mosquitto's default per-client queue limits
    /// (the lossless configuration without its `max_queued_*` lines).
    pub fn start_with_default_limits() -> Result<Self, String> {
        Self::start_inner(false, false)
    }

    fn start_inner(tls: bool, lossless: bool) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temporary folder: {e}"))?;
        let port = free_port().map_err(|e| format!("free port: {e}"))?;
        let mut config = String::new();
        for line in LOSSLESS_CONFIG.lines() {
            let key = line.split_whitespace().next().unwrap_or("");
            let limit = matches!(key, "max_queued_messages" | "max_queued_bytes");
            if !matches!(key, "listener" | "persistence_location") && (lossless || !limit) {
                config.push_str(line);
                config.push('\n');
            }
        }
        let persistence = dir.path().join("db");
        std::fs::create_dir_all(&persistence).map_err(|e| format!("persistence folder: {e}"))?;
        config.push_str(&format!(
            "listener {port} 127.0.0.1\npersistence_location {}/\nlog_dest file {}\n",
            persistence.display(),
            dir.path().join("broker.log").display()
        ));
        let tls_port = if tls {
            let port = free_port().map_err(|e| format!("free port: {e}"))?;
            make_certificates(dir.path())?;
            config.push_str(&format!(
                "listener {port} 127.0.0.1\ncafile {0}/ca.crt\ncertfile {0}/server.crt\nkeyfile {0}/server.key\n",
                dir.path().display()
            ));
            Some(port)
        } else {
            None
        };
        // Started as root, mosquitto switches to the `mosquitto` user, which
        // cannot write into this test's temporary folder; `user root` keeps it
        // as it is. The option has no effect for other users.
        if running_as_root() {
            config.push_str("user root\n");
        }
        std::fs::write(dir.path().join("mosquitto.conf"), config)
            .map_err(|e| format!("writing configuration: {e}"))?;
        let mut broker = Self {
            child: None,
            port,
            tls_port,
            dir,
        };
        broker.spawn()?;
        Ok(broker)
    }

    /// Port the broker listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Port of the TLS listener, when the broker has one.
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// PEM of the CA that signed the TLS listener's certificate.
    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.dir.path().join("ca.crt")).unwrap_or_default()
    }

    fn spawn(&mut self) -> Result<(), String> {
        let binary =
            binary().ok_or("mosquitto binary not found (install the mosquitto package)")?;
        let child = Command::new(&binary)
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", binary.display()))?;
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                let log =
                    std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default();
                return Err(format!("mosquitto exited with {status}; log: {log}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.stop();
        Err(format!(
            "mosquitto did not accept connections on port {} within 10 s",
            self.port
        ))
    }

    /// Stops the broker with SIGTERM, so that it writes its database, and
    /// waits for it to exit.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
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

    /// Stops the broker and starts it again on the same port with the same
    /// persistence folder.
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        self.spawn()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

/// Makes a CA and a server certificate for IP 127.0.0.1 in `dir` with the
/// `openssl` command (P-256 keys, valid for one day).
fn make_certificates(dir: &Path) -> Result<(), String> {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .map_err(|e| format!("writing the certificate extensions: {e}"))?;
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "1",
            "-subj",
            "/CN=Palisade test CA",
        ],
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "1",
            "-extfile",
            "server.ext",
        ],
    ];
    for args in steps {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .map_err(|e| format!("running openssl (install the openssl package): {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "openssl {} failed: {}",
                args[0],
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    Ok(())
}
