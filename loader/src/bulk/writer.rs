//! Output table files: the writer interface the bulk build emits rows into, the engine's
//! `TableBuilder` behind it, and splitting one partition's output into files of a target
//! size at row boundaries. Owns file naming (`{prefix}-{partition:04}-{n:04}.sst`).
//! It must never split a row across files or write cells out of internal order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata_engine::fs::Fs;
use strata_engine::sstable::{RowCell, TableBuildOptions, TableBuilder};
use strata_engine::{CellKind, CellRef, FamilyOptions, Timestamp};

use super::batch::ByteRange;
use crate::error::Result;
use crate::mapping::CellSlot;

/// Bytes of row data between two checks of an output file's size.
const SIZE_CHECK_BYTES: u64 = 256 << 10;

/// A column of a row: (family, qualifier).
pub type Column<'a> = (&'a str, &'a [u8]);

/// Writes one table file from cells in strictly increasing internal order.
pub trait TableFileWriter: Send {
    /// Add the next cell.
    fn add(&mut self, cell: &CellRef<'_>) -> Result<()>;
    /// Add the next row: cell `i` is column `i` of the columns given to
    /// [`TableFileFactory::create`], with value `data[values[i]]`, all at `ts`.
    fn add_row(
        &mut self,
        key: &[u8],
        ts: Timestamp,
        data: &[u8],
        values: &[ByteRange],
    ) -> Result<()>;
    /// Bytes the file would take if finished now.
    fn estimated_size(&self) -> u64;
    /// Complete the file durably; returns its size in bytes.
    fn finish(self: Box<Self>) -> Result<u64>;
    /// Stop and remove the partial file.
    fn abandon(self: Box<Self>);
}

/// Creates table file writers.
pub trait TableFileFactory: Send + Sync {
    /// A writer for a new file at `path`, whose rows have the cells `columns` (family,
    /// qualifier) in this order (internal order).
    fn create(&self, path: &Path, columns: &[Column<'_>]) -> Result<Box<dyn TableFileWriter>>;
}

/// Writes SSTables with the engine's [`TableBuilder`].
#[derive(Debug, Clone)]
pub struct EngineTableFiles {
    fs: Arc<dyn Fs>,
    families: Vec<FamilyOptions>,
}

impl EngineTableFiles {
    /// Files holding `families` (with their compression, block size and bloom options).
    pub fn new(fs: Arc<dyn Fs>, families: Vec<FamilyOptions>) -> Self {
        EngineTableFiles { fs, families }
    }
}

struct EngineWriter {
    b: TableBuilder,
    /// (family, qualifier) per cell; the family is the builder's own string.
    columns: Vec<(Arc<str>, Vec<u8>)>,
}

impl TableFileWriter for EngineWriter {
    fn add(&mut self, cell: &CellRef<'_>) -> Result<()> {
        Ok(self.b.add(cell)?)
    }
    fn add_row(
        &mut self,
        key: &[u8],
        ts: Timestamp,
        data: &[u8],
        values: &[ByteRange],
    ) -> Result<()> {
        let cells = self
            .columns
            .iter()
            .zip(values)
            .map(|((family, qualifier), &(o, l))| RowCell {
                family,
                kind: CellKind::Put,
                qualifier,
                ts,
                seq: 0,
                value: &data[o as usize..(o + l) as usize],
            });
        Ok(self.b.add_row(key, cells)?)
    }
    fn estimated_size(&self) -> u64 {
        self.b.estimated_size()
    }
    fn finish(self: Box<Self>) -> Result<u64> {
        Ok(self.b.finish()?.file_size)
    }
    fn abandon(self: Box<Self>) {
        // Best effort: the build already failed, and that error is what gets reported.
        let _ = self.b.abandon();
    }
}

impl TableFileFactory for EngineTableFiles {
    fn create(&self, path: &Path, columns: &[Column<'_>]) -> Result<Box<dyn TableFileWriter>> {
        let b = TableBuilder::new(
            &self.fs,
            path,
            TableBuildOptions {
                families: self.families.clone(),
            },
        )?;
        let columns = columns
            .iter()
            .map(|&(f, q)| (b.family_name(f).unwrap_or_else(|| Arc::from(f)), q.to_vec()))
            .collect();
        Ok(Box::new(EngineWriter { b, columns }))
    }
}

/// A finished output file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputFile {
    /// Path.
    pub path: PathBuf,
    /// Size in bytes.
    pub bytes: u64,
    /// Rows written to it.
    pub rows: u64,
    /// Cells written to it.
    pub cells: u64,
    /// First row key.
    pub first_key: Vec<u8>,
}

/// The files of one partition, split at a target size.
pub struct PartitionOutput<'a> {
    factory: &'a dyn TableFileFactory,
    dir: &'a Path,
    prefix: &'a str,
    partition: usize,
    target: u64,
    /// The mapping's columns.
    columns: Vec<Column<'a>>,
    current: Option<(Box<dyn TableFileWriter>, OutputFile)>,
    /// Value bytes added since the size was last checked.
    unchecked: u64,
    /// Files finished so far, in key order.
    pub files: Vec<OutputFile>,
}

impl<'a> PartitionOutput<'a> {
    /// Output for partition `partition`.
    pub fn new(
        factory: &'a dyn TableFileFactory,
        dir: &'a Path,
        prefix: &'a str,
        partition: usize,
        target: u64,
        cells: &'a [CellSlot],
    ) -> Self {
        PartitionOutput {
            factory,
            dir,
            prefix,
            partition,
            target,
            columns: cells
                .iter()
                .map(|c| (&*c.family, c.qualifier.as_slice()))
                .collect(),
            current: None,
            unchecked: 0,
            files: Vec::new(),
        }
    }

    /// Write one row: its cells in the mapping's (internal) order.
    pub fn add_row(
        &mut self,
        key: &[u8],
        ts: Timestamp,
        data: &[u8],
        values: &[ByteRange],
    ) -> Result<()> {
        if self.current.is_none() {
            let path = self.dir.join(format!(
                "{}-{:04}-{:04}.sst",
                self.prefix,
                self.partition,
                self.files.len()
            ));
            let w = self.factory.create(&path, &self.columns)?;
            self.current = Some((
                w,
                OutputFile {
                    path,
                    bytes: 0,
                    rows: 0,
                    cells: 0,
                    first_key: key.to_vec(),
                },
            ));
        }
        let Some((w, info)) = self.current.as_mut() else {
            return Ok(());
        };
        w.add_row(key, ts, data, values)?;
        info.rows += 1;
        info.cells += values.len() as u64;
        // Asking the builder for its size costs time, so ask only every SIZE_CHECK_BYTES of
        // input (the file overshoots the target by at most that much, before compression).
        self.unchecked += (key.len() + values.iter().map(|v| v.1 as usize).sum::<usize>()) as u64;
        if self.unchecked >= SIZE_CHECK_BYTES.min(self.target) {
            self.unchecked = 0;
            if w.estimated_size() >= self.target {
                self.finish_current()?;
            }
        }
        Ok(())
    }

    fn finish_current(&mut self) -> Result<()> {
        if let Some((w, mut info)) = self.current.take() {
            info.bytes = w.finish()?;
            self.files.push(info);
        }
        Ok(())
    }

    /// Finish the open file; returns every file of the partition.
    pub fn finish(mut self) -> Result<Vec<OutputFile>> {
        self.finish_current()?;
        Ok(std::mem::take(&mut self.files))
    }

    /// Remove the partition's files after a failure.
    pub fn abandon(mut self) {
        if let Some((w, _)) = self.current.take() {
            w.abandon();
        }
        for f in &self.files {
            let _ = std::fs::remove_file(&f.path);
        }
    }
}
