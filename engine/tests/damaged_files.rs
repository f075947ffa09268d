//! One bad table file does not take every table offline (issue 10 item 8; review M7): a
//! store with a damaged or missing table file opens with that table unavailable
//! (`Error::TableUnavailable` naming the file, on every call but drop) and the others
//! serving, its WAL data kept; `quarantine_damaged_files` moves the files aside and opens the
//! table without them in one manifest commit; `check::check_store` reports the damage with
//! file and offset, and finds the quarantined store sound.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::path::{Path, PathBuf};

use strata_engine::check::{Severity, check_store};
use strata_engine::{
    Db, DbOptions, Error, FamilyOptions, Mutation, ReadOptions, RowMutation, ScanOptions,
};

fn opts() -> DbOptions {
    DbOptions {
        background_threads: false,
        ..DbOptions::default()
    }
}

fn put(db: &Db, table: &str, row: &str, value: &[u8]) {
    db.mutate_row(
        table,
        RowMutation {
            row: row.as_bytes().to_vec().into(),
            mutations: vec![Mutation::SetCell {
                family: "f".into(),
                qualifier: b"q".to_vec().into(),
                value: value.to_vec().into(),
                timestamp: 1,
            }],
        },
    )
    .unwrap();
}

fn sst_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("sst"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn found(db: &Db, table: &str, row: &str) -> bool {
    db.get(table, row.as_bytes(), &ReadOptions::default())
        .unwrap()
        .is_some()
}

/// Tables a (damaged later), b and c, one flushed file each; a also has an unflushed row.
fn three_tables(dir: &Path) -> PathBuf {
    let db = Db::open(dir, opts()).unwrap();
    for t in ["a", "b", "c"] {
        db.create_table(t, vec![FamilyOptions::new("f")]).unwrap();
        for i in 0..50 {
            put(&db, t, &format!("r{i:02}"), &[i as u8; 300]);
        }
        db.flush(t).unwrap();
    }
    let a_file = sst_files(dir)[0].clone();
    put(&db, "a", "wal-only", b"x");
    drop(db); // no close: the row stays only in the WAL
    a_file
}

#[test]
fn a_damaged_file_makes_only_its_table_unavailable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let a_file = three_tables(dir);
    let len = std::fs::metadata(&a_file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&a_file)
        .unwrap()
        .set_len(len - 7)
        .unwrap();
    let db = Db::open(dir, opts()).unwrap();
    assert_eq!(db.list_tables(), ["a", "b", "c"]);
    assert!(found(&db, "b", "r01") && found(&db, "c", "r49"));
    let name = a_file.file_name().unwrap().to_str().unwrap();
    let unavailable = |e: Error| match e {
        Error::TableUnavailable { table, path, .. } => {
            assert_eq!(table, "a");
            assert!(path.ends_with(name), "{}", path.display());
        }
        other => panic!("expected TableUnavailable, got {other:?}"),
    };
    unavailable(db.get("a", b"r01", &ReadOptions::default()).unwrap_err());
    unavailable(db.scan("a", ScanOptions::default()).unwrap_err());
    unavailable(db.describe_table("a").unwrap_err());
    unavailable(
        db.mutate_row(
            "a",
            RowMutation {
                row: b"x".to_vec().into(),
                mutations: vec![Mutation::DeleteRow],
            },
        )
        .unwrap_err(),
    );
    unavailable(db.flush("a").unwrap_err());
    unavailable(db.compact("a", true).unwrap_err());
    // Writes to the others go on, and survive a restart.
    put(&db, "b", "new", b"y");
    db.close().unwrap();
    drop(db);

    let report = check_store(dir).unwrap();
    assert!(!report.is_sound());
    let damage: Vec<_> = report.damage().collect();
    assert!(
        damage
            .iter()
            .any(|f| f.path == a_file && f.table.as_deref() == Some("a")),
        "{damage:?}"
    );

    // Quarantine: one open moves it aside and opens the table without it.
    let db = Db::open(
        dir,
        DbOptions {
            quarantine_damaged_files: true,
            ..opts()
        },
    )
    .unwrap();
    assert!(!found(&db, "a", "r01"), "the file's rows are gone");
    assert!(found(&db, "a", "wal-only"), "what the WAL held is kept");
    assert!(found(&db, "b", "new"));
    let q = dir.join("quarantine").join(name);
    assert!(q.is_file() && !a_file.exists());
    put(&db, "a", "after", b"z");
    db.close().unwrap();
    drop(db);
    let report = check_store(dir).unwrap();
    assert!(report.is_sound(), "{:?}", report.findings);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.severity == Severity::Warning && f.kind == "quarantined-file")
    );
    let db = Db::open(dir, opts()).unwrap();
    assert!(found(&db, "a", "after") && found(&db, "a", "wal-only"));
}

#[test]
fn a_missing_file_makes_its_table_unavailable_and_it_can_be_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let a_file = three_tables(dir);
    std::fs::remove_file(&a_file).unwrap();
    let report = check_store(dir).unwrap();
    assert!(
        report
            .damage()
            .any(|f| f.kind == "missing-file" && f.path == a_file),
        "{:?}",
        report.findings
    );
    let db = Db::open(dir, opts()).unwrap();
    assert!(matches!(
        db.get("a", b"r01", &ReadOptions::default()),
        Err(Error::TableUnavailable { .. })
    ));
    db.drop_table("a").unwrap();
    assert_eq!(db.list_tables(), ["b", "c"]);
    db.create_table("a", vec![FamilyOptions::new("f")]).unwrap();
    assert!(
        !found(&db, "a", "wal-only"),
        "a new table shares nothing with the old"
    );
    db.close().unwrap();
    drop(db);
    assert!(check_store(dir).unwrap().is_sound());
}

#[test]
fn check_reports_every_damaged_block_and_wal_damage_with_offsets() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = Db::open(
        dir,
        DbOptions {
            wal_segment_bytes: 4096,
            ..opts()
        },
    )
    .unwrap();
    db.create_table(
        "t",
        vec![FamilyOptions {
            block_size: 1024,
            compression: strata_engine::Compression::None,
            ..FamilyOptions::new("f")
        }],
    )
    .unwrap();
    for i in 0..200 {
        put(&db, "t", &format!("r{i:03}"), &[(i * 7) as u8; 200]);
    }
    db.flush("t").unwrap();
    for i in 0..100 {
        put(&db, "t", &format!("w{i:03}"), &[1; 100]);
    }
    drop(db);
    let report = check_store(dir).unwrap();
    assert!(report.is_sound(), "{:?}", report.findings);
    assert!(report.blocks > 10 && report.wal_segments > 2, "{report:?}");

    // Two blocks of the table file damaged: both reported, each at its own offset.
    let file = sst_files(dir)[0].clone();
    let mut bytes = std::fs::read(&file).unwrap();
    for at in [100, 5000] {
        bytes[at] ^= 0x55;
    }
    std::fs::write(&file, &bytes).unwrap();
    // A middle WAL segment damaged in its first record.
    let mut segs: Vec<PathBuf> = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    let mid = segs[segs.len() / 2].clone();
    let mut w = std::fs::read(&mid).unwrap();
    w[40] ^= 0xFF;
    std::fs::write(&mid, &w).unwrap();
    // A stray file.
    std::fs::write(dir.join("sst/999999.sst"), b"leftover").unwrap();

    let report = check_store(dir).unwrap();
    let offsets: Vec<u64> = report
        .damage()
        .filter(|f| f.path == file)
        .filter_map(|f| f.offset)
        .collect();
    assert_eq!(offsets.len(), 2, "{:?}", report.findings);
    assert!(
        offsets[0] <= 100 && offsets[1] <= 5000 && offsets[1] > 100,
        "{offsets:?}"
    );
    assert!(
        report.damage().any(|f| f.path == mid && f.kind == "wal"),
        "{:?}",
        report.findings
    );
    assert!(report.findings.iter().any(|f| {
        f.severity == Severity::Warning
            && f.kind == "unlisted-file"
            && f.path.ends_with("999999.sst")
    }));
    // The check changed nothing.
    assert_eq!(std::fs::read(&file).unwrap(), bytes);
    assert_eq!(std::fs::read(&mid).unwrap(), w);
    assert!(dir.join("sst/999999.sst").exists());
}

#[test]
fn check_refuses_a_store_that_is_open() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    assert!(matches!(check_store(tmp.path()), Err(Error::Locked { .. })));
    drop(db);
    assert!(check_store(tmp.path()).unwrap().is_sound());
    assert!(matches!(
        check_store(&tmp.path().join("sst")),
        Err(Error::InvalidArgument(_))
    ));
}
