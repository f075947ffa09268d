//! The security settings of `strata serve` once resolved: TLS files, the token file, the
//! audit file and the two opt-outs (`--insecure`, `--open-health-metrics`), checked for
//! consistency, and turned into the running [`Security`] and TLS state at start-up.
//!
//! Resolving only checks that the flags agree with each other; it must never read a file
//! (that happens in [`SecurityConfig::security`] and `tls::ReloadableTls::load`, when the
//! server starts, so a bad file stops `serve` with a message naming it).

use std::path::PathBuf;

use super::Security;
use super::audit::AuditLog;
use super::exposure::Protection;
use super::principal::Authenticator;
use crate::config::ConfigError;
use crate::tls::TlsFiles;

/// Resolved security settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecurityConfig {
    /// TLS on the gRPC listener (`--tls-cert`, `--tls-key`, optional `--tls-client-ca`).
    pub tls: Option<TlsFiles>,
    /// `--auth-tokens FILE`.
    pub auth_tokens: Option<PathBuf>,
    /// `--audit-log FILE` (default: the server log, target `audit`).
    pub audit_log: Option<PathBuf>,
    /// `--insecure`: allow a non-loopback listener without TLS and authentication.
    pub insecure: bool,
    /// `--open-health-metrics`: the health service and `/metrics` answer without credentials.
    pub open_health_metrics: bool,
    /// `--thrift-tls`: TLS on the Thrift listener too (the same files).
    pub thrift_tls: bool,
}

/// The raw security flags, as `Settings` holds them.
#[derive(Clone, Debug, Default)]
pub struct SecurityFlags {
    /// `--tls-cert`.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key`.
    pub tls_key: Option<PathBuf>,
    /// `--tls-client-ca`.
    pub tls_client_ca: Option<PathBuf>,
    /// `--auth-tokens`.
    pub auth_tokens: Option<PathBuf>,
    /// `--audit-log`.
    pub audit_log: Option<PathBuf>,
    /// `--insecure`.
    pub insecure: bool,
    /// `--open-health-metrics`.
    pub open_health_metrics: bool,
    /// `--thrift-tls`.
    pub thrift_tls: bool,
}

/// Why the security state could not be built at start-up.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// The token file is missing or malformed (the message names the entry).
    #[error(transparent)]
    Tokens(#[from] super::tokens::TokenFileError),
    /// The audit file cannot be opened for appending.
    #[error("cannot open the audit log {path}: {source}")]
    Audit {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl SecurityConfig {
    /// Check that the flags go together.
    pub fn resolve(flags: SecurityFlags) -> Result<SecurityConfig, ConfigError> {
        let invalid = |setting, message: &str| ConfigError::Invalid {
            setting,
            message: message.to_owned(),
        };
        let tls = match (flags.tls_cert, flags.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert,
                key,
                client_ca: flags.tls_client_ca,
            }),
            (Some(_), None) => return Err(invalid("tls_key", "--tls-cert needs --tls-key FILE")),
            (None, Some(_)) => return Err(invalid("tls_cert", "--tls-key needs --tls-cert FILE")),
            (None, None) => {
                if flags.tls_client_ca.is_some() {
                    return Err(invalid(
                        "tls_client_ca",
                        "client certificates need TLS: add --tls-cert FILE --tls-key FILE",
                    ));
                }
                None
            }
        };
        if flags.thrift_tls && tls.is_none() {
            return Err(invalid(
                "thrift_tls",
                "--thrift-tls needs --tls-cert FILE --tls-key FILE",
            ));
        }
        Ok(SecurityConfig {
            thrift_tls: flags.thrift_tls,
            tls,
            auth_tokens: flags.auth_tokens,
            audit_log: flags.audit_log,
            insecure: flags.insecure,
            open_health_metrics: flags.open_health_metrics,
        })
    }

    /// Whether client certificates are required (mTLS).
    pub fn client_certs(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.client_ca.is_some())
    }

    /// What protects the Thrift listener, for the listen check: TLS with `--thrift-tls`, and
    /// authentication only with client certificates too (Thrift1 carries no token).
    pub fn thrift_protection(&self) -> Protection {
        Protection {
            tls: self.thrift_tls,
            authentication: self.thrift_tls && self.client_certs(),
        }
    }

    /// What protects the gRPC and HTTP listeners, for the listen check.
    pub fn protection(&self) -> Protection {
        Protection {
            tls: self.tls.is_some(),
            authentication: self.auth_tokens.is_some() || self.client_certs(),
        }
    }

    /// Load the token file and open the audit log.
    pub fn security(&self) -> Result<Security, SecurityError> {
        let authenticator = Authenticator::new(self.auth_tokens.as_deref(), self.client_certs())?;
        let audit = match &self.audit_log {
            Some(path) => AuditLog::to_file(path).map_err(|source| SecurityError::Audit {
                path: path.clone(),
                source,
            })?,
            None => AuditLog::to_server_log(),
        };
        Ok(Security::new(
            authenticator,
            audit,
            self.open_health_metrics,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_files_come_in_pairs_and_client_cas_need_tls() {
        let p = |s: &str| Some(PathBuf::from(s));
        let e = SecurityConfig::resolve(SecurityFlags {
            tls_cert: p("c.pem"),
            ..SecurityFlags::default()
        })
        .expect_err("no key");
        assert!(e.to_string().contains("--tls-key"), "{e}");
        let e = SecurityConfig::resolve(SecurityFlags {
            tls_client_ca: p("ca.pem"),
            ..SecurityFlags::default()
        })
        .expect_err("no tls");
        assert!(e.to_string().contains("--tls-cert"), "{e}");
        let c = SecurityConfig::resolve(SecurityFlags {
            tls_cert: p("c.pem"),
            tls_key: p("k.pem"),
            tls_client_ca: p("ca.pem"),
            ..SecurityFlags::default()
        })
        .expect("valid");
        assert!(c.client_certs());
        assert_eq!(
            c.protection(),
            Protection {
                tls: true,
                authentication: true
            }
        );
        assert_eq!(
            SecurityConfig::default().protection(),
            Protection {
                tls: false,
                authentication: false
            }
        );
    }
}
