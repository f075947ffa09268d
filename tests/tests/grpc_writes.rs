//! Writes over gRPC against the real `strata serve`: every mutation kind and the Get options
//! that read it back, MutateRows (per-row application, validation before applying), concurrent
//! clients, and the delete rules across flush, compaction and restart.

use std::time::Duration;

use strata_tests::grpc::{T0, Version, dump, get_with, row_mutations};
use strata_tests::v1 as pb;
use strata_tests::*;
use tonic::Code;

#[tokio::test]
async fn mutate_every_kind_and_get_options() {
    let server = Server::start().await;
    let mut c = server.client().await;
    c.create_table(pb::CreateTableRequest {
        table: "t".into(),
        families: vec![
            pb::FamilyOptions {
                name: "f".into(),
                max_versions: 5,
                ..Default::default()
            },
            pb::FamilyOptions {
                name: "g".into(),
                max_versions: 5,
                ..Default::default()
            },
        ],
    })
    .await
    .expect("create");

    // One atomic Mutate with cells in several families, several versions, out of order.
    let r = c
        .mutate(pb::MutateRequest {
            table: "t".into(),
            row: b"row".to_vec().into(),
            mutations: vec![
                set("g", b"z", b"g-z", T0),
                set("f", b"b", b"b1", T0 + 1),
                set("f", b"b", b"b3", T0 + 3),
                set("f", b"b", b"b2", T0 + 2),
                set("f", b"a", b"a1", T0 + 1),
                set("g", b"y", b"g-y", T0),
            ],
        })
        .await
        .expect("mutate")
        .into_inner();
    assert_eq!((r.rows, r.cells), (1, 6));

    // Whole row, 1 version: sorted by family, then qualifier; the newest version.
    let row = get_row(&mut c, "t", b"row").await.expect("found");
    assert_eq!(row.key, &b"row"[..]);
    assert_eq!(
        cells(&row),
        [
            triple("f", "a", "a1"),
            triple("f", "b", "b3"),
            triple("g", "y", "g-y"),
            triple("g", "z", "g-z"),
        ]
    );
    assert_eq!(row.cells[1].timestamp_micros, T0 + 3);

    // Versions: newest first.
    let row = get_with(
        &mut c,
        pb::GetRequest {
            table: "t".into(),
            row: b"row".to_vec().into(),
            columns: vec![column("f", b"b")],
            max_versions: 10,
            ..Default::default()
        },
    )
    .await
    .expect("found");
    let ts: Vec<i64> = row.cells.iter().map(|c| c.timestamp_micros).collect();
    assert_eq!(ts, [T0 + 3, T0 + 2, T0 + 1]);
    let row = get_with(
        &mut c,
        pb::GetRequest {
            table: "t".into(),
            row: b"row".to_vec().into(),
            columns: vec![column("f", b"b")],
            max_versions: 2,
            ..Default::default()
        },
    )
    .await
    .expect("found");
    assert_eq!(row.cells.len(), 2);

    // Time range: [T0+1, T0+3) -> b2 and b1, a1.
    let row = get_with(
        &mut c,
        pb::GetRequest {
            filter: Default::default(),
            table: "t".into(),
            row: b"row".to_vec().into(),
            columns: vec![column("f", b"")],
            max_versions: 10,
            time_range: Some(pb::TimeRange {
                start_micros: T0 + 1,
                end_micros: T0 + 3,
            }),
        },
    )
    .await
    .expect("found");
    assert_eq!(
        cells(&row),
        [
            triple("f", "a", "a1"),
            triple("f", "b", "b2"),
            triple("f", "b", "b1")
        ]
    );
    // A time range with nothing in it: not found.
    assert!(
        get_with(
            &mut c,
            pb::GetRequest {
                table: "t".into(),
                row: b"row".to_vec().into(),
                time_range: Some(pb::TimeRange {
                    start_micros: 1,
                    end_micros: 2,
                }),
                ..Default::default()
            },
        )
        .await
        .is_none()
    );

    // Column selection: a whole family plus one column of another.
    let row = get_with(
        &mut c,
        pb::GetRequest {
            table: "t".into(),
            row: b"row".to_vec().into(),
            columns: vec![column("g", b""), column("f", b"a")],
            ..Default::default()
        },
    )
    .await
    .expect("found");
    assert_eq!(
        cells(&row),
        [
            triple("f", "a", "a1"),
            triple("g", "y", "g-y"),
            triple("g", "z", "g-z"),
        ]
    );

    // A selection with no visible cell in an existing row: not found.
    let r = c
        .get(pb::GetRequest {
            table: "t".into(),
            row: b"row".to_vec().into(),
            columns: vec![column("f", b"no-such-qualifier")],
            ..Default::default()
        })
        .await
        .expect("get")
        .into_inner();
    assert!(!r.found, "{r:?}");

    // DeleteCells with a timestamp: exactly that version.
    c.mutate(pb::MutateRequest {
        table: "t".into(),
        row: b"row".to_vec().into(),
        mutations: vec![delete_cells("f", b"b", T0 + 3)],
    })
    .await
    .expect("delete one version");
    let row = get_row(&mut c, "t", b"row").await.expect("found");
    assert_eq!(cells(&row)[1], triple("f", "b", "b2"));

    // DeleteCells with 0: every version of the column.
    c.mutate(pb::MutateRequest {
        table: "t".into(),
        row: b"row".to_vec().into(),
        mutations: vec![delete_cells("f", b"b", 0)],
    })
    .await
    .expect("delete column");
    let row = get_with(
        &mut c,
        pb::GetRequest {
            table: "t".into(),
            row: b"row".to_vec().into(),
            max_versions: 10,
            ..Default::default()
        },
    )
    .await
    .expect("found");
    assert!(
        !row.cells.iter().any(|c| c.qualifier == b"b"[..]),
        "{:?}",
        row.cells
    );

    // A put after a delete is visible whatever its timestamp (write order decides).
    c.mutate(pb::MutateRequest {
        table: "t".into(),
        row: b"row".to_vec().into(),
        mutations: vec![set("f", b"b", b"old-ts-after-delete", T0 - 1000)],
    })
    .await
    .expect("put after delete");
    let row = get_row(&mut c, "t", b"row").await.expect("found");
    assert!(
        cells(&row).contains(&triple("f", "b", "old-ts-after-delete")),
        "{:?}",
        cells(&row)
    );

    // DeleteFamily: g goes, f stays.
    c.mutate(pb::MutateRequest {
        table: "t".into(),
        row: b"row".to_vec().into(),
        mutations: vec![delete_family("g")],
    })
    .await
    .expect("delete family");
    let row = get_row(&mut c, "t", b"row").await.expect("found");
    assert!(row.cells.iter().all(|c| c.family == "f"), "{row:?}");

    // Mixed atomic mutation: delete the row, then set one cell, in one request.
    c.mutate(pb::MutateRequest {
        table: "t".into(),
        row: b"row".to_vec().into(),
        mutations: vec![delete_row(), set("g", b"fresh", b"1", 0)],
    })
    .await
    .expect("delete row + set");
    let row = get_row(&mut c, "t", b"row").await.expect("found");
    assert_eq!(cells(&row), [triple("g", "fresh", "1")]);

    // DeleteRow alone: not found.
    c.mutate(pb::MutateRequest {
        table: "t".into(),
        row: b"row".to_vec().into(),
        mutations: vec![delete_row()],
    })
    .await
    .expect("delete row");
    assert!(get_row(&mut c, "t", b"row").await.is_none());

    // Binary keys, qualifiers and values round-trip byte for byte; timestamp 0 gets the
    // server's clock.
    let key = [0u8, 0xff, 0x80, b'k'];
    let value: Vec<u8> = (0..=255u8).collect();
    c.mutate(pb::MutateRequest {
        table: "t".into(),
        row: key.to_vec().into(),
        mutations: vec![set("f", &[0xfe, 0], &value, 0)],
    })
    .await
    .expect("binary put");
    let row = get_row(&mut c, "t", &key).await.expect("found");
    assert_eq!(row.key, &key[..]);
    assert_eq!(row.cells[0].qualifier, &[0xfe, 0][..]);
    assert_eq!(row.cells[0].value, value);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_micros() as i64;
    let ts = row.cells[0].timestamp_micros;
    assert!(
        (now - 600_000_000..=now + 600_000_000).contains(&ts),
        "server timestamp {ts} should be close to now {now}"
    );
    // An empty value is a cell too (empty CSV fields are kept).
    put(&mut c, "t", b"empty", "f", b"q", b"").await;
    let row = get_row(&mut c, "t", b"empty").await.expect("found");
    assert_eq!(cells(&row), [triple("f", "q", "")]);
}

#[tokio::test]
async fn mutate_rows_applies_each_row_and_validates_before_applying() {
    let server = Server::start().await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f", "g"]).await;

    let entries: Vec<pb::RowMutations> = (0..50)
        .map(|i| {
            row_mutations(
                format!("row{i:03}").as_bytes(),
                vec![
                    set("f", b"a", format!("fa{i}").as_bytes(), 0),
                    set("g", b"b", format!("gb{i}").as_bytes(), 0),
                ],
            )
        })
        .collect();
    let r = c
        .mutate_rows(pb::MutateRowsRequest {
            table: "t".into(),
            entries,
        })
        .await
        .expect("mutate rows")
        .into_inner();
    assert_eq!((r.rows, r.cells), (50, 100));
    let keys = scan_keys(&mut c, "t").await;
    assert_eq!(keys.len(), 50);
    let row = get_row(&mut c, "t", b"row017").await.expect("found");
    assert_eq!(
        cells(&row),
        [triple("f", "a", "fa17"), triple("g", "b", "gb17")]
    );

    // A bad row anywhere in the request: nothing at all is applied.
    for (bad, code, needle) in [
        (
            row_mutations(b"bad", vec![set("nope", b"q", b"v", 0)]),
            Code::NotFound,
            "nope",
        ),
        (
            row_mutations(b"", vec![set("f", b"q", b"v", 0)]),
            Code::InvalidArgument,
            "row key",
        ),
        (
            row_mutations(b"bad", vec![pb::Mutation { kind: None }]),
            Code::InvalidArgument,
            "mutation",
        ),
    ] {
        let entries = vec![
            row_mutations(b"new1", vec![set("f", b"q", b"v", 0)]),
            row_mutations(b"row000", vec![set("f", b"a", b"overwritten?", 0)]),
            bad,
            row_mutations(b"new2", vec![set("g", b"q", b"v", 0)]),
        ];
        let e = c
            .mutate_rows(pb::MutateRowsRequest {
                table: "t".into(),
                entries,
            })
            .await
            .expect_err("a bad row fails the call");
        assert_status(&e, code, &[needle]);
        assert!(get_row(&mut c, "t", b"new1").await.is_none());
        assert!(get_row(&mut c, "t", b"new2").await.is_none());
        let row = get_row(&mut c, "t", b"row000").await.expect("found");
        assert_eq!(cells(&row)[0], triple("f", "a", "fa0"));
    }
    assert_eq!(scan_keys(&mut c, "t").await.len(), 50);
}

#[tokio::test]
async fn concurrent_clients_write_and_read() {
    let server = Server::start().await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f"]).await;
    let mut tasks = Vec::new();
    for w in 0..6usize {
        // Separate connections, like separate client processes.
        let mut c = server.client().await;
        tasks.push(tokio::spawn(async move {
            for i in 0..40usize {
                let key = format!("w{w}-{i:03}");
                let value = format!("value-{w}-{i}");
                if i % 2 == 0 {
                    put(&mut c, "t", key.as_bytes(), "f", b"q", value.as_bytes()).await;
                } else {
                    c.mutate_rows(pb::MutateRowsRequest {
                        table: "t".into(),
                        entries: vec![row_mutations(
                            key.as_bytes(),
                            vec![set("f", b"q", value.as_bytes(), 0)],
                        )],
                    })
                    .await
                    .expect("mutate rows");
                }
                // Read your own write.
                let row = get_row(&mut c, "t", key.as_bytes())
                    .await
                    .unwrap_or_else(|| panic!("{key} not readable after its ack"));
                assert_eq!(row.cells[0].value, value.as_bytes());
                if i % 10 == 0 {
                    let (rows, _) = scan_all(
                        &mut c,
                        pb::ScanRequest {
                            table: "t".into(),
                            prefix: format!("w{w}-").into_bytes().into(),
                            ..Default::default()
                        },
                    )
                    .await
                    .expect("scan");
                    assert_eq!(rows.len(), i + 1, "writer {w} sees its own {} rows", i + 1);
                }
            }
        }));
    }
    // A flush in the middle of the writes.
    c.flush(pb::FlushRequest { table: "t".into() })
        .await
        .expect("flush");
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(120), t)
            .await
            .expect("writer finishes")
            .expect("writer ok");
    }
    let keys = scan_keys(&mut c, "t").await;
    assert_eq!(keys.len(), 240);
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "scan returns rows in key order");
}

#[tokio::test]
async fn delete_rules_hold_across_flush_compaction_and_restart() {
    let mut server = Server::start().await;
    let mut c = server.client().await;
    c.create_table(pb::CreateTableRequest {
        table: "t".into(),
        families: vec![
            pb::FamilyOptions {
                name: "f".into(),
                max_versions: 10,
                ..Default::default()
            },
            pb::FamilyOptions {
                name: "g".into(),
                max_versions: 10,
                ..Default::default()
            },
        ],
    })
    .await
    .expect("create");
    let m = |row: &[u8], mutations: Vec<pb::Mutation>| pb::MutateRequest {
        table: "t".into(),
        row: row.to_vec().into(),
        mutations,
    };
    // Row a: versions 10, 20, 30; delete version 20; delete of version 40 (nothing there).
    c.mutate(m(
        b"a",
        vec![
            set("f", b"q", b"a10", T0 + 10),
            set("f", b"q", b"a20", T0 + 20),
            set("f", b"q", b"a30", T0 + 30),
        ],
    ))
    .await
    .expect("put");
    c.flush(pb::FlushRequest { table: "t".into() })
        .await
        .expect("flush");
    c.mutate(m(
        b"a",
        vec![
            delete_cells("f", b"q", T0 + 20),
            delete_cells("f", b"q", T0 + 40),
        ],
    ))
    .await
    .expect("delete version");
    // A put of version 40 after its delete is visible; so is a re-put of version 20.
    c.mutate(m(b"a", vec![set("f", b"q", b"a40", T0 + 40)]))
        .await
        .expect("put");
    // Row b: column delete, then a put with an older timestamp than everything deleted.
    c.mutate(m(
        b"b",
        vec![
            set("f", b"q", b"b50", T0 + 50),
            set("f", b"r", b"b-r", T0 + 50),
        ],
    ))
    .await
    .expect("put");
    c.mutate(m(b"b", vec![delete_cells("f", b"q", 0)]))
        .await
        .expect("delete column");
    c.mutate(m(b"b", vec![set("f", b"q", b"b1", T0 + 1)]))
        .await
        .expect("older put after delete");
    // Row c: family delete then a put into the family; the other family is untouched.
    c.mutate(m(
        b"c",
        vec![set("f", b"x", b"c-fx", T0), set("g", b"y", b"c-gy", T0)],
    ))
    .await
    .expect("put");
    c.flush(pb::FlushRequest { table: "t".into() })
        .await
        .expect("flush");
    c.mutate(m(b"c", vec![delete_family("f")]))
        .await
        .expect("delete family");
    c.mutate(m(b"c", vec![set("f", b"z", b"c-fz", T0 - 5)]))
        .await
        .expect("put after family delete");
    // Row d: row delete then nothing: gone.
    c.mutate(m(b"d", vec![set("g", b"q", b"d", T0)]))
        .await
        .expect("put");
    c.mutate(m(b"d", vec![delete_row()]))
        .await
        .expect("delete row");

    let s = |v: &str| v.as_bytes().to_vec();
    let expected = vec![
        (s("a"), s("f"), s("q"), T0 + 40, s("a40")),
        (s("a"), s("f"), s("q"), T0 + 30, s("a30")),
        (s("a"), s("f"), s("q"), T0 + 10, s("a10")),
        (s("b"), s("f"), s("q"), T0 + 1, s("b1")),
        (s("b"), s("f"), s("r"), T0 + 50, s("b-r")),
        (s("c"), s("f"), s("z"), T0 - 5, s("c-fz")),
        (s("c"), s("g"), s("y"), T0, s("c-gy")),
    ];
    let expected: Vec<Version> = expected
        .into_iter()
        .map(|(r, f, q, t, v)| (r, String::from_utf8(f).expect("utf-8"), q, t, v))
        .collect();
    assert_eq!(dump(&mut c, "t").await, expected, "memtable + files");
    c.flush(pb::FlushRequest { table: "t".into() })
        .await
        .expect("flush");
    assert_eq!(dump(&mut c, "t").await, expected, "after flush");
    c.compact(pb::CompactRequest {
        table: "t".into(),
        major: true,
    })
    .await
    .expect("compact");
    assert_eq!(dump(&mut c, "t").await, expected, "after major compaction");
    drop(c);
    server.kill();
    server.restart().await;
    let mut c = server.client().await;
    assert_eq!(
        dump(&mut c, "t").await,
        expected,
        "after SIGKILL and restart"
    );
    // Writes after the restart still follow write order.
    c.mutate(m(b"a", vec![delete_cells("f", b"q", 0)]))
        .await
        .expect("delete column");
    c.mutate(m(b"a", vec![set("f", b"q", b"a5", T0 + 5)]))
        .await
        .expect("put");
    let row = get_row(&mut c, "t", b"a").await.expect("found");
    assert_eq!(cells(&row), [triple("f", "q", "a5")]);
}
