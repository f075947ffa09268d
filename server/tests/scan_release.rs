//! A gRPC scan waiting for its client holds no table file or memtable, only its snapshot
//! (review item M5): files compacted away while it waits are deleted at once, and when the
//! client reads on, the scan still returns exactly the rows of the moment it started.
//!
//! In process, so that the store's directory can be watched; never starts the `strata` binary.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::path::Path;
use std::time::{Duration, Instant};

use strata_engine::{Db, DbOptions, SyncMode};
use strata_proto::v1 as pb;
use strata_server::ServiceOptions;

mod support;

/// Rows of 128 KiB: 8 MiB, more than HTTP/2's flow-control windows (the client's default
/// stream window is 2 MiB), so the scan cannot finish before its client reads.
const ROWS: usize = 64;

fn table_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("sst"))
        .expect("sst dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sst"))
        })
        .count()
}

async fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "not after 30 s: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Write every row with `value` (128 KiB of it) and flush: one more table file.
async fn write_and_flush(c: &mut strata_server::Client, value: u8) {
    let value = bytes::Bytes::from(vec![value; 128 << 10]);
    support::write_rows(c, ROWS, value).await;
    c.flush(pb::FlushRequest { table: "t".into() })
        .await
        .expect("flush");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_scan_lets_compacted_files_go_and_still_reads_its_snapshot() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(
        dir.path(),
        DbOptions {
            sync_mode: SyncMode::None,
            // Only the compaction this test asks for.
            background_threads: false,
            ..DbOptions::default()
        },
    )
    .expect("open store");
    let (server, mut c) = support::serve(&db, ServiceOptions::default()).await;
    support::create_t(&mut c).await;
    write_and_flush(&mut c, b'a').await;
    write_and_flush(&mut c, b'b').await;
    assert_eq!(table_files(dir.path()), 2);

    // One row per reply: the scan reads ahead, then waits for its client.
    let mut scan = c
        .scan(pb::ScanRequest {
            table: "t".into(),
            batch_size: 1,
            ..Default::default()
        })
        .await
        .expect("scan opens")
        .into_inner();
    let first = scan.message().await.expect("first reply").expect("a row");
    assert_eq!(&first.rows[0].key[..], b"r000");

    // Overwritten and compacted meanwhile: the two old files are deleted although the scan
    // has not finished reading them.
    write_and_flush(&mut c, b'c').await;
    c.compact(pb::CompactRequest {
        table: "t".into(),
        major: true,
    })
    .await
    .expect("compact");
    wait_until("the compacted-away files are deleted", || {
        table_files(dir.path()) == 1
    })
    .await;

    // The scan reads on at its snapshot: the second write's values, every row once.
    let mut keys = vec![first.rows[0].key.clone()];
    assert!(first.rows[0].cells.iter().all(|c| c.value[0] == b'b'));
    while let Some(r) = scan.message().await.expect("no error") {
        for row in r.rows {
            assert!(!row.partial);
            assert!(
                row.cells.iter().all(|c| c.value[0] == b'b'),
                "row {:?} is not from the scan's snapshot",
                row.key
            );
            keys.push(row.key);
        }
    }
    let want: Vec<bytes::Bytes> = (0..ROWS)
        .map(|i| bytes::Bytes::from(format!("r{i:03}")))
        .collect();
    assert_eq!(keys, want);
    server
        .shutdown(Duration::from_secs(5))
        .await
        .expect("shutdown");
    db.close().expect("close");
}
