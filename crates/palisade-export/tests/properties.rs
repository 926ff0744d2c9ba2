//! Property tests for the parsers and formatters that take untrusted
//! input: version comparisons, OSV loading and line formatting.

use proptest::prelude::*;

use palisade_export::fuzzing;

/// Strings made of the characters that version syntaxes use, so that many
/// generated values are valid versions.
fn version_text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[0-9a-z.~+:_!-]{0,16}").expect("valid regex")
}

proptest! {
    #[test]
    fn comparisons_are_antisymmetric(left in version_text(), right in version_text()) {
        fuzzing::compare_versions(format!("{left}\0{right}").as_bytes());
    }

    #[test]
    fn comparisons_never_panic_on_bytes(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        fuzzing::compare_versions(&data);
    }

    #[test]
    fn lines_stay_single(text in any::<String>()) {
        fuzzing::format_line(text.as_bytes());
    }

    #[test]
    fn advisory_loading_never_panics(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        fuzzing::load_advisory(&data);
    }

    #[test]
    fn advisory_fields_of_any_shape(id in "[ -~]{0,12}", version in version_text(), kind in "(ECOSYSTEM|SEMVER|GIT|x)") {
        let advisory = serde_json::json!({
            "id": id,
            "affected": [{
                "package": { "ecosystem": "Debian", "name": "package" },
                "ranges": [{ "type": kind, "events": [{ "introduced": version.clone() }, { "fixed": version.clone() }, { "last_affected": version }] }],
                "versions": ["1.0"],
            }],
        });
        fuzzing::load_advisory(advisory.to_string().as_bytes());
    }
}

#[test]
fn version_order_is_transitive_on_samples() {
    use palisade_export::vuln::Ecosystem;
    let samples = [
        (
            Ecosystem::Debian,
            vec!["1.0~rc1", "1.0", "1.0-1", "1.0+b1", "1.0.1", "1:0.1"],
        ),
        (
            Ecosystem::Alpine,
            vec!["1.0_rc1", "1.0", "1.0-r1", "1.0_p1", "1.0a", "1.0.1"],
        ),
        (
            Ecosystem::CratesIo,
            vec!["1.0.0-alpha", "1.0.0-beta.2", "1.0.0", "1.0.1", "1.1.0"],
        ),
        (
            Ecosystem::PyPi,
            vec!["1.0.dev1", "1.0a1", "1.0rc1", "1.0", "1.0.post1", "1.1"],
        ),
    ];
    for (ecosystem, versions) in samples {
        for (i, a) in versions.iter().enumerate() {
            for (j, b) in versions.iter().enumerate() {
                let expected = i.cmp(&j);
                assert_eq!(
                    ecosystem.compare(a, b),
                    Some(expected),
                    "{ecosystem:?}: {a} vs {b}"
                );
            }
        }
    }
}
