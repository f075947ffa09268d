//! Races between a drop and re-create of a table and an ingest or alter of it (review L11),
//! driven deterministically through the `race` seam of `DbInner`: the call must fail with
//! TableNotFound and change nothing in the new table, in memory or in the manifest.

use crate::cell::{CellKind, CellRef};
use crate::db::*;
use crate::sstable::{TableBuildOptions, TableBuilder};

fn opts() -> DbOptions {
    DbOptions {
        background_threads: false,
        ..DbOptions::default()
    }
}

fn build(path: &Path, rows: u32) {
    let fs = crate::fs::real();
    let mut b = TableBuilder::new(
        &fs,
        path,
        TableBuildOptions {
            families: vec![FamilyOptions::new("f")],
        },
    )
    .unwrap();
    for i in 0..rows {
        let k = format!("r{i:03}");
        b.add(&CellRef {
            row: k.as_bytes(),
            family: "f",
            kind: CellKind::Put,
            qualifier: b"q",
            ts: 1,
            seq: 0,
            value: b"v",
        })
        .unwrap();
    }
    b.finish().unwrap();
}

fn rows(db: &Db, table: &str) -> usize {
    db.scan(table, ScanOptions::default()).unwrap().count()
}

/// Arrange for `db`'s next race point to drop `t` and create it again with family f.
fn recreate_at_race_point(db: &Db) {
    let other = db.clone();
    *db.inner.race.lock() = Some(Box::new(move || {
        other.drop_table("t").unwrap();
        other
            .create_table("t", vec![FamilyOptions::new("f")])
            .unwrap();
    }));
}

#[test]
fn an_ingest_racing_a_drop_and_recreate_changes_nothing_in_the_new_table() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    db.create_table("t", vec![FamilyOptions::new("f")]).unwrap();
    let src = db.ingest_dirs()[0].join("a.sst");
    build(&src, 10);
    recreate_at_race_point(&db);
    let e = db
        .ingest("t", std::slice::from_ref(&src), "race")
        .unwrap_err();
    assert!(matches!(e, Error::TableNotFound(_)), "{e}");
    assert!(src.exists(), "the file is given back");
    assert_eq!(rows(&db, "t"), 0);
    db.close().unwrap();
    drop(db);
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(
        rows(&db, "t"),
        0,
        "nothing reached the new table's manifest entry"
    );
    // The id was not recorded either: the same ingest now loads.
    assert_eq!(db.ingest("t", &[src], "race").unwrap().files, 1);
    assert_eq!(rows(&db, "t"), 10);
}

#[test]
fn an_alter_racing_a_drop_and_recreate_changes_nothing_in_the_new_table() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    db.create_table("t", vec![FamilyOptions::new("f")]).unwrap();
    recreate_at_race_point(&db);
    let e = db
        .alter_table(
            "t",
            AlterTable {
                add: vec![FamilyOptions::new("g")],
                ..AlterTable::default()
            },
        )
        .unwrap_err();
    assert!(matches!(e, Error::TableNotFound(_)), "{e}");
    let names = |db: &Db| -> Vec<String> {
        let d = db.describe_table("t").unwrap();
        d.families.iter().map(|f| f.name.clone()).collect()
    };
    assert_eq!(names(&db), ["f"]);
    db.close().unwrap();
    drop(db);
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(
        names(&db),
        ["f"],
        "the manifest did not get the family either"
    );
}
