//! Reads one SSTable through mmap. (Being written.)

/// An open SSTable.
#[derive(Debug, Clone)]
pub struct TableReader;

/// Iterates an SSTable's cells in internal order.
#[derive(Debug)]
pub struct TableIter;
