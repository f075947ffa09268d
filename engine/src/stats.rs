//! Storage statistics of a table (DescribeTable): files and bytes per level and per family,
//! memtables, flush/compaction/stall counters. Read-only views; nothing here changes state.

use std::sync::atomic::Ordering;

use crate::db::Table;
use crate::options::FamilyOptions;

/// Files and bytes at one level of a table's LSM tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LevelStats {
    /// Level number (0 = flushed and ingested files, 1 = output of compactions).
    pub level: u32,
    /// Files at this level.
    pub files: u64,
    /// Bytes of those files.
    pub bytes: u64,
}

/// Storage statistics of one family, summed over a table's files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FamilyStats {
    /// Family name.
    pub name: String,
    /// Entries in files (values and markers).
    pub cells: u64,
    /// Bytes on disk of this family's blocks.
    pub stored_bytes: u64,
    /// Bytes of those blocks before compression.
    pub raw_bytes: u64,
}

/// A table's storage statistics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Live SSTables.
    pub files: u64,
    /// Their total size.
    pub file_bytes: u64,
    /// Rows in files (rows present in several files count several times).
    pub file_rows: u64,
    /// Entries in files.
    pub file_cells: u64,
    /// Delete markers in files.
    pub file_deletes: u64,
    /// Bytes held by the table's memtables (active and frozen).
    pub memtable_bytes: u64,
    /// Frozen memtables waiting for flush.
    pub immutable_memtables: u64,
    /// Per-level files and bytes.
    pub levels: Vec<LevelStats>,
    /// Per-family figures.
    pub families: Vec<FamilyStats>,
    /// Flushes done since open.
    pub flushes: u64,
    /// Compactions done since open.
    pub compactions: u64,
    /// Bytes read by compactions since open.
    pub compaction_bytes_in: u64,
    /// Bytes written by compactions since open.
    pub compaction_bytes_out: u64,
    /// Times writers were stalled since open.
    pub write_stalls: u64,
}

/// A table's schema and statistics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDescription {
    /// Table name.
    pub name: String,
    /// Families, sorted by name.
    pub families: Vec<FamilyOptions>,
    /// Storage statistics.
    pub stats: TableStats,
}

pub(crate) fn describe(t: &Table) -> TableDescription {
    let v = t.version.load();
    let schema = t.schema.load();
    let mut s = TableStats {
        memtable_bytes: v.memtable_bytes() as u64,
        immutable_memtables: v.immutables.len() as u64,
        flushes: t.counters.flushes.load(Ordering::Relaxed),
        compactions: t.counters.compactions.load(Ordering::Relaxed),
        compaction_bytes_in: t.counters.compaction_bytes_in.load(Ordering::Relaxed),
        compaction_bytes_out: t.counters.compaction_bytes_out.load(Ordering::Relaxed),
        write_stalls: t.counters.write_stalls.load(Ordering::Relaxed),
        families: schema
            .iter()
            .map(|f| FamilyStats {
                name: f.options.name.clone(),
                ..FamilyStats::default()
            })
            .collect(),
        ..TableStats::default()
    };
    for f in &v.files {
        s.files += 1;
        s.file_bytes += f.meta.size;
        s.file_rows += f.meta.rows;
        s.file_cells += f.meta.cells;
        s.file_deletes += f.meta.deletes;
        match s.levels.iter_mut().find(|l| l.level == f.meta.level) {
            Some(l) => {
                l.files += 1;
                l.bytes += f.meta.size;
            }
            None => s.levels.push(LevelStats {
                level: f.meta.level,
                files: 1,
                bytes: f.meta.size,
            }),
        }
        for fp in &f.reader.properties().families {
            if let Some(fs) = s.families.iter_mut().find(|x| *x.name == *fp.name) {
                fs.cells += fp.cells;
                fs.stored_bytes += fp.stored_bytes;
                fs.raw_bytes += fp.raw_bytes;
            }
        }
    }
    s.levels.sort_by_key(|l| l.level);
    TableDescription {
        name: t.name.clone(),
        families: schema.iter().map(|f| f.options.clone()).collect(),
        stats: s,
    }
}
