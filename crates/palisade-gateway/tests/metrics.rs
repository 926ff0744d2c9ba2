//! The Prometheus endpoint serves a real request on loopback.

use std::net::SocketAddr;

use palisade_gateway::finding::RuleId;
use palisade_gateway::metrics::{
    self, AdmissionRejection, DropReason, MAX_REQUEST_HEAD, Metrics, MetricsError,
};
use palisade_schema::EventClass;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn request(address: SocketAddr, head: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(head).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_string(&mut response),
    )
    .await
    .expect("metrics endpoint did not answer in time")
    .unwrap();
    response
}

#[tokio::test]
async fn endpoint_serves_counters() {
    let metrics = Metrics::new();
    metrics.admission();
    metrics.admission();
    metrics.rejected_admission(AdmissionRejection::InvalidCredential);
    metrics.events(EventClass::Security, 40);
    metrics.events(EventClass::Telemetry, 12);
    metrics.finding(RuleId::BruteForceLogin);
    metrics.drops(DropReason::TelemetryWithheld, 3);
    metrics.drops(DropReason::RejectionReportQueueFull, 2);
    metrics.duplicates(5);
    metrics.command();
    metrics.set_outbox_depth(17);

    let listener = metrics::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(metrics::serve(listener, metrics.clone()));

    let response = request(address, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await;
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"));
    for line in [
        "palisade_admissions_total 2",
        "palisade_rejected_admissions_total{reason=\"invalid_credential\"} 1",
        "palisade_events_total{class=\"security\"} 40",
        "palisade_events_total{class=\"operational\"} 0",
        "palisade_events_total{class=\"telemetry\"} 12",
        "palisade_findings_total{rule=\"brute_force_login\"} 1",
        "palisade_drops_total{reason=\"telemetry_withheld\"} 3",
        "palisade_drops_total{reason=\"rejection_report_queue_full\"} 2",
        "palisade_duplicate_events_total 5",
        "palisade_commands_total 1",
        "palisade_outbox_depth 17",
        "# TYPE palisade_outbox_depth gauge",
        "# TYPE palisade_findings_total counter",
    ] {
        assert!(
            body.lines().any(|candidate| candidate == line),
            "missing {line:?} in:\n{body}"
        );
    }
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(length, body.len());

    // Counters move between scrapes.
    metrics.finding(RuleId::BruteForceLogin);
    let response = request(address, b"GET /metrics HTTP/1.1\r\n\r\n").await;
    assert!(response.contains("palisade_findings_total{rule=\"brute_force_login\"} 2"));

    let response = request(address, b"GET / HTTP/1.1\r\n\r\n").await;
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    let response = request(address, b"POST /metrics HTTP/1.1\r\n\r\n").await;
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");

    // A request head above the limit is cut off with 431.
    let mut oversized = b"GET /metrics HTTP/1.1\r\nX-Padding: ".to_vec();
    // Exactly one byte over the limit, so the endpoint has read everything
    // before it responds and the close carries no reset.
    let padding = MAX_REQUEST_HEAD + 1 - oversized.len();
    oversized.extend(std::iter::repeat_n(b'a', padding));
    let response = request(address, &oversized).await;
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");

    server.abort();
}

#[tokio::test]
async fn non_loopback_address_is_rejected_before_binding() {
    let result = metrics::bind("0.0.0.0:0".parse().unwrap()).await;
    assert!(matches!(result, Err(MetricsError::NotLoopback(_))));
}

#[tokio::test]
async fn ipv6_loopback_binds() {
    // Skip quietly only when the machine has no IPv6 loopback at all.
    match metrics::bind("[::1]:0".parse().unwrap()).await {
        Ok(listener) => assert!(listener.local_addr().unwrap().ip().is_loopback()),
        Err(MetricsError::Bind { source, .. })
            if source.kind() == std::io::ErrorKind::AddrNotAvailable => {}
        Err(error) => panic!("{error}"),
    }
}
