//! What compaction knows about a table file without reading its blocks: its manifest
//! record, the sequence numbers its delete markers may carry, and (through its open reader)
//! whether it may hold a row. The picker and GC both decide from these summaries.
//!
//! This module must never read a data block.

use crate::cell::SeqNo;
use crate::manifest::FileMeta;
use crate::sstable::{FamilyProperties, TableReader};
use crate::version::FileHandle;

/// One table file as compaction sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FileSummary<'a> {
    /// Its manifest record.
    pub meta: &'a FileMeta,
    /// The smallest and largest sequence number its delete markers may have (`None`: it
    /// has none).
    pub markers: Option<(SeqNo, SeqNo)>,
    /// Its families' statistics (each one's newest put timestamp), sorted by name; empty
    /// when unknown (unit tests), which the picker reads as "nothing has expired".
    pub families: &'a [FamilyProperties],
    /// Its reader, for key-range and bloom checks (`None` in unit tests: may hold any row
    /// in its key range).
    pub reader: Option<&'a TableReader>,
}

impl<'a> FileSummary<'a> {
    /// The summary of a live file.
    pub fn of(f: &'a FileHandle) -> FileSummary<'a> {
        let props = f.reader.properties();
        let markers = match f.meta.global_seq {
            // An ingested file's cells all take its one sequence number.
            Some(seq) => (f.meta.deletes > 0).then_some((seq, seq)),
            None => (props.deletes > 0).then_some((props.min_marker_seq, props.max_marker_seq)),
        };
        FileSummary {
            meta: &f.meta,
            markers,
            families: &props.families,
            reader: Some(&f.reader),
        }
    }

    /// A summary from the manifest record alone.
    #[cfg(test)]
    pub fn from_meta(meta: &'a FileMeta) -> FileSummary<'a> {
        FileSummary {
            meta,
            markers: marker_seqs(meta),
            families: &[],
            reader: None,
        }
    }

    /// Whether the file may hold entries of `row`.
    pub fn may_hold_row(&self, row: &[u8]) -> bool {
        match self.reader {
            Some(r) => r.may_hold_row_uncounted(row),
            None => {
                self.meta.smallest_row.as_slice() <= row && row <= self.meta.largest_row.as_slice()
            }
        }
    }
}

/// The sequence numbers a file's markers may have, from its manifest record alone: all of
/// its own when it has any.
#[cfg(test)]
fn marker_seqs(meta: &FileMeta) -> Option<(SeqNo, SeqNo)> {
    (meta.deletes > 0).then_some((meta.min_seq, meta.max_seq))
}
