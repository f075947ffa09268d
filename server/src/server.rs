//! Running the gRPC server: [`start`] puts the Strata service, the standard health service and
//! server reflection (v1 and v1alpha) on a listener for an already open store (what `strata
//! demo` and in-process tests use); [`serve`] is `strata serve`: open the store, listen (and
//! start the Thrift gateway beside gRPC when `thrift_listen` is set), wait for the shutdown
//! signal, drain both, flush and close the store.
//!
//! This module must never open a store it was given (start) nor leave one it opened unclosed
//! (serve).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use strata_engine::Db;
use strata_proto::v1::strata_server::StrataServer;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::config::{ServerConfig, ServiceOptions};
use crate::oversize;
use crate::service::StrataService;
use crate::stopping::{self, StopSender};

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The reflection service rejected the descriptor sets.
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The listener's address could not be read.
    #[error("listener error: {0}")]
    Listener(#[from] std::io::Error),
    /// The transport failed while serving.
    #[error("gRPC transport error: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The serving task panicked.
    #[error("server task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A running server. Dropping it leaves the server running until the runtime ends; call
/// [`ServerHandle::shutdown`] to stop it.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    stop: StopSender,
    shutdown_tx: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
    health: HealthReporter,
}

impl ServerHandle {
    /// The address the server listens on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://ADDR`, for clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// Stop accepting connections, report NOT_SERVING, end streaming calls at their next
    /// batch boundary (with UNAVAILABLE), let unary calls finish, and wait up to `grace` for
    /// the connections to drain before dropping them. The store stays open.
    pub async fn shutdown(mut self, grace: Duration) -> Result<(), ServerError> {
        self.health
            .set_service_status("", ServingStatus::NotServing)
            .await;
        self.health
            .set_not_serving::<StrataServer<StrataService>>()
            .await;
        self.stop.stop();
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
        match tokio::time::timeout(grace, &mut self.task).await {
            Ok(joined) => Ok(joined??),
            Err(_) => {
                tracing::warn!(
                    ?grace,
                    "in-flight calls did not finish within the shutdown grace; closing connections"
                );
                self.task.abort();
                Ok(())
            }
        }
    }
}

/// Serve `db` on `listener` until [`ServerHandle::shutdown`].
///
/// The Strata service gets `options`' message limit for both directions; larger requests
/// fail with RESOURCE_EXHAUSTED.
pub async fn start(
    db: Db,
    listener: TcpListener,
    options: ServiceOptions,
) -> Result<ServerHandle, ServerError> {
    let local_addr = listener.local_addr()?;
    let (stop, stopping) = stopping::channel();
    let max_message = options.max_message_bytes;
    let service = StrataServer::new(StrataService::new(db, options, stopping))
        .max_decoding_message_size(max_message)
        .max_encoding_message_size(max_message);

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<StrataServer<StrataService>>().await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(strata_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(strata_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let router = Server::builder()
        .layer(oversize::layer::<tonic::body::Body>())
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(service);
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(router.serve_with_incoming_shutdown(incoming, async {
        let _ = shutdown_rx.await;
    }));
    Ok(ServerHandle {
        local_addr,
        stop,
        shutdown_tx: Some(shutdown_tx),
        task,
        health,
    })
}

/// `strata serve`: open the store, serve until `shutdown` completes, then stop accepting,
/// finish in-flight calls (up to the configured grace), flush every table and close the store.
pub async fn serve(config: ServerConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    config.check()?;
    let dir = config.data_dir.clone();
    let db_options = config.db.clone();
    let db = tokio::task::spawn_blocking(move || Db::open(&dir, db_options))
        .await?
        .with_context(|| format!("cannot open the store in {}", config.data_dir.display()))?;

    let result = serve_open(&db, &config, shutdown).await;

    tracing::info!(data_dir = %config.data_dir.display(), "flushing and closing the store");
    let closing = db.clone();
    let closed = tokio::task::spawn_blocking(move || {
        // A read-only store writes nothing more (its WAL holds the data for the restart).
        let tables = match closing.read_only_reason() {
            Some(why) => {
                tracing::warn!(reason = %why, "the store is read-only: nothing flushed at shutdown");
                Vec::new()
            }
            None => closing.list_tables(),
        };
        for table in tables {
            if let Err(e) = closing.flush(&table) {
                tracing::warn!(table, error = %e, "flush at shutdown failed; the WAL still holds the data");
            }
        }
        closing.close()
    })
    .await?;
    result?;
    closed.context("closing the store")?;
    tracing::info!("store closed; strata stopped");
    Ok(())
}

async fn serve_open(
    db: &Db,
    config: &ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let lister = db.clone();
    let tables = tokio::task::spawn_blocking(move || lister.list_tables()).await?;
    let thrift = match config.thrift_listen {
        None => None,
        Some(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (thrift_listen)"))?;
            let gateway = crate::thrift::start(db.clone(), listener, config.thrift.clone())
                .context("cannot start the Thrift gateway")?;
            tracing::info!(
                address = %gateway.local_addr(),
                transport = if config.thrift.framed { "framed" } else { "buffered" },
                protocol = if config.thrift.compact { "compact" } else { "binary" },
                max_connections = config.thrift.max_connections,
                scanner_lease = ?config.thrift.scanner_lease,
                "thrift gateway (HBase Thrift1) serving"
            );
            Some(gateway)
        }
    };
    let handle = start(db.clone(), listener, config.service.clone()).await?;
    tracing::info!(
        address = %handle.local_addr(),
        data_dir = %config.data_dir.display(),
        tables = tables.len(),
        table_names = ?tables,
        sync = ?config.db.sync_mode,
        max_message_bytes = config.service.max_message_bytes,
        "strata serving"
    );
    shutdown.await;
    tracing::info!(
        grace = ?config.shutdown_grace,
        "shutdown requested: no new calls, finishing in-flight calls"
    );
    let grace = config.shutdown_grace;
    let stop_thrift = async {
        if let Some(gateway) = thrift {
            gateway.shutdown(grace).await;
        }
    };
    let (grpc, ()) = tokio::join!(handle.shutdown(grace), stop_thrift);
    grpc?;
    Ok(())
}
