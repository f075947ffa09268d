//! Strata's storage engine: a wide-column LSM tree.
//!
//! The public surface is [`Db`] with the option, mutation, row, statistics and error types
//! re-exported here, plus these modules: [`options`]; [`sstable`], because the bulk loader
//! writes table files with the engine's own [`sstable::TableBuilder`] (and reads them back
//! with [`sstable::TableReader`]) before handing them to [`Db::ingest`]; [`fs`], the file
//! layer those take; [`filter`], HBase's filter language over the row types; [`aggregate`],
//! row counts per bucket of a column computed during a scan; [`iso8601`], the calendar and
//! timestamp parsing the loader and the time buckets share; and [`check`], the offline
//! verification behind `strata check`. Everything else is internal. Test seams (a
//! fault-injecting file layer, the memtable and WAL writer for micro-benchmarks) are in
//! `testing`, compiled only with the `testing` cargo feature and not part of the supported
//! API.
//!
//! Data flows one way: `Db` -> WAL + memtable -> (flush) SSTables + manifest. No module here
//! knows about gRPC, CSV or the command line. The module map and who may import whom are in
//! docs/architecture.md.

#![deny(missing_docs)]

pub mod aggregate;
mod atomic;
mod bloom;
mod cache;
mod catalog;
mod cell;
pub mod check;
mod codec;
mod compaction;
mod data_version;
mod db;
mod error;
mod events;
#[cfg(any(test, feature = "testing"))]
mod fault_fs;
mod fd_limit;
mod filename;
pub mod filter;
#[cfg(test)]
mod frozen_formats;
pub mod fs;
#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
pub mod fuzz;
mod health;
pub mod iso8601;
mod lock;
mod manifest;
mod memtable;
mod merge;
mod mutation;
pub mod options;
mod read;
mod row;
mod row_lock;
mod scan;
mod scratch;
mod snapshots;
#[doc(hidden)]
pub mod space_limit_fs;
pub mod sstable;
mod stats;
mod table;
mod version;
mod visibility;
mod wal;
mod write_batch;

pub use atomic::{CheckAndMutate, ColumnAppend, ColumnDelta, CompareOp};
pub use cell::{CellKind, CellRef, InternalCell, MARKER_TS, SeqNo, Timestamp, now_micros};
pub use data_version::DataVersion;
pub use db::{AlterTable, Db, IngestReply, WriteOptions};
pub use error::{Error, Result};
pub use events::{EventKind, RECENT_EVENTS, TableEvent};
pub use mutation::{Mutation, RowMutation, WriteStats};
pub use options::{Compression, DbOptions, FamilyOptions, Limits, SyncMode};
pub use row::{BorrowedCell, Cell, ColumnSelector, ReadOptions, Row, ScanOptions, TimeRange};
pub use scan::{ReverseWindows, RowScanner};
pub use stats::{FamilyStats, LevelStats, StoreStats, TableDescription, TableStats};

/// Test and benchmark seams, not part of the supported API: a fault-injecting file layer for
/// crash tests, and the memtable, WAL writer and merge for micro-benchmarks.
#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
pub mod testing {
    pub use crate::fault_fs::FaultFs;
    pub use crate::manifest::{ManifestState, read_manifest};
    pub use crate::memtable::MemTable;
    pub use crate::merge::{CellSource, MergeIter};
    pub use crate::wal::{LogWriter, SegmentContents, read_segment};
    pub use crate::write_batch::{RowCells, WriteBatch};
}
