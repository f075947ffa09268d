//! A flush writes only the cells of the families the table has when it runs: the cells of a
//! dropped family, and those an earlier family of a re-created name left in the memtable,
//! never reach the table file (reads would hide them anyway; a file must not carry them
//! until a compaction happens to drop them).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use strata_engine::{AlterTable, Db, FamilyOptions, Mutation, RowMutation};

mod support;

fn put(db: &Db, family: &str, row: &str) {
    db.mutate_rows(
        "t",
        vec![RowMutation {
            row: row.as_bytes().to_vec().into(),
            mutations: vec![Mutation::SetCell {
                family: family.into(),
                qualifier: "q".into(),
                value: b"v".to_vec().into(),
                timestamp: 0,
            }],
        }],
    )
    .expect("write");
}

#[test]
fn a_flush_writes_no_cell_of_a_dropped_or_earlier_family() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = support::open_manual(dir.path());
    db.create_table("t", ["a", "b", "c"].map(FamilyOptions::new).to_vec())
        .expect("create");
    for row in ["r1", "r2", "r3"] {
        for family in ["a", "b", "c"] {
            put(&db, family, row);
        }
    }
    // "b" goes for good; "a" goes and comes back empty.
    db.alter_table(
        "t",
        AlterTable {
            drop: vec!["a".into(), "b".into()],
            ..AlterTable::default()
        },
    )
    .expect("drop families");
    db.alter_table(
        "t",
        AlterTable {
            add: vec![FamilyOptions::new("a")],
            ..AlterTable::default()
        },
    )
    .expect("re-create a");
    put(&db, "a", "r2");
    db.flush("t").expect("flush");
    let stats = db.describe_table("t").expect("describe").stats;
    assert_eq!(stats.files, 1);
    // c's three cells and the new a's one.
    assert_eq!(stats.file_cells, 4, "{stats:?}");
}
