//! Storage maintenance over gRPC against the real `strata serve`: Flush, Compact and the
//! statistics DescribeTable reports, and BulkIngest (atomic adoption, once per ingest id,
//! moved or copied sources; the ingest-path rules are grpc_ingest_safety.rs's).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use strata_tests::grpc::{T0, build_sstable, row_mutations};
use strata_tests::v1 as pb;
use strata_tests::*;
use tonic::Code;

#[tokio::test]
async fn flush_compact_and_describe_stats() {
    let server = Server::start().await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f", "g"]).await;
    let describe = |mut c: strata_proto::v1::strata_client::StrataClient<
        tonic::transport::Channel,
    >| async move {
        c.describe_table(pb::DescribeTableRequest { table: "t".into() })
            .await
            .expect("describe")
            .into_inner()
            .stats
            .expect("stats")
    };
    // Three flushed generations, each overwriting half of the previous rows.
    for generation in 0..3u32 {
        let entries = (0..40)
            .map(|i| {
                let i = i + generation * 20;
                row_mutations(
                    format!("k{i:04}").as_bytes(),
                    vec![
                        set("f", b"a", format!("gen{generation}").as_bytes(), 0),
                        set("g", b"b", b"x", 0),
                    ],
                )
            })
            .collect();
        c.mutate_rows(pb::MutateRowsRequest {
            table: "t".into(),
            entries,
        })
        .await
        .expect("write");
        let before = describe(c.clone()).await;
        assert!(before.memtable_bytes > 0, "unflushed data is in memtables");
        c.flush(pb::FlushRequest { table: "t".into() })
            .await
            .expect("flush");
        let after = describe(c.clone()).await;
        assert_eq!(after.files, u64::from(generation) + 1, "{after:?}");
        assert_eq!(after.immutable_memtables, 0);
    }
    let s = describe(c.clone()).await;
    assert!(s.flushes >= 3, "{s:?}");
    assert!(s.file_bytes > 0);
    assert_eq!(s.file_cells, 3 * 80);
    assert_eq!(s.file_rows, 3 * 40);
    assert_eq!(
        s.levels.iter().map(|l| l.files).sum::<u64>(),
        s.files,
        "levels add up to the file count: {s:?}"
    );
    let fams: Vec<(&str, u64)> = s
        .families
        .iter()
        .map(|f| (f.name.as_str(), f.cells))
        .collect();
    assert_eq!(fams, [("f", 120), ("g", 120)]);
    assert!(
        s.families
            .iter()
            .all(|f| f.stored_bytes > 0 && f.raw_bytes > 0)
    );

    let before = scan_all(
        &mut c,
        pb::ScanRequest {
            table: "t".into(),
            ..Default::default()
        },
    )
    .await
    .expect("scan")
    .0;
    assert_eq!(before.len(), 80);
    c.compact(pb::CompactRequest {
        table: "t".into(),
        major: true,
    })
    .await
    .expect("compact");
    let s = describe(c.clone()).await;
    assert_eq!(s.files, 1, "a major compaction leaves one file: {s:?}");
    assert!(s.compactions >= 1);
    assert!(s.compaction_bytes_in > 0 && s.compaction_bytes_out > 0);
    assert_eq!(s.file_rows, 80);
    assert_eq!(s.file_cells, 160, "overwritten versions are dropped");
    let after = scan_all(
        &mut c,
        pb::ScanRequest {
            table: "t".into(),
            ..Default::default()
        },
    )
    .await
    .expect("scan")
    .0;
    assert_eq!(
        before, after,
        "compaction never changes what a read returns"
    );
    let row = get_row(&mut c, "t", b"k0045").await.expect("found");
    assert_eq!(row.cells[0].value, &b"gen2"[..]);
    // A minor compaction and a flush of an empty memtable are fine too.
    c.compact(pb::CompactRequest {
        table: "t".into(),
        major: false,
    })
    .await
    .expect("minor compact");
    c.flush(pb::FlushRequest { table: "t".into() })
        .await
        .expect("empty flush");
    let e = c
        .flush(pb::FlushRequest {
            table: "nope".into(),
        })
        .await
        .expect_err("flush unknown");
    assert_status(&e, Code::NotFound, &["nope"]);
    let e = c
        .compact(pb::CompactRequest {
            table: "nope".into(),
            major: true,
        })
        .await
        .expect_err("compact unknown");
    assert_status(&e, Code::NotFound, &["nope"]);
}

#[tokio::test]
async fn bulk_ingest_adds_files_atomically_and_once_per_ingest_id() {
    let server = Server::start().await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f", "g"]).await;
    // Same version (timestamp T0) as the file's cells: the later write, the ingest, wins.
    c.mutate(pb::MutateRequest {
        table: "t".into(),
        row: b"ing00003".to_vec().into(),
        mutations: vec![set("f", b"a", b"written before ingest", T0)],
    })
    .await
    .expect("put");
    put(&mut c, "t", b"zz-live", "f", b"a", b"live").await;

    let dir = server.data_dir().join("ingest");
    std::fs::create_dir_all(&dir).expect("ingest dir");
    let p1 = dir.join("part-1.sst");
    let p2 = dir.join("part-2.sst");
    let c1 = build_sstable(&p1, 0, 100);
    let c2 = build_sstable(&p2, 100, 50);
    let on_disk =
        std::fs::metadata(&p1).expect("p1").len() + std::fs::metadata(&p2).expect("p2").len();
    let req = pb::BulkIngestRequest {
        table: "t".into(),
        paths: vec![
            p1.to_string_lossy().into_owned(),
            p2.to_string_lossy().into_owned(),
        ],
        ingest_id: "load-1".into(),
    };
    let first = c
        .bulk_ingest(req.clone())
        .await
        .expect("ingest")
        .into_inner();
    assert_eq!(first.files, 2);
    assert_eq!(first.cells, c1 + c2);
    assert_eq!(first.bytes, on_disk);

    let keys = scan_keys(&mut c, "t").await;
    assert_eq!(keys.len(), 151, "150 ingested rows plus zz-live");
    let row = get_row(&mut c, "t", b"ing00120").await.expect("found");
    assert_eq!(
        cells(&row),
        [
            triple("f", "a", "fa120"),
            triple("f", "b", "fb120"),
            triple("g", "c", "gc120")
        ]
    );
    // Ingested data is newer than what was written before it (by write order).
    let row = get_row(&mut c, "t", b"ing00003").await.expect("found");
    assert_eq!(cells(&row)[0], triple("f", "a", "fa3"));
    let files_after_first = c
        .describe_table(pb::DescribeTableRequest { table: "t".into() })
        .await
        .expect("describe")
        .into_inner()
        .stats
        .expect("stats")
        .files;

    // A write after the ingest, of the same version, wins over it.
    c.mutate(pb::MutateRequest {
        table: "t".into(),
        row: b"ing00004".to_vec().into(),
        mutations: vec![set("f", b"a", b"after", T0)],
    })
    .await
    .expect("put");

    // The same ingest id again: the first reply, nothing loaded twice.
    let again = c
        .bulk_ingest(req.clone())
        .await
        .expect("repeat ingest")
        .into_inner();
    assert_eq!(again, first);
    let stats = c
        .describe_table(pb::DescribeTableRequest { table: "t".into() })
        .await
        .expect("describe")
        .into_inner()
        .stats
        .expect("stats");
    assert_eq!(
        stats.files, files_after_first,
        "no file added by the repeat"
    );
    let row = get_row(&mut c, "t", b"ing00004").await.expect("found");
    assert_eq!(
        cells(&row)[0],
        triple("f", "a", "after"),
        "a repeated ingest must not shadow later writes"
    );
    assert_eq!(scan_keys(&mut c, "t").await.len(), 151);

    // Errors: relative path, missing file, a file with an unknown family, unknown table.
    let e = c
        .bulk_ingest(pb::BulkIngestRequest {
            table: "t".into(),
            paths: vec!["relative.sst".into()],
            ingest_id: "x1".into(),
        })
        .await
        .expect_err("relative path");
    assert_status(&e, Code::InvalidArgument, &["relative.sst"]);
    let missing = dir.join("missing.sst");
    let e = c
        .bulk_ingest(pb::BulkIngestRequest {
            table: "t".into(),
            paths: vec![missing.to_string_lossy().into_owned()],
            ingest_id: "x2".into(),
        })
        .await
        .expect_err("missing file");
    assert_status(&e, Code::NotFound, &["missing.sst"]);
    create_table(&mut c, "only_f", &["f"]).await;
    let p3 = dir.join("part-3.sst");
    build_sstable(&p3, 500, 5);
    let e = c
        .bulk_ingest(pb::BulkIngestRequest {
            table: "only_f".into(),
            paths: vec![p3.to_string_lossy().into_owned()],
            ingest_id: "x3".into(),
        })
        .await
        .expect_err("unknown family in file");
    assert_status(&e, Code::NotFound, &["g"]);
    assert!(
        scan_keys(&mut c, "only_f").await.is_empty(),
        "nothing adopted"
    );
    assert!(p3.exists(), "a refused file stays where it was");
    let e = c
        .bulk_ingest(pb::BulkIngestRequest {
            table: "nope".into(),
            paths: vec![p3.to_string_lossy().into_owned()],
            ingest_id: "x4".into(),
        })
        .await
        .expect_err("unknown table");
    assert_status(&e, Code::NotFound, &["nope"]);

    // Ingested files survive a restart, and the ingest id is still remembered.
    let mut server = server;
    let status = server.terminate().await;
    assert!(status.success(), "{status:?}\n{}", server.stderr());
    server.restart().await;
    let mut c = server.client().await;
    assert_eq!(scan_keys(&mut c, "t").await.len(), 151);
    let again = c
        .bulk_ingest(req)
        .await
        .expect("repeat after restart")
        .into_inner();
    assert_eq!(again, first);
    assert_eq!(scan_keys(&mut c, "t").await.len(), 151);
    let row = get_row(&mut c, "t", b"ing00004").await.expect("found");
    assert_eq!(cells(&row)[0], triple("f", "a", "after"));
}

#[tokio::test]
async fn bulk_ingest_moves_or_copies_so_the_store_owns_its_files() {
    // One file on the data directory's filesystem (moved: its name in the ingest directory is
    // gone) and, where /dev/shm is a separate tmpfs, one on another filesystem (copied and
    // fsynced; the source stays and may be removed).
    let shm = std::path::Path::new("/dev/shm");
    let other_fs = if shm.is_dir() {
        tempfile::tempdir_in(shm).ok()
    } else {
        None
    };
    let data = tempfile::tempdir().expect("tempdir");
    let ingest = data.path().join("data").join("ingest");
    let mut args = vec![
        "--ingest-dir".to_string(),
        ingest.to_string_lossy().into_owned(),
    ];
    if let Some(d) = &other_fs {
        args.extend([
            "--ingest-dir".to_string(),
            d.path().to_string_lossy().into_owned(),
        ]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut server = Server::start_on(&data.path().join("data"), &args).await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f", "g"]).await;
    let mut sources = vec![ingest.join("same.sst")];
    build_sstable(&sources[0], 0, 20);
    if let Some(d) = &other_fs {
        let p = d.path().join("other.sst");
        build_sstable(&p, 20, 20);
        sources.push(p);
    }
    let r = c
        .bulk_ingest(pb::BulkIngestRequest {
            table: "t".into(),
            paths: sources
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect(),
            ingest_id: "moves".into(),
        })
        .await
        .expect("ingest")
        .into_inner();
    assert_eq!(r.files, sources.len() as u64);
    let rows = 20 * sources.len();
    assert!(!sources[0].exists(), "moved into the store");
    // The store owns its copies: removing the sources changes nothing, even after a crash.
    for p in &sources[1..] {
        std::fs::remove_file(p).expect("remove copied source");
    }
    assert_eq!(scan_keys(&mut c, "t").await.len(), rows);
    drop(c);
    server.kill();
    server.restart().await;
    let mut c = server.client().await;
    let (all, _) = scan_all(
        &mut c,
        pb::ScanRequest {
            table: "t".into(),
            ..Default::default()
        },
    )
    .await
    .expect("scan");
    assert_eq!(all.len(), rows);
    assert!(all.iter().all(|r| r.cells.len() == 3));
    c.compact(pb::CompactRequest {
        table: "t".into(),
        major: true,
    })
    .await
    .expect("compact ingested files");
    assert_eq!(scan_keys(&mut c, "t").await.len(), rows);
}
