//! The atomic methods at the message level: `atomicIncrement` (happybase's counters),
//! `increment`/`incrementRows`, `append` and `checkAndPut` (which happybase does not expose:
//! tested only here), against a real store.

use super::*;
use crate::thrift::types::{TAppend, TIncrement};

impl Fixture {
    fn incr(&self, row: &str, column: &str, by: i64) -> Answer<i64> {
        self.call(
            "atomicIncrement",
            |w| {
                bin(w, 1, b"t");
                bin(w, 2, row.as_bytes());
                bin(w, 3, column.as_bytes());
                w.write_field_begin(TType::I64, 4);
                w.write_i64(by);
            },
            |r| r.read_i64().expect("i64"),
        )
    }

    fn check_and_put(&self, column: &str, value: Option<&str>, put: (&str, &str)) -> Answer<bool> {
        self.call(
            "checkAndPut",
            |w| {
                bin(w, 1, b"t");
                bin(w, 2, b"r");
                bin(w, 3, column.as_bytes());
                if let Some(v) = value {
                    bin(w, 5, v.as_bytes());
                }
                w.write_field_begin(TType::Struct, 6);
                Mutation {
                    column: Bytes::copy_from_slice(put.0.as_bytes()),
                    value: Some(Bytes::copy_from_slice(put.1.as_bytes())),
                    ..Mutation::default()
                }
                .write(w);
                attributes(w, 7);
            },
            |r| r.read_bool().expect("bool"),
        )
    }

    fn counter(&self, row: &str, column: &str) -> Option<i64> {
        let rows = self.row("t", row, Some(&[column]));
        let cell = rows.first()?.columns.as_ref()?.0.first()?.1.value.clone();
        Some(i64::from_be_bytes(cell[..].try_into().expect("8 bytes")))
    }
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

#[test]
fn atomic_increment_returns_the_new_value_as_happybase_counters_expect() {
    let f = fixture();
    f.create("t", &[family("cf")]).void_ok();
    // counter_inc, counter_dec, counter_get (an increment by 0: creates the cell at 0).
    assert_eq!(f.incr("r", "cf:n", 1).ok(), 1);
    assert_eq!(f.incr("r", "cf:n", 5).ok(), 6);
    assert_eq!(f.incr("r", "cf:n", -2).ok(), 4);
    assert_eq!(f.incr("r", "cf:zero", 0).ok(), 0);
    assert_eq!(f.counter("r", "cf:zero"), Some(0));
    assert_eq!(f.counter("r", "cf:n"), Some(4));
    // counter_set is a put of 8 big-endian bytes; increments go on from it.
    f.void("mutateRow", |w| {
        bin(w, 1, b"t");
        bin(w, 2, b"r");
        w.write_field_begin(TType::List, 3);
        vec![Mutation {
            column: b("cf:n"),
            value: Some(Bytes::copy_from_slice(&100i64.to_be_bytes())),
            ..Mutation::default()
        }]
        .write(w);
        attributes(w, 4);
    })
    .void_ok();
    assert_eq!(f.incr("r", "cf:n", 1).ok(), 101);
    // A bare family is its empty qualifier, as in HBase.
    assert_eq!(f.incr("r", "cf", 3).ok(), 3);
    assert_eq!(f.counter("r", "cf:"), Some(3));
}

#[test]
fn a_cell_that_is_not_a_counter_is_an_io_error_naming_it() {
    let f = fixture();
    f.create("t", &[family("cf")]).void_ok();
    f.put("t", "r", &[("cf:text", "hello")], None).void_ok();
    let m = f.incr("r", "cf:text", 1).thrown(1);
    assert!(m.contains("cf:text") && m.contains("8-byte"), "{m}");
    let m = f.incr("r", "nofam:q", 1).thrown(1);
    assert!(m.contains("nofam"), "{m}");
    let m = f.incr("r", ":q", 1).thrown(2);
    assert!(m.contains("no family"), "{m}");
}

#[test]
fn increment_and_increment_rows_add_to_counters_of_several_rows() {
    let f = fixture();
    f.create("t", &[family("cf")]).void_ok();
    let inc = |row: &str, column: &str, amount: i64| TIncrement {
        table: b("t"),
        row: b(row),
        column: b(column),
        amount,
    };
    f.void("increment", |w| {
        w.write_field_begin(TType::Struct, 1);
        inc("a", "cf:n", 7).write(w);
    })
    .void_ok();
    f.void("incrementRows", |w| {
        w.write_field_begin(TType::List, 1);
        vec![
            inc("a", "cf:n", 1),
            inc("b", "cf:n", 2),
            inc("a", "cf:m", 3),
        ]
        .write(w);
    })
    .void_ok();
    assert_eq!(f.counter("a", "cf:n"), Some(8));
    assert_eq!(f.counter("a", "cf:m"), Some(3));
    assert_eq!(f.counter("b", "cf:n"), Some(2));
    // A bad column anywhere in the list: nothing of it is applied.
    let m = f
        .void("incrementRows", |w| {
            w.write_field_begin(TType::List, 1);
            vec![inc("a", "cf:n", 1), inc("a", ":x", 1)].write(w);
        })
        .thrown(1);
    assert!(m.contains("increment 1"), "{m}");
    assert_eq!(f.counter("a", "cf:n"), Some(8));
}

#[test]
fn append_returns_the_new_cells_in_milliseconds() {
    let f = fixture();
    f.create("t", &[family("cf")]).void_ok();
    f.put("t", "r", &[("cf:a", "ab")], Some(5)).void_ok();
    let before = crate::thrift::time::to_millis(strata_engine::now_micros());
    let app = TAppend {
        table: b("t"),
        row: b("r"),
        columns: vec![b("cf:b"), b("cf:a")],
        values: vec![b("x"), b("cd")],
    };
    let cells = f
        .call(
            "append",
            |w| {
                w.write_field_begin(TType::Struct, 1);
                app.write(w);
            },
            |r| Vec::<TCell>::read(r).expect("cells"),
        )
        .ok();
    // In column order: cf:a, then cf:b.
    let values: Vec<_> = cells.iter().map(|c| c.value.clone()).collect();
    assert_eq!(values, vec![b("abcd"), b("x")]);
    assert!(cells.iter().all(|c| c.timestamp >= before), "{cells:?}");
    let got = f.row("t", "r", None);
    assert_eq!(
        columns(&got[0]),
        vec![pair("cf:a", "abcd"), pair("cf:b", "x")]
    );
    // Columns and values must pair up.
    let bad = TAppend {
        values: vec![b("only one")],
        ..app
    };
    let m = f
        .void("append", |w| {
            w.write_field_begin(TType::Struct, 1);
            bad.write(w);
        })
        .thrown(1);
    assert!(m.contains("2 columns but 1 values"), "{m}");
}

#[test]
fn check_and_put_applies_only_when_the_value_matches_or_the_column_is_absent() {
    let f = fixture();
    f.create("t", &[family("cf")]).void_ok();
    // No value: the column must not exist.
    assert!(f.check_and_put("cf:lock", None, ("cf:lock", "me")).ok());
    assert!(!f.check_and_put("cf:lock", None, ("cf:lock", "you")).ok());
    // A value: the latest one must equal it.
    assert!(!f.check_and_put("cf:lock", Some("you"), ("cf:x", "1")).ok());
    assert!(f.check_and_put("cf:lock", Some("me"), ("cf:x", "2")).ok());
    let got = f.row("t", "r", None);
    assert_eq!(
        columns(&got[0]),
        vec![pair("cf:lock", "me"), pair("cf:x", "2")]
    );
    // A put without a qualifier is an IllegalArgument, as in mutateRow.
    let m = f.check_and_put("cf:lock", None, ("cf", "v")).thrown(2);
    assert!(m.contains("family:qualifier"), "{m}");
}
