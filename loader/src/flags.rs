//! Turning `strata load` flags into [`LoadOptions`]: the mapping choice (`--mapping NAME`,
//! the table's built-in mapping, `--columns`, `--row-key`), `--delimiter`, `--memory` sizes, rejects and timestamps.
//! Owns the flag syntax so the CLI stays thin. It must never read rows or write files (it
//! reads only the CSV header, for `--columns`).

use std::path::{Path, PathBuf};

use crate::bulk::LoadOptions;
use crate::consume::builtin_mapping_name;
use crate::csv_input::ChunkReader;
use crate::error::{LoaderError, Result};
use crate::mapping::{TableMapping, builtin_mapping};

/// The `strata load` flags that shape a bulk build (`--data-dir`/`--server` are the CLI's).
#[derive(Clone, Debug, Default)]
pub struct LoadFlags {
    /// `--table`.
    pub table: String,
    /// `--csv`.
    pub csv: PathBuf,
    /// `--mapping NAME`: a built-in mapping, whatever the table is called.
    pub mapping: Option<String>,
    /// `--columns HBASE_ROW_KEY,cf:q,...`.
    pub columns: Option<String>,
    /// `--row-key TEMPLATE`.
    pub row_key: Option<String>,
    /// `--delimiter C` (one character, or `tab` / `\t`).
    pub delimiter: Option<String>,
    /// `--timestamp-column COL`.
    pub timestamp_column: Option<String>,
    /// `--memory SIZE` (`1GiB`, `512MiB`, `100MB`, bytes).
    pub memory: Option<String>,
    /// `--rejects PATH`.
    pub rejects: Option<PathBuf>,
    /// `--max-rejects N`.
    pub max_rejects: Option<u64>,
}

/// Parse a size: a number with an optional unit `B`, `K`/`KB`/`KiB`, `M`/`MB`/`MiB`,
/// `G`/`GB`/`GiB`, `T`/`TB`/`TiB` (KB/MB/GB/TB are powers of 10, the rest of 2).
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| LoaderError::InvalidOption(format!("size {s:?}: not a number")))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "kb" => 1e3,
        "m" | "mib" => 1024.0 * 1024.0,
        "mb" => 1e6,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "gb" => 1e9,
        "t" | "tib" => 1024f64.powi(4),
        "tb" => 1e12,
        other => {
            return Err(LoaderError::InvalidOption(format!(
                "size {s:?}: unknown unit {other:?} (use B, KiB, MiB, GiB, KB, MB, GB)"
            )));
        }
    };
    let v = n * mult;
    if !(v.is_finite() && v >= 1.0 && v < u64::MAX as f64) {
        return Err(LoaderError::InvalidOption(format!(
            "size {s:?} is out of range"
        )));
    }
    Ok(v as u64)
}

/// Parse a delimiter: one ASCII character other than a quote or line break, or `tab`/`\t`.
pub fn parse_delimiter(s: &str) -> Result<u8> {
    let b = match s {
        "tab" | "\\t" | "\t" => b'\t',
        _ if s.len() == 1 && s.is_ascii() => s.as_bytes()[0],
        _ => {
            return Err(LoaderError::InvalidOption(format!(
                "delimiter {s:?} must be one ASCII character (or tab)"
            )));
        }
    };
    if matches!(b, b'"' | b'\n' | b'\r') {
        return Err(LoaderError::InvalidOption(format!(
            "delimiter {s:?} cannot be a quote or a line break"
        )));
    }
    Ok(b)
}

/// Read a CSV file's header names (BOM stripped).
pub fn read_header(path: &Path, delimiter: u8) -> Result<Vec<String>> {
    Ok(ChunkReader::open(path, delimiter, 64 << 10)?
        .header()
        .to_vec())
}

/// The mapping the flags ask for: `--columns` if given (with the CSV header), else the
/// built-in mapping `--mapping` names, else the table's own (its name, or the pipeline's name
/// for it: `customer`, `click_stream`); `--row-key` overrides the key either way. The mapping
/// writes to `--table` whichever built-in it came from (`--mapping customers --table customer`).
pub fn mapping_for(flags: &LoadFlags, delimiter: u8) -> Result<TableMapping> {
    const BUILT_IN: &str = "customers, product, transactions, clickstream, or the pipeline's \
                            customer, click_stream";
    let name = match (&flags.mapping, &flags.columns) {
        (Some(_), Some(_)) => {
            return Err(LoaderError::InvalidOption(
                "give --mapping or --columns, not both".into(),
            ));
        }
        (None, Some(spec)) => {
            let header = read_header(&flags.csv, delimiter)?;
            return TableMapping::from_columns_spec(
                &flags.table,
                spec,
                &header,
                flags.row_key.as_deref(),
            );
        }
        (Some(m), None) => builtin_mapping_name(m).ok_or_else(|| {
            LoaderError::Mapping(format!(
                "--mapping {m:?} is not a built-in mapping ({BUILT_IN})"
            ))
        })?,
        (None, None) => builtin_mapping_name(&flags.table).ok_or_else(|| {
            LoaderError::Mapping(format!(
                "table {:?} has no built-in mapping ({BUILT_IN}): give --mapping NAME or \
                 --columns",
                flags.table
            ))
        })?,
    };
    let m = builtin_mapping(name)
        .ok_or_else(|| LoaderError::Mapping(format!("no built-in mapping named {name:?}")))?;
    let mut m = match &flags.row_key {
        Some(t) => m.with_row_key(t)?,
        None => m,
    };
    m.table = flags.table.clone();
    Ok(m)
}

/// Load options from the flags, writing table files into `out_dir`. The caller may then set
/// `families` (the table's family options), `progress`, and `temp_dir`.
pub fn load_options(flags: &LoadFlags, out_dir: &Path) -> Result<LoadOptions> {
    let delimiter = flags
        .delimiter
        .as_deref()
        .map(parse_delimiter)
        .transpose()?
        .unwrap_or(b',');
    let mapping = mapping_for(flags, delimiter)?;
    let mut o = LoadOptions::new(&flags.csv, out_dir, mapping);
    o.delimiter = delimiter;
    o.timestamp_column = flags.timestamp_column.clone();
    if let Some(m) = &flags.memory {
        o.memory_budget = parse_size(m)?;
    }
    o.rejects_path = flags.rejects.clone();
    o.max_rejects = flags.max_rejects;
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_delimiters() {
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("100MB").unwrap(), 100_000_000);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("1.5g").unwrap(), 3 << 29);
        assert!(parse_size("").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("0").is_err());
        assert_eq!(parse_delimiter(";").unwrap(), b';');
        assert_eq!(parse_delimiter("tab").unwrap(), b'\t');
        assert!(parse_delimiter("\"").is_err());
        assert!(parse_delimiter(",,").is_err());
    }

    #[test]
    fn flags_choose_the_mapping() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("x.csv");
        std::fs::write(&csv, "a;b;c\n1;2;3\n").unwrap();
        let flags = LoadFlags {
            table: "t".into(),
            csv: csv.clone(),
            columns: Some("HBASE_ROW_KEY,f:b,-".into()),
            delimiter: Some(";".into()),
            memory: Some("64MiB".into()),
            ..LoadFlags::default()
        };
        let o = load_options(&flags, dir.path()).unwrap();
        assert_eq!(o.delimiter, b';');
        assert_eq!(o.memory_budget, 64 << 20);
        assert_eq!(o.mapping.families, vec!["f".to_string()]);
        let s = crate::build_table_files(&o).unwrap();
        assert_eq!((s.rows, s.cells), (1, 1));

        let err = load_options(
            &LoadFlags {
                columns: None,
                ..flags.clone()
            },
            dir.path(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("--columns"), "{err}");
        let m = load_options(
            &LoadFlags {
                table: "clickstream".into(),
                columns: None,
                row_key: Some("{session_id}".into()),
                ..flags
            },
            dir.path(),
        )
        .unwrap()
        .mapping;
        assert_eq!(m.row_key, crate::RowKeyTemplate::column("session_id"));
    }

    #[test]
    fn a_built_in_mapping_loads_under_another_table_name() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("c.csv");
        let header = crate::mapping::builtin_header("customers")
            .unwrap()
            .join(",");
        std::fs::write(&csv, format!("{header}\n")).unwrap();
        let flags = |table: &str, mapping: Option<&str>| LoadFlags {
            table: table.into(),
            csv: csv.clone(),
            mapping: mapping.map(str::to_string),
            ..LoadFlags::default()
        };
        let customers = builtin_mapping("customers").unwrap();
        let m = mapping_for(&flags("customer", Some("customers")), b',').unwrap();
        assert_eq!(m.table, "customer", "written to --table");
        assert_eq!(
            (m.families, m.columns),
            (customers.families.clone(), customers.columns.clone())
        );
        // The pipeline's names mean their built-in without --mapping, and as --mapping.
        let m = mapping_for(&flags("customer", None), b',').unwrap();
        assert_eq!(
            (m.table.as_str(), &m.columns),
            ("customer", &customers.columns)
        );
        let click = builtin_mapping("clickstream").unwrap();
        let m = mapping_for(&flags("events", Some("click_stream")), b',').unwrap();
        assert_eq!((m.table.as_str(), &m.row_key), ("events", &click.row_key));

        let e = mapping_for(&flags("customer", Some("customerz")), b',').unwrap_err();
        assert!(
            e.to_string()
                .contains("\"customerz\" is not a built-in mapping"),
            "{e}"
        );
        let e = mapping_for(&flags("other", None), b',').unwrap_err();
        assert!(e.to_string().contains("--mapping NAME or --columns"), "{e}");
        let both = LoadFlags {
            columns: Some("HBASE_ROW_KEY".into()),
            ..flags("customer", Some("customers"))
        };
        let e = mapping_for(&both, b',').unwrap_err();
        assert!(e.to_string().contains("not both"), "{e}");
    }
}
