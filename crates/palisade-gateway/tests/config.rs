//! Loading and validating the TOML configuration.

use palisade_gateway::config::{Config, ConfigError, SinkConfig};
use palisade_gateway::response::Action;
use palisade_schema::Severity;

fn invalid_key(text: &str) -> String {
    match Config::from_toml_str(text) {
        Err(ConfigError::Invalid { key, .. }) => key,
        other => panic!("expected an invalid-value error, got {other:?}"),
    }
}

#[test]
fn empty_file_listens_on_loopback() {
    let config = Config::from_toml_str("").unwrap();
    assert!(config.listener.address.ip().is_loopback());
    assert_eq!(config.listener.address.port(), 0);
    assert!(config.metrics.address.ip().is_loopback());
    assert_eq!(config.routing.security, vec!["security".to_string()]);
    assert_eq!(config.routing.telemetry, vec!["telemetry".to_string()]);
    assert!(matches!(config.sinks["security"], SinkConfig::OcsfJsonl(_)));
    assert!(matches!(
        config.sinks["telemetry"],
        SinkConfig::TelemetryJsonl(_)
    ));
}

#[test]
fn full_file_parses_every_section() {
    let text = r#"
        [listener]
        address = "127.0.0.1:7443"
        admissions_per_source_per_minute = 10

        [paths]
        database = "/var/lib/palisade/gateway.sqlite"
        output = "/var/lib/palisade/out"

        [outbox]
        retention_secs = 3600
        max_batch_events = 512
        delivery_rows = 64

        [detection.remote_session]
        min_secs = 5
        max_secs = 7200
        severity = "high"

        [detection.data_rate_anomaly]
        alpha = 0.2
        warmup_samples = 10
        threshold_sigma = 4.0

        [detection.brute_force_login]
        failures = 3
        window_secs = 30

        [detection.new_listening_port]
        allowed_ports = [22, 443]

        [detection.baseline_failure]
        enabled = false

        [sinks.siem]
        kind = "ocsf_jsonl"
        file = "siem.jsonl"
        rotate_bytes = 1048576
        keep_files = 3

        [sinks.business]
        kind = "telemetry_jsonl"
        file = "business.jsonl"

        [routing]
        security = ["siem"]
        telemetry = ["business"]

        [response]
        default_action = "alert"
        [[response.rules]]
        rule = "brute_force_login"
        min_severity = "high"
        action = "isolate"
        [[response.rules]]
        rule = "*"
        min_severity = "critical"
        action = "shutdown"

        [metrics]
        address = "127.0.0.1:9464"
    "#;
    let config = Config::from_toml_str(text).unwrap();
    assert_eq!(config.listener.address.port(), 7443);
    assert_eq!(config.outbox.retention_secs, 3600);
    assert_eq!(config.detection.remote_session.min_secs, 5);
    assert_eq!(
        config.detection.remote_session.rule.severity,
        Severity::High
    );
    assert_eq!(config.detection.data_rate_anomaly.warmup_samples, 10);
    assert_eq!(config.detection.brute_force_login.failures, 3);
    assert_eq!(
        config.detection.new_listening_port.allowed_ports,
        vec![22, 443]
    );
    assert!(!config.detection.baseline_failure.rule.enabled);
    assert_eq!(config.sinks.len(), 2);
    assert_eq!(config.response.rules.len(), 2);
    assert_eq!(config.response.rules[0].action, Action::Isolate);
    assert_eq!(config.response.rules[1].min_severity, Severity::Critical);
    assert_eq!(config.metrics.address.port(), 9464);
}

#[test]
fn unknown_key_is_rejected_by_name() {
    let error = Config::from_toml_str("[listener]\nadress = \"127.0.0.1:1\"\n").unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, ConfigError::Parse(_)), "{message}");
    assert!(message.contains("adress"), "{message}");
}

#[test]
fn non_loopback_metrics_is_rejected() {
    let key = invalid_key("[metrics]\naddress = \"0.0.0.0:9464\"\n");
    assert_eq!(key, "metrics.address");
}

#[test]
fn ipv6_loopback_metrics_is_accepted() {
    let config = Config::from_toml_str("[metrics]\naddress = \"[::1]:9464\"\n").unwrap();
    assert!(config.metrics.address.is_ipv6());
}

#[test]
fn invalid_values_name_their_key() {
    let cases = [
        (
            "[detection.data_rate_anomaly]\nalpha = 0.0\n",
            "detection.data_rate_anomaly.alpha",
        ),
        (
            "[detection.data_rate_anomaly]\nalpha = 1.5\n",
            "detection.data_rate_anomaly.alpha",
        ),
        (
            "[detection.data_rate_anomaly]\nthreshold_sigma = -1.0\n",
            "detection.data_rate_anomaly.threshold_sigma",
        ),
        (
            "[detection.data_rate_anomaly]\nwarmup_samples = 1\n",
            "detection.data_rate_anomaly.warmup_samples",
        ),
        (
            "[detection.remote_session]\nmin_secs = 60\nmax_secs = 60\n",
            "detection.remote_session.max_secs",
        ),
        (
            "[detection.brute_force_login]\nfailures = 1\n",
            "detection.brute_force_login.failures",
        ),
        (
            "[detection.brute_force_login]\nwindow_secs = 0\n",
            "detection.brute_force_login.window_secs",
        ),
        (
            "[outbox]\nmax_batch_events = 0\n",
            "outbox.max_batch_events",
        ),
        (
            "[[response.rules]]\nrule = \"brute_force\"\naction = \"alert\"\n",
            "response.rules[0].rule",
        ),
        ("[paths]\ndatabase = \"\"\n", "paths.database"),
    ];
    for (text, expected) in cases {
        assert_eq!(invalid_key(text), expected, "for {text:?}");
    }
}

#[test]
fn invalid_severity_lists_the_choices() {
    let error =
        Config::from_toml_str("[detection.unknown_device]\nseverity = \"urgent\"\n").unwrap_err();
    assert!(
        error
            .to_string()
            .contains("info, low, medium, high, critical"),
        "{error}"
    );
}

#[test]
fn mixed_routing_is_rejected() {
    let text = r#"
        [sinks.siem]
        kind = "ocsf_jsonl"
        file = "siem.jsonl"
        [sinks.business]
        kind = "telemetry_jsonl"
        file = "business.jsonl"
        [routing]
        security = ["siem"]
        telemetry = ["siem"]
    "#;
    assert_eq!(invalid_key(text), "routing.telemetry");

    let text = r#"
        [sinks.business]
        kind = "telemetry_jsonl"
        file = "business.jsonl"
        [sinks.siem]
        kind = "ocsf_jsonl"
        file = "siem.jsonl"
        [routing]
        security = ["business"]
        telemetry = ["siem"]
    "#;
    assert_eq!(invalid_key(text), "routing.security");
}

#[test]
fn unrouted_or_missing_sink_is_rejected() {
    let text = r#"
        [sinks.siem]
        kind = "ocsf_jsonl"
        file = "siem.jsonl"
        [sinks.spare]
        kind = "ocsf_jsonl"
        file = "spare.jsonl"
        [routing]
        security = ["siem"]
    "#;
    assert_eq!(invalid_key(text), "sinks.spare");

    let text = r#"
        [sinks.siem]
        kind = "ocsf_jsonl"
        file = "siem.jsonl"
        [routing]
        security = ["siem", "missing"]
    "#;
    assert_eq!(invalid_key(text), "routing.security");
}

#[test]
fn rotate_size_boundary() {
    let at = |bytes: u64| {
        format!(
            "[sinks.siem]\nkind = \"ocsf_jsonl\"\nfile = \"s.jsonl\"\nrotate_bytes = {bytes}\n[routing]\nsecurity = [\"siem\"]\n"
        )
    };
    assert!(Config::from_toml_str(&at(4096)).is_ok());
    assert_eq!(invalid_key(&at(4095)), "sinks.siem.rotate_bytes");
}

#[test]
fn load_reads_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, "[listener]\naddress = \"127.0.0.1:7000\"\n").unwrap();
    assert_eq!(Config::load(&path).unwrap().listener.address.port(), 7000);

    let missing = dir.path().join("missing.toml");
    assert!(matches!(
        Config::load(&missing),
        Err(ConfigError::Read { .. })
    ));
}

#[test]
fn unknown_key_in_rule_table_is_rejected() {
    let error = Config::from_toml_str("[detection.remote_session]\nmin_sec = 5\n").unwrap_err();
    assert!(error.to_string().contains("min_sec"), "{error}");
}

#[test]
fn zero_admission_rate_is_rejected() {
    let key = invalid_key("[listener]\nadmissions_per_source_per_minute = 0\n");
    assert_eq!(key, "listener.admissions_per_source_per_minute");
    assert!(Config::from_toml_str("[listener]\nadmissions_per_source_per_minute = 1\n").is_ok());
}
