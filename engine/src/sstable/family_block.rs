//! Decoded family blocks of an SSTable: the checked payload of one family's cells for a
//! range of row ordinals (written by `family_block_builder.rs`; layout in docs/format.md,
//! "Family block"), with checkpoints every few rows so a point get decodes only the cells
//! near its row and a scan walks the streams in order.
//!
//! From format v3 a qualifier's values may be derived from the row key (`derive.rs`): such
//! a cell's value is handed out as a slice of the row key the caller passes, checked against
//! the cell's stored value length (a key without that field, or a field of another length,
//! is a [`DerivedValueError`], which callers report as corruption of the block).
//!
//! The decoder must never panic or return an inconsistent block on any input: every length,
//! count, index and ordinal is checked once at decode, and values are handed out as slices of
//! the decoded buffer (or of the row key), never copied.

#![warn(clippy::indexing_slicing)]

use bytes::Bytes;

use crate::cell::{CellKind, SeqNo, Timestamp};
use crate::codec::{DecodeResult, Reader, invalid, take_varint, zigzag_decode};

use super::derive::Derivation;

/// A value derived from the row key that the key does not reproduce: the block or the key
/// block is damaged (the builder writes a derivation only when every cell satisfies it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DerivedValueError {
    /// The key has fewer fields than the derivation names.
    #[error(
        "value derived from the row key: the key has no field {index} at separator byte {sep:#04x}"
    )]
    NoSuchField { sep: u8, index: u32 },
    /// The key's field is not as long as the cell's stored value length.
    #[error(
        "value derived from the row key: the key's part is {derived} bytes but the stored value \
         length is {stored}"
    )]
    LengthMismatch { derived: usize, stored: u32 },
}

/// One decoded cell of a family block; the value is `data[val_off..val_off + val_len]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CellMeta {
    pub ordinal: u64,
    pub ts: Timestamp,
    pub seq: SeqNo,
    pub val_off: u32,
    pub val_len: u32,
    pub qual: u32,
    pub kind: CellKind,
}

/// Cells between two checkpoints of a decoded family block, roughly: checkpoints fall on
/// every k-th row, k chosen per block from its cells per row (1..=64 rows), so a point
/// get decodes about this many cells before its row.
const CHECKPOINT_CELLS: u64 = 32;
/// Most rows between two checkpoints.
const CHECKPOINT_MAX_ROWS: u64 = 64;
/// Blocks with at most this many qualifiers keep each qualifier's value offset at every
/// checkpoint; blocks with more keep a value offset per cell (4 bytes a cell).
const CHECKPOINT_QUALS: usize = 16;

/// A position in a family block's streams: the next cell to decode and the running
/// ordinal, timestamp and seq (those of the previous cell). Positions are absolute offsets
/// into the block's payload.
#[derive(Clone, Copy, Debug, Default)]
struct StreamPos {
    cell: u32,
    ord_pos: u32,
    qidx_pos: u32,
    ts_pos: u32,
    seq_pos: u32,
    vlen_pos: u32,
    ord: u64,
    ts: i64,
    seq: u64,
}

/// A position in a decoded family block (see [`FamilyBlock::seek`]); only meaningful for
/// the block that made it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BlockCursor {
    pos: StreamPos,
    /// Per qualifier: the next value's offset within its run (blocks without per-cell
    /// offsets).
    offs: [u32; CHECKPOINT_QUALS],
}

impl BlockCursor {
    /// Index of the next cell this cursor decodes.
    #[cfg(test)]
    pub fn cell_index(&self) -> usize {
        self.pos.cell as usize
    }

    /// Read the next cell's stream entries (ordinal, qualifier, timestamp, sequence number
    /// and value length advance together) and return (qualifier index, value length); the
    /// caller moves `cell` on. `None` at the block's end.
    #[inline(always)]
    fn read_streams(&mut self, b: &FamilyBlock) -> Option<(u32, u32)> {
        let p = &mut self.pos;
        if p.cell >= b.count {
            return None;
        }
        let d: &[u8] = &b.data;
        // Every stream was checked when the block was decoded: these reads stay in bounds
        // and yield the values the check saw.
        p.ord = p.ord.wrapping_add(read_varint(d, &mut p.ord_pos));
        let qual = read_varint(d, &mut p.qidx_pos) as u32;
        p.ts =
            p.ts.wrapping_add(zigzag_decode(read_varint(d, &mut p.ts_pos)));
        p.seq = p
            .seq
            .wrapping_add(zigzag_decode(read_varint(d, &mut p.seq_pos)) as u64);
        let val_len = read_varint(d, &mut p.vlen_pos) as u32;
        Some((qual, val_len))
    }

    /// Move past the next cell, returning only its ordinal (`None` at the block's end):
    /// what walking from a checkpoint to a row needs, without building the cell.
    #[inline]
    fn skip_cell(&mut self, b: &FamilyBlock) -> Option<u64> {
        let (qual, val_len) = self.read_streams(b)?;
        if b.val_off.is_empty()
            && let Some(o) = self.offs.get_mut(qual as usize)
        {
            *o = o.wrapping_add(val_len);
        }
        self.pos.cell += 1;
        Some(self.pos.ord)
    }

    /// Decode the next cell and move past it; `None` at the block's end.
    #[inline]
    pub fn next_cell(&mut self, b: &FamilyBlock) -> Option<CellMeta> {
        let (qual, val_len) = self.read_streams(b)?;
        let cell = self.pos.cell as usize;
        let kind = b
            .data
            .get(b.kinds_at as usize + cell)
            .and_then(|&k| CellKind::from_u8(k))
            .unwrap_or(CellKind::Put);
        let base = b.qual_starts.get(qual as usize).copied().unwrap_or(0);
        let within = if b.val_off.is_empty() {
            match self.offs.get_mut(qual as usize) {
                Some(o) => {
                    let v = *o;
                    *o = v.wrapping_add(val_len);
                    v
                }
                None => 0,
            }
        } else {
            b.val_off.get(cell).copied().unwrap_or(0)
        };
        self.pos.cell += 1;
        Some(CellMeta {
            ordinal: self.pos.ord,
            ts: self.pos.ts,
            seq: self.pos.seq,
            val_off: base.wrapping_add(within),
            val_len,
            qual,
            kind,
        })
    }
}

/// A varint at `*pos` of a stream already checked by `decode_family_block` (0 past the
/// end, which a checked stream never reaches).
#[inline(always)]
fn read_varint(d: &[u8], pos: &mut u32) -> u64 {
    let mut p = *pos as usize;
    let Some(&b0) = d.get(p) else {
        return 0;
    };
    p += 1;
    if b0 < 0x80 {
        *pos = p as u32;
        return u64::from(b0);
    }
    let mut result = u64::from(b0 & 0x7f);
    let mut shift = 7u32;
    while let Some(&b) = d.get(p) {
        p += 1;
        result |= u64::from(b & 0x7f).wrapping_shl(shift);
        if b < 0x80 {
            break;
        }
        shift += 7;
    }
    *pos = p as u32;
    result
}

/// Where the streams stood at the first cell of a checkpoint row.
#[derive(Clone, Copy, Debug)]
struct Checkpoint {
    row_ord: u64,
    at: StreamPos,
}

/// A decoded family block, kept compact for the block cache: the payload itself, the
/// qualifier dictionary and a checkpoint every few rows (stream positions, and each
/// qualifier's value offset, or for blocks with many qualifiers a value offset per
/// cell); cells are decoded from the streams on demand (a point get from its row's
/// checkpoint, a scan in order). About 2-4 bytes per cell beyond the payload.
#[derive(Debug)]
pub(crate) struct FamilyBlock {
    data: Bytes,
    quals: Vec<Bytes>,
    /// Absolute offset of each qualifier's value run.
    qual_starts: Vec<u32>,
    /// Offset of the kind stream.
    kinds_at: u32,
    count: u32,
    first: u64,
    last: u64,
    /// Rows from one checkpoint to the next.
    ck_rows: u64,
    checkpoints: Vec<Checkpoint>,
    /// `quals.len()` offsets per checkpoint (empty when `val_off` is used).
    ck_offs: Vec<u32>,
    /// Per cell, its value's offset within its qualifier's run (only for blocks with more
    /// than `CHECKPOINT_QUALS` qualifiers).
    val_off: Vec<u32>,
    /// Per qualifier, where its values come from; empty when every value is stored (every
    /// v1 and v2 block, and v3 blocks without a derived qualifier).
    derived: Vec<Derivation>,
    /// The block's offset in its file, for error messages (0 until the file sets it).
    pub(super) file_offset: u64,
}

impl FamilyBlock {
    /// The qualifier of a cell of this block.
    #[inline]
    pub fn qualifier(&self, c: &CellMeta) -> Bytes {
        // `qual` was checked against the dictionary when decoding.
        self.quals.get(c.qual as usize).cloned().unwrap_or_default()
    }

    /// Whether some qualifier's values come from the row key (reading them needs the key).
    #[inline]
    pub fn has_derived(&self) -> bool {
        !self.derived.is_empty()
    }

    /// Whether the cell's value comes from the row key (then `value` needs the real key).
    #[inline]
    pub fn is_derived(&self, c: &CellMeta) -> bool {
        self.derived
            .get(c.qual as usize)
            .is_some_and(Derivation::is_derived)
    }

    /// For a cell whose value comes from the row key: the part of `key` it is, checked
    /// against the stored length (a marker's value is empty). `None` for a stored value.
    #[inline]
    fn derived_part<'k>(
        &self,
        c: &CellMeta,
        key: &'k [u8],
    ) -> Option<Result<&'k [u8], DerivedValueError>> {
        let d = self.derived.get(c.qual as usize)?;
        let part = match *d {
            Derivation::Stored => return None,
            _ if c.kind != CellKind::Put => Ok(&[][..]),
            Derivation::KeyField { sep, index } => d
                .apply(key)
                .ok_or(DerivedValueError::NoSuchField { sep, index }),
            Derivation::WholeKey => Ok(key),
        };
        Some(part.and_then(|p| {
            if p.len() == c.val_len as usize {
                Ok(p)
            } else {
                Err(DerivedValueError::LengthMismatch {
                    derived: p.len(),
                    stored: c.val_len,
                })
            }
        }))
    }

    /// The value of a cell of this block of row `key`: a slice of the block buffer, or of
    /// `key` for a value derived from it.
    #[inline]
    pub fn value(&self, c: &CellMeta, key: &Bytes) -> Result<Bytes, DerivedValueError> {
        if let Some(part) = self.derived_part(c, key) {
            return part.map(|p| key.slice_ref(p));
        }
        let start = c.val_off as usize;
        let end = start + c.val_len as usize;
        // Ranges were checked against the buffer when decoding.
        Ok(if end <= self.data.len() {
            self.data.slice(start..end)
        } else {
            Bytes::new()
        })
    }

    /// The qualifier of a cell of this block, borrowed.
    #[inline]
    pub fn qualifier_slice(&self, c: &CellMeta) -> &[u8] {
        self.quals.get(c.qual as usize).map_or(&[][..], |q| &q[..])
    }

    /// The value of a cell of this block of row `key`, borrowed (from the block, or from
    /// `key` for a value derived from it).
    #[inline]
    pub fn value_slice<'a>(
        &'a self,
        c: &CellMeta,
        key: &'a [u8],
    ) -> Result<&'a [u8], DerivedValueError> {
        if let Some(part) = self.derived_part(c, key) {
            return part;
        }
        let start = c.val_off as usize;
        // Ranges were checked against the buffer when decoding.
        Ok(self
            .data
            .get(start..start + c.val_len as usize)
            .unwrap_or_default())
    }

    /// Each qualifier of the dictionary and whether its values are derived from the key.
    #[cfg(test)]
    pub fn qualifier_derivations(&self) -> Vec<(Bytes, bool)> {
        self.quals
            .iter()
            .enumerate()
            .map(|(i, q)| {
                let derived = self.derived.get(i).is_some_and(Derivation::is_derived);
                (q.clone(), derived)
            })
            .collect()
    }

    /// Every cell, in order.
    #[cfg(test)]
    pub fn cells(&self) -> Vec<CellMeta> {
        let mut cur = self.cursor_at(0);
        std::iter::from_fn(|| cur.next_cell(self)).collect()
    }

    /// A cursor at checkpoint `k` (the block's end if there is none).
    #[inline]
    fn cursor_at(&self, k: usize) -> BlockCursor {
        let Some(c) = self.checkpoints.get(k) else {
            return BlockCursor {
                pos: StreamPos {
                    cell: self.count,
                    ..StreamPos::default()
                },
                ..BlockCursor::default()
            };
        };
        let mut cur = BlockCursor {
            pos: c.at,
            offs: [0; CHECKPOINT_QUALS],
        };
        let nq = self.quals.len();
        if self.val_off.is_empty()
            && let Some(src) = self.ck_offs.get(k * nq..(k + 1) * nq)
            && let Some(dst) = cur.offs.get_mut(..nq)
        {
            dst.copy_from_slice(src);
        }
        cur
    }

    /// A cursor at the last checkpoint at or before row `ordinal` (the first if none).
    #[inline]
    fn checkpoint_for(&self, ordinal: u64) -> BlockCursor {
        let cps = &self.checkpoints;
        // Rows are usually dense (every ordinal of the range present): try the direct slot.
        let guess = usize::try_from(ordinal.saturating_sub(self.first) / self.ck_rows)
            .unwrap_or(usize::MAX);
        let ok = |k: usize| {
            cps.get(k).is_some_and(|c| c.row_ord <= ordinal)
                && cps.get(k + 1).is_none_or(|c| c.row_ord > ordinal)
        };
        let k = if ok(guess) {
            guess
        } else {
            cps.partition_point(|c| c.row_ord <= ordinal)
                .saturating_sub(1)
        };
        self.cursor_at(k)
    }

    /// A cursor at the first cell with ordinal `>= ordinal` (the end if none).
    pub fn seek(&self, ordinal: u64) -> BlockCursor {
        let mut cur = self.checkpoint_for(ordinal);
        loop {
            let before = cur;
            match cur.skip_cell(self) {
                Some(o) if o < ordinal => {}
                _ => return before,
            }
        }
    }

    /// The cells of row `ordinal`, in order (none if the row has no cell here).
    #[inline]
    pub fn row(&self, ordinal: u64) -> BlockRow<'_> {
        let mut cur = if ordinal < self.first || ordinal > self.last {
            self.cursor_at(usize::MAX)
        } else {
            self.checkpoint_for(ordinal)
        };
        // Skip the earlier rows after the checkpoint.
        loop {
            let before = cur;
            match cur.skip_cell(self) {
                Some(o) if o < ordinal => {}
                _ => {
                    cur = before;
                    break;
                }
            }
        }
        let pending = cur.next_cell(self).filter(|c| c.ordinal == ordinal);
        BlockRow {
            block: self,
            cur,
            ordinal,
            pending,
        }
    }

    /// Heap bytes held (the block cache's charge, with the struct itself). Raw blocks'
    /// data are slices of the file mapping but are charged the same.
    pub fn heap_bytes(&self) -> usize {
        self.data.len()
            + self.quals.capacity() * std::mem::size_of::<Bytes>()
            + self.qual_starts.capacity() * std::mem::size_of::<u32>()
            + self.checkpoints.capacity() * std::mem::size_of::<Checkpoint>()
            + self.ck_offs.capacity() * std::mem::size_of::<u32>()
            + self.val_off.capacity() * std::mem::size_of::<u32>()
            + self.derived.capacity() * std::mem::size_of::<Derivation>()
    }
}

/// The cells of one row of a family block (see [`FamilyBlock::row`]).
pub(crate) struct BlockRow<'a> {
    block: &'a FamilyBlock,
    cur: BlockCursor,
    ordinal: u64,
    pending: Option<CellMeta>,
}

impl Iterator for BlockRow<'_> {
    type Item = CellMeta;

    #[inline]
    fn next(&mut self) -> Option<CellMeta> {
        let c = self.pending.take()?;
        self.pending = self
            .cur
            .next_cell(self.block)
            .filter(|n| n.ordinal == self.ordinal);
        Some(c)
    }
}

/// Decode a family block whose index entry says it covers `first..=last` row ordinals:
/// check every stream once (so later reads cannot go wrong) and record the checkpoints.
/// `derivations`: the block is of format v3 on (a derivation per qualifier follows the
/// qualifier dictionary).
pub(crate) fn decode_family_block(
    data: Bytes,
    first: u64,
    last: u64,
    derivations: bool,
) -> DecodeResult<FamilyBlock> {
    let buf: &[u8] = &data;
    if buf.len() > u32::MAX as usize {
        return Err(invalid(0, "family block larger than 4 GiB"));
    }
    let mut r = Reader::new(buf);
    let header_first = r.varint64()?;
    if header_first != first {
        return Err(invalid(0, "first ordinal differs from the block index"));
    }
    let count_pos = r.pos();
    let count = r.varint_usize()?;
    if count == 0 || count > r.remaining() {
        return Err(invalid(count_pos, "cell count out of range"));
    }
    let nq_pos = r.pos();
    let nq = r.varint_usize()?;
    if nq > r.remaining() || nq > count {
        return Err(invalid(nq_pos, "qualifier count out of range"));
    }
    let mut quals = Vec::with_capacity(nq);
    for _ in 0..nq {
        let q = r.len_prefixed()?;
        let end = r.pos();
        quals.push(data.slice(end - q.len()..end));
    }
    let mut derived = Vec::new();
    if derivations {
        derived.reserve(nq);
        for _ in 0..nq {
            derived.push(Derivation::decode(&mut r)?);
        }
        if !derived.iter().any(Derivation::is_derived) {
            derived = Vec::new();
        }
    }
    let mut lens = [0usize; 5];
    for l in &mut lens {
        *l = r.varint_usize()?;
    }
    let [ord_len, qidx_len, ts_len, seq_len, vlen_len] = lens;
    // The payload is at most 4 GiB (checked above), so every position fits in u32.
    let ord_at = r.pos();
    let ord_s = r.bytes(ord_len)?;
    let kinds_at = r.pos();
    let kinds = r.bytes(count)?;
    let qidx_at = r.pos();
    let qidx_s = r.bytes(qidx_len)?;
    let ts_at = r.pos();
    let ts_s = r.bytes(ts_len)?;
    let seq_at = r.pos();
    let seq_s = r.bytes(seq_len)?;
    let vlen_at = r.pos();
    let vlen_s = r.bytes(vlen_len)?;
    let values_start = r.pos();
    let values_len = r.remaining() as u64;
    if let Some(i) = kinds.iter().position(|&k| CellKind::from_u8(k).is_none()) {
        return Err(invalid(kinds_at + i, "unknown cell kind"));
    }

    // Rows per checkpoint, from the cells per row of the ordinal range (rows <= span).
    let span = last.saturating_sub(first).saturating_add(1);
    let ck_rows =
        (CHECKPOINT_CELLS.saturating_mul(span) / count as u64).clamp(1, CHECKPOINT_MAX_ROWS);
    let per_cell = nq > CHECKPOINT_QUALS;
    let mut val_off: Vec<u32> = Vec::with_capacity(if per_cell { count } else { 0 });
    let mut checkpoints: Vec<Checkpoint> = Vec::with_capacity(
        usize::try_from(span.div_ceil(ck_rows))
            .unwrap_or(0)
            .min(count),
    );
    let mut ck_offs: Vec<u32> = Vec::new();
    let mut per_qual_total = vec![0u64; nq];
    let (mut ord, mut ts, mut seq) = (first, 0i64, 0u64);
    let (mut op, mut qp, mut tp, mut sp, mut vp) = (0usize, 0usize, 0usize, 0usize, 0usize);
    let mut rows = 0u64;
    for i in 0..count {
        let stream_err = |at: usize| invalid(at, "bad varint or stream shorter than its cells");
        let at_ord = op;
        let delta = take_varint(ord_s, &mut op).ok_or(stream_err(ord_at + at_ord))?;
        if i == 0 || delta != 0 {
            let prev = ord;
            ord = ord
                .checked_add(delta)
                .ok_or(invalid(ord_at + at_ord, "ordinal overflow"))?;
            if ord > last {
                return Err(invalid(
                    ord_at + at_ord,
                    "cell ordinal beyond the block's range",
                ));
            }
            if rows.is_multiple_of(ck_rows) {
                checkpoints.push(Checkpoint {
                    row_ord: ord,
                    at: StreamPos {
                        cell: i as u32,
                        ord_pos: (ord_at + at_ord) as u32,
                        qidx_pos: (qidx_at + qp) as u32,
                        ts_pos: (ts_at + tp) as u32,
                        seq_pos: (seq_at + sp) as u32,
                        vlen_pos: (vlen_at + vp) as u32,
                        ord: prev,
                        ts,
                        seq,
                    },
                });
                if !per_cell {
                    // Each total is at most the value area's length, which fits in u32.
                    ck_offs.extend(per_qual_total.iter().map(|&t| t as u32));
                }
            }
            rows += 1;
        }
        let q = take_varint(qidx_s, &mut qp).ok_or(stream_err(qidx_at + qp))?;
        let q = usize::try_from(q).unwrap_or(usize::MAX);
        let total = per_qual_total
            .get_mut(q)
            .ok_or(invalid(qidx_at + qp, "qualifier index out of range"))?;
        let is_derived = derived.get(q).is_some_and(Derivation::is_derived);
        ts = ts.wrapping_add(zigzag_decode(
            take_varint(ts_s, &mut tp).ok_or(stream_err(ts_at + tp))?,
        ));
        seq = seq.wrapping_add(zigzag_decode(
            take_varint(seq_s, &mut sp).ok_or(stream_err(seq_at + sp))?,
        ) as u64);
        let vlen_pos = vlen_at + vp;
        let vlen = take_varint(vlen_s, &mut vp).ok_or(stream_err(vlen_pos))?;
        if per_cell {
            val_off.push(*total as u32);
        }
        // Derived qualifiers keep running totals too (unused, but the cursors' offsets then
        // agree however they reach a cell).
        *total = total.saturating_add(vlen);
        if is_derived {
            // Not in the value area: a key's part, as long as the stored length says (a
            // marker's value is empty).
            let put = kinds.get(i) == Some(&(CellKind::Put as u8));
            if !put && vlen != 0 {
                return Err(invalid(
                    vlen_pos,
                    "marker of a qualifier derived from the key has a value length",
                ));
            }
            if vlen > u64::from(u32::MAX) {
                return Err(invalid(vlen_pos, "derived value length out of range"));
            }
            continue;
        }
        if *total > values_len {
            return Err(invalid(vlen_pos, "value lengths exceed the value area"));
        }
    }
    if ord != last {
        return Err(invalid(ord_at, "last cell ordinal differs from the index"));
    }
    if op != ord_s.len()
        || qp != qidx_s.len()
        || tp != ts_s.len()
        || sp != seq_s.len()
        || vp != vlen_s.len()
    {
        return Err(invalid(ord_at, "stream longer than its cells"));
    }
    // Column-major values: qualifier q's run starts after the runs of 0..q.
    let mut qual_starts = Vec::with_capacity(nq);
    let mut acc = values_start as u64;
    for (q, t) in per_qual_total.iter().enumerate() {
        qual_starts.push(acc as u32);
        if !derived.get(q).is_some_and(Derivation::is_derived) {
            acc += t;
        }
    }
    if acc != buf.len() as u64 {
        return Err(invalid(
            values_start,
            "value lengths do not fill the value area",
        ));
    }
    checkpoints.shrink_to_fit();
    ck_offs.shrink_to_fit();
    Ok(FamilyBlock {
        data,
        quals,
        qual_starts,
        kinds_at: kinds_at as u32,
        count: count as u32,
        first,
        last,
        ck_rows,
        checkpoints,
        ck_offs,
        val_off,
        derived,
        file_offset: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sstable::family_block_builder::FamilyBlockBuilder;
    use proptest::prelude::*;

    type Cell = (u64, CellKind, Vec<u8>, i64, u64, Vec<u8>);

    fn kind_strategy() -> impl Strategy<Value = CellKind> {
        prop_oneof![
            Just(CellKind::Put),
            Just(CellKind::DeleteCell),
            Just(CellKind::DeleteColumn),
            Just(CellKind::DeleteFamily),
        ]
    }

    fn cells_strategy() -> impl Strategy<Value = Vec<Cell>> {
        proptest::collection::vec(
            (
                0u64..4,
                kind_strategy(),
                proptest::collection::vec(0u8..4, 0..3),
                any::<i64>(),
                any::<u64>(),
                proptest::collection::vec(any::<u8>(), 0..20),
            ),
            1..60,
        )
        .prop_map(|mut v| {
            // Turn ordinal steps into non-decreasing ordinals starting at 7.
            let mut ord = 7;
            for c in &mut v {
                ord += c.0;
                c.0 = ord;
            }
            v
        })
    }

    /// The row key of ordinal `ord` in the tests with values derived from keys: a
    /// composite key with fields of varying length.
    fn key_of(ord: u64) -> Bytes {
        Bytes::from(format!(
            "s{}#{}#e{}",
            ord % 3,
            "t".repeat(ord as usize % 4),
            ord * 7
        ))
    }

    fn encode_with(cells: &[Cell], derive: bool) -> Vec<u8> {
        let mut b = FamilyBlockBuilder::new(derive);
        for (o, k, q, ts, seq, v) in cells {
            b.add(*o, &key_of(*o), *k, q, *ts, *seq, v);
        }
        let mut out = Vec::new();
        b.finish_into(&mut out);
        assert!(b.is_empty());
        out
    }

    fn encode(cells: &[Cell]) -> Vec<u8> {
        encode_with(cells, false)
    }

    /// Every cell of a block, values read with the keys of `key_of`.
    fn read_all(blk: &FamilyBlock) -> Result<Vec<Cell>, DerivedValueError> {
        blk.cells()
            .iter()
            .map(|c| {
                let key = key_of(c.ordinal);
                let v = blk.value(c, &key)?;
                assert_eq!(blk.value_slice(c, &key)?, &v[..]);
                Ok((
                    c.ordinal,
                    c.kind,
                    blk.qualifier(c).to_vec(),
                    c.ts,
                    c.seq,
                    v.to_vec(),
                ))
            })
            .collect()
    }

    fn decode_with(cells: &[Cell], out: Vec<u8>, derive: bool) -> DecodeResult<FamilyBlock> {
        let first = cells.first().map_or(0, |c| c.0);
        let last = cells.last().map_or(0, |c| c.0);
        decode_family_block(Bytes::from(out), first, last, derive)
    }

    fn decode(cells: &[Cell], out: Vec<u8>) -> DecodeResult<Vec<Cell>> {
        let blk = decode_with(cells, out, false)?;
        Ok(read_all(&blk).expect("no derived values"))
    }

    /// Like `cells_strategy`, but each put's value is mostly the part of its row key
    /// (`key_of`) that its qualifier stands for (by the qualifier's length: field 0, 1 or 2
    /// at `#`, or the whole key), sometimes its random value instead; markers mostly have
    /// empty values.
    fn derived_cells_strategy() -> impl Strategy<Value = Vec<Cell>> {
        (cells_strategy(), proptest::collection::vec(0u8..16, 60)).prop_map(|(mut v, choice)| {
            for (c, pick) in v.iter_mut().zip(choice) {
                let key = key_of(c.0);
                let d = match (c.2.len(), c.2.first()) {
                    (2, Some(0)) => Derivation::WholeKey,
                    (n, _) => Derivation::KeyField {
                        sep: b'#',
                        index: n as u32,
                    },
                };
                let part = d.apply(&key).unwrap_or_default().to_vec();
                if c.1 == CellKind::Put {
                    if pick != 0 {
                        c.5 = part;
                    }
                } else if pick != 0 {
                    c.5.clear();
                }
            }
            v
        })
    }

    proptest! {
        #[test]
        fn family_block_round_trips(cells in cells_strategy()) {
            let out = encode(&cells);
            prop_assert_eq!(decode(&cells, out.clone()).unwrap(), cells.clone());
            // Each row's cells are found by ordinal, including rows absent from the block.
            let (first, last) = (cells[0].0, cells[cells.len() - 1].0);
            let blk = decode_family_block(Bytes::from(out), first, last, false).unwrap();
            for ord in first.saturating_sub(1)..=last + 1 {
                let want: Vec<usize> = (0..cells.len()).filter(|&i| cells[i].0 == ord).collect();
                let all = blk.cells();
                let got: Vec<CellMeta> = blk.row(ord).collect();
                prop_assert_eq!(got, want.iter().map(|&i| all[i]).collect::<Vec<_>>());
                let at = blk.seek(ord);
                prop_assert_eq!(at.cell_index(), cells.iter().filter(|c| c.0 < ord).count());
                let mut cur = at;
                prop_assert_eq!(cur.next_cell(&blk), all.get(at.cell_index()).copied());
            }
        }


        #[test]
        fn damaged_family_blocks_never_panic(cells in cells_strategy(), at in any::<usize>(), x in 1u8..) {
            let mut out = encode(&cells);
            let i = at % out.len();
            out[i] ^= x;
            let _ = decode(&cells, out.clone());
            out.truncate(i);
            prop_assert!(decode(&cells, out).is_err());
        }

        /// Blocks whose values are mostly parts of their row keys (a few not, so their
        /// qualifier is stored for the block) read back the same, row by row too.
        #[test]
        fn blocks_with_values_from_keys_round_trip(cells in derived_cells_strategy()) {
            let out = encode_with(&cells, true);
            let blk = decode_with(&cells, out.clone(), true).unwrap();
            prop_assert_eq!(read_all(&blk).unwrap(), cells.clone());
            let all = blk.cells();
            let (first, last) = (cells[0].0, cells[cells.len() - 1].0);
            for ord in first..=last {
                let want: Vec<CellMeta> = all.iter().filter(|c| c.ordinal == ord).copied().collect();
                prop_assert_eq!(blk.row(ord).collect::<Vec<_>>(), want);
            }
            // Never larger than the block with every value stored, but for the derivations.
            let stored = encode_with(&cells, false);
            prop_assert!(out.len() <= stored.len() + 6 * blk.quals.len());
        }

        #[test]
        fn damaged_blocks_with_values_from_keys_never_panic(
            cells in derived_cells_strategy(), at in any::<usize>(), x in 1u8..,
        ) {
            let mut out = encode_with(&cells, true);
            let i = at % out.len();
            out[i] ^= x;
            if let Ok(blk) = decode_with(&cells, out.clone(), true) {
                let _ = read_all(&blk);
                // A key without the fields, and one with other fields, never panic either.
                for c in blk.cells() {
                    let _ = blk.value(&c, &Bytes::from_static(b"x"));
                    let _ = blk.value_slice(&c, b"##############");
                }
            }
            out.truncate(i);
            prop_assert!(decode_with(&cells, out, true).is_err());
        }

    }

    /// Many rows (several checkpoints), gaps in the ordinals, and a block with more
    /// qualifiers than checkpoints carry (value offsets per cell): every row and every
    /// seek matches the cells in order.
    #[test]
    fn rows_and_seeks_across_checkpoints() {
        for nq in [3usize, CHECKPOINT_QUALS + 5] {
            let mut cells: Vec<Cell> = Vec::new();
            for r in 0..700u64 {
                if r % 7 == 3 {
                    continue; // absent rows
                }
                for k in 0..(1 + r % 3) {
                    let q = format!("q{:02}", (r + k) as usize % nq).into_bytes();
                    let v = vec![b'a' + (r % 26) as u8; (r % 40) as usize];
                    cells.push((100 + r, CellKind::Put, q, r as i64 * 3 - 50, r, v));
                }
            }
            // Internal order within a row: qualifiers ascending.
            cells.sort_by(|a, b| (a.0, &a.2).cmp(&(b.0, &b.2)));
            cells.dedup_by(|a, b| a.0 == b.0 && a.2 == b.2);
            let out = encode(&cells);
            assert_eq!(decode(&cells, out.clone()).unwrap(), cells);
            let (first, last) = (cells[0].0, cells[cells.len() - 1].0);
            let blk = decode_family_block(Bytes::from(out), first, last, false).unwrap();
            assert_eq!(blk.val_off.is_empty(), nq <= CHECKPOINT_QUALS);
            assert!(blk.checkpoints.len() > 4, "{}", blk.checkpoints.len());
            let all = blk.cells();
            for ord in first - 2..=last + 2 {
                let want: Vec<CellMeta> =
                    all.iter().filter(|c| c.ordinal == ord).copied().collect();
                assert_eq!(blk.row(ord).collect::<Vec<_>>(), want, "row {ord}");
                let at = blk.seek(ord);
                assert_eq!(
                    at.cell_index(),
                    all.iter().filter(|c| c.ordinal < ord).count()
                );
            }
        }
    }

    #[test]
    fn values_are_column_major() {
        let cells: Vec<Cell> = vec![
            (0, CellKind::Put, b"a".to_vec(), 5, 1, b"A0".to_vec()),
            (0, CellKind::Put, b"b".to_vec(), 5, 1, b"B0".to_vec()),
            (1, CellKind::Put, b"a".to_vec(), 5, 1, b"A1".to_vec()),
            (1, CellKind::Put, b"b".to_vec(), 5, 1, b"B1".to_vec()),
        ];
        let out = encode(&cells);
        assert!(out.ends_with(b"A0A1B0B1"), "{out:?}");
        assert_eq!(decode(&cells, out).unwrap(), cells);
    }

    fn field(ord: u64, i: u32) -> Vec<u8> {
        Derivation::KeyField {
            sep: b'#',
            index: i,
        }
        .apply(&key_of(ord))
        .unwrap()
        .to_vec()
    }

    /// Qualifiers derived from the key (two fields and the whole key), one field that does
    /// not match in one row (stored), one always empty (stored), markers with empty values
    /// in a derived qualifier: the derived values leave the value area, everything reads
    /// back.
    #[test]
    fn derived_partially_derived_empty_and_marker_cells() {
        let mut cells: Vec<Cell> = Vec::new();
        let mut derived_bytes = 0;
        for o in 10..40u64 {
            let mut put = |q: &str, v: Vec<u8>| {
                cells.push((o, CellKind::Put, q.as_bytes().to_vec(), 5, o, v));
            };
            let time = if o == 25 {
                b"other".to_vec()
            } else {
                field(o, 1)
            };
            derived_bytes += field(o, 0).len() + field(o, 2).len() + key_of(o).len();
            put("eid", field(o, 2));
            put("empty", Vec::new());
            put("sid", field(o, 0));
            put("time", time);
            put("whole", key_of(o).to_vec());
            if o % 5 == 0 {
                cells.push((o, CellKind::DeleteColumn, b"eid".to_vec(), 4, o, vec![]));
                cells.push((o, CellKind::DeleteCell, b"sid".to_vec(), 3, o, vec![]));
            }
        }
        let v3 = encode_with(&cells, true);
        let blk = decode_with(&cells, v3.clone(), true).unwrap();
        let f = |i| Derivation::KeyField {
            sep: b'#',
            index: i,
        };
        assert_eq!(
            blk.derived,
            [
                f(2),
                Derivation::Stored,
                f(0),
                Derivation::Stored,
                Derivation::WholeKey
            ]
        );
        assert_eq!(read_all(&blk).unwrap(), cells);
        // The derived values are not in the block; the derivations are (3 + 1 + 3 + 1 + 1).
        let v2 = encode_with(&cells, false);
        assert_eq!(v3.len() + derived_bytes, v2.len() + 9);
        // Without a derived qualifier a v3 block is a v2 block plus one byte a qualifier.
        let plain: Vec<Cell> = cells.iter().filter(|c| c.2 == b"time").cloned().collect();
        let (a, b) = (encode_with(&plain, true), encode_with(&plain, false));
        assert_eq!(a.len(), b.len() + 1);
        assert!(decode_with(&plain, a, true).unwrap().derived.is_empty());
        // A put that does not match, first in its block: stored from the start.
        let mut late = cells.clone();
        late[2].5 = b"nope".to_vec();
        let blk = decode_with(&late, encode_with(&late, true), true).unwrap();
        assert_eq!(blk.derived[2], Derivation::Stored);
        assert_eq!(read_all(&blk).unwrap(), late);
        // A marker with a value (the builder accepts what it is given): stored.
        let mut marked = cells.clone();
        let i = marked
            .iter()
            .position(|c| c.1 == CellKind::DeleteColumn)
            .unwrap();
        marked[i].5 = b"x".to_vec();
        let blk = decode_with(&marked, encode_with(&marked, true), true).unwrap();
        assert_eq!(blk.derived[0], Derivation::Stored);
        assert_eq!(read_all(&blk).unwrap(), marked);
    }

    /// A derived value the key does not reproduce (a key without the field, a field of
    /// another length than the stored one) is an error naming the problem; damaged
    /// derivations in the block are decode errors.
    #[test]
    fn corrupt_derivations_are_errors() {
        let cells: Vec<Cell> = vec![
            (0, CellKind::Put, b"q".to_vec(), 5, 1, field(0, 2)),
            (1, CellKind::Put, b"q".to_vec(), 5, 1, field(1, 2)),
            (2, CellKind::DeleteColumn, b"q".to_vec(), 5, 1, vec![]),
        ];
        let out = encode_with(&cells, true);
        let blk = decode_with(&cells, out.clone(), true).unwrap();
        let c = blk.cells();
        assert_eq!(
            blk.value(&c[0], &Bytes::from_static(b"s0#tt")),
            Err(DerivedValueError::NoSuchField {
                sep: b'#',
                index: 2
            })
        );
        assert_eq!(
            blk.value_slice(&c[1], b"s1##e7777"),
            Err(DerivedValueError::LengthMismatch {
                derived: 5,
                stored: 2
            })
        );
        let e = DerivedValueError::NoSuchField {
            sep: b'#',
            index: 2,
        }
        .to_string();
        assert!(e.contains("no field 2 at separator byte 0x23"), "{e}");
        // A marker's value is empty whatever the key.
        assert_eq!(blk.value(&c[2], &Bytes::from_static(b"")), Ok(Bytes::new()));
        // The derivation follows the one-qualifier dictionary: first ordinal, count,
        // qualifier count, qualifier length and byte.
        let at = 5;
        assert_eq!(
            out[at..at + 3],
            [crate::sstable::derive::TAG_KEY_FIELD, b'#', 2]
        );
        let mut bad = out.clone();
        bad[at] = 7;
        let e = decode_with(&cells, bad, true).unwrap_err();
        assert_eq!(e.what, "unknown value derivation");
        // A field index beyond every key: each put's read fails, naming it.
        let mut far = out.clone();
        far[at + 2] = 9;
        let blk = decode_with(&cells, far, true).unwrap();
        let c = blk.cells();
        assert_eq!(
            blk.value(&c[0], &key_of(0)),
            Err(DerivedValueError::NoSuchField {
                sep: b'#',
                index: 9
            })
        );
        // The marker's value length (the last byte: derived values leave no value area)
        // set to 1.
        let mut marker = out.clone();
        *marker.last_mut().unwrap() = 1;
        let e = decode_with(&cells, marker, true).unwrap_err();
        assert_eq!(
            e.what,
            "marker of a qualifier derived from the key has a value length"
        );
        // Read as a v2 block, the v3 bytes do not decode.
        assert!(decode_with(&cells, out, false).is_err());
    }
}
