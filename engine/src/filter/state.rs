//! Running a filter over rows: [`FilterState`] drives one scan's (or one get's) filter the way
//! HBase's region and store scanners drive theirs, one row at a time, and [`FilteredRows`]
//! puts it in front of any row iterator.
//!
//! Per row: end the scan if the filter says nothing more can pass; skip the row if its key is
//! rejected; present its cells in order (family, qualifier, newest first), skipping what the
//! cell codes skip (the column's older versions, the rest of the family, up to a seek hint) and
//! keeping at most `max_versions` included versions per column; drop the row if no cell is
//! left or the filter rejects it; then reset the filter for the next row. This file must never
//! read storage: rows come in already resolved.

use std::sync::Arc;

use bytes::Bytes;

use super::Filter;
use super::code::Code;
use super::node::Node;
use crate::row::{Cell, Row};

/// How one read runs its filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvalOptions {
    /// Versions per column to return after the filter (HBase applies the request's version
    /// count to the cells the filter keeps, so read rows with every version the families keep
    /// and pass the request's count here). 0 is treated as 1.
    pub max_versions: u32,
    /// Rows arrive in descending key order (a reverse scan).
    pub reversed: bool,
}

impl Default for EvalOptions {
    /// No version cap beyond what the rows hold; forward order.
    fn default() -> Self {
        EvalOptions {
            max_versions: u32::MAX,
            reversed: false,
        }
    }
}

/// What the filter makes of one row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterDecision {
    /// Return this row (its cells filtered and transformed).
    Include(Row),
    /// Leave this row out and go on.
    Skip,
    /// Leave this row out and end the scan: no later row can pass.
    StopScan,
}

/// One read's filter state. Build one per scan (or get) and give it every row in scan order.
pub struct FilterState {
    root: Node,
    max_versions: usize,
    finished: bool,
}

/// What the cell loop skips after a code.
enum Skipping {
    Nothing,
    Column(Arc<str>, Bytes),
    Family(Arc<str>),
    Before(Arc<str>, Vec<u8>),
}

impl Skipping {
    fn covers(&self, c: &Cell) -> bool {
        match self {
            Skipping::Nothing => false,
            Skipping::Column(f, q) => c.family == *f && c.qualifier == *q,
            Skipping::Family(f) => c.family == *f,
            Skipping::Before(f, q) => c.family == *f && c.qualifier.as_ref() < q.as_slice(),
        }
    }
}

impl FilterState {
    /// Fresh state for `filter`.
    pub fn new(filter: &Filter, options: EvalOptions) -> FilterState {
        FilterState {
            root: Node::build(filter.expr(), filter.time_unit(), options.reversed),
            max_versions: usize::try_from(options.max_versions.max(1)).unwrap_or(usize::MAX),
            finished: false,
        }
    }

    /// Whether the scan is over: every later [`FilterState::apply`] answers `StopScan`, so a
    /// caller should stop reading rows.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Filter the next row of the scan.
    pub fn apply(&mut self, row: Row) -> FilterDecision {
        if self.finished || self.root.filter_all_remaining() {
            self.finished = true;
            return FilterDecision::StopScan;
        }
        if self.root.filter_row_key(&row.key) {
            self.root.reset();
            if self.root.filter_all_remaining() {
                self.finished = true;
                return FilterDecision::StopScan;
            }
            return FilterDecision::Skip;
        }
        let Row { key, cells } = row;
        let mut kept = Vec::with_capacity(cells.len());
        self.filter_cells(cells, &mut kept);
        if self.root.filter_all_remaining() {
            // HBase's store scanners see this at the next row's first cell and stop, even for
            // a filter (ColumnCountGetFilter) that would pass again after the reset.
            self.finished = true;
        }
        self.root.filter_row_cells(&mut kept);
        // HBase asks filter_row only about a row with cells left.
        let dropped = kept.is_empty() || self.root.filter_row();
        self.root.reset();
        if self.root.filter_all_remaining() {
            self.finished = true;
        }
        match (dropped, self.finished) {
            (false, _) => FilterDecision::Include(Row { key, cells: kept }),
            (true, false) => FilterDecision::Skip,
            (true, true) => FilterDecision::StopScan,
        }
    }

    fn filter_cells(&mut self, cells: Vec<Cell>, kept: &mut Vec<Cell>) {
        let mut skipping = Skipping::Nothing;
        // The column of the last included cell and how many of its versions were included.
        let mut counted: Option<(Arc<str>, Bytes)> = None;
        let mut versions = 0usize;
        for cell in cells {
            if skipping.covers(&cell) {
                continue;
            }
            if self.root.filter_all_remaining() {
                // HBase's store scanners end the whole scan here, not just the row.
                self.finished = true;
                return;
            }
            let code = self.root.filter_cell(&cell);
            skipping = match code {
                Code::Include | Code::Skip => Skipping::Nothing,
                Code::IncludeAndNextCol | Code::NextCol => {
                    Skipping::Column(cell.family.clone(), cell.qualifier.clone())
                }
                Code::IncludeAndSeekNextRow | Code::NextRow => {
                    Skipping::Family(cell.family.clone())
                }
                Code::SeekNextUsingHint => match self.root.next_cell_hint() {
                    Some(q) => Skipping::Before(cell.family.clone(), q.to_vec()),
                    None => Skipping::Nothing,
                },
            };
            if !code.includes() {
                continue;
            }
            let same = counted
                .as_ref()
                .is_some_and(|(f, q)| *f == cell.family && *q == cell.qualifier);
            if !same {
                counted = Some((cell.family.clone(), cell.qualifier.clone()));
                versions = 0;
            }
            versions += 1;
            if versions > self.max_versions {
                if code != Code::IncludeAndSeekNextRow {
                    skipping = Skipping::Column(cell.family.clone(), cell.qualifier.clone());
                }
                continue;
            }
            kept.push(self.root.transform_cell(cell));
        }
    }
}

/// Filter one row read by a Get: the row as returned, or `None` when the filter drops it.
pub fn filter_row(filter: &Filter, row: Row, options: EvalOptions) -> Option<Row> {
    match FilterState::new(filter, options).apply(row) {
        FilterDecision::Include(r) => Some(r),
        FilterDecision::Skip | FilterDecision::StopScan => None,
    }
}

/// A row iterator with a filter in front: yields the rows the filter keeps, stops when it ends
/// the scan (without reading further rows), and passes errors through.
pub struct FilteredRows<I> {
    rows: I,
    state: FilterState,
}

impl<I> FilteredRows<I> {
    /// Filter `rows` with `state`.
    pub fn new(rows: I, state: FilterState) -> Self {
        FilteredRows { rows, state }
    }

    /// The filter's state (to ask whether it ended the scan).
    pub fn state(&self) -> &FilterState {
        &self.state
    }

    /// Give the inner iterator back.
    pub fn into_inner(self) -> I {
        self.rows
    }
}

impl<I, E> Iterator for FilteredRows<I>
where
    I: Iterator<Item = Result<Row, E>>,
{
    type Item = Result<Row, E>;

    fn next(&mut self) -> Option<Result<Row, E>> {
        loop {
            if self.state.is_finished() {
                return None;
            }
            match self.rows.next()? {
                Err(e) => return Some(Err(e)),
                Ok(row) => match self.state.apply(row) {
                    FilterDecision::Include(r) => return Some(Ok(r)),
                    FilterDecision::Skip => {}
                    FilterDecision::StopScan => return None,
                },
            }
        }
    }
}
