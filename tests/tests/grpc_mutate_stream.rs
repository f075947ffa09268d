//! MutateStream against the real `strata serve`: running-total acknowledgements per batch, the
//! bad-batch rule (the stream ends naming the batch's index) and edge batches.

use std::time::Duration;

use strata_tests::grpc::{batch, row_mutations};
use strata_tests::v1 as pb;
use strata_tests::*;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

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
