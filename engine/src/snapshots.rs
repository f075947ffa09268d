//! Live read snapshots: the sequence numbers open scans read at. A long scan re-opens on newer
//! table versions (`scan.rs`) at its own sequence number; for that to show the same data as
//! the version it started on, compaction must keep every entry such a scan may still need.
//! [`Snapshots::horizon`] tells compaction how far: entries above the horizon are kept as
//! they are, entries at or below it are collected as a read at the horizon sees them
//! (LevelDB's "smallest snapshot").
//!
//! Taking a snapshot and computing the horizon take the same lock, so a snapshot taken after a
//! compaction computed its horizon is never below it. This module must never do I/O.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::cell::SeqNo;

/// The registry of live snapshots of one store.
#[derive(Debug, Default)]
pub(crate) struct Snapshots {
    /// Sequence number -> how many snapshots read at it.
    live: Mutex<BTreeMap<SeqNo, usize>>,
}

impl Snapshots {
    /// A snapshot of what reads see now (`visible`), registered until it is dropped.
    #[cfg(test)]
    pub fn take(self: &Arc<Self>, visible: &AtomicU64) -> Snapshot {
        self.take_at(|| visible.load(Ordering::Acquire))
    }

    /// A snapshot at `seq()` (at most what reads see now), registered until it is dropped;
    /// `seq` runs under the registry's lock, so no horizon is computed in between.
    pub fn take_at(self: &Arc<Self>, seq: impl FnOnce() -> SeqNo) -> Snapshot {
        let mut live = self.live.lock();
        let seq = seq();
        *live.entry(seq).or_insert(0) += 1;
        Snapshot {
            seq,
            registry: self.clone(),
        }
    }

    /// The largest sequence number at or below which compaction may collect entries as a read
    /// at that number sees them: the oldest live snapshot, and never above what reads see now
    /// (entries above that may belong to writes not yet acknowledged).
    pub fn horizon(&self, visible: &AtomicU64) -> SeqNo {
        let live = self.live.lock();
        let now = visible.load(Ordering::Acquire);
        live.keys().next().map_or(now, |&oldest| oldest.min(now))
    }

    /// Snapshots alive now.
    pub fn len(&self) -> usize {
        self.live.lock().values().sum()
    }
}

/// One registered snapshot; unregistered when dropped.
#[derive(Debug)]
pub(crate) struct Snapshot {
    seq: SeqNo,
    registry: Arc<Snapshots>,
}

impl Snapshot {
    /// The sequence number it reads at.
    pub fn seq(&self) -> SeqNo {
        self.seq
    }

    /// Another registration at the same sequence number (a reverse scan's windows each hold
    /// one while the scan holds this one).
    pub fn again(&self) -> Snapshot {
        self.registry.take_at(|| self.seq)
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let mut live = self.registry.live.lock();
        if let Some(n) = live.get_mut(&self.seq) {
            *n -= 1;
            if *n == 0 {
                live.remove(&self.seq);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_horizon_is_the_oldest_live_snapshot_and_never_above_now() {
        let s = Arc::new(Snapshots::default());
        let visible = AtomicU64::new(10);
        assert_eq!(s.horizon(&visible), 10, "no snapshot: what reads see");
        let a = s.take(&visible);
        visible.store(20, Ordering::Release);
        let b = s.take(&visible);
        let b2 = s.take(&visible);
        assert_eq!((a.seq(), b.seq()), (10, 20));
        assert_eq!(s.horizon(&visible), 10);
        drop(a);
        assert_eq!(s.horizon(&visible), 20);
        drop(b);
        assert_eq!(s.horizon(&visible), 20, "b2 still reads at 20");
        visible.store(30, Ordering::Release);
        assert_eq!(s.horizon(&visible), 20);
        drop(b2);
        assert_eq!(s.horizon(&visible), 30);
        assert_eq!(s.len(), 0);
    }
}
