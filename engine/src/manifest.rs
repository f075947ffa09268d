//! The manifest: the store's durable catalog (tables, families, live table files, sequence
//! and file counters, recent bulk ingests), kept in one file `MANIFEST` that is replaced
//! atomically on every change. The byte layout is documented in docs/format.md, section
//! "Manifest".
//!
//! This module owns the file's framing (header with magic, version, length and checksum
//! around a bincode payload) and the write-then-rename protocol. It must never modify
//! `MANIFEST` in place, never return a state whose checksum failed, and never decide what
//! the state means (that belongs to the caller, who also serializes writers).

#![warn(clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::codec::Reader;
use crate::error::{Error, Result};
use crate::filename::{MANIFEST_TMP_FILE, manifest_path};
use crate::fs::Fs;
use crate::options::{Compression, FamilyOptions};
use crate::sstable::TableProperties;

/// First 8 bytes of the file: "STRATMAN" read as a little-endian u64.
pub const MANIFEST_MAGIC: u64 = u64::from_le_bytes(*b"STRATMAN");
/// The manifest format this code writes. It also reads version 1 (no enabled state: every
/// table of a v1 manifest is enabled).
pub const FORMAT_VERSION: u32 = 2;
/// The oldest manifest format this code reads.
pub const OLDEST_FORMAT_VERSION: u32 = 1;
/// Bytes of the header: magic u64, version u32, payload length u64, payload crc32 u32.
pub const HEADER_LEN: usize = 24;
/// Most bytes the payload decoder may allocate, so a damaged length inside a payload that
/// still passed its checksum cannot exhaust memory.
const DECODE_LIMIT: usize = 1 << 30;

/// The whole durable state of a store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestState {
    /// The next number to give a file (WAL segment or table file).
    pub next_file_number: u64,
    /// The highest sequence number whose effects are durable in table files or the WAL.
    pub last_seq: u64,
    /// The next table id to assign.
    pub next_table_id: u32,
    /// Tables by name.
    pub tables: BTreeMap<String, TableState>,
}

/// One table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableState {
    /// The table's id (stable across renames of nothing: names are fixed).
    pub id: u32,
    /// Its column families.
    pub families: Vec<FamilyState>,
    /// Its live table files.
    pub files: Vec<FileMeta>,
    /// Every write with a sequence number up to this is in `files`.
    pub flushed_seq: u64,
    /// Recent bulk ingests, most recent last, within the bounds of
    /// [`bound_ingest_records`].
    pub ingests: Vec<IngestRecord>,
    /// Whether the table is disabled (HBase's `disableTable`): its reads and writes are
    /// refused until it is enabled again. Format v2; absent (false) in v1.
    pub disabled: bool,
}

/// A table as manifest format v1 stores it: [`TableState`] without `disabled` (bincode
/// encodes fields in declaration order, so the v1 layout needs its own type).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct TableStateV1 {
    id: u32,
    families: Vec<FamilyState>,
    files: Vec<FileMeta>,
    flushed_seq: u64,
    ingests: Vec<IngestRecord>,
}

/// The whole state as manifest format v1 stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct ManifestStateV1 {
    next_file_number: u64,
    last_seq: u64,
    next_table_id: u32,
    tables: BTreeMap<String, TableStateV1>,
}

impl From<ManifestStateV1> for ManifestState {
    fn from(v1: ManifestStateV1) -> Self {
        ManifestState {
            next_file_number: v1.next_file_number,
            last_seq: v1.last_seq,
            next_table_id: v1.next_table_id,
            tables: v1
                .tables
                .into_iter()
                .map(|(name, t)| {
                    let state = TableState {
                        id: t.id,
                        families: t.families,
                        files: t.files,
                        flushed_seq: t.flushed_seq,
                        ingests: t.ingests,
                        disabled: false,
                    };
                    (name, state)
                })
                .collect(),
        }
    }
}

impl ManifestStateV1 {
    /// `state` in the v1 layout; `None` if it holds what v1 cannot say (a disabled table).
    fn from_state(state: &ManifestState) -> Option<ManifestStateV1> {
        let mut tables = BTreeMap::new();
        for (name, t) in &state.tables {
            if t.disabled {
                return None;
            }
            let v1 = TableStateV1 {
                id: t.id,
                families: t.families.clone(),
                files: t.files.clone(),
                flushed_seq: t.flushed_seq,
                ingests: t.ingests.clone(),
            };
            tables.insert(name.clone(), v1);
        }
        Some(ManifestStateV1 {
            next_file_number: state.next_file_number,
            last_seq: state.last_seq,
            next_table_id: state.next_table_id,
            tables,
        })
    }
}

/// One column family of a table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyState {
    /// Its options.
    pub options: FamilyRecord,
    /// The sequence number at which it was created (older cells of a same-named, dropped
    /// family are not its cells).
    pub created_seq: u64,
}

/// A family's options as the manifest stores them. This is the on-disk record, kept apart
/// from the public [`FamilyOptions`] so the API type can change without changing the format:
/// the fields and their order are format v1 (bincode encodes them in declaration order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyRecord {
    /// Family name.
    pub name: String,
    /// Versions kept per cell.
    pub max_versions: u32,
    /// Seconds after their timestamp that cells expire; 0 keeps them forever.
    pub ttl_seconds: u64,
    /// Block compression.
    pub compression: CompressionRecord,
    /// Whether files carry a bloom filter for this family.
    pub bloom_filter: bool,
    /// Target uncompressed data block size in bytes.
    pub block_size: u32,
}

/// A family's compression as the manifest stores it (variant order is format v1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompressionRecord {
    /// Blocks stored raw.
    None,
    /// zstd at the given level.
    Zstd(i32),
}

impl From<&FamilyOptions> for FamilyRecord {
    fn from(f: &FamilyOptions) -> Self {
        FamilyRecord {
            name: f.name.clone(),
            max_versions: f.max_versions,
            ttl_seconds: f.ttl_seconds,
            compression: match f.compression {
                Compression::None => CompressionRecord::None,
                Compression::Zstd(level) => CompressionRecord::Zstd(level),
            },
            bloom_filter: f.bloom_filter,
            block_size: f.block_size,
        }
    }
}

impl From<&FamilyRecord> for FamilyOptions {
    fn from(r: &FamilyRecord) -> Self {
        FamilyOptions {
            name: r.name.clone(),
            max_versions: r.max_versions,
            ttl_seconds: r.ttl_seconds,
            compression: match r.compression {
                CompressionRecord::None => Compression::None,
                CompressionRecord::Zstd(level) => Compression::Zstd(level),
            },
            bloom_filter: r.bloom_filter,
            block_size: r.block_size,
        }
    }
}

/// A live table file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    /// File number (names the file).
    pub number: u64,
    /// LSM level.
    pub level: u32,
    /// Size in bytes.
    pub size: u64,
    /// For an ingested file: the sequence number all its cells take.
    pub global_seq: Option<u64>,
    /// Smallest row key.
    pub smallest_row: Vec<u8>,
    /// Largest row key.
    pub largest_row: Vec<u8>,
    /// Smallest sequence number of its cells.
    pub min_seq: u64,
    /// Largest sequence number of its cells.
    pub max_seq: u64,
    /// Smallest cell timestamp (microseconds).
    pub min_ts: i64,
    /// Largest cell timestamp (microseconds).
    pub max_ts: i64,
    /// Rows.
    pub rows: u64,
    /// Cells, delete markers included.
    pub cells: u64,
    /// Delete markers.
    pub deletes: u64,
}

impl FileMeta {
    /// What the manifest records about table file `number`, written at `level`, from the
    /// properties its builder returned. An ingested file (`global_seq: Some(s)`) reports every
    /// cell at sequence number `s`, whatever its cells store.
    pub fn from_properties(
        number: u64,
        level: u32,
        global_seq: Option<u64>,
        props: &TableProperties,
    ) -> FileMeta {
        FileMeta {
            number,
            level,
            size: props.file_size,
            global_seq,
            smallest_row: props.smallest_row.clone(),
            largest_row: props.largest_row.clone(),
            min_seq: global_seq.unwrap_or(props.min_seq),
            max_seq: global_seq.unwrap_or(props.max_seq),
            min_ts: props.min_ts,
            max_ts: props.max_ts,
            rows: props.rows,
            cells: props.cells,
            deletes: props.deletes,
        }
    }
}

/// A finished bulk ingest, remembered so repeating its id loads nothing twice.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestRecord {
    /// The client's ingest id.
    pub id: String,
    /// Files added.
    pub files: u64,
    /// Cells added.
    pub cells: u64,
    /// Bytes added.
    pub bytes: u64,
}

/// Longest ingest id, in bytes.
pub const MAX_INGEST_ID_BYTES: usize = 256;
/// Most ingest records a table keeps.
pub const MAX_INGEST_RECORDS: usize = 1000;
/// Most bytes a table's ingest records may take (ids plus 32 bytes each for the counters and
/// framing, an upper bound of their encoding), so that every manifest rewrite stays small.
pub const MAX_INGEST_RECORD_BYTES: usize = 64 * 1024;

/// Forget a table's oldest ingest records until at most [`MAX_INGEST_RECORDS`] remain and
/// they take at most [`MAX_INGEST_RECORD_BYTES`]; records with an id over
/// [`MAX_INGEST_ID_BYTES`] (written by older code, which had no limit) go too. A repeated id
/// that was forgotten is ingested again, so the bounds are far above what a retry needs.
pub fn bound_ingest_records(records: &mut Vec<IngestRecord>) {
    records.retain(|r| r.id.len() <= MAX_INGEST_ID_BYTES);
    let mut bytes = 0usize;
    let keep = records
        .iter()
        .rev()
        .take(MAX_INGEST_RECORDS)
        .take_while(|r| {
            bytes += r.id.len() + 32;
            bytes <= MAX_INGEST_RECORD_BYTES
        })
        .count();
    let excess = records.len() - keep;
    records.drain(..excess);
}

/// Encode `state` as a whole manifest file in today's format ([`FORMAT_VERSION`]).
pub(crate) fn encode(state: &ManifestState) -> Result<Vec<u8>> {
    encode_version(state, FORMAT_VERSION)
}

/// Encode `state` as a whole manifest file in format `version`: header then payload. The
/// store writes only [`FORMAT_VERSION`]; older versions are encoded to prove their layout
/// frozen (`frozen_formats.rs`). Version 2 appends one byte to each table, `disabled`
/// (bincode's bool: 0 or 1), after its `ingests`; version 1 has no such byte.
pub(crate) fn encode_version(state: &ManifestState, version: u32) -> Result<Vec<u8>> {
    let bad = |e: bincode::error::EncodeError| {
        Error::InvalidArgument(format!("cannot encode the manifest: {e}"))
    };
    let config = bincode::config::standard();
    let payload = match version {
        1 => {
            let v1 = ManifestStateV1::from_state(state).ok_or_else(|| {
                Error::InvalidArgument("manifest format 1 cannot hold a disabled table".to_string())
            })?;
            bincode::serde::encode_to_vec(&v1, config).map_err(bad)?
        }
        2 => bincode::serde::encode_to_vec(state, config).map_err(bad)?,
        other => {
            return Err(Error::InvalidArgument(format!(
                "no manifest format version {other}"
            )));
        }
    };
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&MANIFEST_MAGIC.to_le_bytes());
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Write `MANIFEST.tmp` and sync it. Returns its path.
fn write_tmp(fs: &Arc<dyn Fs>, dir: &Path, state: &ManifestState) -> Result<PathBuf> {
    let bytes = encode(state)?;
    let tmp = dir.join(MANIFEST_TMP_FILE);
    let mut file = fs.create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let res = file.append(&bytes).and_then(|()| file.sync());
    drop(file);
    if let Err(e) = res {
        // Best effort: a leftover tmp file is ignored by readers and replaced next time.
        let _ = fs.remove(&tmp);
        return Err(Error::io(&tmp, e));
    }
    Ok(tmp)
}

/// Rename the synced `MANIFEST.tmp` over `MANIFEST` and sync the directory.
fn install(fs: &Arc<dyn Fs>, dir: &Path, tmp: &Path) -> Result<()> {
    let target = manifest_path(dir);
    fs.rename(tmp, &target).map_err(|e| Error::io(&target, e))?;
    fs.sync_dir(dir).map_err(|e| Error::io(dir, e))
}

/// Replace the manifest in `dir` with `state`, atomically: write `MANIFEST.tmp`, sync it,
/// rename it to `MANIFEST`, sync `dir`. A crash at any point leaves either the old or the new
/// state. When this returns an error the caller must not assume either (a failed directory
/// sync after the rename may or may not keep the new state) and should stop writing.
/// Callers serialize calls for one directory.
pub fn write_manifest(fs: &Arc<dyn Fs>, dir: &Path, state: &ManifestState) -> Result<()> {
    let tmp = write_tmp(fs, dir, state)?;
    install(fs, dir, &tmp)
}

/// Read the manifest in `dir`: `None` if there is none. A bad magic, version, length or
/// checksum, or a payload that does not decode, is [`Error::Corruption`] naming the file.
/// A leftover `MANIFEST.tmp` is ignored.
pub fn read_manifest(fs: &Arc<dyn Fs>, dir: &Path) -> Result<Option<ManifestState>> {
    let path = manifest_path(dir);
    let data = match fs.read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    decode(&path, &data).map(Some)
}

pub(crate) fn decode(path: &Path, data: &[u8]) -> Result<ManifestState> {
    decode_versioned(path, data).map(|(state, _)| state)
}

/// [`decode`], and the format version the file was written in.
pub(crate) fn decode_versioned(path: &Path, data: &[u8]) -> Result<(ManifestState, u32)> {
    let short = || {
        Error::corruption(
            path,
            0,
            format!(
                "file of {} bytes is shorter than the {HEADER_LEN}-byte header",
                data.len()
            ),
        )
    };
    let (header, payload) = data.split_at_checked(HEADER_LEN).ok_or_else(short)?;
    let mut r = Reader::new(header);
    // The header is exactly HEADER_LEN bytes, so these reads cannot run short.
    let magic = r.fixed64().map_err(|_| short())?;
    let version = r.fixed32().map_err(|_| short())?;
    let len = r.fixed64().map_err(|_| short())?;
    let crc = r.fixed32().map_err(|_| short())?;
    if magic != MANIFEST_MAGIC {
        return Err(Error::corruption(
            path,
            0,
            format!("not a manifest: magic {magic:#018x}"),
        ));
    }
    if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(Error::corruption(
            path,
            8,
            format!(
                "unsupported manifest format version {version} (this build reads \
                 {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION})"
            ),
        ));
    }
    let actual = payload.len() as u64;
    if len != actual {
        return Err(Error::corruption(
            path,
            12,
            format!("header says {len} payload bytes but the file holds {actual}"),
        ));
    }
    if crc32fast::hash(payload) != crc {
        return Err(Error::corruption(
            path,
            HEADER_LEN as u64,
            "payload checksum mismatch",
        ));
    }
    let config = bincode::config::standard().with_limit::<DECODE_LIMIT>();
    let bad = |e: bincode::error::DecodeError| {
        Error::corruption(
            path,
            HEADER_LEN as u64,
            format!("payload does not decode: {e}"),
        )
    };
    let (state, used): (ManifestState, usize) = if version == 1 {
        let (v1, used): (ManifestStateV1, usize) =
            bincode::serde::decode_from_slice(payload, config).map_err(bad)?;
        (v1.into(), used)
    } else {
        bincode::serde::decode_from_slice(payload, config).map_err(bad)?
    };
    if used != payload.len() {
        return Err(Error::corruption(
            path,
            (HEADER_LEN + used) as u64,
            format!(
                "{} unexpected bytes after the payload",
                payload.len() - used
            ),
        ));
    }
    Ok((state, version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault_fs::FaultFs;

    fn sample(n: u64) -> ManifestState {
        let mut tables = BTreeMap::new();
        tables.insert(
            "transactions".to_string(),
            TableState {
                id: 3,
                families: vec![FamilyState {
                    options: FamilyRecord::from(&FamilyOptions::new("payment_info")),
                    created_seq: 5,
                }],
                files: vec![FileMeta {
                    number: n,
                    level: 1,
                    size: 4096,
                    global_seq: Some(77),
                    smallest_row: b"a".to_vec(),
                    largest_row: vec![0xFF, 0],
                    min_seq: 1,
                    max_seq: 9,
                    min_ts: -5,
                    max_ts: i64::MAX,
                    rows: 10,
                    cells: 40,
                    deletes: 2,
                }],
                flushed_seq: 9,
                ingests: vec![IngestRecord {
                    id: "load-1".to_string(),
                    files: 1,
                    cells: 40,
                    bytes: 4096,
                }],
                disabled: true,
            },
        );
        tables.insert("empty".to_string(), TableState::default());
        ManifestState {
            next_file_number: n + 1,
            last_seq: 9,
            next_table_id: 4,
            tables,
        }
    }

    fn corruption_at(err: Error) -> (PathBuf, u64) {
        match err {
            Error::Corruption { path, offset, .. } => (path, offset),
            other => panic!("expected corruption, got {other}"),
        }
    }

    #[test]
    fn round_trip_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        let fs = crate::fs::real();
        assert_eq!(read_manifest(&fs, dir.path()).unwrap(), None);
        write_manifest(&fs, dir.path(), &sample(1)).unwrap();
        assert_eq!(read_manifest(&fs, dir.path()).unwrap(), Some(sample(1)));
        write_manifest(&fs, dir.path(), &sample(2)).unwrap();
        assert_eq!(read_manifest(&fs, dir.path()).unwrap(), Some(sample(2)));
        assert!(!fs.exists(&dir.path().join(MANIFEST_TMP_FILE)));
    }

    #[test]
    fn version_2_adds_one_disabled_byte_per_table_and_version_1_still_reads() {
        let path = Path::new("MANIFEST");
        let mut state = sample(1);
        let v2 = encode(&state).unwrap();
        assert_eq!(v2[8..12], 2u32.to_le_bytes());
        assert_eq!(decode_versioned(path, &v2).unwrap(), (state.clone(), 2));
        // v1 cannot say "disabled".
        assert!(encode_version(&state, 1).is_err());
        state.tables.values_mut().for_each(|t| t.disabled = false);
        let v1 = encode_version(&state, 1).unwrap();
        assert_eq!(v1[8..12], 1u32.to_le_bytes());
        // Two tables: two bytes more, the last one of each table.
        assert_eq!(v2.len(), v1.len() + 2);
        // A v1 file reads with every table enabled, and is written back as v2.
        assert_eq!(decode_versioned(path, &v1).unwrap(), (state.clone(), 1));
        let again = encode(&decode(path, &v1).unwrap()).unwrap();
        assert_eq!(again[8..12], 2u32.to_le_bytes());
        // An unknown version is refused, naming it.
        let mut v3 = v2.clone();
        v3[8..12].copy_from_slice(&3u32.to_le_bytes());
        let err = decode(path, &v3).unwrap_err();
        assert!(err.to_string().contains("version 3"), "{err}");
    }

    #[test]
    fn power_cut_before_rename_or_dir_sync_keeps_the_old_state() {
        let dir = tempfile::tempdir().unwrap();
        let ffs = FaultFs::new();
        let fs: Arc<dyn Fs> = ffs.clone();
        write_manifest(&fs, dir.path(), &sample(1)).unwrap();

        // Crash after the tmp file is written and synced, before the rename.
        write_tmp(&fs, dir.path(), &sample(2)).unwrap();
        ffs.simulate_power_cut().unwrap();
        assert_eq!(read_manifest(&fs, dir.path()).unwrap(), Some(sample(1)));

        // Crash after the rename, before the directory sync.
        let tmp = write_tmp(&fs, dir.path(), &sample(3)).unwrap();
        fs.rename(&tmp, &manifest_path(dir.path())).unwrap();
        assert_eq!(read_manifest(&fs, dir.path()).unwrap(), Some(sample(3)));
        ffs.simulate_power_cut().unwrap();
        assert_eq!(read_manifest(&fs, dir.path()).unwrap(), Some(sample(1)));

        // The whole protocol survives.
        write_manifest(&fs, dir.path(), &sample(4)).unwrap();
        ffs.simulate_power_cut().unwrap();
        assert_eq!(read_manifest(&fs, dir.path()).unwrap(), Some(sample(4)));
    }

    #[test]
    fn failed_write_leaves_the_old_state() {
        let dir = tempfile::tempdir().unwrap();
        let ffs = FaultFs::new();
        let fs: Arc<dyn Fs> = ffs.clone();
        write_manifest(&fs, dir.path(), &sample(1)).unwrap();
        ffs.set_space_limit(Some(ffs.bytes_written() + 10));
        let err = write_manifest(&fs, dir.path(), &sample(2)).unwrap_err();
        assert!(err.is_no_space(), "{err}");
        ffs.set_space_limit(None);
        ffs.fail_syncs(true);
        assert!(write_manifest(&fs, dir.path(), &sample(2)).is_err());
        ffs.fail_syncs(false);
        assert_eq!(read_manifest(&fs, dir.path()).unwrap(), Some(sample(1)));
        assert!(!fs.exists(&dir.path().join(MANIFEST_TMP_FILE)));
    }

    #[test]
    fn every_corrupted_byte_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let fs = crate::fs::real();
        write_manifest(&fs, dir.path(), &sample(1)).unwrap();
        let path = manifest_path(dir.path());
        let good = std::fs::read(&path).unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x10;
            std::fs::write(&path, &bad).unwrap();
            let err = read_manifest(&fs, dir.path()).unwrap_err();
            let (p, _) = corruption_at(err);
            assert_eq!(p, path, "byte {i}");
        }
        for cut in [0, 5, HEADER_LEN, good.len() - 1] {
            std::fs::write(&path, &good[..cut]).unwrap();
            assert!(read_manifest(&fs, dir.path()).is_err(), "cut at {cut}");
        }
        let mut longer = good.clone();
        longer.push(0);
        std::fs::write(&path, &longer).unwrap();
        assert_eq!(
            corruption_at(read_manifest(&fs, dir.path()).unwrap_err()).1,
            12
        );
    }

    #[test]
    fn ingest_records_are_bounded_by_count_and_bytes_newest_kept() {
        let rec = |id: String| IngestRecord {
            id,
            files: 1,
            cells: 2,
            bytes: 3,
        };
        let mut v: Vec<_> = (0..1500).map(|i| rec(format!("id-{i}"))).collect();
        bound_ingest_records(&mut v);
        assert_eq!(v.len(), MAX_INGEST_RECORDS);
        assert_eq!(v.last().unwrap().id, "id-1499");
        assert_eq!(v[0].id, "id-500");
        let mut v: Vec<_> = (0..1000).map(|i| rec(format!("{i:0>256}"))).collect();
        bound_ingest_records(&mut v);
        assert!(v.len() < 1000);
        assert!(v.iter().map(|r| r.id.len() + 32).sum::<usize>() <= MAX_INGEST_RECORD_BYTES);
        assert!(v.last().unwrap().id.ends_with("999"));
        let mut v = vec![rec("x".repeat(1 << 20)), rec("ok".into())];
        bound_ingest_records(&mut v);
        assert_eq!(v, vec![rec("ok".into())]);
        // A manifest with the most records a table may keep stays small to rewrite.
        let mut state = sample(1);
        let ts = state.tables.get_mut("transactions").unwrap();
        ts.ingests = (0..5000).map(|i| rec(format!("{i:0>256}"))).collect();
        bound_ingest_records(&mut ts.ingests);
        assert!(encode(&state).unwrap().len() < MAX_INGEST_RECORD_BYTES + 4096);
    }

    #[test]
    fn leftover_tmp_is_ignored_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let fs = crate::fs::real();
        let tmp = dir.path().join(MANIFEST_TMP_FILE);
        std::fs::write(&tmp, b"half-written garbage").unwrap();
        assert_eq!(read_manifest(&fs, dir.path()).unwrap(), None);
        write_manifest(&fs, dir.path(), &sample(1)).unwrap();
        std::fs::write(&tmp, b"half-written garbage").unwrap();
        assert_eq!(read_manifest(&fs, dir.path()).unwrap(), Some(sample(1)));
        write_manifest(&fs, dir.path(), &sample(2)).unwrap();
        assert_eq!(read_manifest(&fs, dir.path()).unwrap(), Some(sample(2)));
    }
}
