//! `Db`: the engine's front door (LevelDB's `DBImpl`). Every public method is short: it
//! checks the store's state and hands over to the file that owns the work:
//!
//! - `open.rs`: recovery (manifest, leftover files, WAL replay) and the background threads;
//! - `write.rs`: sizing, validation, back-pressure, sequencing, WAL append, memtable insert,
//!   group commit and what reads see;
//! - `wal_segments.rs`: the WAL segments kept, rotated, rolled and deleted, and the flushes
//!   forced by their total size;
//! - `flush.rs`: frozen memtables to table files, and the background flush and compaction
//!   threads;
//! - `ingest.rs`: adoption of table files built elsewhere;
//! - `ddl.rs`: create, drop and alter tables;
//! - `read_modify_write.rs`: check-and-mutate, increment and append, serialized per row by
//!   the table's row locks.
//!
//! The catalog (`crate::catalog`) owns the manifest, the tables and their versions; reads
//! are shaped by `crate::read` and `crate::scan`; compaction lives in `crate::compaction`.
//!
//! # Lock order
//!
//! A thread holding one of these locks only ever takes locks further down the list:
//!
//! 0. `Table::row_locks` (one stripe, held by a read-modify-write across its read and its
//!    whole write, group-commit fsync included; never two stripes at once);
//! 1. `Table::compaction_lock` (one table's compactions; held for a whole compaction, whose
//!    major form first freezes and flushes the memtables);
//! 2. `Table::writer` (one table's writers and memtable rotations; a writer holds it from
//!    its wait for room through its memtable inserts, not across the group-commit fsync;
//!    never two tables' at once);
//! 3. `Table::flush_lock` (one table's flushes; held for a whole flush, which at its end
//!    takes the write lock to delete WAL segments);
//! 4. `DbInner::ingests_in_flight` (the ingest ids being ingested; held only to look an id
//!    up and claim it, never while files are opened);
//! 5. `DbInner::synced` (the group-commit leader; takes the write lock briefly);
//! 6. `DbInner::write` (the WAL writer and sequence numbers; a writer holds it only to take
//!    its sequence numbers and append its record);
//! 7. the catalog's manifest state (every commit and file-number allocation);
//! 8. the catalog's table map (written only under the manifest lock or alone);
//! 9. `Table`'s version lock (taken only inside `Table::install`).
//!
//! Leaf locks, under which nothing else is taken: the read-only flag in `Health`, the flush
//! and compaction signals, the background thread list, the block cache's shards, the WAL
//! writer's failure flag and the write path's pool of encode buffers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::catalog::Catalog;
use crate::cell::SeqNo;
use crate::data_version::DataVersion;
use crate::error::{Error, Result};
use crate::fs::Fs;
use crate::lock::DirLock;
use crate::mutation::{RowMutation, WriteStats};
use crate::options::{DbOptions, FamilyOptions};
use crate::read::ReadPlan;
use crate::row::{ReadOptions, Row, ScanOptions};
use crate::scan::RowScanner;
use crate::snapshots::Snapshot;
use crate::stats::{StoreStats, TableDescription};
use crate::table::Table;

mod ddl;
mod flush;
mod ingest;
mod ingest_source;
mod open;
mod read_modify_write;
#[cfg(any(test, feature = "testing"))]
mod testing;
#[cfg(test)]
mod tests;
mod wal_segments;
mod write;

pub use ddl::AlterTable;
pub use ingest::IngestReply;
pub use write::WriteOptions;

/// The store's state behind every clone of a [`Db`].
pub(crate) struct DbInner {
    pub catalog: Catalog,
    pub options: DbOptions,
    _lock: DirLock,
    write: Mutex<wal_segments::WriteState>,
    /// Largest sequence number known durable per the sync mode (the group-commit lock).
    synced: Mutex<SeqNo>,
    /// Buffers the write path encodes its WAL records in, kept between calls.
    encode_buffers: write::EncodeBuffers,
    /// The threads a large call's WAL fsync runs on beside its insert.
    sync_helpers: write::SyncHelpers,
    closed: AtomicBool,
    /// Wakes the flush thread (shared with it: it waits without keeping the store alive).
    flush_signal: Arc<Signal>,
    /// Wakes the compaction thread (likewise).
    compaction_signal: Arc<Signal>,
    /// The WAL passed `max_total_wal_bytes`: the flush thread flushes its oldest holders.
    wal_pressure: AtomicBool,
    /// Where bulk ingest may take files from.
    ingest_dirs: ingest_source::IngestDirs,
    ingests_in_flight: ingest::IngestsInFlight,
    /// Test seam: run once where a call has looked its table up and not yet committed, to
    /// race a drop and re-create against it.
    #[cfg(test)]
    race: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    bg: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// Test seams that pause the engine at a chosen point.
    #[cfg(test)]
    hooks: tests::Hooks,
}

impl std::fmt::Debug for DbInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("dir", &self.catalog.dir)
            .finish()
    }
}

/// An open store. Cheap to clone; every clone is the same store.
#[derive(Clone, Debug)]
pub struct Db {
    inner: Arc<DbInner>,
    /// Shared by the clones only (never by the background threads): dropped with the last
    /// clone, it stops the background threads, so the store (and its directory lock) is
    /// gone when the last clone's drop returns.
    _last: Arc<LastHandle>,
}

/// Stops the store's background threads when the last [`Db`] clone is dropped without
/// [`Db::close`]. A background thread holds the store only while it runs a round; were it
/// left running, the store would outlive its last handle by that round, and a reopen of the
/// directory right after the drop would find it still locked.
#[derive(Debug)]
struct LastHandle(Arc<DbInner>);

impl Drop for LastHandle {
    fn drop(&mut self) {
        self.0.stop_background_threads();
    }
}

impl Db {
    /// Open (or create) the store in `dir`: recover the committed manifest, remove table
    /// files it does not list, replay the WAL into memtables, and start the background flush
    /// and compaction thread (unless `options.background_threads` is off). The directory is
    /// locked against other processes until the last clone is dropped.
    ///
    /// # Errors
    ///
    /// [`Error::Locked`] if another process holds the directory; [`Error::Corruption`] for a
    /// damaged manifest, table file or WAL (a torn WAL tail is cut off, not an error); I/O
    /// errors naming the file.
    pub fn open(dir: impl AsRef<Path>, options: DbOptions) -> Result<Db> {
        Self::open_with_fs(dir, options, crate::fs::real())
    }

    /// [`Db::open`] through the given file layer (tests inject faults through it).
    ///
    /// # Errors
    ///
    /// As [`Db::open`].
    pub fn open_with_fs(dir: impl AsRef<Path>, options: DbOptions, fs: Arc<dyn Fs>) -> Result<Db> {
        let inner = open::open(dir.as_ref(), options, fs)?;
        Ok(Db {
            _last: Arc::new(LastHandle(inner.clone())),
            inner,
        })
    }

    /// The directory of the store.
    pub fn dir(&self) -> &Path {
        &self.inner.catalog.dir
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &DbOptions {
        &self.inner.options
    }

    /// The directories [`Db::ingest`] takes files from (absolute and canonical; created at
    /// open): `options.ingest_dirs`, or `ingest/` inside the store's directory. The first is
    /// where loaders should stage their files.
    pub fn ingest_dirs(&self) -> Vec<PathBuf> {
        self.inner.ingest_dirs.canonical()
    }

    /// Create table `table` with `families` (at least one, each named once; zero options take
    /// their defaults). Durable when this returns.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a bad table or family name, bad family options, no
    /// family or a family listed twice; [`Error::AlreadyExists`] if the table exists;
    /// [`Error::ReadOnly`] / [`Error::Closed`]; the I/O error of the manifest commit.
    pub fn create_table(&self, table: &str, families: Vec<FamilyOptions>) -> Result<()> {
        self.inner.check_writable()?;
        self.inner.create_table(table, families)
    }

    /// Delete table `table` and all its data (RPC `DeleteTable`, CLI `strata drop`). Waits
    /// for the table's running flush and compaction; its files go once no reader holds them.
    ///
    /// # Errors
    ///
    /// [`Error::TableNotFound`]; [`Error::ReadOnly`] / [`Error::Closed`]; the I/O error of
    /// the manifest commit.
    pub fn drop_table(&self, table: &str) -> Result<()> {
        self.inner.check_writable()?;
        self.inner.drop_table(table)
    }

    /// Disable `table` (HBase's `disableTable`): from now on its reads and writes (gets,
    /// scans, writes, ingest, read-modify-write) fail with [`Error::TableDisabled`], until
    /// [`Db::enable_table`]. The state is kept in the manifest, so it survives a restart.
    /// Flushes and compactions still run on a disabled table (its WAL must not grow
    /// unbounded, and compaction changes no read); dropping it, describing it and altering
    /// it work too. Disabling a disabled table changes nothing.
    ///
    /// # Errors
    ///
    /// [`Error::TableNotFound`]; [`Error::ReadOnly`] / [`Error::Closed`]; the I/O error of
    /// the manifest commit.
    pub fn disable_table(&self, table: &str) -> Result<()> {
        self.inner.check_writable()?;
        self.inner.set_enabled(table, false)
    }

    /// Enable `table` again (see [`Db::disable_table`]); enabling an enabled table changes
    /// nothing.
    ///
    /// # Errors
    ///
    /// As [`Db::disable_table`].
    pub fn enable_table(&self, table: &str) -> Result<()> {
        self.inner.check_writable()?;
        self.inner.set_enabled(table, true)
    }

    /// Whether `table` is enabled.
    ///
    /// # Errors
    ///
    /// [`Error::TableNotFound`]; [`Error::Closed`].
    pub fn is_table_enabled(&self, table: &str) -> Result<bool> {
        self.inner.check_open()?;
        let t = self.inner.catalog.table_even_if_damaged(table)?;
        Ok(!t.disabled.load(Ordering::Acquire))
    }

    /// Add, drop or change `table`'s families (drops first, then changes, then additions).
    /// A dropped family's data goes with it. When a change narrows what is kept (fewer
    /// versions, a shorter TTL), the table is compacted before this returns.
    ///
    /// # Errors
    ///
    /// [`Error::TableNotFound`] / [`Error::FamilyNotFound`]; [`Error::AlreadyExists`] for an
    /// added family that exists; [`Error::InvalidArgument`] for bad options or dropping every
    /// family; [`Error::ReadOnly`] / [`Error::Closed`]; I/O errors of the commit or the
    /// compaction.
    pub fn alter_table(&self, table: &str, alter: AlterTable) -> Result<()> {
        self.inner.check_writable()?;
        self.inner.alter_table(table, alter)
    }

    /// Table names, sorted.
    pub fn list_tables(&self) -> Vec<String> {
        self.inner.catalog.table_names()
    }

    /// `table`'s families and storage statistics.
    ///
    /// # Errors
    ///
    /// [`Error::TableNotFound`].
    pub fn describe_table(&self, table: &str) -> Result<TableDescription> {
        let t = self.inner.catalog.table(table)?;
        let wal_bytes = self.inner.wal_bytes();
        Ok(crate::stats::describe(
            &t,
            &self.inner.catalog.block_cache,
            wal_bytes,
        ))
    }

    /// The store's figures since open (cells written, bytes flushed and compacted, block
    /// cache hits and misses, open scans, WAL bytes), for metrics.
    pub fn store_stats(&self) -> StoreStats {
        let c = &self.inner.catalog;
        crate::stats::store(
            &c.tables(),
            &c.block_cache,
            c.snapshots.len() as u64,
            self.inner.wal_bytes(),
        )
    }

    /// A stamp of what a read of `table` sees now (see [`DataVersion`]): equal stamps mean
    /// equal data, so a result computed from the table may be kept under its stamp. `None`
    /// when no stamp can be given now: a write to the table is applied but not yet visible,
    /// the table changed while the stamp was taken, or a family has a TTL (then what a read
    /// sees changes with the clock alone).
    ///
    /// # Errors
    ///
    /// [`Error::TableNotFound`]; [`Error::TableDisabled`]; [`Error::Closed`].
    pub fn data_version(&self, table: &str) -> Result<Option<DataVersion>> {
        let inner = &self.inner;
        inner.check_open()?;
        // A stamp stands for a read: a disabled table gives none (a result cached under an
        // earlier stamp must not answer for it either).
        let t = inner.catalog.enabled_table(table)?;
        if t.schema.load().iter().any(|f| f.options.ttl_seconds > 0) {
            return Ok(None);
        }
        let before = t.generation();
        let newest = t.version.load().active.max_seq();
        let visible = inner.snapshot(&t);
        // Every write up to `newest` is visible (a read's snapshot stops below a write still
        // being inserted), and no install or schema change came in between: the stamp names
        // one state.
        let stable = newest <= visible && t.generation() == before;
        Ok(stable.then(|| DataVersion::new(before, newest)))
    }

    /// Apply one row mutation atomically; durable (per the sync mode) when this returns.
    ///
    /// # Errors
    ///
    /// As [`Db::mutate_rows`].
    pub fn mutate_row(&self, table: &str, m: RowMutation) -> Result<WriteStats> {
        self.mutate_rows(table, vec![m])
    }

    /// Apply many row mutations: all are validated before any is applied; each row is
    /// atomic (the whole call is one WAL record); durable when this returns.
    ///
    /// # Errors
    ///
    /// As [`Db::mutate_rows_with`].
    pub fn mutate_rows(&self, table: &str, rows: Vec<RowMutation>) -> Result<WriteStats> {
        self.mutate_rows_with(table, rows, &WriteOptions::default())
    }

    /// [`Db::mutate_rows`], which the caller may abandon while it waits for room
    /// (`opts.abandoned`): an abandoned write is never applied.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] naming the bad row key, qualifier, value, timestamp or the
    /// limit passed (`max_cells_per_call`, `max_bytes_per_call`, `max_cells_per_row`...);
    /// [`Error::TableNotFound`] / [`Error::FamilyNotFound`]; [`Error::Stalled`] when no room
    /// was made within `write_stall_timeout`; [`Error::Cancelled`] when abandoned;
    /// [`Error::ReadOnly`] after an I/O failure (this write's own failure included) /
    /// [`Error::Closed`]. None of these but a failure of this write's own WAL append or sync
    /// leaves anything of it applied (and that one makes the store read-only).
    pub fn mutate_rows_with(
        &self,
        table: &str,
        rows: Vec<RowMutation>,
        opts: &WriteOptions,
    ) -> Result<WriteStats> {
        self.inner.check_writable()?;
        self.inner.write_rows(table, rows, opts)
    }

    /// Read one row as of now: `None` when it has no visible cell in the selection.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for an empty or oversized key; [`Error::TableNotFound`] /
    /// [`Error::FamilyNotFound`]; [`Error::Corruption`] of a file read; [`Error::Closed`].
    pub fn get(&self, table: &str, row: &[u8], opts: &ReadOptions) -> Result<Option<Row>> {
        let inner = &self.inner;
        inner.check_open()?;
        inner.options.limits.check_row_key(row)?;
        let t = inner.catalog.enabled_table(table)?;
        let plan = ReadPlan::new(table, &t.schema.load(), opts, crate::cell::now_micros())?;
        // The version and the snapshot from one moment (see `DbInner::read_view`). Guards,
        // not clones: no shared reference count to bump on every get.
        let (version, snapshot) = inner.read_view(&t);
        let cells = version.get_row(row, &plan.family_names(), snapshot)?;
        let visible = plan.resolve_row(&cells);
        Ok((!visible.is_empty()).then(|| Row {
            key: row.to_vec(),
            cells: visible,
        }))
    }

    /// [`Db::get`] if it can be answered without reading a table file (from the memtables
    /// and blocks already in the block cache); `None` if it would have to read one. For a
    /// caller on an async executor: answer from memory there, and run [`Db::get`] on a
    /// blocking thread only when this says `None`. Without a block cache
    /// (`block_cache_bytes = 0`) it is always `None`.
    ///
    /// # Errors
    ///
    /// As [`Db::get`].
    pub fn get_cached(
        &self,
        table: &str,
        row: &[u8],
        opts: &ReadOptions,
    ) -> Result<Option<Option<Row>>> {
        // Without a cache, table files read their blocks directly: nothing to try.
        if self.inner.catalog.block_cache.capacity() == 0 {
            return Ok(None);
        }
        match crate::cache::cache_only(|| self.get(table, row, opts)) {
            Ok(found) => Ok(Some(found)),
            Err(Error::NotCached) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Scan rows in key order from one consistent snapshot (taken now). The scanner re-opens
    /// on newer versions of the table as it goes (so a long scan does not pin old memtables
    /// and files), always at that snapshot.
    ///
    /// # Errors
    ///
    /// [`Error::TableNotFound`] / [`Error::FamilyNotFound`]; [`Error::Corruption`] of a file
    /// opened for the scan; [`Error::Closed`]. Errors met later come from the scanner.
    pub fn scan(&self, table: &str, opts: ScanOptions) -> Result<RowScanner> {
        let inner = &self.inner;
        inner.check_open()?;
        let t = inner.catalog.enabled_table(table)?;
        let plan = ReadPlan::new(
            table,
            &t.schema.load(),
            &opts.read,
            crate::cell::now_micros(),
        )?;
        // The snapshot is registered before any version is loaded: a compaction that starts
        // later keeps what it sees (its horizon is at most this snapshot), one that started
        // earlier never applied anything above what was visible then (see `get`). It stops
        // below a write still being inserted into the table (`DbInner::snapshot`); a version
        // loaded after it holds every memtable of the writes it counts.
        let snapshot = inner.catalog.snapshots.take_at(|| inner.snapshot(&t));
        RowScanner::new(t, plan, snapshot, &opts)
    }

    /// A table and a snapshot registered the way [`Db::scan`] registers its own, for a read
    /// that opens its sources itself (the aggregation's counting pass): load the table's
    /// version after this returns, and every write the snapshot counts is in it.
    pub(crate) fn read_snapshot(&self, table: &str) -> Result<(Arc<Table>, Snapshot)> {
        let inner = &self.inner;
        inner.check_open()?;
        let t = inner.catalog.enabled_table(table)?;
        let snapshot = inner.catalog.snapshots.take_at(|| inner.snapshot(&t));
        Ok((t, snapshot))
    }

    /// Flush `table`'s memtables to table files and wait for it. Nothing is written once the
    /// store is read-only (the WAL keeps the data for the restart).
    ///
    /// # Errors
    ///
    /// [`Error::TableNotFound`]; [`Error::ReadOnly`] / [`Error::Closed`]; the I/O error of
    /// writing a file or the manifest (which also makes the store read-only).
    pub fn flush(&self, table: &str) -> Result<()> {
        let inner = &self.inner;
        inner.check_writable()?;
        let t = inner.catalog.table(table)?;
        inner.freeze_memtable(&t);
        inner.flush_immutables(&t)
    }

    /// Compact `table` now (`major`: flush, then merge every file into one sorted run).
    ///
    /// # Errors
    ///
    /// [`Error::TableNotFound`]; [`Error::ReadOnly`] / [`Error::Closed`]; the error of
    /// reading an input, writing an output or committing the result.
    pub fn compact(&self, table: &str, major: bool) -> Result<()> {
        let inner = &self.inner;
        inner.check_writable()?;
        let t = inner.catalog.table(table)?;
        inner.compact_table(&t, major)
    }

    /// Adopt table files written by the loader, atomically. Only regular files under
    /// [`Db::ingest_dirs`] are taken, never through a symbolic link; on the store's
    /// filesystem they are moved into it (their names in the ingest directory are gone
    /// afterwards), others are copied; either way the store's file is fsynced and checked
    /// before it is adopted. Repeating an `ingest_id` (at most 256 bytes) returns the first
    /// reply and adopts nothing, whatever the paths. When the ingest fails, moved files are
    /// put back.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for no file, too many, an id over 256 bytes, a relative
    /// path, something that is not a regular file, or a file that is not a valid table file;
    /// [`Error::PermissionDenied`] for a path outside the ingest directories or through a
    /// link; [`Error::FileNotFound`]; [`Error::TableNotFound`]; [`Error::FamilyNotFound`] for
    /// cells of a family the table lacks; [`Error::TableUnavailable`];
    /// [`Error::ReadOnly`] / [`Error::Closed`]; I/O errors naming the file.
    pub fn ingest(&self, table: &str, paths: &[PathBuf], ingest_id: &str) -> Result<IngestReply> {
        self.inner.check_writable()?;
        self.inner.ingest(table, paths, ingest_id)
    }

    /// Flush every table, sync the WAL, stop background threads. Later calls fail with
    /// `Error::Closed`; the directory lock is released when the last clone is dropped.
    ///
    /// # Errors
    ///
    /// The first error of the flushes or the WAL sync (the store is closed anyway).
    pub fn close(&self) -> Result<()> {
        self.inner.close()
    }

    /// Whether the store refuses writes after an I/O failure, and why.
    pub fn read_only_reason(&self) -> Option<String> {
        self.inner.catalog.health.read_only_reason()
    }
}

/// A wake-up for a background thread: a flag and its condition variable.
#[derive(Default)]
pub(crate) struct Signal {
    pending: Mutex<bool>,
    cv: Condvar,
}

impl Signal {
    /// Wake the thread (now, or at its next wait).
    fn raise(&self) {
        *self.pending.lock() = true;
        self.cv.notify_all();
    }

    /// Wait until raised or `timeout` passes; lower the flag.
    fn wait(&self, timeout: Duration) {
        let mut pending = self.pending.lock();
        if !*pending {
            self.cv.wait_for(&mut pending, timeout);
        }
        *pending = false;
    }
}

impl Drop for DbInner {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Release);
    }
}

impl DbInner {
    /// Run the test seam [`DbInner::race`] if one is set (nothing outside tests).
    #[cfg(test)]
    fn race_point(&self) {
        let f = self.race.lock().take();
        if let Some(f) = f {
            f();
        }
    }

    #[cfg(not(test))]
    fn race_point(&self) {}

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    pub(crate) fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        self.catalog.health.check_writable()
    }

    /// Compact `t` (see [`crate::compaction::compact_table`]); a major compaction first
    /// flushes its memtables.
    fn compact_table(&self, t: &Arc<crate::table::Table>, major: bool) -> Result<()> {
        crate::compaction::compact_table(&self.catalog, t, major, || {
            self.freeze_memtable(t);
            self.flush_immutables(t)
        })
    }

    fn close(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut first_err = None;
        if !self.catalog.health.is_read_only() {
            for t in self.catalog.tables() {
                self.freeze_memtable(&t);
                if let Err(e) = self.flush_immutables(&t) {
                    first_err.get_or_insert(e);
                }
            }
            if let Err(e) = self.sync_wal() {
                first_err.get_or_insert(e);
            }
        }
        self.stop_background_threads();
        tracing::info!(dir = %self.catalog.dir.display(), "store closed");
        first_err.map_or(Ok(()), Err)
    }

    /// Mark the store closed, wake the background threads and wait for them to end (a round
    /// already running is finished first). A background thread that drops the last handle
    /// itself (one held by its round) does not wait for itself: it ends after the round.
    fn stop_background_threads(&self) {
        self.closed.store(true, Ordering::Release);
        self.signal_flush();
        self.signal_compaction();
        let handles: Vec<_> = self.bg.lock().drain(..).collect();
        let me = std::thread::current().id();
        for h in handles {
            if h.thread().id() != me {
                let _ = h.join();
            }
        }
    }
}
