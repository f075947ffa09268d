//! Reverse scans against the forward scan: random puts (several versions), deletes of every
//! kind, spread over several overlapping table files and the memtable, then random scans
//! (bounds of both kinds, prefixes, columns, versions, time ranges, limits, filters). A
//! reverse scan must return exactly the forward scan's rows in the opposite order (the limit
//! counting from the high end), with the default windows and with windows of one key block,
//! one memtable row and a few hundred bytes (so every window boundary and the "window too
//! large" path are taken), also when it is released between rows and when writes, flushes
//! and a compaction land while it runs (it reads one snapshot).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::ops::Bound;

use proptest::prelude::*;
use strata_engine::filter::{EvalOptions, Filter, FilterDecision, FilterState, TimeUnit};
use strata_engine::{
    ColumnSelector, Db, DbOptions, FamilyOptions, Mutation, ReadOptions, ReverseWindows, Row,
    RowMutation, ScanOptions, SyncMode, TimeRange,
};

/// Keys sharing prefixes ("k1", "k10"...) so prefix and bound edges fall between neighbours,
/// long enough that a 1 KiB key block holds a few dozen of them (files have many key blocks,
/// so reverse windows cut often).
fn key(i: u8) -> Vec<u8> {
    let mut k = format!("k{}-{}", i % 100, "-".repeat(24)).into_bytes();
    if i >= 100 {
        k.push(b'x');
    }
    k
}

#[derive(Clone, Debug)]
enum Op {
    Put {
        row: u8,
        fam: bool,
        qual: u8,
        ts: i64,
        val: u8,
    },
    DeleteColumn {
        row: u8,
        fam: bool,
        qual: u8,
    },
    DeleteFamily {
        row: u8,
        fam: bool,
    },
    DeleteRow {
        row: u8,
    },
    Flush,
}

fn fam(b: bool) -> &'static str {
    if b { "a" } else { "b" }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0u8..200, any::<bool>(), 0u8..4, 1i64..6, any::<u8>())
            .prop_map(|(row, fam, qual, ts, val)| Op::Put { row, fam, qual, ts, val }),
        1 => (0u8..200, any::<bool>(), 0u8..4)
            .prop_map(|(row, fam, qual)| Op::DeleteColumn { row, fam, qual }),
        1 => (0u8..200, any::<bool>()).prop_map(|(row, fam)| Op::DeleteFamily { row, fam }),
        1 => (0u8..200).prop_map(|row| Op::DeleteRow { row }),
        1 => Just(Op::Flush),
    ]
}

#[derive(Clone, Debug)]
struct Scan {
    start: Option<(u8, bool)>,
    stop: Option<(u8, bool)>,
    prefix: Option<u8>,
    column: Option<(bool, Option<u8>)>,
    versions: u32,
    time: Option<(i64, i64)>,
    limit: u64,
    filter: Option<u8>,
}

fn scan() -> impl Strategy<Value = Scan> {
    (
        proptest::option::of((0u8..200, any::<bool>())),
        proptest::option::of((0u8..200, any::<bool>())),
        proptest::option::weighted(0.2, 0u8..12),
        proptest::option::weighted(0.3, (any::<bool>(), proptest::option::of(0u8..4))),
        1u32..4,
        proptest::option::weighted(0.2, (1i64..4, 2i64..7)),
        prop_oneof![3 => Just(0u64), 1 => 1u64..20],
        proptest::option::weighted(0.3, 0u8..3),
    )
        .prop_map(
            |(start, stop, prefix, column, versions, time, limit, filter)| Scan {
                start,
                stop,
                prefix,
                column,
                versions,
                time,
                limit,
                filter,
            },
        )
}

fn bound((i, inclusive): (u8, bool)) -> Bound<Vec<u8>> {
    if inclusive {
        Bound::Included(key(i))
    } else {
        Bound::Excluded(key(i))
    }
}

impl Scan {
    fn options(&self, reverse: bool) -> ScanOptions {
        ScanOptions {
            start: self.start.map_or(Bound::Unbounded, bound),
            stop: self.stop.map_or(Bound::Unbounded, bound),
            prefix: self
                .prefix
                .map(|p| format!("k{p}").into_bytes())
                .unwrap_or_default(),
            read: ReadOptions {
                columns: self
                    .column
                    .map(|(f, q)| {
                        vec![ColumnSelector {
                            family: fam(f).into(),
                            qualifier: q.map(|q| vec![b'q', q]),
                        }]
                    })
                    .unwrap_or_default(),
                max_versions: self.versions,
                time_range: self.time.map_or(TimeRange::default(), |(s, e)| TimeRange {
                    start: s,
                    end: Some(s.max(e)),
                }),
            },
            limit: self.limit,
            reverse,
        }
    }

    fn filter(&self) -> Option<Filter> {
        let text = match self.filter? {
            0 => "ValueFilter(>, 'binary:\\x80')",
            1 => {
                "QualifierFilter(=, 'binary:q1') OR SingleColumnValueFilter('a', 'q0', <, 'binary:\\x40')"
            }
            _ => "KeyOnlyFilter() AND ColumnPrefixFilter('q')",
        };
        Some(Filter::parse(text.as_bytes(), TimeUnit::Micros).expect("filter"))
    }
}

fn open(dir: &std::path::Path) -> Db {
    let db = Db::open(
        dir,
        DbOptions {
            sync_mode: SyncMode::None,
            background_threads: false,
            ..DbOptions::default()
        },
    )
    .expect("open");
    let family = |name: &str, versions| FamilyOptions {
        max_versions: versions,
        // The smallest blocks: files have many key blocks.
        block_size: 1024,
        ..FamilyOptions::new(name)
    };
    db.create_table("t", vec![family("a", 3), family("b", 1)])
        .expect("create");
    db
}

fn apply(db: &Db, op: &Op) {
    let (row, m) = match *op {
        Op::Put {
            row,
            fam: f,
            qual,
            ts,
            val,
        } => (
            row,
            Mutation::SetCell {
                family: fam(f).into(),
                qualifier: vec![b'q', qual].into(),
                value: vec![val; 1 + usize::from(val % 7)].into(),
                timestamp: ts,
            },
        ),
        Op::DeleteColumn { row, fam: f, qual } => (
            row,
            Mutation::DeleteCells {
                family: fam(f).into(),
                qualifier: vec![b'q', qual].into(),
                timestamp: 0,
            },
        ),
        Op::DeleteFamily { row, fam: f } => (
            row,
            Mutation::DeleteFamily {
                family: fam(f).into(),
            },
        ),
        Op::DeleteRow { row } => (row, Mutation::DeleteRow),
        Op::Flush => {
            db.flush("t").expect("flush");
            return;
        }
    };
    db.mutate_row(
        "t",
        RowMutation {
            row: key(row).into(),
            mutations: vec![m],
        },
    )
    .expect("write");
}

/// One cell `a:q0` of value `i` in row `i`.
fn put_row(db: &Db, i: u8) {
    let op = Op::Put {
        row: i,
        fam: true,
        qual: 0,
        ts: 1,
        val: i,
    };
    apply(db, &op);
}

/// The rows through `filter` (in the order given), as the server applies it.
fn filtered(rows: Vec<Row>, filter: Option<&Filter>, reversed: bool, limit: u64) -> Vec<Row> {
    let Some(filter) = filter else {
        return rows;
    };
    let mut state = FilterState::new(
        filter,
        EvalOptions {
            max_versions: u32::MAX,
            reversed,
        },
    );
    let mut out = Vec::new();
    for row in rows {
        if limit > 0 && out.len() as u64 >= limit {
            break;
        }
        match state.apply(row) {
            FilterDecision::Include(r) => out.push(r),
            FilterDecision::Skip => {}
            FilterDecision::StopScan => break,
        }
    }
    out
}

/// What the reverse scan of `s` must return: the forward scan without its limit, reversed,
/// filtered, then cut to the limit.
fn expected(db: &Db, s: &Scan) -> Vec<Row> {
    let mut forward = s.options(false);
    forward.limit = 0;
    let mut rows: Vec<Row> = db
        .scan("t", forward)
        .expect("scan")
        .collect::<Result<_, _>>()
        .expect("forward rows");
    rows.reverse();
    let filter = s.filter();
    let mut rows = filtered(rows, filter.as_ref(), true, s.limit);
    if s.limit > 0 {
        rows.truncate(s.limit as usize);
    }
    rows
}

const TINY: ReverseWindows = ReverseWindows {
    blocks: 1,
    memtable_rows: 1,
    bytes: 300,
};

/// The reverse scan of `s`, with `windows`, released after every `release_every` rows.
fn reverse(db: &Db, s: &Scan, windows: Option<ReverseWindows>, release_every: usize) -> Vec<Row> {
    let filter = s.filter();
    let mut opts = s.options(true);
    // With a filter the server counts the limit after it (as `expected` does).
    if filter.is_some() {
        opts.limit = 0;
    }
    let mut scanner = db.scan("t", opts).expect("reverse scan");
    if let Some(w) = windows {
        scanner.reverse_windows(w);
    }
    let mut rows = Vec::new();
    while let Some(r) = scanner.next() {
        rows.push(r.expect("reverse row"));
        if release_every > 0 && rows.len().is_multiple_of(release_every) {
            scanner.release();
        }
    }
    filtered(rows, filter.as_ref(), true, s.limit)
}

fn keys(rows: &[Row]) -> Vec<String> {
    rows.iter()
        .map(|r| String::from_utf8_lossy(&r.key).into_owned())
        .collect()
}

fn check(db: &Db, scans: &[Scan]) -> Result<(), TestCaseError> {
    for s in scans {
        let want = expected(db, s);
        for (windows, release) in [(None, 0), (Some(TINY), 0), (Some(TINY), 3)] {
            let got = reverse(db, s, windows, release);
            prop_assert_eq!(
                keys(&got),
                keys(&want),
                "{:?} windows {:?} release {}",
                s,
                windows,
                release
            );
            prop_assert_eq!(&got, &want, "{:?}", s);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn a_reverse_scan_returns_the_forward_rows_in_the_opposite_order(
        ops in proptest::collection::vec(op(), 1..400),
        scans in proptest::collection::vec(scan(), 1..8),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        for op in &ops {
            apply(&db, op);
        }
        check(&db, &scans)?;
        // Once more with everything in files, and in one file.
        db.flush("t").unwrap();
        check(&db, &scans)?;
        db.compact("t", true).unwrap();
        check(&db, &scans)?;
    }
}

#[test]
fn a_reverse_scan_reads_one_snapshot_while_writes_flushes_and_compactions_land() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    for i in 0..80u8 {
        put_row(&db, i);
        if i % 20 == 19 {
            db.flush("t").unwrap();
        }
    }
    let all = Scan {
        start: None,
        stop: None,
        prefix: None,
        column: None,
        versions: 3,
        time: None,
        limit: 0,
        filter: None,
    };
    let before = expected(&db, &all);
    assert_eq!(before.len(), 80);
    let mut scanner = db.scan("t", all.options(true)).unwrap();
    scanner.reverse_windows(TINY);
    let mut got = vec![scanner.next().unwrap().unwrap()];
    for i in 0..80u8 {
        apply(&db, &Op::DeleteRow { row: i });
        apply(
            &db,
            &Op::Put {
                row: i,
                fam: false,
                qual: 1,
                ts: 9,
                val: 0,
            },
        );
    }
    db.flush("t").unwrap();
    scanner.release();
    got.push(scanner.next().unwrap().unwrap());
    db.compact("t", true).unwrap();
    got.extend(scanner.by_ref().map(|r| r.unwrap()));
    // One memtable row or one key block per window: many windows, each cut somewhere else.
    assert!(scanner.reopened() > 10, "{} windows", scanner.reopened());
    assert_eq!(keys(&got), keys(&before));
    assert_eq!(got, before);
    assert!(
        db.scan("t", all.options(true)).unwrap().all(|r| r
            .unwrap()
            .cells
            .iter()
            .all(|c| &*c.family == "b")),
        "a new scan sees the writes"
    );
}

#[test]
fn a_reverse_scan_of_a_dropped_table_fails_instead_of_ending_early() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    for i in 0..40u8 {
        put_row(&db, i);
    }
    let mut scanner = db
        .scan(
            "t",
            ScanOptions {
                reverse: true,
                ..ScanOptions::default()
            },
        )
        .unwrap();
    scanner.reverse_windows(TINY);
    assert!(scanner.next().unwrap().is_ok());
    db.drop_table("t").unwrap();
    let rest: Vec<_> = scanner.collect();
    assert!(
        rest.iter()
            .any(|r| matches!(r, Err(strata_engine::Error::TableNotFound(_)))),
        "{rest:?}"
    );
}
