//! Striped row locks: one table's read-modify-write operations (increment, append,
//! check-and-mutate) on the same row run one at a time. A row maps to one of a fixed number
//! of mutexes by a hash of its key, so the table costs the same memory however many rows it
//! has; two rows sharing a stripe merely wait for each other.
//!
//! Only `db/read_modify_write.rs` takes these locks, and a holder takes at most one stripe
//! at a time, before any of the write path's locks (see the lock order in `db/mod.rs`).
//! This file must never know what is done under a lock.

use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};

/// How many stripes a table has: enough that unrelated hot counters rarely share one, few
/// enough to be a few KiB per table.
const STRIPES: usize = 256;

/// The stripes of one table.
pub(crate) struct RowLocks {
    stripes: Box<[Mutex<()>]>,
}

impl Default for RowLocks {
    fn default() -> Self {
        RowLocks {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }
}

impl std::fmt::Debug for RowLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowLocks")
            .field("stripes", &self.stripes.len())
            .finish()
    }
}

impl RowLocks {
    /// The stripe of `row` (a stable hash: the same row always maps to the same stripe).
    fn stripe(&self, row: &[u8]) -> &Mutex<()> {
        // Below the length by construction.
        &self.stripes[crc32fast::hash(row) as usize % self.stripes.len()]
    }

    /// Lock `row`'s stripe, waiting at most `timeout`: `None` when it stayed taken.
    pub fn lock(&self, row: &[u8], timeout: Duration) -> Option<MutexGuard<'_, ()>> {
        self.stripe(row).try_lock_for(timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locked_row_is_refused_until_released_and_other_stripes_are_free() {
        let locks = RowLocks::default();
        let held = locks.lock(b"counter", Duration::ZERO).expect("free");
        assert!(locks.lock(b"counter", Duration::from_millis(1)).is_none());
        // Some other row hashes to another stripe and is not held up.
        let other = (0..1000u32)
            .map(|i| format!("row{i}"))
            .find(|r| !std::ptr::eq(locks.stripe(r.as_bytes()), locks.stripe(b"counter")))
            .expect("another stripe");
        assert!(locks.lock(other.as_bytes(), Duration::ZERO).is_some());
        drop(held);
        assert!(locks.lock(b"counter", Duration::ZERO).is_some());
    }
}
