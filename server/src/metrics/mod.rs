//! Prometheus metrics: request counts, errors and latency of every API (gRPC, Thrift, HTTP)
//! in one process-wide registry, plus the store's figures read from the engine at scrape time,
//! encoded in the text format (OpenMetrics, which Prometheus scrapes) by `prometheus-client`.
//!
//! The API for the servers: [`observe_rpc`] once per finished call (the gRPC layer in
//! [`grpc`], the HTTP middleware and the Thrift gateway call it), and [`encode`] for the
//! `/metrics` page. This module must never block a caller on I/O: recording is a few atomic
//! operations and a short lock, and reading the engine happens only in [`encode`].

pub mod engine;
pub mod grpc;
mod rpc;

use std::time::Duration;

use strata_engine::Db;

use crate::aggregation::Aggregator;
use crate::aggregation::cache::CacheStats;

/// The media type of [`encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Which API served a call (the `api` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Api {
    /// The gRPC service (and health, reflection).
    Grpc,
    /// The HBase-compatible Thrift gateway.
    Thrift,
    /// The HTTP server (dashboard, pages, JSON API, /metrics).
    Http,
}

impl Api {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Grpc => "grpc",
            Api::Thrift => "thrift",
            Api::Http => "http",
        }
    }
}

/// Record one finished call: `method` names the operation (`Get`, `mutateRows`,
/// `/tables/{name}`), `code` its outcome: `OK` (or an HTTP status below 400) counts as a
/// success, anything else also as an error with that code (`NOT_FOUND`, `IOError`, `404`).
/// At most a few hundred distinct methods per API are kept apart; later ones are counted
/// under `other`, so clients sending made-up method names cannot grow the registry.
pub fn observe_rpc(api: Api, method: &str, code: &str, elapsed: Duration) {
    rpc::global().observe(api, method, code, elapsed);
}

/// The whole exposition: the API metrics, then the store's figures (when a store is given).
pub fn encode(db: Option<&Db>) -> String {
    encode_all(db, None)
}

/// [`encode`], with the aggregator's result cache counts as well: what `/metrics` serves.
pub fn encode_server(aggregator: &Aggregator) -> String {
    encode_all(Some(aggregator.db()), Some(aggregator.cache_stats()))
}

fn encode_all(db: Option<&Db>, aggregation: Option<CacheStats>) -> String {
    let mut out = String::new();
    rpc::global().encode_into(&mut out);
    if let Some(db) = db {
        engine::encode_into(db, &mut out);
    }
    if let Some(stats) = aggregation {
        engine::encode_aggregation_cache(&stats, &mut out);
    }
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode_eof(&mut out);
    out
}
