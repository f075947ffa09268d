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

use parking_lot::Mutex;

use super::wal_segments::{SegmentInfo, WriteState};
use super::{DbInner, Signal};
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
        encode_buffers: super::write::EncodeBuffers::default(),
        sync_helpers: super::write::SyncHelpers::start(),
        closed: AtomicBool::new(false),
        flush_signal: Arc::new(Signal::default()),
        compaction_signal: Arc::new(Signal::default()),
        wal_pressure: AtomicBool::new(false),
        ingest_dirs,
        ingests_in_flight: super::ingest::IngestsInFlight::default(),
        #[cfg(test)]
        race: Mutex::new(None),
        bg: Mutex::new(Vec::new()),
        #[cfg(test)]
        hooks: super::tests::Hooks::default(),
    });
    // Replayed memtables that are already over budget go to flush right away.
    for t in inner.catalog.tables() {
        if t.version.load().active.approximate_bytes() >= inner.options.memtable_bytes {
            inner.rotate_memtable(&t);
        }
    }
    if inner.options.background_threads {
        inner.start_background_threads()?;
    }
    tracing::info!(dir = %inner.catalog.dir.display(), tables = inner.catalog.table_count(), last_seq = max_seq, "store opened");
    Ok(inner)
}

/// Replay the WAL segments in `wdir`, oldest first, into the tables' memtables, skipping
/// what the tables' files already hold and records of dropped tables. Returns the largest
/// sequence number found (at least what the manifest knows of), the segments kept (all
/// still needed until a flush), and the largest segment number.
///
/// Recovery is a prefix of what was written, and never silently less:
/// - a torn tail (a crash while appending) is accepted only in the newest segment, and cut
///   off there; a closed segment was synced whole before the next one was started, so a short
///   or damaged one is [`Error::Corruption`] naming the file and offset;
/// - with `salvage_wal`, replay instead stops at the first damage: the damaged segment is
///   copied aside (`NNNNNN.log.damaged`) and cut at the damage, and the later segments are
///   renamed aside, unreplayed, so no later restart replays past the damage either;
/// - nothing is truncated or moved before that decision.
fn replay_wal(
    catalog: &Catalog,
    fs: &Arc<dyn Fs>,
    wdir: &Path,
    options: &DbOptions,
) -> Result<(SeqNo, Vec<SegmentInfo>, u64)> {
    let by_id: BTreeMap<u32, Arc<Table>> =
        catalog.tables().into_iter().map(|t| (t.id, t)).collect();
    let mut max_seq = catalog.last_seq();
    let mut kept = Vec::new();
    let segments = wal::list_segments(fs, wdir)?;
    let last_number = segments.last().map_or(0, |(n, _)| *n);
    for (i, (number, path)) in segments.iter().enumerate() {
        let newest = i + 1 == segments.len();
        let contents = wal::read_segment(fs, path, options.salvage_wal)?;
        let empty_file = contents.valid_len == 0 && fs.read(path).is_ok_and(|d| d.is_empty());
        let stop = match (&contents.torn_tail, &contents.damage) {
            (None, None) => None,
            // A zero-byte file holds no record (an older release cut torn headers to zero).
            (Some(_), _) if empty_file => None,
            (Some(torn), _) if newest => {
                tracing::warn!(path = %path.display(), tail = %torn,
                    "WAL segment ends in a torn record (crash mid-write); cutting it off");
                None
            }
            (Some(torn), _) if !options.salvage_wal => {
                return Err(Error::corruption(
                    path,
                    contents.valid_len,
                    format!(
                        "{torn}, but this is not the newest segment, which a crash cannot leave \
                         short (it was synced whole before the next one began); open with \
                         --salvage-wal to keep the records before this point and drop every \
                         later one"
                    ),
                ));
            }
            (Some(why), _) | (None, Some(why)) => Some(why.clone()),
        };
        let mut seg_max = 0;
        for (rec, &at) in contents.records.iter().zip(&contents.offsets) {
            let batch = WriteBatch::decode(rec, path, at)?;
            let n = batch.cell_count();
            if n > 0 {
                seg_max = seg_max.max(batch.first_seq + n - 1);
            }
            let Some(table) = by_id.get(&batch.table_id) else {
                continue; // the table was dropped
            };
            let flushed = catalog.flushed_seq(&table.name);
            let mem = table.version.load().active.clone();
            let mut first = batch.first_seq;
            for row in batch.rows {
                let n = row.cells.len() as u64;
                if first > flushed {
                    mem.insert_row(row, first);
                } else if n > 0 && first + n - 1 > flushed {
                    // A row across the flushed point (rows are applied into one memtable
                    // whole, so this is not expected): only its cells above it.
                    for c in row.into_internal_cells(first) {
                        if c.seq > flushed {
                            mem.insert(c);
                        }
                    }
                }
                first += n;
            }
        }
        max_seq = max_seq.max(seg_max);
        if let Some(why) = &stop {
            let later: Vec<&Path> = segments[i + 1..].iter().map(|(_, p)| p.as_path()).collect();
            salvage_at(fs, wdir, path, contents.valid_len, &later)?;
            tracing::error!(path = %path.display(), damage = %why, dropped_segments = later.len(),
                "WAL salvage: replay stopped at the damage; the damaged segment and every later \
                 one are kept aside as *.log.damaged, and their records after the damage are lost");
        } else if contents.torn_tail.is_some() && !empty_file {
            fs.truncate(path, contents.valid_len)
                .map_err(|e| Error::io(path, e))?;
        }
        kept.push(SegmentInfo {
            number: *number,
            path: path.clone(),
            max_seq: seg_max,
            bytes: contents.valid_len,
        });
        if stop.is_some() {
            break;
        }
    }
    Ok((max_seq, kept, last_number))
}

/// Salvage stops replay in `path` at `valid_len`: keep a copy of it aside, cut it there, and
/// move the `later` segments aside, so no later open replays past the damage.
fn salvage_at(
    fs: &Arc<dyn Fs>,
    wdir: &Path,
    path: &Path,
    valid_len: u64,
    later: &[&Path],
) -> Result<()> {
    let aside = |p: &Path| {
        let mut name = p.as_os_str().to_os_string();
        name.push(".damaged");
        std::path::PathBuf::from(name)
    };
    let copy = aside(path);
    fs.copy_and_sync(path, &copy)
        .map_err(|e| Error::io(&copy, e))?;
    fs.truncate(path, valid_len)
        .map_err(|e| Error::io(path, e))?;
    for p in later {
        fs.rename(p, &aside(p)).map_err(|e| Error::io(p, e))?;
    }
    fs.sync_dir(wdir).map_err(|e| Error::io(wdir, e))
}
