//! The v5 on-disk formats are frozen: `tests/fixtures/v5/` is a small store written by the v5
//! code: manifest format 2, SSTable format 3 written by a flush (zstd level 1) and WAL payload
//! version 3 (each call's columns listed once, cells naming theirs by index, timestamps as
//! deltas). This test opens a copy of it with today's code and checks every cell against
//! `expected.txt`, which the generator dumped from the live store and then abandoned;
//! `engine/src/frozen_formats.rs` re-encodes its files and fails on any byte that differs.
//!
//! The fixture is never regenerated: a later format change bumps that format's version, keeps
//! a reader for v5 (this test must keep passing) and adds a `fixtures/v6`.
//!
//! Regenerating (only when creating a new fixture directory):
//! `cargo test -p strata-engine --test format_v5 -- --ignored write_v5_fixture`

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

mod support;

use std::path::{Path, PathBuf};

use strata_engine::{Db, DbOptions, FamilyOptions, Mutation, RowMutation, SyncMode, Timestamp};
use support::{Rng, copy_dir, dump, write_fixture};

/// The generator's seed (its pseudo-random values are a pure function of it).
const SEED: u64 = 0x5354_5241_5441_0005;
/// Timestamps start here (2020-09-13): far from `now`.
const BASE_TS: Timestamp = 1_600_000_000_000_000;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v5")
}

fn options() -> DbOptions {
    DbOptions {
        sync_mode: SyncMode::Always,
        // Nothing flushes on its own: the generator decides every flush.
        memtable_bytes: 64 << 20,
        wal_segment_bytes: 4096,
        background_threads: false,
        ..DbOptions::default()
    }
}

fn set(family: &str, qualifier: &str, value: &[u8], ts: Timestamp) -> Mutation {
    Mutation::SetCell {
        family: family.into(),
        qualifier: qualifier.as_bytes().to_vec().into(),
        value: value.to_vec().into(),
        timestamp: ts,
    }
}

/// Rows `from..from + n` of `clicks`: key `session#time#event`, family `d` holding the
/// session id again and two random cells, family `m` one random cell; every fourth row
/// writes its columns in the reverse order, every fifth adds a column of its own, and
/// every seventh row's timestamps go backwards (negative deltas in the payload).
fn rows(rng: &mut Rng, from: u64, n: u64, ts: Timestamp) -> Vec<RowMutation> {
    (from..from + n)
        .map(|i| {
            let session = format!("{:08x}-{:04x}", rng.next() as u32, (i / 4) as u16);
            let key = format!("{session}#2020-09-13T12:{:02}:{:02}Z#{}", i / 60, i % 60, i);
            let t = if i % 7 == 0 {
                ts - 5_000_000 * i as i64
            } else {
                ts + i as i64
            };
            let mut mutations = vec![
                set("d", "session_id", session.as_bytes(), t),
                set("d", "name", &rng.value(), t),
                set("d", "page", &rng.value(), t),
                set("m", "x", &rng.value(), t),
            ];
            if i % 4 == 0 {
                mutations.reverse();
            }
            if i % 5 == 0 {
                mutations.push(set("m", &format!("extra_{i}"), &rng.value(), t));
            }
            RowMutation {
                row: key.into_bytes().into(),
                mutations,
            }
        })
        .collect()
}

/// Write the v5 store into `dir` (which must be empty) and return the dump of what it holds.
fn generate(dir: &Path) -> String {
    let mut rng = Rng(SEED);
    let db = Db::open(dir, options()).expect("open");
    let d = FamilyOptions {
        max_versions: 3,
        ..FamilyOptions::new("d")
    };
    db.create_table("clicks", vec![d, FamilyOptions::new("m")])
        .expect("create");
    db.mutate_rows("clicks", rows(&mut rng, 0, 30, BASE_TS))
        .expect("write");
    db.flush("clicks").expect("flush");
    // Never flushed: WAL records of payload version 3, some rows rewritten (new versions),
    // and every kind of delete.
    db.mutate_rows("clicks", rows(&mut rng, 20, 25, BASE_TS + 1000))
        .expect("write");
    let first = |i: u64| {
        rows(&mut Rng(SEED), 0, i + 1, BASE_TS)
            .remove(i as usize)
            .row
    };
    let deletes = vec![
        RowMutation {
            row: first(1),
            mutations: vec![Mutation::DeleteCells {
                family: "d".into(),
                qualifier: b"name".to_vec().into(),
                timestamp: BASE_TS + 1,
            }],
        },
        RowMutation {
            row: first(2),
            mutations: vec![
                Mutation::DeleteColumnUpTo {
                    family: "d".into(),
                    qualifier: b"page".to_vec().into(),
                    timestamp: BASE_TS + 2,
                },
                Mutation::DeleteFamilyUpTo {
                    family: "m".into(),
                    timestamp: BASE_TS + 2,
                },
            ],
        },
        RowMutation {
            row: first(3),
            mutations: vec![Mutation::DeleteFamily { family: "m".into() }],
        },
        RowMutation {
            row: first(5),
            mutations: vec![Mutation::DeleteRow],
        },
    ];
    db.mutate_rows("clicks", deletes).expect("deletes");
    let dump = dump(&db);
    // Abandoned, not closed: close would flush the memtables and empty the WAL.
    drop(db);
    dump
}

#[test]
#[ignore = "writes the frozen fixture; run by hand only to create a new fixture directory"]
fn write_v5_fixture() {
    write_fixture(&fixture_dir(), generate);
}

#[test]
fn v5_store_with_v3_wal_payloads_reads_back() {
    let tmp = tempfile::tempdir().expect("tempdir");
    copy_dir(&fixture_dir(), tmp.path());
    let expected = std::fs::read_to_string(tmp.path().join("expected.txt")).expect("expected");
    let db = Db::open(tmp.path(), options()).expect("open the v5 store");
    assert_eq!(dump(&db), expected, "the v5 store reads back differently");
    db.compact("clicks", true).expect("compact");
    assert_eq!(dump(&db), expected, "compaction changed the v5 data");
    db.close().expect("close");
    drop(db);
    let db = Db::open(tmp.path(), options()).expect("reopen");
    assert_eq!(dump(&db), expected, "reopen changed the v5 data");
}
