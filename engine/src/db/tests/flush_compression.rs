//! What compression the files a flush and a compaction write carry: a flush caps zstd at
//! `FLUSH_ZSTD_LEVEL`, a compaction writes each family's own compression.

use super::{options, put};
use crate::filename::sst_dir;
use crate::mutation::{Mutation, RowMutation};
use crate::options::{Compression, FLUSH_ZSTD_LEVEL, FamilyOptions};
use crate::sstable::TableReader;

use super::super::Db;

/// Family `f` at zstd level 9, `g` stored raw, `h` at zstd level 1.
fn families() -> Vec<FamilyOptions> {
    let mut f = FamilyOptions::new("f");
    f.compression = Compression::Zstd(9);
    let mut g = FamilyOptions::new("g");
    g.compression = Compression::None;
    let mut h = FamilyOptions::new("h");
    h.compression = Compression::Zstd(1);
    vec![f, g, h]
}

fn row(key: &str) -> RowMutation {
    let mut r = put(key);
    for fam in ["g", "h"] {
        r.mutations.push(Mutation::SetCell {
            family: fam.into(),
            qualifier: b"q".to_vec().into(),
            value: key.as_bytes().to_vec().into(),
            timestamp: 0,
        });
    }
    r
}

/// The compression each family of every live table file was written with, sorted by name.
fn file_compressions(dir: &std::path::Path) -> Vec<Vec<(String, Compression)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(sst_dir(dir)).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "sst") {
            let r = TableReader::open(&path, None).unwrap();
            let mut fams: Vec<(String, Compression)> = r
                .build_options()
                .families
                .into_iter()
                .map(|f| (f.name, f.compression))
                .collect();
            fams.sort_by(|a, b| a.0.cmp(&b.0));
            out.push(fams);
        }
    }
    out
}

#[test]
fn a_flush_caps_zstd_and_a_compaction_writes_the_family_level() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    db.create_table("t", families()).unwrap();
    for round in 0..2 {
        let rows = (0..50).map(|i| row(&format!("r{round}-{i:03}"))).collect();
        db.mutate_rows("t", rows).unwrap();
        db.flush("t").unwrap();
    }
    let flushed = vec![
        ("f".to_string(), Compression::Zstd(FLUSH_ZSTD_LEVEL)),
        ("g".to_string(), Compression::None),
        ("h".to_string(), Compression::Zstd(1)),
    ];
    assert_eq!(
        file_compressions(dir.path()),
        vec![flushed.clone(), flushed]
    );

    db.compact("t", true).unwrap();
    let compacted = vec![
        ("f".to_string(), Compression::Zstd(9)),
        ("g".to_string(), Compression::None),
        ("h".to_string(), Compression::Zstd(1)),
    ];
    assert_eq!(file_compressions(dir.path()), vec![compacted]);
    // Every row reads back after both.
    for round in 0..2 {
        for i in 0..50 {
            let got = db
                .get(
                    "t",
                    format!("r{round}-{i:03}").as_bytes(),
                    &Default::default(),
                )
                .unwrap()
                .unwrap();
            assert_eq!(got.cells.len(), 3);
        }
    }
}
