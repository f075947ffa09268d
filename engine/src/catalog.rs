//! The catalog (LevelDB's `VersionSet`): the committed manifest state, the open tables, the
//! file-number allocator and the sequence number reads see, with the two protocols that
//! change them:
//!
//! - [`Catalog::commit`] is the only way to change the manifest. An edit changes a copy of
//!   the committed state; the copy is written (see `manifest::write_manifest`) and becomes
//!   the committed state. What a failed commit means is decided here, once.
//! - [`Table::install`](crate::table::Table::install) is the only way to publish a new
//!   table version (memtables and files readers see).
//!
//! It also makes and opens table files, so that a file's manifest record (`FileMeta`) is
//! built in one place from the properties its builder returned.
//!
//! This module must never write WAL records or take the write lock: the write path calls in,
//! never the other way round.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

use crate::cache::BlockCache;
use crate::cell::SeqNo;
use crate::error::{Error, Result};
use crate::filename::{parse_sst_name, quarantine_dir, sst_dir, sst_name, sst_path};
use crate::fs::Fs;
use crate::health::Health;
use crate::manifest::{self, FileMeta, IngestRecord, ManifestState, TableState};
use crate::snapshots::Snapshots;
use crate::sstable::{TableBuilder, TableProperties, TableReader};
use crate::table::{Damage, FileRole, Table};
use crate::version::{FileHandle, TableVersion};

/// A table file being written: its number, path and builder.
pub(crate) struct NewFile {
    pub number: u64,
    pub path: PathBuf,
    pub builder: TableBuilder,
}

/// Manifest state, tables and files of one store.
#[derive(Debug)]
pub(crate) struct Catalog {
    pub dir: PathBuf,
    pub fs: Arc<dyn Fs>,
    /// Decoded data blocks of every open table file.
    pub block_cache: Arc<BlockCache>,
    /// Whether writes are still accepted.
    pub health: Health,
    /// Reads see entries up to this sequence number; a commit records at least this much
    /// as durable (`last_seq`).
    pub visible_seq: AtomicU64,
    /// The snapshots open scans read at (compaction keeps what they see).
    pub snapshots: Arc<Snapshots>,
    manifest: Mutex<ManifestState>,
    tables: RwLock<BTreeMap<String, Arc<Table>>>,
}

impl Catalog {
    /// A catalog over the committed `state`, with no table open yet (see
    /// [`Catalog::open_tables`]) and reads seeing up to `state.last_seq`.
    pub fn new(
        dir: PathBuf,
        fs: Arc<dyn Fs>,
        block_cache: Arc<BlockCache>,
        mut state: ManifestState,
    ) -> Catalog {
        // Older code kept ingest records without bounds; the next commit writes them bounded.
        for ts in state.tables.values_mut() {
            manifest::bound_ingest_records(&mut ts.ingests);
        }
        Catalog {
            dir,
            fs,
            block_cache,
            health: Health::default(),
            visible_seq: AtomicU64::new(state.last_seq),
            snapshots: Arc::new(Snapshots::default()),
            manifest: Mutex::new(state),
            tables: RwLock::new(BTreeMap::new()),
        }
    }

    /// Remove table files no committed manifest lists: leftovers of a flush, compaction or
    /// ingest that was interrupted before its commit.
    ///
    /// # Errors
    ///
    /// The I/O error of listing or removing a file.
    pub fn sweep_unlisted_files(&self) -> Result<()> {
        let live: std::collections::HashSet<u64> = self
            .manifest
            .lock()
            .tables
            .values()
            .flat_map(|t| t.files.iter().map(|f| f.number))
            .collect();
        let sdir = sst_dir(&self.dir);
        for p in self.fs.list(&sdir).map_err(|e| Error::io(&sdir, e))? {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let keep = parse_sst_name(name).is_some_and(|n| live.contains(&n));
            if !keep {
                tracing::info!(path = %p.display(), "removing leftover file not in the manifest");
                self.fs.remove(&p).map_err(|e| Error::io(&p, e))?;
            }
        }
        Ok(())
    }

    /// Open every table the committed manifest lists, with all its files. A file that cannot
    /// be opened because it is damaged or missing makes its table unavailable (the others
    /// open); with `quarantine` such files are moved to `quarantine/` instead, the manifest
    /// stops listing them (one commit) and their tables open without them. Either way each
    /// such file is logged with what it held.
    ///
    /// # Errors
    ///
    /// An I/O error that says nothing about the file (too many open files, permissions),
    /// or the error of quarantining.
    pub fn open_tables(&self, quarantine: bool) -> Result<()> {
        let state = self.manifest.lock().clone();
        let mut tables = Vec::new();
        let mut lost: Vec<(String, FileMeta, Error)> = Vec::new();
        for (name, ts) in &state.tables {
            let mut files = Vec::new();
            let mut damaged = Vec::new();
            for f in &ts.files {
                match self.open_file(f.clone()) {
                    Ok(h) => files.push(h),
                    Err(e) if is_file_damage(&e) => {
                        tracing::error!(table = %name, file = %sst_path(&self.dir, f.number).display(),
                            error = %e, "a table file cannot be opened");
                        damaged.push((sst_path(&self.dir, f.number), e.to_string()));
                        lost.push((name.clone(), f.clone(), e));
                    }
                    Err(e) => return Err(e),
                }
            }
            tables.push((name, ts, files, damaged));
        }
        if quarantine && !lost.is_empty() {
            self.quarantine(&lost)?;
        }
        for (name, ts, files, damaged) in tables {
            let version = TableVersion {
                files,
                ..TableVersion::empty()
            };
            let mut table = Table::new(name, ts, version);
            if !damaged.is_empty() && !quarantine {
                tracing::error!(table = %name, files = damaged.len(),
                    "table unavailable until its files are restored or quarantined \
                     (quarantine_damaged_files); the other tables serve");
                table.damage = Some(Damage { files: damaged });
            }
            self.add_table(Arc::new(table));
        }
        Ok(())
    }

    /// Move the table files in `lost` (those that still exist) to `quarantine/`, log what
    /// each held, and commit a manifest without them.
    fn quarantine(&self, lost: &[(String, FileMeta, Error)]) -> Result<()> {
        let qdir = quarantine_dir(&self.dir);
        self.fs
            .create_dir_all(&qdir)
            .map_err(|e| Error::io(&qdir, e))?;
        for (table, f, why) in lost {
            let src = sst_path(&self.dir, f.number);
            let mut dst = qdir.join(sst_name(f.number));
            for n in 1.. {
                if !self.fs.exists(&dst) {
                    break;
                }
                dst = qdir.join(format!("{}.{n}", sst_name(f.number)));
            }
            let moved = if self.fs.exists(&src) {
                self.fs.rename(&src, &dst).map_err(|e| Error::io(&src, e))?;
                dst.display().to_string()
            } else {
                "nothing (the file is missing)".to_string()
            };
            tracing::warn!(
                table = %table,
                file = %src.display(),
                moved_to = %moved,
                reason = %why,
                rows = f.rows,
                cells = f.cells,
                delete_markers = f.deletes,
                bytes = f.size,
                smallest_row = ?String::from_utf8_lossy(&f.smallest_row),
                largest_row = ?String::from_utf8_lossy(&f.largest_row),
                min_seq = f.min_seq,
                max_seq = f.max_seq,
                "quarantined a damaged table file: its table opens without it, so these cells \
                 are lost (and its delete markers no longer hide older cells)"
            );
        }
        self.fs.sync_dir(&qdir).map_err(|e| Error::io(&qdir, e))?;
        self.sync_sst_dir()?;
        let gone: std::collections::HashSet<u64> = lost.iter().map(|(_, f, _)| f.number).collect();
        self.commit(&[], |next| {
            for ts in next.tables.values_mut() {
                ts.files.retain(|f| !gone.contains(&f.number));
            }
            Ok(())
        })
    }

    /// Every write to `table` up to this sequence number is in its files (0 if unknown).
    pub fn flushed_seq(&self, table: &str) -> SeqNo {
        self.manifest
            .lock()
            .tables
            .get(table)
            .map_or(0, |t| t.flushed_seq)
    }

    /// The highest sequence number the committed state knows of (see [`highest_seq`]):
    /// recovery starts numbering above it, so no sequence number is used twice.
    pub fn last_seq(&self) -> SeqNo {
        highest_seq(&self.manifest.lock())
    }

    /// Recovery replayed the WAL up to `max_seq`: the state counts it as durable and reads
    /// see it.
    pub fn recovered(&self, max_seq: SeqNo) {
        self.manifest.lock().last_seq = max_seq;
        self.visible_seq.store(max_seq, Ordering::Release);
    }

    /// The open table `name`; [`Error::TableUnavailable`] when its files could not be
    /// opened.
    pub fn table(&self, name: &str) -> Result<Arc<Table>> {
        let t = self.table_even_if_damaged(name)?;
        if let Some(d) = &t.damage {
            return Err(d.error(name));
        }
        Ok(t)
    }

    /// The open table `name` for a read or a write of its data: as [`Catalog::table`], and
    /// [`Error::TableDisabled`] for a disabled table. Every read and write path (gets, scans,
    /// writes, ingest, and what is built on them) takes its table here: the one place the
    /// enabled state is checked. Flushes, compactions, describe and DDL use
    /// [`Catalog::table`] and work on a disabled table.
    pub fn enabled_table(&self, name: &str) -> Result<Arc<Table>> {
        let t = self.table(name)?;
        if t.disabled.load(Ordering::Acquire) {
            return Err(Error::TableDisabled(name.to_string()));
        }
        Ok(t)
    }

    /// The open table `name`, also when it is unavailable (dropping it is allowed).
    pub fn table_even_if_damaged(&self, name: &str) -> Result<Arc<Table>> {
        self.tables
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| Error::TableNotFound(name.to_string()))
    }

    /// Every open table, in name order.
    pub fn tables(&self) -> Vec<Arc<Table>> {
        self.tables.read().values().cloned().collect()
    }

    /// Table names, sorted.
    pub fn table_names(&self) -> Vec<String> {
        self.tables.read().keys().cloned().collect()
    }

    /// How many tables are open.
    pub fn table_count(&self) -> usize {
        self.tables.read().len()
    }

    /// Make `table` visible to lookups (after the commit that created it).
    pub fn add_table(&self, table: Arc<Table>) {
        self.tables.write().insert(table.name.clone(), table);
    }

    /// Hide `name` from lookups (after the commit that dropped it).
    pub fn remove_table(&self, name: &str) {
        self.tables.write().remove(name);
    }

    /// The recorded ingest `id` of `table` (the one with `table_id`, not a table re-created
    /// under the same name), if the manifest still remembers it.
    pub fn ingest_record(&self, table: &str, table_id: u32, id: &str) -> Option<IngestRecord> {
        self.manifest
            .lock()
            .tables
            .get(table)
            .filter(|ts| ts.id == table_id)
            .and_then(|ts| ts.ingests.iter().find(|r| r.id == id))
            .cloned()
    }

    /// A new file number (table files; never reused, persisted by the next commit).
    pub fn allocate_file_number(&self) -> u64 {
        let mut m = self.manifest.lock();
        let n = m.next_file_number;
        m.next_file_number += 1;
        n
    }

    /// Change the manifest: `edit` changes a copy of the committed state, the copy is written
    /// and becomes the committed state, and `edit`'s value is returned.
    ///
    /// `new_files` are the table files the edit adds. When the edit fails, nothing was
    /// written: they are released (marked obsolete, so they are deleted once the caller drops
    /// them). When the write fails, its outcome is unknown (the rename may have reached the
    /// disk and only the directory sync failed), so the manifest on disk may list them: they
    /// are kept, and the store turns read-only; the next open keeps what the manifest it reads
    /// lists and sweeps the rest. This is the one place that decides what a failed commit
    /// means.
    ///
    /// # Errors
    ///
    /// `edit`'s error, or the I/O error of writing the manifest.
    pub fn commit<T>(
        &self,
        new_files: &[Arc<FileHandle>],
        edit: impl FnOnce(&mut ManifestState) -> Result<T>,
    ) -> Result<T> {
        self.commit_then(new_files, edit, |value| value)
    }

    /// [`Catalog::commit`], then `publish` the edit's value in memory while the manifest is
    /// still locked, so no other commit sees the new manifest before the in-memory change.
    ///
    /// # Errors
    ///
    /// As [`Catalog::commit`].
    pub fn commit_then<T, R>(
        &self,
        new_files: &[Arc<FileHandle>],
        edit: impl FnOnce(&mut ManifestState) -> Result<T>,
        publish: impl FnOnce(T) -> R,
    ) -> Result<R> {
        let release = || new_files.iter().for_each(|f| f.mark_obsolete());
        let mut m = self.manifest.lock();
        let mut next = m.clone();
        let value = match edit(&mut next) {
            Ok(v) => v,
            Err(e) => {
                release();
                return Err(e);
            }
        };
        next.last_seq = highest_seq(&next).max(self.visible_seq.load(Ordering::Acquire));
        if let Err(e) = manifest::write_manifest(&self.fs, &self.dir, &next) {
            self.health.set_read_only(&e);
            return Err(e);
        }
        *m = next;
        Ok(publish(value))
    }

    /// [`Catalog::commit`] of an edit of one table's state. `Ok(None)` when the manifest no
    /// longer lists `table` (dropped meanwhile): nothing is written and `new_files` are
    /// released.
    ///
    /// # Errors
    ///
    /// As [`Catalog::commit`].
    pub fn commit_table<T>(
        &self,
        table: &str,
        new_files: &[Arc<FileHandle>],
        edit: impl FnOnce(&mut TableState) -> Result<T>,
    ) -> Result<Option<T>> {
        let committed = self.commit(new_files, |next| match next.tables.get_mut(table) {
            Some(ts) => edit(ts),
            None => Err(Error::TableNotFound(table.to_string())),
        });
        match committed {
            Ok(v) => Ok(Some(v)),
            Err(Error::TableNotFound(t)) if t == table => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Start a new table file for `t`, written by `role`, with its families' current options
    /// (see [`Table::build_options`]).
    ///
    /// # Errors
    ///
    /// The I/O error of creating the file.
    pub fn new_file(&self, t: &Table, role: FileRole) -> Result<NewFile> {
        let number = self.allocate_file_number();
        let path = sst_path(&self.dir, number);
        let builder = TableBuilder::new(&self.fs, &path, t.build_options(role))?;
        Ok(NewFile {
            number,
            path,
            builder,
        })
    }

    /// Open finished table file `number` (written at `level`; `global_seq` for an ingested
    /// file) with the properties its builder or reader returned.
    ///
    /// # Errors
    ///
    /// The file cannot be opened or its footer or meta block is damaged.
    pub fn open_new_file(
        &self,
        number: u64,
        level: u32,
        global_seq: Option<SeqNo>,
        props: &TableProperties,
    ) -> Result<Arc<FileHandle>> {
        self.open_file(FileMeta::from_properties(number, level, global_seq, props))
    }

    /// Open the table file the manifest describes as `meta`.
    ///
    /// # Errors
    ///
    /// The file cannot be opened or its footer or meta block is damaged.
    pub fn open_file(&self, meta: FileMeta) -> Result<Arc<FileHandle>> {
        let path = sst_path(&self.dir, meta.number);
        let reader =
            TableReader::open_with_cache(&path, meta.global_seq, Some(self.block_cache.clone()))?;
        let size = reader.properties().file_size;
        if size != meta.size {
            return Err(Error::corruption(
                &path,
                0,
                format!(
                    "file is {size} bytes, the manifest says {} (truncated or replaced)",
                    meta.size
                ),
            ));
        }
        Ok(Arc::new(FileHandle::new(
            meta,
            reader,
            path,
            self.fs.clone(),
        )))
    }

    /// fsync the table file directory, so new files' entries survive a power cut (before a
    /// commit names them).
    ///
    /// # Errors
    ///
    /// The I/O error of the sync.
    pub fn sync_sst_dir(&self) -> Result<()> {
        let d = sst_dir(&self.dir);
        self.fs.sync_dir(&d).map_err(|e| Error::io(&d, e))
    }
}

/// The highest sequence number `state` records anywhere: its `last_seq`, each table's
/// `flushed_seq` and each table file's entries. A flush may persist entries written but not
/// yet synced (above what reads see, so above `last_seq`), and the WAL segment that held them
/// may be gone: a restart must number above them all, or a later replay would take new
/// writes for flushed ones and skip them.
fn highest_seq(state: &ManifestState) -> SeqNo {
    state
        .tables
        .values()
        .flat_map(|t| std::iter::once(t.flushed_seq).chain(t.files.iter().map(|f| f.max_seq)))
        .fold(state.last_seq, SeqNo::max)
}

/// Whether opening a table file failed because of the file itself (damaged, missing,
/// unreadable), as opposed to the process's situation (descriptors, permissions, memory).
fn is_file_damage(e: &Error) -> bool {
    match e {
        Error::Corruption { .. } => true,
        Error::Io { source, .. } => {
            source.kind() == std::io::ErrorKind::NotFound
                || source.raw_os_error() == Some(libc::EIO)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::{CellKind, CellRef};
    use crate::fault_fs::FaultFs;
    use crate::manifest::{FamilyRecord, FamilyState};
    use crate::options::FamilyOptions;

    /// A catalog over `dir` with table `t` (family `f`) open and committed.
    fn catalog(dir: &std::path::Path, fs: Arc<dyn Fs>) -> (Catalog, Arc<Table>) {
        fs.create_dir_all(&sst_dir(dir)).unwrap();
        let c = Catalog::new(
            dir.to_path_buf(),
            fs,
            BlockCache::new(0),
            ManifestState {
                next_file_number: 1,
                ..ManifestState::default()
            },
        );
        let ts = TableState {
            id: 1,
            families: vec![FamilyState {
                options: FamilyRecord::from(&FamilyOptions::new("f")),
                created_seq: 1,
            }],
            ..TableState::default()
        };
        let t = Arc::new(Table::new("t", &ts, TableVersion::empty()));
        c.commit_then(
            &[],
            |next| {
                next.tables.insert("t".into(), ts);
                Ok(t.clone())
            },
            |t| c.add_table(t),
        )
        .unwrap();
        (c, t)
    }

    /// A finished one-cell file of `t`, opened.
    fn file(c: &Catalog, t: &Table) -> Arc<FileHandle> {
        let mut f = c.new_file(t, FileRole::Compaction).unwrap();
        f.builder
            .add(&CellRef {
                row: b"r",
                family: "f",
                kind: CellKind::Put,
                qualifier: b"q",
                ts: 1,
                seq: 5,
                value: b"v",
            })
            .unwrap();
        let props = f.builder.finish().unwrap();
        c.open_new_file(f.number, 0, None, &props).unwrap()
    }

    fn add_file(h: &FileHandle) -> impl FnOnce(&mut ManifestState) -> Result<()> + '_ {
        move |next| {
            next.tables.get_mut("t").unwrap().files.push(h.meta.clone());
            Ok(())
        }
    }

    fn on_disk(dir: &std::path::Path) -> ManifestState {
        manifest::read_manifest(&crate::fs::real(), dir)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn commit_writes_the_edit_and_records_what_reads_see() {
        let dir = tempfile::tempdir().unwrap();
        let (c, t) = catalog(dir.path(), crate::fs::real());
        c.visible_seq.store(42, Ordering::Release);
        let h = file(&c, &t);
        c.commit(std::slice::from_ref(&h), add_file(&h)).unwrap();
        let state = on_disk(dir.path());
        assert_eq!(state.tables["t"].files, vec![h.meta.clone()]);
        assert_eq!(state.last_seq, 42);
        // The file number was allocated before the commit, so the commit persists it.
        assert_eq!(state.next_file_number, h.meta.number + 1);
        drop(h);
        assert!(sst_path(dir.path(), 1).exists(), "a committed file stays");
        assert!(!c.health.is_read_only());
    }

    #[test]
    fn a_failed_edit_writes_nothing_and_releases_the_new_files() {
        let dir = tempfile::tempdir().unwrap();
        let (c, t) = catalog(dir.path(), crate::fs::real());
        let before = on_disk(dir.path());
        let h = file(&c, &t);
        let path = h.path.clone();
        let err = c
            .commit(std::slice::from_ref(&h), |_| -> Result<()> {
                Err(Error::TableNotFound("t".into()))
            })
            .unwrap_err();
        assert!(matches!(err, Error::TableNotFound(_)));
        assert_eq!(on_disk(dir.path()), before);
        assert!(
            !c.health.is_read_only(),
            "an edit's error is not an I/O failure"
        );
        assert!(path.exists(), "deleted only once the caller drops it");
        drop(h);
        assert!(!path.exists());
    }

    /// Review L3: a commit whose rename happened but whose directory sync failed may or may
    /// not be on disk. Its new files must stay (the manifest on disk lists them here), and
    /// the store turns read-only.
    #[test]
    fn a_commit_of_unknown_outcome_keeps_its_files_and_makes_the_store_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let ffs = FaultFs::new();
        let (c, t) = catalog(dir.path(), ffs.clone());
        let h = file(&c, &t);
        let path = h.path.clone();
        ffs.fail_dir_sync(Some(dir.path()));
        let err = c
            .commit(std::slice::from_ref(&h), add_file(&h))
            .unwrap_err();
        ffs.fail_dir_sync(None);
        assert!(matches!(err, Error::Io { .. }), "{err}");
        assert!(c.health.is_read_only());
        assert_eq!(on_disk(dir.path()).tables["t"].files, vec![h.meta.clone()]);
        drop(h);
        assert!(
            path.exists(),
            "a file the manifest on disk lists was deleted"
        );
    }

    #[test]
    fn a_failed_manifest_write_makes_the_store_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let ffs = FaultFs::new();
        let (c, t) = catalog(dir.path(), ffs.clone());
        let before = on_disk(dir.path());
        let h = file(&c, &t);
        ffs.fail_syncs(true);
        let err = c
            .commit(std::slice::from_ref(&h), add_file(&h))
            .unwrap_err();
        ffs.fail_syncs(false);
        assert!(matches!(err, Error::Io { .. }), "{err}");
        assert!(c.health.is_read_only());
        assert_eq!(on_disk(dir.path()), before);
    }

    #[test]
    fn install_publishes_a_new_version_and_keeps_the_old_one_for_its_readers() {
        let dir = tempfile::tempdir().unwrap();
        let (c, t) = catalog(dir.path(), crate::fs::real());
        let old = t.version.load_full();
        let h = file(&c, &t);
        let n = t.install(|v| {
            v.files.push(h.clone());
            v.files.len()
        });
        assert_eq!(n, 1);
        assert_eq!(t.version.load().files.len(), 1);
        assert!(old.files.is_empty());
    }
}
