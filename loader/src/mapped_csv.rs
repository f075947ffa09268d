//! A CSV file read through a table mapping as rows to write one by one: the path of callers
//! that send rows to a server (`strata demo` streams the click events through MutateStream,
//! `strata bench` samples keys and template rows) instead of building table files. Records
//! from elsewhere (a Kafka topic, `consume`) go through the same per-record rules of
//! `ResolvedMapping` on their decoded fields.
//!
//! - [`MappedCsv`] opens a file, resolves the mapping against its header and hands out parsed
//!   chunks ([`Batch`]: keys and values as byte ranges, plus the chunk's rejects), with the
//!   same per-record checks as the bulk load (field count, row key, value size).
//! - [`row_mutation`] turns one parsed row into an engine [`RowMutation`]: one `SetCell` per
//!   mapped column, in the resolved mapping's cell order.
//! - [`RowBatches`] iterates a file as [`RowBatch`]es of a fixed number of rows.
//!
//! Owns the reading order and the row-to-mutation rule. It must never sort, deduplicate or
//! drop accepted rows (they stay in file order), never write anything (callers send or apply
//! the mutations), and never know about gRPC (the server converts to its wire types).

use std::path::Path;

use bytes::Bytes;
use strata_engine::{Limits, Mutation, RowMutation};

use crate::bulk::batch::{Batch, ParseConfig, parse_chunk};
use crate::csv_input::ChunkReader;
use crate::error::Result;
use crate::mapping::{ResolvedMapping, TableMapping};
use crate::rejects::Reject;

/// Bytes read per chunk.
const CHUNK_BYTES: usize = 1 << 20;
/// The field delimiter of the files read here (the generated data set's).
const DELIMITER: u8 = b',';

/// A comma-separated CSV file with a header, read in chunks through a table mapping. Cells
/// get timestamp 0 ("the server's clock": the mapping has no timestamp column here), and
/// records are checked against the engine's default limits.
#[derive(Debug)]
pub struct MappedCsv {
    reader: ChunkReader,
    header: Vec<String>,
    mapping: ResolvedMapping,
    limits: Limits,
    parsed: Batch,
}

impl MappedCsv {
    /// Open `csv` and resolve `mapping` against its header.
    ///
    /// # Errors
    /// The file cannot be read or has no header, or the mapping does not fit the header.
    pub fn open(csv: &Path, mapping: &TableMapping) -> Result<Self> {
        let reader = ChunkReader::open(csv, DELIMITER, CHUNK_BYTES)?;
        let header = reader.header().to_vec();
        let mapping = mapping.resolve(&header, None)?;
        Ok(MappedCsv {
            reader,
            header,
            mapping,
            limits: Limits::default(),
            parsed: Batch::default(),
        })
    }

    /// The resolved mapping: its `cells` are the (family, qualifier) of each row's values, in
    /// order.
    pub fn mapping(&self) -> &ResolvedMapping {
        &self.mapping
    }

    /// The next chunk of the file, parsed: its accepted rows in file order and its rejects.
    /// `None` at the end of the file. The batch is reused by the next call.
    ///
    /// # Errors
    /// The file cannot be read, or a record is malformed beyond recovery (e.g. longer than
    /// [`crate::csv_input::MAX_RECORD_BYTES`]).
    pub fn next_chunk(&mut self) -> Result<Option<&Batch>> {
        // The last chunk's buffer is read into again; the batch is left empty, not stale.
        self.parsed.clear();
        let spare = std::mem::take(&mut self.parsed.arena);
        let Some(chunk) = self.reader.next_chunk_reusing(Some(spare))? else {
            return Ok(None);
        };
        let cfg = ParseConfig {
            mapping: &self.mapping,
            header: &self.header,
            delimiter: DELIMITER,
            default_ts: 0,
            max_row_key: self.limits.max_row_key,
            max_value: self.limits.max_value,
        };
        (self.parsed, _) = parse_chunk(chunk, &cfg, std::mem::take(&mut self.parsed));
        Ok(Some(&self.parsed))
    }

    /// The rest of the file as batches of `rows_per_batch` rows (at least 1).
    pub fn batches(self, rows_per_batch: usize) -> RowBatches {
        let qualifiers = self
            .mapping
            .cells
            .iter()
            .map(|slot| Bytes::copy_from_slice(&slot.qualifier))
            .collect();
        RowBatches {
            arena: Bytes::copy_from_slice(&self.parsed.arena),
            csv: self,
            rows_per_batch: rows_per_batch.max(1),
            next_row: 0,
            done: false,
            qualifiers,
        }
    }
}

/// Row `i` of `batch` (parsed with `mapping`) as an engine row mutation: one `SetCell` per
/// cell of the mapping, in its order, with the row's timestamp (0, the server's clock, when
/// the mapping has no timestamp column).
pub fn row_mutation(batch: &Batch, i: usize, mapping: &ResolvedMapping) -> RowMutation {
    let timestamp = batch.ts(i);
    let mutations = mapping
        .cells
        .iter()
        .zip(batch.values(i))
        .map(|(slot, &(off, len))| Mutation::SetCell {
            family: slot.family.clone(),
            qualifier: Bytes::copy_from_slice(&slot.qualifier),
            value: Bytes::copy_from_slice(
                batch
                    .arena
                    .get(off as usize..(off + len) as usize)
                    .unwrap_or_default(),
            ),
            timestamp,
        })
        .collect();
    RowMutation {
        row: Bytes::copy_from_slice(batch.key(i)),
        mutations,
    }
}

/// Row `i` of `batch` as [`row_mutation`] builds it, without a copy or an allocation per key,
/// qualifier or value: the key and values are slices of `arena` (the batch's arena, shared
/// once per chunk) and the qualifiers are clones of `qualifiers` (one shared buffer per
/// mapped column, in the mapping's cell order).
fn row_mutation_shared(
    batch: &Batch,
    arena: &Bytes,
    i: usize,
    mapping: &ResolvedMapping,
    qualifiers: &[Bytes],
) -> RowMutation {
    let timestamp = batch.ts(i);
    let slice = |off: u32, len: u32| {
        let (off, len) = (off as usize, len as usize);
        if off.checked_add(len).is_some_and(|end| end <= arena.len()) {
            arena.slice(off..off + len)
        } else {
            Bytes::new()
        }
    };
    let mutations = mapping
        .cells
        .iter()
        .zip(qualifiers)
        .zip(batch.values(i))
        .map(|((slot, qualifier), &(off, len))| Mutation::SetCell {
            family: slot.family.clone(),
            qualifier: qualifier.clone(),
            value: slice(off, len),
            timestamp,
        })
        .collect();
    let (off, len) = batch.rows[i].key;
    RowMutation {
        row: slice(off, len),
        mutations,
    }
}

/// Up to `rows_per_batch` rows of a mapped CSV file, with the rejects met while reading them.
#[derive(Debug, Default)]
pub struct RowBatch {
    /// Accepted rows, in file order. Every batch but the last holds exactly `rows_per_batch`;
    /// the last may hold fewer, or none when only rejects were read after the previous batch.
    pub rows: Vec<RowMutation>,
    /// Records rejected in the chunks read while this batch was filled, in file order (a
    /// chunk's rejects come with the batch that took its first row).
    pub rejects: Vec<Reject>,
}

/// A mapped CSV file as [`RowBatch`]es (see [`MappedCsv::batches`]). After an error the
/// iterator ends.
#[derive(Debug)]
pub struct RowBatches {
    csv: MappedCsv,
    rows_per_batch: usize,
    /// The next row of `csv.parsed` to hand out.
    next_row: usize,
    done: bool,
    /// `csv.parsed.arena`, shared: the rows handed out slice their keys and values from it.
    arena: Bytes,
    /// The mapping's qualifiers, shared, in its cell order.
    qualifiers: Vec<Bytes>,
}

impl Iterator for RowBatches {
    type Item = Result<RowBatch>;

    fn next(&mut self) -> Option<Result<RowBatch>> {
        if self.done {
            return None;
        }
        let mut out = RowBatch {
            rows: Vec::with_capacity(self.rows_per_batch),
            rejects: Vec::new(),
        };
        loop {
            let parsed = &self.csv.parsed;
            while self.next_row < parsed.rows.len() && out.rows.len() < self.rows_per_batch {
                out.rows.push(row_mutation_shared(
                    parsed,
                    &self.arena,
                    self.next_row,
                    &self.csv.mapping,
                    &self.qualifiers,
                ));
                self.next_row += 1;
            }
            if out.rows.len() == self.rows_per_batch {
                return Some(Ok(out));
            }
            match self.csv.next_chunk() {
                Ok(Some(_)) => {
                    self.next_row = 0;
                    self.arena = Bytes::copy_from_slice(&self.csv.parsed.arena);
                    out.rejects.append(&mut self.csv.parsed.rejects);
                }
                Ok(None) => {
                    self.done = true;
                    let empty = out.rows.is_empty() && out.rejects.is_empty();
                    return (!empty).then_some(Ok(out));
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(header: &[&str]) -> TableMapping {
        let header: Vec<String> = header.iter().map(|s| s.to_string()).collect();
        TableMapping::from_columns_spec("t", "HBASE_ROW_KEY,f:b,f:a,-", &header, None)
            .expect("valid mapping")
    }

    fn csv_file(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
        let p = dir.path().join("in.csv");
        std::fs::write(&p, text).expect("write");
        p
    }

    fn set(family: &str, qualifier: &str, value: &str) -> Mutation {
        Mutation::SetCell {
            family: family.into(),
            qualifier: Bytes::copy_from_slice(qualifier.as_bytes()),
            value: Bytes::copy_from_slice(value.as_bytes()),
            timestamp: 0,
        }
    }

    #[test]
    fn rows_become_set_cells_in_mapping_order_batched_in_file_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = csv_file(
            &dir,
            "id,b,a,skip\nr1,b1,a1,x\nr2,b2,a2,x\nbad,row\nr3,b3,a3,x\nr4,b4,a4,x\nr5,b5,a5,x\n",
        );
        let csv = MappedCsv::open(&p, &mapping(&["id", "b", "a", "skip"])).expect("open");
        let batches: Vec<RowBatch> = csv.batches(2).collect::<Result<_>>().expect("read");
        let keys: Vec<Vec<&[u8]>> = batches
            .iter()
            .map(|b| b.rows.iter().map(|r| &r.row[..]).collect())
            .collect();
        assert_eq!(
            keys,
            vec![
                vec![&b"r1"[..], b"r2"],
                vec![&b"r3"[..], b"r4"],
                vec![&b"r5"[..]]
            ]
        );
        // Cells in the resolved mapping's order (family, then qualifier), not the file's.
        assert_eq!(
            batches[0].rows[1].mutations,
            vec![set("f", "a", "a2"), set("f", "b", "b2")]
        );
        let rejects: Vec<u64> = batches
            .iter()
            .flat_map(|b| b.rejects.iter().map(|r| r.line))
            .collect();
        assert_eq!(rejects, vec![4], "the short record on line 4 is rejected");
    }

    #[test]
    fn rejects_come_with_the_batch_being_filled_and_alone_at_the_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = csv_file(&dir, "id,b,a,skip\nr1,b1,a1,x\nr2,b2,a2,x\n,b3,a3,x\n");
        let csv = MappedCsv::open(&p, &mapping(&["id", "b", "a", "skip"])).expect("open");
        let batches: Vec<RowBatch> = csv.batches(2).collect::<Result<_>>().expect("read");
        // One chunk: its reject is met while the first batch is filled.
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].rows.len(), 2);
        assert_eq!(batches[0].rejects.len(), 1);
        assert_eq!(batches[0].rejects[0].reason, "empty row key");

        let p = csv_file(&dir, "id,b,a,skip\n,b1,a1,x\nr2,b2\n");
        let csv = MappedCsv::open(&p, &mapping(&["id", "b", "a", "skip"])).expect("open");
        let batches: Vec<RowBatch> = csv.batches(2).collect::<Result<_>>().expect("read");
        assert_eq!(batches.len(), 1, "rejects without rows still come out");
        assert!(batches[0].rows.is_empty());
        let lines: Vec<u64> = batches[0].rejects.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![2, 3]);
    }

    #[test]
    fn batches_hold_the_same_rows_as_row_mutation_across_chunks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut text = String::from("id,b,a,skip\n");
        // More than two chunks of records (CHUNK_BYTES each), one of them rejected.
        let mut i = 0;
        while text.len() < 2 * CHUNK_BYTES + 1000 {
            text.push_str(&format!("row{i:07},b-{i},a-value-{i},x\n"));
            if i == 5 {
                text.push_str("short\n");
            }
            i += 1;
        }
        let p = csv_file(&dir, &text);
        let m = mapping(&["id", "b", "a", "skip"]);
        let batched: Vec<RowMutation> = MappedCsv::open(&p, &m)
            .expect("open")
            .batches(1000)
            .flat_map(|b| b.expect("read").rows)
            .collect();
        let mut csv = MappedCsv::open(&p, &m).expect("open");
        let resolved = csv.mapping().clone();
        let mut one_by_one = Vec::new();
        while let Some(chunk) = csv.next_chunk().expect("read") {
            for r in 0..chunk.rows.len() {
                one_by_one.push(row_mutation(chunk, r, &resolved));
            }
        }
        assert_eq!(batched.len(), i);
        assert_eq!(batched, one_by_one);
    }

    #[test]
    fn chunks_expose_keys_and_the_mapping() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = csv_file(&dir, "id,b,a,skip\nr1,b1,a1,x\n");
        let mut csv = MappedCsv::open(&p, &mapping(&["id", "b", "a", "skip"])).expect("open");
        let columns: Vec<&[u8]> = csv
            .mapping()
            .cells
            .iter()
            .map(|c| &c.qualifier[..])
            .collect();
        assert_eq!(columns, vec![&b"a"[..], b"b"]);
        let batch = csv.next_chunk().expect("read").expect("one chunk");
        assert_eq!(batch.key(0), b"r1");
        assert!(csv.next_chunk().expect("read").is_none());
    }

    #[test]
    fn a_mapping_that_does_not_fit_the_header_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = csv_file(&dir, "x,y\n1,2\n");
        let err = MappedCsv::open(&p, &mapping(&["id", "b", "a", "skip"])).expect_err("misfit");
        assert!(err.to_string().contains("\"id\""), "{err}");
    }
}
