//! `strata bench`: an end-to-end load generator over gRPC. It targets a running server
//! (`--server URL`) or one it starts in-process on a loopback port, generates the data set
//! with the loader's generator and bulk-loads the four tables through BulkIngest (the code
//! paths `strata load --server` and `strata demo` use), samples row keys from the generated
//! CSV files with the loader's own parser and mapping, then runs a workload (YCSB A, B, C, E,
//! F, whole-row gets, batched writes, streaming ingest) from N concurrent clients for a fixed
//! duration after a warm-up, and reports throughput and latency percentiles per operation
//! type, as text and optionally as JSON.
//!
//! This module owns the workload generator, its random numbers (uniform and Zipfian) and its
//! latency histogram. It must never touch the store behind the server's back (every load,
//! read and write goes through gRPC), never build CSV mappings of its own (row keys come
//! from the loader's built-in mappings), and never assert anything about timings: it only
//! measures and reports.

use std::collections::VecDeque;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::json;
use strata_engine::{DbOptions, Limits, SyncMode};
use strata_loader::bulk::batch::{Batch, ParseConfig, parse_chunk};
use strata_loader::csv_input::ChunkReader;
use strata_loader::{LoadOptions, builtin_csv_file, builtin_mapping};
use strata_proto::v1 as pb;
use strata_proto::v1::strata_client::StrataClient;
use strata_server::config::Span;
use tonic::transport::Channel;

use super::load::{
    build_files, bulk_ingest, default_families, ensure_table, per_sec, status_error,
};

/// `strata bench` arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  strata bench --workload gets --clients 4
  strata bench --workload ycsb-a --zipf --scale 0.1 --data-dir /tmp/bench --json a.json
  strata bench --workload gets --data-dir /tmp/bench --scale 0.1 --skip-load
  strata bench --server http://127.0.0.1:50051 --workload writes --clients 2

Without --server the server runs in this process (its threads share the machine with the
clients). Loading uses BulkIngest of loader-built files; repeating a load with the same scale and
seed into the same store adopts nothing twice. Writes go into the benchmark's tables: never point
it at a store whose data matters.")]
pub struct BenchArgs {
    /// A running server to benchmark, e.g. http://127.0.0.1:50051 [default: start one
    /// in-process on a free loopback port]
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// In-process server: keep the store in DIR (reused if it exists) [default: a temporary
    /// directory, removed at the end]
    #[arg(long, value_name = "DIR", conflicts_with = "server")]
    pub data_dir: Option<PathBuf>,
    /// In-process server: WAL durability (always, group, none)
    #[arg(
        long,
        value_name = "MODE",
        default_value = "group",
        conflicts_with = "server"
    )]
    pub sync: SyncMode,
    /// Size of the generated data set (1.0 is about the real data set's size)
    #[arg(long, value_name = "S", default_value_t = 0.01)]
    pub scale: f64,
    /// Seed of the generator and of the workload's random choices
    #[arg(long, value_name = "N", default_value_t = 42)]
    pub seed: u64,
    /// Keep the generated CSV files in DIR; if DIR already holds the four files they are
    /// used as they are (not regenerated, whatever --scale says) [default: a temporary
    /// directory]
    #[arg(long, value_name = "DIR")]
    pub csv_dir: Option<PathBuf>,
    /// Do not load the tables (they are already there, loaded from the same CSV files); the
    /// CSV files are still read (or generated) for their row keys
    #[arg(long)]
    pub skip_load: bool,
    /// What to run
    #[arg(long, value_enum, default_value_t = Workload::YcsbA)]
    pub workload: Workload,
    /// Table of the read workloads (ycsb-*, gets); writes use transactions and ingest uses
    /// clickstream
    #[arg(long, value_enum, default_value_t = BenchTable::Transactions)]
    pub table: BenchTable,
    /// Pick keys from a Zipfian distribution (theta 0.99, hot keys spread over the key
    /// space) instead of uniformly
    #[arg(long)]
    pub zipf: bool,
    /// Concurrent clients (each a task issuing one request at a time; an ingest client keeps
    /// up to 8 batches in flight)
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub clients: usize,
    /// Connections the clients share round-robin (HTTP/2 multiplexes their calls); at most
    /// --clients. One is the default because on loopback it measured as fast as one
    /// connection per client at 4 clients and up to 1.7x faster at 8 on 2 cores: the one
    /// connection's task writes many replies per syscall and the server runs one connection
    /// task instead of N
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub connections: usize,
    /// How long to measure
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub duration: Span,
    /// How long to run before measuring (caches fill, connections warm up)
    #[arg(long, value_name = "DURATION", default_value = "2s")]
    pub warmup: Span,
    /// Rows per MutateRows batch (writes) or MutateStream batch (ingest)
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub batch_rows: usize,
    /// Most row keys sampled from the CSV file for reads (a uniform sample beyond that)
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub max_keys: usize,
    /// Write the result as JSON to FILE
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// No progress lines on stderr
    #[arg(long, short)]
    pub quiet: bool,
}

/// The workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// YCSB A: 50% whole-row gets, 50% one-column updates
    YcsbA,
    /// YCSB B: 95% gets, 5% updates
    YcsbB,
    /// YCSB C: gets only
    YcsbC,
    /// YCSB E: 95% short scans (1-100 rows from a random key), 5% whole-row inserts
    YcsbE,
    /// YCSB F: 50% gets, 50% read-modify-write (Get, then Mutate of the same row)
    YcsbF,
    /// Click events streamed through MutateStream in batches of --batch-rows
    Ingest,
    /// MutateRows batches of --batch-rows transaction rows
    Writes,
    /// Whole-row gets only
    Gets,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::YcsbA => "ycsb-a",
            Workload::YcsbB => "ycsb-b",
            Workload::YcsbC => "ycsb-c",
            Workload::YcsbE => "ycsb-e",
            Workload::YcsbF => "ycsb-f",
            Workload::Ingest => "ingest",
            Workload::Writes => "writes",
            Workload::Gets => "gets",
        }
    }

    /// The table this workload runs on.
    fn table(self, read_table: BenchTable) -> &'static str {
        match self {
            Workload::Ingest => "clickstream",
            Workload::Writes => "transactions",
            _ => read_table.name(),
        }
    }

    /// Whether the workload writes batches (and reports rows/s and cells/s).
    fn is_batch_write(self) -> bool {
        matches!(self, Workload::Ingest | Workload::Writes)
    }
}

/// Tables the read workloads can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchTable {
    /// customers (row key customer_id)
    Customers,
    /// transactions (row key booking_id)
    Transactions,
    /// clickstream (row key session_id#event_time#event_id)
    Clickstream,
}

impl BenchTable {
    fn name(self) -> &'static str {
        match self {
            BenchTable::Customers => "customers",
            BenchTable::Transactions => "transactions",
            BenchTable::Clickstream => "clickstream",
        }
    }
}

/// The four tables, in load order.
const TABLES: [&str; 4] = ["customers", "product", "transactions", "clickstream"];
/// Rows kept as templates for inserted rows (their values, with fresh keys).
const TEMPLATE_ROWS: usize = 1000;
/// MutateStream batches in flight (sent, not yet acknowledged) per ingest client.
const STREAM_WINDOW: usize = 8;
/// Longest scan of ycsb-e (rows); each scan's length is uniform in 1..=this.
const MAX_SCAN_ROWS: u64 = 100;
/// One request (or one stream acknowledgement) taking longer counts as an error, so a
/// stalled server cannot hang the benchmark.
const OP_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes of the random value an update writes.
const UPDATE_VALUE_BYTES: usize = 20;
/// Zipfian skew (YCSB's default).
const ZIPF_THETA: f64 = 0.99;

/// Run `strata bench`.
pub async fn run(args: BenchArgs) -> Result<()> {
    check_args(&args)?;
    let progress = Progress { quiet: args.quiet };
    let work = tempfile::Builder::new()
        .prefix("strata-bench-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let work_dir = std::path::absolute(work.path())?;

    // 1. The CSV files: reused from --csv-dir, or generated.
    let csv_dir = match &args.csv_dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            std::path::absolute(d)?
        }
        None => work_dir.join("csv"),
    };
    let have_all = TABLES
        .iter()
        .all(|t| builtin_csv_file(t).is_some_and(|f| csv_dir.join(f).is_file()));
    if have_all {
        progress.line(format!("using the CSV files in {}", csv_dir.display()));
    } else {
        let t = Instant::now();
        let (dir, scale, seed) = (csv_dir.clone(), args.scale, args.seed);
        let generated =
            tokio::task::spawn_blocking(move || strata_loader::generate(&dir, scale, seed))
                .await?
                .context("cannot generate the data set")?;
        progress.line(format!(
            "generated {} rows, {:.1} MB of CSV at scale {} in {:.2} s",
            generated.total_rows(),
            generated.total_bytes() as f64 / 1e6,
            args.scale,
            t.elapsed().as_secs_f64()
        ));
    }

    // 2. The server: given, or in-process.
    match &args.server {
        Some(url) => {
            let r = bench_with_server(url, &args, &csv_dir, &work_dir, &progress).await?;
            report(&args, url, &r)
        }
        None => {
            let data_dir = match &args.data_dir {
                Some(d) => std::path::absolute(d)?,
                None => work_dir.join("data"),
            };
            let options = DbOptions {
                sync_mode: args.sync,
                ..DbOptions::default()
            };
            let (db, server) = super::in_process::serve_in_process(&data_dir, options).await?;
            let url = server.url();
            progress.line(format!(
                "in-process server on {url}, store in {}, sync {:?}",
                data_dir.display(),
                args.sync
            ));
            // The staging directory sits beside the store when it is kept, so BulkIngest can
            // hard-link the files instead of copying them.
            let staging_parent = match &args.data_dir {
                Some(_) => data_dir
                    .parent()
                    .map_or(work_dir.clone(), Path::to_path_buf),
                None => work_dir.clone(),
            };
            let result = bench_with_server(&url, &args, &csv_dir, &staging_parent, &progress).await;
            // Shut down whatever happened, then report the first error.
            let stopped = server.shutdown(Duration::from_secs(10)).await;
            let closing = db.clone();
            let closed = tokio::task::spawn_blocking(move || closing.close()).await?;
            let r = result?;
            stopped.context("the server did not stop cleanly")?;
            closed.context("cannot close the store")?;
            report(&args, "in-process", &r)
        }
    }
}

fn check_args(args: &BenchArgs) -> Result<()> {
    if !(args.scale.is_finite() && args.scale > 0.0) {
        bail!("--scale must be a positive number, got {}", args.scale);
    }
    if args.clients == 0 {
        bail!("--clients must be at least 1");
    }
    if args.batch_rows == 0 {
        bail!("--batch-rows must be at least 1");
    }
    if args.connections == 0 {
        bail!("--connections must be at least 1");
    }
    if args.max_keys == 0 {
        bail!("--max-keys must be at least 1");
    }
    if args.duration.0.is_zero() {
        bail!("--duration must be more than 0");
    }
    Ok(())
}

/// Connections actually opened: --connections, at most one per client.
fn connection_count(args: &BenchArgs) -> usize {
    args.connections.clamp(1, args.clients.max(1))
}

/// Progress lines on stderr (stdout carries the report).
struct Progress {
    quiet: bool,
}

impl Progress {
    fn line(&self, s: String) {
        if !self.quiet {
            eprintln!("{s}");
        }
    }
}

/// What one benchmark run measured, with the load that preceded it.
struct BenchResult {
    loaded: Vec<serde_json::Value>,
    keys: usize,
    measured: Duration,
    stats: ClientStats,
    first_error: Option<String>,
}

/// Load (unless skipped), sample keys, run the workload against `url`.
async fn bench_with_server(
    url: &str,
    args: &BenchArgs,
    csv_dir: &Path,
    staging_parent: &Path,
    progress: &Progress,
) -> Result<BenchResult> {
    let mut client = strata_server::connect(url).await?;
    let mut loaded = Vec::new();
    if !args.skip_load {
        let staging = tempfile::Builder::new()
            .prefix("strata-bench-staging-")
            .tempdir_in(staging_parent)
            .with_context(|| {
                format!("cannot create a directory in {}", staging_parent.display())
            })?;
        for table in TABLES {
            let t = Instant::now();
            let mapping =
                builtin_mapping(table).ok_or_else(|| anyhow!("no mapping for {table}"))?;
            let families = ensure_table(&mut client, table, &default_families(&mapping)).await?;
            let csv = csv_path(csv_dir, table)?;
            let mut opts = LoadOptions::new(&csv, staging.path().join(table), mapping);
            opts.families = families;
            opts.rejects_path = Some(staging.path().join(format!("{table}.rejects")));
            let build = build_files(opts)
                .await
                .with_context(|| format!("cannot build the files of {table}"))?;
            let id = format!("bench-{table}-scale{}-seed{}", args.scale, args.seed);
            let adopted = if build.files.is_empty() {
                pb::BulkIngestResponse::default()
            } else {
                bulk_ingest(url, &mut client, table, &build.paths(), &id).await?
            };
            progress.line(format!(
                "loaded {table}: {} rows, {} cells in {:.2} s ({} cells adopted{})",
                build.rows,
                build.cells,
                t.elapsed().as_secs_f64(),
                adopted.cells,
                if adopted.cells == 0 && build.cells > 0 {
                    ": already loaded under this ingest id"
                } else {
                    ""
                }
            ));
            loaded.push(json!({
                "table": table,
                "rows": build.rows,
                "cells": build.cells,
                "rejects": build.rejects,
                "adopted_cells": adopted.cells,
                "seconds": t.elapsed().as_secs_f64(),
            }));
        }
    }

    // Keys and template rows of the workload's table.
    let table = args.workload.table(args.table);
    let t = Instant::now();
    let (csv, max_keys, seed) = (csv_path(csv_dir, table)?, args.max_keys, args.seed);
    let tname = table.to_string();
    let sample = tokio::task::spawn_blocking(move || sample_table(&csv, &tname, max_keys, seed))
        .await?
        .with_context(|| format!("cannot read the row keys of {table}"))?;
    progress.line(format!(
        "sampled {} of {} row keys of {table} in {:.2} s",
        sample.keys.len(),
        sample.rows_seen,
        t.elapsed().as_secs_f64()
    ));
    if sample.keys.is_empty() || sample.templates.is_empty() {
        bail!("the CSV file of {table} has no rows to benchmark with");
    }
    let mapping = builtin_mapping(table).ok_or_else(|| anyhow!("no mapping for {table}"))?;
    ensure_table(&mut client, table, &default_families(&mapping)).await?;
    if !args.workload.is_batch_write() {
        preflight(&mut client, table, &sample.keys[0]).await?;
    }

    // Connections, shared by the clients round-robin.
    let connections = connection_count(args);
    let mut channels = Vec::with_capacity(connections);
    for _ in 0..connections {
        channels.push(strata_server::connect(url).await?);
    }
    let clients: Vec<_> = (0..args.clients)
        .map(|i| channels[i % connections].clone())
        .collect();
    let key_count = sample.keys.len();
    let zipf = args.zipf.then(|| Zipf::new(key_count as u64, ZIPF_THETA));
    let now = Instant::now();
    let measure_from = now + args.warmup.0;
    let plan = Arc::new(Plan {
        workload: args.workload,
        table: table.to_string(),
        columns: sample.columns,
        keys: sample.keys,
        templates: sample.templates,
        zipf,
        batch_rows: args.batch_rows,
        measure_from,
        end: measure_from + args.duration.0,
    });
    progress.line(format!(
        "running {} on {table}: {} client(s), {} connection(s), {} keys, warm-up {}, measuring {}",
        args.workload.name(),
        args.clients,
        connections,
        key_count,
        args.warmup,
        args.duration
    ));
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let plan = plan.clone();
            let seed = args
                .seed
                .wrapping_add((i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            tokio::spawn(run_client(c, plan, seed))
        })
        .collect();
    let mut stats = ClientStats::default();
    let mut first_error = None;
    for task in tasks {
        let s = task.await.context("a benchmark client panicked")?;
        if first_error.is_none() {
            first_error.clone_from(&s.first_error);
        }
        stats.merge(s);
    }
    let measured = Instant::now().saturating_duration_since(measure_from);
    Ok(BenchResult {
        loaded,
        keys: key_count,
        measured,
        stats,
        first_error,
    })
}

/// The generated CSV file of a built-in table.
fn csv_path(dir: &Path, table: &str) -> Result<PathBuf> {
    builtin_csv_file(table)
        .map(|f| dir.join(f))
        .ok_or_else(|| anyhow!("no CSV file for table {table}"))
}

/// One Get of a sampled key before the run: a missing table or row means the tables were
/// not loaded from these CSV files, and every read would fail.
async fn preflight(client: &mut StrataClient<Channel>, table: &str, key: &[u8]) -> Result<()> {
    let reply = client
        .get(pb::GetRequest {
            table: table.to_string(),
            row: key.to_vec().into(),
            ..Default::default()
        })
        .await
        .map_err(|s| status_error(&format!("Get from {table}"), &s))?
        .into_inner();
    if !reply.found {
        bail!(
            "row {:?} of the CSV file is not in table {table}: the table was not loaded from \
             these CSV files (run without --skip-load, or with the --scale/--seed/--csv-dir it \
             was loaded with)",
            String::from_utf8_lossy(key)
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Keys and template rows from the CSV files.

/// What the workload needs of a table's CSV file.
struct Sample {
    /// The mapping's cells in order: (family, qualifier).
    columns: Vec<(String, Vec<u8>)>,
    /// Row keys, a uniform sample of at most `max_keys`, in random order.
    keys: Vec<Vec<u8>>,
    /// The first rows' values (one per column) and keys, for inserted rows.
    templates: Vec<(Vec<u8>, Vec<Vec<u8>>)>,
    /// Rows in the file.
    rows_seen: u64,
}

/// Parse `csv` with the built-in mapping of `table` (so keys are built exactly as the load
/// built them, clickstream's composite key included) and keep a reservoir sample of keys.
fn sample_table(csv: &Path, table: &str, max_keys: usize, seed: u64) -> Result<Sample> {
    let mapping = builtin_mapping(table).ok_or_else(|| anyhow!("no mapping for {table}"))?;
    let mut reader = ChunkReader::open(csv, b',', 1 << 20)?;
    let header = reader.header().to_vec();
    let resolved = mapping.resolve(&header, None)?;
    let limits = Limits::default();
    let cfg = ParseConfig {
        mapping: &resolved,
        header: &header,
        delimiter: b',',
        default_ts: 0,
        max_row_key: limits.max_row_key,
        max_value: limits.max_value,
    };
    let mut rng = Rng::new(seed ^ 0x5eed_0f6b_e4c4);
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut templates = Vec::new();
    let mut seen = 0u64;
    let mut batch = Batch::default();
    while let Some(chunk) = reader.next_chunk()? {
        batch = parse_chunk(&chunk, &cfg, batch);
        for i in 0..batch.rows.len() {
            seen += 1;
            if keys.len() < max_keys {
                keys.push(batch.key(i).to_vec());
            } else {
                // Reservoir sampling: row `seen` replaces a kept key with probability
                // max_keys / seen.
                let j = rng.below(seen);
                if let Some(slot) = keys.get_mut(j as usize) {
                    *slot = batch.key(i).to_vec();
                }
            }
            if templates.len() < TEMPLATE_ROWS {
                let values = batch
                    .values(i)
                    .iter()
                    .map(|&(off, len)| batch.arena[off as usize..(off + len) as usize].to_vec())
                    .collect();
                templates.push((batch.key(i).to_vec(), values));
            }
        }
    }
    // Random order, so Zipfian ranks (hot keys) are spread over the key space.
    for i in (1..keys.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        keys.swap(i, j);
    }
    Ok(Sample {
        columns: resolved
            .cells
            .iter()
            .map(|c| (c.family.clone(), c.qualifier.clone()))
            .collect(),
        keys,
        templates,
        rows_seen: seen,
    })
}

// ---------------------------------------------------------------------------------------------
// The clients.

/// Everything the clients share.
struct Plan {
    workload: Workload,
    table: String,
    columns: Vec<(String, Vec<u8>)>,
    keys: Vec<Vec<u8>>,
    templates: Vec<(Vec<u8>, Vec<Vec<u8>>)>,
    zipf: Option<Zipf>,
    batch_rows: usize,
    /// Operations that start at or after this instant are measured.
    measure_from: Instant,
    /// No operation starts at or after this instant.
    end: Instant,
}

impl Plan {
    fn key(&self, rng: &mut Rng) -> &[u8] {
        let n = self.keys.len() as u64;
        let i = match &self.zipf {
            Some(z) => z.next(rng).min(n - 1),
            None => rng.below(n),
        };
        &self.keys[i as usize]
    }

    fn template(&self, rng: &mut Rng) -> &(Vec<u8>, Vec<Vec<u8>>) {
        &self.templates[rng.below(self.templates.len() as u64) as usize]
    }

    /// A whole row of SetCells with a template's values.
    fn row_mutations(&self, values: &[Vec<u8>]) -> Vec<pb::Mutation> {
        self.columns
            .iter()
            .zip(values)
            .map(|((family, qualifier), value)| set_cell(family, qualifier, value.clone()))
            .collect()
    }
}

fn set_cell(family: &str, qualifier: &[u8], value: Vec<u8>) -> pb::Mutation {
    pb::Mutation {
        kind: Some(pb::mutation::Kind::SetCell(pb::SetCell {
            family: family.to_string(),
            qualifier: qualifier.to_vec().into(),
            value: value.into(),
            timestamp_micros: 0,
        })),
    }
}

/// Operation types, each with its own counters and histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Read,
    Update,
    Scan,
    Insert,
    Rmw,
    Write,
    Ingest,
}

const OPS: [Op; 7] = [
    Op::Read,
    Op::Update,
    Op::Scan,
    Op::Insert,
    Op::Rmw,
    Op::Write,
    Op::Ingest,
];

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Update => "update",
            Op::Scan => "scan",
            Op::Insert => "insert",
            Op::Rmw => "read-modify-write",
            Op::Write => "write-batch",
            Op::Ingest => "ingest-batch",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One operation type's counters.
#[derive(Clone, Default)]
struct OpStats {
    ops: u64,
    errors: u64,
    /// Gets that found no row (reads and read-modify-writes).
    not_found: u64,
    /// Rows read (scans, gets) or written (batches, inserts).
    rows: u64,
    /// Cells written (batches, inserts, updates).
    cells: u64,
    latency: Histogram,
}

/// A client's (or, merged, the run's) counters.
#[derive(Default)]
struct ClientStats {
    ops: [OpStats; OPS.len()],
    first_error: Option<String>,
}

impl ClientStats {
    fn merge(&mut self, other: ClientStats) {
        for (a, b) in self.ops.iter_mut().zip(other.ops) {
            a.ops += b.ops;
            a.errors += b.errors;
            a.not_found += b.not_found;
            a.rows += b.rows;
            a.cells += b.cells;
            a.latency.merge(&b.latency);
        }
    }

    fn error(&mut self, op: Op, what: String) {
        self.ops[op.index()].errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("{}: {what}", op.name()));
        }
    }

    fn total_errors(&self) -> u64 {
        self.ops.iter().map(|o| o.errors).sum()
    }
}

/// What a finished operation reports.
#[derive(Default)]
struct Done {
    rows: u64,
    cells: u64,
    not_found: bool,
}

/// One client: issue operations back to back until the end of the run.
async fn run_client(client: StrataClient<Channel>, plan: Arc<Plan>, seed: u64) -> ClientStats {
    match plan.workload {
        Workload::Ingest => ingest_client(client, plan, seed).await,
        _ => request_client(client, plan, seed).await,
    }
}

/// A closed-loop client of unary and server-streaming calls.
async fn request_client(
    mut client: StrataClient<Channel>,
    plan: Arc<Plan>,
    seed: u64,
) -> ClientStats {
    let mut rng = Rng::new(seed);
    let mut stats = ClientStats::default();
    loop {
        let started = Instant::now();
        if started >= plan.end {
            break;
        }
        let op = choose_op(plan.workload, &mut rng);
        let result = tokio::time::timeout(OP_TIMEOUT, do_op(&mut client, &plan, op, &mut rng))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {OP_TIMEOUT:?}")));
        let took = started.elapsed();
        if started < plan.measure_from {
            continue;
        }
        match result {
            Ok(done) => {
                let s = &mut stats.ops[op.index()];
                s.ops += 1;
                s.rows += done.rows;
                s.cells += done.cells;
                s.not_found += u64::from(done.not_found);
                s.latency.record(duration_ns(took));
            }
            Err(e) => stats.error(op, e),
        }
    }
    stats
}

/// The operation mix of each request workload.
fn choose_op(w: Workload, rng: &mut Rng) -> Op {
    let pct = rng.below(100);
    match w {
        Workload::YcsbA => {
            if pct < 50 {
                Op::Read
            } else {
                Op::Update
            }
        }
        Workload::YcsbB => {
            if pct < 95 {
                Op::Read
            } else {
                Op::Update
            }
        }
        Workload::YcsbC | Workload::Gets => Op::Read,
        Workload::YcsbE => {
            if pct < 95 {
                Op::Scan
            } else {
                Op::Insert
            }
        }
        Workload::YcsbF => {
            if pct < 50 {
                Op::Read
            } else {
                Op::Rmw
            }
        }
        Workload::Writes => Op::Write,
        Workload::Ingest => Op::Ingest,
    }
}

fn status_text(call: &str, s: &tonic::Status) -> String {
    format!("{call}: {:?}: {}", s.code(), s.message())
}

async fn get_row(
    client: &mut StrataClient<Channel>,
    plan: &Plan,
    key: &[u8],
) -> Result<Done, String> {
    let reply = client
        .get(pb::GetRequest {
            table: plan.table.clone(),
            row: key.to_vec().into(),
            ..Default::default()
        })
        .await
        .map_err(|s| status_text("Get", &s))?
        .into_inner();
    Ok(Done {
        rows: u64::from(reply.found),
        cells: 0,
        not_found: !reply.found,
    })
}

async fn update_row(
    client: &mut StrataClient<Channel>,
    plan: &Plan,
    key: &[u8],
    rng: &mut Rng,
) -> Result<Done, String> {
    let (family, qualifier) = &plan.columns[rng.below(plan.columns.len() as u64) as usize];
    client
        .mutate(pb::MutateRequest {
            table: plan.table.clone(),
            row: key.to_vec().into(),
            mutations: vec![set_cell(family, qualifier, rng.text(UPDATE_VALUE_BYTES))],
        })
        .await
        .map_err(|s| status_text("Mutate", &s))?;
    Ok(Done {
        rows: 1,
        cells: 1,
        not_found: false,
    })
}

async fn do_op(
    client: &mut StrataClient<Channel>,
    plan: &Plan,
    op: Op,
    rng: &mut Rng,
) -> Result<Done, String> {
    match op {
        Op::Read => {
            let key = plan.key(rng).to_vec();
            get_row(client, plan, &key).await
        }
        Op::Update => {
            let key = plan.key(rng).to_vec();
            update_row(client, plan, &key, rng).await
        }
        Op::Rmw => {
            let key = plan.key(rng).to_vec();
            let read = get_row(client, plan, &key).await?;
            let mut done = update_row(client, plan, &key, rng).await?;
            done.not_found = read.not_found;
            Ok(done)
        }
        Op::Scan => {
            let key = plan.key(rng).to_vec();
            let limit = 1 + rng.below(MAX_SCAN_ROWS);
            let mut stream = client
                .scan(pb::ScanRequest {
                    table: plan.table.clone(),
                    start_row: key.into(),
                    limit,
                    batch_size: limit as u32,
                    ..Default::default()
                })
                .await
                .map_err(|s| status_text("Scan", &s))?
                .into_inner();
            let mut rows = 0;
            while let Some(reply) = stream
                .message()
                .await
                .map_err(|s| status_text("Scan", &s))?
            {
                rows += reply.rows.len() as u64;
            }
            Ok(Done {
                rows,
                ..Done::default()
            })
        }
        Op::Insert => {
            let (template_key, values) = plan.template(rng);
            let key = fresh_key(&plan.table, template_key, rng);
            let mutations = plan.row_mutations(values);
            let cells = mutations.len() as u64;
            client
                .mutate(pb::MutateRequest {
                    table: plan.table.clone(),
                    row: key.into(),
                    mutations,
                })
                .await
                .map_err(|s| status_text("Mutate", &s))?;
            Ok(Done {
                rows: 1,
                cells,
                not_found: false,
            })
        }
        Op::Write => {
            let batch = make_batch(plan, rng);
            let (rows, cells) = batch_size(&batch);
            client
                .mutate_rows(batch)
                .await
                .map_err(|s| status_text("MutateRows", &s))?;
            Ok(Done {
                rows,
                cells,
                not_found: false,
            })
        }
        Op::Ingest => Err("ingest batches go through MutateStream".into()),
    }
}

/// A batch of `plan.batch_rows` new rows built from template rows.
fn make_batch(plan: &Plan, rng: &mut Rng) -> pb::MutateRowsRequest {
    let entries = (0..plan.batch_rows)
        .map(|_| {
            let (template_key, values) = plan.template(rng);
            pb::RowMutations {
                row: fresh_key(&plan.table, template_key, rng).into(),
                mutations: plan.row_mutations(values),
            }
        })
        .collect();
    pb::MutateRowsRequest {
        table: plan.table.clone(),
        entries,
    }
}

fn batch_size(b: &pb::MutateRowsRequest) -> (u64, u64) {
    (
        b.entries.len() as u64,
        b.entries.iter().map(|e| e.mutations.len() as u64).sum(),
    )
}

/// A new row key shaped like the table's: a random UUID, and for clickstream the template's
/// `#event_time#event_id` after it (a new session with the template's event).
fn fresh_key(table: &str, template_key: &[u8], rng: &mut Rng) -> Vec<u8> {
    let (a, b) = (rng.next_u64(), rng.next_u64());
    let mut key = format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
    .into_bytes();
    if table == "clickstream"
        && let Some(p) = template_key.iter().position(|&c| c == b'#')
    {
        key.extend_from_slice(&template_key[p..]);
    }
    key
}

/// An ingest client: one MutateStream call, batches sent back to back with up to
/// [`STREAM_WINDOW`] unacknowledged; a batch's latency is from its send to its (durable)
/// acknowledgement.
async fn ingest_client(
    mut client: StrataClient<Channel>,
    plan: Arc<Plan>,
    seed: u64,
) -> ClientStats {
    let mut stats = ClientStats::default();
    // Send times and sizes of the batches in flight, oldest first (acks come in order).
    let in_flight: Arc<Mutex<VecDeque<(Instant, u64, u64)>>> = Arc::default();
    let window = Arc::new(tokio::sync::Semaphore::new(STREAM_WINDOW));
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::MutateRowsRequest>(STREAM_WINDOW);
    let producer = {
        let (plan, in_flight, window) = (plan.clone(), in_flight.clone(), window.clone());
        tokio::spawn(async move {
            let mut rng = Rng::new(seed);
            loop {
                let Ok(permit) = window.acquire().await else {
                    break;
                };
                permit.forget();
                if Instant::now() >= plan.end {
                    break;
                }
                let batch = make_batch(&plan, &mut rng);
                let (rows, cells) = batch_size(&batch);
                if let Ok(mut q) = in_flight.lock() {
                    q.push_back((Instant::now(), rows, cells));
                }
                if tx.send(batch).await.is_err() {
                    break;
                }
            }
            // Dropping `tx` ends the request stream; the server answers the rest and closes.
        })
    };
    let call = tokio::time::timeout(
        OP_TIMEOUT,
        client.mutate_stream(tokio_stream::wrappers::ReceiverStream::new(rx)),
    )
    .await;
    let mut replies = match call {
        Ok(Ok(r)) => r.into_inner(),
        Ok(Err(s)) => {
            stats.error(Op::Ingest, status_text("MutateStream", &s));
            window.close();
            producer.abort();
            return stats;
        }
        Err(_) => {
            stats.error(Op::Ingest, "MutateStream did not start".into());
            window.close();
            producer.abort();
            return stats;
        }
    };
    let mut last_rows = 0u64;
    let mut last_cells = 0u64;
    loop {
        match tokio::time::timeout(OP_TIMEOUT, replies.message()).await {
            Ok(Ok(Some(ack))) => {
                let now = Instant::now();
                let sent = in_flight.lock().ok().and_then(|mut q| q.pop_front());
                window.add_permits(1);
                // The acknowledgement carries running totals; this batch is the difference.
                let (rows, cells) = (
                    ack.rows - last_rows.min(ack.rows),
                    ack.cells - last_cells.min(ack.cells),
                );
                (last_rows, last_cells) = (ack.rows, ack.cells);
                if let Some((at, _, _)) = sent
                    && at >= plan.measure_from
                {
                    let s = &mut stats.ops[Op::Ingest.index()];
                    s.ops += 1;
                    s.rows += rows;
                    s.cells += cells;
                    s.latency
                        .record(duration_ns(now.saturating_duration_since(at)));
                }
            }
            Ok(Ok(None)) => break,
            Ok(Err(s)) => {
                stats.error(Op::Ingest, status_text("MutateStream", &s));
                break;
            }
            Err(_) => {
                stats.error(
                    Op::Ingest,
                    format!("no acknowledgement within {OP_TIMEOUT:?}"),
                );
                break;
            }
        }
    }
    window.close();
    producer.abort();
    stats
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

// ---------------------------------------------------------------------------------------------
// The report.

fn report(args: &BenchArgs, target: &str, r: &BenchResult) -> Result<()> {
    let secs = r.measured.as_secs_f64();
    let stats = &r.stats;
    let total_ops: u64 = stats.ops.iter().map(|o| o.ops).sum();
    let errors = stats.total_errors();
    let rows: u64 = stats.ops.iter().map(|o| o.rows).sum();
    let cells: u64 = stats.ops.iter().map(|o| o.cells).sum();
    let table = args.workload.table(args.table);

    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    writeln!(
        w,
        "strata bench: {} on {table}, {} client(s) on {} connection(s), {} keys ({}), target {target}",
        args.workload.name(),
        args.clients,
        connection_count(args),
        r.keys,
        if args.zipf { "zipfian 0.99" } else { "uniform" },
    )?;
    writeln!(
        w,
        "measured {:.2} s after a {} warm-up: {total_ops} ops, {:.0} ops/s, {errors} errors",
        secs,
        args.warmup,
        per_sec(total_ops as f64, r.measured)
    )?;
    if args.workload.is_batch_write() {
        writeln!(
            w,
            "written: {rows} rows, {cells} cells: {:.0} rows/s, {:.0} cells/s",
            per_sec(rows as f64, r.measured),
            per_sec(cells as f64, r.measured)
        )?;
    }
    writeln!(
        w,
        "{:<18} {:>10} {:>10} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "OPERATION",
        "OPS",
        "OPS/S",
        "ERRORS",
        "P50 us",
        "P95 us",
        "P99 us",
        "P99.9 us",
        "MAX us",
        "MEAN us"
    )?;
    for op in OPS {
        let s = &stats.ops[op.index()];
        if s.ops == 0 && s.errors == 0 {
            continue;
        }
        let h = &s.latency;
        writeln!(
            w,
            "{:<18} {:>10} {:>10.0} {:>7} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            op.name(),
            s.ops,
            per_sec(s.ops as f64, r.measured),
            s.errors,
            us(h.quantile(0.50)),
            us(h.quantile(0.95)),
            us(h.quantile(0.99)),
            us(h.quantile(0.999)),
            us(h.max()),
            h.mean() / 1e3
        )?;
    }
    let not_found: u64 = stats.ops.iter().map(|o| o.not_found).sum();
    if not_found > 0 {
        writeln!(w, "gets that found no row: {not_found}")?;
    }
    if let Some(e) = &r.first_error {
        writeln!(w, "first error: {e}")?;
    }
    drop(w);

    if let Some(path) = &args.json {
        let doc = result_json(args, target, r);
        let text = serde_json::to_string_pretty(&doc)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if total_ops == 0 {
        bail!(
            "no operation completed in the measured period{}",
            r.first_error
                .as_ref()
                .map(|e| format!(" (first error: {e})"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1e3
}

fn result_json(args: &BenchArgs, target: &str, r: &BenchResult) -> serde_json::Value {
    let stats = &r.stats;
    let total_ops: u64 = stats.ops.iter().map(|o| o.ops).sum();
    let rows: u64 = stats.ops.iter().map(|o| o.rows).sum();
    let cells: u64 = stats.ops.iter().map(|o| o.cells).sum();
    let operations: serde_json::Map<String, serde_json::Value> = OPS
        .iter()
        .filter(|op| {
            let s = &stats.ops[op.index()];
            s.ops > 0 || s.errors > 0
        })
        .map(|op| {
            let s = &stats.ops[op.index()];
            let h = &s.latency;
            (
                op.name().to_string(),
                json!({
                    "ops": s.ops,
                    "ops_per_sec": per_sec(s.ops as f64, r.measured),
                    "errors": s.errors,
                    "not_found": s.not_found,
                    "rows": s.rows,
                    "cells": s.cells,
                    "latency_us": {
                        "p50": us(h.quantile(0.50)),
                        "p95": us(h.quantile(0.95)),
                        "p99": us(h.quantile(0.99)),
                        "p99_9": us(h.quantile(0.999)),
                        "max": us(h.max()),
                        "mean": h.mean() / 1e3,
                    },
                }),
            )
        })
        .collect();
    json!({
        "tool": "strata bench",
        "version": env!("CARGO_PKG_VERSION"),
        "date": now_iso8601(),
        "machine": {
            "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "load_average": load_average(),
        },
        "parameters": {
            "workload": args.workload.name(),
            "table": args.workload.table(args.table),
            "target": target,
            "server": args.server,
            "sync": if args.server.is_some() { None } else { Some(format!("{:?}", args.sync).to_lowercase()) },
            "scale": args.scale,
            "seed": args.seed,
            "skip_load": args.skip_load,
            "distribution": if args.zipf { "zipfian" } else { "uniform" },
            "zipf_theta": args.zipf.then_some(ZIPF_THETA),
            "clients": args.clients,
            "connections": connection_count(args),
            "duration_seconds": args.duration.0.as_secs_f64(),
            "warmup_seconds": args.warmup.0.as_secs_f64(),
            "batch_rows": args.batch_rows,
            "keys": r.keys,
        },
        "load": r.loaded,
        "result": {
            "seconds": r.measured.as_secs_f64(),
            "ops": total_ops,
            "ops_per_sec": per_sec(total_ops as f64, r.measured),
            "errors": stats.total_errors(),
            "not_found": stats.ops.iter().map(|o| o.not_found).sum::<u64>(),
            "rows": rows,
            "cells": cells,
            "rows_per_sec": per_sec(rows as f64, r.measured),
            "cells_per_sec": per_sec(cells as f64, r.measured),
            "first_error": r.first_error,
            "operations": operations,
        },
    })
}

/// Now as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
fn now_iso8601() -> String {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    let mut out = Vec::new();
    strata_loader::time::push_timestamp_micros(&mut out, micros);
    String::from_utf8_lossy(&out).into_owned()
}

/// The 1, 5 and 15 minute load averages (Linux), to judge how busy the machine was.
fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|s| s.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

// ---------------------------------------------------------------------------------------------
// Random numbers.

/// SplitMix64: small, fast and seedable; the workload needs no cryptographic quality, and
/// this crate does not depend on `rand`.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), by multiply-shift (bias below 2^-32 for n < 2^32).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `len` random alphanumeric bytes.
    fn text(&mut self, len: usize) -> Vec<u8> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize])
            .collect()
    }
}

/// Zipfian ranks in `0..n` (rank 0 the most frequent), by Gray et al.'s method as in YCSB's
/// ZipfianGenerator: O(n) set-up for zeta(n), O(1) per draw.
struct Zipf {
    n: u64,
    theta: f64,
    alpha: f64,
    zetan: f64,
    eta: f64,
}

impl Zipf {
    fn new(n: u64, theta: f64) -> Self {
        let zeta = |k: u64| (1..=k).map(|i| 1.0 / (i as f64).powf(theta)).sum::<f64>();
        let zetan = zeta(n);
        let zeta2 = zeta(2.min(n));
        let eta = if n <= 2 {
            0.0
        } else {
            (1.0 - (2.0 / n as f64).powf(1.0 - theta)) / (1.0 - zeta2 / zetan)
        };
        Zipf {
            n,
            theta,
            alpha: 1.0 / (1.0 - theta),
            zetan,
            eta,
        }
    }

    fn next(&self, rng: &mut Rng) -> u64 {
        let u = rng.unit();
        let uz = u * self.zetan;
        if uz < 1.0 || self.n == 1 {
            return 0;
        }
        if uz < 1.0 + 0.5f64.powf(self.theta) {
            return 1;
        }
        let r = (self.n as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64;
        r.min(self.n - 1)
    }
}

// ---------------------------------------------------------------------------------------------
// Latency histogram.

/// Sub-buckets per power of two: 128 gives a relative error under 1/128 (0.8%).
const SUB_BITS: u32 = 7;
const SUB: usize = 1 << SUB_BITS;
/// Values below this are counted exactly.
const LINEAR: u64 = 2 * SUB as u64;
/// Buckets for every u64: LINEAR exact ones, then SUB per power of two up to 2^64.
const BUCKETS: usize = LINEAR as usize + (64 - SUB_BITS as usize - 1) * SUB;

/// An HDR-style log-linear histogram of nanoseconds: exact below 256 ns, then 128 buckets
/// per power of two (a relative error under 0.8%), every u64 representable, 58 KiB, merged by
/// adding counts. Written here rather than taken from the `hdrhistogram` crate because
/// adding a dependency to strata-server is a Cargo.toml change outside this module; the
/// bucketing is the same idea with fixed precision.
#[derive(Clone, Default)]
struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum: u128,
    max: u64,
}

impl Histogram {
    fn bucket(v: u64) -> usize {
        if v < LINEAR {
            return v as usize;
        }
        let msb = 63 - v.leading_zeros(); // >= SUB_BITS + 1
        let shift = msb - SUB_BITS;
        let mantissa = (v >> shift) as usize; // in SUB..2*SUB
        LINEAR as usize + (shift as usize - 1) * SUB + (mantissa - SUB)
    }

    /// The highest value that falls in bucket `i`.
    fn bucket_high(i: usize) -> u64 {
        if i < LINEAR as usize {
            return i as u64;
        }
        let k = i - LINEAR as usize;
        let shift = (k / SUB) as u32 + 1;
        let mantissa = (k % SUB + SUB) as u64;
        // (mantissa + 1) << shift can pass u64::MAX only in the last bucket.
        ((mantissa + 1) << shift)
            .wrapping_sub(1)
            .max(mantissa << shift)
    }

    fn record(&mut self, v: u64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        self.counts[Self::bucket(v)] += 1;
        self.total += 1;
        self.sum += u128::from(v);
        self.max = self.max.max(v);
    }

    fn merge(&mut self, other: &Histogram) {
        if other.total == 0 {
            return;
        }
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    /// The value at quantile `q` (0..=1): the top of the bucket holding it, never above the
    /// largest value recorded (0 when empty).
    fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::bucket_high(i).min(self.max);
            }
        }
        self.max
    }

    fn max(&self) -> u64 {
        self.max
    }

    fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_ordered_and_tight() {
        let mut last = 0;
        for v in [
            0u64,
            1,
            255,
            256,
            257,
            511,
            512,
            1000,
            123_456,
            1 << 40,
            u64::MAX,
        ] {
            let b = Histogram::bucket(v);
            assert!(b < BUCKETS, "{v} -> bucket {b}");
            assert!(b >= last, "{v} -> bucket {b} before {last}");
            last = b;
            let high = Histogram::bucket_high(b);
            assert!(high >= v, "{v}: bucket top {high}");
            assert!(
                (high - v) as f64 <= v as f64 / 100.0 + 1.0,
                "{v}: bucket top {high}"
            );
        }
        assert_eq!(Histogram::bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn histogram_quantiles() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.5), 0);
        for v in 1..=10_000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5) as f64;
        assert!((p50 - 5_000_000.0).abs() / 5_000_000.0 < 0.01, "p50 {p50}");
        let p999 = h.quantile(0.999) as f64;
        assert!(
            (p999 - 9_990_000.0).abs() / 9_990_000.0 < 0.01,
            "p99.9 {p999}"
        );
        assert_eq!(h.quantile(1.0), 10_000_000);
        assert_eq!(h.max(), 10_000_000);
        let mut m = Histogram::default();
        m.merge(&h);
        m.merge(&h);
        assert_eq!(m.total, 20_000);
        assert_eq!(m.quantile(0.5), h.quantile(0.5));
    }

    #[test]
    fn zipf_favours_low_ranks_and_stays_in_range() {
        let z = Zipf::new(1000, ZIPF_THETA);
        let mut rng = Rng::new(7);
        let mut counts = vec![0u32; 1000];
        for _ in 0..100_000 {
            let r = z.next(&mut rng);
            assert!(r < 1000);
            counts[r as usize] += 1;
        }
        assert!(counts[0] > counts[10] && counts[10] > counts[500]);
        // Rank 0 takes about 1/zeta(1000) (~13%) of the draws.
        assert!(counts[0] > 8_000 && counts[0] < 20_000, "{}", counts[0]);
        let one = Zipf::new(1, ZIPF_THETA);
        assert_eq!(one.next(&mut rng), 0);
    }

    #[test]
    fn fresh_keys_look_like_the_tables() {
        let mut rng = Rng::new(1);
        let k = fresh_key("transactions", b"x", &mut rng);
        assert_eq!(k.len(), 36);
        let c = fresh_key("clickstream", b"s#2022-01-01T00:00:00Z#e1", &mut rng);
        assert!(c.ends_with(b"#2022-01-01T00:00:00Z#e1"), "{c:?}");
        assert_ne!(fresh_key("transactions", b"x", &mut rng), k);
    }

    #[test]
    fn flags_parse() {
        use clap::Parser as _;
        let cli = crate::cli::Cli::try_parse_from([
            "strata",
            "bench",
            "--workload",
            "ycsb-e",
            "--table",
            "clickstream",
            "--zipf",
            "--clients",
            "8",
            "--duration",
            "500ms",
            "--warmup",
            "0s",
            "--sync",
            "none",
        ])
        .expect("valid");
        let crate::cli::Command::Bench(a) = cli.command else {
            panic!("expected bench");
        };
        assert_eq!(a.workload, Workload::YcsbE);
        assert_eq!(a.table, BenchTable::Clickstream);
        assert_eq!(a.sync, SyncMode::None);
        assert_eq!(a.duration.0, Duration::from_millis(500));
        assert!(a.zipf && a.clients == 8);
        assert_eq!(a.connections, 1);
        assert_eq!(connection_count(&a), 1);
        for bad in [
            &["strata", "bench", "--workload", "ycsb-z"][..],
            &[
                "strata",
                "bench",
                "--server",
                "http://127.0.0.1:1",
                "--sync",
                "none",
            ],
            &[
                "strata",
                "bench",
                "--server",
                "http://127.0.0.1:1",
                "--data-dir",
                "/tmp/x",
            ],
        ] {
            assert!(crate::cli::Cli::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn op_mixes() {
        let mut rng = Rng::new(3);
        let n = 10_000;
        let updates = (0..n)
            .filter(|_| choose_op(Workload::YcsbB, &mut rng) == Op::Update)
            .count();
        assert!(updates > 300 && updates < 700, "{updates}");
        assert!((0..100).all(|_| choose_op(Workload::Gets, &mut rng) == Op::Read));
    }
}
