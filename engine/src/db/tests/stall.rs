//! Writes waiting for room, and the background threads that make it (issue 10 item 4). A
//! hook holds the flush (or compaction) thread at a fixed point, so a stall is certain, not
//! timed.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::put;
use crate::db::{Db, WriteOptions};
use crate::error::Error;
use crate::options::{DbOptions, FamilyOptions};

/// Long enough that only a writer blocked for good misses it.
const LIVENESS: Duration = Duration::from_secs(60);

/// Tiny memtables, one frozen memtable at most, background threads on.
fn stalling_options(stall_timeout: Duration) -> DbOptions {
    DbOptions {
        memtable_bytes: 1024,
        max_immutable_memtables: 1,
        write_stall_timeout: stall_timeout,
        ..DbOptions::default()
    }
}

/// Open a store whose flush thread is held by a hook until the returned sender is used (or
/// dropped).
fn open_with_flushes_held(dir: &std::path::Path, options: DbOptions) -> (Db, mpsc::Sender<()>) {
    let db = Db::open(dir, options).unwrap();
    db.create_table("t", vec![FamilyOptions::new("f")]).unwrap();
    let (release, held) = mpsc::channel::<()>();
    *db.inner.hooks.before_flush.lock() = Some(Box::new(move || {
        let _ = held.recv();
    }));
    (db, release)
}

fn big_put(i: usize) -> crate::mutation::RowMutation {
    let mut m = put(&format!("r{i:04}"));
    if let Some(crate::mutation::Mutation::SetCell { value, .. }) = m.mutations.first_mut() {
        *value = vec![b'v'; 600].into();
    }
    m
}

/// Write until a write fails; return its index and error (on a thread, so a write that
/// never returns fails the test instead of hanging it).
fn write_until_refused(db: &Db, opts: WriteOptions) -> (usize, Error) {
    let db = db.clone();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for i in 0..10_000 {
            if let Err(e) = db.mutate_rows_with("t", vec![big_put(i)], &opts) {
                let _ = tx.send((i, e));
                return;
            }
        }
    });
    rx.recv_timeout(LIVENESS)
        .expect("a stalled write never gave up")
}

/// A stall that does not clear within `write_stall_timeout` ends the write with
/// `Error::Stalled`, and that write is never applied, not even once the stall clears.
#[test]
fn a_stall_that_does_not_clear_times_out_and_applies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (db, release) =
        open_with_flushes_held(dir.path(), stalling_options(Duration::from_millis(300)));
    let (refused, err) = write_until_refused(&db, WriteOptions::default());
    assert!(
        matches!(&err, Error::Stalled { table, .. } if table == "t"),
        "{err}"
    );
    assert!(err.to_string().contains("memtable flushes"), "{err}");
    assert!(db.read_only_reason().is_none());
    assert_never_applied(&db, &release, refused, "timed-out");
    assert!(
        db.get("t", b"r0000", &Default::default())
            .unwrap()
            .is_some()
    );
    db.mutate_row("t", put("after")).unwrap();
}

/// Let the held flushes go, flush, and check that write number `refused` (refused as `what`)
/// left nothing behind.
fn assert_never_applied(db: &Db, release: &mpsc::Sender<()>, refused: usize, what: &str) {
    release.send(()).unwrap();
    db.flush("t").unwrap();
    let key = format!("r{refused:04}");
    assert!(
        db.get("t", key.as_bytes(), &Default::default())
            .unwrap()
            .is_none(),
        "the {what} write was applied"
    );
}

/// A stalled write whose caller gives up returns `Error::Cancelled` and is never applied.
#[test]
fn a_write_abandoned_while_stalled_is_never_applied() {
    let dir = tempfile::tempdir().unwrap();
    let (db, release) = open_with_flushes_held(dir.path(), stalling_options(LIVENESS));
    let abandoned = Arc::new(AtomicBool::new(false));
    let opts = WriteOptions {
        abandoned: Some(abandoned.clone()),
    };
    let writer = {
        let db = db.clone();
        std::thread::spawn(move || write_until_refused(&db, opts))
    };
    // Wait until a write is stalled, then give up on it.
    let t = db.inner.catalog.table("t").unwrap();
    let start = Instant::now();
    while t
        .counters
        .write_stalls
        .load(std::sync::atomic::Ordering::Relaxed)
        == 0
    {
        assert!(start.elapsed() < LIVENESS, "no write stalled");
        std::thread::sleep(Duration::from_millis(5));
    }
    abandoned.store(true, std::sync::atomic::Ordering::Release);
    let (refused, err) = writer.join().unwrap();
    assert!(matches!(err, Error::Cancelled(ref t) if t == "t"), "{err}");
    assert_never_applied(&db, &release, refused, "abandoned");
}

/// Flushes run on their own thread: a compaction that takes as long as it likes does not
/// hold up the flush of a full memtable.
#[test]
fn a_flush_is_not_queued_behind_a_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(
        dir.path(),
        DbOptions {
            memtable_bytes: 1024,
            ..DbOptions::default()
        },
    )
    .unwrap();
    db.create_table("t", vec![FamilyOptions::new("f")]).unwrap();
    let (entered_tx, entered) = mpsc::channel::<()>();
    let (release, held) = mpsc::channel::<()>();
    *db.inner.hooks.before_compaction.lock() = Some(Box::new(move || {
        let _ = entered_tx.send(());
        let _ = held.recv();
    }));
    db.inner.signal_compaction();
    entered
        .recv_timeout(LIVENESS)
        .expect("the compaction round started");
    // Fill more than one memtable: the writer freezes it and the flush thread must flush it
    // while the "compaction" is still running.
    for i in 0..4 {
        db.mutate_row("t", big_put(i)).unwrap();
    }
    let t = db.inner.catalog.table("t").unwrap();
    let start = Instant::now();
    while t.version.load().files.is_empty() {
        assert!(
            start.elapsed() < LIVENESS,
            "no flush while a compaction ran"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    release.send(()).unwrap();
}
