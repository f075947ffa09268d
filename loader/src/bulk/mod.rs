//! Bulk build (in progress).
pub struct LoadOptions;
pub struct LoadSummary;
pub struct Progress;
pub fn build_table_files() {}
