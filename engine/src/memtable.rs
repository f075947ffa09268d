//! `MemTable`: the in-memory sorted buffer of one table's recent writes, a crossbeam `SkipMap`
//! with one entry per row of a write call (its cells sorted in the internal cell order of
//! `cell.rs`), keyed by (row, first sequence number). Writers insert through `&self`; readers
//! iterate concurrently, merge the entries of one row, and filter by their snapshot sequence
//! number, so what they see is the same cells in the same order as one entry per cell.
//!
//! This module must never decide visibility (deletes, versions, TTL): it only stores and
//! returns entries in order. `visibility.rs` decides what a read sees.

use std::cmp::Ordering as CmpOrdering;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use crossbeam_skiplist::SkipMap;

use crate::cell::{CellKind, CellRef, InternalCell, SeqNo, Timestamp, compare_within_row};
use crate::write_batch::RowCells;

/// Rough per-cell overhead of the entry and its handles, for memory accounting.
const ENTRY_OVERHEAD: usize = 96;

/// What one cell adds to a memtable's approximate size: its bytes plus the overhead.
pub(crate) fn entry_charge(row: usize, family: usize, qualifier: usize, value: usize) -> usize {
    row + family + qualifier + value + ENTRY_OVERHEAD
}

/// The key of one entry: a row and the sequence number of the entry's first cell. Order:
/// row ascending, then newest entry first (the entries of one row are adjacent).
#[derive(Clone, Debug, PartialEq, Eq)]
struct EntryKey {
    row: Bytes,
    first_seq: SeqNo,
}

impl Ord for EntryKey {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.row
            .cmp(&other.row)
            .then_with(|| other.first_seq.cmp(&self.first_seq))
    }
}

impl PartialOrd for EntryKey {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

/// The smallest key of `row`: before every entry of the row.
fn row_start(row: &[u8]) -> EntryKey {
    EntryKey {
        row: Bytes::copy_from_slice(row),
        first_seq: SeqNo::MAX,
    }
}

/// The largest key of `row`: after every entry of the row.
fn row_end(row: Bytes) -> EntryKey {
    EntryKey { row, first_seq: 0 }
}

/// One cell of an entry (the row is the entry's).
#[derive(Clone, Debug)]
struct MemCell {
    family: Arc<str>,
    kind: CellKind,
    qualifier: Bytes,
    ts: Timestamp,
    seq: SeqNo,
    value: Bytes,
}

impl MemCell {
    fn as_ref<'a>(&'a self, row: &'a [u8]) -> CellRef<'a> {
        CellRef {
            row,
            family: &self.family,
            kind: self.kind,
            qualifier: &self.qualifier,
            ts: self.ts,
            seq: self.seq,
            value: &self.value,
        }
    }

    fn to_internal(&self, row: &Bytes) -> InternalCell {
        InternalCell {
            row: row.clone(),
            family: self.family.clone(),
            kind: self.kind,
            qualifier: self.qualifier.clone(),
            ts: self.ts,
            seq: self.seq,
            value: self.value.clone(),
        }
    }
}

/// One table's sorted in-memory buffer.
#[derive(Debug)]
pub struct MemTable {
    map: SkipMap<EntryKey, Box<[MemCell]>>,
    bytes: AtomicUsize,
    min_seq: AtomicU64,
    max_seq: AtomicU64,
}

impl Default for MemTable {
    fn default() -> Self {
        Self::new()
    }
}

/// Append the cells of `entries` (the entries of one row, adjacent in the map) with
/// `seq <= snapshot` to `out` as internal cells, in internal order: one entry's cells are
/// sorted already, the cells of several are sorted once here.
fn push_row_cells<'a>(
    row: &Bytes,
    entries: impl Iterator<Item = &'a [MemCell]>,
    snapshot: SeqNo,
    out: &mut Vec<InternalCell>,
) {
    let start = out.len();
    let mut contributed = 0;
    for cells in entries {
        let before = out.len();
        out.extend(
            cells
                .iter()
                .filter(|c| c.seq <= snapshot)
                .map(|c| c.to_internal(row)),
        );
        if out.len() > before {
            contributed += 1;
        }
    }
    if contributed > 1
        && let Some(tail) = out.get_mut(start..)
    {
        // Unique by (coordinates, seq): an unstable sort is exact.
        tail.sort_unstable();
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

    /// Insert the cells of one row mutation, numbered from `first_seq` in mutation order, as
    /// one entry. Every sequence number of a memtable is unique (the write path and replay
    /// number each cell once), so the entry is new.
    pub fn insert_row(&self, row: RowCells, first_seq: SeqNo) {
        let RowCells { row, cells } = row;
        if cells.is_empty() {
            return;
        }
        let mut size = 0usize;
        let mut seq = first_seq;
        let mut mem: Vec<MemCell> = Vec::with_capacity(cells.len());
        for (kind, family, qualifier, ts, value) in cells {
            size += entry_charge(row.len(), family.len(), qualifier.len(), value.len());
            mem.push(MemCell {
                family,
                kind,
                qualifier,
                ts,
                seq,
                value,
            });
            seq += 1;
        }
        self.insert_entry(row, first_seq, seq - 1, mem, size);
    }

    fn insert_entry(
        &self,
        row: Bytes,
        first_seq: SeqNo,
        last_seq: SeqNo,
        mut cells: Vec<MemCell>,
        size: usize,
    ) {
        // Unique by (coordinates, seq) within an entry: an unstable sort is exact.
        cells.sort_unstable_by(|a, b| compare_within_row(&a.as_ref(&row), &b.as_ref(&row)));
        self.min_seq.fetch_min(first_seq, Ordering::Relaxed);
        self.max_seq.fetch_max(last_seq, Ordering::Relaxed);
        self.map
            .insert(EntryKey { row, first_seq }, cells.into_boxed_slice());
        self.bytes.fetch_add(size, Ordering::Relaxed);
    }

    /// Insert one cell as its own entry (tests, benchmarks). Entries are unique by
    /// (coordinates, seq); a repeat replaces.
    pub fn insert(&self, cell: InternalCell) {
        let size = entry_charge(
            cell.row.len(),
            cell.family.len(),
            cell.qualifier.len(),
            cell.value.len(),
        );
        let key = EntryKey {
            row: cell.row,
            first_seq: cell.seq,
        };
        let new = MemCell {
            family: cell.family,
            kind: cell.kind,
            qualifier: cell.qualifier,
            ts: cell.ts,
            seq: cell.seq,
            value: cell.value,
        };
        // Another single-cell insert of this row with this number: keep both cells, the new
        // one replacing a cell of the same coordinates.
        let mut cells: Vec<MemCell> = match self.map.get(&key) {
            Some(e) => e
                .value()
                .iter()
                .filter(|c| {
                    compare_within_row(&c.as_ref(&key.row), &new.as_ref(&key.row))
                        != CmpOrdering::Equal
                })
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        cells.push(new);
        let EntryKey { row, first_seq } = key;
        self.insert_entry(row, first_seq, first_seq, cells, size);
    }

    /// Approximate bytes held.
    pub fn approximate_bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Whether no entry was inserted.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of cells.
    #[cfg(any(test, feature = "testing"))]
    pub fn len(&self) -> usize {
        self.map.iter().map(|e| e.value().len()).sum()
    }

    /// Smallest sequence number inserted (`u64::MAX` when empty).
    pub fn min_seq(&self) -> SeqNo {
        self.min_seq.load(Ordering::Relaxed)
    }

    /// Largest sequence number inserted (0 when empty).
    pub fn max_seq(&self) -> SeqNo {
        self.max_seq.load(Ordering::Relaxed)
    }

    /// Every cell of one row with `seq <= snapshot`, in order.
    pub fn get_row(&self, row: &[u8], snapshot: SeqNo, out: &mut Vec<InternalCell>) {
        let probe = row_start(row);
        let mut entries = self.map.range(probe..).take_while(|e| e.key().row == row);
        let Some(first) = entries.next() else {
            return;
        };
        let key_row = first.key().row.clone();
        let rest: Vec<_> = entries.collect();
        push_row_cells(
            &key_row,
            std::iter::once(first.value().as_ref()).chain(rest.iter().map(|e| e.value().as_ref())),
            snapshot,
            out,
        );
    }

    /// The largest row key below `below` (any sequence number): where a reverse scan may cut
    /// a window (`scan/reverse.rs`). One skiplist search, however many versions rows hold.
    pub(crate) fn row_before(&self, below: &[u8]) -> Option<Bytes> {
        let probe = row_start(below);
        self.map
            .range::<EntryKey, _>((Bound::Unbounded, Bound::Excluded(&probe)))
            .next_back()
            .map(|e| e.key().row.clone())
    }

    /// The distinct row keys at or after `start` (any sequence number), in order: whether
    /// a reader of a range can leave this memtable out, or which of the range's rows it must
    /// merge. One skiplist search, then the entries in order.
    pub(crate) fn rows_from<'a>(&'a self, start: Bound<&[u8]>) -> impl Iterator<Item = Bytes> + 'a {
        let lower = match start {
            Bound::Unbounded => Bound::Unbounded,
            Bound::Included(r) => Bound::Included(row_start(r)),
            Bound::Excluded(r) => Bound::Excluded(row_end(Bytes::copy_from_slice(r))),
        };
        let mut last: Option<Bytes> = None;
        self.map
            .range::<EntryKey, _>((lower, Bound::Unbounded))
            .filter_map(move |e| {
                let row = &e.key().row;
                if last.as_ref() == Some(row) {
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

    /// Visit every cell in order by reference (flush: no clone per cell of a row written
    /// once); stops at the first error.
    pub fn try_for_each<E>(
        &self,
        mut f: impl FnMut(&CellRef<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut it = self.map.iter().peekable();
        let mut merged: Vec<InternalCell> = Vec::new();
        while let Some(e) = it.next() {
            let row = &e.key().row;
            let more_of_row = it.peek().is_some_and(|n| n.key().row == *row);
            if !more_of_row && merged.is_empty() {
                for c in e.value().iter() {
                    f(&c.as_ref(row))?;
                }
                continue;
            }
            merged.extend(e.value().iter().map(|c| c.to_internal(row)));
            if !more_of_row {
                merged.sort_unstable();
                for c in merged.drain(..) {
                    f(&c.as_ref())?;
                }
            }
        }
        Ok(())
    }
}

/// An owning, `'static` cursor over a memtable from a start row, reading whole rows in
/// batches (each batch is one `lower_bound` plus a short walk), so a scan can outlive any
/// borrow.
pub struct MemTableCursor {
    mem: Arc<MemTable>,
    snapshot: SeqNo,
    /// Where the next batch starts.
    next_from: Bound<EntryKey>,
    buf: std::vec::IntoIter<InternalCell>,
    done: bool,
}

/// A batch ends at the first row boundary after this many entries.
const CURSOR_BATCH: usize = 64;

impl MemTableCursor {
    /// Start at the first row within `start`.
    pub fn new(mem: Arc<MemTable>, start: Bound<&[u8]>, snapshot: SeqNo) -> Self {
        let next_from = match start {
            Bound::Unbounded => Bound::Unbounded,
            Bound::Included(r) => Bound::Included(row_start(r)),
            Bound::Excluded(r) => Bound::Excluded(row_end(Bytes::copy_from_slice(r))),
        };
        MemTableCursor {
            mem,
            snapshot,
            next_from,
            buf: Vec::new().into_iter(),
            done: false,
        }
    }

    fn refill(&mut self) {
        let mut out: Vec<InternalCell> = Vec::new();
        let mut entries = 0usize;
        let mut stopped_before: Option<Bytes> = None;
        {
            let range = self
                .mem
                .map
                .range::<EntryKey, _>((self.next_from.as_ref(), Bound::Unbounded));
            let mut row: Option<Bytes> = None;
            let mut group: Vec<crossbeam_skiplist::map::Entry<'_, EntryKey, Box<[MemCell]>>> =
                Vec::new();
            for e in range {
                let same = row.as_ref().is_some_and(|r| *r == e.key().row);
                if !same {
                    if let Some(r) = row.take() {
                        push_row_cells(
                            &r,
                            group.iter().map(|g| g.value().as_ref()),
                            self.snapshot,
                            &mut out,
                        );
                        group.clear();
                        if entries >= CURSOR_BATCH {
                            stopped_before = Some(r);
                            break;
                        }
                    }
                    row = Some(e.key().row.clone());
                }
                entries += 1;
                group.push(e);
            }
            if stopped_before.is_none()
                && let Some(r) = row
            {
                push_row_cells(
                    &r,
                    group.iter().map(|g| g.value().as_ref()),
                    self.snapshot,
                    &mut out,
                );
            }
        }
        match stopped_before {
            Some(r) => self.next_from = Bound::Excluded(row_end(r)),
            None => self.done = true,
        }
        self.buf = out.into_iter();
    }
}

impl Iterator for MemTableCursor {
    type Item = InternalCell;
    fn next(&mut self) -> Option<InternalCell> {
        loop {
            if let Some(c) = self.buf.next() {
                return Some(c);
            }
            if self.done {
                return None;
            }
            self.refill();
        }
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

    fn row_cells(row: &str, cells: &[(&str, &str, i64, &str)]) -> RowCells {
        RowCells {
            row: Bytes::copy_from_slice(row.as_bytes()),
            cells: cells
                .iter()
                .map(|(f, q, ts, v)| {
                    (
                        CellKind::Put,
                        Arc::from(*f),
                        Bytes::copy_from_slice(q.as_bytes()),
                        *ts,
                        Bytes::copy_from_slice(v.as_bytes()),
                    )
                })
                .collect(),
        }
    }

    /// (row, family, qualifier, ts, seq) of each cell.
    fn coords(cells: &[InternalCell]) -> Vec<(String, String, String, i64, u64)> {
        cells
            .iter()
            .map(|c| {
                (
                    String::from_utf8_lossy(&c.row).into_owned(),
                    c.family.to_string(),
                    String::from_utf8_lossy(&c.qualifier).into_owned(),
                    c.ts,
                    c.seq,
                )
            })
            .collect()
    }

    /// A row written by several calls is several entries; every reader (get, cursor, flush)
    /// returns the cells of all of them merged in the one internal order, and each call's
    /// cells keep the numbers of their place in the call.
    #[test]
    fn rows_written_several_times_read_back_merged_in_cell_order() {
        let m = Arc::new(MemTable::new());
        // Mutation order is not cell order: the entry sorts its cells.
        m.insert_row(
            row_cells(
                "r",
                &[("b", "y", 1, "1"), ("a", "z", 1, "2"), ("a", "x", 1, "3")],
            ),
            10,
        );
        m.insert_row(row_cells("q", &[("a", "x", 1, "4")]), 13);
        m.insert_row(
            row_cells("r", &[("a", "x", 1, "5"), ("a", "y", 2, "6")]),
            20,
        );
        m.insert_row(row_cells("s", &[("a", "x", 1, "7")]), 22);
        let mut want: Vec<InternalCell> = Vec::new();
        for (row, f, q, ts, seq) in [
            ("q", "a", "x", 1, 13),
            ("r", "a", "x", 1, 20),
            ("r", "a", "x", 1, 12),
            ("r", "a", "y", 2, 21),
            ("r", "a", "z", 1, 11),
            ("r", "b", "y", 1, 10),
            ("s", "a", "x", 1, 22),
        ] {
            want.push(InternalCell {
                row: Bytes::copy_from_slice(row.as_bytes()),
                family: Arc::from(f),
                kind: CellKind::Put,
                qualifier: Bytes::copy_from_slice(q.as_bytes()),
                ts,
                seq,
                value: Bytes::new(),
            });
        }
        assert!(
            want.windows(2).all(|w| w[0] < w[1]),
            "the expectation is sorted"
        );
        let all: Vec<_> = MemTableCursor::new(m.clone(), Bound::Unbounded, u64::MAX).collect();
        assert_eq!(coords(&all), coords(&want));
        assert_eq!(&all[1].value[..], b"5");
        let mut flushed = Vec::new();
        m.try_for_each(|c| {
            flushed.push(InternalCell {
                row: Bytes::copy_from_slice(c.row),
                family: Arc::from(c.family),
                kind: c.kind,
                qualifier: Bytes::copy_from_slice(c.qualifier),
                ts: c.ts,
                seq: c.seq,
                value: Bytes::copy_from_slice(c.value),
            });
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(coords(&flushed), coords(&want));
        let mut row = Vec::new();
        m.get_row(b"r", u64::MAX, &mut row);
        assert_eq!(coords(&row), coords(&want[1..6]));
        // The snapshot hides the later call's cells.
        let mut old = Vec::new();
        m.get_row(b"r", 19, &mut old);
        assert_eq!(
            old.iter().map(|c| c.seq).collect::<Vec<_>>(),
            vec![12, 11, 10]
        );
        let snap: Vec<_> = MemTableCursor::new(m.clone(), Bound::Excluded(b"q"), 19).collect();
        assert_eq!(
            snap.iter().map(|c| c.seq).collect::<Vec<_>>(),
            vec![12, 11, 10]
        );
        assert_eq!((m.min_seq(), m.max_seq(), m.len()), (10, 22, 7));
        assert_eq!(m.row_before(b"r").as_deref(), Some(&b"q"[..]));
        assert_eq!(m.row_before(b"s").as_deref(), Some(&b"r"[..]));
        assert_eq!(m.last_row().as_deref(), Some(&b"s"[..]));
    }

    /// A cursor batch ends only at a row boundary: a row of many entries is never split
    /// between two batches (whose cells would then be out of order).
    #[test]
    fn cursor_batches_never_split_a_row_of_many_entries() {
        let m = Arc::new(MemTable::new());
        let mut seq = 1;
        for round in 0..3 {
            for r in 0..100 {
                m.insert_row(
                    row_cells(&format!("r{r:03}"), &[("f", &format!("q{round}"), 1, "v")]),
                    seq,
                );
                seq += 1;
            }
        }
        let all: Vec<_> = MemTableCursor::new(m.clone(), Bound::Unbounded, u64::MAX).collect();
        assert_eq!(all.len(), 300);
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        let mut flushed = 0;
        m.try_for_each(|_| {
            flushed += 1;
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(flushed, 300);
    }

    #[test]
    fn a_repeated_single_cell_insert_replaces_only_its_own_coordinates() {
        let m = MemTable::new();
        m.insert(put("a", "x", 1, 5));
        m.insert(put("a", "y", 1, 5));
        m.insert(InternalCell {
            value: Bytes::from_static(b"w"),
            ..put("a", "x", 1, 5)
        });
        let mut out = Vec::new();
        m.get_row(b"a", u64::MAX, &mut out);
        assert_eq!(
            out.iter()
                .map(|c| (c.qualifier.to_vec(), c.value.to_vec()))
                .collect::<Vec<_>>(),
            vec![
                (b"x".to_vec(), b"w".to_vec()),
                (b"y".to_vec(), b"v".to_vec())
            ]
        );
    }
}
