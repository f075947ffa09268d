//! What reads return and how they are shaped: rows, cells, column selection, time ranges,
//! version limits, scan bounds.

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;

use crate::cell::Timestamp;

/// One visible version of one column. The byte fields share the engine's buffers (no copy
/// per cell on the read path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    /// Family.
    pub family: Arc<str>,
    /// Qualifier.
    pub qualifier: Bytes,
    /// Version timestamp (microseconds).
    pub timestamp: Timestamp,
    /// Value.
    pub value: Bytes,
}

/// One visible version of one column, lent for the length of one call
/// ([`crate::RowScanner::next_borrowed`]): the bytes are the engine's own (a decoded block's
/// or the row the scanner built), so lending a cell takes no reference count and copies
/// nothing. Copy what must outlive the call, or use the owned [`Cell`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BorrowedCell<'a> {
    /// Family.
    pub family: &'a str,
    /// Qualifier.
    pub qualifier: &'a [u8],
    /// Version timestamp (microseconds).
    pub timestamp: Timestamp,
    /// Value.
    pub value: &'a [u8],
}

impl Cell {
    /// The cell lent as a [`BorrowedCell`].
    pub fn borrowed(&self) -> BorrowedCell<'_> {
        BorrowedCell {
            family: &self.family,
            qualifier: &self.qualifier,
            timestamp: self.timestamp,
            value: &self.value,
        }
    }
}

/// A row as a read returns it: cells sorted by family, qualifier, newest timestamp first.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Row {
    /// Row key.
    pub key: Vec<u8>,
    /// Visible cells.
    pub cells: Vec<Cell>,
}

/// Selects a whole family (`qualifier: None`) or one column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnSelector {
    /// Family.
    pub family: String,
    /// Qualifier, or `None` for the whole family.
    pub qualifier: Option<Vec<u8>>,
}

/// `[start, end)` in microseconds; `end` of `None` is unbounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TimeRange {
    /// Inclusive start.
    pub start: Timestamp,
    /// Exclusive end, or `None` for no upper bound.
    pub end: Option<Timestamp>,
}

impl TimeRange {
    /// Whether `ts` falls inside the range.
    #[inline]
    pub fn contains(&self, ts: Timestamp) -> bool {
        ts >= self.start && self.end.is_none_or(|e| ts < e)
    }
}

/// Shapes a Get or a Scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    /// Columns to return; empty means every family.
    pub columns: Vec<ColumnSelector>,
    /// Versions per column (at least 1; capped by each family's `max_versions`).
    pub max_versions: u32,
    /// Only versions in this range.
    pub time_range: TimeRange,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            columns: Vec::new(),
            max_versions: 1,
            time_range: TimeRange::default(),
        }
    }
}

/// Bounds and shape of a scan. `start` and `stop` are always the low and the high end of the
/// key range, whatever the direction: a reverse scan reads the same rows as the forward scan
/// of the same options, in descending key order (so the client's "start row" of an HBase
/// reversed scan is this `stop`, made inclusive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanOptions {
    /// Low end: first row (inclusive or exclusive) or unbounded.
    pub start: Bound<Vec<u8>>,
    /// High end (exclusive or inclusive) or unbounded.
    pub stop: Bound<Vec<u8>>,
    /// Only rows starting with this prefix (intersected with start/stop).
    pub prefix: Vec<u8>,
    /// Column selection, versions, time range.
    pub read: ReadOptions,
    /// At most this many rows; 0 for no limit.
    pub limit: u64,
    /// Rows in descending key order (the limit counts from the high end).
    pub reverse: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            start: Bound::Unbounded,
            stop: Bound::Unbounded,
            prefix: Vec::new(),
            read: ReadOptions::default(),
            limit: 0,
            reverse: false,
        }
    }
}
