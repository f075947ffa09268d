//! `RowWalk`: one table file's cells of some families for a range of rows, handed out row
//! by row as borrowed views of the decoded family blocks: for counting passes that need
//! neither row keys nor owned cells (the aggregations' fast path), and, with keys, for
//! scans (`scan/file_walk.rs`, and `scan/row_merge.rs`, which stands several walks on their
//! rows at once with `advance` and reads them with `push_views`). Where a `TableIter`
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

use crate::cell::{CellKind, InternalCell, SeqNo, Timestamp};
use crate::error::Result;
use crate::scratch::recycle;

use bytes::Bytes;

use super::family_block::{BlockCursor, CellMeta, FamilyBlock};
use super::key_block::KeyList;
use super::reader::TableReader;
use super::table_file::TableFile;

/// One cell of a row, borrowed from its decoded block.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CellView<'a> {
    pub kind: CellKind,
    pub qualifier: &'a [u8],
    pub value: &'a [u8],
    pub ts: Timestamp,
    pub seq: SeqNo,
    block: &'a FamilyBlock,
    meta: CellMeta,
    /// The row key (empty unless the walk reads keys or the row has a value derived from
    /// its key).
    key: &'a Bytes,
}

impl CellView<'_> {
    /// The qualifier as a shared buffer (no copy).
    pub fn qualifier_bytes(&self) -> Bytes {
        self.block.qualifier(&self.meta)
    }

    /// The value as a shared slice of the block or of the row key (no copy).
    pub fn value_bytes(&self) -> Bytes {
        // Checked against the key when the view was made: this cannot fail.
        self.block.value(&self.meta, self.key).unwrap_or_default()
    }

    /// The cell as an owned entry of row `row` and family `family` (its qualifier and
    /// value shared with the block, not copied), for the rules that work on entries.
    pub fn entry(&self, row: Bytes, family: Arc<str>) -> InternalCell {
        InternalCell {
            row,
            family,
            kind: self.kind,
            qualifier: self.qualifier_bytes(),
            ts: self.ts,
            seq: self.seq,
            value: self.value_bytes(),
        }
    }
}

impl FamilyCells<'_> {
    /// Whether the cells are only puts, one per column (internal order sorts a column's
    /// versions together, so one per column means no two neighbours share a qualifier):
    /// then each is its column's only version and `visibility::sole_put_visible` decides it.
    pub fn one_put_per_column(&self) -> bool {
        self.cells.iter().all(|c| c.kind == CellKind::Put)
            && self.cells.windows(2).all(|w| match w {
                // Cells of one block share their qualifier's bytes: equal pointers are the
                // common case of a second version, and different lengths of two columns.
                [a, b] => {
                    a.qualifier.as_ptr() != b.qualifier.as_ptr()
                        && (a.qualifier.len() != b.qualifier.len() || a.qualifier != b.qualifier)
                }
                _ => true,
            })
    }
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
            let Some(b) = file.scan_block(self.family, &mut self.next_block, &mut self.loaded)?
            else {
                return Ok(None);
            };
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

    /// The gathered row's cells as views of their blocks, onto `out`: a value derived from
    /// the row key is taken from `key` (`with_key` false: the caller never reads it, and it is
    /// handed out empty).
    fn push_views<'a>(
        &'a self,
        file: &TableFile,
        global: Option<SeqNo>,
        key: &'a Bytes,
        with_key: bool,
        out: &mut Vec<CellView<'a>>,
    ) -> Result<()> {
        for (at, meta) in &self.row {
            let Some(block) = self.block_of(*at) else {
                continue;
            };
            let value = if !with_key && block.has_derived() && block.is_derived(meta) {
                &[][..]
            } else {
                block.value_slice(meta, key).map_err(|e| {
                    let name = file
                        .families
                        .get(self.family)
                        .map_or("?", |f| &*f.meta.props.name);
                    file.derived_corruption(block, name, meta.ordinal, e)
                })?
            };
            out.push(CellView {
                kind: meta.kind,
                qualifier: block.qualifier_slice(meta),
                value,
                ts: meta.ts,
                seq: global.unwrap_or(meta.seq),
                block,
                meta: *meta,
                key,
            });
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
    /// Whether rows are handed out with their keys, and the key block they come from.
    keys: bool,
    /// Per family of the walk (its place in the list the walk was opened with), the only
    /// qualifiers whose values the caller reads, when it said so (`None`: every one).
    read_only: Option<Vec<Vec<Vec<u8>>>>,
    key_block: Option<KeyList>,
    key_blocks_loaded: u32,
    /// The current row's key when it was read (for `keys`, or for a value derived from
    /// it), and whether it was.
    row_key: Bytes,
    row_with_key: bool,
    /// Per-row scratch (empty between rows).
    views: Vec<CellView<'static>>,
    groups: Vec<(usize, usize, usize)>,
    lists: Vec<FamilyCells<'static>>,
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
            keys: false,
            read_only: None,
            key_block: None,
            key_blocks_loaded: 0,
            row_key: Bytes::new(),
            row_with_key: false,
            views: Vec::new(),
            groups: Vec::new(),
            lists: Vec::new(),
        })
    }
}

impl RowWalk {
    /// Also read each row's key (from the key blocks), for [`RowWalk::next_row`]'s callback.
    pub fn with_keys(mut self) -> RowWalk {
        self.keys = true;
        self
    }

    /// Values will be read only of these qualifiers (per family of the walk, in the order it
    /// was opened with): a row's key is then read for a value derived from it only when
    /// the value is one of these, and the other derived values are handed out empty (the
    /// aggregation's counting pass, which reads only its grouping and sum columns' values).
    pub fn reading_only(mut self, qualifiers: Vec<Vec<Vec<u8>>>) -> RowWalk {
        self.read_only = Some(qualifiers);
        self
    }

    /// The key of row `ordinal` from the current key block, loading it when needed.
    fn load_key(&mut self, ordinal: u64) -> Result<()> {
        if let Some(b) = &self.key_block
            && ordinal >= b.first_ordinal
            && ordinal - b.first_ordinal < b.len() as u64
        {
            return Ok(());
        }
        self.key_block = Some(self.file.scan_keys(ordinal, &mut self.key_blocks_loaded)?);
        Ok(())
    }

    /// Move to the next row of the walk with a cell in its families (at the snapshot) and
    /// gather its cells, which stay readable through [`RowWalk::push_views`] until the next
    /// call; returns its ordinal and key (a shared slice of the key block; empty unless the
    /// walk was made [`RowWalk::with_keys`]), `None` at the walk's end.
    pub fn advance(&mut self) -> Result<Option<(u64, Bytes)>> {
        loop {
            let mut ordinal: Option<u64> = None;
            for c in &mut self.fams {
                if let Some(o) = c.peek(&self.file)? {
                    ordinal = Some(ordinal.map_or(o, |n| n.min(o)));
                }
            }
            let Some(ordinal) = ordinal.filter(|o| *o < self.end) else {
                for c in &mut self.fams {
                    c.row.clear();
                    c.held.clear();
                }
                return Ok(None);
            };
            for c in &mut self.fams {
                c.gather(&self.file, ordinal, self.snapshot, self.global_seq)?;
            }
            if self.fams.iter().all(|c| c.row.is_empty()) {
                continue;
            }
            // A value derived from the row key needs the key even when the caller does not
            // (unless the caller never reads it).
            let read_only = &self.read_only;
            let reads = |slot: usize, b: &FamilyBlock, meta: &CellMeta| {
                read_only.as_ref().is_none_or(|r| {
                    r.get(slot)
                        .is_some_and(|qs| qs.iter().any(|q| q[..] == *b.qualifier_slice(meta)))
                })
            };
            let derived = || {
                self.fams.iter().any(|c| {
                    c.row.iter().any(|(at, meta)| {
                        c.block_of(*at).is_some_and(|b| {
                            b.has_derived() && b.is_derived(meta) && reads(c.slot, b, meta)
                        })
                    })
                })
            };
            let with_key = self.keys || derived();
            let key = if with_key {
                self.load_key(ordinal)?;
                self.key_block
                    .as_ref()
                    .map(|b| b.key_bytes((ordinal - b.first_ordinal) as usize))
                    .unwrap_or_default()
            } else {
                Bytes::new()
            };
            self.row_key = key.clone();
            self.row_with_key = with_key;
            return Ok(Some((ordinal, if self.keys { key } else { Bytes::new() })));
        }
    }

    /// The cells the row gathered by the last [`RowWalk::advance`] has in family `slot` (its
    /// place in the list the walk was opened with), in internal order, onto `out`.
    pub fn push_views<'a>(&'a self, slot: usize, out: &mut Vec<CellView<'a>>) -> Result<()> {
        match self.fams.iter().find(|c| c.slot == slot) {
            Some(c) => c.push_views(
                &self.file,
                self.global_seq,
                &self.row_key,
                self.row_with_key,
                out,
            ),
            None => Ok(()),
        }
    }

    /// The next row of the walk with a cell in its families (at the snapshot), handed to
    /// `f` with its key (see [`RowWalk::advance`]) and its cells; `None` at the walk's end.
    pub fn next_row<T>(
        &mut self,
        f: impl FnOnce(Bytes, &[FamilyCells<'_>]) -> T,
    ) -> Result<Option<T>> {
        let Some((_, key)) = self.advance()? else {
            return Ok(None);
        };
        // Scratch reused from row to row, emptied before the blocks it borrows change.
        let mut v: Vec<CellView<'_>> = recycle(std::mem::take(&mut self.views));
        let mut groups = std::mem::take(&mut self.groups);
        groups.clear();
        for c in &self.fams {
            let from = v.len();
            if let Err(e) = c.push_views(
                &self.file,
                self.global_seq,
                &self.row_key,
                self.row_with_key,
                &mut v,
            ) {
                self.views = recycle(v);
                self.groups = groups;
                return Err(e);
            }
            if v.len() > from {
                groups.push((c.slot, from, v.len()));
            }
        }
        let mut l: Vec<FamilyCells<'_>> = recycle(std::mem::take(&mut self.lists));
        l.extend(groups.iter().filter_map(|&(family, from, to)| {
            Some(FamilyCells {
                family,
                cells: v.get(from..to)?,
            })
        }));
        let out = f(key, &l);
        self.lists = recycle(l);
        self.views = recycle(v);
        self.groups = groups;
        Ok(Some(out))
    }

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
        while let Some(r) = self.next_row(|_, cells| each(cells))? {
            r?;
        }
        Ok(())
    }
}
