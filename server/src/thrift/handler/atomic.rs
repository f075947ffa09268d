//! The atomic read-modify-write methods: `atomicIncrement`, `increment`, `incrementRows`,
//! `append` and `checkAndPut`, over the engine's `increment`, `append` and
//! `check_and_mutate` (which hold the row's lock across the read and the durable write).
//!
//! HBase's answers are kept: counters are 8-byte big-endian (a cell of another width is an
//! `IOError` naming it); a column without a colon names the family's empty qualifier (as
//! HBase's `atomicIncrement` and `append` read `cf`); `incrementRows` applies each increment
//! on its own, in order (as HBase does without its coalescer), after checking them all;
//! `append` returns the new cells, timestamps in ms; `checkAndPut` without a value applies
//! `mput` only when the column does not exist, with one only when the column's latest value
//! equals it. Handlers must never map engine errors themselves (that is `error.rs`).

use bytes::Bytes;
use strata_engine::{CheckAndMutate, ColumnAppend, ColumnDelta, CompareOp, WriteOptions};

use super::writes::mutation;
use super::{Gateway, Outcome, Peer, Reply, table_name};
use crate::thrift::args::Args;
use crate::thrift::column::Column;
use crate::thrift::error::{ThriftError, show};
use crate::thrift::time;
use crate::thrift::types::{TCell, TIncrement};

/// The one column `raw` names: `cf:q`, or `cf` for the family's empty qualifier.
fn one_column(raw: &Bytes) -> Result<(String, Bytes), ThriftError> {
    Ok(match Column::parse(raw)? {
        Column::Family(family) => (family, Bytes::new()),
        Column::Qualified { family, qualifier } => (family, qualifier),
    })
}

/// A counter's value as the engine returned it (always 8 bytes: it wrote them).
fn counter_value(value: &[u8]) -> Result<i64, ThriftError> {
    <[u8; 8]>::try_from(value)
        .map(i64::from_be_bytes)
        .map_err(|_| ThriftError::io("the increment returned no 8-byte counter"))
}

/// `atomicIncrement(1: table, 2: row, 3: column, 4: value)`: the counter's new value.
pub fn atomic_increment(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    let table = table_name(&a.binary(1))?;
    let row = a.binary(2);
    let (family, qualifier) = one_column(&a.binary(3))?;
    let delta = a.i64(4).unwrap_or(0);
    let written = gw.db.increment(
        &table,
        row,
        vec![ColumnDelta {
            family,
            qualifier,
            delta,
        }],
        &WriteOptions::default(),
    )?;
    let value = written
        .cells
        .first()
        .ok_or_else(|| ThriftError::io("the increment returned no cell"))?;
    Ok(Reply::I64(counter_value(&value.value)?))
}

/// One `TIncrement`, checked: its table, row and delta.
struct Increment {
    table: String,
    row: Bytes,
    delta: ColumnDelta,
}

fn checked(i: TIncrement) -> Result<Increment, ThriftError> {
    let (family, qualifier) = one_column(&i.column)?;
    Ok(Increment {
        table: table_name(&i.table)?,
        row: i.row,
        delta: ColumnDelta {
            family,
            qualifier,
            delta: i.amount,
        },
    })
}

fn run_increments(gw: &Gateway, list: Vec<TIncrement>) -> Outcome {
    let list = list
        .into_iter()
        .enumerate()
        .map(|(n, i)| checked(i).map_err(|e| e.context(&format!("increment {n}"))))
        .collect::<Result<Vec<_>, _>>()?;
    for i in list {
        gw.db
            .increment(&i.table, i.row, vec![i.delta], &WriteOptions::default())?;
    }
    Ok(Reply::Void)
}

/// `increment(1: TIncrement)`
pub fn increment(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    run_increments(gw, vec![a.increment(1)])
}

/// `incrementRows(1: list<TIncrement>)`
pub fn increment_rows(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    run_increments(gw, a.increments(1))
}

/// `append(1: TAppend)`: the new cells, in column order.
pub fn append(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    let ap = a.append(1);
    let table = table_name(&ap.table)?;
    if ap.columns.len() != ap.values.len() {
        return Err(ThriftError::io(format!(
            "append to row {:?}: {} columns but {} values",
            show(&ap.row),
            ap.columns.len(),
            ap.values.len()
        )));
    }
    let cells = ap
        .columns
        .iter()
        .zip(ap.values)
        .map(|(c, value)| {
            let (family, qualifier) = one_column(c)?;
            Ok(ColumnAppend {
                family,
                qualifier,
                value,
            })
        })
        .collect::<Result<Vec<_>, ThriftError>>()?;
    let written = gw
        .db
        .append(&table, ap.row, cells, &WriteOptions::default())?;
    Ok(Reply::Cells(
        written
            .cells
            .into_iter()
            .map(|c| TCell {
                value: c.value,
                timestamp: time::to_millis(c.timestamp),
            })
            .collect(),
    ))
}

/// `checkAndPut(1: table, 2: row, 3: column, 5: value, 6: mput)`: whether `mput` was
/// applied. An absent value checks that the column does not exist.
pub fn check_and_put(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    let table = table_name(&a.binary(1))?;
    let row = a.binary(2);
    let (family, qualifier) = one_column(&a.binary(3))?;
    let value = a.optional_binary(5);
    let mput = a
        .mutation(6)
        .ok_or_else(|| ThriftError::illegal("checkAndPut needs mput (the mutation to apply)"))?;
    let m = mutation(mput, None, &mut crate::convert::FamilyNames::default())
        .map_err(|e| e.context("checkAndPut mput"))?;
    let applied = gw.db.check_and_mutate(
        &table,
        CheckAndMutate {
            row,
            family,
            qualifier,
            op: CompareOp::Equal,
            value,
            mutations: vec![m],
        },
        &WriteOptions::default(),
    )?;
    Ok(Reply::Bool(applied))
}
