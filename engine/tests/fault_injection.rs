//! Fault injection through `FaultFs` (LevelDB fault_injection_test style): a simulated power
//! cut drops everything not fsynced, a full disk fails writes with ENOSPC, a failing fsync
//! returns EIO. Acknowledged writes under `always` and `group` must survive the cut; a full
//! disk or failed fsync must turn the store read-only without losing committed data.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::sync::Arc;

use strata_engine::fs::Fs;
use strata_engine::testing::FaultFs;
use strata_engine::{
    Db, DbOptions, Error, FamilyOptions, Mutation, ReadOptions, RowMutation, ScanOptions, SyncMode,
};

fn put(key: &str, value: &str) -> RowMutation {
    RowMutation {
        row: key.as_bytes().to_vec().into(),
        mutations: vec![Mutation::SetCell {
            family: "f".into(),
            qualifier: b"q".to_vec().into(),
            value: value.as_bytes().to_vec().into(),
            timestamp: 0,
        }],
    }
}

fn options(mode: SyncMode) -> DbOptions {
    DbOptions {
        sync_mode: mode,
        memtable_bytes: 16 * 1024,
        wal_segment_bytes: 8 * 1024,
        ..DbOptions::default()
    }
}

/// Open the store as a new process of the machine `fault` (after a power cut the previous
/// process's calls all fail, as a dead process makes none).
fn open(dir: &std::path::Path, fault: &FaultFs, mode: SyncMode) -> Db {
    open_with(dir, fault, &options(mode))
}

/// [`open`] with these options.
fn open_with(dir: &std::path::Path, fault: &FaultFs, opts: &DbOptions) -> Db {
    for _ in 0..200 {
        let fs: Arc<dyn Fs> = fault.process();
        match Db::open_with_fs(dir, opts.clone(), fs) {
            Err(Error::Locked { .. }) => std::thread::sleep(std::time::Duration::from_millis(10)),
            other => return other.expect("open"),
        }
    }
    panic!("store stayed locked");
}

fn all_rows(db: &Db) -> Vec<(String, String)> {
    db.scan("t", ScanOptions::default())
        .expect("scan")
        .map(|r| {
            let r = r.expect("row");
            (
                String::from_utf8(r.key).expect("key"),
                String::from_utf8(r.cells[0].value.to_vec()).expect("value"),
            )
        })
        .collect()
}

fn power_cut_keeps_acknowledged_writes(mode: SyncMode) {
    let dir = tempfile::tempdir().expect("tempdir");
    let fault = FaultFs::new();
    let mut expected = Vec::new();
    for round in 0..3 {
        let db = open(dir.path(), &fault, mode);
        if round == 0 {
            db.create_table("t", vec![FamilyOptions::new("f")])
                .expect("create");
        }
        // Concurrent writers, so group commit shares fsyncs; enough data for several
        // flushes and WAL segment switches.
        let threads: Vec<_> = (0..3)
            .map(|th| {
                let db = db.clone();
                std::thread::spawn(move || {
                    let mut acked = Vec::new();
                    for i in 0..150 {
                        let k = format!("r{round}-t{th}-{i:04}");
                        let v = format!("v{}", "y".repeat(i % 50));
                        db.mutate_row("t", put(&k, &v)).expect("write");
                        acked.push((k, v));
                    }
                    acked
                })
            })
            .collect();
        for t in threads {
            expected.extend(t.join().expect("writer"));
        }
        fault.simulate_power_cut().expect("power cut");
        drop(db);
        let db = open(dir.path(), &fault, mode);
        expected.sort();
        let got = all_rows(&db);
        assert_eq!(
            got.len(),
            expected.len(),
            "round {round}: rows after the power cut"
        );
        assert_eq!(got, expected, "round {round}");
        db.close().expect("close");
    }
}

#[test]
fn power_cut_keeps_acknowledged_writes_group() {
    power_cut_keeps_acknowledged_writes(SyncMode::Group);
}

#[test]
fn power_cut_keeps_acknowledged_writes_always() {
    power_cut_keeps_acknowledged_writes(SyncMode::Always);
}

/// Batched calls large enough that their fsync runs beside their memtable insert, with keys
/// in descending order inside a call (a call that fits the memtable goes in sorted), some
/// calls fitting the memtable and some freezing it midway; two writers; `group` and `always`. Every acknowledged
/// row survives a power cut, and no row of a call whose fsync failed is acknowledged.
fn power_cut_keeps_acknowledged_batched_writes(mode: SyncMode) {
    let dir = tempfile::tempdir().expect("tempdir");
    let fault = FaultFs::new();
    let batched = DbOptions {
        memtable_bytes: 64 * 1024,
        wal_segment_bytes: 32 * 1024,
        ..options(mode)
    };
    let db = open_with(dir.path(), &fault, &batched);
    db.create_table("t", vec![FamilyOptions::new("f")])
        .expect("create");
    let threads: Vec<_> = (0..2)
        .map(|th| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                for call in 0..8 {
                    let rows: Vec<(String, String)> = (0..300)
                        .rev()
                        .map(|i| (format!("t{th}-c{call}-{i:04}"), format!("v{i}")))
                        .collect();
                    let muts = rows.iter().map(|(k, v)| put(k, v)).collect();
                    db.mutate_rows("t", muts).expect("write");
                    acked.extend(rows);
                }
                acked
            })
        })
        .collect();
    let mut expected: Vec<(String, String)> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("writer"))
        .collect();
    // One more large call whose fsync fails: refused, and the store turns read-only.
    fault.fail_syncs(true);
    let lost: Vec<RowMutation> = (0..300)
        .map(|i| put(&format!("lost-{i:04}"), "v"))
        .collect();
    assert!(db.mutate_rows("t", lost).is_err());
    assert!(db.read_only_reason().is_some());
    fault.simulate_power_cut().expect("power cut");
    drop(db);
    fault.fail_syncs(false);
    let db = open_with(dir.path(), &fault, &batched);
    expected.sort();
    let got = all_rows(&db);
    assert!(!got.iter().any(|(k, _)| k.starts_with("lost-")));
    assert_eq!(got.len(), expected.len());
    assert_eq!(got, expected);
    db.close().expect("close");
}

#[test]
fn power_cut_keeps_acknowledged_batched_writes_group() {
    power_cut_keeps_acknowledged_batched_writes(SyncMode::Group);
}

#[test]
fn power_cut_keeps_acknowledged_batched_writes_always() {
    power_cut_keeps_acknowledged_batched_writes(SyncMode::Always);
}

#[test]
fn full_disk_makes_the_store_read_only_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fault = FaultFs::new();
    let db = open(dir.path(), &fault, SyncMode::Group);
    db.create_table("t", vec![FamilyOptions::new("f")])
        .expect("create");
    let mut acked = Vec::new();
    for i in 0..50 {
        let k = format!("before-{i:03}");
        db.mutate_row("t", put(&k, "v")).expect("write");
        acked.push((k, "v".to_string()));
    }
    fault.set_space_limit(Some(fault.bytes_written() + 20_000));
    let mut failure = None;
    for i in 0..10_000 {
        let k = format!("during-{i:05}");
        match db.mutate_row("t", put(&k, &"z".repeat(100))) {
            Ok(_) => acked.push((k, "z".repeat(100))),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let failure = failure.expect("the disk filled up");
    assert!(
        failure.is_no_space() || matches!(failure, Error::ReadOnly(_)),
        "unexpected error {failure}"
    );
    // Writes are refused from now on, with a clear error; reads go on.
    let again = db
        .mutate_row("t", put("after", "v"))
        .expect_err("read-only");
    assert!(matches!(again, Error::ReadOnly(_)), "{again}");
    assert!(db.read_only_reason().is_some());
    let got = db
        .get("t", b"before-000", &ReadOptions::default())
        .expect("read while read-only");
    assert!(got.is_some());
    drop(db);
    // Space comes back: reopen, everything acknowledged is there, writes work again.
    fault.set_space_limit(None);
    let db = open(dir.path(), &fault, SyncMode::Group);
    acked.sort();
    assert_eq!(all_rows(&db), acked);
    db.mutate_row("t", put("after", "v"))
        .expect("write after restart");
    db.close().expect("close");
}

/// A store with table `t` holding the acknowledged row `kept`, then syncs failing (left
/// failing) and a write refused for it: the store is read-only.
fn open_then_fail_a_sync(dir: &std::path::Path, fault: &FaultFs, kept: &str) -> Db {
    let db = open(dir, fault, SyncMode::Group);
    db.create_table("t", vec![FamilyOptions::new("f")])
        .expect("create");
    db.mutate_row("t", put(kept, "v")).expect("write");
    fault.fail_syncs(true);
    assert!(db.mutate_row("t", put("lost", "v")).is_err());
    db
}

#[test]
fn failed_fsync_is_never_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fault = FaultFs::new();
    let db = open_then_fail_a_sync(dir.path(), &fault, "ok");
    assert!(matches!(
        db.mutate_row("t", put("later", "v")),
        Err(Error::ReadOnly(_))
    ));
    fault.simulate_power_cut().expect("cut");
    drop(db);
    fault.fail_syncs(false);
    let db = open(dir.path(), &fault, SyncMode::Group);
    let rows = all_rows(&db);
    assert!(rows.contains(&("ok".to_string(), "v".to_string())));
    assert!(!rows.iter().any(|(k, _)| k == "later"));
    db.close().expect("close");
}

/// Names of the table files in the store.
fn table_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("sst"))
        .expect("sst dir")
        .map(|e| e.expect("entry").path())
        .collect();
    v.sort();
    v
}

/// Review L4: once the store is read-only, a flush (the RPC's, or shutdown's) writes no
/// table file and no manifest on the failing device; the WAL keeps the data for a restart.
#[test]
fn flush_after_the_store_turned_read_only_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fault = FaultFs::new();
    let db = open_then_fail_a_sync(dir.path(), &fault, "kept");
    fault.fail_syncs(false);
    assert!(db.read_only_reason().is_some());
    let manifest = std::fs::read(dir.path().join("MANIFEST")).expect("manifest");
    let files = table_files(dir.path());
    let err = db.flush("t").expect_err("a flush while read-only");
    assert!(matches!(err, Error::ReadOnly(_)), "{err}");
    db.close().expect("close");
    assert_eq!(table_files(dir.path()), files, "a table file was written");
    assert_eq!(
        std::fs::read(dir.path().join("MANIFEST")).expect("manifest"),
        manifest,
        "the manifest was rewritten"
    );
    drop(db);
    let db = open(dir.path(), &fault, SyncMode::Group);
    assert!(all_rows(&db).contains(&("kept".to_string(), "v".to_string())));
    db.close().expect("close");
}

/// Review L3: a flush whose manifest commit failed after its rename (the directory sync
/// failed) may be on disk or not. Its table file is kept and the store turns read-only; the
/// restart finds every file the manifest it reads lists.
#[test]
fn a_commit_of_unknown_outcome_keeps_the_flushed_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fault = FaultFs::new();
    let db = open(dir.path(), &fault, SyncMode::Group);
    db.create_table("t", vec![FamilyOptions::new("f")])
        .expect("create");
    let mut acked = Vec::new();
    for i in 0..20 {
        let k = format!("r{i:02}");
        db.mutate_row("t", put(&k, "v")).expect("write");
        acked.push((k, "v".to_string()));
    }
    fault.fail_dir_sync(Some(dir.path()));
    // The background flush thread may meet the failure first (the freeze wakes it).
    let err = db
        .flush("t")
        .expect_err("the commit's directory sync fails");
    fault.fail_dir_sync(None);
    assert!(
        matches!(err, Error::Io { .. } | Error::ReadOnly(_)),
        "{err}"
    );
    assert!(db.read_only_reason().is_some());
    drop(db);
    let db = open(dir.path(), &fault, SyncMode::Group);
    assert_eq!(all_rows(&db), acked);
    db.close().expect("close");
}
