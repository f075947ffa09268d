//! Forward scans of rows that table files hold without the memtables: when no memtable has
//! a row in the rest of a scan's range, the files overlapping it are read block by block
//! with `sstable::RowWalk`, each row's cells built straight from the decoded blocks
//! (`ReadPlan::resolve_views`) instead of an `InternalCell` per cell, a heap merge and a
//! second copy into the row. Files that do not overlap each other (a bulk load's files, one
//! compacted file) are walked one after the other; files that do (flushes of the same rows
//! before compaction, at most `row_merge::MAX_MERGED_FILES` of them) are merged row by row
//! (`row_merge.rs`). The scanner (`scan.rs`) re-opens as it does for merged sources, and
//! picks again each time.
//!
//! This module must never decide visibility itself (`read.rs` does) nor read a file other
//! than those it was opened with.

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use crate::cell::{InternalCell, SeqNo};
use crate::error::Result;
use crate::read::ReadPlan;
use crate::row::{BorrowedCell, Cell};
use crate::scratch::recycle;
use crate::sstable::{FamilyCells, RowWalk};
use crate::version::{FileHandle, TableVersion};

use super::row_merge::{MAX_MERGED_FILES, RowMerge};
use super::{memtable_rows, overlapping_files};

/// The files of one scan on one version, walked in key order.
pub(crate) struct FileScan {
    pub(super) version: Arc<TableVersion>,
    pub(super) opened: Instant,
    pub(super) rows: u64,
    /// Files not walked yet, in key order.
    files: VecDeque<Arc<FileHandle>>,
    /// Instead of `files`: overlapping files, merged row by row (`row_merge.rs`).
    merge: Option<RowMerge>,
    walk: Option<RowWalk>,
    start: Bound<Vec<u8>>,
    stop: Bound<Vec<u8>>,
    families: Vec<Arc<str>>,
    snapshot: SeqNo,
    scratch: Scratch,
}

/// Per-row buffers of a file scan, kept from row to row (empty between rows).
#[derive(Default)]
struct Scratch {
    /// The entries of a family that is not one put per column.
    entries: Vec<InternalCell>,
    /// Lending: the cells of the families resolved as entries, and which family's they
    /// are (its place in the row, first and past-last cell).
    owned: Vec<Cell>,
    spans: Vec<(usize, usize, usize)>,
    /// Lending: the row's lent cells (no element kept across rows; see `scratch.rs`).
    lent: Vec<BorrowedCell<'static>>,
}

impl FileScan {
    /// A walk (or a row merge) of `v`'s files over `[start, stop]` if no memtable holds a
    /// row there and they are few enough to merge row by row (see the module comment);
    /// `None` when the rows must be merged cell by cell.
    pub(crate) fn open(
        v: Arc<TableVersion>,
        plan: &ReadPlan,
        snapshot: SeqNo,
        start: &Bound<Vec<u8>>,
        stop: &Bound<Vec<u8>>,
    ) -> Option<FileScan> {
        if memtable_rows(&v, start, stop).next().is_some() {
            return None;
        }
        // In the version's order: the source order of equal entries, for the merge.
        let in_version: Vec<Arc<FileHandle>> =
            overlapping_files(&v, start, stop).cloned().collect();
        let mut files = in_version.clone();
        files.sort_by(|a, b| a.meta.smallest_row.cmp(&b.meta.smallest_row));
        let disjoint = files
            .windows(2)
            .all(|w| matches!(w, [a, b] if a.meta.largest_row < b.meta.smallest_row));
        let merge = if disjoint {
            None
        } else if in_version.len() <= MAX_MERGED_FILES {
            files.clear();
            Some(RowMerge::new(in_version, plan, snapshot, start, stop))
        } else {
            return None;
        };
        Some(FileScan {
            version: v,
            opened: Instant::now(),
            rows: 0,
            files: files.into(),
            merge,
            walk: None,
            start: start.clone(),
            stop: stop.clone(),
            families: plan.family_names(),
            snapshot,
            scratch: Scratch::default(),
        })
    }

    /// The next row with a cell in the scan's families: its key and visible cells (which may
    /// be none); `None` after the last file.
    pub(crate) fn next_row(&mut self, plan: &ReadPlan) -> Result<Option<(Bytes, Vec<Cell>)>> {
        if let Some(m) = self.merge.as_mut() {
            let row = m.next_row(plan)?;
            self.rows += u64::from(row.is_some());
            return Ok(row);
        }
        self.next_walked(|key, families, scratch| {
            let mut cells = Vec::with_capacity(families.iter().map(|f| f.cells.len()).sum());
            for fc in families {
                if !plan.resolve_views(fc, &mut cells) {
                    plan.resolve_family_entries(fc, &mut scratch.entries, &mut cells);
                }
            }
            (key, cells)
        })
    }

    /// [`FileScan::next_row`] lending the row to `f` instead of building it: cells borrowed
    /// from the decoded blocks (a family with delete markers, or rows merged from
    /// overlapping files, are resolved into owned cells first and lent from those). `f` is
    /// taken and called only for a row with visible cells; returns the row's key and `f`'s
    /// answer (`None`: the row had no visible cell), `None` after the last file.
    pub(crate) fn next_row_borrowed<T, F>(
        &mut self,
        plan: &ReadPlan,
        f: &mut Option<F>,
    ) -> Result<Option<(Bytes, Option<T>)>>
    where
        F: FnOnce(&[u8], &[BorrowedCell<'_>]) -> T,
    {
        if let Some(m) = self.merge.as_mut() {
            let row = m.next_row(plan)?;
            self.rows += u64::from(row.is_some());
            return Ok(row.map(|(key, cells)| {
                let out = lend_owned(&key, &cells, f);
                (key, out)
            }));
        }
        self.next_walked(|key, families, scratch| {
            // Families the put-only rule cannot answer are resolved (into owned cells)
            // before any cell is lent: lent cells must not move.
            for (i, fc) in families.iter().enumerate() {
                if !ReadPlan::views_are_puts(fc) {
                    let from = scratch.owned.len();
                    plan.resolve_family_entries(fc, &mut scratch.entries, &mut scratch.owned);
                    scratch.spans.push((i, from, scratch.owned.len()));
                }
            }
            let mut cells: Vec<BorrowedCell<'_>> = recycle(std::mem::take(&mut scratch.lent));
            let mut spans = scratch.spans.iter().peekable();
            for (i, fc) in families.iter().enumerate() {
                match spans.next_if(|s| s.0 == i) {
                    Some(&(_, from, to)) => cells.extend(
                        scratch
                            .owned
                            .get(from..to)
                            .unwrap_or_default()
                            .iter()
                            .map(Cell::borrowed),
                    ),
                    None => {
                        plan.lend_views(fc, &mut cells);
                    }
                }
            }
            let out = if cells.is_empty() {
                None
            } else {
                f.take().map(|f| f(&key, &cells))
            };
            scratch.lent = recycle(cells);
            // Emptied between rows: owned cells would pin their blocks.
            scratch.owned.clear();
            scratch.spans.clear();
            (key, out)
        })
    }

    /// The next row of the walked files (opening each file's walk in turn), handed to `row`
    /// with the scan's scratch; `None` after the last file.
    fn next_walked<T>(
        &mut self,
        mut row: impl FnMut(Bytes, &[FamilyCells<'_>], &mut Scratch) -> T,
    ) -> Result<Option<T>> {
        loop {
            if self.walk.is_none() {
                let Some(file) = self.files.pop_front() else {
                    return Ok(None);
                };
                let walk = file.reader.walk_rows(
                    self.start.as_ref().map(Vec::as_slice),
                    self.stop.as_ref().map(Vec::as_slice),
                    &self.families,
                    self.snapshot,
                )?;
                self.walk = Some(walk.with_keys());
            }
            let Some(walk) = self.walk.as_mut() else {
                continue;
            };
            let scratch = &mut self.scratch;
            match walk.next_row(|key, families| row(key, families, scratch))? {
                Some(r) => {
                    self.rows += 1;
                    return Ok(Some(r));
                }
                None => self.walk = None,
            }
        }
    }
}

/// Lend an owned row's cells to `f` (taken) if it has any: `None` if not.
pub(crate) fn lend_owned<T, F>(key: &[u8], cells: &[Cell], f: &mut Option<F>) -> Option<T>
where
    F: FnOnce(&[u8], &[BorrowedCell<'_>]) -> T,
{
    if cells.is_empty() {
        return None;
    }
    let lent: Vec<BorrowedCell<'_>> = cells.iter().map(Cell::borrowed).collect();
    f.take().map(|f| f(key, &lent))
}
