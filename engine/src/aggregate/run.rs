//! Running aggregations: one snapshot read of a table's rows in the whole families the
//! aggregations read, each row counted by every aggregation whose families it has a cell in
//! (`tally.rs`), then the buckets ordered (by count, or by key for derived buckets) and cut
//! to `top`. Without a filter the rows are counted straight from the merged cells, in
//! parallel parts (`cells.rs`); with one, from the row scanner, through the filter.
//!
//! With a filter in the scope, each row goes through it before it is counted. The filter sees
//! the row's cells in the aggregations' families and in the families its
//! `SingleColumnValueFilter`s name (read for it, so a test of another family's column sees
//! that column; a family the table does not have is not read, and its column is missing),
//! every version (as HBase, the newest version the filter keeps is the one counted). Rows the
//! filter drops count nowhere; cells it drops are not seen (a row whose grouping cell it
//! dropped counts in `rows_missing`); a filter that ends the scan (`PageFilter`, `WHILE`,
//! `InclusiveStopFilter`) ends the aggregation there.
//!
//! What the counters mean (for each aggregation):
//! - `rows_scanned`: rows of the scope (that the filter kept) with at least one visible cell
//!   in the grouping or sum column's family (a row is stored per family, so a row with no cell
//!   at all in those families is not seen; rows loaded from CSV have every column, so this is
//!   the table's row count);
//! - `rows_missing`: of those, rows without the grouping cell;
//! - `unparsable`: rows whose grouping value a derived bucket could not read;
//! - every other row is in exactly one bucket (or in `other_count` when cut by `top`).
//!
//! Sums add each part's sum in row order, then the parts' sums in key order: the same
//! figure as one pass in row order whenever the sums are exact (integers below 2^53, as
//! amounts in cents or whole units are), and within rounding otherwise.
//!
//! This module must never hold more than the buckets (rows are dropped as they are counted)
//! and never let the buckets outgrow the budget it is given.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::bucket::Today;
use super::cells::{self, Pass};
use super::error::AggregateError;
use super::spec::{Aggregation, Scope};
use super::tally::{Budget, Seen, Tally};
use crate::cell::now_micros;
use crate::db::Db;
use crate::filter::{EvalOptions, FilterDecision, FilterState};
use crate::read::ReadPlan;
use crate::row::{ReadOptions, ScanOptions};
use crate::scan::effective_bounds;
use crate::visibility::FamilyRules;

/// Default budget for the distinct buckets of one call (keys plus bookkeeping): 32 MiB, so a
/// reply listing every bucket stays under the default 64 MiB message limit.
pub const DEFAULT_MAX_BUCKET_BYTES: usize = 32 << 20;
/// Rows between two looks at the cancel flag.
const CANCEL_CHECK_ROWS: u64 = 4096;

/// How a call runs.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// "Now" in microseconds since the epoch: ages count to this UTC date, and results carry
    /// it as their computation time.
    pub now_micros: i64,
    /// Budget for the distinct buckets of all the call's aggregations together.
    pub max_bucket_bytes: usize,
    /// When raised, the scan stops and the call fails with [`AggregateError::Cancelled`].
    pub cancel: Option<Arc<AtomicBool>>,
    /// Parts a call without a filter cuts its rows into, counted in parallel on rayon's
    /// pool, besides a cut at every file's first row. 0: twice as many as the pool has
    /// threads, and one part for a table with few rows; n: n parts whatever the size.
    pub partitions: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            now_micros: now_micros(),
            max_bucket_bytes: DEFAULT_MAX_BUCKET_BYTES,
            cancel: None,
            partitions: 0,
        }
    }
}

/// One bucket of a result.
#[derive(Clone, Debug, PartialEq)]
pub struct BucketCount {
    /// The key: the value, or the derived bucket as text (`2022-07`, `15`, `34`, `-2.5`).
    pub key: Vec<u8>,
    /// Rows in the bucket.
    pub count: u64,
    /// Sum of the sum column over the bucket's rows where it is a number (0 without one).
    pub sum: f64,
    /// Smallest of those numbers (0 when there is none).
    pub min: f64,
    /// Largest of those numbers (0 when there is none).
    pub max: f64,
    /// Rows of the bucket whose sum column was a number.
    pub summed: u64,
}

/// The figures of one aggregation.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct AggregateResult {
    /// Buckets, in the aggregation's order (count descending then key for `value`; by key
    /// for derived buckets), at most `top` of them when `top` is set.
    pub buckets: Vec<BucketCount>,
    /// Rows read (see the module comment).
    pub rows_scanned: u64,
    /// Rows without the grouping cell.
    pub rows_missing: u64,
    /// Rows whose grouping value the bucket could not parse.
    pub unparsable: u64,
    /// Distinct buckets before `top` cut them.
    pub distinct_buckets: u64,
    /// Rows in the buckets that `top` cut.
    pub other_count: u64,
    /// Rows in a bucket that had no sum cell (0 without a sum column).
    pub sum_missing: u64,
    /// Rows in a bucket whose sum cell was not a number.
    pub sum_unparsable: u64,
    /// Cells of the aggregation's families in the rows read.
    pub cells_scanned: u64,
    /// When the figures were computed (the scan's snapshot), microseconds since the epoch.
    pub computed_at_micros: i64,
}

/// Run one aggregation over `scope` of `table`.
pub fn aggregate(
    db: &Db,
    table: &str,
    scope: &Scope,
    aggregation: &Aggregation,
    options: &RunOptions,
) -> Result<AggregateResult, AggregateError> {
    let mut results = aggregate_many(db, table, scope, std::slice::from_ref(aggregation), options)?;
    results
        .pop()
        .ok_or_else(|| AggregateError::Invalid("no result for the aggregation".into()))
}

/// Run several aggregations of `table` in one scan of `scope`; results in the same order.
/// Each result equals what [`aggregate`] alone returns for it.
pub fn aggregate_many(
    db: &Db,
    table: &str,
    scope: &Scope,
    aggregations: &[Aggregation],
    options: &RunOptions,
) -> Result<Vec<AggregateResult>, AggregateError> {
    for a in aggregations {
        a.check().map_err(AggregateError::Invalid)?;
    }
    if aggregations.is_empty() {
        return Ok(Vec::new());
    }
    let mut families: Vec<String> = aggregations
        .iter()
        .flat_map(Aggregation::families)
        .map(str::to_string)
        .collect();
    let tested = scope.filter_families();
    if !tested.is_empty() {
        let present = db.describe_table(table)?.families;
        families.extend(
            tested
                .into_iter()
                .filter(|f| present.iter().any(|p| p.name == *f)),
        );
    }
    families.sort_unstable();
    families.dedup();
    let today = Today::at_micros(options.now_micros);
    let budget = Budget {
        table,
        used: AtomicUsize::new(0),
        limit: options.max_bucket_bytes,
    };
    let tallies = match &scope.filter {
        None => count_cells(
            db,
            table,
            scope,
            aggregations,
            &families,
            today,
            &budget,
            options,
        )?,
        Some(_) => count_rows(
            db,
            table,
            scope,
            aggregations,
            families,
            today,
            &budget,
            options,
        )?,
    };
    Ok(tallies
        .into_iter()
        .map(|t| t.finish(options.now_micros))
        .collect())
}

/// Without a filter: the counting pass over merged cells (`cells.rs`), in parallel parts.
#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
fn count_cells<'a>(
    db: &Db,
    table: &str,
    scope: &Scope,
    aggregations: &'a [Aggregation],
    families: &[String],
    today: Today,
    budget: &Budget<'_>,
    options: &RunOptions,
) -> Result<Vec<Tally<'a>>, AggregateError> {
    let (t, snapshot) = db.read_snapshot(table)?;
    let schema = t.schema.load();
    let now = now_micros();
    let plan = ReadPlan::new(
        table,
        &schema,
        &cells::read_options(families, scope.time_range),
        now,
    )?;
    let rules = schema
        .iter()
        .filter(|f| families.iter().any(|n| *n == *f.name))
        .map(|f| (f.name.clone(), FamilyRules::new(f, now)))
        .collect();
    // Loaded after the snapshot was registered: it holds every write the snapshot counts.
    let version = t.version.load_full();
    if t.dropped.load(Ordering::Acquire) {
        return Err(crate::error::Error::TableNotFound(table.to_string()).into());
    }
    let pass = Pass {
        table,
        version,
        snapshot: snapshot.seq(),
        plan,
        rules,
        time_range: scope.time_range,
        aggregations,
        today,
        budget,
        cancel: options.cancel.as_deref(),
    };
    let (start, stop) = effective_bounds(&ScanOptions {
        start: scope.start.clone(),
        stop: scope.stop.clone(),
        prefix: scope.prefix.clone(),
        ..ScanOptions::default()
    });
    let (parts, min_rows) = match options.partitions {
        // Twice the threads: parts of unequal cost still keep every thread busy to the end.
        0 => (2 * rayon::current_num_threads(), cells::MIN_PARTITION_ROWS),
        n => (n, 1),
    };
    pass.run(start, stop, parts, min_rows)
}

/// With a filter: rows from the row scanner, every version through the filter, the newest it
/// keeps counted.
#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
fn count_rows<'a>(
    db: &Db,
    table: &str,
    scope: &Scope,
    aggregations: &'a [Aggregation],
    families: Vec<String>,
    today: Today,
    budget: &Budget<'_>,
    options: &RunOptions,
) -> Result<Vec<Tally<'a>>, AggregateError> {
    let mut filter = scope.filter.as_ref().map(|f| {
        FilterState::new(
            f,
            EvalOptions {
                max_versions: 1,
                reversed: false,
            },
        )
    });
    let scan = ScanOptions {
        start: scope.start.clone(),
        stop: scope.stop.clone(),
        prefix: scope.prefix.clone(),
        read: ReadOptions {
            max_versions: u32::MAX,
            ..cells::read_options(&families, scope.time_range)
        },
        limit: 0,
        reverse: false,
    };
    let mut tallies: Vec<Tally<'a>> = aggregations
        .iter()
        .map(|a| Tally::new(a, &families))
        .collect();
    let mut rows = 0u64;
    for row in db.scan(table, scan)? {
        let row = row?;
        rows += 1;
        if rows.is_multiple_of(CANCEL_CHECK_ROWS)
            && options
                .cancel
                .as_ref()
                .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            return Err(AggregateError::Cancelled(table.to_string()));
        }
        let row = match &mut filter {
            None => row,
            Some(state) => match state.apply(row) {
                FilterDecision::Include(row) => row,
                FilterDecision::Skip => continue,
                FilterDecision::StopScan => break,
            },
        };
        let seen: Vec<Seen<'_>> = row
            .cells
            .iter()
            .filter_map(|c| {
                Some(Seen {
                    family: families.iter().position(|f| **f == *c.family)?,
                    qualifier: &c.qualifier,
                    value: &c.value,
                })
            })
            .collect();
        for t in &mut tallies {
            t.add(&seen, today, budget)?;
        }
    }
    Ok(tallies)
}
