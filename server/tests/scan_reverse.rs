//! gRPC reverse scans (`ScanRequest.reverse`): rows in descending key order from `start_row`
//! (the high end, inclusive) down to `stop_row` (the low end, exclusive), with prefixes,
//! limits and filters; resuming after the last row received (`start_row_exclusive`)
//! continues below it; a row larger than a reply comes in `partial` parts in forward cell
//! order.
//!
//! In process (the service over a real socket); never starts the `strata` binary.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::time::Duration;

use strata_proto::v1 as pb;
use strata_server::ServiceOptions;

mod support;

/// Every row key of the reverse scan `r`, and the rows as received.
async fn scan(c: &mut strata_server::Client, r: pb::ScanRequest) -> Vec<pb::Row> {
    let mut stream = c.scan(r).await.expect("scan opens").into_inner();
    let mut rows = Vec::new();
    while let Some(reply) = stream.message().await.expect("no error") {
        rows.extend(reply.rows);
    }
    rows
}

fn keys(rows: &[pb::Row]) -> Vec<String> {
    rows.iter()
        .map(|r| String::from_utf8_lossy(&r.key).into_owned())
        .collect()
}

fn reverse(start: &str, stop: &str) -> pb::ScanRequest {
    pb::ScanRequest {
        table: "t".into(),
        start_row: start.as_bytes().to_vec().into(),
        stop_row: stop.as_bytes().to_vec().into(),
        reverse: true,
        ..Default::default()
    }
}

fn names(range: std::ops::Range<usize>) -> Vec<String> {
    range.rev().map(|i| format!("r{i:03}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reverse_scans_go_down_from_start_row_and_resume_below_the_last_row() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = ServiceOptions {
        // Small replies: the wide row below is sent in parts.
        scan_batch_bytes: 4096,
        ..ServiceOptions::default()
    };
    let (db, server, mut c) = support::open_and_serve(dir.path(), options).await;
    support::create_table(&mut c, "t").await;
    // Half the rows in a file, half in the memtable.
    support::write_rows(&mut c, 60, bytes::Bytes::from_static(b"a")).await;
    c.flush(pb::FlushRequest { table: "t".into() })
        .await
        .expect("flush");
    support::write_rows(&mut c, 120, bytes::Bytes::from_static(b"b")).await;

    // The whole table, highest row first.
    let all = scan(&mut c, reverse("", "")).await;
    assert_eq!(keys(&all), names(0..120));
    assert!(all.iter().all(|r| &r.cells[0].value[..] == b"b"));
    // start_row inclusive (high end), stop_row exclusive (low end).
    assert_eq!(
        keys(&scan(&mut c, reverse("r050", "r040")).await),
        names(41..51)
    );
    // A prefix, a limit.
    let prefixed = pb::ScanRequest {
        prefix: "r07".into(),
        limit: 4,
        ..reverse("", "")
    };
    assert_eq!(keys(&scan(&mut c, prefixed).await), names(76..80));
    // Resuming after the last row received continues below it.
    let resumed = pb::ScanRequest {
        start_row_exclusive: true,
        limit: 3,
        ..reverse("r010", "")
    };
    assert_eq!(keys(&scan(&mut c, resumed).await), names(7..10));
    // A filter runs in the scan's direction and the limit counts what it keeps.
    let filtered = pb::ScanRequest {
        filter: "PrefixFilter('r10')".into(),
        limit: 4,
        ..reverse("r115", "")
    };
    assert_eq!(keys(&scan(&mut c, filtered).await), names(106..110));
    let stop = pb::ScanRequest {
        filter: "InclusiveStopFilter('r100')".into(),
        ..reverse("r104", "")
    };
    assert_eq!(keys(&scan(&mut c, stop).await), names(100..105));

    // A row larger than a reply: its parts come in forward cell order, the last one whole.
    c.mutate_rows(pb::MutateRowsRequest {
        table: "t".into(),
        entries: vec![pb::RowMutations {
            row: "r055".into(),
            mutations: (0..20)
                .map(|q| pb::Mutation {
                    kind: Some(pb::mutation::Kind::SetCell(pb::SetCell {
                        family: "f".into(),
                        qualifier: format!("w{q:02}").into_bytes().into(),
                        value: vec![b'w'; 1000].into(),
                        timestamp_micros: 0,
                    })),
                })
                .collect(),
        }],
    })
    .await
    .expect("wide row");
    let rows = scan(&mut c, reverse("r056", "r053")).await;
    let parts: Vec<&pb::Row> = rows.iter().filter(|r| &r.key[..] == b"r055").collect();
    assert!(parts.len() > 1, "the wide row is sent in parts");
    assert!(parts[..parts.len() - 1].iter().all(|p| p.partial));
    assert!(!parts[parts.len() - 1].partial);
    let quals: Vec<Vec<u8>> = parts
        .iter()
        .flat_map(|p| p.cells.iter().map(|c| c.qualifier.to_vec()))
        .collect();
    let mut want: Vec<Vec<u8>> = vec![b"q".to_vec()];
    want.extend((0..20).map(|q| format!("w{q:02}").into_bytes()));
    assert_eq!(quals, want);
    let order: Vec<String> = keys(&rows).into_iter().fold(Vec::new(), |mut v, k| {
        if v.last() != Some(&k) {
            v.push(k);
        }
        v
    });
    assert_eq!(order, ["r056", "r055", "r054"]);

    server
        .shutdown(Duration::from_secs(5))
        .await
        .expect("shutdown");
    db.close().expect("close");
}
