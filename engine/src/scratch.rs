//! Per-row scratch vectors: a buffer kept from row to row whose elements borrow the row
//! (views of its cells) cannot keep one lifetime across rows, so each row empties it and
//! takes it back at the lifetime it needs, on the same allocation.
//!
//! This module must never keep an element across the change of lifetime: only empty
//! vectors change.

/// An empty vector of another lifetime on the same allocation (collecting an empty
/// `filter_map` reuses the buffer in place): per-row scratch without an allocation per row.
pub(crate) fn recycle<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}
