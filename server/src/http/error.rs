//! How failures become HTTP responses, in one place: every error the pages and the API
//! meet is a gRPC status first (the server's one mapping from engine errors,
//! `status.rs`), and its code picks the HTTP status here. Pages get a short HTML page, the
//! API a JSON object `{"error": ..., "code": ...}`.
//!
//! This module must never show an error's message unescaped.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use tonic::Code;

use super::markup;
use super::pages::layout;
use crate::status::code_name;

/// An error of a page or of the API.
#[derive(Debug)]
pub struct HttpError {
    /// The gRPC status it comes from.
    pub status: tonic::Status,
    /// Answer as JSON (the API) rather than HTML (pages).
    pub json: bool,
}

impl HttpError {
    /// For a page.
    pub fn page(status: tonic::Status) -> HttpError {
        HttpError {
            status,
            json: false,
        }
    }

    /// For the API.
    pub fn api(status: tonic::Status) -> HttpError {
        HttpError { status, json: true }
    }
}

/// The HTTP status of a gRPC code.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => {
            StatusCode::BAD_REQUEST
        }
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable | Code::Cancelled => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let code = http_status(self.status.code());
        if self.json {
            let body = serde_json::json!({
                "error": self.status.message(),
                "code": code_name(self.status.code()),
            });
            return (code, Json(body)).into_response();
        }
        let title = code.canonical_reason().unwrap_or("Error");
        let body = format!(
            "<p class=\"error\">{}</p><p><a href=\"/\">Dashboard</a> · <a href=\"/tables\">Tables</a></p>",
            markup::text(self.status.message())
        );
        (code, Html(layout::page(title, &body, None))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_http_statuses() {
        assert_eq!(http_status(Code::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(http_status(Code::InvalidArgument), StatusCode::BAD_REQUEST);
        assert_eq!(
            http_status(Code::DataLoss),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            http_status(Code::Unavailable),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
