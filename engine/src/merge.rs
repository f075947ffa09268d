//! `MergeIter`: the k-way merge of a read's sources (memtable cursors,
//! table file iterators) into one stream in the internal cell order (`cell.rs`); equal
//! entries come out in source order. A heap of the sources' next entries whose top is
//! replaced in place by its source's next entry (one sift down per entry, not a pop and a
//! push). Forward scans of overlapping files with no memtable row in range, and compaction,
//! merge files row by row instead (`sstable/walk_merge.rs`, docs/design/read-path.md
//! section 2); this merge serves everything else (memtables, many files, gets).
//!
//! This module must never interpret entries (visibility belongs to `visibility.rs`).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::collections::binary_heap::PeekMut;

use crate::cell::InternalCell;
use crate::error::Result;

/// A source of entries in internal order.
pub type CellSource = Box<dyn Iterator<Item = Result<InternalCell>> + Send>;

struct HeapEntry {
    cell: InternalCell,
    source: usize,
}

impl PartialEq for HeapEntry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for HeapEntry {}
impl PartialOrd for HeapEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for HeapEntry {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse so the smallest cell comes out first.
        other
            .cell
            .cmp(&self.cell)
            .then_with(|| other.source.cmp(&self.source))
    }
}

/// K-way merge of sources into one stream of entries in internal order.
pub struct MergeIter {
    sources: Vec<CellSource>,
    heap: BinaryHeap<HeapEntry>,
    started: bool,
    failed: bool,
}

impl MergeIter {
    /// Merge `sources`.
    pub fn new(sources: Vec<CellSource>) -> Self {
        MergeIter {
            sources,
            heap: BinaryHeap::new(),
            started: false,
            failed: false,
        }
    }

    fn next_of(&mut self, source: usize) -> Option<Result<InternalCell>> {
        self.sources.get_mut(source)?.next()
    }
}

impl Iterator for MergeIter {
    type Item = Result<InternalCell>;
    fn next(&mut self) -> Option<Result<InternalCell>> {
        if self.failed {
            return None;
        }
        if self.sources.len() == 1 {
            // One source: nothing to merge.
            let r = self.next_of(0);
            self.failed = matches!(r, Some(Err(_)));
            return r;
        }
        if !self.started {
            self.started = true;
            for source in 0..self.sources.len() {
                match self.next_of(source) {
                    None => {}
                    Some(Ok(cell)) => self.heap.push(HeapEntry { cell, source }),
                    Some(Err(e)) => {
                        self.failed = true;
                        return Some(Err(e));
                    }
                }
            }
        }
        let source = self.heap.peek()?.source;
        let next = self.sources.get_mut(source).and_then(Iterator::next);
        let mut top = self.heap.peek_mut()?;
        match next {
            // The source's next entry takes the top's place: one sift down, no pop and push.
            Some(Ok(cell)) => Some(Ok(std::mem::replace(&mut top.cell, cell))),
            None => Some(Ok(PeekMut::pop(top).cell)),
            Some(Err(e)) => {
                drop(top);
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::CellKind;

    fn e(q: &str, seq: u64) -> InternalCell {
        crate::cell::test_entry(CellKind::Put, "a", q, 1, seq, "")
    }

    fn source(cells: Vec<InternalCell>) -> CellSource {
        Box::new(cells.into_iter().map(Ok))
    }

    #[test]
    fn merge_interleaves_sources_in_order() {
        let mk = |seqs: &[u64]| source(seqs.iter().map(|s| e(&format!("q{s:02}"), *s)).collect());
        let m = MergeIter::new(vec![mk(&[1, 4, 7]), mk(&[2, 5]), mk(&[]), mk(&[3, 6, 8])]);
        let seqs: Vec<u64> = m.map(|c| c.unwrap().seq).collect();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn equal_entries_come_out_in_source_order_and_an_error_ends_the_merge() {
        let v = |value: &str| crate::cell::test_entry(CellKind::Put, "a", "q", 1, 1, value);
        let m = MergeIter::new(vec![source(vec![v("first")]), source(vec![v("second")])]);
        let values: Vec<_> = m.map(|c| c.unwrap().value).collect();
        assert_eq!(values, vec!["first", "second"]);

        let bad: CellSource = Box::new(
            vec![
                Ok(e("x", 1)),
                Err(crate::error::Error::InvalidArgument("broken".into())),
                Ok(e("z", 3)),
            ]
            .into_iter(),
        );
        let mut m = MergeIter::new(vec![source(vec![e("w", 0)]), bad, source(vec![e("y", 2)])]);
        assert_eq!(m.next().unwrap().unwrap().seq, 0);
        // Taking "x" pulls its source's next entry, the error: it comes instead, then nothing.
        assert!(m.next().unwrap().is_err());
        assert!(m.next().is_none());
    }
}
