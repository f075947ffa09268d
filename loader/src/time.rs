//! ISO-8601 UTC timestamps <-> microseconds since the Unix epoch, without allocation.
//! Owns the formatting used by the generator; the calendar arithmetic and the parser (used by
//! the loader's `timestamp_column`) are the engine's (`strata_engine::iso8601`), re-exported
//! here. It must never consult the local time zone.

pub use strata_engine::iso8601::{civil_from_days, days_from_civil, parse_timestamp_micros};

fn push_digits(out: &mut Vec<u8>, v: u64, width: usize) {
    let mut tmp = [b'0'; 20];
    let mut v = v;
    let mut i = tmp.len();
    while v > 0 && i > 0 {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    let start = tmp.len().saturating_sub(width).min(i);
    out.extend_from_slice(&tmp[start..]);
}

/// Append `YYYY-MM-DD` for a day number.
pub fn push_date(out: &mut Vec<u8>, days: i64) {
    let (y, m, d) = civil_from_days(days);
    push_digits(out, y.max(0) as u64, 4);
    out.push(b'-');
    push_digits(out, m as u64, 2);
    out.push(b'-');
    push_digits(out, d as u64, 2);
}

/// Append `YYYY-MM-DDTHH:MM:SS.ffffffZ` for microseconds since the epoch.
pub fn push_timestamp_micros(out: &mut Vec<u8>, micros: i64) {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000) as u64;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u64;
    push_date(out, days);
    out.push(b'T');
    push_digits(out, sod / 3600, 2);
    out.push(b':');
    push_digits(out, (sod / 60) % 60, 2);
    out.push(b':');
    push_digits(out, sod % 60, 2);
    out.push(b'.');
    push_digits(out, frac, 6);
    out.push(b'Z');
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_round_trip() {
        let ts = 1_659_108_121_458_193; // 2022-07-29T15:22:01.458193Z
        let mut b = Vec::new();
        push_timestamp_micros(&mut b, ts);
        assert_eq!(b, b"2022-07-29T15:22:01.458193Z");
        assert_eq!(parse_timestamp_micros(&b), Some(ts));
        for t in [0i64, 1, 951_782_400_000_000, 4_102_444_799_999_999] {
            let mut b = Vec::new();
            push_timestamp_micros(&mut b, t);
            assert_eq!(
                parse_timestamp_micros(&b),
                Some(t),
                "{}",
                String::from_utf8_lossy(&b)
            );
        }
    }
}
