//! Middleware recording every HTTP request in the API metrics (`api="http"`), labelled by
//! the route that matched (`/tables/{name}`, never the raw path, so names in URLs do not
//! become labels) and the response status.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

use crate::metrics::{self, Api};

/// Time the request and record it.
pub async fn observe(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let started = Instant::now();
    let resp = next.run(req).await;
    metrics::observe_rpc(Api::Http, &route, resp.status().as_str(), started.elapsed());
    resp
}
