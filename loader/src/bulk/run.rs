//! Sorted runs: the in-memory run (parsed batches plus a sort index ordered by
//! (row key, line)) and runs spilled to disk for the external merge sort, with a sparse key
//! index so a merge can start at any key. Owns the spill file format:
//! per row `u32 key_len | u64 line | i64 ts | u32 value_len × cells | key | values` (LE).
//! It must never change the relative order of equal keys (later lines must stay later).

use std::cmp::Ordering;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use strata_engine::Timestamp;

use super::batch::{Batch, Span};
use crate::error::{LoaderError, Result};

/// A sparse index entry every this many rows of a spilled run.
const INDEX_EVERY: u64 = 512;

/// A row of the sort index: the key's first 8 bytes (big-endian, zero padded) and where the
/// row lives. Ties on the prefix fall back to the full key, then to (batch, row): file order.
#[derive(Clone, Copy, Debug)]
pub struct SortItem {
    prefix: u64,
    batch: u32,
    row: u32,
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
    items: Vec<SortItem>,
    mem: u64,
}

/// A row as the merge sees it: key, line, timestamp and value spans into `data`.
#[derive(Clone, Copy, Debug)]
pub struct RowView<'a> {
    /// Row key.
    pub key: &'a [u8],
    /// Line in the input.
    pub line: u64,
    /// Cell timestamp.
    pub ts: Timestamp,
    /// Bytes the spans point into.
    pub data: &'a [u8],
    /// Value spans, in the mapping's cell order.
    pub values: &'a [Span],
}

impl MemRun {
    /// Add a parsed batch (its rejects must have been taken out).
    pub fn push(&mut self, b: Batch) {
        let bi = self.batches.len() as u32;
        self.items.reserve(b.rows.len());
        for i in 0..b.rows.len() {
            self.items.push(SortItem {
                prefix: prefix_of(b.key(i)),
                batch: bi,
                row: i as u32,
            });
        }
        self.mem += b.mem_bytes();
        self.batches.push(b);
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Heap bytes held (batches and the sort index).
    pub fn mem_bytes(&self) -> u64 {
        self.mem + (self.items.capacity() * std::mem::size_of::<SortItem>()) as u64
    }

    #[inline]
    fn key(&self, it: &SortItem) -> &[u8] {
        self.batches[it.batch as usize].key(it.row as usize)
    }

    fn cmp_items(&self, a: &SortItem, b: &SortItem) -> Ordering {
        a.prefix
            .cmp(&b.prefix)
            .then_with(|| self.key(a).cmp(self.key(b)))
            .then_with(|| (a.batch, a.row).cmp(&(b.batch, b.row)))
    }

    /// Sort by (row key, line), in parallel.
    pub fn sort(&mut self) {
        let mut items = std::mem::take(&mut self.items);
        items.par_sort_unstable_by(|a, b| self.cmp_items(a, b));
        self.items = items;
    }

    /// The `i`-th row in sorted order (after `sort`).
    #[inline]
    pub fn row(&self, i: usize) -> RowView<'_> {
        let it = &self.items[i];
        let b = &self.batches[it.batch as usize];
        let r = it.row as usize;
        RowView {
            key: b.key(r),
            line: b.rows[r].line,
            ts: b.rows[r].ts,
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
            while c > 0 && c < n && self.key(&self.items[c]) == self.key(&self.items[c - 1]) {
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

    /// Whether sorted rows `i` and `j` have the same key (prefix first: no arena access when
    /// the prefixes differ).
    #[inline]
    pub fn same_key(&self, i: usize, j: usize) -> bool {
        let (a, b) = (&self.items[i], &self.items[j]);
        a.prefix == b.prefix && self.key(a) == self.key(b)
    }

    /// Encode sorted rows `range` (dropping a row when the next one has the same key) into
    /// `out`; returns (index entries with offsets relative to `out`, rows, duplicates).
    fn encode(
        &self,
        range: std::ops::Range<usize>,
        out: &mut Vec<u8>,
    ) -> (Vec<(Vec<u8>, u64)>, u64, u64) {
        out.clear();
        let n = self.items.len();
        let (mut rows, mut dups) = (0u64, 0u64);
        let mut index = Vec::new();
        for i in range {
            if i + 1 < n && self.same_key(i, i + 1) {
                dups += 1;
                continue;
            }
            let r = self.row(i);
            if rows.is_multiple_of(INDEX_EVERY) {
                index.push((r.key.to_vec(), out.len() as u64));
            }
            out.extend_from_slice(&(r.key.len() as u32).to_le_bytes());
            out.extend_from_slice(&r.line.to_le_bytes());
            out.extend_from_slice(&r.ts.to_le_bytes());
            for &(_, l) in r.values {
                out.extend_from_slice(&l.to_le_bytes());
            }
            out.extend_from_slice(r.key);
            for &(o, l) in r.values {
                out.extend_from_slice(&r.data[o as usize..(o + l) as usize]);
            }
            rows += 1;
        }
        (index, rows, dups)
    }

    /// Write the sorted rows to `path`, keeping only the last line of each key (the newer
    /// version). Segments are encoded in parallel and written in order. Returns the run and
    /// the number of rows dropped as duplicates; the emptied batches go to `pool` for reuse.
    pub fn spill(self, path: &Path, pool: &mut Vec<Batch>) -> Result<(SpilledRun, u64)> {
        const SEGMENT_ROWS: usize = 16 * 1024;
        let io = |e| LoaderError::io(path, e);
        let f = File::create(path).map_err(io)?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        let mut index = Vec::new();
        let (mut offset, mut rows, mut dups) = (0u64, 0u64, 0u64);
        let n = self.items.len();
        let segments = n.div_ceil(SEGMENT_ROWS);
        let window = rayon::current_num_threads().max(1) * 2;
        let mut bufs: Vec<Vec<u8>> = vec![Vec::new(); window.min(segments)];
        let mut s = 0;
        while s < segments {
            let end = (s + window).min(segments);
            let done: Vec<_> = (s..end)
                .into_par_iter()
                .zip(bufs.par_iter_mut())
                .map(|(seg, buf)| {
                    let r = seg * SEGMENT_ROWS..((seg + 1) * SEGMENT_ROWS).min(n);
                    self.encode(r, buf)
                })
                .collect();
            for ((idx, r, d), buf) in done.into_iter().zip(&bufs) {
                index.extend(idx.into_iter().map(|(k, o)| (k, o + offset)));
                w.write_all(buf).map_err(io)?;
                offset += buf.len() as u64;
                rows += r;
                dups += d;
            }
            s = end;
        }
        w.flush().map_err(io)?;
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
            },
            dups,
        ))
    }
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
}

/// Reads a spilled run from a start key (inclusive) to an end key (exclusive).
#[derive(Debug)]
pub struct RunReader<'a> {
    run: &'a SpilledRun,
    r: BufReader<File>,
    cells: usize,
    remaining: u64,
    end: Option<Vec<u8>>,
    buf: Vec<u8>,
    lens: Vec<u8>,
    values: Vec<Span>,
    key_len: usize,
    line: u64,
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
        let f = File::open(&run.path).map_err(|e| LoaderError::io(&run.path, e))?;
        let mut r = BufReader::with_capacity(1 << 20, f);
        let mut offset = 0;
        if let Some(s) = start {
            let i = run.index.partition_point(|(k, _)| k.as_slice() < s);
            if i > 0 {
                offset = run.index[i - 1].1;
            }
        }
        r.seek(SeekFrom::Start(offset))
            .map_err(|e| LoaderError::io(&run.path, e))?;
        let mut me = RunReader {
            run,
            r,
            cells,
            remaining: run.bytes - offset,
            end,
            buf: Vec::new(),
            lens: vec![0; 4 * cells],
            values: vec![(0, 0); cells],
            key_len: 0,
            line: 0,
            ts: 0,
            valid: false,
        };
        me.advance()?;
        if let Some(s) = start {
            while me.valid && &me.buf[..me.key_len] < s {
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

    /// Move to the next row.
    pub fn advance(&mut self) -> Result<()> {
        self.valid = false;
        if self.remaining == 0 {
            return Ok(());
        }
        let head_len = 20 + 4 * self.cells;
        let mut head = [0u8; 20];
        let io = |e| LoaderError::io(&self.run.path, e);
        self.r.read_exact(&mut head).map_err(io)?;
        let key_len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let mut b8 = [0u8; 8];
        b8.copy_from_slice(&head[4..12]);
        self.line = u64::from_le_bytes(b8);
        b8.copy_from_slice(&head[12..20]);
        self.ts = i64::from_le_bytes(b8);
        self.r.read_exact(&mut self.lens).map_err(io)?;
        let lens = &self.lens;
        let mut total = key_len;
        let mut off = key_len as u32;
        for (i, v) in self.values.iter_mut().enumerate() {
            let l = u32::from_le_bytes([
                lens[4 * i],
                lens[4 * i + 1],
                lens[4 * i + 2],
                lens[4 * i + 3],
            ]);
            *v = (off, l);
            off = off.checked_add(l).ok_or_else(|| LoaderError::CorruptRun {
                path: self.run.path.clone(),
                what: "row too large".into(),
            })?;
            total += l as usize;
        }
        let rec_len = (head_len + total) as u64;
        if rec_len > self.remaining {
            return Err(self.corrupt("row runs past the end of the run"));
        }
        self.buf.resize(total, 0);
        self.r.read_exact(&mut self.buf).map_err(io)?;
        self.remaining -= rec_len;
        self.key_len = key_len;
        self.valid = match &self.end {
            Some(e) => &self.buf[..key_len] < e.as_slice(),
            None => true,
        };
        if !self.valid {
            self.remaining = 0;
        }
        Ok(())
    }

    /// The current row, if any.
    pub fn current(&self) -> Option<RowView<'_>> {
        self.valid.then(|| RowView {
            key: &self.buf[..self.key_len],
            line: self.line,
            ts: self.ts,
            data: &self.buf,
            values: &self.values,
        })
    }
}
