//! The audit log: every create or admin action and every refused request (unauthenticated
//! or denied), as one JSON line
//! `{"time", "principal", "peer", "api", "method", "target", "outcome"}` (plus `"reason"` for
//! a refusal), appended to `--audit-log FILE` or, by default, written to the server's log
//! under the target `audit`.
//!
//! A line is written with one `write` on a file opened for appending, so concurrent writers
//! and an external `tail -f` see whole lines. SIGHUP reopens the file (after logrotate moved
//! it). This file must never hold a token or any request data beyond the table name, and
//! never fail a request because the audit file could not be written (it logs that instead).

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

/// How a request fared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Authorized (the action then ran; its own result is the caller's reply).
    Allowed,
    /// Authenticated but lacking a permission.
    Denied,
    /// No or bad credentials.
    Unauthenticated,
}

impl Outcome {
    /// The word written in the line.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::Unauthenticated => "unauthenticated",
        }
    }
}

/// One audited request.
#[derive(Clone, Copy, Debug)]
pub struct AuditEvent<'a> {
    /// The principal (`None` when unauthenticated).
    pub principal: Option<&'a str>,
    /// The client's address.
    pub peer: Option<SocketAddr>,
    /// The listener: `grpc` (later `http`, `thrift`).
    pub api: &'a str,
    /// The method called (the gRPC RPC's name, the Thrift method, the HTTP path).
    pub method: &'a str,
    /// The table, when the request names one.
    pub target: Option<&'a str>,
    /// How it fared.
    pub outcome: Outcome,
    /// Why it was refused.
    pub reason: Option<&'a str>,
}

impl AuditEvent<'_> {
    /// The JSON line (without the newline) at `time`.
    pub fn to_line(&self, time: SystemTime) -> String {
        let micros = time
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        let mut stamp = Vec::with_capacity(27);
        strata_loader::time::push_timestamp_micros(&mut stamp, micros);
        let mut v = json!({
            "time": String::from_utf8_lossy(&stamp),
            "principal": self.principal,
            "peer": self.peer.map(|p| p.to_string()),
            "api": self.api,
            "method": self.method,
            "target": self.target,
            "outcome": self.outcome.word(),
        });
        if let (Some(reason), Some(map)) = (self.reason, v.as_object_mut()) {
            map.insert("reason".into(), reason.into());
        }
        v.to_string()
    }
}

#[derive(Debug)]
enum Sink {
    Log,
    File { path: PathBuf, file: Mutex<File> },
}

/// Where audit lines go.
#[derive(Debug)]
pub struct AuditLog {
    sink: Sink,
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl AuditLog {
    /// Lines go to the server's log, target `audit`.
    pub fn to_server_log() -> AuditLog {
        AuditLog { sink: Sink::Log }
    }

    /// Lines are appended to `path` (created if missing).
    pub fn to_file(path: &Path) -> std::io::Result<AuditLog> {
        Ok(AuditLog {
            sink: Sink::File {
                path: path.to_path_buf(),
                file: Mutex::new(open_append(path)?),
            },
        })
    }

    /// Reopen the file (after it was rotated); the server log needs nothing.
    pub fn reopen(&self) -> std::io::Result<()> {
        if let Sink::File { path, file } = &self.sink {
            let fresh = open_append(path)?;
            *file.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
        }
        Ok(())
    }

    /// Record `event` now.
    pub fn record(&self, event: &AuditEvent<'_>) {
        let line = event.to_line(SystemTime::now());
        match &self.sink {
            Sink::Log => tracing::info!(target: "audit", "{line}"),
            Sink::File { path, file } => {
                let mut bytes = line.into_bytes();
                bytes.push(b'\n');
                let written = file
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .write_all(&bytes);
                if let Err(e) = written {
                    tracing::error!(
                        path = %path.display(),
                        error = %e,
                        line = %String::from_utf8_lossy(&bytes).trim_end(),
                        "cannot write the audit log"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn event(outcome: Outcome) -> AuditEvent<'static> {
        AuditEvent {
            principal: Some("loader"),
            peer: Some("127.0.0.1:4000".parse().expect("addr")),
            api: "grpc",
            method: "DeleteTable",
            target: Some("staging_1"),
            outcome,
            reason: None,
        }
    }

    #[test]
    fn a_line_is_one_json_object_with_every_field() {
        let t = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        let line = event(Outcome::Allowed).to_line(t);
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).expect("json");
        assert_eq!(v["time"], "2023-11-14T22:13:20.123456Z");
        assert_eq!(v["principal"], "loader");
        assert_eq!(v["peer"], "127.0.0.1:4000");
        assert_eq!(v["api"], "grpc");
        assert_eq!(v["method"], "DeleteTable");
        assert_eq!(v["target"], "staging_1");
        assert_eq!(v["outcome"], "allowed");
        assert!(v.get("reason").is_none());
    }

    #[test]
    fn a_refusal_carries_its_reason_and_may_lack_a_principal() {
        let e = AuditEvent {
            principal: None,
            target: None,
            reason: Some("the token presented is not valid"),
            ..event(Outcome::Unauthenticated)
        };
        let v: serde_json::Value =
            serde_json::from_str(&e.to_line(SystemTime::now())).expect("json");
        assert!(v["principal"].is_null());
        assert!(v["target"].is_null());
        assert_eq!(v["outcome"], "unauthenticated");
        assert_eq!(v["reason"], "the token presented is not valid");
    }

    #[test]
    fn lines_append_to_the_file_and_reopen_follows_a_rotation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let log = AuditLog::to_file(&path).expect("open");
        log.record(&event(Outcome::Allowed));
        log.record(&event(Outcome::Denied));
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[1].contains("\"denied\""), "{}", lines[1]);

        std::fs::rename(&path, dir.path().join("audit.log.1")).expect("rotate");
        log.reopen().expect("reopen");
        log.record(&event(Outcome::Allowed));
        let fresh = std::fs::read_to_string(&path).expect("read new file");
        assert_eq!(fresh.lines().count(), 1);
    }
}
