//! The syslog sink against loopback receivers: UDP datagrams, TCP and TLS
//! octet-counted frames, RFC 5424 and CEF, fed from the outbox by the
//! delivery loop. Security events and findings arrive exactly once,
//! telemetry never, and a receiver outage loses nothing.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::receivers::{
    DEVICE, expected_event_keys, fill_outbox, param, stream_receiver, telemetry_per_batch,
    udp_receiver,
};
use palisade_export::Origin;
use palisade_gateway::config::{Config, SinkConfig, SyslogFormat, SyslogTransport};
use palisade_gateway::delivery::{Delivery, IdsOnly};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

fn origin() -> Origin {
    Origin::new("ward-3-gateway", "0.1.0")
}

/// A configuration whose only sink is the syslog sink `siem`.
fn config(dir: &Path, sink: &str) -> Config {
    let text = format!(
        "[paths]\ndatabase = {:?}\noutput = {:?}\n\n[sinks.siem]\nkind = \"syslog\"\n{sink}\n\n[routing]\nsecurity = [\"siem\"]\n",
        dir.join("gateway.sqlite"),
        dir.join("out"),
    );
    Config::from_toml_str(&text).expect("valid configuration")
}

/// Keys of the RFC 5424 messages: `device/boot/sequence` of the events
/// (sorted) and the `finding_uid` of the findings.
fn rfc5424_keys(messages: &[String]) -> (Vec<String>, Vec<String>) {
    let mut events = Vec::new();
    let mut findings = Vec::new();
    for message in messages {
        assert!(message.starts_with('<'), "not RFC 5424: {message}");
        assert_ne!(
            param(message, "class"),
            Some("telemetry"),
            "telemetry reached the syslog sink: {message}"
        );
        if param(message, "kind") == Some("finding") {
            findings.push(
                param(message, "finding_uid")
                    .expect("finding_uid")
                    .to_owned(),
            );
        } else {
            events.push(format!(
                "{}/{}/{}",
                param(message, "device_id").expect("device_id"),
                param(message, "boot").expect("boot"),
                param(message, "sequence").expect("sequence"),
            ));
        }
    }
    events.sort();
    (events, findings)
}

fn check_rfc5424_exactly_once(messages: &[String]) {
    let expected = expected_event_keys();
    let (events, findings) = rfc5424_keys(messages);
    assert_eq!(events, expected, "security events, each exactly once");
    assert_eq!(findings.len(), 1, "one finding: {findings:?}");
    assert!(findings[0].starts_with("ward-3-gateway:"), "{findings:?}");
    assert_eq!(messages.len(), expected.len() + 1);
}

#[test]
fn udp_rfc5424_delivers_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = udp_receiver();
    let config = config(
        dir.path(),
        &format!("transport = \"udp\"\naddress = \"{}\"", receiver.address),
    );
    let mut outbox = fill_outbox(&config.paths.database);
    let mut delivery = Delivery::from_config(&config, origin()).unwrap();

    let report = delivery.drain(&mut outbox, &IdsOnly, 100).unwrap();
    assert!(report.failed_sinks.is_empty(), "{report:?}");
    let expected = expected_event_keys().len() + 1;
    assert_eq!(report.written["siem"], expected as u64);
    assert_eq!(outbox.depth(&delivery.sink_names()).unwrap(), 0);

    let messages = receiver.received.wait_for(expected);
    check_rfc5424_exactly_once(&messages);
    assert!(telemetry_per_batch() > 0, "the samples contain telemetry");

    // A second round finds nothing new.
    let again = delivery.deliver(&mut outbox, &IdsOnly).unwrap();
    assert_eq!(again.total_written(), 0);
}

#[test]
fn tcp_rfc5424_delivers_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = stream_receiver("127.0.0.1:0", None);
    let config = config(
        dir.path(),
        &format!("transport = \"tcp\"\naddress = \"{}\"", receiver.address),
    );
    let mut config = config;
    // One row per round, so the connection carries several rounds.
    config.outbox.delivery_rows = 1;
    let mut outbox = fill_outbox(&config.paths.database);
    let mut delivery = Delivery::from_config(&config, origin()).unwrap();

    let report = delivery.drain(&mut outbox, &IdsOnly, 100).unwrap();
    assert!(report.failed_sinks.is_empty(), "{report:?}");
    assert_eq!(outbox.depth(&delivery.sink_names()).unwrap(), 0);

    let expected = expected_event_keys().len() + 1;
    let messages = receiver.received.wait_for(expected);
    check_rfc5424_exactly_once(&messages);
}

#[test]
fn tcp_cef_is_syslog_msg() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = stream_receiver("127.0.0.1:0", None);
    let config = config(
        dir.path(),
        &format!(
            "transport = \"tcp\"\nformat = \"cef\"\naddress = \"{}\"",
            receiver.address
        ),
    );
    let SinkConfig::Syslog(syslog) = &config.sinks["siem"] else {
        panic!("not a syslog sink");
    };
    assert_eq!(syslog.format, SyslogFormat::Cef);
    assert_eq!(syslog.transport, SyslogTransport::Tcp);
    let mut outbox = fill_outbox(&config.paths.database);
    let mut delivery = Delivery::from_config(&config, origin()).unwrap();
    let report = delivery.drain(&mut outbox, &IdsOnly, 100).unwrap();
    assert!(report.failed_sinks.is_empty(), "{report:?}");

    let expected = expected_event_keys().len() + 1;
    let messages = receiver.received.wait_for(expected);
    assert_eq!(messages.len(), expected);
    let mut event_ids = Vec::new();
    let mut findings = 0;
    for message in &messages {
        // RFC 5424 header, no structured data, BOM, then the CEF line.
        let (header, cef) = message
            .split_once(" - \u{FEFF}CEF:0|")
            .unwrap_or_else(|| panic!("no CEF MSG after an empty SD: {message}"));
        assert!(header.starts_with('<'), "{message}");
        assert!(!cef.contains("|telemetry|"), "{message}");
        assert!(!cef.contains("cat=telemetry"), "{message}");
        let external = cef
            .split(" externalId=")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_else(|| panic!("no externalId: {message}"));
        if cef.contains("cat=finding") {
            findings += 1;
        } else {
            event_ids.push(external.replace(':', "/"));
        }
    }
    event_ids.sort();
    assert_eq!(event_ids, expected_event_keys());
    assert_eq!(findings, 1);
}

#[test]
fn tls_rfc5424_delivers_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let generated = rcgen::generate_simple_self_signed(vec!["siem.test".to_owned()]).unwrap();
    let certificate: CertificateDer<'static> = generated.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        generated.signing_key.serialize_der(),
    ));
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![certificate], key)
        .unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, generated.cert.pem()).unwrap();
    let receiver = stream_receiver("127.0.0.1:0", Some(Arc::new(server)));
    let config = config(
        dir.path(),
        &format!(
            "transport = \"tls\"\naddress = \"{}\"\nserver_name = \"siem.test\"\nca_file = {:?}",
            receiver.address, ca_file
        ),
    );
    let mut outbox = fill_outbox(&config.paths.database);
    let mut delivery = Delivery::from_config(&config, origin()).unwrap();

    let report = delivery.drain(&mut outbox, &IdsOnly, 100).unwrap();
    assert!(report.failed_sinks.is_empty(), "{report:?}");
    assert_eq!(outbox.depth(&delivery.sink_names()).unwrap(), 0);

    let expected = expected_event_keys().len() + 1;
    let messages = receiver.received.wait_for(expected);
    check_rfc5424_exactly_once(&messages);
}

#[test]
fn tls_wrong_server_name_fails_round() {
    let dir = tempfile::tempdir().unwrap();
    let generated = rcgen::generate_simple_self_signed(vec!["siem.test".to_owned()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        generated.signing_key.serialize_der(),
    ));
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![generated.cert.der().clone()], key)
        .unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, generated.cert.pem()).unwrap();
    let receiver = stream_receiver("127.0.0.1:0", Some(Arc::new(server)));
    let config = config(
        dir.path(),
        &format!(
            "transport = \"tls\"\naddress = \"{}\"\nserver_name = \"other.test\"\nca_file = {:?}",
            receiver.address, ca_file
        ),
    );
    let mut outbox = fill_outbox(&config.paths.database);
    let mut delivery = Delivery::from_config(&config, origin()).unwrap();

    let report = delivery.deliver(&mut outbox, &IdsOnly).unwrap();
    assert_eq!(report.failed_sinks, vec!["siem".to_owned()]);
    assert_eq!(outbox.cursor("siem").unwrap(), 0);
    assert!(receiver.received.snapshot().is_empty());
}

#[test]
fn tcp_outage_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Reserve a free port, then close it so that connections are refused.
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = config(
        dir.path(),
        &format!("transport = \"tcp\"\naddress = \"{address}\"\ntimeout_ms = 1000"),
    );
    let mut outbox = fill_outbox(&config.paths.database);
    let mut delivery = Delivery::from_config(&config, origin()).unwrap();

    for _ in 0..2 {
        let report = delivery.deliver(&mut outbox, &IdsOnly).unwrap();
        assert_eq!(report.failed_sinks, vec!["siem".to_owned()]);
        assert_eq!(report.total_written(), 0);
        assert_eq!(outbox.cursor("siem").unwrap(), 0, "no row marked delivered");
    }
    let depth = outbox.depth(&delivery.sink_names()).unwrap();
    assert!(depth > 0);

    let receiver = stream_receiver(&address.to_string(), None);
    let report = delivery.drain(&mut outbox, &IdsOnly, 100).unwrap();
    assert!(report.failed_sinks.is_empty(), "{report:?}");
    assert_eq!(outbox.depth(&delivery.sink_names()).unwrap(), 0);

    let expected = expected_event_keys().len() + 1;
    let messages = receiver.received.wait_for(expected);
    check_rfc5424_exactly_once(&messages);
    assert!(
        messages
            .iter()
            .all(|message| param(message, "device_id") == Some(&DEVICE.to_string())),
        "every message names the device"
    );
}

#[test]
fn syslog_config_requires_address() {
    let error = Config::from_toml_str(
        "[sinks.siem]\nkind = \"syslog\"\ntransport = \"tcp\"\n\n[routing]\nsecurity = [\"siem\"]\n",
    )
    .unwrap_err();
    assert!(error.to_string().contains("sinks.siem.address"), "{error}");

    let error = Config::from_toml_str(
        "[sinks.siem]\nkind = \"syslog\"\ntransport = \"tls\"\naddress = \"127.0.0.1:6514\"\n\n[routing]\nsecurity = [\"siem\"]\n",
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("sinks.siem.server_name"),
        "{error}"
    );
}

#[test]
fn syslog_sink_rejects_telemetry_route() {
    let error = Config::from_toml_str(
        "[sinks.siem]\nkind = \"syslog\"\naddress = \"127.0.0.1:514\"\n\n[sinks.security]\nkind = \"ocsf_jsonl\"\nfile = \"s.jsonl\"\n\n[routing]\nsecurity = [\"security\"]\ntelemetry = [\"siem\"]\n",
    )
    .unwrap_err();
    assert!(error.to_string().contains("routing.telemetry"), "{error}");
}

#[test]
fn max_datagram_bytes_boundaries() {
    let load = |bytes: usize| {
        Config::from_toml_str(&format!(
            "[sinks.siem]\nkind = \"syslog\"\naddress = \"127.0.0.1:514\"\nmax_datagram_bytes = {bytes}\n\n[routing]\nsecurity = [\"siem\"]\n"
        ))
    };
    assert!(load(480).is_ok());
    let error = load(479).unwrap_err();
    assert!(error.to_string().contains("max_datagram_bytes"), "{error}");
    assert!(load(65_507).is_ok());
    let error = load(65_508).unwrap_err();
    assert!(error.to_string().contains("max_datagram_bytes"), "{error}");
}

#[test]
fn mqtt_config_boundaries() {
    let load = |broker: &str, site: &str| {
        Config::from_toml_str(&format!(
            "[sinks.broker]\nkind = \"mqtt\"\nbroker = \"{broker}\"\nsite = \"{site}\"\n\n[routing]\nsecurity = [\"broker\"]\n"
        ))
    };
    assert!(load("127.0.0.1:1883", &"s".repeat(128)).is_ok());
    let error = load("127.0.0.1:1883", &"s".repeat(129)).unwrap_err();
    assert!(error.to_string().contains("sinks.broker.site"), "{error}");
    let error = load("127.0.0.1:1883", "ward/3").unwrap_err();
    assert!(error.to_string().contains("sinks.broker.site"), "{error}");
    let error = load("127.0.0.1", "ward-3").unwrap_err();
    assert!(error.to_string().contains("sinks.broker.broker"), "{error}");
}

#[test]
fn udp_oversized_messages_dropped_counted() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = udp_receiver();
    let config = config(
        dir.path(),
        &format!(
            "transport = \"udp\"\naddress = \"{}\"\nmax_datagram_bytes = 480",
            receiver.address
        ),
    );
    let mut outbox = fill_outbox(&config.paths.database);
    let mut delivery = Delivery::from_config(&config, origin()).unwrap();

    let report = delivery.drain(&mut outbox, &IdsOnly, 100).unwrap();
    assert!(report.failed_sinks.is_empty(), "{report:?}");
    assert_eq!(outbox.depth(&delivery.sink_names()).unwrap(), 0);
    let dropped = delivery.remote_sinks()[0].dropped();
    assert!(dropped > 0, "some sample messages exceed 480 bytes");

    let expected = expected_event_keys().len() + 1;
    let messages = receiver.received.wait_for(expected - dropped as usize);
    assert_eq!(messages.len() + dropped as usize, expected);
    assert!(messages.iter().all(|message| message.len() <= 480));
}
