//! The v3 on-disk formats are frozen: `tests/fixtures/v3/` is a small store written by the v3
//! code: manifest format 2 (a table's enabled state: `archive` is disabled, `orders` enabled),
//! SSTable format 2 and WAL payload versions 1 and 2. This test opens a copy of it with
//! today's code, checks the enabled state of each table and every cell against
//! `expected.txt`, which the generator dumped from the live store (before it disabled
//! `archive`) and then abandoned; `engine/src/frozen_formats.rs` re-encodes its files and
//! fails on any byte that differs.
//!
//! The fixture is never regenerated: a later format change bumps that format's version, keeps
//! a reader for v3 (this test must keep passing) and adds a `fixtures/v4`.
//!
//! Regenerating (only when creating a new fixture directory):
//! `cargo test -p strata-engine --test format_v3 -- --ignored write_v3_fixture`

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

mod support;

use std::path::{Path, PathBuf};

use strata_engine::{
    Db, DbOptions, Error, FamilyOptions, Mutation, ReadOptions, RowMutation, SyncMode, Timestamp,
};
use support::{Rng, copy_dir, dump, write_fixture};

/// The generator's seed (its pseudo-random values are a pure function of it).
const SEED: u64 = 0x5354_5241_5441_0003;
/// Timestamps start here (2020-09-13): far from `now`.
const BASE_TS: Timestamp = 1_600_000_000_000_000;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v3")
}

fn options() -> DbOptions {
    DbOptions {
        sync_mode: SyncMode::Always,
        // Nothing flushes on its own: the generator decides every flush.
        memtable_bytes: 64 << 20,
        wal_segment_bytes: 2048,
        background_threads: false,
        ..DbOptions::default()
    }
}

fn rows(rng: &mut Rng, from: u64, n: u64, ts: Timestamp) -> Vec<RowMutation> {
    (from..from + n)
        .map(|i| RowMutation {
            row: format!("r{i:03}").into_bytes().into(),
            mutations: vec![
                Mutation::SetCell {
                    family: "a".into(),
                    qualifier: "x".into(),
                    value: rng.value().into(),
                    timestamp: ts + i as i64,
                },
                Mutation::DeleteColumnUpTo {
                    family: "a".into(),
                    qualifier: "old".into(),
                    timestamp: ts,
                },
            ],
        })
        .collect()
}

/// Write the v3 store into `dir` (which must be empty) and return the dump of what it holds.
fn generate(dir: &Path) -> String {
    let mut rng = Rng(SEED);
    let db = Db::open(dir, options()).expect("open");
    for table in ["orders", "archive"] {
        db.create_table(table, vec![FamilyOptions::new("a")])
            .expect("create");
        db.mutate_rows(table, rows(&mut rng, 0, 8, BASE_TS))
            .expect("write");
        db.flush(table).expect("flush");
        // Never flushed: WAL records.
        db.mutate_rows(table, rows(&mut rng, 4, 8, BASE_TS + 100))
            .expect("write");
    }
    let dump = dump(&db);
    db.disable_table("archive").expect("disable");
    // Abandoned, not closed: close would flush the memtables and empty the WAL.
    drop(db);
    dump
}

#[test]
#[ignore = "writes the frozen fixture; run by hand only to create a new fixture directory"]
fn write_v3_fixture() {
    write_fixture(&fixture_dir(), generate);
}

#[test]
fn v3_store_opens_with_its_disabled_table_and_every_cell_reads_back() {
    let tmp = tempfile::tempdir().expect("tempdir");
    copy_dir(&fixture_dir(), tmp.path());
    let expected = std::fs::read_to_string(tmp.path().join("expected.txt")).expect("expected");
    let db = Db::open(tmp.path(), options()).expect("open the v3 store");
    assert!(db.is_table_enabled("orders").unwrap());
    assert!(!db.is_table_enabled("archive").unwrap());
    assert!(matches!(
        db.get("archive", b"r001", &ReadOptions::default()),
        Err(Error::TableDisabled(t)) if t == "archive"
    ));
    db.enable_table("archive").expect("enable");
    assert_eq!(dump(&db), expected, "the v3 store reads back differently");
    db.close().expect("close");
    drop(db);
    let db = Db::open(tmp.path(), options()).expect("reopen");
    assert!(db.is_table_enabled("archive").unwrap());
    assert_eq!(dump(&db), expected, "reopen changed the v3 data");
}
