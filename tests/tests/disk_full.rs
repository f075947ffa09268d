//! A full disk through the real `strata serve` (issue 10, item 10c): once the store's disk
//! is full, writes are refused with a status that says so (RESOURCE_EXHAUSTED, or
//! UNAVAILABLE for the read-only store that follows, naming "No space left on device"),
//! reads go on and return every acknowledged write, and after a restart with space back
//! nothing acknowledged is lost and writes are taken again.
//!
//! Two ways to fill a disk, one test each: a small tmpfs mounted for the data directory
//! (where this process may mount, as root on CI; space comes back by remounting it larger),
//! and the hidden test-only flag `--fault-enospc-after-bytes N` (space comes back by
//! restarting without it). Where mounting is refused, the tmpfs test says so and runs the
//! flag's way instead, so the scenario always runs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use strata_tests::grpc::row_mutations;
use strata_tests::v1 as pb;
use strata_tests::*;
use tonic::Code;

/// A tmpfs mounted on a directory, unmounted when dropped.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mount a tmpfs of `bytes` on a fresh directory under `parent`; None (with the reason)
    /// where this process may not mount.
    fn mount(parent: &Path, bytes: u64) -> Result<Tmpfs, String> {
        let dir = parent.join("tmpfs");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(&dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if out.status.success() {
            Ok(Tmpfs { dir })
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }

    /// Give the filesystem `bytes` of room ("space is back").
    fn grow(&self, bytes: u64) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={bytes}")])
            .arg(&self.dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "remount: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// A value of `len` bytes that says which row it belongs to, the rest incompressible (so
/// table files take the room they hold: zstd would shrink a repeated byte to nothing).
fn value(key: &str, len: usize) -> Vec<u8> {
    let mut v = key.as_bytes().to_vec();
    let mut x = key.bytes().fold(0x9E37_79B9_7F4A_7C15u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)
    });
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

fn assert_no_space(s: &tonic::Status, what: &str) {
    assert!(
        matches!(s.code(), Code::ResourceExhausted | Code::Unavailable),
        "{what}: a full disk answered {:?}: {}",
        s.code(),
        s.message()
    );
    assert!(
        s.message().contains("No space left on device"),
        "{what}: the refusal names the full disk: {}",
        s.message()
    );
}

/// Write batches of 16 KiB rows, with a flush every `flush_every` batches, until the disk
/// refuses a call (bounded); the acknowledged keys.
async fn fill(
    c: &mut pb::strata_client::StrataClient<tonic::transport::Channel>,
    flush_every: usize,
) -> Vec<String> {
    let mut acked = Vec::new();
    for b in 0..2_000 {
        let keys: Vec<String> = (0..4).map(|i| format!("b{b:04}-{i}")).collect();
        let entries = keys
            .iter()
            .map(|k| row_mutations(k.as_bytes(), vec![set("f", b"v", &value(k, 16 * 1024), 0)]))
            .collect();
        let reply = c
            .mutate_rows(pb::MutateRowsRequest {
                table: "t".into(),
                entries,
            })
            .await;
        match reply {
            Ok(_) => acked.extend(keys),
            Err(s) => {
                assert_no_space(&s, "the write that filled the disk");
                println!(
                    "disk full after {} acknowledged rows: {:?} {}",
                    acked.len(),
                    s.code(),
                    s.message()
                );
                return acked;
            }
        }
        if b % flush_every == flush_every - 1 {
            // Flushes write table files on the same disk; one may be the call that fails.
            if let Err(s) = c.flush(pb::FlushRequest { table: "t".into() }).await {
                assert_no_space(&s, "a flush on a full disk");
                println!(
                    "disk full at a flush after {} acknowledged rows: {:?} {}",
                    acked.len(),
                    s.code(),
                    s.message()
                );
                return acked;
            }
        }
    }
    panic!("2000 batches of 64 KiB and the disk never filled");
}

/// Every acknowledged row reads back whole.
async fn assert_all_there(
    c: &mut pb::strata_client::StrataClient<tonic::transport::Channel>,
    acked: &[String],
    when: &str,
) {
    let (rows, _) = scan_all(
        c,
        pb::ScanRequest {
            table: "t".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_or_else(|s| panic!("{when}: scan: {s:?}"));
    let present: std::collections::HashMap<Vec<u8>, Vec<u8>> = rows
        .iter()
        .map(|r| (r.key.to_vec(), r.cells[0].value.to_vec()))
        .collect();
    for k in acked {
        let v = present
            .get(k.as_bytes())
            .unwrap_or_else(|| panic!("{when}: acknowledged row {k} is missing"));
        assert!(*v == value(k, 16 * 1024), "{when}: row {k} differs");
    }
}

/// The scenario on `data`: fill (flushing every `flush_every` batches: the disk fills at a
/// flush when that is often, in the WAL otherwise), check refusals and reads, `make_room`,
/// restart with `restart_args`, check nothing is lost and writes are taken.
async fn disk_full_scenario(
    data: &Path,
    flush_every: usize,
    args: &[&str],
    restart_args: &[&str],
    make_room: impl FnOnce(),
) {
    let mut server = Server::start_on(data, args).await;
    let mut c = server.client().await;
    create_table(&mut c, "t", &["f"]).await;
    let acked = fill(&mut c, flush_every).await;
    assert!(
        acked.len() >= 8,
        "some writes fit before the disk filled: {}",
        acked.len()
    );
    // Writes stay refused, saying why; reads go on.
    for i in 0..3 {
        let s = c
            .mutate_rows(pb::MutateRowsRequest {
                table: "t".into(),
                entries: vec![row_mutations(b"later", vec![set("f", b"v", b"x", 0)])],
            })
            .await
            .expect_err("a write on a full disk is refused");
        assert_no_space(&s, &format!("write {i} after the disk filled"));
        if i == 0 {
            println!("next write: {:?} {}", s.code(), s.message());
        }
    }
    let got = get_row(&mut c, "t", acked[0].as_bytes())
        .await
        .expect("a get on a full disk");
    assert_eq!(got.cells[0].value.to_vec(), value(&acked[0], 16 * 1024));
    assert_all_there(&mut c, &acked, "on the full disk").await;
    drop(c);

    make_room();
    server.restart_with_args(restart_args).await;
    let mut c = server.client().await;
    assert_all_there(&mut c, &acked, "after the restart").await;
    tokio::time::timeout(Duration::from_secs(30), async {
        put(&mut c, "t", b"after", "f", b"v", b"space is back").await;
        c.flush(pb::FlushRequest { table: "t".into() })
            .await
            .expect("flush after the restart");
    })
    .await
    .expect("writes are taken again");
    let got = get_row(&mut c, "t", b"after").await.expect("read back");
    assert_eq!(got.cells[0].value.to_vec(), b"space is back");
    server.kill();
}

const FLAG_LIMIT: &str = "1500000";

#[tokio::test]
async fn a_full_disk_refuses_writes_keeps_reads_and_loses_nothing_on_a_small_tmpfs() {
    let dir = tempfile::tempdir().unwrap();
    match Tmpfs::mount(dir.path(), 1536 * 1024) {
        Ok(fs) => {
            println!("disk-full run: a 1.5 MiB tmpfs at {}", fs.dir.display());
            let data = fs.dir.join("data");
            disk_full_scenario(&data, 16, &[], &[], || fs.grow(64 << 20)).await;
        }
        Err(why) => {
            println!(
                "disk-full run: cannot mount a tmpfs here ({why}); using --fault-enospc-after-bytes"
            );
            let data = dir.path().join("data");
            disk_full_scenario(
                &data,
                16,
                &["--fault-enospc-after-bytes", FLAG_LIMIT],
                &[],
                || {},
            )
            .await;
        }
    }
}

#[tokio::test]
async fn a_full_disk_refuses_writes_keeps_reads_and_loses_nothing_with_the_fault_flag() {
    println!("disk-full run: --fault-enospc-after-bytes {FLAG_LIMIT}");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // No flush before the disk is full: the WAL append is the write that fails.
    disk_full_scenario(
        &data,
        usize::MAX,
        &["--fault-enospc-after-bytes", FLAG_LIMIT],
        &[],
        || {},
    )
    .await;
}
