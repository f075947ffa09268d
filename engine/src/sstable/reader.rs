//! Reads one SSTable through mmap: open (footer, meta block, bloom), point gets of whole
//! rows, ordered iteration over selected families, and full checksum verification.
//!
//! Every data block goes through `Inner::key_block` / `Inner::family_block`, which consult
//! the store's shared [`BlockCache`] (decoded blocks keyed by this reader's process-unique
//! file id and the block offset) before reading, checking and decoding the block. The key
//! index, the family block indexes and the bloom filter are decoded at open and live in the
//! reader for its whole life (always resident, outside the cache budget). Point gets fill
//! the cache; iterators fill it only with their first few blocks (so short prefix scans
//! stay cached while a whole-table scan or a compaction does not push hot point-get blocks
//! out) and otherwise only use blocks already cached. Closing the last clone of a reader
//! drops its blocks from the cache.
//!
//! This module must never return data from a block whose checksum or structure failed to
//! check: it returns `Error::Corruption` naming the file and the block's offset. It never
//! writes files.

#![warn(clippy::indexing_slicing)]

use std::cell::RefCell;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::bloom::BloomFilter;
use crate::cache::{BlockCache, CacheKey, next_file_id};
use crate::cell::{InternalCell, SeqNo};
use crate::error::{Error, Result};

use super::TableProperties;
use super::block::{
    BlockCursor, CellMeta, FamilyBlock, KeyBlock, KeyList, decode_family_block, decode_key_block,
    head_lower_bound, key_head,
};
use super::format::{
    BlockHandle, COMPRESSION_NONE, COMPRESSION_ZSTD, FOOTER_LEN, FamilyIndexEntry, FamilyMeta,
    Footer, KeyIndexEntry, Meta, TRAILER_LEN, block_crc,
};

thread_local! {
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { RefCell::new(None) };
}

/// An iterator inserts its first this many blocks per family (and key blocks) into the
/// cache, then only reads blocks already there: short scans get cached, long ones do not
/// evict what point gets use.
pub(crate) const SCAN_FILL_BLOCKS: u32 = 2;

/// What a block is, for error messages (formatted only when something fails).
#[derive(Clone, Copy)]
enum What<'a> {
    Key,
    Family(&'a str),
    Meta,
    Bloom,
}

impl std::fmt::Display for What<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            What::Key => f.write_str("key block"),
            What::Family(name) => write!(f, "block of family {name}"),
            What::Meta => f.write_str("meta block"),
            What::Bloom => f.write_str("bloom filter"),
        }
    }
}

/// Read counters of one open file (see [`TableReader::read_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Data blocks found in the block cache.
    pub cache_hits: u64,
    /// Data blocks read from the file (not cached, or no cache).
    pub cache_misses: u64,
    /// Bloom filter checks.
    pub bloom_checked: u64,
    /// Bloom checks that ruled the file out (saved reading it).
    pub bloom_useful: u64,
}

/// Approximate heap bytes of a decoded block, its charge in the cache.
fn key_block_charge(b: &KeyBlock) -> usize {
    std::mem::size_of::<KeyBlock>() + b.heap_bytes()
}

fn family_block_charge(b: &FamilyBlock) -> usize {
    std::mem::size_of::<FamilyBlock>() + b.heap_bytes()
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
    /// `key_head` of every key index entry's last key (searched first).
    key_heads: Vec<u64>,
    families: Vec<FamilyEntry>,
    key_blocks_read: AtomicU64,
    meta_handle: BlockHandle,
    bloom_handle: Option<BlockHandle>,
    /// Process-unique id: the first half of this file's cache keys.
    file_id: u64,
    cache: Option<Arc<BlockCache>>,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    bloom_checked: AtomicU64,
    bloom_useful: AtomicU64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(c) = &self.cache {
            c.erase_file(self.file_id);
        }
    }
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
    fn read_raw(&self, h: BlockHandle, what: What<'_>) -> Result<Bytes> {
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

    /// Look a block up in the cache (if any) or load it with `load`; `fill` inserts a
    /// loaded block.
    #[inline]
    fn cached<T, F>(&self, h: BlockHandle, fill: bool, load: F) -> Result<Arc<T>>
    where
        T: std::any::Any + Send + Sync,
        F: FnOnce() -> Result<(Arc<T>, usize)>,
    {
        let Some(cache) = &self.cache else {
            self.cache_misses.fetch_add(1, Ordering::Relaxed);
            return load().map(|(b, _)| b);
        };
        let key = CacheKey {
            file: self.file_id,
            offset: h.offset,
        };
        let mut loaded = false;
        let b = cache.get_or_insert_with(key, fill, || {
            loaded = true;
            load()
        })?;
        let counter = if loaded {
            &self.cache_misses
        } else {
            &self.cache_hits
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(b)
    }

    /// Key block `i`, from the cache or read, checked and decoded.
    fn key_block(&self, i: usize, fill: bool) -> Result<Arc<KeyBlock>> {
        let e = self
            .key_index
            .get(i)
            .ok_or_else(|| self.corruption(0, format!("no key block {i}")))?;
        self.cached(e.handle, fill, || self.load_key_block(i, e))
    }

    /// Read, check and decode key block `i` (index entry `e`); returns it and its charge.
    fn load_key_block(&self, i: usize, e: &KeyIndexEntry) -> Result<(Arc<KeyBlock>, usize)> {
        {
            let payload = self.read_raw(e.handle, What::Key)?;
            self.key_blocks_read.fetch_add(1, Ordering::Relaxed);
            let count = usize::try_from(self.key_block_count(i)).unwrap_or(usize::MAX);
            let blk = decode_key_block(&payload, e.first_ordinal, count)
                .map_err(|d| d.into_corruption(&self.path, e.handle.offset, "key block"))?;
            if !blk.last_key_is(&e.last_key) {
                return Err(self.corruption(
                    e.handle.offset,
                    "key block: last key differs from the index",
                ));
            }
            let charge = key_block_charge(&blk);
            Ok((Arc::new(blk), charge))
        }
    }

    /// Block `block` of family `family`, from the cache or read, checked and decoded.
    fn family_block(&self, family: usize, block: usize, fill: bool) -> Result<Arc<FamilyBlock>> {
        let f = self
            .families
            .get(family)
            .ok_or_else(|| self.corruption(0, format!("no family {family}")))?;
        let e = f.meta.index.get(block).ok_or_else(|| {
            self.corruption(0, format!("no block {block} in {}", f.meta.props.name))
        })?;
        self.cached(e.handle, fill, || self.load_family_block(f, e))
    }

    /// Read, check and decode one family block; returns it and its charge.
    fn load_family_block(
        &self,
        f: &FamilyEntry,
        e: &FamilyIndexEntry,
    ) -> Result<(Arc<FamilyBlock>, usize)> {
        {
            let what = What::Family(&f.meta.props.name);
            let payload = self.read_raw(e.handle, what)?;
            f.blocks_read.fetch_add(1, Ordering::Relaxed);
            let blk = decode_family_block(payload, e.first_ordinal, e.last_ordinal)
                .map_err(|d| d.into_corruption(&self.path, e.handle.offset, &what.to_string()))?;
            let charge = family_block_charge(&blk);
            Ok((Arc::new(blk), charge))
        }
    }

    /// Indexes of the selected families, in name order.
    fn select(&self, families: Option<&[Arc<str>]>) -> Vec<usize> {
        self.families
            .iter()
            .enumerate()
            .filter(|(_, f)| families.is_none_or(|sel| sel.contains(&f.meta.props.name)))
            .map(|(i, _)| i)
            .collect()
    }

    /// The first key block whose last key is `>= key` (`> key` when `exclusive`).
    #[inline]
    fn key_block_for(&self, key: &[u8], exclusive: bool) -> usize {
        let at = |i: usize| self.key_index.get(i).map_or(&[][..], |e| &e.last_key[..]);
        head_lower_bound(&self.key_heads, at, key, exclusive)
    }

    /// The ordinal of the first row within `start` (`rows` if none).
    fn seek_ordinal(&self, start: Bound<&[u8]>) -> Result<u64> {
        let (key, exclusive) = match start {
            Bound::Unbounded => return Ok(0),
            Bound::Included(k) => (k, false),
            Bound::Excluded(k) => (k, true),
        };
        let i = self.key_block_for(key, exclusive);
        if i >= self.key_index.len() {
            return Ok(self.props.rows);
        }
        let blk = self.key_block(i, true)?;
        Ok(blk.first_ordinal + blk.lower_bound(key, exclusive) as u64)
    }
}

impl TableReader {
    /// mmap the file, check footer magic/version/crc, parse the meta block and load the
    /// bloom filter. `global_seq: Some(s)` makes every cell read report seq `s` (files
    /// adopted by bulk ingest get one seq per file). Reads decode every block they need
    /// (no cache; the store opens its files with a block cache shared by every reader).
    pub fn open(path: &Path, global_seq: Option<SeqNo>) -> Result<TableReader> {
        Self::open_with_cache(path, global_seq, None)
    }

    /// [`TableReader::open`] with a block cache shared with other readers: decoded data
    /// blocks are kept there under a file id unique to this reader, and dropped from it
    /// when the last clone of the reader is dropped.
    pub(crate) fn open_with_cache(
        path: &Path,
        global_seq: Option<SeqNo>,
        cache: Option<Arc<BlockCache>>,
    ) -> Result<TableReader> {
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
            key_heads: Vec::new(),
            families: Vec::new(),
            key_blocks_read: AtomicU64::new(0),
            meta_handle: footer.meta,
            bloom_handle: None,
            file_id: next_file_id(),
            cache: cache.filter(|c| c.capacity() > 0),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
            bloom_checked: AtomicU64::new(0),
            bloom_useful: AtomicU64::new(0),
        };
        let meta_bytes = inner.read_raw(footer.meta, What::Meta)?;
        let meta = Meta::decode(&meta_bytes, footer.meta.offset)
            .map_err(|m| Error::corruption(path, footer.meta.offset, m))?;
        inner.bloom_handle = meta.bloom;
        if let Some(h) = meta.bloom {
            let b = inner.read_raw(h, What::Bloom)?;
            inner.bloom = Some(
                BloomFilter::from_bytes(&b).map_err(|m| Error::corruption(path, h.offset, m))?,
            );
        }
        inner.props = meta.props;
        inner.props.format_version = footer.version;
        inner.props.file_size = len;
        inner.key_index = meta.key_index;
        inner.key_heads = inner
            .key_index
            .iter()
            .map(|e| key_head(&e.last_key))
            .collect();
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

    /// The build options this file was written with, as far as its meta block records them
    /// (compression, bloom filter and block size per family): what rebuilding it needs.
    #[cfg(test)]
    pub(crate) fn build_options(&self) -> super::TableBuildOptions {
        super::TableBuildOptions {
            families: self
                .0
                .families
                .iter()
                .map(|f| crate::options::FamilyOptions {
                    compression: f.meta.compression,
                    bloom_filter: f.meta.bloom_filter,
                    block_size: f.meta.block_size,
                    ..crate::options::FamilyOptions::new(&*f.meta.props.name)
                })
                .collect(),
        }
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
    /// Counted in [`TableReader::read_stats`].
    pub fn may_contain_row(&self, row: &[u8]) -> bool {
        let inner = &*self.0;
        let Some(b) = &inner.bloom else {
            return true;
        };
        inner.bloom_checked.fetch_add(1, Ordering::Relaxed);
        let may = b.may_contain(row);
        if !may {
            inner.bloom_useful.fetch_add(1, Ordering::Relaxed);
        }
        may
    }

    /// All cells of one row for the selected families (`None`: every family in the file),
    /// in internal order. Empty if the row is absent.
    pub fn get_row(&self, row: &[u8], families: Option<&[Arc<str>]>) -> Result<Vec<InternalCell>> {
        let mut out = Vec::new();
        self.get_row_into(row, families, &mut out)?;
        Ok(out)
    }

    /// [`TableReader::get_row`] appending to `out` (so a caller merging several files
    /// reuses one vector). Checks the key range and the bloom filter first. Returns the
    /// number of cells appended.
    pub fn get_row_into(
        &self,
        row: &[u8],
        families: Option<&[Arc<str>]>,
        out: &mut Vec<InternalCell>,
    ) -> Result<usize> {
        let inner = &*self.0;
        let props = &inner.props;
        if props.rows == 0 || row < &props.smallest_row[..] || row > &props.largest_row[..] {
            return Ok(0);
        }
        if !self.may_contain_row(row) {
            return Ok(0);
        }
        let i = inner.key_block_for(row, false);
        if i >= inner.key_index.len() {
            return Ok(0);
        }
        let kb = inner.key_block(i, true)?;
        let Some(pos) = kb.find(row) else {
            return Ok(0);
        };
        let ordinal = kb.first_ordinal + pos as u64;
        // One copy of the key shared by every cell of the row.
        let row_bytes = Bytes::copy_from_slice(row);
        let before = out.len();
        for (fi, fam) in inner.families.iter().enumerate() {
            let name = &fam.meta.props.name;
            if let Some(sel) = families
                && !sel.iter().any(|s| s == name)
            {
                continue;
            }
            let index = &fam.meta.index;
            let mut b = index.partition_point(|e| e.last_ordinal < ordinal);
            while index.get(b).is_some_and(|e| e.first_ordinal <= ordinal) {
                let blk = inner.family_block(fi, b, true)?;
                for c in blk.row(ordinal) {
                    out.push(InternalCell {
                        row: row_bytes.clone(),
                        family: name.clone(),
                        kind: c.kind,
                        qualifier: blk.qualifier(&c),
                        ts: c.ts,
                        seq: inner.global_seq.unwrap_or(c.seq),
                        value: blk.value(&c),
                    });
                }
                b += 1;
            }
        }
        Ok(out.len() - before)
    }

    /// Cells in internal order starting at the first row within `start`, for the selected
    /// families (`None`: all); the caller stops at its own upper bound.
    pub fn iter(&self, start: Bound<&[u8]>, families: Option<&[Arc<str>]>) -> Result<TableIter> {
        let inner = &self.0;
        let start_ord = inner.seek_ordinal(start)?;
        let fams = inner
            .select(families)
            .into_iter()
            .filter_map(|fi| Some((fi, &inner.families.get(fi)?.meta)))
            .map(|(fi, meta)| FamCursor {
                family: fi,
                name: meta.props.name.clone(),
                next_block: meta.index.partition_point(|e| e.last_ordinal < start_ord),
                block: None,
                cursor: BlockCursor::default(),
                cur: None,
                min_ordinal: start_ord,
                loaded: 0,
            })
            .collect();
        Ok(TableIter {
            inner: inner.clone(),
            fams,
            key_block: None,
            key_blocks_loaded: 0,
            cur: None,
            fam_pos: 0,
            done: false,
        })
    }

    /// Read, checksum and decode every block of the file.
    pub fn verify_checksums(&self) -> Result<()> {
        // Straight from the file: a cached copy would not prove the bytes on disk are sound.
        let inner = &*self.0;
        for (i, e) in inner.key_index.iter().enumerate() {
            inner.load_key_block(i, e)?;
        }
        for f in &inner.families {
            for e in &f.meta.index {
                inner.load_family_block(f, e)?;
            }
        }
        inner.read_raw(inner.meta_handle, What::Meta)?;
        if let Some(h) = inner.bloom_handle {
            inner.read_raw(h, What::Bloom)?;
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

    /// Cache and bloom counters since open.
    pub fn read_stats(&self) -> ReadStats {
        let i = &*self.0;
        ReadStats {
            cache_hits: i.cache_hits.load(Ordering::Relaxed),
            cache_misses: i.cache_misses.load(Ordering::Relaxed),
            bloom_checked: i.bloom_checked.load(Ordering::Relaxed),
            bloom_useful: i.bloom_useful.load(Ordering::Relaxed),
        }
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
    /// Position in `block` after `cur`.
    cursor: BlockCursor,
    /// The next cell (decoded, not yet emitted).
    cur: Option<CellMeta>,
    /// Cells of lower ordinals are before the iterator's start.
    min_ordinal: u64,
    /// Blocks loaded so far (the first few fill the cache).
    loaded: u32,
}

impl FamCursor {
    /// The next cell's ordinal, loading blocks as needed; `None` at the family's end.
    #[inline]
    fn peek(&mut self, inner: &Inner) -> Result<Option<u64>> {
        loop {
            if let Some(c) = &self.cur {
                return Ok(Some(c.ordinal));
            }
            if let Some(b) = &self.block
                && let Some(c) = self.cursor.next_cell(b)
            {
                self.cur = Some(c);
                return Ok(Some(c.ordinal));
            }
            let blocks = inner
                .families
                .get(self.family)
                .map_or(0, |f| f.meta.index.len());
            if self.next_block >= blocks {
                self.block = None;
                return Ok(None);
            }
            let fill = self.loaded < SCAN_FILL_BLOCKS;
            self.loaded = self.loaded.saturating_add(1);
            let b = inner.family_block(self.family, self.next_block, fill)?;
            self.next_block += 1;
            self.cursor = b.seek(self.min_ordinal);
            self.block = Some(b);
        }
    }
}

/// Iterates an SSTable's cells in internal order. Yields at most one error, then ends.
pub struct TableIter {
    inner: Arc<Inner>,
    fams: Vec<FamCursor>,
    key_block: Option<KeyList>,
    key_blocks_loaded: u32,
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
        let fill = self.key_blocks_loaded < SCAN_FILL_BLOCKS;
        self.key_blocks_loaded = self.key_blocks_loaded.saturating_add(1);
        let b = self.inner.key_block(i, fill)?;
        if ordinal < b.first_ordinal || ordinal - b.first_ordinal >= b.len() as u64 {
            return Err(self.inner.corruption(
                self.inner.key_index.get(i).map_or(0, |e| e.handle.offset),
                format!("row ordinal {ordinal} has no key"),
            ));
        }
        let list = b.expand();
        let key = list.key_bytes((ordinal - b.first_ordinal) as usize);
        self.key_block = Some(list);
        Ok(key)
    }

    fn advance(&mut self) -> Result<Option<InternalCell>> {
        loop {
            if let Some((ordinal, row)) = &self.cur {
                while let Some(f) = self.fams.get_mut(self.fam_pos) {
                    if f.peek(&self.inner)? == Some(*ordinal)
                        && let Some(b) = &f.block
                        && let Some(c) = f.cur.take()
                    {
                        let cell = InternalCell {
                            row: row.clone(),
                            family: f.name.clone(),
                            kind: c.kind,
                            qualifier: b.qualifier(&c),
                            ts: c.ts,
                            seq: self.inner.global_seq.unwrap_or(c.seq),
                            value: b.value(&c),
                        };
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
