//! The per-family visibility rules of BRIEF section 3, written once and used by both reads
//! (`read.rs`, which returns what they make visible) and compaction GC (`compaction/gc.rs`,
//! which keeps what a read could still need). The rules, for one column of one row, are a
//! replay of its history in write order (sequence numbers), as HBase's
//! `NEW_VERSION_BEHAVIOR` counts versions (docs/design/visibility.md states them in full):
//!
//! 1. entries written before the family was (re)created (`seq < created_seq`) are ignored;
//! 2. a put joins the column's versions; one written earlier at the same timestamp leaves;
//! 3. a column keeps at most `max_versions` versions: when a put makes one too many, the one
//!    with the smallest timestamp leaves, *for good* (it is masked: a later delete of a newer
//!    version never brings it back);
//! 4. a delete removes the versions it covers that are there when it is written (written
//!    before it): one version (`DeleteCell`), every version (`DeleteColumn`, `DeleteFamily`),
//!    or every version with a timestamp at or before its own (`DeleteColumnUpTo`,
//!    `DeleteFamilyUpTo`); it has no effect on later writes;
//! 5. the versions left at the end, minus those past the family's TTL cut-off
//!    ([`FamilyRules::expire_before`]), are what a read sees, newest timestamp first.
//!
//! Because a version that leaves never returns, compaction may drop it: what a read returns
//! does not depend on whether a compaction ran. A change to these rules (and to the TTL
//! cut-off) is made here, once, and reaches reads and GC alike. This module must never do
//! I/O or decide what to do with what it reports.

use std::collections::BTreeMap;

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
    pub fn is_live(&self, c: &InternalCell) -> bool {
        c.seq >= self.created_seq
    }

    /// Whether a cell written at `ts` has expired.
    #[inline]
    pub fn is_expired(&self, ts: Timestamp) -> bool {
        self.expire_before.is_some_and(|e| ts < e)
    }
}

/// Split one family's entries (one row, internal order) into its family-level markers (they
/// sort first) and its column entries.
pub(crate) fn split_family(entries: &[InternalCell]) -> (&[InternalCell], &[InternalCell]) {
    let n = entries.iter().take_while(|c| c.kind.rank() == 0).count();
    entries.split_at(n)
}

/// The columns of one family's column entries (internal order): one slice per qualifier.
pub(crate) fn columns(entries: &[InternalCell]) -> Columns<'_> {
    Columns { rest: entries }
}

/// Iterator of [`columns`].
pub(crate) struct Columns<'a> {
    rest: &'a [InternalCell],
}

impl<'a> Iterator for Columns<'a> {
    type Item = &'a [InternalCell];

    fn next(&mut self) -> Option<&'a [InternalCell]> {
        let first = self.rest.first()?;
        let len = self
            .rest
            .iter()
            .position(|c| c.qualifier != first.qualifier)
            .unwrap_or(self.rest.len());
        let (column, rest) = self.rest.split_at(len);
        self.rest = rest;
        Some(column)
    }
}

/// Whether a delete marker may decide some version of `column`: one of its own markers, or a
/// live family marker.
fn has_markers(
    column: &[InternalCell],
    family_markers: &[InternalCell],
    rules: &FamilyRules,
) -> bool {
    family_markers.iter().any(|m| rules.is_live(m))
        || column
            .iter()
            .any(|c| c.kind != CellKind::Put && rules.is_live(c))
}

/// The visible versions of one column (`column`: its entries in internal order;
/// `family_markers`: its family's markers in that row), newest timestamp first, into `out`.
pub(crate) fn visible_versions<'a>(
    column: &'a [InternalCell],
    family_markers: &'a [InternalCell],
    rules: &FamilyRules,
    out: &mut Vec<&'a InternalCell>,
) {
    out.clear();
    if has_markers(column, family_markers, rules) {
        let events = write_order(column.iter().chain(family_markers), rules);
        out.extend(replay(&events, rules, false).live.values().rev());
    } else {
        put_versions(column, |c| (c.ts, c.seq), rules, |c| out.push(c));
    }
    // Expired versions have the smallest timestamps: dropping them last changes no count.
    out.retain(|c| !rules.is_expired(c.ts));
}

/// The visible versions of one column that has only puts and no live delete marker of its
/// family in the row (`column`: its entries in internal order, of any cell type, `ts_seq`
/// their timestamp and sequence number), newest timestamp first, each handed to `visible`.
/// What [`visible_versions`] gives for such a column (it calls this), for callers holding
/// borrowed views of a file's cells instead of entries (the scans' file walks and row merge,
/// `ReadPlan::resolve_views`).
#[inline]
pub(crate) fn put_versions<'a, T>(
    column: &'a [T],
    ts_seq: impl Fn(&T) -> (Timestamp, SeqNo),
    rules: &FamilyRules,
    mut visible: impl FnMut(&'a T),
) {
    // Without deletes the replay keeps the newest write of each of the `keep_versions`
    // newest timestamps: internal order (timestamp, then sequence number, descending) gives
    // them in one pass. Expired versions have the smallest timestamps: they count, and are
    // only not handed out.
    let mut last_ts = None;
    let mut kept = 0;
    for c in column {
        let (ts, seq) = ts_seq(c);
        if seq < rules.created_seq || last_ts == Some(ts) {
            continue;
        }
        if kept == rules.keep_versions {
            break;
        }
        last_ts = Some(ts);
        kept += 1;
        if !rules.is_expired(ts) {
            visible(c);
        }
    }
}

/// Whether the one entry a column has in a row, a put, with no delete marker of its family
/// in that row, is visible: it is the column's only version (within any `max_versions`)
/// unless it belongs to an earlier family of the name (rule 1) or has expired (rule 5). The
/// answer [`visible_versions`] gives for such a column, without building its entries
/// (the aggregations' counting pass over a file's blocks).
#[inline]
pub(crate) fn sole_put_visible(rules: &FamilyRules, seq: SeqNo, ts: Timestamp) -> bool {
    seq >= rules.created_seq && !rules.is_expired(ts)
}

/// The live entries among `entries` in write order: by sequence number, puts before deletes
/// at one sequence number (only an ingested file, whose cells share one, can hold both; its
/// deletes then cover its puts).
pub(crate) fn write_order<'a>(
    entries: impl Iterator<Item = &'a InternalCell>,
    rules: &FamilyRules,
) -> Vec<&'a InternalCell> {
    let mut v: Vec<&InternalCell> = entries.filter(|c| rules.is_live(c)).collect();
    v.sort_by_key(|c| (c.seq, c.kind != CellKind::Put));
    v
}

/// The outcome of replaying one column's history.
#[derive(Debug, Default)]
pub(crate) struct Replay<'a> {
    /// The versions at the end, by timestamp (at most `keep_versions`; expired ones
    /// included).
    pub live: BTreeMap<Timestamp, &'a InternalCell>,
    /// Puts that left by rule 2 or 3 (replaced at their timestamp, or one too many), when
    /// asked for.
    pub masked: Vec<&'a InternalCell>,
}

/// Replay `events` (one column's entries and its family's markers, in [`write_order`])
/// under rules 2 to 4 of the module docs.
pub(crate) fn replay<'a>(
    events: &[&'a InternalCell],
    rules: &FamilyRules,
    track_masked: bool,
) -> Replay<'a> {
    let mut r = Replay::default();
    for &c in events {
        match c.kind {
            CellKind::Put => {
                let replaced = r.live.insert(c.ts, c);
                let dropped = if r.live.len() > rules.keep_versions {
                    r.live.pop_first().map(|(_, m)| m)
                } else {
                    None
                };
                if track_masked {
                    r.masked.extend(replaced.into_iter().chain(dropped));
                }
            }
            CellKind::DeleteCell => {
                r.live.remove(&c.ts);
            }
            CellKind::DeleteColumn | CellKind::DeleteFamily => r.live.clear(),
            CellKind::DeleteColumnUpTo | CellKind::DeleteFamilyUpTo => {
                // Keep the versions newer than the bound.
                r.live = r.live.split_off(&c.ts.saturating_add(1));
            }
        }
    }
    r
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

    /// Every column's visible versions as `q:ts@seq`.
    fn visible(mut v: Vec<InternalCell>, r: FamilyRules) -> Vec<String> {
        v.sort();
        let (markers, cols) = split_family(&v);
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for column in columns(cols) {
            visible_versions(column, markers, &r, &mut buf);
            for c in &buf {
                out.push(format!(
                    "{}:{}@{}",
                    String::from_utf8_lossy(&c.qualifier),
                    c.ts,
                    c.seq
                ));
            }
        }
        out
    }

    #[test]
    fn ttl_cutoff_is_none_without_ttl_and_saturates() {
        assert_eq!(ttl_cutoff(0, 1_000), None);
        assert_eq!(ttl_cutoff(2, 5_000_000), Some(3_000_000));
        assert_eq!(ttl_cutoff(u64::MAX / 2, i64::MIN + 1), Some(i64::MIN));
    }

    #[test]
    fn deletes_cover_only_earlier_writes_and_the_newest_write_decides_a_timestamp() {
        let got = visible(
            vec![
                e(CellKind::DeleteFamily, "", MARKER_TS, 3),
                e(CellKind::DeleteFamily, "", MARKER_TS, 5),
                e(CellKind::Put, "a", 10, 4), // covered by the family marker at 5
                e(CellKind::Put, "a", 9, 6),
                e(CellKind::DeleteColumn, "b", MARKER_TS, 4),
                e(CellKind::DeleteColumn, "c", MARKER_TS, 8),
                e(CellKind::Put, "c", 7, 7), // covered by the column marker at 8
                e(CellKind::Put, "c", 6, 9),
                e(CellKind::Put, "d", 5, 10),
                e(CellKind::DeleteCell, "d", 5, 11), // deletes ts 5
                e(CellKind::Put, "d", 4, 13),
                e(CellKind::DeleteCell, "d", 4, 12), // older than the put at ts 4
            ],
            rules(10, None, 0),
        );
        assert_eq!(got, vec!["a:9@6", "c:6@9", "d:4@13"]);
    }

    #[test]
    fn a_version_beyond_the_limit_never_comes_back() {
        // max_versions 2: ts 1 leaves when ts 3 arrives; deleting ts 3 later does not bring it
        // back (HBase NEW_VERSION_BEHAVIOR), but a version written after the delete counts.
        let mut cells = vec![
            e(CellKind::Put, "a", 1, 1),
            e(CellKind::Put, "a", 2, 2),
            e(CellKind::Put, "a", 3, 3),
            e(CellKind::DeleteCell, "a", 3, 4),
        ];
        assert_eq!(visible(cells.clone(), rules(2, None, 0)), vec!["a:2@2"]);
        // Written in the other order, ts 1 was never one too many: it stays.
        let reordered = vec![
            e(CellKind::Put, "a", 3, 1),
            e(CellKind::DeleteCell, "a", 3, 2),
            e(CellKind::Put, "a", 2, 3),
            e(CellKind::Put, "a", 1, 4),
        ];
        assert_eq!(
            visible(reordered, rules(2, None, 0)),
            vec!["a:2@3", "a:1@4"]
        );
        cells.push(e(CellKind::Put, "a", 0, 5));
        assert_eq!(visible(cells, rules(2, None, 0)), vec!["a:2@2", "a:0@5"]);
    }

    #[test]
    fn up_to_deletes_cover_earlier_versions_at_or_before_their_timestamp() {
        let got = visible(
            vec![
                e(CellKind::Put, "a", 7, 1),
                e(CellKind::Put, "a", 5, 2),
                e(CellKind::Put, "a", 3, 3),
                e(CellKind::DeleteColumnUpTo, "a", 5, 4), // ts 5 and 3 go, 7 stays
                e(CellKind::Put, "a", 4, 5),              // written after: visible
                e(CellKind::Put, "b", 9, 6),
                e(CellKind::Put, "b", 2, 7),
                e(CellKind::DeleteFamilyUpTo, "", 2, 8), // b:2 goes, newer ones stay
                e(CellKind::Put, "b", 1, 9),
            ],
            rules(10, None, 0),
        );
        assert_eq!(got, vec!["a:7@1", "a:4@5", "b:9@6", "b:1@9"]);
    }

    #[test]
    fn expired_and_old_family_entries_are_invisible() {
        let cells = vec![
            e(CellKind::Put, "a", 50, 1), // before the family's re-creation at 2
            e(CellKind::Put, "a", 40, 2),
            e(CellKind::Put, "a", 30, 3),
            e(CellKind::Put, "a", 20, 4),
            e(CellKind::DeleteCell, "a", 15, 6),
            e(CellKind::Put, "a", 5, 5), // expired
        ];
        assert_eq!(
            visible(cells.clone(), rules(2, Some(10), 2)),
            vec!["a:40@2", "a:30@3"]
        );
        assert_eq!(
            visible(cells.clone(), rules(10, Some(10), 2)),
            vec!["a:40@2", "a:30@3", "a:20@4"]
        );
        assert_eq!(
            visible(cells, rules(10, None, 0)),
            vec!["a:50@1", "a:40@2", "a:30@3", "a:20@4", "a:5@5"]
        );
    }

    #[test]
    fn the_fast_path_agrees_with_the_replay() {
        // Columns without markers take the one-pass path; the replay is the definition.
        let mut rng = 0x1234_5678_u64;
        let mut next = |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        for _ in 0..500 {
            let keep = 1 + next(4) as usize;
            let r = rules(keep, None, next(3));
            let mut v: Vec<InternalCell> = (0..next(12))
                .map(|seq| e(CellKind::Put, "a", next(6) as i64, seq))
                .collect();
            v.sort();
            let mut fast = Vec::new();
            visible_versions(&v, &[], &r, &mut fast);
            let events = write_order(v.iter(), &r);
            let slow: Vec<&InternalCell> = replay(&events, &r, false)
                .live
                .values()
                .rev()
                .copied()
                .collect();
            assert_eq!(fast, slow, "{v:?} keep {keep}");
        }
    }

    #[test]
    fn a_sole_put_is_visible_exactly_when_visible_versions_keeps_it() {
        for created in [0, 5, 6, 9] {
            for expire in [None, Some(9), Some(10), Some(11)] {
                for keep in [1, 3] {
                    let r = rules(keep, expire, created);
                    let put = e(CellKind::Put, "a", 10, 6);
                    let mut out = Vec::new();
                    visible_versions(std::slice::from_ref(&put), &[], &r, &mut out);
                    assert_eq!(
                        sole_put_visible(&r, put.seq, put.ts),
                        out.len() == 1,
                        "created {created}, expire {expire:?}, keep {keep}"
                    );
                }
            }
        }
    }
}
