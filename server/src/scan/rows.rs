//! A scan's rows as sent: the engine's scanner, through the request's filter and its row
//! limit, cut into replies by `parts.rs`. Everything here runs on a blocking thread.
//!
//! A filter that drops most rows never ends a scan early or sends an empty reply: a pull hands
//! back control after [`FILTERED_ROWS_PER_PULL`] dropped rows (so a gone client or a shutdown
//! is noticed) and the scan goes on. This module must never touch the async side.

use strata_engine::filter::{FilterDecision, FilterState};
use strata_engine::{Row, RowScanner};

use super::Batching;
use super::parts::{Outgoing, Reply};
use crate::convert;

/// Rows the filter may drop in one pull before the reader checks on the client and the
/// server (and then goes on).
pub const FILTERED_ROWS_PER_PULL: usize = 4096;

/// One reply's worth of a scan.
pub struct Batch {
    /// The reply (empty when the filter dropped many rows or the scan ended).
    pub reply: Reply,
    /// The scan ended (or failed).
    pub done: bool,
    /// Why it failed.
    pub error: Option<strata_engine::Error>,
}

/// The engine's scanner, the filter, the limit, and the rest of a row sent in parts.
pub struct Rows {
    scanner: RowScanner,
    filter: Option<FilterState>,
    /// Rows to send at most (0: no limit; the engine applies the limit when there is no
    /// filter).
    limit: u64,
    sent: u64,
    pending: Option<Outgoing>,
}

/// What one pull gives.
enum Pull {
    Row(Row),
    End,
    Failed(strata_engine::Error),
    /// The filter dropped [`FILTERED_ROWS_PER_PULL`] rows in a row: ask again.
    Later,
}

impl Rows {
    /// The rows of `scanner`, through `filter` and at most `limit` of them (0: all).
    pub fn new(scanner: RowScanner, filter: Option<FilterState>, limit: u64) -> Rows {
        Rows {
            scanner,
            filter,
            limit,
            sent: 0,
            pending: None,
        }
    }

    /// Let go of the engine version the scanner reads (it re-opens on the current version,
    /// at the same snapshot, when it reads again): while the scan waits for its client.
    pub fn release(&mut self) {
        self.scanner.release();
    }

    fn pull(&mut self) -> Pull {
        if self.limit > 0 && self.sent >= self.limit {
            return Pull::End;
        }
        for _ in 0..FILTERED_ROWS_PER_PULL {
            if self.filter.as_ref().is_some_and(FilterState::is_finished) {
                return Pull::End;
            }
            let row = match self.scanner.next() {
                None => return Pull::End,
                Some(Err(e)) => return Pull::Failed(e),
                Some(Ok(row)) => row,
            };
            let row = match &mut self.filter {
                None => row,
                Some(f) => match f.apply(row) {
                    FilterDecision::Include(row) => row,
                    FilterDecision::Skip => continue,
                    FilterDecision::StopScan => return Pull::End,
                },
            };
            self.sent += 1;
            return Pull::Row(row);
        }
        Pull::Later
    }

    /// Pull rows until the reply is full by rows or bytes (a row too large for a reply goes
    /// out in parts), or the scan ends or fails, or the filter has dropped many rows (the
    /// reply may then be empty; the scan is not done).
    pub fn next_batch(&mut self, batching: Batching) -> Batch {
        let mut reply = Reply::new(batching.rows, batching.bytes);
        let (done, error) = loop {
            if reply.is_full() {
                break (false, None);
            }
            let row = match self.pending.take() {
                Some(rest) => rest,
                None => match self.pull() {
                    Pull::Row(mut row) => {
                        if batching.keys_only {
                            row.cells = Vec::new();
                        }
                        Outgoing::new(convert::row_to_pb(row))
                    }
                    Pull::Later => break (false, None),
                    Pull::End => break (true, None),
                    Pull::Failed(e) => break (true, Some(e)),
                },
            };
            self.pending = reply.offer(row);
        };
        if done {
            // Nothing more to read: let go of the engine at once.
            self.release();
        }
        Batch { reply, done, error }
    }
}

/// The keys of a reply's rows (tests).
#[cfg(test)]
fn keys(reply: Reply) -> Vec<bytes::Bytes> {
    reply
        .finish()
        .rows
        .into_iter()
        .map(|r: strata_proto::v1::Row| r.key)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use strata_engine::filter::{EvalOptions, Filter, TimeUnit};
    use strata_engine::{Db, DbOptions, FamilyOptions, Mutation, RowMutation, ScanOptions};

    /// A store with rows k00000.. of one cell each; `v` for `matching`, `x` otherwise.
    fn store(dir: &std::path::Path, rows: usize, matching: &[usize]) -> Db {
        let db = Db::open(dir, DbOptions::default()).expect("open");
        db.create_table("t", vec![FamilyOptions::new("f")])
            .expect("create");
        let rows = (0..rows)
            .map(|i| RowMutation {
                row: format!("k{i:05}").into_bytes().into(),
                mutations: vec![Mutation::SetCell {
                    family: "f".into(),
                    qualifier: "q".into(),
                    value: if matching.contains(&i) { "v" } else { "x" }.into(),
                    timestamp: 1,
                }],
            })
            .collect();
        db.mutate_rows("t", rows).expect("write");
        db
    }

    fn rows(db: &Db, filter: &str, limit: u64) -> Rows {
        let filter = Filter::parse(filter.as_bytes(), TimeUnit::Micros).expect("filter");
        Rows::new(
            db.scan("t", ScanOptions::default()).expect("scan"),
            Some(FilterState::new(&filter, EvalOptions::default())),
            limit,
        )
    }

    fn batching(rows: usize) -> Batching {
        Batching {
            rows,
            bytes: usize::MAX,
            idle_timeout: Duration::from_secs(60),
            keys_only: false,
        }
    }

    #[test]
    fn a_filter_that_drops_most_rows_hands_back_control_and_goes_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let total = 2 * FILTERED_ROWS_PER_PULL + 10;
        let db = store(dir.path(), total, &[3, total - 1]);
        let mut r = rows(&db, "ValueFilter(=, 'binary:v')", 0);
        let mut all = Vec::new();
        let mut empty_batches = 0;
        loop {
            let b = r.next_batch(batching(100));
            assert!(b.error.is_none());
            if b.reply.is_empty() && !b.done {
                empty_batches += 1;
            }
            let done = b.done;
            all.extend(keys(b.reply));
            if done {
                break;
            }
        }
        assert_eq!(
            all,
            vec![&b"k00003"[..], format!("k{:05}", total - 1).as_bytes()]
        );
        // The first pull keeps k00003 and drops the next 4096 rows: its batch goes out with one
        // row. The second drops 4096 more and comes back empty (not sent); the scan goes on.
        assert_eq!(empty_batches, 1);
    }

    #[test]
    fn the_limit_counts_rows_the_filter_keeps_and_the_filter_can_end_the_scan() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = store(dir.path(), 50, &[10, 20, 30, 40]);
        let mut r = rows(&db, "ValueFilter(=, 'binary:v')", 3);
        let b = r.next_batch(batching(10));
        assert!(b.done);
        assert_eq!(keys(b.reply), [&b"k00010"[..], b"k00020", b"k00030"]);
        let mut r = rows(&db, "PageFilter(2)", 0);
        let b = r.next_batch(batching(10));
        assert!(b.done, "PageFilter ends the scan");
        assert_eq!(keys(b.reply).len(), 2);
    }
}
