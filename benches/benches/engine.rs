//! Engine benchmarks: batched writes per sync mode (synthetic rows, and the clickstream CSV
//! parsed by the loader as `compare` writes it), concurrent small writes, point gets (hit,
//! miss), scans of whole rows and of one family, and a major compaction of four files.
//! Figures and commands:
//! docs/benchmarks.md.
//!
//! Run: `cargo bench -p strata-benches --bench engine`

use std::hint::black_box;
use std::ops::Bound;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use strata_benches::{cells_per_row, load_rows, open_store, row, row_key};
use strata_engine::{ColumnSelector, ReadOptions, RowMutation, ScanOptions, SyncMode};
use strata_loader::{MappedCsv, builtin_csv_file, builtin_mapping, generate};

const BATCH_ROWS: u64 = 1000;
const READ_ROWS: u64 = 200_000;

fn writes(c: &mut Criterion) {
    let mut g = c.benchmark_group("write_batch_1000_rows");
    g.throughput(Throughput::Elements(BATCH_ROWS * cells_per_row() as u64));
    g.sample_size(20);
    for (name, mode) in [
        ("none", SyncMode::None),
        ("group", SyncMode::Group),
        ("always", SyncMode::Always),
    ] {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e:?}"));
        let db = open_store(dir.path(), mode);
        let mut rng = StdRng::seed_from_u64(7);
        let mut next = 0u64;
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let batch: Vec<RowMutation> = (next..next + BATCH_ROWS)
                        .map(|k| row(k, &mut rng))
                        .collect();
                    next += BATCH_ROWS;
                    batch
                },
                |batch| {
                    db.mutate_rows("t", batch)
                        .unwrap_or_else(|e| panic!("write: {e:?}"))
                },
                criterion::BatchSize::LargeInput,
            )
        });
        db.close().unwrap_or_else(|e| panic!("close: {e:?}"));
    }
    g.finish();
}

/// The clickstream CSV of `strata gen --scale 0.01` (128,000 rows of 6 cells, keys in file
/// order, i.e. random across sessions) parsed by the loader and written 1,000 rows per call,
/// parsing included: what `compare`'s batched-writes rows measure. One iteration is the whole
/// file into a store that keeps every earlier iteration (flushes and compactions run in the
/// background meanwhile, as in `compare`).
fn csv_writes(c: &mut Criterion) {
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e:?}"));
    generate(data.path(), 0.01, 42).unwrap_or_else(|e| panic!("gen: {e:?}"));
    let csv = data
        .path()
        .join(builtin_csv_file("clickstream").unwrap_or_else(|| panic!("csv name")));
    let mapping = builtin_mapping("clickstream").unwrap_or_else(|| panic!("mapping"));
    let cells: u64 = MappedCsv::open(&csv, &mapping)
        .unwrap_or_else(|e| panic!("open csv: {e:?}"))
        .batches(1000)
        .map(|b| {
            b.unwrap_or_else(|e| panic!("parse: {e:?}"))
                .rows
                .iter()
                .map(|r| r.mutations.len() as u64)
                .sum::<u64>()
        })
        .sum();
    let mut g = c.benchmark_group("write_clickstream_csv_1000_rows");
    g.throughput(Throughput::Elements(cells));
    g.sample_size(10);
    for (name, mode) in [
        ("none", SyncMode::None),
        ("group", SyncMode::Group),
        ("always", SyncMode::Always),
    ] {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e:?}"));
        let db = strata_engine::Db::open(
            dir.path(),
            strata_engine::DbOptions {
                sync_mode: mode,
                block_cache_bytes: 32 << 20,
                ..strata_engine::DbOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("open store: {e:?}"));
        db.create_table(
            "clickstream",
            mapping
                .families
                .iter()
                .map(strata_engine::FamilyOptions::new)
                .collect(),
        )
        .unwrap_or_else(|e| panic!("create table: {e:?}"));
        g.bench_function(name, |b| {
            b.iter(|| {
                let batches = MappedCsv::open(&csv, &mapping)
                    .unwrap_or_else(|e| panic!("open csv: {e:?}"))
                    .batches(1000);
                for batch in batches {
                    let rows = batch.unwrap_or_else(|e| panic!("parse: {e:?}")).rows;
                    db.mutate_rows("clickstream", rows)
                        .unwrap_or_else(|e| panic!("write: {e:?}"));
                }
            })
        });
        db.close().unwrap_or_else(|e| panic!("close: {e:?}"));
    }
    g.finish();
}

/// Writers of small batches at once, group commit: what sharing fsyncs and the write path's
/// locks give. Four threads write 10-row batches, two to table `t` and two to table `u`; an
/// iteration is one batch from each thread.
fn concurrent_writes(c: &mut Criterion) {
    const WRITERS: u64 = 4;
    const ROWS: u64 = 10;
    let mut g = c.benchmark_group("write_concurrent_4_writers_10_rows");
    g.throughput(Throughput::Elements(
        WRITERS * ROWS * cells_per_row() as u64,
    ));
    g.sample_size(20);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e:?}"));
    let db = open_store(dir.path(), SyncMode::Group);
    db.create_table("u", strata_benches::families())
        .unwrap_or_else(|e| panic!("create table: {e:?}"));
    let next = std::sync::atomic::AtomicU64::new(0);
    g.bench_function("group", |b| {
        b.iter_custom(|iters| {
            let start = std::time::Instant::now();
            std::thread::scope(|s| {
                for w in 0..WRITERS {
                    let (db, next) = (&db, &next);
                    s.spawn(move || {
                        let table = if w % 2 == 0 { "t" } else { "u" };
                        let mut rng = StdRng::seed_from_u64(w);
                        for _ in 0..iters {
                            let first = next.fetch_add(ROWS, std::sync::atomic::Ordering::Relaxed);
                            let batch: Vec<RowMutation> =
                                (first..first + ROWS).map(|k| row(k, &mut rng)).collect();
                            db.mutate_rows(table, batch)
                                .unwrap_or_else(|e| panic!("write: {e:?}"));
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    g.finish();
    db.close().unwrap_or_else(|e| panic!("close: {e:?}"));
}

/// Durable batched writes (group commit) of 1,000 rows per call from one writer and from four
/// at once into the same table, each writer building its rows as a client would: the issue
/// asks four writers for >= 1.6x one writer's cells/s.
fn writers_scaling(c: &mut Criterion) {
    let mut g = c.benchmark_group("write_1000_rows_group_writers");
    g.sample_size(10);
    for writers in [1u64, 4] {
        g.throughput(Throughput::Elements(
            writers * BATCH_ROWS * cells_per_row() as u64,
        ));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e:?}"));
        let db = open_store(dir.path(), SyncMode::Group);
        let next = std::sync::atomic::AtomicU64::new(0);
        g.bench_function(format!("{writers}_writers"), |b| {
            b.iter_custom(|iters| {
                let start = std::time::Instant::now();
                std::thread::scope(|s| {
                    for w in 0..writers {
                        let (db, next) = (&db, &next);
                        s.spawn(move || {
                            let mut rng = StdRng::seed_from_u64(w);
                            for _ in 0..iters {
                                let first = next
                                    .fetch_add(BATCH_ROWS, std::sync::atomic::Ordering::Relaxed);
                                let batch: Vec<RowMutation> = (first..first + BATCH_ROWS)
                                    .map(|k| row(k, &mut rng))
                                    .collect();
                                db.mutate_rows("t", batch)
                                    .unwrap_or_else(|e| panic!("write: {e:?}"));
                            }
                        });
                    }
                });
                start.elapsed()
            })
        });
        db.close().unwrap_or_else(|e| panic!("close: {e:?}"));
    }
    g.finish();
}

/// Point gets and scans on one store: first as it is after loading (several overlapping
/// files from flushes, the shape before compaction), then after a major compaction; gets
/// with the block cache warm and with no cache at all.
fn reads(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e:?}"));
    let db = open_store(dir.path(), SyncMode::None);
    // Three overlapping passes over the key space: several files, as flushes and background
    // compaction leave them.
    for pass in 0..3 {
        load_rows(&db, READ_ROWS, 11 + pass);
    }
    read_group(c, &db, "before_compaction");
    db.compact("t", true)
        .unwrap_or_else(|e| panic!("compact: {e:?}"));
    read_group(c, &db, "after_compaction");
    db.close().unwrap_or_else(|e| panic!("close: {e:?}"));
    drop(db);
    let cold = strata_benches::open_store_with(dir.path(), SyncMode::None, 0);
    let mut g = c.benchmark_group("get_no_block_cache");
    g.throughput(Throughput::Elements(1));
    let mut rng = StdRng::seed_from_u64(5);
    let opts = ReadOptions::default();
    g.bench_function("hit_whole_row", |b| {
        b.iter(|| {
            let k = row_key(rng.random_range(0..READ_ROWS));
            black_box(
                cold.get("t", &k, &opts)
                    .unwrap_or_else(|e| panic!("get: {e:?}"))
                    .unwrap_or_else(|| panic!("found")),
            )
        })
    });
    g.finish();
}

fn read_group(c: &mut Criterion, db: &strata_engine::Db, name: &str) {
    let opts = ReadOptions::default();
    let mut g = c.benchmark_group(format!("get_{name}"));
    g.throughput(Throughput::Elements(1));
    let mut rng = StdRng::seed_from_u64(3);
    g.bench_function("hit_whole_row", |b| {
        b.iter(|| {
            let k = row_key(rng.random_range(0..READ_ROWS));
            black_box(
                db.get("t", &k, &opts)
                    .unwrap_or_else(|e| panic!("get: {e:?}"))
                    .unwrap_or_else(|| panic!("found")),
            )
        })
    });
    g.bench_function("miss", |b| {
        b.iter(|| {
            let k = row_key(READ_ROWS + rng.random_range(0..READ_ROWS));
            black_box(
                db.get("t", &k, &opts)
                    .unwrap_or_else(|e| panic!("get: {e:?}")),
            )
        })
    });
    g.finish();

    let mut g = c.benchmark_group(format!("scan_{name}"));
    g.sample_size(10);
    g.throughput(Throughput::Elements(READ_ROWS * cells_per_row() as u64));
    g.bench_function("whole_table_cells", |b| {
        b.iter(|| {
            let n: usize = db
                .scan("t", ScanOptions::default())
                .unwrap_or_else(|e| panic!("scan: {e:?}"))
                .map(|r| r.unwrap_or_else(|e| panic!("row: {e:?}")).cells.len())
                .sum();
            black_box(n)
        })
    });
    // The same rows lent (`next_borrowed`): no reference count or copy per cell.
    g.bench_function("whole_table_cells_lent", |b| {
        b.iter(|| {
            let mut scan = db
                .scan("t", ScanOptions::default())
                .unwrap_or_else(|e| panic!("scan: {e:?}"));
            let mut n = 0usize;
            while let Some(r) = scan.next_borrowed(|_, cells| {
                cells.iter().map(|c| c.value.len()).sum::<usize>() + cells.len()
            }) {
                n += r.unwrap_or_else(|e| panic!("row: {e:?}"));
            }
            black_box(n)
        })
    });
    g.throughput(Throughput::Elements(READ_ROWS * 4));
    g.bench_function("one_family_payment_info_cells", |b| {
        b.iter(|| {
            let opts = ScanOptions {
                start: Bound::Unbounded,
                read: ReadOptions {
                    columns: vec![ColumnSelector {
                        family: "payment_info".into(),
                        qualifier: None,
                    }],
                    ..ReadOptions::default()
                },
                ..ScanOptions::default()
            };
            let n: usize = db
                .scan("t", opts)
                .unwrap_or_else(|e| panic!("scan: {e:?}"))
                .map(|r| r.unwrap_or_else(|e| panic!("row: {e:?}")).cells.len())
                .sum();
            black_box(n)
        })
    });
    g.finish();
}

/// A major compaction of four flushed files that overlap in key range, their rows either
/// all distinct (each row written once, as a stream of new events leaves them) or the same
/// rows written four times (each column four versions).
fn compaction(c: &mut Criterion) {
    const ROWS: u64 = 20_000;
    let mut g = c.benchmark_group("compaction_4_files");
    g.sample_size(10);
    g.throughput(Throughput::Elements(4 * ROWS * cells_per_row() as u64));
    for (name, distinct) in [("distinct_rows", true), ("same_rows", false)] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e:?}"));
                    let db = strata_engine::Db::open(
                        dir.path(),
                        strata_engine::DbOptions {
                            sync_mode: SyncMode::None,
                            background_threads: false,
                            ..strata_engine::DbOptions::default()
                        },
                    )
                    .unwrap_or_else(|e| panic!("open store: {e:?}"));
                    db.create_table("t", strata_benches::families())
                        .unwrap_or_else(|e| panic!("create table: {e:?}"));
                    let mut rng = StdRng::seed_from_u64(5);
                    for pass in 0..4 {
                        let rows: Vec<RowMutation> = (0..ROWS)
                            .map(|i| row(if distinct { i * 4 + pass } else { i }, &mut rng))
                            .collect();
                        for batch in rows.chunks(1000) {
                            db.mutate_rows("t", batch.to_vec())
                                .unwrap_or_else(|e| panic!("write: {e:?}"));
                        }
                        db.flush("t").unwrap_or_else(|e| panic!("flush: {e:?}"));
                    }
                    (dir, db)
                },
                |(dir, db)| {
                    db.compact("t", true)
                        .unwrap_or_else(|e| panic!("compact: {e:?}"));
                    (dir, db)
                },
                criterion::BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    compaction,
    writes,
    csv_writes,
    concurrent_writes,
    writers_scaling,
    reads
);
criterion_main!(benches);
