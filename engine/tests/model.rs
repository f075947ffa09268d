//! Model-based test: random sequences of puts, every delete kind, gets, scans, flushes,
//! compactions and reopens, checked against a plain in-memory model of BRIEF section 3's
//! semantics: a column's history replayed in write order, where a delete hides only what was
//! written before it, a later write at the same coordinates replaces the earlier one, and a
//! version that is one too many for `max_versions` leaves for good (HBase's
//! NEW_VERSION_BEHAVIOR; docs/design/visibility.md).
//!
//! After any step, with some probability, a subset of the table's files chosen at random is
//! merged as a background compaction could merge it, and every row (every version) must
//! read the same before and after, and as the model says: compaction never changes what a
//! read returns. Family "a" keeps 1000 versions, family "b" keeps 2 and family "c" one; all
//! get every kind of write.

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
    /// `ts` 0: the column's newest visible version (as the model says), else 1.
    DeleteCell {
        row: u8,
        fam: u8,
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
    /// Every version at or before `ts` (0: the column's newest visible version).
    DeleteColumnUpTo {
        row: u8,
        fam: u8,
        qual: u8,
        ts: i64,
    },
    DeleteFamilyUpTo {
        row: u8,
        fam: u8,
        ts: i64,
    },
    DeleteRowUpTo {
        row: u8,
        ts: i64,
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

/// Few rows, so that columns get long histories across many files.
const ROWS: u8 = 4;

const FAMILIES: [&str; 3] = ["a", "b", "c"];

fn fam_name(f: u8) -> &'static str {
    FAMILIES[usize::from(f) % FAMILIES.len()]
}
/// Row 0 and qualifier q0 get most writes: long histories in one column, spread over files.
fn row_key(r: u8) -> Vec<u8> {
    row_name(if r < 128 { 0 } else { r % ROWS })
}
/// The key of row `i` (0..ROWS).
fn row_name(i: u8) -> Vec<u8> {
    format!("row{i:02}").into_bytes()
}
fn qual(q: u8) -> Vec<u8> {
    vec![b'q', if q < 160 { b'0' } else { b'0' + (q % 3) }]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (any::<u8>(), any::<u8>(), any::<u8>(), 1i64..6, any::<u16>())
            .prop_map(|(row, fam, qual, ts, val)| Op::Put { row, fam, qual, ts, val }),
        3 => (any::<u8>(), any::<u8>(), any::<u8>(), 0i64..6)
            .prop_map(|(row, fam, qual, ts)| Op::DeleteCell { row, fam, qual, ts }),
        2 => (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(row, fam, qual)| Op::DeleteColumn { row, fam, qual }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(row, fam)| Op::DeleteFamily { row, fam }),
        1 => any::<u8>().prop_map(|row| Op::DeleteRow { row }),
        1 => (any::<u8>(), any::<u8>(), any::<u8>(), 0i64..6)
            .prop_map(|(row, fam, qual, ts)| Op::DeleteColumnUpTo { row, fam, qual, ts }),
        1 => (any::<u8>(), any::<u8>(), 1i64..6).prop_map(|(row, fam, ts)| Op::DeleteFamilyUpTo { row, fam, ts }),
        1 => (any::<u8>(), 1i64..6).prop_map(|(row, ts)| Op::DeleteRowUpTo { row, ts }),
        4 => (any::<u8>(), 1u32..4, proptest::option::of(any::<u8>()))
            .prop_map(|(row, versions, fam)| Op::Get { row, versions, fam }),
        2 => (any::<u8>(), any::<u8>(), 1u32..4, 0u64..4)
            .prop_map(|(start, stop, versions, limit)| Op::Scan { start, stop, versions, limit }),
        3 => Just(Op::Flush),
        1 => any::<bool>().prop_map(|major| Op::Compact { major }),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
    ]
}

/// Ops on two rows and two columns only (plus flushes and compactions): long histories of
/// few columns spread over many files, where a merge of some of the files has the most to
/// get wrong.
fn history_op() -> impl Strategy<Value = Op> {
    let row = || prop_oneof![3 => Just(0u8), 1 => Just(129u8)];
    let qual = || prop_oneof![3 => Just(0u8), 1 => Just(161u8)];
    prop_oneof![
        8 => (row(), any::<u8>(), qual(), 1i64..5, any::<u16>())
            .prop_map(|(row, fam, qual, ts, val)| Op::Put { row, fam, qual, ts, val }),
        3 => (row(), any::<u8>(), qual(), prop_oneof![Just(0i64), 1i64..5])
            .prop_map(|(row, fam, qual, ts)| Op::DeleteCell { row, fam, qual, ts }),
        1 => (row(), any::<u8>(), qual()).prop_map(|(row, fam, qual)| Op::DeleteColumn { row, fam, qual }),
        1 => (row(), any::<u8>()).prop_map(|(row, fam)| Op::DeleteFamily { row, fam }),
        2 => (row(), any::<u8>(), qual(), prop_oneof![Just(0i64), 1i64..5])
            .prop_map(|(row, fam, qual, ts)| Op::DeleteColumnUpTo { row, fam, qual, ts }),
        1 => (row(), any::<u8>(), 1i64..5).prop_map(|(row, fam, ts)| Op::DeleteFamilyUpTo { row, fam, ts }),
        1 => (row(), 1u32..4).prop_map(|(row, versions)| Op::Get { row, versions, fam: None }),
        3 => Just(Op::Flush),
        1 => Just(Op::Compact { major: false }),
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
    ColumnUpTo {
        row: Vec<u8>,
        fam: &'static str,
        qual: Vec<u8>,
        ts: i64,
    },
    FamilyUpTo {
        row: Vec<u8>,
        fam: &'static str,
        ts: i64,
    },
}

type Visible = Vec<(String, Vec<u8>, i64, Vec<u8>)>;

#[derive(Default)]
struct Model {
    writes: Vec<Write>,
}

fn keep_versions(fam: &str) -> usize {
    match fam {
        "a" => 1000,
        "b" => 2,
        _ => 1,
    }
}

impl Model {
    /// The versions of one column: its history replayed in write order. Timestamp -> value.
    fn column(&self, row: &[u8], fam: &str, qual: &[u8]) -> BTreeMap<i64, Vec<u8>> {
        let mut live: BTreeMap<i64, Vec<u8>> = BTreeMap::new();
        for w in &self.writes {
            match w {
                Write::Put {
                    row: r,
                    fam: f,
                    qual: q,
                    ts,
                    val,
                } if r.as_slice() == row && *f == fam && q.as_slice() == qual => {
                    live.insert(*ts, val.clone());
                    if live.len() > keep_versions(fam) {
                        live.pop_first();
                    }
                }
                Write::DeleteCell {
                    row: r,
                    fam: f,
                    qual: q,
                    ts,
                } if r.as_slice() == row && *f == fam && q.as_slice() == qual => {
                    live.remove(ts);
                }
                Write::DeleteColumn {
                    row: r,
                    fam: f,
                    qual: q,
                } if r.as_slice() == row && *f == fam && q.as_slice() == qual => live.clear(),
                Write::DeleteFamily { row: r, fam: f } if r.as_slice() == row && *f == fam => {
                    live.clear()
                }
                Write::ColumnUpTo {
                    row: r,
                    fam: f,
                    qual: q,
                    ts,
                } if r.as_slice() == row && *f == fam && q.as_slice() == qual => {
                    live.retain(|t, _| t > ts)
                }
                Write::FamilyUpTo { row: r, fam: f, ts } if r.as_slice() == row && *f == fam => {
                    live.retain(|t, _| t > ts)
                }
                _ => {}
            }
        }
        live
    }

    /// `ts`, or for 0 the column's newest visible timestamp (1 if none).
    fn newest_or(&self, row: &[u8], fam: &str, qual: &[u8], ts: i64) -> i64 {
        if ts != 0 {
            return ts;
        }
        let live = self.column(row, fam, qual);
        live.keys().next_back().copied().unwrap_or(1)
    }

    /// Visible cells of a row: family, qualifier, ts desc.
    fn row(&self, row: &[u8], versions: u32, fam_filter: Option<&str>) -> Visible {
        let mut cols: Vec<(&str, Vec<u8>)> = self
            .writes
            .iter()
            .filter_map(|w| match w {
                Write::Put {
                    row: r, fam, qual, ..
                } if r.as_slice() == row => Some((*fam, qual.clone())),
                _ => None,
            })
            .collect();
        cols.sort();
        cols.dedup();
        let mut out = Vec::new();
        for (fam, qual) in cols {
            if fam_filter.is_some_and(|f| f != fam) {
                continue;
            }
            let live = self.column(row, fam, &qual);
            for (ts, v) in live.into_iter().rev().take(versions as usize) {
                out.push((fam.to_string(), qual.clone(), ts, v));
            }
        }
        out
    }

    /// Every row with a visible cell, every version.
    fn dump(&self) -> Vec<(Vec<u8>, Visible)> {
        (0..ROWS)
            .map(row_name)
            .map(|k| {
                let v = self.row(&k, 1000, None);
                (k, v)
            })
            .filter(|(_, v)| !v.is_empty())
            .collect()
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

/// Apply one mutation to one row.
fn write(db: &Db, row: &[u8], m: Mutation) {
    db.mutate_row(
        "t",
        RowMutation {
            row: row.to_vec().into(),
            mutations: vec![m],
        },
    )
    .expect("write");
}

/// Every row of the table, every version, as a scan returns them.
fn dump(db: &Db) -> Vec<(Vec<u8>, Visible)> {
    let opts = ScanOptions {
        start: Bound::Unbounded,
        read: ReadOptions {
            max_versions: 1000,
            ..ReadOptions::default()
        },
        ..ScanOptions::default()
    };
    db.scan("t", opts)
        .expect("scan")
        .map(|r| r.map(|r| (r.key.clone(), cells(&r))))
        .collect::<Result<_, _>>()
        .expect("scan rows")
}

/// Merge the files picked by `mask` (bit i % 8 picks the i-th file) as a background
/// compaction could, and check that nothing any read returns changed.
fn check_partial_compaction(db: &Db, model: &Model, mask: u8) -> Result<(), TestCaseError> {
    let files = db.table_file_numbers("t").expect("files");
    let chosen: Vec<u64> = files
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << (i % 8)) != 0)
        .map(|(_, n)| *n)
        .collect();
    if chosen.is_empty() {
        return Ok(());
    }
    let before = dump(db);
    prop_assert_eq!(
        &before,
        &model.dump(),
        "before merging files {:?} of {:?}",
        chosen,
        files
    );
    db.compact_files("t", &chosen).expect("compact files");
    let after = dump(db);
    prop_assert_eq!(
        &after,
        &before,
        "merging files {:?} of {:?} changed reads",
        chosen,
        files
    );
    Ok(())
}

/// A store directory in memory when the machine has a tmpfs at /dev/shm: this test checks
/// semantics, not durability, and thousands of flushes and compactions each fsync.
fn store_dir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(d) = tempfile::tempdir_in(shm)
    {
        return d;
    }
    tempfile::tempdir().expect("tempdir")
}

fn run(ops: Vec<(Op, u8)>, small_memtable: bool) -> Result<(), TestCaseError> {
    let dir = store_dir();
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
            FamilyOptions {
                max_versions: 1,
                block_size: 1024,
                ..FamilyOptions::new("c")
            },
        ],
    )
    .expect("create");
    let mut model = Model::default();
    for (op, mask) in ops {
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
                write(
                    &db,
                    &row,
                    Mutation::SetCell {
                        family: fam.into(),
                        qualifier: q.clone().into(),
                        value: val.clone().into(),
                        timestamp: ts,
                    },
                );
                model.writes.push(Write::Put {
                    row,
                    fam,
                    qual: q,
                    ts,
                    val,
                });
            }
            Op::DeleteCell {
                row,
                fam,
                qual: q,
                ts,
            } => {
                let (row, fam, q) = (row_key(row), fam_name(fam), qual(q));
                let ts = model.newest_or(&row, fam, &q, ts);
                write(
                    &db,
                    &row,
                    Mutation::DeleteCells {
                        family: fam.into(),
                        qualifier: q.clone().into(),
                        timestamp: ts,
                    },
                );
                model.writes.push(Write::DeleteCell {
                    row,
                    fam,
                    qual: q,
                    ts,
                });
            }
            Op::DeleteColumn { row, fam, qual: q } => {
                let (row, fam, q) = (row_key(row), fam_name(fam), qual(q));
                write(
                    &db,
                    &row,
                    Mutation::DeleteCells {
                        family: fam.into(),
                        qualifier: q.clone().into(),
                        timestamp: 0,
                    },
                );
                model.writes.push(Write::DeleteColumn { row, fam, qual: q });
            }
            Op::DeleteFamily { row, fam } => {
                let (row, fam) = (row_key(row), fam_name(fam));
                write(&db, &row, Mutation::DeleteFamily { family: fam.into() });
                model.writes.push(Write::DeleteFamily { row, fam });
            }
            Op::DeleteRow { row } => {
                let row = row_key(row);
                write(&db, &row, Mutation::DeleteRow);
                for fam in FAMILIES {
                    model.writes.push(Write::DeleteFamily {
                        row: row.clone(),
                        fam,
                    });
                }
            }
            Op::DeleteColumnUpTo {
                row,
                fam,
                qual: q,
                ts,
            } => {
                let (row, fam, q) = (row_key(row), fam_name(fam), qual(q));
                let ts = model.newest_or(&row, fam, &q, ts);
                write(
                    &db,
                    &row,
                    Mutation::DeleteColumnUpTo {
                        family: fam.into(),
                        qualifier: q.clone().into(),
                        timestamp: ts,
                    },
                );
                model.writes.push(Write::ColumnUpTo {
                    row,
                    fam,
                    qual: q,
                    ts,
                });
            }
            Op::DeleteFamilyUpTo { row, fam, ts } => {
                let (row, fam) = (row_key(row), fam_name(fam));
                write(
                    &db,
                    &row,
                    Mutation::DeleteFamilyUpTo {
                        family: fam.into(),
                        timestamp: ts,
                    },
                );
                model.writes.push(Write::FamilyUpTo { row, fam, ts });
            }
            Op::DeleteRowUpTo { row, ts } => {
                let row = row_key(row);
                write(&db, &row, Mutation::DeleteRowUpTo { timestamp: ts });
                for fam in FAMILIES {
                    model.writes.push(Write::FamilyUpTo {
                        row: row.clone(),
                        fam,
                        ts,
                    });
                }
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
                for r in 0..ROWS {
                    let k = row_name(r);
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
        check_partial_compaction(&db, &model, mask)?;
    }
    Ok(())
}

/// The mask of files to merge after a step (mostly none).
fn mask() -> impl Strategy<Value = u8> {
    prop_oneof![3 => Just(0u8), 1 => any::<u8>()]
}

/// An op, and the files to merge after it.
fn step() -> impl Strategy<Value = (Op, u8)> {
    (op(), mask())
}

/// A history op, and the files to merge after it (every other step).
fn history_step() -> impl Strategy<Value = (Op, u8)> {
    (history_op(), prop_oneof![Just(0u8), any::<u8>()])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_model(ops in proptest::collection::vec(step(), 1..80)) {
        run(ops, false)?;
    }

    #[test]
    fn engine_matches_model_with_background_flushes(ops in proptest::collection::vec(step(), 1..80)) {
        run(ops, true)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn merging_any_files_of_long_histories_changes_no_read(ops in proptest::collection::vec(history_step(), 1..80)) {
        run(ops, false)?;
    }
}
