//! SSTable tests: writer and reader against a sorted `Vec` model, order and family checks,
//! corruption and truncation detection, one-family reads, global seq. They own no state
//! outside their temp dirs and must stay small and fast (no timing assertions).

use std::collections::BTreeSet;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::cell::{CellKind, InternalCell, MARKER_TS, compare_cells};
use crate::error::Error;
use crate::fs::{self, FileSyncer, Fs, WritableFile};
use crate::options::{Compression, FamilyOptions};

fn fam(name: &str, compression: Compression, block_size: u32, bloom: bool) -> FamilyOptions {
    FamilyOptions {
        compression,
        block_size,
        bloom_filter: bloom,
        ..FamilyOptions::new(name)
    }
}

fn cell(
    row: &[u8],
    family: &str,
    kind: CellKind,
    q: &[u8],
    ts: i64,
    seq: u64,
    v: &[u8],
) -> InternalCell {
    InternalCell {
        row: Bytes::copy_from_slice(row),
        family: Arc::from(family),
        kind,
        qualifier: Bytes::copy_from_slice(q),
        ts,
        seq,
        value: Bytes::copy_from_slice(v),
    }
}

/// Random cells over `families`: every kind, empty and big values, empty qualifiers, and one
/// very wide row. Sorted and free of duplicate keys.
fn random_cells(seed: u64, rows: usize, families: &[&str]) -> Vec<InternalCell> {
    let mut rng = StdRng::seed_from_u64(seed);
    let quals: Vec<Vec<u8>> = (0..30)
        .map(|i| {
            if i == 0 {
                Vec::new()
            } else {
                format!("q{i:02}").into_bytes()
            }
        })
        .collect();
    let mut row_keys = BTreeSet::new();
    while row_keys.len() < rows {
        let len = rng.random_range(1..14);
        let k: Vec<u8> = (0..len)
            .map(|_| b"abcdx\x00\xff"[rng.random_range(0..7)])
            .collect();
        row_keys.insert(k);
    }
    let wide = row_keys.iter().nth(rows / 2).cloned();
    let mut out = Vec::new();
    let mut seq = 1u64;
    for row in &row_keys {
        let is_wide = Some(row) == wide.as_ref();
        for f in families {
            if !is_wide && rng.random_bool(0.3) {
                continue; // the row has no cell in this family
            }
            seq += 1;
            if rng.random_bool(0.05) {
                out.push(cell(
                    row,
                    f,
                    CellKind::DeleteFamily,
                    b"",
                    MARKER_TS,
                    seq,
                    b"",
                ));
            }
            let ncols = if is_wide { 600 } else { rng.random_range(1..6) };
            for c in 0..ncols {
                let q: Vec<u8> = if is_wide {
                    format!("wide{c:05}").into_bytes()
                } else {
                    quals[rng.random_range(0..quals.len())].clone()
                };
                for _ in 0..rng.random_range(1..3) {
                    seq += 1;
                    let ts = rng.random_range(-5..1_000_000i64);
                    let kind = match rng.random_range(0..20) {
                        0 => CellKind::DeleteCell,
                        1 => CellKind::DeleteColumn,
                        _ => CellKind::Put,
                    };
                    let ts = if kind == CellKind::DeleteColumn {
                        MARKER_TS
                    } else {
                        ts
                    };
                    let value: Vec<u8> = if kind != CellKind::Put || rng.random_bool(0.1) {
                        Vec::new()
                    } else if rng.random_bool(0.005) {
                        vec![rng.random::<u8>(); 70_000]
                    } else {
                        (0..rng.random_range(1..40))
                            .map(|_| rng.random_range(b'0'..b'z'))
                            .collect()
                    };
                    out.push(cell(row, f, kind, &q, ts, seq, &value));
                }
            }
        }
    }
    out.sort();
    out.dedup_by(|a, b| compare_cells(&a.as_ref(), &b.as_ref()).is_eq());
    out
}

fn build(path: &Path, families: Vec<FamilyOptions>, cells: &[InternalCell]) -> TableProperties {
    let fs = fs::real();
    let mut b = TableBuilder::new(&fs, path, TableBuildOptions { families }).unwrap();
    for c in cells {
        b.add(&c.as_ref()).unwrap();
        assert!(b.estimated_size() > 0);
    }
    b.finish().unwrap()
}

fn collect(it: TableIter) -> Vec<InternalCell> {
    it.map(|c| c.unwrap()).collect()
}

fn select<'a>(
    cells: &'a [InternalCell],
    fams: Option<&'a [Arc<str>]>,
) -> impl Iterator<Item = &'a InternalCell> + 'a {
    cells
        .iter()
        .filter(move |c| fams.is_none_or(|f| f.contains(&c.family)))
}

fn check_against_model(
    dir: &Path,
    name: &str,
    families: Vec<FamilyOptions>,
    cells: &[InternalCell],
) {
    let path = dir.join(name);
    let fam_names: Vec<Arc<str>> = families
        .iter()
        .map(|f| Arc::from(f.name.as_str()))
        .collect();
    let props = build(&path, families, cells);
    let r = TableReader::open(&path, None).unwrap();
    assert_eq!(r.properties(), &props);
    assert_eq!(props.file_size, std::fs::metadata(&path).unwrap().len());
    assert_eq!(props.cells, cells.len() as u64);
    let rows: BTreeSet<&[u8]> = cells.iter().map(|c| &c.row[..]).collect();
    assert_eq!(props.rows, rows.len() as u64);
    assert_eq!(props.smallest_row, cells[0].row.to_vec());
    assert_eq!(props.largest_row, cells[cells.len() - 1].row.to_vec());
    assert_eq!(
        props.deletes,
        cells.iter().filter(|c| c.kind != CellKind::Put).count() as u64
    );
    assert_eq!(props.max_seq, cells.iter().map(|c| c.seq).max().unwrap());
    assert_eq!(props.min_seq, cells.iter().map(|c| c.seq).min().unwrap());
    let real_ts = cells
        .iter()
        .filter(|c| !matches!(c.kind, CellKind::DeleteColumn | CellKind::DeleteFamily));
    assert_eq!(props.min_ts, real_ts.clone().map(|c| c.ts).min().unwrap());
    assert_eq!(props.max_ts, real_ts.map(|c| c.ts).max().unwrap());
    for fp in &props.families {
        let n = cells.iter().filter(|c| c.family == fp.name).count() as u64;
        assert_eq!(fp.cells, n, "cells of {}", fp.name);
        assert_eq!(fp.blocks == 0, n == 0);
    }
    r.verify_checksums().unwrap();

    // Whole file.
    assert_eq!(collect(r.iter(Bound::Unbounded, None).unwrap()), cells);

    // Family subsets, including a family the file does not know.
    let subsets: Vec<Vec<Arc<str>>> = vec![
        vec![fam_names[0].clone()],
        vec![fam_names[fam_names.len() - 1].clone(), fam_names[0].clone()],
        vec![Arc::from("nope")],
        fam_names.clone(),
    ];
    let mut rng = StdRng::seed_from_u64(7);
    let row_list: Vec<&[u8]> = rows.iter().copied().collect();
    for sel in &subsets {
        let want: Vec<InternalCell> = select(cells, Some(sel)).cloned().collect();
        assert_eq!(collect(r.iter(Bound::Unbounded, Some(sel)).unwrap()), want);
        // Start bounds on present keys, absent keys and past the end.
        for _ in 0..12 {
            let probe: Vec<u8> = if rng.random_bool(0.5) {
                row_list[rng.random_range(0..row_list.len())].to_vec()
            } else {
                let mut k = row_list[rng.random_range(0..row_list.len())].to_vec();
                k.push(rng.random());
                k
            };
            for bound in [Bound::Included(&probe[..]), Bound::Excluded(&probe[..])] {
                let want: Vec<InternalCell> = select(cells, Some(sel))
                    .filter(|c| match bound {
                        Bound::Included(k) => &c.row[..] >= k,
                        Bound::Excluded(k) => &c.row[..] > k,
                        Bound::Unbounded => true,
                    })
                    .cloned()
                    .collect();
                assert_eq!(
                    collect(r.iter(bound, Some(sel)).unwrap()),
                    want,
                    "bound {bound:?} families {sel:?}"
                );
            }
        }
        let past = [0xffu8; 20];
        assert!(collect(r.iter(Bound::Included(&past[..]), Some(sel)).unwrap()).is_empty());
    }

    // Point gets of every row, and of absent rows.
    for row in &rows {
        let want: Vec<InternalCell> = cells
            .iter()
            .filter(|c| &c.row[..] == *row)
            .cloned()
            .collect();
        assert!(r.may_contain_row(row));
        assert_eq!(r.get_row(row, None).unwrap(), want);
        let sel = &subsets[1];
        let want: Vec<InternalCell> = select(&want, Some(sel)).cloned().collect();
        assert_eq!(r.get_row(row, Some(sel)).unwrap(), want);
    }
    for row in &rows {
        let mut absent = row.to_vec();
        absent.push(b'\x01');
        if !rows.contains(&absent[..]) {
            assert!(r.get_row(&absent, None).unwrap().is_empty());
        }
    }
    assert!(r.get_row(b"", None).unwrap().is_empty());
    assert!(r.get_row(&[0xff; 30], None).unwrap().is_empty());
}

#[test]
fn round_trip_zstd_mixed_block_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["alpha", "beta", "gamma", "m"];
    let cells = random_cells(1, 300, &names);
    assert!(
        cells.iter().any(|c| c.value.len() >= 70_000),
        "no big value generated"
    );
    for k in [
        CellKind::Put,
        CellKind::DeleteCell,
        CellKind::DeleteColumn,
        CellKind::DeleteFamily,
    ] {
        assert!(cells.iter().any(|c| c.kind == k), "no {k:?} generated");
    }
    let families = vec![
        fam("gamma", Compression::Zstd(3), 4096, true),
        fam("alpha", Compression::Zstd(1), 512, false),
        fam("m", Compression::None, 1, false), // one cell per block
        fam("beta", Compression::Zstd(0), 64 * 1024, true),
    ];
    check_against_model(dir.path(), "mixed.sst", families, &cells);
    // The wide row spans several blocks of the 512-byte family.
    let r = TableReader::open(&dir.path().join("mixed.sst"), None).unwrap();
    let alpha = &r.properties().families[0];
    assert_eq!(&*alpha.name, "alpha");
    assert!(alpha.blocks > 10);
    assert!(alpha.stored_bytes < alpha.raw_bytes);
    let mut per_row: std::collections::BTreeMap<&[u8], usize> = Default::default();
    for c in &cells {
        *per_row.entry(&c.row[..]).or_default() += 1;
    }
    let wide = per_row
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(r, _)| *r)
        .unwrap();
    let sel: Vec<Arc<str>> = vec![Arc::from("alpha")];
    let before = r.blocks_read()[0].1;
    let got = r.get_row(wide, Some(&sel)).unwrap();
    assert!(got.len() >= 600);
    assert!(
        r.blocks_read()[0].1 - before >= 2,
        "wide row did not span blocks"
    );
}

#[test]
fn round_trip_uncompressed_without_bloom() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["f1", "f2"];
    let cells = random_cells(2, 150, &names);
    let families = vec![
        fam("f1", Compression::None, 2048, false),
        fam("f2", Compression::None, 300, false),
    ];
    check_against_model(dir.path(), "raw.sst", families, &cells);
    let r = TableReader::open(&dir.path().join("raw.sst"), None).unwrap();
    assert!(
        r.may_contain_row(b"definitely not there"),
        "no bloom: always true"
    );
}

#[test]
fn out_of_order_duplicate_and_unknown_family_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let fs = fs::real();
    let path = dir.path().join("bad.sst");
    let opts = TableBuildOptions {
        families: vec![FamilyOptions::new("f"), FamilyOptions::new("g")],
    };
    let mut b = TableBuilder::new(&fs, &path, opts).unwrap();
    let c1 = cell(b"row2", "f", CellKind::Put, b"q", 5, 1, b"v");
    b.add(&c1.as_ref()).unwrap();
    let earlier = cell(b"row1", "f", CellKind::Put, b"q", 5, 1, b"v");
    match b.add(&earlier.as_ref()) {
        Err(Error::InvalidArgument(m)) => {
            assert!(m.contains("row1") && m.contains("row2"), "{m}");
        }
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
    // Same key again (not strictly increasing).
    assert!(matches!(
        b.add(&c1.as_ref()),
        Err(Error::InvalidArgument(_))
    ));
    // Older version of the same column is fine; a newer one is not.
    let older = cell(b"row2", "f", CellKind::Put, b"q", 4, 1, b"v");
    b.add(&older.as_ref()).unwrap();
    let newer = cell(b"row2", "f", CellKind::Put, b"q", 9, 1, b"v");
    assert!(matches!(
        b.add(&newer.as_ref()),
        Err(Error::InvalidArgument(_))
    ));
    // A family marker must come before the family's columns.
    let marker = cell(b"row2", "f", CellKind::DeleteFamily, b"", MARKER_TS, 3, b"");
    assert!(matches!(
        b.add(&marker.as_ref()),
        Err(Error::InvalidArgument(_))
    ));
    let unknown = cell(b"row3", "zzz", CellKind::Put, b"q", 5, 1, b"v");
    match b.add(&unknown.as_ref()) {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("zzz"), "{m}"),
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
    // Rejected cells left no trace.
    b.add(&cell(b"row3", "g", CellKind::Put, b"", 1, 1, b"x").as_ref())
        .unwrap();
    let props = b.finish().unwrap();
    assert_eq!((props.rows, props.cells), (2, 3));
    let r = TableReader::open(&path, None).unwrap();
    assert_eq!(collect(r.iter(Bound::Unbounded, None).unwrap()).len(), 3);
}

#[test]
fn duplicate_family_options_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let opts = TableBuildOptions {
        families: vec![FamilyOptions::new("f"), FamilyOptions::new("f")],
    };
    let r = TableBuilder::new(&fs::real(), &dir.path().join("x.sst"), opts);
    assert!(matches!(r, Err(Error::InvalidArgument(_))));
}

fn small_table(dir: &Path, compression: Compression) -> (PathBuf, Vec<InternalCell>) {
    let path = dir.join(format!("small-{compression:?}.sst"));
    let cells = random_cells(3, 120, &["a", "b", "c"]);
    let families = ["a", "b", "c"]
        .iter()
        .map(|n| fam(n, compression, 1024, true))
        .collect();
    build(&path, families, &cells);
    (path, cells)
}

fn assert_corruption_at(e: &Error, path: &Path, offset: u64) {
    match e {
        Error::Corruption {
            path: p, offset: o, ..
        } => {
            assert_eq!(p, path);
            assert_eq!(*o, offset, "{e}");
            assert!(e.to_string().contains(&path.display().to_string()));
        }
        other => panic!("expected Corruption, got {other:?}"),
    }
}

#[test]
fn flipped_byte_in_a_data_block_is_corruption_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for compression in [Compression::None, Compression::Zstd(3)] {
        let (path, cells) = small_table(dir.path(), compression);
        let r = TableReader::open(&path, None).unwrap();
        // Damage the middle of family "b"'s second block.
        let h = r.family_block_handle(1, 1);
        let original = std::fs::read(&path).unwrap();
        let mut bytes = original.clone();
        bytes[(h.offset + h.size / 2) as usize] ^= 0x40;
        drop(r);
        std::fs::write(&path, &bytes).unwrap();

        let r = TableReader::open(&path, None).unwrap(); // meta is intact
        let e = r.verify_checksums().unwrap_err();
        assert_corruption_at(&e, &path, h.offset);
        // Iteration reaches the block and fails; it never yields wrong data.
        let got: Vec<_> = r.iter(Bound::Unbounded, None).unwrap().collect();
        let err_at = got
            .iter()
            .position(|c| c.is_err())
            .expect("no error from iter");
        assert_eq!(err_at, got.len() - 1, "iteration goes on after an error");
        for (g, w) in got[..err_at].iter().zip(&cells) {
            assert_eq!(g.as_ref().unwrap(), w);
        }
        assert_corruption_at(got[err_at].as_ref().unwrap_err(), &path, h.offset);
        // Only family "a" stays readable.
        let a: Vec<Arc<str>> = vec![Arc::from("a")];
        let want: Vec<_> = cells
            .iter()
            .filter(|c| &*c.family == "a")
            .cloned()
            .collect();
        assert_eq!(collect(r.iter(Bound::Unbounded, Some(&a)).unwrap()), want);
        std::fs::write(&path, &original).unwrap();
    }
}

#[test]
fn truncated_file_bad_magic_and_bad_meta_fail_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = small_table(dir.path(), Compression::Zstd(3));
    let original = std::fs::read(&path).unwrap();
    let len = original.len() as u64;

    for cut in [1u64, 9, 33, len / 2, len - 10, len] {
        std::fs::write(&path, &original[..(len - cut) as usize]).unwrap();
        let e = TableReader::open(&path, None).unwrap_err();
        assert!(matches!(e, Error::Corruption { .. }), "cut {cut}: {e:?}");
        assert!(e.to_string().contains(&path.display().to_string()));
    }

    let mut bad = original.clone();
    bad[original.len() - 1] ^= 1;
    std::fs::write(&path, &bad).unwrap();
    let e = TableReader::open(&path, None).unwrap_err();
    assert_corruption_at(&e, &path, len - 32);
    assert!(e.to_string().contains("magic"), "{e}");

    // Footer checksum.
    let mut bad = original.clone();
    bad[original.len() - 20] ^= 1;
    std::fs::write(&path, &bad).unwrap();
    assert!(
        TableReader::open(&path, None)
            .unwrap_err()
            .to_string()
            .contains("checksum")
    );

    // A byte inside the meta block.
    std::fs::write(&path, &original).unwrap();
    let meta = TableReader::open(&path, None).unwrap().meta_block_handle();
    let mut bad = original.clone();
    bad[(meta.offset + 1) as usize] ^= 0x10;
    std::fs::write(&path, &bad).unwrap();
    let e = TableReader::open(&path, None).unwrap_err();
    assert_corruption_at(&e, &path, meta.offset);

    // A missing file is an I/O error, not corruption.
    let e = TableReader::open(&dir.path().join("missing.sst"), None).unwrap_err();
    assert!(matches!(e, Error::Io { .. }));
}

#[test]
fn one_family_iteration_reads_only_that_familys_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let (path, cells) = small_table(dir.path(), Compression::Zstd(3));
    let r = TableReader::open(&path, None).unwrap();
    let b: Vec<Arc<str>> = vec![Arc::from("b")];
    let got = collect(r.iter(Bound::Unbounded, Some(&b)).unwrap());
    assert_eq!(
        got.len(),
        cells.iter().filter(|c| &*c.family == "b").count()
    );
    let read = r.blocks_read();
    let blocks_b = r.properties().families[1].blocks;
    assert!(blocks_b > 1);
    assert_eq!(
        read,
        vec![
            (Arc::from("a"), 0),
            (Arc::from("b"), blocks_b),
            (Arc::from("c"), 0)
        ]
    );
    // A point get of one family touches one block of it (rows here are small).
    let row = got[got.len() / 2].row.clone();
    let before = r.blocks_read();
    let cells_b = r.get_row(&row, Some(&b)).unwrap();
    assert!(!cells_b.is_empty());
    let after = r.blocks_read();
    assert_eq!(after[0].1, before[0].1);
    assert_eq!(after[2].1, before[2].1);
    assert!(after[1].1 - before[1].1 >= 1);
    assert!(r.key_blocks_read() > 0);
}

#[test]
fn global_seq_overrides_every_cell() {
    let dir = tempfile::tempdir().unwrap();
    let (path, cells) = small_table(dir.path(), Compression::None);
    let r = TableReader::open(&path, Some(77)).unwrap();
    let got = collect(r.iter(Bound::Unbounded, None).unwrap());
    assert_eq!(got.len(), cells.len());
    assert!(got.iter().all(|c| c.seq == 77));
    assert!(cells.iter().any(|c| c.seq != 77));
    let row = &cells[0].row;
    let g = r.get_row(row, None).unwrap();
    assert!(!g.is_empty() && g.iter().all(|c| c.seq == 77));
    // The stored file is unchanged: without override, seqs are the written ones.
    let r = TableReader::open(&path, None).unwrap();
    assert_eq!(collect(r.iter(Bound::Unbounded, None).unwrap()), cells);
}

#[test]
fn empty_table_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.sst");
    let props = build(&path, vec![FamilyOptions::new("f")], &[]);
    assert_eq!((props.rows, props.cells), (0, 0));
    let r = TableReader::open(&path, None).unwrap();
    assert_eq!(r.properties(), &props);
    assert!(collect(r.iter(Bound::Unbounded, None).unwrap()).is_empty());
    assert!(r.get_row(b"x", None).unwrap().is_empty());
    assert!(!r.may_contain_row(b"x"));
    r.verify_checksums().unwrap();
}

#[test]
fn bloom_in_table_has_no_false_negatives_and_few_false_positives() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bloom.sst");
    let cells: Vec<InternalCell> = (0..10_000)
        .map(|i| {
            cell(
                format!("k{i:06}").as_bytes(),
                "f",
                CellKind::Put,
                b"q",
                1,
                1,
                b"",
            )
        })
        .collect();
    build(&path, vec![FamilyOptions::new("f")], &cells);
    let r = TableReader::open(&path, None).unwrap();
    assert!(cells.iter().all(|c| r.may_contain_row(&c.row)));
    let fp = (10_000..20_000)
        .filter(|i| r.may_contain_row(format!("k{i:06}").as_bytes()))
        .count();
    assert!(fp < 200, "{fp} false positives of 10000");
}

#[test]
fn abandon_removes_the_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("partial.sst");
    let mut b = TableBuilder::new(
        &fs::real(),
        &path,
        TableBuildOptions {
            families: vec![fam("f", Compression::None, 1, false)],
        },
    )
    .unwrap();
    for i in 0..10 {
        let c = cell(
            format!("r{i}").as_bytes(),
            "f",
            CellKind::Put,
            b"q",
            1,
            1,
            b"v",
        );
        b.add(&c.as_ref()).unwrap();
    }
    assert!(path.exists());
    assert!(b.estimated_size() > 0);
    b.abandon().unwrap();
    assert!(!path.exists());
}

/// Counts `sync` calls on files it creates.
#[derive(Debug)]
struct CountingFs {
    syncs: Arc<AtomicU64>,
}

#[derive(Debug)]
struct CountingFile {
    inner: Box<dyn WritableFile>,
    syncs: Arc<AtomicU64>,
}

impl WritableFile for CountingFile {
    fn append(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.inner.append(buf)
    }
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn sync(&mut self) -> std::io::Result<()> {
        self.syncs.fetch_add(1, Ordering::SeqCst);
        self.inner.sync()
    }
    fn syncer(&self) -> std::io::Result<Arc<dyn FileSyncer>> {
        self.inner.syncer()
    }
}

impl Fs for CountingFs {
    fn create(&self, path: &Path) -> std::io::Result<Box<dyn WritableFile>> {
        Ok(Box::new(CountingFile {
            inner: fs::RealFs.create(path)?,
            syncs: self.syncs.clone(),
        }))
    }
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        fs::RealFs.read(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        fs::RealFs.rename(from, to)
    }
    fn remove(&self, path: &Path) -> std::io::Result<()> {
        fs::RealFs.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        fs::RealFs.sync_dir(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        fs::RealFs.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        fs::RealFs.list(dir)
    }
    fn exists(&self, path: &Path) -> bool {
        fs::RealFs.exists(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> std::io::Result<()> {
        fs::RealFs.truncate(path, len)
    }
    fn hard_link(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        fs::RealFs.hard_link(from, to)
    }
    fn copy_and_sync(&self, from: &Path, to: &Path) -> std::io::Result<u64> {
        fs::RealFs.copy_and_sync(from, to)
    }
}

#[test]
fn finish_fsyncs_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let syncs = Arc::new(AtomicU64::new(0));
    let fs: Arc<dyn Fs> = Arc::new(CountingFs {
        syncs: syncs.clone(),
    });
    let path = dir.path().join("synced.sst");
    let mut b = TableBuilder::new(
        &fs,
        &path,
        TableBuildOptions {
            families: vec![FamilyOptions::new("f")],
        },
    )
    .unwrap();
    b.add(&cell(b"r", "f", CellKind::Put, b"q", 1, 1, b"v").as_ref())
        .unwrap();
    assert_eq!(syncs.load(Ordering::SeqCst), 0);
    b.finish().unwrap();
    assert_eq!(syncs.load(Ordering::SeqCst), 1);
}

#[test]
fn reader_and_iterator_can_move_between_threads() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<TableIter>();
    send::<TableReader>();
    sync::<TableReader>();
    send::<TableBuilder>();
}

#[test]
fn cached_reads_match_uncached_and_hit_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (path, cells) = small_table(dir.path(), Compression::Zstd(3));
    let cache = crate::cache::BlockCache::new(64 << 20);
    let plain = TableReader::open(&path, None).unwrap();
    let r = TableReader::open_with_cache(&path, None, Some(cache.clone())).unwrap();
    let rows: Vec<Bytes> = cells
        .iter()
        .map(|c| c.row.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for round in 0..2 {
        for row in &rows {
            assert_eq!(
                r.get_row(row, None).unwrap(),
                plain.get_row(row, None).unwrap()
            );
        }
        let s = r.read_stats();
        if round == 0 {
            assert!(s.cache_misses > 0);
        } else {
            // Second round: every block came from the cache.
            assert_eq!(s.cache_misses, cache.stats().inserts);
            assert!(s.cache_hits >= rows.len() as u64);
        }
    }
    let decoded_before: u64 = r.blocks_read().iter().map(|b| b.1).sum();
    for row in &rows {
        r.get_row(row, None).unwrap();
    }
    let decoded_after: u64 = r.blocks_read().iter().map(|b| b.1).sum();
    assert_eq!(decoded_before, decoded_after, "cached gets decoded blocks");
    assert!(cache.stats().bytes > 0 && cache.stats().entries > 0);
    // Iteration through the cached reader sees the same cells.
    assert_eq!(collect(r.iter(Bound::Unbounded, None).unwrap()), cells);
    // Bloom counters: a present row passes, absent rows are mostly ruled out.
    let before = r.read_stats();
    for i in 0..200 {
        r.get_row(format!("absent-{i}").as_bytes(), None).unwrap();
    }
    let after = r.read_stats();
    assert_eq!(after.bloom_checked - before.bloom_checked, 200);
    assert!(after.bloom_useful - before.bloom_useful >= 150, "{after:?}");
    assert!(after.bloom_useful <= after.bloom_checked);
    // Closing the reader (last clone) drops its blocks from the cache.
    drop(r);
    assert_eq!(cache.stats().entries, 0);
    assert_eq!(cache.stats().bytes, 0);
}

#[test]
fn whole_table_scan_fills_the_cache_with_only_its_first_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let (path, cells) = small_table(dir.path(), Compression::Zstd(3));
    let cache = crate::cache::BlockCache::new(64 << 20);
    let r = TableReader::open_with_cache(&path, None, Some(cache.clone())).unwrap();
    assert_eq!(collect(r.iter(Bound::Unbounded, None).unwrap()), cells);
    let total_blocks: u64 = r.properties().families.iter().map(|f| f.blocks).sum();
    let families = r.properties().families.len() as u64;
    let inserted = cache.stats().inserts;
    assert!(total_blocks > 3 * families * u64::from(super::reader::SCAN_FILL_BLOCKS));
    assert!(inserted <= (families + 1) * u64::from(super::reader::SCAN_FILL_BLOCKS) + 1);
    assert!(inserted > 0);
}

#[test]
fn verify_checksums_reads_the_file_not_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (path, cells) = small_table(dir.path(), Compression::None);
    let cache = crate::cache::BlockCache::new(64 << 20);
    let r = TableReader::open_with_cache(&path, None, Some(cache.clone())).unwrap();
    r.get_row(&cells[0].row, None).unwrap();
    let hits = r.read_stats().cache_hits;
    let decoded: u64 = r.blocks_read().iter().map(|b| b.1).sum();
    r.verify_checksums().unwrap();
    assert_eq!(r.read_stats().cache_hits, hits);
    let total_blocks: u64 = r.properties().families.iter().map(|f| f.blocks).sum();
    assert_eq!(
        r.blocks_read().iter().map(|b| b.1).sum::<u64>(),
        decoded + total_blocks
    );
}
