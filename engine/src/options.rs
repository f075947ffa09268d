//! Options: per-family descriptors (HBase's column family descriptor), store-wide settings,
//! and the input limits. Defaults live here and nowhere else.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Default zstd level when a family says "zstd" without a level.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
/// The zstd level of files written by a flush: a family's own level if lower. A flushed file
/// is short-lived (compaction rewrites it at the family's level), and under a write load the
/// flush thread shares the cores with the writers; level 3 was 40% of its CPU
/// (docs/design/write-path.md, "Flushes compress at zstd level 1").
pub const FLUSH_ZSTD_LEVEL: i32 = 1;
/// Default target size of one uncompressed data block, in bytes.
pub const DEFAULT_BLOCK_SIZE: u32 = 64 * 1024;
/// The zstd levels a family may use.
pub const ZSTD_LEVELS: std::ops::RangeInclusive<i32> = 1..=22;
/// The data block sizes a family may use, in bytes (1 KiB to 16 MiB).
pub const BLOCK_SIZES: std::ops::RangeInclusive<u32> = 1024..=16 * 1024 * 1024;

/// Block compression of a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Blocks stored raw.
    None,
    /// zstd at the given level (1..=22; 0 means [`DEFAULT_ZSTD_LEVEL`]).
    Zstd(i32),
}

impl Default for Compression {
    fn default() -> Self {
        Compression::Zstd(DEFAULT_ZSTD_LEVEL)
    }
}

/// A column family's options, fixed at creation and changeable by `alter_table`. This is the
/// API type; the manifest stores its own record of it (`manifest::FamilyRecord`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyOptions {
    /// Family name: `[A-Za-z0-9_][A-Za-z0-9_.-]*`, at most 255 bytes.
    pub name: String,
    /// Versions kept per cell (at least 1).
    pub max_versions: u32,
    /// Cells expire this many seconds after their timestamp; 0 keeps them forever.
    pub ttl_seconds: u64,
    /// Block compression.
    pub compression: Compression,
    /// Whether files carry a bloom filter over row keys for this family.
    pub bloom_filter: bool,
    /// Target uncompressed data block size in bytes.
    pub block_size: u32,
}

impl FamilyOptions {
    /// A family with every option at its default.
    pub fn new(name: impl Into<String>) -> Self {
        FamilyOptions {
            name: name.into(),
            max_versions: 1,
            ttl_seconds: 0,
            compression: Compression::default(),
            bloom_filter: true,
            block_size: DEFAULT_BLOCK_SIZE,
        }
    }

    /// Replace zero values (the wire's "unset") by defaults.
    pub fn normalized(mut self) -> Self {
        if self.max_versions == 0 {
            self.max_versions = 1;
        }
        if self.block_size == 0 {
            self.block_size = DEFAULT_BLOCK_SIZE;
        }
        if let Compression::Zstd(0) = self.compression {
            self.compression = Compression::Zstd(DEFAULT_ZSTD_LEVEL);
        }
        self
    }
}

/// When a write is acknowledged relative to its WAL record reaching the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SyncMode {
    /// fsync before acknowledging, one fsync per write.
    Always,
    /// fsync before acknowledging; concurrent writers share one fsync (group commit).
    #[default]
    Group,
    /// Written to the OS before acknowledging: survives a process crash, not a power loss.
    None,
}

impl std::str::FromStr for SyncMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "always" => Ok(SyncMode::Always),
            "group" => Ok(SyncMode::Group),
            "none" => Ok(SyncMode::None),
            other => Err(format!(
                "unknown sync mode {other:?}: expected always, group or none"
            )),
        }
    }
}

/// Input limits. Exceeding one is an `InvalidArgument` that names the limit. A write call is
/// sized after expansion (a row delete is one marker per family of the table) and checked
/// against the per-call and per-row limits before anything is locked or allocated for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Longest row key in bytes.
    pub max_row_key: usize,
    /// Longest qualifier in bytes.
    pub max_qualifier: usize,
    /// Largest value in bytes.
    pub max_value: usize,
    /// Most mutations in one row mutation.
    pub max_mutations_per_row: usize,
    /// Most cells (delete markers included) one write call may expand to.
    #[serde(default = "default_max_cells_per_call")]
    pub max_cells_per_call: usize,
    /// Largest encoded size (the WAL record) of one write call, in bytes; at most
    /// [`MAX_WRITE_BYTES`].
    #[serde(default = "default_max_bytes_per_call")]
    pub max_bytes_per_call: usize,
    /// Most cells one row of a write call may expand to (a row is applied atomically, into
    /// one memtable, so this bounds how far a row can overshoot the memtable budget).
    #[serde(default = "default_max_cells_per_row")]
    pub max_cells_per_row: usize,
}

/// Largest `max_bytes_per_call` there can be: one WAL record's payload limit.
pub const MAX_WRITE_BYTES: usize = crate::wal::MAX_PAYLOAD_LEN;

fn default_max_cells_per_call() -> usize {
    1_000_000
}

fn default_max_bytes_per_call() -> usize {
    256 * 1024 * 1024
}

fn default_max_cells_per_row() -> usize {
    100_000
}

impl Limits {
    /// Check a row key: not empty, at most `max_row_key` bytes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] naming the problem.
    pub fn check_row_key(&self, row: &[u8]) -> Result<()> {
        if row.is_empty() {
            return Err(Error::InvalidArgument("row key is empty".into()));
        }
        let max = self.max_row_key;
        if row.len() > max {
            return Err(Error::InvalidArgument(format!(
                "row key is {} bytes, over the limit of {max}",
                row.len()
            )));
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_row_key: 4 * 1024,
            max_qualifier: 16 * 1024,
            max_value: 8 * 1024 * 1024,
            max_mutations_per_row: 100_000,
            max_cells_per_call: default_max_cells_per_call(),
            max_bytes_per_call: default_max_bytes_per_call(),
            max_cells_per_row: default_max_cells_per_row(),
        }
    }
}

/// Store-wide settings given to `Db::open`.
#[derive(Clone, Debug)]
pub struct DbOptions {
    /// WAL durability.
    pub sync_mode: SyncMode,
    /// A table's active memtable is frozen and flushed once it holds this many bytes.
    pub memtable_bytes: usize,
    /// Writes stall while a table has this many frozen memtables waiting for flush.
    pub max_immutable_memtables: usize,
    /// A WAL segment is closed and a new one started past this size (and as soon as every
    /// record in it is in a table file).
    pub wal_segment_bytes: u64,
    /// Once the WAL segments on disk hold more than this many bytes, the tables whose
    /// memtables hold the oldest segment's records are flushed, so it can be deleted (an
    /// idle table cannot pin the log).
    pub max_total_wal_bytes: u64,
    /// A write that waits this long for room (flushes or compactions falling behind) gives
    /// up with [`crate::Error::Stalled`], unapplied.
    pub write_stall_timeout: std::time::Duration,
    /// Byte budget of the block cache (decoded blocks).
    pub block_cache_bytes: usize,
    /// Input limits.
    pub limits: Limits,
    /// Open even if the WAL is damaged in the middle, keeping records up to the damage.
    /// Off by default: mid-log damage is an error.
    pub salvage_wal: bool,
    /// Whether background threads (flush, compaction) run. Tests may turn them off.
    pub background_threads: bool,
    /// Directories bulk ingest adopts files from (created at open if missing). Empty means
    /// one: `ingest/` inside the store's directory. See [`crate::Db::ingest_dirs`].
    pub ingest_dirs: Vec<std::path::PathBuf>,
    /// At open, move table files that cannot be opened (damaged or missing) to
    /// `quarantine/` inside the store's directory and open their tables without them, in
    /// one manifest commit, logging what was lost. Off by default: such a table is
    /// unavailable (its calls fail with [`crate::Error::TableUnavailable`]) and the others
    /// serve.
    pub quarantine_damaged_files: bool,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            sync_mode: SyncMode::Group,
            memtable_bytes: 64 * 1024 * 1024,
            max_immutable_memtables: 4,
            wal_segment_bytes: 64 * 1024 * 1024,
            max_total_wal_bytes: 256 * 1024 * 1024,
            write_stall_timeout: std::time::Duration::from_secs(10),
            block_cache_bytes: 256 * 1024 * 1024,
            limits: Limits::default(),
            salvage_wal: false,
            background_threads: true,
            ingest_dirs: Vec::new(),
            quarantine_damaged_files: false,
        }
    }
}

/// Check a family's options and return them with zero values replaced by defaults
/// ([`FamilyOptions::normalized`]): the name rule of [`validate_name`], a zstd level in
/// [`ZSTD_LEVELS`] and a block size in [`BLOCK_SIZES`]. The engine checks every family it is
/// given with this; front ends may call it to fail early with the same rule.
///
/// # Errors
///
/// A message naming the family and what is wrong.
pub fn validate_family(f: &FamilyOptions) -> std::result::Result<FamilyOptions, String> {
    validate_name("family", &f.name)?;
    let f = f.clone().normalized();
    validate_compression(&f.name, f.compression)?;
    if !BLOCK_SIZES.contains(&f.block_size) {
        return Err(format!(
            "family {}: block size {} is outside 1 KiB..=16 MiB",
            f.name, f.block_size
        ));
    }
    Ok(f)
}

/// Check family `family`'s compression: a zstd level must be in [`ZSTD_LEVELS`] (0, the
/// wire's "unset", is replaced by the default before this check).
///
/// # Errors
///
/// A message naming the family and the level.
pub fn validate_compression(
    family: &str,
    compression: Compression,
) -> std::result::Result<(), String> {
    if let Compression::Zstd(level) = compression
        && !ZSTD_LEVELS.contains(&level)
    {
        return Err(format!(
            "family {family}: zstd level {level} is outside 1..=22 (0 means the default, {DEFAULT_ZSTD_LEVEL})"
        ));
    }
    Ok(())
}

/// Check a table or family name against `[A-Za-z0-9_][A-Za-z0-9_.-]*`, at most 255 bytes.
///
/// # Errors
///
/// A message naming the rule the name breaks.
pub fn validate_name(kind: &str, name: &str) -> std::result::Result<(), String> {
    let ok_first = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let ok_rest = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-';
    let b = name.as_bytes();
    if b.is_empty() {
        return Err(format!("{kind} name is empty"));
    }
    if b.len() > 255 {
        return Err(format!("{kind} name is {} bytes, longer than 255", b.len()));
    }
    if !ok_first(b[0]) || !b[1..].iter().all(|&c| ok_rest(c)) {
        return Err(format!(
            "{kind} name {name:?} does not match [A-Za-z0-9_][A-Za-z0-9_.-]*"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(validate_name("table", "customers").is_ok());
        assert!(validate_name("table", "a.b-c_9").is_ok());
        assert!(validate_name("table", "").is_err());
        assert!(validate_name("table", ".x").is_err());
        assert!(validate_name("table", "a b").is_err());
        assert!(validate_name("table", &"a".repeat(256)).is_err());
        assert!(validate_name("table", &"a".repeat(255)).is_ok());
    }

    #[test]
    fn family_options_are_checked_after_defaults_fill_zeros() {
        let ok = validate_family(&FamilyOptions {
            compression: Compression::Zstd(0),
            block_size: 0,
            ..FamilyOptions::new("f")
        })
        .unwrap();
        assert_eq!(ok.compression, Compression::Zstd(DEFAULT_ZSTD_LEVEL));
        assert_eq!(ok.block_size, DEFAULT_BLOCK_SIZE);
        for level in [ZSTD_LEVELS.start(), ZSTD_LEVELS.end()] {
            let f = FamilyOptions {
                compression: Compression::Zstd(*level),
                ..FamilyOptions::new("f")
            };
            assert!(validate_family(&f).is_ok(), "{level}");
        }
        for level in [-1, 23, 99] {
            let f = FamilyOptions {
                compression: Compression::Zstd(level),
                ..FamilyOptions::new("f")
            };
            let e = validate_family(&f).unwrap_err();
            assert!(
                e.contains(&level.to_string()) && e.contains("family f"),
                "{e}"
            );
        }
        for size in [1023, 16 * 1024 * 1024 + 1] {
            let f = FamilyOptions {
                block_size: size,
                ..FamilyOptions::new("f")
            };
            assert!(validate_family(&f).unwrap_err().contains("block size"));
        }
        assert!(validate_family(&FamilyOptions::new("bad name")).is_err());
        assert!(validate_compression("f", Compression::None).is_ok());
    }

    #[test]
    fn row_keys_must_be_non_empty_and_within_the_limit() {
        let limits = Limits {
            max_row_key: 4,
            ..Limits::default()
        };
        assert!(limits.check_row_key(b"abcd").is_ok());
        assert!(
            matches!(limits.check_row_key(b""), Err(Error::InvalidArgument(m)) if m.contains("empty"))
        );
        assert!(
            matches!(limits.check_row_key(b"abcde"), Err(Error::InvalidArgument(m)) if m.contains("5 bytes"))
        );
    }

    #[test]
    fn zero_options_become_defaults() {
        let f = FamilyOptions {
            max_versions: 0,
            block_size: 0,
            compression: Compression::Zstd(0),
            ..FamilyOptions::new("f")
        }
        .normalized();
        assert_eq!(f.max_versions, 1);
        assert_eq!(f.block_size, DEFAULT_BLOCK_SIZE);
        assert_eq!(f.compression, Compression::Zstd(DEFAULT_ZSTD_LEVEL));
    }
}
