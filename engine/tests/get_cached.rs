//! `Db::get_cached` answers a point get only from memory (the memtables and the blocks in
//! the block cache) and says `None` when it would have to read a table file, so a server can
//! answer cached gets on its async workers and send only the others to a blocking thread
//! (review item L7). Its answers are always the ones `Db::get` gives.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::path::Path;

use strata_engine::{Db, DbOptions, FamilyOptions, ReadOptions, SyncMode};

mod support;

fn open(dir: &Path, block_cache_bytes: usize) -> Db {
    let db = Db::open(
        dir,
        DbOptions {
            sync_mode: SyncMode::None,
            background_threads: false,
            block_cache_bytes,
            ..DbOptions::default()
        },
    )
    .expect("open");
    db.create_table("t", vec![FamilyOptions::new("f")])
        .expect("create");
    db
}

fn put(db: &Db, row: &str, value: &str) {
    support::put(db, "t", row, value.as_bytes());
}

fn value(row: &Option<strata_engine::Row>) -> Option<Vec<u8>> {
    row.as_ref().map(|r| r.cells[0].value.to_vec())
}

#[test]
fn a_get_from_memory_is_answered_and_one_needing_a_file_block_is_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path(), 64 << 20);
    let read = ReadOptions::default();
    put(&db, "a", "in-memtable");
    let got = db.get_cached("t", b"a", &read).expect("get_cached");
    assert_eq!(got.map(|r| value(&r)), Some(Some(b"in-memtable".to_vec())));

    db.flush("t").expect("flush");
    // In a file now, its blocks never read: the get would have to read the file.
    assert!(
        db.get_cached("t", b"a", &read)
            .expect("get_cached")
            .is_none()
    );
    // A key outside the file's range needs no block: answered (absent).
    let absent = db.get_cached("t", b"zzz", &read).expect("get_cached");
    assert!(matches!(absent, Some(None)), "{absent:?}");
    // A get reads the blocks into the cache; then the same get is answered from memory.
    let full = db.get("t", b"a", &read).expect("get");
    assert_eq!(value(&full), Some(b"in-memtable".to_vec()));
    let cached = db.get_cached("t", b"a", &read).expect("get_cached");
    assert_eq!(cached.map(|r| value(&r)), Some(value(&full)));
    // Errors are the get's own.
    assert!(db.get_cached("nope", b"a", &read).is_err());
    db.close().expect("close");
}

#[test]
fn without_a_block_cache_every_get_goes_to_get() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path(), 0);
    let read = ReadOptions::default();
    put(&db, "a", "v");
    db.flush("t").expect("flush");
    put(&db, "b", "v");
    for _ in 0..2 {
        assert!(
            db.get_cached("t", b"a", &read)
                .expect("get_cached")
                .is_none()
        );
        assert_eq!(
            value(&db.get("t", b"a", &read).expect("get")),
            Some(b"v".to_vec())
        );
    }
    assert!(
        db.get_cached("t", b"b", &read)
            .expect("get_cached")
            .is_none()
    );
    db.close().expect("close");
}
