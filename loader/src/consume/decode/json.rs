//! JSON records: a record's value is one JSON object whose keys are the field names. A key the
//! mapping needs that is missing takes the schema's default when a schema gives one (the
//! built-in mapping's, or `--avro-schema`), else the record is rejected.
//!
//! Owns the JSON checks (valid JSON, an object, scalar values for mapped fields). It must
//! never read a key the mapping does not use; extra keys are ignored.

use super::Fields;
use super::layout::Layout;
use super::text::push_json;

/// Decodes JSON objects into a layout's fields.
pub struct JsonDecoder<'p> {
    layout: &'p Layout,
}

impl<'p> JsonDecoder<'p> {
    /// A decoder filling `layout`.
    pub fn new(layout: &'p Layout) -> Self {
        JsonDecoder { layout }
    }

    /// Decode one JSON object; `Err` is the reject reason.
    pub fn decode(&self, value: &[u8], fields: &mut Fields) -> Result<(), String> {
        let v: serde_json::Value =
            serde_json::from_slice(value).map_err(|e| format!("not JSON: {e}"))?;
        let serde_json::Value::Object(obj) = v else {
            return Err("the JSON value is not an object".into());
        };
        let l = self.layout;
        fields.reset(l.header.len());
        for (i, name) in l.header.iter().enumerate() {
            if !l.needed[i] {
                continue;
            }
            match (obj.get(name), &l.defaults[i]) {
                (Some(x), _) => {
                    push_json(fields.slot(i), x).map_err(|e| format!("field {name}: {e}"))?;
                }
                (None, Some(d)) => fields.slot(i).extend_from_slice(d),
                (None, None) => return Err(format!("missing field {name}")),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consume::decode::layout::MappingFlags;

    fn layout() -> Layout {
        let flags =
            MappingFlags::choose("t", None, Some("HBASE_ROW_KEY,f:b,f:c"), None, None).unwrap();
        let header = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        Layout::new(
            "--fields".into(),
            header,
            vec![None, None, Some(b"dflt".to_vec())],
            &flags,
        )
        .unwrap()
    }

    #[test]
    fn objects_decode_with_defaults_for_missing_keys() {
        let l = layout();
        let d = JsonDecoder::new(&l);
        let mut f = Fields::default();
        d.decode(
            br#"{"a": "k1", "b": 142.0, "c": null, "extra": [1]}"#,
            &mut f,
        )
        .unwrap();
        assert_eq!(
            (f.get(0), f.get(1), f.get(2)),
            (&b"k1"[..], &b"142"[..], &b""[..])
        );
        d.decode(br#"{"a": 7, "b": true}"#, &mut f).unwrap();
        assert_eq!(
            (f.get(0), f.get(1), f.get(2)),
            (&b"7"[..], &b"true"[..], &b"dflt"[..])
        );
    }

    #[test]
    fn bad_json_records_are_reject_reasons() {
        let l = layout();
        let d = JsonDecoder::new(&l);
        let mut f = Fields::default();
        assert!(
            d.decode(b"{nope", &mut f)
                .unwrap_err()
                .starts_with("not JSON: ")
        );
        assert_eq!(
            d.decode(b"[1, 2]", &mut f).unwrap_err(),
            "the JSON value is not an object"
        );
        assert_eq!(
            d.decode(br#"{"b": 1}"#, &mut f).unwrap_err(),
            "missing field a"
        );
        assert_eq!(
            d.decode(br#"{"a": 1, "b": {"x": 1}}"#, &mut f).unwrap_err(),
            "field b: an object, which a cell cannot hold"
        );
    }
}
