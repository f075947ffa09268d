//! Fuzz harness of the WAL decoders (issue 10, item 10a): a damaged segment (bit flips,
//! overwritten, zeroed, inserted and removed bytes, truncations, record lengths that lie)
//! either fails with `Corruption` naming the file and an offset, or reads back a prefix of
//! the records that were written, each decoding to the batch that was written; a store
//! opened on it either refuses to open (naming the segment and offset) or holds exactly the
//! rows of such a prefix. A record whose checksum was recomputed over damaged bytes (a lie
//! the framing cannot see) may decode to anything or fail, but never panics the decoder or
//! recovery.
//!
//! Starts from the committed corpus `tests/fuzz/corpus/wal/` (a crashed store's MANIFEST and
//! its one segment `base.log`, plus damaged variants and regression cases); `STRATA_FUZZ_CASES`
//! and `STRATA_FUZZ_SEED` run it long (docs/design/robustness.md).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

mod support;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proptest::prelude::*;
use strata_engine::fuzz::{self, Damage, Pos};
use strata_engine::testing::{WriteBatch, read_segment};
use strata_engine::{Db, DbOptions, FamilyOptions, Mutation, RowMutation, SyncMode};

const SEGMENT_HEADER: usize = 24;
const RECORD_HEADER: usize = 8;
/// Calls written to the base store, one WAL record each.
const WRITES: usize = 12;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus/wal")
}

fn options() -> DbOptions {
    DbOptions {
        sync_mode: SyncMode::None,
        background_threads: false,
        ..DbOptions::default()
    }
}

/// Write `i`: puts in two families, and from the fourth on a delete of an earlier row's cell.
fn write(i: usize) -> RowMutation {
    let mut mutations = vec![
        Mutation::SetCell {
            family: "f".into(),
            qualifier: format!("q{}", i % 3).into_bytes().into(),
            value: format!("value-{i}-{}", "x".repeat(i * 7))
                .into_bytes()
                .into(),
            timestamp: 1_000 + i as i64,
        },
        Mutation::SetCell {
            family: "g".into(),
            qualifier: b"".to_vec().into(),
            value: vec![i as u8; i].into(),
            timestamp: 2_000 + i as i64,
        },
    ];
    if i >= 3 {
        mutations.push(Mutation::DeleteCells {
            family: "f".into(),
            qualifier: format!("q{}", (i + 1) % 3).into_bytes().into(),
            timestamp: 0,
        });
    }
    RowMutation {
        row: format!("row-{:02}", i % 7).into_bytes().into(),
        mutations,
    }
}

/// A store that took `WRITES` calls and crashed (nothing flushed): its MANIFEST and segment.
fn crashed_store() -> (Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    db.create_table("t", vec![FamilyOptions::new("f"), FamilyOptions::new("g")])
        .unwrap();
    for i in 0..WRITES {
        db.mutate_row("t", write(i)).unwrap();
    }
    drop(db);
    let manifest = std::fs::read(dir.path().join("MANIFEST")).unwrap();
    let segs: Vec<PathBuf> = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(segs.len(), 1, "one segment: {segs:?}");
    (manifest, std::fs::read(&segs[0]).unwrap())
}

struct Base {
    manifest: Vec<u8>,
    segment: Vec<u8>,
    /// The segment's file name (its number is in its header).
    name: String,
    /// Payload of every record.
    records: Vec<Vec<u8>>,
    /// Offset of every record's length field.
    length_fields: Vec<usize>,
    /// The store's dump after replaying the first m records, for every m.
    prefixes: Vec<String>,
    /// Every file of the corpus.
    corpus: Vec<(PathBuf, Vec<u8>)>,
}

fn writing_corpus() -> bool {
    std::env::var_os("STRATA_FUZZ_WRITE_CORPUS").is_some_and(|v| v == "1")
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = corpus_dir();
        if writing_corpus() {
            let (manifest, segment) = crashed_store();
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("MANIFEST"), manifest).unwrap();
            std::fs::write(dir.join("base.log"), segment).unwrap();
        }
        let manifest = std::fs::read(dir.join("MANIFEST")).expect("corpus MANIFEST");
        let segment = std::fs::read(dir.join("base.log")).expect("corpus base.log");
        let length_fields = length_fields(&segment);
        let n = segment.len();
        // Seeded variants: a flipped bit in the third record's payload, a segment cut in the
        // middle of its last record, and a first record whose length says 1 byte more.
        let variants = [
            (
                "flip-in-third-record.log",
                vec![Damage::Flip {
                    at: Pos::of(length_fields[2] + RECORD_HEADER + 3, n),
                    bit: 5,
                }],
            ),
            (
                "cut-in-last-record.log",
                vec![Damage::Truncate {
                    at: Pos::of(n - 5, n),
                }],
            ),
            (
                "first-length-lies.log",
                vec![Damage::Lie {
                    field: Pos::of(0, length_fields.len()),
                    delta: 1,
                }],
            ),
        ];
        let corpus = fuzz::corpus(
            &dir,
            "base.log",
            || segment.clone(),
            &variants,
            &length_fields,
        )
        .expect("read the corpus");
        let number = u64::from_le_bytes(segment[12..20].try_into().unwrap());
        let name = format!("{number:06}.log");
        let fs = strata_engine::fs::real();
        let scratch = tempfile::tempdir().unwrap();
        let p = scratch.path().join(&name);
        std::fs::write(&p, &segment).unwrap();
        let contents = read_segment(&fs, &p, false).expect("the base segment reads");
        assert_eq!(contents.records.len(), WRITES, "one record per write");
        assert!(contents.torn_tail.is_none());
        let mut prefixes = Vec::new();
        for m in 0..=WRITES {
            let end = length_fields.get(m).copied().unwrap_or(n);
            let db = open_store(&manifest, &name, &segment[..end])
                .1
                .expect("prefix opens");
            prefixes.push(support::dump(&db));
        }
        Base {
            manifest,
            segment,
            name,
            records: contents.records,
            length_fields,
            prefixes,
            corpus,
        }
    })
}

impl Base {
    /// Record `j`'s bytes as framed in the segment (header and payload).
    fn frame(&self, j: usize) -> &[u8] {
        let start = self.length_fields[j];
        let end = start + RECORD_HEADER + self.records[j].len();
        &self.segment[start..end]
    }
}

/// Offsets of every record's length field in a valid segment.
fn length_fields(segment: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut off = SEGMENT_HEADER;
    while off + RECORD_HEADER <= segment.len() {
        out.push(off);
        let len = u32::from_le_bytes(segment[off..off + 4].try_into().unwrap()) as usize;
        off += RECORD_HEADER + len;
    }
    out
}

/// A store made of `manifest` and one segment `name` holding `segment`, opened.
fn open_store(
    manifest: &[u8],
    name: &str,
    segment: &[u8],
) -> (tempfile::TempDir, strata_engine::Result<Db>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("wal")).unwrap();
    std::fs::create_dir_all(dir.path().join("sst")).unwrap();
    std::fs::write(dir.path().join("MANIFEST"), manifest).unwrap();
    std::fs::write(dir.path().join("wal").join(name), segment).unwrap();
    let db = Db::open(dir.path(), options());
    (dir, db)
}

/// The property for one damaged segment.
fn check_damaged(bytes: &[u8]) -> Result<(), TestCaseError> {
    let b = base();
    let fs = strata_engine::fs::real();
    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join(&b.name);
    std::fs::write(&path, bytes).unwrap();
    match read_segment(&fs, &path, false) {
        Err(e) => {
            fuzz::names_file_and_offset(&e, &path).map_err(TestCaseError::fail)?;
        }
        Ok(c) => {
            prop_assert!(
                c.records.len() <= b.records.len(),
                "more records than written"
            );
            for (i, (got, want)) in c.records.iter().zip(&b.records).enumerate() {
                prop_assert_eq!(got, want, "record {} differs", i);
                let decoded = WriteBatch::decode(got, &path, 0).expect("a good record decodes");
                prop_assert_eq!(decoded, WriteBatch::decode(want, &path, 0).unwrap());
            }
            // Records are dropped only where the file holds none intact any more: an intact
            // later record after the point where reading stopped means damage was skipped
            // silently (a prefix must never be less than the file can prove).
            let rest = bytes.get(c.valid_len as usize..).unwrap_or_default();
            for j in c.records.len()..b.records.len() {
                let frame = b.frame(j);
                prop_assert!(
                    !rest.windows(frame.len()).any(|w| w == frame),
                    "reading stopped after {} records, but record {} follows intact",
                    c.records.len(),
                    j
                );
            }
            if let Some(torn) = &c.torn_tail {
                prop_assert!(
                    torn.contains(&path.display().to_string()) && torn.contains("offset"),
                    "torn tail report names the file and offset: {}",
                    torn
                );
            }
        }
    }
    // Through recovery: refuse naming the segment, or hold exactly a prefix.
    let (dir, db) = open_store(&b.manifest, &b.name, bytes);
    match db {
        Err(e) => {
            let seg = dir.path().join("wal").join(&b.name);
            fuzz::names_file_and_offset(&e, &seg).map_err(TestCaseError::fail)?;
        }
        Ok(db) => {
            let got = support::dump(&db);
            prop_assert!(
                b.prefixes.contains(&got),
                "recovered rows are no prefix of what was written:\n{}",
                got
            );
        }
    }
    Ok(())
}

/// Record `record`'s payload damaged and its frame checksum recomputed: the segment.
fn checksummed_lie(record: usize, damage: &[Damage]) -> Vec<u8> {
    let b = base();
    let i = record % b.records.len();
    let payload = fuzz::damaged(&b.records[i], damage, &[]);
    let at = b.length_fields[i];
    let mut seg = b.segment[..at].to_vec();
    let len = (payload.len() as u32).to_le_bytes();
    let mut h = crc32fast::Hasher::new();
    h.update(&len);
    h.update(&payload);
    seg.extend_from_slice(&len);
    seg.extend_from_slice(&h.finalize().to_le_bytes());
    seg.extend_from_slice(&payload);
    let next = b
        .length_fields
        .get(i + 1)
        .copied()
        .unwrap_or(b.segment.len());
    seg.extend_from_slice(&b.segment[next..]);
    seg
}

/// A segment whose record `i` is a lie under a good checksum: decoding and recovery may
/// fail or not, but never panic, and a failure names the segment and the record's offset.
fn check_lie(seg: &[u8], i: usize) -> Result<(), TestCaseError> {
    let b = base();
    let at = b.length_fields[i];
    let path = Path::new("/fuzz/000001.log");
    let contents = {
        let scratch = tempfile::tempdir().unwrap();
        let p = scratch.path().join(&b.name);
        std::fs::write(&p, seg).unwrap();
        read_segment(&strata_engine::fs::real(), &p, false).expect("the framing is good")
    };
    prop_assert_eq!(contents.offsets.get(i).copied(), Some(at as u64));
    if let Err(e) = WriteBatch::decode(&contents.records[i], path, at as u64) {
        fuzz::names_file_and_offset(&e, path).map_err(TestCaseError::fail)?;
    }
    let (dir, db) = open_store(&b.manifest, &b.name, seg);
    let segp = dir.path().join("wal").join(&b.name);
    if let Err(e) = db.map(drop) {
        fuzz::names_file_and_offset(&e, &segp).map_err(TestCaseError::fail)?;
        // A payload that does not decode is reported at its record's byte offset (not at
        // the record's index in the segment).
        if let strata_engine::Error::Corruption { offset, what, .. } = &e
            && what.contains("WAL payload")
        {
            prop_assert_eq!(*offset, at as u64, "offset of the bad record: {}", e);
        }
    }
    // `strata check` lists such damage at the same place.
    let report = strata_engine::check::check_store(dir.path()).unwrap();
    for f in report.findings.iter().filter(|f| f.path == segp) {
        if f.what.contains("WAL payload") {
            prop_assert_eq!(f.offset, Some(at as u64), "check's offset: {}", f.what);
        }
    }
    Ok(())
}

/// Regression cases of lies, `lies/record-I-*.log`: record I is the lie.
#[test]
fn the_lies_corpus_is_reported_at_the_records_offset() {
    let dir = corpus_dir().join("lies");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_owned();
        let i: usize = name.split('-').nth(1).unwrap().parse().unwrap();
        check_lie(&std::fs::read(&p).unwrap(), i).unwrap_or_else(|e| panic!("{name}: {e}"));
        n += 1;
    }
    assert!(n >= 1, "the regression cases are there");
}

#[test]
fn the_corpus_errors_or_replays_a_prefix() {
    let b = base();
    assert!(
        b.corpus.len() >= 4,
        "base and seeded variants: {:?}",
        b.corpus.len()
    );
    for (path, bytes) in &b.corpus {
        if path.extension().is_some_and(|e| e == "log") {
            check_damaged(bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
}

#[test]
fn damaged_segments_error_naming_file_and_offset_or_replay_a_prefix() {
    let b = base();
    fuzz::run("wal-segment", 256, fuzz::damages(), |list| {
        check_damaged(&fuzz::damaged(&b.segment, &list, &b.length_fields))
    });
}

#[test]
fn records_with_recomputed_checksums_never_panic_decoding_or_recovery() {
    fuzz::run(
        "wal-record-payload",
        256,
        (any::<usize>(), fuzz::damages()),
        |(record, list)| {
            let i = record % base().records.len();
            check_lie(&checksummed_lie(record, &list), i)
        },
    );
}

#[test]
fn random_payload_bytes_never_panic_the_batch_decoder() {
    let path = Path::new("/fuzz/000009.log");
    fuzz::run(
        "wal-payload-bytes",
        2048,
        proptest::collection::vec(any::<u8>(), 0..256),
        |bytes| {
            if let Err(e) = WriteBatch::decode(&bytes, path, 24) {
                fuzz::names_file_and_offset(&e, path).map_err(TestCaseError::fail)?;
            }
            Ok(())
        },
    );
}
