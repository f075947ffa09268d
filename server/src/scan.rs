//! Streaming a Scan: a reader task pulls rows from the engine's snapshot scanner on a blocking
//! thread (`rows.rs`), cuts them into replies bounded by rows and bytes (a row too large for
//! one reply goes out in parts: `parts.rs`), and queues them for the transport (`queue.rs`).
//!
//! What a scan may hold is bounded whatever its client does:
//!
//! - it opens only under the server's caps (`max_scans`, `max_scans_per_connection`:
//!   `scan_budget.rs`), and keeps its place until it has let go of everything;
//! - at most [`BUFFERED_REPLIES`] replies wait for the client, and every reply is counted in
//!   the server-wide `scan_buffer_bytes` before it is built (a reader waits for room);
//! - while it waits for its client the reader lets go of the engine version it reads (the
//!   scanner re-opens on the current version, at the same snapshot, when it reads on);
//! - a reply that waits `scan_idle_timeout` for the client ends the scan with ABORTED, and
//!   drops its replies; at server shutdown a scan ends with UNAVAILABLE after the replies
//!   already queued.
//!
//! Both statuses tell the client to resume with `start_row` = the last whole row received and
//! `start_row_exclusive`. This module must never run engine calls on the async executor.

mod parts;
mod queue;
mod rows;

use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_engine::filter::FilterState;
use strata_engine::{Db, ScanOptions};
use tonic::Status;

pub use queue::ScanStream;
pub use rows::FILTERED_ROWS_PER_PULL;

use crate::convert::ReadFilter;
use crate::scan_budget::{BufferPermit, ConnectionId, ScanBudget, ScanSlot};
use crate::status;
use crate::stopping::Stopping;
use queue::Queue;
use rows::Rows;

/// Replies that may wait for the client, per scan.
pub const BUFFERED_REPLIES: usize = 2;

/// A reader that has waited this long for its client lets go of the engine version.
const RELEASE_AFTER: Duration = Duration::from_millis(100);

/// How one scan batches its replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batching {
    /// Rows per reply (at least 1; the parts of a row count one each).
    pub rows: usize,
    /// Bytes per reply (at least 1): a reply passes it only by holding a single cell larger.
    pub bytes: usize,
    /// A reply the client does not take for this long ends the scan.
    pub idle_timeout: Duration,
    /// Send row keys only (rows without cells).
    pub keys_only: bool,
}

/// Where a scan runs: the store, the budget it counts in, and the shutdown signal.
#[derive(Clone, Debug)]
pub struct ScanContext {
    /// The store.
    pub db: Db,
    /// The caps and the buffer budget (shared with the Thrift gateway).
    pub budget: Arc<ScanBudget>,
    /// Raised at shutdown.
    pub stopping: Stopping,
}

/// Open the scan (so an unknown table or a cap fails the call itself) and start streaming it,
/// through `filter` if there is one.
pub async fn start(
    cx: &ScanContext,
    conn: ConnectionId,
    table: String,
    mut options: ScanOptions,
    filter: Option<ReadFilter>,
    batching: Batching,
) -> Result<ScanStream, Status> {
    let slot = cx
        .budget
        .open(conn)
        .map_err(|e| Status::resource_exhausted(e.to_string()))?;
    // With a filter the limit counts the rows it keeps, so it is applied here, not by the
    // engine.
    let limit = match filter {
        Some(_) => std::mem::take(&mut options.limit),
        None => 0,
    };
    let (db, t) = (cx.db.clone(), table.clone());
    let scanner = crate::service::blocking(move || db.scan(&t, options)).await?;
    let rows = Rows::new(
        scanner,
        filter.map(|f| FilterState::new(&f.filter, f.options)),
        limit,
    );
    let queue = Arc::new(Queue::new());
    let reader = Reader {
        queue: queue.clone(),
        budget: cx.budget.clone(),
        batching,
        stopping: cx.stopping.clone(),
        table,
    };
    tokio::spawn(reader.run(rows, slot));
    Ok(ScanStream::new(queue))
}

/// The reader task of one scan.
struct Reader {
    queue: Arc<Queue>,
    budget: Arc<ScanBudget>,
    batching: Batching,
    stopping: Stopping,
    table: String,
}

/// Why the reader stopped reading.
enum Stop {
    /// The scan ended, or the client went away.
    Done,
    /// The stream ends after the queued replies with this status.
    End(Status),
    /// The stream ends now with this status; the queued replies are dropped.
    Abort(Status),
}

impl Reader {
    async fn run(mut self, rows: Rows, slot: ScanSlot) {
        let mut rows = Some(rows);
        let stop = self.read(&mut rows).await;
        // Dropping the scanner may delete table files: off the async workers.
        let _ = tokio::task::spawn_blocking(move || drop(rows)).await;
        match stop {
            Stop::Done => {
                self.queue.finish(None);
                self.drain().await;
            }
            Stop::End(status) => {
                self.queue.finish(Some(status));
                self.drain().await;
            }
            Stop::Abort(status) => self.queue.abort(status),
        }
        drop(slot);
    }

    fn idle(&self) -> Status {
        tracing::info!(table = self.table, "dropping idle scan");
        Status::aborted(format!(
            "scan of table {} dropped: the client read nothing for {:?} (scan_idle_timeout); \
             resume after the last whole row received",
            self.table, self.batching.idle_timeout
        ))
    }

    fn shutting_down(&self) -> Status {
        Status::unavailable(format!(
            "scan of table {} ended: the server is shutting down; resume after the last whole \
             row received",
            self.table
        ))
    }

    /// The idle deadline, or far away when no reply waits.
    fn deadline(&self) -> tokio::time::Instant {
        let far = Instant::now() + Duration::from_secs(3600);
        let at = self
            .queue
            .idle_deadline(self.batching.idle_timeout)
            .unwrap_or(far);
        tokio::time::Instant::from_std(at)
    }

    /// Run `f` on `rows` on a blocking thread. `None` (and `rows` gone) if the thread died.
    async fn on_rows<T: Send + 'static>(
        rows: &mut Option<Rows>,
        f: impl FnOnce(&mut Rows) -> T + Send + 'static,
    ) -> Result<T, Status> {
        let Some(mut taken) = rows.take() else {
            return Err(Status::internal("scan reader lost its scanner"));
        };
        let (back, out) = tokio::task::spawn_blocking(move || {
            let out = f(&mut taken);
            (taken, out)
        })
        .await
        .map_err(status::from_join)?;
        *rows = Some(back);
        Ok(out)
    }

    /// Read and queue replies until the scan ends, fails, is dropped or must stop.
    async fn read(&mut self, rows: &mut Option<Rows>) -> Stop {
        loop {
            // Room in the queue, then room in the budget for a whole reply.
            if let Err(stop) = self.wait_for_room(rows).await {
                return stop;
            }
            let mut permit = match self.reserve(self.batching.bytes).await {
                Ok(p) => p,
                Err(stop) => return stop,
            };
            let batching = self.batching;
            let batch = match Self::on_rows(rows, move |r| r.next_batch(batching)).await {
                Ok(b) => b,
                Err(status) => return Stop::Abort(status),
            };
            if !batch.reply.is_empty() {
                let bytes = batch.reply.bytes();
                if bytes > permit.bytes() {
                    // One cell larger than a reply: count it whole before queueing it.
                    match self.reserve(bytes - permit.bytes()).await {
                        Ok(more) => permit.merge(more),
                        Err(stop) => return stop,
                    }
                }
                permit.shrink_to(bytes);
                self.queue
                    .push(batch.reply.finish(), permit, Instant::now());
            }
            if let Some(e) = batch.error {
                return Stop::End(status::from_engine(&e));
            }
            if batch.done {
                return Stop::Done;
            }
            if self.stopping.is_stopping() {
                return Stop::End(self.shutting_down());
            }
        }
    }

    /// Wait until the queue has room. After [`RELEASE_AFTER`] of waiting the engine version
    /// is let go.
    async fn wait_for_room(&mut self, rows: &mut Option<Rows>) -> Result<(), Stop> {
        let mut released = false;
        loop {
            if self.queue.is_gone() {
                return Err(Stop::Done);
            }
            if self.queue.len() < BUFFERED_REPLIES {
                return Ok(());
            }
            let deadline = self.deadline();
            if tokio::time::Instant::now() >= deadline {
                return Err(Stop::Abort(self.idle()));
            }
            let release = tokio::select! {
                () = self.queue.changed() => false,
                () = tokio::time::sleep_until(deadline) => false,
                () = tokio::time::sleep(RELEASE_AFTER), if !released => true,
                () = self.stopping.wait() => return Err(Stop::End(self.shutting_down())),
            };
            if release {
                released = true;
                Self::on_rows(rows, Rows::release)
                    .await
                    .map_err(Stop::Abort)?;
            }
        }
    }

    /// `bytes` of the buffer budget, waiting for room while the client is not idle.
    async fn reserve(&mut self, bytes: usize) -> Result<BufferPermit, Stop> {
        let budget = self.budget.clone();
        let reserve = budget.reserve(bytes);
        tokio::pin!(reserve);
        loop {
            if self.queue.is_gone() {
                return Err(Stop::Done);
            }
            let deadline = self.deadline();
            tokio::select! {
                got = &mut reserve => {
                    return got.map_err(|e| Stop::End(Status::resource_exhausted(e.to_string())));
                }
                () = self.queue.changed() => {}
                () = tokio::time::sleep_until(deadline) => return Err(Stop::Abort(self.idle())),
                () = self.stopping.wait() => return Err(Stop::End(self.shutting_down())),
            }
        }
    }

    /// The reader is done: wait until the client took every reply, went away, or went idle.
    async fn drain(&mut self) {
        loop {
            if self.queue.is_gone() || self.queue.len() == 0 {
                return;
            }
            let deadline = self.deadline();
            tokio::select! {
                () = self.queue.changed() => {}
                () = tokio::time::sleep_until(deadline) => {
                    let idle = self.idle();
                    self.queue.abort(idle);
                    return;
                }
            }
        }
    }
}
