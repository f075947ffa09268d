//! `Db`: the engine's front door. Owns the table catalog, the write path (WAL, memtables),
//! the background flush thread, recovery at open, and the read path's entry points.
//!
//! IN PROGRESS: the signatures below are the API other crates code against; the bodies are
//! being written in this issue and are not done.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::Result;
use crate::fs::Fs;
use crate::mutation::{RowMutation, WriteStats};
use crate::options::{DbOptions, FamilyOptions};
use crate::row::{ReadOptions, Row, ScanOptions};

/// Changes to a table's families.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlterTable {
    /// Families to add.
    pub add: Vec<FamilyOptions>,
    /// Families to drop (their data goes with them).
    pub drop: Vec<String>,
    /// Families whose options change (matched by name).
    pub modify: Vec<FamilyOptions>,
}

/// Files and bytes at one level of a table's LSM tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LevelStats {
    /// Level number (0 = newest, overlapping files).
    pub level: u32,
    /// Files at this level.
    pub files: u64,
    /// Bytes of those files.
    pub bytes: u64,
}

/// Storage statistics of one family, summed over a table's files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FamilyStats {
    /// Family name.
    pub name: String,
    /// Entries in files (values and markers).
    pub cells: u64,
    /// Bytes on disk of this family's blocks.
    pub stored_bytes: u64,
    /// Bytes of those blocks before compression.
    pub raw_bytes: u64,
}

/// A table's storage statistics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Live SSTables.
    pub files: u64,
    /// Their total size.
    pub file_bytes: u64,
    /// Rows in files (rows present in several files count several times).
    pub file_rows: u64,
    /// Entries in files.
    pub file_cells: u64,
    /// Bytes held by the table's memtables (active and frozen).
    pub memtable_bytes: u64,
    /// Frozen memtables waiting for flush.
    pub immutable_memtables: u64,
    /// Per-level files and bytes.
    pub levels: Vec<LevelStats>,
    /// Per-family figures.
    pub families: Vec<FamilyStats>,
    /// Flushes done since open.
    pub flushes: u64,
    /// Compactions done since open.
    pub compactions: u64,
    /// Bytes read by compactions since open.
    pub compaction_bytes_in: u64,
    /// Bytes written by compactions since open.
    pub compaction_bytes_out: u64,
    /// Times writers were stalled since open.
    pub write_stalls: u64,
}

/// A table's schema and statistics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDescription {
    /// Table name.
    pub name: String,
    /// Families, sorted by name.
    pub families: Vec<FamilyOptions>,
    /// Storage statistics.
    pub stats: TableStats,
}

/// The result of adopting externally built SSTables.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngestReply {
    /// Files adopted.
    pub files: u64,
    /// Entries in them.
    pub cells: u64,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// An open store.
#[derive(Clone, Debug)]
pub struct Db {
    _inner: Arc<()>,
}

/// Rows of a scan, read from one consistent snapshot. Holding it pins files, not memory.
pub struct RowScanner {
    _private: (),
}

impl Iterator for RowScanner {
    type Item = Result<Row>;
    fn next(&mut self) -> Option<Result<Row>> {
        todo!("in progress")
    }
}

impl Db {
    /// Open (or create) a store in `dir`.
    pub fn open(dir: impl AsRef<Path>, options: DbOptions) -> Result<Db> {
        Self::open_with_fs(dir, options, crate::fs::real())
    }
    /// Open with a given file layer (tests inject faults through it).
    pub fn open_with_fs(
        _dir: impl AsRef<Path>,
        _options: DbOptions,
        _fs: Arc<dyn Fs>,
    ) -> Result<Db> {
        todo!("in progress")
    }
    /// Create a table with its families.
    pub fn create_table(&self, _table: &str, _families: Vec<FamilyOptions>) -> Result<()> {
        todo!("in progress")
    }
    /// Drop a table and its data.
    pub fn drop_table(&self, _table: &str) -> Result<()> {
        todo!("in progress")
    }
    /// Add, drop or change families.
    pub fn alter_table(&self, _table: &str, _alter: AlterTable) -> Result<()> {
        todo!("in progress")
    }
    /// Table names, sorted.
    pub fn list_tables(&self) -> Vec<String> {
        todo!("in progress")
    }
    /// Schema and statistics of a table.
    pub fn describe_table(&self, _table: &str) -> Result<TableDescription> {
        todo!("in progress")
    }
    /// Apply one row mutation atomically; durable (per the sync mode) when this returns.
    pub fn mutate_row(&self, _table: &str, _m: RowMutation) -> Result<WriteStats> {
        todo!("in progress")
    }
    /// Apply many row mutations: all are validated before any is applied; each row is
    /// atomic; durable when this returns.
    pub fn mutate_rows(&self, _table: &str, _rows: Vec<RowMutation>) -> Result<WriteStats> {
        todo!("in progress")
    }
    /// Read one row. `None` when the row has no visible cell in the selection.
    pub fn get(&self, _table: &str, _row: &[u8], _opts: &ReadOptions) -> Result<Option<Row>> {
        todo!("in progress")
    }
    /// Scan rows in key order from one consistent snapshot.
    pub fn scan(&self, _table: &str, _opts: ScanOptions) -> Result<RowScanner> {
        todo!("in progress")
    }
    /// Flush the table's memtables to SSTables and wait for it.
    pub fn flush(&self, _table: &str) -> Result<()> {
        todo!("in progress")
    }
    /// Compact the table (`major`: everything into one sorted run).
    pub fn compact(&self, _table: &str, _major: bool) -> Result<()> {
        todo!("in progress")
    }
    /// Adopt SSTables written by the loader, atomically. Files on the same filesystem are
    /// hard-linked, others copied and fsynced. Repeating an `ingest_id` returns the first
    /// reply and adopts nothing.
    pub fn ingest(
        &self,
        _table: &str,
        _paths: &[PathBuf],
        _ingest_id: &str,
    ) -> Result<IngestReply> {
        todo!("in progress")
    }
    /// Sync the WAL, stop background threads, release the directory lock.
    pub fn close(&self) -> Result<()> {
        todo!("in progress")
    }
}
