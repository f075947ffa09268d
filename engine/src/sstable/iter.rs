//! `TableIter`: one table file's cells in internal order from a start row, for the selected
//! families: one cursor per family over its blocks, merged by row ordinal, with the row key
//! taken from the key blocks (a shared slice, not a copy).
//!
//! This module must never return a cell of a block that failed its checks: it yields the
//! error once and ends.

#![warn(clippy::indexing_slicing)]

use std::sync::Arc;

use bytes::Bytes;

use crate::cell::InternalCell;
use crate::error::Result;

use super::family_block::{BlockCursor, CellMeta, FamilyBlock};
use super::key_block::KeyList;

use super::table_file::TableFile;

pub(super) struct FamCursor {
    pub(super) family: usize,
    pub(super) name: Arc<str>,
    pub(super) next_block: usize,
    pub(super) block: Option<Arc<FamilyBlock>>,
    /// Position in `block` after `cur`.
    pub(super) cursor: BlockCursor,
    /// The next cell (decoded, not yet emitted).
    pub(super) cur: Option<CellMeta>,
    /// Cells of lower ordinals are before the iterator's start.
    pub(super) min_ordinal: u64,
    /// Blocks loaded so far (the first few fill the cache).
    pub(super) loaded: u32,
}

impl FamCursor {
    /// The next cell's ordinal, loading blocks as needed; `None` at the family's end.
    #[inline]
    fn peek(&mut self, inner: &TableFile) -> Result<Option<u64>> {
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
            let Some(b) = inner.scan_block(self.family, &mut self.next_block, &mut self.loaded)?
            else {
                self.block = None;
                return Ok(None);
            };
            self.cursor = b.seek(self.min_ordinal);
            self.block = Some(b);
        }
    }
}

/// Iterates an SSTable's cells in internal order. Yields at most one error, then ends.
pub struct TableIter {
    pub(super) inner: Arc<TableFile>,
    /// The sequence number every cell reports (an ingested file), if any.
    pub(super) global_seq: Option<crate::cell::SeqNo>,
    pub(super) fams: Vec<FamCursor>,
    pub(super) key_block: Option<KeyList>,
    pub(super) key_blocks_loaded: u32,
    /// Ordinal and key of the row being emitted.
    pub(super) cur: Option<(u64, Bytes)>,
    pub(super) fam_pos: usize,
    pub(super) done: bool,
}

impl std::fmt::Debug for TableIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableIter")
            .field("path", &self.inner.path)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl TableIter {
    fn row_key(&mut self, ordinal: u64) -> Result<Bytes> {
        if let Some(b) = &self.key_block
            && ordinal >= b.first_ordinal
            && ordinal - b.first_ordinal < b.len() as u64
        {
            return Ok(b.key_bytes((ordinal - b.first_ordinal) as usize));
        }
        let list = self.inner.scan_keys(ordinal, &mut self.key_blocks_loaded)?;
        let key = list.key_bytes((ordinal - list.first_ordinal) as usize);
        self.key_block = Some(list);
        Ok(key)
    }

    fn advance(&mut self) -> Result<Option<InternalCell>> {
        loop {
            if let Some((ordinal, row)) = &self.cur {
                while let Some(f) = self.fams.get_mut(self.fam_pos) {
                    if f.peek(&self.inner)? == Some(*ordinal)
                        && let Some(b) = &f.block
                        && let Some(c) = f.cur.take()
                    {
                        let value = b
                            .value(&c, row)
                            .map_err(|e| self.inner.derived_corruption(b, &f.name, c.ordinal, e))?;
                        let cell = InternalCell {
                            row: row.clone(),
                            family: f.name.clone(),
                            kind: c.kind,
                            qualifier: b.qualifier(&c),
                            ts: c.ts,
                            seq: self.global_seq.unwrap_or(c.seq),
                            value,
                        };
                        return Ok(Some(cell));
                    }
                    self.fam_pos += 1;
                }
                self.cur = None;
            }
            let mut next: Option<u64> = None;
            for f in &mut self.fams {
                if let Some(o) = f.peek(&self.inner)? {
                    next = Some(next.map_or(o, |n| n.min(o)));
                }
            }
            let Some(ordinal) = next else {
                return Ok(None);
            };
            let row = self.row_key(ordinal)?;
            self.cur = Some((ordinal, row));
            self.fam_pos = 0;
        }
    }
}

impl Iterator for TableIter {
    type Item = Result<InternalCell>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.advance() {
            Ok(Some(c)) => Some(Ok(c)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
