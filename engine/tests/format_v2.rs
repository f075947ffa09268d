//! The v2 on-disk formats are frozen: `tests/fixtures/v2/` is a small store written by the
//! v2 code: SSTable format 2 (the "up to a timestamp" delete kinds 4 and 5, and the meta
//! block's marker sequence range and per-family newest put) and WAL payload version 2
//! (records holding those kinds; records without them stay version 1). This test opens a copy
//! of it with today's code and checks every cell against `expected.txt`, which the generator
//! dumped from the live store before it was abandoned; `engine/src/frozen_formats.rs`
//! re-encodes its files and fails on any byte that differs.
//!
//! The fixture is never regenerated: a later format change bumps that format's version, keeps
//! a reader for v2 (this test must keep passing) and adds a `fixtures/v3`.
//!
//! Regenerating (only when creating a new fixture directory):
//! `cargo test -p strata-engine --test format_v2 -- --ignored write_v2_fixture`

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

mod support;

use std::path::{Path, PathBuf};

use strata_engine::{
    Compression, Db, DbOptions, FamilyOptions, Mutation, ReadOptions, RowMutation, SyncMode,
    Timestamp,
};
use support::{Rng, copy_dir, dump, write_fixture};

/// The generator's seed (its pseudo-random values are a pure function of it).
const SEED: u64 = 0x5354_5241_5441_0002;
/// Timestamps start here (2020-09-13): far from `now`, and no family's TTL reaches them
/// before 2120.
const BASE_TS: Timestamp = 1_600_000_000_000_000;
/// A 100-year TTL: an option the manifest must keep, that expires nothing.
const CENTURY_SECONDS: u64 = 100 * 365 * 24 * 3600;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v2")
}

fn options() -> DbOptions {
    DbOptions {
        sync_mode: SyncMode::Always,
        // Nothing flushes on its own: the generator decides every flush.
        memtable_bytes: 64 << 20,
        // Small segments, so several stay.
        wal_segment_bytes: 2048,
        background_threads: false,
        ..DbOptions::default()
    }
}

fn set(family: &str, qualifier: &[u8], value: Vec<u8>, ts: Timestamp) -> Mutation {
    Mutation::SetCell {
        family: family.into(),
        qualifier: qualifier.to_vec().into(),
        value: value.into(),
        timestamp: ts,
    }
}

fn row(i: u64, mutations: Vec<Mutation>) -> RowMutation {
    RowMutation {
        row: key(i).into(),
        mutations,
    }
}

fn key(i: u64) -> Vec<u8> {
    format!("r{i:03}").into_bytes()
}

fn column_up_to(family: &str, qualifier: &[u8], timestamp: Timestamp) -> Mutation {
    Mutation::DeleteColumnUpTo {
        family: family.into(),
        qualifier: qualifier.to_vec().into(),
        timestamp,
    }
}

/// The timestamps of `family:qualifier` in row `i`, newest first.
fn versions(db: &Db, i: u64, family: &str, qualifier: &[u8]) -> Vec<Timestamp> {
    let opts = ReadOptions {
        max_versions: 10,
        ..ReadOptions::default()
    };
    db.get("orders", &key(i), &opts)
        .expect("get")
        .map(|r| {
            r.cells
                .iter()
                .filter(|c| &*c.family == family && c.qualifier.as_ref() == qualifier)
                .map(|c| c.timestamp)
                .collect()
        })
        .unwrap_or_default()
}

/// Write the v2 store into `dir` (which must be empty) and return the dump of what it holds.
fn generate(dir: &Path) -> String {
    let mut rng = Rng(SEED);
    let db = Db::open(dir, options()).expect("open");
    db.create_table(
        "orders",
        vec![
            FamilyOptions::new("a"),
            FamilyOptions {
                max_versions: 3,
                compression: Compression::None,
                bloom_filter: false,
                block_size: 1024,
                ..FamilyOptions::new("b")
            },
            FamilyOptions {
                ttl_seconds: CENTURY_SECONDS,
                compression: Compression::Zstd(9),
                block_size: 4096,
                ..FamilyOptions::new("c")
            },
        ],
    )
    .expect("create orders");

    // Round 1, compacted: every family, three versions of b.
    let rows = (0..16)
        .map(|i| {
            let ts = BASE_TS + 10 * i as i64;
            let mut m = vec![
                set("a", b"x", rng.value(), ts),
                set("c", b"z", rng.value(), ts),
            ];
            m.extend((0..3).map(|v| set("b", b"q", rng.value(), ts + v)));
            row(i, m)
        })
        .collect();
    db.mutate_rows("orders", rows).expect("round 1");
    db.flush("orders").expect("flush 1");
    db.compact("orders", true).expect("major compaction");

    // Round 2, flushed: every delete kind, up-to deletes each followed by a put older than
    // their bound (written after them, so visible).
    let ts = |i: u64| BASE_TS + 10 * i as i64;
    let deletes = vec![
        row(1, vec![column_up_to("b", b"q", ts(1) + 1)]),
        row(
            2,
            vec![
                Mutation::DeleteFamilyUpTo {
                    family: "a".into(),
                    timestamp: ts(2),
                },
                set("a", b"y", b"after-family-up-to".to_vec(), ts(2) - 5),
            ],
        ),
        row(
            3,
            vec![
                Mutation::DeleteRowUpTo {
                    timestamp: ts(3) + 1,
                },
                set("c", b"w", rng.value(), ts(3)),
            ],
        ),
        row(
            4,
            vec![
                Mutation::DeleteCells {
                    family: "b".into(),
                    qualifier: b"q".to_vec().into(),
                    timestamp: ts(4) + 1,
                },
                Mutation::DeleteCells {
                    family: "a".into(),
                    qualifier: b"x".to_vec().into(),
                    timestamp: 0,
                },
                Mutation::DeleteFamily { family: "c".into() },
            ],
        ),
        row(
            5,
            vec![Mutation::DeleteRow, set("a", b"x", rng.value(), ts(5))],
        ),
    ];
    db.mutate_rows("orders", deletes).expect("round 2");
    db.flush("orders").expect("flush 2");

    // Never flushed: WAL records with and without the new kinds.
    for i in 6..9 {
        db.mutate_row(
            "orders",
            row(i, vec![set("a", b"x", rng.value(), ts(i) + 100)]),
        )
        .expect("unflushed puts");
    }
    db.mutate_row("orders", row(6, vec![column_up_to("b", b"q", ts(6) + 2)]))
        .expect("unflushed column up-to");
    db.mutate_row(
        "orders",
        row(
            7,
            vec![
                Mutation::DeleteRowUpTo { timestamp: ts(7) },
                set("b", b"q", rng.value(), ts(7) - 1),
            ],
        ),
    )
    .expect("unflushed row up-to");

    // What the up-to deletes left, said independently of the dump.
    assert_eq!(versions(&db, 1, "b", b"q"), vec![ts(1) + 2]);
    assert_eq!(versions(&db, 2, "a", b"x"), Vec::<Timestamp>::new());
    assert_eq!(versions(&db, 2, "a", b"y"), vec![ts(2) - 5]);
    assert_eq!(versions(&db, 3, "b", b"q"), vec![ts(3) + 2]);
    assert_eq!(versions(&db, 3, "c", b"w"), vec![ts(3)]);
    assert_eq!(versions(&db, 6, "b", b"q"), Vec::<Timestamp>::new());
    assert_eq!(versions(&db, 6, "a", b"x"), vec![ts(6) + 100]);
    assert_eq!(
        versions(&db, 7, "b", b"q"),
        vec![ts(7) + 2, ts(7) + 1, ts(7) - 1]
    );
    let dump = dump(&db);
    // Abandoned, not closed: close would flush the memtables and empty the WAL.
    drop(db);
    dump
}

#[test]
#[ignore = "writes the frozen fixture; run by hand only to create a new fixture directory"]
fn write_v2_fixture() {
    write_fixture(&fixture_dir(), generate);
}

#[test]
fn v2_store_opens_and_every_cell_reads_back() {
    let tmp = tempfile::tempdir().expect("tempdir");
    copy_dir(&fixture_dir(), tmp.path());
    let expected = std::fs::read_to_string(tmp.path().join("expected.txt")).expect("expected");
    let db = Db::open(tmp.path(), options()).expect("open the v2 store");
    assert_eq!(dump(&db), expected, "the v2 store reads back differently");
    db.flush("orders").expect("flush");
    db.compact("orders", true).expect("compact");
    assert_eq!(
        dump(&db),
        expected,
        "flush + compaction changed the v2 data"
    );
    db.close().expect("close");
    drop(db);
    let db = Db::open(tmp.path(), options()).expect("reopen");
    assert_eq!(dump(&db), expected, "reopen changed the v2 data");
}
