//! The gRPC requests of the atomic read-modify-write RPCs (CheckAndMutate, Increment,
//! Append) as the engine's types, and their replies. The semantics live in the engine
//! (`strata_engine::Db::check_and_mutate`, `increment`, `append`); this module only
//! converts.
//!
//! This module must never call the engine nor map engine errors (that is `status.rs`).

use strata_engine as engine;
use strata_proto::v1 as pb;

use crate::convert::{self, ConvertError};

/// The engine's comparison for a wire `CompareOp` (HBase's argument order on both sides:
/// the given value on the left).
///
/// # Errors
///
/// [`ConvertError::UnknownCompareOp`] for a number the proto does not define.
pub fn compare_op(op: i32) -> Result<engine::CompareOp, ConvertError> {
    use engine::CompareOp as E;
    use pb::CompareOp as P;
    Ok(
        match P::try_from(op).map_err(|_| ConvertError::UnknownCompareOp(op))? {
            P::Equal => E::Equal,
            P::NotEqual => E::NotEqual,
            P::Less => E::Less,
            P::LessOrEqual => E::LessOrEqual,
            P::Greater => E::Greater,
            P::GreaterOrEqual => E::GreaterOrEqual,
        },
    )
}

/// A `CheckAndMutateRequest` as the engine's request.
///
/// # Errors
///
/// A bad compare op or mutation.
pub fn check_and_mutate(
    r: pb::CheckAndMutateRequest,
) -> Result<engine::CheckAndMutate, ConvertError> {
    let op = compare_op(r.op)?;
    let rm = convert::row_mutation_from_pb(r.row, r.mutations)?;
    Ok(engine::CheckAndMutate {
        row: rm.row,
        family: r.family,
        qualifier: r.qualifier,
        op,
        value: r.value,
        mutations: rm.mutations,
    })
}

/// An `IncrementRequest`'s deltas.
pub fn deltas(deltas: Vec<pb::ColumnDelta>) -> Vec<engine::ColumnDelta> {
    deltas
        .into_iter()
        .map(|d| engine::ColumnDelta {
            family: d.family,
            qualifier: d.qualifier,
            delta: d.delta,
        })
        .collect()
}

/// An `AppendRequest`'s cells (their timestamps are not used: an appended value is written
/// at the server's clock, as every read-modify-write result is).
pub fn appends(cells: Vec<pb::Cell>) -> Vec<engine::ColumnAppend> {
    cells
        .into_iter()
        .map(|c| engine::ColumnAppend {
            family: c.family,
            qualifier: c.qualifier,
            value: c.value,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wire_compare_op_has_its_engine_op_and_others_are_refused() {
        let pairs = [
            (pb::CompareOp::Equal, engine::CompareOp::Equal),
            (pb::CompareOp::NotEqual, engine::CompareOp::NotEqual),
            (pb::CompareOp::Less, engine::CompareOp::Less),
            (pb::CompareOp::LessOrEqual, engine::CompareOp::LessOrEqual),
            (pb::CompareOp::Greater, engine::CompareOp::Greater),
            (
                pb::CompareOp::GreaterOrEqual,
                engine::CompareOp::GreaterOrEqual,
            ),
        ];
        for (wire, op) in pairs {
            assert_eq!(compare_op(wire as i32), Ok(op));
        }
        let e = compare_op(17).expect_err("unknown");
        assert!(e.to_string().contains("17"), "{e}");
    }
}
