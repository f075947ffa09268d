//! Write methods: `mutateRow(s)(Ts)` (puts and deletes), `deleteAll(Ts)`, `deleteAllRow(Ts)`
//! (the atomic read-modify-write methods are in `atomic.rs`).
//!
//! HBase's answers are kept: a put needs `family:qualifier` (a bare family is an
//! `IllegalArgument`); a delete of `cf` deletes the family, of `cf:q` every version of the
//! column; without a timestamp puts take the server's clock; with one (ms) puts are written at
//! it and deletes cover every version at or before it (the engine's up-to delete kinds, the
//! bound T ms being every microsecond up to T*1000+999). Each row is atomic, everything is
//! checked before anything is applied, and mutations apply in the order sent.

use bytes::Bytes;
use strata_engine::{Mutation as EngineMutation, RowMutation};

use super::{Gateway, Outcome, Peer, Reply, table_name};
use crate::convert::FamilyNames;
use crate::thrift::args::Args;
use crate::thrift::column::Column;
use crate::thrift::error::{ThriftError, show};
use crate::thrift::time;
use crate::thrift::types::{BatchMutation, Mutation};

/// The delete of `column` at `ts` (ms; `None`, or a bound past the engine's range: every
/// version): a whole family or one column, all versions or those at or before `ts`.
fn column_delete_at(column: Column, ts: Option<i64>, names: &mut FamilyNames) -> EngineMutation {
    match (column, ts.and_then(time::up_to_micros)) {
        (Column::Family(family), None) => EngineMutation::DeleteFamily {
            family: names.get(family),
        },
        (Column::Family(family), Some(timestamp)) => EngineMutation::DeleteFamilyUpTo {
            family: names.get(family),
            timestamp,
        },
        (Column::Qualified { family, qualifier }, None) => EngineMutation::DeleteCells {
            family: names.get(family),
            qualifier,
            timestamp: 0,
        },
        (Column::Qualified { family, qualifier }, Some(timestamp)) => {
            EngineMutation::DeleteColumnUpTo {
                family: names.get(family),
                qualifier,
                timestamp,
            }
        }
    }
}

/// The engine mutation of one Thrift mutation, its family shared through `names` (one
/// name per family per call).
pub(super) fn mutation(
    m: Mutation,
    ts: Option<i64>,
    names: &mut FamilyNames,
) -> Result<EngineMutation, ThriftError> {
    let column = Column::parse(&m.column)?;
    if m.is_delete {
        return Ok(column_delete_at(column, ts, names));
    }
    let Column::Qualified { family, qualifier } = column else {
        return Err(ThriftError::illegal(format!(
            "a put needs a column family:qualifier, got {:?} (only a delete may name a whole \
             family)",
            show(&m.column)
        )));
    };
    Ok(EngineMutation::SetCell {
        family: names.get(family),
        qualifier,
        value: m.value.unwrap_or_default(),
        timestamp: ts.map(time::write_micros).transpose()?.unwrap_or(0),
    })
}

/// One row's engine mutation (`writeToWAL` is ignored: every Strata write is logged).
fn row_mutation(
    row: Bytes,
    muts: Vec<Mutation>,
    ts: Option<i64>,
    names: &mut FamilyNames,
) -> Result<RowMutation, ThriftError> {
    let mutations = muts
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            mutation(m, ts, names)
                .map_err(|e| e.context(&format!("row {:?}, mutation {i}", show(&row))))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RowMutation { row, mutations })
}

fn apply(gw: &Gateway, a: &mut Args, batches: Vec<BatchMutation>, ts: Option<i64>) -> Outcome {
    let table = table_name(&a.binary(1))?;
    let mut names = FamilyNames::default();
    let rows = batches
        .into_iter()
        .map(|b| row_mutation(b.row, b.mutations, ts, &mut names))
        .collect::<Result<Vec<_>, _>>()?;
    if !rows.is_empty() {
        gw.db.mutate_rows(&table, rows)?;
    }
    Ok(Reply::Void)
}

fn one_row(a: &mut Args) -> Vec<BatchMutation> {
    vec![BatchMutation {
        row: a.binary(2),
        mutations: a.mutations(3),
    }]
}

/// `mutateRow(1: table, 2: row, 3: mutations)`
pub fn mutate_row(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    let batches = one_row(a);
    apply(gw, a, batches, None)
}

/// `mutateRowTs(1: table, 2: row, 3: mutations, 4: timestamp)`
pub fn mutate_row_ts(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    let batches = one_row(a);
    let ts = a.i64(4);
    apply(gw, a, batches, ts)
}

/// `mutateRows(1: table, 2: rowBatches)`
pub fn mutate_rows(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    let batches = a.batches(2);
    apply(gw, a, batches, None)
}

/// `mutateRowsTs(1: table, 2: rowBatches, 3: timestamp)`
pub fn mutate_rows_ts(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    let batches = a.batches(2);
    let ts = a.i64(3);
    apply(gw, a, batches, ts)
}

fn delete(gw: &Gateway, a: &mut Args, m: EngineMutation) -> Outcome {
    let table = table_name(&a.binary(1))?;
    let row = a.binary(2);
    gw.db.mutate_row(
        &table,
        RowMutation {
            row,
            mutations: vec![m],
        },
    )?;
    Ok(Reply::Void)
}

fn column_delete(a: &mut Args, ts: Option<i64>) -> Result<EngineMutation, ThriftError> {
    let m = Mutation {
        is_delete: true,
        column: a.binary(3),
        ..Mutation::default()
    };
    mutation(m, ts, &mut FamilyNames::default())
}

/// `deleteAll(1: table, 2: row, 3: column)`: every version of a column, or a whole family.
pub fn delete_all(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    let m = column_delete(a, None)?;
    delete(gw, a, m)
}

/// `deleteAllTs(1: table, 2: row, 3: column, 4: timestamp)`: the versions at or before it.
pub fn delete_all_ts(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    let ts = a.i64(4);
    let m = column_delete(a, ts)?;
    delete(gw, a, m)
}

/// `deleteAllRow(1: table, 2: row)`
pub fn delete_all_row(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    delete(gw, a, EngineMutation::DeleteRow)
}

/// `deleteAllRowTs(1: table, 2: row, 3: timestamp)`: every version at or before it.
pub fn delete_all_row_ts(gw: &Gateway, _: &Peer, a: &mut Args) -> Outcome {
    let m = match a.i64(3).and_then(time::up_to_micros) {
        Some(timestamp) => EngineMutation::DeleteRowUpTo { timestamp },
        None => EngineMutation::DeleteRow,
    };
    delete(gw, a, m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(is_delete: bool, column: &'static [u8], value: Option<&'static [u8]>) -> Mutation {
        Mutation {
            is_delete,
            column: Bytes::from_static(column),
            value: value.map(Bytes::from_static),
            write_to_wal: true,
        }
    }

    #[test]
    fn puts_need_a_qualifier_and_take_the_timestamp_in_microseconds() {
        assert_eq!(
            mutation(
                m(false, b"cf:q", Some(b"v")),
                Some(123),
                &mut FamilyNames::default()
            ),
            Ok(EngineMutation::SetCell {
                family: "cf".into(),
                qualifier: Bytes::from_static(b"q"),
                value: Bytes::from_static(b"v"),
                timestamp: 123_000
            })
        );
        assert!(matches!(
            mutation(m(false, b"cf:", None), None, &mut FamilyNames::default()),
            Ok(EngineMutation::SetCell { timestamp: 0, ref qualifier, ref value, .. })
                if qualifier.is_empty() && value.is_empty()
        ));
        match mutation(
            m(false, b"cf", Some(b"v")),
            None,
            &mut FamilyNames::default(),
        ) {
            Err(ThriftError::IllegalArgument(msg)) => assert!(msg.contains("cf"), "{msg}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn deletes_of_a_family_or_a_column_cover_every_version() {
        assert_eq!(
            mutation(m(true, b"cf", None), None, &mut FamilyNames::default()),
            Ok(EngineMutation::DeleteFamily {
                family: "cf".into()
            })
        );
        assert_eq!(
            mutation(m(true, b"cf:q", None), None, &mut FamilyNames::default()),
            Ok(EngineMutation::DeleteCells {
                family: "cf".into(),
                qualifier: Bytes::from_static(b"q"),
                timestamp: 0
            })
        );
        // A timestamp past the engine's range covers every version too.
        assert!(
            mutation(
                m(true, b"cf:q", None),
                Some(i64::MAX),
                &mut FamilyNames::default()
            )
            .is_ok()
        );
    }

    #[test]
    fn a_delete_at_t_ms_covers_every_microsecond_up_to_the_end_of_t() {
        assert_eq!(
            mutation(
                m(true, b"cf:q", None),
                Some(1_700_000_000_000),
                &mut FamilyNames::default()
            ),
            Ok(EngineMutation::DeleteColumnUpTo {
                family: "cf".into(),
                qualifier: Bytes::from_static(b"q"),
                timestamp: 1_700_000_000_000_999
            })
        );
        assert_eq!(
            mutation(m(true, b"cf", None), Some(7), &mut FamilyNames::default()),
            Ok(EngineMutation::DeleteFamilyUpTo {
                family: "cf".into(),
                timestamp: 7_999
            })
        );
    }

    #[test]
    fn errors_name_the_row_and_the_mutation() {
        let e = row_mutation(
            Bytes::from_static(b"r7"),
            vec![m(false, b"cf:a", Some(b"1")), m(false, b"cf", Some(b"2"))],
            None,
            &mut FamilyNames::default(),
        )
        .expect_err("bare family put");
        assert!(
            e.message().contains("r7") && e.message().contains("mutation 1"),
            "{e}"
        );
    }
}
