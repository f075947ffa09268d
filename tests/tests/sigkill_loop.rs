//! The SIGKILL loop (issue 10, item 10b): rounds of concurrent writers over gRPC, with
//! flushes, compactions and bulk ingests going on, against the real `strata serve`; each round
//! SIGKILLs the server at a random moment, restarts it on the same data directory and checks
//! that every acknowledged write of every round so far is there, whole, and that nothing
//! unacknowledged breaks reads: every row a scan returns is one that was sent, with all its
//! cells (rows are atomic), and each writer's counter row holds a value it sent no older than
//! its last acknowledged one.
//!
//! Seeded and replayable: the seed fixes every choice (writers, batch shapes, which
//! maintenance call when, how long before the kill); thread timing is the machine's. A harness
//! of its own, so it takes arguments:
//!
//! ```sh
//! cargo test -p strata-tests --test sigkill_loop                       # 10 rounds (CI)
//! cargo test -p strata-tests --test sigkill_loop -- --rounds 100 --seed 42
//! ```
//!
//! Other arguments (libtest's, a test-name filter) are ignored. It prints the seed first, a
//! line per round and the totals; it exits non-zero on the first failed check.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed run

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use strata_tests::grpc::{build_sstable, row_mutations};
use strata_tests::v1 as pb;
use strata_tests::*;

/// Flags that make flushes, WAL rolls and compactions happen within a round.
const SERVE_ARGS: &[&str] = &["--memtable-bytes", "64KiB", "--wal-segment-bytes", "128KiB"];
/// Rows of one ingested file.
const INGEST_ROWS: usize = 40;

type Cells = Vec<(String, Vec<u8>, Vec<u8>)>;
/// A counter row's values sent, and the last acknowledged one.
type Counter = (Vec<Vec<u8>>, Option<Vec<u8>>);

/// Everything sent and acknowledged so far, over all rounds.
#[derive(Default)]
struct Model {
    /// Every row key ever sent, with the cells it was sent with (keys are never reused,
    /// except the counters).
    sent: HashMap<(String, Vec<u8>), Cells>,
    /// Keys whose write was acknowledged.
    acked: Vec<(String, Vec<u8>)>,
    /// Per counter row: every value sent, and the last acknowledged one.
    counters: HashMap<Vec<u8>, Counter>,
    /// Ingested files so far (for the next file's first row).
    ingests: usize,
}

#[derive(Default, Clone, Copy)]
struct RoundStats {
    batches: usize,
    rows: usize,
    maintenance: usize,
    ingests: usize,
}

struct Args {
    rounds: usize,
    seed: u64,
}

fn args() -> Args {
    let mut rounds = 10;
    let mut seed = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (a.clone(), None),
        };
        match name.as_str() {
            "--rounds" => {
                let v = inline.or_else(|| it.next()).expect("--rounds N");
                rounds = v.parse().expect("--rounds takes a number");
            }
            "--seed" => {
                let v = inline.or_else(|| it.next()).expect("--seed S");
                seed = Some(v.parse().expect("--seed takes a number"));
            }
            _ => {} // libtest's flags, a name filter: not ours
        }
    }
    let seed = seed.unwrap_or_else(|| rand::rng().random());
    Args { rounds, seed }
}

fn main() {
    let args = args();
    println!(
        "sigkill loop: seed {}, {} rounds (replay: cargo test -p strata-tests --test sigkill_loop -- --seed {} --rounds {})",
        args.seed, args.rounds, args.seed, args.rounds
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let totals = rt.block_on(run(args.rounds, args.seed));
    println!(
        "sigkill loop: seed {}: {} rounds passed in {:.1} s: {} acknowledged batches, {} rows, {} flushes/compactions, {} ingests",
        args.seed,
        args.rounds,
        started.elapsed().as_secs_f64(),
        totals.batches,
        totals.rows,
        totals.maintenance,
        totals.ingests
    );
    // The closing line test runners read.
    println!("test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out");
}

async fn run(rounds: usize, seed: u64) -> RoundStats {
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start_on(&data, SERVE_ARGS).await;
    let mut c = server.client().await;
    create_table(&mut c, "a", &["f", "g"]).await;
    create_table(&mut c, "b", &["f", "g"]).await;
    drop(c);
    let model = Arc::new(Mutex::new(Model::default()));
    let mut totals = RoundStats::default();
    for round in 0..rounds {
        let round_seed: u64 = rng.random();
        let t = Instant::now();
        let stats = round_once(&mut server, round, round_seed, &model).await;
        server.restart().await;
        let (rows, acked) = verify(&server, &model, round).await;
        println!(
            "round {round}: seed {round_seed}: {} batches and {} ingests acknowledged, {} maintenance calls; after restart {rows} rows, all {acked} acknowledged present ({:.1} s)",
            stats.batches,
            stats.ingests,
            stats.maintenance,
            t.elapsed().as_secs_f64()
        );
        totals.batches += stats.batches;
        totals.rows += stats.rows;
        totals.maintenance += stats.maintenance;
        totals.ingests += stats.ingests;
    }
    server.kill();
    totals
}

/// One round: writers and maintenance until a SIGKILL at a moment drawn from the seed.
async fn round_once(
    server: &mut Server,
    round: usize,
    seed: u64,
    model: &Arc<Mutex<Model>>,
) -> RoundStats {
    let mut rng = StdRng::seed_from_u64(seed);
    let writers = rng.random_range(2..=4usize);
    let stats = Arc::new(Mutex::new(RoundStats::default()));
    let mut tasks = Vec::new();
    for w in 0..writers {
        let c = server.client().await;
        let (model, stats) = (model.clone(), stats.clone());
        let wseed: u64 = rng.random();
        tasks.push(tokio::spawn(writer(c, round, w, wseed, model, stats)));
    }
    {
        let c = server.client().await;
        let (model, stats) = (model.clone(), stats.clone());
        let mseed: u64 = rng.random();
        let ingest_dir = server.data_dir().join("ingest");
        tasks.push(tokio::spawn(maintenance(
            c, round, mseed, ingest_dir, model, stats,
        )));
    }
    // Let the round get going (a bounded wait for the first acknowledgement), then kill at a
    // random moment.
    let deadline = Instant::now() + Duration::from_secs(60);
    while stats.lock().unwrap().batches == 0 {
        assert!(Instant::now() < deadline, "no write acknowledged in 60 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let delay = rng.random_range(50..1500u64);
    tokio::time::sleep(Duration::from_millis(delay)).await;
    server.kill();
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .expect("a client task stops after the kill")
            .expect("client task");
    }
    *stats.lock().unwrap()
}

/// Write batches until the server goes away (or a bounded count): unique rows in both tables
/// and this writer's counter row, recorded as sent before the call and acknowledged after.
async fn writer(
    mut c: pb::strata_client::StrataClient<tonic::transport::Channel>,
    round: usize,
    w: usize,
    seed: u64,
    model: Arc<Mutex<Model>>,
    stats: Arc<Mutex<RoundStats>>,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let counter = format!("counter-w{w}").into_bytes();
    for n in 0..20_000usize {
        let table = if rng.random_bool(0.7) { "a" } else { "b" };
        let rows = rng.random_range(1..=8usize);
        let mut entries = Vec::new();
        let mut keys = Vec::new();
        {
            let mut m = model.lock().unwrap();
            for r in 0..rows {
                let key = format!("r{round:03}-w{w}-{n:06}-{r}");
                let big = rng.random_range(0..400usize);
                let cells: Cells = vec![
                    ("f".into(), b"x".to_vec(), key.clone().into_bytes()),
                    ("g".into(), b"y".to_vec(), vec![b'v'; big]),
                ];
                entries.push(row_mutations(
                    key.as_bytes(),
                    cells.iter().map(|(f, q, v)| set(f, q, v, 0)).collect(),
                ));
                m.sent
                    .insert((table.to_owned(), key.clone().into_bytes()), cells);
                keys.push((table.to_owned(), key.into_bytes()));
            }
            if table == "a" {
                let value = format!("{round:03}-{n:06}").into_bytes();
                entries.push(row_mutations(&counter, vec![set("f", b"n", &value, 0)]));
                m.counters.entry(counter.clone()).or_default().0.push(value);
            }
        }
        let reply = c
            .mutate_rows(pb::MutateRowsRequest {
                table: table.into(),
                entries,
            })
            .await;
        if reply.is_err() {
            return; // the server is gone
        }
        let mut m = model.lock().unwrap();
        if table == "a" {
            let value = format!("{round:03}-{n:06}").into_bytes();
            m.counters.entry(counter.clone()).or_default().1 = Some(value);
        }
        m.acked.extend(keys);
        let mut s = stats.lock().unwrap();
        s.batches += 1;
        s.rows += rows;
    }
}

/// Flushes, minor and major compactions and bulk ingests of fresh files, at random moments.
async fn maintenance(
    mut c: pb::strata_client::StrataClient<tonic::transport::Channel>,
    round: usize,
    seed: u64,
    ingest_dir: std::path::PathBuf,
    model: Arc<Mutex<Model>>,
    stats: Arc<Mutex<RoundStats>>,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    for i in 0..1000usize {
        tokio::time::sleep(Duration::from_millis(rng.random_range(10..150))).await;
        let table = if rng.random_bool(0.5) { "a" } else { "b" };
        let result = match rng.random_range(0..4) {
            0 => c
                .flush(pb::FlushRequest {
                    table: table.into(),
                })
                .await
                .map(|_| ()),
            1 => c
                .compact(pb::CompactRequest {
                    table: table.into(),
                    major: rng.random_bool(0.3),
                })
                .await
                .map(|_| ()),
            2 => c
                .flush(pb::FlushRequest {
                    table: table.into(),
                })
                .await
                .map(|_| ()),
            _ => {
                let first = {
                    let mut m = model.lock().unwrap();
                    let first = m.ingests * INGEST_ROWS;
                    m.ingests += 1;
                    for k in first..first + INGEST_ROWS {
                        let key = format!("ing{k:05}");
                        m.sent.insert(
                            (table.to_owned(), key.into_bytes()),
                            vec![
                                ("f".into(), b"a".to_vec(), format!("fa{k}").into_bytes()),
                                ("f".into(), b"b".to_vec(), format!("fb{k}").into_bytes()),
                                ("g".into(), b"c".to_vec(), format!("gc{k}").into_bytes()),
                            ],
                        );
                    }
                    first
                };
                let path = ingest_dir.join(format!("r{round:03}-{i:04}.sst"));
                build_sstable(&path, first, INGEST_ROWS);
                let reply = c
                    .bulk_ingest(pb::BulkIngestRequest {
                        table: table.into(),
                        paths: vec![path.display().to_string()],
                        ingest_id: format!("r{round:03}-{i:04}"),
                    })
                    .await;
                if reply.is_ok() {
                    let mut m = model.lock().unwrap();
                    m.acked.extend(
                        (first..first + INGEST_ROWS)
                            .map(|k| (table.to_owned(), format!("ing{k:05}").into_bytes())),
                    );
                    stats.lock().unwrap().ingests += 1;
                }
                reply.map(|_| ())
            }
        };
        match result {
            Ok(()) => stats.lock().unwrap().maintenance += 1,
            Err(s) if s.code() == tonic::Code::Unavailable || s.code() == tonic::Code::Unknown => {
                return; // the server is gone
            }
            Err(s) if s.message().contains("transport") || s.message().contains("connect") => {
                return;
            }
            Err(s) => panic!("round {round}: maintenance call failed: {s:?}"),
        }
    }
}

/// After a restart: every acknowledged row present and whole, every row present one that was
/// sent, whole, and the counters sane. Returns (rows present, acknowledged rows checked).
async fn verify(server: &Server, model: &Arc<Mutex<Model>>, round: usize) -> (usize, usize) {
    let mut c = server.client().await;
    let mut scanned = Vec::new();
    for table in ["a", "b"] {
        let (rows, _) = scan_all(
            &mut c,
            pb::ScanRequest {
                table: table.into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|s| panic!("round {round}: scan of {table} after the restart: {s:?}"));
        scanned.push((table, rows));
    }
    let m = model.lock().unwrap();
    let mut present: BTreeMap<(String, Vec<u8>), Cells> = BTreeMap::new();
    let mut counters_seen = Vec::new();
    for (table, rows) in scanned {
        for r in rows {
            let mut got = cells(&r);
            got.sort();
            if let Some((values, last_acked)) = m.counters.get(&r.key.to_vec()) {
                assert_eq!(table, "a", "round {round}: a counter row in table {table}");
                assert_eq!(got.len(), 1, "round {round}: counter row {:?}", r.key);
                let v = &got[0].2;
                assert!(
                    values.contains(v),
                    "round {round}: counter {:?} holds {:?}, never sent",
                    r.key.escape_ascii().to_string(),
                    String::from_utf8_lossy(v)
                );
                if let Some(acked) = last_acked {
                    assert!(
                        v >= acked,
                        "round {round}: counter {:?} holds {:?}, older than the acknowledged {:?}",
                        r.key.escape_ascii().to_string(),
                        String::from_utf8_lossy(v),
                        String::from_utf8_lossy(acked)
                    );
                }
                counters_seen.push(r.key.to_vec());
                continue;
            }
            let key = (table.to_owned(), r.key.to_vec());
            let Some(sent) = m.sent.get(&key) else {
                panic!(
                    "round {round}: row {} of table {table} was never sent",
                    r.key.escape_ascii()
                );
            };
            let mut want = sent.clone();
            want.sort();
            assert_eq!(
                got,
                want,
                "round {round}: row {} of table {table} is not whole",
                r.key.escape_ascii()
            );
            present.insert(key, got);
        }
    }
    for key in &m.acked {
        assert!(
            present.contains_key(key),
            "round {round}: acknowledged row {} of table {} lost after SIGKILL",
            key.1.escape_ascii(),
            key.0
        );
    }
    for (counter, (_, last)) in &m.counters {
        assert!(
            last.is_none() || counters_seen.contains(counter),
            "round {round}: counter row {} lost",
            counter.escape_ascii()
        );
    }
    (present.len(), m.acked.len())
}
