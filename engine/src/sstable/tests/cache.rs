//! The block cache serves the same cells as the file and is filled only as designed.

use std::collections::BTreeSet;
use std::ops::Bound;

use bytes::Bytes;

use super::*;
use crate::options::Compression;

#[test]
fn cached_reads_match_uncached_and_hit_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (path, cells) = small_table(dir.path(), Compression::Zstd(3));
    let cache = crate::cache::BlockCache::new(64 << 20);
    let plain = TableReader::open(&path, None).unwrap();
    let r = TableReader::open_with_cache(&path, None, Some(cache.clone())).unwrap();
    let rows: Vec<Bytes> = cells
        .iter()
        .map(|c| c.row.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for round in 0..2 {
        for row in &rows {
            assert_eq!(
                r.get_row(row, None).unwrap(),
                plain.get_row(row, None).unwrap()
            );
        }
        let s = r.read_stats();
        if round == 0 {
            assert!(s.cache_misses > 0);
        } else {
            // Second round: every block came from the cache.
            assert_eq!(s.cache_misses, cache.stats().inserts);
            assert!(s.cache_hits >= rows.len() as u64);
        }
    }
    let decoded_before: u64 = r.blocks_read().iter().map(|b| b.1).sum();
    for row in &rows {
        r.get_row(row, None).unwrap();
    }
    let decoded_after: u64 = r.blocks_read().iter().map(|b| b.1).sum();
    assert_eq!(decoded_before, decoded_after, "cached gets decoded blocks");
    assert!(cache.stats().bytes > 0 && cache.stats().entries > 0);
    // Iteration through the cached reader sees the same cells.
    assert_eq!(collect(r.iter(Bound::Unbounded, None).unwrap()), cells);
    // Bloom counters: a present row passes, absent rows are mostly ruled out.
    let before = r.read_stats();
    for i in 0..200 {
        r.get_row(format!("absent-{i}").as_bytes(), None).unwrap();
    }
    let after = r.read_stats();
    assert_eq!(after.bloom_checked - before.bloom_checked, 200);
    assert!(after.bloom_useful - before.bloom_useful >= 150, "{after:?}");
    assert!(after.bloom_useful <= after.bloom_checked);
    // Closing the reader (last clone) drops its blocks from the cache.
    drop(r);
    assert_eq!(cache.stats().entries, 0);
    assert_eq!(cache.stats().bytes, 0);
}

#[test]
fn whole_table_scan_fills_the_cache_with_only_its_first_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let (path, cells) = small_table(dir.path(), Compression::Zstd(3));
    let cache = crate::cache::BlockCache::new(64 << 20);
    let r = TableReader::open_with_cache(&path, None, Some(cache.clone())).unwrap();
    assert_eq!(collect(r.iter(Bound::Unbounded, None).unwrap()), cells);
    let total_blocks: u64 = r.properties().families.iter().map(|f| f.blocks).sum();
    let families = r.properties().families.len() as u64;
    let inserted = cache.stats().inserts;
    assert!(total_blocks > 3 * families * u64::from(super::table_file::SCAN_FILL_BLOCKS));
    assert!(inserted <= (families + 1) * u64::from(super::table_file::SCAN_FILL_BLOCKS) + 1);
    assert!(inserted > 0);
}

#[test]
fn verify_checksums_reads_the_file_not_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (path, cells) = small_table(dir.path(), Compression::None);
    let cache = crate::cache::BlockCache::new(64 << 20);
    let r = TableReader::open_with_cache(&path, None, Some(cache.clone())).unwrap();
    r.get_row(&cells[0].row, None).unwrap();
    let hits = r.read_stats().cache_hits;
    let decoded: u64 = r.blocks_read().iter().map(|b| b.1).sum();
    r.verify_checksums().unwrap();
    assert_eq!(r.read_stats().cache_hits, hits);
    let total_blocks: u64 = r.properties().families.iter().map(|f| f.blocks).sum();
    assert_eq!(
        r.blocks_read().iter().map(|b| b.1).sum::<u64>(),
        decoded + total_blocks
    );
}
