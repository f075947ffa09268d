//! The read path: one k-way merge over memtables and SSTables (`MergeIter`), grouping into
//! rows, and the visibility rules (`ReadPlan::resolve_row`) of BRIEF section 3:
//!
//! - a delete hides only covered entries written before it (smaller sequence number);
//! - a family marker covers the family, a column marker every version of the column, a
//!   cell delete one timestamp;
//! - at one timestamp the newest write (largest sequence number) decides;
//! - expired cells (TTL from the cell timestamp) are invisible and do not count as versions;
//! - a family keeps its newest `max_versions` live versions; the time range and the request's
//!   version count apply within those, so compaction (which drops the rest) never changes
//!   what a read returns;
//! - entries older than their family's (re)creation are invisible (a dropped family's data
//!   goes with it).
//!
//! This module must never do I/O itself beyond pulling from the sources it is given.

use std::cmp::Ordering;
use std::collections::{BTreeSet, BinaryHeap};
use std::sync::Arc;

use crate::cell::{CellKind, InternalCell, SeqNo, Timestamp};
use crate::error::{Error, Result};
use crate::options::FamilyOptions;
use crate::row::{Cell, ReadOptions, TimeRange};

/// A family as reads see it.
#[derive(Clone, Debug)]
pub struct FamilySchema {
    /// The family name, shared by every cell written to it.
    pub name: Arc<str>,
    /// Options.
    pub options: FamilyOptions,
    /// Entries with a smaller sequence number belong to an earlier family of the same name.
    pub created_seq: SeqNo,
}

/// One selected family's rules.
#[derive(Clone, Debug)]
struct FamilyPlan {
    name: Arc<str>,
    created_seq: SeqNo,
    keep_versions: usize,
    /// Cells with `ts < expire_before` are expired.
    expire_before: Option<Timestamp>,
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
            created_seq: f.created_seq,
            keep_versions: f.options.max_versions.max(1) as usize,
            expire_before: (f.options.ttl_seconds > 0).then(|| {
                now.saturating_sub((f.options.ttl_seconds as i64).saturating_mul(1_000_000))
            }),
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
        let mut out = Vec::new();
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

    fn resolve_family(&self, plan: &FamilyPlan, entries: &[InternalCell], out: &mut Vec<Cell>) {
        let live = |c: &InternalCell| c.seq >= plan.created_seq;
        let mut family_delete: SeqNo = 0;
        let mut i = 0;
        while i < entries.len() && entries[i].kind == CellKind::DeleteFamily {
            if live(&entries[i]) {
                family_delete = family_delete.max(entries[i].seq);
            }
            i += 1;
        }
        while i < entries.len() {
            let qual = &entries[i].qualifier;
            let end = entries[i..]
                .iter()
                .position(|c| c.qualifier != *qual)
                .map_or(entries.len(), |n| i + n);
            let column = &entries[i..end];
            i = end;
            let wanted = plan
                .qualifiers
                .as_ref()
                .is_none_or(|s| s.contains(qual.as_ref()));
            if !wanted {
                continue;
            }
            let mut column_delete = family_delete;
            let mut j = 0;
            while j < column.len() && column[j].kind == CellKind::DeleteColumn {
                if live(&column[j]) {
                    column_delete = column_delete.max(column[j].seq);
                }
                j += 1;
            }
            let mut kept = 0usize;
            let mut returned = 0usize;
            while j < column.len() && kept < plan.keep_versions {
                let ts = column[j].ts;
                // The newest live write at this timestamp decides it.
                let top = column[j..]
                    .iter()
                    .take_while(|c| c.ts == ts)
                    .find(|c| live(c));
                j += column[j..].iter().take_while(|c| c.ts == ts).count();
                let Some(top) = top else { continue };
                if top.kind != CellKind::Put || top.seq <= column_delete {
                    continue;
                }
                if plan.expire_before.is_some_and(|e| ts < e) {
                    continue;
                }
                kept += 1;
                if self.time_range.contains(ts) && returned < self.max_versions {
                    returned += 1;
                    out.push(Cell {
                        family: top.family.clone(),
                        qualifier: top.qualifier.clone(),
                        timestamp: ts,
                        value: top.value.clone(),
                    });
                }
            }
        }
    }
}

/// A source of entries in internal order.
pub type CellSource = Box<dyn Iterator<Item = Result<InternalCell>> + Send>;

struct HeapEntry {
    cell: InternalCell,
    source: usize,
}

impl PartialEq for HeapEntry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for HeapEntry {}
impl PartialOrd for HeapEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for HeapEntry {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse so the smallest cell comes out first.
        other
            .cell
            .cmp(&self.cell)
            .then_with(|| other.source.cmp(&self.source))
    }
}

/// K-way merge of sources into one stream in internal order.
pub struct MergeIter {
    sources: Vec<CellSource>,
    heap: BinaryHeap<HeapEntry>,
    started: bool,
    failed: bool,
}

impl MergeIter {
    /// Merge `sources`.
    pub fn new(sources: Vec<CellSource>) -> Self {
        MergeIter {
            sources,
            heap: BinaryHeap::new(),
            started: false,
            failed: false,
        }
    }

    fn pull(&mut self, source: usize) -> Result<()> {
        if let Some(next) = self.sources[source].next() {
            self.heap.push(HeapEntry {
                cell: next?,
                source,
            });
        }
        Ok(())
    }
}

impl Iterator for MergeIter {
    type Item = Result<InternalCell>;
    fn next(&mut self) -> Option<Result<InternalCell>> {
        if self.failed {
            return None;
        }
        if !self.started {
            self.started = true;
            if self.sources.len() == 1 {
                // One source: nothing to merge.
                let r = self.sources[0].next();
                self.failed = matches!(r, Some(Err(_)));
                return r;
            }
            for s in 0..self.sources.len() {
                if let Err(e) = self.pull(s) {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        if self.sources.len() == 1 {
            let r = self.sources[0].next();
            self.failed = matches!(r, Some(Err(_)));
            return r;
        }
        let top = self.heap.pop()?;
        if let Err(e) = self.pull(top.source) {
            self.failed = true;
            return Some(Err(e));
        }
        Some(Ok(top.cell))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::MARKER_TS;
    use crate::row::ColumnSelector;
    use bytes::Bytes;

    fn e(kind: CellKind, fam: &str, q: &str, ts: i64, seq: u64, v: &str) -> InternalCell {
        InternalCell {
            row: Bytes::from_static(b"r"),
            family: Arc::from(fam),
            kind,
            qualifier: Bytes::copy_from_slice(q.as_bytes()),
            ts,
            seq,
            value: Bytes::copy_from_slice(v.as_bytes()),
        }
    }

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

    #[test]
    fn merge_interleaves_sources_in_order() {
        let mk = |seqs: &[u64]| -> CellSource {
            let v: Vec<Result<InternalCell>> = seqs
                .iter()
                .map(|s| Ok(e(CellKind::Put, "a", &format!("q{s:02}"), 1, *s, "")))
                .collect();
            Box::new(v.into_iter())
        };
        let m = MergeIter::new(vec![mk(&[1, 4, 7]), mk(&[2, 5]), mk(&[]), mk(&[3, 6, 8])]);
        let seqs: Vec<u64> = m.map(|c| c.unwrap().seq).collect();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6, 7, 8]);
    }
}
