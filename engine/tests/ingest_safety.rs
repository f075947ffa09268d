//! `Db::ingest` cannot hurt the store (issue 10 item 3): it takes only regular files under
//! the ingest directories, moves them in (the client's name is gone) or copies them, checks
//! the store's copy, gives every file back when the ingest fails, answers a repeated id with
//! the first reply even after its files were moved, refuses ids over 256 bytes, and keeps the
//! manifest small however many ingests ran (review H3, H4, H5).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::path::{Path, PathBuf};

use strata_engine::sstable::{TableBuildOptions, TableBuilder};
use strata_engine::{CellKind, CellRef, Db, DbOptions, Error, FamilyOptions, ScanOptions};

fn opts() -> DbOptions {
    DbOptions {
        background_threads: false,
        ..DbOptions::default()
    }
}

/// A table file of `rows` rows `{prefix}000`... in family f.
fn build(path: &Path, prefix: &str, rows: u32) {
    build_in(path, "f", prefix, rows);
}

/// [`build`] in family `family`.
fn build_in(path: &Path, family: &str, prefix: &str, rows: u32) {
    let fs = strata_engine::fs::real();
    let mut b = TableBuilder::new(
        &fs,
        path,
        TableBuildOptions {
            families: vec![FamilyOptions::new(family)],
        },
    )
    .unwrap();
    for i in 0..rows {
        let k = format!("{prefix}{i:03}");
        b.add(&CellRef {
            row: k.as_bytes(),
            family,
            kind: CellKind::Put,
            qualifier: b"q",
            ts: 1,
            seq: 0,
            value: b"v",
        })
        .unwrap();
    }
    b.finish().unwrap();
}

fn rows(db: &Db) -> usize {
    db.scan("t", ScanOptions::default()).unwrap().count()
}

fn store() -> (tempfile::TempDir, Db, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("db"), opts()).unwrap();
    db.create_table("t", vec![FamilyOptions::new("f")]).unwrap();
    let ingest = db.ingest_dirs()[0].clone();
    (dir, db, ingest)
}

#[test]
fn the_default_ingest_dir_is_created_inside_the_store() {
    let (dir, db, ingest) = store();
    let canonical = std::fs::canonicalize(dir.path().join("db/ingest")).unwrap();
    assert_eq!(ingest, canonical);
    assert_eq!(db.ingest_dirs(), vec![canonical]);
    // Configured directories replace it, in order, created if missing.
    drop(db);
    let a = dir.path().join("a");
    let b = dir.path().join("b/c");
    let db = Db::open(
        dir.path().join("db"),
        DbOptions {
            ingest_dirs: vec![a.clone(), b.clone()],
            ..opts()
        },
    )
    .unwrap();
    assert_eq!(
        db.ingest_dirs(),
        vec![
            std::fs::canonicalize(&a).unwrap(),
            std::fs::canonicalize(&b).unwrap()
        ]
    );
}

#[test]
fn adopted_files_are_moved_and_a_retry_returns_the_first_reply() {
    let (_dir, db, ingest) = store();
    let p = ingest.join("a.sst");
    build(&p, "a", 20);
    let first = db.ingest("t", std::slice::from_ref(&p), "id-1").unwrap();
    assert_eq!(first.files, 1);
    assert!(!p.exists(), "moved: the client's name is gone");
    // A retry after a lost reply: the files are gone, the reply is the first one.
    assert_eq!(
        db.ingest("t", std::slice::from_ref(&p), "id-1").unwrap(),
        first
    );
    assert_eq!(rows(&db), 20);
    // The same path again without an id: it is gone now.
    let e = db.ingest("t", &[p], "").unwrap_err();
    assert!(matches!(e, Error::FileNotFound { .. }), "{e}");
}

#[test]
fn a_failed_ingest_gives_every_file_back_and_adopts_nothing() {
    let (_dir, db, ingest) = store();
    let good: Vec<PathBuf> = (0..3)
        .map(|i| {
            let p = ingest.join(format!("good-{i}.sst"));
            build(&p, &format!("g{i}"), 5);
            p
        })
        .collect();
    let junk = ingest.join("junk.sst");
    std::fs::write(&junk, vec![7u8; 4096]).unwrap();
    let mut paths = good.clone();
    paths.insert(1, junk.clone());
    let e = db.ingest("t", &paths, "mixed").unwrap_err();
    match &e {
        Error::InvalidArgument(m) => {
            assert!(
                m.contains("junk.sst") && m.contains("not a Strata table file"),
                "{m}"
            );
            assert!(!m.contains("0x0707"), "no file bytes: {m}");
        }
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
    for p in good.iter().chain([&junk]) {
        assert!(p.exists(), "{} is back", p.display());
    }
    assert_eq!(rows(&db), 0);
    let sst: Vec<_> = std::fs::read_dir(db.dir().join("sst")).unwrap().collect();
    assert!(sst.is_empty(), "nothing left in the store: {sst:?}");
    // A family the table lacks is refused the same way.
    let other = ingest.join("other-family.sst");
    build_in(&other, "zz", "r", 1);
    let e = db
        .ingest("t", std::slice::from_ref(&other), "")
        .unwrap_err();
    assert!(matches!(e, Error::FamilyNotFound { .. }), "{e}");
    assert!(other.exists());
    // The id was not recorded: the good files alone now load.
    assert_eq!(db.ingest("t", &good, "mixed").unwrap().files, 3);
    assert_eq!(rows(&db), 15);
}

#[test]
fn bad_ids_paths_and_file_kinds_are_typed_errors() {
    let (dir, db, ingest) = store();
    let p = ingest.join("a.sst");
    build(&p, "a", 3);
    let e = db
        .ingest("t", std::slice::from_ref(&p), &"x".repeat(257))
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidArgument(m) if m.contains("256")),
        "{e}"
    );
    let outside = dir.path().join("outside.sst");
    build(&outside, "o", 3);
    let e = db
        .ingest("t", std::slice::from_ref(&outside), "")
        .unwrap_err();
    assert!(matches!(e, Error::PermissionDenied(_)), "{e}");
    assert!(outside.exists());
    let e = db.ingest("t", &[p.clone(), p.clone()], "").unwrap_err();
    assert!(
        matches!(&e, Error::InvalidArgument(m) if m.contains("twice")),
        "{e}"
    );
    let e = db.ingest("t", &[], "").unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    assert!(p.exists());
    assert_eq!(rows(&db), 0);
}

#[test]
fn ingest_records_keep_the_manifest_small() {
    // H4: every record (and its id) was rewritten with every manifest commit, unbounded in
    // size. 240 ingests with 256-byte ids pass the 64 KiB bound: the oldest are forgotten,
    // the newest remembered, and the manifest stays about that size.
    let (_dir, db, ingest) = store();
    let id = |i: usize| format!("{i:0>256}");
    for i in 0..240 {
        let p = ingest.join(format!("f{i}.sst"));
        build(&p, &format!("k{i:04}-"), 1);
        db.ingest("t", &[p], &id(i)).unwrap();
    }
    let manifest = std::fs::metadata(db.dir().join("MANIFEST")).unwrap().len();
    assert!(
        manifest < 64 * 1024 + 16 * 1024,
        "manifest of {manifest} bytes"
    );
    assert_eq!(rows(&db), 240);
    // The newest id is remembered (a retry adopts nothing); the oldest was forgotten.
    let gone = ingest.join("gone.sst");
    assert_eq!(
        db.ingest("t", std::slice::from_ref(&gone), &id(239))
            .unwrap()
            .files,
        1
    );
    let e = db.ingest("t", &[gone], &id(0)).unwrap_err();
    assert!(matches!(e, Error::FileNotFound { .. }), "{e}");
}
