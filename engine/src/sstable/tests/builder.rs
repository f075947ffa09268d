//! The builder rejects what the reader could not decode, removes abandoned files and
//! fsyncs finished ones.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::*;
use crate::cell::{CellKind, MARKER_TS};
use crate::error::Error;
use crate::fs::{self, FileSyncer, Fs, WritableFile};
use crate::options::{Compression, FamilyOptions};

#[test]
fn out_of_order_duplicate_and_unknown_family_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let fs = fs::real();
    let path = dir.path().join("bad.sst");
    let opts = TableBuildOptions {
        families: vec![FamilyOptions::new("f"), FamilyOptions::new("g")],
    };
    let mut b = TableBuilder::new(&fs, &path, opts).unwrap();
    let c1 = cell(b"row2", "f", CellKind::Put, b"q", 5, 1, b"v");
    b.add(&c1.as_ref()).unwrap();
    let earlier = cell(b"row1", "f", CellKind::Put, b"q", 5, 1, b"v");
    match b.add(&earlier.as_ref()) {
        Err(Error::InvalidArgument(m)) => {
            assert!(m.contains("row1") && m.contains("row2"), "{m}");
        }
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
    // Same key again (not strictly increasing).
    assert!(matches!(
        b.add(&c1.as_ref()),
        Err(Error::InvalidArgument(_))
    ));
    // Older version of the same column is fine; a newer one is not.
    let older = cell(b"row2", "f", CellKind::Put, b"q", 4, 1, b"v");
    b.add(&older.as_ref()).unwrap();
    let newer = cell(b"row2", "f", CellKind::Put, b"q", 9, 1, b"v");
    assert!(matches!(
        b.add(&newer.as_ref()),
        Err(Error::InvalidArgument(_))
    ));
    // A family marker must come before the family's columns.
    let marker = cell(b"row2", "f", CellKind::DeleteFamily, b"", MARKER_TS, 3, b"");
    assert!(matches!(
        b.add(&marker.as_ref()),
        Err(Error::InvalidArgument(_))
    ));
    let unknown = cell(b"row3", "zzz", CellKind::Put, b"q", 5, 1, b"v");
    match b.add(&unknown.as_ref()) {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("zzz"), "{m}"),
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
    // Rejected cells left no trace.
    b.add(&cell(b"row3", "g", CellKind::Put, b"", 1, 1, b"x").as_ref())
        .unwrap();
    let props = b.finish().unwrap();
    assert_eq!((props.rows, props.cells), (2, 3));
    let r = TableReader::open(&path, None).unwrap();
    assert_eq!(collect(r.iter(Bound::Unbounded, None).unwrap()).len(), 3);
}

#[test]
fn duplicate_family_options_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let opts = TableBuildOptions {
        families: vec![FamilyOptions::new("f"), FamilyOptions::new("f")],
    };
    let r = TableBuilder::new(&fs::real(), &dir.path().join("x.sst"), opts);
    assert!(matches!(r, Err(Error::InvalidArgument(_))));
}

#[test]
fn abandon_removes_the_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("partial.sst");
    let mut b = TableBuilder::new(
        &fs::real(),
        &path,
        TableBuildOptions {
            families: vec![fam("f", Compression::None, 1, false)],
        },
    )
    .unwrap();
    for i in 0..10 {
        let c = cell(
            format!("r{i}").as_bytes(),
            "f",
            CellKind::Put,
            b"q",
            1,
            1,
            b"v",
        );
        b.add(&c.as_ref()).unwrap();
    }
    assert!(path.exists());
    assert!(b.estimated_size() > 0);
    b.abandon().unwrap();
    assert!(!path.exists());
}

/// Counts `sync` calls on files it creates.
#[derive(Debug)]
struct CountingFs {
    syncs: Arc<AtomicU64>,
}

#[derive(Debug)]
struct CountingFile {
    inner: Box<dyn WritableFile>,
    syncs: Arc<AtomicU64>,
}

impl WritableFile for CountingFile {
    fn append(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.inner.append(buf)
    }
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn sync(&mut self) -> std::io::Result<()> {
        self.syncs.fetch_add(1, Ordering::SeqCst);
        self.inner.sync()
    }
    fn syncer(&self) -> std::io::Result<Arc<dyn FileSyncer>> {
        self.inner.syncer()
    }
}

impl Fs for CountingFs {
    fn create(&self, path: &Path) -> std::io::Result<Box<dyn WritableFile>> {
        Ok(Box::new(CountingFile {
            inner: fs::RealFs.create(path)?,
            syncs: self.syncs.clone(),
        }))
    }
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        fs::RealFs.read(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        fs::RealFs.rename(from, to)
    }
    fn remove(&self, path: &Path) -> std::io::Result<()> {
        fs::RealFs.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        fs::RealFs.sync_dir(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        fs::RealFs.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        fs::RealFs.list(dir)
    }
    fn exists(&self, path: &Path) -> bool {
        fs::RealFs.exists(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> std::io::Result<()> {
        fs::RealFs.truncate(path, len)
    }
    fn hard_link(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        fs::RealFs.hard_link(from, to)
    }
    fn copy_and_sync(&self, from: &Path, to: &Path) -> std::io::Result<u64> {
        fs::RealFs.copy_and_sync(from, to)
    }
}

#[test]
fn finish_fsyncs_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let syncs = Arc::new(AtomicU64::new(0));
    let fs: Arc<dyn Fs> = Arc::new(CountingFs {
        syncs: syncs.clone(),
    });
    let path = dir.path().join("synced.sst");
    let mut b = TableBuilder::new(
        &fs,
        &path,
        TableBuildOptions {
            families: vec![FamilyOptions::new("f")],
        },
    )
    .unwrap();
    b.add(&cell(b"r", "f", CellKind::Put, b"q", 1, 1, b"v").as_ref())
        .unwrap();
    assert_eq!(syncs.load(Ordering::SeqCst), 0);
    b.finish().unwrap();
    assert_eq!(syncs.load(Ordering::SeqCst), 1);
}
