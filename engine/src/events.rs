//! A table's recent flushes, compactions and ingests (what HBase's master UI lists as a
//! region's recent compactions): a bounded ring of the newest [`RECENT_EVENTS`], kept in
//! memory since open, shown by DescribeTable (`TableStats::recent_events`).
//!
//! This module only remembers what it is told; it must never do I/O or grow past its bound.

use std::collections::VecDeque;
use std::time::Instant;

use parking_lot::Mutex;

use crate::cell::now_micros;

/// Events a table remembers.
pub const RECENT_EVENTS: usize = 32;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A frozen memtable became a table file.
    Flush,
    /// Table files were merged into new ones.
    Compaction,
    /// Table files written by the loader were adopted.
    Ingest,
}

impl EventKind {
    /// The name pages and JSON show: `flush`, `compaction`, `ingest`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Flush => "flush",
            EventKind::Compaction => "compaction",
            EventKind::Ingest => "ingest",
        }
    }
}

/// One flush, compaction or ingest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableEvent {
    /// When it finished, microseconds since the epoch.
    pub at_micros: i64,
    /// What it was.
    pub kind: EventKind,
    /// Files read (0 for a flush, which reads a memtable).
    pub input_files: u64,
    /// Bytes read: the input files' sizes (a flush: the memtable's bytes).
    pub input_bytes: u64,
    /// Files written (or adopted).
    pub output_files: u64,
    /// Their bytes.
    pub output_bytes: u64,
    /// How long it took, microseconds.
    pub duration_micros: u64,
}

/// The ring of one table.
#[derive(Debug, Default)]
pub(crate) struct EventLog {
    ring: Mutex<VecDeque<TableEvent>>,
}

impl EventLog {
    /// Remember an event that started at `started`, dropping the oldest past the bound.
    pub fn record(
        &self,
        kind: EventKind,
        started: Instant,
        (input_files, input_bytes): (u64, u64),
        (output_files, output_bytes): (u64, u64),
    ) {
        let event = TableEvent {
            at_micros: now_micros(),
            kind,
            input_files,
            input_bytes,
            output_files,
            output_bytes,
            duration_micros: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        };
        let mut ring = self.ring.lock();
        if ring.len() == RECENT_EVENTS {
            ring.pop_front();
        }
        ring.push_back(event);
    }

    /// The events remembered, newest first.
    pub fn recent(&self) -> Vec<TableEvent> {
        self.ring.lock().iter().rev().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_events_newest_first() {
        let log = EventLog::default();
        for i in 0..(RECENT_EVENTS as u64 + 5) {
            log.record(EventKind::Flush, Instant::now(), (0, i), (1, i));
        }
        let recent = log.recent();
        assert_eq!(recent.len(), RECENT_EVENTS);
        assert_eq!(recent[0].input_bytes, RECENT_EVENTS as u64 + 4);
        assert_eq!(recent[RECENT_EVENTS - 1].input_bytes, 5);
    }
}
