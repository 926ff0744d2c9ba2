//! The TLS syslog sender against a local rustls receiver with a
//! self-signed certificate. Both sides use rustls's process-default
//! crypto provider, which is *ring* in this workspace.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use palisade_export::EventContext;
use palisade_export::sender::{SendError, TlsSender};
use palisade_export::syslog::{SyslogOptions, event_message};
use palisade_schema::samples;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

struct Receiver {
    address: std::net::SocketAddr,
    certificate: CertificateDer<'static>,
    handle: thread::JoinHandle<Result<Vec<u8>, String>>,
}

/// Starts a one-connection TLS receiver on 127.0.0.1 that returns every
/// byte it reads until the client closes.
fn start_receiver() -> Receiver {
    let generated = rcgen::generate_simple_self_signed(vec!["syslog.test".to_owned()])
        .expect("generate certificate");
    let certificate = generated.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        generated.signing_key.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![certificate.clone()], key)
        .expect("server certificate");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let config = Arc::new(config);
    let handle = thread::spawn(move || {
        let (socket, _) = listener.accept().map_err(|error| error.to_string())?;
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|error| error.to_string())?;
        let connection =
            rustls::ServerConnection::new(config).map_err(|error| error.to_string())?;
        let mut stream = rustls::StreamOwned::new(connection, socket);
        let mut received = Vec::new();
        match stream.read_to_end(&mut received) {
            Ok(_) => Ok(received),
            Err(error) => Err(format!("{error} after {} bytes", received.len())),
        }
    });
    Receiver {
        address,
        certificate,
        handle,
    }
}

fn client_config(certificate: &CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certificate.clone()).expect("add root");
    Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Splits RFC 6587 octet-counted frames.
fn split_frames(mut bytes: &[u8]) -> Vec<String> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        let space = bytes
            .iter()
            .position(|&b| b == b' ')
            .expect("length ends with a space");
        let len: usize = std::str::from_utf8(&bytes[..space])
            .expect("ASCII length")
            .parse()
            .expect("decimal length");
        let frame = &bytes[space + 1..space + 1 + len];
        frames.push(String::from_utf8(frame.to_vec()).expect("UTF-8 frame"));
        bytes = &bytes[space + 1 + len..];
    }
    frames
}

#[test]
fn tls_sender_delivers_octet_counted_frames() {
    let receiver = start_receiver();
    let device = common::device();
    let origin = common::origin();
    let context = EventContext {
        device: &device,
        origin: &origin,
        received_unix_ms: common::RECEIVED_MS,
    };
    let lines: Vec<String> = samples::one_of_each()
        .map(|event| event_message(&event, &context, &SyslogOptions::default()).to_line())
        .collect();

    let name = ServerName::try_from("syslog.test").expect("server name");
    let mut sender = TlsSender::connect(
        receiver.address,
        name,
        client_config(&receiver.certificate),
        Duration::from_secs(5),
    )
    .expect("connect over TLS");
    for line in &lines {
        sender.send(line).expect("send");
    }
    sender.close().expect("close");

    let received = receiver
        .handle
        .join()
        .expect("receiver thread")
        .expect("receiver read");
    assert_eq!(split_frames(&received), lines);
}

#[test]
fn tls_sender_rejects_wrong_server_name() {
    let receiver = start_receiver();
    let name = ServerName::try_from("other.test").expect("server name");
    let result = TlsSender::connect(
        receiver.address,
        name,
        client_config(&receiver.certificate),
        Duration::from_secs(5),
    );
    match result {
        Err(SendError::Tls { source, .. }) => {
            assert!(
                matches!(source, rustls::Error::InvalidCertificate(_)),
                "{source:?}"
            );
        }
        other => panic!("expected a certificate error, got {other:?}"),
    }
    let _ = receiver.handle.join();
}
