//! The direct client connection (`Remote::connect_direct`, `strata bench`'s clients): calls
//! and their statuses are those of a channel client, many calls share the one connection at
//! once, a connection that cannot be made is an error naming the URL, and once the server is
//! gone calls fail instead of waiting for a reconnect.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::time::Duration;

use strata_engine::{Db, DbOptions};
use strata_proto::v1 as pb;
use strata_server::client::{ClientSecurity, ConnectError};
use strata_server::{Client, Remote, ServerHandle, ServiceOptions};
use tonic::Code;

/// Longest any one call here may take before the test calls it a hang.
const CALL_BOUND: Duration = Duration::from_secs(10);

/// A server on a fresh store and a direct client connected to it.
async fn serve_direct() -> (tempfile::TempDir, Db, ServerHandle, Client) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(dir.path(), DbOptions::default()).expect("open store");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let server = strata_server::start(db.clone(), listener, ServiceOptions::default())
        .await
        .expect("start");
    let client = tokio::time::timeout(CALL_BOUND, Remote::plain(server.url()).connect_direct())
        .await
        .expect("connected in time")
        .expect("connect");
    (dir, db, server, client)
}

fn set(row: &str, value: &str) -> pb::MutateRequest {
    pb::MutateRequest {
        table: "t".into(),
        row: row.as_bytes().to_vec().into(),
        mutations: vec![pb::Mutation {
            kind: Some(pb::mutation::Kind::SetCell(pb::SetCell {
                family: "f".into(),
                qualifier: b"q".to_vec().into(),
                value: value.as_bytes().to_vec().into(),
                timestamp_micros: 0,
            })),
        }],
    }
}

fn get(row: &str) -> pb::GetRequest {
    pb::GetRequest {
        table: "t".into(),
        row: row.as_bytes().to_vec().into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_calls_answer_as_channel_calls_do() {
    let (_dir, db, server, mut c) = serve_direct().await;
    c.create_table(pb::CreateTableRequest {
        table: "t".into(),
        families: vec![pb::FamilyOptions {
            name: "f".into(),
            ..Default::default()
        }],
    })
    .await
    .expect("create table");

    // Many calls in flight on the one connection at once, each answered with its own row.
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..64 {
        let mut c = c.clone();
        calls.spawn(async move {
            let row = format!("r{i:02}");
            c.mutate(set(&row, &format!("v{i}"))).await.expect("mutate");
            let got = c.get(get(&row)).await.expect("get").into_inner();
            (i, got)
        });
    }
    let replies = tokio::time::timeout(CALL_BOUND, calls.join_all())
        .await
        .expect("calls answered in time");
    assert_eq!(replies.len(), 64);
    for (i, got) in replies {
        assert!(got.found, "row {i} not found");
        let row = got.row.expect("row");
        assert_eq!(row.key, format!("r{i:02}").into_bytes());
        assert_eq!(row.cells.len(), 1);
        assert_eq!(row.cells[0].value, format!("v{i}").into_bytes());
    }

    // Statuses come through unchanged.
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

    server
        .shutdown(Duration::from_secs(5))
        .await
        .expect("shutdown");
    db.close().expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_client_fails_once_its_server_is_gone() {
    let (_dir, db, server, mut c) = serve_direct().await;
    tokio::time::timeout(CALL_BOUND, c.list_tables(pb::ListTablesRequest::default()))
        .await
        .expect("answered in time")
        .expect("list tables");
    server
        .shutdown(Duration::from_secs(5))
        .await
        .expect("shutdown");
    let after = tokio::time::timeout(CALL_BOUND, c.list_tables(pb::ListTablesRequest::default()))
        .await
        .expect("a call after the shutdown ends instead of waiting");
    assert!(after.is_err(), "a call answered after the server shut down");
    db.close().expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_connection_nobody_answers_names_the_url() {
    // A port that was free a moment ago: nothing listens there now.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let e = Remote::plain(url.clone())
        .connect_direct()
        .await
        .expect_err("nothing listens");
    assert!(matches!(e, ConnectError::Direct { .. }), "{e:?}");
    assert!(e.to_string().contains(&url), "{e}");
}

#[tokio::test]
async fn a_direct_connection_refuses_tls_files_for_a_plain_url() {
    let remote = Remote {
        url: "http://127.0.0.1:1".into(),
        security: ClientSecurity {
            tls_ca: Some("ca.pem".into()),
            ..Default::default()
        },
    };
    let e = remote
        .connect_direct()
        .await
        .expect_err("TLS file, http URL");
    assert!(matches!(e, ConnectError::TlsNeedsHttps { .. }), "{e:?}");
}
