//! The encoders are frozen: every file of each fixture store (`tests/fixtures/v1/`, written
//! by the v1 code, see `tests/format_v1.rs`; `tests/fixtures/v2/`, see `tests/format_v2.rs`;
//! `tests/fixtures/v3/`, see `tests/format_v3.rs`; `tests/fixtures/v4/`, see
//! `tests/format_v4.rs`; `tests/fixtures/v5/`, see `tests/format_v5.rs`; `tests/fixtures/v6/`,
//! see `tests/format_v6.rs`)
//! is decoded and re-encoded with today's encoders, and must come out byte for byte the same.
//! A change to the manifest, WAL (segment header, record framing, batch payload) or SSTable
//! encoding fails here; the fix is a version bump with a reader for the older versions, never
//! an edit of a fixture.
//!
//! SSTables are rebuilt from their cells with the file's own family options and in the file's
//! own format version (the builder still writes every version it reads), so the zstd
//! library's output is part of what is compared: the zstd version is pinned in Cargo.lock.
//! WAL payloads re-encode in their own version (v1 and v2 with the fixed-width encoder the
//! writer used until payload v3).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cell::CellKind;
use crate::fs::Fs;
use crate::sstable::{TableBuilder, TableReader};
use crate::wal::{self, LogWriter};
use crate::write_batch::WriteBatch;

/// Every fixture store, oldest first.
fn fixtures() -> Vec<PathBuf> {
    ["v1", "v2", "v3", "v4", "v5", "v6"]
        .iter()
        .map(|v| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(v)
        })
        .collect()
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no .{ext} files in {}", dir.display());
    v
}

/// Panics naming the file and the first differing byte.
fn assert_same_bytes(what: &str, path: &Path, frozen: &[u8], now: &[u8]) {
    if frozen == now {
        return;
    }
    let at = frozen
        .iter()
        .zip(now)
        .position(|(a, b)| a != b)
        .unwrap_or(frozen.len().min(now.len()));
    panic!(
        "the {what} encoding changed without a version bump: re-encoding {} differs at byte \
         {at} (frozen {} bytes, today {} bytes). Bump the format version, keep a reader for \
         the old one and add a new fixture; never edit tests/fixtures.",
        path.display(),
        frozen.len(),
        now.len()
    );
}

#[test]
fn manifest_encoding_is_frozen() {
    for dir in fixtures() {
        let path = dir.join(crate::filename::MANIFEST_FILE);
        let frozen = std::fs::read(&path).unwrap();
        let (state, version) = crate::manifest::decode_versioned(&path, &frozen).unwrap();
        assert!(!state.tables.is_empty());
        // In the file's own version, as the SSTables are.
        let now = crate::manifest::encode_version(&state, version).unwrap();
        assert_same_bytes("manifest", &path, &frozen, &now);
    }
}

/// Every WAL record of a fixture, decoded, with its segment's path.
fn wal_batches(dir: &Path) -> Vec<(PathBuf, Vec<u8>, WriteBatch)> {
    let fs = crate::fs::real();
    let mut out = Vec::new();
    for path in files(&dir.join("wal"), "log") {
        let contents = wal::read_segment(&fs, &path, false).unwrap();
        assert!(contents.torn_tail.is_none(), "{}", path.display());
        for (i, rec) in contents.records.into_iter().enumerate() {
            let batch = WriteBatch::decode(&rec, &path, i as u64).unwrap();
            out.push((path.clone(), rec, batch));
        }
    }
    out
}

#[test]
fn wal_encoding_is_frozen() {
    let fs = crate::fs::real();
    let tmp = tempfile::tempdir().unwrap();
    for dir in fixtures() {
        for path in files(&dir.join("wal"), "log") {
            let frozen = std::fs::read(&path).unwrap();
            let number =
                crate::filename::parse_segment_name(path.file_name().unwrap().to_str().unwrap())
                    .unwrap();
            let out = tmp.path().join(dir.file_name().unwrap());
            std::fs::create_dir_all(&out).unwrap();
            let mut w = LogWriter::create(&fs, &out, number).unwrap();
            for (_, rec, batch) in wal_batches(&dir).into_iter().filter(|(p, ..)| *p == path) {
                let mut again = Vec::new();
                match rec.first() {
                    Some(&v @ (1 | 2)) => batch.encode_fixed_width(&mut again, v),
                    _ => batch.encode(&mut again),
                }
                assert_same_bytes("WAL payload", &path, &rec, &again);
                w.append(&again).unwrap();
            }
            w.sync().unwrap();
            let now = std::fs::read(w.path()).unwrap();
            assert_same_bytes("WAL segment", &path, &frozen, &now);
        }
    }
}

/// Every SSTable of a fixture, opened.
fn tables(dir: &Path) -> Vec<(PathBuf, TableReader)> {
    files(&dir.join("sst"), "sst")
        .into_iter()
        .map(|p| {
            let r = TableReader::open(&p, None).unwrap();
            (p, r)
        })
        .collect()
}

#[test]
fn sstable_encoding_is_frozen() {
    let fs: Arc<dyn Fs> = crate::fs::real();
    let tmp = tempfile::tempdir().unwrap();
    for dir in fixtures() {
        for (path, reader) in tables(&dir) {
            let frozen = std::fs::read(&path).unwrap();
            let out = tmp.path().join(path.file_name().unwrap());
            let version = reader.properties().format_version;
            let mut b =
                TableBuilder::with_format_version(&fs, &out, reader.build_options(), version)
                    .unwrap();
            for c in reader.iter(std::ops::Bound::Unbounded, None).unwrap() {
                b.add(&c.unwrap().as_ref()).unwrap();
            }
            let props = b.finish().unwrap();
            assert_eq!(&props, reader.properties(), "{}", path.display());
            let now = std::fs::read(&out).unwrap();
            assert_same_bytes("SSTable", &path, &frozen, &now);
        }
    }
}

#[test]
fn each_fixture_holds_what_its_version_added() {
    let [v1, v2, v3, v4, v5, v6] = &fixtures()[..] else {
        panic!("six fixtures")
    };
    let manifest = |dir: &Path| {
        let path = dir.join(crate::filename::MANIFEST_FILE);
        crate::manifest::decode_versioned(&path, &std::fs::read(&path).unwrap()).unwrap()
    };
    assert_eq!(manifest(v1).1, 1);
    assert_eq!(manifest(v2).1, 1);
    let (state, version) = manifest(v3);
    assert_eq!(version, 2, "the v3 manifest is format 2");
    assert!(
        state.tables.values().any(|t| t.disabled),
        "no disabled table in v3"
    );
    assert!(
        state.tables.values().any(|t| !t.disabled),
        "no enabled table in v3"
    );
    let kinds = |dir: &Path| -> (Vec<u32>, Vec<u8>, Vec<CellKind>) {
        let mut versions = Vec::new();
        let mut kinds = Vec::new();
        for (_, r) in tables(dir) {
            versions.push(r.properties().format_version);
            for c in r.iter(std::ops::Bound::Unbounded, None).unwrap() {
                kinds.push(c.unwrap().kind);
            }
        }
        let payloads = wal_batches(dir).iter().map(|(_, rec, _)| rec[0]).collect();
        (versions, payloads, kinds)
    };
    let (sst, wal, k) = kinds(v1);
    assert!(sst.iter().all(|&v| v == 1) && wal.iter().all(|&v| v == 1));
    assert!(k.iter().all(|&k| k as u8 <= CellKind::LAST_V1));
    let (sst, wal, k) = kinds(v2);
    assert!(sst.iter().all(|&v| v == 2), "{sst:?}");
    assert!(wal.contains(&1) && wal.contains(&2), "{wal:?}");
    for kind in [CellKind::DeleteColumnUpTo, CellKind::DeleteFamilyUpTo] {
        assert!(k.contains(&kind), "no {kind:?} in the v2 SSTables");
        let in_wal = wal_batches(v2)
            .iter()
            .any(|(_, _, b)| b.internal_cells().any(|c| c.kind == kind));
        assert!(in_wal, "no {kind:?} in the v2 WAL");
    }
    // v4: SSTable format 3 with values derived from the row key: the key fields stored
    // again as cells are derived in every block, a column equal to a key field in only some
    // rows is derived in some blocks and stored in others, and there are delete markers.
    let (sst, _, k) = kinds(v4);
    assert!(sst.iter().all(|&v| v == 3), "{sst:?}");
    assert!(k.contains(&CellKind::DeleteCell) && k.contains(&CellKind::DeleteColumnUpTo));
    let mut derived = std::collections::BTreeMap::<(String, Vec<u8>), (u32, u32)>::new();
    for (_, r) in tables(v4) {
        for (family, quals) in r.block_derivations().unwrap() {
            for (q, d) in quals {
                let e = derived.entry((family.to_string(), q.to_vec())).or_default();
                if d {
                    e.0 += 1;
                } else {
                    e.1 += 1;
                }
            }
        }
    }
    let count = |q: &str| derived[&("d".to_string(), q.as_bytes().to_vec())];
    for q in ["event_id", "event_time", "session_id"] {
        let (yes, no) = count(q);
        assert!(
            yes > 1 && no == 0,
            "{q}: derived in {yes} blocks, stored in {no}"
        );
    }
    let (yes, no) = count("maybe");
    assert!(
        yes > 0 && no > 0,
        "maybe: derived in {yes} blocks, stored in {no}"
    );
    assert_eq!(count("name"), (0, count("session_id").0));
    // v5: WAL payload version 3 only, holding every delete kind; its table file a flush's.
    let (sst, wal, k) = kinds(v5);
    assert!(sst.iter().all(|&v| v == 3), "{sst:?}");
    assert!(!wal.is_empty() && wal.iter().all(|&v| v == 3), "{wal:?}");
    let in_wal: Vec<CellKind> = wal_batches(v5)
        .iter()
        .flat_map(|(_, _, b)| b.internal_cells().map(|c| c.kind).collect::<Vec<_>>())
        .collect();
    for kind in [
        CellKind::Put,
        CellKind::DeleteCell,
        CellKind::DeleteColumnUpTo,
        CellKind::DeleteFamily,
        CellKind::DeleteFamilyUpTo,
    ] {
        assert!(in_wal.contains(&kind), "no {kind:?} in the v5 WAL");
    }
    assert!(k.iter().all(|&k| k == CellKind::Put), "{k:?}");
    // v6: SSTable format 4, the 1 KiB-block family `d` with a dictionary, `m` without.
    let (sst, _, _) = kinds(v6);
    assert!(sst.iter().all(|&v| v == 4), "{sst:?}");
    for (path, r) in tables(v6) {
        for (i, family) in r.build_options().families.iter().enumerate() {
            let has = r.family_dictionary(i).is_some();
            assert_eq!(
                has,
                family.name == "d",
                "{}: family {}",
                path.display(),
                family.name
            );
        }
    }
}
