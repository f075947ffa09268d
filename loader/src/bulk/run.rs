//! Sorted runs: the in-memory run (parsed batches plus a sort index ordered by
//! (row key, line)) and runs spilled to disk for the external merge sort, with a sparse key
//! index so a merge can start at any key. Owns the spill file format (varints are LEB128):
//! per row `varint rest_len | [i64 LE ts, unless the run has one ts] | varint key_len |
//! per cell: varint (len << 1) for a value stored after the key, or varint (len << 1 | 1),
//! varint offset for a value that is part of the key | key | stored values`.
//! Runs are spilled in input order and hold one row per key, so the line numbers are not
//! needed: among equal keys, the later run has the later line.
//! It must never change the relative order of equal keys (later lines must stay later).

use std::cmp::Ordering;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use strata_engine::Timestamp;

use super::batch::{Batch, ByteRange};
use crate::error::{LoaderError, Result};

/// A sparse index entry every this many rows of a spilled run.
const INDEX_EVERY: u64 = 512;

/// A row of the sort index: the key's first 8 bytes (big-endian, zero padded) and where the
/// row lives. Ties on the prefix fall back to the full key, then to (batch, row): file order.
/// After sorting, the top bit of `row` says whether the next item has the same key.
#[derive(Clone, Copy, Debug)]
pub struct SortItem {
    prefix: u64,
    batch: u32,
    row: u32,
}

/// The flag bit in `SortItem::row`.
const SAME_AS_NEXT: u32 = 1 << 31;

impl SortItem {
    #[inline]
    fn row(&self) -> usize {
        (self.row & !SAME_AS_NEXT) as usize
    }
}

/// The first 8 bytes of a key as a big-endian number (zero padded): orders like the key
/// whenever two prefixes differ.
#[inline]
pub fn prefix_of(key: &[u8]) -> u64 {
    let mut p = [0u8; 8];
    let n = key.len().min(8);
    p[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(p)
}

/// Parsed batches and their sort index.
#[derive(Debug, Default)]
pub struct MemRun {
    batches: Vec<Batch>,
    /// The sort index, built by `sort` (empty before).
    items: Vec<SortItem>,
    /// Rows held: the index's length once built.
    rows: usize,
    mem: u64,
}

/// A row as the merge sees it: key, line, timestamp and value byte ranges into `data`.
#[derive(Clone, Copy, Debug)]
pub struct RowView<'a> {
    /// Row key.
    pub key: &'a [u8],
    /// Cell timestamp.
    pub ts: Timestamp,
    /// Bytes the byte ranges point into.
    pub data: &'a [u8],
    /// Value byte ranges, in the mapping's cell order.
    pub values: &'a [ByteRange],
}

impl MemRun {
    /// Add a parsed batch (its rejects must have been taken out).
    pub fn push(&mut self, b: Batch) {
        // Rows of a batch are far fewer than 2^31 (a chunk is at most MAX_CHUNK_SIZE bytes).
        debug_assert!(b.rows.len() < SAME_AS_NEXT as usize);
        self.rows += b.rows.len();
        self.mem += b.mem_bytes();
        self.batches.push(b);
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Heap bytes held (batches and the sort index, counted before `sort` builds it).
    pub fn mem_bytes(&self) -> u64 {
        self.mem + (self.rows * std::mem::size_of::<SortItem>()) as u64
    }

    /// The index in batch order, allocated once at its final size. Built here rather than
    /// grown batch by batch: the allocator moves a large block to grow it, so growing it per
    /// batch copied (and faulted in) the whole index every time, 17% of a scale-1
    /// clickstream load's CPU samples (docs/loader.md, "Performance").
    fn build_index(&self) -> Vec<SortItem> {
        let mut items = Vec::with_capacity(self.rows);
        for (bi, b) in self.batches.iter().enumerate() {
            items.extend((0..b.rows.len()).map(|i| SortItem {
                prefix: prefix_of(b.key(i)),
                batch: bi as u32,
                row: i as u32,
            }));
        }
        items
    }

    #[inline]
    fn key(&self, it: &SortItem) -> &[u8] {
        self.batches[it.batch as usize].key(it.row())
    }

    fn cmp_items(&self, a: &SortItem, b: &SortItem) -> Ordering {
        a.prefix
            .cmp(&b.prefix)
            .then_with(|| self.key(a).cmp(self.key(b)))
            .then_with(|| (a.batch, a.row).cmp(&(b.batch, b.row)))
    }

    /// Build the index and sort it by (row key, line), in parallel, in two steps: first by
    /// the inline (prefix, batch, row) alone (no arena access), then each run of equal
    /// prefixes by the whole key. Such runs are short and their keys usually neighbours in
    /// one arena (a session's events), often already in order, so the whole-key comparisons
    /// stay in cache instead of chasing two random keys per comparison of the big sort. The
    /// same pass marks items whose next item has the same key (`same_as_next` reads that
    /// bit).
    pub fn sort(&mut self) {
        let mut items = self.build_index();
        items.par_sort_unstable_by_key(|it| (it.prefix, it.batch, it.row));
        items
            .par_chunk_by_mut(|a, b| a.prefix == b.prefix)
            .for_each(|g| {
                if g.len() < 2 {
                    return;
                }
                if self.mark_same(g).is_err() {
                    g.sort_unstable_by(|a, b| self.cmp_items(a, b));
                    let _ = self.mark_same(g);
                }
            });
        self.items = items;
    }

    /// Set the same-key flags of a group of items with one prefix, if the group is in
    /// order; `Err` if it is not (the flags are then meaningless).
    fn mark_same(&self, g: &mut [SortItem]) -> std::result::Result<(), ()> {
        for i in 1..g.len() {
            let (a, b) = (&g[i - 1], &g[i]);
            let same = match self.key(a).cmp(self.key(b)) {
                Ordering::Less => false,
                Ordering::Equal if (a.batch, a.row()) < (b.batch, b.row()) => true,
                _ => return Err(()),
            };
            g[i - 1].row = g[i - 1].row() as u32 | if same { SAME_AS_NEXT } else { 0 };
        }
        if let Some(l) = g.last_mut() {
            l.row &= !SAME_AS_NEXT;
        }
        Ok(())
    }

    /// The `i`-th row in sorted order (after `sort`).
    #[inline]
    pub fn row(&self, i: usize) -> RowView<'_> {
        let it = &self.items[i];
        let b = &self.batches[it.batch as usize];
        let r = it.row();
        RowView {
            key: b.key(r),
            ts: b.ts(r),
            data: &b.arena,
            values: b.values(r),
        }
    }

    /// Split the sorted rows into at most `parts` ranges of roughly equal row counts,
    /// never separating rows with the same key.
    pub fn partitions(&self, parts: usize) -> Vec<std::ops::Range<usize>> {
        let n = self.items.len();
        let parts = parts.clamp(1, n.max(1));
        let mut cuts = vec![0];
        for p in 1..parts {
            let mut c = (n * p / parts).max(*cuts.last().unwrap_or(&0));
            while c > 0 && c < n && self.same_as_next(c - 1) {
                c += 1;
            }
            if c > *cuts.last().unwrap_or(&0) && c < n {
                cuts.push(c);
            }
        }
        cuts.push(n);
        cuts.windows(2).map(|w| w[0]..w[1]).collect()
    }

    /// The sorted rows with `lo <= key < hi` (after `sort`).
    pub fn range_for(&self, lo: Option<&[u8]>, hi: Option<&[u8]>) -> std::ops::Range<usize> {
        let start = lo.map_or(0, |lo| self.items.partition_point(|it| self.key(it) < lo));
        let end = hi.map_or(self.items.len(), |hi| {
            self.items.partition_point(|it| self.key(it) < hi)
        });
        start..end.max(start)
    }

    /// Every `INDEX_EVERY`-th key in sorted order: samples for choosing key ranges.
    pub fn sample_keys(&self) -> impl Iterator<Item = &[u8]> {
        self.items
            .iter()
            .step_by(INDEX_EVERY as usize)
            .map(|it| self.key(it))
    }

    /// Whether sorted row `i` has the same key as row `i + 1` (after `sort`).
    #[inline]
    pub fn same_as_next(&self, i: usize) -> bool {
        self.items
            .get(i)
            .is_some_and(|it| it.row & SAME_AS_NEXT != 0)
    }

    /// The timestamp of every row, if they all have the same one.
    fn common_ts(&self) -> Option<Timestamp> {
        let first = self.batches.iter().find(|b| !b.rows.is_empty())?.ts(0);
        if self
            .batches
            .iter()
            .all(|b| b.uniform_ts() && b.default_ts == first)
        {
            return Some(first);
        }
        self.batches
            .iter()
            .all(|b| (0..b.rows.len()).all(|r| b.ts(r) == first))
            .then_some(first)
    }

    /// Encode sorted rows `range` (dropping a row when the next one has the same key) into
    /// `out`; returns (index entries with offsets relative to `out`, rows, duplicates).
    fn encode(
        &self,
        range: std::ops::Range<usize>,
        common_ts: Option<Timestamp>,
        out: &mut Vec<u8>,
    ) -> (Vec<(Vec<u8>, u64)>, u64, u64) {
        out.clear();
        let (mut rows, mut dups) = (0u64, 0u64);
        let mut index = Vec::new();
        let mut head: Vec<u8> = Vec::with_capacity(64);
        for i in range {
            if self.same_as_next(i) {
                dups += 1;
                continue;
            }
            let it = &self.items[i];
            let b = &self.batches[it.batch as usize];
            let r = it.row();
            let meta = &b.rows[r];
            let (ko, kl) = meta.key;
            if rows.is_multiple_of(INDEX_EVERY) {
                index.push((b.key(r).to_vec(), out.len() as u64));
            }
            head.clear();
            if common_ts.is_none() {
                head.extend_from_slice(&b.ts(r).to_le_bytes());
            }
            put_varint(&mut head, u64::from(kl));
            let mut stored = 0usize;
            for &(o, l) in b.values(r) {
                if o >= ko && o - ko + l <= kl {
                    put_varint(&mut head, (u64::from(l) << 1) | 1);
                    put_varint(&mut head, u64::from(o - ko));
                } else {
                    put_varint(&mut head, u64::from(l) << 1);
                    stored += l as usize;
                }
            }
            put_varint(out, (head.len() + kl as usize + stored) as u64);
            out.extend_from_slice(&head);
            out.extend_from_slice(b.key(r));
            for &(o, l) in b.values(r) {
                if !(o >= ko && o - ko + l <= kl) {
                    out.extend_from_slice(&b.arena[o as usize..(o + l) as usize]);
                }
            }
            rows += 1;
        }
        (index, rows, dups)
    }

    /// Write the sorted rows to `path`, keeping only the last line of each key (the newer
    /// version). Segments are encoded in parallel while a writer thread writes the previous
    /// ones in order. Returns the run and the number of rows dropped as duplicates; the
    /// emptied batches go to `pool` for reuse.
    pub fn spill(self, path: &Path, pool: &mut Vec<Batch>) -> Result<(SpilledRun, u64)> {
        const SEGMENT_ROWS: usize = 16 * 1024;
        let io = |e| LoaderError::io(path, e);
        let f = File::create(path).map_err(io)?;
        let common_ts = self.common_ts();
        let mut index = Vec::new();
        let (mut offset, mut rows, mut dups) = (0u64, 0u64, 0u64);
        let n = self.items.len();
        let segments = n.div_ceil(SEGMENT_ROWS);
        let window = rayon::current_num_threads().max(1) * 2;
        std::thread::scope(|scope| -> Result<()> {
            // Encoded segments go to the writer thread and come back empty for reuse, so at
            // most 2 windows of segments exist at a time.
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(window);
            let (back_tx, back_rx) = std::sync::mpsc::channel::<Vec<u8>>();
            let writer = scope.spawn(move || -> std::io::Result<()> {
                let mut w = BufWriter::with_capacity(1 << 20, f);
                for buf in rx {
                    w.write_all(&buf)?;
                    let _ = back_tx.send(buf);
                }
                w.flush()
            });
            let mut s = 0;
            let mut bufs: Vec<Vec<u8>> = Vec::new();
            while s < segments {
                let end = (s + window).min(segments);
                bufs.extend(back_rx.try_iter());
                bufs.resize_with(bufs.len().max(end - s), Vec::new);
                let done: Vec<_> = (s..end)
                    .into_par_iter()
                    .zip(bufs.par_drain(..end - s))
                    .map(|(seg, mut buf)| {
                        let r = seg * SEGMENT_ROWS..((seg + 1) * SEGMENT_ROWS).min(n);
                        let (idx, r, d) = self.encode(r, common_ts, &mut buf);
                        (idx, r, d, buf)
                    })
                    .collect();
                for (idx, r, d, buf) in done {
                    index.extend(idx.into_iter().map(|(k, o)| (k, o + offset)));
                    offset += buf.len() as u64;
                    rows += r;
                    dups += d;
                    if tx.send(buf).is_err() {
                        break; // the writer failed; its error is reported below
                    }
                }
                s = end;
            }
            drop(tx);
            match writer.join() {
                Ok(r) => r.map_err(io),
                Err(_) => Err(LoaderError::io(
                    path,
                    std::io::Error::other("run writer thread panicked"),
                )),
            }
        })?;
        pool.extend(self.batches.into_iter().map(|mut b| {
            b.clear();
            b
        }));
        Ok((
            SpilledRun {
                path: path.to_path_buf(),
                index,
                rows,
                bytes: offset,
                common_ts,
            },
            dups,
        ))
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Decode a varint at `*pos` of `buf`, advancing `pos`; `None` if truncated or too long.
#[inline]
fn get_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// A sorted run on disk.
#[derive(Debug)]
pub struct SpilledRun {
    /// The run file.
    pub path: PathBuf,
    /// (key, byte offset) of every `INDEX_EVERY`-th row.
    pub index: Vec<(Vec<u8>, u64)>,
    /// Rows in the file.
    pub rows: u64,
    /// Size of the file.
    pub bytes: u64,
    /// The timestamp of every row when they share one (then rows do not store it).
    pub common_ts: Option<Timestamp>,
}

/// Bytes a run reader reads at a time (and its buffer's usual size).
const READ_BUF: usize = 1 << 20;

/// Reads a spilled run from a start key (inclusive) to an end key (exclusive). Rows are
/// decoded in place in one buffer; the current row stays valid until `advance`.
#[derive(Debug)]
pub struct RunReader<'a> {
    run: &'a SpilledRun,
    file: File,
    /// File bytes not yet read into `buf`.
    unread: u64,
    end: Option<Vec<u8>>,
    buf: Vec<u8>,
    /// Valid bytes in `buf`.
    filled: usize,
    /// Start of the current row's record in `buf`, and the record's length.
    rec: usize,
    rec_len: usize,
    /// The current row's body (key, then stored values) in `buf`.
    body: usize,
    body_len: usize,
    key_len: usize,
    values: Vec<ByteRange>,
    ts: Timestamp,
    valid: bool,
}

impl<'a> RunReader<'a> {
    /// Open `run` positioned at the first row with key >= `start`.
    pub fn open(
        run: &'a SpilledRun,
        cells: usize,
        start: Option<&[u8]>,
        end: Option<Vec<u8>>,
    ) -> Result<Self> {
        let mut file = File::open(&run.path).map_err(|e| LoaderError::io(&run.path, e))?;
        let mut offset = 0;
        if let Some(s) = start {
            let i = run.index.partition_point(|(k, _)| k.as_slice() < s);
            if i > 0 {
                offset = run.index[i - 1].1;
            }
        }
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| LoaderError::io(&run.path, e))?;
        let mut me = RunReader {
            run,
            file,
            unread: run.bytes.saturating_sub(offset),
            end,
            buf: vec![0; READ_BUF],
            filled: 0,
            rec: 0,
            rec_len: 0,
            body: 0,
            body_len: 0,
            key_len: 0,
            values: vec![(0, 0); cells],
            ts: 0,
            valid: false,
        };
        me.advance()?;
        if let Some(s) = start {
            while me.valid && me.key() < s {
                me.advance()?;
            }
        }
        Ok(me)
    }

    fn corrupt(&self, what: &str) -> LoaderError {
        LoaderError::CorruptRun {
            path: self.run.path.clone(),
            what: what.to_string(),
        }
    }

    #[inline]
    fn key(&self) -> &[u8] {
        &self.buf[self.body..self.body + self.key_len]
    }

    /// Make `buf[rec..]` hold at least `need` bytes (fewer only at the end of the file).
    fn fill(&mut self, need: usize) -> Result<()> {
        if self.filled - self.rec >= need || self.unread == 0 {
            return Ok(());
        }
        self.buf.copy_within(self.rec..self.filled, 0);
        self.filled -= self.rec;
        self.rec = 0;
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
        while self.filled < need && self.unread > 0 {
            let room = (self.buf.len() - self.filled)
                .min(usize::try_from(self.unread).unwrap_or(usize::MAX));
            let n = self
                .file
                .read(&mut self.buf[self.filled..self.filled + room])
                .map_err(|e| LoaderError::io(&self.run.path, e))?;
            if n == 0 {
                return Err(self.corrupt("file shorter than the run"));
            }
            self.filled += n;
            self.unread -= n as u64;
        }
        Ok(())
    }

    /// Move to the next row.
    pub fn advance(&mut self) -> Result<()> {
        self.valid = false;
        self.rec += self.rec_len;
        self.rec_len = 0;
        if self.rec >= self.filled && self.unread == 0 {
            self.rec = self.filled;
            return Ok(());
        }
        self.fill(10)?;
        let mut pos = self.rec;
        let rest = get_varint(&self.buf[..self.filled], &mut pos)
            .ok_or_else(|| self.corrupt("bad row length"))?;
        let head = pos - self.rec;
        let rest = usize::try_from(rest)
            .ok()
            .filter(|&r| (self.filled - pos) as u64 + self.unread >= r as u64)
            .ok_or_else(|| self.corrupt("row runs past the end of the run"))?;
        self.fill(head + rest)?;
        let rec_end = self.rec + head + rest;
        let mut pos = self.rec + head;
        let buf = &self.buf[..rec_end];
        self.ts = match self.run.common_ts {
            Some(ts) => ts,
            None => {
                let b = buf
                    .get(pos..pos + 8)
                    .ok_or_else(|| self.corrupt("row too short for its timestamp"))?;
                pos += 8;
                let mut b8 = [0u8; 8];
                b8.copy_from_slice(b);
                i64::from_le_bytes(b8)
            }
        };
        let bad = || LoaderError::CorruptRun {
            path: self.run.path.clone(),
            what: "bad row header".into(),
        };
        let key_len = get_varint(buf, &mut pos)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(bad)?;
        let mut stored = key_len;
        for v in self.values.iter_mut() {
            let d = get_varint(buf, &mut pos)
                .and_then(|v| u32::try_from(v >> 1).ok().map(|l| (l, v & 1 == 1)))
                .ok_or_else(bad)?;
            *v = match d {
                (l, true) => {
                    let o = get_varint(buf, &mut pos)
                        .and_then(|o| u32::try_from(o).ok())
                        .filter(|&o| o.checked_add(l).is_some_and(|e| e <= key_len))
                        .ok_or_else(bad)?;
                    (o, l)
                }
                (l, false) => {
                    let o = stored;
                    stored = stored.checked_add(l).ok_or_else(bad)?;
                    (o, l)
                }
            };
        }
        if pos + stored as usize != rec_end {
            return Err(self.corrupt("row lengths do not add up"));
        }
        self.rec_len = head + rest;
        self.body = pos;
        self.body_len = stored as usize;
        self.key_len = key_len as usize;
        self.valid = match &self.end {
            Some(e) => self.key() < e.as_slice(),
            None => true,
        };
        if !self.valid {
            self.unread = 0;
            self.filled = self.rec;
            self.rec_len = 0;
        }
        Ok(())
    }

    /// The current row, if any.
    pub fn current(&self) -> Option<RowView<'_>> {
        self.valid.then(|| RowView {
            key: self.key(),
            ts: self.ts,
            data: &self.buf[self.body..self.body + self.body_len],
            values: &self.values,
        })
    }
}
