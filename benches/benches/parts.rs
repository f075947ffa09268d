//! Micro-benchmarks of the engine's parts: WAL append (+ fsync or not), memtable insert,
//! SSTable build and full read (block decode) per block size and compression, and the merge
//! of three overlapping sources. Figures: docs/benchmarks.md.
//!
//! Run: `cargo bench -p strata-benches --bench parts`

use std::hint::black_box;
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
// Links the benches' library and with it mimalloc, the `strata` binary's allocator.
use strata_benches as _;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use strata_engine::fs::{self, Fs};
use strata_engine::sstable::{TableBuildOptions, TableBuilder, TableReader};
use strata_engine::testing::{CellSource, LogWriter, MemTable, MergeIter, RowCells};
use strata_engine::{CellKind, Compression, FamilyOptions, InternalCell};

const CELLS: u64 = 100_000;

/// Sorted synthetic cells: 10 columns per row, 20-40 byte values.
fn cells() -> Vec<InternalCell> {
    let family: Arc<str> = Arc::from("f");
    let mut v = Vec::with_capacity(CELLS as usize);
    for i in 0..CELLS / 10 {
        let row = Bytes::from(format!("row-{i:010}"));
        for q in 0..10u64 {
            v.push(InternalCell {
                row: row.clone(),
                family: family.clone(),
                kind: CellKind::Put,
                qualifier: Bytes::from(format!("column_{q}")),
                ts: 1_700_000_000_000_000,
                seq: i * 10 + q + 1,
                value: Bytes::from(format!(
                    "value {} {}",
                    i * 7919 % 100_003,
                    "x".repeat((q * 2) as usize)
                )),
            });
        }
    }
    v
}

fn wal_append(c: &mut Criterion) {
    let fs: Arc<dyn Fs> = fs::real();
    let payload = vec![7u8; 4096];
    let mut g = c.benchmark_group("wal_append_4KiB");
    g.throughput(Throughput::Bytes(payload.len() as u64));
    for sync in [false, true] {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e:?}"));
        let mut w =
            LogWriter::create(&fs, dir.path(), 1).unwrap_or_else(|e| panic!("create: {e:?}"));
        g.bench_function(if sync { "with_fdatasync" } else { "no_sync" }, |b| {
            b.iter(|| {
                w.append(&payload)
                    .unwrap_or_else(|e| panic!("append: {e:?}"));
                if sync {
                    w.sync().unwrap_or_else(|e| panic!("sync: {e:?}"));
                }
            })
        });
    }
    g.finish();
}

fn memtable_insert(c: &mut Criterion) {
    let data = cells();
    let mut g = c.benchmark_group("memtable");
    g.throughput(Throughput::Elements(CELLS));
    g.sample_size(10);
    g.bench_function("insert_100k_cells", |b| {
        b.iter_batched(
            || data.clone(),
            |cells| {
                let m = MemTable::new();
                for c in cells {
                    m.insert(c);
                }
                black_box(m.is_empty())
            },
            BatchSize::LargeInput,
        )
    });
    // The same cells as one entry per row (10 cells), as the write path inserts them.
    let rows: Vec<RowCells> = data
        .chunk_by(|a, b| a.row == b.row)
        .map(|cells| RowCells {
            row: cells[0].row.clone(),
            cells: cells
                .iter()
                .map(|c| {
                    (
                        c.kind,
                        c.family.clone(),
                        c.qualifier.clone(),
                        c.ts,
                        c.value.clone(),
                    )
                })
                .collect(),
        })
        .collect();
    g.bench_function("insert_100k_cells_as_rows", |b| {
        b.iter_batched(
            || rows.clone(),
            |rows| {
                let m = MemTable::new();
                let mut seq = 1;
                for r in rows {
                    let n = r.cells.len() as u64;
                    m.insert_row(r, seq);
                    seq += n;
                }
                black_box(m.is_empty())
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn sstable(c: &mut Criterion) {
    let data = cells();
    let raw: u64 = data
        .iter()
        .map(|c| (c.row.len() + c.qualifier.len() + c.value.len()) as u64)
        .sum();
    let fs: Arc<dyn Fs> = fs::real();
    let mut g = c.benchmark_group("sstable");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(raw));
    for (name, block_size, compression) in [
        ("4KiB_zstd3", 4096, Compression::Zstd(3)),
        ("16KiB_zstd3", 16384, Compression::Zstd(3)),
        ("64KiB_zstd1", 65536, Compression::Zstd(1)),
        ("64KiB_zstd3", 65536, Compression::Zstd(3)),
        ("64KiB_none", 65536, Compression::None),
    ] {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e:?}"));
        let path = dir.path().join("t.sst");
        let opts = TableBuildOptions {
            families: vec![FamilyOptions {
                block_size,
                compression,
                ..FamilyOptions::new("f")
            }],
        };
        let build = || {
            let mut t = TableBuilder::new(&fs, &path, opts.clone())
                .unwrap_or_else(|e| panic!("builder: {e:?}"));
            for c in &data {
                t.add(&c.as_ref()).unwrap_or_else(|e| panic!("add: {e:?}"));
            }
            t.finish()
                .unwrap_or_else(|e| panic!("finish: {e:?}"))
                .file_size
        };
        g.bench_function(format!("build_{name}"), |b| b.iter(|| black_box(build())));
        // The read bench needs the file even when a filter skipped the build bench.
        build();
        let reader = TableReader::open(&path, None).unwrap_or_else(|e| panic!("open: {e:?}"));
        g.bench_function(format!("read_all_{name}"), |b| {
            b.iter(|| {
                let n = reader
                    .iter(Bound::Unbounded, None)
                    .unwrap_or_else(|e| panic!("iter: {e:?}"))
                    .map(|c| c.unwrap_or_else(|e| panic!("cell: {e:?}")).value.len())
                    .sum::<usize>();
                black_box(n)
            })
        });
    }
    g.finish();
}

/// Three overlapping sources (every row and column in each, as three flushes of the same
/// keys leave them) through `MergeIter`. Throughput: input entries.
fn merge(c: &mut Criterion) {
    let base = cells();
    let sources: Vec<Vec<InternalCell>> = (0..3u64)
        .map(|pass| {
            // One key buffer per row and source, as a table iterator hands them out.
            let family: Arc<str> = Arc::from("f");
            let mut row = Bytes::new();
            base.iter()
                .map(|c| {
                    if row != c.row {
                        row = Bytes::copy_from_slice(&c.row);
                    }
                    InternalCell {
                        row: row.clone(),
                        family: family.clone(),
                        seq: c.seq * 3 + pass,
                        ..c.clone()
                    }
                })
                .collect()
        })
        .collect();
    let boxed = || -> Vec<CellSource> {
        sources
            .iter()
            .map(|s| Box::new(s.clone().into_iter().map(Ok)) as CellSource)
            .collect()
    };
    let mut g = c.benchmark_group("merge_3_overlapping");
    g.throughput(Throughput::Elements(3 * CELLS));
    g.sample_size(10);
    g.bench_function("merge_iter", |b| {
        b.iter_batched(
            boxed,
            |s| {
                black_box(
                    MergeIter::new(s)
                        .map(|c| c.map_or(0, |c| c.seq))
                        .sum::<u64>(),
                )
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, wal_append, memtable_insert, sstable, merge);
criterion_main!(benches);
