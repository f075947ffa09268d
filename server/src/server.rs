//! Running the server: [`start`] puts the Strata service, the standard health service and
//! server reflection (v1 and v1alpha) on a listener for an already open store (what `strata
//! demo` and in-process tests use), [`start_with_http`] adds the HTTP server (dashboard,
//! pages, JSON, /metrics) on a second listener, and [`start_with`] does both behind TLS and
//! the guard of a [`Protections`]; [`serve`] is `strata serve`: check that each address may
//! be served as configured, load the security files, open the store, listen (and start the
//! Thrift gateway beside gRPC when `thrift_listen` is set), reload TLS and tokens on SIGHUP,
//! wait for the shutdown signal, drain them, flush and close the store.
//!
//! This module must never open a store it was given (start) nor leave one it opened unclosed
//! (serve), and never serve a request that did not pass the guard layer.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use strata_engine::Db;
use strata_proto::v1::strata_server::StrataServer;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::aggregation::Aggregator;
use crate::auth::{Listener, Security, check_listen};
use crate::config::{HttpBinding, ServerConfig, ServiceOptions};
use crate::guard::GuardLayer;
use crate::http::{self, HttpHandle, HttpState};
use crate::metrics::grpc::GrpcMetricsLayer;
use crate::oversize;
use crate::scan_budget::ScanBudget;
use crate::service::StrataService;
use crate::stopping::{self, StopSender};
use crate::thrift::auth::ThriftSecurity;
use crate::tls::{self, ReloadableTls};

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

/// What protects the listeners: the shared [`Security`] (authentication, authorization,
/// audit) and each listener's own TLS, if any (the same files, each with its ALPN).
#[derive(Clone, Debug)]
pub struct Protections {
    /// Authentication, authorization and audit (shared by every listener of the server).
    pub security: Arc<Security>,
    /// The gRPC listener's TLS (`None`: plain TCP).
    pub tls: Option<Arc<ReloadableTls>>,
    /// The HTTP listener's TLS (`None`: plain TCP).
    pub http_tls: Option<Arc<ReloadableTls>>,
    /// The Thrift listener's TLS (`--thrift-tls`; `None`: plain TCP).
    pub thrift_tls: Option<Arc<ReloadableTls>>,
}

impl Protections {
    /// No TLS, no authentication (every caller is `anonymous` with every permission).
    pub fn none() -> Protections {
        Protections {
            security: Arc::new(Security::off()),
            tls: None,
            http_tls: None,
            thrift_tls: None,
        }
    }

    /// SIGHUP: reload the TLS files, the token file and reopen the audit log; whatever
    /// fails to load is logged and the old state stays in force.
    pub fn reload(&self) {
        let listeners = [
            ("gRPC", &self.tls),
            ("HTTP", &self.http_tls),
            ("Thrift", &self.thrift_tls),
        ];
        for (listener, tls) in listeners {
            let Some(tls) = tls else { continue };
            match tls.reload() {
                Ok(()) => {
                    tracing::info!(listener, cert = %tls.files().cert.display(), "TLS certificate reloaded")
                }
                Err(e) => {
                    tracing::error!(listener, error = %e, "TLS not reloaded; the old certificate stays in force")
                }
            }
        }
        self.security.reload();
    }
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
    http: Option<HttpHandle>,
    protections: Protections,
    budget: Arc<ScanBudget>,
}

impl ServerHandle {
    /// The scan caps and buffer budget its scans count in (give it to a Thrift gateway beside
    /// it, so that both count against one budget).
    pub fn scan_budget(&self) -> Arc<ScanBudget> {
        self.budget.clone()
    }

    /// The address the server listens on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://ADDR` (`https://ADDR` with TLS), for clients.
    pub fn url(&self) -> String {
        let scheme = if self.protections.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.local_addr)
    }

    /// Reload TLS and the token file, reopen the audit log (what SIGHUP does).
    pub fn reload(&self) {
        self.protections.reload();
    }

    /// The HTTP server's address, if it runs.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(HttpHandle::local_addr)
    }

    /// `http://ADDR` (`https://ADDR` with TLS) of the HTTP server, if it runs.
    pub fn http_url(&self) -> Option<String> {
        let scheme = if self.protections.http_tls.is_some() {
            "https"
        } else {
            "http"
        };
        self.http_addr().map(|a| format!("{scheme}://{a}"))
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
        if let Some(http) = self.http.take()
            && let Err(e) = http.shutdown(grace).await
        {
            tracing::warn!(error = %e, "the HTTP server did not stop cleanly");
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

/// Serve `db` on `listener` until [`ServerHandle::shutdown`], without TLS or authentication.
///
/// The Strata service gets `options`' message limit for both directions; larger requests
/// fail with RESOURCE_EXHAUSTED.
pub async fn start(
    db: Db,
    listener: TcpListener,
    options: ServiceOptions,
) -> Result<ServerHandle, ServerError> {
    start_with(db, listener, None, options, Protections::none()).await
}

/// Aggregation scans that may run at once (Aggregate calls and dashboard tables together):
/// one per core, so aggregations cannot take every core from the other calls for long.
fn aggregation_slots() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// [`start`], plus the HTTP server on `http` when given; both stop with
/// [`ServerHandle::shutdown`].
pub async fn start_with_http(
    db: Db,
    listener: TcpListener,
    http: Option<TcpListener>,
    options: ServiceOptions,
) -> Result<ServerHandle, ServerError> {
    start_with(db, listener, http, options, Protections::none()).await
}

/// [`start_with_http`] with the gRPC and HTTP listeners behind `protections`: TLS when given,
/// and every request authenticated and authorized by its security.
pub async fn start_with(
    db: Db,
    listener: TcpListener,
    http: Option<TcpListener>,
    options: ServiceOptions,
    protections: Protections,
) -> Result<ServerHandle, ServerError> {
    start_inner(db, listener, http, options, protections, None).await
}

/// [`start_with`] whose scans count in `budget` (a fresh one from `options` if `None`).
async fn start_inner(
    db: Db,
    listener: TcpListener,
    http: Option<TcpListener>,
    options: ServiceOptions,
    protections: Protections,
    budget: Option<Arc<ScanBudget>>,
) -> Result<ServerHandle, ServerError> {
    let local_addr = listener.local_addr()?;
    let (stop, stopping) = stopping::channel();
    let max_message = options.max_message_bytes;
    let security = protections.security.clone();
    let aggregator = Aggregator::new(db.clone(), aggregation_slots());
    let http = match http {
        Some(l) => Some(http::start(
            l,
            HttpState {
                aggregator: aggregator.clone(),
                security: security.clone(),
            },
            protections.http_tls.clone(),
        )?),
        None => None,
    };
    let budget = budget.unwrap_or_else(|| ScanBudget::new(options.scan_limits()));
    let max_streams = options.max_concurrent_streams;
    let service = StrataServer::new(StrataService::new(
        db,
        options,
        stopping,
        aggregator,
        security.clone(),
        budget.clone(),
    ))
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

    let incoming = tls::incoming(listener, protections.tls.clone());
    // The metrics layer is outermost, so it sees the status after the oversize rewrite.
    // Streams per connection bound what one client connection can hold open at once.
    let router = Server::builder()
        .max_concurrent_streams(max_streams)
        .layer(GrpcMetricsLayer)
        .layer(oversize::layer())
        .layer(GuardLayer::new(security))
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
        http,
        protections,
        budget,
    })
}

/// `strata serve`: refuse an exposed address without TLS and authentication (unless
/// `--insecure`), load the TLS and token files, open the store, serve until `shutdown`
/// completes, then stop accepting, finish in-flight calls (up to the configured grace), flush
/// every table and close the store.
pub async fn serve(config: ServerConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    config.check()?;
    let protections = protections(&config)?;
    let dir = config.data_dir.clone();
    let db_options = config.db.clone();
    let fs = match config.fault_enospc_after_bytes {
        None => strata_engine::fs::real(),
        Some(limit) => {
            tracing::warn!(
                limit,
                "test-only --fault-enospc-after-bytes: store writes fail with ENOSPC past {limit} bytes"
            );
            strata_engine::space_limit_fs::SpaceLimitFs::new(strata_engine::fs::real(), limit)
        }
    };
    let db = tokio::task::spawn_blocking(move || Db::open_with_fs(&dir, db_options, fs))
        .await?
        .with_context(|| format!("cannot open the store in {}", config.data_dir.display()))?;

    let result = serve_open(&db, &config, protections, shutdown).await;

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

/// The listen check, then the security state and TLS of `config` (each file error names
/// the file; a token-file error names the entry).
fn protections(config: &ServerConfig) -> anyhow::Result<Protections> {
    let sec = &config.security;
    check_listen(
        Listener::GRPC,
        config.listen,
        sec.protection(),
        sec.insecure,
    )?;
    if let Some(addr) = config.thrift_listen {
        let thrift = sec.thrift_protection();
        check_listen(Listener::THRIFT, addr, thrift, sec.insecure)?;
        if sec.protection().authentication && !thrift.authentication {
            tracing::warn!(
                address = %addr,
                "the Thrift gateway cannot check tokens (Thrift1 has no headers) and has no \
                 client certificates (add --thrift-tls with --tls-client-ca): its callers are \
                 anonymous with every permission, so whoever can reach its address uses the \
                 store without a token"
            );
        }
    }
    if let HttpBinding::Explicit(addr) | HttpBinding::Default(addr) = config.http {
        // The same TLS and authentication as gRPC.
        check_listen(Listener::HTTP, addr, sec.protection(), sec.insecure)?;
    }
    let security = Arc::new(sec.security()?);
    let load = |alpn| -> anyhow::Result<Option<Arc<ReloadableTls>>> {
        Ok(match &sec.tls {
            Some(files) => Some(Arc::new(ReloadableTls::load(files.clone(), alpn)?)),
            None => None,
        })
    };
    let tls = load(tls::GRPC_ALPN)?;
    let http_tls = load(http::listener::HTTP_ALPN)?;
    let thrift_tls = if sec.thrift_tls { load(&[])? } else { None };
    if security.authenticator().is_on() && tls.is_none() {
        tracing::warn!(
            "authentication without TLS: tokens cross the connection in clear text \
             (acceptable on loopback only; add --tls-cert FILE --tls-key FILE)"
        );
    }
    Ok(Protections {
        security,
        tls,
        http_tls,
        thrift_tls,
    })
}

/// Reload on every SIGHUP until the task is aborted.
fn reload_on_sighup(handle: &ServerHandle) -> anyhow::Result<JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    let protections = handle.protections.clone();
    Ok(tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            tracing::info!("SIGHUP received: reloading TLS, tokens and the audit log");
            protections.reload();
        }
    }))
}

async fn serve_open(
    db: &Db,
    config: &ServerConfig,
    protections: Protections,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let http = http::bind(config.http).await?;
    let lister = db.clone();
    let tables = tokio::task::spawn_blocking(move || lister.list_tables()).await?;
    // gRPC scans and Thrift scanners count against one budget.
    let budget = ScanBudget::new(config.service.scan_limits());
    let thrift = match config.thrift_listen {
        None => None,
        Some(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (thrift_listen)"))?;
            let security =
                ThriftSecurity::new(protections.security.clone(), protections.thrift_tls.clone());
            let tls = security.tls.is_some();
            let client_certificates = security.client_certificates();
            let gateway = crate::thrift::start_with(
                db.clone(),
                listener,
                config.thrift.clone(),
                security,
                budget.clone(),
            )
            .context("cannot start the Thrift gateway")?;
            tracing::info!(
                address = %gateway.local_addr(),
                transport = if config.thrift.framed { "framed" } else { "buffered" },
                protocol = if config.thrift.compact { "compact" } else { "binary" },
                max_connections = config.thrift.max_connections,
                scanner_lease = ?config.thrift.scanner_lease,
                tls,
                client_certificates,
                "thrift gateway (HBase Thrift1) serving"
            );
            Some(gateway)
        }
    };
    let handle = start_inner(
        db.clone(),
        listener,
        http,
        config.service.clone(),
        protections,
        Some(budget),
    )
    .await?;
    let reloader = reload_on_sighup(&handle)?;
    if let (Some(addr), Some(url)) = (handle.http_addr(), handle.http_url()) {
        tracing::info!(address = %addr, "dashboard at {url}/, metrics at {url}/metrics");
    }
    tracing::info!(
        address = %handle.local_addr(),
        tls = handle.protections.tls.is_some(),
        client_certificates = config.security.client_certs(),
        authentication = handle.protections.security.authenticator().is_on(),
        data_dir = %config.data_dir.display(),
        tables = tables.len(),
        table_names = ?tables,
        sync = ?config.db.sync_mode,
        max_message_bytes = config.service.max_message_bytes,
        max_scans = config.service.max_scans,
        max_scans_per_connection = config.service.max_scans_per_connection,
        scan_buffer_bytes = config.service.scan_buffer_bytes,
        max_concurrent_streams = config.service.max_concurrent_streams,
        "strata serving"
    );
    shutdown.await;
    tracing::info!(
        grace = ?config.shutdown_grace,
        "shutdown requested: no new calls, finishing in-flight calls"
    );
    reloader.abort();
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
