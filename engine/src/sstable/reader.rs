//! Reads one SSTable through mmap: open (footer, meta block, bloom), point gets of whole
//! rows, ordered iteration over selected families (`iter.rs`), and full checksum
//! verification. Block reads and the block cache are `table_file.rs`'s.
//!
//! This module must never return data from a block whose checksum or structure failed to
//! check: it returns `Error::Corruption` naming the file and the block's offset. It never
//! writes files.

#![warn(clippy::indexing_slicing)]

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::bloom::BloomFilter;
use crate::cache::{BlockCache, next_file_id};
use crate::cell::{InternalCell, SeqNo};
use crate::error::{Error, Result};

use super::TableProperties;
use super::family_block::BlockCursor;
use super::format::{FOOTER_LEN, Footer, Meta};
use super::key_block::key_head;

use super::iter::{FamCursor, TableIter};
use super::table_file::{FamilyEntry, TableFile, What};

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

/// An open SSTable. Cloning is cheap (shared).
#[derive(Clone)]
pub struct TableReader(Arc<TableFile>);

impl std::fmt::Debug for TableReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableReader")
            .field("path", &self.0.path)
            .field("rows", &self.0.props.rows)
            .field("cells", &self.0.props.cells)
            .finish_non_exhaustive()
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
        let mut inner = TableFile {
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
        let meta = Meta::decode(&meta_bytes, footer.meta.offset, footer.version)
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

    /// Whether the file may hold `row` (its key range and bloom filter say so), without
    /// counting the check in [`TableReader::read_stats`] (compaction GC asks this of every
    /// row it merges; the counters describe point gets).
    pub(crate) fn may_hold_row_uncounted(&self, row: &[u8]) -> bool {
        let inner = &*self.0;
        let props = &inner.props;
        if props.rows == 0 || row < &props.smallest_row[..] || row > &props.largest_row[..] {
            return false;
        }
        inner.bloom.as_ref().is_none_or(|b| b.may_contain(row))
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
    pub(crate) fn family_block_handle(
        &self,
        family: usize,
        block: usize,
    ) -> super::format::BlockHandle {
        self.0.families[family].meta.index[block].handle
    }

    #[cfg(test)]
    pub(crate) fn meta_block_handle(&self) -> super::format::BlockHandle {
        self.0.meta_handle
    }
}
