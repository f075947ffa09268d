//! How client commands print: HBase-shell-like text tables for people and JSON for programs.
//! Keys, qualifiers and values print as UTF-8 when valid, `\xNN`-escaped otherwise.
//!
//! This module formats only; it must never talk to a server or decide what to fetch.

use std::io::Write;

use serde_json::{Value, json};
use strata_proto::v1 as pb;
use strata_server::escape;

/// Width of the first column (row key or column name) in text output.
const KEY_WIDTH: usize = 32;

/// A row as JSON: `{"key": ..., "cells": [{"family","qualifier","timestamp_micros","value"}]}`.
pub fn row_json(row: &pb::Row) -> Value {
    json!({
        "key": escape::json(&row.key),
        "cells": row.cells.iter().map(|c| json!({
            "family": c.family,
            "qualifier": escape::json(&c.qualifier),
            "timestamp_micros": c.timestamp_micros,
            "value": escape::json(&c.value),
        })).collect::<Vec<_>>(),
    })
}

/// The header line of `scan` text output.
pub fn scan_header(out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "{:<KEY_WIDTH$} COLUMN+CELL", "ROW")
}

/// One row of `scan` text output: a line per cell, HBase shell style.
pub fn scan_row(out: &mut impl Write, row: &pb::Row) -> std::io::Result<()> {
    let key = escape::display(&row.key);
    if row.cells.is_empty() {
        return writeln!(out, " {key:<KEY_WIDTH$}");
    }
    for c in &row.cells {
        writeln!(
            out,
            " {key:<KEY_WIDTH$} column={}:{}, timestamp={}, value={}",
            c.family,
            escape::display(&c.qualifier),
            timestamp(c.timestamp_micros),
            escape::display(&c.value)
        )?;
    }
    Ok(())
}

/// `get` text output: a line per cell.
pub fn get_row(out: &mut impl Write, row: &pb::Row) -> std::io::Result<()> {
    writeln!(out, "{:<KEY_WIDTH$} CELL", "COLUMN")?;
    for c in &row.cells {
        let column = format!("{}:{}", c.family, escape::display(&c.qualifier));
        writeln!(
            out,
            " {column:<KEY_WIDTH$} timestamp={}, value={}",
            timestamp(c.timestamp_micros),
            escape::display(&c.value)
        )?;
    }
    Ok(())
}

/// A timestamp as `MICROS (YYYY-MM-DDTHH:MM:SS.ffffffZ)`.
pub fn timestamp(micros: i64) -> String {
    format!("{micros} ({})", iso8601(micros))
}

/// Microseconds since the epoch as an ISO-8601 UTC time.
pub fn iso8601(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = strata_engine::iso8601::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// A family's options as JSON (every value explicit, as the server reports them).
pub fn family_json(f: &pb::FamilyOptions) -> Value {
    json!({
        "name": f.name,
        "max_versions": f.max_versions,
        "ttl_seconds": f.ttl_seconds,
        "compression": compression_name(f),
        "compression_level": f.compression_level,
        "bloom_filter": !f.disable_bloom_filter,
        "block_size": f.block_size,
    })
}

fn compression_name(f: &pb::FamilyOptions) -> &'static str {
    match pb::Compression::try_from(f.compression) {
        Ok(pb::Compression::None) => "none",
        Ok(pb::Compression::Zstd | pb::Compression::Unspecified) => "zstd",
        Err(_) => "unknown",
    }
}

/// `describe` as JSON.
pub fn describe_json(d: &pb::DescribeTableResponse) -> Value {
    let stats = d.stats.clone().unwrap_or_default();
    json!({
        "table": d.table,
        "families": d.families.iter().map(family_json).collect::<Vec<_>>(),
        "stats": {
            "files": stats.files,
            "file_bytes": stats.file_bytes,
            "file_rows": stats.file_rows,
            "file_cells": stats.file_cells,
            "memtable_bytes": stats.memtable_bytes,
            "immutable_memtables": stats.immutable_memtables,
            "levels": stats.levels.iter().map(|l| json!({
                "level": l.level, "files": l.files, "bytes": l.bytes,
            })).collect::<Vec<_>>(),
            "families": stats.families.iter().map(|f| json!({
                "name": f.name, "cells": f.cells,
                "stored_bytes": f.stored_bytes, "raw_bytes": f.raw_bytes,
            })).collect::<Vec<_>>(),
            "flushes": stats.flushes,
            "compactions": stats.compactions,
            "compaction_bytes_in": stats.compaction_bytes_in,
            "compaction_bytes_out": stats.compaction_bytes_out,
            "write_stalls": stats.write_stalls,
            "write_slowdowns": stats.write_slowdowns,
            "file_deletes": stats.file_deletes,
            "block_cache_hits": stats.block_cache_hits,
            "block_cache_misses": stats.block_cache_misses,
            "block_cache_bytes": stats.block_cache_bytes,
            "block_cache_capacity": stats.block_cache_capacity,
            "bloom_checked": stats.bloom_checked,
            "bloom_useful": stats.bloom_useful,
            "user_bytes": stats.user_bytes,
            "flush_bytes": stats.flush_bytes,
            "wal_bytes": stats.wal_bytes,
            "write_amplification": stats.write_amplification_x100 as f64 / 100.0,
        },
    })
}

/// `describe` as text.
pub fn describe_text(out: &mut impl Write, d: &pb::DescribeTableResponse) -> std::io::Result<()> {
    writeln!(out, "Table {}", d.table)?;
    writeln!(
        out,
        "{:<24} {:>8} {:>10} {:<12} {:<6} {:>10}",
        "FAMILY", "VERSIONS", "TTL", "COMPRESSION", "BLOOM", "BLOCKSIZE"
    )?;
    for f in &d.families {
        let ttl = if f.ttl_seconds == 0 {
            "FOREVER".to_owned()
        } else {
            format!("{}s", f.ttl_seconds)
        };
        let compression = match compression_name(f) {
            "zstd" => format!("zstd:{}", f.compression_level),
            other => other.to_owned(),
        };
        writeln!(
            out,
            "{:<24} {:>8} {:>10} {:<12} {:<6} {:>10}",
            f.name,
            f.max_versions,
            ttl,
            compression,
            if f.disable_bloom_filter { "off" } else { "on" },
            f.block_size
        )?;
    }
    let Some(s) = d.stats.clone() else {
        return Ok(());
    };
    writeln!(out)?;
    writeln!(
        out,
        "Storage: {} file(s), {} ; {} row(s) and {} cell(s) in files; memtables {} ({} waiting for flush)",
        s.files,
        bytes(s.file_bytes),
        s.file_rows,
        s.file_cells,
        bytes(s.memtable_bytes),
        s.immutable_memtables
    )?;
    for l in &s.levels {
        writeln!(
            out,
            "  L{}: {} file(s), {}",
            l.level,
            l.files,
            bytes(l.bytes)
        )?;
    }
    if !s.families.is_empty() {
        writeln!(
            out,
            "{:<24} {:>12} {:>12} {:>12} {:>7}",
            "FAMILY", "CELLS", "STORED", "RAW", "RATIO"
        )?;
        for f in &s.families {
            let ratio = if f.raw_bytes == 0 {
                "-".to_owned()
            } else {
                format!("{:.2}", f.stored_bytes as f64 / f.raw_bytes as f64)
            };
            writeln!(
                out,
                "{:<24} {:>12} {:>12} {:>12} {:>7}",
                f.name,
                f.cells,
                bytes(f.stored_bytes),
                bytes(f.raw_bytes),
                ratio
            )?;
        }
    }
    writeln!(
        out,
        "Since open: {} flush(es), {} compaction(s) ({} in, {} out), {} write stall(s)",
        s.flushes,
        s.compactions,
        bytes(s.compaction_bytes_in),
        bytes(s.compaction_bytes_out),
        s.write_stalls
    )?;
    writeln!(
        out,
        "Writes: {} written, {} flushed, write amplification {:.2}x, {} slowdown(s); WAL on disk {}",
        bytes(s.user_bytes),
        bytes(s.flush_bytes),
        s.write_amplification_x100 as f64 / 100.0,
        s.write_slowdowns,
        bytes(s.wal_bytes)
    )?;
    writeln!(
        out,
        "Reads: block cache {} hit(s), {} miss(es), {} of {} used; bloom {} check(s), {} useful",
        s.block_cache_hits,
        s.block_cache_misses,
        bytes(s.block_cache_bytes),
        bytes(s.block_cache_capacity),
        s.bloom_checked,
        s.bloom_useful
    )
}

/// A byte count for people: `1.5 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_render_in_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            iso8601(1_659_108_121_458_193),
            "2022-07-29T15:22:01.458193Z"
        );
        assert_eq!(iso8601(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(iso8601(951_782_400_000_000), "2000-02-29T00:00:00.000000Z");
    }

    #[test]
    fn rows_render_escaped() {
        let row = pb::Row {
            partial: Default::default(),
            key: vec![0xff, b'1'].into(),
            cells: vec![pb::Cell {
                family: "f".into(),
                qualifier: b"q".to_vec().into(),
                timestamp_micros: 0,
                value: "Budi".into(),
            }],
        };
        let mut out = Vec::new();
        scan_row(&mut out, &row).expect("write to memory");
        let text = String::from_utf8(out).expect("utf8");
        assert!(text.contains("\\xFF1"), "{text}");
        assert!(text.contains("column=f:q"), "{text}");
        assert!(text.contains("value=Budi"), "{text}");
        let j = row_json(&row);
        assert_eq!(j["key"], "\\xFF1");
        assert_eq!(j["cells"][0]["value"], "Budi");
    }

    #[test]
    fn byte_counts_read_well() {
        assert_eq!(bytes(12), "12 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
    }
}
