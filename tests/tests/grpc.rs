//! End-to-end tests of the strata.v1 gRPC API against the real `strata serve` process: every
//! RPC (table admin, the mutation kinds, MutateRows, MutateStream acknowledgements and its
//! bad-batch rule, Get and Scan options, Flush, Compact, BulkIngest idempotency), the brief's
//! error codes and messages, the message-size limit, SIGTERM restart and SIGKILL durability of
//! acknowledged writes, concurrent clients, the data-directory lock, health and reflection.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_engine::sstable::{TableBuildOptions, TableBuilder};
use strata_engine::{CellKind, CellRef};
use strata_tests::v1 as pb;
use strata_tests::*;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

/// A fixed timestamp (2023-11-14) for writes that set their own versions.
const T0: i64 = 1_700_000_000_000_000;

fn row_mutations(row: &[u8], mutations: Vec<pb::Mutation>) -> pb::RowMutations {
    pb::RowMutations {
        row: row.to_vec().into(),
        mutations,
    }
}

async fn get_with(
    client: &mut strata_proto::v1::strata_client::StrataClient<tonic::transport::Channel>,
    req: pb::GetRequest,
) -> Option<pb::Row> {
    let r = client
        .get(req)
        .await
        .unwrap_or_else(|s| panic!("get: {s:?}"))
        .into_inner();
    if r.found { r.row } else { None }
}

#[tokio::test]
async fn table_admin_create_list_describe_alter_delete() {
    let server = Server::start().await;
    let mut c = server.client().await;

    assert!(
        c.list_tables(pb::ListTablesRequest {})
            .await
            .expect("list")
            .into_inner()
            .tables
            .is_empty()
    );

    c.create_table(pb::CreateTableRequest {
        table: "orders".into(),
        families: vec![
            family("b_default"),
            pb::FamilyOptions {
                name: "a_tuned".into(),
                max_versions: 3,
                ttl_seconds: 86_400,
                compression: pb::Compression::Zstd as i32,
                compression_level: 9,
                disable_bloom_filter: true,
                block_size: 4096,
            },
            pb::FamilyOptions {
                name: "c_raw".into(),
                compression: pb::Compression::None as i32,
                ..Default::default()
            },
        ],
    })
    .await
    .expect("create orders");
    create_table(&mut c, "customers", &["personal_info"]).await;

    let tables = c
        .list_tables(pb::ListTablesRequest {})
        .await
        .expect("list")
        .into_inner()
        .tables;
    assert_eq!(tables, ["customers", "orders"], "sorted table names");

    let d = c
        .describe_table(pb::DescribeTableRequest {
            table: "orders".into(),
        })
        .await
        .expect("describe")
        .into_inner();
    assert_eq!(d.table, "orders");
    let names: Vec<&str> = d.families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["a_tuned", "b_default", "c_raw"],
        "families sorted by name"
    );
    let tuned = &d.families[0];
    assert_eq!(tuned.max_versions, 3);
    assert_eq!(tuned.ttl_seconds, 86_400);
    assert_eq!(tuned.compression, pb::Compression::Zstd as i32);
    assert_eq!(tuned.compression_level, 9);
    assert!(tuned.disable_bloom_filter);
    assert_eq!(tuned.block_size, 4096);
    // Defaults are filled in: 1 version, forever, zstd level 3, bloom on, 64 KiB blocks.
    let def = &d.families[1];
    assert_eq!(def.max_versions, 1);
    assert_eq!(def.ttl_seconds, 0);
    assert_eq!(def.compression, pb::Compression::Zstd as i32);
    assert_eq!(def.compression_level, 3);
    assert!(!def.disable_bloom_filter);
    assert_eq!(def.block_size, 64 * 1024);
    assert_eq!(d.families[2].compression, pb::Compression::None as i32);
    let stats = d.stats.expect("describe returns stats");
    assert_eq!(stats.files, 0, "a new table has no files");

    // Data in the family that will be dropped, and in one that stays.
    c.mutate(pb::MutateRequest {
        table: "orders".into(),
        row: b"r1".to_vec().into(),
        mutations: vec![
            set("b_default", b"q", b"keep", 0),
            set("c_raw", b"q", b"dropped", 0),
        ],
    })
    .await
    .expect("mutate");

    // Alter: add, drop and modify in one call.
    let altered = c
        .alter_table(pb::AlterTableRequest {
            table: "orders".into(),
            add_families: vec![family("d_new")],
            drop_families: vec!["c_raw".into()],
            modify_families: vec![pb::FamilyOptions {
                name: "b_default".into(),
                max_versions: 5,
                ..Default::default()
            }],
        })
        .await
        .expect("alter")
        .into_inner();
    let names: Vec<&str> = altered.families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["a_tuned", "b_default", "d_new"]);
    assert_eq!(altered.families[1].max_versions, 5);
    let d = c
        .describe_table(pb::DescribeTableRequest {
            table: "orders".into(),
        })
        .await
        .expect("describe")
        .into_inner();
    assert_eq!(d.families, altered.families, "describe agrees with alter");

    // The dropped family's data is gone, and stays gone if the name is added again.
    let row = get_row(&mut c, "orders", b"r1").await.expect("row");
    assert_eq!(cells(&row), [triple("b_default", "q", "keep")]);
    c.alter_table(pb::AlterTableRequest {
        table: "orders".into(),
        add_families: vec![family("c_raw")],
        ..Default::default()
    })
    .await
    .expect("re-add c_raw");
    let row = get_row(&mut c, "orders", b"r1").await.expect("row");
    assert_eq!(
        cells(&row),
        [triple("b_default", "q", "keep")],
        "a re-added family must not resurrect dropped data"
    );

    // Alter errors.
    let e = c
        .alter_table(pb::AlterTableRequest {
            table: "orders".into(),
            drop_families: vec!["nope".into()],
            ..Default::default()
        })
        .await
        .expect_err("drop unknown family");
    assert_status(&e, Code::NotFound, &["nope"]);
    let e = c
        .alter_table(pb::AlterTableRequest {
            table: "orders".into(),
            add_families: vec![family("d_new")],
            ..Default::default()
        })
        .await
        .expect_err("add existing family");
    assert_status(&e, Code::AlreadyExists, &["d_new"]);
    let e = c
        .alter_table(pb::AlterTableRequest {
            table: "orders".into(),
            add_families: vec![family("bad family")],
            ..Default::default()
        })
        .await
        .expect_err("add badly named family");
    assert_status(&e, Code::InvalidArgument, &["bad family"]);

    // Delete.
    c.delete_table(pb::DeleteTableRequest {
        table: "orders".into(),
    })
    .await
    .expect("delete");
    let tables = c
        .list_tables(pb::ListTablesRequest {})
        .await
        .expect("list")
        .into_inner()
        .tables;
    assert_eq!(tables, ["customers"]);
    let e = c
        .get(pb::GetRequest {
            table: "orders".into(),
            row: b"r1".to_vec().into(),
            ..Default::default()
        })
        .await
        .expect_err("get from a deleted table");
    assert_status(&e, Code::NotFound, &["orders"]);
    let e = c
        .delete_table(pb::DeleteTableRequest {
            table: "orders".into(),
        })
        .await
        .expect_err("delete twice");
    assert_status(&e, Code::NotFound, &["orders"]);
    // A table created again under the same name starts empty.
    create_table(&mut c, "orders", &["b_default"]).await;
    assert!(get_row(&mut c, "orders", b"r1").await.is_none());
}

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
async fn max_versions_and_ttl_are_enforced() {
    let server = Server::start().await;
    let mut c = server.client().await;
    c.create_table(pb::CreateTableRequest {
        table: "t".into(),
        families: vec![
            pb::FamilyOptions {
                name: "two".into(),
                max_versions: 2,
                ..Default::default()
            },
            pb::FamilyOptions {
                name: "ttl".into(),
                ttl_seconds: 3600,
                ..Default::default()
            },
        ],
    })
    .await
    .expect("create");
    let muts = (1..=4)
        .map(|i| set("two", b"q", format!("v{i}").as_bytes(), T0 + i))
        .collect();
    c.mutate(pb::MutateRequest {
        table: "t".into(),
        row: b"r".to_vec().into(),
        mutations: muts,
    })
    .await
    .expect("mutate");
    // A cell older than the TTL expires at once; one with the server's clock does not.
    c.mutate(pb::MutateRequest {
        table: "t".into(),
        row: b"r".to_vec().into(),
        mutations: vec![
            set("ttl", b"old", b"expired", T0),
            set("ttl", b"new", b"live", 0),
        ],
    })
    .await
    .expect("mutate");
    let check = |row: pb::Row| {
        let vals: Vec<(String, Vec<u8>, Vec<u8>)> = cells(&row);
        assert_eq!(
            vals,
            [
                triple("ttl", "new", "live"),
                triple("two", "q", "v4"),
                triple("two", "q", "v3"),
            ],
            "max_versions 2 keeps two versions, TTL hides the old cell"
        );
    };
    let req = pb::GetRequest {
        table: "t".into(),
        row: b"r".to_vec().into(),
        max_versions: 10,
        ..Default::default()
    };
    check(get_with(&mut c, req.clone()).await.expect("found"));
    // Flushing and compacting changes nothing a read returns.
    c.flush(pb::FlushRequest { table: "t".into() })
        .await
        .expect("flush");
    c.compact(pb::CompactRequest {
        table: "t".into(),
        major: true,
    })
    .await
    .expect("compact");
    check(get_with(&mut c, req).await.expect("found"));
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

fn batch(table: &str, first: usize, rows: usize, cells_per_row: usize) -> pb::MutateRowsRequest {
    pb::MutateRowsRequest {
        table: table.into(),
        entries: (first..first + rows)
            .map(|i| {
                row_mutations(
                    format!("s{i:05}").as_bytes(),
                    (0..cells_per_row)
                        .map(|q| set("f", format!("q{q}").as_bytes(), b"v", 0))
                        .collect(),
                )
            })
            .collect(),
    }
}

#[tokio::test]
async fn mutate_stream_acknowledges_running_totals_per_batch() {
    let server = Server::start().await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f"]).await;

    let (tx, rx) = mpsc::channel(8);
    let mut acks = c
        .mutate_stream(ReceiverStream::new(rx))
        .await
        .expect("open stream")
        .into_inner();
    // Lock-step: send a batch, wait for its acknowledgement.
    let shapes = [(2usize, 2usize), (3, 1), (1, 5), (10, 3)];
    let (mut rows, mut cells_total, mut first) = (0u64, 0u64, 0usize);
    for (i, (n, per_row)) in shapes.iter().enumerate() {
        tx.send(batch("t", first, *n, *per_row))
            .await
            .expect("send");
        first += n;
        rows += *n as u64;
        cells_total += (*n * *per_row) as u64;
        let ack = tokio::time::timeout(Duration::from_secs(30), acks.message())
            .await
            .expect("ack in time")
            .expect("ack ok")
            .expect("an ack per batch");
        assert_eq!(
            (ack.rows, ack.cells, ack.batches),
            (rows, cells_total, i as u64 + 1),
            "running totals after batch {i}"
        );
        // Acknowledged means readable.
        let key = format!("s{:05}", first - 1);
        assert!(get_row(&mut c, "t", key.as_bytes()).await.is_some());
    }
    drop(tx);
    assert!(
        acks.message().await.expect("clean end").is_none(),
        "the stream ends when the client stops sending"
    );
    assert_eq!(scan_keys(&mut c, "t").await.len(), first);
}

#[tokio::test]
async fn mutate_stream_bad_batch_ends_stream_naming_its_index() {
    let server = Server::start().await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f"]).await;

    // Pipelined: every batch is sent before reading any acknowledgement; batch 3 is bad.
    let mut batches: Vec<pb::MutateRowsRequest> =
        (0..6).map(|b| batch("t", b * 10, 10, 1)).collect();
    batches[3].entries[4]
        .mutations
        .push(set("missing_family", b"q", b"v", 0));
    let (tx, rx) = mpsc::channel(16);
    for b in batches {
        tx.send(b).await.expect("send");
    }
    drop(tx);
    let mut acks = c
        .mutate_stream(ReceiverStream::new(rx))
        .await
        .expect("open stream")
        .into_inner();
    let mut got = Vec::new();
    let status = loop {
        match tokio::time::timeout(Duration::from_secs(30), acks.message())
            .await
            .expect("reply in time")
        {
            Ok(Some(ack)) => got.push(ack.batches),
            Ok(None) => panic!("the stream ended without an error after acks {got:?}"),
            Err(s) => break s,
        }
        assert!(got.len() <= 6, "too many acks: {got:?}");
    };
    assert_eq!(got, [1, 2, 3], "batches 0..3 are acknowledged");
    assert_status(&status, Code::NotFound, &["batch 3", "missing_family"]);
    // Batches 0-2 stay applied; the bad batch (atomically) and the ones after it are not.
    let keys = scan_keys(&mut c, "t").await;
    let expected: Vec<Vec<u8>> = (0..30).map(|i| format!("s{i:05}").into_bytes()).collect();
    assert_eq!(keys, expected);

    // A stream whose first batch names an unknown table.
    let (tx, rx) = mpsc::channel(2);
    tx.send(batch("no_such_table", 0, 1, 1))
        .await
        .expect("send");
    drop(tx);
    let mut acks = c
        .mutate_stream(ReceiverStream::new(rx))
        .await
        .expect("open stream")
        .into_inner();
    let e = acks.message().await.expect_err("unknown table");
    assert_status(&e, Code::NotFound, &["batch 0", "no_such_table"]);
}

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
async fn flush_compact_and_describe_stats() {
    let server = Server::start().await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f", "g"]).await;
    let describe = |mut c: strata_proto::v1::strata_client::StrataClient<
        tonic::transport::Channel,
    >| async move {
        c.describe_table(pb::DescribeTableRequest { table: "t".into() })
            .await
            .expect("describe")
            .into_inner()
            .stats
            .expect("stats")
    };
    // Three flushed generations, each overwriting half of the previous rows.
    for generation in 0..3u32 {
        let entries = (0..40)
            .map(|i| {
                let i = i + generation * 20;
                row_mutations(
                    format!("k{i:04}").as_bytes(),
                    vec![
                        set("f", b"a", format!("gen{generation}").as_bytes(), 0),
                        set("g", b"b", b"x", 0),
                    ],
                )
            })
            .collect();
        c.mutate_rows(pb::MutateRowsRequest {
            table: "t".into(),
            entries,
        })
        .await
        .expect("write");
        let before = describe(c.clone()).await;
        assert!(before.memtable_bytes > 0, "unflushed data is in memtables");
        c.flush(pb::FlushRequest { table: "t".into() })
            .await
            .expect("flush");
        let after = describe(c.clone()).await;
        assert_eq!(after.files, u64::from(generation) + 1, "{after:?}");
        assert_eq!(after.immutable_memtables, 0);
    }
    let s = describe(c.clone()).await;
    assert!(s.flushes >= 3, "{s:?}");
    assert!(s.file_bytes > 0);
    assert_eq!(s.file_cells, 3 * 80);
    assert_eq!(s.file_rows, 3 * 40);
    assert_eq!(
        s.levels.iter().map(|l| l.files).sum::<u64>(),
        s.files,
        "levels add up to the file count: {s:?}"
    );
    let fams: Vec<(&str, u64)> = s
        .families
        .iter()
        .map(|f| (f.name.as_str(), f.cells))
        .collect();
    assert_eq!(fams, [("f", 120), ("g", 120)]);
    assert!(
        s.families
            .iter()
            .all(|f| f.stored_bytes > 0 && f.raw_bytes > 0)
    );

    let before = scan_all(
        &mut c,
        pb::ScanRequest {
            table: "t".into(),
            ..Default::default()
        },
    )
    .await
    .expect("scan")
    .0;
    assert_eq!(before.len(), 80);
    c.compact(pb::CompactRequest {
        table: "t".into(),
        major: true,
    })
    .await
    .expect("compact");
    let s = describe(c.clone()).await;
    assert_eq!(s.files, 1, "a major compaction leaves one file: {s:?}");
    assert!(s.compactions >= 1);
    assert!(s.compaction_bytes_in > 0 && s.compaction_bytes_out > 0);
    assert_eq!(s.file_rows, 80);
    assert_eq!(s.file_cells, 160, "overwritten versions are dropped");
    let after = scan_all(
        &mut c,
        pb::ScanRequest {
            table: "t".into(),
            ..Default::default()
        },
    )
    .await
    .expect("scan")
    .0;
    assert_eq!(
        before, after,
        "compaction never changes what a read returns"
    );
    let row = get_row(&mut c, "t", b"k0045").await.expect("found");
    assert_eq!(row.cells[0].value, &b"gen2"[..]);
    // A minor compaction and a flush of an empty memtable are fine too.
    c.compact(pb::CompactRequest {
        table: "t".into(),
        major: false,
    })
    .await
    .expect("minor compact");
    c.flush(pb::FlushRequest { table: "t".into() })
        .await
        .expect("empty flush");
    let e = c
        .flush(pb::FlushRequest {
            table: "nope".into(),
        })
        .await
        .expect_err("flush unknown");
    assert_status(&e, Code::NotFound, &["nope"]);
    let e = c
        .compact(pb::CompactRequest {
            table: "nope".into(),
            major: true,
        })
        .await
        .expect_err("compact unknown");
    assert_status(&e, Code::NotFound, &["nope"]);
}

/// Write an SSTable of `rows` rows (`ing00000`...) with cells in families f and g.
fn build_sstable(path: &std::path::Path, first: usize, rows: usize) -> u64 {
    let fs = strata_engine::fs::real();
    let mut b = TableBuilder::new(
        &fs,
        path,
        TableBuildOptions {
            families: vec![
                strata_engine::FamilyOptions::new("f"),
                strata_engine::FamilyOptions::new("g"),
            ],
        },
    )
    .expect("builder");
    let mut cells = 0;
    for i in first..first + rows {
        let key = format!("ing{i:05}");
        for (family, q, v) in [
            ("f", "a", format!("fa{i}")),
            ("f", "b", format!("fb{i}")),
            ("g", "c", format!("gc{i}")),
        ] {
            b.add(&CellRef {
                row: key.as_bytes(),
                family,
                kind: CellKind::Put,
                qualifier: q.as_bytes(),
                ts: T0,
                seq: 0,
                value: v.as_bytes(),
            })
            .expect("add cell");
            cells += 1;
        }
    }
    b.finish().expect("finish");
    cells
}

#[tokio::test]
async fn bulk_ingest_adds_files_atomically_and_once_per_ingest_id() {
    let server = Server::start().await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f", "g"]).await;
    // Same version (timestamp T0) as the file's cells: the later write, the ingest, wins.
    c.mutate(pb::MutateRequest {
        table: "t".into(),
        row: b"ing00003".to_vec().into(),
        mutations: vec![set("f", b"a", b"written before ingest", T0)],
    })
    .await
    .expect("put");
    put(&mut c, "t", b"zz-live", "f", b"a", b"live").await;

    let dir = tempfile::tempdir().expect("tempdir");
    let p1 = dir.path().join("part-1.sst");
    let p2 = dir.path().join("part-2.sst");
    let c1 = build_sstable(&p1, 0, 100);
    let c2 = build_sstable(&p2, 100, 50);
    let req = pb::BulkIngestRequest {
        table: "t".into(),
        paths: vec![
            p1.to_string_lossy().into_owned(),
            p2.to_string_lossy().into_owned(),
        ],
        ingest_id: "load-1".into(),
    };
    let first = c
        .bulk_ingest(req.clone())
        .await
        .expect("ingest")
        .into_inner();
    assert_eq!(first.files, 2);
    assert_eq!(first.cells, c1 + c2);
    let on_disk =
        std::fs::metadata(&p1).expect("p1").len() + std::fs::metadata(&p2).expect("p2").len();
    assert_eq!(first.bytes, on_disk);

    let keys = scan_keys(&mut c, "t").await;
    assert_eq!(keys.len(), 151, "150 ingested rows plus zz-live");
    let row = get_row(&mut c, "t", b"ing00120").await.expect("found");
    assert_eq!(
        cells(&row),
        [
            triple("f", "a", "fa120"),
            triple("f", "b", "fb120"),
            triple("g", "c", "gc120")
        ]
    );
    // Ingested data is newer than what was written before it (by write order).
    let row = get_row(&mut c, "t", b"ing00003").await.expect("found");
    assert_eq!(cells(&row)[0], triple("f", "a", "fa3"));
    let files_after_first = c
        .describe_table(pb::DescribeTableRequest { table: "t".into() })
        .await
        .expect("describe")
        .into_inner()
        .stats
        .expect("stats")
        .files;

    // A write after the ingest, of the same version, wins over it.
    c.mutate(pb::MutateRequest {
        table: "t".into(),
        row: b"ing00004".to_vec().into(),
        mutations: vec![set("f", b"a", b"after", T0)],
    })
    .await
    .expect("put");

    // The same ingest id again: the first reply, nothing loaded twice.
    let again = c
        .bulk_ingest(req.clone())
        .await
        .expect("repeat ingest")
        .into_inner();
    assert_eq!(again, first);
    let stats = c
        .describe_table(pb::DescribeTableRequest { table: "t".into() })
        .await
        .expect("describe")
        .into_inner()
        .stats
        .expect("stats");
    assert_eq!(
        stats.files, files_after_first,
        "no file added by the repeat"
    );
    let row = get_row(&mut c, "t", b"ing00004").await.expect("found");
    assert_eq!(
        cells(&row)[0],
        triple("f", "a", "after"),
        "a repeated ingest must not shadow later writes"
    );
    assert_eq!(scan_keys(&mut c, "t").await.len(), 151);

    // Errors: relative path, missing file, a file with an unknown family, unknown table.
    let e = c
        .bulk_ingest(pb::BulkIngestRequest {
            table: "t".into(),
            paths: vec!["relative.sst".into()],
            ingest_id: "x1".into(),
        })
        .await
        .expect_err("relative path");
    assert_status(&e, Code::InvalidArgument, &["relative.sst"]);
    let missing = dir.path().join("missing.sst");
    let e = c
        .bulk_ingest(pb::BulkIngestRequest {
            table: "t".into(),
            paths: vec![missing.to_string_lossy().into_owned()],
            ingest_id: "x2".into(),
        })
        .await
        .expect_err("missing file");
    assert!(
        e.message().contains("missing.sst"),
        "message names the file: {e:?}"
    );
    create_table(&mut c, "only_f", &["f"]).await;
    let p3 = dir.path().join("part-3.sst");
    build_sstable(&p3, 500, 5);
    let e = c
        .bulk_ingest(pb::BulkIngestRequest {
            table: "only_f".into(),
            paths: vec![p3.to_string_lossy().into_owned()],
            ingest_id: "x3".into(),
        })
        .await
        .expect_err("unknown family in file");
    assert_status(&e, Code::NotFound, &["g"]);
    assert!(
        scan_keys(&mut c, "only_f").await.is_empty(),
        "nothing adopted"
    );
    let e = c
        .bulk_ingest(pb::BulkIngestRequest {
            table: "nope".into(),
            paths: vec![p3.to_string_lossy().into_owned()],
            ingest_id: "x4".into(),
        })
        .await
        .expect_err("unknown table");
    assert_status(&e, Code::NotFound, &["nope"]);

    // Ingested files survive a restart, and the ingest id is still remembered.
    let mut server = server;
    let status = server.terminate().await;
    assert!(status.success(), "{status:?}\n{}", server.stderr());
    server.restart().await;
    let mut c = server.client().await;
    assert_eq!(scan_keys(&mut c, "t").await.len(), 151);
    let again = c
        .bulk_ingest(req)
        .await
        .expect("repeat after restart")
        .into_inner();
    assert_eq!(again, first);
    assert_eq!(scan_keys(&mut c, "t").await.len(), 151);
    let row = get_row(&mut c, "t", b"ing00004").await.expect("found");
    assert_eq!(cells(&row)[0], triple("f", "a", "after"));
}

#[tokio::test]
async fn errors_have_the_documented_codes_and_name_the_problem() {
    let server = Server::start().await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f"]).await;

    // Unknown table: every data RPC.
    let e = c
        .get(pb::GetRequest {
            table: "ghost".into(),
            row: b"r".to_vec().into(),
            ..Default::default()
        })
        .await
        .expect_err("get");
    assert_status(&e, Code::NotFound, &["ghost"]);
    let e = c
        .mutate(pb::MutateRequest {
            table: "ghost".into(),
            row: b"r".to_vec().into(),
            mutations: vec![set("f", b"q", b"v", 0)],
        })
        .await
        .expect_err("mutate");
    assert_status(&e, Code::NotFound, &["ghost"]);
    let e = c
        .mutate_rows(pb::MutateRowsRequest {
            table: "ghost".into(),
            entries: vec![row_mutations(b"r", vec![set("f", b"q", b"v", 0)])],
        })
        .await
        .expect_err("mutate rows");
    assert_status(&e, Code::NotFound, &["ghost"]);
    let e = c
        .describe_table(pb::DescribeTableRequest {
            table: "ghost".into(),
        })
        .await
        .expect_err("describe");
    assert_status(&e, Code::NotFound, &["ghost"]);
    let e = c
        .alter_table(pb::AlterTableRequest {
            table: "ghost".into(),
            add_families: vec![family("x")],
            ..Default::default()
        })
        .await
        .expect_err("alter");
    assert_status(&e, Code::NotFound, &["ghost"]);

    // Unknown family: in a write and in a read selection.
    let e = c
        .mutate(pb::MutateRequest {
            table: "t".into(),
            row: b"r".to_vec().into(),
            mutations: vec![set("nofam", b"q", b"v", 0)],
        })
        .await
        .expect_err("unknown family");
    assert_status(&e, Code::NotFound, &["nofam"]);
    for m in [delete_family("nofam2"), delete_cells("nofam2", b"q", 0)] {
        let e = c
            .mutate(pb::MutateRequest {
                table: "t".into(),
                row: b"r".to_vec().into(),
                mutations: vec![m],
            })
            .await
            .expect_err("delete in unknown family");
        assert_status(&e, Code::NotFound, &["nofam2"]);
    }
    let e = c
        .get(pb::GetRequest {
            table: "t".into(),
            row: b"r".to_vec().into(),
            columns: vec![column("nofam3", b"")],
            ..Default::default()
        })
        .await
        .expect_err("get unknown family");
    assert_status(&e, Code::NotFound, &["nofam3"]);

    // Row keys: empty, oversized (default limit 4 KiB).
    let e = c
        .mutate(pb::MutateRequest {
            table: "t".into(),
            row: Vec::new().into(),
            mutations: vec![set("f", b"q", b"v", 0)],
        })
        .await
        .expect_err("empty key");
    assert_status(&e, Code::InvalidArgument, &["row key", "empty"]);
    let e = c
        .mutate(pb::MutateRequest {
            table: "t".into(),
            row: vec![b'k'; 4097].into(),
            mutations: vec![set("f", b"q", b"v", 0)],
        })
        .await
        .expect_err("long key");
    assert_status(&e, Code::InvalidArgument, &["row key", "4097"]);
    // Exactly at the limit is fine.
    c.mutate(pb::MutateRequest {
        table: "t".into(),
        row: vec![b'k'; 4096].into(),
        mutations: vec![set("f", b"q", b"v", 0)],
    })
    .await
    .expect("4 KiB key is allowed");
    let e = c
        .get(pb::GetRequest {
            table: "t".into(),
            row: Vec::new().into(),
            ..Default::default()
        })
        .await
        .expect_err("get empty key");
    assert_status(&e, Code::InvalidArgument, &["row key"]);

    // Oversized value (default limit 8 MiB; the message limit is above it).
    let e = c
        .mutate(pb::MutateRequest {
            table: "t".into(),
            row: b"big".to_vec().into(),
            mutations: vec![set("f", b"q", &vec![0u8; 8 * 1024 * 1024 + 1], 0)],
        })
        .await
        .expect_err("oversized value");
    assert_status(&e, Code::InvalidArgument, &["value", "8388609"]);
    c.mutate(pb::MutateRequest {
        table: "t".into(),
        row: b"big".to_vec().into(),
        mutations: vec![set("f", b"q", &vec![7u8; 8 * 1024 * 1024], 0)],
    })
    .await
    .expect("an 8 MiB value is allowed");
    let row = get_row(&mut c, "t", b"big").await.expect("found");
    assert_eq!(row.cells[0].value.len(), 8 * 1024 * 1024);

    // Bad table and family names.
    for bad in ["bad name", "-starts-with-dash", "slash/name", "ünïcode", ""] {
        let e = c
            .create_table(pb::CreateTableRequest {
                table: bad.into(),
                families: vec![family("f")],
            })
            .await
            .expect_err("bad table name");
        assert_status(&e, Code::InvalidArgument, &["table", bad]);
    }
    let long = "x".repeat(256);
    let e = c
        .create_table(pb::CreateTableRequest {
            table: long.clone(),
            families: vec![family("f")],
        })
        .await
        .expect_err("long table name");
    assert_status(&e, Code::InvalidArgument, &["255"]);
    c.create_table(pb::CreateTableRequest {
        table: "y".repeat(255),
        families: vec![family("f")],
    })
    .await
    .expect("a 255-byte name is allowed");
    let e = c
        .create_table(pb::CreateTableRequest {
            table: "t2".into(),
            families: vec![family("bad:family")],
        })
        .await
        .expect_err("bad family name");
    assert_status(&e, Code::InvalidArgument, &["family", "bad:family"]);
    let e = c
        .get(pb::GetRequest {
            table: "bad name".into(),
            row: b"r".to_vec().into(),
            ..Default::default()
        })
        .await
        .expect_err("read with a bad table name");
    assert_status(&e, Code::InvalidArgument, &["bad name"]);

    // Existing table.
    let e = c
        .create_table(pb::CreateTableRequest {
            table: "t".into(),
            families: vec![family("f")],
        })
        .await
        .expect_err("exists");
    assert_status(&e, Code::AlreadyExists, &["t"]);

    // Other bad input: a mutation without a kind, an empty family selector, a reversed time
    // range, an out-of-range zstd level.
    let e = c
        .mutate(pb::MutateRequest {
            table: "t".into(),
            row: b"r".to_vec().into(),
            mutations: vec![pb::Mutation { kind: None }],
        })
        .await
        .expect_err("empty mutation");
    assert_status(&e, Code::InvalidArgument, &["mutation 0"]);
    let e = c
        .get(pb::GetRequest {
            table: "t".into(),
            row: b"r".to_vec().into(),
            time_range: Some(pb::TimeRange {
                start_micros: 10,
                end_micros: 5,
            }),
            ..Default::default()
        })
        .await
        .expect_err("reversed range");
    assert_status(&e, Code::InvalidArgument, &["time range"]);
    let e = c
        .create_table(pb::CreateTableRequest {
            table: "t3".into(),
            families: vec![pb::FamilyOptions {
                name: "f".into(),
                compression_level: 99,
                ..Default::default()
            }],
        })
        .await
        .expect_err("bad level");
    assert_status(&e, Code::InvalidArgument, &["99"]);
    let e = c
        .create_table(pb::CreateTableRequest {
            table: "t4".into(),
            families: vec![],
        })
        .await
        .expect_err("no families");
    assert_status(&e, Code::InvalidArgument, &["family"]);

    // Nothing above changed the table beyond the allowed writes.
    let keys = scan_keys(&mut c, "t").await;
    assert_eq!(keys.len(), 2, "only the 4 KiB key and 'big' were written");
}

#[tokio::test]
async fn requests_over_the_message_limit_are_resource_exhausted() {
    // Small limits so the test moves little data: values up to 64 KiB, messages up to 192 KiB.
    let server = Server::start_with_args(&[
        "--max-value-bytes",
        "64KiB",
        "--max-row-key-bytes",
        "1KiB",
        "--max-qualifier-bytes",
        "1KiB",
        "--max-message-bytes",
        "192KiB",
    ])
    .await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f"]).await;

    // Under the message limit but over the value limit: INVALID_ARGUMENT naming the value.
    let e = c
        .mutate(pb::MutateRequest {
            table: "t".into(),
            row: b"r".to_vec().into(),
            mutations: vec![set("f", b"q", &vec![1u8; 100 * 1024], 0)],
        })
        .await
        .expect_err("value over limit");
    assert_status(&e, Code::InvalidArgument, &["value"]);
    let e = c
        .mutate(pb::MutateRequest {
            table: "t".into(),
            row: vec![b'k'; 1025].into(),
            mutations: vec![set("f", b"q", b"v", 0)],
        })
        .await
        .expect_err("key over configured limit");
    assert_status(&e, Code::InvalidArgument, &["row key"]);

    // Over the message limit: RESOURCE_EXHAUSTED, for unary and streaming calls.
    let big = vec![2u8; 300 * 1024];
    let e = c
        .mutate(pb::MutateRequest {
            table: "t".into(),
            row: b"r".to_vec().into(),
            mutations: vec![set("f", b"q", &big, 0)],
        })
        .await
        .expect_err("message over limit");
    assert_status(&e, Code::ResourceExhausted, &[]);
    assert!(
        e.message().contains("limit") || e.message().contains("large"),
        "the message says what was too large: {e:?}"
    );
    let entries = (0..10)
        .map(|i| {
            row_mutations(
                format!("r{i}").as_bytes(),
                vec![set("f", b"q", &vec![3u8; 30 * 1024], 0)],
            )
        })
        .collect();
    let e = c
        .mutate_rows(pb::MutateRowsRequest {
            table: "t".into(),
            entries,
        })
        .await
        .expect_err("300 KiB of rows in one message");
    assert_status(&e, Code::ResourceExhausted, &[]);

    let (tx, rx) = mpsc::channel(4);
    tx.send(batch("t", 0, 2, 1)).await.expect("send");
    tx.send(pb::MutateRowsRequest {
        table: "t".into(),
        entries: vec![row_mutations(b"huge", vec![set("f", b"q", &big, 0)])],
    })
    .await
    .expect("send");
    drop(tx);
    let mut acks = c
        .mutate_stream(ReceiverStream::new(rx))
        .await
        .expect("open")
        .into_inner();
    let ack = acks.message().await.expect("first ack").expect("an ack");
    assert_eq!(ack.batches, 1);
    let e = acks.message().await.expect_err("oversized batch");
    assert_status(&e, Code::ResourceExhausted, &["batch 1"]);

    // The server is still fine, and nothing oversized was written.
    let keys = scan_keys(&mut c, "t").await;
    assert_eq!(keys, [b"s00000".to_vec(), b"s00001".to_vec()]);
}

#[tokio::test]
async fn sigterm_exits_cleanly_and_data_survives_restart() {
    let mut server = Server::start().await;
    let mut c = server.client().await;
    c.create_table(pb::CreateTableRequest {
        table: "t".into(),
        families: vec![
            pb::FamilyOptions {
                name: "f".into(),
                max_versions: 2,
                ..Default::default()
            },
            family("g"),
        ],
    })
    .await
    .expect("create");
    // Some data flushed to a file, some only in the WAL/memtable, a delete, versions.
    for i in 0..20 {
        put(
            &mut c,
            "t",
            format!("flushed{i:02}").as_bytes(),
            "f",
            b"q",
            b"v1",
        )
        .await;
    }
    c.flush(pb::FlushRequest { table: "t".into() })
        .await
        .expect("flush");
    for i in 0..20 {
        put(
            &mut c,
            "t",
            format!("memtable{i:02}").as_bytes(),
            "g",
            b"q",
            b"m",
        )
        .await;
    }
    c.mutate(pb::MutateRequest {
        table: "t".into(),
        row: b"flushed00".to_vec().into(),
        mutations: vec![set("f", b"q", b"v2", 0)],
    })
    .await
    .expect("second version");
    c.mutate(pb::MutateRequest {
        table: "t".into(),
        row: b"flushed01".to_vec().into(),
        mutations: vec![delete_row()],
    })
    .await
    .expect("delete");
    let before = scan_all(
        &mut c,
        pb::ScanRequest {
            table: "t".into(),
            max_versions: 5,
            ..Default::default()
        },
    )
    .await
    .expect("scan")
    .0;
    assert_eq!(before.len(), 39);
    drop(c);

    let status = server.terminate().await;
    assert_eq!(
        status.code(),
        Some(0),
        "SIGTERM must exit with code 0\n--- stderr\n{}",
        server.stderr()
    );
    server.restart().await;
    let mut c = server.client().await;
    let after = scan_all(
        &mut c,
        pb::ScanRequest {
            table: "t".into(),
            max_versions: 5,
            ..Default::default()
        },
    )
    .await
    .expect("scan")
    .0;
    assert_eq!(
        before, after,
        "same data, versions and deletes after a restart"
    );
    let d = c
        .describe_table(pb::DescribeTableRequest { table: "t".into() })
        .await
        .expect("describe")
        .into_inner();
    assert_eq!(d.families[0].max_versions, 2, "schema survives too");
    let row = get_with(
        &mut c,
        pb::GetRequest {
            table: "t".into(),
            row: b"flushed00".to_vec().into(),
            max_versions: 5,
            ..Default::default()
        },
    )
    .await
    .expect("found");
    let vals: Vec<&[u8]> = row.cells.iter().map(|c| c.value.as_ref()).collect();
    assert_eq!(vals, [b"v2".as_slice(), b"v1".as_slice()]);
    // Still writable after the restart.
    put(&mut c, "t", b"after-restart", "g", b"q", b"ok").await;
    assert!(get_row(&mut c, "t", b"after-restart").await.is_some());
}

#[tokio::test]
async fn sigkill_during_writes_keeps_every_acknowledged_row() {
    let mut server = Server::start().await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f", "g"]).await;

    // A writer sends MutateRows batches back to back and records each acknowledged batch.
    let acked: Arc<Mutex<Vec<usize>>> = Arc::default();
    let writer = {
        let acked = acked.clone();
        let mut c = c.clone();
        tokio::spawn(async move {
            for b in 0..5000usize {
                let entries = (0..20)
                    .map(|i| {
                        let key = format!("b{b:05}-r{i:02}");
                        row_mutations(
                            key.as_bytes(),
                            vec![
                                set("f", b"a", key.as_bytes(), 0),
                                set("g", b"b", format!("{b}").as_bytes(), 0),
                            ],
                        )
                    })
                    .collect();
                match c
                    .mutate_rows(pb::MutateRowsRequest {
                        table: "t".into(),
                        entries,
                    })
                    .await
                {
                    Ok(_) => acked.lock().expect("lock").push(b),
                    Err(_) => return,
                }
            }
        })
    };
    // Kill once enough batches are acknowledged (bounded wait), while the writer goes on.
    for _ in 0..600 {
        if acked.lock().expect("lock").len() >= 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let n_before_kill = acked.lock().expect("lock").len();
    assert!(
        n_before_kill >= 40,
        "writer made too little progress: {n_before_kill}"
    );
    server.kill();
    tokio::time::timeout(Duration::from_secs(60), writer)
        .await
        .expect("writer stops after the kill")
        .expect("writer task");
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() < 5000, "the kill interrupted the writer");

    server.restart().await;
    let mut c = server.client().await;
    let (rows, _) = scan_all(
        &mut c,
        pb::ScanRequest {
            table: "t".into(),
            ..Default::default()
        },
    )
    .await
    .expect("scan after crash");
    let present: std::collections::HashMap<Vec<u8>, &pb::Row> =
        rows.iter().map(|r| (r.key.to_vec(), r)).collect();
    for b in &acked {
        for i in 0..20 {
            let key = format!("b{b:05}-r{i:02}");
            let row = present
                .get(key.as_bytes())
                .unwrap_or_else(|| panic!("acknowledged row {key} lost after SIGKILL"));
            assert_eq!(
                cells(row),
                [
                    ("f".to_owned(), b"a".to_vec(), key.as_bytes().to_vec()),
                    ("g".to_owned(), b"b".to_vec(), format!("{b}").into_bytes()),
                ],
                "row {key} is whole"
            );
        }
    }
    // Every row present is whole (a row is atomic across families), and at most one
    // unacknowledged batch (the one in flight) may have been applied.
    assert!(rows.iter().all(|r| r.cells.len() == 2), "partial row found");
    let max_acked = acked.iter().max().copied().unwrap_or(0);
    assert!(
        rows.len() <= (max_acked + 2) * 20,
        "{} rows but only batches up to {max_acked} were sent",
        rows.len()
    );
    // The store accepts writes again.
    put(&mut c, "t", b"after", "f", b"a", b"ok").await;
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
async fn a_second_server_on_the_same_data_dir_fails_clearly() {
    let server = Server::start().await;
    let other = free_addr().to_string();
    let data = server.data_dir().to_string_lossy().into_owned();
    let out = run_strata(&["serve", "--data-dir", &data, "--listen", &other]);
    out.assert_failure();
    assert!(
        out.stderr.contains("lock") && out.stderr.contains(&data),
        "the error names the lock and the directory:\n{}",
        out.stderr
    );
    // The first server is unaffected.
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f"]).await;
    put(&mut c, "t", b"r", "f", b"q", b"v").await;
    assert!(get_row(&mut c, "t", b"r").await.is_some());
}

#[tokio::test]
async fn health_and_reflection_are_served() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_reflection::pb::{v1, v1alpha};

    let server = Server::start().await;
    assert_eq!(server.health("").await, Some(ServingStatus::Serving));
    assert_eq!(
        server.health("strata.v1.Strata").await,
        Some(ServingStatus::Serving)
    );

    let channel = server.channel().await;
    let mut r = v1::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let req = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut replies = r
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .expect("reflection v1")
        .into_inner();
    let reply = replies.message().await.expect("reply").expect("one reply");
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        reply.message_response
    else {
        panic!("unexpected reflection reply {reply:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.iter().any(|n| n == "strata.v1.Strata"), "{names:?}");
    assert!(
        names.iter().any(|n| n == "grpc.health.v1.Health"),
        "{names:?}"
    );

    // The descriptor of the service is reachable by symbol (what grpcurl does).
    let req = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1::server_reflection_request::MessageRequest::FileContainingSymbol(
                "strata.v1.Strata".into(),
            ),
        ),
    };
    let mut replies = r
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .expect("reflection v1")
        .into_inner();
    let reply = replies.message().await.expect("reply").expect("one reply");
    assert!(
        matches!(
            reply.message_response,
            Some(v1::server_reflection_response::MessageResponse::FileDescriptorResponse(ref f))
                if !f.file_descriptor_proto.is_empty()
        ),
        "{reply:?}"
    );

    // grpcurl 1.8 speaks only v1alpha.
    let mut r = v1alpha::server_reflection_client::ServerReflectionClient::new(channel);
    let req = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut replies = r
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .expect("reflection v1alpha")
        .into_inner();
    let reply = replies.message().await.expect("reply").expect("one reply");
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        reply.message_response
    else {
        panic!("unexpected reflection reply {reply:?}");
    };
    assert!(list.service.iter().any(|s| s.name == "strata.v1.Strata"));
}

#[tokio::test]
async fn dropped_tables_and_families_stay_dropped_after_a_crash() {
    let mut server = Server::start().await;
    let mut c = server.client().await;
    // Unflushed data (only in the WAL) in a table that is then dropped and created again,
    // and in a family that is dropped and added again.
    create_table(&mut c, "t", &["f"]).await;
    put(&mut c, "t", b"old-row", "f", b"q", b"old table").await;
    c.delete_table(pb::DeleteTableRequest { table: "t".into() })
        .await
        .expect("drop");
    create_table(&mut c, "t", &["f", "g"]).await;
    put(&mut c, "t", b"g-row", "g", b"q", b"old family").await;
    put(&mut c, "t", b"keep", "f", b"q", b"kept").await;
    c.alter_table(pb::AlterTableRequest {
        table: "t".into(),
        drop_families: vec!["g".into()],
        ..Default::default()
    })
    .await
    .expect("drop g");
    c.alter_table(pb::AlterTableRequest {
        table: "t".into(),
        add_families: vec![family("g")],
        ..Default::default()
    })
    .await
    .expect("re-add g");
    // A dropped table that is not created again.
    create_table(&mut c, "gone", &["f"]).await;
    put(&mut c, "gone", b"r", "f", b"q", b"v").await;
    c.delete_table(pb::DeleteTableRequest {
        table: "gone".into(),
    })
    .await
    .expect("drop gone");
    let expect = |keys: Vec<Vec<u8>>| {
        assert_eq!(keys, [b"keep".to_vec()], "only the live row is visible");
    };
    expect(scan_keys(&mut c, "t").await);
    drop(c);

    // WAL replay after SIGKILL must not bring back what was dropped.
    server.kill();
    server.restart().await;
    let mut c = server.client().await;
    expect(scan_keys(&mut c, "t").await);
    let tables = c
        .list_tables(pb::ListTablesRequest {})
        .await
        .expect("list")
        .into_inner()
        .tables;
    assert_eq!(tables, ["t"]);
    // And neither does a flush + compaction after the restart, nor a second restart.
    c.flush(pb::FlushRequest { table: "t".into() })
        .await
        .expect("flush");
    c.compact(pb::CompactRequest {
        table: "t".into(),
        major: true,
    })
    .await
    .expect("compact");
    expect(scan_keys(&mut c, "t").await);
    drop(c);
    server.kill();
    server.restart().await;
    let mut c = server.client().await;
    expect(scan_keys(&mut c, "t").await);
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

#[tokio::test]
async fn mutate_stream_edge_batches() {
    let server = Server::start().await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f"]).await;
    // An empty batch is acknowledged with unchanged row/cell totals; a batch with a
    // delete counts its marker.
    let (tx, rx) = mpsc::channel(4);
    tx.send(batch("t", 0, 2, 1)).await.expect("send");
    tx.send(pb::MutateRowsRequest {
        table: "t".into(),
        entries: vec![],
    })
    .await
    .expect("send");
    tx.send(pb::MutateRowsRequest {
        table: "t".into(),
        entries: vec![row_mutations(b"s00000", vec![delete_row()])],
    })
    .await
    .expect("send");
    drop(tx);
    let acks: Vec<pb::MutateStreamResponse> = {
        let mut s = c
            .mutate_stream(ReceiverStream::new(rx))
            .await
            .expect("open")
            .into_inner();
        let mut v = Vec::new();
        while let Some(a) = s.message().await.expect("ack") {
            v.push(a);
            assert!(v.len() <= 3);
        }
        v
    };
    assert_eq!(acks.len(), 3, "{acks:?}");
    assert_eq!((acks[0].rows, acks[0].cells, acks[0].batches), (2, 2, 1));
    assert_eq!((acks[1].rows, acks[1].cells, acks[1].batches), (2, 2, 2));
    assert_eq!(acks[2].batches, 3);
    assert_eq!(acks[2].rows, 3);
    assert!(acks[2].cells >= 3, "a delete marker counts: {acks:?}");
    assert_eq!(scan_keys(&mut c, "t").await, [b"s00001".to_vec()]);

    // A stream on which the client sends nothing ends cleanly with no acknowledgement.
    let (tx, rx) = mpsc::channel::<pb::MutateRowsRequest>(1);
    drop(tx);
    let mut s = c
        .mutate_stream(ReceiverStream::new(rx))
        .await
        .expect("open")
        .into_inner();
    assert!(s.message().await.expect("clean end").is_none());
}

/// One stored version: (row, family, qualifier, timestamp, value).
type Version = (Vec<u8>, String, Vec<u8>, i64, Vec<u8>);

/// Every version of every cell of a table.
async fn dump(
    c: &mut strata_proto::v1::strata_client::StrataClient<tonic::transport::Channel>,
    table: &str,
) -> Vec<Version> {
    let (rows, _) = scan_all(
        c,
        pb::ScanRequest {
            table: table.into(),
            max_versions: 100,
            ..Default::default()
        },
    )
    .await
    .expect("scan");
    rows.into_iter()
        .flat_map(|r| {
            let key = r.key.clone();
            r.cells.into_iter().map(move |c| {
                (
                    key.to_vec(),
                    c.family,
                    c.qualifier.to_vec(),
                    c.timestamp_micros,
                    c.value.to_vec(),
                )
            })
        })
        .collect()
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

#[tokio::test]
async fn lowering_max_versions_is_not_undone_by_raising_it() {
    // A family keeps at most max_versions versions, and compaction never changes what a read
    // returns: so versions hidden by lowering max_versions must stay hidden when it is raised
    // again, whether or not a compaction ran in between.
    let server = Server::start().await;
    let mut c = server.client().await;
    for table in ["compacted", "not_compacted"] {
        c.create_table(pb::CreateTableRequest {
            table: table.into(),
            families: vec![pb::FamilyOptions {
                name: "f".into(),
                max_versions: 3,
                ..Default::default()
            }],
        })
        .await
        .expect("create");
        c.mutate(pb::MutateRequest {
            table: table.into(),
            row: b"r".to_vec().into(),
            mutations: (1..=3)
                .map(|i| set("f", b"q", format!("v{i}").as_bytes(), T0 + i))
                .collect(),
        })
        .await
        .expect("put");
        c.flush(pb::FlushRequest {
            table: table.into(),
        })
        .await
        .expect("flush");
        let modify = |n: u32| pb::AlterTableRequest {
            table: table.into(),
            modify_families: vec![pb::FamilyOptions {
                name: "f".into(),
                max_versions: n,
                ..Default::default()
            }],
            ..Default::default()
        };
        c.alter_table(modify(1)).await.expect("lower");
        assert_eq!(dump(&mut c, table).await.len(), 1);
        if table == "compacted" {
            c.compact(pb::CompactRequest {
                table: table.into(),
                major: true,
            })
            .await
            .expect("compact");
        }
        c.alter_table(modify(3)).await.expect("raise");
    }
    let compacted = dump(&mut c, "compacted").await;
    let not_compacted = dump(&mut c, "not_compacted").await;
    assert_eq!(compacted.len(), 1, "{compacted:?}");
    assert_eq!(
        not_compacted, compacted,
        "the same history reads differently depending on whether a compaction ran"
    );
}

#[tokio::test]
async fn sigterm_with_open_connections_and_streams_exits_cleanly() {
    // A grace longer than the helper's 30 s wait: if shutdown waited for the open streams
    // or idle connections to go away on their own, terminate() would panic.
    let mut server = Server::start_with_args(&["--shutdown-grace", "120s"]).await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f"]).await;
    let entries = (0..100)
        .map(|i| row_mutations(format!("r{i:03}").as_bytes(), vec![set("f", b"q", b"v", 0)]))
        .collect();
    c.mutate_rows(pb::MutateRowsRequest {
        table: "t".into(),
        entries,
    })
    .await
    .expect("write");
    // An idle connection, a half-read scan and an open MutateStream with one acked batch.
    let _idle = server.client().await;
    let mut scan = c
        .scan(pb::ScanRequest {
            table: "t".into(),
            batch_size: 1,
            ..Default::default()
        })
        .await
        .expect("scan")
        .into_inner();
    assert_eq!(
        scan.message()
            .await
            .expect("first reply")
            .expect("a reply")
            .rows
            .len(),
        1
    );
    let (tx, rx) = mpsc::channel(4);
    let mut acks = c
        .mutate_stream(ReceiverStream::new(rx))
        .await
        .expect("open")
        .into_inner();
    tx.send(batch("t", 0, 3, 1)).await.expect("send");
    let ack = acks.message().await.expect("ack").expect("an ack");
    assert_eq!(ack.batches, 1);

    let status = server.terminate().await;
    assert_eq!(
        status.code(),
        Some(0),
        "exit code after SIGTERM\n{}",
        server.stderr()
    );
    // The open stream was ended by the server (with a status or a clean end), not left open.
    match tokio::time::timeout(Duration::from_secs(10), acks.message()).await {
        Ok(Ok(None)) => {}
        Ok(Err(s)) => assert!(
            matches!(
                s.code(),
                Code::Unavailable | Code::Cancelled | Code::Unknown
            ),
            "{s:?}"
        ),
        Ok(Ok(Some(a))) => panic!("unexpected ack after shutdown: {a:?}"),
        Err(_) => panic!("the MutateStream stayed open after the server exited"),
    }
    drop(tx);
    server.restart().await;
    let mut c = server.client().await;
    let keys = scan_keys(&mut c, "t").await;
    assert_eq!(
        keys.len(),
        103,
        "the rows and the acknowledged stream batch survive"
    );
}

#[tokio::test]
async fn bulk_ingest_links_or_copies_so_sources_can_be_removed() {
    let mut server = Server::start().await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f", "g"]).await;
    // One file on the data directory's filesystem (hard-linked) and, where /dev/shm is a
    // separate tmpfs, one on another filesystem (copied and fsynced).
    let same_fs = tempfile::tempdir().expect("tempdir");
    let mut sources = vec![same_fs.path().join("same.sst")];
    build_sstable(&sources[0], 0, 20);
    let shm = std::path::Path::new("/dev/shm");
    let other_fs = if shm.is_dir() {
        tempfile::tempdir_in(shm).ok()
    } else {
        None
    };
    if let Some(d) = &other_fs {
        let p = d.path().join("other.sst");
        build_sstable(&p, 20, 20);
        sources.push(p);
    }
    let r = c
        .bulk_ingest(pb::BulkIngestRequest {
            table: "t".into(),
            paths: sources
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect(),
            ingest_id: "links".into(),
        })
        .await
        .expect("ingest")
        .into_inner();
    assert_eq!(r.files, sources.len() as u64);
    let rows = 20 * sources.len();
    // The store owns its copies: removing the sources changes nothing, even after a crash.
    for p in &sources {
        std::fs::remove_file(p).expect("remove source");
    }
    assert_eq!(scan_keys(&mut c, "t").await.len(), rows);
    drop(c);
    server.kill();
    server.restart().await;
    let mut c = server.client().await;
    let (all, _) = scan_all(
        &mut c,
        pb::ScanRequest {
            table: "t".into(),
            ..Default::default()
        },
    )
    .await
    .expect("scan");
    assert_eq!(all.len(), rows);
    assert!(all.iter().all(|r| r.cells.len() == 3));
    c.compact(pb::CompactRequest {
        table: "t".into(),
        major: true,
    })
    .await
    .expect("compact ingested files");
    assert_eq!(scan_keys(&mut c, "t").await.len(), rows);
}

#[tokio::test]
async fn sigkill_during_mutate_stream_keeps_every_acknowledged_batch() {
    let mut server = Server::start().await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f"]).await;
    // The producer keeps up to 8 batches in flight; the acknowledgements say what is durable.
    let (tx, rx) = mpsc::channel(8);
    let producer = tokio::spawn(async move {
        for b in 0..5000usize {
            if tx.send(batch("t", b * 10, 10, 2)).await.is_err() {
                return;
            }
        }
    });
    let mut acks = c
        .mutate_stream(ReceiverStream::new(rx))
        .await
        .expect("open")
        .into_inner();
    let mut acked = 0u64;
    for _ in 0..5000 {
        let ack = tokio::time::timeout(Duration::from_secs(30), acks.message())
            .await
            .expect("ack in time")
            .expect("ack")
            .expect("stream open");
        assert_eq!(ack.batches, acked + 1);
        assert_eq!(ack.rows, ack.batches * 10);
        assert_eq!(ack.cells, ack.batches * 20);
        acked = ack.batches;
        if acked >= 30 {
            break;
        }
    }
    server.kill();
    // Acknowledgements that were already on their way count too.
    loop {
        match tokio::time::timeout(Duration::from_secs(30), acks.message()).await {
            Ok(Ok(Some(ack))) => acked = ack.batches,
            Ok(_) => break,
            Err(_) => panic!("the stream did not end after the server was killed"),
        }
    }
    producer.abort();
    server.restart().await;
    let mut c = server.client().await;
    let keys = scan_keys(&mut c, "t").await;
    let acked_rows = usize::try_from(acked).expect("fits") * 10;
    assert!(
        keys.len() >= acked_rows,
        "{} rows after restart, {acked_rows} acknowledged",
        keys.len()
    );
    let expected: Vec<Vec<u8>> = (0..acked_rows)
        .map(|i| format!("s{i:05}").into_bytes())
        .collect();
    assert_eq!(
        &keys[..acked_rows],
        expected.as_slice(),
        "every acknowledged batch, in order"
    );
    // Anything beyond the acks comes from the few batches in flight at the kill.
    assert!(
        keys.len() <= acked_rows + 20 * 10,
        "{} rows, {acked_rows} acknowledged",
        keys.len()
    );
}
