//! Property tests of the decoders, in both protocols: random bytes never panic (whatever they
//! claim about lengths), every struct survives encode-then-decode unchanged, a struct sent with
//! unknown fields (a newer IDL) decodes to the same value, and the framer finds the same end of
//! a message however its bytes are split.

use bytes::Bytes;
use proptest::prelude::*;

use super::protocol::skip::{Limits, MessageFramer, skip};
use super::protocol::{
    Binary, Codec, Compact, Cursor, InputProtocol, MessageType, OutputProtocol, TType,
};
use super::types::*;

fn bytes() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

fn text() -> impl Strategy<Value = String> {
    "[ -~]{0,12}"
}

fn tcell() -> impl Strategy<Value = TCell> {
    (bytes(), any::<i64>()).prop_map(|(value, timestamp)| TCell { value, timestamp })
}

fn tcolumn() -> impl Strategy<Value = TColumn> {
    (bytes(), tcell()).prop_map(|(column_name, cell)| TColumn { column_name, cell })
}

fn trowresult() -> impl Strategy<Value = TRowResult> {
    (
        bytes(),
        proptest::option::of(proptest::collection::vec((bytes(), tcell()), 0..4).prop_map(Map)),
        proptest::option::of(proptest::collection::vec(tcolumn(), 0..4)),
    )
        .prop_map(|(row, columns, sorted_columns)| TRowResult {
            row,
            columns,
            sorted_columns,
        })
}

fn tscan() -> impl Strategy<Value = TScan> {
    (
        (
            proptest::option::of(bytes()),
            proptest::option::of(bytes()),
            proptest::option::of(any::<i64>()),
            proptest::option::of(proptest::collection::vec(bytes(), 0..4)),
            proptest::option::of(any::<i32>()),
        ),
        (
            proptest::option::of(bytes()),
            proptest::option::of(any::<i32>()),
            proptest::option::of(any::<bool>()),
            proptest::option::of(any::<bool>()),
            proptest::option::of(any::<bool>()),
        ),
    )
        .prop_map(|((a, b, c, d, e), (f, g, h, i, j))| TScan {
            start_row: a,
            stop_row: b,
            timestamp: c,
            columns: d,
            caching: e,
            filter_string: f,
            batch_size: g,
            sort_columns: h,
            reversed: i,
            cache_blocks: j,
        })
}

fn mutation() -> impl Strategy<Value = Mutation> {
    (
        any::<bool>(),
        bytes(),
        proptest::option::of(bytes()),
        any::<bool>(),
    )
        .prop_map(|(is_delete, column, value, write_to_wal)| Mutation {
            is_delete,
            column,
            value,
            write_to_wal,
        })
}

fn batch_mutation() -> impl Strategy<Value = BatchMutation> {
    (bytes(), proptest::collection::vec(mutation(), 0..4))
        .prop_map(|(row, mutations)| BatchMutation { row, mutations })
}

fn column_descriptor() -> impl Strategy<Value = ColumnDescriptor> {
    (
        (bytes(), any::<i32>(), text(), any::<bool>(), text()),
        (any::<i32>(), any::<i32>(), any::<bool>(), any::<i32>()),
    )
        .prop_map(
            |((name, mv, comp, mem, bloom), (vs, nh, bc, ttl))| ColumnDescriptor {
                name,
                max_versions: mv,
                compression: comp,
                in_memory: mem,
                bloom_filter_type: bloom,
                bloom_filter_vector_size: vs,
                bloom_filter_nb_hashes: nh,
                block_cache_enabled: bc,
                time_to_live: ttl,
            },
        )
}

fn region() -> impl Strategy<Value = TRegionInfo> {
    (
        bytes(),
        bytes(),
        any::<i64>(),
        bytes(),
        any::<i8>(),
        bytes(),
        any::<i32>(),
    )
        .prop_map(|(a, b, id, name, version, server, port)| TRegionInfo {
            start_key: a,
            end_key: b,
            id,
            name,
            version,
            server_name: server,
            port,
        })
}

fn increment() -> impl Strategy<Value = TIncrement> {
    (bytes(), bytes(), bytes(), any::<i64>()).prop_map(|(table, row, column, amount)| TIncrement {
        table,
        row,
        column,
        amount,
    })
}

fn append() -> impl Strategy<Value = TAppend> {
    (
        bytes(),
        bytes(),
        proptest::collection::vec(bytes(), 0..4),
        proptest::collection::vec(bytes(), 0..4),
    )
        .prop_map(|(table, row, columns, values)| TAppend {
            table,
            row,
            columns,
            values,
        })
}

fn round_trip<C: Codec, T: Value + PartialEq + std::fmt::Debug>(v: &T) {
    let mut w = C::writer(64);
    v.write(&mut w);
    let buf = Bytes::from(w.finish());
    let mut r = C::reader(Cursor::shared(&buf), C::State::default());
    let back = T::read(&mut r).expect("decodes");
    assert_eq!(&back, v, "{}", C::NAME);
    assert_eq!(r.remaining(), 0, "{}", C::NAME);
}

/// `v` inside a struct whose unknown fields (of every kind) come before and after it.
fn with_unknown_fields<C: Codec, T: Value + PartialEq + std::fmt::Debug>(v: &T) {
    let mut w = C::writer(64);
    w.write_struct_begin();
    w.write_field_begin(TType::Map, 90);
    w.write_map_begin(TType::I32, TType::List, 1);
    w.write_i32(5);
    w.write_list_begin(TType::Double, 2);
    w.write_double(1.0);
    w.write_double(2.0);
    w.write_field_begin(TType::Struct, 1);
    v.write(&mut w);
    w.write_field_begin(TType::Bool, 91);
    w.write_bool(true);
    w.write_struct_end();
    let buf = Bytes::from(w.finish());
    let mut r = C::reader(Cursor::shared(&buf), C::State::default());
    let mut got = None;
    read_struct(&mut r, |p, t, id| {
        Ok(if id == 1 && t == TType::Struct {
            got = Some(T::read(p)?);
            true
        } else {
            false
        })
    })
    .expect("decodes");
    assert_eq!(got.as_ref(), Some(v), "{}", C::NAME);
}

fn never_panics<C: Codec>(data: &[u8]) {
    let buf = Bytes::copy_from_slice(data);
    macro_rules! each {
        ($($t:ty),*) => {$(
            let mut r = C::reader(Cursor::shared(&buf), C::State::default());
            let _ = <$t>::read(&mut r);
        )*};
    }
    each!(
        TCell,
        TColumn,
        TRowResult,
        TScan,
        Mutation,
        BatchMutation,
        ColumnDescriptor,
        TRegionInfo,
        TIncrement,
        TAppend,
        ExceptionMessage,
        ApplicationException
    );
    let mut r = C::reader(Cursor::shared(&buf), C::State::default());
    if r.read_message_begin().is_ok() {
        let _ = skip(&mut r, TType::Struct);
    }
    let limits = Limits {
        max_end: 4096,
        max_items: 64,
    };
    let mut f = MessageFramer::<C>::default();
    for n in [data.len() / 2, data.len()] {
        if f.poll(&data[..n], limits).is_err() {
            break;
        }
    }
}

fn framed_whatever_the_split<C: Codec>(scan: &TScan, cut: usize) {
    let mut w = C::writer(64);
    w.write_message_begin("scannerOpenWithScan", MessageType::Call, 3);
    w.write_struct_begin();
    w.write_field_begin(TType::Struct, 2);
    scan.write(&mut w);
    w.write_struct_end();
    let msg = w.finish();
    let limits = Limits {
        max_end: 1 << 20,
        max_items: 1 << 10,
    };
    let cut = cut % (msg.len() + 1);
    let mut f = MessageFramer::<C>::default();
    let first = f.poll(&msg[..cut], limits).expect("valid prefix");
    if cut < msg.len() {
        assert_eq!(first, None);
        assert_eq!(f.poll(&msg, limits), Ok(Some(msg.len())));
    } else {
        assert_eq!(first, Some(msg.len()));
    }
}

macro_rules! struct_props {
    ($name:ident, $strategy:expr) => {
        proptest! {
            #[test]
            fn $name(v in $strategy) {
                round_trip::<Binary, _>(&v);
                round_trip::<Compact, _>(&v);
                with_unknown_fields::<Binary, _>(&v);
                with_unknown_fields::<Compact, _>(&v);
            }
        }
    };
}

struct_props!(tcell_round_trips, tcell());
struct_props!(tcolumn_round_trips, tcolumn());
struct_props!(trowresult_round_trips, trowresult());
struct_props!(tscan_round_trips, tscan());
struct_props!(mutation_round_trips, mutation());
struct_props!(batch_mutation_round_trips, batch_mutation());
struct_props!(column_descriptor_round_trips, column_descriptor());
struct_props!(region_round_trips, region());
struct_props!(increment_round_trips, increment());
struct_props!(append_round_trips, append());
struct_props!(
    exception_round_trips,
    text().prop_map(|message| ExceptionMessage { message })
);
struct_props!(
    application_exception_round_trips,
    (text(), any::<i32>()).prop_map(|(message, kind)| ApplicationException { message, kind })
);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        never_panics::<Binary>(&data);
        never_panics::<Compact>(&data);
    }

    #[test]
    fn random_bytes_behind_a_valid_header_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..256)
    ) {
        for mut msg in [header::<Binary>(), header::<Compact>()] {
            msg.extend_from_slice(&data);
            never_panics::<Binary>(&msg);
            never_panics::<Compact>(&msg);
        }
    }

    #[test]
    fn messages_frame_the_same_whatever_the_split(scan in tscan(), cut in any::<usize>()) {
        framed_whatever_the_split::<Binary>(&scan, cut);
        framed_whatever_the_split::<Compact>(&scan, cut);
    }
}

fn header<C: Codec>() -> Vec<u8> {
    let mut w = C::writer(32);
    w.write_message_begin("mutateRows", MessageType::Call, 1);
    w.finish()
}
