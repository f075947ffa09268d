//! ISO-8601 dates and timestamps <-> days and microseconds since the Unix epoch (UTC), without
//! allocation: the proleptic Gregorian calendar arithmetic and the one timestamp parser that
//! the loader (`timestamp_column`) and the aggregation's time buckets share.
//!
//! Pure functions; this module must never consult the local time zone or the clock.

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a day number since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}
fn num(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter().try_fold(0u32, |acc, &c| {
        acc.checked_mul(10)?.checked_add((c - b'0') as u32)
    })
}

/// Parse an ISO-8601 timestamp into microseconds since the epoch.
///
/// Accepts `YYYY-MM-DD`, `YYYY-MM-DD[T ]HH:MM[:SS[.f{1,9}]]` followed by nothing (UTC), `Z`, or
/// an offset `+HH:MM` / `-HH:MM` / `+HHMM`. Digits past microseconds are truncated.
pub fn parse_timestamp_micros(s: &[u8]) -> Option<i64> {
    let date = s.get(..10)?;
    if date[4] != b'-' || date[7] != b'-' {
        return None;
    }
    let y = num(&date[..4])? as i64;
    let mo = num(&date[5..7])?;
    let d = num(&date[8..10])?;
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    let mut rest = &s[10..];
    let mut sod: i64 = 0;
    let mut micros: i64 = 0;
    if let Some((&sep, r)) = rest.split_first() {
        if sep != b'T' && sep != b't' && sep != b' ' {
            return None;
        }
        let hh = num(r.get(..2)?)?;
        if r.get(2) != Some(&b':') {
            return None;
        }
        let mm = num(r.get(3..5)?)?;
        rest = &r[5..];
        let mut ss = 0;
        if rest.first() == Some(&b':') {
            ss = num(rest.get(1..3)?)?;
            rest = &rest[3..];
            if rest.first() == Some(&b'.') || rest.first() == Some(&b',') {
                let digits = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                if digits == 0 {
                    return None;
                }
                let mut f: i64 = 0;
                for (i, &c) in rest[1..1 + digits].iter().enumerate() {
                    if i < 6 {
                        f = f * 10 + (c - b'0') as i64;
                    }
                }
                for _ in digits..6 {
                    f *= 10;
                }
                micros = f;
                rest = &rest[1 + digits..];
            }
        }
        if hh > 23 || mm > 59 || ss > 60 {
            return None;
        }
        sod = hh as i64 * 3600 + mm as i64 * 60 + ss as i64;
        match rest {
            [] | [b'Z'] | [b'z'] => {}
            [sign @ (b'+' | b'-'), tz @ ..] => {
                let (oh, om) = match tz {
                    [a, b, b':', c, d] | [a, b, c, d] => (num(&[*a, *b])?, num(&[*c, *d])?),
                    [a, b] => (num(&[*a, *b])?, 0),
                    _ => return None,
                };
                if oh > 23 || om > 59 {
                    return None;
                }
                let off = (oh as i64 * 3600 + om as i64 * 60) * if *sign == b'+' { 1 } else { -1 };
                sod -= off;
            }
            _ => return None,
        }
    }
    (days * 86_400 + sod)
        .checked_mul(1_000_000)?
        .checked_add(micros)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_variants_and_rejects_garbage() {
        let base = parse_timestamp_micros(b"2022-07-29T15:22:01Z").unwrap();
        assert_eq!(parse_timestamp_micros(b"2022-07-29 15:22:01"), Some(base));
        assert_eq!(
            parse_timestamp_micros(b"2022-07-29T17:22:01+02:00"),
            Some(base)
        );
        assert_eq!(
            parse_timestamp_micros(b"2022-07-29T15:22:01.5Z"),
            Some(base + 500_000)
        );
        assert_eq!(
            parse_timestamp_micros(b"2022-07-29"),
            Some(base - (15 * 3600 + 22 * 60 + 1) * 1_000_000)
        );
        for bad in [
            &b""[..],
            b"2022-13-01",
            b"2022-02-30",
            b"2022-07-29X",
            b"x022-07-29",
            b"2022-07-29T25:00",
        ] {
            assert_eq!(
                parse_timestamp_micros(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
