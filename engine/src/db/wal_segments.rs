//! The WAL segments the store keeps, and what keeps them bounded: rotation at
//! `wal_segment_bytes`, deletion of closed segments once every record in them is in a table
//! file, rolling of the current segment as soon as that holds for it too, and the forced
//! flush of the tables holding the oldest segment once the segments pass
//! `max_total_wal_bytes` (RocksDB's `max_total_wal_size`), so an idle table cannot pin the
//! log.
//!
//! Which records a segment holds is decided from one view taken under the write lock: the
//! segment list, each table's memtables and the write being inserted into each table. This
//! file must never delete a segment from any other view.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::DbInner;
use crate::cell::SeqNo;
use crate::error::Result;
use crate::filename::wal_dir;
use crate::fs::FileSyncer;
use crate::options::SyncMode;
use crate::wal::{LogWriter, SEGMENT_HEADER_LEN};

/// A closed WAL segment still needed for recovery.
#[derive(Debug)]
pub(super) struct SegmentInfo {
    pub number: u64,
    pub path: PathBuf,
    /// Largest sequence number in it.
    pub max_seq: SeqNo,
    /// Its size in bytes.
    pub bytes: u64,
}

/// What the write lock guards.
pub(super) struct WriteState {
    pub wal: LogWriter,
    pub syncer: Arc<dyn FileSyncer>,
    pub next_seq: SeqNo,
    /// Largest sequence number appended to the WAL.
    pub last_written: SeqNo,
    /// Closed segments still needed for recovery, oldest first.
    pub old_segments: Vec<SegmentInfo>,
    /// Largest sequence number in the current segment (0 when it has none).
    pub current_max_seq: SeqNo,
}

impl WriteState {
    /// Bytes of every segment kept: the closed ones and the current one.
    pub fn total_bytes(&self) -> u64 {
        self.old_segments.iter().map(|s| s.bytes).sum::<u64>() + self.wal.len()
    }
}

impl DbInner {
    /// Start a new WAL segment (the old one is synced first unless the mode is `none`).
    pub(super) fn rotate_wal(&self, w: &mut WriteState) -> Result<()> {
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
            bytes: old.len(),
        });
        w.current_max_seq = 0;
        Ok(())
    }

    /// Sync the current WAL segment (at close), under the write lock.
    pub(super) fn sync_wal(&self) -> Result<()> {
        self.write.lock().wal.sync()
    }

    /// Bytes of WAL segments on disk (closed ones still needed, plus the current one).
    pub(super) fn wal_bytes(&self) -> u64 {
        self.write.lock().total_bytes()
    }

    /// The smallest sequence number whose record is not yet in a table file (`SeqNo::MAX`
    /// if there is none). Caller holds the write lock, so no write takes sequence numbers
    /// meanwhile; a write still being inserted counts from its first sequence number.
    fn oldest_unflushed(&self) -> SeqNo {
        self.catalog
            .tables()
            .iter()
            .map(|t| {
                // This order: a write clears its mark only after its rows are in a memtable.
                let inserting = t.inserting_from.load(Ordering::SeqCst);
                inserting.min(t.version.load().min_unflushed_seq())
            })
            .min()
            .unwrap_or(SeqNo::MAX)
    }

    /// Remove WAL segments whose every record is in a table file; the current segment too
    /// (a new one is started) when that holds for it, so after a flush the WAL holds only
    /// what the table files do not.
    ///
    /// The oldest unflushed sequence number is read under the write lock, in the same view
    /// as the segment list: read before it, a writer could append to the current segment and
    /// another rotate it into the list in between, and the segment would be deleted while its
    /// records were only in a memtable.
    pub(super) fn delete_obsolete_wal(&self) {
        #[cfg(test)]
        self.hooks.run_before_wal_gc();
        let mut w = self.write.lock();
        let min_unflushed = self.oldest_unflushed();
        if w.wal.len() > SEGMENT_HEADER_LEN as u64
            && w.current_max_seq < min_unflushed
            && let Err(e) = self.rotate_wal(&mut w)
        {
            self.catalog.health.set_read_only(&e);
            return;
        }
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

    /// The WAL passed `max_total_wal_bytes`: have the tables holding its oldest segment
    /// flushed (by the background flush thread, or here when there is none).
    pub(super) fn relieve_wal_pressure(&self) {
        if self.options.background_threads {
            self.wal_pressure.store(true, Ordering::Release);
            self.signal_flush();
        } else if let Err(e) = self.flush_wal_holders() {
            tracing::error!(error = %e, "flush forced by the WAL size failed");
        }
    }

    /// If the WAL is over `max_total_wal_bytes`, freeze and flush every table with
    /// unflushed records in its oldest segment (all of them when only the current segment is
    /// left), so the segment can go.
    ///
    /// # Errors
    ///
    /// The first flush error.
    pub(super) fn flush_wal_holders(&self) -> Result<()> {
        let oldest_max = {
            let w = self.write.lock();
            if w.total_bytes() <= self.options.max_total_wal_bytes {
                return Ok(());
            }
            w.old_segments
                .first()
                .map_or(w.current_max_seq, |s| s.max_seq)
        };
        for t in self.catalog.tables() {
            let v = t.version.load();
            let holds = t.inserting_from.load(Ordering::SeqCst) <= oldest_max
                || v.min_unflushed_seq() <= oldest_max;
            drop(v);
            if holds && !t.dropped.load(Ordering::Acquire) {
                tracing::info!(table = %t.name, "flushing: its memtable holds the oldest WAL segment");
                self.freeze_memtable(&t);
                self.flush_immutables(&t)?;
            }
        }
        Ok(())
    }
}
