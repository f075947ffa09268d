//! End-to-end tests of the `filter` field of Scan and Get against the real `strata serve`:
//! every filter of HBase's language through both RPCs, with HBase's results; bad filters as
//! INVALID_ARGUMENT naming the byte offset; a filter that drops almost every row of a large
//! table neither ends the scan early nor sends empty replies; the row limit counts the rows
//! the filter keeps; the version count applies after the filter.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use strata_tests::v1 as pb;
use strata_tests::*;
use tonic::Code;

type Client = pb::strata_client::StrataClient<tonic::transport::Channel>;

/// A fixed timestamp (2023-11-14); cells are written at T0 + 1..3.
const T0: i64 = 1_700_000_000_000_000;

/// (row, family, qualifier, ts - T0, value), in key and cell order.
const CELLS: &[(&str, &str, &str, i64, &str)] = &[
    ("r1", "a", "x", 3, "v1"),
    ("r1", "a", "x", 2, "old"),
    ("r1", "a", "y", 3, "gopay"),
    ("r1", "b", "z", 3, "1"),
    ("r2", "a", "x", 3, "v2"),
    ("r2", "b", "z", 3, "2"),
    ("r3", "a", "y", 3, "OVO"),
    ("r3", "b", "w", 3, ""),
    ("r3", "b", "z", 3, "3"),
    ("s1", "a", "x", 3, "v1"),
    ("t1", "b", "z", 3, "9"),
];

const KEYS: [&str; 5] = ["r1", "r2", "r3", "s1", "t1"];

async fn load(c: &mut Client) {
    c.create_table(pb::CreateTableRequest {
        table: "t".into(),
        families: vec![
            pb::FamilyOptions {
                name: "a".into(),
                max_versions: 3,
                ..Default::default()
            },
            family("b"),
        ],
    })
    .await
    .expect("create");
    for (row, f, q, ts, v) in CELLS {
        c.mutate(pb::MutateRequest {
            table: "t".into(),
            row: row.as_bytes().to_vec().into(),
            mutations: vec![set(f, q.as_bytes(), v.as_bytes(), T0 + ts)],
        })
        .await
        .expect("put");
    }
}

/// `"r1 a:x@3=v1 ..."`, timestamps relative to T0; a 4-byte value starting with 0 shown as
/// `#length`.
fn show(r: &pb::Row) -> String {
    let mut s = String::from_utf8_lossy(&r.key).into_owned();
    for c in &r.cells {
        let v = &c.value;
        let value = if v.len() == 4 && v[0] == 0 {
            format!("#{}", u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
        } else {
            String::from_utf8_lossy(v).into_owned()
        };
        s += &format!(
            " {}:{}@{}={value}",
            c.family,
            String::from_utf8_lossy(&c.qualifier),
            c.timestamp_micros - T0
        );
    }
    s
}

async fn scan(c: &mut Client, filter: &str, max_versions: u32) -> Vec<String> {
    let (rows, _) = scan_all(
        c,
        pb::ScanRequest {
            table: "t".into(),
            filter: filter.into(),
            max_versions,
            // Small batches, so the filter's state carries across replies.
            batch_size: 2,
            ..Default::default()
        },
    )
    .await
    .unwrap_or_else(|s| panic!("scan {filter}: {s:?}"));
    rows.iter().map(show).collect()
}

async fn get(c: &mut Client, row: &str, filter: &str, max_versions: u32) -> Option<String> {
    let r = c
        .get(pb::GetRequest {
            table: "t".into(),
            row: row.as_bytes().to_vec().into(),
            filter: filter.into(),
            max_versions,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("get {row} {filter}: {s:?}"))
        .into_inner();
    assert_eq!(r.found, r.row.is_some());
    r.row.as_ref().map(show)
}

const R1: &str = "r1 a:x@3=v1 a:x@2=old a:y@3=gopay b:z@3=1";
const R2: &str = "r2 a:x@3=v2 b:z@3=2";
const R3: &str = "r3 a:y@3=OVO b:w@3= b:z@3=3";
const S1: &str = "s1 a:x@3=v1";
const T1: &str = "t1 b:z@3=9";

/// (filter, versions, the scan's rows, each row's Get: `None` when it is the scan's row).
type Case = (
    &'static str,
    u32,
    &'static [&'static str],
    Option<[Option<&'static str>; 5]>,
);

const CASES: &[Case] = &[
    ("PrefixFilter('r')", 3, &[R1, R2, R3], None),
    (
        "PrefixFilter('r2') AND KeyOnlyFilter()",
        3,
        &["r2 a:x@3= b:z@3="],
        None,
    ),
    (
        "PrefixFilter('r2') AND KeyOnlyFilter(true)",
        3,
        &["r2 a:x@3=#2 b:z@3=#1"],
        None,
    ),
    (
        "FirstKeyOnlyFilter()",
        3,
        &["r1 a:x@3=v1", "r2 a:x@3=v2", "r3 a:y@3=OVO", S1, T1],
        None,
    ),
    (
        "SingleColumnValueFilter('a', 'x', =, 'binary:v1')",
        3,
        &[R1, R3, S1, T1],
        None,
    ),
    (
        "SingleColumnValueFilter('a', 'x', =, 'binary:v1', true, true)",
        3,
        &[R1, S1],
        None,
    ),
    (
        "SingleColumnValueFilter('a', 'x', =, 'binary:old', true, true)",
        3,
        &[],
        None,
    ),
    (
        "SingleColumnValueFilter('a', 'x', =, 'binary:old', true, false)",
        1,
        &["r1 a:x@3=v1 a:y@3=gopay b:z@3=1"],
        None,
    ),
    (
        "SingleColumnValueExcludeFilter('a', 'x', =, 'binary:v1')",
        3,
        &["r1 a:y@3=gopay b:z@3=1", R3, T1],
        None,
    ),
    ("RowFilter(<=, 'binary:r2')", 3, &[R1, R2], None),
    ("RowFilter(=, 'regexstring:^[st]')", 3, &[S1, T1], None),
    (
        "FamilyFilter(=, 'binary:b')",
        1,
        &["r1 b:z@3=1", "r2 b:z@3=2", "r3 b:w@3= b:z@3=3", T1],
        None,
    ),
    (
        "QualifierFilter(>, 'binaryprefix:x')",
        1,
        &[
            "r1 a:y@3=gopay b:z@3=1",
            "r2 b:z@3=2",
            "r3 a:y@3=OVO b:z@3=3",
            T1,
        ],
        None,
    ),
    (
        "ValueFilter(=, 'substring:GOPAY')",
        3,
        &["r1 a:y@3=gopay"],
        None,
    ),
    // The version count applies to what the filter keeps: the older matching version.
    ("ValueFilter(=, 'binary:old')", 1, &["r1 a:x@2=old"], None),
    (
        "ColumnPrefixFilter('y')",
        3,
        &["r1 a:y@3=gopay", "r3 a:y@3=OVO"],
        None,
    ),
    (
        "MultipleColumnPrefixFilter('y', 'w')",
        3,
        &["r1 a:y@3=gopay", "r3 a:y@3=OVO b:w@3="],
        None,
    ),
    (
        "ColumnRangeFilter('x', false, 'z', false)",
        3,
        &["r1 a:y@3=gopay", "r3 a:y@3=OVO"],
        None,
    ),
    (
        "TimestampsFilter(1700000000000002)",
        3,
        &["r1 a:x@2=old"],
        None,
    ),
    ("InclusiveStopFilter('r2')", 3, &[R1, R2], None),
    (
        "PageFilter(2)",
        3,
        &[R1, R2],
        Some([Some(R1), Some(R2), Some(R3), Some(S1), Some(T1)]),
    ),
    (
        "SingleColumnValueFilter('b', 'z', =, 'binary:3') AND PageFilter(1)",
        3,
        &[R3],
        // Each Get has its own page; s1 lacks b:z, so it passes.
        Some([None, None, Some(R3), Some(S1), None]),
    ),
    (
        "ColumnCountGetFilter(2)",
        1,
        &["r1 a:x@3=v1 a:y@3=gopay"],
        Some([
            Some("r1 a:x@3=v1 a:y@3=gopay"),
            Some(R2),
            Some("r3 a:y@3=OVO b:w@3="),
            Some(S1),
            Some(T1),
        ]),
    ),
    (
        "SKIP ValueFilter(!=, 'binary:')",
        3,
        &[R1, R2, S1, T1],
        None,
    ),
    ("WHILE RowFilter(<, 'binary:r3')", 3, &[R1, R2], None),
    (
        "WHILE ValueFilter(!=, 'binary:3')",
        3,
        &[R1, R2, "r3 a:y@3=OVO b:w@3="],
        Some([
            Some(R1),
            Some(R2),
            Some("r3 a:y@3=OVO b:w@3="),
            Some(S1),
            Some(T1),
        ]),
    ),
    (
        "RowFilter(=, 'binary:r2') OR ValueFilter(=, 'binary:v1')",
        3,
        &["r1 a:x@3=v1", R2, "s1 a:x@3=v1"],
        None,
    ),
    (
        "(PrefixFilter('r1') OR PrefixFilter('t')) AND (ColumnPrefixFilter('x') OR FamilyFilter(=, 'binary:b'))",
        3,
        &["r1 a:x@3=v1 a:x@2=old b:z@3=1", T1],
        None,
    ),
];

#[tokio::test]
async fn every_filter_through_scan_and_get() {
    let server = Server::start().await;
    let mut c = server.client().await;
    load(&mut c).await;
    assert_eq!(scan(&mut c, "", 3).await, [R1, R2, R3, S1, T1]);
    for &(filter, versions, want, gets) in CASES {
        assert_eq!(scan(&mut c, filter, versions).await, want, "scan {filter}");
        for (i, key) in KEYS.iter().enumerate() {
            let expected = match gets {
                Some(g) => g[i].map(str::to_string),
                None => want
                    .iter()
                    .find(|r| r.split(' ').next() == Some(*key))
                    .map(|r| r.to_string()),
            };
            assert_eq!(
                get(&mut c, key, filter, versions).await,
                expected,
                "get {key} {filter}"
            );
        }
    }
}

#[tokio::test]
async fn bad_filters_are_invalid_argument_naming_the_byte_offset() {
    let server = Server::start().await;
    let mut c = server.client().await;
    load(&mut c).await;
    for (filter, needles) in [
        (
            "PrefixFilter('a') AND",
            &["byte 21", "expected a filter"][..],
        ),
        (
            "NoSuchFilter()",
            &["byte 0", "unknown filter 'NoSuchFilter'"],
        ),
        (
            "ValueFilter(<, 'regexstring:a')",
            &["byte 12", "only = and !="],
        ),
        (
            "ValueFilter(=, 'regexstring:(a')",
            &["byte 28", "unclosed group"],
        ),
        ("PageFilter(-1)", &["byte 11", "out of range"]),
    ] {
        let s = c
            .scan(pb::ScanRequest {
                table: "t".into(),
                filter: filter.into(),
                ..Default::default()
            })
            .await
            .map(|_| ())
            .expect_err(filter);
        assert_status(&s, Code::InvalidArgument, needles);
        let s = c
            .get(pb::GetRequest {
                table: "t".into(),
                row: b"r1".to_vec().into(),
                filter: filter.into(),
                ..Default::default()
            })
            .await
            .expect_err(filter);
        assert_status(&s, Code::InvalidArgument, needles);
    }
    // Deep nesting is an error, not a crashed server.
    let deep = format!(
        "{}FirstKeyOnlyFilter(){}",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    let s = c
        .scan(pb::ScanRequest {
            table: "t".into(),
            filter: deep,
            ..Default::default()
        })
        .await
        .map(|_| ())
        .expect_err("deep");
    assert_status(&s, Code::InvalidArgument, &["nested"]);
    assert_eq!(
        scan(&mut c, "", 1).await.len(),
        5,
        "the server still answers"
    );
}

#[tokio::test]
async fn a_filter_dropping_almost_every_row_neither_ends_the_scan_nor_sends_empty_replies() {
    let server = Server::start().await;
    let mut c = server.client().await;
    create_table(&mut c, "big", &["f"]).await;
    const ROWS: usize = 12_000;
    let wanted = [17usize, 5_000, 11_999];
    for start in (0..ROWS).step_by(2_000) {
        let entries = (start..start + 2_000)
            .map(|i| pb::RowMutations {
                row: format!("k{i:05}").into_bytes().into(),
                mutations: vec![set(
                    "f",
                    b"q",
                    if wanted.contains(&i) { b"hit" } else { b"miss" },
                    0,
                )],
            })
            .collect();
        c.mutate_rows(pb::MutateRowsRequest {
            table: "big".into(),
            entries,
        })
        .await
        .expect("write");
    }
    let scan_big = |limit: u64, keys_only: bool| pb::ScanRequest {
        table: "big".into(),
        filter: "ValueFilter(=, 'binary:hit')".into(),
        limit,
        keys_only,
        ..Default::default()
    };
    let mut stream = c.scan(scan_big(0, false)).await.expect("scan").into_inner();
    let mut keys = Vec::new();
    while let Some(reply) = stream.message().await.expect("reply") {
        assert!(!reply.rows.is_empty(), "an empty reply");
        for r in reply.rows {
            assert_eq!(cells(&r), [triple("f", "q", "hit")]);
            keys.push(String::from_utf8(r.key.to_vec()).expect("utf-8"));
        }
    }
    let want: Vec<String> = wanted.iter().map(|i| format!("k{i:05}")).collect();
    assert_eq!(keys, want);
    // The limit counts rows the filter keeps.
    let (rows, _) = scan_all(&mut c, scan_big(2, false)).await.expect("scan");
    let got: Vec<&[u8]> = rows.iter().map(|r| r.key.as_ref()).collect();
    assert_eq!(got, [want[0].as_bytes(), want[1].as_bytes()]);
    // keys_only strips the cells after the filter has seen them.
    let (rows, _) = scan_all(&mut c, scan_big(0, true)).await.expect("scan");
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.cells.is_empty()));
}
