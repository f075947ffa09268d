//! Strata's storage engine: a wide-column LSM tree.
//!
//! The public surface is [`Db`] and the option, mutation and row types re-exported here.
//! `sstable` is public too, because the bulk loader writes table files with the engine's own
//! [`sstable::TableBuilder`] and then hands them to [`Db::ingest`].
//!
//! Data flows one way: `Db` -> WAL + memtable -> (flush) SSTables + manifest. No module here
//! knows about gRPC, CSV or the command line.

#![warn(missing_docs)]

pub mod bloom;
pub mod cache;
pub mod cell;
pub mod codec;
mod compaction;
pub mod db;
pub mod error;
pub mod fault_fs;
pub mod filter;
pub mod fs;
mod lock;
pub mod manifest;
pub mod memtable;
pub mod mutation;
pub mod options;
pub mod read;
pub mod row;
pub mod sstable;
mod stats;
mod version;
pub mod wal;
pub mod write_batch;

pub use cell::{CellKind, CellRef, InternalCell, SeqNo, Timestamp};
pub use db::{AlterTable, Db, IngestReply, RowScanner, now_micros};
pub use error::{Error, Result};
pub use mutation::{Mutation, RowMutation, WriteStats};
pub use options::{Compression, DbOptions, FamilyOptions, Limits, SyncMode};
pub use row::{Cell, ColumnSelector, ReadOptions, Row, ScanOptions, TimeRange};
pub use stats::{FamilyStats, LevelStats, TableDescription, TableStats};
