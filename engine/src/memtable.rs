//! `MemTable`: the in-memory sorted buffer of one table's recent writes, a crossbeam `SkipMap`
//! keyed by the internal cell order (see `cell.rs`). Writers insert through `&self`; readers
//! iterate concurrently and filter by their snapshot sequence number.
//!
//! This module must never decide visibility (deletes, versions, TTL): it only stores and
//! returns entries in order. `visibility.rs` decides what a read sees.

use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use crossbeam_skiplist::SkipMap;

use crate::cell::{CellKind, InternalCell, MARKER_TS, SeqNo};

/// Rough per-entry overhead of the skiplist node and handles, for memory accounting.
const ENTRY_OVERHEAD: usize = 96;

/// What one entry adds to a memtable's approximate size: its bytes plus the node overhead.
pub(crate) fn entry_charge(row: usize, family: usize, qualifier: usize, value: usize) -> usize {
    row + family + qualifier + value + ENTRY_OVERHEAD
}

/// One table's sorted in-memory buffer.
#[derive(Debug)]
pub struct MemTable {
    map: SkipMap<InternalCell, ()>,
    bytes: AtomicUsize,
    min_seq: AtomicU64,
    max_seq: AtomicU64,
}

impl Default for MemTable {
    fn default() -> Self {
        Self::new()
    }
}

/// The smallest possible internal cell of `row`: sorts before every real cell of the row.
pub(crate) fn row_start_probe(row: &[u8]) -> InternalCell {
    InternalCell {
        row: Bytes::copy_from_slice(row),
        family: Arc::from(""),
        kind: CellKind::DeleteFamily,
        qualifier: Bytes::new(),
        ts: MARKER_TS,
        seq: SeqNo::MAX,
        value: Bytes::new(),
    }
}

impl MemTable {
    /// An empty memtable.
    pub fn new() -> Self {
        MemTable {
            map: SkipMap::new(),
            bytes: AtomicUsize::new(0),
            min_seq: AtomicU64::new(u64::MAX),
            max_seq: AtomicU64::new(0),
        }
    }

    /// Insert one entry. Entries are unique by (coordinates, seq); a repeat replaces.
    pub fn insert(&self, cell: InternalCell) {
        let size = entry_charge(
            cell.row.len(),
            cell.family.len(),
            cell.qualifier.len(),
            cell.value.len(),
        );
        self.min_seq.fetch_min(cell.seq, Ordering::Relaxed);
        self.max_seq.fetch_max(cell.seq, Ordering::Relaxed);
        self.map.insert(cell, ());
        self.bytes.fetch_add(size, Ordering::Relaxed);
    }

    /// Approximate bytes held.
    pub fn approximate_bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Whether no entry was inserted.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of entries.
    #[cfg(any(test, feature = "testing"))]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Smallest sequence number inserted (`u64::MAX` when empty).
    pub fn min_seq(&self) -> SeqNo {
        self.min_seq.load(Ordering::Relaxed)
    }

    /// Largest sequence number inserted (0 when empty).
    pub fn max_seq(&self) -> SeqNo {
        self.max_seq.load(Ordering::Relaxed)
    }

    /// Every entry of one row with `seq <= snapshot`, in order.
    pub fn get_row(&self, row: &[u8], snapshot: SeqNo, out: &mut Vec<InternalCell>) {
        let probe = row_start_probe(row);
        for e in self.map.range(probe..) {
            let c = e.key();
            if c.row.as_ref() != row {
                break;
            }
            if c.seq <= snapshot {
                out.push(c.clone());
            }
        }
    }

    /// The largest row key below `below` (any sequence number): where a reverse scan may cut
    /// a window (`scan/reverse.rs`). One skiplist search, however many versions rows hold.
    pub(crate) fn row_before(&self, below: &[u8]) -> Option<Bytes> {
        let probe = row_start_probe(below);
        self.map
            .range::<InternalCell, _>((Bound::Unbounded, Bound::Excluded(&probe)))
            .next_back()
            .map(|e| e.key().row.clone())
    }

    /// The distinct row keys at or after `start` (any sequence number), in order: whether
    /// a reader of a range can leave this memtable out, or which of the range's rows it must
    /// merge. One skiplist search, then the entries in order.
    pub(crate) fn rows_from<'a>(&'a self, start: Bound<&[u8]>) -> impl Iterator<Item = Bytes> + 'a {
        let (probe, skip) = match start {
            Bound::Unbounded => (None, None),
            Bound::Included(r) => (Some(row_start_probe(r)), None),
            Bound::Excluded(r) => (Some(row_start_probe(r)), Some(Bytes::copy_from_slice(r))),
        };
        let lower = match &probe {
            Some(p) => Bound::Included(p.clone()),
            None => Bound::Unbounded,
        };
        let mut last: Option<Bytes> = None;
        self.map
            .range::<InternalCell, _>((lower, Bound::Unbounded))
            .filter_map(move |e| {
                let row = &e.key().row;
                if last.as_ref() == Some(row) || skip.as_ref() == Some(row) {
                    return None;
                }
                last = Some(row.clone());
                Some(row.clone())
            })
    }

    /// The largest row key in the memtable.
    pub(crate) fn last_row(&self) -> Option<Bytes> {
        self.map.back().map(|e| e.key().row.clone())
    }

    /// Visit every entry in order by reference (flush: no clone per entry); stops at the
    /// first error.
    pub fn try_for_each<E>(
        &self,
        mut f: impl FnMut(&InternalCell) -> Result<(), E>,
    ) -> Result<(), E> {
        for e in self.map.iter() {
            f(e.key())?;
        }
        Ok(())
    }
}

/// An owning, `'static` cursor over a memtable from a start row, reading entries in batches
/// (each batch is one `lower_bound` plus a short walk), so a scan can outlive any borrow.
pub struct MemTableCursor {
    mem: Arc<MemTable>,
    snapshot: SeqNo,
    /// Where the next batch starts, and whether that key itself is included.
    next_from: Option<(InternalCell, bool)>,
    skip_row: Option<Bytes>,
    buf: std::collections::VecDeque<InternalCell>,
    done: bool,
}

const CURSOR_BATCH: usize = 256;

impl MemTableCursor {
    /// Start at the first row within `start`.
    pub fn new(mem: Arc<MemTable>, start: Bound<&[u8]>, snapshot: SeqNo) -> Self {
        let (next_from, skip_row) = match start {
            Bound::Unbounded => (None, None),
            Bound::Included(r) => (Some((row_start_probe(r), true)), None),
            Bound::Excluded(r) => (
                Some((row_start_probe(r), true)),
                Some(Bytes::copy_from_slice(r)),
            ),
        };
        MemTableCursor {
            mem,
            snapshot,
            next_from,
            skip_row,
            buf: std::collections::VecDeque::new(),
            done: false,
        }
    }

    fn refill(&mut self) {
        let mut last: Option<InternalCell> = None;
        let mut n = 0;
        {
            let lower: Bound<&InternalCell> = match &self.next_from {
                None => Bound::Unbounded,
                Some((from, true)) => Bound::Included(from),
                Some((from, false)) => Bound::Excluded(from),
            };
            let range = self
                .mem
                .map
                .range::<InternalCell, _>((lower, Bound::Unbounded));
            for e in range {
                let c = e.key();
                last = Some(c.clone());
                n += 1;
                if c.seq <= self.snapshot && self.skip_row.as_ref().is_none_or(|s| s != &c.row) {
                    self.buf.push_back(c.clone());
                }
                if n >= CURSOR_BATCH {
                    break;
                }
            }
        }
        match last {
            Some(l) if n >= CURSOR_BATCH => self.next_from = Some((l, false)),
            _ => self.done = true,
        }
    }
}

impl Iterator for MemTableCursor {
    type Item = InternalCell;
    fn next(&mut self) -> Option<InternalCell> {
        while self.buf.is_empty() && !self.done {
            self.refill();
        }
        self.buf.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(row: &str, q: &str, ts: i64, seq: u64) -> InternalCell {
        InternalCell {
            row: Bytes::copy_from_slice(row.as_bytes()),
            family: Arc::from("f"),
            kind: CellKind::Put,
            qualifier: Bytes::copy_from_slice(q.as_bytes()),
            ts,
            seq,
            value: Bytes::from_static(b"v"),
        }
    }

    #[test]
    fn get_row_returns_only_that_row_up_to_the_snapshot() {
        let m = MemTable::new();
        m.insert(put("a", "x", 1, 1));
        m.insert(put("ab", "x", 1, 2));
        m.insert(put("a", "y", 1, 3));
        m.insert(put("a", "y", 2, 9));
        let mut out = Vec::new();
        m.get_row(b"a", 5, &mut out);
        let seqs: Vec<u64> = out.iter().map(|c| c.seq).collect();
        assert_eq!(seqs, vec![1, 3]);
        assert_eq!(m.min_seq(), 1);
        assert_eq!(m.max_seq(), 9);
    }

    #[test]
    fn cursor_walks_in_order_across_batches_and_honours_bounds() {
        let m = Arc::new(MemTable::new());
        for i in 0..1000u64 {
            m.insert(put(&format!("r{i:04}"), "q", 1, i + 1));
        }
        let all: Vec<_> = MemTableCursor::new(m.clone(), Bound::Unbounded, u64::MAX).collect();
        assert_eq!(all.len(), 1000);
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        let from: Vec<_> =
            MemTableCursor::new(m.clone(), Bound::Excluded(b"r0500"), u64::MAX).collect();
        assert_eq!(
            from.first().map(|c| c.row.clone()),
            Some(Bytes::from("r0501"))
        );
        assert_eq!(from.len(), 499);
        let snap: Vec<_> = MemTableCursor::new(m, Bound::Included(b"r0000"), 10).collect();
        assert_eq!(snap.len(), 10);
    }
}
