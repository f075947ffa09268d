//! Timestamps: HBase's Thrift API speaks milliseconds, Strata keeps microseconds. A Thrift
//! timestamp T writes as T*1000 us and every stored version reads back as its microseconds
//! divided by 1000 (rounded down); so T, as a bound, covers every microsecond from T*1000 to
//! T*1000+999. HBase applies a read's timestamp as `setTimeRange(0, T)`: an exclusive upper
//! bound, every version with us < T*1000.
//!
//! Pure functions; out-of-range values are `IllegalArgument`s naming the value.

use strata_engine::TimeRange;

use super::error::ThriftError;

const US_PER_MS: i64 = 1000;

/// The microseconds a put at `ms` writes.
///
/// 0 ms is stored as 1 us: the engine reads a timestamp of 0 as "the server's clock", and 1 us
/// still reads back as 0 ms.
pub fn write_micros(ms: i64) -> Result<i64, ThriftError> {
    if ms < 0 {
        return Err(ThriftError::illegal(format!(
            "timestamp {ms} ms is negative"
        )));
    }
    let us = ms.checked_mul(US_PER_MS).ok_or_else(|| {
        ThriftError::illegal(format!(
            "timestamp {ms} ms is out of range (at most {} ms)",
            i64::MAX / US_PER_MS
        ))
    })?;
    Ok(us.max(1))
}

/// A stored version's timestamp as the wire shows it.
pub fn to_millis(us: i64) -> i64 {
    us.div_euclid(US_PER_MS)
}

/// The versions a read with timestamp `ms` sees: `[0, ms*1000)` us, unbounded when `ms*1000`
/// is beyond the engine's range (HBase's `LATEST_TIMESTAMP` and happybase's `2**62` among them).
pub fn before(ms: i64) -> Result<TimeRange, ThriftError> {
    if ms < 0 {
        return Err(ThriftError::illegal(format!(
            "timestamp {ms} ms is negative"
        )));
    }
    Ok(TimeRange {
        start: 0,
        end: ms.checked_mul(US_PER_MS),
    })
}

/// The last microsecond a delete "at or before `ms`" covers (`ms*1000 + 999`), or `None` when
/// that is beyond the engine's range: the delete then covers every version.
pub fn up_to_micros(ms: i64) -> Option<i64> {
    ms.checked_mul(US_PER_MS)?.checked_add(US_PER_MS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_scale_to_microseconds() {
        assert_eq!(write_micros(123), Ok(123_000));
        assert_eq!(write_micros(1_700_000_000_000), Ok(1_700_000_000_000_000));
        assert_eq!(write_micros(0), Ok(1));
        assert_eq!(to_millis(write_micros(0).expect("valid")), 0);
        assert!(matches!(
            write_micros(-1),
            Err(ThriftError::IllegalArgument(_))
        ));
        assert!(matches!(
            write_micros(i64::MAX / 1000 + 1),
            Err(ThriftError::IllegalArgument(_))
        ));
    }

    #[test]
    fn reads_round_down_to_milliseconds() {
        assert_eq!(to_millis(123_000), 123);
        assert_eq!(to_millis(123_999), 123);
        assert_eq!(to_millis(124_000), 124);
        assert_eq!(to_millis(0), 0);
        assert_eq!(to_millis(-1), -1);
    }

    #[test]
    fn a_read_timestamp_is_an_exclusive_bound_in_microseconds() {
        let r = before(5).expect("valid");
        assert!(r.contains(4_999));
        assert!(!r.contains(5_000));
        assert!(r.contains(0));
        assert_eq!(before(0).map(|r| r.contains(0)), Ok(false));
        assert_eq!(before(1 << 62).map(|r| r.end), Ok(None));
        assert_eq!(before(i64::MAX).map(|r| r.end), Ok(None));
        assert!(before(-5).is_err());
    }

    #[test]
    fn an_inclusive_bound_covers_the_whole_millisecond() {
        assert_eq!(up_to_micros(5), Some(5_999));
        assert_eq!(up_to_micros(0), Some(999));
        assert_eq!(up_to_micros(i64::MAX / 1000), None);
        assert_eq!(up_to_micros(i64::MAX), None);
        // The version written at T ms is covered by a bound of T and not by T - 1.
        let us = write_micros(7).expect("valid");
        assert!(us <= up_to_micros(7).expect("in range"));
        assert!(us > up_to_micros(6).expect("in range"));
    }
}
