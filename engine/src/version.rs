//! `TableVersion`: an immutable snapshot of one table's data sources (active memtable,
//! frozen memtables, live SSTables). Readers load the current version once and read from it
//! while flushes and compactions install new ones; an SSTable that a compaction retired is
//! deleted when the last version holding it is dropped (reference counting through `Arc`).
//!
//! This module must never change the manifest: it mirrors what the manifest committed.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::cell::{InternalCell, SeqNo};
use crate::error::Result;
use crate::fs::Fs;
use crate::manifest::FileMeta;
use crate::memtable::MemTable;
use crate::sstable::TableReader;

/// A live SSTable, shared by every version that lists it.
#[derive(Debug)]
pub struct FileHandle {
    /// What the manifest records about the file.
    pub meta: FileMeta,
    /// The open reader.
    pub reader: TableReader,
    /// Where it lives.
    pub path: PathBuf,
    obsolete: AtomicBool,
    fs: Arc<dyn Fs>,
}

impl FileHandle {
    /// Wrap an opened file.
    pub fn new(meta: FileMeta, reader: TableReader, path: PathBuf, fs: Arc<dyn Fs>) -> Self {
        FileHandle {
            meta,
            reader,
            path,
            obsolete: AtomicBool::new(false),
            fs,
        }
    }

    /// The manifest no longer lists this file: delete it once no reader holds it.
    pub fn mark_obsolete(&self) {
        self.obsolete.store(true, Ordering::Release);
    }
}

impl Drop for FileHandle {
    fn drop(&mut self) {
        if self.obsolete.load(Ordering::Acquire)
            && let Err(e) = self.fs.remove(&self.path)
        {
            tracing::warn!(path = %self.path.display(), error = %e, "could not delete obsolete table file");
        }
    }
}

/// The sources of one table at one moment.
#[derive(Debug, Clone)]
pub struct TableVersion {
    /// Receives new writes.
    pub active: Arc<MemTable>,
    /// Frozen memtables waiting for flush, oldest first.
    pub immutables: Vec<Arc<MemTable>>,
    /// Live SSTables.
    pub files: Vec<Arc<FileHandle>>,
}

impl TableVersion {
    /// An empty version.
    pub fn empty() -> Self {
        TableVersion {
            active: Arc::new(MemTable::new()),
            immutables: Vec::new(),
            files: Vec::new(),
        }
    }

    /// Smallest sequence number not yet in an SSTable (`u64::MAX` if everything is flushed).
    pub fn min_unflushed_seq(&self) -> u64 {
        self.immutables
            .iter()
            .chain(std::iter::once(&self.active))
            .map(|m| m.min_seq())
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Every entry of `row` as of `snapshot`, from the memtables and the files (only the
    /// families `families` from files), sorted in internal order.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Corruption`] of a file block read.
    pub fn get_row(
        &self,
        row: &[u8],
        families: &[Arc<str>],
        snapshot: SeqNo,
    ) -> Result<Vec<InternalCell>> {
        let mut cells: Vec<InternalCell> = Vec::new();
        for m in std::iter::once(&self.active).chain(self.immutables.iter()) {
            if !m.is_empty() {
                m.get_row(row, snapshot, &mut cells);
            }
        }
        let from_files = cells.len();
        for f in &self.files {
            // get_row_into checks the key range and the bloom filter (and counts it).
            f.reader.get_row_into(row, Some(families), &mut cells)?;
        }
        if cells.len() > from_files {
            cells.retain(|c| c.seq <= snapshot);
        }
        cells.sort();
        Ok(cells)
    }

    /// Bytes held by memtables.
    pub fn memtable_bytes(&self) -> usize {
        self.immutables
            .iter()
            .chain(std::iter::once(&self.active))
            .map(|m| m.approximate_bytes())
            .sum()
    }

    /// How many sorted runs the files form: the most files whose key ranges share one row
    /// key (the overlap depth). A read of one row merges at most this many files (bloom
    /// filters aside), so it is what back-pressure counts: files that do not overlap, such
    /// as a bulk load's or those of time-ordered keys, are one run however many they are.
    pub fn sorted_runs(&self) -> usize {
        overlap_depth(self.files.iter().map(|f| {
            (
                f.meta.smallest_row.as_slice(),
                f.meta.largest_row.as_slice(),
            )
        }))
    }
}

/// The most inclusive `(smallest, largest)` ranges that contain one common key.
fn overlap_depth<'a>(ranges: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> usize {
    // A sweep over the ends: at one key, starts count before ends (ranges are inclusive).
    let mut ends: Vec<(&[u8], bool)> = Vec::new();
    for (lo, hi) in ranges {
        ends.push((lo, false));
        ends.push((hi, true));
    }
    ends.sort_unstable();
    let (mut depth, mut most) = (0usize, 0usize);
    for (_, is_end) in ends {
        if is_end {
            depth = depth.saturating_sub(1);
        } else {
            depth += 1;
            most = most.max(depth);
        }
    }
    most
}

#[cfg(test)]
mod tests {
    use super::overlap_depth;

    fn depth(ranges: &[(&str, &str)]) -> usize {
        overlap_depth(ranges.iter().map(|(a, b)| (a.as_bytes(), b.as_bytes())))
    }

    #[test]
    fn overlap_depth_counts_sorted_runs_not_files() {
        assert_eq!(depth(&[]), 0);
        // Disjoint files, however many: one run.
        let disjoint: Vec<(String, String)> = (0..100)
            .map(|i| (format!("k{i:03}a"), format!("k{i:03}z")))
            .collect();
        let d: Vec<(&str, &str)> = disjoint
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        assert_eq!(depth(&d), 1);
        // Three flushes over the same keys plus that run: four.
        let mut more = d.clone();
        more.extend([("a", "z"), ("k050", "k052"), ("k051b", "k051c")]);
        assert_eq!(depth(&more), 4);
        // Ranges touching at one key overlap there.
        assert_eq!(depth(&[("a", "c"), ("c", "d")]), 2);
        assert_eq!(depth(&[("a", "b"), ("c", "d"), ("b", "c")]), 2);
    }
}
