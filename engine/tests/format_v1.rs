//! The v1 on-disk formats are frozen: `tests/fixtures/v1/` is a small store written by the
//! v1 code (manifest, SSTables of several families with puts and every delete kind, flushed,
//! compacted and ingested files, and WAL segments that were never flushed). This test opens
//! a copy of it with today's code and checks every cell against `expected.txt`, which the
//! same generator dumped from the live store before it was abandoned.
//!
//! The fixture is never regenerated: a format change bumps that format's version, keeps a
//! reader for v1 (this test must keep passing) and adds a `fixtures/v2`. The companion unit
//! test `frozen_formats` (engine/src/frozen_formats.rs) re-encodes the fixture's contents
//! with today's encoders and fails on any byte that differs.
//!
//! Regenerating (only when creating a new fixture directory):
//! `cargo test -p strata-engine --test format_v1 -- --ignored write_v1_fixture`

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::fmt::Write as _;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use strata_engine::sstable::{TableBuildOptions, TableBuilder};
use strata_engine::{
    AlterTable, CellKind, CellRef, Compression, Db, DbOptions, FamilyOptions, Mutation,
    ReadOptions, RowMutation, ScanOptions, SyncMode, Timestamp,
};

/// The generator's seed (its pseudo-random values are a pure function of it).
const SEED: u64 = 0x5354_5241_5441_0001;
/// Timestamps start here (2020-09-13): far from `now`, and no family's TTL reaches them
/// before 2120.
const BASE_TS: Timestamp = 1_600_000_000_000_000;
/// A 100-year TTL: an option the manifest must keep, that expires nothing.
const CENTURY_SECONDS: u64 = 100 * 365 * 24 * 3600;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1")
}

/// splitmix64: a generator whose output can never change under us (a library RNG may).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn value(&mut self) -> Vec<u8> {
        let len = (self.next() % 24) as usize;
        (0..len).map(|_| b'a' + (self.next() % 26) as u8).collect()
    }
}

fn options() -> DbOptions {
    DbOptions {
        sync_mode: SyncMode::Always,
        // Nothing flushes on its own: the generator decides every flush.
        memtable_bytes: 64 << 20,
        // Small segments, so some are deleted by flushes and several stay.
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

fn row(key: &[u8], mutations: Vec<Mutation>) -> RowMutation {
    RowMutation {
        row: key.to_vec().into(),
        mutations,
    }
}

fn key(i: u64) -> Vec<u8> {
    format!("r{i:03}").into_bytes()
}

/// Write the v1 store into `dir` (which must be empty) and return the dump of what it holds.
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
    db.create_table(
        "events",
        vec![
            FamilyOptions {
                max_versions: 2,
                ..FamilyOptions::new("e")
            },
            FamilyOptions {
                compression: Compression::None,
                ..FamilyOptions::new("m")
            },
        ],
    )
    .expect("create events");
    db.create_table("gone", vec![FamilyOptions::new("g")])
        .expect("create gone");

    // Round 1: every family, several versions of b; a binary row key and qualifier.
    let mut rows = Vec::new();
    for i in 0..20 {
        let ts = BASE_TS + i as i64;
        let mut m = vec![
            set("a", b"x", rng.value(), ts),
            set("a", b"y", rng.value(), ts),
            set("c", b"z", rng.value(), ts),
        ];
        for v in 0..3 {
            m.push(set("b", b"q", rng.value(), ts + v));
        }
        rows.push(row(&key(i), m));
    }
    rows.push(row(
        &[0x00, 0xff, b'k'],
        vec![set("a", &[0x01, 0x80], vec![0xfe, 0x00], BASE_TS)],
    ));
    db.mutate_rows("orders", rows).expect("round 1");
    db.mutate_row(
        "gone",
        row(b"g1", vec![set("g", b"q", rng.value(), BASE_TS)]),
    )
    .expect("gone");
    db.drop_table("gone").expect("drop gone");
    db.flush("orders").expect("flush 1");

    // Round 2: overwrites at the same timestamp and new versions, then both flushes merge.
    let mut rows = Vec::new();
    for i in (0..20).step_by(3) {
        let ts = BASE_TS + i as i64;
        rows.push(row(
            &key(i),
            vec![
                set("a", b"x", rng.value(), ts),
                set("b", b"q", rng.value(), ts + 10),
            ],
        ));
    }
    db.mutate_rows("orders", rows).expect("round 2");
    db.flush("orders").expect("flush 2");
    db.compact("orders", true).expect("major compaction");

    // Round 3: every delete kind, each followed by a put that must stay visible.
    let deletes = vec![
        row(
            &key(1),
            vec![Mutation::DeleteCells {
                family: "b".into(),
                qualifier: b"q".to_vec().into(),
                timestamp: BASE_TS + 2,
            }],
        ),
        row(
            &key(2),
            vec![
                Mutation::DeleteCells {
                    family: "a".into(),
                    qualifier: b"x".to_vec().into(),
                    timestamp: 0,
                },
                set("a", b"x", b"after-column-delete".to_vec(), BASE_TS - 5),
            ],
        ),
        row(
            &key(4),
            vec![
                Mutation::DeleteFamily { family: "c".into() },
                set("c", b"w", rng.value(), BASE_TS),
            ],
        ),
        row(&key(5), vec![Mutation::DeleteRow]),
        row(
            &key(7),
            vec![Mutation::DeleteRow, set("a", b"y", b"".to_vec(), BASE_TS)],
        ),
    ];
    db.mutate_rows("orders", deletes).expect("round 3");
    db.flush("orders").expect("flush 3");

    // Events: an ingested file (one global sequence number), flushed writes, and an alter
    // that re-creates family m (its old cells must stay hidden) and widens e.
    let ingest_path = db.ingest_dirs()[0].join("ingest.sst");
    let fs = strata_engine::fs::real();
    let mut b = TableBuilder::new(
        &fs,
        &ingest_path,
        TableBuildOptions {
            families: vec![FamilyOptions::new("e"), FamilyOptions::new("m")],
        },
    )
    .expect("builder");
    for i in 0..8u64 {
        let k = format!("ev{i:02}").into_bytes();
        for (family, q) in [("e", b"kind".as_slice()), ("m", b"meta".as_slice())] {
            let v = rng.value();
            b.add(&CellRef {
                row: &k,
                family,
                kind: CellKind::Put,
                qualifier: q,
                ts: BASE_TS + i as i64,
                seq: 0,
                value: &v,
            })
            .expect("add");
        }
    }
    b.finish().expect("finish");
    db.ingest("events", &[ingest_path], "fixture-load-1")
        .expect("ingest");
    let rows = (4..12u64)
        .map(|i| {
            let k = format!("ev{i:02}").into_bytes();
            row(
                &k,
                vec![
                    set("e", b"kind", rng.value(), BASE_TS + 100 + i as i64),
                    set("m", b"meta", rng.value(), BASE_TS + 100),
                ],
            )
        })
        .collect();
    db.mutate_rows("events", rows).expect("events writes");
    db.flush("events").expect("flush events");
    db.alter_table(
        "events",
        AlterTable {
            add: vec![FamilyOptions::new("m")],
            drop: vec!["m".into()],
            modify: vec![FamilyOptions {
                max_versions: 3,
                ..FamilyOptions::new("e")
            }],
        },
    )
    .expect("alter events");

    // Never flushed: these live only in the WAL segments.
    let mut rows = Vec::new();
    for i in 15..25 {
        let ts = BASE_TS + 1000 + i as i64;
        rows.push(row(
            &key(i),
            vec![
                set("a", b"x", rng.value(), ts),
                set("c", b"z", rng.value(), ts),
            ],
        ));
    }
    rows.push(row(
        &key(3),
        vec![
            Mutation::DeleteCells {
                family: "b".into(),
                qualifier: b"q".to_vec().into(),
                timestamp: 0,
            },
            Mutation::DeleteFamily { family: "c".into() },
        ],
    ));
    rows.push(row(&key(6), vec![Mutation::DeleteRow]));
    for r in rows {
        db.mutate_row("orders", r).expect("unflushed orders");
    }
    db.mutate_row(
        "events",
        row(
            b"ev01",
            vec![
                set("e", b"kind", rng.value(), BASE_TS + 500),
                set("m", b"meta", rng.value(), BASE_TS + 500),
            ],
        ),
    )
    .expect("unflushed events");
    let dump = dump(&db);
    // Abandoned, not closed: close would flush the memtables and empty the WAL.
    drop(db);
    dump
}

/// Every table's families and every version of every cell, one line each.
fn dump(db: &Db) -> String {
    let mut out = String::new();
    for table in db.list_tables() {
        let d = db.describe_table(&table).expect("describe");
        writeln!(out, "table {table}").unwrap();
        for f in &d.families {
            writeln!(out, "  family {f:?}").unwrap();
        }
        let scan = db
            .scan(
                &table,
                ScanOptions {
                    start: Bound::Unbounded,
                    read: ReadOptions {
                        max_versions: 100,
                        ..ReadOptions::default()
                    },
                    ..ScanOptions::default()
                },
            )
            .expect("scan");
        for r in scan {
            let r = r.expect("row");
            for c in &r.cells {
                writeln!(
                    out,
                    "  {} {}:{} @{} = {}",
                    r.key.escape_ascii(),
                    c.family,
                    c.qualifier.escape_ascii(),
                    c.timestamp,
                    c.value.escape_ascii()
                )
                .unwrap();
            }
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

#[test]
#[ignore = "writes the frozen fixture; run by hand only to create a new fixture directory"]
fn write_v1_fixture() {
    let dir = fixture_dir();
    assert!(
        !dir.join("MANIFEST").exists(),
        "{} already holds a fixture: frozen formats are never regenerated",
        dir.display()
    );
    let dump = generate(&dir);
    std::fs::remove_file(dir.join("LOCK")).expect("remove LOCK");
    std::fs::write(dir.join("expected.txt"), dump).expect("write expected.txt");
}

#[test]
fn v1_store_opens_and_every_cell_reads_back() {
    let tmp = tempfile::tempdir().expect("tempdir");
    copy_dir(&fixture_dir(), tmp.path());
    let expected = std::fs::read_to_string(tmp.path().join("expected.txt")).expect("expected");
    let db = Db::open(tmp.path(), options()).expect("open the v1 store");
    assert_eq!(dump(&db), expected, "the v1 store reads back differently");

    // The old files take part in everything a store does: flush, a major compaction that
    // merges them, a reopen. What reads return stays the same.
    for t in db.list_tables() {
        db.flush(&t).expect("flush");
        db.compact(&t, true).expect("compact");
    }
    assert_eq!(
        dump(&db),
        expected,
        "flush + compaction changed the v1 data"
    );
    db.close().expect("close");
    drop(db);
    let db = Db::open(tmp.path(), options()).expect("reopen");
    assert_eq!(dump(&db), expected, "reopen changed the v1 data");
    // Sequence numbers continue above the old ones: a new write is visible over them.
    db.mutate_row(
        "orders",
        row(&key(0), vec![set("a", b"x", b"new".to_vec(), BASE_TS)]),
    )
    .expect("write");
    let got = db
        .get("orders", &key(0), &ReadOptions::default())
        .expect("get")
        .expect("row");
    assert!(
        got.cells
            .iter()
            .any(|c| &*c.family == "a" && c.value.as_ref() == b"new"),
        "{got:?}"
    );
}
