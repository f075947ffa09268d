//! Reads one SSTable: open (footer, meta block, bloom), point gets of whole rows, ordered
//! iteration over selected families (`iter.rs`), and full checksum verification. Block reads
//! (pread) and the block cache are `table_file.rs`'s.
//!
//! This module must never return data from a block whose checksum or structure failed to
//! check: it returns `Error::Corruption` naming the file and the block's offset. It never
//! writes files.

#![warn(clippy::indexing_slicing)]

use std::fs::File;
use std::ops::Bound;
use std::os::unix::fs::FileExt;
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

/// One family block's family and, per qualifier, whether its values come from the row key.
#[cfg(test)]
pub(crate) type BlockDerivations = (Arc<str>, Vec<(Bytes, bool)>);

/// An open SSTable. Cloning is cheap (shared).
#[derive(Clone)]
pub struct TableReader {
    file: Arc<TableFile>,
    /// For a file adopted by bulk ingest: the sequence number every cell reports.
    global_seq: Option<SeqNo>,
}

impl std::fmt::Debug for TableReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableReader")
            .field("path", &self.file.path)
            .field("rows", &self.file.props.rows)
            .field("cells", &self.file.props.cells)
            .field("global_seq", &self.global_seq)
            .finish_non_exhaustive()
    }
}

impl TableReader {
    /// Open the file, check footer magic/version/crc, parse the meta block and load the
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
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        Self::from_file(file, path, global_seq, cache)
    }

    /// [`TableReader::open_with_cache`] of an already open `file` (`path` names it in
    /// errors): bulk ingest reads the very descriptor it checked.
    pub(crate) fn from_file(
        file: File,
        path: &Path,
        global_seq: Option<SeqNo>,
        cache: Option<Arc<BlockCache>>,
    ) -> Result<TableReader> {
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if len < FOOTER_LEN as u64 {
            return Err(Error::corruption(
                path,
                0,
                format!("file is {len} bytes, shorter than the {FOOTER_LEN}-byte footer"),
            ));
        }
        let footer_at = len - FOOTER_LEN as u64;
        let mut footer_bytes = [0u8; FOOTER_LEN];
        file.read_exact_at(&mut footer_bytes, footer_at)
            .map_err(|e| {
                Error::corruption(path, footer_at, format!("cannot read the footer: {e}"))
            })?;
        let footer =
            Footer::decode(&footer_bytes).map_err(|m| Error::corruption(path, footer_at, m))?;
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
            file,
            len,
            props: TableProperties::default(),
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
        inner.families = meta.families.into_iter().map(FamilyEntry::new).collect();
        Ok(TableReader {
            file: Arc::new(inner),
            global_seq,
        })
    }

    /// The same open file, reporting `global_seq` for every cell (shares its blocks, cache
    /// entries and counters).
    pub(crate) fn with_global_seq(&self, global_seq: Option<SeqNo>) -> TableReader {
        TableReader {
            file: self.file.clone(),
            global_seq,
        }
    }

    /// The build options this file was written with, as far as its meta block records them
    /// (compression, bloom filter and block size per family): what rebuilding it needs.
    #[cfg(test)]
    pub(crate) fn build_options(&self) -> super::TableBuildOptions {
        super::TableBuildOptions {
            families: self
                .file
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
        &self.file.path
    }

    /// Properties stored in the file (with `file_size` and `format_version`).
    pub fn properties(&self) -> &TableProperties {
        &self.file.props
    }

    /// Bloom check: false if the file certainly has no cell of `row` (true without bloom).
    /// Counted in [`TableReader::read_stats`].
    pub fn may_contain_row(&self, row: &[u8]) -> bool {
        let inner = &*self.file;
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
        let inner = &*self.file;
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
        let inner = &*self.file;
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
                    let value = blk
                        .value(&c, &row_bytes)
                        .map_err(|e| inner.derived_corruption(&blk, name, ordinal, e))?;
                    out.push(InternalCell {
                        row: row_bytes.clone(),
                        family: name.clone(),
                        kind: c.kind,
                        qualifier: blk.qualifier(&c),
                        ts: c.ts,
                        seq: self.global_seq.unwrap_or(c.seq),
                        value,
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
        let inner = &self.file;
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
            global_seq: self.global_seq,
            fams,
            key_block: None,
            key_blocks_loaded: 0,
            cur: None,
            fam_pos: 0,
            done: false,
        })
    }

    /// The open file (blocks, indexes, cache).
    pub(super) fn file(&self) -> &Arc<TableFile> {
        &self.file
    }

    /// The sequence number every cell of an ingested file reports.
    pub(super) fn global_seq(&self) -> Option<SeqNo> {
        self.global_seq
    }

    /// Per family block of the file (family by family, in order): the family and, per
    /// qualifier of the block, whether its values are derived from the row key.
    #[cfg(test)]
    pub(crate) fn block_derivations(&self) -> Result<Vec<BlockDerivations>> {
        let inner = &*self.file;
        let mut out = Vec::new();
        for f in &inner.families {
            for e in &f.meta.index {
                let (blk, _) = inner.load_family_block(f, e)?;
                out.push((f.meta.props.name.clone(), blk.qualifier_derivations()));
            }
        }
        Ok(out)
    }

    /// Read, checksum and decode every block of the file; the first damaged block's error.
    pub fn verify_checksums(&self) -> Result<()> {
        match self.verify(false).into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Read, checksum and decode every block of the file, going on past damage: the error of
    /// every damaged block (empty when the file is sound), each naming the file and offset.
    pub fn damaged_blocks(&self) -> Vec<Error> {
        self.verify(true)
    }

    /// How many key blocks hold only rows below `high` (every block when unbounded), from the
    /// key index alone (no block read): where a reverse scan may cut its windows
    /// (`scan/reverse.rs`).
    pub(crate) fn key_blocks_below(&self, high: Bound<&[u8]>) -> usize {
        let index = &self.file.key_index;
        match high {
            Bound::Unbounded => index.len(),
            Bound::Included(h) => index.partition_point(|e| e.last_key[..] <= *h),
            Bound::Excluded(h) => index.partition_point(|e| e.last_key[..] < *h),
        }
    }

    /// The last row key of key block `i`, from the key index.
    pub(crate) fn key_block_last_key(&self, i: usize) -> Option<&[u8]> {
        self.file.key_index.get(i).map(|e| &e.last_key[..])
    }

    /// Blocks in the file (key, family, meta and bloom blocks).
    pub fn block_count(&self) -> usize {
        let inner = &*self.file;
        inner.key_index.len()
            + inner
                .families
                .iter()
                .map(|f| f.meta.index.len() + usize::from(f.meta.dictionary.is_some()))
                .sum::<usize>()
            + 1
            + usize::from(inner.bloom_handle.is_some())
    }

    fn verify(&self, all: bool) -> Vec<Error> {
        // Straight from the file: a cached copy would not prove the bytes on disk are sound.
        let inner = &*self.file;
        let mut errors = Vec::new();
        let mut note = |r: Result<()>| {
            if let Err(e) = r {
                errors.push(e);
            }
            all || errors.is_empty()
        };
        for (i, e) in inner.key_index.iter().enumerate() {
            if !note(inner.load_key_block(i, e).map(drop)) {
                return errors;
            }
        }
        for f in &inner.families {
            if let Some(h) = f.meta.dictionary {
                let what = What::Dictionary(&f.meta.props.name);
                if !note(inner.read_raw(h, what).map(drop)) {
                    return errors;
                }
            }
            for e in &f.meta.index {
                if !note(inner.load_family_block(f, e).map(drop)) {
                    return errors;
                }
            }
        }
        if !note(inner.read_raw(inner.meta_handle, What::Meta).map(drop)) {
            return errors;
        }
        if let Some(h) = inner.bloom_handle {
            note(inner.read_raw(h, What::Bloom).map(drop));
        }
        errors
    }

    /// Family blocks read since open, per family in name order.
    pub fn blocks_read(&self) -> Vec<(Arc<str>, u64)> {
        self.file
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
        self.file.key_blocks_read.load(Ordering::Relaxed)
    }

    /// The last row key of each key block, in order: evenly spaced samples of the file's
    /// rows (every key block holds about as many rows), read from the index in memory.
    pub(crate) fn key_samples(&self) -> impl Iterator<Item = &[u8]> {
        self.file.key_index.iter().map(|e| e.last_key.as_ref())
    }

    /// Cache and bloom counters since open.
    pub fn read_stats(&self) -> ReadStats {
        let i = &*self.file;
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
        self.file.families[family].meta.index[block].handle
    }

    /// Family `family`'s dictionary block, if it has one (format v4).
    #[cfg(test)]
    pub(crate) fn family_dictionary(&self, family: usize) -> Option<super::format::BlockHandle> {
        self.file.families[family].meta.dictionary
    }

    #[cfg(test)]
    pub(crate) fn meta_block_handle(&self) -> super::format::BlockHandle {
        self.file.meta_handle
    }
}
