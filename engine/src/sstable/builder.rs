//! Writes one SSTable. (Being written: see the sstable issue work.)

/// Builds an SSTable from cells added in internal order.
#[derive(Debug)]
pub struct TableBuilder;
