//! Compaction: merges a table's SSTables into fewer, garbage-collected ones on a background
//! thread (and on demand). Policy: size-tiered, as HBase and Cassandra do (see
//! docs/design/compaction.md): files of similar size are merged once four of them pile up;
//! a file whose share of delete markers is high, or whose every cell has outlived its TTL, is
//! rewritten on its own so that deleted and cold data leave the disk.
//!
//! Garbage collection (`gc_row`) drops only what no read can see: versions beyond a family's
//! `max_versions`, cells past their TTL, entries shadowed by a delete or by a newer write at
//! the same timestamp, entries of dropped families, and delete markers once nothing older
//! than them can remain outside the files being merged.
//!
//! This module must never hold a lock that reads or writes wait on while it merges: it
//! takes the table's compaction lock only, and commits with one manifest edit.

use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::catalog::{Catalog, NewFile};
use crate::cell::{CellKind, InternalCell, SeqNo, Timestamp, now_micros};
use crate::error::Result;
use crate::read::{CellSource, FamilySchema, MergeIter};
use crate::table::Table;
use crate::version::{FileHandle, TableVersion};

/// Files of one size tier merged together once this many pile up.
const TIER_TRIGGER: usize = 4;
/// At most this many files in one compaction.
const MAX_INPUTS: usize = 16;
/// Compaction output files are cut at about this size.
const TARGET_FILE_BYTES: u64 = 128 * 1024 * 1024;
/// A file whose delete markers exceed this share of its entries is rewritten.
const TOMBSTONE_SHARE: f64 = 0.3;

/// Compact `t`: `major` merges every file into one sorted run, after `flush_first` (which
/// flushes the memtables) ran under the compaction lock.
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
        return run(catalog, t, &v, inputs);
    }
    let v = t.version.load_full();
    match pick(&v, t) {
        Some(inputs) => run(catalog, t, &v, inputs),
        None => Ok(()),
    }
}

/// Background entry point: compact every table whose files ask for it.
pub(crate) fn maybe_compact(catalog: &Catalog) -> Result<()> {
    for t in catalog.tables() {
        let Some(_c) = t.compaction_lock.try_lock() else {
            continue;
        };
        if t.dropped.load(Ordering::Acquire) {
            continue;
        }
        let v = t.version.load_full();
        if let Some(inputs) = pick(&v, &t) {
            run(catalog, &t, &v, inputs)?;
        }
    }
    Ok(())
}

/// Size class of a file: files within a factor of four share a tier.
fn tier(size: u64) -> u32 {
    let mb = (size / (1024 * 1024)).max(1);
    (63 - mb.leading_zeros()) / 2
}

/// Choose files to merge, or None.
///
/// Only files whose key ranges overlap another file of their tier are merged: the disjoint
/// files of one bulk load or of one compaction's output form a single sorted run, and
/// merging them would rewrite data for nothing (and, for a compaction's own output, again and
/// again).
fn pick(v: &TableVersion, t: &Table) -> Option<Vec<Arc<FileHandle>>> {
    let mut by_tier: std::collections::BTreeMap<u32, Vec<Arc<FileHandle>>> = Default::default();
    for f in &v.files {
        by_tier
            .entry(tier(f.meta.size))
            .or_default()
            .push(f.clone());
    }
    for (_, files) in by_tier {
        let ranges: Vec<(&[u8], &[u8])> = files
            .iter()
            .map(|f| {
                (
                    f.meta.smallest_row.as_slice(),
                    f.meta.largest_row.as_slice(),
                )
            })
            .collect();
        let mut chosen: Vec<Arc<FileHandle>> = overlapping(&ranges)
            .into_iter()
            .map(|i| files[i].clone())
            .collect();
        if chosen.len() >= TIER_TRIGGER {
            chosen.sort_by_key(|f| f.meta.size);
            chosen.truncate(MAX_INPUTS);
            return Some(chosen);
        }
    }
    // Files that are mostly delete markers, or entirely expired.
    let schema = t.schema.load();
    let min_ttl = schema
        .iter()
        .map(|f| f.options.ttl_seconds)
        .min()
        .unwrap_or(0);
    let expire_before = (min_ttl > 0).then(|| now_micros() - (min_ttl as i64) * 1_000_000);
    let floor_without = |f: &FileHandle| {
        v.files
            .iter()
            .filter(|g| g.meta.number != f.meta.number)
            .map(|g| g.meta.min_seq)
            .chain(std::iter::once(v.min_unflushed_seq()))
            .min()
            .unwrap_or(SeqNo::MAX)
    };
    for f in &v.files {
        // Rewriting alone helps only if some marker can go (it is older than everything
        // else) or some value has expired; otherwise the output would be picked again.
        let tombstones = f.meta.cells > 0
            && (f.meta.deletes as f64) > TOMBSTONE_SHARE * (f.meta.cells as f64)
            && f.meta.min_seq < floor_without(f);
        let expired =
            f.meta.cells > f.meta.deletes && expire_before.is_some_and(|e| f.meta.max_ts < e);
        if tombstones || expired {
            return Some(vec![f.clone()]);
        }
    }
    None
}

/// Indexes of the ranges (inclusive `(smallest, largest)`) that overlap at least one other.
fn overlapping(ranges: &[(&[u8], &[u8])]) -> Vec<usize> {
    (0..ranges.len())
        .filter(|&i| {
            let (lo, hi) = ranges[i];
            ranges
                .iter()
                .enumerate()
                .any(|(j, &(l, h))| j != i && lo <= h && l <= hi)
        })
        .collect()
}

/// Merge `inputs` into new files and swap them in with one manifest edit.
fn run(
    catalog: &Catalog,
    t: &Arc<Table>,
    v: &TableVersion,
    inputs: Vec<Arc<FileHandle>>,
) -> Result<()> {
    let input_numbers: Vec<u64> = inputs.iter().map(|f| f.meta.number).collect();
    // Delete markers older than everything outside the inputs cover nothing that remains.
    let floor = v
        .files
        .iter()
        .filter(|f| !input_numbers.contains(&f.meta.number))
        .map(|f| f.meta.min_seq)
        .chain(std::iter::once(v.min_unflushed_seq()))
        .min()
        .unwrap_or(SeqNo::MAX);
    let schema = t.schema.load_full();
    let now = now_micros();
    let mut sources: Vec<CellSource> = Vec::new();
    let mut bytes_in = 0;
    for f in &inputs {
        bytes_in += f.meta.size;
        sources.push(Box::new(f.reader.iter(Bound::Unbounded, None)?));
    }
    let mut merge = MergeIter::new(sources);
    let mut outputs: Vec<Arc<FileHandle>> = Vec::new();
    let mut builder: Option<NewFile> = None;
    let mut row: Vec<InternalCell> = Vec::new();
    let mut kept: Vec<InternalCell> = Vec::new();
    let result: Result<()> = (|| {
        let mut next = merge.next().transpose()?;
        while let Some(first) = next.take() {
            row.clear();
            let key = first.row.clone();
            row.push(first);
            loop {
                match merge.next().transpose()? {
                    Some(c) if c.row == key => row.push(c),
                    other => {
                        next = other;
                        break;
                    }
                }
            }
            kept.clear();
            gc_row(&row, &schema, now, floor, &mut kept);
            if kept.is_empty() {
                continue;
            }
            if builder.is_none() {
                builder = Some(catalog.new_file(t)?);
            }
            if let Some(b) = builder.as_mut() {
                for c in &kept {
                    b.builder.add(&c.as_ref())?;
                }
            }
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
    tracing::info!(table = %t.name, inputs = inputs.len(), outputs = outputs.len(), bytes_in, bytes_out, "compaction done");
    Ok(())
}

/// Finish an output file and open it (compaction outputs are level 1).
fn finish(catalog: &Catalog, file: NewFile) -> Result<Arc<FileHandle>> {
    let props = file.builder.finish()?;
    catalog.open_new_file(file.number, 1, None, &props)
}

/// Keep the entries of one row (all families, internal order) that a read could still need.
/// Markers with `seq < floor` are dropped after applying them.
pub(crate) fn gc_row(
    entries: &[InternalCell],
    schema: &[FamilySchema],
    now: Timestamp,
    floor: SeqNo,
    out: &mut Vec<InternalCell>,
) {
    let mut i = 0;
    while i < entries.len() {
        let fam = &entries[i].family;
        let end = entries[i..]
            .iter()
            .position(|c| c.family != *fam)
            .map_or(entries.len(), |n| i + n);
        if let Some(f) = schema.iter().find(|f| *f.options.name == **fam) {
            gc_family(&entries[i..end], f, now, floor, out);
        }
        i = end;
    }
}

fn gc_family(
    entries: &[InternalCell],
    f: &FamilySchema,
    now: Timestamp,
    floor: SeqNo,
    out: &mut Vec<InternalCell>,
) {
    let live = |c: &InternalCell| c.seq >= f.created_seq;
    let expire_before = (f.options.ttl_seconds > 0)
        .then(|| now.saturating_sub((f.options.ttl_seconds as i64).saturating_mul(1_000_000)));
    let keep_versions = f.options.max_versions.max(1) as usize;
    let mut i = 0;
    let mut family_marker: Option<&InternalCell> = None;
    while i < entries.len() && entries[i].kind == CellKind::DeleteFamily {
        if live(&entries[i]) && family_marker.is_none_or(|m| entries[i].seq > m.seq) {
            family_marker = Some(&entries[i]);
        }
        i += 1;
    }
    let family_delete = family_marker.map_or(0, |m| m.seq);
    if let Some(m) = family_marker
        && m.seq >= floor
    {
        out.push(m.clone());
    }
    while i < entries.len() {
        let qual = &entries[i].qualifier;
        let end = entries[i..]
            .iter()
            .position(|c| c.qualifier != *qual)
            .map_or(entries.len(), |n| i + n);
        let column = &entries[i..end];
        i = end;
        let mut j = 0;
        let mut column_marker: Option<&InternalCell> = None;
        while j < column.len() && column[j].kind == CellKind::DeleteColumn {
            if live(&column[j]) && column_marker.is_none_or(|m| column[j].seq > m.seq) {
                column_marker = Some(&column[j]);
            }
            j += 1;
        }
        let mut delete_seq = family_delete;
        if let Some(m) = column_marker
            && m.seq > family_delete
        {
            delete_seq = m.seq;
            if m.seq >= floor {
                out.push(m.clone());
            }
        }
        let mut kept = 0usize;
        while j < column.len() {
            let ts = column[j].ts;
            let group = column[j..].iter().take_while(|c| c.ts == ts).count();
            let top = column[j..j + group].iter().find(|c| live(c));
            j += group;
            let Some(top) = top else { continue };
            if top.seq <= delete_seq {
                continue;
            }
            match top.kind {
                CellKind::DeleteCell => {
                    if top.seq >= floor {
                        out.push(top.clone());
                    }
                }
                CellKind::Put => {
                    if expire_before.is_some_and(|e| ts < e) || kept >= keep_versions {
                        continue;
                    }
                    kept += 1;
                    out.push(top.clone());
                }
                CellKind::DeleteColumn | CellKind::DeleteFamily => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::MARKER_TS;
    use crate::options::FamilyOptions;
    use bytes::Bytes;

    fn e(kind: CellKind, q: &str, ts: i64, seq: u64) -> InternalCell {
        InternalCell {
            row: Bytes::from_static(b"r"),
            family: Arc::from("f"),
            kind,
            qualifier: Bytes::copy_from_slice(q.as_bytes()),
            ts,
            seq,
            value: Bytes::new(),
        }
    }

    fn schema(versions: u32, ttl: u64) -> Vec<FamilySchema> {
        vec![FamilySchema {
            name: Arc::from("f"),
            options: FamilyOptions {
                max_versions: versions,
                ttl_seconds: ttl,
                ..FamilyOptions::new("f")
            },
            created_seq: 0,
        }]
    }

    fn run_gc(mut v: Vec<InternalCell>, s: &[FamilySchema], now: i64, floor: u64) -> Vec<u64> {
        v.sort();
        let mut out = Vec::new();
        gc_row(&v, s, now, floor, &mut out);
        out.iter().map(|c| c.seq).collect()
    }

    #[test]
    fn only_overlapping_files_are_merged() {
        let r = |a: &'static str, b: &'static str| (a.as_bytes(), b.as_bytes());
        // A sorted run of disjoint files (a bulk load or a compaction's output).
        let run = [r("a", "c"), r("d", "f"), r("g", "i"), r("j", "l")];
        assert!(overlapping(&run).is_empty());
        // Two flushes over the same keys overlap each other and two of the run's files.
        let mixed = [
            r("a", "c"),
            r("d", "f"),
            r("g", "i"),
            r("b", "e"),
            r("e", "e"),
        ];
        assert_eq!(overlapping(&mixed), vec![0, 1, 3, 4]);
        // Touching at one key counts as overlapping.
        assert_eq!(overlapping(&[r("a", "c"), r("c", "d")]), vec![0, 1]);
    }

    #[test]
    fn drops_shadowed_extra_and_expired_versions() {
        let now = 1_000_000_000;
        let cells = vec![
            e(CellKind::Put, "a", 10, 1),
            e(CellKind::Put, "a", 10, 2), // replaces seq 1
            e(CellKind::Put, "a", 9, 3),
            e(CellKind::Put, "a", 8, 4), // beyond 2 versions
            e(CellKind::DeleteColumn, "b", MARKER_TS, 6),
            e(CellKind::Put, "b", 5, 5), // deleted
            e(CellKind::Put, "b", 4, 7), // written after the delete
            e(CellKind::Put, "c", now - 5_000_000, 8),
            e(CellKind::Put, "c", 1, 9), // expired under a 2 s TTL
        ];
        assert_eq!(
            run_gc(cells.clone(), &schema(2, 0), now, 0),
            vec![2, 3, 6, 7, 8, 9]
        );
        // With a floor above the marker, the marker itself goes too.
        assert_eq!(
            run_gc(cells.clone(), &schema(2, 0), now, 100),
            vec![2, 3, 7, 8, 9]
        );
        assert_eq!(run_gc(cells, &schema(2, 10), now, 100), vec![8]);
    }
}
