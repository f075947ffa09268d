//! `WalkMerge` hands out the cells of several files in internal order, as one sorted `Vec`
//! of them all would: rows in key order, each row's families in the order the walks were
//! opened with (here the names' order), each family's cells merged across files.

use std::ops::Bound;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::cell::InternalCell;
use crate::options::Compression;

#[test]
fn merged_walks_return_every_cell_of_every_file_in_internal_order() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["alpha", "beta", "m"];
    let cells = random_cells(7, 200, &names);
    // Each cell goes to one of three files at random: rows and columns overlap across them.
    let mut rng = StdRng::seed_from_u64(7);
    let mut parts: Vec<Vec<InternalCell>> = vec![Vec::new(); 3];
    for c in &cells {
        if let Some(p) = parts.get_mut(rng.random_range(0..3)) {
            p.push(c.clone());
        }
    }
    let families = || {
        vec![
            fam("alpha", Compression::Zstd(1), 512, false), // the wide row spans blocks
            fam("beta", Compression::Zstd(3), 4096, true),
            fam("m", Compression::None, 64, false),
        ]
    };
    let family_names: Vec<Arc<str>> = names.iter().map(|n| Arc::from(*n)).collect();
    let mut walks = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let path = dir.path().join(format!("{i}.sst"));
        build(&path, families(), part);
        let r = TableReader::open(&path, None).unwrap();
        walks.push(
            r.walk_rows(Bound::Unbounded, Bound::Unbounded, &family_names, u64::MAX)
                .unwrap()
                .with_keys(),
        );
    }
    let mut merge = WalkMerge::new(walks).unwrap();
    let mut got: Vec<InternalCell> = Vec::new();
    while let Some(key) = merge.next_row().unwrap() {
        for (slot, name) in family_names.iter().enumerate() {
            let mut views = Vec::new();
            merge.push_family(slot, &mut views).unwrap();
            got.extend(views.iter().map(|v| v.entry(key.clone(), name.clone())));
        }
    }
    assert_eq!(got.len(), cells.len());
    assert!(got == cells, "merged cells differ from the sorted model");
}
