//! One parsed chunk in memory: every accepted record's row key, line, timestamp and cell
//! values stored as byte ranges into one arena (no per-field allocation), plus the chunk's
//! rejects. Applies the mapping's per-record rules (`ResolvedMapping`: field count, row key
//! UTF-8 / empty / too long, timestamp column, value size) to each CSV record.
//! It must never reorder records: rows stay in file order, which the duplicate rule needs.

use strata_engine::Timestamp;

use crate::csv_input::{Chunk, RecordIter};
use crate::mapping::{ResolvedKeyPart, ResolvedMapping};
use crate::rejects::Reject;

/// A byte range in an arena: (offset, length).
pub type ByteRange = (u32, u32);

/// An accepted record (its line is not kept: rows stay in file order, which is all the
/// duplicate rule needs).
#[derive(Clone, Copy, Debug)]
pub struct RowMeta {
    /// Row key, as a byte range of the arena.
    pub key: ByteRange,
}

/// The parsed form of one chunk.
#[derive(Debug, Default)]
pub struct Batch {
    /// Keys and values.
    pub arena: Vec<u8>,
    /// Accepted rows in file order.
    pub rows: Vec<RowMeta>,
    /// `cells` byte ranges per row, in the resolved mapping's cell order.
    pub values: Vec<ByteRange>,
    /// Cells per row.
    pub cells: usize,
    /// Per-row cell timestamps, only with a timestamp column (else empty).
    pub ts: Vec<Timestamp>,
    /// The timestamp of every row when `ts` is empty.
    pub default_ts: Timestamp,
    /// Rejected records of the chunk, in file order.
    pub rejects: Vec<Reject>,
}

impl Batch {
    /// Row key of row `i`.
    #[inline]
    pub fn key(&self, i: usize) -> &[u8] {
        let (o, l) = self.rows[i].key;
        &self.arena[o as usize..(o + l) as usize]
    }

    /// Cell timestamp of row `i`.
    #[inline]
    pub fn ts(&self, i: usize) -> Timestamp {
        self.ts.get(i).copied().unwrap_or(self.default_ts)
    }

    /// Whether every row has the default timestamp (no timestamp column).
    pub fn uniform_ts(&self) -> bool {
        self.ts.is_empty()
    }

    /// Value byte ranges of row `i`.
    #[inline]
    pub fn values(&self, i: usize) -> &[ByteRange] {
        &self.values[i * self.cells..(i + 1) * self.cells]
    }

    /// Empty the batch, keeping its buffers.
    pub fn clear(&mut self) {
        self.arena.clear();
        self.rows.clear();
        self.values.clear();
        self.ts.clear();
        self.rejects.clear();
    }

    /// Heap bytes held.
    pub fn mem_bytes(&self) -> u64 {
        (self.arena.capacity()
            + self.rows.capacity() * std::mem::size_of::<RowMeta>()
            + self.values.capacity() * std::mem::size_of::<ByteRange>()
            + self.ts.capacity() * std::mem::size_of::<Timestamp>()) as u64
    }
}

/// What the parser needs besides the chunk.
#[derive(Debug)]
pub struct ParseConfig<'a> {
    /// The resolved mapping.
    pub mapping: &'a ResolvedMapping,
    /// Header names (for messages).
    pub header: &'a [String],
    /// Field delimiter.
    pub delimiter: u8,
    /// Timestamp of every cell when there is no timestamp column.
    pub default_ts: Timestamp,
    /// Longest row key accepted.
    pub max_row_key: usize,
    /// Largest value accepted.
    pub max_value: usize,
}

/// Parse a chunk into a batch, reusing the buffers of `reuse` (an emptied earlier batch, or
/// `Batch::default()`). Never fails: bad records become rejects.
pub fn parse_chunk(chunk: &Chunk, cfg: &ParseConfig<'_>, reuse: Batch) -> Batch {
    let m = cfg.mapping;
    let ncells = m.cells.len();
    let mut b = reuse;
    b.clear();
    b.cells = ncells;
    b.default_ts = cfg.default_ts;
    // Records <= line breaks + 1, and fields never take more bytes than the record text, so
    // these reservations are upper bounds that are rarely far off (memory is budgeted by
    // capacity).
    let max_rows = chunk.newlines as usize + 1;
    let literal: usize = m
        .key
        .iter()
        .map(|p| match p {
            ResolvedKeyPart::Literal(l) => l.len(),
            ResolvedKeyPart::Column(_) => 0,
        })
        .sum();
    b.arena.reserve_exact(chunk.data.len() + max_rows * literal);
    b.rows.reserve_exact(max_rows);
    b.values.reserve_exact(max_rows * ncells);
    if m.timestamp_column.is_some() {
        b.ts.reserve_exact(max_rows);
    }
    let mut key_cols: Vec<(usize, ByteRange)> = Vec::with_capacity(4);
    let mut it = RecordIter::new(&chunk.data, chunk.first_line, cfg.delimiter);
    while let Some(next) = it.next() {
        let rec = match next {
            Ok(r) => r,
            Err((line, msg)) => {
                b.rejects.push(Reject {
                    line,
                    reason: format!("unparseable record: {msg}"),
                    raw: Vec::new(),
                });
                continue;
            }
        };
        let row_start = b.arena.len();
        let values_start = b.values.len();
        match add_record(&mut b, rec.fields, cfg, &mut key_cols) {
            Ok(()) => {}
            Err(reason) => {
                b.arena.truncate(row_start);
                b.values.truncate(values_start);
                b.rejects.push(Reject {
                    line: rec.line,
                    reason,
                    raw: rec.raw.to_vec(),
                });
            }
        }
    }
    b
}

fn add_record(
    b: &mut Batch,
    fields: &csv::ByteRecord,
    cfg: &ParseConfig<'_>,
    key_cols: &mut Vec<(usize, ByteRange)>,
) -> Result<(), String> {
    let m = cfg.mapping;
    m.check_field_count(fields.len())?;
    let field = |c: usize| fields.get(c).unwrap_or(&[]);
    let key_start = b.arena.len();
    key_cols.clear();
    m.push_row_key(
        field,
        cfg.header,
        cfg.max_row_key,
        &mut b.arena,
        |c, start, len| key_cols.push((c, (start as u32, len as u32))),
    )?;
    let key_len = b.arena.len() - key_start;
    let ts = m.record_timestamp(field, cfg.header)?;
    for slot in &m.cells {
        let f = field(slot.column);
        m.check_value(slot, f, cfg.header, cfg.max_value)?;
        let range = match key_cols.iter().find(|(c, _)| *c == slot.column) {
            Some((_, s)) => *s,
            None => {
                let s = (b.arena.len() as u32, f.len() as u32);
                b.arena.extend_from_slice(f);
                s
            }
        };
        b.values.push(range);
    }
    b.rows.push(RowMeta {
        key: (key_start as u32, key_len as u32),
    });
    if let Some(ts) = ts {
        b.ts.push(ts);
    }
    Ok(())
}
