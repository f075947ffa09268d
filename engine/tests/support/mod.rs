//! Helpers the engine's integration tests share: for the frozen-format fixture tests from
//! v2 on (`format_v2.rs`) a generator whose output can never change, the dump every fixture
//! is checked against, writing a fixture once, and copying a fixture before opening it (`format_v1.rs` keeps its own
//! copies: it is frozen with its fixture); for the compaction tests a store that does
//! nothing on its own; for the scan tests the check that scans equal the gets (owned and
//! lent rows alike).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::ops::Bound;
use std::path::Path;

use strata_engine::{Cell, Db, DbOptions, ReadOptions, Row, RowScanner, ScanOptions, SyncMode};

/// splitmix64: a generator whose output can never change under us (a library RNG may).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A short lowercase value.
    pub fn value(&mut self) -> Vec<u8> {
        let len = (self.next() % 24) as usize;
        (0..len).map(|_| b'a' + (self.next() % 26) as u8).collect()
    }
}

/// Every table's families and every version of every cell, one line each.
pub fn dump(db: &Db) -> String {
    let mut out = String::new();
    for table in db.list_tables() {
        let d = db.describe_table(&table).expect("describe");
        writeln!(out, "table {table}").unwrap();
        for f in &d.families {
            writeln!(out, "  family {f:?}").unwrap();
        }
        let read = ReadOptions {
            max_versions: 100,
            ..ReadOptions::default()
        };
        let scan = db
            .scan(
                &table,
                ScanOptions {
                    start: Bound::Unbounded,
                    read,
                    ..ScanOptions::default()
                },
            )
            .expect("scan");
        for r in scan {
            let r = r.expect("row");
            for c in &r.cells {
                let (k, q, v) = (
                    r.key.escape_ascii(),
                    c.qualifier.escape_ascii(),
                    c.value.escape_ascii(),
                );
                writeln!(out, "  {k} {}:{q} @{} = {v}", c.family, c.timestamp).unwrap();
            }
        }
    }
    out
}

/// Create a frozen fixture in `dir` (which must not hold one: fixtures are never
/// regenerated) with `generate`, which writes the store and returns its dump; the dump
/// becomes `expected.txt` and the store's `LOCK` file is removed.
pub fn write_fixture(dir: &Path, generate: impl FnOnce(&Path) -> String) {
    assert!(
        !dir.join("MANIFEST").exists(),
        "{} already holds a fixture: frozen formats are never regenerated",
        dir.display()
    );
    let dump = generate(dir);
    std::fs::remove_file(dir.join("LOCK")).expect("remove LOCK");
    std::fs::write(dir.join("expected.txt"), dump).expect("write expected.txt");
}

/// Copy a fixture directory tree (fixtures are opened from a copy: opening writes).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

/// Open a store without background threads (nothing flushes or compacts unless the test
/// asks) and without fsyncs (these tests check semantics, not durability).
pub fn open_manual(dir: &Path) -> Db {
    Db::open(
        dir,
        DbOptions {
            sync_mode: SyncMode::None,
            background_threads: false,
            ..DbOptions::default()
        },
    )
    .expect("open")
}

/// Write `value` to `row`'s cell `f:q` of `table` at the server's clock.
pub fn put(db: &Db, table: &str, row: &str, value: &[u8]) {
    db.mutate_rows(
        table,
        vec![strata_engine::RowMutation {
            row: row.as_bytes().to_vec().into(),
            mutations: vec![strata_engine::Mutation::SetCell {
                family: "f".into(),
                qualifier: "q".into(),
                value: value.to_vec().into(),
                timestamp: 0,
            }],
        }],
    )
    .expect("write");
}

/// For every read shape in `reads`: a scan of `table` returns exactly the gets of `keys` (the
/// rows with cells, in order), and a scan after `lo` up to `hi` (included) limited to 9 rows
/// returns its part of them. `when` names the store's state in a failure.
pub fn assert_scans_equal_gets(
    db: &Db,
    table: &str,
    keys: &[Vec<u8>],
    reads: &[ReadOptions],
    (lo, hi): (Vec<u8>, Vec<u8>),
    when: &str,
) {
    for read in reads {
        let whole = ScanOptions {
            read: read.clone(),
            ..ScanOptions::default()
        };
        let bounded = ScanOptions {
            start: Bound::Excluded(lo.clone()),
            stop: Bound::Included(hi.clone()),
            limit: 9,
            read: read.clone(),
            ..ScanOptions::default()
        };
        let got: Vec<Row> = keys
            .iter()
            .filter_map(|k| db.get(table, k, read).unwrap())
            .filter(|r| !r.cells.is_empty())
            .collect();
        let want: Vec<Row> = got
            .iter()
            .filter(|r| r.key > lo && r.key <= hi)
            .take(9)
            .cloned()
            .collect();
        for (opts, want, what) in [(whole, &got, "scan"), (bounded, &want, "bounded scan")] {
            let owned: Vec<Row> = db
                .scan(table, opts.clone())
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert_eq!(&owned, want, "{when}: {what} vs gets with {read:?}");
            let lent = lent_rows(db.scan(table, opts).unwrap());
            assert_eq!(&lent, want, "{when}: lent {what} vs gets with {read:?}");
        }
    }
}

/// Every row of `scan` read through `RowScanner::next_borrowed`, copied into owned rows.
pub fn lent_rows(mut scan: RowScanner) -> Vec<Row> {
    let mut rows = Vec::new();
    while let Some(r) = scan.next_borrowed(|key, cells| Row {
        key: key.to_vec(),
        cells: cells
            .iter()
            .map(|c| Cell {
                family: c.family.into(),
                qualifier: c.qualifier.to_vec().into(),
                timestamp: c.timestamp,
                value: c.value.to_vec().into(),
            })
            .collect(),
    }) {
        rows.push(r.unwrap());
    }
    rows
}
