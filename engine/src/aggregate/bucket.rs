//! From a cell value to its bucket: the value itself, a UTC truncation of an ISO-8601 value
//! (year, month, day, hour), the hour of day, an age in whole years, or the index of a
//! width-W numeric range; and from a derived bucket back to the key bytes a reply shows
//! (`2022-07`, `07`, `34`, `-2.5`). Also the numeric parse of summed values.
//!
//! Pure functions, no allocation on the per-value path; this module must never read the
//! clock (the current date is passed in) or the store.

use super::spec::{BucketKind, RangeWidth};
use crate::iso8601::{civil_from_days, parse_timestamp_micros};

const MICROS_PER_HOUR: i64 = 3_600_000_000;
const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;
/// Significant digits of a value read exactly; longer ones are read as floating point.
const MAX_EXACT_DIGITS: usize = 19;

/// A value's bucket before it is shown: the value's bytes, or the number that a derived
/// bucket orders and prints by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key<'a> {
    /// `value` buckets: the value itself.
    Bytes(&'a [u8]),
    /// Every derived bucket: years, months since year 0, days or hours since the epoch, the
    /// hour of day, an age, or a range index.
    Int(i64),
}

/// The UTC date that ages are counted to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Today {
    year: i64,
    month: u32,
    day: u32,
}

impl Today {
    /// The UTC date of `micros` since the epoch.
    pub fn at_micros(micros: i64) -> Today {
        let (year, month, day) = civil_from_days(micros.div_euclid(MICROS_PER_DAY));
        Today { year, month, day }
    }
}

/// The bucket of `value` under `kind`, or `None` if a derived bucket cannot parse it.
pub fn key_of(kind: BucketKind, value: &[u8], today: Today) -> Option<Key<'_>> {
    if kind == BucketKind::Value {
        return Some(Key::Bytes(value));
    }
    let text = value.trim_ascii();
    let int = match kind {
        BucketKind::Value => return Some(Key::Bytes(value)),
        BucketKind::Range(w) => range_index(text, w)?,
        time => {
            let micros = parse_timestamp_micros(text)?;
            let days = micros.div_euclid(MICROS_PER_DAY);
            match time {
                BucketKind::Year => civil_from_days(days).0,
                BucketKind::Month => {
                    let (y, m, _) = civil_from_days(days);
                    y * 12 + i64::from(m) - 1
                }
                BucketKind::Day => days,
                BucketKind::Hour => micros.div_euclid(MICROS_PER_HOUR),
                BucketKind::HourOfDay => micros.div_euclid(MICROS_PER_HOUR).rem_euclid(24),
                _ => {
                    let (y, m, d) = civil_from_days(days);
                    let before_birthday = (today.month, today.day) < (m, d);
                    today.year - y - i64::from(before_birthday)
                }
            }
        }
    };
    Some(Key::Int(int))
}

/// The key bytes a reply shows for a derived bucket's number.
pub fn format_int(kind: BucketKind, k: i64) -> Vec<u8> {
    let text = match kind {
        BucketKind::Year => format!("{k:04}"),
        BucketKind::Month => format!("{:04}-{:02}", k.div_euclid(12), k.rem_euclid(12) + 1),
        BucketKind::Day => {
            let (y, m, d) = civil_from_days(k);
            format!("{y:04}-{m:02}-{d:02}")
        }
        BucketKind::Hour => {
            let (y, m, d) = civil_from_days(k.div_euclid(24));
            format!("{y:04}-{m:02}-{d:02}T{:02}", k.rem_euclid(24))
        }
        BucketKind::HourOfDay => format!("{k:02}"),
        BucketKind::Range(w) => decimal(i128::from(k) * i128::from(w.mantissa), w.scale),
        BucketKind::Age | BucketKind::Value => k.to_string(),
    };
    text.into_bytes()
}

/// `mantissa / 10^scale` in plain decimal notation with exactly `scale` fraction digits.
pub fn decimal(mantissa: i128, scale: u32) -> String {
    let digits = mantissa.unsigned_abs().to_string();
    let sign = if mantissa < 0 { "-" } else { "" };
    let scale = scale as usize;
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

/// A summed value as a number: a decimal or floating-point literal, finite.
pub fn number(value: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(value.trim_ascii()).ok()?;
    // Rust's parser also takes "inf" and "NaN", which are no amounts.
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// `floor(value / width)`: exact for plain decimals of up to 19 significant digits, through
/// floating point for longer ones and exponent notation.
fn range_index(text: &[u8], w: RangeWidth) -> Option<i64> {
    if let Some((mantissa, scale)) = exact_decimal(text) {
        // value / width = (mantissa * 10^w.scale) / (w.mantissa * 10^scale)
        let num = 10i128
            .checked_pow(w.scale)
            .and_then(|p| mantissa.checked_mul(p));
        let den = 10i128
            .checked_pow(scale)
            .and_then(|p| i128::from(w.mantissa).checked_mul(p));
        if let (Some(num), Some(den)) = (num, den) {
            return i64::try_from(num.div_euclid(den)).ok();
        }
    }
    let v = number(text)?;
    let q = (v * 10f64.powi(w.scale as i32) / w.mantissa as f64).floor();
    // Within i64's range with room to spare (the cast saturates, so check first).
    (q.abs() < 9.0e18).then_some(q as i64)
}

/// `[+-]digits[.digits]` as (mantissa, digits after the point), if it has at most
/// [`MAX_EXACT_DIGITS`] significant digits.
fn exact_decimal(text: &[u8]) -> Option<(i128, u32)> {
    let (negative, body) = match text.split_first()? {
        (b'-', rest) => (true, rest),
        (b'+', rest) => (false, rest),
        _ => (false, text),
    };
    let (int, frac) = match body.iter().position(|&c| c == b'.') {
        Some(p) => (&body[..p], &body[p + 1..]),
        None => (body, &[][..]),
    };
    if (int.is_empty() && frac.is_empty())
        || !int.iter().chain(frac).all(u8::is_ascii_digit)
        || (body.contains(&b'.') && frac.is_empty() && int.is_empty())
    {
        return None;
    }
    let significant = int.iter().chain(frac).skip_while(|&&c| c == b'0').count();
    if significant > MAX_EXACT_DIGITS {
        return None;
    }
    let mut m: i128 = 0;
    for &c in int.iter().chain(frac) {
        m = m * 10 + i128::from(c - b'0');
    }
    let scale = u32::try_from(frac.len()).ok()?;
    Some((if negative { -m } else { m }, scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> Today {
        // 2024-06-15
        Today::at_micros(crate::iso8601::days_from_civil(2024, 6, 15) * MICROS_PER_DAY + 5)
    }

    fn shown(kind: &str, value: &str) -> Option<String> {
        let kind: BucketKind = kind.parse().unwrap();
        match key_of(kind, value.as_bytes(), today())? {
            Key::Bytes(b) => Some(String::from_utf8(b.to_vec()).unwrap()),
            Key::Int(k) => Some(String::from_utf8(format_int(kind, k)).unwrap()),
        }
    }

    #[test]
    fn time_buckets_truncate_in_utc() {
        let v = "2022-07-29T15:22:01.458193Z";
        assert_eq!(shown("year", v).unwrap(), "2022");
        assert_eq!(shown("month", v).unwrap(), "2022-07");
        assert_eq!(shown("day", v).unwrap(), "2022-07-29");
        assert_eq!(shown("hour", v).unwrap(), "2022-07-29T15");
        assert_eq!(shown("hour-of-day", v).unwrap(), "15");
        // An offset moves the value to UTC first: 00:30 at +07:00 is 17:30 the day before,
        // and the year before on January 1st.
        let o = "2023-01-01T00:30:00+07:00";
        assert_eq!(shown("year", o).unwrap(), "2022");
        assert_eq!(shown("month", o).unwrap(), "2022-12");
        assert_eq!(shown("day", o).unwrap(), "2022-12-31");
        assert_eq!(shown("hour", o).unwrap(), "2022-12-31T17");
        assert_eq!(shown("hour-of-day", o).unwrap(), "17");
        // A date alone is midnight UTC.
        assert_eq!(shown("hour-of-day", "1999-03-04").unwrap(), "00");
        assert_eq!(shown("day", " 1999-03-04 ").unwrap(), "1999-03-04");
        assert_eq!(
            shown("hour", "1969-12-31T23:59:59Z").unwrap(),
            "1969-12-31T23"
        );
    }

    #[test]
    fn ages_count_whole_years_to_today() {
        assert_eq!(shown("age", "2000-06-15").unwrap(), "24"); // birthday today
        assert_eq!(shown("age", "2000-06-16").unwrap(), "23"); // tomorrow
        assert_eq!(shown("age", "1960-01-01").unwrap(), "64");
        assert_eq!(shown("age", "2024-06-15T23:00:00-05:00").unwrap(), "-1"); // 16th in UTC
        assert_eq!(shown("age", "2030-01-01").unwrap(), "-6");
    }

    #[test]
    fn ranges_are_exact_lower_bounds() {
        assert_eq!(shown("range:100", "191247").unwrap(), "191200");
        assert_eq!(shown("range:100", "0").unwrap(), "0");
        assert_eq!(shown("range:100", "-1").unwrap(), "-100");
        assert_eq!(shown("range:100", "-100").unwrap(), "-100");
        assert_eq!(shown("range:0.1", "0.3").unwrap(), "0.3"); // not 0.2: exact, not f64
        assert_eq!(shown("range:0.5", "-6.123456").unwrap(), "-6.5");
        assert_eq!(shown("range:2.50", "7.4").unwrap(), "5.00");
        assert_eq!(shown("range:1", "+42.9").unwrap(), "42");
        assert_eq!(shown("range:10", "1.5e3").unwrap(), "1500");
        // Too many digits to read exactly: floating point, then out of i64's range.
        assert_eq!(
            shown("range:0.1", "0.12345678901234567890123").unwrap(),
            "0.1"
        );
        assert_eq!(shown("range:1", "12345678901234567890123.5"), None);
    }

    #[test]
    fn unparsable_values_have_no_bucket() {
        for (kind, v) in [
            ("year", ""),
            ("year", "yesterday"),
            ("day", "2022-02-30"),
            ("hour-of-day", "15:22"),
            ("age", "1990/01/01"),
            ("range:10", ""),
            ("range:10", "ten"),
            ("range:10", "NaN"),
            ("range:10", "inf"),
            ("range:10", "1e300"),
            ("range:10", "-"),
            ("range:10", "."),
        ] {
            assert_eq!(shown(kind, v), None, "{kind} {v:?}");
        }
        // The value bucket takes anything, the empty value included.
        assert_eq!(shown("value", "").unwrap(), "");
        assert_eq!(shown("value", " x ").unwrap(), " x ");
    }

    #[test]
    fn numbers_for_sums() {
        assert_eq!(number(b"191247"), Some(191_247.0));
        assert_eq!(number(b" -2.5 "), Some(-2.5));
        assert_eq!(number(b"1e3"), Some(1000.0));
        assert_eq!(number(b""), None);
        assert_eq!(number(b"inf"), None);
        assert_eq!(number(b"NaN"), None);
        assert_eq!(number(b"\xff"), None);
    }

    #[test]
    fn decimals_print_with_the_width_scale() {
        assert_eq!(decimal(15, 1), "1.5");
        assert_eq!(decimal(-5, 1), "-0.5");
        assert_eq!(decimal(0, 2), "0.00");
        assert_eq!(decimal(-1200, 0), "-1200");
    }
}
