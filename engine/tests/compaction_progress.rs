//! Compaction makes progress and then stops (issue 10 items 4 and 5; review M1, M3): a file
//! is rewritten alone only when the rewrite drops something, so the picker never chooses
//! the same work again, and small files that do not overlap (time-ordered keys) are merged
//! instead of piling up forever.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

mod support;

use strata_engine::{Db, FamilyOptions, Mutation, RowMutation, now_micros};
use support::open_manual;

fn write(db: &Db, row: &str, m: Mutation) {
    db.mutate_row(
        "t",
        RowMutation {
            row: row.as_bytes().to_vec().into(),
            mutations: vec![m],
        },
    )
    .expect("write");
}

fn set(family: &str, ts: i64) -> Mutation {
    Mutation::SetCell {
        family: family.into(),
        qualifier: b"q".to_vec().into(),
        value: b"v".to_vec().into(),
        timestamp: ts,
    }
}

/// Run the picker `rounds` times; return how many rounds changed the table's files.
fn rewrites(db: &Db, rounds: usize) -> usize {
    let mut changed = 0;
    for _ in 0..rounds {
        let before = db.table_file_numbers("t").unwrap();
        db.compact("t", false).unwrap();
        if db.table_file_numbers("t").unwrap() != before {
            changed += 1;
        }
    }
    changed
}

#[test]
fn a_file_expired_in_one_family_is_rewritten_once_not_forever() {
    // Review M3, expired variant: family "e" has a 3 s TTL and only old puts, family "a" a
    // 10-year TTL and hour-old puts. The file's newest timestamp is older than the table's
    // shortest TTL, but only e's puts expire: one rewrite drops them, and the output (a's
    // puts) must not be picked again.
    let dir = tempfile::tempdir().unwrap();
    let db = open_manual(dir.path());
    db.create_table(
        "t",
        vec![
            FamilyOptions {
                ttl_seconds: 10 * 365 * 24 * 3600,
                ..FamilyOptions::new("a")
            },
            FamilyOptions {
                ttl_seconds: 3,
                ..FamilyOptions::new("e")
            },
        ],
    )
    .unwrap();
    let hour_ago = now_micros() - 3_600_000_000;
    for i in 0..10 {
        let row = format!("r{i}");
        write(&db, &row, set("a", hour_ago));
        write(&db, &row, set("e", hour_ago));
    }
    db.flush("t").unwrap();
    assert_eq!(rewrites(&db, 4), 1, "one rewrite, then nothing to do");
}

#[test]
fn a_file_of_markers_that_must_stay_is_not_rewritten_again_and_again() {
    // Review M3, tombstone variant: file T holds an old put (seq 1) and 100 row deletes that
    // must stay (file B, outside, holds the rows they delete, with older seqs). T's oldest
    // entry is below the floor, but none of its markers is: rewriting it alone keeps
    // everything, so the picker must leave it.
    let dir = tempfile::tempdir().unwrap();
    let db = open_manual(dir.path());
    db.create_table("t", vec![FamilyOptions::new("f")]).unwrap();
    write(&db, "a", set("f", 5));
    db.flush("t").unwrap();
    let rows: Vec<String> = (0..100).map(|i| format!("d{i:03}")).collect();
    for r in &rows {
        write(&db, r, set("f", 5));
    }
    db.flush("t").unwrap();
    for r in &rows {
        write(&db, r, Mutation::DeleteRow);
    }
    db.flush("t").unwrap();
    let files = db.table_file_numbers("t").unwrap();
    assert_eq!(files.len(), 3);
    // T = the put file and the delete file merged, B (the puts of the d rows) outside.
    db.compact_files("t", &[files[0], files[2]]).unwrap();
    assert_eq!(db.table_file_numbers("t").unwrap().len(), 2);
    assert_eq!(
        rewrites(&db, 4),
        0,
        "nothing a rewrite of T alone could drop"
    );
    // A merge with B drops the markers and what they cover.
    db.compact("t", true).unwrap();
    assert_eq!(db.table_file_numbers("t").unwrap().len(), 1);
}

#[test]
fn small_disjoint_files_are_merged_and_the_merge_settles() {
    // Review M1: time-ordered keys, a flush per key range. The files never overlap, yet
    // their number must stay bounded: once eight are small they are merged, and the merge
    // is not repeated.
    let dir = tempfile::tempdir().unwrap();
    let db = open_manual(dir.path());
    db.create_table("t", vec![FamilyOptions::new("f")]).unwrap();
    for flush in 0..7 {
        for i in 0..20 {
            write(&db, &format!("2026-12-01T{flush:02}:{i:02}"), set("f", 0));
        }
        db.flush("t").unwrap();
    }
    assert_eq!(rewrites(&db, 2), 0, "seven small files stay");
    for i in 0..20 {
        write(&db, &format!("2026-12-01T07:{i:02}"), set("f", 0));
    }
    db.flush("t").unwrap();
    assert_eq!(db.table_file_numbers("t").unwrap().len(), 8);
    // Eight files, one sorted run: back-pressure (which counts runs) sees one.
    let stats = db.describe_table("t").unwrap().stats;
    assert_eq!((stats.files, stats.sorted_runs), (8, 1));
    assert_eq!(rewrites(&db, 4), 1, "one merge, then nothing to do");
    assert_eq!(db.table_file_numbers("t").unwrap().len(), 1);
    assert_eq!(
        db.scan("t", strata_engine::ScanOptions::default())
            .unwrap()
            .count(),
        160,
        "every row survives the merge"
    );
}

#[test]
fn files_over_the_same_keys_count_as_one_sorted_run_each() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_manual(dir.path());
    db.create_table("t", vec![FamilyOptions::new("f")]).unwrap();
    for round in 0..3 {
        for i in 0..10 {
            write(&db, &format!("k{i}"), set("f", 1 + round));
        }
        db.flush("t").unwrap();
    }
    // A fourth file beside them (keys after theirs) adds a file, not a run.
    write(&db, "z", set("f", 1));
    db.flush("t").unwrap();
    let stats = db.describe_table("t").unwrap().stats;
    assert_eq!((stats.files, stats.sorted_runs), (4, 3));
}
