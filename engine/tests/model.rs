//! Model-based test: random sequences of puts, the four delete kinds, gets, scans, flushes,
//! compactions and reopens, checked against a plain in-memory model of BRIEF section 3's
//! semantics (a delete hides only what was written before it; same coordinates, later
//! write wins; a family keeps its newest `max_versions` live versions).
//!
//! Family "a" keeps 1000 versions and receives every delete kind; family "b" keeps 2 and
//! receives no single-version deletes (compaction drops versions beyond the limit, and a
//! later single-version delete could then not uncover them: a documented limit).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::collections::BTreeMap;
use std::ops::Bound;

use proptest::prelude::*;
use strata_engine::{
    ColumnSelector, Db, DbOptions, FamilyOptions, Mutation, ReadOptions, RowMutation, ScanOptions,
    SyncMode,
};

#[derive(Clone, Debug)]
enum Op {
    Put {
        row: u8,
        fam: u8,
        qual: u8,
        ts: i64,
        val: u16,
    },
    DeleteCell {
        row: u8,
        qual: u8,
        ts: i64,
    },
    DeleteColumn {
        row: u8,
        fam: u8,
        qual: u8,
    },
    DeleteFamily {
        row: u8,
        fam: u8,
    },
    DeleteRow {
        row: u8,
    },
    Get {
        row: u8,
        versions: u32,
        fam: Option<u8>,
    },
    Scan {
        start: u8,
        stop: u8,
        versions: u32,
        limit: u64,
    },
    Flush,
    Compact {
        major: bool,
    },
    Reopen {
        clean: bool,
    },
}

fn fam_name(f: u8) -> &'static str {
    if f.is_multiple_of(2) { "a" } else { "b" }
}
fn row_key(r: u8) -> Vec<u8> {
    format!("row{:02}", r % 12).into_bytes()
}
fn qual(q: u8) -> Vec<u8> {
    vec![b'q', b'0' + (q % 3)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (any::<u8>(), any::<u8>(), any::<u8>(), 1i64..6, any::<u16>())
            .prop_map(|(row, fam, qual, ts, val)| Op::Put { row, fam, qual, ts, val }),
        2 => (any::<u8>(), any::<u8>(), 1i64..6).prop_map(|(row, qual, ts)| Op::DeleteCell { row, qual, ts }),
        2 => (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(row, fam, qual)| Op::DeleteColumn { row, fam, qual }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(row, fam)| Op::DeleteFamily { row, fam }),
        1 => any::<u8>().prop_map(|row| Op::DeleteRow { row }),
        4 => (any::<u8>(), 1u32..4, proptest::option::of(any::<u8>()))
            .prop_map(|(row, versions, fam)| Op::Get { row, versions, fam }),
        2 => (any::<u8>(), any::<u8>(), 1u32..4, 0u64..4)
            .prop_map(|(start, stop, versions, limit)| Op::Scan { start, stop, versions, limit }),
        1 => Just(Op::Flush),
        1 => any::<bool>().prop_map(|major| Op::Compact { major }),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
    ]
}

/// One write as the model stores it, in write order.
#[derive(Clone, Debug)]
enum Write {
    Put {
        row: Vec<u8>,
        fam: &'static str,
        qual: Vec<u8>,
        ts: i64,
        val: Vec<u8>,
    },
    DeleteCell {
        row: Vec<u8>,
        fam: &'static str,
        qual: Vec<u8>,
        ts: i64,
    },
    DeleteColumn {
        row: Vec<u8>,
        fam: &'static str,
        qual: Vec<u8>,
    },
    DeleteFamily {
        row: Vec<u8>,
        fam: &'static str,
    },
}

/// Timestamp -> (write index, value) of one column.
type Versions = BTreeMap<i64, (usize, Vec<u8>)>;

type Visible = Vec<(String, Vec<u8>, i64, Vec<u8>)>;

#[derive(Default)]
struct Model {
    writes: Vec<Write>,
}

impl Model {
    /// Visible cells of a row: family, qualifier, ts desc.
    fn row(&self, row: &[u8], versions: u32, fam_filter: Option<&str>) -> Visible {
        // (fam, qual) -> ts -> (write index, value)
        let mut cols: BTreeMap<(&str, Vec<u8>), Versions> = BTreeMap::new();
        for (i, w) in self.writes.iter().enumerate() {
            if let Write::Put {
                row: r,
                fam,
                qual,
                ts,
                val,
            } = w
                && r.as_slice() == row
            {
                cols.entry((fam, qual.clone()))
                    .or_default()
                    .insert(*ts, (i, val.clone()));
            }
        }
        let covered = |i: usize, fam: &str, qual: &[u8], ts: i64| {
            self.writes[i + 1..].iter().any(|w| match w {
                Write::DeleteCell {
                    row: r,
                    fam: f,
                    qual: q,
                    ts: t,
                } => r.as_slice() == row && *f == fam && q.as_slice() == qual && *t == ts,
                Write::DeleteColumn {
                    row: r,
                    fam: f,
                    qual: q,
                } => r.as_slice() == row && *f == fam && q.as_slice() == qual,
                Write::DeleteFamily { row: r, fam: f } => r.as_slice() == row && *f == fam,
                Write::Put { .. } => false,
            })
        };
        let mut out = Vec::new();
        for ((fam, qual), versions_map) in &cols {
            if fam_filter.is_some_and(|f| f != *fam) {
                continue;
            }
            let keep = if *fam == "a" { 1000 } else { 2 };
            let live: Vec<(i64, &Vec<u8>)> = versions_map
                .iter()
                .rev()
                .filter(|(ts, (i, _))| !covered(*i, fam, qual, **ts))
                .map(|(ts, (_, v))| (*ts, v))
                .take(keep)
                .collect();
            for (ts, v) in live.into_iter().take(versions as usize) {
                out.push((fam.to_string(), qual.clone(), ts, v.clone()));
            }
        }
        out
    }
}

fn cells(r: &strata_engine::Row) -> Visible {
    r.cells
        .iter()
        .map(|c| {
            (
                c.family.to_string(),
                c.qualifier.to_vec(),
                c.timestamp,
                c.value.to_vec(),
            )
        })
        .collect()
}

fn open(dir: &std::path::Path, small_memtable: bool) -> Db {
    let opts = DbOptions {
        sync_mode: SyncMode::None,
        memtable_bytes: if small_memtable { 2048 } else { 64 << 20 },
        background_threads: small_memtable,
        ..DbOptions::default()
    };
    // A background thread of a dropped instance may hold the directory lock a moment longer.
    for _ in 0..200 {
        match Db::open(dir, opts.clone()) {
            Err(strata_engine::Error::Locked { .. }) => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            other => return other.expect("open"),
        }
    }
    panic!("store stayed locked");
}

fn run(ops: Vec<Op>, small_memtable: bool) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut db = open(dir.path(), small_memtable);
    db.create_table(
        "t",
        vec![
            FamilyOptions {
                max_versions: 1000,
                block_size: 1024,
                ..FamilyOptions::new("a")
            },
            FamilyOptions {
                max_versions: 2,
                block_size: 1024,
                ..FamilyOptions::new("b")
            },
        ],
    )
    .expect("create");
    let mut model = Model::default();
    for op in ops {
        match op {
            Op::Put {
                row,
                fam,
                qual: q,
                ts,
                val,
            } => {
                let (row, fam, q, val) = (
                    row_key(row),
                    fam_name(fam),
                    qual(q),
                    val.to_string().into_bytes(),
                );
                db.mutate_row(
                    "t",
                    RowMutation {
                        row: row.clone().into(),
                        mutations: vec![Mutation::SetCell {
                            family: fam.into(),
                            qualifier: q.clone().into(),
                            value: val.clone().into(),
                            timestamp: ts,
                        }],
                    },
                )
                .expect("put");
                model.writes.push(Write::Put {
                    row,
                    fam,
                    qual: q,
                    ts,
                    val,
                });
            }
            Op::DeleteCell { row, qual: q, ts } => {
                let (row, q) = (row_key(row), qual(q));
                db.mutate_row(
                    "t",
                    RowMutation {
                        row: row.clone().into(),
                        mutations: vec![Mutation::DeleteCells {
                            family: "a".into(),
                            qualifier: q.clone().into(),
                            timestamp: ts,
                        }],
                    },
                )
                .expect("delete cell");
                model.writes.push(Write::DeleteCell {
                    row,
                    fam: "a",
                    qual: q,
                    ts,
                });
            }
            Op::DeleteColumn { row, fam, qual: q } => {
                let (row, fam, q) = (row_key(row), fam_name(fam), qual(q));
                db.mutate_row(
                    "t",
                    RowMutation {
                        row: row.clone().into(),
                        mutations: vec![Mutation::DeleteCells {
                            family: fam.into(),
                            qualifier: q.clone().into(),
                            timestamp: 0,
                        }],
                    },
                )
                .expect("delete column");
                model.writes.push(Write::DeleteColumn { row, fam, qual: q });
            }
            Op::DeleteFamily { row, fam } => {
                let (row, fam) = (row_key(row), fam_name(fam));
                db.mutate_row(
                    "t",
                    RowMutation {
                        row: row.clone().into(),
                        mutations: vec![Mutation::DeleteFamily { family: fam.into() }],
                    },
                )
                .expect("delete family");
                model.writes.push(Write::DeleteFamily { row, fam });
            }
            Op::DeleteRow { row } => {
                let row = row_key(row);
                db.mutate_row(
                    "t",
                    RowMutation {
                        row: row.clone().into(),
                        mutations: vec![Mutation::DeleteRow],
                    },
                )
                .expect("delete row");
                model.writes.push(Write::DeleteFamily {
                    row: row.clone(),
                    fam: "a",
                });
                model.writes.push(Write::DeleteFamily { row, fam: "b" });
            }
            Op::Get { row, versions, fam } => {
                let row = row_key(row);
                let fam = fam.map(fam_name);
                let opts = ReadOptions {
                    columns: fam
                        .map(|f| {
                            vec![ColumnSelector {
                                family: f.into(),
                                qualifier: None,
                            }]
                        })
                        .unwrap_or_default(),
                    max_versions: versions,
                    ..ReadOptions::default()
                };
                let got = db
                    .get("t", &row, &opts)
                    .expect("get")
                    .map(|r| cells(&r))
                    .unwrap_or_default();
                let want = model.row(&row, versions, fam);
                prop_assert_eq!(got, want, "get {:?}", String::from_utf8_lossy(&row));
            }
            Op::Scan {
                start,
                stop,
                versions,
                limit,
            } => {
                let (a, b) = (row_key(start), row_key(stop));
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                let opts = ScanOptions {
                    start: Bound::Included(lo.clone()),
                    stop: Bound::Excluded(hi.clone()),
                    read: ReadOptions {
                        max_versions: versions,
                        ..ReadOptions::default()
                    },
                    limit,
                    ..ScanOptions::default()
                };
                let got: Vec<(Vec<u8>, Visible)> = db
                    .scan("t", opts)
                    .expect("scan")
                    .map(|r| r.map(|r| (r.key.clone(), cells(&r))))
                    .collect::<Result<_, _>>()
                    .expect("scan rows");
                let mut want = Vec::new();
                for r in 0..12u8 {
                    let k = row_key(r);
                    if k < lo || k >= hi {
                        continue;
                    }
                    let v = model.row(&k, versions, None);
                    if !v.is_empty() {
                        want.push((k, v));
                    }
                }
                want.sort();
                if limit > 0 {
                    want.truncate(limit as usize);
                }
                prop_assert_eq!(got, want, "scan {:?}..{:?}", lo, hi);
            }
            Op::Flush => db.flush("t").expect("flush"),
            Op::Compact { major } => db.compact("t", major).expect("compact"),
            Op::Reopen { clean } => {
                // Unclean: drop without close, so the reopen replays the WAL.
                if clean {
                    db.close().expect("close");
                }
                drop(db);
                db = open(dir.path(), small_memtable);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_model(ops in proptest::collection::vec(op(), 1..80)) {
        run(ops, false)?;
    }

    #[test]
    fn engine_matches_model_with_background_flushes(ops in proptest::collection::vec(op(), 1..80)) {
        run(ops, true)?;
    }
}
