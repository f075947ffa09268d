//! The HTTP server's door: a middleware ([`guard`]) in front of every route authenticates the
//! request from its `Authorization` header (`Bearer TOKEN`, or `Basic` with the principal as
//! user and the token as password, so a browser can prompt) and its connection's client
//! certificate, answers 401 with `WWW-Authenticate: Basic realm="strata"` when that fails, and
//! hands the handlers the [`HttpCaller`]; each handler then authorizes what it shows through
//! [`HttpCaller::authorize`] (read on its table) or [`HttpCaller::can_read`] (table lists).
//! `/metrics` needs `read` on some table, or nothing with `--open-health-metrics`.
//!
//! This file only adapts HTTP to `auth/`: it must never decide a permission itself, and never
//! let a request reach a handler without a principal.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::error::HttpError;
use super::server::HttpState;
use crate::auth::{Action, Call, Credentials, Principal, Security, authorize, can_read};
use crate::status;
use crate::tls::Peer;

/// The `api` of HTTP requests in the audit log.
pub const API: &str = "http";

/// The challenge of a 401, so that a browser asks for a user (the principal) and a password
/// (its token).
pub const CHALLENGE: &str = "Basic realm=\"strata\", charset=\"UTF-8\"";

/// Who made a request; in the extensions of every request that passed [`guard`].
#[derive(Clone, Debug)]
pub struct HttpCaller {
    /// The authenticated principal.
    pub principal: Principal,
    /// The client's address.
    pub peer: Option<SocketAddr>,
    /// The route (`/tables/{name}`), for the audit log.
    pub route: Arc<str>,
    security: Arc<Security>,
}

impl HttpCaller {
    /// `action` on `table`, audited as the security layer does; a refusal is 403 naming the
    /// missing permission and the table (as JSON for the API, a page otherwise).
    pub fn authorize(
        &self,
        action: Action,
        table: Option<&str>,
        json: bool,
    ) -> Result<(), HttpError> {
        let call = Call {
            api: API,
            method: &self.route,
            peer: self.peer,
        };
        self.security
            .authorize(&call, &self.principal, action, table)
            .map_err(|d| HttpError {
                status: status::from_denied(&d),
                json,
            })
    }

    /// Whether the caller may read `table` (lists show only these; not audited, like
    /// ListTables).
    pub fn can_read(&self, table: &str) -> bool {
        can_read(&self.principal, table)
    }

    /// Why the caller may not run `action` on `table`, if it may not (the dashboard shows
    /// this on the charts of a table it cannot read; not audited: the page itself is allowed).
    pub fn refusal(&self, action: Action, table: &str) -> Option<String> {
        authorize(&self.principal, action, Some(table))
            .err()
            .map(|d| d.to_string())
    }
}

/// What the `Authorization` header presents: (token, user). `None` without the header; a
/// header that is neither Bearer nor a well-formed Basic is an empty token, which no
/// principal has.
pub fn credentials(headers: &HeaderMap) -> Option<(String, Option<String>)> {
    let value = headers.get(header::AUTHORIZATION)?;
    let invalid = Some((String::new(), None));
    let Ok(text) = value.to_str() else {
        return invalid;
    };
    let Some((scheme, rest)) = text.trim().split_once(' ') else {
        return invalid;
    };
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some((rest.to_owned(), None));
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return invalid;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest)
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    match decoded.as_deref().and_then(|d| d.split_once(':')) {
        // A browser prompt left the user empty: the token alone names the principal.
        Some(("", token)) => Some((token.to_owned(), None)),
        Some((user, token)) => Some((token.to_owned(), Some(user.to_owned()))),
        None => invalid,
    }
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

/// Authenticate every request; `/metrics` is also authorized here (it shows every table's
/// figures: `read` on some table), or left open with `--open-health-metrics`.
pub async fn guard(State(state): State<HttpState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let metrics = path == "/metrics";
    if metrics && state.security.health_is_open() {
        return next.run(req).await;
    }
    let route: Arc<str> = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| Arc::from(path.as_str()), |p| Arc::from(p.as_str()));
    let peer = req
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .map(|c| c.0.clone())
        .unwrap_or_default();
    let presented = credentials(req.headers());
    let call = Call {
        api: API,
        method: &route,
        peer: peer.addr,
    };
    let creds = Credentials {
        token: presented.as_ref().map(|(t, _)| t.as_str()),
        user: presented.as_ref().and_then(|(_, u)| u.as_deref()),
        certificate: peer.certificate.as_deref(),
    };
    let principal = match state.security.authenticate(&call, creds) {
        Ok(p) => p,
        Err(e) => {
            let mut resp = HttpError {
                status: status::from_unauthenticated(&e),
                json: is_api(&path) || metrics,
            }
            .into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(CHALLENGE),
            );
            return resp;
        }
    };
    let caller = HttpCaller {
        principal,
        peer: peer.addr,
        route,
        security: state.security.clone(),
    };
    if metrics && let Err(e) = caller.authorize(Action::ServerInfo, None, true) {
        return e.into_response();
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(value).expect("header"),
        );
        h
    }

    fn basic(user_pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    }

    #[test]
    fn bearer_and_basic_headers_give_the_token_and_the_user() {
        assert_eq!(credentials(&HeaderMap::new()), None);
        assert_eq!(credentials(&with("Bearer abc")), Some(("abc".into(), None)));
        assert_eq!(
            credentials(&with(&basic("loader:s3cret:x"))),
            Some(("s3cret:x".into(), Some("loader".into())))
        );
        assert_eq!(
            credentials(&with(&basic(":tok"))),
            Some(("tok".into(), None))
        );
        for bad in ["Basic !!!", "Digest x", "abc", &basic("no-colon")] {
            assert_eq!(
                credentials(&with(bad)),
                Some((String::new(), None)),
                "{bad}"
            );
        }
    }
}
