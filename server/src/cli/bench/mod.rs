//! `strata bench`: an end-to-end load generator over gRPC. It targets a running server
//! (`--server URL`) or one it starts in-process on a loopback port, generates the data set
//! with the loader's generator and bulk-loads the four tables through BulkIngest (the code
//! paths `strata load --server` and `strata demo` use), samples row keys from the generated
//! CSV files with the loader's own parser and mapping, then runs a workload (YCSB A, B, C, E,
//! F, whole-row gets, batched writes, streaming ingest) from N concurrent clients for a fixed
//! duration after a warm-up, and reports throughput and latency percentiles per operation
//! type, as text and optionally as JSON.
//!
//! This file owns the flags and the run's order (CSV files, server, load, key sample, clients,
//! report); the parts live beside it: `workload` (what each client does and the keys it picks),
//! `client` (issuing the calls and counting them), `random` (uniform and Zipfian numbers),
//! `histogram` (latencies) and `report` (text and JSON output). The command must never touch
//! the store behind the server's back (every load, read and write goes through gRPC), never
//! build CSV mappings of its own (row keys come from the loader's built-in mappings), and
//! never assert anything about timings: it only measures and reports.

mod client;
mod cpu;
mod histogram;
mod random;
mod report;
mod workload;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::json;
use strata_engine::{DbOptions, SyncMode};
use strata_loader::{LoadOptions, builtin_csv_file, builtin_mapping};
use strata_proto::v1 as pb;
use strata_server::config::Span;
use strata_server::{Client, ClientSecurityArgs, Remote};

use super::load::{
    build_files, bulk_ingest, default_families, ensure_table, server_ingest_dir, staging_dir_in,
    status_error,
};
use client::{ClientStats, run_client};
use random::Zipf;
use report::report;
pub use workload::{BenchTable, Workload};
use workload::{Plan, sample_table};

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
    /// With --server: TLS and token options of the connections
    #[command(flatten)]
    pub security: ClientSecurityArgs,
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
    /// --clients. Two is the default: on loopback with 8 clients on 2 cores, few connections
    /// beat one per client by up to 1.7x (a connection's task writes many replies per
    /// syscall), and two held 42-44k ycsb-c gets/s in 10 of 12 runs where one spread over
    /// 25-38k (docs/benchmarks.md, "Session 12")
    #[arg(long, value_name = "N", default_value_t = 2)]
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
            let remote = Remote {
                url: url.clone(),
                security: args.security.resolve()?,
            };
            let r = bench_with_server(&remote, &args, &csv_dir, &progress).await?;
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
            let remote = Remote::plain(url);
            let result = bench_with_server(&remote, &args, &csv_dir, &progress).await;
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
    /// CPU time of this process over the measured period (clients, and an in-process
    /// server).
    cpu: Option<Duration>,
    stats: ClientStats,
    first_error: Option<String>,
}

/// Load (unless skipped), sample keys, run the workload against `remote`.
async fn bench_with_server(
    remote: &Remote,
    args: &BenchArgs,
    csv_dir: &Path,
    progress: &Progress,
) -> Result<BenchResult> {
    let mut client = remote.connect().await?;
    let mut loaded = Vec::new();
    if !args.skip_load {
        // Staged in the server's first ingest directory, which BulkIngest moves files from.
        let staging = staging_dir_in(
            &server_ingest_dir(&mut client).await?,
            "strata-bench-staging-",
        )?;
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
                bulk_ingest(remote, &mut client, table, &build.paths(), &id).await?
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
        channels.push(remote.connect_direct().await?);
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
        templates: sample.templates.into_iter().map(Into::into).collect(),
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
    // The process's CPU time when measuring starts (the clients' measured operations start
    // then) and once the last client is done.
    let cpu_start = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        cpu::process_cpu()
    });
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
    let cpu = cpu::used(cpu_start.await.ok().flatten(), cpu::process_cpu());
    Ok(BenchResult {
        loaded,
        keys: key_count,
        measured,
        cpu,
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
async fn preflight(client: &mut Client, table: &str, key: &[u8]) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(a.connections, 2);
        assert_eq!(connection_count(&a), 2);
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
}
