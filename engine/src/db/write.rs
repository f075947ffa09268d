//! The write path: validation (mutations expanded into cells, see `mutation.rs`),
//! back-pressure, sequencing, WAL append, group commit, and the rotation of WAL segments and
//! memtables. Also deletes WAL segments once every record in them is in a table file.
//!
//! Encoding happens outside the write lock; under it a write only waits for room, takes its
//! sequence numbers, appends one WAL record and inserts into the memtable. This file must
//! never write the manifest or a table file.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::DbInner;
use crate::cell::SeqNo;
use crate::error::{Error, Result};
use crate::filename::wal_dir;
use crate::fs::FileSyncer;
use crate::memtable::MemTable;
use crate::mutation::{RowMutation, WriteStats};
use crate::options::SyncMode;
use crate::table::Table;
use crate::wal::LogWriter;
use crate::write_batch::WriteBatch;

/// Writes are slowed by a millisecond each once a table's files form this many sorted runs
/// (overlap depth, what a read merges: `TableVersion::sorted_runs`; disjoint files are one
/// run however many they are, so time-ordered keys never stall, review M1)...
const SLOWDOWN_RUNS: usize = 40;
/// ...and stall until compaction catches up at this many.
const STALL_RUNS: usize = 64;

/// Whether `v`'s files form at least `runs` sorted runs (counted only when there are that
/// many files: the count is at most the number of files).
fn runs_at_least(v: &crate::version::TableVersion, runs: usize) -> bool {
    v.files.len() >= runs && v.sorted_runs() >= runs
}

/// A closed WAL segment still needed for recovery.
#[derive(Debug)]
pub(super) struct SegmentInfo {
    pub number: u64,
    pub path: PathBuf,
    /// Largest sequence number in it.
    pub max_seq: SeqNo,
}

/// What the write lock guards.
pub(super) struct WriteState {
    pub wal: LogWriter,
    pub syncer: Arc<dyn FileSyncer>,
    pub next_seq: SeqNo,
    /// Largest sequence number appended to the WAL (and inserted into a memtable).
    pub last_written: SeqNo,
    /// Closed segments still needed for recovery.
    pub old_segments: Vec<SegmentInfo>,
    pub current_max_seq: SeqNo,
}

impl DbInner {
    /// Validate, sequence, log and apply `rows` (see `Db::mutate_rows`).
    pub(super) fn write_rows(&self, table: &str, rows: Vec<RowMutation>) -> Result<WriteStats> {
        let t = self.catalog.table(table)?;
        let schema = t.schema.load_full();
        let now = crate::cell::now_micros();
        let nrows = rows.len() as u64;
        let mut expanded = Vec::with_capacity(rows.len());
        for rm in rows {
            expanded.push(rm.expand(table, &schema, &self.options.limits, now)?);
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
                || runs_at_least(&v, SLOWDOWN_RUNS)
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
            let too_many_files = self.options.background_threads && runs_at_least(&v, STALL_RUNS);
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
                self.catalog
                    .health
                    .wake_writers
                    .wait_for(&mut w, Duration::from_millis(100));
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
            self.catalog.health.set_read_only(&e);
            return Err(e);
        }
        t.counters
            .user_bytes
            .fetch_add(buf.len() as u64, Ordering::Relaxed);
        let appended = w.wal.append(buf);
        if let Err(e) = appended {
            self.catalog.health.set_read_only(&e);
            return Err(e);
        }
        if self.options.sync_mode == SyncMode::Always
            && let Err(e) = w.wal.sync()
        {
            self.catalog.health.set_read_only(&e);
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
            self.catalog.visible_seq.fetch_max(last, Ordering::AcqRel);
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
            let e = Error::io(wal_dir(&self.catalog.dir), e);
            self.catalog.health.set_read_only(&e);
            return Err(e);
        }
        *synced = target;
        self.catalog.visible_seq.fetch_max(target, Ordering::AcqRel);
        Ok(())
    }

    /// Start a new WAL segment (the old one is synced first unless the mode is `none`).
    fn rotate_wal(&self, w: &mut WriteState) -> Result<()> {
        if self.options.sync_mode != SyncMode::None {
            w.wal.sync()?;
        }
        let number = w.wal.number() + 1;
        let new = LogWriter::create(&self.catalog.fs, &wal_dir(&self.catalog.dir), number)?;
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

    /// Sync the current WAL segment (at close), under the write lock.
    pub(super) fn sync_wal(&self) -> Result<()> {
        self.write.lock().wal.sync()
    }

    /// Freeze the active memtable, taking the write lock.
    pub(crate) fn freeze_memtable(&self, t: &Table) {
        let _w = self.write.lock();
        self.rotate_memtable(t);
    }

    /// Freeze the active memtable (caller holds the write lock).
    pub(super) fn rotate_memtable(&self, t: &Table) {
        let rotated = t.install(|v| {
            if v.active.is_empty() {
                return false;
            }
            let frozen = std::mem::replace(&mut v.active, Arc::new(MemTable::new()));
            v.immutables.push(frozen);
            true
        });
        if rotated {
            self.signal_flush();
        }
    }

    /// Wake the background thread.
    pub(super) fn signal_flush(&self) {
        let (m, cv) = &self.flush_signal;
        *m.lock() = true;
        cv.notify_all();
    }

    /// Bytes of WAL segments on disk (closed ones still needed, plus the current one).
    pub(super) fn wal_bytes(&self) -> u64 {
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

    /// Remove closed WAL segments whose every record is in a table file.
    pub(super) fn delete_obsolete_wal(&self) {
        let min_unflushed = self
            .catalog
            .tables()
            .iter()
            .map(|t| t.version.load().min_unflushed_seq())
            .min()
            .unwrap_or(u64::MAX);
        let mut w = self.write.lock();
        let fs = self.catalog.fs.clone();
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
}
