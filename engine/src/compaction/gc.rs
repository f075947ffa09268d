//! Garbage collection of one row during a compaction: keep everything a read could still
//! need, now or after any later write, by the visibility rules reads use (`visibility.rs`).
//! A compaction may merge any subset of a table's files, so GC decides per row from what the
//! inputs hold and what may lie outside them (docs/design/compaction.md, "Garbage
//! collection"):
//!
//! - **Below the row's floor** (the smallest sequence number any source outside the merge,
//!   or a reader, may hold for the row) the inputs hold the row's whole history: each column
//!   keeps only the versions that history leaves, and the markers below the floor go.
//! - **At or above the floor** other entries interleave, so the history is not all here.
//!   Markers stay. A put goes only when it is expired, or when no delete marker anywhere
//!   may fall between the oldest and newest of the column's puts here: without deletes a
//!   version that is one too many (or replaced) among these puts is so in the whole
//!   history, whatever else it holds.
//! - Entries of a dropped (or re-created) family go; so do expired versions at any height
//!   (what they could mask has smaller timestamps, so it has expired too).
//! - Nothing above the visible (acknowledged) sequence number at the compaction's start
//!   takes part in a decision: a reader's snapshot may exclude it.
//!
//! - A family of a row that holds only puts, one per column (each cell written once, the
//!   common case), keeps exactly its live, unexpired puts: the general rules come to that
//!   whatever lies outside, so it is decided without them (`Gc::family`), on the cells
//!   borrowed from the inputs' blocks; only a family that needs the general rules becomes
//!   owned entries.
//!
//! This module must never do I/O: it maps the inputs' entries to those kept.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;

use super::summary::FileSummary;
use crate::cell::{CellKind, CellRef, InternalCell, SeqNo, Timestamp};
use crate::error::Result;
use crate::sstable::{CellView, FamilyCells};
use crate::table::FamilySchema;
use crate::visibility::{
    FamilyRules, columns, replay, sole_put_visible, split_family, write_order,
};

/// The sequence-number floor for delete markers of a whole compaction: the oldest entry that
/// may remain outside it, in the files `outside` it, or at or above `cap` (the memtables'
/// oldest entry, and one past the visible sequence number). A marker below it covers nothing
/// that remains, so GC drops it.
pub(crate) fn marker_floor<'a>(
    outside: impl Iterator<Item = &'a FileSummary<'a>>,
    cap: SeqNo,
) -> SeqNo {
    outside.map(|f| f.meta.min_seq).fold(cap, SeqNo::min)
}

/// What lies outside one compaction, as GC needs it.
pub(crate) struct Outside<'a> {
    /// The live files that are not inputs.
    pub files: Vec<FileSummary<'a>>,
    /// The memtables' oldest entry (`u64::MAX`: none).
    pub min_unflushed: SeqNo,
    /// The visible sequence number when the compaction started, or the oldest live scan
    /// snapshot if that is older (`Snapshots::horizon`): every reader's snapshot is at or
    /// above it.
    pub snapshot: SeqNo,
}

/// [`Outside`] narrowed to one row.
struct RowBounds {
    /// Every entry of the row below this is in the inputs.
    floor: SeqNo,
    /// Entries above this are not yet acknowledged.
    snapshot: SeqNo,
    /// Sequence-number ranges outside sources' markers for the row may have.
    markers: Vec<(SeqNo, SeqNo)>,
}

impl RowBounds {
    fn outside_markers_between(&self, lo: SeqNo, hi: SeqNo) -> bool {
        self.markers.iter().any(|&(a, b)| a <= hi && lo <= b)
    }
}

impl Outside<'_> {
    fn bounds(&self, row: &[u8], b: &mut RowBounds) {
        b.floor = self.min_unflushed.min(self.snapshot.saturating_add(1));
        b.snapshot = self.snapshot;
        b.markers.clear();
        if self.min_unflushed != SeqNo::MAX {
            b.markers.push((self.min_unflushed, SeqNo::MAX));
        }
        for f in &self.files {
            if f.may_hold_row(row) {
                b.floor = b.floor.min(f.meta.min_seq);
                b.markers.extend(f.markers);
            }
        }
    }
}

/// One family a compaction keeps: its name and rules.
pub(crate) struct KeptFamily {
    pub name: Arc<str>,
    pub rules: FamilyRules,
}

/// Keeps rows of one compaction, family by family (reusing its buffers between rows).
pub(crate) struct Gc<'a> {
    outside: Outside<'a>,
    /// The schema's families in name order (internal order); entries of any other family
    /// (dropped) are not kept.
    families: Vec<KeptFamily>,
    /// The row `bounds` were looked up for.
    bounds_row: Option<Bytes>,
    bounds: RowBounds,
    /// A family's entries when they take the general rules (reused).
    entries: Vec<InternalCell>,
    kept: Vec<InternalCell>,
}

impl<'a> Gc<'a> {
    /// GC for a compaction whose non-inputs are `outside`, under `schema` at time `now`.
    pub fn new(outside: Outside<'a>, schema: &[FamilySchema], now: Timestamp) -> Gc<'a> {
        let mut families: Vec<KeptFamily> = schema
            .iter()
            .map(|f| KeptFamily {
                name: f.name.clone(),
                rules: FamilyRules::new(f, now),
            })
            .collect();
        families.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        Gc {
            outside,
            families,
            bounds_row: None,
            bounds: RowBounds {
                floor: 0,
                snapshot: 0,
                markers: Vec::new(),
            },
            entries: Vec::new(),
            kept: Vec::new(),
        }
    }

    /// The families kept, in internal order: a row's families are handed to
    /// [`Gc::family`] by their place here.
    pub fn families(&self) -> &[KeptFamily] {
        &self.families
    }

    /// Hand to `keep`, in internal order, the cells of family `slot` (its place in
    /// [`Gc::families`]) of row `row` that a read could still need; `cells` are all the
    /// inputs' entries of that family of the row, in internal order.
    pub fn family(
        &mut self,
        row: &Bytes,
        slot: usize,
        cells: &[CellView<'_>],
        mut keep: impl FnMut(&CellRef<'_>) -> Result<()>,
    ) -> Result<()> {
        let Some(fam) = self.families.get(slot) else {
            return Ok(());
        };
        let one_put_per_column = FamilyCells {
            family: slot,
            cells,
        }
        .one_put_per_column();
        if one_put_per_column {
            // No marker and one put per column: each put is its column's whole history
            // here, and nothing else here can cover or mask it. Below the floor, replaying
            // a lone put keeps it (at least one version is kept); at or above it, a lone
            // put masks nothing and is masked by nothing. So it stays exactly when it is
            // live and not expired, whatever lies outside: the general rules' answer,
            // without the row's bounds or per-column sets.
            for c in cells {
                if sole_put_visible(&fam.rules, c.seq, c.ts) {
                    keep(&CellRef {
                        row,
                        family: &fam.name,
                        kind: c.kind,
                        qualifier: c.qualifier,
                        ts: c.ts,
                        seq: c.seq,
                        value: c.value,
                    })?;
                }
            }
            return Ok(());
        }
        let mut entries = std::mem::take(&mut self.entries);
        entries.clear();
        entries.extend(cells.iter().map(|c| c.entry(row.clone(), fam.name.clone())));
        let mut kept = std::mem::take(&mut self.kept);
        kept.clear();
        self.general(row, slot, &entries, &mut kept);
        let result = kept.iter().try_for_each(|c| keep(&c.as_ref()));
        entries.clear();
        kept.clear();
        self.entries = entries;
        self.kept = kept;
        result
    }

    /// Append to `out` the entries of family `slot` of row `row` (internal order) that a
    /// read could still need, by the general rules.
    fn general(
        &mut self,
        row: &Bytes,
        slot: usize,
        entries: &[InternalCell],
        out: &mut Vec<InternalCell>,
    ) {
        let Some(fam) = self.families.get(slot) else {
            return;
        };
        // The row's bounds (a bloom probe of every file outside) are looked up only for a
        // family that needs them, once per row.
        if self.bounds_row.as_ref() != Some(row) {
            self.outside.bounds(row, &mut self.bounds);
            self.bounds_row = Some(row.clone());
        }
        gc_family(entries, &fam.rules, &self.bounds, out);
    }
}

/// GC of one family's entries of one row.
fn gc_family(
    entries: &[InternalCell],
    rules: &FamilyRules,
    b: &RowBounds,
    out: &mut Vec<InternalCell>,
) {
    let (markers, cols) = split_family(entries);
    let markers: Vec<&InternalCell> = markers.iter().filter(|m| rules.is_live(m)).collect();
    // A family marker below the floor covers only entries below it: all here, and applied.
    out.extend(
        markers
            .iter()
            .filter(|m| m.seq >= b.floor)
            .map(|m| (*m).clone()),
    );
    for column in columns(cols) {
        gc_column(column, &markers, rules, b, out);
    }
}

/// GC of one column (see the module docs for the two regimes).
fn gc_column(
    column: &[InternalCell],
    family_markers: &[&InternalCell],
    rules: &FamilyRules,
    b: &RowBounds,
    out: &mut Vec<InternalCell>,
) {
    let floor = b.floor;
    // Below the floor: the whole history is here; keep what it leaves.
    let below = write_order(
        column
            .iter()
            .chain(family_markers.iter().copied())
            .filter(|c| c.seq < floor),
        rules,
    );
    let kept_below: HashSet<*const InternalCell> = if below.is_empty() {
        HashSet::new()
    } else {
        replay(&below, rules, false)
            .live
            .into_values()
            .map(|c| c as *const InternalCell)
            .collect()
    };
    // At or above the floor (and acknowledged): the puts' own limit, when no delete can
    // fall between them.
    let window = write_order(
        column
            .iter()
            .filter(|c| c.kind == CellKind::Put && c.seq >= floor && c.seq <= b.snapshot),
        rules,
    );
    let mut masked: HashSet<*const InternalCell> = HashSet::new();
    if let (Some(lo), Some(hi)) = (window.first(), window.last()) {
        let (lo, hi) = (lo.seq, hi.seq);
        let inside = |c: &InternalCell| {
            c.kind != CellKind::Put && rules.is_live(c) && lo <= c.seq && c.seq <= hi
        };
        let deletes_between = column.iter().any(inside)
            || family_markers.iter().any(|m| inside(m))
            || b.outside_markers_between(lo, hi);
        if !deletes_between {
            masked = replay(&window, rules, true)
                .masked
                .into_iter()
                .map(|c| c as *const InternalCell)
                .collect();
        }
    }
    for c in column {
        let keep = rules.is_live(c)
            && if c.kind != CellKind::Put {
                c.seq >= floor
            } else if rules.is_expired(c.ts) {
                false
            } else if c.seq < floor {
                kept_below.contains(&(c as *const InternalCell))
            } else {
                !masked.contains(&(c as *const InternalCell))
            };
        if keep {
            out.push(c.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::cell::MARKER_TS;
    use crate::manifest::FileMeta;
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

    /// A file outside the compaction holding row "r" from `min_seq`, with markers or not.
    fn file(min_seq: u64, max_seq: u64, deletes: u64) -> FileMeta {
        FileMeta {
            smallest_row: b"a".to_vec(),
            largest_row: b"z".to_vec(),
            min_seq,
            max_seq,
            cells: 10,
            deletes,
            ..FileMeta::default()
        }
    }

    fn run_gc(
        mut v: Vec<InternalCell>,
        s: &[FamilySchema],
        now: i64,
        outside: &[FileMeta],
        min_unflushed: u64,
    ) -> Vec<u64> {
        v.sort();
        let outside = Outside {
            files: outside.iter().map(FileSummary::from_meta).collect(),
            min_unflushed,
            snapshot: 1_000,
        };
        let mut gc = Gc::new(outside, s, now);
        let mut out = Vec::new();
        gc.general(&Bytes::from_static(b"r"), 0, &v, &mut out);
        out.iter().map(|c| c.seq).collect()
    }

    #[test]
    fn below_the_floor_only_what_the_history_leaves_stays() {
        let now = 1_000_000_000;
        let cells = vec![
            e(CellKind::Put, "a", 10, 1),
            e(CellKind::Put, "a", 10, 2), // replaces seq 1
            e(CellKind::Put, "a", 9, 3),
            e(CellKind::Put, "a", 8, 4), // one too many
            e(CellKind::DeleteColumn, "b", MARKER_TS, 6),
            e(CellKind::Put, "b", 5, 5), // deleted
            e(CellKind::Put, "b", 4, 7), // written after the delete
            e(CellKind::Put, "c", now - 5_000_000, 8),
            e(CellKind::Put, "c", 1, 9), // expired under a 2 s TTL
        ];
        // Nothing outside: the floor is past everything, markers go too.
        assert_eq!(
            run_gc(cells.clone(), &schema(2, 0), now, &[], u64::MAX),
            vec![2, 3, 7, 8, 9]
        );
        assert_eq!(run_gc(cells, &schema(2, 10), now, &[], u64::MAX), vec![8]);
    }

    #[test]
    fn the_history_below_the_floor_is_all_here() {
        // Review M2: ts 1, 2, 3 in the inputs, max_versions 2, and a delete in a newer file
        // outside. The inputs hold the row's whole history below that file: ts 1 was one
        // too many when ts 3 was written, so it is masked for good whatever the delete is.
        let puts = vec![
            e(CellKind::Put, "a", 1, 1),
            e(CellKind::Put, "a", 2, 2),
            e(CellKind::Put, "a", 3, 3),
        ];
        let newer_delete = file(4, 4, 1);
        assert_eq!(
            run_gc(puts, &schema(2, 0), 0, &[newer_delete], u64::MAX),
            vec![3, 2]
        );
    }

    #[test]
    fn a_marker_outside_between_the_puts_keeps_them_all() {
        // A file outside holds entries from seq 2 to 5 with markers: a delete of ts 3 at
        // seq 4 would leave ts 2 and ts 1 as the two versions. Nothing goes.
        let cells = vec![
            e(CellKind::Put, "a", 3, 3),
            e(CellKind::Put, "a", 2, 6),
            e(CellKind::Put, "a", 1, 7),
        ];
        assert_eq!(
            run_gc(cells.clone(), &schema(2, 0), 0, &[file(2, 5, 1)], u64::MAX),
            vec![3, 6, 7]
        );
        // The same file without markers: ts 1 is one too many in every history.
        assert_eq!(
            run_gc(cells.clone(), &schema(2, 0), 0, &[file(2, 5, 0)], u64::MAX),
            vec![3, 6]
        );
        // A memtable may hold markers from its oldest entry on.
        assert_eq!(
            run_gc(cells, &schema(2, 0), 0, &[file(2, 5, 0)], 4),
            vec![3, 6, 7]
        );
    }

    #[test]
    fn above_the_floor_markers_stay_and_covered_puts_stay() {
        // An older file outside holds the row: the floor is its min_seq (1), so nothing
        // here is below it. The delete and what it covers stay (dropping the covered put
        // could let an older version outside count again).
        let cells = vec![
            e(CellKind::Put, "a", 5, 2),
            e(CellKind::DeleteCell, "a", 5, 3),
            e(CellKind::Put, "a", 4, 4),
        ];
        assert_eq!(
            run_gc(cells.clone(), &schema(1, 0), 0, &[file(1, 1, 0)], u64::MAX),
            vec![3, 2, 4]
        );
        // Without the outside file everything is below the floor: the history leaves ts 4
        // only (ts 5 was deleted before it came; the marker has done its work).
        assert_eq!(run_gc(cells, &schema(1, 0), 0, &[], u64::MAX), vec![4]);
    }

    #[test]
    fn unacknowledged_entries_decide_nothing() {
        // seq 1500 is above the snapshot (1000): a reader may not see it, so it neither
        // covers nor masks the put at seq 1.
        let cells = vec![
            e(CellKind::Put, "a", 1, 1),
            e(CellKind::DeleteColumn, "a", MARKER_TS, 1_500),
            e(CellKind::Put, "b", 1, 2),
            e(CellKind::Put, "b", 2, 1_501),
        ];
        assert_eq!(
            run_gc(cells, &schema(1, 0), 0, &[], u64::MAX),
            vec![1_500, 1, 1_501, 2]
        );
    }

    #[test]
    fn single_puts_are_kept_as_the_general_rules_keep_them() {
        // A family whose columns are one put each takes `Gc::family`'s short path, which
        // keeps exactly the live, unexpired puts. The general rules (bounds from the files
        // outside, per-column replay) must come to the same in every case: expired or not,
        // from a re-created family or not, below or above the floor, acknowledged or not.
        let now = 1_000_000_000;
        let ts_of = [1, now - 5_000_000, now, now + 1];
        let outsides = [vec![], vec![file(1, 1, 0)], vec![file(5, 9, 2)]];
        let (mut cases, mut kept, mut dropped) = (0, 0, 0);
        for keep in [1, 3] {
            for ttl in [0, 2, 10] {
                for created_seq in [0, 4] {
                    for outside in &outsides {
                        for min_unflushed in [u64::MAX, 3] {
                            let mut s = schema(keep, ttl);
                            s[0].created_seq = created_seq;
                            let rules = FamilyRules::new(&s[0], now);
                            let mut v: Vec<InternalCell> = (0..8u64)
                                .map(|i| {
                                    let seq = [1, 2, 4, 6, 999, 1_000, 1_001, 5_000][i as usize];
                                    e(CellKind::Put, &format!("q{i}"), ts_of[i as usize % 4], seq)
                                })
                                .collect();
                            v.sort();
                            let short: Vec<InternalCell> = v
                                .iter()
                                .filter(|c| sole_put_visible(&rules, c.seq, c.ts))
                                .cloned()
                                .collect();
                            let mut gc = Gc::new(
                                Outside {
                                    files: outside.iter().map(FileSummary::from_meta).collect(),
                                    min_unflushed,
                                    snapshot: 1_000,
                                },
                                &s,
                                now,
                            );
                            let mut general = Vec::new();
                            gc.general(&Bytes::from_static(b"r"), 0, &v, &mut general);
                            assert_eq!(
                                short, general,
                                "keep {keep} ttl {ttl} created {created_seq}"
                            );
                            cases += 1;
                            kept += short.len();
                            dropped += v.len() - short.len();
                        }
                    }
                }
            }
        }
        assert_eq!(cases, 72);
        assert!(kept > 0 && dropped > 0, "kept {kept}, dropped {dropped}");
    }

    #[test]
    fn marker_floor_is_the_oldest_entry_outside() {
        let meta = |min_seq| FileMeta {
            min_seq,
            ..FileMeta::default()
        };
        let files = [meta(7), meta(3), meta(9)];
        let s: Vec<FileSummary<'_>> = files.iter().map(FileSummary::from_meta).collect();
        assert_eq!(marker_floor(s.iter(), 5), 3);
        assert_eq!(marker_floor(s.iter().skip(2), 20), 9);
        assert_eq!(marker_floor(std::iter::empty(), u64::MAX), u64::MAX);
    }
}
