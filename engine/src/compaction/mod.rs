//! Compaction: merges a table's table files into fewer, garbage-collected ones, on the
//! background thread (and on demand). It is split by concern:
//!
//! - `picker.rs`: which files to merge (size-tiered, as HBase and Cassandra do, see
//!   docs/design/compaction.md), a pure function of the files' manifest records;
//! - `gc.rs`: what of a row the merge keeps (through the visibility rules shared with reads);
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
use crate::manifest::FileMeta;
use crate::table::Table;
use crate::version::{FileHandle, TableVersion};

mod gc;
mod picker;
mod run;

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
    match pick(&v, t) {
        Some(inputs) => run::run(catalog, t, &v, inputs),
        None => Ok(()),
    }
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
        if let Some(inputs) = pick(&v, &t) {
            run::run(catalog, &t, &v, inputs)?;
        }
    }
    Ok(())
}

/// The picker's choice among `v`'s files, as handles.
fn pick(v: &TableVersion, t: &Table) -> Option<Vec<Arc<FileHandle>>> {
    let metas: Vec<&FileMeta> = v.files.iter().map(|f| &f.meta).collect();
    let chosen = picker::pick(
        &metas,
        v.min_unflushed_seq(),
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
