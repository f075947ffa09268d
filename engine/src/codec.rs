//! Byte codecs shared by every on-disk format: little-endian fixed-width integers, LEB128
//! varints, zigzag signed varints and length-prefixed byte strings, plus a checked [`Reader`].
//!
//! This module owns only the primitive encodings (documented under "Conventions" in
//! `docs/format.md`). It must never panic on input bytes: every read is bounds-checked and
//! reports a [`DecodeError`] with the position, which callers turn into `Error::Corruption`
//! naming their file and offset.

#![warn(clippy::indexing_slicing)]

use std::fmt;
use std::path::Path;

use crate::error::Error;

/// A varint at `*pos` of `s`, checked: `None` if it is truncated or does not fit in 64
/// bits (the same values [`Reader::varint64`] accepts).
#[inline(always)]
pub(crate) fn take_varint(s: &[u8], pos: &mut usize) -> Option<u64> {
    let b0 = *s.get(*pos)?;
    if b0 < 0x80 {
        *pos += 1;
        return Some(u64::from(b0));
    }
    take_varint_slow(s, pos)
}

#[cold]
fn take_varint_slow(s: &[u8], pos: &mut usize) -> Option<u64> {
    let mut r = Reader::new(s.get(*pos..)?);
    let v = r.varint64().ok()?;
    *pos += r.pos();
    Some(v)
}

/// A decode error at byte `pos` of a block: `what` was wrong.
pub(crate) fn invalid(pos: usize, what: &'static str) -> DecodeError {
    DecodeError { pos, what }
}

/// `data[range]`, or an empty slice where the range is out of bounds. Decoders that checked
/// a length before use this instead of indexing, so a mistake in a check reads as short data
/// (which fails the next check) instead of a panic.
#[inline]
pub(crate) fn sub<R: std::slice::SliceIndex<[u8], Output = [u8]>>(data: &[u8], range: R) -> &[u8] {
    data.get(range).unwrap_or_default()
}

/// Longest encoding of a `u64` varint.
#[cfg(test)]
const MAX_VARINT64_LEN: usize = 10;

/// Append `v` as an unsigned LEB128 varint (7 bits per byte, low bits first).
#[inline]
pub fn put_varint64(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Append `v` as an unsigned LEB128 varint.
#[inline]
pub fn put_varint32(buf: &mut Vec<u8>, v: u32) {
    put_varint64(buf, u64::from(v));
}

/// Bytes [`put_varint64`] uses for `v`.
#[inline]
pub fn varint_len(v: u64) -> usize {
    // 1 byte per started group of 7 significant bits, at least 1.
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Map a signed integer to an unsigned one so small magnitudes stay small
/// (0, -1, 1, -2 ... become 0, 1, 2, 3 ...).
#[inline]
pub fn zigzag_encode(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag_encode`].
#[inline]
pub fn zigzag_decode(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Append `v` zigzag-encoded as a varint.
#[inline]
pub fn put_zigzag64(buf: &mut Vec<u8>, v: i64) {
    put_varint64(buf, zigzag_encode(v));
}

/// Append one byte.
#[inline]
pub fn put_u8(buf: &mut Vec<u8>, v: u8) {
    buf.push(v);
}

/// Append a little-endian `u32`.
#[inline]
pub fn put_fixed32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_le_bytes());
}

/// Append a little-endian `u64`.
#[inline]
pub fn put_fixed64(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_le_bytes());
}

/// Append a varint length followed by the bytes.
#[inline]
pub fn put_len_prefixed(buf: &mut Vec<u8>, bytes: &[u8]) {
    put_varint64(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// A decoding failure: where in the decoded buffer, and what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Position in the buffer given to the [`Reader`] where the bad item starts.
    pub pos: usize,
    /// What was wrong.
    pub what: &'static str,
}

impl DecodeError {
    /// Turn into `Error::Corruption` for `path`; `base` is the file offset of the buffer
    /// (the offset reported is `base`, the start of the damaged record or block), and
    /// `context` says which structure was being decoded.
    pub fn into_corruption(self, path: &Path, base: u64, context: &str) -> Error {
        Error::corruption(
            path,
            base,
            format!(
                "{context}: {} at byte {} of the decoded data",
                self.what, self.pos
            ),
        )
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.what, self.pos)
    }
}

impl std::error::Error for DecodeError {}

/// Result of a checked read.
pub type DecodeResult<T> = std::result::Result<T, DecodeError>;

/// A bounds-checked cursor over a byte slice. Every method either consumes a whole item or
/// fails without consuming anything.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Read `buf` from its start.
    #[inline]
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Current position from the start of the buffer.
    #[inline]
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether everything was consumed.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    #[inline]
    fn err(&self, what: &'static str) -> DecodeError {
        DecodeError {
            pos: self.pos,
            what,
        }
    }

    /// Fail unless everything was consumed.
    pub fn expect_end(&self, what: &'static str) -> DecodeResult<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    /// Take the next `n` bytes.
    #[inline]
    pub fn bytes(&mut self, n: usize) -> DecodeResult<&'a [u8]> {
        match self.buf.get(self.pos..).and_then(|rest| rest.get(..n)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(self.err("unexpected end of data")),
        }
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> DecodeResult<[u8; N]> {
        let s = self.bytes(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// One byte.
    #[inline]
    pub fn u8(&mut self) -> DecodeResult<u8> {
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(self.err("unexpected end of data")),
        }
    }

    /// A little-endian `u32`.
    #[inline]
    pub fn fixed32(&mut self) -> DecodeResult<u32> {
        Ok(u32::from_le_bytes(self.array::<4>()?))
    }

    /// A little-endian `u64`.
    #[inline]
    pub fn fixed64(&mut self) -> DecodeResult<u64> {
        Ok(u64::from_le_bytes(self.array::<8>()?))
    }

    /// An unsigned varint of at most 10 bytes that fits in 64 bits.
    #[inline]
    pub fn varint64(&mut self) -> DecodeResult<u64> {
        let mut result: u64 = 0;
        let mut shift = 0u32;
        let mut p = self.pos;
        loop {
            let Some(&b) = self.buf.get(p) else {
                return Err(self.err("truncated varint"));
            };
            p += 1;
            if shift == 63 && b > 1 {
                return Err(self.err("varint overflows 64 bits"));
            }
            result |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                self.pos = p;
                return Ok(result);
            }
            shift += 7;
            if shift > 63 {
                return Err(self.err("varint longer than 10 bytes"));
            }
        }
    }

    /// An unsigned varint that fits in 32 bits.
    #[inline]
    pub fn varint32(&mut self) -> DecodeResult<u32> {
        let start = self.pos;
        let v = self.varint64()?;
        match u32::try_from(v) {
            Ok(v) => Ok(v),
            Err(_) => {
                self.pos = start;
                Err(self.err("varint overflows 32 bits"))
            }
        }
    }

    /// A varint that must fit in `usize` (lengths, counts).
    #[inline]
    pub fn varint_usize(&mut self) -> DecodeResult<usize> {
        let start = self.pos;
        let v = self.varint64()?;
        match usize::try_from(v) {
            Ok(v) => Ok(v),
            Err(_) => {
                self.pos = start;
                Err(self.err("length overflows usize"))
            }
        }
    }

    /// A zigzag-encoded signed varint.
    #[inline]
    pub fn zigzag64(&mut self) -> DecodeResult<i64> {
        Ok(zigzag_decode(self.varint64()?))
    }

    /// A varint length followed by that many bytes.
    #[inline]
    pub fn len_prefixed(&mut self) -> DecodeResult<&'a [u8]> {
        let start = self.pos;
        let n = self.varint_usize()?;
        match self.bytes(n) {
            Ok(s) => Ok(s),
            Err(e) => {
                self.pos = start;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `take_varint` accepts exactly what `Reader::varint64` accepts, with the same value
    /// and length.
    fn agrees_with_the_reader(bytes: &[u8]) {
        let mut pos = 0;
        let fast = take_varint(bytes, &mut pos).map(|v| (v, pos));
        let mut r = Reader::new(bytes);
        let slow = r.varint64().ok().map(|v| (v, r.pos()));
        assert_eq!(fast, slow, "{bytes:02x?}");
    }

    #[test]
    fn take_varint_agrees_with_the_reader_on_every_two_byte_input() {
        agrees_with_the_reader(&[]);
        for b0 in 0..=255u8 {
            agrees_with_the_reader(&[b0]);
            for b1 in 0..=255u8 {
                agrees_with_the_reader(&[b0, b1]);
                agrees_with_the_reader(&[b0, b1, 0x01]);
            }
        }
    }

    proptest! {
        #[test]
        fn take_varint_agrees_with_the_reader_on_any_input(bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
            agrees_with_the_reader(&bytes);
        }
    }

    #[test]
    fn varint_edges_round_trip() {
        for v in [
            0u64,
            1,
            127,
            128,
            16383,
            16384,
            u32::MAX as u64,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            put_varint64(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "len of {v}");
            let mut r = Reader::new(&b);
            assert_eq!(r.varint64().unwrap(), v);
            assert!(r.is_empty());
        }
        let mut b = Vec::new();
        put_varint64(&mut b, u64::MAX);
        assert_eq!(b.len(), MAX_VARINT64_LEN);
    }

    #[test]
    fn bad_varints_are_rejected_without_consuming() {
        // Truncated.
        let mut r = Reader::new(&[0x80, 0x80]);
        assert_eq!(r.varint64().unwrap_err().what, "truncated varint");
        assert_eq!(r.pos(), 0);
        // 11 bytes.
        let long = [0xffu8; 11];
        assert!(Reader::new(&long).varint64().is_err());
        // Tenth byte carries more than the 64th bit.
        let mut over = vec![0xffu8; 9];
        over.push(0x02);
        assert_eq!(
            Reader::new(&over).varint64().unwrap_err().what,
            "varint overflows 64 bits"
        );
        // Fits in u64 but not u32.
        let mut b = Vec::new();
        put_varint64(&mut b, u64::from(u32::MAX) + 1);
        let mut r = Reader::new(&b);
        assert!(r.varint32().is_err());
        assert_eq!(r.pos(), 0);
    }

    #[test]
    fn fixed_and_prefixed_reads_are_checked() {
        let mut b = Vec::new();
        put_fixed32(&mut b, 0xdead_beef);
        put_fixed64(&mut b, 7);
        put_len_prefixed(&mut b, b"abc");
        put_u8(&mut b, 9);
        let mut r = Reader::new(&b);
        assert_eq!(r.fixed32().unwrap(), 0xdead_beef);
        assert_eq!(r.fixed64().unwrap(), 7);
        assert_eq!(r.len_prefixed().unwrap(), b"abc");
        assert_eq!(r.u8().unwrap(), 9);
        assert!(r.expect_end("x").is_ok());
        assert!(r.u8().is_err());
        assert!(r.fixed32().is_err());
        // A length that runs past the end.
        let mut b = Vec::new();
        put_varint64(&mut b, 10);
        b.extend_from_slice(b"short");
        let mut r = Reader::new(&b);
        assert!(r.len_prefixed().is_err());
        assert_eq!(r.pos(), 0);
        assert!(Reader::new(&b).bytes(usize::MAX).is_err());
    }

    #[test]
    fn decode_error_names_file_and_offset() {
        let e = DecodeError {
            pos: 3,
            what: "truncated varint",
        }
        .into_corruption(Path::new("/x/1.sst"), 4096, "meta block");
        let s = e.to_string();
        assert!(
            s.contains("/x/1.sst") && s.contains("4096") && s.contains("meta block"),
            "{s}"
        );
    }

    proptest! {
        #[test]
        fn any_values_round_trip(v in any::<u64>(), s in any::<i64>(), bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut b = Vec::new();
            put_varint64(&mut b, v);
            put_zigzag64(&mut b, s);
            put_len_prefixed(&mut b, &bytes);
            let mut r = Reader::new(&b);
            prop_assert_eq!(r.varint64().unwrap(), v);
            prop_assert_eq!(r.zigzag64().unwrap(), s);
            prop_assert_eq!(r.len_prefixed().unwrap(), &bytes[..]);
            prop_assert!(r.is_empty());
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..32)) {
            let mut r = Reader::new(&bytes);
            while !r.is_empty() {
                if r.varint64().is_err() && r.len_prefixed().is_err() && r.u8().is_err() {
                    break;
                }
            }
        }
    }
}
