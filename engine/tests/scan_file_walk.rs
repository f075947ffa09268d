//! Scans of rows that table files hold alone (one flushed or compacted file, or the
//! disjoint files of a bulk load, with nothing in the memtable) are read by walking the
//! files' blocks (`scan/file_walk.rs`) instead of merging cells. Their rows must equal what
//! point gets return (a get resolves the same row through the merged-entry rules) for every
//! read shape: whole table, one family, chosen columns, several versions, time ranges, TTL,
//! deletes, bounds and limits; and again once writes sit in the memtable (merged scans).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

mod support;

use proptest::prelude::*;
use strata_engine::{
    ColumnSelector, Db, DbOptions, FamilyOptions, Mutation, ReadOptions, RowMutation, SyncMode,
    TimeRange, now_micros,
};

const QUALS: [&str; 3] = ["a", "b", "c"];

#[derive(Clone, Debug)]
enum Op {
    Put {
        row: u8,
        fam: u8,
        q: u8,
        ts: u8,
        v: u8,
    },
    DeleteColumn {
        row: u8,
        fam: u8,
        q: u8,
    },
    DeleteFamily {
        row: u8,
        fam: u8,
    },
    DeleteRow {
        row: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..40u8, 0..3u8, 0..3u8, 0..4u8, any::<u8>())
            .prop_map(|(row, fam, q, ts, v)| Op::Put { row, fam, q, ts, v }),
        1 => (0..40u8, 0..3u8, 0..3u8).prop_map(|(row, fam, q)| Op::DeleteColumn { row, fam, q }),
        1 => (0..40u8, 0..3u8).prop_map(|(row, fam)| Op::DeleteFamily { row, fam }),
        1 => (0..40u8).prop_map(|row| Op::DeleteRow { row }),
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
    /// Timestamps 0 and 1 are two hours old (past `f2`'s TTL), 2 and 3 recent.
    fn stamp(&self, ts: u8) -> i64 {
        if ts < 2 {
            self.base + i64::from(ts)
        } else {
            now_micros() - 1_000 + i64::from(ts)
        }
    }

    fn apply(&self, op: &Op) {
        let (row, m) = match *op {
            Op::Put { row, fam, q, ts, v } => (
                row,
                Mutation::SetCell {
                    family: family(fam).into(),
                    qualifier: QUALS[q as usize].into(),
                    value: vec![v; 1 + usize::from(v % 5)].into(),
                    timestamp: self.stamp(ts),
                },
            ),
            Op::DeleteColumn { row, fam, q } => (
                row,
                Mutation::DeleteCells {
                    family: family(fam).into(),
                    qualifier: QUALS[q as usize].into(),
                    timestamp: 0,
                },
            ),
            Op::DeleteFamily { row, fam } => (
                row,
                Mutation::DeleteFamily {
                    family: family(fam).into(),
                },
            ),
            Op::DeleteRow { row } => (row, Mutation::DeleteRow),
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
                max_versions: 3,
                time_range: recent,
                ..ReadOptions::default()
            },
        ]
    }

    /// Every read shape: the scan's rows equal the gets of every row, and bounded or
    /// limited scans their part of it.
    fn check(&self, when: &str) {
        let keys: Vec<Vec<u8>> = (0..40u8).map(row_key).collect();
        support::assert_scans_equal_gets(
            &self.db,
            "t",
            &keys,
            &self.shapes(),
            (row_key(7), row_key(30)),
            when,
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn scans_of_files_alone_equal_the_gets(ops in proptest::collection::vec(op(), 1..200)) {
        let s = store();
        let half = ops.len() / 2;
        for op in &ops[..half] {
            s.apply(op);
        }
        s.db.flush("t").unwrap();
        s.check("one flushed file");
        for op in &ops[half..] {
            s.apply(op);
        }
        s.check("a file and the memtable");
        s.db.flush("t").unwrap();
        s.check("two overlapping files");
        s.db.compact("t", true).unwrap();
        s.check("one compacted file");
    }
}
