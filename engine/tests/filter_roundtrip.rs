//! Printing a filter and parsing the result gives the same filter, for generated filters of
//! every kind with arbitrary bytes in their strings (quotes, parentheses, commas, keywords,
//! non-UTF-8), nested lists, SKIP and WHILE.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use proptest::prelude::*;
use strata_engine::filter::{
    ColumnValueTest, Comparator, ComparatorKind, CompareOp, Expr, Filter, MAX_REGEXES, TimeUnit,
};

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Mostly the characters the language itself uses.
        prop::collection::vec(
            prop::sample::select(b"'(),: ANDORSKIPWHILEab\t\\".to_vec()),
            0..8
        ),
        prop::collection::vec(any::<u8>(), 0..8),
    ]
}

fn op() -> impl Strategy<Value = CompareOp> {
    prop::sample::select(CompareOp::ALL.to_vec())
}

/// A comparator and an operator it allows.
fn comparison() -> impl Strategy<Value = (CompareOp, Comparator)> {
    let eq = prop::sample::select(vec![CompareOp::Equal, CompareOp::NotEqual]);
    prop_oneof![
        4 => (op(), bytes(), prop::bool::ANY).prop_map(|(op, v, prefix)| {
            let kind = if prefix { ComparatorKind::BinaryPrefix } else { ComparatorKind::Binary };
            (op, Comparator::new(kind, v).expect("binary comparators always compile"))
        }),
        2 => (eq.clone(), bytes()).prop_map(|(op, v)| {
            (op, Comparator::new(ComparatorKind::Substring, v).expect("substring compiles"))
        }),
        1 => (eq, prop::sample::select(vec!["^a", "b$", "a.c", "(?i)x|y", "[0-9]{2,4}", "it's", "", "\\x27"]))
            .prop_map(|(op, p)| {
                (op, Comparator::new(ComparatorKind::RegexString, p.as_bytes().to_vec()).expect("valid regex"))
            }),
    ]
}

fn column_value() -> impl Strategy<Value = Box<ColumnValueTest>> {
    (
        bytes(),
        bytes(),
        comparison(),
        prop::bool::ANY,
        prop::bool::ANY,
    )
        .prop_map(
            |(family, qualifier, (op, comparator), filter_if_missing, latest_version_only)| {
                Box::new(ColumnValueTest {
                    family,
                    qualifier,
                    op,
                    comparator,
                    filter_if_missing,
                    latest_version_only,
                })
            },
        )
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        prop::bool::ANY.prop_map(|len_as_value| Expr::KeyOnly { len_as_value }),
        Just(Expr::FirstKeyOnly),
        bytes().prop_map(Expr::Prefix),
        bytes().prop_map(Expr::ColumnPrefix),
        (prop::collection::btree_set(bytes(), 1..4), prop::bool::ANY).prop_map(|(set, rev)| {
            let mut v: Vec<Vec<u8>> = set.into_iter().collect();
            if rev {
                v.reverse();
            }
            Expr::MultipleColumnPrefix(v)
        }),
        (0..=i32::MAX as u32).prop_map(Expr::ColumnCountGet),
        (0..=i64::MAX as u64).prop_map(Expr::Page),
        bytes().prop_map(Expr::InclusiveStop),
        // Within both units' ranges (millisecond arguments are at most i64::MAX / 1000).
        prop::collection::vec(0..=TimeUnit::Millis.max_timestamp(), 0..4)
            .prop_map(Expr::Timestamps),
        comparison().prop_map(|(o, c)| Expr::Row(o, c)),
        comparison().prop_map(|(o, c)| Expr::Family(o, c)),
        comparison().prop_map(|(o, c)| Expr::Qualifier(o, c)),
        comparison().prop_map(|(o, c)| Expr::Value(o, c)),
        (bytes(), prop::bool::ANY, bytes(), prop::bool::ANY).prop_map(|(min, mi, max, ma)| {
            Expr::ColumnRange {
                min,
                min_inclusive: mi,
                max,
                max_inclusive: ma,
            }
        }),
        column_value().prop_map(Expr::SingleColumnValue),
        column_value().prop_map(Expr::SingleColumnValueExclude),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(5, 24, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::Or),
            inner.clone().prop_map(|e| Expr::Skip(Box::new(e))),
            inner.prop_map(|e| Expr::While(Box::new(e))),
        ]
    })
}

fn regexes(e: &Expr) -> usize {
    let is_regex = |c: &Comparator| usize::from(c.kind() == ComparatorKind::RegexString);
    match e {
        Expr::Row(_, c) | Expr::Family(_, c) | Expr::Qualifier(_, c) | Expr::Value(_, c) => {
            is_regex(c)
        }
        Expr::SingleColumnValue(t) | Expr::SingleColumnValueExclude(t) => is_regex(&t.comparator),
        Expr::And(v) | Expr::Or(v) => v.iter().map(regexes).sum(),
        Expr::Skip(e) | Expr::While(e) => regexes(e),
        _ => 0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_of_print_is_the_identity(
        e in expr().prop_filter("within the regex limit", |e| regexes(e) <= MAX_REGEXES),
        millis in prop::bool::ANY,
    ) {
        let unit = if millis { TimeUnit::Millis } else { TimeUnit::Micros };
        let f = Filter::from_expr(e, unit);
        let printed = f.to_bytes();
        let back = Filter::parse(&printed, unit);
        prop_assert_eq!(
            back.as_ref().ok(),
            Some(&f),
            "printed {:?}: {:?}",
            String::from_utf8_lossy(&printed),
            back.as_ref().err()
        );
    }
}

#[test]
fn printing_is_canonical_for_hand_written_filters() {
    for (written, printed) in [
        (
            "PrefixFilter ('a')AND(KeyOnlyFilter() OR ValueFilter(=,'binary:x'))",
            "PrefixFilter('a') AND (KeyOnlyFilter() OR ValueFilter(=, 'binary:x'))",
        ),
        (
            "SingleColumnValueFilter('f','q',=,'binary:v',false,true)",
            "SingleColumnValueFilter('f', 'q', =, 'binary:v')",
        ),
        (
            "SKIP (WHILE RowFilter(<,'binary:it''s'))",
            "SKIP WHILE RowFilter(<, 'binary:it''s')",
        ),
        (
            "(A1) OR PrefixFilter('b')"
                .replace("A1", "PrefixFilter('a') AND PrefixFilter('c')")
                .as_str(),
            "PrefixFilter('a') AND PrefixFilter('c') OR PrefixFilter('b')",
        ),
    ] {
        let f = Filter::parse(written.as_bytes(), TimeUnit::Micros).expect(written);
        assert_eq!(f.to_string(), printed);
    }
}
