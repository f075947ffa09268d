//! Writer and reader agree: every cell read back as written, by point get and iteration.

use std::ops::Bound;
use std::sync::Arc;

use super::*;
use crate::cell::{CellKind, InternalCell};
use crate::options::{Compression, FamilyOptions};

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
fn reader_and_iterator_can_move_between_threads() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<TableIter>();
    send::<TableReader>();
    sync::<TableReader>();
    send::<TableBuilder>();
}
