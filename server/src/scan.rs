//! Streaming a Scan: a blocking reader pulls rows from the engine's snapshot scanner in
//! batches bounded by rows and bytes, and hands them to the gRPC stream through a small
//! bounded channel. A slow client therefore slows the reader (back-pressure) and the server
//! holds at most a couple of batches per scan, never the table.
//!
//! A scan whose client reads nothing for the idle timeout is dropped (its snapshot released)
//! and ends with ABORTED; at server shutdown a scan ends with UNAVAILABLE. Both statuses tell
//! the client to resume with `start_row_exclusive` after the last key it received. This module
//! must never run engine calls on the async executor.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use strata_engine::{Db, RowScanner, ScanOptions};
use strata_proto::v1 as pb;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::Stream;
use tonic::Status;

use crate::convert;
use crate::status;
use crate::stopping::Stopping;

/// Replies buffered between the reader and the client.
const BUFFERED_REPLIES: usize = 2;

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

/// Open the scan (so an unknown table fails the call itself) and start streaming it.
pub async fn start(
    db: Db,
    table: String,
    options: ScanOptions,
    batching: Batching,
    stopping: Stopping,
) -> Result<ScanStream, Status> {
    let t = table.clone();
    let scanner = crate::service::blocking(move || db.scan(&t, options)).await?;
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
    mut scanner: RowScanner,
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

/// Pull rows until the batch is full by rows or bytes, or the scan ends or fails.
fn next_batch(scanner: &mut RowScanner, batching: Batching) -> Batch {
    let mut rows = Vec::with_capacity(batching.rows.min(1024));
    let mut bytes = 0usize;
    while rows.len() < batching.rows && bytes < batching.bytes {
        match scanner.next() {
            None => {
                return Batch {
                    rows,
                    done: true,
                    error: None,
                };
            }
            Some(Err(e)) => {
                return Batch {
                    rows,
                    done: true,
                    error: Some(e),
                };
            }
            Some(Ok(mut row)) => {
                if batching.keys_only {
                    row.cells = Vec::new();
                }
                bytes += convert::row_size(&row);
                rows.push(convert::row_to_pb(row));
            }
        }
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
    use tokio_stream::StreamExt;

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
