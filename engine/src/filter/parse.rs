//! The filter language's parser: tokens (`lex.rs`) to an [`Expr`], checking every argument.
//!
//! ```text
//! filter   := or_list
//! or_list  := and_list ( "OR" and_list )*
//! and_list := unary ( "AND" unary )*
//! unary    := ( "SKIP" | "WHILE" ) unary | primary
//! primary  := "(" filter ")" | Name "(" [ arg ( "," arg )* ] ")"
//! arg      := 'quoted' | integer | true | false | < | <= | = | != | >= | >
//! ```
//!
//! So `AND` binds tighter than `OR`, and `SKIP`/`WHILE` tighter than both, as in HBase's
//! `ParseFilter`. Keywords are upper-case; filter names and comparator types are case-sensitive;
//! booleans are not. Every error names the byte offset (from 0) where the problem starts and what
//! was expected there. The input length, nesting depth, number of filters and of regular
//! expressions are bounded (see the limits in `mod.rs`), and the parser recurses only once per
//! nesting level, so no input can exhaust the stack or memory.

use super::ast::{ColumnValueTest, CompareOp, Expr};
use super::comparator::{Comparator, ComparatorKind};
use super::lex::{Tok, Token, describe, tokenize};
use super::{FilterError, MAX_DEPTH, MAX_FILTER_LEN, MAX_FILTERS, MAX_REGEXES, TimeUnit};

/// Each filter the language knows, with its signature for error messages.
const SIGNATURES: &[(&str, &str)] = &[
    ("KeyOnlyFilter", "KeyOnlyFilter([lenAsValue])"),
    ("FirstKeyOnlyFilter", "FirstKeyOnlyFilter()"),
    ("PrefixFilter", "PrefixFilter('rowprefix')"),
    (
        "ColumnPrefixFilter",
        "ColumnPrefixFilter('qualifierprefix')",
    ),
    (
        "MultipleColumnPrefixFilter",
        "MultipleColumnPrefixFilter('prefix', ...)",
    ),
    ("ColumnCountGetFilter", "ColumnCountGetFilter(limit)"),
    ("PageFilter", "PageFilter(pagesize)"),
    ("InclusiveStopFilter", "InclusiveStopFilter('stoprow')"),
    ("TimestampsFilter", "TimestampsFilter(timestamp, ...)"),
    ("RowFilter", "RowFilter(op, 'type:value')"),
    ("FamilyFilter", "FamilyFilter(op, 'type:value')"),
    ("QualifierFilter", "QualifierFilter(op, 'type:value')"),
    ("ValueFilter", "ValueFilter(op, 'type:value')"),
    (
        "ColumnRangeFilter",
        "ColumnRangeFilter('min', minInclusive, 'max', maxInclusive)",
    ),
    (
        "SingleColumnValueFilter",
        "SingleColumnValueFilter('family', 'qualifier', op, 'type:value' [, filterIfMissing, latestVersionOnly])",
    ),
    (
        "SingleColumnValueExcludeFilter",
        "SingleColumnValueExcludeFilter('family', 'qualifier', op, 'type:value' [, filterIfMissing, latestVersionOnly])",
    ),
];

/// Filters HBase registers that Strata does not evaluate.
const UNSUPPORTED: &[&str] = &["ColumnPaginationFilter", "DependentColumnFilter"];

/// Parse `input` into an expression; timestamps are checked against `unit`'s range.
pub(crate) fn parse(input: &[u8], unit: TimeUnit) -> Result<Expr, FilterError> {
    if input.len() > MAX_FILTER_LEN {
        return Err(FilterError::new(
            MAX_FILTER_LEN,
            format!(
                "the filter is {} bytes, over the limit of {MAX_FILTER_LEN}",
                input.len()
            ),
        ));
    }
    let toks = tokenize(input)?;
    if toks.len() == 1 {
        return Err(FilterError::new(
            0,
            "the filter is empty: expected a filter such as PrefixFilter('abc')",
        ));
    }
    let mut p = Parser {
        toks,
        i: 0,
        depth: 0,
        filters: 0,
        regexes: 0,
        unit,
    };
    let expr = p.or_list()?;
    let t = p.peek();
    if t.tok != Tok::End {
        return Err(FilterError::new(
            t.pos,
            format!(
                "expected AND, OR or the end of the filter, found {}{}",
                describe(&t.tok),
                keyword_hint(&t.tok)
            ),
        ));
    }
    Ok(expr)
}

fn keyword_hint(tok: &Tok<'_>) -> &'static str {
    match tok {
        Tok::Word(w)
            if [&b"and"[..], b"or", b"skip", b"while"]
                .iter()
                .any(|k| w.eq_ignore_ascii_case(k)) =>
        {
            " (the operators are upper-case: AND, OR, SKIP, WHILE)"
        }
        _ => "",
    }
}

/// One argument as written.
struct Arg<'a> {
    tok: Tok<'a>,
    pos: usize,
}

struct Parser<'a> {
    toks: Vec<Token<'a>>,
    i: usize,
    depth: usize,
    filters: usize,
    regexes: usize,
    unit: TimeUnit,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Token<'a> {
        // The last token is End and is never consumed.
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    fn take(&mut self) -> Token<'a> {
        let last = self.toks.len() - 1;
        if self.i >= last {
            return self.toks[last].clone();
        }
        let pos = self.toks[self.i].pos;
        let t = std::mem::replace(&mut self.toks[self.i], Token { tok: Tok::End, pos });
        self.i += 1;
        t
    }

    fn at_word(&self, w: &[u8]) -> bool {
        self.peek().tok == Tok::Word(w)
    }

    fn count_filter(&mut self, pos: usize) -> Result<(), FilterError> {
        self.filters += 1;
        if self.filters > MAX_FILTERS {
            return Err(FilterError::new(
                pos,
                format!("more than {MAX_FILTERS} filters and operators in one filter string"),
            ));
        }
        Ok(())
    }

    fn enter(&mut self, pos: usize) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FilterError::new(
                pos,
                format!("nested more than {MAX_DEPTH} levels deep"),
            ));
        }
        Ok(())
    }

    fn or_list(&mut self) -> Result<Expr, FilterError> {
        self.list(b"OR", Self::and_list, Expr::Or)
    }

    fn and_list(&mut self) -> Result<Expr, FilterError> {
        self.list(b"AND", Self::unary, Expr::And)
    }

    /// `member (keyword member)*`: one member alone, or a list of them.
    fn list(
        &mut self,
        keyword: &[u8],
        member: fn(&mut Self) -> Result<Expr, FilterError>,
        make: fn(Vec<Expr>) -> Expr,
    ) -> Result<Expr, FilterError> {
        let first = member(self)?;
        if !self.at_word(keyword) {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.at_word(keyword) {
            let pos = self.take().pos;
            self.count_filter(pos)?;
            items.push(member(self)?);
        }
        Ok(make(items))
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        let skip = self.at_word(b"SKIP");
        if !skip && !self.at_word(b"WHILE") {
            return self.primary();
        }
        let pos = self.take().pos;
        self.count_filter(pos)?;
        self.enter(pos)?;
        let inner = Box::new(self.unary()?);
        self.depth -= 1;
        Ok(if skip {
            Expr::Skip(inner)
        } else {
            Expr::While(inner)
        })
    }

    fn primary(&mut self) -> Result<Expr, FilterError> {
        let t = self.take();
        match t.tok {
            Tok::LParen => {
                self.enter(t.pos)?;
                let e = self.or_list()?;
                let close = self.take();
                if close.tok != Tok::RParen {
                    return Err(FilterError::new(
                        close.pos,
                        format!(
                            "expected AND, OR or ')' to close the '(' at byte {}, found {}{}",
                            t.pos,
                            describe(&close.tok),
                            keyword_hint(&close.tok)
                        ),
                    ));
                }
                self.depth -= 1;
                Ok(e)
            }
            Tok::Word(name) => self.call(name, t.pos),
            other => Err(FilterError::new(
                t.pos,
                format!(
                    "expected a filter such as PrefixFilter('abc'), '(', SKIP or WHILE, found {}",
                    describe(&other)
                ),
            )),
        }
    }

    fn call(&mut self, name: &'a [u8], at: usize) -> Result<Expr, FilterError> {
        let shown = String::from_utf8_lossy(name);
        if UNSUPPORTED.iter().any(|u| u.as_bytes() == name) {
            return Err(FilterError::new(
                at,
                format!("{shown} is not supported by Strata"),
            ));
        }
        let Some(&(known, signature)) = SIGNATURES.iter().find(|(n, _)| n.as_bytes() == name)
        else {
            let names: Vec<&str> = SIGNATURES.iter().map(|(n, _)| *n).collect();
            return Err(FilterError::new(
                at,
                format!(
                    "unknown filter '{shown}'{}; expected one of {}",
                    keyword_hint(&Tok::Word(name)),
                    names.join(", ")
                ),
            ));
        };
        let open = self.take();
        if open.tok != Tok::LParen {
            return Err(FilterError::new(
                open.pos,
                format!("expected '(' after {known}, found {}", describe(&open.tok)),
            ));
        }
        let mut args = Vec::new();
        let close = if self.peek().tok == Tok::RParen {
            self.take().pos
        } else {
            loop {
                let a = self.take();
                match a.tok {
                    Tok::Quoted(_) | Tok::Word(_) => args.push(Arg {
                        tok: a.tok,
                        pos: a.pos,
                    }),
                    other => {
                        return Err(FilterError::new(
                            a.pos,
                            format!(
                                "expected an argument of {signature} (a quoted string, an \
                                 integer, true, false or a comparison operator), found {}",
                                describe(&other)
                            ),
                        ));
                    }
                }
                let sep = self.take();
                match sep.tok {
                    Tok::Comma => {}
                    Tok::RParen => break sep.pos,
                    other => {
                        return Err(FilterError::new(
                            sep.pos,
                            format!(
                                "expected ',' or ')' in {signature}, found {}",
                                describe(&other)
                            ),
                        ));
                    }
                }
            }
        };
        self.count_filter(at)?;
        let mut b = Build {
            signature,
            close,
            args,
            parser: self,
        };
        b.filter(known)
    }
}

/// Checks and converts one filter's arguments.
struct Build<'p, 'a> {
    signature: &'static str,
    close: usize,
    args: Vec<Arg<'a>>,
    parser: &'p mut Parser<'a>,
}

impl Build<'_, '_> {
    fn filter(&mut self, name: &str) -> Result<Expr, FilterError> {
        Ok(match name {
            "KeyOnlyFilter" => {
                self.arity(0, 1)?;
                Expr::KeyOnly {
                    len_as_value: self.args.len() == 1 && self.boolean(0)?,
                }
            }
            "FirstKeyOnlyFilter" => {
                self.arity(0, 0)?;
                Expr::FirstKeyOnly
            }
            "PrefixFilter" => {
                self.arity(1, 1)?;
                Expr::Prefix(self.quoted(0)?)
            }
            "ColumnPrefixFilter" => {
                self.arity(1, 1)?;
                Expr::ColumnPrefix(self.quoted(0)?)
            }
            "MultipleColumnPrefixFilter" => {
                self.arity(1, usize::MAX)?;
                let mut prefixes: Vec<Vec<u8>> = Vec::with_capacity(self.args.len());
                let mut seen = std::collections::HashSet::new();
                for i in 0..self.args.len() {
                    let p = self.quoted(i)?;
                    if !seen.insert(p.clone()) {
                        return Err(self.error(i, "the prefixes must be distinct"));
                    }
                    prefixes.push(p);
                }
                Expr::MultipleColumnPrefix(prefixes)
            }
            "ColumnCountGetFilter" => {
                self.arity(1, 1)?;
                let n = self.integer(0, i64::from(i32::MAX))?;
                Expr::ColumnCountGet(u32::try_from(n).unwrap_or(u32::MAX))
            }
            "PageFilter" => {
                self.arity(1, 1)?;
                Expr::Page(u64::try_from(self.integer(0, i64::MAX)?).unwrap_or(0))
            }
            "InclusiveStopFilter" => {
                self.arity(1, 1)?;
                Expr::InclusiveStop(self.quoted(0)?)
            }
            "TimestampsFilter" => {
                let max = self.parser.unit.max_timestamp();
                let ts = (0..self.args.len())
                    .map(|i| self.integer(i, max))
                    .collect::<Result<Vec<_>, _>>()?;
                Expr::Timestamps(ts)
            }
            "RowFilter" | "FamilyFilter" | "QualifierFilter" | "ValueFilter" => {
                self.arity(2, 2)?;
                let op = self.op(0)?;
                let cmp = self.comparator(1, op, 0)?;
                match name {
                    "RowFilter" => Expr::Row(op, cmp),
                    "FamilyFilter" => Expr::Family(op, cmp),
                    "QualifierFilter" => Expr::Qualifier(op, cmp),
                    _ => Expr::Value(op, cmp),
                }
            }
            "ColumnRangeFilter" => {
                self.arity(4, 4)?;
                Expr::ColumnRange {
                    min: self.quoted(0)?,
                    min_inclusive: self.boolean(1)?,
                    max: self.quoted(2)?,
                    max_inclusive: self.boolean(3)?,
                }
            }
            _ => {
                // SingleColumnValueFilter and SingleColumnValueExcludeFilter.
                self.arity(4, 6)?;
                if self.args.len() == 5 {
                    return Err(self.error(
                        4,
                        format!("{} takes 4 or 6 arguments, got 5", self.signature),
                    ));
                }
                let op = self.op(2)?;
                let test = Box::new(ColumnValueTest {
                    family: self.quoted(0)?,
                    qualifier: self.quoted(1)?,
                    op,
                    comparator: self.comparator(3, op, 2)?,
                    filter_if_missing: self.args.len() == 6 && self.boolean(4)?,
                    latest_version_only: self.args.len() != 6 || self.boolean(5)?,
                });
                if name == "SingleColumnValueFilter" {
                    Expr::SingleColumnValue(test)
                } else {
                    Expr::SingleColumnValueExclude(test)
                }
            }
        })
    }

    fn error(&self, i: usize, message: impl Into<String>) -> FilterError {
        FilterError::new(self.args[i].pos, message)
    }

    fn arity(&self, min: usize, max: usize) -> Result<(), FilterError> {
        let n = self.args.len();
        if n >= min && n <= max {
            return Ok(());
        }
        let want = match (min, max) {
            (a, b) if a == b => format!("{a} argument{}", if a == 1 { "" } else { "s" }),
            (a, usize::MAX) => format!("at least {a} argument{}", if a == 1 { "" } else { "s" }),
            (a, b) => format!("{a} to {b} arguments"),
        };
        let pos = if n > max {
            self.args[max].pos
        } else {
            self.close
        };
        Err(FilterError::new(
            pos,
            format!("{} takes {want}, got {n}", self.signature),
        ))
    }

    fn quoted(&self, i: usize) -> Result<Vec<u8>, FilterError> {
        match &self.args[i].tok {
            Tok::Quoted(b) => Ok(b.clone()),
            other => Err(self.error(
                i,
                format!(
                    "expected a quoted string as argument {} of {}, found {}",
                    i + 1,
                    self.signature,
                    describe(other)
                ),
            )),
        }
    }

    fn word(&self, i: usize) -> Option<&[u8]> {
        match self.args[i].tok {
            Tok::Word(w) => Some(w),
            _ => None,
        }
    }

    fn boolean(&self, i: usize) -> Result<bool, FilterError> {
        match self.word(i) {
            Some(w) if w.eq_ignore_ascii_case(b"true") => Ok(true),
            Some(w) if w.eq_ignore_ascii_case(b"false") => Ok(false),
            _ => Err(self.error(
                i,
                format!(
                    "expected true or false as argument {} of {}, found {}",
                    i + 1,
                    self.signature,
                    describe(&self.args[i].tok)
                ),
            )),
        }
    }

    fn integer(&self, i: usize, max: i64) -> Result<i64, FilterError> {
        let n = self
            .word(i)
            .and_then(|w| std::str::from_utf8(w).ok())
            .and_then(|s| s.parse::<i64>().ok());
        match n {
            Some(n) if (0..=max).contains(&n) => Ok(n),
            Some(n) => Err(self.error(
                i,
                format!(
                    "argument {} of {} is {n}, out of range 0..={max}",
                    i + 1,
                    self.signature
                ),
            )),
            None => Err(self.error(
                i,
                format!(
                    "expected an integer as argument {} of {}, found {}",
                    i + 1,
                    self.signature,
                    describe(&self.args[i].tok)
                ),
            )),
        }
    }

    fn op(&self, i: usize) -> Result<CompareOp, FilterError> {
        self.word(i)
            .and_then(CompareOp::from_symbol)
            .ok_or_else(|| {
                self.error(
                i,
                format!(
                    "expected a comparison operator (<, <=, =, !=, >=, >) as argument {} of {}, \
                     found {}",
                    i + 1,
                    self.signature,
                    describe(&self.args[i].tok)
                ),
            )
            })
    }

    /// Argument `i` as a comparator used with the operator at argument `op_at`.
    fn comparator(
        &mut self,
        i: usize,
        op: CompareOp,
        op_at: usize,
    ) -> Result<Comparator, FilterError> {
        let text = self.quoted(i).map_err(|_| {
            self.error(
                i,
                format!(
                    "expected a comparator 'type:value' as argument {} of {}, found {}",
                    i + 1,
                    self.signature,
                    describe(&self.args[i].tok)
                ),
            )
        })?;
        let pos = self.args[i].pos;
        let Some(colon) = text.iter().position(|&b| b == b':') else {
            return Err(self.error(
                i,
                "expected a comparator 'type:value' (type binary, binaryprefix, substring or \
                 regexstring), found no ':'",
            ));
        };
        let Some(kind) = ComparatorKind::from_name(&text[..colon]) else {
            return Err(FilterError::new(
                pos + 1,
                format!(
                    "unknown comparator type '{}': expected binary, binaryprefix, substring or \
                     regexstring",
                    String::from_utf8_lossy(&text[..colon])
                ),
            ));
        };
        if kind.equality_only() && !matches!(op, CompareOp::Equal | CompareOp::NotEqual) {
            return Err(self.error(
                op_at,
                format!(
                    "a {} comparator allows only = and !=, found {}",
                    kind.name(),
                    op.symbol()
                ),
            ));
        }
        if kind == ComparatorKind::RegexString {
            self.parser.regexes += 1;
            if self.parser.regexes > MAX_REGEXES {
                return Err(self.error(
                    i,
                    format!("more than {MAX_REGEXES} regexstring comparators in one filter"),
                ));
            }
        }
        // The value starts after the quote, the type and the colon (the type has no quotes,
        // so unescaping did not move it).
        Comparator::new(kind, text[colon + 1..].to_vec())
            .map_err(|m| FilterError::new(pos + colon + 2, m))
    }
}
