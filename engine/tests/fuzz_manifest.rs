//! Fuzz harness of the manifest decoder (issue 10, item 10a): a damaged MANIFEST (bit flips,
//! overwritten, zeroed, inserted and removed bytes, truncations, header lengths that lie)
//! either fails with `Corruption` naming the file and an offset, or decodes to exactly the
//! state that was written, and a store opened on it either refuses to open naming the
//! MANIFEST or serves exactly what it held. A payload damaged under a recomputed checksum (a
//! lie the header cannot see) may decode to any state or fail, but never panics the decoder
//! or `Db::open`.
//!
//! Starts from the committed corpus `tests/fuzz/corpus/manifest/` (`MANIFEST` of a small
//! store with two tables, flushed files, an ingest record and a dropped family, whose table
//! files are in `store/sst/`; plus damaged variants and regression cases);
//! `STRATA_FUZZ_CASES` and `STRATA_FUZZ_SEED` run it long (docs/design/robustness.md).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

mod support;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proptest::prelude::*;
use strata_engine::fuzz::{self, Damage, Pos};
use strata_engine::testing::{ManifestState, read_manifest};
use strata_engine::{AlterTable, Db, DbOptions, FamilyOptions, SyncMode};

const HEADER: usize = 24;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus/manifest")
}

fn options() -> DbOptions {
    DbOptions {
        sync_mode: SyncMode::None,
        background_threads: false,
        ..DbOptions::default()
    }
}

/// Write the base store into `dir` (closed cleanly: everything is in table files).
fn make_store(dir: &Path) {
    let db = Db::open(dir, options()).unwrap();
    db.create_table("t", vec![FamilyOptions::new("f"), FamilyOptions::new("g")])
        .unwrap();
    db.create_table("u", vec![FamilyOptions::new("f")]).unwrap();
    for i in 0..6 {
        support::put(&db, "t", &format!("r{i}"), format!("v{i}").as_bytes());
        support::put(&db, "u", &format!("s{i}"), b"u");
        if i % 2 == 1 {
            db.flush("t").unwrap();
        }
    }
    db.flush("u").unwrap();
    db.alter_table(
        "t",
        AlterTable {
            drop: vec!["g".into()],
            ..AlterTable::default()
        },
    )
    .unwrap();
    // An ingest record: a table file built by a second store, adopted from the ingest dir.
    let other = tempfile::tempdir().unwrap();
    let src = Db::open(other.path(), options()).unwrap();
    src.create_table("t", vec![FamilyOptions::new("f")])
        .unwrap();
    support::put(&src, "t", "ingested", b"i");
    src.flush("t").unwrap();
    src.close().unwrap();
    let sst = std::fs::read_dir(other.path().join("sst"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "sst"))
        .unwrap();
    let staged = dir.join("ingest").join("in.sst");
    std::fs::copy(&sst, &staged).unwrap();
    db.ingest("t", &[staged], "fuzz-ingest-1").unwrap();
    db.close().unwrap();
}

struct Base {
    bytes: Vec<u8>,
    state: ManifestState,
    /// The store's rows, as `support::dump` shows them.
    dump: String,
    corpus: Vec<(PathBuf, Vec<u8>)>,
}

/// A store made of `manifest` and the corpus's table files, opened.
fn open_store(manifest: &[u8]) -> (tempfile::TempDir, strata_engine::Result<Db>) {
    let dir = tempfile::tempdir().unwrap();
    support::copy_dir(&corpus_dir().join("store"), dir.path());
    std::fs::write(dir.path().join("MANIFEST"), manifest).unwrap();
    let db = Db::open(dir.path(), options());
    (dir, db)
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = corpus_dir();
        if std::env::var_os("STRATA_FUZZ_WRITE_CORPUS").is_some_and(|v| v == "1") {
            let store = tempfile::tempdir().unwrap();
            make_store(store.path());
            let keep = dir.join("store");
            let _ = std::fs::remove_dir_all(&keep);
            std::fs::create_dir_all(keep.join("sst")).unwrap();
            for e in std::fs::read_dir(store.path().join("sst")).unwrap() {
                let p = e.unwrap().path();
                std::fs::copy(&p, keep.join("sst").join(p.file_name().unwrap())).unwrap();
            }
            std::fs::write(
                dir.join("MANIFEST"),
                std::fs::read(store.path().join("MANIFEST")).unwrap(),
            )
            .unwrap();
        }
        let bytes = std::fs::read(dir.join("MANIFEST")).expect("corpus MANIFEST");
        let n = bytes.len();
        // Seeded variants: a flipped payload bit, a file cut in its payload, and a header
        // whose payload length says one byte more.
        let variants = [
            (
                "flip-in-payload.manifest",
                vec![Damage::Flip {
                    at: Pos::of(n - 20, n),
                    bit: 0,
                }],
            ),
            (
                "cut-in-payload.manifest",
                vec![Damage::Truncate {
                    at: Pos::of(n / 2, n),
                }],
            ),
            (
                "length-lies.manifest",
                vec![Damage::Lie {
                    field: Pos::of(0, 1),
                    delta: 1,
                }],
            ),
        ];
        let corpus = fuzz::corpus(&dir, "MANIFEST", || bytes.clone(), &variants, &[12])
            .expect("read the corpus");
        let fs = strata_engine::fs::real();
        let state = read_manifest(&fs, &dir).unwrap().expect("the base decodes");
        let (_d, db) = open_store(&bytes);
        let dump = support::dump(&db.expect("the base store opens"));
        assert!(dump.contains("ingested") && dump.contains("s5"), "{dump}");
        Base {
            bytes,
            state,
            dump,
            corpus,
        }
    })
}

/// Decode `bytes` as `dir/MANIFEST`.
fn decode(
    bytes: &[u8],
) -> (
    tempfile::TempDir,
    strata_engine::Result<Option<ManifestState>>,
) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("MANIFEST"), bytes).unwrap();
    let fs = strata_engine::fs::real();
    let got = read_manifest(&fs, dir.path());
    (dir, got)
}

/// The property for one damaged MANIFEST.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let b = base();
    let (dir, got) = decode(bytes);
    match got {
        Err(e) => fuzz::names_file_and_offset(&e, &dir.path().join("MANIFEST"))
            .map_err(TestCaseError::fail)?,
        Ok(state) => prop_assert_eq!(state.as_ref(), Some(&b.state), "decoded a different state"),
    }
    let (dir, db) = open_store(bytes);
    match db {
        Err(e) => fuzz::names_file_and_offset(&e, &dir.path().join("MANIFEST"))
            .map_err(TestCaseError::fail)?,
        Ok(db) => prop_assert_eq!(support::dump(&db), b.dump.clone()),
    }
    Ok(())
}

/// `bytes` with its payload damaged and the header's length and checksum made to match.
fn checksummed_lie(list: &[Damage]) -> Vec<u8> {
    let b = base();
    let payload = fuzz::damaged(&b.bytes[HEADER..], list, &[]);
    let mut out = b.bytes[..12].to_vec();
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

#[test]
fn the_corpus_fails_naming_file_and_offset_or_decodes_what_was_written() {
    let b = base();
    assert!(b.corpus.len() >= 4, "base and seeded variants");
    for (path, bytes) in &b.corpus {
        check(bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

#[test]
fn damaged_manifests_fail_naming_file_and_offset_or_decode_what_was_written() {
    let b = base();
    fuzz::run("manifest", 256, fuzz::damages(), |list| {
        check(&fuzz::damaged(&b.bytes, &list, &[12]))
    });
}

#[test]
fn payloads_under_a_recomputed_checksum_never_panic_decoding_or_open() {
    fuzz::run("manifest-payload", 256, fuzz::damages(), |list| {
        let bytes = checksummed_lie(&list);
        let (dir, got) = decode(&bytes);
        if let Err(e) = got {
            fuzz::names_file_and_offset(&e, &dir.path().join("MANIFEST"))
                .map_err(TestCaseError::fail)?;
        }
        // Whatever it decodes to, opening a store on it answers (Ok or an error).
        let _ = open_store(&bytes);
        Ok(())
    });
}
