//! SSTables: immutable, sorted, checksummed table files. One file holds every family of one
//! table (row keys stored once per file, each family in its own compressed blocks), so a
//! scan of one family reads only that family's blocks. See `docs/format.md` and
//! `docs/design/sstable-layout.md`.
//!
//! Flush, compaction and the bulk loader all write through [`TableBuilder`]; every read goes
//! through [`TableReader`]. Nothing outside this module knows the byte layout.
//!
//! This module must never return data from a block whose checksum failed: it returns
//! `Error::Corruption` naming the file and offset.

use std::sync::Arc;

use crate::cell::{SeqNo, Timestamp};
use crate::options::FamilyOptions;

mod builder;
mod derive;
mod family_block;
mod family_block_builder;
mod format;
mod iter;
mod key_block;
mod reader;
mod row_walk;
mod table_file;
#[cfg(test)]
mod tests;
mod walk_merge;

pub use builder::{RowCell, TableBuilder};
pub use iter::TableIter;
pub use reader::{ReadStats, TableReader};
pub(crate) use row_walk::{CellView, FamilyCells, RowWalk};
pub(crate) use walk_merge::WalkMerge;

/// What a builder needs to know: the families the file may contain, with their options
/// (compression, block size, bloom filter).
#[derive(Clone, Debug)]
pub struct TableBuildOptions {
    /// Families, in any order. Adding a cell of another family is an error.
    pub families: Vec<FamilyOptions>,
}

/// Per-family statistics stored in a file.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FamilyProperties {
    /// Family name.
    pub name: Arc<str>,
    /// Entries (values and delete markers).
    pub cells: u64,
    /// Delete markers among them.
    pub deletes: u64,
    /// Data blocks.
    pub blocks: u64,
    /// Bytes of this family's blocks on disk (compressed, with trailers).
    pub stored_bytes: u64,
    /// Bytes of this family's blocks before compression.
    pub raw_bytes: u64,
    /// The newest timestamp of its puts (`i64::MIN` if none). A v1 file does not record it:
    /// the file's `max_ts` stands in for a family with puts.
    pub max_put_ts: Timestamp,
}

/// File-level properties, kept in the file and returned by `finish` and `open`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TableProperties {
    /// Format version the file was written with.
    pub format_version: u32,
    /// Distinct rows.
    pub rows: u64,
    /// Entries over all families.
    pub cells: u64,
    /// Delete markers over all families.
    pub deletes: u64,
    /// Size of the whole file in bytes.
    pub file_size: u64,
    /// First row key.
    pub smallest_row: Vec<u8>,
    /// Last row key.
    pub largest_row: Vec<u8>,
    /// Smallest cell timestamp (column and family markers excluded; `i64::MAX` if none).
    pub min_ts: Timestamp,
    /// Largest cell timestamp (column and family markers excluded; `i64::MIN` if none).
    pub max_ts: Timestamp,
    /// Smallest sequence number stored in the file.
    pub min_seq: SeqNo,
    /// Largest sequence number stored in the file.
    pub max_seq: SeqNo,
    /// Smallest sequence number of a delete marker (0 without markers). A v1 file does not
    /// record it: `min_seq` stands in when it has markers.
    pub min_marker_seq: SeqNo,
    /// Largest sequence number of a delete marker (0 without markers; a v1 file: `max_seq`).
    pub max_marker_seq: SeqNo,
    /// Per-family statistics, sorted by name.
    pub families: Vec<FamilyProperties>,
}
