//! End-to-end tests of the MultiGet RPC against the real `strata serve`: rows in request order
//! (`found = false` for a missing row and for one the filter drops), the columns, versions and
//! time range of a Get applied to every row, the filter run on each row afresh; and its bounds
//! with their codes: more rows than `--max-rows-per-multiget` INVALID_ARGUMENT, a reply past
//! `--max-message-bytes` RESOURCE_EXHAUSTED naming the row (alone too large, or where the
//! reply passed the limit), a bad filter, key or table.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use strata_tests::v1 as pb;
use strata_tests::*;
use tonic::Code;

type Client = pb::strata_client::StrataClient<tonic::transport::Channel>;

/// Small limits so a few rows reach them: 4 rows per call; a 200 KiB message (the least a
/// 100 KiB value allows).
const FLAGS: &[&str] = &[
    "--max-rows-per-multiget",
    "4",
    "--max-value-bytes",
    "100KiB",
    "--max-message-bytes",
    "200KiB",
];

const BIG: usize = 90 * 1024;

async fn load(c: &mut Client) {
    c.create_table(pb::CreateTableRequest {
        table: "t".into(),
        families: vec![
            pb::FamilyOptions {
                name: "a".into(),
                max_versions: 3,
                ..Default::default()
            },
            family("b"),
        ],
    })
    .await
    .expect("create");
    let big = vec![b'x'; BIG];
    let cells: &[(&str, &str, &str, i64, &[u8])] = &[
        ("r1", "a", "x", 10, b"old"),
        ("r1", "a", "x", 20, b"new"),
        ("r1", "b", "z", 20, b"WEB"),
        ("r2", "a", "x", 20, b"two"),
        ("r2", "b", "z", 20, b"MOBILE"),
        ("r3", "b", "z", 20, b"MOBILE"),
        ("m1", "a", "x", 20, &big),
        ("m2", "a", "x", 20, &big),
        ("m3", "a", "x", 20, &big),
        ("huge", "a", "x", 20, &big),
        ("huge", "a", "y", 20, &big),
        ("huge", "a", "z", 20, &big),
    ];
    for (row, f, q, ts, v) in cells {
        c.mutate(pb::MutateRequest {
            table: "t".into(),
            row: row.as_bytes().to_vec().into(),
            mutations: vec![set(f, q.as_bytes(), v, *ts)],
        })
        .await
        .unwrap_or_else(|s| panic!("put {row}: {s:?}"));
    }
}

fn request(rows: &[&str]) -> pb::MultiGetRequest {
    pb::MultiGetRequest {
        table: "t".into(),
        rows: rows.iter().map(|r| r.as_bytes().to_vec().into()).collect(),
        ..Default::default()
    }
}

/// `key f:q@ts=value ...` per result, `-` when not found.
async fn shown(c: &mut Client, r: pb::MultiGetRequest) -> Vec<String> {
    let reply = c.multi_get(r).await.expect("multi_get").into_inner();
    reply
        .results
        .iter()
        .map(|g| match (&g.row, g.found) {
            (Some(row), true) => {
                let mut s = String::from_utf8_lossy(&row.key).into_owned();
                for c in &row.cells {
                    s += &format!(
                        " {}:{}@{}={}",
                        c.family,
                        String::from_utf8_lossy(&c.qualifier),
                        c.timestamp_micros,
                        String::from_utf8_lossy(&c.value)
                    );
                }
                s
            }
            (None, false) => "-".into(),
            other => panic!("found and row disagree: {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn rows_in_request_order_with_the_gets_options_and_a_filter_per_row() {
    let server = Server::start_with_args(FLAGS).await;
    let mut c = server.client().await;
    load(&mut c).await;

    assert_eq!(
        shown(&mut c, request(&["r2", "nope", "r1", "r2"])).await,
        [
            "r2 a:x@20=two b:z@20=MOBILE",
            "-",
            "r1 a:x@20=new b:z@20=WEB",
            "r2 a:x@20=two b:z@20=MOBILE",
        ]
    );
    assert!(shown(&mut c, request(&[])).await.is_empty());
    // Columns, versions and a time range, as a Get's, on every row.
    let r = pb::MultiGetRequest {
        columns: vec![column("a", b"")],
        max_versions: 2,
        ..request(&["r1", "r3", "r2"])
    };
    assert_eq!(
        shown(&mut c, r).await,
        ["r1 a:x@20=new a:x@10=old", "-", "r2 a:x@20=two"]
    );
    let r = pb::MultiGetRequest {
        time_range: Some(pb::TimeRange {
            start_micros: 0,
            end_micros: 15,
        }),
        ..request(&["r1", "r2"])
    };
    assert_eq!(shown(&mut c, r).await, ["r1 a:x@10=old", "-"]);
    // The filter drops rows (found = false) and runs on each row afresh: PageFilter(1),
    // which ends a scan after one row, keeps every row here.
    let mobile = "SingleColumnValueFilter('b', 'z', =, 'binary:MOBILE', true, true)";
    let r = pb::MultiGetRequest {
        filter: mobile.into(),
        ..request(&["r1", "r2", "r3"])
    };
    assert_eq!(
        shown(&mut c, r).await,
        ["-", "r2 a:x@20=two b:z@20=MOBILE", "r3 b:z@20=MOBILE"]
    );
    let r = pb::MultiGetRequest {
        filter: "PageFilter(1) AND FamilyFilter(=, 'binary:b')".into(),
        ..request(&["r1", "r2", "r3"])
    };
    assert_eq!(
        shown(&mut c, r).await,
        ["r1 b:z@20=WEB", "r2 b:z@20=MOBILE", "r3 b:z@20=MOBILE"]
    );
    // With a filter, the version count applies to the versions it keeps (as Get).
    let r = pb::MultiGetRequest {
        filter: "ValueFilter(=, 'binary:old')".into(),
        ..request(&["r1", "r2"])
    };
    assert_eq!(shown(&mut c, r).await, ["r1 a:x@10=old", "-"]);
}

#[tokio::test]
async fn bounds_and_bad_requests_have_their_codes_and_name_the_row() {
    let server = Server::start_with_args(FLAGS).await;
    let mut c = server.client().await;
    load(&mut c).await;
    let err = |c: &mut Client, r: pb::MultiGetRequest| {
        let mut c = c.clone();
        async move { c.multi_get(r).await.expect_err("must fail") }
    };

    // Four rows is the limit; five is refused.
    assert_eq!(
        shown(&mut c, request(&["r1", "r2", "r3", "r1"]))
            .await
            .len(),
        4
    );
    let s = err(&mut c, request(&["r1", "r2", "r3", "r1", "r2"])).await;
    assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
    assert!(s.message().contains("5 rows"), "{s:?}");
    assert!(s.message().contains("max_rows_per_multiget"), "{s:?}");

    // Two 90 KiB rows fit a 200 KiB reply; the third passes it and is named.
    assert_eq!(shown(&mut c, request(&["m1", "r1", "m2"])).await.len(), 3);
    let s = err(&mut c, request(&["m1", "m2", "m3"])).await;
    assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");
    assert!(s.message().contains("at row m3 of table t"), "{s:?}");
    assert!(s.message().contains("max_message_bytes"), "{s:?}");
    // A row larger than any reply says so, and how to read it.
    let s = err(&mut c, request(&["r1", "huge"])).await;
    assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");
    assert!(s.message().contains("row huge of table t is"), "{s:?}");
    assert!(s.message().contains("Scan"), "{s:?}");
    // A filter that keeps the reply small makes the same rows fine.
    let r = pb::MultiGetRequest {
        filter: "KeyOnlyFilter()".into(),
        ..request(&["m1", "m2", "m3", "huge"])
    };
    assert_eq!(shown(&mut c, r).await.len(), 4);

    let s = err(
        &mut c,
        pb::MultiGetRequest {
            filter: "PageFilter(1) AND".into(),
            ..request(&["r1"])
        },
    )
    .await;
    assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
    assert!(s.message().contains("bad filter at byte 17"), "{s:?}");
    let s = err(&mut c, request(&["r1", ""])).await;
    assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
    assert!(s.message().contains("rows[1]"), "{s:?}");
    let s = err(
        &mut c,
        pb::MultiGetRequest {
            table: "nope".into(),
            ..request(&["r1"])
        },
    )
    .await;
    assert_eq!(s.code(), Code::NotFound, "{s:?}");
    assert!(s.message().contains("nope"), "{s:?}");
}
