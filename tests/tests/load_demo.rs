//! End-to-end tests of `strata gen`, `strata load` and `strata demo` with the real binary:
//! the generator is deterministic; a `--data-dir` load of each built-in table gives back every
//! CSV field byte for byte through Scan and Get; rejected rows go to the rejects file with
//! line numbers and reasons; `--max-rejects` aborts without adopting anything; a load holds
//! no store a server holds; `--server` loads into a live server while another client writes,
//! and repeating it adopts nothing twice; the demo runs and counts what the CSV files hold.
//!
//! This file owns only these tests and their local helpers (the layout below is written from
//! the brief, independently of the loader's mapping, so a wrong mapping fails here). It must
//! never assert on timings.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use strata_tests::v1 as pb;
use strata_tests::*;

/// Scale of the generated data in these tests: a few rows per table (the generator's floor
/// is 10 / 10 / 10 / 150 rows).
const TINY: &str = "0.0005";

/// Cells of a row: (family, qualifier) -> value.
type Cells = BTreeMap<(String, Vec<u8>), Vec<u8>>;

fn path_str(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// Parse one JSON document, with the raw text in the panic message.
#[track_caller]
fn json(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// Run `strata gen` into `dir`.
fn generate(dir: &Path, scale: &str, seed: &str) -> Output {
    let out = run_strata(&[
        "gen",
        "--out",
        path_str(dir),
        "--scale",
        scale,
        "--seed",
        seed,
    ]);
    out.assert_success();
    out
}

/// What a table must hold after loading `csv` with `layout`: row key -> cells, with the last
/// line of a key winning. Parsed with the csv crate, independently of the loader.
fn expected_rows(layout: &Layout, csv_path: &Path) -> BTreeMap<Vec<u8>, Cells> {
    let (_, _, key_cols, families) = layout;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(csv_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", csv_path.display()));
    let header: Vec<String> = rdr
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let idx = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("column {name} missing from {header:?}"))
    };
    let mut rows = BTreeMap::new();
    for rec in rdr.byte_records() {
        let rec = rec.expect("generated CSV parses");
        assert_eq!(rec.len(), header.len(), "generated rows are complete");
        let key = key_cols
            .iter()
            .map(|c| rec.get(idx(c)).expect("field").to_vec())
            .collect::<Vec<_>>()
            .join(&b'#');
        let mut cells = Cells::new();
        for (family, quals) in *families {
            for q in *quals {
                cells.insert(
                    (family.to_string(), q.as_bytes().to_vec()),
                    rec.get(idx(q)).expect("field").to_vec(),
                );
            }
        }
        rows.insert(key, cells);
    }
    rows
}

fn cells_of(row: &pb::Row) -> Cells {
    let mut cells = Cells::new();
    for c in &row.cells {
        let old = cells.insert((c.family.clone(), c.qualifier.to_vec()), c.value.to_vec());
        assert!(old.is_none(), "one version per cell expected: {row:?}");
    }
    cells
}

/// Every row of `table` through Scan: key -> cells.
async fn table_rows(
    client: &mut pb::strata_client::StrataClient<tonic::transport::Channel>,
    table: &str,
) -> BTreeMap<Vec<u8>, Cells> {
    let (rows, _) = scan_all(
        client,
        pb::ScanRequest {
            table: table.to_owned(),
            ..Default::default()
        },
    )
    .await
    .unwrap_or_else(|s| panic!("scan {table}: {s:?}"));
    let mut out = BTreeMap::new();
    for r in &rows {
        assert!(
            out.insert(r.key.to_vec(), cells_of(r)).is_none(),
            "key twice in a scan"
        );
    }
    out
}

/// Compare a table to what the CSV says, naming the first difference.
#[track_caller]
fn assert_same_rows(table: &str, got: &BTreeMap<Vec<u8>, Cells>, want: &BTreeMap<Vec<u8>, Cells>) {
    for (key, cells) in want {
        let k = String::from_utf8_lossy(key);
        let row = got
            .get(key)
            .unwrap_or_else(|| panic!("{table}: row {k} is missing"));
        assert_eq!(row, cells, "{table}: row {k} differs from the CSV");
    }
    assert_eq!(
        got.len(),
        want.len(),
        "{table}: the table has rows the CSV does not"
    );
}

fn load_args<'a>(table: &'a str, csv: &'a str, target: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["load", "--table", table, "--csv", csv, "--json", "--quiet"];
    v.extend_from_slice(target);
    v
}

/// Files in `dir` (recursively).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn gen_is_deterministic() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    let out = generate(&a, TINY, "7");
    for f in [
        "customer.csv",
        "product.csv",
        "transactions.csv",
        "click_stream.csv",
    ] {
        assert!(out.stdout.contains(f), "{}", out.stdout);
    }
    generate(&b, TINY, "7");
    generate(&c, TINY, "8");
    let mut differs = false;
    for (_, file, _, _) in &LAYOUTS {
        let x = std::fs::read(a.join(file)).expect("generated");
        let y = std::fs::read(b.join(file)).expect("generated");
        let z = std::fs::read(c.join(file)).expect("generated");
        assert!(x.len() > 100, "{file} is nearly empty");
        assert!(x == y, "{file}: the same seed gave different bytes");
        differs |= x != z;
    }
    assert!(differs, "another seed gave the same data set");

    let v = json(
        &run_strata(&["gen", "--out", path_str(&a), "--scale", TINY, "--json"])
            .assert_success()
            .stdout,
    );
    assert_eq!(v["files"].as_array().map(Vec::len), Some(4), "{v}");
    assert!(v["rows"].as_u64().is_some_and(|r| r >= 180), "{v}");
    run_strata(&["gen", "--out", path_str(&a), "--scale", "-1"]).assert_failure();
}

#[tokio::test]
async fn data_dir_loads_give_back_every_csv_field() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let csv_dir = tmp.path().join("csv");
    let data = tmp.path().join("data");
    generate(&csv_dir, TINY, "42");
    let mut want = BTreeMap::new();
    for layout in &LAYOUTS {
        let (table, file, _, _) = layout;
        let csv = csv_dir.join(file);
        let rows = expected_rows(layout, &csv);
        let out = run_strata(&load_args(
            table,
            path_str(&csv),
            &["--data-dir", path_str(&data)],
        ));
        out.assert_success();
        let v = json(&out.stdout);
        assert_eq!(v["rows"].as_u64(), Some(rows.len() as u64), "{table}: {v}");
        assert_eq!(v["rejects"].as_u64(), Some(0), "{table}: {v}");
        let cells: usize = rows.values().map(BTreeMap::len).sum();
        assert_eq!(v["cells"].as_u64(), Some(cells as u64), "{table}: {v}");
        assert!(
            v["stored_bytes"].as_u64().is_some_and(|b| b > 0),
            "{table}: {v}"
        );
        want.insert(*table, rows);
    }
    // No staging files stay behind, and no default rejects file for a clean load.
    for f in files_under(&data) {
        let name = f.to_string_lossy();
        assert!(!name.contains("staging"), "left behind: {name}");
    }
    assert!(!csv_dir.join("customer.csv.rejects").exists());

    let server = Server::start_on(&data, &[]).await;
    let mut client = server.client().await;
    for (table, rows) in &want {
        let got = table_rows(&mut client, table).await;
        assert_same_rows(table, &got, rows);
        // Get returns the same row as the scan, for the first and the last key.
        for key in [rows.keys().next(), rows.keys().next_back()]
            .into_iter()
            .flatten()
        {
            let row = get_row(&mut client, table, key)
                .await
                .unwrap_or_else(|| panic!("{table}: Get of a loaded row found nothing"));
            assert_eq!(
                &cells_of(&row),
                &rows[key],
                "{table}: Get differs from the CSV"
            );
        }
    }
    // The clickstream key keeps every event of a session, in time order.
    let click = &want["clickstream"];
    let first = click.keys().next().expect("events");
    let session = first
        .split(|b| *b == b'#')
        .next()
        .expect("session id")
        .to_vec();
    let mut prefix = session.clone();
    prefix.push(b'#');
    let in_session = click.keys().filter(|k| k.starts_with(&prefix)).count();
    assert!(in_session >= 2, "sessions have several events");
    let (rows, _) = scan_all(
        &mut client,
        pb::ScanRequest {
            table: "clickstream".into(),
            prefix: prefix.clone().into(),
            ..Default::default()
        },
    )
    .await
    .expect("prefix scan");
    assert_eq!(rows.len(), in_session);
    let times: Vec<Vec<u8>> = rows
        .iter()
        .map(|r| cells_of(r)[&("event_details".to_string(), b"event_time".to_vec())].clone())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "events in time order"
    );

    // The CLI's get prints a quoted, comma-holding value whole.
    let (key, cells) = want["transactions"].iter().next().expect("a transaction");
    let meta = &cells[&(
        "transaction_details".to_string(),
        b"product_metadata".to_vec(),
    )];
    let out = server.cli(&[
        "get",
        "transactions",
        std::str::from_utf8(key).expect("utf8 key"),
        "--columns",
        "transaction_details:product_metadata",
    ]);
    out.assert_success();
    let meta = String::from_utf8_lossy(meta);
    assert!(meta.contains(", "), "product_metadata holds commas: {meta}");
    assert!(out.stdout.contains(meta.as_ref()), "{}", out.stdout);

    // While the server holds the store, a --data-dir load refuses with a clear message.
    let csv = csv_dir.join("product.csv");
    let out = run_strata(&load_args(
        "product",
        path_str(&csv),
        &["--data-dir", path_str(&data)],
    ));
    out.assert_failure();
    assert!(
        out.stderr.contains("held by another process") && out.stderr.contains("--server"),
        "{}",
        out.stderr
    );
}

/// A CSV with good and bad rows for `--columns` loads:
/// header `id,name,city` on line 1.
const MIXED_CSV: &str = "id,name,city\n\
1,Budi,Jakarta\n\
2,Siti\n\
3,\"Wayan, Jr.\",\"Den\npasar\"\n\
4,Ani,Bandung,extra\n\
,Nobody,Medan\n\
5,\"Dewi \"\"D\"\"\",Surabaya\n";

#[tokio::test]
async fn rejects_are_written_with_line_numbers_and_reasons() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let csv = tmp.path().join("people.csv");
    std::fs::write(&csv, MIXED_CSV).expect("write csv");
    let data = tmp.path().join("data");
    let rejects = tmp.path().join("bad.tsv");
    let out = run_strata(&load_args(
        "people",
        path_str(&csv),
        &[
            "--data-dir",
            path_str(&data),
            "--columns",
            "HBASE_ROW_KEY,info:name,info:city",
            "--rejects",
            path_str(&rejects),
        ],
    ));
    out.assert_success();
    let v = json(&out.stdout);
    assert_eq!(v["rows"].as_u64(), Some(3), "{v}");
    assert_eq!(v["rejects"].as_u64(), Some(3), "{v}");
    assert_eq!(v["rejects_file"].as_str(), Some(path_str(&rejects)), "{v}");
    let text = std::fs::read_to_string(&rejects).expect("rejects file");
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0][0], "3");
    assert!(lines[0][1].contains("expected 3 fields, found 2"), "{text}");
    assert_eq!(lines[0][2], "2,Siti");
    // Line 4 holds a record spanning two lines, so the long row is on line 6.
    assert_eq!(lines[1][0], "6");
    assert!(lines[1][1].contains("found 4"), "{text}");
    assert_eq!(lines[2][0], "7");
    assert!(lines[2][1].contains("empty row key"), "{text}");

    let server = Server::start_on(&data, &[]).await;
    let mut client = server.client().await;
    let rows = table_rows(&mut client, "people").await;
    let keys: Vec<&[u8]> = rows.keys().map(Vec::as_slice).collect();
    assert_eq!(keys, [&b"1"[..], b"3", b"5"]);
    let city = |k: &[u8]| rows[k][&("info".to_string(), b"city".to_vec())].clone();
    let name = |k: &[u8]| rows[k][&("info".to_string(), b"name".to_vec())].clone();
    assert_eq!(name(b"3"), b"Wayan, Jr.");
    assert_eq!(city(b"3"), b"Den\npasar");
    assert_eq!(name(b"5"), b"Dewi \"D\"");

    // Without --rejects the file goes beside the CSV.
    drop(server);
    let out = run_strata(&load_args(
        "people2",
        path_str(&csv),
        &[
            "--data-dir",
            path_str(&data),
            "--columns",
            "HBASE_ROW_KEY,info:name,info:city",
        ],
    ));
    out.assert_success();
    let beside = tmp.path().join("people.csv.rejects");
    assert_eq!(
        std::fs::read_to_string(&beside)
            .expect("default rejects file")
            .lines()
            .count(),
        3
    );
}

#[tokio::test]
async fn max_rejects_zero_adopts_nothing() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let good = tmp.path().join("good.csv");
    std::fs::write(&good, "id,name\n1,a\n2,b\n").expect("write");
    let columns = "HBASE_ROW_KEY,f:name";
    run_strata(&load_args(
        "t",
        path_str(&good),
        &["--data-dir", path_str(&data), "--columns", columns],
    ))
    .assert_success();
    let sst_before = files_under(&data.join("sst"));
    assert!(!sst_before.is_empty());

    let bad = tmp.path().join("bad.csv");
    std::fs::write(&bad, "id,name\n3,c\n4\n5,e\n").expect("write");
    let rejects = tmp.path().join("bad.rejects");
    let out = run_strata(&load_args(
        "t",
        path_str(&bad),
        &[
            "--data-dir",
            path_str(&data),
            "--columns",
            columns,
            "--max-rejects",
            "0",
            "--rejects",
            path_str(&rejects),
        ],
    ));
    out.assert_failure();
    assert!(
        out.stderr.contains("too many rejected rows") && out.stderr.contains("bad.rejects"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("nothing was loaded"), "{}", out.stderr);
    let text = std::fs::read_to_string(&rejects).expect("rejects file");
    assert!(text.starts_with("3\t"), "{text}");
    assert_eq!(
        files_under(&data.join("sst")),
        sst_before,
        "no file adopted"
    );
    for f in files_under(&data) {
        assert!(
            !f.to_string_lossy().contains("staging"),
            "left behind: {f:?}"
        );
    }

    // With room for the bad row the same load succeeds.
    let out = run_strata(&load_args(
        "t",
        path_str(&bad),
        &[
            "--data-dir",
            path_str(&data),
            "--columns",
            columns,
            "--max-rejects",
            "1",
        ],
    ));
    out.assert_success();

    let server = Server::start_on(&data, &[]).await;
    let mut client = server.client().await;
    let keys = scan_keys(&mut client, "t").await;
    assert_eq!(
        keys,
        [b"1".to_vec(), b"2".to_vec(), b"3".to_vec(), b"5".to_vec()]
    );
}

#[tokio::test]
async fn server_load_while_another_client_writes() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let csv_dir = tmp.path().join("csv");
    generate(&csv_dir, TINY, "3");
    let server = Server::start().await;
    let mut client = server.client().await;
    create_table(&mut client, "events", &["f"]).await;

    // A writer keeps writing into another table, and reads back from the loaded one.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let mut client = server.client().await;
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || n < 20 {
                let row = format!("w{n:06}");
                put(&mut client, "events", row.as_bytes(), "f", b"q", b"v").await;
                n += 1;
            }
            n
        })
    };
    // --staging-dir: inside the server's ingest directory (the only place it takes files).
    let staging = server.data_dir().join("ingest").join("staging");
    let layout = &LAYOUTS[2];
    let csv = csv_dir.join(layout.1);
    let url = server.url();
    let args: Vec<String> = load_args(
        "transactions",
        path_str(&csv),
        &["--server", &url, "--staging-dir", path_str(&staging)],
    )
    .into_iter()
    .map(str::to_owned)
    .collect();
    let run = move || run_strata(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let out = tokio::task::spawn_blocking(run.clone())
        .await
        .expect("load thread");
    out.assert_success();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.await.expect("writer");
    let v = json(&out.stdout);
    let want = expected_rows(layout, &csv);
    assert_eq!(v["rows"].as_u64(), Some(want.len() as u64), "{v}");
    assert_same_rows(
        "transactions",
        &table_rows(&mut client, "transactions").await,
        &want,
    );
    let events = scan_keys(&mut client, "events").await;
    assert_eq!(
        events.len(),
        written as usize,
        "every acknowledged write is there"
    );
    assert!(
        files_under(&staging).is_empty(),
        "staging files left: {:?}",
        files_under(&staging)
    );

    // The identical load again: same ingest id, nothing adopted twice.
    let describe = |mut c: pb::strata_client::StrataClient<tonic::transport::Channel>| async move {
        c.describe_table(pb::DescribeTableRequest {
            table: "transactions".into(),
        })
        .await
        .expect("describe")
        .into_inner()
        .stats
        .expect("stats")
        .files
    };
    let files = describe(client.clone()).await;
    let again = tokio::task::spawn_blocking(run).await.expect("load thread");
    again.assert_success();
    assert_eq!(json(&again.stdout)["ingest_id"], v["ingest_id"]);
    assert_eq!(
        describe(client.clone()).await,
        files,
        "a repeated load adopted files"
    );

    // A server that is not there: a clear failure.
    let out = run_strata(&load_args(
        "transactions",
        path_str(&csv),
        &["--server", &format!("http://{}", free_addr())],
    ));
    out.assert_failure();
    assert!(out.stderr.contains("cannot connect"), "{}", out.stderr);
    // Exactly one of --data-dir and --server.
    run_strata(&load_args("transactions", path_str(&csv), &[])).assert_failure();
    run_strata(&load_args(
        "transactions",
        path_str(&csv),
        &["--server", &url, "--data-dir", path_str(tmp.path())],
    ))
    .assert_failure();
}

#[test]
fn demo_runs_and_counts_what_the_csv_holds() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("demo");
    let out = run_strata(&["demo", "--scale", TINY, "--dir", path_str(&dir)]);
    out.assert_success();
    let text = &out.stdout;
    for heading in [
        "Customers by gender",
        "Customers by device type",
        "Customers by age band",
        "Products by master category",
        "Products by sub category",
        "Products by usage",
        "Click events by traffic source",
        "Click events by event name",
        "Transactions by payment method",
        "Transactions by year",
        "Row counts",
        "stream clickstream",
        "load transactions",
        "thrift gateway (HBase Thrift1, for happybase) on 127.0.0.1:",
    ] {
        assert!(text.contains(heading), "missing {heading:?}:\n{text}");
    }
    for (table, file, _, _) in &LAYOUTS {
        let csv_rows = csv::Reader::from_path(dir.join(file))
            .expect("generated CSV")
            .byte_records()
            .count();
        assert!(csv_rows > 0);
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(table))
            .unwrap_or_else(|| panic!("no row count line for {table}:\n{text}"));
        let numbers: Vec<u64> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        assert_eq!(
            numbers, [csv_rows as u64; 3],
            "{table}: CSV rows, loaded, in table: {line}"
        );
    }
    // Event names add up to the click events.
    let clicks = csv::Reader::from_path(dir.join("click_stream.csv"))
        .expect("generated CSV")
        .byte_records()
        .count();
    assert!(
        text.contains(&format!("Click events by event name ({clicks} rows)")),
        "{text}"
    );
    // The store stays in DIR/data; a second demo there refuses to mix into it.
    assert!(dir.join("data").join("MANIFEST").exists());
    let again = run_strata(&["demo", "--scale", TINY, "--dir", path_str(&dir)]);
    again.assert_failure();
    assert!(again.stderr.contains("not empty"), "{}", again.stderr);
}

#[tokio::test]
async fn sigkill_during_a_load_leaves_the_table_as_it_was() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (small, big) = (tmp.path().join("small"), tmp.path().join("big"));
    let data = tmp.path().join("data");
    generate(&small, TINY, "5");
    generate(&big, "0.01", "6");
    let layout = &LAYOUTS[3];
    let small_csv = small.join(layout.1);
    run_strata(&load_args(
        "clickstream",
        path_str(&small_csv),
        &["--data-dir", path_str(&data)],
    ))
    .assert_success();

    // Start a large load and kill it once it is building files in its staging directory.
    let big_csv = big.join(layout.1);
    let mut child = std::process::Command::new(strata_bin())
        .args(load_args(
            "clickstream",
            path_str(&big_csv),
            &["--data-dir", path_str(&data)],
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn strata load");
    let staging = data.join("ingest").join(format!("staging-{}", child.id()));
    let deadline = std::time::Instant::now() + CLI_TIMEOUT;
    while !staging.exists() {
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "the load ended before it was killed"
        );
        assert!(std::time::Instant::now() < deadline, "no staging directory");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");

    // The next load sweeps the dead load's staging directory.
    let product = small.join("product.csv");
    run_strata(&load_args(
        "product",
        path_str(&product),
        &["--data-dir", path_str(&data)],
    ))
    .assert_success();
    assert!(!staging.exists(), "the killed load's staging dir stayed");

    let server = Server::start_on(&data, &[]).await;
    let mut client = server.client().await;
    assert_same_rows(
        "clickstream",
        &table_rows(&mut client, "clickstream").await,
        &expected_rows(layout, &small_csv),
    );
}
