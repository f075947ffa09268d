//! `Db::data_version` stamps what a read of a table sees: the stamp holds while nothing
//! changes the table, and changes with every write, flush, compaction, alter and
//! re-creation of it (never with another table's writes). The server's aggregation cache
//! keeps results under these stamps, so a stamp that failed to change would serve stale
//! aggregates.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::path::Path;

use strata_engine::{AlterTable, DataVersion, Db, FamilyOptions};

mod support;

fn open(dir: &Path) -> Db {
    let db = support::open_manual(dir);
    for t in ["t", "u"] {
        db.create_table(t, vec![FamilyOptions::new("f")])
            .expect("create");
    }
    db
}

fn put(db: &Db, table: &str, row: &str) {
    support::put(db, table, row, b"v");
}

fn stamp(db: &Db, table: &str) -> DataVersion {
    db.data_version(table)
        .expect("data_version")
        .expect("a stamp: nothing is in flight")
}

#[test]
fn the_stamp_holds_while_nothing_changes_the_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    put(&db, "t", "a");
    let first = stamp(&db, "t");
    assert_eq!(stamp(&db, "t"), first);
    // Another table's writes, flushes and compactions leave this one's stamp alone.
    put(&db, "u", "a");
    db.flush("u").expect("flush");
    db.compact("u", true).expect("compact");
    assert_eq!(stamp(&db, "t"), first);
}

#[test]
fn every_change_of_the_table_changes_its_stamp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    let mut seen = vec![stamp(&db, "t")];
    let mut changed = |db: &Db, what: &str| {
        let now = stamp(db, "t");
        assert!(!seen.contains(&now), "{what} left a stamp seen before");
        seen.push(now);
    };
    put(&db, "t", "a");
    changed(&db, "a write");
    put(&db, "t", "a");
    changed(&db, "an overwrite");
    db.flush("t").expect("flush");
    changed(&db, "a flush");
    put(&db, "t", "b");
    db.flush("t").expect("flush");
    changed(&db, "a write and a flush");
    db.compact("t", true).expect("compact");
    changed(&db, "a major compaction");
    db.alter_table(
        "t",
        AlterTable {
            add: vec![FamilyOptions::new("g")],
            ..AlterTable::default()
        },
    )
    .expect("alter");
    changed(&db, "an alter");
    db.drop_table("t").expect("drop");
    assert!(
        db.data_version("t").is_err(),
        "a dropped table has no stamp"
    );
    db.create_table("t", vec![FamilyOptions::new("f")])
        .expect("re-create");
    changed(&db, "a re-creation");
}

#[test]
fn a_table_with_a_ttl_has_no_stamp_since_the_clock_alone_changes_its_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    let mut f = FamilyOptions::new("f");
    f.ttl_seconds = 60;
    db.create_table("ttl", vec![f]).expect("create");
    assert_eq!(db.data_version("ttl").expect("data_version"), None);
}
