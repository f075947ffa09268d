//! `compare`: the same work on Strata (in-process) and on RocksDB, on the CSV files of
//! `strata gen`, driven the way the outside harness of issue 11 drives both engines (the
//! RocksDB side is in `compare/rocks.rs`): the brief's layout (one RocksDB column family per
//! Strata family, keys `row + 0x00 + qualifier`, every mapped CSV field a cell), zstd level 3
//! and bloom filters on both sides, the same block size on both sides, a 32 MiB block cache on
//! both sides. Every row of the issue's table is printed with Strata, RocksDB and the ratio,
//! per block size and then against RocksDB's best block size.
//!
//! Built only with `--features rocksdb-compare` (RocksDB compiles from C++ for ~30 minutes);
//! CI never builds it.
//!
//! ```text
//! compare --csv-dir DIR [--block-sizes 4096,65536] [--out DIR] [--seconds S] [--only reads|writes]
//! ```
//!
//! Phases per block size: (a) bulk load of the four tables (Strata: the loader's table
//! files + `Db::ingest`; RocksDB: parse, sort, `SstFileWriter`, ingest with move), (e) stored
//! bytes, (c) whole-row gets, uniform keys over the whole table, one warm-up round and then
//! the measured round (with p50/p99), (d) full scans of each table and of
//! transactions.payment_info (RocksDB raw iterators with `fill_cache(false)`; Strata lent
//! rows, `RowScanner::next_borrowed`; both add up the lengths they are handed), (b) writes of
//! the clickstream CSV, 1,000 parsed rows per call on both sides (Strata: the loader's
//! `MappedCsv` batches into `Db::mutate_rows`; RocksDB: csv records into one `WriteBatch`),
//! unsynced and durable, and settled (until flush and compaction are done: Strata `close`,
//! RocksDB flush + no compaction running or pending). Each timed phase is bounded by
//! `--seconds` (default 10). `--only reads` runs (a), (e), (c) and (d); `--only writes` runs
//! (b) alone (half a minute instead of ten at scale 1: for profiling the write path).
//!
//! The binary runs on the system allocator (glibc malloc here), as a harness that links both
//! engines through their public APIs would: it does not link `strata_benches`, whose
//! `#[global_allocator]` is mimalloc. RocksDB's C++ side uses the system allocator in any
//! case.

// The bin's own modules live beside it in `compare/` (a bin at `src/bin/compare.rs` would
// look for them in `src/bin/`).
#[path = "compare/data.rs"]
mod data;
#[path = "compare/rocks.rs"]
mod rocks;

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::Rng as _;
use rand::SeedableRng as _;
use rocksdb::{Cache, DB};
use strata_engine::{
    ColumnSelector, Db, DbOptions, FamilyOptions, ReadOptions, ScanOptions, SyncMode,
};
use strata_loader::{
    LoadOptions, MappedCsv, TableMapping, build_table_files, builtin_csv_file, builtin_mapping,
};

use data::Parsed;

type R<T> = Result<T, Box<dyn Error>>;

const TABLES: [&str; 4] = ["customers", "product", "transactions", "clickstream"];
const CACHE_BYTES: usize = 32 << 20;
const BATCH_ROWS: usize = 1000;

struct Args {
    csv_dir: PathBuf,
    block_sizes: Vec<usize>,
    out: PathBuf,
    seconds: f64,
    /// Run the load, stored-size, get and scan phases.
    reads: bool,
    /// Run the write phases.
    writes: bool,
}

const USAGE: &str = "usage: compare --csv-dir DIR [--block-sizes 4096,65536] [--out DIR] \
                     [--seconds S] [--only reads|writes]";

fn parse_args() -> R<Args> {
    let mut csv_dir = None;
    let mut block_sizes = vec![4096usize, 65536];
    let mut out = PathBuf::from("/tmp/strata-compare");
    let mut seconds = 10.0;
    let (mut reads, mut writes) = (true, true);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--csv-dir" => csv_dir = Some(PathBuf::from(val()?)),
            "--block-sizes" | "--block-size" => {
                block_sizes = val()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?;
            }
            "--out" => out = PathBuf::from(val()?),
            "--seconds" => seconds = val()?.parse()?,
            "--only" => match val()?.as_str() {
                "reads" => writes = false,
                "writes" => reads = false,
                other => return Err(format!("--only {other}: expected reads or writes").into()),
            },
            _ => return Err(USAGE.into()),
        }
    }
    Ok(Args {
        csv_dir: csv_dir.ok_or("--csv-dir DIR is required")?,
        block_sizes,
        out,
        seconds,
        reads,
        writes,
    })
}

// ---------------------------------------------------------------------------------------------
// Strata side

fn strata_open(dir: &Path, sync: SyncMode) -> R<Db> {
    let opts = DbOptions {
        block_cache_bytes: CACHE_BYTES,
        sync_mode: sync,
        ..DbOptions::default()
    };
    std::fs::create_dir_all(dir)?;
    Ok(Db::open(dir, opts)?)
}

fn families_with_block_size(names: &[String], block_size: usize) -> Vec<FamilyOptions> {
    names
        .iter()
        .map(|f| {
            let mut o = FamilyOptions::new(f);
            o.block_size = block_size as u32;
            o
        })
        .collect()
}

/// Returns (cells, csv bytes).
fn strata_bulk_load(
    db: &Db,
    t: &str,
    csv: &Path,
    mapping: TableMapping,
    block_size: usize,
) -> R<(u64, u64)> {
    let staging = db.ingest_dirs()[0].join(format!("staging-{t}"));
    let mut opts = LoadOptions::new(csv, &staging, mapping);
    let families = families_with_block_size(&opts.mapping.families, block_size);
    db.create_table(t, families.clone())?;
    opts.families = families;
    let s = build_table_files(&opts)?;
    db.ingest(t, &s.paths(), &format!("compare-{t}"))?;
    let _ = std::fs::remove_dir_all(&staging);
    Ok((s.cells, s.input_bytes))
}

/// Before a timed write phase: write back every dirty page (`sync(1)`), so no phase's
/// fsyncs queue behind the writeback of the phase before it (each engine's runs follow
/// another run of the same engine, whose files are gone but whose pages may still be
/// in flight).
fn settle_disk() -> R<()> {
    let status = std::process::Command::new("sync").status()?;
    if !status.success() {
        return Err(format!("sync(1) failed: {status}").into());
    }
    Ok(())
}

/// The loader's parse of `csv` in batches of 1,000 rows, each one `mutate_rows` call, until
/// `bound`; settled adds `close` (final flush, background work finished).
fn strata_write_csv(
    dir: &Path,
    t: &str,
    csv: &Path,
    mapping: &TableMapping,
    sync: SyncMode,
    block_size: usize,
    bound: Duration,
) -> R<rocks::WriteRun> {
    let db = strata_open(dir, sync)?;
    db.create_table(t, families_with_block_size(&mapping.families, block_size))?;
    let started = Instant::now();
    let mut cells = 0u64;
    for batch in MappedCsv::open(csv, mapping)?.batches(BATCH_ROWS) {
        cells += db.mutate_rows(t, batch?.rows)?.cells;
        if started.elapsed() > bound {
            break;
        }
    }
    let write = started.elapsed();
    db.close()?;
    Ok(rocks::WriteRun {
        cells,
        write,
        settled: started.elapsed(),
    })
}

// ---------------------------------------------------------------------------------------------
// Measuring

/// A measured round of gets: rate and latency percentiles.
struct GetRound {
    per_sec: f64,
    p50_us: f64,
    p99_us: f64,
    cells_per_get: f64,
}

/// Gets of uniformly random rows of `t` for `bound`: `get` returns the cells it found.
fn get_round(t: &Parsed, bound: Duration, mut get: impl FnMut(&[u8]) -> R<u64>) -> R<GetRound> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let n = t.rows.len();
    let mut lat: Vec<u32> = Vec::new();
    let mut cells = 0u64;
    let started = Instant::now();
    while started.elapsed() < bound {
        for _ in 0..64 {
            let row = &t.rows[rng.random_range(0..n)].0;
            let t0 = Instant::now();
            cells += get(row)?;
            lat.push(t0.elapsed().as_nanos().min(u128::from(u32::MAX)) as u32);
        }
    }
    let el = started.elapsed();
    lat.sort_unstable();
    let pct = |p: f64| {
        let i = ((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1));
        f64::from(lat.get(i).copied().unwrap_or(0)) / 1000.0
    };
    Ok(GetRound {
        per_sec: per_sec(lat.len() as f64, el),
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        cells_per_get: cells as f64 / lat.len().max(1) as f64,
    })
}

/// Cells of a Strata scan with `opts`, until `bound`: cells per second.
fn strata_scan_rate(db: &Db, t: &str, opts: ScanOptions, bound: Duration) -> R<(f64, u64)> {
    let started = Instant::now();
    let deadline = started + bound;
    let (mut cells, mut rows) = (0u64, 0u64);
    // Lent rows, as RocksDB's raw iterators lend their keys and values; both sides add up
    // the lengths they are handed.
    let mut bytes = 0u64;
    let mut scan = db.scan(t, opts)?;
    while let Some(r) = scan.next_borrowed(|key, cells| {
        let b = cells
            .iter()
            .map(|c| c.qualifier.len() + c.value.len())
            .sum::<usize>();
        (cells.len(), key.len() + b)
    }) {
        let (n, b) = r?;
        cells += n as u64;
        bytes += b as u64;
        rows += 1;
        if rows.is_multiple_of(1024) && Instant::now() > deadline {
            break;
        }
    }
    std::hint::black_box(bytes);
    Ok((per_sec(cells as f64, started.elapsed()), cells))
}

// ---------------------------------------------------------------------------------------------
// Report

struct Line {
    figure: String,
    unit: &'static str,
    strata: f64,
    rocks: f64,
    /// Lower is better (latency, stored size).
    lower_better: bool,
}

impl Line {
    fn new(figure: impl Into<String>, unit: &'static str, strata: f64, rocks: f64) -> Line {
        Line {
            figure: figure.into(),
            unit,
            strata,
            rocks,
            lower_better: matches!(unit, "x" | "us"),
        }
    }
}

fn per_sec(x: f64, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s > 0.0 { x / s } else { 0.0 }
}

fn dir_bytes(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn fmt(unit: &str, x: f64) -> String {
    if unit == "x" || unit == "us" || x < 1000.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.0}")
    }
}

/// Strata / RocksDB, oriented so that above 1 is Strata ahead.
fn ratio(strata: f64, rocks: f64, lower_better: bool) -> f64 {
    match (lower_better, strata > 0.0 && rocks > 0.0) {
        (_, false) => 0.0,
        (false, true) => strata / rocks,
        (true, true) => rocks / strata,
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("compare: {e}");
        std::process::exit(1);
    }
}

fn run() -> R<()> {
    let args = parse_args()?;
    let mut runs: Vec<(usize, Vec<Line>)> = Vec::new();
    for &bs in &args.block_sizes {
        let lines = run_block_size(&args, bs)?;
        println!(
            "\nblock size {bs} B, block cache 32 MiB both sides, zstd level 3, bloom filters, \
             phases bounded at {:.0} s",
            args.seconds
        );
        println!("| figure | unit | Strata | RocksDB | Strata / RocksDB |");
        println!("|---|---|---:|---:|---:|");
        for l in &lines {
            println!(
                "| {} | {} | {} | {} | {:.2} |",
                l.figure,
                l.unit,
                fmt(l.unit, l.strata),
                fmt(l.unit, l.rocks),
                ratio(l.strata, l.rocks, l.lower_better)
            );
        }
        runs.push((bs, lines));
    }
    if runs.len() > 1 {
        summary(&runs);
    }
    Ok(())
}

/// Every figure at every block size, and Strata's best against RocksDB's best.
fn summary(runs: &[(usize, Vec<Line>)]) {
    println!("\nagainst RocksDB's best block size (ratio above 1: Strata ahead)");
    let mut head = String::from("| figure | unit |");
    let mut sep = String::from("|---|---|");
    for (bs, _) in runs {
        head.push_str(&format!(
            " Strata {}K | RocksDB {}K |",
            bs / 1024,
            bs / 1024
        ));
        sep.push_str("---:|---:|");
    }
    println!("{head} best Strata / best RocksDB |\n{sep}---:|");
    let Some((_, first)) = runs.first() else {
        return;
    };
    for (i, l) in first.iter().enumerate() {
        let mut row = format!("| {} | {} |", l.figure, l.unit);
        let pick = |a: f64, b: f64| {
            if l.lower_better { a.min(b) } else { a.max(b) }
        };
        let (mut bs_s, mut bs_r) = (None::<f64>, None::<f64>);
        for (_, lines) in runs {
            let Some(x) = lines.get(i) else { continue };
            row.push_str(&format!(
                " {} | {} |",
                fmt(l.unit, x.strata),
                fmt(l.unit, x.rocks)
            ));
            bs_s = Some(bs_s.map_or(x.strata, |v| pick(v, x.strata)));
            bs_r = Some(bs_r.map_or(x.rocks, |v| pick(v, x.rocks)));
        }
        println!(
            "{row} {:.2} |",
            ratio(bs_s.unwrap_or(0.0), bs_r.unwrap_or(0.0), l.lower_better)
        );
    }
}

#[allow(clippy::too_many_lines)]
fn run_block_size(args: &Args, bs: usize) -> R<Vec<Line>> {
    let out = args.out.join(format!("bs{bs}"));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out)?;
    let cache = Cache::new_lru_cache(CACHE_BYTES);
    let mut lines: Vec<Line> = Vec::new();
    if args.reads {
        lines.extend(read_lines(args, bs, &out, &cache)?);
    }
    if args.writes {
        lines.extend(write_lines(args, bs, &out, &cache)?);
    }
    let _ = std::fs::remove_dir_all(&out);
    Ok(lines)
}

/// Phases (a), (e), (c) and (d): bulk load, stored bytes, gets, scans.
fn read_lines(args: &Args, bs: usize, out: &Path, cache: &Cache) -> R<Vec<Line>> {
    let bound = Duration::from_secs_f64(args.seconds);
    let mut lines: Vec<Line> = Vec::new();

    // (a) bulk load -----------------------------------------------------------------------
    let strata_dir = out.join("strata");
    let db = strata_open(&strata_dir, SyncMode::Group)?;
    let (mut s_cells, mut s_bytes, mut s_time) = (0u64, 0u64, Duration::ZERO);
    for t in TABLES {
        let csv = args.csv_dir.join(builtin_csv_file(t).ok_or("no csv file")?);
        let mapping = builtin_mapping(t).ok_or("no mapping")?;
        let started = Instant::now();
        let (c, b) = strata_bulk_load(&db, t, &csv, mapping, bs)?;
        let el = started.elapsed();
        eprintln!(
            "strata  load {t:<13} {c:>9} cells {:>7.1} MB in {:>6.2} s",
            b as f64 / 1e6,
            el.as_secs_f64()
        );
        s_cells += c;
        s_bytes += b;
        s_time += el;
    }
    let mut parsed: Vec<Parsed> = Vec::new();
    let mut rocks_dbs: Vec<DB> = Vec::new();
    let (mut r_cells, mut r_bytes, mut r_time) = (0u64, 0u64, Duration::ZERO);
    for t in TABLES {
        let csv = args.csv_dir.join(builtin_csv_file(t).ok_or("no csv file")?);
        let mapping = builtin_mapping(t).ok_or("no mapping")?;
        let started = Instant::now();
        let (p, rdb) = rocks::bulk_load(&out.join("rocks").join(t), t, &csv, &mapping, bs, cache)?;
        let el = started.elapsed();
        eprintln!(
            "rocksdb load {t:<13} {:>9} cells {:>7.1} MB in {:>6.2} s",
            p.cells(),
            p.csv_bytes as f64 / 1e6,
            el.as_secs_f64()
        );
        r_cells += p.cells();
        r_bytes += p.csv_bytes;
        r_time += el;
        parsed.push(p);
        rocks_dbs.push(rdb);
    }
    if s_cells != r_cells {
        eprintln!("note: cell counts differ: strata {s_cells}, rocksdb {r_cells}");
    }
    lines.push(Line::new(
        "bulk load, 4 tables",
        "MB/s CSV",
        per_sec(s_bytes as f64 / 1e6, s_time),
        per_sec(r_bytes as f64 / 1e6, r_time),
    ));
    lines.push(Line::new(
        "bulk load, 4 tables",
        "cells/s",
        per_sec(s_cells as f64, s_time),
        per_sec(r_cells as f64, r_time),
    ));

    // (e) stored bytes ----------------------------------------------------------------------
    lines.push(Line::new(
        "stored bytes / CSV bytes",
        "x",
        dir_bytes(&strata_dir) as f64 / s_bytes.max(1) as f64,
        dir_bytes(&out.join("rocks")) as f64 / r_bytes.max(1) as f64,
    ));

    // (c) whole-row gets: a warm-up round, then the measured round ------------------------------
    let ro = ReadOptions::default();
    for (t, rdb) in parsed.iter().zip(&rocks_dbs) {
        if t.rows.is_empty() {
            continue;
        }
        let strata_get = |row: &[u8]| -> R<u64> {
            Ok(db
                .get(t.name, row, &ro)?
                .map_or(0, |r| r.cells.len() as u64))
        };
        get_round(t, bound, strata_get)?;
        let s = get_round(t, bound, strata_get)?;
        let mut lo = Vec::new();
        get_round(t, bound, |row| rocks::get_row_iter(rdb, t, row, &mut lo))?;
        let r = get_round(t, bound, |row| rocks::get_row_iter(rdb, t, row, &mut lo))?;
        let m = get_round(t, bound, |row| rocks::get_row_multiget(rdb, t, row))?;
        eprintln!(
            "gets {}: strata {:.0}/s ({:.1} cells), rocksdb iterators {:.0}/s ({:.1} cells), \
             multi-get {:.0}/s ({:.1} cells)",
            t.name,
            s.per_sec,
            s.cells_per_get,
            r.per_sec,
            r.cells_per_get,
            m.per_sec,
            m.cells_per_get
        );
        let fig = format!("whole-row gets, {}", t.name);
        lines.push(Line::new(fig.clone(), "gets/s", s.per_sec, r.per_sec));
        lines.push(Line::new(format!("{fig}, p50"), "us", s.p50_us, r.p50_us));
        lines.push(Line::new(format!("{fig}, p99"), "us", s.p99_us, r.p99_us));
        lines.push(Line::new(
            format!("{fig} (RocksDB multi-get per family)"),
            "gets/s",
            s.per_sec,
            m.per_sec,
        ));
    }

    // (d) scans ---------------------------------------------------------------------------------
    for (t, rdb) in parsed.iter().zip(&rocks_dbs) {
        let (s_rate, cells) = strata_scan_rate(&db, t.name, ScanOptions::default(), bound)?;
        let started = Instant::now();
        let (rc, _) = rocks::scan(rdb, &t.families, started + bound)?;
        let r_rate = per_sec(rc as f64, started.elapsed());
        eprintln!("scan {}: strata {cells} cells, rocksdb {rc} cells", t.name);
        lines.push(Line::new(
            format!("full scan, {}", t.name),
            "cells/s",
            s_rate,
            r_rate,
        ));
    }
    if let Some((t, rdb)) = parsed
        .iter()
        .zip(&rocks_dbs)
        .find(|(t, _)| t.name == "transactions")
    {
        let fam = "payment_info".to_string();
        let opts = ScanOptions {
            read: ReadOptions {
                columns: vec![ColumnSelector {
                    family: fam.clone(),
                    qualifier: None,
                }],
                ..ReadOptions::default()
            },
            ..ScanOptions::default()
        };
        let (s_rate, cells) = strata_scan_rate(&db, t.name, opts, bound)?;
        let started = Instant::now();
        let (rc, _) = rocks::scan(rdb, std::slice::from_ref(&fam), started + bound)?;
        let r_rate = per_sec(rc as f64, started.elapsed());
        eprintln!("scan transactions.payment_info: strata {cells} cells, rocksdb {rc} cells");
        lines.push(Line::new(
            "scan one family, transactions.payment_info",
            "cells/s",
            s_rate,
            r_rate,
        ));
    }
    db.close()?;
    drop(db);
    drop(rocks_dbs);
    Ok(lines)
}

/// Phase (b): batched writes with WAL, parsing included on both sides.
fn write_lines(args: &Args, bs: usize, out: &Path, cache: &Cache) -> R<Vec<Line>> {
    let bound = Duration::from_secs_f64(args.seconds);
    let mut lines: Vec<Line> = Vec::new();
    let t = "clickstream";
    let csv = args.csv_dir.join(builtin_csv_file(t).ok_or("no csv file")?);
    let mapping = builtin_mapping(t).ok_or("no mapping")?;
    let rocks_run = |sync: bool| -> R<rocks::WriteRun> {
        let dir = out.join(format!("rocks-writes-{sync}"));
        settle_disk()?;
        let r = rocks::write_csv(&dir, &csv, &mapping, sync, bs, cache, bound);
        let _ = std::fs::remove_dir_all(&dir);
        r
    };
    let r_unsynced = rocks_run(false)?;
    let r_synced = rocks_run(true)?;
    for (name, mode, r) in [
        (
            "unsynced (Strata none, RocksDB sync=false)",
            SyncMode::None,
            &r_unsynced,
        ),
        (
            "durable (Strata group, RocksDB sync=true)",
            SyncMode::Group,
            &r_synced,
        ),
        (
            "durable (Strata always, RocksDB sync=true)",
            SyncMode::Always,
            &r_synced,
        ),
    ] {
        let dir = out.join(format!("strata-writes-{mode:?}"));
        settle_disk()?;
        let s = strata_write_csv(&dir, t, &csv, &mapping, mode, bs, bound)?;
        eprintln!(
            "writes {name}: strata {} cells in {:.2} s (settled {:.2} s), rocksdb {} cells in \
             {:.2} s (settled {:.2} s)",
            s.cells,
            s.write.as_secs_f64(),
            s.settled.as_secs_f64(),
            r.cells,
            r.write.as_secs_f64(),
            r.settled.as_secs_f64()
        );
        lines.push(Line::new(
            format!("batched writes, {BATCH_ROWS} rows/call, {name}"),
            "cells/s",
            per_sec(s.cells as f64, s.write),
            per_sec(r.cells as f64, r.write),
        ));
        lines.push(Line::new(
            "  same, settled (flush and compaction done)",
            "cells/s",
            per_sec(s.cells as f64, s.settled),
            per_sec(r.cells as f64, r.settled),
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(lines)
}
