//! `compare`: the same work on Strata (in-process) and on RocksDB, on the CSV files of
//! `strata gen`, with the layout of the brief (section 5): one RocksDB column family per
//! Strata family, RocksDB keys `row + 0x00 + qualifier`, every mapped CSV field a cell, zstd
//! (level 3 on both sides), bloom filters, the same block size on both sides, a 32 MiB block
//! cache on both sides, a single-threaded RocksDB loader (SstFileWriter + ingest).
//!
//! Built only with `--features rocksdb-compare` (RocksDB compiles from C++ for ~30 minutes);
//! CI never builds it.
//!
//! ```text
//! compare --csv-dir DIR [--block-size 4096|65536] [--out DIR] [--seconds S]
//! ```
//!
//! Phases: (a) bulk load of the four tables, (b) batched writes with WAL (1,000 rows per batch,
//! one thread, unsynced and synced per batch), (c) random whole-row gets, (d) full scans of each
//! table and of transactions.payment_info, (e) stored bytes. Each timed phase is bounded by
//! `--seconds` (default 10).

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::Rng as _;
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DB, DBCompressionType,
    IngestExternalFileOptions, Options, SstFileWriter, WriteBatch, WriteOptions,
};
use strata_engine::{
    ColumnSelector, Db, DbOptions, FamilyOptions, Mutation, ReadOptions, RowMutation, ScanOptions,
    SyncMode,
};
use strata_loader::mapping::ResolvedKeyPart;
use strata_loader::{
    LoadOptions, TableMapping, build_table_files, builtin_csv_file, builtin_mapping,
};

type R<T> = Result<T, Box<dyn Error>>;

const TABLES: [&str; 4] = ["customers", "product", "transactions", "clickstream"];
const CACHE_BYTES: usize = 32 << 20;
const BATCH_ROWS: usize = 1000;

struct Args {
    csv_dir: PathBuf,
    block_size: usize,
    out: PathBuf,
    seconds: f64,
}

fn parse_args() -> R<Args> {
    let mut csv_dir = None;
    let mut block_size = 4096usize;
    let mut out = PathBuf::from("/tmp/strata-compare");
    let mut seconds = 10.0;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--csv-dir" => csv_dir = Some(PathBuf::from(val()?)),
            "--block-size" => block_size = val()?.parse()?,
            "--out" => out = PathBuf::from(val()?),
            "--seconds" => seconds = val()?.parse()?,
            _ => {
                return Err(
                    "usage: compare --csv-dir DIR [--block-size 4096|65536] [--out DIR] \
                     [--seconds S]"
                        .into(),
                );
            }
        }
    }
    Ok(Args {
        csv_dir: csv_dir.ok_or("--csv-dir DIR is required")?,
        block_size,
        out,
        seconds,
    })
}

/// One table's parsed rows in the shape both sides need.
struct Parsed {
    name: &'static str,
    /// Sorted distinct family names.
    families: Vec<String>,
    /// (family index, qualifier) of every cell, sorted by family then qualifier.
    slots: Vec<(usize, Vec<u8>)>,
    /// Row key and one value per slot, sorted by key, duplicates removed (last wins).
    rows: Vec<(Vec<u8>, Vec<Vec<u8>>)>,
    csv_bytes: u64,
}

impl Parsed {
    fn cells(&self) -> u64 {
        (self.rows.len() * self.slots.len()) as u64
    }
    fn family_slots(&self, f: usize) -> impl Iterator<Item = (usize, &[u8])> {
        self.slots
            .iter()
            .enumerate()
            .filter(move |(_, (fi, _))| *fi == f)
            .map(|(i, (_, q))| (i, q.as_slice()))
    }
}

fn cell_key(row: &[u8], qual: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(row.len() + 1 + qual.len());
    k.extend_from_slice(row);
    k.push(0);
    k.extend_from_slice(qual);
    k
}

fn parse_csv(name: &'static str, path: &Path, mapping: &TableMapping) -> R<Parsed> {
    let csv_bytes = std::fs::metadata(path)?.len();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)?;
    let header: Vec<String> = rdr.headers()?.iter().map(str::to_string).collect();
    let resolved = mapping.resolve(&header, None)?;
    let families = resolved.families.clone();
    let slots: Vec<(usize, Vec<u8>)> = resolved
        .cells
        .iter()
        .map(|c| {
            let fi = families.iter().position(|f| *f == c.family).unwrap_or(0);
            (fi, c.qualifier.clone())
        })
        .collect();
    let mut rows = Vec::new();
    let mut rec = csv::ByteRecord::new();
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(_) => continue,
        }
        if rec.len() != resolved.field_count {
            continue;
        }
        let mut key = Vec::new();
        for p in &resolved.key {
            match p {
                ResolvedKeyPart::Column(i) => key.extend_from_slice(&rec[*i]),
                ResolvedKeyPart::Literal(l) => key.extend_from_slice(l),
            }
        }
        if key.is_empty() {
            continue;
        }
        let values = resolved
            .cells
            .iter()
            .map(|c| rec[c.column].to_vec())
            .collect();
        rows.push((key, values));
    }
    // Stable sort, then keep the last of equal keys (the later line wins, as in Strata).
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let mut dedup: Vec<(Vec<u8>, Vec<Vec<u8>>)> = Vec::with_capacity(rows.len());
    for r in rows {
        match dedup.last_mut() {
            Some(last) if last.0 == r.0 => *last = r,
            _ => dedup.push(r),
        }
    }
    Ok(Parsed {
        name,
        families,
        slots,
        rows: dedup,
        csv_bytes,
    })
}

// ---------------------------------------------------------------------------------------------
// RocksDB side

fn rocks_cf_options(block_size: usize, cache: &Cache) -> Options {
    let mut b = BlockBasedOptions::default();
    b.set_block_size(block_size);
    b.set_block_cache(cache);
    b.set_bloom_filter(10.0, false);
    let mut o = Options::default();
    o.set_compression_type(DBCompressionType::Zstd);
    o.set_block_based_table_factory(&b);
    o
}

fn rocks_open(dir: &Path, families: &[String], block_size: usize, cache: &Cache) -> R<DB> {
    let mut o = Options::default();
    o.create_if_missing(true);
    o.create_missing_column_families(true);
    let cfs = families
        .iter()
        .map(|f| ColumnFamilyDescriptor::new(f, rocks_cf_options(block_size, cache)));
    Ok(DB::open_cf_descriptors(&o, dir, cfs)?)
}

/// Parse, sort, write one SST per family with SstFileWriter, ingest (moving the files).
fn rocks_bulk_load(
    dir: &Path,
    name: &'static str,
    csv: &Path,
    mapping: &TableMapping,
    block_size: usize,
    cache: &Cache,
) -> R<(Parsed, DB)> {
    let parsed = parse_csv(name, csv, mapping)?;
    let db = rocks_open(dir, &parsed.families, block_size, cache)?;
    let staging = dir.join("staging");
    std::fs::create_dir_all(&staging)?;
    let opts = rocks_cf_options(block_size, cache);
    for (fi, fam) in parsed.families.iter().enumerate() {
        let path = staging.join(format!("{fam}.sst"));
        let mut w = SstFileWriter::create(&opts);
        w.open(&path)?;
        let slots: Vec<(usize, &[u8])> = parsed.family_slots(fi).collect();
        let mut key = Vec::new();
        for (row, values) in &parsed.rows {
            for (i, q) in &slots {
                key.clear();
                key.extend_from_slice(row);
                key.push(0);
                key.extend_from_slice(q);
                w.put(&key, &values[*i])?;
            }
        }
        w.finish()?;
        let cf = db.cf_handle(fam).ok_or("missing column family")?;
        let mut io = IngestExternalFileOptions::default();
        io.set_move_files(true);
        db.ingest_external_file_cf_opts(cf, &io, vec![path])?;
    }
    let _ = std::fs::remove_dir_all(&staging);
    Ok((parsed, db))
}

fn rocks_get_row(db: &DB, t: &Parsed, row: &[u8]) -> R<u64> {
    let mut found = 0;
    for (fi, fam) in t.families.iter().enumerate() {
        let cf = db.cf_handle(fam).ok_or("missing column family")?;
        let keys: Vec<Vec<u8>> = t.family_slots(fi).map(|(_, q)| cell_key(row, q)).collect();
        for v in db.batched_multi_get_cf(cf, &keys, true) {
            if v?.is_some() {
                found += 1;
            }
        }
    }
    Ok(found)
}

fn rocks_scan(db: &DB, families: &[String], deadline: Instant) -> R<(u64, u64)> {
    let (mut cells, mut bytes) = (0u64, 0u64);
    for fam in families {
        let cf = db.cf_handle(fam).ok_or("missing column family")?;
        let mut it = db.raw_iterator_cf(cf);
        it.seek_to_first();
        while it.valid() {
            cells += 1;
            bytes += (it.key().map_or(0, <[u8]>::len) + it.value().map_or(0, <[u8]>::len)) as u64;
            if cells % 65536 == 0 && Instant::now() > deadline {
                return Ok((cells, bytes));
            }
            it.next();
        }
        it.status()?;
    }
    Ok((cells, bytes))
}

// ---------------------------------------------------------------------------------------------
// Strata side

fn strata_families(t: &Parsed, block_size: usize) -> Vec<FamilyOptions> {
    t.families
        .iter()
        .map(|f| {
            let mut o = FamilyOptions::new(f);
            o.block_size = block_size as u32;
            o
        })
        .collect()
}

fn strata_open(dir: &Path, sync: SyncMode) -> R<Db> {
    let opts = DbOptions {
        block_cache_bytes: CACHE_BYTES,
        sync_mode: sync,
        ..DbOptions::default()
    };
    std::fs::create_dir_all(dir)?;
    Ok(Db::open(dir, opts)?)
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
    let families: Vec<FamilyOptions> = opts
        .mapping
        .families
        .iter()
        .map(|f| {
            let mut o = FamilyOptions::new(f);
            o.block_size = block_size as u32;
            o
        })
        .collect();
    db.create_table(t, families.clone())?;
    opts.families = families;
    let s = build_table_files(&opts)?;
    db.ingest(t, &s.paths(), &format!("compare-{t}"))?;
    let _ = std::fs::remove_dir_all(&staging);
    Ok((s.cells, s.input_bytes))
}

fn row_mutation(t: &Parsed, row: &(Vec<u8>, Vec<Vec<u8>>)) -> RowMutation {
    RowMutation {
        row: row.0.clone(),
        mutations: t
            .slots
            .iter()
            .zip(&row.1)
            .map(|((fi, q), v)| Mutation::SetCell {
                family: t.families[*fi].clone(),
                qualifier: q.clone(),
                value: v.clone(),
                timestamp: 0,
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// Report

struct Line {
    figure: String,
    strata: f64,
    rocks: f64,
    unit: &'static str,
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

fn main() {
    if let Err(e) = run() {
        eprintln!("compare: {e}");
        std::process::exit(1);
    }
}

#[allow(clippy::too_many_lines)]
fn run() -> R<()> {
    let args = parse_args()?;
    let bound = Duration::from_secs_f64(args.seconds);
    let bs = args.block_size;
    let _ = std::fs::remove_dir_all(&args.out);
    std::fs::create_dir_all(&args.out)?;
    let mut lines: Vec<Line> = Vec::new();
    let cache = Cache::new_lru_cache(CACHE_BYTES);

    // (a) bulk load -----------------------------------------------------------------------
    let strata_dir = args.out.join("strata");
    let db = strata_open(&strata_dir, SyncMode::Group)?;
    let (mut s_cells, mut s_bytes, mut s_time) = (0u64, 0u64, Duration::ZERO);
    for t in TABLES {
        let csv = args.csv_dir.join(builtin_csv_file(t).ok_or("no csv file")?);
        let mapping = builtin_mapping(t).ok_or("no mapping")?;
        let started = Instant::now();
        let (c, b) = strata_bulk_load(&db, t, &csv, mapping, bs)?;
        let el = started.elapsed();
        eprintln!(
            "strata  load {t:<13} {c:>9} cells {:>7.1} MB in {:>6.2} s: {:>6.1} MB/s",
            b as f64 / 1e6,
            el.as_secs_f64(),
            per_sec(b as f64 / 1e6, el)
        );
        s_cells += c;
        s_bytes += b;
        s_time += el;
    }
    let mut parsed: Vec<Parsed> = Vec::new();
    let mut rocks: Vec<DB> = Vec::new();
    let (mut r_cells, mut r_bytes, mut r_time) = (0u64, 0u64, Duration::ZERO);
    for t in TABLES {
        let csv = args.csv_dir.join(builtin_csv_file(t).ok_or("no csv file")?);
        let mapping = builtin_mapping(t).ok_or("no mapping")?;
        let started = Instant::now();
        let (p, rdb) = rocks_bulk_load(
            &args.out.join("rocks").join(t),
            t,
            &csv,
            &mapping,
            bs,
            &cache,
        )?;
        let el = started.elapsed();
        eprintln!(
            "rocksdb load {t:<13} {:>9} cells {:>7.1} MB in {:>6.2} s: {:>6.1} MB/s",
            p.cells(),
            p.csv_bytes as f64 / 1e6,
            el.as_secs_f64(),
            per_sec(p.csv_bytes as f64 / 1e6, el)
        );
        r_cells += p.cells();
        r_bytes += p.csv_bytes;
        r_time += el;
        parsed.push(p);
        rocks.push(rdb);
    }
    if s_cells != r_cells {
        eprintln!("note: cell counts differ: strata {s_cells}, rocksdb {r_cells}");
    }
    lines.push(Line {
        figure: "bulk load, 4 tables".into(),
        strata: per_sec(s_bytes as f64 / 1e6, s_time),
        rocks: per_sec(r_bytes as f64 / 1e6, r_time),
        unit: "MB/s CSV",
    });
    lines.push(Line {
        figure: "bulk load, 4 tables".into(),
        strata: per_sec(s_cells as f64, s_time),
        rocks: per_sec(r_cells as f64, r_time),
        unit: "cells/s",
    });

    // (e) stored bytes ----------------------------------------------------------------------
    let csv_total = s_bytes as f64;
    lines.push(Line {
        figure: "stored bytes / CSV bytes".into(),
        strata: dir_bytes(&strata_dir) as f64 / csv_total,
        rocks: dir_bytes(&args.out.join("rocks")) as f64 / csv_total,
        unit: "x",
    });

    // (c) random whole-row gets ---------------------------------------------------------------
    let mut rng = rand::rng();
    for (ti, t) in parsed.iter().enumerate() {
        let n = t.rows.len();
        if n == 0 {
            continue;
        }
        let ro = ReadOptions::default();
        let (mut gets, mut cells) = (0u64, 0u64);
        let started = Instant::now();
        while started.elapsed() < bound {
            for _ in 0..256 {
                let row = &t.rows[rng.random_range(0..n)].0;
                if let Some(r) = db.get(t.name, row, &ro)? {
                    cells += r.cells.len() as u64;
                }
                gets += 1;
            }
        }
        let s_rate = per_sec(gets as f64, started.elapsed());
        let s_cells_per_get = cells as f64 / gets.max(1) as f64;
        let (mut gets, mut cells) = (0u64, 0u64);
        let started = Instant::now();
        while started.elapsed() < bound {
            for _ in 0..256 {
                let row = &t.rows[rng.random_range(0..n)].0;
                cells += rocks_get_row(&rocks[ti], t, row)?;
                gets += 1;
            }
        }
        let r_rate = per_sec(gets as f64, started.elapsed());
        eprintln!(
            "gets {}: strata {:.0}/s ({:.1} cells/row), rocksdb {:.0}/s ({:.1} cells/row)",
            t.name,
            s_rate,
            s_cells_per_get,
            r_rate,
            cells as f64 / gets.max(1) as f64
        );
        lines.push(Line {
            figure: format!("random whole-row gets, {}", t.name),
            strata: s_rate,
            rocks: r_rate,
            unit: "gets/s",
        });
    }

    // (d) scans -------------------------------------------------------------------------------
    for (ti, t) in parsed.iter().enumerate() {
        let started = Instant::now();
        let deadline = started + bound;
        let (mut cells, mut rows) = (0u64, 0u64);
        for row in db.scan(t.name, ScanOptions::default())? {
            cells += row?.cells.len() as u64;
            rows += 1;
            if rows % 1024 == 0 && Instant::now() > deadline {
                break;
            }
        }
        let s_rate = per_sec(cells as f64, started.elapsed());
        let started = Instant::now();
        let (rc, _) = rocks_scan(&rocks[ti], &t.families, started + bound)?;
        let r_rate = per_sec(rc as f64, started.elapsed());
        eprintln!("scan {}: strata {cells} cells, rocksdb {rc} cells", t.name);
        lines.push(Line {
            figure: format!("full scan, {}", t.name),
            strata: s_rate,
            rocks: r_rate,
            unit: "cells/s",
        });
    }
    if let Some(ti) = parsed.iter().position(|t| t.name == "transactions") {
        let t = &parsed[ti];
        let fam = "payment_info".to_string();
        let started = Instant::now();
        let deadline = started + bound;
        let (mut cells, mut rows) = (0u64, 0u64);
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
        for row in db.scan(t.name, opts)? {
            cells += row?.cells.len() as u64;
            rows += 1;
            if rows % 1024 == 0 && Instant::now() > deadline {
                break;
            }
        }
        let s_rate = per_sec(cells as f64, started.elapsed());
        let started = Instant::now();
        let (rc, _) = rocks_scan(&rocks[ti], std::slice::from_ref(&fam), started + bound)?;
        let r_rate = per_sec(rc as f64, started.elapsed());
        eprintln!("scan transactions.payment_info: strata {cells} cells, rocksdb {rc} cells");
        lines.push(Line {
            figure: "scan one family, transactions.payment_info".into(),
            strata: s_rate,
            rocks: r_rate,
            unit: "cells/s",
        });
    }
    db.close()?;
    drop(db);
    drop(rocks);

    // (b) batched writes with WAL ---------------------------------------------------------------
    let t = parsed
        .iter()
        .find(|t| t.name == "clickstream")
        .ok_or("no clickstream table")?;
    for (sync_name, s_mode, r_sync) in [
        ("sync=false", SyncMode::None, false),
        ("sync=true (fsync per batch)", SyncMode::Always, true),
    ] {
        let sdir = args.out.join(format!("strata-writes-{r_sync}"));
        let sdb = strata_open(&sdir, s_mode)?;
        sdb.create_table(t.name, strata_families(t, bs))?;
        let started = Instant::now();
        let mut cells = 0u64;
        for chunk in t.rows.chunks(BATCH_ROWS) {
            let batch: Vec<RowMutation> = chunk.iter().map(|r| row_mutation(t, r)).collect();
            cells += sdb.mutate_rows(t.name, batch)?.cells;
            if started.elapsed() > bound {
                break;
            }
        }
        let s_write = started.elapsed();
        sdb.flush(t.name)?;
        let s_all = started.elapsed();
        sdb.close()?;
        let s_cells = cells;

        let rdir = args.out.join(format!("rocks-writes-{r_sync}"));
        let rdb = rocks_open(&rdir, &t.families, bs, &cache)?;
        let mut wo = WriteOptions::default();
        wo.set_sync(r_sync);
        let cfs: Vec<_> = t
            .families
            .iter()
            .map(|f| rdb.cf_handle(f).ok_or("missing column family"))
            .collect::<Result<_, _>>()?;
        let started = Instant::now();
        let mut cells = 0u64;
        let mut key = Vec::new();
        for chunk in t.rows.chunks(BATCH_ROWS) {
            let mut b = WriteBatch::default();
            for (row, values) in chunk {
                for ((fi, q), v) in t.slots.iter().zip(values) {
                    key.clear();
                    key.extend_from_slice(row);
                    key.push(0);
                    key.extend_from_slice(q);
                    b.put_cf(cfs[*fi], &key, v);
                    cells += 1;
                }
            }
            rdb.write_opt(b, &wo)?;
            if started.elapsed() > bound {
                break;
            }
        }
        let r_write = started.elapsed();
        for cf in &cfs {
            rdb.flush_cf(*cf)?;
        }
        let r_all = started.elapsed();
        drop(cfs);
        drop(rdb);
        eprintln!(
            "writes {sync_name}: strata {s_cells} cells in {:.2} s (+flush {:.2} s), rocksdb {cells} cells in {:.2} s (+flush {:.2} s)",
            s_write.as_secs_f64(),
            (s_all - s_write).as_secs_f64(),
            r_write.as_secs_f64(),
            (r_all - r_write).as_secs_f64()
        );
        lines.push(Line {
            figure: format!("batched writes, {BATCH_ROWS} rows/batch, {sync_name}"),
            strata: per_sec(s_cells as f64, s_write),
            rocks: per_sec(cells as f64, r_write),
            unit: "cells/s",
        });
        lines.push(Line {
            figure: "  same, counting the final flush".into(),
            strata: per_sec(s_cells as f64, s_all),
            rocks: per_sec(cells as f64, r_all),
            unit: "cells/s",
        });
    }

    // Report ---------------------------------------------------------------------------------------
    println!(
        "block size {bs} B, block cache 32 MiB both sides, zstd level 3, bloom filters, phases bounded at {:.0} s",
        args.seconds
    );
    println!("| figure | unit | Strata | RocksDB | Strata / RocksDB |");
    println!("|---|---|---:|---:|---:|");
    for l in &lines {
        let fmt = |x: f64| {
            if l.unit == "x" || x < 1000.0 {
                format!("{x:.2}")
            } else {
                format!("{x:.0}")
            }
        };
        let ratio = if l.rocks > 0.0 {
            l.strata / l.rocks
        } else {
            0.0
        };
        println!(
            "| {} | {} | {} | {} | {:.2} |",
            l.figure,
            l.unit,
            fmt(l.strata),
            fmt(l.rocks),
            ratio
        );
    }
    Ok(())
}
