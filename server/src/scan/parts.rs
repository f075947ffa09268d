//! Scan replies and large rows: rows go into a reply while it stays within its byte and row
//! bounds; a row too large for a whole reply is cut into parts at cell boundaries, each part
//! but the last marked `partial`, so no reply ever passes the byte bound by more than one
//! cell (and a cell is below the message limit: `config.rs` checks it).
//!
//! Sizes are the exact protobuf encoded sizes (`prost`), not estimates. This module builds
//! replies only; it must never read the engine or decide when a reply is sent.

use std::collections::VecDeque;

use bytes::Bytes;
use prost::Message as _;
use strata_proto::v1 as pb;

/// Encoded size of a length-delimited field of `len` bytes (tag, length, body).
fn framed(len: usize) -> usize {
    1 + prost::length_delimiter_len(len) + len
}

/// A row on its way out: its key and the cells not sent yet.
#[derive(Debug)]
pub struct Outgoing {
    key: Bytes,
    cells: VecDeque<(pb::Cell, usize)>,
    /// Sum of the framed sizes of `cells`.
    cells_len: usize,
}

impl Outgoing {
    /// A whole row to send.
    pub fn new(row: pb::Row) -> Outgoing {
        let cells: VecDeque<(pb::Cell, usize)> = row
            .cells
            .into_iter()
            .map(|c| {
                let len = framed(c.encoded_len());
                (c, len)
            })
            .collect();
        let cells_len = cells.iter().map(|(_, l)| l).sum();
        Outgoing {
            key: row.key,
            cells,
            cells_len,
        }
    }

    /// Encoded size of the rest of the row as one `Row` inside a reply, with or without the
    /// partial flag.
    fn len(&self, cells_len: usize, partial: bool) -> usize {
        let key = if self.key.is_empty() {
            0
        } else {
            framed(self.key.len())
        };
        framed(key + cells_len + if partial { 2 } else { 0 })
    }

    fn into_row(self) -> pb::Row {
        pb::Row {
            key: self.key,
            cells: self.cells.into_iter().map(|(c, _)| c).collect(),
            partial: false,
        }
    }
}

/// One reply being filled.
#[derive(Debug)]
pub struct Reply {
    rows: Vec<pb::Row>,
    bytes: usize,
    max_rows: usize,
    max_bytes: usize,
    full: bool,
}

impl Reply {
    /// An empty reply of at most `max_rows` rows (parts count as rows) and about `max_bytes`.
    pub fn new(max_rows: usize, max_bytes: usize) -> Reply {
        Reply {
            rows: Vec::with_capacity(max_rows.min(1024)),
            bytes: 0,
            max_rows: max_rows.max(1),
            max_bytes: max_bytes.max(1),
            full: false,
        }
    }

    /// Whether no row (or part) may be added.
    pub fn is_full(&self) -> bool {
        self.full || self.rows.len() >= self.max_rows || self.bytes >= self.max_bytes
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Encoded size so far.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Add what fits of `row`: the whole row if it fits in the room left; nothing if it does
    /// not but would fit a reply of its own (the reply is then full); else, in an empty
    /// reply, a part of at least one cell marked `partial` (the reply is then full). Returns
    /// what is left to send in later replies.
    pub fn offer(&mut self, mut row: Outgoing) -> Option<Outgoing> {
        if self.is_full() {
            return Some(row);
        }
        let room = self.max_bytes - self.bytes;
        let whole = row.len(row.cells_len, false);
        if whole <= room {
            self.bytes += whole;
            self.rows.push(row.into_row());
            return None;
        }
        if !self.rows.is_empty() {
            self.full = true;
            return Some(row);
        }
        // Larger than a reply: this reply holds one part, of as many cells as fit (one at
        // least).
        let mut cells = Vec::new();
        let mut cells_len = 0usize;
        while let Some((_, len)) = row.cells.front() {
            let len = *len;
            if !cells.is_empty() && row.len(cells_len + len, true) > self.max_bytes {
                break;
            }
            if let Some((cell, _)) = row.cells.pop_front() {
                cells.push(cell);
                cells_len += len;
            }
        }
        row.cells_len -= cells_len;
        let partial = !row.cells.is_empty();
        self.bytes += row.len(cells_len, partial);
        self.rows.push(pb::Row {
            key: row.key.clone(),
            cells,
            partial,
        });
        self.full = true;
        partial.then_some(row)
    }

    /// The reply.
    pub fn finish(self) -> pb::ScanResponse {
        pb::ScanResponse { rows: self.rows }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(q: usize, value: usize) -> pb::Cell {
        pb::Cell {
            family: "f".into(),
            qualifier: format!("q{q:03}").into_bytes().into(),
            timestamp_micros: 1,
            value: vec![7u8; value].into(),
        }
    }

    fn row(key: &str, cells: usize, value: usize) -> Outgoing {
        Outgoing::new(pb::Row {
            key: key.as_bytes().to_vec().into(),
            cells: (0..cells).map(|q| cell(q, value)).collect(),
            partial: false,
        })
    }

    /// Every reply of `rows` with the given bounds.
    fn replies(rows: Vec<Outgoing>, max_rows: usize, max_bytes: usize) -> Vec<pb::ScanResponse> {
        let mut out = Vec::new();
        let mut rows = rows.into_iter();
        let mut pending: Option<Outgoing> = None;
        loop {
            let mut reply = Reply::new(max_rows, max_bytes);
            while !reply.is_full() {
                let Some(r) = pending.take().or_else(|| rows.next()) else {
                    break;
                };
                pending = reply.offer(r);
            }
            if reply.is_empty() {
                return out;
            }
            let bytes = reply.bytes();
            let r = reply.finish();
            assert_eq!(r.encoded_len(), bytes, "the count is the encoded size");
            out.push(r);
        }
    }

    #[test]
    fn small_rows_share_a_reply_within_its_bounds() {
        let got = replies(
            (0..10).map(|i| row(&format!("r{i}"), 2, 10)).collect(),
            4,
            1 << 20,
        );
        let shape: Vec<usize> = got.iter().map(|r| r.rows.len()).collect();
        assert_eq!(shape, [4, 4, 2]);
        assert!(got.iter().flat_map(|r| &r.rows).all(|r| !r.partial));
    }

    #[test]
    fn a_row_larger_than_a_reply_comes_in_parts_at_cell_boundaries() {
        // Nine cells of 1000 bytes, replies of 2500 bytes: parts of two cells.
        let got = replies(
            vec![row("a", 1, 10), row("wide", 9, 1000), row("z", 1, 10)],
            100,
            2500,
        );
        let parts: Vec<(String, usize, bool)> = got
            .iter()
            .flat_map(|r| &r.rows)
            .map(|r| {
                (
                    String::from_utf8_lossy(&r.key).into_owned(),
                    r.cells.len(),
                    r.partial,
                )
            })
            .collect();
        assert_eq!(
            parts,
            [
                ("a".into(), 1, false),
                ("wide".into(), 2, true),
                ("wide".into(), 2, true),
                ("wide".into(), 2, true),
                ("wide".into(), 2, true),
                ("wide".into(), 1, false),
                ("z".into(), 1, false),
            ]
        );
        // Every reply stays within its bound, and the cells come in order, none lost.
        assert!(got.iter().all(|r| r.encoded_len() <= 2500));
        let quals: Vec<Vec<u8>> = got
            .iter()
            .flat_map(|r| &r.rows)
            .filter(|r| &r.key[..] == b"wide")
            .flat_map(|r| r.cells.iter().map(|c| c.qualifier.to_vec()))
            .collect();
        assert_eq!(
            quals,
            (0..9)
                .map(|q| format!("q{q:03}").into_bytes())
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_cell_larger_than_a_reply_goes_alone() {
        let got = replies(vec![row("big", 3, 5000)], 100, 1000);
        assert_eq!(got.len(), 3);
        for (i, r) in got.iter().enumerate() {
            assert_eq!(r.rows.len(), 1);
            assert_eq!(r.rows[0].cells.len(), 1);
            assert_eq!(r.rows[0].partial, i < 2);
        }
    }

    #[test]
    fn a_row_that_fits_a_reply_of_its_own_is_not_split() {
        // 600-byte rows in 1000-byte replies: one row per reply, never parts.
        let got = replies(
            (0..3).map(|i| row(&format!("r{i}"), 1, 600)).collect(),
            100,
            1000,
        );
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|r| r.rows.len() == 1 && !r.rows[0].partial));
    }

    #[test]
    fn rows_without_cells_are_whole() {
        let got = replies(
            (0..3).map(|i| row(&format!("r{i}"), 0, 0)).collect(),
            100,
            1000,
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].rows.len(), 3);
    }
}
