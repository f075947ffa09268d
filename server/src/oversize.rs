//! Oversized messages: tonic rejects a message above its size limits with OUT_OF_RANGE, while
//! gRPC (and Strata's contract) say RESOURCE_EXHAUSTED. This module turns one into the other,
//! in both directions: a request above `max_decoding_message_size` and a reply above
//! `max_encoding_message_size`.
//!
//! [`remap`] is for statuses the service sees itself (streamed requests); [`layer`] rewrites
//! the statuses tonic writes without the service: in a response's headers (a request rejected
//! before the service runs) and in its trailers (a reply that failed to encode, unary or
//! streamed). The service keeps its replies below the limit itself (Scan splits large rows,
//! Get refuses them by name: `reply.rs`); this is the net under that.
//!
//! It must never touch any other status.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Frame;
use tonic::codegen::http::{self, HeaderMap};
use tonic::{Code, Status};
use tower::util::MapResponseLayer;

const TONIC_REQUEST_TOO_LARGE: &str = "decoded message length too large";
const TONIC_REPLY_TOO_LARGE: &str = "encoded message length too large";

/// RESOURCE_EXHAUSTED naming the size and the limit if `status` is tonic's oversized-message
/// error (either direction); otherwise `None`.
pub fn remap(status: &Status) -> Option<Status> {
    if status.code() != Code::OutOfRange {
        return None;
    }
    let what = if status.message().contains(TONIC_REQUEST_TOO_LARGE) {
        "request"
    } else if status.message().contains(TONIC_REPLY_TOO_LARGE) {
        "reply"
    } else {
        return None;
    };
    let nums: Vec<&str> = status
        .message()
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .collect();
    let message = match nums.as_slice() {
        [found, limit] => format!(
            "{what} message of {found} bytes exceeds the server's message limit of {limit} \
             bytes (max_message_bytes)"
        ),
        _ => format!(
            "{what} message exceeds the server's message limit (max_message_bytes): {}",
            status.message()
        ),
    };
    Some(Status::resource_exhausted(message))
}

/// Rewrites an oversized-message status in a header (or trailer) map.
fn rewrite_map(map: &mut HeaderMap) {
    if let Some(status) = Status::from_header_map(map)
        && let Some(new) = remap(&status)
    {
        // add_header fails only on a message that cannot be a header; keep tonic's then.
        let _ = new.add_header(map);
    }
}

/// Rewrites an oversized-message status in a response's headers, and wraps its body so that
/// the trailers are rewritten too.
fn rewrite(resp: http::Response<tonic::body::Body>) -> http::Response<tonic::body::Body> {
    let (mut parts, body) = resp.into_parts();
    rewrite_map(&mut parts.headers);
    http::Response::from_parts(parts, tonic::body::Body::new(RemapTrailers(body)))
}

/// A response body whose trailers pass through [`rewrite_map`].
struct RemapTrailers(tonic::body::Body);

impl http_body::Body for RemapTrailers {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        match Pin::new(&mut self.0).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) if frame.is_trailers() => {
                Poll::Ready(Some(Ok(match frame.into_trailers() {
                    Ok(mut trailers) => {
                        rewrite_map(&mut trailers);
                        Frame::trailers(trailers)
                    }
                    Err(frame) => frame,
                })))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.0.size_hint()
    }
}

type Rewrite = fn(http::Response<tonic::body::Body>) -> http::Response<tonic::body::Body>;

/// A tower layer applying [`remap`] to every response's header and trailer status.
pub fn layer() -> MapResponseLayer<Rewrite> {
    MapResponseLayer::new(rewrite as Rewrite)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;

    #[test]
    fn tonic_oversize_becomes_resource_exhausted() {
        let s = Status::out_of_range(
            "Error, decoded message length too large: found 9000000 bytes, the limit is: 4194304 bytes",
        );
        let r = remap(&s).expect("remapped");
        assert_eq!(r.code(), Code::ResourceExhausted);
        assert!(
            r.message().starts_with("request message"),
            "{}",
            r.message()
        );
        assert!(r.message().contains("9000000"), "{}", r.message());
        assert!(r.message().contains("4194304"), "{}", r.message());
    }

    #[test]
    fn an_oversized_reply_becomes_resource_exhausted_too() {
        let s = Status::out_of_range(
            "Error, encoded message length too large: found 75497719 bytes, the limit is: 67108864 bytes",
        );
        let r = remap(&s).expect("remapped");
        assert_eq!(r.code(), Code::ResourceExhausted);
        assert!(r.message().starts_with("reply message"), "{}", r.message());
        assert!(r.message().contains("75497719"), "{}", r.message());
    }

    #[test]
    fn other_statuses_are_left_alone() {
        assert!(remap(&Status::out_of_range("seek past end")).is_none());
        assert!(remap(&Status::not_found("table not found: t")).is_none());
        assert!(
            remap(&Status::internal("encoded message length too large: 1 2")).is_none(),
            "only OUT_OF_RANGE is tonic's"
        );
    }

    #[test]
    fn header_status_is_rewritten() {
        let s = Status::out_of_range(
            "Error, decoded message length too large: found 10 bytes, the limit is: 5 bytes",
        );
        let resp = rewrite(s.into_http());
        let got = Status::from_header_map(resp.headers()).expect("status");
        assert_eq!(got.code(), Code::ResourceExhausted);
    }

    #[tokio::test]
    async fn trailer_status_is_rewritten() {
        let s = Status::out_of_range(
            "Error, encoded message length too large: found 10 bytes, the limit is: 5 bytes",
        );
        let mut trailers = HeaderMap::new();
        s.add_header(&mut trailers).expect("header map");
        let body = http_body_util_like::Trailers(Some(trailers));
        let resp = rewrite(http::Response::new(tonic::body::Body::new(body)));
        let mut body = resp.into_body();
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx))
            .await
            .expect("a frame")
            .expect("not an error");
        let trailers = frame.into_trailers().expect("trailers");
        let got = Status::from_header_map(&trailers).expect("status");
        assert_eq!(got.code(), Code::ResourceExhausted);
        assert!(
            got.message().contains("reply message of 10 bytes"),
            "{}",
            got.message()
        );
    }

    /// A body of one trailers frame (what tonic sends after a failed encode).
    mod http_body_util_like {
        use super::*;

        pub struct Trailers(pub Option<HeaderMap>);

        impl http_body::Body for Trailers {
            type Data = Bytes;
            type Error = Status;

            fn poll_frame(
                mut self: Pin<&mut Self>,
                _cx: &mut Context<'_>,
            ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
                Poll::Ready(self.0.take().map(|t| Ok(Frame::trailers(t))))
            }
        }
    }
}
