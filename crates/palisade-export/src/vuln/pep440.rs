//! PEP 440 version ordering, used for PyPI packages.
//!
//! Accepts the normalized form and the alternative spellings PEP 440
//! lists: any case, a leading `v`, `alpha`/`beta`/`c`/`pre`/`preview` for
//! `a`/`b`/`rc`, `rev`/`r` or `-N` for `.postN`, and `-`, `_` or `.` as
//! separators, or none. The local label (`+…`) takes part in the order as
//! PEP 440 specifies, with numeric segments above alphanumeric ones.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Version {
    epoch: u64,
    release: Vec<u64>,
    /// (0 for a, 1 for b, 2 for rc; number)
    pre: Option<(u8, u64)>,
    post: Option<u64>,
    dev: Option<u64>,
    local: Vec<LocalSegment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum LocalSegment {
    Number(u64),
    Text(String),
}

struct Scanner<'a> {
    text: &'a str,
    position: usize,
}

impl Scanner<'_> {
    fn rest(&self) -> &str {
        &self.text[self.position..]
    }

    fn number(&mut self) -> Option<u64> {
        let len = self.rest().bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 {
            return None;
        }
        let value = self.rest()[..len].parse().ok()?;
        self.position += len;
        Some(value)
    }

    fn separator(&mut self) -> bool {
        if matches!(self.rest().bytes().next(), Some(b'.' | b'-' | b'_')) {
            self.position += 1;
            true
        } else {
            false
        }
    }

    /// Consumes the longest of `words` at the current position.
    fn word(&mut self, words: &[&str]) -> Option<usize> {
        let index = words
            .iter()
            .enumerate()
            .filter(|(_, word)| self.rest().starts_with(**word))
            .max_by_key(|(_, word)| word.len())
            .map(|(index, _)| index)?;
        self.position += words[index].len();
        Some(index)
    }

    /// Runs `step` and rewinds when it returns `None`.
    fn attempt<T>(&mut self, step: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        let start = self.position;
        let result = step(self);
        if result.is_none() {
            self.position = start;
        }
        result
    }
}

fn parse(text: &str) -> Option<Version> {
    let lowered = text.trim().to_ascii_lowercase();
    let lowered = lowered.strip_prefix('v').unwrap_or(&lowered);
    let (public, local) = match lowered.split_once('+') {
        Some((public, local)) => (public, Some(local)),
        None => (lowered, None),
    };
    let mut scanner = Scanner {
        text: public,
        position: 0,
    };

    let epoch = scanner.attempt(|s| {
        let epoch = s.number()?;
        s.rest().starts_with('!').then(|| {
            s.position += 1;
            epoch
        })
    });
    let mut release = vec![scanner.number()?];
    while let Some(part) = scanner.attempt(|s| {
        if s.rest().starts_with('.') {
            s.position += 1;
            s.number()
        } else {
            None
        }
    }) {
        release.push(part);
    }

    let pre = scanner.attempt(|s| {
        s.separator();
        let kind = match s.word(&["a", "b", "c", "rc", "alpha", "beta", "pre", "preview"])? {
            0 | 4 => 0,
            1 | 5 => 1,
            _ => 2,
        };
        s.separator();
        Some((kind, s.number().unwrap_or(0)))
    });
    let post = scanner
        .attempt(|s| {
            if !s.rest().starts_with('-') {
                return None;
            }
            s.position += 1;
            s.number()
        })
        .or_else(|| {
            scanner.attempt(|s| {
                s.separator();
                s.word(&["post", "rev", "r"])?;
                s.separator();
                Some(s.number().unwrap_or(0))
            })
        });
    let dev = scanner.attempt(|s| {
        s.separator();
        s.word(&["dev"])?;
        s.separator();
        Some(s.number().unwrap_or(0))
    });
    if !scanner.rest().is_empty() {
        return None;
    }

    let local = match local {
        Some(local) => {
            let mut segments = Vec::new();
            for segment in local.split(['.', '-', '_']) {
                if segment.is_empty() || !segment.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return None;
                }
                segments.push(match segment.parse() {
                    Ok(number) if segment.bytes().all(|b| b.is_ascii_digit()) => {
                        LocalSegment::Number(number)
                    }
                    _ => LocalSegment::Text(segment.to_owned()),
                });
            }
            segments
        }
        None => Vec::new(),
    };
    while release.len() > 1 && release.last() == Some(&0) {
        release.pop();
    }
    Some(Version {
        epoch: epoch.unwrap_or(0),
        release,
        pre,
        post,
        dev,
        local,
    })
}

/// Returns the sort key of the pre-release part. A development release
/// without a pre-release sorts before all pre-releases, and a final or post
/// release after them.
fn pre_key(version: &Version) -> (u8, u8, u64) {
    match version.pre {
        None if version.post.is_none() && version.dev.is_some() => (0, 0, 0),
        Some((kind, number)) => (1, kind, number),
        None => (2, 0, 0),
    }
}

fn compare_local(left: &[LocalSegment], right: &[LocalSegment]) -> Ordering {
    for (a, b) in left.iter().zip(right) {
        let ordering = match (a, b) {
            (LocalSegment::Number(x), LocalSegment::Number(y)) => x.cmp(y),
            (LocalSegment::Number(_), LocalSegment::Text(_)) => Ordering::Greater,
            (LocalSegment::Text(_), LocalSegment::Number(_)) => Ordering::Less,
            (LocalSegment::Text(x), LocalSegment::Text(y)) => x.cmp(y),
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    left.len().cmp(&right.len())
}

/// Compares two PEP 440 versions; `None` when either does not parse.
pub fn compare(left: &str, right: &str) -> Option<Ordering> {
    let left = parse(left)?;
    let right = parse(right)?;
    // An absent post release sorts before post release 0, and an absent dev
    // release after every dev release.
    let post = |version: &Version| version.post.map_or((0, 0), |number| (1, number));
    let dev = |version: &Version| version.dev.map_or((1, 0), |number| (0, number));
    Some(
        left.epoch
            .cmp(&right.epoch)
            .then_with(|| left.release.cmp(&right.release))
            .then_with(|| pre_key(&left).cmp(&pre_key(&right)))
            .then_with(|| post(&left).cmp(&post(&right)))
            .then_with(|| dev(&left).cmp(&dev(&right)))
            .then_with(|| compare_local(&left.local, &right.local)),
    )
}

#[cfg(test)]
mod tests {
    use super::compare;
    use std::cmp::Ordering::{Equal, Greater, Less};

    #[test]
    fn pep_440_example_order() {
        // The ordering example of PEP 440's "Summary of permitted suffixes
        // and relative ordering", ascending.
        let versions = [
            "1.dev0",
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0rc1.dev456",
            "1.0rc1",
            "1.0",
            "1.0+abc.5",
            "1.0+abc.7",
            "1.0+5",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.0.15",
            "1.1.dev1",
        ];
        for (index, lower) in versions.iter().enumerate() {
            for higher in &versions[index + 1..] {
                assert_eq!(compare(lower, higher), Some(Less), "{lower} < {higher}");
                assert_eq!(compare(higher, lower), Some(Greater), "{higher} > {lower}");
            }
        }
    }

    #[test]
    fn alternative_spellings_are_equal() {
        for (spelled, normal) in [
            ("1.0", "1.0.0"),
            ("v1.0", "1.0"),
            ("1.0ALPHA1", "1.0a1"),
            ("1.0-beta.2", "1.0b2"),
            ("1.0c1", "1.0rc1"),
            ("1.0-preview-3", "1.0rc3"),
            ("1.0-1", "1.0.post1"),
            ("1.0rev2", "1.0.post2"),
            ("1.0-dev", "1.0.dev0"),
            ("0!2.1", "2.1"),
        ] {
            assert_eq!(
                compare(spelled, normal),
                Some(Equal),
                "{spelled} == {normal}"
            );
        }
        assert_eq!(compare("1!0.1", "2.0"), Some(Greater));
    }

    #[test]
    fn invalid_versions_are_rejected() {
        for text in ["", "one", "1.0-", "1.0+", "1.0+a..b", "1.0foo", "1..0"] {
            assert_eq!(compare(text, "1.0"), None, "{text:?}");
        }
    }
}
