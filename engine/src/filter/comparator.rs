//! Comparators: the `'type:value'` operand of RowFilter, FamilyFilter, QualifierFilter,
//! ValueFilter and the SingleColumnValue filters, compiled once per filter string.
//!
//! Each one answers HBase's `compareTo(cell bytes)` as an [`Ordering`] of the operand against
//! the cell's bytes, which [`super::CompareOp::passes`] turns into pass or fail:
//!
//! - `binary:v`: the bytes compared lexicographically (unsigned).
//! - `binaryprefix:v`: `v` against the cell's first `len(v)` bytes.
//! - `substring:v`: `Equal` when the cell, decoded as UTF-8 (bad bytes become U+FFFD) and
//!   lower-cased, contains lower-cased `v`; otherwise `Greater`. Case-insensitive, like HBase.
//! - `regexstring:v`: `Equal` when the regular expression matches anywhere in the cell (Java's
//!   `find()`); otherwise `Greater`. It runs on bytes with `.` matching any byte including a
//!   newline (HBase compiles with `DOTALL` and decodes cells as ISO-8859-1, one character per
//!   byte), and `\w`, `\d`, `(?i)` are ASCII-only, as Java's defaults are. The syntax is the
//!   `regex` crate's, so no backreferences or look-around (HBase's Java regexes have them); a
//!   non-ASCII character written in the pattern matches its UTF-8 bytes (in HBase it matches the
//!   one byte of its ISO-8859-1 code, so write `\xE9` for that).
//!
//! A compiled regex is bounded ([`REGEX_SIZE_LIMIT`], [`REGEX_NEST_LIMIT`]) and the `regex`
//! crate matches in time linear in the cell, so no pattern can exhaust memory or stall a scan.
//! This file must never know about rows, cells or filters: bytes in, an ordering out.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use regex::bytes::{Regex, RegexBuilder};

/// Most memory one compiled regular expression (and, separately, its lazy DFA cache) may take.
pub const REGEX_SIZE_LIMIT: usize = 256 * 1024;
/// Deepest nesting of groups and repetitions a pattern may have.
pub const REGEX_NEST_LIMIT: u32 = 64;

/// Which comparator a `'type:value'` operand names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ComparatorKind {
    /// `binary:`
    Binary,
    /// `binaryprefix:`
    BinaryPrefix,
    /// `substring:` (only with `=` and `!=`)
    Substring,
    /// `regexstring:` (only with `=` and `!=`)
    RegexString,
}

impl ComparatorKind {
    /// Every kind.
    pub const ALL: [ComparatorKind; 4] = [
        ComparatorKind::Binary,
        ComparatorKind::BinaryPrefix,
        ComparatorKind::Substring,
        ComparatorKind::RegexString,
    ];

    /// The type name before the colon.
    pub fn name(self) -> &'static str {
        match self {
            ComparatorKind::Binary => "binary",
            ComparatorKind::BinaryPrefix => "binaryprefix",
            ComparatorKind::Substring => "substring",
            ComparatorKind::RegexString => "regexstring",
        }
    }

    /// The kind named `name` (case-sensitive, as HBase).
    pub fn from_name(name: &[u8]) -> Option<ComparatorKind> {
        ComparatorKind::ALL
            .into_iter()
            .find(|k| k.name().as_bytes() == name)
    }

    /// Whether the kind only answers "matches or not", so only `=` and `!=` make sense (HBase
    /// rejects the other operators for these two).
    pub fn equality_only(self) -> bool {
        matches!(
            self,
            ComparatorKind::Substring | ComparatorKind::RegexString
        )
    }
}

#[derive(Clone)]
enum Matcher {
    Bytes,
    /// The operand, decoded and lower-cased once.
    Substring(String),
    Regex(Arc<Regex>),
}

/// A compiled comparator. Two comparators are equal when their kind and operand bytes are.
#[derive(Clone)]
pub struct Comparator {
    kind: ComparatorKind,
    value: Vec<u8>,
    matcher: Matcher,
}

impl Comparator {
    /// Compile `kind:value`. The error says what is wrong with the operand (a bad regex, a
    /// regex that is not UTF-8 or over the size limit).
    pub fn new(kind: ComparatorKind, value: Vec<u8>) -> Result<Comparator, String> {
        let matcher = match kind {
            ComparatorKind::Binary | ComparatorKind::BinaryPrefix => Matcher::Bytes,
            ComparatorKind::Substring => {
                Matcher::Substring(String::from_utf8_lossy(&value).to_lowercase())
            }
            ComparatorKind::RegexString => {
                let pattern = std::str::from_utf8(&value)
                    .map_err(|e| format!("regexstring pattern is not valid UTF-8 ({e})"))?;
                let regex = RegexBuilder::new(pattern)
                    .unicode(false)
                    .dot_matches_new_line(true)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .dfa_size_limit(REGEX_SIZE_LIMIT)
                    .nest_limit(REGEX_NEST_LIMIT)
                    .build()
                    .map_err(|e| format!("bad regexstring pattern: {}", regex_message(&e)))?;
                Matcher::Regex(Arc::new(regex))
            }
        };
        Ok(Comparator {
            kind,
            value,
            matcher,
        })
    }

    /// The kind.
    pub fn kind(&self) -> ComparatorKind {
        self.kind
    }

    /// The operand as written (after the colon).
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// The operand compared with `cell` (HBase's `compareTo`).
    pub fn compare(&self, cell: &[u8]) -> Ordering {
        match &self.matcher {
            Matcher::Bytes if self.kind == ComparatorKind::BinaryPrefix => {
                let n = self.value.len().min(cell.len());
                self.value.as_slice().cmp(&cell[..n])
            }
            Matcher::Bytes => self.value.as_slice().cmp(cell),
            Matcher::Substring(needle) => found(contains_folded(cell, needle)),
            Matcher::Regex(re) => found(re.is_match(cell)),
        }
    }
}

fn found(yes: bool) -> Ordering {
    if yes {
        Ordering::Equal
    } else {
        Ordering::Greater
    }
}

/// Whether `cell`, decoded and lower-cased, contains `needle` (already lower-cased).
fn contains_folded(cell: &[u8], needle: &str) -> bool {
    if cell.is_ascii() {
        // For ASCII text, ASCII lower-casing is Unicode lower-casing, and needs no decoding
        // (ASCII bytes are valid UTF-8, so the conversion cannot fail).
        let lower = cell.to_ascii_lowercase();
        return std::str::from_utf8(&lower).is_ok_and(|s| s.contains(needle));
    }
    String::from_utf8_lossy(cell)
        .to_lowercase()
        .contains(needle)
}

/// The regex crate's message without its multi-line caret drawing.
fn regex_message(e: &regex::Error) -> String {
    match e {
        regex::Error::CompiledTooBig(limit) => {
            format!("the compiled pattern is over the limit of {limit} bytes")
        }
        other => {
            let text = other.to_string();
            text.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim().trim_start_matches("error: ").to_string())
                .unwrap_or(text)
        }
    }
}

impl PartialEq for Comparator {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.value == other.value
    }
}

impl Eq for Comparator {}

impl fmt::Debug for Comparator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}",
            self.kind.name(),
            String::from_utf8_lossy(&self.value)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(kind: ComparatorKind, operand: &str, cell: &[u8]) -> Ordering {
        Comparator::new(kind, operand.as_bytes().to_vec())
            .expect("valid")
            .compare(cell)
    }

    #[test]
    fn binary_and_binary_prefix_order_like_hbase() {
        use ComparatorKind::*;
        assert_eq!(cmp(Binary, "abc", b"abc"), Ordering::Equal);
        assert_eq!(cmp(Binary, "abc", b"abd"), Ordering::Less);
        assert_eq!(cmp(Binary, "abc", b"ab"), Ordering::Greater);
        // Unsigned bytes: 0xFF sorts after ASCII.
        assert_eq!(cmp(Binary, "z", &[0xFF]), Ordering::Less);
        assert_eq!(cmp(BinaryPrefix, "ab", b"abzzz"), Ordering::Equal);
        assert_eq!(cmp(BinaryPrefix, "ab", b"a"), Ordering::Greater);
        assert_eq!(cmp(BinaryPrefix, "ab", b"b"), Ordering::Less);
        assert_eq!(cmp(BinaryPrefix, "", b"anything"), Ordering::Equal);
    }

    #[test]
    fn substring_is_case_insensitive_and_unicode_aware() {
        use ComparatorKind::*;
        assert_eq!(cmp(Substring, "GoPay", b"paid with gopay"), Ordering::Equal);
        assert_eq!(cmp(Substring, "gopay", b"GOPAY"), Ordering::Equal);
        assert_eq!(cmp(Substring, "ovo", b"gopay"), Ordering::Greater);
        assert_eq!(
            cmp(Substring, "ÉCOLE", "une école".as_bytes()),
            Ordering::Equal
        );
        // Bad UTF-8 in the cell does not hide the text around it.
        assert_eq!(cmp(Substring, "ab", b"\xFFAB\xFE"), Ordering::Equal);
    }

    #[test]
    fn regexstring_finds_anywhere_on_bytes() {
        use ComparatorKind::*;
        assert_eq!(cmp(RegexString, "^2024", b"2024-01-01"), Ordering::Equal);
        assert_eq!(cmp(RegexString, "^2024", b"x2024"), Ordering::Greater);
        assert_eq!(cmp(RegexString, "b.d", b"abd"), Ordering::Greater);
        // DOTALL: '.' matches a newline; and any byte, not only UTF-8.
        assert_eq!(cmp(RegexString, "a.c", b"a\nc"), Ordering::Equal);
        assert_eq!(cmp(RegexString, "a.c", b"a\xFFc"), Ordering::Equal);
        assert_eq!(cmp(RegexString, "\\xE9", b"caf\xE9"), Ordering::Equal);
        assert_eq!(cmp(RegexString, "(?i)GOPAY", b"gopay"), Ordering::Equal);
        // A non-ASCII character in the pattern matches its UTF-8 bytes.
        assert_eq!(cmp(RegexString, "é", "café".as_bytes()), Ordering::Equal);
        assert_eq!(cmp(RegexString, "é", b"caf\xE9"), Ordering::Greater);
    }

    #[test]
    fn bad_and_oversized_regexes_are_errors_not_panics() {
        use ComparatorKind::RegexString;
        let e = Comparator::new(RegexString, b"(unclosed".to_vec()).expect_err("bad");
        assert!(e.contains("unclosed group"), "{e}");
        let e = Comparator::new(RegexString, b"a{1000}{1000}".to_vec()).expect_err("big");
        assert!(e.contains("limit"), "{e}");
        let deep = format!("{}a{}", "(".repeat(200), ")".repeat(200));
        let e = Comparator::new(RegexString, deep.into_bytes()).expect_err("deep");
        assert!(e.contains("nest"), "{e}");
        let e = Comparator::new(RegexString, vec![b'a', 0xFF]).expect_err("not utf-8");
        assert!(e.contains("UTF-8"), "{e}");
        let e = Comparator::new(RegexString, b"(a)\\1".to_vec()).expect_err("backref");
        assert!(e.contains("backreference"), "{e}");
    }

    #[test]
    fn equality_is_by_kind_and_operand() {
        let a = Comparator::new(ComparatorKind::RegexString, b"^a".to_vec()).expect("ok");
        let b = Comparator::new(ComparatorKind::RegexString, b"^a".to_vec()).expect("ok");
        let c = Comparator::new(ComparatorKind::Binary, b"^a".to_vec()).expect("ok");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(format!("{a:?}"), "regexstring:^a");
    }
}
