//! Values derived from the row key (SSTable format v3, docs/design/value-from-key.md): a
//! family block may say, per qualifier of its dictionary, that every put of that qualifier
//! holds a part of its own row key (the whole key, or one field of the key split at a
//! separator byte), and then leaves those values out of its value area. This module owns
//! the derivation: its bytes in the block, finding one for a cell (the builder) and
//! applying one to a row key (the readers).
//!
//! The separator is discovered from the data (the bytes around the value in the key), never
//! configured: the engine knows nothing of any table's key layout. This module must never
//! propose a derivation that does not reproduce the value it was found from, byte for byte
//! (`find` checks with `apply`), and never panic on any key or block bytes.

#![warn(clippy::indexing_slicing)]

use crate::codec::{DecodeResult, Reader, invalid, put_u8, put_varint32};

/// Tag byte: the values are stored in the block's value area.
pub(crate) const TAG_STORED: u8 = 0;
/// Tag byte: every put's value is the whole row key.
pub(crate) const TAG_WHOLE_KEY: u8 = 1;
/// Tag byte: every put's value is one field of the row key; a separator byte and the
/// field's index (varint32) follow.
pub(crate) const TAG_KEY_FIELD: u8 = 2;

/// Where the values of one qualifier of a family block come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Derivation {
    /// In the block's value area (every qualifier of a v1 or v2 block).
    Stored,
    /// The whole row key.
    WholeKey,
    /// Field `index` (from 0) of the row key split at every `sep` byte: the bytes between
    /// the `index`-th occurrence of `sep` (or the key's start, for 0) and the next one (or
    /// the key's end).
    KeyField { sep: u8, index: u32 },
}

/// Occurrences of a value inside its key (neither at its start nor at its end) tried by
/// [`Derivation::find`]: bounds the search on long repetitive keys (the value is then
/// stored, which is always correct).
const MAX_TRIES: usize = 16;

impl Derivation {
    /// Append the derivation's bytes (`docs/format.md`, "Family block").
    pub fn encode(&self, buf: &mut Vec<u8>) {
        match *self {
            Derivation::Stored => put_u8(buf, TAG_STORED),
            Derivation::WholeKey => put_u8(buf, TAG_WHOLE_KEY),
            Derivation::KeyField { sep, index } => {
                put_u8(buf, TAG_KEY_FIELD);
                put_u8(buf, sep);
                put_varint32(buf, index);
            }
        }
    }

    /// Read one derivation; an unknown tag is an error at its position.
    pub fn decode(r: &mut Reader<'_>) -> DecodeResult<Derivation> {
        let at = r.pos();
        match r.u8()? {
            TAG_STORED => Ok(Derivation::Stored),
            TAG_WHOLE_KEY => Ok(Derivation::WholeKey),
            TAG_KEY_FIELD => {
                let sep = r.u8()?;
                let index = r.varint32()?;
                Ok(Derivation::KeyField { sep, index })
            }
            _ => Err(invalid(at, "unknown value derivation")),
        }
    }

    /// Whether values come from the key (not stored).
    #[inline]
    pub fn is_derived(&self) -> bool {
        !matches!(self, Derivation::Stored)
    }

    /// The part of `key` this derivation names: `None` for `Stored`, and for a key with
    /// too few fields.
    #[inline]
    pub fn apply<'k>(&self, key: &'k [u8]) -> Option<&'k [u8]> {
        match *self {
            Derivation::Stored => None,
            Derivation::WholeKey => Some(key),
            Derivation::KeyField { sep, index } => {
                let mut start = 0usize;
                for _ in 0..index {
                    let rest = key.get(start..)?;
                    start += rest.iter().position(|&b| b == sep)? + 1;
                }
                let rest = key.get(start..)?;
                let end = rest
                    .iter()
                    .position(|&b| b == sep)
                    .map_or(key.len(), |i| start + i);
                key.get(start..end)
            }
        }
    }

    /// A derivation under which `value` (non-empty) is part of `key`: the value at the
    /// key's start, at its end, or else at the first place (of at most [`MAX_TRIES`]) where
    /// it occurs in `key`, bounded on each side by the key's start or end or by one same
    /// byte that the value does not contain: that byte is the separator. `None` when there
    /// is none (the value is then stored).
    pub fn find(key: &[u8], value: &[u8]) -> Option<Derivation> {
        let len = value.len();
        if len == 0 || len > key.len() {
            return None;
        }
        if key == value {
            return Some(Derivation::WholeKey);
        }
        let at = |p: usize| -> Option<Derivation> {
            let left = p.checked_sub(1).and_then(|i| key.get(i)).copied();
            let right = key.get(p + len).copied();
            let sep = match (left, right) {
                (None, Some(s)) | (Some(s), None) => s,
                (Some(s), Some(t)) if s == t => s,
                _ => return None,
            };
            if value.contains(&sep) {
                return None;
            }
            let index = key.get(..p)?.iter().filter(|&&b| b == sep).count();
            let d = Derivation::KeyField {
                sep,
                index: u32::try_from(index).ok()?,
            };
            // Holds by construction (bounded by `sep`, no `sep` inside); checked anyway.
            (d.apply(key) == Some(value)).then_some(d)
        };
        let end = key.len() - len;
        if key.starts_with(value)
            && let Some(d) = at(0)
        {
            return Some(d);
        }
        if key.ends_with(value)
            && let Some(d) = at(end)
        {
            return Some(d);
        }
        let first = *value.first()?;
        let mut tries = 0;
        let mut p = 1usize;
        while p < end && tries < MAX_TRIES {
            p += key.get(p..end)?.iter().position(|&b| b == first)?;
            if key.get(p..p + len) == Some(value) {
                tries += 1;
                if let Some(d) = at(p) {
                    return Some(d);
                }
            }
            p += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn field(sep: u8, index: u32) -> Derivation {
        Derivation::KeyField { sep, index }
    }

    #[test]
    fn fields_of_a_composite_key() {
        let key = b"s-1#2022-07-29T15:22:01.458193Z#e9";
        assert_eq!(field(b'#', 0).apply(key), Some(&b"s-1"[..]));
        assert_eq!(
            field(b'#', 1).apply(key),
            Some(&b"2022-07-29T15:22:01.458193Z"[..])
        );
        assert_eq!(field(b'#', 2).apply(key), Some(&b"e9"[..]));
        assert_eq!(field(b'#', 3).apply(key), None);
        assert_eq!(field(b'#', u32::MAX).apply(key), None);
        assert_eq!(field(b'|', 0).apply(key), Some(&key[..]));
        assert_eq!(field(b'|', 1).apply(key), None);
        assert_eq!(field(b'#', 1).apply(b"a##b"), Some(&b""[..]));
        assert_eq!(field(b'#', 1).apply(b"a#"), Some(&b""[..]));
        assert_eq!(Derivation::WholeKey.apply(key), Some(&key[..]));
        assert_eq!(Derivation::Stored.apply(key), None);

        for (v, want) in [
            (&b"s-1"[..], Some(field(b'#', 0))),
            (b"2022-07-29T15:22:01.458193Z", Some(field(b'#', 1))),
            (b"e9", Some(field(b'#', 2))),
            (key, Some(Derivation::WholeKey)),
            // Inside a field, not bounded by one same byte: stored.
            (b"2022", None),
            (b"e", None),
            (b"", None),
            (b"nowhere", None),
        ] {
            assert_eq!(Derivation::find(key, v), want, "{}", v.escape_ascii());
        }
        // The same field value twice: the first occurrence's field.
        assert_eq!(Derivation::find(b"x#x#y", b"x"), Some(field(b'#', 0)));
        // A value whose bytes are all over the key: the end is tried before the middle.
        let zeros = b"000000-0000#2022-07-29T15:00:01.000000Z#0";
        assert_eq!(Derivation::find(zeros, b"0"), Some(field(b'#', 2)));
        assert_eq!(
            Derivation::find(zeros, b"000000-0000"),
            Some(field(b'#', 0))
        );
        // A separator found from the bytes around the value, whatever it is.
        assert_eq!(Derivation::find(b"a.b.c", b"b"), Some(field(b'.', 1)));
        assert_eq!(Derivation::find(b"151", b"5"), Some(field(b'1', 1)));
        // Bounded by two different bytes: no field of either.
        assert_eq!(Derivation::find(b"a#b|c", b"b"), None);
    }

    #[test]
    fn derivations_round_trip_and_unknown_tags_fail() {
        for d in [
            Derivation::Stored,
            Derivation::WholeKey,
            field(b'#', 0),
            field(0, u32::MAX),
        ] {
            let mut b = Vec::new();
            d.encode(&mut b);
            let mut r = Reader::new(&b);
            assert_eq!(Derivation::decode(&mut r).unwrap(), d);
            assert!(r.is_empty());
            for n in 0..b.len() {
                assert!(Derivation::decode(&mut Reader::new(&b[..n])).is_err());
            }
        }
        let e = Derivation::decode(&mut Reader::new(&[3])).unwrap_err();
        assert_eq!(e.what, "unknown value derivation");
    }

    proptest! {
        /// Whatever `find` proposes reproduces the value from the key.
        #[test]
        fn found_derivations_reproduce_the_value(
            key in proptest::collection::vec(prop_oneof![Just(b'#'), Just(b'a'), Just(b'b'), any::<u8>()], 0..24),
            from in 0usize..24,
            len in 0usize..24,
        ) {
            let from = from.min(key.len());
            let to = (from + len).min(key.len());
            let value = &key[from..to];
            if let Some(d) = Derivation::find(&key, value) {
                prop_assert_eq!(d.apply(&key), Some(value));
            }
            // A whole field is found (unless it occurs too often to try every place); the
            // first and last fields always.
            for i in 0..3 {
                if let Some(v) = field(b'#', i).apply(&key)
                    && !v.is_empty()
                    && (i != 1 || key.windows(v.len()).filter(|w| *w == v).count() <= MAX_TRIES)
                    && (i != 2 || field(b'#', 3).apply(&key).is_none())
                {
                    prop_assert!(Derivation::find(&key, v).is_some(), "field {}", i);
                }
            }
        }
    }
}
