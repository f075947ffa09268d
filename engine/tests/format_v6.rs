//! The v6 on-disk formats are frozen: `tests/fixtures/v6/` is a small store written by the v6
//! code: manifest format 2, SSTable format 4 written by a flush, with a zstd dictionary for
//! the small-block family, and WAL payload version 3. This test opens a copy of it with
//! today's code and checks every cell against `expected.txt`, which the generator dumped
//! from the live store and then abandoned; `engine/src/frozen_formats.rs` re-encodes its
//! files and fails on any byte that differs, and checks that the table has a dictionary.
//!
//! The fixture is never regenerated: a later format change bumps that format's version, keeps
//! a reader for v6 (this test must keep passing) and adds a `fixtures/v7`.
//!
//! Regenerating (only when creating a new fixture directory):
//! `cargo test -p strata-engine --test format_v6 -- --ignored write_v6_fixture`

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

mod support;

use std::path::{Path, PathBuf};

use strata_engine::{Db, DbOptions, FamilyOptions, Mutation, RowMutation, SyncMode, Timestamp};
use support::{Rng, copy_dir, dump, write_fixture};

/// The generator's seed (its pseudo-random values are a pure function of it).
const SEED: u64 = 0x5354_5241_5441_0006;
/// Timestamps start here (2020-09-13): far from `now`.
const BASE_TS: Timestamp = 1_600_000_000_000_000;
/// Rows flushed: enough for family `d` (1 KiB blocks) to fill the 16 blocks a dictionary
/// is trained on and more.
const FLUSHED_ROWS: u64 = 160;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v6")
}

fn options() -> DbOptions {
    DbOptions {
        sync_mode: SyncMode::Always,
        // Nothing flushes on its own: the generator decides every flush.
        memtable_bytes: 64 << 20,
        wal_segment_bytes: 1 << 20,
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

/// One of `words`, chosen by the generator.
fn pick<'a>(rng: &mut Rng, words: &[&'a str]) -> &'a str {
    words[(rng.next() % words.len() as u64) as usize]
}

/// Rows `from..from + n` of `clicks`: key `session#time#event`; family `d` holds a JSON
/// event detail and a device string built from a small vocabulary (what a dictionary
/// learns), family `m` one short random cell; every fifth row has a column of its own.
fn rows(rng: &mut Rng, from: u64, n: u64, ts: Timestamp) -> Vec<RowMutation> {
    const PAGES: &[&str] = &[
        "/home",
        "/cart",
        "/checkout",
        "/product",
        "/search",
        "/account",
    ];
    const EVENTS: &[&str] = &["page_view", "add_to_cart", "click", "purchase", "scroll"];
    const AGENTS: &[&str] = &[
        "Mozilla/5.0 (X11; Linux)",
        "Mozilla/5.0 (iPhone)",
        "curl/8.1",
    ];
    (from..from + n)
        .map(|i| {
            let session = format!("{:08x}", rng.next() as u32);
            let key = format!(
                "{session}#2020-09-13T12:{:02}:{:02}Z#{i:05}",
                i / 60 % 60,
                i % 60
            );
            let t = ts + i as i64;
            let details = format!(
                r#"{{"event":"{}","page":"{}","product_id":{},"position":{}}}"#,
                pick(rng, EVENTS),
                pick(rng, PAGES),
                rng.next() % 5000,
                rng.next() % 40
            );
            let mut mutations = vec![
                set("d", "event_details", details.as_bytes(), t),
                set("d", "user_agent", pick(rng, AGENTS).as_bytes(), t),
                set("m", "x", &rng.value(), t),
            ];
            if i % 5 == 0 {
                mutations.push(set("d", &format!("extra_{i}"), &rng.value(), t));
            }
            RowMutation {
                row: key.into_bytes().into(),
                mutations,
            }
        })
        .collect()
}

/// Write the v6 store into `dir` (which must be empty) and return the dump of what it holds.
fn generate(dir: &Path) -> String {
    let mut rng = Rng(SEED);
    let db = Db::open(dir, options()).expect("open");
    let d = FamilyOptions {
        block_size: 1024,
        ..FamilyOptions::new("d")
    };
    db.create_table("clicks", vec![d, FamilyOptions::new("m")])
        .expect("create");
    db.mutate_rows("clicks", rows(&mut rng, 0, FLUSHED_ROWS, BASE_TS))
        .expect("write");
    db.flush("clicks").expect("flush");
    // Never flushed: a few more rows and a delete in the WAL.
    db.mutate_rows("clicks", rows(&mut rng, FLUSHED_ROWS, 10, BASE_TS + 1000))
        .expect("write");
    let first = rows(&mut Rng(SEED), 0, 1, BASE_TS).remove(0).row;
    let delete = RowMutation {
        row: first,
        mutations: vec![Mutation::DeleteFamily { family: "m".into() }],
    };
    db.mutate_rows("clicks", vec![delete]).expect("delete");
    let dump = dump(&db);
    // Abandoned, not closed: close would flush the memtables and empty the WAL.
    drop(db);
    dump
}

#[test]
#[ignore = "writes the frozen fixture; run by hand only to create a new fixture directory"]
fn write_v6_fixture() {
    write_fixture(&fixture_dir(), generate);
}

#[test]
fn v6_store_with_a_dictionary_reads_back() {
    let tmp = tempfile::tempdir().expect("tempdir");
    copy_dir(&fixture_dir(), tmp.path());
    let expected = std::fs::read_to_string(tmp.path().join("expected.txt")).expect("expected");
    let db = Db::open(tmp.path(), options()).expect("open the v6 store");
    assert_eq!(dump(&db), expected, "the v6 store reads back differently");
    db.compact("clicks", true).expect("compact");
    assert_eq!(dump(&db), expected, "compaction changed the v6 data");
    db.close().expect("close");
    drop(db);
    let db = Db::open(tmp.path(), options()).expect("reopen");
    assert_eq!(dump(&db), expected, "reopen changed the v6 data");
}
