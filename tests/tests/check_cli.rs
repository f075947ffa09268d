//! `strata check --data-dir DIR` with the real binary (issue 10 item 8): a sound store exits
//! 0; a damaged table file, a missing one and a damaged WAL segment are listed with file names
//! and offsets and exit 1; a leftover file is a warning (exit 0); `--json` carries the same;
//! a store a server holds is refused.
//!
//! This file owns only these scenarios; it must never assert on timings.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::path::{Path, PathBuf};

use serde_json::Value;
use strata_tests::v1 as pb;
use strata_tests::*;

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    v
}

fn check(data: &Path, json: bool) -> Output {
    let d = data.to_str().expect("utf-8 path");
    if json {
        run_strata(&["check", "--data-dir", d, "--json"])
    } else {
        run_strata(&["check", "--data-dir", d])
    }
}

#[tokio::test]
async fn check_lists_damage_with_files_and_offsets_and_exits_non_zero() {
    let mut server = Server::start_with_args(&["--wal-segment-bytes", "4KiB"]).await;
    let data = server.data_dir().to_path_buf();
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f"]).await;
    for i in 0..40 {
        put(
            &mut c,
            "t",
            format!("r{i:03}").as_bytes(),
            "f",
            b"q",
            &[b'v'; 300],
        )
        .await;
    }
    c.flush(pb::FlushRequest { table: "t".into() })
        .await
        .expect("flush");
    for i in 0..40 {
        put(
            &mut c,
            "t",
            format!("w{i:03}").as_bytes(),
            "f",
            b"q",
            &[b'w'; 300],
        )
        .await;
    }
    // A running server holds the store: the check refuses rather than racing it.
    let out = check(&data, false);
    out.assert_failure();
    assert!(
        out.stderr.contains("held by another process"),
        "{}",
        out.stderr
    );
    drop(c);
    server.kill();

    let out = check(&data, false);
    out.assert_success();
    assert!(out.stdout.contains("no damage"), "{}", out.stdout);
    let v: Value = serde_json::from_str(check(&data, true).stdout.trim()).expect("json");
    assert_eq!(v["sound"], true);
    assert!(v["blocks"].as_u64().unwrap() > 0 && v["wal_segments"].as_u64().unwrap() > 1);

    // A leftover file: a warning, still exit 0.
    std::fs::write(data.join("sst/999999.sst"), b"left over").expect("write");
    let out = check(&data, false);
    out.assert_success();
    assert!(
        out.stdout.contains("WARNING") && out.stdout.contains("999999.sst"),
        "{}",
        out.stdout
    );

    // A flipped byte in the table file's first block and a damaged older WAL segment.
    let sst = files(&data.join("sst"), "sst")[0].clone();
    let mut b = std::fs::read(&sst).expect("read");
    b[10] ^= 0x20;
    std::fs::write(&sst, &b).expect("write");
    let segs = files(&data.join("wal"), "log");
    assert!(segs.len() >= 2, "{segs:?}");
    let seg = segs[0].clone();
    let mut w = std::fs::read(&seg).expect("read");
    w[40] ^= 0xFF;
    std::fs::write(&seg, &w).expect("write");
    let out = check(&data, false);
    out.assert_failure();
    let name = sst.file_name().unwrap().to_str().unwrap();
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("DAMAGE") && l.contains(name))
        .unwrap_or_else(|| panic!("no damage line for {name}:\n{}", out.stdout));
    assert!(
        line.contains("at offset 0") && line.contains("checksum"),
        "{line}"
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("DAMAGE")
                && l.contains(seg.file_name().unwrap().to_str().unwrap())),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("damaged"), "{}", out.stderr);
    let j = check(&data, true);
    assert_eq!(j.code, Some(1));
    let v: Value = serde_json::from_str(j.stdout.trim()).expect("json");
    assert_eq!(v["sound"], false);
    let findings = v["findings"].as_array().expect("findings");
    assert!(findings.iter().any(|f| {
        f["severity"] == "damage" && f["path"].as_str().unwrap().ends_with(name) && f["offset"] == 0
    }));

    // A listed file that is missing.
    std::fs::remove_file(&sst).expect("remove");
    let out = check(&data, false);
    out.assert_failure();
    assert!(
        out.stdout
            .lines()
            .any(|l| l.contains(name) && l.contains("missing")),
        "{}",
        out.stdout
    );
}
