//! The filter language's parser: what strings mean (precedence, quoting, defaults), the byte
//! positions and messages of errors, and hostile inputs (deep nesting, huge strings, bad
//! regexes) that must be errors, never panics or exhausted stacks.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use strata_engine::filter::{
    ColumnValueTest, Comparator, ComparatorKind, CompareOp, Expr, Filter, FilterError, MAX_DEPTH,
    MAX_FILTER_LEN, MAX_FILTERS, MAX_REGEXES, TimeUnit,
};

fn parse(s: &str) -> Expr {
    match Filter::parse(s.as_bytes(), TimeUnit::Micros) {
        Ok(f) => f.expr().clone(),
        Err(e) => panic!("{s:?}: {e}"),
    }
}

fn error_in(s: &[u8], unit: TimeUnit) -> FilterError {
    match Filter::parse(s, unit) {
        Ok(f) => panic!("{:?} parsed as {f}", String::from_utf8_lossy(s)),
        Err(e) => e,
    }
}

fn error(s: &str) -> FilterError {
    error_in(s.as_bytes(), TimeUnit::Micros)
}

fn cmp(kind: ComparatorKind, v: &str) -> Comparator {
    Comparator::new(kind, v.as_bytes().to_vec()).expect("valid comparator")
}

fn prefix(p: &str) -> Expr {
    Expr::Prefix(p.as_bytes().to_vec())
}

#[test]
fn the_reference_examples_parse() {
    assert_eq!(
        parse("SingleColumnValueFilter('payment_info','payment_method',=,'binary:Gopay')"),
        Expr::SingleColumnValue(Box::new(ColumnValueTest {
            family: b"payment_info".to_vec(),
            qualifier: b"payment_method".to_vec(),
            op: CompareOp::Equal,
            comparator: cmp(ComparatorKind::Binary, "Gopay"),
            filter_if_missing: false,
            latest_version_only: true,
        }))
    );
    assert_eq!(
        parse("PrefixFilter('2022') AND KeyOnlyFilter()"),
        Expr::And(vec![
            prefix("2022"),
            Expr::KeyOnly {
                len_as_value: false
            }
        ])
    );
    assert_eq!(
        parse("(RowFilter(>=,'binary:c1') AND RowFilter(<,'binary:c9')) OR PrefixFilter('t')"),
        Expr::Or(vec![
            Expr::And(vec![
                Expr::Row(CompareOp::GreaterOrEqual, cmp(ComparatorKind::Binary, "c1")),
                Expr::Row(CompareOp::Less, cmp(ComparatorKind::Binary, "c9")),
            ]),
            prefix("t"),
        ])
    );
}

#[test]
fn and_binds_tighter_than_or_and_skip_while_tighter_than_both() {
    let (a, b, c) = (prefix("a"), prefix("b"), prefix("c"));
    assert_eq!(
        parse("PrefixFilter('a') AND PrefixFilter('b') OR PrefixFilter('c')"),
        Expr::Or(vec![Expr::And(vec![a.clone(), b.clone()]), c.clone()])
    );
    assert_eq!(
        parse("PrefixFilter('a') OR PrefixFilter('b') AND PrefixFilter('c')"),
        Expr::Or(vec![a.clone(), Expr::And(vec![b.clone(), c.clone()])])
    );
    assert_eq!(
        parse("PrefixFilter('a') OR PrefixFilter('b') OR PrefixFilter('c')"),
        Expr::Or(vec![a.clone(), b.clone(), c.clone()])
    );
    assert_eq!(
        parse("(PrefixFilter('a') OR PrefixFilter('b')) OR PrefixFilter('c')"),
        Expr::Or(vec![Expr::Or(vec![a.clone(), b.clone()]), c.clone()])
    );
    assert_eq!(
        parse("SKIP PrefixFilter('a') AND WHILE SKIP PrefixFilter('b')"),
        Expr::And(vec![
            Expr::Skip(Box::new(a.clone())),
            Expr::While(Box::new(Expr::Skip(Box::new(b.clone())))),
        ])
    );
    assert_eq!(
        parse("SKIP(PrefixFilter('a')OR PrefixFilter('b'))"),
        Expr::Skip(Box::new(Expr::Or(vec![a.clone(), b.clone()])))
    );
    assert_eq!(parse(" \t((PrefixFilter ( 'a' ) ))\n"), a);
}

#[test]
fn quotes_arguments_and_defaults() {
    assert_eq!(parse("PrefixFilter('it''s')"), prefix("it's"));
    assert_eq!(parse("PrefixFilter('')"), prefix(""));
    assert_eq!(parse("PrefixFilter('a,b) AND (c')"), prefix("a,b) AND (c"));
    assert_eq!(
        parse("ValueFilter(!=, 'binaryprefix:x:y')"),
        Expr::Value(
            CompareOp::NotEqual,
            cmp(ComparatorKind::BinaryPrefix, "x:y")
        )
    );
    assert_eq!(
        parse("QualifierFilter(=, 'regexstring:^a.c$')"),
        Expr::Qualifier(CompareOp::Equal, cmp(ComparatorKind::RegexString, "^a.c$"))
    );
    assert_eq!(
        parse("KeyOnlyFilter(TRUE)"),
        Expr::KeyOnly { len_as_value: true }
    );
    assert_eq!(
        parse("KeyOnlyFilter(false)"),
        Expr::KeyOnly {
            len_as_value: false
        }
    );
    assert_eq!(
        parse("SingleColumnValueExcludeFilter('f', 'q', !=, 'substring:AbC', True, FALSE)"),
        Expr::SingleColumnValueExclude(Box::new(ColumnValueTest {
            family: b"f".to_vec(),
            qualifier: b"q".to_vec(),
            op: CompareOp::NotEqual,
            comparator: cmp(ComparatorKind::Substring, "AbC"),
            filter_if_missing: true,
            latest_version_only: false,
        }))
    );
    assert_eq!(
        parse("ColumnRangeFilter('', false, 'm', TRUE)"),
        Expr::ColumnRange {
            min: Vec::new(),
            min_inclusive: false,
            max: b"m".to_vec(),
            max_inclusive: true
        }
    );
    assert_eq!(parse("TimestampsFilter()"), Expr::Timestamps(vec![]));
    assert_eq!(
        parse("TimestampsFilter(5, +7, 0)"),
        Expr::Timestamps(vec![5, 7, 0])
    );
    assert_eq!(parse("PageFilter(0)"), Expr::Page(0));
    assert_eq!(
        parse("ColumnCountGetFilter(2147483647)"),
        Expr::ColumnCountGet(i32::MAX as u32)
    );
    assert_eq!(
        parse("MultipleColumnPrefixFilter('b', 'a')"),
        Expr::MultipleColumnPrefix(vec![b"b".to_vec(), b"a".to_vec()])
    );
    assert_eq!(parse("FirstKeyOnlyFilter()"), Expr::FirstKeyOnly);
    assert_eq!(
        parse("InclusiveStopFilter('r5')"),
        Expr::InclusiveStop(b"r5".to_vec())
    );
    // Any bytes inside quotes (Thrift sends raw bytes).
    let raw = Filter::parse(b"PrefixFilter('\xFF\x00')", TimeUnit::Micros).expect("raw bytes");
    assert_eq!(raw.expr(), &Expr::Prefix(vec![0xFF, 0]));
}

/// (filter, byte offset, text the message must contain).
const ERRORS: &[(&str, usize, &str)] = &[
    ("", 0, "empty"),
    ("   ", 0, "empty"),
    ("PrefixFilter", 12, "expected '(' after PrefixFilter"),
    ("PrefixFilter('a'", 16, "expected ',' or ')'"),
    ("PrefixFilter('abc", 13, "unterminated quoted string"),
    ("PrefixFilter('a') AND", 21, "expected a filter"),
    ("PrefixFilter('a') and PrefixFilter('b')", 18, "upper-case"),
    (
        "PrefixFilter('a') PrefixFilter('b')",
        18,
        "expected AND, OR or the end",
    ),
    ("(PrefixFilter('a')", 18, "to close the '(' at byte 0"),
    ("PrefixFilter('a'))", 17, "expected AND, OR or the end"),
    ("NoSuchFilter('a')", 0, "unknown filter 'NoSuchFilter'"),
    ("prefixfilter('a')", 0, "unknown filter 'prefixfilter'"),
    ("ColumnPaginationFilter(1, 0)", 0, "not supported"),
    ("PrefixFilter('a', 'b')", 18, "takes 1 argument"),
    ("PrefixFilter()", 13, "takes 1 argument"),
    ("PrefixFilter(abc)", 13, "expected a quoted string"),
    ("PrefixFilter(,)", 13, "expected an argument"),
    ("RowFilter(=='binary:a')", 12, "expected ',' or ')'"),
    ("RowFilter(==, 'binary:a')", 10, "comparison operator"),
    ("RowFilter(=, binary:a)", 13, "expected a comparator"),
    ("RowFilter(=, 'binary')", 13, "no ':'"),
    (
        "RowFilter(=, 'Binary:a')",
        14,
        "unknown comparator type 'Binary'",
    ),
    ("RowFilter(<, 'substring:a')", 10, "allows only = and !="),
    (
        "ValueFilter(>=, 'regexstring:a')",
        12,
        "allows only = and !=",
    ),
    ("ValueFilter(=, 'regexstring:(a')", 28, "unclosed group"),
    ("KeyOnlyFilter(yes)", 14, "expected true or false"),
    ("KeyOnlyFilter(true, true)", 20, "takes 0 to 1 arguments"),
    ("FirstKeyOnlyFilter(1)", 19, "takes 0 arguments"),
    ("PageFilter(-1)", 11, "out of range"),
    ("PageFilter(1.5)", 11, "expected an integer"),
    (
        "PageFilter(99999999999999999999)",
        11,
        "expected an integer",
    ),
    ("ColumnCountGetFilter(2147483648)", 21, "out of range"),
    ("TimestampsFilter(1, -2)", 20, "out of range"),
    ("MultipleColumnPrefixFilter()", 27, "at least 1 argument"),
    ("MultipleColumnPrefixFilter('a', 'b', 'a')", 37, "distinct"),
    ("ColumnRangeFilter('a', true, 'b')", 32, "takes 4 arguments"),
    (
        "SingleColumnValueFilter('f', 'q', =, 'binary:v', true)",
        49,
        "4 or 6 arguments, got 5",
    ),
    (
        "SingleColumnValueFilter('f', 'q', 'binary:v', =)",
        34,
        "comparison operator",
    ),
    ("SKIP", 4, "expected a filter"),
    ("WHILE )", 6, "expected a filter"),
    ("AND PrefixFilter('a')", 0, "unknown filter 'AND'"),
];

#[test]
fn errors_name_the_byte_offset_and_what_was_expected() {
    for &(s, pos, text) in ERRORS {
        let e = error(s);
        assert_eq!(e.position, pos, "{s:?}: {e}");
        assert!(e.message.contains(text), "{s:?}: {e}");
        assert!(
            e.to_string()
                .starts_with(&format!("bad filter at byte {pos}: ")),
            "{e}"
        );
    }
}

#[test]
fn millisecond_timestamps_are_bounded_so_they_cannot_overflow() {
    let max = TimeUnit::Millis.max_timestamp();
    let ok = format!("TimestampsFilter({max})");
    assert!(Filter::parse(ok.as_bytes(), TimeUnit::Millis).is_ok());
    let over = format!("TimestampsFilter({})", max + 1);
    let e = error_in(over.as_bytes(), TimeUnit::Millis);
    assert_eq!(e.position, 17, "{e}");
    assert!(Filter::parse(over.as_bytes(), TimeUnit::Micros).is_ok());
}

#[test]
fn hostile_inputs_are_errors_not_panics() {
    // Deep parentheses: within the limit they parse; past it they are an error at the first
    // parenthesis too many, long before the stack could run out.
    let nested = |n: usize| format!("{}FirstKeyOnlyFilter(){}", "(".repeat(n), ")".repeat(n));
    assert!(Filter::parse(nested(MAX_DEPTH).as_bytes(), TimeUnit::Micros).is_ok());
    let e = error(&nested(1000));
    assert_eq!(e.position, MAX_DEPTH, "{e}");
    assert!(e.message.contains("nested"), "{e}");
    // Unary chains nest too.
    let e = error(&format!("{}FirstKeyOnlyFilter()", "SKIP ".repeat(10_000)));
    assert!(e.message.contains("nested"), "{e}");
    let e = error(&format!("{}FirstKeyOnlyFilter()", "WHILE(".repeat(10_000)));
    assert!(e.message.contains("nested"), "{e}");
    // Unbalanced parentheses.
    assert!(error(&"(".repeat(10)).message.contains("expected a filter"));
    assert!(error(&")".repeat(10)).message.contains("expected a filter"));
    // Long flat lists are bounded by count.
    let list = vec!["FirstKeyOnlyFilter()"; MAX_FILTERS + 1].join(" OR ");
    let e = error(&list);
    assert!(e.message.contains("more than"), "{e}");
    // Huge strings.
    let huge = format!("PrefixFilter('{}')", "x".repeat(MAX_FILTER_LEN));
    let e = error(&huge);
    assert!(e.message.contains("over the limit"), "{e}");
    let quotes = vec![b'\''; MAX_FILTER_LEN];
    let e = error_in(&quotes, TimeUnit::Micros);
    assert!(e.message.contains("expected a filter"), "{e}");
    // Many arguments: thousands of prefixes, the duplicate found at the end.
    let mut args: Vec<String> = (0..5000).map(|i| format!("'p{i}'")).collect();
    args.push("'p17'".into());
    let s = format!("MultipleColumnPrefixFilter({})", args.join(","));
    let e = error(&s);
    assert_eq!(e.position, s.rfind("'p17'").expect("the duplicate"), "{e}");
    assert!(e.message.contains("distinct"), "{e}");
    // Regexes: bad syntax, oversized, too many.
    let e = error("ValueFilter(=, 'regexstring:a{1000}{1000}{1000}')");
    assert!(e.message.contains("limit"), "{e}");
    let e = error(&format!(
        "ValueFilter(=, 'regexstring:{}a{}')",
        "(".repeat(500),
        ")".repeat(500)
    ));
    assert!(e.message.contains("nest"), "{e}");
    let many = vec!["ValueFilter(=, 'regexstring:a')"; MAX_REGEXES + 1].join(" OR ");
    let e = error(&many);
    assert!(e.message.contains("regexstring"), "{e}");
    // Every string of up to four bytes from the language's alphabet: parsed or an error
    // inside the string, never a panic.
    let alphabet: &[u8] = b"()',= ASKIPFrx0";
    for len in 0..=4u32 {
        for mut code in 0..alphabet.len().pow(len) {
            let mut s = Vec::new();
            for _ in 0..len {
                s.push(alphabet[code % alphabet.len()]);
                code /= alphabet.len();
            }
            if let Err(e) = Filter::parse(&s, TimeUnit::Micros) {
                assert!(
                    e.position <= s.len(),
                    "{:?}: {e}",
                    String::from_utf8_lossy(&s)
                );
            }
        }
    }
}
