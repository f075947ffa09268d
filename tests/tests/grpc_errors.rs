//! The brief's error contract over gRPC against the real `strata serve`: every documented
//! status code with a message naming the problem, and the message-size limit.

use strata_tests::grpc::{batch, row_mutations};
use strata_tests::v1 as pb;
use strata_tests::*;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

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
