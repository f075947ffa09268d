//! Tests of the `Db` internals that need a seam: a hook that pauses the engine at a chosen
//! point (so a race is played out in a fixed order, not hoped for) or a look at the state
//! recovery starts from or at one table's memtables. Behaviour seen through the public API
//! alone is tested in `engine/tests/`. One file per concern:
//!
//! - `recovery.rs`: what the WAL keeps and what numbering recovery starts from;
//! - `concurrency.rs`: what one write may hold up or show before it is done;
//! - `flush_compression.rs`: the compression of the files a flush and a compaction write;
//! - `stall.rs`: writes waiting for room, and the background threads that make it;
//! - `table_races.rs`: an ingest or alter racing a drop and re-create of its table.

mod concurrency;
mod flush_compression;
mod recovery;
mod stall;
mod table_races;

use std::path::Path;

use parking_lot::Mutex;

use super::Db;
use crate::mutation::{Mutation, RowMutation};
use crate::options::{DbOptions, FamilyOptions};
use crate::row::ReadOptions;

type Hook = Box<dyn FnOnce() + Send>;

/// Seams the engine calls at fixed points (test builds only). Each runs once.
#[derive(Default)]
pub(crate) struct Hooks {
    /// In `delete_obsolete_wal`, before it takes the write lock.
    before_wal_gc: Mutex<Option<Hook>>,
    /// In `flush_immutables`, before each memtable is written.
    before_flush: Mutex<Option<Hook>>,
    /// In the compaction thread, before each round.
    before_compaction: Mutex<Option<Hook>>,
    /// In a write's memtable insert, after its first row.
    mid_insert: Mutex<Option<Hook>>,
    /// In a read's `read_view`, after it loaded the version, before the snapshot.
    mid_read_view: Mutex<Option<Hook>>,
}

fn run(slot: &Mutex<Option<Hook>>) {
    let hook = slot.lock().take();
    if let Some(h) = hook {
        h();
    }
}

impl Hooks {
    pub(crate) fn run_before_wal_gc(&self) {
        run(&self.before_wal_gc);
    }
    pub(crate) fn run_before_flush(&self) {
        run(&self.before_flush);
    }
    pub(crate) fn run_before_compaction(&self) {
        run(&self.before_compaction);
    }
    pub(crate) fn run_mid_insert(&self) {
        run(&self.mid_insert);
    }
    pub(crate) fn run_mid_read_view(&self) {
        run(&self.mid_read_view);
    }
}

pub(super) fn put(row: &str) -> RowMutation {
    RowMutation {
        row: row.as_bytes().to_vec().into(),
        mutations: vec![Mutation::SetCell {
            family: "f".into(),
            qualifier: b"q".to_vec().into(),
            value: b"v".to_vec().into(),
            timestamp: 0,
        }],
    }
}

pub(super) fn has(db: &Db, row: &str) -> bool {
    db.get("t", row.as_bytes(), &ReadOptions::default())
        .unwrap()
        .is_some()
}

/// No background thread (the test drives every flush); every write starts a new segment.
pub(super) fn options() -> DbOptions {
    DbOptions {
        background_threads: false,
        wal_segment_bytes: 1,
        ..DbOptions::default()
    }
}

pub(super) fn open_with_table(dir: &Path) -> Db {
    let db = Db::open(dir, options()).unwrap();
    db.create_table("t", vec![FamilyOptions::new("f")]).unwrap();
    db
}
