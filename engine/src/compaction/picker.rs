//! The compaction picker: which of a table's files to merge next, as a pure function of the
//! files' manifest records, the oldest unflushed sequence number, the schema and the clock.
//! Policy: size-tiered (docs/design/compaction.md): files of similar size are merged once
//! `TIER_TRIGGER` of them overlap; a file whose share of delete markers is high (and some
//! marker can go), or whose every value has outlived the table's shortest TTL, is rewritten
//! on its own so that deleted and cold data leave the disk.
//!
//! This module must never look at file contents or hold a lock.

use std::collections::BTreeMap;

use super::gc::marker_floor;
use super::summary::FileSummary;
use crate::cell::{SeqNo, Timestamp};
use crate::table::FamilySchema;
use crate::visibility::ttl_cutoff;

/// Files of one size tier merged together once this many pile up.
const TIER_TRIGGER: usize = 4;
/// At most this many files in one compaction.
const MAX_INPUTS: usize = 16;
/// A file whose delete markers exceed this share of its entries is rewritten.
const TOMBSTONE_SHARE: f64 = 0.3;

/// Size class of a file: files within a factor of four share a tier.
fn tier(size: u64) -> u32 {
    let mb = (size / (1024 * 1024)).max(1);
    (63 - mb.leading_zeros()) / 2
}

/// Choose files to merge, as indexes into `files` (in merge order), or None.
///
/// Only files whose key ranges overlap another file of their tier are merged: the disjoint
/// files of one bulk load or of one compaction's output form a single sorted run, and
/// merging them would rewrite data for nothing (and, for a compaction's own output, again and
/// again).
pub(crate) fn pick(
    files: &[FileSummary<'_>],
    min_unflushed: SeqNo,
    schema: &[FamilySchema],
    now: Timestamp,
) -> Option<Vec<usize>> {
    let mut by_tier: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, f) in files.iter().enumerate() {
        by_tier.entry(tier(f.meta.size)).or_default().push(i);
    }
    for members in by_tier.values() {
        let ranges: Vec<(&[u8], &[u8])> = members
            .iter()
            .filter_map(|&i| files.get(i))
            .map(|f| {
                (
                    f.meta.smallest_row.as_slice(),
                    f.meta.largest_row.as_slice(),
                )
            })
            .collect();
        let mut chosen: Vec<usize> = overlapping(&ranges)
            .into_iter()
            .filter_map(|k| members.get(k).copied())
            .collect();
        if chosen.len() >= TIER_TRIGGER {
            chosen.sort_by_key(|&i| files.get(i).map_or(0, |f| f.meta.size));
            chosen.truncate(MAX_INPUTS);
            return Some(chosen);
        }
    }
    // Files that are mostly delete markers, or entirely expired.
    let min_ttl = schema
        .iter()
        .map(|f| f.options.ttl_seconds)
        .min()
        .unwrap_or(0);
    let expire_before = ttl_cutoff(min_ttl, now);
    let floor_without = |i: usize| {
        marker_floor(
            files
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, g)| g),
            min_unflushed,
        )
    };
    for (i, f) in files.iter().enumerate() {
        let f = f.meta;
        // Rewriting alone helps only if some marker can go (it is older than everything
        // else) or some value has expired; otherwise the output would be picked again.
        let tombstones = f.cells > 0
            && (f.deletes as f64) > TOMBSTONE_SHARE * (f.cells as f64)
            && f.min_seq < floor_without(i);
        let expired = f.cells > f.deletes && expire_before.is_some_and(|e| f.max_ts < e);
        if tombstones || expired {
            return Some(vec![i]);
        }
    }
    None
}

/// Indexes of the ranges (inclusive `(smallest, largest)`) that overlap at least one other.
fn overlapping(ranges: &[(&[u8], &[u8])]) -> Vec<usize> {
    ranges
        .iter()
        .enumerate()
        .filter(|&(i, &(lo, hi))| {
            ranges
                .iter()
                .enumerate()
                .any(|(j, &(l, h))| j != i && lo <= h && l <= hi)
        })
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::manifest::FileMeta;
    use crate::options::FamilyOptions;

    const MB: u64 = 1024 * 1024;

    fn file(number: u64, size: u64, rows: (&str, &str), min_seq: u64) -> FileMeta {
        FileMeta {
            number,
            size,
            smallest_row: rows.0.as_bytes().to_vec(),
            largest_row: rows.1.as_bytes().to_vec(),
            min_seq,
            max_seq: min_seq,
            min_ts: 0,
            max_ts: 1_000,
            rows: 1,
            cells: 10,
            ..FileMeta::default()
        }
    }

    fn schema(ttls: &[u64]) -> Vec<FamilySchema> {
        ttls.iter()
            .enumerate()
            .map(|(i, &ttl)| FamilySchema {
                name: Arc::from(format!("f{i}")),
                options: FamilyOptions {
                    ttl_seconds: ttl,
                    ..FamilyOptions::new(format!("f{i}"))
                },
                created_seq: 0,
            })
            .collect()
    }

    fn pick_of(
        files: &[FileMeta],
        min_unflushed: SeqNo,
        ttls: &[u64],
        now: i64,
    ) -> Option<Vec<u64>> {
        let refs: Vec<FileSummary<'_>> = files.iter().map(FileSummary::from_meta).collect();
        pick(&refs, min_unflushed, &schema(ttls), now)
            .map(|v| v.into_iter().map(|i| files[i].number).collect())
    }

    #[test]
    fn only_overlapping_files_are_merged() {
        let r = |a: &'static str, b: &'static str| (a.as_bytes(), b.as_bytes());
        // A sorted run of disjoint files (a bulk load or a compaction's output).
        let run = [r("a", "c"), r("d", "f"), r("g", "i"), r("j", "l")];
        assert!(overlapping(&run).is_empty());
        // Two flushes over the same keys overlap each other and two of the run's files.
        let mixed = [
            r("a", "c"),
            r("d", "f"),
            r("g", "i"),
            r("b", "e"),
            r("e", "e"),
        ];
        assert_eq!(overlapping(&mixed), vec![0, 1, 3, 4]);
        // Touching at one key counts as overlapping.
        assert_eq!(overlapping(&[r("a", "c"), r("c", "d")]), vec![0, 1]);
    }

    #[test]
    fn tiers_group_files_within_a_factor_of_four() {
        assert_eq!(tier(0), 0);
        assert_eq!(tier(3 * MB), 0);
        assert_eq!(tier(4 * MB), 1);
        assert_eq!(tier(15 * MB), 1);
        assert_eq!(tier(16 * MB), 2);
    }

    #[test]
    fn four_overlapping_files_of_a_tier_are_merged_smallest_first() {
        let files = [
            file(1, 3 * MB, ("a", "m"), 1),
            file(2, MB, ("b", "z"), 2),
            file(3, 100 * MB, ("a", "z"), 3), // another tier
            file(4, 2 * MB, ("c", "d"), 4),
        ];
        assert_eq!(
            pick_of(&files, u64::MAX, &[0], 0),
            None,
            "three are not enough"
        );
        let mut more = files.to_vec();
        more.push(file(5, 2 * MB, ("x", "y"), 5));
        more.push(file(6, 2 * MB, ("0", "1"), 6)); // disjoint from every other: not merged
        assert_eq!(pick_of(&more, u64::MAX, &[0], 0), Some(vec![2, 4, 5, 1]));
    }

    #[test]
    fn a_file_of_mostly_markers_is_rewritten_only_if_a_marker_can_go() {
        let mut f = file(1, MB, ("a", "b"), 5);
        f.deletes = 4;
        let other = file(2, MB, ("x", "y"), 9);
        // Its oldest entry (5) is older than everything else (9, and the memtables at 20).
        assert_eq!(
            pick_of(&[f.clone(), other.clone()], 20, &[0], 0),
            Some(vec![1])
        );
        // Something older remains outside (a memtable entry at 3): rewriting would keep all.
        assert_eq!(pick_of(&[f.clone(), other.clone()], 3, &[0], 0), None);
        f.deletes = 3; // 30% is not over the share
        assert_eq!(pick_of(&[f, other], 20, &[0], 0), None);
    }

    #[test]
    fn a_file_past_the_shortest_ttl_is_rewritten() {
        let now = 10_000_000;
        let f = file(1, MB, ("a", "b"), 1); // max_ts 1000 us
        assert_eq!(
            pick_of(std::slice::from_ref(&f), u64::MAX, &[5, 100], now),
            Some(vec![1])
        );
        assert_eq!(
            pick_of(std::slice::from_ref(&f), u64::MAX, &[100], now),
            None,
            "not yet expired"
        );
        // A family without TTL keeps the shortest TTL at 0: nothing counts as expired.
        assert_eq!(pick_of(&[f], u64::MAX, &[5, 0], now), None);
    }
}
