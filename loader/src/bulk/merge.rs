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

/// A copy of the row waiting to see whether a later line has the same key.
#[derive(Default)]
struct Pending {
    key: Vec<u8>,
    ts: i64,
    data: Vec<u8>,
    values: Vec<(u32, u32)>,
    full: bool,
}

impl Pending {
    fn set(&mut self, r: &RowView<'_>) {
        self.key.clear();
        self.key.extend_from_slice(r.key);
        self.ts = r.ts;
        self.data.clear();
        self.values.clear();
        for &(o, l) in r.values {
            self.values.push((self.data.len() as u32, l));
            self.data
                .extend_from_slice(&r.data[o as usize..(o + l) as usize]);
        }
        self.full = true;
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

/// Merge `sources` into `out`.
pub fn merge_into(
    mut sources: Vec<Source<'_>>,
    out: &mut PartitionOutput<'_>,
) -> Result<MergeStats> {
    let mut stats = MergeStats::default();
    // Fast path: one in-memory source needs no copy, only a look at the next key.
    if let [Source::Mem { run, pos, end }] = sources.as_slice() {
        for i in *pos..*end {
            if i + 1 < *end && run.same_key(i, i + 1) {
                stats.duplicates += 1;
                continue;
            }
            let r = run.row(i);
            out.add_row(r.key, r.ts, r.data, r.values)?;
            stats.rows += 1;
        }
        return Ok(stats);
    }
    let mut pending = Pending::default();
    loop {
        // The smallest (key, line); 8-byte prefixes decide most comparisons without memcmp.
        let mut best: Option<(usize, u64, &[u8], u64)> = None;
        for (i, s) in sources.iter().enumerate() {
            if let Some(r) = s.current() {
                let p = prefix_of(r.key);
                let better = match best {
                    None => true,
                    Some((_, bp, k, l)) => p < bp || (p == bp && (r.key, r.line) < (k, l)),
                };
                if better {
                    best = Some((i, p, r.key, r.line));
                }
            }
        }
        let Some((i, ..)) = best else { break };
        if let Some(r) = sources[i].current() {
            if pending.full {
                if pending.key == r.key {
                    stats.duplicates += 1;
                } else {
                    out.add_row(&pending.key, pending.ts, &pending.data, &pending.values)?;
                    stats.rows += 1;
                }
            }
            pending.set(&r);
        }
        sources[i].advance()?;
    }
    if pending.full {
        out.add_row(&pending.key, pending.ts, &pending.data, &pending.values)?;
        stats.rows += 1;
    }
    Ok(stats)
}
