//! Many gRPC clients incrementing one counter at once lose nothing (issue 12 item 5): the
//! row's lock in the engine serializes their read-modify-writes.
//!
//! Never starts the `strata` binary.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::time::Duration;

use strata_server::Remote;

mod support;

use support::rmw::{delta, increment, start, value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_incrementing_one_counter_lose_nothing() {
    let (_dir, db, server, mut c) = start().await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let mut client = Remote::plain(server.url())
            .connect()
            .await
            .expect("connect");
        tasks.push(tokio::spawn(async move {
            for _ in 0..100 {
                increment(&mut client, "hits", vec![delta("n", 1)])
                    .await
                    .expect("increment");
            }
        }));
    }
    for t in tasks {
        t.await.expect("client");
    }
    let v = value(&mut c, "hits", "n").await.expect("counter");
    assert_eq!(i64::from_be_bytes(v[..].try_into().unwrap()), 800);
    server
        .shutdown(Duration::from_secs(5))
        .await
        .expect("shutdown");
    db.close().expect("close");
}
