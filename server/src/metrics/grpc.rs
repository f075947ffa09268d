//! A tower layer for the tonic server that records every gRPC call with [`observe_rpc`]:
//! the method from the request path, the status code from the response headers
//! (trailers-only replies, errors before the call ran) or trailers (everything else), and the
//! time until the response body's end, so a streaming call counts whole. A call whose body is
//! dropped before its end (client gone) counts as CANCELLED.
//!
//! This module must never change a request or a response.
//!
//! [`observe_rpc`]: super::observe_rpc

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http_body::{Body, Frame, SizeHint};
use tonic::Code;
use tower::{Layer, Service};

use super::{Api, observe_rpc};
use crate::status::code_name;

/// The package-qualified name of the Strata service, whose methods are labelled bare.
const STRATA_SERVICE: &str = "strata.v1.Strata";

/// The layer; see the module comment.
#[derive(Clone, Copy, Debug, Default)]
pub struct GrpcMetricsLayer;

impl<S> Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;
    fn layer(&self, inner: S) -> GrpcMetrics<S> {
        GrpcMetrics { inner }
    }
}

/// The service the layer wraps around the gRPC routes.
#[derive(Clone, Debug)]
pub struct GrpcMetrics<S> {
    inner: S,
}

/// The `method` label of a request path: `Get` for `/strata.v1.Strata/Get`,
/// `grpc.health.v1.Health/Check` for other services, `unknown` for a path that is no gRPC
/// method name.
pub fn method_label(path: &str) -> String {
    let name = path.strip_prefix('/').unwrap_or(path);
    let well_formed = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'/');
    if !well_formed {
        return "unknown".to_string();
    }
    match name.split_once('/') {
        Some((STRATA_SERVICE, method)) if !method.is_empty() => method.to_string(),
        _ => name.to_string(),
    }
}

fn status_in(headers: &http::HeaderMap) -> Option<Code> {
    let v = headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .parse::<i32>()
        .ok()?;
    Some(Code::from_i32(v))
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for GrpcMetrics<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Body + Unpin + Send + 'static,
{
    type Response = http::Response<ObservedBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let method = method_label(req.uri().path());
        let started = Instant::now();
        let call = self.inner.call(req);
        Box::pin(async move {
            match call.await {
                Ok(resp) => {
                    let early = status_in(resp.headers());
                    Ok(resp.map(|body| ObservedBody {
                        inner: body,
                        pending: Some(Pending {
                            method,
                            started,
                            early,
                        }),
                    }))
                }
                Err(e) => {
                    observe_rpc(Api::Grpc, &method, "INTERNAL", started.elapsed());
                    Err(e)
                }
            }
        })
    }
}

/// What is recorded when the body ends.
#[derive(Debug)]
struct Pending {
    method: String,
    started: Instant,
    /// A status already in the response headers.
    early: Option<Code>,
}

impl Pending {
    fn finish(self, code: Code) {
        observe_rpc(
            Api::Grpc,
            &self.method,
            code_name(code),
            self.started.elapsed(),
        );
    }
}

/// A response body that records its call when it ends (or is dropped unfinished).
#[derive(Debug)]
pub struct ObservedBody<B> {
    inner: B,
    pending: Option<Pending>,
}

impl<B: Body + Unpin> Body for ObservedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref()
                    && let Some(p) = this.pending.take()
                {
                    let code = status_in(trailers).or(p.early).unwrap_or(Code::Unknown);
                    p.finish(code);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(p) = this.pending.take() {
                    p.finish(Code::Internal);
                }
            }
            Poll::Ready(None) => {
                if let Some(p) = this.pending.take() {
                    let code = p.early.unwrap_or(Code::Unknown);
                    p.finish(code);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for ObservedBody<B> {
    fn drop(&mut self) {
        if let Some(p) = self.pending.take() {
            // A trailers-only reply may be dropped without being polled: its status counts.
            let code = p.early.unwrap_or(Code::Cancelled);
            p.finish(code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_labelled_by_name() {
        assert_eq!(method_label("/strata.v1.Strata/Get"), "Get");
        assert_eq!(
            method_label("/grpc.health.v1.Health/Check"),
            "grpc.health.v1.Health/Check"
        );
        assert_eq!(method_label("/strata.v1.Strata/"), "strata.v1.Strata/");
        assert_eq!(method_label("/a\"b"), "unknown");
        assert_eq!(method_label(""), "unknown");
        assert_eq!(method_label(&format!("/{}", "x".repeat(200))), "unknown");
    }

    #[test]
    fn codes_have_their_canonical_names() {
        assert_eq!(code_name(Code::NotFound), "NOT_FOUND");
        assert_eq!(code_name(Code::from_i32(8)), "RESOURCE_EXHAUSTED");
        let mut h = http::HeaderMap::new();
        h.insert("grpc-status", http::HeaderValue::from_static("5"));
        assert_eq!(status_in(&h), Some(Code::NotFound));
    }
}
