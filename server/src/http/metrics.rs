//! `GET /metrics`: the Prometheus exposition (API metrics and the store's figures).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::server::HttpState;
use crate::metrics;

/// The exposition, read from the engine on the blocking pool.
pub async fn metrics(State(s): State<HttpState>) -> impl IntoResponse {
    let aggregator = s.aggregator.clone();
    let body = tokio::task::spawn_blocking(move || metrics::encode_server(&aggregator))
        .await
        .unwrap_or_else(|_| metrics::encode(None));
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], body)
}
