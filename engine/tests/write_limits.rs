//! Requests are bounded before anything is locked (issue 10 item 1, review H1/H2): a write
//! call is sized after expansion (a row delete is one marker per family) and refused with
//! `InvalidArgument` naming the limit; nothing of it is applied, and the store stays
//! writable, because a client's error is not the device's.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use strata_engine::{Db, DbOptions, Error, FamilyOptions, Limits, Mutation, RowMutation};

const FAMILIES: [&str; 4] = ["a", "b", "c", "d"];

fn open(limits: Limits) -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(
        dir.path(),
        DbOptions {
            limits,
            background_threads: false,
            ..DbOptions::default()
        },
    )
    .unwrap();
    let families = FAMILIES.iter().map(|f| FamilyOptions::new(*f)).collect();
    db.create_table("t", families).unwrap();
    (dir, db)
}

fn put(row: &str, value_bytes: usize) -> RowMutation {
    RowMutation {
        row: row.as_bytes().to_vec().into(),
        mutations: vec![Mutation::SetCell {
            family: "a".into(),
            qualifier: b"q".to_vec().into(),
            value: vec![b'v'; value_bytes].into(),
            timestamp: 0,
        }],
    }
}

fn delete_row(row: &str, times: usize) -> RowMutation {
    RowMutation {
        row: row.as_bytes().to_vec().into(),
        mutations: vec![Mutation::DeleteRow; times],
    }
}

/// The error is `InvalidArgument` naming `limit`, the store is still writable and nothing
/// of the refused call is visible.
fn assert_refused(db: &Db, err: Error, limit: &str, rows: &[&str]) {
    assert!(
        matches!(&err, Error::InvalidArgument(m) if m.contains(limit)),
        "{err}"
    );
    assert_eq!(
        db.read_only_reason(),
        None,
        "a client error made the store read-only"
    );
    for r in rows {
        assert!(
            db.get("t", r.as_bytes(), &Default::default())
                .unwrap()
                .is_none(),
            "row {r} of a refused call was applied"
        );
    }
    db.mutate_row("t", put("still-writable", 1)).unwrap();
}

#[test]
fn a_call_expanding_past_max_cells_per_call_is_refused() {
    let (_dir, db) = open(Limits {
        max_cells_per_call: 1000,
        ..Limits::default()
    });
    // 250 row deletes on a 4-family table are 1,000 markers: at the limit.
    let at_limit: Vec<RowMutation> = (0..250).map(|i| delete_row(&format!("d{i}"), 1)).collect();
    db.mutate_rows("t", at_limit).unwrap();
    // 251 are one row delete (four markers) too many, though only 251 mutations.
    let mut over: Vec<RowMutation> = (0..250).map(|i| delete_row(&format!("d{i}"), 1)).collect();
    over.push(put("first", 1));
    over.insert(0, put("last", 1));
    over.push(delete_row("x", 1));
    let err = db.mutate_rows("t", over).unwrap_err();
    assert_refused(&db, err, "max_cells_per_call (1000)", &["first", "last"]);
}

#[test]
fn a_call_encoding_past_max_bytes_per_call_is_refused() {
    let (_dir, db) = open(Limits {
        max_bytes_per_call: 64 * 1024,
        ..Limits::default()
    });
    db.mutate_rows("t", vec![put("r1", 30 * 1024), put("r2", 30 * 1024)])
        .unwrap();
    let err = db
        .mutate_rows("t", vec![put("big1", 40 * 1024), put("big2", 40 * 1024)])
        .unwrap_err();
    assert_refused(&db, err, "max_bytes_per_call (65536)", &["big1", "big2"]);
}

#[test]
fn a_row_expanding_past_max_cells_per_row_is_refused_naming_the_row() {
    let (_dir, db) = open(Limits {
        max_cells_per_row: 10,
        ..Limits::default()
    });
    db.mutate_row("t", delete_row("fine", 2)).unwrap(); // 8 markers
    let err = db
        .mutate_rows("t", vec![put("other", 1), delete_row("wide", 3)]) // 12 markers
        .unwrap_err();
    assert!(err.to_string().contains("row wide"), "{err}");
    assert_refused(&db, err, "max_cells_per_row (10)", &["other"]);
}

#[test]
fn a_call_is_sized_as_it_encodes_naming_each_column_once() {
    // 100 rows writing one column with a long family name and qualifier: the WAL record
    // names the column once (payload v3), so the call encodes to ~2.5 KB although each
    // cell repeats ~1 KB of names. Sizing it as if every cell carried its names (~106 KB)
    // would refuse a call that is far under the limit.
    let (_dir, db) = open(Limits {
        max_bytes_per_call: 64 * 1024,
        ..Limits::default()
    });
    let family = "a_family_name_of_forty_characters_long_x";
    db.create_table("wide", vec![FamilyOptions::new(family)])
        .unwrap();
    // Rows `{prefix}000`-`{prefix}099`, each one cell: the long family, a 1,000-byte
    // qualifier and a value of `value_bytes`.
    let rows = |prefix: &str, value_bytes: usize| -> Vec<RowMutation> {
        (0..100)
            .map(|i| RowMutation {
                row: format!("{prefix}{i:03}").into_bytes().into(),
                mutations: vec![Mutation::SetCell {
                    family: family.into(),
                    qualifier: vec![b'q'; 1000].into(),
                    value: vec![b'v'; value_bytes].into(),
                    timestamp: 0,
                }],
            })
            .collect()
    };
    let written = db.mutate_rows("wide", rows("r", 1)).unwrap();
    assert_eq!(written.cells, 100);
    let got = db.get("wide", b"r042", &Default::default()).unwrap();
    assert!(got.is_some(), "row r042 of the accepted call is missing");

    // What does not fit is still refused once encoded, naming the limit.
    let err = db.mutate_rows("wide", rows("big", 1000)).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument(m) if m.contains("max_bytes_per_call (65536)")),
        "{err}"
    );
    assert_eq!(db.read_only_reason(), None);
}
