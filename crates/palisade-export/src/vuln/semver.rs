//! Semantic Versioning 2.0.0 precedence (semver.org, section 11), used for
//! crates.io and npm packages and for OSV ranges of type `SEMVER`.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
struct SemVer<'a> {
    core: [u64; 3],
    prerelease: Vec<&'a str>,
}

fn is_numeric(identifier: &str) -> bool {
    !identifier.is_empty() && identifier.bytes().all(|byte| byte.is_ascii_digit())
}

fn number(text: &str) -> Option<u64> {
    if !is_numeric(text) || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    text.parse().ok()
}

fn parse(text: &str) -> Option<SemVer<'_>> {
    let without_build = match text.split_once('+') {
        Some((version, build)) => {
            let valid = build.split('.').all(|part| {
                !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
            if !valid {
                return None;
            }
            version
        }
        None => text,
    };
    let (core, prerelease) = match without_build.split_once('-') {
        Some((core, prerelease)) => (core, Some(prerelease)),
        None => (without_build, None),
    };
    let mut parts = core.split('.');
    let major = number(parts.next()?)?;
    let minor = number(parts.next()?)?;
    let patch = number(parts.next()?)?;
    if parts.next().is_some() {
        return None;
    }
    let prerelease: Vec<&str> = match prerelease {
        Some(prerelease) => prerelease.split('.').collect(),
        None => Vec::new(),
    };
    for identifier in &prerelease {
        let valid = !identifier.is_empty()
            && identifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !valid || (is_numeric(identifier) && number(identifier).is_none()) {
            return None;
        }
    }
    Some(SemVer {
        core: [major, minor, patch],
        prerelease,
    })
}

/// Compares two SemVer 2.0.0 versions by precedence (build metadata is
/// ignored); `None` when either does not parse.
pub fn compare(left: &str, right: &str) -> Option<Ordering> {
    let left = parse(left)?;
    let right = parse(right)?;
    let ordering = left.core.cmp(&right.core);
    if ordering != Ordering::Equal {
        return Some(ordering);
    }
    Some(
        match (left.prerelease.is_empty(), right.prerelease.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => {
                for (a, b) in left.prerelease.iter().zip(&right.prerelease) {
                    let ordering = match (number(a), number(b)) {
                        (Some(x), Some(y)) => x.cmp(&y),
                        (Some(_), None) => Ordering::Less,
                        (None, Some(_)) => Ordering::Greater,
                        (None, None) => a.cmp(b),
                    };
                    if ordering != Ordering::Equal {
                        return Some(ordering);
                    }
                }
                left.prerelease.len().cmp(&right.prerelease.len())
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::compare;
    use std::cmp::Ordering::{Equal, Greater, Less};

    #[test]
    fn specification_example_order() {
        // The example list of semver.org section 11, in ascending order.
        let versions = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "2.0.0",
            "2.1.0",
            "2.1.1",
            "2.10.0",
        ];
        for (index, lower) in versions.iter().enumerate() {
            for higher in &versions[index + 1..] {
                assert_eq!(compare(lower, higher), Some(Less), "{lower} < {higher}");
                assert_eq!(compare(higher, lower), Some(Greater), "{higher} > {lower}");
            }
        }
    }

    #[test]
    fn build_metadata_is_ignored() {
        assert_eq!(compare("1.0.0+build.1", "1.0.0+build.2"), Some(Equal));
    }

    #[test]
    fn invalid_versions_are_rejected() {
        for text in [
            "1.0",
            "1.0.0.0",
            "01.0.0",
            "1.0.0-01",
            "1.0.0-",
            "1.0.0+",
            "v1.0.0",
            "1.0.0-a..b",
        ] {
            assert_eq!(compare(text, "1.0.0"), None, "{text:?}");
        }
    }
}
