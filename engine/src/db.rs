//! `Db`: the engine's front door. Owns the table catalog, the write path (validation,
//! sequencing, WAL, group commit, memtables), recovery at open, the background flush thread
//! and the entry points of reads. Layout rules live in `sstable`, visibility in `read`,
//! durability framing in `wal` and `manifest`.
//!
//! Lock order (never take them the other way round): `sync` -> `write` -> `manifest` ->
//! a table's `version_lock`.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use parking_lot::{Condvar, Mutex, RwLock};

use crate::cell::{CellKind, InternalCell, MARKER_TS, SeqNo, Timestamp};
use crate::error::{Error, Result};
use crate::fs::{FileSyncer, Fs};
use crate::lock::DirLock;
use crate::manifest::{self, FamilyState, FileMeta, IngestRecord, ManifestState, TableState};
use crate::memtable::{MemTable, MemTableCursor};
use crate::mutation::{Mutation, RowMutation, WriteStats};
use crate::options::{Compression, DbOptions, FamilyOptions, SyncMode, validate_name};
use crate::read::{CellSource, FamilySchema, MergeIter, ReadPlan};
use crate::row::{ReadOptions, Row, ScanOptions};
use crate::sstable::{TableBuildOptions, TableBuilder, TableReader};
use crate::version::{FileHandle, TableVersion};
use crate::wal::{self, LogWriter};
use crate::write_batch::{RowCells, WriteBatch};

pub use crate::stats::TableDescription;

/// Ingest ids remembered per table (older ones are forgotten).
const MAX_INGEST_RECORDS: usize = 1000;

/// Changes to a table's families.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlterTable {
    /// Families to add.
    pub add: Vec<FamilyOptions>,
    /// Families to drop (their data goes with them).
    pub drop: Vec<String>,
    /// Families whose options change (matched by name).
    pub modify: Vec<FamilyOptions>,
}

/// The result of adopting externally built SSTables.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngestReply {
    /// Files adopted.
    pub files: u64,
    /// Entries in them.
    pub cells: u64,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// Counters of one table since open.
#[derive(Debug, Default)]
pub(crate) struct TableCounters {
    pub flushes: AtomicU64,
    pub compactions: AtomicU64,
    pub compaction_bytes_in: AtomicU64,
    pub compaction_bytes_out: AtomicU64,
    pub write_stalls: AtomicU64,
    pub write_slowdowns: AtomicU64,
    /// Bytes of WAL records written for this table (the user's bytes).
    pub user_bytes: AtomicU64,
    /// Bytes of table files written by flushes.
    pub flush_bytes: AtomicU64,
}

/// Writes are slowed by a millisecond each once a table has this many files...
const SLOWDOWN_FILES: usize = 40;
/// ...and stall until compaction catches up at this many.
const STALL_FILES: usize = 64;

/// One open table.
#[derive(Debug)]
pub(crate) struct Table {
    pub id: u32,
    pub name: String,
    pub schema: ArcSwap<Vec<FamilySchema>>,
    pub version: ArcSwap<TableVersion>,
    /// Serializes changes to `version`.
    pub version_lock: Mutex<()>,
    /// Serializes flushes of this table.
    pub maintenance_lock: Mutex<()>,
    /// Serializes compactions of this table (they run alongside flushes and ingests).
    pub compaction_lock: Mutex<()>,
    pub counters: TableCounters,
    pub dropped: AtomicBool,
}

#[derive(Debug)]
struct SegmentInfo {
    number: u64,
    path: PathBuf,
    max_seq: SeqNo,
}

struct WriteState {
    wal: LogWriter,
    syncer: Arc<dyn FileSyncer>,
    next_seq: SeqNo,
    /// Largest sequence number appended to the WAL (and inserted into a memtable).
    last_written: SeqNo,
    /// Closed segments still needed for recovery.
    old_segments: Vec<SegmentInfo>,
    current_max_seq: SeqNo,
}

pub(crate) struct DbInner {
    pub dir: PathBuf,
    pub fs: Arc<dyn Fs>,
    pub options: DbOptions,
    /// Decoded data blocks of every open table file (`options.block_cache_bytes`).
    pub block_cache: Arc<crate::cache::BlockCache>,
    _lock: DirLock,
    pub tables: RwLock<BTreeMap<String, Arc<Table>>>,
    pub manifest: Mutex<ManifestState>,
    write: Mutex<WriteState>,
    stall_cv: Condvar,
    /// Largest sequence number known durable per the sync mode.
    synced: Mutex<SeqNo>,
    /// Reads see entries up to this sequence number.
    pub visible_seq: AtomicU64,
    read_only: RwLock<Option<String>>,
    closed: AtomicBool,
    flush_signal: (Mutex<bool>, Condvar),
    ingest_lock: Mutex<()>,
    bg: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for DbInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("dir", &self.dir).finish()
    }
}

/// An open store. Cheap to clone; every clone is the same store.
#[derive(Clone, Debug)]
pub struct Db {
    inner: Arc<DbInner>,
}

/// Microseconds since the Unix epoch.
pub fn now_micros() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

fn sst_dir(dir: &Path) -> PathBuf {
    dir.join("sst")
}
fn wal_dir(dir: &Path) -> PathBuf {
    dir.join("wal")
}
pub(crate) fn sst_path(dir: &Path, number: u64) -> PathBuf {
    sst_dir(dir).join(format!("{number:06}.sst"))
}

fn schema_of(state: &TableState) -> Vec<FamilySchema> {
    let mut v: Vec<FamilySchema> = state
        .families
        .iter()
        .map(|f| FamilySchema {
            name: Arc::from(f.options.name.as_str()),
            options: f.options.clone(),
            created_seq: f.created_seq,
        })
        .collect();
    v.sort_by(|a, b| a.options.name.cmp(&b.options.name));
    v
}

fn validate_family_options(f: &FamilyOptions) -> Result<FamilyOptions> {
    validate_name("family", &f.name).map_err(Error::InvalidArgument)?;
    let f = f.clone().normalized();
    if let Compression::Zstd(level) = f.compression
        && !(1..=22).contains(&level)
    {
        return Err(Error::InvalidArgument(format!(
            "family {}: zstd level {level} is outside 1..=22",
            f.name
        )));
    }
    if !(1024..=16 * 1024 * 1024).contains(&f.block_size) {
        return Err(Error::InvalidArgument(format!(
            "family {}: block size {} is outside 1 KiB..=16 MiB",
            f.name, f.block_size
        )));
    }
    Ok(f)
}

impl Db {
    /// Open (or create) a store in `dir`.
    pub fn open(dir: impl AsRef<Path>, options: DbOptions) -> Result<Db> {
        Self::open_with_fs(dir, options, crate::fs::real())
    }

    /// Open with a given file layer (tests inject faults through it).
    pub fn open_with_fs(dir: impl AsRef<Path>, options: DbOptions, fs: Arc<dyn Fs>) -> Result<Db> {
        let dir = dir.as_ref().to_path_buf();
        for d in [dir.clone(), sst_dir(&dir), wal_dir(&dir)] {
            fs.create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
        }
        let lock = DirLock::acquire(&dir)?;
        let mut state = manifest::read_manifest(&fs, &dir)?.unwrap_or_else(|| ManifestState {
            next_file_number: 1,
            last_seq: 0,
            next_table_id: 1,
            tables: BTreeMap::new(),
        });

        // Files no committed manifest lists are leftovers of an interrupted flush,
        // compaction or ingest: remove them.
        let live: std::collections::HashSet<u64> = state
            .tables
            .values()
            .flat_map(|t| t.files.iter().map(|f| f.number))
            .collect();
        let sdir = sst_dir(&dir);
        for p in fs.list(&sdir).map_err(|e| Error::io(&sdir, e))? {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let number = name
                .strip_suffix(".sst")
                .and_then(|n| n.parse::<u64>().ok());
            let keep = number.is_some_and(|n| live.contains(&n));
            if !keep {
                tracing::info!(path = %p.display(), "removing leftover file not in the manifest");
                fs.remove(&p).map_err(|e| Error::io(&p, e))?;
            }
        }

        // Open tables and their files.
        let block_cache = crate::cache::BlockCache::new(options.block_cache_bytes);
        let mut tables = BTreeMap::new();
        let mut by_id: BTreeMap<u32, Arc<Table>> = BTreeMap::new();
        for (name, ts) in &state.tables {
            let mut files = Vec::new();
            for f in &ts.files {
                let path = sst_path(&dir, f.number);
                let reader =
                    TableReader::open_with_cache(&path, f.global_seq, Some(block_cache.clone()))?;
                files.push(Arc::new(FileHandle::new(
                    f.clone(),
                    reader,
                    path,
                    fs.clone(),
                )));
            }
            let table = Arc::new(Table {
                id: ts.id,
                name: name.clone(),
                schema: ArcSwap::from_pointee(schema_of(ts)),
                version: ArcSwap::from_pointee(TableVersion {
                    files,
                    ..TableVersion::empty()
                }),
                version_lock: Mutex::new(()),
                maintenance_lock: Mutex::new(()),
                compaction_lock: Mutex::new(()),
                counters: TableCounters::default(),
                dropped: AtomicBool::new(false),
            });
            by_id.insert(ts.id, table.clone());
            tables.insert(name.clone(), table);
        }

        // Replay the WAL.
        let wdir = wal_dir(&dir);
        let mut max_seq = state.last_seq;
        let mut old_segments = Vec::new();
        let mut last_number = 0;
        for (number, path) in wal::list_segments(&fs, &wdir)? {
            last_number = last_number.max(number);
            let contents = wal::read_segment(&fs, &path, options.salvage_wal)?;
            if let Some(t) = &contents.torn_tail {
                tracing::warn!(path = %path.display(), tail = %t, valid_len = contents.valid_len,
                    "WAL segment ends in a torn record (crash mid-write); cutting it off");
                fs.truncate(&path, contents.valid_len)
                    .map_err(|e| Error::io(&path, e))?;
            }
            let mut seg_max = 0;
            for (i, rec) in contents.records.iter().enumerate() {
                let batch = WriteBatch::decode(rec, &path, i as u64)?;
                let n = batch.cell_count();
                if n > 0 {
                    seg_max = seg_max.max(batch.first_seq + n - 1);
                }
                let Some(table) = by_id.get(&batch.table_id) else {
                    continue; // the table was dropped
                };
                let flushed = state.tables.get(&table.name).map_or(0, |t| t.flushed_seq);
                let mem = table.version.load().active.clone();
                for c in batch.internal_cells() {
                    if c.seq > flushed {
                        mem.insert(c);
                    }
                }
            }
            max_seq = max_seq.max(seg_max);
            old_segments.push(SegmentInfo {
                number,
                path,
                max_seq: seg_max,
            });
        }
        state.last_seq = max_seq;

        let wal = LogWriter::create(&fs, &wdir, last_number + 1)?;
        let syncer = wal.syncer()?;
        let inner = Arc::new(DbInner {
            dir,
            fs,
            options,
            block_cache,
            _lock: lock,
            tables: RwLock::new(tables),
            manifest: Mutex::new(state),
            write: Mutex::new(WriteState {
                wal,
                syncer,
                next_seq: max_seq + 1,
                last_written: max_seq,
                old_segments,
                current_max_seq: 0,
            }),
            stall_cv: Condvar::new(),
            synced: Mutex::new(max_seq),
            visible_seq: AtomicU64::new(max_seq),
            read_only: RwLock::new(None),
            closed: AtomicBool::new(false),
            flush_signal: (Mutex::new(false), Condvar::new()),
            ingest_lock: Mutex::new(()),
            bg: Mutex::new(Vec::new()),
        });
        let db = Db { inner };
        // Replayed memtables that are already over budget go to flush right away.
        for t in db.inner.tables.read().values() {
            if t.version.load().active.approximate_bytes() >= db.inner.options.memtable_bytes {
                db.inner.rotate_memtable(t);
            }
        }
        if db.inner.options.background_threads {
            let weak = Arc::downgrade(&db.inner);
            let h = std::thread::Builder::new()
                .name("strata-flush".into())
                .spawn(move || flush_thread(weak))
                .map_err(|e| Error::io("strata-flush thread", e))?;
            db.inner.bg.lock().push(h);
            db.inner.signal_flush();
        }
        tracing::info!(dir = %db.inner.dir.display(), tables = db.inner.tables.read().len(), last_seq = max_seq, "store opened");
        Ok(db)
    }

    /// The directory of the store.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &DbOptions {
        &self.inner.options
    }

    /// Create a table with its families.
    pub fn create_table(&self, table: &str, families: Vec<FamilyOptions>) -> Result<()> {
        self.inner.check_writable()?;
        validate_name("table", table).map_err(Error::InvalidArgument)?;
        if families.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "table {table}: at least one column family is required"
            )));
        }
        let mut fams = Vec::new();
        for f in &families {
            let f = validate_family_options(f)?;
            if fams.iter().any(|g: &FamilyOptions| g.name == f.name) {
                return Err(Error::InvalidArgument(format!(
                    "table {table}: family {} is listed twice",
                    f.name
                )));
            }
            fams.push(f);
        }
        let inner = &self.inner;
        let w = inner.write.lock();
        let created_seq = w.next_seq;
        let mut m = inner.manifest.lock();
        if m.tables.contains_key(table) {
            return Err(Error::AlreadyExists(format!("table {table}")));
        }
        let mut next = m.clone();
        let id = next.next_table_id;
        next.next_table_id += 1;
        let ts = TableState {
            id,
            families: fams
                .into_iter()
                .map(|options| FamilyState {
                    options,
                    created_seq,
                })
                .collect(),
            files: Vec::new(),
            flushed_seq: created_seq.saturating_sub(1),
            ingests: Vec::new(),
        };
        let t = Arc::new(Table {
            id,
            name: table.to_string(),
            schema: ArcSwap::from_pointee(schema_of(&ts)),
            version: ArcSwap::from_pointee(TableVersion::empty()),
            version_lock: Mutex::new(()),
            maintenance_lock: Mutex::new(()),
            compaction_lock: Mutex::new(()),
            counters: TableCounters::default(),
            dropped: AtomicBool::new(false),
        });
        next.tables.insert(table.to_string(), ts);
        inner.commit_manifest(&mut m, next)?;
        inner.tables.write().insert(table.to_string(), t);
        drop(m);
        drop(w);
        tracing::info!(table, "table created");
        Ok(())
    }

    /// Drop a table and its data.
    pub fn drop_table(&self, table: &str) -> Result<()> {
        let inner = &self.inner;
        inner.check_writable()?;
        let t = inner.table(table)?;
        let _compaction = t.compaction_lock.lock();
        let _maint = t.maintenance_lock.lock();
        let mut m = inner.manifest.lock();
        let mut next = m.clone();
        next.tables.remove(table);
        inner.commit_manifest(&mut m, next)?;
        drop(m);
        inner.tables.write().remove(table);
        t.dropped.store(true, Ordering::Release);
        let _g = t.version_lock.lock();
        for f in &t.version.load().files {
            f.mark_obsolete();
        }
        t.version.store(Arc::new(TableVersion::empty()));
        tracing::info!(table, "table dropped");
        Ok(())
    }

    /// Add, drop or change families.
    pub fn alter_table(&self, table: &str, alter: AlterTable) -> Result<()> {
        let inner = &self.inner;
        inner.check_writable()?;
        let t = inner.table(table)?;
        let w = inner.write.lock();
        let created_seq = w.next_seq;
        let mut m = inner.manifest.lock();
        let mut next = m.clone();
        let ts = next
            .tables
            .get_mut(table)
            .ok_or_else(|| Error::TableNotFound(table.to_string()))?;
        let mut narrowed = false;
        for name in &alter.drop {
            let before = ts.families.len();
            ts.families.retain(|f| f.options.name != *name);
            if ts.families.len() == before {
                return Err(Error::FamilyNotFound {
                    table: table.to_string(),
                    family: name.clone(),
                });
            }
        }
        for f in &alter.modify {
            let f = validate_family_options(f)?;
            let slot = ts
                .families
                .iter_mut()
                .find(|g| g.options.name == f.name)
                .ok_or_else(|| Error::FamilyNotFound {
                    table: table.to_string(),
                    family: f.name.clone(),
                })?;
            let old = &slot.options;
            let shorter_ttl =
                f.ttl_seconds > 0 && (old.ttl_seconds == 0 || f.ttl_seconds < old.ttl_seconds);
            if f.max_versions < old.max_versions || shorter_ttl {
                narrowed = true;
            }
            slot.options = f;
        }
        for f in &alter.add {
            let f = validate_family_options(f)?;
            if ts.families.iter().any(|g| g.options.name == f.name) {
                return Err(Error::AlreadyExists(format!(
                    "family {} in table {table}",
                    f.name
                )));
            }
            ts.families.push(FamilyState {
                options: f,
                created_seq,
            });
        }
        if ts.families.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "table {table}: cannot drop every column family"
            )));
        }
        let schema = schema_of(ts);
        inner.commit_manifest(&mut m, next)?;
        t.schema.store(Arc::new(schema));
        drop(m);
        drop(w);
        tracing::info!(table, ?alter, "table altered");
        // Fewer versions or a shorter TTL: drop what is now hidden from disk before returning,
        // so raising the limit again later cannot bring it back (reads must not depend on
        // whether a compaction happened to run in between).
        if narrowed {
            crate::compaction::compact_table(inner, &t, true)?;
        }
        Ok(())
    }

    /// Table names, sorted.
    pub fn list_tables(&self) -> Vec<String> {
        self.inner.tables.read().keys().cloned().collect()
    }

    /// Schema and statistics of a table.
    pub fn describe_table(&self, table: &str) -> Result<TableDescription> {
        let t = self.inner.table(table)?;
        Ok(crate::stats::describe(
            &t,
            &self.inner.block_cache,
            self.inner.wal_bytes(),
        ))
    }

    /// Apply one row mutation atomically; durable (per the sync mode) when this returns.
    pub fn mutate_row(&self, table: &str, m: RowMutation) -> Result<WriteStats> {
        self.mutate_rows(table, vec![m])
    }

    /// Apply many row mutations: all are validated before any is applied; each row is
    /// atomic (the whole call is one WAL record); durable when this returns.
    pub fn mutate_rows(&self, table: &str, rows: Vec<RowMutation>) -> Result<WriteStats> {
        self.inner.write_rows(table, rows)
    }

    /// Read one row. `None` when the row has no visible cell in the selection.
    pub fn get(&self, table: &str, row: &[u8], opts: &ReadOptions) -> Result<Option<Row>> {
        let inner = &self.inner;
        inner.check_open()?;
        inner.check_row_key(row)?;
        let t = inner.table(table)?;
        let plan = ReadPlan::new(table, &t.schema.load(), opts, now_micros())?;
        let snapshot = inner.visible_seq.load(Ordering::Acquire);
        // A guard, not a clone: no shared reference count to bump on every get.
        let v = t.version.load();
        let mut cells: Vec<InternalCell> = Vec::new();
        for m in std::iter::once(&v.active).chain(v.immutables.iter()) {
            if !m.is_empty() {
                m.get_row(row, snapshot, &mut cells);
            }
        }
        let fams = plan.family_names();
        let from_files = cells.len();
        for f in &v.files {
            // get_row_into checks the key range and the bloom filter (and counts it).
            f.reader.get_row_into(row, Some(&fams), &mut cells)?;
        }
        if cells.len() > from_files {
            cells.retain(|c| c.seq <= snapshot);
        }
        cells.sort();
        let visible = plan.resolve_row(&cells);
        Ok((!visible.is_empty()).then(|| Row {
            key: row.to_vec(),
            cells: visible,
        }))
    }

    /// Scan rows in key order from one consistent snapshot.
    pub fn scan(&self, table: &str, opts: ScanOptions) -> Result<RowScanner> {
        let inner = &self.inner;
        inner.check_open()?;
        let t = inner.table(table)?;
        let plan = ReadPlan::new(table, &t.schema.load(), &opts.read, now_micros())?;
        let snapshot = inner.visible_seq.load(Ordering::Acquire);
        let v = t.version.load_full();
        let (start, stop) = effective_bounds(&opts);
        let start_ref: Bound<&[u8]> = match &start {
            Bound::Included(k) => Bound::Included(k.as_slice()),
            Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
            Bound::Unbounded => Bound::Unbounded,
        };
        let mut sources: Vec<CellSource> = Vec::new();
        for m in std::iter::once(&v.active).chain(v.immutables.iter()) {
            if m.is_empty() {
                continue;
            }
            sources.push(Box::new(
                MemTableCursor::new(m.clone(), start_ref, snapshot).map(Ok),
            ));
        }
        let fams = plan.family_names();
        for f in &v.files {
            if !range_overlaps(&start, &stop, &f.meta.smallest_row, &f.meta.largest_row) {
                continue;
            }
            let it = f.reader.iter(start_ref, Some(&fams))?;
            sources.push(Box::new(it.filter(move |c| match c {
                Ok(c) => c.seq <= snapshot,
                Err(_) => true,
            })));
        }
        Ok(RowScanner {
            merge: MergeIter::new(sources),
            plan,
            stop,
            limit: opts.limit,
            returned: 0,
            pending: None,
            done: false,
            _version: v,
        })
    }

    /// Flush the table's memtables to SSTables and wait for it.
    pub fn flush(&self, table: &str) -> Result<()> {
        let inner = &self.inner;
        inner.check_open()?;
        let t = inner.table(table)?;
        inner.freeze_memtable(&t);
        inner.flush_immutables(&t)
    }

    /// Compact the table (`major`: everything into one sorted run).
    pub fn compact(&self, table: &str, major: bool) -> Result<()> {
        let inner = &self.inner;
        inner.check_writable()?;
        let t = inner.table(table)?;
        crate::compaction::compact_table(inner, &t, major)
    }

    /// Adopt SSTables written by the loader, atomically. Files on the same filesystem are
    /// hard-linked, others copied and fsynced. Repeating an `ingest_id` returns the first
    /// reply and adopts nothing.
    pub fn ingest(&self, table: &str, paths: &[PathBuf], ingest_id: &str) -> Result<IngestReply> {
        self.inner.ingest(table, paths, ingest_id)
    }

    /// Flush every table, sync the WAL, stop background threads. Later calls fail with
    /// `Error::Closed`; the directory lock is released when the last clone is dropped.
    pub fn close(&self) -> Result<()> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut first_err = None;
        if inner.read_only.read().is_none() {
            let tables: Vec<Arc<Table>> = inner.tables.read().values().cloned().collect();
            for t in tables {
                inner.freeze_memtable(&t);
                if let Err(e) = inner.flush_immutables(&t) {
                    first_err.get_or_insert(e);
                }
            }
            let mut w = inner.write.lock();
            if let Err(e) = w.wal.sync() {
                first_err.get_or_insert(e);
            }
        }
        inner.closed.store(true, Ordering::Release);
        inner.signal_flush();
        let handles: Vec<_> = inner.bg.lock().drain(..).collect();
        for h in handles {
            let _ = h.join();
        }
        tracing::info!(dir = %inner.dir.display(), "store closed");
        first_err.map_or(Ok(()), Err)
    }

    /// Whether the store refuses writes after an I/O failure, and why.
    pub fn read_only_reason(&self) -> Option<String> {
        self.inner.read_only.read().clone()
    }
}

impl Drop for DbInner {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Release);
    }
}

/// Intersect start/stop with the prefix range.
fn effective_bounds(opts: &ScanOptions) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let mut start = opts.start.clone();
    let mut stop = opts.stop.clone();
    if !opts.prefix.is_empty() {
        let p = opts.prefix.clone();
        start = match start {
            Bound::Unbounded => Bound::Included(p.clone()),
            Bound::Included(k) if k < p => Bound::Included(p.clone()),
            Bound::Excluded(k) if k < p => Bound::Included(p.clone()),
            other => other,
        };
        if let Some(succ) = prefix_successor(&p) {
            stop = match stop {
                Bound::Excluded(k) if k <= succ => Bound::Excluded(k),
                Bound::Included(k) if k < succ => Bound::Included(k),
                _ => Bound::Excluded(succ),
            };
        }
    }
    (start, stop)
}

/// The smallest key greater than every key starting with `p` (None if there is none).
pub(crate) fn prefix_successor(p: &[u8]) -> Option<Vec<u8>> {
    let mut v = p.to_vec();
    while let Some(last) = v.pop() {
        if last != 0xff {
            v.push(last + 1);
            return Some(v);
        }
    }
    None
}

fn past_stop(row: &[u8], stop: &Bound<Vec<u8>>) -> bool {
    match stop {
        Bound::Unbounded => false,
        Bound::Excluded(s) => row >= s.as_slice(),
        Bound::Included(s) => row > s.as_slice(),
    }
}

fn range_overlaps(start: &Bound<Vec<u8>>, stop: &Bound<Vec<u8>>, lo: &[u8], hi: &[u8]) -> bool {
    let after_start = match start {
        Bound::Unbounded => true,
        Bound::Included(s) => hi >= s.as_slice(),
        Bound::Excluded(s) => hi > s.as_slice(),
    };
    after_start && !past_stop(lo, stop)
}

/// Rows of a scan, read from one consistent snapshot. Holding it pins files, not memory.
pub struct RowScanner {
    merge: MergeIter,
    plan: ReadPlan,
    stop: Bound<Vec<u8>>,
    limit: u64,
    returned: u64,
    pending: Option<InternalCell>,
    done: bool,
    _version: Arc<TableVersion>,
}

impl Iterator for RowScanner {
    type Item = Result<Row>;
    fn next(&mut self) -> Option<Result<Row>> {
        let mut cells: Vec<InternalCell> = Vec::new();
        while !self.done {
            if self.limit > 0 && self.returned >= self.limit {
                self.done = true;
                return None;
            }
            let first = match self.pending.take() {
                Some(c) => c,
                None => match self.merge.next() {
                    None => {
                        self.done = true;
                        return None;
                    }
                    Some(Err(e)) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                    Some(Ok(c)) => c,
                },
            };
            if past_stop(&first.row, &self.stop) {
                self.done = true;
                return None;
            }
            cells.clear();
            let row = first.row.clone();
            cells.push(first);
            loop {
                match self.merge.next() {
                    None => break,
                    Some(Err(e)) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                    Some(Ok(c)) if c.row == row => cells.push(c),
                    Some(Ok(c)) => {
                        self.pending = Some(c);
                        break;
                    }
                }
            }
            let visible = self.plan.resolve_row(&cells);
            if !visible.is_empty() {
                self.returned += 1;
                return Some(Ok(Row {
                    key: row.to_vec(),
                    cells: visible,
                }));
            }
        }
        None
    }
}

impl DbInner {
    pub(crate) fn table(&self, name: &str) -> Result<Arc<Table>> {
        self.tables
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| Error::TableNotFound(name.to_string()))
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    pub(crate) fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        if let Some(why) = self.read_only.read().as_ref() {
            return Err(Error::ReadOnly(why.clone()));
        }
        Ok(())
    }

    /// Stop accepting writes after an I/O failure; reads go on.
    pub(crate) fn set_read_only(&self, err: &Error) {
        let mut ro = self.read_only.write();
        if ro.is_none() {
            tracing::error!(error = %err, "write failed: the store is now read-only until restart");
            *ro = Some(err.to_string());
        }
        self.stall_cv.notify_all();
    }

    fn check_row_key(&self, row: &[u8]) -> Result<()> {
        if row.is_empty() {
            return Err(Error::InvalidArgument("row key is empty".into()));
        }
        let max = self.options.limits.max_row_key;
        if row.len() > max {
            return Err(Error::InvalidArgument(format!(
                "row key is {} bytes, over the limit of {max}",
                row.len()
            )));
        }
        Ok(())
    }

    /// Validate and expand client mutations into the cells of one row.
    fn expand_row(
        &self,
        table: &str,
        schema: &[FamilySchema],
        rm: RowMutation,
        now: Timestamp,
    ) -> Result<RowCells> {
        let limits = &self.options.limits;
        self.check_row_key(&rm.row).map_err(|e| match e {
            Error::InvalidArgument(m) => Error::InvalidArgument(format!(
                "{m} (row {})",
                String::from_utf8_lossy(&rm.row[..rm.row.len().min(64)])
            )),
            other => other,
        })?;
        if rm.mutations.len() > limits.max_mutations_per_row {
            return Err(Error::InvalidArgument(format!(
                "{} mutations in one row, over the limit of {}",
                rm.mutations.len(),
                limits.max_mutations_per_row
            )));
        }
        let family = |name: &str| -> Result<Arc<str>> {
            schema
                .iter()
                .find(|f| *f.name == *name)
                .map(|f| f.name.clone())
                .ok_or_else(|| Error::FamilyNotFound {
                    table: table.to_string(),
                    family: name.to_string(),
                })
        };
        let check_qual = |q: &[u8]| -> Result<()> {
            if q.len() > limits.max_qualifier {
                return Err(Error::InvalidArgument(format!(
                    "qualifier is {} bytes, over the limit of {}",
                    q.len(),
                    limits.max_qualifier
                )));
            }
            Ok(())
        };
        let check_ts = |ts: Timestamp| -> Result<()> {
            if ts < 0 || ts == MARKER_TS {
                return Err(Error::InvalidArgument(format!(
                    "timestamp {ts} is outside 0..{MARKER_TS}"
                )));
            }
            Ok(())
        };
        let mut cells = Vec::with_capacity(rm.mutations.len());
        for m in rm.mutations {
            match m {
                Mutation::SetCell {
                    family: f,
                    qualifier,
                    value,
                    timestamp,
                } => {
                    let fam = family(&f)?;
                    check_qual(&qualifier)?;
                    check_ts(timestamp)?;
                    if value.len() > limits.max_value {
                        return Err(Error::InvalidArgument(format!(
                            "value of {f}:{} is {} bytes, over the limit of {}",
                            String::from_utf8_lossy(&qualifier),
                            value.len(),
                            limits.max_value
                        )));
                    }
                    let ts = if timestamp == 0 { now } else { timestamp };
                    cells.push((CellKind::Put, fam, qualifier, ts, value));
                }
                Mutation::DeleteCells {
                    family: f,
                    qualifier,
                    timestamp,
                } => {
                    let fam = family(&f)?;
                    check_qual(&qualifier)?;
                    check_ts(timestamp)?;
                    if timestamp == 0 {
                        cells.push((
                            CellKind::DeleteColumn,
                            fam,
                            qualifier,
                            MARKER_TS,
                            Bytes::new(),
                        ));
                    } else {
                        cells.push((
                            CellKind::DeleteCell,
                            fam,
                            qualifier,
                            timestamp,
                            Bytes::new(),
                        ));
                    }
                }
                Mutation::DeleteFamily { family: f } => {
                    let fam = family(&f)?;
                    cells.push((
                        CellKind::DeleteFamily,
                        fam,
                        Bytes::new(),
                        MARKER_TS,
                        Bytes::new(),
                    ));
                }
                Mutation::DeleteRow => {
                    for f in schema {
                        cells.push((
                            CellKind::DeleteFamily,
                            f.name.clone(),
                            Bytes::new(),
                            MARKER_TS,
                            Bytes::new(),
                        ));
                    }
                }
            }
        }
        Ok(RowCells { row: rm.row, cells })
    }

    fn write_rows(&self, table: &str, rows: Vec<RowMutation>) -> Result<WriteStats> {
        self.check_writable()?;
        let t = self.table(table)?;
        let schema = t.schema.load_full();
        let now = now_micros();
        let nrows = rows.len() as u64;
        let mut expanded = Vec::with_capacity(rows.len());
        for rm in rows {
            expanded.push(self.expand_row(table, &schema, rm, now)?);
        }
        let mut batch = WriteBatch {
            table_id: t.id,
            first_seq: 0,
            rows: expanded,
        };
        let ncells = batch.cell_count();
        if ncells == 0 {
            return Ok(WriteStats {
                rows: nrows,
                cells: 0,
            });
        }
        // Encode outside the write lock; only the sequence number is patched in under it.
        let mut encoded = Vec::new();
        batch.encode(&mut encoded);
        // Back-pressure, first gently: near the limits each write waits a millisecond
        // (outside the write lock) so flushes and compactions can catch up.
        if self.options.background_threads {
            let v = t.version.load();
            if v.immutables.len() + 1 >= self.options.max_immutable_memtables
                || v.files.len() >= SLOWDOWN_FILES
            {
                drop(v);
                t.counters.write_slowdowns.fetch_add(1, Ordering::Relaxed);
                self.signal_flush();
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let mut w = self.write.lock();
        // Then hard: wait while the table has too many frozen memtables or files.
        let mut stalled = false;
        loop {
            self.check_writable()?;
            if t.dropped.load(Ordering::Acquire) {
                return Err(Error::TableNotFound(table.to_string()));
            }
            let v = t.version.load();
            if v.active.approximate_bytes() >= self.options.memtable_bytes
                && v.immutables.len() < self.options.max_immutable_memtables
            {
                drop(v);
                self.rotate_memtable(&t);
                continue;
            }
            let too_many_files = self.options.background_threads && v.files.len() >= STALL_FILES;
            if too_many_files
                || (v.immutables.len() >= self.options.max_immutable_memtables
                    && v.active.approximate_bytes() >= self.options.memtable_bytes)
            {
                if !stalled {
                    stalled = true;
                    t.counters.write_stalls.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(table, "writes stalled: waiting for memtable flushes");
                }
                if !self.options.background_threads {
                    // Nobody else will flush: do it here, outside the write lock.
                    drop(w);
                    self.flush_immutables(&t)?;
                    w = self.write.lock();
                    continue;
                }
                self.signal_flush();
                self.stall_cv.wait_for(&mut w, Duration::from_millis(100));
                continue;
            }
            break;
        }
        batch.first_seq = w.next_seq;
        let last = batch.first_seq + ncells - 1;
        let buf = &mut encoded;
        WriteBatch::set_first_seq(buf, batch.first_seq);
        if w.wal.len() >= self.options.wal_segment_bytes
            && let Err(e) = self.rotate_wal(&mut w)
        {
            self.set_read_only(&e);
            return Err(e);
        }
        t.counters
            .user_bytes
            .fetch_add(buf.len() as u64, Ordering::Relaxed);
        let appended = w.wal.append(buf);
        if let Err(e) = appended {
            self.set_read_only(&e);
            return Err(e);
        }
        if self.options.sync_mode == SyncMode::Always
            && let Err(e) = w.wal.sync()
        {
            self.set_read_only(&e);
            return Err(e);
        }
        w.next_seq = last + 1;
        w.last_written = last;
        w.current_max_seq = last;
        let active = t.version.load().active.clone();
        for c in batch.into_internal_cells() {
            active.insert(c);
        }
        if self.options.sync_mode != SyncMode::Group {
            self.visible_seq.fetch_max(last, Ordering::AcqRel);
        }
        drop(w);
        if self.options.sync_mode == SyncMode::Group {
            self.group_sync(last)?;
        }
        Ok(WriteStats {
            rows: nrows,
            cells: ncells,
        })
    }

    /// Group commit: the first writer to arrive syncs for everyone appended before it.
    fn group_sync(&self, mine: SeqNo) -> Result<()> {
        let mut synced = self.synced.lock();
        if *synced >= mine {
            return Ok(());
        }
        let (target, syncer) = {
            let w = self.write.lock();
            (w.last_written, w.syncer.clone())
        };
        if let Err(e) = syncer.sync() {
            let e = Error::io(self.dir.join("wal"), e);
            self.set_read_only(&e);
            return Err(e);
        }
        *synced = target;
        self.visible_seq.fetch_max(target, Ordering::AcqRel);
        Ok(())
    }

    /// Start a new WAL segment (the old one is synced first unless the mode is `none`).
    fn rotate_wal(&self, w: &mut WriteState) -> Result<()> {
        if self.options.sync_mode != SyncMode::None {
            w.wal.sync()?;
        }
        let number = w.wal.number() + 1;
        let new = LogWriter::create(&self.fs, &wal_dir(&self.dir), number)?;
        let syncer = new.syncer()?;
        let old = std::mem::replace(&mut w.wal, new);
        w.syncer = syncer;
        w.old_segments.push(SegmentInfo {
            number: old.number(),
            path: old.path().to_path_buf(),
            max_seq: w.current_max_seq,
        });
        w.current_max_seq = 0;
        Ok(())
    }

    /// Freeze the active memtable, taking the write lock.
    pub(crate) fn freeze_memtable(&self, t: &Table) {
        let _w = self.write.lock();
        self.rotate_memtable(t);
    }

    /// Freeze the active memtable (caller holds the write lock).
    pub(crate) fn rotate_memtable(&self, t: &Table) {
        let _g = t.version_lock.lock();
        let v = t.version.load();
        if v.active.is_empty() {
            return;
        }
        let mut next = TableVersion::clone(&v);
        next.immutables.push(std::mem::replace(
            &mut next.active,
            Arc::new(MemTable::new()),
        ));
        t.version.store(Arc::new(next));
        drop(v);
        self.signal_flush();
    }

    pub(crate) fn signal_flush(&self) {
        let (m, cv) = &self.flush_signal;
        *m.lock() = true;
        cv.notify_all();
    }

    /// Write the manifest and adopt `next` as the committed state.
    pub(crate) fn commit_manifest(
        &self,
        current: &mut ManifestState,
        mut next: ManifestState,
    ) -> Result<()> {
        next.last_seq = next.last_seq.max(self.visible_seq.load(Ordering::Acquire));
        if let Err(e) = manifest::write_manifest(&self.fs, &self.dir, &next) {
            self.set_read_only(&e);
            return Err(e);
        }
        *current = next;
        Ok(())
    }

    /// Bytes of WAL segments on disk (closed ones still needed, plus the current one).
    fn wal_bytes(&self) -> u64 {
        // Copy the paths under the write lock; stat them after releasing it.
        let (paths, current) = {
            let w = self.write.lock();
            let paths: Vec<PathBuf> = w.old_segments.iter().map(|s| s.path.clone()).collect();
            (paths, w.wal.len())
        };
        let old: u64 = paths
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        old + current
    }

    /// fsync the SSTable directory, so new files' entries survive a power cut.
    pub(crate) fn sync_sst_dir(&self) -> Result<()> {
        let d = sst_dir(&self.dir);
        self.fs.sync_dir(&d).map_err(|e| Error::io(&d, e))
    }

    pub(crate) fn allocate_file_number(&self) -> u64 {
        let mut m = self.manifest.lock();
        let n = m.next_file_number;
        m.next_file_number += 1;
        n
    }

    /// Build options for a table's files from its current schema.
    pub(crate) fn build_options(t: &Table) -> TableBuildOptions {
        TableBuildOptions {
            families: t.schema.load().iter().map(|f| f.options.clone()).collect(),
        }
    }

    /// Flush frozen memtables of `t`, oldest first, until none is left.
    pub(crate) fn flush_immutables(&self, t: &Arc<Table>) -> Result<()> {
        let _maint = t.maintenance_lock.lock();
        loop {
            if t.dropped.load(Ordering::Acquire) {
                return Ok(());
            }
            let v = t.version.load_full();
            let Some(mem) = v.immutables.first().cloned() else {
                return Ok(());
            };
            let schema = t.schema.load_full();
            let number = self.allocate_file_number();
            let path = sst_path(&self.dir, number);
            let mut builder = TableBuilder::new(&self.fs, &path, Self::build_options(t))?;
            let mut added = 0u64;
            mem.try_for_each(|c| {
                let live = schema
                    .iter()
                    .any(|f| *f.name == *c.family && c.seq >= f.created_seq);
                if live {
                    builder.add(&c.as_ref())?;
                    added += 1;
                }
                Ok(())
            })?;
            let handle = if added == 0 {
                builder.abandon()?;
                None
            } else {
                let props = match builder.finish() {
                    Ok(p) => p,
                    Err(e) => {
                        self.set_read_only(&e);
                        let _ = self.fs.remove(&path);
                        return Err(e);
                    }
                };
                // The file's directory entry must be durable before the manifest names it.
                if let Err(e) = self.sync_sst_dir() {
                    self.set_read_only(&e);
                    return Err(e);
                }
                let reader =
                    TableReader::open_with_cache(&path, None, Some(self.block_cache.clone()))?;
                let meta = FileMeta {
                    number,
                    level: 0,
                    size: props.file_size,
                    global_seq: None,
                    smallest_row: props.smallest_row.clone(),
                    largest_row: props.largest_row.clone(),
                    min_seq: props.min_seq,
                    max_seq: props.max_seq,
                    min_ts: props.min_ts,
                    max_ts: props.max_ts,
                    rows: props.rows,
                    cells: props.cells,
                    deletes: props.deletes,
                };
                Some(Arc::new(FileHandle::new(
                    meta,
                    reader,
                    path.clone(),
                    self.fs.clone(),
                )))
            };
            let flushed_bytes = handle.as_ref().map_or(0, |h| h.meta.size);
            {
                let mut m = self.manifest.lock();
                let mut next = m.clone();
                let Some(ts) = next.tables.get_mut(&t.name) else {
                    if let Some(h) = &handle {
                        h.mark_obsolete();
                    }
                    return Ok(());
                };
                if let Some(h) = &handle {
                    ts.files.push(h.meta.clone());
                }
                ts.flushed_seq = ts.flushed_seq.max(mem.max_seq());
                if let Err(e) = self.commit_manifest(&mut m, next) {
                    if let Some(h) = &handle {
                        h.mark_obsolete();
                    }
                    return Err(e);
                }
            }
            {
                let _g = t.version_lock.lock();
                let cur = t.version.load();
                let mut next = TableVersion::clone(&cur);
                next.immutables.retain(|m| !Arc::ptr_eq(m, &mem));
                if let Some(h) = handle {
                    next.files.push(h);
                }
                t.version.store(Arc::new(next));
            }
            t.counters.flushes.fetch_add(1, Ordering::Relaxed);
            t.counters
                .flush_bytes
                .fetch_add(flushed_bytes, Ordering::Relaxed);
            tracing::info!(table = %t.name, file = number, cells = added, "memtable flushed");
            self.stall_cv.notify_all();
            self.delete_obsolete_wal();
        }
    }

    /// Remove closed WAL segments whose every record is in an SSTable.
    fn delete_obsolete_wal(&self) {
        let min_unflushed = self
            .tables
            .read()
            .values()
            .map(|t| t.version.load().min_unflushed_seq())
            .min()
            .unwrap_or(u64::MAX);
        let mut w = self.write.lock();
        let fs = self.fs.clone();
        w.old_segments.retain(|s| {
            if s.max_seq < min_unflushed {
                match fs.remove(&s.path) {
                    Ok(()) => {
                        tracing::debug!(segment = s.number, "WAL segment deleted");
                        false
                    }
                    Err(e) => {
                        tracing::warn!(path = %s.path.display(), error = %e, "could not delete WAL segment");
                        true
                    }
                }
            } else {
                true
            }
        });
    }

    fn ingest(&self, table: &str, paths: &[PathBuf], ingest_id: &str) -> Result<IngestReply> {
        self.check_writable()?;
        let t = self.table(table)?;
        let _ing = self.ingest_lock.lock();
        if !ingest_id.is_empty() {
            let m = self.manifest.lock();
            if let Some(rec) = m
                .tables
                .get(table)
                .and_then(|ts| ts.ingests.iter().find(|r| r.id == ingest_id))
            {
                return Ok(IngestReply {
                    files: rec.files,
                    cells: rec.cells,
                    bytes: rec.bytes,
                });
            }
        }
        if paths.is_empty() {
            return Err(Error::InvalidArgument("no files to ingest".into()));
        }
        let schema = t.schema.load_full();
        // Check every file before touching the store: every block's checksum and decoding,
        // files in parallel (this is most of an ingest's time).
        let checked = {
            use rayon::prelude::*;
            paths
                .par_iter()
                .map(|p| -> Result<(PathBuf, crate::sstable::TableProperties)> {
                    let reader = TableReader::open(p, None)?;
                    reader.verify_checksums()?;
                    for fp in &reader.properties().families {
                        if fp.cells > 0 && !schema.iter().any(|f| *f.options.name == *fp.name) {
                            return Err(Error::FamilyNotFound {
                                table: table.to_string(),
                                family: fp.name.to_string(),
                            });
                        }
                    }
                    Ok((p.clone(), reader.properties().clone()))
                })
                .collect::<Result<Vec<_>>>()?
        };
        // Link (or copy) into the store under new numbers.
        let mut placed: Vec<(u64, PathBuf, crate::sstable::TableProperties)> = Vec::new();
        let cleanup = |placed: &[(u64, PathBuf, crate::sstable::TableProperties)]| {
            for (_, p, _) in placed {
                let _ = self.fs.remove(p);
            }
        };
        for (src, props) in checked {
            let number = self.allocate_file_number();
            let dst = sst_path(&self.dir, number);
            let linked = self.fs.hard_link(&src, &dst);
            if linked.is_err()
                && let Err(e) = self.fs.copy_and_sync(&src, &dst)
            {
                cleanup(&placed);
                let _ = self.fs.remove(&dst);
                return Err(Error::io(&src, e));
            }
            placed.push((number, dst, props));
        }
        let sdir = sst_dir(&self.dir);
        if let Err(e) = self.fs.sync_dir(&sdir) {
            cleanup(&placed);
            return Err(Error::io(&sdir, e));
        }
        // Commit: every file gets its own sequence number, above everything written so far.
        let mut w = self.write.lock();
        if self.options.sync_mode != SyncMode::None
            && let Err(e) = w.wal.sync()
        {
            self.set_read_only(&e);
            cleanup(&placed);
            return Err(e);
        }
        let first_seq = w.next_seq;
        let mut handles = Vec::new();
        let mut reply = IngestReply::default();
        for (i, (number, path, props)) in placed.iter().enumerate() {
            let seq = first_seq + i as u64;
            let cache = Some(self.block_cache.clone());
            let reader = match TableReader::open_with_cache(path, Some(seq), cache) {
                Ok(r) => r,
                Err(e) => {
                    cleanup(&placed);
                    return Err(e);
                }
            };
            let meta = FileMeta {
                number: *number,
                level: 0,
                size: props.file_size,
                global_seq: Some(seq),
                smallest_row: props.smallest_row.clone(),
                largest_row: props.largest_row.clone(),
                min_seq: seq,
                max_seq: seq,
                min_ts: props.min_ts,
                max_ts: props.max_ts,
                rows: props.rows,
                cells: props.cells,
                deletes: props.deletes,
            };
            reply.files += 1;
            reply.cells += props.cells;
            reply.bytes += props.file_size;
            handles.push(Arc::new(FileHandle::new(
                meta,
                reader,
                path.clone(),
                self.fs.clone(),
            )));
        }
        let last_seq = first_seq + placed.len() as u64 - 1;
        {
            let mut m = self.manifest.lock();
            let mut next = m.clone();
            let Some(ts) = next.tables.get_mut(table) else {
                cleanup(&placed);
                return Err(Error::TableNotFound(table.to_string()));
            };
            ts.files.extend(handles.iter().map(|h| h.meta.clone()));
            if !ingest_id.is_empty() {
                ts.ingests.push(IngestRecord {
                    id: ingest_id.to_string(),
                    files: reply.files,
                    cells: reply.cells,
                    bytes: reply.bytes,
                });
                let excess = ts.ingests.len().saturating_sub(MAX_INGEST_RECORDS);
                ts.ingests.drain(..excess);
            }
            next.last_seq = next.last_seq.max(last_seq);
            if let Err(e) = self.commit_manifest(&mut m, next) {
                drop(handles);
                cleanup(&placed);
                return Err(e);
            }
        }
        {
            let _g = t.version_lock.lock();
            let cur = t.version.load();
            let mut next = TableVersion::clone(&cur);
            next.files.extend(handles);
            t.version.store(Arc::new(next));
        }
        w.next_seq = last_seq + 1;
        w.last_written = last_seq;
        self.visible_seq.fetch_max(last_seq, Ordering::AcqRel);
        drop(w);
        tracing::info!(
            table,
            files = reply.files,
            cells = reply.cells,
            bytes = reply.bytes,
            ingest_id,
            "files ingested"
        );
        Ok(reply)
    }
}

fn flush_thread(db: Weak<DbInner>) {
    loop {
        let Some(inner) = db.upgrade() else { return };
        if inner.closed.load(Ordering::Acquire) {
            return;
        }
        {
            let (m, cv) = &inner.flush_signal;
            let mut pending = m.lock();
            if !*pending {
                cv.wait_for(&mut pending, Duration::from_millis(200));
            }
            *pending = false;
        }
        if inner.closed.load(Ordering::Acquire) || inner.read_only.read().is_some() {
            continue;
        }
        let tables: Vec<Arc<Table>> = inner.tables.read().values().cloned().collect();
        for t in tables {
            if t.version.load().immutables.is_empty() {
                continue;
            }
            if let Err(e) = inner.flush_immutables(&t) {
                tracing::error!(table = %t.name, error = %e, "background flush failed");
                inner.set_read_only(&e);
            }
        }
        if let Err(e) = crate::compaction::maybe_compact(&inner) {
            tracing::error!(error = %e, "background compaction failed");
        }
    }
}
