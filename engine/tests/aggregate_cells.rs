//! Model test of the aggregation's counting pass over merged cells (no filter): random puts
//! at chosen timestamps (several versions of a column, rewrites of one timestamp), deletes of
//! one version, of a column, of versions up to a timestamp, of a family and of a row, a family
//! with a TTL whose old versions have expired, flushes that leave overlapping files and writes
//! left in the memtable, then the rows cut into several parts counted in parallel. The counts
//! must equal those computed from what `Db::scan` returns (the reads' view: the visibility
//! rules exactly as reads apply them), and every bucket kind must give the same result
//! whether the rows are counted in one part or in several.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::collections::BTreeMap;
use std::ops::Bound;

use proptest::prelude::*;
use strata_engine::aggregate::{
    AggregateResult, Aggregation, BucketKind, Column, RunOptions, Scope, aggregate_many,
};
use strata_engine::{
    ColumnSelector, Db, DbOptions, FamilyOptions, Mutation, ReadOptions, RowMutation, ScanOptions,
    SyncMode, TimeRange, now_micros,
};

/// Values of the grouping column: numbers, dates, timestamps, text and the empty value.
const VALUES: [&str; 8] = [
    "7",
    "-2.5",
    "1990-06-15",
    "2022-07-29T15:22:01Z",
    "2023-01-01T00:30:00+07:00",
    "abc",
    "",
    "10",
];

/// Columns written: (family, qualifier). `a` keeps 3 versions, `b` 1, `c` has a TTL.
const COLUMNS: [(&str, &str); 5] = [("a", "g"), ("a", "n"), ("b", "g"), ("b", "x"), ("c", "g")];

#[derive(Clone, Debug)]
enum Op {
    /// Put `VALUES[value]` into `COLUMNS[col]` of row `row` at timestamp `ts` (a small number
    /// of distinct timestamps, so rewrites of one timestamp happen; `old` ones are past the
    /// TTL of family `c`).
    Put {
        row: u8,
        col: usize,
        value: usize,
        ts: u8,
        old: bool,
    },
    DeleteVersion {
        row: u8,
        col: usize,
        ts: u8,
    },
    DeleteColumn {
        row: u8,
        col: usize,
    },
    DeleteColumnUpTo {
        row: u8,
        col: usize,
        ts: u8,
    },
    DeleteFamily {
        row: u8,
        col: usize,
    },
    DeleteRow {
        row: u8,
    },
    Flush,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        16 => (any::<u8>(), 0..COLUMNS.len(), 0..VALUES.len(), 0u8..6, prop::bool::weighted(0.2))
            .prop_map(|(row, col, value, ts, old)| Op::Put { row, col, value, ts, old }),
        2 => (any::<u8>(), 0..COLUMNS.len(), 0u8..6)
            .prop_map(|(row, col, ts)| Op::DeleteVersion { row, col, ts }),
        1 => (any::<u8>(), 0..COLUMNS.len()).prop_map(|(row, col)| Op::DeleteColumn { row, col }),
        1 => (any::<u8>(), 0..COLUMNS.len(), 0u8..6)
            .prop_map(|(row, col, ts)| Op::DeleteColumnUpTo { row, col, ts }),
        1 => (any::<u8>(), 0..COLUMNS.len()).prop_map(|(row, col)| Op::DeleteFamily { row, col }),
        1 => any::<u8>().prop_map(|row| Op::DeleteRow { row }),
        1 => Just(Op::Flush),
    ]
}

fn row_key(r: u8) -> Vec<u8> {
    format!("row{:03}", r % 64).into_bytes()
}

/// A timestamp: recent ones for `ts`, or two days old (past `c`'s one-day TTL).
fn stamp(base: i64, ts: u8, old: bool) -> i64 {
    let day = 86_400_000_000;
    base - if old { 2 * day } else { 0 } + i64::from(ts) * 1_000
}

struct Store {
    _dir: tempfile::TempDir,
    db: Db,
    base: i64,
}

impl Store {
    fn new() -> Store {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(
            dir.path().join("db"),
            DbOptions {
                sync_mode: SyncMode::None,
                background_threads: false,
                ..DbOptions::default()
            },
        )
        .unwrap();
        let family = |name: &str, versions: u32, ttl: u64| FamilyOptions {
            max_versions: versions,
            ttl_seconds: ttl,
            ..FamilyOptions::new(name)
        };
        db.create_table(
            "t",
            vec![family("a", 3, 0), family("b", 1, 0), family("c", 2, 86_400)],
        )
        .unwrap();
        Store {
            _dir: dir,
            db,
            base: now_micros() - 60_000_000,
        }
    }

    fn apply(&self, op: &Op) {
        let (row, m) = match *op {
            Op::Put {
                row,
                col,
                value,
                ts,
                old,
            } => (
                row,
                Mutation::SetCell {
                    family: COLUMNS[col].0.into(),
                    qualifier: COLUMNS[col].1.as_bytes().to_vec().into(),
                    value: VALUES[value].as_bytes().to_vec().into(),
                    timestamp: stamp(self.base, ts, old),
                },
            ),
            Op::DeleteVersion { row, col, ts } => (
                row,
                Mutation::DeleteCells {
                    family: COLUMNS[col].0.into(),
                    qualifier: COLUMNS[col].1.as_bytes().to_vec().into(),
                    timestamp: stamp(self.base, ts, false),
                },
            ),
            Op::DeleteColumn { row, col } => (
                row,
                Mutation::DeleteCells {
                    family: COLUMNS[col].0.into(),
                    qualifier: COLUMNS[col].1.as_bytes().to_vec().into(),
                    timestamp: 0,
                },
            ),
            Op::DeleteColumnUpTo { row, col, ts } => (
                row,
                Mutation::DeleteColumnUpTo {
                    family: COLUMNS[col].0.into(),
                    qualifier: COLUMNS[col].1.as_bytes().to_vec().into(),
                    timestamp: stamp(self.base, ts, false),
                },
            ),
            Op::DeleteFamily { row, col } => (
                row,
                Mutation::DeleteFamily {
                    family: COLUMNS[col].0.into(),
                },
            ),
            Op::DeleteRow { row } => (row, Mutation::DeleteRow),
            Op::Flush => {
                self.db.flush("t").unwrap();
                return;
            }
        };
        self.db
            .mutate_row(
                "t",
                RowMutation {
                    row: row_key(row).into(),
                    mutations: vec![m],
                },
            )
            .unwrap();
    }
}

/// The aggregations checked: every family's grouping column under every bucket kind, with
/// and without a sum of a column of the same or another family.
fn aggregations() -> Vec<Aggregation> {
    let kinds = [
        "value",
        "year",
        "month",
        "day",
        "hour",
        "hour-of-day",
        "age",
        "range:5",
    ];
    let mut out = Vec::new();
    for family in ["a", "b", "c"] {
        for kind in kinds {
            let agg = Aggregation::count_by(family, b"g".to_vec())
                .bucket(kind.parse::<BucketKind>().unwrap());
            out.push(agg.clone().sum(Column::new("a", b"n".to_vec())));
            out.push(agg.clone().sum(Column::new("b", b"x".to_vec())).top(2));
            out.push(agg);
        }
    }
    out
}

fn scopes(base: i64) -> Vec<Scope> {
    vec![
        Scope::all(),
        Scope {
            start: Bound::Included(b"row010".to_vec()),
            stop: Bound::Excluded(b"row040".to_vec()),
            ..Scope::all()
        },
        Scope {
            prefix: b"row02".to_vec(),
            ..Scope::all()
        },
        Scope {
            time_range: TimeRange {
                start: stamp(base, 1, false),
                end: Some(stamp(base, 4, false)),
            },
            ..Scope::all()
        },
    ]
}

fn run(store: &Store, scope: &Scope, aggs: &[Aggregation], parts: usize) -> Vec<AggregateResult> {
    let options = RunOptions {
        partitions: parts,
        ..RunOptions::default()
    };
    let mut got = aggregate_many(&store.db, "t", scope, aggs, &options).unwrap();
    for r in &mut got {
        r.computed_at_micros = 0;
    }
    got
}

/// What the reads show for a `value` count of `family:g` summing `a:n` over `scope`: rows
/// with a cell in the families read, rows without the grouping cell, cells, and per value
/// (count, rows whose sum cell was a number, sum).
#[derive(Debug, Default, PartialEq)]
struct Seen {
    rows: u64,
    missing: u64,
    cells: u64,
    buckets: BTreeMap<Vec<u8>, (u64, u64, f64)>,
}

fn from_reads(db: &Db, scope: &Scope, family: &str) -> Seen {
    let mut families = vec![family.to_string()];
    if family != "a" {
        families.push("a".to_string());
    }
    let opts = ScanOptions {
        start: scope.start.clone(),
        stop: scope.stop.clone(),
        prefix: scope.prefix.clone(),
        read: ReadOptions {
            columns: families
                .iter()
                .map(|f| ColumnSelector {
                    family: f.clone(),
                    qualifier: None,
                })
                .collect(),
            max_versions: 1,
            time_range: scope.time_range,
        },
        limit: 0,
        reverse: false,
    };
    let mut seen = Seen::default();
    for row in db.scan("t", opts).unwrap() {
        let row = row.unwrap();
        seen.rows += 1;
        seen.cells += row.cells.len() as u64;
        let cell = |f: &str, q: &[u8]| {
            row.cells
                .iter()
                .find(|c| &*c.family == f && c.qualifier.as_ref() == q)
                .map(|c| c.value.to_vec())
        };
        let Some(value) = cell(family, b"g") else {
            seen.missing += 1;
            continue;
        };
        let number = cell("a", b"n").and_then(|v| String::from_utf8(v).ok()?.parse::<f64>().ok());
        let b = seen.buckets.entry(value).or_default();
        b.0 += 1;
        if let Some(n) = number {
            b.1 += 1;
            b.2 += n;
        }
    }
    seen
}

fn as_seen(r: &AggregateResult) -> Seen {
    Seen {
        rows: r.rows_scanned,
        missing: r.rows_missing,
        cells: r.cells_scanned,
        buckets: r
            .buckets
            .iter()
            .map(|b| (b.key.clone(), (b.count, b.summed, b.sum)))
            .collect(),
    }
}

fn check(store: &Store, when: &str) {
    let aggs = aggregations();
    for scope in scopes(store.base) {
        let one = run(store, &scope, &aggs, 1);
        for parts in [2, 5] {
            let many = run(store, &scope, &aggs, parts);
            for ((agg, a), b) in aggs.iter().zip(&one).zip(&many) {
                assert_eq!(
                    a, b,
                    "{when}: {parts} parts vs one, {}:g by {} top {} sum {:?} over {scope:?}",
                    agg.column.family, agg.bucket, agg.top, agg.sum
                );
            }
        }
        for family in ["a", "b", "c"] {
            let agg =
                Aggregation::count_by(family, b"g".to_vec()).sum(Column::new("a", b"n".to_vec()));
            let got = run(store, &scope, std::slice::from_ref(&agg), 3);
            assert_eq!(
                as_seen(&got[0]),
                from_reads(&store.db, &scope, family),
                "{when}: {family}:g by value, as reads show it, over {scope:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn parallel_counts_from_merged_cells_match_the_reads(
        ops in proptest::collection::vec(op(), 1..160),
    ) {
        let store = Store::new();
        for (i, op) in ops.iter().enumerate() {
            store.apply(op);
            if i % 40 == 39 {
                check(&store, &format!("after op {i} ({op:?})"));
            }
        }
        // Some writes are still in the memtable, over several overlapping files.
        check(&store, "at the end");
        store.db.compact("t", true).unwrap();
        check(&store, "after a major compaction");
    }
}

#[test]
fn many_files_and_a_memtable_cut_into_parts_count_every_row_once() {
    let store = Store::new();
    // 64 rows in each of 4 flushed files (rows interleaved, so the files overlap) and in the
    // memtable: several versions per column, some deleted.
    for round in 0..5u8 {
        for r in 0..64u8 {
            store.apply(&Op::Put {
                row: r,
                col: (usize::from(r) + usize::from(round)) % COLUMNS.len(),
                value: usize::from(r) % VALUES.len(),
                ts: round,
                old: false,
            });
            if r % 7 == round {
                store.apply(&Op::DeleteVersion {
                    row: r,
                    col: usize::from(r) % COLUMNS.len(),
                    ts: round,
                });
            }
        }
        if round < 4 {
            store.apply(&Op::Flush);
        }
    }
    assert_eq!(store.db.describe_table("t").unwrap().stats.files, 4);
    check(&store, "four files and a memtable");
    let agg = Aggregation::count_by("a", b"g".to_vec());
    let got = run(&store, &Scope::all(), std::slice::from_ref(&agg), 8);
    let want = from_reads(&store.db, &Scope::all(), "a");
    assert!(want.rows > 40, "the test writes rows: {want:?}");
    assert_eq!(as_seen(&got[0]).rows, want.rows);
}

#[test]
fn one_file_alone_counts_as_the_reads_with_deletes_versions_and_expired_cells() {
    // Everything in one flushed file and nothing in the memtable: every part is counted
    // from that file's blocks (`file_rows.rs`), markers and several versions included.
    let store = Store::new();
    for round in 0..4u8 {
        for r in 0..48u8 {
            store.apply(&Op::Put {
                row: r,
                col: (usize::from(r) + usize::from(round)) % COLUMNS.len(),
                value: (usize::from(r) + usize::from(round)) % VALUES.len(),
                ts: round,
                old: r % 5 == 0,
            });
        }
    }
    for r in (0..48u8).step_by(3) {
        store.apply(&Op::DeleteVersion {
            row: r,
            col: usize::from(r) % COLUMNS.len(),
            ts: 1,
        });
        store.apply(&Op::DeleteColumn {
            row: r + 1,
            col: usize::from(r) % COLUMNS.len(),
        });
    }
    store.apply(&Op::Flush);
    assert_eq!(store.db.describe_table("t").unwrap().stats.files, 1);
    check(&store, "one file, empty memtable");
}

#[test]
fn one_file_and_rows_in_the_memtable_count_as_the_reads() {
    // One flushed file, then writes left in the memtable on some of its rows (new versions,
    // deletes) and on rows it does not have: every part walks the file around the
    // memtable's rows and merges those rows one by one (`Pass::count_around`).
    let store = Store::new();
    for r in 0..64u8 {
        for col in 0..COLUMNS.len() {
            store.apply(&Op::Put {
                row: r,
                col,
                value: (usize::from(r) + col) % VALUES.len(),
                ts: 0,
                old: false,
            });
        }
    }
    store.apply(&Op::Flush);
    for r in (0..64u8).step_by(5) {
        store.apply(&Op::Put {
            row: r,
            col: usize::from(r) % COLUMNS.len(),
            value: 3,
            ts: 2,
            old: false,
        });
        store.apply(&Op::DeleteColumn { row: r + 1, col: 0 });
        store.apply(&Op::DeleteRow { row: r + 2 });
    }
    for r in 200..210u8 {
        store.apply(&Op::Put {
            row: r,
            col: 2,
            value: 1,
            ts: 1,
            old: false,
        });
    }
    let info = store.db.describe_table("t").unwrap();
    assert_eq!(info.stats.files, 1);
    check(&store, "one file and rows in the memtable");
}
