//! In-process tests of the server library's gRPC behaviour that the engine cannot show:
//! status codes and messages, oversized messages, MutateStream acknowledgements and batch
//! indexes, scan batching and the idle timeout, health and reflection, shutdown.
//!
//! These tests never start the `strata` binary (the workspace's end-to-end tests do that).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::time::Duration;

use strata_engine::{Db, DbOptions};
use strata_proto::v1 as pb;
use strata_server::{Client, Remote, ServerHandle, ServiceOptions};
use tonic::Code;

struct Fixture {
    _dir: tempfile::TempDir,
    db: Db,
    server: ServerHandle,
    client: Client,
}

async fn fixture(options: ServiceOptions) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(dir.path(), DbOptions::default()).expect("open store");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let server = strata_server::start(db.clone(), listener, options)
        .await
        .expect("start");
    let client = Remote::plain(server.url())
        .connect()
        .await
        .expect("connect");
    Fixture {
        _dir: dir,
        db,
        server,
        client,
    }
}

impl Fixture {
    async fn stop(self) {
        self.server
            .shutdown(Duration::from_secs(5))
            .await
            .expect("shutdown");
        self.db.close().expect("close");
    }
}

fn family(name: &str) -> pb::FamilyOptions {
    pb::FamilyOptions {
        name: name.into(),
        ..Default::default()
    }
}

fn set(family: &str, q: &str, v: &[u8]) -> pb::Mutation {
    pb::Mutation {
        kind: Some(pb::mutation::Kind::SetCell(pb::SetCell {
            family: family.into(),
            qualifier: q.as_bytes().to_vec().into(),
            value: v.to_vec().into(),
            timestamp_micros: 0,
        })),
    }
}

fn rows(range: std::ops::Range<u32>, value: &[u8]) -> Vec<pb::RowMutations> {
    range
        .map(|i| pb::RowMutations {
            row: format!("row{i:05}").into_bytes().into(),
            mutations: vec![set("f", "q", value)],
        })
        .collect()
}

async fn create(c: &mut Client, table: &str) {
    c.create_table(pb::CreateTableRequest {
        table: table.into(),
        families: vec![family("f")],
    })
    .await
    .expect("create table");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_name_the_problem() {
    let mut fx = fixture(ServiceOptions::default()).await;
    let c = &mut fx.client;
    create(c, "t").await;

    let e = c
        .create_table(pb::CreateTableRequest {
            table: "t".into(),
            families: vec![family("f")],
        })
        .await
        .expect_err("exists");
    assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");

    let e = c
        .get(pb::GetRequest {
            table: "missing".into(),
            row: b"r".to_vec().into(),
            ..Default::default()
        })
        .await
        .expect_err("no table");
    assert_eq!(e.code(), Code::NotFound);
    assert!(e.message().contains("missing"), "{}", e.message());

    let e = c
        .mutate(pb::MutateRequest {
            table: "t".into(),
            row: b"r".to_vec().into(),
            mutations: vec![set("nofam", "q", b"v")],
        })
        .await
        .expect_err("no family");
    assert_eq!(e.code(), Code::NotFound);
    assert!(e.message().contains("nofam"), "{}", e.message());

    for (row, what) in [(Vec::new(), "empty"), (vec![b'k'; 5000], "4096")] {
        let e = c
            .mutate(pb::MutateRequest {
                table: "t".into(),
                row: row.into(),
                mutations: vec![set("f", "q", b"v")],
            })
            .await
            .expect_err("bad key");
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().contains(what), "{}", e.message());
    }

    let e = c
        .create_table(pb::CreateTableRequest {
            table: "bad name".into(),
            families: vec![family("f")],
        })
        .await
        .expect_err("bad name");
    assert_eq!(e.code(), Code::InvalidArgument);

    let e = c
        .mutate(pb::MutateRequest {
            table: "t".into(),
            row: b"r".to_vec().into(),
            mutations: vec![pb::Mutation { kind: None }],
        })
        .await
        .expect_err("no kind");
    assert_eq!(e.code(), Code::InvalidArgument);

    let e = c
        .bulk_ingest(pb::BulkIngestRequest {
            table: "t".into(),
            paths: vec!["relative.sst".into()],
            ingest_id: "x".into(),
        })
        .await
        .expect_err("relative path");
    assert_eq!(e.code(), Code::InvalidArgument);
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_requests_are_resource_exhausted() {
    let options = ServiceOptions {
        max_message_bytes: 64 * 1024,
        ..ServiceOptions::default()
    };
    let mut fx = fixture(options).await;
    let c = &mut fx.client;
    create(c, "t").await;
    let big = vec![b'x'; 100 * 1024];
    let e = c
        .mutate(pb::MutateRequest {
            table: "t".into(),
            row: b"r".to_vec().into(),
            mutations: vec![set("f", "q", &big)],
        })
        .await
        .expect_err("too big");
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert!(e.message().contains("65536"), "{}", e.message());

    // In a stream, the oversized batch is named.
    let batches = vec![
        pb::MutateRowsRequest {
            table: "t".into(),
            entries: rows(0..10, b"v"),
        },
        pb::MutateRowsRequest {
            table: "t".into(),
            entries: rows(10..11, &big),
        },
    ];
    let mut acks = c
        .mutate_stream(tokio_stream::iter(batches))
        .await
        .expect("stream opens")
        .into_inner();
    let first = acks.message().await.expect("ack").expect("one ack");
    assert_eq!(first.batches, 1);
    let e = acks.message().await.expect_err("second batch too big");
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert!(e.message().starts_with("batch 1"), "{}", e.message());
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutate_stream_acks_running_totals_and_names_the_bad_batch() {
    let mut fx = fixture(ServiceOptions::default()).await;
    let c = &mut fx.client;
    create(c, "t").await;
    let batches = vec![
        pb::MutateRowsRequest {
            table: "t".into(),
            entries: rows(0..100, b"a"),
        },
        pb::MutateRowsRequest {
            table: "t".into(),
            entries: rows(100..150, b"b"),
        },
        pb::MutateRowsRequest {
            table: "t".into(),
            entries: vec![pb::RowMutations {
                row: b"z".to_vec().into(),
                mutations: vec![set("nofam", "q", b"v")],
            }],
        },
        pb::MutateRowsRequest {
            table: "t".into(),
            entries: rows(150..160, b"c"),
        },
    ];
    let mut acks = c
        .mutate_stream(tokio_stream::iter(batches))
        .await
        .expect("stream opens")
        .into_inner();
    let a = acks.message().await.expect("ack").expect("first");
    assert_eq!((a.rows, a.cells, a.batches), (100, 100, 1));
    let b = acks.message().await.expect("ack").expect("second");
    assert_eq!((b.rows, b.cells, b.batches), (150, 150, 2));
    let e = acks.message().await.expect_err("third is bad");
    assert_eq!(e.code(), Code::NotFound);
    assert!(e.message().starts_with("batch 2"), "{}", e.message());

    let replies = scan_all(
        c,
        pb::ScanRequest {
            table: "t".into(),
            ..Default::default()
        },
    )
    .await
    .expect("scan");
    let count: usize = replies.iter().map(Vec::len).sum();
    assert_eq!(count, 150, "acknowledged batches stay applied");
    fx.stop().await;
}

async fn scan_all(
    c: &mut Client,
    request: pb::ScanRequest,
) -> Result<Vec<Vec<pb::Row>>, tonic::Status> {
    let mut stream = c.scan(request).await?.into_inner();
    let mut replies = Vec::new();
    while let Some(r) = stream.message().await? {
        replies.push(r.rows);
    }
    Ok(replies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_bounds_and_batches() {
    let mut fx = fixture(ServiceOptions::default()).await;
    let c = &mut fx.client;
    create(c, "t").await;
    c.mutate_rows(pb::MutateRowsRequest {
        table: "t".into(),
        entries: rows(0..2500, b"v"),
    })
    .await
    .expect("write");

    let replies = scan_all(
        c,
        pb::ScanRequest {
            table: "t".into(),
            ..Default::default()
        },
    )
    .await
    .expect("scan");
    let sizes: Vec<usize> = replies.iter().map(Vec::len).collect();
    assert_eq!(sizes, [1000, 1000, 500], "default batch is 1000 rows");

    let replies = scan_all(
        c,
        pb::ScanRequest {
            table: "t".into(),
            start_row: b"row00010".to_vec().into(),
            start_row_exclusive: true,
            stop_row: b"row00100".to_vec().into(),
            prefix: b"row0001".to_vec().into(),
            batch_size: 4,
            ..Default::default()
        },
    )
    .await
    .expect("scan");
    let keys: Vec<Vec<u8>> = replies.iter().flatten().map(|r| r.key.to_vec()).collect();
    assert_eq!(keys.len(), 9, "row00011..=row00019");
    assert_eq!(keys[0], b"row00011");
    assert!(replies.iter().all(|r| r.len() <= 4));

    let replies = scan_all(
        c,
        pb::ScanRequest {
            table: "t".into(),
            limit: 7,
            keys_only: true,
            ..Default::default()
        },
    )
    .await
    .expect("scan");
    let got: Vec<&pb::Row> = replies.iter().flatten().collect();
    assert_eq!(got.len(), 7);
    assert!(got.iter().all(|r| r.cells.is_empty()));

    let e = scan_all(
        c,
        pb::ScanRequest {
            table: "missing".into(),
            ..Default::default()
        },
    )
    .await
    .expect_err("no table");
    assert_eq!(e.code(), Code::NotFound);
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_scan_is_dropped_with_a_status() {
    let options = ServiceOptions {
        scan_idle_timeout: Duration::from_millis(300),
        ..ServiceOptions::default()
    };
    let mut fx = fixture(options).await;
    let c = &mut fx.client;
    create(c, "t").await;
    // 64 rows of 256 KiB: far more than the transport's flow-control windows hold.
    let value = vec![b'v'; 256 * 1024];
    for chunk in 0..8 {
        c.mutate_rows(pb::MutateRowsRequest {
            table: "t".into(),
            entries: rows(chunk * 8..chunk * 8 + 8, &value),
        })
        .await
        .expect("write");
    }
    let mut stream = c
        .scan(pb::ScanRequest {
            table: "t".into(),
            batch_size: 1,
            ..Default::default()
        })
        .await
        .expect("scan opens")
        .into_inner();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut received = 0;
    let status = loop {
        match stream.message().await {
            Ok(Some(r)) => received += r.rows.len(),
            Ok(None) => panic!("scan ended without a status after {received} rows"),
            Err(s) => break s,
        }
    };
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    assert!(
        status.message().contains("scan_idle_timeout"),
        "{}",
        status.message()
    );
    assert!(received < 64, "received {received}");
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_answer() {
    let fx = fixture(ServiceOptions::default()).await;
    let channel = strata_server::client::channel(&fx.server.url(), &Default::default())
        .await
        .expect("channel");

    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    for service in ["", "strata.v1.Strata"] {
        let r = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health check")
            .into_inner();
        assert_eq!(
            r.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service:?}"
        );
    }

    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("reflection")
        .into_inner();
    let reply = replies.message().await.expect("reply").expect("one reply");
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("unexpected reply {reply:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.iter().any(|n| n == "strata.v1.Strata"), "{names:?}");
    assert!(
        names.iter().any(|n| n == "grpc.health.v1.Health"),
        "{names:?}"
    );
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_an_open_stream_promptly() {
    let mut fx = fixture(ServiceOptions::default()).await;
    create(&mut fx.client, "t").await;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let mut acks = fx
        .client
        .mutate_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("stream opens")
        .into_inner();
    tx.send(pb::MutateRowsRequest {
        table: "t".into(),
        entries: rows(0..5, b"v"),
    })
    .await
    .expect("send");
    let a = acks.message().await.expect("ack").expect("first");
    assert_eq!(a.batches, 1);

    // The client keeps its side open; shutdown must still finish well within the grace.
    let started = std::time::Instant::now();
    fx.server
        .shutdown(Duration::from_secs(20))
        .await
        .expect("shutdown");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let e = acks.message().await.expect_err("stream ended by shutdown");
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    assert!(e.message().starts_with("batch 1"), "{}", e.message());
    drop(tx);
    fx.db.close().expect("close");
}
