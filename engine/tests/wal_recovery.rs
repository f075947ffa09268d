//! Recovery is a prefix of what was written, and never silently less (issue 10 item 7,
//! review M6): a torn tail is accepted only in the newest WAL segment; damage in an older one
//! is `Corruption` naming the file and offset, and the file is left as it was; with
//! `salvage_wal` replay stops at the damage instead of skipping it. And replay gives every
//! record's cells the sequence numbers they were written with.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::path::{Path, PathBuf};

use strata_engine::{Db, DbOptions, Error, FamilyOptions, Mutation, RowMutation, ScanOptions};

fn options(salvage: bool) -> DbOptions {
    DbOptions {
        wal_segment_bytes: 2 * 1024,
        background_threads: false,
        salvage_wal: salvage,
        ..DbOptions::default()
    }
}

fn put(row: &str) -> RowMutation {
    RowMutation {
        row: row.as_bytes().to_vec().into(),
        mutations: vec![Mutation::SetCell {
            family: "f".into(),
            qualifier: b"q".to_vec().into(),
            value: vec![b'v'; 100].into(),
            timestamp: 0,
        }],
    }
}

fn rows(db: &Db) -> Vec<String> {
    db.scan("t", ScanOptions::default())
        .unwrap()
        .map(|r| String::from_utf8(r.unwrap().key).unwrap())
        .collect()
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    v.sort();
    v
}

/// A store whose WAL holds 200 writes, in order, over many segments; then a crash (no
/// close, nothing flushed).
fn crashed_store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options(false)).unwrap();
    db.create_table("t", vec![FamilyOptions::new("f")]).unwrap();
    for i in 0..200 {
        db.mutate_row("t", put(&format!("k{i:03}"))).unwrap();
    }
    drop(db);
    dir
}

/// Cut 10 bytes off a segment in the middle of the log; return it and its new length.
fn tear_a_middle_segment(dir: &Path) -> (PathBuf, u64) {
    let segs = segments(dir);
    assert!(segs.len() >= 4, "{} segments", segs.len());
    let victim = segs[segs.len() / 2].clone();
    let len = std::fs::metadata(&victim).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&victim)
        .unwrap();
    f.set_len(len - 10).unwrap();
    (victim, len - 10)
}

#[test]
fn a_torn_tail_in_an_older_segment_is_corruption_and_changes_nothing() {
    let dir = crashed_store();
    let (victim, len) = tear_a_middle_segment(dir.path());
    let before: Vec<(PathBuf, u64)> = segments(dir.path())
        .into_iter()
        .map(|p| {
            let n = std::fs::metadata(&p).unwrap().len();
            (p, n)
        })
        .collect();
    let err = Db::open(dir.path(), options(false)).unwrap_err();
    match &err {
        Error::Corruption { path, offset, what } => {
            assert_eq!(path, &victim);
            assert!(*offset > 0 && *offset < len, "offset {offset}");
            assert!(what.contains("--salvage-wal"), "{what}");
        }
        other => panic!("expected corruption, got {other}"),
    }
    let after: Vec<(PathBuf, u64)> = segments(dir.path())
        .into_iter()
        .map(|p| {
            let n = std::fs::metadata(&p).unwrap().len();
            (p, n)
        })
        .collect();
    assert_eq!(before, after, "a failed open changed the WAL");
}

#[test]
fn salvage_stops_replay_at_the_damage_and_keeps_stopping_there() {
    let dir = crashed_store();
    let (victim, _) = tear_a_middle_segment(dir.path());
    let db = Db::open(dir.path(), options(true)).unwrap();
    let got = rows(&db);
    let expected_prefix: Vec<String> = (0..got.len()).map(|i| format!("k{i:03}")).collect();
    assert_eq!(
        got, expected_prefix,
        "recovery is not a prefix of the writes"
    );
    assert!(got.len() > 10 && got.len() < 200, "{} rows kept", got.len());
    let mut damaged = victim.into_os_string();
    damaged.push(".damaged");
    assert!(
        Path::new(&damaged).exists(),
        "the damaged segment was not kept aside"
    );
    db.mutate_row("t", put("after-salvage")).unwrap();
    drop(db);
    // Later opens, without salvage, replay the same prefix (and what came after it).
    let db = Db::open(dir.path(), options(false)).unwrap();
    let mut expected = vec!["after-salvage".to_string()];
    expected.extend(expected_prefix);
    assert_eq!(rows(&db), expected);
}

#[test]
fn a_torn_tail_in_the_newest_segment_is_cut_off() {
    let dir = crashed_store();
    let newest = segments(dir.path()).pop().unwrap();
    let len = std::fs::metadata(&newest).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&newest)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    let db = Db::open(dir.path(), options(false)).unwrap();
    let got = rows(&db);
    assert_eq!(got.len(), 199, "only the torn last write is lost");
    assert_eq!(got.last().map(String::as_str), Some("k198"));
}

/// Replay numbers a record's cells row after row, as the write did: a row delete in a later
/// row of the same call still hides every put before it after a restart. The first row puts
/// two cells, so a numbering that restarted at each row would give the delete a number below
/// the second put's.
#[test]
fn replayed_rows_keep_their_sequence_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options(false)).unwrap();
    db.create_table("t", vec![FamilyOptions::new("f")]).unwrap();
    let mut two_cells = put("r");
    two_cells.mutations.push(Mutation::SetCell {
        family: "f".into(),
        qualifier: b"q2".to_vec().into(),
        value: b"v".to_vec().into(),
        timestamp: 0,
    });
    let delete = RowMutation {
        row: b"r".to_vec().into(),
        mutations: vec![Mutation::DeleteRow],
    };
    db.mutate_rows("t", vec![two_cells, delete, put("s")])
        .unwrap();
    assert_eq!(rows(&db), vec!["s".to_string()]);
    drop(db);
    let db = Db::open(dir.path(), options(false)).unwrap();
    assert_eq!(
        rows(&db),
        vec!["s".to_string()],
        "the deleted row came back"
    );
}
