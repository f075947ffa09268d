//! What one write may hold up, and what it may show, before it is done (issue 10 item 1).

use std::sync::mpsc;
use std::time::Duration;

use super::put;
use crate::db::Db;
use crate::mutation::{Mutation, RowMutation};
use crate::options::{DbOptions, FamilyOptions};

/// Long enough that only a deadlock or a writer blocked for good misses it.
const LIVENESS: Duration = Duration::from_secs(60);

fn row_of(key: &str, value_bytes: usize) -> RowMutation {
    RowMutation {
        row: key.as_bytes().to_vec().into(),
        mutations: vec![Mutation::SetCell {
            family: "f".into(),
            qualifier: b"q".to_vec().into(),
            value: vec![b'x'; value_bytes].into(),
            timestamp: 0,
        }],
    }
}

/// A write still inserting its rows into table `a` holds no lock a writer of table `b`
/// needs: the `b` write completes (durable and visible) meanwhile. And readers of `a` see
/// none of the unfinished call, not even its rows already inserted.
#[test]
fn a_write_inserting_into_one_table_does_not_block_writers_of_another() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), DbOptions::default()).unwrap();
    db.create_table("a", vec![FamilyOptions::new("f")]).unwrap();
    db.create_table("b", vec![FamilyOptions::new("f")]).unwrap();
    let (seen_tx, seen_rx) = mpsc::channel();
    let other = db.clone();
    *db.inner.hooks.mid_insert.lock() = Some(Box::new(move || {
        let (done_tx, done_rx) = mpsc::channel();
        let writer = other.clone();
        std::thread::spawn(move || {
            let _ = done_tx.send(writer.mutate_row("b", put("other")).is_ok());
        });
        let b_done = done_rx.recv_timeout(LIVENESS).unwrap_or(false);
        let b_visible = b_done
            && other
                .get("b", b"other", &crate::row::ReadOptions::default())
                .unwrap()
                .is_some();
        let first_row_seen = other
            .get("a", b"a0", &crate::row::ReadOptions::default())
            .unwrap()
            .is_some()
            || other
                .scan("a", crate::row::ScanOptions::default())
                .unwrap()
                .next()
                .is_some();
        let _ = seen_tx.send((b_done, b_visible, first_row_seen));
    }));
    let rows: Vec<RowMutation> = (0..3).map(|i| row_of(&format!("a{i}"), 10)).collect();
    db.mutate_rows("a", rows).unwrap();
    let (b_done, b_visible, first_row_seen) = seen_rx.recv_timeout(LIVENESS).unwrap();
    assert!(
        b_done,
        "a write to table b waited for table a's memtable insert"
    );
    assert!(b_visible);
    assert!(
        !first_row_seen,
        "a reader saw a row of a write still being inserted"
    );
    assert!(
        db.get("b", b"other", &Default::default())
            .unwrap()
            .is_some()
    );
    for i in 0..3 {
        assert!(
            db.get("a", format!("a{i}").as_bytes(), &Default::default())
                .unwrap()
                .is_some()
        );
    }
}

/// One call larger than the memtable budget freezes the memtable between rows: no memtable
/// ends up more than one row over its budget, and every row is readable afterwards.
#[test]
fn one_call_grows_a_memtable_past_its_budget_by_at_most_one_row() {
    const BUDGET: usize = 64 * 1024;
    const VALUE: usize = 1024;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(
        dir.path(),
        DbOptions {
            memtable_bytes: BUDGET,
            background_threads: false,
            ..DbOptions::default()
        },
    )
    .unwrap();
    db.create_table("t", vec![FamilyOptions::new("f")]).unwrap();
    let rows: Vec<RowMutation> = (0..1000)
        .map(|i| row_of(&format!("r{i:04}"), VALUE))
        .collect();
    db.mutate_rows("t", rows).unwrap();
    let t = db.inner.catalog.table("t").unwrap();
    let v = t.version.load();
    assert!(v.immutables.len() >= 10, "{} frozen", v.immutables.len());
    // A row here: key, family, qualifier, value and the per-entry overhead, well under 2 KiB.
    for m in v.immutables.iter().chain(std::iter::once(&v.active)) {
        let bytes = m.approximate_bytes();
        assert!(bytes < BUDGET + 2 * 1024, "a memtable of {bytes} bytes");
    }
    for i in [0, 499, 999] {
        let key = format!("r{i:04}");
        assert!(
            db.get("t", key.as_bytes(), &Default::default())
                .unwrap()
                .is_some()
        );
    }
}

/// A read loads its version, then its snapshot. If a whole call runs in between and freezes
/// the memtable between its rows, the version lacks the memtable the later rows went to
/// while the snapshot counts the call as done: the read must take both again, or it shows
/// the call's first row and not its second.
#[test]
fn a_read_never_shows_part_of_a_call_split_across_memtables() {
    let dir = tempfile::tempdir().unwrap();
    let options = DbOptions {
        background_threads: false,
        memtable_bytes: 1,
        ..DbOptions::default()
    };
    let db = Db::open(dir.path(), options).unwrap();
    db.create_table("t", vec![FamilyOptions::new("f")]).unwrap();
    let writer = db.clone();
    *db.inner.hooks.mid_read_view.lock() = Some(Box::new(move || {
        writer.mutate_rows("t", vec![put("x1"), put("x2")]).unwrap();
    }));
    let t = db.inner.catalog.table("t").unwrap();
    let frozen_before = t.version.load().immutables.len();
    let second = db
        .get("t", b"x2", &crate::row::ReadOptions::default())
        .unwrap();
    assert!(
        db.inner.hooks.mid_read_view.lock().is_none(),
        "the hook ran"
    );
    assert_eq!(
        t.version.load().immutables.len(),
        frozen_before + 1,
        "the call was split across two memtables"
    );
    assert!(
        second.is_some(),
        "the read counted the call as done but missed its second row"
    );
}
