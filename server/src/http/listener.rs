//! The HTTP server's connections as axum accepts them: the listener's plain or TLS
//! connections from `tls::incoming` (handshakes bounded and off the accept loop, the TLS
//! configuration reloadable), each with its [`Peer`] (address and client certificate name)
//! as the request's connect info.
//!
//! This file only adapts `tls::Incoming` to axum's `Listener`; it must never look at
//! requests.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::net::TcpListener;
use tokio_stream::StreamExt as _;

use crate::tls::{self, Connection, Incoming, Peer, ReloadableTls};

/// The ALPN protocols of the HTTP listener (HTTP/1.1 only: the server speaks no HTTP/2).
pub const HTTP_ALPN: &[&[u8]] = &[b"http/1.1"];

/// Accepted connections of the HTTP listener.
pub struct HttpListener {
    incoming: Incoming,
    local: SocketAddr,
}

impl HttpListener {
    /// Accept on `listener`, with TLS when `tls` is given.
    pub fn new(listener: TcpListener, tls: Option<Arc<ReloadableTls>>) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        Ok(HttpListener {
            incoming: tls::incoming(listener, tls),
            local,
        })
    }
}

impl axum::serve::Listener for HttpListener {
    type Io = Connection;
    type Addr = Peer;

    async fn accept(&mut self) -> (Connection, Peer) {
        loop {
            match self.incoming.next().await {
                Some(Ok(conn)) => {
                    let peer = conn.peer().clone();
                    return (conn, peer);
                }
                Some(Err(e)) => tracing::debug!(error = %e, "HTTP connection not accepted"),
                // The accept task ended (it only does when aborted): accept nothing more.
                None => std::future::pending::<()>().await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Peer> {
        Ok(Peer {
            addr: Some(self.local),
            certificate: None,
        })
    }
}

impl Connected<IncomingStream<'_, HttpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, HttpListener>) -> Peer {
        stream.remote_addr().clone()
    }
}
