//! The loader's one error type. Owns every way a generate or load can fail.
//! It must never carry a panic's message or hide the file, line or column involved.

use std::path::PathBuf;

/// Result alias used across the loader.
pub type Result<T, E = LoaderError> = std::result::Result<T, E>;

/// Everything the loader can report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoaderError {
    /// An I/O error on a named file or directory.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The column mapping is invalid or does not fit the CSV header.
    #[error("mapping error: {0}")]
    Mapping(String),
    /// The CSV input cannot be read at all (as opposed to a rejected row).
    #[error("CSV error in {path}: {what}")]
    Csv {
        /// The input file.
        path: PathBuf,
        /// What was wrong.
        what: String,
    },
    /// More rows were rejected than `max_rejects` allows.
    #[error("too many rejected rows: {rejects} > max {max} (see the rejects file for reasons)")]
    TooManyRejects {
        /// Rejected rows so far.
        rejects: u64,
        /// The configured limit.
        max: u64,
    },
    /// An option value is invalid.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// The engine failed to write a table file.
    #[error("engine error: {0}")]
    Engine(#[from] strata_engine::Error),
    /// A spilled sort run is damaged (it was written by this process, so this is a bug or a
    /// disk problem).
    #[error("corrupt sort run {path}: {what}")]
    CorruptRun {
        /// The run file.
        path: PathBuf,
        /// What was wrong.
        what: String,
    },
}

impl LoaderError {
    /// Build an [`LoaderError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LoaderError::Io {
            path: path.into(),
            source,
        }
    }
}
