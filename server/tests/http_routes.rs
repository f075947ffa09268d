//! In-process tests of the HTTP server's routes (through the router, no socket): status
//! codes, content types and JSON shapes of every page and API route, the dashboard's
//! figures against the aggregation, table-name fallback, escaping of values, `/metrics`;
//! and, over a real socket, start, shutdown and the binding rules of `--http-listen`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::Value;
use strata_engine::{Db, DbOptions, FamilyOptions, Mutation, RowMutation};
use strata_server::aggregation::Aggregator;
use strata_server::http::{self, HttpState};
use strata_server::{HttpBinding, ServiceOptions};
use tower::ServiceExt;

struct Fixture {
    _dir: tempfile::TempDir,
    db: Db,
    state: HttpState,
}

const GENDERS: [&str; 5] = ["F", "M", "F", "<script>alert(1)</script>", "F"];

fn put(db: &Db, table: &str, row: &str, cells: &[(&str, &str, &str)]) {
    db.mutate_row(
        table,
        RowMutation {
            row: row.as_bytes().to_vec().into(),
            mutations: cells
                .iter()
                .map(|(f, q, v)| Mutation::SetCell {
                    family: (*f).into(),
                    qualifier: q.as_bytes().to_vec().into(),
                    value: v.as_bytes().to_vec().into(),
                    timestamp: 0,
                })
                .collect(),
        },
    )
    .expect("write");
}

/// A store with a customers table under `customers_name` (and nothing else).
fn fixture(customers_name: &str) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(dir.path(), DbOptions::default()).expect("open");
    db.create_table(
        customers_name,
        ["personal_info", "device_info"]
            .into_iter()
            .map(FamilyOptions::new)
            .collect(),
    )
    .expect("create");
    for (i, g) in GENDERS.iter().enumerate() {
        put(
            &db,
            customers_name,
            &format!("{i}"),
            &[
                ("personal_info", "gender", g),
                ("personal_info", "birthdate", "1990-01-01"),
                (
                    "device_info",
                    "device_type",
                    if i % 2 == 0 { "iOS" } else { "Android" },
                ),
            ],
        );
    }
    let state = HttpState::new(Aggregator::new(db.clone(), 2));
    Fixture {
        _dir: dir,
        db,
        state,
    }
}

struct Reply {
    status: StatusCode,
    content_type: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn get(state: &HttpState, uri: &str) -> Reply {
    let resp = http::router(state.clone())
        .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
        .await
        .expect("body");
    Reply {
        status,
        content_type,
        body: String::from_utf8(bytes.to_vec()).expect("utf-8"),
    }
}

fn chart<'a>(d: &'a Value, id: &str) -> &'a Value {
    d["charts"]
        .as_array()
        .expect("charts")
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no chart {id}"))
}

#[tokio::test]
async fn the_dashboard_api_holds_every_chart_with_the_aggregated_counts() {
    let f = fixture("customers");
    let r = get(&f.state, "/api/dashboard").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.content_type.starts_with("application/json"),
        "{}",
        r.content_type
    );
    let d = r.json();
    assert_eq!(d["totals"].as_array().expect("totals").len(), 4);
    assert_eq!(d["charts"].as_array().expect("charts").len(), 13);
    let customers = d["totals"]
        .as_array()
        .expect("totals")
        .iter()
        .find(|t| t["role"] == "customers")
        .expect("customers total");
    assert_eq!(customers["rows"], 5);
    assert_eq!(customers["table"], "customers");
    assert!(
        customers["computed_at"]
            .as_str()
            .expect("time")
            .ends_with('Z')
    );

    let g = chart(&d, "customers-by-gender");
    assert_eq!(g["kind"], "donut");
    assert_eq!(g["column"], "personal_info:gender");
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for x in GENDERS {
        *want.entry(x.to_string()).or_default() += 1;
    }
    let got: BTreeMap<String, u64> = g["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| {
            (
                b["key"].as_str().expect("key").to_string(),
                b["count"].as_u64().expect("count"),
            )
        })
        .collect();
    assert_eq!(got, want);
    // Most frequent first.
    assert_eq!(g["buckets"][0]["key"], "F");
    assert_eq!(
        chart(&d, "customers-by-age")["buckets"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // Tables that do not exist show as errors on their charts, not as a failed page.
    let p = chart(&d, "products-by-usage");
    assert!(p["table"].is_null());
    assert!(p["error"].as_str().expect("error").contains("product"));
}

#[tokio::test]
async fn the_dashboard_page_draws_every_chart_and_escapes_values() {
    let f = fixture("customers");
    let r = get(&f.state, "/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.content_type.starts_with("text/html"),
        "{}",
        r.content_type
    );
    for c in &http::dashboard::CHARTS {
        assert!(
            r.body.contains(&format!("data-chart=\"{}\"", c.id)),
            "missing {}",
            c.id
        );
    }
    assert!(r.body.contains("<svg"), "charts are inline SVG");
    assert!(r.body.contains("data-rows=\"5\""));
    assert!(
        !r.body.contains("<script>alert(1)"),
        "a value became markup"
    );
    assert!(r.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    // The page refreshes itself; the fragment is the refreshed part alone.
    assert!(r.body.contains("fragment=main"));
    assert!(r.body.contains("http-equiv=\"refresh\""));
    let frag = get(&f.state, "/?fragment=main&refresh=30").await;
    assert_eq!(frag.status, StatusCode::OK);
    assert!(!frag.body.contains("<html"));
    assert!(frag.body.contains("data-chart=\"customers-by-gender\""));
    assert!(frag.body.contains("refreshed every 30 s"));
}

#[tokio::test]
async fn the_pipeline_table_names_are_the_fallback() {
    let f = fixture("customer");
    let d = get(&f.state, "/api/dashboard").await.json();
    let g = chart(&d, "customers-by-device-type");
    assert_eq!(g["table"], "customer");
    assert!(g["error"].is_null(), "{g}");
    assert_eq!(g["rows_scanned"], 5);
}

#[tokio::test]
async fn table_pages_and_their_json() {
    let f = fixture("customers");
    f.db.flush("customers").expect("flush");
    let list = get(&f.state, "/tables").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("href=\"/tables/customers\""));
    let page = get(&f.state, "/tables/customers").await;
    assert_eq!(page.status, StatusCode::OK);
    for needle in [
        "data-family=\"personal_info\"",
        "data-family=\"device_info\"",
        "Storage per level",
        "Write amplification",
        "Block cache hit rate",
    ] {
        assert!(page.body.contains(needle), "{needle}");
    }

    let api = get(&f.state, "/api/tables").await;
    assert_eq!(api.status, StatusCode::OK);
    let tables = api.json();
    assert_eq!(tables[0]["name"], "customers");
    assert_eq!(tables[0]["families"], 2);
    assert_eq!(tables[0]["files"], 1);

    let one = get(&f.state, "/api/tables/customers").await.json();
    assert_eq!(one["name"], "customers");
    assert_eq!(one["families"][0]["name"], "device_info");
    assert_eq!(one["families"][0]["compression"], "zstd");
    assert_eq!(one["levels"][0]["files"], 1);
    assert_eq!(one["flushes"], 1);
    assert!(one["write_amplification"].as_f64().expect("amplification") >= 1.0);
    for key in [
        "file_bytes",
        "memtable_bytes",
        "compactions",
        "block_cache_hits",
        "block_cache_hit_rate",
        "wal_bytes",
    ] {
        assert!(one.get(key).is_some(), "{key}");
    }
}

#[tokio::test]
async fn unknown_and_bad_names_have_their_statuses() {
    let f = fixture("customers");
    let r = get(&f.state, "/tables/nope").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("nope"));
    let r = get(&f.state, "/api/tables/nope").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["code"], "NOT_FOUND");
    let r = get(&f.state, "/api/tables/bad%20name").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["code"], "INVALID_ARGUMENT");
    let r = get(&f.state, "/tables/%3Cb%3E").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(!r.body.contains("<b>"), "the name is escaped");
    let r = get(&f.state, "/no/such/page").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_count_requests_and_show_the_store() {
    let f = fixture("customers");
    get(&f.state, "/api/tables/nope").await;
    let r = get(&f.state, "/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.content_type.starts_with("application/openmetrics-text"));
    let t = &r.body;
    assert!(
        t.contains(r#"strata_rpc_errors_total{api="http",method="/api/tables/{name}",code="404"}"#),
        "{t}"
    );
    assert!(
        t.contains(r#"strata_memtable_bytes{table="customers"}"#),
        "{t}"
    );
    assert!(
        t.contains(r#"strata_table_files{table="customers"} 0"#),
        "{t}"
    );
    assert!(t.contains("strata_wal_bytes "), "{t}");
    assert!(t.ends_with("# EOF\n"), "{t}");
    // The scrape itself is counted by the next one.
    let again = get(&f.state, "/metrics").await;
    assert!(again.body.contains(r#"method="/metrics""#));
}

async fn raw_get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    Ok(out)
}

#[tokio::test]
async fn http_serves_beside_grpc_and_stops_with_it() {
    let f = fixture("customers");
    let grpc = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let web = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let server =
        strata_server::start_with_http(f.db.clone(), grpc, Some(web), ServiceOptions::default())
            .await
            .expect("start");
    let addr = server.http_addr().expect("http runs");
    let page = raw_get(addr, "/tables").await.expect("get");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("customers"));
    server
        .shutdown(Duration::from_secs(5))
        .await
        .expect("shutdown");
    assert!(
        raw_get(addr, "/").await.is_err(),
        "still serving after shutdown"
    );
}

#[tokio::test]
async fn a_taken_explicit_address_is_an_error_and_a_taken_default_is_not() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = taken.local_addr().expect("addr");
    let e = http::bind(HttpBinding::Explicit(addr))
        .await
        .expect_err("taken");
    assert!(e.to_string().contains(&addr.to_string()), "{e}");
    assert!(
        http::bind(HttpBinding::Default(addr))
            .await
            .expect("not an error")
            .is_none()
    );
    assert!(http::bind(HttpBinding::Off).await.expect("off").is_none());
    drop(taken);
    let free = http::bind(HttpBinding::Explicit(addr))
        .await
        .expect("free now");
    assert_eq!(free.expect("listener").local_addr().expect("addr"), addr);
}
