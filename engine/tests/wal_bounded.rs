//! The WAL is bounded (issue 10 item 6): after a flush it holds only what the table files do
//! not, and past `max_total_wal_bytes` the tables holding its oldest segment are flushed, so
//! an idle table cannot pin the log.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::path::Path;

use rand::{Rng, SeedableRng};
use strata_engine::{Db, DbOptions, FamilyOptions, Mutation, RowMutation, SyncMode};

fn put(row: &str, value: Vec<u8>) -> RowMutation {
    RowMutation {
        row: row.as_bytes().to_vec().into(),
        mutations: vec![Mutation::SetCell {
            family: "f".into(),
            qualifier: b"q".to_vec().into(),
            value: value.into(),
            timestamp: 0,
        }],
    }
}

/// Bytes of every file under `dir`.
fn disk_usage(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            if m.is_dir() {
                disk_usage(&e.path())
            } else {
                m.len()
            }
        })
        .sum()
}

/// The review's figure: 40 MB written over 1 MB of live data, flushed and compacted, must
/// not leave the 40 MB behind in the log (everything in the data directory counts).
#[test]
fn a_flushed_and_compacted_store_keeps_no_log_of_what_its_files_hold() {
    const KEYS: usize = 256;
    const VALUE: usize = 4096;
    let dir = tempfile::tempdir().unwrap();
    // Durability is not what is tested here: no fsync per write.
    let options = DbOptions {
        sync_mode: SyncMode::None,
        ..DbOptions::default()
    };
    let db = Db::open(dir.path(), options).unwrap();
    db.create_table("t", vec![FamilyOptions::new("f")]).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(10);
    let mut written = 0usize;
    while written < 40 * 1024 * 1024 {
        let batch: Vec<RowMutation> = (0..64)
            .map(|_| {
                let k = rng.random_range(0..KEYS);
                let mut v = vec![0u8; VALUE];
                rng.fill(&mut v[..]);
                put(&format!("k{k:04}"), v)
            })
            .collect();
        written += 64 * VALUE;
        db.mutate_rows("t", batch).unwrap();
    }
    db.flush("t").unwrap();
    db.compact("t", true).unwrap();
    let live = (KEYS * VALUE) as u64;
    let used = disk_usage(dir.path());
    assert!(
        used < 2 * live,
        "{used} bytes on disk for {live} bytes of live data (WAL: {} bytes)",
        db.describe_table("t").unwrap().stats.wal_bytes
    );
}

/// A table written once and then left idle holds the oldest WAL segment; once the log passes
/// `max_total_wal_bytes` it is flushed, so the busy table's writes do not pile up in the
/// log. Nothing is lost by it.
#[test]
fn an_idle_table_cannot_pin_the_log() {
    const MAX_WAL: u64 = 256 * 1024;
    const SEGMENT: u64 = 32 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let options = DbOptions {
        memtable_bytes: 64 * 1024 * 1024,
        wal_segment_bytes: SEGMENT,
        max_total_wal_bytes: MAX_WAL,
        background_threads: false,
        // A crash here is a dropped store (the OS keeps what was written): no fsyncs needed.
        sync_mode: SyncMode::None,
        ..DbOptions::default()
    };
    let db = Db::open(dir.path(), options.clone()).unwrap();
    for t in ["idle", "busy"] {
        db.create_table(t, vec![FamilyOptions::new("f")]).unwrap();
    }
    db.mutate_row("idle", put("lonely", b"v".to_vec())).unwrap();
    let mut most = 0;
    for i in 0..2000 {
        db.mutate_row("busy", put(&format!("b{i:05}"), vec![b'x'; 1000]))
            .unwrap();
        most = most.max(db.describe_table("busy").unwrap().stats.wal_bytes);
    }
    // One write can take the log past the limit before the flush it triggers brings it
    // back; a segment and a write above the limit is the most it may reach.
    assert!(
        most <= MAX_WAL + SEGMENT + 2048,
        "the log reached {most} bytes (limit {MAX_WAL})"
    );
    assert!(
        db.describe_table("idle").unwrap().stats.files >= 1,
        "the idle table was never flushed"
    );
    drop(db); // a crash
    let db = Db::open(dir.path(), options).unwrap();
    assert!(
        db.get("idle", b"lonely", &Default::default())
            .unwrap()
            .is_some()
    );
    for i in [0, 1000, 1999] {
        let k = format!("b{i:05}");
        assert!(
            db.get("busy", k.as_bytes(), &Default::default())
                .unwrap()
                .is_some(),
            "{k}"
        );
    }
}
