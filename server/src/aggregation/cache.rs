//! The aggregation result cache: results keyed by (table, scope, aggregation) and stamped
//! with the table's data version when their computation started; a lookup under another
//! version misses (and drops the stale entry), so a repeated request after no writes costs
//! nothing and any write, flush, compaction, ingest or alter (each bumps the version) makes
//! the next request compute afresh. Bounded by bytes, least recently used out first.
//!
//! The version comes from a [`VersionSource`]: for the server, the engine's
//! [`Db::data_version`] (a stamp that changes with every write, flush, compaction, ingest and
//! alter). When the source has no version to give (a write not yet visible, a family with a
//! TTL) the aggregation is computed and nothing is kept.
//!
//! This module must never compute a result itself (the caller's closure does) and never
//! return an entry stamped with another version than the one read for the request.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use strata_engine::aggregate::{AggregateResult, Aggregation, BucketKind, Scope};
use strata_engine::{DataVersion, Db};

/// Default budget of the cache: 64 MiB of results.
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;
/// Bytes charged per entry besides its buckets' keys.
const ENTRY_OVERHEAD: usize = 256;
/// Bytes charged per bucket besides its key.
const BUCKET_OVERHEAD: usize = 64;

/// Where a table's data version comes from: a value that changes on every applied write,
/// flush, compaction, ingest and alter of the table.
pub trait VersionSource: Send + Sync {
    /// What a version is.
    type Version: Clone + PartialEq + Send + Sync;
    /// The table's current data version, `None` when a result computed now must not be kept.
    fn data_version(&self, table: &str) -> Result<Option<Self::Version>, strata_engine::Error>;
}

impl VersionSource for Db {
    type Version = DataVersion;
    fn data_version(&self, table: &str) -> Result<Option<DataVersion>, strata_engine::Error> {
        Db::data_version(self, table)
    }
}

/// What a cached result answers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// Table.
    pub table: String,
    /// Rows read.
    pub scope: Scope,
    /// The aggregation.
    pub aggregation: Aggregation,
    /// For `age` buckets, the UTC day (since the epoch) ages were counted to: an age result
    /// of yesterday is not today's, even with no write in between. `None` for other buckets.
    pub day: Option<i64>,
}

/// Microseconds in a day.
const MICROS_PER_DAY: i64 = 86_400_000_000;

impl CacheKey {
    /// The key of `aggregation` over `scope` of `table`, computed at `now_micros`.
    pub fn new(table: &str, scope: &Scope, aggregation: &Aggregation, now_micros: i64) -> CacheKey {
        CacheKey {
            table: table.to_string(),
            scope: scope.clone(),
            aggregation: aggregation.clone(),
            day: (aggregation.bucket == BucketKind::Age)
                .then(|| now_micros.div_euclid(MICROS_PER_DAY)),
        }
    }
}

struct Entry<V> {
    version: V,
    result: Arc<AggregateResult>,
    bytes: usize,
    last_used: u64,
}

struct Inner<V> {
    map: HashMap<CacheKey, Entry<V>>,
    bytes: usize,
    clock: u64,
}

impl<V> Default for Inner<V> {
    fn default() -> Self {
        Inner {
            map: HashMap::new(),
            bytes: 0,
            clock: 0,
        }
    }
}

/// Hit and miss counts, for `/metrics` and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that had to compute.
    pub misses: u64,
    /// Entries now.
    pub entries: u64,
    /// Bytes charged now.
    pub bytes: u64,
}

/// Results by key and version (of type `V`), bounded by bytes.
pub struct ResultCache<V> {
    inner: Mutex<Inner<V>>,
    capacity: usize,
    hits: std::sync::atomic::AtomicU64,
    misses: std::sync::atomic::AtomicU64,
}

impl<V: PartialEq> std::fmt::Debug for ResultCache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultCache")
            .field("capacity", &self.capacity)
            .field("stats", &self.stats())
            .finish()
    }
}

fn cost(key: &CacheKey, result: &AggregateResult) -> usize {
    ENTRY_OVERHEAD
        + key.table.len()
        + key.scope.prefix.len()
        + result
            .buckets
            .iter()
            .map(|b| b.key.len() + BUCKET_OVERHEAD)
            .sum::<usize>()
}

impl<V: PartialEq> ResultCache<V> {
    /// An empty cache holding at most `capacity` bytes of results.
    pub fn new(capacity: usize) -> ResultCache<V> {
        ResultCache {
            inner: Mutex::new(Inner::default()),
            capacity,
            hits: Default::default(),
            misses: Default::default(),
        }
    }

    /// The result cached for `key` at `version`. An entry of another version is dropped.
    pub fn get(&self, key: &CacheKey, version: &V) -> Option<Arc<AggregateResult>> {
        use std::sync::atomic::Ordering::Relaxed;
        let found = self.look_up(key, version);
        match &found {
            Some(_) => self.hits.fetch_add(1, Relaxed),
            None => self.misses.fetch_add(1, Relaxed),
        };
        found
    }

    /// The results cached for every one of `keys` at `version`, or `None` (counting nothing)
    /// when one is missing.
    pub fn get_all(&self, keys: &[CacheKey], version: &V) -> Option<Vec<Arc<AggregateResult>>> {
        use std::sync::atomic::Ordering::Relaxed;
        let found: Option<Vec<_>> = keys.iter().map(|k| self.look_up(k, version)).collect();
        if found.is_some() {
            self.hits.fetch_add(keys.len() as u64, Relaxed);
        }
        found
    }

    fn look_up(&self, key: &CacheKey, version: &V) -> Option<Arc<AggregateResult>> {
        let mut inner = self.inner.lock();
        inner.clock += 1;
        let now = inner.clock;
        match inner.map.get_mut(key) {
            Some(e) if e.version == *version => {
                e.last_used = now;
                Some(e.result.clone())
            }
            Some(_) => {
                if let Some(stale) = inner.map.remove(key) {
                    inner.bytes -= stale.bytes;
                }
                None
            }
            None => None,
        }
    }

    /// Remember `result` for `key` at `version`, evicting the least recently used entries to
    /// stay within the budget. A result larger than the whole budget is not kept.
    pub fn insert(&self, key: CacheKey, version: V, result: Arc<AggregateResult>) {
        let bytes = cost(&key, &result);
        if bytes > self.capacity {
            return;
        }
        let mut inner = self.inner.lock();
        inner.clock += 1;
        let now = inner.clock;
        if let Some(old) = inner.map.remove(&key) {
            inner.bytes -= old.bytes;
        }
        while inner.bytes + bytes > self.capacity {
            let Some(oldest) = inner
                .map
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(e) = inner.map.remove(&oldest) {
                inner.bytes -= e.bytes;
            }
        }
        inner.bytes += bytes;
        inner.map.insert(
            key,
            Entry {
                version,
                result,
                bytes,
                last_used: now,
            },
        );
    }

    /// Counts so far.
    pub fn stats(&self) -> CacheStats {
        use std::sync::atomic::Ordering::Relaxed;
        let inner = self.inner.lock();
        CacheStats {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            entries: inner.map.len() as u64,
            bytes: inner.bytes as u64,
        }
    }
}

/// A cache over a version source: answers the aggregations of one table from the cache where
/// it can and computes the others together (one scan) through `compute`.
pub struct CachedResults<V: VersionSource> {
    source: V,
    cache: ResultCache<V::Version>,
}

impl<V: VersionSource> std::fmt::Debug for CachedResults<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedResults")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl<V: VersionSource> CachedResults<V> {
    /// A cache of `capacity` bytes whose versions come from `source`.
    pub fn new(source: V, capacity: usize) -> Self {
        CachedResults {
            source,
            cache: ResultCache::new(capacity),
        }
    }

    /// The underlying cache (for its statistics).
    pub fn cache(&self) -> &ResultCache<V::Version> {
        &self.cache
    }

    /// [`CachedResults::get_or_compute_at`] now.
    pub fn get_or_compute<E>(
        &self,
        table: &str,
        scope: &Scope,
        aggregations: &[Aggregation],
        compute: impl FnOnce(&[Aggregation]) -> Result<Vec<AggregateResult>, E>,
    ) -> Result<Vec<Arc<AggregateResult>>, E>
    where
        E: From<strata_engine::Error>,
    {
        let now = strata_engine::now_micros();
        self.get_or_compute_at(table, scope, aggregations, now, compute)
    }

    /// Every result of `aggregations` over `scope` of `table` if each is cached at the
    /// table's current version (as computed at `now_micros`), else `None`.
    pub fn cached(
        &self,
        table: &str,
        scope: &Scope,
        aggregations: &[Aggregation],
        now_micros: i64,
    ) -> Result<Option<Vec<Arc<AggregateResult>>>, strata_engine::Error> {
        let Some(version) = self.source.data_version(table)? else {
            return Ok(None);
        };
        let keys: Vec<CacheKey> = aggregations
            .iter()
            .map(|a| CacheKey::new(table, scope, a, now_micros))
            .collect();
        Ok(self.cache.get_all(&keys, &version))
    }

    /// The results of `aggregations` over `scope` of `table`, in order, as computed at
    /// `now_micros` (`compute` must count ages to that date). The version is read before
    /// anything is computed, so a write racing with the computation stamps nothing newer
    /// than what the computation may have missed.
    pub fn get_or_compute_at<E>(
        &self,
        table: &str,
        scope: &Scope,
        aggregations: &[Aggregation],
        now_micros: i64,
        compute: impl FnOnce(&[Aggregation]) -> Result<Vec<AggregateResult>, E>,
    ) -> Result<Vec<Arc<AggregateResult>>, E>
    where
        E: From<strata_engine::Error>,
    {
        let Some(version) = self.source.data_version(table)? else {
            // No version to stamp a result with: compute, keep nothing.
            return Ok(compute(aggregations)?.into_iter().map(Arc::new).collect());
        };
        let keys: Vec<CacheKey> = aggregations
            .iter()
            .map(|a| CacheKey::new(table, scope, a, now_micros))
            .collect();
        let mut out: Vec<Option<Arc<AggregateResult>>> =
            keys.iter().map(|k| self.cache.get(k, &version)).collect();
        let missing: Vec<usize> = (0..keys.len()).filter(|&i| out[i].is_none()).collect();
        if !missing.is_empty() {
            let wanted: Vec<Aggregation> =
                missing.iter().map(|&i| aggregations[i].clone()).collect();
            let computed = compute(&wanted)?;
            for (&i, result) in missing.iter().zip(computed) {
                let result = Arc::new(result);
                self.cache
                    .insert(keys[i].clone(), version.clone(), result.clone());
                out[i] = Some(result);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use strata_engine::aggregate::BucketCount;

    /// Versions set by the test.
    #[derive(Default)]
    struct Versions(parking_lot::Mutex<HashMap<String, u64>>);

    impl Versions {
        fn bump(&self, table: &str) {
            *self.0.lock().entry(table.to_string()).or_insert(0) += 1;
        }
    }

    impl VersionSource for Arc<Versions> {
        type Version = u64;
        fn data_version(&self, table: &str) -> Result<Option<u64>, strata_engine::Error> {
            // Version 0: a table the test marks as not stampable.
            self.0
                .lock()
                .get(table)
                .map(|&v| (v > 0).then_some(v))
                .ok_or_else(|| strata_engine::Error::TableNotFound(table.to_string()))
        }
    }

    fn setup() -> (Arc<Versions>, CachedResults<Arc<Versions>>) {
        let v = Arc::new(Versions::default());
        v.bump("t");
        v.bump("u");
        (v.clone(), CachedResults::new(v, DEFAULT_CACHE_BYTES))
    }

    /// A computation that counts its calls and answers a result naming its generation.
    fn computer(
        calls: &AtomicU64,
    ) -> impl FnOnce(&[Aggregation]) -> Result<Vec<AggregateResult>, strata_engine::Error> + '_
    {
        move |aggs| {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(aggs
                .iter()
                .map(|a| AggregateResult {
                    buckets: vec![BucketCount {
                        key: a.column.qualifier.clone(),
                        count: n,
                        sum: 0.0,
                        min: 0.0,
                        max: 0.0,
                        summed: 0,
                    }],
                    computed_at_micros: n as i64,
                    ..AggregateResult::default()
                })
                .collect())
        }
    }

    fn agg(q: &str) -> Aggregation {
        Aggregation::count_by("f", q.as_bytes().to_vec())
    }

    #[test]
    fn a_repeated_request_without_writes_computes_nothing() {
        let (_v, c) = setup();
        let calls = AtomicU64::new(0);
        let all = Scope::all();
        let first = c
            .get_or_compute("t", &all, &[agg("a"), agg("b")], computer(&calls))
            .unwrap();
        let again = c
            .get_or_compute("t", &all, &[agg("a"), agg("b")], computer(&calls))
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(first, again);
        assert_eq!(again[1].buckets[0].key, b"b");
        // The cached answer keeps its first computation time.
        assert_eq!(again[0].computed_at_micros, 1);
        let s = c.cache().stats();
        assert_eq!((s.hits, s.misses, s.entries), (2, 2, 2));
    }

    #[test]
    fn a_new_version_recomputes_only_that_table() {
        let (v, c) = setup();
        let calls = AtomicU64::new(0);
        let all = Scope::all();
        c.get_or_compute("t", &all, &[agg("a")], computer(&calls))
            .unwrap();
        c.get_or_compute("u", &all, &[agg("a")], computer(&calls))
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        v.bump("t");
        let t = c
            .get_or_compute("t", &all, &[agg("a")], computer(&calls))
            .unwrap();
        assert_eq!(t[0].buckets[0].count, 3, "recomputed after the bump");
        let u = c
            .get_or_compute("u", &all, &[agg("a")], computer(&calls))
            .unwrap();
        assert_eq!(u[0].buckets[0].count, 2, "the other table is still cached");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        // The stale entry was replaced, not kept beside the new one.
        assert_eq!(c.cache().stats().entries, 2);
    }

    #[test]
    fn only_the_missing_aggregations_are_computed_and_order_is_kept() {
        let (_v, c) = setup();
        let all = Scope::all();
        let calls = AtomicU64::new(0);
        c.get_or_compute("t", &all, &[agg("b")], computer(&calls))
            .unwrap();
        let seen = parking_lot::Mutex::new(Vec::new());
        let got = c
            .get_or_compute("t", &all, &[agg("a"), agg("b"), agg("c")], |aggs| {
                seen.lock().extend(aggs.iter().cloned());
                computer(&calls)(aggs)
            })
            .unwrap();
        assert_eq!(*seen.lock(), vec![agg("a"), agg("c")]);
        let keys: Vec<&[u8]> = got.iter().map(|r| &r.buckets[0].key[..]).collect();
        assert_eq!(keys, [&b"a"[..], b"b", b"c"]);
        assert_eq!(got[1].buckets[0].count, 1, "b from the cache");
    }

    #[test]
    fn age_results_are_recomputed_on_a_new_utc_day_and_other_buckets_are_not() {
        let (_v, c) = setup();
        let calls = AtomicU64::new(0);
        let all = Scope::all();
        let age = agg("birthdate").bucket(BucketKind::Age);
        let day = MICROS_PER_DAY;
        let evening = 1000 * day + day - 1;
        let next_morning = 1001 * day;
        for at in [evening - 3_600_000_000, evening] {
            c.get_or_compute_at("t", &all, &[age.clone(), agg("a")], at, computer(&calls))
                .unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "the same day: both cached");
        let seen = parking_lot::Mutex::new(Vec::new());
        let got = c
            .get_or_compute_at("t", &all, &[age.clone(), agg("a")], next_morning, |aggs| {
                seen.lock().extend(aggs.iter().cloned());
                computer(&calls)(aggs)
            })
            .unwrap();
        assert_eq!(*seen.lock(), vec![age], "only the ages are counted again");
        assert_eq!(got[0].buckets[0].count, 2, "the ages of the new day");
        assert_eq!(
            got[1].buckets[0].count, 1,
            "the value buckets from the cache"
        );
    }

    #[test]
    fn other_scopes_are_other_entries() {
        let (_v, c) = setup();
        let calls = AtomicU64::new(0);
        let prefixed = Scope {
            prefix: b"p".to_vec(),
            ..Scope::all()
        };
        c.get_or_compute("t", &Scope::all(), &[agg("a")], computer(&calls))
            .unwrap();
        c.get_or_compute("t", &prefixed, &[agg("a")], computer(&calls))
            .unwrap();
        c.get_or_compute("t", &Scope::all(), &[agg("a").top(3)], computer(&calls))
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn the_budget_evicts_the_least_recently_used() {
        let v = Arc::new(Versions::default());
        v.bump("t");
        let one = cost(
            &CacheKey::new("t", &Scope::all(), &agg("a"), 0),
            &AggregateResult {
                buckets: vec![BucketCount {
                    key: b"a".to_vec(),
                    count: 1,
                    sum: 0.0,
                    min: 0.0,
                    max: 0.0,
                    summed: 0,
                }],
                ..AggregateResult::default()
            },
        );
        let c = CachedResults::new(v, one * 2);
        let calls = AtomicU64::new(0);
        let all = Scope::all();
        for q in ["a", "b", "a", "c"] {
            c.get_or_compute("t", &all, &[agg(q)], computer(&calls))
                .unwrap();
        }
        // a, b computed; a hit (now the most recent); c evicts b.
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert!(c.cache().stats().bytes <= (one * 2) as u64);
        c.get_or_compute("t", &all, &[agg("a")], computer(&calls))
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3, "a stayed");
        c.get_or_compute("t", &all, &[agg("b")], computer(&calls))
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 4, "b was evicted");
    }

    #[test]
    fn errors_of_the_version_source_and_of_the_computation_pass_through() {
        let (_v, c) = setup();
        let calls = AtomicU64::new(0);
        let e = c
            .get_or_compute("nope", &Scope::all(), &[agg("a")], computer(&calls))
            .unwrap_err();
        assert!(matches!(e, strata_engine::Error::TableNotFound(_)));
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        let e = c
            .get_or_compute("t", &Scope::all(), &[agg("a")], |_| {
                Err(strata_engine::Error::Closed)
            })
            .unwrap_err();
        assert!(matches!(e, strata_engine::Error::Closed));
        // Nothing was cached by the failure.
        c.get_or_compute("t", &Scope::all(), &[agg("a")], computer(&calls))
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_table_without_a_version_is_computed_each_time_and_nothing_is_kept() {
        let (v, c) = setup();
        v.0.lock().insert("n".to_string(), 0);
        let calls = AtomicU64::new(0);
        for _ in 0..2 {
            c.get_or_compute("n", &Scope::all(), &[agg("a")], computer(&calls))
                .unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(c.cache().stats().entries, 0);
    }
}
