//! Storage statistics of a table (DescribeTable): files and bytes per level and per family,
//! memtables, flush/compaction/stall counters, block cache and bloom filter counters; and the
//! store's own figures ([`StoreStats`]: what a metrics scrape needs besides the tables').
//! Read-only views; nothing here changes state.

use std::sync::atomic::Ordering;

use crate::cache::BlockCache;
use crate::events::TableEvent;
use crate::options::FamilyOptions;
use crate::table::Table;

/// Files and bytes at one level of a table's LSM tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LevelStats {
    /// Level number (0 = flushed and ingested files, 1 = output of compactions).
    pub level: u32,
    /// Files at this level.
    pub files: u64,
    /// Bytes of those files.
    pub bytes: u64,
}

/// Storage statistics of one family, summed over a table's files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FamilyStats {
    /// Family name.
    pub name: String,
    /// Entries in files (values and markers).
    pub cells: u64,
    /// Bytes on disk of this family's blocks.
    pub stored_bytes: u64,
    /// Bytes of those blocks before compression.
    pub raw_bytes: u64,
}

/// A table's storage statistics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Live SSTables.
    pub files: u64,
    /// Their total size.
    pub file_bytes: u64,
    /// Rows in files (rows present in several files count several times).
    pub file_rows: u64,
    /// Entries in files.
    pub file_cells: u64,
    /// Delete markers in files.
    pub file_deletes: u64,
    /// Bytes held by the table's memtables (active and frozen).
    pub memtable_bytes: u64,
    /// Frozen memtables waiting for flush.
    pub immutable_memtables: u64,
    /// Per-level files and bytes.
    pub levels: Vec<LevelStats>,
    /// Per-family figures.
    pub families: Vec<FamilyStats>,
    /// Flushes done since open.
    pub flushes: u64,
    /// Compactions done since open.
    pub compactions: u64,
    /// Bytes read by compactions since open.
    pub compaction_bytes_in: u64,
    /// Bytes written by compactions since open.
    pub compaction_bytes_out: u64,
    /// Times writers were stalled since open.
    pub write_stalls: u64,
    /// Data block reads of this table's live files served by the block cache (counted
    /// since each file was opened; files replaced by compaction take their counts along).
    pub block_cache_hits: u64,
    /// Data block reads of those files that read, checked and decoded the block.
    pub block_cache_misses: u64,
    /// Bloom filter checks of point gets on those files.
    pub bloom_checked: u64,
    /// Bloom checks that ruled a file out (a get that did not read the file).
    pub bloom_useful: u64,
    /// Bytes held by the block cache, shared by every table of the store.
    pub block_cache_bytes: u64,
    /// The block cache's budget (store-wide; 0: disabled).
    pub block_cache_capacity: u64,
    /// Writes slowed down (1 ms each) near the back-pressure limits since open.
    pub write_slowdowns: u64,
    /// Bytes of WAL records written for this table since open (what the user wrote).
    pub user_bytes: u64,
    /// Bytes of table files written by flushes since open.
    pub flush_bytes: u64,
    /// Bytes of the store's WAL segments on disk now (store-wide).
    pub wal_bytes: u64,
    /// Cells (values and delete markers) applied by writes since open; cells of ingested
    /// files are not counted.
    pub cells_written: u64,
    /// Write amplification since open: (WAL + flush + compaction bytes written) / WAL bytes,
    /// in hundredths (250 means 2.5x); 0 before any write.
    pub write_amplification_x100: u64,
    /// The newest flushes, compactions and ingests since open, newest first (at most
    /// [`crate::RECENT_EVENTS`]).
    pub recent_events: Vec<TableEvent>,
    /// Sorted runs the live files form (overlap depth: the most files whose key ranges
    /// share one row key). Write back-pressure counts these, not files.
    pub sorted_runs: u64,
}

/// A table's schema and statistics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDescription {
    /// Table name.
    pub name: String,
    /// Families, sorted by name.
    pub families: Vec<FamilyOptions>,
    /// Storage statistics.
    pub stats: TableStats,
    /// Whether the table serves reads and writes (see `Db::disable_table`).
    pub enabled: bool,
}

/// The store's figures since open, summed over its tables where they are per table (a
/// dropped table takes its share along).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Cells applied by writes (see [`TableStats::cells_written`]).
    pub cells_written: u64,
    /// Bytes of table files written by flushes.
    pub bytes_flushed: u64,
    /// Bytes of table files written by compactions.
    pub bytes_compacted: u64,
    /// Times writers were stalled.
    pub write_stalls: u64,
    /// Block lookups the block cache answered (store-wide, never decreasing).
    pub block_cache_hits: u64,
    /// Block lookups it did not (the block was read, checked and decoded).
    pub block_cache_misses: u64,
    /// Scans open now (each holds a read snapshot; an aggregation's counting pass counts as
    /// one while it runs).
    pub open_scans: u64,
    /// Bytes of the WAL segments on disk now.
    pub wal_bytes: u64,
}

pub(crate) fn store(
    tables: &[std::sync::Arc<Table>],
    cache: &BlockCache,
    open_scans: u64,
    wal_bytes: u64,
) -> StoreStats {
    let cs = cache.stats();
    let mut s = StoreStats {
        block_cache_hits: cs.hits,
        block_cache_misses: cs.misses,
        open_scans,
        wal_bytes,
        ..StoreStats::default()
    };
    for t in tables {
        let c = &t.counters;
        s.cells_written += c.cells_written.load(Ordering::Relaxed);
        s.bytes_flushed += c.flush_bytes.load(Ordering::Relaxed);
        s.bytes_compacted += c.compaction_bytes_out.load(Ordering::Relaxed);
        s.write_stalls += c.write_stalls.load(Ordering::Relaxed);
    }
    s
}

pub(crate) fn describe(t: &Table, cache: &BlockCache, wal_bytes: u64) -> TableDescription {
    let v = t.version.load();
    let schema = t.schema.load();
    let cs = cache.stats();
    let mut s = TableStats {
        block_cache_bytes: cs.bytes,
        block_cache_capacity: cs.capacity,
        memtable_bytes: v.memtable_bytes() as u64,
        immutable_memtables: v.immutables.len() as u64,
        flushes: t.counters.flushes.load(Ordering::Relaxed),
        compactions: t.counters.compactions.load(Ordering::Relaxed),
        compaction_bytes_in: t.counters.compaction_bytes_in.load(Ordering::Relaxed),
        compaction_bytes_out: t.counters.compaction_bytes_out.load(Ordering::Relaxed),
        write_stalls: t.counters.write_stalls.load(Ordering::Relaxed),
        write_slowdowns: t.counters.write_slowdowns.load(Ordering::Relaxed),
        user_bytes: t.counters.user_bytes.load(Ordering::Relaxed),
        flush_bytes: t.counters.flush_bytes.load(Ordering::Relaxed),
        cells_written: t.counters.cells_written.load(Ordering::Relaxed),
        recent_events: t.events.recent(),
        wal_bytes,
        sorted_runs: v.sorted_runs() as u64,
        families: schema
            .iter()
            .map(|f| FamilyStats {
                name: f.options.name.clone(),
                ..FamilyStats::default()
            })
            .collect(),
        ..TableStats::default()
    };
    if s.user_bytes > 0 {
        let written = s.user_bytes + s.flush_bytes + s.compaction_bytes_out;
        s.write_amplification_x100 = written * 100 / s.user_bytes;
    }
    for f in &v.files {
        s.files += 1;
        s.file_bytes += f.meta.size;
        s.file_rows += f.meta.rows;
        s.file_cells += f.meta.cells;
        s.file_deletes += f.meta.deletes;
        let rs = f.reader.read_stats();
        s.block_cache_hits += rs.cache_hits;
        s.block_cache_misses += rs.cache_misses;
        s.bloom_checked += rs.bloom_checked;
        s.bloom_useful += rs.bloom_useful;
        match s.levels.iter_mut().find(|l| l.level == f.meta.level) {
            Some(l) => {
                l.files += 1;
                l.bytes += f.meta.size;
            }
            None => s.levels.push(LevelStats {
                level: f.meta.level,
                files: 1,
                bytes: f.meta.size,
            }),
        }
        for fp in &f.reader.properties().families {
            if let Some(fs) = s.families.iter_mut().find(|x| *x.name == *fp.name) {
                fs.cells += fp.cells;
                fs.stored_bytes += fp.stored_bytes;
                fs.raw_bytes += fp.raw_bytes;
            }
        }
    }
    s.levels.sort_by_key(|l| l.level);

    TableDescription {
        name: t.name.clone(),
        families: schema.iter().map(|f| f.options.clone()).collect(),
        stats: s,
        enabled: !t.disabled.load(Ordering::Acquire),
    }
}
