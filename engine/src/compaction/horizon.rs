//! GC under live snapshots: a scan that re-opens on a newer version reads at its own sequence
//! number, so compaction must not collect anything such a read still sees. With the horizon
//! `h` (the oldest live snapshot, `snapshots.rs`), the entries of a row above `h` are kept as
//! they are, and the entries at or below it are collected as `gc.rs` collects a row read at
//! `h`. A read at any snapshot `s >= h` then sees what it saw before: what GC drops is
//! invisible at `h`, and an entry invisible at `h` stays invisible at every later snapshot
//! (later entries only ever hide more).
//!
//! When no entry of the row is above the horizon (no long scan is open, or the row was not
//! written since) this is exactly `gc_row`. This module must never do I/O.

use crate::cell::{InternalCell, SeqNo, Timestamp};
use crate::table::FamilySchema;

use super::gc::gc_row;

/// [`gc_row`] for a read at `horizon`, keeping every entry above it (of families that still
/// exist) as it is. `entries` is one row in internal order; `out` gets the kept entries in
/// internal order.
pub(super) fn gc_row_at(
    entries: &[InternalCell],
    schema: &[FamilySchema],
    now: Timestamp,
    floor: SeqNo,
    horizon: SeqNo,
    out: &mut Vec<InternalCell>,
) {
    if entries.iter().all(|c| c.seq <= horizon) {
        gc_row(entries, schema, now, floor, out);
        return;
    }
    let below: Vec<InternalCell> = entries
        .iter()
        .filter(|c| c.seq <= horizon)
        .cloned()
        .collect();
    let mut kept = Vec::with_capacity(below.len());
    gc_row(&below, schema, now, floor, &mut kept);
    let family_exists = |c: &InternalCell| schema.iter().any(|f| *f.options.name == *c.family);
    let mut above = entries
        .iter()
        .filter(|c| c.seq > horizon && family_exists(c))
        .peekable();
    // Merge the two sorted runs back into internal order.
    let mut kept = kept.into_iter().peekable();
    loop {
        let take_above = match (kept.peek(), above.peek()) {
            (None, None) => return,
            (Some(_), None) => false,
            (None, Some(_)) => true,
            (Some(k), Some(a)) => *a < k,
        };
        let next = if take_above {
            above.next().cloned()
        } else {
            kept.next()
        };
        if let Some(c) = next {
            out.push(c);
        }
    }
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

    fn schema() -> Vec<FamilySchema> {
        vec![FamilySchema {
            name: Arc::from("f"),
            options: FamilyOptions::new("f"),
            created_seq: 0,
        }]
    }

    fn kept(mut v: Vec<InternalCell>, horizon: u64) -> Vec<(u64, CellKind)> {
        v.sort();
        let mut out = Vec::new();
        gc_row_at(&v, &schema(), 0, 0, horizon, &mut out);
        let mut sorted = out.clone();
        sorted.sort();
        assert_eq!(out, sorted, "output in internal order");
        out.iter().map(|c| (c.seq, c.kind)).collect()
    }

    #[test]
    fn a_version_a_snapshot_sees_survives_a_newer_one_above_the_horizon() {
        // One version per column: seq 2 is shadowed by seq 9 for a read at now, but a read at
        // 5 sees seq 2.
        let v = vec![e(CellKind::Put, "q", 100, 2), e(CellKind::Put, "q", 200, 9)];
        assert_eq!(kept(v.clone(), u64::MAX), [(9, CellKind::Put)]);
        assert_eq!(kept(v, 5), [(9, CellKind::Put), (2, CellKind::Put)]);
    }

    #[test]
    fn a_delete_above_the_horizon_does_not_collect_what_it_covers() {
        let v = vec![
            e(CellKind::Put, "q", 100, 2),
            e(CellKind::DeleteColumn, "q", MARKER_TS, 9),
        ];
        assert_eq!(kept(v.clone(), u64::MAX), [(9, CellKind::DeleteColumn)]);
        assert_eq!(
            kept(v, 5),
            [(9, CellKind::DeleteColumn), (2, CellKind::Put)]
        );
    }

    #[test]
    fn below_the_horizon_gc_still_collects() {
        // seq 1 is shadowed by seq 2 for a read at 5: it goes; seq 9 stays as it is.
        let v = vec![
            e(CellKind::Put, "q", 100, 1),
            e(CellKind::Put, "q", 150, 2),
            e(CellKind::Put, "q", 200, 9),
        ];
        assert_eq!(kept(v, 5), [(9, CellKind::Put), (2, CellKind::Put)]);
    }
}
