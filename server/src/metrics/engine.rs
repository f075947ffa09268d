//! The store's figures as metrics, read from the engine (DescribeTable of every table) at
//! each scrape: files, stored bytes and memtable bytes per table, and the store's flush,
//! compaction, stall, WAL and block cache figures summed over its tables.
//!
//! The counters are the engine's "since open" figures ([`Db::store_stats`]): per-table
//! counts summed (a dropped table takes its share with it), and the block cache's own
//! store-wide lookups. The aggregation result cache's hits and misses come from the server's
//! aggregator.
//!
//! This module only reads; it must never change the store.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;
use strata_engine::Db;

use crate::aggregation::cache::CacheStats;

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
    for table in db.list_tables() {
        // A table dropped since the listing is simply left out.
        let Ok(d) = db.describe_table(&table) else {
            continue;
        };
        let s = &d.stats;
        let label = TableLabel { table };
        memtable.get_or_create(&label).set(gauge(s.memtable_bytes));
        files.get_or_create(&label).set(gauge(s.files));
        stored.get_or_create(&label).set(gauge(s.file_bytes));
    }
    let s = db.store_stats();
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
    let counters = [
        (
            "strata_cells_written",
            "Cells (values and delete markers) applied by writes since the store opened",
            s.cells_written,
        ),
        (
            "strata_bytes_flushed",
            "Bytes of table files written by flushes since the store opened",
            s.bytes_flushed,
        ),
        (
            "strata_bytes_compacted",
            "Bytes of table files written by compactions since the store opened",
            s.bytes_compacted,
        ),
        (
            "strata_write_stalls",
            "Times writers waited for a flush since the store opened",
            s.write_stalls,
        ),
        (
            "strata_block_cache_hits",
            "Block lookups the block cache answered since the store opened",
            s.block_cache_hits,
        ),
        (
            "strata_block_cache_misses",
            "Block lookups that read, checked and decoded the block since the store opened",
            s.block_cache_misses,
        ),
    ];
    for (name, help, value) in counters {
        registry.register(name, help, ConstCounter::new(value));
    }
    registry.register(
        "strata_open_scans",
        "Scans open now (each holds a read snapshot; a running aggregation counts as one)",
        ConstGauge::new(gauge(s.open_scans)),
    );
    registry.register(
        "strata_wal_bytes",
        "Bytes of the store's WAL segments on disk",
        ConstGauge::new(gauge(s.wal_bytes)),
    );
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode_registry(out, &registry);
}

/// Append the aggregation result cache's counts to `out` (without the closing `# EOF`).
pub fn encode_aggregation_cache(stats: &CacheStats, out: &mut String) {
    let mut registry = Registry::default();
    registry.register(
        "strata_aggregation_cache_hits",
        "Aggregations answered from the result cache (no scan)",
        ConstCounter::new(stats.hits),
    );
    registry.register(
        "strata_aggregation_cache_misses",
        "Aggregations that had to be computed",
        ConstCounter::new(stats.misses),
    );
    registry.register(
        "strata_aggregation_cache_bytes",
        "Bytes the aggregation result cache holds",
        ConstGauge::new(gauge(stats.bytes)),
    );
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode_registry(out, &registry);
}

fn gauge(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
