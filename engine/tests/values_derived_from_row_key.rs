//! Values that are parts of their own row key (SSTable format v3 leaves them out of the file
//! and reads them back from the key) read back exactly as written: random composite keys
//! (`session#time#event`, as the clickstream table's), values that are a field of the key,
//! the whole key, a same-length field of another row's key, empty or unrelated, deletes of
//! every kind, flushes and compactions; then gets, scans (whole rows, one family, chosen
//! columns, several versions, a prefix, reversed) and aggregations are compared with a
//! model: the same writes in a store that never flushes (its reads never touch a table
//! file, so they cannot depend on the encoding).
//!
//! A second test checks through the public builder that such values really leave the file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use strata_engine::aggregate::{Aggregation, RunOptions, Scope, aggregate};
use strata_engine::sstable::{TableBuildOptions, TableBuilder, TableReader};
use strata_engine::{
    CellKind, CellRef, ColumnSelector, Db, DbOptions, FamilyOptions, Mutation, ReadOptions, Row,
    RowMutation, ScanOptions, SyncMode, fs,
};

const SESSIONS: [&str; 4] = ["a1b2-c3d4", "ffee-0123", "x", "0f9a-77b2"];
const TIMES: [&str; 3] = [
    "2022-07-29T15:22:01.458193Z",
    "2022-07-29T15:22:01.5Z",
    "2022-07-30T00:00:00.000001Z",
];
const EVENTS: [&str; 3] = ["7", "1234", "5678"];
/// Qualifiers of family `d` and the key part each mostly holds.
const QUALS: [&str; 5] = ["eid", "key", "sid", "time", "x"];

fn key(i: usize) -> Vec<u8> {
    let s = SESSIONS[i % 4];
    let t = TIMES[(i / 4) % 3];
    let e = EVENTS[(i / 12) % 3];
    format!("{s}#{t}#{e}").into_bytes()
}
const KEYS: usize = 36;

#[derive(Clone, Debug)]
enum Value {
    /// Field n of the row's key at `#`.
    Field(usize),
    WholeKey,
    /// Field n of another row's key (often the same length as this row's).
    OtherField(usize, usize),
    Empty,
    Bytes(Vec<u8>),
}

#[derive(Clone, Debug)]
enum Op {
    Put {
        row: usize,
        family: bool,
        qual: usize,
        value: Value,
        ts: i64,
    },
    DeleteCells {
        row: usize,
        qual: usize,
        ts: i64,
    },
    DeleteFamily {
        row: usize,
    },
    DeleteRow {
        row: usize,
    },
    Flush,
    Compact {
        major: bool,
    },
}

fn value_strategy(qual: usize) -> impl Strategy<Value = Value> {
    let natural = match QUALS[qual] {
        "eid" => Value::Field(2),
        "key" => Value::WholeKey,
        "sid" => Value::Field(0),
        "time" => Value::Field(1),
        _ => Value::Bytes(b"v".to_vec()),
    };
    prop_oneof![
        6 => Just(natural),
        1 => (0usize..3).prop_map(Value::Field),
        1 => (0usize..KEYS, 0usize..3).prop_map(|(r, f)| Value::OtherField(r, f)),
        1 => Just(Value::Empty),
        1 => proptest::collection::vec(prop_oneof![Just(b'#'), any::<u8>()], 0..12).prop_map(Value::Bytes),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        24 => (0usize..KEYS, proptest::bool::weighted(0.8), 0usize..QUALS.len(), 1i64..5)
            .prop_flat_map(|(row, family, qual, ts)| {
                value_strategy(qual).prop_map(move |value| Op::Put { row, family, qual, value, ts })
            }),
        2 => (0usize..KEYS, 0usize..QUALS.len(), 0i64..5)
            .prop_map(|(row, qual, ts)| Op::DeleteCells { row, qual, ts }),
        1 => (0usize..KEYS).prop_map(|row| Op::DeleteFamily { row }),
        1 => (0usize..KEYS).prop_map(|row| Op::DeleteRow { row }),
        2 => Just(Op::Flush),
        1 => any::<bool>().prop_map(|major| Op::Compact { major }),
    ]
}

fn field(key: &[u8], n: usize) -> Vec<u8> {
    key.split(|&b| b == b'#').nth(n).unwrap().to_vec()
}

fn resolve(row: usize, v: &Value) -> Vec<u8> {
    match v {
        Value::Field(n) => field(&key(row), *n),
        Value::WholeKey => key(row),
        Value::OtherField(r, n) => field(&key(*r), *n),
        Value::Empty => Vec::new(),
        Value::Bytes(b) => b.clone(),
    }
}

fn open(dir: &Path) -> Db {
    let db = Db::open(
        dir,
        DbOptions {
            sync_mode: SyncMode::None,
            background_threads: false,
            memtable_bytes: 64 << 20,
            ..DbOptions::default()
        },
    )
    .expect("open");
    let d = FamilyOptions {
        max_versions: 3,
        // Small blocks: a qualifier is derived in some blocks and stored in others.
        block_size: 1024,
        ..FamilyOptions::new("d")
    };
    db.create_table("t", vec![d, FamilyOptions::new("m")])
        .expect("create");
    db
}

fn apply(db: &Db, op: &Op, files: bool) {
    let mutation = match op {
        Op::Put {
            row,
            family,
            qual,
            value,
            ts,
        } => Mutation::SetCell {
            family: if *family { "d" } else { "m" }.into(),
            qualifier: QUALS[*qual].into(),
            value: resolve(*row, value).into(),
            timestamp: *ts,
        },
        Op::DeleteCells { qual, ts, .. } => Mutation::DeleteCells {
            family: "d".into(),
            qualifier: QUALS[*qual].into(),
            timestamp: *ts,
        },
        Op::DeleteFamily { .. } => Mutation::DeleteFamily { family: "d".into() },
        Op::DeleteRow { .. } => Mutation::DeleteRow,
        Op::Flush => {
            if files {
                db.flush("t").expect("flush");
            }
            return;
        }
        Op::Compact { major } => {
            if files {
                db.flush("t").expect("flush");
                db.compact("t", *major).expect("compact");
            }
            return;
        }
    };
    let (Op::Put { row, .. }
    | Op::DeleteCells { row, .. }
    | Op::DeleteFamily { row }
    | Op::DeleteRow { row }) = op
    else {
        unreachable!()
    };
    db.mutate_rows(
        "t",
        vec![RowMutation {
            row: key(*row).into(),
            mutations: vec![mutation],
        }],
    )
    .expect("write");
}

fn col(family: &str, q: Option<&str>) -> ColumnSelector {
    ColumnSelector {
        family: family.into(),
        qualifier: q.map(|q| q.as_bytes().to_vec()),
    }
}

/// The read shapes compared.
fn reads() -> Vec<ReadOptions> {
    let versions = |n| ReadOptions {
        max_versions: n,
        ..ReadOptions::default()
    };
    vec![
        versions(1),
        versions(3),
        ReadOptions {
            columns: vec![col("d", None)],
            ..versions(3)
        },
        ReadOptions {
            columns: vec![
                col("d", Some("sid")),
                col("d", Some("x")),
                col("m", Some("time")),
            ],
            ..versions(1)
        },
        ReadOptions {
            columns: vec![col("d", Some("time")), col("d", Some("key"))],
            ..versions(2)
        },
    ]
}

fn scan(db: &Db, opts: ScanOptions) -> Vec<Row> {
    db.scan("t", opts)
        .expect("scan")
        .map(|r| r.expect("row"))
        .collect()
}

/// Everything the test reads, in one comparable value.
fn observe(db: &Db) -> Vec<String> {
    let mut out = Vec::new();
    for (i, read) in reads().into_iter().enumerate() {
        for k in 0..KEYS {
            let got = db.get("t", &key(k), &read).expect("get");
            out.push(format!("get {i} {k}: {got:?}"));
        }
        let all = ScanOptions {
            read: read.clone(),
            ..ScanOptions::default()
        };
        out.push(format!("scan {i}: {:?}", scan(db, all.clone())));
        let prefix = ScanOptions {
            prefix: format!("{}#", SESSIONS[1]).into_bytes(),
            ..all.clone()
        };
        out.push(format!("prefix {i}: {:?}", scan(db, prefix)));
        let range = ScanOptions {
            start: Bound::Excluded(key(1)),
            stop: Bound::Included(key(30)),
            reverse: true,
            ..all
        };
        out.push(format!("reverse {i}: {:?}", scan(db, range)));
    }
    let opts = RunOptions {
        now_micros: 1_700_000_000_000_000,
        partitions: 2,
        ..RunOptions::default()
    };
    for (f, q) in [
        ("d", "sid"),
        ("d", "time"),
        ("d", "key"),
        ("d", "x"),
        ("m", "sid"),
    ] {
        let r = aggregate(
            db,
            "t",
            &Scope::all(),
            &Aggregation::count_by(f, q.as_bytes().to_vec()),
            &opts,
        )
        .expect("aggregate");
        out.push(format!(
            "aggregate {f}:{q}: {:?} scanned {} missing {} cells {}",
            r.buckets, r.rows_scanned, r.rows_missing, r.cells_scanned
        ));
    }
    out
}

fn compare(model: &Db, db: &Db, when: &str) -> Result<(), TestCaseError> {
    for (m, d) in observe(model).iter().zip(observe(db)) {
        prop_assert_eq!(m, &d, "{}", when);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn reads_of_values_equal_to_key_parts_match_a_store_without_files(
        ops in proptest::collection::vec(op_strategy(), 1..200),
    ) {
        let (m, d) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (model, db) = (open(m.path()), open(d.path()));
        for op in &ops {
            apply(&model, op, false);
            apply(&db, op, true);
        }
        compare(&model, &db, "as written")?;
        db.flush("t").unwrap();
        compare(&model, &db, "flushed")?;
        db.compact("t", true).unwrap();
        compare(&model, &db, "after a major compaction")?;
        // Reopened: nothing cached.
        db.close().unwrap();
        drop(db);
        let db = Db::open(d.path(), DbOptions { background_threads: false, ..DbOptions::default() }).unwrap();
        compare(&model, &db, "reopened")?;
    }
}

/// Builds one file of `rows` rows of family `d` whose values are each `value(key, q)`.
fn build(dir: &Path, name: &str, value: impl Fn(&[u8], usize) -> Vec<u8>) -> (TableReader, u64) {
    let path = dir.join(name);
    let opts = TableBuildOptions {
        families: vec![FamilyOptions::new("d")],
    };
    let mut b = TableBuilder::new(&fs::real(), &path, opts).unwrap();
    let mut value_bytes = 0;
    for i in 0..2000u32 {
        let k = format!(
            "{i:06}-{:04x}#2022-07-29T15:{:02}:01.{i:06}Z#{}",
            i / 7,
            i % 60,
            i * 31
        );
        let k = k.as_bytes();
        for (qi, q) in ["eid", "sid", "time"].iter().enumerate() {
            let v = value(k, qi);
            value_bytes += v.len() as u64;
            b.add(&CellRef {
                row: k,
                family: "d",
                kind: CellKind::Put,
                qualifier: q.as_bytes(),
                ts: 5,
                seq: 1,
                value: &v,
            })
            .unwrap();
        }
    }
    b.finish().unwrap();
    (TableReader::open(&path, None).unwrap(), value_bytes)
}

/// Values equal to fields of their keys leave the file (its uncompressed family blocks shrink
/// by about their bytes) and read back; the same values shifted by one byte stay in it.
#[test]
fn values_equal_to_key_fields_are_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let fields = |k: &[u8], qi: usize| field(k, [2, 0, 1][qi]);
    let (derived, bytes) = build(dir.path(), "derived.sst", fields);
    let (stored, bytes2) = build(dir.path(), "stored.sst", |k, qi| {
        fields(k, qi).iter().map(|b| b.wrapping_add(1)).collect()
    });
    assert_eq!(bytes, bytes2);
    // Derivations came in format v3; later versions keep them.
    assert!(derived.properties().format_version >= 3);
    let raw = |r: &TableReader| r.properties().families[0].raw_bytes;
    assert!(
        raw(&derived) + bytes * 9 / 10 < raw(&stored),
        "derived {} stored {} value bytes {bytes}: {:?} {:?}",
        raw(&derived),
        raw(&stored),
        derived.properties().families[0],
        stored.properties().families[0],
    );
    let fam: Vec<Arc<str>> = vec![Arc::from("d")];
    let mut n = 0;
    for c in derived.iter(Bound::Unbounded, Some(&fam)).unwrap() {
        let c = c.unwrap();
        let qi = ["eid", "sid", "time"]
            .iter()
            .position(|q| q.as_bytes() == &c.qualifier[..])
            .unwrap();
        assert_eq!(c.value, fields(&c.row, qi));
        n += 1;
    }
    assert_eq!(n, 6000);
    derived.verify_checksums().unwrap();
}
