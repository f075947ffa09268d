//! Forward scans of rows that several overlapping table files hold, with no memtable row in
//! the range (the files three flushes of the same keys leave before compaction): a
//! row-at-a-time merge of one `sstable::RowWalk` per file. Each walk stands on its next row
//! (key and cells, borrowed from its decoded blocks); the merge takes the smallest row key
//! (one key comparison per row per file, not a comparison of whole cells through a heap),
//! and builds that row's cells family by family: the cells of a family one file alone holds
//! are resolved as the file walk resolves them; those several files hold are first put in
//! internal order (`cell::compare_within_family`, a stable sort of the files' sorted runs,
//! so equal entries stay in file order as `MergeIter` keeps them) and then resolved the
//! same way. Nothing becomes an `InternalCell` unless the family has delete markers.
//!
//! This module must never decide visibility (`read.rs` and `visibility.rs` do), never order
//! cells by a rule of its own (`cell.rs` owns the order), and never read a file other than
//! those it was opened with, nor rows a memtable holds (`file_walk.rs` only opens it when
//! none does).

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;

use crate::cell::{InternalCell, SeqNo, compare_within_family};
use crate::error::Result;
use crate::read::ReadPlan;
use crate::row::Cell;
use crate::scratch::recycle;
use crate::sstable::{CellView, FamilyCells, RowWalk};
use crate::version::FileHandle;

/// Most overlapping files merged row by row; a scan over more goes through `MergeIter`,
/// whose heap finds the smallest of many sources in log(k) comparisons, not k.
pub(crate) const MAX_MERGED_FILES: usize = 16;

/// The rows of overlapping files, merged (see the module comment).
pub(crate) struct RowMerge {
    /// The files, in the version's order (the source order of equal entries).
    files: Vec<Arc<FileHandle>>,
    /// One walk per file, opened at the first row read.
    walks: Vec<RowWalk>,
    /// The key of the row each walk stands on (`None`: the walk has ended).
    heads: Vec<Option<Bytes>>,
    started: bool,
    start: Bound<Vec<u8>>,
    stop: Bound<Vec<u8>>,
    families: Vec<Arc<str>>,
    snapshot: SeqNo,
    /// Per-row scratch (empty between rows): the walks holding the row, one family's cells.
    holders: Vec<usize>,
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
            walks: Vec::new(),
            heads: Vec::new(),
            started: false,
            start: start.clone(),
            stop: stop.clone(),
            families: plan.family_names(),
            snapshot,
            holders: Vec::new(),
            views: Vec::new(),
            entries: Vec::new(),
        }
    }

    /// Open every file's walk and stand it on its first row.
    fn open_walks(&mut self) -> Result<()> {
        for file in &self.files {
            let mut walk = file
                .reader
                .walk_rows(
                    self.start.as_ref().map(Vec::as_slice),
                    self.stop.as_ref().map(Vec::as_slice),
                    &self.families,
                    self.snapshot,
                )?
                .with_keys();
            self.heads.push(walk.advance()?.map(|(_, key)| key));
            self.walks.push(walk);
        }
        Ok(())
    }

    /// The next row with a cell in the scan's families: its key and visible cells (which may
    /// be none); `None` after the last row of every file.
    pub(crate) fn next_row(&mut self, plan: &ReadPlan) -> Result<Option<(Bytes, Vec<Cell>)>> {
        if !self.started {
            self.started = true;
            self.open_walks()?;
        }
        let mut smallest: Option<&Bytes> = None;
        for key in self.heads.iter().flatten() {
            if smallest.is_none_or(|s| key < s) {
                smallest = Some(key);
            }
        }
        let Some(key) = smallest.cloned() else {
            return Ok(None);
        };
        self.holders.clear();
        self.holders.extend(
            self.heads
                .iter()
                .enumerate()
                .filter(|(_, h)| h.as_ref() == Some(&key))
                .map(|(i, _)| i),
        );
        let mut cells = Vec::new();
        // Scratch reused from row to row, emptied before the blocks it borrows change.
        let mut views: Vec<CellView<'_>> = recycle(std::mem::take(&mut self.views));
        for slot in 0..self.families.len() {
            views.clear();
            let mut files_with = 0;
            for walk in self.holders.iter().filter_map(|&i| self.walks.get(i)) {
                let before = views.len();
                walk.push_views(slot, &mut views)?;
                files_with += usize::from(views.len() > before);
            }
            if views.is_empty() {
                continue;
            }
            if files_with > 1 {
                // Each file's run is sorted: the stable sort merges the runs.
                views.sort_by(|a, b| {
                    compare_within_family(
                        (a.kind, a.qualifier, a.ts, a.seq),
                        (b.kind, b.qualifier, b.ts, b.seq),
                    )
                });
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
        for &i in &self.holders {
            if let (Some(walk), Some(head)) = (self.walks.get_mut(i), self.heads.get_mut(i)) {
                *head = walk.advance()?.map(|(_, key)| key);
            }
        }
        Ok(Some((key, cells)))
    }
}
