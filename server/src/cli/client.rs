//! The client subcommands (`tables`, `create`, `describe`, `alter`, `drop`, `put`, `get`,
//! `scan`, `count`, `delete`, `flush`, `compact`): each builds one request, calls the server
//! given by `--server`, and prints the reply as text or, with `--json`, as JSON.
//!
//! This module must never open a store directly; everything goes through the gRPC API.

use std::io::Write;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use serde_json::json;
use strata_proto::v1 as pb;
use strata_proto::v1::strata_client::StrataClient;
use tonic::transport::Channel;

use super::family::{FamilySpec, parse_cell_column, parse_column, parse_columns};
use super::output;
use strata_server::escape;

/// Options every client command takes.
#[derive(Clone, Debug, clap::Args)]
pub struct Conn {
    /// Server URL
    #[arg(
        long,
        value_name = "URL",
        default_value = "http://127.0.0.1:50051",
        env = "STRATA_SERVER"
    )]
    pub server: String,
    /// Print JSON instead of text (scan: one JSON object per row, one per line)
    #[arg(long)]
    pub json: bool,
}

/// The client subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ClientCommand {
    /// List tables
    Tables {
        #[command(flatten)]
        conn: Conn,
    },
    /// Create a table: `create T FAMILY[:opt=val,...]...`
    ///
    /// Options: versions=N, ttl=SECONDS (or Nm, Nh, Nd, forever), compression=none|zstd,
    /// level=N (zstd level), bloom=on|off, blocksize=SIZE (e.g. 4KiB). Unset options take the
    /// server's defaults (1 version, no TTL, zstd level 3, bloom on, 64KiB blocks).
    Create {
        /// Table name
        table: String,
        /// Families, each FAMILY[:opt=val,...]
        #[arg(required = true, value_name = "FAMILY[:opt=val,...]")]
        families: Vec<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Show a table's families and storage statistics
    Describe {
        /// Table name
        table: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Add, drop or re-tune families
    ///
    /// `--modify FAMILY:opts` changes only the options given; the others keep their current
    /// values. Dropping a family deletes its data.
    Alter {
        /// Table name
        table: String,
        /// Add a family: FAMILY[:opt=val,...] (repeatable)
        #[arg(long, value_name = "FAMILY[:opt=val,...]")]
        add: Vec<String>,
        /// Drop a family and its data (repeatable)
        #[arg(long, value_name = "FAMILY")]
        drop: Vec<String>,
        /// Change a family's options: FAMILY:opt=val,... (repeatable)
        #[arg(long, value_name = "FAMILY:opt=val,...")]
        modify: Vec<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Drop a table and its data
    Drop {
        /// Table name
        table: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Write one cell: `put T ROW FAMILY:QUALIFIER VALUE`
    ///
    /// ROW, QUALIFIER and VALUE may contain \xNN escapes for arbitrary bytes (\\ for a
    /// backslash).
    Put {
        /// Table name
        table: String,
        /// Row key
        row: String,
        /// Column, FAMILY:QUALIFIER
        column: String,
        /// Value
        value: String,
        /// Version timestamp in microseconds since the epoch (default: the server's clock)
        #[arg(long, value_name = "MICROS", default_value_t = 0)]
        timestamp: i64,
        #[command(flatten)]
        conn: Conn,
    },
    /// Read one row
    Get {
        /// Table name
        table: String,
        /// Row key
        row: String,
        /// Only these columns: FAMILY[:QUALIFIER],... (repeatable)
        #[arg(long, value_name = "FAMILY[:QUALIFIER],...")]
        columns: Vec<String>,
        /// Versions per column
        #[arg(long, value_name = "N", default_value_t = 1)]
        versions: u32,
        #[command(flatten)]
        conn: Conn,
    },
    /// Read rows in key order
    Scan {
        /// Table name
        table: String,
        /// Only rows starting with this prefix
        #[arg(long, value_name = "P")]
        prefix: Option<String>,
        /// First row (inclusive)
        #[arg(long, value_name = "ROW")]
        start: Option<String>,
        /// Start after --start instead of at it
        #[arg(long, requires = "start")]
        start_exclusive: bool,
        /// Stop before this row (exclusive)
        #[arg(long, value_name = "ROW")]
        stop: Option<String>,
        /// At most N rows
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
        /// Only these columns: FAMILY[:QUALIFIER],... (repeatable)
        #[arg(long, value_name = "FAMILY[:QUALIFIER],...")]
        columns: Vec<String>,
        /// Versions per column
        #[arg(long, value_name = "N", default_value_t = 1)]
        versions: u32,
        #[command(flatten)]
        conn: Conn,
    },
    /// Count rows
    Count {
        /// Table name
        table: String,
        /// Only rows starting with this prefix
        #[arg(long, value_name = "P")]
        prefix: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Delete a row, a family of a row, or a column of a row
    Delete {
        /// Table name
        table: String,
        /// Row key
        row: String,
        /// FAMILY (the family's cells) or FAMILY:QUALIFIER (every version of the column);
        /// omitted: the whole row
        column: Option<String>,
        /// With FAMILY:QUALIFIER, delete only this version (microseconds)
        #[arg(long, value_name = "MICROS", requires = "column")]
        timestamp: Option<i64>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Flush a table's memtables to table files
    Flush {
        /// Table name
        table: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Compact a table's files
    Compact {
        /// Table name
        table: String,
        /// Merge everything into one sorted run
        #[arg(long)]
        major: bool,
        #[command(flatten)]
        conn: Conn,
    },
}

/// Turn a failed call into an error that shows the gRPC code and the server's message.
fn call<T>(what: &str, r: Result<tonic::Response<T>, tonic::Status>) -> Result<T> {
    match r {
        Ok(resp) => Ok(resp.into_inner()),
        Err(s) => bail!("{what} failed: {}: {}", code_name(s.code()), s.message()),
    }
}

/// The canonical gRPC name of a status code (NOT_FOUND, ...).
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

async fn connect(conn: &Conn) -> Result<StrataClient<Channel>> {
    Ok(strata_server::connect(&conn.server).await?)
}

fn took(out: &mut impl Write, start: Instant) -> std::io::Result<()> {
    writeln!(out, "Took {:.4} seconds", start.elapsed().as_secs_f64())
}

/// Print a command's outcome: `json` with `--json`, else `text` and the time taken.
fn report(
    out: &mut impl Write,
    json_mode: bool,
    json: serde_json::Value,
    text: &str,
    start: Instant,
) -> std::io::Result<()> {
    if json_mode {
        writeln!(out, "{json}")
    } else {
        writeln!(out, "{text}")?;
        took(out, start)
    }
}

/// Run one client command.
pub async fn run(cmd: ClientCommand) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    run_to(cmd, &mut out).await?;
    out.flush().context("writing output")?;
    Ok(())
}

async fn run_to(cmd: ClientCommand, out: &mut impl Write) -> Result<()> {
    let start = Instant::now();
    match cmd {
        ClientCommand::Tables { conn } => {
            let mut c = connect(&conn).await?;
            let r = call("ListTables", c.list_tables(pb::ListTablesRequest {}).await)?;
            if conn.json {
                writeln!(out, "{}", json!({ "tables": r.tables }))?;
            } else {
                writeln!(out, "TABLE")?;
                for t in &r.tables {
                    writeln!(out, "{t}")?;
                }
                writeln!(out, "{} row(s)", r.tables.len())?;
                took(out, start)?;
            }
        }
        ClientCommand::Create {
            table,
            families,
            conn,
        } => {
            let families = families
                .iter()
                .map(|f| FamilySpec::parse(f).map(|s| s.to_new()))
                .collect::<Result<Vec<_>>>()?;
            let mut c = connect(&conn).await?;
            call(
                "CreateTable",
                c.create_table(pb::CreateTableRequest {
                    table: table.clone(),
                    families,
                })
                .await,
            )?;
            if conn.json {
                writeln!(out, "{}", json!({ "created": table }))?;
            } else {
                writeln!(out, "Created table {table}")?;
                took(out, start)?;
            }
        }
        ClientCommand::Describe { table, conn } => {
            let mut c = connect(&conn).await?;
            let d = call(
                "DescribeTable",
                c.describe_table(pb::DescribeTableRequest { table }).await,
            )?;
            if conn.json {
                writeln!(out, "{}", output::describe_json(&d))?;
            } else {
                output::describe_text(out, &d)?;
            }
        }
        ClientCommand::Alter {
            table,
            add,
            drop,
            modify,
            conn,
        } => {
            if add.is_empty() && drop.is_empty() && modify.is_empty() {
                bail!("alter {table}: nothing to do (give --add, --drop or --modify)");
            }
            let add = add
                .iter()
                .map(|f| FamilySpec::parse(f).map(|s| s.to_new()))
                .collect::<Result<Vec<_>>>()?;
            let modify_specs = modify
                .iter()
                .map(|f| FamilySpec::parse(f))
                .collect::<Result<Vec<_>>>()?;
            let mut c = connect(&conn).await?;
            let mut modify = Vec::with_capacity(modify_specs.len());
            if !modify_specs.is_empty() {
                let current = call(
                    "DescribeTable",
                    c.describe_table(pb::DescribeTableRequest {
                        table: table.clone(),
                    })
                    .await,
                )?;
                for spec in &modify_specs {
                    let Some(base) = current.families.iter().find(|f| f.name == spec.name) else {
                        bail!("alter {table}: table has no family {}", spec.name);
                    };
                    modify.push(spec.apply(base.clone()));
                }
            }
            let r = call(
                "AlterTable",
                c.alter_table(pb::AlterTableRequest {
                    table: table.clone(),
                    add_families: add,
                    drop_families: drop,
                    modify_families: modify,
                })
                .await,
            )?;
            if conn.json {
                writeln!(
                    out,
                    "{}",
                    json!({
                        "table": table,
                        "families": r.families.iter().map(output::family_json).collect::<Vec<_>>(),
                    })
                )?;
            } else {
                writeln!(out, "Altered table {table}; families now:")?;
                output::describe_text(
                    out,
                    &pb::DescribeTableResponse {
                        enabled: Default::default(),
                        table,
                        families: r.families,
                        stats: None,
                    },
                )?;
            }
        }
        ClientCommand::Drop { table, conn } => {
            let mut c = connect(&conn).await?;
            call(
                "DeleteTable",
                c.delete_table(pb::DeleteTableRequest {
                    table: table.clone(),
                })
                .await,
            )?;
            report(
                out,
                conn.json,
                json!({ "dropped": table }),
                &format!("Dropped table {table}"),
                start,
            )?;
        }
        ClientCommand::Put {
            table,
            row,
            column,
            value,
            timestamp,
            conn,
        } => {
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
        }
        ClientCommand::Get {
            table,
            row,
            columns,
            versions,
            conn,
        } => {
            let columns = parse_columns(&columns)?;
            let mut c = connect(&conn).await?;
            let r = call(
                "Get",
                c.get(pb::GetRequest {
                    filter: Default::default(),
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
        }
        ClientCommand::Scan {
            table,
            prefix,
            start: start_row,
            start_exclusive,
            stop,
            limit,
            columns,
            versions,
            conn,
        } => {
            let request = pb::ScanRequest {
                filter: Default::default(),
                reverse: Default::default(),
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
                for row in &reply.rows {
                    if conn.json {
                        writeln!(out, "{}", output::row_json(row))?;
                    } else {
                        output::scan_row(out, row)?;
                    }
                }
                rows += reply.rows.len() as u64;
            }
            if !conn.json {
                writeln!(out, "{rows} row(s)")?;
                took(out, start)?;
            }
        }
        ClientCommand::Count {
            table,
            prefix,
            conn,
        } => {
            let mut c = connect(&conn).await?;
            let request = pb::ScanRequest {
                table,
                prefix: prefix
                    .as_deref()
                    .map(escape::parse)
                    .unwrap_or_default()
                    .into(),
                batch_size: 10_000,
                keys_only: true,
                ..pb::ScanRequest::default()
            };
            let mut stream = call("Scan", c.scan(request).await)?;
            let mut rows = 0u64;
            loop {
                match stream.message().await {
                    Ok(Some(r)) => rows += r.rows.len() as u64,
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
        }
        ClientCommand::Delete {
            table,
            row,
            column,
            timestamp,
            conn,
        } => {
            use pb::mutation::Kind;
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
        }
        ClientCommand::Flush { table, conn } => {
            let mut c = connect(&conn).await?;
            call(
                "Flush",
                c.flush(pb::FlushRequest {
                    table: table.clone(),
                })
                .await,
            )?;
            report(
                out,
                conn.json,
                json!({ "flushed": table }),
                &format!("Flushed table {table}"),
                start,
            )?;
        }
        ClientCommand::Compact { table, major, conn } => {
            let mut c = connect(&conn).await?;
            call(
                "Compact",
                c.compact(pb::CompactRequest {
                    table: table.clone(),
                    major,
                })
                .await,
            )?;
            report(
                out,
                conn.json,
                json!({ "compacted": table, "major": major }),
                &format!(
                    "Compacted table {table}{}",
                    if major { " (major)" } else { "" }
                ),
                start,
            )?;
        }
    }
    Ok(())
}
