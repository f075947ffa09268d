//! Fuzz harness of the proto-to-engine conversion (issue 10, item 10a): damaged encoded
//! requests (MutateRows, Scan, CreateTable; bit flips, overwritten, zeroed, inserted and
//! removed bytes, truncations, varints that lie) that still decode are converted and applied
//! to a real store: nothing panics, a refusal is a client status (INVALID_ARGUMENT,
//! NOT_FOUND, ALREADY_EXISTS, RESOURCE_EXHAUSTED) naming the problem, no client request makes
//! the store read-only, and a conversion turned back into wire messages converts to the same
//! engine values. Arbitrary SetCell requests that the server accepts read back exactly (no
//! wrong data: family, qualifier, timestamp and value as sent).
//!
//! Starts from the committed corpus `tests/fuzz/corpus/convert/` (encoded requests of every
//! mutation kind, a scan with columns, time range and filter, a create with two families;
//! plus damaged variants and regression cases); `STRATA_FUZZ_CASES` and `STRATA_FUZZ_SEED`
//! run it long (docs/design/robustness.md).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bytes::Bytes;
use proptest::prelude::*;
use prost::Message;
use strata_engine::fuzz::{self, Damage, Pos};
use strata_engine::{Db, DbOptions, FamilyOptions, ReadOptions, SyncMode};
use strata_proto::v1 as pb;
use strata_server::{convert, status};
use tonic::Code;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus/convert")
}

fn set(family: &str, q: &[u8], v: &[u8], ts: i64) -> pb::Mutation {
    pb::Mutation {
        kind: Some(pb::mutation::Kind::SetCell(pb::SetCell {
            family: family.into(),
            qualifier: Bytes::copy_from_slice(q),
            value: Bytes::copy_from_slice(v),
            timestamp_micros: ts,
        })),
    }
}

/// The base requests, encoded: (file name, bytes).
fn base_requests() -> Vec<(&'static str, Vec<u8>)> {
    use pb::mutation::Kind;
    let entries = vec![
        pb::RowMutations {
            row: Bytes::from_static(b"row-1"),
            mutations: vec![
                set("f", b"q", b"value", 5),
                set("g", b"", b"", 0),
                pb::Mutation {
                    kind: Some(Kind::DeleteCells(pb::DeleteCells {
                        family: "f".into(),
                        qualifier: Bytes::from_static(b"old"),
                        timestamp_micros: 3,
                        up_to: true,
                    })),
                },
            ],
        },
        pb::RowMutations {
            row: Bytes::from_static(b"row-2"),
            mutations: vec![
                pb::Mutation {
                    kind: Some(Kind::DeleteFamily(pb::DeleteFamily {
                        family: "g".into(),
                        up_to_timestamp_micros: 9,
                    })),
                },
                pb::Mutation {
                    kind: Some(Kind::DeleteRow(pb::DeleteRow {
                        up_to_timestamp_micros: 0,
                    })),
                },
                set("f", b"after", b"\x00\xff", 77),
            ],
        },
    ];
    let mutate = pb::MutateRowsRequest {
        table: "t".into(),
        entries,
    };
    let scan = pb::ScanRequest {
        table: "t".into(),
        start_row: Bytes::from_static(b"row-"),
        stop_row: Bytes::from_static(b"row-9"),
        columns: vec![pb::ColumnSelector {
            family: "f".into(),
            qualifier: Bytes::from_static(b"q"),
        }],
        max_versions: 3,
        time_range: Some(pb::TimeRange {
            start_micros: 1,
            end_micros: 1000,
        }),
        limit: 10,
        filter: "ValueFilter(=, 'binary:value')".into(),
        ..Default::default()
    };
    let create = pb::CreateTableRequest {
        table: "c".into(),
        families: vec![
            pb::FamilyOptions {
                name: "f".into(),
                max_versions: 3,
                ttl_seconds: 86_400,
                compression: pb::Compression::Zstd as i32,
                compression_level: 3,
                ..Default::default()
            },
            pb::FamilyOptions {
                name: "g".into(),
                ..Default::default()
            },
        ],
    };
    vec![
        ("mutate_rows.bin", mutate.encode_to_vec()),
        ("scan.bin", scan.encode_to_vec()),
        ("create_table.bin", create.encode_to_vec()),
    ]
}

struct Base {
    /// The committed base requests by kind.
    requests: Vec<(String, Vec<u8>)>,
    corpus: Vec<(PathBuf, Vec<u8>)>,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = corpus_dir();
        let mut requests = Vec::new();
        let mut corpus = Vec::new();
        for (name, fresh) in base_requests() {
            let stem = name.trim_end_matches(".bin");
            let sub = dir.join(stem);
            let bytes = if std::env::var_os("STRATA_FUZZ_WRITE_CORPUS").is_some_and(|v| v == "1") {
                fresh
            } else {
                std::fs::read(sub.join(name)).expect("corpus request")
            };
            let n = bytes.len();
            // Seeded variants: a flipped bit in the middle, a message cut short, and a
            // length prefix that lies (the second byte is the first field's length).
            let variants = [
                (
                    "flip-in-the-middle.bin",
                    vec![Damage::Flip {
                        at: Pos::of(n / 2, n),
                        bit: 6,
                    }],
                ),
                (
                    "cut-short.bin",
                    vec![Damage::Truncate {
                        at: Pos::of(n * 2 / 3, n),
                    }],
                ),
                (
                    "length-lies.bin",
                    vec![Damage::Set {
                        at: Pos::of(1, n),
                        byte: 0x7f,
                    }],
                ),
            ];
            let mut files = fuzz::corpus(&sub, name, || bytes.clone(), &variants, &[])
                .expect("read the corpus");
            corpus.append(&mut files);
            requests.push((stem.to_string(), bytes));
        }
        Base { requests, corpus }
    })
}

fn store() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(
        dir.path(),
        DbOptions {
            sync_mode: SyncMode::None,
            background_threads: false,
            ..DbOptions::default()
        },
    )
    .unwrap();
    let fam = |n: &str| FamilyOptions {
        max_versions: 1000,
        ..FamilyOptions::new(n)
    };
    db.create_table("t", vec![fam("f"), fam("g")]).unwrap();
    (dir, db)
}

/// A refusal must be the client's fault, named.
fn client_status(s: &tonic::Status) -> Result<(), TestCaseError> {
    prop_assert!(
        matches!(
            s.code(),
            Code::InvalidArgument | Code::NotFound | Code::AlreadyExists | Code::ResourceExhausted
        ),
        "a bad request answered {:?}: {}",
        s.code(),
        s.message()
    );
    prop_assert!(!s.message().is_empty(), "a refusal says why");
    Ok(())
}

fn still_writable(db: &Db) -> Result<(), TestCaseError> {
    prop_assert!(
        db.read_only_reason().is_none(),
        "a client request made the store read-only: {:?}",
        db.read_only_reason()
    );
    Ok(())
}

/// Decode `bytes` as the base request `kind` and run it on `db`.
fn apply(db: &Db, kind: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    match kind {
        "mutate_rows" => {
            let Ok(req) = pb::MutateRowsRequest::decode(bytes) else {
                return Ok(()); // tonic refuses what does not decode, before any of our code
            };
            match convert::row_mutations_from_pb(req.entries.clone()) {
                Err(e) => client_status(&status::from_convert(&e))?,
                Ok(rows) => {
                    // Back to the wire and again: the same engine values.
                    let wire: Vec<pb::RowMutations> = rows
                        .iter()
                        .cloned()
                        .map(convert::row_mutation_to_pb)
                        .collect();
                    prop_assert_eq!(
                        &convert::row_mutations_from_pb(wire).unwrap(),
                        &rows,
                        "the conversion does not round-trip"
                    );
                    let table = req.table.clone();
                    if let Err(e) = convert::table(&table) {
                        client_status(&status::from_convert(&e))?;
                    } else if let Err(e) = db.mutate_rows(&table, rows) {
                        client_status(&status::from_engine(&e))?;
                    }
                }
            }
        }
        "scan" => {
            let Ok(mut req) = pb::ScanRequest::decode(bytes) else {
                return Ok(());
            };
            let filter = req.filter.clone();
            match convert::scan_options_from_pb(&mut req) {
                Err(e) => client_status(&status::from_convert(&e))?,
                Ok(mut opts) => match convert::read_filter(&filter, &mut opts.read) {
                    Err(e) => client_status(&status::from_convert(&e))?,
                    Ok(_) => match db.scan(&req.table, opts) {
                        Err(e) => client_status(&status::from_engine(&e))?,
                        Ok(rows) => {
                            for r in rows {
                                if let Err(e) = r {
                                    client_status(&status::from_engine(&e))?;
                                }
                            }
                        }
                    },
                },
            }
        }
        "create_table" => {
            let Ok(req) = pb::CreateTableRequest::decode(bytes) else {
                return Ok(());
            };
            match convert::families_from_pb(req.families) {
                Err(e) => client_status(&status::from_convert(&e))?,
                Ok(fams) => {
                    if let Err(e) = db.create_table(&req.table, fams) {
                        client_status(&status::from_engine(&e))?;
                    } else if req.table != "t" {
                        db.drop_table(&req.table).unwrap();
                    }
                }
            }
        }
        other => unreachable!("{other}"),
    }
    still_writable(db)
}

#[test]
fn the_corpus_converts_or_is_refused_as_the_clients_fault() {
    let b = base();
    assert!(b.corpus.len() >= 12, "three requests and their variants");
    let (_dir, db) = store();
    for (path, bytes) in &b.corpus {
        let kind = path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        apply(&db, kind, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

#[test]
fn damaged_requests_convert_or_are_refused_and_never_make_the_store_read_only() {
    let b = base();
    let (_dir, db) = store();
    fuzz::run(
        "proto-requests",
        512,
        (0..b.requests.len(), fuzz::damages()),
        |(which, list)| {
            let (kind, bytes) = &b.requests[which];
            apply(&db, kind, &fuzz::damaged(bytes, &list, &[]))
        },
    );
}

fn set_cell() -> impl Strategy<Value = (String, Vec<u8>, Vec<u8>, i64)> {
    (
        prop_oneof![Just("f".to_string()), Just("g".to_string()), "[a-z]{0,3}"],
        proptest::collection::vec(any::<u8>(), 0..12),
        proptest::collection::vec(any::<u8>(), 0..24),
        prop_oneof![1i64..1_000, 1i64..(1 << 52), Just(i64::MAX), any::<i64>()],
    )
}

#[test]
fn accepted_set_cells_read_back_exactly_as_sent() {
    let (_dir, db) = store();
    // What every accepted write left: (row, family, qualifier, timestamp) -> value.
    let model = std::sync::Mutex::new(BTreeMap::new());
    fuzz::run(
        "proto-set-cells",
        256,
        proptest::collection::vec(
            (
                proptest::collection::vec(any::<u8>(), 0..8),
                proptest::collection::vec(set_cell(), 1..5),
            ),
            1..4,
        ),
        |entries| {
            let wire: Vec<pb::RowMutations> = entries
                .iter()
                .map(|(row, cells)| pb::RowMutations {
                    row: Bytes::copy_from_slice(row),
                    mutations: cells
                        .iter()
                        .map(|(f, q, v, ts)| set(f, q, v, *ts))
                        .collect(),
                })
                .collect();
            let rows = convert::row_mutations_from_pb(wire).unwrap();
            let mut model = model.lock().unwrap();
            match db.mutate_rows("t", rows) {
                Err(e) => client_status(&status::from_engine(&e))?,
                Ok(_) => {
                    for (row, cells) in &entries {
                        for (f, q, v, ts) in cells {
                            model.insert((row.clone(), f.clone(), q.clone(), *ts), v.clone());
                        }
                    }
                }
            }
            still_writable(&db)?;
            // Every row this call touched reads back as the model says.
            for (row, _) in &entries {
                let got = match db.get(
                    "t",
                    row,
                    &ReadOptions {
                        max_versions: 1000,
                        ..ReadOptions::default()
                    },
                ) {
                    Ok(got) => got,
                    Err(e) => {
                        // A key no write can have (empty, too long): refused alike.
                        client_status(&status::from_engine(&e))?;
                        prop_assert!(!model.keys().any(|k| &k.0 == row));
                        continue;
                    }
                };
                let got: BTreeMap<_, _> = got
                    .map(|r| r.cells)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| {
                        (
                            (
                                row.clone(),
                                c.family.to_string(),
                                c.qualifier.to_vec(),
                                c.timestamp,
                            ),
                            c.value.to_vec(),
                        )
                    })
                    .collect();
                let want: BTreeMap<_, _> = model
                    .iter()
                    .filter(|(k, _)| &k.0 == row)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                prop_assert_eq!(got, want, "row {:?} reads back differently", row);
            }
            Ok(())
        },
    );
}
