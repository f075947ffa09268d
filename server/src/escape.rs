//! How keys, qualifiers and values are shown to people and read back from them: valid UTF-8
//! is shown as text, anything else with `\xNN` escapes (HBase shell style), and `\xNN` typed
//! on a command line is read back as that byte.
//!
//! Pure functions only; this module must never print or touch I/O.

use std::borrow::Cow;
use std::fmt::Write;

/// Bytes as text for a terminal: valid UTF-8 as is, with control characters escaped
/// (`\n`, `\t`, `\r`, `\xNN`); invalid UTF-8 as printable ASCII plus `\xNN` for every other
/// byte (a literal backslash then shows as `\x5C`, so the output reads back unambiguously).
pub fn display(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) if !s.chars().any(char::is_control) => Cow::Borrowed(s),
        Ok(s) => {
            let mut out = String::with_capacity(s.len() + 8);
            for c in s.chars() {
                match c {
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    '\r' => out.push_str("\\r"),
                    c if c.is_control() && (c as u32) < 0x100 => {
                        let _ = write!(out, "\\x{:02X}", c as u32);
                    }
                    c if c.is_control() => {
                        let _ = write!(out, "\\u{{{:X}}}", c as u32);
                    }
                    c => out.push(c),
                }
            }
            Cow::Owned(out)
        }
        Err(_) => Cow::Owned(binary(bytes)),
    }
}

/// Bytes for JSON output: the text itself when valid UTF-8 (JSON escapes what it must),
/// otherwise the `\xNN`-escaped form of [`display`].
pub fn json(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(binary(bytes)),
    }
}

/// Whether [`json`] had to escape these bytes.
pub fn is_utf8(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok()
}

fn binary(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            out.push(b as char);
        } else {
            let _ = write!(out, "\\x{b:02X}");
        }
    }
    out
}

/// Read a command-line argument as bytes: `\xNN` (two hex digits) is that byte and `\\` is
/// one backslash; every other character, including a backslash before anything else, is
/// taken literally as its UTF-8 bytes.
pub fn parse(text: &str) -> Vec<u8> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if b.get(i + 1) == Some(&b'\\') {
                out.push(b'\\');
                i += 2;
                continue;
            }
            if b.get(i + 1) == Some(&b'x')
                && let (Some(h), Some(l)) = (
                    b.get(i + 2).and_then(|c| hex(*c)),
                    b.get(i + 3).and_then(|c| hex(*c)),
                )
            {
                out.push(h << 4 | l);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_shown_as_text() {
        assert_eq!(display(b"hello"), "hello");
        assert_eq!(display("Jakarta café".as_bytes()), "Jakarta café");
        assert_eq!(display(b"a\nb\x01"), "a\\nb\\x01");
        assert_eq!(json(b"a\nb"), "a\nb");
    }

    #[test]
    fn binary_is_escaped_and_reads_back() {
        let raw = [0x00u8, b'a', 0xff, b'\\', 0x80];
        let shown = display(&raw);
        assert_eq!(shown, "\\x00a\\xFF\\x5C\\x80");
        assert_eq!(parse(&shown), raw);
        assert!(!is_utf8(&raw));
    }

    #[test]
    fn parse_keeps_other_backslashes() {
        assert_eq!(parse("a\\b"), b"a\\b");
        assert_eq!(parse("a\\\\b"), b"a\\b");
        assert_eq!(parse("\\x4"), b"\\x4");
        assert_eq!(parse("\\x41\\x42c"), b"ABc");
    }
}
