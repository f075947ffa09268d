//! The engine's one error type. Every fallible engine call returns [`Result`].
//!
//! Corruption always names the file and the byte offset, so an operator can find the damage;
//! it must never be swallowed and turned into "not found" or partial data.

use std::path::PathBuf;

/// Result alias used across the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the engine can report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O error on a named file.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file's contents failed a checksum or structural check.
    #[error("corruption in {path} at offset {offset}: {what}")]
    Corruption {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset of the damaged record or block.
        offset: u64,
        /// What was wrong.
        what: String,
    },
    /// A caller passed something the engine cannot accept (bad name, oversized key...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A table does not exist.
    #[error("table not found: {0}")]
    TableNotFound(String),
    /// A disabled table (HBase's `disableTable`): its reads and writes are refused until it
    /// is enabled again.
    #[error("table {0} is disabled: enable it to read or write it")]
    TableDisabled(String),
    /// A column family does not exist in a table.
    #[error("column family not found: {table}:{family}")]
    FamilyNotFound {
        /// The table.
        table: String,
        /// The missing family.
        family: String,
    },
    /// Creating something that exists.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// The engine stopped accepting writes after an I/O failure (full disk, failed fsync).
    /// Reads go on; restart once the cause is fixed.
    #[error("store is read-only after a write failure: {0}")]
    ReadOnly(String),
    /// A cache-only read ([`crate::Db::get_cached`]) needs a block that is not cached; only
    /// ever seen inside the engine (that call answers `None` instead).
    #[error("the read needs a table block that is not in the block cache")]
    NotCached,
    /// Another process holds the data directory.
    #[error("data directory {path} is locked by another process")]
    Locked {
        /// The data directory.
        path: PathBuf,
    },
    /// The engine is shutting down.
    #[error("store is closed")]
    Closed,
    /// A write waited [`crate::DbOptions::write_stall_timeout`] for room (memtable flushes or
    /// compactions falling behind) and gave up. Nothing of it was applied; retry later.
    #[error(
        "write to table {table} gave up after {waited_ms} ms waiting for {waiting_for}; nothing was applied, retry later"
    )]
    Stalled {
        /// The table written to.
        table: String,
        /// How long the write waited.
        waited_ms: u64,
        /// What it waited for.
        waiting_for: String,
    },
    /// The caller gave up on a write (see [`crate::WriteOptions::abandoned`]) before it took
    /// its sequence numbers. Nothing of it was applied.
    #[error(
        "write to table {0} abandoned by its caller before it was applied; nothing was applied"
    )]
    Cancelled(String),
    /// An increment met a cell that is not a counter (an 8-byte big-endian signed integer).
    /// Nothing of the increment was applied.
    #[error(
        "cell {column} of row {row} in table {table} is {len} bytes, not an 8-byte big-endian \
         counter; nothing was incremented"
    )]
    NotACounter {
        /// The table.
        table: String,
        /// The row key (at most 64 bytes of it, lossily as text).
        row: String,
        /// The column, `family:qualifier`.
        column: String,
        /// The length of the cell's value.
        len: usize,
    },
    /// An increment would take a counter past the range of a 64-bit signed integer. Nothing
    /// of the increment was applied.
    #[error(
        "incrementing cell {column} of row {row} in table {table} ({value} by {delta}) \
         overflows a 64-bit counter; nothing was incremented"
    )]
    CounterOverflow {
        /// The table.
        table: String,
        /// The row key (at most 64 bytes of it, lossily as text).
        row: String,
        /// The column, `family:qualifier`.
        column: String,
        /// The counter's value before this delta.
        value: i64,
        /// The delta that overflowed.
        delta: i64,
    },
    /// A file the caller named does not exist (a bulk-ingest path).
    #[error("file not found: {}", path.display())]
    FileNotFound {
        /// The path as the caller gave it.
        path: PathBuf,
    },
    /// The caller may not use this path (a bulk-ingest path outside the ingest directories,
    /// or one that is or passes through a symbolic link).
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// A table whose files could not be opened: it answers nothing until the file is
    /// restored or quarantined; the store's other tables serve.
    #[error(
        "table {table} is unavailable: its file {} is damaged or missing ({what}); the other \
         tables serve. Restore the file, or open the store with quarantine_damaged_files \
         (strata serve --quarantine-damaged-files) to serve the table without it",
        path.display()
    )]
    TableUnavailable {
        /// The table.
        table: String,
        /// Its first damaged file.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
    },
}

impl Error {
    /// Build an [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Build an [`Error::Corruption`].
    pub fn corruption(path: impl Into<PathBuf>, offset: u64, what: impl Into<String>) -> Self {
        Error::Corruption {
            path: path.into(),
            offset,
            what: what.into(),
        }
    }

    /// True when the error came from a full disk (ENOSPC).
    pub fn is_no_space(&self) -> bool {
        match self {
            Error::Io { source, .. } => {
                source.kind() == std::io::ErrorKind::StorageFull
                    || source.raw_os_error() == Some(libc::ENOSPC)
            }
            _ => false,
        }
    }
}
