//! Write coalescing for HTTP/2 connections (server and client side): the connection's writes
//! are gathered in a buffer and sent with one `write` per flush, and a flush first yields to
//! the runtime once, so the frames other tasks are about to queue on the same connection go
//! in the same syscall.
//!
//! Why: hyper sends a response's HEADERS and DATA in one flush and its trailers (grpc-status)
//! in the next, because the body task waits for the connection task to hand it send capacity
//! before it polls the trailers; a client's request HEADERS and DATA likewise. Unbuffered,
//! a unary call cost four `writev`s on loopback, each a full trip through the kernel's TCP
//! stack (measured: a third of the CPU of 8 concurrent gets). Yielding once lets the body
//! task queue its trailers (and other calls their frames) before the bytes leave.
//!
//! This module owns only the ordering and timing of writes: it must never reorder, drop or
//! duplicate bytes, never report bytes as written that it has not buffered, and never hold
//! buffered bytes past a completed flush (a flush that returns `Ready(Ok)` has handed every
//! byte to the socket), so HTTP/2's own flow control and every acknowledgement stay exact.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes buffered before a write first sends what it holds (a bound on the copy, not on
/// what a flush may send: a flush sends everything).
const HIGH_WATER: usize = 256 * 1024;

/// An I/O object whose writes are sent at flush time, in as few syscalls as the socket takes.
#[derive(Debug)]
pub struct Coalescing<T> {
    inner: T,
    /// Bytes accepted but not yet written to `inner`; `buf[sent..]` is what remains.
    buf: Vec<u8>,
    sent: usize,
    /// This flush already yielded once.
    yielded: bool,
}

impl<T> Coalescing<T> {
    /// Wrap `inner`.
    pub fn new(inner: T) -> Self {
        Coalescing {
            inner,
            buf: Vec::new(),
            sent: 0,
            yielded: false,
        }
    }

    /// The wrapped object.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped object, mutably (reads and writes must still go through the wrapper).
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: AsyncWrite + Unpin> Coalescing<T> {
    /// Write buffered bytes to `inner` until none remain (Pending if the socket is full).
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.buf.len() {
            let n = match Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.sent..]) {
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.buf.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }

    /// Make room for more bytes: past the high-water mark, send what is buffered first.
    fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.buf.len() - self.sent >= HIGH_WATER {
            return self.poll_drain(cx);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Coalescing<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Coalescing<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        match me.poll_room(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        me.buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        match me.poll_room(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        me.buf.reserve(total);
        for b in bufs {
            me.buf.extend_from_slice(b);
        }
        Poll::Ready(Ok(total))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        if me.sent < me.buf.len() && !me.yielded {
            // Let the tasks this one just woke (a body's trailers, other calls) queue their
            // frames first; the runtime polls this task again right after them.
            me.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        match me.poll_drain(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        me.yielded = false;
        Pin::new(&mut me.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        match me.poll_drain(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        Pin::new(&mut me.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn bytes_leave_in_order_only_at_flush() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut w = Coalescing::new(a);
        w.write_all(b"one ").await.expect("buffered");
        let slices = [io::IoSlice::new(b"two "), io::IoSlice::new(b"three")];
        let n = w.write_vectored(&slices).await.expect("buffered");
        assert_eq!(n, 9);
        let mut probe = [0u8; 1];
        let early = tokio::time::timeout(std::time::Duration::from_millis(20), b.read(&mut probe));
        assert!(early.await.is_err(), "bytes left before the flush");
        w.flush().await.expect("flushed");
        let mut got = vec![0u8; 13];
        b.read_exact(&mut got).await.expect("all bytes");
        assert_eq!(&got, b"one two three");
    }

    #[tokio::test]
    async fn a_full_socket_keeps_every_byte() {
        // A pipe far smaller than what is written: writes past the high-water mark and the
        // flush wait for the reader, and everything arrives once, in order.
        let (a, mut b) = tokio::io::duplex(4096);
        let data: Vec<u8> = (0..(3 * HIGH_WATER + 123))
            .map(|i| (i % 251) as u8)
            .collect();
        let expected = data.clone();
        let writer = tokio::spawn(async move {
            let mut w = Coalescing::new(a);
            for chunk in data.chunks(10_000) {
                w.write_all(chunk).await.expect("write");
            }
            w.flush().await.expect("flush");
            w.shutdown().await.expect("shutdown");
        });
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.expect("read");
        writer.await.expect("writer");
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "bytes reordered or changed");
    }

    #[tokio::test]
    async fn shutdown_sends_what_is_buffered() {
        let (a, mut b) = tokio::io::duplex(1 << 16);
        let mut w = Coalescing::new(a);
        w.write_all(b"tail").await.expect("buffered");
        w.shutdown().await.expect("shutdown");
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.expect("read");
        assert_eq!(got, b"tail");
    }
}
