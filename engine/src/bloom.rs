//! Bloom filters over row keys, stored in SSTables so a point get can skip files that do not
//! hold the row.
//!
//! This module owns the filter's bit layout and hashing (xxh3-64 of the key, then double
//! hashing: probe i is `h1 + i * h2`, mapped onto the bit array by multiply-shift). It must
//! never give a false negative, and must never panic on filter bytes read from a file: a
//! malformed filter is rejected by [`BloomFilter::from_bytes`].

#![warn(clippy::indexing_slicing)]

use xxhash_rust::xxh3::xxh3_64;

/// Bits per key used by SSTables (about 1% false positives).
pub const DEFAULT_BITS_PER_KEY: u32 = 10;

/// Most probes a filter may ask for; more is treated as corruption.
const MAX_PROBES: u8 = 30;

/// The hash a filter stores for `key`.
#[inline]
pub fn key_hash(key: &[u8]) -> u64 {
    xxh3_64(key)
}

/// The second hash of the double-hashing scheme, derived from the first; odd so that the
/// probe sequence never collapses onto one bit.
#[inline]
fn delta(h: u64) -> u64 {
    h.rotate_left(32).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1
}

/// Map a 64-bit value onto `0..n` without division.
#[inline]
fn reduce(x: u64, n: u64) -> u64 {
    ((u128::from(x) * u128::from(n)) >> 64) as u64
}

/// Collects key hashes and builds the filter once the key count is known.
#[derive(Debug, Default)]
pub struct BloomBuilder {
    hashes: Vec<u64>,
    bits_per_key: u32,
}

impl BloomBuilder {
    /// A builder that will spend `bits_per_key` bits per added key (at least 1).
    pub fn new(bits_per_key: u32) -> Self {
        BloomBuilder {
            hashes: Vec::new(),
            bits_per_key: bits_per_key.max(1),
        }
    }

    /// Add a key.
    #[inline]
    pub fn add(&mut self, key: &[u8]) {
        self.hashes.push(key_hash(key));
    }

    /// Keys added so far.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Encode the filter: the bit array (a multiple of 8 bytes, at least 8) followed by one
    /// byte holding the probe count.
    pub fn finish(&self) -> Vec<u8> {
        let probes = ((f64::from(self.bits_per_key) * std::f64::consts::LN_2).round() as u8)
            .clamp(1, MAX_PROBES);
        let want_bits = (self.hashes.len() as u64).saturating_mul(u64::from(self.bits_per_key));
        let nbytes = want_bits.div_ceil(64).max(1) * 8;
        let nbits = nbytes * 8;
        let mut out = vec![0u8; nbytes as usize + 1];
        let (bits, tail) = out.split_at_mut(nbytes as usize);
        for &h in &self.hashes {
            let d = delta(h);
            let mut x = h;
            for _ in 0..probes {
                let bit = reduce(x, nbits);
                // `bit < nbits` by construction of `reduce`, so the byte index is in range.
                if let Some(b) = bits.get_mut((bit / 8) as usize) {
                    *b |= 1 << (bit % 8);
                }
                x = x.wrapping_add(d);
            }
        }
        if let Some(p) = tail.first_mut() {
            *p = probes;
        }
        out
    }
}

/// A filter read back from its encoding.
#[derive(Clone, Debug)]
pub struct BloomFilter {
    bits: Box<[u8]>,
    nbits: u64,
    probes: u8,
}

impl BloomFilter {
    /// Parse an encoded filter; `Err` says what is malformed.
    pub fn from_bytes(data: &[u8]) -> Result<BloomFilter, &'static str> {
        let Some((&probes, bits)) = data.split_last() else {
            return Err("bloom filter is empty");
        };
        if bits.is_empty() || bits.len() % 8 != 0 {
            return Err("bloom filter bit array is not a non-empty multiple of 8 bytes");
        }
        if probes == 0 || probes > MAX_PROBES {
            return Err("bloom filter probe count out of range");
        }
        Ok(BloomFilter {
            bits: bits.into(),
            nbits: bits.len() as u64 * 8,
            probes,
        })
    }

    /// False if `key` was certainly not added; true if it may have been.
    #[inline]
    pub fn may_contain(&self, key: &[u8]) -> bool {
        self.may_contain_hash(key_hash(key))
    }

    /// [`Self::may_contain`] for a precomputed [`key_hash`].
    #[inline]
    pub fn may_contain_hash(&self, h: u64) -> bool {
        let d = delta(h);
        let mut x = h;
        for _ in 0..self.probes {
            let bit = reduce(x, self.nbits);
            match self.bits.get((bit / 8) as usize) {
                Some(b) if b & (1 << (bit % 8)) != 0 => {}
                _ => return false,
            }
            x = x.wrapping_add(d);
        }
        true
    }

    /// Size of the bit array in bytes.
    #[cfg(test)]
    pub fn size_bytes(&self) -> usize {
        self.bits.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> Vec<u8> {
        format!("user{i:012}").into_bytes()
    }

    #[test]
    fn no_false_negatives_and_low_false_positive_rate() {
        let mut b = BloomBuilder::new(DEFAULT_BITS_PER_KEY);
        for i in 0..10_000 {
            b.add(&key(i));
        }
        let f = BloomFilter::from_bytes(&b.finish()).unwrap();
        for i in 0..10_000 {
            assert!(f.may_contain(&key(i)), "false negative for key {i}");
        }
        let fp = (10_000..20_000).filter(|&i| f.may_contain(&key(i))).count();
        // Theory gives ~0.8% at 10 bits/key and 7 probes; allow up to 2%.
        assert!(fp < 200, "{fp} false positives in 10000 absent keys");
        // And it does filter: an all-ones filter would pass everything.
        assert!(fp > 0 || f.size_bytes() >= 10_000 * 10 / 8);
    }

    #[test]
    fn empty_filter_rejects_everything_and_parses() {
        let f = BloomFilter::from_bytes(&BloomBuilder::new(10).finish()).unwrap();
        assert!(!f.may_contain(b"anything"));
    }

    #[test]
    fn malformed_filters_are_rejected() {
        assert!(BloomFilter::from_bytes(&[]).is_err());
        assert!(BloomFilter::from_bytes(&[7]).is_err());
        assert!(BloomFilter::from_bytes(&[0, 0, 0, 7]).is_err());
        assert!(BloomFilter::from_bytes(&[0; 9]).is_err()); // zero probes
        let mut ok = vec![0u8; 8];
        ok.push(31);
        assert!(BloomFilter::from_bytes(&ok).is_err());
        ok.pop();
        ok.push(7);
        assert!(BloomFilter::from_bytes(&ok).is_ok());
    }
}
