//! A layout: the field names a record decodes into (its "header", named like the CSV header of
//! `strata load`), the default text of each field a record may lack, and the table mapping
//! resolved against those names, so a record's fields become cells exactly as a CSV row with
//! the same header does.
//!
//! Owns the mapping choice (`--mapping`, else the table's built-in or pipeline name, else
//! `--columns`) and the check that a schema or field list fits the mapping. It must never
//! decode record bytes (the format decoders do) and never build cells itself (the loader's
//! `ResolvedMapping` rules do).

use crate::mapping::{ColumnTarget, ResolvedMapping, TableMapping, builtin_mapping};

/// The built-in mapping a table or mapping name means: the four built-ins by their table name
/// or the pipeline's name for them (`customer`, `click_stream`).
pub fn builtin_mapping_name(name: &str) -> Option<&'static str> {
    match name {
        "customers" | "customer" => Some("customers"),
        "product" => Some("product"),
        "transactions" => Some("transactions"),
        "clickstream" | "click_stream" => Some("clickstream"),
        _ => None,
    }
}

/// Which mapping a consumer uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MappingSpec {
    /// One of the four built-in mappings (its table name).
    Builtin(&'static str),
    /// An ImportTsv-style `--columns` spec, one entry per record field in header order.
    Columns(String),
}

/// The mapping flags of `strata consume`.
#[derive(Clone, Debug)]
pub struct MappingFlags {
    /// The table written.
    pub table: String,
    /// The mapping.
    pub spec: MappingSpec,
    /// `--row-key TEMPLATE`.
    pub row_key: Option<String>,
    /// `--timestamp-column COL`.
    pub timestamp_column: Option<String>,
}

impl MappingFlags {
    /// Choose the mapping as the issue says: `--mapping NAME`, else the table name when it is
    /// a built-in one (or the pipeline's name for it), else `--columns` is required.
    pub fn choose(
        table: &str,
        mapping: Option<&str>,
        columns: Option<&str>,
        row_key: Option<&str>,
        timestamp_column: Option<&str>,
    ) -> Result<MappingFlags, String> {
        let spec = match (mapping, columns) {
            (Some(_), Some(_)) => return Err("give --mapping or --columns, not both".into()),
            (Some(m), None) => MappingSpec::Builtin(builtin_mapping_name(m).ok_or_else(|| {
                format!(
                    "--mapping {m:?} is not a built-in mapping (customers, product, \
                     transactions, clickstream)"
                )
            })?),
            (None, Some(c)) => MappingSpec::Columns(c.to_string()),
            (None, None) => MappingSpec::Builtin(builtin_mapping_name(table).ok_or_else(|| {
                format!(
                    "table {table:?} has no built-in mapping (customers, product, \
                     transactions, clickstream, or the pipeline's customer, click_stream): \
                     give --mapping NAME or --columns"
                )
            })?),
        };
        Ok(MappingFlags {
            table: table.to_string(),
            spec,
            row_key: row_key.map(str::to_string),
            timestamp_column: timestamp_column.map(str::to_string),
        })
    }

    /// The built-in mapping's name, if the mapping is one.
    pub fn builtin(&self) -> Option<&'static str> {
        match self.spec {
            MappingSpec::Builtin(b) => Some(b),
            MappingSpec::Columns(_) => None,
        }
    }

    /// The mapping over `header`.
    fn mapping(&self, header: &[String]) -> Result<TableMapping, String> {
        let mut m = match &self.spec {
            MappingSpec::Builtin(name) => {
                let m = builtin_mapping(name)
                    .ok_or_else(|| format!("no built-in mapping named {name:?}"))?;
                match &self.row_key {
                    Some(t) => m.with_row_key(t).map_err(|e| e.to_string())?,
                    None => m,
                }
            }
            MappingSpec::Columns(spec) => {
                TableMapping::from_columns_spec(&self.table, spec, header, self.row_key.as_deref())
                    .map_err(|e| e.to_string())?
            }
        };
        m.table = self.table.clone();
        Ok(m)
    }
}

/// Field names, defaults and the resolved mapping of one kind of record.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Where the field names come from, for messages (`schema FILE`, `--fields`, ...).
    pub source: String,
    /// Field names in decoding order.
    pub header: Vec<String>,
    /// Per field, the text a record lacking it gets (from the schema's `default`).
    pub defaults: Vec<Option<Vec<u8>>>,
    /// The mapping resolved against `header`.
    pub mapping: ResolvedMapping,
    /// Per field, whether the mapping reads it (the others are not converted).
    pub needed: Vec<bool>,
}

impl Layout {
    /// Resolve the mapping of `flags` against `header`. A field the mapping needs that is not
    /// in `header` is a configuration error naming the field and `source`.
    pub fn new(
        source: String,
        header: Vec<String>,
        defaults: Vec<Option<Vec<u8>>>,
        flags: &MappingFlags,
    ) -> Result<Layout, String> {
        let mapping = flags.mapping(&header)?;
        let mut wanted: Vec<&str> = mapping
            .columns
            .iter()
            .filter(|c| !matches!(c.target, ColumnTarget::Skip))
            .map(|c| c.name.as_str())
            .collect();
        wanted.extend(mapping.row_key.columns());
        wanted.extend(flags.timestamp_column.as_deref());
        for name in wanted {
            if !header.iter().any(|h| h == name) {
                return Err(format!(
                    "{source} does not fit the mapping of table {}: it has no field {name:?} \
                     (its fields: {})",
                    flags.table,
                    header.join(",")
                ));
            }
        }
        let resolved = mapping
            .resolve(&header, flags.timestamp_column.as_deref())
            .map_err(|e| format!("{source}: {e}"))?;
        let mut needed = vec![false; header.len()];
        for slot in &resolved.cells {
            needed[slot.column] = true;
        }
        for part in &resolved.key {
            if let crate::mapping::ResolvedKeyPart::Column(c) = part {
                needed[*c] = true;
            }
        }
        if let Some(c) = resolved.timestamp_column {
            needed[c] = true;
        }
        let mut defaults = defaults;
        defaults.resize(header.len(), None);
        Ok(Layout {
            source,
            header,
            defaults,
            mapping: resolved,
            needed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_mapping_follows_flag_then_table_name_then_columns() {
        let f = MappingFlags::choose("click_stream", None, None, None, None).unwrap();
        assert_eq!(f.spec, MappingSpec::Builtin("clickstream"));
        let f = MappingFlags::choose("customer", None, None, None, None).unwrap();
        assert_eq!(f.builtin(), Some("customers"));
        let f = MappingFlags::choose("events", Some("click_stream"), None, None, None).unwrap();
        assert_eq!(f.builtin(), Some("clickstream"));
        let f = MappingFlags::choose("events", None, Some("HBASE_ROW_KEY,f:a"), None, None);
        assert_eq!(
            f.unwrap().spec,
            MappingSpec::Columns("HBASE_ROW_KEY,f:a".into())
        );
        let err = MappingFlags::choose("events", None, None, None, None).unwrap_err();
        assert!(err.contains("--columns"), "{err}");
        assert!(MappingFlags::choose("t", Some("nope"), None, None, None).is_err());
        assert!(MappingFlags::choose("t", Some("product"), Some("x"), None, None).is_err());
    }

    #[test]
    fn a_header_missing_a_mapped_field_is_named() {
        let flags = MappingFlags::choose("product", None, None, None, None).unwrap();
        let header = names(&["id", "gender", "season"]);
        let err = Layout::new("schema p.avsc".into(), header, vec![], &flags).unwrap_err();
        assert!(err.contains("schema p.avsc"), "{err}");
        assert!(err.contains("\"masterCategory\""), "{err}");
        let flags =
            MappingFlags::choose("t", None, Some("HBASE_ROW_KEY,f:b"), None, Some("when")).unwrap();
        let err = Layout::new("--fields".into(), names(&["a", "b"]), vec![], &flags).unwrap_err();
        assert!(err.contains("\"when\""), "{err}");
    }

    #[test]
    fn needed_fields_are_the_mapped_ones() {
        let flags =
            MappingFlags::choose("t", None, Some("HBASE_ROW_KEY,-,f:c"), None, None).unwrap();
        let l = Layout::new("--fields".into(), names(&["a", "b", "c"]), vec![], &flags).unwrap();
        assert_eq!(l.needed, vec![true, false, true]);
        assert_eq!(l.defaults, vec![None, None, None]);
        assert_eq!(l.mapping.cells.len(), 1);
    }
}
