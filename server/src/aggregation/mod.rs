//! Aggregations as the server runs them: on the blocking pool, a bounded number at a time,
//! cancelled when the caller goes away, for the Aggregate RPC and the dashboard alike.
//! [`wire`] converts the RPC's messages; [`cache`] keeps results per table data version, so a
//! repeated request with no write in between computes nothing.
//!
//! This module must never run an engine call on the async executor.

pub mod cache;
pub mod wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use strata_engine::Db;
use strata_engine::aggregate::{
    AggregateError, AggregateResult, Aggregation, RunOptions, Scope, aggregate_many,
};
use tokio::sync::Semaphore;

use cache::{CacheStats, CachedResults, DEFAULT_CACHE_BYTES};

/// Why a server-side aggregation failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The aggregation itself failed.
    #[error(transparent)]
    Aggregate(#[from] AggregateError),
    /// The blocking task died.
    #[error("aggregation task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The server is shutting down.
    #[error("the server is shutting down")]
    Closed,
}

/// Runs aggregations of one store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Aggregator {
    db: Db,
    permits: Arc<Semaphore>,
    results: Arc<CachedResults<Db>>,
}

/// Raises the cancel flag when dropped, unless disarmed: an aggregation whose caller went
/// away (client disconnected, request timed out) stops at its next check.
struct CancelOnDrop(Option<Arc<AtomicBool>>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(flag) = self.0.take() {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

impl Aggregator {
    /// Aggregations of `db`, at most `concurrent` scans at once (the others wait).
    pub fn new(db: Db, concurrent: usize) -> Aggregator {
        Aggregator {
            results: Arc::new(CachedResults::new(db.clone(), DEFAULT_CACHE_BYTES)),
            db,
            permits: Arc::new(Semaphore::new(concurrent.max(1))),
        }
    }

    /// The result cache's counts.
    pub fn cache_stats(&self) -> CacheStats {
        self.results.cache().stats()
    }

    /// The store.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Run `aggregations` of `table` in one scan of `scope`, results in order; those cached
    /// at the table's current data version are not computed again, and a request whose
    /// results are all cached is answered without waiting for a scan slot.
    pub async fn run(
        &self,
        table: &str,
        scope: &Scope,
        aggregations: &[Aggregation],
    ) -> Result<Vec<AggregateResult>, RunError> {
        let now = strata_engine::now_micros();
        let (results, t, s, a) = (
            self.results.clone(),
            table.to_string(),
            scope.clone(),
            aggregations.to_vec(),
        );
        let cached = tokio::task::spawn_blocking(move || results.cached(&t, &s, &a, now))
            .await?
            .map_err(AggregateError::from)?;
        if let Some(hit) = cached {
            return Ok(hit.into_iter().map(Arc::unwrap_or_clone).collect());
        }
        let _permit = self.permits.acquire().await.map_err(|_| RunError::Closed)?;
        let cancel = Arc::new(AtomicBool::new(false));
        let mut guard = CancelOnDrop(Some(cancel.clone()));
        let (db, results, table, scope, aggregations) = (
            self.db.clone(),
            self.results.clone(),
            table.to_string(),
            scope.clone(),
            aggregations.to_vec(),
        );
        let options = RunOptions {
            cancel: Some(cancel),
            now_micros: now,
            ..RunOptions::default()
        };
        let joined = tokio::task::spawn_blocking(move || {
            results.get_or_compute_at(&table, &scope, &aggregations, now, |wanted| {
                aggregate_many(&db, &table, &scope, wanted, &options)
            })
        })
        .await;
        guard.0 = None;
        Ok(joined??.into_iter().map(Arc::unwrap_or_clone).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_engine::{DbOptions, FamilyOptions, Mutation, RowMutation, SyncMode};

    fn put(db: &Db, row: &str, value: &str) {
        db.mutate_rows(
            "t",
            vec![RowMutation {
                row: row.as_bytes().to_vec().into(),
                mutations: vec![Mutation::SetCell {
                    family: "f".into(),
                    qualifier: "q".into(),
                    value: value.as_bytes().to_vec().into(),
                    timestamp: 0,
                }],
            }],
        )
        .expect("write");
    }

    /// A store with table `t` of family `f`, flushed and compacted only when asked.
    fn store() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = DbOptions {
            sync_mode: SyncMode::None,
            background_threads: false,
            ..DbOptions::default()
        };
        let db = Db::open(dir.path(), options).expect("open");
        db.create_table("t", vec![FamilyOptions::new("f")])
            .expect("create");
        (dir, db)
    }

    fn counts(results: &[AggregateResult]) -> Vec<(Vec<u8>, u64)> {
        results[0]
            .buckets
            .iter()
            .map(|b| (b.key.clone(), b.count))
            .collect()
    }

    #[tokio::test]
    async fn a_repeated_aggregation_is_served_from_the_cache_until_a_write() {
        let (_dir, db) = store();
        put(&db, "a", "x");
        put(&db, "b", "y");
        let agg = Aggregator::new(db.clone(), 2);
        let by_q = [Aggregation::count_by("f", b"q".to_vec())];
        let first = agg.run("t", &Scope::all(), &by_q).await.expect("run");
        let again = agg.run("t", &Scope::all(), &by_q).await.expect("run");
        assert_eq!(first, again);
        assert_eq!(agg.cache_stats().hits, 1, "the repeat was computed again");
        put(&db, "c", "x");
        let after = agg.run("t", &Scope::all(), &by_q).await.expect("run");
        assert_eq!(
            counts(&after),
            vec![(b"x".to_vec(), 2), (b"y".to_vec(), 1)],
            "a write after the cached result is counted"
        );
        assert_eq!(agg.cache_stats().hits, 1);
        db.flush("t").expect("flush");
        let flushed = agg.run("t", &Scope::all(), &by_q).await.expect("run");
        assert_eq!(counts(&flushed), counts(&after));
        assert_eq!(agg.cache_stats().misses, 3, "a flush makes a new version");
    }

    #[tokio::test]
    async fn a_cached_result_is_served_without_a_scan_slot() {
        let (_dir, db) = store();
        put(&db, "a", "x");
        let agg = Aggregator::new(db.clone(), 1);
        let by_q = [Aggregation::count_by("f", b"q".to_vec())];
        let first = agg.run("t", &Scope::all(), &by_q).await.expect("run");
        // No slot will ever be free again: only a cached answer can come back.
        agg.permits.close();
        let again = agg
            .run("t", &Scope::all(), &by_q)
            .await
            .expect("a cache hit");
        assert_eq!(first, again);
        assert_eq!(agg.cache_stats().hits, 1);
        put(&db, "b", "x");
        assert!(
            matches!(
                agg.run("t", &Scope::all(), &by_q).await,
                Err(RunError::Closed)
            ),
            "a result to compute waits for a slot"
        );
    }
}
