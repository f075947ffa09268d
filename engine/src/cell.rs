//! The internal cell: one versioned entry of a row, and the order every sorted structure uses.
//!
//! Order (shared by the memtable, SSTables, the merge and the bulk loader):
//! row bytes ascending, family name ascending, family-delete markers before column entries,
//! qualifier bytes ascending, timestamp descending, sequence number descending.
//! This file owns that order; nothing else may define its own.

use std::cmp::Ordering;
use std::sync::Arc;

use bytes::Bytes;

/// Microseconds since the Unix epoch.
pub type Timestamp = i64;
/// Write order. Larger is newer. Every acknowledged op has a unique one (ingested files share
/// one per file).
pub type SeqNo = u64;

/// Microseconds since the Unix epoch, now (0 if the clock is before 1970).
pub fn now_micros() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Timestamp given to markers that cover every version (column and family deletes), so they
/// sort before every version of what they cover.
pub const MARKER_TS: Timestamp = i64::MAX;

/// What an entry is. The numeric values are part of the on-disk formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum CellKind {
    /// A value.
    Put = 0,
    /// Deletes exactly one version (same timestamp) written before it.
    DeleteCell = 1,
    /// Deletes every version of one column written before it. Timestamp is [`MARKER_TS`].
    DeleteColumn = 2,
    /// Deletes every column of one family of the row written before it. Qualifier is empty,
    /// timestamp is [`MARKER_TS`].
    DeleteFamily = 3,
    /// Deletes every version of one column with a timestamp at or before its own (HBase's
    /// `Delete.addColumns(family, qualifier, ts)`) written before it. Format v2 on.
    DeleteColumnUpTo = 4,
    /// Deletes every version of every column of one family of the row with a timestamp at
    /// or before its own (HBase's `Delete.addFamily(family, ts)`) written before it.
    /// Qualifier is empty. Format v2 on.
    DeleteFamilyUpTo = 5,
}

impl CellKind {
    /// The largest kind byte format v1 (WAL payload and SSTable) may hold.
    pub const LAST_V1: u8 = CellKind::DeleteFamily as u8;

    /// Decode the on-disk byte.
    pub fn from_u8(b: u8) -> Option<CellKind> {
        match b {
            0 => Some(CellKind::Put),
            1 => Some(CellKind::DeleteCell),
            2 => Some(CellKind::DeleteColumn),
            3 => Some(CellKind::DeleteFamily),
            4 => Some(CellKind::DeleteColumnUpTo),
            5 => Some(CellKind::DeleteFamilyUpTo),
            _ => None,
        }
    }

    /// 0 for family markers (they sort first in a family), 1 for everything else.
    #[inline]
    pub fn rank(self) -> u8 {
        if self.is_family_marker() { 0 } else { 1 }
    }

    /// Whether this kind is a family-level marker (empty qualifier, sorts first).
    #[inline]
    pub fn is_family_marker(self) -> bool {
        matches!(self, CellKind::DeleteFamily | CellKind::DeleteFamilyUpTo)
    }

    /// Whether this is a marker whose timestamp is a bound over the versions it covers (not
    /// the timestamp of one version): the column and family deletes.
    #[inline]
    pub fn is_range_marker(self) -> bool {
        matches!(
            self,
            CellKind::DeleteColumn
                | CellKind::DeleteFamily
                | CellKind::DeleteColumnUpTo
                | CellKind::DeleteFamilyUpTo
        )
    }
}

/// An owned internal cell. `Bytes` fields let SSTable readers hand out slices of decoded
/// blocks without copying.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InternalCell {
    /// Row key.
    pub row: Bytes,
    /// Column family name.
    pub family: Arc<str>,
    /// Entry kind.
    pub kind: CellKind,
    /// Column qualifier (empty for family markers).
    pub qualifier: Bytes,
    /// Version timestamp in microseconds.
    pub ts: Timestamp,
    /// Write order.
    pub seq: SeqNo,
    /// Value (empty for deletes).
    pub value: Bytes,
}

/// A borrowed view of a cell, used by writers (`TableBuilder::add`) to avoid copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CellRef<'a> {
    /// Row key.
    pub row: &'a [u8],
    /// Column family name.
    pub family: &'a str,
    /// Entry kind.
    pub kind: CellKind,
    /// Column qualifier.
    pub qualifier: &'a [u8],
    /// Timestamp.
    pub ts: Timestamp,
    /// Write order.
    pub seq: SeqNo,
    /// Value.
    pub value: &'a [u8],
}

impl InternalCell {
    /// Borrow as a [`CellRef`].
    pub fn as_ref(&self) -> CellRef<'_> {
        CellRef {
            row: &self.row,
            family: &self.family,
            kind: self.kind,
            qualifier: &self.qualifier,
            ts: self.ts,
            seq: self.seq,
            value: &self.value,
        }
    }
}

/// Compare two cells' positions in the one internal order (see module docs).
#[inline]
pub fn compare_cells(a: &CellRef<'_>, b: &CellRef<'_>) -> Ordering {
    // The cells of one row mutation share one row buffer: equal without a memcmp.
    let same_row = std::ptr::eq(a.row, b.row);
    (if same_row {
        Ordering::Equal
    } else {
        a.row.cmp(b.row)
    })
    .then_with(|| compare_within_row(a, b))
}

/// The order of two cells of the same row.
#[inline]
pub fn compare_within_row(a: &CellRef<'_>, b: &CellRef<'_>) -> Ordering {
    // Cells of one family usually share one allocation of its name: equal without a memcmp.
    let same_family = std::ptr::eq(a.family, b.family);
    (if same_family {
        Ordering::Equal
    } else {
        a.family.as_bytes().cmp(b.family.as_bytes())
    })
    .then_with(|| {
        compare_within_family(
            (a.kind, a.qualifier, a.ts, a.seq),
            (b.kind, b.qualifier, b.ts, b.seq),
        )
    })
}

/// The order of two cells of the same row and family, as (kind, qualifier, timestamp,
/// seq): the tail of [`compare_within_row`], for callers holding borrowed cell views (the
/// row merge of overlapping files, `scan/row_merge.rs`).
#[inline]
pub fn compare_within_family(
    a: (CellKind, &[u8], Timestamp, SeqNo),
    b: (CellKind, &[u8], Timestamp, SeqNo),
) -> Ordering {
    a.0.rank()
        .cmp(&b.0.rank())
        .then_with(|| a.1.cmp(b.1))
        .then_with(|| b.2.cmp(&a.2))
        .then_with(|| b.3.cmp(&a.3))
        .then_with(|| a.0.cmp(&b.0))
}

impl PartialOrd for InternalCell {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for InternalCell {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_cells(&self.as_ref(), &other.as_ref())
    }
}

/// An entry of row `r` for unit tests: `(kind, family, qualifier, ts, seq, value)`.
#[cfg(test)]
pub(crate) fn test_entry(
    kind: CellKind,
    family: &str,
    qualifier: &str,
    ts: Timestamp,
    seq: SeqNo,
    value: &str,
) -> InternalCell {
    InternalCell {
        row: Bytes::from_static(b"r"),
        family: Arc::from(family),
        kind,
        qualifier: Bytes::copy_from_slice(qualifier.as_bytes()),
        ts,
        seq,
        value: Bytes::copy_from_slice(value.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(row: &str, fam: &str, kind: CellKind, q: &str, ts: i64, seq: u64) -> InternalCell {
        InternalCell {
            row: Bytes::copy_from_slice(row.as_bytes()),
            family: Arc::from(fam),
            kind,
            qualifier: Bytes::copy_from_slice(q.as_bytes()),
            ts,
            seq,
            value: Bytes::new(),
        }
    }

    #[test]
    fn order_matches_the_documented_rules() {
        let mut v = [
            c("b", "a", CellKind::Put, "x", 1, 1),
            c("a", "b", CellKind::Put, "", 5, 1),
            c("a", "b", CellKind::DeleteFamily, "", MARKER_TS, 3),
            c("a", "a", CellKind::Put, "y", 1, 9),
            c("a", "a", CellKind::Put, "x", 1, 2),
            c("a", "a", CellKind::Put, "x", 7, 1),
            c("a", "a", CellKind::DeleteColumn, "x", MARKER_TS, 4),
            c("a", "a", CellKind::DeleteCell, "x", 1, 5),
        ];
        v.sort();
        let got: Vec<(String, String, u64)> = v
            .iter()
            .map(|c| {
                (
                    String::from_utf8_lossy(&c.row).into_owned(),
                    c.family.to_string(),
                    c.seq,
                )
            })
            .collect();
        let want = [
            ("a", "a", 4),
            ("a", "a", 1),
            ("a", "a", 5),
            ("a", "a", 2),
            ("a", "a", 9),
            ("a", "b", 3),
            ("a", "b", 1),
            ("b", "a", 1),
        ];
        let want: Vec<(String, String, u64)> = want
            .iter()
            .map(|(r, f, s)| (r.to_string(), f.to_string(), *s))
            .collect();
        assert_eq!(got, want);
    }
}
