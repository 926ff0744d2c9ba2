//! Alpine (apk) package version ordering, following the rules of
//! apk-tools: `1.2.3[letter][_suffix[N]]...[-rN]`.
//!
//! After equal leading parts, the version that goes on is greater, unless
//! what follows is a pre-release suffix (`_alpha`, `_beta`, `_pre`, `_rc`),
//! which makes it smaller. Where two versions go on differently, more
//! digits beat a letter, a letter beats a post-release suffix (`_cvs`,
//! `_svn`, `_git`, `_hg`, `_p`), which beats a revision, which beats the
//! end.

use std::cmp::Ordering;

const SUFFIXES: [&str; 9] = ["alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p"];
/// Index in [`SUFFIXES`] of the first post-release suffix.
const FIRST_POST_SUFFIX: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token<'a> {
    /// A dotted number component; the first one of a version has
    /// `first` set.
    Digits {
        digits: &'a str,
        first: bool,
    },
    Letter(u8),
    Suffix {
        index: usize,
        number: u64,
    },
    Revision(u64),
    End,
}

impl Token<'_> {
    fn rank(&self) -> u8 {
        match self {
            Token::Digits { .. } => 0,
            Token::Letter(_) => 1,
            Token::Suffix { .. } => 2,
            Token::Revision(_) => 3,
            Token::End => 4,
        }
    }

    fn is_pre_release(&self) -> bool {
        matches!(self, Token::Suffix { index, .. } if *index < FIRST_POST_SUFFIX)
    }
}

/// Splits `text` into tokens, or returns `None` when it is not an apk
/// version.
fn tokenize(text: &str) -> Option<Vec<Token<'_>>> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut position = 0;
    let digits_at = |start: usize| {
        bytes[start..]
            .iter()
            .take_while(|byte| byte.is_ascii_digit())
            .count()
    };

    // Dotted numbers.
    loop {
        let len = digits_at(position);
        if len == 0 {
            return None;
        }
        tokens.push(Token::Digits {
            digits: &text[position..position + len],
            first: tokens.is_empty(),
        });
        position += len;
        if bytes.get(position) == Some(&b'.') {
            position += 1;
        } else {
            break;
        }
    }
    // One optional letter.
    if let Some(&letter) = bytes.get(position).filter(|byte| byte.is_ascii_lowercase()) {
        tokens.push(Token::Letter(letter));
        position += 1;
    }
    // Suffixes.
    while bytes.get(position) == Some(&b'_') {
        position += 1;
        let index = SUFFIXES
            .iter()
            .enumerate()
            .filter(|(_, name)| text[position..].starts_with(**name))
            .max_by_key(|(_, name)| name.len())
            .map(|(index, _)| index)?;
        position += SUFFIXES[index].len();
        let len = digits_at(position);
        let number = if len == 0 {
            0
        } else {
            text[position..position + len].parse().ok()?
        };
        position += len;
        tokens.push(Token::Suffix { index, number });
    }
    // Revision.
    if text[position..].starts_with("-r") {
        position += 2;
        let len = digits_at(position);
        if len == 0 {
            return None;
        }
        tokens.push(Token::Revision(
            text[position..position + len].parse().ok()?,
        ));
        position += len;
    }
    if position != text.len() {
        return None;
    }
    tokens.push(Token::End);
    Some(tokens)
}

fn compare_numbers(left: &str, right: &str) -> Ordering {
    let left = left.trim_start_matches('0');
    let right = right.trim_start_matches('0');
    left.len().cmp(&right.len()).then_with(|| left.cmp(right))
}

fn compare_tokens(left: &Token<'_>, right: &Token<'_>) -> Ordering {
    match (left, right) {
        (Token::Digits { digits: a, first }, Token::Digits { digits: b, .. }) => {
            // apk compares a later component with a leading zero as a
            // decimal fraction, that is, as a string.
            let fractional = !first && (a.starts_with('0') || b.starts_with('0'));
            if fractional {
                a.cmp(b)
            } else {
                compare_numbers(a, b)
            }
        }
        (Token::Letter(a), Token::Letter(b)) => a.cmp(b),
        (
            Token::Suffix {
                index: a,
                number: x,
            },
            Token::Suffix {
                index: b,
                number: y,
            },
        ) => a.cmp(b).then(x.cmp(y)),
        (Token::Revision(a), Token::Revision(b)) => a.cmp(b),
        (Token::End, Token::End) => Ordering::Equal,
        _ if left.is_pre_release() => Ordering::Less,
        _ if right.is_pre_release() => Ordering::Greater,
        _ => right.rank().cmp(&left.rank()),
    }
}

/// Compares two apk versions; `None` when either does not parse.
pub fn compare(left: &str, right: &str) -> Option<Ordering> {
    let left = tokenize(left)?;
    let right = tokenize(right)?;
    for (a, b) in left.iter().zip(&right) {
        let ordering = compare_tokens(a, b);
        if ordering != Ordering::Equal {
            return Some(ordering);
        }
    }
    Some(Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use super::compare;
    use std::cmp::Ordering::{Equal, Greater, Less};

    fn assert_ascending(versions: &[&str]) {
        for (index, lower) in versions.iter().enumerate() {
            for higher in &versions[index + 1..] {
                assert_eq!(compare(lower, higher), Some(Less), "{lower} < {higher}");
                assert_eq!(compare(higher, lower), Some(Greater), "{higher} > {lower}");
            }
        }
    }

    #[test]
    fn suffixes_and_revisions_order() {
        assert_ascending(&[
            "1.2_alpha",
            "1.2_alpha1",
            "1.2_beta2",
            "1.2_pre1",
            "1.2_rc1",
            "1.2",
            "1.2-r1",
            "1.2-r10",
            "1.2_p1",
            "1.2a",
            "1.2.1",
            "1.10",
        ]);
        assert_ascending(&["1.36.1-r2", "1.36.1-r3", "1.37.0-r0"]);
    }

    #[test]
    fn equal_and_invalid() {
        assert_eq!(compare("1.2-r0", "1.2-r0"), Some(Equal));
        assert_eq!(compare("01.2", "1.2"), Some(Equal));
        for text in ["", "a1", "1..2", "1.2-r", "1.2_foo", "1.2 ", "1.2-1"] {
            assert_eq!(compare(text, "1.0"), None, "{text:?}");
        }
    }

    #[test]
    fn leading_zero_components_compare_as_fractions() {
        assert_ascending(&["1.01", "1.1"]);
        assert_ascending(&["1.001", "1.01"]);
    }
}
