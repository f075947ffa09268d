//! Whole rows for [`TableBuilder::add_row`], the bulk loader's path: a row's cells are
//! checked (families, order within the row and after the previous row) before any is added,
//! and the row key is compared once per row instead of once per cell.
//!
//! This module must never add part of a row it then rejects.

use std::cmp::Ordering;

use super::TableBuilder;
use crate::cell::{CellKind, CellRef, SeqNo, Timestamp, compare_within_row};
use crate::error::Result;

/// One cell of a row given to [`TableBuilder::add_row`]: a [`CellRef`] without the row key.
#[derive(Clone, Copy, Debug)]
pub struct RowCell<'a> {
    /// Column family name.
    pub family: &'a str,
    /// Entry kind.
    pub kind: CellKind,
    /// Column qualifier.
    pub qualifier: &'a [u8],
    /// Timestamp.
    pub ts: Timestamp,
    /// Write order.
    pub seq: SeqNo,
    /// Value.
    pub value: &'a [u8],
}

impl<'a> RowCell<'a> {
    /// The cell with its row key.
    #[inline]
    pub fn with_row<'r>(&self, row: &'r [u8]) -> CellRef<'r>
    where
        'a: 'r,
    {
        CellRef {
            row,
            family: self.family,
            kind: self.kind,
            qualifier: self.qualifier,
            ts: self.ts,
            seq: self.seq,
            value: self.value,
        }
    }
}

impl TableBuilder {
    /// Add a whole row: the same as [`TableBuilder::add`] for each cell with row key `row`,
    /// but the row key is compared once, not per cell. The cells must be in internal order
    /// within the row and the row after every row added before (or the same row, continued
    /// with later cells). Everything is checked before anything is added: on error, nothing
    /// of the row was added.
    pub fn add_row<'c, I>(&mut self, row: &[u8], cells: I) -> Result<()>
    where
        I: IntoIterator<Item = RowCell<'c>>,
        I::IntoIter: Clone,
    {
        let cells = cells.into_iter();
        let continues = match &self.last {
            None => false,
            Some(last) => match last.row.as_slice().cmp(row) {
                Ordering::Less => false,
                Ordering::Equal => true,
                Ordering::Greater => {
                    let first = cells.clone().next().map_or(
                        CellRef {
                            row,
                            family: "",
                            kind: CellKind::Put,
                            qualifier: &[],
                            ts: 0,
                            seq: 0,
                            value: &[],
                        },
                        |c| c.with_row(row),
                    );
                    return Err(self.out_of_order(&first, &self.last_ref()));
                }
            },
        };
        // Check the families and the order within the row before adding anything. Callers
        // usually pass the same family string for neighbouring cells: when the pointer and
        // length are the same as the previous cell's, so is the family (no string compare).
        let mut prev: Option<CellRef<'_>> = if continues {
            Some(self.last_ref())
        } else {
            None
        };
        let mut fam: (*const u8, usize) = (std::ptr::null(), 0);
        for c in cells.clone() {
            let c = c.with_row(row);
            let same_fam = (c.family.as_ptr(), c.family.len()) == fam;
            if !same_fam && self.find_family(c.family).is_none() {
                return Err(self.unknown_family(c.family));
            }
            if let Some(p) = &prev {
                let ord = if same_fam {
                    // `compare_within_row` without the family comparison.
                    (p.kind.rank().cmp(&c.kind.rank()))
                        .then_with(|| p.qualifier.cmp(c.qualifier))
                        .then_with(|| c.ts.cmp(&p.ts))
                        .then_with(|| c.seq.cmp(&p.seq))
                        .then_with(|| p.kind.cmp(&c.kind))
                } else {
                    compare_within_row(p, &c)
                };
                if ord != Ordering::Less {
                    return Err(self.out_of_order(&c, p));
                }
            }
            fam = (c.family.as_ptr(), c.family.len());
            prev = Some(c);
        }
        let mut last: Option<(usize, RowCell<'c>)> = None;
        let mut fam: (*const u8, usize, usize) = (std::ptr::null(), 0, 0);
        for c in cells {
            let fi = if (c.family.as_ptr(), c.family.len()) == (fam.0, fam.1) {
                fam.2
            } else {
                let fi = self
                    .family_index(c.family)
                    .ok_or_else(|| self.unknown_family(c.family))?;
                fam = (c.family.as_ptr(), c.family.len(), fi);
                fi
            };
            if last.is_none() && !continues {
                self.start_row(row)?;
            }
            self.push_cell(fi, &c.with_row(row))?;
            last = Some((fi, c));
        }
        if let Some((fi, c)) = last {
            self.set_last((!continues).then_some(row), fi, &c.with_row(row));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::fs;
    use crate::options::FamilyOptions;
    use crate::sstable::TableBuildOptions;
    use std::path::Path;

    /// (row, family, kind, qualifier, ts, seq, value), in internal order.
    type Cell = (Vec<u8>, &'static str, CellKind, Vec<u8>, i64, u64, Vec<u8>);

    fn cells() -> Vec<Cell> {
        let mut v = Vec::new();
        for r in 0..3000u32 {
            let row = format!("row{r:06}").into_bytes();
            for fam in ["a", "b"] {
                if r % 7 == 3 && fam == "a" {
                    continue; // a row without family a
                }
                if r % 11 == 0 {
                    v.push((
                        row.clone(),
                        fam,
                        CellKind::DeleteFamily,
                        vec![],
                        9,
                        1,
                        vec![],
                    ));
                }
                for q in 0..3u8 {
                    for ts in [20i64, 10] {
                        let value = format!("{r}-{fam}-{q}-{ts}").repeat(1 + (r as usize % 5));
                        v.push((
                            row.clone(),
                            fam,
                            CellKind::Put,
                            vec![b'q', q],
                            ts,
                            5,
                            value.into_bytes(),
                        ));
                    }
                }
            }
        }
        v
    }

    fn as_ref(c: &Cell) -> CellRef<'_> {
        CellRef {
            row: &c.0,
            family: c.1,
            kind: c.2,
            qualifier: &c.3,
            ts: c.4,
            seq: c.5,
            value: &c.6,
        }
    }

    fn row_cell(c: &Cell) -> RowCell<'_> {
        RowCell {
            family: c.1,
            kind: c.2,
            qualifier: &c.3,
            ts: c.4,
            seq: c.5,
            value: &c.6,
        }
    }

    fn builder(path: &Path) -> TableBuilder {
        let families = vec![FamilyOptions::new("a"), FamilyOptions::new("b")];
        TableBuilder::new(&fs::real(), path, TableBuildOptions { families }).unwrap()
    }

    #[test]
    fn add_row_writes_the_same_file_as_add() {
        let dir = tempfile::tempdir().unwrap();
        let cells = cells();
        let mut a = builder(&dir.path().join("a.sst"));
        for c in &cells {
            a.add(&as_ref(c)).unwrap();
        }
        let pa = a.finish().unwrap();

        let mut b = builder(&dir.path().join("b.sst"));
        let fam_a_owned = b.family_name("a").unwrap();
        let fam_a: &str = &fam_a_owned;
        add_rows_in_pieces(&mut b, &cells, fam_a);
        let pb = b.finish().unwrap();
        assert_eq!(pa, pb);
        let fa = std::fs::read(dir.path().join("a.sst")).unwrap();
        let fb = std::fs::read(dir.path().join("b.sst")).unwrap();
        assert!(fa == fb, "files differ");
    }

    fn add_rows_in_pieces<'a>(b: &mut TableBuilder, cells: &'a [Cell], fam_a: &'a str) {
        for (i, row) in cells.chunk_by(|x, y| x.0 == y.0).enumerate() {
            // Some rows in two calls (a continued row), some through the builder's own
            // family strings, some with an empty call first.
            let split = if i % 3 == 0 { row.len() / 2 } else { row.len() };
            if i % 5 == 0 {
                b.add_row(&row[0].0, std::iter::empty()).unwrap();
            }
            let own = |part: &'a [Cell]| -> Vec<RowCell<'a>> {
                part.iter()
                    .map(|c| {
                        let mut r = row_cell(c);
                        if i % 2 == 0 && c.1 == "a" {
                            r.family = fam_a;
                        }
                        r
                    })
                    .collect()
            };
            let (x, y) = (own(&row[..split]), own(&row[split..]));
            b.add_row(&row[0].0, x.iter().copied()).unwrap();
            b.add_row(&row[0].0, y.iter().copied()).unwrap();
        }
    }

    #[test]
    fn add_row_rejects_bad_rows_without_adding_anything() {
        let dir = tempfile::tempdir().unwrap();
        let cells = cells();
        let rows: Vec<&[Cell]> = cells.chunk_by(|x, y| x.0 == y.0).take(3).collect();
        let mut a = builder(&dir.path().join("a.sst"));
        for c in rows.iter().flat_map(|r| r.iter()) {
            a.add(&as_ref(c)).unwrap();
        }
        a.finish().unwrap();

        let mut b = builder(&dir.path().join("b.sst"));
        b.add_row(&rows[0][0].0, rows[0].iter().map(row_cell))
            .unwrap();
        // Cells out of order within a row, a duplicate cell, an unknown family, an earlier
        // row, the same row restarted: each rejected before anything is added.
        let mut swapped: Vec<RowCell<'_>> = rows[1].iter().map(row_cell).collect();
        swapped.swap(0, 1);
        let mut dup: Vec<RowCell<'_>> = rows[1].iter().map(row_cell).collect();
        dup.push(dup[dup.len() - 1]);
        let mut unknown: Vec<RowCell<'_>> = rows[1].iter().map(row_cell).collect();
        unknown[2].family = "zz";
        for bad in [swapped, dup, unknown] {
            let e = b.add_row(&rows[1][0].0, bad.iter().copied()).unwrap_err();
            assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
        }
        let e = b.add_row(b"row", rows[1].iter().map(row_cell)).unwrap_err();
        assert!(e.to_string().contains("out of order"), "{e}");
        let e = b
            .add_row(&rows[0][0].0, rows[0].iter().map(row_cell))
            .unwrap_err();
        assert!(e.to_string().contains("out of order"), "{e}");
        for r in &rows[1..] {
            b.add_row(&r[0].0, r.iter().map(row_cell)).unwrap();
        }
        b.finish().unwrap();
        let fa = std::fs::read(dir.path().join("a.sst")).unwrap();
        let fb = std::fs::read(dir.path().join("b.sst")).unwrap();
        assert!(fa == fb, "files differ");
    }
}
