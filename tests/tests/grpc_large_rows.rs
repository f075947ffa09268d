//! Rows larger than one reply against the real `strata serve` (review item M4): every row that
//! was written can be read. Scan sends such a row in parts (`Row.partial` on every part but
//! the last) and never aborts at it; resuming after a key never re-reads a row whose last part
//! was received; Get of such a row is RESOURCE_EXHAUSTED naming the row, its size and Scan.

use strata_tests::v1 as pb;
use strata_tests::*;
use tonic::Code;

const MIB: usize = 1 << 20;

/// The parts of a scan from `start` (inclusive unless `exclusive`) to the end, as (key, cells,
/// partial), and the values of row `wide` joined in order.
async fn scan_parts(
    c: &mut strata_proto::v1::strata_client::StrataClient<tonic::transport::Channel>,
    start: &[u8],
    exclusive: bool,
) -> Vec<(String, usize, bool)> {
    let (rows, _) = scan_all(
        c,
        pb::ScanRequest {
            table: "t".into(),
            start_row: start.to_vec().into(),
            start_row_exclusive: exclusive,
            ..Default::default()
        },
    )
    .await
    .unwrap_or_else(|s| panic!("the scan must not abort at a large row: {s:?}"));
    rows.iter()
        .map(|r| {
            (
                String::from_utf8_lossy(&r.key).into_owned(),
                r.cells.len(),
                r.partial,
            )
        })
        .collect()
}

fn wide_parts(n: usize) -> Vec<(String, usize, bool)> {
    (0..n).map(|i| ("wide".to_string(), 1, i + 1 < n)).collect()
}

#[tokio::test]
async fn a_row_of_nine_8mib_values_is_scanned_in_parts_and_get_names_it() {
    let server = Server::start().await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f"]).await;
    put(&mut c, "t", b"a", "f", b"q", b"small").await;
    put(&mut c, "t", b"z", "f", b"q", b"small").await;
    // The review's repro: nine accepted Mutates of 8 MiB values into one row, 72 MiB in all,
    // above the 64 MiB message limit.
    for i in 0..9u8 {
        let value = vec![b'0' + i; 8 * MIB];
        put(
            &mut c,
            "t",
            b"wide",
            "f",
            format!("q{i}").as_bytes(),
            &value,
        )
        .await;
    }

    // Get: RESOURCE_EXHAUSTED naming the row, its size and Scan (was OUT_OF_RANGE from
    // tonic's encoder).
    let e = c
        .get(pb::GetRequest {
            table: "t".into(),
            row: b"wide".to_vec().into(),
            ..Default::default()
        })
        .await
        .expect_err("a 72 MiB row cannot be one reply");
    assert_status(
        &e,
        Code::ResourceExhausted,
        &["row wide", "table t", "7549", "max_message_bytes", "Scan"],
    );
    // Other rows are still read with Get.
    assert!(get_row(&mut c, "t", b"a").await.is_some());

    // A whole-table scan goes through: the wide row comes in nine parts of one cell each
    // (each value is above scan_batch_bytes), the last not partial.
    let mut want = vec![("a".to_string(), 1, false)];
    want.extend(wide_parts(9));
    want.push(("z".to_string(), 1, false));
    assert_eq!(scan_parts(&mut c, b"", false).await, want);

    // The cells come in order with their values intact.
    let (rows, _) = scan_all(
        &mut c,
        pb::ScanRequest {
            table: "t".into(),
            prefix: b"wide".to_vec().into(),
            ..Default::default()
        },
    )
    .await
    .expect("scan");
    let cells: Vec<(Vec<u8>, usize, u8)> = rows
        .iter()
        .flat_map(|r| &r.cells)
        .map(|c| (c.qualifier.to_vec(), c.value.len(), c.value[0]))
        .collect();
    let expected: Vec<(Vec<u8>, usize, u8)> = (0..9u8)
        .map(|i| (format!("q{i}").into_bytes(), 8 * MIB, b'0' + i))
        .collect();
    assert_eq!(cells, expected);

    // Resuming after the wide row (its last part was received) never re-reads it.
    assert_eq!(
        scan_parts(&mut c, b"wide", true).await,
        [("z".to_string(), 1, false)]
    );
    // A client that got only some parts resumes at the row, inclusive: it comes again whole.
    let mut again = wide_parts(9);
    again.push(("z".to_string(), 1, false));
    assert_eq!(scan_parts(&mut c, b"wide", false).await, again);
}

#[tokio::test]
async fn parts_follow_scan_batch_bytes_and_rows_around_them_share_replies() {
    // 64 KiB replies; a row of five 20 KiB cells (100 KiB) needs two parts.
    let server = Server::start_with_args(&["--scan-batch-bytes", "64KiB"]).await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f"]).await;
    for i in 0..5u8 {
        put(
            &mut c,
            "t",
            b"m",
            "f",
            &[b'q', b'0' + i],
            &vec![i; 20 * 1024],
        )
        .await;
    }
    for k in [b"a", b"b", b"y", b"z"] {
        put(&mut c, "t", k, "f", b"q", b"v").await;
    }
    let (rows, replies) = scan_all(
        &mut c,
        pb::ScanRequest {
            table: "t".into(),
            ..Default::default()
        },
    )
    .await
    .expect("scan");
    let shape: Vec<(String, usize, bool)> = rows
        .iter()
        .map(|r| {
            (
                String::from_utf8_lossy(&r.key).into_owned(),
                r.cells.len(),
                r.partial,
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("a".to_string(), 1, false),
            ("b".to_string(), 1, false),
            // m does not fit the room a and b left, nor a reply of its own: the next reply
            // holds as many of its cells as fit (three of 20 KiB), the one after the rest,
            // then the rows after it.
            ("m".to_string(), 3, true),
            ("m".to_string(), 2, false),
            ("y".to_string(), 1, false),
            ("z".to_string(), 1, false),
        ]
    );
    assert_eq!(replies, 3);

    // The CLI joins the parts: one row, every cell.
    let out = server.cli(&["scan", "t", "--json"]);
    out.assert_success();
    let lines: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON row per line"))
        .collect();
    assert_eq!(lines.len(), 5, "{} rows", lines.len());
    let m = &lines[2];
    assert_eq!(m["key"], "m");
    assert_eq!(m["cells"].as_array().map(Vec::len), Some(5), "{m}");
}
