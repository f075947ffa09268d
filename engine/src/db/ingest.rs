//! Bulk ingest: adopt table files built elsewhere (the loader), atomically. Every file is
//! checked first (every block's checksum, and its families against the table's), then
//! hard-linked (or copied and fsynced) into the store under new numbers, then adopted with
//! one manifest commit that gives each file its own sequence number above every write before
//! it (the WAL is synced first). A repeated ingest id returns the first reply.
//!
//! This file must never adopt a file before it passed its checks, nor leave a placed file
//! behind when the ingest fails.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use super::DbInner;
use crate::error::{Error, Result};
use crate::filename::sst_path;
use crate::manifest::IngestRecord;
use crate::options::SyncMode;
use crate::sstable::{TableProperties, TableReader};

/// Ingest ids remembered per table (older ones are forgotten).
const MAX_INGEST_RECORDS: usize = 1000;

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

impl DbInner {
    /// Adopt `paths` into `table` (see `Db::ingest`).
    pub(super) fn ingest(
        &self,
        table: &str,
        paths: &[PathBuf],
        ingest_id: &str,
    ) -> Result<IngestReply> {
        let catalog = &self.catalog;
        let t = catalog.table(table)?;
        let _ing = self.ingest_lock.lock();
        if !ingest_id.is_empty()
            && let Some(rec) = catalog.ingest_record(table, ingest_id)
        {
            return Ok(IngestReply {
                files: rec.files,
                cells: rec.cells,
                bytes: rec.bytes,
            });
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
                .map(|p| -> Result<(PathBuf, TableProperties)> {
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
        let mut placed: Vec<(u64, PathBuf, TableProperties)> = Vec::new();
        let cleanup = |placed: &[(u64, PathBuf, TableProperties)]| {
            for (_, p, _) in placed {
                let _ = catalog.fs.remove(p);
            }
        };
        for (src, props) in checked {
            let number = catalog.allocate_file_number();
            let dst = sst_path(&catalog.dir, number);
            let linked = catalog.fs.hard_link(&src, &dst);
            if linked.is_err()
                && let Err(e) = catalog.fs.copy_and_sync(&src, &dst)
            {
                cleanup(&placed);
                let _ = catalog.fs.remove(&dst);
                return Err(Error::io(&src, e));
            }
            placed.push((number, dst, props));
        }
        if let Err(e) = catalog.sync_sst_dir() {
            cleanup(&placed);
            return Err(e);
        }
        // Commit: every file gets its own sequence number, above everything written so far.
        let mut w = self.write.lock();
        if self.options.sync_mode != SyncMode::None
            && let Err(e) = w.wal.sync()
        {
            catalog.health.set_read_only(&e);
            cleanup(&placed);
            return Err(e);
        }
        let first_seq = w.next_seq;
        let mut handles = Vec::new();
        let mut reply = IngestReply::default();
        for (i, (number, _, props)) in placed.iter().enumerate() {
            let seq = first_seq + i as u64;
            match catalog.open_new_file(*number, 0, Some(seq), props) {
                Ok(h) => handles.push(h),
                Err(e) => {
                    cleanup(&placed);
                    return Err(e);
                }
            }
            reply.files += 1;
            reply.cells += props.cells;
            reply.bytes += props.file_size;
        }
        let last_seq = first_seq + placed.len() as u64 - 1;
        catalog.commit(&handles, |next| {
            let ts = next
                .tables
                .get_mut(table)
                .ok_or_else(|| Error::TableNotFound(table.to_string()))?;
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
            Ok(())
        })?;
        t.install(|next| next.files.extend(handles));
        w.next_seq = last_seq + 1;
        w.last_written = last_seq;
        catalog.visible_seq.fetch_max(last_seq, Ordering::AcqRel);
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
