//! End-to-end tests of the `strata` client subcommands against a running `strata serve`:
//! tables, create (with family options), describe, alter, put, get (--columns, --versions),
//! scan (--prefix/--start/--stop/--limit/--columns), count, delete (row, family, column),
//! flush, compact, drop; `--json` output parses as JSON; non-UTF-8 keys and values print
//! escaped; errors exit non-zero with a message naming the problem.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use serde_json::Value;
use strata_tests::v1 as pb;
use strata_tests::*;

/// Parse one JSON document, with the raw text in the panic message.
#[track_caller]
fn json(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// Parse JSON lines (scan --json: one object per row).
#[track_caller]
fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn row_keys(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| r["key"].as_str().expect("key is a string").to_owned())
        .collect()
}

#[tokio::test]
async fn tables_create_describe_alter_drop() {
    let server = Server::start().await;

    let out = server.cli(&["tables"]);
    out.assert_success();
    assert!(out.stdout.contains("0 row(s)"), "{}", out.stdout);
    let v = json(&server.cli(&["tables", "--json"]).assert_success().stdout);
    assert_eq!(v["tables"], serde_json::json!([]));

    let out = server.cli(&[
        "create",
        "customers",
        "personal_info:versions=3,ttl=1d,compression=none,bloom=off,blocksize=16KiB",
        "device_info",
        "location_info:compression=zstd,level=7",
    ]);
    out.assert_success();
    assert!(out.stdout.contains("customers"), "{}", out.stdout);
    server
        .cli(&["create", "product", "product_info"])
        .assert_success();

    let out = server.cli(&["tables"]);
    out.assert_success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines.contains(&"customers") && lines.contains(&"product"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("2 row(s)"), "{}", out.stdout);
    let v = json(&server.cli(&["tables", "--json"]).assert_success().stdout);
    assert_eq!(v["tables"], serde_json::json!(["customers", "product"]));

    // describe as text names every family and its options.
    let out = server.cli(&["describe", "customers"]);
    out.assert_success();
    for needle in [
        "customers",
        "personal_info",
        "device_info",
        "location_info",
        "zstd:7",
    ] {
        assert!(
            out.stdout.contains(needle),
            "missing {needle}:\n{}",
            out.stdout
        );
    }
    // describe --json: the options as the server applied them.
    let v = json(
        &server
            .cli(&["describe", "customers", "--json"])
            .assert_success()
            .stdout,
    );
    assert_eq!(v["table"], "customers");
    let fams = v["families"].as_array().expect("families");
    let by_name = |n: &str| {
        fams.iter()
            .find(|f| f["name"] == n)
            .unwrap_or_else(|| panic!("no family {n} in {v}"))
            .clone()
    };
    let p = by_name("personal_info");
    assert_eq!(p["max_versions"], 3);
    assert_eq!(p["ttl_seconds"], 86_400);
    assert_eq!(p["compression"], "none");
    assert_eq!(p["bloom_filter"], false);
    assert_eq!(p["block_size"], 16_384);
    let d = by_name("device_info");
    assert_eq!(d["max_versions"], 1);
    assert_eq!(d["compression"], "zstd");
    assert_eq!(d["compression_level"], 3);
    assert_eq!(d["bloom_filter"], true);
    assert_eq!(d["block_size"], 65_536);
    assert_eq!(by_name("location_info")["compression_level"], 7);
    assert!(v["stats"]["files"].is_u64(), "stats present: {v}");

    // alter: add, drop, modify (only the options given change).
    let out = server.cli(&[
        "alter",
        "customers",
        "--add",
        "join_info:versions=2",
        "--drop",
        "location_info",
        "--modify",
        "personal_info:versions=5",
        "--json",
    ]);
    out.assert_success();
    let v = json(&out.stdout);
    let names: Vec<&str> = v["families"]
        .as_array()
        .expect("families")
        .iter()
        .map(|f| f["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["device_info", "join_info", "personal_info"]);
    let v = json(
        &server
            .cli(&["describe", "customers", "--json"])
            .assert_success()
            .stdout,
    );
    let p = v["families"]
        .as_array()
        .expect("families")
        .iter()
        .find(|f| f["name"] == "personal_info")
        .expect("personal_info")
        .clone();
    assert_eq!(p["max_versions"], 5);
    assert_eq!(
        p["ttl_seconds"], 86_400,
        "--modify keeps the options not given"
    );
    assert_eq!(p["compression"], "none");

    // drop.
    server.cli(&["drop", "product"]).assert_success();
    let v = json(&server.cli(&["tables", "--json"]).assert_success().stdout);
    assert_eq!(v["tables"], serde_json::json!(["customers"]));

    // create errors: an existing table, a bad option, a bad name.
    let out = server.cli(&["create", "customers", "x"]);
    out.assert_failure();
    assert!(out.stderr.contains("ALREADY_EXISTS"), "{}", out.stderr);
    let out = server.cli(&["create", "t2", "f:colour=red"]);
    out.assert_failure();
    assert!(out.stderr.contains("colour"), "{}", out.stderr);
    let out = server.cli(&["create", "bad name", "f"]);
    out.assert_failure();
    assert!(
        out.stderr.contains("INVALID_ARGUMENT") && out.stderr.contains("bad name"),
        "{}",
        out.stderr
    );
    let out = server.cli(&["drop", "nope"]);
    out.assert_failure();
    assert!(
        out.stderr.contains("NOT_FOUND") && out.stderr.contains("nope"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn put_get_scan_count_delete_flush_compact() {
    let server = Server::start().await;
    server
        .cli(&["create", "t", "info:versions=3", "meta"])
        .assert_success();

    for (row, col, val) in [
        ("c001", "info:name", "Ani"),
        ("c001", "info:city", "Jakarta, Indonesia"),
        ("c001", "meta:src", "MOBILE"),
        ("c002", "info:name", "Budi"),
        ("c003", "info:name", "Citra"),
        ("d001", "info:name", "Dewi"),
        ("d002", "meta:src", "WEB"),
    ] {
        let out = server.cli(&["put", "t", row, col, val]);
        out.assert_success();
        assert!(out.stdout.contains("1 row(s)"), "{}", out.stdout);
    }
    let v = json(
        &server
            .cli(&["put", "t", "e001", "info:name", "Eka", "--json"])
            .assert_success()
            .stdout,
    );
    assert_eq!(
        (v["rows"].as_u64(), v["cells"].as_u64()),
        (Some(1), Some(1))
    );

    // get: text shows every column; --json has the cells in order.
    let out = server.cli(&["get", "t", "c001"]);
    out.assert_success();
    for needle in [
        "info:name",
        "Ani",
        "info:city",
        "Jakarta, Indonesia",
        "meta:src",
        "MOBILE",
        "1 row(s)",
    ] {
        assert!(
            out.stdout.contains(needle),
            "missing {needle}:\n{}",
            out.stdout
        );
    }
    let v = json(
        &server
            .cli(&["get", "t", "c001", "--json"])
            .assert_success()
            .stdout,
    );
    assert_eq!(v["found"], true);
    assert_eq!(v["row"]["key"], "c001");
    let cols: Vec<(String, String)> = v["row"]["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .map(|c| {
            (
                format!(
                    "{}:{}",
                    c["family"].as_str().expect("family"),
                    c["qualifier"].as_str().expect("q")
                ),
                c["value"].as_str().expect("value").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        cols,
        [
            ("info:city".to_owned(), "Jakarta, Indonesia".to_owned()),
            ("info:name".to_owned(), "Ani".to_owned()),
            ("meta:src".to_owned(), "MOBILE".to_owned()),
        ]
    );
    assert!(
        v["row"]["cells"][0]["timestamp_micros"]
            .as_i64()
            .expect("ts")
            > 0
    );

    // get --columns: one column, or one family.
    let v = json(
        &server
            .cli(&["get", "t", "c001", "--columns", "info:name", "--json"])
            .assert_success()
            .stdout,
    );
    let cells = v["row"]["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 1);
    assert_eq!(cells[0]["value"], "Ani");
    let v = json(
        &server
            .cli(&["get", "t", "c001", "--columns", "meta", "--json"])
            .assert_success()
            .stdout,
    );
    let cells = v["row"]["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 1);
    assert_eq!(cells[0]["family"], "meta");
    let v = json(
        &server
            .cli(&["get", "t", "c001", "--columns", "info:name,meta", "--json"])
            .assert_success()
            .stdout,
    );
    assert_eq!(v["row"]["cells"].as_array().expect("cells").len(), 2);

    // get --versions with explicit timestamps.
    for (ts, val) in [("1000", "v1"), ("2000", "v2"), ("3000", "v3")] {
        server
            .cli(&["put", "t", "ver", "info:q", val, "--timestamp", ts])
            .assert_success();
    }
    let v = json(
        &server
            .cli(&["get", "t", "ver", "--versions", "2", "--json"])
            .assert_success()
            .stdout,
    );
    let vals: Vec<(&str, i64)> = v["row"]["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .map(|c| {
            (
                c["value"].as_str().expect("v"),
                c["timestamp_micros"].as_i64().expect("ts"),
            )
        })
        .collect();
    assert_eq!(vals, [("v3", 3000), ("v2", 2000)]);
    let out = server.cli(&["get", "t", "ver", "--versions", "3"]);
    out.assert_success();
    assert!(
        out.stdout.contains("v1") && out.stdout.contains("v3"),
        "{}",
        out.stdout
    );
    let out = server.cli(&["get", "t", "ver"]);
    assert!(
        out.stdout.contains("v3") && !out.stdout.contains("v2"),
        "{}",
        out.stdout
    );

    // A missing row: success, not found.
    let out = server.cli(&["get", "t", "nobody"]);
    out.assert_success();
    assert!(out.stdout.contains("0 row(s)"), "{}", out.stdout);
    let v = json(
        &server
            .cli(&["get", "t", "nobody", "--json"])
            .assert_success()
            .stdout,
    );
    assert_eq!(v["found"], false);

    // scan: all, --prefix, --start/--stop, --reverse, --limit, --columns; text and JSON lines.
    let out = server.cli(&["scan", "t"]);
    out.assert_success();
    assert!(out.stdout.contains("7 row(s)"), "{}", out.stdout);
    assert!(
        out.stdout.contains("column=info:city") && out.stdout.contains("value=Jakarta, Indonesia"),
        "{}",
        out.stdout
    );
    let rows = json_lines(&server.cli(&["scan", "t", "--json"]).assert_success().stdout);
    assert_eq!(
        row_keys(&rows),
        ["c001", "c002", "c003", "d001", "d002", "e001", "ver"]
    );
    let rows = json_lines(
        &server
            .cli(&["scan", "t", "--prefix", "c", "--json"])
            .assert_success()
            .stdout,
    );
    assert_eq!(row_keys(&rows), ["c001", "c002", "c003"]);
    let rows = json_lines(
        &server
            .cli(&["scan", "t", "--start", "c002", "--stop", "d002", "--json"])
            .assert_success()
            .stdout,
    );
    assert_eq!(row_keys(&rows), ["c002", "c003", "d001"]);
    // --reverse: from --start (inclusive, the high end) down to --stop (exclusive).
    let rows = json_lines(
        &server
            .cli(&[
                "scan",
                "t",
                "--reverse",
                "--start",
                "d001",
                "--stop",
                "c001",
                "--json",
            ])
            .assert_success()
            .stdout,
    );
    assert_eq!(row_keys(&rows), ["d001", "c003", "c002"]);
    let rows = json_lines(
        &server
            .cli(&[
                "scan",
                "t",
                "--reverse",
                "--prefix",
                "c",
                "--limit",
                "2",
                "--json",
            ])
            .assert_success()
            .stdout,
    );
    assert_eq!(row_keys(&rows), ["c003", "c002"]);
    let rows = json_lines(
        &server
            .cli(&[
                "scan",
                "t",
                "--start",
                "c002",
                "--start-exclusive",
                "--limit",
                "2",
                "--json",
            ])
            .assert_success()
            .stdout,
    );
    assert_eq!(row_keys(&rows), ["c003", "d001"]);
    let rows = json_lines(
        &server
            .cli(&["scan", "t", "--limit", "2", "--json"])
            .assert_success()
            .stdout,
    );
    assert_eq!(row_keys(&rows), ["c001", "c002"]);
    let out = server.cli(&["scan", "t", "--prefix", "d", "--limit", "1"]);
    out.assert_success();
    assert!(
        out.stdout.contains("1 row(s)") && out.stdout.contains("d001"),
        "{}",
        out.stdout
    );
    let rows = json_lines(
        &server
            .cli(&["scan", "t", "--columns", "meta", "--json"])
            .assert_success()
            .stdout,
    );
    assert_eq!(row_keys(&rows), ["c001", "d002"]);

    // count.
    let out = server.cli(&["count", "t"]);
    out.assert_success();
    assert!(out.stdout.contains("7 row(s)"), "{}", out.stdout);
    let v = json(
        &server
            .cli(&["count", "t", "--prefix", "c", "--json"])
            .assert_success()
            .stdout,
    );
    assert_eq!(v["rows"], 3);

    // delete: a column, a family, a row.
    server
        .cli(&["delete", "t", "c001", "info:city"])
        .assert_success();
    let v = json(
        &server
            .cli(&["get", "t", "c001", "--json"])
            .assert_success()
            .stdout,
    );
    assert_eq!(v["row"]["cells"].as_array().expect("cells").len(), 2);
    server
        .cli(&["delete", "t", "c001", "meta"])
        .assert_success();
    let v = json(
        &server
            .cli(&["get", "t", "c001", "--json"])
            .assert_success()
            .stdout,
    );
    let cells = v["row"]["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 1);
    assert_eq!(cells[0]["qualifier"], "name");
    server.cli(&["delete", "t", "c002"]).assert_success();
    let v = json(
        &server
            .cli(&["count", "t", "--json"])
            .assert_success()
            .stdout,
    );
    assert_eq!(v["rows"], 6);
    // delete one version of a column.
    server
        .cli(&["delete", "t", "ver", "info:q", "--timestamp", "3000"])
        .assert_success();
    let v = json(
        &server
            .cli(&["get", "t", "ver", "--json"])
            .assert_success()
            .stdout,
    );
    assert_eq!(v["row"]["cells"][0]["value"], "v2");

    // flush and compact keep the data.
    let out = server.cli(&["flush", "t"]);
    out.assert_success();
    let v = json(
        &server
            .cli(&["flush", "t", "--json"])
            .assert_success()
            .stdout,
    );
    assert_eq!(v["flushed"], "t");
    let out = server.cli(&["compact", "t", "--major"]);
    out.assert_success();
    assert!(out.stdout.contains("major"), "{}", out.stdout);
    let v = json(
        &server
            .cli(&["compact", "t", "--json"])
            .assert_success()
            .stdout,
    );
    assert_eq!(v["compacted"], "t");
    let v = json(
        &server
            .cli(&["describe", "t", "--json"])
            .assert_success()
            .stdout,
    );
    assert!(v["stats"]["files"].as_u64().expect("files") >= 1, "{v}");
    let rows = json_lines(&server.cli(&["scan", "t", "--json"]).assert_success().stdout);
    assert_eq!(
        row_keys(&rows),
        ["c001", "c003", "d001", "d002", "e001", "ver"]
    );
    let v = json(
        &server
            .cli(&["get", "t", "ver", "--versions", "3", "--json"])
            .assert_success()
            .stdout,
    );
    let vals: Vec<&str> = v["row"]["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .map(|c| c["value"].as_str().expect("v"))
        .collect();
    assert_eq!(
        vals,
        ["v2", "v1"],
        "compaction does not resurrect the deleted version"
    );
}

#[tokio::test]
async fn non_utf8_keys_and_values_print_escaped() {
    let server = Server::start().await;
    server.cli(&["create", "bin", "f"]).assert_success();

    // Written by another client through gRPC: raw bytes.
    let mut c = server.client().await;
    c.mutate(pb::MutateRequest {
        table: "bin".into(),
        row: vec![b'k', 0xff, 0x00].into(),
        mutations: vec![set("f", &[b'q', 0x80], &[b'a', 0xfe, 0x01, b'z'], 0)],
    })
    .await
    .expect("binary put");
    let out = server.cli(&["scan", "bin"]);
    out.assert_success();
    assert!(
        out.stdout.contains(r"k\xFF\x00"),
        "escaped key:\n{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(r"a\xFE\x01z"),
        "escaped value:\n{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(r"f:q\x80"),
        "escaped qualifier:\n{}",
        out.stdout
    );
    let rows = json_lines(
        &server
            .cli(&["scan", "bin", "--json"])
            .assert_success()
            .stdout,
    );
    assert_eq!(rows[0]["key"], r"k\xFF\x00");
    assert_eq!(rows[0]["cells"][0]["value"], r"a\xFE\x01z");

    // The escapes read back on the command line reach the same row.
    let out = server.cli(&["get", "bin", r"k\xff\x00"]);
    out.assert_success();
    assert!(out.stdout.contains(r"a\xFE\x01z"), "{}", out.stdout);

    // Written through the CLI with escapes: stored as raw bytes.
    server
        .cli(&["put", "bin", r"row\x01", r"f:\xC3", r"v\xff\\end"])
        .assert_success();
    let r = get_row(&mut c, "bin", b"row\x01").await.expect("found");
    assert_eq!(r.cells[0].qualifier, &[0xc3][..]);
    assert_eq!(r.cells[0].value, &b"v\xff\\end"[..]);
    let v = json(
        &server
            .cli(&["get", "bin", r"row\x01", "--json"])
            .assert_success()
            .stdout,
    );
    assert_eq!(
        v["row"]["key"], "row\u{1}",
        "valid UTF-8 is kept as text in JSON"
    );
    assert_eq!(v["row"]["cells"][0]["value"], r"v\xFF\x5Cend");

    // Valid UTF-8 prints as text, not escaped.
    server
        .cli(&["put", "bin", "kota", "f:nama", "Surabaya é ü"])
        .assert_success();
    let out = server.cli(&["get", "bin", "kota"]);
    assert!(out.stdout.contains("Surabaya é ü"), "{}", out.stdout);
}

#[tokio::test]
async fn errors_exit_non_zero_with_a_message() {
    let server = Server::start().await;
    server.cli(&["create", "t", "f"]).assert_success();

    let cases: &[(&[&str], &[&str])] = &[
        (&["get", "nope", "r"], &["NOT_FOUND", "nope"]),
        (&["scan", "nope"], &["NOT_FOUND", "nope"]),
        (&["count", "nope"], &["NOT_FOUND", "nope"]),
        (&["describe", "nope"], &["NOT_FOUND", "nope"]),
        (&["flush", "nope"], &["NOT_FOUND", "nope"]),
        (&["compact", "nope"], &["NOT_FOUND", "nope"]),
        (&["put", "t", "r", "zz:q", "v"], &["NOT_FOUND", "zz"]),
        (&["put", "t", "r", "no-qualifier", "v"], &["no-qualifier"]),
        (&["get", "t", "r", "--columns", "zz"], &["NOT_FOUND", "zz"]),
        (&["delete", "t", "r", "zz"], &["NOT_FOUND", "zz"]),
        (
            &["put", "t", "", "f:q", "v"],
            &["INVALID_ARGUMENT", "row key"],
        ),
        (&["alter", "t"], &["nothing to do"]),
        (&["alter", "t", "--modify", "zz:versions=2"], &["zz"]),
    ];
    for (args, needles) in cases {
        let out = server.cli(args);
        out.assert_failure();
        for n in *needles {
            assert!(
                out.stderr.contains(n),
                "strata {args:?}: stderr should name {n:?}:\n{}",
                out.stderr
            );
        }
    }
    // Usage errors (clap) exit non-zero too.
    run_strata(&["get", "t"]).assert_failure();
    run_strata(&["frobnicate"]).assert_failure();

    // No server listening: a clear connection error naming the URL.
    let url = format!("http://{}", free_addr());
    let out = run_strata(&["tables", "--server", &url]);
    out.assert_failure();
    assert!(
        out.stderr.contains(&url),
        "names the server URL:\n{}",
        out.stderr
    );
    let out = run_strata(&["tables", "--server", "not a url"]);
    out.assert_failure();

    // The table is unchanged by all of the above.
    let v = json(
        &server
            .cli(&["count", "t", "--json"])
            .assert_success()
            .stdout,
    );
    assert_eq!(v["rows"], 0);
}

#[tokio::test]
async fn serve_help_and_config_file() {
    // --help lists every setting with its default.
    let out = run_strata(&["serve", "--help"]);
    out.assert_success();
    for flag in [
        "--data-dir",
        "--listen",
        "--sync",
        "--config",
        "--memtable-bytes",
        "--block-cache-bytes",
        "--max-row-key-bytes",
        "--max-value-bytes",
        "--max-message-bytes",
        "--scan-idle-timeout",
    ] {
        assert!(
            out.stdout.contains(flag),
            "--help lacks {flag}:\n{}",
            out.stdout
        );
    }
    for default in ["127.0.0.1:50051", "group", "4KiB", "8MiB", "64MiB"] {
        assert!(
            out.stdout.contains(default),
            "--help lacks the default {default}:\n{}",
            out.stdout
        );
    }

    // Settings from a TOML file; the flags the helper passes (--data-dir, --listen) win over
    // the file's.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("strata.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:1\"\nsync = \"always\"\nmax_value_bytes = \"64KiB\"\n\
         max_row_key_bytes = \"1KiB\"\nmax_qualifier_bytes = \"1KiB\"\n\
         max_message_bytes = \"256KiB\"\n",
    )
    .expect("write config");
    let config_arg = config.to_string_lossy().into_owned();
    let server = Server::start_with_args(&["--config", &config_arg]).await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f"]).await;
    put(&mut c, "t", b"r", "f", b"q", &[1u8; 64 * 1024]).await;
    let e = c
        .mutate(pb::MutateRequest {
            table: "t".into(),
            row: b"r".to_vec().into(),
            mutations: vec![set("f", b"q", &[1u8; 64 * 1024 + 1], 0)],
        })
        .await
        .expect_err("the file's value limit applies");
    assert_status(&e, tonic::Code::InvalidArgument, &["value"]);
    let e = c
        .mutate(pb::MutateRequest {
            table: "t".into(),
            row: vec![b'k'; 1025].into(),
            mutations: vec![set("f", b"q", b"v", 0)],
        })
        .await
        .expect_err("the file's key limit applies");
    assert_status(&e, tonic::Code::InvalidArgument, &["row key"]);
    drop(server);

    // A bad setting in the file, an unknown one, and a message limit below the value limit:
    // serve exits non-zero naming the problem.
    let data = dir.path().join("data");
    let data_arg = data.to_string_lossy().into_owned();
    let listen = free_addr().to_string();
    for (text, needle) in [
        ("sync = \"sometimes\"\n", "sometimes"),
        ("memtable_size = 5\n", "memtable_size"),
        (
            "max_value_bytes = \"8MiB\"\nmax_message_bytes = \"1MiB\"\n",
            "max_message_bytes",
        ),
    ] {
        std::fs::write(&config, text).expect("write config");
        let out = run_strata(&[
            "serve",
            "--data-dir",
            &data_arg,
            "--listen",
            &listen,
            "--config",
            &config_arg,
        ]);
        out.assert_failure();
        assert!(
            out.stderr.contains(needle),
            "config {text:?}: stderr should name {needle:?}:\n{}",
            out.stderr
        );
    }
    let out = run_strata(&["serve", "--listen", &listen]);
    out.assert_failure();
    assert!(out.stderr.contains("data"), "{}", out.stderr);
}
