//! `MergeIter`: the k-way merge of a read's or a compaction's sources (memtable cursors,
//! table file iterators) into one stream in the internal cell order (`cell.rs`); equal
//! entries come out in source order.
//!
//! This module must never interpret entries (visibility belongs to `visibility.rs`).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

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

/// K-way merge of sources into one stream in internal order.
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

    fn pull(&mut self, source: usize) -> Result<()> {
        if let Some(next) = self.sources[source].next() {
            self.heap.push(HeapEntry {
                cell: next?,
                source,
            });
        }
        Ok(())
    }
}

impl Iterator for MergeIter {
    type Item = Result<InternalCell>;
    fn next(&mut self) -> Option<Result<InternalCell>> {
        if self.failed {
            return None;
        }
        if !self.started {
            self.started = true;
            if self.sources.len() == 1 {
                // One source: nothing to merge.
                let r = self.sources[0].next();
                self.failed = matches!(r, Some(Err(_)));
                return r;
            }
            for s in 0..self.sources.len() {
                if let Err(e) = self.pull(s) {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        if self.sources.len() == 1 {
            let r = self.sources[0].next();
            self.failed = matches!(r, Some(Err(_)));
            return r;
        }
        let top = self.heap.pop()?;
        if let Err(e) = self.pull(top.source) {
            self.failed = true;
            return Some(Err(e));
        }
        Some(Ok(top.cell))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::CellKind;

    fn e(q: &str, seq: u64) -> InternalCell {
        crate::cell::test_entry(CellKind::Put, "a", q, 1, seq, "")
    }

    #[test]
    fn merge_interleaves_sources_in_order() {
        let mk = |seqs: &[u64]| -> CellSource {
            let v: Vec<Result<InternalCell>> = seqs
                .iter()
                .map(|s| Ok(e(&format!("q{s:02}"), *s)))
                .collect();
            Box::new(v.into_iter())
        };
        let m = MergeIter::new(vec![mk(&[1, 4, 7]), mk(&[2, 5]), mk(&[]), mk(&[3, 6, 8])]);
        let seqs: Vec<u64> = m.map(|c| c.unwrap().seq).collect();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6, 7, 8]);
    }
}
