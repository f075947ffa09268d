//! One client connection: read a message, answer it on a blocking thread (handlers call the
//! engine), write the reply, repeat, until the client hangs up, breaks the protocol, or the
//! server stops (a call in progress finishes and its reply is sent first).
//!
//! A message that breaks the protocol leaves the stream unframed: it is answered with a
//! `TApplicationException` when its header could be read, and the connection is closed. This
//! module must never run an engine call on the async executor.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;

use super::dispatch;
use super::handler::{Gateway, Peer};
use super::protocol::Codec;
use super::protocol::skip::Limits;
use super::transport::{MessageReader, TransportError, write_message};
use super::types::ApplicationException;
use crate::stopping::Stopping;

/// Serve `stream` until it ends; `_permit` holds its place under the connection cap.
pub async fn serve<C: Codec>(
    stream: TcpStream,
    client: SocketAddr,
    gw: Arc<Gateway>,
    mut stopping: Stopping,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let local = match stream.local_addr() {
        Ok(a) => a,
        Err(e) => {
            tracing::debug!(%client, error = %e, "thrift connection lost at once");
            return;
        }
    };
    let framed = gw.options.framed;
    let limits = Limits {
        max_end: gw.options.max_message_bytes,
        max_items: gw.options.max_items,
    };
    let (rd, mut wr) = stream.into_split();
    let mut reader = MessageReader::<_, C>::new(rd, framed, limits);
    let peer = Peer { local, client };
    tracing::debug!(%client, "thrift connection opened");
    loop {
        let next = tokio::select! {
            biased;
            () = stopping.wait() => break,
            next = reader.next() => next,
        };
        let msg = match next {
            Ok(Some(msg)) => msg,
            Ok(None) => break,
            Err(TransportError::Protocol { error, header }) => {
                tracing::warn!(%client, %error, "thrift protocol error; closing the connection");
                if let Some(h) = header {
                    let reply = dispatch::application_error::<C>(
                        &h,
                        ApplicationException::PROTOCOL_ERROR,
                        error.to_string(),
                    );
                    let _ = write_message(&mut wr, framed, &reply).await;
                }
                break;
            }
            Err(e) => {
                tracing::debug!(%client, error = %e, "thrift connection ended");
                break;
            }
        };
        let call_gw = gw.clone();
        let answered =
            tokio::task::spawn_blocking(move || dispatch::handle::<C>(&call_gw, &peer, &msg)).await;
        match answered {
            Ok(Some(reply)) => {
                if let Err(e) = write_message(&mut wr, framed, &reply).await {
                    tracing::debug!(%client, error = %e, "thrift reply not delivered");
                    break;
                }
            }
            Ok(None) => {} // oneway
            Err(e) => {
                tracing::error!(%client, error = %e, "thrift call failed; closing the connection");
                break;
            }
        }
    }
    tracing::debug!(%client, "thrift connection closed");
}
