//! BulkIngest cannot hurt the store (issue 10 item 3; the review's H3, H4, H5, L5, L8 repros)
//! against the real `strata serve`: the server adopts only regular files under its ingest
//! directories (ServerInfo lists them), moves them into the store on its own filesystem (so
//! truncating the client's path later cannot reach the adopted file) and copies the others;
//! a path outside the ingest directories is PERMISSION_DENIED, a missing file NOT_FOUND, a file
//! that is not a table file INVALID_ARGUMENT, and no error message echoes a file's bytes; a
//! FIFO fails at once and blocks no other ingest; an ingest id is at most 256 bytes; a retry
//! after a lost reply returns the first reply although the files were moved; `strata load
//! --server` stages its files in the server's first ingest directory.
//!
//! This file owns only these scenarios; it must never assert on timings (the FIFO test bounds
//! a call only so that a hang fails instead of blocking the suite).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::path::{Path, PathBuf};
use std::time::Duration;

use strata_proto::v1::strata_client::StrataClient;
use strata_tests::grpc::build_sstable;
use strata_tests::v1 as pb;
use strata_tests::*;
use tonic::Code;
use tonic::transport::Channel;

/// The default ingest directory of a server started without `--ingest-dir`.
fn default_ingest_dir(server: &Server) -> PathBuf {
    server.data_dir().join("ingest")
}

/// Build an SSTable `name` in `dir` (created if missing) of `rows` rows from `first`.
fn stage(dir: &Path, name: &str, first: usize, rows: usize) -> PathBuf {
    std::fs::create_dir_all(dir).expect("create staging dir");
    let p = dir.join(name);
    build_sstable(&p, first, rows);
    p
}

fn s(p: &Path) -> String {
    p.to_str().expect("test paths are UTF-8").to_owned()
}

async fn ingest(
    c: &mut StrataClient<Channel>,
    table: &str,
    paths: &[&Path],
    id: &str,
) -> Result<pb::BulkIngestResponse, tonic::Status> {
    c.bulk_ingest(pb::BulkIngestRequest {
        table: table.into(),
        paths: paths.iter().map(|p| s(p)).collect(),
        ingest_id: id.into(),
    })
    .await
    .map(tonic::Response::into_inner)
}

/// The last 8 bytes of `data` as the old footer message printed them, and their text.
fn leak_needles(data: &[u8]) -> Vec<String> {
    let tail: [u8; 8] = data[data.len() - 8..].try_into().unwrap();
    vec![
        format!("{:#018x}", u64::from_le_bytes(tail)),
        String::from_utf8_lossy(&tail).into_owned(),
        format!("{} bytes", data.len()),
        format!("offset {}", data.len() - 32),
    ]
}

#[track_caller]
fn assert_no_leak(status: &tonic::Status, data: &[u8]) {
    for n in leak_needles(data) {
        assert!(
            !status.message().contains(&n),
            "the message leaks the file ({n:?}): {}",
            status.message()
        );
    }
}

#[tokio::test]
async fn truncating_the_source_after_ingest_cannot_crash_the_server() {
    // H3: the adopted file used to be a hard link of the client's path; truncating that path
    // made the next read SIGBUS the server, and the store never reopened.
    let mut server = Server::start().await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f", "g"]).await;
    let src = stage(&default_ingest_dir(&server), "ext.sst", 0, 200);
    let r = ingest(&mut c, "t", &[&src], "h3").await.expect("ingest");
    assert_eq!(r.files, 1);
    if src.exists() {
        // What the review did: the client's name still reaches the adopted inode.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&src)
            .expect("open source")
            .set_len(0)
            .expect("truncate source");
    }
    let row = get_row(&mut c, "t", b"ing00150")
        .await
        .expect("the ingested row is readable after the source was truncated");
    assert_eq!(cells(&row)[0], triple("f", "a", "fa150"));
    assert!(
        !src.exists(),
        "the source name is gone: the file was moved into the store"
    );
    assert!(server.is_running());
    let status = server.terminate().await;
    assert!(status.success(), "{status:?}\n{}", server.stderr());
    server.restart().await;
    let mut c = server.client().await;
    assert_eq!(scan_keys(&mut c, "t").await.len(), 200);
}

#[tokio::test]
async fn an_ingest_id_is_at_most_256_bytes() {
    // H4: a 63 MiB id was stored verbatim in the manifest, which then grew past its decode
    // limit and never reopened.
    let server = Server::start().await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f", "g"]).await;
    let src = stage(&default_ingest_dir(&server), "a.sst", 0, 10);
    let long = "x".repeat(257);
    let e = ingest(&mut c, "t", &[&src], &long)
        .await
        .expect_err("a 257-byte ingest id");
    assert_status(&e, Code::InvalidArgument, &["ingest_id", "256"]);
    assert!(
        !e.message().contains(&long),
        "the id is not echoed: {}",
        e.message()
    );
    let huge = "y".repeat(1 << 20);
    let e = ingest(&mut c, "t", &[&src], &huge)
        .await
        .expect_err("a 1 MiB ingest id");
    assert_status(&e, Code::InvalidArgument, &["ingest_id"]);
    assert!(src.exists(), "nothing was adopted");
    assert!(scan_keys(&mut c, "t").await.is_empty());
    let ok = "z".repeat(256);
    assert_eq!(
        ingest(&mut c, "t", &[&src], &ok)
            .await
            .expect("a 256-byte id")
            .files,
        1
    );
    let manifest = std::fs::metadata(server.data_dir().join("MANIFEST"))
        .expect("manifest")
        .len();
    assert!(manifest < 64 * 1024, "manifest of {manifest} bytes");
}

#[tokio::test]
async fn paths_outside_the_ingest_dirs_are_refused_and_nothing_leaks() {
    // H5: any server-readable path was opened, and the error echoed its last 8 bytes and its
    // size; a missing path answered INTERNAL (an existence oracle).
    let server = Server::start().await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f", "g"]).await;
    let ingest_dir = default_ingest_dir(&server);
    std::fs::create_dir_all(&ingest_dir).expect("ingest dir");
    let outside = tempfile::tempdir().expect("tempdir");
    let secret_bytes = b"root:$6$salt$hash:19000:0:99999:7:::\nuser:!:19000::::::\n3::::::\n";
    let secret = outside.path().join("shadow");
    std::fs::write(&secret, secret_bytes).expect("write secret");
    let valid_outside = stage(outside.path(), "valid.sst", 0, 5);

    for (what, p) in [
        ("a file outside", secret.clone()),
        ("a valid table file outside", valid_outside.clone()),
        ("a missing file outside", outside.path().join("missing.sst")),
        ("/etc/hostname", PathBuf::from("/etc/hostname")),
        (
            "a dot-dot escape",
            ingest_dir
                .join("..")
                .join("..")
                .join("..")
                .join("etc/hostname"),
        ),
    ] {
        let e = ingest(&mut c, "t", &[&p], "").await.expect_err(what);
        assert_status(&e, Code::PermissionDenied, &["ingest"]);
        assert_no_leak(&e, secret_bytes);
    }
    // A symbolic link inside an ingest directory to a file outside it.
    let link = ingest_dir.join("link.sst");
    std::os::unix::fs::symlink(&secret, &link).expect("symlink");
    let e = ingest(&mut c, "t", &[&link], "")
        .await
        .expect_err("symlink");
    assert_status(&e, Code::PermissionDenied, &[]);
    assert_no_leak(&e, secret_bytes);
    std::fs::remove_file(&link).expect("remove link");
    let link = ingest_dir.join("link-to-valid.sst");
    std::os::unix::fs::symlink(&valid_outside, &link).expect("symlink");
    let e = ingest(&mut c, "t", &[&link], "")
        .await
        .expect_err("symlink");
    assert_status(&e, Code::PermissionDenied, &[]);
    assert!(valid_outside.exists(), "a file outside is never moved");

    // Inside an ingest directory: not a table file, missing, not a regular file.
    let junk = ingest_dir.join("junk.sst");
    std::fs::write(&junk, secret_bytes).expect("write junk");
    let e = ingest(&mut c, "t", &[&junk], "").await.expect_err("junk");
    assert_status(
        &e,
        Code::InvalidArgument,
        &["junk.sst", "not a Strata table file"],
    );
    assert_no_leak(&e, secret_bytes);
    assert!(
        junk.exists(),
        "a refused file stays where the client put it"
    );
    let e = ingest(&mut c, "t", &[&ingest_dir.join("missing.sst")], "")
        .await
        .expect_err("missing");
    assert_status(&e, Code::NotFound, &["missing.sst"]);
    let sub = ingest_dir.join("a-directory.sst");
    std::fs::create_dir_all(&sub).expect("mkdir");
    let e = ingest(&mut c, "t", &[&sub], "")
        .await
        .expect_err("directory");
    assert_status(&e, Code::InvalidArgument, &["not a regular file"]);
    let e = ingest(&mut c, "t", &[Path::new("relative.sst")], "")
        .await
        .expect_err("relative");
    assert_status(&e, Code::InvalidArgument, &["relative.sst"]);

    // One bad path fails the whole ingest; the good file stays where it was.
    let good = stage(&ingest_dir, "good.sst", 0, 5);
    let e = ingest(&mut c, "t", &[&good, &junk], "mixed")
        .await
        .expect_err("one bad file");
    assert_status(&e, Code::InvalidArgument, &["junk.sst"]);
    assert!(good.exists(), "a failed ingest puts moved files back");
    assert!(scan_keys(&mut c, "t").await.is_empty());
    assert_eq!(
        ingest(&mut c, "t", &[&good], "mixed")
            .await
            .expect("the good file alone")
            .files,
        1
    );
    assert_eq!(scan_keys(&mut c, "t").await.len(), 5);
}

#[tokio::test]
async fn a_fifo_fails_at_once_and_blocks_no_other_ingest() {
    // H5: opening a FIFO blocked inside the ingest lock, and every later ingest hung with it.
    let server = Server::start().await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f", "g"]).await;
    let dir = default_ingest_dir(&server);
    std::fs::create_dir_all(&dir).expect("ingest dir");
    let fifo = dir.join("pipe.sst");
    let cpath = std::ffi::CString::new(s(&fifo)).unwrap();
    // SAFETY: mkfifo(3) with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(cpath.as_ptr(), 0o644) }, 0, "mkfifo");
    let bound = Duration::from_secs(20);
    let mut c2 = c.clone();
    let fifo_call = tokio::spawn({
        let fifo = fifo.clone();
        async move { tokio::time::timeout(bound, ingest(&mut c2, "t", &[&fifo], "fifo")).await }
    });
    let good = stage(&dir, "good.sst", 0, 7);
    let r = tokio::time::timeout(bound, ingest(&mut c, "t", &[&good], "good"))
        .await
        .expect("an ingest beside a FIFO ingest must not hang")
        .expect("ingest");
    assert_eq!(r.files, 1);
    let e = fifo_call
        .await
        .expect("task")
        .expect("a FIFO ingest must not hang")
        .expect_err("a FIFO is not a table file");
    assert_status(
        &e,
        Code::InvalidArgument,
        &["pipe.sst", "not a regular file"],
    );
    assert_eq!(scan_keys(&mut c, "t").await.len(), 7);
}

#[tokio::test]
async fn server_info_lists_ingest_dirs_version_sync_and_limits() {
    let extra = tempfile::tempdir().expect("tempdir");
    let d1 = extra.path().join("one");
    let d2 = extra.path().join("two");
    let server = Server::start_with_args(&[
        "--ingest-dir",
        &s(&d1),
        "--ingest-dir",
        &s(&d2),
        "--sync",
        "none",
        "--max-value-bytes",
        "1MiB",
        "--max-row-key-bytes",
        "2KiB",
        "--max-cells-per-call",
        "5000",
        "--max-scans",
        "7",
    ])
    .await;
    let mut c = server.client().await;
    let info = c
        .server_info(pb::ServerInfoRequest {})
        .await
        .expect("server info")
        .into_inner();
    let canon = |p: &Path| s(&std::fs::canonicalize(p).expect("the server created it"));
    assert_eq!(info.ingest_dirs, vec![canon(&d1), canon(&d2)]);
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(info.sync, "none");
    let limits = info.limits.expect("limits");
    assert_eq!(limits.max_value_bytes, 1 << 20);
    assert_eq!(limits.max_row_key_bytes, 2048);
    assert_eq!(limits.max_qualifier_bytes, 16 * 1024);
    assert_eq!(limits.max_message_bytes, 64 << 20);
    assert_eq!(limits.max_mutations_per_row, 100_000);
    assert_eq!(limits.max_cells_per_call, 5000);
    assert_eq!(limits.max_bytes_per_call, 256 << 20);
    assert_eq!(limits.max_cells_per_row, 100_000);
    assert_eq!(limits.max_scans, 7);
    assert_eq!(limits.max_scans_per_connection, 32);
    // Files are taken from the given directories only.
    create_table(&mut c, "t", &["f", "g"]).await;
    let from_two = stage(&d2, "x.sst", 0, 3);
    assert_eq!(
        ingest(&mut c, "t", &[&from_two], "")
            .await
            .expect("d2")
            .files,
        1
    );
    let from_default = stage(&default_ingest_dir(&server), "y.sst", 10, 3);
    let e = ingest(&mut c, "t", &[&from_default], "")
        .await
        .expect_err("not an ingest dir of this server");
    assert_status(&e, Code::PermissionDenied, &[]);

    // Without --ingest-dir: DATA_DIR/ingest, created at start; sync group by default.
    let server = Server::start().await;
    let info = server
        .client()
        .await
        .server_info(pb::ServerInfoRequest {})
        .await
        .expect("server info")
        .into_inner();
    assert_eq!(info.ingest_dirs, vec![canon(&default_ingest_dir(&server))]);
    assert_eq!(info.sync, "group");
}

#[tokio::test]
async fn a_retry_returns_the_first_reply_and_copies_leave_the_store_alone() {
    // The store's filesystem: moved (the retry after a lost reply must not need the files);
    // another filesystem (/dev/shm, a tmpfs, when there is one): copied, and the copy is
    // what was checked, so changing the source afterwards changes nothing.
    let shm = Path::new("/dev/shm");
    let other = if shm.is_dir() {
        tempfile::tempdir_in(shm).ok()
    } else {
        None
    };
    let mut args = Vec::new();
    let data = tempfile::tempdir().expect("tempdir");
    let same = data.path().join("data").join("ingest");
    args.extend(["--ingest-dir".to_string(), s(&same)]);
    if let Some(o) = &other {
        args.extend(["--ingest-dir".to_string(), s(o.path())]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start_on(&data.path().join("data"), &args).await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f", "g"]).await;
    let mut paths = vec![stage(&same, "moved.sst", 0, 20)];
    if let Some(o) = &other {
        paths.push(stage(o.path(), "copied.sst", 20, 20));
    }
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let first = ingest(&mut c, "t", &refs, "retry-1").await.expect("ingest");
    assert_eq!(first.files, paths.len() as u64);
    assert!(!paths[0].exists(), "moved into the store");
    if let Some(copied) = paths.get(1) {
        assert!(copied.exists(), "a copied source stays");
        std::fs::OpenOptions::new()
            .write(true)
            .open(copied)
            .expect("open")
            .set_len(0)
            .expect("truncate the copied source");
    }
    let again = ingest(&mut c, "t", &refs, "retry-1")
        .await
        .expect("the retry answers the first reply");
    assert_eq!(again, first);
    assert_eq!(scan_keys(&mut c, "t").await.len(), 20 * paths.len());
    if other.is_some() {
        let row = get_row(&mut c, "t", b"ing00030").await.expect("copied row");
        assert_eq!(cells(&row)[2], triple("g", "c", "gc30"));
    }
}

#[tokio::test]
async fn load_through_a_server_stages_in_its_ingest_dir() {
    let mut server = Server::start().await;
    let csv_dir = tempfile::tempdir().expect("tempdir");
    let csv = csv_dir.path().join("t.csv");
    std::fs::write(&csv, "k,a,b\nr1,x,y\nr2,z,w\n").expect("csv");
    let ingest_dir = default_ingest_dir(&server);
    let out = server.cli(&[
        "load",
        "--table",
        "t",
        "--csv",
        &s(&csv),
        "--columns",
        "HBASE_ROW_KEY,f:a,f:b",
        "--quiet",
    ]);
    out.assert_success();
    let mut c = server.client().await;
    assert_eq!(
        scan_keys(&mut c, "t").await,
        vec![b"r1".to_vec(), b"r2".to_vec()]
    );
    let left: Vec<_> = std::fs::read_dir(&ingest_dir)
        .expect("the ingest dir exists")
        .collect();
    assert!(left.is_empty(), "staging removed: {left:?}");

    // An ingest directory the client cannot write: the load says which flag to use.
    drop(c);
    std::fs::remove_dir_all(&ingest_dir).expect("remove");
    std::fs::write(&ingest_dir, b"not a directory").expect("block it");
    let out = server.cli(&[
        "load",
        "--table",
        "t",
        "--csv",
        &s(&csv),
        "--columns",
        "HBASE_ROW_KEY,f:a,f:b",
        "--quiet",
        "--ingest-id",
        "second",
    ]);
    out.assert_failure();
    assert!(
        out.stderr.contains("--ingest-dir"),
        "the error names --ingest-dir: {}",
        out.stderr
    );
    assert!(server.is_running());
}
