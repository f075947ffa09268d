//! `strata demo`: the old pipeline's whole job in one command. Generate a small data set,
//! open a store and start the gRPC server in-process on a free loopback port, create the four
//! tables, bulk-load customers, product and transactions (loader-built files adopted through
//! BulkIngest), stream the click events through MutateStream in micro-batches (the old Kafka
//! path; with `--kafka HOST:PORT` through a real topic and `strata consume`'s consumer), then
//! compute the old dashboard's distributions through the Aggregate RPC, and print them as text
//! tables with a timing line per step. The HTTP server runs too (on 8080 when free), so the
//! dashboard's page is open while the demo runs; `--serve` keeps both serving after the demo
//! until Ctrl-C.
//!
//! This file owns the flags and the steps' order and output lines; the click stream is
//! `stream` (or `kafka`) and the dashboard's queries `dashboard`. The demo drives the loader library and
//! the server only through their public APIs; it must never read or write the store behind the
//! server's back (every load, write and query goes through gRPC), never parse CSV with its own
//! mapping (the loader's built-in mapping and parser do that), and never delete a directory it
//! did not create.

mod dashboard;
mod kafka;
mod stream;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use strata_engine::DbOptions;
use strata_loader::{GenSummary, LoadOptions, builtin_csv_file, builtin_mapping};
use strata_server::Remote;

use super::load::{
    build_files, bulk_ingest, default_families, ensure_table, per_sec, server_ingest_dir,
    staging_dir_in,
};
use stream::stream_csv;

/// `strata demo` arguments.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Directory for the CSV files (DIR/*.csv) and the store (DIR/data, which must not exist
    /// yet or be empty) [default: a temporary directory, removed at the end]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Size of the data set (1.0 is about the real data set's size)
    #[arg(long, value_name = "S", default_value_t = 0.01)]
    pub scale: f64,
    /// Random seed of the generator
    #[arg(long, value_name = "N", default_value_t = 42)]
    pub seed: u64,
    /// Rows per MutateStream batch when streaming the click events
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub batch_rows: usize,
    /// Stream the click events through a Kafka topic on these brokers (produced as the old
    /// pipeline did, then read by strata consume's consumer) instead of straight through
    /// MutateStream
    #[arg(long, value_name = "HOST:PORT")]
    pub kafka: Option<String>,
    /// Keep serving (gRPC and the dashboard) after the demo, until Ctrl-C
    #[arg(long)]
    pub serve: bool,
}

/// Tables bulk-loaded (in this order); the click events are streamed.
const BULK_TABLES: [&str; 3] = ["customers", "product", "transactions"];
/// The streamed table.
const STREAM_TABLE: &str = "clickstream";

/// Run `strata demo`.
pub async fn run(args: DemoArgs) -> Result<()> {
    if !(args.scale.is_finite() && args.scale > 0.0) {
        bail!("--scale must be a positive number, got {}", args.scale);
    }
    if args.batch_rows == 0 {
        bail!("--batch-rows must be at least 1");
    }
    let started = Instant::now();
    // The working directory: given, or a temporary one (removed when `_temp` drops).
    let (dir, _temp) = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            (std::path::absolute(d)?, None)
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("strata-demo-")
                .tempdir()
                .context("cannot create a temporary directory")?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let data_dir = dir.join("data");
    if std::fs::read_dir(&data_dir).is_ok_and(|mut e| e.next().is_some()) {
        bail!(
            "{} is not empty: the demo creates a fresh store there (give another --dir or \
             remove it)",
            data_dir.display()
        );
    }
    let mut out = Out::new();
    out.line(format!(
        "strata demo: scale {}, seed {}, in {}",
        args.scale,
        args.seed,
        dir.display()
    ));

    // 1. Generate the data set.
    let t = Instant::now();
    let (gen_dir, scale, seed) = (dir.clone(), args.scale, args.seed);
    let generated =
        tokio::task::spawn_blocking(move || strata_loader::generate(&gen_dir, scale, seed))
            .await?
            .context("cannot generate the data set")?;
    out.step(
        "gen",
        t.elapsed(),
        format!(
            "{} files, {} rows, {:.1} MB ({:.1} MB/s)",
            generated.files.len(),
            generated.total_rows(),
            generated.total_bytes() as f64 / 1e6,
            per_sec(generated.total_bytes() as f64 / 1e6, t.elapsed())
        ),
    );

    // 2. Open the store and serve it in-process.
    let t = Instant::now();
    let (db, server) =
        super::in_process::serve_in_process_with_http(&data_dir, DbOptions::default()).await?;
    let thrift = super::in_process::thrift_in_process(&db, &server).await?;
    out.line(format!(
        "thrift gateway (HBase Thrift1, for happybase) on {}",
        thrift.local_addr()
    ));
    let url = server.url();
    let dashboard = server.http_addr().map(|a| format!("http://{a}/"));
    let mut result = demo_with_server(
        &url,
        dashboard.as_deref(),
        &dir,
        &generated,
        &args,
        &mut out,
        t,
    )
    .await;
    if let Some(page) = &dashboard {
        out.line(format!("dashboard: {page}"));
    }
    if args.serve && result.is_ok() {
        out.line(format!(
            "serving gRPC on {url}, Thrift on {}{} until Ctrl-C",
            thrift.local_addr(),
            dashboard
                .as_deref()
                .map(|p| format!(" and the dashboard on {p}"))
                .unwrap_or_default()
        ));
        super::serve::shutdown_signal().await;
        result = Ok(());
    }

    // Shut down cleanly whatever happened, then report the first error.
    let t = Instant::now();
    let stopped = server.shutdown(Duration::from_secs(5)).await;
    thrift.shutdown(Duration::from_secs(5)).await;
    let closing = db.clone();
    let closed = tokio::task::spawn_blocking(move || closing.close()).await?;
    result?;
    stopped.context("the server did not stop cleanly")?;
    closed.context("cannot close the store")?;
    out.step(
        "shutdown",
        t.elapsed(),
        "server stopped, store closed".into(),
    );
    out.line(format!(
        "demo finished in {:.2} s{}",
        started.elapsed().as_secs_f64(),
        if args.dir.is_some() {
            format!(
                "; the store stays in {} (strata serve --data-dir {})",
                data_dir.display(),
                data_dir.display()
            )
        } else {
            String::new()
        }
    ));
    Ok(())
}

/// Everything that needs the server: tables, loads, the stream, the queries.
async fn demo_with_server(
    url: &str,
    dashboard_url: Option<&str>,
    dir: &Path,
    generated: &GenSummary,
    args: &DemoArgs,
    out: &mut Out,
    server_started: Instant,
) -> Result<()> {
    let remote = Remote::plain(url);
    let mut client = remote.connect().await?;
    out.step(
        "serve",
        server_started.elapsed(),
        format!("store in {}, server on {url}", dir.join("data").display()),
    );
    if let Some(page) = dashboard_url {
        out.line(format!(
            "dashboard: {page} (open it while the data streams in)"
        ));
    }

    // 3. Create the four tables with the brief's families.
    let t = Instant::now();
    let mut families = BTreeMap::new();
    for table in BULK_TABLES.iter().chain([&STREAM_TABLE]) {
        let mapping = builtin_mapping(table).ok_or_else(|| anyhow!("no mapping for {table}"))?;
        let f = ensure_table(&mut client, table, &default_families(&mapping)).await?;
        families.insert(*table, f);
    }
    out.step(
        "create",
        t.elapsed(),
        "customers, product, transactions, clickstream".into(),
    );

    // 4. Bulk-load three tables: loader-built files staged in the server's ingest directory
    // and adopted through BulkIngest.
    let staging_root = staging_dir_in(&server_ingest_dir(&mut client).await?, "strata-demo-")?;
    let mut expected: BTreeMap<&str, u64> = BTreeMap::new();
    for table in BULK_TABLES {
        let t = Instant::now();
        let csv = csv_path(dir, table)?;
        let mapping = builtin_mapping(table).ok_or_else(|| anyhow!("no mapping for {table}"))?;
        let staging = staging_root.path().join(table);
        let mut opts = LoadOptions::new(&csv, &staging, mapping);
        opts.families = families.get(table).cloned().unwrap_or_default();
        opts.rejects_path = Some(dir.join(format!("{table}.rejects")));
        let build = build_files(opts)
            .await
            .with_context(|| format!("cannot build the files of {table}"))?;
        if !build.files.is_empty() {
            bulk_ingest(
                &remote,
                &mut client,
                table,
                &build.paths(),
                &format!("demo-{table}"),
            )
            .await?;
        }
        let _ = std::fs::remove_dir_all(&staging);
        expected.insert(table, build.rows);
        out.step(
            &format!("load {table}"),
            t.elapsed(),
            format!(
                "{} rows, {} cells, {} rejects, {:.1} MB CSV -> {:.1} MB stored ({:.2}x), {:.1} MB/s",
                build.rows,
                build.cells,
                build.rejects,
                build.input_bytes as f64 / 1e6,
                build.output_bytes as f64 / 1e6,
                ratio(build.output_bytes, build.input_bytes),
                per_sec(build.input_bytes as f64 / 1e6, t.elapsed())
            ),
        );
    }
    drop(staging_root);

    // 5. Stream the click events: through a Kafka topic, or straight through MutateStream.
    let t = Instant::now();
    let csv = csv_path(dir, STREAM_TABLE)?;
    let streamed = match &args.kafka {
        Some(brokers) => {
            kafka::stream_through_kafka(url, brokers, STREAM_TABLE, &csv, args.batch_rows, out)
                .await?
        }
        None => stream_csv(&mut client, STREAM_TABLE, &csv, args.batch_rows).await?,
    };
    expected.insert(STREAM_TABLE, streamed.rows);
    out.step(
        "stream clickstream",
        t.elapsed(),
        format!(
            "{} rows, {} cells in {} batches of up to {} rows, {} rejects: {:.0} rows/s, {:.0} cells/s",
            streamed.rows,
            streamed.cells,
            streamed.batches,
            args.batch_rows,
            streamed.rejects,
            per_sec(streamed.rows as f64, t.elapsed()),
            per_sec(streamed.cells as f64, t.elapsed())
        ),
    );

    // 6. The dashboard, through the Aggregate RPC.
    let counts = dashboard::query_and_print(&mut client, out).await?;

    // Row counts: what the API returns against the generated CSV files.
    out.line("Row counts".into());
    out.line(format!(
        "  {:<14} {:<18} {:>10} {:>10} {:>10}",
        "TABLE", "CSV FILE", "CSV ROWS", "LOADED", "IN TABLE"
    ));
    let mut mismatches = Vec::new();
    for table in BULK_TABLES.iter().chain([&STREAM_TABLE]) {
        let file = builtin_csv_file(table).unwrap_or("?");
        let csv_rows = generated
            .files
            .iter()
            .find(|f| f.path.file_name().is_some_and(|n| n == file))
            .map_or(0, |f| f.rows);
        let loaded = expected.get(table).copied().unwrap_or(0);
        let in_table = counts.get(table).copied().unwrap_or(0);
        out.line(format!(
            "  {table:<14} {file:<18} {csv_rows:>10} {loaded:>10} {in_table:>10}"
        ));
        if in_table != loaded {
            mismatches.push(format!(
                "{table}: {loaded} rows loaded but {in_table} in the table"
            ));
        }
    }
    out.line(String::new());
    if !mismatches.is_empty() {
        bail!("row counts do not match: {}", mismatches.join("; "));
    }
    Ok(())
}

/// The generated CSV file of a built-in table.
fn csv_path(dir: &Path, table: &str) -> Result<PathBuf> {
    builtin_csv_file(table)
        .map(|f| dir.join(f))
        .ok_or_else(|| anyhow!("no CSV file for table {table}"))
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Prints to stdout as the demo goes (progress lines appear as steps finish).
struct Out {
    started: Instant,
}

impl Out {
    fn new() -> Self {
        Out {
            started: Instant::now(),
        }
    }

    fn line(&mut self, s: String) {
        let stdout = std::io::stdout();
        let mut w = stdout.lock();
        // A closed stdout (e.g. `| head`) must not fail the demo.
        let _ = writeln!(w, "{s}");
        let _ = w.flush();
    }

    /// A timing line: `[ elapsed] step  took  what`.
    fn step(&mut self, step: &str, took: Duration, what: String) {
        let at = self.started.elapsed().as_secs_f64();
        self.line(format!(
            "[{at:7.2}s] {step:<20} {:>8.3} s  {what}",
            took.as_secs_f64()
        ));
    }
}
