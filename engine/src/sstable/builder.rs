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

use super::block::{FamilyBlockBuilder, KeyBlockBuilder};
use super::format::{
    BlockHandle, COMPRESSION_NONE, COMPRESSION_ZSTD, FORMAT_VERSION, FamilyIndexEntry, FamilyMeta,
    Footer, KeyIndexEntry, MAX_KEY_BLOCK_SIZE, Meta, TRAILER_LEN, encode_trailer,
};
use super::{FamilyProperties, TableBuildOptions, TableProperties};

/// Compression of key, meta and bloom-less metadata blocks when any family compresses.
const META_COMPRESSION: Compression = Compression::Zstd(DEFAULT_ZSTD_LEVEL);

/// One cell of a row given to [`TableBuilder::add_row`]: a [`CellRef`] without the row key.
#[derive(Clone, Copy, Debug)]
pub struct RowCell<'a> {
    /// Column family name.
    pub family: &'a str,
    /// Entry kind.
    pub kind: CellKind,
    /// Column qualifier.
    pub qualifier: &'a [u8],
    /// Timestamp.
    pub ts: Timestamp,
    /// Write order.
    pub seq: SeqNo,
    /// Value.
    pub value: &'a [u8],
}

impl<'a> RowCell<'a> {
    /// The cell with its row key.
    #[inline]
    pub fn with_row<'r>(&self, row: &'r [u8]) -> CellRef<'r>
    where
        'a: 'r,
    {
        CellRef {
            row,
            family: self.family,
            kind: self.kind,
            qualifier: self.qualifier,
            ts: self.ts,
            seq: self.seq,
            value: self.value,
        }
    }
}

/// Compresses and writes blocks, reusing zstd contexts and buffers.
struct BlockWriter {
    compressors: Vec<(i32, zstd::bulk::Compressor<'static>)>,
    /// The uncompressed payload of the block being written.
    payload: Vec<u8>,
    /// Compressed payload + trailer.
    out: Vec<u8>,
}

impl BlockWriter {
    fn new() -> Self {
        BlockWriter {
            compressors: Vec::new(),
            payload: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Write `self.payload` as one block; returns its handle and bytes on disk.
    fn write(
        &mut self,
        file: &mut dyn WritableFile,
        path: &Path,
        compression: Compression,
    ) -> Result<(BlockHandle, u64)> {
        let ulen = u32::try_from(self.payload.len()).map_err(|_| {
            Error::InvalidArgument(format!(
                "{}: a block of {} bytes exceeds the 4 GiB block limit",
                path.display(),
                self.payload.len()
            ))
        })?;
        let mut ctype = COMPRESSION_NONE;
        self.out.clear();
        if let Compression::Zstd(level) = compression {
            let level = if level == 0 {
                DEFAULT_ZSTD_LEVEL
            } else {
                level
            };
            let pos = match self.compressors.iter().position(|(l, _)| *l == level) {
                Some(p) => p,
                None => {
                    let c = zstd::bulk::Compressor::new(level).map_err(|e| Error::io(path, e))?;
                    self.compressors.push((level, c));
                    self.compressors.len() - 1
                }
            };
            if let Some((_, c)) = self.compressors.get_mut(pos) {
                self.out
                    .reserve(zstd::zstd_safe::compress_bound(self.payload.len()) + TRAILER_LEN);
                let n = c
                    .compress_to_buffer(&self.payload[..], &mut self.out)
                    .map_err(|e| Error::io(path, e))?;
                // Keep the compressed form only when it saves space.
                if n < self.payload.len() {
                    ctype = COMPRESSION_ZSTD;
                } else {
                    self.out.clear();
                }
            }
        }
        if ctype == COMPRESSION_NONE {
            self.out.extend_from_slice(&self.payload);
        }
        let size = self.out.len() as u64;
        let trailer = encode_trailer(&self.out, ctype, ulen);
        self.out.extend_from_slice(&trailer);
        let handle = BlockHandle {
            offset: file.len(),
            size,
        };
        file.append(&self.out).map_err(|e| Error::io(path, e))?;
        Ok((handle, self.out.len() as u64))
    }
}

struct FamilyState {
    name: Arc<str>,
    opts: FamilyOptions,
    block: FamilyBlockBuilder,
    index: Vec<FamilyIndexEntry>,
    props: FamilyProperties,
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
        let meta_compression = if fam_opts.iter().all(|f| f.compression == Compression::None) {
            Compression::None
        } else {
            META_COMPRESSION
        };
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
                        ..FamilyProperties::default()
                    },
                    name,
                    opts,
                    block: FamilyBlockBuilder::default(),
                    index: Vec::new(),
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
                format_version: FORMAT_VERSION,
                min_ts: i64::MAX,
                max_ts: i64::MIN,
                min_seq: u64::MAX,
                max_seq: 0,
                ..TableProperties::default()
            },
            writer: BlockWriter::new(),
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
        self.push_cell(fi, cell.kind, cell.qualifier, cell.ts, cell.seq, cell.value)?;
        self.set_last(new_row.then_some(cell.row), fi, cell);
        Ok(())
    }

    /// Add a whole row: the same as [`TableBuilder::add`] for each cell with row key `row`,
    /// but the row key is compared once, not per cell. The cells must be in internal order
    /// within the row and the row after every row added before (or the same row, continued
    /// with later cells). Everything is checked before anything is added: on error, nothing
    /// of the row was added.
    pub fn add_row<'c, I>(&mut self, row: &[u8], cells: I) -> Result<()>
    where
        I: IntoIterator<Item = RowCell<'c>>,
        I::IntoIter: Clone,
    {
        let cells = cells.into_iter();
        let continues = match &self.last {
            None => false,
            Some(last) => match last.row.as_slice().cmp(row) {
                Ordering::Less => false,
                Ordering::Equal => true,
                Ordering::Greater => {
                    let first = cells.clone().next().map_or(
                        CellRef {
                            row,
                            family: "",
                            kind: CellKind::Put,
                            qualifier: &[],
                            ts: 0,
                            seq: 0,
                            value: &[],
                        },
                        |c| c.with_row(row),
                    );
                    return Err(self.out_of_order(&first, &self.last_ref()));
                }
            },
        };
        // Check the families and the order within the row before adding anything. Callers
        // usually pass the same family string for neighbouring cells: when the pointer and
        // length are the same as the previous cell's, so is the family (no string compare).
        let mut prev: Option<CellRef<'_>> = if continues {
            Some(self.last_ref())
        } else {
            None
        };
        let mut fam: (*const u8, usize) = (std::ptr::null(), 0);
        for c in cells.clone() {
            let c = c.with_row(row);
            let same_fam = (c.family.as_ptr(), c.family.len()) == fam;
            if !same_fam && self.find_family(c.family).is_none() {
                return Err(self.unknown_family(c.family));
            }
            if let Some(p) = &prev {
                let ord = if same_fam {
                    // `compare_within_row` without the family comparison.
                    (p.kind.rank().cmp(&c.kind.rank()))
                        .then_with(|| p.qualifier.cmp(c.qualifier))
                        .then_with(|| c.ts.cmp(&p.ts))
                        .then_with(|| c.seq.cmp(&p.seq))
                        .then_with(|| p.kind.cmp(&c.kind))
                } else {
                    compare_within_row(p, &c)
                };
                if ord != Ordering::Less {
                    return Err(self.out_of_order(&c, p));
                }
            }
            fam = (c.family.as_ptr(), c.family.len());
            prev = Some(c);
        }
        let mut last: Option<(usize, RowCell<'c>)> = None;
        let mut fam: (*const u8, usize, usize) = (std::ptr::null(), 0, 0);
        for c in cells {
            let fi = if (c.family.as_ptr(), c.family.len()) == (fam.0, fam.1) {
                fam.2
            } else {
                let fi = self
                    .family_index(c.family)
                    .ok_or_else(|| self.unknown_family(c.family))?;
                fam = (c.family.as_ptr(), c.family.len(), fi);
                fi
            };
            if last.is_none() && !continues {
                self.start_row(row)?;
            }
            self.push_cell(fi, c.kind, c.qualifier, c.ts, c.seq, c.value)?;
            last = Some((fi, c));
        }
        if let Some((fi, c)) = last {
            self.set_last((!continues).then_some(row), fi, &c.with_row(row));
        }
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
    fn push_cell(
        &mut self,
        fi: usize,
        kind: CellKind,
        qualifier: &[u8],
        ts: Timestamp,
        seq: SeqNo,
        value: &[u8],
    ) -> Result<()> {
        let ordinal = self.rows - 1;
        let p = &mut self.props;
        p.cells += 1;
        let is_delete = kind != CellKind::Put;
        p.deletes += u64::from(is_delete);
        if !matches!(kind, CellKind::DeleteColumn | CellKind::DeleteFamily) {
            p.min_ts = p.min_ts.min(ts);
            p.max_ts = p.max_ts.max(ts);
        }
        p.min_seq = p.min_seq.min(seq);
        p.max_seq = p.max_seq.max(seq);

        let f = &mut self.families[fi];
        f.props.cells += 1;
        f.props.deletes += u64::from(is_delete);
        f.block.add(ordinal, kind, qualifier, ts, seq, value);
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
        let raw = writer.payload.len() as u64;
        let (handle, stored) = writer.write(file, path, f.opts.compression)?;
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
                .filter(|f| !f.block.is_empty())
                .map(|f| f.block.size())
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
        self.props.rows = self.rows;
        self.props.families = self.families.iter().map(|f| f.props.clone()).collect();
        let meta = Meta {
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
                    index: std::mem::take(&mut f.index),
                })
                .collect(),
        };
        self.writer.payload.clear();
        meta.encode(&mut self.writer.payload);
        let (meta_handle, _) =
            self.writer
                .write(&mut *self.file, &self.path, self.meta_compression)?;
        let footer = Footer {
            meta: meta_handle,
            version: FORMAT_VERSION,
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
    use crate::fs;
    use crate::options::FamilyOptions;

    /// (row, family, kind, qualifier, ts, seq, value), in internal order.
    type Cell = (Vec<u8>, &'static str, CellKind, Vec<u8>, i64, u64, Vec<u8>);

    fn cells() -> Vec<Cell> {
        let mut v = Vec::new();
        for r in 0..3000u32 {
            let row = format!("row{r:06}").into_bytes();
            for fam in ["a", "b"] {
                if r % 7 == 3 && fam == "a" {
                    continue; // a row without family a
                }
                if r % 11 == 0 {
                    v.push((
                        row.clone(),
                        fam,
                        CellKind::DeleteFamily,
                        vec![],
                        9,
                        1,
                        vec![],
                    ));
                }
                for q in 0..3u8 {
                    for ts in [20i64, 10] {
                        let value = format!("{r}-{fam}-{q}-{ts}").repeat(1 + (r as usize % 5));
                        v.push((
                            row.clone(),
                            fam,
                            CellKind::Put,
                            vec![b'q', q],
                            ts,
                            5,
                            value.into_bytes(),
                        ));
                    }
                }
            }
        }
        v
    }

    fn as_ref(c: &Cell) -> CellRef<'_> {
        CellRef {
            row: &c.0,
            family: c.1,
            kind: c.2,
            qualifier: &c.3,
            ts: c.4,
            seq: c.5,
            value: &c.6,
        }
    }

    fn row_cell(c: &Cell) -> RowCell<'_> {
        RowCell {
            family: c.1,
            kind: c.2,
            qualifier: &c.3,
            ts: c.4,
            seq: c.5,
            value: &c.6,
        }
    }

    fn builder(path: &Path) -> TableBuilder {
        let families = vec![FamilyOptions::new("a"), FamilyOptions::new("b")];
        TableBuilder::new(&fs::real(), path, TableBuildOptions { families }).unwrap()
    }

    #[test]
    fn add_row_writes_the_same_file_as_add() {
        let dir = tempfile::tempdir().unwrap();
        let cells = cells();
        let mut a = builder(&dir.path().join("a.sst"));
        for c in &cells {
            a.add(&as_ref(c)).unwrap();
        }
        let pa = a.finish().unwrap();

        let mut b = builder(&dir.path().join("b.sst"));
        let fam_a_owned = b.family_name("a").unwrap();
        let fam_a: &str = &fam_a_owned;
        add_rows_in_pieces(&mut b, &cells, fam_a);
        let pb = b.finish().unwrap();
        assert_eq!(pa, pb);
        let fa = std::fs::read(dir.path().join("a.sst")).unwrap();
        let fb = std::fs::read(dir.path().join("b.sst")).unwrap();
        assert!(fa == fb, "files differ");
    }

    fn add_rows_in_pieces<'a>(b: &mut TableBuilder, cells: &'a [Cell], fam_a: &'a str) {
        for (i, row) in cells.chunk_by(|x, y| x.0 == y.0).enumerate() {
            // Some rows in two calls (a continued row), some through the builder's own
            // family strings, some with an empty call first.
            let split = if i % 3 == 0 { row.len() / 2 } else { row.len() };
            if i % 5 == 0 {
                b.add_row(&row[0].0, std::iter::empty()).unwrap();
            }
            let own = |part: &'a [Cell]| -> Vec<RowCell<'a>> {
                part.iter()
                    .map(|c| {
                        let mut r = row_cell(c);
                        if i % 2 == 0 && c.1 == "a" {
                            r.family = fam_a;
                        }
                        r
                    })
                    .collect()
            };
            let (x, y) = (own(&row[..split]), own(&row[split..]));
            b.add_row(&row[0].0, x.iter().copied()).unwrap();
            b.add_row(&row[0].0, y.iter().copied()).unwrap();
        }
    }

    #[test]
    fn add_row_rejects_bad_rows_without_adding_anything() {
        let dir = tempfile::tempdir().unwrap();
        let cells = cells();
        let rows: Vec<&[Cell]> = cells.chunk_by(|x, y| x.0 == y.0).take(3).collect();
        let mut a = builder(&dir.path().join("a.sst"));
        for c in rows.iter().flat_map(|r| r.iter()) {
            a.add(&as_ref(c)).unwrap();
        }
        a.finish().unwrap();

        let mut b = builder(&dir.path().join("b.sst"));
        b.add_row(&rows[0][0].0, rows[0].iter().map(row_cell))
            .unwrap();
        // Cells out of order within a row, a duplicate cell, an unknown family, an earlier
        // row, the same row restarted: each rejected before anything is added.
        let mut swapped: Vec<RowCell<'_>> = rows[1].iter().map(row_cell).collect();
        swapped.swap(0, 1);
        let mut dup: Vec<RowCell<'_>> = rows[1].iter().map(row_cell).collect();
        dup.push(dup[dup.len() - 1]);
        let mut unknown: Vec<RowCell<'_>> = rows[1].iter().map(row_cell).collect();
        unknown[2].family = "zz";
        for bad in [swapped, dup, unknown] {
            let e = b.add_row(&rows[1][0].0, bad.iter().copied()).unwrap_err();
            assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
        }
        let e = b.add_row(b"row", rows[1].iter().map(row_cell)).unwrap_err();
        assert!(e.to_string().contains("out of order"), "{e}");
        let e = b
            .add_row(&rows[0][0].0, rows[0].iter().map(row_cell))
            .unwrap_err();
        assert!(e.to_string().contains("out of order"), "{e}");
        for r in &rows[1..] {
            b.add_row(&r[0].0, r.iter().map(row_cell)).unwrap();
        }
        b.finish().unwrap();
        let fa = std::fs::read(dir.path().join("a.sst")).unwrap();
        let fb = std::fs::read(dir.path().join("b.sst")).unwrap();
        assert!(fa == fb, "files differ");
    }
}
