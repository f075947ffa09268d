//! The gRPC listener's door. A tower layer ([`GuardLayer`]) in front of every service
//! (Strata, health, reflection) authenticates each request from its `authorization: Bearer
//! TOKEN` metadata and its connection's client certificate, answers UNAUTHENTICATED itself
//! when that fails, authorizes the services that are not ours (health, reflection), and
//! hands the Strata service the [`Caller`] in the request's extensions. The Strata service
//! then authorizes each RPC against its table with [`StrataService`]'s one admission call
//! (the table is inside the message, which only the service decodes).
//!
//! This file only adapts gRPC to `auth/`: it must never decide a permission itself, and
//! never let a request reach a service without a principal.
//!
//! [`StrataService`]: crate::service::StrataService

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use strata_proto::v1 as pb;
use tonic::codegen::http;
use tower::{Layer, Service};

use crate::auth::{Action, Call, Credentials, Principal, Security};
use crate::status;
use crate::tls::Peer;

/// The `api` of gRPC calls in the audit log.
pub const API: &str = "grpc";

const HEALTH: &str = "grpc.health.v1.Health";
const REFLECTION: [&str; 2] = [
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// Who made a request; in the extensions of every request that passed the guard.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The authenticated principal.
    pub principal: Principal,
    /// The client's address.
    pub peer: Option<SocketAddr>,
}

impl Caller {
    /// The audit description of this caller's call of `method`.
    pub fn call<'a>(&self, method: &'a str) -> Call<'a> {
        Call {
            api: API,
            method,
            peer: self.peer,
        }
    }
}

/// A request message's table, for authorization (`None`: the RPC is about the server).
pub trait Targeted {
    /// The table the request is about.
    fn table(&self) -> Option<&str>;
}

macro_rules! targeted {
    (table: $($t:ty),* ; server: $($s:ty),* $(,)?) => {
        $(impl Targeted for $t {
            fn table(&self) -> Option<&str> {
                Some(&self.table)
            }
        })*
        $(impl Targeted for $s {
            fn table(&self) -> Option<&str> {
                None
            }
        })*
    };
}

targeted!(
    table: pb::CreateTableRequest, pb::AlterTableRequest, pb::DeleteTableRequest,
        pb::DescribeTableRequest, pb::MutateRequest, pb::MutateRowsRequest, pb::GetRequest,
        pb::ScanRequest, pb::BulkIngestRequest, pb::FlushRequest, pb::CompactRequest,
        pb::CheckAndMutateRequest, pb::IncrementRequest, pb::AppendRequest,
        pb::MultiGetRequest, pb::AggregateRequest, pb::DisableTableRequest,
        pb::EnableTableRequest;
    server: pb::ListTablesRequest, pb::ServerInfoRequest,
);

/// The bearer token of a request's `authorization` metadata: `None` without one; an
/// unusable value (another scheme, not text) is `Some("")`, which no principal has.
pub fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .unwrap_or("");
    Some(token)
}

/// The layer putting [`Guard`] in front of the router.
#[derive(Clone, Debug)]
pub struct GuardLayer {
    security: Arc<Security>,
}

impl GuardLayer {
    /// A layer judging requests with `security`.
    pub fn new(security: Arc<Security>) -> GuardLayer {
        GuardLayer { security }
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            security: self.security.clone(),
        }
    }
}

/// Authenticates every request before `S` sees it.
#[derive(Clone, Debug)]
pub struct Guard<S> {
    inner: S,
    security: Arc<Security>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, R> Service<http::Request<B>> for Guard<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Result<http::Response<R>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let uri = req.uri().clone();
        let (service, method) = uri
            .path()
            .trim_start_matches('/')
            .split_once('/')
            .unwrap_or(("", uri.path()));
        let foreign = if service == HEALTH {
            Some(Action::Health)
        } else if REFLECTION.contains(&service) {
            Some(Action::Reflection)
        } else {
            None
        };
        if foreign == Some(Action::Health) && self.security.health_is_open() {
            return Box::pin(self.inner.call(req));
        }
        let peer = req.extensions().get::<Peer>().cloned().unwrap_or_default();
        let call = Call {
            api: API,
            method,
            peer: peer.addr,
        };
        let credentials = Credentials {
            token: bearer(req.headers()),
            user: None,
            certificate: peer.certificate.as_deref(),
        };
        let principal = match self.security.authenticate(&call, credentials) {
            Ok(p) => p,
            Err(e) => return reject(status::from_unauthenticated(&e)),
        };
        if let Some(action) = foreign
            && let Err(denied) = self.security.authorize(&call, &principal, action, None)
        {
            return reject(status::from_denied(&denied));
        }
        req.extensions_mut().insert(Caller {
            principal,
            peer: peer.addr,
        });
        Box::pin(self.inner.call(req))
    }
}

fn reject<R, E>(status: tonic::Status) -> BoxFuture<Result<http::Response<R>, E>>
where
    R: Default + Send + 'static,
    E: Send + 'static,
{
    let response = status.into_http::<R>();
    Box::pin(std::future::ready(Ok(response)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(value).expect("header"),
        );
        h
    }

    #[test]
    fn the_bearer_token_is_read_from_the_authorization_metadata() {
        assert_eq!(bearer(&headers("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&headers("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(&headers("Basic dXNlcjpwdw==")), Some(""));
        assert_eq!(bearer(&headers("abc")), Some(""));
        assert_eq!(bearer(&http::HeaderMap::new()), None);
    }
}
