//! Damage is `Error::Corruption` naming the file and offset, never a panic or wrong data.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::error::Error;
use crate::options::Compression;

fn assert_corruption_at(e: &Error, path: &Path, offset: u64) {
    match e {
        Error::Corruption {
            path: p, offset: o, ..
        } => {
            assert_eq!(p, path);
            assert_eq!(*o, offset, "{e}");
            assert!(e.to_string().contains(&path.display().to_string()));
        }
        other => panic!("expected Corruption, got {other:?}"),
    }
}

#[test]
fn flipped_byte_in_a_data_block_is_corruption_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for compression in [Compression::None, Compression::Zstd(3)] {
        let (path, cells) = small_table(dir.path(), compression);
        let r = TableReader::open(&path, None).unwrap();
        // Damage the middle of family "b"'s second block.
        let h = r.family_block_handle(1, 1);
        let original = std::fs::read(&path).unwrap();
        let mut bytes = original.clone();
        bytes[(h.offset + h.size / 2) as usize] ^= 0x40;
        drop(r);
        std::fs::write(&path, &bytes).unwrap();

        let r = TableReader::open(&path, None).unwrap(); // meta is intact
        let e = r.verify_checksums().unwrap_err();
        assert_corruption_at(&e, &path, h.offset);
        // Iteration reaches the block and fails; it never yields wrong data.
        let got: Vec<_> = r.iter(Bound::Unbounded, None).unwrap().collect();
        let err_at = got
            .iter()
            .position(|c| c.is_err())
            .expect("no error from iter");
        assert_eq!(err_at, got.len() - 1, "iteration goes on after an error");
        for (g, w) in got[..err_at].iter().zip(&cells) {
            assert_eq!(g.as_ref().unwrap(), w);
        }
        assert_corruption_at(got[err_at].as_ref().unwrap_err(), &path, h.offset);
        // Only family "a" stays readable.
        let a: Vec<Arc<str>> = vec![Arc::from("a")];
        let want: Vec<_> = cells
            .iter()
            .filter(|c| &*c.family == "a")
            .cloned()
            .collect();
        assert_eq!(collect(r.iter(Bound::Unbounded, Some(&a)).unwrap()), want);
        std::fs::write(&path, &original).unwrap();
    }
}

#[test]
fn truncated_file_bad_magic_and_bad_meta_fail_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = small_table(dir.path(), Compression::Zstd(3));
    let original = std::fs::read(&path).unwrap();
    let len = original.len() as u64;

    for cut in [1u64, 9, 33, len / 2, len - 10, len] {
        std::fs::write(&path, &original[..(len - cut) as usize]).unwrap();
        let e = TableReader::open(&path, None).unwrap_err();
        assert!(matches!(e, Error::Corruption { .. }), "cut {cut}: {e:?}");
        assert!(e.to_string().contains(&path.display().to_string()));
    }

    let mut bad = original.clone();
    bad[original.len() - 1] ^= 1;
    std::fs::write(&path, &bad).unwrap();
    let e = TableReader::open(&path, None).unwrap_err();
    assert_corruption_at(&e, &path, len - 32);
    assert!(e.to_string().contains("magic"), "{e}");

    // Footer checksum.
    let mut bad = original.clone();
    bad[original.len() - 20] ^= 1;
    std::fs::write(&path, &bad).unwrap();
    assert!(
        TableReader::open(&path, None)
            .unwrap_err()
            .to_string()
            .contains("checksum")
    );

    // A byte inside the meta block.
    std::fs::write(&path, &original).unwrap();
    let meta = TableReader::open(&path, None).unwrap().meta_block_handle();
    let mut bad = original.clone();
    bad[(meta.offset + 1) as usize] ^= 0x10;
    std::fs::write(&path, &bad).unwrap();
    let e = TableReader::open(&path, None).unwrap_err();
    assert_corruption_at(&e, &path, meta.offset);

    // A missing file is an I/O error, not corruption.
    let e = TableReader::open(&dir.path().join("missing.sst"), None).unwrap_err();
    assert!(matches!(e, Error::Io { .. }));
}

#[test]
fn a_file_truncated_under_an_open_reader_gives_errors_not_a_fault() {
    // With a memory map, reading a page past the new end of file was a SIGBUS that killed
    // the process (review H3/M7); reads now report corruption naming the file.
    let dir = tempfile::tempdir().unwrap();
    for compression in [Compression::None, Compression::Zstd(3)] {
        let path = dir.path().join(format!("big-{compression:?}.sst"));
        // Incompressible values, so the file spans many pages and blocks.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let cells: Vec<_> = (0..300u32)
            .map(|i| {
                let v: Vec<u8> = (0..700)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    })
                    .collect();
                cell(
                    format!("r{i:05}").as_bytes(),
                    "a",
                    CellKind::Put,
                    b"q",
                    1,
                    1,
                    &v,
                )
            })
            .collect();
        build(&path, vec![fam("a", compression, 4096, true)], &cells);
        let r = TableReader::open(&path, None).unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        assert!(len > 100_000, "{len}");
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len / 3)
            .unwrap();
        let e = r.get_row(b"r00290", None).unwrap_err();
        assert!(
            matches!(&e, Error::Corruption { path: p, .. } if p == &path),
            "{e:?}"
        );
        assert!(e.to_string().contains("ends before byte"), "{e}");
        let got: Vec<_> = r.iter(Bound::Unbounded, None).unwrap().collect();
        assert!(got.last().unwrap().is_err(), "the scan ends in an error");
        assert!(r.verify_checksums().is_err());
        assert!(!r.damaged_blocks().is_empty());
        // The key blocks sit after the data, so every row is gone; none panics.
        assert!(r.get_row(b"r00001", None).is_err());
    }
}
