//! The server process's life over gRPC: SIGTERM exits cleanly (with open connections and
//! streams too) and the data survives a restart, a second server on the same data directory
//! fails clearly, and the health and reflection services answer.

use std::time::Duration;

use strata_tests::grpc::{batch, get_with, row_mutations};
use strata_tests::v1 as pb;
use strata_tests::*;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

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
