//! Long scans re-open on the table's current version instead of pinning the version they
//! started on (review item M5): old memtables and compacted-away files are let go while the
//! scan goes on, and what the scan returns is still the one snapshot it started at, even when
//! the rows it has not read yet were overwritten, deleted, flushed and compacted meanwhile.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::path::Path;
use std::time::Duration;

use strata_engine::{
    Db, DbOptions, FamilyOptions, Mutation, Row, RowMutation, RowScanner, ScanOptions, SyncMode,
};

fn open(dir: &Path) -> Db {
    let db = Db::open(
        dir,
        DbOptions {
            sync_mode: SyncMode::None,
            background_threads: false,
            ..DbOptions::default()
        },
    )
    .expect("open");
    db.create_table("t", vec![FamilyOptions::new("f")])
        .expect("create");
    db
}

fn set(i: usize, value: &str) -> RowMutation {
    RowMutation {
        row: format!("r{i:03}").into_bytes().into(),
        mutations: vec![Mutation::SetCell {
            family: "f".into(),
            qualifier: "q".into(),
            value: value.as_bytes().to_vec().into(),
            timestamp: 0,
        }],
    }
}

fn write(db: &Db, rows: std::ops::Range<usize>, value: &str) {
    db.mutate_rows("t", rows.map(|i| set(i, value)).collect())
        .expect("write");
}

fn delete(db: &Db, rows: std::ops::Range<usize>) {
    let m = rows
        .map(|i| RowMutation {
            row: format!("r{i:03}").into_bytes().into(),
            mutations: vec![Mutation::DeleteRow],
        })
        .collect();
    db.mutate_rows("t", m).expect("delete");
}

/// (key, value) of each row.
fn shape(rows: impl IntoIterator<Item = Row>) -> Vec<(String, String)> {
    rows.into_iter()
        .map(|r| {
            (
                String::from_utf8(r.key).expect("utf-8"),
                String::from_utf8(r.cells[0].value.to_vec()).expect("utf-8"),
            )
        })
        .collect()
}

fn take(s: &mut RowScanner, n: usize) -> Vec<Row> {
    s.by_ref()
        .take(n)
        .map(|r| r.expect("row"))
        .collect::<Vec<_>>()
}

fn expect(rows: std::ops::Range<usize>, value: &str) -> Vec<(String, String)> {
    rows.map(|i| (format!("r{i:03}"), value.to_string()))
        .collect()
}

/// Table files in the store's directory, recursively.
fn table_files(dir: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            n += table_files(&p);
        } else if p.extension().is_some_and(|x| x == "sst") {
            n += 1;
        }
    }
    n
}

#[test]
fn a_long_scan_reads_its_snapshot_across_overwrites_deletes_flushes_and_compactions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    write(&db, 0..200, "old");
    let mut s = db.scan("t", ScanOptions::default()).expect("scan");
    // Re-open as soon as the table has a newer version.
    s.reseek_every(1, Duration::ZERO);
    assert_eq!(shape(take(&mut s, 50)), expect(0..50, "old"));

    // Everything the scan has not read yet changes: overwritten (one version per column, so
    // compaction drops the old values), half of it deleted, new rows after it; then flushed
    // and compacted into one file.
    write(&db, 0..250, "new");
    delete(&db, 100..150);
    db.flush("t").expect("flush");
    db.compact("t", true).expect("compact");

    let rest = shape(s.by_ref().map(|r| r.expect("row")));
    assert!(s.reopened() >= 1, "the scan moved to the new version");
    assert_eq!(
        rest,
        expect(50..200, "old"),
        "the snapshot the scan started at"
    );
    // A new scan sees the new state.
    let now = shape(
        db.scan("t", ScanOptions::default())
            .expect("scan")
            .map(|r| r.expect("row")),
    );
    let mut want = expect(0..100, "new");
    want.extend(expect(150..250, "new"));
    assert_eq!(now, want);
}

#[test]
fn a_long_scan_lets_go_of_files_compacted_away_under_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    write(&db, 0..100, "a");
    db.flush("t").expect("flush");
    write(&db, 100..200, "b");
    db.flush("t").expect("flush");
    assert_eq!(table_files(dir.path()), 2);
    let mut s = db.scan("t", ScanOptions::default()).expect("scan");
    s.reseek_every(1, Duration::ZERO);
    assert_eq!(shape(take(&mut s, 10)), expect(0..10, "a"));
    db.compact("t", true).expect("compact");
    // The two inputs are obsolete, but the scan's version still lists them.
    assert_eq!(
        table_files(dir.path()),
        3,
        "inputs kept while the scan reads them"
    );
    let next = shape(take(&mut s, 1));
    assert_eq!(next, expect(10..11, "a"));
    assert_eq!(
        table_files(dir.path()),
        1,
        "after the scan moved on, only the compacted file is left"
    );
    let rest = shape(s.map(|r| r.expect("row")));
    let mut want = expect(11..100, "a");
    want.extend(expect(100..200, "b"));
    assert_eq!(rest, want);
}

#[test]
fn a_released_scanner_holds_no_version_and_goes_on_where_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    write(&db, 0..100, "a");
    db.flush("t").expect("flush");
    let mut s = db
        .scan(
            "t",
            ScanOptions {
                limit: 60,
                ..ScanOptions::default()
            },
        )
        .expect("scan");
    assert_eq!(shape(take(&mut s, 30)), expect(0..30, "a"));
    s.release();
    // Nothing holds the old file once it is compacted away, though the scan is open.
    write(&db, 0..100, "b");
    db.flush("t").expect("flush");
    db.compact("t", true).expect("compact");
    assert_eq!(table_files(dir.path()), 1);
    // The limit counts across the release; the snapshot is the one before "b".
    let rest = shape(s.map(|r| r.expect("row")));
    assert_eq!(rest, expect(30..60, "a"));
}

#[test]
fn a_scan_of_a_table_dropped_under_it_fails_instead_of_ending_early() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    write(&db, 0..20, "a");
    let mut s = db.scan("t", ScanOptions::default()).expect("scan");
    assert_eq!(take(&mut s, 5).len(), 5);
    s.release();
    db.drop_table("t").expect("drop");
    match s.next() {
        Some(Err(strata_engine::Error::TableNotFound(t))) => assert_eq!(t, "t"),
        other => panic!("expected TableNotFound, got {other:?}"),
    }
    assert!(s.next().is_none());
}
