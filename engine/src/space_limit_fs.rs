//! A file layer that runs out of space on purpose: it passes every call to another [`Fs`]
//! but fails appends (and copies) with ENOSPC once they would take the bytes written through
//! it past a limit, writing nothing of the failing call. It backs `strata serve`'s hidden,
//! test-only `--fault-enospc-after-bytes N` (docs/design/robustness.md, "Disk full"), the
//! fallback of the disk-full test where a small tmpfs cannot be mounted.
//!
//! Unlike the test-only `FaultFs` (which models power cuts and keeps the bytes of removed
//! files in memory) it holds no state but a counter, so a server can run on it. It must never
//! be used by default: only that flag builds one. It counts what goes through [`Fs`]: WAL
//! segments, table files written by flush and compaction, the manifest; bulk ingest's
//! adoption of a file (a rename or a copy from an open descriptor) does not pass here.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::fs::{FileSyncer, Fs, WritableFile};

/// Bytes written so far against the limit, shared by every file of one layer.
#[derive(Debug)]
struct Budget {
    limit: u64,
    used: AtomicU64,
}

impl Budget {
    /// Take `n` bytes, or fail with ENOSPC taking nothing.
    fn take(&self, n: u64) -> io::Result<()> {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(n).filter(|&t| t <= self.limit)
            })
            .map(|_| ())
            .map_err(|_| io::Error::from_raw_os_error(libc::ENOSPC))
    }
}

/// An [`Fs`] whose writes fail with ENOSPC past a byte limit (see the module docs).
#[derive(Debug)]
pub struct SpaceLimitFs {
    inner: Arc<dyn Fs>,
    budget: Arc<Budget>,
}

impl SpaceLimitFs {
    /// `inner`, with at most `limit` bytes written through it.
    pub fn new(inner: Arc<dyn Fs>, limit: u64) -> Arc<SpaceLimitFs> {
        Arc::new(SpaceLimitFs {
            inner,
            budget: Arc::new(Budget {
                limit,
                used: AtomicU64::new(0),
            }),
        })
    }

    /// Bytes written through this layer so far.
    pub fn used(&self) -> u64 {
        self.budget.used.load(Ordering::SeqCst)
    }
}

#[derive(Debug)]
struct LimitedFile {
    inner: Box<dyn WritableFile>,
    budget: Arc<Budget>,
}

impl WritableFile for LimitedFile {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        self.budget.take(buf.len() as u64)?;
        self.inner.append(buf)
    }
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn sync(&mut self) -> io::Result<()> {
        self.inner.sync()
    }
    fn syncer(&self) -> io::Result<Arc<dyn FileSyncer>> {
        self.inner.syncer()
    }
}

impl Fs for SpaceLimitFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        Ok(Box::new(LimitedFile {
            inner: self.inner.create(path)?,
            budget: self.budget.clone(),
        }))
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.inner.read(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.inner.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        self.inner.list(dir)
    }
    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        self.inner.truncate(path, len)
    }
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.hard_link(from, to)
    }
    fn copy_and_sync(&self, from: &Path, to: &Path) -> io::Result<u64> {
        self.budget.take(std::fs::metadata(from)?.len())?;
        self.inner.copy_and_sync(from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_past_the_limit_fail_with_enospc_and_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let fs = SpaceLimitFs::new(crate::fs::real(), 10);
        let p = dir.path().join("f");
        let mut f = fs.create(&p).unwrap();
        f.append(b"123456").unwrap();
        let e = f.append(b"12345").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
        f.append(b"1234").unwrap(); // what still fits goes in
        assert_eq!(std::fs::read(&p).unwrap(), b"1234561234");
        assert_eq!(fs.used(), 10);
        let e = fs.copy_and_sync(&p, &dir.path().join("g")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
        assert!(!dir.path().join("g").exists());
    }
}
