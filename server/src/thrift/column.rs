//! HBase's column names on the wire (`CellUtil.parseColumn`, HBASE-9549): `cf` is the whole
//! family, `cf:` the column with the empty qualifier, `cf:q` one column (the qualifier is
//! everything after the first colon, colons included). Results name columns `family:qualifier`.
//!
//! Pure functions; the handlers decide what a family-only name means for their method (a read
//! selects the family, a delete deletes it, a put refuses it).

use bytes::{BufMut, Bytes, BytesMut};
use strata_engine::ColumnSelector;

use super::error::{ThriftError, show};

/// A parsed column name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Column {
    /// `cf`: every column of the family.
    Family(String),
    /// `cf:q` (or `cf:`, the empty qualifier).
    Qualified {
        /// The family.
        family: String,
        /// The qualifier (may be empty).
        qualifier: Bytes,
    },
}

impl Column {
    /// Parse `cf`, `cf:` or `cf:q`.
    pub fn parse(name: &Bytes) -> Result<Column, ThriftError> {
        let (family, qualifier) = match name.iter().position(|&b| b == b':') {
            Some(i) => (&name[..i], Some(name.slice(i + 1..))),
            None => (&name[..], None),
        };
        if family.is_empty() {
            return Err(ThriftError::illegal(format!(
                "column {:?} has no family (expected family, family: or family:qualifier)",
                show(name)
            )));
        }
        let family = std::str::from_utf8(family)
            .map_err(|_| {
                ThriftError::illegal(format!("column {:?}: the family is not UTF-8", show(name)))
            })?
            .to_string();
        Ok(match qualifier {
            None => Column::Family(family),
            Some(qualifier) => Column::Qualified { family, qualifier },
        })
    }

    /// The family.
    pub fn family(&self) -> &str {
        match self {
            Column::Family(f) | Column::Qualified { family: f, .. } => f,
        }
    }

    /// What a read of this column selects.
    pub fn selector(self) -> ColumnSelector {
        match self {
            Column::Family(family) => ColumnSelector {
                family,
                qualifier: None,
            },
            Column::Qualified { family, qualifier } => ColumnSelector {
                family,
                qualifier: Some(qualifier.to_vec()),
            },
        }
    }
}

/// The selection of a read's `columns` argument: absent or empty means every family.
pub fn selectors(columns: Option<&[Bytes]>) -> Result<Vec<ColumnSelector>, ThriftError> {
    columns
        .unwrap_or_default()
        .iter()
        .map(|c| Column::parse(c).map(Column::selector))
        .collect()
}

/// A result's column name, `family:qualifier`.
pub fn name(family: &str, qualifier: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(family.len() + 1 + qualifier.len());
    b.put_slice(family.as_bytes());
    b.put_u8(b':');
    b.put_slice(qualifier);
    b.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> Result<Column, ThriftError> {
        Column::parse(&Bytes::copy_from_slice(s))
    }

    #[test]
    fn family_alone_means_the_whole_family() {
        assert_eq!(parse(b"cf"), Ok(Column::Family("cf".into())));
        assert_eq!(
            parse(b"cf").map(Column::selector),
            Ok(ColumnSelector {
                family: "cf".into(),
                qualifier: None
            })
        );
    }

    #[test]
    fn a_trailing_colon_means_the_empty_qualifier() {
        let c = parse(b"cf:").expect("valid");
        assert_eq!(
            c,
            Column::Qualified {
                family: "cf".into(),
                qualifier: Bytes::new()
            }
        );
        assert_eq!(c.selector().qualifier, Some(Vec::new()));
    }

    #[test]
    fn the_qualifier_is_everything_after_the_first_colon() {
        assert_eq!(
            parse(b"cf:a:b\xff"),
            Ok(Column::Qualified {
                family: "cf".into(),
                qualifier: Bytes::from_static(b"a:b\xff")
            })
        );
    }

    #[test]
    fn bad_names_are_illegal_arguments_naming_the_column() {
        for bad in [&b""[..], b":q", b"\xff:q"] {
            match parse(bad) {
                Err(ThriftError::IllegalArgument(m)) => assert!(m.contains("column"), "{m}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn absent_or_empty_columns_select_everything() {
        assert_eq!(selectors(None), Ok(vec![]));
        assert_eq!(selectors(Some(&[])), Ok(vec![]));
        let two = [Bytes::from_static(b"a"), Bytes::from_static(b"b:x")];
        let s = selectors(Some(&two)).expect("valid");
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].qualifier, Some(b"x".to_vec()));
    }

    #[test]
    fn result_names_join_family_and_qualifier() {
        assert_eq!(&name("cf", b"q")[..], b"cf:q");
        assert_eq!(&name("cf", b"")[..], b"cf:");
    }
}
