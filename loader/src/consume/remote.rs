//! How the gRPC sink reaches its server: a [`Remote`] holds the URL, the function that opens
//! a channel to it, and what every request carries (the caller's credentials). The loader
//! never depends on the server crate, so `strata consume` passes in the `strata` client's one
//! connect (TLS for `https://` URLs, CA, client certificate) and its bearer token; without
//! one ([`Remote::plain`]) the channel is plain, as a test or an embedder on loopback uses.
//!
//! This file must never retry (the sink does) nor log a request's metadata (it holds the
//! token).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use strata_proto::v1::strata_client::StrataClient;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use super::sink::{MAX_MESSAGE_BYTES, SinkError};

/// A channel being opened. Its error's code says whether to retry: UNAVAILABLE (the server
/// cannot be reached yet) is retried, anything else (a bad URL, an unreadable CA file) stops
/// the consumer with the message, which names the URL or the file.
pub type ChannelFuture = Pin<Box<dyn Future<Output = Result<Channel, tonic::Status>> + Send>>;

type Connect = dyn Fn() -> ChannelFuture + Send + Sync;
type Decorate =
    dyn Fn(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Send + Sync;

/// Adds the remote's credentials to every request.
#[derive(Clone)]
pub struct Credentials(Option<Arc<Decorate>>);

impl Interceptor for Credentials {
    fn call(&mut self, req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        match &self.0 {
            Some(decorate) => decorate(req),
            None => Ok(req),
        }
    }
}

/// The client the sink calls through.
pub type SinkClient = StrataClient<InterceptedService<Channel, Credentials>>;

/// A server and how to reach it.
#[derive(Clone)]
pub struct Remote {
    url: String,
    connect: Arc<Connect>,
    credentials: Credentials,
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote").field("url", &self.url).finish()
    }
}

impl Remote {
    /// `url` over a plain channel, without credentials.
    pub fn plain(url: &str) -> Result<Remote, SinkError> {
        let endpoint = Endpoint::from_shared(url.to_owned()).map_err(|e| SinkError::Url {
            url: url.to_owned(),
            why: e.to_string(),
        })?;
        let endpoint = endpoint
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true);
        let shown = url.to_owned();
        Ok(Remote::new(
            url,
            move || {
                let (endpoint, url) = (endpoint.clone(), shown.clone());
                Box::pin(async move {
                    endpoint.connect().await.map_err(|e| {
                        tonic::Status::unavailable(format!("cannot connect to {url}: {e}"))
                    })
                })
            },
            None,
        ))
    }

    /// `url`, its channels opened by `connect`, each request passed through `decorate` (to
    /// add the caller's token).
    pub fn new(
        url: &str,
        connect: impl Fn() -> ChannelFuture + Send + Sync + 'static,
        decorate: Option<Arc<Decorate>>,
    ) -> Remote {
        Remote {
            url: url.to_owned(),
            connect: Arc::new(connect),
            credentials: Credentials(decorate),
        }
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A new client (see [`ChannelFuture`] for its errors).
    pub async fn client(&self) -> Result<SinkClient, tonic::Status> {
        let channel = (self.connect)().await?;
        Ok(
            StrataClient::with_interceptor(channel, self.credentials.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
    }
}
