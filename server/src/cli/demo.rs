//! `strata demo`: the old pipeline's whole job in one command. Generate a small data set,
//! open a store and start the gRPC server in-process on a free loopback port, create the four
//! tables, bulk-load customers, product and transactions (loader-built files adopted through
//! BulkIngest), stream the click events through MutateStream in micro-batches (the old Kafka
//! path), then compute the old dashboard's distributions through Scan with column selection,
//! and print them as text tables with a timing line per step.
//!
//! This module drives the loader library and the server only through their public APIs; it
//! must never read or write the store behind the server's back (every load, write and query
//! goes through gRPC), never parse CSV with its own mapping (the loader's built-in mapping and
//! parser do that), and never delete a directory it did not create.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, anyhow, bail};
use strata_engine::DbOptions;
use strata_loader::{GenSummary, LoadOptions, MappedCsv, builtin_csv_file, builtin_mapping};
use strata_proto::v1 as pb;
use strata_proto::v1::strata_client::StrataClient;
use strata_server::convert::row_mutation_to_pb;
use tonic::transport::Channel;

use super::load::{
    build_files, bulk_ingest, default_families, ensure_table, per_sec, status_error,
};

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
}

/// Tables bulk-loaded (in this order); the click events are streamed.
const BULK_TABLES: [&str; 3] = ["customers", "product", "transactions"];
/// The streamed table.
const STREAM_TABLE: &str = "clickstream";
/// MutateStream batches in flight before the producer waits for the server.
const STREAM_WINDOW: usize = 8;

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
    let (db, server) = super::in_process::serve_in_process(&data_dir, DbOptions::default()).await?;
    let url = server.url();
    let result = demo_with_server(&url, &dir, &generated, &args, &mut out, t).await;

    // Shut down cleanly whatever happened, then report the first error.
    let t = Instant::now();
    let stopped = server.shutdown(Duration::from_secs(5)).await;
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
    dir: &Path,
    generated: &GenSummary,
    args: &DemoArgs,
    out: &mut Out,
    server_started: Instant,
) -> Result<()> {
    let mut client = strata_server::connect(url).await?;
    out.step(
        "serve",
        server_started.elapsed(),
        format!("store in {}, server on {url}", dir.join("data").display()),
    );

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

    // 4. Bulk-load three tables: loader-built files adopted through BulkIngest.
    let mut expected: BTreeMap<&str, u64> = BTreeMap::new();
    for table in BULK_TABLES {
        let t = Instant::now();
        let csv = csv_path(dir, table)?;
        let mapping = builtin_mapping(table).ok_or_else(|| anyhow!("no mapping for {table}"))?;
        let staging = dir.join("staging").join(table);
        let mut opts = LoadOptions::new(&csv, &staging, mapping);
        opts.families = families.get(table).cloned().unwrap_or_default();
        opts.rejects_path = Some(dir.join(format!("{table}.rejects")));
        let build = build_files(opts)
            .await
            .with_context(|| format!("cannot build the files of {table}"))?;
        if !build.files.is_empty() {
            bulk_ingest(
                url,
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
    let _ = std::fs::remove_dir(dir.join("staging"));

    // 5. Stream the click events through MutateStream.
    let t = Instant::now();
    let csv = csv_path(dir, STREAM_TABLE)?;
    let streamed = stream_csv(&mut client, STREAM_TABLE, &csv, args.batch_rows).await?;
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

    // 6. The dashboard, through Scan with column selection.
    let today = today_days();
    let mut report = Vec::new();
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();

    let t = Instant::now();
    let (rows, d) = distributions(
        &mut client,
        "customers",
        &[
            ("personal_info", "gender"),
            ("device_info", "device_type"),
            ("personal_info", "birthdate"),
        ],
        |i, v| match i {
            2 => age_band(v, today),
            _ => text(v),
        },
    )
    .await?;
    counts.insert("customers", rows);
    out.step("query customers", t.elapsed(), scan_note(rows, 3, t));
    report.push(("Customers by gender", d[0].clone(), None));
    report.push(("Customers by device type", d[1].clone(), None));
    report.push(("Customers by age band", d[2].clone(), Some(Order::Key)));

    let t = Instant::now();
    let (rows, d) = distributions(
        &mut client,
        "product",
        &[
            ("product_details", "masterCategory"),
            ("product_details", "subCategory"),
            ("metadata", "usage"),
        ],
        |_, v| text(v),
    )
    .await?;
    counts.insert("product", rows);
    out.step("query product", t.elapsed(), scan_note(rows, 3, t));
    report.push(("Products by master category", d[0].clone(), None));
    report.push((
        "Products by sub category, top 10",
        d[1].clone(),
        Some(Order::Top(10)),
    ));
    report.push(("Products by usage", d[2].clone(), None));

    let t = Instant::now();
    let (rows, d) = distributions(
        &mut client,
        "clickstream",
        &[
            ("traffic_info", "traffic_source"),
            ("event_details", "event_name"),
        ],
        |_, v| text(v),
    )
    .await?;
    counts.insert("clickstream", rows);
    out.step("query clickstream", t.elapsed(), scan_note(rows, 2, t));
    report.push(("Click events by traffic source", d[0].clone(), None));
    report.push(("Click events by event name", d[1].clone(), None));

    let t = Instant::now();
    let (rows, d) = distributions(
        &mut client,
        "transactions",
        &[
            ("payment_info", "payment_method"),
            ("transaction_details", "created_at"),
        ],
        |i, v| match i {
            1 => year(v),
            _ => text(v),
        },
    )
    .await?;
    counts.insert("transactions", rows);
    out.step("query transactions", t.elapsed(), scan_note(rows, 2, t));
    report.push(("Transactions by payment method", d[0].clone(), None));
    report.push(("Transactions by year", d[1].clone(), Some(Order::Key)));

    out.line(String::new());
    for (title, dist, order) in &report {
        print_distribution(out, title, dist, order.unwrap_or(Order::Count));
    }

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

fn scan_note(rows: u64, columns: usize, t: Instant) -> String {
    format!(
        "Scan of {columns} columns: {rows} rows, {:.0} rows/s",
        per_sec(rows as f64, t.elapsed())
    )
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

// ---------------------------------------------------------------------------------------------
// Streaming the click events.

/// What a MutateStream run did.
#[derive(Debug, Default)]
struct Streamed {
    rows: u64,
    cells: u64,
    batches: u64,
    rejects: u64,
}

/// Stream `csv` into `table` through MutateStream, `batch_rows` rows per batch, parsing it
/// with the table's built-in mapping and the loader's parser. Returns the server's final
/// acknowledged totals (and the parser's rejects).
async fn stream_csv(
    client: &mut StrataClient<Channel>,
    table: &str,
    csv: &Path,
    batch_rows: usize,
) -> Result<Streamed> {
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::MutateRowsRequest>(STREAM_WINDOW);
    let (path, name) = (csv.to_path_buf(), table.to_string());
    let producer =
        tokio::task::spawn_blocking(move || produce_batches(&path, &name, batch_rows, tx));
    let call = client
        .mutate_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await;
    let acks = match call {
        Ok(resp) => {
            let mut stream = resp.into_inner();
            let mut last = pb::MutateStreamResponse::default();
            loop {
                match stream.message().await {
                    Ok(Some(ack)) => last = ack,
                    Ok(None) => break Ok(last),
                    Err(s) => break Err(status_error(&format!("MutateStream into {table}"), &s)),
                }
            }
        }
        Err(s) => Err(status_error(&format!("MutateStream into {table}"), &s)),
    };
    // If the stream failed, the producer's sends fail and it returns; report the server's
    // error first, since it says why.
    let produced = producer.await?;
    let acks = acks?;
    let produced = produced?;
    if acks.rows != produced.rows || acks.batches != produced.batches {
        bail!(
            "MutateStream acknowledged {} rows in {} batches, but {} rows in {} batches were sent",
            acks.rows,
            acks.batches,
            produced.rows,
            produced.batches
        );
    }
    Ok(Streamed {
        rows: acks.rows,
        cells: acks.cells,
        batches: acks.batches,
        rejects: produced.rejects,
    })
}

/// Read `csv` with the built-in mapping of `table` (the loader's [`MappedCsv`]) and send
/// MutateRows batches of `batch_rows` rows (every mapped column a SetCell with the server's
/// clock as timestamp).
fn produce_batches(
    csv: &Path,
    table: &str,
    batch_rows: usize,
    tx: tokio::sync::mpsc::Sender<pb::MutateRowsRequest>,
) -> Result<Streamed> {
    let mapping = builtin_mapping(table).ok_or_else(|| anyhow!("no mapping for {table}"))?;
    let mut stats = Streamed::default();
    for batch in MappedCsv::open(csv, &mapping)?.batches(batch_rows) {
        let batch = batch?;
        stats.rejects += batch.rejects.len() as u64;
        for r in &batch.rejects {
            tracing::warn!(line = r.line, reason = %r.reason, "rejected click event");
        }
        if batch.rows.is_empty() {
            continue;
        }
        stats.batches += 1;
        stats.rows += batch.rows.len() as u64;
        stats.cells += batch
            .rows
            .iter()
            .map(|r| r.mutations.len() as u64)
            .sum::<u64>();
        tx.blocking_send(pb::MutateRowsRequest {
            table: table.to_string(),
            entries: batch.rows.into_iter().map(row_mutation_to_pb).collect(),
        })
        .map_err(|_| anyhow!("the MutateStream call ended before every batch was sent"))?;
    }
    Ok(stats)
}

// ---------------------------------------------------------------------------------------------
// Queries.

/// Value counts of one column.
type Dist = BTreeMap<String, u64>;

/// Scan `table` selecting `columns` and count, per column, the values `bucket(i, value)`
/// puts them in. Returns the rows seen and one distribution per column.
async fn distributions(
    client: &mut StrataClient<Channel>,
    table: &str,
    columns: &[(&str, &str)],
    bucket: impl Fn(usize, &[u8]) -> String,
) -> Result<(u64, Vec<Dist>)> {
    let req = pb::ScanRequest {
        table: table.to_string(),
        columns: columns
            .iter()
            .map(|(f, q)| pb::ColumnSelector {
                family: f.to_string(),
                qualifier: q.as_bytes().to_vec().into(),
            })
            .collect(),
        ..Default::default()
    };
    let mut stream = client
        .scan(req)
        .await
        .map_err(|s| status_error(&format!("Scan of {table}"), &s))?
        .into_inner();
    let mut dists = vec![Dist::new(); columns.len()];
    let mut rows = 0u64;
    while let Some(reply) = stream
        .message()
        .await
        .map_err(|s| status_error(&format!("Scan of {table}"), &s))?
    {
        for row in &reply.rows {
            rows += 1;
            for (i, (f, q)) in columns.iter().enumerate() {
                let key = match row
                    .cells
                    .iter()
                    .find(|c| c.family == *f && c.qualifier == q.as_bytes())
                {
                    Some(c) => bucket(i, &c.value),
                    None => "(missing)".to_string(),
                };
                *dists[i].entry(key).or_insert(0) += 1;
            }
        }
    }
    Ok((rows, dists))
}

fn text(v: &[u8]) -> String {
    if v.is_empty() {
        "(empty)".to_string()
    } else {
        String::from_utf8_lossy(v).into_owned()
    }
}

/// The year of an ISO-8601 timestamp.
fn year(v: &[u8]) -> String {
    match v.get(..4) {
        Some(y) if y.iter().all(u8::is_ascii_digit) => text(y),
        _ => "(invalid)".to_string(),
    }
}

/// Days since the epoch, today (UTC).
fn today_days() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| (d.as_secs() / 86_400) as i64)
}

/// The age band of a `YYYY-MM-DD` birthdate on day `today` (days since the epoch).
fn age_band(v: &[u8], today: i64) -> String {
    let parse = |r: std::ops::Range<usize>| -> Option<i64> {
        std::str::from_utf8(v.get(r)?).ok()?.parse().ok()
    };
    let (Some(y), Some(m), Some(d)) = (parse(0..4), parse(5..7), parse(8..10)) else {
        return "(invalid)".to_string();
    };
    let (ty, tm, td) = strata_loader::time::civil_from_days(today);
    let mut age = ty - y;
    if (i64::from(tm), i64::from(td)) < (m, d) {
        age -= 1;
    }
    match age {
        i64::MIN..=17 => "under 18",
        18..=24 => "18-24",
        25..=34 => "25-34",
        35..=44 => "35-44",
        45..=54 => "45-54",
        55..=64 => "55-64",
        _ => "65+",
    }
    .to_string()
}

/// How a distribution's lines are ordered.
#[derive(Clone, Copy, Debug)]
enum Order {
    /// Most frequent first.
    Count,
    /// By value (age bands, years).
    Key,
    /// The N most frequent, then one line for the rest.
    Top(usize),
}

fn print_distribution(out: &mut Out, title: &str, dist: &Dist, order: Order) {
    let total: u64 = dist.values().sum();
    let mut lines: Vec<(String, u64)> = dist.iter().map(|(k, v)| (k.clone(), *v)).collect();
    match order {
        Order::Key => {}
        Order::Count | Order::Top(_) => {
            lines.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        }
    }
    if let Order::Top(n) = order
        && lines.len() > n
    {
        let rest: u64 = lines[n..].iter().map(|l| l.1).sum();
        let others = lines.len() - n;
        lines.truncate(n);
        lines.push((format!("({others} others)"), rest));
    }
    let width = lines
        .iter()
        .map(|l| l.0.chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    out.line(format!("{title} ({total} rows)"));
    out.line(format!("  {:<width$} {:>10} {:>7}", "VALUE", "COUNT", "%"));
    for (k, v) in lines {
        let pct = if total == 0 {
            0.0
        } else {
            v as f64 * 100.0 / total as f64
        };
        out.line(format!("  {k:<width$} {v:>10} {pct:>6.1}%"));
    }
    out.line(String::new());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_bands_count_birthdays() {
        let today = strata_loader::time::days_from_civil(2024, 6, 15);
        assert_eq!(age_band(b"2000-06-15", today), "18-24"); // 24 today
        assert_eq!(age_band(b"1999-06-16", today), "18-24"); // 24, 25 tomorrow
        assert_eq!(age_band(b"1999-06-15", today), "25-34");
        assert_eq!(age_band(b"2010-01-01", today), "under 18");
        assert_eq!(age_band(b"1950-01-01", today), "65+");
        assert_eq!(age_band(b"19x0-01-01", today), "(invalid)");
        assert_eq!(age_band(b"", today), "(invalid)");
    }

    #[test]
    fn years_and_empty_values() {
        assert_eq!(year(b"2022-07-29T15:22:01.458193Z"), "2022");
        assert_eq!(year(b"22"), "(invalid)");
        assert_eq!(text(b""), "(empty)");
        assert_eq!(text(b"OVO"), "OVO");
    }
}
