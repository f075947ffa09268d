//! Test seams on [`Db`] (compiled with the `testing` feature only, not part of the supported
//! API): list a table's files and compact any subset of them, as a background compaction
//! could, so tests can check that no choice of inputs changes what reads return.
//!
//! This file must never be needed by the store itself.

use super::Db;
use crate::error::Result;

impl Db {
    /// The numbers of `table`'s live table files, in the version's order.
    ///
    /// # Errors
    ///
    /// [`crate::Error::TableNotFound`].
    #[doc(hidden)]
    pub fn table_file_numbers(&self, table: &str) -> Result<Vec<u64>> {
        let t = self.inner.catalog.table(table)?;
        Ok(t.version
            .load()
            .files
            .iter()
            .map(|f| f.meta.number)
            .collect())
    }

    /// Merge the live files of `table` among `numbers` (others are ignored: a background
    /// compaction may have replaced them) in one compaction, with the GC of a partial
    /// compaction. Returns how many files were merged.
    ///
    /// # Errors
    ///
    /// [`crate::Error::TableNotFound`]; the compaction's error.
    #[doc(hidden)]
    pub fn compact_files(&self, table: &str, numbers: &[u64]) -> Result<usize> {
        self.inner.check_writable()?;
        let t = self.inner.catalog.table(table)?;
        crate::compaction::compact_files(&self.inner.catalog, &t, numbers)
    }
}
