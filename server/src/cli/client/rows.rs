//! The row commands: `strata put`, `get`, `scan`, `count` and `delete`.
//!
//! Each function owns one command's request and output; keys and values given on the command
//! line are unescaped by `strata_server::escape` and rows printed by `cli::output`, never here.

use std::io::Write;
use std::time::Instant;

use anyhow::{Result, bail};
use serde_json::json;
use strata_proto::v1 as pb;
use strata_server::escape;
use strata_server::row_joiner::RowJoiner;

use super::{Conn, call, code_name, connect, took};
use crate::cli::family::{parse_cell_column, parse_column, parse_columns};
use crate::cli::output;

/// `strata put` flags.
#[derive(Debug, clap::Args)]
pub struct PutArgs {
    /// Table name
    pub table: String,
    /// Row key
    pub row: String,
    /// Column, FAMILY:QUALIFIER
    pub column: String,
    /// Value
    pub value: String,
    /// Version timestamp in microseconds since the epoch (default: the server's clock)
    #[arg(long, value_name = "MICROS", default_value_t = 0)]
    pub timestamp: i64,
    #[command(flatten)]
    pub conn: Conn,
}

/// `strata get` flags.
#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// Table name
    pub table: String,
    /// Row key
    pub row: String,
    /// Only these columns: FAMILY[:QUALIFIER],... (repeatable)
    #[arg(long, value_name = "FAMILY[:QUALIFIER],...")]
    pub columns: Vec<String>,
    /// Versions per column
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub versions: u32,
    /// Only rows (and cells) passing this filter (HBase's filter language, docs/filters.md)
    #[arg(long, value_name = "F")]
    pub filter: Option<String>,
    #[command(flatten)]
    pub conn: Conn,
}

/// `strata scan` flags.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Table name
    pub table: String,
    /// Only rows starting with this prefix
    #[arg(long, value_name = "P")]
    pub prefix: Option<String>,
    /// First row (inclusive); with --reverse the highest row, the scan going down from it
    #[arg(long, value_name = "ROW")]
    pub start: Option<String>,
    /// Start after --start instead of at it
    #[arg(long, requires = "start")]
    pub start_exclusive: bool,
    /// Stop before this row (exclusive); with --reverse the low end
    #[arg(long, value_name = "ROW")]
    pub stop: Option<String>,
    /// Rows in descending key order (HBase's reversed scan: from --start down to --stop)
    #[arg(long)]
    pub reverse: bool,
    /// At most N rows
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Only these columns: FAMILY[:QUALIFIER],... (repeatable)
    #[arg(long, value_name = "FAMILY[:QUALIFIER],...")]
    pub columns: Vec<String>,
    /// Versions per column
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub versions: u32,
    /// Only rows (and cells) passing this filter (HBase's filter language, docs/filters.md)
    #[arg(long, value_name = "F")]
    pub filter: Option<String>,
    #[command(flatten)]
    pub conn: Conn,
}

/// `strata count` flags.
#[derive(Debug, clap::Args)]
pub struct CountArgs {
    /// Table name
    pub table: String,
    /// Only rows starting with this prefix
    #[arg(long, value_name = "P")]
    pub prefix: Option<String>,
    /// Only rows passing this filter (HBase's filter language, docs/filters.md)
    #[arg(long, value_name = "F")]
    pub filter: Option<String>,
    #[command(flatten)]
    pub conn: Conn,
}

/// `strata delete` flags.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// Table name
    pub table: String,
    /// Row key
    pub row: String,
    /// FAMILY (the family's cells) or FAMILY:QUALIFIER (every version of the column);
    /// omitted: the whole row
    pub column: Option<String>,
    /// With FAMILY:QUALIFIER, delete only this version (microseconds)
    #[arg(long, value_name = "MICROS", requires = "column")]
    pub timestamp: Option<i64>,
    #[command(flatten)]
    pub conn: Conn,
}

pub(super) async fn put(a: PutArgs, out: &mut impl Write, start: Instant) -> Result<()> {
    let PutArgs {
        table,
        row,
        column,
        value,
        timestamp,
        conn,
    } = a;
    let (family, qualifier) = parse_cell_column(&column)?;
    let mut c = connect(&conn).await?;
    let r = call(
        "Mutate",
        c.mutate(pb::MutateRequest {
            table,
            row: escape::parse(&row).into(),
            mutations: vec![pb::Mutation {
                kind: Some(pb::mutation::Kind::SetCell(pb::SetCell {
                    family,
                    qualifier: qualifier.into(),
                    value: escape::parse(&value).into(),
                    timestamp_micros: timestamp,
                })),
            }],
        })
        .await,
    )?;
    if conn.json {
        writeln!(out, "{}", json!({ "rows": r.rows, "cells": r.cells }))?;
    } else {
        writeln!(out, "{} row(s), {} cell(s) written", r.rows, r.cells)?;
        took(out, start)?;
    }
    Ok(())
}

pub(super) async fn get(a: GetArgs, out: &mut impl Write, start: Instant) -> Result<()> {
    let GetArgs {
        table,
        row,
        columns,
        versions,
        filter,
        conn,
    } = a;
    let columns = parse_columns(&columns)?;
    let mut c = connect(&conn).await?;
    let r = call(
        "Get",
        c.get(pb::GetRequest {
            filter: filter.unwrap_or_default(),
            table,
            row: escape::parse(&row).into(),
            columns,
            max_versions: versions,
            time_range: None,
        })
        .await,
    )?;
    let row = r.row.filter(|_| r.found);
    if conn.json {
        writeln!(
            out,
            "{}",
            json!({ "found": row.is_some(), "row": row.as_ref().map(output::row_json) })
        )?;
    } else {
        match &row {
            Some(row) => {
                output::get_row(out, row)?;
                writeln!(out, "1 row(s)")?;
            }
            None => writeln!(out, "0 row(s)")?,
        }
        took(out, start)?;
    }
    Ok(())
}

pub(super) async fn scan(a: ScanArgs, out: &mut impl Write, start: Instant) -> Result<()> {
    let ScanArgs {
        table,
        prefix,
        start: start_row,
        start_exclusive,
        stop,
        reverse,
        limit,
        columns,
        versions,
        filter,
        conn,
    } = a;
    let request = pb::ScanRequest {
        filter: filter.unwrap_or_default(),
        reverse,
        table,
        start_row: start_row
            .as_deref()
            .map(escape::parse)
            .unwrap_or_default()
            .into(),
        start_row_exclusive: start_exclusive,
        stop_row: stop
            .as_deref()
            .map(escape::parse)
            .unwrap_or_default()
            .into(),
        prefix: prefix
            .as_deref()
            .map(escape::parse)
            .unwrap_or_default()
            .into(),
        columns: parse_columns(&columns)?,
        max_versions: versions,
        time_range: None,
        limit: limit.unwrap_or(0),
        batch_size: 0,
        keys_only: false,
    };
    let mut c = connect(&conn).await?;
    let mut stream = call("Scan", c.scan(request).await)?;
    if !conn.json {
        output::scan_header(out)?;
    }
    let mut rows = 0u64;
    // A row too large for one reply comes in parts: print it once whole.
    let mut joiner = RowJoiner::new();
    loop {
        let reply = match stream.message().await {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(s) => bail!(
                "Scan failed after {rows} row(s): {}: {}",
                code_name(s.code()),
                s.message()
            ),
        };
        let whole = joiner.push(reply.rows);
        for row in &whole {
            if conn.json {
                writeln!(out, "{}", output::row_json(row))?;
            } else {
                output::scan_row(out, row)?;
            }
        }
        rows += whole.len() as u64;
    }
    if !conn.json {
        writeln!(out, "{rows} row(s)")?;
        took(out, start)?;
    }
    Ok(())
}

pub(super) async fn count(a: CountArgs, out: &mut impl Write, start: Instant) -> Result<()> {
    let CountArgs {
        table,
        prefix,
        filter,
        conn,
    } = a;
    let mut c = connect(&conn).await?;
    let request = pb::ScanRequest {
        table,
        prefix: prefix
            .as_deref()
            .map(escape::parse)
            .unwrap_or_default()
            .into(),
        filter: filter.unwrap_or_default(),
        batch_size: 10_000,
        keys_only: true,
        ..pb::ScanRequest::default()
    };
    let mut stream = call("Scan", c.scan(request).await)?;
    let mut rows = 0u64;
    loop {
        match stream.message().await {
            // Keys only: no row is ever sent in parts, but count only last parts anyway.
            Ok(Some(r)) => rows += r.rows.iter().filter(|row| !row.partial).count() as u64,
            Ok(None) => break,
            Err(s) => bail!(
                "Scan failed after {rows} row(s): {}: {}",
                code_name(s.code()),
                s.message()
            ),
        }
    }
    if conn.json {
        writeln!(out, "{}", json!({ "rows": rows }))?;
    } else {
        writeln!(out, "{rows} row(s)")?;
        took(out, start)?;
    }
    Ok(())
}

pub(super) async fn delete(a: DeleteArgs, out: &mut impl Write, start: Instant) -> Result<()> {
    use pb::mutation::Kind;
    let DeleteArgs {
        table,
        row,
        column,
        timestamp,
        conn,
    } = a;
    let kind = match column.as_deref() {
        None => Kind::DeleteRow(pb::DeleteRow {
            up_to_timestamp_micros: Default::default(),
        }),
        Some(col) => {
            let sel = parse_column(col)?;
            if col.contains(':') {
                Kind::DeleteCells(pb::DeleteCells {
                    up_to: Default::default(),
                    family: sel.family,
                    qualifier: sel.qualifier,
                    timestamp_micros: timestamp.unwrap_or(0),
                })
            } else if timestamp.is_some() {
                bail!("--timestamp needs a FAMILY:QUALIFIER column");
            } else {
                Kind::DeleteFamily(pb::DeleteFamily {
                    up_to_timestamp_micros: Default::default(),
                    family: sel.family,
                })
            }
        }
    };
    let mut c = connect(&conn).await?;
    let r = call(
        "Mutate",
        c.mutate(pb::MutateRequest {
            table,
            row: escape::parse(&row).into(),
            mutations: vec![pb::Mutation { kind: Some(kind) }],
        })
        .await,
    )?;
    if conn.json {
        writeln!(out, "{}", json!({ "rows": r.rows, "cells": r.cells }))?;
    } else {
        writeln!(out, "Deleted")?;
        took(out, start)?;
    }
    Ok(())
}
