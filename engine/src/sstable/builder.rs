//! Writes one SSTable: the only writer of the format, used by memtable flush, compaction and
//! the bulk loader. Cells arrive in internal order; row keys go to key blocks once per row,
//! each family's cells to that family's own blocks, then bloom, meta block and footer.
//!
//! This module must never write a file that the reader would decode differently from what
//! was added: out-of-order cells and unknown families are rejected before anything of them
//! is buffered, and `finish` fsyncs before reporting success.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::bloom::{BloomBuilder, DEFAULT_BITS_PER_KEY};
use std::cmp::Ordering;

use crate::cell::{CellKind, CellRef, SeqNo, Timestamp, compare_within_row};
use crate::error::{Error, Result};
use crate::fs::{Fs, WritableFile};
use crate::options::{Compression, DEFAULT_ZSTD_LEVEL, FamilyOptions};

use super::family_block_builder::FamilyBlockBuilder;
use super::format::{
    BlockHandle, DERIVED_VALUES_VERSION, DICTIONARY_VERSION, FORMAT_VERSION, FamilyIndexEntry,
    FamilyMeta, Footer, KeyIndexEntry, MAX_KEY_BLOCK_SIZE, Meta, OLDEST_FORMAT_VERSION,
    derive_v1_properties,
};
use super::key_block::KeyBlockBuilder;

mod block_writer;
pub(super) mod dictionary;
mod rows;

use super::{FamilyProperties, TableBuildOptions, TableProperties};
use block_writer::BlockWriter;
use dictionary::{DICTIONARY_SAMPLE_BLOCKS, Dictionary, HeldBlock};
pub use rows::RowCell;

/// The compression of a file's key, meta and bloom-less metadata blocks: zstd at the lowest
/// level any of its families compresses at (a flush, whose families are capped at
/// `FLUSH_ZSTD_LEVEL`, then writes its key blocks at that level too: in a table whose values
/// come mostly from the row key, key blocks are most of what a flush compresses), raw when
/// none compresses.
fn meta_compression(fam_opts: &[FamilyOptions]) -> Compression {
    fam_opts
        .iter()
        .filter_map(|f| match f.compression {
            Compression::Zstd(0) => Some(DEFAULT_ZSTD_LEVEL),
            Compression::Zstd(level) => Some(level),
            Compression::None => None,
        })
        .min()
        .map_or(Compression::None, Compression::Zstd)
}

struct FamilyState {
    name: Arc<str>,
    opts: FamilyOptions,
    block: FamilyBlockBuilder,
    index: Vec<FamilyIndexEntry>,
    props: FamilyProperties,
    dict: Dictionary,
    /// The dictionary block, once written.
    dict_handle: Option<BlockHandle>,
}

/// The previous cell, kept to check the order of the next one.
struct LastCell {
    row: Vec<u8>,
    family: usize,
    kind: CellKind,
    qualifier: Vec<u8>,
    ts: Timestamp,
    seq: SeqNo,
}

/// Builds an SSTable from cells added in internal order.
///
/// Drop without `finish` leaves a partial file behind; call [`TableBuilder::abandon`] to
/// remove it.
pub struct TableBuilder {
    fs: Arc<dyn Fs>,
    path: PathBuf,
    file: Box<dyn WritableFile>,
    families: Vec<FamilyState>,
    cur_family: usize,
    key_block: KeyBlockBuilder,
    key_block_first: u64,
    key_block_target: usize,
    key_index: Vec<KeyIndexEntry>,
    meta_compression: Compression,
    bloom: Option<BloomBuilder>,
    rows: u64,
    last: Option<LastCell>,
    props: TableProperties,
    writer: BlockWriter,
    /// The format version written (the newest, unless a test asks for an older one).
    format_version: u32,
}

impl std::fmt::Debug for TableBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableBuilder")
            .field("path", &self.path)
            .field("rows", &self.rows)
            .field("cells", &self.props.cells)
            .finish_non_exhaustive()
    }
}

/// Render a cell key for error messages.
fn describe(c: &CellRef<'_>) -> String {
    format!(
        "(row {:?}, family {}, {:?}, qualifier {:?}, ts {}, seq {})",
        String::from_utf8_lossy(c.row),
        c.family,
        c.kind,
        String::from_utf8_lossy(c.qualifier),
        c.ts,
        c.seq
    )
}

impl TableBuilder {
    /// Create `path` (truncating it) and prepare to write the given families.
    pub fn new(fs: &Arc<dyn Fs>, path: &Path, opts: TableBuildOptions) -> Result<TableBuilder> {
        Self::with_format_version(fs, path, opts, FORMAT_VERSION)
    }

    /// [`TableBuilder::new`] writing format `version` (an older one only to check that its
    /// encoding is frozen: a cell kind it lacks is refused).
    pub(crate) fn with_format_version(
        fs: &Arc<dyn Fs>,
        path: &Path,
        opts: TableBuildOptions,
        version: u32,
    ) -> Result<TableBuilder> {
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(Error::InvalidArgument(format!(
                "table format version {version} is not one this build writes"
            )));
        }
        let mut fam_opts: Vec<FamilyOptions> =
            opts.families.into_iter().map(|f| f.normalized()).collect();
        fam_opts.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(w) = fam_opts.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(Error::InvalidArgument(format!(
                "family {} given twice to the table builder for {}",
                w[0].name,
                path.display()
            )));
        }
        let key_block_target = fam_opts
            .iter()
            .map(|f| f.block_size as usize)
            .min()
            .unwrap_or(MAX_KEY_BLOCK_SIZE)
            .clamp(1, MAX_KEY_BLOCK_SIZE);
        let meta_compression = meta_compression(&fam_opts);
        let bloom = fam_opts
            .iter()
            .any(|f| f.bloom_filter)
            .then(|| BloomBuilder::new(DEFAULT_BITS_PER_KEY));
        let families = fam_opts
            .into_iter()
            .map(|opts| {
                let name: Arc<str> = Arc::from(opts.name.as_str());
                FamilyState {
                    props: FamilyProperties {
                        name: name.clone(),
                        max_put_ts: i64::MIN,
                        ..FamilyProperties::default()
                    },
                    name,
                    block: FamilyBlockBuilder::new(version >= DERIVED_VALUES_VERSION),
                    index: Vec::new(),
                    dict: Dictionary::for_family(&opts, version >= DICTIONARY_VERSION),
                    dict_handle: None,
                    opts,
                }
            })
            .collect();
        let file = fs.create(path).map_err(|e| Error::io(path, e))?;
        Ok(TableBuilder {
            fs: fs.clone(),
            path: path.to_path_buf(),
            file,
            families,
            cur_family: 0,
            key_block: KeyBlockBuilder::default(),
            key_block_first: 0,
            key_block_target,
            key_index: Vec::new(),
            meta_compression,
            bloom,
            rows: 0,
            last: None,
            props: TableProperties {
                format_version: version,
                min_ts: i64::MAX,
                max_ts: i64::MIN,
                min_seq: u64::MAX,
                max_seq: 0,
                min_marker_seq: u64::MAX,
                max_marker_seq: 0,
                ..TableProperties::default()
            },
            writer: BlockWriter::new(),
            format_version: version,
        })
    }

    fn family_index(&mut self, name: &str) -> Option<usize> {
        let i = self.find_family(name)?;
        self.cur_family = i;
        Some(i)
    }

    fn find_family(&self, name: &str) -> Option<usize> {
        // A caller that passes the builder's own family strings (`family_name`) is matched
        // by address: that string is alive, so no other string can share its address.
        let same = |f: &FamilyState| {
            std::ptr::eq(f.name.as_ptr(), name.as_ptr()) && f.name.len() == name.len()
        };
        if self.families.get(self.cur_family).is_some_and(same) {
            return Some(self.cur_family);
        }
        if let Some(i) = self.families.iter().position(same) {
            return Some(i);
        }
        if self
            .families
            .get(self.cur_family)
            .is_some_and(|f| &*f.name == name)
        {
            return Some(self.cur_family);
        }
        self.families
            .binary_search_by(|f| f.name.as_bytes().cmp(name.as_bytes()))
            .ok()
    }

    /// The builder's own string for family `name` (if it has that family). Passing it back
    /// in cells lets the builder find the family by address instead of comparing names.
    pub fn family_name(&self, name: &str) -> Option<Arc<str>> {
        self.find_family(name)
            .map(|i| self.families[i].name.clone())
    }

    fn unknown_family(&self, family: &str) -> Error {
        Error::InvalidArgument(format!(
            "{}: cell of family {:?}, which is not among the table's families",
            self.path.display(),
            family
        ))
    }

    fn out_of_order(&self, cell: &CellRef<'_>, prev: &CellRef<'_>) -> Error {
        Error::InvalidArgument(format!(
            "{}: cells out of order: {} added after {}",
            self.path.display(),
            describe(cell),
            describe(prev)
        ))
    }

    /// Add the next cell. Cells must come in strictly increasing internal order
    /// (`compare_cells`), else `Error::InvalidArgument` naming the two keys; a cell of a
    /// family not in the build options is `InvalidArgument` too.
    pub fn add(&mut self, cell: &CellRef<'_>) -> Result<()> {
        let Some(fi) = self.family_index(cell.family) else {
            return Err(self.unknown_family(cell.family));
        };
        let new_row = match &self.last {
            None => true,
            Some(last) => {
                let prev = CellRef {
                    row: &last.row,
                    family: &self.families[last.family].name,
                    kind: last.kind,
                    qualifier: &last.qualifier,
                    ts: last.ts,
                    seq: last.seq,
                    value: &[],
                };
                // One row comparison per cell: rows decide unless equal.
                match prev.row.cmp(cell.row) {
                    Ordering::Less => true,
                    Ordering::Equal if compare_within_row(&prev, cell) == Ordering::Less => false,
                    _ => return Err(self.out_of_order(cell, &prev)),
                }
            }
        };
        if new_row {
            self.start_row(cell.row)?;
        }
        self.push_cell(fi, cell)?;
        self.set_last(new_row.then_some(cell.row), fi, cell);
        Ok(())
    }

    /// The last cell added, as a key (no value).
    fn last_ref(&self) -> CellRef<'_> {
        match &self.last {
            Some(last) => CellRef {
                row: &last.row,
                family: &self.families[last.family].name,
                kind: last.kind,
                qualifier: &last.qualifier,
                ts: last.ts,
                seq: last.seq,
                value: &[],
            },
            None => CellRef {
                row: &[],
                family: "",
                kind: CellKind::Put,
                qualifier: &[],
                ts: 0,
                seq: 0,
                value: &[],
            },
        }
    }

    /// Remember the last cell added (`new_row`: its row key, when it started a row).
    fn set_last(&mut self, new_row: Option<&[u8]>, fi: usize, cell: &CellRef<'_>) {
        let last = self.last.get_or_insert_with(|| LastCell {
            row: Vec::new(),
            family: 0,
            kind: CellKind::Put,
            qualifier: Vec::new(),
            ts: 0,
            seq: 0,
        });
        if let Some(row) = new_row {
            last.row.clear();
            last.row.extend_from_slice(row);
        }
        last.family = fi;
        last.kind = cell.kind;
        last.qualifier.clear();
        last.qualifier.extend_from_slice(cell.qualifier);
        last.ts = cell.ts;
        last.seq = cell.seq;
    }

    /// Add a checked cell of the current row to family `fi`'s block.
    fn push_cell(&mut self, fi: usize, cell: &CellRef<'_>) -> Result<()> {
        let CellRef {
            row,
            kind,
            qualifier,
            ts,
            seq,
            value,
            ..
        } = *cell;
        if self.format_version < 2 && kind as u8 > CellKind::LAST_V1 {
            return Err(Error::InvalidArgument(format!(
                "{}: format v{} has no {kind:?} cells",
                self.path.display(),
                self.format_version,
            )));
        }
        let ordinal = self.rows - 1;
        let p = &mut self.props;
        p.cells += 1;
        let is_delete = kind != CellKind::Put;
        p.deletes += u64::from(is_delete);
        if !kind.is_range_marker() {
            p.min_ts = p.min_ts.min(ts);
            p.max_ts = p.max_ts.max(ts);
        }
        p.min_seq = p.min_seq.min(seq);
        p.max_seq = p.max_seq.max(seq);
        if is_delete {
            p.min_marker_seq = p.min_marker_seq.min(seq);
            p.max_marker_seq = p.max_marker_seq.max(seq);
        }

        let f = &mut self.families[fi];
        f.props.cells += 1;
        f.props.deletes += u64::from(is_delete);
        if !is_delete {
            f.props.max_put_ts = f.props.max_put_ts.max(ts);
        }
        f.block.add(ordinal, row, kind, qualifier, ts, seq, value);
        if f.block.size() >= f.opts.block_size as usize {
            Self::flush_family(&mut self.writer, &mut *self.file, &self.path, f)?;
        }
        Ok(())
    }

    fn start_row(&mut self, row: &[u8]) -> Result<()> {
        if self.key_block.count() > 0 && self.key_block.size() >= self.key_block_target {
            self.flush_key_block()?;
        }
        if self.key_block.count() == 0 {
            self.key_block_first = self.rows;
        }
        self.key_block.add(row);
        if let Some(b) = &mut self.bloom {
            b.add(row);
        }
        if self.rows == 0 {
            self.props.smallest_row = row.to_vec();
        }
        self.rows += 1;
        Ok(())
    }

    fn flush_key_block(&mut self) -> Result<()> {
        let last_key = bytes::Bytes::copy_from_slice(self.key_block.last_key());
        self.key_block.finish_into(&mut self.writer.payload);
        let (handle, _) = self
            .writer
            .write(&mut *self.file, &self.path, self.meta_compression)?;
        self.key_index.push(KeyIndexEntry {
            first_ordinal: self.key_block_first,
            last_key,
            handle,
        });
        Ok(())
    }

    fn flush_family(
        writer: &mut BlockWriter,
        file: &mut dyn WritableFile,
        path: &Path,
        f: &mut FamilyState,
    ) -> Result<()> {
        let (first, last) = (f.block.first_ordinal(), f.block.last_ordinal());
        f.block.finish_into(&mut writer.payload);
        if let Dictionary::Sampling(held) = &mut f.dict {
            held.push(HeldBlock {
                payload: writer.payload.clone(),
                first,
                last,
            });
            if held.len() >= DICTIONARY_SAMPLE_BLOCKS {
                Self::train_and_release(writer, file, path, f)?;
            }
            return Ok(());
        }
        Self::write_family_block(writer, file, path, f, first, last)
    }

    /// Train family `f`'s dictionary on its held blocks (writing the dictionary block when
    /// zstd makes one), then write the held blocks in order, with it or without.
    fn train_and_release(
        writer: &mut BlockWriter,
        file: &mut dyn WritableFile,
        path: &Path,
        f: &mut FamilyState,
    ) -> Result<()> {
        let (held, written) = f.dict.train(writer, file, path, f.opts.compression)?;
        if let Some((handle, stored)) = written {
            f.dict_handle = Some(handle);
            f.props.stored_bytes += stored;
        }
        Self::release(writer, file, path, f, held)
    }

    /// Write `held` blocks of family `f` in order.
    fn release(
        writer: &mut BlockWriter,
        file: &mut dyn WritableFile,
        path: &Path,
        f: &mut FamilyState,
        held: Vec<HeldBlock>,
    ) -> Result<()> {
        for b in held {
            writer.payload = b.payload;
            Self::write_family_block(writer, file, path, f, b.first, b.last)?;
        }
        Ok(())
    }

    /// Write `writer.payload` as family `f`'s next block (rows `first..=last`).
    fn write_family_block(
        writer: &mut BlockWriter,
        file: &mut dyn WritableFile,
        path: &Path,
        f: &mut FamilyState,
        first: u64,
        last: u64,
    ) -> Result<()> {
        let raw = writer.payload.len() as u64;
        let (handle, stored) = match &f.dict {
            Dictionary::On(dict) => writer.write_with_dictionary(file, path, dict)?,
            _ => writer.write(file, path, f.opts.compression)?,
        };
        f.index.push(FamilyIndexEntry {
            first_ordinal: first,
            last_ordinal: last,
            handle,
        });
        f.props.blocks += 1;
        f.props.raw_bytes += raw;
        f.props.stored_bytes += stored;
        Ok(())
    }

    /// Bytes written so far plus the buffered blocks' uncompressed sizes and an estimate of
    /// index and bloom: what the file would take if finished now (an upper-ish bound, used
    /// to split output files).
    pub fn estimated_size(&self) -> u64 {
        let buffered: usize = self.key_block.size()
            + self
                .families
                .iter()
                .map(|f| {
                    f.dict.held_bytes()
                        + if f.block.is_empty() {
                            0
                        } else {
                            f.block.size()
                        }
                })
                .sum::<usize>();
        let index_blocks: usize = self.families.iter().map(|f| f.index.len()).sum();
        let index = self
            .key_index
            .iter()
            .map(|e| e.last_key.len() + 12)
            .sum::<usize>()
            + index_blocks * 12;
        let bloom = self.bloom.as_ref().map_or(0, |b| b.len() * 10 / 8 + 9);
        self.file.len() + (buffered + index + bloom) as u64
    }

    /// Write the remaining blocks, bloom filter, meta block and footer, and fsync the file.
    pub fn finish(mut self) -> Result<TableProperties> {
        for f in &mut self.families {
            if !f.block.is_empty() {
                Self::flush_family(&mut self.writer, &mut *self.file, &self.path, f)?;
            }
            // Too few blocks to train on: they go out without a dictionary.
            if let Dictionary::Sampling(held) = std::mem::replace(&mut f.dict, Dictionary::Off) {
                Self::release(&mut self.writer, &mut *self.file, &self.path, f, held)?;
            }
        }
        if self.key_block.count() > 0 {
            self.flush_key_block()?;
        }
        let bloom = match &self.bloom {
            Some(b) => {
                self.writer.payload.clear();
                self.writer.payload.extend_from_slice(&b.finish());
                let (h, _) = self
                    .writer
                    .write(&mut *self.file, &self.path, Compression::None)?;
                Some(h)
            }
            None => None,
        };
        if let Some(last) = &self.last {
            self.props.largest_row = last.row.clone();
        }
        if self.props.cells == 0 {
            self.props.min_seq = 0;
        }
        if self.props.deletes == 0 {
            self.props.min_marker_seq = 0;
        }
        self.props.rows = self.rows;
        let mut meta = Meta {
            props: self.props.clone(),
            bloom,
            key_index: std::mem::take(&mut self.key_index),
            families: self
                .families
                .iter_mut()
                .map(|f| FamilyMeta {
                    props: f.props.clone(),
                    compression: f.opts.compression,
                    bloom_filter: f.opts.bloom_filter,
                    block_size: f.opts.block_size,
                    dictionary: f.dict_handle,
                    index: std::mem::take(&mut f.index),
                })
                .collect(),
        };
        if self.format_version < 2 {
            // What a reader of the file will see in place of what v1 does not record.
            derive_v1_properties(&mut meta.props, &mut meta.families);
        }
        meta.props.families = meta.families.iter().map(|f| f.props.clone()).collect();
        self.props = meta.props.clone();
        self.writer.payload.clear();
        meta.encode(&mut self.writer.payload, self.format_version);
        let (meta_handle, _) =
            self.writer
                .write(&mut *self.file, &self.path, self.meta_compression)?;
        let footer = Footer {
            meta: meta_handle,
            version: self.format_version,
        };
        self.file
            .append(&footer.encode())
            .map_err(|e| Error::io(&self.path, e))?;
        self.file.sync().map_err(|e| Error::io(&self.path, e))?;
        self.props.file_size = self.file.len();
        tracing::debug!(
            path = %self.path.display(),
            rows = self.props.rows,
            cells = self.props.cells,
            bytes = self.props.file_size,
            "sstable finished"
        );
        Ok(self.props)
    }

    /// Stop writing and remove the partial file.
    pub fn abandon(self) -> Result<()> {
        let TableBuilder { fs, path, file, .. } = self;
        drop(file);
        match fs.remove(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fam(name: &str, compression: Compression) -> FamilyOptions {
        FamilyOptions {
            compression,
            ..FamilyOptions::new(name)
        }
    }

    #[test]
    fn metadata_blocks_compress_at_the_lowest_family_level() {
        let mixed = [
            fam("a", Compression::Zstd(9)),
            fam("b", Compression::None),
            fam("c", Compression::Zstd(1)),
        ];
        assert_eq!(meta_compression(&mixed), Compression::Zstd(1));
        let default = [
            fam("a", Compression::Zstd(0)),
            fam("b", Compression::Zstd(7)),
        ];
        assert_eq!(
            meta_compression(&default),
            Compression::Zstd(DEFAULT_ZSTD_LEVEL)
        );
        let raw = [fam("a", Compression::None), fam("b", Compression::None)];
        assert_eq!(meta_compression(&raw), Compression::None);
    }
}
