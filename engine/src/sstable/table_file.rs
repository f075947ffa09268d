//! An open table file (`TableFile`) and its blocks: raw block reads (pread into an owned
//! buffer, trailer checksum, then decompression), the decoded key and family blocks, and the
//! seek from a row key to its ordinal.
//!
//! Blocks are read with `pread`, never through a memory map: a file truncated, rewritten or
//! failing (EIO) underneath the store then gives an error naming the file and offset instead
//! of a SIGBUS that kills the process (see docs/design/robustness.md, "Table files", for the
//! measurement behind the choice).
//!
//! Every data block goes through `TableFile::key_block` / `TableFile::family_block`, which
//! consult the store's shared `BlockCache` (decoded blocks keyed by this file's
//! process-unique id and the block offset) before reading, checking and decoding the block.
//! The key index, the family block indexes and the bloom filter are decoded at open and live
//! as long as the file (always resident, outside the cache budget). Point gets fill the
//! cache; iterators fill it only with their first few blocks (so short prefix scans stay
//! cached while a whole-table scan or a compaction does not push hot point-get blocks out)
//! and otherwise only use blocks already cached. Dropping the file drops its blocks from the
//! cache.
//!
//! This module must never return data from a block whose checksum or structure failed to
//! check: it returns `Error::Corruption` naming the file and the block's offset.

#![warn(clippy::indexing_slicing)]

use std::cell::RefCell;
use std::fs::File;
use std::ops::Bound;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use zstd::zstd_safe::{DCtx, DDict};

use crate::bloom::BloomFilter;
use crate::cache::{BlockCache, CacheKey};
use crate::error::{Error, Result};

use super::TableProperties;
use super::family_block::{DerivedValueError, FamilyBlock, decode_family_block};
use super::format::{
    BlockHandle, COMPRESSION_NONE, COMPRESSION_ZSTD, COMPRESSION_ZSTD_DICT, DERIVED_VALUES_VERSION,
    FamilyIndexEntry, FamilyMeta, KeyIndexEntry, TRAILER_LEN, block_crc,
};
use super::key_block::{KeyBlock, KeyList, decode_key_block, head_lower_bound};

thread_local! {
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { RefCell::new(None) };
    /// The context for blocks compressed with a dictionary (the dictionary comes per call).
    static DICT_DECOMPRESSOR: RefCell<Option<DCtx<'static>>> = const { RefCell::new(None) };
    /// The stored bytes of the block being read (reused: a block read allocates only its
    /// decoded payload).
    static READ_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A thread's read buffer is given back to the allocator after a block larger than this.
const READ_BUF_KEEP: usize = 4 << 20;
/// Most bytes a block may decompress to. Far above any block the engine writes (a block
/// closes at a row boundary past its family's block size, at most 16 MiB), it keeps a file
/// built elsewhere (bulk ingest) from making a read allocate gigabytes.
const MAX_DECODED_BLOCK: u32 = 1 << 30;
/// Largest dictionary block a file may have (the builder writes at most 8 KiB).
const MAX_DICTIONARY_BYTES: u64 = 1 << 20;

/// An iterator inserts its first this many blocks per family (and key blocks) into the
/// cache, then only reads blocks already there: short scans get cached, long ones do not
/// evict what point gets use.
pub(crate) const SCAN_FILL_BLOCKS: u32 = 2;

/// What a block is, for error messages (formatted only when something fails).
#[derive(Clone, Copy)]
pub(super) enum What<'a> {
    Key,
    Family(&'a str),
    Meta,
    Bloom,
    Dictionary(&'a str),
}

impl std::fmt::Display for What<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            What::Key => f.write_str("key block"),
            What::Family(name) => write!(f, "block of family {name}"),
            What::Meta => f.write_str("meta block"),
            What::Bloom => f.write_str("bloom filter"),
            What::Dictionary(name) => write!(f, "dictionary of family {name}"),
        }
    }
}

/// Approximate heap bytes of a decoded block, its charge in the cache.
fn key_block_charge(b: &KeyBlock) -> usize {
    std::mem::size_of::<KeyBlock>() + b.heap_bytes()
}

fn family_block_charge(b: &FamilyBlock) -> usize {
    std::mem::size_of::<FamilyBlock>() + b.heap_bytes()
}

pub(super) struct FamilyEntry {
    pub(super) meta: FamilyMeta,
    pub(super) blocks_read: AtomicU64,
    /// The family's zstd dictionary (format v4), loaded at its first use: a damaged one
    /// fails that family's dictionary-compressed blocks, not the file's open.
    pub(super) dictionary: OnceLock<DDict<'static>>,
}

impl FamilyEntry {
    pub(super) fn new(meta: FamilyMeta) -> Self {
        FamilyEntry {
            meta,
            blocks_read: AtomicU64::new(0),
            dictionary: OnceLock::new(),
        }
    }
}

pub(crate) struct TableFile {
    pub(super) path: PathBuf,
    /// The open file, read with pread.
    pub(super) file: File,
    /// Its length when it was opened (blocks must end within it).
    pub(super) len: u64,
    pub(super) props: TableProperties,
    pub(super) bloom: Option<BloomFilter>,
    pub(super) key_index: Vec<KeyIndexEntry>,
    /// `key_head` of every key index entry's last key (searched first).
    pub(super) key_heads: Vec<u64>,
    pub(super) families: Vec<FamilyEntry>,
    pub(super) key_blocks_read: AtomicU64,
    pub(super) meta_handle: BlockHandle,
    pub(super) bloom_handle: Option<BlockHandle>,
    /// Process-unique id: the first half of this file's cache keys.
    pub(super) file_id: u64,
    pub(super) cache: Option<Arc<BlockCache>>,
    pub(super) cache_hits: AtomicU64,
    pub(super) cache_misses: AtomicU64,
    pub(super) bloom_checked: AtomicU64,
    pub(super) bloom_useful: AtomicU64,
}

impl Drop for TableFile {
    fn drop(&mut self) {
        if let Some(c) = &self.cache {
            c.erase_file(self.file_id);
        }
    }
}

impl TableFile {
    pub(super) fn corruption(&self, offset: u64, what: impl Into<String>) -> Error {
        Error::corruption(&self.path, offset, what)
    }

    /// A value derived from the row key that the key does not reproduce, in block `blk` of
    /// family `family` at row `ordinal`: corruption of that block.
    pub(super) fn derived_corruption(
        &self,
        blk: &FamilyBlock,
        family: &str,
        ordinal: u64,
        e: DerivedValueError,
    ) -> Error {
        self.corruption(
            blk.file_offset,
            format!("{}: row ordinal {ordinal}: {e}", What::Family(family)),
        )
    }

    /// Read `buf.len()` bytes at `offset`. A short read (the file shrank since it was opened)
    /// or an I/O error is corruption of this file at `offset`: the bytes are not there.
    pub(super) fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.file.read_exact_at(buf, offset).map_err(|e| {
            let what = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                format!(
                    "the file ends before byte {} (it was {} bytes when opened)",
                    offset + buf.len() as u64,
                    self.len
                )
            } else {
                format!("cannot read {} bytes: {e}", buf.len())
            };
            self.corruption(offset, what)
        })
    }

    /// Read a block, check its trailer and checksum and return its uncompressed payload (a
    /// fresh buffer either way: nothing returned refers to the file).
    pub(super) fn read_raw(&self, h: BlockHandle, what: What<'_>) -> Result<Bytes> {
        self.read_block(h, what, None)
    }

    /// [`TableFile::read_raw`] of a block of family `fam`, which may be compressed with
    /// the family's dictionary.
    fn read_block(
        &self,
        h: BlockHandle,
        what: What<'_>,
        fam: Option<&FamilyEntry>,
    ) -> Result<Bytes> {
        let bad = |msg: String| self.corruption(h.offset, format!("{what}: {msg}"));
        let size = self.stored_size(h, &bad)?;
        READ_BUF.with(|cell| {
            let mut buf = cell.borrow_mut();
            buf.clear();
            buf.resize(size, 0);
            let read = self.read_at(h.offset, &mut buf);
            let out = read.and_then(|()| self.check_and_decode(&buf, size, fam, &bad));
            if buf.capacity() > READ_BUF_KEEP {
                *buf = Vec::new();
            }
            out
        })
    }

    /// Bytes block `h` takes in the file: the handle's size is the payload's, the trailer
    /// follows it.
    fn stored_size(&self, h: BlockHandle, bad: &dyn Fn(String) -> Error) -> Result<usize> {
        h.end()
            .filter(|&e| e <= self.len)
            .and_then(|e| usize::try_from(e - h.offset).ok())
            .ok_or_else(|| bad(format!("block of {} bytes runs past the file end", h.size)))
    }

    /// The payload of the stored block `stored` (`size` bytes: payload then trailer),
    /// checked and decompressed.
    fn check_and_decode(
        &self,
        stored: &[u8],
        size: usize,
        fam: Option<&FamilyEntry>,
        bad: &dyn Fn(String) -> Error,
    ) -> Result<Bytes> {
        let pend = size - TRAILER_LEN;
        let (Some(payload), Some(trailer)) = (stored.get(..pend), stored.get(pend..size)) else {
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
                Ok(Bytes::copy_from_slice(payload))
            }
            COMPRESSION_ZSTD if ulen > MAX_DECODED_BLOCK => Err(bad(format!(
                "block claims {ulen} bytes uncompressed, over the {MAX_DECODED_BLOCK}-byte limit"
            ))),
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
            COMPRESSION_ZSTD_DICT if ulen > MAX_DECODED_BLOCK => Err(bad(format!(
                "block claims {ulen} bytes uncompressed, over the {MAX_DECODED_BLOCK}-byte limit"
            ))),
            COMPRESSION_ZSTD_DICT => {
                let Some(fam) = fam.filter(|f| f.meta.dictionary.is_some()) else {
                    return Err(bad(
                        "block compressed with a dictionary its family does not have".into(),
                    ));
                };
                let dict = self.dictionary(fam)?;
                DICT_DECOMPRESSOR.with(|cell| {
                    let mut slot = cell.borrow_mut();
                    if slot.is_none() {
                        *slot = DCtx::try_create();
                    }
                    let Some(d) = slot.as_mut() else {
                        return Err(bad("no zstd context".into()));
                    };
                    let mut out = Vec::with_capacity(ulen as usize);
                    match d.decompress_using_ddict(&mut out, payload, dict) {
                        Ok(n) if n == ulen as usize => Ok(Bytes::from(out)),
                        Ok(n) => Err(bad(format!(
                            "decompressed to {n} bytes, trailer says {ulen}"
                        ))),
                        Err(code) => Err(bad(format!(
                            "zstd could not decode the block with its dictionary: {}",
                            zstd::zstd_safe::get_error_name(code)
                        ))),
                    }
                })
            }
            other => Err(bad(format!("unknown compression type {other}"))),
        }
    }

    /// Family `fam`'s dictionary, read, checked and loaded at its first use (the caller
    /// checked the family has one). A failure is not kept: the next block tries again.
    fn dictionary<'f>(&self, fam: &'f FamilyEntry) -> Result<&'f DDict<'static>> {
        if let Some(d) = fam.dictionary.get() {
            return Ok(d);
        }
        let h = fam.meta.dictionary.unwrap_or_default();
        let name = &fam.meta.props.name;
        if h.size > MAX_DICTIONARY_BYTES {
            return Err(self.corruption(
                h.offset,
                format!(
                    "dictionary of family {name}: {} bytes, over the {MAX_DICTIONARY_BYTES}-byte \
                     limit",
                    h.size
                ),
            ));
        }
        // Read into a buffer of its own: this runs while a family block holds READ_BUF.
        let what = What::Dictionary(name);
        let bad = |msg: String| self.corruption(h.offset, format!("{what}: {msg}"));
        let size = self.stored_size(h, &bad)?;
        let mut stored = vec![0u8; size];
        self.read_at(h.offset, &mut stored)?;
        let bytes = self.check_and_decode(&stored, size, None, &bad)?;
        let Some(d) = DDict::try_create(&bytes) else {
            return Err(self.corruption(
                h.offset,
                format!("dictionary of family {name}: zstd cannot load it"),
            ));
        };
        // Another thread may have loaded it meanwhile: either copy serves.
        let _ = fam.dictionary.set(d);
        fam.dictionary
            .get()
            .ok_or_else(|| self.corruption(h.offset, "dictionary not kept"))
    }

    /// Rows covered by key block `i`.
    pub(super) fn key_block_count(&self, i: usize) -> u64 {
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
    pub(super) fn cached<T, F>(&self, h: BlockHandle, fill: bool, load: F) -> Result<Arc<T>>
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
    pub(super) fn key_block(&self, i: usize, fill: bool) -> Result<Arc<KeyBlock>> {
        let e = self
            .key_index
            .get(i)
            .ok_or_else(|| self.corruption(0, format!("no key block {i}")))?;
        self.cached(e.handle, fill, || self.load_key_block(i, e))
    }

    /// Read, check and decode key block `i` (index entry `e`); returns it and its charge.
    pub(super) fn load_key_block(
        &self,
        i: usize,
        e: &KeyIndexEntry,
    ) -> Result<(Arc<KeyBlock>, usize)> {
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
    pub(super) fn family_block(
        &self,
        family: usize,
        block: usize,
        fill: bool,
    ) -> Result<Arc<FamilyBlock>> {
        let f = self
            .families
            .get(family)
            .ok_or_else(|| self.corruption(0, format!("no family {family}")))?;
        let e = f.meta.index.get(block).ok_or_else(|| {
            self.corruption(0, format!("no block {block} in {}", f.meta.props.name))
        })?;
        self.cached(e.handle, fill, || self.load_family_block(f, e))
    }

    /// The next block of family `family` for a scan that has taken `*next` of its blocks
    /// (the first [`SCAN_FILL_BLOCKS`] a scan loads fill the cache, later ones do not);
    /// `None` after the family's last block.
    pub(super) fn scan_block(
        &self,
        family: usize,
        next: &mut usize,
        loaded: &mut u32,
    ) -> Result<Option<Arc<FamilyBlock>>> {
        let blocks = self.families.get(family).map_or(0, |f| f.meta.index.len());
        if *next >= blocks {
            return Ok(None);
        }
        let fill = *loaded < SCAN_FILL_BLOCKS;
        *loaded = loaded.saturating_add(1);
        let b = self.family_block(family, *next, fill)?;
        *next += 1;
        Ok(Some(b))
    }

    /// The key block holding row `ordinal`, expanded, for a scan that has loaded `*loaded`
    /// key blocks (the first few fill the cache). A block that does not hold the ordinal
    /// its index promises is corruption.
    pub(super) fn scan_keys(&self, ordinal: u64, loaded: &mut u32) -> Result<KeyList> {
        let i = self
            .key_index
            .partition_point(|e| e.first_ordinal <= ordinal)
            .saturating_sub(1);
        let fill = *loaded < SCAN_FILL_BLOCKS;
        *loaded = loaded.saturating_add(1);
        let b = self.key_block(i, fill)?;
        if ordinal < b.first_ordinal || ordinal - b.first_ordinal >= b.len() as u64 {
            return Err(self.corruption(
                self.key_index.get(i).map_or(0, |e| e.handle.offset),
                format!("row ordinal {ordinal} has no key"),
            ));
        }
        Ok(b.expand())
    }

    /// Read, check and decode one family block; returns it and its charge.
    pub(super) fn load_family_block(
        &self,
        f: &FamilyEntry,
        e: &FamilyIndexEntry,
    ) -> Result<(Arc<FamilyBlock>, usize)> {
        {
            let what = What::Family(&f.meta.props.name);
            let payload = self.read_block(e.handle, what, Some(f))?;
            f.blocks_read.fetch_add(1, Ordering::Relaxed);
            let derivations = self.props.format_version >= DERIVED_VALUES_VERSION;
            let mut blk =
                decode_family_block(payload, e.first_ordinal, e.last_ordinal, derivations)
                    .map_err(|d| {
                        d.into_corruption(&self.path, e.handle.offset, &what.to_string())
                    })?;
            blk.file_offset = e.handle.offset;
            let charge = family_block_charge(&blk);
            Ok((Arc::new(blk), charge))
        }
    }

    /// Indexes of the selected families, in name order.
    pub(super) fn select(&self, families: Option<&[Arc<str>]>) -> Vec<usize> {
        self.families
            .iter()
            .enumerate()
            .filter(|(_, f)| families.is_none_or(|sel| sel.contains(&f.meta.props.name)))
            .map(|(i, _)| i)
            .collect()
    }

    /// The first key block whose last key is `>= key` (`> key` when `exclusive`).
    #[inline]
    pub(super) fn key_block_for(&self, key: &[u8], exclusive: bool) -> usize {
        let at = |i: usize| self.key_index.get(i).map_or(&[][..], |e| &e.last_key[..]);
        head_lower_bound(&self.key_heads, at, key, exclusive)
    }

    /// The ordinal of the first row within `start` (`rows` if none).
    pub(super) fn seek_ordinal(&self, start: Bound<&[u8]>) -> Result<u64> {
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
