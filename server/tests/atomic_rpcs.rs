//! CheckAndMutate, Increment and Append over gRPC, in process (issue 12 item 5): each
//! answers with the engine's semantics (they answered UNIMPLEMENTED before), counters that
//! are not 8 bytes or would overflow are FAILED_PRECONDITION naming the cell, an unknown
//! compare op and bad mutations are INVALID_ARGUMENT.
//!
//! Never starts the `strata` binary.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::time::Duration;

use bytes::Bytes;
use strata_proto::v1 as pb;
use tonic::Code;

mod support;

use support::rmw::{cam, delta, increment, set, start, value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atomic_rpcs_answer_with_the_engine_semantics_and_codes() {
    let (_dir, db, server, mut c) = start().await;

    // Increment: missing counts as 0, the reply holds the new values.
    assert_eq!(
        increment(&mut c, "r", vec![delta("n", 2)]).await.unwrap(),
        vec![2]
    );
    assert_eq!(
        increment(&mut c, "r", vec![delta("n", 3), delta("m", -1)])
            .await
            .unwrap(),
        vec![-1, 5]
    );
    // Not a counter, overflow: FAILED_PRECONDITION naming the cell.
    c.mutate(pb::MutateRequest {
        table: "t".into(),
        row: Bytes::from_static(b"r"),
        mutations: vec![set("text", b"abc")],
    })
    .await
    .expect("put");
    let e = increment(&mut c, "r", vec![delta("text", 1)])
        .await
        .expect_err("3 bytes");
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("f:text"), "{}", e.message());
    let e = increment(&mut c, "r", vec![delta("n", i64::MAX)])
        .await
        .expect_err("overflow");
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    let e = increment(&mut c, "r", vec![]).await.expect_err("no deltas");
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let e = increment(
        &mut c,
        "r",
        vec![pb::ColumnDelta {
            family: "nope".into(),
            ..delta("n", 1)
        }],
    )
    .await
    .expect_err("family");
    assert_eq!(e.code(), Code::NotFound, "{e:?}");

    // Append.
    let r = c
        .append(pb::AppendRequest {
            table: "t".into(),
            row: Bytes::from_static(b"r"),
            cells: vec![pb::Cell {
                family: "f".into(),
                qualifier: Bytes::from_static(b"text"),
                value: Bytes::from_static(b"def"),
                timestamp_micros: 0,
            }],
        })
        .await
        .expect("append")
        .into_inner();
    assert_eq!(
        r.row.expect("row").cells[0].value,
        Bytes::from_static(b"abcdef")
    );
    assert_eq!(
        value(&mut c, "r", "text").await,
        Some(Bytes::from_static(b"abcdef"))
    );

    // CheckAndMutate: absent value, then HBase's order (LESS: given < stored).
    let applied = |r: Result<tonic::Response<pb::CheckAndMutateResponse>, tonic::Status>| {
        r.expect("check and mutate").into_inner().applied
    };
    assert!(applied(
        c.check_and_mutate(cam(pb::CompareOp::Equal, None, set("c", b"m")))
            .await
    ));
    assert!(!applied(
        c.check_and_mutate(cam(pb::CompareOp::Equal, None, set("c", b"x")))
            .await
    ));
    assert!(!applied(
        c.check_and_mutate(cam(pb::CompareOp::Less, Some("z"), set("c", b"x")))
            .await
    ));
    assert!(applied(
        c.check_and_mutate(cam(pb::CompareOp::Less, Some("a"), set("c", b"n")))
            .await
    ));
    assert_eq!(
        value(&mut c, "r", "c").await,
        Some(Bytes::from_static(b"n"))
    );
    let mut bad = cam(pb::CompareOp::Equal, None, set("c", b"x"));
    bad.op = 42;
    let e = c.check_and_mutate(bad).await.expect_err("op 42");
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("42"), "{}", e.message());
    let e = c
        .check_and_mutate(cam(pb::CompareOp::Equal, None, pb::Mutation { kind: None }))
        .await
        .expect_err("empty mutation");
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");

    server
        .shutdown(Duration::from_secs(5))
        .await
        .expect("shutdown");
    db.close().expect("close");
}
