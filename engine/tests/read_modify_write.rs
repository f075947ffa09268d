//! What each atomic read-modify-write operation does, one caller at a time (issue 12 item 5):
//! Increment's counters (missing = 0, wrong width and overflow refused, naming the cell),
//! Append (missing = empty), CheckAndMutate's comparisons in HBase's argument order and its
//! absence check; the limits apply as to any write; the results survive a reopen.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use bytes::Bytes;
use strata_engine::{
    CheckAndMutate, ColumnAppend, ColumnDelta, CompareOp, Db, DbOptions, Error, FamilyOptions,
    Limits, Mutation, ReadOptions, RowMutation, WriteOptions,
};

fn open_at(dir: &std::path::Path, limits: Limits) -> Db {
    Db::open(
        dir,
        DbOptions {
            limits,
            ..DbOptions::default()
        },
    )
    .unwrap()
}

fn open(limits: Limits) -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = open_at(dir.path(), limits);
    db.create_table("t", vec![FamilyOptions::new("f"), FamilyOptions::new("g")])
        .unwrap();
    (dir, db)
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn delta(q: &str, d: i64) -> ColumnDelta {
    ColumnDelta {
        family: "f".into(),
        qualifier: b(q),
        delta: d,
    }
}

fn put(db: &Db, row: &str, q: &str, v: &[u8]) {
    db.mutate_row(
        "t",
        RowMutation {
            row: b(row),
            mutations: vec![Mutation::SetCell {
                family: "f".into(),
                qualifier: b(q),
                value: Bytes::copy_from_slice(v),
                timestamp: 0,
            }],
        },
    )
    .unwrap();
}

/// The latest value of `f:q` in `row`.
fn value(db: &Db, row: &str, q: &str) -> Option<Vec<u8>> {
    let r = db
        .get("t", row.as_bytes(), &ReadOptions::default())
        .unwrap()?;
    r.cells
        .iter()
        .find(|c| &*c.family == "f" && c.qualifier == q.as_bytes())
        .map(|c| c.value.to_vec())
}

fn counter(db: &Db, row: &str, q: &str) -> Option<i64> {
    value(db, row, q).map(|v| i64::from_be_bytes(v.try_into().expect("8 bytes")))
}

fn incr(db: &Db, row: &str, deltas: Vec<ColumnDelta>) -> Result<Vec<i64>, Error> {
    let r = db.increment("t", b(row), deltas, &WriteOptions::default())?;
    Ok(r.cells
        .iter()
        .map(|c| i64::from_be_bytes(c.value[..].try_into().expect("8 bytes")))
        .collect())
}

#[test]
fn increment_starts_missing_counters_at_zero_and_returns_the_new_values() {
    let (_dir, db) = open(Limits::default());
    assert_eq!(incr(&db, "r", vec![delta("a", 5)]).unwrap(), vec![5]);
    assert_eq!(incr(&db, "r", vec![delta("a", -7)]).unwrap(), vec![-2]);
    assert_eq!(counter(&db, "r", "a"), Some(-2));
    // Two columns at once, one of them named twice (both deltas apply); the reply is sorted.
    assert_eq!(
        incr(&db, "r", vec![delta("b", 1), delta("a", 10), delta("b", 2)]).unwrap(),
        vec![8, 3]
    );
    assert_eq!(counter(&db, "r", "b"), Some(3));
    // A counter written by a plain put as 8 bytes is a counter.
    put(&db, "p", "c", &40i64.to_be_bytes());
    assert_eq!(incr(&db, "p", vec![delta("c", 2)]).unwrap(), vec![42]);
}

#[test]
fn a_cell_of_another_width_is_not_a_counter_and_nothing_is_incremented() {
    let (_dir, db) = open(Limits::default());
    put(&db, "r", "text", b"hello");
    incr(&db, "r", vec![delta("ok", 1)]).unwrap();
    let err = incr(&db, "r", vec![delta("ok", 1), delta("text", 1)]).expect_err("5 bytes");
    assert!(matches!(err, Error::NotACounter { len: 5, .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("f:text") && msg.contains("row r"), "{msg}");
    // The other column of the refused call was not applied either.
    assert_eq!(counter(&db, "r", "ok"), Some(1));
    assert_eq!(value(&db, "r", "text"), Some(b"hello".to_vec()));
}

#[test]
fn a_counter_never_wraps() {
    let (_dir, db) = open(Limits::default());
    incr(&db, "r", vec![delta("a", i64::MAX - 1)]).unwrap();
    let err = incr(&db, "r", vec![delta("a", 2)]).expect_err("overflow");
    assert!(matches!(err, Error::CounterOverflow { .. }), "{err:?}");
    assert!(err.to_string().contains("f:a"), "{err}");
    assert_eq!(counter(&db, "r", "a"), Some(i64::MAX - 1));
    assert_eq!(incr(&db, "r", vec![delta("a", 1)]).unwrap(), vec![i64::MAX]);
}

#[test]
fn an_increment_is_the_newest_version_even_after_a_future_timestamp() {
    let (_dir, db) = open(Limits::default());
    let future = strata_engine::now_micros() + 3_600_000_000;
    db.mutate_row(
        "t",
        RowMutation {
            row: b("r"),
            mutations: vec![Mutation::SetCell {
                family: "f".into(),
                qualifier: b("a"),
                value: Bytes::copy_from_slice(&1i64.to_be_bytes()),
                timestamp: future,
            }],
        },
    )
    .unwrap();
    let r = db
        .increment("t", b("r"), vec![delta("a", 1)], &WriteOptions::default())
        .unwrap();
    assert_eq!(r.cells[0].timestamp, future + 1);
    assert_eq!(counter(&db, "r", "a"), Some(2));
}

#[test]
fn bad_requests_are_refused_before_anything_is_read() {
    let (_dir, db) = open(Limits {
        max_cells_per_row: 2,
        ..Limits::default()
    });
    let o = WriteOptions::default();
    let e = db
        .increment("t", b("r"), vec![], &o)
        .expect_err("no deltas");
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    let e = db
        .increment(
            "t",
            b("r"),
            vec![delta("a", 1), delta("b", 1), delta("c", 1)],
            &o,
        )
        .expect_err("3 cells");
    assert!(e.to_string().contains("max_cells_per_row"), "{e}");
    let e = db
        .increment(
            "t",
            b("r"),
            vec![ColumnDelta {
                family: "nope".into(),
                qualifier: b("a"),
                delta: 1,
            }],
            &o,
        )
        .expect_err("family");
    assert!(matches!(e, Error::FamilyNotFound { .. }), "{e:?}");
    let e = db
        .increment("missing", b("r"), vec![delta("a", 1)], &o)
        .expect_err("table");
    assert!(matches!(e, Error::TableNotFound(_)), "{e:?}");
    let e = db
        .increment("t", Bytes::new(), vec![delta("a", 1)], &o)
        .expect_err("empty key");
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    // A bad mutation of a CheckAndMutate is refused even though the check would fail.
    let e = db
        .check_and_mutate(
            "t",
            CheckAndMutate {
                row: b("r"),
                family: "f".into(),
                qualifier: b("a"),
                op: CompareOp::Equal,
                value: Some(b("never")),
                mutations: vec![Mutation::SetCell {
                    family: "nope".into(),
                    qualifier: b("x"),
                    value: b("v"),
                    timestamp: 0,
                }],
            },
            &o,
        )
        .expect_err("family");
    assert!(matches!(e, Error::FamilyNotFound { .. }), "{e:?}");
    assert_eq!(db.get("t", b"r", &ReadOptions::default()).unwrap(), None);
}

#[test]
fn append_adds_to_the_latest_value_and_a_missing_cell_starts_empty() {
    let (_dir, db) = open(Limits {
        max_value: 8,
        ..Limits::default()
    });
    let app = |q: &str, v: &str| ColumnAppend {
        family: "f".into(),
        qualifier: b(q),
        value: b(v),
    };
    let o = WriteOptions::default();
    let r = db.append("t", b("r"), vec![app("a", "ab")], &o).unwrap();
    assert_eq!(r.cells[0].value, b("ab"));
    let r = db
        .append(
            "t",
            b("r"),
            vec![app("a", "cd"), app("b", "x"), app("a", "e")],
            &o,
        )
        .unwrap();
    let got: Vec<_> = r.cells.iter().map(|c| c.value.clone()).collect();
    assert_eq!(got, vec![b("abcde"), b("x")]);
    assert_eq!(value(&db, "r", "a"), Some(b"abcde".to_vec()));
    // A result past max_value is refused and leaves the cell as it was.
    let e = db
        .append("t", b("r"), vec![app("a", "6789")], &o)
        .expect_err("9 bytes");
    assert!(e.to_string().contains("over the limit"), "{e}");
    assert_eq!(value(&db, "r", "a"), Some(b"abcde".to_vec()));
}

fn cam(op: CompareOp, given: Option<&str>, new: &str) -> CheckAndMutate {
    CheckAndMutate {
        row: b("r"),
        family: "f".into(),
        qualifier: b("c"),
        op,
        value: given.map(b),
        mutations: vec![Mutation::SetCell {
            family: "g".into(),
            qualifier: b("out"),
            value: b(new),
            timestamp: 0,
        }],
    }
}

#[test]
fn check_and_mutate_compares_the_given_value_against_the_cell_as_hbase_does() {
    let (_dir, db) = open(Limits::default());
    let o = WriteOptions::default();
    let applied = |cm| db.check_and_mutate("t", cm, &o).unwrap();
    // No cell yet: "absent" passes, any given value fails.
    assert!(!applied(cam(CompareOp::Equal, Some("m"), "x")));
    assert!(!applied(cam(CompareOp::NotEqual, None, "x")));
    assert!(applied(cam(CompareOp::Equal, None, "1")));
    put(&db, "r", "c", b"m");
    assert!(!applied(cam(CompareOp::Equal, None, "x")));
    assert!(applied(cam(CompareOp::NotEqual, None, "2")));
    // The stored value is "m". LESS passes when the given value is less than it.
    let cases = [
        (CompareOp::Less, "a", true),
        (CompareOp::Less, "z", false),
        (CompareOp::Less, "m", false),
        (CompareOp::LessOrEqual, "m", true),
        (CompareOp::LessOrEqual, "z", false),
        (CompareOp::Greater, "z", true),
        (CompareOp::Greater, "a", false),
        (CompareOp::GreaterOrEqual, "m", true),
        (CompareOp::GreaterOrEqual, "a", false),
        (CompareOp::Equal, "m", true),
        (CompareOp::Equal, "n", false),
        (CompareOp::NotEqual, "n", true),
        (CompareOp::NotEqual, "m", false),
    ];
    for (i, (op, given, passes)) in cases.into_iter().enumerate() {
        let marker = format!("case{i}");
        assert_eq!(
            applied(cam(op, Some(given), &marker)),
            passes,
            "{op:?} {given}"
        );
        let out = db
            .get("t", b"r", &ReadOptions::default())
            .unwrap()
            .unwrap()
            .cells
            .into_iter()
            .find(|c| &*c.family == "g")
            .unwrap()
            .value;
        assert_eq!(out == marker.as_bytes(), passes, "{op:?} {given}: {out:?}");
    }
}

#[test]
fn check_and_mutate_applies_every_mutation_of_the_row_or_none() {
    let (_dir, db) = open(Limits::default());
    let o = WriteOptions::default();
    put(&db, "r", "c", b"v1");
    put(&db, "r", "gone", b"x");
    let cm = CheckAndMutate {
        mutations: vec![
            Mutation::SetCell {
                family: "f".into(),
                qualifier: b("c"),
                value: b("v2"),
                timestamp: 0,
            },
            Mutation::DeleteCells {
                family: "f".into(),
                qualifier: b("gone"),
                timestamp: 0,
            },
        ],
        ..cam(CompareOp::Equal, Some("v1"), "")
    };
    assert!(db.check_and_mutate("t", cm.clone(), &o).unwrap());
    assert_eq!(value(&db, "r", "c"), Some(b"v2".to_vec()));
    assert_eq!(value(&db, "r", "gone"), None);
    // The same again: the value is v2 now, so nothing happens.
    put(&db, "r", "gone", b"back");
    assert!(!db.check_and_mutate("t", cm, &o).unwrap());
    assert_eq!(value(&db, "r", "gone"), Some(b"back".to_vec()));
}

#[test]
fn results_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = open_at(dir.path(), Limits::default());
        db.create_table("t", vec![FamilyOptions::new("f"), FamilyOptions::new("g")])
            .unwrap();
        for _ in 0..3 {
            incr(&db, "r", vec![delta("a", 2)]).unwrap();
        }
        db.flush("t").unwrap();
        incr(&db, "r", vec![delta("a", 2)]).unwrap();
        // Dropped without close: the last increment is only in the WAL.
    }
    let db = open_at(dir.path(), Limits::default());
    assert_eq!(counter(&db, "r", "a"), Some(8));
    assert_eq!(incr(&db, "r", vec![delta("a", 1)]).unwrap(), vec![9]);
}
