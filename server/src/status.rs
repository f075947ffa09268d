//! How failures become gRPC statuses: the one mapping from engine [`Error`] to
//! [`tonic::Status`] ([`from_engine`]), plus the statuses for request-conversion errors and for
//! a blocking engine task that died.
//!
//! Every status message names what it is about (table, family, limit, file). This module must
//! never hide an error's cause or turn corruption into anything but DATA_LOSS.

use strata_engine::Error;
use tonic::{Code, Status};

use strata_engine::aggregate::AggregateError;

use crate::aggregation::RunError;
use crate::auth::{Denied, Unauthenticated};
use crate::convert::ConvertError;
use crate::multi_get::MultiGetError;

/// The gRPC status for an engine error.
///
/// - unknown table or family, missing ingest file: NOT_FOUND
/// - bad name, empty or oversized key, oversized value, an ingest file that is not a valid
///   table file, other bad input: INVALID_ARGUMENT
/// - an ingest path outside the ingest directories (or through a link): PERMISSION_DENIED
/// - existing table or family: ALREADY_EXISTS
/// - store read-only after a write failure, store closing, a write that gave up waiting
///   for room (`write_stall_timeout`): UNAVAILABLE (retry later; nothing was applied)
/// - a write abandoned by its caller: CANCELLED
/// - corruption, a table whose files are damaged or missing: DATA_LOSS
/// - full disk: RESOURCE_EXHAUSTED
/// - data directory locked, a read or write of a disabled table, an increment of a cell
///   that is not an 8-byte counter or past the `i64` range: FAILED_PRECONDITION
/// - other I/O errors: INTERNAL
pub fn from_engine(err: &Error) -> Status {
    let code = match err {
        Error::TableNotFound(_) | Error::FamilyNotFound { .. } | Error::FileNotFound { .. } => {
            Code::NotFound
        }
        Error::InvalidArgument(_) => Code::InvalidArgument,
        Error::PermissionDenied(_) => Code::PermissionDenied,
        Error::TableUnavailable { .. } => Code::DataLoss,
        Error::AlreadyExists(_) => Code::AlreadyExists,
        Error::ReadOnly(_) | Error::Closed | Error::Stalled { .. } => Code::Unavailable,
        Error::Cancelled(_) => Code::Cancelled,
        Error::Corruption { .. } => Code::DataLoss,
        Error::Locked { .. }
        | Error::TableDisabled(_)
        | Error::NotACounter { .. }
        | Error::CounterOverflow { .. } => Code::FailedPrecondition,
        Error::Io { .. } if err.is_no_space() => Code::ResourceExhausted,
        Error::Io { .. } => Code::Internal,
        _ => Code::Internal,
    };
    if matches!(code, Code::DataLoss | Code::Internal | Code::Unavailable) {
        tracing::error!(error = %err, "engine error");
    }
    Status::new(code, err.to_string())
}

/// The status for a failed aggregation: the engine's errors as [`from_engine`]; too many
/// distinct buckets RESOURCE_EXHAUSTED; a bad request INVALID_ARGUMENT; cancelled CANCELLED;
/// a server shutting down UNAVAILABLE.
pub fn from_aggregate(err: &RunError) -> Status {
    match err {
        RunError::Aggregate(AggregateError::Engine(e)) => from_engine(e),
        RunError::Aggregate(e @ AggregateError::TooManyBuckets { .. }) => {
            Status::resource_exhausted(e.to_string())
        }
        RunError::Aggregate(e @ AggregateError::Invalid(_)) => {
            Status::invalid_argument(e.to_string())
        }
        RunError::Aggregate(e @ AggregateError::Cancelled(_)) => Status::cancelled(e.to_string()),
        RunError::Aggregate(e) => Status::internal(e.to_string()),
        RunError::Task(e) => {
            tracing::error!(error = %e, "aggregation task failed");
            Status::internal(err.to_string())
        }
        RunError::Closed => Status::unavailable(err.to_string()),
    }
}

/// The status for a failed MultiGet: too many rows INVALID_ARGUMENT; a reply past the message
/// limit RESOURCE_EXHAUSTED naming the row; the engine's errors as [`from_engine`], with the
/// row named when it is about the row (a bad key).
pub fn from_multi_get(err: &MultiGetError) -> Status {
    match err {
        MultiGetError::TooManyRows { .. } => Status::invalid_argument(err.to_string()),
        MultiGetError::Reply(s) => Status::new(s.code(), s.message()),
        MultiGetError::Engine { source, .. } => {
            Status::new(from_engine(source).code(), err.to_string())
        }
    }
}

/// The canonical name of a gRPC status code (`NOT_FOUND`).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The status for a request the server could not turn into engine types.
pub fn from_convert(err: &ConvertError) -> Status {
    Status::invalid_argument(err.to_string())
}

/// The status for a blocking engine task that panicked or was cancelled.
pub fn from_join(err: tokio::task::JoinError) -> Status {
    tracing::error!(error = %err, "engine task failed");
    Status::internal(format!("engine task failed: {err}"))
}

/// UNAUTHENTICATED for a request without valid credentials. The message says how to send a
/// token and nothing about which principals exist.
pub fn from_unauthenticated(err: &Unauthenticated) -> Status {
    let hint = match err {
        Unauthenticated::NoCredentials | Unauthenticated::BadToken => {
            " (send the token as gRPC metadata `authorization: Bearer TOKEN`)"
        }
        _ => "",
    };
    Status::unauthenticated(format!("{err}{hint}"))
}

/// PERMISSION_DENIED naming the principal, the missing permission and the table.
pub fn from_denied(denied: &Denied) -> Status {
    Status::permission_denied(denied.to_string())
}

/// The same status with `context: ` in front of its message (e.g. `batch 3: `).
pub fn with_context(status: &Status, context: &str) -> Status {
    Status::new(status.code(), format!("{context}: {}", status.message()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(e: Error) -> Code {
        from_engine(&e).code()
    }

    #[test]
    fn engine_errors_map_to_the_documented_codes() {
        assert_eq!(code(Error::TableNotFound("t".into())), Code::NotFound);
        assert_eq!(
            code(Error::FamilyNotFound {
                table: "t".into(),
                family: "f".into()
            }),
            Code::NotFound
        );
        assert_eq!(
            code(Error::InvalidArgument("row key is empty".into())),
            Code::InvalidArgument
        );
        assert_eq!(code(Error::AlreadyExists("t".into())), Code::AlreadyExists);
        assert_eq!(code(Error::ReadOnly("disk full".into())), Code::Unavailable);
        assert_eq!(code(Error::Closed), Code::Unavailable);
        assert_eq!(
            code(Error::Stalled {
                table: "t".into(),
                waited_ms: 10_000,
                waiting_for: "memtable flushes".into()
            }),
            Code::Unavailable
        );
        assert_eq!(code(Error::Cancelled("t".into())), Code::Cancelled);
        assert_eq!(
            code(Error::corruption("/d/1.sst", 4096, "bad checksum")),
            Code::DataLoss
        );
        assert_eq!(
            code(Error::Locked { path: "/d".into() }),
            Code::FailedPrecondition
        );
        assert_eq!(
            code(Error::NotACounter {
                table: "t".into(),
                row: "r".into(),
                column: "f:q".into(),
                len: 3
            }),
            Code::FailedPrecondition
        );
        assert_eq!(
            code(Error::CounterOverflow {
                table: "t".into(),
                row: "r".into(),
                column: "f:q".into(),
                value: i64::MAX,
                delta: 1
            }),
            Code::FailedPrecondition
        );
        assert_eq!(
            code(Error::FileNotFound {
                path: "/d/ingest/a.sst".into()
            }),
            Code::NotFound
        );
        assert_eq!(
            code(Error::PermissionDenied("/etc/shadow is not under".into())),
            Code::PermissionDenied
        );
        assert_eq!(
            code(Error::TableUnavailable {
                table: "t".into(),
                path: "/d/sst/000007.sst".into(),
                what: "missing".into()
            }),
            Code::DataLoss
        );
        assert_eq!(
            code(Error::io("/d/wal", std::io::Error::other("boom"))),
            Code::Internal
        );
        assert_eq!(
            code(Error::io(
                "/d/wal",
                std::io::Error::from_raw_os_error(libc::ENOSPC)
            )),
            Code::ResourceExhausted
        );
    }

    #[test]
    fn messages_name_the_subject() {
        let s = from_engine(&Error::FamilyNotFound {
            table: "customers".into(),
            family: "nope".into(),
        });
        assert!(s.message().contains("customers"), "{}", s.message());
        assert!(s.message().contains("nope"), "{}", s.message());
        let s = from_engine(&Error::corruption("/d/7.sst", 123, "bad block"));
        assert!(s.message().contains("7.sst"), "{}", s.message());
        assert!(s.message().contains("123"), "{}", s.message());
    }

    #[test]
    fn refusals_map_to_their_codes() {
        let s = from_unauthenticated(&Unauthenticated::NoCredentials);
        assert_eq!(s.code(), Code::Unauthenticated);
        assert!(
            s.message().contains("authorization: Bearer"),
            "{}",
            s.message()
        );
        let denied = crate::auth::authorize(
            &crate::auth::Principal::with("p", &[]),
            crate::auth::Action::Flush,
            Some("t"),
        )
        .expect_err("no permission");
        let s = from_denied(&denied);
        assert_eq!(s.code(), Code::PermissionDenied);
        assert!(
            s.message().contains("admin") && s.message().contains("\"t\""),
            "{}",
            s.message()
        );
    }

    #[test]
    fn aggregation_errors_map_to_their_codes() {
        let code = |e: RunError| from_aggregate(&e).code();
        assert_eq!(
            code(RunError::Aggregate(AggregateError::Engine(
                Error::TableNotFound("t".into())
            ))),
            Code::NotFound
        );
        assert_eq!(
            code(RunError::Aggregate(AggregateError::TooManyBuckets {
                table: "t".into(),
                buckets: 9,
                limit: 10
            })),
            Code::ResourceExhausted
        );
        assert_eq!(
            code(RunError::Aggregate(AggregateError::Invalid("x".into()))),
            Code::InvalidArgument
        );
        assert_eq!(
            code(RunError::Aggregate(AggregateError::Cancelled("t".into()))),
            Code::Cancelled
        );
        assert_eq!(code(RunError::Closed), Code::Unavailable);
    }

    #[test]
    fn a_bad_filter_is_invalid_argument_naming_the_position() {
        let e = strata_engine::filter::Filter::parse(b"PrefixFilter(", Default::default())
            .expect_err("bad filter");
        let s = from_convert(&ConvertError::Filter(e));
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(
            s.message().starts_with("bad filter at byte 13: "),
            "{}",
            s.message()
        );
    }

    #[test]
    fn context_keeps_the_code() {
        let s = with_context(&Status::not_found("table not found: t"), "batch 3");
        assert_eq!(s.code(), Code::NotFound);
        assert_eq!(s.message(), "batch 3: table not found: t");
    }
}
