//! Aggregations as the server runs them: on the blocking pool, a bounded number at a time,
//! cancelled when the caller goes away, for the Aggregate RPC and the dashboard alike.
//! [`wire`] converts the RPC's messages; [`cache`] is the per-table-version result cache
//! (built, tested, and not used until the engine reports data versions).
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
            db,
            permits: Arc::new(Semaphore::new(concurrent.max(1))),
        }
    }

    /// The store.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Run `aggregations` of `table` in one scan of `scope`, results in order.
    pub async fn run(
        &self,
        table: &str,
        scope: &Scope,
        aggregations: &[Aggregation],
    ) -> Result<Vec<AggregateResult>, RunError> {
        let _permit = self.permits.acquire().await.map_err(|_| RunError::Closed)?;
        let cancel = Arc::new(AtomicBool::new(false));
        let mut guard = CancelOnDrop(Some(cancel.clone()));
        let (db, table, scope, aggregations) = (
            self.db.clone(),
            table.to_string(),
            scope.clone(),
            aggregations.to_vec(),
        );
        let options = RunOptions {
            cancel: Some(cancel),
            ..RunOptions::default()
        };
        let joined = tokio::task::spawn_blocking(move || {
            aggregate_many(&db, &table, &scope, &aggregations, &options)
        })
        .await;
        guard.0 = None;
        Ok(joined??)
    }
}
