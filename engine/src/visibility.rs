//! The per-family visibility rules of BRIEF section 3, written once and used by both reads
//! (`read.rs`, which returns what they make visible) and compaction GC (`compaction/gc.rs`,
//! which keeps what a read could still need). [`walk_family`] goes over one family's
//! entries of one row in internal order and reports what decides visibility:
//!
//! 1. entries written before the family was (re)created (`seq < created_seq`) are ignored;
//! 2. the newest family marker covers every entry of the family with a smaller sequence
//!    number, and a column's newest column marker (when newer) every version of the column;
//! 3. at one timestamp the entry with the largest sequence number decides: a put is a version,
//!    a single-version delete hides that timestamp;
//! 4. expired cells (older than the family's TTL cut-off, [`FamilyRules::expire_before`]) are
//!    invisible and do not count as versions;
//! 5. a column keeps its newest `max_versions` versions.
//!
//! A change to these rules (and to the TTL cut-off) is made here, once, and reaches reads and
//! GC alike. This module must never do I/O or decide what to do with what it reports.

use crate::cell::{CellKind, InternalCell, SeqNo, Timestamp};
use crate::table::FamilySchema;

/// The first timestamp that has not expired under a TTL of `ttl_seconds` at `now`: cells with
/// `ts` below it are expired. `None` for no TTL (0).
pub(crate) fn ttl_cutoff(ttl_seconds: u64, now: Timestamp) -> Option<Timestamp> {
    (ttl_seconds > 0).then(|| now.saturating_sub((ttl_seconds as i64).saturating_mul(1_000_000)))
}

/// One family's rules at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FamilyRules {
    /// Entries with a smaller sequence number belong to an earlier family of the same name.
    pub created_seq: SeqNo,
    /// Versions kept per column (at least 1).
    pub keep_versions: usize,
    /// Cells with `ts < expire_before` are expired.
    pub expire_before: Option<Timestamp>,
}

impl FamilyRules {
    /// The rules of family `f` at time `now` (microseconds).
    pub fn new(f: &FamilySchema, now: Timestamp) -> FamilyRules {
        FamilyRules {
            created_seq: f.created_seq,
            keep_versions: f.options.max_versions.max(1) as usize,
            expire_before: ttl_cutoff(f.options.ttl_seconds, now),
        }
    }

    /// Whether `c` belongs to this family (not to an earlier one of the same name).
    #[inline]
    fn is_live(&self, c: &InternalCell) -> bool {
        c.seq >= self.created_seq
    }

    /// Whether a cell written at `ts` has expired.
    #[inline]
    fn is_expired(&self, ts: Timestamp) -> bool {
        self.expire_before.is_some_and(|e| ts < e)
    }
}

/// What [`walk_family`] found, in internal order.
#[derive(Debug)]
pub(crate) enum Visit<'a> {
    /// The family's newest live family marker (once, before every column).
    FamilyMarker(&'a InternalCell),
    /// A column starts (its qualifier).
    Column(&'a [u8]),
    /// The column's newest live column marker, when it is newer than the family marker.
    ColumnMarker(&'a InternalCell),
    /// A single-version delete that decides its timestamp and no marker covers.
    CellDelete(&'a InternalCell),
    /// A visible version: the put that decides its timestamp, neither deleted nor expired, and
    /// among the column's newest `keep_versions` (`index` 0 is the newest).
    Version {
        /// The put.
        cell: &'a InternalCell,
        /// Its place among the column's kept versions.
        index: usize,
    },
}

/// What the visitor wants next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Go on with this column.
    Continue,
    /// Skip the rest of this column.
    SkipColumn,
}

/// Go over `entries` (one family of one row, internal order) under `rules`, reporting each
/// [`Visit`] to `visit` in order.
pub(crate) fn walk_family<'a>(
    entries: &'a [InternalCell],
    rules: &FamilyRules,
    mut visit: impl FnMut(Visit<'a>) -> Step,
) {
    let mut i = 0;
    let mut family_marker: Option<&InternalCell> = None;
    while let Some(c) = entries.get(i)
        && c.kind == CellKind::DeleteFamily
    {
        if rules.is_live(c) && family_marker.is_none_or(|m| c.seq > m.seq) {
            family_marker = Some(c);
        }
        i += 1;
    }
    let family_delete = family_marker.map_or(0, |m| m.seq);
    if let Some(m) = family_marker {
        visit(Visit::FamilyMarker(m));
    }
    while let Some(first) = entries.get(i) {
        let qual = &first.qualifier;
        let rest = entries.get(i..).unwrap_or_default();
        let len = rest
            .iter()
            .position(|c| c.qualifier != *qual)
            .unwrap_or(rest.len());
        let column = rest.get(..len).unwrap_or_default();
        i += len;
        if visit(Visit::Column(qual)) == Step::SkipColumn {
            continue;
        }
        walk_column(column, rules, family_delete, &mut visit);
    }
}

/// The column part of [`walk_family`]: markers, then one decision per timestamp.
fn walk_column<'a>(
    column: &'a [InternalCell],
    rules: &FamilyRules,
    family_delete: SeqNo,
    visit: &mut impl FnMut(Visit<'a>) -> Step,
) {
    let mut j = 0;
    let mut column_marker: Option<&InternalCell> = None;
    while let Some(c) = column.get(j)
        && c.kind == CellKind::DeleteColumn
    {
        if rules.is_live(c) && column_marker.is_none_or(|m| c.seq > m.seq) {
            column_marker = Some(c);
        }
        j += 1;
    }
    let mut delete_seq = family_delete;
    if let Some(m) = column_marker
        && m.seq > family_delete
    {
        delete_seq = m.seq;
        if visit(Visit::ColumnMarker(m)) == Step::SkipColumn {
            return;
        }
    }
    let mut kept = 0usize;
    while let Some(first) = column.get(j) {
        let ts = first.ts;
        let group = column.get(j..).unwrap_or_default();
        let len = group.iter().take_while(|c| c.ts == ts).count();
        // The newest live write at this timestamp decides it.
        let top = group.iter().take(len).find(|c| rules.is_live(c));
        j += len;
        let Some(top) = top else { continue };
        if top.seq <= delete_seq {
            continue;
        }
        let step = match top.kind {
            CellKind::DeleteCell => visit(Visit::CellDelete(top)),
            CellKind::Put => {
                if rules.is_expired(ts) || kept >= rules.keep_versions {
                    continue;
                }
                kept += 1;
                visit(Visit::Version {
                    cell: top,
                    index: kept - 1,
                })
            }
            CellKind::DeleteColumn | CellKind::DeleteFamily => Step::Continue,
        };
        if step == Step::SkipColumn {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::MARKER_TS;

    fn e(kind: CellKind, q: &str, ts: i64, seq: u64) -> InternalCell {
        crate::cell::test_entry(kind, "f", q, ts, seq, "")
    }

    fn rules(keep: usize, expire_before: Option<Timestamp>, created_seq: SeqNo) -> FamilyRules {
        FamilyRules {
            created_seq,
            keep_versions: keep,
            expire_before,
        }
    }

    /// Every visit as text.
    fn walk(mut v: Vec<InternalCell>, r: FamilyRules) -> Vec<String> {
        v.sort();
        let mut out = Vec::new();
        walk_family(&v, &r, |visit| {
            out.push(match visit {
                Visit::FamilyMarker(c) => format!("family@{}", c.seq),
                Visit::Column(q) => format!("col {}", String::from_utf8_lossy(q)),
                Visit::ColumnMarker(c) => format!("column@{}", c.seq),
                Visit::CellDelete(c) => format!("delete ts{}@{}", c.ts, c.seq),
                Visit::Version { cell, index } => format!("v{index} ts{}@{}", cell.ts, cell.seq),
            });
            Step::Continue
        });
        out
    }

    #[test]
    fn ttl_cutoff_is_none_without_ttl_and_saturates() {
        assert_eq!(ttl_cutoff(0, 1_000), None);
        assert_eq!(ttl_cutoff(2, 5_000_000), Some(3_000_000));
        assert_eq!(ttl_cutoff(u64::MAX / 2, i64::MIN + 1), Some(i64::MIN));
    }

    #[test]
    fn markers_cover_older_writes_and_the_newest_write_decides_a_timestamp() {
        let got = walk(
            vec![
                e(CellKind::DeleteFamily, "", MARKER_TS, 3),
                e(CellKind::DeleteFamily, "", MARKER_TS, 5),
                e(CellKind::Put, "a", 10, 4), // covered by the family marker at 5
                e(CellKind::Put, "a", 9, 6),
                e(CellKind::DeleteColumn, "b", MARKER_TS, 4), // older than the family marker
                e(CellKind::DeleteColumn, "c", MARKER_TS, 8),
                e(CellKind::Put, "c", 7, 7), // covered by the column marker at 8
                e(CellKind::Put, "c", 6, 9),
                e(CellKind::Put, "d", 5, 10),
                e(CellKind::DeleteCell, "d", 5, 11), // decides ts 5
                e(CellKind::Put, "d", 4, 13),
                e(CellKind::DeleteCell, "d", 4, 12), // older than the put at ts 4
            ],
            rules(10, None, 0),
        );
        assert_eq!(
            got,
            vec![
                "family@5",
                "col a",
                "v0 ts9@6",
                "col b",
                "col c",
                "column@8",
                "v0 ts6@9",
                "col d",
                "delete ts5@11",
                "v0 ts4@13",
            ]
        );
    }

    #[test]
    fn versions_are_capped_expired_ones_do_not_count_and_old_families_are_ignored() {
        let cells = vec![
            e(CellKind::Put, "a", 50, 1), // before the family's re-creation at 2
            e(CellKind::Put, "a", 40, 2),
            e(CellKind::Put, "a", 30, 3),
            e(CellKind::Put, "a", 20, 4),
            e(CellKind::DeleteCell, "a", 15, 6), // reported even past the version cap
            e(CellKind::Put, "a", 5, 5),         // expired
        ];
        assert_eq!(
            walk(cells.clone(), rules(2, Some(10), 2)),
            vec!["col a", "v0 ts40@2", "v1 ts30@3", "delete ts15@6"]
        );
        assert_eq!(
            walk(cells, rules(10, None, 0)),
            vec![
                "col a",
                "v0 ts50@1",
                "v1 ts40@2",
                "v2 ts30@3",
                "v3 ts20@4",
                "delete ts15@6",
                "v4 ts5@5"
            ]
        );
    }

    #[test]
    fn skipping_a_column_moves_to_the_next_one() {
        let mut v = vec![
            e(CellKind::Put, "a", 3, 1),
            e(CellKind::Put, "a", 2, 2),
            e(CellKind::Put, "b", 1, 3),
        ];
        v.sort();
        let mut seen = Vec::new();
        walk_family(&v, &rules(5, None, 0), |visit| match visit {
            Visit::Version { cell, .. } => {
                seen.push(cell.seq);
                Step::SkipColumn
            }
            _ => Step::Continue,
        });
        assert_eq!(seen, vec![1, 3]);
    }
}
