//! What an aggregation asks for: the grouping column and how its values are bucketed, an
//! optional numeric column to sum, how many buckets to keep, and the rows to read (row range,
//! prefix, time range). Parsing and checking of the bucket syntax (`value`, `year`, ...,
//! `range:W`) lives here.
//!
//! Plain data and its validation only; this module must never read the store.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Bound;
use std::str::FromStr;

use crate::filter::{Expr, Filter};
use crate::row::TimeRange;

/// Most significant digits a `range:W` width may have.
const MAX_WIDTH_DIGITS: usize = 18;

/// A column: family and qualifier.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Column {
    /// Family name.
    pub family: String,
    /// Qualifier bytes (may be empty: the column with the empty qualifier).
    pub qualifier: Vec<u8>,
}

impl Column {
    /// A column from a family name and qualifier bytes.
    pub fn new(family: impl Into<String>, qualifier: impl Into<Vec<u8>>) -> Column {
        Column {
            family: family.into(),
            qualifier: qualifier.into(),
        }
    }
}

/// The width of `range:W` buckets, an exact positive decimal: `mantissa / 10^scale`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RangeWidth {
    /// The width's digits without the decimal point (at least 1).
    pub mantissa: u64,
    /// Digits after the decimal point.
    pub scale: u32,
}

impl FromStr for RangeWidth {
    type Err = String;

    /// Parses `100`, `0.5`, `2.50` (plain positive decimals; no sign, no exponent).
    fn from_str(s: &str) -> Result<RangeWidth, String> {
        let bad = || {
            format!(
                "range width {s:?} is not a positive decimal number such as 100 or 0.5 \
                 (at most {MAX_WIDTH_DIGITS} digits)"
            )
        };
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if (int.is_empty() && frac.is_empty())
            || !int.bytes().all(|c| c.is_ascii_digit())
            || !frac.bytes().all(|c| c.is_ascii_digit())
            || (s.contains('.') && frac.is_empty())
        {
            return Err(bad());
        }
        let digits = format!("{int}{frac}");
        let significant = digits.trim_start_matches('0');
        if significant.is_empty() {
            return Err(format!("range width {s:?} must be above 0"));
        }
        if significant.len() > MAX_WIDTH_DIGITS {
            return Err(bad());
        }
        let mantissa: u64 = significant.parse().map_err(|_| bad())?;
        Ok(RangeWidth {
            mantissa,
            scale: frac.len() as u32,
        })
    }
}

impl fmt::Display for RangeWidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&super::bucket::decimal(
            i128::from(self.mantissa),
            self.scale,
        ))
    }
}

/// How the grouping column's values become bucket keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BucketKind {
    /// The value's bytes (an empty value is the bucket `""`).
    Value,
    /// `2022`: the UTC year of an ISO-8601 date or timestamp.
    Year,
    /// `2022-07`.
    Month,
    /// `2022-07-29`.
    Day,
    /// `2022-07-29T15`.
    Hour,
    /// `00` to `23`: the UTC hour of an ISO-8601 timestamp.
    HourOfDay,
    /// Whole years from an ISO-8601 date to the current UTC date.
    Age,
    /// The decimal lower bound of the width-W range holding a numeric value.
    Range(RangeWidth),
}

impl BucketKind {
    /// Whether buckets are ordered by key (time, age, range) rather than by count.
    pub fn ordered_by_key(self) -> bool {
        !matches!(self, BucketKind::Value)
    }
}

impl FromStr for BucketKind {
    type Err = String;

    fn from_str(s: &str) -> Result<BucketKind, String> {
        Ok(match s {
            "" | "value" => BucketKind::Value,
            "year" => BucketKind::Year,
            "month" => BucketKind::Month,
            "day" => BucketKind::Day,
            "hour" => BucketKind::Hour,
            "hour-of-day" => BucketKind::HourOfDay,
            "age" => BucketKind::Age,
            other => match other.strip_prefix("range:") {
                Some(w) => BucketKind::Range(w.parse()?),
                None => {
                    return Err(format!(
                        "unknown bucket {other:?}: use value, year, month, day, hour, \
                         hour-of-day, age or range:W (W a positive number such as 100)"
                    ));
                }
            },
        })
    }
}

impl fmt::Display for BucketKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BucketKind::Value => f.write_str("value"),
            BucketKind::Year => f.write_str("year"),
            BucketKind::Month => f.write_str("month"),
            BucketKind::Day => f.write_str("day"),
            BucketKind::Hour => f.write_str("hour"),
            BucketKind::HourOfDay => f.write_str("hour-of-day"),
            BucketKind::Age => f.write_str("age"),
            BucketKind::Range(w) => write!(f, "range:{w}"),
        }
    }
}

/// One aggregation over the rows of a [`Scope`]: row counts per bucket of `column`, and the
/// sum, minimum and maximum of `sum` per bucket when given.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Aggregation {
    /// The grouping column.
    pub column: Column,
    /// How its values are bucketed.
    pub bucket: BucketKind,
    /// Keep only this many buckets (the ones with the most rows); 0 keeps all.
    pub top: u32,
    /// A numeric column summed per bucket.
    pub sum: Option<Column>,
}

impl Aggregation {
    /// Count rows per value of `family:qualifier`, every bucket, no sum.
    pub fn count_by(family: impl Into<String>, qualifier: impl Into<Vec<u8>>) -> Aggregation {
        Aggregation {
            column: Column::new(family, qualifier),
            bucket: BucketKind::Value,
            top: 0,
            sum: None,
        }
    }

    /// The same aggregation with another bucket kind.
    pub fn bucket(mut self, bucket: BucketKind) -> Aggregation {
        self.bucket = bucket;
        self
    }

    /// The same aggregation keeping the `top` largest buckets.
    pub fn top(mut self, top: u32) -> Aggregation {
        self.top = top;
        self
    }

    /// The same aggregation summing `column` per bucket.
    pub fn sum(mut self, column: Column) -> Aggregation {
        self.sum = Some(column);
        self
    }

    /// The families this aggregation reads: the grouping column's and the sum column's.
    pub fn families(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.column.family.as_str())
            .chain(self.sum.as_ref().map(|c| c.family.as_str()))
    }

    /// Check what the engine cannot check for us (empty family names).
    pub fn check(&self) -> Result<(), String> {
        if self.column.family.is_empty() {
            return Err("the grouping column has no family".into());
        }
        if self.sum.as_ref().is_some_and(|c| c.family.is_empty()) {
            return Err("the sum column has no family".into());
        }
        Ok(())
    }
}

/// The rows an aggregation reads: a row range intersected with a prefix, the versions in a
/// time range, and the rows and cells a filter keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// Only rows starting with this prefix (empty: every row).
    pub prefix: Vec<u8>,
    /// First row (inclusive), or unbounded.
    pub start: Bound<Vec<u8>>,
    /// Row bound (exclusive), or unbounded.
    pub stop: Bound<Vec<u8>>,
    /// Only cell versions in this range count.
    pub time_range: TimeRange,
    /// Only the rows and cells this filter keeps count (HBase's filter language; see
    /// `run.rs` for what it sees).
    pub filter: Option<Filter>,
}

impl Default for Scope {
    fn default() -> Self {
        Scope::all()
    }
}

// By hand: the engine's TimeRange has no Hash of its own.
impl Hash for Scope {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.prefix.hash(state);
        self.start.hash(state);
        self.stop.hash(state);
        self.time_range.start.hash(state);
        self.time_range.end.hash(state);
        // Equal filters print the same string (parse(print(f)) == f).
        self.filter.as_ref().map(Filter::to_bytes).hash(state);
    }
}

impl Scope {
    /// Every row, every version.
    pub fn all() -> Scope {
        Scope {
            prefix: Vec::new(),
            start: Bound::Unbounded,
            stop: Bound::Unbounded,
            time_range: TimeRange::default(),
            filter: None,
        }
    }

    /// The families the filter tests whole rows by (those of its `SingleColumnValueFilter`s
    /// and `SingleColumnValueExcludeFilter`s), sorted, each once: the scan reads them besides
    /// the aggregations' own, so the test sees its column.
    pub fn filter_families(&self) -> Vec<String> {
        fn walk(e: &Expr, out: &mut Vec<String>) {
            match e {
                Expr::SingleColumnValue(t) | Expr::SingleColumnValueExclude(t) => {
                    // A name that is not UTF-8 names no family of the table.
                    if let Ok(f) = std::str::from_utf8(&t.family) {
                        out.push(f.to_string());
                    }
                }
                Expr::And(v) | Expr::Or(v) => v.iter().for_each(|e| walk(e, out)),
                Expr::Skip(e) | Expr::While(e) => walk(e, out),
                _ => {}
            }
        }
        let mut out = Vec::new();
        if let Some(f) = &self.filter {
            walk(f.expr(), &mut out);
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_parse_and_print_back() {
        for name in [
            "value",
            "year",
            "month",
            "day",
            "hour",
            "hour-of-day",
            "age",
            "range:100",
            "range:0.5",
            "range:2.50",
        ] {
            let b: BucketKind = name.parse().unwrap();
            assert_eq!(b.to_string(), name);
        }
        assert_eq!("".parse::<BucketKind>(), Ok(BucketKind::Value));
        assert_eq!(
            "range:007".parse::<BucketKind>(),
            Ok(BucketKind::Range(RangeWidth {
                mantissa: 7,
                scale: 0
            }))
        );
    }

    #[test]
    fn bad_buckets_are_named() {
        for bad in [
            "weekday",
            "range:",
            "range:0",
            "range:0.000",
            "range:-5",
            "range:1e3",
            "range:5.",
            "range:.",
            "range:1234567890123456789",
            "Year",
        ] {
            let e = bad.parse::<BucketKind>().expect_err(bad);
            let shown = bad.strip_prefix("range:").unwrap_or(bad);
            assert!(e.contains(shown), "{bad}: {e}");
        }
        assert!(".5".parse::<RangeWidth>().is_ok());
    }

    #[test]
    fn a_filter_reads_the_families_its_column_tests_name() {
        use crate::filter::TimeUnit;
        let scope = |f: &str| Scope {
            filter: Some(Filter::parse(f.as_bytes(), TimeUnit::Micros).unwrap()),
            ..Scope::all()
        };
        assert!(Scope::all().filter_families().is_empty());
        assert!(scope("PrefixFilter('a')").filter_families().is_empty());
        let s = scope(
            "(SingleColumnValueFilter('y', 'q', =, 'binary:1') OR PrefixFilter('a')) AND \
             SKIP WHILE SingleColumnValueExcludeFilter('b', 'q', =, 'binary:1') AND \
             SingleColumnValueFilter('y', 'r', =, 'binary:2') AND FamilyFilter(=, 'binary:z')",
        );
        assert_eq!(s.filter_families(), ["b", "y"]);
    }

    #[test]
    // A compiled regex's interior mutability is its match cache: a scope hashes and compares
    // by its filter's text, which never changes.
    #[allow(clippy::mutable_key_type)]
    fn scopes_with_other_filters_differ() {
        use crate::filter::TimeUnit;
        use std::collections::HashSet;
        let scope = |f: Option<&str>| Scope {
            filter: f.map(|f| Filter::parse(f.as_bytes(), TimeUnit::Micros).unwrap()),
            ..Scope::all()
        };
        let set: HashSet<Scope> = [
            scope(None),
            scope(Some("PrefixFilter('a')")),
            scope(Some("PrefixFilter('b')")),
            scope(Some("PrefixFilter( 'a' )")),
        ]
        .into_iter()
        .collect();
        assert_eq!(set.len(), 3, "the same filter written twice is one scope");
    }

    #[test]
    fn only_value_buckets_order_by_count() {
        assert!(!BucketKind::Value.ordered_by_key());
        assert!(BucketKind::HourOfDay.ordered_by_key());
        assert!(BucketKind::Age.ordered_by_key());
        assert!("range:10".parse::<BucketKind>().unwrap().ordered_by_key());
    }
}
