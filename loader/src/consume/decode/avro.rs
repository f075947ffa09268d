//! Schemaless Avro: a record's value is one bare Avro datum written with a known schema (what
//! the pipeline's producer wrote, with the data set's `.avsc` files). Decoding is
//! `apache-avro`'s; this file turns the schema into a layout (its field names, plus the
//! reader schema's fields with defaults that this writer schema lacks) and a decoded record
//! into field texts.
//!
//! Owns the schema checks (a record schema; every mapped field a scalar or a union of
//! scalars) and the datum checks (the datum decodes and nothing follows it). It must never
//! read a field the mapping does not use and never guess a schema.

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;

use super::Fields;
use super::layout::{Layout, MappingFlags};
use super::text::{push_avro, push_json};

/// A parsed schema and the name it is known by in messages (`schema FILE`).
#[derive(Debug, Clone)]
pub struct NamedSchema {
    /// For messages.
    pub name: String,
    /// The schema.
    pub schema: Schema,
}

impl NamedSchema {
    /// Parse a schema's JSON text.
    pub fn parse(name: String, json: &str) -> Result<NamedSchema, String> {
        let schema =
            Schema::parse_str(json).map_err(|e| format!("{name} is not an Avro schema: {e}"))?;
        if !matches!(schema, Schema::Record(_)) {
            return Err(format!(
                "{name} is not a record schema (a record's fields become cells)"
            ));
        }
        Ok(NamedSchema { name, schema })
    }

    fn fields(&self) -> &[apache_avro::schema::RecordField] {
        match &self.schema {
            Schema::Record(r) => &r.fields,
            _ => &[],
        }
    }
}

fn is_scalar(s: &Schema) -> bool {
    match s {
        Schema::Union(u) => u.variants().iter().all(is_scalar),
        Schema::Array(_)
        | Schema::Map(_)
        | Schema::Record(_)
        | Schema::Decimal(_)
        | Schema::BigDecimal
        | Schema::Duration(_)
        | Schema::Ref { .. } => false,
        _ => true,
    }
}

/// The default's text, if the field has one.
fn default_text(f: &apache_avro::schema::RecordField) -> Result<Option<Vec<u8>>, String> {
    match &f.default {
        None => Ok(None),
        Some(d) => {
            let mut out = Vec::new();
            push_json(&mut out, d).map_err(|e| format!("default of field {}: {e}", f.name))?;
            Ok(Some(out))
        }
    }
}

/// The layout of records written with `writer`. Fields of `reader` (the built-in mapping's
/// schema) that `writer` lacks are added with their defaults, as Avro schema resolution does.
/// Errors are configuration errors: a mapped field missing, or of a type a cell cannot hold.
pub fn layout(
    writer: &NamedSchema,
    reader: Option<&NamedSchema>,
    flags: &MappingFlags,
) -> Result<Layout, String> {
    let mut header: Vec<String> = writer.fields().iter().map(|f| f.name.clone()).collect();
    let mut defaults: Vec<Option<Vec<u8>>> = vec![None; header.len()];
    let mut source = format!("schema {}", writer.name);
    if let Some(r) = reader {
        for f in r.fields() {
            if header.contains(&f.name) {
                continue;
            }
            if let Some(d) = default_text(f)? {
                header.push(f.name.clone());
                defaults.push(Some(d));
                source = format!("schema {} (with the defaults of {})", writer.name, r.name);
            }
        }
    }
    let layout = Layout::new(source, header, defaults, flags)?;
    for (f, needed) in writer.fields().iter().zip(&layout.needed) {
        if *needed && !is_scalar(&f.schema) {
            return Err(format!(
                "schema {} does not fit the mapping of table {}: field {} is of type {}, \
                 which a cell cannot hold (a scalar, or a union of scalars and null, can)",
                writer.name, flags.table, f.name, f.schema
            ));
        }
    }
    Ok(layout)
}

/// The datum as a reader whose end is an error other than EOF. apache-avro decodes a datum
/// that ends inside a string, boolean or union as if the value were null (a convenience for
/// reading container files), so a truncated record would pass as one with nulls; with this
/// reader it fails instead. Written here because the crate has no strict mode.
struct Strict<'a> {
    rest: &'a [u8],
}

impl std::io::Read for Strict<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.rest.is_empty() && !buf.is_empty() {
            return Err(std::io::Error::other("the datum ends early"));
        }
        let n = buf.len().min(self.rest.len());
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        Ok(n)
    }
}

/// Decodes bare datums of one writer schema into a layout's fields.
pub struct AvroDecoder<'p> {
    reader: GenericDatumReader<'p>,
    layout: &'p Layout,
    name: &'p str,
    writer_fields: usize,
}

impl<'p> AvroDecoder<'p> {
    /// A decoder for datums of `schema`, filling `layout` (made by [`layout`] from it).
    pub fn new(schema: &'p NamedSchema, layout: &'p Layout) -> Result<Self, String> {
        let reader = GenericDatumReader::builder(&schema.schema)
            .build()
            .map_err(|e| format!("schema {}: {e}", schema.name))?;
        Ok(AvroDecoder {
            reader,
            layout,
            name: &schema.name,
            writer_fields: schema.fields().len(),
        })
    }

    /// Decode one datum (all of `datum`) into `fields`; `Err` is the reject reason.
    pub fn decode(&self, datum: &[u8], fields: &mut Fields) -> Result<(), String> {
        let mut input = Strict { rest: datum };
        let value = self
            .reader
            .read_value(&mut input)
            .map_err(|e| format!("not an Avro datum of schema {}: {e}", self.name))?;
        let rest = input.rest;
        if !rest.is_empty() {
            return Err(format!(
                "{} bytes follow the Avro datum of schema {} ({} bytes)",
                rest.len(),
                self.name,
                datum.len() - rest.len()
            ));
        }
        let Value::Record(values) = value else {
            return Err(format!("schema {} did not decode to a record", self.name));
        };
        let l = self.layout;
        fields.reset(l.header.len());
        for (i, (name, v)) in values.iter().enumerate().take(self.writer_fields) {
            if l.needed[i] {
                push_avro(fields.slot(i), v).map_err(|e| format!("field {name}: {e}"))?;
            }
        }
        for i in self.writer_fields..l.header.len() {
            if let Some(d) = &l.defaults[i] {
                fields.slot(i).extend_from_slice(d);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn to_avro_datum(schema: &Schema, v: Value) -> apache_avro::AvroResult<Vec<u8>> {
        apache_avro::writer::datum::GenericDatumWriter::builder(schema)
            .build()?
            .write_value_to_vec(v)
    }

    fn click_schema() -> NamedSchema {
        NamedSchema::parse(
            "click_stream_schema.avsc".into(),
            super::super::builtin_schema("clickstream").unwrap(),
        )
        .unwrap()
    }

    fn flags(table: &str) -> MappingFlags {
        MappingFlags::choose(table, None, None, None, None).unwrap()
    }

    fn click(metadata: Value) -> Value {
        Value::Record(vec![
            ("session_id".into(), Value::String("s1".into())),
            ("event_name".into(), Value::String("HOMEPAGE".into())),
            (
                "event_time".into(),
                Value::String("2022-07-29T15:22:01.458193Z".into()),
            ),
            ("event_id".into(), Value::String("e1".into())),
            ("traffic_source".into(), Value::String("WEB".into())),
            ("event_metadata".into(), metadata),
        ])
    }

    fn texts(f: &Fields, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| String::from_utf8(f.get(i).to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn nullable_unions_decode_to_text_or_empty() {
        let s = click_schema();
        let l = layout(&s, None, &flags("clickstream")).unwrap();
        let d = AvroDecoder::new(&s, &l).unwrap();
        let mut f = Fields::default();
        let meta = Value::Union(0, Box::new(Value::String("{'product_id': 1}".into())));
        d.decode(&to_avro_datum(&s.schema, click(meta)).unwrap(), &mut f)
            .unwrap();
        assert_eq!(
            texts(&f, 6),
            [
                "s1",
                "HOMEPAGE",
                "2022-07-29T15:22:01.458193Z",
                "e1",
                "WEB",
                "{'product_id': 1}"
            ]
        );
        let null = Value::Union(1, Box::new(Value::Null));
        d.decode(&to_avro_datum(&s.schema, click(null)).unwrap(), &mut f)
            .unwrap();
        assert_eq!(f.get(5), b"");
    }

    #[test]
    fn doubles_become_shortest_text() {
        let s = NamedSchema::parse(
            "product_schema.avsc".into(),
            super::super::builtin_schema("product").unwrap(),
        )
        .unwrap();
        let l = layout(&s, None, &flags("product")).unwrap();
        let d = AvroDecoder::new(&s, &l).unwrap();
        let values = [
            "15970",
            "Men",
            "Apparel",
            "Topwear",
            "Shirts",
            "Navy Blue",
            "Fall",
            "2011",
            "Casual",
            "Turtle Check Men Navy Blue Shirt, slim",
        ];
        let header = crate::mapping::builtin_header("product").unwrap();
        let rec: Vec<(String, Value)> = header
            .iter()
            .zip(values)
            .map(|(n, v)| {
                let value = match *n {
                    "id" | "year" => Value::Double(v.parse().unwrap()),
                    _ => Value::String(v.into()),
                };
                (n.to_string(), value)
            })
            .collect();
        let datum = to_avro_datum(&s.schema, Value::Record(rec)).unwrap();
        let mut f = Fields::default();
        d.decode(&datum, &mut f).unwrap();
        assert_eq!(f.get(0), b"15970");
        assert_eq!(f.get(7), b"2011");
        assert_eq!(f.get(9), b"Turtle Check Men Navy Blue Shirt, slim");
    }

    #[test]
    fn bad_datums_are_reject_reasons() {
        let s = click_schema();
        let l = layout(&s, None, &flags("clickstream")).unwrap();
        let d = AvroDecoder::new(&s, &l).unwrap();
        let good = to_avro_datum(&s.schema, click(Value::Union(1, Box::new(Value::Null)))).unwrap();
        let mut f = Fields::default();
        // Every truncation fails (apache-avro alone would read most of them as nulls).
        for cut in 1..good.len() {
            let err = d.decode(&good[..good.len() - cut], &mut f).unwrap_err();
            assert!(
                err.starts_with("not an Avro datum of schema click_stream_schema.avsc"),
                "{cut}: {err}"
            );
        }
        let mut long = good.clone();
        long.extend_from_slice(b"xy");
        assert_eq!(
            d.decode(&long, &mut f).unwrap_err(),
            format!(
                "2 bytes follow the Avro datum of schema click_stream_schema.avsc ({} bytes)",
                good.len()
            )
        );
        // Union branch 7 does not exist.
        let mut bad_branch = good.clone();
        *bad_branch.last_mut().unwrap() = 14;
        assert!(d.decode(&bad_branch, &mut f).is_err());
        assert!(d.decode(b"", &mut f).is_err());
        // A string length far past the datum's end must fail, not allocate.
        assert!(d.decode(&[0xfe, 0xff, 0xff, 0xff, 0x0f], &mut f).is_err());
    }

    #[test]
    fn a_writer_schema_without_a_field_takes_the_reader_default() {
        let reader = click_schema();
        let writer = NamedSchema::parse(
            "old.avsc".into(),
            r#"{"type":"record","name":"c","fields":[
                {"name":"session_id","type":"string"},{"name":"event_name","type":"string"},
                {"name":"event_time","type":"string"},{"name":"event_id","type":"string"},
                {"name":"traffic_source","type":"string"}]}"#,
        )
        .unwrap();
        assert!(layout(&writer, None, &flags("clickstream")).is_err());
        let l = layout(&writer, Some(&reader), &flags("clickstream")).unwrap();
        assert_eq!(l.header.last().map(String::as_str), Some("event_metadata"));
        let d = AvroDecoder::new(&writer, &l).unwrap();
        let mut rec = match click(Value::Null) {
            Value::Record(r) => r,
            _ => unreachable!(),
        };
        rec.pop();
        let datum = to_avro_datum(&writer.schema, Value::Record(rec)).unwrap();
        let mut f = Fields::default();
        d.decode(&datum, &mut f).unwrap();
        assert_eq!(f.get(0), b"s1");
        assert_eq!(f.get(5), b"");
    }

    #[test]
    fn schemas_that_do_not_fit_are_configuration_errors() {
        let nested = NamedSchema::parse(
            "n.avsc".into(),
            r#"{"type":"record","name":"c","fields":[
                {"name":"id","type":"double"},
                {"name":"gender","type":{"type":"array","items":"string"}},
                {"name":"masterCategory","type":"string"},{"name":"subCategory","type":"string"},
                {"name":"articleType","type":"string"},{"name":"baseColour","type":"string"},
                {"name":"season","type":"string"},{"name":"year","type":"double"},
                {"name":"usage","type":"string"},{"name":"productDisplayName","type":"string"}]}"#,
        )
        .unwrap();
        let err = layout(&nested, None, &flags("product")).unwrap_err();
        assert!(err.contains("field gender"), "{err}");
        assert!(NamedSchema::parse("x".into(), r#""string""#).is_err());
        assert!(NamedSchema::parse("x".into(), "{nope").is_err());
    }
}
