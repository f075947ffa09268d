//! `RowScanner::next_borrowed` lends each row's cells instead of building owned ones: from
//! the decoded blocks when the scan walks table files alone, from the row it built
//! otherwise. Whatever the path, the lent rows must be exactly the rows `Iterator::next`
//! returns: here for values derived from the row key (lent as slices of the key), reverse
//! scans, limits, and a scan whose range is partly in the memtable. The read shapes, deletes
//! and overlapping files are covered by the scan tests through `support::lent_rows`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

mod support;

use std::ops::Bound;

use strata_engine::{Db, FamilyOptions, Mutation, Row, RowMutation, ScanOptions};

/// Rows `sess{s}#evt{e}` whose `d:sid` and `d:eid` values are the key's fields (derived
/// from the key in the file) and `m:x` a stored value.
fn write_rows(db: &Db, sessions: std::ops::Range<u32>) {
    let rows = sessions
        .flat_map(|s| (0..5u32).map(move |e| (s, e)))
        .map(|(s, e)| {
            let (sid, eid) = (format!("sess{s:04}"), format!("evt{e}"));
            let set = |family: &str, q: &str, v: Vec<u8>| Mutation::SetCell {
                family: family.into(),
                qualifier: q.to_string().into(),
                value: v.into(),
                timestamp: 0,
            };
            RowMutation {
                row: format!("{sid}#{eid}").into_bytes().into(),
                mutations: vec![
                    set("d", "sid", sid.clone().into_bytes()),
                    set("d", "eid", eid.clone().into_bytes()),
                    set("m", "x", vec![b'v'; 1 + (s as usize + e as usize) % 7]),
                ],
            }
        })
        .collect();
    db.mutate_rows("t", rows).unwrap();
}

/// A store that flushes and compacts only when told, with table `t` (families `d`, `m`)
/// holding the rows of sessions `0..sessions` in one file.
fn store(sessions: u32) -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = support::open_manual(dir.path());
    db.create_table("t", vec![FamilyOptions::new("d"), FamilyOptions::new("m")])
        .unwrap();
    write_rows(&db, 0..sessions);
    db.flush("t").unwrap();
    (dir, db)
}

fn owned(db: &Db, opts: ScanOptions) -> Vec<Row> {
    db.scan("t", opts).unwrap().map(Result::unwrap).collect()
}

fn lent(db: &Db, opts: ScanOptions) -> Vec<Row> {
    support::lent_rows(db.scan("t", opts).unwrap())
}

fn shapes() -> Vec<ScanOptions> {
    vec![
        ScanOptions::default(),
        ScanOptions {
            reverse: true,
            ..ScanOptions::default()
        },
        ScanOptions {
            start: Bound::Included(b"sess0003".to_vec()),
            stop: Bound::Excluded(b"sess0011".to_vec()),
            limit: 17,
            ..ScanOptions::default()
        },
        ScanOptions {
            start: Bound::Included(b"sess0012".to_vec()),
            reverse: true,
            limit: 9,
            ..ScanOptions::default()
        },
    ]
}

#[test]
fn lent_rows_equal_owned_rows_on_every_scan_path() {
    let (_dir, db) = store(20);
    let mut checked = 0;
    for when in ["one file", "a file and the memtable", "overlapping files"] {
        for opts in shapes() {
            let want = owned(&db, opts.clone());
            assert!(!want.is_empty(), "{when}: {opts:?} reads rows");
            assert_eq!(lent(&db, opts.clone()), want, "{when}: {opts:?}");
            checked += want.len();
        }
        match when {
            "one file" => write_rows(&db, 15..30),
            "a file and the memtable" => db.flush("t").unwrap(),
            _ => {}
        }
    }
    assert!(checked > 300, "the scans read {checked} rows");
    // The derived values came back whole: every `d:sid` is its key's first field.
    let rows = lent(&db, ScanOptions::default());
    assert_eq!(rows.len(), 150);
    for r in &rows {
        let sid = r.cells.iter().find(|c| &*c.qualifier == b"sid").unwrap();
        assert_eq!(r.key.split(|b| *b == b'#').next().unwrap(), &*sid.value);
    }
}

#[test]
fn a_lent_row_is_handed_out_once_and_the_scan_goes_on() {
    let (_dir, db) = store(4);
    let mut scan = db.scan("t", ScanOptions::default()).unwrap();
    let first = scan.next_borrowed(|key, cells| (key.to_vec(), cells.len()));
    assert_eq!(first.unwrap().unwrap(), (b"sess0000#evt0".to_vec(), 3));
    // The owned and the lent reads share one position.
    assert_eq!(scan.next().unwrap().unwrap().key, b"sess0000#evt1".to_vec());
    let third = scan.next_borrowed(|key, _| key.to_vec()).unwrap().unwrap();
    assert_eq!(third, b"sess0000#evt2".to_vec());
    assert_eq!(scan.count(), 17);
}
