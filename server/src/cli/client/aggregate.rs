//! `strata aggregate T FAMILY:QUALIFIER [--bucket B] [--top N] [--sum F:Q] [--prefix P]
//! [--start ROW] [--stop ROW] [--filter F]`: row counts per bucket computed in the server
//! (the Aggregate RPC), printed as a table or, with `--json`, as one JSON object.
//!
//! This file owns the command's flags, request and output only.

use std::io::Write;
use std::time::Instant;

use anyhow::Result;
use serde_json::json;
use strata_proto::v1 as pb;
use strata_server::escape;

use super::{Conn, call, connect, took};
use crate::cli::family::parse_cell_column;
use crate::cli::output;

/// `strata aggregate` flags.
#[derive(Debug, clap::Args)]
pub struct AggregateArgs {
    /// Table name
    pub table: String,
    /// Grouping column, FAMILY:QUALIFIER
    pub column: String,
    /// value, year, month, day, hour, hour-of-day, age or range:W [default: value]
    #[arg(long, value_name = "B", default_value = "value")]
    pub bucket: String,
    /// Keep the N buckets with the most rows (0: all)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub top: u32,
    /// Numeric column summed per bucket (sum, min, max), FAMILY:QUALIFIER
    #[arg(long, value_name = "FAMILY:QUALIFIER")]
    pub sum: Option<String>,
    /// Only rows starting with this prefix
    #[arg(long, value_name = "P")]
    pub prefix: Option<String>,
    /// First row (inclusive)
    #[arg(long, value_name = "ROW")]
    pub start: Option<String>,
    /// Stop before this row
    #[arg(long, value_name = "ROW")]
    pub stop: Option<String>,
    /// Only rows passing this filter (HBase filter language)
    #[arg(long, value_name = "F")]
    pub filter: Option<String>,
    #[command(flatten)]
    pub conn: Conn,
}

fn bytes_arg(v: &Option<String>) -> bytes::Bytes {
    v.as_deref().map(escape::parse).unwrap_or_default().into()
}

pub(super) async fn aggregate(
    a: AggregateArgs,
    out: &mut impl Write,
    start: Instant,
) -> Result<()> {
    let (family, qualifier) = parse_cell_column(&a.column)?;
    let (sum_family, sum_qualifier) = match &a.sum {
        Some(s) => parse_cell_column(s)?,
        None => (String::new(), Vec::new()),
    };
    let mut c = connect(&a.conn).await?;
    let r = call(
        "Aggregate",
        c.aggregate(pb::AggregateRequest {
            table: a.table.clone(),
            family,
            qualifier: qualifier.into(),
            bucket: a.bucket.clone(),
            top: a.top,
            sum_family,
            sum_qualifier: sum_qualifier.into(),
            prefix: bytes_arg(&a.prefix),
            start_row: bytes_arg(&a.start),
            stop_row: bytes_arg(&a.stop),
            time_range: None,
            filter: a.filter.clone().unwrap_or_default(),
        })
        .await,
    )?;
    if a.conn.json {
        writeln!(out, "{}", as_json(&a, &r))?;
        return Ok(());
    }
    print_table(out, &a, &r)?;
    took(out, start)?;
    Ok(())
}

fn as_json(a: &AggregateArgs, r: &pb::AggregateResponse) -> serde_json::Value {
    let buckets: Vec<serde_json::Value> = r
        .buckets
        .iter()
        .map(|b| {
            let mut v = json!({ "key": escape::json(&b.key), "count": b.count });
            if a.sum.is_some() {
                v["sum"] = json!(b.sum);
                v["min"] = json!(b.min);
                v["max"] = json!(b.max);
                v["summed"] = json!(b.summed);
            }
            v
        })
        .collect();
    json!({
        "table": a.table,
        "column": a.column,
        "bucket": a.bucket,
        "sum": a.sum,
        "buckets": buckets,
        "rows_scanned": r.rows_scanned,
        "rows_missing": r.rows_missing,
        "unparsable": r.unparsable,
        "distinct_buckets": r.distinct_buckets,
        "other_count": r.other_count,
        "sum_missing": r.sum_missing,
        "sum_unparsable": r.sum_unparsable,
        "cells_scanned": r.cells_scanned,
        "computed_at_micros": r.computed_at_micros,
    })
}

fn print_table(
    out: &mut impl Write,
    a: &AggregateArgs,
    r: &pb::AggregateResponse,
) -> std::io::Result<()> {
    let keys: Vec<String> = r
        .buckets
        .iter()
        .map(|b| escape::display(&b.key).into_owned())
        .collect();
    let width = keys
        .iter()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(0)
        .max(6);
    let counted = r.rows_scanned - r.rows_missing - r.unparsable;
    write!(out, "{:<width$} {:>12} {:>7}", "BUCKET", "COUNT", "%")?;
    if a.sum.is_some() {
        write!(out, " {:>16} {:>14} {:>14}", "SUM", "MIN", "MAX")?;
    }
    writeln!(out)?;
    for (k, b) in keys.iter().zip(&r.buckets) {
        let pct = if counted == 0 {
            0.0
        } else {
            b.count as f64 * 100.0 / counted as f64
        };
        write!(out, "{k:<width$} {:>12} {pct:>6.1}%", b.count)?;
        if a.sum.is_some() {
            write!(out, " {:>16} {:>14} {:>14}", b.sum, b.min, b.max)?;
        }
        writeln!(out)?;
    }
    if r.other_count > 0 {
        writeln!(
            out,
            "({} more buckets hold {} rows)",
            r.distinct_buckets - r.buckets.len() as u64,
            r.other_count
        )?;
    }
    writeln!(
        out,
        "{} rows read, {} without {}, {} unparsable, {} buckets; computed {}",
        r.rows_scanned,
        r.rows_missing,
        a.column,
        r.unparsable,
        r.distinct_buckets,
        output::iso8601(r.computed_at_micros)
    )
}
