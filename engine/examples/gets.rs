//! Random whole-row point gets against an existing store (BRIEF section 5, "random
//! whole-row gets"): opens the store read-mostly (no background work), collects every row
//! key of each table with one scan, then times `Db::get` on keys drawn at random, per table
//! and per block cache size, and prints gets/s, p50/p99/p999 latency, the cache hit rate and
//! the machine's load average.
//!
//! ```sh
//! cargo run --release -p strata-engine --example gets -- /tmp/s01 \
//!     [--tables transactions,customers,clickstream] [--cache-mib 32,256] [--gets 200000] \
//!     [--threads 1] [--warmup 50000]
//! ```
//!
//! The warm-up gets (same random distribution, not timed) bring the cache to its steady
//! state first, so a small cache is measured at its steady hit rate.

use std::time::Instant;

use strata_engine::{Db, DbOptions, ReadOptions, ScanOptions};

struct Args {
    dir: String,
    tables: Vec<String>,
    cache_mib: Vec<usize>,
    gets: usize,
    warmup: usize,
    threads: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        dir: String::new(),
        tables: ["transactions", "customers", "clickstream"]
            .map(String::from)
            .to_vec(),
        cache_mib: vec![32, 256],
        gets: 200_000,
        warmup: 50_000,
        threads: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = || it.next().expect("flag needs a value");
        match arg.as_str() {
            "--tables" => a.tables = val().split(',').map(String::from).collect(),
            "--cache-mib" => {
                a.cache_mib = val()
                    .split(',')
                    .map(|s| s.parse().expect("cache size in MiB"))
                    .collect()
            }
            "--gets" => a.gets = val().parse().expect("number of gets"),
            "--warmup" => a.warmup = val().parse().expect("number of warm-up gets"),
            "--threads" => a.threads = val().parse().expect("number of threads"),
            d if !d.starts_with("--") => a.dir = d.to_string(),
            other => panic!("unknown flag {other}"),
        }
    }
    assert!(!a.dir.is_empty(), "usage: gets DATA_DIR [flags]");
    a
}

/// splitmix64: a tiny deterministic generator (the sample must not depend on a crate).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Per family of every table file in the store: raw (uncompressed) and stored bytes, blocks.
fn print_props(dir: &str) {
    let mut files: Vec<_> = std::fs::read_dir(std::path::Path::new(dir).join("sst"))
        .expect("sst dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    for f in files {
        let Ok(r) = strata_engine::sstable::TableReader::open(&f, None) else {
            continue;
        };
        let p = r.properties();
        let fam_stored: u64 = p.families.iter().map(|f| f.stored_bytes).sum();
        println!(
            "{}: {} rows {} cells, {:.1} MB, keys+index+bloom {:.1} MB",
            f.display(),
            p.rows,
            p.cells,
            p.file_size as f64 / 1e6,
            (p.file_size - fam_stored) as f64 / 1e6
        );
        for fp in &p.families {
            println!(
                "  {:22} raw {:>7.1} MB stored {:>7.1} MB {:>5} blocks",
                fp.name,
                fp.raw_bytes as f64 / 1e6,
                fp.stored_bytes as f64 / 1e6,
                fp.blocks
            );
        }
    }
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--props") {
        print_props(
            &std::env::args()
                .nth(2)
                .expect("usage: gets --props DATA_DIR"),
        );
        return;
    }
    let args = parse_args();
    for &mib in &args.cache_mib {
        let opts = DbOptions {
            block_cache_bytes: mib << 20,
            background_threads: false,
            ..DbOptions::default()
        };
        let db = Db::open(&args.dir, opts).expect("open the store");
        for table in &args.tables {
            let t0 = Instant::now();
            let mut scanned_cells = 0usize;
            let keys: Vec<Vec<u8>> = db
                .scan(table, ScanOptions::default())
                .expect("scan")
                .map(|r| {
                    let r = r.expect("scan row");
                    scanned_cells += r.cells.len();
                    r.key
                })
                .collect();
            let scan_secs = t0.elapsed().as_secs_f64();
            println!(
                "{table:<13} whole-table scan (collecting keys): {:.2}M cells/s  load {}",
                scanned_cells as f64 / scan_secs / 1e6,
                loadavg()
            );
            assert!(!keys.is_empty(), "table {table} is empty");
            let ro = ReadOptions::default();
            let run = |n: usize, seed: u64| -> (f64, Vec<u32>, usize) {
                let per = n / args.threads;
                let t = Instant::now();
                let res: Vec<(Vec<u32>, usize)> = std::thread::scope(|s| {
                    let hs: Vec<_> = (0..args.threads)
                        .map(|ti| {
                            let (db, keys, ro) = (&db, &keys, &ro);
                            std::thread::Builder::new()
                                .name("getter".into())
                                .spawn_scoped(s, move || {
                                    let mut rng = Rng(seed ^ ((ti as u64 + 1) * 0x1234_5678));
                                    let mut lat = Vec::with_capacity(per);
                                    let mut cells = 0usize;
                                    for _ in 0..per {
                                        let k = &keys[rng.below(keys.len())];
                                        let t0 = Instant::now();
                                        let row = db.get(table, k, ro).expect("get");
                                        lat.push(
                                            t0.elapsed().as_nanos().min(u32::MAX as u128) as u32
                                        );
                                        cells += row.expect("sampled row exists").cells.len();
                                    }
                                    (lat, cells)
                                })
                                .expect("spawn")
                        })
                        .collect();
                    hs.into_iter().map(|h| h.join().expect("thread")).collect()
                });
                let secs = t.elapsed().as_secs_f64();
                let cells = res.iter().map(|r| r.1).sum();
                let lat = res.into_iter().flat_map(|r| r.0).collect();
                (secs, lat, cells)
            };
            run(args.warmup, 7);
            let before = db.describe_table(table).expect("describe").stats;
            let (secs, mut lat, cells) = run(args.gets, 99);
            let after = db.describe_table(table).expect("describe").stats;
            lat.sort_unstable();
            let p = |q: f64| {
                f64::from(lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)]) / 1000.0
            };
            let hits = after.block_cache_hits - before.block_cache_hits;
            let misses = after.block_cache_misses - before.block_cache_misses;
            println!(
                "{table:<13} cache {mib:>4} MiB threads {}: {:>8.0} gets/s  p50 {:>6.1} us  p99 {:>6.1} us  p999 {:>7.1} us  {:.1} cells/row  {} rows  hit {:.1}% ({:.1} MiB held)  load {}",
                args.threads,
                lat.len() as f64 / secs,
                p(0.5),
                p(0.99),
                p(0.999),
                cells as f64 / lat.len() as f64,
                keys.len(),
                100.0 * hits as f64 / (hits + misses).max(1) as f64,
                after.block_cache_bytes as f64 / f64::from(1 << 20),
                loadavg(),
            );
        }
    }
}
