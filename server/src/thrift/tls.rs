//! A new Thrift connection before its first message: plain TCP, or with `--thrift-tls` a TLS
//! handshake (bounded by `tls::incoming::HANDSHAKE_TIMEOUT`, on the connection's own task
//! and under its connection slot, so a client that stalls holds neither the accept loop nor
//! more than one slot), then the connection's [`Peer`] (its addresses and, over mTLS, the
//! client certificate's principal name) and the message loop.
//!
//! This file must never serve a connection whose handshake failed.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;

use super::connection;
use super::handler::{Gateway, Peer};
use super::protocol::Codec;
use crate::stopping::Stopping;
use crate::tls::incoming;

/// Serve one accepted connection until it ends; `permit` holds its place under the cap.
pub async fn accept<C: Codec>(
    stream: TcpStream,
    client: SocketAddr,
    gw: Arc<Gateway>,
    mut stopping: Stopping,
    permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let local = match stream.local_addr() {
        Ok(a) => a,
        Err(e) => {
            tracing::debug!(%client, error = %e, "thrift connection lost at once");
            return;
        }
    };
    let peer = Peer {
        local,
        client: Some(client),
        certificate: None,
    };
    let Some(tls) = gw.security.tls.clone() else {
        return connection::serve::<C, _>(stream, peer, gw, stopping, permit).await;
    };
    let acceptor = tls.acceptor();
    let (stream, certificate) = tokio::select! {
        () = stopping.wait() => return,
        done = incoming::handshake(&acceptor, stream, client) => match done {
            Some(done) => done,
            None => return,
        },
    };
    let peer = Peer {
        certificate,
        ..peer
    };
    connection::serve::<C, _>(stream, peer, gw, stopping, permit).await;
}
