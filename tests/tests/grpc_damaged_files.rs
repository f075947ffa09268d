//! One bad table file does not take every table offline (issue 10 item 8; the review's M7
//! and the second half of H3) against the real `strata serve`: a table file truncated under a
//! running server makes reads of it DATA_LOSS naming the file instead of killing the process;
//! a store whose table file is damaged or missing opens with that table unavailable (every
//! RPC on it DATA_LOSS naming the file) and the other tables serving; with
//! `--quarantine-damaged-files` the damaged files are moved to `DATA_DIR/quarantine/`, the
//! table opens without them, the log says what was lost, and the manifest stops listing them.
//!
//! This file owns only these scenarios; it must never assert on timings.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::path::{Path, PathBuf};

use strata_proto::v1::strata_client::StrataClient;
use strata_tests::v1 as pb;
use strata_tests::*;
use tonic::Code;
use tonic::transport::Channel;

/// The table files in the store, by name.
fn sst_files(data: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(data.join("sst"))
        .expect("sst dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sst"))
        .collect();
    v.sort();
    v
}

/// A value of 2 KiB that does not compress (so a file spans many pages and blocks).
fn noise(seed: usize) -> Vec<u8> {
    let mut x = (seed as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..2048)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Write `n` rows `{prefix}000`... into `table` and flush; returns the new table file.
async fn write_and_flush(
    c: &mut StrataClient<Channel>,
    data: &Path,
    table: &str,
    prefix: &str,
    n: usize,
) -> PathBuf {
    let before = sst_files(data);
    for i in 0..n {
        put(
            c,
            table,
            format!("{prefix}{i:03}").as_bytes(),
            "f",
            b"q",
            &noise(i),
        )
        .await;
    }
    c.flush(pb::FlushRequest {
        table: table.into(),
    })
    .await
    .expect("flush");
    let after = sst_files(data);
    let new: Vec<_> = after.into_iter().filter(|p| !before.contains(p)).collect();
    assert_eq!(new.len(), 1, "one new file: {new:?}");
    new[0].clone()
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

async fn get(
    c: &mut StrataClient<Channel>,
    table: &str,
    row: &[u8],
) -> Result<bool, tonic::Status> {
    c.get(pb::GetRequest {
        table: table.into(),
        row: row.to_vec().into(),
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner().found)
}

#[tokio::test]
async fn a_damaged_table_file_takes_only_its_table_offline() {
    let mut server = Server::start().await;
    let data = server.data_dir().to_path_buf();
    let mut c = server.client().await;
    for t in ["t", "u", "v"] {
        create_table(&mut c, t, &["f"]).await;
    }
    let t_file = write_and_flush(&mut c, &data, "t", "r", 60).await;
    write_and_flush(&mut c, &data, "u", "r", 10).await;
    let v_file = write_and_flush(&mut c, &data, "v", "r", 10).await;
    // A row only the WAL holds: it must survive everything below.
    put(&mut c, "t", b"wal-only", "f", b"q", b"unflushed").await;

    // Truncated under the running server: reads fail with DATA_LOSS naming the file; the
    // process lives (it used to die of SIGBUS on the mapped pages).
    let len = std::fs::metadata(&t_file).expect("t file").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&t_file)
        .expect("open")
        .set_len(len / 3)
        .expect("truncate");
    let e = get(&mut c, "t", b"r050")
        .await
        .expect_err("a truncated block");
    assert_status(&e, Code::DataLoss, &[&name(&t_file)]);
    let e = scan_all(
        &mut c,
        pb::ScanRequest {
            table: "t".into(),
            ..Default::default()
        },
    )
    .await
    .expect_err("scan over the truncated part");
    assert_status(&e, Code::DataLoss, &[&name(&t_file)]);
    assert!(get(&mut c, "u", b"r001").await.expect("u serves"));
    assert!(server.is_running(), "{}", server.stderr());

    // Reopen (after a crash, so the WAL-only row is still only in the WAL), with v's file
    // missing too: the store opens; t and v are unavailable, u serves.
    drop(c);
    server.kill();
    std::fs::remove_file(&v_file).expect("remove v's file");
    server.restart().await;
    let mut c = server.client().await;
    let listed = c
        .list_tables(pb::ListTablesRequest {})
        .await
        .expect("list")
        .into_inner()
        .tables;
    assert_eq!(listed, ["t", "u", "v"]);
    assert!(get(&mut c, "u", b"r001").await.expect("u serves"));
    put(&mut c, "u", b"after", "f", b"q", b"x").await;
    let e = get(&mut c, "t", b"r001")
        .await
        .expect_err("t is unavailable");
    assert_status(&e, Code::DataLoss, &["t", &name(&t_file)]);
    let e = get(&mut c, "v", b"r001")
        .await
        .expect_err("v is unavailable");
    assert_status(&e, Code::DataLoss, &["v", &name(&v_file)]);
    let e = c
        .mutate(pb::MutateRequest {
            table: "t".into(),
            row: b"new".to_vec().into(),
            mutations: vec![set("f", b"q", b"x", 0)],
        })
        .await
        .expect_err("writes to an unavailable table");
    assert_status(&e, Code::DataLoss, &[&name(&t_file)]);
    let e = c
        .describe_table(pb::DescribeTableRequest { table: "t".into() })
        .await
        .expect_err("describe");
    assert_status(&e, Code::DataLoss, &[]);

    // Quarantine: the damaged files are moved aside, the tables open without them, and the
    // log names what was lost.
    let status = server.terminate().await;
    assert!(status.success(), "{status:?}\n{}", server.stderr());
    server
        .restart_with_args(&["--quarantine-damaged-files"])
        .await;
    let log = server.stderr();
    assert!(
        log.contains("quarantine") && log.contains(&name(&t_file)) && log.contains(&name(&v_file)),
        "the log names the quarantined files:\n{log}"
    );
    let quarantined = data.join("quarantine").join(name(&t_file));
    assert!(
        quarantined.is_file(),
        "{} kept aside",
        quarantined.display()
    );
    assert!(!t_file.exists());
    let mut c = server.client().await;
    assert!(!get(&mut c, "t", b"r001").await.expect("t serves again"));
    assert!(
        get(&mut c, "t", b"wal-only").await.expect("t serves"),
        "what the WAL held is kept"
    );
    assert!(!get(&mut c, "v", b"r001").await.expect("v serves again"));
    assert!(get(&mut c, "u", b"after").await.expect("u serves"));
    put(&mut c, "t", b"new", "f", b"q", b"x").await;

    // The manifest no longer lists them: a plain restart opens every table.
    drop(c);
    let status = server.terminate().await;
    assert!(status.success(), "{status:?}\n{}", server.stderr());
    server.restart_with_args(&[]).await;
    let mut c = server.client().await;
    assert!(get(&mut c, "t", b"new").await.expect("t"));
    assert!(get(&mut c, "t", b"wal-only").await.expect("t"));
    assert!(!get(&mut c, "v", b"r001").await.expect("v"));
}
