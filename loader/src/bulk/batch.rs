//! One parsed chunk in memory: every accepted record's row key, timestamp and cell values
//! stored as byte ranges into one arena (no per-field allocation; the arena is the chunk's own
//! buffer, each row written over its record's text), plus the chunk's rejects. Applies the
//! mapping's per-record rules (`ResolvedMapping`: field count, row key UTF-8 / empty / too
//! long, timestamp column, value size) to each CSV record.
//! It must never reorder records: rows stay in file order, which the duplicate rule needs.

use strata_engine::Timestamp;

use crate::csv_input::{Chunk, Fields, RecordSplitter};
use crate::mapping::ResolvedMapping;
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
///
/// The chunk's buffer becomes the batch's arena: each accepted row (its row key, then its
/// cells' values in the mapping's order, key columns shared) is written back over the text of
/// the record it came from, which the parser has finished with
/// ([`crate::csv_input::SplitRecord::span`]). A row is never longer than its record's text
/// unless the row key template adds more literal bytes than the record's delimiters, quotes,
/// terminator and skipped columns took; such a row is appended after the chunk's text
/// instead. So the parsed rows need no second buffer beside the text they came from (peak
/// memory of the scale-1 clickstream load fell 7-9%, docs/benchmarks.md "Session 16").
/// Returns the batch and the arena `reuse` held (for the reader to fill again).
pub fn parse_chunk(chunk: Chunk, cfg: &ParseConfig<'_>, reuse: Batch) -> (Batch, Vec<u8>) {
    let m = cfg.mapping;
    let ncells = m.cells.len();
    let mut b = reuse;
    b.clear();
    let spare = std::mem::replace(&mut b.arena, chunk.data);
    let text_len = b.arena.len();
    b.cells = ncells;
    b.default_ts = cfg.default_ts;
    // Records <= line breaks + 1: upper bounds that are rarely far off (memory is budgeted
    // by capacity).
    let max_rows = chunk.newlines as usize + 1;
    b.rows.reserve_exact(max_rows);
    b.values.reserve_exact(max_rows * ncells);
    if m.timestamp_column.is_some() {
        b.ts.reserve_exact(max_rows);
    }
    let mut row = RowScratch::default();
    let mut split = RecordSplitter::new(chunk.first_line, cfg.delimiter);
    while let Some(rec) = split.next(&b.arena[..text_len]) {
        match build_row(&mut row, rec.fields, cfg) {
            Ok(ts) => {
                let at = if row.bytes.len() <= rec.span.len() {
                    b.arena[rec.span.start..rec.span.start + row.bytes.len()]
                        .copy_from_slice(&row.bytes);
                    rec.span.start
                } else {
                    let at = b.arena.len();
                    b.arena.extend_from_slice(&row.bytes);
                    at
                };
                let at = at as u32;
                b.rows.push(RowMeta {
                    key: (at, row.key_len as u32),
                });
                b.values
                    .extend(row.values.iter().map(|&(o, l)| (at + o, l)));
                if let Some(ts) = ts {
                    b.ts.push(ts);
                }
            }
            Err(reason) => b.rejects.push(Reject {
                line: rec.line,
                reason,
                raw: b.arena[rec.raw].to_vec(),
            }),
        }
    }
    (b, spare)
}

/// One row as it is built, before it is placed in the arena: its bytes (row key, then the
/// cells' values) and each cell's range relative to the row's start.
#[derive(Default)]
struct RowScratch {
    bytes: Vec<u8>,
    key_len: usize,
    values: Vec<ByteRange>,
    key_cols: Vec<(usize, ByteRange)>,
}

/// Check one record against the mapping and build its row into `row`. Returns the row's
/// timestamp from the timestamp column, if the mapping has one; `Err` is the reject reason.
fn build_row(
    row: &mut RowScratch,
    fields: Fields<'_>,
    cfg: &ParseConfig<'_>,
) -> Result<Option<Timestamp>, String> {
    let m = cfg.mapping;
    m.check_field_count(fields.len())?;
    let field = |c: usize| fields.get(c).unwrap_or(&[]);
    row.bytes.clear();
    row.values.clear();
    row.key_cols.clear();
    let key_cols = &mut row.key_cols;
    m.push_row_key(
        field,
        cfg.header,
        cfg.max_row_key,
        &mut row.bytes,
        |c, start, len| key_cols.push((c, (start as u32, len as u32))),
    )?;
    row.key_len = row.bytes.len();
    let ts = m.record_timestamp(field, cfg.header)?;
    for slot in &m.cells {
        let f = field(slot.column);
        m.check_value(slot, f, cfg.header, cfg.max_value)?;
        let range = match row.key_cols.iter().find(|(c, _)| *c == slot.column) {
            Some((_, s)) => *s,
            None => {
                let s = (row.bytes.len() as u32, f.len() as u32);
                row.bytes.extend_from_slice(f);
                s
            }
        };
        row.values.push(range);
    }
    Ok(ts)
}
