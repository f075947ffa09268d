//! `strata load`: bulk-load a CSV file into a table. The loader library turns the CSV into
//! presorted table files; this module adopts them in one atomic step, either straight into a
//! store no server holds (`--data-dir`, through `Db::ingest`) or into a running server
//! (`--server`, through the BulkIngest RPC with absolute paths and an ingest id). Files are
//! staged in the store's first ingest directory (ServerInfo names it), the only place the
//! store takes files from.
//! It also holds the pieces `strata demo` and `strata bench` share: table creation through the
//! API, the staging directory, BulkIngest with one retry, the ingest id, and the summary.
//!
//! This module must never parse CSV or write table files itself (the loader does), never
//! adopt files of a failed build, and never leave its staging files behind.

use std::hash::Hasher as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};

use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::json;
use strata_engine::{Db, DbOptions, FamilyOptions};
use strata_loader::{LoadFlags, LoadOptions, LoadSummary, LoaderError};
use strata_proto::v1 as pb;
use strata_server::{Client, ClientSecurityArgs, Remote};

/// `strata load` arguments.
#[derive(Debug, clap::Args)]
#[command(
    group(clap::ArgGroup::new("target").required(true).args(["data_dir", "server"])),
    after_help = "Exactly one of --data-dir (a store no server holds) and --server (a running \
server) is required. The built-in tables customers, product, transactions and clickstream (and the \
pipeline's customer, click_stream) need no --columns; --mapping NAME loads one of them under another \
table name. Cell timestamps: the clock at the start of the load for every cell, or each row's \
--timestamp-column value; TTL counts from the cell timestamp, so old timestamps in a family with \
a TTL expire at once. Rows with the same row key: the later line wins. A load that fails adopts \
nothing."
)]
pub struct LoadArgs {
    /// Table to load into (created with the mapping's families if missing)
    #[arg(long, value_name = "T")]
    pub table: String,
    /// CSV file with a header line
    #[arg(long, value_name = "FILE")]
    pub csv: PathBuf,
    /// Load straight into the store in DIR (no server may hold it)
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Load into the running server at URL (e.g. http://127.0.0.1:50051)
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Built-in mapping to load with, whatever --table is: customers, product, transactions,
    /// clickstream (or the pipeline's names customer, click_stream) [default: the table's, if
    /// it is one]
    #[arg(long, value_name = "NAME", conflicts_with = "columns")]
    pub mapping: Option<String>,
    /// ImportTsv-style mapping, one entry per CSV column: HBASE_ROW_KEY, family:qualifier or
    /// - (skip); not needed for the four built-in tables
    #[arg(long, value_name = "HBASE_ROW_KEY,cf:q,...")]
    pub columns: Option<String>,
    /// Row key template built from several columns, e.g. {session_id}#{event_time}#{event_id}
    #[arg(long, value_name = "TEMPLATE")]
    pub row_key: Option<String>,
    /// Field delimiter: one ASCII character, or "tab"
    #[arg(long, value_name = "C")]
    pub delimiter: Option<String>,
    /// Column whose ISO-8601 value is each row's cell timestamp (TTL counts from it)
    #[arg(long, value_name = "COL")]
    pub timestamp_column: Option<String>,
    /// Memory for parsed rows before sorted runs spill to disk (e.g. 512MiB, 2GiB)
    #[arg(long, value_name = "SIZE", default_value = "1GiB")]
    pub memory: String,
    /// File for rejected rows (line, reason, raw record) [default: FILE.rejects beside the
    /// CSV, removed again if nothing was rejected]
    #[arg(long, value_name = "PATH")]
    pub rejects: Option<PathBuf>,
    /// Abort, adopting nothing, once more than N rows are rejected
    #[arg(long, value_name = "N")]
    pub max_rejects: Option<u64>,
    /// With --server: where table files are built before BulkIngest; it must be inside one of
    /// the server's ingest directories (strata serve --ingest-dir), which the server moves
    /// files out of [default: a fresh directory in the server's first ingest directory]
    #[arg(long, value_name = "DIR", conflicts_with = "data_dir")]
    pub staging_dir: Option<PathBuf>,
    /// Ingest id [default: derived from the table, the CSV's path, size and modification time
    /// and the mapping flags, so repeating an identical load adopts nothing twice]
    #[arg(long, value_name = "ID")]
    pub ingest_id: Option<String>,
    /// No progress output on stderr
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
    /// With --server: TLS and token options of the connection
    #[command(flatten)]
    pub security: ClientSecurityArgs,
}

/// What a finished load did, for the summary.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Table loaded.
    pub table: String,
    /// The loader's summary (rows, cells, rejects, duplicates, bytes, build time).
    pub build: LoadSummary,
    /// The rejects file, if one was kept.
    pub rejects_path: Option<PathBuf>,
    /// Ingest id used.
    pub ingest_id: String,
    /// Wall time of the whole load (build and adoption).
    pub elapsed: Duration,
}

impl LoadReport {
    /// Input megabytes (10^6 bytes) per second of the whole load.
    pub fn mb_per_sec(&self) -> f64 {
        per_sec(self.build.input_bytes as f64 / 1e6, self.elapsed)
    }

    /// Stored bytes over input bytes.
    pub fn ratio(&self) -> f64 {
        if self.build.input_bytes == 0 {
            0.0
        } else {
            self.build.output_bytes as f64 / self.build.input_bytes as f64
        }
    }

    /// The summary as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        let b = &self.build;
        json!({
            "table": self.table,
            "rows": b.rows,
            "cells": b.cells,
            "rejects": b.rejects,
            "rejects_file": self.rejects_path.as_ref().map(|p| p.display().to_string()),
            "duplicates": b.duplicates,
            "input_bytes": b.input_bytes,
            "stored_bytes": b.output_bytes,
            "ratio": self.ratio(),
            "files": b.files.len(),
            "spilled_runs": b.spilled_runs,
            "ingest_id": self.ingest_id,
            "build_seconds": b.elapsed.as_secs_f64(),
            "seconds": self.elapsed.as_secs_f64(),
            "mb_per_sec": self.mb_per_sec(),
        })
    }

    /// The summary as text.
    pub fn print(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        let b = &self.build;
        writeln!(w, "loaded table {}", self.table)?;
        writeln!(w, "  rows        {}", b.rows)?;
        writeln!(w, "  cells       {}", b.cells)?;
        match &self.rejects_path {
            Some(p) => writeln!(
                w,
                "  rejects     {} (written to {})",
                b.rejects,
                p.display()
            )?,
            None => writeln!(w, "  rejects     {}", b.rejects)?,
        }
        writeln!(w, "  duplicates  {} (the later line won)", b.duplicates)?;
        writeln!(
            w,
            "  input       {} bytes ({:.1} MB)",
            b.input_bytes,
            b.input_bytes as f64 / 1e6
        )?;
        writeln!(
            w,
            "  stored      {} bytes ({:.1} MB), {:.2}x the CSV, in {} file(s)",
            b.output_bytes,
            b.output_bytes as f64 / 1e6,
            self.ratio(),
            b.files.len()
        )?;
        writeln!(
            w,
            "  time        {:.2} s (build {:.2} s), {:.1} MB/s, {:.0} cells/s",
            self.elapsed.as_secs_f64(),
            b.elapsed.as_secs_f64(),
            self.mb_per_sec(),
            per_sec(b.cells as f64, self.elapsed)
        )?;
        writeln!(
            w,
            "  ingest id   {} (repeating it adopts nothing twice)",
            self.ingest_id
        )
    }
}

/// `x` per second of `d` (0 for a zero duration).
pub fn per_sec(x: f64, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s > 0.0 { x / s } else { 0.0 }
}

/// Run `strata load`.
pub async fn run(args: LoadArgs) -> Result<()> {
    let report = match (&args.data_dir, &args.server) {
        (Some(dir), None) => load_into_dir(&args, dir.clone()).await?,
        (None, Some(url)) => {
            let remote = Remote {
                url: url.clone(),
                security: args.security.resolve()?,
            };
            load_into_server(&args, &remote).await?
        }
        // clap's group makes these unreachable; say so plainly if they ever happen.
        _ => bail!("give exactly one of --data-dir DIR and --server URL"),
    };
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    if args.json {
        writeln!(w, "{}", report.to_json())?;
    } else {
        report.print(&mut w)?;
    }
    Ok(())
}

/// The loader's flags from the command line.
fn load_flags(args: &LoadArgs, rejects: &Path) -> LoadFlags {
    LoadFlags {
        table: args.table.clone(),
        csv: args.csv.clone(),
        mapping: args.mapping.clone(),
        columns: args.columns.clone(),
        row_key: args.row_key.clone(),
        delimiter: args.delimiter.clone(),
        timestamp_column: args.timestamp_column.clone(),
        memory: Some(args.memory.clone()),
        rejects: Some(rejects.to_path_buf()),
        max_rejects: args.max_rejects,
    }
}

/// `--rejects`, or `FILE.rejects` beside the CSV; the bool says whether it was the default.
fn rejects_path(args: &LoadArgs) -> (PathBuf, bool) {
    match &args.rejects {
        Some(p) => (p.clone(), false),
        None => {
            let mut s = args.csv.clone().into_os_string();
            s.push(".rejects");
            (PathBuf::from(s), true)
        }
    }
}

/// Keep the rejects file if asked for or not empty; the path to report.
fn settle_rejects(path: &Path, defaulted: bool, rejects: u64) -> Option<PathBuf> {
    if defaulted && rejects == 0 {
        let _ = std::fs::remove_file(path);
        None
    } else {
        Some(path.to_path_buf())
    }
}

/// A loader error with the context a user needs: what was (not) loaded and where the
/// rejects are.
fn build_error(e: LoaderError, table: &str, rejects: &Path) -> anyhow::Error {
    match e {
        LoaderError::TooManyRejects { .. } => anyhow!(
            "{e}; rejected rows are in {}; nothing was loaded into table {table}",
            rejects.display()
        ),
        other => anyhow!("{other}; nothing was loaded into table {table}"),
    }
}

/// A stable 64-bit FNV-1a hasher (std's `DefaultHasher` may change between releases, and an
/// ingest id must not).
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// The default ingest id: the table plus a hash of the CSV's absolute path, size and
/// modification time and of every flag that changes what the files hold. Repeating an
/// identical load gives the same id, so the store adopts its files once.
pub fn derive_ingest_id(args: &LoadArgs) -> Result<String> {
    let meta = std::fs::metadata(&args.csv)
        .with_context(|| format!("cannot read {}", args.csv.display()))?;
    let abs = std::fs::canonicalize(&args.csv)
        .with_context(|| format!("cannot resolve {}", args.csv.display()))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    let mut field = |s: &[u8]| {
        h.write(&(s.len() as u64).to_le_bytes());
        h.write(s);
    };
    field(args.table.as_bytes());
    field(abs.as_os_str().as_encoded_bytes());
    field(&meta.len().to_le_bytes());
    field(&mtime.to_le_bytes());
    for opt in [
        &args.columns,
        &args.row_key,
        &args.delimiter,
        &args.timestamp_column,
    ] {
        match opt {
            Some(s) => field(format!("+{s}").as_bytes()),
            None => field(b"-"),
        }
    }
    // Only when given, so the ids of loads without it stay what they were.
    if let Some(m) = &args.mapping {
        field(format!("mapping+{m}").as_bytes());
    }
    Ok(format!("load-{}-{:016x}", args.table, h.finish()))
}

fn ingest_id(args: &LoadArgs) -> Result<String> {
    match &args.ingest_id {
        Some(id) if id.is_empty() => bail!("--ingest-id cannot be empty"),
        Some(id) => Ok(id.clone()),
        None => derive_ingest_id(args),
    }
}

/// Families with default options for each family a mapping writes.
pub fn default_families(mapping: &strata_loader::TableMapping) -> Vec<FamilyOptions> {
    mapping.families.iter().map(FamilyOptions::new).collect()
}

/// Run a bulk build on a blocking thread.
pub async fn build_files(opts: LoadOptions) -> Result<LoadSummary, LoaderError> {
    match tokio::task::spawn_blocking(move || strata_loader::build_table_files(&opts)).await {
        Ok(r) => r,
        Err(e) => Err(LoaderError::InvalidOption(format!(
            "the bulk build thread failed: {e}"
        ))),
    }
}

/// Remove `staging-*` directories a killed earlier load left in an ingest directory. Only
/// called while this process holds the store's lock, so no other load is using them.
fn sweep_staging(ingest_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(ingest_dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        if name.to_string_lossy().starts_with(STAGING_PREFIX) && e.path().is_dir() {
            tracing::info!(path = %e.path().display(), "removing a stale load staging directory");
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

const STAGING_PREFIX: &str = "staging-";

/// Removes a directory when dropped (also when the load fails).
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if self.0.exists()
            && let Err(e) = std::fs::remove_dir_all(&self.0)
        {
            tracing::warn!(path = %self.0.display(), error = %e, "cannot remove the staging directory");
        }
    }
}

/// The server's first ingest directory (ServerInfo): where a client stages table files.
pub async fn server_ingest_dir(client: &mut Client) -> Result<PathBuf> {
    let info = client
        .server_info(pb::ServerInfoRequest {})
        .await
        .map_err(|s| status_error("ServerInfo", &s))?
        .into_inner();
    info.ingest_dirs
        .first()
        .map(PathBuf::from)
        .ok_or_else(|| anyhow!("the server lists no ingest directory (strata serve --ingest-dir)"))
}

/// A fresh staging directory (`{prefix}*`, removed when dropped) inside `dir`, an ingest
/// directory of the server; the error says how to get one this process can write.
pub fn staging_dir_in(dir: &Path, prefix: &str) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(dir)
        .with_context(|| {
            format!(
                "cannot create a staging directory in {}, where the server takes table files \
                 from: run this on the server's machine as a user who can write there, or start \
                 the server with --ingest-dir DIR naming a directory this user can write",
                dir.display()
            )
        })
}

/// `--data-dir`: open the store (it must not be held by a server), create the table if
/// missing, build files in a staging directory inside its first ingest directory (by default
/// `DATA_DIR/ingest/`, on its filesystem, so ingest moves them), ingest them atomically, close
/// the store.
async fn load_into_dir(args: &LoadArgs, data_dir: PathBuf) -> Result<LoadReport> {
    let started = Instant::now();
    let (rejects, defaulted) = rejects_path(args);
    let flags = load_flags(args, &rejects);
    let id = ingest_id(args)?;
    let dir = data_dir.clone();
    let db = tokio::task::spawn_blocking(move || Db::open(&dir, DbOptions::default()))
        .await?
        .map_err(|e| match e {
            strata_engine::Error::Locked { path } => anyhow!(
                "the store in {} is held by another process (a running `strata serve`?): \
                 stop it, or load through it with --server URL",
                path.display()
            ),
            other => anyhow!("cannot open the store in {}: {other}", data_dir.display()),
        })?;
    let result = load_into_open_db(&db, args, flags, &rejects, &id).await;
    let closing = db.clone();
    let closed = tokio::task::spawn_blocking(move || closing.close()).await?;
    let build = result?;
    closed.with_context(|| format!("closing the store in {}", data_dir.display()))?;
    Ok(LoadReport {
        table: args.table.clone(),
        rejects_path: settle_rejects(&rejects, defaulted, build.rejects),
        build,
        ingest_id: id,
        elapsed: started.elapsed(),
    })
}

async fn load_into_open_db(
    db: &Db,
    args: &LoadArgs,
    flags: LoadFlags,
    rejects: &Path,
    id: &str,
) -> Result<LoadSummary> {
    let ingest_dir = db
        .ingest_dirs()
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("the store has no ingest directory"))?;
    sweep_staging(&ingest_dir);
    let staging = ingest_dir.join(format!("{STAGING_PREFIX}{}", std::process::id()));
    let _cleanup = RemoveOnDrop(staging.clone());
    let mut opts = strata_loader::load_options(&flags, &staging)?;
    let table = args.table.clone();
    let families = default_families(&opts.mapping);
    let d = db.clone();
    let described = tokio::task::spawn_blocking(move || match d.describe_table(&table) {
        Err(strata_engine::Error::TableNotFound(_)) => {
            d.create_table(&table, families)?;
            tracing::info!(table, "created the table");
            d.describe_table(&table)
        }
        other => other,
    })
    .await?
    .with_context(|| format!("cannot create or describe table {}", args.table))?;
    opts.families = described.families;
    if !args.quiet {
        opts.progress = Some(strata_loader::bulk::stderr_progress());
    }
    let build = build_files(opts)
        .await
        .map_err(|e| build_error(e, &args.table, rejects))?;
    if build.files.is_empty() {
        return Ok(build);
    }
    let paths = build.paths();
    let (d, table, id) = (db.clone(), args.table.clone(), id.to_string());
    tokio::task::spawn_blocking(move || d.ingest(&table, &paths, &id))
        .await?
        .with_context(|| {
            format!(
                "cannot adopt the built files into table {}; nothing was loaded",
                args.table
            )
        })?;
    Ok(build)
}

/// `--server`: describe (or create) the table through the API, build files in the staging
/// directory, adopt them with BulkIngest.
async fn load_into_server(args: &LoadArgs, remote: &Remote) -> Result<LoadReport> {
    let started = Instant::now();
    let (rejects, defaulted) = rejects_path(args);
    let flags = load_flags(args, &rejects);
    let id = ingest_id(args)?;
    let mut client = remote.connect().await?;
    // The staging directory, a fresh one (removed at the end) inside --staging-dir or the
    // server's first ingest directory.
    let parent = match &args.staging_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            dir.clone()
        }
        None => server_ingest_dir(&mut client).await?,
    };
    let temp = staging_dir_in(&parent, "strata-load-")?;
    let staging = std::path::absolute(temp.path())
        .with_context(|| format!("cannot resolve {}", temp.path().display()))?;
    let mut opts = strata_loader::load_options(&flags, &staging)?;
    let families = default_families(&opts.mapping);
    opts.families = ensure_table(&mut client, &args.table, &families).await?;
    if !args.quiet {
        opts.progress = Some(strata_loader::bulk::stderr_progress());
    }
    let build = build_files(opts)
        .await
        .map_err(|e| build_error(e, &args.table, &rejects))?;
    if !build.files.is_empty() {
        bulk_ingest(remote, &mut client, &args.table, &build.paths(), &id).await?;
    }
    drop(temp);
    Ok(LoadReport {
        table: args.table.clone(),
        rejects_path: settle_rejects(&rejects, defaulted, build.rejects),
        build,
        ingest_id: id,
        elapsed: started.elapsed(),
    })
}

/// A failed call as an error naming what failed, the gRPC code and the server's message.
pub fn status_error(what: &str, s: &tonic::Status) -> anyhow::Error {
    anyhow!("{what} failed: {:?}: {}", s.code(), s.message())
}

/// The table's families (engine form) from the server, creating the table with `families`
/// first if it does not exist (ALREADY_EXISTS from a concurrent creator is fine).
pub async fn ensure_table(
    client: &mut Client,
    table: &str,
    families: &[FamilyOptions],
) -> Result<Vec<FamilyOptions>> {
    let described = match describe(client, table).await {
        Ok(d) => d,
        Err(s) if s.code() == tonic::Code::NotFound => {
            let req = pb::CreateTableRequest {
                table: table.to_string(),
                families: families
                    .iter()
                    .map(strata_server::convert::family_to_pb)
                    .collect(),
            };
            match client.create_table(req).await {
                Ok(_) => tracing::info!(table, "created the table"),
                Err(s) if s.code() == tonic::Code::AlreadyExists => {}
                Err(s) => return Err(status_error(&format!("CreateTable {table}"), &s)),
            }
            describe(client, table)
                .await
                .map_err(|s| status_error(&format!("DescribeTable {table}"), &s))?
        }
        Err(s) => return Err(status_error(&format!("DescribeTable {table}"), &s)),
    };
    described
        .families
        .into_iter()
        .map(|f| {
            strata_server::convert::family_from_pb(f)
                .map_err(|e| anyhow!("table {table}: the server described a bad family: {e}"))
        })
        .collect()
}

async fn describe(
    client: &mut Client,
    table: &str,
) -> Result<pb::DescribeTableResponse, tonic::Status> {
    client
        .describe_table(pb::DescribeTableRequest {
            table: table.to_string(),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// BulkIngest the files at `paths` (made absolute) with `ingest_id`; on a transport error
/// (UNAVAILABLE, or UNKNOWN from a broken connection) reconnect and retry once; the ingest id
/// makes the retry safe.
pub async fn bulk_ingest(
    remote: &Remote,
    client: &mut Client,
    table: &str,
    paths: &[PathBuf],
    ingest_id: &str,
) -> Result<pb::BulkIngestResponse> {
    let paths = paths
        .iter()
        .map(|p| {
            let abs = std::path::absolute(p)
                .with_context(|| format!("cannot resolve {}", p.display()))?;
            abs.to_str().map(str::to_string).ok_or_else(|| {
                anyhow!(
                    "table file path {} is not valid UTF-8 (BulkIngest takes UTF-8 paths)",
                    abs.display()
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let req = pb::BulkIngestRequest {
        table: table.to_string(),
        paths,
        ingest_id: ingest_id.to_string(),
    };
    match client.bulk_ingest(req.clone()).await {
        Ok(r) => Ok(r.into_inner()),
        Err(s) if matches!(s.code(), tonic::Code::Unavailable | tonic::Code::Unknown) => {
            tracing::warn!(code = ?s.code(), message = s.message(), "BulkIngest failed; retrying once");
            tokio::time::sleep(Duration::from_millis(500)).await;
            let mut retry = remote.connect().await?;
            let r = retry
                .bulk_ingest(req)
                .await
                .map_err(|s| status_error(&format!("BulkIngest into {table} (retried)"), &s))?;
            *client = retry;
            Ok(r.into_inner())
        }
        Err(s) => Err(status_error(&format!("BulkIngest into {table}"), &s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(csv: &Path) -> LoadArgs {
        LoadArgs {
            table: "customers".into(),
            csv: csv.to_path_buf(),
            data_dir: Some("/tmp/d".into()),
            server: None,
            mapping: None,
            columns: None,
            row_key: None,
            delimiter: None,
            timestamp_column: None,
            memory: "1GiB".into(),
            rejects: None,
            max_rejects: None,
            staging_dir: None,
            ingest_id: None,
            quiet: true,
            json: false,
            security: Default::default(),
        }
    }

    #[test]
    fn ingest_ids_follow_the_input_and_the_mapping() {
        let dir = tempfile::tempdir().expect("temp dir");
        let csv = dir.path().join("c.csv");
        std::fs::write(&csv, "a,b\n1,2\n").expect("write");
        let a = args(&csv);
        let id = derive_ingest_id(&a).expect("id");
        assert!(id.starts_with("load-customers-"), "{id}");
        assert_eq!(id, derive_ingest_id(&a).expect("id"));
        let mut b = args(&csv);
        b.row_key = Some("{a}".into());
        assert_ne!(id, derive_ingest_id(&b).expect("id"));
        let mut c = args(&csv);
        c.table = "other".into();
        assert_ne!(id, derive_ingest_id(&c).expect("id"));
        let mut d = args(&csv);
        d.mapping = Some("customers".into());
        assert_ne!(id, derive_ingest_id(&d).expect("id"));
        std::fs::write(&csv, "a,b\n1,2\n3,4\n").expect("write");
        assert_ne!(id, derive_ingest_id(&a).expect("id"));
        assert!(derive_ingest_id(&args(&dir.path().join("missing.csv"))).is_err());
    }

    #[test]
    fn exactly_one_target_is_required() {
        use clap::Parser as _;
        let parse = |extra: &[&str]| {
            let mut v = vec!["strata", "load", "--table", "t", "--csv", "x.csv"];
            v.extend_from_slice(extra);
            crate::cli::Cli::try_parse_from(v)
        };
        assert!(parse(&[]).is_err());
        assert!(parse(&["--data-dir", "d", "--server", "http://h:1"]).is_err());
        assert!(parse(&["--data-dir", "d", "--staging-dir", "s"]).is_err());
        assert!(parse(&["--data-dir", "d"]).is_ok());
        let ok = parse(&[
            "--server",
            "http://h:1",
            "--staging-dir",
            "s",
            "--max-rejects",
            "0",
        ]);
        match ok.map(|c| c.command) {
            Ok(crate::cli::Command::Load(a)) => {
                assert_eq!(a.server.as_deref(), Some("http://h:1"));
                assert_eq!(a.max_rejects, Some(0));
                assert_eq!(a.memory, "1GiB");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn default_rejects_file_sits_beside_the_csv() {
        let a = args(Path::new("/data/customer.csv"));
        assert_eq!(
            rejects_path(&a),
            (PathBuf::from("/data/customer.csv.rejects"), true)
        );
    }
}
