//! `Health`: whether the store still accepts writes. After an I/O failure on the write path
//! (WAL append or sync, table file, manifest commit) the store turns read-only until restart:
//! what is on disk is then unknown, so nothing more is written; reads go on.
//!
//! It also carries the condition variable stalled writers wait on, because the two events
//! that end a stall are "a flush made room" and "the store went read-only". This module
//! must never decide *whether* a failure is fatal: callers report failures here.

use parking_lot::{Condvar, RwLock};

use crate::error::{Error, Result};

/// Read-only state and the writers' wake-up.
#[derive(Debug, Default)]
pub(crate) struct Health {
    read_only: RwLock<Option<String>>,
    /// Writers stalled for room wait on this with the write lock held; notified after each
    /// flush and when the store goes read-only.
    pub wake_writers: Condvar,
}

impl Health {
    /// Stop accepting writes after `err`; the first reason is kept. Reads go on.
    pub fn set_read_only(&self, err: &Error) {
        let mut ro = self.read_only.write();
        if ro.is_none() {
            tracing::error!(error = %err, "write failed: the store is now read-only until restart");
            *ro = Some(err.to_string());
        }
        self.wake_writers.notify_all();
    }

    /// Why the store refuses writes, if it does.
    pub fn read_only_reason(&self) -> Option<String> {
        self.read_only.read().clone()
    }

    /// Whether the store refuses writes.
    pub fn is_read_only(&self) -> bool {
        self.read_only.read().is_some()
    }

    /// `Err(Error::ReadOnly)` once the store refuses writes.
    pub fn check_writable(&self) -> Result<()> {
        match self.read_only.read().as_ref() {
            Some(why) => Err(Error::ReadOnly(why.clone())),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_failure_makes_the_store_read_only_and_is_kept() {
        let h = Health::default();
        assert!(h.check_writable().is_ok());
        h.set_read_only(&Error::InvalidArgument("first".into()));
        h.set_read_only(&Error::InvalidArgument("second".into()));
        assert!(h.is_read_only());
        let why = h.read_only_reason().unwrap();
        assert!(why.contains("first") && !why.contains("second"), "{why}");
        assert!(matches!(h.check_writable(), Err(Error::ReadOnly(w)) if w == why));
    }
}
