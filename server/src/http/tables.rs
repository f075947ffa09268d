//! What the table pages and `/api/tables` show of a table, taken from DescribeTable:
//! families and their options, storage per level and per family (files, bytes, compression
//! ratio), memtables, flushes and compactions (counts and the recent ones, one by one), write
//! amplification, block cache hit rate and bloom filter use, in the spirit of HBase's master
//! UI.
//!
//! A view over the engine's description only; this module must never change the store.

use serde::Serialize;
use strata_engine::{Compression, TableDescription};

/// A family: options and stored figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FamilyInfo {
    /// Name.
    pub name: String,
    /// Versions kept.
    pub max_versions: u32,
    /// Time to live in seconds (0: forever).
    pub ttl_seconds: u64,
    /// `zstd` or `none`.
    pub compression: &'static str,
    /// zstd level (0 without compression).
    pub compression_level: i32,
    /// Bloom filter on row keys.
    pub bloom_filter: bool,
    /// Target block size in bytes.
    pub block_size: u32,
    /// Entries in files.
    pub cells: u64,
    /// Bytes on disk.
    pub stored_bytes: u64,
    /// Bytes before compression.
    pub raw_bytes: u64,
    /// raw / stored (0 with nothing stored).
    pub compression_ratio: f64,
}

/// One LSM level.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LevelInfo {
    /// Level number.
    pub level: u32,
    /// Files.
    pub files: u64,
    /// Bytes.
    pub bytes: u64,
}

/// A recent flush, compaction or ingest.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventInfo {
    /// When it finished (RFC 3339, UTC).
    pub at: String,
    /// When it finished, microseconds since the epoch.
    pub at_micros: i64,
    /// `flush`, `compaction` or `ingest`.
    pub kind: &'static str,
    /// Files read (0 for a flush).
    pub input_files: u64,
    /// Bytes read (a flush: the memtable's bytes).
    pub input_bytes: u64,
    /// Files written or adopted.
    pub output_files: u64,
    /// Their bytes.
    pub output_bytes: u64,
    /// How long it took, in milliseconds.
    pub duration_ms: f64,
}

/// Everything the table page shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TableInfo {
    /// Table name.
    pub name: String,
    /// Families.
    pub families: Vec<FamilyInfo>,
    /// Levels.
    pub levels: Vec<LevelInfo>,
    /// Live files.
    pub files: u64,
    /// Their bytes.
    pub file_bytes: u64,
    /// Rows in files (a row in several files counts several times).
    pub file_rows: u64,
    /// Entries in files.
    pub file_cells: u64,
    /// Delete markers in files.
    pub file_deletes: u64,
    /// Bytes in memtables.
    pub memtable_bytes: u64,
    /// Memtables waiting for flush.
    pub immutable_memtables: u64,
    /// Flushes since the store opened.
    pub flushes: u64,
    /// Bytes written by flushes since the store opened.
    pub flush_bytes: u64,
    /// Compactions since the store opened.
    pub compactions: u64,
    /// Bytes read by compactions.
    pub compaction_bytes_in: u64,
    /// Bytes written by compactions.
    pub compaction_bytes_out: u64,
    /// Times writers waited for a flush.
    pub write_stalls: u64,
    /// Writes slowed near the back-pressure limits.
    pub write_slowdowns: u64,
    /// Bytes of WAL records written for this table since the store opened.
    pub user_bytes: u64,
    /// (WAL + flush + compaction bytes) / WAL bytes, or null before any write.
    pub write_amplification: Option<f64>,
    /// Block reads served by the cache.
    pub block_cache_hits: u64,
    /// Block reads that decoded the block.
    pub block_cache_misses: u64,
    /// hits / (hits + misses), or null before any read.
    pub block_cache_hit_rate: Option<f64>,
    /// Bytes in the block cache (store-wide).
    pub block_cache_bytes: u64,
    /// The block cache's budget (store-wide).
    pub block_cache_capacity: u64,
    /// Bloom filter checks by point gets.
    pub bloom_checked: u64,
    /// Checks that ruled a file out.
    pub bloom_useful: u64,
    /// Bytes of the store's WAL on disk.
    pub wal_bytes: u64,
    /// Cells applied by writes since the store opened.
    pub cells_written: u64,
    /// The newest flushes, compactions and ingests since the store opened, newest first.
    pub recent_events: Vec<EventInfo>,
}

/// A line of the table list.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TableSummary {
    /// Name.
    pub name: String,
    /// Families.
    pub families: usize,
    /// Live files.
    pub files: u64,
    /// Their bytes.
    pub file_bytes: u64,
    /// Rows in files.
    pub file_rows: u64,
    /// Bytes in memtables.
    pub memtable_bytes: u64,
    /// Write amplification.
    pub write_amplification: Option<f64>,
    /// Block cache hit rate.
    pub block_cache_hit_rate: Option<f64>,
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

impl TableInfo {
    /// The page's view of a description.
    pub fn from_description(d: &TableDescription) -> TableInfo {
        let s = &d.stats;
        let families = d
            .families
            .iter()
            .map(|f| {
                let stats = s.families.iter().find(|x| x.name == f.name);
                let (cells, stored, raw) =
                    stats.map_or((0, 0, 0), |x| (x.cells, x.stored_bytes, x.raw_bytes));
                let (compression, compression_level) = match f.compression {
                    Compression::None => ("none", 0),
                    Compression::Zstd(level) => ("zstd", level),
                };
                FamilyInfo {
                    name: f.name.clone(),
                    max_versions: f.max_versions,
                    ttl_seconds: f.ttl_seconds,
                    compression,
                    compression_level,
                    bloom_filter: f.bloom_filter,
                    block_size: f.block_size,
                    cells,
                    stored_bytes: stored,
                    raw_bytes: raw,
                    compression_ratio: ratio(raw, stored).unwrap_or(0.0),
                }
            })
            .collect();
        TableInfo {
            name: d.name.clone(),
            families,
            levels: s
                .levels
                .iter()
                .map(|l| LevelInfo {
                    level: l.level,
                    files: l.files,
                    bytes: l.bytes,
                })
                .collect(),
            files: s.files,
            file_bytes: s.file_bytes,
            file_rows: s.file_rows,
            file_cells: s.file_cells,
            file_deletes: s.file_deletes,
            memtable_bytes: s.memtable_bytes,
            immutable_memtables: s.immutable_memtables,
            flushes: s.flushes,
            flush_bytes: s.flush_bytes,
            compactions: s.compactions,
            compaction_bytes_in: s.compaction_bytes_in,
            compaction_bytes_out: s.compaction_bytes_out,
            write_stalls: s.write_stalls,
            write_slowdowns: s.write_slowdowns,
            user_bytes: s.user_bytes,
            write_amplification: (s.user_bytes > 0)
                .then(|| s.write_amplification_x100 as f64 / 100.0),
            block_cache_hits: s.block_cache_hits,
            block_cache_misses: s.block_cache_misses,
            block_cache_hit_rate: ratio(
                s.block_cache_hits,
                s.block_cache_hits + s.block_cache_misses,
            ),
            block_cache_bytes: s.block_cache_bytes,
            block_cache_capacity: s.block_cache_capacity,
            bloom_checked: s.bloom_checked,
            bloom_useful: s.bloom_useful,
            wal_bytes: s.wal_bytes,
            cells_written: s.cells_written,
            recent_events: s
                .recent_events
                .iter()
                .map(|e| EventInfo {
                    at: super::markup::rfc3339(e.at_micros),
                    at_micros: e.at_micros,
                    kind: e.kind.as_str(),
                    input_files: e.input_files,
                    input_bytes: e.input_bytes,
                    output_files: e.output_files,
                    output_bytes: e.output_bytes,
                    duration_ms: e.duration_micros as f64 / 1000.0,
                })
                .collect(),
        }
    }

    /// The table list's line.
    pub fn summary(&self) -> TableSummary {
        TableSummary {
            name: self.name.clone(),
            families: self.families.len(),
            files: self.files,
            file_bytes: self.file_bytes,
            file_rows: self.file_rows,
            memtable_bytes: self.memtable_bytes,
            write_amplification: self.write_amplification,
            block_cache_hit_rate: self.block_cache_hit_rate,
        }
    }
}
