//! The structs and exceptions of `Hbase.thrift`, each with its decoder and encoder, written
//! against the protocol traits so that one definition serves binary and compact.
//!
//! Field ids and defaults are the union of happybase 1.3.0's bundled IDL and HBase 2.x's (which
//! adds `TScan.cacheBlocks` and `IOError.canRetry`); any other field is skipped, and a known
//! field sent with another type is skipped too, as Thrift's generated code does. This file owns
//! the shape of the wire structs only: what a field means to Strata is the handlers' business.

use bytes::Bytes;

use super::protocol::skip::skip;
use super::protocol::{DecodeError, InputProtocol, OutputProtocol, TType};

/// A struct of the IDL.
pub trait ThriftStruct: Sized {
    /// Decode one (skipping unknown fields).
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

/// Read a list whose elements must be of type `elem`.
pub fn read_list<P: InputProtocol, T>(
    p: &mut P,
    elem: TType,
    mut read: impl FnMut(&mut P) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let (t, n) = p.read_list_begin()?;
    if n > 0 && t != elem {
        return Err(DecodeError::invalid(format!(
            "list of {t:?} where a list of {elem:?} is expected"
        )));
    }
    // Every element takes at least a byte: the input bounds the allocation.
    let mut out = Vec::with_capacity(n.min(p.remaining()));
    for _ in 0..n {
        out.push(read(p)?);
    }
    Ok(out)
}

/// Read a `list<binary>`.
pub fn read_binaries<P: InputProtocol>(p: &mut P) -> Result<Vec<Bytes>, DecodeError> {
    read_list(p, TType::Binary, |p| p.read_binary())
}

/// Read a `list<struct>`.
pub fn read_structs<P: InputProtocol, T: ThriftStruct>(p: &mut P) -> Result<Vec<T>, DecodeError> {
    read_list(p, TType::Struct, T::read)
}

/// A string field (lossy: Strata only compares or displays them).
pub fn read_string<P: InputProtocol>(p: &mut P) -> Result<String, DecodeError> {
    Ok(String::from_utf8_lossy(&p.read_binary()?).into_owned())
}

/// Write a `list<binary>`.
pub fn write_binaries<P: OutputProtocol>(p: &mut P, items: &[Bytes]) {
    p.write_list_begin(TType::Binary, items.len());
    for b in items {
        p.write_binary(b);
    }
}

/// Write a `list<struct>`.
pub fn write_structs<P: OutputProtocol, T: ThriftStruct>(p: &mut P, items: &[T]) {
    p.write_list_begin(TType::Struct, items.len());
    for s in items {
        s.write(p);
    }
}

/// Decodes field `$id` of type `$t` into `$slot` with `$read` when the type matches.
macro_rules! take {
    ($p:ident, $t:ident, $want:expr, $slot:expr, $read:expr) => {{
        if $t == $want {
            $slot = $read;
            true
        } else {
            false
        }
    }};
}

/// A cell value and its timestamp (milliseconds on the wire).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TCell {
    /// 1: value
    pub value: Bytes,
    /// 2: timestamp
    pub timestamp: i64,
}

impl ThriftStruct for TCell {
    fn read<P: InputProtocol>(p: &mut P) -> Result<Self, DecodeError> {
        let mut s = TCell::default();
        read_struct(p, |p, t, id| {
            Ok(match id {
                1 => take!(p, t, TType::Binary, s.value, p.read_binary()?),
                2 => take!(p, t, TType::I64, s.timestamp, p.read_i64()?),
                _ => false,
            })
        })?;
        Ok(s)
    }

    fn write<P: OutputProtocol>(&self, p: &mut P) {
        p.write_struct_begin();
        p.write_field_begin(TType::Binary, 1);
        p.write_binary(&self.value);
        p.write_field_begin(TType::I64, 2);
        p.write_i64(self.timestamp);
        p.write_struct_end();
    }
}

/// A column name (`family:qualifier`) and its cell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TColumn {
    /// 1: columnName
    pub column_name: Bytes,
    /// 2: cell
    pub cell: TCell,
}

impl ThriftStruct for TColumn {
    fn read<P: InputProtocol>(p: &mut P) -> Result<Self, DecodeError> {
        let mut s = TColumn::default();
        read_struct(p, |p, t, id| {
            Ok(match id {
                1 => take!(p, t, TType::Binary, s.column_name, p.read_binary()?),
                2 => take!(p, t, TType::Struct, s.cell, TCell::read(p)?),
                _ => false,
            })
        })?;
        Ok(s)
    }

    fn write<P: OutputProtocol>(&self, p: &mut P) {
        p.write_struct_begin();
        p.write_field_begin(TType::Binary, 1);
        p.write_binary(&self.column_name);
        p.write_field_begin(TType::Struct, 2);
        self.cell.write(p);
        p.write_struct_end();
    }
}

/// One row of a read: its cells by column name, or as a sorted list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TRowResult {
    /// 1: row
    pub row: Bytes,
    /// 2: columns (map, in the order given)
    pub columns: Option<Vec<(Bytes, TCell)>>,
    /// 3: sortedColumns
    pub sorted_columns: Option<Vec<TColumn>>,
}

impl ThriftStruct for TRowResult {
    fn read<P: InputProtocol>(p: &mut P) -> Result<Self, DecodeError> {
        let mut s = TRowResult::default();
        read_struct(p, |p, t, id| {
            Ok(match id {
                1 => take!(p, t, TType::Binary, s.row, p.read_binary()?),
                2 => take!(p, t, TType::Map, s.columns, Some(read_cell_map(p)?)),
                3 => take!(p, t, TType::List, s.sorted_columns, Some(read_structs(p)?)),
                _ => false,
            })
        })?;
        Ok(s)
    }

    fn write<P: OutputProtocol>(&self, p: &mut P) {
        p.write_struct_begin();
        p.write_field_begin(TType::Binary, 1);
        p.write_binary(&self.row);
        if let Some(cols) = &self.columns {
            p.write_field_begin(TType::Map, 2);
            p.write_map_begin(TType::Binary, TType::Struct, cols.len());
            for (name, cell) in cols {
                p.write_binary(name);
                cell.write(p);
            }
        }
        if let Some(sorted) = &self.sorted_columns {
            p.write_field_begin(TType::List, 3);
            write_structs(p, sorted);
        }
        p.write_struct_end();
    }
}

fn read_cell_map<P: InputProtocol>(p: &mut P) -> Result<Vec<(Bytes, TCell)>, DecodeError> {
    let (k, v, n) = p.read_map_begin()?;
    if n > 0 && (k != TType::Binary || v != TType::Struct) {
        return Err(DecodeError::invalid(format!(
            "map<{k:?}, {v:?}> where map<binary, TCell> is expected"
        )));
    }
    let mut out = Vec::with_capacity(n.min(p.remaining()));
    for _ in 0..n {
        let name = p.read_binary()?;
        out.push((name, TCell::read(p)?));
    }
    Ok(out)
}

/// Scanner parameters (every field optional).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TScan {
    /// 1: startRow
    pub start_row: Option<Bytes>,
    /// 2: stopRow
    pub stop_row: Option<Bytes>,
    /// 3: timestamp (exclusive upper bound, ms)
    pub timestamp: Option<i64>,
    /// 4: columns
    pub columns: Option<Vec<Bytes>>,
    /// 5: caching
    pub caching: Option<i32>,
    /// 6: filterString
    pub filter_string: Option<Bytes>,
    /// 7: batchSize (cells per result)
    pub batch_size: Option<i32>,
    /// 8: sortColumns
    pub sort_columns: Option<bool>,
    /// 9: reversed
    pub reversed: Option<bool>,
    /// 10: cacheBlocks (HBase 2.x)
    pub cache_blocks: Option<bool>,
}

impl ThriftStruct for TScan {
    fn read<P: InputProtocol>(p: &mut P) -> Result<Self, DecodeError> {
        let mut s = TScan::default();
        read_struct(p, |p, t, id| {
            Ok(match id {
                1 => take!(p, t, TType::Binary, s.start_row, Some(p.read_binary()?)),
                2 => take!(p, t, TType::Binary, s.stop_row, Some(p.read_binary()?)),
                3 => take!(p, t, TType::I64, s.timestamp, Some(p.read_i64()?)),
                4 => take!(p, t, TType::List, s.columns, Some(read_binaries(p)?)),
                5 => take!(p, t, TType::I32, s.caching, Some(p.read_i32()?)),
                6 => take!(p, t, TType::Binary, s.filter_string, Some(p.read_binary()?)),
                7 => take!(p, t, TType::I32, s.batch_size, Some(p.read_i32()?)),
                8 => take!(p, t, TType::Bool, s.sort_columns, Some(p.read_bool()?)),
                9 => take!(p, t, TType::Bool, s.reversed, Some(p.read_bool()?)),
                10 => take!(p, t, TType::Bool, s.cache_blocks, Some(p.read_bool()?)),
                _ => false,
            })
        })?;
        Ok(s)
    }

    fn write<P: OutputProtocol>(&self, p: &mut P) {
        p.write_struct_begin();
        write_opt_binary(p, 1, &self.start_row);
        write_opt_binary(p, 2, &self.stop_row);
        if let Some(ts) = self.timestamp {
            p.write_field_begin(TType::I64, 3);
            p.write_i64(ts);
        }
        if let Some(cols) = &self.columns {
            p.write_field_begin(TType::List, 4);
            write_binaries(p, cols);
        }
        write_opt_i32(p, 5, self.caching);
        write_opt_binary(p, 6, &self.filter_string);
        write_opt_i32(p, 7, self.batch_size);
        for (id, v) in [
            (8, self.sort_columns),
            (9, self.reversed),
            (10, self.cache_blocks),
        ] {
            if let Some(b) = v {
                p.write_field_begin(TType::Bool, id);
                p.write_bool(b);
            }
        }
        p.write_struct_end();
    }
}

fn write_opt_binary<P: OutputProtocol>(p: &mut P, id: i16, v: &Option<Bytes>) {
    if let Some(b) = v {
        p.write_field_begin(TType::Binary, id);
        p.write_binary(b);
    }
}

fn write_opt_i32<P: OutputProtocol>(p: &mut P, id: i16, v: Option<i32>) {
    if let Some(n) = v {
        p.write_field_begin(TType::I32, id);
        p.write_i32(n);
    }
}

/// A put or delete of one column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mutation {
    /// 1: isDelete (default false)
    pub is_delete: bool,
    /// 2: column
    pub column: Bytes,
    /// 3: value (absent for deletes)
    pub value: Option<Bytes>,
    /// 4: writeToWAL (default true)
    pub write_to_wal: bool,
}

impl Default for Mutation {
    fn default() -> Self {
        Mutation {
            is_delete: false,
            column: Bytes::new(),
            value: None,
            write_to_wal: true,
        }
    }
}

impl ThriftStruct for Mutation {
    fn read<P: InputProtocol>(p: &mut P) -> Result<Self, DecodeError> {
        let mut s = Mutation::default();
        read_struct(p, |p, t, id| {
            Ok(match id {
                1 => take!(p, t, TType::Bool, s.is_delete, p.read_bool()?),
                2 => take!(p, t, TType::Binary, s.column, p.read_binary()?),
                3 => take!(p, t, TType::Binary, s.value, Some(p.read_binary()?)),
                4 => take!(p, t, TType::Bool, s.write_to_wal, p.read_bool()?),
                _ => false,
            })
        })?;
        Ok(s)
    }

    fn write<P: OutputProtocol>(&self, p: &mut P) {
        p.write_struct_begin();
        p.write_field_begin(TType::Bool, 1);
        p.write_bool(self.is_delete);
        p.write_field_begin(TType::Binary, 2);
        p.write_binary(&self.column);
        write_opt_binary(p, 3, &self.value);
        p.write_field_begin(TType::Bool, 4);
        p.write_bool(self.write_to_wal);
        p.write_struct_end();
    }
}

/// The mutations of one row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchMutation {
    /// 1: row
    pub row: Bytes,
    /// 2: mutations
    pub mutations: Vec<Mutation>,
}

impl ThriftStruct for BatchMutation {
    fn read<P: InputProtocol>(p: &mut P) -> Result<Self, DecodeError> {
        let mut s = BatchMutation::default();
        read_struct(p, |p, t, id| {
            Ok(match id {
                1 => take!(p, t, TType::Binary, s.row, p.read_binary()?),
                2 => take!(p, t, TType::List, s.mutations, read_structs(p)?),
                _ => false,
            })
        })?;
        Ok(s)
    }

    fn write<P: OutputProtocol>(&self, p: &mut P) {
        p.write_struct_begin();
        p.write_field_begin(TType::Binary, 1);
        p.write_binary(&self.row);
        p.write_field_begin(TType::List, 2);
        write_structs(p, &self.mutations);
        p.write_struct_end();
    }
}

/// A column family's settings, HBase style.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnDescriptor {
    /// 1: name (`family:` on the wire)
    pub name: Bytes,
    /// 2: maxVersions (default 3)
    pub max_versions: i32,
    /// 3: compression (default "NONE")
    pub compression: String,
    /// 4: inMemory
    pub in_memory: bool,
    /// 5: bloomFilterType (default "NONE")
    pub bloom_filter_type: String,
    /// 6: bloomFilterVectorSize
    pub bloom_filter_vector_size: i32,
    /// 7: bloomFilterNbHashes
    pub bloom_filter_nb_hashes: i32,
    /// 8: blockCacheEnabled
    pub block_cache_enabled: bool,
    /// 9: timeToLive in seconds (happybase's default -1, HBase 2.x's 2147483647: forever)
    pub time_to_live: i32,
}

impl Default for ColumnDescriptor {
    fn default() -> Self {
        ColumnDescriptor {
            name: Bytes::new(),
            max_versions: 3,
            compression: "NONE".into(),
            in_memory: false,
            bloom_filter_type: "NONE".into(),
            bloom_filter_vector_size: 0,
            bloom_filter_nb_hashes: 0,
            block_cache_enabled: false,
            time_to_live: -1,
        }
    }
}

impl ThriftStruct for ColumnDescriptor {
    fn read<P: InputProtocol>(p: &mut P) -> Result<Self, DecodeError> {
        let mut s = ColumnDescriptor::default();
        read_struct(p, |p, t, id| {
            Ok(match id {
                1 => take!(p, t, TType::Binary, s.name, p.read_binary()?),
                2 => take!(p, t, TType::I32, s.max_versions, p.read_i32()?),
                3 => take!(p, t, TType::Binary, s.compression, read_string(p)?),
                4 => take!(p, t, TType::Bool, s.in_memory, p.read_bool()?),
                5 => take!(p, t, TType::Binary, s.bloom_filter_type, read_string(p)?),
                6 => take!(p, t, TType::I32, s.bloom_filter_vector_size, p.read_i32()?),
                7 => take!(p, t, TType::I32, s.bloom_filter_nb_hashes, p.read_i32()?),
                8 => take!(p, t, TType::Bool, s.block_cache_enabled, p.read_bool()?),
                9 => take!(p, t, TType::I32, s.time_to_live, p.read_i32()?),
                _ => false,
            })
        })?;
        Ok(s)
    }

    fn write<P: OutputProtocol>(&self, p: &mut P) {
        p.write_struct_begin();
        p.write_field_begin(TType::Binary, 1);
        p.write_binary(&self.name);
        p.write_field_begin(TType::I32, 2);
        p.write_i32(self.max_versions);
        p.write_field_begin(TType::Binary, 3);
        p.write_binary(self.compression.as_bytes());
        p.write_field_begin(TType::Bool, 4);
        p.write_bool(self.in_memory);
        p.write_field_begin(TType::Binary, 5);
        p.write_binary(self.bloom_filter_type.as_bytes());
        p.write_field_begin(TType::I32, 6);
        p.write_i32(self.bloom_filter_vector_size);
        p.write_field_begin(TType::I32, 7);
        p.write_i32(self.bloom_filter_nb_hashes);
        p.write_field_begin(TType::Bool, 8);
        p.write_bool(self.block_cache_enabled);
        p.write_field_begin(TType::I32, 9);
        p.write_i32(self.time_to_live);
        p.write_struct_end();
    }
}

/// A region (Strata answers one per table, covering every key).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TRegionInfo {
    /// 1: startKey
    pub start_key: Bytes,
    /// 2: endKey
    pub end_key: Bytes,
    /// 3: id
    pub id: i64,
    /// 4: name
    pub name: Bytes,
    /// 5: version
    pub version: i8,
    /// 6: serverName
    pub server_name: Bytes,
    /// 7: port
    pub port: i32,
}

impl ThriftStruct for TRegionInfo {
    fn read<P: InputProtocol>(p: &mut P) -> Result<Self, DecodeError> {
        let mut s = TRegionInfo::default();
        read_struct(p, |p, t, id| {
            Ok(match id {
                1 => take!(p, t, TType::Binary, s.start_key, p.read_binary()?),
                2 => take!(p, t, TType::Binary, s.end_key, p.read_binary()?),
                3 => take!(p, t, TType::I64, s.id, p.read_i64()?),
                4 => take!(p, t, TType::Binary, s.name, p.read_binary()?),
                5 => take!(p, t, TType::Byte, s.version, p.read_byte()?),
                6 => take!(p, t, TType::Binary, s.server_name, p.read_binary()?),
                7 => take!(p, t, TType::I32, s.port, p.read_i32()?),
                _ => false,
            })
        })?;
        Ok(s)
    }

    fn write<P: OutputProtocol>(&self, p: &mut P) {
        p.write_struct_begin();
        for (id, b) in [(1, &self.start_key), (2, &self.end_key)] {
            p.write_field_begin(TType::Binary, id);
            p.write_binary(b);
        }
        p.write_field_begin(TType::I64, 3);
        p.write_i64(self.id);
        p.write_field_begin(TType::Binary, 4);
        p.write_binary(&self.name);
        p.write_field_begin(TType::Byte, 5);
        p.write_byte(self.version);
        p.write_field_begin(TType::Binary, 6);
        p.write_binary(&self.server_name);
        p.write_field_begin(TType::I32, 7);
        p.write_i32(self.port);
        p.write_struct_end();
    }
}

/// An increment of one counter cell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TIncrement {
    /// 1: table
    pub table: Bytes,
    /// 2: row
    pub row: Bytes,
    /// 3: column
    pub column: Bytes,
    /// 4: ammount (sic)
    pub amount: i64,
}

impl ThriftStruct for TIncrement {
    fn read<P: InputProtocol>(p: &mut P) -> Result<Self, DecodeError> {
        let mut s = TIncrement::default();
        read_struct(p, |p, t, id| {
            Ok(match id {
                1 => take!(p, t, TType::Binary, s.table, p.read_binary()?),
                2 => take!(p, t, TType::Binary, s.row, p.read_binary()?),
                3 => take!(p, t, TType::Binary, s.column, p.read_binary()?),
                4 => take!(p, t, TType::I64, s.amount, p.read_i64()?),
                _ => false,
            })
        })?;
        Ok(s)
    }

    fn write<P: OutputProtocol>(&self, p: &mut P) {
        p.write_struct_begin();
        for (id, b) in [(1, &self.table), (2, &self.row), (3, &self.column)] {
            p.write_field_begin(TType::Binary, id);
            p.write_binary(b);
        }
        p.write_field_begin(TType::I64, 4);
        p.write_i64(self.amount);
        p.write_struct_end();
    }
}

/// Values appended to cells of one row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TAppend {
    /// 1: table
    pub table: Bytes,
    /// 2: row
    pub row: Bytes,
    /// 3: columns
    pub columns: Vec<Bytes>,
    /// 4: values
    pub values: Vec<Bytes>,
}

impl ThriftStruct for TAppend {
    fn read<P: InputProtocol>(p: &mut P) -> Result<Self, DecodeError> {
        let mut s = TAppend::default();
        read_struct(p, |p, t, id| {
            Ok(match id {
                1 => take!(p, t, TType::Binary, s.table, p.read_binary()?),
                2 => take!(p, t, TType::Binary, s.row, p.read_binary()?),
                3 => take!(p, t, TType::List, s.columns, read_binaries(p)?),
                4 => take!(p, t, TType::List, s.values, read_binaries(p)?),
                _ => false,
            })
        })?;
        Ok(s)
    }

    fn write<P: OutputProtocol>(&self, p: &mut P) {
        p.write_struct_begin();
        for (id, b) in [(1, &self.table), (2, &self.row)] {
            p.write_field_begin(TType::Binary, id);
            p.write_binary(b);
        }
        for (id, list) in [(3, &self.columns), (4, &self.values)] {
            p.write_field_begin(TType::List, id);
            write_binaries(p, list);
        }
        p.write_struct_end();
    }
}

/// The IDL's three exceptions share one shape: a message (IOError adds `canRetry` in 2.x,
/// which is read and dropped).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExceptionMessage {
    /// 1: message
    pub message: String,
}

impl ThriftStruct for ExceptionMessage {
    fn read<P: InputProtocol>(p: &mut P) -> Result<Self, DecodeError> {
        let mut s = ExceptionMessage::default();
        read_struct(p, |p, t, id| {
            Ok(match id {
                1 => take!(p, t, TType::Binary, s.message, read_string(p)?),
                _ => false,
            })
        })?;
        Ok(s)
    }

    fn write<P: OutputProtocol>(&self, p: &mut P) {
        p.write_struct_begin();
        p.write_field_begin(TType::Binary, 1);
        p.write_binary(self.message.as_bytes());
        p.write_struct_end();
    }
}

/// Thrift's own error reply (message type EXCEPTION).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplicationException {
    /// 1: message
    pub message: String,
    /// 2: type
    pub kind: i32,
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

impl ThriftStruct for ApplicationException {
    fn read<P: InputProtocol>(p: &mut P) -> Result<Self, DecodeError> {
        let mut s = ApplicationException::default();
        read_struct(p, |p, t, id| {
            Ok(match id {
                1 => take!(p, t, TType::Binary, s.message, read_string(p)?),
                2 => take!(p, t, TType::I32, s.kind, p.read_i32()?),
                _ => false,
            })
        })?;
        Ok(s)
    }

    fn write<P: OutputProtocol>(&self, p: &mut P) {
        p.write_struct_begin();
        p.write_field_begin(TType::Binary, 1);
        p.write_binary(self.message.as_bytes());
        p.write_field_begin(TType::I32, 2);
        p.write_i32(self.kind);
        p.write_struct_end();
    }
}
