//! End to end: the Aggregate RPC of a real `strata serve` holding the four generated tables
//! (loaded with `strata load --data-dir`) answers exactly the counts computed from the CSV
//! files with the csv crate: value buckets (with an empty value), top-N, sums per bucket,
//! year, month, day and hour-of-day truncations, ages, numeric ranges, a prefix scope, filters
//! (one testing another family's column, one ending the scan; over the RPC and `strata
//! aggregate --filter`); and the Aggregate errors (unknown table or family, bad bucket, bad
//! filter) have their codes.
//!
//! The expected figures are computed here from the CSV text alone (the generator writes UTC
//! timestamps ending in `Z`), never with the engine's bucket code.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use strata_tests::v1 as pb;
use strata_tests::*;

/// One aggregation to check: table, CSV file, grouping column (CSV header name, family),
/// bucket, top, optional sum column.
struct Case {
    table: &'static str,
    csv: &'static str,
    family: &'static str,
    column: &'static str,
    bucket: &'static str,
    top: u32,
    sum: Option<(&'static str, &'static str)>,
}

const fn case(
    table: &'static str,
    csv: &'static str,
    (family, column): (&'static str, &'static str),
    bucket: &'static str,
) -> Case {
    Case {
        table,
        csv,
        family,
        column,
        bucket,
        top: 0,
        sum: None,
    }
}

const C: &str = "customer.csv";
const P: &str = "product.csv";
const T: &str = "transactions.csv";
const K: &str = "click_stream.csv";

fn cases() -> Vec<Case> {
    vec![
        case("customers", C, ("personal_info", "gender"), "value"),
        case("customers", C, ("device_info", "device_type"), "value"),
        case("customers", C, ("personal_info", "birthdate"), "age"),
        case("customers", C, ("join_info", "first_join_date"), "month"),
        case("product", P, ("product_details", "masterCategory"), "value"),
        Case {
            top: 5,
            ..case("product", P, ("product_details", "subCategory"), "value")
        },
        case("product", P, ("metadata", "usage"), "value"),
        case("product", P, ("metadata", "year"), "value"),
        Case {
            sum: Some(("transaction_summary", "total_amount")),
            ..case(
                "transactions",
                T,
                ("payment_info", "payment_method"),
                "value",
            )
        },
        case(
            "transactions",
            T,
            ("payment_info", "payment_status"),
            "value",
        ),
        case("transactions", T, ("payment_info", "promo_code"), "value"),
        case(
            "transactions",
            T,
            ("transaction_details", "created_at"),
            "year",
        ),
        Case {
            top: 3,
            ..case(
                "transactions",
                T,
                ("transaction_details", "created_at"),
                "day",
            )
        },
        case(
            "transactions",
            T,
            ("transaction_summary", "total_amount"),
            "range:100000",
        ),
        case(
            "clickstream",
            K,
            ("traffic_info", "traffic_source"),
            "value",
        ),
        case("clickstream", K, ("event_details", "event_name"), "value"),
        case(
            "clickstream",
            K,
            ("event_details", "event_time"),
            "hour-of-day",
        ),
    ]
}

/// The row key column(s) of each CSV file.
fn row_key(csv: &str, header: &[String], rec: &csv::StringRecord) -> String {
    let col = |name: &str| &rec[header.iter().position(|h| h == name).expect("column")];
    match csv {
        C => col("customer_id").to_string(),
        P => col("id").to_string(),
        T => col("booking_id").to_string(),
        _ => format!(
            "{}#{}#{}",
            col("session_id"),
            col("event_time"),
            col("event_id")
        ),
    }
}

/// Rows of a CSV file by row key (the last line of a key wins), as header -> value.
fn rows(path: &Path, csv: &str) -> BTreeMap<String, HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).expect("csv");
    let header: Vec<String> = r
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let mut out = BTreeMap::new();
    for rec in r.records() {
        let rec = rec.expect("record");
        let key = row_key(csv, &header, &rec);
        let fields = header
            .iter()
            .cloned()
            .zip(rec.iter().map(String::from))
            .collect();
        out.insert(key, fields);
    }
    out
}

/// Today's UTC date as (year, month, day), from the system clock.
fn today() -> (i64, u32, u32) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    strata_engine::iso8601::civil_from_days(secs.div_euclid(86_400))
}

/// The expected bucket of `v`, computed from its text.
fn bucket_of(bucket: &str, v: &str, today: (i64, u32, u32)) -> Option<String> {
    let digits = |r: std::ops::Range<usize>| -> Option<i64> { v.get(r)?.parse().ok() };
    match bucket {
        "value" => Some(v.to_string()),
        "year" => v.get(..4).map(String::from),
        "month" => v.get(..7).map(String::from),
        "day" => v.get(..10).map(String::from),
        "hour-of-day" => {
            assert!(v.ends_with('Z'), "generated timestamps are UTC: {v}");
            v.get(11..13).map(String::from)
        }
        "age" => {
            let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
            let (ty, tm, td) = today;
            let before = (i64::from(tm), i64::from(td)) < (m, d);
            Some((ty - y - i64::from(before)).to_string())
        }
        "range:100000" => {
            let n: i64 = v.parse().ok()?;
            Some((n.div_euclid(100_000) * 100_000).to_string())
        }
        other => panic!("no model for bucket {other}"),
    }
}

#[derive(Default, Debug)]
struct Want {
    count: u64,
    sum: f64,
}

/// The reply the server must give for `c`, from the CSV rows.
fn expected(
    c: &Case,
    data: &BTreeMap<String, HashMap<String, String>>,
    today: (i64, u32, u32),
) -> pb::AggregateResponse {
    let mut buckets: BTreeMap<String, Want> = BTreeMap::new();
    let mut unparsable = 0;
    for fields in data.values() {
        let Some(key) = bucket_of(c.bucket, &fields[c.column], today) else {
            unparsable += 1;
            continue;
        };
        let w = buckets.entry(key).or_default();
        w.count += 1;
        if let Some((_, q)) = c.sum {
            w.sum += fields[q].parse::<f64>().expect("numeric sum column");
        }
    }
    let distinct = buckets.len() as u64;
    let mut list: Vec<(String, Want)> = buckets.into_iter().collect();
    let by_key = c.bucket != "value";
    list.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(&b.0)));
    let mut other = 0;
    if c.top > 0 && list.len() > c.top as usize {
        other = list[c.top as usize..].iter().map(|x| x.1.count).sum();
        list.truncate(c.top as usize);
    }
    if by_key {
        // Numeric keys (ages, ranges) by number, dates by text (fixed width).
        list.sort_by(|a, b| match (a.0.parse::<i64>(), b.0.parse::<i64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => a.0.cmp(&b.0),
        });
    }
    pb::AggregateResponse {
        buckets: list
            .into_iter()
            .map(|(k, w)| pb::Bucket {
                key: k.into_bytes().into(),
                count: w.count,
                sum: w.sum,
                min: 0.0,
                max: 0.0,
                summed: 0,
            })
            .collect(),
        rows_scanned: data.len() as u64,
        rows_missing: 0,
        unparsable,
        distinct_buckets: distinct,
        other_count: other,
        ..Default::default()
    }
}

fn request(c: &Case) -> pb::AggregateRequest {
    pb::AggregateRequest {
        table: c.table.into(),
        family: c.family.into(),
        qualifier: c.column.as_bytes().to_vec().into(),
        bucket: c.bucket.into(),
        top: c.top,
        sum_family: c.sum.map(|s| s.0.to_string()).unwrap_or_default(),
        sum_qualifier: c
            .sum
            .map(|s| s.1.as_bytes().to_vec())
            .unwrap_or_default()
            .into(),
        ..Default::default()
    }
}

/// Generate and load the four tables into a new store; returns (CSV dir, data dir).
fn load_tables(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let csv = dir.join("csv");
    let data = dir.join("data");
    let s = |p: &Path| p.to_str().expect("utf-8 path").to_string();
    run_strata(&["gen", "--out", &s(&csv), "--scale", "0.001", "--seed", "7"]).assert_success();
    for (table, file) in [
        ("customers", C),
        ("product", P),
        ("transactions", T),
        ("clickstream", K),
    ] {
        run_strata(&[
            "load",
            "--table",
            table,
            "--csv",
            &s(&csv.join(file)),
            "--data-dir",
            &s(&data),
            "--quiet",
        ])
        .assert_success();
    }
    (csv, data)
}

#[tokio::test]
async fn aggregate_replies_equal_the_csv_counts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (csv, data) = load_tables(dir.path());
    let server = Server::start_on(&data, &[]).await;
    let mut client = server.client().await;
    let today = today();
    let mut cache: HashMap<&str, BTreeMap<String, HashMap<String, String>>> = HashMap::new();
    for c in cases() {
        let rows = cache
            .entry(c.csv)
            .or_insert_with(|| rows(&csv.join(c.csv), c.csv));
        let want = expected(&c, rows, today);
        assert!(
            !want.buckets.is_empty(),
            "{} {}: no data",
            c.table,
            c.column
        );
        let mut got = client
            .aggregate(request(&c))
            .await
            .unwrap_or_else(|s| panic!("{} {}: {s}", c.table, c.column))
            .into_inner();
        let what = format!("{} {}:{} by {}", c.table, c.family, c.column, c.bucket);
        assert!(got.computed_at_micros > 0, "{what}");
        assert!(got.cells_scanned >= got.rows_scanned, "{what}");
        // Compared separately: figures this test does not model.
        got.computed_at_micros = 0;
        got.cells_scanned = 0;
        for b in &mut got.buckets {
            if c.sum.is_some() {
                assert_eq!(b.summed, b.count, "{what}: every total_amount is a number");
                assert!(b.min <= b.max, "{what}");
            }
            (b.min, b.max, b.summed) = (0.0, 0.0, 0);
        }
        assert_eq!(got, want, "{what}");
    }
}

#[tokio::test]
async fn aggregate_scopes_and_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (csv, data) = load_tables(dir.path());
    let server = Server::start_on(&data, &[]).await;
    let mut client = server.client().await;

    // A prefix scope: the events of one session.
    let events = rows(&csv.join(K), K);
    let session = events
        .keys()
        .next()
        .and_then(|k| k.split('#').next())
        .expect("a session")
        .to_string();
    let in_session: Vec<&HashMap<String, String>> = events
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{session}#")))
        .map(|(_, v)| v)
        .collect();
    let got = client
        .aggregate(pb::AggregateRequest {
            table: "clickstream".into(),
            family: "event_details".into(),
            qualifier: b"event_name".to_vec().into(),
            prefix: format!("{session}#").into_bytes().into(),
            ..Default::default()
        })
        .await
        .expect("aggregate")
        .into_inner();
    assert_eq!(got.rows_scanned, in_session.len() as u64);
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for e in &in_session {
        *want.entry(e["event_name"].clone()).or_default() += 1;
    }
    let got_counts: BTreeMap<String, u64> = got
        .buckets
        .iter()
        .map(|b| (String::from_utf8(b.key.to_vec()).expect("utf-8"), b.count))
        .collect();
    assert_eq!(got_counts, want);

    // `strata aggregate --json` prints what the RPC answers.
    let out = server.cli(&[
        "aggregate",
        "transactions",
        "payment_info:payment_method",
        "--sum",
        "transaction_summary:total_amount",
        "--top",
        "2",
        "--json",
    ]);
    out.assert_success();
    let printed: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("JSON");
    let reply = client
        .aggregate(pb::AggregateRequest {
            table: "transactions".into(),
            family: "payment_info".into(),
            qualifier: b"payment_method".to_vec().into(),
            top: 2,
            sum_family: "transaction_summary".into(),
            sum_qualifier: b"total_amount".to_vec().into(),
            ..Default::default()
        })
        .await
        .expect("aggregate")
        .into_inner();
    assert_eq!(printed["rows_scanned"], reply.rows_scanned);
    assert_eq!(printed["other_count"], reply.other_count);
    let buckets = printed["buckets"].as_array().expect("buckets");
    assert_eq!(buckets.len(), 2);
    for (p, b) in buckets.iter().zip(&reply.buckets) {
        assert_eq!(p["key"].as_str().map(str::as_bytes), Some(&b.key[..]));
        assert_eq!(p["count"], b.count);
        assert_eq!(p["sum"].as_f64(), Some(b.sum));
    }
    let text = server.cli(&[
        "aggregate",
        "customers",
        "personal_info:birthdate",
        "--bucket",
        "age",
    ]);
    text.assert_success();
    assert!(text.stdout.contains("rows read"), "{}", text.stdout);
    let bad = server.cli(&[
        "aggregate",
        "customers",
        "personal_info:gender",
        "--filter",
        "x",
    ]);
    assert!(!bad.success());
    assert!(bad.stderr.contains("INVALID_ARGUMENT"), "{}", bad.stderr);

    let base = pb::AggregateRequest {
        table: "customers".into(),
        family: "personal_info".into(),
        qualifier: b"gender".to_vec().into(),
        ..Default::default()
    };
    let code = |r: pb::AggregateRequest| {
        let mut c = client.clone();
        async move { c.aggregate(r).await.expect_err("must fail") }
    };
    let s = code(pb::AggregateRequest {
        table: "nope".into(),
        ..base.clone()
    })
    .await;
    assert_eq!(s.code(), tonic::Code::NotFound, "{s:?}");
    let s = code(pb::AggregateRequest {
        family: "nope_family".into(),
        ..base.clone()
    })
    .await;
    assert_eq!(s.code(), tonic::Code::NotFound, "{s:?}");
    assert!(s.message().contains("nope_family"), "{s:?}");
    let s = code(pb::AggregateRequest {
        bucket: "fortnight".into(),
        ..base.clone()
    })
    .await;
    assert_eq!(s.code(), tonic::Code::InvalidArgument, "{s:?}");
    assert!(s.message().contains("fortnight"), "{s:?}");
    let s = code(pb::AggregateRequest {
        filter: "PrefixFilter('1') AND".into(),
        ..base.clone()
    })
    .await;
    assert_eq!(s.code(), tonic::Code::InvalidArgument, "{s:?}");
    assert!(s.message().contains("bad filter at byte 21"), "{s:?}");
}

/// Gender counts of the customers whose `device_type` is `value`, from the CSV.
fn genders_on(
    customers: &BTreeMap<String, HashMap<String, String>>,
    value: &str,
) -> Vec<(String, u64)> {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for c in customers.values().filter(|c| c["device_type"] == value) {
        *counts.entry(c["gender"].clone()).or_default() += 1;
    }
    let mut v: Vec<(String, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

fn bucket_counts(buckets: &[pb::Bucket]) -> Vec<(String, u64)> {
    buckets
        .iter()
        .map(|b| (String::from_utf8(b.key.to_vec()).expect("utf-8"), b.count))
        .collect()
}

#[tokio::test]
async fn aggregate_filters_see_other_families_and_equal_the_csv_counts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (csv, data) = load_tables(dir.path());
    let server = Server::start_on(&data, &[]).await;
    let mut client = server.client().await;
    let customers = rows(&csv.join(C), C);
    // Grouped by a personal_info column, filtered by a device_info one: the scan reads
    // device_info for the filter.
    let ios = "SingleColumnValueFilter('device_info', 'device_type', =, 'binary:iOS', true, true)";
    let got = client
        .aggregate(pb::AggregateRequest {
            table: "customers".into(),
            family: "personal_info".into(),
            qualifier: b"gender".to_vec().into(),
            filter: ios.into(),
            ..Default::default()
        })
        .await
        .expect("aggregate")
        .into_inner();
    let want = genders_on(&customers, "iOS");
    let total: u64 = want.iter().map(|w| w.1).sum();
    assert!(total > 0 && total < customers.len() as u64, "{total}");
    assert_eq!(bucket_counts(&got.buckets), want);
    assert_eq!(got.rows_scanned, total);
    assert_eq!(
        got.cells_scanned,
        got.rows_scanned * 6,
        "only personal_info's six columns are counted as the aggregation's cells"
    );
    // The same through `strata aggregate --filter`, with a row range on top.
    let out = server.cli(&[
        "aggregate",
        "customers",
        "personal_info:gender",
        "--filter",
        &ios.replace("iOS", "Android"),
        "--json",
    ]);
    out.assert_success();
    let printed: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("JSON");
    let printed: Vec<(String, u64)> = printed["buckets"]
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
    assert_eq!(printed, genders_on(&customers, "Android"));
    // A filter that ends the scan: the first 10 rows only.
    let got = client
        .aggregate(pb::AggregateRequest {
            table: "customers".into(),
            family: "personal_info".into(),
            qualifier: b"gender".to_vec().into(),
            filter: "PageFilter(10)".into(),
            ..Default::default()
        })
        .await
        .expect("aggregate")
        .into_inner();
    assert_eq!(got.rows_scanned, 10);
    let mut first: BTreeMap<String, u64> = BTreeMap::new();
    for c in customers.values().take(10) {
        *first.entry(c["gender"].clone()).or_default() += 1;
    }
    let got: BTreeMap<String, u64> = bucket_counts(&got.buckets).into_iter().collect();
    assert_eq!(got, first);
}
