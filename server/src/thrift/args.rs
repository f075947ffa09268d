//! A method's arguments: decoded from the call's argument struct by the method's schema (field
//! id and kind), typed, and handed to the handler, which takes each one out by id.
//!
//! An argument the schema does not list (the `attributes` maps every method carries, fields of
//! a newer IDL) or one sent with another type is skipped without being decoded; an absent one
//! reads as empty (happybase leaves `columns` off the wire when it is `None`).

use bytes::Bytes;

use super::protocol::{DecodeError, InputProtocol, TType};
use super::types::{
    BatchMutation, ColumnDescriptor, Mutation, TAppend, TIncrement, TScan, Value, read_struct,
};

/// The kinds of argument the service's methods take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `Text` / `Bytes`
    Binary,
    /// `list<Text>`
    Binaries,
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `TScan`
    Scan,
    /// `Mutation`
    Mutation,
    /// `list<Mutation>`
    Mutations,
    /// `list<BatchMutation>`
    Batches,
    /// `list<ColumnDescriptor>`
    Descriptors,
    /// `TIncrement`
    Increment,
    /// `list<TIncrement>`
    Increments,
    /// `TAppend`
    Append,
}

impl Kind {
    fn wire_type(self) -> TType {
        match self {
            Kind::Binary => TType::Binary,
            Kind::I32 => TType::I32,
            Kind::I64 => TType::I64,
            Kind::Scan | Kind::Mutation | Kind::Increment | Kind::Append => TType::Struct,
            Kind::Binaries
            | Kind::Mutations
            | Kind::Batches
            | Kind::Descriptors
            | Kind::Increments => TType::List,
        }
    }
}

/// One decoded argument.
#[derive(Clone, Debug, PartialEq)]
enum Arg {
    Binary(Bytes),
    Binaries(Vec<Bytes>),
    I32(i32),
    I64(i64),
    Scan(TScan),
    Mutation(Mutation),
    Mutations(Vec<Mutation>),
    Batches(Vec<BatchMutation>),
    Descriptors(Vec<ColumnDescriptor>),
    Increment(TIncrement),
    Increments(Vec<TIncrement>),
    Append(TAppend),
}

fn read_arg<P: InputProtocol>(p: &mut P, kind: Kind) -> Result<Arg, DecodeError> {
    Ok(match kind {
        Kind::Binary => Arg::Binary(Value::read(p)?),
        Kind::Binaries => Arg::Binaries(Value::read(p)?),
        Kind::I32 => Arg::I32(Value::read(p)?),
        Kind::I64 => Arg::I64(Value::read(p)?),
        Kind::Scan => Arg::Scan(Value::read(p)?),
        Kind::Mutation => Arg::Mutation(Value::read(p)?),
        Kind::Mutations => Arg::Mutations(Value::read(p)?),
        Kind::Batches => Arg::Batches(Value::read(p)?),
        Kind::Descriptors => Arg::Descriptors(Value::read(p)?),
        Kind::Increment => Arg::Increment(Value::read(p)?),
        Kind::Increments => Arg::Increments(Value::read(p)?),
        Kind::Append => Arg::Append(Value::read(p)?),
    })
}

/// A call's decoded arguments.
#[derive(Debug, Default)]
pub struct Args {
    values: Vec<(i16, Arg)>,
}

/// Takes argument `$id` out if it has the variant `$v`, else `$default`.
macro_rules! getter {
    ($(#[$doc:meta])* $name:ident, $v:ident, $t:ty, $present:expr, $default:expr) => {
        $(#[$doc])*
        pub fn $name(&mut self, id: i16) -> $t {
            match self.take(id) {
                Some(Arg::$v(x)) => $present(x),
                _ => $default,
            }
        }
    };
}

impl Args {
    /// Decode an argument struct by `schema`.
    pub fn read<P: InputProtocol>(p: &mut P, schema: &[(i16, Kind)]) -> Result<Args, DecodeError> {
        let mut values = Vec::with_capacity(schema.len());
        read_struct(p, |p, t, id| {
            match schema.iter().find(|(i, _)| *i == id) {
                Some(&(_, kind)) if kind.wire_type() == t => {
                    let v = read_arg(p, kind)?;
                    // A repeated field: the last one wins, as in generated code.
                    values.retain(|(i, _)| *i != id);
                    values.push((id, v));
                    Ok(true)
                }
                _ => Ok(false),
            }
        })?;
        Ok(Args { values })
    }

    fn peek(&self, id: i16) -> Option<&Arg> {
        self.values.iter().find(|(i, _)| *i == id).map(|(_, a)| a)
    }

    /// Binary argument `id`, left in place (authorization reads the table before the
    /// handler takes it).
    pub fn peek_binary(&self, id: i16) -> Option<&Bytes> {
        match self.peek(id) {
            Some(Arg::Binary(b)) => Some(b),
            _ => None,
        }
    }

    /// I32 argument `id` (0 when absent, as [`Args::i32`]), left in place.
    pub fn peek_i32(&self, id: i16) -> i32 {
        match self.peek(id) {
            Some(Arg::I32(v)) => *v,
            _ => 0,
        }
    }

    /// The tables named inside argument `id` when it is a `TIncrement`, a list of them or a
    /// `TAppend`, left in place.
    pub fn peek_struct_tables(&self, id: i16) -> Vec<Bytes> {
        match self.peek(id) {
            Some(Arg::Increment(i)) => vec![i.table.clone()],
            Some(Arg::Increments(list)) => list.iter().map(|i| i.table.clone()).collect(),
            Some(Arg::Append(a)) => vec![a.table.clone()],
            _ => Vec::new(),
        }
    }

    fn take(&mut self, id: i16) -> Option<Arg> {
        let at = self.values.iter().position(|(i, _)| *i == id)?;
        Some(self.values.swap_remove(at).1)
    }

    getter!(
        /// A binary (empty when absent).
        binary, Binary, Bytes, std::convert::identity, Bytes::new()
    );
    getter!(
        /// A binary, or `None` when absent (`checkAndPut`'s value: absent is not empty).
        optional_binary, Binary, Option<Bytes>, Some, None
    );
    getter!(
        /// A `list<Text>`, or `None` when absent.
        binaries, Binaries, Option<Vec<Bytes>>, Some, None
    );
    getter!(
        /// An i32 (0 when absent).
        i32, I32, i32, std::convert::identity, 0
    );
    getter!(
        /// An i64, or `None` when absent.
        i64, I64, Option<i64>, Some, None
    );
    getter!(
        /// A `TScan` (every field unset when absent).
        scan, Scan, TScan, std::convert::identity, TScan::default()
    );
    getter!(
        /// A `Mutation`, or `None` when absent.
        mutation, Mutation, Option<Mutation>, Some, None
    );
    getter!(
        /// A `list<Mutation>` (empty when absent).
        mutations, Mutations, Vec<Mutation>, std::convert::identity, Vec::new()
    );
    getter!(
        /// A `list<BatchMutation>` (empty when absent).
        batches, Batches, Vec<BatchMutation>, std::convert::identity, Vec::new()
    );
    getter!(
        /// A `list<ColumnDescriptor>` (empty when absent).
        descriptors, Descriptors, Vec<ColumnDescriptor>, std::convert::identity, Vec::new()
    );
    getter!(
        /// A `TIncrement` (empty when absent).
        increment, Increment, TIncrement, std::convert::identity, TIncrement::default()
    );
    getter!(
        /// A `list<TIncrement>` (empty when absent).
        increments, Increments, Vec<TIncrement>, std::convert::identity, Vec::new()
    );
    getter!(
        /// A `TAppend` (empty when absent).
        append, Append, TAppend, std::convert::identity, TAppend::default()
    );
}
