//! Authentication, authorization and auditing, shared by every listener.
//!
//! A listener (gRPC now; the HTTP and Thrift listeners in phase 2) does four things, in order,
//! all through this module:
//! 1. before binding: [`exposure::check_listen`] with its address and protection;
//! 2. per request: extract [`Credentials`] (token, claimed user, the connection's client
//!    certificate name from `tls::Peer`) and call [`Security::authenticate`] with a [`Call`]
//!    naming the API, the method and the peer; a refusal is UNAUTHENTICATED / HTTP 401;
//! 3. map the request to an [`Action`] and its table, and call [`Security::authorize`]; a
//!    refusal ([`Denied`]) is PERMISSION_DENIED / HTTP 403 with its message;
//! 4. nothing else: both calls write the audit log themselves (every create or admin action,
//!    every refusal).
//!
//! The files: `tokens` (the `--auth-tokens` file), `permission` (the words and the matcher),
//! `principal` (credentials to principal), `authorize` (THE decision), `audit` (the log),
//! `exposure` (the listen check), `config` (the settings). This module must never know a
//! transport: headers, metadata and TLS sessions are the listeners'.

pub mod audit;
pub mod authorize;
pub mod config;
pub mod exposure;
pub mod permission;
pub mod principal;
pub mod tokens;

use std::net::SocketAddr;

pub use audit::{AuditEvent, AuditLog, Outcome};
pub use authorize::{Action, Denied, authorize, can_read};
pub use config::SecurityConfig;
pub use exposure::{Listener, Protection, check_listen};
pub use permission::{Kind, Permission, Scope, Target};
pub use principal::{Authenticator, Credentials, Principal, Unauthenticated};
pub use tokens::{TokenFile, TokenFileError};

/// One request as its listener describes it, for the audit log.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    /// The listener's API: `grpc`, `http` or `thrift`.
    pub api: &'static str,
    /// The method (gRPC RPC name, Thrift method, HTTP path).
    pub method: &'a str,
    /// The client's address.
    pub peer: Option<SocketAddr>,
}

/// The server's authentication, authorization and audit, shared by all its listeners.
#[derive(Debug)]
pub struct Security {
    authenticator: Authenticator,
    audit: AuditLog,
    open_health_metrics: bool,
}

impl Security {
    /// Authentication off, audit lines to the server log (`strata demo`, in-process tests).
    pub fn off() -> Security {
        Security::new(Authenticator::off(), AuditLog::to_server_log(), false)
    }

    /// Security from its parts.
    pub fn new(
        authenticator: Authenticator,
        audit: AuditLog,
        open_health_metrics: bool,
    ) -> Security {
        Security {
            authenticator,
            audit,
            open_health_metrics,
        }
    }

    /// The authenticator (whether authentication is on, reloading the token file).
    pub fn authenticator(&self) -> &Authenticator {
        &self.authenticator
    }

    /// Whether the health service (and, in phase 2, `/metrics`) answers without credentials.
    pub fn health_is_open(&self) -> bool {
        self.open_health_metrics
    }

    /// The principal `credentials` authenticate; a refusal is audited.
    pub fn authenticate(
        &self,
        call: &Call<'_>,
        credentials: Credentials<'_>,
    ) -> Result<Principal, Unauthenticated> {
        self.authenticator
            .authenticate(credentials)
            .inspect_err(|e| {
                self.audit.record(&AuditEvent {
                    principal: None,
                    peer: call.peer,
                    api: call.api,
                    method: call.method,
                    target: None,
                    outcome: Outcome::Unauthenticated,
                    reason: Some(&e.to_string()),
                });
            })
    }

    /// Whether `principal` may do `action` on `table` ([`authorize`]); create and admin
    /// actions and every refusal are audited.
    pub fn authorize(
        &self,
        call: &Call<'_>,
        principal: &Principal,
        action: Action,
        table: Option<&str>,
    ) -> Result<(), Denied> {
        let decision = authorize(principal, action, table);
        if decision.is_err() || action.is_audited() {
            let reason = decision.as_ref().err().map(ToString::to_string);
            self.audit.record(&AuditEvent {
                principal: Some(principal.name()),
                peer: call.peer,
                api: call.api,
                method: call.method,
                target: table,
                outcome: if decision.is_ok() {
                    Outcome::Allowed
                } else {
                    Outcome::Denied
                },
                reason: reason.as_deref(),
            });
        }
        decision
    }

    /// SIGHUP: read the token file again and reopen the audit file. Each failure is logged
    /// and leaves the old state in force.
    pub fn reload(&self) {
        match self.authenticator.reload() {
            Ok(()) if self.authenticator.has_tokens() => tracing::info!("token file reloaded"),
            Ok(()) => {}
            Err(e) => {
                tracing::error!(error = %e, "token file not reloaded; the old one stays in force")
            }
        }
        if let Err(e) = self.audit.reopen() {
            tracing::error!(error = %e, "audit log not reopened; writing to the old file");
        }
    }
}
