//! Whole messages off a connection, replies onto it, in either of Thrift's transports:
//! buffered (no framing, HBase's and happybase's default: the framer finds where each message
//! ends) or framed (`--thrift-framed`: a 4-byte big-endian length before each message).
//!
//! The buffer holds at most one message (bounded by the message limit) plus one read; a
//! message or frame past the limit fails as soon as its length is known, before its bytes
//! arrive. This module moves bytes only: it never decodes a message's contents.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::protocol::skip::{Limits, MessageFramer};
use super::protocol::{Codec, DecodeError, MessageHeader};

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 64 * 1024;
const FRAME_HEADER: usize = 4;

/// Why no message could be read.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The socket failed.
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    /// The peer closed the connection inside a message.
    #[error("connection closed inside a message ({0} bytes received)")]
    Truncated(usize),
    /// The bytes break the protocol or a limit; the header, if it was read, addresses a reply.
    #[error("{error}")]
    Protocol {
        /// What is wrong.
        error: DecodeError,
        /// The message's header, when it could be read.
        header: Option<MessageHeader>,
    },
}

/// Reads one message at a time.
pub struct MessageReader<R, C: Codec> {
    io: R,
    buf: BytesMut,
    framed: bool,
    limits: Limits,
    framer: MessageFramer<C>,
}

impl<R: AsyncRead + Unpin, C: Codec> MessageReader<R, C> {
    /// A reader over `io`, framed or buffered, with messages bounded by `limits`.
    pub fn new(io: R, framed: bool, limits: Limits) -> Self {
        MessageReader {
            io,
            buf: BytesMut::with_capacity(READ_CHUNK),
            framed,
            limits,
            framer: MessageFramer::default(),
        }
    }

    /// The next whole message, or `None` when the peer closed the connection between messages.
    pub async fn next(&mut self) -> Result<Option<Bytes>, TransportError> {
        loop {
            if let Some(msg) = self.split()? {
                return Ok(Some(msg));
            }
            self.buf.reserve(READ_CHUNK);
            if self.io.read_buf(&mut self.buf).await? == 0 {
                return match self.buf.len() {
                    0 => Ok(None),
                    n => Err(TransportError::Truncated(n)),
                };
            }
        }
    }

    /// A complete message at the front of the buffer, taken out of it.
    fn split(&mut self) -> Result<Option<Bytes>, TransportError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        if self.framed {
            return self.split_frame();
        }
        match self.framer.poll(&self.buf, self.limits) {
            Ok(Some(end)) => {
                self.framer = MessageFramer::default();
                Ok(Some(self.buf.split_to(end).freeze()))
            }
            Ok(None) => Ok(None),
            Err(error) => Err(TransportError::Protocol {
                error,
                header: self.framer.header().cloned(),
            }),
        }
    }

    fn split_frame(&mut self) -> Result<Option<Bytes>, TransportError> {
        let Some(head) = self.buf.get(..FRAME_HEADER) else {
            return Ok(None);
        };
        let mut len = [0u8; FRAME_HEADER];
        len.copy_from_slice(head);
        let len = u32::from_be_bytes(len) as usize;
        if len > self.limits.max_end {
            return Err(TransportError::Protocol {
                error: DecodeError::Limit(format!(
                    "frame of {len} bytes exceeds the limit of {} bytes (max_message_bytes)",
                    self.limits.max_end
                )),
                header: None,
            });
        }
        if self.buf.len() < FRAME_HEADER + len {
            return Ok(None);
        }
        let mut frame = self.buf.split_to(FRAME_HEADER + len);
        Ok(Some(frame.split_off(FRAME_HEADER).freeze()))
    }
}

/// Write one reply, with its frame header when `framed`, in one write.
pub async fn write_message<W: AsyncWrite + Unpin>(
    io: &mut W,
    framed: bool,
    msg: &[u8],
) -> std::io::Result<()> {
    if framed {
        let len = u32::try_from(msg.len()).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "reply longer than 4 GiB")
        })?;
        let mut out = Vec::with_capacity(FRAME_HEADER + msg.len());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(msg);
        io.write_all(&out).await?;
    } else {
        io.write_all(msg).await?;
    }
    io.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::thrift::protocol::{Binary, MessageType, OutputProtocol, TType};

    const LIMITS: Limits = Limits {
        max_end: 4096,
        max_items: 100,
    };

    fn call(name: &str) -> Vec<u8> {
        let mut w = Binary::writer(64);
        w.write_message_begin(name, MessageType::Call, 1);
        w.write_struct_begin();
        w.write_field_begin(TType::Binary, 1);
        w.write_binary(b"table");
        w.write_struct_end();
        w.finish()
    }

    /// A reader fed `chunks` one write at a time.
    fn reader(
        chunks: Vec<Vec<u8>>,
        framed: bool,
    ) -> MessageReader<tokio::io::DuplexStream, Binary> {
        let (mut tx, rx) = tokio::io::duplex(1 << 16);
        tokio::spawn(async move {
            for c in chunks {
                if tx.write_all(&c).await.is_err() {
                    return;
                }
                tokio::task::yield_now().await;
            }
        });
        MessageReader::new(rx, framed, LIMITS)
    }

    #[tokio::test]
    async fn buffered_messages_are_split_however_they_arrive() {
        let a = call("getTableNames");
        let b = call("deleteTable");
        let mut stream = a.clone();
        stream.extend_from_slice(&b);
        let chunks: Vec<Vec<u8>> = stream.chunks(3).map(<[u8]>::to_vec).collect();
        let mut r = reader(chunks, false);
        assert_eq!(r.next().await.expect("ok").as_deref(), Some(&a[..]));
        assert_eq!(r.next().await.expect("ok").as_deref(), Some(&b[..]));
        assert!(r.next().await.expect("clean end").is_none());
    }

    #[tokio::test]
    async fn framed_messages_are_split_by_their_length() {
        let a = call("getTableNames");
        let mut framed = (a.len() as u32).to_be_bytes().to_vec();
        framed.extend_from_slice(&a);
        let mut r = reader(vec![framed[..2].to_vec(), framed[2..].to_vec()], true);
        assert_eq!(r.next().await.expect("ok").as_deref(), Some(&a[..]));
        assert!(r.next().await.expect("clean end").is_none());
    }

    #[tokio::test]
    async fn an_oversized_frame_fails_before_its_bytes_arrive() {
        let mut r = reader(vec![1_000_000u32.to_be_bytes().to_vec()], true);
        match r.next().await {
            Err(TransportError::Protocol { error, .. }) => {
                assert!(error.to_string().contains("1000000"), "{error}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_connection_closed_inside_a_message_is_truncated() {
        let a = call("getTableNames");
        let mut r = reader(vec![a[..a.len() - 1].to_vec()], false);
        assert!(matches!(r.next().await, Err(TransportError::Truncated(_))));
    }

    #[tokio::test]
    async fn a_bad_message_reports_its_header() {
        let mut w = Binary::writer(64);
        w.write_message_begin("mutateRows", MessageType::Call, 5);
        w.write_field_begin(TType::Binary, 1);
        let mut msg = w.finish();
        msg.extend_from_slice(&100_000i32.to_be_bytes());
        let mut r = reader(vec![msg], false);
        match r.next().await {
            Err(TransportError::Protocol {
                header: Some(h), ..
            }) => assert_eq!((h.name.as_str(), h.seqid), ("mutateRows", 5)),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn replies_carry_a_frame_header_when_framed() {
        let mut out = Vec::new();
        write_message(&mut out, true, b"abc").await.expect("write");
        assert_eq!(out, [0, 0, 0, 3, b'a', b'b', b'c']);
        let mut out = Vec::new();
        write_message(&mut out, false, b"abc").await.expect("write");
        assert_eq!(out, b"abc");
    }
}
