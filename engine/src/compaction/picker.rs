//! The compaction picker: which of a table's files to merge next, as a pure function of the
//! files' summaries (manifest records and SSTable properties), the oldest unflushed sequence
//! number, the schema and the clock. Policy (docs/design/compaction.md): size-tiered, files
//! of similar size are merged once `TIER_TRIGGER` of them overlap; small files that do not
//! overlap are merged with their neighbours in key order once `SMALL_FILES_TRIGGER` of them
//! pile up; a file is rewritten on its own only when the rewrite is sure to drop something
//! (a delete marker below the floor, or every put of a family past that family's own TTL),
//! so the output is never picked again for the same reason.
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
/// A file smaller than this is "small": a quarter of a compaction output's target size, so
/// a merge of small files makes at most one small file (its last output).
const SMALL_FILE_BYTES: u64 = 32 * 1024 * 1024;
/// Small files are merged, overlapping or not, once a table has this many.
const SMALL_FILES_TRIGGER: usize = 8;

/// Size class of a file: files within a factor of four share a tier.
fn tier(size: u64) -> u32 {
    let mb = (size / (1024 * 1024)).max(1);
    (63 - mb.leading_zeros()) / 2
}

/// Choose files to merge, as indexes into `files` (in merge order), or None.
///
/// Large files are merged only when their key ranges overlap another file of their tier:
/// the disjoint files of one bulk load or of one compaction's output form a single sorted
/// run, and merging them would rewrite data for nothing. Small disjoint files (append-only
/// or time-ordered keys: every flush covers new keys) are merged with their neighbours, so a
/// table's file count stays bounded whatever its keys (review M1). Every rule makes progress
/// that its own output cannot undo, so compaction never loops (review M3).
pub(crate) fn pick(
    files: &[FileSummary<'_>],
    min_unflushed: SeqNo,
    schema: &[FamilySchema],
    now: Timestamp,
) -> Option<Vec<usize>> {
    overlapping_tier(files)
        .or_else(|| small_files(files))
        .or_else(|| {
            (0..files.len())
                .find(|&i| worth_rewriting_alone(files, i, min_unflushed, schema, now))
                .map(|i| vec![i])
        })
}

/// `TIER_TRIGGER` or more files of one tier that overlap another file of the tier, smallest
/// first.
fn overlapping_tier(files: &[FileSummary<'_>]) -> Option<Vec<usize>> {
    let mut by_tier: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, f) in files.iter().enumerate() {
        by_tier.entry(tier(f.meta.size)).or_default().push(i);
    }
    for members in by_tier.values() {
        let ranges: Vec<(&[u8], &[u8])> = members
            .iter()
            .filter_map(|&i| files.get(i))
            .map(key_range)
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
    None
}

fn key_range<'a>(f: &FileSummary<'a>) -> (&'a [u8], &'a [u8]) {
    (
        f.meta.smallest_row.as_slice(),
        f.meta.largest_row.as_slice(),
    )
}

/// Once the table has `SMALL_FILES_TRIGGER` small files: the longest stretch of small files
/// that are neighbours in key order (so the output covers no key range another file sits
/// in the middle of), or, when no two small files are neighbours, the first small files in
/// key order; at most `MAX_INPUTS`. The merge leaves at most one small file, so the count
/// of small files drops with every such compaction.
fn small_files(files: &[FileSummary<'_>]) -> Option<Vec<usize>> {
    let is_small = |i: &usize| {
        files
            .get(*i)
            .is_some_and(|f| f.meta.size < SMALL_FILE_BYTES)
    };
    if (0..files.len()).filter(is_small).count() < SMALL_FILES_TRIGGER {
        return None;
    }
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| files.get(i).map(key_range));
    let mut best: &[usize] = &[];
    for stretch in order.split(|i| !is_small(i)) {
        if stretch.len() > best.len() {
            best = stretch;
        }
    }
    let chosen: Vec<usize> = if best.len() >= 2 {
        best.iter().copied().take(MAX_INPUTS).collect()
    } else {
        order
            .into_iter()
            .filter(is_small)
            .take(MAX_INPUTS)
            .collect()
    };
    Some(chosen)
}

/// Whether rewriting file `i` alone is sure to drop something: it is mostly delete markers
/// and one of them is below the floor (older than everything outside it, so GC drops it),
/// or every put of one of its families is past that family's TTL (GC drops expired puts at
/// any height), or it holds cells of a family the table no longer has. The output then has
/// no such marker, no such family's puts, so it is not picked again.
fn worth_rewriting_alone(
    files: &[FileSummary<'_>],
    i: usize,
    min_unflushed: SeqNo,
    schema: &[FamilySchema],
    now: Timestamp,
) -> bool {
    let Some(f) = files.get(i) else {
        return false;
    };
    let m = f.meta;
    let mostly_markers = m.cells > 0 && (m.deletes as f64) > TOMBSTONE_SHARE * (m.cells as f64);
    if mostly_markers && let Some((oldest_marker, _)) = f.markers {
        let floor = marker_floor(
            files
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, g)| g),
            min_unflushed,
        );
        if oldest_marker < floor {
            return true;
        }
    }
    f.families.iter().any(|fp| {
        let has_puts = fp.cells > fp.deletes;
        match schema.iter().find(|s| *s.name == *fp.name) {
            None => fp.cells > 0,
            Some(s) => {
                has_puts
                    && ttl_cutoff(s.options.ttl_seconds, now).is_some_and(|e| fp.max_put_ts < e)
            }
        }
    })
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
    use crate::sstable::FamilyProperties;

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

    /// A family's statistics in a file: `cells` entries of which `deletes` markers, newest
    /// put at `max_put_ts`.
    fn fam(i: usize, cells: u64, deletes: u64, max_put_ts: i64) -> FamilyProperties {
        FamilyProperties {
            name: Arc::from(format!("f{i}")),
            cells,
            deletes,
            max_put_ts,
            ..FamilyProperties::default()
        }
    }

    #[test]
    fn a_file_is_rewritten_for_expiry_only_when_a_family_of_it_expired_under_its_own_ttl() {
        let now = 10_000_000;
        let meta = file(1, MB, ("a", "b"), 1);
        let pick_with = |families: &[FamilyProperties], ttls: &[u64]| {
            let s = FileSummary {
                families,
                ..FileSummary::from_meta(&meta)
            };
            pick(&[s], u64::MAX, &schema(ttls), now)
        };
        // Family 0 (TTL 5 s) has only puts from 1 ms: they all expire.
        let old_f0 = [fam(0, 10, 0, 1_000), fam(1, 0, 0, i64::MIN)];
        assert_eq!(pick_with(&old_f0, &[5, 0]), Some(vec![0]));
        assert_eq!(pick_with(&old_f0, &[100, 0]), None, "not yet expired");
        // Review M3 (expired variant): family 1 has no TTL and recent puts, family 0 a short
        // TTL and no puts left (what the rewrite above leaves): the file is not picked
        // again, although the table's shortest TTL is past the file's newest timestamp.
        let rewritten = [fam(0, 0, 0, i64::MIN), fam(1, 10, 0, 9_000_000)];
        assert_eq!(pick_with(&rewritten, &[5, 0]), None);
        let rewritten_long_ttl = [fam(0, 0, 0, i64::MIN), fam(1, 10, 0, 1_000)];
        assert_eq!(pick_with(&rewritten_long_ttl, &[5, 3600]), None);
        // A family that holds only markers has nothing to expire.
        assert_eq!(pick_with(&[fam(0, 4, 4, i64::MIN)], &[5]), None);
        // Cells of a family the table no longer has go.
        assert_eq!(pick_with(&[fam(7, 3, 0, 1_000)], &[0]), Some(vec![0]));
        assert_eq!(pick_with(&[fam(7, 0, 0, i64::MIN)], &[0]), None);
    }

    #[test]
    fn a_file_of_markers_above_the_floor_is_not_rewritten_for_an_old_put() {
        // Review M3 (tombstone variant): the file's oldest entry is an old put (seq 1), below
        // the floor, but its markers (seq 10 to 20) are above it: a rewrite would keep every
        // marker and the output would be picked again.
        let mut f = file(1, MB, ("a", "b"), 1);
        f.max_seq = 20;
        f.deletes = 8;
        let other = file(2, MB, ("x", "y"), 5);
        let s = |markers| FileSummary {
            markers: Some(markers),
            ..FileSummary::from_meta(&f)
        };
        let pick_markers = |markers| {
            pick(
                &[s(markers), FileSummary::from_meta(&other)],
                u64::MAX,
                &schema(&[0]),
                0,
            )
        };
        assert_eq!(pick_markers((10, 20)), None);
        // One marker below the floor (the other file's oldest entry, 5): it can go.
        assert_eq!(pick_markers((3, 20)), Some(vec![0]));
    }

    #[test]
    fn small_disjoint_files_are_merged_with_their_neighbours() {
        // Review M1: time-ordered keys, each flush a new key range. Seven small files stay;
        // the eighth triggers a merge of the stretch of neighbours in key order.
        let small: Vec<FileMeta> = (0..8u64)
            .map(|i| {
                let k = format!("k{i}");
                let mut f = file(10 + i, MB, ("", ""), i);
                f.smallest_row = format!("{k}a").into_bytes();
                f.largest_row = format!("{k}z").into_bytes();
                f
            })
            .collect();
        assert_eq!(pick_of(&small[..7], u64::MAX, &[0], 0), None);
        let all: Vec<u64> = (10..18).collect();
        assert_eq!(pick_of(&small, u64::MAX, &[0], 0), Some(all));
        // A large file between k3 and k4 in key order splits the stretch: the longer side
        // (k4 to k7 and k9, five files) goes.
        let mut more = small.clone();
        more.push(file(99, 200 * MB, ("k3zz", "k3zz"), 50));
        more.push(file(30, MB, ("k9a", "k9z"), 60));
        assert_eq!(
            pick_of(&more, u64::MAX, &[0], 0),
            Some(vec![14, 15, 16, 17, 30])
        );
        // Large disjoint files are one sorted run: never merged for their number.
        let large: Vec<FileMeta> = (0..20u64)
            .map(|i| {
                let mut f = file(40 + i, 200 * MB, ("", ""), i);
                f.smallest_row = format!("k{i:02}a").into_bytes();
                f.largest_row = format!("k{i:02}z").into_bytes();
                f
            })
            .collect();
        assert_eq!(pick_of(&large, u64::MAX, &[0], 0), None);
        // Sixteen at most.
        let many: Vec<FileMeta> = (0..40u64)
            .map(|i| {
                let mut f = file(100 + i, MB, ("", ""), i);
                f.smallest_row = format!("k{i:02}a").into_bytes();
                f.largest_row = format!("k{i:02}z").into_bytes();
                f
            })
            .collect();
        let picked = pick_of(&many, u64::MAX, &[0], 0).expect("picked");
        assert_eq!(picked, (100..116).collect::<Vec<u64>>());
    }
}
