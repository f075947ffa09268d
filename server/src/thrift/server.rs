//! Running the gateway: [`start`] serves the Thrift1 `Hbase` service for an open store on a
//! listener, with a task per connection up to `thrift_max_connections` (a connection past the
//! cap is accepted, logged and closed) and a task that drops scanners past their lease;
//! [`ThriftHandle::shutdown`] stops accepting, lets calls in progress finish (up to the grace),
//! closes the connections and drops every scanner, so the store can close after it.
//!
//! This module must never open or close the store.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_engine::Db;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

use super::auth::ThriftSecurity;
use super::handler::Gateway;
use super::protocol::{Binary, Compact};
use super::tls;
use crate::config::ThriftOptions;
use crate::scan_budget::ScanBudget;
use crate::stopping::{self, StopSender, Stopping};

/// Back-off after a failed accept (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A running gateway. Call [`ThriftHandle::shutdown`] to stop it.
#[derive(Debug)]
pub struct ThriftHandle {
    local_addr: SocketAddr,
    stop: StopSender,
    task: JoinHandle<()>,
    reaper: JoinHandle<()>,
    gateway: Arc<Gateway>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("options", &self.options)
            .field("open_scanners", &self.scanners.len())
            .finish()
    }
}

impl ThriftHandle {
    /// The address the gateway listens on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Scanners open now.
    pub fn open_scanners(&self) -> usize {
        self.gateway.scanners.len()
    }

    /// Stop accepting, let calls in progress finish for up to `grace`, close every connection
    /// and drop every scanner. The store stays open.
    pub async fn shutdown(mut self, grace: Duration) {
        self.stop.stop();
        if tokio::time::timeout(grace, &mut self.task).await.is_err() {
            tracing::warn!(
                ?grace,
                "thrift calls did not finish within the shutdown grace"
            );
            self.task.abort();
            let _ = (&mut self.task).await;
        }
        self.reaper.abort();
        let _ = (&mut self.reaper).await;
        self.gateway.scanners.clear();
        tracing::info!("thrift gateway stopped");
    }
}

/// Serve the gateway for `db` on `listener` until [`ThriftHandle::shutdown`]; its scanners
/// count in `budget` (the gRPC server's, so both share the scan caps).
pub fn start(
    db: Db,
    listener: TcpListener,
    options: ThriftOptions,
    budget: Arc<ScanBudget>,
) -> std::io::Result<ThriftHandle> {
    start_with(db, listener, options, ThriftSecurity::off(), budget)
}

/// [`start`] behind `security` (TLS, authentication, authorization).
pub fn start_with(
    db: Db,
    listener: TcpListener,
    options: ThriftOptions,
    security: ThriftSecurity,
    budget: Arc<ScanBudget>,
) -> std::io::Result<ThriftHandle> {
    let local_addr = listener.local_addr()?;
    let gateway = Arc::new(Gateway::with_security(db, options, security, budget));
    let (stop, stopping) = stopping::channel();
    let task = tokio::spawn(accept_loop(listener, gateway.clone(), stopping.clone()));
    let reaper = tokio::spawn(reap(gateway.clone(), stopping));
    Ok(ThriftHandle {
        local_addr,
        stop,
        task,
        reaper,
        gateway,
    })
}

async fn accept_loop(listener: TcpListener, gw: Arc<Gateway>, mut stopping: Stopping) {
    let max = gw.options.max_connections;
    let slots = Arc::new(Semaphore::new(max));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            () = stopping.wait() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, client)) => match slots.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let (gw, stopping) = (gw.clone(), stopping.clone());
                        if gw.options.compact {
                            connections.spawn(tls::accept::<Compact>(stream, client, gw, stopping, permit));
                        } else {
                            connections.spawn(tls::accept::<Binary>(stream, client, gw, stopping, permit));
                        }
                    }
                    Err(_) => {
                        tracing::warn!(
                            %client,
                            max,
                            "thrift connection closed: thrift_max_connections reached"
                        );
                        drop(stream);
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "thrift accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
    drop(listener);
    // Connections end after their call in progress: they watch the same signal.
    while connections.join_next().await.is_some() {}
}

/// Drop scanners past their lease, often enough that one lives at most a little longer.
async fn reap(gw: Arc<Gateway>, mut stopping: Stopping) {
    let every = (gw.scanners.lease() / 4).clamp(Duration::from_millis(10), Duration::from_secs(5));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stopping.wait() => return,
            _ = tick.tick() => {
                // Dropping a scan may release table files: off the async workers.
                let sweeping = gw.clone();
                let expired = tokio::task::spawn_blocking(move || {
                    sweeping.scanners.expire(Instant::now())
                })
                .await
                .unwrap_or(0);
                if expired > 0 {
                    tracing::info!(expired, lease = ?gw.scanners.lease(), "thrift scanners expired");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
