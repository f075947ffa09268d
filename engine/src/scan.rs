//! Scans: `RowScanner` turns one table version's merged sources into visible rows, from a
//! start bound to a stop bound, and the bound algebra it needs (a prefix intersected with
//! start/stop, the successor of a prefix, whether a row is past the stop, whether a file's
//! key range overlaps the scan).
//!
//! This module must never decide visibility itself (`read.rs` and `visibility.rs` do) nor
//! read files other than through the sources it builds.

use std::ops::Bound;
use std::sync::Arc;

use crate::cell::{InternalCell, SeqNo};
use crate::error::Result;
use crate::memtable::MemTableCursor;
use crate::merge::{CellSource, MergeIter};
use crate::read::ReadPlan;
use crate::row::{Row, ScanOptions};
use crate::version::TableVersion;

/// Rows of a scan, read from one consistent snapshot. Holding it keeps the version it reads
/// (memtables and files) alive.
pub struct RowScanner {
    merge: MergeIter,
    plan: ReadPlan,
    stop: Bound<Vec<u8>>,
    limit: u64,
    returned: u64,
    pending: Option<InternalCell>,
    /// The entries of the row being resolved (reused from row to row: no allocation).
    entries: Vec<InternalCell>,
    done: bool,
    _version: Arc<TableVersion>,
}

impl std::fmt::Debug for RowScanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowScanner")
            .field("returned", &self.returned)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl RowScanner {
    /// A scan of `v` as of `snapshot`, shaped by `plan` and bounded by `opts`.
    pub(crate) fn new(
        v: Arc<TableVersion>,
        plan: ReadPlan,
        snapshot: SeqNo,
        opts: &ScanOptions,
    ) -> Result<RowScanner> {
        let (start, stop) = effective_bounds(opts);
        let start_ref: Bound<&[u8]> = match &start {
            Bound::Included(k) => Bound::Included(k.as_slice()),
            Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
            Bound::Unbounded => Bound::Unbounded,
        };
        let mut sources: Vec<CellSource> = Vec::new();
        for m in std::iter::once(&v.active).chain(v.immutables.iter()) {
            if m.is_empty() {
                continue;
            }
            sources.push(Box::new(
                MemTableCursor::new(m.clone(), start_ref, snapshot).map(Ok),
            ));
        }
        let fams = plan.family_names();
        for f in &v.files {
            if !range_overlaps(&start, &stop, &f.meta.smallest_row, &f.meta.largest_row) {
                continue;
            }
            let it = f.reader.iter(start_ref, Some(&fams))?;
            sources.push(Box::new(it.filter(move |c| match c {
                Ok(c) => c.seq <= snapshot,
                Err(_) => true,
            })));
        }
        Ok(RowScanner {
            merge: MergeIter::new(sources),
            plan,
            stop,
            limit: opts.limit,
            returned: 0,
            pending: None,
            entries: Vec::new(),
            done: false,
            _version: v,
        })
    }
}

impl Iterator for RowScanner {
    type Item = Result<Row>;
    fn next(&mut self) -> Option<Result<Row>> {
        while !self.done {
            if self.limit > 0 && self.returned >= self.limit {
                self.done = true;
                return None;
            }
            let first = match self.pending.take() {
                Some(c) => c,
                None => match self.merge.next() {
                    None => {
                        self.done = true;
                        return None;
                    }
                    Some(Err(e)) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                    Some(Ok(c)) => c,
                },
            };
            if past_stop(&first.row, &self.stop) {
                self.done = true;
                return None;
            }
            self.entries.clear();
            let row = first.row.clone();
            self.entries.push(first);
            loop {
                match self.merge.next() {
                    None => break,
                    Some(Err(e)) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                    Some(Ok(c)) if same_row(&c.row, &row) => self.entries.push(c),
                    Some(Ok(c)) => {
                        self.pending = Some(c);
                        break;
                    }
                }
            }
            let visible = self.plan.resolve_row(&self.entries);
            if !visible.is_empty() {
                self.returned += 1;
                return Some(Ok(Row {
                    key: row.to_vec(),
                    cells: visible,
                }));
            }
        }
        None
    }
}

/// Whether two row keys are equal, by pointer first: a source's cells of one row share one
/// key buffer, so most checks skip the `memcmp`.
#[inline]
fn same_row(a: &bytes::Bytes, b: &bytes::Bytes) -> bool {
    (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b
}

/// Intersect start/stop with the prefix range.
pub(crate) fn effective_bounds(opts: &ScanOptions) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let mut start = opts.start.clone();
    let mut stop = opts.stop.clone();
    if !opts.prefix.is_empty() {
        let p = opts.prefix.clone();
        start = match start {
            Bound::Unbounded => Bound::Included(p.clone()),
            Bound::Included(k) if k < p => Bound::Included(p.clone()),
            Bound::Excluded(k) if k < p => Bound::Included(p.clone()),
            other => other,
        };
        if let Some(succ) = prefix_successor(&p) {
            stop = match stop {
                Bound::Excluded(k) if k <= succ => Bound::Excluded(k),
                Bound::Included(k) if k < succ => Bound::Included(k),
                _ => Bound::Excluded(succ),
            };
        }
    }
    (start, stop)
}

/// The smallest key greater than every key starting with `p` (None if there is none).
pub(crate) fn prefix_successor(p: &[u8]) -> Option<Vec<u8>> {
    let mut v = p.to_vec();
    while let Some(last) = v.pop() {
        if last != 0xff {
            v.push(last + 1);
            return Some(v);
        }
    }
    None
}

/// Whether `row` lies beyond `stop`.
pub(crate) fn past_stop(row: &[u8], stop: &Bound<Vec<u8>>) -> bool {
    match stop {
        Bound::Unbounded => false,
        Bound::Excluded(s) => row >= s.as_slice(),
        Bound::Included(s) => row > s.as_slice(),
    }
}

/// Whether the inclusive key range `[lo, hi]` has a key between `start` and `stop`.
pub(crate) fn range_overlaps(
    start: &Bound<Vec<u8>>,
    stop: &Bound<Vec<u8>>,
    lo: &[u8],
    hi: &[u8],
) -> bool {
    let after_start = match start {
        Bound::Unbounded => true,
        Bound::Included(s) => hi >= s.as_slice(),
        Bound::Excluded(s) => hi > s.as_slice(),
    };
    after_start && !past_stop(lo, stop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inc(k: &[u8]) -> Bound<Vec<u8>> {
        Bound::Included(k.to_vec())
    }
    fn exc(k: &[u8]) -> Bound<Vec<u8>> {
        Bound::Excluded(k.to_vec())
    }

    fn bounds(
        start: Bound<Vec<u8>>,
        stop: Bound<Vec<u8>>,
        prefix: &[u8],
    ) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        effective_bounds(&ScanOptions {
            start,
            stop,
            prefix: prefix.to_vec(),
            ..ScanOptions::default()
        })
    }

    #[test]
    fn prefix_successor_carries_past_ff_bytes() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[b'a', 0xff]), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(&[0xff, 0xff]), None);
        assert_eq!(prefix_successor(b""), None);
    }

    #[test]
    fn prefix_narrows_start_and_stop_but_never_widens_them() {
        use Bound::Unbounded;
        // No prefix: the bounds as given.
        assert_eq!(bounds(inc(b"b"), exc(b"d"), b""), (inc(b"b"), exc(b"d")));
        // A prefix alone: [p, successor(p)).
        assert_eq!(bounds(Unbounded, Unbounded, b"k"), (inc(b"k"), exc(b"l")));
        // A start before the prefix moves up to it (an exclusive one too); one inside stays.
        assert_eq!(bounds(exc(b"a"), Unbounded, b"k").0, inc(b"k"));
        assert_eq!(bounds(exc(b"k1"), Unbounded, b"k").0, exc(b"k1"));
        // A stop inside the prefix range stays; one beyond it is cut to the successor.
        assert_eq!(bounds(Unbounded, exc(b"k5"), b"k").1, exc(b"k5"));
        assert_eq!(bounds(Unbounded, inc(b"k5"), b"k").1, inc(b"k5"));
        assert_eq!(bounds(Unbounded, exc(b"z"), b"k").1, exc(b"l"));
        assert_eq!(bounds(Unbounded, inc(b"l"), b"k").1, exc(b"l"));
        // An all-0xff prefix has no successor: the stop is left alone.
        assert_eq!(bounds(Unbounded, Unbounded, &[0xff]).1, Unbounded);
    }

    #[test]
    fn stop_and_overlap_follow_bound_kinds() {
        assert!(!past_stop(b"c", &Bound::Unbounded));
        assert!(past_stop(b"c", &exc(b"c")));
        assert!(!past_stop(b"c", &inc(b"c")));
        assert!(past_stop(b"d", &inc(b"c")));
        // File [c, e] against scans.
        let ov = |start, stop| range_overlaps(&start, &stop, b"c", b"e");
        assert!(ov(Bound::Unbounded, Bound::Unbounded));
        assert!(ov(inc(b"e"), Bound::Unbounded));
        assert!(!ov(exc(b"e"), Bound::Unbounded));
        assert!(!ov(Bound::Unbounded, exc(b"c")));
        assert!(ov(Bound::Unbounded, inc(b"c")));
        assert!(ov(inc(b"a"), exc(b"d")));
        assert!(!ov(inc(b"f"), exc(b"z")));
    }
}
