//! HBase's filter language (`TScan.filterString`, the `filter` fields of Get and Scan): parsing
//! a filter string once per request, and evaluating it over the rows a read returns.
//!
//! ```
//! use strata_engine::filter::{EvalOptions, Filter, FilterDecision, FilterState, TimeUnit};
//! use strata_engine::{Cell, Row};
//!
//! let f = Filter::parse(b"PrefixFilter('r1') AND KeyOnlyFilter()", TimeUnit::Micros).unwrap();
//! let mut state = FilterState::new(&f, EvalOptions::default());
//! let row = Row {
//!     key: b"r10".to_vec(),
//!     cells: vec![Cell { family: "f".into(), qualifier: "q".into(), timestamp: 1, value: "v".into() }],
//! };
//! match state.apply(row) {
//!     FilterDecision::Include(r) => assert!(r.cells[0].value.is_empty()),
//!     other => panic!("{other:?}"),
//! }
//! ```
//!
//! # Grammar
//!
//! See `parse.rs`: `A AND B OR C` is `(A AND B) OR C`; `SKIP`/`WHILE` bind tighter than both;
//! arguments are `'quoted strings'` (a quote inside doubled), integers, `true`/`false` (any
//! case) and the operators `<`, `<=`, `=`, `!=`, `>=`, `>`; a comparator is a quoted
//! `type:value` with type `binary`, `binaryprefix`, `substring` or `regexstring` (the last two
//! only with `=` and `!=`). A bad string is a [`FilterError`] naming the byte offset (from 0)
//! and what was expected there.
//!
//! # Evaluation
//!
//! A filter sees a row as Strata's reads return it: the cells visible after deletes, TTL, the
//! column selection and the time range, sorted by family, qualifier and newest version first.
//! [`FilterState::apply`] then follows HBase 2's region and store scanners: a row whose key the
//! filter rejects is skipped; each cell gets a code (keep, drop, drop the column's older
//! versions, drop the rest of the family in this row, seek forward); at most
//! [`EvalOptions::max_versions`] kept versions per column are returned (HBase applies the
//! request's version count *after* the filter, so the server reads every version the families
//! keep); a row left without cells is omitted; the filter may still drop the whole row; and once
//! the filter says nothing more can pass, the scan ends. The filters, as HBase implements them:
//!
//! - `PrefixFilter('p')`: rows whose key starts with `p`; the scan ends at the first row past
//!   the prefix.
//! - `SingleColumnValueFilter('f', 'q', op, 'cmp' [, filterIfMissing, latestVersionOnly])`:
//!   whole rows by the value of column `f:q`. Defaults `false, true`: a row without the column
//!   passes (unless filterIfMissing); only the newest version present is tested (with
//!   latestVersionOnly false, any version that passes keeps the row). The column must be in the
//!   read's column selection, or the filter sees it as missing (as in HBase).
//! - `SingleColumnValueExcludeFilter(...)`: the same, and the tested column is left out of the
//!   rows returned.
//! - `KeyOnlyFilter([lenAsValue])`: values emptied, or (true) replaced by their length as a
//!   4-byte big-endian integer.
//! - `FirstKeyOnlyFilter()`: only the first cell of each row.
//! - `RowFilter`, `FamilyFilter`, `QualifierFilter`, `ValueFilter` `(op, 'cmp')`: rows by key,
//!   cells by family, qualifier or value (`op` compares the cell's bytes with the operand:
//!   `RowFilter(<, 'binary:m')` keeps keys below `m`).
//! - `ColumnPrefixFilter('p')` / `MultipleColumnPrefixFilter('a', 'b', ...)`: cells whose
//!   qualifier starts with the prefix (any of them; they must be distinct).
//! - `ColumnRangeFilter('min', minInclusive, 'max', maxInclusive)`: cells whose qualifier is in
//!   the range; an empty bound is open.
//! - `PageFilter(n)`: at most `n` rows get to the end of the filter; then the scan ends. In a
//!   list its place matters, as in HBase: `SingleColumnValueFilter(...) AND PageFilter(10)`
//!   counts matching rows, `PageFilter(10) AND SingleColumnValueFilter(...)` examines 10 rows.
//! - `ColumnCountGetFilter(n)`: the first `n` columns of a row (newest version of each); the
//!   scan ends at the first row that has more (HBase: "unsuitable as a Scan filter").
//! - `TimestampsFilter(t1, ...)`: versions with one of the timestamps, in the unit of the
//!   calling path ([`TimeUnit`]): microseconds over gRPC, milliseconds over Thrift, where `T`
//!   matches every microsecond version in `[T*1000, T*1000+999]`.
//! - `InclusiveStopFilter('row')`: rows up to and including `row`; then the scan ends.
//! - `A AND B`: a cell must pass both (later members do not see a cell an earlier one
//!   rejected); a row is skipped if either rejects its key or the row.
//! - `A OR B`: a cell passes if either passes it; a row is dropped only if both drop it.
//! - `SKIP f`: a row is dropped whole if `f` rejects (or skips past) any of its cells. SKIP
//!   does not show `f` the row key, so inside SKIP a `RowFilter` or `InclusiveStopFilter`
//!   passes everything and a `PrefixFilter` nothing, exactly as HBase's `SkipFilter`.
//! - `WHILE f`: the scan ends at the first row key, cell or row that `f` rejects; the cells of
//!   that row kept before it are still returned.
//!
//! # Where Strata differs from HBase
//!
//! - **PageFilter and ColumnCountGetFilter count per scan.** HBase counts per region server
//!   region, and a client merging regions can get more rows; Strata tables are one region.
//! - **Multi-family rows after ColumnCountGetFilter.** HBase closes only the families it was
//!   reading when the count ran out, so later rows can come back with the other families; Strata
//!   ends the scan.
//! - **MultipleColumnPrefixFilter with overlapping prefixes** (`'a', 'ab'`) keeps every
//!   qualifier that starts with any prefix; HBase's skips some (`ac`).
//! - **Regular expressions** use the `regex` crate's syntax (no backreferences or look-around);
//!   see `comparator.rs` for the exact matching rules.
//! - **Rows with no visible cell** never reach the filter (HBase shows a `WHILE RowFilter(...)`
//!   the keys of rows whose cells are all deleted).
//! - **Stricter syntax:** arguments must be separated by commas, and the input is bounded
//!   ([`MAX_FILTER_LEN`], [`MAX_DEPTH`], [`MAX_FILTERS`], [`MAX_REGEXES`]).
//! - `ColumnPaginationFilter` and `DependentColumnFilter` are not supported (an error).
//!
//! This module depends only on the engine's row types: it never reads storage.

mod ast;
mod build;
mod code;
mod comparator;
mod lex;
mod node;
mod parse;
mod print;
mod state;

use std::fmt;

pub use ast::{ColumnValueTest, CompareOp, Expr};
pub use comparator::{Comparator, ComparatorKind, REGEX_NEST_LIMIT, REGEX_SIZE_LIMIT};
pub use state::{EvalOptions, FilterDecision, FilterState, FilteredRows, filter_row};

/// Longest filter string accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 64 * 1024;
/// Deepest nesting of parentheses, SKIP and WHILE.
pub const MAX_DEPTH: usize = 64;
/// Most filters and operators in one filter string.
pub const MAX_FILTERS: usize = 256;
/// Most `regexstring` comparators in one filter string.
pub const MAX_REGEXES: usize = 16;

/// A filter string that does not parse: where (byte offset from 0) and what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad filter at byte {position}: {message}")]
pub struct FilterError {
    /// Byte offset in the filter string where the problem starts.
    pub position: usize,
    /// What is wrong and what was expected.
    pub message: String,
}

impl FilterError {
    pub(crate) fn new(position: usize, message: impl Into<String>) -> Self {
        FilterError {
            position,
            message: message.into(),
        }
    }
}

/// The unit of `TimestampsFilter`'s arguments: the calling path's timestamp unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TimeUnit {
    /// Microseconds (gRPC): `T` matches the version with timestamp `T`.
    #[default]
    Micros,
    /// Milliseconds (Thrift): `T` matches every version in `[T*1000, T*1000+999]` us.
    Millis,
}

impl TimeUnit {
    /// The largest timestamp argument this unit can express in microseconds.
    pub fn max_timestamp(self) -> i64 {
        match self {
            TimeUnit::Micros => i64::MAX,
            TimeUnit::Millis => (i64::MAX - 999) / 1000,
        }
    }

    /// The inclusive microsecond range a timestamp argument `t` (0..=max) matches.
    pub(crate) fn range(self, t: i64) -> (i64, i64) {
        match self {
            TimeUnit::Micros => (t, t),
            TimeUnit::Millis => {
                let lo = t.saturating_mul(1000);
                (lo, lo.saturating_add(999))
            }
        }
    }
}

/// A parsed filter: the expression and the unit its timestamps are in. Parse once per request,
/// then build a [`FilterState`] per read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    expr: Expr,
    unit: TimeUnit,
}

impl Filter {
    /// Parse a filter string (any bytes; Thrift sends them raw).
    pub fn parse(input: &[u8], unit: TimeUnit) -> Result<Filter, FilterError> {
        Ok(Filter {
            expr: parse::parse(input, unit)?,
            unit,
        })
    }

    /// A filter from an expression built by hand.
    pub fn from_expr(expr: Expr, unit: TimeUnit) -> Filter {
        Filter { expr, unit }
    }

    /// The expression.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// The unit of `TimestampsFilter` arguments.
    pub fn time_unit(&self) -> TimeUnit {
        self.unit
    }

    /// The filter string: parsing it (with the same unit) gives this filter back.
    pub fn to_bytes(&self) -> Vec<u8> {
        print::print(&self.expr)
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&print::print(self)))
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expr.fmt(f)
    }
}
