//! The benchmark's latency histogram (nanoseconds, log-linear buckets, mergeable).
//!
//! It owns the bucketing and the quantiles; it must never read a clock (callers record the
//! durations they measured).

/// Sub-buckets per power of two: 128 gives a relative error under 1/128 (0.8%).
pub(super) const SUB_BITS: u32 = 7;
pub(super) const SUB: usize = 1 << SUB_BITS;
/// Values below this are counted exactly.
pub(super) const LINEAR: u64 = 2 * SUB as u64;
/// Buckets for every u64: LINEAR exact ones, then SUB per power of two up to 2^64.
pub(super) const BUCKETS: usize = LINEAR as usize + (64 - SUB_BITS as usize - 1) * SUB;

/// An HDR-style log-linear histogram of nanoseconds: exact below 256 ns, then 128 buckets
/// per power of two (a relative error under 0.8%), every u64 representable, 58 KiB, merged by
/// adding counts. Written here rather than taken from the `hdrhistogram` crate because
/// adding a dependency to strata-server is a Cargo.toml change outside this module; the
/// bucketing is the same idea with fixed precision.
#[derive(Clone, Default)]
pub(super) struct Histogram {
    pub(super) counts: Vec<u64>,
    pub(super) total: u64,
    pub(super) sum: u128,
    pub(super) max: u64,
}

impl Histogram {
    pub(super) fn bucket(v: u64) -> usize {
        if v < LINEAR {
            return v as usize;
        }
        let msb = 63 - v.leading_zeros(); // >= SUB_BITS + 1
        let shift = msb - SUB_BITS;
        let mantissa = (v >> shift) as usize; // in SUB..2*SUB
        LINEAR as usize + (shift as usize - 1) * SUB + (mantissa - SUB)
    }

    /// The highest value that falls in bucket `i`.
    pub(super) fn bucket_high(i: usize) -> u64 {
        if i < LINEAR as usize {
            return i as u64;
        }
        let k = i - LINEAR as usize;
        let shift = (k / SUB) as u32 + 1;
        let mantissa = (k % SUB + SUB) as u64;
        // (mantissa + 1) << shift can pass u64::MAX only in the last bucket.
        ((mantissa + 1) << shift)
            .wrapping_sub(1)
            .max(mantissa << shift)
    }

    pub(super) fn record(&mut self, v: u64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        self.counts[Self::bucket(v)] += 1;
        self.total += 1;
        self.sum += u128::from(v);
        self.max = self.max.max(v);
    }

    pub(super) fn merge(&mut self, other: &Histogram) {
        if other.total == 0 {
            return;
        }
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    /// The value at quantile `q` (0..=1): the top of the bucket holding it, never above the
    /// largest value recorded (0 when empty).
    pub(super) fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::bucket_high(i).min(self.max);
            }
        }
        self.max
    }

    pub(super) fn max(&self) -> u64 {
        self.max
    }

    pub(super) fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_ordered_and_tight() {
        let mut last = 0;
        for v in [
            0u64,
            1,
            255,
            256,
            257,
            511,
            512,
            1000,
            123_456,
            1 << 40,
            u64::MAX,
        ] {
            let b = Histogram::bucket(v);
            assert!(b < BUCKETS, "{v} -> bucket {b}");
            assert!(b >= last, "{v} -> bucket {b} before {last}");
            last = b;
            let high = Histogram::bucket_high(b);
            assert!(high >= v, "{v}: bucket top {high}");
            assert!(
                (high - v) as f64 <= v as f64 / 100.0 + 1.0,
                "{v}: bucket top {high}"
            );
        }
        assert_eq!(Histogram::bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn histogram_quantiles() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.5), 0);
        for v in 1..=10_000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5) as f64;
        assert!((p50 - 5_000_000.0).abs() / 5_000_000.0 < 0.01, "p50 {p50}");
        let p999 = h.quantile(0.999) as f64;
        assert!(
            (p999 - 9_990_000.0).abs() / 9_990_000.0 < 0.01,
            "p99.9 {p999}"
        );
        assert_eq!(h.quantile(1.0), 10_000_000);
        assert_eq!(h.max(), 10_000_000);
        let mut m = Histogram::default();
        m.merge(&h);
        m.merge(&h);
        assert_eq!(m.total, 20_000);
        assert_eq!(m.quantile(0.5), h.quantile(0.5));
    }
}
