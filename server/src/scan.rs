//! Streaming a Scan: a blocking reader pulls rows from the engine's snapshot scanner in
//! batches bounded by rows and bytes, and hands them to the gRPC stream through a small
//! bounded channel. A slow client therefore slows the reader (back-pressure) and the server
//! holds at most a couple of batches per scan, never the table.
//!
//! A request's filter runs here, between the engine's rows and the batches, and then the row
//! limit counts the rows the filter keeps. A filter that drops most rows never ends a scan
//! early or sends an empty reply: the reader hands back control after reading
//! [`FILTERED_ROWS_PER_PULL`] dropped rows (so a gone client or a shutdown is noticed) and
//! goes on reading.
//!
//! A scan whose client reads nothing for the idle timeout is dropped (its snapshot released)
//! and ends with ABORTED; at server shutdown a scan ends with UNAVAILABLE. Both statuses tell
//! the client to resume with `start_row_exclusive` after the last key it received. This module
//! must never run engine calls on the async executor.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use strata_engine::filter::{FilterDecision, FilterState};
use strata_engine::{Db, Row, RowScanner, ScanOptions};
use strata_proto::v1 as pb;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::Stream;
use tonic::Status;

use crate::convert::{self, ReadFilter};
use crate::status;
use crate::stopping::Stopping;

/// Replies buffered between the reader and the client.
const BUFFERED_REPLIES: usize = 2;

/// Rows the filter may drop in one pull before the reader checks on the client and the
/// server (and then goes on).
pub const FILTERED_ROWS_PER_PULL: usize = 4096;

/// How one scan batches its replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batching {
    /// Rows per reply (at least 1).
    pub rows: usize,
    /// Bytes per reply (approximate; a reply holds at least one row).
    pub bytes: usize,
    /// A reply the client does not take for this long ends the scan.
    pub idle_timeout: Duration,
    /// Send row keys only (rows without cells).
    pub keys_only: bool,
}

/// The reply stream of one scan.
pub struct ScanStream {
    rx: mpsc::Receiver<pb::ScanResponse>,
    end: Option<oneshot::Receiver<Status>>,
}

impl Stream for ScanStream {
    type Item = Result<pb::ScanResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(reply)) => Poll::Ready(Some(Ok(reply))),
            // The reader is gone; it reports how it ended before dropping its sender.
            Poll::Ready(None) => match self.end.take().map(|mut end| end.try_recv()) {
                Some(Ok(status)) => Poll::Ready(Some(Err(status))),
                _ => Poll::Ready(None),
            },
        }
    }
}

/// Open the scan (so an unknown table fails the call itself) and start streaming it, through
/// `filter` if there is one.
pub async fn start(
    db: Db,
    table: String,
    mut options: ScanOptions,
    filter: Option<ReadFilter>,
    batching: Batching,
    stopping: Stopping,
) -> Result<ScanStream, Status> {
    // With a filter the limit counts the rows it keeps, so it is applied here, not by the
    // engine.
    let limit = match filter {
        Some(_) => std::mem::take(&mut options.limit),
        None => 0,
    };
    let t = table.clone();
    let scanner = crate::service::blocking(move || db.scan(&t, options)).await?;
    let scanner = Rows {
        scanner,
        filter: filter.map(|f| FilterState::new(&f.filter, f.options)),
        limit,
        sent: 0,
    };
    let (tx, rx) = mpsc::channel(BUFFERED_REPLIES);
    let (end_tx, end_rx) = oneshot::channel();
    tokio::spawn(async move {
        if let Err(status) = feed(scanner, &tx, batching, stopping, &table).await {
            // The stream yields this after the replies still buffered.
            let _ = end_tx.send(status);
        }
    });
    Ok(ScanStream {
        rx,
        end: Some(end_rx),
    })
}

/// Read and send batches until the scan ends. `Err` is the status that ends the stream.
async fn feed(
    mut scanner: Rows,
    tx: &mpsc::Sender<pb::ScanResponse>,
    batching: Batching,
    mut stopping: Stopping,
    table: &str,
) -> Result<(), Status> {
    loop {
        if tx.is_closed() {
            return Ok(()); // client gone
        }
        let (s, batch) = tokio::task::spawn_blocking(move || {
            let batch = next_batch(&mut scanner, batching);
            (scanner, batch)
        })
        .await
        .map_err(status::from_join)?;
        scanner = s;
        let Batch { rows, done, error } = batch;
        if !rows.is_empty() {
            let reply = pb::ScanResponse { rows };
            tokio::select! {
                sent = tx.send(reply) => {
                    if sent.is_err() {
                        return Ok(()); // client gone
                    }
                }
                () = tokio::time::sleep(batching.idle_timeout) => {
                    tracing::info!(table, "dropping idle scan");
                    return Err(Status::aborted(format!(
                        "scan of table {table} dropped: the client read nothing for {:?} \
                         (scan_idle_timeout); resume after the last row received",
                        batching.idle_timeout
                    )));
                }
                () = stopping.wait() => {
                    return Err(shutting_down(table));
                }
            }
        }
        if let Some(e) = error {
            return Err(status::from_engine(&e));
        }
        if done {
            return Ok(());
        }
        if stopping.is_stopping() {
            return Err(shutting_down(table));
        }
    }
}

fn shutting_down(table: &str) -> Status {
    Status::unavailable(format!(
        "scan of table {table} ended: the server is shutting down; resume after the last row \
         received"
    ))
}

struct Batch {
    rows: Vec<pb::Row>,
    done: bool,
    error: Option<strata_engine::Error>,
}

/// A scan's rows as sent: the engine's scanner, through the request's filter and its limit.
struct Rows {
    scanner: RowScanner,
    filter: Option<FilterState>,
    /// Rows to send at most (0: no limit; the engine applies the limit when there is no
    /// filter).
    limit: u64,
    sent: u64,
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
}

/// Pull rows until the batch is full by rows or bytes, or the scan ends or fails, or the
/// filter has dropped many rows (the batch may then be empty; the scan is not done).
fn next_batch(scanner: &mut Rows, batching: Batching) -> Batch {
    let mut rows = Vec::with_capacity(batching.rows.min(1024));
    let mut bytes = 0usize;
    while rows.len() < batching.rows && bytes < batching.bytes {
        let (done, error) = match scanner.pull() {
            Pull::Row(mut row) => {
                if batching.keys_only {
                    row.cells = Vec::new();
                }
                bytes += convert::row_size(&row);
                rows.push(convert::row_to_pb(row));
                continue;
            }
            Pull::Later => (false, None),
            Pull::End => (true, None),
            Pull::Failed(e) => (true, Some(e)),
        };
        return Batch { rows, done, error };
    }
    Batch {
        rows,
        done: false,
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_engine::filter::{EvalOptions, Filter, TimeUnit};
    use strata_engine::{DbOptions, FamilyOptions, Mutation, RowMutation};
    use tokio_stream::StreamExt;

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
        Rows {
            scanner: db.scan("t", ScanOptions::default()).expect("scan"),
            filter: Some(FilterState::new(&filter, EvalOptions::default())),
            limit,
            sent: 0,
        }
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
        let mut keys = Vec::new();
        let mut empty_batches = 0;
        loop {
            let b = next_batch(&mut r, batching(100));
            assert!(b.error.is_none());
            if b.rows.is_empty() && !b.done {
                empty_batches += 1;
            }
            keys.extend(b.rows.into_iter().map(|row| row.key));
            if b.done {
                break;
            }
        }
        assert_eq!(
            keys,
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
        let b = next_batch(&mut r, batching(10));
        let keys: Vec<_> = b.rows.iter().map(|row| row.key.clone()).collect();
        assert_eq!(keys, [&b"k00010"[..], b"k00020", b"k00030"]);
        assert!(b.done);
        let mut r = rows(&db, "PageFilter(2)", 0);
        let b = next_batch(&mut r, batching(10));
        assert_eq!(b.rows.len(), 2);
        assert!(b.done, "PageFilter ends the scan");
    }

    #[tokio::test]
    async fn stream_yields_buffered_replies_then_the_end_status() {
        let (tx, rx) = mpsc::channel(4);
        let (end_tx, end_rx) = oneshot::channel();
        let mut s = ScanStream {
            rx,
            end: Some(end_rx),
        };
        tx.send(pb::ScanResponse::default()).await.expect("open");
        end_tx
            .send(Status::aborted("idle"))
            .expect("receiver alive");
        drop(tx);
        assert!(matches!(s.next().await, Some(Ok(_))));
        match s.next().await {
            Some(Err(st)) => assert_eq!(st.code(), tonic::Code::Aborted),
            other => panic!("expected the end status, got {other:?}"),
        }
        assert!(s.next().await.is_none());
    }

    #[tokio::test]
    async fn stream_ends_cleanly_without_a_status() {
        let (tx, rx) = mpsc::channel(1);
        let (end_tx, end_rx) = oneshot::channel::<Status>();
        let mut s = ScanStream {
            rx,
            end: Some(end_rx),
        };
        drop(end_tx);
        drop(tx);
        assert!(s.next().await.is_none());
    }
}
