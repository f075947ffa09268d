//! The filter language's tokens, with the byte offset where each starts.
//!
//! Tokens: `(`, `)`, `,`, quoted strings (`'...'`, a quote inside doubled: `'it''s'`, any
//! bytes), and words (a run of bytes that are none of whitespace, parentheses, comma or quote:
//! filter names, `AND`/`OR`/`SKIP`/`WHILE`, integers, booleans, comparison operators).
//! Whitespace (space, tab, CR, LF) separates tokens and is otherwise ignored.
//!
//! This file only splits bytes; what a word means is the parser's business.

use super::FilterError;

/// What a token is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tok<'a> {
    LParen,
    RParen,
    Comma,
    /// A quoted string, unescaped.
    Quoted(Vec<u8>),
    Word(&'a [u8]),
    End,
}

/// A token and the byte offset of its first byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub tok: Tok<'a>,
    pub pos: usize,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_word(b: u8) -> bool {
    !is_space(b) && !matches!(b, b'(' | b')' | b',' | b'\'')
}

/// Split `input` into tokens, ending with [`Tok::End`] at `input.len()`.
pub(crate) fn tokenize(input: &[u8]) -> Result<Vec<Token<'_>>, FilterError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        let start = i;
        let tok = match b {
            _ if is_space(b) => {
                i += 1;
                continue;
            }
            b'(' => Tok::LParen,
            b')' => Tok::RParen,
            b',' => Tok::Comma,
            b'\'' => {
                let (bytes, end) = quoted(input, start)?;
                out.push(Token {
                    tok: Tok::Quoted(bytes),
                    pos: start,
                });
                i = end;
                continue;
            }
            _ => {
                while i < input.len() && is_word(input[i]) {
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Word(&input[start..i]),
                    pos: start,
                });
                continue;
            }
        };
        out.push(Token { tok, pos: start });
        i += 1;
    }
    out.push(Token {
        tok: Tok::End,
        pos: input.len(),
    });
    Ok(out)
}

/// The quoted string opening at `start`: its unescaped bytes and the offset after its closing
/// quote.
fn quoted(input: &[u8], start: usize) -> Result<(Vec<u8>, usize), FilterError> {
    let mut bytes = Vec::new();
    let mut i = start + 1;
    loop {
        let rest = &input[i..];
        match rest.iter().position(|&b| b == b'\'') {
            None => {
                return Err(FilterError::new(
                    start,
                    "unterminated quoted string: expected a closing ' (write a quote inside a \
                     string as '')",
                ));
            }
            Some(n) => {
                bytes.extend_from_slice(&rest[..n]);
                i += n;
                if input.get(i + 1) == Some(&b'\'') {
                    bytes.push(b'\'');
                    i += 2;
                } else {
                    return Ok((bytes, i + 1));
                }
            }
        }
    }
}

/// How a token reads in an error message ("found ...").
pub(crate) fn describe(tok: &Tok<'_>) -> String {
    const SHOWN: usize = 24;
    let show = |b: &[u8]| {
        let s = String::from_utf8_lossy(&b[..b.len().min(SHOWN)]).into_owned();
        if b.len() > SHOWN { s + "..." } else { s }
    };
    match tok {
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::Comma => "','".into(),
        Tok::Quoted(b) => format!("the quoted string '{}'", show(b)),
        Tok::Word(w) => format!("'{}'", show(w)),
        Tok::End => "the end of the filter".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<(Tok<'_>, usize)> {
        tokenize(s.as_bytes())
            .expect("lexes")
            .into_iter()
            .map(|t| (t.tok, t.pos))
            .collect()
    }

    #[test]
    fn splits_with_positions() {
        assert_eq!(
            toks("RowFilter(<=,'binary:a')AND\t(x)"),
            vec![
                (Tok::Word(b"RowFilter"), 0),
                (Tok::LParen, 9),
                (Tok::Word(b"<="), 10),
                (Tok::Comma, 12),
                (Tok::Quoted(b"binary:a".to_vec()), 13),
                (Tok::RParen, 23),
                (Tok::Word(b"AND"), 24),
                (Tok::LParen, 28),
                (Tok::Word(b"x"), 29),
                (Tok::RParen, 30),
                (Tok::End, 31),
            ]
        );
    }

    #[test]
    fn doubled_quotes_escape_a_quote() {
        assert_eq!(
            toks("'it''s' '' ''''"),
            vec![
                (Tok::Quoted(b"it's".to_vec()), 0),
                (Tok::Quoted(Vec::new()), 8),
                (Tok::Quoted(b"'".to_vec()), 11),
                (Tok::End, 15),
            ]
        );
    }

    #[test]
    fn unterminated_string_names_its_opening_quote() {
        for s in ["x('abc", "x('ab''", "  '"] {
            let e = tokenize(s.as_bytes()).expect_err(s);
            assert_eq!(e.position, s.find('\'').expect("has a quote"), "{s}");
            assert!(e.message.contains("unterminated"), "{e}");
        }
    }
}
