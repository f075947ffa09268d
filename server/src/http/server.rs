//! The HTTP server's life: binding (an explicit address that is taken is an error, a taken
//! default only disables HTTP), the routes behind the authentication guard, serving over
//! plain TCP or TLS, and graceful shutdown with the gRPC server.
//!
//! This module must never serve anything but the routes listed in [`router`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::listener::HttpListener;
use super::{api, auth, metrics, observe, routes};
use crate::aggregation::Aggregator;
use crate::auth::Security;
use crate::config::HttpBinding;
use crate::tls::{Peer, ReloadableTls};

/// What every handler gets.
#[derive(Clone, Debug)]
pub struct HttpState {
    /// Runs the dashboard's aggregations (shared with the Aggregate RPC) and reaches the
    /// store.
    pub aggregator: Aggregator,
    /// Authentication, authorization and audit (the server's, shared with gRPC).
    pub security: Arc<Security>,
}

impl HttpState {
    /// State without authentication (every caller is `anonymous`).
    pub fn new(aggregator: Aggregator) -> HttpState {
        HttpState {
            aggregator,
            security: Arc::new(Security::off()),
        }
    }
}

/// Every route, each behind the authentication guard.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/", get(routes::dashboard_page))
        .route("/tables", get(routes::tables_page))
        .route("/tables/{name}", get(routes::table_page))
        .route("/api/dashboard", get(api::dashboard))
        .route("/api/tables", get(api::tables))
        .route("/api/tables/{name}", get(api::table))
        .route("/metrics", get(metrics::metrics))
        .fallback(routes::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
        .layer(axum::middleware::from_fn(observe::observe))
        .with_state(state)
}

/// Why the HTTP server could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen for HTTP on {addr}: {source}")]
pub struct BindError {
    /// The address.
    pub addr: SocketAddr,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// The listener for `binding`: none when off, or when the default address is taken (logged
/// as a warning); an explicit address that cannot be bound is an error.
pub async fn bind(binding: HttpBinding) -> Result<Option<TcpListener>, BindError> {
    match binding {
        HttpBinding::Off => Ok(None),
        HttpBinding::Explicit(addr) => TcpListener::bind(addr)
            .await
            .map(Some)
            .map_err(|source| BindError { addr, source }),
        HttpBinding::Default(addr) => match TcpListener::bind(addr).await {
            Ok(l) => Ok(Some(l)),
            Err(e) => {
                tracing::warn!(
                    %addr,
                    error = %e,
                    "the default HTTP address is not free: serving without HTTP (set \
                     --http-listen ADDR, or off, to choose)"
                );
                Ok(None)
            }
        },
    }
}

/// A running HTTP server.
#[derive(Debug)]
pub struct HttpHandle {
    local_addr: SocketAddr,
    shutdown_tx: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl HttpHandle {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stop accepting, let in-flight requests finish for up to `grace`, then close.
    pub async fn shutdown(mut self, grace: Duration) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
        match tokio::time::timeout(grace, &mut self.task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(std::io::Error::other(join)),
            Err(_) => {
                tracing::warn!(?grace, "HTTP requests did not finish within the grace");
                self.task.abort();
                Ok(())
            }
        }
    }
}

/// Serve the routes on `listener` (over TLS when `tls` is given) until
/// [`HttpHandle::shutdown`].
pub fn start(
    listener: TcpListener,
    state: HttpState,
    tls: Option<Arc<ReloadableTls>>,
) -> std::io::Result<HttpHandle> {
    let local_addr = listener.local_addr()?;
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let app = router(state).into_make_service_with_connect_info::<Peer>();
    let listener = HttpListener::new(listener, tls)?;
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = shutdown_rx.await;
            })
            .await
    });
    Ok(HttpHandle {
        local_addr,
        shutdown_tx: Some(shutdown_tx),
        task,
    })
}
