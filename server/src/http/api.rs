//! The JSON API: `/api/dashboard` (every chart and total, as the dashboard shows them),
//! `/api/tables` (one line per table) and `/api/tables/{name}` (a table's page as data).
//! Shapes are documented in docs/http.md.

use axum::Json;
use axum::extract::{Path, State};

use super::dashboard::{self, Dashboard};
use super::error::HttpError;
use super::server::HttpState;
use super::tables::{TableInfo, TableSummary};

/// `GET /api/dashboard`.
pub async fn dashboard(State(s): State<HttpState>) -> Json<Dashboard> {
    Json(dashboard::compute(&s.aggregator).await)
}

/// `GET /api/tables`.
pub async fn tables(State(s): State<HttpState>) -> Result<Json<Vec<TableSummary>>, HttpError> {
    let infos = super::routes::describe_all(&s)
        .await
        .map_err(HttpError::api)?;
    Ok(Json(infos.iter().map(TableInfo::summary).collect()))
}

/// `GET /api/tables/{name}`.
pub async fn table(
    State(s): State<HttpState>,
    Path(name): Path<String>,
) -> Result<Json<TableInfo>, HttpError> {
    let info = super::routes::describe(&s, name)
        .await
        .map_err(HttpError::api)?;
    Ok(Json(info))
}
