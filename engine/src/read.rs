//! The shape of one read (`ReadPlan`): which families and columns, how many versions, which
//! time range, compiled against a table's families; and `resolve_row`, which applies the
//! visibility rules (`visibility.rs`, shared with compaction GC) to the merged entries of one
//! row and returns the visible cells, newest first per column.
//!
//! A column shows the versions the visibility rules leave (at most the family's
//! `max_versions`, counted in write order as HBase's NEW_VERSION_BEHAVIOR does); the time
//! range and the request's version count apply within those, so compaction (which drops what
//! the rules have let go) never changes what a read returns. This module must never do I/O:
//! it works on entries it is given (merged entries, or the cells of one file's blocks:
//! `resolve_views`).

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;

use crate::cell::{CellKind, InternalCell, Timestamp};
use crate::error::{Error, Result};
use crate::row::{BorrowedCell, Cell, ReadOptions, TimeRange};
use crate::sstable::{CellView, FamilyCells};
use crate::table::FamilySchema;
use crate::visibility::{FamilyRules, columns, put_versions, split_family, visible_versions};

/// One selected family: its rules and columns.
#[derive(Clone, Debug)]
struct FamilyPlan {
    name: Arc<str>,
    rules: FamilyRules,
    /// `None`: every qualifier.
    qualifiers: Option<BTreeSet<Vec<u8>>>,
}

/// The compiled shape of one read: which families and columns, versions, time range, TTLs.
#[derive(Clone, Debug)]
pub struct ReadPlan {
    families: Vec<FamilyPlan>,
    max_versions: usize,
    time_range: TimeRange,
}

impl ReadPlan {
    /// Compile `opts` against a table's families at time `now` (microseconds).
    pub fn new(
        table: &str,
        schema: &[FamilySchema],
        opts: &ReadOptions,
        now: Timestamp,
    ) -> Result<ReadPlan> {
        let mut families: Vec<FamilyPlan> = Vec::new();
        let plan_for = |f: &FamilySchema| FamilyPlan {
            name: f.name.clone(),
            rules: FamilyRules::new(f, now),
            qualifiers: None,
        };
        if opts.columns.is_empty() {
            families = schema.iter().map(plan_for).collect();
        } else {
            for sel in &opts.columns {
                let f = schema
                    .iter()
                    .find(|f| f.options.name == sel.family)
                    .ok_or_else(|| Error::FamilyNotFound {
                        table: table.to_string(),
                        family: sel.family.clone(),
                    })?;
                let idx = match families.iter().position(|p| *p.name == *sel.family) {
                    Some(i) => i,
                    None => {
                        let mut p = plan_for(f);
                        p.qualifiers = Some(BTreeSet::new());
                        families.push(p);
                        families.len() - 1
                    }
                };
                let p = &mut families[idx];
                match (&sel.qualifier, &mut p.qualifiers) {
                    (None, q) => *q = None,
                    (Some(want), Some(set)) => {
                        set.insert(want.clone());
                    }
                    (Some(_), None) => {}
                }
            }
        }
        families.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(ReadPlan {
            families,
            max_versions: opts.max_versions.max(1) as usize,
            time_range: opts.time_range,
        })
    }

    /// The selected family names, sorted (for SSTable family filters).
    pub fn family_names(&self) -> Vec<Arc<str>> {
        self.families.iter().map(|f| f.name.clone()).collect()
    }

    /// Apply the visibility rules to every entry of one row (sorted in internal order, all
    /// sources merged) and return the visible cells.
    pub fn resolve_row(&self, entries: &[InternalCell]) -> Vec<Cell> {
        // At most one visible cell per entry: one allocation per row.
        let mut out = Vec::with_capacity(entries.len());
        let mut i = 0;
        while i < entries.len() {
            let fam = &entries[i].family;
            let end = entries[i..]
                .iter()
                .position(|c| c.family != *fam)
                .map_or(entries.len(), |n| i + n);
            if let Some(plan) = self.families.iter().find(|p| p.name == *fam) {
                self.resolve_family(plan, &entries[i..end], &mut out);
            }
            i = end;
        }
        out
    }

    /// The visible cells of one family of a row read from file blocks (one file's, or
    /// several files' merged in internal order by `scan/row_merge.rs`; `fc.family` is the
    /// family's place in [`ReadPlan::family_names`]), into `out`, when its cells are all
    /// puts: each column's versions are then those `visibility::put_versions` leaves (the
    /// answer `visible_versions` gives without markers), and the time range and the
    /// request's version count apply within them as in `resolve_row`. Returns false, adding
    /// nothing, when a cell is a delete marker.
    pub(crate) fn resolve_views(&self, fc: &FamilyCells<'_>, out: &mut Vec<Cell>) -> bool {
        self.resolve_views_with(fc, |family, c| {
            out.push(Cell {
                family: family.clone(),
                qualifier: c.qualifier_bytes(),
                timestamp: c.ts,
                value: c.value_bytes(),
            })
        })
    }

    /// [`ReadPlan::resolve_views`] lending the cells instead: each visible cell goes to
    /// `emit` as a borrowed cell of the blocks (no reference count taken), for
    /// `RowScanner::next_borrowed`. Returns false, emitting nothing, when a cell is a delete
    /// marker.
    pub(crate) fn lend_views<'a>(
        &'a self,
        fc: &FamilyCells<'a>,
        out: &mut Vec<BorrowedCell<'a>>,
    ) -> bool {
        self.resolve_views_with(fc, |family, c| {
            out.push(BorrowedCell {
                family,
                qualifier: c.qualifier,
                timestamp: c.ts,
                value: c.value,
            })
        })
    }

    /// Whether [`ReadPlan::resolve_views`] can answer for `fc` (all its cells are puts).
    pub(crate) fn views_are_puts(fc: &FamilyCells<'_>) -> bool {
        fc.cells.iter().all(|c| c.kind == CellKind::Put)
    }

    /// The one body of [`ReadPlan::resolve_views`] and [`ReadPlan::lend_views`]: the
    /// visible cells of `fc`, each handed to `emit` with its family's name.
    fn resolve_views_with<'a>(
        &'a self,
        fc: &FamilyCells<'a>,
        mut emit: impl FnMut(&'a Arc<str>, &CellView<'a>),
    ) -> bool {
        let Some(plan) = self.families.get(fc.family) else {
            return true;
        };
        if !Self::views_are_puts(fc) {
            return false;
        }
        let mut rest = fc.cells;
        while let Some(first) = rest.first() {
            // Cells of one block share their qualifier's bytes: equal pointers first.
            let len = rest
                .iter()
                .position(|c| {
                    c.qualifier.as_ptr() != first.qualifier.as_ptr()
                        && c.qualifier != first.qualifier
                })
                .unwrap_or(rest.len());
            let (column, tail) = rest.split_at(len);
            rest = tail;
            let wanted = plan
                .qualifiers
                .as_ref()
                .is_none_or(|s| s.contains(first.qualifier));
            if !wanted {
                continue;
            }
            let mut taken = 0;
            put_versions(
                column,
                |c| (c.ts, c.seq),
                &plan.rules,
                |c| {
                    if taken < self.max_versions && self.time_range.contains(c.ts) {
                        taken += 1;
                        emit(&plan.name, c);
                    }
                },
            );
        }
        true
    }

    /// The visible cells of one family of a row read from one file's blocks, whatever its
    /// cells (delete markers, several versions): as entries through the rules of
    /// [`ReadPlan::resolve_row`]. `scratch` is emptied and reused.
    pub(crate) fn resolve_family_entries(
        &self,
        fc: &FamilyCells<'_>,
        scratch: &mut Vec<InternalCell>,
        out: &mut Vec<Cell>,
    ) {
        let Some(plan) = self.families.get(fc.family) else {
            return;
        };
        scratch.clear();
        scratch.extend(
            fc.cells
                .iter()
                .map(|c| c.entry(Bytes::new(), plan.name.clone())),
        );
        self.resolve_family(plan, scratch, out);
        scratch.clear();
    }

    fn resolve_family(&self, plan: &FamilyPlan, entries: &[InternalCell], out: &mut Vec<Cell>) {
        let (markers, cols) = split_family(entries);
        let mut versions = Vec::new();
        for column in columns(cols) {
            let wanted = plan.qualifiers.as_ref().is_none_or(|s| {
                column
                    .first()
                    .is_some_and(|c| s.contains(c.qualifier.as_ref()))
            });
            if !wanted {
                continue;
            }
            visible_versions(column, markers, &plan.rules, &mut versions);
            let in_range = versions
                .iter()
                .filter(|c| self.time_range.contains(c.ts))
                .take(self.max_versions);
            out.extend(in_range.map(|cell| Cell {
                family: cell.family.clone(),
                qualifier: cell.qualifier.clone(),
                timestamp: cell.ts,
                value: cell.value.clone(),
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::{CellKind, MARKER_TS};
    use crate::options::FamilyOptions;
    use crate::row::ColumnSelector;

    use crate::cell::test_entry as e;

    fn schema(versions: u32, ttl: u64) -> Vec<FamilySchema> {
        ["a", "b"]
            .iter()
            .map(|n| FamilySchema {
                name: Arc::from(*n),
                options: FamilyOptions {
                    max_versions: versions,
                    ttl_seconds: ttl,
                    ..FamilyOptions::new(*n)
                },
                created_seq: 0,
            })
            .collect()
    }

    fn values(plan: &ReadPlan, mut entries: Vec<InternalCell>) -> Vec<String> {
        entries.sort();
        plan.resolve_row(&entries)
            .into_iter()
            .map(|c| {
                format!(
                    "{}:{}@{}={}",
                    c.family,
                    String::from_utf8_lossy(&c.qualifier),
                    c.timestamp,
                    String::from_utf8_lossy(&c.value)
                )
            })
            .collect()
    }

    #[test]
    fn deletes_hide_only_earlier_writes() {
        let opts = ReadOptions {
            max_versions: 10,
            ..ReadOptions::default()
        };
        let plan = ReadPlan::new("t", &schema(10, 0), &opts, 1_000).unwrap();
        let got = values(
            &plan,
            vec![
                e(CellKind::Put, "a", "x", 5, 1, "old"),
                e(CellKind::DeleteColumn, "a", "x", MARKER_TS, 2, ""),
                e(CellKind::Put, "a", "x", 1, 3, "after-delete-older-ts"),
                e(CellKind::Put, "a", "y", 7, 4, "y1"),
                e(CellKind::DeleteCell, "a", "y", 7, 5, ""),
                e(CellKind::Put, "a", "y", 6, 6, "y0"),
                e(CellKind::Put, "b", "z", 3, 7, "z"),
                e(CellKind::DeleteFamily, "b", "", MARKER_TS, 8, ""),
                e(CellKind::Put, "b", "w", 2, 9, "w"),
            ],
        );
        assert_eq!(
            got,
            vec!["a:x@1=after-delete-older-ts", "a:y@6=y0", "b:w@2=w"]
        );
    }

    #[test]
    fn same_timestamp_later_write_wins_and_versions_are_capped() {
        let opts = ReadOptions {
            max_versions: 10,
            ..ReadOptions::default()
        };
        let plan = ReadPlan::new("t", &schema(2, 0), &opts, 1_000).unwrap();
        let got = values(
            &plan,
            vec![
                e(CellKind::Put, "a", "x", 5, 1, "first"),
                e(CellKind::Put, "a", "x", 5, 2, "second"),
                e(CellKind::Put, "a", "x", 4, 3, "v4"),
                e(CellKind::Put, "a", "x", 3, 4, "v3"),
            ],
        );
        assert_eq!(got, vec!["a:x@5=second", "a:x@4=v4"]);
    }

    #[test]
    fn ttl_time_range_and_column_selection() {
        let now = 100_000_000;
        let opts = ReadOptions {
            columns: vec![ColumnSelector {
                family: "a".into(),
                qualifier: Some(b"x".to_vec()),
            }],
            max_versions: 1,
            time_range: TimeRange {
                start: 0,
                end: Some(now - 1_000),
            },
        };
        let plan = ReadPlan::new("t", &schema(3, 10), &opts, now).unwrap();
        let got = values(
            &plan,
            vec![
                e(CellKind::Put, "a", "x", now - 500, 1, "too-new-for-range"),
                e(CellKind::Put, "a", "x", now - 2_000, 2, "in-range"),
                e(CellKind::Put, "a", "x", now - 20_000_000, 3, "expired"),
                e(CellKind::Put, "a", "y", now - 2_000, 4, "not-selected"),
                e(CellKind::Put, "b", "x", now - 2_000, 5, "not-selected"),
            ],
        );
        assert_eq!(got, vec![format!("a:x@{}=in-range", now - 2_000)]);
        let bad = ReadOptions {
            columns: vec![ColumnSelector {
                family: "nope".into(),
                qualifier: None,
            }],
            ..ReadOptions::default()
        };
        assert!(matches!(
            ReadPlan::new("t", &schema(1, 0), &bad, now),
            Err(Error::FamilyNotFound { .. })
        ));
    }
}
