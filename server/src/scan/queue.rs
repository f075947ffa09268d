//! The replies of one scan between its reader and the transport: the replies waiting for the
//! client (each holding its share of the scan buffer budget), the idle clock, the status that
//! ends the stream, and what dropping the stream does. [`ScanStream`] is the transport's side.
//!
//! The idle clock runs while a reply waits for the client: it starts when a reply is queued
//! with none before it, and restarts each time the client takes one. A reply the transport
//! took stays counted until the transport asks for the next one (it is then on its way
//! through HTTP/2 flow control). This module must never read the engine.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use strata_proto::v1 as pb;
use tokio::sync::Notify;
use tokio_stream::Stream;
use tonic::Status;

use crate::scan_budget::BufferPermit;

#[derive(Debug)]
enum End {
    /// The reader goes on.
    Open,
    /// The stream ends after the waiting replies, with this status if any.
    After(Option<Status>),
}

#[derive(Debug)]
struct State {
    replies: VecDeque<(pb::ScanResponse, BufferPermit)>,
    /// Since when the first waiting reply has waited (`None`: nothing waits).
    waiting_since: Option<Instant>,
    /// The reply the transport took last.
    handed: BufferPermit,
    end: End,
    waker: Option<Waker>,
    /// The stream was dropped (client gone or call cancelled).
    gone: bool,
}

/// The queue of one scan, shared by its reader and its [`ScanStream`].
#[derive(Debug)]
pub struct Queue {
    state: Mutex<State>,
    /// Signalled when a reply is taken or the stream is dropped.
    changed: Notify,
}

impl Queue {
    /// An empty queue.
    pub fn new() -> Queue {
        Queue {
            state: Mutex::new(State {
                replies: VecDeque::new(),
                waiting_since: None,
                handed: BufferPermit::default(),
                end: End::Open,
                waker: None,
                gone: false,
            }),
            changed: Notify::new(),
        }
    }

    fn wake(state: &mut State) {
        if let Some(w) = state.waker.take() {
            w.wake();
        }
    }

    /// Queue a reply (dropped at once if the stream is gone).
    pub fn push(&self, reply: pb::ScanResponse, permit: BufferPermit, now: Instant) {
        let mut s = self.state.lock();
        if s.gone {
            return;
        }
        if s.replies.is_empty() {
            s.waiting_since = Some(now);
        }
        s.replies.push_back((reply, permit));
        Self::wake(&mut s);
    }

    /// Replies waiting.
    pub fn len(&self) -> usize {
        self.state.lock().replies.len()
    }

    /// Whether the stream was dropped.
    pub fn is_gone(&self) -> bool {
        self.state.lock().gone
    }

    /// When the idle clock runs out (`None`: no reply waits).
    pub fn idle_deadline(&self, idle_timeout: Duration) -> Option<Instant> {
        self.state.lock().waiting_since.map(|t| t + idle_timeout)
    }

    /// Wait until a reply is taken or the stream is dropped (may return early).
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// The reader is done: the stream ends after the waiting replies (with `status` if any).
    pub fn finish(&self, status: Option<Status>) {
        let mut s = self.state.lock();
        s.end = End::After(status);
        Self::wake(&mut s);
    }

    /// End the stream now with `status`, dropping the waiting replies (and releasing their
    /// budget).
    pub fn abort(&self, status: Status) {
        let dropped = {
            let mut s = self.state.lock();
            s.end = End::After(Some(status));
            s.waiting_since = None;
            let handed = std::mem::take(&mut s.handed);
            let replies = std::mem::take(&mut s.replies);
            Self::wake(&mut s);
            (handed, replies)
        };
        drop(dropped);
    }

    /// The transport's next item.
    fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<Result<pb::ScanResponse, Status>>> {
        let mut s = self.state.lock();
        // The reply taken before is out of our hands now.
        let handed = std::mem::take(&mut s.handed);
        if let Some((reply, permit)) = s.replies.pop_front() {
            s.handed = permit;
            s.waiting_since = (!s.replies.is_empty()).then(Instant::now);
            drop(s);
            drop(handed);
            self.changed.notify_one();
            return Poll::Ready(Some(Ok(reply)));
        }
        let item = match &mut s.end {
            End::Open => {
                s.waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            End::After(status) => status.take().map(Err),
        };
        Poll::Ready(item)
    }

    /// The stream is gone: drop everything waiting and tell the reader.
    fn close(&self) {
        let dropped = {
            let mut s = self.state.lock();
            s.gone = true;
            s.waiting_since = None;
            (
                std::mem::take(&mut s.handed),
                std::mem::take(&mut s.replies),
            )
        };
        drop(dropped);
        self.changed.notify_one();
    }
}

/// The reply stream of one scan, as the transport sees it.
#[derive(Debug)]
pub struct ScanStream {
    queue: std::sync::Arc<Queue>,
}

impl ScanStream {
    /// The transport's end of `queue`.
    pub fn new(queue: std::sync::Arc<Queue>) -> ScanStream {
        ScanStream { queue }
    }
}

impl Stream for ScanStream {
    type Item = Result<pb::ScanResponse, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.queue.poll_next(cx)
    }
}

impl Drop for ScanStream {
    fn drop(&mut self) {
        self.queue.close();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::scan_budget::{ScanBudget, ScanLimits};
    use tokio_stream::StreamExt;

    fn budget() -> Arc<ScanBudget> {
        ScanBudget::new(ScanLimits {
            max_scans: 4,
            max_scans_per_connection: 4,
            scan_buffer_bytes: 1000,
        })
    }

    fn reply(key: &str) -> pb::ScanResponse {
        pb::ScanResponse {
            rows: vec![pb::Row {
                key: key.as_bytes().to_vec().into(),
                ..Default::default()
            }],
        }
    }

    #[tokio::test]
    async fn replies_then_the_end_status_and_the_budget_follows_the_transport() {
        let b = budget();
        let q = Arc::new(Queue::new());
        let mut s = ScanStream::new(q.clone());
        let now = Instant::now();
        q.push(reply("a"), b.reserve(100).await.expect("room"), now);
        q.push(reply("b"), b.reserve(200).await.expect("room"), now);
        q.finish(Some(Status::aborted("idle")));
        assert_eq!(b.buffered_bytes(), 300);
        assert!(matches!(s.next().await, Some(Ok(r)) if &r.rows[0].key[..] == b"a"));
        // "a" is with the transport until it asks again.
        assert_eq!(b.buffered_bytes(), 300);
        assert!(matches!(s.next().await, Some(Ok(r)) if &r.rows[0].key[..] == b"b"));
        assert_eq!(b.buffered_bytes(), 200);
        match s.next().await {
            Some(Err(st)) => assert_eq!(st.code(), tonic::Code::Aborted),
            other => panic!("expected the end status, got {other:?}"),
        }
        assert_eq!(b.buffered_bytes(), 0);
        assert!(s.next().await.is_none());
    }

    #[tokio::test]
    async fn the_idle_clock_runs_while_a_reply_waits_and_restarts_when_one_is_taken() {
        let b = budget();
        let q = Arc::new(Queue::new());
        let mut s = ScanStream::new(q.clone());
        let idle = Duration::from_secs(60);
        assert_eq!(q.idle_deadline(idle), None, "nothing waits");
        let t0 = Instant::now();
        q.push(reply("a"), BufferPermit::default(), t0);
        q.push(reply("b"), BufferPermit::default(), t0 + idle / 2);
        assert_eq!(
            q.idle_deadline(idle),
            Some(t0 + idle),
            "from the first waiting reply"
        );
        s.next().await.expect("a").expect("ok");
        let restarted = q.idle_deadline(idle).expect("b waits");
        assert!(restarted > t0 + idle, "restarted when a was taken");
        s.next().await.expect("b").expect("ok");
        assert_eq!(q.idle_deadline(idle), None);
        drop(b);
    }

    #[tokio::test]
    async fn aborting_or_dropping_releases_every_waiting_reply() {
        let b = budget();
        let q = Arc::new(Queue::new());
        let s = ScanStream::new(q.clone());
        q.push(
            reply("a"),
            b.reserve(300).await.expect("room"),
            Instant::now(),
        );
        q.abort(Status::aborted("idle"));
        assert_eq!(b.buffered_bytes(), 0);
        assert_eq!(q.len(), 0);
        let q2 = Arc::new(Queue::new());
        let s2 = ScanStream::new(q2.clone());
        q2.push(
            reply("a"),
            b.reserve(300).await.expect("room"),
            Instant::now(),
        );
        drop(s2);
        assert!(q2.is_gone());
        assert_eq!(b.buffered_bytes(), 0);
        q2.push(
            reply("late"),
            b.reserve(10).await.expect("room"),
            Instant::now(),
        );
        assert_eq!(
            b.buffered_bytes(),
            0,
            "a reply for a gone stream is dropped at once"
        );
        drop(s);
    }
}
