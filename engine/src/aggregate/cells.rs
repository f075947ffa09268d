//! The counting pass: aggregations without a filter are counted from the merged entries of
//! each row, never building a `Row` (no key copy, no cell list, no value handles): the
//! entries of one row are resolved by the visibility rules of `visibility.rs` (the same
//! functions reads use: versions, deletes, TTL exactly as a read sees them) into the newest
//! visible version in the time range of each column of the families read, and the tallies
//! count those. The row range is cut into partitions at keys sampled from the files' key
//! indexes, counted in parallel on rayon's pool (each partition a merge of its own over the
//! same table version and snapshot), and the partitions' tallies merged.
//!
//! One table version is held for the whole pass (a scan lets go of it every 100,000 rows;
//! a pass lasts seconds at most, so files compacted away meanwhile are deleted a little
//! later). This module must never decide visibility itself (it calls `visibility.rs`) nor
//! open sources other than through `scan.rs`.

use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use rayon::prelude::*;

use super::bucket::Today;
use super::error::AggregateError;
use super::file_rows::Held;
use super::spec::Aggregation;
use super::tally::{Budget, Seen, Tally};
use crate::cell::{InternalCell, SeqNo};
use crate::read::ReadPlan;
use crate::row::{ReadOptions, TimeRange};
use crate::scan::{open_sources, past_stop, range_overlaps, same_row};
use crate::scratch::recycle;
use crate::version::TableVersion;
use crate::visibility::{FamilyRules, columns, split_family, visible_versions};

/// A row range: start and stop bounds.
pub(super) type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// Rows between two looks at the cancel flag.
const CANCEL_CHECK_ROWS: u64 = 4096;
/// Rows (as the files count them) per partition at least: smaller tables are one partition.
pub(super) const MIN_PARTITION_ROWS: u64 = 200_000;

/// What every partition of one pass shares.
pub(super) struct Pass<'p, 'g> {
    pub table: &'p str,
    pub version: Arc<TableVersion>,
    pub snapshot: SeqNo,
    /// The families read, for opening sources.
    pub plan: ReadPlan,
    /// The same families' visibility rules, by name.
    pub rules: Vec<(Arc<str>, FamilyRules)>,
    pub time_range: TimeRange,
    pub aggregations: &'g [Aggregation],
    pub today: Today,
    pub budget: &'p Budget<'p>,
    pub cancel: Option<&'p AtomicBool>,
}

impl<'g> Pass<'_, 'g> {
    /// Count the rows between `start` and `stop` in about `partitions` parts of at least
    /// `min_rows` rows (one part: on this thread), and merge the tallies.
    pub fn run(
        &self,
        start: Bound<Vec<u8>>,
        stop: Bound<Vec<u8>>,
        partitions: usize,
        min_rows: u64,
    ) -> Result<Vec<Tally<'g>>, AggregateError> {
        let ranges = split(&self.version, start, stop, partitions, min_rows);
        let mut parts: Vec<Vec<Tally<'g>>> = if ranges.len() == 1 {
            ranges
                .into_iter()
                .map(|(start, stop)| self.count(start, stop))
                .collect::<Result<_, _>>()?
        } else {
            ranges
                .into_par_iter()
                .map(|(start, stop)| self.count(start, stop))
                .collect::<Result<_, _>>()?
        };
        let mut first = parts.remove(0);
        for part in parts {
            for (mine, theirs) in first.iter_mut().zip(part) {
                mine.absorb(theirs);
            }
        }
        Ok(first)
    }

    /// A tally for each aggregation, naming families by their place in `rules`.
    pub(super) fn tallies(&self) -> Vec<Tally<'g>> {
        let names: Vec<&str> = self.rules.iter().map(|(n, _)| &**n).collect();
        self.aggregations
            .iter()
            .map(|a| Tally::new(a, &names))
            .collect()
    }

    fn cancelled(&self) -> bool {
        self.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
    }

    /// Count the rows of one partition: from one file's blocks where the rows are there
    /// alone (`file_rows.rs`), merged otherwise.
    fn count(
        &self,
        start: Bound<Vec<u8>>,
        stop: Bound<Vec<u8>>,
    ) -> Result<Vec<Tally<'g>>, AggregateError> {
        let mut tallies = self.tallies();
        match self.held(&start, &stop) {
            Held::OneFile(file) => self.count_file(file, &start, &stop, &mut tallies)?,
            Held::FileAndRows(file, rows) => {
                self.count_around(file, &rows, start, stop, &mut tallies)?;
            }
            Held::Merged => self.count_merged(&start, &stop, &mut tallies)?,
        }
        Ok(tallies)
    }

    /// Count the rows of `[start, stop]` from the merge of every source holding them.
    pub(super) fn count_merged(
        &self,
        start: &Bound<Vec<u8>>,
        stop: &Bound<Vec<u8>>,
        tallies: &mut [Tally<'g>],
    ) -> Result<(), AggregateError> {
        let mut sources =
            open_sources(self.version.clone(), &self.plan, self.snapshot, start, stop)?;
        let merge = &mut sources.merge;
        let mut entries: Vec<InternalCell> = Vec::new();
        let mut pending: Option<InternalCell> = None;
        // Scratch kept empty between rows (its lifetime is a row's, see `recycle`).
        let mut versions: Vec<&'static InternalCell> = Vec::new();
        let mut seen: Vec<Seen<'static>> = Vec::new();
        let mut rows = 0u64;
        loop {
            let first = match pending.take() {
                Some(c) => c,
                None => match merge.next() {
                    None => break,
                    Some(c) => c?,
                },
            };
            if past_stop(&first.row, stop) {
                break;
            }
            rows += 1;
            if rows.is_multiple_of(CANCEL_CHECK_ROWS) && self.cancelled() {
                return Err(AggregateError::Cancelled(self.table.to_string()));
            }
            let row: Bytes = first.row.clone();
            entries.clear();
            entries.push(first);
            for c in merge.by_ref() {
                let c = c?;
                if same_row(&c.row, &row) {
                    entries.push(c);
                } else {
                    pending = Some(c);
                    break;
                }
            }
            let mut vbuf = recycle(std::mem::take(&mut versions));
            let mut sbuf = recycle(std::mem::take(&mut seen));
            self.visible(&entries, &mut vbuf, &mut sbuf);
            if !sbuf.is_empty() {
                for t in tallies.iter_mut() {
                    t.add(&sbuf, self.today, self.budget)?;
                }
            }
            versions = recycle(vbuf);
            seen = recycle(sbuf);
        }
        Ok(())
    }

    /// The newest visible version in the time range of each column of the families read, in
    /// `entries` (one row, internal order), into `out`.
    pub(super) fn visible<'e>(
        &self,
        entries: &'e [InternalCell],
        versions: &mut Vec<&'e InternalCell>,
        out: &mut Vec<Seen<'e>>,
    ) {
        let mut rest = entries;
        while let Some(head) = rest.first() {
            let len = rest
                .iter()
                .position(|c| c.family != head.family)
                .unwrap_or(rest.len());
            let (family, after) = rest.split_at(len);
            rest = after;
            let Some((slot, (_, rules))) = self
                .rules
                .iter()
                .enumerate()
                .find(|(_, (n, _))| *n == head.family)
            else {
                continue;
            };
            let (markers, cols) = split_family(family);
            for column in columns(cols) {
                visible_versions(column, markers, rules, versions);
                if let Some(c) = versions.iter().find(|c| self.time_range.contains(c.ts)) {
                    out.push(Seen {
                        family: slot,
                        qualifier: &c.qualifier,
                        value: &c.value,
                    });
                }
            }
        }
    }
}

/// Cut `[start, stop)` into about `parts` ranges holding about as many of the files' rows
/// each, at the last keys of the files' key blocks, and also at the first row of every file
/// (files that do not overlap, as a bulk load writes them, then each get ranges of their
/// own: a range read from one file merges nothing). One range when the files hold fewer
/// than `min_rows` rows per part.
pub(super) fn split(
    version: &TableVersion,
    start: Bound<Vec<u8>>,
    stop: Bound<Vec<u8>>,
    parts: usize,
    min_rows: u64,
) -> Vec<KeyRange> {
    let files: Vec<_> = version
        .files
        .iter()
        .filter(|f| range_overlaps(&start, &stop, &f.meta.smallest_row, &f.meta.largest_row))
        .collect();
    let rows: u64 = files.iter().map(|f| f.meta.rows).sum();
    let parts = parts.min(usize::try_from(rows / min_rows.max(1)).unwrap_or(usize::MAX));
    if parts <= 1 {
        return vec![(start, stop)];
    }
    // Cuts lie strictly inside the range: no range is empty.
    let inside = |k: &[u8]| {
        let after_start = match &start {
            Bound::Unbounded => true,
            Bound::Included(s) | Bound::Excluded(s) => k > s.as_slice(),
        };
        after_start && !past_stop(k, &stop)
    };
    let mut samples: Vec<&[u8]> = files
        .iter()
        .flat_map(|f| f.reader.key_samples())
        .filter(|k| inside(k))
        .collect();
    samples.sort_unstable();
    samples.dedup();
    let mut cuts: Vec<&[u8]> = (1..parts)
        .filter_map(|i| samples.get(i * samples.len() / parts).copied())
        .chain(
            files
                .iter()
                .map(|f| f.meta.smallest_row.as_slice())
                .filter(|k| inside(k)),
        )
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut ranges = Vec::with_capacity(cuts.len() + 1);
    let mut from = start;
    for cut in cuts {
        ranges.push((from, Bound::Excluded(cut.to_vec())));
        from = Bound::Included(cut.to_vec());
    }
    ranges.push((from, stop));
    ranges
}

/// The read plan of a pass: whole families, the newest version (the time range and the
/// visibility rules are applied by [`Pass::visible`]).
pub(super) fn read_options(families: &[String], time_range: TimeRange) -> ReadOptions {
    ReadOptions {
        columns: families
            .iter()
            .map(|family| crate::row::ColumnSelector {
                family: family.clone(),
                qualifier: None,
            })
            .collect(),
        max_versions: 1,
        time_range,
    }
}
