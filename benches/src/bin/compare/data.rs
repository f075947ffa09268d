//! The CSV side of `compare`: one table's rows parsed once with the loader's mapping (for
//! RocksDB's bulk load and the random get keys), and the record layout RocksDB's write
//! phase parses its batches with (Strata's parses through the loader's `MappedCsv`).

use std::path::Path;

use strata_loader::TableMapping;
use strata_loader::mapping::{ResolvedKeyPart, ResolvedMapping};

use super::R;

/// One table's parsed rows in the shape both sides need.
pub struct Parsed {
    pub name: &'static str,
    /// Sorted distinct family names.
    pub families: Vec<String>,
    /// (family index, qualifier) of every cell, sorted by family then qualifier.
    pub slots: Vec<(usize, Vec<u8>)>,
    /// Row key and one value per slot, sorted by key, duplicates removed (last wins).
    pub rows: Vec<(Vec<u8>, Vec<Vec<u8>>)>,
    pub csv_bytes: u64,
}

impl Parsed {
    pub fn cells(&self) -> u64 {
        (self.rows.len() * self.slots.len()) as u64
    }

    /// The slots of family `f`: (slot index, qualifier).
    pub fn family_slots(&self, f: usize) -> impl Iterator<Item = (usize, &[u8])> {
        self.slots
            .iter()
            .enumerate()
            .filter(move |(_, (fi, _))| *fi == f)
            .map(|(i, (_, q))| (i, q.as_slice()))
    }
}

/// The RocksDB key of one cell: `row + 0x00 + qualifier`.
pub fn cell_key_into(key: &mut Vec<u8>, row: &[u8], qual: &[u8]) {
    key.clear();
    key.extend_from_slice(row);
    key.push(0);
    key.extend_from_slice(qual);
}

/// The header of a CSV file resolved against `mapping`, with each cell's family index.
pub struct Layout {
    pub resolved: ResolvedMapping,
    /// Family index of each of `resolved.cells`.
    pub family_of: Vec<usize>,
}

pub fn layout(header: &[String], mapping: &TableMapping) -> R<Layout> {
    let resolved = mapping.resolve(header, None)?;
    let family_of = resolved
        .cells
        .iter()
        .map(|c| {
            resolved
                .families
                .iter()
                .position(|f| **f == *c.family)
                .unwrap_or(0)
        })
        .collect();
    Ok(Layout {
        resolved,
        family_of,
    })
}

/// The row key of a record (empty: skip the record).
pub fn record_key(l: &Layout, rec: &csv::ByteRecord, key: &mut Vec<u8>) {
    key.clear();
    for p in &l.resolved.key {
        match p {
            ResolvedKeyPart::Column(i) => key.extend_from_slice(rec.get(*i).unwrap_or(&[])),
            ResolvedKeyPart::Literal(lit) => key.extend_from_slice(lit),
        }
    }
}

pub fn parse_csv(name: &'static str, path: &Path, mapping: &TableMapping) -> R<Parsed> {
    let csv_bytes = std::fs::metadata(path)?.len();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)?;
    let header: Vec<String> = rdr.headers()?.iter().map(str::to_string).collect();
    let l = layout(&header, mapping)?;
    let slots: Vec<(usize, Vec<u8>)> = l
        .resolved
        .cells
        .iter()
        .zip(&l.family_of)
        .map(|(c, fi)| (*fi, c.qualifier.clone()))
        .collect();
    let mut rows = Vec::new();
    let mut rec = csv::ByteRecord::new();
    let mut key = Vec::new();
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(_) => continue,
        }
        if rec.len() != l.resolved.field_count {
            continue;
        }
        record_key(&l, &rec, &mut key);
        if key.is_empty() {
            continue;
        }
        let values = l
            .resolved
            .cells
            .iter()
            .map(|c| rec.get(c.column).unwrap_or(&[]).to_vec())
            .collect();
        rows.push((key.clone(), values));
    }
    // Stable sort, then keep the last of equal keys (the later line wins, as in Strata).
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let mut dedup: Vec<(Vec<u8>, Vec<Vec<u8>>)> = Vec::with_capacity(rows.len());
    for r in rows {
        match dedup.last_mut() {
            Some(last) if last.0 == r.0 => *last = r,
            _ => dedup.push(r),
        }
    }
    Ok(Parsed {
        name,
        families: l.resolved.families.clone(),
        slots,
        rows: dedup,
        csv_bytes,
    })
}
