//! Text into HTML and SVG: escaping of everything that came from users or data (table
//! names, values, keys), and the number and time formats the pages show.
//!
//! Pure functions; every page and chart writes user-controlled text through [`text`] or
//! [`bytes`], never raw.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::escape;

/// `s` safe inside HTML or SVG text and inside quoted attribute values: `& < > " '` escaped.
pub fn text(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Bytes (a key or value) as escaped text: valid UTF-8 as is (control characters as `\n`,
/// `\xNN`), anything else with `\xNN` escapes, then HTML-escaped.
pub fn bytes(b: &[u8]) -> String {
    text(&escape::display(b)).into_owned()
}

/// A count with thousands separators: `12,800,000`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An amount: whole numbers like [`count`] (with a sign), others with two decimals.
pub fn amount(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v.fract() == 0.0 && v.abs() < 1e18 {
        let sign = if v < 0.0 { "-" } else { "" };
        return format!("{sign}{}", count(v.abs() as u64));
    }
    format!("{v:.2}")
}

/// A byte size for people: `512 B`, `3.4 KiB`, `12.0 MiB`, `1.5 GiB`.
pub fn size(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Microseconds since the epoch as `2026-12-01 14:03:07 UTC`.
pub fn time(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let (y, m, d) = strata_engine::iso8601::civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let mut out = String::new();
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    );
    out
}

/// Microseconds since the epoch as RFC 3339 (`2026-12-01T14:03:07.123456Z`), for JSON.
pub fn rfc3339(micros: i64) -> String {
    let mut b = Vec::with_capacity(27);
    strata_loader::time::push_timestamp_micros(&mut b, micros);
    String::from_utf8_lossy(&b).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(text("plain"), "plain");
        assert_eq!(
            text(r#"<script>alert("x&y")</script>'"#),
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;&#39;"
        );
        assert_eq!(bytes(b"a<b\xff"), "a&lt;b\\xFF");
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(12_800_000), "12,800,000");
        assert_eq!(amount(1_234_567.0), "1,234,567");
        assert_eq!(amount(-2500.0), "-2,500");
        assert_eq!(amount(2.5), "2.50");
        assert_eq!(size(512), "512 B");
        assert_eq!(size(3 << 20), "3.0 MiB");
        assert_eq!(time(1_659_108_121_458_193), "2022-07-29 15:22:01 UTC");
        assert_eq!(
            rfc3339(1_659_108_121_458_193),
            "2022-07-29T15:22:01.458193Z"
        );
    }
}
