//! The methods end to end at the message level (encode a call, dispatch it against a real
//! store, decode the reply): HBase's semantics as happybase sees them, the declared
//! exceptions, and the methods that answer "not supported yet". The atomic methods are in
//! `tests/atomic.rs`.

use std::net::SocketAddr;

use bytes::Bytes;
use strata_engine::{Db, DbOptions};

use super::*;
use crate::config::ThriftOptions;
use crate::thrift::protocol::{Binary, Compact};
use crate::thrift::types::{
    BatchMutation, ColumnDescriptor, Mutation, TCell, TRegionInfo, TRowResult, TScan, Value,
};

mod atomic;

struct Fixture {
    _dir: tempfile::TempDir,
    gw: Gateway,
    peer: Peer,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), DbOptions::default()).expect("open");
    let peer = Peer::at(SocketAddr::from(([127, 0, 0, 1], 9090)));
    Fixture {
        _dir: dir,
        gw: Gateway::new(
            db,
            ThriftOptions::default(),
            crate::scan_budget::ScanBudget::new(crate::ServiceOptions::default().scan_limits()),
        ),
        peer,
    }
}

/// What a reply said.
#[derive(Debug, PartialEq)]
enum Answer<T> {
    Ok(T),
    Void,
    /// A declared exception: its field id and message.
    Thrown(i16, String),
    /// A `TApplicationException`: its type and message.
    App(i32, String),
}

impl<T: std::fmt::Debug> Answer<T> {
    fn ok(self) -> T {
        match self {
            Answer::Ok(v) => v,
            other => panic!("expected a value, got {other:?}"),
        }
    }

    fn void_ok(self) {
        assert!(
            matches!(self, Answer::Void),
            "expected success, got {self:?}"
        );
    }

    fn thrown(self, field: i16) -> String {
        match self {
            Answer::Thrown(f, m) if f == field => m,
            other => panic!("expected exception field {field}, got {other:?}"),
        }
    }
}

type W = <Binary as Codec>::Writer;

impl Fixture {
    fn call_with<C: Codec, T>(
        &self,
        name: &str,
        seqid: i32,
        args: impl FnOnce(&mut C::Writer),
        read: impl FnOnce(&mut C::Reader<'_>) -> T,
    ) -> Answer<T> {
        let mut w = C::writer(128);
        w.write_message_begin(name, MessageType::Call, seqid);
        w.write_struct_begin();
        args(&mut w);
        w.write_struct_end();
        let msg = Bytes::from(w.finish());
        let reply = handle::<C>(&self.gw, &self.peer, &msg).expect("a reply");
        let reply = Bytes::from(reply);
        let mut r = C::reader(Cursor::shared(&reply), C::State::default());
        let h = r.read_message_begin().expect("reply header");
        assert_eq!(h.name, name);
        assert_eq!(h.seqid, seqid);
        if h.kind == MessageType::Exception {
            let e = ApplicationException::read(&mut r).expect("exception");
            return Answer::App(e.kind, e.message);
        }
        assert_eq!(h.kind, MessageType::Reply);
        r.read_struct_begin().expect("result");
        let answer = match r.read_field_begin().expect("field") {
            None => Answer::Void,
            Some((_, 0)) => Answer::Ok(read(&mut r)),
            Some((TType::Struct, id)) => Answer::Thrown(
                id,
                ExceptionMessage::read(&mut r).expect("exception").message,
            ),
            Some(other) => panic!("unexpected result field {other:?}"),
        };
        if !matches!(answer, Answer::Void) {
            assert_eq!(r.read_field_begin(), Ok(None), "one result field");
        }
        answer
    }

    fn call<T>(
        &self,
        name: &str,
        args: impl FnOnce(&mut W),
        read: impl FnOnce(&mut <Binary as Codec>::Reader<'_>) -> T,
    ) -> Answer<T> {
        self.call_with::<Binary, T>(name, 7, args, read)
    }

    fn void(&self, name: &str, args: impl FnOnce(&mut W)) -> Answer<()> {
        self.call(name, args, |_| ())
    }

    fn create(&self, table: &str, families: &[ColumnDescriptor]) -> Answer<()> {
        self.void("createTable", |w| {
            bin(w, 1, table.as_bytes());
            w.write_field_begin(TType::List, 2);
            families.to_vec().write(w);
        })
    }

    fn put(&self, table: &str, row: &str, cells: &[(&str, &str)], ts: Option<i64>) -> Answer<()> {
        let batch = BatchMutation {
            row: Bytes::copy_from_slice(row.as_bytes()),
            mutations: cells
                .iter()
                .map(|(c, v)| Mutation {
                    column: Bytes::copy_from_slice(c.as_bytes()),
                    value: Some(Bytes::copy_from_slice(v.as_bytes())),
                    ..Mutation::default()
                })
                .collect(),
        };
        let name = if ts.is_some() {
            "mutateRowsTs"
        } else {
            "mutateRows"
        };
        self.void(name, |w| {
            bin(w, 1, table.as_bytes());
            w.write_field_begin(TType::List, 2);
            vec![batch].write(w);
            if let Some(ts) = ts {
                w.write_field_begin(TType::I64, 3);
                w.write_i64(ts);
            }
            attributes(w, 4);
        })
    }

    fn row(&self, table: &str, row: &str, columns: Option<&[&str]>) -> Vec<TRowResult> {
        self.call(
            "getRowWithColumns",
            |w| {
                bin(w, 1, table.as_bytes());
                bin(w, 2, row.as_bytes());
                if let Some(cols) = columns {
                    w.write_field_begin(TType::List, 3);
                    names(cols).write(w);
                }
                attributes(w, 4);
            },
            |r| Vec::<TRowResult>::read(r).expect("rows"),
        )
        .ok()
    }

    fn scan(&self, table: &str, scan: &TScan, n: i32) -> Vec<Vec<TRowResult>> {
        let id = self
            .call(
                "scannerOpenWithScan",
                |w| {
                    bin(w, 1, table.as_bytes());
                    w.write_field_begin(TType::Struct, 2);
                    scan.write(w);
                    attributes(w, 3);
                },
                |r| r.read_i32().expect("id"),
            )
            .ok();
        let mut pages = Vec::new();
        loop {
            let page = self.get_list(id, n).ok();
            if page.is_empty() {
                break;
            }
            pages.push(page);
        }
        assert_eq!(
            self.void("scannerClose", |w| i32_field(w, 1, id)),
            Answer::Void
        );
        pages
    }

    fn get_list(&self, id: i32, n: i32) -> Answer<Vec<TRowResult>> {
        self.call(
            "scannerGetList",
            |w| {
                i32_field(w, 1, id);
                i32_field(w, 2, n);
            },
            |r| Vec::<TRowResult>::read(r).expect("rows"),
        )
    }
}

fn bin(w: &mut W, id: i16, v: &[u8]) {
    w.write_field_begin(TType::Binary, id);
    w.write_binary(v);
}

fn i32_field(w: &mut W, id: i16, v: i32) {
    w.write_field_begin(TType::I32, id);
    w.write_i32(v);
}

/// The empty `attributes` map happybase always sends.
fn attributes(w: &mut W, id: i16) {
    w.write_field_begin(TType::Map, id);
    w.write_map_begin(TType::Binary, TType::Binary, 0);
}

fn names(cols: &[&str]) -> Vec<Bytes> {
    cols.iter()
        .map(|c| Bytes::copy_from_slice(c.as_bytes()))
        .collect()
}

fn family(name: &str) -> ColumnDescriptor {
    ColumnDescriptor {
        name: Bytes::copy_from_slice(format!("{name}:").as_bytes()),
        ..ColumnDescriptor::default()
    }
}

fn columns(r: &TRowResult) -> Vec<(String, String)> {
    r.columns
        .iter()
        .flat_map(|m| m.0.iter())
        .map(|(n, c)| {
            (
                String::from_utf8_lossy(n).into_owned(),
                String::from_utf8_lossy(&c.value).into_owned(),
            )
        })
        .collect()
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

#[test]
fn tables_are_created_listed_sorted_described_and_deleted() {
    let f = fixture();
    assert_eq!(f.create("zeta", &[family("cf")]), Answer::Void);
    assert_eq!(f.create("alpha", &[family("a"), family("b")]), Answer::Void);
    let listed = f
        .call(
            "getTableNames",
            |_| {},
            |r| Vec::<Bytes>::read(r).expect("names"),
        )
        .ok();
    assert_eq!(listed, names(&["alpha", "zeta"]));
    let dup = f.create("alpha", &[family("a")]).thrown(3);
    assert!(dup.contains("alpha"), "{dup}");
    let ds = f
        .call(
            "getColumnDescriptors",
            |w| bin(w, 1, b"alpha"),
            |r| {
                let (_, _, n) = r.read_map_begin().expect("map");
                (0..n)
                    .map(|_| {
                        let k = r.read_binary().expect("key");
                        (k, ColumnDescriptor::read(r).expect("descriptor"))
                    })
                    .collect::<Vec<_>>()
            },
        )
        .ok();
    assert_eq!(ds.len(), 2);
    assert_eq!(&ds[0].0[..], b"a:");
    assert_eq!(ds[0].1.max_versions, 3);
    assert_eq!(ds[0].1.compression, "NONE");
    assert_eq!(ds[0].1.time_to_live, i32::MAX);
    // As HBase: an enabled table is not deleted.
    let enabled = f.void("deleteTable", |w| bin(w, 1, b"zeta")).thrown(1);
    assert!(
        enabled.contains("zeta") && enabled.contains("enabled"),
        "{enabled}"
    );
    assert_eq!(f.void("disableTable", |w| bin(w, 1, b"zeta")), Answer::Void);
    assert_eq!(f.void("deleteTable", |w| bin(w, 1, b"zeta")), Answer::Void);
    let gone = f.void("deleteTable", |w| bin(w, 1, b"zeta")).thrown(1);
    assert!(gone.contains("zeta"), "{gone}");
    let enabled = f.call("isTableEnabled", |w| bin(w, 1, b"alpha"), |r| r.read_bool());
    assert_eq!(enabled, Answer::Ok(Ok(true)));
}

#[test]
fn bad_family_options_are_illegal_arguments() {
    let f = fixture();
    let bad = ColumnDescriptor {
        max_versions: 0,
        ..family("cf")
    };
    let m = f.create("t", &[bad]).thrown(2);
    assert!(m.contains("maxVersions"), "{m}");
    let m = f.create("t", &[]).thrown(2);
    assert!(m.contains("family"), "{m}");
}

#[test]
fn regions_are_one_per_table_and_none_for_a_missing_table() {
    let f = fixture();
    f.create("t", &[family("cf")]);
    let regions = |table: &'static [u8]| {
        f.call(
            "getTableRegions",
            |w| bin(w, 1, table),
            |r| Vec::<TRegionInfo>::read(r).expect("regions"),
        )
        .ok()
    };
    let one = regions(b"t");
    assert_eq!(one.len(), 1);
    assert!(one[0].start_key.is_empty() && one[0].end_key.is_empty());
    assert_eq!(one[0].port, 9090);
    assert!(regions(b"missing").is_empty());
}

#[test]
fn puts_and_row_reads_follow_hbase_column_rules() {
    let f = fixture();
    f.create("t", &[family("cf"), family("cg")]);
    assert_eq!(
        f.put(
            "t",
            "r1",
            &[("cf:a", "1"), ("cf:", "empty"), ("cg:b", "2")],
            None
        ),
        Answer::Void
    );
    // Absent columns: every family.
    let all = f.row("t", "r1", None);
    assert_eq!(all.len(), 1);
    assert_eq!(&all[0].row[..], b"r1");
    assert_eq!(
        columns(&all[0]),
        vec![pair("cf:", "empty"), pair("cf:a", "1"), pair("cg:b", "2")]
    );
    // `cf` is the family, `cf:` the empty qualifier, `cf:a` one column.
    assert_eq!(columns(&f.row("t", "r1", Some(&["cf"]))[0]).len(), 2);
    assert_eq!(
        columns(&f.row("t", "r1", Some(&["cf:"]))[0]),
        vec![pair("cf:", "empty")]
    );
    assert_eq!(
        columns(&f.row("t", "r1", Some(&["cf:a", "cg"]))[0]),
        vec![pair("cf:a", "1"), pair("cg:b", "2")]
    );
    // Missing rows and rows without matching cells are omitted.
    assert!(f.row("t", "nope", None).is_empty());
    assert!(f.row("t", "r1", Some(&["cf:zz"])).is_empty());
    // A put without a qualifier is an IllegalArgument; a missing family an IOError.
    let m = f.put("t", "r2", &[("cf", "x")], None).thrown(2);
    assert!(m.contains("qualifier"), "{m}");
    let m = f.put("t", "r2", &[("nofam:x", "x")], None).thrown(1);
    assert!(m.contains("nofam"), "{m}");
    // A missing table is an IOError naming it.
    let m = f
        .call(
            "getRowWithColumns",
            |w| {
                bin(w, 1, b"nope");
                bin(w, 2, b"x");
            },
            |_| (),
        )
        .thrown(1);
    assert!(m.contains("nope"), "{m}");
}

#[test]
fn timestamps_are_milliseconds_and_read_bounds_are_exclusive() {
    let f = fixture();
    let three = ColumnDescriptor {
        max_versions: 3,
        ..family("cf")
    };
    f.create("t", &[three]);
    f.put("t", "r", &[("cf:a", "old")], Some(1000));
    f.put("t", "r", &[("cf:a", "mid")], Some(2000));
    f.put("t", "r", &[("cf:a", "new")], Some(3000));
    let ver = |n: i32, ts: Option<i64>| {
        let name = if ts.is_some() { "getVerTs" } else { "getVer" };
        f.call(
            name,
            |w| {
                bin(w, 1, b"t");
                bin(w, 2, b"r");
                bin(w, 3, b"cf:a");
                match ts {
                    Some(ts) => {
                        w.write_field_begin(TType::I64, 4);
                        w.write_i64(ts);
                        i32_field(w, 5, n);
                    }
                    None => i32_field(w, 4, n),
                }
            },
            |r| Vec::<TCell>::read(r).expect("cells"),
        )
        .ok()
        .into_iter()
        .map(|c| (String::from_utf8_lossy(&c.value).into_owned(), c.timestamp))
        .collect::<Vec<_>>()
    };
    assert_eq!(
        ver(i32::MAX, None),
        vec![
            ("new".into(), 3000),
            ("mid".into(), 2000),
            ("old".into(), 1000)
        ]
    );
    assert_eq!(ver(1, None), vec![("new".to_string(), 3000)]);
    // The bound 3000 excludes the version at 3000; 3001 includes it.
    assert_eq!(
        ver(10, Some(3000)),
        vec![("mid".into(), 2000), ("old".into(), 1000)]
    );
    assert_eq!(ver(1, Some(3001)), vec![("new".to_string(), 3000)]);
    let m = f
        .call(
            "getVer",
            |w| {
                bin(w, 1, b"t");
                bin(w, 2, b"r");
                bin(w, 3, b"cf:a");
                i32_field(w, 4, 0);
            },
            |_| (),
        )
        .thrown(1);
    assert!(m.contains("numVersions"), "{m}");
}

#[test]
fn deletes_without_timestamp_remove_columns_families_and_rows() {
    let f = fixture();
    f.create("t", &[family("cf"), family("cg")]);
    for r in ["r1", "r2", "r3"] {
        f.put("t", r, &[("cf:a", "1"), ("cf:b", "2"), ("cg:c", "3")], None);
    }
    let del = |row: &str, column: &str| BatchMutation {
        row: Bytes::copy_from_slice(row.as_bytes()),
        mutations: vec![Mutation {
            is_delete: true,
            column: Bytes::copy_from_slice(column.as_bytes()),
            ..Mutation::default()
        }],
    };
    let batches = vec![del("r1", "cf:a"), del("r2", "cf")];
    assert_eq!(
        f.void("mutateRows", |w| {
            bin(w, 1, b"t");
            w.write_field_begin(TType::List, 2);
            batches.write(w);
        }),
        Answer::Void
    );
    assert_eq!(
        columns(&f.row("t", "r1", None)[0]),
        vec![pair("cf:b", "2"), pair("cg:c", "3")]
    );
    assert_eq!(columns(&f.row("t", "r2", None)[0]), vec![pair("cg:c", "3")]);
    assert_eq!(
        f.void("deleteAllRow", |w| {
            bin(w, 1, b"t");
            bin(w, 2, b"r3");
        }),
        Answer::Void
    );
    assert!(f.row("t", "r3", None).is_empty());
    assert_eq!(
        f.void("deleteAll", |w| {
            bin(w, 1, b"t");
            bin(w, 2, b"r1");
            bin(w, 3, b"cg");
        }),
        Answer::Void
    );
    assert_eq!(columns(&f.row("t", "r1", None)[0]), vec![pair("cf:b", "2")]);
}

#[test]
fn scanners_page_through_rows_and_end_with_an_empty_list() {
    let f = fixture();
    f.create("t", &[family("cf")]);
    for i in 0..7 {
        f.put("t", &format!("r{i}"), &[("cf:a", "x"), ("cf:b", "y")], None);
    }
    let all = f.scan("t", &TScan::default(), 3);
    assert_eq!(all.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 3, 1]);
    let range = TScan {
        start_row: Some(Bytes::from_static(b"r2")),
        stop_row: Some(Bytes::from_static(b"r5")),
        columns: Some(names(&["cf:b"])),
        sort_columns: Some(true),
        ..TScan::default()
    };
    let pages = f.scan("t", &range, 10);
    let rows: Vec<&TRowResult> = pages.iter().flatten().collect();
    assert_eq!(
        rows.iter().map(|r| r.row.to_vec()).collect::<Vec<_>>(),
        vec![b"r2".to_vec(), b"r3".to_vec(), b"r4".to_vec()]
    );
    let sorted = rows[0].sorted_columns.as_ref().expect("sorted columns");
    assert_eq!(sorted.len(), 1);
    assert_eq!(&sorted[0].column_name[..], b"cf:b");
    let batched = TScan {
        batch_size: Some(1),
        ..TScan::default()
    };
    assert_eq!(f.scan("t", &batched, 100).concat().len(), 14);
}

#[test]
fn reversed_scanners_go_down_from_start_row_to_stop_row() {
    let f = fixture();
    f.create("t", &[family("cf")]);
    for i in 0..7 {
        f.put("t", &format!("r{i}"), &[("cf:a", "x"), ("cf:b", "y")], None);
    }
    let keys = |pages: &[Vec<TRowResult>]| -> Vec<String> {
        pages
            .iter()
            .flatten()
            .map(|r| String::from_utf8_lossy(&r.row).into_owned())
            .collect()
    };
    let down = |start: Option<&'static [u8]>, stop: Option<&'static [u8]>| TScan {
        start_row: start.map(Bytes::from_static),
        stop_row: stop.map(Bytes::from_static),
        reversed: Some(true),
        ..TScan::default()
    };
    // Pages of two, the scanner letting go of its version between calls.
    let all = f.scan("t", &down(None, None), 2);
    assert_eq!(
        all.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![2, 2, 2, 1]
    );
    assert_eq!(keys(&all), ["r6", "r5", "r4", "r3", "r2", "r1", "r0"]);
    // startRow inclusive (the high end), stopRow exclusive (the low end).
    assert_eq!(
        keys(&f.scan("t", &down(Some(b"r5"), Some(b"r1")), 10)),
        ["r5", "r4", "r3", "r2"]
    );
    // A row cut into parts (batchSize) still comes in forward column order.
    let parts = TScan {
        batch_size: Some(1),
        ..down(Some(b"r1"), None)
    };
    let got: Vec<(String, Vec<(String, String)>)> = f
        .scan("t", &parts, 10)
        .concat()
        .iter()
        .map(|r| (String::from_utf8_lossy(&r.row).into_owned(), columns(r)))
        .collect();
    assert_eq!(
        got,
        [
            ("r1".to_string(), vec![pair("cf:a", "x")]),
            ("r1".to_string(), vec![pair("cf:b", "y")]),
            ("r0".to_string(), vec![pair("cf:a", "x")]),
            ("r0".to_string(), vec![pair("cf:b", "y")]),
        ]
    );
    // The filter runs in the scan's direction: InclusiveStopFilter stops below its row.
    let stop_filter = TScan {
        filter_string: Some(Bytes::from_static(b"InclusiveStopFilter('r3')")),
        ..down(None, None)
    };
    assert_eq!(
        keys(&f.scan("t", &stop_filter, 10)),
        ["r6", "r5", "r4", "r3"]
    );
}

fn filtered(filter: &str) -> TScan {
    TScan {
        filter_string: Some(Bytes::copy_from_slice(filter.as_bytes())),
        ..TScan::default()
    }
}

#[test]
fn scan_filters_run_in_the_scanner_with_millisecond_timestamps() {
    let f = fixture();
    f.create("t", &[family("cf")]);
    for i in 0..6 {
        let v = if i % 2 == 0 { "even" } else { "odd" };
        f.put(
            "t",
            &format!("r{i}"),
            &[("cf:a", v), ("cf:b", "x")],
            Some(1000 + i),
        );
    }
    let keys = |scan: &TScan| -> Vec<String> {
        f.scan("t", scan, 2)
            .concat()
            .iter()
            .map(|r| String::from_utf8_lossy(&r.row).into_owned())
            .collect()
    };
    assert_eq!(
        keys(&filtered(
            "SingleColumnValueFilter('cf', 'a', =, 'binary:odd')"
        )),
        ["r1", "r3", "r5"]
    );
    // A put at T ms is stored at T*1000 us; TimestampsFilter(T) over Thrift is in ms.
    assert_eq!(
        keys(&filtered("TimestampsFilter(1002, 1004)")),
        ["r2", "r4"]
    );
    let only_a = f.scan(
        "t",
        &filtered("PrefixFilter('r4') AND ColumnPrefixFilter('a')"),
        5,
    );
    assert_eq!(columns(&only_a[0][0]), vec![pair("cf:a", "even")]);
    // The filter sees the TScan's range, columns and batching.
    let mut ranged = filtered("ValueFilter(=, 'binary:even')");
    ranged.start_row = Some(Bytes::from_static(b"r1"));
    ranged.batch_size = Some(1);
    assert_eq!(keys(&ranged), ["r2", "r4"]);
}

#[test]
fn a_filter_rejecting_whole_batches_never_ends_a_scanner_early() {
    let f = fixture();
    f.create("t", &[family("cf")]);
    for i in 0..40 {
        let v = if i == 3 || i == 37 { "hit" } else { "miss" };
        f.put("t", &format!("r{i:02}"), &[("cf:a", v)], None);
    }
    let pages = f.scan("t", &filtered("ValueFilter(=, 'binary:hit')"), 5);
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [2], "both rows in one reply, then the end");
    let keys: Vec<&[u8]> = pages[0].iter().map(|r| &r.row[..]).collect();
    assert_eq!(keys, [&b"r03"[..], b"r37"]);
    let pages = f.scan("t", &filtered("ValueFilter(=, 'binary:hit')"), 1);
    assert_eq!(pages.len(), 2, "one row per call, [] only after the last");
}

#[test]
fn a_bad_filter_string_is_an_io_error_naming_the_position() {
    let f = fixture();
    f.create("t", &[family("cf")]);
    for (filter, needle) in [
        ("PrefixFilter('r') AND", "byte 21"),
        ("NoSuchFilter()", "byte 0"),
        ("ValueFilter(=, 'regexstring:(a')", "byte 28"),
    ] {
        let scan = filtered(filter);
        let m = f
            .void("scannerOpenWithScan", |w| {
                bin(w, 1, b"t");
                w.write_field_begin(TType::Struct, 2);
                scan.write(w);
            })
            .thrown(1);
        assert!(m.starts_with("TScan.filterString: bad filter at "), "{m}");
        assert!(m.contains(needle), "{filter}: {m}");
    }
    assert!(f.gw.scanners.is_empty(), "no scanner left open");
}

#[test]
fn a_closed_or_unknown_scanner_is_an_illegal_argument_naming_its_id() {
    let f = fixture();
    f.create("t", &[family("cf")]);
    f.put("t", "r", &[("cf:a", "x")], None);
    assert_eq!(f.scan("t", &TScan::default(), 10).len(), 1);
    // The scanner (id 0) was closed by scan().
    let m = f.get_list(0, 10).thrown(2);
    assert!(m.contains("scanner ID 0"), "{m}");
    let m = f.void("scannerClose", |w| i32_field(w, 1, 42)).thrown(2);
    assert!(m.contains("42"), "{m}");
}

#[test]
fn timestamped_deletes_hide_the_versions_at_or_before_them_and_later_puts_stay() {
    let f = fixture();
    f.create("t", &[family("cf")]);
    f.put("t", "r", &[("cf:a", "at5"), ("cf:b", "b5")], Some(5))
        .void_ok();
    f.put("t", "r", &[("cf:a", "at10")], Some(10)).void_ok();
    let delete_column = |column: &'static [u8], ts: i64| {
        f.void("deleteAllTs", |w| {
            bin(w, 1, b"t");
            bin(w, 2, b"r");
            bin(w, 3, column);
            w.write_field_begin(TType::I64, 4);
            w.write_i64(ts);
            attributes(w, 5);
        })
        .void_ok();
    };
    // At or before 5 ms: the version at 5 goes, the one at 10 stays.
    delete_column(b"cf:a", 5);
    let got = f.row("t", "r", None);
    assert_eq!(
        columns(&got[0]),
        vec![pair("cf:a", "at10"), pair("cf:b", "b5")]
    );
    // A whole family up to 9 ms: cf:b (5) goes, cf:a (10) stays.
    delete_column(b"cf", 9);
    let got = f.row("t", "r", None);
    assert_eq!(columns(&got[0]), vec![pair("cf:a", "at10")]);
    // The row up to 10 ms: nothing is left.
    f.void("deleteAllRowTs", |w| {
        bin(w, 1, b"t");
        bin(w, 2, b"r");
        w.write_field_begin(TType::I64, 3);
        w.write_i64(10);
        attributes(w, 4);
    })
    .void_ok();
    assert!(f.row("t", "r", None).is_empty());
    // A put written after the delete stays visible whatever its timestamp (write order).
    f.put("t", "r", &[("cf:a", "late3")], Some(3)).void_ok();
    let got = f.row("t", "r", None);
    assert_eq!(columns(&got[0]), vec![pair("cf:a", "late3")]);
}

#[test]
fn a_disabled_table_refuses_reads_and_writes_with_io_errors_naming_it_until_enabled() {
    let f = fixture();
    f.create("t", &[family("cf")]);
    f.create("u", &[family("cf")]);
    f.put("t", "r", &[("cf:a", "x")], None).void_ok();
    let is_enabled = |table: &'static [u8]| {
        f.call("isTableEnabled", |w| bin(w, 1, table), |r| r.read_bool())
            .ok()
            .expect("bool")
    };
    assert_eq!(f.void("disableTable", |w| bin(w, 1, b"t")), Answer::Void);
    assert!(!is_enabled(b"t"));
    assert!(is_enabled(b"u"));
    let flags = f
        .call(
            "getTableNamesWithIsTableEnabled",
            |_| {},
            |r| {
                let (_, _, n) = r.read_map_begin().expect("map");
                (0..n)
                    .map(|_| (r.read_binary().expect("name"), r.read_bool().expect("flag")))
                    .collect::<Vec<_>>()
            },
        )
        .ok();
    assert_eq!(
        flags,
        vec![
            (Bytes::from_static(b"t"), false),
            (Bytes::from_static(b"u"), true)
        ]
    );
    // Reads, scans and writes of the disabled table: IOError naming it.
    let read = f
        .void("getRow", |w| {
            bin(w, 1, b"t");
            bin(w, 2, b"r");
            attributes(w, 3);
        })
        .thrown(1);
    let scan = f
        .void("scannerOpenWithScan", |w| {
            bin(w, 1, b"t");
            w.write_field_begin(TType::Struct, 2);
            TScan::default().write(w);
        })
        .thrown(1);
    let write = f.put("t", "r", &[("cf:a", "y")], None).thrown(1);
    for m in [read, scan, write] {
        assert!(m.contains("table t is disabled"), "{m}");
    }
    // The other table serves.
    f.put("u", "r", &[("cf:a", "y")], None).void_ok();
    // Enabled again: the data is there.
    assert_eq!(f.void("enableTable", |w| bin(w, 1, b"t")), Answer::Void);
    assert!(is_enabled(b"t"));
    assert_eq!(columns(&f.row("t", "r", None)[0]), vec![pair("cf:a", "x")]);
    // A missing table is an IOError naming it.
    let missing = f.void("disableTable", |w| bin(w, 1, b"nope")).thrown(1);
    assert!(missing.contains("nope"), "{missing}");
}

#[test]
fn unknown_methods_and_undecodable_arguments_are_application_exceptions() {
    let f = fixture();
    match f.void("getRowOrBefore", |_| {}) {
        Answer::App(kind, m) => {
            assert_eq!(kind, ApplicationException::UNKNOWN_METHOD);
            assert!(m.contains("getRowOrBefore"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    // A list<i32> where the columns must be a list<binary>.
    match f.void("getRowWithColumns", |w| {
        bin(w, 1, b"t");
        w.write_field_begin(TType::List, 3);
        w.write_list_begin(TType::I32, 1);
        w.write_i32(1);
    }) {
        Answer::App(kind, m) => {
            assert_eq!(kind, ApplicationException::PROTOCOL_ERROR);
            assert!(m.contains("getRowWithColumns"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    // Still answering.
    assert!(matches!(
        f.call("getTableNames", |_| {}, |r| Vec::<Bytes>::read(r)),
        Answer::Ok(Ok(_))
    ));
}

#[test]
fn compact_protocol_calls_get_compact_replies() {
    let f = fixture();
    let created = f.call_with::<Compact, ()>(
        "createTable",
        3,
        |w| {
            w.write_field_begin(TType::Binary, 1);
            w.write_binary(b"c");
            w.write_field_begin(TType::List, 2);
            vec![family("cf")].write(w);
        },
        |_| (),
    );
    assert_eq!(created, Answer::Void);
    let names = f.call_with::<Compact, _>(
        "getTableNames",
        -9,
        |_| {},
        |r| Vec::<Bytes>::read(r).expect("names"),
    );
    assert_eq!(names, Answer::Ok(vec![Bytes::from_static(b"c")]));
}

#[test]
fn every_method_is_listed_once() {
    for (i, m) in METHODS.iter().enumerate() {
        assert!(
            METHODS[..i].iter().all(|o| o.name != m.name),
            "{} twice",
            m.name
        );
        assert!(find(m.name).is_some());
    }
    assert!(find("grant").is_none());
}

#[test]
fn a_scanner_between_calls_holds_no_table_file_and_reads_its_snapshot() {
    let f = fixture();
    f.create("t", &[family("cf")]);
    let sst = f._dir.path().join("sst");
    let files = || {
        std::fs::read_dir(&sst)
            .expect("sst dir")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sst"))
            })
            .count()
    };
    let write_all = |value: &str| {
        for i in 0..4 {
            f.put("t", &format!("r{i}"), &[("cf:a", value)], None);
        }
        f.gw.db.flush("t").expect("flush");
    };
    write_all("1");
    write_all("2");
    let id = f
        .call(
            "scannerOpenWithScan",
            |w| {
                bin(w, 1, b"t");
                w.write_field_begin(TType::Struct, 2);
                TScan::default().write(w);
                attributes(w, 3);
            },
            |r| r.read_i32().expect("id"),
        )
        .ok();
    let first = f.get_list(id, 1).ok();
    assert_eq!(columns(&first[0]), vec![pair("cf:a", "2")]);
    // Overwritten and compacted between two calls: the scanner's files go at once.
    write_all("3");
    f.gw.db.compact("t", true).expect("compact");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while files() != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "{} table files after the compaction: the scanner pins the old ones",
            files()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // It reads on at its snapshot.
    let rest = f.get_list(id, 10).ok();
    type Rows = Vec<(Vec<u8>, Vec<(String, String)>)>;
    let rows: Rows = rest.iter().map(|r| (r.row.to_vec(), columns(r))).collect();
    let want: Rows = (1..4)
        .map(|i| (format!("r{i}").into_bytes(), vec![pair("cf:a", "2")]))
        .collect();
    assert_eq!(rows, want);
}

/// The value of the metric line `series` (0 when absent).
fn metric(series: &str) -> u64 {
    crate::metrics::encode(None)
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn every_call_is_counted_in_the_metrics_with_its_outcome() {
    // The registry is process-wide and other tests call methods too: counts only grow.
    let requests = |m: &str| {
        metric(&format!(
            r#"strata_rpc_requests_total{{api="thrift",method="{m}"}}"#
        ))
    };
    let errors = |m: &str, code: &str| {
        metric(&format!(
            r#"strata_rpc_errors_total{{api="thrift",method="{m}",code="{code}"}}"#
        ))
    };
    let durations =
        || metric(r#"strata_rpc_duration_seconds_count{api="thrift",method="getTableNames"}"#);
    let f = fixture();
    let before = (
        requests("getTableNames"),
        durations(),
        errors("createTable", "AlreadyExists"),
        errors("getRow", "IOError"),
        errors("scannerGetList", "IllegalArgument"),
        errors("unknown", "UNKNOWN_METHOD"),
    );
    for _ in 0..2 {
        f.call(
            "getTableNames",
            |_| {},
            |r| Vec::<Bytes>::read(r).expect("names"),
        )
        .ok();
    }
    f.create("m", &[family("cf")]);
    let _ = f.create("m", &[family("cf")]).thrown(3);
    let _ = f
        .call(
            "getRow",
            |w| {
                bin(w, 1, b"no_such_table");
                bin(w, 2, b"r");
            },
            |r| Vec::<TRowResult>::read(r).expect("rows"),
        )
        .thrown(1);
    let _ = f.get_list(12_345, 1).thrown(2);
    assert!(matches!(f.void("noSuchMethod", |_| {}), Answer::App(..)));
    assert!(requests("getTableNames") >= before.0 + 2);
    assert!(durations() >= before.1 + 2);
    assert!(errors("createTable", "AlreadyExists") > before.2);
    assert!(errors("getRow", "IOError") > before.3);
    assert!(errors("scannerGetList", "IllegalArgument") > before.4);
    assert!(errors("unknown", "UNKNOWN_METHOD") > before.5);
    assert_eq!(errors("getTableNames", "OK"), 0, "a success is no error");
    let text = crate::metrics::encode(None);
    assert!(
        !text.contains(r#"method="noSuchMethod""#),
        "made-up names are not labels"
    );
}
