//! gRPC DisableTable / EnableTable: every read and write of a disabled table (Get, MultiGet,
//! Scan forward and reverse, Mutate, MutateRows, MutateStream, Aggregate, BulkIngest,
//! Increment, Append, CheckAndMutate) is
//! FAILED_PRECONDITION naming the table, DescribeTable says it is disabled, other tables
//! serve, the state survives a restart of the server and the store, EnableTable brings the
//! data back, and DeleteTable deletes an enabled table (unlike Thrift's deleteTable).
//!
//! In process (the service over a real socket); never starts the `strata` binary.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::path::Path;
use std::time::Duration;

use strata_engine::Db;
use strata_proto::v1 as pb;
use strata_server::{Client, ServiceOptions};
use tonic::Code;

mod support;

async fn serve(dir: &Path) -> (Db, strata_server::ServerHandle, Client) {
    support::open_and_serve(dir, ServiceOptions::default()).await
}

async fn stop(db: Db, server: strata_server::ServerHandle) {
    server
        .shutdown(Duration::from_secs(5))
        .await
        .expect("shutdown");
    db.close().expect("close");
}

fn refused<T: std::fmt::Debug>(what: &str, r: Result<T, tonic::Status>) {
    match r {
        Err(s) => {
            assert_eq!(s.code(), Code::FailedPrecondition, "{what}: {s:?}");
            assert!(s.message().contains("table t is disabled"), "{what}: {s:?}");
        }
        Ok(v) => panic!("{what}: a disabled table answered {v:?}"),
    }
}

fn put(table: &str) -> pb::MutateRowsRequest {
    pb::MutateRowsRequest {
        table: table.into(),
        entries: vec![pb::RowMutations {
            row: "r900".into(),
            mutations: vec![pb::Mutation {
                kind: Some(pb::mutation::Kind::SetCell(pb::SetCell {
                    family: "f".into(),
                    qualifier: "q".into(),
                    value: "v".into(),
                    timestamp_micros: 0,
                })),
            }],
        }],
    }
}

/// Every read and write path of the service on table `t`.
async fn every_path_refuses(c: &mut Client) {
    let get = pb::GetRequest {
        table: "t".into(),
        row: "r001".into(),
        ..Default::default()
    };
    refused("Get", c.get(get).await);
    let multi = pb::MultiGetRequest {
        table: "t".into(),
        rows: vec!["r001".into()],
        ..Default::default()
    };
    refused("MultiGet", c.multi_get(multi).await);
    for reverse in [false, true] {
        let scan = pb::ScanRequest {
            table: "t".into(),
            reverse,
            ..Default::default()
        };
        refused("Scan", c.scan(scan).await);
    }
    let one = put("t").entries.remove(0);
    let mutate = pb::MutateRequest {
        table: "t".into(),
        row: one.row,
        mutations: one.mutations,
    };
    refused("Mutate", c.mutate(mutate).await);
    refused("MutateRows", c.mutate_rows(put("t")).await);
    let mut stream = c
        .mutate_stream(tokio_stream::iter(vec![put("t")]))
        .await
        .expect("the stream opens")
        .into_inner();
    refused("MutateStream", stream.message().await);
    let aggregate = pb::AggregateRequest {
        table: "t".into(),
        family: "f".into(),
        qualifier: "q".into(),
        ..Default::default()
    };
    refused("Aggregate", c.aggregate(aggregate).await);
    let ingest = pb::BulkIngestRequest {
        table: "t".into(),
        paths: vec!["/nonexistent/file.sst".into()],
        ingest_id: "load-1".into(),
    };
    refused("BulkIngest", c.bulk_ingest(ingest).await);
    // The read-modify-write operations.
    let increment = pb::IncrementRequest {
        table: "t".into(),
        row: "r001".into(),
        deltas: vec![pb::ColumnDelta {
            family: "f".into(),
            qualifier: "n".into(),
            delta: 1,
        }],
    };
    refused("Increment", c.increment(increment).await);
    let append = pb::AppendRequest {
        table: "t".into(),
        row: "r001".into(),
        cells: vec![pb::Cell {
            family: "f".into(),
            qualifier: "q".into(),
            value: "more".into(),
            timestamp_micros: 0,
        }],
    };
    refused("Append", c.append(append).await);
    let check = pb::CheckAndMutateRequest {
        table: "t".into(),
        row: "r001".into(),
        family: "f".into(),
        qualifier: "q".into(),
        mutations: put("t").entries.remove(0).mutations,
        ..Default::default()
    };
    refused("CheckAndMutate", c.check_and_mutate(check).await);
}

async fn enabled(c: &mut Client, table: &str) -> bool {
    c.describe_table(pb::DescribeTableRequest {
        table: table.into(),
    })
    .await
    .expect("describe")
    .into_inner()
    .enabled
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_table_is_failed_precondition_on_every_path_across_restarts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (db, server, mut c) = serve(dir.path()).await;
    for t in ["t", "other"] {
        support::create_table(&mut c, t).await;
    }
    support::write_rows(&mut c, 10, bytes::Bytes::from_static(b"a")).await;
    // An aggregation cached before the table is disabled must not answer for it after.
    let aggregate = pb::AggregateRequest {
        table: "t".into(),
        family: "f".into(),
        qualifier: "q".into(),
        ..Default::default()
    };
    c.aggregate(aggregate.clone()).await.expect("aggregate");
    assert!(enabled(&mut c, "t").await);

    c.disable_table(pb::DisableTableRequest { table: "t".into() })
        .await
        .expect("disable");
    assert!(!enabled(&mut c, "t").await);
    every_path_refuses(&mut c).await;
    // The other table serves; flush and compaction still run on the disabled one.
    c.mutate_rows(put("other")).await.expect("other table");
    c.flush(pb::FlushRequest { table: "t".into() })
        .await
        .expect("flush");
    let missing = c
        .disable_table(pb::DisableTableRequest {
            table: "nope".into(),
        })
        .await
        .expect_err("missing table");
    assert_eq!(missing.code(), Code::NotFound);

    // A restart keeps it disabled.
    drop(c);
    stop(db, server).await;
    let (db, server, mut c) = serve(dir.path()).await;
    assert!(!enabled(&mut c, "t").await);
    every_path_refuses(&mut c).await;

    c.enable_table(pb::EnableTableRequest { table: "t".into() })
        .await
        .expect("enable");
    assert!(enabled(&mut c, "t").await);
    let got = c
        .get(pb::GetRequest {
            table: "t".into(),
            row: "r001".into(),
            ..Default::default()
        })
        .await
        .expect("get")
        .into_inner();
    assert!(got.found);
    c.aggregate(aggregate).await.expect("aggregate again");
    // gRPC DeleteTable does not ask for the table to be disabled.
    c.delete_table(pb::DeleteTableRequest { table: "t".into() })
        .await
        .expect("delete an enabled table");
    drop(c);
    stop(db, server).await;
}
