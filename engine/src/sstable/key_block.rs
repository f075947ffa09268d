//! Key blocks of an SSTable, before compression: the file's distinct row keys, in order,
//! prefix-compressed with a restart point every `KEY_RESTART_INTERVAL` keys (layout in
//! docs/format.md, "Key block"). A row is named by its ordinal everywhere else in the file.
//!
//! This module owns that byte layout. The decoder must never panic or return an inconsistent
//! block on any input: every length and count is checked, and keys are handed out as slices
//! of the decoded buffer, never copied.

#![warn(clippy::indexing_slicing)]

use bytes::Bytes;

use super::format::KEY_RESTART_INTERVAL;
use crate::codec::{DecodeResult, Reader, invalid, put_fixed32, put_varint64, take_varint};

/// Accumulates one key block.
#[derive(Debug, Default)]
pub(crate) struct KeyBlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    last_key: Vec<u8>,
    count: usize,
}

impl KeyBlockBuilder {
    /// Append a key; keys must come in strictly increasing order (the table builder checks).
    pub fn add(&mut self, key: &[u8]) {
        let shared = if self.count.is_multiple_of(KEY_RESTART_INTERVAL) {
            self.restarts.push(self.buf.len() as u32);
            0
        } else {
            self.last_key
                .iter()
                .zip(key)
                .take_while(|(a, b)| a == b)
                .count()
        };
        put_varint64(&mut self.buf, shared as u64);
        put_varint64(&mut self.buf, (key.len() - shared) as u64);
        self.buf.extend_from_slice(crate::codec::sub(key, shared..));
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.count += 1;
    }

    pub fn count(&self) -> usize {
        self.count
    }

    pub fn last_key(&self) -> &[u8] {
        &self.last_key
    }

    /// Uncompressed size the block would have if finished now.
    pub fn size(&self) -> usize {
        self.buf.len() + 4 * self.restarts.len() + 4
    }

    /// Write the finished block into `out` (cleared first) and reset for the next block.
    pub fn finish_into(&mut self, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.buf);
        for &r in &self.restarts {
            put_fixed32(out, r);
        }
        put_fixed32(out, self.restarts.len() as u32);
        self.buf.clear();
        self.restarts.clear();
        self.count = 0;
    }
}

/// The first 8 bytes of a key (zero-padded) as a big-endian number. Order-preserving in
/// the weak sense: `a < b` implies `key_head(a) <= key_head(b)`; so a search compares
/// these dense numbers first and whole keys only among equal heads.
#[inline]
pub(crate) fn key_head(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    for (slot, byte) in b.iter_mut().zip(key) {
        *slot = *byte;
    }
    u64::from_be_bytes(b)
}

/// Index of the first key `>= key` (`> key` when `exclusive`) among `n` sorted keys, given
/// their heads (`key_head`) and a way to get key `i`.
#[inline]
pub(crate) fn head_lower_bound<'a>(
    heads: &[u64],
    key_at: impl Fn(usize) -> &'a [u8],
    key: &[u8],
    exclusive: bool,
) -> usize {
    let h = key_head(key);
    // Keys with a smaller head are smaller than `key`, keys with a larger head larger.
    let mut lo = heads.partition_point(|&x| x < h);
    let mut hi = lo + heads.get(lo..).unwrap_or(&[]).partition_point(|&x| x == h);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let k = key_at(mid);
        let before = if exclusive { k <= key } else { k < key };
        if before {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// A decoded key block, kept as its checked payload (prefix-compressed keys, about the
/// size of the keys) for the block cache: a lookup binary searches the restart keys
/// (stored whole) and then walks at most `KEY_RESTART_INTERVAL` entries, comparing without
/// rebuilding keys. A scan expands it once into a [`KeyList`].
#[derive(Debug)]
pub(crate) struct KeyBlock {
    pub first_ordinal: u64,
    data: Bytes,
    /// Offset of the restart array (the entries end there).
    restarts_at: usize,
    restarts: usize,
    count: usize,
}

/// The keys of a key block laid end to end (a scan's form of a [`KeyBlock`]).
#[derive(Debug)]
pub(crate) struct KeyList {
    pub first_ordinal: u64,
    keys: Bytes,
    /// `len() + 1` offsets into `keys`.
    offsets: Vec<u32>,
}

impl KeyList {
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Key `i` (`i < len()`), or empty past the end.
    #[cfg(test)]
    pub fn key(&self, i: usize) -> &[u8] {
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            (Some(&s), Some(&e)) => self.keys.get(s as usize..e as usize).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// Key `i` as a slice of the list's buffer (no copy).
    pub fn key_bytes(&self, i: usize) -> Bytes {
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            (Some(&s), Some(&e)) => self.keys.slice(s as usize..e as usize),
            _ => Bytes::new(),
        }
    }
}

/// One entry of a checked key block: (shared, suffix, next entry's offset).
#[inline]
fn key_entry(d: &[u8], pos: usize) -> (usize, &[u8], usize) {
    let mut p = pos;
    let shared = take_varint(d, &mut p).unwrap_or(0) as usize;
    let unshared = take_varint(d, &mut p).unwrap_or(0) as usize;
    let suffix = d.get(p..p.saturating_add(unshared)).unwrap_or(&[]);
    (shared, suffix, p + suffix.len())
}

impl KeyBlock {
    pub fn len(&self) -> usize {
        self.count
    }

    /// Heap bytes held (the block cache's charge, with the struct itself).
    pub fn heap_bytes(&self) -> usize {
        self.data.len()
    }

    /// Offset of restart entry `r`'s entry.
    #[inline]
    fn restart(&self, r: usize) -> usize {
        let at = self.restarts_at + 4 * r;
        self.data
            .get(at..)
            .and_then(|b| b.first_chunk())
            .map_or(0, |b| u32::from_le_bytes(*b) as usize)
    }

    /// Index of the first key `>= key` (or `> key` when `exclusive`), `len()` if none.
    pub fn lower_bound(&self, key: &[u8], exclusive: bool) -> usize {
        self.search(key, exclusive).0
    }

    /// Index of `key` if present.
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        match self.search(key, false) {
            (i, true) => Some(i),
            _ => None,
        }
    }

    /// [`KeyBlock::lower_bound`], and whether the key found there equals `key`.
    fn search(&self, key: &[u8], exclusive: bool) -> (usize, bool) {
        let d: &[u8] = &self.data;
        let before = |k: &[u8]| if exclusive { k <= key } else { k < key };
        // Restart keys are stored whole (shared = 0).
        let mut lo = 0;
        let mut hi = self.restarts;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (_, k, _) = key_entry(d, self.restart(mid));
            if before(k) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let restart_equals = |r: usize| r < self.restarts && key_entry(d, self.restart(r)).1 == key;
        // Restarts 0..lo are before `key`: the answer is in restart lo - 1's group.
        let Some(group) = lo.checked_sub(1) else {
            return (0, restart_equals(0));
        };
        let base = group * KEY_RESTART_INTERVAL;
        let n = (self.count - base).min(KEY_RESTART_INTERVAL);
        let mut pos = self.restart(group);
        // `matched`: bytes the previous key shares with `key` (it was before `key`).
        let mut matched = 0usize;
        for j in 0..n {
            let (shared, suffix, next) = key_entry(d, pos);
            pos = next;
            if shared > matched {
                // Shares the previous key's byte at `matched`, smaller than `key`'s there.
                continue;
            }
            // The key's first `shared` bytes are `key`'s: compare the rest.
            let rest = key.get(shared..).unwrap_or(&[]);
            let m = rest.iter().zip(suffix).take_while(|(a, b)| a == b).count();
            matched = shared + m;
            let ord = match (suffix.get(m), rest.get(m)) {
                (Some(a), Some(b)) => a.cmp(b),
                (a, b) => a.is_some().cmp(&b.is_some()),
            };
            let is_before = if exclusive { ord.is_le() } else { ord.is_lt() };
            if !is_before {
                return (base + j, ord.is_eq());
            }
        }
        (base + n, restart_equals(lo))
    }

    /// Every key, expanded (for scans).
    pub fn expand(&self) -> KeyList {
        let d: &[u8] = &self.data;
        let mut keys: Vec<u8> = Vec::with_capacity(self.restarts_at * 2);
        let mut offsets: Vec<u32> = Vec::with_capacity(self.count + 1);
        offsets.push(0);
        let (mut pos, mut prev_start) = (0usize, 0usize);
        for _ in 0..self.count {
            let (shared, suffix, next) = key_entry(d, pos);
            pos = next;
            let start = keys.len();
            // Checked when decoding: `shared` is at most the previous key's length.
            let shared = shared.min(start - prev_start);
            keys.extend_from_within(prev_start..prev_start + shared);
            keys.extend_from_slice(suffix);
            offsets.push(keys.len() as u32);
            prev_start = start;
        }
        KeyList {
            first_ordinal: self.first_ordinal,
            keys: Bytes::from(keys),
            offsets,
        }
    }

    /// Whether the last key is `key`.
    pub fn last_key_is(&self, key: &[u8]) -> bool {
        self.count > 0 && self.find(key) == Some(self.count - 1)
    }
}

/// Check a key block that must hold exactly `count` strictly increasing keys and keep its
/// payload as a [`KeyBlock`].
pub(crate) fn decode_key_block(
    payload: &Bytes,
    first_ordinal: u64,
    count: usize,
) -> DecodeResult<KeyBlock> {
    let n = payload.len();
    if count == 0 || count > n {
        return Err(invalid(0, "key count out of range for the block size"));
    }
    if n > u32::MAX as usize {
        return Err(invalid(0, "key block larger than 4 GiB"));
    }
    let tail = n
        .checked_sub(4)
        .ok_or(invalid(0, "key block shorter than its restart count"))?;
    let nrestarts = Reader::new(payload.get(tail..).unwrap_or(&[])).fixed32()? as usize;
    if nrestarts != count.div_ceil(KEY_RESTART_INTERVAL) {
        return Err(invalid(tail, "restart count does not match the key count"));
    }
    let restarts_start = nrestarts
        .checked_mul(4)
        .and_then(|b| tail.checked_sub(b))
        .ok_or(invalid(tail, "restart array larger than the block"))?;
    let mut restarts = Reader::new(payload.get(restarts_start..tail).unwrap_or(&[]));
    let mut r = Reader::new(payload.get(..restarts_start).unwrap_or(&[]));
    // The previous and the current key.
    let mut prev: Vec<u8> = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    for i in 0..count {
        let entry = r.pos();
        let shared = r.varint_usize()?;
        let unshared = r.varint_usize()?;
        let suffix = r.bytes(unshared)?;
        if i.is_multiple_of(KEY_RESTART_INTERVAL) {
            if restarts.fixed32()? as usize != entry {
                return Err(invalid(entry, "restart point does not match a key entry"));
            }
            if shared != 0 {
                return Err(invalid(entry, "key at a restart point shares a prefix"));
            }
        }
        let Some(head) = prev.get(..shared) else {
            return Err(invalid(entry, "shared prefix longer than the previous key"));
        };
        cur.clear();
        cur.extend_from_slice(head);
        cur.extend_from_slice(suffix);
        if i > 0 && prev >= cur {
            return Err(invalid(entry, "row keys out of order"));
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    r.expect_end("bytes after the last key")?;
    Ok(KeyBlock {
        first_ordinal,
        data: payload.clone(),
        restarts_at: restarts_start,
        restarts: nrestarts,
        count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn key_search_by_head_matches_a_plain_search(
            keys in proptest::collection::btree_set(proptest::collection::vec(
                prop_oneof![Just(0u8), Just(1u8), Just(0xffu8)], 0..12), 1..120),
            probe in proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), Just(0xffu8)], 0..12),
        ) {
            let keys: Vec<Vec<u8>> = keys.into_iter().collect();
            let mut b = KeyBlockBuilder::default();
            for k in &keys {
                b.add(k);
            }
            let mut out = Vec::new();
            b.finish_into(&mut out);
            let blk = decode_key_block(&Bytes::from(out), 0, keys.len()).unwrap();
            for exclusive in [false, true] {
                let want = keys.partition_point(|k| if exclusive { k <= &probe } else { k < &probe });
                prop_assert_eq!(blk.lower_bound(&probe, exclusive), want);
            }
            prop_assert_eq!(blk.find(&probe), keys.binary_search(&probe).ok());
            for (i, k) in keys.iter().enumerate() {
                prop_assert_eq!(blk.find(k), Some(i));
            }
        }


        #[test]
        fn key_block_round_trips(mut keys in proptest::collection::btree_set(proptest::collection::vec(0u8..3, 0..6), 1..80)) {
            let keys: Vec<Vec<u8>> = std::mem::take(&mut keys).into_iter().collect();
            let mut b = KeyBlockBuilder::default();
            for k in &keys {
                b.add(k);
            }
            let mut out = Vec::new();
            b.finish_into(&mut out);
            let out = Bytes::from(out);
            let blk = decode_key_block(&out, 3, keys.len()).unwrap();
            prop_assert_eq!(blk.len(), keys.len());
            let list = blk.expand();
            prop_assert_eq!(list.len(), keys.len());
            prop_assert!(blk.last_key_is(keys.last().unwrap()));
            for (i, k) in keys.iter().enumerate() {
                prop_assert_eq!(list.key(i), &k[..]);
                prop_assert_eq!(list.key_bytes(i), Bytes::from(k.clone()));
                prop_assert_eq!(blk.find(k), Some(i));
            }
            prop_assert!(decode_key_block(&out, 3, keys.len() + 1).is_err());
            for n in 0..out.len() {
                prop_assert!(decode_key_block(&out.slice(..n), 3, keys.len()).is_err());
            }
        }
    }

    #[test]
    fn key_block_lower_bound() {
        let mut b = KeyBlockBuilder::default();
        for k in [b"b".as_slice(), b"d", b"f"] {
            b.add(k);
        }
        let mut out = Vec::new();
        b.finish_into(&mut out);
        let blk = decode_key_block(&Bytes::from(out), 0, 3).unwrap();
        assert_eq!(blk.lower_bound(b"a", false), 0);
        assert_eq!(blk.lower_bound(b"d", false), 1);
        assert_eq!(blk.lower_bound(b"d", true), 2);
        assert_eq!(blk.lower_bound(b"g", false), 3);
        assert_eq!(blk.find(b"c"), None);
        assert_eq!(blk.expand().key_bytes(2), Bytes::from_static(b"f"));
        assert!(blk.last_key_is(b"f"));
        assert!(!blk.last_key_is(b"d"));
    }
}
