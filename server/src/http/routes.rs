//! The page handlers (`/`, `/tables`, `/tables/{name}`, anything else) and the table
//! look-ups they share with the JSON API.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::auth::HttpCaller;
use super::dashboard;
use super::error::HttpError;
use super::pages::layout::Refresh;
use super::pages::{self, layout};
use super::server::HttpState;
use super::tables::TableInfo;
use crate::auth::Action;
use crate::{convert, service, status};

/// Default seconds between dashboard refreshes.
pub const DEFAULT_REFRESH_SECONDS: u32 = 10;

/// Query of `/`: `refresh=N` seconds between refreshes (2..=3600), `fragment=main` for the
/// refreshed part alone.
#[derive(Debug, Default, Deserialize)]
pub struct DashboardQuery {
    refresh: Option<u32>,
    fragment: Option<String>,
}

/// `GET /`: the charts of the tables the caller may read (the others show why not).
pub async fn dashboard_page(
    State(s): State<HttpState>,
    Extension(caller): Extension<HttpCaller>,
    Query(q): Query<DashboardQuery>,
) -> Response {
    let refresh = Refresh {
        seconds: q.refresh.unwrap_or(DEFAULT_REFRESH_SECONDS).clamp(2, 3600),
    };
    let d = dashboard::compute_for(&s.aggregator, |t| caller.refusal(Action::Aggregate, t)).await;
    match q.fragment.as_deref() {
        Some("main") => Html(pages::dashboard::main(&d, refresh)).into_response(),
        _ => Html(pages::dashboard::page(&d, refresh)).into_response(),
    }
}

/// `GET /tables`: the tables the caller may read.
pub async fn tables_page(
    State(s): State<HttpState>,
    Extension(caller): Extension<HttpCaller>,
) -> Result<Html<String>, HttpError> {
    let infos = describe_all(&s, &caller).await.map_err(HttpError::page)?;
    let summaries: Vec<_> = infos.iter().map(TableInfo::summary).collect();
    Ok(Html(pages::tables::list(&summaries)))
}

/// `GET /tables/{name}`.
pub async fn table_page(
    State(s): State<HttpState>,
    Extension(caller): Extension<HttpCaller>,
    Path(name): Path<String>,
) -> Result<Html<String>, HttpError> {
    caller.authorize(Action::DescribeTable, Some(&name), false)?;
    let info = describe(&s, name).await.map_err(HttpError::page)?;
    Ok(Html(pages::tables::detail(&info)))
}

/// Anything else.
pub async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(layout::page(
            "Not found",
            "<p class=\"error\">No such page.</p><p><a href=\"/\">Dashboard</a> · \
             <a href=\"/tables\">Tables</a></p>",
            None,
        )),
    )
        .into_response()
}

/// One table's description (a bad name is INVALID_ARGUMENT, an unknown one NOT_FOUND).
pub async fn describe(s: &HttpState, name: String) -> Result<TableInfo, tonic::Status> {
    convert::table(&name).map_err(|e| status::from_convert(&e))?;
    let db = s.aggregator.db().clone();
    let d = service::blocking(move || db.describe_table(&name)).await?;
    Ok(TableInfo::from_description(&d))
}

/// The description of every table `caller` may read, by name (a table dropped meanwhile is
/// left out).
pub async fn describe_all(
    s: &HttpState,
    caller: &HttpCaller,
) -> Result<Vec<TableInfo>, tonic::Status> {
    let db = s.aggregator.db().clone();
    let caller = caller.clone();
    let descriptions = service::blocking(move || {
        let mut out = Vec::new();
        for t in db.list_tables().into_iter().filter(|t| caller.can_read(t)) {
            match db.describe_table(&t) {
                Ok(d) => out.push(d),
                Err(strata_engine::Error::TableNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    })
    .await?;
    let mut infos: Vec<TableInfo> = descriptions
        .iter()
        .map(TableInfo::from_description)
        .collect();
    infos.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(infos)
}
