//! Flush: a table's frozen memtables, oldest first, become table files (LevelDB's
//! `builder.cc`), each adopted with one manifest commit and then published in a new table
//! version; then WAL segments nobody needs any more are deleted. Also the background loop
//! that flushes every table and runs compactions.
//!
//! The order is what makes a crash at any point safe: the file is synced and its directory
//! entry too before the commit names it; the commit comes before the version swap, which
//! comes before WAL deletion. This file must never delete a WAL segment before the commit
//! that makes its records redundant.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::DbInner;
use crate::error::Result;
use crate::table::Table;

impl DbInner {
    /// Flush frozen memtables of `t`, oldest first, until none is left.
    pub(crate) fn flush_immutables(&self, t: &Arc<Table>) -> Result<()> {
        let _flush = t.flush_lock.lock();
        loop {
            if t.dropped.load(Ordering::Acquire) {
                return Ok(());
            }
            let v = t.version.load_full();
            let Some(mem) = v.immutables.first().cloned() else {
                return Ok(());
            };
            let schema = t.schema.load_full();
            let mut file = self.catalog.new_file(t)?;
            let number = file.number;
            let mut added = 0u64;
            mem.try_for_each(|c| {
                let live = schema
                    .iter()
                    .any(|f| *f.name == *c.family && c.seq >= f.created_seq);
                if live {
                    file.builder.add(&c.as_ref())?;
                    added += 1;
                }
                Ok(())
            })?;
            let handle = if added == 0 {
                file.builder.abandon()?;
                None
            } else {
                let props = match file.builder.finish() {
                    Ok(p) => p,
                    Err(e) => {
                        self.catalog.health.set_read_only(&e);
                        let _ = self.catalog.fs.remove(&file.path);
                        return Err(e);
                    }
                };
                // The file's directory entry must be durable before the manifest names it.
                if let Err(e) = self.catalog.sync_sst_dir() {
                    self.catalog.health.set_read_only(&e);
                    return Err(e);
                }
                Some(self.catalog.open_new_file(number, 0, None, &props)?)
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
            tracing::info!(table = %t.name, file = number, cells = added, "memtable flushed");
            self.catalog.health.wake_writers.notify_all();
            self.delete_obsolete_wal();
        }
    }
}

/// The background thread: wait for a signal (or 200 ms), flush every table with frozen
/// memtables, then run the compactions the picker asks for. Ends when the store closes.
pub(super) fn background_loop(db: Weak<DbInner>) {
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
        if inner.closed.load(Ordering::Acquire) || inner.catalog.health.is_read_only() {
            continue;
        }
        for t in inner.catalog.tables() {
            if t.version.load().immutables.is_empty() {
                continue;
            }
            if let Err(e) = inner.flush_immutables(&t) {
                tracing::error!(table = %t.name, error = %e, "background flush failed");
                inner.catalog.health.set_read_only(&e);
            }
        }
        if let Err(e) = crate::compaction::maybe_compact(&inner.catalog) {
            tracing::error!(error = %e, "background compaction failed");
        }
    }
}
