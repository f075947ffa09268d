//! Server-side aggregation: row counts grouped by one column's value or a derived bucket
//! (year, month, day, hour, hour of day, age, numeric range), with the sum, minimum and
//! maximum of a numeric column per bucket, computed during one scan that reads only the
//! families involved. Several aggregations of one table share that scan
//! ([`aggregate_many`]), which is what a dashboard needs.
//!
//! It reads whole families only, so a columnar file reads just those families' blocks:
//! without a filter from the merged cells of a snapshot (`cells.rs`: no rows built, the
//! visibility rules of `visibility.rs` applied, parts of the row range counted in parallel, a
//! part held by one file alone counted from its blocks by `file_rows.rs`),
//! with one through [`Db::scan`] and the filter. It never ships rows anywhere: memory is the
//! buckets, bounded by [`RunOptions::max_bucket_bytes`].
//!
//! [`Db::scan`]: crate::Db::scan

mod bucket;
mod cells;
mod error;
mod file_rows;
mod run;
mod spec;
mod tally;

pub use error::AggregateError;
pub use run::{
    AggregateResult, BucketCount, DEFAULT_MAX_BUCKET_BYTES, RunOptions, aggregate, aggregate_many,
};
pub use spec::{Aggregation, BucketKind, Column, RangeWidth, Scope};
