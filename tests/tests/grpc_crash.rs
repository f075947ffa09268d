//! Crash durability against the real `strata serve`: after SIGKILL during writes or a
//! MutateStream, every acknowledged row and batch is there on restart, and dropped tables and
//! families stay dropped.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_tests::grpc::{batch, row_mutations};
use strata_tests::v1 as pb;
use strata_tests::*;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

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
