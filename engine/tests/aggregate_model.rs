//! Model test of the aggregation: random puts (values that every bucket kind can and cannot
//! parse, and empty ones), column, family and row deletes, flushes, compactions and ingested
//! files, then every bucket kind with and without a sum column and a `top`, over several row,
//! time and filter scopes (a filter testing another family's column, one dropping cells), checked
//! against counts computed from a plain map of the visible cells.
//!
//! The model's buckets come from a hand-written table of each value's expected keys, not from
//! the engine's bucket code, so a wrong truncation, age or range shows up as a mismatch.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use proptest::prelude::*;
use strata_engine::aggregate::{
    AggregateError, AggregateResult, Aggregation, BucketKind, Column, RunOptions, Scope, aggregate,
    aggregate_many,
};
use strata_engine::filter::{Filter, TimeUnit};
use strata_engine::sstable::{TableBuildOptions, TableBuilder};
use strata_engine::{
    CellKind, CellRef, Db, DbOptions, FamilyOptions, Mutation, RowMutation, SyncMode, TimeRange,
    fs, iso8601,
};

/// The bucket kinds checked, in the order of the columns of [`VALUES`].
const KINDS: [&str; 9] = [
    "value",
    "year",
    "month",
    "day",
    "hour",
    "hour-of-day",
    "age",
    "range:10",
    "range:0.5",
];

/// Values of the grouping column and their expected bucket under each of KINDS after
/// "value" (None: unparsable), with "now" = 2024-06-15T12:00:00Z.
type Expected = [Option<&'static str>; 8];
const VALUES: &[(&str, Expected)] = &[
    (
        "2022-07-29T15:22:01.458193Z",
        [
            Some("2022"),
            Some("2022-07"),
            Some("2022-07-29"),
            Some("2022-07-29T15"),
            Some("15"),
            Some("1"),
            None,
            None,
        ],
    ),
    (
        "2022-07-29T15:59:59Z",
        [
            Some("2022"),
            Some("2022-07"),
            Some("2022-07-29"),
            Some("2022-07-29T15"),
            Some("15"),
            Some("1"),
            None,
            None,
        ],
    ),
    (
        "2023-01-01T00:30:00+07:00",
        [
            Some("2022"),
            Some("2022-12"),
            Some("2022-12-31"),
            Some("2022-12-31T17"),
            Some("17"),
            Some("1"),
            None,
            None,
        ],
    ),
    (
        "1990-06-16",
        [
            Some("1990"),
            Some("1990-06"),
            Some("1990-06-16"),
            Some("1990-06-16T00"),
            Some("00"),
            Some("33"),
            None,
            None,
        ],
    ),
    (
        "1990-06-15",
        [
            Some("1990"),
            Some("1990-06"),
            Some("1990-06-15"),
            Some("1990-06-15T00"),
            Some("00"),
            Some("34"),
            None,
            None,
        ],
    ),
    (
        "191247",
        [
            None,
            None,
            None,
            None,
            None,
            None,
            Some("191240"),
            Some("191247.0"),
        ],
    ),
    (
        "-2.5",
        [
            None,
            None,
            None,
            None,
            None,
            None,
            Some("-10"),
            Some("-2.5"),
        ],
    ),
    (
        "7",
        [None, None, None, None, None, None, Some("0"), Some("7.0")],
    ),
    (
        "9.99",
        [None, None, None, None, None, None, Some("0"), Some("9.5")],
    ),
    ("", [None; 8]),
    ("abc", [None; 8]),
];

/// Values of the sum columns and the number each counts as.
const NUMBERS: &[(&str, Option<f64>)] = &[
    ("10", Some(10.0)),
    ("2.5", Some(2.5)),
    ("-1", Some(-1.0)),
    ("x", None),
    ("", None),
];

fn now_micros() -> i64 {
    (iso8601::days_from_civil(2024, 6, 15) * 86_400 + 12 * 3600) * 1_000_000
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Col {
    /// a:g, the grouping column.
    Group,
    /// a:n, a numeric column in the grouping column's family.
    Num,
    /// b:x, a numeric column in another family.
    Other,
}

impl Col {
    fn family(self) -> &'static str {
        match self {
            Col::Group | Col::Num => "a",
            Col::Other => "b",
        }
    }
    fn qualifier(self) -> &'static [u8] {
        match self {
            Col::Group => b"g",
            Col::Num => b"n",
            Col::Other => b"x",
        }
    }
    fn value(self, i: usize) -> &'static str {
        match self {
            Col::Group => VALUES[i % VALUES.len()].0,
            Col::Num | Col::Other => NUMBERS[i % NUMBERS.len()].0,
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Put { row: u8, col: Col, value: usize },
    DeleteColumn { row: u8, col: Col },
    DeleteFamily { row: u8, family_a: bool },
    DeleteRow { row: u8 },
    Flush,
    Compact { major: bool },
    Ingest { cells: Vec<(u8, Col, usize)> },
}

fn col() -> impl Strategy<Value = Col> {
    prop_oneof![4 => Just(Col::Group), 2 => Just(Col::Num), 1 => Just(Col::Other)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (any::<u8>(), col(), any::<usize>())
            .prop_map(|(row, col, value)| Op::Put { row, col, value }),
        2 => (any::<u8>(), col()).prop_map(|(row, col)| Op::DeleteColumn { row, col }),
        1 => (any::<u8>(), any::<bool>()).prop_map(|(row, family_a)| Op::DeleteFamily { row, family_a }),
        1 => any::<u8>().prop_map(|row| Op::DeleteRow { row }),
        1 => Just(Op::Flush),
        1 => any::<bool>().prop_map(|major| Op::Compact { major }),
        1 => proptest::collection::vec((any::<u8>(), col(), any::<usize>()), 1..12)
            .prop_map(|cells| Op::Ingest { cells }),
    ]
}

fn row_key(r: u8) -> Vec<u8> {
    format!("r{:02}", r % 16).into_bytes()
}

/// Visible cells: row -> column -> (value, timestamp).
type Model = BTreeMap<Vec<u8>, BTreeMap<Col, (&'static str, i64)>>;

struct Store {
    _dir: tempfile::TempDir,
    db: Db,
    model: Model,
    ts: i64,
    ingests: u32,
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
        db.create_table("t", vec![FamilyOptions::new("a"), FamilyOptions::new("b")])
            .unwrap();
        Store {
            _dir: dir,
            db,
            model: Model::new(),
            ts: 1_000,
            ingests: 0,
        }
    }

    fn next_ts(&mut self) -> i64 {
        self.ts += 1;
        self.ts
    }

    fn mutate(&self, row: u8, m: Mutation) {
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

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Put { row, col, value } => {
                let ts = self.next_ts();
                let v = col.value(*value);
                self.mutate(
                    *row,
                    Mutation::SetCell {
                        family: col.family().into(),
                        qualifier: col.qualifier().to_vec().into(),
                        value: v.as_bytes().to_vec().into(),
                        timestamp: ts,
                    },
                );
                self.model
                    .entry(row_key(*row))
                    .or_default()
                    .insert(*col, (v, ts));
            }
            Op::DeleteColumn { row, col } => {
                self.mutate(
                    *row,
                    Mutation::DeleteCells {
                        family: col.family().into(),
                        qualifier: col.qualifier().to_vec().into(),
                        timestamp: 0,
                    },
                );
                self.forget(*row, |c| c == *col);
            }
            Op::DeleteFamily { row, family_a } => {
                let family = if *family_a { "a" } else { "b" };
                self.mutate(
                    *row,
                    Mutation::DeleteFamily {
                        family: family.into(),
                    },
                );
                self.forget(*row, |c| c.family() == family);
            }
            Op::DeleteRow { row } => {
                self.mutate(*row, Mutation::DeleteRow);
                self.model.remove(&row_key(*row));
            }
            Op::Flush => self.db.flush("t").unwrap(),
            Op::Compact { major } => self.db.compact("t", *major).unwrap(),
            Op::Ingest { cells } => self.ingest(cells),
        }
    }

    fn forget(&mut self, row: u8, gone: impl Fn(Col) -> bool) {
        if let Some(r) = self.model.get_mut(&row_key(row)) {
            r.retain(|c, _| !gone(*c));
            if r.is_empty() {
                self.model.remove(&row_key(row));
            }
        }
    }

    /// One table file holding `cells` (the last of duplicates wins), ingested.
    fn ingest(&mut self, cells: &[(u8, Col, usize)]) {
        let mut file: BTreeMap<(Vec<u8>, Col), &'static str> = BTreeMap::new();
        for (row, col, value) in cells {
            file.insert((row_key(*row), *col), col.value(*value));
        }
        let ts = self.next_ts();
        self.ingests += 1;
        // Staged in the store's ingest directory, the only place it adopts files from.
        let path = self.db.ingest_dirs()[0].join(format!("ingest-{}.sst", self.ingests));
        let mut b = TableBuilder::new(
            &fs::real(),
            &path,
            TableBuildOptions {
                families: vec![FamilyOptions::new("a"), FamilyOptions::new("b")],
            },
        )
        .unwrap();
        // Internal order: row, then family, then qualifier (Col's order is a:g, a:n, b:x).
        for ((row, col), value) in &file {
            b.add(&CellRef {
                row,
                family: col.family(),
                kind: CellKind::Put,
                qualifier: col.qualifier(),
                ts,
                seq: 0,
                value: value.as_bytes(),
            })
            .unwrap();
        }
        b.finish().unwrap();
        self.db
            .ingest("t", &[path], &format!("ingest-{}", self.ingests))
            .unwrap();
        for ((row, col), value) in file {
            self.model.entry(row).or_default().insert(col, (value, ts));
        }
    }
}

fn aggregations() -> Vec<Aggregation> {
    let mut out = Vec::new();
    for kind in KINDS {
        for sum in [None, Some(Col::Num), Some(Col::Other)] {
            for top in [0, 2] {
                let mut a = Aggregation::count_by("a", b"g".to_vec())
                    .bucket(kind.parse().unwrap())
                    .top(top);
                if let Some(s) = sum {
                    a = a.sum(Column::new(s.family(), s.qualifier()));
                }
                out.push(a);
            }
        }
    }
    out
}

fn scopes(ts_mid: i64) -> Vec<Scope> {
    vec![
        Scope::all(),
        Scope {
            prefix: b"r1".to_vec(),
            ..Scope::all()
        },
        Scope {
            start: Bound::Included(b"r05".to_vec()),
            stop: Bound::Excluded(b"r12".to_vec()),
            ..Scope::all()
        },
        Scope {
            time_range: TimeRange {
                start: ts_mid,
                end: None,
            },
            ..Scope::all()
        },
        Scope {
            filter: Some(filter(ONLY_B_X_10)),
            ..Scope::all()
        },
        Scope {
            time_range: TimeRange {
                start: ts_mid,
                end: None,
            },
            filter: Some(filter(NON_EMPTY_BEFORE_R12)),
            ..Scope::all()
        },
    ]
}

/// Rows whose b:x (another family than the grouping column's) is `10`.
const ONLY_B_X_10: &str = "SingleColumnValueFilter('b', 'x', =, 'binary:10', true, true)";
/// Cells with a value, of rows before r12.
const NON_EMPTY_BEFORE_R12: &str = "ValueFilter(!=, 'binary:') AND RowFilter(<, 'binary:r12')";

fn filter(s: &str) -> Filter {
    Filter::parse(s.as_bytes(), TimeUnit::Micros).unwrap()
}

/// The visible cells of `row` the scope's filter keeps (None: the row is dropped).
fn model_filter<'a>(
    scope: &Scope,
    row: &[u8],
    visible: Vec<(Col, &'a str)>,
) -> Option<Vec<(Col, &'a str)>> {
    let Some(f) = &scope.filter else {
        return Some(visible);
    };
    if *f == filter(ONLY_B_X_10) {
        let hit = visible.iter().any(|(c, v)| *c == Col::Other && *v == "10");
        hit.then_some(visible)
    } else if *f == filter(NON_EMPTY_BEFORE_R12) {
        let kept: Vec<(Col, &str)> = visible.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        (row < b"r12".as_slice() && !kept.is_empty()).then_some(kept)
    } else {
        panic!("no model for the filter {f}")
    }
}

fn in_scope(scope: &Scope, row: &[u8]) -> bool {
    let after = match &scope.start {
        Bound::Included(s) => row >= s.as_slice(),
        Bound::Excluded(s) => row > s.as_slice(),
        Bound::Unbounded => true,
    };
    let before = match &scope.stop {
        Bound::Excluded(s) => row < s.as_slice(),
        Bound::Included(s) => row <= s.as_slice(),
        Bound::Unbounded => true,
    };
    after && before && row.starts_with(&scope.prefix)
}

fn expected_key(kind: &str, value: &str) -> Option<String> {
    let i = KINDS.iter().position(|k| *k == kind).unwrap();
    if i == 0 {
        return Some(value.to_string());
    }
    let row = VALUES.iter().find(|(v, _)| *v == value).unwrap();
    row.1[i - 1].map(str::to_string)
}

#[derive(Default, Clone, Copy)]
struct ModelBucket {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    summed: u64,
}

/// What the aggregation must return, computed from the model.
fn model_result(model: &Model, scope: &Scope, agg: &Aggregation) -> AggregateResult {
    let kind = agg.bucket.to_string();
    let sum_col = agg.sum.as_ref().map(|s| {
        [Col::Group, Col::Num, Col::Other]
            .into_iter()
            .find(|c| c.family() == s.family && c.qualifier() == s.qualifier.as_slice())
            .unwrap()
    });
    let mut r = AggregateResult {
        computed_at_micros: now_micros(),
        ..AggregateResult::default()
    };
    let mut buckets: HashMap<String, ModelBucket> = HashMap::new();
    for (row, cells) in model {
        if !in_scope(scope, row) {
            continue;
        }
        let visible: Vec<(Col, &str)> = cells
            .iter()
            .filter(|(_, (_, ts))| scope.time_range.contains(*ts))
            .map(|(c, (v, _))| (*c, *v))
            .collect();
        let Some(visible) = model_filter(scope, row, visible) else {
            continue;
        };
        let read: Vec<&(Col, &str)> = visible
            .iter()
            .filter(|(c, _)| c.family() == "a" || sum_col.is_some_and(|s| s.family() == c.family()))
            .collect();
        if read.is_empty() {
            continue;
        }
        r.rows_scanned += 1;
        r.cells_scanned += read.len() as u64;
        let Some((_, value)) = read.iter().find(|(c, _)| *c == Col::Group) else {
            r.rows_missing += 1;
            continue;
        };
        let Some(key) = expected_key(&kind, value) else {
            r.unparsable += 1;
            continue;
        };
        let b = buckets.entry(key).or_default();
        b.count += 1;
        if let Some(s) = sum_col {
            match read.iter().find(|(c, _)| *c == s) {
                None => r.sum_missing += 1,
                Some((_, v)) => match NUMBERS.iter().find(|(n, _)| n == v).unwrap().1 {
                    None => r.sum_unparsable += 1,
                    Some(n) => {
                        if b.summed == 0 {
                            b.min = n;
                            b.max = n;
                        }
                        b.sum += n;
                        b.min = b.min.min(n);
                        b.max = b.max.max(n);
                        b.summed += 1;
                    }
                },
            }
        }
    }
    r.distinct_buckets = buckets.len() as u64;
    let mut list: Vec<(String, ModelBucket)> = buckets.into_iter().collect();
    // Derived keys order numerically when they are numbers (ages, ranges, years, hours of
    // day), else as text (fixed-width dates, which sort by time).
    let order = |k: &str| (k.parse::<f64>().unwrap_or(f64::NAN), k.to_string());
    let by_key = |a: &(String, ModelBucket), b: &(String, ModelBucket)| {
        let (x, y) = (order(&a.0), order(&b.0));
        if x.0.is_nan() || y.0.is_nan() {
            x.1.cmp(&y.1)
        } else {
            x.0.total_cmp(&y.0)
        }
    };
    list.sort_by(|a, b| {
        b.1.count.cmp(&a.1.count).then_with(|| {
            if agg.bucket.ordered_by_key() {
                by_key(a, b)
            } else {
                a.0.as_bytes().cmp(b.0.as_bytes())
            }
        })
    });
    if agg.top > 0 && list.len() > agg.top as usize {
        r.other_count = list[agg.top as usize..].iter().map(|b| b.1.count).sum();
        list.truncate(agg.top as usize);
    }
    if agg.bucket.ordered_by_key() {
        list.sort_by(by_key);
    }
    r.buckets = list
        .into_iter()
        .map(|(k, b)| strata_engine::aggregate::BucketCount {
            key: k.into_bytes(),
            count: b.count,
            sum: b.sum,
            min: b.min,
            max: b.max,
            summed: b.summed,
        })
        .collect();
    r
}

fn options() -> RunOptions {
    RunOptions {
        now_micros: now_micros(),
        ..RunOptions::default()
    }
}

fn check(store: &Store, when: &str) {
    let aggs = aggregations();
    for scope in scopes(store.ts - 5) {
        let got = aggregate_many(&store.db, "t", &scope, &aggs, &options()).unwrap();
        for (agg, got) in aggs.iter().zip(&got) {
            let want = model_result(&store.model, &scope, agg);
            assert_eq!(
                got, &want,
                "{when}: {} top {} sum {:?} over {scope:?}",
                agg.bucket, agg.top, agg.sum
            );
        }
        // One aggregation alone gives what it gives in company.
        let alone = aggregate(&store.db, "t", &scope, &aggs[3], &options()).unwrap();
        assert_eq!(alone, got[3], "{when}: alone vs many");
        // The rows cut into parts counted in parallel give the same figures.
        let parts = RunOptions {
            partitions: 3,
            ..options()
        };
        let split = aggregate_many(&store.db, "t", &scope, &aggs, &parts).unwrap();
        assert_eq!(split, got, "{when}: in three parts over {scope:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn aggregations_match_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        let mut store = Store::new();
        for (i, op) in ops.iter().enumerate() {
            store.apply(op);
            if i % 10 == 9 {
                check(&store, &format!("after op {i} ({op:?})"));
            }
        }
        check(&store, "at the end");
        store.db.flush("t").unwrap();
        check(&store, "after a final flush");
        store.db.compact("t", true).unwrap();
        check(&store, "after a final major compaction");
    }
}

#[test]
fn every_kind_of_write_then_flush_compact_and_ingest_keeps_the_counts() {
    let mut store = Store::new();
    let ops = [
        Op::Put {
            row: 1,
            col: Col::Group,
            value: 0,
        },
        Op::Put {
            row: 2,
            col: Col::Group,
            value: 5,
        },
        Op::Put {
            row: 2,
            col: Col::Num,
            value: 1,
        },
        Op::Put {
            row: 3,
            col: Col::Num,
            value: 0,
        }, // no grouping cell: missing
        Op::Put {
            row: 4,
            col: Col::Other,
            value: 0,
        }, // only family b: not read
        Op::Put {
            row: 5,
            col: Col::Group,
            value: 9,
        }, // empty value
        Op::Flush,
        Op::Put {
            row: 1,
            col: Col::Group,
            value: 6,
        }, // overwrites a flushed value
        Op::DeleteColumn {
            row: 2,
            col: Col::Num,
        },
        Op::Ingest {
            cells: vec![(6, Col::Group, 7), (6, Col::Other, 2), (2, Col::Group, 8)],
        },
        Op::Compact { major: false },
        Op::DeleteRow { row: 5 },
        Op::DeleteFamily {
            row: 6,
            family_a: true,
        },
        Op::Compact { major: true },
    ];
    for (i, op) in ops.iter().enumerate() {
        store.apply(op);
        check(&store, &format!("after {op:?} (step {i})"));
    }
    let r = aggregate(
        &store.db,
        "t",
        &Scope::all(),
        &Aggregation::count_by("a", b"g".to_vec()).bucket("range:10".parse().unwrap()),
        &options(),
    )
    .unwrap();
    // Rows r01 (-2.5), r02 (9.99), r03 (missing); r04 and r06 have no cell in family a.
    assert_eq!(r.rows_scanned, 3);
    assert_eq!(r.rows_missing, 1);
    let keys: Vec<(&[u8], u64)> = r.buckets.iter().map(|b| (&b.key[..], b.count)).collect();
    assert_eq!(keys, [(&b"-10"[..], 1), (&b"0"[..], 1)]);
}

/// `agg` over every row of `table`, now being [`now_micros`].
fn over_all(
    store: &Store,
    table: &str,
    agg: &Aggregation,
    opts: &RunOptions,
) -> Result<AggregateResult, AggregateError> {
    aggregate(&store.db, table, &Scope::all(), agg, opts)
}

/// `n` rows `k00000`.. with `a:g` = `value(i)`.
fn fill(store: &Store, n: u32, value: impl Fn(u32) -> String) {
    let rows: Vec<RowMutation> = (0..n)
        .map(|i| RowMutation {
            row: format!("k{i:05}").into_bytes().into(),
            mutations: vec![Mutation::SetCell {
                family: "a".into(),
                qualifier: b"g".to_vec().into(),
                value: value(i).into_bytes().into(),
                timestamp: 0,
            }],
        })
        .collect();
    store.db.mutate_rows("t", rows).unwrap();
}

#[test]
fn unknown_tables_and_families_and_bad_specs_are_errors() {
    let store = Store::new();
    let g = Aggregation::count_by("a", b"g".to_vec());
    let e = over_all(&store, "nope", &g, &options()).unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
    let zz = Aggregation::count_by("zz", b"g".to_vec());
    let e = over_all(&store, "t", &zz, &options()).unwrap_err();
    assert!(e.to_string().contains("zz"), "{e}");
    let empty = Aggregation::count_by("", b"g".to_vec());
    let e = over_all(&store, "t", &empty, &options()).unwrap_err();
    assert!(matches!(e, AggregateError::Invalid(_)), "{e}");
}

#[test]
fn a_filter_on_a_missing_family_sees_its_column_missing_and_a_filter_can_end_the_scan() {
    let store = Store::new();
    fill(&store, 50, |i| {
        if i % 2 == 0 { "even" } else { "odd" }.to_string()
    });
    let agg = Aggregation::count_by("a", b"g".to_vec());
    let run = |f: &str| {
        let scope = Scope {
            filter: Some(filter(f)),
            ..Scope::all()
        };
        aggregate(&store.db, "t", &scope, &agg, &options()).unwrap()
    };
    let counts = |r: &AggregateResult| -> Vec<(String, u64)> {
        r.buckets
            .iter()
            .map(|b| (String::from_utf8_lossy(&b.key).into_owned(), b.count))
            .collect()
    };
    // As a column no row has: rows pass unless filterIfMissing.
    let r = run("SingleColumnValueFilter('zz', 'q', =, 'binary:x')");
    assert_eq!(r.rows_scanned, 50);
    let r = run("SingleColumnValueFilter('zz', 'q', =, 'binary:x', true, true)");
    assert_eq!((r.rows_scanned, r.distinct_buckets), (0, 0));
    // PageFilter ends the aggregation after the rows it lets through.
    let r = run("SingleColumnValueFilter('a', 'g', =, 'binary:odd') AND PageFilter(7)");
    assert_eq!(counts(&r), [("odd".to_string(), 7)]);
    // Cells: a row whose only cell the filter drops is not counted at all.
    let r = run("ValueFilter(=, 'binary:odd') OR RowFilter(<, 'binary:k00010')");
    assert_eq!(
        counts(&r),
        [("odd".to_string(), 25), ("even".to_string(), 5)]
    );
    assert_eq!(r.rows_scanned, 30, "rows left without cells count nowhere");
}

#[test]
fn too_many_distinct_values_fail_instead_of_growing() {
    let store = Store::new();
    fill(&store, 500, |i| format!("distinct-value-{i}"));
    let agg = Aggregation::count_by("a", b"g".to_vec());
    let tight = RunOptions {
        max_bucket_bytes: 10_000,
        ..options()
    };
    let e = over_all(&store, "t", &agg, &tight).unwrap_err();
    assert!(
        matches!(e, AggregateError::TooManyBuckets { limit: 10_000, .. }),
        "{e}"
    );
    // The default budget holds them; a derived bucket of the same rows is one bucket.
    let ok = over_all(&store, "t", &agg, &options()).unwrap();
    assert_eq!(ok.distinct_buckets, 500);
    let by_year = Aggregation::count_by("a", b"g".to_vec()).bucket(BucketKind::Year);
    let ok = over_all(&store, "t", &by_year, &tight).unwrap();
    assert_eq!((ok.distinct_buckets, ok.unparsable), (0, 500));
}

#[test]
fn a_raised_cancel_flag_stops_the_scan() {
    let store = Store::new();
    fill(&store, 10_000, |_| "v".to_string());
    let opts = RunOptions {
        cancel: Some(Arc::new(AtomicBool::new(true))),
        ..options()
    };
    let e = over_all(
        &store,
        "t",
        &Aggregation::count_by("a", b"g".to_vec()),
        &opts,
    )
    .unwrap_err();
    assert!(matches!(e, AggregateError::Cancelled(_)), "{e}");
}
