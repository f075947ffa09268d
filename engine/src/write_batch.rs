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
/// and 5 (`DeleteFamilyUpTo`); a batch without them is written as v1, so a store that never
/// used them stays readable by v1 code.
const PAYLOAD_V1: u8 = 1;
const PAYLOAD_V2: u8 = 2;

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

    /// The payload version this batch needs: the oldest that has all its kinds.
    fn payload_version(&self) -> u8 {
        let v2_kind = self
            .rows
            .iter()
            .flat_map(|r| &r.cells)
            .any(|(kind, ..)| *kind as u8 > CellKind::LAST_V1);
        if v2_kind { PAYLOAD_V2 } else { PAYLOAD_V1 }
    }

    /// Encode into `out` (cleared first), in the layout of docs/format.md ("WAL record
    /// payload"): version u8 (1, or 2 when a cell has kind 4 or 5), table id u32, first seq
    /// u64, row count u32, then per row its key (u32 length + bytes) and cell count u32, and
    /// per cell kind u8, family (u16 length + bytes), qualifier (u32 length + bytes),
    /// timestamp i64 and value (u32 length + bytes), all little-endian.
    #[cfg(any(test, feature = "testing"))]
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        self.encode_into(out);
    }

    /// [`WriteBatch::encode`] appending to `out` (the write path leaves room for the WAL
    /// record header before the payload).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.payload_version());
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
        let mut buf = Vec::new();
        b.encode(&mut buf);
        let p = Path::new("x.log");
        assert_eq!(WriteBatch::decode(&buf, p, 0).unwrap(), b);
        let seqs: Vec<u64> = b.internal_cells().map(|c| c.seq).collect();
        let moved: Vec<InternalCell> = b.clone().into_internal_cells().collect();
        assert_eq!(moved, b.internal_cells().collect::<Vec<_>>());
        let mut patched = buf.clone();
        WriteBatch::set_first_seq(&mut patched, 500);
        assert_eq!(WriteBatch::decode(&patched, p, 0).unwrap().first_seq, 500);
        // Numbered on across rows, not restarted at each.
        assert_eq!(seqs, vec![100, 101, 102]);
        for cut in 0..buf.len() {
            assert!(WriteBatch::decode(&buf[..cut], p, 0).is_err(), "cut {cut}");
        }
        let err = WriteBatch::decode(&buf[..10], p, 42)
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.log") && err.contains("42"), "{err}");
    }

    #[test]
    fn up_to_kinds_need_payload_v2_and_others_stay_v1() {
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
            b.encode(&mut buf);
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
        buf[0] = 3;
        let err = WriteBatch::decode(&buf, p, 0).unwrap_err().to_string();
        assert!(err.contains("unknown WAL payload version 3"), "{err}");
    }
}
