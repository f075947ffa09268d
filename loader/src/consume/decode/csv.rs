//! CSV records: a record's value is one CSV line (RFC 4180, `,`-separated, as `strata load`
//! reads a file: the loader's own record reader), its fields in header order. The message
//! holds exactly one record; a trailing line break is allowed.
//!
//! Owns the one-record-per-message rule. It must never parse CSV itself (`csv_input` does) or
//! check the field count other than through the mapping's own rule.

use super::Fields;
use super::layout::Layout;
use crate::csv_input::RecordIter;

/// Decodes one-line CSV messages into a layout's fields.
pub struct CsvDecoder<'p> {
    layout: &'p Layout,
}

impl<'p> CsvDecoder<'p> {
    /// A decoder filling `layout`.
    pub fn new(layout: &'p Layout) -> Self {
        CsvDecoder { layout }
    }

    /// Decode one CSV record; `Err` is the reject reason (the same texts as `strata load`'s).
    pub fn decode(&self, value: &[u8], fields: &mut Fields) -> Result<(), String> {
        let l = self.layout;
        let mut it = RecordIter::new(value, 1, b',');
        let rec = match it.next() {
            None => return Err("empty message: no CSV record".into()),
            Some(r) => r,
        };
        l.mapping.check_field_count(rec.fields.len())?;
        fields.reset(l.header.len());
        for (i, f) in rec.fields.iter().enumerate() {
            if l.needed[i] {
                fields.slot(i).extend_from_slice(f);
            }
        }
        if it.next().is_some() {
            return Err("more than one CSV record in the message".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consume::decode::layout::MappingFlags;

    #[test]
    fn one_line_records_decode_like_the_loader_reads_them() {
        let flags =
            MappingFlags::choose("t", None, Some("HBASE_ROW_KEY,f:b,f:c"), None, None).unwrap();
        let header = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let l = Layout::new("--fields".into(), header, vec![], &flags).unwrap();
        let d = CsvDecoder::new(&l);
        let mut f = Fields::default();
        d.decode(b"k1,\"x, \"\"y\"\"\",\n", &mut f).unwrap();
        assert_eq!(
            (f.get(0), f.get(1), f.get(2)),
            (&b"k1"[..], &b"x, \"y\""[..], &b""[..])
        );
        assert_eq!(
            d.decode(b"k1,b", &mut f).unwrap_err(),
            "expected 3 fields, found 2"
        );
        assert_eq!(
            d.decode(b"a,b,c\nd,e,f", &mut f).unwrap_err(),
            "more than one CSV record in the message"
        );
        assert_eq!(
            d.decode(b"", &mut f).unwrap_err(),
            "empty message: no CSV record"
        );
    }
}
