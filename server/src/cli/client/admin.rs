//! `strata flush` and `strata compact`: ask the server to run a table's maintenance now.
//!
//! Each function owns one command's request and output; it must never wait for or poll the
//! store itself (the RPC returns when the work is done).

use std::io::Write;
use std::time::Instant;

use anyhow::Result;
use serde_json::json;
use strata_proto::v1 as pb;

use super::{Conn, call, connect, report};

/// `strata flush` flags.
#[derive(Debug, clap::Args)]
pub struct FlushArgs {
    /// Table name
    pub table: String,
    #[command(flatten)]
    pub conn: Conn,
}

/// `strata compact` flags.
#[derive(Debug, clap::Args)]
pub struct CompactArgs {
    /// Table name
    pub table: String,
    /// Merge everything into one sorted run
    #[arg(long)]
    pub major: bool,
    #[command(flatten)]
    pub conn: Conn,
}

pub(super) async fn flush(a: FlushArgs, out: &mut impl Write, start: Instant) -> Result<()> {
    let FlushArgs { table, conn } = a;
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
    Ok(())
}

pub(super) async fn compact(a: CompactArgs, out: &mut impl Write, start: Instant) -> Result<()> {
    let CompactArgs { table, major, conn } = a;
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
    Ok(())
}
