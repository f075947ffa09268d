//! Fuzz harness of the SSTable decoders (issue 10, item 10a): a damaged table file (bit
//! flips, overwritten, zeroed, inserted and removed bytes, truncations, footer fields that
//! lie) either fails to open, or fails a read, with `Corruption` naming the file and an
//! offset, or reads back exactly what was written: a full scan yields the written cells in
//! order up to the first error, a one-family scan likewise, and a point read of every row
//! (bloom filter, key index, family blocks) returns that row's cells or an error, never a
//! missing or different row.
//!
//! Starts from the committed corpus `tests/fuzz/corpus/sstable/` (`base.sst`, written by the
//! current builder: two families, one compressed, small blocks, bloom filters; plus damaged
//! variants and regression cases); `STRATA_FUZZ_CASES` and `STRATA_FUZZ_SEED` run it long
//! (docs/design/robustness.md).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

mod support;

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use proptest::prelude::*;
use strata_engine::fuzz::{self, Damage, Pos};
use strata_engine::sstable::{TableBuildOptions, TableBuilder, TableReader};
use strata_engine::{CellKind, Compression, FamilyOptions, InternalCell, MARKER_TS};

/// Bytes of the footer at the end of every table file.
const FOOTER: usize = 32;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus/sstable")
}

fn families() -> Vec<FamilyOptions> {
    vec![
        FamilyOptions {
            compression: Compression::None,
            block_size: 256,
            bloom_filter: true,
            ..FamilyOptions::new("f")
        },
        FamilyOptions {
            compression: Compression::Zstd(3),
            block_size: 512,
            bloom_filter: true,
            ..FamilyOptions::new("g")
        },
    ]
}

/// The cells of the base file, sorted as the builder wants them: 40 rows, puts in both
/// families, some markers, one row only in "g", values derived from the key in "f".
fn base_cells() -> Vec<InternalCell> {
    let mut rng = support::Rng(0x0557_ab1e);
    let mut cells = Vec::new();
    let mut seq = 1u64;
    for r in 0..40u32 {
        let row = Bytes::from(format!("row-{r:03}").into_bytes());
        for fam in ["f", "g"] {
            if fam == "f" && r == 17 {
                continue;
            }
            if r % 11 == 3 {
                seq += 1;
                cells.push(InternalCell {
                    row: row.clone(),
                    family: Arc::from(fam),
                    kind: CellKind::DeleteFamily,
                    qualifier: Bytes::new(),
                    ts: MARKER_TS,
                    seq,
                    value: Bytes::new(),
                });
            }
            for q in 0..(1 + rng.next() % 3) {
                seq += 1;
                let kind = if rng.next().is_multiple_of(9) {
                    CellKind::DeleteCell
                } else {
                    CellKind::Put
                };
                let value = if kind == CellKind::Put {
                    let v = rng.value();
                    // Family f's q0 is the key's number (a value derived from the key in
                    // format 3), but in row 20 (stored in that block).
                    if fam == "f" && q == 0 && r != 20 {
                        Bytes::from(format!("{r:03}").into_bytes())
                    } else {
                        Bytes::from(v)
                    }
                } else {
                    Bytes::new()
                };
                cells.push(InternalCell {
                    row: row.clone(),
                    family: Arc::from(fam),
                    kind,
                    qualifier: Bytes::from(format!("q{q}").into_bytes()),
                    ts: 1_000 + i64::from(r),
                    seq,
                    value,
                });
            }
        }
    }
    cells.sort();
    cells
}

fn build(path: &Path, cells: &[InternalCell]) -> Vec<u8> {
    let fs = strata_engine::fs::real();
    let mut b = TableBuilder::new(
        &fs,
        path,
        TableBuildOptions {
            families: families(),
        },
    )
    .unwrap();
    for c in cells {
        b.add(&c.as_ref()).unwrap();
    }
    b.finish().unwrap();
    std::fs::read(path).unwrap()
}

struct Base {
    bytes: Vec<u8>,
    cells: Vec<InternalCell>,
    rows: BTreeMap<Bytes, Vec<InternalCell>>,
    footer_fields: Vec<usize>,
    corpus: Vec<(PathBuf, Vec<u8>)>,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = corpus_dir();
        let cells = base_cells();
        let scratch = tempfile::tempdir().unwrap();
        let fresh = build(&scratch.path().join("fresh.sst"), &cells);
        let bytes = if std::env::var_os("STRATA_FUZZ_WRITE_CORPUS").is_some_and(|v| v == "1") {
            fresh.clone()
        } else {
            std::fs::read(dir.join("base.sst")).expect("corpus base.sst")
        };
        let n = bytes.len();
        let footer_fields: Vec<usize> = (0..FOOTER / 4).map(|i| n - FOOTER + 4 * i).collect();
        // Seeded variants: a flipped bit in the middle (a data block), a file cut 10 bytes
        // into its footer, and a footer field off by one.
        let variants = [
            (
                "flip-in-the-middle.sst",
                vec![Damage::Flip {
                    at: Pos::of(n / 2, n),
                    bit: 3,
                }],
            ),
            (
                "cut-in-the-footer.sst",
                vec![Damage::Truncate {
                    at: Pos::of(n - 10, n),
                }],
            ),
            (
                "footer-field-lies.sst",
                vec![Damage::Lie {
                    field: Pos::of(0, footer_fields.len()),
                    delta: 1,
                }],
            ),
        ];
        let corpus = fuzz::corpus(
            &dir,
            "base.sst",
            || bytes.clone(),
            &variants,
            &footer_fields,
        )
        .expect("read the corpus");
        let mut rows: BTreeMap<Bytes, Vec<InternalCell>> = BTreeMap::new();
        for c in &cells {
            rows.entry(c.row.clone()).or_default().push(c.clone());
        }
        Base {
            bytes,
            cells,
            rows,
            footer_fields,
            corpus,
        }
    })
}

fn fail(r: Result<(), String>) -> Result<(), TestCaseError> {
    r.map_err(TestCaseError::fail)
}

/// The property for one damaged file.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let b = base();
    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("000007.sst");
    std::fs::write(&path, bytes).unwrap();
    let reader = match TableReader::open(&path, None) {
        Ok(r) => r,
        Err(e) => return fail(fuzz::names_file_and_offset(&e, &path)),
    };
    // A full scan, then one of family "g" only: the written cells in order up to an error.
    let g: Vec<Arc<str>> = vec![Arc::from("g")];
    for fams in [None, Some(g.as_slice())] {
        let want: Vec<&InternalCell> = b
            .cells
            .iter()
            .filter(|c| fams.is_none_or(|f| f.contains(&c.family)))
            .collect();
        let iter = match reader.iter(Bound::Unbounded, fams) {
            Ok(it) => it,
            Err(e) => {
                fail(fuzz::names_file_and_offset(&e, &path))?;
                continue;
            }
        };
        let mut n = 0;
        let mut failed = false;
        for got in iter {
            match got {
                Ok(c) => {
                    prop_assert!(n < want.len(), "more cells than written");
                    prop_assert_eq!(&c, want[n], "cell {} of the scan differs", n);
                    n += 1;
                }
                Err(e) => {
                    fail(fuzz::names_file_and_offset(&e, &path))?;
                    failed = true;
                    break;
                }
            }
        }
        prop_assert!(
            failed || n == want.len(),
            "the scan ended after {} of {} cells without an error",
            n,
            want.len()
        );
    }
    // Point reads of every row go through the bloom filter and the key index.
    for (row, want) in &b.rows {
        match reader.get_row(row, None) {
            Ok(got) => prop_assert_eq!(&got, want, "row {:?}", row),
            Err(e) => fail(fuzz::names_file_and_offset(&e, &path))?,
        }
    }
    // A row that was never written stays absent.
    match reader.get_row(b"row-0005x", None) {
        Ok(got) => prop_assert!(got.is_empty(), "an unwritten row has cells"),
        Err(e) => fail(fuzz::names_file_and_offset(&e, &path))?,
    }
    Ok(())
}

#[test]
fn the_corpus_fails_naming_file_and_offset_or_reads_what_was_written() {
    let b = base();
    assert!(b.corpus.len() >= 4, "base and seeded variants");
    assert!(
        b.bytes.len() < 16 * 1024,
        "a small corpus: {}",
        b.bytes.len()
    );
    for (path, bytes) in &b.corpus {
        check(bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

#[test]
fn the_committed_base_file_is_what_the_builder_writes_today() {
    // A builder change that alters the bytes must rewrite the corpus
    // (STRATA_FUZZ_WRITE_CORPUS=1), or the fuzz runs on a format nobody writes.
    let scratch = tempfile::tempdir().unwrap();
    let fresh = build(&scratch.path().join("fresh.sst"), &base().cells);
    assert!(
        fresh == base().bytes,
        "tests/fuzz/corpus/sstable/base.sst is stale"
    );
}

#[test]
fn damaged_table_files_fail_naming_file_and_offset_or_read_what_was_written() {
    let b = base();
    fuzz::run("sstable", 384, fuzz::damages(), |list| {
        check(&fuzz::damaged(&b.bytes, &list, &b.footer_fields))
    });
}
