//! A table's enabled state (HBase's `disableTable` / `enableTable`): a disabled table refuses
//! every read and write with `TableDisabled` naming it (gets, scans forward and reverse,
//! writes, read-modify-write built on them, ingest), still flushes and compacts, and the state
//! is in the manifest: it survives a restart, both ways. Other tables are not affected.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::path::Path;

use strata_engine::{Db, Error, FamilyOptions, ReadOptions, ScanOptions};

mod support;

fn open(dir: &Path) -> Db {
    support::open_manual(dir)
}

fn disabled<T: std::fmt::Debug>(r: strata_engine::Result<T>, what: &str) {
    match r {
        Err(Error::TableDisabled(t)) => assert_eq!(t, "t", "{what}"),
        other => panic!("{what}: expected TableDisabled, got {other:?}"),
    }
}

/// Every read and write of `t` is refused.
fn refused(db: &Db) {
    disabled(db.get("t", b"r1", &ReadOptions::default()), "get");
    disabled(
        db.get_cached("t", b"r1", &ReadOptions::default()),
        "cached get",
    );
    disabled(db.scan("t", ScanOptions::default()).map(|_| ()), "scan");
    let reverse = ScanOptions {
        reverse: true,
        ..ScanOptions::default()
    };
    disabled(db.scan("t", reverse).map(|_| ()), "reverse scan");
    let write = db.mutate_row(
        "t",
        strata_engine::RowMutation {
            row: "r9".into(),
            mutations: vec![strata_engine::Mutation::SetCell {
                family: "f".into(),
                qualifier: "q".into(),
                value: "v".into(),
                timestamp: 0,
            }],
        },
    );
    disabled(write, "write");
    disabled(db.ingest("t", &[], "id-1"), "ingest");
}

#[test]
fn a_disabled_table_refuses_reads_and_writes_until_enabled_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    for t in ["t", "other"] {
        db.create_table(t, vec![FamilyOptions::new("f")]).unwrap();
        support::put(&db, t, "r1", b"v1");
    }
    assert!(db.is_table_enabled("t").unwrap());
    db.disable_table("t").unwrap();
    db.disable_table("t").unwrap(); // already disabled: nothing changes
    assert!(!db.is_table_enabled("t").unwrap());
    refused(&db);
    // The other table serves; the disabled one still flushes, compacts and describes.
    assert!(
        db.get("other", b"r1", &ReadOptions::default())
            .unwrap()
            .is_some()
    );
    db.flush("t").unwrap();
    db.compact("t", true).unwrap();
    assert_eq!(db.describe_table("t").unwrap().stats.files, 1);

    // Kept in the manifest.
    db.close().unwrap();
    drop(db);
    let db = open(dir.path());
    assert!(!db.is_table_enabled("t").unwrap());
    assert!(db.is_table_enabled("other").unwrap());
    refused(&db);

    db.enable_table("t").unwrap();
    assert!(db.is_table_enabled("t").unwrap());
    let row = db
        .get("t", b"r1", &ReadOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(&row.cells[0].value[..], b"v1");
    support::put(&db, "t", "r2", b"v2");
    db.close().unwrap();
    drop(db);
    let db = open(dir.path());
    assert!(db.is_table_enabled("t").unwrap());
    assert_eq!(db.scan("t", ScanOptions::default()).unwrap().count(), 2);
    // A missing table has no state.
    assert!(matches!(
        db.is_table_enabled("nope"),
        Err(Error::TableNotFound(_))
    ));
    assert!(matches!(
        db.disable_table("nope"),
        Err(Error::TableNotFound(_))
    ));
}

#[test]
fn a_disabled_table_can_be_dropped_and_a_new_one_under_its_name_is_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.create_table("t", vec![FamilyOptions::new("f")]).unwrap();
    db.disable_table("t").unwrap();
    db.drop_table("t").unwrap();
    db.create_table("t", vec![FamilyOptions::new("f")]).unwrap();
    assert!(db.is_table_enabled("t").unwrap());
    support::put(&db, "t", "r1", b"v1");
}
