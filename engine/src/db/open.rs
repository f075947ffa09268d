//! Recovery at open: lock the directory, load the committed manifest, remove table files it
//! does not list, open every table file (a table whose files are damaged or missing opens
//! unavailable, or without them when quarantining), replay the WAL into memtables (skipping
//! what is already in table files and records of dropped tables), start a fresh WAL segment
//! and the background thread.
//!
//! This file must never write the manifest, with one exception decided by the operator:
//! quarantining damaged table files is one commit that drops them (see
//! `Catalog::open_tables`). Otherwise recovery only reads it, and the next commit records
//! what replay found.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use parking_lot::{Condvar, Mutex};

use super::DbInner;
use super::write::{SegmentInfo, WriteState};
use crate::catalog::Catalog;
use crate::cell::SeqNo;
use crate::error::{Error, Result};
use crate::filename::{sst_dir, wal_dir};
use crate::fs::Fs;
use crate::lock::DirLock;
use crate::manifest::{self, ManifestState};
use crate::options::DbOptions;
use crate::table::Table;
use crate::wal::{self, LogWriter};
use crate::write_batch::WriteBatch;

/// Open the store in `dir` (see `Db::open`).
pub(super) fn open(dir: &Path, options: DbOptions, fs: Arc<dyn Fs>) -> Result<Arc<DbInner>> {
    let dir = dir.to_path_buf();
    for d in [dir.clone(), sst_dir(&dir), wal_dir(&dir)] {
        fs.create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
    }
    let lock = DirLock::acquire(&dir)?;
    let ingest_dirs = super::ingest_source::IngestDirs::resolve(&dir, &options.ingest_dirs)?;
    crate::fd_limit::raise_open_file_limit();
    let state = manifest::read_manifest(&fs, &dir)?.unwrap_or_else(|| ManifestState {
        next_file_number: 1,
        last_seq: 0,
        next_table_id: 1,
        tables: BTreeMap::new(),
    });
    let block_cache = crate::cache::BlockCache::new(options.block_cache_bytes);
    let catalog = Catalog::new(dir.clone(), fs.clone(), block_cache, state);
    catalog.sweep_unlisted_files()?;
    catalog.open_tables(options.quarantine_damaged_files)?;

    let wdir = wal_dir(&dir);
    let (max_seq, old_segments, last_number) = replay_wal(&catalog, &fs, &wdir, &options)?;
    catalog.recovered(max_seq);

    let wal = LogWriter::create(&fs, &wdir, last_number + 1)?;
    let syncer = wal.syncer()?;
    let inner = Arc::new(DbInner {
        catalog,
        options,
        _lock: lock,
        write: Mutex::new(WriteState {
            wal,
            syncer,
            next_seq: max_seq + 1,
            last_written: max_seq,
            old_segments,
            current_max_seq: 0,
        }),
        synced: Mutex::new(max_seq),
        closed: AtomicBool::new(false),
        flush_signal: (Mutex::new(false), Condvar::new()),
        ingest_dirs,
        ingests_in_flight: super::ingest::IngestsInFlight::default(),
        #[cfg(test)]
        race: Mutex::new(None),
        bg: Mutex::new(Vec::new()),
    });
    // Replayed memtables that are already over budget go to flush right away.
    for t in inner.catalog.tables() {
        if t.version.load().active.approximate_bytes() >= inner.options.memtable_bytes {
            inner.rotate_memtable(&t);
        }
    }
    if inner.options.background_threads {
        let weak = Arc::downgrade(&inner);
        let h = std::thread::Builder::new()
            .name("strata-flush".into())
            .spawn(move || super::flush::background_loop(weak))
            .map_err(|e| Error::io("strata-flush thread", e))?;
        inner.bg.lock().push(h);
        inner.signal_flush();
    }
    tracing::info!(dir = %inner.catalog.dir.display(), tables = inner.catalog.table_count(), last_seq = max_seq, "store opened");
    Ok(inner)
}

/// Replay every WAL segment in `wdir` into the tables' memtables. Returns the largest
/// sequence number found (at least the manifest's `last_seq`), the segments (all still
/// needed until a flush), and the largest segment number.
fn replay_wal(
    catalog: &Catalog,
    fs: &Arc<dyn Fs>,
    wdir: &Path,
    options: &DbOptions,
) -> Result<(SeqNo, Vec<SegmentInfo>, u64)> {
    let by_id: BTreeMap<u32, Arc<Table>> =
        catalog.tables().into_iter().map(|t| (t.id, t)).collect();
    let mut max_seq = catalog.last_seq();
    let mut old_segments = Vec::new();
    let mut last_number = 0;
    for (number, path) in wal::list_segments(fs, wdir)? {
        last_number = last_number.max(number);
        let contents = wal::read_segment(fs, &path, options.salvage_wal)?;
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
            let flushed = catalog.flushed_seq(&table.name);
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
    Ok((max_seq, old_segments, last_number))
}
