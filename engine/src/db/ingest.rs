//! Bulk ingest: adopt table files built elsewhere (the loader), atomically.
//!
//! 1. The ingest id first: a repeated id returns the first reply, before any path is looked
//!    at (a retry after a lost reply succeeds although its files were moved). A second call
//!    with an id that is being ingested waits for the first.
//! 2. Every file is taken (`ingest_source.rs`: path checks, moved or copied into `sst/`
//!    under a new number, fsynced), then checked from the store's copy: every block's
//!    checksum, and its families against the table's. Files are taken in parallel and no
//!    lock is held, so a slow path delays only its own ingest.
//! 3. The write lock is taken only to allocate one sequence number per file, above every
//!    write before it; those writes are made durable (the WAL synced) outside it.
//! 4. One manifest commit adds the files (and the id) to the table the call started with
//!    (not a table re-created under the same name meanwhile), and the table's version gets
//!    them in the same step.
//!
//! This file must never adopt a file before it passed its checks, nor leave a placed file
//! behind when the ingest fails (moved files go back to the client's directory).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use super::DbInner;
use super::ingest_source::{self, Placed};
use crate::error::{Error, Result};
use crate::events::EventKind;
use crate::filename::sst_dir;
use crate::manifest::{self, FileMeta, IngestRecord, MAX_INGEST_ID_BYTES};
use crate::options::SyncMode;
use crate::sstable::{TableProperties, TableReader};
use crate::table::Table;
use crate::version::FileHandle;

/// Most files one ingest may adopt.
pub(crate) const MAX_INGEST_FILES: usize = 10_000;

/// The result of adopting externally built table files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngestReply {
    /// Files adopted.
    pub files: u64,
    /// Entries in them.
    pub cells: u64,
    /// Their total size in bytes.
    pub bytes: u64,
}

impl From<&IngestRecord> for IngestReply {
    fn from(r: &IngestRecord) -> Self {
        IngestReply {
            files: r.files,
            cells: r.cells,
            bytes: r.bytes,
        }
    }
}

/// The ingest ids being ingested right now (per table id), so a retry that arrives while
/// the first call still runs waits for it instead of adopting the files twice.
#[derive(Debug, Default)]
pub(crate) struct IngestsInFlight {
    ids: Mutex<HashSet<(u32, String)>>,
    done: Condvar,
}

/// Holds an id in [`IngestsInFlight`] until dropped.
struct Claim<'a> {
    owner: &'a IngestsInFlight,
    key: Option<(u32, String)>,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            self.owner.ids.lock().remove(&k);
            self.owner.done.notify_all();
        }
    }
}

/// One file taken into the store and checked, not adopted yet.
struct Taken {
    placed: Placed,
    number: u64,
    reader: TableReader,
    props: TableProperties,
}

impl DbInner {
    /// Adopt `paths` into `table` (see `Db::ingest`).
    pub(super) fn ingest(
        &self,
        table: &str,
        paths: &[PathBuf],
        ingest_id: &str,
    ) -> Result<IngestReply> {
        if ingest_id.len() > MAX_INGEST_ID_BYTES {
            return Err(Error::InvalidArgument(format!(
                "ingest_id is {} bytes, over the {MAX_INGEST_ID_BYTES}-byte limit",
                ingest_id.len()
            )));
        }
        let started = Instant::now();
        let t = self.catalog.enabled_table(table)?;
        // 1. The id, before anything else.
        let claim = match self.claim_ingest_id(&t, ingest_id) {
            Ok(claim) => claim,
            Err(reply) => return Ok(reply),
        };
        if paths.is_empty() {
            return Err(Error::InvalidArgument("no files to ingest".into()));
        }
        if paths.len() > MAX_INGEST_FILES {
            return Err(Error::InvalidArgument(format!(
                "{} files in one ingest, over the limit of {MAX_INGEST_FILES}",
                paths.len()
            )));
        }
        let mut seen = HashSet::new();
        if let Some(dup) = paths.iter().find(|p| !seen.insert(*p)) {
            return Err(Error::InvalidArgument(format!(
                "{} is listed twice",
                dup.display()
            )));
        }
        // 2. Take and check every file (no lock held).
        let sst = sst_dir(&self.catalog.dir);
        let sst_fd = ingest_source::open_dir(&sst)?;
        let taken = self.take_files(&t, paths, &sst_fd, &sst)?;
        let undo = |taken: Vec<Taken>| {
            for f in taken {
                f.placed.undo(&sst_fd);
            }
        };
        if let Err(e) = self.catalog.sync_sst_dir() {
            undo(taken);
            return Err(e);
        }
        self.race_point();
        // 3. Sequence numbers: the write lock for the allocation only.
        let n = taken.len() as u64;
        let (first_seq, syncer) = {
            let mut w = self.write.lock();
            if let Err(e) = self.check_writable() {
                drop(w);
                undo(taken);
                return Err(e);
            }
            let first = w.next_seq;
            w.next_seq += n;
            (first, w.syncer.clone())
        };
        let last_seq = first_seq + n - 1;
        // Every write before the ingest must be durable before the manifest (durable) says
        // the ingest came after it.
        if self.options.sync_mode == SyncMode::Group
            && let Err(e) = syncer.sync()
        {
            let e = Error::io(crate::filename::wal_dir(&self.catalog.dir), e);
            self.catalog.health.set_read_only(&e);
            undo(taken);
            return Err(e);
        }
        // 4. One commit, published in the table's version under the manifest lock.
        let mut reply = IngestReply::default();
        let mut handles = Vec::with_capacity(taken.len());
        for (i, f) in taken.iter().enumerate() {
            let seq = first_seq + i as u64;
            let meta = FileMeta::from_properties(f.number, 0, Some(seq), &f.props);
            handles.push(Arc::new(FileHandle::new(
                meta,
                f.reader.with_global_seq(Some(seq)),
                f.placed.path.clone(),
                self.catalog.fs.clone(),
            )));
            reply.files += 1;
            reply.cells += f.props.cells;
            reply.bytes += f.props.file_size;
        }
        let mut edit_failed = false;
        let committed = self.catalog.commit_then(
            &[],
            |next| {
                let Some(ts) = next.tables.get_mut(table).filter(|ts| ts.id == t.id) else {
                    edit_failed = true;
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
                    manifest::bound_ingest_records(&mut ts.ingests);
                }
                next.last_seq = next.last_seq.max(last_seq);
                Ok(())
            },
            |()| t.install(|v| v.files.extend(handles.iter().cloned())),
        );
        if let Err(e) = committed {
            if edit_failed {
                // Nothing was written: give the numbers back if nobody took later ones, and
                // the files back to the client.
                let mut w = self.write.lock();
                if w.next_seq == last_seq + 1 {
                    w.next_seq = first_seq;
                }
                drop(w);
                drop(handles);
                undo(taken);
            }
            // Otherwise the manifest write failed and what it holds is unknown: the files
            // stay (the store is read-only; the next open removes them if unlisted).
            return Err(e);
        }
        self.catalog
            .visible_seq
            .fetch_max(last_seq, Ordering::AcqRel);
        drop(claim);
        t.events.record(
            EventKind::Ingest,
            started,
            (reply.files, reply.bytes),
            (reply.files, reply.bytes),
        );
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

    /// Claim `id` for `t`, or the first reply when it was ingested already (waiting while
    /// another call holds it). An empty id claims nothing.
    fn claim_ingest_id(&self, t: &Table, id: &str) -> Result<Claim<'_>, IngestReply> {
        let owner = &self.ingests_in_flight;
        if id.is_empty() {
            return Ok(Claim { owner, key: None });
        }
        let key = (t.id, id.to_string());
        let mut ids = owner.ids.lock();
        loop {
            if let Some(rec) = self.catalog.ingest_record(&t.name, t.id, id) {
                return Err(IngestReply::from(&rec));
            }
            if !ids.contains(&key) {
                ids.insert(key.clone());
                return Ok(Claim {
                    owner,
                    key: Some(key),
                });
            }
            owner.done.wait(&mut ids);
        }
    }

    /// Take every file of `paths` into the store (in parallel) and check it; on any error
    /// give back those taken and return the first error (in `paths` order).
    fn take_files(
        &self,
        t: &Table,
        paths: &[PathBuf],
        sst_fd: &std::os::fd::OwnedFd,
        sst: &std::path::Path,
    ) -> Result<Vec<Taken>> {
        use rayon::prelude::*;
        let schema = t.schema.load_full();
        let numbers: Vec<u64> = paths
            .iter()
            .map(|_| self.catalog.allocate_file_number())
            .collect();
        let results: Vec<Result<Taken>> = paths
            .par_iter()
            .zip(numbers)
            .map(|(p, number)| {
                let src = ingest_source::open_source(&self.ingest_dirs, p)?;
                let name = crate::filename::sst_name(number);
                let placed = ingest_source::place(src, sst_fd, sst, &name)?;
                match self.check_taken(t, &schema, &placed) {
                    Ok((reader, props)) => Ok(Taken {
                        placed,
                        number,
                        reader,
                        props,
                    }),
                    Err(e) => {
                        placed.undo(sst_fd);
                        Err(e)
                    }
                }
            })
            .collect();
        let mut taken = Vec::with_capacity(results.len());
        let mut first_err = None;
        for r in results {
            match r {
                Ok(f) => taken.push(f),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            None => Ok(taken),
            Some(e) => {
                for f in taken {
                    f.placed.undo(sst_fd);
                }
                Err(e)
            }
        }
    }

    /// Open and check the store's copy of a taken file: every block, and only families the
    /// table has. A file that fails is the client's bad input, reported without its bytes.
    fn check_taken(
        &self,
        t: &Table,
        schema: &[crate::table::FamilySchema],
        placed: &Placed,
    ) -> Result<(TableReader, TableProperties)> {
        let file = placed
            .file
            .try_clone()
            .map_err(|e| Error::io(&placed.path, e))?;
        let cache = Some(self.catalog.block_cache.clone());
        let checked = TableReader::from_file(file, &placed.path, None, cache)
            .and_then(|r| r.verify_checksums().map(|()| r));
        let reader = match checked {
            Ok(r) => r,
            Err(e @ Error::Corruption { .. }) => {
                // The detail may quote the file's bytes: it goes to the log, not the reply.
                tracing::warn!(source = %placed.source.display(), error = %e, "ingest refused a file");
                return Err(Error::InvalidArgument(format!(
                    "{} is not a Strata table file (or is damaged); nothing was ingested",
                    placed.source.display()
                )));
            }
            Err(e) => return Err(e),
        };
        for fp in &reader.properties().families {
            if fp.cells > 0 && !schema.iter().any(|f| *f.options.name == *fp.name) {
                return Err(Error::FamilyNotFound {
                    table: t.name.clone(),
                    family: fp.name.to_string(),
                });
            }
        }
        let props = reader.properties().clone();
        Ok((reader, props))
    }
}
