//! Oversized messages: tonic rejects a message above `max_decoding_message_size` with
//! OUT_OF_RANGE, while gRPC (and Strata's contract) say RESOURCE_EXHAUSTED. This module turns
//! one into the other: [`remap`] for statuses the service sees itself (streamed requests), and
//! [`layer`] for statuses tonic writes into response headers before the service runs
//! (unary and server-streaming requests).
//!
//! It must never touch any other status.

use tonic::codegen::http;
use tonic::{Code, Status};
use tower::util::MapResponseLayer;

const TONIC_TOO_LARGE: &str = "decoded message length too large";

/// RESOURCE_EXHAUSTED naming the size and the limit if `status` is tonic's oversized-message
/// error; otherwise `None`.
pub fn remap(status: &Status) -> Option<Status> {
    if status.code() != Code::OutOfRange || !status.message().contains(TONIC_TOO_LARGE) {
        return None;
    }
    let nums: Vec<&str> = status
        .message()
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .collect();
    let message = match nums.as_slice() {
        [found, limit] => format!(
            "request message of {found} bytes exceeds the server's message limit of {limit} \
             bytes (max_message_bytes)"
        ),
        _ => format!(
            "request message exceeds the server's message limit (max_message_bytes): {}",
            status.message()
        ),
    };
    Some(Status::resource_exhausted(message))
}

/// Rewrites an oversized-message status in a response's headers.
fn rewrite<B>(mut resp: http::Response<B>) -> http::Response<B> {
    if let Some(status) = Status::from_header_map(resp.headers())
        && let Some(new) = remap(&status)
    {
        // add_header fails only on a message that cannot be a header; keep tonic's then.
        let _ = new.add_header(resp.headers_mut());
    }
    resp
}

/// A tower layer applying [`remap`] to every response's header status.
pub fn layer<B>() -> MapResponseLayer<fn(http::Response<B>) -> http::Response<B>> {
    MapResponseLayer::new(rewrite::<B> as fn(http::Response<B>) -> http::Response<B>)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tonic_oversize_becomes_resource_exhausted() {
        let s = Status::out_of_range(
            "Error, decoded message length too large: found 9000000 bytes, the limit is: 4194304 bytes",
        );
        let r = remap(&s).expect("remapped");
        assert_eq!(r.code(), Code::ResourceExhausted);
        assert!(r.message().contains("9000000"), "{}", r.message());
        assert!(r.message().contains("4194304"), "{}", r.message());
    }

    #[test]
    fn other_statuses_are_left_alone() {
        assert!(remap(&Status::out_of_range("seek past end")).is_none());
        assert!(remap(&Status::not_found("table not found: t")).is_none());
    }

    #[test]
    fn header_status_is_rewritten() {
        let s = Status::out_of_range(
            "Error, decoded message length too large: found 10 bytes, the limit is: 5 bytes",
        );
        let resp: http::Response<()> = s.into_http();
        let resp = rewrite(resp);
        let got = Status::from_header_map(resp.headers()).expect("status");
        assert_eq!(got.code(), Code::ResourceExhausted);
    }
}
