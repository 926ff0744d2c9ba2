//! The software collector and the dpkg and opkg status parsers.
#![cfg(feature = "linux")]

mod common;

use common::{fixture, read_fixture};
use palisade_agent::linux::software::{
    PackageFormat, StatusFileError, is_installed, is_opkg_installed, parse_paragraphs,
    parse_status, supplier_name,
};
use palisade_agent::linux::{Collector, Package, Record, SoftwareCollector, SoftwareConfig};

fn names(packages: &[Package]) -> Vec<&str> {
    packages.iter().map(|p| p.name.as_str()).collect()
}

#[test]
fn dpkg_status_installed_only() {
    let parsed = parse_status(
        &read_fixture("root/var/lib/dpkg/status"),
        PackageFormat::Dpkg,
        "debian",
        64 * 1024,
    );
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    // telnetd is `deinstall ok config-files`: removed, only its conffiles remain.
    assert_eq!(
        names(&parsed.items),
        ["bsdutils", "ca-certificates-java", "openssl", "libc6"]
    );
    let bsdutils = &parsed.items[0];
    assert_eq!(bsdutils.version, "1:2.38.1-5+deb12u3");
    assert_eq!(
        bsdutils.purl,
        "pkg:deb/debian/bsdutils@1:2.38.1-5+deb12u3?arch=amd64"
    );
    assert_eq!(bsdutils.supplier.as_deref(), Some("util-linux packagers"));
    let java = &parsed.items[1];
    assert_eq!(java.version, "20230710~deb12u1");
    assert_eq!(
        java.purl,
        "pkg:deb/debian/ca-certificates-java@20230710~deb12u1?arch=all"
    );
    assert_eq!(
        parsed.items[2].supplier.as_deref(),
        Some("Debian OpenSSL Team")
    );
}

#[test]
fn continuation_lines_join() {
    let parsed = parse_paragraphs(&read_fixture("root/var/lib/dpkg/status"), 64 * 1024);
    let openssl = parsed
        .items
        .iter()
        .find(|p| p.get("Package") == Some("openssl"))
        .unwrap();
    let conffiles = openssl.get("conffiles").unwrap();
    assert!(
        conffiles.starts_with("\n/etc/ssl/openssl.cnf "),
        "{conffiles:?}"
    );
    let description = openssl.get("Description").unwrap();
    assert!(
        description.starts_with("Secure Sockets Layer toolkit - cryptographic utility\n"),
        "{description:?}"
    );
}

#[test]
fn paragraph_errors() {
    let text = "Package: a\nVersion: 1\nStatus: install ok installed\n\n continuation first\nPackage: b\n\nno colon here\nPackage: c\n\nPackage: d\nStatus: install ok installed\n";
    let parsed = parse_status(text, PackageFormat::Dpkg, "debian", 1024);
    assert_eq!(names(&parsed.items), ["a"]);
    assert_eq!(
        parsed.errors,
        [
            StatusFileError::OrphanContinuation { line: 5 },
            StatusFileError::BadLine { line: 8 },
            StatusFileError::MissingField {
                line: 11,
                field: "Version"
            },
        ]
    );
}

#[test]
fn line_limit_boundary() {
    let line = "Package: abc";
    let text = format!("{line}\nVersion: 1\nStatus: install ok installed\n");
    assert_eq!(
        parse_status(&text, PackageFormat::Dpkg, "debian", 28)
            .items
            .len(),
        1
    );
    let rejected = parse_status(&text, PackageFormat::Dpkg, "debian", 27);
    assert!(rejected.items.is_empty());
    assert_eq!(
        rejected.errors,
        [StatusFileError::TooLong { line: 3, len: 28 }]
    );
}

#[test]
fn status_values() {
    assert!(is_installed("install ok installed"));
    assert!(is_installed("hold ok installed"));
    assert!(is_installed("install  ok   installed"));
    assert!(!is_installed("deinstall ok config-files"));
    assert!(!is_installed("install ok half-installed"));
    assert!(!is_installed("install reinstreq installed"));
    assert!(!is_installed("purge ok not-installed"));
    assert!(!is_installed(""));
    assert!(is_opkg_installed("install user installed"));
    assert!(is_opkg_installed("install ok installed"));
    assert!(is_opkg_installed("install hold installed"));
    assert!(!is_opkg_installed("install reinstreq half-installed"));
    assert!(!is_opkg_installed("install user,reinstreq installed"));
}

#[test]
fn distroless_status_d() {
    let dir = fixture("distroless/status.d");
    let mut packages = Vec::new();
    for name in ["base-files", "libssl3", "tzdata"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let parsed = parse_status(&text, PackageFormat::DpkgStatusD, "debian", 64 * 1024);
        assert!(parsed.errors.is_empty());
        packages.extend(parsed.items);
    }
    assert_eq!(names(&packages), ["base-files", "libssl3", "tzdata"]);
    assert_eq!(
        packages[1].purl,
        "pkg:deb/debian/libssl3@3.0.13-1~deb12u1?arch=amd64"
    );
    // Without a Status field a plain dpkg status file does not count it.
    let text = std::fs::read_to_string(dir.join("tzdata")).unwrap();
    assert!(
        parse_status(&text, PackageFormat::Dpkg, "debian", 64 * 1024)
            .items
            .is_empty()
    );
}

#[test]
fn opkg_status() {
    let parsed = parse_status(
        &read_fixture("opkg/status"),
        PackageFormat::Opkg,
        "openwrt",
        64 * 1024,
    );
    assert!(parsed.errors.is_empty());
    assert_eq!(
        names(&parsed.items),
        ["libc", "busybox", "dropbear", "luci-app-firewall"]
    );
    assert_eq!(
        parsed.items[2].purl,
        "pkg:opkg/openwrt/dropbear@2022.82-6?arch=x86_64"
    );
    assert_eq!(parsed.items[2].supplier, None);
    assert_eq!(parsed.items[0].architecture.as_deref(), Some("x86_64"));
}

#[test]
fn purl_encodes_reserved_characters() {
    let text = "Package: odd\nVersion: 1.0 beta/2?x#y@z\nArchitecture: all\nStatus: install ok installed\n";
    let parsed = parse_status(text, PackageFormat::Dpkg, "debian", 1024);
    assert_eq!(
        parsed.items[0].purl,
        "pkg:deb/debian/odd@1.0%20beta%2F2%3Fx%23y%40z?arch=all"
    );
}

#[test]
fn supplier_names() {
    assert_eq!(
        supplier_name("GNU Libc Maintainers <debian-glibc@lists.debian.org>"),
        "GNU Libc Maintainers"
    );
    assert_eq!(
        supplier_name("<someone@example.org>"),
        "<someone@example.org>"
    );
    assert_eq!(supplier_name("Plain Name"), "Plain Name");
}

#[test]
fn collector_reads_every_source() {
    let config = SoftwareConfig {
        dpkg_status: fixture("root/var/lib/dpkg/status"),
        dpkg_status_dir: fixture("distroless/status.d"),
        opkg_status: vec![fixture("opkg/status"), fixture("missing/opkg/status")],
        os_release: fixture("root/etc/os-release"),
        ..SoftwareConfig::default()
    };
    let mut collector = SoftwareCollector::new(config);
    let mut records = Vec::new();
    collector.collect(&mut records);
    let purls: Vec<&str> = records
        .iter()
        .filter_map(|r| match r {
            Record::SoftwareComponent(p) => Some(p.purl.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(purls.len(), 4 + 3 + 4, "{records:?}");
    assert!(purls.contains(&"pkg:deb/debian/tzdata@2024a-0+deb12u1?arch=all"));
    // The opkg namespace comes from os-release too.
    assert!(purls.contains(&"pkg:opkg/debian/busybox@1.36.1-1?arch=x86_64"));
    assert_eq!(records.len(), purls.len(), "no errors expected");
}

#[test]
fn collector_reports_oversized_file() {
    let config = SoftwareConfig {
        dpkg_status: fixture("root/var/lib/dpkg/status"),
        limits: palisade_agent::linux::Limits {
            max_file_bytes: 100,
            ..Default::default()
        },
        ..SoftwareConfig::default()
    };
    let mut collector = SoftwareCollector::new(config);
    let mut records = Vec::new();
    collector.collect(&mut records);
    assert!(
        matches!(records.as_slice(), [Record::CollectionError(e)] if e.reason.contains("larger than the 100-byte limit")),
        "{records:?}"
    );
}

#[test]
fn collector_on_this_machine() {
    let mut collector = SoftwareCollector::new(SoftwareConfig::default());
    let mut records = Vec::new();
    collector.collect(&mut records);
    let status = std::fs::read_to_string("/var/lib/dpkg/status").unwrap_or_default();
    let installed = status
        .split("\n\n")
        .filter(|p| p.contains("\nStatus: install ok installed"))
        .count();
    let found = records
        .iter()
        .filter(|r| matches!(r, Record::SoftwareComponent(_)))
        .count();
    assert_eq!(found, installed);
}

#[test]
fn status_file_count_boundary() {
    let config = |max_status_files| SoftwareConfig {
        dpkg_status: fixture("missing/status"),
        dpkg_status_dir: fixture("distroless/status.d"),
        opkg_status: Vec::new(),
        os_release: fixture("root/etc/os-release"),
        max_status_files,
        ..SoftwareConfig::default()
    };
    // Three package files; the md5sums file does not count.
    let mut records = Vec::new();
    SoftwareCollector::new(config(3)).collect(&mut records);
    assert_eq!(records.len(), 3, "{records:?}");
    assert!(
        records
            .iter()
            .all(|r| matches!(r, Record::SoftwareComponent(_)))
    );

    records.clear();
    SoftwareCollector::new(config(2)).collect(&mut records);
    assert_eq!(records.len(), 3, "{records:?}");
    assert!(
        matches!(&records[0], Record::CollectionError(e) if e.reason.contains("only the first 2"))
    );
}

#[test]
fn collector_without_database_reports_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = palisade_agent::linux::LinuxConfig::default()
        .under(dir.path())
        .software;
    let mut records = Vec::new();
    SoftwareCollector::new(config).collect(&mut records);
    assert_eq!(records.len(), 1, "{records:?}");
    let Record::CollectionError(error) = &records[0] else {
        panic!("expected a collection error: {records:?}")
    };
    assert_eq!(error.collector, "software");
    assert!(
        error.reason.starts_with("no package database found"),
        "{}",
        error.reason
    );
}
