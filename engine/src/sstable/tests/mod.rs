//! SSTable tests, one file per concern: `round_trip.rs` (writer and reader against a sorted
//! `Vec` model, one-family reads, global seq, bloom), `builder.rs` (order and family checks,
//! abandon, fsync), `corruption.rs` (damage and truncation detection), `cache.rs` (block cache
//! behaviour), `walk_merge.rs` (several files merged row by row), `dictionary.rs` (format v4's per-family
//! zstd dictionaries). They own no state outside
//! their temp dirs and must stay small and fast (no timing assertions). This file holds the
//! shared helpers.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::cell::{CellKind, InternalCell, MARKER_TS, compare_cells};
use crate::fs;
use crate::options::{Compression, FamilyOptions};

mod builder;
mod cache;
mod corruption;
mod dictionary;
mod round_trip;
mod walk_merge;

pub(super) fn fam(
    name: &str,
    compression: Compression,
    block_size: u32,
    bloom: bool,
) -> FamilyOptions {
    FamilyOptions {
        compression,
        block_size,
        bloom_filter: bloom,
        ..FamilyOptions::new(name)
    }
}

pub(super) fn cell(
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
pub(super) fn random_cells(seed: u64, rows: usize, families: &[&str]) -> Vec<InternalCell> {
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

pub(super) fn build(
    path: &Path,
    families: Vec<FamilyOptions>,
    cells: &[InternalCell],
) -> TableProperties {
    let fs = fs::real();
    let mut b = TableBuilder::new(&fs, path, TableBuildOptions { families }).unwrap();
    for c in cells {
        b.add(&c.as_ref()).unwrap();
        assert!(b.estimated_size() > 0);
    }
    b.finish().unwrap()
}

pub(super) fn collect(it: TableIter) -> Vec<InternalCell> {
    it.map(|c| c.unwrap()).collect()
}

pub(super) fn select<'a>(
    cells: &'a [InternalCell],
    fams: Option<&'a [Arc<str>]>,
) -> impl Iterator<Item = &'a InternalCell> + 'a {
    cells
        .iter()
        .filter(move |c| fams.is_none_or(|f| f.contains(&c.family)))
}

pub(super) fn check_against_model(
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

pub(super) fn small_table(dir: &Path, compression: Compression) -> (PathBuf, Vec<InternalCell>) {
    let path = dir.join(format!("small-{compression:?}.sst"));
    let cells = random_cells(3, 120, &["a", "b", "c"]);
    let families = ["a", "b", "c"]
        .iter()
        .map(|n| fam(n, compression, 1024, true))
        .collect();
    build(&path, families, &cells);
    (path, cells)
}
