//! The table list (`/tables`) and a table's page (`/tables/{name}`): families and options,
//! storage per level and per family, memtables, flushes and compactions (and the recent ones),
//! write amplification, block cache and bloom filter figures.

use std::fmt::Write as _;

use crate::http::markup;
use crate::http::tables::{TableInfo, TableSummary};

use super::layout;

fn opt_ratio(v: Option<f64>, unit: &str) -> String {
    v.map_or("–".to_string(), |r| format!("{r:.2}{unit}"))
}

fn opt_pct(v: Option<f64>) -> String {
    v.map_or("–".to_string(), |r| format!("{:.1}%", r * 100.0))
}

/// `/tables`.
pub fn list(tables: &[TableSummary]) -> String {
    let mut b = String::from(
        "<h2>Tables</h2><table class=\"data\" id=\"tables\"><tr><th>Table</th><th>Families</th>\
         <th>Files</th><th>Stored</th><th>Rows in files</th><th>Memtables</th>\
         <th>Write amplification</th><th>Cache hit rate</th></tr>",
    );
    for t in tables {
        let name = markup::text(&t.name);
        let _ = write!(
            b,
            "<tr data-table=\"{name}\"><td><a href=\"/tables/{name}\">{name}</a></td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            t.families,
            markup::count(t.files),
            markup::size(t.file_bytes),
            markup::count(t.file_rows),
            markup::size(t.memtable_bytes),
            opt_ratio(t.write_amplification, "x"),
            opt_pct(t.block_cache_hit_rate),
        );
    }
    b.push_str("</table>");
    if tables.is_empty() {
        b.push_str("<p>No tables yet.</p>");
    }
    layout::page("Tables", &b, None)
}

fn row(b: &mut String, key: &str, value: &str) {
    let _ = write!(
        b,
        "<tr><td>{}</td><td>{}</td></tr>",
        markup::text(key),
        markup::text(value)
    );
}

/// The recent flushes, compactions and ingests, newest first.
fn events(b: &mut String, t: &TableInfo) {
    b.push_str(
        "<h3>Recent flushes and compactions</h3><table class=\"data\" id=\"events\">\
         <tr><th>Finished (UTC)</th><th>Kind</th><th>Input files</th><th>Input bytes</th>\
         <th>Output files</th><th>Output bytes</th><th>Duration</th></tr>",
    );
    for e in &t.recent_events {
        let _ = write!(
            b,
            "<tr data-kind=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{:.1} ms</td></tr>",
            e.kind,
            markup::text(&e.at),
            e.kind,
            markup::count(e.input_files),
            markup::size(e.input_bytes),
            markup::count(e.output_files),
            markup::size(e.output_bytes),
            e.duration_ms,
        );
    }
    b.push_str("</table>");
    if t.recent_events.is_empty() {
        b.push_str("<p>None since the store opened.</p>");
    }
}

/// `/tables/{name}`.
pub fn detail(t: &TableInfo) -> String {
    let name = markup::text(&t.name);
    let mut b = format!("<h2 id=\"table-name\" data-table=\"{name}\">Table {name}</h2>");
    b.push_str(
        "<h3>Families</h3><table class=\"data\" id=\"families\"><tr><th>Family</th>\
         <th>Versions</th><th>TTL</th><th>Compression</th><th>Bloom filter</th>\
         <th>Block size</th><th>Cells</th><th>Stored</th><th>Raw</th><th>Ratio</th></tr>",
    );
    for f in &t.families {
        let compression = if f.compression == "zstd" {
            format!("zstd level {}", f.compression_level)
        } else {
            f.compression.to_string()
        };
        let _ = write!(
            b,
            "<tr data-family=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}x</td></tr>",
            markup::text(&f.name),
            markup::text(&f.name),
            f.max_versions,
            if f.ttl_seconds == 0 {
                "forever".to_string()
            } else {
                format!("{} s", f.ttl_seconds)
            },
            compression,
            if f.bloom_filter { "on" } else { "off" },
            markup::size(u64::from(f.block_size)),
            markup::count(f.cells),
            markup::size(f.stored_bytes),
            markup::size(f.raw_bytes),
            f.compression_ratio,
        );
    }
    b.push_str(
        "</table><h3>Storage per level</h3><table class=\"data\" id=\"levels\">\
         <tr><th>Level</th><th>Files</th><th>Bytes</th></tr>",
    );
    for l in &t.levels {
        let _ = write!(
            b,
            "<tr><td>L{}</td><td>{}</td><td>{}</td></tr>",
            l.level,
            markup::count(l.files),
            markup::size(l.bytes)
        );
    }
    let _ = write!(
        b,
        "<tr><td>all</td><td>{}</td><td>{}</td></tr></table>",
        markup::count(t.files),
        markup::size(t.file_bytes)
    );
    b.push_str("<h3>Activity since the store opened</h3><table class=\"data\" id=\"activity\">");
    row(&mut b, "Rows in files", &markup::count(t.file_rows));
    row(&mut b, "Cells in files", &markup::count(t.file_cells));
    row(
        &mut b,
        "Delete markers in files",
        &markup::count(t.file_deletes),
    );
    row(&mut b, "Memtable bytes", &markup::size(t.memtable_bytes));
    row(
        &mut b,
        "Memtables waiting for flush",
        &t.immutable_memtables.to_string(),
    );
    row(&mut b, "Cells written", &markup::count(t.cells_written));
    row(&mut b, "Flushes", &markup::count(t.flushes));
    row(&mut b, "Bytes flushed", &markup::size(t.flush_bytes));
    row(&mut b, "Compactions", &markup::count(t.compactions));
    row(
        &mut b,
        "Compaction bytes read",
        &markup::size(t.compaction_bytes_in),
    );
    row(
        &mut b,
        "Compaction bytes written",
        &markup::size(t.compaction_bytes_out),
    );
    row(
        &mut b,
        "WAL bytes written for this table",
        &markup::size(t.user_bytes),
    );
    row(
        &mut b,
        "Write amplification",
        &opt_ratio(t.write_amplification, "x"),
    );
    row(&mut b, "Write stalls", &markup::count(t.write_stalls));
    row(&mut b, "Write slowdowns", &markup::count(t.write_slowdowns));
    row(
        &mut b,
        "Block cache hits",
        &markup::count(t.block_cache_hits),
    );
    row(
        &mut b,
        "Block cache misses",
        &markup::count(t.block_cache_misses),
    );
    row(
        &mut b,
        "Block cache hit rate",
        &opt_pct(t.block_cache_hit_rate),
    );
    row(
        &mut b,
        "Block cache (store-wide)",
        &format!(
            "{} of {}",
            markup::size(t.block_cache_bytes),
            markup::size(t.block_cache_capacity)
        ),
    );
    row(
        &mut b,
        "Bloom filter checks",
        &markup::count(t.bloom_checked),
    );
    row(&mut b, "Bloom filter skips", &markup::count(t.bloom_useful));
    row(
        &mut b,
        "WAL on disk (store-wide)",
        &markup::size(t.wal_bytes),
    );
    b.push_str("</table>");
    events(&mut b, t);
    b.push_str("<p><a href=\"/tables\">All tables</a></p>");
    layout::page(&format!("Table {}", t.name), &b, None)
}
