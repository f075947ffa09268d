//! TLS for the server's listeners (rustls with ring; no OpenSSL): the configuration from PEM
//! files (`certs`), reloading it on SIGHUP without dropping connections (`reload`), the
//! accepted connections with their peer (`incoming`), and the principal name a client
//! certificate carries (`identity`).
//!
//! Any listener can use it: build a [`ReloadableTls`] with its ALPN protocols, accept through
//! [`incoming`] (or call [`ReloadableTls::acceptor`] per connection in its own loop) and read
//! each request's [`Peer`]. This module must never authenticate or authorize; it only says
//! who the peer is (that is `auth/`).

pub mod certs;
pub mod identity;
pub mod incoming;
pub mod reload;

pub use certs::{TlsError, TlsFiles};
pub use incoming::{Connection, Incoming, Peer, incoming};
pub use reload::ReloadableTls;

/// The ALPN protocols of the gRPC listener (HTTP/2 only).
pub const GRPC_ALPN: &[&[u8]] = &[b"h2"];
