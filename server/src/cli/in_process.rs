//! A store opened and served in this process on a free loopback port (with the HTTP server
//! too, for `demo`), for `demo` and `bench`, and the Thrift gateway beside it (`demo`). Owns
//! only the start-up; the caller shuts the servers down and closes the store.

use std::path::Path;

use anyhow::Context;
use strata_engine::{Db, DbOptions};
use strata_server::ServerHandle;
use strata_server::thrift::ThriftHandle;

/// The HTTP port `demo` prefers (the server's default); any free port when it is taken.
const DEMO_HTTP: &str = "127.0.0.1:8080";

/// Open the store in `data_dir` (off the async executor) and serve it on 127.0.0.1:0.
pub async fn serve_in_process(
    data_dir: &Path,
    options: DbOptions,
) -> anyhow::Result<(Db, ServerHandle)> {
    serve(data_dir, options, false).await
}

/// [`serve_in_process`] with the HTTP server (dashboard, /metrics) too: on 127.0.0.1:8080
/// if it is free, else on a free port.
pub async fn serve_in_process_with_http(
    data_dir: &Path,
    options: DbOptions,
) -> anyhow::Result<(Db, ServerHandle)> {
    serve(data_dir, options, true).await
}

async fn serve(
    data_dir: &Path,
    options: DbOptions,
    http: bool,
) -> anyhow::Result<(Db, ServerHandle)> {
    let dd = data_dir.to_path_buf();
    let db = tokio::task::spawn_blocking(move || Db::open(&dd, options))
        .await?
        .with_context(|| format!("cannot open a store in {}", data_dir.display()))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot listen on 127.0.0.1")?;
    let web = if http {
        let l = match tokio::net::TcpListener::bind(DEMO_HTTP).await {
            Ok(l) => l,
            Err(_) => tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .context("cannot listen for HTTP on 127.0.0.1")?,
        };
        Some(l)
    } else {
        None
    };
    let server = strata_server::start_with_http(
        db.clone(),
        listener,
        web,
        strata_server::ServiceOptions::default(),
    )
    .await
    .context("cannot start the server")?;
    Ok((db, server))
}

/// The HBase Thrift1 gateway (default settings) for `db` on a free loopback port, its
/// scanners counting in the gRPC server's scan budget.
pub async fn thrift_in_process(db: &Db, server: &ServerHandle) -> anyhow::Result<ThriftHandle> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot listen on 127.0.0.1 for the Thrift gateway")?;
    strata_server::thrift::start(
        db.clone(),
        listener,
        strata_server::ThriftOptions::default(),
        server.scan_budget(),
    )
    .context("cannot start the Thrift gateway")
}
