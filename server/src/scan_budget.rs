//! The server's scan budget, shared by gRPC Scans and the Thrift gateway's scanners: how many
//! scans may be open at once, server-wide (`max_scans`) and per client connection
//! (`max_scans_per_connection`), and how many bytes of scan replies may wait for their clients
//! across all scans (`scan_buffer_bytes`).
//!
//! A scan holds a [`ScanSlot`] from its open until it has released everything it holds (its
//! engine snapshot and its buffered replies); a reply holds a [`BufferPermit`] from the moment
//! it is built until the transport has taken it. Opening past a cap fails at once
//! ([`TooManyScans`]); a reply waits for buffer room (a scan never grows the total past the
//! budget), and fails only if it could never fit.
//!
//! Connections are told apart by protocol and client address ([`ConnectionId`]); the counts
//! per connection are public for other per-connection limits to read. This module must never
//! touch the engine or a transport.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Which front end a connection came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// The strata.v1 gRPC service.
    Grpc,
    /// The HBase Thrift1 gateway.
    Thrift,
}

/// One client connection: its protocol and the client's address (`None` when the transport
/// does not say; all such connections then count as one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnectionId {
    /// The front end.
    pub protocol: Protocol,
    /// The client's address.
    pub client: Option<SocketAddr>,
}

impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = match self.protocol {
            Protocol::Grpc => "gRPC",
            Protocol::Thrift => "Thrift",
        };
        match self.client {
            Some(a) => write!(f, "{p} connection from {a}"),
            None => write!(f, "{p} connection"),
        }
    }
}

/// The budget's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanLimits {
    /// Most scans open at once, server-wide.
    pub max_scans: usize,
    /// Most scans open at once on one connection.
    pub max_scans_per_connection: usize,
    /// Bytes of replies waiting for clients, across all scans.
    pub scan_buffer_bytes: usize,
}

/// Why a scan could not be opened.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TooManyScans {
    /// The server-wide cap.
    #[error(
        "too many open scans: {max} are open on this server (max_scans); finish or close \
         scans, or let idle ones expire, then retry"
    )]
    Server {
        /// The cap.
        max: usize,
    },
    /// The per-connection cap.
    #[error(
        "too many open scans on this connection: the {conn} has {max} open \
         (max_scans_per_connection); finish or close scans, or use more connections"
    )]
    Connection {
        /// The cap.
        max: usize,
        /// The connection.
        conn: ConnectionId,
    },
}

/// A reply that can never fit the buffer budget.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "a scan reply of {bytes} bytes is larger than the whole scan buffer budget of {budget} \
     bytes (scan_buffer_bytes)"
)]
pub struct ReplyTooLarge {
    /// The reply's size.
    pub bytes: usize,
    /// The budget.
    pub budget: usize,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_connection: HashMap<ConnectionId, usize>,
}

/// The scan budget of one server.
#[derive(Debug)]
pub struct ScanBudget {
    limits: ScanLimits,
    open: Mutex<Open>,
    buffer: Arc<Semaphore>,
}

impl ScanBudget {
    /// A budget with nothing open or buffered.
    pub fn new(limits: ScanLimits) -> Arc<ScanBudget> {
        let bytes = limits.scan_buffer_bytes.min(Semaphore::MAX_PERMITS);
        Arc::new(ScanBudget {
            limits,
            open: Mutex::new(Open::default()),
            buffer: Arc::new(Semaphore::new(bytes)),
        })
    }

    /// The settings.
    pub fn limits(&self) -> ScanLimits {
        self.limits
    }

    /// Open one scan on `conn`, or say which cap it would pass.
    pub fn open(self: &Arc<Self>, conn: ConnectionId) -> Result<ScanSlot, TooManyScans> {
        let mut open = self.open.lock();
        if open.total >= self.limits.max_scans {
            return Err(TooManyScans::Server {
                max: self.limits.max_scans,
            });
        }
        let on_conn = open.per_connection.entry(conn).or_insert(0);
        if *on_conn >= self.limits.max_scans_per_connection {
            return Err(TooManyScans::Connection {
                max: self.limits.max_scans_per_connection,
                conn,
            });
        }
        *on_conn += 1;
        open.total += 1;
        Ok(ScanSlot {
            budget: self.clone(),
            conn,
        })
    }

    /// Scans open now, server-wide.
    pub fn open_scans(&self) -> usize {
        self.open.lock().total
    }

    /// Scans open now on `conn`.
    pub fn connection_scans(&self, conn: ConnectionId) -> usize {
        self.open
            .lock()
            .per_connection
            .get(&conn)
            .copied()
            .unwrap_or(0)
    }

    /// Bytes of the budget taken now (by replies, and by a reply waiting for the rest of its
    /// share); never above `scan_buffer_bytes`.
    pub fn buffered_bytes(&self) -> usize {
        self.limits
            .scan_buffer_bytes
            .min(Semaphore::MAX_PERMITS)
            .saturating_sub(self.buffer.available_permits())
    }

    /// Room for `bytes` of replies, waiting until other scans' replies release enough.
    pub async fn reserve(&self, bytes: usize) -> Result<BufferPermit, ReplyTooLarge> {
        let too_large = ReplyTooLarge {
            bytes,
            budget: self.limits.scan_buffer_bytes,
        };
        if bytes > self.limits.scan_buffer_bytes.min(Semaphore::MAX_PERMITS) {
            return Err(too_large);
        }
        let n = u32::try_from(bytes).map_err(|_| too_large.clone())?;
        // The semaphore is never closed.
        let permit = self
            .buffer
            .clone()
            .acquire_many_owned(n)
            .await
            .map_err(|_| too_large)?;
        Ok(BufferPermit(Some(permit)))
    }
}

/// One open scan's place under the caps; released when dropped.
#[derive(Debug)]
pub struct ScanSlot {
    budget: Arc<ScanBudget>,
    conn: ConnectionId,
}

impl ScanSlot {
    /// The connection it counts against.
    pub fn connection(&self) -> ConnectionId {
        self.conn
    }
}

impl Drop for ScanSlot {
    fn drop(&mut self) {
        let mut open = self.budget.open.lock();
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_connection.get_mut(&self.conn) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.per_connection.remove(&self.conn);
            }
        }
    }
}

/// Bytes of the buffer budget held by one reply; released when dropped.
#[derive(Debug, Default)]
pub struct BufferPermit(Option<OwnedSemaphorePermit>);

impl BufferPermit {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.0.as_ref().map_or(0, OwnedSemaphorePermit::num_permits)
    }

    /// Give back all but `keep` bytes (nothing if it holds no more).
    pub fn shrink_to(&mut self, keep: usize) {
        let held = self.bytes();
        if held > keep
            && let Some(p) = self.0.as_mut()
        {
            drop(p.split(held - keep));
        }
    }

    /// Add `other`'s bytes to this permit.
    pub fn merge(&mut self, mut other: BufferPermit) {
        match (self.0.as_mut(), other.0.take()) {
            (Some(p), Some(o)) => p.merge(o),
            (None, o) => self.0 = o,
            (Some(_), None) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(port: u16) -> ConnectionId {
        ConnectionId {
            protocol: Protocol::Grpc,
            client: Some(SocketAddr::from(([127, 0, 0, 1], port))),
        }
    }

    fn budget(max: usize, per: usize, bytes: usize) -> Arc<ScanBudget> {
        ScanBudget::new(ScanLimits {
            max_scans: max,
            max_scans_per_connection: per,
            scan_buffer_bytes: bytes,
        })
    }

    #[test]
    fn the_per_connection_cap_counts_each_connection_apart() {
        let b = budget(10, 2, 100);
        let a1 = b.open(conn(1)).expect("first");
        let _a2 = b.open(conn(1)).expect("second");
        let e = b.open(conn(1)).expect_err("third on one connection");
        assert!(matches!(e, TooManyScans::Connection { max: 2, .. }), "{e}");
        assert!(e.to_string().contains("max_scans_per_connection"), "{e}");
        assert!(e.to_string().contains("127.0.0.1:1"), "{e}");
        let thrift = ConnectionId {
            protocol: Protocol::Thrift,
            ..conn(1)
        };
        let _t = b
            .open(thrift)
            .expect("another protocol is another connection");
        let _b1 = b.open(conn(2)).expect("another connection");
        assert_eq!(b.connection_scans(conn(1)), 2);
        drop(a1);
        assert_eq!(b.connection_scans(conn(1)), 1);
        b.open(conn(1)).expect("room again");
    }

    #[test]
    fn the_server_cap_counts_every_connection() {
        let b = budget(3, 3, 100);
        let slots: Vec<ScanSlot> = (0..3).map(|i| b.open(conn(i)).expect("open")).collect();
        let e = b.open(conn(9)).expect_err("past max_scans");
        assert_eq!(e, TooManyScans::Server { max: 3 });
        assert!(e.to_string().contains("max_scans)"), "{e}");
        assert_eq!(b.open_scans(), 3);
        drop(slots);
        assert_eq!(b.open_scans(), 0);
        assert_eq!(b.connection_scans(conn(0)), 0);
    }

    #[tokio::test]
    async fn buffer_permits_wait_for_room_and_never_pass_the_budget() {
        let b = budget(10, 10, 100);
        let mut first = b.reserve(60).await.expect("fits");
        assert_eq!(b.buffered_bytes(), 60);
        // 50 more do not fit until the first shrinks.
        let waiting = {
            let b = b.clone();
            tokio::spawn(async move { b.reserve(50).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        // The waiter may already hold the 40 that are free (tokio hands them out in order).
        assert!(b.buffered_bytes() <= 100);
        first.shrink_to(40);
        let second = waiting.await.expect("task").expect("fits now");
        assert_eq!(second.bytes(), 50);
        assert_eq!(b.buffered_bytes(), 90);
        first.merge(second);
        assert_eq!(first.bytes(), 90);
        drop(first);
        assert_eq!(b.buffered_bytes(), 0);
        let e = b.reserve(101).await.expect_err("larger than the budget");
        assert!(e.to_string().contains("scan_buffer_bytes"), "{e}");
    }
}
