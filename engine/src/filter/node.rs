//! One filter's per-scan state and its answers to HBase's filter protocol, one method per
//! `org.apache.hadoop.hbase.filter.Filter` call: `filter_row_key` (skip a row by its key),
//! `filter_cell` (a [`Code`] per cell), `transform_cell`, `filter_row_cells`, `filter_row`
//! (drop the row after its cells), `filter_all_remaining` (end the scan), `reset` (between rows)
//! and `next_cell_hint` (where a seek lands). The driver in `state.rs` calls them as HBase's
//! region and store scanners do; this file holds what each filter answers, written from HBase
//! 2's behaviour (its quirks included, documented in `mod.rs`).
//!
//! This file must never decide row order, version limits or what a scan returns: that is the
//! driver's.

use std::cmp::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use super::ast::{ColumnValueTest, CompareOp};
use super::code::Code;
use super::comparator::Comparator;
use crate::row::Cell;

/// An OR member and what HBase's `FilterListWithOR` remembers about it within a row.
pub(crate) struct OrMember {
    pub(super) node: Node,
    /// The member's last code and cell when that code skips more than the cell.
    pub(super) prev: Option<(Code, Arc<str>, Bytes)>,
    /// Whether the member included the current cell (so its transform applies).
    pub(super) included: bool,
}

/// A filter with its per-scan state.
pub(crate) enum Node {
    KeyOnly {
        len_as_value: bool,
    },
    FirstKeyOnly {
        found: bool,
    },
    Prefix {
        prefix: Vec<u8>,
        reversed: bool,
        passed: bool,
        filter_row: bool,
    },
    ColumnPrefix {
        prefix: Vec<u8>,
    },
    MultipleColumnPrefix {
        sorted: Vec<Vec<u8>>,
        hint: Option<usize>,
    },
    ColumnCountGet {
        limit: u64,
        count: u64,
    },
    Page {
        size: u64,
        accepted: u64,
    },
    InclusiveStop {
        stop: Vec<u8>,
        reversed: bool,
        done: bool,
    },
    /// Inclusive microsecond ranges, sorted; `min` is the lowest start.
    Timestamps {
        ranges: Vec<(i64, i64)>,
        min: i64,
    },
    Row {
        op: CompareOp,
        cmp: Comparator,
        filter_out: bool,
    },
    Family {
        op: CompareOp,
        cmp: Comparator,
    },
    Qualifier {
        op: CompareOp,
        cmp: Comparator,
    },
    Value {
        op: CompareOp,
        cmp: Comparator,
    },
    ColumnRange {
        min: Option<Vec<u8>>,
        min_inclusive: bool,
        max: Option<Vec<u8>>,
        max_inclusive: bool,
    },
    ColumnValue {
        test: Box<ColumnValueTest>,
        exclude: bool,
        found: bool,
        matched: bool,
    },
    And {
        members: Vec<Node>,
        hinted: Vec<usize>,
    },
    Or {
        members: Vec<OrMember>,
    },
    Skip {
        inner: Box<Node>,
        filter_row: bool,
    },
    While {
        inner: Box<Node>,
        done: bool,
    },
}

fn matching_column(cell: &Cell, family: &[u8], qualifier: &[u8]) -> bool {
    cell.family.as_bytes() == family && cell.qualifier.as_ref() == qualifier
}

impl Node {
    /// Whether to skip the row with this key without looking at its cells.
    pub(crate) fn filter_row_key(&mut self, key: &[u8]) -> bool {
        match self {
            Node::Prefix {
                prefix,
                reversed,
                passed,
                filter_row,
            } => {
                if *passed || key.len() < prefix.len() {
                    return true;
                }
                let cmp = key[..prefix.len()].cmp(prefix);
                let beyond = if *reversed {
                    Ordering::Less
                } else {
                    Ordering::Greater
                };
                if cmp == beyond {
                    *passed = true;
                }
                *filter_row = cmp != Ordering::Equal;
                *filter_row
            }
            Node::InclusiveStop {
                stop,
                reversed,
                done,
            } => {
                if !*done {
                    let beyond = if *reversed {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    };
                    *done = key.cmp(stop) == beyond;
                }
                *done
            }
            Node::Page { .. } | Node::ColumnCountGet { .. } => self.filter_all_remaining(),
            Node::Row {
                op,
                cmp,
                filter_out,
            } => {
                if !op.passes(cmp.compare(key)) {
                    *filter_out = true;
                }
                *filter_out
            }
            Node::And { members, .. } => {
                // Every member sees the key (PrefixFilter notes row changes here).
                let mut skip = false;
                for m in members {
                    if m.filter_all_remaining() || m.filter_row_key(key) {
                        skip = true;
                    }
                }
                skip
            }
            Node::Or { members } => {
                let mut skip = true;
                for m in members {
                    if !m.node.filter_all_remaining() && !m.node.filter_row_key(key) {
                        skip = false;
                    }
                }
                skip
            }
            Node::While { inner, done } => {
                if *done || inner.filter_all_remaining() {
                    return true;
                }
                let skip = inner.filter_row_key(key);
                *done |= skip;
                skip
            }
            // SkipFilter does not pass the key on (HBase's does not either).
            _ => false,
        }
    }

    /// The code for one cell.
    pub(crate) fn filter_cell(&mut self, cell: &Cell) -> Code {
        match self {
            Node::KeyOnly { .. } | Node::Page { .. } => Code::Include,
            Node::FirstKeyOnly { found } => {
                if *found {
                    return Code::NextRow;
                }
                *found = true;
                Code::Include
            }
            Node::Prefix { filter_row, .. } => row_code(*filter_row),
            Node::InclusiveStop { done, .. } => row_code(*done),
            Node::Row { filter_out, .. } => row_code(*filter_out),
            Node::ColumnPrefix { prefix } => column_prefix(&cell.qualifier, prefix),
            Node::MultipleColumnPrefix { sorted, hint } => {
                let q = cell.qualifier.as_ref();
                // A matching prefix is one of q's own prefixes: one lookup per length, not a
                // pass over every prefix.
                let matches = (0..=q.len()).any(|n| {
                    sorted
                        .binary_search_by(|p| p.as_slice().cmp(&q[..n]))
                        .is_ok()
                });
                if matches {
                    return Code::Include;
                }
                // No qualifier between this one and the next larger prefix can match.
                let next = sorted.partition_point(|p| p.as_slice() <= q);
                *hint = (next < sorted.len()).then_some(next);
                if hint.is_some() {
                    Code::SeekNextUsingHint
                } else {
                    Code::NextRow
                }
            }
            Node::ColumnCountGet { limit, count } => {
                *count += 1;
                if *count > *limit {
                    Code::NextCol
                } else {
                    Code::IncludeAndNextCol
                }
            }
            Node::Timestamps { ranges, min } => {
                let ts = cell.timestamp;
                let i = ranges.partition_point(|r| r.0 <= ts);
                if i > 0 && ranges[i - 1].1 >= ts {
                    Code::Include
                } else if ts < *min {
                    // Older versions of the column are older still.
                    Code::NextCol
                } else {
                    Code::Skip
                }
            }
            Node::Family { op, cmp } => {
                if op.passes(cmp.compare(cell.family.as_bytes())) {
                    Code::Include
                } else {
                    Code::NextRow
                }
            }
            Node::Qualifier { op, cmp } => pass_or_skip(op.passes(cmp.compare(&cell.qualifier))),
            Node::Value { op, cmp } => pass_or_skip(op.passes(cmp.compare(&cell.value))),
            Node::ColumnRange {
                min,
                min_inclusive,
                max,
                max_inclusive,
            } => {
                let q = cell.qualifier.as_ref();
                let cmp_min = min.as_deref().map_or(Ordering::Greater, |m| q.cmp(m));
                if cmp_min == Ordering::Less {
                    return Code::SeekNextUsingHint;
                }
                if !*min_inclusive && cmp_min == Ordering::Equal {
                    return Code::NextCol;
                }
                match max.as_deref().map(|m| q.cmp(m)) {
                    None | Some(Ordering::Less) => Code::Include,
                    Some(Ordering::Equal) if *max_inclusive => Code::Include,
                    _ => Code::NextRow,
                }
            }
            Node::ColumnValue {
                test,
                found,
                matched,
                ..
            } => {
                if *matched {
                    return Code::Include;
                }
                if test.latest_version_only && *found {
                    return Code::NextRow;
                }
                if !matching_column(cell, &test.family, &test.qualifier) {
                    return Code::Include;
                }
                *found = true;
                if !test.op.passes(test.comparator.compare(&cell.value)) {
                    return if test.latest_version_only {
                        Code::NextRow
                    } else {
                        Code::Include
                    };
                }
                *matched = true;
                Code::Include
            }
            Node::And { members, hinted } => {
                hinted.clear();
                let mut rc = Code::Include;
                for (i, m) in members.iter_mut().enumerate() {
                    if m.filter_all_remaining() {
                        return Code::NextRow;
                    }
                    let local = m.filter_cell(cell);
                    if local == Code::SeekNextUsingHint {
                        hinted.push(i);
                    }
                    rc = rc.and(local);
                    // Later members must not count a cell an earlier one rejected.
                    if !rc.includes() {
                        return rc;
                    }
                }
                rc
            }
            Node::Or { members } => {
                let mut rc: Option<Code> = None;
                for m in members.iter_mut() {
                    m.included = false;
                    if m.node.filter_all_remaining() {
                        continue;
                    }
                    let local = match m.remembered(cell) {
                        Some(code) => code,
                        None => m.node.filter_cell(cell),
                    };
                    m.prev = match local {
                        Code::Include | Code::Skip => None,
                        _ => Some((local, cell.family.clone(), cell.qualifier.clone())),
                    };
                    m.included = local.includes();
                    rc = Some(rc.map_or(local, |r| r.or(local)));
                }
                rc.unwrap_or(Code::Skip)
            }
            Node::Skip { inner, filter_row } => {
                let rc = inner.filter_cell(cell);
                *filter_row |= rc != Code::Include;
                rc
            }
            Node::While { inner, done } => {
                let rc = inner.filter_cell(cell);
                *done |= rc != Code::Include;
                rc
            }
        }
    }

    /// The cell as returned, once included.
    pub(crate) fn transform_cell(&self, cell: Cell) -> Cell {
        match self {
            Node::KeyOnly { len_as_value } => {
                let value = if *len_as_value {
                    let len = i32::try_from(cell.value.len()).unwrap_or(i32::MAX);
                    Bytes::copy_from_slice(&len.to_be_bytes())
                } else {
                    Bytes::new()
                };
                Cell { value, ..cell }
            }
            Node::And { members, .. } => members.iter().fold(cell, |c, m| m.transform_cell(c)),
            Node::Or { members } => members
                .iter()
                .filter(|m| m.included)
                .fold(cell, |c, m| m.node.transform_cell(c)),
            Node::Skip { inner, .. } | Node::While { inner, .. } => inner.transform_cell(cell),
            _ => cell,
        }
    }

    /// Last changes to the row's included cells.
    pub(crate) fn filter_row_cells(&self, cells: &mut Vec<Cell>) {
        match self {
            Node::ColumnValue {
                test,
                exclude: true,
                ..
            } => {
                cells.retain(|c| !matching_column(c, &test.family, &test.qualifier));
            }
            Node::And { members, .. } => members.iter().for_each(|m| m.filter_row_cells(cells)),
            Node::Or { members } => members.iter().for_each(|m| m.node.filter_row_cells(cells)),
            _ => {}
        }
    }

    /// Whether to drop the row after its cells (called only for a row with cells left).
    pub(crate) fn filter_row(&mut self) -> bool {
        match self {
            Node::Prefix { filter_row, .. } => *filter_row,
            Node::Row { filter_out, .. } => *filter_out,
            Node::Page { size, accepted } => {
                *accepted += 1;
                *accepted > *size
            }
            Node::ColumnValue {
                test,
                found,
                matched,
                ..
            } => {
                if *found {
                    !*matched
                } else {
                    test.filter_if_missing
                }
            }
            // Both lists stop at the first member that decides, as HBase's do.
            Node::And { members, .. } => members.iter_mut().any(Node::filter_row),
            Node::Or { members } => members.iter_mut().all(|m| m.node.filter_row()),
            Node::Skip { filter_row, .. } => *filter_row,
            Node::While { inner, done } => {
                let drop = inner.filter_row();
                *done |= drop;
                drop
            }
            _ => false,
        }
    }

    /// Whether no later cell or row can pass: the scan ends.
    pub(crate) fn filter_all_remaining(&self) -> bool {
        match self {
            Node::Prefix { passed, .. } => *passed,
            Node::InclusiveStop { done, .. } => *done,
            Node::Page { size, accepted } => accepted >= size,
            Node::ColumnCountGet { limit, count } => count > limit,
            Node::And { members, .. } => members.iter().any(Node::filter_all_remaining),
            Node::Or { members } => members.iter().all(|m| m.node.filter_all_remaining()),
            Node::While { inner, done } => *done || inner.filter_all_remaining(),
            _ => false,
        }
    }

    /// Forget the current row (called between rows).
    pub(crate) fn reset(&mut self) {
        match self {
            Node::FirstKeyOnly { found } => *found = false,
            Node::Prefix { filter_row, .. } => *filter_row = true,
            Node::ColumnCountGet { count, .. } => *count = 0,
            Node::Row { filter_out, .. } => *filter_out = false,
            Node::ColumnValue { found, matched, .. } => {
                *found = false;
                *matched = false;
            }
            Node::And { members, hinted } => {
                members.iter_mut().for_each(Node::reset);
                hinted.clear();
            }
            Node::Or { members } => {
                for m in members {
                    m.node.reset();
                    m.prev = None;
                    m.included = false;
                }
            }
            Node::Skip { inner, filter_row } => {
                inner.reset();
                *filter_row = false;
            }
            Node::While { inner, .. } => inner.reset(),
            _ => {}
        }
    }

    /// After [`Code::SeekNextUsingHint`]: the qualifier, in the current cell's family, that the
    /// scan seeks to (`None`: just the next cell).
    pub(crate) fn next_cell_hint(&self) -> Option<&[u8]> {
        match self {
            Node::ColumnPrefix { prefix } => Some(prefix),
            Node::MultipleColumnPrefix { sorted, hint } => hint.map(|i| sorted[i].as_slice()),
            Node::ColumnRange { min, .. } => min.as_deref(),
            Node::And { members, hinted } => hinted
                .iter()
                .map(|&i| &members[i])
                .filter(|m| !m.filter_all_remaining())
                .filter_map(Node::next_cell_hint)
                .max(),
            Node::Or { members } => {
                let mut min: Option<&[u8]> = None;
                for m in members.iter().filter(|m| !m.node.filter_all_remaining()) {
                    let h = m.node.next_cell_hint()?;
                    min = Some(min.map_or(h, |cur| cur.min(h)));
                }
                min
            }
            _ => None,
        }
    }
}

impl OrMember {
    /// The code HBase's OR list answers for this member without asking it: the member's last
    /// code still covers this cell.
    fn remembered(&self, cell: &Cell) -> Option<Code> {
        let (code, family, qualifier) = self.prev.as_ref()?;
        let same_family = cell.family == *family;
        match code {
            Code::SeekNextUsingHint => {
                let hint = self.node.next_cell_hint()?;
                (same_family && cell.qualifier.as_ref() < hint).then_some(Code::SeekNextUsingHint)
            }
            Code::NextCol | Code::IncludeAndNextCol => {
                (same_family && cell.qualifier == *qualifier).then_some(Code::NextCol)
            }
            Code::NextRow | Code::IncludeAndSeekNextRow => same_family.then_some(Code::NextRow),
            Code::Include | Code::Skip => None,
        }
    }
}

fn row_code(filtered: bool) -> Code {
    if filtered {
        Code::NextRow
    } else {
        Code::Include
    }
}

fn pass_or_skip(pass: bool) -> Code {
    if pass { Code::Include } else { Code::Skip }
}

/// HBase's `ColumnPrefixFilter`: seek forward to the prefix, stop the family past it.
fn column_prefix(q: &[u8], prefix: &[u8]) -> Code {
    let n = q.len().min(prefix.len());
    match q[..n].cmp(&prefix[..n]) {
        Ordering::Less => Code::SeekNextUsingHint,
        Ordering::Equal if q.len() < prefix.len() => Code::SeekNextUsingHint,
        Ordering::Equal => Code::Include,
        Ordering::Greater => Code::NextRow,
    }
}
