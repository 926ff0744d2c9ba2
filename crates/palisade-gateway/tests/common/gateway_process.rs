//! The `palisade-gateway` binary as a child process, with the PKI and the
//! configuration it needs written into a folder of the test's own.
//!
//! [`TestPki::generate`] issues a device maker root, a factory intermediate,
//! an operator root, the gateway's credential and key, and one credential
//! and key per device, and writes them as files. [`GatewayConfig::write`]
//! writes a TOML configuration for a loopback listener. [`GatewayProcess`]
//! starts `palisade-gateway run`, reads the bound listener and metrics
//! addresses from its log, and stops it with SIGKILL or SIGTERM by process
//! id. A process still running when its handle is dropped is killed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use palisade_credential::{
    CREDENTIAL_VERSION, CredentialBody, CredentialKind, IssuerLimits, KeyUsage, MAX_CREDENTIAL_LEN,
    NO_EXPIRY, OsRng, SignatureAlgorithm, Signer, SoftwareSigner, Subject, TrustAnchor, TrustStore,
    Validity,
};

/// Vendor id in every credential of the test PKI.
pub const VENDOR_ID: u32 = 0x00AC_3E01;
/// Model id of the test devices.
pub const MODEL_ID: u32 = 301;
/// Maximum wait for a started gateway to log its listener address.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// One device's identity: its id, credential and PKCS#8 key.
#[derive(Debug, Clone)]
pub struct TestDevice {
    /// Position in [`TestPki::devices`].
    pub index: usize,
    /// The device id in the credential.
    pub device_id: [u8; 16],
    /// The encoded device credential.
    pub credential: Vec<u8>,
    /// The device's private key (PKCS#8).
    pub key_pkcs8: Vec<u8>,
}

impl TestDevice {
    /// Returns the device id as lowercase hex, as the sinks write it.
    pub fn id_hex(&self) -> String {
        self.device_id.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Decodes the device's key into a signer.
    pub fn signer(&self) -> SoftwareSigner {
        SoftwareSigner::from_pkcs8(&self.key_pkcs8).expect("the device key is valid PKCS#8")
    }
}

/// The PKI of a test run, written as files under one folder.
///
/// Files: `oem-root.cred` (pass as `--device-root`),
/// `factory-intermediate.cred`, `operator-root.cred`, `gateway.cred`,
/// `gateway.key.pk8`, and `device-NNN.cred` / `device-NNN.key.pk8` per
/// device.
#[derive(Debug)]
pub struct TestPki {
    /// The folder holding the files.
    pub dir: PathBuf,
    /// The factory intermediate that issued every device credential.
    pub intermediate: Vec<u8>,
    /// The operator root credential the gateway credential chains to.
    pub operator_root: Vec<u8>,
    /// The devices, in index order.
    pub devices: Vec<TestDevice>,
}

struct Issued {
    credential: Vec<u8>,
    signer: SoftwareSigner,
}

#[allow(clippy::too_many_arguments)]
fn issue(
    kind: CredentialKind,
    serial: u64,
    issuer: &SoftwareSigner,
    subject_signer: SoftwareSigner,
    subject: Subject,
    validity: Validity,
    usage: KeyUsage,
    limits: Option<IssuerLimits>,
) -> Issued {
    let body = CredentialBody {
        version: CREDENTIAL_VERSION,
        kind,
        algorithm: SignatureAlgorithm::ED25519,
        serial,
        issuer: issuer.key_id(),
        subject,
        public_key: subject_signer.public_key(),
        validity,
        usage,
        issuer_limits: limits,
    };
    let mut out = [0u8; MAX_CREDENTIAL_LEN];
    let len = body.issue(issuer, &mut out).expect("the test PKI issues");
    Issued {
        credential: out[..len].to_vec(),
        signer: subject_signer,
    }
}

fn new_key() -> SoftwareSigner {
    SoftwareSigner::generate(&mut OsRng).expect("a key is generated")
}

fn subject(device_id: [u8; 16], model_id: u32) -> Subject {
    Subject {
        device_id: palisade_credential::DeviceId(device_id),
        vendor_id: VENDOR_ID,
        model_id,
        hardware_revision: 1,
    }
}

fn self_signed_root(now: u64) -> Issued {
    let key = new_key();
    let issuer = SoftwareSigner::from_pkcs8(&key.to_pkcs8()[..]).expect("the root key re-reads");
    issue(
        CredentialKind::Root,
        1,
        &issuer,
        key,
        subject([0; 16], 0),
        Validity {
            not_before: now - 365 * 86_400,
            not_after: NO_EXPIRY,
        },
        KeyUsage::ISSUE_CREDENTIALS.union(KeyUsage::SIGN_REVOCATION_LISTS),
        None,
    )
}

/// Device id of test device `index`: `0xD7` then the index in the last four bytes.
pub fn test_device_id(index: usize) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[0] = 0xD7;
    id[12..].copy_from_slice(&(index as u32).to_be_bytes());
    id
}

impl TestPki {
    /// Issues the PKI with `devices` device credentials and writes it to `dir`.
    pub fn generate(dir: &Path, devices: usize) -> Self {
        std::fs::create_dir_all(dir).expect("the PKI folder is created");
        let now = now_secs();
        let oem_root = self_signed_root(now);
        let operator_root = self_signed_root(now);
        let window = Validity {
            not_before: now - 365 * 86_400,
            not_after: now + 5 * 365 * 86_400,
        };
        let mut models = heapless::Vec::new();
        models.push(MODEL_ID).expect("one model fits");
        let factory = issue(
            CredentialKind::Intermediate,
            10,
            &oem_root.signer,
            new_key(),
            subject([0; 16], 0),
            window,
            KeyUsage::ISSUE_CREDENTIALS,
            Some(IssuerLimits { window, models }),
        );
        let short = Validity {
            not_before: now - 86_400,
            not_after: now + 365 * 86_400,
        };
        let gateway = issue(
            CredentialKind::Gateway,
            7,
            &operator_root.signer,
            new_key(),
            subject([0; 16], 0),
            short,
            KeyUsage::SIGN_COMMANDS,
            None,
        );

        let write = |name: &str, bytes: &[u8]| {
            std::fs::write(dir.join(name), bytes).expect("a PKI file is written");
        };
        write("oem-root.cred", &oem_root.credential);
        write("factory-intermediate.cred", &factory.credential);
        write("operator-root.cred", &operator_root.credential);
        write("gateway.cred", &gateway.credential);
        write("gateway.key.pk8", &gateway.signer.to_pkcs8()[..]);

        let mut list = Vec::with_capacity(devices);
        for index in 0..devices {
            let device_id = test_device_id(index);
            let issued = issue(
                CredentialKind::Device,
                1_000 + index as u64,
                &factory.signer,
                new_key(),
                subject(device_id, MODEL_ID),
                short,
                KeyUsage::SEND_EVENTS.union(KeyUsage::RECEIVE_COMMANDS),
                None,
            );
            let key_pkcs8 = issued.signer.to_pkcs8()[..].to_vec();
            write(&format!("device-{index:03}.cred"), &issued.credential);
            write(&format!("device-{index:03}.key.pk8"), &key_pkcs8);
            list.push(TestDevice {
                index,
                device_id,
                credential: issued.credential,
                key_pkcs8,
            });
        }
        Self {
            dir: dir.to_path_buf(),
            intermediate: factory.credential,
            operator_root: operator_root.credential,
            devices: list,
        }
    }

    /// Returns the trust store a device pins, which contains the operator root.
    pub fn operator_roots(&self) -> TrustStore {
        let anchor = TrustAnchor::from_root_credential(
            &self.operator_root,
            palisade_credential::VerificationTime::Trusted(now_secs()),
        )
        .expect("the operator root verifies");
        let mut roots = TrustStore::new();
        roots.pin(anchor).expect("one root fits");
        roots
    }

    /// Returns the `palisade-gateway run` arguments that name the PKI files.
    pub fn gateway_args(&self) -> Vec<String> {
        let file = |name: &str| self.dir.join(name).to_string_lossy().into_owned();
        vec![
            "--device-root".into(),
            file("oem-root.cred"),
            "--gateway-credential".into(),
            file("gateway.cred"),
            "--gateway-key".into(),
            file("gateway.key.pk8"),
        ]
    }
}

/// The settings [`GatewayConfig::write`] puts in the TOML file.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Listener address; port 0 takes an ephemeral port.
    pub listen: SocketAddr,
    /// The SQLite database.
    pub database: PathBuf,
    /// The sink folder (`security.jsonl`, `telemetry.jsonl`).
    pub output: PathBuf,
    /// `listener.admissions_per_source_per_minute`; every test device
    /// connects from 127.0.0.1, so tests that reconnect often raise it.
    pub admissions_per_source_per_minute: u32,
    /// TOML appended as it is; it must not repeat a table written above
    /// (`listener`, `paths`, `metrics`, `detection.sequence_anomaly`).
    pub extra_toml: String,
}

impl GatewayConfig {
    /// Returns a loopback listener on an ephemeral port, with the database and
    /// sinks under `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database: dir.join("gateway.sqlite"),
            output: dir.join("out"),
            admissions_per_source_per_minute: 100_000,
            extra_toml: String::new(),
        }
    }

    /// Writes the configuration to `path` and returns `path`.
    ///
    /// The sequence rule's transition learning is set far beyond any test's
    /// event count, so test traffic raises no transition findings.
    pub fn write(&self, path: &Path) -> PathBuf {
        let text = format!(
            "[listener]\naddress = \"{listen}\"\nadmissions_per_source_per_minute = {admissions}\n\n\
             [paths]\ndatabase = {database:?}\noutput = {output:?}\n\n\
             [metrics]\nenabled = true\naddress = \"127.0.0.1:0\"\n\n\
             [detection.sequence_anomaly]\nlearning_events_per_model = 100000000\n\n{extra}\n",
            listen = self.listen,
            admissions = self.admissions_per_source_per_minute,
            database = self.database.to_string_lossy(),
            output = self.output.to_string_lossy(),
            extra = self.extra_toml,
        );
        std::fs::write(path, text).expect("the configuration is written");
        path.to_path_buf()
    }
}

/// A running `palisade-gateway run` child process.
#[derive(Debug)]
pub struct GatewayProcess {
    child: Option<Child>,
    pid: u32,
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    log: Arc<Mutex<Vec<String>>>,
}

/// The log lines of a [`GatewayProcess`], shared with its reader thread.
#[derive(Debug, Clone)]
pub struct GatewayLog(Arc<Mutex<Vec<String>>>);

impl GatewayLog {
    /// Returns the log so far as one text.
    pub fn text(&self) -> String {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).join("\n")
    }
}

/// Removes ANSI escape sequences (colours) from a log line.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI sequence: ESC '[' parameters, ending with a letter.
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// Parses the socket address after `address=` in a log line, written with
/// `Display` (`127.0.0.1:80`) or as a `Debug` option (`Some(127.0.0.1:80)`).
fn logged_address(line: &str) -> Option<SocketAddr> {
    let start = line.find("address=")? + "address=".len();
    let word = line[start..].split_whitespace().next()?;
    let word = word
        .strip_prefix("Some(")
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or(word);
    word.parse().ok()
}

impl GatewayProcess {
    /// Starts `palisade-gateway run --config CONFIG` with the PKI's files and
    /// `--drain-secs drain_secs`, and waits until the gateway logs its
    /// listener address (at most [`START_TIMEOUT`]).
    pub fn start(pki: &TestPki, config: &Path, drain_secs: u64) -> Result<Self, String> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_palisade-gateway"))
            .arg("run")
            .arg("--config")
            .arg(config)
            .args(pki.gateway_args())
            .args(["--drain-secs", &drain_secs.to_string()])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting the gateway binary failed: {e}"))?;
        let pid = child.id();
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (found, addresses) = std::sync::mpsc::channel();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    let line = strip_ansi(&line);
                    if line.contains("metrics endpoint started") {
                        let _ = found.send((true, logged_address(&line)));
                    } else if line.contains("gateway started") {
                        let _ = found.send((false, logged_address(&line)));
                    }
                    log.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                }
            });
        }
        let mut process = Self {
            child: Some(child),
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            metrics_addr: None,
            log,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match addresses.recv_timeout(left.min(Duration::from_millis(100))) {
                Ok((true, address)) => process.metrics_addr = address.or(process.metrics_addr),
                Ok((false, Some(address))) => {
                    process.addr = address;
                    return Ok(process);
                }
                Ok((false, None)) => {
                    return Err(format!(
                        "the gateway logged its start without a readable address:\n{}",
                        process.log_text()
                    ));
                }
                Err(_) => {}
            }
            if let Some(child) = process.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                process.child = None;
                // Let the reader thread take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return Err(format!(
                    "the gateway exited with {status} before it started:\n{}",
                    process.log_text()
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the gateway did not log its listener address within {START_TIMEOUT:?}:\n{}",
                    process.log_text()
                ));
            }
        }
    }

    /// Returns the device listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Returns the metrics endpoint's address, when the gateway logged it.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Returns the process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Returns the log lines so far (stderr, colours removed).
    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Returns the log so far as one text.
    pub fn log_text(&self) -> String {
        self.log_lines().join("\n")
    }

    /// Returns a handle to the log that stays readable after the process
    /// handle is consumed, for the lines a stopping gateway writes last.
    pub fn log_handle(&self) -> GatewayLog {
        GatewayLog(self.log.clone())
    }

    /// Returns the metrics endpoint's Prometheus text.
    pub fn scrape_metrics(&self) -> Result<String, String> {
        let address = self
            .metrics_addr
            .ok_or("the gateway did not log a metrics address")?;
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))
            .map_err(|e| format!("connecting to the metrics endpoint {address} failed: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .map_err(|e| format!("sending the metrics request failed: {e}"))?;
        let mut text = String::new();
        stream
            .read_to_string(&mut text)
            .map_err(|e| format!("reading the metrics response failed: {e}"))?;
        Ok(text)
    }

    /// Sends SIGKILL to the process id and waits for the exit.
    pub fn kill(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the gateway is running");
        // `Child::kill` sends SIGKILL to the child's process id on Unix.
        child.kill().expect("SIGKILL is delivered");
        child.wait().expect("the killed gateway is reaped")
    }

    /// Sends SIGTERM to the process id and waits up to `limit` for the exit
    /// (the gateway closes its sessions and drains the outbox). Past the
    /// limit the process is killed and an error returned.
    pub fn terminate(mut self, limit: Duration) -> Result<ExitStatus, String> {
        // On every error path the child stays in `self`, and `Drop` kills
        // and reaps it.
        let status = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .map_err(|e| format!("running kill -TERM {} failed: {e}", self.pid))?;
        if !status.success() {
            return Err(format!("kill -TERM {} failed with {status}", self.pid));
        }
        let deadline = Instant::now() + limit;
        loop {
            let child = self.child.as_mut().expect("the gateway is running");
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                self.child = None;
                // Let the reader thread take the last lines.
                std::thread::sleep(Duration::from_millis(50));
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the gateway did not exit within {limit:?} of SIGTERM:\n{}",
                    self.log_text()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Returns the value of counter `name` in Prometheus text, summed over
/// its labelled series when it has labels.
pub fn metric_value(text: &str, name: &str) -> Option<u64> {
    let mut total = None;
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with(' ') || rest.starts_with('{')) {
            continue;
        }
        let value = rest.rsplit(' ').next()?.trim().parse::<f64>().ok()?;
        *total.get_or_insert(0) += value as u64;
    }
    total
}
