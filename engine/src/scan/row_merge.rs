//! Forward scans of rows that several overlapping table files hold, with no memtable row in
//! the range (the files three flushes of the same keys leave before compaction): a
//! row-at-a-time merge of one `sstable::RowWalk` per file (`sstable::WalkMerge`: the walks
//! stand on their rows and lend each family's cells in internal order, borrowed from their
//! decoded blocks). Each row's cells are resolved family by family as the file walk
//! resolves them. Nothing becomes an `InternalCell` unless the family has delete markers.
//!
//! This module must never decide visibility (`read.rs` and `visibility.rs` do), never order
//! cells by a rule of its own (`cell.rs` owns the order), and never read a file other than
//! those it was opened with, nor rows a memtable holds (`file_walk.rs` only opens it when
//! none does).

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;

use crate::cell::{InternalCell, SeqNo};
use crate::error::Result;
use crate::read::ReadPlan;
use crate::row::Cell;
use crate::scratch::recycle;
use crate::sstable::{CellView, FamilyCells, WalkMerge};
use crate::version::FileHandle;

/// Most overlapping files merged row by row (each holds a decoded block per family while
/// it walks); a scan over more goes through `MergeIter`.
pub(crate) const MAX_MERGED_FILES: usize = 16;

/// The rows of overlapping files, merged (see the module comment).
pub(crate) struct RowMerge {
    /// The files, in the version's order (the source order of equal entries).
    files: Vec<Arc<FileHandle>>,
    /// Their walks, merged; opened at the first row read.
    merge: Option<WalkMerge>,
    start: Bound<Vec<u8>>,
    stop: Bound<Vec<u8>>,
    families: Vec<Arc<str>>,
    snapshot: SeqNo,
    /// Per-row scratch (empty between rows): one family's cells.
    views: Vec<CellView<'static>>,
    /// The entries of a family with delete markers (reused).
    entries: Vec<InternalCell>,
}

impl RowMerge {
    /// A merge of `files` (in the version's order) over `[start, stop]` at `snapshot`.
    pub(crate) fn new(
        files: Vec<Arc<FileHandle>>,
        plan: &ReadPlan,
        snapshot: SeqNo,
        start: &Bound<Vec<u8>>,
        stop: &Bound<Vec<u8>>,
    ) -> RowMerge {
        RowMerge {
            files,
            merge: None,
            start: start.clone(),
            stop: stop.clone(),
            families: plan.family_names(),
            snapshot,
            views: Vec::new(),
            entries: Vec::new(),
        }
    }

    /// Open every file's walk, merged.
    fn open_walks(&self) -> Result<WalkMerge> {
        let mut walks = Vec::with_capacity(self.files.len());
        for file in &self.files {
            walks.push(
                file.reader
                    .walk_rows(
                        self.start.as_ref().map(Vec::as_slice),
                        self.stop.as_ref().map(Vec::as_slice),
                        &self.families,
                        self.snapshot,
                    )?
                    .with_keys(),
            );
        }
        WalkMerge::new(walks)
    }

    /// The next row with a cell in the scan's families: its key and visible cells (which may
    /// be none); `None` after the last row of every file.
    pub(crate) fn next_row(&mut self, plan: &ReadPlan) -> Result<Option<(Bytes, Vec<Cell>)>> {
        if self.merge.is_none() {
            self.merge = Some(self.open_walks()?);
        }
        let Some(merge) = self.merge.as_mut() else {
            return Ok(None);
        };
        let Some(key) = merge.next_row()? else {
            return Ok(None);
        };
        let mut cells = Vec::new();
        // Scratch reused from row to row, emptied before the blocks it borrows change.
        let mut views: Vec<CellView<'_>> = recycle(std::mem::take(&mut self.views));
        for slot in 0..self.families.len() {
            views.clear();
            merge.push_family(slot, &mut views)?;
            if views.is_empty() {
                continue;
            }
            cells.reserve(views.len());
            let fc = FamilyCells {
                family: slot,
                cells: &views,
            };
            if !plan.resolve_views(&fc, &mut cells) {
                plan.resolve_family_entries(&fc, &mut self.entries, &mut cells);
            }
        }
        self.views = recycle(views);
        Ok(Some((key, cells)))
    }
}
