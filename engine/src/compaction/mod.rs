//! Compaction: merges a table's table files into fewer, garbage-collected ones, on the
//! background thread (and on demand). It is split by concern:
//!
//! - `picker.rs`: which files to merge (size-tiered, as HBase and Cassandra do, see
//!   docs/design/compaction.md), a pure function of the files' manifest records;
//! - `gc.rs`: what of a row the merge keeps (through the visibility rules shared with reads),
//!   at the horizon of live scan snapshots (`snapshots.rs`: what they see is kept);
//! - `run.rs`: the merge itself, its output files and the one commit that swaps them in.
//!
//! This module must never hold a lock that reads or writes wait on while it merges: it
//! takes the table's compaction lock only, and commits with one manifest edit. It knows the
//! catalog and the table, never the `Db`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::catalog::Catalog;
use crate::cell::now_micros;
use crate::error::Result;
use crate::table::Table;
use crate::version::{FileHandle, TableVersion};

mod gc;
mod picker;
mod run;
mod summary;

/// Compact `t`: `major` merges every file into one sorted run, after `flush_first` (which
/// flushes the memtables) ran under the compaction lock.
///
/// # Errors
///
/// `flush_first`'s error, or the error of reading an input, writing an output or
/// committing the result.
pub(crate) fn compact_table(
    catalog: &Catalog,
    t: &Arc<Table>,
    major: bool,
    flush_first: impl FnOnce() -> Result<()>,
) -> Result<()> {
    let _c = t.compaction_lock.lock();
    if major {
        flush_first()?;
        let v = t.version.load_full();
        if v.files.is_empty() {
            return Ok(());
        }
        let inputs = v.files.clone();
        return run::run(catalog, t, &v, inputs);
    }
    let v = t.version.load_full();
    match pick(catalog, &v, t) {
        Some(inputs) => run::run(catalog, t, &v, inputs),
        None => Ok(()),
    }
}

/// Merge the files of `t` whose numbers are in `numbers` (a test seam: any subset, as the
/// picker could choose). Returns how many were merged.
///
/// # Errors
///
/// The error of reading an input, writing an output or committing the result.
#[cfg(any(test, feature = "testing"))]
pub(crate) fn compact_files(catalog: &Catalog, t: &Arc<Table>, numbers: &[u64]) -> Result<usize> {
    let _c = t.compaction_lock.lock();
    let v = t.version.load_full();
    let inputs: Vec<Arc<FileHandle>> = v
        .files
        .iter()
        .filter(|f| numbers.contains(&f.meta.number))
        .cloned()
        .collect();
    let n = inputs.len();
    if n > 0 {
        run::run(catalog, t, &v, inputs)?;
    }
    Ok(n)
}

/// The cap of every compaction's marker floor: the memtables' oldest entry, or one past the
/// visible sequence number (entries above it are not acknowledged yet, and a reader's
/// snapshot may exclude them), whichever is smaller.
fn floor_cap(catalog: &Catalog, v: &TableVersion) -> crate::cell::SeqNo {
    v.min_unflushed_seq().min(
        catalog
            .visible_seq
            .load(Ordering::Acquire)
            .saturating_add(1),
    )
}

/// Background entry point: compact every table whose files ask for it.
///
/// # Errors
///
/// The first compaction's error (the tables after it wait for the next round).
pub(crate) fn maybe_compact(catalog: &Catalog) -> Result<()> {
    for t in catalog.tables() {
        let Some(_c) = t.compaction_lock.try_lock() else {
            continue;
        };
        // An unavailable table is not compacted: its damaged files are not in the merge.
        if t.dropped.load(Ordering::Acquire) || t.damage.is_some() {
            continue;
        }
        let v = t.version.load_full();
        if let Some(inputs) = pick(catalog, &v, &t) {
            run::run(catalog, &t, &v, inputs)?;
        }
    }
    Ok(())
}

/// The picker's choice among `v`'s files, as handles.
fn pick(catalog: &Catalog, v: &TableVersion, t: &Table) -> Option<Vec<Arc<FileHandle>>> {
    let files: Vec<summary::FileSummary<'_>> = v
        .files
        .iter()
        .map(|f| summary::FileSummary::of(f))
        .collect();
    let chosen = picker::pick(
        &files,
        floor_cap(catalog, v),
        &t.schema.load(),
        now_micros(),
    )?;
    Some(
        chosen
            .into_iter()
            .filter_map(|i| v.files.get(i).cloned())
            .collect(),
    )
}
