//! The connections of a listener, plain TCP or TLS, each with its [`Peer`] (the client's
//! address and, over mTLS, its certificate's principal name), as the stream tonic serves.
//!
//! TLS handshakes run in their own tasks, at most [`MAX_HANDSHAKES`] at a time and each
//! within [`HANDSHAKE_TIMEOUT`], so a client that connects and stalls can neither block the
//! accept loop nor hold a slot for long. Each handshake takes the listener's TLS
//! configuration current at that moment (see `reload.rs`). This file must never hand tonic a
//! connection whose handshake failed, and stops accepting when the stream is dropped.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tonic::transport::server::Connected;

use super::identity;
use super::reload::ReloadableTls;
use crate::coalesce::Coalescing;

/// Longest a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most TLS handshakes in progress at once; the accept loop waits beyond that.
pub const MAX_HANDSHAKES: usize = 256;
/// Accepted connections waiting for the server to take them.
const QUEUED: usize = 64;

/// Who is at the other end of a connection. Every request on it carries this in its
/// extensions (tonic's connect info).
#[derive(Clone, Debug, Default)]
pub struct Peer {
    /// The client's address.
    pub addr: Option<SocketAddr>,
    /// The principal name of the client certificate (verified by the TLS handshake), if the
    /// client presented one.
    pub certificate: Option<Arc<str>>,
}

/// The connection's stream; writes are coalesced per flush (`coalesce.rs`: a unary reply's
/// headers, message and trailers in one syscall), above TLS so that one flush is also as few
/// TLS records as possible.
enum Io {
    Plain(Coalescing<TcpStream>),
    Tls(Box<Coalescing<TlsStream<TcpStream>>>),
}

/// One accepted connection.
pub struct Connection {
    io: Io,
    peer: Peer,
}

impl Connection {
    /// Who is at the other end.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }
}

impl Connected for Connection {
    type ConnectInfo = Peer;

    fn connect_info(&self) -> Peer {
        self.peer.clone()
    }
}

macro_rules! delegate {
    ($self:ident, $io:ident => $e:expr) => {
        match &mut $self.get_mut().io {
            Io::Plain($io) => {
                let $io = Pin::new($io);
                $e
            }
            Io::Tls($io) => {
                let $io = Pin::new($io.as_mut());
                $e
            }
        }
    };
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, io => io.poll_read(cx, buf))
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, io => io.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, io => io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(io) => io.is_write_vectored(),
            Io::Tls(io) => io.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, io => io.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, io => io.poll_shutdown(cx))
    }
}

/// The stream of a listener's connections. Dropping it stops accepting (and closes the
/// listening socket).
pub struct Incoming {
    rx: mpsc::Receiver<Connection>,
    task: JoinHandle<()>,
}

impl tokio_stream::Stream for Incoming {
    type Item = Result<Connection, io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx).map(|c| c.map(Ok))
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accept connections on `listener`: TLS ones when `tls` is given, else plain TCP.
pub fn incoming(listener: TcpListener, tls: Option<Arc<ReloadableTls>>) -> Incoming {
    let (tx, rx) = mpsc::channel(QUEUED);
    let task = tokio::spawn(accept_loop(listener, tls, tx));
    Incoming { rx, task }
}

/// The TLS handshake of one accepted connection, within [`HANDSHAKE_TIMEOUT`]: the stream and
/// its client certificate's principal name, or `None` (logged) when it failed or timed out.
pub async fn handshake(
    acceptor: &tokio_rustls::TlsAcceptor,
    stream: TcpStream,
    addr: SocketAddr,
) -> Option<(TlsStream<TcpStream>, Option<Arc<str>>)> {
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::info!(peer = %addr, error = %e, "TLS handshake failed");
            return None;
        }
        Err(_) => {
            tracing::info!(peer = %addr, timeout = ?HANDSHAKE_TIMEOUT, "TLS handshake timed out");
            return None;
        }
    };
    let certificate = identity::of_peer(stream.get_ref().1.peer_certificates(), addr);
    Some((stream, certificate))
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<Arc<ReloadableTls>>,
    tx: mpsc::Sender<Connection>,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!(error = %e, "accept failed; retrying shortly");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let peer = Peer {
            addr: Some(addr),
            certificate: None,
        };
        let Some(tls) = &tls else {
            let conn = Connection {
                io: Io::Plain(Coalescing::new(stream)),
                peer,
            };
            if tx.send(conn).await.is_err() {
                return;
            }
            continue;
        };
        let Ok(permit) = handshakes.clone().acquire_owned().await else {
            return;
        };
        let acceptor = tls.acceptor();
        let tx = tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let Some((stream, certificate)) = handshake(&acceptor, stream, addr).await else {
                return;
            };
            let conn = Connection {
                io: Io::Tls(Box::new(Coalescing::new(stream))),
                peer: Peer {
                    certificate,
                    ..peer
                },
            };
            let _ = tx.send(conn).await;
        });
    }
}
