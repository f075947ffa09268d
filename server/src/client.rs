//! Connecting to a Strata server: the one place every client command (`strata tables`,
//! `get`, ..., `load --server`, `bench`, `demo`) gets its [`Client`]. It applies the
//! connection's security ([`ClientSecurity`]: TLS for `https://` URLs with an optional CA
//! and client certificate, and a bearer token sent as `authorization: Bearer TOKEN` on every
//! call) and message limits that match the server's defaults (tonic's client default of
//! 4 MiB would refuse large rows and values).
//!
//! It must never retry or hide a connection error, and never print or log a token.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use strata_proto::v1::strata_client::StrataClient;
use tokio::net::TcpStream;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::auth::exposure::is_loopback;
use crate::coalesce::Coalescing;
use crate::config::DEFAULT_MAX_MESSAGE_BYTES;

/// The environment variable holding the token when `--token-file` is not given.
pub const TOKEN_ENV: &str = "STRATA_TOKEN";

/// A Strata client as every command uses it (the token, if any, on every call).
pub type Client = StrataClient<InterceptedService<Transport, Bearer>>;

/// How a [`Client`]'s calls reach the server: through tonic's [`Channel`] (every command:
/// TLS, and a new connection when the old one broke), or straight over one HTTP/2
/// connection ([`Remote::connect_direct`], `strata bench`'s clients).
///
/// Why the direct kind exists (docs/design/grpc-path.md): a `Channel` sends every call
/// through a `tower::buffer` worker task and a reconnect layer before the connection's task
/// sees it, one more task hop and wake-up per call; with client and server on two cores that
/// hop was a measurable part of a point get's CPU. A direct connection hands the request to
/// hyper's HTTP/2 client in the caller's own task and never reconnects: once it breaks every
/// call fails, which is what a benchmark wants to count and what a long-lived command must
/// not have (so only `bench` uses it).
#[derive(Clone, Debug)]
pub enum Transport {
    /// tonic's channel.
    Channel(Channel),
    /// One HTTP/2 connection, driven by hyper's client.
    Direct(hyper::client::conn::http2::SendRequest<tonic::body::Body>),
}

impl tower::Service<http::Request<tonic::body::Body>> for Transport {
    type Response = http::Response<tonic::body::Body>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        match self {
            Transport::Channel(c) => c.poll_ready(cx).map_err(Into::into),
            Transport::Direct(d) => d.poll_ready(cx).map_err(Into::into),
        }
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        match self {
            Transport::Channel(c) => {
                let call = c.call(request);
                Box::pin(async move { call.await.map_err(Into::into) })
            }
            Transport::Direct(d) => {
                let call = d.send_request(request);
                Box::pin(async move { Ok(call.await?.map(tonic::body::Body::new)) })
            }
        }
    }
}

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL is not a valid endpoint.
    #[error("invalid server URL {url:?}: {source}")]
    Url {
        /// The URL given.
        url: String,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// TLS options were given for a plain `http://` URL.
    #[error("{flag} needs an https:// server URL, got {url:?}")]
    TlsNeedsHttps {
        /// The flag given.
        flag: &'static str,
        /// The URL given.
        url: String,
    },
    /// A TLS or token file could not be read.
    #[error("cannot read {flag} {path}: {source}")]
    Read {
        /// The flag naming the file.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The token is empty or cannot travel in a header.
    #[error("the token {0}")]
    BadToken(&'static str),
    /// The TLS settings were refused (a bad PEM file, for instance).
    #[error("TLS settings for {url}: {source}")]
    Tls {
        /// The URL given.
        url: String,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// The server could not be reached.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL given.
        url: String,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// A direct connection ([`Remote::connect_direct`]) could not be made.
    #[error("cannot connect to {url}: {source}")]
    Direct {
        /// The URL given.
        url: String,
        /// Why (the TCP connect or the HTTP/2 handshake).
        #[source]
        source: std::io::Error,
    },
}

/// The connection flags shared by every client command.
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args)]
pub struct ClientSecurityArgs {
    /// PEM CA certificate(s) to verify an https:// server with [default: the system's roots]
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// PEM client certificate for servers that require one (mTLS; needs --tls-client-key)
    #[arg(long, value_name = "FILE", requires = "tls_client_key")]
    pub tls_client_cert: Option<PathBuf>,
    /// PEM private key of --tls-client-cert
    #[arg(long, value_name = "FILE", requires = "tls_client_cert")]
    pub tls_client_key: Option<PathBuf>,
    /// File holding the bearer token (surrounding whitespace is trimmed) [default: the
    /// STRATA_TOKEN environment variable]
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

impl ClientSecurityArgs {
    /// The security of a connection: the files as given, the token from `--token-file` or
    /// else `$STRATA_TOKEN`.
    pub fn resolve(&self) -> Result<ClientSecurity, ConnectError> {
        self.resolve_with(std::env::var(TOKEN_ENV).ok())
    }

    /// [`resolve`](Self::resolve) with `env` as the value of `$STRATA_TOKEN`.
    pub fn resolve_with(&self, env: Option<String>) -> Result<ClientSecurity, ConnectError> {
        let token = match &self.token_file {
            Some(path) => Some(read("--token-file", path)?),
            None => env.map(String::into_bytes),
        };
        let token = token
            .map(|bytes| {
                let text =
                    String::from_utf8(bytes).map_err(|_| ConnectError::BadToken("is not UTF-8"))?;
                let trimmed = text.trim();
                if trimmed.is_empty() {
                    return Err(ConnectError::BadToken("is empty"));
                }
                Ok(trimmed.to_owned())
            })
            .transpose()?;
        Ok(ClientSecurity {
            tls_ca: self.tls_ca.clone(),
            tls_client_cert: self.tls_client_cert.clone(),
            tls_client_key: self.tls_client_key.clone(),
            token,
        })
    }
}

/// How to secure one connection.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClientSecurity {
    /// CA certificates for the server's certificate (default: the system's roots).
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (mTLS).
    pub tls_client_cert: Option<PathBuf>,
    /// Its key.
    pub tls_client_key: Option<PathBuf>,
    /// Bearer token sent with every call.
    pub token: Option<String>,
}

impl fmt::Debug for ClientSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSecurity")
            .field("tls_ca", &self.tls_ca)
            .field("tls_client_cert", &self.tls_client_cert)
            .field("tls_client_key", &self.tls_client_key)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

fn read(flag: &'static str, path: &Path) -> Result<Vec<u8>, ConnectError> {
    std::fs::read(path).map_err(|source| ConnectError::Read {
        flag,
        path: path.to_path_buf(),
        source,
    })
}

impl ClientSecurity {
    /// The TLS flag given, if any (they all need an https:// URL).
    fn tls_flag(&self) -> Option<&'static str> {
        if self.tls_ca.is_some() {
            Some("--tls-ca")
        } else if self.tls_client_cert.is_some() {
            Some("--tls-client-cert")
        } else {
            None
        }
    }

    fn tls_config(&self) -> Result<ClientTlsConfig, ConnectError> {
        let mut tls = ClientTlsConfig::new();
        tls = match &self.tls_ca {
            Some(ca) => tls.ca_certificate(Certificate::from_pem(read("--tls-ca", ca)?)),
            None => tls.with_enabled_roots(),
        };
        if let (Some(cert), Some(key)) = (&self.tls_client_cert, &self.tls_client_key) {
            tls = tls.identity(Identity::from_pem(
                read("--tls-client-cert", cert)?,
                read("--tls-client-key", key)?,
            ));
        }
        Ok(tls)
    }

    /// The interceptor sending the token.
    pub fn bearer(&self) -> Result<Bearer, ConnectError> {
        let Some(token) = &self.token else {
            return Ok(Bearer(None));
        };
        let mut value: AsciiMetadataValue = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| ConnectError::BadToken("has characters a header cannot carry"))?;
        value.set_sensitive(true);
        Ok(Bearer(Some(value)))
    }
}

/// Adds `authorization: Bearer TOKEN` to every call (nothing without a token).
#[derive(Clone, Debug)]
pub struct Bearer(Option<AsciiMetadataValue>);

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A server to connect to: its URL and how to secure the connection (what a command's
/// `--server URL` and security flags say).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Remote {
    /// `http://HOST:PORT` or `https://HOST:PORT`.
    pub url: String,
    /// TLS files and token.
    pub security: ClientSecurity,
}

impl Remote {
    /// `url` without TLS files or token (an in-process server, a test).
    pub fn plain(url: impl Into<String>) -> Remote {
        Remote {
            url: url.into(),
            security: ClientSecurity::default(),
        }
    }

    /// A new connection ([`connect`]).
    pub async fn connect(&self) -> Result<Client, ConnectError> {
        connect(&self.url, &self.security).await
    }

    /// A new connection driven directly ([`Transport::Direct`]) for a plain `http://` URL;
    /// for `https://` the same as [`Remote::connect`]. It is never re-established: after it
    /// breaks, every call of the client fails.
    pub async fn connect_direct(&self) -> Result<Client, ConnectError> {
        let endpoint = endpoint(&self.url)?;
        if endpoint.uri().scheme_str() == Some("https") {
            return self.connect().await;
        }
        check_plain(&self.url, endpoint.uri(), &self.security)?;
        let bearer = self.security.bearer()?;
        let failed = |source: std::io::Error| ConnectError::Direct {
            url: self.url.clone(),
            source,
        };
        let io = connect_plain(endpoint.uri().clone())
            .await
            .map_err(failed)?;
        let (send, connection) =
            hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .handshake(io)
                .await
                .map_err(|e| failed(std::io::Error::other(e)))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "direct client connection ended");
            }
        });
        // The origin makes every request URI absolute (`:scheme` and `:authority`), which
        // the channel's own layer adds otherwise.
        let inner = InterceptedService::new(Transport::Direct(send), bearer);
        Ok(with_limits(StrataClient::with_origin(
            inner,
            endpoint.uri().clone(),
        )))
    }
}

/// Connect to `url` (`http://HOST:PORT`, or `https://HOST:PORT` for TLS) with `security`.
pub async fn connect(url: &str, security: &ClientSecurity) -> Result<Client, ConnectError> {
    let channel = channel(url, security).await?;
    Ok(client(channel, security.bearer()?))
}

/// Longest a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connected channel to `url` with `security`'s TLS (shareable with the health client;
/// the token is the interceptor's, see [`client`]).
pub async fn channel(url: &str, security: &ClientSecurity) -> Result<Channel, ConnectError> {
    let mut endpoint = endpoint(url)?;
    let https = endpoint.uri().scheme_str() == Some("https");
    if https {
        endpoint = endpoint
            .tls_config(security.tls_config()?)
            .map_err(|source| ConnectError::Tls {
                url: url.to_owned(),
                source,
            })?;
    } else {
        check_plain(url, endpoint.uri(), security)?;
    }
    let connected = if https {
        endpoint.connect().await
    } else {
        // Plain TCP through our own connector, so the connection's writes are coalesced
        // (coalesce.rs: a call's headers and message in one syscall, and the calls of
        // concurrent clients together). TLS keeps tonic's connector.
        endpoint
            .connect_with_connector(tower::service_fn(connect_plain))
            .await
    };
    connected.map_err(|source| ConnectError::Connect {
        url: url.to_owned(),
        source,
    })
}

/// `url` as an endpoint with the connect timeout and no Nagle delay.
fn endpoint(url: &str) -> Result<Endpoint, ConnectError> {
    Ok(Endpoint::from_shared(url.to_owned())
        .map_err(|source| ConnectError::Url {
            url: url.to_owned(),
            source,
        })?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true))
}

/// For a plain `http://` URL: refuse TLS options, and warn before a token goes to another
/// machine unencrypted.
fn check_plain(url: &str, uri: &http::Uri, security: &ClientSecurity) -> Result<(), ConnectError> {
    if let Some(flag) = security.tls_flag() {
        return Err(ConnectError::TlsNeedsHttps {
            flag,
            url: url.to_owned(),
        });
    }
    if security.token.is_some() && !is_loopback_host(uri.host()) {
        tracing::warn!(
            url,
            "sending a token over plain http:// to another machine; use an https:// URL"
        );
    }
    Ok(())
}

/// A plain TCP connection to `uri`'s host and port (80 without one), without Nagle's delay,
/// its writes coalesced per flush.
async fn connect_plain(uri: http::Uri) -> std::io::Result<TokioIo<Coalescing<TcpStream>>> {
    let host = uri
        .host()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no host"))?;
    let port = uri.port_u16().unwrap_or(80);
    // The endpoint's connect timeout, here too (a custom connector is ours to bound).
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    Ok(TokioIo::new(Coalescing::new(stream)))
}

fn is_loopback_host(host: Option<&str>) -> bool {
    match host {
        Some("localhost") => true,
        Some(h) => h
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .is_ok_and(is_loopback),
        None => false,
    }
}

/// A Strata client over `channel` sending `bearer`'s token, with the server's default
/// message limits.
pub fn client(channel: Channel, bearer: Bearer) -> Client {
    with_limits(StrataClient::new(InterceptedService::new(
        Transport::Channel(channel),
        bearer,
    )))
}

/// `client` with the server's default message limits.
fn with_limits(client: Client) -> Client {
    let max = DEFAULT_MAX_MESSAGE_BYTES as usize;
    client
        .max_decoding_message_size(max)
        .max_encoding_message_size(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_file_wins_over_the_environment_and_is_trimmed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("token");
        std::fs::write(&file, "  from-file\n").expect("write");
        let args = ClientSecurityArgs {
            token_file: Some(file),
            ..ClientSecurityArgs::default()
        };
        let s = args.resolve_with(Some("from-env".into())).expect("ok");
        assert_eq!(s.token.as_deref(), Some("from-file"));
        let s = ClientSecurityArgs::default()
            .resolve_with(Some(" from-env ".into()))
            .expect("ok");
        assert_eq!(s.token.as_deref(), Some("from-env"));
        let s = ClientSecurityArgs::default()
            .resolve_with(None)
            .expect("ok");
        assert_eq!(s.token, None);
    }

    #[test]
    fn bad_tokens_and_missing_files_are_reported() {
        let e = ClientSecurityArgs::default()
            .resolve_with(Some("  \n".into()))
            .expect_err("empty");
        assert!(e.to_string().contains("empty"), "{e}");
        let args = ClientSecurityArgs {
            token_file: Some("/nonexistent/token".into()),
            ..ClientSecurityArgs::default()
        };
        let e = args.resolve_with(None).expect_err("missing");
        assert!(
            e.to_string().contains("--token-file /nonexistent/token"),
            "{e}"
        );
        let s = ClientSecurity {
            token: Some("a\u{7f}b".into()),
            ..ClientSecurity::default()
        };
        assert!(matches!(s.bearer(), Err(ConnectError::BadToken(_))));
    }

    #[test]
    fn debug_output_hides_the_token() {
        let s = ClientSecurity {
            token: Some("s3cret".into()),
            ..ClientSecurity::default()
        };
        assert!(!format!("{s:?}").contains("s3cret"));
    }

    #[tokio::test]
    async fn tls_flags_need_an_https_url() {
        let s = ClientSecurity {
            tls_ca: Some("ca.pem".into()),
            ..ClientSecurity::default()
        };
        let e = connect("http://127.0.0.1:1", &s)
            .await
            .expect_err("plain url");
        assert!(
            matches!(
                e,
                ConnectError::TlsNeedsHttps {
                    flag: "--tls-ca",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        assert!(is_loopback_host(Some("127.0.0.1")));
        assert!(is_loopback_host(Some("[::1]")));
        assert!(is_loopback_host(Some("localhost")));
        assert!(!is_loopback_host(Some("db.example")));
        assert!(!is_loopback_host(Some("10.0.0.1")));
    }
}
