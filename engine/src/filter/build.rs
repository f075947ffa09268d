//! How a parsed filter expression ([`Expr`]) becomes a [`Node`] with fresh per-scan state: one
//! arm per filter, each starting in the state HBase's filter has before the first row.
//!
//! This file must never hold a filter's answers to the filter protocol: those are in `node.rs`.

use super::TimeUnit;
use super::ast::Expr;
use super::node::{Node, OrMember};

impl Node {
    /// Fresh state for `expr`. `reversed`: the scan runs in descending row order.
    pub(crate) fn build(expr: &Expr, unit: TimeUnit, reversed: bool) -> Node {
        let build = |e: &Expr| Node::build(e, unit, reversed);
        match expr {
            Expr::KeyOnly { len_as_value } => Node::KeyOnly {
                len_as_value: *len_as_value,
            },
            Expr::FirstKeyOnly => Node::FirstKeyOnly { found: false },
            Expr::Prefix(p) => Node::Prefix {
                prefix: p.clone(),
                reversed,
                passed: false,
                filter_row: true,
            },
            Expr::ColumnPrefix(p) => Node::ColumnPrefix { prefix: p.clone() },
            Expr::MultipleColumnPrefix(ps) => {
                let mut sorted = ps.clone();
                sorted.sort();
                Node::MultipleColumnPrefix { sorted, hint: None }
            }
            Expr::ColumnCountGet(n) => Node::ColumnCountGet {
                limit: u64::from(*n),
                count: 0,
            },
            Expr::Page(n) => Node::Page {
                size: *n,
                accepted: 0,
            },
            Expr::InclusiveStop(s) => Node::InclusiveStop {
                stop: s.clone(),
                reversed,
                done: false,
            },
            Expr::Timestamps(ts) => {
                let mut ranges: Vec<(i64, i64)> = ts.iter().map(|&t| unit.range(t)).collect();
                ranges.sort_unstable();
                ranges.dedup();
                let min = ranges.first().map_or(i64::MAX, |r| r.0);
                Node::Timestamps { ranges, min }
            }
            Expr::Row(op, c) => Node::Row {
                op: *op,
                cmp: c.clone(),
                filter_out: false,
            },
            Expr::Family(op, c) => Node::Family {
                op: *op,
                cmp: c.clone(),
            },
            Expr::Qualifier(op, c) => Node::Qualifier {
                op: *op,
                cmp: c.clone(),
            },
            Expr::Value(op, c) => Node::Value {
                op: *op,
                cmp: c.clone(),
            },
            Expr::ColumnRange {
                min,
                min_inclusive,
                max,
                max_inclusive,
            } => Node::ColumnRange {
                min: (!min.is_empty()).then(|| min.clone()),
                min_inclusive: *min_inclusive,
                max: (!max.is_empty()).then(|| max.clone()),
                max_inclusive: *max_inclusive,
            },
            Expr::SingleColumnValue(t) | Expr::SingleColumnValueExclude(t) => Node::ColumnValue {
                test: t.clone(),
                exclude: matches!(expr, Expr::SingleColumnValueExclude(_)),
                found: false,
                matched: false,
            },
            Expr::And(items) => Node::And {
                members: items.iter().map(build).collect(),
                hinted: Vec::new(),
            },
            Expr::Or(items) => Node::Or {
                members: items
                    .iter()
                    .map(|e| OrMember {
                        node: build(e),
                        prev: None,
                        included: false,
                    })
                    .collect(),
            },
            Expr::Skip(e) => Node::Skip {
                inner: Box::new(build(e)),
                filter_row: false,
            },
            Expr::While(e) => Node::While {
                inner: Box::new(build(e)),
                done: false,
            },
        }
    }
}
