//! The filter evaluator against a reference model over random rows.
//!
//! The model states each filter's meaning directly (a cell passes a tree of cell and row
//! predicates when the boolean formula says so; SKIP drops a row with any failing cell; WHILE
//! stops at the first failing cell; the stateful filters by their definitions) instead of
//! replaying HBase's return codes, seeks and list merges as the evaluator does; both must give
//! the same rows. Its comparisons are written here from scratch too (the regex engine is the
//! `regex` crate's, with the flags the module documents).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers too: a panic is a failed test

use std::cmp::Ordering;

use bytes::Bytes;
use proptest::prelude::*;
use strata_engine::filter::{
    ColumnValueTest, Comparator, ComparatorKind, CompareOp, EvalOptions, Expr, Filter, FilterState,
    FilteredRows, TimeUnit,
};
use strata_engine::{Cell, Row};

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Cmp {
    op: CompareOp,
    kind: ComparatorKind,
    operand: Vec<u8>,
}

impl Cmp {
    /// Whether `cell` satisfies "cell OP operand".
    fn holds(&self, cell: &[u8]) -> bool {
        let matched = |yes: bool| match self.op {
            CompareOp::Equal => yes,
            CompareOp::NotEqual => !yes,
            _ => unreachable!("generated only with = and !="),
        };
        let ord = match self.kind {
            ComparatorKind::Binary => cell.cmp(&self.operand),
            ComparatorKind::BinaryPrefix => {
                cell[..cell.len().min(self.operand.len())].cmp(&self.operand)
            }
            ComparatorKind::Substring => {
                let hay = String::from_utf8_lossy(cell).to_lowercase();
                let needle = String::from_utf8_lossy(&self.operand).to_lowercase();
                return matched(hay.contains(&needle));
            }
            ComparatorKind::RegexString => {
                let re = regex::bytes::RegexBuilder::new(
                    std::str::from_utf8(&self.operand).expect("utf-8"),
                )
                .unicode(false)
                .dot_matches_new_line(true)
                .build()
                .expect("generated patterns are valid");
                return matched(re.is_match(cell));
            }
        };
        match self.op {
            CompareOp::Less => ord == Ordering::Less,
            CompareOp::LessOrEqual => ord != Ordering::Greater,
            CompareOp::Equal => ord == Ordering::Equal,
            CompareOp::NotEqual => ord != Ordering::Equal,
            CompareOp::GreaterOrEqual => ord != Ordering::Less,
            CompareOp::Greater => ord == Ordering::Greater,
        }
    }

    fn comparator(&self) -> Comparator {
        Comparator::new(self.kind, self.operand.clone()).expect("valid")
    }
}

/// Stateless predicates: on a cell, on the row key, and the key-only transform.
#[derive(Clone, Debug)]
enum Pred {
    Family(Cmp),
    Qualifier(Cmp),
    Value(Cmp),
    ColumnPrefix(Vec<u8>),
    MultiPrefix(Vec<Vec<u8>>),
    ColumnRange(Vec<u8>, bool, Vec<u8>, bool),
    Timestamps(Vec<i64>),
    Row(Cmp),
    Prefix(Vec<u8>),
    Stop(Vec<u8>),
    KeyOnly(bool),
    And(Vec<Pred>),
    Or(Vec<Pred>),
}

impl Pred {
    /// Whether the cell passes and the key-only transforms that apply to it, in order.
    fn eval(&self, key: &[u8], c: &Cell) -> (bool, Vec<bool>) {
        let q = c.qualifier.as_ref();
        let pass = |b: bool| (b, Vec::new());
        match self {
            Pred::Family(cmp) => pass(cmp.holds(c.family.as_bytes())),
            Pred::Qualifier(cmp) => pass(cmp.holds(q)),
            Pred::Value(cmp) => pass(cmp.holds(&c.value)),
            Pred::ColumnPrefix(p) => pass(q.starts_with(p)),
            Pred::MultiPrefix(ps) => pass(ps.iter().any(|p| q.starts_with(p))),
            Pred::ColumnRange(min, mi, max, ma) => {
                let above = min.is_empty() || q > min.as_slice() || (*mi && q == min.as_slice());
                let below = max.is_empty() || q < max.as_slice() || (*ma && q == max.as_slice());
                pass(above && below)
            }
            Pred::Timestamps(ts) => pass(ts.contains(&c.timestamp)),
            Pred::Row(cmp) => pass(cmp.holds(key)),
            Pred::Prefix(p) => pass(key.starts_with(p)),
            Pred::Stop(s) => pass(key <= s.as_slice()),
            Pred::KeyOnly(len) => (true, vec![*len]),
            Pred::And(ms) => {
                let mut tf = Vec::new();
                for m in ms {
                    let (ok, t) = m.eval(key, c);
                    if !ok {
                        return (false, Vec::new());
                    }
                    tf.extend(t);
                }
                (true, tf)
            }
            Pred::Or(ms) => {
                let mut any = false;
                let mut tf = Vec::new();
                for m in ms {
                    let (ok, t) = m.eval(key, c);
                    if ok {
                        any = true;
                        tf.extend(t);
                    }
                }
                (any, tf)
            }
        }
    }

    fn expr(&self) -> Expr {
        match self {
            Pred::Family(c) => Expr::Family(c.op, c.comparator()),
            Pred::Qualifier(c) => Expr::Qualifier(c.op, c.comparator()),
            Pred::Value(c) => Expr::Value(c.op, c.comparator()),
            Pred::ColumnPrefix(p) => Expr::ColumnPrefix(p.clone()),
            Pred::MultiPrefix(ps) => Expr::MultipleColumnPrefix(ps.clone()),
            Pred::ColumnRange(min, mi, max, ma) => Expr::ColumnRange {
                min: min.clone(),
                min_inclusive: *mi,
                max: max.clone(),
                max_inclusive: *ma,
            },
            Pred::Timestamps(ts) => Expr::Timestamps(ts.clone()),
            Pred::Row(c) => Expr::Row(c.op, c.comparator()),
            Pred::Prefix(p) => Expr::Prefix(p.clone()),
            Pred::Stop(s) => Expr::InclusiveStop(s.clone()),
            Pred::KeyOnly(len) => Expr::KeyOnly { len_as_value: *len },
            Pred::And(ms) => Expr::And(ms.iter().map(Pred::expr).collect()),
            Pred::Or(ms) => Expr::Or(ms.iter().map(Pred::expr).collect()),
        }
    }
}

#[derive(Clone, Debug)]
enum Top {
    Tree(Pred),
    Skip(Pred),
    While(Pred),
    TreeThenPage(Pred, u64),
    FirstKeyOnly,
    Page(u64),
    ColumnCountGet(u32),
    ColumnValue(Vec<u8>, Vec<u8>, Cmp, bool, bool, bool),
}

impl Top {
    fn expr(&self) -> Expr {
        match self {
            Top::Tree(p) => p.expr(),
            Top::Skip(p) => Expr::Skip(Box::new(p.expr())),
            Top::While(p) => Expr::While(Box::new(p.expr())),
            Top::TreeThenPage(p, n) => Expr::And(vec![p.expr(), Expr::Page(*n)]),
            Top::FirstKeyOnly => Expr::FirstKeyOnly,
            Top::Page(n) => Expr::Page(*n),
            Top::ColumnCountGet(n) => Expr::ColumnCountGet(*n),
            Top::ColumnValue(f, q, c, missing, latest, exclude) => {
                let t = Box::new(ColumnValueTest {
                    family: f.clone(),
                    qualifier: q.clone(),
                    op: c.op,
                    comparator: c.comparator(),
                    filter_if_missing: *missing,
                    latest_version_only: *latest,
                });
                if *exclude {
                    Expr::SingleColumnValueExclude(t)
                } else {
                    Expr::SingleColumnValue(t)
                }
            }
        }
    }
}

fn transform(mut c: Cell, tf: &[bool]) -> Cell {
    for &len in tf {
        c.value = if len {
            Bytes::copy_from_slice(&(c.value.len() as u32).to_be_bytes())
        } else {
            Bytes::new()
        };
    }
    c
}

fn same_column(a: &Cell, b: &Cell) -> bool {
    a.family == b.family && a.qualifier == b.qualifier
}

/// The cells of a row the filter is shown, with whether each passes: within a column, once
/// more than `cap` cells passed, the rest are not shown (the version count is applied after
/// the filter, and the scan moves to the next column).
fn shown(row: &Row, cap: usize, pass: impl Fn(&Cell) -> bool) -> Vec<(&Cell, bool, bool)> {
    let mut out = Vec::new();
    let mut passed = 0usize;
    for (i, c) in row.cells.iter().enumerate() {
        if i == 0 || !same_column(c, &row.cells[i - 1]) {
            passed = 0;
        }
        if passed > cap {
            continue;
        }
        let ok = pass(c);
        if ok {
            passed += 1;
        }
        // (cell, passes, kept within the version count)
        out.push((c, ok, ok && passed <= cap));
    }
    out
}

fn model(top: &Top, rows: &[Row], cap: usize) -> Vec<Row> {
    let mut out = Vec::new();
    let emit = |out: &mut Vec<Row>, key: &[u8], cells: Vec<Cell>| {
        if !cells.is_empty() {
            out.push(Row {
                key: key.to_vec(),
                cells,
            });
        }
    };
    let tree_rows = |p: &Pred| -> Vec<Row> {
        let mut v = Vec::new();
        for r in rows {
            let cells = shown(r, cap, |c| p.eval(&r.key, c).0)
                .into_iter()
                .filter(|s| s.2)
                .map(|(c, _, _)| transform(c.clone(), &p.eval(&r.key, c).1))
                .collect();
            emit(&mut v, &r.key, cells);
        }
        v
    };
    match top {
        Top::Tree(p) => out = tree_rows(p),
        Top::TreeThenPage(p, n) => out = tree_rows(p).into_iter().take(*n as usize).collect(),
        Top::Skip(p) => {
            for r in rows {
                let s = shown(r, cap, |c| p.eval(&r.key, c).0);
                if s.iter().all(|x| x.1) {
                    let cells = s
                        .iter()
                        .filter(|x| x.2)
                        .map(|(c, _, _)| transform((*c).clone(), &p.eval(&r.key, c).1))
                        .collect();
                    emit(&mut out, &r.key, cells);
                }
            }
        }
        Top::While(p) => {
            for r in rows {
                let mut cells = Vec::new();
                let mut stop = false;
                for (c, ok, kept) in shown(r, cap, |c| p.eval(&r.key, c).0) {
                    if !ok {
                        stop = true;
                        break;
                    }
                    if kept {
                        cells.push(transform(c.clone(), &p.eval(&r.key, c).1));
                    }
                }
                emit(&mut out, &r.key, cells);
                if stop {
                    break;
                }
            }
        }
        Top::FirstKeyOnly => {
            for r in rows {
                emit(&mut out, &r.key, r.cells[..1].to_vec());
            }
        }
        Top::Page(n) => {
            for r in rows.iter().take(*n as usize) {
                let cells = shown(r, cap, |_| true)
                    .into_iter()
                    .filter(|s| s.2)
                    .map(|s| s.0.clone())
                    .collect();
                emit(&mut out, &r.key, cells);
            }
        }
        Top::ColumnCountGet(n) => {
            for r in rows {
                let firsts: Vec<&Cell> = r
                    .cells
                    .iter()
                    .enumerate()
                    .filter(|(i, c)| *i == 0 || !same_column(c, &r.cells[i - 1]))
                    .map(|(_, c)| c)
                    .collect();
                let n = *n as usize;
                emit(
                    &mut out,
                    &r.key,
                    firsts.iter().take(n).map(|c| (*c).clone()).collect(),
                );
                if firsts.len() > n {
                    break;
                }
            }
        }
        Top::ColumnValue(f, q, cmp, missing, latest, exclude) => {
            let target = |c: &Cell| {
                c.family.as_bytes() == f.as_slice() && c.qualifier.as_ref() == q.as_slice()
            };
            for r in rows {
                let versions: Vec<&Cell> = r.cells.iter().filter(|c| target(c)).collect();
                let matched = if *latest {
                    versions.first().is_some_and(|c| cmp.holds(&c.value))
                } else {
                    // Every version is kept, so at most cap + 1 of them are shown.
                    versions
                        .iter()
                        .take(cap.saturating_add(1))
                        .any(|c| cmp.holds(&c.value))
                };
                let passes = if versions.is_empty() {
                    !missing
                } else {
                    matched
                };
                if passes {
                    let cells = shown(r, cap, |_| true)
                        .into_iter()
                        .filter(|s| s.2 && !(*exclude && target(s.0)))
                        .map(|s| s.0.clone())
                        .collect();
                    emit(&mut out, &r.key, cells);
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

fn small(alphabet: &'static [u8], max: usize) -> impl Strategy<Value = Vec<u8>> + Clone {
    prop::collection::vec(prop::sample::select(alphabet.to_vec()), 0..=max)
}

fn cmp() -> impl Strategy<Value = Cmp> {
    let operand = small(b"abAB19", 2);
    prop_oneof![
        (
            prop::sample::select(CompareOp::ALL.to_vec()),
            operand.clone(),
            prop::bool::ANY
        )
            .prop_map(|(op, operand, prefix)| Cmp {
                op,
                kind: if prefix {
                    ComparatorKind::BinaryPrefix
                } else {
                    ComparatorKind::Binary
                },
                operand,
            }),
        (prop::bool::ANY, operand).prop_map(|(eq, operand)| Cmp {
            op: if eq {
                CompareOp::Equal
            } else {
                CompareOp::NotEqual
            },
            kind: ComparatorKind::Substring,
            operand,
        }),
        (
            prop::bool::ANY,
            prop::sample::select(vec!["^a", "b$", "^$", "1", "(?i)^A", "a.", "^[0-9]+$"])
        )
            .prop_map(|(eq, p)| Cmp {
                op: if eq {
                    CompareOp::Equal
                } else {
                    CompareOp::NotEqual
                },
                kind: ComparatorKind::RegexString,
                operand: p.as_bytes().to_vec(),
            }),
    ]
}

fn cell_pred() -> impl Strategy<Value = Pred> {
    prop_oneof![
        cmp().prop_map(Pred::Family),
        cmp().prop_map(Pred::Qualifier),
        cmp().prop_map(Pred::Value),
        small(b"ab", 2).prop_map(Pred::ColumnPrefix),
        prop::collection::btree_set(small(b"abc", 2), 1..4)
            .prop_map(|s| Pred::MultiPrefix(s.into_iter().collect())),
        (
            small(b"abc", 2),
            prop::bool::ANY,
            small(b"abc", 2),
            prop::bool::ANY
        )
            .prop_map(|(a, ai, b, bi)| Pred::ColumnRange(a, ai, b, bi)),
        prop::collection::vec(1..7i64, 0..3).prop_map(Pred::Timestamps),
        prop::bool::ANY.prop_map(Pred::KeyOnly),
    ]
}

fn row_pred() -> impl Strategy<Value = Pred> {
    prop_oneof![
        cmp().prop_map(Pred::Row),
        small(b"ab1", 2).prop_map(Pred::Prefix),
        small(b"ab12", 2).prop_map(Pred::Stop),
    ]
}

fn tree(leaf: BoxedStrategy<Pred>) -> impl Strategy<Value = Pred> {
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Pred::And),
            prop::collection::vec(inner, 2..4).prop_map(Pred::Or),
        ]
    })
}

fn any_tree() -> impl Strategy<Value = Pred> {
    tree(prop_oneof![3 => cell_pred(), 1 => row_pred()].boxed())
}

fn top() -> impl Strategy<Value = Top> {
    prop_oneof![
        4 => any_tree().prop_map(Top::Tree),
        2 => tree(cell_pred().boxed()).prop_map(Top::Skip),
        2 => any_tree().prop_map(Top::While),
        1 => (any_tree(), 0..4u64).prop_map(|(p, n)| Top::TreeThenPage(p, n)),
        1 => Just(Top::FirstKeyOnly),
        1 => (0..5u64).prop_map(Top::Page),
        1 => (0..4u32).prop_map(Top::ColumnCountGet),
        2 => (
            small(b"fgh", 1),
            small(b"ab", 1),
            cmp(),
            prop::bool::ANY,
            prop::bool::ANY,
            prop::bool::ANY
        )
            .prop_map(|(f, q, c, m, l, e)| Top::ColumnValue(f, q, c, m, l, e)),
    ]
}

/// Rows in key order, cells in family, qualifier, newest-first order.
fn rows() -> impl Strategy<Value = Vec<Row>> {
    let cell = (
        prop::sample::select(vec!["f", "g"]),
        small(b"ab", 2),
        1..7i64,
        small(b"aAb1 ", 2),
    );
    let row = (small(b"ab12", 3), prop::collection::vec(cell, 1..7));
    prop::collection::vec(row, 0..7).prop_map(|rows| {
        let mut out: Vec<Row> = Vec::new();
        let mut rows = rows;
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows.dedup_by(|a, b| a.0 == b.0);
        for (key, mut cells) in rows {
            cells.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)).then(b.2.cmp(&a.2)));
            cells.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1 && a.2 == b.2);
            out.push(Row {
                key,
                cells: cells
                    .into_iter()
                    .map(|(f, q, ts, v)| Cell {
                        family: f.into(),
                        qualifier: q.into(),
                        timestamp: ts,
                        value: v.into(),
                    })
                    .collect(),
            });
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn evaluator_matches_the_model(
        top in top(),
        rows in rows(),
        cap in prop::sample::select(vec![1u32, 2, u32::MAX]),
    ) {
        let filter = Filter::from_expr(top.expr(), TimeUnit::Micros);
        // Through the printed string, so the parser is on the path too.
        let filter = Filter::parse(&filter.to_bytes(), TimeUnit::Micros).expect("round trip");
        let opts = EvalOptions { max_versions: cap, reversed: false };
        let input: Vec<Result<Row, ()>> = rows.iter().cloned().map(Ok).collect();
        let got: Vec<Row> = FilteredRows::new(input.into_iter(), FilterState::new(&filter, opts))
            .map(|r| r.expect("no errors"))
            .collect();
        let want = model(&top, &rows, cap as usize);
        prop_assert_eq!(got, want, "filter {}", filter);
    }
}
