//! The JSON API: `/api/dashboard` (every chart and total, as the dashboard shows them),
//! `/api/tables` (one line per table) and `/api/tables/{name}` (a table's page as data).
//! Shapes are documented in docs/http.md.

use axum::extract::{Path, State};
use axum::{Extension, Json};

use super::auth::HttpCaller;
use super::dashboard::{self, Dashboard};
use super::error::HttpError;
use super::server::HttpState;
use super::tables::{TableInfo, TableSummary};
use crate::auth::Action;

/// `GET /api/dashboard`: the charts of the tables the caller may read (the others carry
/// why not in `error`).
pub async fn dashboard(
    State(s): State<HttpState>,
    Extension(caller): Extension<HttpCaller>,
) -> Json<Dashboard> {
    Json(dashboard::compute_for(&s.aggregator, |t| caller.refusal(Action::Aggregate, t)).await)
}

/// `GET /api/tables`: the tables the caller may read.
pub async fn tables(
    State(s): State<HttpState>,
    Extension(caller): Extension<HttpCaller>,
) -> Result<Json<Vec<TableSummary>>, HttpError> {
    let infos = super::routes::describe_all(&s, &caller)
        .await
        .map_err(HttpError::api)?;
    Ok(Json(infos.iter().map(TableInfo::summary).collect()))
}

/// `GET /api/tables/{name}`.
pub async fn table(
    State(s): State<HttpState>,
    Extension(caller): Extension<HttpCaller>,
    Path(name): Path<String>,
) -> Result<Json<TableInfo>, HttpError> {
    caller.authorize(Action::DescribeTable, Some(&name), true)?;
    let info = super::routes::describe(&s, name)
        .await
        .map_err(HttpError::api)?;
    Ok(Json(info))
}
