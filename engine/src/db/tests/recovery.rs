//! What the WAL keeps across a restart, and what numbering recovery starts from.

use super::{has, open_with_table, options, put};
use crate::db::Db;
use crate::manifest;

/// Review L1: the WAL collector must see the segment list and the memtables in one view.
/// Here a flush leaves every memtable empty; before its collector takes the write lock, one
/// write appends to the current segment and the next rotates that segment into the list of
/// closed ones. A crash after the flush must still find the first write.
#[test]
fn a_segment_rotated_while_the_wal_is_collected_keeps_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_with_table(dir.path());
    db.mutate_row("t", put("flushed")).unwrap();
    let racer = db.clone();
    *db.inner.hooks.before_wal_gc.lock() = Some(Box::new(move || {
        racer.mutate_row("t", put("raced")).unwrap();
        racer.mutate_row("t", put("rotates")).unwrap();
    }));
    db.flush("t").unwrap();
    assert!(
        db.inner.hooks.before_wal_gc.lock().is_none(),
        "the hook ran"
    );
    drop(db); // a crash: nothing flushed or synced at close
    let db = Db::open(dir.path(), options()).unwrap();
    for row in ["flushed", "raced", "rotates"] {
        assert!(has(&db, row), "{row} lost");
    }
}

/// Review L2: a flush can persist entries above the manifest's `last_seq` (written, not yet
/// synced when the commit recorded what reads see), and the WAL that held them can be gone.
/// Recovery must number new writes above every sequence number in the table files, or the
/// next replay takes the new writes for flushed ones and skips them.
#[test]
fn sequence_numbers_are_not_reused_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_with_table(dir.path());
    for i in 0..3 {
        db.mutate_row("t", put(&format!("old{i}"))).unwrap();
    }
    db.flush("t").unwrap();
    db.close().unwrap();
    drop(db);
    // The state that flush-before-sync leaves: the files hold seqs above `last_seq`, and no
    // WAL segment holds them any more.
    let fs = crate::fs::real();
    let mut state = manifest::read_manifest(&fs, dir.path()).unwrap().unwrap();
    let flushed = state.tables["t"].flushed_seq;
    assert!(flushed >= 3, "{flushed}");
    state.last_seq = flushed - 2;
    manifest::write_manifest(&fs, dir.path(), &state).unwrap();
    for (_, seg) in crate::wal::list_segments(&fs, &crate::filename::wal_dir(dir.path())).unwrap() {
        std::fs::remove_file(seg).unwrap();
    }

    let db = Db::open(dir.path(), options()).unwrap();
    db.mutate_row("t", put("new")).unwrap();
    drop(db); // a crash: "new" is only in the WAL
    let db = Db::open(dir.path(), options()).unwrap();
    assert!(has(&db, "new"), "the write after the restart was lost");
    assert!(has(&db, "old0") && has(&db, "old2"));
}

/// A store with its background threads running, table `t` and one row, `kept`, in its WAL.
fn open_running_with_one_write(dir: &std::path::Path) -> Db {
    let db = Db::open(dir, crate::options::DbOptions::default()).unwrap();
    db.create_table("t", vec![crate::options::FamilyOptions::new("f")])
        .unwrap();
    db.mutate_row("t", put("kept")).unwrap();
    db
}

/// The last handle dropped without `close` while a background thread is in a round: the
/// drop waits for the round, so the directory is unlocked when it returns and a reopen right
/// after it finds the store (before, it found the directory locked by the departing store
/// until the round ended). Nothing is flushed by the drop: the write comes back from the WAL.
#[test]
fn dropping_the_last_handle_mid_round_unlocks_the_directory_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_running_with_one_write(dir.path());
    let (entered_tx, entered_rx) = std::sync::mpsc::channel();
    *db.inner.hooks.before_compaction.lock() = Some(Box::new(move || {
        let _ = entered_tx.send(());
        // Widen the window in which the round holds the store.
        std::thread::sleep(std::time::Duration::from_millis(300));
    }));
    db.inner.signal_compaction();
    entered_rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .unwrap();
    drop(db);
    let db = Db::open(dir.path(), crate::options::DbOptions::default()).unwrap();
    assert!(has(&db, "kept"));
}

/// The last handle dropped by a background thread itself (its round held a clone): the drop
/// stops the other thread and does not wait for its own, and the store still goes away.
#[test]
fn a_background_thread_dropping_the_last_handle_does_not_wait_for_itself() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_running_with_one_write(dir.path());
    let (dropped_tx, dropped_rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let held = db.clone();
    *db.inner.hooks.before_compaction.lock() = Some(Box::new(move || {
        let _ = dropped_rx.recv_timeout(std::time::Duration::from_secs(60));
        drop(held);
        let _ = done_tx.send(());
    }));
    db.inner.signal_compaction();
    drop(db);
    dropped_tx.send(()).unwrap();
    done_rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the background thread's drop of the last handle did not return");
    let start = std::time::Instant::now();
    let reopened = loop {
        // The round that dropped the store ends right after its hook returns.
        match Db::open(dir.path(), crate::options::DbOptions::default()) {
            Err(crate::Error::Locked { .. }) if start.elapsed().as_secs() < 60 => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => break other.unwrap(),
        }
    };
    assert!(has(&reopened, "kept"));
}
