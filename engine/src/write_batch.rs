//! `WriteBatch`: the cells of one write call (one or many row mutations of one table),
//! expanded from client mutations, sequenced, and encoded as one WAL record payload.
//!
//! The WAL frames and checksums the payload; this file owns only the payload's layout
//! (documented in docs/format.md, "WAL record payload"). It must never touch files.

#![warn(clippy::indexing_slicing)]

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::cell::{CellKind, InternalCell, SeqNo, Timestamp};
use crate::error::{Error, Result};

/// Payload versions. v2 has v1's layout and adds the cell kinds 4 (`DeleteColumnUpTo`)
/// and 5 (`DeleteFamilyUpTo`). v3 (2026-12-03) lists the call's distinct (family,
/// qualifier) columns once and has each cell name its column by index, with varint counts
/// and lengths and each timestamp as a zigzag varint delta from the previous cell's: a
/// 1,000-row clickstream call takes 235 KB instead of 424, and one durable writer waits on
/// the WAL's fsync, whose time grows with the bytes (docs/design/write-path.md). Every batch is
/// written as v3; v1 and v2 are still read (and written by the frozen-format test).
const PAYLOAD_V1: u8 = 1;
const PAYLOAD_V2: u8 = 2;
const PAYLOAD_V3: u8 = 3;

/// The cells of one row mutation, in mutation order (sequence numbers ascend in that order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowCells {
    /// Row key.
    pub row: Bytes,
    /// (kind, family, qualifier, timestamp, value) per entry.
    pub cells: Vec<(CellKind, Arc<str>, Bytes, Timestamp, Bytes)>,
}

impl RowCells {
    /// The row's cells as internal cells, numbered from `first_seq` in mutation order.
    pub fn into_internal_cells(self, first_seq: SeqNo) -> impl Iterator<Item = InternalCell> {
        let row = self.row;
        self.cells
            .into_iter()
            .enumerate()
            .map(
                move |(i, (kind, family, qualifier, ts, value))| InternalCell {
                    row: row.clone(),
                    family,
                    kind,
                    qualifier,
                    ts,
                    seq: first_seq + i as u64,
                    value,
                },
            )
    }
}

/// A sequenced batch of cells for one table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    /// Table id (from the manifest).
    pub table_id: u32,
    /// Sequence number of the first cell; the i-th cell overall gets `first_seq + i`.
    pub first_seq: SeqNo,
    /// Rows, each applied atomically.
    pub rows: Vec<RowCells>,
}

impl WriteBatch {
    /// Number of cells over all rows.
    pub fn cell_count(&self) -> u64 {
        self.rows.iter().map(|r| r.cells.len() as u64).sum()
    }

    /// The batch's cells as internal cells with their sequence numbers.
    #[cfg(test)]
    pub fn internal_cells(&self) -> impl Iterator<Item = InternalCell> + '_ {
        // Each row's first number is taken here, outside the per-cell closure: a counter
        // moved into that closure would be a copy restarting at `first_seq` for every row.
        let mut seq = self.first_seq;
        self.rows.iter().flat_map(move |r| {
            let first = seq;
            seq += r.cells.len() as u64;
            r.cells
                .iter()
                .enumerate()
                .map(
                    move |(i, (kind, family, qualifier, ts, value))| InternalCell {
                        row: r.row.clone(),
                        family: family.clone(),
                        kind: *kind,
                        qualifier: qualifier.clone(),
                        ts: *ts,
                        seq: first + i as u64,
                        value: value.clone(),
                    },
                )
        })
    }

    /// The batch's cells with their sequence numbers, consuming the batch (values move
    /// instead of being cloned: a clone of a `Bytes` made from a `Vec` allocates).
    #[cfg(test)]
    pub fn into_internal_cells(self) -> impl Iterator<Item = InternalCell> {
        let mut seq = self.first_seq;
        self.rows.into_iter().flat_map(move |r| {
            let first = seq;
            seq += r.cells.len() as u64;
            r.into_internal_cells(first)
        })
    }

    /// The oldest fixed-width payload version (v1 or v2) that has all this batch's kinds.
    #[cfg(test)]
    pub(crate) fn fixed_width_version(&self) -> u8 {
        let v2_kind = self
            .rows
            .iter()
            .flat_map(|r| &r.cells)
            .any(|(kind, ..)| *kind as u8 > CellKind::LAST_V1);
        if v2_kind { PAYLOAD_V2 } else { PAYLOAD_V1 }
    }

    /// Encode into `out` (cleared first) as the writer does (v3, see
    /// [`WriteBatch::encode_into`]).
    #[cfg(any(test, feature = "testing"))]
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        self.encode_into(out);
    }

    /// Encode as payload v3, appending to `out` (the write path leaves room for the WAL
    /// record header before the payload), in the layout of docs/format.md ("WAL record
    /// payload"): version u8 = 3, table id u32 and first seq u64 (little-endian, at the
    /// offsets of v1: [`WriteBatch::set_first_seq`] patches bytes 5..13), then varints: row
    /// count, column count, per column its family and its qualifier (each length + bytes),
    /// per row its key (length + bytes) and cell count, per cell its kind (one byte), its
    /// column's index, its timestamp as a zigzag delta from the previous cell's (the
    /// first cell's from 0) and its value (length + bytes).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        use crate::codec::{put_varint64, zigzag_encode};
        // The columns in first-seen order, and each cell's index into them. Rows of one
        // call mostly repeat their columns in the same order, so each cell is first checked
        // against the column of the same place in the previous row; the map sees only the
        // rest.
        let mut columns: Vec<(&str, &[u8])> = Vec::new();
        let mut index: std::collections::HashMap<(&str, &[u8]), u32, foldhash::fast::FixedState> =
            std::collections::HashMap::default();
        let mut cell_columns: Vec<u32> = Vec::with_capacity(self.cell_count() as usize);
        let mut prev_start = 0usize;
        for r in &self.rows {
            let start = cell_columns.len();
            for (j, (_, family, qualifier, _, _)) in r.cells.iter().enumerate() {
                let key = (&**family, &qualifier[..]);
                let same_place = cell_columns
                    .get(prev_start..start)
                    .and_then(|prev_row| prev_row.get(j).copied())
                    .filter(|&c| columns.get(c as usize) == Some(&key));
                let c = match same_place {
                    Some(c) => c,
                    None => *index.entry(key).or_insert_with(|| {
                        columns.push(key);
                        (columns.len() - 1) as u32
                    }),
                };
                cell_columns.push(c);
            }
            prev_start = start;
        }
        out.push(PAYLOAD_V3);
        out.extend_from_slice(&self.table_id.to_le_bytes());
        out.extend_from_slice(&self.first_seq.to_le_bytes());
        put_varint64(out, self.rows.len() as u64);
        put_varint64(out, columns.len() as u64);
        for (family, qualifier) in &columns {
            put_varint64(out, family.len() as u64);
            out.extend_from_slice(family.as_bytes());
            put_varint64(out, qualifier.len() as u64);
            out.extend_from_slice(qualifier);
        }
        let mut cols = cell_columns.iter();
        let mut prev_ts: Timestamp = 0;
        for r in &self.rows {
            put_varint64(out, r.row.len() as u64);
            out.extend_from_slice(&r.row);
            put_varint64(out, r.cells.len() as u64);
            for (kind, _, _, ts, value) in &r.cells {
                out.push(*kind as u8);
                put_varint64(out, u64::from(cols.next().copied().unwrap_or(0)));
                put_varint64(out, zigzag_encode(ts.wrapping_sub(prev_ts)));
                prev_ts = *ts;
                put_varint64(out, value.len() as u64);
                out.extend_from_slice(value);
            }
        }
    }

    /// Encode into `out` (cleared first) in the fixed-width layout of payload v1 and v2:
    /// version u8 (`version`: 1, or 2 when a cell has kind 4 or 5), table id u32, first seq
    /// u64, row count u32, then per row its key (u32 length + bytes) and cell count u32, and
    /// per cell kind u8, family (u16 length + bytes), qualifier (u32 length + bytes),
    /// timestamp i64 and value (u32 length + bytes), all little-endian. Only the
    /// frozen-format test writes these now (the fixtures' WAL payloads, byte for byte).
    #[cfg(test)]
    pub(crate) fn encode_fixed_width(&self, out: &mut Vec<u8>, version: u8) {
        out.clear();
        out.push(version);
        out.extend_from_slice(&self.table_id.to_le_bytes());
        out.extend_from_slice(&self.first_seq.to_le_bytes());
        out.extend_from_slice(&(self.rows.len() as u32).to_le_bytes());
        for r in &self.rows {
            out.extend_from_slice(&(r.row.len() as u32).to_le_bytes());
            out.extend_from_slice(&r.row);
            out.extend_from_slice(&(r.cells.len() as u32).to_le_bytes());
            for (kind, family, qualifier, ts, value) in &r.cells {
                out.push(*kind as u8);
                out.extend_from_slice(&(family.len() as u16).to_le_bytes());
                out.extend_from_slice(family.as_bytes());
                out.extend_from_slice(&(qualifier.len() as u32).to_le_bytes());
                out.extend_from_slice(qualifier);
                out.extend_from_slice(&ts.to_le_bytes());
                out.extend_from_slice(&(value.len() as u32).to_le_bytes());
                out.extend_from_slice(value);
            }
        }
    }

    /// Overwrite `first_seq` in an encoded payload (sequence numbers are assigned under the
    /// write lock, after encoding).
    pub fn set_first_seq(buf: &mut [u8], first_seq: SeqNo) {
        if let Some(slot) = buf.get_mut(5..13) {
            slot.copy_from_slice(&first_seq.to_le_bytes());
        }
    }

    /// Decode a payload read from `path` (named in errors) from the record at byte `offset` of
    /// the file (named in errors too).
    pub fn decode(buf: &[u8], path: &Path, offset: u64) -> Result<WriteBatch> {
        let mut r = Cursor {
            buf,
            pos: 0,
            path,
            offset,
        };
        let version = r.u8()?;
        let last_kind = match version {
            PAYLOAD_V1 => CellKind::LAST_V1,
            PAYLOAD_V2 => CellKind::DeleteFamilyUpTo as u8,
            PAYLOAD_V3 => return r.decode_v3(),
            _ => return Err(r.err(&format!("unknown WAL payload version {version}"))),
        };
        let table_id = r.u32()?;
        let first_seq = r.u64()?;
        let nrows = r.u32()?;
        let mut rows = Vec::with_capacity((nrows as usize).min(buf.len()));
        for _ in 0..nrows {
            let rl = r.u32()? as usize;
            let row = Bytes::copy_from_slice(r.take(rl)?);
            let ncells = r.u32()?;
            let mut cells = Vec::with_capacity((ncells as usize).min(buf.len()));
            for _ in 0..ncells {
                let kb = r.u8()?;
                let kind = CellKind::from_u8(kb)
                    .filter(|_| kb <= last_kind)
                    .ok_or_else(|| r.err(&format!("bad cell kind {kb} in a v{version} payload")))?;
                let fl = r.u16()? as usize;
                let fam = std::str::from_utf8(r.take(fl)?)
                    .map_err(|_| r.err("family name is not UTF-8"))?;
                let family: Arc<str> = Arc::from(fam);
                let ql = r.u32()? as usize;
                let qualifier = Bytes::copy_from_slice(r.take(ql)?);
                let ts = r.u64()? as i64;
                let vl = r.u32()? as usize;
                let value = Bytes::copy_from_slice(r.take(vl)?);
                cells.push((kind, family, qualifier, ts, value));
            }
            rows.push(RowCells { row, cells });
        }
        if r.pos != buf.len() {
            return Err(r.err("trailing bytes after the last row"));
        }
        Ok(WriteBatch {
            table_id,
            first_seq,
            rows,
        })
    }
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    path: &'a Path,
    offset: u64,
}

impl<'a> Cursor<'a> {
    /// The rest of a v3 payload (the version byte read): see [`WriteBatch::encode_into`].
    fn decode_v3(&mut self) -> Result<WriteBatch> {
        let table_id = self.u32()?;
        let first_seq = self.u64()?;
        let nrows = self.varint()?;
        let ncols = self.varint()?;
        // Every column and row takes at least two bytes: a count larger than the rest of
        // the record is damage, not a reason to reserve memory.
        let room = self.buf.len() - self.pos;
        let mut columns: Vec<(Arc<str>, Bytes)> = Vec::with_capacity(ncols.min(room));
        for _ in 0..ncols {
            let fl = self.varint()?;
            let fam = std::str::from_utf8(self.take(fl)?)
                .map_err(|_| self.err("family name is not UTF-8"))?;
            let family: Arc<str> = Arc::from(fam);
            let ql = self.varint()?;
            let qualifier = Bytes::copy_from_slice(self.take(ql)?);
            columns.push((family, qualifier));
        }
        let mut rows = Vec::with_capacity(nrows.min(room));
        let mut prev_ts: Timestamp = 0;
        for _ in 0..nrows {
            let rl = self.varint()?;
            let row = Bytes::copy_from_slice(self.take(rl)?);
            let ncells = self.varint()?;
            let mut cells = Vec::with_capacity(ncells.min(self.buf.len() - self.pos));
            for _ in 0..ncells {
                let kb = self.u8()?;
                let kind = CellKind::from_u8(kb)
                    .ok_or_else(|| self.err(&format!("bad cell kind {kb} in a v3 payload")))?;
                let ci = self.varint()?;
                let (family, qualifier) = columns.get(ci).cloned().ok_or_else(|| {
                    self.err(&format!("column {ci} of a call with {ncols} columns"))
                })?;
                let delta = crate::codec::zigzag_decode(self.varint64()?);
                let ts = prev_ts.wrapping_add(delta);
                prev_ts = ts;
                let vl = self.varint()?;
                let value = Bytes::copy_from_slice(self.take(vl)?);
                cells.push((kind, family, qualifier, ts, value));
            }
            rows.push(RowCells { row, cells });
        }
        if self.pos != self.buf.len() {
            return Err(self.err("trailing bytes after the last row"));
        }
        Ok(WriteBatch {
            table_id,
            first_seq,
            rows,
        })
    }
    fn varint64(&mut self) -> Result<u64> {
        crate::codec::take_varint(self.buf, &mut self.pos)
            .ok_or_else(|| self.err("bad or truncated varint"))
    }
    /// A varint count or length (at most `usize`).
    fn varint(&mut self) -> Result<usize> {
        let v = self.varint64()?;
        usize::try_from(v).map_err(|_| self.err(&format!("length {v} out of range")))
    }
    fn err(&self, what: &str) -> Error {
        Error::corruption(
            self.path,
            self.offset,
            format!("WAL payload byte {}: {what}", self.pos),
        )
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| self.err("record shorter than its lengths say"))?;
        let s = crate::codec::sub(self.buf, self.pos..end);
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        self.take(1)?
            .first()
            .copied()
            .ok_or_else(|| self.err("record shorter than its lengths say"))
    }
    fn u16(&mut self) -> Result<u16> {
        let mut b = [0u8; 2];
        b.copy_from_slice(self.take(2)?);
        Ok(u16::from_le_bytes(b))
    }
    fn u32(&mut self) -> Result<u32> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(b))
    }
    fn u64(&mut self) -> Result<u64> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation_is_an_error() {
        let b = WriteBatch {
            table_id: 7,
            first_seq: 100,
            rows: vec![
                RowCells {
                    row: Bytes::from_static(b"r1"),
                    cells: vec![
                        (
                            CellKind::Put,
                            Arc::from("f"),
                            Bytes::from_static(b"q"),
                            5,
                            Bytes::from_static(b"value"),
                        ),
                        (
                            CellKind::DeleteFamily,
                            Arc::from("g"),
                            Bytes::new(),
                            i64::MAX,
                            Bytes::new(),
                        ),
                    ],
                },
                RowCells {
                    row: Bytes::from_static(b"r2"),
                    cells: vec![],
                },
                RowCells {
                    row: Bytes::from_static(b"r3"),
                    cells: vec![(
                        CellKind::Put,
                        Arc::from("f"),
                        Bytes::from_static(b"q"),
                        6,
                        Bytes::new(),
                    )],
                },
            ],
        };
        let p = Path::new("x.log");
        let seqs: Vec<u64> = b.internal_cells().map(|c| c.seq).collect();
        let moved: Vec<InternalCell> = b.clone().into_internal_cells().collect();
        assert_eq!(moved, b.internal_cells().collect::<Vec<_>>());
        // Numbered on across rows, not restarted at each.
        assert_eq!(seqs, vec![100, 101, 102]);
        let mut v3 = Vec::new();
        b.encode(&mut v3);
        assert_eq!(v3[0], PAYLOAD_V3);
        let mut v1 = Vec::new();
        b.encode_fixed_width(&mut v1, b.fixed_width_version());
        assert_eq!(v1[0], PAYLOAD_V1);
        for buf in [v3, v1] {
            assert_eq!(WriteBatch::decode(&buf, p, 0).unwrap(), b);
            let mut patched = buf.clone();
            WriteBatch::set_first_seq(&mut patched, 500);
            assert_eq!(WriteBatch::decode(&patched, p, 0).unwrap().first_seq, 500);
            for cut in 0..buf.len() {
                assert!(WriteBatch::decode(&buf[..cut], p, 0).is_err(), "cut {cut}");
            }
            let mut longer = buf.clone();
            longer.push(0);
            let err = WriteBatch::decode(&longer, p, 0).unwrap_err().to_string();
            assert!(err.contains("trailing bytes"), "{err}");
            let err = WriteBatch::decode(&buf[..10], p, 42)
                .unwrap_err()
                .to_string();
            assert!(err.contains("x.log") && err.contains("42"), "{err}");
        }
    }

    /// `rows` rows of the same six columns (two families), timestamps close together.
    fn clickstream_like(rows: usize) -> WriteBatch {
        let fams: [Arc<str>; 2] = [Arc::from("event_details"), Arc::from("session_info")];
        WriteBatch {
            table_id: 3,
            first_seq: 1,
            rows: (0..rows)
                .map(|i| RowCells {
                    row: Bytes::from(format!("session-{i:06}#2026-12-03T10:00:{i:02}")),
                    cells: (0..6)
                        .map(|q| {
                            (
                                CellKind::Put,
                                fams[q % 2].clone(),
                                Bytes::from(format!("qualifier_{q}")),
                                1_764_756_000_000_000 + i as i64 * 1000,
                                Bytes::from(format!("v{i}-{q}")),
                            )
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn v3_names_each_column_once_and_takes_far_fewer_bytes() {
        let b = clickstream_like(1000);
        let (mut v3, mut v1) = (Vec::new(), Vec::new());
        b.encode(&mut v3);
        b.encode_fixed_width(&mut v1, 1);
        assert_eq!(WriteBatch::decode(&v3, Path::new("x.log"), 0).unwrap(), b);
        // Each qualifier's name is in the record once, not once per row.
        let needle = b"qualifier_3";
        let count = v3.windows(needle.len()).filter(|w| w == needle).count();
        assert_eq!(count, 1);
        assert!(
            v3.len() * 2 < v1.len(),
            "v3 {} bytes, v1 {}",
            v3.len(),
            v1.len()
        );
        // Rows whose columns differ in order or number still name the right ones.
        let mut mixed = clickstream_like(3);
        mixed.rows[1].cells.reverse();
        mixed.rows[2].cells.truncate(2);
        mixed.rows[2].cells.push((
            CellKind::DeleteFamilyUpTo,
            Arc::from("other"),
            Bytes::new(),
            i64::MIN,
            Bytes::new(),
        ));
        let mut buf = Vec::new();
        mixed.encode(&mut buf);
        assert_eq!(
            WriteBatch::decode(&buf, Path::new("x.log"), 0).unwrap(),
            mixed
        );
    }

    #[test]
    fn a_v3_cell_naming_a_missing_column_is_corruption() {
        let b = WriteBatch {
            table_id: 1,
            first_seq: 9,
            rows: vec![RowCells {
                row: Bytes::from_static(b"r"),
                cells: vec![(CellKind::Put, Arc::from("f"), Bytes::new(), 0, Bytes::new())],
            }],
        };
        let mut buf = Vec::new();
        b.encode(&mut buf);
        // Header 13 bytes, 1 row, 1 column ("f", empty qualifier: 1+1+1 bytes), the row
        // ("r": 2 bytes), 1 cell, its kind: the next byte is its column index.
        let at = 13 + 2 + 3 + 2 + 1 + 1;
        assert_eq!(buf[at], 0);
        buf[at] = 1;
        let err = WriteBatch::decode(&buf, Path::new("x.log"), 7)
            .unwrap_err()
            .to_string();
        assert!(err.contains("column 1 of a call with 1 columns"), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn v3_round_trips_any_batch(
            rows in proptest::collection::vec(
                (
                    proptest::collection::vec(proptest::prelude::any::<u8>(), 0..8),
                    proptest::collection::vec(
                        (0u8..6, 0usize..3, 0usize..4, proptest::prelude::any::<i64>(),
                         proptest::collection::vec(proptest::prelude::any::<u8>(), 0..6)),
                        0..6,
                    ),
                ),
                0..8,
            ),
            first_seq in proptest::prelude::any::<u64>(),
        ) {
            let fams = ["f", "g", "family_h"];
            let b = WriteBatch {
                table_id: 5,
                first_seq,
                rows: rows
                    .into_iter()
                    .map(|(row, cells)| RowCells {
                        row: Bytes::from(row),
                        cells: cells
                            .into_iter()
                            .map(|(k, f, q, ts, v)| {
                                (
                                    CellKind::from_u8(k).unwrap_or(CellKind::Put),
                                    Arc::from(fams[f]),
                                    Bytes::from(vec![b'q'; q]),
                                    ts,
                                    Bytes::from(v),
                                )
                            })
                            .collect(),
                    })
                    .collect(),
            };
            let mut buf = Vec::new();
            b.encode(&mut buf);
            proptest::prop_assert_eq!(WriteBatch::decode(&buf, Path::new("x.log"), 0).unwrap(), b);
        }
    }

    #[test]
    fn fixed_width_payloads_need_v2_only_for_up_to_kinds() {
        let batch = |kind| WriteBatch {
            table_id: 1,
            first_seq: 9,
            rows: vec![RowCells {
                row: Bytes::from_static(b"r"),
                cells: vec![(kind, Arc::from("f"), Bytes::new(), 5, Bytes::new())],
            }],
        };
        let p = Path::new("x.log");
        for (kind, version) in [
            (CellKind::DeleteColumn, 1),
            (CellKind::DeleteColumnUpTo, 2),
            (CellKind::DeleteFamilyUpTo, 2),
        ] {
            let b = batch(kind);
            let mut buf = Vec::new();
            b.encode_fixed_width(&mut buf, b.fixed_width_version());
            assert_eq!(buf[0], version, "{kind:?}");
            assert_eq!(WriteBatch::decode(&buf, p, 0).unwrap(), b);
            if version == 2 {
                // The same bytes claiming v1 hold a kind v1 does not have.
                buf[0] = 1;
                let err = WriteBatch::decode(&buf, p, 0).unwrap_err().to_string();
                assert!(err.contains("bad cell kind"), "{err}");
            }
        }
        let mut buf = Vec::new();
        batch(CellKind::Put).encode(&mut buf);
        assert_eq!(buf[0], PAYLOAD_V3);
        buf[0] = 4;
        let err = WriteBatch::decode(&buf, p, 0).unwrap_err().to_string();
        assert!(err.contains("unknown WAL payload version 4"), "{err}");
    }
}
