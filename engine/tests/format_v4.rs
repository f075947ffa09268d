//! The v4 on-disk formats are frozen: `tests/fixtures/v4/` is a small store written by the v4
//! code: manifest format 2, SSTable format 3 (values derived from the row key: a composite
//! key `session#time#event` whose fields are also stored as cells, a column that equals a
//! key field in only some rows, delete markers of derived columns) and WAL payload versions
//! 1 and 2. This test opens a copy of it with today's code and checks every cell against
//! `expected.txt`, which the generator dumped from the live store and then abandoned;
//! `engine/src/frozen_formats.rs` re-encodes its files and fails on any byte that differs.
//!
//! The fixture is never regenerated: a later format change bumps that format's version, keeps
//! a reader for v4 (this test must keep passing) and adds a `fixtures/v5`.
//!
//! Regenerating (only when creating a new fixture directory):
//! `cargo test -p strata-engine --test format_v4 -- --ignored write_v4_fixture`

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

mod support;

use std::path::{Path, PathBuf};

use strata_engine::{
    Db, DbOptions, FamilyOptions, Mutation, ReadOptions, RowMutation, SyncMode, Timestamp,
};
use support::{Rng, copy_dir, dump, write_fixture};

/// The generator's seed (its pseudo-random values are a pure function of it).
const SEED: u64 = 0x5354_5241_5441_0004;
/// Timestamps start here (2020-09-13): far from `now`.
const BASE_TS: Timestamp = 1_600_000_000_000_000;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v4")
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

fn set(family: &str, qualifier: &'static str, value: &[u8], ts: Timestamp) -> Mutation {
    Mutation::SetCell {
        family: family.into(),
        qualifier: qualifier.as_bytes().into(),
        value: value.to_vec().into(),
        timestamp: ts,
    }
}

/// Rows `from..from + n` of `clicks`: key `session#time#event`, family `d` holding the three
/// key fields again (`session_id`, `event_time`, `event_id`), `maybe` (the session id but in
/// rows 3, 32, 61...), `name` (random), family `m` one random cell; some rows get deletes.
fn rows(rng: &mut Rng, from: u64, n: u64, ts: Timestamp) -> Vec<RowMutation> {
    (from..from + n)
        .map(|i| {
            let session = format!("{:08x}-{:04x}", rng.next() as u32, (i / 4) as u16);
            let time = format!("2020-09-13T12:{:02}:{:02}.{:06}Z", i / 60, i % 60, i * 37);
            let event = format!("{}", i * 7919 % 100_000);
            let key = format!("{session}#{time}#{event}");
            let t = ts + i as i64;
            let maybe = if i % 29 == 3 {
                rng.value()
            } else {
                session.clone().into_bytes()
            };
            let mut mutations = vec![
                set("d", "event_id", event.as_bytes(), t),
                set("d", "event_time", time.as_bytes(), t),
                set("d", "maybe", &maybe, t),
                set("d", "name", &rng.value(), t),
                set("d", "session_id", session.as_bytes(), t),
                set("m", "x", &rng.value(), t),
            ];
            match i % 9 {
                // An exact version of a derived column, and every version of another.
                4 => mutations.push(Mutation::DeleteCells {
                    family: "d".into(),
                    qualifier: "session_id".into(),
                    timestamp: t - 1,
                }),
                5 => mutations.push(Mutation::DeleteColumnUpTo {
                    family: "d".into(),
                    qualifier: "event_time".into(),
                    timestamp: t - 1,
                }),
                6 => mutations.push(Mutation::DeleteFamily { family: "m".into() }),
                _ => {}
            }
            RowMutation {
                row: key.into_bytes().into(),
                mutations,
            }
        })
        .collect()
}

/// Write the v4 store into `dir` (which must be empty) and return the dump of what it holds.
fn generate(dir: &Path) -> String {
    let mut rng = Rng(SEED);
    let db = Db::open(dir, options()).expect("open");
    let d = FamilyOptions {
        max_versions: 2,
        // The smallest block size: several blocks, so `maybe` is derived in some and
        // stored in others.
        block_size: 1024,
        ..FamilyOptions::new("d")
    };
    db.create_table("clicks", vec![d, FamilyOptions::new("m")])
        .expect("create");
    db.mutate_rows("clicks", rows(&mut rng, 0, 60, BASE_TS))
        .expect("write");
    // A row deleted whole, after its cells.
    let gone = rows(&mut Rng(SEED), 0, 1, BASE_TS).remove(0).row;
    db.mutate_rows(
        "clicks",
        vec![RowMutation {
            row: gone,
            mutations: vec![Mutation::DeleteRow],
        }],
    )
    .expect("delete row");
    db.flush("clicks").expect("flush");
    // Never flushed: WAL records (payload version 2: they hold column-up-to deletes).
    db.mutate_rows("clicks", rows(&mut rng, 50, 12, BASE_TS + 1000))
        .expect("write");
    let dump = dump(&db);
    // Abandoned, not closed: close would flush the memtables and empty the WAL.
    drop(db);
    dump
}

#[test]
#[ignore = "writes the frozen fixture; run by hand only to create a new fixture directory"]
fn write_v4_fixture() {
    write_fixture(&fixture_dir(), generate);
}

#[test]
fn v4_store_with_values_derived_from_keys_reads_back() {
    let tmp = tempfile::tempdir().expect("tempdir");
    copy_dir(&fixture_dir(), tmp.path());
    let expected = std::fs::read_to_string(tmp.path().join("expected.txt")).expect("expected");
    let db = Db::open(tmp.path(), options()).expect("open the v4 store");
    assert_eq!(dump(&db), expected, "the v4 store reads back differently");
    // A point get of a row in the table file: its derived cells come from its key.
    let row = expected
        .lines()
        .find(|l| l.contains(" d:session_id @"))
        .and_then(|l| l.split_whitespace().next())
        .expect("a row with a session id");
    let got = db
        .get("clicks", row.as_bytes(), &ReadOptions::default())
        .expect("get")
        .expect("row");
    let session = row.split('#').next().unwrap();
    assert!(
        got.cells.iter().any(|c| &*c.family == "d"
            && &c.qualifier[..] == b"session_id"
            && c.value == session.as_bytes()),
        "{got:?}"
    );
    db.compact("clicks", true).expect("compact");
    assert_eq!(dump(&db), expected, "compaction changed the v4 data");
    db.close().expect("close");
    drop(db);
    let db = Db::open(tmp.path(), options()).expect("reopen");
    assert_eq!(dump(&db), expected, "reopen changed the v4 data");
}
