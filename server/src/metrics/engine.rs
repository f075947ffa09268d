//! The store's figures as metrics, read from the engine (DescribeTable of every table) at
//! each scrape: files, stored bytes and memtable bytes per table, and the store's flush,
//! compaction, stall, WAL and block cache figures summed over its tables.
//!
//! Figures the engine does not count yet are not exported (see docs/http.md): cells written
//! and open scans need engine counters. The counters here are the engine's "since open"
//! per-table counts summed, so a dropped table takes its share with it; the block cache
//! counts belong to live files, so compaction can lower them.
//!
//! This module only reads; it must never change the store.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;
use strata_engine::Db;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabel {
    table: String,
}

/// Append the store's metrics for `db` to `out` (without the closing `# EOF`).
pub fn encode_into(db: &Db, out: &mut String) {
    let mut registry = Registry::default();
    let memtable = Family::<TableLabel, Gauge>::default();
    let files = Family::<TableLabel, Gauge>::default();
    let stored = Family::<TableLabel, Gauge>::default();
    let (mut flushed, mut compacted, mut stalls, mut hits, mut misses) = (0u64, 0, 0, 0, 0);
    let mut wal = None;
    for table in db.list_tables() {
        // A table dropped since the listing is simply left out.
        let Ok(d) = db.describe_table(&table) else {
            continue;
        };
        let s = &d.stats;
        let label = TableLabel { table };
        memtable
            .get_or_create(&label)
            .set(i64::try_from(s.memtable_bytes).unwrap_or(i64::MAX));
        files
            .get_or_create(&label)
            .set(i64::try_from(s.files).unwrap_or(i64::MAX));
        stored
            .get_or_create(&label)
            .set(i64::try_from(s.file_bytes).unwrap_or(i64::MAX));
        flushed += s.flush_bytes;
        compacted += s.compaction_bytes_out;
        stalls += s.write_stalls;
        hits += s.block_cache_hits;
        misses += s.block_cache_misses;
        wal = Some(s.wal_bytes);
    }
    registry.register(
        "strata_memtable_bytes",
        "Bytes held by a table's memtables (active and waiting for flush)",
        memtable,
    );
    registry.register("strata_table_files", "A table's live table files", files);
    registry.register(
        "strata_table_stored_bytes",
        "Bytes of a table's live table files",
        stored,
    );
    registry.register(
        "strata_bytes_flushed",
        "Bytes of table files written by flushes since the store opened",
        ConstCounter::new(flushed),
    );
    registry.register(
        "strata_bytes_compacted",
        "Bytes of table files written by compactions since the store opened",
        ConstCounter::new(compacted),
    );
    registry.register(
        "strata_write_stalls",
        "Times writers waited for a flush since the store opened",
        ConstCounter::new(stalls),
    );
    registry.register(
        "strata_block_cache_hits",
        "Data block reads of live files served by the block cache",
        ConstCounter::new(hits),
    );
    registry.register(
        "strata_block_cache_misses",
        "Data block reads of live files that read and decoded the block",
        ConstCounter::new(misses),
    );
    // The WAL size is reported through a table's description: known once a table exists.
    if let Some(w) = wal {
        registry.register(
            "strata_wal_bytes",
            "Bytes of the store's WAL segments on disk",
            ConstGauge::new(i64::try_from(w).unwrap_or(i64::MAX)),
        );
    }
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode_registry(out, &registry);
}
