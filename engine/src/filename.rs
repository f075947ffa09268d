//! Where every file of a store lives, and how its name encodes its number (LevelDB's
//! `filename.cc`): `MANIFEST` (and `MANIFEST.tmp` while it is replaced), `LOCK`,
//! `sst/{number:06}.sst` table files, `wal/{number:06}.log` WAL segments, `ingest/` (the
//! default bulk-ingest directory) and `quarantine/` (table files set aside at open).
//!
//! This module only builds and parses names; it must never touch the file system.

use std::path::{Path, PathBuf};

/// The manifest's file name in the data directory.
pub(crate) const MANIFEST_FILE: &str = "MANIFEST";
/// The name a new manifest is written under before it is renamed over [`MANIFEST_FILE`].
pub(crate) const MANIFEST_TMP_FILE: &str = "MANIFEST.tmp";
/// The lock file that keeps a second process out of the directory.
pub(crate) const LOCK_FILE: &str = "LOCK";

/// The manifest of the store in `dir`.
pub(crate) fn manifest_path(dir: &Path) -> PathBuf {
    dir.join(MANIFEST_FILE)
}

/// The directory of the store's table files.
pub(crate) fn sst_dir(dir: &Path) -> PathBuf {
    dir.join("sst")
}

/// The directory of the store's WAL segments.
pub(crate) fn wal_dir(dir: &Path) -> PathBuf {
    dir.join("wal")
}

/// Table file `number` of the store in `dir`.
pub(crate) fn sst_path(dir: &Path, number: u64) -> PathBuf {
    sst_dir(dir).join(sst_name(number))
}

/// The file name of table file `number`.
pub(crate) fn sst_name(number: u64) -> String {
    format!("{number:06}.sst")
}

/// The directory damaged table files are moved to (`quarantine_damaged_files`).
pub(crate) fn quarantine_dir(dir: &Path) -> PathBuf {
    dir.join("quarantine")
}

/// The number of a table file name (`000012.sst` -> 12), if it is one.
pub(crate) fn parse_sst_name(name: &str) -> Option<u64> {
    name.strip_suffix(".sst")?.parse::<u64>().ok()
}

/// WAL segment `number` in the WAL directory `wal_dir`.
pub(crate) fn segment_path(wal_dir: &Path, number: u64) -> PathBuf {
    wal_dir.join(format!("{number:06}.log"))
}

/// The number of a WAL segment name written by [`segment_path`], if it is one.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".log")?;
    if stem.len() < 6 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number: u64 = stem.parse().ok()?;
    // Only the canonical spelling, so one number never maps to two files.
    (format!("{number:06}") == stem).then_some(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_only_canonical_segment_names_parse() {
        let dir = Path::new("/data");
        assert_eq!(sst_path(dir, 12), Path::new("/data/sst/000012.sst"));
        assert_eq!(parse_sst_name("000012.sst"), Some(12));
        assert_eq!(parse_sst_name("1234567.sst"), Some(1_234_567));
        assert_eq!(parse_sst_name("000012.log"), None);
        assert_eq!(parse_sst_name("x.sst"), None);
        assert_eq!(
            segment_path(&wal_dir(dir), 7),
            Path::new("/data/wal/000007.log")
        );
        assert_eq!(parse_segment_name("000007.log"), Some(7));
        assert_eq!(parse_segment_name("1000000.log"), Some(1_000_000));
        assert_eq!(parse_segment_name("7.log"), None);
        assert_eq!(parse_segment_name("0000007.log"), None);
        assert_eq!(parse_segment_name("00000a.log"), None);
        assert_eq!(manifest_path(dir), Path::new("/data/MANIFEST"));
    }
}
