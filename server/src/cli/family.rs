//! The command line's family and column syntax: `FAMILY[:opt=val,...]` for `create` and
//! `alter`, `FAMILY[:QUALIFIER]` for column selections and deletes.
//!
//! Parsing only; this module must never talk to a server.

use anyhow::{Context as _, Result, anyhow, bail};
use strata_proto::v1 as pb;
use strata_server::config::ByteSize;
use strata_server::escape;

/// The options one `FAMILY:opt=val,...` argument sets (None: not given).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FamilySpec {
    /// Family name.
    pub name: String,
    /// `versions=N`.
    pub versions: Option<u32>,
    /// `ttl=SECONDS` (or with s/m/h/d), `ttl=forever`.
    pub ttl_seconds: Option<u64>,
    /// `compression=none|zstd`.
    pub compression: Option<pb::Compression>,
    /// `level=N` (zstd level).
    pub level: Option<i32>,
    /// `bloom=on|off`.
    pub bloom: Option<bool>,
    /// `blocksize=SIZE`.
    pub block_size: Option<u32>,
}

/// The options `create` and `alter` accept, for error messages.
pub const FAMILY_OPTIONS: &str = "versions=N, ttl=SECONDS|Nm|Nh|Nd|forever, compression=none|zstd, level=N, bloom=on|off, blocksize=SIZE";

impl FamilySpec {
    /// Parse `FAMILY[:opt=val,...]`.
    pub fn parse(arg: &str) -> Result<FamilySpec> {
        let (name, opts) = match arg.split_once(':') {
            Some((n, o)) => (n, Some(o)),
            None => (arg, None),
        };
        if name.is_empty() {
            bail!("family argument {arg:?} has no family name");
        }
        let mut spec = FamilySpec {
            name: name.to_owned(),
            ..FamilySpec::default()
        };
        for opt in opts.into_iter().flat_map(|o| o.split(',')) {
            let opt = opt.trim();
            if opt.is_empty() {
                continue;
            }
            let (key, value) = opt.split_once('=').ok_or_else(|| {
                anyhow!("family {name}: option {opt:?} is not opt=value ({FAMILY_OPTIONS})")
            })?;
            let bad = || format!("family {name}: bad value {value:?} for {key}");
            match key.trim().to_ascii_lowercase().as_str() {
                "versions" | "max_versions" => {
                    let n: u32 = value.parse().with_context(bad)?;
                    if n == 0 {
                        bail!("family {name}: versions must be at least 1");
                    }
                    spec.versions = Some(n);
                }
                "ttl" | "ttl_seconds" => {
                    spec.ttl_seconds = Some(parse_ttl(value).with_context(bad)?)
                }
                "compression" => {
                    spec.compression = Some(match value.to_ascii_lowercase().as_str() {
                        "none" => pb::Compression::None,
                        "zstd" => pb::Compression::Zstd,
                        _ => {
                            bail!("family {name}: compression must be none or zstd, not {value:?}")
                        }
                    })
                }
                "level" | "compression_level" => {
                    spec.level = Some(value.parse().with_context(bad)?);
                }
                "bloom" | "bloomfilter" => {
                    spec.bloom = Some(match value.to_ascii_lowercase().as_str() {
                        "on" | "true" | "yes" | "row" => true,
                        "off" | "false" | "no" | "none" => false,
                        _ => bail!("family {name}: bloom must be on or off, not {value:?}"),
                    })
                }
                "blocksize" | "block_size" => {
                    let b: ByteSize = value
                        .parse()
                        .map_err(|e: String| anyhow!(e))
                        .with_context(bad)?;
                    spec.block_size = Some(u32::try_from(b.0).with_context(bad)?);
                }
                other => {
                    bail!("family {name}: unknown option {other:?} (options: {FAMILY_OPTIONS})")
                }
            }
        }
        Ok(spec)
    }

    /// Wire options for a new family: unset options are 0, the server's defaults.
    pub fn to_new(&self) -> pb::FamilyOptions {
        self.apply(pb::FamilyOptions {
            name: self.name.clone(),
            ..pb::FamilyOptions::default()
        })
    }

    /// `base` with the options this spec sets replaced.
    pub fn apply(&self, mut base: pb::FamilyOptions) -> pb::FamilyOptions {
        if let Some(v) = self.versions {
            base.max_versions = v;
        }
        if let Some(t) = self.ttl_seconds {
            base.ttl_seconds = t;
        }
        if let Some(c) = self.compression {
            base.compression = c as i32;
            if c == pb::Compression::None {
                base.compression_level = 0;
            }
        }
        if let Some(l) = self.level {
            base.compression_level = l;
        }
        if let Some(b) = self.bloom {
            base.disable_bloom_filter = !b;
        }
        if let Some(s) = self.block_size {
            base.block_size = s;
        }
        base
    }
}

fn parse_ttl(v: &str) -> Result<u64> {
    let v = v.trim().to_ascii_lowercase();
    if v == "forever" || v == "0" {
        return Ok(0);
    }
    let (num, mult) = match v.char_indices().last() {
        Some((i, 's')) => (&v[..i], 1),
        Some((i, 'm')) => (&v[..i], 60),
        Some((i, 'h')) => (&v[..i], 3600),
        Some((i, 'd')) => (&v[..i], 86_400),
        _ => (v.as_str(), 1),
    };
    let n: u64 = num.parse().with_context(|| format!("{v:?} is not a TTL"))?;
    n.checked_mul(mult)
        .ok_or_else(|| anyhow!("TTL {v:?} is too large"))
}

/// Parse `FAMILY[:QUALIFIER]` (the qualifier may use `\xNN` escapes; empty: whole family).
pub fn parse_column(arg: &str) -> Result<pb::ColumnSelector> {
    let (family, qualifier) = match arg.split_once(':') {
        Some((f, q)) => (f, escape::parse(q)),
        None => (arg, Vec::new()),
    };
    if family.is_empty() {
        bail!("column {arg:?} has no family (expected FAMILY[:QUALIFIER])");
    }
    Ok(pb::ColumnSelector {
        family: family.to_owned(),
        qualifier: qualifier.into(),
    })
}

/// Parse a comma-separated list of `FAMILY[:QUALIFIER]`.
pub fn parse_columns(list: &[String]) -> Result<Vec<pb::ColumnSelector>> {
    list.iter()
        .flat_map(|s| s.split(','))
        .filter(|s| !s.is_empty())
        .map(parse_column)
        .collect()
}

/// Parse `FAMILY:QUALIFIER` where a qualifier is required (put).
pub fn parse_cell_column(arg: &str) -> Result<(String, Vec<u8>)> {
    match arg.split_once(':') {
        Some((f, q)) if !f.is_empty() => Ok((f.to_owned(), escape::parse(q))),
        _ => bail!("column {arg:?} is not FAMILY:QUALIFIER"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_family_uses_defaults() {
        let s = FamilySpec::parse("personal_info").expect("valid");
        assert_eq!(s.name, "personal_info");
        let f = s.to_new();
        assert_eq!(
            f,
            pb::FamilyOptions {
                name: "personal_info".into(),
                ..Default::default()
            }
        );
    }

    #[test]
    fn every_option_parses() {
        let s = FamilySpec::parse(
            "m:versions=3,ttl=7d,compression=zstd,level=9,bloom=off,blocksize=16KiB",
        )
        .expect("valid");
        let f = s.to_new();
        assert_eq!(f.max_versions, 3);
        assert_eq!(f.ttl_seconds, 7 * 86_400);
        assert_eq!(f.compression, pb::Compression::Zstd as i32);
        assert_eq!(f.compression_level, 9);
        assert!(f.disable_bloom_filter);
        assert_eq!(f.block_size, 16 * 1024);

        let f = FamilySpec::parse("raw:compression=none,ttl=3600,blocksize=4096")
            .expect("valid")
            .to_new();
        assert_eq!(f.compression, pb::Compression::None as i32);
        assert_eq!(f.ttl_seconds, 3600);
        assert_eq!(f.block_size, 4096);
    }

    #[test]
    fn bad_options_are_named() {
        for (arg, needle) in [
            ("f:colour=red", "colour"),
            ("f:versions=x", "versions"),
            ("f:versions=0", "versions"),
            ("f:compression=lz4", "lz4"),
            ("f:bloom=maybe", "maybe"),
            ("f:blocksize=big", "blocksize"),
            ("f:ttl", "ttl"),
            (":versions=1", "no family"),
        ] {
            let e = FamilySpec::parse(arg).expect_err(arg);
            assert!(format!("{e:#}").contains(needle), "{arg}: {e:#}");
        }
    }

    #[test]
    fn modify_keeps_unset_options() {
        let current = pb::FamilyOptions {
            name: "f".into(),
            max_versions: 5,
            compression: pb::Compression::Zstd as i32,
            compression_level: 7,
            block_size: 4096,
            ..Default::default()
        };
        let f = FamilySpec::parse("f:ttl=60")
            .expect("valid")
            .apply(current.clone());
        assert_eq!(
            f,
            pb::FamilyOptions {
                ttl_seconds: 60,
                ..current
            }
        );
    }

    #[test]
    fn columns_parse() {
        let cols = parse_columns(&["personal_info:first_name,device_info".into()]).expect("valid");
        assert_eq!(cols.len(), 2);
        assert_eq!(cols[0].family, "personal_info");
        assert_eq!(cols[0].qualifier, &b"first_name"[..]);
        assert!(cols[1].qualifier.is_empty());
        assert!(parse_column(":q").is_err());
        assert_eq!(
            parse_cell_column("f:q\\x00").expect("valid"),
            ("f".to_owned(), b"q\0".to_vec())
        );
        assert!(parse_cell_column("f").is_err());
    }
}
