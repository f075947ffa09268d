//! Crash test: a child process writes with sync `group` (several threads, so writers share
//! fsyncs) and with `always`, printing each acknowledged row; the parent kills it with
//! SIGKILL at a seeded random moment, reopens the store and checks that every acknowledged
//! row is there with its value, and that every row present has the right value.
//!
//! The child is this same test binary running the ignored test `crash_child`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use strata_engine::{
    Db, DbOptions, FamilyOptions, Mutation, ReadOptions, RowMutation, ScanOptions, SyncMode,
};

fn value_of(key: &str) -> Vec<u8> {
    format!("value-of-{key}-{}", "x".repeat(key.len() % 17)).into_bytes()
}

fn options(mode: SyncMode) -> DbOptions {
    DbOptions {
        sync_mode: mode,
        memtable_bytes: 256 * 1024,
        wal_segment_bytes: 128 * 1024,
        ..DbOptions::default()
    }
}

/// Runs only as the child of `sigkill_loses_no_acknowledged_write`.
#[test]
#[ignore = "child process of the crash test"]
fn crash_child() {
    let Ok(dir) = std::env::var("STRATA_CRASH_DIR") else {
        return;
    };
    let mode: SyncMode = std::env::var("STRATA_CRASH_MODE")
        .expect("mode")
        .parse()
        .expect("mode");
    let round = std::env::var("STRATA_CRASH_ROUND").expect("round");
    let db = Db::open(&dir, options(mode)).expect("open");
    if !db.list_tables().contains(&"t".to_string()) {
        db.create_table("t", vec![FamilyOptions::new("f")])
            .expect("create");
    }
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..4)
        .map(|th| {
            let db = db.clone();
            let out = out.clone();
            let round = round.clone();
            std::thread::spawn(move || {
                for i in 0.. {
                    let keys: Vec<String> = (0..5)
                        .map(|j| format!("r{round}-t{th}-{i:06}-{j}"))
                        .collect();
                    let rows = keys
                        .iter()
                        .map(|k| RowMutation {
                            row: k.clone().into_bytes().into(),
                            mutations: vec![Mutation::SetCell {
                                family: "f".into(),
                                qualifier: b"q".to_vec().into(),
                                value: value_of(k).into(),
                                timestamp: 0,
                            }],
                        })
                        .collect();
                    db.mutate_rows("t", rows).expect("write");
                    let mut o = out.lock().expect("stdout");
                    for k in &keys {
                        writeln!(o, "ACK {k}").expect("print");
                    }
                    o.flush().expect("flush");
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

fn crash_rounds(mode: SyncMode, seed: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut acked: HashSet<String> = HashSet::new();
    for round in 0..3 {
        let delay = Duration::from_millis(rng.random_range(200..600));
        let exe = std::env::current_exe().expect("exe");
        let mut child = Command::new(exe)
            .args([
                "crash_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("STRATA_CRASH_DIR", dir.path())
            .env("STRATA_CRASH_MODE", format!("{mode:?}").to_lowercase())
            .env("STRATA_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            let mut keys = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(k) = line.strip_prefix("ACK ") {
                    keys.push(k.to_string());
                }
            }
            keys
        });
        std::thread::sleep(delay);
        // Child::kill sends SIGKILL on Unix.
        child.kill().expect("kill");
        let _ = child.wait();
        let keys = reader.join().expect("reader");
        assert!(
            !keys.is_empty() || round > 0,
            "child acknowledged nothing in round {round}"
        );
        acked.extend(keys);

        let db = Db::open(dir.path(), options(mode)).expect("reopen after SIGKILL");
        let mut present: HashSet<String> = HashSet::new();
        for r in db.scan("t", ScanOptions::default()).expect("scan") {
            let r = r.expect("row");
            let k = String::from_utf8(r.key.clone()).expect("utf8 key");
            assert_eq!(r.cells.len(), 1, "row {k}");
            assert_eq!(r.cells[0].value, value_of(&k), "row {k} has a wrong value");
            present.insert(k);
        }
        let lost: Vec<&String> = acked.difference(&present).collect();
        assert!(
            lost.is_empty(),
            "{} acknowledged rows lost (mode {mode:?}, seed {seed}, round {round}), e.g. {:?}",
            lost.len(),
            lost.first()
        );
        // Point reads agree with the scan on a sample.
        for k in acked.iter().take(200) {
            let row = db
                .get("t", k.as_bytes(), &ReadOptions::default())
                .expect("get");
            assert!(row.is_some(), "get misses acknowledged row {k}");
        }
        db.close().expect("close");
    }
}

#[test]
fn sigkill_loses_no_acknowledged_write_group() {
    crash_rounds(SyncMode::Group, 0x5eed_0001);
}

#[test]
fn sigkill_loses_no_acknowledged_write_always() {
    crash_rounds(SyncMode::Always, 0x5eed_0002);
}
