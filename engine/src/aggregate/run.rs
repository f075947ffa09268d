//! Running aggregations: one snapshot scan of a table selecting the whole families the
//! aggregations read, each row counted by every aggregation whose families it has a cell in,
//! then the buckets ordered (by count, or by key for derived buckets) and cut to `top`.
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
//! This module must never hold more than the buckets (rows are dropped as they are counted)
//! and never let the buckets outgrow the budget it is given.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::bucket::{self, Key, Today};
use super::error::AggregateError;
use super::spec::{Aggregation, BucketKind, Scope};
use crate::cell::now_micros;
use crate::db::Db;
use crate::filter::{EvalOptions, FilterDecision, FilterState};
use crate::row::{ColumnSelector, ReadOptions, Row, ScanOptions};

/// Default budget for the distinct buckets of one call (keys plus bookkeeping): 32 MiB, so a
/// reply listing every bucket stays under the default 64 MiB message limit.
pub const DEFAULT_MAX_BUCKET_BYTES: usize = 32 << 20;
/// Bytes charged per distinct bucket besides its key (the map entry and its counters).
const BUCKET_OVERHEAD: usize = 96;
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
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            now_micros: now_micros(),
            max_bucket_bytes: DEFAULT_MAX_BUCKET_BYTES,
            cancel: None,
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
    // With a filter, every version goes through it and the newest it keeps is counted.
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
            columns: families
                .into_iter()
                .map(|family| ColumnSelector {
                    family,
                    qualifier: None,
                })
                .collect(),
            max_versions: if filter.is_some() { u32::MAX } else { 1 },
            time_range: scope.time_range,
        },
        limit: 0,
        reverse: false,
    };
    let today = Today::at_micros(options.now_micros);
    let mut running: Vec<Running<'_>> = aggregations.iter().map(Running::new).collect();
    let mut budget = Budget {
        table,
        used: 0,
        limit: options.max_bucket_bytes,
    };
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
        for r in &mut running {
            r.add(&row, today, &mut budget)?;
        }
    }
    Ok(running
        .into_iter()
        .map(|r| r.finish(options.now_micros))
        .collect())
}

/// The memory charged to the buckets of one call.
struct Budget<'a> {
    table: &'a str,
    used: usize,
    limit: usize,
}

impl Budget<'_> {
    fn charge(&mut self, key_bytes: usize, buckets: usize) -> Result<(), AggregateError> {
        self.used = self.used.saturating_add(key_bytes + BUCKET_OVERHEAD);
        if self.used > self.limit {
            return Err(AggregateError::TooManyBuckets {
                table: self.table.to_string(),
                buckets: buckets as u64,
                limit: self.limit,
            });
        }
        Ok(())
    }
}

/// Per-bucket counters.
#[derive(Clone, Copy, Debug)]
struct Acc {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    summed: u64,
}

impl Acc {
    const EMPTY: Acc = Acc {
        count: 0,
        sum: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
        summed: 0,
    };

    /// One more row, with its sum column's number if it has one.
    fn add(&mut self, number: Option<f64>) {
        self.count += 1;
        if let Some(v) = number {
            self.sum += v;
            self.min = self.min.min(v);
            self.max = self.max.max(v);
            self.summed += 1;
        }
    }

    fn into_bucket(self, key: Vec<u8>) -> BucketCount {
        let some = self.summed > 0;
        BucketCount {
            key,
            count: self.count,
            sum: self.sum,
            min: if some { self.min } else { 0.0 },
            max: if some { self.max } else { 0.0 },
            summed: self.summed,
        }
    }
}

/// The buckets of one aggregation while the scan runs.
enum Groups {
    Values(HashMap<Vec<u8>, Acc>),
    Ints(HashMap<i64, Acc>),
}

impl Groups {
    fn len(&self) -> usize {
        match self {
            Groups::Values(m) => m.len(),
            Groups::Ints(m) => m.len(),
        }
    }
}

/// One aggregation's state during the scan.
struct Running<'a> {
    agg: &'a Aggregation,
    groups: Groups,
    result: AggregateResult,
}

impl<'a> Running<'a> {
    fn new(agg: &'a Aggregation) -> Running<'a> {
        Running {
            agg,
            groups: if agg.bucket == BucketKind::Value {
                Groups::Values(HashMap::new())
            } else {
                Groups::Ints(HashMap::new())
            },
            result: AggregateResult::default(),
        }
    }

    fn reads(&self, family: &str) -> bool {
        family == self.agg.column.family
            || self.agg.sum.as_ref().is_some_and(|s| s.family == family)
    }

    fn add(&mut self, row: &Row, today: Today, budget: &mut Budget) -> Result<(), AggregateError> {
        let col = &self.agg.column;
        let mut cells = 0u64;
        let mut group = None;
        let mut summed = None;
        for c in &row.cells {
            if !self.reads(&c.family) {
                continue;
            }
            cells += 1;
            if *c.family == *col.family && c.qualifier == col.qualifier {
                group = Some(&c.value);
            }
            if let Some(s) = &self.agg.sum
                && *c.family == *s.family
                && c.qualifier == s.qualifier
            {
                summed = Some(&c.value);
            }
        }
        if cells == 0 {
            return Ok(());
        }
        let r = &mut self.result;
        r.rows_scanned += 1;
        r.cells_scanned += cells;
        let Some(value) = group else {
            r.rows_missing += 1;
            return Ok(());
        };
        let Some(key) = bucket::key_of(self.agg.bucket, value, today) else {
            r.unparsable += 1;
            return Ok(());
        };
        let number = match (&self.agg.sum, summed) {
            (None, _) => None,
            (Some(_), None) => {
                r.sum_missing += 1;
                None
            }
            (Some(_), Some(v)) => {
                let n = bucket::number(v);
                if n.is_none() {
                    r.sum_unparsable += 1;
                }
                n
            }
        };
        let distinct = self.groups.len();
        match (&mut self.groups, key) {
            (Groups::Values(m), Key::Bytes(k)) => match m.get_mut(k) {
                Some(acc) => acc.add(number),
                None => {
                    budget.charge(k.len(), distinct + 1)?;
                    m.entry(k.to_vec()).or_insert(Acc::EMPTY).add(number);
                }
            },
            (Groups::Ints(m), Key::Int(k)) => match m.get_mut(&k) {
                Some(acc) => acc.add(number),
                None => {
                    budget.charge(8, distinct + 1)?;
                    m.entry(k).or_insert(Acc::EMPTY).add(number);
                }
            },
            _ => {
                return Err(AggregateError::Invalid(format!(
                    "bucket {} produced a key of the wrong kind",
                    self.agg.bucket
                )));
            }
        }
        Ok(())
    }

    fn finish(self, computed_at_micros: i64) -> AggregateResult {
        let Running {
            agg,
            groups,
            mut result,
        } = self;
        result.distinct_buckets = groups.len() as u64;
        result.computed_at_micros = computed_at_micros;
        let top = if agg.top == 0 {
            usize::MAX
        } else {
            agg.top as usize
        };
        // Most rows first, ties by key: the order of `value` buckets, and how `top` picks.
        let by_count = |a: &(u64, &[u8]), b: &(u64, &[u8])| b.0.cmp(&a.0).then(a.1.cmp(b.1));
        let mut buckets: Vec<BucketCount> = match groups {
            Groups::Values(m) => {
                let mut v: Vec<(Vec<u8>, Acc)> = m.into_iter().collect();
                v.sort_unstable_by(|a, b| by_count(&(a.1.count, &a.0), &(b.1.count, &b.0)));
                v.into_iter().map(|(k, a)| a.into_bucket(k)).collect()
            }
            Groups::Ints(m) => {
                let mut v: Vec<(i64, Acc)> = m.into_iter().collect();
                if v.len() > top {
                    v.sort_unstable_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
                }
                let kept = v.len().min(top);
                let mut kept_part: Vec<(i64, Acc)> = v.drain(..kept).collect();
                result.other_count = v.iter().map(|(_, a)| a.count).sum();
                kept_part.sort_unstable_by_key(|(k, _)| *k);
                kept_part
                    .into_iter()
                    .map(|(k, a)| a.into_bucket(bucket::format_int(agg.bucket, k)))
                    .collect()
            }
        };
        if buckets.len() > top {
            result.other_count = buckets[top..].iter().map(|b| b.count).sum();
            buckets.truncate(top);
        }
        result.buckets = buckets;
        result
    }
}
