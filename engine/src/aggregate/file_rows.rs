//! The counting pass over one table file's blocks: a part of a pass whose rows are all in
//! one file (no other file overlaps it, as after a bulk load or a flush and compaction) is
//! counted from a `RowWalk` over that file, borrowing each cell from its decoded block
//! instead of building an `InternalCell` per cell and merging sources that cannot overlap.
//! This is where a first dashboard page spends its time. Rows memtables hold too (data
//! streaming in) are merged one by one, and the file's rows between them walked.
//!
//! Each family of a row is counted by the visibility rules of `visibility.rs`: a family
//! whose cells are all puts, one per column, by `sole_put_visible`; any other (delete
//! markers, several versions of a column) is turned into entries and resolved by the same
//! functions the merged pass uses, so both passes count the same.
//!
//! This module must never decide visibility itself, nor read other sources than the one
//! file it was given (the caller checked that nothing else holds rows of the range).

use std::ops::Bound;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::cells::Pass;
use super::error::AggregateError;
use super::tally::{Seen, Tally};
use crate::cell::InternalCell;
use crate::scan::{memtable_rows, overlapping_files};
use crate::scratch::recycle;
use crate::sstable::FamilyCells;
use crate::version::FileHandle;
use crate::visibility::sole_put_visible;

/// Rows between two looks at the cancel flag.
const CANCEL_CHECK_ROWS: u64 = 4096;
/// Most memtable rows a part merges one by one around a file's rows; a part with more (a
/// memtable holding much of the range) is merged whole.
const MAX_MERGED_ROWS: usize = 100_000;

/// How a part's rows are held (see [`Pass::held`]).
pub(super) enum Held<'v> {
    /// By one file alone.
    OneFile(&'v FileHandle),
    /// By one file, and these rows (sorted, distinct) by memtables too.
    FileAndRows(&'v FileHandle, Vec<Bytes>),
    /// By several files, or by memtables for many rows: merged.
    Merged,
}

impl<'g> Pass<'_, 'g> {
    /// How the rows of `[start, stop]` are held at this pass's version.
    pub(super) fn held(&self, start: &Bound<Vec<u8>>, stop: &Bound<Vec<u8>>) -> Held<'_> {
        let mut files = overlapping_files(&self.version, start, stop);
        let (Some(file), None) = (files.next(), files.next()) else {
            return Held::Merged;
        };
        let mut rows: Vec<Bytes> = Vec::new();
        for row in memtable_rows(&self.version, start, stop) {
            if rows.len() == MAX_MERGED_ROWS {
                return Held::Merged;
            }
            rows.push(row);
        }
        if rows.is_empty() {
            return Held::OneFile(file);
        }
        rows.sort_unstable();
        rows.dedup();
        Held::FileAndRows(file, rows)
    }

    /// Count the rows of `[start, stop]` held by `file` and, for `rows` (sorted, distinct,
    /// within the range), by memtables too: the file's rows between them from its blocks,
    /// each of `rows` merged (`Pass::count_merged`).
    pub(super) fn count_around(
        &self,
        file: &FileHandle,
        rows: &[Bytes],
        start: Bound<Vec<u8>>,
        stop: Bound<Vec<u8>>,
        tallies: &mut [Tally<'g>],
    ) -> Result<(), AggregateError> {
        let mut from = start;
        for row in rows {
            if self.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                return Err(AggregateError::Cancelled(self.table.to_string()));
            }
            let key = row.to_vec();
            self.count_file(file, &from, &Bound::Excluded(key.clone()), tallies)?;
            let one = Bound::Included(key.clone());
            self.count_merged(&one, &one, tallies)?;
            from = Bound::Excluded(key);
        }
        self.count_file(file, &from, &stop, tallies)
    }

    /// Count the rows of `[start, stop]` from `file` alone (see [`Pass::held`]).
    pub(super) fn count_file(
        &self,
        file: &FileHandle,
        start: &Bound<Vec<u8>>,
        stop: &Bound<Vec<u8>>,
        tallies: &mut [Tally<'g>],
    ) -> Result<(), AggregateError> {
        let names: Vec<_> = self.rules.iter().map(|(n, _)| n.clone()).collect();
        // Only the grouping and sum columns' values are read (`Tally::add`): a value derived
        // from the row key of another column needs no key.
        let read: Vec<Vec<Vec<u8>>> = names
            .iter()
            .map(|n| {
                self.aggregations
                    .iter()
                    .flat_map(|a| std::iter::once(&a.column).chain(a.sum.as_ref()))
                    .filter(|c| *c.family == **n)
                    .map(|c| c.qualifier.clone())
                    .collect()
            })
            .collect();
        let mut walk = file
            .reader
            .walk_rows(
                start.as_ref().map(Vec::as_slice),
                stop.as_ref().map(Vec::as_slice),
                &names,
                self.snapshot,
            )?
            .reading_only(read);
        let mut seen: Vec<Seen<'static>> = Vec::new();
        let mut versions: Vec<&'static InternalCell> = Vec::new();
        let mut rows = 0u64;
        walk.for_each_row(
            |families: &[FamilyCells<'_>]| -> Result<(), AggregateError> {
                rows += 1;
                if rows.is_multiple_of(CANCEL_CHECK_ROWS)
                    && self.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
                {
                    return Err(AggregateError::Cancelled(self.table.to_string()));
                }
                // One put per column: decided here. Any other family (rare: deletes or
                // several versions in one file) becomes entries for `Pass::visible`.
                let mut entries: Vec<InternalCell> = Vec::new();
                let mut sbuf: Vec<Seen<'_>> = recycle(std::mem::take(&mut seen));
                for fc in families {
                    let Some((name, rules)) = self.rules.get(fc.family) else {
                        continue;
                    };
                    if fc.one_put_per_column() {
                        sbuf.extend(
                            fc.cells
                                .iter()
                                .filter(|c| {
                                    sole_put_visible(rules, c.seq, c.ts)
                                        && self.time_range.contains(c.ts)
                                })
                                .map(|c| Seen {
                                    family: fc.family,
                                    qualifier: c.qualifier,
                                    value: c.value,
                                }),
                        );
                    } else {
                        entries.extend(fc.cells.iter().map(|c| InternalCell {
                            row: Bytes::new(),
                            family: name.clone(),
                            kind: c.kind,
                            qualifier: Bytes::copy_from_slice(c.qualifier),
                            ts: c.ts,
                            seq: c.seq,
                            value: Bytes::copy_from_slice(c.value),
                        }));
                    }
                }
                if !entries.is_empty() {
                    let mut vbuf = recycle(std::mem::take(&mut versions));
                    self.visible(&entries, &mut vbuf, &mut sbuf);
                    versions = recycle(vbuf);
                }
                if !sbuf.is_empty() {
                    for t in tallies.iter_mut() {
                        t.add(&sbuf, self.today, self.budget)?;
                    }
                }
                seen = recycle(sbuf);
                Ok(())
            },
        )
    }
}
