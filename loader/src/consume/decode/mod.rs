//! Decoding Kafka record values into named fields, by format: schemaless Avro (`avro`, the
//! pipeline producer's), Confluent-framed Avro (`avro-confluent`), JSON objects (`json`) and
//! CSV lines (`csv`). A [`Plan`] holds what the flags describe (schemas, field names, the
//! resolved mapping per layout); its [`Decoder`] turns one value into [`Fields`] and says which
//! layout they follow.
//!
//! Owns the format choice, the schema files (`--avro-schema [ID=]FILE`, and the four shipped
//! schemas that are the built-in mappings' defaults) and where field names come from. It must
//! never build cells (the mapping does, in `consume::batch`) and never ask a schema registry.

pub mod avro;
pub mod confluent;
pub mod csv;
pub mod json;
pub mod layout;
pub mod text;

use std::path::PathBuf;

use avro::{AvroDecoder, NamedSchema};
use confluent::ConfluentDecoder;
use layout::{Layout, MappingFlags};

/// Largest allocation the Avro decoder makes for one length-prefixed value: a corrupt length
/// fails the record instead of allocating it (Avro's own default is 512 MiB). Above the
/// largest cell value (8 MiB).
pub const MAX_AVRO_ALLOCATION: usize = 16 << 20;

/// The format of record values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// A bare Avro datum (`--avro-schema FILE`, default the built-in mapping's schema).
    #[default]
    Avro,
    /// Magic byte 0, 4-byte schema id, Avro datum (`--avro-schema ID=FILE`).
    AvroConfluent,
    /// A JSON object.
    Json,
    /// One CSV line.
    Csv,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "avro" => Ok(Format::Avro),
            "avro-confluent" => Ok(Format::AvroConfluent),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            _ => Err(format!(
                "unknown format {s:?} (avro, avro-confluent, json, csv)"
            )),
        }
    }
}

/// The shipped schema (JSON text) of a built-in mapping: the pipeline producer's files.
pub fn builtin_schema(mapping: &str) -> Option<&'static str> {
    Some(match mapping {
        "customers" => include_str!("../../../schemas/customer_schema.avsc"),
        "product" => include_str!("../../../schemas/product_schema.avsc"),
        "transactions" => include_str!("../../../schemas/transactions_schema.avsc"),
        "clickstream" => include_str!("../../../schemas/click_stream_schema.avsc"),
        _ => return None,
    })
}

fn builtin_schema_file(mapping: &str) -> &'static str {
    match mapping {
        "customers" => "customer_schema.avsc",
        "product" => "product_schema.avsc",
        "transactions" => "transactions_schema.avsc",
        _ => "click_stream_schema.avsc",
    }
}

/// One `--avro-schema [ID=]FILE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaFile {
    /// The Confluent schema id, if given.
    pub id: Option<u32>,
    /// The `.avsc` file.
    pub path: PathBuf,
}

impl std::str::FromStr for SchemaFile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once('=') {
            Some((id, path)) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => {
                let id = id
                    .parse()
                    .map_err(|_| format!("--avro-schema {s:?}: id {id} is too large"))?;
                Ok(SchemaFile {
                    id: Some(id),
                    path: path.into(),
                })
            }
            _ => Ok(SchemaFile {
                id: None,
                path: s.into(),
            }),
        }
    }
}

/// What the decoding flags say.
#[derive(Clone, Debug)]
pub struct DecodeOptions {
    /// `--format`.
    pub format: Format,
    /// `--avro-schema` files.
    pub schemas: Vec<SchemaFile>,
    /// `--fields` (JSON and CSV): the record's field names in order.
    pub fields: Option<Vec<String>>,
    /// The mapping.
    pub mapping: MappingFlags,
}

/// The fields of one record, by position in its layout's header; reused between records.
#[derive(Debug, Default)]
pub struct Fields {
    values: Vec<Vec<u8>>,
}

impl Fields {
    /// Make room for `n` empty fields (keeping buffers).
    pub fn reset(&mut self, n: usize) {
        if self.values.len() < n {
            self.values.resize_with(n, Vec::new);
        }
        for v in &mut self.values {
            v.clear();
        }
    }

    /// Field `i`'s bytes (empty past the end).
    pub fn get(&self, i: usize) -> &[u8] {
        self.values.get(i).map_or(&[], Vec::as_slice)
    }

    /// Field `i`'s buffer to fill (after `reset` with `n > i`).
    pub fn slot(&mut self, i: usize) -> &mut Vec<u8> {
        if self.values.len() <= i {
            self.values.resize_with(i + 1, Vec::new);
        }
        &mut self.values[i]
    }
}

/// Everything decoding needs, built from the flags before any record is read; its errors are
/// configuration errors.
#[derive(Debug)]
pub struct Plan {
    format: Format,
    /// (Confluent id, schema, index of its layout).
    schemas: Vec<(Option<u32>, NamedSchema, usize)>,
    layouts: Vec<Layout>,
}

fn read_schema(f: &SchemaFile) -> Result<NamedSchema, String> {
    let text = std::fs::read_to_string(&f.path)
        .map_err(|e| format!("cannot read --avro-schema {}: {e}", f.path.display()))?;
    NamedSchema::parse(f.path.display().to_string(), &text)
}

impl Plan {
    /// Check the flags and build the layouts.
    pub fn new(o: &DecodeOptions) -> Result<Plan, String> {
        // Set once per process: a corrupt length in any datum fails instead of allocating.
        apache_avro::util::max_allocation_bytes(MAX_AVRO_ALLOCATION);
        let builtin = o
            .mapping
            .builtin()
            .map(|b| {
                NamedSchema::parse(
                    builtin_schema_file(b).to_string(),
                    builtin_schema(b).unwrap_or_default(),
                )
            })
            .transpose()?;
        if o.fields.is_some() && matches!(o.format, Format::Avro | Format::AvroConfluent) {
            return Err(
                "--fields is for --format json or csv (Avro records name their fields \
                        in the schema)"
                    .into(),
            );
        }
        let mut schemas = Vec::new();
        let mut layouts = Vec::new();
        match o.format {
            Format::Avro | Format::AvroConfluent => {
                let confluent = o.format == Format::AvroConfluent;
                let mut files: Vec<(Option<u32>, NamedSchema)> = Vec::new();
                for f in &o.schemas {
                    if confluent && f.id.is_none() {
                        return Err(format!(
                            "--format avro-confluent needs a schema id: --avro-schema ID={}",
                            f.path.display()
                        ));
                    }
                    if !confluent && f.id.is_some() {
                        return Err("schema ids (--avro-schema ID=FILE) are for --format \
                                    avro-confluent"
                            .into());
                    }
                    if files.iter().any(|(id, _)| id.is_some() && *id == f.id) {
                        return Err(format!(
                            "--avro-schema id {} is given twice",
                            f.id.unwrap_or_default()
                        ));
                    }
                    files.push((f.id, read_schema(f)?));
                }
                if !confluent && files.len() > 1 {
                    return Err("--format avro takes one --avro-schema FILE".into());
                }
                if files.is_empty() {
                    match (&builtin, confluent) {
                        (Some(b), false) => files.push((None, b.clone())),
                        (_, true) => {
                            return Err("--format avro-confluent needs --avro-schema ID=FILE \
                                        for each schema id the topic uses"
                                .into());
                        }
                        (None, false) => {
                            return Err(
                                "give --avro-schema FILE, the schema the records were written \
                                 with (only the built-in mappings have a default)"
                                    .into(),
                            );
                        }
                    }
                }
                for (id, s) in files {
                    layouts.push(avro::layout(&s, builtin.as_ref(), &o.mapping)?);
                    schemas.push((id, s, layouts.len() - 1));
                }
            }
            Format::Json | Format::Csv => {
                if o.schemas.len() > 1 || o.schemas.iter().any(|s| s.id.is_some()) {
                    return Err("--format json and csv take at most one --avro-schema FILE \
                                (its field names and defaults), without an id"
                        .into());
                }
                let schema = o.schemas.first().map(read_schema).transpose()?;
                let named = schema.as_ref().or(builtin.as_ref());
                let (source, header) = match (&o.fields, named) {
                    (Some(f), _) => ("--fields".to_string(), f.clone()),
                    (None, Some(s)) => (format!("schema {}", s.name), field_names(s)),
                    (None, None) => {
                        return Err("give --fields NAME,... (the record's field names, in \
                                    order) or --avro-schema FILE"
                            .into());
                    }
                };
                let defaults = header
                    .iter()
                    .map(|h| named.and_then(|s| field_default(s, h)))
                    .collect();
                layouts.push(Layout::new(source, header, defaults, &o.mapping)?);
            }
        }
        Ok(Plan {
            format: o.format,
            schemas,
            layouts,
        })
    }

    /// The layouts (one per schema for Avro, else one).
    pub fn layouts(&self) -> &[Layout] {
        &self.layouts
    }

    /// The families every layout's mapping writes, sorted and distinct.
    pub fn families(&self) -> Vec<String> {
        let mut f: Vec<String> = self
            .layouts
            .iter()
            .flat_map(|l| l.mapping.families.iter().cloned())
            .collect();
        f.sort();
        f.dedup();
        f
    }

    /// A decoder borrowing the plan.
    pub fn decoder(&self) -> Result<Decoder<'_>, String> {
        Ok(match self.format {
            Format::Avro => {
                let (_, s, l) = self
                    .schemas
                    .first()
                    .ok_or("no Avro schema to decode with")?;
                Decoder::Avro(AvroDecoder::new(s, &self.layouts[*l])?)
            }
            Format::AvroConfluent => {
                let mut v = Vec::new();
                for (id, s, l) in &self.schemas {
                    v.push((
                        id.unwrap_or_default(),
                        *l,
                        AvroDecoder::new(s, &self.layouts[*l])?,
                    ));
                }
                Decoder::Confluent(ConfluentDecoder::new(v))
            }
            Format::Json => Decoder::Json(json::JsonDecoder::new(&self.layouts[0])),
            Format::Csv => Decoder::Csv(csv::CsvDecoder::new(&self.layouts[0])),
        })
    }
}

fn field_names(s: &NamedSchema) -> Vec<String> {
    match &s.schema {
        apache_avro::Schema::Record(r) => r.fields.iter().map(|f| f.name.clone()).collect(),
        _ => Vec::new(),
    }
}

fn field_default(s: &NamedSchema, name: &str) -> Option<Vec<u8>> {
    let apache_avro::Schema::Record(r) = &s.schema else {
        return None;
    };
    let d = r.fields.iter().find(|f| f.name == name)?.default.as_ref()?;
    let mut out = Vec::new();
    text::push_json(&mut out, d).ok()?;
    Some(out)
}

/// Decodes record values of one format.
pub enum Decoder<'p> {
    /// Schemaless Avro.
    Avro(AvroDecoder<'p>),
    /// Confluent-framed Avro.
    Confluent(ConfluentDecoder<'p>),
    /// JSON objects.
    Json(json::JsonDecoder<'p>),
    /// CSV lines.
    Csv(csv::CsvDecoder<'p>),
}

impl Decoder<'_> {
    /// Decode one record value into `fields`; returns the index of its layout. `Err` is the
    /// reject reason.
    pub fn decode(&self, value: &[u8], fields: &mut Fields) -> Result<usize, String> {
        match self {
            Decoder::Avro(d) => d.decode(value, fields).map(|()| 0),
            Decoder::Confluent(d) => d.decode(value, fields),
            Decoder::Json(d) => d.decode(value, fields).map(|()| 0),
            Decoder::Csv(d) => d.decode(value, fields).map(|()| 0),
        }
    }
}

#[cfg(test)]
mod tests;
