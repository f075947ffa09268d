//! Reads one SSTable through mmap: open (footer, meta block, bloom), point gets of whole
//! rows, ordered iteration over selected families, and full checksum verification.
//!
//! Every block goes through [`TableReader`]'s private `read_block` (the seam for the block
//! cache: decoded blocks keyed by file and block offset). This module must never return
//! data from a block whose checksum or structure failed to check: it returns
//! `Error::Corruption` naming the file and the block's offset. It never writes files.

use std::cell::RefCell;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::bloom::BloomFilter;
use crate::cell::{InternalCell, SeqNo};
use crate::error::{Error, Result};

use super::TableProperties;
use super::block::{FamilyBlock, KeyBlock, decode_family_block, decode_key_block};
use super::format::{
    BlockHandle, COMPRESSION_NONE, COMPRESSION_ZSTD, FOOTER_LEN, FamilyMeta, Footer, KeyIndexEntry,
    Meta, TRAILER_LEN, block_crc,
};

thread_local! {
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { RefCell::new(None) };
}

/// A block after checksum, decompression and decoding: what a block cache would hold.
#[derive(Clone, Debug)]
enum DecodedBlock {
    Key(Arc<KeyBlock>),
    Family(Arc<FamilyBlock>),
}

/// Which block to read, by position in the in-memory indexes.
#[derive(Clone, Copy, Debug)]
enum BlockRef {
    Key(usize),
    Family { family: usize, block: usize },
}

struct FamilyEntry {
    meta: FamilyMeta,
    blocks_read: AtomicU64,
}

struct Inner {
    path: PathBuf,
    /// The whole file (mmap-backed).
    data: Bytes,
    props: TableProperties,
    global_seq: Option<SeqNo>,
    bloom: Option<BloomFilter>,
    key_index: Vec<KeyIndexEntry>,
    families: Vec<FamilyEntry>,
    key_blocks_read: AtomicU64,
    meta_handle: BlockHandle,
    bloom_handle: Option<BlockHandle>,
}

/// An open SSTable. Cloning is cheap (shared).
#[derive(Clone)]
pub struct TableReader(Arc<Inner>);

impl std::fmt::Debug for TableReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableReader")
            .field("path", &self.0.path)
            .field("rows", &self.0.props.rows)
            .field("cells", &self.0.props.cells)
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn corruption(&self, offset: u64, what: impl Into<String>) -> Error {
        Error::corruption(&self.path, offset, what)
    }

    /// Check a block's trailer and checksum and return its uncompressed payload: a slice of
    /// the mapping for raw blocks, a fresh buffer for zstd blocks.
    fn read_raw(&self, h: BlockHandle, what: &str) -> Result<Bytes> {
        let bad = |msg: String| self.corruption(h.offset, format!("{what}: {msg}"));
        let end = h
            .end()
            .filter(|&e| e <= self.data.len() as u64)
            .ok_or_else(|| bad(format!("block of {} bytes runs past the file end", h.size)))?;
        let (start, pend) = (h.offset as usize, (end as usize) - TRAILER_LEN);
        let (Some(payload), Some(trailer)) = (
            self.data.get(start..pend),
            self.data.get(pend..end as usize),
        ) else {
            return Err(bad("block out of range".into()));
        };
        let mut t = crate::codec::Reader::new(trailer);
        let (ctype, ulen, crc) = match (t.u8(), t.fixed32(), t.fixed32()) {
            (Ok(a), Ok(b), Ok(c)) => (a, b, c),
            _ => return Err(bad("short trailer".into())),
        };
        let computed = block_crc(payload, ctype, ulen);
        if computed != crc {
            return Err(bad(format!(
                "checksum mismatch (stored {crc:#010x}, computed {computed:#010x})"
            )));
        }
        match ctype {
            COMPRESSION_NONE => {
                if ulen as usize != payload.len() {
                    return Err(bad("raw block length differs from its trailer".into()));
                }
                Ok(self.data.slice(start..pend))
            }
            COMPRESSION_ZSTD => DECOMPRESSOR.with(|cell| {
                let mut slot = cell.borrow_mut();
                if slot.is_none() {
                    *slot = Some(
                        zstd::bulk::Decompressor::new().map_err(|e| Error::io(&self.path, e))?,
                    );
                }
                let Some(d) = slot.as_mut() else {
                    return Err(bad("no zstd context".into()));
                };
                let mut out = Vec::with_capacity(ulen as usize);
                match d.decompress_to_buffer(payload, &mut out) {
                    Ok(n) if n == ulen as usize => Ok(Bytes::from(out)),
                    Ok(n) => Err(bad(format!(
                        "decompressed to {n} bytes, trailer says {ulen}"
                    ))),
                    Err(e) => Err(bad(format!("zstd could not decode the block: {e}"))),
                }
            }),
            other => Err(bad(format!("unknown compression type {other}"))),
        }
    }

    /// Rows covered by key block `i`.
    fn key_block_count(&self, i: usize) -> u64 {
        let first = self.key_index.get(i).map_or(0, |e| e.first_ordinal);
        let next = self
            .key_index
            .get(i + 1)
            .map_or(self.props.rows, |e| e.first_ordinal);
        next.saturating_sub(first)
    }

    /// The one path every data block read takes (the block cache's seam).
    fn read_block(&self, which: BlockRef) -> Result<DecodedBlock> {
        match which {
            BlockRef::Key(i) => {
                let e = self
                    .key_index
                    .get(i)
                    .ok_or_else(|| self.corruption(0, format!("no key block {i}")))?;
                let payload = self.read_raw(e.handle, "key block")?;
                self.key_blocks_read.fetch_add(1, Ordering::Relaxed);
                let count = usize::try_from(self.key_block_count(i)).unwrap_or(usize::MAX);
                let blk = decode_key_block(&payload, e.first_ordinal, count)
                    .map_err(|d| d.into_corruption(&self.path, e.handle.offset, "key block"))?;
                if blk.key(blk.len().saturating_sub(1)) != &e.last_key[..] {
                    return Err(self.corruption(
                        e.handle.offset,
                        "key block: last key differs from the index",
                    ));
                }
                Ok(DecodedBlock::Key(Arc::new(blk)))
            }
            BlockRef::Family { family, block } => {
                let f = self
                    .families
                    .get(family)
                    .ok_or_else(|| self.corruption(0, format!("no family {family}")))?;
                let e = f.meta.index.get(block).ok_or_else(|| {
                    self.corruption(0, format!("no block {block} in {}", f.meta.props.name))
                })?;
                let context = format!("block of family {}", f.meta.props.name);
                let payload = self.read_raw(e.handle, &context)?;
                f.blocks_read.fetch_add(1, Ordering::Relaxed);
                let blk = decode_family_block(payload, e.first_ordinal, e.last_ordinal)
                    .map_err(|d| d.into_corruption(&self.path, e.handle.offset, &context))?;
                Ok(DecodedBlock::Family(Arc::new(blk)))
            }
        }
    }

    fn key_block(&self, i: usize) -> Result<Arc<KeyBlock>> {
        match self.read_block(BlockRef::Key(i))? {
            DecodedBlock::Key(b) => Ok(b),
            DecodedBlock::Family(_) => Err(self.corruption(0, "expected a key block")),
        }
    }

    fn family_block(&self, family: usize, block: usize) -> Result<Arc<FamilyBlock>> {
        match self.read_block(BlockRef::Family { family, block })? {
            DecodedBlock::Family(b) => Ok(b),
            DecodedBlock::Key(_) => Err(self.corruption(0, "expected a family block")),
        }
    }

    /// Indexes of the selected families, in name order.
    fn select(&self, families: Option<&[Arc<str>]>) -> Vec<usize> {
        (0..self.families.len())
            .filter(|&i| match families {
                None => true,
                Some(sel) => {
                    let name = &self.families[i].meta.props.name;
                    sel.iter().any(|s| s == name)
                }
            })
            .collect()
    }

    /// The ordinal of the first row within `start` (`rows` if none).
    fn seek_ordinal(&self, start: Bound<&[u8]>) -> Result<u64> {
        let (key, exclusive) = match start {
            Bound::Unbounded => return Ok(0),
            Bound::Included(k) => (k, false),
            Bound::Excluded(k) => (k, true),
        };
        // First key block whose last key is within the bound.
        let i = self.key_index.partition_point(|e| {
            if exclusive {
                &e.last_key[..] <= key
            } else {
                &e.last_key[..] < key
            }
        });
        if i >= self.key_index.len() {
            return Ok(self.props.rows);
        }
        let blk = self.key_block(i)?;
        Ok(blk.first_ordinal + blk.lower_bound(key, exclusive) as u64)
    }
}

impl TableReader {
    /// mmap the file, check footer magic/version/crc, parse the meta block and load the
    /// bloom filter. `global_seq: Some(s)` makes every cell read report seq `s` (files
    /// adopted by bulk ingest get one seq per file).
    pub fn open(path: &Path, global_seq: Option<SeqNo>) -> Result<TableReader> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if len < FOOTER_LEN as u64 {
            return Err(Error::corruption(
                path,
                0,
                format!("file is {len} bytes, shorter than the {FOOTER_LEN}-byte footer"),
            ));
        }
        // SAFETY: table files are immutable once finished (written, fsynced, then only read
        // or unlinked); nothing truncates or rewrites a file that may be mapped, which is
        // the condition under which reading through the map is sound.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let data = Bytes::from_owner(map);
        let footer_at = len - FOOTER_LEN as u64;
        let footer_bytes = data.get(footer_at as usize..).unwrap_or(&[]);
        let footer =
            Footer::decode(footer_bytes).map_err(|m| Error::corruption(path, footer_at, m))?;
        if footer.meta.end() != Some(footer_at) {
            return Err(Error::corruption(
                path,
                footer_at,
                format!(
                    "footer's meta block (offset {}, size {}) does not end at the footer",
                    footer.meta.offset, footer.meta.size
                ),
            ));
        }
        let mut inner = Inner {
            path: path.to_path_buf(),
            data,
            props: TableProperties::default(),
            global_seq,
            bloom: None,
            key_index: Vec::new(),
            families: Vec::new(),
            key_blocks_read: AtomicU64::new(0),
            meta_handle: footer.meta,
            bloom_handle: None,
        };
        let meta_bytes = inner.read_raw(footer.meta, "meta block")?;
        let meta = Meta::decode(&meta_bytes, footer.meta.offset)
            .map_err(|m| Error::corruption(path, footer.meta.offset, m))?;
        inner.bloom_handle = meta.bloom;
        if let Some(h) = meta.bloom {
            let b = inner.read_raw(h, "bloom filter")?;
            inner.bloom = Some(
                BloomFilter::from_bytes(&b).map_err(|m| Error::corruption(path, h.offset, m))?,
            );
        }
        inner.props = meta.props;
        inner.props.format_version = footer.version;
        inner.props.file_size = len;
        inner.key_index = meta.key_index;
        inner.families = meta
            .families
            .into_iter()
            .map(|meta| FamilyEntry {
                meta,
                blocks_read: AtomicU64::new(0),
            })
            .collect();
        Ok(TableReader(Arc::new(inner)))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.0.path
    }

    /// Properties stored in the file (with `file_size` and `format_version`).
    pub fn properties(&self) -> &TableProperties {
        &self.0.props
    }

    /// Bloom check: false if the file certainly has no cell of `row` (true without bloom).
    pub fn may_contain_row(&self, row: &[u8]) -> bool {
        self.0.bloom.as_ref().is_none_or(|b| b.may_contain(row))
    }

    /// All cells of one row for the selected families (`None`: every family in the file),
    /// in internal order. Empty if the row is absent.
    pub fn get_row(&self, row: &[u8], families: Option<&[Arc<str>]>) -> Result<Vec<InternalCell>> {
        let inner = &*self.0;
        let mut out = Vec::new();
        if !self.may_contain_row(row) {
            return Ok(out);
        }
        let i = inner.key_index.partition_point(|e| &e.last_key[..] < row);
        if i >= inner.key_index.len() {
            return Ok(out);
        }
        let kb = inner.key_block(i)?;
        let Some(pos) = kb.find(row) else {
            return Ok(out);
        };
        let ordinal = kb.first_ordinal + pos as u64;
        let row_bytes = kb.key_bytes(pos);
        for fi in inner.select(families) {
            let fam = &inner.families[fi];
            let name = &fam.meta.props.name;
            let index = &fam.meta.index;
            let mut b = index.partition_point(|e| e.last_ordinal < ordinal);
            while index.get(b).is_some_and(|e| e.first_ordinal <= ordinal) {
                let blk = inner.family_block(fi, b)?;
                for c in blk.cells[blk.seek(ordinal)..]
                    .iter()
                    .take_while(|c| c.ordinal == ordinal)
                {
                    out.push(InternalCell {
                        row: row_bytes.clone(),
                        family: name.clone(),
                        kind: c.kind,
                        qualifier: blk.qualifier(c),
                        ts: c.ts,
                        seq: inner.global_seq.unwrap_or(c.seq),
                        value: blk.value(c),
                    });
                }
                b += 1;
            }
        }
        Ok(out)
    }

    /// Cells in internal order starting at the first row within `start`, for the selected
    /// families (`None`: all); the caller stops at its own upper bound.
    pub fn iter(&self, start: Bound<&[u8]>, families: Option<&[Arc<str>]>) -> Result<TableIter> {
        let inner = &self.0;
        let start_ord = inner.seek_ordinal(start)?;
        let fams = inner
            .select(families)
            .into_iter()
            .map(|fi| {
                let meta = &inner.families[fi].meta;
                FamCursor {
                    family: fi,
                    name: meta.props.name.clone(),
                    next_block: meta.index.partition_point(|e| e.last_ordinal < start_ord),
                    block: None,
                    pos: 0,
                    min_ordinal: start_ord,
                }
            })
            .collect();
        Ok(TableIter {
            inner: inner.clone(),
            fams,
            key_block: None,
            cur: None,
            fam_pos: 0,
            done: false,
        })
    }

    /// Read, checksum and decode every block of the file.
    pub fn verify_checksums(&self) -> Result<()> {
        let inner = &*self.0;
        for i in 0..inner.key_index.len() {
            inner.key_block(i)?;
        }
        for (fi, f) in inner.families.iter().enumerate() {
            for b in 0..f.meta.index.len() {
                inner.family_block(fi, b)?;
            }
        }
        inner.read_raw(inner.meta_handle, "meta block")?;
        if let Some(h) = inner.bloom_handle {
            inner.read_raw(h, "bloom filter")?;
        }
        Ok(())
    }

    /// Family blocks read since open, per family in name order.
    pub fn blocks_read(&self) -> Vec<(Arc<str>, u64)> {
        self.0
            .families
            .iter()
            .map(|f| {
                (
                    f.meta.props.name.clone(),
                    f.blocks_read.load(Ordering::Relaxed),
                )
            })
            .collect()
    }

    /// Key blocks read since open.
    pub fn key_blocks_read(&self) -> u64 {
        self.0.key_blocks_read.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub(crate) fn family_block_handle(&self, family: usize, block: usize) -> BlockHandle {
        self.0.families[family].meta.index[block].handle
    }

    #[cfg(test)]
    pub(crate) fn meta_block_handle(&self) -> BlockHandle {
        self.0.meta_handle
    }
}

struct FamCursor {
    family: usize,
    name: Arc<str>,
    next_block: usize,
    block: Option<Arc<FamilyBlock>>,
    pos: usize,
    /// Cells of lower ordinals are before the iterator's start.
    min_ordinal: u64,
}

impl FamCursor {
    /// The next cell's ordinal, loading blocks as needed; `None` at the family's end.
    #[inline]
    fn peek(&mut self, inner: &Inner) -> Result<Option<u64>> {
        loop {
            if let Some(b) = &self.block
                && let Some(c) = b.cells.get(self.pos)
            {
                return Ok(Some(c.ordinal));
            }
            if self.next_block >= inner.families[self.family].meta.index.len() {
                self.block = None;
                return Ok(None);
            }
            let b = inner.family_block(self.family, self.next_block)?;
            self.next_block += 1;
            self.pos = b.seek(self.min_ordinal);
            self.block = Some(b);
        }
    }
}

/// Iterates an SSTable's cells in internal order. Yields at most one error, then ends.
pub struct TableIter {
    inner: Arc<Inner>,
    fams: Vec<FamCursor>,
    key_block: Option<Arc<KeyBlock>>,
    /// Ordinal and key of the row being emitted.
    cur: Option<(u64, Bytes)>,
    fam_pos: usize,
    done: bool,
}

impl std::fmt::Debug for TableIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableIter")
            .field("path", &self.inner.path)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl TableIter {
    fn row_key(&mut self, ordinal: u64) -> Result<Bytes> {
        if let Some(b) = &self.key_block
            && ordinal >= b.first_ordinal
            && ordinal - b.first_ordinal < b.len() as u64
        {
            return Ok(b.key_bytes((ordinal - b.first_ordinal) as usize));
        }
        let i = self
            .inner
            .key_index
            .partition_point(|e| e.first_ordinal <= ordinal)
            .saturating_sub(1);
        let b = self.inner.key_block(i)?;
        if ordinal < b.first_ordinal || ordinal - b.first_ordinal >= b.len() as u64 {
            return Err(self.inner.corruption(
                self.inner.key_index.get(i).map_or(0, |e| e.handle.offset),
                format!("row ordinal {ordinal} has no key"),
            ));
        }
        let key = b.key_bytes((ordinal - b.first_ordinal) as usize);
        self.key_block = Some(b);
        Ok(key)
    }

    fn advance(&mut self) -> Result<Option<InternalCell>> {
        loop {
            if let Some((ordinal, row)) = &self.cur {
                while let Some(f) = self.fams.get_mut(self.fam_pos) {
                    if f.peek(&self.inner)? == Some(*ordinal)
                        && let Some(b) = &f.block
                        && let Some(c) = b.cells.get(f.pos)
                    {
                        let cell = InternalCell {
                            row: row.clone(),
                            family: f.name.clone(),
                            kind: c.kind,
                            qualifier: b.qualifier(c),
                            ts: c.ts,
                            seq: self.inner.global_seq.unwrap_or(c.seq),
                            value: b.value(c),
                        };
                        f.pos += 1;
                        return Ok(Some(cell));
                    }
                    self.fam_pos += 1;
                }
                self.cur = None;
            }
            let mut next: Option<u64> = None;
            for f in &mut self.fams {
                if let Some(o) = f.peek(&self.inner)? {
                    next = Some(next.map_or(o, |n| n.min(o)));
                }
            }
            let Some(ordinal) = next else {
                return Ok(None);
            };
            let row = self.row_key(ordinal)?;
            self.cur = Some((ordinal, row));
            self.fam_pos = 0;
        }
    }
}

impl Iterator for TableIter {
    type Item = Result<InternalCell>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.advance() {
            Ok(Some(c)) => Some(Ok(c)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
