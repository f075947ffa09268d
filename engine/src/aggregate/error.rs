//! Why an aggregation failed: the engine's own errors (unknown table or family, I/O,
//! corruption), a bad request, too many distinct buckets for the memory budget, or a caller
//! that gave up.
//!
//! Only the type; the server maps it to a status in one place.

use crate::error::Error;

/// Everything an aggregation can report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AggregateError {
    /// The scan failed (unknown table or family, I/O, corruption, store closed).
    #[error(transparent)]
    Engine(#[from] Error),
    /// The request is malformed (bad bucket syntax, a column without a family).
    #[error("invalid aggregation: {0}")]
    Invalid(String),
    /// The distinct buckets outgrew the memory budget: the request would hold too much.
    #[error(
        "aggregation of {table} needs more than {limit} bytes for its {buckets} distinct \
         buckets so far (the grouping column has too many distinct values): use a derived \
         bucket (range:W, day, ...), a narrower row range, or another column"
    )]
    TooManyBuckets {
        /// The table.
        table: String,
        /// Distinct buckets when the budget ran out.
        buckets: u64,
        /// The budget in bytes.
        limit: usize,
    },
    /// The caller raised the cancel flag (client gone, server shutting down).
    #[error("aggregation of {0} cancelled")]
    Cancelled(String),
}
