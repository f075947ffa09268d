//! The running state of one aggregation while rows are counted: its buckets (bytes or
//! numbers), its counters, the memory budget the buckets of one call share, and the merge of
//! two tallies of the same aggregation over disjoint rows (one per partition of a parallel
//! pass). Rows arrive as the visible cells they have in the families read ([`Seen`]), from
//! the row scanner or from the counting pass over merged cells alike, so both count the same.
//!
//! This module must never read the store; it counts what it is handed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::bucket::{self, Key, Today};
use super::error::AggregateError;
use super::run::{AggregateResult, BucketCount};
use super::spec::{Aggregation, BucketKind};

/// Bytes charged per distinct bucket besides its key (the map entry and its counters).
const BUCKET_OVERHEAD: usize = 96;

/// One visible cell of a row (the newest version in the scope's time range of its column),
/// in a family some aggregation of the call reads.
#[derive(Clone, Copy, Debug)]
pub(super) struct Seen<'c> {
    /// The family's position in the list of families the pass reads (the list its tallies
    /// were made with, see [`Tally::new`]).
    pub family: usize,
    pub qualifier: &'c [u8],
    pub value: &'c [u8],
}

/// The memory charged to the buckets of one call, shared by the partitions of a parallel
/// pass (a bucket key two partitions both hold is charged twice: both hold it until merged).
pub(super) struct Budget<'a> {
    pub table: &'a str,
    pub used: AtomicUsize,
    pub limit: usize,
}

impl Budget<'_> {
    fn charge(&self, key_bytes: usize, buckets: usize) -> Result<(), AggregateError> {
        let add = key_bytes + BUCKET_OVERHEAD;
        let used = self
            .used
            .fetch_add(add, Ordering::Relaxed)
            .saturating_add(add);
        if used > self.limit {
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

    /// The rows of `other` too (counted over other rows).
    fn absorb(&mut self, other: &Acc) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.summed += other.summed;
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

/// The maps of buckets: foldhash with a random seed per map (a bucket key is a stored
/// value, so the hash must not be predictable from outside; SipHash cost ~8% of a pass).
type BucketMap<K> = HashMap<K, Acc, foldhash::fast::RandomState>;

/// The buckets of one aggregation while the rows are counted.
enum Groups {
    Values(BucketMap<Vec<u8>>),
    Ints(BucketMap<i64>),
}

impl Groups {
    fn len(&self) -> usize {
        match self {
            Groups::Values(m) => m.len(),
            Groups::Ints(m) => m.len(),
        }
    }
}

/// Stands for a family the pass does not read (its cells are never seen).
const NO_FAMILY: usize = usize::MAX;

/// One aggregation's state during a pass.
pub(super) struct Tally<'a> {
    agg: &'a Aggregation,
    /// Positions of the grouping and sum columns' families in the pass's family list.
    family: usize,
    sum_family: usize,
    groups: Groups,
    result: AggregateResult,
}

impl<'a> Tally<'a> {
    /// A tally of `agg` for a pass whose [`Seen`] cells name their family by its position
    /// in `families`.
    pub fn new<S: AsRef<str>>(agg: &'a Aggregation, families: &[S]) -> Tally<'a> {
        let at = |name: &str| {
            families
                .iter()
                .position(|f| f.as_ref() == name)
                .unwrap_or(NO_FAMILY)
        };
        Tally {
            agg,
            family: at(&agg.column.family),
            sum_family: agg.sum.as_ref().map_or(NO_FAMILY, |s| at(&s.family)),
            groups: if agg.bucket == BucketKind::Value {
                Groups::Values(BucketMap::default())
            } else {
                Groups::Ints(BucketMap::default())
            },
            result: AggregateResult::default(),
        }
    }

    /// Count one row, given its visible cells.
    pub fn add(
        &mut self,
        cells: &[Seen<'_>],
        today: Today,
        budget: &Budget,
    ) -> Result<(), AggregateError> {
        let col = &self.agg.column;
        let mut count = 0u64;
        let mut group = None;
        let mut summed = None;
        for c in cells {
            let grouping = c.family == self.family;
            let sum = c.family == self.sum_family;
            if !grouping && !sum {
                continue;
            }
            count += 1;
            // A row has each column once at most: stop comparing once it is found.
            if grouping && group.is_none() && c.qualifier == col.qualifier.as_slice() {
                group = Some(c.value);
            }
            if sum
                && summed.is_none()
                && let Some(s) = &self.agg.sum
                && c.qualifier == s.qualifier.as_slice()
            {
                summed = Some(c.value);
            }
        }
        if count == 0 {
            return Ok(());
        }
        let r = &mut self.result;
        r.rows_scanned += 1;
        r.cells_scanned += count;
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

    /// Add the rows `other` counted (the same aggregation, over rows this one did not see).
    pub fn absorb(&mut self, other: Tally<'_>) {
        let (r, o) = (&mut self.result, &other.result);
        r.rows_scanned += o.rows_scanned;
        r.rows_missing += o.rows_missing;
        r.unparsable += o.unparsable;
        r.sum_missing += o.sum_missing;
        r.sum_unparsable += o.sum_unparsable;
        r.cells_scanned += o.cells_scanned;
        match (&mut self.groups, other.groups) {
            (Groups::Values(m), Groups::Values(theirs)) => {
                for (k, a) in theirs {
                    m.entry(k).or_insert(Acc::EMPTY).absorb(&a);
                }
            }
            (Groups::Ints(m), Groups::Ints(theirs)) => {
                for (k, a) in theirs {
                    m.entry(k).or_insert(Acc::EMPTY).absorb(&a);
                }
            }
            // Both were made by `new` from one aggregation: the same kind of groups.
            _ => {}
        }
    }

    /// The result: buckets ordered and cut to `top`.
    pub fn finish(self, computed_at_micros: i64) -> AggregateResult {
        let Tally {
            agg,
            groups,
            family: _,
            sum_family: _,
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
