//! End to end: `strata load --mapping NAME` loads a built-in mapping under another table name
//! (the pipeline's loaders wrote `customers` and `clickstream`, its dashboard reads `customer`
//! and `click_stream`), into a store (`--data-dir`) and through a running server (`--server`);
//! the pipeline's names alone pick their built-in; a bad name or `--mapping` with `--columns`
//! fails naming the problem.
//!
//! The renamed table must hold exactly what the same CSV loaded under the built-in's own name
//! holds (that load is checked against the brief's layout in `load_demo.rs`), cell for cell
//! apart from the load-time timestamps, with as many rows as the CSV has records.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::path::Path;

use strata_tests::grpc::dump;
use strata_tests::v1 as pb;
use strata_tests::*;

type Client = pb::strata_client::StrataClient<tonic::transport::Channel>;

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `strata load` of `csv` into `table` with extra flags.
fn load(target: &[&str], table: &str, csv: &Path, extra: &[&str]) -> Output {
    let mut v = vec!["load", "--table", table, "--csv", s(csv), "--quiet"];
    v.extend_from_slice(target);
    v.extend_from_slice(extra);
    run_strata(&v)
}

/// (row, family, qualifier, value) of every cell, in scan order (timestamps differ per load).
async fn cells(c: &mut Client, table: &str) -> Vec<(Vec<u8>, String, Vec<u8>, Vec<u8>)> {
    dump(c, table)
        .await
        .into_iter()
        .map(|(row, f, q, _, v)| (row, f, q, v))
        .collect()
}

async fn families(c: &mut Client, table: &str) -> Vec<String> {
    let d = c
        .describe_table(pb::DescribeTableRequest {
            table: table.into(),
        })
        .await
        .unwrap_or_else(|e| panic!("describe {table}: {e:?}"))
        .into_inner();
    d.families.into_iter().map(|f| f.name).collect()
}

fn records(csv: &Path) -> usize {
    csv::Reader::from_path(csv).expect("csv").records().count()
}

#[tokio::test]
async fn a_built_in_mapping_loads_under_the_pipelines_table_names() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gen_dir = dir.path().join("csv");
    let data = dir.path().join("data");
    run_strata(&[
        "gen",
        "--out",
        s(&gen_dir),
        "--scale",
        "0.001",
        "--seed",
        "3",
    ])
    .assert_success();
    let customers_csv = gen_dir.join("customer.csv");
    let clicks_csv = gen_dir.join("click_stream.csv");
    let into_dir = ["--data-dir", s(&data)];

    // Into a store: the built-in's own name, and the pipeline's with --mapping.
    load(&into_dir, "customers", &customers_csv, &[]).assert_success();
    load(
        &into_dir,
        "customer",
        &customers_csv,
        &["--mapping", "customers"],
    )
    .assert_success();
    let out = load(
        &into_dir,
        "people",
        &customers_csv,
        &["--mapping", "customerz"],
    );
    out.assert_failure();
    assert!(
        out.stderr
            .contains("\"customerz\" is not a built-in mapping"),
        "{}",
        out.stderr
    );
    let out = load(
        &into_dir,
        "people",
        &customers_csv,
        &["--mapping", "customers", "--columns", "HBASE_ROW_KEY"],
    );
    out.assert_failure();
    assert!(out.stderr.contains("--columns"), "{}", out.stderr);

    // Through a server: the pipeline's name alone picks its built-in, and --mapping loads
    // one under any name.
    let server = Server::start_on(&data, &[]).await;
    let url = server.url();
    let into_server = ["--server", url.as_str()];
    load(&into_server, "clickstream", &clicks_csv, &[]).assert_success();
    load(&into_server, "click_stream", &clicks_csv, &[]).assert_success();
    load(
        &into_server,
        "events",
        &clicks_csv,
        &["--mapping", "click_stream"],
    )
    .assert_success();

    let mut c = server.client().await;
    let mut tables = c
        .list_tables(pb::ListTablesRequest {})
        .await
        .expect("list")
        .into_inner()
        .tables;
    tables.sort();
    assert_eq!(
        tables,
        [
            "click_stream",
            "clickstream",
            "customer",
            "customers",
            "events"
        ]
    );
    for (built_in, renamed, csv) in [
        ("customers", "customer", &customers_csv),
        ("clickstream", "click_stream", &clicks_csv),
        ("clickstream", "events", &clicks_csv),
    ] {
        assert_eq!(
            families(&mut c, renamed).await,
            families(&mut c, built_in).await,
            "{renamed}"
        );
        let want = cells(&mut c, built_in).await;
        let got = cells(&mut c, renamed).await;
        assert!(!want.is_empty(), "{built_in} holds the CSV");
        assert_eq!(got, want, "{renamed} holds what {built_in} holds");
        let mut rows: Vec<&Vec<u8>> = got.iter().map(|c| &c.0).collect();
        rows.dedup();
        assert_eq!(rows.len(), records(csv), "{renamed}: a row per CSV record");
    }
}
