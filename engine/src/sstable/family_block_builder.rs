//! The family block encoder: one family's cells for a range of row ordinals, accumulated as
//! separate streams (ordinal deltas, kinds, qualifier indexes, timestamp and sequence-number
//! deltas, value lengths) and written with the values column-major, so similar bytes sit
//! together for the compressor (layout in docs/format.md, "Family block").
//!
//! The block's bytes (all varints LEB128):
//!
//! ```text
//! first_ordinal, cell_count, qualifier_count, qualifier_count x (len, bytes)
//! [v3: qualifier_count x derivation: 0 stored | 1 whole key | 2, sep u8, field varint32]
//! len(ordinal deltas), len(qualifier indexes), len(ts deltas), len(seq deltas), len(vlens)
//! ordinal deltas | kinds (1 byte a cell) | qualifier indexes | zigzag ts deltas
//! | zigzag seq deltas | value lengths | values, qualifier by qualifier (stored ones only)
//! ```
//!
//! From format v3 (`derive`), a qualifier whose every put in the block holds a part of its
//! own row key (see `derive.rs`; found from its first put, checked on each later one) and
//! whose other cells have empty values is written as that derivation, its values left out
//! of the value area (their lengths stay in the length stream, so a reader can check the key
//! part against them). Any cell that does not match makes the qualifier stored for the block.
//!
//! This module must never reorder cells (the table builder hands them over in internal
//! order), and never write a derivation that any cell of its qualifier does not satisfy.

use std::collections::HashMap;

use crate::cell::{CellKind, SeqNo, Timestamp};
use crate::codec::{put_len_prefixed, put_varint64, put_zigzag64, varint_len};

use super::derive::Derivation;

/// What the builder knows so far about one qualifier's values in the block (format v3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum QualValues {
    /// No put yet (and only empty values).
    Open,
    /// Every put so far satisfies the derivation, every other cell has an empty value.
    Derived(Derivation),
    /// Stored in the value area.
    Stored,
}

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
    /// Whether values may be derived from the row key (format v3 on).
    derive: bool,
    /// Per qualifier (with `derive`): where its values come from so far, and the bytes of
    /// its values not counted in `size` while they are derived.
    qual_values: Vec<QualValues>,
    derived_bytes: Vec<usize>,
    last_q: usize,
    size: usize,
}

/// Fixed allowance for the header's counts and stream lengths.
const FAMILY_HEADER_ESTIMATE: usize = 40;

impl FamilyBlockBuilder {
    /// A builder for format v3 on (`derive`: values may come from the row key) or for an
    /// older format (every value stored).
    pub fn new(derive: bool) -> Self {
        FamilyBlockBuilder {
            derive,
            ..FamilyBlockBuilder::default()
        }
    }

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
        if self.derive {
            self.qual_values.push(QualValues::Open);
            self.derived_bytes.push(0);
        }
        self.size += varint_len(q.len() as u64) + q.len();
        i
    }

    /// With `derive`: follow qualifier `q`'s derivation through one more cell and return the
    /// bytes the cell adds to the value area as far as is known now (0 while derived; a
    /// qualifier turning stored brings back the bytes it held out).
    #[inline]
    fn track_derivation(&mut self, q: usize, kind: CellKind, row: &[u8], value: &[u8]) -> usize {
        let (Some(st), Some(held)) = (self.qual_values.get_mut(q), self.derived_bytes.get_mut(q))
        else {
            return value.len();
        };
        let next = match *st {
            QualValues::Stored => return value.len(),
            _ if kind != CellKind::Put => {
                if value.is_empty() {
                    return 0;
                }
                QualValues::Stored
            }
            QualValues::Open => {
                Derivation::find(row, value).map_or(QualValues::Stored, QualValues::Derived)
            }
            QualValues::Derived(d) => {
                if d.apply(row) == Some(value) {
                    QualValues::Derived(d)
                } else {
                    QualValues::Stored
                }
            }
        };
        *st = next;
        if next == QualValues::Stored {
            std::mem::take(held) + value.len()
        } else {
            *held += value.len();
            0
        }
    }

    /// Append a cell of row `row`; cells come in internal order (ordinals non-decreasing).
    /// The row key is only looked at with `derive`.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        ordinal: u64,
        row: &[u8],
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
        let value_bytes = if self.derive {
            self.track_derivation(q, kind, row, value)
        } else {
            value.len()
        };
        self.size += after - before + value_bytes;
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
        if self.derive {
            for st in &self.qual_values {
                match st {
                    QualValues::Derived(d) => d.encode(out),
                    QualValues::Open | QualValues::Stored => Derivation::Stored.encode(out),
                }
            }
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
        for (i, v) in self.values.iter().take(self.quals.len()).enumerate() {
            if !matches!(self.qual_values.get(i), Some(QualValues::Derived(_))) {
                out.extend_from_slice(v);
            }
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
        self.qual_values.clear();
        self.derived_bytes.clear();
        self.cells = 0;
        self.last_q = 0;
        self.size = 0;
    }
}
