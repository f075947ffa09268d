//! One client connection: read a message, answer it on a blocking thread (handlers call the
//! engine), write the reply, repeat, until the client hangs up, breaks the protocol, or the
//! server stops (a call in progress finishes and its reply is sent first).
//!
//! A message that breaks the protocol leaves the stream unframed: it is answered with a
//! `TApplicationException` when its header could be read, and the connection is closed. This
//! module must never run an engine call on the async executor.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::OwnedSemaphorePermit;

use super::dispatch;
use super::handler::{Gateway, Peer};
use super::protocol::Codec;
use super::protocol::skip::Limits;
use super::transport::{MessageReader, TransportError, write_message};
use super::types::ApplicationException;
use crate::stopping::Stopping;

/// Serve `stream` (plain or TLS, see `tls.rs`) from `peer` until it ends; `_permit` holds
/// its place under the connection cap.
pub async fn serve<C: Codec, S: AsyncRead + AsyncWrite + Send + 'static>(
    stream: S,
    peer: Peer,
    gw: Arc<Gateway>,
    mut stopping: Stopping,
    _permit: OwnedSemaphorePermit,
) {
    let client = peer
        .client
        .map_or_else(|| "?".to_string(), |c| c.to_string());
    let framed = gw.options.framed;
    let limits = Limits {
        max_end: gw.options.max_message_bytes,
        max_items: gw.options.max_items,
    };
    let (rd, mut wr) = tokio::io::split(stream);
    let mut reader = MessageReader::<_, C>::new(rd, framed, limits);
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
        let (call_gw, peer) = (gw.clone(), peer.clone());
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
