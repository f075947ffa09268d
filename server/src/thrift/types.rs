//! The structs and exceptions of `Hbase.thrift`, and how every value (scalars, binaries,
//! lists, maps, structs) is decoded and encoded, written once against the protocol traits so
//! that one definition serves binary and compact.
//!
//! Field ids and defaults are the union of happybase 1.3.0's bundled IDL and HBase 2.x's (which
//! adds `TScan.cacheBlocks` and `IOError.canRetry`); any other field is skipped, and a known
//! field sent with another type is skipped too, as Thrift's generated code does. This file owns
//! the shape of the wire values only: what a field means to Strata is the handlers' business.

use bytes::Bytes;

use super::protocol::skip::skip;
use super::protocol::{DecodeError, InputProtocol, OutputProtocol, TType};

/// A value of the IDL: a field, a container element, an argument or a result.
pub trait Value: Sized {
    /// Its wire type.
    const TYPE: TType;
    /// Decode one (a struct skips the fields it does not know).
    fn read<P: InputProtocol>(p: &mut P) -> Result<Self, DecodeError>;
    /// Encode one.
    fn write<P: OutputProtocol>(&self, p: &mut P);
}

/// Read a struct's fields: `field` gets each field's type and id and returns whether it took
/// the value; the values it does not take are skipped.
pub fn read_struct<P: InputProtocol>(
    p: &mut P,
    mut field: impl FnMut(&mut P, TType, i16) -> Result<bool, DecodeError>,
) -> Result<(), DecodeError> {
    p.read_struct_begin()?;
    while let Some((t, id)) = p.read_field_begin()? {
        if !field(p, t, id)? {
            skip(p, t)?;
        }
    }
    p.read_struct_end()
}

/// Write field `id` holding `v`.
pub fn write_field<P: OutputProtocol, V: Value>(p: &mut P, id: i16, v: &V) {
    p.write_field_begin(V::TYPE, id);
    v.write(p);
}

impl Value for Bytes {
    const TYPE: TType = TType::Binary;
    fn read<P: InputProtocol>(p: &mut P) -> Result<Self, DecodeError> {
        p.read_binary()
    }
    fn write<P: OutputProtocol>(&self, p: &mut P) {
        p.write_binary(self);
    }
}

/// Strings are read lossily: Strata only compares or displays them.
impl Value for String {
    const TYPE: TType = TType::Binary;
    fn read<P: InputProtocol>(p: &mut P) -> Result<Self, DecodeError> {
        Ok(String::from_utf8_lossy(&p.read_binary()?).into_owned())
    }
    fn write<P: OutputProtocol>(&self, p: &mut P) {
        p.write_binary(self.as_bytes());
    }
}

macro_rules! scalar {
    ($t:ty, $tt:ident, $read:ident, $write:ident) => {
        impl Value for $t {
            const TYPE: TType = TType::$tt;
            fn read<P: InputProtocol>(p: &mut P) -> Result<Self, DecodeError> {
                p.$read()
            }
            fn write<P: OutputProtocol>(&self, p: &mut P) {
                p.$write(*self);
            }
        }
    };
}

scalar!(bool, Bool, read_bool, write_bool);
scalar!(i8, Byte, read_byte, write_byte);
scalar!(i32, I32, read_i32, write_i32);
scalar!(i64, I64, read_i64, write_i64);

impl<T: Value> Value for Vec<T> {
    const TYPE: TType = TType::List;
    fn read<P: InputProtocol>(p: &mut P) -> Result<Self, DecodeError> {
        let (t, n) = p.read_list_begin()?;
        if n > 0 && t != T::TYPE {
            return Err(DecodeError::invalid(format!(
                "list of {t:?} where a list of {:?} is expected",
                T::TYPE
            )));
        }
        // Every element takes at least a byte: the input bounds the allocation.
        let mut out = Vec::with_capacity(n.min(p.remaining()));
        for _ in 0..n {
            out.push(T::read(p)?);
        }
        Ok(out)
    }
    fn write<P: OutputProtocol>(&self, p: &mut P) {
        p.write_list_begin(T::TYPE, self.len());
        for v in self {
            v.write(p);
        }
    }
}

/// A `map<K, V>`, its entries in wire order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Map<K, V>(pub Vec<(K, V)>);

impl<K: Value, V: Value> Value for Map<K, V> {
    const TYPE: TType = TType::Map;
    fn read<P: InputProtocol>(p: &mut P) -> Result<Self, DecodeError> {
        let (k, v, n) = p.read_map_begin()?;
        if n > 0 && (k != K::TYPE || v != V::TYPE) {
            return Err(DecodeError::invalid(format!(
                "map<{k:?}, {v:?}> where map<{:?}, {:?}> is expected",
                K::TYPE,
                V::TYPE
            )));
        }
        let mut out = Vec::with_capacity(n.min(p.remaining()));
        for _ in 0..n {
            let key = K::read(p)?;
            out.push((key, V::read(p)?));
        }
        Ok(Map(out))
    }
    fn write<P: OutputProtocol>(&self, p: &mut P) {
        p.write_map_begin(K::TYPE, V::TYPE, self.0.len());
        for (k, v) in &self.0 {
            k.write(p);
            v.write(p);
        }
    }
}

/// The field's Rust type: `opt` fields are `Option`s (absent on the wire when `None`).
macro_rules! field_type {
    (req $t:ty) => { $t };
    (opt $t:ty) => { Option<$t> };
}

macro_rules! field_default {
    (req) => {
        Default::default()
    };
    (req $e:expr) => {
        $e
    };
    (opt) => {
        None
    };
}

macro_rules! field_set {
    (req $slot:expr, $v:expr) => {
        $slot = $v
    };
    (opt $slot:expr, $v:expr) => {
        $slot = Some($v)
    };
}

macro_rules! field_write {
    (req $p:ident, $id:literal, $v:expr) => {
        write_field($p, $id, $v)
    };
    (opt $p:ident, $id:literal, $v:expr) => {
        if let Some(v) = $v {
            write_field($p, $id, v);
        }
    };
}

/// A struct of the IDL: its fields (`id: name: req|opt Type [= default]`), `Default` from the
/// IDL's defaults, and its `Value` codec.
macro_rules! thrift_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $id:literal : $field:ident : $kind:ident $ty:ty $(= $default:expr)?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: field_type!($kind $ty), )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $( $field: field_default!($kind $($default)?), )* }
            }
        }

        impl Value for $name {
            const TYPE: TType = TType::Struct;
            fn read<P: InputProtocol>(p: &mut P) -> Result<Self, DecodeError> {
                let mut s = $name::default();
                read_struct(p, |p, t, id| {
                    match id {
                        $( $id if t == <$ty as Value>::TYPE => {
                            field_set!($kind s.$field, <$ty as Value>::read(p)?);
                            Ok(true)
                        } )*
                        _ => Ok(false),
                    }
                })?;
                Ok(s)
            }
            fn write<P: OutputProtocol>(&self, p: &mut P) {
                p.write_struct_begin();
                $( field_write!($kind p, $id, &self.$field); )*
                p.write_struct_end();
            }
        }
    };
}

thrift_struct! {
    /// A cell value and its timestamp (milliseconds on the wire).
    pub struct TCell {
        1: value: req Bytes,
        2: timestamp: req i64,
    }
}

thrift_struct! {
    /// A column name (`family:qualifier`) and its cell.
    pub struct TColumn {
        1: column_name: req Bytes,
        2: cell: req TCell,
    }
}

thrift_struct! {
    /// One row of a read: its cells by column name, or as a sorted list.
    pub struct TRowResult {
        1: row: req Bytes,
        /// By `family:qualifier` (in the order given).
        2: columns: opt Map<Bytes, TCell>,
        /// In the row's order, when the scan asked for `sortColumns`.
        3: sorted_columns: opt Vec<TColumn>,
    }
}

thrift_struct! {
    /// Scanner parameters (every field optional).
    pub struct TScan {
        1: start_row: opt Bytes,
        2: stop_row: opt Bytes,
        /// Exclusive upper bound, ms.
        3: timestamp: opt i64,
        4: columns: opt Vec<Bytes>,
        5: caching: opt i32,
        6: filter_string: opt Bytes,
        /// Cells per result.
        7: batch_size: opt i32,
        8: sort_columns: opt bool,
        9: reversed: opt bool,
        /// HBase 2.x.
        10: cache_blocks: opt bool,
    }
}

thrift_struct! {
    /// A put or delete of one column.
    pub struct Mutation {
        1: is_delete: req bool,
        2: column: req Bytes,
        /// Absent for deletes.
        3: value: opt Bytes,
        4: write_to_wal: req bool = true,
    }
}

thrift_struct! {
    /// The mutations of one row.
    pub struct BatchMutation {
        1: row: req Bytes,
        2: mutations: req Vec<Mutation>,
    }
}

thrift_struct! {
    /// A column family's settings, HBase style (`name` is `family:` on the wire).
    pub struct ColumnDescriptor {
        1: name: req Bytes,
        2: max_versions: req i32 = 3,
        3: compression: req String = "NONE".into(),
        4: in_memory: req bool,
        5: bloom_filter_type: req String = "NONE".into(),
        6: bloom_filter_vector_size: req i32,
        7: bloom_filter_nb_hashes: req i32,
        8: block_cache_enabled: req bool,
        /// Seconds; happybase's default -1 and HBase 2.x's 2147483647 both mean forever.
        9: time_to_live: req i32 = -1,
    }
}

thrift_struct! {
    /// A region (Strata answers one per table, covering every key).
    pub struct TRegionInfo {
        1: start_key: req Bytes,
        2: end_key: req Bytes,
        3: id: req i64,
        4: name: req Bytes,
        5: version: req i8,
        6: server_name: req Bytes,
        7: port: req i32,
    }
}

thrift_struct! {
    /// An increment of one counter cell (`ammount`, sic, on the wire).
    pub struct TIncrement {
        1: table: req Bytes,
        2: row: req Bytes,
        3: column: req Bytes,
        4: amount: req i64,
    }
}

thrift_struct! {
    /// Values appended to cells of one row.
    pub struct TAppend {
        1: table: req Bytes,
        2: row: req Bytes,
        3: columns: req Vec<Bytes>,
        4: values: req Vec<Bytes>,
    }
}

thrift_struct! {
    /// The IDL's three exceptions share one shape: a message (IOError's `canRetry`, HBase
    /// 2.x, is read past).
    pub struct ExceptionMessage {
        1: message: req String,
    }
}

thrift_struct! {
    /// Thrift's own error reply (message type EXCEPTION).
    pub struct ApplicationException {
        1: message: req String,
        2: kind: req i32,
    }
}

impl ApplicationException {
    /// The method is not known.
    pub const UNKNOWN_METHOD: i32 = 1;
    /// The message type is not CALL or ONEWAY.
    pub const INVALID_MESSAGE_TYPE: i32 = 2;
    /// The handler failed unexpectedly.
    pub const INTERNAL_ERROR: i32 = 6;
    /// The arguments could not be decoded.
    pub const PROTOCOL_ERROR: i32 = 7;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::thrift::protocol::{Binary, Codec, Cursor};

    fn decode<T: Value>(buf: &[u8]) -> Result<T, DecodeError> {
        let b = Bytes::copy_from_slice(buf);
        T::read(&mut Binary::reader(Cursor::shared(&b), ()))
    }

    #[test]
    fn absent_fields_take_the_idl_defaults() {
        let m: Mutation = decode(&[0]).expect("empty struct");
        assert!(!m.is_delete && m.write_to_wal && m.value.is_none());
        let cd: ColumnDescriptor = decode(&[0]).expect("empty struct");
        assert_eq!(
            (cd.max_versions, cd.compression.as_str(), cd.time_to_live),
            (3, "NONE", -1)
        );
    }

    #[test]
    fn a_known_field_of_another_type_is_skipped() {
        // TCell { 1: i32 5 (wrong type), 2: i64 9 }
        let mut buf = vec![8, 0, 1, 0, 0, 0, 5];
        buf.extend_from_slice(&[10, 0, 2]);
        buf.extend_from_slice(&9i64.to_be_bytes());
        buf.push(0);
        let c: TCell = decode(&buf).expect("decodes");
        assert_eq!(
            c,
            TCell {
                value: Bytes::new(),
                timestamp: 9
            }
        );
    }

    #[test]
    fn a_list_of_the_wrong_element_type_is_an_error() {
        // list<i32> [1] where list<binary> is expected.
        let e = decode::<Vec<Bytes>>(&[8, 0, 0, 0, 1, 0, 0, 0, 1]).expect_err("wrong type");
        assert!(matches!(e, DecodeError::Invalid(_)), "{e:?}");
        assert_eq!(decode::<Vec<Bytes>>(&[8, 0, 0, 0, 0]), Ok(Vec::new()));
    }

    #[test]
    fn a_huge_declared_length_is_not_allocated() {
        // list<binary> claiming 2^31-1 elements, with nothing behind it.
        let e = decode::<Vec<Bytes>>(&[11, 0x7f, 0xff, 0xff, 0xff]).expect_err("truncated");
        assert!(matches!(e, DecodeError::Incomplete { .. }), "{e:?}");
    }
}
