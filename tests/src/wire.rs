//! Raw clients of the non-gRPC listeners for the security tests: a TLS connection that
//! trusts exactly a given CA (optionally presenting a client certificate), an HTTP/1.1 GET
//! over it or over plain TCP, and the few HBase Thrift1 calls (binary protocol, buffered
//! transport) the tests make, encoded by hand so the tests need no Thrift library.
//!
//! It only builds requests and reads replies; it must never skip certificate verification.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// A TLS client configuration trusting `ca_pem` only, with a client certificate when given
/// (certificate PEM, key PEM).
pub fn client_config(ca_pem: &str, identity: Option<(&str, &str)>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(cert.unwrap_or_else(|e| panic!("CA PEM: {e:?}")))
            .unwrap_or_else(|e| panic!("CA certificate: {e:?}"));
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap_or_else(|e| panic!("TLS versions: {e:?}"))
    .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(cert.as_bytes())
                    .map(|c| c.unwrap_or_else(|e| panic!("client cert PEM: {e:?}")))
                    .collect();
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
                .unwrap_or_else(|e| panic!("client key PEM: {e:?}"));
            builder
                .with_client_auth_cert(chain, key)
                .unwrap_or_else(|e| panic!("client identity: {e:?}"))
        }
    };
    Arc::new(config)
}

/// A TLS connection to `addr` for the name `localhost`, or the handshake's error.
pub async fn tls_connect(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap_or_else(|e| panic!("name: {e:?}"));
    TlsConnector::from(config).connect(name, tcp).await
}

/// An HTTP reply.
#[derive(Debug)]
pub struct HttpReply {
    /// Status code.
    pub status: u16,
    /// Header lines, lower-cased names.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: String,
}

impl HttpReply {
    /// The first header called `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `GET path` on `io` with `Authorization: authorization` when given (`Connection: close`).
pub async fn http_get<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    path: &str,
    authorization: Option<&str>,
) -> std::io::Result<HttpReply> {
    let auth = authorization.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n");
    io.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    // A TLS peer may close without close_notify after the reply: what was read counts.
    if let Err(e) = io.read_to_end(&mut raw).await
        && raw.is_empty()
    {
        return Err(e);
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP reply: {text:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(HttpReply {
        status,
        headers,
        body: body.to_owned(),
    })
}

/// Thrift1 calls over the binary protocol, buffered transport.
pub mod thrift {
    use super::*;

    /// A Thrift value the tests send.
    pub enum Arg<'a> {
        /// A `binary`/`Text` field.
        Binary(&'a [u8]),
        /// A `list<Mutation>` of puts (`column`, `value`).
        Puts(&'a [(&'a str, &'a [u8])]),
        /// An `i32` (a scanner id).
        I32(i32),
    }

    fn binary(out: &mut Vec<u8>, b: &[u8]) {
        out.extend_from_slice(&(b.len() as i32).to_be_bytes());
        out.extend_from_slice(b);
    }

    /// The CALL message of `method(args)` (field ids from 1).
    pub fn call(method: &str, seqid: i32, args: &[Arg<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(0x8001_0001_u32 as i32).to_be_bytes());
        binary(&mut out, method.as_bytes());
        out.extend_from_slice(&seqid.to_be_bytes());
        for (i, arg) in args.iter().enumerate() {
            let id = (i + 1) as i16;
            match arg {
                Arg::Binary(b) => {
                    out.push(11);
                    out.extend_from_slice(&id.to_be_bytes());
                    binary(&mut out, b);
                }
                Arg::I32(v) => {
                    out.push(8);
                    out.extend_from_slice(&id.to_be_bytes());
                    out.extend_from_slice(&v.to_be_bytes());
                }
                Arg::Puts(puts) => {
                    out.push(15);
                    out.extend_from_slice(&id.to_be_bytes());
                    out.push(12);
                    out.extend_from_slice(&(puts.len() as i32).to_be_bytes());
                    for (column, value) in *puts {
                        // Mutation { 2: column, 3: value }
                        out.push(11);
                        out.extend_from_slice(&2i16.to_be_bytes());
                        binary(&mut out, column.as_bytes());
                        out.push(11);
                        out.extend_from_slice(&3i16.to_be_bytes());
                        binary(&mut out, value);
                        out.push(0);
                    }
                }
            }
        }
        out.push(0);
        out
    }

    /// What a reply said.
    #[derive(Debug, PartialEq, Eq)]
    pub enum Reply {
        /// The success field (0) was present, or none (void).
        Ok,
        /// A declared exception (field 1 `IOError`, 2 `IllegalArgument`, ...) with its message.
        Exception(i16, String),
        /// A `list<Text>` success (getTableNames).
        Names(Vec<String>),
        /// A list of structs (rows): how many.
        Rows(usize),
        /// An `i32` success (a scanner id).
        I32(i32),
        /// A `TApplicationException`.
        Application(String),
    }

    async fn i32_of<S: AsyncRead + Unpin>(io: &mut S) -> std::io::Result<i32> {
        io.read_i32().await
    }

    async fn bytes_of<S: AsyncRead + Unpin>(io: &mut S) -> std::io::Result<Vec<u8>> {
        let n = i32_of(io).await?;
        let mut b = vec![0; usize::try_from(n).map_err(std::io::Error::other)?];
        io.read_exact(&mut b).await?;
        Ok(b)
    }

    /// Skip one value of type `t`.
    fn skip<'a, S: AsyncRead + Unpin + Send>(
        io: &'a mut S,
        t: u8,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send + 'a>> {
        Box::pin(async move {
            match t {
                2 | 3 => {
                    io.read_u8().await?;
                }
                6 => {
                    io.read_i16().await?;
                }
                8 => {
                    io.read_i32().await?;
                }
                4 | 10 => {
                    io.read_i64().await?;
                }
                11 => {
                    bytes_of(io).await?;
                }
                12 => loop {
                    let ft = io.read_u8().await?;
                    if ft == 0 {
                        break;
                    }
                    io.read_i16().await?;
                    skip(io, ft).await?;
                },
                13 => {
                    let (k, v) = (io.read_u8().await?, io.read_u8().await?);
                    for _ in 0..i32_of(io).await? {
                        skip(io, k).await?;
                        skip(io, v).await?;
                    }
                }
                14 | 15 => {
                    let e = io.read_u8().await?;
                    for _ in 0..i32_of(io).await? {
                        skip(io, e).await?;
                    }
                }
                other => return Err(std::io::Error::other(format!("thrift type {other}"))),
            }
            Ok(())
        })
    }

    /// The `message` (field 1) of an exception struct, the rest skipped.
    async fn message_of<S: AsyncRead + Unpin + Send>(io: &mut S) -> std::io::Result<String> {
        let mut message = String::new();
        loop {
            let t = io.read_u8().await?;
            if t == 0 {
                return Ok(message);
            }
            if io.read_i16().await? == 1 && t == 11 {
                message = String::from_utf8_lossy(&bytes_of(io).await?).into_owned();
            } else {
                skip(io, t).await?;
            }
        }
    }

    /// Read one reply (binary protocol, strict).
    pub async fn reply<S: AsyncRead + Unpin + Send>(io: &mut S) -> std::io::Result<Reply> {
        let version = i32_of(io).await?;
        let kind = version & 0xff;
        bytes_of(io).await?; // name
        i32_of(io).await?; // seqid
        if kind == 3 {
            return Ok(Reply::Application(message_of(io).await?));
        }
        let mut result = Reply::Ok;
        loop {
            let t = io.read_u8().await?;
            if t == 0 {
                break;
            }
            let id = io.read_i16().await?;
            if id == 0 && t == 8 {
                result = Reply::I32(i32_of(io).await?);
            } else if id == 0 && t == 15 {
                let elem = io.read_u8().await?;
                let mut names = Vec::new();
                let count = i32_of(io).await?;
                for _ in 0..count {
                    if elem == 11 {
                        names.push(String::from_utf8_lossy(&bytes_of(io).await?).into_owned());
                    } else {
                        skip(io, elem).await?;
                    }
                }
                // A list of strings is the names; any other list (rows) a plain success.
                result = if elem == 11 {
                    Reply::Names(names)
                } else {
                    Reply::Rows(usize::try_from(count).unwrap_or(0))
                };
            } else if id > 0 && t == 12 {
                result = Reply::Exception(id, message_of(io).await?);
            } else {
                skip(io, t).await?;
            }
        }
        Ok(result)
    }

    /// Send `method(args)` and read its reply.
    pub async fn invoke<S: AsyncRead + AsyncWrite + Unpin + Send>(
        io: &mut S,
        method: &str,
        args: &[Arg<'_>],
    ) -> std::io::Result<Reply> {
        io.write_all(&call(method, 1, args)).await?;
        io.flush().await?;
        reply(io).await
    }
}
