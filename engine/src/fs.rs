//! The file layer: every file the engine writes goes through [`Fs`], so tests can swap in a
//! fault-injecting layer (drop everything not fsynced, fail writes with ENOSPC) the way
//! LevelDB's `Env` and fault_injection_test do. Reads of finished SSTables go through mmap
//! on the real path and do not pass through here.
//!
//! This module must never decide policy (what to retry, when to go read-only): it reports.

use std::fmt::Debug;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A file opened for appending. Writes go to the OS immediately (no user-space buffering
/// beyond one call), so `SyncMode::None` survives a process crash.
pub trait WritableFile: Send + Sync + Debug {
    /// Append all of `buf`.
    fn append(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Bytes appended so far (the file's logical length).
    fn len(&self) -> u64;
    /// Whether nothing was appended.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// fdatasync everything appended so far.
    fn sync(&mut self) -> io::Result<()>;
    /// Reserve disk blocks for the first `len` bytes without changing the file's length or
    /// contents (`fallocate` with `FALLOC_FL_KEEP_SIZE`), so later appends need no block
    /// allocation and their fdatasync writes fewer metadata blocks. A hint: the default does
    /// nothing, and an error means only that nothing was reserved.
    fn preallocate(&mut self, _len: u64) -> io::Result<()> {
        Ok(())
    }
    /// A handle that can fsync this file from another thread while appends continue
    /// (group commit: the leader syncs without holding the append lock).
    fn syncer(&self) -> io::Result<Arc<dyn FileSyncer>>;
}

/// Syncs a file from another thread. `sync` covers at least every byte appended before it
/// was called.
pub trait FileSyncer: Send + Sync + Debug {
    /// fdatasync.
    fn sync(&self) -> io::Result<()>;
}

/// The operations the engine performs on files and directories.
pub trait Fs: Send + Sync + Debug {
    /// Create (or truncate) a file for appending.
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>>;
    /// Read a whole file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Atomically rename `from` to `to` (replacing `to`).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Remove a file.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// fsync a directory so created, renamed and removed entries are durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Create a directory and its parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The entries of a directory (full paths), in no particular order.
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;
    /// Whether a path exists.
    fn exists(&self, path: &Path) -> bool;
    /// Truncate a file to `len` bytes (used to cut a torn WAL tail).
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Hard-link `from` to `to`; fails across filesystems.
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Copy `from` to `to` and fsync `to`.
    fn copy_and_sync(&self, from: &Path, to: &Path) -> io::Result<u64>;
}

/// The real filesystem.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

/// A shared handle to the real filesystem.
pub fn real() -> Arc<dyn Fs> {
    Arc::new(RealFs)
}

#[derive(Debug)]
struct RealFile {
    file: std::fs::File,
    len: u64,
}

#[derive(Debug)]
struct RealSyncer(std::fs::File);

impl FileSyncer for RealSyncer {
    fn sync(&self) -> io::Result<()> {
        self.0.sync_data()
    }
}

impl WritableFile for RealFile {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        use std::io::Write;
        self.file.write_all(buf)?;
        self.len += buf.len() as u64;
        Ok(())
    }
    fn len(&self) -> u64 {
        self.len
    }
    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        {
            use rustix::fs::{FallocateFlags, fallocate};
            fallocate(&self.file, FallocateFlags::KEEP_SIZE, 0, len)?;
        }
        #[cfg(not(target_os = "linux"))]
        let _ = len;
        Ok(())
    }
    fn syncer(&self) -> io::Result<Arc<dyn FileSyncer>> {
        Ok(Arc::new(RealSyncer(self.file.try_clone()?)))
    }
}

impl Fs for RealFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)?;
        Ok(Box::new(RealFile { file, len: 0 }))
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        std::fs::File::open(dir)?.sync_all()
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.path()))
            .collect()
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let f = std::fs::OpenOptions::new().write(true).open(path)?;
        f.set_len(len)?;
        f.sync_all()
    }
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::hard_link(from, to)
    }
    fn copy_and_sync(&self, from: &Path, to: &Path) -> io::Result<u64> {
        let n = std::fs::copy(from, to)?;
        std::fs::File::open(to)?.sync_all()?;
        Ok(n)
    }
}
