//! Scans: `RowScanner` turns a table's merged sources into visible rows, from a start bound
//! to a stop bound, at one snapshot, and the bound algebra it needs (a prefix intersected with
//! start/stop, the successor of a prefix, whether a row is past the stop, whether a file's
//! key range overlaps the scan).
//!
//! A scanner does not pin the version it started on for its whole life: after
//! [`RESEEK_AFTER_ROWS`] rows or [`RESEEK_AFTER`] on one version, when the table has a newer
//! one, it re-opens its sources on the current version after the last row it read, and
//! [`RowScanner::release`] lets go of the version at once (the next read re-opens). Every
//! source is read at the scanner's snapshot, which stays registered (`snapshots.rs`) so that
//! compaction keeps what the snapshot still sees: the rows of a scan are one consistent
//! snapshot however often it re-opens.
//!
//! A reverse scan (`ScanOptions::reverse`) is `reverse.rs`'s: it reads its range downward in
//! windows, each a forward scanner of this module.
//!
//! This module must never decide visibility itself (`read.rs` and `visibility.rs` do) nor
//! read files other than through the sources it builds.

use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::cell::{InternalCell, SeqNo};
use crate::error::{Error, Result};
use crate::memtable::MemTableCursor;
use crate::merge::{CellSource, MergeIter};
use crate::read::ReadPlan;
use crate::row::{BorrowedCell, Row, ScanOptions};
use crate::snapshots::Snapshot;
use crate::table::Table;
use crate::version::TableVersion;

mod file_walk;
mod reverse;
mod row_merge;

use file_walk::FileScan;

pub use reverse::Windows as ReverseWindows;

/// Rows read on one version before the scanner re-opens on a newer one (if there is one).
pub const RESEEK_AFTER_ROWS: u64 = 100_000;
/// Time on one version before the scanner re-opens on a newer one (if there is one).
pub const RESEEK_AFTER: Duration = Duration::from_secs(1);
/// Rows between two checks of the re-open conditions.
const CHECK_EVERY: u64 = 256;

/// The sources of one scan on one version.
pub(crate) struct Sources {
    pub(crate) merge: MergeIter,
    /// The first entry of the next row, read ahead.
    pending: Option<InternalCell>,
    version: Arc<TableVersion>,
    opened: Instant,
    rows: u64,
}

/// Rows of a scan, read from one consistent snapshot. It holds the table version it reads
/// (memtables and files) only until it re-opens on a newer one, or is released.
pub struct RowScanner {
    table: Arc<Table>,
    plan: ReadPlan,
    snapshot: Snapshot,
    /// Where the scan (re-)starts: the request's start, then after the last row read.
    start: Bound<Vec<u8>>,
    stop: Bound<Vec<u8>>,
    limit: u64,
    returned: u64,
    sources: Option<Sources>,
    /// Instead of `sources`: the files that hold the rest of the range alone, walked.
    files: Option<FileScan>,
    /// The last row read (returned or not): a re-open starts after it.
    last_row: Option<Bytes>,
    reseek_rows: u64,
    reseek_after: Duration,
    reopened: u64,
    /// The entries of the row being resolved (reused from row to row: no allocation).
    entries: Vec<InternalCell>,
    done: bool,
    /// Set for a reverse scan, which answers every call instead of the fields above.
    reverse: Option<Box<reverse::ReverseScan>>,
}

impl std::fmt::Debug for RowScanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowScanner")
            .field("table", &self.table.name)
            .field("snapshot", &self.snapshot.seq())
            .field("returned", &self.returned)
            .field("reopened", &self.reopened)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// The files of `v` whose key range overlaps `[start, stop]`.
pub(crate) fn overlapping_files<'v, 'b>(
    v: &'v TableVersion,
    start: &'b Bound<Vec<u8>>,
    stop: &'b Bound<Vec<u8>>,
) -> impl Iterator<Item = &'v Arc<crate::version::FileHandle>> + use<'v, 'b> {
    v.files
        .iter()
        .filter(|f| range_overlaps(start, stop, &f.meta.smallest_row, &f.meta.largest_row))
}

/// The rows of `[start, stop]` that `v`'s memtables hold (any sequence number), memtable
/// by memtable: in order within each, and a row two memtables hold comes twice.
pub(crate) fn memtable_rows<'v>(
    v: &'v TableVersion,
    start: &'v Bound<Vec<u8>>,
    stop: &'v Bound<Vec<u8>>,
) -> impl Iterator<Item = Bytes> + 'v {
    std::iter::once(&v.active)
        .chain(v.immutables.iter())
        .flat_map(move |m| {
            m.rows_from(start.as_ref().map(Vec::as_slice))
                .take_while(move |row| !past_stop(row, stop))
        })
}

/// Open `v`'s sources from `start` at `snapshot`, for the families of `plan`.
pub(crate) fn open_sources(
    v: Arc<TableVersion>,
    plan: &ReadPlan,
    snapshot: SeqNo,
    start: &Bound<Vec<u8>>,
    stop: &Bound<Vec<u8>>,
) -> Result<Sources> {
    let start_ref: Bound<&[u8]> = match start {
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
    for f in overlapping_files(&v, start, stop) {
        let it = f.reader.iter(start_ref, Some(&fams))?;
        sources.push(Box::new(it.filter(move |c| match c {
            Ok(c) => c.seq <= snapshot,
            Err(_) => true,
        })));
    }
    Ok(Sources {
        merge: MergeIter::new(sources),
        pending: None,
        version: v,
        opened: Instant::now(),
        rows: 0,
    })
}

impl RowScanner {
    /// A scan of `table` at `snapshot`, shaped by `plan` and bounded by `opts`, starting on
    /// the table's current version.
    pub(crate) fn new(
        table: Arc<Table>,
        plan: ReadPlan,
        snapshot: Snapshot,
        opts: &ScanOptions,
    ) -> Result<RowScanner> {
        let (start, stop) = effective_bounds(opts);
        // A reverse scan reads through windows of forward scanners (`reverse.rs`); its own
        // fields below stay unused.
        let (sources, reverse) = if opts.reverse {
            let rev = reverse::ReverseScan::new(
                table.clone(),
                plan.clone(),
                snapshot.again(),
                start.clone(),
                stop.clone(),
                opts,
            );
            (None, Some(Box::new(rev)))
        } else {
            (None, None)
        };
        let mut scanner = RowScanner {
            table,
            plan,
            snapshot,
            start,
            stop,
            limit: opts.limit,
            returned: 0,
            sources,
            files: None,
            last_row: None,
            reseek_rows: RESEEK_AFTER_ROWS,
            reseek_after: RESEEK_AFTER,
            reopened: 0,
            entries: Vec::new(),
            done: reverse.is_some(),
            reverse,
        };
        if scanner.reverse.is_none() {
            // The version is taken now: the scan reads what the table held when it began.
            scanner.open()?;
        }
        Ok(scanner)
    }

    /// Let go of the table version now (its memtables and files); the next read re-opens on
    /// the current version, after the last row read, at the same snapshot.
    pub fn release(&mut self) {
        if let Some(r) = self.reverse.as_mut() {
            r.release();
        }
        self.sources = None;
        self.files = None;
        self.restart_after_last_row();
    }

    /// Move the start after the last row read, copying its key (a key read from a memtable
    /// shares the memtable's memory, which must not stay pinned).
    fn restart_after_last_row(&mut self) {
        if let Some(row) = self.last_row.take() {
            self.start = Bound::Excluded(row.to_vec());
        }
    }

    /// Re-open on a newer version after `rows` rows or `after` on one version, instead of
    /// [`RESEEK_AFTER_ROWS`] and [`RESEEK_AFTER`].
    pub fn reseek_every(&mut self, rows: u64, after: Duration) {
        self.reseek_rows = rows.max(1);
        self.reseek_after = after;
    }

    /// How many times the scanner re-opened on another version so far (a reverse scan: how
    /// many windows it read).
    pub fn reopened(&self) -> u64 {
        self.reverse
            .as_ref()
            .map_or(self.reopened, |r| r.windows_read())
    }

    /// A reverse scan's window sizes instead of [`ReverseWindows::default`] (tests exercise
    /// many small windows with it); nothing for a forward scan.
    pub fn reverse_windows(&mut self, w: ReverseWindows) {
        if let Some(r) = self.reverse.as_mut() {
            r.set_windows(w);
        }
    }

    /// The sequence number every row is read at.
    pub fn snapshot_seq(&self) -> SeqNo {
        self.snapshot.seq()
    }

    /// Whether sources opened at `opened` on `version` that have read `rows` rows should
    /// make way for the current version.
    fn stale(&self, version: &Arc<TableVersion>, opened: Instant, rows: u64) -> bool {
        if rows == 0 || (!rows.is_multiple_of(CHECK_EVERY) && rows < self.reseek_rows) {
            return false;
        }
        if rows < self.reseek_rows && opened.elapsed() < self.reseek_after {
            return false;
        }
        !Arc::ptr_eq(&self.table.version.load(), version)
    }

    /// Open the sources on the current version: the files' blocks when no memtable holds a
    /// row in the rest of the range (`file_walk.rs`: walked, or merged row by row), else the
    /// cell merge of every source.
    fn open(&mut self) -> Result<()> {
        let v = self.table.version.load_full();
        // A dropped table's current version is empty: fail rather than end early.
        if self.table.dropped.load(Ordering::Acquire) {
            return Err(Error::TableNotFound(self.table.name.clone()));
        }
        let seq = self.snapshot.seq();
        match FileScan::open(v.clone(), &self.plan, seq, &self.start, &self.stop) {
            Some(f) => self.files = Some(f),
            None => {
                self.sources = Some(open_sources(v, &self.plan, seq, &self.start, &self.stop)?);
            }
        }
        Ok(())
    }

    /// Open the sources on the current version when there are none or they are stale.
    fn ensure_sources(&mut self) -> Result<()> {
        let reopen = match (&self.sources, &self.files) {
            (Some(s), _) => self.stale(&s.version, s.opened, s.rows),
            (None, Some(f)) => self.stale(&f.version, f.opened, f.rows),
            (None, None) => true,
        };
        if reopen {
            self.sources = None;
            self.files = None;
            self.restart_after_last_row();
            self.open()?;
            self.reopened += 1;
        }
        Ok(())
    }

    /// The next row from the walked files: a row with visible cells, or the end.
    fn next_from_files(&mut self) -> Option<Result<Row>> {
        self.next_from_files_with(|files, plan| {
            Ok(files.next_row(plan)?.map(|(key, cells)| {
                let row = (!cells.is_empty()).then(|| Row {
                    key: key.to_vec(),
                    cells,
                });
                (key, row)
            }))
        })
    }

    /// The walked files' next row with visible cells as `step` answers it (the row's key,
    /// and what it made of the row, `None` for a row without visible cells), or the end;
    /// `None` also when the sources went stale between rows (the caller re-opens).
    fn next_from_files_with<T>(
        &mut self,
        mut step: impl FnMut(&mut FileScan, &ReadPlan) -> Result<Option<(Bytes, Option<T>)>>,
    ) -> Option<Result<T>> {
        loop {
            let f = self.files.as_mut()?;
            match step(f, &self.plan) {
                Err(e) => return self.fail(e),
                Ok(None) => return self.finish(),
                Ok(Some((key, row))) => {
                    self.last_row = Some(key);
                    if let Some(row) = row {
                        self.returned += 1;
                        return Some(Ok(row));
                    }
                    // Stale sources give way between rows, as merged ones do.
                    if let Some(f) = &self.files
                        && self.stale(&f.version, f.opened, f.rows)
                    {
                        return None;
                    }
                }
            }
        }
    }

    /// The next row with visible cells, lent to `f` for the length of the call: its key and
    /// cells borrowed from the engine's buffers (the decoded blocks, when the scan walks
    /// table files alone: no reference count or copy per cell), in the order and with
    /// exactly the cells [`Iterator::next`] would return. `None` at the end; an error ends
    /// the scan as it does for `next`. `f` is called at most once.
    pub fn next_borrowed<T>(
        &mut self,
        f: impl FnOnce(&[u8], &[BorrowedCell<'_>]) -> T,
    ) -> Option<Result<T>> {
        let mut f = Some(f);
        while self.reverse.is_none() && !self.done {
            if self.limit > 0 && self.returned >= self.limit {
                return self.finish();
            }
            if let Err(e) = self.ensure_sources() {
                return self.fail(e);
            }
            if self.files.is_none() {
                break;
            }
            if let Some(r) =
                self.next_from_files_with(|files, plan| files.next_row_borrowed(plan, &mut f))
            {
                return Some(r);
            }
        }
        // Memtable rows, rows merged cell by cell and reverse scans build the row: it is
        // lent from there.
        match self.next()? {
            Ok(row) => file_walk::lend_owned(&row.key, &row.cells, &mut f).map(Ok),
            Err(e) => Some(Err(e)),
        }
    }

    fn fail<T>(&mut self, e: Error) -> Option<Result<T>> {
        self.done = true;
        self.sources = None;
        self.files = None;
        Some(Err(e))
    }

    fn finish<T>(&mut self) -> Option<Result<T>> {
        self.done = true;
        self.sources = None;
        self.files = None;
        None
    }
}

impl Iterator for RowScanner {
    type Item = Result<Row>;
    fn next(&mut self) -> Option<Result<Row>> {
        if let Some(r) = self.reverse.as_mut() {
            return r.next();
        }
        while !self.done {
            if self.limit > 0 && self.returned >= self.limit {
                return self.finish();
            }
            if let Err(e) = self.ensure_sources() {
                return self.fail(e);
            }
            if self.files.is_some() {
                match self.next_from_files() {
                    Some(r) => return Some(r),
                    // Stale: re-open (or the scan ended, and `done` says so).
                    None => continue,
                }
            }
            let Some(s) = self.sources.as_mut() else {
                return self.finish();
            };
            let first = match s.pending.take() {
                Some(c) => c,
                None => match s.merge.next() {
                    None => return self.finish(),
                    Some(Err(e)) => return self.fail(e),
                    Some(Ok(c)) => c,
                },
            };
            if past_stop(&first.row, &self.stop) {
                return self.finish();
            }
            self.entries.clear();
            let row: Bytes = first.row.clone();
            self.entries.push(first);
            loop {
                match s.merge.next() {
                    None => break,
                    Some(Err(e)) => return self.fail(e),
                    Some(Ok(c)) if same_row(&c.row, &row) => self.entries.push(c),
                    Some(Ok(c)) => {
                        s.pending = Some(c);
                        break;
                    }
                }
            }
            s.rows += 1;
            // A re-open starts after this row.
            self.last_row = Some(row.clone());
            let visible = self.plan.resolve_row(&self.entries);
            // Keep the capacity, not the entries: they would pin the version's memory.
            self.entries.clear();
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
pub(crate) fn same_row(a: &Bytes, b: &Bytes) -> bool {
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
