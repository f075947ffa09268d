//! The v1 encoders are frozen: every file of the v1 fixture store (`tests/fixtures/v1/`,
//! written by the v1 code; see `tests/format_v1.rs`) is decoded and re-encoded with today's
//! encoders, and must come out byte for byte the same. A change to the manifest, WAL (segment
//! header, record framing, batch payload) or SSTable encoding fails here; the fix is a version
//! bump with a reader for v1, never an edit of the fixture.
//!
//! SSTables are rebuilt from their cells with the file's own family options, so the zstd
//! library's output is part of what is compared: the zstd version is pinned in Cargo.lock.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::fs::Fs;
use crate::sstable::{TableBuilder, TableReader};
use crate::wal::{self, LogWriter};
use crate::write_batch::WriteBatch;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1")
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no .{ext} files in {}", dir.display());
    v
}

/// Panics naming the file and the first differing byte.
fn assert_same_bytes(what: &str, path: &Path, frozen: &[u8], now: &[u8]) {
    if frozen == now {
        return;
    }
    let at = frozen
        .iter()
        .zip(now)
        .position(|(a, b)| a != b)
        .unwrap_or(frozen.len().min(now.len()));
    panic!(
        "the {what} encoding changed without a version bump: re-encoding {} differs at byte \
         {at} (frozen {} bytes, today {} bytes). Bump the format version, keep a v1 reader and \
         add a new fixture; never edit tests/fixtures/v1.",
        path.display(),
        frozen.len(),
        now.len()
    );
}

#[test]
fn manifest_encoding_is_frozen() {
    let path = fixture().join(crate::filename::MANIFEST_FILE);
    let frozen = std::fs::read(&path).unwrap();
    let state = crate::manifest::decode(&path, &frozen).unwrap();
    assert!(!state.tables.is_empty());
    let now = crate::manifest::encode(&state).unwrap();
    assert_same_bytes("manifest", &path, &frozen, &now);
}

#[test]
fn wal_encoding_is_frozen() {
    let fs = crate::fs::real();
    let tmp = tempfile::tempdir().unwrap();
    for path in files(&fixture().join("wal"), "log") {
        let frozen = std::fs::read(&path).unwrap();
        let contents = wal::read_segment(&fs, &path, false).unwrap();
        assert!(contents.torn_tail.is_none(), "{}", path.display());
        let number =
            crate::filename::parse_segment_name(path.file_name().unwrap().to_str().unwrap())
                .unwrap();
        let mut w = LogWriter::create(&fs, tmp.path(), number).unwrap();
        for (i, rec) in contents.records.iter().enumerate() {
            let batch = WriteBatch::decode(rec, &path, i as u64).unwrap();
            let mut again = Vec::new();
            batch.encode(&mut again);
            assert_same_bytes("WAL payload", &path, rec, &again);
            w.append(&again).unwrap();
        }
        w.sync().unwrap();
        let now = std::fs::read(w.path()).unwrap();
        assert_same_bytes("WAL segment", &path, &frozen, &now);
    }
}

#[test]
fn sstable_encoding_is_frozen() {
    let fs: Arc<dyn Fs> = crate::fs::real();
    let tmp = tempfile::tempdir().unwrap();
    for path in files(&fixture().join("sst"), "sst") {
        let frozen = std::fs::read(&path).unwrap();
        let reader = TableReader::open(&path, None).unwrap();
        let out = tmp.path().join(path.file_name().unwrap());
        let mut b = TableBuilder::new(&fs, &out, reader.build_options()).unwrap();
        for c in reader.iter(std::ops::Bound::Unbounded, None).unwrap() {
            b.add(&c.unwrap().as_ref()).unwrap();
        }
        let props = b.finish().unwrap();
        assert_eq!(&props, reader.properties(), "{}", path.display());
        let now = std::fs::read(&out).unwrap();
        assert_same_bytes("SSTable", &path, &frozen, &now);
    }
}
