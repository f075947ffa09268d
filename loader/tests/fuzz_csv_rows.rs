//! Fuzz harness of the CSV row decoder (issue 10, item 10a): a damaged CSV file (bit flips,
//! overwritten, zeroed, inserted and removed bytes, truncations) read in chunks of any size
//! never panics the loader, and what it makes of each record is exactly what an independent
//! whole-file parse (the csv crate on the same bytes, the mapping's rules applied by hand)
//! makes of it: the same accepted rows, in order, with the same key and values, and a reject
//! at the same line for every other record. Chunk boundaries never split, drop, merge or
//! renumber records. An error names the file.
//!
//! CSV has no checksum, so a damaged value that still parses is a value; the property is
//! that no record is read as something other than its bytes say. Starts from the committed
//! corpus `tests/fuzz/corpus/csv/` (`base.csv`: quoted fields, embedded delimiters, quotes
//! and line breaks, CRLF, empty fields; plus damaged variants and regression cases);
//! `STRATA_FUZZ_CASES` and `STRATA_FUZZ_SEED` run it long (docs/design/robustness.md).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proptest::prelude::*;
use strata_engine::Limits;
use strata_engine::fuzz::{self, Damage, Pos};
use strata_loader::TableMapping;
use strata_loader::bulk::batch::{ParseConfig, parse_chunk};
use strata_loader::csv_input::ChunkReader;
use strata_loader::mapping::ResolvedKeyPart;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus/csv")
}

/// The base file: a header, then 40 records of every shape the loader must read.
fn base_csv() -> Vec<u8> {
    let mut s = String::from("id,b,a,skip\n");
    for i in 0..40 {
        let line = match i % 8 {
            0 => format!("k{i:02},plain,{i},x\n"),
            1 => format!("\"k{i:02}\",\"with, comma\",\"say \"\"hi\"\"\",\n"),
            2 => format!("k{i:02},\"two\nlines\",,y\r\n"),
            3 => format!("k{i:02},,,\n"),
            4 => format!("k{i:02},\u{e9}t\u{e9},\"\",z\n"),
            5 => format!("k{i:02},short\n"),
            6 => format!(",no key,{i},w\n"),
            _ => format!("k{i:02},\"quoted \"\"end\"\"\",a\"b,v\n"),
        };
        s.push_str(&line);
    }
    s.into_bytes()
}

struct Base {
    bytes: Vec<u8>,
    mapping: TableMapping,
    corpus: Vec<(PathBuf, Vec<u8>)>,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = corpus_dir();
        let bytes = if std::env::var_os("STRATA_FUZZ_WRITE_CORPUS").is_some_and(|v| v == "1") {
            base_csv()
        } else {
            std::fs::read(dir.join("base.csv")).expect("corpus base.csv")
        };
        let n = bytes.len();
        let quote = bytes.iter().position(|&c| c == b'"').unwrap();
        // Seeded variants: a quote turned into another byte (the quoted field opens
        // elsewhere), a file cut inside a quoted line break, and a removed line break.
        let variants = [
            (
                "quote-flipped.csv",
                vec![Damage::Flip {
                    at: Pos::of(quote, n),
                    bit: 1,
                }],
            ),
            (
                "cut-in-quoted-newline.csv",
                vec![Damage::Truncate {
                    at: Pos::of(bytes.windows(4).position(|w| w == b"two\n").unwrap() + 4, n),
                }],
            ),
            (
                "newline-removed.csv",
                vec![Damage::Remove {
                    at: Pos::of(
                        n / 2 + bytes[n / 2..].iter().position(|&c| c == b'\n').unwrap(),
                        n,
                    ),
                    len: 1,
                }],
            ),
        ];
        let corpus = fuzz::corpus(&dir, "base.csv", || bytes.clone(), &variants, &[])
            .expect("read the corpus");
        let header: Vec<String> = ["id", "b", "a", "skip"].map(String::from).to_vec();
        let mapping =
            TableMapping::from_columns_spec("t", "HBASE_ROW_KEY,f:b,f:a,-", &header, None).unwrap();
        Base {
            bytes,
            mapping,
            corpus,
        }
    })
}

/// What became of one record: accepted as (key, values in the mapping's cell order), or
/// rejected at a line.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Row(Vec<u8>, Vec<Vec<u8>>),
    Reject(u64),
}

/// The loader's reading of `path`, in chunks of `chunk_size` bytes.
fn loader(path: &Path, chunk_size: usize) -> Result<Option<Vec<Outcome>>, String> {
    let b = base();
    let mut reader = match ChunkReader::open(path, b',', chunk_size) {
        Ok(r) => r,
        Err(e) => return Err(e.to_string()),
    };
    let header = reader.header().to_vec();
    let Ok(mapping) = b.mapping.resolve(&header, None) else {
        return Ok(None); // the damage hit the header's names
    };
    let limits = Limits::default();
    let cfg = ParseConfig {
        mapping: &mapping,
        header: &header,
        delimiter: b',',
        default_ts: 0,
        max_row_key: limits.max_row_key,
        max_value: limits.max_value,
    };
    let mut out = Vec::new();
    loop {
        let chunk = match reader.next_chunk() {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => return Err(e.to_string()),
        };
        let (batch, _) = parse_chunk(chunk, &cfg, Default::default());
        // Rows and rejects of one chunk come apart; put them back in line order by the
        // reference's sequence (checked below) - here keep both lists in file order.
        let mut rows = (0..batch.rows.len()).map(|i| {
            let values = batch
                .values(i)
                .iter()
                .map(|&(o, l)| batch.arena[o as usize..(o + l) as usize].to_vec())
                .collect();
            Outcome::Row(batch.key(i).to_vec(), values)
        });
        let mut rejects = batch.rejects.iter().map(|r| Outcome::Reject(r.line));
        out.push((
            rows.by_ref().collect::<Vec<_>>(),
            rejects.by_ref().collect::<Vec<_>>(),
        ));
    }
    Ok(Some(
        out.into_iter()
            .flat_map(|(rows, rejects)| rows.into_iter().chain(rejects))
            .collect(),
    ))
}

/// The reference reading of `bytes`: the whole file through the csv crate, the mapping's
/// rules by hand. Within a chunk the loader lists rows before rejects, so the reference is
/// compared as (rows in order, reject lines in order).
fn reference(bytes: &[u8]) -> Option<(Vec<Outcome>, Vec<u64>)> {
    let b = base();
    let data = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(data);
    let mut rec = csv::ByteRecord::new();
    if !rdr.read_byte_record(&mut rec).ok()? {
        return None;
    }
    let header: Vec<String> = rec
        .iter()
        .map(|f| String::from_utf8(f.to_vec()).ok())
        .collect::<Option<_>>()?;
    let mapping = b.mapping.resolve(&header, None).ok()?;
    let limits = Limits::default();
    let (mut rows, mut rejects) = (Vec::new(), Vec::new());
    while rdr.read_byte_record(&mut rec).unwrap() {
        // The line of its first byte, counted in the bytes (the csv crate's own line count
        // does not count line breaks inside quoted fields).
        // After a CR terminator the csv crate starts the next record at the LF.
        let mut start = rec.position().unwrap().byte() as usize;
        while matches!(data.get(start), Some(b'\n' | b'\r')) {
            start += 1;
        }
        let line = 1 + data[..start].iter().filter(|&&c| c == b'\n').count() as u64;
        let field = |c: usize| rec.get(c).unwrap_or(&[]);
        let mut key = Vec::new();
        let mut ok = rec.len() == mapping.field_count;
        for part in &mapping.key {
            match part {
                ResolvedKeyPart::Column(c) => {
                    ok &= std::str::from_utf8(field(*c)).is_ok();
                    key.extend_from_slice(field(*c));
                }
                ResolvedKeyPart::Literal(l) => key.extend_from_slice(l),
            }
        }
        ok &= !key.is_empty() && key.len() <= limits.max_row_key;
        let values: Vec<Vec<u8>> = mapping
            .cells
            .iter()
            .map(|s| field(s.column).to_vec())
            .collect();
        ok &= values.iter().all(|v| v.len() <= limits.max_value);
        if ok {
            rows.push(Outcome::Row(key, values));
        } else {
            rejects.push(line);
        }
    }
    Some((rows, rejects))
}

fn check(bytes: &[u8], chunk_size: usize) -> Result<(), TestCaseError> {
    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("damaged.csv");
    std::fs::write(&path, bytes).unwrap();
    match loader(&path, chunk_size) {
        Err(e) => prop_assert!(
            e.contains(&path.display().to_string()),
            "the error names the file: {}",
            e
        ),
        Ok(None) => {}
        Ok(Some(got)) => {
            let (want_rows, want_rejects) = reference(bytes)
                .ok_or_else(|| TestCaseError::fail("the reference found no header"))?;
            let rows: Vec<Outcome> = got
                .iter()
                .filter(|o| matches!(o, Outcome::Row(..)))
                .cloned()
                .collect();
            let rejects: Vec<u64> = got
                .iter()
                .filter_map(|o| match o {
                    Outcome::Reject(l) => Some(*l),
                    Outcome::Row(..) => None,
                })
                .collect();
            prop_assert_eq!(
                rows,
                want_rows,
                "accepted rows differ (chunk {})",
                chunk_size
            );
            prop_assert_eq!(
                rejects,
                want_rejects,
                "reject lines differ (chunk {})",
                chunk_size
            );
        }
    }
    Ok(())
}

#[test]
fn the_corpus_reads_as_a_whole_file_parse_does() {
    let b = base();
    assert!(b.corpus.len() >= 4, "base and seeded variants");
    for (path, bytes) in &b.corpus {
        for chunk in [1, 7, 64, 1 << 20] {
            check(bytes, chunk).unwrap_or_else(|e| panic!("{} chunk {chunk}: {e}", path.display()));
        }
    }
}

#[test]
fn damaged_csv_files_read_as_a_whole_file_parse_does_in_chunks_of_any_size() {
    let b = base();
    fuzz::run(
        "csv-rows",
        256,
        (fuzz::damages(), 1usize..600),
        |(list, chunk)| check(&fuzz::damaged(&b.bytes, &list, &[]), chunk),
    );
}
