//! `Health`: whether the store still accepts writes. After an I/O failure on the write path
//! (WAL append or sync, table file, manifest commit) the store turns read-only until restart:
//! what is on disk is then unknown, so nothing more is written (no flush either); reads go
//! on. A client's bad request never gets here: it is refused before anything is written.
//!
//! This module must never decide *whether* a failure is fatal: callers report failures here,
//! and only failures of the device.

use parking_lot::RwLock;

use crate::error::{Error, Result};

/// Read-only state. Stalled writers poll it while they wait for room.
#[derive(Debug, Default)]
pub(crate) struct Health {
    read_only: RwLock<Option<String>>,
}

impl Health {
    /// Stop accepting writes after `err`; the first reason is kept. Reads go on.
    pub fn set_read_only(&self, err: &Error) {
        let mut ro = self.read_only.write();
        if ro.is_none() {
            tracing::error!(error = %err, "write failed: the store is now read-only until restart");
            *ro = Some(err.to_string());
        }
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
