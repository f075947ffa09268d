//! `WalkMerge`: the rows of several table files merged row by row, one `RowWalk` per file,
//! for readers of overlapping files that want borrowed cells rather than owned ones: the
//! scan of rows no memtable holds (`scan/row_merge.rs`) and compaction (`compaction/run.rs`).
//! Each walk stands on its next row; a heap of the walks' row keys finds the smallest (one
//! key comparison per row and walk, log k of them, not a comparison of whole cells), and
//! the walks holding that row lend its cells family by family. A family several files hold
//! is put in internal order by a stable sort of the files' sorted runs
//! (`cell::compare_within_family`), so equal entries stay in file order, as `MergeIter`
//! keeps them.
//!
//! A row's cells stay readable until the next call to [`WalkMerge::next_row`], which first
//! moves the walks that held it.
//!
//! This module must never decide what a cell means (visibility and GC are the callers'),
//! nor order cells by a rule of its own (`cell.rs` owns the order).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use bytes::Bytes;

use super::row_walk::{CellView, RowWalk};
use crate::cell::compare_within_family;
use crate::error::Result;

/// Several files' walks, merged by row (see the module comment).
pub(crate) struct WalkMerge {
    /// One walk per file, in the order of the files (the order of equal entries); each
    /// must read keys (`RowWalk::with_keys`).
    walks: Vec<RowWalk>,
    /// The row key each walk not yet ended stands on, smallest first (ties: file order).
    heads: BinaryHeap<Reverse<(Bytes, usize)>>,
    /// The walks holding the current row, in file order.
    holders: Vec<usize>,
}

impl WalkMerge {
    /// A merge of `walks` (in file order, each made `with_keys`), each stood on its first
    /// row.
    pub fn new(mut walks: Vec<RowWalk>) -> Result<WalkMerge> {
        let mut heads = BinaryHeap::with_capacity(walks.len());
        for (i, walk) in walks.iter_mut().enumerate() {
            if let Some((_, key)) = walk.advance()? {
                heads.push(Reverse((key, i)));
            }
        }
        Ok(WalkMerge {
            walks,
            heads,
            holders: Vec::new(),
        })
    }

    /// Move past the current row (if any) to the next one of any walk: its key, `None`
    /// after the last row of every walk.
    pub fn next_row(&mut self) -> Result<Option<Bytes>> {
        for &i in &self.holders {
            if let Some(walk) = self.walks.get_mut(i)
                && let Some((_, key)) = walk.advance()?
            {
                self.heads.push(Reverse((key, i)));
            }
        }
        self.holders.clear();
        let Some(Reverse((key, first))) = self.heads.pop() else {
            return Ok(None);
        };
        self.holders.push(first);
        while let Some(Reverse((next, _))) = self.heads.peek()
            && *next == key
        {
            if let Some(Reverse((_, i))) = self.heads.pop() {
                self.holders.push(i);
            }
        }
        Ok(Some(key))
    }

    /// The current row's cells in family `slot` (its place in the family list the walks
    /// were opened with), in internal order, onto `out`.
    pub fn push_family<'a>(&'a self, slot: usize, out: &mut Vec<CellView<'a>>) -> Result<()> {
        let start = out.len();
        let mut files_with = 0;
        for walk in self.holders.iter().filter_map(|&i| self.walks.get(i)) {
            let before = out.len();
            walk.push_views(slot, out)?;
            files_with += usize::from(out.len() > before);
        }
        if files_with > 1 {
            // Each file's run is sorted: the stable sort merges the runs.
            out.get_mut(start..).unwrap_or_default().sort_by(|a, b| {
                compare_within_family(
                    (a.kind, a.qualifier, a.ts, a.seq),
                    (b.kind, b.qualifier, b.ts, b.seq),
                )
            });
        }
        Ok(())
    }
}
