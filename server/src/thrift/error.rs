//! How failures become the IDL's exceptions: the one mapping of engine errors to `IOError`,
//! `IllegalArgument` and `AlreadyExists` ([`ThriftError::from_engine`]), as `status.rs` is for
//! gRPC, and the rule that a method only ever answers an exception its IDL declares (a client's
//! generated code cannot read any other: it would see no result at all).
//!
//! Every message names what it is about. This module must never hide an error's cause.

use strata_engine::Error;

use crate::escape;

/// A failure a handler reports to the client as a declared exception.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ThriftError {
    /// `IOError`: the operation failed (missing table or family, store trouble, unsupported).
    #[error("IOError: {0}")]
    Io(String),
    /// `IllegalArgument`: the request itself is wrong.
    #[error("IllegalArgument: {0}")]
    IllegalArgument(String),
    /// `AlreadyExists`: the table exists.
    #[error("AlreadyExists: {0}")]
    AlreadyExists(String),
}

/// The exceptions a method declares besides `IOError` (which every method declares).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Throws {
    /// `IllegalArgument` is field 2 of the result.
    pub illegal_argument: bool,
    /// `AlreadyExists` is field 3 of the result.
    pub already_exists: bool,
}

impl ThriftError {
    /// An `IOError`.
    pub fn io(message: impl Into<String>) -> ThriftError {
        ThriftError::Io(message.into())
    }

    /// An `IllegalArgument`.
    pub fn illegal(message: impl Into<String>) -> ThriftError {
        ThriftError::IllegalArgument(message.into())
    }

    /// The `IOError` of a method that needs an engine feature Strata does not have yet.
    pub fn not_supported(what: &str) -> ThriftError {
        ThriftError::Io(format!("not supported yet: {what}"))
    }

    /// The exception for an engine error: a bad argument is `IllegalArgument`, an existing
    /// table `AlreadyExists`, everything else (missing table or family included, as in HBase)
    /// `IOError`.
    pub fn from_engine(err: &Error) -> ThriftError {
        match err {
            Error::InvalidArgument(_) => ThriftError::IllegalArgument(err.to_string()),
            Error::AlreadyExists(_) => ThriftError::AlreadyExists(err.to_string()),
            // The client's doing, not the store's: not logged as an engine failure.
            Error::TableNotFound(_)
            | Error::FamilyNotFound { .. }
            | Error::TableDisabled(_)
            | Error::NotACounter { .. }
            | Error::CounterOverflow { .. } => ThriftError::Io(err.to_string()),
            _ => {
                tracing::error!(error = %err, "engine error (thrift)");
                ThriftError::Io(err.to_string())
            }
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        match self {
            ThriftError::Io(m)
            | ThriftError::IllegalArgument(m)
            | ThriftError::AlreadyExists(m) => m,
        }
    }

    /// The result-struct field this error travels in for a method declaring `throws`: its own
    /// when declared, else `IOError`'s (field 1) with the same message.
    pub fn field(&self, throws: Throws) -> i16 {
        match self {
            ThriftError::IllegalArgument(_) if throws.illegal_argument => 2,
            ThriftError::AlreadyExists(_) if throws.already_exists => 3,
            _ => 1,
        }
    }

    /// The name of the exception the client receives for a method declaring `throws`
    /// (`IOError`, `IllegalArgument` or `AlreadyExists`; see [`ThriftError::field`]).
    pub fn sent_as(&self, throws: Throws) -> &'static str {
        match self.field(throws) {
            2 => "IllegalArgument",
            3 => "AlreadyExists",
            _ => "IOError",
        }
    }

    /// The same error with `context: ` in front of its message.
    pub fn context(self, context: &str) -> ThriftError {
        match self {
            ThriftError::Io(m) => ThriftError::Io(format!("{context}: {m}")),
            ThriftError::IllegalArgument(m) => {
                ThriftError::IllegalArgument(format!("{context}: {m}"))
            }
            ThriftError::AlreadyExists(m) => ThriftError::AlreadyExists(format!("{context}: {m}")),
        }
    }
}

impl From<Error> for ThriftError {
    fn from(err: Error) -> Self {
        ThriftError::from_engine(&err)
    }
}

/// Longest key or name quoted whole in a message.
const SHOWN: usize = 100;

/// Bytes for an error message: UTF-8 where valid, escaped otherwise, cut after 100 bytes.
pub fn show(bytes: &[u8]) -> String {
    if bytes.len() <= SHOWN {
        return escape::display(bytes).into_owned();
    }
    format!(
        "{}... ({} bytes)",
        escape::display(&bytes[..SHOWN]),
        bytes.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_map_to_the_idl_exceptions() {
        assert!(matches!(
            ThriftError::from_engine(&Error::TableNotFound("t".into())),
            ThriftError::Io(m) if m.contains('t')
        ));
        assert!(matches!(
            ThriftError::from_engine(&Error::FamilyNotFound {
                table: "t".into(),
                family: "nope".into()
            }),
            ThriftError::Io(m) if m.contains("nope")
        ));
        assert!(matches!(
            ThriftError::from_engine(&Error::InvalidArgument("row key is empty".into())),
            ThriftError::IllegalArgument(m) if m.contains("row key is empty")
        ));
        assert!(matches!(
            ThriftError::from_engine(&Error::AlreadyExists("table t".into())),
            ThriftError::AlreadyExists(_)
        ));
        assert!(matches!(
            ThriftError::from_engine(&Error::corruption("/d/1.sst", 7, "bad block")),
            ThriftError::Io(m) if m.contains("1.sst")
        ));
        assert!(matches!(
            ThriftError::from_engine(&Error::Closed),
            ThriftError::Io(_)
        ));
    }

    #[test]
    fn undeclared_exceptions_travel_as_io_errors() {
        let none = Throws::default();
        let ia = Throws {
            illegal_argument: true,
            already_exists: false,
        };
        let all = Throws {
            illegal_argument: true,
            already_exists: true,
        };
        let bad = ThriftError::illegal("x");
        assert_eq!(bad.field(none), 1);
        assert_eq!(bad.field(ia), 2);
        let exists = ThriftError::AlreadyExists("t".into());
        assert_eq!(exists.field(ia), 1);
        assert_eq!(exists.field(all), 3);
        assert_eq!(bad.sent_as(none), "IOError");
        assert_eq!(bad.sent_as(ia), "IllegalArgument");
        assert_eq!(exists.sent_as(all), "AlreadyExists");
        assert_eq!(ThriftError::io("x").field(all), 1);
    }

    #[test]
    fn not_supported_says_so_plainly() {
        let e = ThriftError::not_supported("reverse scans");
        assert_eq!(e.message(), "not supported yet: reverse scans");
        assert_eq!(e.field(Throws::default()), 1);
    }
}
