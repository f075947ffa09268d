//! A fault-injecting [`Fs`] for crash tests, in the spirit of LevelDB's fault-injection `Env`:
//! it works on a real directory but remembers what a power cut would keep.
//!
//! It owns the bookkeeping of durability (per file: the length covered by a finished sync;
//! per directory: the entry changes not yet covered by `sync_dir`) and the injected failures
//! (a space limit giving ENOSPC, syncs giving EIO). It must never be used outside tests and
//! must never pretend bytes are durable before a sync of them has finished.
//!
//! The model, kept simple but exact for a create-write-sync-rename-sync_dir protocol:
//! - appended bytes become durable when a `sync` (on the handle or a syncer of it) that started
//!   after they were appended returns Ok; the length is taken when the sync starts;
//! - `create`, `rename`, `remove` and `hard_link` change directory entries that survive a power
//!   cut only once `sync_dir` of the directory (both directories for a rename across two)
//!   returns Ok; until then [`FaultFs::simulate_power_cut`] undoes them, newest first;
//! - `truncate` and `copy_and_sync` sync the data they write, as the real layer does (the
//!   directory entry made by `copy_and_sync` still needs `sync_dir`);
//! - directories made by `create_dir_all` are taken as durable at once;
//! - files that existed before this `FaultFs` touched them are durable as found.
//!
//! After a power cut, handles and syncers opened before it fail every call (the machine they
//! belonged to is gone). A store under test must run on a [`FaultFs::process`] view: after
//! the cut every call through that view fails too, so a `Db` still running (a background
//! flush halfway through its commit) cannot go on changing the directory the way a dead
//! process never could; reopen the store on a fresh view. The `FaultFs` itself (the machine,
//! as the test sees it) keeps working, and so do handles opened after the cut. Paths must be spelled the same way for the same file (the engine always joins names
//! onto its directories). The contents of removed or replaced files are kept in memory until
//! their removal is made durable, so keep test data small.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

use crate::fs::{FileSyncer, Fs, WritableFile};

/// Durability of one file's data (shared by its handle, its syncers and hard links).
#[derive(Debug, Default)]
struct Node {
    /// Bytes appended so far through the handle.
    written: AtomicU64,
    /// Bytes covered by a finished sync.
    durable: AtomicU64,
}

/// A directory-entry change not yet made durable by `sync_dir`.
#[derive(Debug)]
struct PendingOp {
    /// Directories that still need a `sync_dir` before the change is durable.
    dirs: Vec<PathBuf>,
    kind: OpKind,
}

#[derive(Debug)]
enum OpKind {
    /// A new entry (by `create`, `hard_link` or `copy_and_sync`); `displaced` holds the durable
    /// bytes of a file it replaced.
    Create {
        path: PathBuf,
        displaced: Option<Vec<u8>>,
    },
    /// A rename; `displaced` holds the durable bytes of the file `to` replaced.
    Rename {
        from: PathBuf,
        to: PathBuf,
        displaced: Option<Vec<u8>>,
    },
    /// A removal; `saved` holds the durable bytes of the removed file.
    Remove { path: PathBuf, saved: Vec<u8> },
}

#[derive(Debug, Default)]
struct State {
    /// Files whose data durability is tracked, by current path.
    nodes: HashMap<PathBuf, Arc<Node>>,
    /// Entry changes not yet durable, oldest first.
    pending: Vec<PendingOp>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    /// Bumped by each power cut. Appends and syncs hold it shared so a cut never interleaves
    /// with them.
    epoch: RwLock<u64>,
    /// Most bytes that may be written in total; `u64::MAX` means no limit.
    space_limit: AtomicU64,
    written_total: AtomicU64,
    fail_syncs: AtomicBool,
    /// A directory whose `sync_dir` fails (the other syncs work).
    fail_dir_sync: Mutex<Option<PathBuf>>,
    syncs: AtomicU64,
    dir_syncs: AtomicU64,
}

/// A fault-injecting file layer over a real directory (see the module docs for the model).
#[derive(Debug)]
pub struct FaultFs {
    inner: Arc<Inner>,
    /// For a process view: the power epoch it lives in (every call fails after it).
    process: Option<u64>,
}

fn norm(path: &Path) -> PathBuf {
    path.components().collect()
}

fn parent_of(path: &Path) -> PathBuf {
    path.parent().map(norm).unwrap_or_default()
}

fn eio() -> io::Error {
    io::Error::from_raw_os_error(libc::EIO)
}

fn enospc() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOSPC)
}

fn stale() -> io::Error {
    io::Error::other("file handle opened before a simulated power cut")
}

fn dead() -> io::Error {
    io::Error::other("process view from before a simulated power cut (the process is gone)")
}

impl Inner {
    /// Count `n` bytes against the space limit, or fail with ENOSPC writing nothing.
    fn reserve(&self, n: u64) -> io::Result<()> {
        let limit = self.space_limit.load(Ordering::SeqCst);
        self.written_total
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |total| {
                total.checked_add(n).filter(|&t| t <= limit)
            })
            .map(|_| ())
            .map_err(|_| enospc())
    }

    /// Sync `file` and mark the bytes appended before the call as durable.
    fn sync_file(&self, epoch: u64, node: &Node, file: &std::fs::File) -> io::Result<()> {
        let current = self.epoch.read();
        if *current != epoch {
            return Err(stale());
        }
        if self.fail_syncs.load(Ordering::SeqCst) {
            return Err(eio());
        }
        let start = node.written.load(Ordering::SeqCst);
        file.sync_data()?;
        node.durable.fetch_max(start, Ordering::SeqCst);
        self.syncs.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

impl State {
    /// The bytes of `path` that a power cut would keep (None if it does not exist).
    fn durable_bytes(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        let mut bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if let Some(node) = self.nodes.get(path) {
            let durable = node.durable.load(Ordering::SeqCst);
            bytes.truncate(usize::try_from(durable).unwrap_or(usize::MAX));
        }
        Ok(Some(bytes))
    }
}

impl FaultFs {
    /// The view of the machine for one process started now: the same files and faults, but
    /// after the next [`FaultFs::simulate_power_cut`] every call through it fails, as the
    /// process would be gone. Give one to each `Db` incarnation under test.
    pub fn process(&self) -> Arc<FaultFs> {
        Arc::new(FaultFs {
            inner: self.inner.clone(),
            process: Some(*self.inner.epoch.read()),
        })
    }

    /// Hold off power cuts for one call, failing if this is a process view from before one.
    fn alive(&self) -> io::Result<parking_lot::RwLockReadGuard<'_, u64>> {
        let epoch = self.inner.epoch.read();
        match self.process {
            Some(born) if born != *epoch => Err(dead()),
            _ => Ok(epoch),
        }
    }

    /// A fault-injecting layer with no faults armed.
    pub fn new() -> Arc<FaultFs> {
        Arc::new(FaultFs {
            process: None,
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                epoch: RwLock::new(0),
                space_limit: AtomicU64::new(u64::MAX),
                written_total: AtomicU64::new(0),
                fail_syncs: AtomicBool::new(false),
                fail_dir_sync: Mutex::new(None),
                syncs: AtomicU64::new(0),
                dir_syncs: AtomicU64::new(0),
            }),
        })
    }

    /// Drop everything a power cut would lose: undo directory changes not followed by
    /// `sync_dir` (newest first), then cut every file back to its durable length. Handles
    /// opened before the cut fail from now on.
    pub fn simulate_power_cut(&self) -> io::Result<()> {
        let mut epoch = self.inner.epoch.write();
        *epoch += 1;
        let mut st = self.inner.state.lock();
        let pending = std::mem::take(&mut st.pending);
        for op in pending.into_iter().rev() {
            match op.kind {
                OpKind::Create { path, displaced } => {
                    match std::fs::remove_file(&path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                    st.nodes.remove(&path);
                    if let Some(bytes) = displaced {
                        std::fs::write(&path, bytes)?;
                    }
                }
                OpKind::Rename {
                    from,
                    to,
                    displaced,
                } => {
                    std::fs::rename(&to, &from)?;
                    st.nodes.remove(&from);
                    if let Some(node) = st.nodes.remove(&to) {
                        st.nodes.insert(from, node);
                    }
                    if let Some(bytes) = displaced {
                        std::fs::write(&to, bytes)?;
                    }
                }
                OpKind::Remove { path, saved } => {
                    st.nodes.remove(&path);
                    std::fs::write(&path, saved)?;
                }
            }
        }
        for (path, node) in st.nodes.drain() {
            let durable = node.durable.load(Ordering::SeqCst);
            match std::fs::OpenOptions::new().write(true).open(&path) {
                Ok(f) => {
                    if f.metadata()?.len() > durable {
                        f.set_len(durable)?;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Make writes fail with ENOSPC once `limit` bytes in total have been written through
    /// this layer (appends and copies; bytes written before this call count). A write that
    /// does not fit writes nothing. `None` lifts the limit.
    pub fn set_space_limit(&self, limit: Option<u64>) {
        self.inner
            .space_limit
            .store(limit.unwrap_or(u64::MAX), Ordering::SeqCst);
    }

    /// Make every file sync, directory sync, `truncate` and `copy_and_sync` fail with EIO
    /// (nothing becomes durable) while `fail` is true.
    pub fn fail_syncs(&self, fail: bool) {
        self.inner.fail_syncs.store(fail, Ordering::SeqCst);
    }

    /// Make `sync_dir` of `dir`, and only of it, fail with EIO (nothing it would have made
    /// durable becomes so) until called with `None`: a commit whose rename happened but whose
    /// directory sync failed, so whether it reached the disk is unknown.
    pub fn fail_dir_sync(&self, dir: Option<&Path>) {
        *self.inner.fail_dir_sync.lock() = dir.map(norm);
    }

    /// Successful file syncs so far (handles, syncers and `copy_and_sync`).
    pub fn sync_count(&self) -> u64 {
        self.inner.syncs.load(Ordering::SeqCst)
    }

    /// Successful directory syncs so far.
    pub fn dir_sync_count(&self) -> u64 {
        self.inner.dir_syncs.load(Ordering::SeqCst)
    }

    /// Bytes written through this layer so far (appends and copies).
    pub fn bytes_written(&self) -> u64 {
        self.inner.written_total.load(Ordering::SeqCst)
    }
}

#[derive(Debug)]
struct FaultFile {
    inner: Arc<Inner>,
    node: Arc<Node>,
    file: std::fs::File,
    len: u64,
    epoch: u64,
}

#[derive(Debug)]
struct FaultSyncer {
    inner: Arc<Inner>,
    node: Arc<Node>,
    file: std::fs::File,
    epoch: u64,
}

impl WritableFile for FaultFile {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        let current = self.inner.epoch.read();
        if *current != self.epoch {
            return Err(stale());
        }
        self.inner.reserve(buf.len() as u64)?;
        self.file.write_all(buf)?;
        self.len += buf.len() as u64;
        self.node.written.store(self.len, Ordering::SeqCst);
        Ok(())
    }
    fn len(&self) -> u64 {
        self.len
    }
    fn sync(&mut self) -> io::Result<()> {
        self.inner.sync_file(self.epoch, &self.node, &self.file)
    }
    fn syncer(&self) -> io::Result<Arc<dyn FileSyncer>> {
        Ok(Arc::new(FaultSyncer {
            inner: self.inner.clone(),
            node: self.node.clone(),
            file: self.file.try_clone()?,
            epoch: self.epoch,
        }))
    }
}

impl FileSyncer for FaultSyncer {
    fn sync(&self) -> io::Result<()> {
        self.inner.sync_file(self.epoch, &self.node, &self.file)
    }
}

impl Fs for FaultFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let path = norm(path);
        let alive = self.alive()?;
        let epoch = *alive;
        let mut st = self.inner.state.lock();
        let displaced = st.durable_bytes(&path)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)?;
        let node = Arc::new(Node::default());
        st.nodes.insert(path.clone(), node.clone());
        st.pending.push(PendingOp {
            dirs: vec![parent_of(&path)],
            kind: OpKind::Create { path, displaced },
        });
        Ok(Box::new(FaultFile {
            inner: self.inner.clone(),
            node,
            file,
            len: 0,
            epoch,
        }))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let _alive = self.alive()?;
        std::fs::read(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let _alive = self.alive()?;
        let (from, to) = (norm(from), norm(to));
        let mut st = self.inner.state.lock();
        let displaced = st.durable_bytes(&to)?;
        std::fs::rename(&from, &to)?;
        st.nodes.remove(&to);
        if let Some(node) = st.nodes.remove(&from) {
            st.nodes.insert(to.clone(), node);
        }
        let mut dirs = vec![parent_of(&from)];
        if parent_of(&to) != dirs[0] {
            dirs.push(parent_of(&to));
        }
        st.pending.push(PendingOp {
            dirs,
            kind: OpKind::Rename {
                from,
                to,
                displaced,
            },
        });
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let _alive = self.alive()?;
        let path = norm(path);
        let mut st = self.inner.state.lock();
        let saved = st.durable_bytes(&path)?;
        std::fs::remove_file(&path)?;
        st.nodes.remove(&path);
        st.pending.push(PendingOp {
            dirs: vec![parent_of(&path)],
            kind: OpKind::Remove {
                path,
                saved: saved.unwrap_or_default(),
            },
        });
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let _alive = self.alive()?;
        if self.inner.fail_syncs.load(Ordering::SeqCst) {
            return Err(eio());
        }
        let dir = norm(dir);
        if self.inner.fail_dir_sync.lock().as_ref() == Some(&dir) {
            return Err(eio());
        }
        let mut st = self.inner.state.lock();
        std::fs::File::open(&dir)?.sync_all()?;
        for op in &mut st.pending {
            op.dirs.retain(|d| *d != dir);
        }
        st.pending.retain(|op| !op.dirs.is_empty());
        self.inner.dir_syncs.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let _alive = self.alive()?;
        std::fs::create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let _alive = self.alive()?;
        std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.path()))
            .collect()
    }

    fn exists(&self, path: &Path) -> bool {
        self.alive().is_ok() && path.exists()
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let _alive = self.alive()?;
        if self.inner.fail_syncs.load(Ordering::SeqCst) {
            return Err(eio());
        }
        let path = norm(path);
        let st = self.inner.state.lock();
        let f = std::fs::OpenOptions::new().write(true).open(&path)?;
        f.set_len(len)?;
        f.sync_all()?;
        if let Some(node) = st.nodes.get(&path) {
            node.written.store(len, Ordering::SeqCst);
            node.durable.store(len, Ordering::SeqCst);
        }
        Ok(())
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        let _alive = self.alive()?;
        let (from, to) = (norm(from), norm(to));
        let mut st = self.inner.state.lock();
        std::fs::hard_link(&from, &to)?;
        if let Some(node) = st.nodes.get(&from).cloned() {
            st.nodes.insert(to.clone(), node);
        }
        st.pending.push(PendingOp {
            dirs: vec![parent_of(&to)],
            kind: OpKind::Create {
                path: to,
                displaced: None,
            },
        });
        Ok(())
    }

    fn copy_and_sync(&self, from: &Path, to: &Path) -> io::Result<u64> {
        let _alive = self.alive()?;
        let to = norm(to);
        let size = std::fs::metadata(from)?.len();
        self.inner.reserve(size)?;
        let mut st = self.inner.state.lock();
        let displaced = st.durable_bytes(&to)?;
        let n = std::fs::copy(from, &to)?;
        let node = Arc::new(Node::default());
        node.written.store(n, Ordering::SeqCst);
        st.nodes.insert(to.clone(), node.clone());
        st.pending.push(PendingOp {
            dirs: vec![parent_of(&to)],
            kind: OpKind::Create {
                path: to.clone(),
                displaced,
            },
        });
        if self.inner.fail_syncs.load(Ordering::SeqCst) {
            return Err(eio());
        }
        std::fs::File::open(&to)?.sync_all()?;
        node.durable.store(n, Ordering::SeqCst);
        self.inner.syncs.fetch_add(1, Ordering::SeqCst);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Arc<FaultFs>, Arc<dyn Fs>) {
        let dir = tempfile::tempdir().unwrap();
        let ffs = FaultFs::new();
        let fs: Arc<dyn Fs> = ffs.clone();
        (dir, ffs, fs)
    }

    #[test]
    fn unsynced_appends_are_dropped_synced_ones_kept() {
        let (dir, ffs, fs) = setup();
        let p = dir.path().join("a");
        let mut f = fs.create(&p).unwrap();
        f.append(b"hello ").unwrap();
        f.sync().unwrap();
        fs.sync_dir(dir.path()).unwrap();
        f.append(b"world").unwrap();
        assert_eq!(fs.read(&p).unwrap(), b"hello world");
        ffs.simulate_power_cut().unwrap();
        assert_eq!(fs.read(&p).unwrap(), b"hello ");
        assert_eq!(ffs.sync_count(), 1);
        assert_eq!(ffs.dir_sync_count(), 1);
    }

    #[test]
    fn syncer_covers_bytes_appended_before_it_started() {
        let (dir, ffs, fs) = setup();
        let p = dir.path().join("a");
        let mut f = fs.create(&p).unwrap();
        fs.sync_dir(dir.path()).unwrap();
        f.append(b"one").unwrap();
        let s = f.syncer().unwrap();
        s.sync().unwrap();
        f.append(b"two").unwrap();
        ffs.simulate_power_cut().unwrap();
        assert_eq!(fs.read(&p).unwrap(), b"one");
    }

    #[test]
    fn creation_without_dir_sync_is_undone() {
        let (dir, ffs, fs) = setup();
        let p = dir.path().join("new");
        let mut f = fs.create(&p).unwrap();
        f.append(b"data").unwrap();
        f.sync().unwrap();
        ffs.simulate_power_cut().unwrap();
        assert!(!fs.exists(&p));
    }

    #[test]
    fn rename_without_dir_sync_is_undone_and_old_target_restored() {
        let (dir, ffs, fs) = setup();
        let target = dir.path().join("CURRENT");
        let tmp = dir.path().join("CURRENT.tmp");
        let mut f = fs.create(&target).unwrap();
        f.append(b"old").unwrap();
        f.sync().unwrap();
        fs.sync_dir(dir.path()).unwrap();

        let mut t = fs.create(&tmp).unwrap();
        t.append(b"new").unwrap();
        t.sync().unwrap();
        fs.rename(&tmp, &target).unwrap();
        assert_eq!(fs.read(&target).unwrap(), b"new");
        ffs.simulate_power_cut().unwrap();
        assert_eq!(fs.read(&target).unwrap(), b"old");
        assert!(
            !fs.exists(&tmp),
            "the tmp file's creation was never made durable"
        );

        // The same protocol with sync_dir survives.
        let mut t = fs.create(&tmp).unwrap();
        t.append(b"new").unwrap();
        t.sync().unwrap();
        fs.rename(&tmp, &target).unwrap();
        fs.sync_dir(dir.path()).unwrap();
        ffs.simulate_power_cut().unwrap();
        assert_eq!(fs.read(&target).unwrap(), b"new");
        assert!(!fs.exists(&tmp));
    }

    #[test]
    fn removal_without_dir_sync_is_undone() {
        let (dir, ffs, fs) = setup();
        let p = dir.path().join("f");
        let mut f = fs.create(&p).unwrap();
        f.append(b"abc").unwrap();
        f.sync().unwrap();
        f.append(b"def").unwrap();
        fs.sync_dir(dir.path()).unwrap();
        drop(f);
        fs.remove(&p).unwrap();
        ffs.simulate_power_cut().unwrap();
        assert_eq!(fs.read(&p).unwrap(), b"abc");

        fs.remove(&p).unwrap();
        fs.sync_dir(dir.path()).unwrap();
        ffs.simulate_power_cut().unwrap();
        assert!(!fs.exists(&p));
    }

    #[test]
    fn handles_from_before_the_cut_are_refused() {
        let (dir, ffs, fs) = setup();
        let p = dir.path().join("f");
        let mut f = fs.create(&p).unwrap();
        fs.sync_dir(dir.path()).unwrap();
        let s = f.syncer().unwrap();
        ffs.simulate_power_cut().unwrap();
        assert!(f.append(b"x").is_err());
        assert!(f.sync().is_err());
        assert!(s.sync().is_err());
        assert_eq!(fs.read(&p).unwrap(), b"");
        let mut g = fs.create(&dir.path().join("g")).unwrap();
        g.append(b"ok").unwrap();
    }

    #[test]
    fn a_process_view_dies_with_the_power_cut() {
        let (dir, ffs, _) = setup();
        let old: Arc<dyn Fs> = ffs.process();
        let target = dir.path().join("MANIFEST");
        let tmp = dir.path().join("MANIFEST.tmp");
        let mut f = old.create(&target).unwrap();
        f.append(b"old").unwrap();
        f.sync().unwrap();
        old.sync_dir(dir.path()).unwrap();
        drop(f);
        // A commit halfway: the rename happened, its directory sync had not when the power
        // went. The process must not be able to finish it afterwards.
        let mut t = old.create(&tmp).unwrap();
        t.append(b"new").unwrap();
        t.sync().unwrap();
        old.rename(&tmp, &target).unwrap();
        ffs.simulate_power_cut().unwrap();
        assert!(old.sync_dir(dir.path()).is_err());
        assert!(old.remove(&target).is_err());
        assert!(old.create(&dir.path().join("x")).is_err());
        assert!(old.read(&target).is_err());
        assert!(!old.exists(&target));
        // The machine and a process started after the cut see the durable state and work.
        assert_eq!(ffs.read(&target).unwrap(), b"old");
        let new: Arc<dyn Fs> = ffs.process();
        assert_eq!(new.read(&target).unwrap(), b"old");
        new.remove(&target).unwrap();
        new.sync_dir(dir.path()).unwrap();
        assert!(!ffs.exists(&target));
    }

    #[test]
    fn space_limit_gives_enospc_and_writes_nothing() {
        let (dir, ffs, fs) = setup();
        ffs.set_space_limit(Some(10));
        let p = dir.path().join("f");
        let mut f = fs.create(&p).unwrap();
        f.append(b"12345678").unwrap();
        let err = f.append(b"abc").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
        assert!(crate::Error::io(&p, err).is_no_space());
        assert_eq!(f.len(), 8);
        assert_eq!(fs.read(&p).unwrap(), b"12345678");
        f.append(b"90").unwrap();
        ffs.set_space_limit(None);
        f.append(b"more").unwrap();
        assert_eq!(ffs.bytes_written(), 14);
    }

    #[test]
    fn failed_syncs_give_eio_and_make_nothing_durable() {
        let (dir, ffs, fs) = setup();
        let p = dir.path().join("f");
        let mut f = fs.create(&p).unwrap();
        fs.sync_dir(dir.path()).unwrap();
        f.append(b"abc").unwrap();
        ffs.fail_syncs(true);
        let err = f.sync().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EIO));
        assert!(f.syncer().unwrap().sync().is_err());
        assert!(fs.sync_dir(dir.path()).is_err());
        assert_eq!(ffs.sync_count(), 0);
        ffs.simulate_power_cut().unwrap();
        assert_eq!(fs.read(&p).unwrap(), b"");
        ffs.fail_syncs(false);
    }

    #[test]
    fn copy_and_hard_link_entries_need_dir_sync() {
        let (dir, ffs, fs) = setup();
        let src = dir.path().join("src");
        std::fs::write(&src, b"payload").unwrap();
        let copy = dir.path().join("copy");
        let link = dir.path().join("link");
        assert_eq!(fs.copy_and_sync(&src, &copy).unwrap(), 7);
        fs.hard_link(&src, &link).unwrap();
        ffs.simulate_power_cut().unwrap();
        assert!(!fs.exists(&copy));
        assert!(!fs.exists(&link));
        assert_eq!(
            fs.read(&src).unwrap(),
            b"payload",
            "pre-existing files are durable"
        );

        fs.copy_and_sync(&src, &copy).unwrap();
        fs.hard_link(&src, &link).unwrap();
        fs.sync_dir(dir.path()).unwrap();
        ffs.simulate_power_cut().unwrap();
        assert_eq!(fs.read(&copy).unwrap(), b"payload");
        assert_eq!(fs.read(&link).unwrap(), b"payload");
    }

    #[test]
    fn truncate_is_durable() {
        let (dir, ffs, fs) = setup();
        let p = dir.path().join("f");
        let mut f = fs.create(&p).unwrap();
        fs.sync_dir(dir.path()).unwrap();
        f.append(b"abcdef").unwrap();
        f.sync().unwrap();
        drop(f);
        fs.truncate(&p, 2).unwrap();
        ffs.simulate_power_cut().unwrap();
        assert_eq!(fs.read(&p).unwrap(), b"ab");
    }
}
