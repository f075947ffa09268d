//! Garbage collection of one row during a compaction: keep only what a read could still
//! need, by the visibility rules reads use (`visibility.rs`): versions beyond a family's
//! `max_versions`, cells past their TTL, entries shadowed by a delete or by a newer write at
//! the same timestamp and entries of dropped families go; delete markers go once nothing
//! older than them can remain outside the files being merged (the sequence-number floor).
//!
//! This module must never do I/O: it maps entries to entries.

use crate::cell::{InternalCell, SeqNo, Timestamp};
use crate::manifest::FileMeta;
use crate::table::FamilySchema;
use crate::visibility::{FamilyRules, Step, Visit, walk_family};

/// The sequence-number floor for delete markers: the oldest entry that may remain outside
/// a compaction, in the files `outside` it or in a memtable (`min_unflushed`). A marker
/// below it covers nothing that remains, so GC drops it.
pub(crate) fn marker_floor<'a>(
    outside: impl Iterator<Item = &'a FileMeta>,
    min_unflushed: SeqNo,
) -> SeqNo {
    outside.map(|f| f.min_seq).fold(min_unflushed, SeqNo::min)
}

/// Keep the entries of one row (all families, internal order) that a read could still need.
/// Markers with `seq < floor` are dropped after applying them.
pub(crate) fn gc_row(
    entries: &[InternalCell],
    schema: &[FamilySchema],
    now: Timestamp,
    floor: SeqNo,
    out: &mut Vec<InternalCell>,
) {
    let mut i = 0;
    while let Some(first) = entries.get(i) {
        let fam = &first.family;
        let rest = entries.get(i..).unwrap_or_default();
        let len = rest
            .iter()
            .position(|c| c.family != *fam)
            .unwrap_or(rest.len());
        if let Some(f) = schema.iter().find(|f| *f.options.name == **fam) {
            gc_family(rest.get(..len).unwrap_or_default(), f, now, floor, out);
        }
        i += len;
    }
}

/// GC of one family's entries: every visible version stays, and the markers that decide
/// something stay while they are at or above the floor.
fn gc_family(
    entries: &[InternalCell],
    f: &FamilySchema,
    now: Timestamp,
    floor: SeqNo,
    out: &mut Vec<InternalCell>,
) {
    let rules = FamilyRules::new(f, now);
    walk_family(entries, &rules, |visit| {
        match visit {
            Visit::FamilyMarker(m) | Visit::ColumnMarker(m) | Visit::CellDelete(m) => {
                if m.seq >= floor {
                    out.push(m.clone());
                }
            }
            Visit::Version { cell, .. } => out.push(cell.clone()),
            Visit::Column(_) => {}
        }
        Step::Continue
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::cell::{CellKind, MARKER_TS};
    use crate::options::FamilyOptions;

    fn e(kind: CellKind, q: &str, ts: i64, seq: u64) -> InternalCell {
        crate::cell::test_entry(kind, "f", q, ts, seq, "")
    }

    fn schema(versions: u32, ttl: u64) -> Vec<FamilySchema> {
        vec![FamilySchema {
            name: Arc::from("f"),
            options: FamilyOptions {
                max_versions: versions,
                ttl_seconds: ttl,
                ..FamilyOptions::new("f")
            },
            created_seq: 0,
        }]
    }

    fn run_gc(mut v: Vec<InternalCell>, s: &[FamilySchema], now: i64, floor: u64) -> Vec<u64> {
        v.sort();
        let mut out = Vec::new();
        gc_row(&v, s, now, floor, &mut out);
        out.iter().map(|c| c.seq).collect()
    }

    #[test]
    fn drops_shadowed_extra_and_expired_versions() {
        let now = 1_000_000_000;
        let cells = vec![
            e(CellKind::Put, "a", 10, 1),
            e(CellKind::Put, "a", 10, 2), // replaces seq 1
            e(CellKind::Put, "a", 9, 3),
            e(CellKind::Put, "a", 8, 4), // beyond 2 versions
            e(CellKind::DeleteColumn, "b", MARKER_TS, 6),
            e(CellKind::Put, "b", 5, 5), // deleted
            e(CellKind::Put, "b", 4, 7), // written after the delete
            e(CellKind::Put, "c", now - 5_000_000, 8),
            e(CellKind::Put, "c", 1, 9), // expired under a 2 s TTL
        ];
        assert_eq!(
            run_gc(cells.clone(), &schema(2, 0), now, 0),
            vec![2, 3, 6, 7, 8, 9]
        );
        // With a floor above the marker, the marker itself goes too.
        assert_eq!(
            run_gc(cells.clone(), &schema(2, 0), now, 100),
            vec![2, 3, 7, 8, 9]
        );
        assert_eq!(run_gc(cells, &schema(2, 10), now, 100), vec![8]);
    }

    #[test]
    fn marker_floor_is_the_oldest_entry_outside() {
        let meta = |min_seq| FileMeta {
            min_seq,
            ..FileMeta::default()
        };
        let files = [meta(7), meta(3), meta(9)];
        assert_eq!(marker_floor(files.iter(), 5), 3);
        assert_eq!(marker_floor(files.iter().skip(2), 20), 9);
        assert_eq!(marker_floor(std::iter::empty(), u64::MAX), u64::MAX);
    }
}
