//! HBase column descriptors and Strata family options, both ways: `maxVersions`,
//! `timeToLive` (seconds; -1, 0 and 2147483647 mean forever), `compression` (`NONE` is none;
//! `ZSTD` and the codecs Strata does not have, such as `SNAPPY` or `GZ`, become zstd) and
//! `bloomFilterType` (`NONE` is off, `ROW`/`ROWCOL`/`ROWPREFIX_*` on) are honoured;
//! `inMemory`, the bloom filter sizing fields and `blockCacheEnabled` have no Strata meaning
//! and are ignored (a descriptor read back says the block cache is on, as it is).
//!
//! Pure functions; names and values are checked here with messages naming the family, and
//! the engine checks the name's syntax.

use bytes::Bytes;
use strata_engine::{Compression, FamilyOptions};

use super::column::Column;
use super::error::ThriftError;
use super::types::ColumnDescriptor;

/// HBase's `HConstants.FOREVER`: the time-to-live of a family that never expires.
pub const FOREVER: i32 = i32::MAX;

/// HBase compression names that Strata stores as zstd.
const OTHER_CODECS: [&str; 6] = ["GZ", "SNAPPY", "LZ4", "LZO", "BZIP2", "LZMA"];

/// HBase bloom filter types that Strata's row bloom filter serves.
const BLOOMS: [&str; 4] = [
    "ROW",
    "ROWCOL",
    "ROWPREFIX_FIXED_LENGTH",
    "ROWPREFIX_DELIMITED",
];

/// The family options a `createTable` descriptor asks for.
pub fn family_from_thrift(cd: &ColumnDescriptor) -> Result<FamilyOptions, ThriftError> {
    if cd.name.is_empty() {
        return Err(ThriftError::illegal("column family name is empty"));
    }
    let name = Column::parse(&cd.name)?.family().to_string();
    let max_versions = u32::try_from(cd.max_versions)
        .ok()
        .filter(|&v| v >= 1)
        .ok_or_else(|| {
            ThriftError::illegal(format!(
                "family {name}: maxVersions {} must be at least 1",
                cd.max_versions
            ))
        })?;
    let compression = match cd.compression.to_ascii_uppercase().as_str() {
        "NONE" => Compression::None,
        "ZSTD" => Compression::Zstd(0),
        other if OTHER_CODECS.contains(&other) => Compression::Zstd(0),
        _ => {
            return Err(ThriftError::illegal(format!(
                "family {name}: unknown compression {:?} (NONE, ZSTD, or an HBase codec name, \
                 stored as zstd)",
                cd.compression
            )));
        }
    };
    let bloom_filter = match cd.bloom_filter_type.as_str() {
        "NONE" => false,
        t if BLOOMS.contains(&t) => true,
        _ => {
            return Err(ThriftError::illegal(format!(
                "family {name}: unknown bloomFilterType {:?} (NONE, ROW, ROWCOL, \
                 ROWPREFIX_FIXED_LENGTH or ROWPREFIX_DELIMITED)",
                cd.bloom_filter_type
            )));
        }
    };
    let ttl_seconds = match cd.time_to_live {
        t if t <= 0 || t == FOREVER => 0,
        t => t as u64,
    };
    Ok(FamilyOptions {
        name,
        max_versions,
        ttl_seconds,
        compression,
        bloom_filter,
        block_size: 0,
    }
    .normalized())
}

/// The descriptor `getColumnDescriptors` shows for a family.
pub fn family_to_thrift(f: &FamilyOptions) -> ColumnDescriptor {
    let mut name = Vec::with_capacity(f.name.len() + 1);
    name.extend_from_slice(f.name.as_bytes());
    name.push(b':');
    ColumnDescriptor {
        name: Bytes::from(name),
        max_versions: i32::try_from(f.max_versions).unwrap_or(i32::MAX),
        compression: match f.compression {
            Compression::None => "NONE".into(),
            Compression::Zstd(_) => "ZSTD".into(),
        },
        in_memory: false,
        bloom_filter_type: if f.bloom_filter { "ROW" } else { "NONE" }.into(),
        bloom_filter_vector_size: 0,
        bloom_filter_nb_hashes: 0,
        block_cache_enabled: true,
        // A finite TTL never reads back as FOREVER.
        time_to_live: match f.ttl_seconds {
            0 => FOREVER,
            t => i32::try_from(t).unwrap_or(FOREVER - 1).min(FOREVER - 1),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cd(name: &str) -> ColumnDescriptor {
        ColumnDescriptor {
            name: Bytes::copy_from_slice(name.as_bytes()),
            ..ColumnDescriptor::default()
        }
    }

    #[test]
    fn happybase_defaults_give_three_versions_no_compression_no_bloom_forever() {
        let f = family_from_thrift(&cd("cf:")).expect("valid");
        assert_eq!(f.name, "cf");
        assert_eq!(f.max_versions, 3);
        assert_eq!(f.compression, Compression::None);
        assert!(!f.bloom_filter);
        assert_eq!(f.ttl_seconds, 0);
    }

    #[test]
    fn options_round_trip() {
        let asked = ColumnDescriptor {
            max_versions: 7,
            compression: "zstd".into(),
            bloom_filter_type: "ROW".into(),
            time_to_live: 3600,
            ..cd("m")
        };
        let f = family_from_thrift(&asked).expect("valid");
        assert_eq!(f.max_versions, 7);
        assert_eq!(f.compression, Compression::Zstd(3));
        assert!(f.bloom_filter);
        assert_eq!(f.ttl_seconds, 3600);
        let back = family_to_thrift(&f);
        assert_eq!(&back.name[..], b"m:");
        assert_eq!(back.max_versions, 7);
        assert_eq!(back.compression, "ZSTD");
        assert_eq!(back.bloom_filter_type, "ROW");
        assert_eq!(back.time_to_live, 3600);
        assert_eq!(family_from_thrift(&back).expect("valid"), f);
    }

    #[test]
    fn forever_has_three_spellings_and_reads_back_as_hbase_says() {
        for ttl in [-1, 0, FOREVER] {
            let f = family_from_thrift(&ColumnDescriptor {
                time_to_live: ttl,
                ..cd("f")
            })
            .expect("valid");
            assert_eq!(f.ttl_seconds, 0, "{ttl}");
            assert_eq!(family_to_thrift(&f).time_to_live, FOREVER);
        }
        let long = FamilyOptions {
            ttl_seconds: u64::MAX,
            ..FamilyOptions::new("f")
        };
        assert_eq!(family_to_thrift(&long).time_to_live, FOREVER - 1);
    }

    #[test]
    fn other_hbase_codecs_become_zstd_and_unknown_ones_are_refused() {
        let f = family_from_thrift(&ColumnDescriptor {
            compression: "SNAPPY".into(),
            ..cd("f")
        })
        .expect("valid");
        assert_eq!(f.compression, Compression::Zstd(3));
        for bad in [
            ColumnDescriptor {
                compression: "brotli".into(),
                ..cd("f")
            },
            ColumnDescriptor {
                bloom_filter_type: "MAYBE".into(),
                ..cd("f")
            },
            ColumnDescriptor {
                max_versions: 0,
                ..cd("f")
            },
            cd(""),
        ] {
            assert!(
                matches!(
                    family_from_thrift(&bad),
                    Err(ThriftError::IllegalArgument(_))
                ),
                "{bad:?}"
            );
        }
    }
}
