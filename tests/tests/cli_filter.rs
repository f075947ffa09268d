//! End-to-end tests of `--filter F` on `strata scan`, `get` and `count` against a running
//! `strata serve`: the rows and cells HBase's filter language keeps, text and JSON output,
//! and a bad filter exiting non-zero with the byte offset named.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use serde_json::Value;
use strata_tests::*;

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// `key qualifier=value ...` of each JSON row.
fn shown(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| {
            let mut s = r["key"].as_str().expect("key").to_string();
            for c in r["cells"].as_array().expect("cells") {
                s += &format!(
                    " {}:{}={}",
                    c["family"].as_str().expect("family"),
                    c["qualifier"].as_str().expect("qualifier"),
                    c["value"].as_str().expect("value")
                );
            }
            s
        })
        .collect()
}

async fn loaded() -> Server {
    let server = Server::start().await;
    server
        .cli(&["create", "t", "info", "meta"])
        .assert_success();
    for (row, col, val) in [
        ("c001", "info:name", "Ani"),
        ("c001", "meta:src", "MOBILE"),
        ("c002", "info:name", "Budi"),
        ("c002", "meta:src", "WEB"),
        ("c003", "info:name", "Citra"),
        ("d001", "meta:src", "MOBILE"),
    ] {
        server.cli(&["put", "t", row, col, val]).assert_success();
    }
    server
}

#[tokio::test]
async fn scan_get_and_count_take_a_filter() {
    let server = loaded().await;
    let mobile = "SingleColumnValueFilter('meta', 'src', =, 'binary:MOBILE', true, true)";

    let scan = |args: &[&str]| {
        let mut v = vec!["scan", "t", "--json"];
        v.extend_from_slice(args);
        shown(&json_lines(&server.cli(&v).assert_success().stdout))
    };
    assert_eq!(
        scan(&["--filter", mobile]),
        ["c001 info:name=Ani meta:src=MOBILE", "d001 meta:src=MOBILE"]
    );
    assert_eq!(
        scan(&[
            "--filter",
            "FamilyFilter(=, 'binary:info')",
            "--prefix",
            "c"
        ]),
        [
            "c001 info:name=Ani",
            "c002 info:name=Budi",
            "c003 info:name=Citra"
        ]
    );
    // --limit counts the rows the filter keeps.
    assert_eq!(
        scan(&[
            "--filter",
            "ValueFilter(=, 'regexstring:^[A-Z][a-z]')",
            "--limit",
            "2"
        ]),
        ["c001 info:name=Ani", "c002 info:name=Budi"]
    );
    let text = server.cli(&["scan", "t", "--filter", "PrefixFilter('d')"]);
    text.assert_success();
    assert!(text.stdout.contains("d001"), "{}", text.stdout);
    assert!(!text.stdout.contains("c001"), "{}", text.stdout);
    assert!(text.stdout.contains("1 row(s)"), "{}", text.stdout);

    let get = |row: &str, filter: &str| -> Value {
        let out = server.cli(&["get", "t", row, "--filter", filter, "--json"]);
        serde_json::from_str(out.assert_success().stdout.trim()).expect("JSON")
    };
    let v = get("c001", "QualifierFilter(=, 'binary:src')");
    assert_eq!(v["found"], true);
    assert_eq!(shown(&[v["row"].clone()]), ["c001 meta:src=MOBILE"]);
    let v = get("c002", mobile);
    assert_eq!(v["found"], false, "the filter drops the row: {v}");

    let count = |filter: &str| -> u64 {
        let out = server.cli(&["count", "t", "--filter", filter, "--json"]);
        let v: Value = serde_json::from_str(out.assert_success().stdout.trim()).expect("JSON");
        v["rows"].as_u64().expect("rows")
    };
    assert_eq!(count(mobile), 2);
    assert_eq!(count("RowFilter(<, 'binary:c003')"), 2);
    let out = server.cli(&[
        "count",
        "t",
        "--prefix",
        "c",
        "--filter",
        "FirstKeyOnlyFilter()",
    ]);
    out.assert_success();
    assert!(out.stdout.contains("3 row(s)"), "{}", out.stdout);
}

#[tokio::test]
async fn a_bad_filter_exits_non_zero_naming_the_offset() {
    let server = loaded().await;
    for args in [
        &["scan", "t", "--filter", "PrefixFilter('c') AND"][..],
        &["get", "t", "c001", "--filter", "PrefixFilter('c') AND"],
        &["count", "t", "--filter", "PrefixFilter('c') AND"],
    ] {
        let out = server.cli(args);
        assert!(!out.success(), "{args:?}");
        assert!(out.stderr.contains("INVALID_ARGUMENT"), "{}", out.stderr);
        assert!(
            out.stderr.contains("bad filter at byte 21"),
            "{}",
            out.stderr
        );
    }
}
