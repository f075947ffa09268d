//! Conversions between the strata.v1 wire messages and the engine's types, both ways.
//!
//! This module owns what the wire can express that the engine's types cannot (an unset
//! oneof, an unknown enum number, "0 means default") and turns it into engine values or a
//! [`ConvertError`]. It must never call the engine, and it leaves the engine's own rules
//! (names, key and value limits, unknown tables and families) to the engine, which is the one
//! place they are checked.

use std::ops::Bound;
use std::sync::Arc;

use strata_engine as engine;
use strata_engine::filter;
use strata_proto::v1 as pb;

use crate::escape;

/// A request the server cannot turn into engine types. Always INVALID_ARGUMENT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// A mutation's oneof `kind` is not set.
    #[error(
        "mutation {index} of row {row} has no kind (set one of set_cell, delete_cells, delete_family, delete_row)"
    )]
    EmptyMutation {
        /// The row, escaped for display.
        row: String,
        /// 0-based index of the mutation in its row.
        index: usize,
    },
    /// An enum field holds a number this server does not know.
    #[error(
        "family {family}: unknown compression value {value} (expected COMPRESSION_UNSPECIFIED, NONE or ZSTD)"
    )]
    UnknownCompression {
        /// The family.
        family: String,
        /// The number received.
        value: i32,
    },
    /// Family options that break the engine's rule (checked with the engine's own
    /// `validate_compression`, so the range is stated once).
    #[error("{0}")]
    BadFamily(String),
    /// A column selector without a family.
    #[error("column selector {index} has an empty family")]
    EmptySelectorFamily {
        /// 0-based index of the selector.
        index: usize,
    },
    /// A time range whose start is after its end.
    #[error("time range start_micros {start} is after end_micros {end}")]
    TimeRange {
        /// Inclusive start.
        start: i64,
        /// Exclusive end.
        end: i64,
    },
    /// A table name that breaks the naming rule (checked with the engine's own rule, so that
    /// every RPC, including reads of a table that cannot exist, answers INVALID_ARGUMENT).
    #[error("{0}")]
    BadName(String),
    /// A request field this server does not implement yet.
    #[error("{0} is not supported by this server yet")]
    Unsupported(&'static str),
    /// An Aggregate request that cannot be run (bad bucket, sum column without a family).
    #[error("{0}")]
    Aggregate(String),
    /// A bulk-ingest path that is not absolute.
    #[error("ingest path {0:?} is not absolute (paths are on the server's machine)")]
    RelativePath(String),
    /// A CheckAndMutate `op` this server does not know.
    #[error(
        "unknown compare op {0} (expected EQUAL, NOT_EQUAL, LESS, LESS_OR_EQUAL, GREATER or GREATER_OR_EQUAL)"
    )]
    UnknownCompareOp(i32),
    /// A `filter` string that does not parse; the message names the byte offset.
    #[error("{0}")]
    Filter(#[from] filter::FilterError),
}

/// Check a request's table name against the engine's naming rule.
pub fn table(name: &str) -> Result<&str, ConvertError> {
    engine::options::validate_name("table", name).map_err(ConvertError::BadName)?;
    Ok(name)
}

/// Wire family options to engine family options, with zero values replaced by defaults.
pub fn family_from_pb(f: pb::FamilyOptions) -> Result<engine::FamilyOptions, ConvertError> {
    let compression = match pb::Compression::try_from(f.compression) {
        Ok(pb::Compression::None) => engine::Compression::None,
        Ok(pb::Compression::Unspecified | pb::Compression::Zstd) => {
            let zstd = engine::Compression::Zstd(f.compression_level);
            // 0 is the wire's "unset": the default level, filled in below.
            if f.compression_level != 0 {
                engine::options::validate_compression(&f.name, zstd)
                    .map_err(ConvertError::BadFamily)?;
            }
            zstd
        }
        Err(_) => {
            return Err(ConvertError::UnknownCompression {
                family: f.name,
                value: f.compression,
            });
        }
    };
    Ok(engine::FamilyOptions {
        name: f.name,
        max_versions: f.max_versions,
        ttl_seconds: f.ttl_seconds,
        compression,
        bloom_filter: !f.disable_bloom_filter,
        block_size: f.block_size,
    }
    .normalized())
}

/// Convert a list of wire family options.
pub fn families_from_pb(
    fams: Vec<pb::FamilyOptions>,
) -> Result<Vec<engine::FamilyOptions>, ConvertError> {
    fams.into_iter().map(family_from_pb).collect()
}

/// Engine family options to the wire, with every value explicit.
pub fn family_to_pb(f: &engine::FamilyOptions) -> pb::FamilyOptions {
    let (compression, compression_level) = match f.compression {
        engine::Compression::None => (pb::Compression::None, 0),
        engine::Compression::Zstd(level) => (pb::Compression::Zstd, level),
    };
    pb::FamilyOptions {
        name: f.name.clone(),
        max_versions: f.max_versions,
        ttl_seconds: f.ttl_seconds,
        compression: compression as i32,
        compression_level,
        disable_bloom_filter: !f.bloom_filter,
        block_size: f.block_size,
    }
}

/// The family names met in one request, shared: a request's cells name a few families many
/// times, and the engine's `Mutation` holds its family as an `Arc<str>`, so each cell after
/// the first of its family clones a shared name instead of allocating one.
#[derive(Debug, Default)]
pub struct FamilyNames(Vec<Arc<str>>);

impl FamilyNames {
    /// Names kept at most: past them (a request naming more families than a table may have)
    /// each new name is allocated on its own.
    const MAX: usize = 64;

    /// The shared name equal to `name`.
    pub fn get(&mut self, name: String) -> Arc<str> {
        if let Some(n) = self.0.iter().find(|n| ***n == *name) {
            return n.clone();
        }
        let n: Arc<str> = name.into();
        if self.0.len() < Self::MAX {
            self.0.push(n.clone());
        }
        n
    }
}

/// One row's wire mutations to an engine row mutation.
pub fn row_mutation_from_pb(
    row: bytes::Bytes,
    mutations: Vec<pb::Mutation>,
) -> Result<engine::RowMutation, ConvertError> {
    row_mutation_from_pb_named(row, mutations, &mut FamilyNames::default())
}

/// [`row_mutation_from_pb`], sharing family names through `names`.
fn row_mutation_from_pb_named(
    row: bytes::Bytes,
    mutations: Vec<pb::Mutation>,
    names: &mut FamilyNames,
) -> Result<engine::RowMutation, ConvertError> {
    let mut out = Vec::with_capacity(mutations.len());
    for (index, m) in mutations.into_iter().enumerate() {
        use pb::mutation::Kind;
        let m = match m.kind {
            Some(Kind::SetCell(c)) => engine::Mutation::SetCell {
                family: names.get(c.family),
                qualifier: c.qualifier,
                value: c.value,
                timestamp: c.timestamp_micros,
            },
            // up_to with timestamp 0 is "every version", as for the family and row forms.
            Some(Kind::DeleteCells(c)) if c.up_to && c.timestamp_micros != 0 => {
                engine::Mutation::DeleteColumnUpTo {
                    family: names.get(c.family),
                    qualifier: c.qualifier,
                    timestamp: c.timestamp_micros,
                }
            }
            Some(Kind::DeleteCells(c)) => engine::Mutation::DeleteCells {
                family: names.get(c.family),
                qualifier: c.qualifier,
                timestamp: c.timestamp_micros,
            },
            Some(Kind::DeleteFamily(c)) if c.up_to_timestamp_micros != 0 => {
                engine::Mutation::DeleteFamilyUpTo {
                    family: names.get(c.family),
                    timestamp: c.up_to_timestamp_micros,
                }
            }
            Some(Kind::DeleteFamily(c)) => engine::Mutation::DeleteFamily {
                family: names.get(c.family),
            },
            Some(Kind::DeleteRow(c)) if c.up_to_timestamp_micros != 0 => {
                engine::Mutation::DeleteRowUpTo {
                    timestamp: c.up_to_timestamp_micros,
                }
            }
            Some(Kind::DeleteRow(_)) => engine::Mutation::DeleteRow,
            None => {
                return Err(ConvertError::EmptyMutation {
                    row: escape::display(&row).into_owned(),
                    index,
                });
            }
        };
        out.push(m);
    }
    Ok(engine::RowMutation {
        row,
        mutations: out,
    })
}

/// A MutateRows (or MutateStream batch) request's entries to engine row mutations.
pub fn row_mutations_from_pb(
    entries: Vec<pb::RowMutations>,
) -> Result<Vec<engine::RowMutation>, ConvertError> {
    let mut names = FamilyNames::default();
    entries
        .into_iter()
        .map(|e| row_mutation_from_pb_named(e.row, e.mutations, &mut names))
        .collect()
}

/// An engine row mutation as the wire's (what a client built from engine types, e.g. the
/// loader's CSV rows, sends through MutateRows or MutateStream). The inverse of
/// [`row_mutation_from_pb`].
pub fn row_mutation_to_pb(m: engine::RowMutation) -> pb::RowMutations {
    use pb::mutation::Kind;
    let mutations = m
        .mutations
        .into_iter()
        .map(|m| {
            let kind = match m {
                engine::Mutation::SetCell {
                    family,
                    qualifier,
                    value,
                    timestamp,
                } => Kind::SetCell(pb::SetCell {
                    family: family.to_string(),
                    qualifier,
                    value,
                    timestamp_micros: timestamp,
                }),
                engine::Mutation::DeleteCells {
                    family,
                    qualifier,
                    timestamp,
                } => Kind::DeleteCells(pb::DeleteCells {
                    family: family.to_string(),
                    qualifier,
                    timestamp_micros: timestamp,
                    up_to: false,
                }),
                engine::Mutation::DeleteFamily { family } => Kind::DeleteFamily(pb::DeleteFamily {
                    family: family.to_string(),
                    up_to_timestamp_micros: 0,
                }),
                engine::Mutation::DeleteRow => Kind::DeleteRow(pb::DeleteRow {
                    up_to_timestamp_micros: 0,
                }),
                engine::Mutation::DeleteColumnUpTo {
                    family,
                    qualifier,
                    timestamp,
                } => Kind::DeleteCells(pb::DeleteCells {
                    family: family.to_string(),
                    qualifier,
                    timestamp_micros: timestamp,
                    up_to: true,
                }),
                engine::Mutation::DeleteFamilyUpTo { family, timestamp } => {
                    Kind::DeleteFamily(pb::DeleteFamily {
                        family: family.to_string(),
                        up_to_timestamp_micros: timestamp,
                    })
                }
                engine::Mutation::DeleteRowUpTo { timestamp } => Kind::DeleteRow(pb::DeleteRow {
                    up_to_timestamp_micros: timestamp,
                }),
            };
            pb::Mutation { kind: Some(kind) }
        })
        .collect();
    pb::RowMutations {
        row: m.row,
        mutations,
    }
}

/// Column selection, versions and time range of a Get or Scan.
pub fn read_options_from_pb(
    columns: Vec<pb::ColumnSelector>,
    max_versions: u32,
    time_range: Option<pb::TimeRange>,
) -> Result<engine::ReadOptions, ConvertError> {
    let mut cols = Vec::with_capacity(columns.len());
    for (index, c) in columns.into_iter().enumerate() {
        if c.family.is_empty() {
            return Err(ConvertError::EmptySelectorFamily { index });
        }
        cols.push(engine::ColumnSelector {
            family: c.family,
            qualifier: if c.qualifier.is_empty() {
                None
            } else {
                Some(c.qualifier.to_vec())
            },
        });
    }
    let time_range = time_range_from_pb(time_range)?;
    Ok(engine::ReadOptions {
        columns: cols,
        max_versions: max_versions.max(1),
        time_range,
    })
}

/// A wire time range (absent: every version; end 0: unbounded) to the engine's.
pub fn time_range_from_pb(
    time_range: Option<pb::TimeRange>,
) -> Result<engine::TimeRange, ConvertError> {
    Ok(match time_range {
        None => engine::TimeRange::default(),
        Some(t) => {
            if t.end_micros != 0 && t.start_micros > t.end_micros {
                return Err(ConvertError::TimeRange {
                    start: t.start_micros,
                    end: t.end_micros,
                });
            }
            engine::TimeRange {
                start: t.start_micros,
                end: if t.end_micros == 0 {
                    None
                } else {
                    Some(t.end_micros)
                },
            }
        }
    })
}

/// A scan request's bounds and shape. (`table` and `batch_size` are the caller's.)
///
/// A forward scan reads from `start_row` (inclusive, or exclusive with
/// `start_row_exclusive`) up to `stop_row` (exclusive). A reverse scan, as HBase's reversed
/// scan, starts at `start_row` and goes down: `start_row` is then the high end (inclusive, or
/// exclusive with `start_row_exclusive`, so resuming after the last row received continues
/// below it) and `stop_row` the low end (exclusive). The engine's options always hold the low
/// end in `start` and the high end in `stop`.
pub fn scan_options_from_pb(r: &mut pb::ScanRequest) -> Result<engine::ScanOptions, ConvertError> {
    // No row has an empty key, so "after the empty key" is the whole table too.
    let first = if r.start_row.is_empty() {
        Bound::Unbounded
    } else if r.start_row_exclusive {
        Bound::Excluded(std::mem::take(&mut r.start_row).to_vec())
    } else {
        Bound::Included(std::mem::take(&mut r.start_row).to_vec())
    };
    let last = if r.stop_row.is_empty() {
        Bound::Unbounded
    } else {
        Bound::Excluded(std::mem::take(&mut r.stop_row).to_vec())
    };
    let (start, stop) = if r.reverse {
        (last, first)
    } else {
        (first, last)
    };
    let read = read_options_from_pb(
        std::mem::take(&mut r.columns),
        r.max_versions,
        r.time_range.take(),
    )?;
    Ok(engine::ScanOptions {
        start,
        stop,
        prefix: std::mem::take(&mut r.prefix).to_vec(),
        read,
        limit: r.limit,
        reverse: r.reverse,
    })
}

/// A read's filter, parsed once per request, and how to run it.
#[derive(Clone, Debug)]
pub struct ReadFilter {
    /// The parsed filter.
    pub filter: filter::Filter,
    /// Its evaluation options: the request's version count, applied after the filter.
    pub options: filter::EvalOptions,
}

/// The reply to one row of a Get or MultiGet: the row the engine found, passed through the
/// request's filter (a row it drops, like a missing one, is `found = false`).
pub fn get_reply(found: Option<engine::Row>, filter: Option<&ReadFilter>) -> pb::GetResponse {
    let found = match filter {
        Some(f) => found.and_then(|row| filter::filter_row(&f.filter, row, f.options)),
        None => found,
    };
    match found {
        Some(row) => pb::GetResponse {
            found: true,
            row: Some(row_to_pb(row)),
        },
        None => pb::GetResponse {
            found: false,
            row: None,
        },
    }
}

/// The `filter` field of a Get or Scan (empty: none), with timestamps in microseconds. With a
/// filter, `read` asks the engine for every version the families keep, and the request's
/// version count moves into the filter's options: HBase applies it to the versions the filter
/// keeps, so a filter can pass an older version when the newest fails.
pub fn read_filter(
    text: &str,
    read: &mut engine::ReadOptions,
) -> Result<Option<ReadFilter>, ConvertError> {
    Ok(ReadFilter::prepare(
        text.as_bytes(),
        filter::TimeUnit::Micros,
        read,
    )?)
}

impl ReadFilter {
    /// A filter string of any path (empty: none), its timestamps in `unit` (gRPC: micros,
    /// Thrift: millis), for a read with `read`: as [`read_filter`], `read` then asks for
    /// every version and the version count moves into the filter's options.
    pub fn prepare(
        text: &[u8],
        unit: filter::TimeUnit,
        read: &mut engine::ReadOptions,
    ) -> Result<Option<ReadFilter>, filter::FilterError> {
        if text.is_empty() {
            return Ok(None);
        }
        let filter = filter::Filter::parse(text, unit)?;
        let options = filter::EvalOptions {
            max_versions: read.max_versions.max(1),
            reversed: false,
        };
        read.max_versions = u32::MAX;
        Ok(Some(ReadFilter { filter, options }))
    }

    /// The filter of a scan in descending row order (`reverse`), which turns `PrefixFilter`
    /// and `InclusiveStopFilter` around as HBase's reversed scans do.
    pub fn reversed(mut self, reverse: bool) -> ReadFilter {
        self.options.reversed = reverse;
        self
    }

    /// A fresh evaluation state (one per scan or row read).
    pub fn state(&self) -> filter::FilterState {
        filter::FilterState::new(&self.filter, self.options)
    }
}

/// An engine row to the wire.
pub fn row_to_pb(row: engine::Row) -> pb::Row {
    pb::Row {
        key: row.key.into(),
        cells: row
            .cells
            .into_iter()
            .map(|c| pb::Cell {
                family: c.family.to_string(),
                qualifier: c.qualifier,
                timestamp_micros: c.timestamp,
                value: c.value,
            })
            .collect(),
        partial: false,
    }
}

/// Approximate encoded size of a row, for bounding scan replies by bytes.
pub fn row_size(row: &engine::Row) -> usize {
    row.key.len()
        + 8
        + row
            .cells
            .iter()
            .map(|c| c.family.len() + c.qualifier.len() + c.value.len() + 24)
            .sum::<usize>()
}

/// A table description to the DescribeTable reply.
pub fn description_to_pb(d: engine::TableDescription) -> pb::DescribeTableResponse {
    let s = d.stats;
    pb::DescribeTableResponse {
        table: d.name,
        families: d.families.iter().map(family_to_pb).collect(),
        enabled: d.enabled,
        stats: Some(pb::TableStats {
            files: s.files,
            file_bytes: s.file_bytes,
            file_rows: s.file_rows,
            file_cells: s.file_cells,
            memtable_bytes: s.memtable_bytes,
            immutable_memtables: s.immutable_memtables,
            levels: s
                .levels
                .into_iter()
                .map(|l| pb::LevelStats {
                    level: l.level,
                    files: l.files,
                    bytes: l.bytes,
                })
                .collect(),
            families: s
                .families
                .into_iter()
                .map(|f| pb::FamilyStats {
                    name: f.name,
                    cells: f.cells,
                    stored_bytes: f.stored_bytes,
                    raw_bytes: f.raw_bytes,
                })
                .collect(),
            flushes: s.flushes,
            compactions: s.compactions,
            compaction_bytes_in: s.compaction_bytes_in,
            compaction_bytes_out: s.compaction_bytes_out,
            write_stalls: s.write_stalls,
            file_deletes: s.file_deletes,
            block_cache_hits: s.block_cache_hits,
            block_cache_misses: s.block_cache_misses,
            bloom_checked: s.bloom_checked,
            bloom_useful: s.bloom_useful,
            block_cache_bytes: s.block_cache_bytes,
            block_cache_capacity: s.block_cache_capacity,
            write_slowdowns: s.write_slowdowns,
            user_bytes: s.user_bytes,
            flush_bytes: s.flush_bytes,
            wal_bytes: s.wal_bytes,
            write_amplification_x100: s.write_amplification_x100,
            sorted_runs: s.sorted_runs,
        }),
    }
}

/// ServerInfo: the server's version, the store's ingest directories and sync mode, and the
/// limits the server enforces (each its setting of the same name).
pub fn server_info(
    db: &strata_engine::Db,
    service: &crate::ServiceOptions,
) -> pb::ServerInfoResponse {
    let o = db.options();
    let n = |v: usize| v as u64;
    pb::ServerInfoResponse {
        version: env!("CARGO_PKG_VERSION").to_string(),
        ingest_dirs: db
            .ingest_dirs()
            .iter()
            .map(|d| d.to_string_lossy().into_owned())
            .collect(),
        limits: Some(pb::ServerLimits {
            max_row_key_bytes: n(o.limits.max_row_key),
            max_qualifier_bytes: n(o.limits.max_qualifier),
            max_value_bytes: n(o.limits.max_value),
            max_message_bytes: n(service.max_message_bytes),
            max_mutations_per_row: n(o.limits.max_mutations_per_row),
            max_cells_per_call: n(o.limits.max_cells_per_call),
            max_bytes_per_call: n(o.limits.max_bytes_per_call),
            max_cells_per_row: n(o.limits.max_cells_per_row),
            max_scans: n(service.max_scans),
            max_scans_per_connection: n(service.max_scans_per_connection),
        }),
        sync: match o.sync_mode {
            strata_engine::SyncMode::Always => "always",
            strata_engine::SyncMode::Group => "group",
            strata_engine::SyncMode::None => "none",
        }
        .to_string(),
    }
}

/// Bulk-ingest paths: each must be absolute (they name files on the server's machine).
pub fn ingest_paths(paths: Vec<String>) -> Result<Vec<std::path::PathBuf>, ConvertError> {
    paths
        .into_iter()
        .map(|p| {
            let path = std::path::PathBuf::from(&p);
            if path.is_absolute() {
                Ok(path)
            } else {
                Err(ConvertError::RelativePath(p))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb::mutation::Kind;

    fn set(family: &str) -> pb::Mutation {
        pb::Mutation {
            kind: Some(Kind::SetCell(pb::SetCell {
                family: family.into(),
                qualifier: bytes::Bytes::from_static(b"q"),
                value: bytes::Bytes::from_static(b"v"),
                timestamp_micros: 0,
            })),
        }
    }

    fn family_of(m: &engine::Mutation) -> &Arc<str> {
        match m {
            engine::Mutation::SetCell { family, .. } => family,
            other => panic!("not a put: {other:?}"),
        }
    }

    #[test]
    fn cells_of_one_request_share_each_family_name() {
        let entries = (0..3)
            .map(|i| pb::RowMutations {
                row: bytes::Bytes::from(format!("r{i}")),
                mutations: vec![set("a"), set("b"), set("a")],
            })
            .collect();
        let rows = row_mutations_from_pb(entries).unwrap();
        let first_a = family_of(&rows[0].mutations[0]);
        let first_b = family_of(&rows[0].mutations[1]);
        assert_eq!(&**first_a, "a");
        assert_eq!(&**first_b, "b");
        for r in &rows {
            assert!(Arc::ptr_eq(family_of(&r.mutations[0]), first_a));
            assert!(Arc::ptr_eq(family_of(&r.mutations[1]), first_b));
            assert!(Arc::ptr_eq(family_of(&r.mutations[2]), first_a));
        }
    }

    #[test]
    fn family_names_past_the_kept_ones_are_still_right() {
        let mut names = FamilyNames::default();
        for i in 0..FamilyNames::MAX + 10 {
            assert_eq!(&*names.get(format!("f{i}")), format!("f{i}"));
        }
        let again = names.get("f1".into());
        assert!(Arc::ptr_eq(&again, &names.get("f1".into())));
        let late = format!("f{}", FamilyNames::MAX + 5);
        assert_eq!(&*names.get(late.clone()), late);
    }

    fn fam(name: &str) -> pb::FamilyOptions {
        pb::FamilyOptions {
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn zero_family_options_mean_defaults() {
        let f = family_from_pb(fam("personal_info")).expect("valid");
        assert_eq!(f, engine::FamilyOptions::new("personal_info"));
        assert_eq!(f.compression, engine::Compression::Zstd(3));
        assert_eq!(f.max_versions, 1);
        assert!(f.bloom_filter);
    }

    #[test]
    fn family_options_round_trip() {
        let wire = pb::FamilyOptions {
            name: "m".into(),
            max_versions: 5,
            ttl_seconds: 3600,
            compression: pb::Compression::None as i32,
            compression_level: 0,
            disable_bloom_filter: true,
            block_size: 4096,
        };
        let f = family_from_pb(wire.clone()).expect("valid");
        assert_eq!(f.compression, engine::Compression::None);
        assert!(!f.bloom_filter);
        assert_eq!(family_to_pb(&f), wire);

        let z = family_from_pb(pb::FamilyOptions {
            compression: pb::Compression::Zstd as i32,
            compression_level: 9,
            ..fam("z")
        })
        .expect("valid");
        assert_eq!(z.compression, engine::Compression::Zstd(9));
        let back = family_to_pb(&z);
        assert_eq!(back.compression, pb::Compression::Zstd as i32);
        assert_eq!(back.compression_level, 9);
    }

    #[test]
    fn bad_compression_is_rejected_with_the_family_named() {
        let e = family_from_pb(pb::FamilyOptions {
            compression: 42,
            ..fam("f1")
        })
        .expect_err("unknown enum");
        assert!(e.to_string().contains("f1") && e.to_string().contains("42"));
        let e = family_from_pb(pb::FamilyOptions {
            compression_level: 23,
            ..fam("f2")
        })
        .expect_err("level");
        assert!(e.to_string().contains("f2") && e.to_string().contains("23"));
    }

    #[test]
    fn mutations_convert() {
        let m = row_mutation_from_pb(
            b"r1".to_vec().into(),
            vec![
                pb::Mutation {
                    kind: Some(Kind::SetCell(pb::SetCell {
                        family: "f".into(),
                        qualifier: b"q".to_vec().into(),
                        value: b"v".to_vec().into(),
                        timestamp_micros: 0,
                    })),
                },
                pb::Mutation {
                    kind: Some(Kind::DeleteCells(pb::DeleteCells {
                        up_to: Default::default(),
                        family: "f".into(),
                        qualifier: b"q2".to_vec().into(),
                        timestamp_micros: 7,
                    })),
                },
                pb::Mutation {
                    kind: Some(Kind::DeleteFamily(pb::DeleteFamily {
                        up_to_timestamp_micros: Default::default(),
                        family: "g".into(),
                    })),
                },
                pb::Mutation {
                    kind: Some(Kind::DeleteRow(pb::DeleteRow {
                        up_to_timestamp_micros: Default::default(),
                    })),
                },
            ],
        )
        .expect("valid");
        assert_eq!(m.row, &b"r1"[..]);
        assert_eq!(
            m.mutations,
            vec![
                engine::Mutation::SetCell {
                    family: "f".into(),
                    qualifier: b"q".to_vec().into(),
                    value: b"v".to_vec().into(),
                    timestamp: 0
                },
                engine::Mutation::DeleteCells {
                    family: "f".into(),
                    qualifier: b"q2".to_vec().into(),
                    timestamp: 7
                },
                engine::Mutation::DeleteFamily { family: "g".into() },
                engine::Mutation::DeleteRow,
            ]
        );
    }

    #[test]
    fn engine_mutations_convert_to_the_wire_and_back() {
        let m = engine::RowMutation {
            row: b"r1".to_vec().into(),
            mutations: vec![
                engine::Mutation::SetCell {
                    family: "f".into(),
                    qualifier: b"q".to_vec().into(),
                    value: b"v".to_vec().into(),
                    timestamp: 5,
                },
                engine::Mutation::DeleteCells {
                    family: "f".into(),
                    qualifier: b"q2".to_vec().into(),
                    timestamp: 7,
                },
                engine::Mutation::DeleteFamily { family: "g".into() },
                engine::Mutation::DeleteRow,
                engine::Mutation::DeleteColumnUpTo {
                    family: "f".into(),
                    qualifier: b"q3".to_vec().into(),
                    timestamp: 8,
                },
                engine::Mutation::DeleteFamilyUpTo {
                    family: "g".into(),
                    timestamp: 9,
                },
                engine::Mutation::DeleteRowUpTo { timestamp: 10 },
            ],
        };
        let wire = row_mutation_to_pb(m.clone());
        assert!(matches!(
            &wire.mutations[4].kind,
            Some(Kind::DeleteCells(c)) if c.up_to && c.timestamp_micros == 8
        ));
        assert!(matches!(
            &wire.mutations[6].kind,
            Some(Kind::DeleteRow(c)) if c.up_to_timestamp_micros == 10
        ));
        assert_eq!(wire.row, &b"r1"[..]);
        assert!(matches!(
            &wire.mutations[0].kind,
            Some(Kind::SetCell(c)) if c.family == "f" && c.value == b"v"[..] && c.timestamp_micros == 5
        ));
        assert_eq!(
            row_mutation_from_pb(wire.row, wire.mutations).expect("valid"),
            m
        );
    }

    #[test]
    fn up_to_deletes_convert_and_a_zero_bound_means_every_version() {
        let up_to = |ts| pb::Mutation {
            kind: Some(Kind::DeleteCells(pb::DeleteCells {
                family: "f".into(),
                qualifier: b"q".to_vec().into(),
                timestamp_micros: ts,
                up_to: true,
            })),
        };
        let m = row_mutation_from_pb(
            b"r".to_vec().into(),
            vec![
                up_to(5),
                up_to(0),
                pb::Mutation {
                    kind: Some(Kind::DeleteFamily(pb::DeleteFamily {
                        family: "g".into(),
                        up_to_timestamp_micros: 6,
                    })),
                },
                pb::Mutation {
                    kind: Some(Kind::DeleteRow(pb::DeleteRow {
                        up_to_timestamp_micros: 7,
                    })),
                },
            ],
        )
        .expect("valid");
        assert_eq!(
            m.mutations,
            vec![
                engine::Mutation::DeleteColumnUpTo {
                    family: "f".into(),
                    qualifier: b"q".to_vec().into(),
                    timestamp: 5
                },
                engine::Mutation::DeleteCells {
                    family: "f".into(),
                    qualifier: b"q".to_vec().into(),
                    timestamp: 0
                },
                engine::Mutation::DeleteFamilyUpTo {
                    family: "g".into(),
                    timestamp: 6
                },
                engine::Mutation::DeleteRowUpTo { timestamp: 7 },
            ]
        );
    }

    #[test]
    fn empty_mutation_names_row_and_index() {
        let e = row_mutation_from_pb(
            vec![0xff, b'k'].into(),
            vec![
                pb::Mutation {
                    kind: Some(Kind::DeleteRow(pb::DeleteRow {
                        up_to_timestamp_micros: Default::default(),
                    })),
                },
                pb::Mutation { kind: None },
            ],
        )
        .expect_err("no kind");
        assert_eq!(
            e,
            ConvertError::EmptyMutation {
                row: "\\xFFk".into(),
                index: 1
            }
        );
    }

    #[test]
    fn read_options_defaults_and_checks() {
        let r = read_options_from_pb(vec![], 0, None).expect("valid");
        assert_eq!(r, engine::ReadOptions::default());
        let r = read_options_from_pb(
            vec![
                pb::ColumnSelector {
                    family: "f".into(),
                    qualifier: vec![].into(),
                },
                pb::ColumnSelector {
                    family: "g".into(),
                    qualifier: b"q".to_vec().into(),
                },
            ],
            3,
            Some(pb::TimeRange {
                start_micros: 10,
                end_micros: 0,
            }),
        )
        .expect("valid");
        assert_eq!(r.columns[0].qualifier, None);
        assert_eq!(r.columns[1].qualifier, Some(b"q".to_vec()));
        assert_eq!(r.max_versions, 3);
        assert_eq!(
            r.time_range,
            engine::TimeRange {
                start: 10,
                end: None
            }
        );
        assert!(
            read_options_from_pb(
                vec![pb::ColumnSelector {
                    family: String::new(),
                    qualifier: vec![].into()
                }],
                0,
                None
            )
            .is_err()
        );
        assert!(
            read_options_from_pb(
                vec![],
                0,
                Some(pb::TimeRange {
                    start_micros: 10,
                    end_micros: 5
                })
            )
            .is_err()
        );
    }

    #[test]
    fn scan_bounds() {
        let mut r = pb::ScanRequest {
            table: "t".into(),
            start_row: b"a".to_vec().into(),
            start_row_exclusive: true,
            stop_row: b"m".to_vec().into(),
            prefix: b"a".to_vec().into(),
            limit: 10,
            ..Default::default()
        };
        let s = scan_options_from_pb(&mut r).expect("valid");
        assert_eq!(s.start, Bound::Excluded(b"a".to_vec()));
        assert_eq!(s.stop, Bound::Excluded(b"m".to_vec()));
        assert_eq!(s.prefix, b"a");
        assert_eq!(s.limit, 10);

        let mut r = pb::ScanRequest {
            start_row: b"a".to_vec().into(),
            ..Default::default()
        };
        let s = scan_options_from_pb(&mut r).expect("valid");
        assert_eq!(s.start, Bound::Included(b"a".to_vec()));
        assert_eq!(s.stop, Bound::Unbounded);

        let mut r = pb::ScanRequest {
            start_row_exclusive: true,
            ..Default::default()
        };
        let s = scan_options_from_pb(&mut r).expect("valid");
        assert_eq!(s.start, Bound::Unbounded);
    }

    #[test]
    fn a_reverse_scan_starts_at_start_row_and_goes_down_to_stop_row() {
        let mut r = pb::ScanRequest {
            table: "t".into(),
            start_row: b"m".to_vec().into(),
            stop_row: b"c".to_vec().into(),
            reverse: true,
            ..Default::default()
        };
        let s = scan_options_from_pb(&mut r).expect("valid");
        assert!(s.reverse);
        assert_eq!(s.start, Bound::Excluded(b"c".to_vec()));
        assert_eq!(s.stop, Bound::Included(b"m".to_vec()));
        // Resuming after the last row received: strictly below it.
        let mut r = pb::ScanRequest {
            start_row: b"k".to_vec().into(),
            start_row_exclusive: true,
            reverse: true,
            ..Default::default()
        };
        let s = scan_options_from_pb(&mut r).expect("valid");
        assert_eq!(
            (s.start, s.stop),
            (Bound::Unbounded, Bound::Excluded(b"k".to_vec()))
        );
    }

    #[test]
    fn rows_and_descriptions_convert() {
        let row = engine::Row {
            key: b"k".to_vec(),
            cells: vec![engine::Cell {
                family: "f".into(),
                qualifier: bytes::Bytes::from_static(b"q"),
                timestamp: 5,
                value: bytes::Bytes::from_static(b"v"),
            }],
        };
        let size = row_size(&row);
        assert!(size >= 4);
        let p = row_to_pb(row);
        assert_eq!(p.key, &b"k"[..]);
        assert_eq!(p.cells[0].timestamp_micros, 5);
        assert_eq!(p.cells[0].value, &b"v"[..]);

        let d = description_to_pb(engine::TableDescription {
            name: "t".into(),
            families: vec![engine::FamilyOptions::new("f")],
            stats: engine::TableStats {
                files: 2,
                levels: vec![engine::LevelStats {
                    level: 0,
                    files: 2,
                    bytes: 100,
                }],
                ..Default::default()
            },
            enabled: false,
        });
        assert_eq!(d.table, "t");
        assert!(!d.enabled);
        assert_eq!(d.families[0].compression, pb::Compression::Zstd as i32);
        assert_eq!(d.families[0].compression_level, 3);
        let stats = d.stats.expect("stats present");
        assert_eq!(stats.files, 2);
        assert_eq!(stats.levels[0].bytes, 100);
    }

    #[test]
    fn table_names_are_checked() {
        assert_eq!(table("customers"), Ok("customers"));
        assert!(matches!(table(""), Err(ConvertError::BadName(_))));
        assert!(matches!(table("a b"), Err(ConvertError::BadName(_))));
    }

    #[test]
    fn filters_parse_once_and_take_over_the_version_count() {
        let mut read = read_options_from_pb(vec![], 3, None).expect("valid");
        assert!(read_filter("", &mut read).expect("no filter").is_none());
        assert_eq!(
            read.max_versions, 3,
            "no filter: the engine applies the count"
        );
        let f = read_filter("PrefixFilter('a')", &mut read)
            .expect("valid")
            .expect("a filter");
        assert_eq!(f.options.max_versions, 3);
        assert_eq!(read.max_versions, u32::MAX);
        let mut read = read_options_from_pb(vec![], 0, None).expect("valid");
        let e = read_filter("PrefixFilter('a') AND", &mut read).expect_err("bad");
        assert!(
            matches!(e, ConvertError::Filter(ref f) if f.position == 21),
            "{e}"
        );
        assert!(e.to_string().starts_with("bad filter at byte 21: "), "{e}");
        assert_eq!(read.max_versions, 1, "unchanged by a bad filter");
    }

    #[test]
    fn ingest_paths_must_be_absolute() {
        assert!(ingest_paths(vec!["/a/b.sst".into()]).is_ok());
        assert_eq!(
            ingest_paths(vec!["b.sst".into()]),
            Err(ConvertError::RelativePath("b.sst".into()))
        );
    }
}
