//! Scan over gRPC against the real `strata serve`: bounds, prefixes, resuming, limits, batches,
//! column selection, versions and time ranges, byte-bounded replies and binary prefixes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use strata_tests::grpc::T0;
use strata_tests::v1 as pb;
use strata_tests::*;
use tonic::Code;

async fn scan_keys_with(
    c: &mut strata_proto::v1::strata_client::StrataClient<tonic::transport::Channel>,
    req: pb::ScanRequest,
) -> Vec<String> {
    let (rows, _) = scan_all(c, req).await.expect("scan");
    rows.into_iter()
        .map(|r| String::from_utf8(r.key.to_vec()).expect("utf-8 key"))
        .collect()
}

fn keys(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i:02}")).collect()
}

#[tokio::test]
async fn scan_bounds_prefix_resume_limit_batches_and_columns() {
    let server = Server::start().await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f", "g"]).await;
    // 30 rows a00..a09, b00..b09, c00..c09; written in reverse order, half flushed to a
    // file so the scan merges memtable and file.
    let all: Vec<String> = ["a", "b", "c"]
        .iter()
        .flat_map(|p| keys(p, 0..10))
        .collect();
    for (n, k) in all.iter().rev().enumerate() {
        c.mutate(pb::MutateRequest {
            table: "t".into(),
            row: k.as_bytes().to_vec().into(),
            mutations: vec![
                set("g", b"x", format!("gx-{k}").as_bytes(), 0),
                set("f", b"q2", format!("q2-{k}").as_bytes(), 0),
                set("f", b"q1", format!("q1-{k}").as_bytes(), 0),
            ],
        })
        .await
        .expect("put");
        if n == 14 {
            c.flush(pb::FlushRequest { table: "t".into() })
                .await
                .expect("flush");
        }
    }
    let base = pb::ScanRequest {
        table: "t".into(),
        ..Default::default()
    };

    // Whole table, in key order, every cell in order.
    let (rows, _) = scan_all(&mut c, base.clone()).await.expect("scan");
    assert_eq!(
        rows.iter()
            .map(|r| String::from_utf8_lossy(&r.key).into_owned())
            .collect::<Vec<_>>(),
        all
    );
    assert_eq!(
        cells(&rows[0]),
        [
            triple("f", "q1", "q1-a00"),
            triple("f", "q2", "q2-a00"),
            triple("g", "x", "gx-a00")
        ]
    );

    // start inclusive, stop exclusive.
    let got = scan_keys_with(
        &mut c,
        pb::ScanRequest {
            start_row: b"a05".to_vec().into(),
            stop_row: b"b02".to_vec().into(),
            ..base.clone()
        },
    )
    .await;
    assert_eq!(got, [keys("a", 5..10), keys("b", 0..2)].concat());
    // start exclusive.
    let got = scan_keys_with(
        &mut c,
        pb::ScanRequest {
            start_row: b"a05".to_vec().into(),
            start_row_exclusive: true,
            stop_row: b"a08".to_vec().into(),
            ..base.clone()
        },
    )
    .await;
    assert_eq!(got, keys("a", 6..8));
    // start between keys.
    let got = scan_keys_with(
        &mut c,
        pb::ScanRequest {
            start_row: b"a055".to_vec().into(),
            start_row_exclusive: true,
            stop_row: b"a07".to_vec().into(),
            ..base.clone()
        },
    )
    .await;
    assert_eq!(got, keys("a", 6..7));
    // prefix alone, and intersected with start/stop.
    let got = scan_keys_with(
        &mut c,
        pb::ScanRequest {
            prefix: b"b".to_vec().into(),
            ..base.clone()
        },
    )
    .await;
    assert_eq!(got, keys("b", 0..10));
    let got = scan_keys_with(
        &mut c,
        pb::ScanRequest {
            prefix: b"b".to_vec().into(),
            start_row: b"b03".to_vec().into(),
            stop_row: b"b07".to_vec().into(),
            ..base.clone()
        },
    )
    .await;
    assert_eq!(got, keys("b", 3..7));
    let got = scan_keys_with(
        &mut c,
        pb::ScanRequest {
            prefix: b"b".to_vec().into(),
            start_row: b"a00".to_vec().into(),
            stop_row: b"z".to_vec().into(),
            ..base.clone()
        },
    )
    .await;
    assert_eq!(
        got,
        keys("b", 0..10),
        "a start before the prefix is clipped to it"
    );
    let got = scan_keys_with(
        &mut c,
        pb::ScanRequest {
            prefix: b"b".to_vec().into(),
            start_row: b"c00".to_vec().into(),
            ..base.clone()
        },
    )
    .await;
    assert!(
        got.is_empty(),
        "start after the prefix: nothing, got {got:?}"
    );
    let got = scan_keys_with(
        &mut c,
        pb::ScanRequest {
            prefix: b"b0".to_vec().into(),
            start_row: b"b04".to_vec().into(),
            start_row_exclusive: true,
            ..base.clone()
        },
    )
    .await;
    assert_eq!(got, keys("b", 5..10));

    // limit, and limit with batch_size: replies hold at most batch_size rows.
    let (rows, replies) = scan_all(
        &mut c,
        pb::ScanRequest {
            limit: 4,
            batch_size: 1,
            ..base.clone()
        },
    )
    .await
    .expect("scan");
    assert_eq!(rows.len(), 4);
    assert_eq!(replies, 4, "batch_size 1: one row per reply");
    let mut stream = c
        .scan(pb::ScanRequest {
            batch_size: 7,
            ..base.clone()
        })
        .await
        .expect("scan")
        .into_inner();
    let mut sizes = Vec::new();
    while let Some(reply) = stream.message().await.expect("reply") {
        sizes.push(reply.rows.len());
    }
    assert_eq!(sizes.iter().sum::<usize>(), 30);
    assert!(sizes.iter().all(|&n| (1..=7).contains(&n)), "{sizes:?}");
    assert!(sizes.len() >= 5, "{sizes:?}");

    // Paging: limit + resume after the last key received, until the end.
    let mut paged = Vec::new();
    let mut req = pb::ScanRequest {
        limit: 7,
        ..base.clone()
    };
    for _ in 0..10 {
        let got = scan_keys_with(&mut c, req.clone()).await;
        if got.is_empty() {
            break;
        }
        assert!(got.len() <= 7);
        req.start_row = got.last().expect("non-empty").as_bytes().to_vec().into();
        req.start_row_exclusive = true;
        paged.extend(got);
    }
    assert_eq!(
        paged, all,
        "paging with start_row_exclusive visits every row once"
    );

    // Columns: one family; one column; rows without a selected cell are skipped.
    let (rows, _) = scan_all(
        &mut c,
        pb::ScanRequest {
            columns: vec![column("g", b"")],
            limit: 3,
            ..base.clone()
        },
    )
    .await
    .expect("scan");
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| cells(r)
        == [triple(
            "g",
            "x",
            &format!("gx-{}", String::from_utf8_lossy(&r.key))
        )]));
    let (rows, _) = scan_all(
        &mut c,
        pb::ScanRequest {
            columns: vec![column("f", b"q2")],
            prefix: b"c".to_vec().into(),
            ..base.clone()
        },
    )
    .await
    .expect("scan");
    assert_eq!(rows.len(), 10);
    assert!(
        rows.iter()
            .all(|r| r.cells.len() == 1 && r.cells[0].qualifier == b"q2"[..])
    );
    c.mutate(pb::MutateRequest {
        table: "t".into(),
        row: b"a03".to_vec().into(),
        mutations: vec![delete_family("g")],
    })
    .await
    .expect("delete family");
    let got = scan_keys_with(
        &mut c,
        pb::ScanRequest {
            columns: vec![column("g", b"")],
            prefix: b"a0".to_vec().into(),
            stop_row: b"a05".to_vec().into(),
            ..base.clone()
        },
    )
    .await;
    assert_eq!(got, ["a00", "a01", "a02", "a04"]);

    // keys_only: rows without cells.
    let (rows, _) = scan_all(
        &mut c,
        pb::ScanRequest {
            keys_only: true,
            ..base.clone()
        },
    )
    .await
    .expect("scan");
    assert_eq!(rows.len(), 30);
    assert!(rows.iter().all(|r| r.cells.is_empty()));

    // Scans of unknown tables and families are NOT_FOUND.
    let e = scan_all(
        &mut c,
        pb::ScanRequest {
            table: "nope".into(),
            ..Default::default()
        },
    )
    .await
    .expect_err("unknown table");
    assert_status(&e, Code::NotFound, &["nope"]);
    let e = scan_all(
        &mut c,
        pb::ScanRequest {
            columns: vec![column("zz", b"")],
            ..base.clone()
        },
    )
    .await
    .expect_err("unknown family");
    assert_status(&e, Code::NotFound, &["zz"]);
}

#[tokio::test]
async fn scan_versions_and_time_range() {
    let server = Server::start().await;
    let mut c = server.client().await;
    c.create_table(pb::CreateTableRequest {
        table: "t".into(),
        families: vec![pb::FamilyOptions {
            name: "f".into(),
            max_versions: 3,
            ..Default::default()
        }],
    })
    .await
    .expect("create");
    for r in ["r1", "r2"] {
        c.mutate(pb::MutateRequest {
            table: "t".into(),
            row: r.as_bytes().to_vec().into(),
            mutations: (0..3)
                .map(|i| set("f", b"q", format!("{r}-v{i}").as_bytes(), T0 + i))
                .collect(),
        })
        .await
        .expect("put");
    }
    let (rows, _) = scan_all(
        &mut c,
        pb::ScanRequest {
            table: "t".into(),
            max_versions: 2,
            ..Default::default()
        },
    )
    .await
    .expect("scan");
    assert_eq!(rows.len(), 2);
    for r in &rows {
        let ts: Vec<i64> = r.cells.iter().map(|c| c.timestamp_micros).collect();
        assert_eq!(ts, [T0 + 2, T0 + 1]);
    }
    let (rows, _) = scan_all(
        &mut c,
        pb::ScanRequest {
            table: "t".into(),
            max_versions: 3,
            time_range: Some(pb::TimeRange {
                start_micros: T0,
                end_micros: T0 + 1,
            }),
            ..Default::default()
        },
    )
    .await
    .expect("scan");
    assert_eq!(rows.len(), 2);
    assert_eq!(cells(&rows[1]), [triple("f", "q", "r2-v0")]);
}

#[tokio::test]
async fn scan_replies_are_bounded_by_bytes_and_binary_prefixes_work() {
    let server = Server::start().await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f"]).await;
    // Four rows of 600 KiB against the default 1 MiB reply bound.
    for i in 0..4u8 {
        c.mutate(pb::MutateRequest {
            table: "t".into(),
            row: vec![b'b', i].into(),
            mutations: vec![set("f", b"q", &vec![i; 600 * 1024], 0)],
        })
        .await
        .expect("put");
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
    assert_eq!(rows.len(), 4);
    // The bound is soft (a reply may pass it by its last row), so 2.4 MiB needs at least
    // two replies, not one.
    assert!(
        replies >= 2,
        "replies are bounded by bytes: {replies} replies"
    );
    assert!(
        rows.iter()
            .enumerate()
            .all(|(i, r)| r.cells[0].value.len() == 600 * 1024 && r.cells[0].value[0] == i as u8)
    );

    // Prefixes ending in 0xff, and keys around them.
    for key in [
        &b"a\xff"[..],
        b"a\xff\x00",
        b"a\xff\xff",
        b"b",
        b"\xff",
        b"\xff\xff",
        b"\xff\xff\x01",
    ] {
        put(&mut c, "t", key, "f", b"q", b"x").await;
    }
    let scan_prefix = |prefix: &'static [u8]| {
        let mut c = c.clone();
        async move {
            scan_all(
                &mut c,
                pb::ScanRequest {
                    table: "t".into(),
                    prefix: prefix.to_vec().into(),
                    keys_only: true,
                    ..Default::default()
                },
            )
            .await
            .expect("scan")
            .0
            .into_iter()
            .map(|r| r.key)
            .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        scan_prefix(b"a\xff").await,
        [
            b"a\xff".to_vec(),
            b"a\xff\x00".to_vec(),
            b"a\xff\xff".to_vec()
        ]
    );
    assert_eq!(
        scan_prefix(b"\xff").await,
        [
            b"\xff".to_vec(),
            b"\xff\xff".to_vec(),
            b"\xff\xff\x01".to_vec()
        ]
    );
    assert_eq!(
        scan_prefix(b"\xff\xff").await,
        [b"\xff\xff".to_vec(), b"\xff\xff\x01".to_vec()]
    );
    assert_eq!(scan_prefix(b"b").await.len(), 5, "b and b\\x00..b\\x03");
}
