//! The scan buffer budget in process, where it can be read (`ServerHandle::scan_budget`):
//! replies of every scan together never take more than `scan_buffer_bytes`; scans that find
//! it spent wait and then finish correctly; a finished or cancelled scan gives its place and
//! its bytes back.
//!
//! These tests never start the `strata` binary (the workspace's end-to-end tests do that).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use strata_engine::{Db, DbOptions};
use strata_proto::v1 as pb;
use strata_server::ServiceOptions;
use strata_server::scan_budget::ScanBudget;

mod support;

const BUDGET: usize = 3 << 20;

async fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "not after 30 s: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_scans_share_the_budget_wait_for_it_and_all_finish() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(dir.path(), DbOptions::default()).expect("open store");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let options = ServiceOptions {
        scan_buffer_bytes: BUDGET,
        scan_batch_bytes: 256 << 10,
        ..ServiceOptions::default()
    };
    let server = strata_server::start(db.clone(), listener, options)
        .await
        .expect("start");
    let budget: Arc<ScanBudget> = server.scan_budget();
    let mut c = strata_server::connect(&server.url(), &strata_server::ClientSecurity::default())
        .await
        .expect("connect");
    support::create_t(&mut c).await;
    // 48 rows of 64 KiB: 3 MiB per scan, far more than the budget for 20 scans at once.
    let value = bytes::Bytes::from(vec![b'v'; 64 << 10]);
    support::write_rows(&mut c, 48, value).await;

    // Watch the budget the whole time.
    let peak = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (budget, peak, done) = (budget.clone(), peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(budget.buffered_bytes(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    // Twenty scans open at once, each read slowly.
    let mut scans = Vec::new();
    for _ in 0..20 {
        let stream = c
            .scan(pb::ScanRequest {
                table: "t".into(),
                ..Default::default()
            })
            .await
            .expect("scan opens")
            .into_inner();
        scans.push(stream);
    }
    wait_until("the budget is in use", || budget.buffered_bytes() > 0).await;
    assert_eq!(budget.open_scans(), 20);
    let readers: Vec<_> = scans
        .into_iter()
        .map(|mut s| {
            tokio::spawn(async move {
                let mut keys = Vec::new();
                while let Some(r) = s.message().await.expect("no error") {
                    keys.extend(r.rows.into_iter().map(|r| r.key));
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                keys
            })
        })
        .collect();
    for r in readers {
        let keys = r.await.expect("reader");
        let want: Vec<bytes::Bytes> = (0..48)
            .map(|i| bytes::Bytes::from(format!("r{i:03}")))
            .collect();
        assert_eq!(keys, want, "every scan complete and in order");
    }
    done.store(true, Ordering::Relaxed);
    watcher.await.expect("watcher");
    let peak = peak.load(Ordering::Relaxed);
    assert!(peak <= BUDGET, "peak {peak} above the budget {BUDGET}");
    assert!(peak > BUDGET / 2, "the scans did use the budget ({peak})");
    wait_until("every scan gave its place back", || {
        budget.open_scans() == 0
    })
    .await;
    assert_eq!(budget.buffered_bytes(), 0);

    // A cancelled scan gives its place and its bytes back too.
    let s = c
        .scan(pb::ScanRequest {
            table: "t".into(),
            ..Default::default()
        })
        .await
        .expect("scan opens")
        .into_inner();
    wait_until("the scan buffered", || budget.buffered_bytes() > 0).await;
    drop(s);
    wait_until("the cancelled scan let go", || {
        budget.open_scans() == 0 && budget.buffered_bytes() == 0
    })
    .await;
    server
        .shutdown(Duration::from_secs(5))
        .await
        .expect("shutdown");
    db.close().expect("close");
}
