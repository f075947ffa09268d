//! The client subcommands (`tables`, `create`, `describe`, `alter`, `drop`, `put`, `get`,
//! `scan`, `count`, `delete`, `flush`, `compact`, `aggregate`): each builds one request, calls the server
//! given by `--server`, and prints the reply as text or, with `--json`, as JSON.
//!
//! This file owns the subcommand list, its dispatch and what every command shares (the
//! connection flags, turning a failed call into an error, the timing line); each command is
//! one function beside its flags in `tables` (DDL), `rows` (reads and writes) or `admin`
//! (flush, compact). A new command is a variant here, one arm in [`run_to`] and its function
//! in the file of its kind. This module must never open a store directly; everything goes
//! through the gRPC API.

mod admin;
mod aggregate;
mod rows;
mod tables;

use std::io::Write;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use strata_server::{Client, ClientSecurityArgs, Remote};

pub use admin::{CompactArgs, FlushArgs};
pub use aggregate::AggregateArgs;
pub use rows::{CountArgs, DeleteArgs, GetArgs, PutArgs, ScanArgs};
pub use tables::{AlterArgs, CreateArgs, DescribeArgs, DropArgs, TablesArgs};

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
    #[command(flatten)]
    pub security: ClientSecurityArgs,
}

impl Conn {
    /// The server these flags name.
    pub fn remote(&self) -> Result<Remote> {
        Ok(Remote {
            url: self.server.clone(),
            security: self.security.resolve()?,
        })
    }
}

/// The client subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ClientCommand {
    /// List tables
    Tables(TablesArgs),
    /// Create a table: `create T FAMILY[:opt=val,...]...`
    ///
    /// Options: versions=N, ttl=SECONDS (or Nm, Nh, Nd, forever), compression=none|zstd,
    /// level=N (zstd level), bloom=on|off, blocksize=SIZE (e.g. 4KiB). Unset options take the
    /// server's defaults (1 version, no TTL, zstd level 3, bloom on, 64KiB blocks).
    Create(CreateArgs),
    /// Show a table's families and storage statistics
    Describe(DescribeArgs),
    /// Add, drop or re-tune families
    ///
    /// `--modify FAMILY:opts` changes only the options given; the others keep their current
    /// values. Dropping a family deletes its data.
    Alter(AlterArgs),
    /// Drop a table and its data
    Drop(DropArgs),
    /// Write one cell: `put T ROW FAMILY:QUALIFIER VALUE`
    ///
    /// ROW, QUALIFIER and VALUE may contain \xNN escapes for arbitrary bytes (\\ for a
    /// backslash).
    Put(PutArgs),
    /// Read one row
    Get(GetArgs),
    /// Read rows in key order
    Scan(ScanArgs),
    /// Count rows
    Count(CountArgs),
    /// Delete a row, a family of a row, or a column of a row
    Delete(DeleteArgs),
    /// Flush a table's memtables to table files
    Flush(FlushArgs),
    /// Compact a table's files
    Compact(CompactArgs),
    /// Count rows per value (or derived bucket) of one column, computed in the server
    Aggregate(AggregateArgs),
}

/// Run one client command.
pub async fn run(cmd: ClientCommand) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    run_to(cmd, &mut out).await?;
    out.flush().context("writing output")?;
    Ok(())
}

/// Run one client command, printing to `out`.
async fn run_to(cmd: ClientCommand, out: &mut impl Write) -> Result<()> {
    let start = Instant::now();
    match cmd {
        ClientCommand::Tables(a) => tables::tables(a, out, start).await,
        ClientCommand::Create(a) => tables::create(a, out, start).await,
        ClientCommand::Describe(a) => tables::describe(a, out).await,
        ClientCommand::Alter(a) => tables::alter(a, out).await,
        ClientCommand::Drop(a) => tables::drop(a, out, start).await,
        ClientCommand::Put(a) => rows::put(a, out, start).await,
        ClientCommand::Get(a) => rows::get(a, out, start).await,
        ClientCommand::Scan(a) => rows::scan(a, out, start).await,
        ClientCommand::Count(a) => rows::count(a, out, start).await,
        ClientCommand::Delete(a) => rows::delete(a, out, start).await,
        ClientCommand::Flush(a) => admin::flush(a, out, start).await,
        ClientCommand::Compact(a) => admin::compact(a, out, start).await,
        ClientCommand::Aggregate(a) => aggregate::aggregate(a, out, start).await,
    }
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
    strata_server::status::code_name(code)
}

async fn connect(conn: &Conn) -> Result<Client> {
    Ok(conn.remote()?.connect().await?)
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
