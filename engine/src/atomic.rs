//! What the atomic read-modify-write operations mean, apart from how they are made atomic
//! (that is `db/read_modify_write.rs`): the requests ([`CheckAndMutate`], [`ColumnDelta`],
//! [`ColumnAppend`]), CheckAndMutate's comparison in HBase's argument order, counter cells
//! (8-byte big-endian `i64`) and the timestamp a computed value is written at.
//!
//! This module must never read or write the store, nor take a lock.

use bytes::Bytes;

use crate::cell::{MARKER_TS, Timestamp};
use crate::mutation::Mutation;

/// How CheckAndMutate compares, in HBase's order: the **given** value on the left, the
/// stored cell on the right. `Less` passes when the given value sorts before the stored one
/// (the stored value is greater), as HBase's `checkAndMutate(..., LESS, value, ...)` does.
/// Bytes compare lexicographically, unsigned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CompareOp {
    /// given == stored
    #[default]
    Equal,
    /// given != stored
    NotEqual,
    /// given < stored
    Less,
    /// given <= stored
    LessOrEqual,
    /// given > stored
    Greater,
    /// given >= stored
    GreaterOrEqual,
}

impl CompareOp {
    /// Whether `given op stored` holds.
    pub fn holds(self, given: &[u8], stored: &[u8]) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        let ord = given.cmp(stored);
        match self {
            CompareOp::Equal => ord == Equal,
            CompareOp::NotEqual => ord != Equal,
            CompareOp::Less => ord == Less,
            CompareOp::LessOrEqual => ord != Greater,
            CompareOp::Greater => ord == Greater,
            CompareOp::GreaterOrEqual => ord != Less,
        }
    }

    /// Whether the check passes against the checked cell's latest visible value (`None`:
    /// the cell does not exist).
    ///
    /// - No given value: passes when the cell does not exist (`NotEqual`: when it exists).
    /// - A given value and no cell: fails, except that an empty given value compares with
    ///   the missing cell as with an empty one (HBase treats an empty expected value as
    ///   "no value").
    /// - Both: `given op stored`.
    pub fn passes(self, given: Option<&[u8]>, stored: Option<&[u8]>) -> bool {
        match (given, stored) {
            (None, stored) => (self == CompareOp::NotEqual) == stored.is_some(),
            (Some(given), None) => given.is_empty() && self.holds(given, b""),
            (Some(given), Some(stored)) => self.holds(given, stored),
        }
    }
}

/// A CheckAndMutate: when the check of one cell passes, apply `mutations` to the row.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CheckAndMutate {
    /// The row checked and mutated.
    pub row: Bytes,
    /// The checked cell's family...
    pub family: String,
    /// ...and qualifier.
    pub qualifier: Bytes,
    /// The comparison (see [`CompareOp`]).
    pub op: CompareOp,
    /// The given value; `None`: the check is for the cell's absence (see
    /// [`CompareOp::passes`]).
    pub value: Option<Bytes>,
    /// Applied atomically, in order, when the check passes.
    pub mutations: Vec<Mutation>,
}

/// A delta to one counter cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnDelta {
    /// Family.
    pub family: String,
    /// Qualifier.
    pub qualifier: Bytes,
    /// Added to the counter (a missing cell counts as 0).
    pub delta: i64,
}

/// Bytes appended to one cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnAppend {
    /// Family.
    pub family: String,
    /// Qualifier.
    pub qualifier: Bytes,
    /// Appended to the cell's latest value (a missing cell starts empty).
    pub value: Bytes,
}

/// A counter cell's value: `Err(len)` when the value is not 8 bytes.
pub(crate) fn counter(value: &[u8]) -> Result<i64, usize> {
    <[u8; 8]>::try_from(value)
        .map(i64::from_be_bytes)
        .map_err(|_| value.len())
}

/// The timestamp a computed value is written at: now, or just after the version it was
/// computed from when that one is newer (a clock step back, or a version written with a
/// future timestamp), so the computed value is always the newest version (as HBase does).
/// Never the marker timestamp.
pub(crate) fn next_timestamp(now: Timestamp, latest: Option<Timestamp>) -> Timestamp {
    latest
        .map_or(now, |t| now.max(t.saturating_add(1)))
        .min(MARKER_TS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_put_the_given_value_on_the_left() {
        // Stored "b": LESS passes for a given "a" (a < b), as HBase does.
        assert!(CompareOp::Less.passes(Some(b"a"), Some(b"b")));
        assert!(!CompareOp::Less.passes(Some(b"c"), Some(b"b")));
        assert!(!CompareOp::Less.passes(Some(b"b"), Some(b"b")));
        assert!(CompareOp::LessOrEqual.passes(Some(b"b"), Some(b"b")));
        assert!(CompareOp::Greater.passes(Some(b"c"), Some(b"b")));
        assert!(!CompareOp::Greater.passes(Some(b"a"), Some(b"b")));
        assert!(CompareOp::GreaterOrEqual.passes(Some(b"b"), Some(b"b")));
        assert!(!CompareOp::GreaterOrEqual.passes(Some(b"a"), Some(b"b")));
        assert!(CompareOp::Equal.passes(Some(b"b"), Some(b"b")));
        assert!(CompareOp::NotEqual.passes(Some(b"a"), Some(b"b")));
        // Unsigned bytes: 0xff sorts after 0x01.
        assert!(CompareOp::Less.passes(Some(&[0x01]), Some(&[0xff])));
    }

    #[test]
    fn an_absent_value_checks_for_a_missing_cell() {
        assert!(CompareOp::Equal.passes(None, None));
        assert!(!CompareOp::Equal.passes(None, Some(b"x")));
        assert!(CompareOp::NotEqual.passes(None, Some(b"x")));
        assert!(!CompareOp::NotEqual.passes(None, None));
        // A given value never matches a missing cell, but an empty one equals it.
        assert!(!CompareOp::NotEqual.passes(Some(b"x"), None));
        assert!(!CompareOp::Equal.passes(Some(b"x"), None));
        assert!(CompareOp::Equal.passes(Some(b""), None));
    }

    #[test]
    fn counters_are_eight_bytes_big_endian() {
        assert_eq!(counter(&42i64.to_be_bytes()), Ok(42));
        assert_eq!(counter(&(-1i64).to_be_bytes()), Ok(-1));
        assert_eq!(counter(b"abc"), Err(3));
        assert_eq!(counter(b""), Err(0));
    }

    #[test]
    fn a_computed_value_is_newer_than_the_one_it_came_from() {
        assert_eq!(next_timestamp(100, None), 100);
        assert_eq!(next_timestamp(100, Some(50)), 100);
        assert_eq!(next_timestamp(100, Some(100)), 101);
        assert_eq!(next_timestamp(100, Some(500)), 501);
        assert_eq!(next_timestamp(100, Some(MARKER_TS - 1)), MARKER_TS - 1);
    }
}
