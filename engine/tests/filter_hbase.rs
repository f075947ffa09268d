//! Each filter over a small table, against the result HBase 2 gives for the same rows (worked
//! out by hand from HBase's filter and scanner code, quirks included: where a list's member
//! order matters, what SKIP hides from its filter, where the scan ends).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use bytes::Bytes;
use strata_engine::filter::{
    EvalOptions, Filter, FilterDecision, FilterState, FilteredRows, TimeUnit, filter_row,
};
use strata_engine::{Cell, Row};

/// `"r1 a:x@3=v1 a:x@2=old"` to a row.
fn row(spec: &str) -> Row {
    let mut parts = spec.split(' ');
    let key = parts.next().expect("key").as_bytes().to_vec();
    let cells = parts
        .map(|c| {
            let (col, value) = c.split_once('=').expect("=");
            let (col, ts) = col.split_once('@').expect("@");
            let (family, qualifier) = col.split_once(':').expect(":");
            Cell {
                family: family.into(),
                qualifier: Bytes::copy_from_slice(qualifier.as_bytes()),
                timestamp: ts.parse().expect("timestamp"),
                value: Bytes::copy_from_slice(value.as_bytes()),
            }
        })
        .collect();
    Row { key, cells }
}

fn show(r: &Row) -> String {
    let mut s = String::from_utf8_lossy(&r.key).into_owned();
    for c in &r.cells {
        let value = if c.value.len() == 4 && c.value[0] == 0 {
            format!(
                "#{}",
                u32::from_be_bytes([c.value[0], c.value[1], c.value[2], c.value[3]])
            )
        } else {
            String::from_utf8_lossy(&c.value).into_owned()
        };
        s += &format!(
            " {}:{}@{}={value}",
            c.family,
            String::from_utf8_lossy(&c.qualifier),
            c.timestamp
        );
    }
    s
}

const TABLE: &[&str] = &[
    "r1 a:x@3=v1 a:x@2=old a:y@3=gopay b:z@3=1",
    "r2 a:x@3=v2 b:z@3=2",
    "r3 a:y@3=OVO b:w@3= b:z@3=3",
    "s1 a:x@3=v1",
    "t1 b:z@3=9",
];

/// The rows `filter` returns over `table` and whether it ended the scan before the end.
fn run_on(table: &[&str], filter: &str, opts: EvalOptions, unit: TimeUnit) -> (Vec<String>, bool) {
    let f = Filter::parse(filter.as_bytes(), unit).unwrap_or_else(|e| panic!("{filter}: {e}"));
    let rows: Vec<Result<Row, ()>> = table.iter().map(|s| Ok(row(s))).collect();
    let mut it = FilteredRows::new(rows.into_iter(), FilterState::new(&f, opts));
    let out = it.by_ref().map(|r| show(&r.expect("no errors"))).collect();
    let ended_early = it.state().is_finished() && it.into_inner().next().is_some();
    (out, ended_early)
}

fn run(filter: &str) -> Vec<String> {
    run_on(TABLE, filter, EvalOptions::default(), TimeUnit::Micros).0
}

fn one_version(filter: &str) -> Vec<String> {
    let opts = EvalOptions {
        max_versions: 1,
        reversed: false,
    };
    run_on(TABLE, filter, opts, TimeUnit::Micros).0
}

fn all() -> Vec<String> {
    TABLE.iter().map(|s| s.to_string()).collect()
}

#[test]
fn row_key_filters() {
    let (rows, early) = run_on(
        TABLE,
        "PrefixFilter('r')",
        EvalOptions::default(),
        TimeUnit::Micros,
    );
    assert_eq!(rows, &all()[..3]);
    assert!(early, "the scan ends at the first row past the prefix");
    assert_eq!(run("RowFilter(<=, 'binary:r2')"), &all()[..2]);
    assert_eq!(run("RowFilter(=, 'binaryprefix:s')"), [TABLE[3]]);
    assert_eq!(run("RowFilter(!=, 'regexstring:^r')"), &all()[3..]);
    let (rows, early) = run_on(
        TABLE,
        "InclusiveStopFilter('r2')",
        EvalOptions::default(),
        TimeUnit::Micros,
    );
    assert_eq!(rows, &all()[..2]);
    assert!(early);
}

#[test]
fn key_only_and_first_key_only() {
    assert_eq!(
        run("PrefixFilter('r') AND KeyOnlyFilter()"),
        [
            "r1 a:x@3= a:x@2= a:y@3= b:z@3=",
            "r2 a:x@3= b:z@3=",
            "r3 a:y@3= b:w@3= b:z@3=",
        ]
    );
    assert_eq!(
        run("PrefixFilter('r2') AND KeyOnlyFilter(true)"),
        ["r2 a:x@3=#2 b:z@3=#1"]
    );
    assert_eq!(
        run("FirstKeyOnlyFilter()"),
        [
            "r1 a:x@3=v1",
            "r2 a:x@3=v2",
            "r3 a:y@3=OVO",
            "s1 a:x@3=v1",
            "t1 b:z@3=9"
        ]
    );
}

#[test]
fn single_column_value_filters() {
    // Rows without a:x pass by default.
    assert_eq!(
        run("SingleColumnValueFilter('a', 'x', =, 'binary:v1')"),
        [TABLE[0], TABLE[2], TABLE[3], TABLE[4]]
    );
    assert_eq!(
        run("SingleColumnValueFilter('a', 'x', =, 'binary:v1', true, true)"),
        [TABLE[0], TABLE[3]]
    );
    // Only the newest version is tested unless latestVersionOnly is false.
    assert!(run("SingleColumnValueFilter('a', 'x', =, 'binary:old', true, true)").is_empty());
    assert_eq!(
        run("SingleColumnValueFilter('a', 'x', =, 'binary:old', true, false)"),
        [TABLE[0]]
    );
    // The filter sees every version; one version per column is returned.
    assert_eq!(
        one_version("SingleColumnValueFilter('a', 'x', =, 'binary:old', true, false)"),
        ["r1 a:x@3=v1 a:y@3=gopay b:z@3=1"]
    );
    // The exclude variant drops the tested column; a row left empty is omitted.
    assert_eq!(
        run("SingleColumnValueExcludeFilter('a', 'x', =, 'binary:v1')"),
        ["r1 a:y@3=gopay b:z@3=1", TABLE[2], TABLE[4]]
    );
    assert_eq!(
        run("SingleColumnValueFilter('a', 'y', =, 'substring:GOPAY', true, true)"),
        [TABLE[0]]
    );
}

#[test]
fn cell_filters() {
    assert_eq!(
        run("ValueFilter(=, 'binary:v1')"),
        ["r1 a:x@3=v1", "s1 a:x@3=v1"]
    );
    // HBase 2 applies the version count after the filter: the older version that matches.
    assert_eq!(
        one_version("ValueFilter(=, 'binary:old')"),
        ["r1 a:x@2=old"]
    );
    assert_eq!(run("ValueFilter(=, 'substring:GOPAY')"), ["r1 a:y@3=gopay"]);
    assert_eq!(
        run("ValueFilter(!=, 'regexstring:^v')"),
        [
            "r1 a:x@2=old a:y@3=gopay b:z@3=1",
            "r2 b:z@3=2",
            TABLE[2],
            TABLE[4]
        ]
    );
    assert_eq!(
        run("FamilyFilter(=, 'binary:b')"),
        [
            "r1 b:z@3=1",
            "r2 b:z@3=2",
            "r3 b:w@3= b:z@3=3",
            "t1 b:z@3=9"
        ]
    );
    assert_eq!(
        run("QualifierFilter(>, 'binary:x')"),
        [
            "r1 a:y@3=gopay b:z@3=1",
            "r2 b:z@3=2",
            "r3 a:y@3=OVO b:z@3=3",
            "t1 b:z@3=9"
        ]
    );
    assert_eq!(
        run("ColumnPrefixFilter('y')"),
        ["r1 a:y@3=gopay", "r3 a:y@3=OVO"]
    );
    assert_eq!(
        run("MultipleColumnPrefixFilter('y', 'w')"),
        ["r1 a:y@3=gopay", "r3 a:y@3=OVO b:w@3="]
    );
    assert_eq!(
        run("ColumnRangeFilter('x', false, 'z', false)"),
        ["r1 a:y@3=gopay", "r3 a:y@3=OVO"]
    );
    assert_eq!(
        run("ColumnRangeFilter('x', true, 'z', true)"),
        [
            TABLE[0],
            TABLE[1],
            "r3 a:y@3=OVO b:z@3=3",
            TABLE[3],
            TABLE[4]
        ]
    );
    assert_eq!(run("ColumnRangeFilter('', true, 'w', true)"), ["r3 b:w@3="]);
    assert_eq!(run("TimestampsFilter(2)"), ["r1 a:x@2=old"]);
    assert_eq!(run("TimestampsFilter(9, 2, 3)"), all());
    assert!(run("TimestampsFilter()").is_empty());
}

#[test]
fn timestamps_in_milliseconds_cover_the_whole_millisecond() {
    let table = &["k a:q@5000999=in a:q@5000000=first a:q@4999999=before a:r@5001000=after"];
    let (rows, _) = run_on(
        table,
        "TimestampsFilter(5000)",
        EvalOptions::default(),
        TimeUnit::Millis,
    );
    assert_eq!(rows, ["k a:q@5000999=in a:q@5000000=first"]);
    let (rows, _) = run_on(
        table,
        "TimestampsFilter(5000)",
        EvalOptions::default(),
        TimeUnit::Micros,
    );
    assert!(rows.is_empty());
}

#[test]
fn page_filter_counts_rows_where_it_stands_in_the_list() {
    let (rows, early) = run_on(
        TABLE,
        "PageFilter(2)",
        EvalOptions::default(),
        TimeUnit::Micros,
    );
    assert_eq!(rows, &all()[..2]);
    assert!(early);
    assert!(run("PageFilter(0)").is_empty());
    // Counted after the value test: the first matching row.
    assert_eq!(
        run("SingleColumnValueFilter('b', 'z', =, 'binary:3') AND PageFilter(1)"),
        [TABLE[2]]
    );
    // Counted before it: the first row is counted, dropped, and the page is full.
    assert!(run("PageFilter(1) AND SingleColumnValueFilter('b', 'z', =, 'binary:3')").is_empty());
    // Rows left without cells never reach it.
    assert_eq!(
        run("ValueFilter(=, 'binary:3') AND PageFilter(1)"),
        ["r3 b:z@3=3"]
    );
}

#[test]
fn column_count_get_filter_ends_the_scan_at_the_first_row_over_the_count() {
    let (rows, early) = run_on(
        TABLE,
        "ColumnCountGetFilter(2)",
        EvalOptions::default(),
        TimeUnit::Micros,
    );
    assert_eq!(rows, ["r1 a:x@3=v1 a:y@3=gopay"]);
    assert!(early);
    assert_eq!(run("ColumnCountGetFilter(1)"), ["r1 a:x@3=v1"]);
    // Newest version of each column only, every row when none has more columns.
    assert_eq!(
        run("ColumnCountGetFilter(3)"),
        [
            "r1 a:x@3=v1 a:y@3=gopay b:z@3=1",
            TABLE[1],
            TABLE[2],
            TABLE[3],
            TABLE[4]
        ]
    );
}

#[test]
fn skip_and_while() {
    assert_eq!(
        run("SKIP ValueFilter(!=, 'binary:')"),
        [TABLE[0], TABLE[1], TABLE[3], TABLE[4]]
    );
    let (rows, early) = run_on(
        TABLE,
        "WHILE RowFilter(<, 'binary:r3')",
        EvalOptions::default(),
        TimeUnit::Micros,
    );
    assert_eq!(rows, &all()[..2]);
    assert!(early);
    // The row where WHILE's filter first fails keeps the cells before the failure.
    assert_eq!(
        run("WHILE ValueFilter(!=, 'binary:3')"),
        [TABLE[0], TABLE[1], "r3 a:y@3=OVO b:w@3="]
    );
    // SKIP never shows its filter the row key (HBase's SkipFilter): a PrefixFilter inside
    // rejects everything, a RowFilter nothing.
    assert!(run("SKIP PrefixFilter('r')").is_empty());
    assert_eq!(run("SKIP RowFilter(=, 'binary:r1')"), all());
    assert_eq!(run("WHILE PrefixFilter('r')"), &all()[..3]);
}

#[test]
fn lists() {
    assert_eq!(
        run("RowFilter(=, 'binary:r2') OR ValueFilter(=, 'binary:v1')"),
        ["r1 a:x@3=v1", TABLE[1], "s1 a:x@3=v1"]
    );
    assert_eq!(
        run("PrefixFilter('r1') OR PrefixFilter('t')"),
        [TABLE[0], TABLE[4]]
    );
    assert_eq!(
        run("PrefixFilter('r') AND ValueFilter(=, 'regexstring:^[0-9]$')"),
        ["r1 b:z@3=1", "r2 b:z@3=2", "r3 b:z@3=3"]
    );
    // The first cell the whole list keeps, not the first cell of the row: the seek to 'y'
    // passes over a:x, so FirstKeyOnlyFilter has taken it before ColumnPrefixFilter agrees.
    assert_eq!(
        run("FirstKeyOnlyFilter() AND ColumnPrefixFilter('y')"),
        ["r3 a:y@3=OVO"]
    );
    assert_eq!(
        run("ColumnPrefixFilter('y') AND FirstKeyOnlyFilter()"),
        ["r1 a:y@3=gopay", "r3 a:y@3=OVO"]
    );
    // KeyOnlyFilter keeps every cell, so in an OR it lets everything through, transformed.
    let keys: Vec<String> =
        run("PrefixFilter('r1') AND (KeyOnlyFilter() OR ValueFilter(=, 'binary:v1'))");
    assert_eq!(keys, ["r1 a:x@3= a:x@2= a:y@3= b:z@3="]);
    assert_eq!(
        run("(ColumnPrefixFilter('x') OR ColumnPrefixFilter('z')) AND PrefixFilter('r')"),
        ["r1 a:x@3=v1 a:x@2=old b:z@3=1", TABLE[1], "r3 b:z@3=3"]
    );
}

#[test]
fn reverse_scans_turn_the_row_bound_filters_around() {
    let reversed: Vec<&str> = TABLE.iter().rev().copied().collect();
    let back = EvalOptions {
        max_versions: u32::MAX,
        reversed: true,
    };
    let (rows, _) = run_on(&reversed, "PrefixFilter('r')", back, TimeUnit::Micros);
    assert_eq!(rows, [TABLE[2], TABLE[1], TABLE[0]]);
    // Without the flag, 't1' is past the prefix at once.
    let (rows, _) = run_on(
        &reversed,
        "PrefixFilter('r')",
        EvalOptions::default(),
        TimeUnit::Micros,
    );
    assert!(rows.is_empty());
    let (rows, early) = run_on(
        &reversed,
        "InclusiveStopFilter('r2')",
        back,
        TimeUnit::Micros,
    );
    assert_eq!(rows, [TABLE[4], TABLE[3], TABLE[2], TABLE[1]]);
    // It ended the scan at r1, the last row.
    assert!(!early);
}

#[test]
fn a_get_filters_its_one_row() {
    let f = Filter::parse(
        b"SingleColumnValueFilter('a','x',=,'binary:v2')",
        TimeUnit::Micros,
    )
    .expect("parses");
    assert_eq!(
        filter_row(&f, row(TABLE[1]), EvalOptions::default()),
        Some(row(TABLE[1]))
    );
    assert_eq!(filter_row(&f, row(TABLE[0]), EvalOptions::default()), None);
    // A fresh state per get: a page filter does not carry over.
    let page = Filter::parse(b"PageFilter(1)", TimeUnit::Micros).expect("parses");
    for spec in TABLE {
        assert!(filter_row(&page, row(spec), EvalOptions::default()).is_some());
    }
}

#[test]
fn decisions_and_errors_pass_through_the_adapter() {
    let f = Filter::parse(b"PageFilter(1)", TimeUnit::Micros).expect("parses");
    let mut state = FilterState::new(&f, EvalOptions::default());
    assert!(matches!(
        state.apply(row(TABLE[0])),
        FilterDecision::Include(_)
    ));
    assert!(state.is_finished());
    assert_eq!(state.apply(row(TABLE[1])), FilterDecision::StopScan);
    // Errors from the row source come through; the filter does not swallow them.
    let f = Filter::parse(b"ValueFilter(=, 'binary:none')", TimeUnit::Micros).expect("parses");
    let rows: Vec<Result<Row, &str>> = vec![Ok(row(TABLE[0])), Err("disk"), Ok(row(TABLE[1]))];
    let out: Vec<Result<Row, &str>> = FilteredRows::new(
        rows.into_iter(),
        FilterState::new(&f, EvalOptions::default()),
    )
    .collect();
    assert_eq!(out, vec![Err("disk")]);
}
