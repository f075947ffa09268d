//! Compaction never changes what a read returns (issue 10 item 5; review M2, L9, L10): a
//! merge of any subset of a table's files, with delete markers in files outside the merge,
//! leaves every read the same, and a version delete never brings back a version that was
//! beyond `max_versions` when it was written (HBase NEW_VERSION_BEHAVIOR).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

mod support;

use strata_engine::{Db, FamilyOptions, Mutation, ReadOptions, RowMutation};
use support::open_manual;

fn put(db: &Db, ts: i64, value: &str) {
    db.mutate_row(
        "t",
        RowMutation {
            row: b"r".to_vec().into(),
            mutations: vec![Mutation::SetCell {
                family: "f".into(),
                qualifier: b"q".to_vec().into(),
                value: value.as_bytes().to_vec().into(),
                timestamp: ts,
            }],
        },
    )
    .expect("put");
}

fn delete_version(db: &Db, ts: i64) {
    db.mutate_row(
        "t",
        RowMutation {
            row: b"r".to_vec().into(),
            mutations: vec![Mutation::DeleteCells {
                family: "f".into(),
                qualifier: b"q".to_vec().into(),
                timestamp: ts,
            }],
        },
    )
    .expect("delete");
}

fn write(db: &Db, m: Mutation) {
    db.mutate_row(
        "t",
        RowMutation {
            row: b"r".to_vec().into(),
            mutations: vec![m],
        },
    )
    .expect("write");
}

fn column_up_to(ts: i64) -> Mutation {
    Mutation::DeleteColumnUpTo {
        family: "f".into(),
        qualifier: b"q".to_vec().into(),
        timestamp: ts,
    }
}

/// The column's versions, newest first, as `ts=value`.
fn versions(db: &Db) -> Vec<String> {
    let opts = ReadOptions {
        max_versions: 10,
        columns: vec![strata_engine::ColumnSelector {
            family: "f".into(),
            qualifier: Some(b"q".to_vec()),
        }],
        ..ReadOptions::default()
    };
    db.get("t", b"r", &opts)
        .expect("get")
        .map(|r| {
            r.cells
                .iter()
                .map(|c| format!("{}={}", c.timestamp, String::from_utf8_lossy(&c.value)))
                .collect()
        })
        .unwrap_or_default()
}

fn table(db: &Db, max_versions: u32) {
    db.create_table(
        "t",
        vec![FamilyOptions {
            max_versions,
            ..FamilyOptions::new("f")
        }],
    )
    .expect("create");
}

#[test]
fn a_version_delete_never_uncovers_a_version_that_was_one_too_many() {
    // Review M2's repro: ts 1, 2, 3 in file A; a delete of ts 3 in file B. ts 1 became one
    // too many when ts 3 was written, so it is gone before any compaction, and merging A
    // alone (what the background did) changes nothing.
    let dir = tempfile::tempdir().unwrap();
    let db = open_manual(dir.path());
    table(&db, 2);
    for ts in 1..=3 {
        put(&db, ts, &format!("v{ts}"));
    }
    db.flush("t").unwrap();
    delete_version(&db, 3);
    db.flush("t").unwrap();
    assert_eq!(versions(&db), vec!["2=v2"]);
    let files = db.table_file_numbers("t").unwrap();
    assert_eq!(files.len(), 2);
    db.compact_files("t", &files[..1]).unwrap();
    assert_eq!(versions(&db), vec!["2=v2"]);
    db.compact("t", true).unwrap();
    assert_eq!(versions(&db), vec!["2=v2"]);
}

#[test]
fn merging_a_delete_with_the_versions_it_covers_keeps_what_they_masked_masked() {
    // ts 1 in file A; ts 5 and ts 4 (which make ts 1 one too many), then a delete of ts 5,
    // in file B. Merging B alone must not drop ts 5 and so let ts 1 count again.
    let dir = tempfile::tempdir().unwrap();
    let db = open_manual(dir.path());
    table(&db, 2);
    put(&db, 1, "v1");
    db.flush("t").unwrap();
    put(&db, 5, "v5");
    put(&db, 4, "v4");
    delete_version(&db, 5);
    db.flush("t").unwrap();
    assert_eq!(versions(&db), vec!["4=v4"]);
    let files = db.table_file_numbers("t").unwrap();
    db.compact_files("t", &files[1..]).unwrap();
    assert_eq!(versions(&db), vec!["4=v4"]);
    db.compact("t", true).unwrap();
    assert_eq!(versions(&db), vec!["4=v4"]);
}

#[test]
fn a_delete_outside_the_merge_between_its_puts_keeps_them() {
    // ts 3 in file A, a delete of ts 3 in file B, ts 2 and ts 1 in file C (max_versions 2:
    // both visible, since ts 3 was gone when they came). Merging A and C, without B, must
    // not count ts 3 against ts 1.
    let dir = tempfile::tempdir().unwrap();
    let db = open_manual(dir.path());
    table(&db, 2);
    put(&db, 3, "v3");
    db.flush("t").unwrap();
    delete_version(&db, 3);
    db.flush("t").unwrap();
    put(&db, 2, "v2");
    put(&db, 1, "v1");
    db.flush("t").unwrap();
    assert_eq!(versions(&db), vec!["2=v2", "1=v1"]);
    let files = db.table_file_numbers("t").unwrap();
    assert_eq!(files.len(), 3);
    db.compact_files("t", &[files[0], files[2]]).unwrap();
    assert_eq!(versions(&db), vec!["2=v2", "1=v1"]);
    db.compact("t", true).unwrap();
    assert_eq!(versions(&db), vec!["2=v2", "1=v1"]);
}

#[test]
fn an_up_to_delete_between_puts_keeps_the_later_older_version() {
    // File A holds another column of the row, so merging B alone is not below the floor.
    // In B: ts 5 and ts 4, a delete of every version up to ts 4 (both go), then ts 3. With
    // max_versions 2, ts 3 is visible; counting B's puts without the delete between them
    // would make ts 3 one too many. The same with the family form of the delete.
    for family_form in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let db = open_manual(dir.path());
        table(&db, 2);
        write(
            &db,
            Mutation::SetCell {
                family: "f".into(),
                qualifier: b"other".to_vec().into(),
                value: b"o".to_vec().into(),
                timestamp: 1,
            },
        );
        db.flush("t").unwrap();
        put(&db, 5, "v5");
        put(&db, 4, "v4");
        write(
            &db,
            if family_form {
                Mutation::DeleteFamilyUpTo {
                    family: "f".into(),
                    timestamp: 4,
                }
            } else {
                column_up_to(4)
            },
        );
        put(&db, 3, "v3");
        db.flush("t").unwrap();
        assert_eq!(
            versions(&db),
            vec!["5=v5", "3=v3"],
            "family form {family_form}"
        );
        let files = db.table_file_numbers("t").unwrap();
        assert_eq!(files.len(), 2);
        db.compact_files("t", &files[1..]).unwrap();
        assert_eq!(
            versions(&db),
            vec!["5=v5", "3=v3"],
            "family form {family_form}"
        );
        db.compact("t", true).unwrap();
        assert_eq!(
            versions(&db),
            vec!["5=v5", "3=v3"],
            "family form {family_form}"
        );
    }
}

#[test]
fn an_up_to_delete_outside_the_merge_between_its_puts_keeps_them() {
    // ts 5 in file A, a delete up to ts 5 in file B, ts 2 and ts 1 in file C (max_versions
    // 2: both visible). Merging A and C without B must not count ts 5 against ts 1: B's
    // marker sequence range (SSTable format 2) says a marker may fall between them.
    let dir = tempfile::tempdir().unwrap();
    let db = open_manual(dir.path());
    table(&db, 2);
    put(&db, 5, "v5");
    db.flush("t").unwrap();
    write(&db, column_up_to(5));
    db.flush("t").unwrap();
    put(&db, 2, "v2");
    put(&db, 1, "v1");
    db.flush("t").unwrap();
    assert_eq!(versions(&db), vec!["2=v2", "1=v1"]);
    let files = db.table_file_numbers("t").unwrap();
    assert_eq!(files.len(), 3);
    db.compact_files("t", &[files[0], files[2]]).unwrap();
    assert_eq!(versions(&db), vec!["2=v2", "1=v1"]);
    db.compact("t", true).unwrap();
    assert_eq!(versions(&db), vec!["2=v2", "1=v1"]);
}
