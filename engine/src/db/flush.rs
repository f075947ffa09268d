//! Flush: a table's frozen memtables, oldest first, become table files (LevelDB's
//! `builder.cc`), each adopted with one manifest commit and then published in a new table
//! version; then WAL segments nobody needs any more are deleted. Also the two background
//! threads: one flushes (every table's frozen memtables, and the tables holding the oldest
//! WAL segment once the WAL is too large), the other compacts, so a flush never waits
//! behind a compaction.
//!
//! The order is what makes a crash at any point safe: the file is synced and its directory
//! entry too before the commit names it; the commit comes before the version swap, which
//! comes before WAL deletion. This file must never delete a WAL segment before the commit
//! that makes its records redundant, and never write once the store is read-only.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::{DbInner, Signal};
use crate::cell::{CellRef, SeqNo};
use crate::error::{Error, Result};
use crate::events::EventKind;
use crate::memtable::MemTable;
use crate::table::{FileRole, Table};
use crate::version::FileHandle;

/// One family-name string met in a flushed memtable, by address and length: the created
/// sequence number of the family it names and the builder's own string for it (`None`: a
/// dropped family).
type FlushFamily = (*const u8, usize, Option<(SeqNo, Arc<str>)>);

impl DbInner {
    /// Flush frozen memtables of `t`, oldest first, until none is left.
    pub(crate) fn flush_immutables(&self, t: &Arc<Table>) -> Result<()> {
        let _flush = t.flush_lock.lock();
        loop {
            if t.dropped.load(Ordering::Acquire) {
                return Ok(());
            }
            // After an I/O failure what is on disk is unknown: write nothing more (the WAL
            // still holds the memtables for the restart).
            self.catalog.health.check_writable()?;
            #[cfg(test)]
            self.hooks.run_before_flush();
            let v = t.version.load_full();
            let Some(mem) = v.immutables.first().cloned() else {
                return Ok(());
            };
            let started = Instant::now();
            let (number, added, handle) = match self.write_flush_file(t, &mem) {
                Ok(written) => written,
                Err(e) => {
                    // A table file that cannot be written or synced: the device is failing.
                    if matches!(e, Error::Io { .. }) {
                        self.catalog.health.set_read_only(&e);
                    }
                    return Err(e);
                }
            };
            let flushed_bytes = handle.as_ref().map_or(0, |h| h.meta.size);
            let new_files: Vec<_> = handle.iter().cloned().collect();
            let committed = self.catalog.commit_table(&t.name, &new_files, |ts| {
                if let Some(h) = &handle {
                    ts.files.push(h.meta.clone());
                }
                ts.flushed_seq = ts.flushed_seq.max(mem.max_seq());
                Ok(())
            })?;
            if committed.is_none() {
                return Ok(()); // dropped meanwhile; the file was released
            }
            t.install(|next| {
                next.immutables.retain(|m| !Arc::ptr_eq(m, &mem));
                if let Some(h) = handle {
                    next.files.push(h);
                }
            });
            t.counters.flushes.fetch_add(1, Ordering::Relaxed);
            t.counters
                .flush_bytes
                .fetch_add(flushed_bytes, Ordering::Relaxed);
            t.events.record(
                EventKind::Flush,
                started,
                (0, mem.approximate_bytes() as u64),
                (u64::from(flushed_bytes > 0), flushed_bytes),
            );
            tracing::info!(table = %t.name, file = number, cells = added, "memtable flushed");
            t.room.notify_all();
            self.delete_obsolete_wal();
            self.signal_compaction();
        }
    }

    /// Write `mem`'s live entries to a new table file of `t`, synced with its directory
    /// entry, and open it: (file number, entries, handle); no handle when nothing was live
    /// (every entry belongs to a dropped family). A partial file is removed.
    ///
    /// # Errors
    ///
    /// The error of creating, writing, syncing or opening the file.
    fn write_flush_file(
        &self,
        t: &Table,
        mem: &MemTable,
    ) -> Result<(u64, u64, Option<Arc<FileHandle>>)> {
        let schema = t.schema.load_full();
        let mut file = self.catalog.new_file(t, FileRole::Flush)?;
        let number = file.number;
        let mut added = 0u64;
        // The cells of one family share one string for its name (the schema's, or an
        // older schema's): each distinct string is looked up once, by address, for the
        // family it names (none: dropped) and the builder's own string for it, which
        // `add` then finds by address too. Per cell that is a few pointer comparisons
        // instead of name comparisons against the schema and in the builder.
        let mut names: Vec<FlushFamily> = Vec::new();
        let filled = mem.try_for_each(|c| {
            let at = (c.family.as_ptr(), c.family.len());
            let i = match names.iter().position(|n| (n.0, n.1) == at) {
                Some(i) => i,
                None => {
                    let found = schema.iter().find(|f| *f.name == *c.family).map(|f| {
                        let own = file.builder.family_name(&f.name);
                        (f.created_seq, own.unwrap_or_else(|| f.name.clone()))
                    });
                    names.push((at.0, at.1, found));
                    names.len() - 1
                }
            };
            if let Some((_, _, Some((created_seq, own)))) = names.get(i)
                && c.seq >= *created_seq
            {
                file.builder.add(&CellRef { family: own, ..*c })?;
                added += 1;
            }
            Ok(())
        });
        if let Err(e) = filled {
            let _ = file.builder.abandon();
            return Err(e);
        }
        if added == 0 {
            file.builder.abandon()?;
            return Ok((number, 0, None));
        }
        let props = match file.builder.finish() {
            Ok(p) => p,
            Err(e) => {
                let _ = self.catalog.fs.remove(&file.path);
                return Err(e);
            }
        };
        // The file's directory entry must be durable before the manifest names it.
        self.catalog.sync_sst_dir()?;
        let handle = self.catalog.open_new_file(number, 0, None, &props)?;
        Ok((number, added, Some(handle)))
    }

    /// Wake the flush thread.
    pub(super) fn signal_flush(&self) {
        self.flush_signal.raise();
    }

    /// Wake the compaction thread.
    pub(super) fn signal_compaction(&self) {
        self.compaction_signal.raise();
    }

    /// Start the flush and compaction threads.
    ///
    /// # Errors
    ///
    /// A thread could not be started.
    pub(super) fn start_background_threads(self: &Arc<Self>) -> Result<()> {
        type Body = fn(&DbInner);
        let threads: [(&str, &Arc<Signal>, Body); 2] = [
            ("strata-flush", &self.flush_signal, flush_round),
            ("strata-compact", &self.compaction_signal, compaction_round),
        ];
        for (name, signal, body) in threads {
            let (weak, signal) = (Arc::downgrade(self), signal.clone());
            let h = std::thread::Builder::new()
                .name(name.into())
                .spawn(move || background_loop(&weak, &signal, body))
                .map_err(|e| Error::io(name, e))?;
            self.bg.lock().push(h);
        }
        self.signal_flush();
        self.signal_compaction();
        Ok(())
    }
}

/// How often the background threads look for work when nobody signals them.
const IDLE_POLL: Duration = Duration::from_millis(200);

/// A background thread: wait for `signal` (or 200 ms) holding no reference to the store, so
/// dropping the last handle closes it; then run one `round` unless the store is read-only.
/// Ends when the store is closed or gone.
fn background_loop(db: &Weak<DbInner>, signal: &Signal, round: fn(&DbInner)) {
    loop {
        signal.wait(IDLE_POLL);
        let Some(inner) = db.upgrade() else { return };
        if inner.closed.load(Ordering::Acquire) {
            return;
        }
        if !inner.catalog.health.is_read_only() {
            round(&inner);
        }
    }
}

/// One round of the flush thread: flush every table with frozen memtables, then, if the WAL
/// is over `max_total_wal_bytes`, the tables holding its oldest segment.
fn flush_round(inner: &DbInner) {
    for t in inner.catalog.tables() {
        if t.version.load().immutables.is_empty() {
            continue;
        }
        if let Err(e) = inner.flush_immutables(&t) {
            report_flush_failure(inner, &t.name, &e);
        }
    }
    if inner.wal_pressure.swap(false, Ordering::AcqRel)
        && let Err(e) = inner.flush_wal_holders()
    {
        report_flush_failure(inner, "(WAL holders)", &e);
    }
}

/// A background flush failed. An I/O failure makes the store read-only (the flush already
/// reported it if it was the file's or the commit's); anything else is only logged.
fn report_flush_failure(inner: &DbInner, table: &str, e: &Error) {
    tracing::error!(table, error = %e, "background flush failed");
    if matches!(e, Error::Io { .. }) {
        inner.catalog.health.set_read_only(e);
    }
}

/// One round of the compaction thread: run the compactions the picker asks for, then wake
/// writers stalled on their tables' read amplification.
fn compaction_round(inner: &DbInner) {
    #[cfg(test)]
    inner.hooks.run_before_compaction();
    if let Err(e) = crate::compaction::maybe_compact(&inner.catalog) {
        tracing::error!(error = %e, "background compaction failed");
    }
    for t in inner.catalog.tables() {
        t.room.notify_all();
    }
}
