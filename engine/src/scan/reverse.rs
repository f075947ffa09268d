//! Reverse scans: the rows of a scan's key range in descending key order, with no backwards
//! iterator in any layer (memtable, SSTable blocks, merge). The range is walked downward in
//! windows. Each window `[lo, high)` is read by an ordinary forward [`RowScanner`] at the scan's
//! snapshot (so visibility, column selection, versions and time ranges are the forward scan's
//! by construction), its rows are buffered and handed out last first, then the next window
//! below is read.
//!
//! Window boundaries come from indexes already in memory, never from reading data: for every
//! table file overlapping the range, the key index's last row keys (a window spans at most
//! [`Windows::blocks`] key blocks of each file); for every memtable, the row keys found by a
//! skiplist search down from `high` (at most [`Windows::memtable_rows`] rows of each). The
//! window's low end is the highest of these cuts, so no source contributes more than its
//! share. Memory is bounded however the data falls: a window keeps at most
//! [`Windows::bytes`] of rows (a single larger row is still one row, whole: the server cuts it
//! into `Row.partial` parts in forward cell order); when the forward read of a window passes
//! that, its lowest rows are let go and the next window ends just below the lowest row kept
//! (they are read again then).
//!
//! `release` drops the buffered rows (they share memtable and block memory) and the next read
//! starts again at the highest row not yet returned; the snapshot stays registered, so the
//! rows are the same. This module must never decide visibility or read a source itself: it
//! only chooses windows and orders rows.

use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::RowScanner;
use crate::error::{Error, Result};
use crate::read::ReadPlan;
use crate::row::{Row, ScanOptions};
use crate::snapshots::Snapshot;
use crate::table::Table;
use crate::version::TableVersion;

/// How large a reverse scan's windows may grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Windows {
    /// Key blocks of each table file a window spans at most.
    pub blocks: usize,
    /// Rows of each memtable a window spans at most.
    pub memtable_rows: usize,
    /// Bytes of rows (keys, qualifiers, values and a per-cell overhead) a window keeps at
    /// most, beyond its single highest row.
    pub bytes: usize,
}

impl Default for Windows {
    fn default() -> Self {
        Windows {
            blocks: 2,
            memtable_rows: 256,
            bytes: 4 << 20,
        }
    }
}

/// Bytes a buffered row is counted for.
fn row_bytes(row: &Row) -> usize {
    const ROW_OVERHEAD: usize = 48;
    const CELL_OVERHEAD: usize = 64;
    ROW_OVERHEAD
        + row.key.len()
        + row
            .cells
            .iter()
            .map(|c| CELL_OVERHEAD + c.qualifier.len() + c.value.len())
            .sum::<usize>()
}

/// A lower bound as an ordered value: `None` (unbounded) lowest; at one key, inclusive
/// before exclusive.
fn low_key(b: &Bound<Vec<u8>>) -> Option<(&[u8], bool)> {
    match b {
        Bound::Unbounded => None,
        Bound::Included(k) => Some((k, false)),
        Bound::Excluded(k) => Some((k, true)),
    }
}

/// The upper bound just below lower bound `lo` (the next window's high end); `None` for an
/// unbounded `lo`.
fn below(lo: &Bound<Vec<u8>>) -> Option<Bound<Vec<u8>>> {
    match lo {
        Bound::Unbounded => None,
        Bound::Included(k) => Some(Bound::Excluded(k.clone())),
        Bound::Excluded(k) => Some(Bound::Included(k.clone())),
    }
}

/// Whether a window cut at `lo` makes progress below `high`: the next window's high end
/// (`below(lo)`) is lower than `high`.
fn cuts_below(lo: &Bound<Vec<u8>>, high: &Bound<Vec<u8>>) -> bool {
    match (lo, high) {
        (Bound::Unbounded, _) => false,
        (_, Bound::Unbounded) => true,
        (Bound::Included(a), Bound::Included(h)) => a <= h,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(h) | Bound::Excluded(h)) => a < h,
    }
}

/// The reverse half of a [`RowScanner`].
pub(crate) struct ReverseScan {
    table: Arc<Table>,
    plan: ReadPlan,
    snapshot: Snapshot,
    /// The scan's low end.
    low: Bound<Vec<u8>>,
    /// The high end of the rows not read yet (`None`: every window was read).
    high: Option<Bound<Vec<u8>>>,
    /// The current window's rows not returned yet, ascending (returned from the back).
    buffer: Vec<Row>,
    /// At most this many rows (0: no limit).
    limit: u64,
    returned: u64,
    windows: Windows,
    /// Windows read so far.
    windows_read: u64,
    done: bool,
}

impl ReverseScan {
    /// A reverse scan of `table` within `low..high` (the scan's effective bounds).
    pub(super) fn new(
        table: Arc<Table>,
        plan: ReadPlan,
        snapshot: Snapshot,
        low: Bound<Vec<u8>>,
        high: Bound<Vec<u8>>,
        opts: &ScanOptions,
    ) -> ReverseScan {
        ReverseScan {
            table,
            plan,
            snapshot,
            low,
            high: Some(high),
            buffer: Vec::new(),
            limit: opts.limit,
            returned: 0,
            windows: Windows::default(),
            windows_read: 0,
            done: false,
        }
    }

    pub(super) fn set_windows(&mut self, w: Windows) {
        self.windows = Windows {
            blocks: w.blocks.max(1),
            memtable_rows: w.memtable_rows.max(1),
            bytes: w.bytes,
        };
    }

    pub(super) fn windows_read(&self) -> u64 {
        self.windows_read
    }

    /// Drop the buffered rows; the next read starts again at the highest row not returned.
    pub(super) fn release(&mut self) {
        if let Some(top) = self.buffer.last() {
            self.high = Some(Bound::Included(top.key.clone()));
        }
        self.buffer = Vec::new();
    }

    /// The low end of the next window below `high` on version `v`: the highest cut of any
    /// source, or `None` when no source has more than a window's share below `high`.
    fn plan_low(&self, v: &TableVersion, high: &Bound<Vec<u8>>) -> Option<Bound<Vec<u8>>> {
        let mut cuts: Vec<Bound<Vec<u8>>> = Vec::new();
        for m in std::iter::once(&v.active).chain(v.immutables.iter()) {
            let mut from: Option<Bytes> = match high {
                Bound::Unbounded => m.last_row(),
                Bound::Excluded(h) => m.row_before(h),
                Bound::Included(h) => {
                    let mut past = h.clone();
                    past.push(0);
                    m.row_before(&past)
                }
            };
            let mut n = 1;
            while n < self.windows.memtable_rows {
                let Some(r) = from.as_ref().and_then(|r| m.row_before(r)) else {
                    from = None;
                    break;
                };
                from = Some(r);
                n += 1;
            }
            if let Some(r) = from {
                cuts.push(Bound::Included(r.to_vec()));
            }
        }
        for f in &v.files {
            if !super::range_overlaps(&self.low, high, &f.meta.smallest_row, &f.meta.largest_row) {
                continue;
            }
            let r = &f.reader;
            let c = r.key_blocks_below(match high {
                Bound::Unbounded => Bound::Unbounded,
                Bound::Included(h) => Bound::Included(h.as_slice()),
                Bound::Excluded(h) => Bound::Excluded(h.as_slice()),
            });
            if let Some(k) = c
                .checked_sub(self.windows.blocks)
                .and_then(|i| r.key_block_last_key(i))
            {
                cuts.push(Bound::Excluded(k.to_vec()));
            }
        }
        cuts.into_iter()
            .filter(|lo| cuts_below(lo, high))
            .max_by(|a, b| low_key(a).cmp(&low_key(b)))
    }

    /// Read the next window below `high` into the buffer.
    fn fill(&mut self, high: Bound<Vec<u8>>) -> Result<()> {
        // A dropped table's current version is empty: fail rather than end early.
        if self.table.dropped.load(Ordering::Acquire) {
            return Err(Error::TableNotFound(self.table.name.clone()));
        }
        let v = self.table.version.load_full();
        let (lo, last) = match self.plan_low(&v, &high) {
            Some(cut) if low_key(&cut) > low_key(&self.low) => (cut, false),
            _ => (self.low.clone(), true),
        };
        drop(v);
        let opts = ScanOptions {
            start: lo.clone(),
            stop: high,
            ..ScanOptions::default()
        };
        let scanner = RowScanner::new(
            self.table.clone(),
            self.plan.clone(),
            self.snapshot.again(),
            &opts,
        )?;
        self.windows_read += 1;
        let mut kept: std::collections::VecDeque<(Row, usize)> = std::collections::VecDeque::new();
        let mut bytes = 0usize;
        let mut dropped_low = false;
        for row in scanner {
            let row = row?;
            let n = row_bytes(&row);
            bytes += n;
            kept.push_back((row, n));
            while bytes > self.windows.bytes && kept.len() > 1 {
                if let Some((_, n)) = kept.pop_front() {
                    bytes -= n;
                    dropped_low = true;
                }
            }
        }
        self.high = match kept.front() {
            Some((lowest, _)) if dropped_low => Some(Bound::Excluded(lowest.key.clone())),
            _ if last => None,
            _ => below(&lo),
        };
        self.buffer = kept.into_iter().map(|(r, _)| r).collect();
        Ok(())
    }

    pub(super) fn next(&mut self) -> Option<Result<Row>> {
        while !self.done {
            if self.limit > 0 && self.returned >= self.limit {
                break;
            }
            if let Some(row) = self.buffer.pop() {
                self.returned += 1;
                return Some(Ok(row));
            }
            let Some(high) = self.high.take() else {
                break;
            };
            if let Err(e) = self.fill(high) {
                self.done = true;
                self.buffer = Vec::new();
                return Some(Err(e));
            }
        }
        self.done = true;
        self.buffer = Vec::new();
        None
    }
}
