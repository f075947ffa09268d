//! How CSV columns become cells: the four built-in table layouts of the brief, ImportTsv-style
//! `--columns` specs, and `--row-key` templates. Owns column-to-(family, qualifier) decisions
//! and their validation against a CSV header, and the per-record rules that turn one record's
//! fields into a row key, a timestamp and cell values (the same for a CSV row of `strata load`
//! and a Kafka record of `strata consume`, whose fields are named like the CSV header).
//! It must never read CSV data or write cells; `resolve` turns a mapping into indexes that the
//! parser and the consumer use.

use std::sync::Arc;

use crate::error::{LoaderError, Result};

/// One piece of a row key template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyPart {
    /// The value of a CSV column (by header name).
    Column(String),
    /// Literal bytes between columns, such as `#`.
    Literal(String),
}

/// How a row key is built from a record: columns and literals concatenated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowKeyTemplate {
    /// The pieces, in order.
    pub parts: Vec<KeyPart>,
}

impl RowKeyTemplate {
    /// A key that is one column's value.
    pub fn column(name: &str) -> Self {
        RowKeyTemplate {
            parts: vec![KeyPart::Column(name.to_string())],
        }
    }

    /// Parse a template. With braces, `{col}` names a column and anything else is literal:
    /// `{session_id}#{event_time}#{event_id}`. Without braces, the template is column names
    /// joined by `#`, as the brief writes it: `session_id#event_time#event_id`.
    pub fn parse(template: &str) -> Result<Self> {
        let bad = |why: &str| LoaderError::Mapping(format!("row key template {template:?}: {why}"));
        let mut parts = Vec::new();
        if !template.contains('{') && !template.contains('}') {
            for (i, name) in template.split('#').enumerate() {
                if name.is_empty() {
                    return Err(bad("empty column name"));
                }
                if i > 0 {
                    parts.push(KeyPart::Literal("#".to_string()));
                }
                parts.push(KeyPart::Column(name.to_string()));
            }
            return Ok(RowKeyTemplate { parts });
        }
        let mut rest = template;
        while !rest.is_empty() {
            match rest.find(['{', '}']) {
                Some(i) if rest.as_bytes()[i] == b'}' => return Err(bad("'}' without '{'")),
                Some(i) => {
                    if i > 0 {
                        parts.push(KeyPart::Literal(rest[..i].to_string()));
                    }
                    let after = &rest[i + 1..];
                    let close = after.find('}').ok_or_else(|| bad("'{' without '}'"))?;
                    let name = &after[..close];
                    if name.is_empty() || name.contains('{') {
                        return Err(bad("empty or nested column name"));
                    }
                    parts.push(KeyPart::Column(name.to_string()));
                    rest = &after[close + 1..];
                }
                None => {
                    parts.push(KeyPart::Literal(rest.to_string()));
                    rest = "";
                }
            }
        }
        if !parts.iter().any(|p| matches!(p, KeyPart::Column(_))) {
            return Err(bad("names no column"));
        }
        Ok(RowKeyTemplate { parts })
    }

    /// The column names the template uses, in order.
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            KeyPart::Column(c) => Some(c.as_str()),
            KeyPart::Literal(_) => None,
        })
    }
}

/// What one CSV column becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ColumnTarget {
    /// A cell in `families[family]` with this qualifier.
    Cell {
        /// Index into [`TableMapping::families`].
        family: usize,
        /// Qualifier bytes (the header name for the built-ins).
        qualifier: String,
    },
    /// The column is (part of) the row key only; no cell.
    RowKey,
    /// Ignored.
    Skip,
}

/// A CSV column of the mapping: the header name it expects and what it becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnSpec {
    /// Header name.
    pub name: String,
    /// Its target.
    pub target: ColumnTarget,
}

/// A table's CSV-to-cells mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableMapping {
    /// Table name.
    pub table: String,
    /// Families the mapping writes, in declaration order.
    pub families: Vec<String>,
    /// How the row key is built.
    pub row_key: RowKeyTemplate,
    /// The CSV columns it uses, by header name.
    pub columns: Vec<ColumnSpec>,
}

/// One output cell of a resolved mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellSlot {
    /// Family name.
    pub family: Arc<str>,
    /// Qualifier bytes.
    pub qualifier: Vec<u8>,
    /// Index of the CSV column that holds the value.
    pub column: usize,
}

/// A part of the row key, resolved to header indexes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResolvedKeyPart {
    /// CSV column index.
    Column(usize),
    /// Literal bytes.
    Literal(Vec<u8>),
}

/// A mapping checked against a header: what the parser and the file writer need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedMapping {
    /// Number of fields every record must have (the header's).
    pub field_count: usize,
    /// Row key pieces.
    pub key: Vec<ResolvedKeyPart>,
    /// Output cells in the exact internal order: family name bytes, then qualifier bytes.
    /// The parser stores a record's values in this order.
    pub cells: Vec<CellSlot>,
    /// Sorted distinct family names.
    pub families: Vec<String>,
    /// Header index of the timestamp column, if any.
    pub timestamp_column: Option<usize>,
}

/// The CSV file a built-in table loads from.
pub fn builtin_csv_file(table: &str) -> Option<&'static str> {
    match table {
        "customers" => Some("customer.csv"),
        "product" => Some("product.csv"),
        "transactions" => Some("transactions.csv"),
        "clickstream" => Some("click_stream.csv"),
        _ => None,
    }
}

/// Header of a built-in table's CSV file, exactly as the brief lists it.
pub fn builtin_header(table: &str) -> Option<&'static [&'static str]> {
    Some(match table {
        "customers" => &[
            "customer_id",
            "first_name",
            "last_name",
            "username",
            "email",
            "gender",
            "birthdate",
            "device_type",
            "device_id",
            "device_version",
            "home_location_lat",
            "home_location_long",
            "home_location",
            "home_country",
            "first_join_date",
        ],
        "product" => &[
            "id",
            "gender",
            "masterCategory",
            "subCategory",
            "articleType",
            "baseColour",
            "season",
            "year",
            "usage",
            "productDisplayName",
        ],
        "transactions" => &[
            "created_at",
            "customer_id",
            "booking_id",
            "session_id",
            "product_metadata",
            "payment_method",
            "payment_status",
            "promo_amount",
            "promo_code",
            "shipment_fee",
            "shipment_date_limit",
            "shipment_location_lat",
            "shipment_location_long",
            "total_amount",
        ],
        "clickstream" => &[
            "session_id",
            "event_name",
            "event_time",
            "event_id",
            "traffic_source",
            "event_metadata",
        ],
        _ => return None,
    })
}

/// (row key template, [(family, [qualifiers])]) of the brief's table layout.
type Layout = (
    &'static str,
    &'static [(&'static str, &'static [&'static str])],
);

fn builtin_layout(table: &str) -> Option<Layout> {
    Some(match table {
        "customers" => (
            "customer_id",
            &[
                (
                    "personal_info",
                    &[
                        "first_name",
                        "last_name",
                        "username",
                        "email",
                        "gender",
                        "birthdate",
                    ],
                ),
                (
                    "device_info",
                    &["device_type", "device_id", "device_version"],
                ),
                (
                    "location_info",
                    &[
                        "home_location_lat",
                        "home_location_long",
                        "home_location",
                        "home_country",
                    ],
                ),
                ("join_info", &["first_join_date"]),
            ],
        ),
        "product" => (
            "id",
            &[
                ("product_info", &["productDisplayName"]),
                (
                    "product_details",
                    &[
                        "gender",
                        "masterCategory",
                        "subCategory",
                        "articleType",
                        "baseColour",
                    ],
                ),
                ("metadata", &["season", "year", "usage"]),
            ],
        ),
        "transactions" => (
            "booking_id",
            &[
                (
                    "transaction_details",
                    &[
                        "created_at",
                        "customer_id",
                        "session_id",
                        "product_metadata",
                    ],
                ),
                (
                    "payment_info",
                    &[
                        "payment_method",
                        "payment_status",
                        "promo_amount",
                        "promo_code",
                    ],
                ),
                (
                    "shipment_info",
                    &[
                        "shipment_fee",
                        "shipment_date_limit",
                        "shipment_location_lat",
                        "shipment_location_long",
                    ],
                ),
                ("transaction_summary", &["total_amount"]),
            ],
        ),
        "clickstream" => (
            "{session_id}#{event_time}#{event_id}",
            &[
                (
                    "event_details",
                    &["event_name", "event_time", "event_id", "session_id"],
                ),
                ("traffic_info", &["traffic_source"]),
                ("metadata", &["event_metadata"]),
            ],
        ),
        _ => return None,
    })
}

/// The built-in mapping of one of the four tables (`customers`, `product`, `transactions`,
/// `clickstream`), exactly as the brief's table layout: qualifiers are the header names.
pub fn builtin_mapping(table: &str) -> Option<TableMapping> {
    let (key, layout) = builtin_layout(table)?;
    let header = builtin_header(table)?;
    let row_key = RowKeyTemplate::parse(key).ok()?;
    let families: Vec<String> = layout.iter().map(|(f, _)| f.to_string()).collect();
    let columns = header
        .iter()
        .map(|&name| {
            let target = layout
                .iter()
                .enumerate()
                .find(|(_, (_, quals))| quals.contains(&name))
                .map(|(family, _)| ColumnTarget::Cell {
                    family,
                    qualifier: name.to_string(),
                })
                .unwrap_or(if row_key.columns().any(|c| c == name) {
                    ColumnTarget::RowKey
                } else {
                    ColumnTarget::Skip
                });
            ColumnSpec {
                name: name.to_string(),
                target,
            }
        })
        .collect();
    Some(TableMapping {
        table: table.to_string(),
        families,
        row_key,
        columns,
    })
}

impl TableMapping {
    /// An ImportTsv-style mapping: the i-th entry of `spec` says what the i-th CSV column
    /// becomes: `HBASE_ROW_KEY`, `family:qualifier`, or `-` (skip). `row_key` (a `--row-key`
    /// template) overrides `HBASE_ROW_KEY`; one of the two is required.
    pub fn from_columns_spec(
        table: &str,
        spec: &str,
        header: &[String],
        row_key: Option<&str>,
    ) -> Result<TableMapping> {
        let entries: Vec<&str> = spec.split(',').map(str::trim).collect();
        if entries.len() != header.len() {
            return Err(LoaderError::Mapping(format!(
                "--columns lists {} entries but the CSV header has {} columns ({})",
                entries.len(),
                header.len(),
                header.join(",")
            )));
        }
        let mut families: Vec<String> = Vec::new();
        let mut columns = Vec::new();
        let mut key_col: Option<&str> = None;
        for (entry, name) in entries.iter().zip(header) {
            let target = if *entry == "HBASE_ROW_KEY" {
                if let Some(prev) = key_col {
                    return Err(LoaderError::Mapping(format!(
                        "HBASE_ROW_KEY given twice (columns {prev:?} and {name:?})"
                    )));
                }
                key_col = Some(name);
                ColumnTarget::RowKey
            } else if *entry == "-" {
                ColumnTarget::Skip
            } else {
                let (fam, qual) = entry.split_once(':').ok_or_else(|| {
                    LoaderError::Mapping(format!(
                        "--columns entry {entry:?} for column {name:?} is not \
                         HBASE_ROW_KEY, family:qualifier or -"
                    ))
                })?;
                strata_engine::options::validate_name("family", fam)
                    .map_err(|e| LoaderError::Mapping(format!("column {name:?}: {e}")))?;
                let family = match families.iter().position(|f| f == fam) {
                    Some(i) => i,
                    None => {
                        families.push(fam.to_string());
                        families.len() - 1
                    }
                };
                ColumnTarget::Cell {
                    family,
                    qualifier: qual.to_string(),
                }
            };
            columns.push(ColumnSpec {
                name: name.clone(),
                target,
            });
        }
        let row_key = match (row_key, key_col) {
            (Some(t), _) => RowKeyTemplate::parse(t)?,
            (None, Some(c)) => RowKeyTemplate::column(c),
            (None, None) => {
                return Err(LoaderError::Mapping(
                    "no row key: --columns needs one HBASE_ROW_KEY entry or give --row-key".into(),
                ));
            }
        };
        Ok(TableMapping {
            table: table.to_string(),
            families,
            row_key,
            columns,
        })
    }

    /// Replace the row key by a `--row-key` template.
    pub fn with_row_key(mut self, template: &str) -> Result<TableMapping> {
        self.row_key = RowKeyTemplate::parse(template)?;
        Ok(self)
    }

    /// Check the mapping against a CSV header and turn names into indexes.
    /// `timestamp_column` names a column holding each row's ISO-8601 cell timestamp.
    pub fn resolve(
        &self,
        header: &[String],
        timestamp_column: Option<&str>,
    ) -> Result<ResolvedMapping> {
        let index_of = |name: &str, what: &str| -> Result<usize> {
            header.iter().position(|h| h == name).ok_or_else(|| {
                LoaderError::Mapping(format!(
                    "{what} {name:?} is not in the CSV header ({})",
                    header.join(",")
                ))
            })
        };
        for f in &self.families {
            strata_engine::options::validate_name("family", f).map_err(LoaderError::Mapping)?;
        }
        let key = self
            .row_key
            .parts
            .iter()
            .map(|p| {
                Ok(match p {
                    KeyPart::Column(c) => ResolvedKeyPart::Column(index_of(c, "row key column")?),
                    KeyPart::Literal(l) => ResolvedKeyPart::Literal(l.as_bytes().to_vec()),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // One shared name per family: every cell of a family clones it.
        let names: Vec<Arc<str>> = self.families.iter().map(|f| Arc::from(&**f)).collect();
        let mut cells = Vec::new();
        for col in &self.columns {
            let idx = index_of(&col.name, "mapped column")?;
            if let ColumnTarget::Cell { family, qualifier } = &col.target {
                let family = names.get(*family).ok_or_else(|| {
                    LoaderError::Mapping(format!("column {:?} names a missing family", col.name))
                })?;
                cells.push(CellSlot {
                    family: family.clone(),
                    qualifier: qualifier.as_bytes().to_vec(),
                    column: idx,
                });
            }
        }
        if cells.is_empty() {
            return Err(LoaderError::Mapping(format!(
                "the mapping of table {:?} writes no cell",
                self.table
            )));
        }
        cells.sort_by(|a, b| {
            a.family
                .as_bytes()
                .cmp(b.family.as_bytes())
                .then_with(|| a.qualifier.cmp(&b.qualifier))
        });
        for w in cells.windows(2) {
            if w[0].family == w[1].family && w[0].qualifier == w[1].qualifier {
                return Err(LoaderError::Mapping(format!(
                    "two columns map to the same cell {}:{}",
                    w[0].family,
                    String::from_utf8_lossy(&w[0].qualifier)
                )));
            }
        }
        let mut families: Vec<String> = cells.iter().map(|c| c.family.to_string()).collect();
        families.dedup();
        let timestamp_column = timestamp_column
            .map(|c| index_of(c, "timestamp column"))
            .transpose()?;
        Ok(ResolvedMapping {
            field_count: header.len(),
            key,
            cells,
            families,
            timestamp_column,
        })
    }
}

impl ResolvedMapping {
    /// The reject reason for a record with `found` fields when the header has another count.
    pub fn check_field_count(&self, found: usize) -> Result<(), String> {
        if found == self.field_count {
            Ok(())
        } else {
            Err(format!(
                "expected {} fields, found {found}",
                self.field_count
            ))
        }
    }

    /// Append the row key of a record to `out`: `field(i)` is the value of header column `i`.
    /// `on_column(column, start, len)` reports where each key column's bytes landed in `out`
    /// (the CSV parser shares them with cells). Errors are reject reasons: a key column that
    /// is not UTF-8, an empty key, a key over `max_row_key` bytes. On error `out` may hold a
    /// partial key; the caller truncates it.
    pub fn push_row_key<'f>(
        &self,
        field: impl Fn(usize) -> &'f [u8],
        header: &[String],
        max_row_key: usize,
        out: &mut Vec<u8>,
        mut on_column: impl FnMut(usize, usize, usize),
    ) -> Result<(), String> {
        let start = out.len();
        for part in &self.key {
            match part {
                ResolvedKeyPart::Column(c) => {
                    let f = field(*c);
                    if std::str::from_utf8(f).is_err() {
                        return Err(format!(
                            "row key column {} is not valid UTF-8",
                            column_name(header, *c)
                        ));
                    }
                    on_column(*c, out.len(), f.len());
                    out.extend_from_slice(f);
                }
                ResolvedKeyPart::Literal(l) => out.extend_from_slice(l),
            }
        }
        let len = out.len() - start;
        if len == 0 {
            return Err("empty row key".to_string());
        }
        if len > max_row_key {
            return Err(format!(
                "row key is {len} bytes, longer than the {max_row_key}-byte limit"
            ));
        }
        Ok(())
    }

    /// The record's cell timestamp from the timestamp column (`None` without one); an
    /// unparseable value is a reject reason.
    pub fn record_timestamp<'f>(
        &self,
        field: impl Fn(usize) -> &'f [u8],
        header: &[String],
    ) -> Result<Option<strata_engine::Timestamp>, String> {
        let Some(c) = self.timestamp_column else {
            return Ok(None);
        };
        let v = field(c);
        crate::time::parse_timestamp_micros(v)
            .map(Some)
            .ok_or_else(|| {
                format!(
                    "column {}: {:?} is not an ISO-8601 timestamp",
                    column_name(header, c),
                    String::from_utf8_lossy(v)
                )
            })
    }

    /// The reject reason for a cell value over `max_value` bytes.
    pub fn check_value(
        &self,
        slot: &CellSlot,
        value: &[u8],
        header: &[String],
        max_value: usize,
    ) -> Result<(), String> {
        if value.len() > max_value {
            return Err(format!(
                "column {}: value of {} bytes exceeds the {max_value}-byte limit",
                column_name(header, slot.column),
                value.len()
            ));
        }
        Ok(())
    }
}

/// A header column's name for messages (`?` past the header's end).
fn column_name(header: &[String], c: usize) -> &str {
    header.get(c).map_or("?", String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells_of(m: &TableMapping) -> Vec<(String, Vec<String>)> {
        m.families
            .iter()
            .enumerate()
            .map(|(fi, f)| {
                let quals = m
                    .columns
                    .iter()
                    .filter_map(|c| match &c.target {
                        ColumnTarget::Cell { family, qualifier } if *family == fi => {
                            Some(qualifier.clone())
                        }
                        _ => None,
                    })
                    .collect();
                (f.clone(), quals)
            })
            .collect()
    }

    fn own(v: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        v.iter()
            .map(|(f, q)| (f.to_string(), q.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn builtins_match_the_brief_layout() {
        let c = builtin_mapping("customers").unwrap();
        assert_eq!(c.row_key, RowKeyTemplate::column("customer_id"));
        let mut got = cells_of(&c);
        for (_, q) in &mut got {
            q.sort();
        }
        let mut want = own(&[
            (
                "personal_info",
                &[
                    "first_name",
                    "last_name",
                    "username",
                    "email",
                    "gender",
                    "birthdate",
                ],
            ),
            (
                "device_info",
                &["device_type", "device_id", "device_version"],
            ),
            (
                "location_info",
                &[
                    "home_location_lat",
                    "home_location_long",
                    "home_location",
                    "home_country",
                ],
            ),
            ("join_info", &["first_join_date"]),
        ]);
        for (_, q) in &mut want {
            q.sort();
        }
        assert_eq!(got, want);

        let p = builtin_mapping("product").unwrap();
        assert_eq!(p.row_key, RowKeyTemplate::column("id"));
        assert_eq!(
            cells_of(&p),
            own(&[
                ("product_info", &["productDisplayName"]),
                (
                    "product_details",
                    &[
                        "gender",
                        "masterCategory",
                        "subCategory",
                        "articleType",
                        "baseColour"
                    ]
                ),
                ("metadata", &["season", "year", "usage"]),
            ])
        );

        let t = builtin_mapping("transactions").unwrap();
        assert_eq!(t.row_key, RowKeyTemplate::column("booking_id"));
        assert_eq!(
            cells_of(&t),
            own(&[
                (
                    "transaction_details",
                    &[
                        "created_at",
                        "customer_id",
                        "session_id",
                        "product_metadata"
                    ]
                ),
                (
                    "payment_info",
                    &[
                        "payment_method",
                        "payment_status",
                        "promo_amount",
                        "promo_code"
                    ]
                ),
                (
                    "shipment_info",
                    &[
                        "shipment_fee",
                        "shipment_date_limit",
                        "shipment_location_lat",
                        "shipment_location_long"
                    ]
                ),
                ("transaction_summary", &["total_amount"]),
            ])
        );

        let k = builtin_mapping("clickstream").unwrap();
        assert_eq!(
            k.row_key,
            RowKeyTemplate::parse("session_id#event_time#event_id").unwrap()
        );
        let mut got = cells_of(&k);
        for (_, q) in &mut got {
            q.sort();
        }
        assert_eq!(
            got,
            own(&[
                (
                    "event_details",
                    &["event_id", "event_name", "event_time", "session_id"]
                ),
                ("traffic_info", &["traffic_source"]),
                ("metadata", &["event_metadata"]),
            ])
        );
        assert!(builtin_mapping("nope").is_none());
    }

    #[test]
    fn builtin_key_columns_are_not_cells_except_in_clickstream() {
        for (t, key) in [
            ("customers", "customer_id"),
            ("product", "id"),
            ("transactions", "booking_id"),
        ] {
            let m = builtin_mapping(t).unwrap();
            let col = m.columns.iter().find(|c| c.name == key).unwrap();
            assert_eq!(col.target, ColumnTarget::RowKey, "{t}");
            // Every other header column is a cell.
            let cells = m
                .columns
                .iter()
                .filter(|c| matches!(c.target, ColumnTarget::Cell { .. }));
            assert_eq!(cells.count(), builtin_header(t).unwrap().len() - 1, "{t}");
        }
        let m = builtin_mapping("clickstream").unwrap();
        assert!(
            m.columns
                .iter()
                .all(|c| matches!(c.target, ColumnTarget::Cell { .. }))
        );
    }

    fn header_of(table: &str) -> Vec<String> {
        builtin_header(table)
            .unwrap()
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn resolve_orders_cells_by_family_then_qualifier() {
        let header = header_of("clickstream");
        let r = builtin_mapping("clickstream")
            .unwrap()
            .resolve(&header, None)
            .unwrap();
        let got: Vec<(String, String)> = r
            .cells
            .iter()
            .map(|c| {
                (
                    c.family.to_string(),
                    String::from_utf8(c.qualifier.clone()).unwrap(),
                )
            })
            .collect();
        let want = [
            ("event_details", "event_id"),
            ("event_details", "event_name"),
            ("event_details", "event_time"),
            ("event_details", "session_id"),
            ("metadata", "event_metadata"),
            ("traffic_info", "traffic_source"),
        ];
        assert_eq!(got, want.map(|(a, b)| (a.to_string(), b.to_string())));
        assert_eq!(
            r.key,
            vec![
                ResolvedKeyPart::Column(0),
                ResolvedKeyPart::Literal(b"#".to_vec()),
                ResolvedKeyPart::Column(2),
                ResolvedKeyPart::Literal(b"#".to_vec()),
                ResolvedKeyPart::Column(3),
            ]
        );
    }

    #[test]
    fn missing_header_columns_are_named() {
        let header: Vec<String> = ["customer_id", "first_name"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let err = builtin_mapping("customers")
            .unwrap()
            .resolve(&header, None)
            .unwrap_err();
        assert!(err.to_string().contains("\"last_name\""), "{err}");
        let full: Vec<String> = builtin_header("customers")
            .unwrap()
            .iter()
            .map(|s| s.to_string())
            .collect();
        let err = builtin_mapping("customers")
            .unwrap()
            .resolve(&full, Some("when"))
            .unwrap_err();
        assert!(err.to_string().contains("\"when\""), "{err}");
    }

    #[test]
    fn record_rules_build_keys_and_name_bad_fields() {
        let header = header_of("clickstream");
        let r = builtin_mapping("clickstream")
            .unwrap()
            .resolve(&header, Some("event_time"))
            .unwrap();
        let rec: Vec<&[u8]> = vec![
            b"s1",
            b"HOMEPAGE",
            b"2022-07-29T15:22:01.458193Z",
            b"e1",
            b"WEB",
            b"",
        ];
        let field = |c: usize| rec[c];
        let mut key = b"old".to_vec();
        let mut cols = Vec::new();
        r.push_row_key(field, &header, 4096, &mut key, |c, s, l| {
            cols.push((c, s, l))
        })
        .unwrap();
        assert_eq!(key, b"olds1#2022-07-29T15:22:01.458193Z#e1".to_vec());
        assert_eq!(cols, vec![(0, 3, 2), (2, 6, 27), (3, 34, 2)]);
        assert_eq!(
            r.record_timestamp(field, &header).unwrap(),
            Some(1_659_108_121_458_193)
        );
        assert_eq!(
            r.push_row_key(field, &header, 10, &mut Vec::new(), |_, _, _| {})
                .unwrap_err(),
            "row key is 33 bytes, longer than the 10-byte limit"
        );
        let bad: Vec<&[u8]> = vec![b"\xff", b"", b"x", b"", b"", b""];
        assert_eq!(
            r.push_row_key(|c| bad[c], &header, 4096, &mut Vec::new(), |_, _, _| {})
                .unwrap_err(),
            "row key column session_id is not valid UTF-8"
        );
        assert_eq!(
            r.record_timestamp(|c| bad[c], &header).unwrap_err(),
            "column event_time: \"x\" is not an ISO-8601 timestamp"
        );
        let empty: Vec<&[u8]> = vec![b""; 6];
        let m = TableMapping::from_columns_spec(
            "t",
            "f:a,f:b,f:c,f:d,f:e,f:g",
            &header,
            Some("{session_id}"),
        )
        .unwrap()
        .resolve(&header, None)
        .unwrap();
        assert_eq!(
            m.push_row_key(|c| empty[c], &header, 4096, &mut Vec::new(), |_, _, _| {})
                .unwrap_err(),
            "empty row key"
        );
        assert_eq!(m.record_timestamp(|c| empty[c], &header), Ok(None));
        assert_eq!(r.check_field_count(6), Ok(()));
        assert_eq!(
            r.check_field_count(5).unwrap_err(),
            "expected 6 fields, found 5"
        );
        let slot = &r.cells[0];
        assert!(r.check_value(slot, b"12345", &header, 5).is_ok());
        assert_eq!(
            r.check_value(slot, b"123456", &header, 5).unwrap_err(),
            "column event_id: value of 6 bytes exceeds the 5-byte limit"
        );
    }

    #[test]
    fn columns_spec_and_templates() {
        let header: Vec<String> = ["k", "a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let m =
            TableMapping::from_columns_spec("t", "HBASE_ROW_KEY,f:a,g:b,-", &header, None).unwrap();
        assert_eq!(m.families, vec!["f", "g"]);
        let r = m.resolve(&header, None).unwrap();
        assert_eq!(r.key, vec![ResolvedKeyPart::Column(0)]);
        assert_eq!(r.cells.len(), 2);
        assert_eq!(r.cells[1].column, 2);

        let m = TableMapping::from_columns_spec("t", "f:k,f:a,f:b,f:c", &header, Some("{a}-{b}"))
            .unwrap();
        let r = m.resolve(&header, None).unwrap();
        assert_eq!(
            r.key,
            vec![
                ResolvedKeyPart::Column(1),
                ResolvedKeyPart::Literal(b"-".to_vec()),
                ResolvedKeyPart::Column(2)
            ]
        );
        assert!(TableMapping::from_columns_spec("t", "f:a,f:b,f:c,f:d", &header, None).is_err());
        assert!(TableMapping::from_columns_spec("t", "HBASE_ROW_KEY,f:a", &header, None).is_err());
        assert!(
            TableMapping::from_columns_spec("t", "HBASE_ROW_KEY,fa,f:b,f:c", &header, None)
                .is_err()
        );
        assert!(
            TableMapping::from_columns_spec("t", "HBASE_ROW_KEY,f:a,f:a,f:c", &header, None)
                .unwrap()
                .resolve(&header, None)
                .is_err()
        );
        let err = TableMapping::from_columns_spec(
            "t",
            "HBASE_ROW_KEY,f:a,f:b,f:c",
            &header,
            Some("{zz}"),
        )
        .unwrap()
        .resolve(&header, None)
        .unwrap_err();
        assert!(err.to_string().contains("\"zz\""));
        assert!(RowKeyTemplate::parse("{a").is_err());
        assert!(RowKeyTemplate::parse("a}").is_err());
        assert!(RowKeyTemplate::parse("lit-only{}").is_err());
        assert!(RowKeyTemplate::parse("a##b").is_err());
    }
}
