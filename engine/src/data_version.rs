//! `DataVersion`: a stamp of what a read of one table can see. Two stamps of the same table
//! compare equal only if every read between them would return the same data, so a caller may
//! keep a result computed from the table under its stamp and reuse it while the stamp holds
//! (the server's aggregation cache does). [`crate::Db::data_version`] makes them.
//!
//! The stamp is the table's generation (a process-wide number [`crate::table::Table`] takes
//! anew at every version install and schema change: flush, compaction, ingest, memtable
//! switch, alter, re-creation) and the highest sequence number in its active memtable (which
//! every write to the table raises). This module must never be written to disk: stamps mean
//! nothing across restarts.

/// What a read of a table could see when the stamp was taken; see the module comment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DataVersion {
    generation: u64,
    sequence: u64,
}

impl DataVersion {
    pub(crate) fn new(generation: u64, sequence: u64) -> DataVersion {
        DataVersion {
            generation,
            sequence,
        }
    }
}
