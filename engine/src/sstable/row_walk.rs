//! `RowWalk`: one table file's cells of some families for a range of rows, handed out row
//! by row as borrowed views of the decoded family blocks, for counting passes that need
//! neither row keys nor owned cells (the aggregations' fast path). Where a `TableIter`
//! builds an `InternalCell` per cell (a shared buffer handle each for the row, family,
//! qualifier and value, then a merge heap), a walk decodes the stream positions and lends
//! slices: the row range is turned into ordinals once through the key index, and rows are
//! matched across families by ordinal.
//!
//! A row whose cells of one family continue into the next block (a wide row: blocks are cut
//! at their size even inside a row) keeps the earlier block alive until the row is handed
//! out, so every view of a row stays valid during the call that receives it.
//!
//! This module must never hand out a cell of a block that failed its checks (it returns the
//! error naming the file and block), nor a cell newer than the walk's snapshot, and never
//! decides visibility: callers apply `visibility.rs`.

#![warn(clippy::indexing_slicing)]

use std::ops::Bound;
use std::sync::Arc;

use crate::cell::{CellKind, SeqNo, Timestamp};
use crate::error::Result;
use crate::scratch::recycle;

use super::family_block::{BlockCursor, CellMeta, FamilyBlock};
use super::reader::TableReader;
use super::table_file::{SCAN_FILL_BLOCKS, TableFile};

/// One cell of a row, borrowed from its decoded block.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CellView<'a> {
    pub kind: CellKind,
    pub qualifier: &'a [u8],
    pub value: &'a [u8],
    pub ts: Timestamp,
    pub seq: SeqNo,
}

/// The cells one row has in one family of the walk, in internal order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FamilyCells<'a> {
    /// Position of the family in the list the walk was opened with.
    pub family: usize,
    pub cells: &'a [CellView<'a>],
}

/// Where a gathered cell's block is: the cursor's current block, or one the row began in.
const CURRENT_BLOCK: u32 = u32::MAX;

struct WalkCursor {
    /// Position in the walk's family list.
    slot: usize,
    /// Index of the family in the file.
    family: usize,
    next_block: usize,
    block: Option<Arc<FamilyBlock>>,
    cursor: BlockCursor,
    cur: Option<CellMeta>,
    /// Cells of lower ordinals are before the walk's first row.
    min_ordinal: u64,
    loaded: u32,
    /// The current row's cells: (block, cell), the block `CURRENT_BLOCK` or an index into
    /// `held`.
    row: Vec<(u32, CellMeta)>,
    /// Blocks the current row began in before its cells went on into `block`.
    held: Vec<Arc<FamilyBlock>>,
}

impl WalkCursor {
    /// The next cell's ordinal, loading blocks as needed; `None` at the family's end. A
    /// block left while the current row has cells in it moves to `held`.
    fn peek(&mut self, file: &TableFile) -> Result<Option<u64>> {
        loop {
            if let Some(c) = &self.cur {
                return Ok(Some(c.ordinal));
            }
            if let Some(b) = &self.block
                && let Some(c) = self.cursor.next_cell(b)
            {
                self.cur = Some(c);
                return Ok(Some(c.ordinal));
            }
            let blocks = file
                .families
                .get(self.family)
                .map_or(0, |f| f.meta.index.len());
            if self.next_block >= blocks {
                return Ok(None);
            }
            let fill = self.loaded < SCAN_FILL_BLOCKS;
            self.loaded = self.loaded.saturating_add(1);
            let b = file.family_block(self.family, self.next_block, fill)?;
            self.next_block += 1;
            // Every later block starts at or after the walk's first row.
            self.cursor = b.seek(self.min_ordinal);
            if let Some(old) = self.block.replace(b)
                && self.row.iter().any(|(at, _)| *at == CURRENT_BLOCK)
            {
                let at = u32::try_from(self.held.len()).unwrap_or(CURRENT_BLOCK - 1);
                self.held.push(old);
                for (blk, _) in &mut self.row {
                    if *blk == CURRENT_BLOCK {
                        *blk = at;
                    }
                }
            }
        }
    }

    /// Gather this family's cells of row `ordinal` (skipping those newer than `snapshot`).
    fn gather(
        &mut self,
        file: &TableFile,
        ordinal: u64,
        snapshot: SeqNo,
        global: Option<SeqNo>,
    ) -> Result<()> {
        self.row.clear();
        self.held.clear();
        while self.peek(file)? == Some(ordinal) {
            if let Some(c) = self.cur.take()
                && global.unwrap_or(c.seq) <= snapshot
            {
                self.row.push((CURRENT_BLOCK, c));
            }
        }
        Ok(())
    }

    fn block_of(&self, at: u32) -> Option<&FamilyBlock> {
        if at == CURRENT_BLOCK {
            self.block.as_deref()
        } else {
            self.held.get(at as usize).map(|b| &**b)
        }
    }
}

/// A walk over one file's rows (see the module comment).
pub(crate) struct RowWalk {
    file: Arc<TableFile>,
    global_seq: Option<SeqNo>,
    snapshot: SeqNo,
    fams: Vec<WalkCursor>,
    /// The ordinal of the first row past the walk (the cursors start at its first row).
    end: u64,
}

impl TableReader {
    /// A walk over the rows of `[start, stop]` (as the bounds say) in `families` (names;
    /// those the file does not hold are skipped), seeing cells up to `snapshot`.
    pub(crate) fn walk_rows(
        &self,
        start: Bound<&[u8]>,
        stop: Bound<&[u8]>,
        families: &[Arc<str>],
        snapshot: SeqNo,
    ) -> Result<RowWalk> {
        let file = self.file();
        let next = file.seek_ordinal(start)?;
        // The first row past the stop: the first row at the bound's key (excluded) or after.
        let end = match stop {
            Bound::Unbounded => file.props.rows,
            Bound::Excluded(k) => file.seek_ordinal(Bound::Included(k))?,
            Bound::Included(k) => file.seek_ordinal(Bound::Excluded(k))?,
        };
        let fams = families
            .iter()
            .enumerate()
            .filter_map(|(slot, name)| {
                let family = file
                    .families
                    .iter()
                    .position(|f| f.meta.props.name == *name)?;
                let meta = &file.families.get(family)?.meta;
                Some(WalkCursor {
                    slot,
                    family,
                    next_block: meta.index.partition_point(|e| e.last_ordinal < next),
                    block: None,
                    cursor: BlockCursor::default(),
                    cur: None,
                    min_ordinal: next,
                    loaded: 0,
                    row: Vec::new(),
                    held: Vec::new(),
                })
            })
            .collect();
        Ok(RowWalk {
            file: file.clone(),
            global_seq: self.global_seq(),
            snapshot,
            fams,
            end,
        })
    }
}

impl RowWalk {
    /// Hand every row of the walk to `each`, in order, as the cells it has in the walk's
    /// families (rows with no cell there are not seen); stops at the first error, its own
    /// or `each`'s.
    pub fn for_each_row<E>(
        &mut self,
        mut each: impl FnMut(&[FamilyCells<'_>]) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E>
    where
        E: From<crate::error::Error>,
    {
        // Scratch reused from row to row (emptied before the blocks it borrows can change).
        let mut views: Vec<CellView<'static>> = Vec::new();
        let mut groups: Vec<(usize, usize, usize)> = Vec::new();
        let mut lists: Vec<FamilyCells<'static>> = Vec::new();
        loop {
            let mut ordinal: Option<u64> = None;
            for f in &mut self.fams {
                if let Some(o) = f.peek(&self.file)? {
                    ordinal = Some(ordinal.map_or(o, |n| n.min(o)));
                }
            }
            let Some(ordinal) = ordinal.filter(|o| *o < self.end) else {
                return Ok(());
            };
            for f in &mut self.fams {
                f.gather(&self.file, ordinal, self.snapshot, self.global_seq)?;
            }
            let mut v: Vec<CellView<'_>> = recycle(std::mem::take(&mut views));
            groups.clear();
            for f in &self.fams {
                let from = v.len();
                for (at, c) in &f.row {
                    let Some(b) = f.block_of(*at) else { continue };
                    v.push(CellView {
                        kind: c.kind,
                        qualifier: b.qualifier_slice(c),
                        value: b.value_slice(c),
                        ts: c.ts,
                        seq: self.global_seq.unwrap_or(c.seq),
                    });
                }
                if v.len() > from {
                    groups.push((f.slot, from, v.len()));
                }
            }
            let mut l: Vec<FamilyCells<'_>> = recycle(std::mem::take(&mut lists));
            l.extend(groups.iter().filter_map(|&(family, from, to)| {
                Some(FamilyCells {
                    family,
                    cells: v.get(from..to)?,
                })
            }));
            let result = if l.is_empty() { Ok(()) } else { each(&l) };
            lists = recycle(l);
            views = recycle(v);
            result?;
        }
    }
}
