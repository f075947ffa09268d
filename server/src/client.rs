//! Connecting to a Strata server: a `StrataClient` whose message limits match the server's
//! defaults (tonic's client default of 4 MiB would refuse large rows and values).
//!
//! Used by the CLI, `strata demo` and tests. It must never retry or hide a connection error.

use std::time::Duration;

use strata_proto::v1::strata_client::StrataClient;
use tonic::transport::{Channel, Endpoint};

use crate::config::DEFAULT_MAX_MESSAGE_BYTES;

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
    /// The server could not be reached.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL given.
        url: String,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
}

/// Connect to `url` (e.g. `http://127.0.0.1:50051`).
pub async fn connect(url: &str) -> Result<StrataClient<Channel>, ConnectError> {
    let channel = channel(url).await?;
    Ok(client(channel))
}

/// A connected channel to `url` (shareable with the health client).
pub async fn channel(url: &str) -> Result<Channel, ConnectError> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|source| ConnectError::Url {
            url: url.to_owned(),
            source,
        })?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true);
    endpoint
        .connect()
        .await
        .map_err(|source| ConnectError::Connect {
            url: url.to_owned(),
            source,
        })
}

/// A Strata client over `channel`, with the server's default message limits.
pub fn client(channel: Channel) -> StrataClient<Channel> {
    let max = DEFAULT_MAX_MESSAGE_BYTES as usize;
    StrataClient::new(channel)
        .max_decoding_message_size(max)
        .max_encoding_message_size(max)
}
