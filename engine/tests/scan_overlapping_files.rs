//! Forward scans over several overlapping table files with no memtable row in their range
//! (what flushes of the same rows leave before compaction) merge the files row by row
//! (`scan/row_merge.rs`) instead of merging cells through a heap. Their rows must equal what
//! point gets return (a get resolves the same row through the merged-entry rules) over 2-4
//! overlapping files, for every read shape (whole table, one family, chosen columns,
//! several versions, time ranges, TTL, bounds, limits) and every kind of delete (one
//! version, a column, a column up to a timestamp, a family, a family up to a timestamp, a
//! row, a row up to a timestamp); and again once rows sit in the memtable (merged scans),
//! and for a scan that re-opens onto a newer file it must not see (its snapshot).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::time::Duration;

mod support;

use proptest::prelude::*;
use strata_engine::{
    ColumnSelector, Db, DbOptions, FamilyOptions, Mutation, ReadOptions, Row, RowMutation,
    ScanOptions, SyncMode, TimeRange, now_micros,
};

const QUALS: [&str; 3] = ["a", "b", "c"];
const ROWS: u8 = 24;

#[derive(Clone, Debug)]
enum Op {
    Put {
        row: u8,
        fam: u8,
        q: u8,
        ts: u8,
        v: u8,
    },
    DeleteCell {
        row: u8,
        fam: u8,
        q: u8,
        ts: u8,
    },
    DeleteColumn {
        row: u8,
        fam: u8,
        q: u8,
    },
    DeleteColumnUpTo {
        row: u8,
        fam: u8,
        q: u8,
        ts: u8,
    },
    DeleteFamily {
        row: u8,
        fam: u8,
    },
    DeleteFamilyUpTo {
        row: u8,
        fam: u8,
        ts: u8,
    },
    DeleteRow {
        row: u8,
    },
    DeleteRowUpTo {
        row: u8,
        ts: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let row = 0..ROWS;
    prop_oneof![
        12 => (row.clone(), 0..3u8, 0..3u8, 0..5u8, any::<u8>())
            .prop_map(|(row, fam, q, ts, v)| Op::Put { row, fam, q, ts, v }),
        1 => (row.clone(), 0..3u8, 0..3u8, 0..5u8)
            .prop_map(|(row, fam, q, ts)| Op::DeleteCell { row, fam, q, ts }),
        1 => (row.clone(), 0..3u8, 0..3u8).prop_map(|(row, fam, q)| Op::DeleteColumn { row, fam, q }),
        1 => (row.clone(), 0..3u8, 0..3u8, 0..5u8)
            .prop_map(|(row, fam, q, ts)| Op::DeleteColumnUpTo { row, fam, q, ts }),
        1 => (row.clone(), 0..3u8).prop_map(|(row, fam)| Op::DeleteFamily { row, fam }),
        1 => (row.clone(), 0..3u8, 0..5u8).prop_map(|(row, fam, ts)| Op::DeleteFamilyUpTo { row, fam, ts }),
        1 => row.clone().prop_map(|row| Op::DeleteRow { row }),
        1 => (row, 0..5u8).prop_map(|(row, ts)| Op::DeleteRowUpTo { row, ts }),
    ]
}

/// Families: `f0` keeps 1 version, `f1` 3, `f2` has a TTL that the old puts are past.
fn family(f: u8) -> String {
    format!("f{f}")
}

struct Store {
    _dir: tempfile::TempDir,
    db: Db,
    base: i64,
}

fn store() -> Store {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(
        dir.path(),
        DbOptions {
            sync_mode: SyncMode::None,
            background_threads: false,
            ..DbOptions::default()
        },
    )
    .unwrap();
    let mut f1 = FamilyOptions::new("f1");
    f1.max_versions = 3;
    let mut f2 = FamilyOptions::new("f2");
    f2.ttl_seconds = 3600;
    db.create_table("t", vec![FamilyOptions::new("f0"), f1, f2])
        .unwrap();
    Store {
        _dir: dir,
        db,
        base: now_micros() - 2 * 3600 * 1_000_000,
    }
}

fn row_key(r: u8) -> Vec<u8> {
    format!("row{r:03}").into_bytes()
}

impl Store {
    /// Timestamps 0 and 1 are two hours old (past `f2`'s TTL), 2 to 4 recent.
    fn stamp(&self, ts: u8) -> i64 {
        if ts < 2 {
            self.base + i64::from(ts)
        } else {
            now_micros() - 1_000 + i64::from(ts)
        }
    }

    fn apply(&self, op: &Op) {
        let fam = |f: u8| family(f);
        let q = |q: u8| bytes::Bytes::from(QUALS[q as usize]);
        let (row, m) = match *op {
            Op::Put {
                row,
                fam: f,
                q: c,
                ts,
                v,
            } => (
                row,
                Mutation::SetCell {
                    family: fam(f).into(),
                    qualifier: q(c),
                    value: vec![v; 1 + usize::from(v % 5)].into(),
                    timestamp: self.stamp(ts),
                },
            ),
            Op::DeleteCell {
                row,
                fam: f,
                q: c,
                ts,
            } => (
                row,
                Mutation::DeleteCells {
                    family: fam(f).into(),
                    qualifier: q(c),
                    timestamp: self.stamp(ts),
                },
            ),
            Op::DeleteColumn { row, fam: f, q: c } => (
                row,
                Mutation::DeleteCells {
                    family: fam(f).into(),
                    qualifier: q(c),
                    timestamp: 0,
                },
            ),
            Op::DeleteColumnUpTo {
                row,
                fam: f,
                q: c,
                ts,
            } => (
                row,
                Mutation::DeleteColumnUpTo {
                    family: fam(f).into(),
                    qualifier: q(c),
                    timestamp: self.stamp(ts),
                },
            ),
            Op::DeleteFamily { row, fam: f } => (
                row,
                Mutation::DeleteFamily {
                    family: fam(f).into(),
                },
            ),
            Op::DeleteFamilyUpTo { row, fam: f, ts } => (
                row,
                Mutation::DeleteFamilyUpTo {
                    family: fam(f).into(),
                    timestamp: self.stamp(ts),
                },
            ),
            Op::DeleteRow { row } => (row, Mutation::DeleteRow),
            Op::DeleteRowUpTo { row, ts } => (
                row,
                Mutation::DeleteRowUpTo {
                    timestamp: self.stamp(ts),
                },
            ),
        };
        self.db
            .mutate_rows(
                "t",
                vec![RowMutation {
                    row: row_key(row).into(),
                    mutations: vec![m],
                }],
            )
            .unwrap();
    }

    fn shapes(&self) -> Vec<ReadOptions> {
        let recent = TimeRange {
            start: self.stamp(2),
            end: None,
        };
        vec![
            ReadOptions::default(),
            ReadOptions {
                max_versions: 3,
                ..ReadOptions::default()
            },
            ReadOptions {
                columns: vec![ColumnSelector {
                    family: "f1".into(),
                    qualifier: None,
                }],
                max_versions: 2,
                ..ReadOptions::default()
            },
            ReadOptions {
                columns: vec![
                    ColumnSelector {
                        family: "f0".into(),
                        qualifier: Some(b"b".to_vec()),
                    },
                    ColumnSelector {
                        family: "f2".into(),
                        qualifier: None,
                    },
                ],
                ..ReadOptions::default()
            },
            ReadOptions {
                max_versions: 2,
                time_range: recent,
                ..ReadOptions::default()
            },
        ]
    }

    /// Every read shape: the scan's rows equal the gets of every row, and bounded or
    /// limited scans their part of it.
    fn check(&self, when: &str) {
        let keys: Vec<Vec<u8>> = (0..ROWS).map(row_key).collect();
        support::assert_scans_equal_gets(
            &self.db,
            "t",
            &keys,
            &self.shapes(),
            (row_key(4), row_key(18)),
            when,
        );
    }

    /// The whole table's rows as one scan reads them.
    fn scan_all(&self) -> Vec<Row> {
        self.db
            .scan("t", ScanOptions::default())
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn scans_over_overlapping_files_equal_the_gets(
        ops in proptest::collection::vec(op(), 4..240),
        files in 2..=4usize,
        tail in proptest::collection::vec(op(), 1..30),
        later in proptest::collection::vec(op(), 1..30),
    ) {
        let s = store();
        let per = ops.len().div_ceil(files);
        for (n, chunk) in ops.chunks(per).enumerate() {
            for op in chunk {
                s.apply(op);
            }
            s.db.flush("t").unwrap();
            s.check(&format!("{} flushed files", n + 1));
        }
        for op in &tail {
            s.apply(op);
        }
        s.check("overlapping files and the memtable");
        s.db.flush("t").unwrap();
        s.check("overlapping files, the last flushed");
        // A scan that re-opens after a newer file arrives reads its own snapshot, not it.
        let before = s.scan_all();
        let mut scan = s.db.scan("t", ScanOptions::default()).unwrap();
        scan.reseek_every(2, Duration::ZERO);
        let mut read: Vec<Row> = scan.by_ref().take(3).map(Result::unwrap).collect();
        for op in &later {
            s.apply(op);
        }
        s.db.flush("t").unwrap();
        read.extend(scan.map(Result::unwrap));
        prop_assert_eq!(read, before, "a re-opened scan reads its snapshot");
        s.check("after a newer file");
    }
}
