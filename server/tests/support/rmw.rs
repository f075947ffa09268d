//! Helpers of the read-modify-write RPC tests: a server over a store with table `t`
//! (family `f`), and the calls they repeat.

#![allow(dead_code, clippy::expect_used)]

use bytes::Bytes;
use strata_engine::{Db, DbOptions, SyncMode};
use strata_proto::v1 as pb;
use strata_server::{Client, ServiceOptions};

pub async fn start() -> (tempfile::TempDir, Db, strata_server::ServerHandle, Client) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(
        dir.path(),
        DbOptions {
            // Each increment of one row waits for the one before it: no shared fsyncs.
            sync_mode: SyncMode::None,
            ..DbOptions::default()
        },
    )
    .expect("open store");
    let (server, mut client) = super::serve(&db, ServiceOptions::default()).await;
    super::create_t(&mut client).await;
    (dir, db, server, client)
}

pub fn set(q: &str, v: &[u8]) -> pb::Mutation {
    pb::Mutation {
        kind: Some(pb::mutation::Kind::SetCell(pb::SetCell {
            family: "f".into(),
            qualifier: Bytes::copy_from_slice(q.as_bytes()),
            value: Bytes::copy_from_slice(v),
            timestamp_micros: 0,
        })),
    }
}

pub fn delta(q: &str, d: i64) -> pb::ColumnDelta {
    pb::ColumnDelta {
        family: "f".into(),
        qualifier: Bytes::copy_from_slice(q.as_bytes()),
        delta: d,
    }
}

pub async fn increment(
    c: &mut Client,
    row: &str,
    deltas: Vec<pb::ColumnDelta>,
) -> Result<Vec<i64>, tonic::Status> {
    let r = c
        .increment(pb::IncrementRequest {
            table: "t".into(),
            row: Bytes::copy_from_slice(row.as_bytes()),
            deltas,
        })
        .await?
        .into_inner();
    Ok(r.row
        .expect("row")
        .cells
        .iter()
        .map(|c| i64::from_be_bytes(c.value[..].try_into().expect("8 bytes")))
        .collect())
}

pub async fn value(c: &mut Client, row: &str, q: &str) -> Option<Bytes> {
    let r = c
        .get(pb::GetRequest {
            table: "t".into(),
            row: Bytes::copy_from_slice(row.as_bytes()),
            ..Default::default()
        })
        .await
        .expect("get")
        .into_inner();
    r.row?
        .cells
        .into_iter()
        .find(|c| c.qualifier == q.as_bytes())
        .map(|c| c.value)
}

pub fn cam(
    op: pb::CompareOp,
    value: Option<&str>,
    then: pb::Mutation,
) -> pb::CheckAndMutateRequest {
    pb::CheckAndMutateRequest {
        table: "t".into(),
        row: Bytes::from_static(b"r"),
        family: "f".into(),
        qualifier: Bytes::from_static(b"c"),
        op: op as i32,
        value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
        mutations: vec![then],
    }
}
