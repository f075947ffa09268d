//! One compaction run: merge the input files' rows (`sstable::WalkMerge`, cells borrowed from
//! their blocks), keep what GC keeps family by family, write
//! output files of about `TARGET_FILE_BYTES`, and swap inputs for outputs with one catalog
//! commit and one version install. A failure before the commit leaves the inputs in place and
//! releases every output.
//!
//! This file must never change a version other than through `Table::install`, nor the
//! manifest other than through the catalog.

use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::gc::{Gc, Outside};
use super::summary::FileSummary;
use crate::catalog::{Catalog, NewFile};
use crate::cell::{CellRef, SeqNo, now_micros};
use crate::error::Result;
use crate::events::EventKind;
use crate::scratch::recycle;
use crate::sstable::{CellView, WalkMerge};
use crate::table::{FileRole, Table};
use crate::version::{FileHandle, TableVersion};

/// Compaction output files are cut at about this size.
const TARGET_FILE_BYTES: u64 = 128 * 1024 * 1024;

/// Merge `inputs` into new files and swap them in with one manifest edit.
pub(super) fn run(
    catalog: &Catalog,
    t: &Arc<Table>,
    v: &TableVersion,
    inputs: Vec<Arc<FileHandle>>,
) -> Result<()> {
    let started = Instant::now();
    let input_numbers: Vec<u64> = inputs.iter().map(|f| f.meta.number).collect();
    let schema = t.schema.load_full();
    let now = now_micros();
    // Readers load their version before their snapshot, and a long scan that re-opens on
    // later versions keeps its snapshot registered, so every reader of this compaction's
    // output reads at or above the horizon: the sequence number visible now, or the oldest
    // live scan snapshot if that is older (`snapshots.rs`).
    let outside = Outside {
        files: v
            .files
            .iter()
            .filter(|f| !input_numbers.contains(&f.meta.number))
            .map(|f| FileSummary::of(f))
            .collect(),
        min_unflushed: v.min_unflushed_seq(),
        snapshot: catalog.snapshots.horizon(&catalog.visible_seq),
    };
    let mut gc = Gc::new(outside, &schema, now);
    let names: Vec<Arc<str>> = gc.families().iter().map(|f| f.name.clone()).collect();
    let mut walks = Vec::with_capacity(inputs.len());
    let mut bytes_in = 0;
    for f in &inputs {
        bytes_in += f.meta.size;
        walks.push(
            f.reader
                .walk_rows(Bound::Unbounded, Bound::Unbounded, &names, SeqNo::MAX)?
                .with_keys(),
        );
    }
    let mut merge = WalkMerge::new(walks)?;
    let mut outputs: Vec<Arc<FileHandle>> = Vec::new();
    let mut builder: Option<NewFile> = None;
    // The output builder's own family strings (found by address, not by name), per slot.
    let mut builder_names: Vec<Arc<str>> = Vec::new();
    // Scratch reused from row to row, emptied before the blocks it borrows change.
    let mut views: Vec<CellView<'static>> = Vec::new();
    let result: Result<()> = (|| {
        while let Some(key) = merge.next_row()? {
            let mut row_views: Vec<CellView<'_>> = recycle(std::mem::take(&mut views));
            for slot in 0..names.len() {
                row_views.clear();
                merge.push_family(slot, &mut row_views)?;
                if row_views.is_empty() {
                    continue;
                }
                gc.family(&key, slot, &row_views, |c| {
                    if builder.is_none() {
                        let b = catalog.new_file(t, FileRole::Compaction)?;
                        builder_names = names
                            .iter()
                            .map(|n| b.builder.family_name(n).unwrap_or_else(|| n.clone()))
                            .collect();
                        builder = Some(b);
                    }
                    let Some(b) = builder.as_mut() else {
                        return Ok(());
                    };
                    let family = builder_names.get(slot).map_or(c.family, |n| &**n);
                    b.builder.add(&CellRef { family, ..*c })
                })?;
            }
            views = recycle(row_views);
            // Files are cut between rows.
            if builder
                .as_ref()
                .is_some_and(|b| b.builder.estimated_size() >= TARGET_FILE_BYTES)
                && let Some(b) = builder.take()
            {
                outputs.push(finish(catalog, b)?);
            }
        }
        if let Some(b) = builder.take() {
            outputs.push(finish(catalog, b)?);
        }
        Ok(())
    })();
    if let Err(e) = result {
        if let Some(b) = builder.take() {
            let _ = b.builder.abandon();
        }
        for o in &outputs {
            o.mark_obsolete();
        }
        return Err(e);
    }
    if !outputs.is_empty()
        && let Err(e) = catalog.sync_sst_dir()
    {
        for o in &outputs {
            o.mark_obsolete();
        }
        return Err(e);
    }
    let bytes_out: u64 = outputs.iter().map(|o| o.meta.size).sum();
    let committed = catalog.commit_table(&t.name, &outputs, |ts| {
        ts.files.retain(|f| !input_numbers.contains(&f.number));
        ts.files.extend(outputs.iter().map(|o| o.meta.clone()));
        Ok(())
    })?;
    if committed.is_none() {
        return Ok(()); // dropped meanwhile; the outputs were released
    }
    t.install(|next| {
        next.files
            .retain(|f| !input_numbers.contains(&f.meta.number));
        next.files.extend(outputs.iter().cloned());
    });
    for f in &inputs {
        f.mark_obsolete();
    }
    t.counters.compactions.fetch_add(1, Ordering::Relaxed);
    t.counters
        .compaction_bytes_in
        .fetch_add(bytes_in, Ordering::Relaxed);
    t.counters
        .compaction_bytes_out
        .fetch_add(bytes_out, Ordering::Relaxed);
    t.events.record(
        EventKind::Compaction,
        started,
        (inputs.len() as u64, bytes_in),
        (outputs.len() as u64, bytes_out),
    );
    tracing::info!(table = %t.name, inputs = inputs.len(), outputs = outputs.len(), bytes_in, bytes_out, "compaction done");
    Ok(())
}

/// Finish an output file and open it (compaction outputs are level 1).
fn finish(catalog: &Catalog, file: NewFile) -> Result<Arc<FileHandle>> {
    let props = file.builder.finish()?;
    catalog.open_new_file(file.number, 1, None, &props)
}
