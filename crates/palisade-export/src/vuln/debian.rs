//! Debian package version ordering, as dpkg implements Debian policy
//! section 5.6.12: `[epoch:]upstream_version[-debian_revision]`.

use std::cmp::Ordering;

/// A parsed Debian version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebianVersion<'a> {
    epoch: u64,
    upstream: &'a str,
    revision: &'a str,
}

/// Parses `text` as a Debian version, or returns `None` when it is not one.
///
/// The epoch is the decimal number before the first colon (0 when there
/// is none); the revision is what follows the last hyphen (empty when there
/// is none). The upstream version must start with a digit and the version
/// may contain only ASCII letters, digits and `.+~-:` (policy 5.6.12).
pub fn parse(text: &str) -> Option<DebianVersion<'_>> {
    let (epoch, rest) = match text.split_once(':') {
        Some((epoch, rest)) => {
            if epoch.is_empty() || !epoch.bytes().all(|byte| byte.is_ascii_digit()) {
                return None;
            }
            (epoch.parse().ok()?, rest)
        }
        None => (0, text),
    };
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((_, "")) => return None,
        Some((upstream, revision)) => (upstream, revision),
        None => (rest, ""),
    };
    let allowed =
        |byte: u8| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'+' | b'~' | b'-' | b':');
    if !upstream.as_bytes().first().is_some_and(u8::is_ascii_digit)
        || !upstream.bytes().all(allowed)
        || !revision
            .bytes()
            .all(|byte| allowed(byte) && byte != b'-' && byte != b':')
    {
        return None;
    }
    Some(DebianVersion {
        epoch,
        upstream,
        revision,
    })
}

/// Compares two Debian versions; `None` when either does not parse.
pub fn compare(left: &str, right: &str) -> Option<Ordering> {
    let left = parse(left)?;
    let right = parse(right)?;
    Some(
        left.epoch
            .cmp(&right.epoch)
            .then_with(|| compare_part(left.upstream, right.upstream))
            .then_with(|| compare_part(left.revision, right.revision)),
    )
}

/// The sort weight of one character in a non-digit run: `~` sorts before
/// everything, even the end of the string; letters sort before all other
/// characters.
fn weight(byte: Option<u8>) -> i32 {
    match byte {
        None => 0,
        Some(b'~') => -1,
        Some(byte) if byte.is_ascii_digit() => 0,
        Some(byte) if byte.is_ascii_alphabetic() => i32::from(byte),
        Some(byte) => i32::from(byte) + 256,
    }
}

/// Compares upstream versions or revisions: alternating runs of non-digits
/// (compared character by character with [`weight`]) and digits (compared
/// as numbers).
fn compare_part(left: &str, right: &str) -> Ordering {
    let (left, right) = (left.as_bytes(), right.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < left.len() || j < right.len() {
        while (i < left.len() && !left[i].is_ascii_digit())
            || (j < right.len() && !right[j].is_ascii_digit())
        {
            let a = weight(left.get(i).copied().filter(|byte| !byte.is_ascii_digit()));
            let b = weight(right.get(j).copied().filter(|byte| !byte.is_ascii_digit()));
            if a != b {
                return a.cmp(&b);
            }
            if i < left.len() && !left[i].is_ascii_digit() {
                i += 1;
            }
            if j < right.len() && !right[j].is_ascii_digit() {
                j += 1;
            }
        }
        let start_i = i;
        while i < left.len() && left[i].is_ascii_digit() {
            i += 1;
        }
        let start_j = j;
        while j < right.len() && right[j].is_ascii_digit() {
            j += 1;
        }
        let ordering = compare_digits(&left[start_i..i], &right[start_j..j]);
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    Ordering::Equal
}

/// Compares two runs of ASCII digits as numbers of any length.
fn compare_digits(left: &[u8], right: &[u8]) -> Ordering {
    let trim = |digits: &[u8]| -> usize { digits.iter().take_while(|&&byte| byte == b'0').count() };
    let left = &left[trim(left)..];
    let right = &right[trim(right)..];
    left.len().cmp(&right.len()).then_with(|| left.cmp(right))
}

#[cfg(test)]
mod tests {
    use super::{compare, parse};
    use std::cmp::Ordering::{Equal, Greater, Less};

    /// Asserts that `versions` are in strictly ascending order, pair by pair
    /// and in both directions.
    fn assert_ascending(versions: &[&str]) {
        for (index, lower) in versions.iter().enumerate() {
            for higher in &versions[index + 1..] {
                assert_eq!(compare(lower, higher), Some(Less), "{lower} < {higher}");
                assert_eq!(compare(higher, lower), Some(Greater), "{higher} > {lower}");
            }
        }
    }

    #[test]
    fn tilde_sorts_before_everything() {
        // The sequence that Debian policy 5.6.12 gives as its example.
        assert_ascending(&["1.0~~", "1.0~~a", "1.0~", "1.0", "1.0a"]);
        assert_ascending(&[
            "3.0.11-1~deb12u1",
            "3.0.11-1~deb12u2",
            "3.0.11-1",
            "3.0.11-1+b1",
        ]);
    }

    #[test]
    fn letters_sort_before_non_letters() {
        assert_ascending(&["1.0", "1.0A", "1.0Z", "1.0a", "1.0z", "1.0+", "1.0."]);
        assert_ascending(&["1.0z", "1.0+a"]);
    }

    #[test]
    fn digits_compare_as_numbers() {
        assert_ascending(&["1.2", "1.9", "1.10", "1.100"]);
        assert_ascending(&[
            "1.99999999999999999999998",
            "1.99999999999999999999999",
            "1.100000000000000000000000",
        ]);
        assert_eq!(compare("1.001", "1.1"), Some(Equal));
    }

    #[test]
    fn epoch_dominates() {
        assert_ascending(&["9.9-9", "1:0.1", "1:1.0", "2:0.0.1"]);
        assert_eq!(compare("0:1.0", "1.0"), Some(Equal));
    }

    #[test]
    fn revision_compares_last() {
        assert_ascending(&[
            "1.0", "1.0-0.1", "1.0-1", "1.0-2", "1.0-9", "1.0-10", "1.0.1-1",
        ]);
        assert_eq!(compare("1.0-0", "1.0-00"), Some(Equal));
        assert_eq!(compare("1.0-1-2", "1.0-1-2"), Some(Equal));
        assert_ascending(&["1.0-1-1", "1.0-1-2", "1.0-2-1"]);
    }

    #[test]
    fn invalid_versions_are_rejected() {
        for text in [
            "",
            "a1.0",
            "1.0 ",
            ":1.0",
            "x:1.0",
            "1.0-a-b:c",
            "1.0_1",
            "1.0-",
            "-1",
        ] {
            assert!(parse(text).is_none(), "{text:?} should not parse");
            assert_eq!(compare(text, "1.0"), None, "{text:?}");
        }
    }
}
