//! The family block encoder: one family's cells for a range of row ordinals, accumulated as
//! separate streams (ordinal deltas, kinds, qualifier indexes, timestamp and sequence-number
//! deltas, value lengths) and written with the values column-major, so similar bytes sit
//! together for the compressor (layout in docs/format.md, "Family block").
//!
//! This module must never reorder cells: the table builder hands them over in internal order.

use std::collections::HashMap;

use crate::cell::{CellKind, SeqNo, Timestamp};
use crate::codec::{put_len_prefixed, put_varint64, put_zigzag64, varint_len};

/// Accumulates one family block.
#[derive(Debug, Default)]
pub(crate) struct FamilyBlockBuilder {
    first_ordinal: u64,
    last_ordinal: u64,
    cells: usize,
    prev_ts: i64,
    prev_seq: u64,
    ord_s: Vec<u8>,
    kind_s: Vec<u8>,
    qidx_s: Vec<u8>,
    ts_s: Vec<u8>,
    seq_s: Vec<u8>,
    vlen_s: Vec<u8>,
    /// Qualifier dictionary in order of first appearance.
    quals: Vec<Vec<u8>>,
    qual_map: HashMap<Vec<u8>, u32>,
    /// Values per qualifier; buffers beyond `quals.len()` are kept for reuse.
    values: Vec<Vec<u8>>,
    last_q: usize,
    size: usize,
}

/// Fixed allowance for the header's counts and stream lengths.
const FAMILY_HEADER_ESTIMATE: usize = 40;

impl FamilyBlockBuilder {
    pub fn is_empty(&self) -> bool {
        self.cells == 0
    }

    pub fn first_ordinal(&self) -> u64 {
        self.first_ordinal
    }

    pub fn last_ordinal(&self) -> u64 {
        self.last_ordinal
    }

    /// Uncompressed size so far (exact but for the header's few varints).
    pub fn size(&self) -> usize {
        self.size + FAMILY_HEADER_ESTIMATE
    }

    fn qualifier_index(&mut self, q: &[u8]) -> usize {
        // Rows usually repeat the same columns in the same order: try the next, the same,
        // and the first qualifier before hashing.
        for cand in [self.last_q + 1, self.last_q, 0] {
            if self.quals.get(cand).is_some_and(|x| x == q) {
                return cand;
            }
        }
        if let Some(&i) = self.qual_map.get(q) {
            return i as usize;
        }
        let i = self.quals.len();
        self.quals.push(q.to_vec());
        self.qual_map.insert(q.to_vec(), i as u32);
        if self.values.len() <= i {
            self.values.push(Vec::new());
        }
        self.size += varint_len(q.len() as u64) + q.len();
        i
    }

    /// Append a cell; cells come in internal order (ordinals non-decreasing).
    pub fn add(
        &mut self,
        ordinal: u64,
        kind: CellKind,
        qualifier: &[u8],
        ts: Timestamp,
        seq: SeqNo,
        value: &[u8],
    ) {
        if self.cells == 0 {
            self.first_ordinal = ordinal;
            self.last_ordinal = ordinal;
            self.prev_ts = 0;
            self.prev_seq = 0;
        }
        let before = self.ord_s.len()
            + self.kind_s.len()
            + self.qidx_s.len()
            + self.ts_s.len()
            + self.seq_s.len()
            + self.vlen_s.len();
        put_varint64(&mut self.ord_s, ordinal - self.last_ordinal);
        self.last_ordinal = ordinal;
        self.kind_s.push(kind as u8);
        let q = self.qualifier_index(qualifier);
        self.last_q = q;
        put_varint64(&mut self.qidx_s, q as u64);
        put_zigzag64(&mut self.ts_s, ts.wrapping_sub(self.prev_ts));
        self.prev_ts = ts;
        put_zigzag64(&mut self.seq_s, seq.wrapping_sub(self.prev_seq) as i64);
        self.prev_seq = seq;
        put_varint64(&mut self.vlen_s, value.len() as u64);
        if let Some(v) = self.values.get_mut(q) {
            v.extend_from_slice(value);
        }
        let after = self.ord_s.len()
            + self.kind_s.len()
            + self.qidx_s.len()
            + self.ts_s.len()
            + self.seq_s.len()
            + self.vlen_s.len();
        self.size += after - before + value.len();
        self.cells += 1;
    }

    /// Write the finished block into `out` (cleared first) and reset for the next block.
    pub fn finish_into(&mut self, out: &mut Vec<u8>) {
        out.clear();
        out.reserve(self.size());
        put_varint64(out, self.first_ordinal);
        put_varint64(out, self.cells as u64);
        put_varint64(out, self.quals.len() as u64);
        for q in &self.quals {
            put_len_prefixed(out, q);
        }
        for s in [
            &self.ord_s,
            &self.qidx_s,
            &self.ts_s,
            &self.seq_s,
            &self.vlen_s,
        ] {
            put_varint64(out, s.len() as u64);
        }
        for s in [
            &self.ord_s,
            &self.kind_s,
            &self.qidx_s,
            &self.ts_s,
            &self.seq_s,
            &self.vlen_s,
        ] {
            out.extend_from_slice(s);
        }
        for v in self.values.iter().take(self.quals.len()) {
            out.extend_from_slice(v);
        }
        self.reset();
    }

    fn reset(&mut self) {
        for s in [
            &mut self.ord_s,
            &mut self.kind_s,
            &mut self.qidx_s,
            &mut self.ts_s,
            &mut self.seq_s,
            &mut self.vlen_s,
        ] {
            s.clear();
        }
        for v in &mut self.values {
            v.clear();
        }
        self.quals.clear();
        self.qual_map.clear();
        self.cells = 0;
        self.last_q = 0;
        self.size = 0;
    }
}
