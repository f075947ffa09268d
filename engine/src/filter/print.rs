//! Printing an [`Expr`] back into the filter language, so that parsing the result gives the
//! same expression (lists of the same kind nested by parentheses stay nested; strings are
//! quoted with `'` doubled; optional arguments at their defaults are left out).
//!
//! This file must never change what a filter means: print, then parse, is the identity.

use super::ast::{ColumnValueTest, Expr};
use super::comparator::Comparator;

/// The filter string for `expr`, as bytes (quoted arguments may hold any bytes).
pub(crate) fn print(expr: &Expr) -> Vec<u8> {
    let mut out = Vec::new();
    write_expr(expr, &mut out);
    out
}

fn write_expr(expr: &Expr, out: &mut Vec<u8>) {
    match expr {
        Expr::And(items) => write_list(items, b" AND ", out),
        Expr::Or(items) => write_list(items, b" OR ", out),
        Expr::Skip(inner) | Expr::While(inner) => {
            out.extend_from_slice(expr.name().as_bytes());
            out.push(b' ');
            write_operand(inner, out);
        }
        leaf => write_leaf(leaf, out),
    }
}

/// A list member or a SKIP/WHILE operand: lists are parenthesised, except an AND list inside an
/// OR list, which AND's tighter binding keeps together.
fn write_list(items: &[Expr], sep: &[u8], out: &mut Vec<u8>) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(sep);
        }
        match item {
            Expr::And(_) if sep == b" OR " => write_expr(item, out),
            _ => write_operand(item, out),
        }
    }
}

fn write_operand(e: &Expr, out: &mut Vec<u8>) {
    if matches!(e, Expr::And(_) | Expr::Or(_)) {
        out.push(b'(');
        write_expr(e, out);
        out.push(b')');
    } else {
        write_expr(e, out);
    }
}

fn write_leaf(e: &Expr, out: &mut Vec<u8>) {
    out.extend_from_slice(e.name().as_bytes());
    out.push(b'(');
    let mut args = Args { out, first: true };
    match e {
        Expr::KeyOnly { len_as_value } => {
            if *len_as_value {
                args.word("true");
            }
        }
        Expr::FirstKeyOnly => {}
        Expr::Prefix(b) | Expr::ColumnPrefix(b) | Expr::InclusiveStop(b) => args.quoted(b),
        Expr::MultipleColumnPrefix(prefixes) => prefixes.iter().for_each(|p| args.quoted(p)),
        Expr::ColumnCountGet(n) => args.word(&n.to_string()),
        Expr::Page(n) => args.word(&n.to_string()),
        Expr::Timestamps(ts) => ts.iter().for_each(|t| args.word(&t.to_string())),
        Expr::Row(op, c) | Expr::Family(op, c) | Expr::Qualifier(op, c) | Expr::Value(op, c) => {
            args.word(op.symbol());
            args.comparator(c);
        }
        Expr::ColumnRange {
            min,
            min_inclusive,
            max,
            max_inclusive,
        } => {
            args.quoted(min);
            args.word(bool_word(*min_inclusive));
            args.quoted(max);
            args.word(bool_word(*max_inclusive));
        }
        Expr::SingleColumnValue(t) | Expr::SingleColumnValueExclude(t) => args.column_value(t),
        Expr::And(_) | Expr::Or(_) | Expr::Skip(_) | Expr::While(_) => {}
    }
    args.out.push(b')');
}

fn bool_word(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

struct Args<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl Args<'_> {
    fn sep(&mut self) {
        if !self.first {
            self.out.extend_from_slice(b", ");
        }
        self.first = false;
    }

    fn word(&mut self, w: &str) {
        self.sep();
        self.out.extend_from_slice(w.as_bytes());
    }

    fn quoted(&mut self, b: &[u8]) {
        self.sep();
        quote(b, self.out);
    }

    fn comparator(&mut self, c: &Comparator) {
        let mut text = c.kind().name().as_bytes().to_vec();
        text.push(b':');
        text.extend_from_slice(c.value());
        self.quoted(&text);
    }

    fn column_value(&mut self, t: &ColumnValueTest) {
        self.quoted(&t.family);
        self.quoted(&t.qualifier);
        self.word(t.op.symbol());
        self.comparator(&t.comparator);
        if t.filter_if_missing || !t.latest_version_only {
            self.word(bool_word(t.filter_if_missing));
            self.word(bool_word(t.latest_version_only));
        }
    }
}

/// `b` in quotes, each quote inside doubled.
pub(crate) fn quote(b: &[u8], out: &mut Vec<u8>) {
    out.push(b'\'');
    for &c in b {
        out.push(c);
        if c == b'\'' {
            out.push(b'\'');
        }
    }
    out.push(b'\'');
}
