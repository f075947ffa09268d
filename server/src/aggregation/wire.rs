//! The Aggregate RPC's wire messages and the engine's aggregation types, both ways: a request
//! becomes (table, scope, aggregation), a result becomes a reply.
//!
//! Conversion only; this module must never run an aggregation. The engine checks what it
//! owns (unknown table or family); this module rejects what the wire can say and the engine
//! cannot take (a bad bucket name, a sum qualifier without a family, a filter string that does
//! not parse: its timestamps are microseconds, as everywhere in gRPC).

use std::ops::Bound;

use strata_engine::aggregate::{AggregateResult, Aggregation, BucketKind, Column, Scope};
use strata_engine::filter::{Filter, TimeUnit};
use strata_proto::v1 as pb;

use crate::convert::{self, ConvertError};

/// What an AggregateRequest asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AggregateCall {
    /// Table.
    pub table: String,
    /// Rows read.
    pub scope: Scope,
    /// The aggregation.
    pub aggregation: Aggregation,
}

/// Check and convert a request.
pub fn from_pb(r: pb::AggregateRequest) -> Result<AggregateCall, ConvertError> {
    let table = convert::table(&r.table)?.to_owned();
    let filter = if r.filter.is_empty() {
        None
    } else {
        Some(Filter::parse(r.filter.as_bytes(), TimeUnit::Micros)?)
    };
    if r.family.is_empty() {
        return Err(ConvertError::Aggregate(
            "the grouping column has no family (set family and qualifier)".into(),
        ));
    }
    let bucket: BucketKind = r.bucket.parse().map_err(ConvertError::Aggregate)?;
    let sum = match (r.sum_family.is_empty(), r.sum_qualifier.is_empty()) {
        (true, true) => None,
        (true, false) => {
            return Err(ConvertError::Aggregate(
                "sum_qualifier is set but sum_family is empty".into(),
            ));
        }
        (false, _) => Some(Column::new(r.sum_family, r.sum_qualifier.to_vec())),
    };
    let scope = Scope {
        prefix: r.prefix.to_vec(),
        start: if r.start_row.is_empty() {
            Bound::Unbounded
        } else {
            Bound::Included(r.start_row.to_vec())
        },
        stop: if r.stop_row.is_empty() {
            Bound::Unbounded
        } else {
            Bound::Excluded(r.stop_row.to_vec())
        },
        time_range: convert::time_range_from_pb(r.time_range)?,
        filter,
    };
    Ok(AggregateCall {
        table,
        scope,
        aggregation: Aggregation {
            column: Column::new(r.family, r.qualifier.to_vec()),
            bucket,
            top: r.top,
            sum,
        },
    })
}

/// A result as the reply.
pub fn to_pb(r: &AggregateResult) -> pb::AggregateResponse {
    pb::AggregateResponse {
        buckets: r
            .buckets
            .iter()
            .map(|b| pb::Bucket {
                key: b.key.clone().into(),
                count: b.count,
                sum: b.sum,
                min: b.min,
                max: b.max,
                summed: b.summed,
            })
            .collect(),
        rows_scanned: r.rows_scanned,
        rows_missing: r.rows_missing,
        unparsable: r.unparsable,
        computed_at_micros: r.computed_at_micros,
        distinct_buckets: r.distinct_buckets,
        other_count: r.other_count,
        sum_missing: r.sum_missing,
        sum_unparsable: r.sum_unparsable,
        cells_scanned: r.cells_scanned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> pb::AggregateRequest {
        pb::AggregateRequest {
            table: "transactions".into(),
            family: "payment_info".into(),
            qualifier: b"payment_method".to_vec().into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_plain_request_counts_values_over_every_row() {
        let c = from_pb(request()).unwrap();
        assert_eq!(c.table, "transactions");
        assert_eq!(c.scope, Scope::all());
        assert_eq!(
            c.aggregation,
            Aggregation::count_by("payment_info", b"payment_method".to_vec())
        );
    }

    #[test]
    fn every_field_is_carried_over() {
        let c = from_pb(pb::AggregateRequest {
            bucket: "range:100".into(),
            top: 5,
            sum_family: "transaction_summary".into(),
            sum_qualifier: b"total_amount".to_vec().into(),
            prefix: b"p".to_vec().into(),
            start_row: b"a".to_vec().into(),
            stop_row: b"z".to_vec().into(),
            time_range: Some(pb::TimeRange {
                start_micros: 5,
                end_micros: 9,
            }),
            ..request()
        })
        .unwrap();
        assert_eq!(c.aggregation.bucket.to_string(), "range:100");
        assert_eq!(c.aggregation.top, 5);
        assert_eq!(
            c.aggregation.sum,
            Some(Column::new("transaction_summary", b"total_amount".to_vec()))
        );
        assert_eq!(c.scope.prefix, b"p");
        assert_eq!(c.scope.start, Bound::Included(b"a".to_vec()));
        assert_eq!(c.scope.stop, Bound::Excluded(b"z".to_vec()));
        assert_eq!(c.scope.time_range.end, Some(9));
        assert_eq!(c.scope.filter, None);
        let c = from_pb(pb::AggregateRequest {
            filter: "TimestampsFilter(5)".into(),
            ..request()
        })
        .unwrap();
        let want = Filter::parse(b"TimestampsFilter(5)", TimeUnit::Micros).unwrap();
        assert_eq!(c.scope.filter, Some(want), "microseconds, as gRPC");
    }

    #[test]
    fn bad_requests_name_the_problem() {
        let cases = [
            (
                pb::AggregateRequest {
                    filter: "ValueFilter(=, 'binary:x') AND".into(),
                    ..request()
                },
                "bad filter at byte 30",
            ),
            (
                pb::AggregateRequest {
                    bucket: "weekday".into(),
                    ..request()
                },
                "weekday",
            ),
            (
                pb::AggregateRequest {
                    family: String::new(),
                    ..request()
                },
                "no family",
            ),
            (
                pb::AggregateRequest {
                    sum_qualifier: b"total_amount".to_vec().into(),
                    ..request()
                },
                "sum_family",
            ),
            (
                pb::AggregateRequest {
                    table: "bad name".into(),
                    ..request()
                },
                "bad name",
            ),
            (
                pb::AggregateRequest {
                    time_range: Some(pb::TimeRange {
                        start_micros: 9,
                        end_micros: 5,
                    }),
                    ..request()
                },
                "after",
            ),
        ];
        for (req, needle) in cases {
            let e = from_pb(req).unwrap_err().to_string();
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }
}
