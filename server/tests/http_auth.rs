//! In-process tests of the HTTP server's authentication and authorization (through the
//! router, no socket): 401 with a Basic challenge without credentials, Bearer and Basic
//! tokens, 403 naming the permission and the table, table lists showing only readable
//! tables, the dashboard leaving unreadable tables out, and `/metrics` closed unless
//! `--open-health-metrics`. TLS over a real socket is `tests/tests/security_http.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use serde_json::Value;
use strata_engine::{Db, DbOptions, FamilyOptions};
use strata_server::aggregation::Aggregator;
use strata_server::auth::audit::AuditLog;
use strata_server::auth::{Authenticator, Security, TokenFile};
use strata_server::http::{self, HttpState};
use tower::ServiceExt;

const ADMIN: &str = "admin-token-0123456789";
const VIEWER: &str = "viewer-token-0123456789";

fn hex_sha256(token: &str) -> String {
    strata_server::auth::tokens::token_hash(token)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

struct Fixture {
    _dir: tempfile::TempDir,
    state: HttpState,
}

/// A store with `customers` and `web_visits`; the viewer reads `web_*` only.
fn fixture(open_metrics: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), DbOptions::default()).unwrap();
    for t in ["customers", "web_visits"] {
        let families = ["personal_info", "device_info"].map(FamilyOptions::new);
        db.create_table(t, families.to_vec()).unwrap();
    }
    let tokens = TokenFile::parse(&format!(
        "[[principal]]\nname = \"admin\"\ntoken_sha256 = \"{}\"\npermissions = [\"admin\"]\n\
         [[principal]]\nname = \"viewer\"\ntoken_sha256 = \"{}\"\npermissions = [\"read:web_*\"]\n",
        hex_sha256(ADMIN),
        hex_sha256(VIEWER)
    ))
    .unwrap();
    let security = Security::new(
        Authenticator::from_tokens(tokens, false),
        AuditLog::to_server_log(),
        open_metrics,
    );
    Fixture {
        _dir: dir,
        state: HttpState {
            aggregator: Aggregator::new(db, 2),
            security: Arc::new(security),
        },
    }
}

struct Reply {
    status: StatusCode,
    challenge: Option<String>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn get(state: &HttpState, uri: &str, authorization: Option<&str>) -> Reply {
    let mut req = Request::get(uri);
    if let Some(a) = authorization {
        req = req.header(header::AUTHORIZATION, a);
    }
    let resp = http::router(state.clone())
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let challenge = resp
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
        .await
        .unwrap();
    Reply {
        status,
        challenge,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn basic(user: &str, token: &str) -> String {
    let pair = format!("{user}:{token}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

#[tokio::test]
async fn every_route_without_a_valid_token_is_401_with_a_basic_challenge() {
    let f = fixture(false);
    for uri in [
        "/",
        "/tables",
        "/tables/customers",
        "/api/dashboard",
        "/api/tables",
        "/api/tables/customers",
        "/metrics",
        "/no/such/page",
    ] {
        for auth in [None, Some(bearer("wrong")), Some(basic("viewer", ADMIN))] {
            let r = get(&f.state, uri, auth.as_deref()).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{uri} {auth:?}");
            let challenge = r.challenge.expect("WWW-Authenticate");
            assert!(
                challenge.starts_with("Basic realm=\"strata\""),
                "{challenge}"
            );
            assert!(!r.body.contains("viewer"), "names no principal: {}", r.body);
        }
    }
}

#[tokio::test]
async fn a_token_lacking_read_on_a_table_is_403_naming_the_permission_and_the_table() {
    let f = fixture(false);
    for auth in [bearer(VIEWER), basic("viewer", VIEWER), basic("", VIEWER)] {
        let r = get(&f.state, "/api/tables/customers", Some(&auth)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{auth}");
        let msg = r.json()["error"].as_str().unwrap().to_owned();
        assert!(
            msg.contains("read permission") && msg.contains("\"customers\""),
            "{msg}"
        );
        let r = get(&f.state, "/tables/customers", Some(&auth)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r.body.contains("read permission"), "{}", r.body);

        let r = get(&f.state, "/api/tables/web_visits", Some(&auth)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.json()["name"], "web_visits");
    }
    let r = get(&f.state, "/api/tables/customers", Some(&bearer(ADMIN))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn table_lists_show_only_readable_tables() {
    let f = fixture(false);
    let names = |r: &Reply| -> Vec<String> {
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let r = get(&f.state, "/api/tables", Some(&bearer(VIEWER))).await;
    assert_eq!(names(&r), ["web_visits"]);
    let r = get(&f.state, "/api/tables", Some(&bearer(ADMIN))).await;
    assert_eq!(names(&r), ["customers", "web_visits"]);
    let page = get(&f.state, "/tables", Some(&bearer(VIEWER))).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("web_visits") && !page.body.contains("customers"));
}

#[tokio::test]
async fn the_dashboard_scans_only_tables_the_caller_may_read() {
    let f = fixture(false);
    let d = get(&f.state, "/api/dashboard", Some(&bearer(VIEWER))).await;
    assert_eq!(d.status, StatusCode::OK);
    let customers = |d: &Value| -> Value {
        d["totals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["role"] == "customers")
            .unwrap()
            .clone()
    };
    let refused = customers(&d.json());
    let err = refused["error"].as_str().expect("refused");
    assert!(
        err.contains("read permission on table \"customers\""),
        "{err}"
    );
    let allowed = customers(
        &get(&f.state, "/api/dashboard", Some(&bearer(ADMIN)))
            .await
            .json(),
    );
    assert!(allowed["error"].is_null(), "{allowed}");
}

#[tokio::test]
async fn metrics_need_a_reader_unless_open_health_metrics() {
    let closed = fixture(false);
    assert_eq!(
        get(&closed.state, "/metrics", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = get(&closed.state, "/metrics", Some(&bearer(VIEWER))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("strata_"), "{}", r.body);

    let open = fixture(true);
    let r = get(&open.state, "/metrics", None).await;
    assert_eq!(r.status, StatusCode::OK);
    // Only /metrics opens: the pages still need a token.
    assert_eq!(
        get(&open.state, "/api/tables", None).await.status,
        StatusCode::UNAUTHORIZED
    );
}
