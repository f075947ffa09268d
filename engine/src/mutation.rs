//! What clients ask the engine to write: row mutations, applied atomically per row. Keys,
//! qualifiers and values are `Bytes`, so a caller holding a received buffer hands its slices
//! over without a copy.

use bytes::Bytes;

use crate::cell::Timestamp;

/// One change to a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// Write a value. `timestamp` 0 means "the server's clock".
    SetCell {
        /// Family.
        family: String,
        /// Qualifier.
        qualifier: Bytes,
        /// Value.
        value: Bytes,
        /// Version timestamp in microseconds, 0 for now.
        timestamp: Timestamp,
    },
    /// Delete one version (`timestamp` != 0) or every version (`timestamp` 0) of a column.
    DeleteCells {
        /// Family.
        family: String,
        /// Qualifier.
        qualifier: Bytes,
        /// The version to delete, or 0 for all.
        timestamp: Timestamp,
    },
    /// Delete every column of one family of the row.
    DeleteFamily {
        /// Family.
        family: String,
    },
    /// Delete the whole row (every family).
    DeleteRow,
}

/// All changes to one row; applied atomically.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RowMutation {
    /// Row key.
    pub row: Bytes,
    /// Changes, applied in order.
    pub mutations: Vec<Mutation>,
}

/// Counts returned by a write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Rows written.
    pub rows: u64,
    /// Cells (including delete markers) written.
    pub cells: u64,
}
