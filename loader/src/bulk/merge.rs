//! The final pass: for one key range, merge sorted sources (the in-memory run, or spilled runs
//! in a k-way merge) in (row key, line) order, apply the duplicate rule (the last line of a
//! key wins; earlier ones are counted and dropped), and write rows to the partition's files.
//! It must never emit two rows with the same key or a row out of key order.

use super::run::{MemRun, RowView, RunReader, prefix_of};
use super::writer::PartitionOutput;
use crate::error::Result;

/// Rows to merge, in (key, line) order.
pub enum Source<'a> {
    /// A range of the in-memory run's sorted rows.
    Mem {
        /// The run.
        run: &'a MemRun,
        /// Next row.
        pos: usize,
        /// End (exclusive).
        end: usize,
    },
    /// A spilled run.
    Run(RunReader<'a>),
}

impl Source<'_> {
    fn current(&self) -> Option<RowView<'_>> {
        match self {
            Source::Mem { run, pos, end } => (*pos < *end).then(|| run.row(*pos)),
            Source::Run(r) => r.current(),
        }
    }

    fn advance(&mut self) -> Result<()> {
        match self {
            Source::Mem { pos, .. } => {
                *pos += 1;
                Ok(())
            }
            Source::Run(r) => r.advance(),
        }
    }
}

/// Rows and duplicates of a merge.
#[derive(Debug, Default, Clone, Copy)]
pub struct MergeStats {
    /// Rows written.
    pub rows: u64,
    /// Rows dropped because a later line had the same key.
    pub duplicates: u64,
}

/// Merge `sources` into `out`. Sources must be in input order (spilled runs in the order
/// they were spilled, the in-memory run last): among equal keys the later source holds the
/// later line. A spilled run holds one row per key; the in-memory run may hold several, in
/// line order.
pub fn merge_into(
    mut sources: Vec<Source<'_>>,
    out: &mut PartitionOutput<'_>,
) -> Result<MergeStats> {
    let mut stats = MergeStats::default();
    // Fast path: one in-memory source needs no merge, only a look at the next key.
    if let [Source::Mem { run, pos, end }] = sources.as_slice() {
        for i in *pos..*end {
            if i + 1 < *end && run.same_as_next(i) {
                stats.duplicates += 1;
                continue;
            }
            let r = run.row(i);
            out.add_row(r.key, r.ts, r.data, r.values)?;
            stats.rows += 1;
        }
        return Ok(stats);
    }
    // Each source's current key prefix (u64::MAX with `None` when exhausted).
    let mut heads: Vec<Option<u64>> = sources
        .iter()
        .map(|s| s.current().map(|r| prefix_of(r.key)))
        .collect();
    loop {
        // The smallest key, the earliest source among equal keys; whether a later source
        // has the same key (then this row is an older duplicate). 8-byte prefixes decide
        // most comparisons without touching the keys.
        let mut best: Option<(usize, u64)> = None;
        let mut dup = false;
        for (i, h) in heads.iter().enumerate() {
            let Some(p) = *h else { continue };
            match best {
                None => {
                    best = Some((i, p));
                    dup = false;
                }
                Some((b, bp)) => {
                    if p > bp {
                        continue;
                    }
                    let (Some(ri), Some(rb)) = (sources[i].current(), sources[b].current()) else {
                        continue;
                    };
                    match (p, ri.key).cmp(&(bp, rb.key)) {
                        std::cmp::Ordering::Less => {
                            best = Some((i, p));
                            dup = false;
                        }
                        std::cmp::Ordering::Equal => dup = true,
                        std::cmp::Ordering::Greater => {}
                    }
                }
            }
        }
        let Some((i, _)) = best else { break };
        let s = &mut sources[i];
        if let Source::Mem { run, pos, end } = s {
            // Several lines of one key may sit in the in-memory run: only the last counts.
            dup |= *pos + 1 < *end && run.same_as_next(*pos);
        }
        if dup {
            stats.duplicates += 1;
        } else if let Some(r) = s.current() {
            out.add_row(r.key, r.ts, r.data, r.values)?;
            stats.rows += 1;
        }
        s.advance()?;
        heads[i] = s.current().map(|r| prefix_of(r.key));
    }
    Ok(stats)
}
