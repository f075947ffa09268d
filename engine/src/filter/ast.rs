//! The filter language's syntax tree: what a filter string says, every argument resolved
//! (defaults filled in, comparators compiled). Parsing builds it (`parse.rs`), printing turns it
//! back into a string (`print.rs`), evaluation compiles it into per-scan state (`node.rs`).
//!
//! This file owns the shape of a filter and nothing else: it must never evaluate a row.

use std::cmp::Ordering;

use super::comparator::Comparator;

/// The six comparison operators, as HBase's `CompareOperator` (without `NO_OP`, which the
/// language cannot express).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `<`
    Less,
    /// `<=`
    LessOrEqual,
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `>=`
    GreaterOrEqual,
    /// `>`
    Greater,
}

impl CompareOp {
    /// Every operator, for tests and error messages.
    pub const ALL: [CompareOp; 6] = [
        CompareOp::Less,
        CompareOp::LessOrEqual,
        CompareOp::Equal,
        CompareOp::NotEqual,
        CompareOp::GreaterOrEqual,
        CompareOp::Greater,
    ];

    /// The operator as the language writes it.
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Less => "<",
            CompareOp::LessOrEqual => "<=",
            CompareOp::Equal => "=",
            CompareOp::NotEqual => "!=",
            CompareOp::GreaterOrEqual => ">=",
            CompareOp::Greater => ">",
        }
    }

    /// The operator written `s`, if it is one.
    pub fn from_symbol(s: &[u8]) -> Option<CompareOp> {
        CompareOp::ALL
            .into_iter()
            .find(|op| op.symbol().as_bytes() == s)
    }

    /// Whether a cell passes, given `ord` = the comparator's operand compared with the cell's
    /// bytes (HBase's `comparator.compareTo(cell)`). `RowFilter(<, 'binary:m')` keeps rows whose
    /// key is below `m`: the operand is greater than the key.
    pub fn passes(self, ord: Ordering) -> bool {
        match self {
            CompareOp::Less => ord == Ordering::Greater,
            CompareOp::LessOrEqual => ord != Ordering::Less,
            CompareOp::Equal => ord == Ordering::Equal,
            CompareOp::NotEqual => ord != Ordering::Equal,
            CompareOp::GreaterOrEqual => ord != Ordering::Greater,
            CompareOp::Greater => ord == Ordering::Less,
        }
    }
}

/// The arguments of `SingleColumnValueFilter` and `SingleColumnValueExcludeFilter`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnValueTest {
    /// The tested column's family.
    pub family: Vec<u8>,
    /// The tested column's qualifier.
    pub qualifier: Vec<u8>,
    /// How the value compares.
    pub op: CompareOp,
    /// What it is compared with.
    pub comparator: Comparator,
    /// Drop rows that lack the column (HBase's default: false, they pass).
    pub filter_if_missing: bool,
    /// Test only the newest version (HBase's default: true).
    pub latest_version_only: bool,
}

/// One filter expression. Lists (`And`, `Or`) hold at least two members, in the order
/// written; parentheses that group a list inside a list of the same kind are kept as nesting,
/// as HBase builds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// `KeyOnlyFilter([lenAsValue])`: values emptied, or replaced by their 4-byte length.
    KeyOnly {
        /// Replace each value by its length (4 bytes, big-endian) instead of emptying it.
        len_as_value: bool,
    },
    /// `FirstKeyOnlyFilter()`: the first cell of each row.
    FirstKeyOnly,
    /// `PrefixFilter('p')`: rows whose key starts with `p`.
    Prefix(Vec<u8>),
    /// `ColumnPrefixFilter('p')`: cells whose qualifier starts with `p`.
    ColumnPrefix(Vec<u8>),
    /// `MultipleColumnPrefixFilter('a', 'b', ...)`: cells whose qualifier starts with any of
    /// them (distinct, in the order written).
    MultipleColumnPrefix(Vec<Vec<u8>>),
    /// `ColumnCountGetFilter(n)`: the first `n` columns of a row, then the scan ends.
    ColumnCountGet(u32),
    /// `PageFilter(n)`: at most `n` rows reach the end of the filter.
    Page(u64),
    /// `InclusiveStopFilter('row')`: rows up to and including `row`.
    InclusiveStop(Vec<u8>),
    /// `TimestampsFilter(t1, t2, ...)`: versions with one of these timestamps (in the unit of
    /// the calling path, see [`super::TimeUnit`]).
    Timestamps(Vec<i64>),
    /// `RowFilter(op, 'cmp:value')`: rows by key.
    Row(CompareOp, Comparator),
    /// `FamilyFilter(op, 'cmp:value')`: cells by family.
    Family(CompareOp, Comparator),
    /// `QualifierFilter(op, 'cmp:value')`: cells by qualifier.
    Qualifier(CompareOp, Comparator),
    /// `ValueFilter(op, 'cmp:value')`: cells by value.
    Value(CompareOp, Comparator),
    /// `ColumnRangeFilter('min', minInclusive, 'max', maxInclusive)`: cells whose qualifier is
    /// in the range; an empty bound is unbounded.
    ColumnRange {
        /// Lower bound (empty: none).
        min: Vec<u8>,
        /// Whether `min` itself is in the range.
        min_inclusive: bool,
        /// Upper bound (empty: none).
        max: Vec<u8>,
        /// Whether `max` itself is in the range.
        max_inclusive: bool,
    },
    /// `SingleColumnValueFilter(...)`: whole rows by one column's value.
    SingleColumnValue(Box<ColumnValueTest>),
    /// `SingleColumnValueExcludeFilter(...)`: the same, and the tested column is left out.
    SingleColumnValueExclude(Box<ColumnValueTest>),
    /// `a AND b AND ...` (HBase's `FilterList(MUST_PASS_ALL)`).
    And(Vec<Expr>),
    /// `a OR b OR ...` (HBase's `FilterList(MUST_PASS_ONE)`).
    Or(Vec<Expr>),
    /// `SKIP f` (HBase's `SkipFilter`): a row is dropped whole if `f` rejects any of its cells.
    Skip(Box<Expr>),
    /// `WHILE f` (HBase's `WhileMatchFilter`): the scan ends at the first thing `f` rejects.
    While(Box<Expr>),
}

impl Expr {
    /// The filter's name as the language writes it (`"AND"`, `"SKIP"`... for operators).
    pub fn name(&self) -> &'static str {
        match self {
            Expr::KeyOnly { .. } => "KeyOnlyFilter",
            Expr::FirstKeyOnly => "FirstKeyOnlyFilter",
            Expr::Prefix(_) => "PrefixFilter",
            Expr::ColumnPrefix(_) => "ColumnPrefixFilter",
            Expr::MultipleColumnPrefix(_) => "MultipleColumnPrefixFilter",
            Expr::ColumnCountGet(_) => "ColumnCountGetFilter",
            Expr::Page(_) => "PageFilter",
            Expr::InclusiveStop(_) => "InclusiveStopFilter",
            Expr::Timestamps(_) => "TimestampsFilter",
            Expr::Row(..) => "RowFilter",
            Expr::Family(..) => "FamilyFilter",
            Expr::Qualifier(..) => "QualifierFilter",
            Expr::Value(..) => "ValueFilter",
            Expr::ColumnRange { .. } => "ColumnRangeFilter",
            Expr::SingleColumnValue(_) => "SingleColumnValueFilter",
            Expr::SingleColumnValueExclude(_) => "SingleColumnValueExcludeFilter",
            Expr::And(_) => "AND",
            Expr::Or(_) => "OR",
            Expr::Skip(_) => "SKIP",
            Expr::While(_) => "WHILE",
        }
    }

    /// Nesting depth: 1 for a single filter, one more per list, SKIP or WHILE around it.
    pub fn depth(&self) -> usize {
        match self {
            Expr::And(v) | Expr::Or(v) => 1 + v.iter().map(Expr::depth).max().unwrap_or(0),
            Expr::Skip(e) | Expr::While(e) => 1 + e.depth(),
            _ => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_pass_as_hbase_compare_filter_does() {
        // Operand "m" against cells "a" (operand greater), "m" (equal), "z" (operand less).
        let cases = [
            (CompareOp::Less, [true, false, false]),
            (CompareOp::LessOrEqual, [true, true, false]),
            (CompareOp::Equal, [false, true, false]),
            (CompareOp::NotEqual, [true, false, true]),
            (CompareOp::GreaterOrEqual, [false, true, true]),
            (CompareOp::Greater, [false, false, true]),
        ];
        for (op, want) in cases {
            let got = [b"a", b"m", b"z"].map(|cell| op.passes(b"m".as_slice().cmp(cell)));
            assert_eq!(got, want, "{op:?}");
            assert_eq!(CompareOp::from_symbol(op.symbol().as_bytes()), Some(op));
        }
        assert_eq!(CompareOp::from_symbol(b"=="), None);
    }
}
